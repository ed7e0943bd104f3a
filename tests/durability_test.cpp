#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
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
  constexpr int rounds = 20;
  for (int round = 0; round < rounds; ++round) {
    process p{server_args(dir)};
    auto port = p.port_from_log();
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int i = 0; i < 4; ++i)
      clients.emplace_back(produce, port, i, std::ref(stop), std::ref(l));
    // One consumer for four producers: messages pile up across restarts.
    clients.emplace_back(consume, port, std::ref(stop), std::ref(l));
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
  for (;;) {
    auto r = c.request("POST", std::string{queue_path} + "/receive",
                       R"({"max":100,"visibility_seconds":600})",
                       "Content-Type: application/json\r\n");
    REQUIRE(r.status == 200);
    auto ms = json::parse(r.body).at("messages").get<json>();
    if (ms.empty())
      break;
    for (auto& m : ms)
      left.push_back(m.at("id").get<uint64_t>());
  }
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
