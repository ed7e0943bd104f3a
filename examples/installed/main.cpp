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
  actormq::new_message hello;
  hello.data.body = "hello";
  self->request(queue, caf::infinite, actormq::atom::enqueue::value, hello)
    .receive([](uint64_t) {}, [](caf::error&) {});
  self
    ->request(queue, caf::infinite, actormq::atom::receive::value, uint32_t{1},
              caf::timespan{0}, caf::timespan{0})
    .receive(
      [&](std::vector<actormq::lease>& xs) {
        if (xs.size() == 1 && xs[0].msg.data.body == "hello") {
          std::cout << "installed actormq works: got message "
                    << xs[0].msg.id << '\n';
          status = 0;
        }
      },
      [](caf::error&) {});
  self->send_exit(queue, caf::exit_reason::user_shutdown);
  return status;
}
