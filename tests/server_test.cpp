#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "actormq/queue_actor.hpp"
#include "http_client.hpp"
#include "memory_store.hpp"
#include "running_server.hpp"

using namespace actormq;

namespace {

/// The real server, messages up to 64 bytes, and its default queue.
struct server_fixture : test::running_server {
  queue_actor q = default_queue();

  server_fixture() : running_server(64) {
    // nop
  }

  queue_actor default_queue() {
    caf::scoped_actor self{sys};
    queue_actor result;
    self
      ->request(reg, caf::infinite, atom::get::value, std::string{"default"},
                true)
      .receive([&](queue_actor& x) { result = std::move(x); },
               [&](caf::error&) { FAIL("registry did not answer"); });
    return result;
  }

  /// Takes the next message from the queue (leased, not acked).
  std::optional<message> take() {
    caf::scoped_actor self{sys};
    std::optional<message> result;
    self
      ->request(q, caf::infinite, atom::receive::value, uint32_t{1},
                caf::timespan{0}, caf::timespan{0})
      .receive(
        [&](std::vector<lease>& xs) {
          if (!xs.empty())
            result = std::move(xs[0].msg);
        },
        [&](caf::error&) { FAIL("queue did not answer"); });
    return result;
  }

  uint64_t depth() {
    caf::scoped_actor self{sys};
    uint64_t result = 0;
    self->request(q, caf::infinite, atom::stats::value)
      .receive([&](queue_stats& x) { result = x.ready; },
               [&](caf::error&) { FAIL("queue did not answer"); });
    return result;
  }
};

constexpr std::string_view json_header = "Content-Type: application/json\r\n";

void check_json_error(const test::http_response& r, int status,
                      std::string_view text) {
  CHECK(r.status == status);
  CHECK(r.header("content-type") == "application/json; charset=utf-8");
  CHECK(r.header("access-control-allow-origin") == "*");
  CHECK(r.body == R"({"error":")" + std::string{text} + R"("})");
}

} // namespace

TEST_CASE_METHOD(server_fixture, "POST /enqueue answers like the original") {
  test::http_client c{port()};
  auto r = c.enqueue_json(R"({"message":"hello"})");
  CHECK(r.status == 200);
  CHECK(r.body == R"({"success":"Message enqueued","id":1})");
  CHECK(r.header("content-type") == "application/json; charset=utf-8");
  CHECK(r.header("access-control-allow-origin") == "*");
  // The reply is the promise: the queue already holds the message.
  auto m = take();
  REQUIRE(m);
  CHECK(m->data.body == "hello");
  CHECK(m->data.kind == payload_kind::text);
}

TEST_CASE_METHOD(server_fixture, "any JSON value but null and \"\" is one") {
  test::http_client c{port()};
  for (auto body : {R"({"message":3.5})", R"({"message":{"k":[1,"x"]}})",
                    R"({"message":[]})", R"({"message":true})"}) {
    INFO(body);
    CHECK(c.enqueue_json(body).status == 200);
  }
  CHECK(take()->data.body == "3.5");
  CHECK(take()->data.body == R"({"k":[1,"x"]})");
  CHECK(take()->data.body == "[]");
  CHECK(take()->data.body == "true");
}

TEST_CASE_METHOD(server_fixture, "a missing, null or empty message is 400") {
  test::http_client c{port()};
  for (auto body : {"{}", R"({"message":null})", R"({"message":""})"}) {
    INFO(body);
    check_json_error(c.enqueue_json(body), 400, "Message is required");
  }
  check_json_error(c.request("POST", "/enqueue"), 400, "Message is required");
  CHECK(depth() == 0);
}

TEST_CASE_METHOD(server_fixture, "a form body is accepted too") {
  test::http_client c{port()};
  auto r = c.request("POST", "/enqueue", "message=from+a+form%21",
                     "Content-Type: application/x-www-form-urlencoded\r\n");
  CHECK(r.status == 200);
  CHECK(take()->data.body == "from a form!");
}

TEST_CASE_METHOD(server_fixture, "GET /healthz and unknown routes") {
  test::http_client c{port()};
  auto r = c.request("GET", "/healthz");
  CHECK(r.status == 200);
  CHECK(r.body == R"({"data":"ok"})");
  CHECK(r.header("content-type") == "application/json; charset=utf-8");
  for (auto path : {"/nope", "/queues/q/nope", "/enqueue/x", "/queues//ack"}) {
    INFO(path);
    auto nf = c.request("GET", path);
    CHECK(nf.status == 404);
    CHECK(nf.body == R"({"data":"Not Found"})");
    CHECK(nf.header("access-control-allow-origin") == "*");
  }
  c.send("HEAD", "/healthz");
  auto head = c.read_response(true);
  CHECK(head.status == 200);
  CHECK(head.header("content-length") == "13");
  CHECK(c.request("GET", "/HEALTHZ/").status == 200);
}

TEST_CASE_METHOD(server_fixture, "a route without the method: 405, Allow") {
  test::http_client c{port()};
  std::tuple<const char*, const char*, const char*> cases[] = {
    {"GET", "/enqueue", "POST, OPTIONS"},
    {"DELETE", "/enqueue", "POST, OPTIONS"},
    {"POST", "/healthz", "GET, HEAD, OPTIONS"},
    {"PUT", "/metrics", "GET, HEAD, OPTIONS"},
    {"POST", "/queues", "GET, HEAD, OPTIONS"},
    {"POST", "/queues/q", "GET, HEAD, PUT, DELETE, OPTIONS"},
    {"GET", "/queues/q/receive", "POST, OPTIONS"},
    {"HEAD", "/queues/q/ack", "POST, OPTIONS"},
    {"POST", "/queues/q/peek", "GET, HEAD, OPTIONS"},
  };
  for (auto [method, path, allow] : cases) {
    INFO(method << " " << path);
    c.send(method, path);
    auto r = c.read_response(std::string_view{method} == "HEAD");
    CHECK(r.status == 405);
    CHECK(r.reason == "Method Not Allowed");
    CHECK(r.header("allow") == allow);
    if (std::string_view{method} != "HEAD")
      CHECK(r.body == R"({"error":"Method is not allowed on this route; )"
                      R"(the Allow header lists those that are"})");
  }
  // The connection stayed in step.
  CHECK(c.request("GET", "/healthz").status == 200);
}

TEST_CASE_METHOD(server_fixture, "HEAD works wherever GET does, bodiless") {
  test::http_client c{port()};
  REQUIRE(c.request("PUT", "/queues/q").status == 200);
  for (auto path : {"/healthz", "/queues", "/queues/q", "/metrics",
                    "/queues/q/peek?max=2", "/queues/none", "/nope"}) {
    INFO(path);
    auto get = c.request("GET", path);
    // HEAD, with a GET pipelined behind it: no body may come between.
    c.send("HEAD", path);
    c.send("GET", "/healthz");
    auto head = c.read_response(true);
    CHECK(head.status == get.status);
    CHECK(head.header("content-length")
          == std::to_string(get.body.size()));
    CHECK(head.header("content-type") == get.header("content-type"));
    auto after = c.read_response();
    CHECK(after.status == 200);
    CHECK(after.body == R"({"data":"ok"})");
  }
}

