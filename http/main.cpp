#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actormq/consumer_actor.hpp"
#include "actormq/log.hpp"
#include "actormq/recovery.hpp"
#include "actormq/registry_actor.hpp"
#include "actormq/storage_actor.hpp"
#include "config.hpp"
#include "server.hpp"

int main(int argc, char** argv) {
  using namespace actormq;
  // Every thread inherits this mask; only sigwait() below sees the signals.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  http::config cfg;
  if (auto err = cfg.parse(argc, argv)) {
    std::fprintf(stderr, "actormq: invalid configuration: %s\n",
                 caf::to_string(err).c_str());
    return 2;
  }
  if (cfg.cli_helptext_printed)
    return 0;
  http::settings opts;
  if (auto msg = cfg.validate(opts); !msg.empty()) {
    std::fprintf(stderr, "actormq: invalid configuration: %s\n",
                 msg.c_str());
    return 2;
  }
  log::set_level(opts.log_level);
  caf::actor_system sys{cfg};
  registry_config rcfg;
  rcfg.defaults.max_message_bytes = opts.max_message_bytes;
  rcfg.max_memory_bytes = opts.max_memory_bytes;
  rcfg.ids = message_queue::make_id_source();
  auto healthy = std::make_shared<std::atomic<bool>>(true);
  if (opts.persistent) {
    std::string err;
    auto db = open_rocksdb_store(opts.data_dir, err);
    if (!db) {
      log::error(err);
      return 1;
    }
    auto started = std::chrono::steady_clock::now();
    auto recovered = std::make_shared<recovered_state>();
    if (auto why = recover(*db, *recovered); !why.empty()) {
      log::error("cannot open the store in " + opts.data_dir + ": " + why);
      return 1;
    }
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
    log::info("recovered " + std::to_string(recovered->messages)
              + " messages in " + std::to_string(recovered->queues.size())
              + " queues from " + opts.data_dir + " in "
              + std::to_string(took.count()) + " ms");
    rcfg.ids->store(recovered->next_id);
    rcfg.recovered = std::move(recovered);
    storage_config stcfg;
    stcfg.db = std::move(db);
    stcfg.mode = opts.fsync;
    stcfg.sync_interval = opts.fsync_interval;
    stcfg.ids = rcfg.ids;
    stcfg.healthy = healthy;
    rcfg.storage = sys.spawn<caf::detached>(actormq::storage, std::move(stcfg));
  }
  auto storage = rcfg.storage;
  auto defaults = rcfg.defaults;
  auto registry = sys.spawn(actormq::registry, std::move(rcfg));
  consumer_pool_actor consumers;
  if (opts.consumers > 0) {
    caf::scoped_actor self{sys};
    self
      ->request(registry, caf::infinite, atom::get::value, opts.consume_queue,
                true)
      .receive(
        [&](queue_actor& q) {
          consumer_config ccfg;
          ccfg.interval = opts.consume_interval;
          ccfg.batch = opts.consume_batch;
          consumers = sys.spawn(actormq::consumer_pool, q, ccfg,
                                opts.consumers);
        },
        [&](caf::error& err) {
          log::error("cannot create the consumers' queue: "
                     + sys.render(err));
        });
  }
  auto stop_actors = [&] {
    if (consumers)
      caf::anon_send_exit(consumers, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(registry, caf::exit_reason::user_shutdown);
    if (!storage)
      return;
    // Everything written so far reaches the disk before the exit.
    caf::scoped_actor self{sys};
    self->request(storage, std::chrono::seconds{10}, atom::flush::value)
      .receive([](atom::ok) {},
               [&](caf::error& err) {
                 log::error("final sync failed: " + sys.render(err));
               });
    self->send_exit(storage, caf::exit_reason::user_shutdown);
  };
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  http::server_config scfg;
  scfg.host = opts.host;
  scfg.port = opts.port;
  scfg.threads = opts.http_threads;
  scfg.max_message_bytes = opts.max_message_bytes;
  scfg.max_header_bytes = opts.max_header_bytes;
  scfg.header_timeout = duration_cast<milliseconds>(opts.header_timeout);
  scfg.request_timeout = duration_cast<milliseconds>(opts.request_timeout);
  scfg.idle_timeout = duration_cast<milliseconds>(opts.idle_timeout);
  scfg.max_connections = opts.max_connections;
  scfg.defaults = defaults;
  scfg.storage_healthy = opts.persistent ? healthy : nullptr;
  http::server srv{sys, registry, scfg};
  try {
    srv.start();
  } catch (const std::exception& e) {
    log::error(e.what());
    stop_actors();
    return 1;
  }
  log::info("ActorMQ listening on " + opts.host + ":"
            + std::to_string(srv.port()));
  int sig = 0;
  sigwait(&signals, &sig);
  log::info(sig == SIGINT ? "SIGINT received, shutting down"
                          : "SIGTERM received, shutting down");
  srv.stop();
  stop_actors();
  return 0;
}
