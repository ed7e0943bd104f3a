#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/result.hpp>

namespace actormq {

/// The closed list of errors ActorMQ's actors answer with. Each has one HTTP
/// status and one client-facing text (see http/json_api.cpp).
enum class ec : uint8_t {
  /// The message is missing, null or empty.
  message_required = 1,
  /// The message is larger than the queue accepts.
  message_too_large,
  /// The queue holds max_depth messages.
  queue_full,
  /// The receipt is not one a queue hands out.
  invalid_receipt,
  /// The receipt's lease is over (expired, released or acked).
  stale_receipt,
  /// A queue name outside 1-80 of [A-Za-z0-9_.-].
  invalid_queue_name,
  /// No queue has this name.
  unknown_queue,
  /// Attributes that cannot work (e.g. a queue as its own dead-letter queue).
  invalid_attributes,
  /// All queues together hold the memory bound (--max-memory-bytes).
  out_of_memory,
  /// The store failed to write or sync (disk full, I/O error): the change
  /// is not durable.
  storage_failed,
  /// A message to a FIFO queue names no group.
  group_required,
  /// A message to a FIFO queue has a delay or a priority of its own.
  fifo_forbids,
  /// A change of `fifo` on an existing queue.
  fifo_fixed,
  /// A message with more than max_message_attributes attributes.
  too_many_attributes,
  /// The node that owns the queue is not connected (down, hung, or
  /// refused): nothing was done.
  node_unreachable,
  /// As many requests as allowed are on their way to the node that owns
  /// the queue: nothing was done.
  node_busy,
};

/// The category of ActorMQ's errors in `caf::error`.
constexpr caf::atom_value error_category = caf::atom("actormq");

/// Wraps `x` into a `caf::error`.
caf::error make_error(ec x);

/// Returns the name of `x`, e.g. "message_required".
std::string to_string(ec x);

/// Returns the ActorMQ error code in `x`, if `x` is one of ours.
bool is_actormq_error(const caf::error& x, ec& code);

/// Whether `x` is the ActorMQ error `code`.
bool is_error(const caf::error& x, ec code);

/// The default handler of ActorMQ's long-lived actors: a message no handler
/// takes is logged and dropped (a request gets an error); the actor lives
/// on.
caf::result<caf::message> drop_unexpected(caf::scheduled_actor* self,
                                          caf::message_view& x);

} // namespace actormq
