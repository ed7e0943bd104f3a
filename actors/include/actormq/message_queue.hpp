#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

#include <caf/expected.hpp>
#include <caf/optional.hpp>

#include "actormq/message.hpp"

namespace actormq {

/// The rules of one queue, apart from any actor: FIFO order, ids, the size
/// limit and the counters. Not thread-safe; a `queue_actor` owns one.
class message_queue {
public:
  /// Default for `max_message_bytes`: 1 MiB.
  static constexpr size_t default_max_message_bytes = 1024 * 1024;

  /// Creates an empty queue that refuses bodies over `max_message_bytes`.
  explicit message_queue(
    size_t max_message_bytes = default_max_message_bytes);

  /// Appends `x`; returns its id, or ec::message_required for an empty body,
  /// or ec::message_too_large.
  caf::expected<uint64_t> push(payload x);

  /// Removes and returns the oldest message, if any.
  caf::optional<message> pop();

  /// Returns the counters.
  const queue_stats& stats() const noexcept { return stats_; }

  /// Returns the largest body this queue accepts.
  size_t max_message_bytes() const noexcept { return max_message_bytes_; }

private:
  size_t max_message_bytes_;
  uint64_t next_id_ = 1;
  std::deque<message> messages_;
  queue_stats stats_;
};

} // namespace actormq
