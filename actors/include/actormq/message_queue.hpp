#pragma once

#include <chrono>
#include <cstddef>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <deque>
#include <functional>
#include <map>
#include <queue>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "actormq/message.hpp"

namespace actormq {

/// A memory bound that several queues share: the bodies they hold plus a
/// fixed cost per message, against `limit` (0: no bound).
struct memory_budget {
  /// What one message costs beyond its body (map, index and heap nodes,
  /// its group, dedup id, sender and trace header's empty strings and its
  /// attributes' vector): `build/inprocess depth` measures 325 bytes of
  /// RSS beyond a 100-byte body.
  static constexpr uint64_t per_message = 320;
  /// What a remembered dedup id costs beyond its text (two index nodes).
  static constexpr uint64_t per_dedup_id = 96;
  /// What each priority with ready messages costs in a queue (a map node
  /// and its deque's first block). Taken when a message makes one exist,
  /// even past the bound (the message was admitted): a batch of new
  /// priorities can pass the bound by this much per message, and later
  /// enqueues are refused until it is back under.
  static constexpr uint64_t per_priority = 768;
  /// What each message group with messages ready or leased costs in a
  /// FIFO queue (its map nodes, beyond its name).
  static constexpr uint64_t per_group = 256;
  /// What a queue costs with nothing in it (its actor, its state, its
  /// registry entry; an estimate, as the others).
  static constexpr uint64_t per_queue = 4096;
  /// Bytes held now, by all queues that share this budget.
  std::atomic<uint64_t> used{0};
  /// The bound; 0 means none.
  uint64_t limit = 0;

  /// Whether `n` more bytes fit the bound now.
  bool fits(uint64_t n) const {
    return limit == 0 || used.load(std::memory_order_relaxed) + n <= limit;
  }
};

/// One queue's part of a memory_budget; gives it back when destroyed.
class budget_share {
public:
  budget_share() = default;
  explicit budget_share(std::shared_ptr<memory_budget> budget)
    : budget_(std::move(budget)) {
    // nop
  }
  budget_share(budget_share&& other) noexcept
    : budget_(std::move(other.budget_)), held_(std::exchange(other.held_, 0)) {
    // nop
  }
  budget_share& operator=(budget_share&& other) noexcept {
    release(held_);
    budget_ = std::move(other.budget_);
    held_ = std::exchange(other.held_, 0);
    return *this;
  }
  ~budget_share() {
    release(held_);
  }

  /// Takes `n` bytes if they fit the bound, in one atomic step (queues on
  /// other threads share it); returns whether it did.
  bool try_take(uint64_t n) {
    if (budget_ && budget_->limit > 0) {
      auto used = budget_->used.load(std::memory_order_relaxed);
      do {
        if (used + n > budget_->limit)
          return false;
      } while (!budget_->used.compare_exchange_weak(
        used, used + n, std::memory_order_relaxed));
      held_ += n;
      return true;
    }
    take(n);
    return true;
  }

  /// Takes `n` bytes (whether they fit or not).
  void take(uint64_t n) {
    held_ += n;
    if (budget_)
      budget_->used.fetch_add(n, std::memory_order_relaxed);
  }

  /// Gives `n` bytes back.
  void release(uint64_t n) {
    held_ -= n;
    if (budget_)
      budget_->used.fetch_sub(n, std::memory_order_relaxed);
  }

private:
  std::shared_ptr<memory_budget> budget_;
  uint64_t held_ = 0;
};

/// The rules of one queue, apart from any actor: ordering, leases, acks,
/// redelivery, dead letters, delays, deduplication, retention, bounds and
/// counters. Time is a parameter of every call, so tests choose it. Not
/// thread-safe; a `queue_actor` owns one.
///
/// A message's life:
///
///     push ──> delayed ──(delay over)──> ready ──(receive)──> leased ──(ack)──> gone
///       └───────────────────────────────> ready <──(lease expires, release)──┘
///                                                  └──(max_deliveries reached)──> dead letter
///
/// In a FIFO queue (attribute `fifo`) every message has a group. A group's
/// ready messages are served oldest first, and none of them while one of
/// the group is leased: only the oldest ready message of a group with no
/// lease can be received ("held" messages wait behind it). A receive that
/// takes a group's first message takes as many more of that group as it
/// may before it goes on to the next group (as SQS does); other groups go
/// on while one is leased.
class message_queue {
public:
  /// Default for `max_message_bytes`: 1 MiB.
  static constexpr size_t default_max_message_bytes = 1024 * 1024;

