#include "actormq/message_queue.hpp"

#include <algorithm>
#include <charconv>
#include <random>
#include <utility>

#include <openssl/evp.h>

#include "actormq/errors.hpp"

namespace actormq {

namespace {

/// A receipt names the queue object that leased, a slot of it and a lease
/// of that slot: "<generation>.<slot>.<lease>".
struct receipt_parts {
  uint64_t generation = 0;
  uint64_t slot = 0;
  uint32_t lease_seq = 0;
};

std::string make_receipt(const receipt_parts& x) {
  return std::to_string(x.generation) + "." + std::to_string(x.slot) + "."
         + std::to_string(x.lease_seq);
}

/// Reads one number of a receipt and the '.' after it (none after the
/// last); returns false if there is no such number.
template <class T>
bool read_part(const char*& pos, const char* last, T& out, bool final) {
  auto r = std::from_chars(pos, last, out);
  if (r.ec != std::errc{} || r.ptr == pos)
    return false;
  pos = r.ptr;
  if (final)
    return pos == last;
  if (pos == last || *pos != '.')
    return false;
  ++pos;
  return true;
}

/// Numbers queue objects for their receipts: from a random point at each
/// start of the process, then counting. So a receipt never names a lease
/// of another queue object: of this process (another queue, another
/// incarnation of a name, a restarted queue) or of an earlier one (a
/// restart, in memory mode too), whatever id source the queues use.
uint64_t next_generation() {
  static std::atomic<uint64_t> next{[] {
    std::random_device rd;
    return (uint64_t{rd()} << 32) ^ rd();
  }()};
  uint64_t result = 0;
  while (result == 0)
    result = next.fetch_add(1, std::memory_order_relaxed);
  return result;
}

/// Returns the SHA-256 of `x` in lowercase hex.
std::string sha256_hex(const std::string& x) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(x.data(), x.size(), md, &n, EVP_sha256(), nullptr);
  static constexpr char digits[] = "0123456789abcdef";
  std::string result;
  result.reserve(2 * n);
  for (unsigned int i = 0; i < n; ++i) {
    result.push_back(digits[md[i] >> 4]);
    result.push_back(digits[md[i] & 0xf]);
  }
  return result;
}

bool parse_receipt(const std::string& x, receipt_parts& out) {
  auto pos = x.data();
  auto last = x.data() + x.size();
  return read_part(pos, last, out.generation, false)
         && read_part(pos, last, out.slot, false)
         && read_part(pos, last, out.lease_seq, true);
}

} // namespace

message_queue::id_source message_queue::make_id_source() {
  return std::make_shared<std::atomic<uint64_t>>(1);
}

message_queue::message_queue(queue_attributes attrs, id_source ids,
                             std::shared_ptr<memory_budget> budget)
  : attrs_(std::move(attrs)),
    ids_(ids ? std::move(ids) : make_id_source()),
    budget_(std::move(budget)),
    generation_(next_generation()) {
  // nop
}

caf::error message_queue::prepare(new_message& x) const {
  if (x.data.body.empty())
    return make_error(ec::message_required);
  if (x.data.size() > attrs_.max_message_bytes)
    return make_error(ec::message_too_large);
  if (x.data.attributes.size() > max_message_attributes)
    return make_error(ec::too_many_attributes);
  if (attrs_.fifo) {
    if (x.group.empty())
      return make_error(ec::group_required);
    if (x.delay >= caf::timespan{0} || x.priority != 0)
      return make_error(ec::fifo_forbids);
  }
  if (x.dedup_id.empty() && attrs_.content_dedup)
    x.dedup_id = sha256_hex(x.data.body);
  return caf::none;
}

uint64_t message_queue::cost_of(const new_message& x) {
  // The message (it keeps its dedup id), and the dedup id remembered.
  auto result = held_bytes(x) + memory_budget::per_message;
  if (!x.dedup_id.empty())
    result += x.dedup_id.size() + memory_budget::per_dedup_id;
  return result;
}

uint64_t message_queue::footprint(const message& x) {
  return held_bytes(x) + memory_budget::per_message;
}

