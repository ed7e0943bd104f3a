#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "http_client.hpp"
#include "process.hpp"
#include "tmpfs.hpp"

// The real binary with --fsync=always, killed with SIGKILL at random
// moments while clients enqueue, receive and ack, and restarted on the same
// data directory.

using json = nlohmann::json;
using test::process;
using test::temp_dir;

namespace {

/// What the clients were told, across all runs.
struct ledger {
  std::mutex mtx;
  /// Ids of enqueues answered 2xx, with how often each id was given out.
  std::map<uint64_t, int> enqueued;
  /// Ids of messages whose ack was answered ok.
  std::set<uint64_t> acked;
  /// Ids of messages an ack was sent for (its answer may have been lost).
  std::set<uint64_t> ack_sent;
  /// Acked messages that were handed out again.
  std::vector<uint64_t> resurrected;

  /// Returns how many enqueues were answered 2xx so far.
  size_t answered() {
    std::lock_guard<std::mutex> guard{mtx};
    return enqueued.size();
  }
};

constexpr auto queue_path = "/queues/crash";

void produce(uint16_t port, int who, std::atomic<bool>& stop, ledger& l) {
  try {
    test::http_client c{port};
    for (int n = 0; !stop; ++n) {
      auto body = json{{"message", "p" + std::to_string(who) + "-"
                                     + std::to_string(n)}}
                    .dump();
      auto r = c.request("POST", std::string{queue_path} + "/messages", body,
                         "Content-Type: application/json\r\n");
      if (r.status / 100 != 2)
        continue;
      auto id = json::parse(r.body).at("id").get<uint64_t>();
      std::lock_guard<std::mutex> guard{l.mtx};
      l.enqueued[id] += 1;
    }
  } catch (const std::exception&) {
    // The server was killed.
  }
}

void consume(uint16_t port, std::atomic<bool>& stop, ledger& l) {
  try {
    test::http_client c{port};
    while (!stop) {
      auto r = c.request("POST", std::string{queue_path} + "/receive",
                         R"({"max":2,"visibility_seconds":60})",
                         "Content-Type: application/json\r\n");
      if (r.status != 200)
        continue;
      json receipts = json::array();
      std::vector<uint64_t> ids;
      auto leased = json::parse(r.body);
      for (auto& m : leased.at("messages")) {
        ids.push_back(m.at("id").get<uint64_t>());
        receipts.push_back(m.at("receipt"));
      }
      if (ids.empty())
        continue;
      {
        std::lock_guard<std::mutex> guard{l.mtx};
        for (auto id : ids) {
          if (l.acked.count(id))
            l.resurrected.push_back(id);
          l.ack_sent.insert(id);
        }
      }
      auto a = c.request("POST", std::string{queue_path} + "/ack",
                         json{{"receipts", receipts}}.dump(),
                         "Content-Type: application/json\r\n");
      if (a.status != 200)
        continue;
      auto results = json::parse(a.body).at("results").get<json>();
      std::lock_guard<std::mutex> guard{l.mtx};
      for (size_t i = 0; i < ids.size(); ++i)
        if (results.at(i).at("ok").get<bool>())
          l.acked.insert(ids[i]);
    }
  } catch (const std::exception&) {
    // The server was killed.
  }
}

/// Leases every message of the queue at path `queue`, `max` a request, for
/// 10 minutes; returns them in the order they came.
std::vector<json> receive_all(test::http_client& c, const std::string& queue,
                              int max) {
  std::vector<json> result;
  auto body = json{{"max", max}, {"visibility_seconds", 600}}.dump();
  for (;;) {
    auto r = c.request("POST", queue + "/receive", body,
                       "Content-Type: application/json\r\n");
    REQUIRE(r.status == 200);
    auto ms = json::parse(r.body).at("messages").get<json>();
    if (ms.empty())
      return result;
    for (auto& m : ms)
      result.push_back(std::move(m));
  }
}

std::vector<std::string> server_args(const temp_dir& dir) {
  return {"--host=127.0.0.1", "--port=0", "--consumers=0", "--fsync=always",
          dir.option()};
}

} // namespace

