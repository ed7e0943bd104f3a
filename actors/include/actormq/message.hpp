#pragma once

#include <cctype>
#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <caf/error.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/none.hpp>
#include <caf/timespan.hpp>

namespace actormq {

/// The time actors run on: CAF's actor clock (steady; virtual under test).
using time_point = std::chrono::steady_clock::time_point;

/// How a message's body is to be read. Queues store bytes; the kind tells a
/// consumer whether the producer sent text or a structured (JSON) value.
enum class payload_kind : uint8_t {
  /// The body is the text itself.
  text,
  /// The body is a compact JSON document (a number, object, array, ...).
  json,
};

/// A typed value a producer attaches to a message (as SQS's message
/// attributes).
struct message_attribute {
  /// 1-256 of [A-Za-z0-9_.-].
  std::string name;
  /// "String", "Number" or "Binary", maybe with a label of the producer's
  /// after a '.' ("Number.float").
  std::string type;
  /// Text for a String or a Number, bytes for a Binary; never empty.
  std::string value;
};

/// What a producer hands to a queue.
struct payload {
  /// The message's bytes.
  std::string body;
  /// How to read `body`.
  payload_kind kind = payload_kind::text;
  /// Its attributes, by name (at most max_message_attributes).
  std::vector<message_attribute> attributes = {};