caf::expected<uint64_t> message_queue::push(new_message x, time_point now) {
  advance(now);
  if (auto err = prepare(x))
    return err;
  if (!x.dedup_id.empty()) {
    auto i = dedup_.find(x.dedup_id);
    if (i != dedup_.end() && now < i->second.second + dedup_window)
      return i->second.first;
  }
  if (attrs_.max_depth > 0 && entries_.size() >= attrs_.max_depth)
    return make_error(ec::queue_full);
  if (!budget_.try_take(cost_of(x)))
    return make_error(ec::out_of_memory);
  return add(std::move(x), now);
}

uint64_t message_queue::add(new_message x, time_point now) {
  if (!x.dedup_id.empty()) {
    auto i = dedup_.find(x.dedup_id);
    if (i != dedup_.end() && now < i->second.second + dedup_window) {
      budget_.release(cost_of(x));
      return i->second.first;
    }
  }
  auto id = ids_->fetch_add(1, std::memory_order_relaxed);
  if (!x.dedup_id.empty()) {
    dedup_[x.dedup_id] = {id, now};
    if (journaling_)
      touched_dedup_.push_back(x.dedup_id);
    dedup_order_.emplace_back(now, x.dedup_id);
  }
  totals_.enqueued += 1;
  insert(message{id, std::move(x.data), x.priority, 0, now,
                 std::move(x.group), std::move(x.dedup_id), {},
                 std::move(x.sender), std::move(x.trace_header)},
         x.delay >= caf::timespan{0} ? x.delay : attrs_.delay, now, true);
  return id;
}

caf::expected<std::vector<uint64_t>>
message_queue::push_all(std::vector<new_message> xs, time_point now) {
  advance(now);
  for (auto& x : xs)
    if (auto err = prepare(x))
      return err;
  if (attrs_.max_depth > 0 && entries_.size() + xs.size() > attrs_.max_depth)
    return make_error(ec::queue_full);
  uint64_t total = 0;
  for (auto& x : xs)
    total += cost_of(x);
  // All or nothing: the whole batch's memory is taken in one step.
  if (!budget_.try_take(total))
    return make_error(ec::out_of_memory);
  std::vector<uint64_t> ids;
  ids.reserve(xs.size());
  for (auto& x : xs)
    ids.push_back(add(std::move(x), now));
  return ids;
}

void message_queue::adopt(message x, std::string source, time_point now,
                          std::string origin) {
  advance(now);
  totals_.enqueued += 1;
  budget_.take(footprint(x));
  auto slot = insert(std::move(x), caf::timespan{0}, now, true);
  if (!source.empty())
    sources_[slot] = std::move(source);
  if (!origin.empty())
    origins_[slot] = std::move(origin);
}

std::vector<message_queue::departure> message_queue::take_dead_letters() {
  return std::exchange(dead_letters_, {});
}

void message_queue::restore(stored_message x, time_point now) {
  auto slot = x.slot;
  next_slot_ = std::max(next_slot_, slot + 1);
  bytes_ += x.msg.data.body.size();
  budget_.take(footprint(x.msg));
  auto& e = entries_.emplace_hint(entries_.end(), slot, entry{})->second;
  e.msg = std::move(x.msg);
  e.written = true;
  if (!x.source.empty())
    sources_[slot] = std::move(x.source);
  if (x.due && *x.due > now)
    schedule(slot, e, *x.due - now, now);
  else
    make_ready(slot, e, true);
}

void message_queue::restore_dedup(std::string dedup_id, uint64_t id,
                                  time_point seen_at) {
  budget_.take(dedup_id.size() + memory_budget::per_dedup_id);
  dedup_[dedup_id] = {id, seen_at};
  dedup_order_.emplace_back(seen_at, std::move(dedup_id));
}

void message_queue::touch(uint64_t slot) {
  if (journaling_)
    touched_.push_back(slot);
}

message_queue::stored_message
message_queue::snapshot(uint64_t slot, const entry& e) const {
  stored_message x;
  x.slot = slot;
  x.msg = e.msg;
  if (e.st == state::delayed)
    x.due = e.due;
  if (auto i = sources_.find(slot); i != sources_.end())
    x.source = i->second;
  return x;
}

