#include "actormq/log.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace actormq::log {

namespace {

std::atomic<int> current_level{static_cast<int>(level::info)};
std::mutex output_mutex;

constexpr std::array<std::string_view, 4> level_names{"error", "warning",
                                                      "info", "debug"};

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
  if (!enabled(x))
    return;
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
  std::lock_guard<std::mutex> guard{output_mutex};
  std::fprintf(stdout, "%s %-7.*s %.*s\n", stamp,
               static_cast<int>(name.size()), name.data(),
               static_cast<int>(text.size()), text.data());
  std::fflush(stdout);
}

} // namespace actormq::log
