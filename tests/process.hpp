#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <string>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "temp_dir.hpp"

// The real `actormq` binary in a process of its own.

namespace test {

using clock_type = std::chrono::steady_clock;

class process {
public:
  explicit process(std::vector<std::string> args) {
    int out[2];
    REQUIRE(::pipe(out) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(out[1], STDERR_FILENO);
      ::close(out[0]);
      ::close(out[1]);
      std::vector<char*> argv;
      std::string binary = ACTORMQ_BINARY;
      argv.push_back(binary.data());
      for (auto& a : args)
        argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    out_ = out[0];
  }

  ~process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(out_);
  }

  /// Reads output until a line contains `needle`; returns that line, or ""
  /// after `timeout`.
  std::string wait_for_line(const std::string& needle,
                            std::chrono::milliseconds timeout
                            = std::chrono::seconds{10}) {
    auto deadline = clock_type::now() + timeout;
    for (;;) {
      for (auto eol = output_.find('\n', scanned_);
           eol != std::string::npos; eol = output_.find('\n', scanned_)) {
        auto line = output_.substr(scanned_, eol - scanned_);
        scanned_ = eol + 1;
        if (line.find(needle) != std::string::npos)
          return line;
      }
      if (!read_some(deadline))
        return {};
    }
  }

  /// Waits for the exit; returns the exit status, or -1 after `timeout`.
  int wait_exit(std::chrono::milliseconds timeout) {
    auto deadline = clock_type::now() + timeout;
    while (clock_type::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        while (read_some(clock_type::now() + std::chrono::milliseconds{100}))
          ; // drain
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
      }
      read_some(clock_type::now() + std::chrono::milliseconds{10});
    }
    return -1;
  }

  void signal(int sig) {
    ::kill(pid_, sig);
  }

  const std::string& output() const {
    return output_;
  }

  /// Starts the service on a free port and returns that port. Waits up to
  /// 30 s: a sanitized build that recovers a store on a busy machine can
  /// take more than 10 s to listen.
  uint16_t port_from_log() {
    auto line = wait_for_line("listening on", std::chrono::seconds{30});
    if (line.empty())
      FAIL("the service logged no \"listening on\"; its output:\n"
           << output_);
    return static_cast<uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
  }

private:
  bool read_some(clock_type::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - clock_type::now());
    if (left.count() <= 0)
      return false;
    pollfd p{out_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
      return false;
    char buf[4096];
    auto n = ::read(out_, buf, sizeof(buf));
    if (n <= 0)
      return false;
    output_.append(buf, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int out_ = -1;
  std::string output_;
  size_t scanned_ = 0;
};

} // namespace test
