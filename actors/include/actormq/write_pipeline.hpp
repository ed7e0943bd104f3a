#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <vector>

#include <caf/error.hpp>

namespace actormq {

/// Answers requests after the write that holds their changes; one
/// mechanism for every actor that writes to the store. The actor adds a
/// callback per request (wait), ends each burst of requests (flush: with
/// changes, one write goes out and carries the callbacks; without, they
/// ride on the last write in flight, whose change their replies may show)
/// and reports how each write ended, oldest first (written). When the
/// actor ends, fail_all() answers every callback still waiting, so no
/// request is left without an answer. No actors inside: tested alone.
class write_pipeline {
public:
  /// Called once with the outcome of the write (none: written).
  using callback = std::function<void(const caf::error&)>;

  /// Adds a callback for the changes made so far.
  void wait(callback f);

  /// Ends a burst. `changes`: a write of them goes out now and the
  /// callbacks waiting are answered when it ends; else they are answered
  /// with the last write in flight, or now if none is.
  void flush(bool changes);

  /// The oldest write in flight ended with `err`: answers its callbacks.
  void written(const caf::error& err);

  /// Answers every callback, waiting or in flight, with `err`.
  void fail_all(const caf::error& err);

  /// Returns how many writes are in flight.
  size_t in_flight() const noexcept {
    return in_flight_.size();
  }

private:
  std::vector<callback> waiting_;
  std::deque<std::vector<callback>> in_flight_;
};

} // namespace actormq
