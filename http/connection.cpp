#include "connection.hpp"

#include <algorithm>
#include <cerrno>
#include <exception>
#include <optional>
#include <utility>

#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <caf/send.hpp>

#include <pistache/transport.h>

#include "actormq/log.hpp"
#include "bridge.hpp"
#include "sigv4.hpp"
#include "transport.hpp"

namespace actormq::http::detail {


caf::actor shared_state::next_bridge() {
  std::lock_guard<std::mutex> guard{bridges_mtx_};
  if (bridges_.empty())
    return {};
  return bridges_[next_bridge_++ % bridges_.size()];
}

void shared_state::set_bridge(size_t i, caf::actor b) {
  std::lock_guard<std::mutex> guard{bridges_mtx_};
  if (bridges_.size() <= i)
    bridges_.resize(i + 1);
  bridges_[i] = std::move(b);
}

std::vector<caf::actor> shared_state::take_bridges() {
  std::lock_guard<std::mutex> guard{bridges_mtx_};
  std::vector<caf::actor> result;
  result.swap(bridges_);
  return result;
}

connection::connection(std::shared_ptr<shared_state> st,
                       frontend_transport* t,
                       int fd)
  : st_(std::move(st)),
    transport_(t),
    fd_(fd),
    since_(clock_type::now()),
    reader_(st_->max_header_bytes, st_->max_body_bytes) {
  if (auto ctx = std::atomic_load(&st_->tls)) {
    tls_ = std::make_unique<tls_session>(*ctx);
    state_ = state::handshake;
  }
}

void connection::input(const char* data, size_t size) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!tls_)
    take(data, size);
  else if (state_ != state::closing)
    decrypt(data, size);
  update_pause();
}

/// Plaintext arrived: parsed at once, or kept to read ahead.
void connection::take(const char* data, size_t size) {
  if (state_ == state::idle || state_ == state::reading) {
    // Nothing waits unparsed in these states: read straight from `data`.
    auto used = parse(data, size);
    data += used;
    size -= used;
  }
  if (size > 0 && state_ != state::closing) {
    read_ahead_.erase(0, read_ahead_pos_);
    read_ahead_pos_ = 0;
    read_ahead_.append(data, size);
  }
}

/// Bytes from a TLS client: the handshake moves on, records become
/// plaintext, and what the session has to say goes out. A failed session
/// closes the connection at once (plain HTTP sent here ends so).
void connection::decrypt(const char* data, size_t size) {
  tls_->feed(data, size);
  char plain[16 * 1024];
  while (state_ != state::closing) {
    auto n = tls_->read(plain, sizeof(plain));
    if (state_ == state::handshake && tls_->established())
      state_ = state::reading; // since_ stays: --header-timeout goes on
    if (n == 0)
      break;
    take(plain, n);
  }
  send(tls_->take_output(), false);
  if (tls_->failed()) {
    log::debug("a TLS handshake or record failed; connection closed");
    close_now();
  }
}

bool connection::resume() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (state_ == state::dispatched
      && orphaned_.load(std::memory_order_acquire) == request_) {
    log::warning("an actor ended holding a request; the request got 503");
    answer(unavailable());
  }
  if (state_ == state::writing
      && unsent_.load(std::memory_order_acquire) < max_unsent) {
    state_ = state::idle;
    since_ = clock_type::now();
    serve_read_ahead();
  }
  update_pause();
  return !paused() && open_;
}

void connection::expire(clock_type::time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  if ((state_ == state::writing || state_ == state::closing
       || state_ == state::idle)
      && open_ && replies_unacked()) {
    if (stalled(now)) {
      log::debug("a client took no reply bytes within --send-timeout; "
                 "connection reset");
      reset();
    }
  } else if ((state_ == state::idle && now - since_ >= st_->idle_timeout)
             || (state_ == state::closing && now - since_ >= linger_time
                 && queued_writes_.load(std::memory_order_acquire) == 0)) {
    close_now();
  } else if (state_ == state::handshake
             && now - since_ >= std::min(st_->header_timeout,
                                         st_->request_timeout)) {
    log::debug("a TLS handshake did not finish within --header-timeout; "
               "connection closed");
    close_now();
  } else if (state_ == state::dispatched && now >= deadline_) {
    log::warning("a request got no answer from the actors in time; the "
                 "request got 503");
    answer(unavailable());
  } else if (state_ == state::reading) {
    auto limit = st_->request_timeout;
    if (reader_.at() != request_reader::phase::body)
      limit = std::min(limit, st_->header_timeout);
    if (now - since_ < limit)
      return;
    keep_alive_ = false;
    head_ = false;
    finish(problem_reply(problem::request_timeout));
  }
}

