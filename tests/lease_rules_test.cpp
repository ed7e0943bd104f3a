#include <catch2/catch.hpp>

#include <chrono>
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
  test::http_client client;

  explicit server(const temp_dir& dir)
    : proc({"--host=127.0.0.1", "--port=0", "--consumers=0",
            "--fsync=always", dir.option()}),
      client(proc.port_from_log()) {
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