TEST_CASE_METHOD(server_fixture, "a method no route implements is 501") {
  for (auto method : {"PATCH", "TRACE", "PROPFIND"}) {
    INFO(method);
    test::http_client c{port()};
    c.send(method, "/queues/q");
    c.send("GET", "/healthz");
    auto r = c.read_response();
    check_json_error(r, 501,
                     "Method is not implemented; use GET, HEAD, POST, PUT, "
                     "DELETE or OPTIONS");
    CHECK(r.reason == "Not Implemented");
    CHECK(c.read_response().status == 200);
  }
}

TEST_CASE_METHOD(server_fixture, "CORS preflight is answered") {
  test::http_client c{port()};
  auto r = c.request("OPTIONS", "/enqueue", {},
                     "Origin: http://example.com\r\n"
                     "Access-Control-Request-Method: POST\r\n"
                     "Access-Control-Request-Headers: content-type\r\n");
  CHECK(r.status == 204);
  CHECK(r.header("access-control-allow-origin") == "*");
  CHECK(r.header("access-control-allow-methods")
        == "GET,HEAD,PUT,PATCH,POST,DELETE");
  CHECK(r.header("access-control-allow-headers") == "content-type");
  CHECK(r.body.empty());
}

TEST_CASE_METHOD(server_fixture,
                 "HTTP/1.1 connections stay open without a Connection header") {
  test::http_client c{port()};
  for (int i = 0; i < 3; ++i) {
    auto r = c.enqueue_json(R"({"message":"again"})");
    CHECK(r.status == 200);
    CHECK(r.header("connection") == "keep-alive");
  }
  CHECK(depth() == 3);
  auto last = c.request("GET", "/healthz", {}, "Connection: close\r\n");
  CHECK(last.header("connection") == "close");
  CHECK(c.closed_by_server());
}

TEST_CASE_METHOD(server_fixture, "pipelined requests are answered in order") {
  test::http_client c{port()};
  c.send_raw(test::three_pipelined);
  CHECK(c.read_response().body == R"({"success":"Message enqueued","id":1})");
  CHECK(c.read_response().body == R"({"data":"ok"})");
  CHECK(c.read_response().body == R"({"success":"Message enqueued","id":2})");
}

TEST_CASE_METHOD(server_fixture, "bad bodies get clear JSON errors") {
  test::http_client c{port()};
  check_json_error(c.enqueue_json(R"({"message":)"), 400,
                   R"(Body is not valid JSON; send an object such as )"
                   R"({\"message\": \"hello\"})");
  check_json_error(c.enqueue_json(R"(["hello"])"), 400,
                   R"(Body must be a JSON object such as )"
                   R"({\"message\": \"hello\"})");
  check_json_error(c.enqueue_json("{\"message\":\"\xc3\x28\"}"), 400,
                   "Body is not valid UTF-8");
  check_json_error(c.request("POST", "/enqueue", "hello",
                             "Content-Type: text/plain\r\n"),
                   415,
                   "Content-Type must be application/json or "
                   "application/x-www-form-urlencoded");
  auto big = R"({"message":")" + std::string(65, 'x') + R"("})";
  check_json_error(c.enqueue_json(big), 413,
                   "Message is larger than the server's limit "
                   "(--max-message-bytes)");
  // The connection survived all of it, and nothing was enqueued.
  CHECK(c.enqueue_json(R"({"message":"fine"})").status == 200);
  CHECK(depth() == 1);
}

TEST_CASE_METHOD(server_fixture, "malformed requests get 400 at once") {
  for (auto bytes :
       {"GARBAGE\r\n\r\n", "GET\r\n\r\n", "GET / HTTP/0.9\r\n\r\n",
        "POST /enqueue HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
        "POST /enqueue HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
        "Content-Length: 2\r\n\r\n{}"}) {
    INFO(bytes);
    test::http_client c{port()};
    c.send_raw(bytes);
    auto r = c.read_response();
    check_json_error(r, 400, "Malformed HTTP request");
    CHECK(r.header("connection") == "close");
    CHECK(c.closed_by_server());
  }
  test::http_client after{port()};
  CHECK(after.request("GET", "/healthz").status == 200);
}

TEST_CASE_METHOD(server_fixture, "oversized headers and bodies are refused") {
  {
    test::http_client c{port()};
    auto r = c.request("GET", "/healthz", {},
                       "X-Big: " + std::string(4096, 'a') + "\r\n");
    check_json_error(r, 431, "Request headers are too large");
    CHECK(c.closed_by_server());
  }
  {
    // Beyond what any message within the limit can take, the body is not
    // even read.
    test::http_client c{port()};
    c.send_raw("POST /enqueue HTTP/1.1\r\nHost: x\r\n"
               "Content-Type: application/json\r\n"
               "Content-Length: 100000000\r\n\r\n");
    check_json_error(c.read_response(), 413,
                     "Message is larger than the server's limit "
                     "(--max-message-bytes)");
  }
  CHECK(depth() == 0);
}

TEST_CASE_METHOD(server_fixture, "Expect: 100-continue gets its interim") {
  test::http_client c{port()};
  c.send_raw("POST /enqueue HTTP/1.1\r\nHost: x\r\n"
             "Content-Type: application/json\r\n"
             "Expect: 100-continue\r\nContent-Length: 15\r\n\r\n");
  CHECK(c.read_response().status == 100);
  c.send_raw(R"({"message":"a"})");
  CHECK(c.read_response().status == 200);
}

TEST_CASE_METHOD(server_fixture, "many connections at once all get answers") {
  std::vector<std::unique_ptr<test::http_client>> clients;
  for (int i = 0; i < 50; ++i)
    clients.push_back(std::make_unique<test::http_client>(port()));
  for (auto& c : clients)
    c->send("POST", "/enqueue", R"({"message":"m"})", json_header);
  for (auto& c : clients)
    CHECK(c->read_response().status == 200);
  CHECK(depth() == 50);
}

