// In-process benchmarks of the queue actors, through typed actor messages:
//
//   bench/inprocess cycle [MESSAGES]   full cycle (enqueue, receive, ack) with
//                                      8 producers and 8 consumers, single
//                                      messages and batches of 10, against a
//                                      baseline of plain request/response
//                                      round trips between two actors
//   bench/inprocess depth [DEPTH]      enqueue and receive+ack rates on an
//                                      empty queue and on one holding DEPTH
//                                      100-byte messages; RSS per message
//   bench/inprocess queues [COUNT]     COUNT queues at once: create, one
//                                      message each, list
//
// Every figure is printed with the baseline it is compared with, measured
// in the same run.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "actormq/queue_actor.hpp"
#include "actormq/records.hpp"
#include "actormq/store.hpp"
#include "actormq/registry_actor.hpp"

using namespace actormq;
using clock_type = std::chrono::steady_clock;

namespace {

const std::string body(100, 'x');

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

long rss_kib() {
  std::ifstream in{"/proc/self/status"};
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      long kib = 0;
      in >> kib;
      return kib;
    }
    in.ignore(4096, '\n');
  }
  return 0;
}

std::vector<new_message> batch_of(size_t n) {
  std::vector<new_message> xs(n);
  for (auto& x : xs)
    x.data.body = body;
  return xs;
}

/// Enqueues `count` messages in batches of `batch`, one request at a time.
void produce(caf::event_based_actor* self, queue_actor q, size_t count,
             size_t batch, std::shared_ptr<std::promise<void>> done) {
  if (count == 0) {
    done->set_value();
    return;
  }
  auto n = std::min(count, batch);
  auto next = [=] { produce(self, q, count - n, batch, done); };
  if (batch == 1) {
    new_message x;
    x.data.body = body;
    self->request(q, caf::infinite, atom::enqueue::value, std::move(x))
      .then([=](uint64_t) { next(); });
  } else {
    self->request(q, caf::infinite, atom::enqueue::value, batch_of(n))
      .then([=](std::vector<uint64_t>&) { next(); });
  }
}

/// Receives and acks until `left` (shared by all consumers) reaches 0.
void consume(caf::event_based_actor* self, queue_actor q, uint32_t batch,
             std::shared_ptr<std::atomic<int64_t>> left,
             std::shared_ptr<std::promise<void>> done) {
  if (left->load() <= 0)
    return;
  self
    ->request(q, caf::infinite, atom::receive::value, batch,
              caf::timespan{std::chrono::seconds{30}},
              caf::timespan{std::chrono::milliseconds{100}})
    .then([=](std::vector<lease>& xs) {
      if (xs.empty()) {
        consume(self, q, batch, left, done);
        return;
      }
      std::vector<std::string> receipts;
      for (auto& x : xs)
        receipts.push_back(std::move(x.receipt));
      auto n = static_cast<int64_t>(receipts.size());
      self->request(q, caf::infinite, atom::ack::value, std::move(receipts))
        .then([=](std::vector<caf::error>&) {
          if (left->fetch_sub(n) - n <= 0)
            done->set_value();
          else
            consume(self, q, batch, left, done);
        });
    });
}

queue_actor new_queue(caf::actor_system& sys) {
  queue_config cfg;
  return sys.spawn(queue, cfg);
}

/// Full cycles with `producers` and `consumers` actors; returns messages/s.
double cycle(caf::actor_system& sys, size_t messages, size_t producers,
             size_t consumers, uint32_t batch) {
  auto q = new_queue(sys);
  auto left = std::make_shared<std::atomic<int64_t>>(messages);
  auto consumed = std::make_shared<std::promise<void>>();
  auto fut = consumed->get_future();
  std::vector<std::future<void>> produced;
  auto t0 = clock_type::now();
  for (size_t i = 0; i < producers; ++i) {
    auto done = std::make_shared<std::promise<void>>();
    produced.push_back(done->get_future());
    sys.spawn([=](caf::event_based_actor* self) {
      produce(self, q, messages / producers, batch, done);
    });
  }
  for (size_t i = 0; i < consumers; ++i)
    sys.spawn([=](caf::event_based_actor* self) {
      consume(self, q, batch, left, consumed);
    });
  for (auto& f : produced)
    f.wait();
  fut.wait();
  auto rate = static_cast<double>(messages) / seconds_since(t0);
  caf::anon_send_exit(q, caf::exit_reason::user_shutdown);
  return rate;
}

