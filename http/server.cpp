#include "server.hpp"

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include <sys/socket.h>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <pistache/listener.h>
#include <pistache/peer.h>
#include <pistache/tcp.h>
#include <pistache/transport.h>

#include "actormq/log.hpp"
#include "actormq/registry_actor.hpp"
#include "api.hpp"
#include "json_api.hpp"
#include "text.hpp"
#include "wire.hpp"

namespace actormq::http::detail {

class connection;

/// Where an actor's answer to a request goes; travels in actor messages.
struct responder {
  /// The connection that waits for the answer.
  std::shared_ptr<connection> conn;
};

} // namespace actormq::http::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actormq::http::detail::responder)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actormq::http::api_call)

namespace actormq::http::detail {

using namespace Pistache;

/// What every connection of a server shares.
struct shared_state {
  /// The frontend's actors, one per HTTP thread.
  std::vector<caf::actor> bridges;
  /// Round-robin position over `bridges`.
  std::atomic<size_t> next_bridge{0};
  /// Limits for the request reader.
  size_t max_header_bytes;
  size_t max_body_bytes;
  /// Limits of the API.
  api_limits limits;
  /// False while the store fails; null: no store.
  std::shared_ptr<const std::atomic<bool>> storage_healthy;
  /// Requests handed to a bridge and not yet answered.
  std::atomic<int64_t> in_flight{0};
};

/// One client connection: reads requests, serves them one at a time in
/// order (pipelining included) and writes the responses.
class connection : public std::enable_shared_from_this<connection> {
public:
  connection(std::shared_ptr<shared_state> st, Tcp::Transport* transport,
             Fd fd)
    : st_(std::move(st)),
      transport_(transport),
      fd_(fd),
      reader_(st_->max_header_bytes, st_->max_body_bytes) {
    // nop
  }

  /// Bytes arrived (on the connection's Pistache thread).
  void input(const char* data, size_t size) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (closing_)
      return;
    reader_.feed(data, size, pending_);
    if (reader_.take_continue() && !busy_ && pending_.empty())
      write(std::string{continue_response()}, false);
    serve_pending();
  }

  /// The client went away; nothing may be written to the descriptor now.
  void closed() {
    std::lock_guard<std::mutex> guard{mtx_};
    open_ = false;
    closing_ = true;
    pending_.clear();
  }

  /// Answers the request in service (from an actor's thread); false if the
  /// client is gone and the answer went nowhere.
  bool respond(const reply& r) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!busy_)
      return false; // answered already (see serve_pending's error path)
    st_->in_flight.fetch_sub(1, std::memory_order_relaxed);
    auto delivered = open_;
    finish(r);
    serve_pending();
    return delivered;
  }

