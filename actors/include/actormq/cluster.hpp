#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actormq/actors.hpp"
#include "actormq/promise_book.hpp"

/// Several nodes as one service: each queue lives on one node, and every
/// node (and every CAF application that connects) reaches every queue over
/// CAF's own network layer (BASP).
namespace actormq {

/// The version of what nodes say to each other: the interfaces of
/// actors.hpp and this file, and the types of type_ids.hpp. A node refuses
/// a peer that speaks another.
constexpr uint32_t cluster_protocol_version = 1;

/// One node of a cluster, as --cluster names it: NAME@HOST:PORT.
struct member {
  /// 1-64 of [A-Za-z0-9_.-]; unique in the cluster.
  std::string name;
  /// Where it listens for its peers.
  std::string host;
  uint16_t port = 0;
};

/// @relates member
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member& x) {
  return f(caf::meta::type_name("actormq::member"), x.name, x.host, x.port);
}

/// Whether `name` is 1-64 of [A-Za-z0-9_.-] (a node's name).
bool valid_node_name(std::string_view name);

/// Parses "NAME@HOST:PORT,NAME@HOST:PORT,...": names and addresses unique.
/// On a bad list, returns none and sets `err` to what is wrong.
std::vector<member> parse_members(std::string_view text, std::string& err);

/// The index of the member that owns the queue `queue` by rendezvous
/// hashing: the one with the highest hash of (its name, the queue's name).
/// The same on every node given the same names in any order; adding or
/// removing a member moves only the queues it wins or loses.
size_t owner_of(std::string_view queue, const std::vector<member>& members);

/// The state of a node's link to one peer.
struct link_info {
  /// The peer's name.
  std::string peer;
  /// Connected and greeted: its queues are served.
  bool up = false;
  /// Requests of this node's cluster actor on their way to it.
  uint64_t in_flight = 0;
  /// Times the link was lost since this node started.
  uint64_t losses = 0;
};

/// @relates link_info
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, link_info& x) {
  return f(caf::meta::type_name("actormq::link_info"), x.peer, x.up,
           x.in_flight, x.losses);
}

/// The actor a node publishes to its peers and to applications
/// (actormq::connect): a registry of the whole cluster. Each call of the
/// registry interface goes to the node that owns the queue; `get` replies
/// with the queue's own actor, on its node; `list` asks every node that is
/// up. Errors beyond the registry's: ec::node_unreachable (the owner, or a
/// node that may hold the queue, is not connected), ec::node_busy (too many
/// requests on their way to it).
using node_actor = registry_actor::extend<
  // A peer (or an application, with an empty name) introduces itself with
  // its protocol version. Replies with this node's name and its own
  // registry (the queues it owns; invalid for an application). Errors: caf::sec::incompatible_versions,
  // caf::sec::invalid_argument (a name that is not a member).
  caf::replies_to<atom::hello, uint32_t, std::string>::with<std::string,
                                                              registry_actor>,
  // Replies with the members, in the order of --cluster.
  caf::replies_to<atom::members>::with<std::vector<member>>,
  // Replies with the state of each link to a peer.
  caf::replies_to<atom::links>::with<std::vector<link_info>>,
  // Internal (refused from other nodes, as atom::drain is): time to try
  // the peer with this index again.
  caf::reacts_to<atom::tick, uint32_t>>;

/// Settings of a node actor.
struct cluster_config {
  /// This node's name: one of `members`.
  std::string name;
  /// Every node, this one included, the same list on every node.
  std::vector<member> members;
  /// This node's own registry.
  registry_actor local;
  /// Connects to peers: CAF's middleman actor, or libcaf_openssl's for a
  /// TLS cluster.
  caf::io::middleman_actor connector;
  /// Time a peer has to answer one request (a lookup, a list, a hello).
  caf::timespan request_timeout = std::chrono::seconds{4};
  /// Requests on their way to one peer at most; past it, ec::node_busy.
  uint64_t max_in_flight = 1024;
  /// First and longest pause between two tries to reach a peer.
  caf::timespan retry_min = std::chrono::milliseconds{200};
  caf::timespan retry_max = std::chrono::seconds{5};
  /// The protocol version it speaks (only tests of mixed versions change
  /// it).
  uint32_t protocol = cluster_protocol_version;
};

/// The state of a node actor.
struct cluster_state {
  static constexpr const char* name = "actormq.cluster";

  /// One member as this node sees it.
  struct peer {
    member who;
    /// Its node actor (this node's own for itself); invalid until reached.
    node_actor node;
    /// Its registry: the queues it owns.
    registry_actor registry;
    /// Greeted and not lost since.
    bool up = false;
    /// A try to reach it is on its way.
    bool connecting = false;
    /// The node actor the greet on its way went to (a later hello from
    /// another actor of the peer takes its place).
    caf::actor_addr greeting;
    /// Of a peer that connects to this node: its node actor that last
    /// said hello, greeted again after a backoff until the link is up.
    node_actor candidate;
    /// Pause before the next try.
    caf::timespan backoff{0};
    /// Requests on their way to it.
    uint64_t in_flight = 0;
    uint64_t losses = 0;
    /// Why it was last logged as unreachable since it was up: a try that
    /// fails for the same reason again logs at debug level only.
    caf::error reported;
  };