message_queue::journal message_queue::take_journal() {
  journal result;
  result.foreign_erases = std::exchange(foreign_erases_, {});
  result.puts = std::exchange(departed_puts_, {});
  auto slots = std::exchange(touched_, {});
  std::sort(slots.begin(), slots.end());
  slots.erase(std::unique(slots.begin(), slots.end()), slots.end());
  auto departed = std::exchange(departed_, {});
  std::sort(departed.begin(), departed.end());
  for (auto slot : slots) {
    auto e = find(slot);
    if (!e) {
      // One that left for another queue is erased by that queue's write.
      if (!std::binary_search(departed.begin(), departed.end(), slot))
        result.erases.push_back(slot);
      continue;
    }
    if (auto i = origins_.find(slot); i != origins_.end()) {
      result.foreign_erases.push_back(std::move(i->second));
      origins_.erase(i);
    }
    e->written = true;
    result.puts.push_back(snapshot(slot, *e));
  }
  auto ids = std::exchange(touched_dedup_, {});
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  for (auto& id : ids) {
    if (auto i = dedup_.find(id); i != dedup_.end())
      result.dedup_puts.emplace_back(id, i->second.first, i->second.second);
    else
      result.dedup_erases.push_back(std::move(id));
  }
  return result;
}

uint64_t message_queue::insert(message msg, caf::timespan delay,
                               time_point now, bool fresh) {
  auto slot = next_slot_++;
  bytes_ += msg.data.body.size();
  auto& e = entries_.emplace_hint(entries_.end(), slot, entry{})->second;
  e.msg = std::move(msg);
  touch(slot);
  if (delay > caf::timespan{0})
    schedule(slot, e, delay, now);
  else
    make_ready(slot, e, fresh);
  return slot;
}

message_queue::entry* message_queue::find(uint64_t slot) {
  auto i = entries_.find(slot);
  return i == entries_.end() ? nullptr : &i->second;
}

const message_queue::entry* message_queue::find(uint64_t slot) const {
  return const_cast<message_queue*>(this)->find(slot);
}

void message_queue::schedule(uint64_t slot, entry& e, caf::timespan delay,
                             time_point now) {
  if (delay > caf::timespan{0}) {
    e.st = state::delayed;
    e.due = now + delay;
    delayed_count_ += 1;
    touch(slot);
    delayed_.push(timed_key{e.due, slot, e.lease_seq});
  } else {
    make_ready(slot, e);
  }
}

void message_queue::make_ready(uint64_t slot, entry& e, bool fresh) {
  if (!grouped(e)) {
    index(slot, e, fresh);
    return;
  }
  e.st = state::held;
  held_count_ += 1;
  auto [g, created] = groups_.try_emplace(e.msg.group);
  if (created)
    budget_.take(memory_budget::per_group + e.msg.group.size());
  g->second.ready.emplace(order_key{e.msg.enqueued_at, e.msg.id}, slot);
  regroup(g);
}

void message_queue::regroup(group_map::iterator g) {
  auto& x = g->second;
  std::optional<uint64_t> head;
  if (x.leased == 0 && !x.ready.empty())
    head = x.ready.begin()->second;
  if (x.indexed != head) {
    if (x.indexed)
      unindex(*find(*x.indexed));
    if (head) {
      auto& e = *find(*head);
      held_count_ -= 1;
      // A message pushed into an empty group may take the fast path.
      index(*head, e, true);
    }
    x.indexed = head;
  }
  std::optional<order_key> held_head;
  if (!head && !x.ready.empty())
    held_head = x.ready.begin()->first;
  if (x.held_head != held_head) {
    if (x.held_head)
      held_heads_.erase(*x.held_head);
    if (held_head)
      held_heads_.insert(*held_head);
    x.held_head = held_head;
  }
  if (x.leased == 0 && x.ready.empty()) {
    budget_.release(memory_budget::per_group + g->first.size());
    groups_.erase(g);
  }
}

void message_queue::unindex(entry& e) {
  e.st = state::held;
  ready_count_ -= 1;
  held_count_ += 1;
  // Its slot in a bucket's deque is skipped from now on (see skip_stale).
  if (auto b = ready_.find(e.msg.priority); b != ready_.end()) {
    b->second.returned.erase(order_key{e.msg.enqueued_at, e.msg.id});
    drop_if_empty(b);
  }
}