private:
  void serve_pending() {
    while (!busy_ && !closing_ && !pending_.empty()) {
      auto req = std::move(pending_.front());
      pending_.pop_front();
      keep_alive_ = req.keep_alive;
      head_ = req.method == verb::head;
      busy_ = true;
      try {
        serve(req);
      } catch (const std::exception& e) {
        // A bug, not the client's fault: the details stay in our log.
        log::error(std::string{"serving a request failed: "} + e.what());
        if (busy_)
          finish(problem_reply(problem::internal_error));
      }
    }
  }

  /// Routes one request; answers at once or hands it to an actor.
  void serve(request& req) {
    if (req.failed) {
      finish(problem_reply(req.error));
    } else if (req.method == verb::options) {
      preflight(req);
    } else if (req.method == verb::post && path_is(req.path, "/enqueue")) {
      enqueue_compat(req);
    } else if ((req.method == verb::get || req.method == verb::head)
               && path_is(req.path, "/healthz")) {
      auto& h = st_->storage_healthy;
      finish(!h || h->load() ? healthy_reply() : storage_failing_reply());
    } else {
      api(req);
    }
  }

  /// The original's POST /enqueue: the queue named "default".
  void enqueue_compat(request& req) {
    auto parsed = parse_enqueue(req.content_type, req.body);
    if (auto p = std::get_if<problem>(&parsed)) {
      finish(problem_reply(*p));
      return;
    }
    api_call call;
    call.kind = op::enqueue_compat;
    call.queue = "default";
    call.messages.emplace_back().data = std::move(std::get<payload>(parsed));
    dispatch(std::move(call));
  }

  void api(request& req) {
    auto parsed = parse_call(route_input{method_name(req.method), req.path,
                                         req.query, req.content_type,
                                         req.body},
                             st_->limits);
    if (auto call = std::get_if<api_call>(&parsed))
      dispatch(std::move(*call));
    else if (auto r = std::get_if<reply>(&parsed))
      finish(*r);
    else
      finish(not_found_reply());
  }

  void dispatch(api_call call) {
    auto& bridges = st_->bridges;
    auto i = st_->next_bridge.fetch_add(1, std::memory_order_relaxed);
    st_->in_flight.fetch_add(1, std::memory_order_relaxed);
    caf::anon_send(bridges[i % bridges.size()], std::move(call),
                   responder{shared_from_this()});
  }

  static std::string_view method_name(verb x) {
    switch (x) {
      case verb::get:
        return "GET";
      case verb::head:
        return "HEAD";
      case verb::post:
        return "POST";
      case verb::put:
        return "PUT";
      case verb::del:
        return "DELETE";
      case verb::options:
        return "OPTIONS";
      default:
        return "OTHER";
    }
  }

  /// Answers a CORS preflight as Express' cors() does.
  void preflight(const request& req) {
    std::string extra = "Access-Control-Allow-Methods: "
                        "GET,HEAD,PUT,PATCH,POST,DELETE\r\n";
    if (!req.cors_request_headers.empty()) {
      extra += "Access-Control-Allow-Headers: ";
      for (auto c : req.cors_request_headers)
        if (c != '\r' && c != '\n')
          extra += c;
      extra += "\r\nVary: Access-Control-Request-Headers\r\n";
    }
    finish(reply{204, {}}, extra);
  }

  /// Express matches routes case-insensitively, with or without one
  /// trailing slash.
  static bool path_is(std::string_view path, std::string_view route) {
    if (path.size() > 1 && path.back() == '/')
      path.remove_suffix(1);
    return iequals(path, route);
  }

  void finish(const reply& r, std::string_view extra_headers = {}) {
    busy_ = false;
    auto close = !keep_alive_;
    write(render_response(r, !close, extra_headers, head_), close);
    if (close) {
      closing_ = true;
      pending_.clear();
    }
  }

  /// Writes at once from this thread when nothing of ours is queued in
  /// Pistache (saves waking its reactor: the common case for small
  /// replies); what the socket does not take goes through Pistache's queue.
  /// The mutex keeps the descriptor valid: closed() needs it first.
  void write(std::string bytes, bool close_after) {
    if (!open_)
      return;
    size_t done = 0;
    if (queued_writes_.load(std::memory_order_acquire) == 0 && !close_after) {
      auto n = ::send(fd_, bytes.data(), bytes.size(),
                      MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0)
        done = static_cast<size_t>(n);
      if (done == bytes.size())
        return;
    }
    bytes.erase(0, done);
    auto size = bytes.size();
    queued_writes_.fetch_add(1, std::memory_order_relaxed);
    auto sent = transport_->asyncWrite(fd_, RawBuffer{std::move(bytes), size});
    auto fd = fd_;
    auto self = shared_from_this();
    sent.then(
      [self, fd, close_after](ssize_t) {
        self->write_done();
        if (close_after)
          ::shutdown(fd, SHUT_RDWR);
      },
      [self](std::exception_ptr&) { self->write_done(); });
  }

  /// Runs on Pistache's thread, or inline here if the write finished
  /// before then() was attached: hence an atomic, not the mutex.
  void write_done() {
    queued_writes_.fetch_sub(1, std::memory_order_release);
  }

  std::shared_ptr<shared_state> st_;
  Tcp::Transport* transport_;
  Fd fd_;
  std::mutex mtx_;
  request_reader reader_;
  std::deque<request> pending_;
  bool busy_ = false;
  bool keep_alive_ = true;
  bool head_ = false;
  bool closing_ = false;
  bool open_ = true;
  /// Writes handed to Pistache's queue and not yet done.
  std::atomic<size_t> queued_writes_{0};
};

/// The state of a bridge: where queues are, and the handles it has seen.
struct bridge_state {
  static constexpr const char* name = "actormq.http.bridge";
  registry_actor registry;
  std::unordered_map<std::string, queue_actor> queues;
};

using bridge_ptr = caf::stateful_actor<bridge_state>*;

void answer_error(const responder& r, const caf::error& err) {
  r.conn->respond(problem_reply(to_problem(err)));
}