TEST_CASE("a failing store answers 507, turns /healthz 503, and heals") {
  auto db = std::make_shared<test::memory_store>();
  test::running_server s{1024, 0, db};
  test::http_client c{s.port()};
  REQUIRE(c.enqueue_json(R"({"message":"kept"})").status == 200);
  db->failing = true;
  auto r = c.enqueue_json(R"({"message":"not saved"})");
  CHECK(r.status == 507);
  CHECK(r.header("content-type").find("application/json") == 0);
  CHECK(r.body.find("could not be saved") != std::string::npos);
  CHECK(r.body.find("No space") == std::string::npos);
  auto h = c.request("GET", "/healthz");
  CHECK(h.status == 503);
  CHECK(h.body.find("Storage is failing") != std::string::npos);
  db->failing = false;
  // The storage actor probes the store every 20 ms here.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{5};
  while (c.request("GET", "/healthz").status != 200
         && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  CHECK(c.request("GET", "/healthz").body == R"({"data":"ok"})");
  CHECK(c.enqueue_json(R"({"message":"saved"})").status == 200);
  size_t stored = 0;
  for (auto& [k, v] : db->data)
    stored += k.front() == 'm' ? 1 : 0;
  CHECK(stored == 2);
}

TEST_CASE("a failing store's 507 names its status") {
  auto db = std::make_shared<test::memory_store>();
  test::running_server s{1024, 0, db};
  test::http_client c{s.port()};
  db->failing = true;
  auto r = c.enqueue_json(R"({"message":"not saved"})");
  CHECK(r.status == 507);
  CHECK(r.reason == "Insufficient Storage");
}

TEST_CASE("JSON nested deeper than 64 levels is a 400 on every route") {
  // Room for a body of 200,000 brackets.
  test::running_server s{1024 * 1024};
  constexpr size_t depth = 100000;
  auto deep = R"({"message":)" + std::string(depth, '[')
              + std::string(depth, ']') + "}";
  std::pair<const char*, const char*> routes[] = {
    {"POST", "/enqueue"},        {"POST", "/queues/q/messages"},
    {"PUT", "/queues/q"},        {"POST", "/queues/q/receive"},
    {"POST", "/queues/q/ack"},   {"POST", "/queues/q/release"},
    {"POST", "/queues/q/extend"}, {"POST", "/queues/q/purge"},
    {"POST", "/queues/q/redrive"},
  };
  for (auto [method, path] : routes) {
    INFO(method << " " << path);
    test::http_client c{s.port()};
    check_json_error(c.request(method, path, deep, json_header), 400,
                     "Body nests arrays and objects deeper than 64 levels");
    // The connection is fine afterwards.
    CHECK(c.request("GET", "/healthz").status == 200);
  }
  // The body object is the first level: 63 more are fine, 64 are not.
  test::http_client c{s.port()};
  auto nested = [](size_t n) {
    return R"({"message":)" + std::string(n, '[') + std::string(n, ']')
           + "}";
  };
  CHECK(c.enqueue_json(nested(63)).status == 200);
  CHECK(c.enqueue_json(nested(64)).status == 400);
  auto objects = std::string{R"({"message":)"};
  for (int i = 0; i < 64; ++i)
    objects += R"({"a":)";
  objects += "1" + std::string(65, '}');
  CHECK(c.enqueue_json(objects).status == 400);
}

TEST_CASE("stop() ends as soon as nothing is in flight") {
  test::running_server s{1024};
  {
    test::http_client c{s.port()};
    REQUIRE(c.enqueue_json(R"({"message":"a"})").status == 200);
    REQUIRE(c.request("POST", "/queues/default/receive", "{}", json_header)
              .status
            == 200);
    REQUIRE(c.request("GET", "/nope").status == 404);
  }
  auto t0 = std::chrono::steady_clock::now();
  s.srv.stop();
  CHECK(std::chrono::steady_clock::now() - t0
        < std::chrono::milliseconds{250});
}

namespace {

using std::chrono::milliseconds;
using test_clock = std::chrono::steady_clock;
using test::resident_bytes;

/// A server with short timeouts: 200 ms for headers, 400 ms for a whole
/// request, 300 ms for an idle connection.
struct timeout_fixture : test::running_server {
  timeout_fixture()
    : running_server(64, 0, nullptr, [](actormq::http::server_config& c) {
        c.header_timeout = milliseconds{200};
        c.request_timeout = milliseconds{400};
        c.idle_timeout = milliseconds{300};
      }) {
    // nop
  }
};

milliseconds since(test_clock::time_point t0) {
  return std::chrono::duration_cast<milliseconds>(test_clock::now() - t0);
}

/// Sends `bytes` one at a time, `gap` apart, until `stop` or the server
/// closes.
void trickle(test::http_client& c, std::string bytes, milliseconds gap,
             const std::atomic<bool>& stop) {
  try {
    for (auto b : bytes) {
      if (stop)
        return;
      c.send_raw(std::string(1, b));
      std::this_thread::sleep_for(gap);
    }
  } catch (const std::runtime_error&) {
    // The server closed the connection.
  }
}

constexpr std::string_view timeout_text
  = "Request did not arrive in time (--header-timeout, --request-timeout)";

} // namespace

TEST_CASE_METHOD(timeout_fixture, "headers that stall get 408 in time") {
  test::http_client c{port()};
  auto t0 = test_clock::now();
  c.send_raw("GET /healthz HTTP/1.1\r\nHost: x\r\n");
  auto r = c.read_response();
  check_json_error(r, 408, timeout_text);
  CHECK(r.reason == "Request Timeout");
  CHECK(r.header("connection") == "close");
  CHECK(c.closed_by_server());
  CHECK(since(t0) >= milliseconds{150});
  CHECK(since(t0) < milliseconds{1500});
}

TEST_CASE_METHOD(timeout_fixture, "a connection that sends nothing gets 408") {
  test::http_client c{port()};
  auto t0 = test_clock::now();
  check_json_error(c.read_response(), 408, timeout_text);
  CHECK(since(t0) < milliseconds{1500});
}

TEST_CASE_METHOD(timeout_fixture, "a body trickled byte by byte is cut off") {
  for (auto chunked : {false, true}) {
    INFO("chunked: " << chunked);
    test::http_client c{port()};
    std::string body;
    if (chunked) {
      c.send_raw("POST /enqueue HTTP/1.1\r\nHost: x\r\n"
                 "Content-Type: application/json\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n");
      for (int i = 0; i < 40; ++i)
        body += "1\r\nx\r\n";
    } else {
      c.send_raw("POST /enqueue HTTP/1.1\r\nHost: x\r\n"
                 "Content-Type: application/json\r\n"
                 "Content-Length: 60\r\n\r\n");
      body = std::string(60, ' ');
    }
    auto t0 = test_clock::now();
    std::atomic<bool> stop{false};
    std::thread sender{[&] { trickle(c, body, milliseconds{20}, stop); }};
    auto r = c.read_response();
    stop = true;
    sender.join();
    check_json_error(r, 408, timeout_text);
    CHECK(since(t0) >= milliseconds{300});
    CHECK(since(t0) < milliseconds{1500});
  }
}

TEST_CASE_METHOD(timeout_fixture, "idle keep-alive connections are closed") {
  test::http_client c{port()};
  CHECK(c.request("GET", "/healthz").status == 200);
  // Well within the idle timeout, the connection serves again.
  std::this_thread::sleep_for(milliseconds{150});
  CHECK(c.request("GET", "/healthz").status == 200);
  auto t0 = test_clock::now();
  CHECK(c.closed_by_server());
  CHECK(since(t0) >= milliseconds{250});
  CHECK(since(t0) < milliseconds{1500});
}

TEST_CASE("past --max-connections a connection gets 503 and is closed") {
  test::running_server s{64, 0, nullptr, [](actormq::http::server_config& c) {
                           c.max_connections = 3;
                         }};
  std::vector<std::unique_ptr<test::http_client>> open;
  for (int i = 0; i < 3; ++i) {
    open.push_back(std::make_unique<test::http_client>(s.port()));
    REQUIRE(open.back()->request("GET", "/healthz").status == 200);
  }
  {
    test::http_client extra{s.port()};
    auto r = extra.read_response();
    check_json_error(r, 503,
                     "Server is at its connection limit (--max-connections); "
                     "retry later");
    CHECK(r.header("retry-after") == "1");
    CHECK(extra.closed_by_server());
  }
  // The open ones are unaffected.
  for (auto& c : open)
    CHECK(c->request("GET", "/healthz").status == 200);
  // Room returns as connections close.
  open.pop_back();
  auto deadline = test_clock::now() + milliseconds{2000};
  int status = 0;
  while (status != 200 && test_clock::now() < deadline) {
    test::http_client again{s.port()};
    status = again.request("GET", "/healthz").status;
  }
  CHECK(status == 200);
}

TEST_CASE("past --max-connections the 503 is followed by a close at once") {
  test::running_server s{64, 0, nullptr, [](actormq::http::server_config& c) {
                           c.max_connections = 1;
                         }};
  test::http_client first{s.port()};
  REQUIRE(first.request("GET", "/healthz").status == 200);
  test::http_client extra{s.port()};
  CHECK(extra.read_response().status == 503);
  auto t0 = test_clock::now();
  CHECK(extra.closed_by_server());
  // The server let go of its descriptor (it does not linger reading): what
  // the client sends now meets a reset.
  auto reset = false;
  while (!reset && since(t0) < milliseconds{200}) {
    try {
      extra.send_raw("x");
      std::this_thread::sleep_for(milliseconds{10});
    } catch (const std::runtime_error&) {
      reset = true;
    }
  }
  CHECK(reset);
}

TEST_CASE("a long poll whose client left holds its slot until it ends") {
  test::running_server s{64, 0, nullptr, [](actormq::http::server_config& c) {
                           c.max_connections = 4;
                         }};
  {
    caf::scoped_actor self{s.sys};
    self->request(s.reg, caf::infinite, atom::get::value, std::string{"q"},
                  true)
      .receive([](queue_actor&) {},
               [](caf::error&) { FAIL("registry did not answer"); });
  }
  auto t0 = test_clock::now();
  {
    std::vector<std::unique_ptr<test::http_client>> polls;
    for (int i = 0; i < 4; ++i) {
      polls.push_back(std::make_unique<test::http_client>(s.port()));
      polls.back()->send("POST", "/queues/q/receive", R"({"wait_seconds":2})",
                         json_header);
    }
    std::this_thread::sleep_for(milliseconds{100});
  }
  // The server saw them leave; their long polls still wait, and count.
  std::this_thread::sleep_for(milliseconds{100});
  {
    test::http_client extra{s.port()};
    check_json_error(extra.read_response(), 503,
                     "Server is at its connection limit (--max-connections); "
                     "retry later");
  }
  // Once the polls end, their slots are free again.
  std::this_thread::sleep_until(t0 + milliseconds{2600});
  test::http_client again{s.port()};
  CHECK(again.request("GET", "/healthz").status == 200);
}

TEST_CASE_METHOD(server_fixture, "chunked bodies work within the limits") {
  test::http_client c{port()};
  auto chunked = "POST /enqueue HTTP/1.1\r\nHost: x\r\n"
                 "Content-Type: application/json\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n";
  c.send_raw(std::string{chunked} + "8\r\n{\"messag\r\n7\r\ne\":\"hi\"\r\n"
             "1\r\n}\r\n0\r\n\r\n");
  CHECK(c.read_response().status == 200);
  CHECK(take()->data.body == "hi");
  // Chunks past what any message within the limit needs: 413.
  c.send_raw(chunked);
  std::string big(1000, 'x');
  for (int i = 0; i < 70; ++i)
    c.send_raw("3e8\r\n" + big + "\r\n");
  check_json_error(c.read_response(), 413,
                   "Message is larger than the server's limit "
                   "(--max-message-bytes)");
  // Content-Length beside Transfer-Encoding is refused.
  test::http_client both{port()};
  both.send_raw("POST /enqueue HTTP/1.1\r\nHost: x\r\n"
                "Content-Type: application/json\r\n"
                "Content-Length: 15\r\nTransfer-Encoding: chunked\r\n\r\n"
                "f\r\n{\"message\":\"a\"}\r\n0\r\n\r\n");
  check_json_error(both.read_response(), 400, "Malformed HTTP request");
  CHECK(depth() == 0);
}

TEST_CASE("a pipeliner that never reads its replies is held back by TCP") {
  test::running_server s{64};
  std::string batch;
  while (batch.size() < 64 * 1024)
    batch += "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  auto before = resident_bytes();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(s.port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
          == 0);
  // Sends for 1.5 s at most, or until the socket stays full for 300 ms.
  timeval tv{0, 300 * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  size_t sent = 0;
  auto t0 = test_clock::now();
  while (since(t0) < milliseconds{1500}) {
    auto n = ::send(fd, batch.data(), batch.size(), MSG_NOSIGNAL);
    if (n <= 0)
      break;
    sent += static_cast<size_t>(n);
  }
  std::this_thread::sleep_for(milliseconds{200});
  auto grown = resident_bytes() - std::min(before, resident_bytes());
  WARN("pipeliner sent " << sent / 1024 << " KiB; resident memory grew by "
                         << grown / 1024 << " KiB");
  CHECK(grown < 64u * 1024 * 1024);
  // The server still serves others.
  test::http_client other{s.port()};
  CHECK(other.request("GET", "/healthz").status == 200);
  ::close(fd);
}

TEST_CASE("a client that pipelines without end shares its thread") {
  // One HTTP thread: the flood and the other client meet on it.
  test::running_server s{64, 0, nullptr,
                         [](actormq::http::server_config& c) {
                           c.threads = 1;
                         }};
  std::string batch;
  while (batch.size() < 64 * 1024)
    batch += "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  test::http_client flood{s.port()};
  std::atomic<bool> done{false};
  // Sends as fast as the server reads, and reads every reply.
  std::thread sender{[&] {
    try {
      while (!done)
        flood.send_raw(batch);
    } catch (const std::exception&) {
      // The socket closed at the end of the test.
    }
  }};
  std::thread reader{[&] {
    char buf[64 * 1024];
    while (!done && ::recv(flood.fd(), buf, sizeof(buf), 0) > 0)
      continue;
  }};
  std::this_thread::sleep_for(milliseconds{200});
  // Before, the flood held the thread: the other client waited for its
  // whole length (its read timed out after 5 s).
  test::http_client other{s.port()};
  auto slowest = milliseconds{0};
  for (int i = 0; i < 20; ++i) {
    auto t0 = test_clock::now();
    CHECK(other.request("GET", "/healthz").status == 200);
    slowest = std::max(slowest, since(t0));
  }
  done = true;
  ::shutdown(flood.fd(), SHUT_RDWR);
  sender.join();
  reader.join();
  WARN("slowest answer beside the flood: " << slowest.count() << " ms");
  CHECK(slowest < milliseconds{2000});
}

TEST_CASE("a client that never reads its replies is reset (--send-timeout)") {
  // Kept alive, the reply leaves the connection writing; with "Connection:
  // close", closing. Either way the client never takes a byte. A small
  // reply goes to the kernel whole (so does a large one where tcp_wmem is
  // large): the connection looks idle while the kernel still holds it.
  // (Few large bodies: under TSan, each body copied between actors costs
  // a suppressed report, as CAF's mailbox is uninstrumented.)
  for (auto messages : {3, 1}) {
    for (auto close : {false, true}) {
      INFO("messages " << messages << ", Connection: close " << close);
      test::running_server s{1024 * 1024, 0, nullptr,
                             [](actormq::http::server_config& c) {
                               c.send_timeout = milliseconds{300};
                               c.max_connections = 2;
                             }};
      test::http_client setup{s.port()};
      size_t body_bytes = messages == 1 ? 8000 : 200000;
      auto body = R"({"message":")" + std::string(body_bytes, 'x')
                  + R"("})";
      for (int i = 0; i < messages; ++i)
        REQUIRE(setup.request("POST", "/queues/q/messages", body, json_header)
                  .status
                == 200);
      // A reply (~600 KB or ~8 KB) for a client with a 4 KiB window that
      // reads nothing.
      int fd = test::connect_loopback(s.port(), 4096);
      std::string get = "GET /queues/q/peek?max=100 HTTP/1.1\r\nHost: x\r\n";
      get += close ? "Connection: close\r\n\r\n" : "\r\n";
      REQUIRE(::send(fd, get.data(), get.size(), MSG_NOSIGNAL)
              == static_cast<ssize_t>(get.size()));
      auto sent = test_clock::now();
      // The server lets go of it (300 ms after the kernel stopped taking
      // bytes): beside `setup`, the limit of two has room again. Before,
      // the slot was held until --idle-timeout (60 s). Under the sanitizers
      // on a busy machine the reply alone can take seconds to build.
      auto room = [&] {
        test::http_client next{s.port()};
        return next.request("GET", "/healthz").status == 200;
      };
      std::this_thread::sleep_for(milliseconds{1500});
      auto freed = false;
      while (!(freed = room()) && since(sent) < milliseconds{15000})
        std::this_thread::sleep_for(milliseconds{200});
      CHECK(freed);
      // The client gets what its window held, then the reset.
      timeval tv{2, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      size_t got = 0;
      char buf[65536];
      ssize_t n;
      while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0)
        got += static_cast<size_t>(n);
      CHECK((n == 0 || errno == ECONNRESET));
      CHECK(got < messages * body_bytes);
      if (messages == 1)
        CHECK(n == -1);
      ::close(fd);
    }
  }
}