void connection::refuse() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (tls_) {
    close_now();
    return;
  }
  keep_alive_ = false;
  finish(problem_reply(problem::too_many_connections));
  close_now();
}

bool connection::closed() {
  std::lock_guard<std::mutex> guard{mtx_};
  open_ = false;
  std::string{}.swap(read_ahead_);
  read_ahead_pos_ = 0;
  // A request in service still gets its respond() (it ends in closing,
  // and leaves then).
  if (state_ == state::dispatched)
    return true;
  state_ = state::closing;
  leave();
  return false;
}

bool connection::in_service() {
  std::lock_guard<std::mutex> guard{mtx_};
  return state_ == state::dispatched;
}

bool connection::respond(uint64_t request, const reply& r) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (state_ != state::dispatched || request != request_)
    return false; // one answer per request: this one came too late
  return answer(r);
}

bool connection::awaits(uint64_t request) {
  std::lock_guard<std::mutex> guard{mtx_};
  return state_ == state::dispatched && request == request_;
}

/// Answers the request in service and serves what waits behind it.
bool connection::answer(const reply& r) {
  uncount(request_);
  auto delivered = open_.load();
  finish(r);
  if (!delivered)
    leave();
  serve_read_ahead();
  if (update_pause())
    transport_->wake(shared_from_this());
  return delivered;
}

void connection::uncount(uint64_t request) {
  if (counted_.compare_exchange_strong(request, 0, std::memory_order_acq_rel))
    st_->in_flight.fetch_sub(1, std::memory_order_relaxed);
}

dispatched_request::dispatched_request(std::shared_ptr<connection> conn,
                                       uint64_t number)
  : conn(std::move(conn)), number(number) {
  // nop
}

dispatched_request::~dispatched_request() {
  conn->release(number);
}

void connection::release(uint64_t request) {
  if (counted_.load(std::memory_order_acquire) != request)
    return; // answered already (answer() uncounts it)
  orphaned_.store(request, std::memory_order_release);
  transport_->wake(shared_from_this());
  uncount(request);
}

bool responder::respond(const reply& r) const {
  return request->conn->respond(request->number, r);
}

bool responder::awaited() const {
  return request->conn->awaits(request->number);
}

/// Reads and serves requests from `data` while the state lets it; returns
/// the bytes used.
size_t connection::parse(const char* data, size_t size) {
  size_t used = 0;
  while (used < size
         && (state_ == state::idle || state_ == state::reading)) {
    if (state_ == state::idle) {
      state_ = state::reading;
      since_ = clock_type::now();
    }
    used += reader_.feed(data + used, size - used);
    if (!screened_ && !reader_.ready()
        && reader_.at() == request_reader::phase::body) {
      screened_ = true;
      if (refuse_early())
        break;
    }
    if (reader_.take_continue())
      write(std::string{continue_response()}, false);
    if (reader_.ready()) {
      screened_ = false;
      auto req = reader_.take();
      serve(req);
    }
  }
  return used;
}

/// Answers at once or hands the request to an actor; a bug is a logged
/// 500, never a silent connection.
void connection::serve(request& req) {
  keep_alive_ = req.keep_alive;
  head_ = req.method == verb::head;
  try {
    route(req);
  } catch (const std::exception& e) {
    log::error(std::string{"serving a request failed: "} + e.what());
    if (state_ == state::reading)
      finish(problem_reply(problem::internal_error));
  }
}

void connection::route(request& req) {
  if (req.failed) {
    finish(problem_reply(req.error));
    return;
  }
  if (req.method == verb::options) {
    preflight(req);
    return;
  }
  if (req.method == verb::other) {
    finish(problem_reply(problem::not_implemented));
    return;
  }
  if (auto proto = sqs::detect(req)) {
    serve_sqs(req, *proto);
    return;
  }
  auto m = match_route(req.method, req.path);
  if (m.result == route_match::outcome::no_path) {
    finish(not_found_reply());
  } else if (m.result == route_match::outcome::no_method) {
    finish(method_not_allowed_reply(m));
  } else if (m.kind == op::healthz) {
    auto& h = st_->storage_healthy;
    finish(!h || h->load() ? healthy_reply() : storage_failing_reply());
  } else {
    serve_call(req, m);
  }
}