void message_queue::unlease(const entry& e) {
  if (grouped(e))
    groups_[e.msg.group].leased -= 1;
}

void message_queue::index(uint64_t slot, entry& e, bool fresh) {
  e.st = state::ready;
  ready_count_ += 1;
  // Held while in its bucket's deque: its place there is still right.
  if (e.in_fresh)
    return;
  auto [bucket, created] = ready_.try_emplace(e.msg.priority);
  if (created)
    budget_.take(memory_budget::per_priority);
  auto& b = bucket->second;
  order_key key{e.msg.enqueued_at, e.msg.id};
  if (fresh && (b.fresh.empty() || b.fresh_back < key)) {
    b.fresh.push_back(slot);
    b.fresh_back = key;
    e.in_fresh = true;
  } else {
    b.returned.emplace(key, slot);
  }
}

void message_queue::drop_if_empty(
  std::map<int32_t, ready_bucket, std::greater<int32_t>>::iterator b) {
  skip_stale(b->second);
  if (b->second.fresh.empty() && b->second.returned.empty()) {
    ready_.erase(b);
    budget_.release(memory_budget::per_priority);
  }
}

void message_queue::skip_stale(ready_bucket& b) {
  while (!b.fresh.empty()) {
    auto e = find(b.fresh.front());
    if (e && e->st == state::ready)
      return;
    if (e)
      e->in_fresh = false;
    b.fresh.pop_front();
  }
}

std::optional<message_queue::ready_ref>
message_queue::first_of(const ready_bucket& b) const {
  std::optional<ready_ref> result;
  if (!b.returned.empty())
    result = *b.returned.begin();
  if (!b.fresh.empty()) {
    auto slot = b.fresh.front();
    auto& m = find(slot)->msg;
    ready_ref x{{m.enqueued_at, m.id}, slot};
    if (!result || x < *result)
      result = x;
  }
  return result;
}

std::vector<lease> message_queue::receive(size_t max,
                                          caf::timespan visibility,
                                          time_point now) {
  advance(now);
  std::vector<lease> result;
  size_t bytes = 0;
  auto fits = [&](const entry& e) {
    bytes += e.msg.data.size();
    return result.empty() || bytes <= max_batch_bytes;
  };
  while (result.size() < max && !ready_.empty()) {
    auto bucket = ready_.begin();
    auto& b = bucket->second;
    auto first = first_of(b);
    if (!first) {
      drop_if_empty(bucket);
      continue;
    }
    auto slot = first->second;
    auto& e = *find(slot);
    if (!fits(e))
      break;
    if (!b.fresh.empty() && b.fresh.front() == slot) {
      b.fresh.pop_front();
      e.in_fresh = false;
    } else {
      b.returned.erase(b.returned.begin());
    }
    drop_if_empty(bucket);
    ready_count_ -= 1;
    result.push_back(take(slot, e, visibility, now));
    if (!grouped(e))
      continue;
    // More of its group, in order, before the next group.
    auto g = groups_.find(e.msg.group);
    auto& x = g->second;
    x.ready.erase(x.ready.begin());
    x.indexed.reset();
    x.leased += 1;
    while (result.size() < max && !x.ready.empty()) {
      auto next = x.ready.begin()->second;
      auto& n = *find(next);
      if (!fits(n))
        break;
      x.ready.erase(x.ready.begin());
      held_count_ -= 1;
      x.leased += 1;
      result.push_back(take(next, n, visibility, now));
    }
    regroup(g);
    if (!result.empty() && bytes > max_batch_bytes)
      break;
  }
  return result;
}

lease message_queue::take(uint64_t slot, entry& e, caf::timespan visibility,
                          time_point now) {
  e.st = state::leased;
  e.lease_seq += 1;
  e.due = now + visibility;
  e.key_due = e.due;
  e.msg.receive_count += 1;
  if (e.msg.first_received_at == time_point{})
    e.msg.first_received_at = now;
  touch(slot);
  leases_.push(timed_key{e.due, slot, e.lease_seq});
  lease result{e.msg, make_receipt({generation_, slot, e.lease_seq}), e.due};
  if (auto i = sources_.find(slot); i != sources_.end())
    result.source = i->second;
  return result;
}