TEST_CASE("2,000 idle connections cost under 64 KiB each") {
  test::running_server s{64};
  constexpr size_t n = 2000;
  std::vector<std::unique_ptr<test::http_client>> clients;
  clients.reserve(n);
  auto before = resident_bytes();
  for (size_t i = 0; i < n; ++i) {
    clients.push_back(std::make_unique<test::http_client>(s.port()));
    clients.back()->send("GET", "/healthz");
  }
  for (auto& c : clients)
    REQUIRE(c->read_response().status == 200);
  auto per_connection = (resident_bytes() - std::min(before, resident_bytes()))
                        / n;
  WARN("resident memory per idle connection: " << per_connection << " bytes");
  CHECK(per_connection < 64u * 1024);
}

namespace {

/// An actor that never answers. As the registry it hands itself out as
/// every queue, so requests to queues go unanswered too. (A class: CAF
/// 0.17 spawns a function actor without arguments through a null pointer,
/// which UBSan reports.)
class silent_actor : public caf::event_based_actor {
public:
  explicit silent_actor(caf::actor_config& cfg) : event_based_actor(cfg) {
    set_default_handler(
      [](caf::scheduled_actor*,
         caf::message_view&) -> caf::result<caf::message> {
        return caf::delegated<caf::message>{};
      });
  }

