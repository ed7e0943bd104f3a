#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "actormq/message_queue.hpp"
#include "actormq/records.hpp"
#include "actormq/store.hpp"

namespace actormq {

/// Converts between the actor clock (steady, or virtual under test) and the
/// wall clock that records hold, around one moment read from both.
struct clock_map {
  time_point steady;
  /// Nanoseconds since the Unix epoch at `steady`.
  int64_t wall = 0;

  /// Reads both clocks at `now` (the actor clock's).
  static clock_map at(time_point now);

  int64_t to_wall(time_point t) const {
    return wall + (t - steady).count();
  }

  time_point from_wall(int64_t ns) const {
    return steady + caf::timespan{ns - wall};
  }
};

/// One queue as its store held it.
struct recovered_queue {
  records::queue_record queue;
  /// In slot order.
  std::vector<records::message_record> messages;
  std::vector<records::dedup_record> dedup;
};

/// Everything a store held.
struct recovered_state {
  /// Ids from here on are unused.
  uint64_t next_id = 1;
  /// By name.
  std::vector<std::shared_ptr<recovered_queue>> queues;
  /// Messages in all queues.
  uint64_t messages = 0;
  /// Writes the start needs: queue records for orphaned messages.
  store_batch cleanup;
  /// Queues made for messages whose queue the store does not name (never
  /// deleted: a delete removes a queue's messages with its record).
  std::vector<std::string> orphaned;
};

/// Reads a store into `out`: a new store gets the format marker; a store
/// of another format, or with a record that does not decode, is refused.
/// Returns why it was refused, or an empty string.
std::string recover(store& db, recovered_state& out);

/// Reads one queue's message and dedup records (as a storage actor reads
/// them for a queue that restarts) into `out`. Returns why a record does
/// not decode, or an empty string.
std::string read_queue(const store_batch& records, recovered_queue& out);

/// Returns the writes that make a store hold `x`'s changes, for the queue
/// incarnation `incarnation`.
store_batch to_batch(message_queue::journal x, uint64_t incarnation,
                     const clock_map& clock);

/// Puts a recovered queue's messages and dedup ids back into `q`.
void restore(message_queue& q, recovered_queue& x, const clock_map& clock,
             time_point now);

} // namespace actormq
