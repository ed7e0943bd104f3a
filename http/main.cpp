#include <csignal>
#include <cstdio>
#include <exception>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>

#include "actormq/consumer_actor.hpp"
#include "actormq/log.hpp"
#include "actormq/queue_actor.hpp"
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
  queue_config qcfg;
  qcfg.attributes.max_message_bytes = opts.max_message_bytes;
  auto queue = sys.spawn(actormq::queue, std::move(qcfg));
  auto consumer = sys.spawn(actormq::consumer, queue,
                            consumer_config{opts.consume_interval, {}});
  auto stop_actors = [&] {
    caf::anon_send_exit(consumer, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(queue, caf::exit_reason::user_shutdown);
  };
  http::server srv{sys, queue,
                   http::server_config{
                     opts.host, opts.port, opts.http_threads,
                     opts.max_message_bytes, opts.max_header_bytes}};
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