  caf::behavior make_behavior() override {
    return {
      [=](atom::get, const std::string&, bool) {
        return caf::actor_cast<queue_actor>(this);
      },
    };
  }
};

/// A server in front of silent_actor, with a backstop of `actor_timeout`
/// (300 ms beyond a receive's wait).
struct silent_server : test::running_server {
  explicit silent_server(milliseconds actor_timeout)
    : running_server(
      64, 0, nullptr,
      [actor_timeout](actormq::http::server_config& c) {
        c.actor_timeout = actor_timeout;
        c.receive_margin = milliseconds{300};
      },
      [](caf::actor_system& sys, actormq::registry_config) {
        return caf::actor_cast<registry_actor>(sys.spawn<silent_actor>());
      }) {
    // nop
  }
};

struct silent_fixture : silent_server {
  silent_fixture() : silent_server(milliseconds{200}) {
    // nop
  }
};

} // namespace

TEST_CASE_METHOD(silent_fixture, "an actor that never answers gets a 503") {
  test::http_client c{port()};
  // Each call gets 503 between `earliest` and `latest`; a request pipelined
  // behind it is answered after it: the connection stays in step.
  auto check = [&](std::string_view method, std::string_view path,
                   std::string_view body, milliseconds earliest,
                   milliseconds latest) {
    INFO(method << " " << path);
    auto t0 = test_clock::now();
    c.send(method, path, body, json_header);
    c.send("GET", "/healthz");
    check_json_error(c.read_response(), 503,
                     "Queue is unavailable; retry later");
    CHECK(since(t0) >= earliest);
    CHECK(since(t0) < latest);
    CHECK(c.read_response().status == 200);
  };
  for (auto [method, path] :
       {std::pair{"GET", "/queues"}, std::pair{"GET", "/queues/q"},
        std::pair{"PUT", "/queues/q"}, std::pair{"DELETE", "/queues/q"},
        std::pair{"GET", "/metrics"}})
    check(method, path, {}, milliseconds{150}, milliseconds{4000});
  check("POST", "/queues/q/messages", R"({"message":"m"})",
        milliseconds{150}, milliseconds{4000});
  // A receive waits its long poll plus the margin.
  check("POST", "/queues/q/receive", R"({"wait_seconds":1})",
        milliseconds{1250}, milliseconds{4500});
}

