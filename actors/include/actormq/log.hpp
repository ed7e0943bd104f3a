#pragma once

#include <string>
#include <string_view>

/// ActorMQ's logging: timestamped, levelled lines on standard output. (CAF's
/// own logger is compiled out in Debian's build.)
namespace actormq::log {

/// Severity of a line; a line prints when its level is at most the current.
enum class level : int { error = 0, warning = 1, info = 2, debug = 3 };

/// Sets the level below which lines are dropped.
void set_level(level x);

/// Parses "error", "warning", "info" or "debug"; false if `name` is none.
bool parse_level(std::string_view name, level& out);

/// Returns whether lines of level `x` are printed.
bool enabled(level x);

/// Prints one line (if `x` is enabled), whole, even under concurrency.
void write(level x, std::string_view text);

/// Convenience shorthands for write().
inline void error(std::string_view text) { write(level::error, text); }
inline void warning(std::string_view text) { write(level::warning, text); }
inline void info(std::string_view text) { write(level::info, text); }
inline void debug(std::string_view text) { write(level::debug, text); }

} // namespace actormq::log
