#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

/// Where ActorMQ's state survives a crash: an ordered key-value store with
/// atomic batches. A plain interface, no actors; `open_rocksdb_store` gives
/// the real one, tests may give their own.
namespace actormq {

/// One change of a batch.
struct store_op {
  enum class kind : uint8_t {
    /// Sets `key` to `value`.
    put,
    /// Removes `key`.
    erase,
    /// Removes every key in [key, end).
    erase_range,
  };
  kind what = kind::put;
  std::string key;
  /// The value of a put; the end of a range.
  std::string value;
};

/// Changes applied together or not at all.
using store_batch = std::vector<store_op>;

/// An ordered key-value store. Not thread-safe: one storage actor owns it.
class store {
public:
  virtual ~store();

  /// Applies `ops` atomically; with `sync`, returns only once they are on
  /// stable storage. Returns what went wrong, or an empty string.
  virtual std::string write(const store_batch& ops, bool sync) = 0;

  /// Makes every write so far durable. Returns what went wrong, or an empty
  /// string.
  virtual std::string sync() = 0;

  /// After a failed write or sync: tries to make the store usable again
  /// (the RocksDB store reopens its DB). Until it succeeds, a store may
  /// refuse every other call without trying it. Returns what still goes
  /// wrong, or an empty string.
  virtual std::string resume() = 0;

  /// Calls `f` for every key and value, in key order. Returns what went
  /// wrong, or an empty string.
  virtual std::string
  scan(const std::function<void(std::string_view, std::string_view)>& f)
    = 0;

  /// Returns the bytes the store takes on disk (0 if it cannot tell).
  virtual uint64_t disk_bytes() const = 0;
};

/// Opens (creating if needed) the RocksDB store in directory `dir`. On
/// failure returns null and sets `error` to a text that names `dir` and the
/// cause.
std::unique_ptr<store> open_rocksdb_store(const std::string& dir,
                                          std::string& error);

} // namespace actormq
