#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "http_client.hpp"
#include "running_server.hpp"

// The queue API over a real socket, against the real frontend and actors.

using namespace actormq;
using nlohmann::json;

namespace {

/// The real server (1 KiB messages, room for 64 small ones and a few
/// queues in all) and a client connected to it.
struct api_fixture : test::running_server {
  std::unique_ptr<test::http_client> client;

  api_fixture()
    : running_server(1024, 64 * memory_budget::per_message
                             + 4 * memory_budget::per_queue
                             + 2 * memory_budget::per_priority) {
    client = std::make_unique<test::http_client>(srv.port());
  }

  test::http_response call(std::string_view method, std::string_view path,
                           std::string_view body = {}) {
    return client->request(method, path, body,
                           body.empty() ? std::string_view{}
                                        : "Content-Type: application/json\r\n");
  }

  json ok(std::string_view method, std::string_view path,
          std::string_view body = {}) {
    auto r = call(method, path, body);
    INFO(method << " " << path << " " << body << " -> " << r.body);
    REQUIRE(r.status == 200);
    return json::parse(r.body);
  }

  void expect_error(std::string_view method, std::string_view path,
                    std::string_view body, int status,
                    std::string_view fragment) {
    auto r = call(method, path, body);
    INFO(method << " " << path << " " << body << " -> " << r.body);
    CHECK(r.status == status);
    auto doc = json::parse(r.body);
    REQUIRE(doc.contains("error"));
    CHECK(doc["error"].get<std::string>().find(fragment) != std::string::npos);
  }
};

} // namespace

TEST_CASE_METHOD(api_fixture, "queues are created, shown, listed, deleted") {
  auto q = ok("PUT", "/queues/orders",
              R"({"visibility_seconds": 1.5, "max_depth": 10})");
  CHECK(q["name"] == "orders");
  CHECK(q["attributes"]["visibility_seconds"] == 1.5);
  CHECK(q["attributes"]["max_depth"] == 10);
  CHECK(q["stats"]["ready"] == 0);
  ok("POST", "/queues/auto/messages", R"({"message": "x"})");
  auto list = ok("GET", "/queues");
  REQUIRE(list["queues"].size() == 2);
  CHECK(list["queues"][0]["name"] == "auto");
  CHECK(list["queues"][0]["stats"]["ready"] == 1);
  CHECK(ok("GET", "/queues/auto")["attributes"]["visibility_seconds"] == 30.0);
  CHECK(ok("DELETE", "/queues/auto")["deleted"] == "auto");
  expect_error("GET", "/queues/auto", {}, 404, "No queue");
  CHECK(ok("GET", "/queues")["queues"].size() == 1);
}

TEST_CASE_METHOD(api_fixture, "unknown queues are 404 except for enqueue") {
  for (auto [method, path] :
       {std::pair{"GET", "/queues/none"}, std::pair{"DELETE", "/queues/none"},
        std::pair{"POST", "/queues/none/receive"},
        std::pair{"GET", "/queues/none/peek"},
        std::pair{"POST", "/queues/none/purge"},
        std::pair{"POST", "/queues/none/redrive"}})
    expect_error(method, path, {}, 404, "No queue has this name");
  expect_error("POST", "/queues/none/ack", R"({"receipts": ["1.1"]})", 404,
               "No queue");
}

TEST_CASE_METHOD(api_fixture, "bad names and bad fields are 400") {
  expect_error("PUT", "/queues/" + std::string(81, 'a'), {}, 400,
               "Queue names are 1-80");
  expect_error("POST", "/queues/a%20b/messages", R"({"message": 1})", 400,
               "Queue names");
  expect_error("PUT", "/queues/q", R"({"visibility": 3})", 400,
               "visibility is not a known field");
  expect_error("PUT", "/queues/q", R"({"visibility_seconds": -1})", 400,
               "visibility_seconds must be a number of seconds");
  expect_error("PUT", "/queues/q", R"({"dead_letter_queue": "q"})", 400,
               "own dead-letter queue");
  expect_error("PUT", "/queues/q", R"({"max_message_bytes": 4096})", 400,
               "max_message_bytes must be an integer from 1 to 1024");
  expect_error("POST", "/queues/q/receive", R"({"max": 0})", 400,
               "max must be an integer from 1 to 100");
  expect_error("POST", "/queues/q/receive", R"({"wait_seconds": 21})", 400,
               "wait_seconds");
  expect_error("POST", "/queues/q/messages", R"({"message": 1, "priority":
               1.5})", 400, "priority must be an integer");
  expect_error("POST", "/queues/q/messages", R"({"messages": []})", 400,
               "messages must be an array of 1 to 100");
  expect_error("POST", "/queues/q/messages", "[1]", 400,
               "Body must be a JSON object");
  expect_error("POST", "/queues/q/ack", R"({"receipts": "1.1"})", 400,
               "receipts must be an array");
  expect_error("GET", "/queues/q/peek?max=500", {}, 400, "max must be");
  CHECK(call("PATCH", "/queues/q").status == 501);
  auto text = client->request("POST", "/queues/q/messages", "hello",
                              "Content-Type: text/plain\r\n");
  CHECK(text.status == 415);
}

