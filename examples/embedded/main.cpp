// An application of its own that embeds ActorMQ: it spawns a queue and a
// consumer with its own handler in its own actor system, with no HTTP.
//
//   ./build/embedded_consumer
#include <future>
#include <iostream>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actormq/consumer_actor.hpp"
#include "actormq/queue_actor.hpp"

int main() {
  using namespace std::chrono_literals;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto queue = sys.spawn(actormq::queue, actormq::queue_config{});
  // Our handler: it runs inside the consumer actor, one message per tick.
  std::promise<void> done;
  int handled = 0;
  actormq::consumer_config consumer_cfg;
  consumer_cfg.interval = 100ms;
  consumer_cfg.handler
    = [&](const std::optional<actormq::message>& x) -> caf::error {
    if (!x)
      return caf::none;
    std::cout << "order " << x->id << ": " << x->data.body << std::endl;
    if (++handled == 3)
      done.set_value();
    return caf::none; // acks the message
  };
  auto consumer = sys.spawn(actormq::consumer, queue, consumer_cfg);
  // Producers talk to the queue with typed messages.
  caf::scoped_actor self{sys};
  for (auto item : {"espresso", "flat white", "cortado"}) {
    actormq::new_message order;
    order.data = actormq::payload{item, actormq::payload_kind::text};
    self->request(queue, caf::infinite, actormq::atom::enqueue::value, order)
      .receive([](uint64_t) {},
               [&](caf::error& err) {
                 std::cerr << "enqueue failed: " << sys.render(err) << '\n';
               });
  }
  if (done.get_future().wait_for(10s) != std::future_status::ready) {
    std::cerr << "the consumer did not handle all orders\n";
    return 1;
  }
  // A consumer re-arms its timer forever: stop it explicitly.
  self->send_exit(consumer, caf::exit_reason::user_shutdown);
  self->send_exit(queue, caf::exit_reason::user_shutdown);
  std::cout << "all orders handled\n";
  return 0;
}
