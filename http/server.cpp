#include "server.hpp"

#include <atomic>
#include <stdexcept>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <pistache/endpoint.h>
#include <pistache/http.h>

#include "actormq/log.hpp"
#include "json_api.hpp"

namespace actormq::http::detail {

/// A response still to be written; travels through actor messages.
struct pending_reply {
  /// Pistache's writer for the request's connection.
  std::shared_ptr<Pistache::Http::ResponseWriter> writer;
  /// Whether the connection stays open after the response.
  bool keep_alive;
};

} // namespace actormq::http::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actormq::http::detail::pending_reply)

namespace actormq::http {

namespace {

using namespace Pistache;
using detail::pending_reply;

CUSTOM_HEADER(Vary)

/// Writes `r` with the headers every reply carries.
void send_reply(Http::ResponseWriter& w, const reply& r, bool keep_alive) {
  auto& headers = w.headers();
  headers.add<Http::Header::AccessControlAllowOrigin>("*");
  // Pistache 0.0.5 answers `Connection: Close` unless the request asked for
  // keep-alive explicitly; HTTP/1.1 keeps connections open by default.
  headers.remove<Http::Header::Connection>();
  headers.add<Http::Header::Connection>(keep_alive
                                          ? Http::ConnectionControl::KeepAlive
                                          : Http::ConnectionControl::Close);
  w.send(static_cast<Http::Code>(r.status), r.body, MIME(Application, Json));
}

/// The frontend's actor: takes a parsed request and the writer, asks the
/// queue, and writes the reply when the queue answers. One per HTTP thread,
/// so a Pistache thread only ever does a non-blocking send.
caf::behavior bridge(caf::event_based_actor* self, queue_actor queue) {
  return {
    [=](atom::enqueue, payload& x, pending_reply& r) {
      self->request(queue, caf::infinite, atom::enqueue::value, std::move(x))
        .then(
          [r](uint64_t id) {
            send_reply(*r.writer, enqueued_reply(id), r.keep_alive);
          },
          [r](caf::error& err) {
            send_reply(*r.writer, problem_reply(to_problem(err)),
                       r.keep_alive);
          });
    },
  };
}

/// What every clone of the handler shares.
struct shared_state {
  std::vector<caf::actor> bridges;
  std::atomic<size_t> next_bridge{0};
};

bool iequals(std::string_view x, std::string_view y) {
  return std::equal(x.begin(), x.end(), y.begin(), y.end(),
                    [](unsigned char a, unsigned char b) {
                      return std::tolower(a) == std::tolower(b);
                    });
}

std::string raw_header(const Http::Request& req, const std::string& name) {
  auto raw = req.headers().tryGetRaw(name);
  return raw ? raw->value() : std::string{};
}

bool wants_keep_alive(const Http::Request& req) {
  auto conn = raw_header(req, "Connection");
  if (req.version() == Http::Version::Http11)
    return !iequals(conn, "close");
  return iequals(conn, "keep-alive");
}

/// Express matches routes case-insensitively and ignores one trailing slash.
bool path_is(std::string_view path, std::string_view route) {
  if (path.size() > 1 && path.back() == '/')
    path.remove_suffix(1);
  return iequals(path, route);
}

bool valid_content_length(const std::string& x) {
  return x.empty()
         || x.find_first_not_of("0123456789") == std::string::npos;
}

class frontend : public Http::Handler {
public:
  HTTP_PROTOTYPE(frontend)

  explicit frontend(std::shared_ptr<shared_state> st) : st_(std::move(st)) {
    // nop
  }

  void onRequest(const Http::Request& req, Http::ResponseWriter w) override {
    try {
      route(req, w);
    } catch (const std::exception& e) {
      log::error(std::string{"request failed: "} + e.what());
      send_reply(w, problem_reply(problem::internal_error), false);
    }
  }

