#pragma once

#include <memory>

#include <caf/actor_clock.hpp>

#include "bridge_ops.hpp"
#include "sqs.hpp"

namespace actormq::http::detail {

/// What the SQS API keeps beside the queues, shared by the bridges: the
/// move tasks run, and the answers of FIFO receives that name a
/// ReceiveRequestAttemptId (a retry within five minutes gets the same
/// messages).
struct sqs_state;

/// A new, empty sqs_state.
std::shared_ptr<sqs_state> make_sqs_state();

/// Performs the SQS call and answers it, by `until`.
void serve_sqs(bridge_ptr self, sqs::call& call, const responder& r,
               caf::actor_clock::time_point until);

} // namespace actormq::http::detail
