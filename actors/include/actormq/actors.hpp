#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actormq/atoms.hpp"
#include "actormq/message.hpp"
#include "actormq/store.hpp"

/// Every typed actor interface of ActorMQ.
namespace actormq {

/// What a queue answers to messages enqueued each on its own: per message,
/// its id (0 if it failed) and its error (none if it went in).
struct enqueue_results {
  std::vector<uint64_t> ids;
  std::vector<caf::error> errors;
};

/// @relates enqueue_results
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, enqueue_results& x) {
  return f(caf::meta::type_name("actormq::enqueue_results"), x.ids,
           x.errors);
}

/// Where a queue sends the messages that reached max_deliveries.
using dead_letter_sink = caf::typed_actor<
  // Takes messages moved from the queue named by the string: dead letters
  // of it, or (empty name) messages coming home in a redrive. They keep
  // their ids, receive counts and enqueue times. Replies with how many it
  // took once they are written (each in one write with the removal of its
  // `origin`). Error: ec::storage_failed.
  caf::replies_to<atom::adopt, std::string, std::vector<moved_message>>::with<
    uint64_t>>;

/// One queue; its rules live in `message_queue`. All times are the actor
/// clock's (virtual under test).
using queue_actor = dead_letter_sink::extend<
  // Adds a message; replies with its id. Errors: ec::message_required,
  // ec::message_too_large, ec::queue_full.
  caf::replies_to<atom::enqueue, new_message>::with<uint64_t>,
  // Adds a batch, all or nothing; replies with the ids in order.
  caf::replies_to<atom::enqueue, std::vector<new_message>>::with<
    std::vector<uint64_t>>,
  // Adds each message on its own (as that many single enqueues, in one
  // write); replies with each one's id or error, in order.
  caf::replies_to<atom::enqueue, std::vector<new_message>,
                  atom::each>::with<enqueue_results>,
  // Leases up to `max` messages for `visibility` (0: the queue's); waits up
  // to `wait` (negative: the queue's receive_wait) for the first one, then
  // replies (maybe with none).
  caf::replies_to<atom::receive, uint32_t, caf::timespan, caf::timespan>::with<
    std::vector<lease>>,
  // Deletes leased messages; one result per receipt (none: done).
  caf::replies_to<atom::ack, std::vector<std::string>>::with<
    std::vector<caf::error>>,
  // Ends leases early; the messages are ready again after the delay.
  caf::replies_to<atom::release, std::vector<std::string>,
                  caf::timespan>::with<std::vector<caf::error>>,
  // Ends leases whose messages never reached a receiver (it left before
  // the reply): ready again at once, and not counted as deliveries.
  caf::replies_to<atom::give_back, std::vector<std::string>>::with<
    std::vector<caf::error>>,
  // Extends leases to the given time from now.
  caf::replies_to<atom::extend, std::vector<std::string>,
                  caf::timespan>::with<std::vector<caf::error>>,
  // Replies with up to `max` ready messages, unleased.
  caf::replies_to<atom::peek, uint32_t>::with<std::vector<message>>,
  // Deletes every message; replies with how many there were.
  caf::replies_to<atom::purge>::with<uint64_t>,
  // Replies with the counters.
  caf::replies_to<atom::stats>::with<queue_stats>,
  // Removes the dead letters that are not leased (leased ones stay for a
  // later redrive); replies with each and its source queue, in order.
  caf::replies_to<atom::redrive>::with<
    std::vector<std::pair<std::string, moved_message>>>,
  // Replaces the attributes and where dead letters go.
  caf::reacts_to<atom::configure, queue_attributes, dead_letter_sink>,
  // Answers every waiting receive now with what it has (none), and lets
  // later ones not wait: the service is stopping.
  caf::reacts_to<atom::drain>,
  // Internal: writes the changes made so far to the store.
  caf::reacts_to<atom::commit>>;

/// A queue's name, attributes and counters.
struct queue_info {
  std::string name;
  queue_attributes attributes;
  queue_stats stats;
  /// The node that owns it (registry_config::node); empty: not named.
  std::string node = {};
};

/// @relates queue_info
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, queue_info& x) {
  return f(caf::meta::type_name("actormq::queue_info"), x.name, x.attributes,
           x.stats, x.node);
}

/// Finds queues by name.
using queue_locator = caf::typed_actor<
  // Returns the named queue; creates it with the defaults if the flag is
  // set. Errors: ec::invalid_queue_name, ec::unknown_queue (in a cluster
  // also ec::node_unreachable, ec::node_busy).
  caf::replies_to<atom::get, std::string, bool>::with<queue_actor>>;

/// Owns the named queues: creates them, watches them, routes dead letters
/// and redrives. Names are 1-80 of [A-Za-z0-9_.-].
using registry_actor = dead_letter_sink::extend_with<queue_locator>::extend<
  // Creates a queue (from the defaults) or changes an existing one: sets
  // the attributes the mask names (attribute_field bits) to the given
  // values, in one step. Errors: ec::invalid_queue_name (also for a bad
  // dead_letter_queue), ec::invalid_attributes.
  caf::replies_to<atom::put, std::string, queue_attributes,
                  uint32_t>::with<queue_actor>,
  // Replies with every queue, by name.
  caf::replies_to<atom::list>::with<std::vector<queue_info>>,
  // Replies with one queue. Error: ec::unknown_queue.
  caf::replies_to<atom::stats, std::string>::with<queue_info>,
  // Deletes a queue and its messages. Error: ec::unknown_queue.
  caf::replies_to<atom::remove, std::string>::with<bool>,
  // Moves a dead-letter queue's messages back to their sources; replies
  // with how many moved, once the moves are written. Error:
  // ec::unknown_queue.
  caf::replies_to<atom::redrive, std::string>::with<uint64_t>,
  // Answers every long poll of every queue now (the service is stopping).
  caf::reacts_to<atom::drain>,
  // From now on, dead letters and redrives go to queues found through
  // this locator (a cluster's: the queue may live on another node).
  caf::reacts_to<atom::route, queue_locator>>;

/// @relates store_op
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, store_op& x) {
  return f(caf::meta::type_name("actormq::store_op"), x.what, x.key,
           x.value);
}

/// Writes changes to the store with group commit: the batches that arrive
/// while a write runs go together into the next one.
using storage_actor = caf::typed_actor<
  // Applies the changes atomically; replies once they are as durable as
  // the storage's fsync mode promises. Error: ec::storage_failed.
  caf::replies_to<atom::write, store_batch>::with<atom::ok>,
  // Replies once every write so far is synced.
  caf::replies_to<atom::flush>::with<atom::ok>,
  // Replies with the records (as puts) of one queue incarnation: its
  // messages and dedup ids, every write so far included. For a queue that
  // restarts.
  caf::replies_to<atom::get, uint64_t>::with<store_batch>,
  // Internal: writes what was batched so far.
  caf::reacts_to<atom::commit>,
  // Internal: time for a periodic sync, or to probe a failing store.
  caf::reacts_to<atom::tick>>;

/// Leases messages from a queue every interval and hands them to a handler;
/// acks on success, releases with a backoff on failure.
using consumer_actor = caf::typed_actor<
  // Wakes the consumer: it asks its queue for messages and re-arms itself.
  caf::reacts_to<atom::tick>>;

} // namespace actormq