/// Runs `f` with the named queue (from the cache, or asked of the registry,
/// which creates it when `create` is set).
template <class F>
void with_queue(bridge_ptr self, const std::string& name, bool create,
                const responder& r, F f) {
  auto& cache = self->state.queues;
  if (auto i = cache.find(name); i != cache.end()) {
    f(i->second);
    return;
  }
  self->request(self->state.registry, caf::infinite, atom::get::value, name,
                create)
    .then(
      [=](queue_actor& q) mutable {
        self->monitor(q);
        self->state.queues.emplace(name, q);
        f(q);
      },
      [=](caf::error& err) { answer_error(r, err); });
}

/// Performs a call on its queue and answers it.
void on_queue(bridge_ptr self, api_call& call, const responder& r,
              const queue_actor& q) {
  auto fail = [r](caf::error& err) { answer_error(r, err); };
  switch (call.kind) {
    case op::enqueue_compat:
    case op::enqueue:
    {
      auto kind = call.kind;
      if (call.batch) {
        self->request(q, caf::infinite, atom::enqueue::value,
                      std::move(call.messages))
          .then([=](std::vector<uint64_t>& ids) {
            r.conn->respond(enqueue_reply(kind, true, ids));
          }, fail);
      } else {
        self->request(q, caf::infinite, atom::enqueue::value,
                      std::move(call.messages.front()))
          .then([=](uint64_t id) {
            r.conn->respond(enqueue_reply(kind, false, {id}));
          }, fail);
      }
      return;
    }
    case op::receive:
      self->request(q, caf::infinite, atom::receive::value, call.max,
                    call.visibility, call.wait)
        .then([=](std::vector<lease>& xs) {
          if (r.conn->respond(leases_reply(xs, self->clock().now())))
            return;
          // The client left while waiting: its messages go back at once.
          std::vector<std::string> receipts;
          for (auto& x : xs)
            receipts.push_back(std::move(x.receipt));
          if (!receipts.empty())
            self
              ->request(q, caf::infinite, atom::release::value,
                        std::move(receipts), caf::timespan{0})
              .then([](std::vector<caf::error>&) {});
        }, fail);
      return;
    case op::ack:
      self->request(q, caf::infinite, atom::ack::value, call.receipts)
        .then([=](std::vector<caf::error>& results) {
          r.conn->respond(receipts_reply(call.receipts, results));
        }, fail);
      return;
    case op::release:
    case op::extend: {
      auto arg = call.kind == op::release ? call.delay : call.visibility;
      auto handle = [=](std::vector<caf::error>& results) {
        r.conn->respond(receipts_reply(call.receipts, results));
      };
      if (call.kind == op::release)
        self->request(q, caf::infinite, atom::release::value, call.receipts,
                      arg).then(handle, fail);
      else
        self->request(q, caf::infinite, atom::extend::value, call.receipts,
                      arg).then(handle, fail);
      return;
    }
    case op::peek:
      self->request(q, caf::infinite, atom::peek::value, call.max)
        .then([=](std::vector<message>& xs) {
          r.conn->respond(messages_reply(xs, self->clock().now()));
        }, fail);
      return;
    case op::purge:
      self->request(q, caf::infinite, atom::purge::value)
        .then([=](uint64_t n) { r.conn->respond(count_reply("purged", n)); },
              fail);
      return;
    default:
      r.conn->respond(problem_reply(problem::internal_error));
  }
}