TEST_CASE_METHOD(api_fixture, "a batch is all or nothing, up to 100") {
  auto ids = ok("POST", "/queues/b/messages",
                R"({"messages": [{"message": "a"}, {"message": {"k": 1}}]})");
  CHECK(ids["ids"] == json::array({1, 2}));
  expect_error("POST", "/queues/b/messages",
               R"({"messages": [{"message": "fine"}, {"message": ""}]})",
               400, "Message is required");
  std::string big = R"({"messages": [)";
  for (int i = 0; i < 101; ++i)
    big += std::string{i ? "," : ""} + R"({"message": 1})";
  big += "]}";
  expect_error("POST", "/queues/b/messages", big, 400, "1 to 100");
  CHECK(ok("GET", "/queues/b")["stats"]["ready"] == 2);
}

TEST_CASE_METHOD(api_fixture, "receive leases, ack deletes, stale refused") {
  ok("POST", "/queues/w/messages", R"({"message": "low", "priority": -1})");
  ok("POST", "/queues/w/messages", R"({"message": "urgent", "priority": 9})");
  ok("POST", "/queues/w/messages", R"({"message": {"n": 2}})");
  auto got = ok("POST", "/queues/w/receive", R"({"max": 2})")["messages"];
  REQUIRE(got.size() == 2);
  CHECK(got[0]["message"] == "urgent");
  CHECK(got[0]["receive_count"] == 1);
  CHECK(got[1]["message"] == json{{"n", 2}});
  CHECK(got[0].contains("enqueued_at"));
  CHECK(got[0]["lease_seconds"].get<double>() > 29);
  auto receipt = got[0]["receipt"].get<std::string>();
  auto results = ok("POST", "/queues/w/ack",
                    R"({"receipts": [")" + receipt + R"(", "9.9.9", "x"]})");
  CHECK(results["results"][0]["ok"] == true);
  CHECK(results["results"][1]["ok"] == false);
  CHECK(results["results"][1]["error"].get<std::string>().find("Lease is over")
        == 0);
  CHECK(results["results"][2]["error"].get<std::string>().find("malformed")
        != std::string::npos);
  auto again = ok("POST", "/queues/w/ack",
                  R"({"receipts": [")" + receipt + R"("]})");
  CHECK(again["results"][0]["ok"] == false);
  auto stats = ok("GET", "/queues/w")["stats"];
  CHECK(stats["in_flight"] == 1);
  CHECK(stats["ready"] == 1);
  CHECK(stats["acked"] == 1);
}

TEST_CASE_METHOD(api_fixture, "release returns a message, extend keeps it") {
  ok("POST", "/queues/r/messages", R"({"message": "m"})");
  auto got = ok("POST", "/queues/r/receive")["messages"];
  auto receipt = got[0]["receipt"].get<std::string>();
  auto ext = ok("POST", "/queues/r/extend",
                R"({"receipts": [")" + receipt
                  + R"("], "visibility_seconds": 60})");
  CHECK(ext["results"][0]["ok"] == true);
  CHECK(ok("POST", "/queues/r/receive")["messages"].empty());
  ok("POST", "/queues/r/release", R"({"receipts": [")" + receipt + R"("]})");
  auto back = ok("POST", "/queues/r/receive")["messages"];
  REQUIRE(back.size() == 1);
  CHECK(back[0]["receive_count"] == 2);
  expect_error("POST", "/queues/r/extend",
               R"({"receipts": [")" + receipt + R"("]})", 400,
               "visibility_seconds is required");
}

