#include "actormq/recovery.hpp"

#include <algorithm>
#include <map>
#include <utility>
#include <variant>

namespace actormq {

namespace {

std::string hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string result;
  for (unsigned char c : bytes.substr(0, 40)) {
    result += digits[c >> 4];
    result += digits[c & 0xf];
  }
  return result;
}

} // namespace

clock_map clock_map::at(time_point now) {
  auto wall = std::chrono::system_clock::now().time_since_epoch();
  return {now,
          std::chrono::duration_cast<std::chrono::nanoseconds>(wall).count()};
}

std::string recover(store& db, recovered_state& out) {
  using namespace records;
  std::map<uint64_t, std::shared_ptr<recovered_queue>> by_incarnation;
  std::shared_ptr<recovered_queue> last;
  auto of = [&](uint64_t incarnation) -> recovered_queue& {
    if (!last || last->queue.incarnation != incarnation) {
      auto& q = by_incarnation[incarnation];
      if (!q) {
        q = std::make_shared<recovered_queue>();
        q->queue.incarnation = incarnation;
      }
      last = q;
    }
    return *last;
  };
  std::string format_seen;
  bool empty = true;
  std::string error;
  std::vector<queue_record> queues;
  auto scanned = db.scan([&](std::string_view key, std::string_view value) {
    empty = false;
    if (!error.empty())
      return;
    auto x = decode(key, value);
    if (!x.value) {
      error = "record " + hex(key) + " is malformed: " + x.error;
      return;
    }
    auto see_id = [&](uint64_t id) {
      out.next_id = std::max(out.next_id, id + 1);
    };
    std::visit(
      [&](auto& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, format_marker>) {
          format_seen = r.value;
        } else if constexpr (std::is_same_v<T, id_mark>) {
          out.next_id = std::max(out.next_id, r.next_id);
        } else if constexpr (std::is_same_v<T, queue_record>) {
          see_id(r.incarnation);
          queues.push_back(std::move(r));
        } else if constexpr (std::is_same_v<T, message_record>) {
          see_id(r.id);
          see_id(r.incarnation);
          of(r.incarnation).messages.push_back(std::move(r));
          out.messages += 1;
        } else {
          of(r.incarnation).dedup.push_back(std::move(r));
        }
      },
      *x.value);
  });
  if (!scanned.empty())
    return "reading the store failed: " + scanned;
  if (empty) {
    auto marker = store_op{store_op::kind::put, format_key(),
                           std::string{format}};
    if (auto err = db.write({marker}, true); !err.empty())
      return "writing the format marker failed: " + err;
    return {};
  }
  if (format_seen.empty())
    return "it is not an ActorMQ store (no format marker)";
  if (format_seen != format)
    return "its format is \"" + format_seen + "\"; this version reads \""
           + std::string{format} + "\"";
  if (!error.empty())
    return error;
  for (auto& q : queues) {
    auto& x = of(q.incarnation);
    x.queue = std::move(q);
    out.queues.push_back(by_incarnation[x.queue.incarnation]);
    by_incarnation.erase(x.queue.incarnation);
    last.reset();
  }
  // Messages of an incarnation no queue record names are never deleted:
  // a delete erases them with the record, atomically, so these come from
  // elsewhere (an older version). They become a queue of their own.
  for (auto& [incarnation, x] : by_incarnation) {
    x->queue.name = "orphaned." + std::to_string(incarnation);
    x->queue.incarnation = incarnation;
    out.cleanup.push_back(store_op{store_op::kind::put,
                                   queue_key(x->queue.name),
                                   encode(x->queue)});
    out.orphaned.push_back(x->queue.name);
    out.queues.push_back(x);
  }
  return {};
}

std::string read_queue(const store_batch& records, recovered_queue& out) {
  for (auto& op : records) {
    auto x = records::decode(op.key, op.value);
    if (!x.value)
      return "record " + hex(op.key) + " is malformed: " + x.error;
    if (auto m = std::get_if<records::message_record>(&*x.value))
      out.messages.push_back(std::move(*m));
    else if (auto d = std::get_if<records::dedup_record>(&*x.value))
      out.dedup.push_back(std::move(*d));
  }
  return {};
}

store_batch to_batch(message_queue::journal x, uint64_t incarnation,
                     const clock_map& clock) {
  using namespace records;
  store_batch result;
  result.reserve(x.puts.size() + x.erases.size() + x.dedup_puts.size()
                 + x.dedup_erases.size() + x.foreign_erases.size() + 1);
  for (auto& m : x.puts) {
    message_record r;
    r.incarnation = incarnation;
    r.slot = m.slot;
    r.id = m.msg.id;
    r.priority = m.msg.priority;
    r.receive_count = m.msg.receive_count;
    r.data = std::move(m.msg.data);
    r.enqueued_at = clock.to_wall(m.msg.enqueued_at);
    r.due = m.due ? clock.to_wall(*m.due) : 0;
    r.source = std::move(m.source);
    r.group = std::move(m.msg.group);
    r.dedup_id = std::move(m.msg.dedup_id);
    r.sender = std::move(m.msg.sender);
    r.trace_header = std::move(m.msg.trace_header);
    if (m.msg.first_received_at != time_point{})
      r.first_received_at = clock.to_wall(m.msg.first_received_at);
    result.push_back(store_op{store_op::kind::put,
                              message_key(incarnation, m.slot), encode(r)});
  }
  for (auto slot : x.erases)
    result.push_back(
      store_op{store_op::kind::erase, message_key(incarnation, slot), {}});
  for (auto& [dedup_id, id, seen_at] : x.dedup_puts) {
    dedup_record r{incarnation, dedup_id, id, clock.to_wall(seen_at)};
    result.push_back(store_op{store_op::kind::put,
                              dedup_key(incarnation, dedup_id), encode(r)});
  }
  for (auto& dedup_id : x.dedup_erases)
    result.push_back(store_op{store_op::kind::erase,
                              dedup_key(incarnation, dedup_id), {}});
  for (auto& key : x.foreign_erases)
    result.push_back(store_op{store_op::kind::erase, std::move(key), {}});
  return result;
}

void restore(message_queue& q, recovered_queue& x, const clock_map& clock,
             time_point now) {
  for (auto& r : x.messages) {
    message_queue::stored_message m;
    m.slot = r.slot;
    m.msg = message{r.id, std::move(r.data), r.priority, r.receive_count,
                    clock.from_wall(r.enqueued_at), std::move(r.group),
                    std::move(r.dedup_id), {}, std::move(r.sender),
                    std::move(r.trace_header)};
    if (r.first_received_at != 0)
      m.msg.first_received_at = clock.from_wall(r.first_received_at);
    if (r.due != 0)
      m.due = clock.from_wall(r.due);
    m.source = std::move(r.source);
    q.restore(std::move(m), now);
  }
  x.messages = {};
  std::sort(x.dedup.begin(), x.dedup.end(),
            [](const records::dedup_record& a,
               const records::dedup_record& b) {
              return a.seen_at < b.seen_at;
            });
  for (auto& d : x.dedup) {
    auto seen_at = clock.from_wall(d.seen_at);
    if (seen_at + message_queue::dedup_window > now)
      q.restore_dedup(std::move(d.dedup_id), d.id, seen_at);
  }
  x.dedup = {};
}

} // namespace actormq