/// The frontend's actor: takes a parsed call and the connection waiting for
/// it, asks the registry or a queue, and writes the answer. One per HTTP
/// thread, so a Pistache thread only ever does a non-blocking send.
caf::behavior bridge(caf::stateful_actor<bridge_state>* self,
                     registry_actor registry) {
  self->state.registry = std::move(registry);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& cache = self->state.queues;
    for (auto i = cache.begin(); i != cache.end();) {
      if (i->second.address() == dm.source)
        i = cache.erase(i);
      else
        ++i;
    }
  });
  return {
    [=](api_call& call, responder& r) {
      auto fail = [r](caf::error& err) { answer_error(r, err); };
      auto& reg = self->state.registry;
      switch (call.kind) {
        case op::list_queues:
        case op::metrics: {
          auto metrics = call.kind == op::metrics;
          self->request(reg, caf::infinite, atom::list::value)
            .then([=](std::vector<queue_info>& xs) {
              r.conn->respond(metrics ? metrics_reply(xs) : queues_reply(xs));
            }, fail);
          return;
        }
        case op::get_queue:
          self->request(reg, caf::infinite, atom::stats::value, call.queue)
            .then([=](queue_info& x) { r.conn->respond(queue_reply(x)); },
                  fail);
          return;
        case op::put_queue: {
          // A PUT changes the attributes it names: start from the queue's
          // (or, for a new queue, the defaults).
          auto put = [=](queue_attributes base) {
            apply_attributes(call, base);
            auto& reg = self->state.registry;
            self->request(reg, caf::infinite, atom::put::value, call.queue,
                          std::move(base))
              .then([=](queue_actor&) {
                self->request(self->state.registry, caf::infinite,
                              atom::stats::value, call.queue)
                  .then([=](queue_info& x) { r.conn->respond(queue_reply(x)); },
                        fail);
              }, fail);
          };
          self->request(reg, caf::infinite, atom::stats::value, call.queue)
            .then([=](queue_info& x) { put(std::move(x.attributes)); },
                  [=](caf::error&) { put(call.attributes); });
          return;
        }
        case op::delete_queue:
          self->state.queues.erase(call.queue);
          self->request(reg, caf::infinite, atom::remove::value, call.queue)
            .then([=](bool) { r.conn->respond(deleted_reply(call.queue)); },
                  fail);
          return;
        case op::redrive:
          self->request(reg, caf::infinite, atom::redrive::value, call.queue)
            .then([=](uint64_t n) {
              r.conn->respond(count_reply("redriven", n));
            }, fail);
          return;
        default: {
          auto create = call.kind == op::enqueue
                        || call.kind == op::enqueue_compat;
          auto name = call.queue;
          with_queue(self, name, create, r,
                     [=](const queue_actor& q) mutable {
                       on_queue(self, call, r, q);
                     });
        }
      }
    },
  };
}

/// Pistache's per-thread TCP handler: one `connection` per peer.
class frontend : public Tcp::Handler {
public:
  PROTOTYPE_OF(Tcp::Handler, frontend)

  explicit frontend(std::shared_ptr<shared_state> st) : st_(std::move(st)) {
    // nop
  }

  void onConnection(const std::shared_ptr<Tcp::Peer>& peer) override {
    peer->putData(key, std::make_shared<connection>(st_, transport(),
                                                    peer->fd()));
  }

  void onInput(const char* data, size_t size,
               const std::shared_ptr<Tcp::Peer>& peer) override {
    if (auto c = peer->tryGetData(key))
      static_cast<connection*>(c.get())->input(data, size);
  }

  void onDisconnection(const std::shared_ptr<Tcp::Peer>& peer) override {
    if (auto c = peer->tryGetData(key))
      static_cast<connection*>(c.get())->closed();
  }

private:
  static constexpr const char* key = "actormq.connection";
  std::shared_ptr<shared_state> st_;
};

} // namespace actormq::http::detail

namespace actormq::http {

struct server::impl {
  caf::actor_system& sys;
  registry_actor registry;
  server_config cfg;
  std::shared_ptr<detail::shared_state> st;
  std::unique_ptr<Pistache::Tcp::Listener> listener;
};

server::server(caf::actor_system& sys, registry_actor registry,
               server_config cfg)
  : impl_(new impl{sys, std::move(registry), std::move(cfg),
                   std::make_shared<detail::shared_state>(), nullptr}) {
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
  for (size_t i = 0; i < d.cfg.threads; ++i)
    d.st->bridges.push_back(d.sys.spawn(detail::bridge, d.registry));
  try {
    d.listener = std::make_unique<Tcp::Listener>(
      Address{d.cfg.host, Port{d.cfg.port}});
    Flags<Tcp::Options> options{Tcp::Options::ReuseAddr};
    options.setFlag(Tcp::Options::NoDelay);
    d.listener->init(d.cfg.threads, options);
    d.listener->setHandler(std::make_shared<detail::frontend>(d.st));
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

void server::stop() {
  auto& d = *impl_;
  // Requests in flight get their answers first (long polls excepted: they
  // would hold the exit for up to 20 s).
  auto deadline = std::chrono::steady_clock::now() + drain_time;
  while (d.listener && d.st->in_flight.load() > 0
         && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  if (d.listener)
    d.listener->shutdown();
  // Connections held by the bridges write through the listener's
  // transports: the bridges go first.
  if (!d.st->bridges.empty()) {
    caf::scoped_actor self{d.sys};
    for (auto& b : d.st->bridges) {
      self->send_exit(b, caf::exit_reason::user_shutdown);
      self->wait_for(b);
    }
    d.st->bridges.clear();
  }
  d.listener.reset();
}

} // namespace actormq::http
