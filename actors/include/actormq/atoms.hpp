#pragma once

#include <caf/atom.hpp>

/// The atoms that name the operations of ActorMQ's actors.
namespace actormq::atom {

/// Add messages to a queue.
using enqueue = caf::atom_constant<caf::atom("enqueue")>;
/// Lease messages from a queue.
using receive = caf::atom_constant<caf::atom("receive")>;
/// Delete leased messages.
using ack = caf::atom_constant<caf::atom("ack")>;
/// Return leased messages early.
using release = caf::atom_constant<caf::atom("release")>;
/// Lengthen leases.
using extend = caf::atom_constant<caf::atom("extend")>;
/// Look at ready messages without leasing them.
using peek = caf::atom_constant<caf::atom("peek")>;
/// Delete every message of a queue.
using purge = caf::atom_constant<caf::atom("purge")>;
/// Ask for counters.
using stats = caf::atom_constant<caf::atom("stats")>;
/// Take messages moved from another queue (dead letters).
using adopt = caf::atom_constant<caf::atom("adopt")>;
/// Hand dead letters back to their source queues.
using redrive = caf::atom_constant<caf::atom("redrive")>;
/// Replace a queue's attributes.
using configure = caf::atom_constant<caf::atom("configure")>;
/// Look up a queue by name.
using get = caf::atom_constant<caf::atom("get")>;
/// Create or update a queue.
using put = caf::atom_constant<caf::atom("put")>;
/// List the queues.
using list = caf::atom_constant<caf::atom("list")>;
/// Delete a queue.
using remove = caf::atom_constant<caf::atom("remove")>;
/// Write changes to the store.
using write = caf::atom_constant<caf::atom("write")>;
/// Make every write so far durable.
using flush = caf::atom_constant<caf::atom("flush")>;
/// Done.
using ok = caf::atom_constant<caf::atom("ok")>;
/// Internal: write what was batched so far.
using commit = caf::atom_constant<caf::atom("commit")>;
/// Return leases that never reached their receiver.
using give_back = caf::atom_constant<caf::atom("give_back")>;
/// Stop waiting: long polls are answered now (the service is stopping).
using drain = caf::atom_constant<caf::atom("drain")>;
/// A periodic or scheduled wake-up.
using tick = caf::atom_constant<caf::atom("tick")>;
/// Each on its own (an enqueue of several messages that are not a batch).
using each = caf::atom_constant<caf::atom("each")>;
/// Cluster: a node introduces itself to a peer (protocol version, name).
using hello = caf::atom_constant<caf::atom("hello")>;
/// Cluster: ask for the member list.
using members = caf::atom_constant<caf::atom("members")>;
/// Cluster: ask for the state of each link to a peer.
using links = caf::atom_constant<caf::atom("links")>;
/// Cluster: where a registry finds queues it does not hold.
using route = caf::atom_constant<caf::atom("route")>;

} // namespace actormq::atom
