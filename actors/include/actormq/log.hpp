#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

/// ActorMQ's logging: timestamped, levelled lines on standard output. (CAF's
/// own logger is compiled out in Debian's build.) The caller formats a line
/// and hands it to a bounded buffer; one logging thread writes the buffer
/// out. A caller never waits for the output: when the buffer is full the
/// line is dropped and counted, and the logging thread prints
/// "N log lines dropped" once it catches up.
namespace actormq::log {

/// Severity of a line; a line prints when its level is at most the current.
enum class level : int { error = 0, warning = 1, info = 2, debug = 3 };

/// Lines the buffer holds at most, besides what is being written.
constexpr size_t buffer_lines = 8192;

/// Bytes the buffer holds at most; a longer line is always dropped.
constexpr size_t buffer_bytes = size_t{4} << 20;

/// Sets the level below which lines are dropped.
void set_level(level x);

/// Parses "error", "warning", "info" or "debug"; false if `name` is none.
bool parse_level(std::string_view name, level& out);

/// Returns whether lines of level `x` are printed.
bool enabled(level x);

/// Queues one line (if `x` is enabled) for the logging thread, which
/// prints it whole; never blocks on the output.
void write(level x, std::string_view text);

/// Waits until the logging thread has printed every line queued so far,
/// or `timeout` passed; returns whether it did. Runs at exit by itself
/// (with a 2 s timeout, so an output nobody reads cannot hold the exit).
bool flush(std::chrono::milliseconds timeout = std::chrono::seconds{5});

/// Returns how many lines were dropped so far because the buffer was full.
uint64_t dropped();

/// Convenience shorthands for write().
inline void error(std::string_view text) { write(level::error, text); }
inline void warning(std::string_view text) { write(level::warning, text); }
inline void info(std::string_view text) { write(level::info, text); }
inline void debug(std::string_view text) { write(level::debug, text); }

} // namespace actormq::log
