#include "server.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <utility>
#include <variant>

#include <sys/resource.h>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include <pistache/listener.h>

#include "actormq/durable.hpp"
#include "actormq/log.hpp"
#include "auth.hpp"
#include "bridge.hpp"
#include "sqs_actions.hpp"
#include "connection.hpp"
#include "transport.hpp"

namespace actormq::http {

namespace {

constexpr int listen_backlog = 1024;

/// Descriptors kept for all but connections: the store's files, the
/// listener, the pollers, timers and queues of each thread, CAF's.
constexpr rlim_t reserved_descriptors = 64;

/// Connections served at once: `wanted`, or fewer (with a warning) if the
/// descriptor limit leaves no room for them (each holds one).
size_t connection_cap(size_t wanted) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY)
    return wanted;
  auto room = lim.rlim_cur > reserved_descriptors + 1
                ? static_cast<size_t>(lim.rlim_cur - reserved_descriptors)
                : size_t{1};
  if (wanted <= room)
    return wanted;
  log::warning("--max-connections=" + std::to_string(wanted)
               + " does not fit the descriptor limit ("
               + std::to_string(lim.rlim_cur) + ", less "
               + std::to_string(reserved_descriptors)
               + " kept for the rest): " + std::to_string(room)
               + " connections are served at once; raise the hard limit "
                 "(ulimit -Hn, systemd's LimitNOFILE=) to serve more");
  return room;
}

} // namespace

struct server::impl {
  caf::actor_system& sys;
  registry_actor registry;
  server_config cfg;
  std::shared_ptr<detail::shared_state> st;
  std::unique_ptr<Pistache::Tcp::Listener> listener;
  /// Spawns, watches and replaces the bridges.
  caf::actor supervisor;

  /// Reads the auth file again; a good one replaces the tokens in force.
  bool reload_tokens() {
    if (cfg.auth_file.empty())
      return true;
    auto loaded = auth::token_set::load(cfg.auth_file);
    if (auto err = std::get_if<auth::load_error>(&loaded)) {
      log::error("auth file refused, the tokens in force stay: "
                 + err->text);
      return false;
    }
    auto tokens = std::get<0>(std::move(loaded));
    auto count = tokens->size();
    std::atomic_store(&st->tokens, std::move(tokens));
    log::info("auth file reloaded: " + std::to_string(count) + " tokens");
    return true;
  }

  /// Reads the TLS files again; good ones make the context of new
  /// connections (open ones keep theirs).
  bool reload_tls() {
    auto current = std::atomic_load(&st->tls);
    if (!current)
      return true;
    auto& files = current->files();
    try {
      std::atomic_store(&st->tls,
                        std::make_shared<const tls_context>(files));
    } catch (const std::exception& e) {
      log::error(std::string{"TLS reload refused, the old certificate "
                             "stays: "}
                 + e.what());
      return false;
    }
    log::info("TLS certificate and key reloaded from " + files.cert
              + " and " + files.key + "; new connections use them");
    return true;
  }
};

server::server(caf::actor_system& sys, registry_actor registry,
               server_config cfg)
  : impl_(new impl{sys, std::move(registry), std::move(cfg),
                   std::make_shared<detail::shared_state>(), nullptr,
                   caf::actor{}}) {
  // nop
}

server::~server() {
  stop();
}

