#include "actormq/message_queue.hpp"

#include <charconv>
#include <utility>

#include "actormq/errors.hpp"

namespace actormq {

namespace {

std::string make_receipt(uint64_t id, uint32_t lease_seq) {
  return std::to_string(id) + "." + std::to_string(lease_seq);
}

bool parse_receipt(const std::string& x, uint64_t& id, uint32_t& lease_seq) {
  auto dot = x.find('.');
  if (dot == std::string::npos)
    return false;
  auto first = x.data();
  auto mid = x.data() + dot;
  auto last = x.data() + x.size();
  auto r1 = std::from_chars(first, mid, id);
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
    dedup_order_.emplace_back(now, std::move(x.dedup_id));
  }
  totals_.enqueued += 1;
  insert(message{id, std::move(x.data), x.priority, 0, now},
         x.delay ? *x.delay : attrs_.delay, now);
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
  sources_[x.id] = std::move(source);
  totals_.enqueued += 1;
  insert(std::move(x), caf::timespan{0}, now);
}

void message_queue::insert(message msg, caf::timespan delay,
                           time_point now) {
  auto id = msg.id;
  bytes_ += msg.data.body.size();
  budget_.take(msg.data.body.size() + memory_budget::per_message);
  arrivals_.push_back(id);
  auto& e = entries_[id];
  e.msg = std::move(msg);
  if (delay > caf::timespan{0})
    schedule(id, e, delay, now);
  else
    make_ready(id, e, !sources_.count(id));
}

void message_queue::schedule(uint64_t id, entry& e, caf::timespan delay,
                             time_point now) {
  if (delay > caf::timespan{0}) {
    e.st = state::delayed;
    e.due = now + delay;
    delayed_count_ += 1;
    delayed_.push(timed_key{e.due, id, e.lease_seq});
  } else {
    make_ready(id, e);
  }
}

void message_queue::make_ready(uint64_t id, entry& e, bool fresh) {
  e.st = state::ready;
  ready_count_ += 1;
  auto& b = ready_[e.msg.priority];
  if (fresh && (b.fresh.empty() || b.fresh.back() < id))
    b.fresh.push_back(id);
  else
    b.returned.insert(id);
}

void message_queue::skip_stale(ready_bucket& b) {
  while (!b.fresh.empty()) {
    auto i = entries_.find(b.fresh.front());
    if (i != entries_.end() && i->second.st == state::ready)
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
    uint64_t id;
    if (!b.fresh.empty()
        && (b.returned.empty() || b.fresh.front() < *b.returned.begin())) {
      id = b.fresh.front();
      b.fresh.pop_front();
    } else {
      id = *b.returned.begin();
      b.returned.erase(b.returned.begin());
    }
    ready_count_ -= 1;
    auto& e = entries_[id];
    e.st = state::leased;
    e.lease_seq += 1;
    e.due = now + visibility;
    e.msg.receive_count += 1;
    leases_.push(timed_key{e.due, id, e.lease_seq});
    result.push_back(lease{e.msg, make_receipt(id, e.lease_seq), e.due});
  }
  return result;
}

caf::expected<std::pair<uint64_t, message_queue::entry*>>
message_queue::find_lease(const std::string& receipt, time_point now) {
  advance(now);
  uint64_t id;
  uint32_t seq;
  if (!parse_receipt(receipt, id, seq))
    return make_error(ec::invalid_receipt);
  auto i = entries_.find(id);
  if (i == entries_.end() || i->second.st != state::leased
      || i->second.lease_seq != seq)
    return make_error(ec::stale_receipt);
  return std::make_pair(id, &i->second);
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
        auto i = entries_.find(*f);
        if (i == entries_.end() || i->second.st != state::ready) {
          ++f;
          continue;
        }
      }
      if (f != b.fresh.end() && (r == b.returned.end() || *f < *r))
        result.push_back(entries_[*f++].msg);
      else
        result.push_back(entries_[*r++].msg);
    }
  }
  return result;
}

uint64_t message_queue::purge() {
  auto n = entries_.size();
  entries_.clear();
  ready_.clear();
  ready_count_ = 0;
  delayed_ = {};
  leases_ = {};
  arrivals_.clear();
  sources_.clear();
  delayed_count_ = 0;
  budget_.release(bytes_ + n * memory_budget::per_message);
  bytes_ = 0;
  return n;
}