TEST_CASE_METHOD(api_fixture, "peek shows without leasing; purge empties") {
  ok("POST", "/queues/p/messages", R"({"messages": [{"message": 1},
      {"message": 2}, {"message": 3}]})");
  auto peeked = ok("GET", "/queues/p/peek?max=2")["messages"];
  REQUIRE(peeked.size() == 2);
  CHECK(peeked[0]["message"] == 1);
  CHECK(peeked[0]["receive_count"] == 0);
  CHECK(ok("GET", "/queues/p/peek")["messages"].size() == 1);
  CHECK(ok("POST", "/queues/p/purge")["purged"] == 3);
  CHECK(ok("GET", "/queues/p")["stats"]["ready"] == 0);
}

TEST_CASE_METHOD(api_fixture, "delays and dedup over HTTP") {
  ok("POST", "/queues/d/messages",
     R"({"message": "later", "delay_seconds": 60})");
  auto first = ok("POST", "/queues/d/messages",
                  R"({"message": "once", "dedup_id": "k"})");
  auto repeat = ok("POST", "/queues/d/messages",
                   R"({"message": "once", "dedup_id": "k"})");
  CHECK(first["id"] == repeat["id"]);
  auto stats = ok("GET", "/queues/d")["stats"];
  CHECK(stats["delayed"] == 1);
  CHECK(stats["ready"] == 1);
}

TEST_CASE_METHOD(api_fixture, "max_depth is a 429 with Retry-After") {
  ok("PUT", "/queues/small", R"({"max_depth": 1})");
  ok("POST", "/queues/small/messages", R"({"message": "a"})");
  auto r = call("POST", "/queues/small/messages", R"({"message": "b"})");
  CHECK(r.status == 429);
  CHECK(r.header("retry-after") == "1");
}

TEST_CASE_METHOD(api_fixture, "the memory bound is a 503 with Retry-After") {
  std::string batch = R"({"messages": [)";
  for (int i = 0; i < 60; ++i)
    batch += std::string{i ? "," : ""} + R"({"message": 1})";
  batch += "]}";
  ok("POST", "/queues/m1/messages", batch);
  auto r = call("POST", "/queues/m2/messages", batch);
  CHECK(r.status == 503);
  CHECK(r.header("retry-after") == "1");
  CHECK(ok("GET", "/healthz")["data"] == "ok");
}

TEST_CASE_METHOD(api_fixture, "a long poll is answered when a message comes") {
  ok("PUT", "/queues/lp");
  client->send("POST", "/queues/lp/receive", R"({"wait_seconds": 10})",
               "Content-Type: application/json\r\n");
  test::http_client producer{srv.port()};
  CHECK(producer.request("POST", "/queues/lp/messages", R"({"message": "hi"})",
                         "Content-Type: application/json\r\n")
          .status
        == 200);
  auto r = client->read_response();
  CHECK(r.status == 200);
  auto got = json::parse(r.body)["messages"];
  REQUIRE(got.size() == 1);
  CHECK(got[0]["message"] == "hi");
}

TEST_CASE_METHOD(api_fixture,
                 "a long poll whose client left gives its message back uncounted") {
  ok("PUT", "/queues/jobs",
     R"({"max_deliveries": 1, "dead_letter_queue": "jobs.dlq"})");
  {
    test::http_client poller{srv.port()};
    poller.send("POST", "/queues/jobs/receive", R"({"wait_seconds": 10})",
                "Content-Type: application/json\r\n");
    // The server sees the poll before the client leaves.
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  // ... and sees it leave before the message comes.
  std::this_thread::sleep_for(std::chrono::milliseconds{200});
  ok("POST", "/queues/jobs/messages", R"({"message": "once"})");
  auto got = ok("POST", "/queues/jobs/receive", R"({"wait_seconds": 2})");
  REQUIRE(got["messages"].size() == 1);
  CHECK(got["messages"][0]["message"] == "once");
  CHECK(got["messages"][0]["receive_count"] == 1);
  CHECK(ok("GET", "/queues/jobs")["stats"]["dead_lettered"] == 0);
}

TEST_CASE_METHOD(api_fixture, "a DELETE answers the long polls on the queue") {
  ok("PUT", "/queues/doomed");
  client->send("POST", "/queues/doomed/receive", R"({"wait_seconds": 20})",
               "Content-Type: application/json\r\n");
  // The poll is waiting in the queue before the delete comes.
  std::this_thread::sleep_for(std::chrono::milliseconds{100});
  test::http_client admin{srv.port()};
  CHECK(admin.request("DELETE", "/queues/doomed").status == 200);
  auto t0 = std::chrono::steady_clock::now();
  auto r = client->read_response();
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds{5});
  CHECK(r.status == 404);
  CHECK(json::parse(r.body)["error"] == "No queue has this name");
}

