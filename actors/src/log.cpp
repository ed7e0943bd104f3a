#include "actormq/log.hpp"

#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <pthread.h>
#include <unistd.h>

namespace actormq::log {

namespace {

std::atomic<int> current_level{static_cast<int>(level::info)};

constexpr std::array<std::string_view, 4> level_names{"error", "warning",
                                                      "info", "debug"};

/// Returns the whole line for `text`: timestamp, level, text, newline.
std::string format(level x, std::string_view text) {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto secs = system_clock::to_time_t(now);
  auto millis = duration_cast<milliseconds>(now.time_since_epoch()).count()
                % 1000;
  std::tm utc{};
  gmtime_r(&secs, &utc);
  char stamp[32];
  auto n = std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(stamp + n, sizeof(stamp) - n, ".%03dZ",
                static_cast<int>(millis));
  auto name = level_names[static_cast<size_t>(x)];
  std::string line = stamp;
  line += ' ';
  line += name;
  line.append(8 - name.size(), ' ');
  // One line per call, whatever the text holds: control characters (a
  // message body's line breaks) are escaped, so no text forges a line.
  for (auto c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) {
      line += c;
    } else if (c == '\n') {
      line += "\\n";
    } else if (c == '\r') {
      line += "\\r";
    } else {
      char hex[5];
      std::snprintf(hex, sizeof(hex), "\\x%02x", u);
      line += hex;
    }
  }
  line += '\n';
  return line;
}

/// Writes all of `text` to standard output, unless the output fails.
void write_out(std::string_view text) {
  while (!text.empty()) {
    auto n = ::write(STDOUT_FILENO, text.data(), text.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;
    text.remove_prefix(static_cast<size_t>(n));
  }
}

/// The bounded buffer and the one thread that prints it. Callers hold the
/// lock only to move a formatted line in (the buffer's room is reserved
/// up front, so that allocates nothing); the thread holds it only to swap
/// the buffer for an empty one.
class sink {
public:
  sink() {
    pending_.reserve(buffer_lines);
    std::thread{[this] { run(); }}.detach();
  }

  void push(std::string line) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (pending_.size() == buffer_lines
          || pending_bytes_ + line.size() > buffer_bytes) {
        ++dropped_since_;
        dropped_.fetch_add(1, std::memory_order_relaxed);
      } else {
        pending_bytes_ += line.size();
        pending_.push_back(std::move(line));
      }
    }
    wake_.notify_one();
  }

  bool flush(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock{mtx_};
    return printed_.wait_for(lock, timeout, [this] {
      return !busy_ && pending_.empty() && dropped_since_ == 0;
    });
  }

  uint64_t dropped() const {
    return dropped_.load(std::memory_order_relaxed);
  }

private:
  void run() {
    // Signals go to the threads that wait for them, never to this one.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    std::vector<std::string> batch;
    batch.reserve(buffer_lines);
    std::string out;
    for (;;) {
      uint64_t dropped = 0;
      {
        std::unique_lock<std::mutex> lock{mtx_};
        wake_.wait(lock,
                   [this] { return !pending_.empty() || dropped_since_ > 0; });
        batch.swap(pending_);
        pending_bytes_ = 0;
        dropped = std::exchange(dropped_since_, 0);
        busy_ = true;
      }
      out.clear();
      for (auto& line : batch)
        out += line;
      batch.clear();
      if (dropped > 0)
        out += format(level::warning,
                      std::to_string(dropped) + " log lines dropped");
      write_out(out);
      {
        std::lock_guard<std::mutex> guard{mtx_};
        busy_ = false;
      }
      printed_.notify_all();
    }
  }

  std::mutex mtx_;
  std::condition_variable wake_;
  std::condition_variable printed_;
  std::vector<std::string> pending_;
  size_t pending_bytes_ = 0;
  uint64_t dropped_since_ = 0;
  bool busy_ = false;
  std::atomic<uint64_t> dropped_{0};
};

/// The sink lives as long as the process (never destroyed: its thread may
/// still print while static objects are destroyed); what it holds is
/// printed at exit.
sink& the_sink() {
  static sink* instance = [] {
    auto result = new sink;
    std::atexit([] { flush(std::chrono::seconds{2}); });
    return result;
  }();
  return *instance;
}

} // namespace

void set_level(level x) {
  current_level.store(static_cast<int>(x), std::memory_order_relaxed);
}

bool parse_level(std::string_view name, level& out) {
  for (size_t i = 0; i < level_names.size(); ++i) {
    if (level_names[i] == name) {
      out = static_cast<level>(i);
      return true;
    }
  }
  return false;
}

bool enabled(level x) {
  return static_cast<int>(x) <= current_level.load(std::memory_order_relaxed);
}

void write(level x, std::string_view text) {
  if (enabled(x))
    the_sink().push(format(x, text));
}

bool flush(std::chrono::milliseconds timeout) {
  return the_sink().flush(timeout);
}

uint64_t dropped() {
  return the_sink().dropped();
}

} // namespace actormq::log
