#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <sys/resource.h>

#include "auth.hpp"
#include "http_client.hpp"
#include "process.hpp"

// The real `actormq` binary in a process of its own.

using test::clock_type;
using test::process;
using test::temp_dir;

TEST_CASE("actormq --help lists the options and exits 0") {
  process p{{"--help"}};
  CHECK(p.wait_exit(std::chrono::seconds{10}) == 0);
  for (auto opt : {"--host", "--port", "--consume-interval",
                   "--max-message-bytes", "--data-dir", "--log-level",
                   "--fsync", "--fsync-interval", "--auth-file",
                   "--new-token", "--send-timeout", "--tls-cert",
                   "--tls-key", "--tls-client-ca"})
    CHECK(p.output().find(opt) != std::string::npos);
}

TEST_CASE("a bad option value stops the start with a clear message") {
  for (auto arg : {"--port=abc", "--port=70000", "--consume-interval=0s",
                   "--consume-interval=fast", "--max-message-bytes=0",
                   "--log-level=loud", "--fsync=sometimes",
                   "--fsync-interval=0s", "--no-such-option=1"}) {
    INFO(arg);
    process p{{arg}};
    CHECK(p.wait_exit(std::chrono::seconds{10}) == 2);
    CHECK(p.output().find("invalid configuration") != std::string::npos);
    auto name = std::string{arg}.substr(0, std::string{arg}.find('='));
    CHECK(p.output().find(name) != std::string::npos);
  }
}

TEST_CASE("SIGTERM and SIGINT stop the service with status 0 within 1 s") {
  for (auto sig : {SIGTERM, SIGINT}) {
    temp_dir dir;
    process p{{"--host=127.0.0.1", "--port=0", dir.option()}};
    auto port = p.port_from_log();
    test::http_client c{port};
    CHECK(c.enqueue_json(R"({"message":"x"})").status == 200);
    auto t0 = clock_type::now();
    p.signal(sig);
    CHECK(p.wait_exit(std::chrono::seconds{5}) == 0);
    CHECK(clock_type::now() - t0 < std::chrono::seconds{1});
  }
}

TEST_CASE("a --max-connections past the descriptor limit is lowered, logged") {
  // actormq raises its soft limit to this hard one and keeps 64 for itself.
  rlimit lim{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &lim) == 0);
  if (lim.rlim_max == RLIM_INFINITY || lim.rlim_max >= 1000000 + 64) {
    WARN("the hard descriptor limit leaves room for 1000000 connections");
    return;
  }
  temp_dir dir;
  process p{{"--host=127.0.0.1", "--port=0", dir.option(),
             "--max-connections=1000000"}};
  auto line = p.wait_for_line("does not fit the descriptor limit");
  CHECK(line.find(std::to_string(lim.rlim_max - 64)
                  + " connections are served at once")
        != std::string::npos);
  test::http_client c{p.port_from_log()};
  CHECK(c.request("GET", "/healthz").status == 200);
}

TEST_CASE("the built-in consumer logs like the original") {
  temp_dir dir;
  process p{{"--host=127.0.0.1", "--port=0", "--consume-interval=50ms",
             dir.option()}};
  auto port = p.port_from_log();
  CHECK_FALSE(p.wait_for_line("No messages to process").empty());
  test::http_client c{port};
  CHECK(c.enqueue_json(R"({"message":"hello there"})").status == 200);
  CHECK(c.enqueue_json(R"({"message":{"n":1}})").status == 200);
  CHECK_FALSE(p.wait_for_line("Processing message: hello there").empty());
  CHECK_FALSE(p.wait_for_line(R"(Processing message: {"n":1})").empty());
  p.signal(SIGTERM);
  CHECK(p.wait_exit(std::chrono::seconds{5}) == 0);
}

TEST_CASE("a port in use is reported, not crashed on") {
  temp_dir dir1, dir2;
  process first{{"--host=127.0.0.1", "--port=0", dir1.option()}};
  auto port = first.port_from_log();
  process second{{"--host=127.0.0.1", "--port=" + std::to_string(port),
                  dir2.option()}};
  CHECK(second.wait_exit(std::chrono::seconds{10}) == 1);
  CHECK(second.output().find("cannot listen on 127.0.0.1:"
                             + std::to_string(port))
        != std::string::npos);
}

