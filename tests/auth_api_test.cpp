#include <catch2/catch.hpp>

#include <fstream>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "auth.hpp"
#include "http_client.hpp"
#include "running_server.hpp"
#include "temp_dir.hpp"

// Access control over a real socket: each grant on each route, 401 against
// 403, the filtered list, reloads.

using namespace actormq::http;
using nlohmann::json;

namespace {

/// One token of the auth file.
struct token {
  std::string name;
  std::string secret;
  std::string grants;
};

/// The tokens every test starts with: one per grant on the queue
/// "orders", one with every grant on "other", one with all.
const std::vector<token> tokens = {
  {"sender", "tok-sender", "send:orders"},
  {"receiver", "tok-receiver", "receive:orders"},
  {"manager", "tok-manager", "manage:orders"},
  {"prometheus", "tok-metrics", "metrics"},
  {"neighbour", "tok-other", "send:other receive:other manage:other"},
  {"root", "tok-root", "*"},
};

std::string file_of(const std::vector<token>& xs) {
  std::string text = "# test tokens\n";
  for (auto& x : xs)
    text += x.name + " " + auth::digest_hex(x.secret) + " " + x.grants + "\n";
  return text;
}

/// The auth file on disk (before the server that reads it).
struct auth_file {
  test::temp_dir dir;
  std::string path = dir.path() + "/tokens";

  explicit auth_file(const std::string& text) {
    write(text);
  }

  void write(const std::string& text) {
    std::ofstream out{path};
    out << text;
  }
};

/// The real server with access control on, and a client.
struct auth_fixture : auth_file, test::running_server {
  std::unique_ptr<test::http_client> client;

  auth_fixture()
    : auth_file(file_of(tokens)),
      running_server(1024, 0, nullptr, [this](server_config& c) {
        c.auth_file = path;
        auto loaded = auth::token_set::load(path);
        REQUIRE(loaded.index() == 0);
        c.tokens = std::get<0>(std::move(loaded));
      }) {
    client = std::make_unique<test::http_client>(srv.port());
  }

  /// A request with `secret` as its bearer token (none if empty).
  test::http_response call(const std::string& secret, std::string_view method,
                           std::string_view path,
                           std::string_view body = {},
                           std::string extra_headers = {}) {
    if (!secret.empty())
      extra_headers += "Authorization: Bearer " + secret + "\r\n";
    if (!body.empty())
      extra_headers += "Content-Type: application/json\r\n";
    client->send(method, path, body, extra_headers);
    return client->read_response(method == "HEAD");
  }

  /// The names GET /queues lists to `secret`.
  std::vector<std::string> listed(const std::string& secret) {
    auto r = call(secret, "GET", "/queues");
    REQUIRE(r.status == 200);
    std::vector<std::string> names;
    auto doc = json::parse(r.body);
    for (auto& q : doc["queues"])
      names.push_back(q["name"]);
    return names;
  }
};

/// A route, what it needs and what it answers when allowed.
struct route_case {
  std::string method;
  std::string path;
  std::string body;
  std::string action;
  std::string queue;
};

const std::vector<route_case> routes = {
  {"POST", "/enqueue", R"({"message":"x"})", "send", "default"},
  {"POST", "/queues/orders/messages", R"({"message":"x"})", "send", "orders"},
  {"POST", "/queues/orders/receive", "{}", "receive", "orders"},
  {"POST", "/queues/orders/ack", R"({"receipts":["1.1"]})", "receive",
   "orders"},
  {"POST", "/queues/orders/release", R"({"receipts":["1.1"]})", "receive",
   "orders"},
  {"POST", "/queues/orders/extend",
   R"({"receipts":["1.1"],"visibility_seconds":1})", "receive", "orders"},
  {"GET", "/queues/orders/peek", "", "receive", "orders"},
  {"HEAD", "/queues/orders/peek", "", "receive", "orders"},
  {"PUT", "/queues/orders", "{}", "manage", "orders"},
  {"GET", "/queues/orders", "", "manage", "orders"},
  {"HEAD", "/queues/orders", "", "manage", "orders"},
  {"POST", "/queues/orders/purge", "", "manage", "orders"},
  {"POST", "/queues/orders/redrive", "", "manage", "orders"},
  {"GET", "/metrics", "", "metrics", ""},
  {"DELETE", "/queues/orders", "", "manage", "orders"},
};

/// Whether token `t` (one grant, not "*") allows route `r`.
bool holds(const token& t, const route_case& r) {
  return t.grants == r.action || t.grants == r.action + ":" + r.queue;
}

} // namespace

