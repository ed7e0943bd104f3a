#include "server.hpp"

#include <atomic>
#include <deque>
#include <mutex>
#include <stdexcept>
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

  /// Answers the request in service (from an actor's thread).
  void respond(const reply& r) {
    std::lock_guard<std::mutex> guard{mtx_};
    finish(r);
    serve_pending();
  }

private:
  void serve_pending() {
    while (!busy_ && !closing_ && !pending_.empty()) {
      auto req = std::move(pending_.front());
      pending_.pop_front();
      keep_alive_ = req.keep_alive;
      head_ = req.method == verb::head;
      busy_ = true;
      serve(req);
    }
  }

  /// Routes one request; answers at once or hands it to an actor.
  void serve(request& req) {
    if (req.failed) {
      finish(problem_reply(req.error));
    } else if (req.method == verb::options) {
      preflight(req);
    } else if (req.method == verb::post && path_is(req.path, "/enqueue")) {
      enqueue(req);
    } else if ((req.method == verb::get || req.method == verb::head)
               && path_is(req.path, "/healthz")) {
      finish(healthy_reply());
    } else {
      finish(not_found_reply());
    }
  }

  void enqueue(request& req) {
    auto parsed = parse_enqueue(req.content_type, req.body);
    if (auto p = std::get_if<problem>(&parsed)) {
      finish(problem_reply(*p));
      return;
    }
    auto& bridges = st_->bridges;
    auto i = st_->next_bridge.fetch_add(1, std::memory_order_relaxed);
    caf::anon_send(bridges[i % bridges.size()], atom::enqueue::value,
                   std::move(std::get<payload>(parsed)),
                   responder{shared_from_this()});
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

  void write(std::string bytes, bool close_after) {
    if (!open_)
      return;
    auto size = bytes.size();
    auto sent = transport_->asyncWrite(fd_, RawBuffer{std::move(bytes), size});
    if (close_after) {
      auto fd = fd_;
      sent.then([fd](ssize_t) { ::shutdown(fd, SHUT_RDWR); },
                Async::IgnoreException);
    }
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
};

/// The frontend's actor: passes a parsed request to the queue and the
/// queue's answer back to the connection. One per HTTP thread, so a Pistache
/// thread only ever does a non-blocking send.
caf::behavior bridge(caf::event_based_actor* self, queue_actor queue) {
  return {
    [=](atom::enqueue, payload& x, responder& r) {
      self
        ->request(queue, caf::infinite, atom::enqueue::value,
                  new_message{std::move(x), caf::none, 0, {}})
        .then([r](uint64_t id) { r.conn->respond(enqueued_reply(id)); },
              [r](caf::error& err) {
                r.conn->respond(problem_reply(to_problem(err)));
              });
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
  queue_actor queue;
  server_config cfg;
  std::shared_ptr<detail::shared_state> st;
  std::unique_ptr<Pistache::Tcp::Listener> listener;
};

server::server(caf::actor_system& sys, queue_actor queue, server_config cfg)
  : impl_(new impl{sys, std::move(queue), std::move(cfg),
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
  for (size_t i = 0; i < d.cfg.threads; ++i)
    d.st->bridges.push_back(d.sys.spawn(detail::bridge, d.queue));
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

void server::stop() {
  auto& d = *impl_;
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