caf::expected<std::pair<uint64_t, message_queue::entry*>>
message_queue::find_lease(const std::string& receipt, time_point now) {
  advance(now);
  receipt_parts x;
  if (!parse_receipt(receipt, x))
    return make_error(ec::invalid_receipt);
  if (x.generation != generation_)
    return make_error(ec::stale_receipt);
  auto e = find(x.slot);
  if (!e || e->st != state::leased || e->lease_seq != x.lease_seq)
    return make_error(ec::stale_receipt);
  return std::make_pair(x.slot, e);
}

caf::error message_queue::ack(const std::string& receipt, time_point now) {
  auto found = find_lease(receipt, now);
  if (!found)
    return std::move(found.error());
  totals_.acked += 1;
  erase(found->first);
  return caf::none;
}

caf::error message_queue::release(const std::string& receipt,
                                  caf::timespan delay, time_point now) {
  auto found = find_lease(receipt, now);
  if (!found)
    return std::move(found.error());
  end_lease(found->first, *found->second, delay, now);
  return caf::none;
}

caf::error message_queue::give_back(const std::string& receipt,
                                    time_point now) {
  auto found = find_lease(receipt, now);
  if (!found)
    return std::move(found.error());
  auto [slot, e] = *found;
  e->msg.receive_count -= 1;
  touch(slot);
  unlease(*e);
  make_ready(slot, *e);
  return caf::none;
}

caf::error message_queue::extend(const std::string& receipt,
                                 caf::timespan visibility, time_point now) {
  auto found = find_lease(receipt, now);
  if (!found)
    return std::move(found.error());
  auto& e = *found->second;
  e.due = now + visibility;
  // A later end keeps the key it has (pushed again when due); only an
  // earlier one needs a key of its own.
  if (e.due < e.key_due) {
    e.key_due = e.due;
    leases_.push(timed_key{e.due, found->first, e.lease_seq});
  }
  return caf::none;
}

std::vector<message> message_queue::peek(size_t max, time_point now) {
  advance(now);
  std::vector<message> result;
  size_t bytes = 0;
  // Adds `m` unless the result is full; returns whether it did.
  auto add = [&](const message& m) {
    if (result.size() == max)
      return false;
    bytes += m.data.size();
    if (!result.empty() && bytes > max_batch_bytes)
      return false;
    result.push_back(m);
    return true;
  };
  // Adds a ready message and, as receive() takes them, the rest of its
  // group.
  auto add_with_group = [&](const entry& e) {
    if (!add(e.msg))
      return false;
    if (!grouped(e))
      return true;
    auto& x = groups_.find(e.msg.group)->second;
    for (auto i = std::next(x.ready.begin()); i != x.ready.end(); ++i)
      if (!add(find(i->second)->msg))
        return false;
    return true;
  };
  for (auto& [priority, b] : ready_) {
    auto f = b.fresh.begin();
    auto r = b.returned.begin();
    while (f != b.fresh.end() || r != b.returned.end()) {
      const entry* e = nullptr;
      if (f != b.fresh.end()) {
        e = find(*f);
        if (!e || e->st != state::ready) {
          ++f;
          continue;
        }
      }
      auto from_fresh
        = e
          && (r == b.returned.end()
              || order_key{e->msg.enqueued_at, e->msg.id} < r->first);
      if (!add_with_group(from_fresh ? *e : *find(r->second)))
        return result;
      if (from_fresh)
        ++f;
      else
        ++r;
    }
  }
  return result;
}

uint64_t message_queue::purge() {
  auto n = entries_.size();
  // One erase per message, not a range delete: a message that left for
  // another queue is still stored here until that queue writes it.
  if (journaling_)
    for (auto& [slot, e] : entries_)
      touched_.push_back(slot);
  uint64_t held = ready_.size() * memory_budget::per_priority;
  for (auto& [slot, e] : entries_)
    held += footprint(e.msg);
  for (auto& [name, g] : groups_)
    held += memory_budget::per_group + name.size();
  budget_.release(held);
  entries_.clear();
  ready_.clear();
  ready_count_ = 0;
  held_count_ = 0;
  groups_.clear();
  held_heads_.clear();
  delayed_ = {};
  leases_ = {};
  sources_.clear();
  for (auto& [slot, origin] : origins_)
    foreign_erases_.push_back(std::move(origin));
  origins_.clear();
  delayed_count_ = 0;
  bytes_ = 0;
  return n;
}