TEST_CASE_METHOD(auth_fixture, "each grant opens its routes and only those") {
  REQUIRE(call("tok-root", "PUT", "/queues/orders", "{}").status == 200);
  for (auto& r : routes) {
    for (auto& t : tokens) {
      if (t.name == "root")
        continue;
      INFO(r.method << " " << r.path << " with " << t.name);
      auto res = call(t.secret, r.method, r.path, r.body);
      if (holds(t, r)) {
        CHECK(res.status == 200);
        continue;
      }
      CHECK(res.status == 403);
      CHECK(res.header("www-authenticate").empty());
      if (r.method == "HEAD")
        continue;
      auto error = json::parse(res.body)["error"].get<std::string>();
      CHECK(error.find("no " + r.action + " grant") != std::string::npos);
      if (!r.queue.empty())
        CHECK(error.find("'" + r.queue + "'") != std::string::npos);
      CHECK(error.find(t.secret) == std::string::npos);
    }
  }
}

TEST_CASE_METHOD(auth_fixture, "the * grant opens every route") {
  for (auto& r : routes) {
    INFO(r.method << " " << r.path);
    auto res = call("tok-root", r.method, r.path, r.body);
    CHECK(res.status == 200);
  }
}

TEST_CASE_METHOD(auth_fixture, "no token is a 401 that asks for one") {
  for (auto& r : routes) {
    for (std::string header : {"", "Authorization: Basic dG9rLXJvb3Q=\r\n",
                               "Authorization: Bearer\r\n",
                               "Authorization: tok-root\r\n",
                               "Authorization: Bearer tok-root\r\n"
                               "Authorization: Bearer tok-root\r\n"}) {
      INFO(r.method << " " << r.path << " " << header);
      auto res = call("", r.method, r.path, r.body, header);
      CHECK(res.status == 401);
      CHECK(res.header("www-authenticate") == R"(Bearer realm="actormq")");
      if (r.method == "HEAD")
        continue;
      CHECK(json::parse(res.body)["error"]
            == "A token is required: send Authorization: Bearer <token>");
    }
  }
}

TEST_CASE_METHOD(auth_fixture, "an unknown token is a 401 that never echoes "
                               "it") {
  for (auto& r : routes) {
    INFO(r.method << " " << r.path);
    auto res = call("tok-unknown-1234", r.method, r.path, r.body);
    CHECK(res.status == 401);
    CHECK(res.header("www-authenticate")
          == R"(Bearer realm="actormq", error="invalid_token")");
    CHECK(res.body.find("tok-unknown") == std::string::npos);
    for (auto& [name, value] : res.headers)
      CHECK(value.find("tok-unknown") == std::string::npos);
    if (r.method != "HEAD")
      CHECK(json::parse(res.body)["error"]
            == "The token is not valid (not in the server's auth file)");
  }
}

TEST_CASE_METHOD(auth_fixture, "the token is checked before the body is read") {
  auto res = call("", "POST", "/queues/orders/messages", "not json");
  CHECK(res.status == 401);
  res = call("tok-receiver", "POST", "/queues/orders/messages", "not json");
  CHECK(res.status == 403);
  res = call("tok-sender", "POST", "/queues/orders/messages", "not json");
  CHECK(res.status == 400);
}

