#include "actormq/durable.hpp"

#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actormq/consumer_actor.hpp"
#include "actormq/log.hpp"
#include "actormq/recovery.hpp"

namespace actormq {

namespace {

/// Logs `why` and returns it as an error.
caf::error refuse(std::string why) {
  log::error(why);
  return caf::make_error(caf::sec::runtime_error, std::move(why));
}

} // namespace

caf::expected<durable_node> start_durable(caf::actor_system& sys,
                                          durable_options opts) {
  auto db = std::move(opts.db);
  if (!db) {
    std::string err;
    db = open_rocksdb_store(opts.data_dir, err);
    if (!db)
      return refuse(std::move(err));
  }
  auto started = std::chrono::steady_clock::now();
  auto recovered = std::make_shared<recovered_state>();
  if (auto why = recover(*db, *recovered); !why.empty())
    return refuse("cannot open the store in " + opts.data_dir + ": " + why);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::steady_clock::now() - started);
  log::info("recovered " + std::to_string(recovered->messages)
            + " messages in " + std::to_string(recovered->queues.size())
            + " queues from " + opts.data_dir + " in "
            + std::to_string(took.count()) + " ms");
  durable_node node;
  node.healthy = std::make_shared<std::atomic<bool>>(true);
  auto& rcfg = opts.registry;
  rcfg.ids = message_queue::make_id_source();
  rcfg.ids->store(recovered->next_id);
  rcfg.recovered = std::move(recovered);
  storage_config scfg;
  scfg.db = std::move(db);
  scfg.mode = opts.fsync;
  scfg.sync_interval = opts.fsync_interval;
  scfg.probe_interval = opts.probe_interval;
  scfg.ids = rcfg.ids;
  scfg.healthy = node.healthy;
  // Its own thread: it blocks on the disk, no scheduler thread does.
  node.storage = sys.spawn<caf::detached>(storage, std::move(scfg));
  rcfg.storage = node.storage;
  node.registry = sys.spawn(registry, std::move(rcfg));
  if (opts.on_failure) {
    watch(caf::actor_cast<caf::strong_actor_ptr>(node.storage),
          "the storage actor", opts.on_failure);
    watch(caf::actor_cast<caf::strong_actor_ptr>(node.registry),
          "the registry", std::move(opts.on_failure));
  }
  return node;
}

void stop_durable(caf::actor_system& sys, const durable_node& node) {
  caf::anon_send_exit(node.registry, caf::exit_reason::user_shutdown);
  caf::scoped_actor self{sys};
  self->request(node.storage, std::chrono::seconds{10}, atom::flush::value)
    .receive([](atom::ok) {},
             [&](caf::error& err) {
               log::error("final sync failed: " + sys.render(err));
             });
  self->send_exit(node.storage, caf::exit_reason::user_shutdown);
  // The store closes with its actor: a next start may open it again.
  self->wait_for(node.storage);
}

void watch(const caf::strong_actor_ptr& x, std::string what,
           std::function<void(const caf::error&)> on_failure) {
  auto& sys = *x->home_system;
  x->get()->attach_functor(
    [&sys, what = std::move(what),
     f = std::move(on_failure)](const caf::error& reason) {
      if (planned_exit(reason))
        return;
      log::error(what + " ended (" + sys.render(reason)
                 + "); it cannot restart in place");
      f(reason);
    });
}

} // namespace actormq