TEST_CASE("SIGKILL at random moments loses nothing acknowledged") {
  temp_dir dir;
  ledger l;
  std::mt19937 rng{std::random_device{}()};
  std::uniform_int_distribution<int> run_ms{20, 250};
  // ACTORMQ_CRASH_ROUNDS runs it longer (the issue asks for 100 once).
  auto env = std::getenv("ACTORMQ_CRASH_ROUNDS");
  const int rounds = env ? std::stoi(env) : 20;
  for (int round = 0; round < rounds; ++round) {
    process p{server_args(dir)};
    auto port = p.port_from_log();
    auto before = l.answered();
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int i = 0; i < 4; ++i)
      clients.emplace_back(produce, port, i, std::ref(stop), std::ref(l));
    // One consumer for four producers: messages pile up across restarts.
    clients.emplace_back(consume, port, std::ref(stop), std::ref(l));
    // The kill's clock starts at the round's first answered enqueue: a slow
    // build (ThreadSanitizer) spends a start's first requests warming up.
    auto deadline = test::clock_type::now() + std::chrono::seconds{10};
    while (l.answered() == before && test::clock_type::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds{1});
    std::this_thread::sleep_for(std::chrono::milliseconds{run_ms(rng)});
    p.signal(SIGKILL);
    stop = true;
    for (auto& t : clients)
      t.join();
  }
  // A last start: everything still there comes out, in order.
  process p{server_args(dir)};
  test::http_client c{p.port_from_log()};
  std::vector<uint64_t> left;
  for (auto& m : receive_all(c, queue_path, 100))
    left.push_back(m.at("id").get<uint64_t>());
  INFO("enqueued " << l.enqueued.size() << ", acked " << l.acked.size()
                   << ", left " << left.size());
  CHECK(l.enqueued.size() > 100);
  CHECK(l.acked.size() > 10);
  CHECK(l.resurrected.empty());
  std::set<uint64_t> left_set{left.begin(), left.end()};
  CHECK(left_set.size() == left.size());
  size_t lost = 0;
  size_t duplicate_ids = 0;
  for (auto& [id, times] : l.enqueued) {
    duplicate_ids += times > 1 ? 1 : 0;
    // An ack whose answer the kill cut off may have been applied.
    if (!l.ack_sent.count(id) && !left_set.count(id))
      lost += 1;
  }
  CHECK(lost == 0);
  CHECK(duplicate_ids == 0);
  size_t came_back = 0;
  for (auto id : left)
    came_back += l.acked.count(id);
  CHECK(came_back == 0);
  // Ready messages keep their order: oldest (lowest id) first.
  CHECK(std::is_sorted(left.begin(), left.end()));
  p.signal(SIGTERM);
  CHECK(p.wait_exit(std::chrono::seconds{5}) == 0);
}

TEST_CASE("a store that cannot be opened stops the start, naming it") {
  temp_dir dir;
  SECTION("a folder of other files") {
    { std::ofstream{dir.path() + "/notes.txt"} << "hello"; }
    process p{server_args(dir)};
    CHECK(p.wait_exit(std::chrono::seconds{10}) == 1);
    CHECK(p.output().find(dir.path()) != std::string::npos);
    CHECK(p.output().find("not an ActorMQ data directory")
          != std::string::npos);
  }
  SECTION("a corrupt store") {
    {
      process first{server_args(dir)};
      first.port_from_log();
      first.signal(SIGTERM);
      REQUIRE(first.wait_exit(std::chrono::seconds{5}) == 0);
    }
    for (auto& e : std::filesystem::directory_iterator{dir.path()})
      if (e.path().extension() == ".log" || e.path().extension() == ".sst")
        std::ofstream{e.path(), std::ios::trunc} << "not a RocksDB file";
    std::ofstream{dir.path() + "/CURRENT", std::ios::trunc} << "MANIFEST-9\n";
    process p{server_args(dir)};
    CHECK(p.wait_exit(std::chrono::seconds{10}) == 1);
    CHECK(p.output().find("cannot open the store in " + dir.path())
          != std::string::npos);
  }
}

TEST_CASE("SIGTERM syncs what was answered and a restart serves it") {
  temp_dir dir;
  {
    process p{{"--host=127.0.0.1", "--port=0", "--consumers=0",
               "--fsync=interval", "--fsync-interval=10s", dir.option()}};
    test::http_client c{p.port_from_log()};
    for (auto m : {"one", "two", "three"})
      REQUIRE(c.enqueue_json(json{{"message", m}}.dump()).status == 200);
    p.signal(SIGTERM);
    REQUIRE(p.wait_exit(std::chrono::seconds{5}) == 0);
  }
  process p{server_args(dir)};
  auto port = p.port_from_log();
  CHECK(p.output().find("recovered 3 messages") != std::string::npos);
  test::http_client c{port};
  auto r = c.request("GET", "/queues/default/peek?max=10");
  REQUIRE(r.status == 200);
  auto ms = json::parse(r.body).at("messages").get<json>();
  REQUIRE(ms.size() == 3);
  CHECK(ms[0].at("message") == "one");
  CHECK(ms[2].at("message") == "three");
}