  /// What counts against a queue's max_message_bytes: the body and each
  /// attribute's name, type and value (as in SQS).
  size_t size() const noexcept {
    auto n = body.size();
    for (auto& a : attributes)
      n += a.name.size() + a.type.size() + a.value.size();
    return n;
  }
};

/// The most attributes one message may have.
constexpr size_t max_message_attributes = 10;

/// A message to enqueue, with its options.
struct new_message {
  /// What to enqueue.
  payload data;
  /// Time before it can be received; negative (the default): the queue's
  /// delay_seconds.
  caf::timespan delay = caf::timespan{-1};
  /// Higher is more urgent; equal priorities are served oldest first.
  int32_t priority = 0;
  /// A repeat of this id within message_queue::dedup_window adds nothing.
  std::string dedup_id;
  /// Its message group: in a FIFO queue, messages of one group are served
  /// in order, one lease of the group at a time. Empty: none.
  std::string group;
  /// Who sent it (SQS's SenderId: the access key id that signed the send);
  /// empty: not known.
  std::string sender = {};
  /// A tracing header it carries (SQS's AWSTraceHeader); empty: none.
  std::string trace_header = {};
};

/// A message held by a queue.
struct message {
  /// Unique, increasing in enqueue order, never 0. A dead letter keeps the
  /// id it had in its source queue.
  uint64_t id = 0;
  /// What the producer sent.
  payload data;
  /// Higher is more urgent.
  int32_t priority = 0;
  /// How often it was leased.
  uint32_t receive_count = 0;
  /// When it entered its first queue.
  time_point enqueued_at;
  /// Its message group (see new_message::group); empty: none.
  std::string group;
  /// The dedup id it was sent with (or its body's, see content_dedup);
  /// empty: none.
  std::string dedup_id = {};
  /// When it was first leased; time_point{}: never.
  time_point first_received_at = {};
  /// See new_message.
  std::string sender = {};
  std::string trace_header = {};
};

/// The bytes a message holds beyond its fixed size: its payload, group,
/// dedup id, sender and trace header.
template <class Message>
size_t held_bytes(const Message& x) noexcept {
  return x.data.size() + x.group.size() + x.dedup_id.size() + x.sender.size()
         + x.trace_header.size();
}

/// A message on its way from one queue to another (a dead letter, a
/// redrive).
struct moved_message {
  message msg;
  /// Its store key in the queue it leaves (see records::message_key): the
  /// queue that adopts it removes that key in the write that adds its own.
  /// Empty when nothing is stored.
  std::string origin;
};

/// A leased message: the receiver acks it with `receipt` before `expires`,
/// or the queue hands it out again.
struct lease {
  /// The message, with its receive count including this lease.
  message msg;
  /// Names this lease (not the message): a later lease gets another.
  std::string receipt;
  /// When the lease ends unless extended.
  time_point expires;
  /// A dead letter: the queue it came from; else empty.
  std::string source = {};
};

/// Returns whether `name` is 1-80 of [A-Za-z0-9_.-].
inline bool valid_queue_name(std::string_view name) {
  if (name.empty() || name.size() > 80)
    return false;
  for (unsigned char c : name)
    if (!std::isalnum(c) && c != '_' && c != '.' && c != '-')
      return false;
  return true;
}

/// Returns whether `group` is 1-128 of letters, digits and ASCII
/// punctuation (as SQS's MessageGroupId).
inline bool valid_group(std::string_view group) {
  if (group.empty() || group.size() > 128)
    return false;
  for (unsigned char c : group)
    if (!std::isalnum(c) && !std::ispunct(c))
      return false;
  return true;
}

/// The longest a receive may wait for a message.
constexpr auto max_receive_wait = std::chrono::seconds{20};

/// How a queue behaves; every field has a default.
struct queue_attributes {
  /// How long a receive leases a message.
  caf::timespan visibility = std::chrono::seconds{30};
  /// Leases without an ack before a message is dead-lettered; 0: no limit.
  uint32_t max_deliveries = 0;
  /// Where dead letters go; empty: they are dropped (and counted).
  std::string dead_letter_queue;
  /// Default delay of new messages.
  caf::timespan delay = caf::timespan{0};
  /// Age at which a message expires; 0: never.
  caf::timespan retention = caf::timespan{0};
  /// Messages held at most (any state); 0: no limit.
  uint64_t max_depth = 0;
  /// Largest body accepted.
  uint64_t max_message_bytes = 1024 * 1024;
  /// How long a receive that names no wait waits for a message.
  caf::timespan receive_wait = caf::timespan{0};
  /// A FIFO queue: every message has a group, served in order, one lease
  /// of a group at a time; no per-message delay or priority. Set when the
  /// queue is created, never changed.
  bool fifo = false;
  /// A message without a dedup_id is deduplicated by its body's SHA-256.
  bool content_dedup = false;
  /// Labels of the queue's owner (SQS's queue tags; at most max_tags).
  std::map<std::string, std::string> tags;
};

/// The most tags a queue may have (as SQS's).
constexpr size_t max_tags = 50;

/// Whether a tag's key is 1-128 characters and its value at most 256 (as
/// SQS's).
inline bool valid_tag(std::string_view key, std::string_view value) {
  return !key.empty() && key.size() <= 128 && value.size() <= 256;
}

/// One bit per field of queue_attributes, in the order declared: which
/// fields a change names (see patch_attributes).
namespace attribute_field {
constexpr uint32_t visibility = 1u << 0;
constexpr uint32_t max_deliveries = 1u << 1;
constexpr uint32_t dead_letter_queue = 1u << 2;
constexpr uint32_t delay = 1u << 3;
constexpr uint32_t retention = 1u << 4;
constexpr uint32_t max_depth = 1u << 5;
constexpr uint32_t max_message_bytes = 1u << 6;
constexpr uint32_t receive_wait = 1u << 7;
constexpr uint32_t fifo = 1u << 8;
constexpr uint32_t content_dedup = 1u << 9;
constexpr uint32_t tags = 1u << 10;
/// Every field.
constexpr uint32_t all = (1u << 11) - 1;
} // namespace attribute_field

/// What one field of queue_attributes is: every place that reads, writes
/// or shows the attributes (the API, the store, CAF's inspection) walks
/// attribute_list, so a field is named once.
template <class T>
struct attribute_def {
  /// Its attribute_field bit.
  uint32_t bit;
  /// Its name in the native API's JSON.
  const char* name;
  T queue_attributes::*member;
  /// The version of the store's queue record that added it.
  uint8_t since;
  /// The smallest and largest values a client may set (seconds for a
  /// duration; unused for text and flags).
  double lo;
  double hi;
  /// Its name among SQS's queue attributes; null: SQS has none of its own
  /// (max_deliveries and dead_letter_queue are SQS's RedrivePolicy).
  const char* sqs = nullptr;
  /// The range SQS documents for it (seconds, bytes), which the SQS API
  /// applies.
  double sqs_lo = 0;
  double sqs_hi = 0;
};

/// Every field of queue_attributes, in the order declared.
inline constexpr auto attribute_list = std::make_tuple(
  attribute_def<caf::timespan>{attribute_field::visibility,
                               "visibility_seconds",
                               &queue_attributes::visibility, 1, 0.001,
                               12 * 3600, "VisibilityTimeout", 0, 12 * 3600},
  attribute_def<uint32_t>{attribute_field::max_deliveries, "max_deliveries",
                          &queue_attributes::max_deliveries, 1, 0, 1000},
  attribute_def<std::string>{attribute_field::dead_letter_queue,
                             "dead_letter_queue",
                             &queue_attributes::dead_letter_queue, 1, 0, 80},
  attribute_def<caf::timespan>{attribute_field::delay, "delay_seconds",
                               &queue_attributes::delay, 1, 0, 12 * 3600,
                               "DelaySeconds", 0, 900},
  attribute_def<caf::timespan>{attribute_field::retention,
                               "retention_seconds",
                               &queue_attributes::retention, 1, 0,
                               14 * 24 * 3600, "MessageRetentionPeriod",
                               60, 14 * 24 * 3600},
  attribute_def<uint64_t>{attribute_field::max_depth, "max_depth",
                          &queue_attributes::max_depth, 1, 0,
                          double(std::numeric_limits<int64_t>::max())},
  attribute_def<uint64_t>{attribute_field::max_message_bytes,
                          "max_message_bytes",
                          &queue_attributes::max_message_bytes, 1, 1,
                          double(std::numeric_limits<int64_t>::max()),
                          "MaximumMessageSize", 1024, 1024 * 1024},
  attribute_def<caf::timespan>{attribute_field::receive_wait,
                               "receive_wait_seconds",
                               &queue_attributes::receive_wait, 2, 0,
                               max_receive_wait.count(),
                               "ReceiveMessageWaitTimeSeconds", 0,
                               max_receive_wait.count()},
  attribute_def<bool>{attribute_field::fifo, "fifo", &queue_attributes::fifo,
                      2, 0, 1, "FifoQueue", 0, 1},
  attribute_def<bool>{attribute_field::content_dedup, "content_dedup",
                      &queue_attributes::content_dedup, 2, 0, 1,
                      "ContentBasedDeduplication", 0, 1},
  attribute_def<std::map<std::string, std::string>>{
    attribute_field::tags, "tags", &queue_attributes::tags, 3, 0, max_tags});

/// Calls `f` with each attribute_def of attribute_list, in order.
template <class F>
void each_attribute(F&& f) {
  std::apply([&](const auto&... def) { (f(def), ...); }, attribute_list);
}

/// Copies the fields of `values` that `fields` names onto `onto`.
inline void patch_attributes(queue_attributes& onto,
                             const queue_attributes& values,
                             uint32_t fields) {
  each_attribute([&](const auto& def) {
    if (fields & def.bit)
      onto.*def.member = values.*def.member;
  });
}

/// Counters of one queue.
struct queue_stats {
  /// Messages that can be received now, and in a FIFO queue those held
  /// behind their group's lease.
  uint64_t ready = 0;
  /// Messages waiting for their delay.
  uint64_t delayed = 0;
  /// Messages leased and not yet acked.
  uint64_t in_flight = 0;
  /// Bytes of message bodies held now.
  uint64_t bytes = 0;
  /// Messages accepted, ever.
  uint64_t enqueued = 0;
  /// Messages acked, ever.
  uint64_t acked = 0;
  /// Leases that ended without an ack, ever.
  uint64_t redelivered = 0;
  /// Messages that reached max_deliveries, ever.
  uint64_t dead_lettered = 0;
  /// Messages removed by retention, ever.
  uint64_t expired = 0;
  /// Age of the oldest ready message; 0 if none.
  caf::timespan oldest_ready_age = caf::timespan{0};
};

/// What one counter of queue_stats is: the native API's JSON, the
/// Prometheus metrics, SQS's queue attributes and CAF's inspection walk
/// stat_list, so a counter is named once.
template <class T>
struct stat_def {
  T queue_stats::*member;
  /// Its name in the native API's JSON.
  const char* name;
  /// Its Prometheus metric: name, type ("gauge" or "counter") and help.
  const char* metric;
  const char* metric_type;
  const char* help;
  /// Its name among SQS's queue attributes; null: none.
  const char* sqs = nullptr;
};

/// Every counter of queue_stats, in the order declared.
inline constexpr auto stat_list = std::make_tuple(
  stat_def<uint64_t>{&queue_stats::ready, "ready", "actormq_messages_ready",
                     "gauge",
                     "Messages ready (in a FIFO queue, held behind their "
                     "group too).",
                     "ApproximateNumberOfMessages"},
  stat_def<uint64_t>{&queue_stats::delayed, "delayed",
                     "actormq_messages_delayed", "gauge",
                     "Messages waiting for their delay.",
                     "ApproximateNumberOfMessagesDelayed"},
  stat_def<uint64_t>{&queue_stats::in_flight, "in_flight",
                     "actormq_messages_in_flight", "gauge",
                     "Messages leased, not acked.",
                     "ApproximateNumberOfMessagesNotVisible"},
  stat_def<uint64_t>{&queue_stats::bytes, "bytes", "actormq_message_bytes",
                     "gauge", "Bytes of message bodies held."},
  stat_def<uint64_t>{&queue_stats::enqueued, "enqueued",
                     "actormq_enqueued_total", "counter",
                     "Messages accepted."},
  stat_def<uint64_t>{&queue_stats::acked, "acked", "actormq_acked_total",
                     "counter", "Messages acked."},
  stat_def<uint64_t>{&queue_stats::redelivered, "redelivered",
                     "actormq_redelivered_total", "counter",
                     "Leases that ended without an ack."},
  stat_def<uint64_t>{&queue_stats::dead_lettered, "dead_lettered",
                     "actormq_dead_lettered_total", "counter",
                     "Messages that reached max_deliveries."},
  stat_def<uint64_t>{&queue_stats::expired, "expired",
                     "actormq_expired_total", "counter",
                     "Messages removed by retention."},
  stat_def<caf::timespan>{&queue_stats::oldest_ready_age,
                          "oldest_ready_age_seconds",
                          "actormq_oldest_ready_age_seconds", "gauge",
                          "Age of the oldest ready message."});

/// Calls `f` with each stat_def of stat_list, in order.
template <class F>
void each_stat(F&& f) {
  std::apply([&](const auto&... def) { (f(def), ...); }, stat_list);
}

/// @relates message_attribute
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, message_attribute& x) {
  return f(caf::meta::type_name("actormq::message_attribute"), x.name,
           x.type, x.value);
}

