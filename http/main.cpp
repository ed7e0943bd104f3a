#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>

#include <sys/resource.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/io/publish.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actormq/cluster.hpp"
#include "actormq/consumer_actor.hpp"
#include "actormq/durable.hpp"
#include "actormq/log.hpp"
#include "actormq/registry_actor.hpp"
#include "auth.hpp"
#include "config.hpp"
#include "server.hpp"

namespace {

/// Set when an actor that cannot be restarted in place failed (the storage
/// actor, the registry, the consumer pool, the bridges' supervisor): main
/// then exits with failure_status.
std::atomic<bool> failed{false};

/// EX_SOFTWARE: an internal error; a service manager restarts the service.
constexpr int failure_status = 70;

/// None of those can be restarted soundly in place: the process shuts down
/// as on SIGTERM and exits with failure_status, and its service manager
/// starts it again.
void on_failure(const caf::error&) {
  failed = true;
  ::kill(::getpid(), SIGTERM);
}

/// --new-token=NAME: prints a new token and its line for the auth file.
int print_new_token(const std::string& name) {
  using namespace actormq::http;
  try {
    auto token = auth::new_token();
    std::printf("%s\n%s %s\n", token.c_str(), name.c_str(),
                auth::digest_hex(token).c_str());
    std::fflush(stdout);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "actormq: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr,
               "actormq: above, the token (give it to its client; it is "
               "shown only now) and its line for the auth file: add the "
               "line with its grants (send:GLOB receive:GLOB manage:GLOB "
               "metrics *), then send actormq SIGHUP\n");
  return 0;
}

/// Prepares `cfg` for a cluster node: the types that cross nodes, CAF's
/// middleman (and libcaf_openssl with --cluster-ca, so that no plain
/// connection is ever made), and heartbeats that notice a dead or hung
/// peer within seconds (unless the command line sets them).
void prepare_cluster(actormq::http::config& cfg,
                     const actormq::http::settings& opts) {
  actormq::add_cluster_types(cfg);
  if (!opts.cluster_ca.empty()) {
    cfg.load<caf::openssl::manager>();
    cfg.set("openssl.certificate", opts.cluster_cert);
    cfg.set("openssl.key", opts.cluster_key);
    cfg.set("openssl.cafile", opts.cluster_ca);
  }
  using std::chrono::seconds;
  if (caf::get_or(cfg, "middleman.heartbeat-interval", caf::timespan{0})
      == caf::timespan{0})
    cfg.set("middleman.heartbeat-interval", caf::timespan{seconds{1}});
  if (caf::get_or(cfg, "middleman.connection-timeout", caf::timespan{0})
      == caf::timespan{0})
    cfg.set("middleman.connection-timeout", caf::timespan{seconds{3}});
}

/// Spawns this node's cluster actor on `local` and publishes it on its own
/// entry's address; none (logged) if that fails.
actormq::node_actor start_cluster(caf::actor_system& sys,
                                  const actormq::http::settings& opts,
                                  const actormq::registry_actor& local) {
  using namespace actormq;
  cluster_config ccfg;
  ccfg.name = opts.node_name;
  ccfg.members = opts.members;
  ccfg.local = local;
  ccfg.connector = connector(sys);
  ccfg.max_in_flight = opts.cluster_max_in_flight;
  ccfg.protocol = opts.cluster_protocol;
  auto me = *std::find_if(opts.members.begin(), opts.members.end(),
                          [&](const member& m) {
                            return m.name == opts.node_name;
                          });
  auto node = sys.spawn(cluster_node, std::move(ccfg));
  auto published
    = opts.cluster_ca.empty()
        ? caf::io::publish(node, me.port, me.host.c_str(), true)
        : caf::openssl::publish(node, me.port, me.host.c_str(), true);
  if (!published) {
    log::error("cannot listen for the cluster on " + me.host + ":"
               + std::to_string(me.port) + ": "
               + sys.render(published.error()));
    caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    return {};
  }
  log::info("cluster: node " + me.name + " listening for its peers on "
            + me.host + ":" + std::to_string(me.port)
            + (opts.cluster_ca.empty() ? "" : " (TLS, verified both ways)"));
  return node;
}

/// Raises the soft limit on open descriptors to the hard one: each
/// connection holds one (the server fits --max-connections within it).
void raise_descriptor_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= lim.rlim_max)
    return;
  lim.rlim_cur = lim.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &lim);
}

} // namespace

