#include "actormq/message_queue.hpp"

#include <algorithm>
#include <charconv>
#include <utility>

#include "actormq/errors.hpp"

namespace actormq {

namespace {

/// A receipt names a slot of the queue and a lease of it: "<slot>.<lease>".
std::string make_receipt(uint64_t slot, uint32_t lease_seq) {
  return std::to_string(slot) + "." + std::to_string(lease_seq);
}

bool parse_receipt(const std::string& x, uint64_t& slot,
                   uint32_t& lease_seq) {
  auto dot = x.find('.');
  if (dot == std::string::npos)
    return false;
  auto first = x.data();
  auto mid = x.data() + dot;
  auto last = x.data() + x.size();
  auto r1 = std::from_chars(first, mid, slot);
  auto r2 = std::from_chars(mid + 1, last, lease_seq);
  return r1.ec == std::errc{} && r1.ptr == mid && r2.ec == std::errc{}
         && r2.ptr == last;
}

} // namespace

message_queue::id_source message_queue::make_id_source() {
  return std::make_shared<std::atomic<uint64_t>>(1);
}

message_queue::message_queue(queue_attributes attrs, id_source ids,
                             std::shared_ptr<memory_budget> budget)
  : attrs_(std::move(attrs)),
    ids_(ids ? std::move(ids) : make_id_source()),
    budget_(std::move(budget)) {
  // nop
}

caf::error message_queue::check(const payload& x) const {
  if (x.body.empty())
    return make_error(ec::message_required);
  if (x.body.size() > attrs_.max_message_bytes)
    return make_error(ec::message_too_large);
  return caf::none;
}

caf::expected<uint64_t> message_queue::push(new_message x, time_point now) {
  advance(now);
  if (auto err = check(x.data))
    return err;
  if (!x.dedup_id.empty()) {
    auto i = dedup_.find(x.dedup_id);
    if (i != dedup_.end() && now < i->second.second + dedup_window)
      return i->second.first;
  }
  if (attrs_.max_depth > 0 && entries_.size() >= attrs_.max_depth)
    return make_error(ec::queue_full);
  if (!budget_.fits(x.data.body.size() + memory_budget::per_message))
    return make_error(ec::out_of_memory);
  auto id = ids_->fetch_add(1, std::memory_order_relaxed);
  if (!x.dedup_id.empty()) {
    dedup_[x.dedup_id] = {id, now};
    if (journaling_)
      touched_dedup_.push_back(x.dedup_id);
    dedup_order_.emplace_back(now, std::move(x.dedup_id));
  }
  totals_.enqueued += 1;
  insert(message{id, std::move(x.data), x.priority, 0, now},
         x.delay >= caf::timespan{0} ? x.delay : attrs_.delay, now, true);
  return id;
}

caf::expected<std::vector<uint64_t>>
message_queue::push_all(std::vector<new_message> xs, time_point now) {
  for (auto& x : xs)
    if (auto err = check(x.data))
      return err;
  if (attrs_.max_depth > 0 && entries_.size() + xs.size() > attrs_.max_depth)
    return make_error(ec::queue_full);
  uint64_t total = 0;
  for (auto& x : xs)
    total += x.data.body.size() + memory_budget::per_message;
  if (!budget_.fits(total))
    return make_error(ec::out_of_memory);
  std::vector<uint64_t> ids;
  ids.reserve(xs.size());
  for (auto& x : xs)
    ids.push_back(*push(std::move(x), now));
  return ids;
}

void message_queue::adopt(message x, std::string source, time_point now) {
  advance(now);
  totals_.enqueued += 1;
  auto slot = insert(std::move(x), caf::timespan{0}, now, false);
  sources_[slot] = std::move(source);
}

std::vector<message_queue::departure> message_queue::take_dead_letters() {
  return std::exchange(dead_letters_, {});
}

void message_queue::restore(stored_message x, time_point now) {
  auto slot = x.slot;
  next_slot_ = std::max(next_slot_, slot + 1);
  bytes_ += x.msg.data.body.size();
  budget_.take(x.msg.data.body.size() + memory_budget::per_message);
  auto& e = entries_.emplace_hint(entries_.end(), slot, entry{})->second;
  e.msg = std::move(x.msg);
  if (!x.source.empty())
    sources_[slot] = std::move(x.source);
  if (x.due && *x.due > now)
    schedule(slot, e, *x.due - now, now);
  else
    make_ready(slot, e, true);
}

void message_queue::restore_dedup(std::string dedup_id, uint64_t id,
                                  time_point seen_at) {
  dedup_[dedup_id] = {id, seen_at};
  dedup_order_.emplace_back(seen_at, std::move(dedup_id));
}

void message_queue::touch(uint64_t slot) {
  if (journaling_)
    touched_.push_back(slot);
}

message_queue::journal message_queue::take_journal() {
  journal result;
  result.purged = std::exchange(purged_, false);
  auto slots = std::exchange(touched_, {});
  std::sort(slots.begin(), slots.end());
  slots.erase(std::unique(slots.begin(), slots.end()), slots.end());
  for (auto slot : slots) {
    auto e = find(slot);
    if (!e) {
      result.erases.push_back(slot);
      continue;
    }
    auto& x = result.puts.emplace_back();
    x.slot = slot;
    x.msg = e->msg;
    if (e->st == state::delayed)
      x.due = e->due;
    if (auto i = sources_.find(slot); i != sources_.end())
      x.source = i->second;
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
  budget_.take(msg.data.body.size() + memory_budget::per_message);
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
  e.st = state::ready;
  ready_count_ += 1;
  auto& b = ready_[e.msg.priority];
  if (fresh && (b.fresh.empty() || b.fresh.back() < slot))
    b.fresh.push_back(slot);
  else
    b.returned.insert(slot);
}

void message_queue::skip_stale(ready_bucket& b) {
  while (!b.fresh.empty()) {
    auto e = find(b.fresh.front());
    if (e && e->st == state::ready)
      return;
    b.fresh.pop_front();
  }
}

std::vector<lease> message_queue::receive(size_t max,
                                          caf::timespan visibility,
                                          time_point now) {
  advance(now);
  std::vector<lease> result;
  while (result.size() < max && !ready_.empty()) {
    auto bucket = ready_.begin();
    auto& b = bucket->second;
    skip_stale(b);
    if (b.fresh.empty() && b.returned.empty()) {
      ready_.erase(bucket);
      continue;
    }
    uint64_t slot;
    if (!b.fresh.empty()
        && (b.returned.empty() || b.fresh.front() < *b.returned.begin())) {
      slot = b.fresh.front();
      b.fresh.pop_front();
    } else {
      slot = *b.returned.begin();
      b.returned.erase(b.returned.begin());
    }
    ready_count_ -= 1;
    auto& e = *find(slot);
    e.st = state::leased;
    e.lease_seq += 1;
    e.due = now + visibility;
    e.msg.receive_count += 1;
    touch(slot);
    leases_.push(timed_key{e.due, slot, e.lease_seq});
    result.push_back(lease{e.msg, make_receipt(slot, e.lease_seq), e.due});
  }
  return result;
}

caf::expected<std::pair<uint64_t, message_queue::entry*>>
message_queue::find_lease(const std::string& receipt, time_point now) {
  advance(now);
  uint64_t slot = 0;
  uint32_t seq = 0;
  if (!parse_receipt(receipt, slot, seq))
    return make_error(ec::invalid_receipt);
  auto e = find(slot);
  if (!e || e->st != state::leased || e->lease_seq != seq)
    return make_error(ec::stale_receipt);
  return std::make_pair(slot, e);
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

caf::error message_queue::extend(const std::string& receipt,
                                 caf::timespan visibility, time_point now) {
  auto found = find_lease(receipt, now);
  if (!found)
    return std::move(found.error());
  auto& e = *found->second;
  e.due = now + visibility;
  leases_.push(timed_key{e.due, found->first, e.lease_seq});
  return caf::none;
}

std::vector<message> message_queue::peek(size_t max, time_point now) {
  advance(now);
  std::vector<message> result;
  for (auto& [priority, b] : ready_) {
    auto f = b.fresh.begin();
    auto r = b.returned.begin();
    while (result.size() < max
           && (f != b.fresh.end() || r != b.returned.end())) {
      if (f != b.fresh.end()) {
        auto e = find(*f);
        if (!e || e->st != state::ready) {
          ++f;
          continue;
        }
      }
      if (f != b.fresh.end() && (r == b.returned.end() || *f < *r))
        result.push_back(find(*f++)->msg);
      else
        result.push_back(find(*r++)->msg);
    }
  }
  return result;
}

uint64_t message_queue::purge() {
  auto n = entries_.size();
  budget_.release(bytes_ + n * memory_budget::per_message);
  entries_.clear();
  ready_.clear();
  ready_count_ = 0;
  delayed_ = {};
  leases_ = {};
  sources_.clear();
  delayed_count_ = 0;
  bytes_ = 0;
  touched_.clear();
  purged_ = journaling_;
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
      dead_letters_.push_back(departure{slot, erase(slot, false), {}});
    return;
  }
  schedule(slot, e, delay, now);
}

void message_queue::advance(time_point now) {
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
        || e->due != key.due)
      continue;
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
  std::vector<departure> result;
  auto sources = std::exchange(sources_, {});
  for (auto& [slot, source] : sources) {
    if (find(slot))
      result.push_back(departure{slot, erase(slot, false), std::move(source)});
  }
  return result;
}

message message_queue::erase(uint64_t slot, bool stored) {
  auto i = entries_.find(slot);
  if (i == entries_.end())
    return {};
  auto e = &i->second;
  if (e->st == state::ready) {
    // A fresh slot stays in its deque until skip_stale() meets it.
    ready_count_ -= 1;
    if (auto b = ready_.find(e->msg.priority); b != ready_.end())
      b->second.returned.erase(slot);
  } else if (e->st == state::delayed) {
    delayed_count_ -= 1;
  }
  bytes_ -= e->msg.data.body.size();
  budget_.release(e->msg.data.body.size() + memory_budget::per_message);
  sources_.erase(slot);
  auto result = std::move(e->msg);
  entries_.erase(i);
  if (stored)
    touch(slot);
  return result;
}

queue_stats message_queue::stats(time_point now) const {
  auto result = totals_;
  result.ready = ready_count_;
  result.delayed = delayed_count_;
  result.in_flight = entries_.size() - ready_count_ - delayed_count_;
  result.bytes = bytes_;
  // Slots are in arrival order: the first ready one is the oldest.
  for (auto& [slot, e] : entries_) {
    if (e.st == state::ready) {
      result.oldest_ready_age = now - e.msg.enqueued_at;
      break;
    }
  }
  return result;
}

} // namespace actormq
