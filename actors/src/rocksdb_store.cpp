#include "actormq/store.hpp"

#include "actormq/log.hpp"

#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/listener.h>
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

/// RocksDB's own log goes to ours (its errors as warnings, the rest at debug
/// level), never to a LOG file in the store: once a write to that file fails
/// (a full disk), RocksDB 7.8 aborts at its next line (WritableFileWriter's
/// `sync_without_flush_called_` assertion).
class to_our_log final : public rocksdb::Logger {
public:
  using rocksdb::Logger::Logv;

  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }

  void Logv(const rocksdb::InfoLogLevel level, const char* format,
            va_list ap) override {
    auto x = level >= rocksdb::InfoLogLevel::ERROR_LEVEL
                 && level != rocksdb::InfoLogLevel::HEADER_LEVEL
               ? log::level::warning
               : log::level::debug;
    if (!log::enabled(x))
      return;
    char line[1024];
    std::vsnprintf(line, sizeof(line), format, ap);
    log::write(x, std::string{"rocksdb: "} + line);
  }
};

/// Leaves recovering from a failed write to the storage actor, which reopens
/// the DB. RocksDB's own recovery (its error handler, driven by the
/// SstFileManager on a full disk) would resume the same DB in the
/// background: with an empty memtable it keeps the WAL writer that failed,
/// and the next write to it aborts (facebook/rocksdb#12448, fixed after
/// 7.8).
class no_auto_recovery final : public rocksdb::EventListener {
public:
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status,
                            bool* auto_recovery) override {
    *auto_recovery = false;
  }
};

/// Opens the DB in `dir`; returns what went wrong, or an empty string.
std::string open_db(const rocksdb::Options& opts, const fs::path& dir,
                    std::unique_ptr<rocksdb::DB>& out) {
  rocksdb::DB* db = nullptr;
  auto st = rocksdb::DB::Open(opts, dir.string(), &db);
  out.reset(db);
  return text(st);
}

/// The free space a failed store waits for before it is reopened.
constexpr uintmax_t reopen_room = 1 << 20;

/// After a write or sync fails, the DB is called for nothing but its close
/// until it is open again: RocksDB 7.8 aborts on a later write to a WAL
/// whose write failed (a DB::Resume() does not always replace it), while a
/// fresh open replays the WAL, ignoring the torn record at its end, and
/// writes to a new one.
class rocksdb_store final : public store {
public:
  rocksdb_store(rocksdb::Options opts, std::unique_ptr<rocksdb::DB> db,
                fs::path dir)
    : opts_(std::move(opts)), db_(std::move(db)), dir_(std::move(dir)) {
    // nop
  }

  ~rocksdb_store() override {
    close();
  }

  std::string write(const store_batch& ops, bool sync) override {
    if (!failure_.empty())
      return refused();
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
    return checked(db_->Write(opts, &batch));
  }

  std::string sync() override {
    if (!failure_.empty())
      return refused();
    return checked(db_->SyncWAL());
  }

  /// Closes the DB that failed and opens it again, once there is room: an
  /// open that fails leaves an empty MANIFEST and WAL behind, and a full
  /// disk would collect them by the thousand.
  std::string resume() override {
    if (failure_.empty())
      return {};
    std::error_code ec;
    auto room = fs::space(dir_, ec).available;
    if (!ec && room < reopen_room)
      return "not reopened: " + std::to_string(room) + " bytes free, "
             + std::to_string(reopen_room) + " wanted";
    close();
    if (auto why = open_db(opts_, dir_, db_); !why.empty())
      return why;
    failure_.clear();
    return {};
  }

  std::string scan(const std::function<void(std::string_view,
                                            std::string_view)>& f) override {
    if (!failure_.empty())
      return refused();
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
  /// Returns what `st` says went wrong; remembers it as the store's failure.
  std::string checked(const rocksdb::Status& st) {
    failure_ = text(st);
    return failure_;
  }

  std::string refused() const {
    return "not tried: the store failed (" + failure_
           + ") and is not open again yet";
  }

  void close() {
    if (db_)
      db_->Close().PermitUncheckedError();
    db_.reset();
  }

  rocksdb::Options opts_;
  std::unique_ptr<rocksdb::DB> db_;
  fs::path dir_;
  /// Why the last write or sync failed; empty while the DB is usable.
  std::string failure_;
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
  // Each start writes a new MANIFEST, and RocksDB reserves 4 MiB for it by
  // default: on a small or nearly full disk that room is the data's (a
  // MANIFEST grows by a few hundred bytes per flush).
  opts.manifest_preallocation_size = 64 << 10;
  // A failed write or sync (a full disk) is recovered from by reopening the
  // DB (see rocksdb_store), not by RocksDB on its own. An open replays the
  // WAL into the memtable and leaves it there, where a flush would need
  // room for all of it at once: a store opens again as soon as a few KiB
  // are free.
  opts.avoid_flush_during_recovery = true;
  opts.info_log = std::make_shared<to_our_log>();
  opts.listeners.push_back(std::make_shared<no_auto_recovery>());
  opts.max_bgerror_resume_count = 0;
  std::unique_ptr<rocksdb::DB> db;
  if (auto why = open_db(opts, dir, db); !why.empty())
    return fail(why);
  return std::make_unique<rocksdb_store>(std::move(opts), std::move(db),
                                         fs::path{dir});
}

} // namespace actormq