TEST_CASE_METHOD(silent_fixture,
                 "an SQS request the actors never answer gets SQS's 503") {
  test::http_client c{port()};
  // In the client's protocol: JSON with x-amzn-query-error, or Query's XML.
  c.send("POST", "/", R"({"QueueUrl":"http://h/000000000000/q"})",
         "X-Amz-Target: AmazonSQS.PurgeQueue\r\n"
         "Content-Type: application/x-amz-json-1.0\r\n");
  auto r = c.read_response();
  CHECK(r.status == 503);
  CHECK(r.body.find("com.amazonaws.sqs#ServiceUnavailable")
        != std::string::npos);
  CHECK(r.header("x-amzn-query-error") == "ServiceUnavailable;Receiver");
  CHECK(r.header("retry-after") == "1");
  auto t0 = test_clock::now();
  c.send("POST", "/000000000000/q",
         "Action=ReceiveMessage&WaitTimeSeconds=1",
         "Content-Type: application/x-www-form-urlencoded\r\n");
  auto q = c.read_response();
  CHECK(q.status == 503);
  CHECK(q.body.find("<Code>ServiceUnavailable</Code>") != std::string::npos);
  // A receive waits its long poll plus the margin.
  CHECK(since(t0) >= milliseconds{1250});
}

TEST_CASE("a request its bridge drops unanswered stops counting in flight") {
  // The backstop is far off: only the responder's end can uncount it.
  silent_server s{std::chrono::seconds{30}};
  {
    test::http_client c{s.port()};
    c.send("GET", "/queues");
    std::this_thread::sleep_for(milliseconds{100});
  }
  // The server saw the client leave; the bridges end, dropping the request.
  std::this_thread::sleep_for(milliseconds{100});
  {
    caf::scoped_actor self{s.sys};
    for (auto& b : s.srv.bridges()) {
      self->send_exit(b, caf::exit_reason::kill);
      self->wait_for(b);
    }
  }
  auto t0 = test_clock::now();
  s.srv.stop();
  CHECK(since(t0) < milliseconds{250});
}

TEST_CASE("a request whose bridge dies is answered 503 at once") {
  // The backstop is far off: only the responder's end can answer it.
  silent_server s{std::chrono::seconds{30}};
  test::http_client c{s.port()};
  c.send("GET", "/queues");
  c.send("GET", "/healthz");
  std::this_thread::sleep_for(milliseconds{100});
  auto t0 = test_clock::now();
  for (auto& b : s.srv.bridges())
    caf::anon_send_exit(b, caf::exit_reason::unhandled_exception);
  check_json_error(c.read_response(), 503,
                   "Queue is unavailable; retry later");
  CHECK(since(t0) < milliseconds{2000});
  // The connection stays in step: what waited behind it is served.
  CHECK(c.read_response().status == 200);
}

TEST_CASE_METHOD(server_fixture, "a bridge that dies is replaced") {
  auto before = srv.bridges();
  REQUIRE(before.size() == 2);
  for (auto& b : before)
    caf::anon_send_exit(b, caf::exit_reason::unhandled_exception);
  auto replaced = [&] {
    auto now = srv.bridges();
    for (auto& b : now)
      if (std::find(before.begin(), before.end(), b) != before.end())
        return false;
    return now.size() == before.size();
  };
  auto deadline = test_clock::now() + milliseconds{2000};
  while (!replaced() && test_clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds{5});
  REQUIRE(replaced());
  // Every request goes to a live bridge: all are answered.
  test::http_client c{port()};
  for (int i = 0; i < 8; ++i)
    CHECK(c.enqueue_json(R"({"message":"m"})").status == 200);
  CHECK(c.request("GET", "/queues").status == 200);
  CHECK(depth() == 8);
}

TEST_CASE_METHOD(silent_fixture,
                 "a bridge gives up on an actor that never answers") {
  // How many answers the bridges wait for now.
  auto waiting = [&] {
    size_t n = 0;
    caf::scoped_actor self{sys};
    for (auto& b : srv.bridges())
      self->request(b, std::chrono::seconds{5}, atom::stats::value)
        .receive([&](size_t x) { n += x; },
                 [&](caf::error& err) { FAIL(sys.render(err)); });
    return n;
  };
  // Until it is there or `limit` has passed, waits for `n` waiting answers.
  auto wait_until = [&](size_t n, milliseconds limit) {
    auto deadline = test_clock::now() + limit;
    while (waiting() != n && test_clock::now() < deadline)
      std::this_thread::sleep_for(milliseconds{10});
    return waiting();
  };
  auto t0 = test_clock::now();
  test::http_client a{port()};
  test::http_client b{port()};
  a.send("GET", "/queues");
  b.send("POST", "/queues/q/messages", R"({"message":"m"})", json_header);
  CHECK(wait_until(2, milliseconds{1000}) == 2);
  for (auto* c : {&a, &b})
    check_json_error(c->read_response(), 503,
                     "Queue is unavailable; retry later");
  // The connections answered at their 200 ms backstop; the bridges let
  // go a second after it.
  CHECK(wait_until(0, milliseconds{5000}) == 0);
  CHECK(since(t0) >= milliseconds{1200});
  // The bridges live on and serve.
  CHECK(a.request("GET", "/healthz").status == 200);
}

namespace {

/// A registry that hands out `queue` for every name, `delay` after it was
/// asked. The queue ends with it (a link).
class late_registry : public caf::event_based_actor {
public:
  late_registry(caf::actor_config& cfg, queue_actor queue,
                milliseconds delay)
    : event_based_actor(cfg), queue_(std::move(queue)), delay_(delay) {
    // nop
  }

  caf::behavior make_behavior() override {
    link_to(queue_);
    return {
      [=](atom::get, const std::string&, bool) {
        waiting_.push_back(make_response_promise<queue_actor>());
        delayed_send(this, delay_, atom::tick::value);
        return waiting_.back();
      },
      [=](atom::tick) {
        for (auto& rp : std::exchange(waiting_, {}))
          rp.deliver(queue_);
      },
    };
  }

private:
  queue_actor queue_;
  milliseconds delay_;
  std::vector<caf::typed_response_promise<queue_actor>> waiting_;
};

} // namespace