void message_queue::end_lease(uint64_t id, entry& e, caf::timespan delay,
                              time_point now) {
  totals_.redelivered += 1;
  if (attrs_.max_deliveries > 0
      && e.msg.receive_count >= attrs_.max_deliveries) {
    totals_.dead_lettered += 1;
    if (!attrs_.dead_letter_queue.empty())
      dead_letters_.push_back(std::move(e.msg));
    erase(id);
    return;
  }
  schedule(id, e, delay, now);
}

void message_queue::advance(time_point now) {
  while (!delayed_.empty() && delayed_.top().due <= now) {
    auto key = delayed_.top();
    delayed_.pop();
    auto i = entries_.find(key.id);
    if (i == entries_.end() || i->second.st != state::delayed
        || i->second.due != key.due)
      continue;
    delayed_count_ -= 1;
    make_ready(key.id, i->second);
  }
  while (!leases_.empty() && leases_.top().due <= now) {
    auto key = leases_.top();
    leases_.pop();
    auto i = entries_.find(key.id);
    if (i == entries_.end() || i->second.st != state::leased
        || i->second.lease_seq != key.lease_seq || i->second.due != key.due)
      continue;
    end_lease(key.id, i->second, caf::timespan{0}, now);
  }
  while (!arrivals_.empty()) {
    auto i = entries_.find(arrivals_.front());
    if (i == entries_.end()) {
      arrivals_.pop_front();
      continue;
    }
    if (attrs_.retention == caf::timespan{0}
        || i->second.msg.enqueued_at + attrs_.retention > now)
      break;
    totals_.expired += 1;
    erase(i->first);
  }
  while (!dedup_order_.empty()
         && dedup_order_.front().first + dedup_window <= now) {
    auto i = dedup_.find(dedup_order_.front().second);
    if (i != dedup_.end() && i->second.second == dedup_order_.front().first)
      dedup_.erase(i);
    dedup_order_.pop_front();
  }
}

std::vector<message> message_queue::take_dead_letters() {
  return std::exchange(dead_letters_, {});
}

caf::optional<time_point> message_queue::next_deadline() const {
  caf::optional<time_point> result;
  auto consider = [&](time_point t) {
    if (!result || t < *result)
      result = t;
  };
  if (!delayed_.empty())
    consider(delayed_.top().due);
  if (!leases_.empty())
    consider(leases_.top().due);
  if (attrs_.retention > caf::timespan{0} && !arrivals_.empty()) {
    auto i = entries_.find(arrivals_.front());
    if (i != entries_.end())
      consider(i->second.msg.enqueued_at + attrs_.retention);
  }
  if (!dedup_order_.empty())
    consider(dedup_order_.front().first + dedup_window);
  return result;
}

std::vector<std::pair<std::string, message>> message_queue::take_adopted() {
  std::vector<std::pair<std::string, message>> result;
  auto sources = std::exchange(sources_, {});
  for (auto& [id, source] : sources) {
    auto i = entries_.find(id);
    if (i == entries_.end())
      continue;
    result.emplace_back(std::move(source), std::move(i->second.msg));
    erase(id);
  }
  return result;
}

void message_queue::erase(uint64_t id) {
  auto i = entries_.find(id);
  if (i == entries_.end())
    return;
  auto& e = i->second;
  if (e.st == state::ready) {
    // A fresh id stays in its deque until skip_stale() meets it.
    ready_count_ -= 1;
    if (auto b = ready_.find(e.msg.priority); b != ready_.end())
      b->second.returned.erase(id);
  } else if (e.st == state::delayed) {
    delayed_count_ -= 1;
  }
  bytes_ -= e.msg.data.body.size();
  budget_.release(e.msg.data.body.size() + memory_budget::per_message);
  sources_.erase(id);
  entries_.erase(i);
}

queue_stats message_queue::stats(time_point now) const {
  auto result = totals_;
  result.ready = ready_count_;
  result.delayed = delayed_count_;
  result.in_flight = entries_.size() - ready_count_ - delayed_count_;
  result.bytes = bytes_;
  // Arrival order is enqueue order: the first ready one is the oldest.
  for (auto id : arrivals_) {
    auto i = entries_.find(id);
    if (i != entries_.end() && i->second.st == state::ready) {
      result.oldest_ready_age = now - i->second.msg.enqueued_at;
      break;
    }
  }
  return result;
}

} // namespace actormq
