#pragma once

#include <caf/atom.hpp>

/// The atoms that name the operations of ActorMQ's actors.
namespace actormq::atom {

/// Append a message to a queue.
using enqueue = caf::atom_constant<caf::atom("enqueue")>;
/// Take the next message from a queue.
using dequeue = caf::atom_constant<caf::atom("dequeue")>;
/// Ask a queue for its counters.
using stats = caf::atom_constant<caf::atom("stats")>;
/// A consumer's periodic wake-up.
using tick = caf::atom_constant<caf::atom("tick")>;

} // namespace actormq::atom