TEST_CASE("a call whose client was answered 503 goes no further") {
  std::shared_ptr<queue_actor> queue = std::make_shared<queue_actor>();
  test::running_server s{
    64, 0, nullptr,
    [](actormq::http::server_config& c) {
      c.actor_timeout = milliseconds{200};
      // Connections are checked every 100 ms (a quarter of this).
      c.header_timeout = milliseconds{400};
    },
    [queue](caf::actor_system& sys, actormq::registry_config) {
      *queue = sys.spawn(actormq::queue, actormq::queue_config{});
      return caf::actor_cast<registry_actor>(
        sys.spawn<late_registry>(*queue, milliseconds{700}));
    }};
  test::http_client c{s.port()};
  check_json_error(c.enqueue_json(R"({"message":"m"})"), 503,
                   "Queue is unavailable; retry later");
  // The registry answers after the client was told to retry (at 200 to
  // 300 ms), before the bridge stops waiting (1.2 s at the earliest): the
  // enqueue must not happen behind its back.
  std::this_thread::sleep_for(milliseconds{1000});
  caf::scoped_actor self{s.sys};
  self->request(*queue, std::chrono::seconds{5}, atom::stats::value)
    .receive([](queue_stats& x) { CHECK(x.enqueued == 0); },
             [&](caf::error& err) { FAIL(s.sys.render(err)); });
}

namespace {

/// A server whose failures are counted in `failures`.
struct noting_failure : test::running_server {
  explicit noting_failure(std::shared_ptr<std::atomic<int>> failures)
    : running_server(64, 0, nullptr,
                     [failures](actormq::http::server_config& c) {
                       c.on_failure = [failures](const caf::error&) {
                         ++*failures;
                       };
                     }),
      failures(std::move(failures)) {
    // nop
  }

  std::shared_ptr<std::atomic<int>> failures;
};

} // namespace

TEST_CASE("the bridges' supervisor ending is a failure the caller hears of") {
  noting_failure s{std::make_shared<std::atomic<int>>(0)};
  auto sup = s.srv.bridge_supervisor();
  REQUIRE(sup);
  caf::scoped_actor self{s.sys};
  self->send_exit(sup, caf::exit_reason::unhandled_exception);
  self->wait_for(sup);
  // The failure is heard on the supervisor's way out, perhaps after
  // wait_for() returned.
  auto deadline = test_clock::now() + milliseconds{2000};
  while (*s.failures == 0 && test_clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds{5});
  CHECK(*s.failures == 1);
}

TEST_CASE("stopping the server is no failure") {
  noting_failure s{std::make_shared<std::atomic<int>>(0)};
  s.srv.stop();
  // A failure would be heard on the supervisor's way out, perhaps after
  // stop() returned (see above).
  std::this_thread::sleep_for(milliseconds{300});
  CHECK(*s.failures == 0);
  CHECK_FALSE(s.srv.bridge_supervisor());
}

// HTTP framing by RFC 9112 (issue 11). Each case is followed by a
// pipelined request: answered if the connection stays open, never
// answered (the connection closes) if the case is refused, so a request
// smuggled in the bytes of another can never be served.

namespace {

/// The head of an enqueue, without its framing headers.
constexpr std::string_view enqueue_head
  = "POST /enqueue HTTP/1.1\r\nHost: x\r\n"
    "Content-Type: application/json\r\n";

/// A 15-byte JSON message.
constexpr std::string_view message_a = R"({"message":"a"})";

constexpr std::string_view healthz_request
  = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

/// Sends `bytes` and GET /healthz behind them on a new connection and
/// returns the first response. `kept`: the GET must be answered after it;
/// else the connection must close without answering it.
test::http_response pipelined(uint16_t port, std::string_view bytes,
                              bool kept, bool head = false) {
  test::http_client c{port};
  c.send_raw(std::string{bytes} + std::string{healthz_request});
  auto r = c.read_response(head);
  if (kept) {
    auto next = c.read_response();
    CHECK(next.status == 200);
    CHECK(next.body == R"({"data":"ok"})");
  } else {
    CHECK(r.header("connection") == "close");
    CHECK(c.closed_by_server());
  }
  return r;
}

/// `bytes` are refused with 400 `text` and the connection closes.
void refused(uint16_t port, std::string_view bytes,
             std::string_view text = "Malformed HTTP request") {
  INFO(bytes);
  check_json_error(pipelined(port, bytes, false), 400, text);
}

std::string cat(std::initializer_list<std::string_view> xs) {
  std::string out;
  for (auto x : xs)
    out += x;
  return out;
}

} // namespace

