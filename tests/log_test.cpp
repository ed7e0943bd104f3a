#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

#include "actormq/log.hpp"

using namespace actormq;
using namespace std::chrono_literals;

namespace {

/// Points standard output at a pipe for as long as it lives.
class stdout_pipe {
public:
  stdout_pipe() {
    REQUIRE(::pipe(fds_) == 0);
    saved_ = ::dup(STDOUT_FILENO);
    REQUIRE(saved_ >= 0);
    REQUIRE(::dup2(fds_[1], STDOUT_FILENO) == STDOUT_FILENO);
  }

  ~stdout_pipe() {
    ::dup2(saved_, STDOUT_FILENO);
    ::close(saved_);
    ::close(fds_[1]);
    if (reader_.joinable())
      reader_.join();
    ::close(fds_[0]);
  }

  /// How many bytes the pipe holds before a writer blocks.
  size_t capacity() const {
    auto n = ::fcntl(fds_[1], F_GETPIPE_SZ);
    REQUIRE(n > 0);
    return static_cast<size_t>(n);
  }

  /// Starts reading the pipe; what arrives goes to `out`.
  void read_into(std::string& out) {
    reader_ = std::thread{[this, &out] {
      char buf[65536];
      ssize_t n = 0;
      while ((n = ::read(fds_[0], buf, sizeof(buf))) > 0)
        out.append(buf, static_cast<size_t>(n));
    }};
  }

private:
  int fds_[2] = {-1, -1};
  int saved_ = -1;
  std::thread reader_;
};

size_t count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (auto i = haystack.find(needle); i != std::string::npos;
       i = haystack.find(needle, i + needle.size()))
    ++n;
  return n;
}

} // namespace

TEST_CASE("a caller never waits for the log's output: a full buffer drops "
          "lines, counts them, and says so once the output drains") {
  log::set_level(log::level::info);
  REQUIRE(log::flush());
  std::string out;
  auto before = log::dropped();
  const std::string text(100, 'x');
  const size_t lines = 3 * log::buffer_lines;
  std::atomic<bool> finished{false};
  auto slowest = std::chrono::steady_clock::duration{0};
  size_t in_pipe = 0;
  {
    stdout_pipe pipe;
    in_pipe = pipe.capacity() / text.size();
    // Nobody reads the pipe yet: the logging thread soon blocks on it.
    std::thread writer{[&] {
      for (size_t i = 0; i < lines; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        log::info(text);
        slowest = std::max(slowest, std::chrono::steady_clock::now() - t0);
      }
      finished = true;
    }};
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!finished && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
    CHECK(finished);
    pipe.read_into(out);
    writer.join();
    CHECK(log::flush(10s));
  }
  CHECK(slowest < 500ms);
  auto dropped = log::dropped() - before;
  // Kept at most: the batches the pipe took before it filled, the batch
  // the logging thread was writing when it blocked, and one full buffer.
  CHECK(dropped >= lines - 2 * log::buffer_lines - in_pipe);
  CHECK(count(out, text) == lines - dropped);
  CHECK(count(out, std::to_string(dropped) + " log lines dropped") == 1);
}

TEST_CASE("flush() waits until every line is out") {
  std::string out;
  {
    stdout_pipe pipe;
    pipe.read_into(out);
    log::warning("one");
    log::info("two");
    CHECK(log::flush());
  }
  CHECK(out.find(" warning one\n") != std::string::npos);
  CHECK(out.find(" info    two\n") != std::string::npos);
  CHECK(out.find("one") < out.find("two"));
}

TEST_CASE("a text with line breaks and control characters stays one line") {
  std::string out;
  {
    stdout_pipe pipe;
    pipe.read_into(out);
    log::warning("Processing message: a\n2026-01-01T00:00:00.000Z error   "
                 "forged\r\x01\x7f end");
    CHECK(log::flush());
  }
  CHECK(count(out, "\n") == 1);
  CHECK(out.find(" warning Processing message: a\\n2026-01-01T00:00:00.000Z "
                 "error   forged\\r\\x01\\x7f end\n")
        != std::string::npos);
}