  /// How long a dedup_id is remembered.
  static constexpr caf::timespan dedup_window = std::chrono::minutes{5};

  /// Hands out message ids; queues that exchange messages (dead letters)
  /// share one, so ids stay unique across them.
  using id_source = std::shared_ptr<std::atomic<uint64_t>>;

  /// Returns a new id source that starts at 1.
  static id_source make_id_source();

  /// A message removed to move to another queue.
  struct departure {
    /// Where it was in this queue.
    uint64_t slot = 0;
    message msg;
    /// The queue it was adopted from (see adopt()); else empty.
    std::string source;
    /// Where a store still holds it, if not in this queue's `slot`: it was
    /// adopted and left before its new place was written, so it is still
    /// stored where it came from. Empty: in `slot` of this queue.
    std::string origin;
  };

  /// A message as a store keeps it.
  struct stored_message {
    /// Its place in the queue: slots grow in arrival order.
    uint64_t slot = 0;
    message msg;
    /// When it turns ready, while it waits for a delay.
    std::optional<time_point> due;
    /// The queue it was adopted from; else empty.
    std::string source;
  };

  /// What changed since the last take_journal(): what a store writes to
  /// hold the same messages. A leased message is stored as ready (with its
  /// receive count): after a crash it is handed out again.
  struct journal {
    /// Messages added or changed.
    std::vector<stored_message> puts;
    /// Slots of messages that left.
    std::vector<uint64_t> erases;
    /// Dedup ids remembered: the id, its message's id, when first seen.
    std::vector<std::tuple<std::string, uint64_t, time_point>> dedup_puts;
    /// Dedup ids forgotten.
    std::vector<std::string> dedup_erases;
    /// Keys outside this queue to remove in the same write: where adopted
    /// messages were stored before they came here (see adopt()).
    std::vector<std::string> foreign_erases;

    bool empty() const noexcept {
      return puts.empty() && erases.empty() && dedup_puts.empty()
             && dedup_erases.empty() && foreign_erases.empty();
    }
  };

  /// Creates an empty queue that takes ids from `ids` (its own if null)
  /// and counts its memory against `budget` (none if null).
  explicit message_queue(queue_attributes attrs = {}, id_source ids = {},
                         std::shared_ptr<memory_budget> budget = {});

  /// Returns the attributes.
  const queue_attributes& attributes() const noexcept {
    return attrs_;
  }

  /// Replaces the attributes; they apply to what happens from now on.
  /// `fifo` stays as the queue was created.
  void set_attributes(queue_attributes attrs) {
    attrs.fifo = attrs_.fifo;
    attrs_ = std::move(attrs);
  }

  /// Adds a message; returns its id. A dedup_id seen within the window
  /// returns the first message's id and adds nothing; with
  /// `content_dedup`, a message without one is deduplicated by its body's
  /// SHA-256 (in hex). Errors: ec::message_required,
  /// ec::message_too_large, ec::too_many_attributes, ec::group_required
  /// and ec::fifo_forbids (a FIFO queue), ec::queue_full,
  /// ec::out_of_memory.
  caf::expected<uint64_t> push(new_message x, time_point now);

  /// Adds a batch, all or nothing: either every message is accepted (ids
  /// in order) or none is, with the first error.
  caf::expected<std::vector<uint64_t>> push_all(std::vector<new_message> xs,
                                                time_point now);

