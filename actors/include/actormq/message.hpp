#pragma once

#include <cstdint>
#include <string>

#include <caf/meta/type_name.hpp>

namespace actormq {

/// How a message's body is to be read. Queues store bytes; the kind tells a
/// consumer whether the producer sent text or a structured (JSON) value.
enum class payload_kind : uint8_t {
  /// The body is the text itself.
  text,
  /// The body is a compact JSON document (a number, object, array, ...).
  json,
};

/// What a producer hands to a queue.
struct payload {
  /// The message's bytes.
  std::string body;
  /// How to read `body`.
  payload_kind kind = payload_kind::text;
};

/// A message held by a queue.
struct message {
  /// Unique within its queue, increasing in enqueue order, never 0.
  uint64_t id = 0;
  /// What the producer sent.
  payload data;
};

/// Counters of one queue.
struct queue_stats {
  /// Messages held now.
  uint64_t depth = 0;
  /// Bytes of message bodies held now.
  uint64_t bytes = 0;
  /// Messages accepted since the queue started.
  uint64_t enqueued = 0;
  /// Messages handed out since the queue started.
  uint64_t dequeued = 0;
};

/// @relates payload
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, payload& x) {
  return f(caf::meta::type_name("actormq::payload"), x.body, x.kind);
}

/// @relates message
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, message& x) {
  return f(caf::meta::type_name("actormq::message"), x.id, x.data);
}

/// @relates queue_stats
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, queue_stats& x) {
  return f(caf::meta::type_name("actormq::queue_stats"), x.depth, x.bytes,
           x.enqueued, x.dequeued);
}

} // namespace actormq
