#pragma once

#include <exception>
#include <string>
#include <utility>

#include <caf/error.hpp>
#include <caf/exit_reason.hpp>
#include <caf/sec.hpp>
#include <caf/typed_response_promise.hpp>

#include "actormq/log.hpp"

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

/// Has `self` answer every request it holds however it ends (but a kill):
/// `end(reason)` answers them, on an exit message and after a handler
/// throws; then the request in hand is answered "unavailable" too, and
/// `thrown` is logged.
template <class Self, class End>
void answer_on_exit(Self* self, std::string thrown, End end) {
  self->set_exit_handler([=](caf::exit_msg& msg) {
    end(msg.reason);
    self->quit(msg.reason);
  });
  self->set_exception_handler([=](std::exception_ptr&) -> caf::error {
    log::error(thrown);
    auto rp = self->make_response_promise();
    if (rp.pending())
      rp.deliver(caf::make_error(caf::sec::request_receiver_down));
    auto err = caf::make_error(caf::sec::runtime_error);
    end(err);
    return err;
  });
}

} // namespace actormq
