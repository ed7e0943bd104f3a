#include "actormq/consumer_actor.hpp"

#include <algorithm>
#include <exception>
#include <utility>

#include <caf/send.hpp>

#include "actormq/errors.hpp"
#include "actormq/log.hpp"

namespace actormq {

std::string describe(const std::optional<message>& x) {
  if (!x)
    return "No messages to process";
  constexpr size_t shown = 1024;
  auto& body = x->data.body;
  if (body.size() <= shown)
    return "Processing message: " + body;
  return "Processing message: " + body.substr(0, shown) + "... ("
         + std::to_string(body.size()) + " bytes)";
}

message_handler log_handler() {
  return [](const std::optional<message>& x) -> caf::error {
    log::info(describe(x));
    return caf::none;
  };
}

caf::timespan backoff_for(const consumer_config& cfg,
                          uint32_t receive_count) {
  auto result = cfg.backoff;
  for (uint32_t i = 1; i < receive_count && result < cfg.max_backoff; ++i)
    result *= 2;
  return std::min(result, cfg.max_backoff);
}

namespace {

/// Runs the handler; an exception counts as a failure.
bool handle(const consumer_config& cfg, const std::optional<message>& x) {
  try {
    if (auto err = cfg.handler(x)) {
      log::warning("consumer handler failed: " + caf::to_string(err));
      return false;
    }
    return true;
  } catch (const std::exception& e) {
    log::error(std::string{"consumer handler threw: "} + e.what());
  } catch (...) {
    log::error("consumer handler threw an unknown exception");
  }
  return false;
}

/// An ack or release can come too late (the lease expired meanwhile): the
/// message then goes to another receiver, which is what at-least-once means.
void log_refusals(std::vector<caf::error>& results) {
  for (auto& err : results)
    if (err)
      log::warning("consumer lease ended before its ack or release: "
                   + caf::to_string(err));
}

/// Returns the error path of an ack or release (the store failed, the queue
/// is gone): the consumer logs and lives on, without a retry. The message
/// may be delivered again (its lease runs out, or the store still holds it
/// at the next start): at-least-once.
auto log_failure(consumer_actor::stateful_pointer<consumer_state> self,
                 const char* what) {
  return [self, what](caf::error& err) {
    log::warning(std::string{"consumer "} + what
                 + " failed, the message may be delivered again: "
                 + self->system().render(err));
  };
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
      self
        ->request(st.source, st.cfg.timeout, atom::receive::value,
                  st.cfg.batch, st.cfg.visibility, caf::timespan{0})
        .then(
          [=](std::vector<lease>& leases) {
            auto& st = self->state;
            if (leases.empty()) {
              handle(st.cfg, std::nullopt);
              return;
            }
            std::vector<std::string> done;
            for (auto& x : leases) {
              if (handle(st.cfg, x.msg)) {
                done.push_back(std::move(x.receipt));
              } else {
                auto delay = backoff_for(st.cfg, x.msg.receive_count);
                self
                  ->request(st.source, st.cfg.timeout, atom::release::value,
                            std::vector<std::string>{std::move(x.receipt)},
                            delay)
                  .then(log_refusals, log_failure(self, "release"));
              }
            }
            if (!done.empty())
              self
                ->request(st.source, st.cfg.timeout, atom::ack::value,
                          std::move(done))
                .then(log_refusals, log_failure(self, "ack"));
          },
          [=](caf::error& err) {
            log::error("consumer cannot reach its queue: "
                       + self->system().render(err));
          });
    },
  };
}

consumer_pool_state::~consumer_pool_state() {
  for (auto& c : consumers)
    caf::anon_send_exit(c, caf::exit_reason::user_shutdown);
}

bool planned_exit(const caf::error& reason) {
  return !reason || reason == caf::exit_reason::normal
         || reason == caf::exit_reason::user_shutdown;
}