  /// Adds a message moved from another queue, keeping its id, receive
  /// count and enqueue time (its place in the order). A dead letter names
  /// the queue it came from in `source`, for a redrive; a message coming
  /// home (a redrive) has none. `origin` is its store key in the queue it
  /// left (empty if not stored): the journal's write that adds it here
  /// removes that key, so a store holds it in exactly one place.
  void adopt(message x, std::string source, time_point now,
             std::string origin = {});

  /// Removes and returns the messages that reached max_deliveries, for
  /// `attributes().dead_letter_queue`. They stay out of the journal: the
  /// queue that adopts them writes the move.
  std::vector<departure> take_dead_letters();

  /// Puts back a message read from a store, in its slot, without counting
  /// it as enqueued. Restore in slot order, before anything else.
  void restore(stored_message x, time_point now);

  /// Puts back a dedup id read from a store.
  void restore_dedup(std::string dedup_id, uint64_t id, time_point seen_at);

  /// Turns the journal on (off by default, and free when off).
  void set_journaling(bool on) noexcept {
    journaling_ = on;
  }

  /// Returns and clears what changed since the last call.
  journal take_journal();

  /// The bytes of bodies and attributes one receive or peek returns at
  /// most (always at least one message): a reply stays a few MiB however many large messages a
  /// client asks for.
  static constexpr size_t max_batch_bytes = 4 * 1024 * 1024;

  /// Leases up to `max` ready messages, most urgent first, for `visibility`,
  /// up to max_batch_bytes of bodies.
  /// Each lease gets a receipt no other lease ever gets: it names this
  /// queue object (a number unique across the queues of a process and,
  /// starting from a random one, across its starts), the slot and the
  /// lease.
  std::vector<lease> receive(size_t max, caf::timespan visibility,
                             time_point now);

  /// Deletes a leased message. Errors: ec::invalid_receipt for a receipt
  /// no queue hands out; ec::stale_receipt when it names no current lease
  /// of this queue (expired, released, acked, or a lease of another queue,
  /// of an earlier incarnation, or of a run before a restart).
  caf::error ack(const std::string& receipt, time_point now);

  /// Ends a lease early; the message is ready again after `delay`.
  caf::error release(const std::string& receipt, caf::timespan delay,
                     time_point now);

  /// Ends a lease whose message never reached its receiver: ready again at
  /// once, its receive count as before the lease (so it never becomes a
  /// dead letter for it).
  caf::error give_back(const std::string& receipt, time_point now);

  /// Gives a lease `visibility` more time from now.
  caf::error extend(const std::string& receipt, caf::timespan visibility,
                    time_point now);

  /// Returns up to `max` ready messages (and max_batch_bytes of bodies) in
  /// the order receive() would take them, without leasing them.
  std::vector<message> peek(size_t max, time_point now);

  /// Deletes every message; returns how many there were.
  uint64_t purge();

  /// Applies what is due by `now`: delayed messages turn ready, expired
  /// leases return (or become dead letters), old messages expire. Every
  /// other call does this first.
  void advance(time_point now);

  /// Returns when advance() next has something to do, if ever.
  std::optional<time_point> next_deadline() const;

  /// Removes the dead letters (messages adopted with a source) that are
  /// not leased and returns each with the name of its source queue, in
  /// the order receive() would take them. Leased ones stay until a later
  /// call. Like dead letters, they stay out of the journal.
  std::vector<departure> take_adopted();

  /// Returns the counters as of `now`.
  queue_stats stats(time_point now) const;

  /// Counts `n` bytes that the queue's owner holds for it (waiting
  /// receivers) against the memory bound; negative: gives them back.
  void account(int64_t n) {
    if (n >= 0)
      budget_.take(static_cast<uint64_t>(n));
    else
      budget_.release(static_cast<uint64_t>(-n));
  }

  /// Returns how many messages a receive can take now: ready ones, but
  /// not those held behind their group (see the class).
  uint64_t ready_count() const noexcept {
    return ready_count_;
  }

  /// Returns how many deadlines (delays, leases) the queue keeps, stale
  /// ones included: what its timer heaps hold.
  size_t timed_keys() const noexcept {
    return delayed_.size() + leases_.size();
  }