namespace {

/// With access control on, the answer that refuses `req` on route `m`: 401
/// without a known token, 403 without the route's grant. None if it may go
/// on; `who` then holds its token's grants (none without access control).
std::optional<reply> screen(const shared_state& st, const request& req,
                            const route_match& m,
                            std::shared_ptr<const auth::grants>& who) {
  auto tokens = std::atomic_load(&st.tokens);
  if (!tokens)
    return std::nullopt;
  auto c = tokens->identify(req.authorization);
  if (!c.token)
    return problem_reply(c.presented ? problem::invalid_token
                                     : problem::token_required);
  auto grant = needed_grant(m.kind);
  if (grant && !c.token->allows(*grant, m.queue))
    return forbidden_reply(auth::name_of(*grant), m.queue);
  // Shares the set's ownership: a reload meanwhile cannot free them.
  who = std::shared_ptr<const auth::grants>{tokens, c.token};
  return std::nullopt;
}

/// The 403 a parsed call gets from the token `who` beyond its route's
/// grant, if any: a PUT that names a dead-letter queue sends messages
/// there, so it needs a send grant on that queue too.
std::optional<reply> refusal(const auth::grants& who, const api_call& call) {
  auto& dlq = call.attributes.dead_letter_queue;
  if (call.kind == op::put_queue
      && (call.attribute_fields & attribute_field::dead_letter_queue) != 0
      && !dlq.empty() && !who.allows(auth::action::send, dlq))
    return forbidden_reply(auth::name_of(auth::action::send), dlq);
  return std::nullopt;
}

} // namespace

/// Refuses the request whose headers are in and whose body is still on its
/// way if its token does not allow its route (see screen()): answered at
/// once, before a 100 Continue could invite the body and before the body
/// is held, then closed (lingering: the body is read and dropped for a
/// while, so the client sees the answer). Returns whether it refused.
bool connection::refuse_early() {
  auto& req = reader_.pending();
  auto m = match_route(req.method, req.path);
  if (m.result != route_match::outcome::found || m.kind == op::healthz)
    return false;
  std::shared_ptr<const auth::grants> who;
  auto refusal = screen(*st_, req, m, who);
  if (!refusal)
    return false;
  keep_alive_ = false;
  head_ = req.method == verb::head;
  finish(*refusal);
  return true;
}

/// Serves a found route: with access control on, the token comes first
/// (401 without a known one, 403 without the grant), before anything reads
/// the body; then the call goes to a bridge.
void connection::serve_call(const request& req, const route_match& m) {
  std::shared_ptr<const auth::grants> who;
  if (auto refusal = screen(*st_, req, m, who)) {
    finish(*refusal);
    return;
  }
  auto parsed = parse_call(m, route_input{req.query, req.content_type,
                                          req.body},
                           st_->limits);
  auto call = std::get_if<api_call>(&parsed);
  if (!call) {
    finish(std::get<reply>(parsed));
    return;
  }
  if (who) {
    if (auto r = refusal(*who, *call)) {
      finish(*r);
      return;
    }
    if (call->kind == op::list_queues)
      call->visible = std::move(who);
  }
  dispatch(std::move(*call));
}

/// Serves an SQS request: with access control on, its signature first
/// (see sigv4.hpp), before anything reads its parameters; then parsed into
/// its call, checked against the signer's grants, and on to a bridge.
void connection::serve_sqs(const request& req, sqs::protocol proto) {
  auto id = sqs::new_request_id();
  auto refuse = [&](sqs::code what, std::string message) {
    finish(sqs::error_reply(proto, id, {what, std::move(message)}));
  };
  auto tokens = std::atomic_load(&st_->tokens);
  sigv4::verdict who;
  if (tokens) {
    who = sigv4::verify(*tokens, req, std::chrono::system_clock::now());
    if (!who.token) {
      refuse(who.failure, who.message);
      return;
    }
  }
  std::variant<sqs::call, reply> parsed;
  try {
    parsed = sqs::parse(req, proto, id, st_->sqs, st_->limits);
  } catch (const std::exception&) {
    log::error("an SQS request could not be read (a bug); it got 500");
    refuse(sqs::code::internal_failure, "The server failed to serve the "
                                        "request.");
    return;
  }
  auto call = std::get_if<sqs::call>(&parsed);
  if (!call) {
    finish(std::get<reply>(parsed));
    return;
  }
  if (tokens) {
    auto grant = sqs::needed_grant(call->act);
    auto any_grant = call->act == sqs::action::get_queue_url
                     || call->act == sqs::action::list_dead_letter_source_queues;
    auto denied = grant ? !who.token->allows(*grant, call->queue)
                        : any_grant && !who.token->may_see(call->queue);
    if (denied) {
      refuse(sqs::code::access_denied,
             grant ? "The token holds no " + std::string{auth::name_of(*grant)}
                       + " grant on this queue."
                   : "The token holds no grant on this queue.");
      return;
    }
    auto dlq = call->attributes.dead_letter_queue;
    if ((call->attribute_fields & attribute_field::dead_letter_queue) != 0
        && !dlq.empty() && !who.token->allows(auth::action::send, dlq)) {
      refuse(sqs::code::access_denied,
             "The token holds no send grant on the dead-letter queue.");
      return;
    }
    // Whose answers depend on the grants: lists show what the token may
    // see, a task is cancelled by who may manage its queue.
    call->visible = std::shared_ptr<const auth::grants>{tokens, who.token};
    call->sender = who.sender;
  }
  dispatch(std::move(*call));
}