void server::start() {
  using namespace Pistache;
  auto& d = *impl_;
  d.st->max_header_bytes = d.cfg.max_header_bytes;
  // A JSON string may spell each byte as a 6-byte \u escape: whatever a
  // client can send within the message limit must reach the parser.
  d.st->max_body_bytes = d.cfg.max_message_bytes * 6 + 64 * 1024;
  d.st->limits.defaults = d.cfg.defaults;
  d.st->storage_healthy = d.cfg.storage_healthy;
  d.st->limits.max_message_bytes = d.cfg.max_message_bytes;
  d.st->sqs = d.cfg.sqs;
  d.st->header_timeout = d.cfg.header_timeout;
  d.st->request_timeout = d.cfg.request_timeout;
  d.st->idle_timeout = d.cfg.idle_timeout;
  d.st->send_timeout = d.cfg.send_timeout;
  d.st->max_connections = connection_cap(d.cfg.max_connections);
  d.st->actor_timeout = d.cfg.actor_timeout;
  d.st->receive_margin = d.cfg.receive_margin;
  std::atomic_store(&d.st->tokens, d.cfg.tokens);
  std::atomic_store(&d.st->tls, d.cfg.tls);
  d.supervisor = detail::spawn_bridges(
    d.sys, d.st,
    detail::bridge_config{
      d.registry, d.cfg.local ? d.cfg.local : d.registry, d.cfg.cluster,
      std::max<uint64_t>(1, d.cfg.max_forwarded / std::max<size_t>(1, d.cfg.threads)),
      d.cfg.actor_timeout, d.cfg.receive_margin, detail::make_sqs_state()},
    d.cfg.threads);
  watch(caf::actor_cast<caf::strong_actor_ptr>(d.supervisor),
        "the bridges' supervisor",
        d.cfg.on_failure ? d.cfg.on_failure : [](const caf::error&) {});
  try {
    d.listener = std::make_unique<Tcp::Listener>(
      Address{d.cfg.host, Port{d.cfg.port}});
    Flags<Tcp::Options> options{Tcp::Options::ReuseAddr};
    options.setFlag(Tcp::Options::NoDelay);
    // A deep accept queue: bursts of new connections wait in the kernel
    // instead of retrying their SYNs.
    d.listener->init(d.cfg.threads, options, "", listen_backlog);
    auto st = d.st;
    d.listener->setTransportFactory(
      [st] { return std::make_shared<detail::frontend_transport>(st); });
    d.listener->bind();
    d.listener->runThreaded();
  } catch (const std::exception& e) {
    stop();
    throw std::runtime_error("cannot listen on " + d.cfg.host + ":"
                             + std::to_string(d.cfg.port) + ": " + e.what());
  }
}

uint16_t server::port() const {
  return impl_->listener ? static_cast<uint16_t>(impl_->listener->getPort())
                         : 0;
}

/// How long stop() lets requests in flight finish.
constexpr auto drain_time = std::chrono::milliseconds{500};

/// How often stop() looks whether they have.
constexpr auto drain_poll = std::chrono::milliseconds{1};

void server::stop() {
  auto& d = *impl_;
  // Requests in flight get their answers first (long polls excepted: they
  // would hold the exit for up to 20 s).
  auto deadline = std::chrono::steady_clock::now() + drain_time;
  while (d.listener && d.st->in_flight.load() > 0
         && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(drain_poll);
  if (d.listener)
    d.listener->shutdown();
  // Connections held by the bridges write through the listener's
  // transports: the bridges go first, after their supervisor (which would
  // replace them).
  if (d.supervisor) {
    caf::scoped_actor self{d.sys};
    self->send_exit(d.supervisor, caf::exit_reason::user_shutdown);
    self->wait_for(d.supervisor);
    d.supervisor = caf::actor{};
    for (auto& b : d.st->take_bridges()) {
      self->send_exit(b, caf::exit_reason::user_shutdown);
      self->wait_for(b);
    }
  }
  d.listener.reset();
}

bool server::reload() {
  auto ok = true;
  ok = impl_->reload_tokens() && ok;
  ok = impl_->reload_tls() && ok;
  return ok;
}

std::vector<caf::actor> server::bridges() const {
  std::vector<caf::actor> result;
  if (!impl_->supervisor)
    return result;
  caf::scoped_actor self{impl_->sys};
  self->request(impl_->supervisor, std::chrono::seconds{5}, atom::list::value)
    .receive([&](std::vector<caf::actor>& xs) { result = std::move(xs); },
             [](caf::error&) {
               // Stopping: no bridges.
             });
  return result;
}

caf::actor server::bridge_supervisor() const {
  return impl_->supervisor;
}

} // namespace actormq::http