  /// Returns how many messages the queue holds in any state.
  uint64_t size() const noexcept {
    return entries_.size();
  }

private:
  /// `held`: ready, but behind its group in a FIFO queue (not in the
  /// ready index).
  enum class state : uint8_t { ready, held, delayed, leased };

  /// Messages live in slots numbered in arrival order, in an ordered map:
  /// unlike a hash table nothing ever rehashes a million entries at once
  /// (a pause of 100 ms in the queue actor), and the first entry is the
  /// oldest arrival.
  struct entry {
    message msg;
    state st = state::ready;
    /// Counts leases, so a receipt of an old lease is stale.
    uint32_t lease_seq = 0;
    /// A journal has put it: a store holds it (restored ones too).
    bool written = false;
    /// Its slot is in its bucket's deque (see ready_bucket).
    bool in_fresh = false;
    /// When a delayed message turns ready, or a lease ends.
    time_point due;
    /// A leased message: when its key in the lease heap is due (at or
    /// before `due`: an extend that moves `due` later adds no key; the
    /// key, once due, is pushed again for the rest).
    time_point key_due;
  };

  /// Where a ready message stands in its priority: oldest enqueue time
  /// first (a moved message keeps its own), then lowest id (enqueue order).
  using order_key = std::pair<time_point, uint64_t>;

  /// A ready message's order key and its slot.
  using ready_ref = std::pair<order_key, uint64_t>;

  /// A min-heap key; entries are validated when popped (lazy deletion).
  struct timed_key {
    time_point due;
    uint64_t slot;
    uint32_t lease_seq;
    bool operator>(const timed_key& other) const {
      return due > other.due;
    }
  };

  /// The ready messages of one priority, in order_key order. Fresh
  /// messages arrive in that order and cost 8 bytes (a slot) in a deque;
  /// the few that come back (a lease ended, a delay ran out) or arrive out
  /// of order (moved messages) keep their place through a set. The deque
  /// may hold slots that are no longer ready: they are skipped, and its
  /// front is always ready.
  struct ready_bucket {
    std::deque<uint64_t> fresh;
    /// The order key of `fresh.back()`.
    order_key fresh_back;
    /// Slots by order key.
    std::map<order_key, uint64_t> returned;
  };

  /// One message group of a FIFO queue.
  struct group_state {
    /// Its messages leased now.
    uint32_t leased = 0;
    /// Its ready and held messages, oldest first: the first is in the
    /// ready index while none is leased, the others are held.
    std::map<order_key, uint64_t> ready;
    /// The slot of its message in the ready index, if any.
    std::optional<uint64_t> indexed;
    /// Its first key in held_heads_, while it has ready messages but none
    /// in the index.
    std::optional<order_key> held_head;
  };

  using group_map = std::unordered_map<std::string, group_state>;

  template <class T>
  using min_heap = std::priority_queue<T, std::vector<T>, std::greater<T>>;