/// @relates payload
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, payload& x) {
  return f(caf::meta::type_name("actormq::payload"), x.body, x.kind,
           x.attributes);
}

/// @relates new_message
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, new_message& x) {
  return f(caf::meta::type_name("actormq::new_message"), x.data, x.delay,
           x.priority, x.dedup_id, x.group, x.sender, x.trace_header);
}

/// A time of the actor clock as CAF inspects it: across processes it
/// travels as system-clock nanoseconds since the epoch, since the steady
/// clocks of two hosts share no epoch; time_point{} ("never") travels as 0.
struct wire_time {
  time_point& t;
};

/// The system-clock nanoseconds that `t` (a steady time) stands for now.
inline int64_t to_wire(time_point t) {
  if (t == time_point{})
    return 0;
  auto sys = std::chrono::system_clock::now()
             + std::chrono::duration_cast<std::chrono::system_clock::duration>(
               t - std::chrono::steady_clock::now());
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           sys.time_since_epoch())
    .count();
}

/// The steady time that system-clock nanoseconds `ns` stand for now.
inline time_point from_wire(int64_t ns) {
  if (ns == 0)
    return time_point{};
  auto sys = std::chrono::system_clock::time_point{
    std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::nanoseconds{ns})};
  return std::chrono::steady_clock::now()
         + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
           sys - std::chrono::system_clock::now());
}