TEST_CASE_METHOD(api_fixture, "dead letters and redrive over HTTP") {
  ok("PUT", "/queues/jobs",
     R"({"max_deliveries": 1, "dead_letter_queue": "jobs.dlq"})");
  auto id = ok("POST", "/queues/jobs/messages", R"({"message": "bad"})")["id"];
  auto got = ok("POST", "/queues/jobs/receive")["messages"];
  auto receipt = got[0]["receipt"].get<std::string>();
  ok("POST", "/queues/jobs/release", R"({"receipts": [")" + receipt + R"("]})");
  CHECK(ok("GET", "/queues/jobs")["stats"]["dead_lettered"] == 1);
  auto dead = ok("GET", "/queues/jobs.dlq/peek")["messages"];
  REQUIRE(dead.size() == 1);
  CHECK(dead[0]["id"] == id);
  CHECK(dead[0]["receive_count"] == 1);
  CHECK(ok("POST", "/queues/jobs.dlq/redrive")["redriven"] == 1);
  auto home = ok("GET", "/queues/jobs/peek")["messages"];
  REQUIRE(home.size() == 1);
  CHECK(home[0]["id"] == id);
}

TEST_CASE_METHOD(api_fixture, "metrics are Prometheus text") {
  ok("POST", "/queues/mq/messages", R"({"message": "x"})");
  auto r = call("GET", "/metrics");
  CHECK(r.status == 200);
  CHECK(r.header("content-type") == "text/plain; version=0.0.4");
  CHECK(r.body.find("# TYPE actormq_messages_ready gauge\n")
        != std::string::npos);
  CHECK(r.body.find("actormq_messages_ready{queue=\"mq\"} 1\n")
        != std::string::npos);
  CHECK(r.body.find("actormq_enqueued_total{queue=\"mq\"} 1\n")
        != std::string::npos);
}

TEST_CASE_METHOD(api_fixture,
                 "a client that leaves a long poll loses no message") {
  ok("PUT", "/queues/gone");
  {
    test::http_client leaver{srv.port()};
    leaver.send("POST", "/queues/gone/receive",
                R"({"wait_seconds": 10, "visibility_seconds": 600})",
                "Content-Type: application/json\r\n");
    // Make sure the receive waits in the queue before the client leaves.
    CHECK(ok("GET", "/queues/gone")["stats"]["ready"] == 0);
  }
  ok("POST", "/queues/gone/messages", R"({"message": "still here"})");
  auto got = ok("POST", "/queues/gone/receive", R"({"wait_seconds": 5})");
  REQUIRE(got["messages"].size() == 1);
  CHECK(got["messages"][0]["message"] == "still here");
}

TEST_CASE_METHOD(api_fixture, "a PUT changes what it names, keeps the rest") {
  ok("PUT", "/queues/keep",
     R"({"max_deliveries": 3, "dead_letter_queue": "keep.dlq"})");
  auto q = ok("PUT", "/queues/keep", R"({"max_depth": 7})");
  CHECK(q["attributes"]["max_depth"] == 7);
  CHECK(q["attributes"]["max_deliveries"] == 3);
  CHECK(q["attributes"]["dead_letter_queue"] == "keep.dlq");
  auto cleared = ok("PUT", "/queues/keep", R"({"dead_letter_queue": ""})");
  CHECK(cleared["attributes"]["dead_letter_queue"] == "");
  CHECK(cleared["attributes"]["max_depth"] == 7);
}

