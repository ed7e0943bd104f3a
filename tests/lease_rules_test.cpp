#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "http_client.hpp"
#include "process.hpp"

// The lease and move rules that must hold across a real restart: the real
// binary, killed with SIGKILL and started again on the same data.

using json = nlohmann::json;
using test::process;
using test::temp_dir;

namespace {

constexpr auto json_type = "Content-Type: application/json\r\n";

/// One run of the binary on `dir`, and a client of it.
struct server {
  process proc;
  uint16_t port;
  test::http_client client;

  explicit server(const temp_dir& dir)
    : proc({"--host=127.0.0.1", "--port=0", "--consumers=0",
            "--fsync=always", dir.option()}),
      port(proc.port_from_log()),
      client(port) {
    // nop
  }

  json call(std::string_view method, const std::string& path,
            const json& body = json::object(), int status = 200) {
    auto r = client.request(method, path, body.dump(), json_type);
    INFO(method << " " << path << " -> " << r.status << " " << r.body);
    REQUIRE(r.status == status);
    return json::parse(r.body);
  }

  json receive(const std::string& q, int max = 10, double vis = 60) {
    return call("POST", "/queues/" + q + "/receive",
                {{"max", max}, {"visibility_seconds", vis}})
      .at("messages");
  }

  json stats(const std::string& q) {
    return call("GET", "/queues/" + q, json::object()).at("stats");
  }
};

} // namespace

TEST_CASE("a receipt from before a SIGKILL never acks the next holder") {
  temp_dir dir;
  std::string old_receipt;
  {
    server s{dir};
    s.call("POST", "/queues/jobs/messages", {{"message", "job"}});
    auto got = s.receive("jobs");
    REQUIRE(got.size() == 1);
    old_receipt = got[0].at("receipt");
  } // SIGKILL
  server s{dir};
  auto got = s.receive("jobs");
  REQUIRE(got.size() == 1);
  CHECK(got[0].at("receive_count") == 2);
  auto acked = s.call("POST", "/queues/jobs/ack",
                      {{"receipts", {old_receipt}}});
  CHECK(acked.at("results").at(0).at("ok") == false);
  CHECK(s.stats("jobs").at("in_flight") == 1);
  acked = s.call("POST", "/queues/jobs/ack",
                 {{"receipts", {got[0].at("receipt")}}});
  CHECK(acked.at("results").at(0).at("ok") == true);
}

