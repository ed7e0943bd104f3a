// Uses the installed ActorMQ library: a queue actor in our own actor system.
#include <iostream>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "actormq/queue_actor.hpp"

int main() {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto queue = sys.spawn(actormq::queue, actormq::queue_config{});
  caf::scoped_actor self{sys};
  int status = 1;
  self->request(queue, caf::infinite, actormq::atom::enqueue::value,
                actormq::payload{"hello", actormq::payload_kind::text})
    .receive([](uint64_t) {}, [](caf::error&) {});
  self->request(queue, caf::infinite, actormq::atom::dequeue::value)
    .receive(
      [&](caf::optional<actormq::message>& x) {
        if (x && x->data.body == "hello") {
          std::cout << "installed actormq works: got message " << x->id
                    << '\n';
          status = 0;
        }
      },
      [](caf::error&) {});
  self->send_exit(queue, caf::exit_reason::user_shutdown);
  return status;
}
