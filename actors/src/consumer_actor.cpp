#include "actormq/consumer_actor.hpp"

#include <exception>

#include "actormq/log.hpp"


namespace actormq {

std::string describe(const std::optional<message>& x) {
  return x ? "Processing message: " + x->data.body : "No messages to process";
}

message_handler log_handler() {
  return [](const std::optional<message>& x) { log::info(describe(x)); };
}

namespace {

void deliver(const consumer_config& cfg, const std::optional<message>& x) {
  try {
    cfg.handler(x);
  } catch (const std::exception& e) {
    log::error(std::string{"consumer handler failed: "} + e.what());
  } catch (...) {
    log::error("consumer handler failed with an unknown exception");
  }
}

} // namespace

consumer_actor::behavior_type
consumer(consumer_actor::stateful_pointer<consumer_state> self,
         queue_actor source, consumer_config cfg) {
  if (!cfg.handler)
    cfg.handler = log_handler();
  self->state.source = std::move(source);
  self->state.cfg = std::move(cfg);
  self->delayed_send(self, self->state.cfg.interval, atom::tick::value);
  return {
    [=](atom::tick) {
      auto& st = self->state;
      self->delayed_send(self, st.cfg.interval, atom::tick::value);
      self->request(st.source, caf::infinite, atom::dequeue::value)
        .then(
          [=](caf::optional<message>& x) {
            deliver(self->state.cfg,
                    x ? std::optional<message>{std::move(*x)} : std::nullopt);
          },
          [=](caf::error& err) {
            log::error("consumer cannot reach its queue: "
                       + self->system().render(err));
          });
    },
  };
}

} // namespace actormq
