#include "actormq/store.hpp"

#include <filesystem>
#include <system_error>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/utilities/table_properties_collectors.h>
#include <rocksdb/write_batch.h>

namespace actormq {

store::~store() {
  // nop
}

namespace {

namespace fs = std::filesystem;

rocksdb::Slice slice(std::string_view x) {
  return {x.data(), x.size()};
}

std::string text(const rocksdb::Status& st) {
  return st.ok() ? std::string{} : st.ToString();
}

class rocksdb_store final : public store {
public:
  rocksdb_store(std::unique_ptr<rocksdb::DB> db, fs::path dir)
    : db_(std::move(db)), dir_(std::move(dir)) {
    // nop
  }

  ~rocksdb_store() override {
    db_->Close().PermitUncheckedError();
  }

  std::string write(const store_batch& ops, bool sync) override {
    rocksdb::WriteBatch batch;
    for (auto& op : ops) {
      rocksdb::Status st;
      switch (op.what) {
        case store_op::kind::put:
          st = batch.Put(slice(op.key), slice(op.value));
          break;
        case store_op::kind::erase:
          st = batch.Delete(slice(op.key));
          break;
        case store_op::kind::erase_range:
          st = batch.DeleteRange(slice(op.key), slice(op.value));
          break;
      }
      if (!st.ok())
        return text(st);
    }
    rocksdb::WriteOptions opts;
    opts.sync = sync;
    return text(db_->Write(opts, &batch));
  }

  std::string sync() override {
    return text(db_->SyncWAL());
  }

  std::string resume() override {
    return text(db_->Resume());
  }

  std::string scan(const std::function<void(std::string_view,
                                            std::string_view)>& f) override {
    rocksdb::ReadOptions opts;
    opts.fill_cache = false;
    opts.readahead_size = 4 * 1024 * 1024;
    std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(opts)};
    for (it->SeekToFirst(); it->Valid(); it->Next())
      f(std::string_view{it->key().data(), it->key().size()},
        std::string_view{it->value().data(), it->value().size()});
    return text(it->status());
  }

  uint64_t disk_bytes() const override {
    uint64_t total = 0;
    std::error_code ec;
    for (auto& entry : fs::directory_iterator{dir_, ec}) {
      auto n = entry.is_regular_file(ec) ? entry.file_size(ec) : 0;
      if (!ec)
        total += n;
    }
    return total;
  }

private:
  std::unique_ptr<rocksdb::DB> db_;
  fs::path dir_;
};

/// Refuses a path that cannot hold a store, or a folder that holds
/// something else (RocksDB would add its files beside it).
std::string check_dir(const fs::path& dir) {
  std::error_code ec;
  auto st = fs::status(dir, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    return ec.message();
  if (!fs::exists(st)) {
    fs::create_directories(dir, ec);
    return ec ? "cannot create it: " + ec.message() : std::string{};
  }
  if (!fs::is_directory(st))
    return "it is not a directory";
  if (fs::exists(dir / "CURRENT", ec))
    return {};
  auto first = fs::directory_iterator{dir, ec};
  if (ec)
    return ec.message();
  if (first != fs::directory_iterator{})
    return "it is not an ActorMQ data directory (it holds other files and "
           "no store)";
  return {};
}

} // namespace

std::unique_ptr<store> open_rocksdb_store(const std::string& dir,
                                          std::string& error) {
  auto fail = [&](const std::string& why) -> std::unique_ptr<store> {
    error = "cannot open the store in " + dir + ": " + why;
    return nullptr;
  };
  if (auto why = check_dir(dir); !why.empty())
    return fail(why);
  rocksdb::Options opts;
  opts.create_if_missing = true;
  opts.paranoid_checks = true;
  opts.IncreaseParallelism(2);
  // A queue writes each message, rewrites it when leased and deletes it
  // when acked: most of what reaches the disk is dead soon after. Small
  // memtables (32 MiB, at most 2) bound the WAL and what a start replays;
  // compaction follows the deletes, so the files stay near the live
  // messages: a file where half of any 1024 consecutive entries are deletes
  // is compacted at once (RocksDB's advice for queues). Messages are
  // short-lived: no compression, which would cost CPU on every flush and
  // compaction.
  opts.write_buffer_size = 32 << 20;
  opts.max_write_buffer_number = 2;
  opts.target_file_size_base = 32 << 20;
  opts.max_bytes_for_level_base = 128 << 20;
  opts.compression = rocksdb::kNoCompression;
  opts.table_properties_collector_factories.push_back(
    rocksdb::NewCompactOnDeletionCollectorFactory(1024, 512));
  opts.keep_log_file_num = 2;
  rocksdb::DB* db = nullptr;
  auto st = rocksdb::DB::Open(opts, dir, &db);
  if (!st.ok())
    return fail(st.ToString());
  return std::make_unique<rocksdb_store>(std::unique_ptr<rocksdb::DB>{db},
                                         fs::path{dir});
}

} // namespace actormq