namespace {

/// Writes an auth file of `lines` (each "NAME TOKEN GRANTS", the token in
/// clear: its SHA-256 goes in the file) and then `tail` as it is to `path`.
void write_auth_file(const std::string& path,
                     const std::vector<std::string>& lines,
                     const std::string& tail = {}) {
  std::ofstream out{path};
  for (auto& l : lines) {
    std::istringstream in{l};
    std::string name, token, rest;
    in >> name >> token;
    std::getline(in, rest);
    out << name << ' ' << actormq::http::auth::digest_hex(token) << rest
        << '\n';
  }
  out << tail;
}

int status_with(uint16_t port, const std::string& token) {
  test::http_client c{port};
  return c.request("GET", "/queues", {},
                   "Authorization: Bearer " + token + "\r\n")
    .status;
}

} // namespace

TEST_CASE("actormq --new-token=NAME prints a token and its auth file line") {
  process p{{"--new-token=ci-producer"}};
  REQUIRE(p.wait_exit(std::chrono::seconds{10}) == 0);
  std::istringstream out{p.output()};
  std::string token, line;
  std::getline(out, token);
  std::getline(out, line);
  CHECK(token.size() == 43);
  CHECK(token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
                                "opqrstuvwxyz0123456789-_")
        == std::string::npos);
  CHECK(line == "ci-producer " + actormq::http::auth::digest_hex(token));
  CHECK(p.output().find("SIGHUP") != std::string::npos);
  for (auto name : {"--new-token=a b", "--new-token=a#b"}) {
    process bad{{name}};
    CHECK(bad.wait_exit(std::chrono::seconds{10}) == 2);
    CHECK(bad.output().find("--new-token") != std::string::npos);
  }
}

TEST_CASE("a malformed auth file stops the start with status 2, naming its "
          "file and line") {
  temp_dir dir;
  auto path = dir.path() + "/tokens";
  write_auth_file(path, {"ok tok-ok *"},
                  "# fine so far\nbad tok-bad send:orders\n");
  process p{{"--host=127.0.0.1", "--port=0", dir.option(),
             "--auth-file=" + path}};
  CHECK(p.wait_exit(std::chrono::seconds{10}) == 2);
  CHECK(p.output().find("--auth-file: " + path + ":3: ") != std::string::npos);
  CHECK(p.output().find("listening") == std::string::npos);
  process missing{{"--auth-file=" + dir.path() + "/none", dir.option()}};
  CHECK(missing.wait_exit(std::chrono::seconds{10}) == 2);
  CHECK(missing.output().find(dir.path() + "/none: cannot be read")
        != std::string::npos);
}

TEST_CASE("SIGHUP reads the auth file again: a good one takes effect, a bad "
          "one is refused, and no token reaches the log") {
  temp_dir dir;
  auto path = dir.path() + "/tokens";
  write_auth_file(path, {"first tok-first-8d2f1c *"});
  process p{{"--host=127.0.0.1", "--port=0", dir.option() + "/data",
             "--log-level=debug", "--consume-interval=20ms",
             "--auth-file=" + path}};
  CHECK_FALSE(p.wait_for_line("access control on: 1 tokens").empty());
  auto port = p.port_from_log();
  CHECK(status_with(port, "tok-first-8d2f1c") == 200);
  CHECK(status_with(port, "tok-wrong-5e7a90") == 401);
  write_auth_file(path, {"second tok-second-41b7aa receive:*"});
  p.signal(SIGHUP);
  CHECK_FALSE(p.wait_for_line("auth file reloaded: 1 tokens").empty());
  CHECK(status_with(port, "tok-second-41b7aa") == 200);
  CHECK(status_with(port, "tok-first-8d2f1c") == 401);
  write_auth_file(path, {"third tok-third-c03e55 *"}, "broken\n");
  p.signal(SIGHUP);
  auto refused = p.wait_for_line("auth file refused");
  CHECK(refused.find(path + ":2: ") != std::string::npos);
  CHECK(status_with(port, "tok-second-41b7aa") == 200);
  CHECK(status_with(port, "tok-third-c03e55") == 401);
  p.signal(SIGTERM);
  CHECK(p.wait_exit(std::chrono::seconds{5}) == 0);
  for (auto secret : {"tok-first", "tok-second", "tok-third", "tok-wrong"})
    CHECK(p.output().find(secret) == std::string::npos);
}
