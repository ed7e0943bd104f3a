#include "actormq/registry_actor.hpp"

#include <algorithm>

#include <caf/actor_cast.hpp>
#include <caf/typed_response_promise.hpp>

#include "actormq/errors.hpp"
#include "actormq/log.hpp"
#include "actormq/queue_actor.hpp"

namespace actormq {

bool valid_queue_name(std::string_view name) {
  if (name.empty() || name.size() > 80)
    return false;
  for (unsigned char c : name)
    if (!std::isalnum(c) && c != '_' && c != '.' && c != '-')
      return false;
  return true;
}

namespace {

using self_ptr = registry_actor::stateful_pointer<registry_state>;

/// Returns the named queue, creating it with `attrs` if it does not exist.
registry_state::entry& obtain(self_ptr self, const std::string& name,
                              const queue_attributes& attrs) {
  auto& queues = self->state.queues;
  auto i = queues.find(name);
  if (i != queues.end())
    return i->second;
  queue_config cfg;
  cfg.name = name;
  cfg.attributes = attrs;
  cfg.ids = self->state.ids;
  cfg.budget = self->state.budget;
  cfg.dead_letters = caf::actor_cast<dead_letter_sink>(self);
  auto handle = self->spawn(queue, std::move(cfg));
  self->monitor(handle);
  return queues.emplace(name, registry_state::entry{handle, attrs})
    .first->second;
}

caf::error check_attributes(const std::string& name,
                            const queue_attributes& attrs) {
  if (!valid_queue_name(name))
    return make_error(ec::invalid_queue_name);
  if (!attrs.dead_letter_queue.empty()
      && (attrs.dead_letter_queue == name
          || !valid_queue_name(attrs.dead_letter_queue)))
    return make_error(ec::invalid_attributes);
  return caf::none;
}

} // namespace

registry_actor::behavior_type
registry(registry_actor::stateful_pointer<registry_state> self,
         registry_config cfg) {
  self->set_default_handler(drop_unexpected);
  self->state.defaults = std::move(cfg.defaults);
  self->state.ids = message_queue::make_id_source();
  self->state.budget = std::make_shared<memory_budget>();
  self->state.budget->limit = cfg.max_memory_bytes;
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& queues = self->state.queues;
    for (auto i = queues.begin(); i != queues.end(); ++i) {
      if (i->second.handle.address() == dm.source) {
        log::warning("queue " + i->first + " ended: "
                     + self->system().render(dm.reason));
        queues.erase(i);
        return;
      }
    }
  });
  // Queues end with their registry.
  self->set_exit_handler([=](caf::exit_msg& msg) {
    for (auto& [name, e] : self->state.queues)
      self->send_exit(e.handle, msg.reason);
    self->quit(msg.reason);
  });
  return {
    [=](atom::adopt, const std::string& source, std::vector<message>& xs) {
      auto& queues = self->state.queues;
      auto i = queues.find(source);
      if (i == queues.end() || i->second.attributes.dead_letter_queue.empty())
        return;
      auto& dlq = obtain(self, i->second.attributes.dead_letter_queue,
                         self->state.defaults);
      self->send(dlq.handle, atom::adopt::value, source, std::move(xs));
    },
    [=](atom::get, const std::string& name,
        bool create) -> caf::result<queue_actor> {
      if (!valid_queue_name(name))
        return make_error(ec::invalid_queue_name);
      auto& queues = self->state.queues;
      auto i = queues.find(name);
      if (i != queues.end())
        return i->second.handle;
      if (!create)
        return make_error(ec::unknown_queue);
      return obtain(self, name, self->state.defaults).handle;
    },
    [=](atom::put, const std::string& name,
        queue_attributes& attrs) -> caf::result<queue_actor> {
      if (auto err = check_attributes(name, attrs))
        return err;
      auto& e = obtain(self, name, attrs);
      e.attributes = attrs;
      self->send(e.handle, atom::configure::value, std::move(attrs),
                 caf::actor_cast<dead_letter_sink>(self));
      return e.handle;
    },
    [=](atom::list) -> caf::result<std::vector<queue_info>> {
      auto rp = self->make_response_promise<std::vector<queue_info>>();
      auto& queues = self->state.queues;
      auto result = std::make_shared<std::vector<queue_info>>();
      result->reserve(queues.size());
      auto pending = std::make_shared<size_t>(queues.size());
      if (queues.empty()) {
        rp.deliver(std::vector<queue_info>{});
        return rp;
      }
      for (auto& [name, e] : queues) {
        auto info = queue_info{name, e.attributes, {}};
        auto finish = [=]() mutable {
          if (--*pending > 0)
            return;
          std::sort(result->begin(), result->end(),
                    [](const queue_info& x, const queue_info& y) {
                      return x.name < y.name;
                    });
          rp.deliver(std::move(*result));
        };
        self->request(e.handle, caf::infinite, atom::stats::value)
          .then(
            [=](queue_stats& stats) mutable {
              result->push_back(queue_info{info.name, info.attributes,
                                           std::move(stats)});
              finish();
            },
            [=](caf::error&) mutable { finish(); });
      }
      return rp;
    },
    [=](atom::stats, const std::string& name) -> caf::result<queue_info> {
      auto& queues = self->state.queues;
      auto i = queues.find(name);
      if (i == queues.end())
        return make_error(ec::unknown_queue);
      auto rp = self->make_response_promise<queue_info>();
      auto info = queue_info{name, i->second.attributes, {}};
      self->request(i->second.handle, caf::infinite, atom::stats::value)
        .then(
          [=](queue_stats& stats) mutable {
            info.stats = std::move(stats);
            rp.deliver(std::move(info));
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](atom::remove, const std::string& name) -> caf::result<bool> {
      auto& queues = self->state.queues;
      auto i = queues.find(name);
      if (i == queues.end())
        return make_error(ec::unknown_queue);
      self->demonitor(i->second.handle.address());
      self->send_exit(i->second.handle, caf::exit_reason::user_shutdown);
      queues.erase(i);
      return true;
    },
    [=](atom::redrive, const std::string& name) -> caf::result<uint64_t> {
      auto& queues = self->state.queues;
      auto i = queues.find(name);
      if (i == queues.end())
        return make_error(ec::unknown_queue);
      auto rp = self->make_response_promise<uint64_t>();
      self->request(i->second.handle, caf::infinite, atom::redrive::value)
        .then(
          [=](std::vector<std::pair<std::string, message>>& xs) mutable {
            std::map<std::string, std::vector<message>> by_source;
            for (auto& [source, msg] : xs) {
              // Back home, a message starts over toward max_deliveries.
              msg.receive_count = 0;
              by_source[source].push_back(std::move(msg));
            }
            for (auto& [source, msgs] : by_source) {
              auto& home = obtain(self, source, self->state.defaults);
              self->send(home.handle, atom::adopt::value, name,
                         std::move(msgs));
            }
            rp.deliver(static_cast<uint64_t>(xs.size()));
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
  };
}

} // namespace actormq