  node_actor::pointer self = nullptr;
  cluster_config cfg;
  /// The members, in the order of cfg.members.
  std::vector<peer> peers;
  /// This node's index in `peers`.
  size_t me = 0;
  /// Where queues were found, by name.
  std::map<std::string, size_t> owners;
  /// Requests on their way to each peer, by the answer's message id: they
  /// fail at once when the link to it is lost.
  std::map<caf::message_id, size_t> waiting;
  /// The promises it holds: answered when it ends.
  promise_book promises;

  /// Whether this node makes the connection to peer `i`: of each pair, the
  /// node whose name sorts first connects, the other waits for its hello
  /// (two connections made at once between two nodes would tear down each
  /// other's).
  bool initiates(size_t i) const;

  /// Tries to reach peer `i` (unless up or trying, or it is the one that
  /// connects).
  void connect(size_t i);

  /// Sends peer `i`'s node actor `node` this node's hello; links on its
  /// answer.
  void greet(size_t i, node_actor node);

  /// Tries peer `i` again after its backoff (if this node connects).
  void retry(size_t i);

  /// Peer `i` answered the hello: its queues are served.
  void linked(size_t i, node_actor node, registry_actor registry);

  /// The link to peer `i` is gone (or refused): its queues get
  /// ec::node_unreachable until it is back.
  void lost(size_t i, const caf::error& reason);

  /// Answers a hello.
  caf::result<std::string, registry_actor> hello(uint32_t version,
                                                 const std::string& from);

  /// The queue `name`, from its owner (created on the hash owner if
  /// `create` and no node holds it).
  caf::result<queue_actor> get(const std::string& name, bool create);

  /// Creates a queue on its hash owner or changes it where it lives.
  caf::result<queue_actor> put(const std::string& name,
                               const queue_attributes& values,
                               uint32_t fields);

  /// Every queue of every node that is up.
  caf::result<std::vector<queue_info>> list();

  /// Asks the owner of `name` for its info.
  caf::result<queue_info> stats(const std::string& name);

  /// Deletes `name` on its owner.
  caf::result<bool> remove(const std::string& name);

  /// Redrives the dead-letter queue `name` on its owner.
  caf::result<uint64_t> redrive(const std::string& name);

  /// The link states, one per peer.
  std::vector<link_info> links() const;

  /// Finds the node that holds `name`: the cached one, else the hash owner,
  /// else any other (asked together). Calls `found` with its index, or
  /// `missing` with ec::unknown_queue (no node holds it; every node
  /// answered) or another error.
  void locate(const std::string& name, std::function<void(size_t)> found,
              std::function<void(const caf::error&)> missing);

  /// Whether a queue that locate() did not find (with `err`) is created on
  /// its hash owner: when no node holds it, or when its hash owner is up
  /// and does not hold it but another node could not be asked. (Only after
  /// a change of the member list can a queue live elsewhere than on its
  /// hash owner; creating it then while its node is down makes a second,
  /// empty one, which lookups find first.)
  bool creatable(const std::string& name, const caf::error& err) const;

  /// ask() with `timeout` instead of the request timeout.
  template <class Answer, class F, class G, class... Ts>
  void ask_within(caf::timespan timeout, size_t i, F f, G g, Ts&&... xs);

  /// Sends a request to peer `i`'s registry with the request timeout,
  /// counted in flight; `f` gets the answer, `g` the error (at once if the
  /// peer is not up, or busy).
  template <class Answer, class F, class G, class... Ts>
  void ask(size_t i, F f, G g, Ts&&... xs);
};

/// The behaviour of a node actor. Spawn it with the node's registry in
/// `cfg.local`; it sends that registry its own handle to route dead
/// letters and redrives, and it keeps trying to reach every peer (without
/// ever blocking a thread) until it exits.
node_actor::behavior_type
cluster_node(node_actor::stateful_pointer<cluster_state> self,
             cluster_config cfg);

/// Registers every type that crosses nodes (type_ids.hpp) in `cfg`, and
/// loads CAF's middleman. Call it before the actor system is built, on
/// every node and in every application that connects.
void add_cluster_types(caf::actor_system_config& cfg);

/// The middleman actor that makes connections of `sys`: libcaf_openssl's
/// if `sys` loaded it (then no plain connection is ever made), else CAF's.
caf::io::middleman_actor connector(caf::actor_system& sys);

/// Connects an application to the cluster that the node at `host:port`
/// belongs to: greets it, connects directly to every member (so that queue
/// handles are on their own node, never relayed), and returns that node's
/// actor as the cluster's registry. Blocks (call it from main, not from an
/// actor); connects through connector(sys). Fails if the node at
/// `host:port` cannot be reached or greeted; a member that cannot be
/// reached now is logged, and handles of its queues then come relayed
/// through that node (whose loss is then noticed only by timeouts). Every request to a queue over the network should carry a finite
/// timeout: a request to a node that dies is otherwise never answered.
caf::expected<registry_actor> connect(caf::actor_system& sys,
                                      const std::string& host, uint16_t port,
                                      caf::timespan timeout
                                      = std::chrono::seconds{5});

} // namespace actormq