/// Answers a CORS preflight as Express' cors() does.
void connection::preflight(const request& req) {
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

/// Hands the call to a bridge. The request counts in flight from before
/// the send until its answer or the end of its responder, whichever comes
/// first. The state changes once the message is sent (the bridge's
/// respond() waits for the mutex held here): if sending throws, serve()
/// still answers 500, and the responder's end uncounts the request.
/// The 503 of the request in service, in its API's shape.
reply connection::unavailable() const {
  if (!sqs_proto_)
    return problem_reply(problem::unavailable);
  return sqs::error_reply(*sqs_proto_, sqs_request_id_,
                          {sqs::code::service_unavailable,
                           "The queue did not answer in time; try again "
                           "later."});
}

void connection::note_api(const api_call&) {
  sqs_proto_.reset();
}

void connection::note_api(const sqs::call& call) {
  sqs_proto_ = call.proto;
  sqs_request_id_ = call.request_id;
}

template <class Call>
void connection::dispatch(Call call) {
  auto wait = backstop(call, st_->actor_timeout, st_->receive_margin);
  note_api(call);
  responder r{std::make_shared<const dispatched_request>(shared_from_this(),
                                                         ++request_)};
  counted_.store(request_, std::memory_order_release);
  st_->in_flight.fetch_add(1, std::memory_order_relaxed);
  caf::anon_send(st_->next_bridge(), std::move(call), std::move(r));
  deadline_ = clock_type::now() + wait;
  state_ = state::dispatched;
}

/// Writes the reply to the request in service and moves on: to closing,
/// to writing while too much waits unsent, else to idle.
void connection::finish(const reply& r, std::string_view extra_headers) {
  auto close = !keep_alive_ || !open_;
  write(render_response(r, !close, extra_headers, head_), close);
  if (close) {
    state_ = state::closing;
    since_ = clock_type::now();
    std::string{}.swap(read_ahead_);
    read_ahead_pos_ = 0;
  } else if (unsent_.load(std::memory_order_acquire) >= max_unsent) {
    state_ = state::writing;
    since_ = clock_type::now();
  } else {
    state_ = state::idle;
    since_ = clock_type::now();
  }
}

/// Serves what was read ahead, as far as the state lets it.
void connection::serve_read_ahead() {
  if (read_ahead_pos_ == read_ahead_.size())
    return;
  read_ahead_pos_ += parse(read_ahead_.data() + read_ahead_pos_,
                           read_ahead_.size() - read_ahead_pos_);
  // Past the end if the parse closed the connection (finish() cleared it).
  if (read_ahead_pos_ >= read_ahead_.size()) {
    // Pipelining is rare: give the memory back.
    std::string{}.swap(read_ahead_);
    read_ahead_pos_ = 0;
  }
}

/// Sets paused_ from the state; returns whether reading may resume after a
/// pause.
bool connection::update_pause() {
  bool pause;
  switch (state_) {
    case state::dispatched:
      pause = read_ahead_.size() - read_ahead_pos_ >= max_read_ahead;
      break;
    case state::writing:
      pause = true;
      break;
    case state::closing:
      // Reads to see the end.
      pause = false;
      break;
    default:
      // Handshake, idle and reading parse at once, while what waits unsent
      // (TLS may answer what it reads: handshake messages, alerts) stays
      // within its bound.
      pause = unsent_.load(std::memory_order_acquire) >= max_unsent;
  }
  return paused_.exchange(pause, std::memory_order_acq_rel) && !pause;
}

/// Writes `bytes` of HTTP, sealed into TLS records (and then a
/// close_notify if `close_after`) over TLS.
void connection::write(std::string bytes, bool close_after) {
  if (tls_ && open_) {
    tls_->write(bytes);
    if (close_after)
      tls_->close();
    bytes = tls_->take_output();
  }
  send(std::move(bytes), close_after);
}

/// Sends bytes as they go on the wire, at once from this thread when
/// nothing of ours is queued in Pistache (saves waking its reactor: the
/// common case for small replies); what the socket does not take goes
/// through Pistache's queue. The mutex keeps the descriptor valid:
/// closed() needs it first.
void connection::send(std::string bytes, bool close_after) {
  if (!open_ || (bytes.empty() && !close_after))
    return;
  size_t done = 0;
  if (queued_writes_.load(std::memory_order_acquire) == 0) {
    auto n = ::send(fd_, bytes.data(), bytes.size(),
                    MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0)
      done = static_cast<size_t>(n);
    if (done == bytes.size()) {
      if (close_after)
        ::shutdown(fd_, SHUT_WR);
      return;
    }
  }
  bytes.erase(0, done);
  auto size = bytes.size();
  queued_writes_.fetch_add(1, std::memory_order_relaxed);
  unsent_.fetch_add(size, std::memory_order_relaxed);
  auto sent = transport_->asyncWrite(fd_,
                                     Pistache::RawBuffer{std::move(bytes),
                                                         size});
  auto self = shared_from_this();
  sent.then([self, size, close_after](
              ssize_t) { self->written(size, close_after); },
            [self, size](std::exception_ptr&) { self->written(size, false); });
}

/// A queued write is done. Runs on Pistache's thread, or inline in write()
/// if it finished before then() was attached: hence atomics, not the
/// mutex.
void connection::written(size_t size, bool close_after) {
  auto before = unsent_.fetch_sub(size, std::memory_order_acq_rel);
  queued_writes_.fetch_sub(1, std::memory_order_release);
  if (close_after && open_)
    ::shutdown(fd_, SHUT_WR);
  else if (before >= max_unsent && before - size < max_unsent)
    transport_->wake(shared_from_this());
}

/// Closes without a reply (a close_notify first over TLS): the socket
/// shuts both ways, so the transport reads its end and forgets the
/// connection. A request in service keeps its state: its answer still
/// comes (and leaves in_flight), then goes nowhere.
void connection::close_now() {
  if (state_ != state::dispatched)
    state_ = state::closing;
  keep_alive_ = false;
  std::string{}.swap(read_ahead_);
  read_ahead_pos_ = 0;
  update_pause();
  if (!open_)
    return;
  if (tls_ && queued_writes_.load(std::memory_order_acquire) == 0) {
    // The last the client reads, if it reads on (behind replies still
    // queued it would never go out).
    tls_->close();
    send(tls_->take_output(), false);
  }
  ::shutdown(fd_, SHUT_RDWR);
}

namespace {

/// Bytes sent on socket `fd` that its peer acknowledged (glibc's tcp_info
/// lacks the field; Linux has it since 4.1).
uint64_t bytes_acked(int fd) {
  tcp_info info{};
  socklen_t size = sizeof(info);
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &size) != 0)
    return 0;
  return info.tcpi_bytes_acked;
}

