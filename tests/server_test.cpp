#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <thread>

#include <caf/scoped_actor.hpp>

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
  for (auto [method, path] :
       {std::pair{"GET", "/nope"}, std::pair{"GET", "/enqueue"},
        std::pair{"POST", "/healthz"}, std::pair{"DELETE", "/enqueue"}}) {
    INFO(method << " " << path);
    auto nf = c.request(method, path);
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
  c.send_raw("POST /enqueue HTTP/1.1\r\nContent-Type: application/json\r\n"
             "Content-Length: 15\r\n\r\n{\"message\":\"a\"}"
             "GET /healthz HTTP/1.1\r\n\r\n"
             "POST /enqueue HTTP/1.1\r\nContent-Type: application/json\r\n"
             "Content-Length: 15\r\n\r\n{\"message\":\"b\"}");
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
       {"GARBAGE\r\n\r\n", "GET\r\n\r\n", "GET / HTTP/7.0\r\n\r\n",
        "POST /enqueue HTTP/1.1\r\nContent-Length: abc\r\n\r\n{}",
        "POST /enqueue HTTP/1.1\r\nContent-Length: 1\r\n"
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
    c.send_raw("POST /enqueue HTTP/1.1\r\nContent-Type: application/json\r\n"
               "Content-Length: 100000000\r\n\r\n");
    check_json_error(c.read_response(), 413,
                     "Message is larger than the server's limit "
                     "(--max-message-bytes)");
  }
  CHECK(depth() == 0);
}

TEST_CASE_METHOD(server_fixture, "Expect: 100-continue gets its interim") {
  test::http_client c{port()};
  c.send_raw("POST /enqueue HTTP/1.1\r\nContent-Type: application/json\r\n"
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