TEST_CASE("a redrive answered 200 survives a SIGKILL right after") {
  temp_dir dir;
  {
    server s{dir};
    s.call("PUT", "/queues/home",
           {{"max_deliveries", 1}, {"dead_letter_queue", "dlq"}});
    json batch = json::array();
    for (int i = 0; i < 100; ++i)
      batch.push_back({{"message", "m" + std::to_string(i)}});
    s.call("POST", "/queues/home/messages", {{"messages", batch}});
    json receipts = json::array();
    for (int round = 0; round < 10; ++round)
      for (auto& m : s.receive("home"))
        receipts.push_back(m.at("receipt"));
    REQUIRE(receipts.size() == 100);
    s.call("POST", "/queues/home/release", {{"receipts", receipts}});
    // Dead letters move on after the release is answered.
    for (int i = 0; i < 100 && s.stats("dlq").at("ready") != 100; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    REQUIRE(s.stats("dlq").at("ready") == 100);
    auto moved = s.call("POST", "/queues/dlq/redrive");
    REQUIRE(moved.at("redriven") == 100);
  } // SIGKILL the moment the 200 arrived
  server s{dir};
  CHECK(s.stats("dlq").at("ready") == 0);
  auto home = s.stats("home");
  CHECK(home.at("ready") == 100);
  auto got = s.receive("home", 1);
  REQUIRE(got.size() == 1);
  CHECK(got[0].at("receive_count") == 1);
}

namespace {

/// A message as the HTTP model sees it. One client at a time, so ids grow
/// with enqueue time and the order of service is priority, then id.
struct seen_message {
  uint64_t id = 0;
  int priority = 0;
  int receive_count = 0;
  /// The receipt of its lease; empty: ready.
  std::string receipt;
  /// A dead letter: the queue it came from.
  std::string source;
};

/// Random requests to a real server, with SIGKILLs and restarts, checked
/// against a model of the rules. Leases last 10 minutes (nothing expires
/// by itself); "a" dead-letters to "d" after two releases.
struct http_model {
  std::mt19937_64 rng;
  const temp_dir& dir;
  std::unique_ptr<server> srv;
  std::map<std::string, std::vector<seen_message>> queues;
  std::vector<std::string> receipts;
  std::ostringstream trace;

  http_model(uint64_t seed, const temp_dir& d) : rng(seed), dir(d) {
    start();
    srv->call("PUT", "/queues/a",
              {{"max_deliveries", 2}, {"dead_letter_queue", "d"}});
    srv->call("PUT", "/queues/b");
    srv->call("PUT", "/queues/d");
  }

  void start() {
    srv = std::make_unique<server>(dir);
  }

  int pick(int n) {
    return static_cast<int>(rng() % static_cast<uint64_t>(n));
  }

  std::string any_queue() {
    static const std::vector<std::string> names{"a", "b", "d"};
    return names[pick(3)];
  }

  [[noreturn]] void fail(const std::string& what) {
    FAIL(what << "\nafter:\n" << trace.str());
    throw std::logic_error{"unreachable"};
  }

  std::vector<seen_message*> ready(const std::string& q) {
    std::vector<seen_message*> result;
    for (auto& m : queues[q])
      if (m.receipt.empty())
        result.push_back(&m);
    std::sort(result.begin(), result.end(), [](auto x, auto y) {
      return std::make_pair(-x->priority, x->id)
             < std::make_pair(-y->priority, y->id);
    });
    return result;
  }

  seen_message* holder(const std::string& q, const std::string& receipt) {
    for (auto& m : queues[q])
      if (!m.receipt.empty() && m.receipt == receipt)
        return &m;
    return nullptr;
  }

  void remove(const std::string& q, uint64_t id) {
    auto& xs = queues[q];
    xs.erase(std::remove_if(xs.begin(), xs.end(),
                            [id](auto& m) { return m.id == id; }),
             xs.end());
  }

  void enqueue() {
    auto q = any_queue();
    json batch = json::array();
    std::vector<int> priorities;
    for (int i = 1 + pick(3); i > 0; --i) {
      priorities.push_back(pick(3));
      batch.push_back({{"message", "x"}, {"priority", priorities.back()}});
    }
    auto ids = srv->call("POST", "/queues/" + q + "/messages",
                         {{"messages", batch}})
                 .at("ids");
    for (size_t i = 0; i < priorities.size(); ++i) {
      seen_message m;
      m.id = ids.at(i).get<uint64_t>();
      m.priority = priorities[i];
      queues[q].push_back(m);
    }
    trace << "enqueue " << q << " " << ids.dump() << '\n';
  }

  void receive() {
    auto q = any_queue();
    auto max = 1 + pick(3);
    auto got = srv->receive(q, max, 600);
    auto want = ready(q);
    want.resize(std::min(want.size(), static_cast<size_t>(max)));
    trace << "receive " << q << " " << got.size() << '\n';
    if (got.size() != want.size())
      fail("receive from " + q + ": " + got.dump());
    for (size_t i = 0; i < want.size(); ++i) {
      auto& m = *want[i];
      m.receive_count += 1;
      m.receipt = got[i].at("receipt");
      if (got[i].at("id") != m.id
          || got[i].at("receive_count") != m.receive_count)
        fail("receive from " + q + ": " + got.dump() + ", model: #"
             + std::to_string(m.id) + " count "
             + std::to_string(m.receive_count));
      receipts.push_back(m.receipt);
    }
  }

  std::string any_receipt() {
    if (receipts.empty() || pick(10) == 0)
      return "0.0.1";
    return receipts[receipts.size() - 1
                    - static_cast<size_t>(pick(static_cast<int>(
                      std::min<size_t>(receipts.size(), 20))))];
  }

  /// Sends one receipt to `action`; checks the result against the model
  /// and returns the message whose lease it named, if any.
  seen_message* settle_receipt(const std::string& q, const std::string& action,
                               json body) {
    auto r = any_receipt();
    body["receipts"] = {r};
    auto result = srv->call("POST", "/queues/" + q + "/" + action, body)
                    .at("results")
                    .at(0);
    auto m = holder(q, r);
    trace << action << " " << q << " " << r << " -> " << result.dump()
          << '\n';
    if (result.at("ok") != (m != nullptr))
      fail(action + " " + r + " in " + q + ": " + result.dump());
    return m;
  }

  void ack() {
    auto q = any_queue();
    if (auto m = settle_receipt(q, "ack", json::object()))
      remove(q, m->id);
  }

  void extend() {
    settle_receipt(any_queue(), "extend", {{"visibility_seconds", 600}});
  }

  void release() {
    auto q = any_queue();
    auto m = settle_receipt(q, "release", json::object());
    if (!m)
      return;
    m->receipt.clear();
    if (q != "a" || m->receive_count < 2)
      return;
    auto x = *m;
    x.source = "a";
    remove("a", x.id);
    queues["d"].push_back(x);
    // Dead letters move on after the release is answered.
    for (int i = 0; i < 100 && count_of("d") != queues["d"].size(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }

  size_t count_of(const std::string& q) {
    auto s = srv->stats(q);
    return s.at("ready").get<size_t>() + s.at("in_flight").get<size_t>();
  }

  void peek() {
    auto q = any_queue();
    auto got = srv->call("GET", "/queues/" + q + "/peek?max=100");
    auto want = ready(q);
    auto& xs = got.at("messages");
    bool same = xs.size() == want.size();
    for (size_t i = 0; same && i < xs.size(); ++i)
      same = xs[i].at("id") == want[i]->id;
    if (!same)
      fail("peek " + q + ": " + got.dump());
  }

  void purge() {
    auto q = any_queue();
    auto n = srv->call("POST", "/queues/" + q + "/purge").at("purged");
    trace << "purge " << q << " " << n << '\n';
    if (n != queues[q].size())
      fail("purge " + q);
    queues[q].clear();
  }

  void redrive() {
    auto n = srv->call("POST", "/queues/d/redrive").at("redriven");
    size_t want = 0;
    auto& d = queues["d"];
    for (auto i = d.begin(); i != d.end();) {
      if (i->source.empty() || !i->receipt.empty()) {
        ++i;
        continue;
      }
      auto x = *i;
      i = d.erase(i);
      x.source.clear();
      x.receive_count = 0;
      queues["a"].push_back(x);
      ++want;
    }
    trace << "redrive " << n << '\n';
    if (n != want)
      fail("redrive moved " + n.dump());
  }

  /// SIGKILL and a new start: leases end, receipts go stale, nothing
  /// answered is lost.
  void restart() {
    trace << "restart\n";
    srv.reset();
    start();
    for (auto& [q, xs] : queues)
      for (auto& m : xs)
        m.receipt.clear();
  }

  void check_counts() {
    for (auto& [q, xs] : queues) {
      auto s = srv->stats(q);
      size_t leased = 0;
      for (auto& m : xs)
        leased += m.receipt.empty() ? 0 : 1;
      if (s.at("in_flight") != leased || s.at("ready") != xs.size() - leased)
        fail("stats of " + q + ": " + s.dump());
    }
  }

  void step() {
    auto op = pick(100);
    if (op < 22)
      enqueue();
    else if (op < 45)
      receive();
    else if (op < 57)
      ack();
    else if (op < 72)
      release();
    else if (op < 77)
      extend();
    else if (op < 84)
      peek();
    else if (op < 86)
      purge();
    else if (op < 92)
      redrive();
    else if (op < 94)
      restart();
    else
      check_counts();
  }
};

} // namespace

TEST_CASE("random requests with SIGKILLs follow the model over HTTP") {
  // Bounded in time; ACTORMQ_HTTP_MODEL_SECONDS runs it longer, and
  // ACTORMQ_MODEL_SEED replays a seed.
  auto env = [](const char* name, uint64_t fallback) {
    auto x = std::getenv(name);
    return x ? std::stoull(x) : fallback;
  };
  auto seconds = env("ACTORMQ_HTTP_MODEL_SECONDS", 10);
  auto seed = env("ACTORMQ_MODEL_SEED", std::random_device{}());
  auto deadline = std::chrono::steady_clock::now()
                  + std::chrono::seconds{seconds};
  size_t sequences = 0;
  size_t steps = 0;
  do {
    INFO("seed " << seed << " (replay: ACTORMQ_MODEL_SEED=" << seed << ")");
    temp_dir dir;
    http_model m{seed, dir};
    for (int i = 0; i < 300; ++i, ++steps)
      m.step();
    m.check_counts();
    ++sequences;
    ++seed;
  } while (std::chrono::steady_clock::now() < deadline
           && !std::getenv("ACTORMQ_MODEL_SEED"));
  WARN(sequences << " sequences, " << steps << " requests");
}

TEST_CASE("SIGTERM answers a waiting long poll before the exit") {
  temp_dir dir;
  server s{dir};
  s.call("PUT", "/queues/jobs");
  test::http_response got;
  std::thread poller{[&] {
    test::http_client c{s.port};
    got = c.request("POST", "/queues/jobs/receive",
                    R"({"wait_seconds": 20})", json_type);
  }};
  // The poll reaches its queue and waits there.
  std::this_thread::sleep_for(std::chrono::milliseconds{300});
  s.proc.signal(SIGTERM);
  CHECK(s.proc.wait_exit(std::chrono::seconds{5}) == 0);
  poller.join();
  CHECK(got.status == 200);
  CHECK(got.body == R"({"messages":[]})");
}