/// Bytes in socket `fd`'s send queue that its peer has not acknowledged
/// (with a large tcp_wmem the kernel takes a whole reply at once).
int unacked_bytes(int fd) {
  int n = 0;
  if (::ioctl(fd, SIOCOUTQ, &n) != 0)
    return 0;
  return n;
}

} // namespace

/// Whether replies wait for the client: in Pistache's queue, or sent to
/// the kernel and not yet acknowledged.
bool connection::replies_unacked() const {
  return queued_writes_.load(std::memory_order_acquire) > 0
         || unacked_bytes(fd_) > 0;
}

/// Whether the client took no reply bytes for --send-timeout: its TCP
/// acknowledged nothing new since `since_`, which moves when it does.
bool connection::stalled(clock_type::time_point now) {
  auto acked = bytes_acked(fd_);
  if (acked != acked_) {
    acked_ = acked;
    since_ = now;
    return false;
  }
  return now - since_ >= st_->send_timeout;
}

/// Closes at once and drops what waits unsent (the kernel's copy too: the
/// close sends a reset), so the connection holds nothing of the server.
void connection::reset() {
  linger abort{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort, sizeof(abort));
  close_now();
}

/// Stops counting toward --max-connections: the client is gone and no
/// request is in service (once per connection: closed() or the answer
/// after it).
void connection::leave() {
  st_->connections.fetch_sub(1, std::memory_order_relaxed);
}

} // namespace actormq::http::detail