  /// Checks `x` against the queue's rules and gives it its content dedup
  /// id.
  caf::error prepare(new_message& x) const;
  /// Returns what `x` costs against the memory bound.
  static uint64_t cost_of(const new_message& x);
  /// Returns what a held message costs against the memory bound.
  static uint64_t footprint(const message& x);
  /// Whether the group rule applies to `e`.
  bool grouped(const entry& e) const noexcept {
    return attrs_.fifo && !e.msg.group.empty();
  }
  /// Puts `e` in the ready index.
  void index(uint64_t slot, entry& e, bool fresh);
  /// Takes `e`, ready, out of the ready index: it is held.
  void unindex(entry& e);
  /// Restores the rule of group `g` after a change: its first ready
  /// message in the index if none of it is leased, the others held; a
  /// group with nothing ready or leased is forgotten.
  void regroup(group_map::iterator g);
  /// Leases `e`, ready or held, for `visibility`.
  lease take(uint64_t slot, entry& e, caf::timespan visibility,
             time_point now);
  /// Counts the end of a lease of `e` in its group.
  void unlease(const entry& e);
  /// Adds a message whose checks passed and whose cost_of() is taken from
  /// the budget; returns its id (a dedup repeat's first id, giving the
  /// cost back).
  uint64_t add(new_message x, time_point now);
  /// Stores `msg` in a new slot (its memory taken by the caller); returns
  /// the slot.
  uint64_t insert(message msg, caf::timespan delay, time_point now,
                  bool fresh);
  /// Returns the live entry in `slot`, or null.
  entry* find(uint64_t slot);
  const entry* find(uint64_t slot) const;
  /// Makes `e` ready now, or delayed by `delay`.
  void schedule(uint64_t slot, entry& e, caf::timespan delay, time_point now);
  /// Adds `e` to the ready index; `fresh` for a newly pushed message.
  void make_ready(uint64_t slot, entry& e, bool fresh = false);
  /// Returns the message in `slot` as a store keeps it.
  stored_message snapshot(uint64_t slot, const entry& e) const;
  /// Rebuilds the deadline heaps when stale keys outnumber live ones.
  void compact();
  /// Drops ids at the front of a bucket's deque that are no longer ready.
  void skip_stale(ready_bucket& b);
  /// Erases bucket `b` (and gives its memory back) if nothing in it is
  /// ready.
  void drop_if_empty(
    std::map<int32_t, ready_bucket, std::greater<int32_t>>::iterator b);
  /// Returns a bucket's first ready message, if any.
  std::optional<ready_ref> first_of(const ready_bucket& b) const;
  /// Makes a leased message ready (or delayed, or a dead letter).
  void end_lease(uint64_t slot, entry& e, caf::timespan delay,
                 time_point now);
  /// Advances to `now`, then finds the entry a receipt leases, or says why
  /// not.
  caf::expected<std::pair<uint64_t, entry*>>
  find_lease(const std::string& receipt, time_point now);
  /// Removes a message (with its accounting) and returns it; `stored`:
  /// the store removes it too (else the queue it moves to does, from the
  /// departure's origin).
  message erase(uint64_t slot, bool stored = true);
  /// Removes a message that moves to another queue.
  departure depart(uint64_t slot, std::string source);
  /// Notes that the message in `slot` changed, for the journal.
  void touch(uint64_t slot);

  queue_attributes attrs_;
  id_source ids_;
  budget_share budget_;
  std::vector<departure> dead_letters_;
  std::map<uint64_t, entry> entries_;
  uint64_t next_slot_ = 0;
  std::map<int32_t, ready_bucket, std::greater<int32_t>> ready_;
  /// Messages in the ready index.
  uint64_t ready_count_ = 0;
  /// Messages held behind their group.
  uint64_t held_count_ = 0;
  group_map groups_;
  /// The oldest ready message's key of each group that has ready messages
  /// but none in the index (for the age of the oldest ready message).
  std::set<order_key> held_heads_;
  min_heap<timed_key> delayed_;
  min_heap<timed_key> leases_;
  std::unordered_map<std::string, std::pair<uint64_t, time_point>> dedup_;
  std::deque<std::pair<time_point, std::string>> dedup_order_;
  /// Source queues of adopted messages, by slot.
  std::unordered_map<uint64_t, std::string> sources_;
  uint64_t delayed_count_ = 0;
  uint64_t bytes_ = 0;
  queue_stats totals_;
  bool journaling_ = false;
  std::vector<uint64_t> touched_;
  /// Slots that left for another queue since the last journal.
  std::vector<uint64_t> departed_;
  std::vector<std::string> touched_dedup_;
  /// Where adopted messages are stored until their put here is written.
  std::unordered_map<uint64_t, std::string> origins_;
  /// Messages that left before any store held them: the next journal puts
  /// them here, so they are durable before their new queue writes them.
  std::vector<stored_message> departed_puts_;
  std::vector<std::string> foreign_erases_;
  /// Names this queue object in receipts.
  uint64_t generation_;
};

} // namespace actormq
