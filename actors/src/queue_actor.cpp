#include "actormq/queue_actor.hpp"


namespace actormq {

queue_actor::behavior_type
queue(queue_actor::stateful_pointer<queue_state> self, queue_config cfg) {
  self->state.queue = message_queue{cfg.max_message_bytes};
  return {
    [=](atom::enqueue, payload& x) -> caf::result<uint64_t> {
      auto id = self->state.queue.push(std::move(x));
      if (!id)
        return std::move(id.error());
      return *id;
    },
    [=](atom::dequeue) -> caf::result<caf::optional<message>> {
      return self->state.queue.pop();
    },
    [=](atom::stats) { return self->state.queue.stats(); },
  };
}

} // namespace actormq
