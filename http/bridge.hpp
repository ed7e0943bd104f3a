#pragma once

#include <memory>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/fwd.hpp>

#include "actormq/actors.hpp"
#include "api.hpp"

namespace actormq::http::detail {

class connection;

/// Where an actor's answer to a request goes; travels in actor messages.
struct responder {
  /// The connection that waits for the answer.
  std::shared_ptr<connection> conn;
};

/// Spawns a bridge: the frontend's actor that takes an `api_call` and the
/// `responder` waiting for it, asks the registry or a queue, and answers.
/// One per HTTP thread, so a Pistache thread only ever does a non-blocking
/// send.
caf::actor spawn_bridge(caf::actor_system& sys, registry_actor registry);

} // namespace actormq::http::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actormq::http::detail::responder)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actormq::http::api_call)