TEST_CASE_METHOD(api_fixture, "FIFO queues and message groups over HTTP") {
  auto q = ok("PUT", "/queues/jobs.fifo",
              R"({"fifo": true, "content_dedup": true,
                  "receive_wait_seconds": 0.5})");
  CHECK(q["attributes"]["fifo"] == true);
  CHECK(q["attributes"]["content_dedup"] == true);
  CHECK(q["attributes"]["receive_wait_seconds"] == 0.5);
  ok("POST", "/queues/jobs.fifo/messages",
     R"({"messages": [{"message": "a1", "group": "a"},
                      {"message": "b1", "group": "b"},
                      {"message": "a2", "group": "a"}]})");
  // The same body again is a duplicate (content_dedup): nothing is added.
  ok("POST", "/queues/jobs.fifo/messages",
     R"({"message": "a1", "group": "a"})");
  CHECK(ok("GET", "/queues/jobs.fifo")["stats"]["ready"] == 3);
  auto got = ok("POST", "/queues/jobs.fifo/receive", R"({"max": 2})");
  REQUIRE(got["messages"].size() == 2);
  CHECK(got["messages"][0]["message"] == "a1");
  CHECK(got["messages"][0]["group"] == "a");
  CHECK(got["messages"][1]["message"] == "a2");
  // b1 is left, and no more: the queue's receive_wait (0.5 s) applies to
  // the receive that names no wait, and a is leased.
  auto rest = ok("POST", "/queues/jobs.fifo/receive", R"({"max": 10})");
  REQUIRE(rest["messages"].size() == 1);
  CHECK(rest["messages"][0]["message"] == "b1");
  auto start = std::chrono::steady_clock::now();
  CHECK(ok("POST", "/queues/jobs.fifo/receive", "")["messages"].empty());
  CHECK(std::chrono::steady_clock::now() - start
        >= std::chrono::milliseconds{450});
  expect_error("POST", "/queues/jobs.fifo/messages", R"({"message": "x"})",
               400, "needs a group");
  expect_error("POST", "/queues/jobs.fifo/messages",
               R"({"message": "x", "group": "g", "delay_seconds": 1})", 400,
               "no delay_seconds or priority");
  expect_error("POST", "/queues/jobs.fifo/messages",
               R"({"message": "x", "group": "g", "priority": 2})", 400,
               "no delay_seconds or priority");
  expect_error("POST", "/queues/jobs.fifo/messages",
               R"({"message": "x", "group": "with space"})", 400,
               "group must be a string of 1 to 128");
  expect_error("PUT", "/queues/jobs.fifo", R"({"fifo": false})", 409,
               "cannot change");
  expect_error("PUT", "/queues/jobs.fifo", R"({"fifo": 1})", 400,
               "fifo must be true or false");
  expect_error("PUT", "/queues/jobs.fifo", R"({"receive_wait_seconds": 21})",
               400, "receive_wait_seconds must be a number of seconds from 0 "
                    "to 20");
  // A standard queue keeps a group and serves it as any other message.
  ok("POST", "/queues/plain/messages", R"({"message": "p", "group": "g"})");
  auto plain = ok("POST", "/queues/plain/receive", "");
  CHECK(plain["messages"][0]["group"] == "g");
  CHECK(ok("GET", "/queues/plain")["attributes"]["fifo"] == false);
}

TEST_CASE_METHOD(api_fixture, "message attributes over HTTP") {
  ok("POST", "/queues/attrs/messages",
     R"({"message": "m", "attributes": {
           "trace": {"type": "String", "value": "abc"},
           "n": {"type": "Number.int", "value": "42"},
           "blob": {"type": "Binary", "value": "AP8="}}})");
  auto got = ok("POST", "/queues/attrs/receive", "")["messages"][0];
  CHECK(got["first_received_at"].get<double>() >= got["enqueued_at"]);
  CHECK_FALSE(got.contains("dedup_id"));
  CHECK(got["attributes"]["trace"] == json{{"type", "String"},
                                           {"value", "abc"}});
  CHECK(got["attributes"]["n"]["type"] == "Number.int");
  CHECK(got["attributes"]["blob"]["value"] == "AP8=");
  expect_error("POST", "/queues/attrs/messages",
               R"({"message": "m", "attributes": {"a": {"type": "Text",
                   "value": "x"}}})",
               400, "attributes are refused: attribute 'a' has a type");
  expect_error("POST", "/queues/attrs/messages",
               R"({"message": "m", "attributes": {"a": {"type": "Binary",
                   "value": "!!"}}})",
               400, "not base64");
  expect_error("POST", "/queues/attrs/messages",
               R"({"message": "m", "attributes": {"a": "x"}})", 400,
               "attributes must map each name");
  // Attributes count in a message's size (the server's limit is 1 KiB).
  expect_error("POST", "/queues/attrs/messages",
               R"({"message": "m", "attributes": {"a": {"type": "String",
                   "value": ")"
                 + std::string(1100, 'x') + R"("}}})",
               413, "larger than");
}