  void onTimeout(const Http::Request& req, Http::ResponseWriter w) override {
    // Pistache never finishes parsing a request line without spaces: the
    // header timeout is where such garbage surfaces.
    auto p = req.resource().empty() ? problem::malformed_request
                                    : problem::request_timeout;
    send_reply(w, problem_reply(p), false);
  }

private:
  void route(const Http::Request& req, Http::ResponseWriter& w) {
    // Pistache reads `Content-Length: abc` as "no body" and would then parse
    // the body as the next request.
    if (!valid_content_length(raw_header(req, "Content-Length"))) {
      send_reply(w, problem_reply(problem::malformed_request), false);
      return;
    }
    auto keep_alive = wants_keep_alive(req);
    auto method = req.method();
    const auto& path = req.resource();
    if (method == Http::Method::Options) {
      preflight(req, w, keep_alive);
    } else if (method == Http::Method::Post && path_is(path, "/enqueue")) {
      enqueue(req, w, keep_alive);
    } else if (method == Http::Method::Get && path_is(path, "/healthz")) {
      send_reply(w, healthy_reply(), keep_alive);
    } else {
      send_reply(w, not_found_reply(), keep_alive);
    }
  }

  void enqueue(const Http::Request& req, Http::ResponseWriter& w,
               bool keep_alive) {
    auto parsed = parse_enqueue(raw_header(req, "Content-Type"), req.body());
    if (auto p = std::get_if<problem>(&parsed)) {
      send_reply(w, problem_reply(*p), keep_alive);
      return;
    }
    auto& bridges = st_->bridges;
    auto i = st_->next_bridge.fetch_add(1, std::memory_order_relaxed);
    caf::anon_send(bridges[i % bridges.size()], atom::enqueue::value,
                   std::move(std::get<payload>(parsed)),
                   pending_reply{
                     std::make_shared<Http::ResponseWriter>(std::move(w)),
                     keep_alive});
  }

  /// Answers a CORS preflight as Express' cors() does.
  void preflight(const Http::Request& req, Http::ResponseWriter& w,
                 bool keep_alive) {
    auto& headers = w.headers();
    headers.add<Http::Header::AccessControlAllowMethods>(
      "GET,HEAD,PUT,PATCH,POST,DELETE");
    auto requested = raw_header(req, "Access-Control-Request-Headers");
    if (!requested.empty())
      headers.add<Http::Header::AccessControlAllowHeaders>(requested);
    headers.add<Vary>("Access-Control-Request-Headers");
    send_reply(w, reply{204, {}}, keep_alive);
  }

  std::shared_ptr<shared_state> st_;
};

} // namespace

struct server::impl {
  caf::actor_system& sys;
  queue_actor queue;
  server_config cfg;
  std::shared_ptr<shared_state> st;
  std::unique_ptr<Http::Endpoint> endpoint;
};

server::server(caf::actor_system& sys, queue_actor queue, server_config cfg)
  : impl_(new impl{sys, std::move(queue), std::move(cfg),
                   std::make_shared<shared_state>(), nullptr}) {
  // nop
}

server::~server() {
  stop();
}

void server::start() {
  auto& d = *impl_;
  for (size_t i = 0; i < d.cfg.threads; ++i)
    d.st->bridges.push_back(d.sys.spawn(bridge, d.queue));
  // A JSON string may spell each byte as a 6-byte \u escape; everything a
  // client can send within the message limit must reach our handler.
  auto max_request = d.cfg.max_message_bytes * 6 + 64 * 1024;
  try {
    d.endpoint = std::make_unique<Http::Endpoint>(
      Address{d.cfg.host, Port{d.cfg.port}});
    d.endpoint->init(Http::Endpoint::options()
                       .threads(static_cast<int>(d.cfg.threads))
                       .flags(Tcp::Options::ReuseAddr | Tcp::Options::NoDelay)
                       .maxRequestSize(max_request)
                       .headerTimeout(d.cfg.header_timeout));
    d.endpoint->setHandler(Http::make_handler<frontend>(d.st));
    d.endpoint->serveThreaded();
  } catch (const std::exception& e) {
    stop();
    throw std::runtime_error("cannot listen on " + d.cfg.host + ":"
                             + std::to_string(d.cfg.port) + ": " + e.what());
  }
}

uint16_t server::port() const {
  return impl_->endpoint ? static_cast<uint16_t>(impl_->endpoint->getPort())
                         : 0;
}

void server::stop() {
  auto& d = *impl_;
  if (d.endpoint)
    d.endpoint->shutdown();
  // Writers held by the bridges must go before the endpoint does.
  if (!d.st->bridges.empty()) {
    caf::scoped_actor self{d.sys};
    for (auto& b : d.st->bridges) {
      self->send_exit(b, caf::exit_reason::user_shutdown);
      self->wait_for(b);
    }
    d.st->bridges.clear();
  }
  d.endpoint.reset();
}

} // namespace actormq::http
