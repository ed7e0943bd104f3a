// A CAF application on another host that uses a cluster's queues as typed
// actors: actormq::connect() greets one node and connects directly to every
// member, so each queue handle it gets is on the queue's own node. Every
// request over the network carries a finite timeout (a request to a node
// that dies is otherwise never answered).
//
//   ./build/remote_client HOST PORT [QUEUE...]
//
// HOST:PORT is a node's cluster address (its entry in --cluster). For each
// queue (default: orders, invoices, emails, audit) it sends one message,
// receives it, acks it, and prints the queue's node.
#include <iostream>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "actormq/cluster.hpp"

namespace {

constexpr auto timeout = std::chrono::seconds{5};

/// Sends, receives and acks one message on `name`; prints where it lives.
bool round_trip(caf::actor_system& sys, const actormq::registry_actor& reg,
                const std::string& name) {
  caf::scoped_actor self{sys};
  bool ok = true;
  auto fail = [&](caf::error& err) {
    std::cerr << name << ": " << sys.render(err) << '\n';
    ok = false;
  };
  actormq::queue_actor q;
  self->request(reg, timeout, actormq::atom::get::value, name, true)
    .receive([&](actormq::queue_actor& x) { q = std::move(x); }, fail);
  if (!ok)
    return false;
  actormq::new_message m;
  m.data = actormq::payload{"hello from afar", actormq::payload_kind::text};
  uint64_t id = 0;
  self->request(q, timeout, actormq::atom::enqueue::value, m)
    .receive([&](uint64_t x) { id = x; }, fail);
  std::vector<actormq::lease> leases;
  if (ok)
    self
      ->request(q, timeout + std::chrono::seconds{1},
                actormq::atom::receive::value, uint32_t{1},
                caf::timespan{std::chrono::seconds{30}},
                caf::timespan{std::chrono::seconds{1}})
      .receive([&](std::vector<actormq::lease>& xs) { leases = std::move(xs); },
               fail);
  if (ok && (leases.empty() || leases.front().msg.id != id)) {
    std::cerr << name << ": the message did not come back\n";
    return false;
  }
  if (ok)
    self
      ->request(q, timeout, actormq::atom::ack::value,
                std::vector<std::string>{leases.front().receipt})
      .receive(
        [&](std::vector<caf::error>& results) {
          if (results.empty() || results.front())
            ok = false;
        },
        fail);
  actormq::queue_info info;
  if (ok)
    self->request(reg, timeout, actormq::atom::stats::value, name)
      .receive([&](actormq::queue_info& x) { info = std::move(x); }, fail);
  if (!ok)
    return false;
  // The handle is the queue's own actor, on its node: not the node this
  // client greeted, unless the queue lives there.
  auto direct = q.node() != caf::actor_cast<caf::actor>(reg).node();
  std::cout << name << ": message " << id << " sent, received and acked on "
            << "node " << info.node
            << (direct ? " (a direct link)" : " (the greeted node)")
            << std::endl;
  return true;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: remote_client HOST PORT [QUEUE...]\n";
    return 2;
  }
  caf::actor_system_config cfg;
  actormq::add_cluster_types(cfg);
  // Notice a dead or hung node within seconds.
  cfg.set("middleman.heartbeat-interval",
          caf::timespan{std::chrono::seconds{1}});
  cfg.set("middleman.connection-timeout",
          caf::timespan{std::chrono::seconds{3}});
  caf::actor_system sys{cfg};
  auto reg = actormq::connect(sys, argv[1],
                              static_cast<uint16_t>(std::stoi(argv[2])));
  if (!reg) {
    std::cerr << "cannot connect: " << sys.render(reg.error()) << '\n';
    return 1;
  }
  std::vector<std::string> names{"orders", "invoices", "emails", "audit"};
  if (argc > 3)
    names.assign(argv + 3, argv + argc);
  auto ok = true;
  for (auto& name : names)
    ok = round_trip(sys, *reg, name) && ok;
  return ok ? 0 : 1;
}