void message_queue::end_lease(uint64_t slot, entry& e, caf::timespan delay,
                              time_point now) {
  totals_.redelivered += 1;
  if (attrs_.max_deliveries > 0
      && e.msg.receive_count >= attrs_.max_deliveries) {
    totals_.dead_lettered += 1;
    if (attrs_.dead_letter_queue.empty())
      erase(slot);
    else
      dead_letters_.push_back(depart(slot, {}));
    return;
  }
  unlease(e);
  schedule(slot, e, delay, now);
  if (grouped(e))
    regroup(groups_.find(e.msg.group));
}

namespace {

/// Keeps the keys of `heap` that `live` holds. Costs O(h log h) in the
/// heap's size, never a walk of the queue's messages.
template <class Heap, class Live>
void keep_live(Heap& heap, Live live) {
  std::vector<typename Heap::value_type> kept;
  for (; !heap.empty(); heap.pop())
    if (live(heap.top()))
      kept.push_back(heap.top());
  heap = Heap{typename Heap::value_compare{}, std::move(kept)};
}

} // namespace

void message_queue::compact() {
  // Keys of acked, released or extended leases (and of delays that ended
  // otherwise) wait in the heaps until they are due, up to hours: dropped
  // once they outnumber the live ones, so they cost O(log n) each,
  // amortized.
  auto leased = entries_.size() - ready_count_ - held_count_ - delayed_count_;
  if (leases_.size() > 2 * leased + 64)
    keep_live(leases_, [this](const timed_key& k) {
      auto e = find(k.slot);
      return e && e->st == state::leased && e->lease_seq == k.lease_seq
             && e->key_due == k.due;
    });
  if (delayed_.size() > 2 * delayed_count_ + 64)
    keep_live(delayed_, [this](const timed_key& k) {
      auto e = find(k.slot);
      return e && e->st == state::delayed && e->due == k.due;
    });
}

void message_queue::advance(time_point now) {
  compact();
  while (!delayed_.empty() && delayed_.top().due <= now) {
    auto key = delayed_.top();
    delayed_.pop();
    auto e = find(key.slot);
    if (!e || e->st != state::delayed || e->due != key.due)
      continue;
    delayed_count_ -= 1;
    make_ready(key.slot, *e);
  }
  while (!leases_.empty() && leases_.top().due <= now) {
    auto key = leases_.top();
    leases_.pop();
    auto e = find(key.slot);
    if (!e || e->st != state::leased || e->lease_seq != key.lease_seq
        || e->key_due != key.due)
      continue;
    if (e->due > now) {
      // Extended since: one key again, for the new end.
      e->key_due = e->due;
      leases_.push(timed_key{e->due, key.slot, e->lease_seq});
      continue;
    }
    end_lease(key.slot, *e, caf::timespan{0}, now);
  }
  if (attrs_.retention > caf::timespan{0}) {
    // Slots are in arrival order: the first is the oldest.
    while (!entries_.empty()
           && entries_.begin()->second.msg.enqueued_at + attrs_.retention
                <= now) {
      totals_.expired += 1;
      erase(entries_.begin()->first);
    }
  }
  while (!dedup_order_.empty()
         && dedup_order_.front().first + dedup_window <= now) {
    auto i = dedup_.find(dedup_order_.front().second);
    if (i != dedup_.end()
        && i->second.second == dedup_order_.front().first) {
      if (journaling_)
        touched_dedup_.push_back(i->first);
      budget_.release(i->first.size() + memory_budget::per_dedup_id);
      dedup_.erase(i);
    }
    dedup_order_.pop_front();
  }
}