/// Baseline: request/response round trips to a trivial actor, from 8
/// actors at once; returns round trips/s.
double round_trips(caf::actor_system& sys, size_t total) {
  auto echo = sys.spawn([]() -> caf::behavior {
    return {[](uint64_t x) { return x; }};
  });
  std::vector<std::future<void>> fs;
  auto t0 = clock_type::now();
  for (int i = 0; i < 8; ++i) {
    auto done = std::make_shared<std::promise<void>>();
    fs.push_back(done->get_future());
    sys.spawn([=](caf::event_based_actor* self) {
      auto left = std::make_shared<size_t>(total / 8);
      auto step = std::make_shared<std::function<void()>>();
      *step = [=] {
        if ((*left)-- == 0) {
          done->set_value();
          return;
        }
        self->request(echo, caf::infinite, uint64_t{1})
          .then([=](uint64_t) { (*step)(); });
      };
      (*step)();
    });
  }
  for (auto& f : fs)
    f.wait();
  auto rate = static_cast<double>(total) / seconds_since(t0);
  caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
  return rate;
}

void run_cycle(caf::actor_system& sys, size_t messages) {
  auto base = round_trips(sys, messages);
  auto single = cycle(sys, messages, 8, 8, 1);
  auto batched = cycle(sys, messages, 8, 8, 10);
  std::printf("baseline: request/response round trips, 8 actors: %.0f/s\n",
              base);
  std::printf("full cycle, 8 producers + 8 consumers, single:   %.0f msg/s "
              "(%.2fx baseline)\n",
              single, single / base);
  std::printf("full cycle, 8 producers + 8 consumers, batch 10: %.0f msg/s "
              "(%.2fx baseline)\n",
              batched, batched / base);
}

/// Enqueues `n` in batches of 100 from one actor; returns messages/s.
double fill(caf::actor_system& sys, queue_actor q, size_t n) {
  auto done = std::make_shared<std::promise<void>>();
  auto f = done->get_future();
  auto t0 = clock_type::now();
  sys.spawn([=](caf::event_based_actor* self) {
    produce(self, q, n, 100, done);
  });
  f.wait();
  return static_cast<double>(n) / seconds_since(t0);
}

/// Receives and acks `n` in batches of 100 with one actor; messages/s.
double drain(caf::actor_system& sys, queue_actor q, size_t n) {
  auto left = std::make_shared<std::atomic<int64_t>>(n);
  auto done = std::make_shared<std::promise<void>>();
  auto f = done->get_future();
  auto t0 = clock_type::now();
  sys.spawn([=](caf::event_based_actor* self) {
    consume(self, q, 100, left, done);
  });
  f.wait();
  return static_cast<double>(n) / seconds_since(t0);
}

void run_depth(caf::actor_system& sys, size_t depth) {
  const size_t probe = 200000;
  // The deep queue first, so the process RSS counts nothing else.
  auto deep = new_queue(sys);
  auto rss0 = rss_kib();
  fill(sys, deep, depth);
  auto rss1 = rss_kib();
  // Alternate the probes, twice, and keep the second round: both then run
  // with a warm allocator.
  auto empty = new_queue(sys);
  double empty_in = 0, empty_out = 0, deep_in = 0, deep_out = 0;
  for (int round = 0; round < 2; ++round) {
    empty_in = fill(sys, empty, probe);
    empty_out = drain(sys, empty, probe);
    deep_in = fill(sys, deep, probe);
    deep_out = drain(sys, deep, probe);
  }
  auto per_msg = (rss1 - rss0) * 1024.0 / static_cast<double>(depth);
  std::printf("enqueue (batches of 100): empty queue %.0f msg/s, with %zu "
              "ready %.0f msg/s (%.2fx)\n",
              empty_in, depth, deep_in, deep_in / empty_in);
  std::printf("receive+ack (batches of 100): empty queue %.0f msg/s, with "
              "%zu ready %.0f msg/s (%.2fx)\n",
              empty_out, depth, deep_out, deep_out / empty_out);
  std::printf("RSS: %.1f MiB for %zu ready 100-byte messages: %.0f bytes "
              "per message; process RSS holding them: %.1f MiB (limit 256)\n",
              (rss1 - rss0) / 1024.0, depth, per_msg, rss1 / 1024.0);
}

