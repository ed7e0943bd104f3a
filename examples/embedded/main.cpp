// An application of its own that embeds ActorMQ: a durable node (its
// queues in a RocksDB store) and a consumer with its own handler, in its
// own actor system, with no HTTP.
//
//   ./build/embedded_consumer [data-dir]   (default: ./embedded-data)
#include <future>
#include <iostream>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actormq/consumer_actor.hpp"
#include "actormq/durable.hpp"

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  actormq::durable_options opts;
  opts.data_dir = argc > 1 ? argv[1] : "./embedded-data";
  auto node = actormq::start_durable(sys, opts); // logs why it failed
  if (!node)
    return 1;
  caf::scoped_actor self{sys};
  actormq::queue_actor queue;
  self
    ->request(node->registry, caf::infinite, actormq::atom::get::value,
              std::string{"orders"}, true)
    .receive([&](actormq::queue_actor& q) { queue = std::move(q); },
             [&](caf::error& err) {
               std::cerr << "no queue: " << sys.render(err) << '\n';
             });
  if (!queue) {
    actormq::stop_durable(sys, *node);
    return 1;
  }
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
  // A pool of one: a consumer that fails is replaced.
  auto consumers = sys.spawn(actormq::consumer_pool, queue, consumer_cfg, 1u);
  // Producers talk to the queue with typed messages; a reply means the
  // order is on disk.
  for (auto item : {"espresso", "flat white", "cortado"}) {
    actormq::new_message order;
    order.data = actormq::payload{item, actormq::payload_kind::text};
    self->request(queue, caf::infinite, actormq::atom::enqueue::value, order)
      .receive([](uint64_t) {},
               [&](caf::error& err) {
                 std::cerr << "enqueue failed: " << sys.render(err) << '\n';
               });
  }
  auto status = 0;
  if (done.get_future().wait_for(10s) != std::future_status::ready) {
    std::cerr << "the consumer did not handle all orders\n";
    status = 1;
  }
  // Consumers re-arm their timers forever: stop them explicitly, then the
  // node (it syncs what was written).
  self->send_exit(consumers, caf::exit_reason::user_shutdown);
  actormq::stop_durable(sys, *node);
  if (status == 0)
    std::cout << "all orders handled\n";
  return status;
}