namespace {

/// Spawns one consumer of the pool and monitors it.
void add_consumer(
  consumer_pool_actor::stateful_pointer<consumer_pool_state> self) {
  auto& st = self->state;
  auto c = self->spawn(consumer, st.source, st.cfg);
  self->monitor(c);
  st.consumers.push_back(std::move(c));
}

/// Ends the pool's consumers (they served a queue that is gone).
void end_consumers(
  consumer_pool_actor::stateful_pointer<consumer_pool_state> self) {
  for (auto& c : std::exchange(self->state.consumers, {})) {
    self->demonitor(c.address());
    self->send_exit(c, caf::exit_reason::user_shutdown);
  }
}

/// Asks the registry for the pool's queue; once it has it, the pool's
/// consumers serve it (those of a queue that ended go).
void look_up(consumer_pool_actor::stateful_pointer<consumer_pool_state> self) {
  auto& st = self->state;
  self->request(st.registry, st.cfg.timeout, atom::get::value, st.queue_name,
                st.create)
    .then(
      [=](queue_actor& q) {
        auto& st = self->state;
        end_consumers(self);
        st.source = std::move(q);
        self->monitor(st.source);
        for (uint32_t i = 0; i < st.count; ++i)
          add_consumer(self);
      },
      [=](caf::error& err) {
        if (!is_error(err, ec::unknown_queue))
          log::error("consumers cannot get queue " + self->state.queue_name
                     + " (" + self->system().render(err)
                     + "): trying again in 1 s");
        self->delayed_send(self, std::chrono::seconds{1}, atom::tick::value);
      });
}

/// Forgets a consumer that ended; replaces it if it failed. If it is the
/// queue that ended, looks it up again.
void on_consumer_down(
  consumer_pool_actor::stateful_pointer<consumer_pool_state> self,
  const caf::down_msg& dm) {
  auto& st = self->state;
  if (st.registry && dm.source == st.source.address()) {
    if (is_error(dm.reason, ec::unknown_queue)) {
      log::info("queue " + st.queue_name
                + " was deleted; its consumers wait for it to be created");
      st.create = false;
      end_consumers(self);
    } else {
      log::warning("queue " + st.queue_name
                   + " ended; its consumers wait for it to come back");
    }
    look_up(self);
    return;
  }
  auto& xs = st.consumers;
  auto i = std::find_if(xs.begin(), xs.end(), [&](const consumer_actor& c) {
    return c.address() == dm.source;
  });
  if (i == xs.end())
    return;
  xs.erase(i);
  if (planned_exit(dm.reason))
    return;
  log::warning("consumer ended (" + self->system().render(dm.reason)
               + "); a new one replaces it");
  add_consumer(self);
}

} // namespace

namespace {

/// What both kinds of pool do once their queue is known or looked up.
consumer_pool_actor::behavior_type
pool_behavior(consumer_pool_actor::stateful_pointer<consumer_pool_state> self,
              consumer_config cfg, uint32_t count) {
  self->state.cfg = std::move(cfg);
  self->state.count = count;
  self->set_down_handler(
    [=](caf::down_msg& dm) { on_consumer_down(self, dm); });
  self->set_exit_handler([=](caf::exit_msg& msg) {
    // A consumer ignores an exit for `normal`: it gets user_shutdown.
    auto reason = msg.reason == caf::exit_reason::normal
                    ? caf::error{caf::exit_reason::user_shutdown}
                    : msg.reason;
    for (auto& c : std::exchange(self->state.consumers, {}))
      self->send_exit(c, reason);
    self->quit(msg.reason);
  });
  return {
    [=](atom::list) { return self->state.consumers; },
    [=](atom::tick) { look_up(self); },
  };
}

} // namespace

consumer_pool_actor::behavior_type
consumer_pool(consumer_pool_actor::stateful_pointer<consumer_pool_state> self,
              queue_actor source, consumer_config cfg, uint32_t count) {
  self->state.source = std::move(source);
  auto result = pool_behavior(self, std::move(cfg), count);
  for (uint32_t i = 0; i < count; ++i)
    add_consumer(self);
  return result;
}

consumer_pool_actor::behavior_type registry_consumer_pool(
  consumer_pool_actor::stateful_pointer<consumer_pool_state> self,
  registry_actor registry, std::string queue, consumer_config cfg,
  uint32_t count) {
  self->state.registry = std::move(registry);
  self->state.queue_name = std::move(queue);
  auto result = pool_behavior(self, std::move(cfg), count);
  look_up(self);
  return result;
}

} // namespace actormq