/// @relates wire_time
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, wire_time x) {
  int64_t ns = 0;
  if constexpr (Inspector::reads_state)
    ns = to_wire(x.t);
  auto load = caf::meta::load_callback([&]() -> caf::error {
    x.t = from_wire(ns);
    return caf::none;
  });
  return f(ns, load);
}

/// @relates message
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, message& x) {
  return f(caf::meta::type_name("actormq::message"), x.id, x.data,
           x.priority, x.receive_count, wire_time{x.enqueued_at}, x.group,
           x.dedup_id, wire_time{x.first_received_at}, x.sender,
           x.trace_header);
}

/// @relates moved_message
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, moved_message& x) {
  return f(caf::meta::type_name("actormq::moved_message"), x.msg, x.origin);
}

/// @relates lease
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lease& x) {
  return f(caf::meta::type_name("actormq::lease"), x.msg, x.receipt,
           wire_time{x.expires}, x.source);
}

/// @relates queue_attributes
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, queue_attributes& x) {
  return std::apply(
    [&](const auto&... def) {
      return f(caf::meta::type_name("actormq::queue_attributes"),
               (x.*def.member)...);
    },
    attribute_list);
}

/// @relates queue_stats
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, queue_stats& x) {
  return std::apply(
    [&](const auto&... def) {
      return f(caf::meta::type_name("actormq::queue_stats"),
               (x.*def.member)...);
    },
    stat_list);
}

} // namespace actormq