int main(int argc, char** argv) {
  using namespace actormq;
  // Every thread inherits this mask; only sigwait() below sees the signals.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
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
  if (!opts.new_token.empty())
    return print_new_token(opts.new_token);
  log::set_level(opts.log_level);
  raise_descriptor_limit();
  if (!opts.members.empty())
    prepare_cluster(cfg, opts);
  caf::actor_system sys{cfg};
  registry_config rcfg;
  rcfg.node = opts.node_name;
  rcfg.defaults.max_message_bytes = opts.max_message_bytes;
  rcfg.max_memory_bytes = opts.max_memory_bytes;
  auto defaults = rcfg.defaults;
  durable_node node;
  if (opts.persistent) {
    durable_options dopts;
    dopts.data_dir = opts.data_dir;
    dopts.fsync = opts.fsync;
    dopts.fsync_interval = opts.fsync_interval;
    dopts.registry = std::move(rcfg);
    dopts.on_failure = on_failure;
    auto started = start_durable(sys, std::move(dopts));
    if (!started)
      return 1;
    node = std::move(*started);
  } else {
    node.registry = sys.spawn(actormq::registry, std::move(rcfg));
    watch(caf::actor_cast<caf::strong_actor_ptr>(node.registry),
          "the registry", on_failure);
  }
  node_actor cluster;
  if (!opts.members.empty()) {
    cluster = start_cluster(sys, opts, node.registry);
    if (!cluster) {
      if (node.storage)
        stop_durable(sys, node);
      else
        caf::anon_send_exit(node.registry, caf::exit_reason::user_shutdown);
      return 1;
    }
    watch(caf::actor_cast<caf::strong_actor_ptr>(cluster), "the cluster actor",
          on_failure);
  }
  // Requests go to the cluster actor in a cluster: it finds each queue's
  // node.
  auto registry = cluster ? caf::actor_cast<registry_actor>(cluster)
                          : node.registry;
  consumer_pool_actor consumers;
  if (opts.consumers > 0) {
    consumer_config ccfg;
    ccfg.interval = opts.consume_interval;
    ccfg.batch = opts.consume_batch;
    // Through the registry: the pool follows its queue when it restarts.
    consumers = sys.spawn(actormq::registry_consumer_pool, registry,
                          opts.consume_queue, ccfg, opts.consumers);
    watch(caf::actor_cast<caf::strong_actor_ptr>(consumers),
          "the consumer pool", on_failure);
  }
  auto stop_actors = [&] {
    if (consumers)
      caf::anon_send_exit(consumers, caf::exit_reason::user_shutdown);
    if (cluster)
      caf::anon_send_exit(cluster, caf::exit_reason::user_shutdown);
    if (node.storage)
      stop_durable(sys, node);
    else
      caf::anon_send_exit(node.registry, caf::exit_reason::user_shutdown);
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
  scfg.send_timeout = duration_cast<milliseconds>(opts.send_timeout);
  scfg.max_connections = opts.max_connections;
  scfg.defaults = defaults;
  scfg.storage_healthy = node.healthy;
  scfg.auth_file = opts.auth_file;
  scfg.tokens = opts.tokens;
  scfg.tls = opts.tls;
  scfg.sqs = opts.sqs;
  scfg.local = node.registry;
  scfg.cluster = cluster;
  scfg.max_forwarded = opts.cluster_max_in_flight;
  scfg.on_failure = on_failure;
  http::server srv{sys, registry, scfg};
  try {
    srv.start();
  } catch (const std::exception& e) {
    log::error(e.what());
    stop_actors();
    return 1;
  }
  if (opts.tokens)
    log::info("access control on: " + std::to_string(opts.tokens->size())
              + " tokens from " + opts.auth_file);
  std::string scheme;
  if (opts.tls)
    scheme = opts.tls->files().client_ca.empty()
               ? " (HTTPS)"
               : " (HTTPS, client certificates required)";
  log::info("ActorMQ listening on " + opts.host + ":"
            + std::to_string(srv.port()) + scheme);
  int sig = 0;
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
    log::info("SIGHUP received, reading the files again");
    srv.reload();
  }
  if (failed)
    log::error("shutting down after a failure, exit status 70");
  else
    log::info(sig == SIGINT ? "SIGINT received, shutting down"
                            : "SIGTERM received, shutting down");
  // Long polls are answered with what they have before the server stops.
  caf::anon_send(registry, atom::drain::value);
  srv.stop();
  stop_actors();
  return failed ? failure_status : 0;
}