void run_queues(caf::actor_system& sys, size_t count) {
  auto reg = sys.spawn(registry, registry_config{});
  caf::scoped_actor self{sys};
  auto rss0 = rss_kib();
  auto t0 = clock_type::now();
  size_t ok = 0;
  for (size_t i = 0; i < count; ++i) {
    new_message x;
    x.data.body = body;
    self
      ->request(reg, caf::infinite, atom::get::value,
                "q" + std::to_string(i), true)
      .receive(
        [&](queue_actor& q) {
          self->request(q, caf::infinite, atom::enqueue::value, x)
            .receive([&](uint64_t) { ++ok; }, [](caf::error&) {});
        },
        [](caf::error&) {});
  }
  auto created = seconds_since(t0);
  auto t1 = clock_type::now();
  size_t listed = 0;
  self->request(reg, caf::infinite, atom::list::value)
    .receive([&](std::vector<queue_info>& xs) { listed = xs.size(); },
             [](caf::error&) {});
  std::printf("%zu queues: created with one message each in %.2f s "
              "(%zu ok), listed %zu in %.3f s, %.1f KiB RSS per queue\n",
              count, created, ok, listed, seconds_since(t1),
              static_cast<double>(rss_kib() - rss0) / count);
  self->send_exit(reg, caf::exit_reason::user_shutdown);
}

/// Writes a store in `dir` that holds `count` ready 100-byte messages in the
/// queue "default", as actormq would have written them; bench/recovery.sh
/// then times a start on it.
int run_fill(const std::string& dir, size_t count) {
  std::string err;
  auto db = actormq::open_rocksdb_store(dir, err);
  if (!db) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 1;
  }
  using namespace actormq::records;
  using actormq::store_op;
  constexpr uint64_t incarnation = 1;
  auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  actormq::store_batch batch{
    {store_op::kind::put, format_key(), std::string{format}},
    {store_op::kind::put, queue_key("default"),
     encode(queue_record{"default", incarnation, {}})}};
  for (size_t i = 0; i < count; ++i) {
    message_record m;
    m.incarnation = incarnation;
    m.slot = i;
    m.id = i + 2;
    m.data.body = std::string(100, 'x');
    m.enqueued_at = now;
    batch.push_back({store_op::kind::put, message_key(incarnation, i),
                     encode(m)});
    if (batch.size() == 10000 || i + 1 == count) {
      if (err = db->write(batch, false); !err.empty()) {
        std::fprintf(stderr, "%s\n", err.c_str());
        return 1;
      }
      batch.clear();
    }
  }
  err = db->sync();
  std::printf("%zu messages written to %s\n", count, dir.c_str());
  return err.empty() ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "cycle";
  size_t n = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 0;
  if (mode == "fill" && argc > 3)
    return run_fill(argv[3], n);
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system sys{cfg};
  if (mode == "cycle")
    run_cycle(sys, n ? n : 1000000);
  else if (mode == "depth")
    run_depth(sys, n ? n : 1000000);
  else if (mode == "queues")
    run_queues(sys, n ? n : 10000);
  else {
    std::fprintf(stderr, "usage: inprocess cycle|depth|queues [N]\n"
                         "       inprocess fill N DIR\n");
    return 2;
  }
  return 0;
}
