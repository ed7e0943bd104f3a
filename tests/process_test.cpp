#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <string>

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
                   "--fsync", "--fsync-interval"})
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
