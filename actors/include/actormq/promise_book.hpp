#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <utility>

#include <caf/error.hpp>
#include <caf/typed_response_promise.hpp>

namespace actormq {

/// The response promises an actor holds while their answers wait on other
/// actors, by number: fail_all() answers every one still held (when the
/// actor ends), so none is dropped.
class promise_book {
public:
  /// Keeps `rp`; returns its number (see done()).
  template <class T>
  uint64_t hold(caf::typed_response_promise<T> rp) {
    auto n = next_++;
    held_.emplace(n, [rp](const caf::error& err) mutable {
      rp.deliver(err);
    });
    return n;
  }

  /// The promise `n` is answered (or about to be): forgets it.
  void done(uint64_t n) {
    held_.erase(n);
  }

  /// Answers every promise still held with `err`.
  void fail_all(const caf::error& err) {
    for (auto& [n, f] : std::exchange(held_, {}))
      f(err);
  }

private:
  std::map<uint64_t, std::function<void(const caf::error&)>> held_;
  uint64_t next_ = 0;
};

} // namespace actormq