TEST_CASE_METHOD(auth_fixture, "a refused caller is answered before it "
                               "sends its body") {
  // The headers of a 60 KB body and 10 bytes of it: the answer comes now,
  // with no 100 Continue inviting the rest, and the connection closes.
  auto head = [](const std::string& secret, bool expect) {
    std::string h = "POST /queues/orders/messages HTTP/1.1\r\nHost: x\r\n"
                    "Content-Type: application/json\r\n"
                    "Content-Length: 60000\r\n";
    if (!secret.empty())
      h += "Authorization: Bearer " + secret + "\r\n";
    if (expect)
      h += "Expect: 100-continue\r\n";
    return h + "\r\n{\"message\"";
  };
  struct refusal {
    std::string secret;
    bool expect;
    int status;
  };
  for (auto& x : {refusal{"", true, 401}, refusal{"tok-unknown", false, 401},
                  refusal{"tok-receiver", true, 403}}) {
    INFO(x.secret << (x.expect ? " with" : " without") << " Expect");
    test::http_client c{srv.port()};
    c.send_raw(head(x.secret, x.expect));
    REQUIRE(c.readable(2000));
    auto res = c.read_response();
    CHECK(res.status == x.status);
    CHECK(res.header("connection") == "close");
  }
  // An allowed caller is invited to send its body, and served.
  test::http_client c{srv.port()};
  c.send_raw(head("tok-sender", true));
  CHECK(c.read_response().status == 100);
}

TEST_CASE_METHOD(auth_fixture, "health, preflight, 404 and 405 need no token") {
  auto health = call("", "GET", "/healthz");
  CHECK(health.status == 200);
  CHECK(call("", "HEAD", "/healthz").status == 200);
  auto preflight = call("", "OPTIONS", "/queues/orders/messages", {},
                        "Access-Control-Request-Headers: authorization\r\n");
  CHECK(preflight.status == 204);
  CHECK(preflight.header("access-control-allow-headers") == "authorization");
  CHECK(call("", "GET", "/no/such/route").status == 404);
  CHECK(call("", "POST", "/healthz").status == 405);
  CHECK(call("tok-unknown", "GET", "/healthz").status == 200);
}

TEST_CASE_METHOD(auth_fixture, "GET /queues lists the queues a token holds "
                               "some grant on") {
  for (auto q : {"orders", "other", "logs"})
    REQUIRE(call("tok-root", "PUT", std::string{"/queues/"} + q, "{}").status
            == 200);
  using names = std::vector<std::string>;
  CHECK(listed("tok-root") == names{"logs", "orders", "other"});
  CHECK(listed("tok-sender") == names{"orders"});
  CHECK(listed("tok-receiver") == names{"orders"});
  CHECK(listed("tok-manager") == names{"orders"});
  CHECK(listed("tok-other") == names{"other"});
  CHECK(listed("tok-metrics").empty());
  CHECK(call("", "GET", "/queues").status == 401);
  CHECK(call("tok-unknown", "GET", "/queues").status == 401);
  // Metrics are a grant of their own: every queue.
  auto metrics = call("tok-metrics", "GET", "/metrics");
  CHECK(metrics.body.find("queue=\"logs\"") != std::string::npos);
}

TEST_CASE_METHOD(auth_fixture, "naming a dead-letter queue needs a send "
                               "grant on it") {
  auto res = call("tok-manager", "PUT", "/queues/orders",
                  R"({"dead_letter_queue": "other"})");
  CHECK(res.status == 403);
  CHECK(json::parse(res.body)["error"].get<std::string>().find(
          "no send grant for queue 'other'")
        != std::string::npos);
  CHECK(call("tok-manager", "PUT", "/queues/orders", R"({"max_depth": 5})")
          .status
        == 200);
  CHECK(call("tok-root", "PUT", "/queues/orders",
             R"({"dead_letter_queue": "other"})")
          .status
        == 200);
  CHECK(call("tok-manager", "PUT", "/queues/orders",
             R"({"dead_letter_queue": ""})")
          .status
        == 200);
}

TEST_CASE_METHOD(auth_fixture, "reload takes a good file at once and "
                               "refuses a bad one") {
  CHECK(call("tok-sender", "POST", "/enqueue", R"({"message":"x"})").status
        == 403);
  write(file_of({{"sender", "tok-sender", "send:*"},
                 {"fresh", "tok-fresh", "metrics"}}));
  CHECK(srv.reload());
  CHECK(call("tok-sender", "POST", "/enqueue", R"({"message":"x"})").status
        == 200);
  CHECK(call("tok-fresh", "GET", "/metrics").status == 200);
  CHECK(call("tok-root", "GET", "/metrics").status == 401);
  write(file_of({{"root", "tok-root", "*"}}) + "broken line\n");
  CHECK_FALSE(srv.reload());
  CHECK(call("tok-root", "GET", "/metrics").status == 401);
  CHECK(call("tok-fresh", "GET", "/metrics").status == 200);
}