std::optional<time_point> message_queue::next_deadline() const {
  std::optional<time_point> result;
  auto consider = [&](time_point t) {
    if (!result || t < *result)
      result = t;
  };
  if (!delayed_.empty())
    consider(delayed_.top().due);
  if (!leases_.empty())
    consider(leases_.top().due);
  if (attrs_.retention > caf::timespan{0} && !entries_.empty())
    consider(entries_.begin()->second.msg.enqueued_at + attrs_.retention);
  if (!dedup_order_.empty())
    consider(dedup_order_.front().first + dedup_window);
  return result;
}

std::vector<message_queue::departure> message_queue::take_adopted() {
  // In the order receive() would take them: priority, then order_key.
  std::vector<std::tuple<int32_t, order_key, uint64_t>> order;
  for (auto& [slot, source] : sources_) {
    auto e = find(slot);
    if (e->st != state::leased)
      order.emplace_back(-e->msg.priority,
                         order_key{e->msg.enqueued_at, e->msg.id}, slot);
  }
  std::sort(order.begin(), order.end());
  std::vector<departure> result;
  result.reserve(order.size());
  for (auto& [priority, key, slot] : order) {
    auto i = sources_.find(slot);
    auto source = std::move(i->second);
    result.push_back(depart(slot, std::move(source)));
  }
  return result;
}

message_queue::departure message_queue::depart(uint64_t slot,
                                               std::string source) {
  departure result;
  result.slot = slot;
  result.source = std::move(source);
  if (auto i = origins_.find(slot); i != origins_.end()) {
    result.origin = std::move(i->second);
    origins_.erase(i);
  } else if (auto e = find(slot); journaling_ && e && !e->written) {
    // Stored nowhere yet: this queue writes it first (see journal).
    departed_puts_.push_back(snapshot(slot, *e));
  }
  result.msg = erase(slot, false);
  if (journaling_)
    departed_.push_back(slot);
  return result;
}

message message_queue::erase(uint64_t slot, bool stored) {
  auto i = entries_.find(slot);
  if (i == entries_.end())
    return {};
  auto e = &i->second;
  auto was = e->st;
  auto priority = e->msg.priority;
  order_key key{e->msg.enqueued_at, e->msg.id};
  if (was == state::ready) {
    ready_count_ -= 1;
    if (auto b = ready_.find(priority); b != ready_.end())
      b->second.returned.erase(key);
  } else if (was == state::held) {
    held_count_ -= 1;
  } else if (was == state::delayed) {
    delayed_count_ -= 1;
  }
  // A delayed message of a group that has nothing else has no group.
  auto group = grouped(*e) ? groups_.find(e->msg.group) : groups_.end();
  if (group != groups_.end()) {
    auto& x = group->second;
    if (was == state::leased)
      x.leased -= 1;
    else
      x.ready.erase(key);
    if (x.indexed == slot)
      x.indexed.reset();
  }
  bytes_ -= e->msg.data.body.size();
  budget_.release(footprint(e->msg));
  sources_.erase(slot);
  auto result = std::move(e->msg);
  entries_.erase(i);
  if (was == state::ready) {
    // Keeps the front of the bucket's deque ready (see first_of).
    if (auto b = ready_.find(priority); b != ready_.end())
      drop_if_empty(b);
  }
  if (group != groups_.end())
    regroup(group);
  if (stored) {
    if (auto o = origins_.find(slot); o != origins_.end()) {
      foreign_erases_.push_back(std::move(o->second));
      origins_.erase(o);
    }
    touch(slot);
  }
  return result;
}

queue_stats message_queue::stats(time_point now) const {
  auto result = totals_;
  result.ready = ready_count_ + held_count_;
  result.delayed = delayed_count_;
  result.in_flight = entries_.size() - result.ready - delayed_count_;
  result.bytes = bytes_;
  // The first of each priority is its oldest, as the first of each group
  // whose messages are all held.
  std::optional<time_point> oldest;
  if (!held_heads_.empty())
    oldest = held_heads_.begin()->first;
  for (auto& [priority, b] : ready_)
    if (auto first = first_of(b);
        first && (!oldest || first->first.first < *oldest))
      oldest = first->first.first;
  if (oldest)
    result.oldest_ready_age = now - *oldest;
  return result;
}

} // namespace actormq