TEST_CASE_METHOD(server_fixture, "framing: a space before a colon is 400") {
  refused(port(), cat({enqueue_head, "Content-Length : 15\r\n\r\n",
                       message_a}));
  refused(port(), cat({enqueue_head, "Transfer-Encoding : chunked\r\n\r\n",
                       "f\r\n", message_a, "\r\n0\r\n\r\n"}));
  // Any header name with a space, or other bytes no name holds.
  refused(port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nX Y: z\r\n\r\n");
  CHECK(depth() == 0);
}

TEST_CASE_METHOD(server_fixture, "framing: chunk data ends in CRLF") {
  auto chunked = cat({enqueue_head, "Transfer-Encoding: chunked\r\n\r\n"});
  refused(port(), cat({chunked, "f\r\n", message_a, "XX0\r\n\r\n"}));
  refused(port(), cat({chunked, "f\r\n", message_a, "\n0\r\n\r\n"}));
  // A bare LF in a chunk extension.
  refused(port(), cat({chunked, "f;x\nYY\r\n", message_a,
                       "\r\n0\r\n\r\n"}));
  // Chunk extensions themselves are fine.
  CHECK(pipelined(port(),
                  cat({chunked, "f;a=b\r\n", message_a, "\r\n0\r\n\r\n"}),
                  true)
          .status
        == 200);
  CHECK(depth() == 1);
}

TEST_CASE_METHOD(server_fixture, "framing: one Transfer-Encoding, unfolded") {
  refused(port(), cat({enqueue_head, "Transfer-Encoding: chunked\r\n",
                       "Transfer-Encoding: chunked\r\n\r\n", "f\r\n",
                       message_a, "\r\n0\r\n\r\n"}));
  // obs-fold continues a line: refused on any header.
  refused(port(), cat({enqueue_head, "Transfer-Encoding:\r\n chunked\r\n\r\n",
                       "f\r\n", message_a, "\r\n0\r\n\r\n"}));
  refused(port(), cat({enqueue_head, "Content-Length:\r\n\t15\r\n\r\n",
                       message_a}));
  refused(port(), cat({enqueue_head, "X-A: b\r\n c\r\nContent-Length: 15",
                       "\r\n\r\n", message_a}));
  // A transfer coding other than chunked alone.
  refused(port(), cat({enqueue_head, "Transfer-Encoding: gzip\r\n\r\n",
                       message_a}));
  CHECK(depth() == 0);
}

TEST_CASE_METHOD(server_fixture, "framing: HTTP/1.0 with chunked closes") {
  auto r = pipelined(port(),
                     cat({"POST /enqueue HTTP/1.0\r\n",
                          "Content-Type: application/json\r\n",
                          "Connection: keep-alive\r\n",
                          "Transfer-Encoding: chunked\r\n\r\n", "f\r\n",
                          message_a, "\r\n0\r\n\r\n"}),
                     false);
  CHECK(r.status == 200);
  CHECK(depth() == 1);
}

TEST_CASE_METHOD(server_fixture, "framing: trailers never change a request") {
  auto r = pipelined(
    port(),
    cat({enqueue_head, "Transfer-Encoding: chunked\r\n\r\n", "f\r\n",
         message_a, "\r\n0\r\n",
         "Content-Type: application/x-www-form-urlencoded\r\n",
         "Content-Length: 3\r\n\r\n"}),
    true);
  CHECK(r.status == 200);
  auto m = take();
  REQUIRE(m);
  CHECK(m->data.body == "a");
}

TEST_CASE_METHOD(server_fixture, "HTTP/1.1 needs one valid Host") {
  std::string_view text
    = "HTTP/1.1 requests need exactly one Host header with a valid host";
  refused(port(), "GET /healthz HTTP/1.1\r\n\r\n", text);
  refused(port(), "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
          text);
  refused(port(), "GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n", text);
  refused(port(), "GET /healthz HTTP/1.1\r\nHost: a:b\r\n\r\n", text);
  // HTTP/1.0 may leave it out; a port and IPv6 literals are fine.
  CHECK(pipelined(port(), "GET /healthz HTTP/1.0\r\n\r\n", false).status
        == 200);
  for (auto host : {"example.com:8006", "[::1]:80", "10.0.0.1", ""}) {
    INFO(host);
    CHECK(pipelined(port(),
                    cat({"GET /healthz HTTP/1.1\r\nHost: ", host,
                         "\r\n\r\n"}),
                    true)
            .status
          == 200);
  }
  // Error replies to HEAD carry no body either.
  test::http_client c{port()};
  c.send_raw("HEAD /healthz HTTP/1.1\r\nHost: a b\r\n\r\n");
  auto r = c.read_response(true);
  CHECK(r.status == 400);
  CHECK(c.closed_by_server());
}

TEST_CASE_METHOD(server_fixture, "an absolute-form target is accepted") {
  auto r = pipelined(port(),
                     cat({"POST http://x:8006/enqueue HTTP/1.1\r\nHost: x\r\n",
                          "Content-Type: application/json\r\n",
                          "Content-Length: 15\r\n\r\n", message_a}),
                     true);
  CHECK(r.status == 200);
  CHECK(pipelined(port(), "GET HTTP://x/queues?a=b HTTP/1.1\r\nHost: x\r\n\r\n",
                  true)
          .status
        == 200);
  CHECK(depth() == 1);
}

TEST_CASE_METHOD(server_fixture, "bad bytes in a target are 400") {
  for (auto target : {"/heal\tthz", "/heal\fthz", "/heal\xffthz",
                      "/queues/\x01"}) {
    INFO(target);
    refused(port(), cat({"GET ", target, " HTTP/1.1\r\nHost: x\r\n\r\n"}));
  }
}

TEST_CASE_METHOD(server_fixture, "versions, long targets, unknown methods") {
  for (auto version : {"HTTP/2.0", "HTTP/3.0"}) {
    INFO(version);
    auto r = pipelined(port(),
                       cat({"GET /healthz ", version, "\r\nHost: x\r\n\r\n"}),
                       false);
    check_json_error(r, 505, "HTTP version is not supported; use HTTP/1.1");
    CHECK(r.reason == "HTTP Version Not Supported");
  }
  // The request line alone is over --max-header-bytes (2048 here).
  auto r = pipelined(port(),
                     cat({"GET /", std::string(3000, 'a'),
                          " HTTP/1.1\r\nHost: x\r\n\r\n"}),
                     false);
  check_json_error(r, 414, "Request target is too long (--max-header-bytes)");
  CHECK(r.reason == "URI Too Long");
  // A method http-parser does not know: 501 if the line is well formed.
  r = pipelined(port(), "FOO /queues HTTP/1.1\r\nHost: x\r\n\r\n", false);
  check_json_error(r, 501,
                   "Method is not implemented; use GET, HEAD, POST, PUT, "
                   "DELETE or OPTIONS");
  refused(port(), "FOO /queues\r\n\r\n");
  refused(port(), "GEX\t/ HTTP/1.1\r\n\r\n");
}

TEST_CASE_METHOD(server_fixture, "header bytes are counted on the wire") {
  // 10,000 empty header lines: 40 KB, against --max-header-bytes=2048.
  std::string lines;
  for (int i = 0; i < 10000; ++i)
    lines += "a:\r\n";
  auto r = pipelined(port(),
                     cat({"GET /healthz HTTP/1.1\r\nHost: x\r\n", lines,
                          "\r\n"}),
                     false);
  check_json_error(r, 431, "Request headers are too large");
}

TEST_CASE_METHOD(server_fixture, "every reply carries a Date") {
  test::http_client c{port()};
  for (auto path : {"/healthz", "/nope", "/queues/none"}) {
    auto r = c.request("GET", path);
    INFO(path << " " << r.status);
    CHECK(r.header("date").size() == 29);
    CHECK(r.header("date").substr(25) == " GMT");
  }
  auto bad = pipelined(port(), "GARBAGE\r\n\r\n", false);
  CHECK(bad.header("date").size() == 29);
}

TEST_CASE_METHOD(server_fixture, "100-continue: behind a long poll, not 1.0") {
  test::http_client c{port()};
  auto t0 = test_clock::now();
  c.send("POST", "/queues/default/receive", R"({"wait_seconds":1})",
         json_header);
  c.send_raw(cat({enqueue_head, "Expect: 100-continue\r\n",
                  "Content-Length: 15\r\n\r\n"}));
  CHECK(c.read_response().status == 200);
  CHECK(since(t0) >= milliseconds{900});
  // The interim comes once the long poll is answered, not the client's
  // own timeout later.
  CHECK(c.read_response().status == 100);
  CHECK(since(t0) < milliseconds{1900});
  c.send_raw(message_a);
  CHECK(c.read_response().status == 200);
  // HTTP/1.0 does not know 100: the first reply is the final one.
  test::http_client old{port()};
  old.send_raw("POST /enqueue HTTP/1.0\r\nContent-Type: application/json\r\n"
               "Expect: 100-continue\r\nContent-Length: 15\r\n\r\n");
  std::this_thread::sleep_for(milliseconds{200});
  old.send_raw(message_a);
  CHECK(old.read_response().status == 200);
}

TEST_CASE_METHOD(server_fixture, "a 413 is read by a client still sending") {
  test::http_client c{port()};
  c.send_raw(cat({enqueue_head, "Content-Length: 100000000\r\n\r\n"}));
  // The client sends on (8 MiB, as a client that does not look for an
  // early answer does) while the server answers: the server reads and
  // discards it (a reset would fail these sends and lose the answer).
  std::string chunk(64 * 1024, 'x');
  for (int i = 0; i < 128; ++i)
    c.send_raw(chunk);
  auto r = c.read_response();
  check_json_error(r, 413,
                   "Message is larger than the server's limit "
                   "(--max-message-bytes)");
  CHECK(r.header("connection") == "close");
}
