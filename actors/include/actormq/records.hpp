#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "actormq/message.hpp"

/// The on-disk schema: what ActorMQ writes to its store, as keys and values
/// of bytes. Plain functions, no actors, no storage engine.
///
/// Keys sort so that one queue's messages are contiguous and in arrival
/// order:
///
///     "\x01V"                       format        "actormq/1"
///     "\x01N"                       id mark       u64: every id used is below
///     "q" name                      queue         incarnation, attributes
///     "m" be64(incarnation) be64(slot)  message   id, priority, receive count,
///                                                 kind, enqueued_at, due,
///                                                 source queue, body, group,
///                                                 attributes, dedup id,
///                                                 first received
///     "d" be64(incarnation) dedup_id    dedup     id, first seen
///
/// An incarnation is a number a queue gets when it is created (from the id
/// source, so never reused): deleting a queue removes its messages with one
/// range delete, and a queue created again under the same
/// name never meets the old messages. Times are wall-clock nanoseconds since
/// the Unix epoch. Integers in values are little-endian, strings carry a u32
/// length; every value starts with a version byte. A queue record holds
/// the attributes of attribute_list in its order. A newer version only adds
/// fields at the end; every older one is still read.
namespace actormq::records {

/// The value of the format key of a store this version writes.
inline constexpr std::string_view format = "actormq/1";

/// The version of the records this build writes (the first byte of each
/// value); it reads every version from 1 on. Version 2 added the message
/// group, attributes, dedup id and first receive, and the queue attributes
/// whose attribute_def says `since` 2; version 3 the queue's tags and the
/// message's sender and trace header.
inline constexpr uint8_t current_version = 3;

/// Returns the key of the format marker.
std::string format_key();

/// Returns the key of the id mark.
std::string id_mark_key();

/// Returns the key of the named queue.
std::string queue_key(std::string_view name);

/// Returns the key of one message of a queue incarnation.
std::string message_key(uint64_t incarnation, uint64_t slot);

/// Returns the first key past every message of a queue incarnation (for a
/// range delete starting at `message_key(incarnation, 0)`).
std::string message_range_end(uint64_t incarnation);

/// Returns the key of a dedup entry of a queue incarnation.
std::string dedup_key(uint64_t incarnation, std::string_view dedup_id);

/// Returns the first key of a queue incarnation's dedup entries.
std::string dedup_range_begin(uint64_t incarnation);

/// Returns the first key past a queue incarnation's dedup entries.
std::string dedup_range_end(uint64_t incarnation);

/// A queue as stored.
struct queue_record {
  std::string name;
  uint64_t incarnation = 0;
  queue_attributes attributes;
};

/// A message as stored. A leased message is stored as ready: after a crash
/// it is received again (at-least-once), with its receive count.
struct message_record {
  uint64_t incarnation = 0;
  /// Its place in the queue (arrival order).
  uint64_t slot = 0;
  uint64_t id = 0;
  int32_t priority = 0;
  uint32_t receive_count = 0;
  payload data;
  /// Wall-clock nanoseconds.
  int64_t enqueued_at = 0;
  /// When a delayed message turns ready, in wall-clock nanoseconds; 0:
  /// ready.
  int64_t due = 0;
  /// The queue it was moved from (a dead letter), for a redrive; else
  /// empty.
  std::string source;
  /// Its message group; else empty (version 2 on).
  std::string group;
  /// The dedup id it was sent with; else empty (version 2 on).
  std::string dedup_id;
  /// When it was first leased, in wall-clock nanoseconds; 0: never
  /// (version 2 on).
  int64_t first_received_at = 0;
  /// Who sent it, and its trace header; else empty (version 3 on).
  std::string sender;
  std::string trace_header;
};

/// A dedup id a queue remembers.
struct dedup_record {
  uint64_t incarnation = 0;
  std::string dedup_id;
  uint64_t id = 0;
  /// Wall-clock nanoseconds.
  int64_t seen_at = 0;
};

/// The id mark: ids below `next_id` may be in use.
struct id_mark {
  uint64_t next_id = 1;
};

/// The format marker.
struct format_marker {
  std::string value;
};

/// Any record.
using record = std::variant<format_marker, id_mark, queue_record,
                            message_record, dedup_record>;

/// Returns the value bytes of a queue record (its key: queue_key()).
std::string encode(const queue_record& x);

/// Returns the value bytes of a message record (its key: message_key()).
std::string encode(const message_record& x);

/// Returns the value bytes of a dedup record (its key: dedup_key()).
std::string encode(const dedup_record& x);

/// Returns the value bytes of an id mark (its key: id_mark_key()).
std::string encode(const id_mark& x);

/// What decode() makes of a key and a value: a record, or why the bytes
/// are not one.
struct decoded {
  std::optional<record> value;
  /// Empty if `value` holds a record.
  std::string error;
};

/// Reads one stored key and value. Never throws and never reads past the
/// given bytes: anything malformed (unknown key kind, short or long value,
/// unknown version, a value out of range) is reported in `error`.
decoded decode(std::string_view key, std::string_view value);

} // namespace actormq::records
