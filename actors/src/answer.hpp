#pragma once

#include <utility>

#include <caf/error.hpp>
#include <caf/typed_response_promise.hpp>

namespace actormq {

/// Returns a callback for the outcome of a write (none: written): it
/// answers `rp` with `value`, or with the write's error.
template <class T>
auto answer(caf::typed_response_promise<T> rp, T value) {
  return [rp = std::move(rp),
          value = std::move(value)](const caf::error& err) mutable {
    if (err)
      rp.deliver(err);
    else
      rp.deliver(std::move(value));
  };
}

} // namespace actormq