namespace {

using namespace std::chrono_literals;

constexpr auto full_queue = "/queues/full";

/// What one enqueue to a full disk was answered.
struct attempt {
  int status = 0;
  /// The id of a 2xx.
  uint64_t id = 0;
};

/// Message `n` of `size` bytes, its number first.
std::string numbered(int n, size_t size) {
  auto text = std::to_string(n) + ":";
  text.resize(std::max(size, text.size()), 'x');
  return text;
}

attempt enqueue_numbered(test::http_client& c, int n, size_t size) {
  auto r = c.request("POST", std::string{full_queue} + "/messages",
                     json{{"message", numbered(n, size)}}.dump(),
                     "Content-Type: application/json\r\n");
  attempt a{r.status, 0};
  if (r.status / 100 == 2)
    a.id = json::parse(r.body).at("id").get<uint64_t>();
  return a;
}

int healthz(test::http_client& c) {
  return c.request("GET", "/healthz").status;
}

/// The real binary on an 8 MiB tmpfs, 5 MiB of it taken by a filler file:
/// enqueues until the disk is full, checks that the server answers 507 and
/// 503 and stays up, frees the filler, checks that writes succeed again by
/// themselves, then SIGKILLs it and checks that a restart serves every
/// message answered 200.
void fill_free_restart(const std::string& fsync, size_t message_bytes) {
  test::small_tmpfs disk{8 << 20};
  if (!disk.mounted()) {
    WARN("SKIPPED: cannot mount a tmpfs (" << disk.why() << ")");
    return;
  }
  REQUIRE(disk.fill("filler", 5 << 20));
  std::vector<std::string> args{"--host=127.0.0.1", "--port=0",
                                "--consumers=0", "--fsync=" + fsync,
                                "--data-dir=" + disk.path("data")};
  std::map<int, attempt> answered;
  {
    process p{args};
    test::http_client c{p.port_from_log()};
    int n = 0;
    // Returns the status, or 0 if the connection is lost.
    auto enqueue = [&] {
      attempt a;
      try {
        a = enqueue_numbered(c, n, message_bytes);
      } catch (const std::exception&) {
        a.status = 0;
      }
      answered[n++] = a;
      return a.status;
    };
    // 3 MiB of room: at most ~1600 messages of 2 KiB.
    int status = 200;
    while (status == 200 && n < 4000)
      status = enqueue();
    if (status != 507) {
      auto exit = p.wait_exit(1s);
      FAIL("enqueue #" << n << " answered " << status << ", exit status "
                       << exit << ", server output:\n" << p.output());
    }
    CHECK(n > 3);
    CHECK(healthz(c) == 503);
    // A few probes of the store later: it may have reopened and a small
    // write may fit again, but the disk stays full: 507 again, still up.
    std::this_thread::sleep_for(2500ms);
    for (int i = 0; i < 100 && enqueue() == 200; ++i)
      ; // fills what the probes freed
    CHECK(answered.rbegin()->second.status == 507);
    CHECK(healthz(c) == 503);
    REQUIRE(p.wait_exit(0ms) == -1);
    std::filesystem::remove(disk.path("filler"));
    auto deadline = test::clock_type::now() + 10s;
    while (enqueue() != 200 && test::clock_type::now() < deadline)
      std::this_thread::sleep_for(100ms);
    CHECK(answered.rbegin()->second.status == 200);
    CHECK(healthz(c) == 200);
    for (int i = 0; i < 3; ++i)
      CHECK(enqueue() == 200);
    p.signal(SIGKILL);
  }
  process p{args};
  auto port = p.port_from_log();
  INFO("server output:\n" << p.output());
  test::http_client c{port};
  std::map<int, uint64_t> received;
  for (auto& m : receive_all(c, full_queue, 10)) {
    auto text = m.at("message").get<std::string>();
    auto n = std::stoi(text.substr(0, text.find(':')));
    CHECK(text == numbered(n, message_bytes));
    CHECK(received.emplace(n, m.at("id").get<uint64_t>()).second);
  }
  size_t acknowledged = 0;
  for (auto& [n, a] : answered) {
    INFO("message " << n << ", answered " << a.status);
    if (a.status == 200) {
      acknowledged += 1;
      REQUIRE(received.count(n) == 1);
      CHECK(received[n] == a.id);
    } else {
      // A change answered 507 may or may not have been saved.
      CHECK(a.status == 507);
    }
  }
  CHECK(acknowledged > 3);
  for (auto& [n, id] : received)
    CHECK(answered.count(n) == 1);
}

} // namespace

TEST_CASE("a full disk: 507, then healed, 64 KiB messages, --fsync=always") {
  fill_free_restart("always", 64 * 1024);
}

TEST_CASE("a full disk: 507, then healed, 2 KiB messages, --fsync=always") {
  fill_free_restart("always", 2 * 1024);
}

TEST_CASE("a full disk: 507, then healed, 64 KiB messages, --fsync=interval") {
  fill_free_restart("interval", 64 * 1024);
}

TEST_CASE("a full disk: 507, then healed, 2 KiB messages, --fsync=interval") {
  fill_free_restart("interval", 2 * 1024);
}
