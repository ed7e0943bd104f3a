#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/actor.hpp>

#include "api.hpp"
#include "json_api.hpp"
#include "sqs.hpp"
#include "tls.hpp"
#include "wire.hpp"

/// One client connection of the HTTP frontend, as a state machine, and the
/// Pistache transport that reads for it, wakes it and ticks its timers.
namespace actormq::http::detail {

class frontend_transport;

using clock_type = std::chrono::steady_clock;

/// Unparsed bytes a connection reads ahead while a request is in service;
/// past it, the socket is left unread and TCP pushes back.
constexpr size_t max_read_ahead = 64 * 1024;

/// Reply bytes that may wait for the client to read them; past it, no
/// further request is served or read until the socket drains.
constexpr size_t max_unsent = 64 * 1024;

/// How long a closing connection reads and discards what a client still
/// sends after its last reply.
constexpr auto linger_time = std::chrono::seconds{2};

/// What every connection of a server shares.
struct shared_state {
  /// The bridge for the next request, round robin over the slots (an
  /// invalid handle while there are none).
  caf::actor next_bridge();
  /// Puts bridge `b` in slot `i` (the supervisor replaces a bridge that
  /// ends).
  void set_bridge(size_t i, caf::actor b);
  /// Takes every bridge out: requests from now on go nowhere.
  std::vector<caf::actor> take_bridges();
  /// Limits for the request reader.
  size_t max_header_bytes = 0;
  size_t max_body_bytes = 0;
  /// Limits of the API.
  api_limits limits;
  /// Where SQS's queue URLs and ARNs point.
  sqs::settings sqs;
  /// False while the store fails; null: no store.
  std::shared_ptr<const std::atomic<bool>> storage_healthy;
  /// The tokens in force (--auth-file); null: access control off. A
  /// reload swaps the set whole: read and write the pointer with
  /// std::atomic_load and std::atomic_store only.
  std::shared_ptr<const auth::token_set> tokens;
  /// The TLS context of new connections (--tls-cert); null: plain HTTP. A
  /// reload swaps it whole (connections keep theirs): read and write the
  /// pointer with std::atomic_load and std::atomic_store only.
  std::shared_ptr<const tls_context> tls;
  /// Time for a request line and headers, for a whole request, and for a
  /// keep-alive connection waiting for its next request.
  clock_type::duration header_timeout;
  clock_type::duration request_timeout;
  clock_type::duration idle_timeout;
  /// Time a connection whose replies wait unsent may go without the client
  /// taking a byte of them; then it is reset.
  clock_type::duration send_timeout;
  /// Backstop for a bridge's answer, and a receive's margin beyond its
  /// wait (see server_config).
  clock_type::duration actor_timeout;
  clock_type::duration receive_margin;
  /// Connections served at once; more are refused with 503.
  size_t max_connections = 0;
  /// Connections counted toward max_connections: from their accept until
  /// their client is gone and no request of theirs is in service.
  std::atomic<size_t> connections{0};
  /// Requests handed to a bridge and not yet ended: answered, past their
  /// backstop, or dropped unanswered by the actors.
  std::atomic<int64_t> in_flight{0};

private:
  std::mutex bridges_mtx_;
  /// The frontend's actors, one per HTTP thread (under the mutex).
  std::vector<caf::actor> bridges_;
  size_t next_bridge_ = 0;
};

/// One client connection: reads requests one at a time, serves each in
/// order (pipelining included) and writes the responses, within bounds on
/// what it reads ahead and what waits to be sent, and within its timeouts.
///
/// Bytes, timers and the client's departure arrive on the connection's
/// Pistache thread; answers from actors on any thread (respond()).
///
/// Over TLS, bytes from the socket go through a tls_session before the
/// request reader, and replies through it before the socket; the bounds
/// count the bytes on the wire. Every call into the session holds the
/// connection's mutex, as everything else does.
class connection : public std::enable_shared_from_this<connection> {
public:
  /// Where a connection stands.
  enum class state : uint8_t {
    /// A TLS connection starts here, until its handshake is done. The
    /// handshake counts against --header-timeout, which closes the
    /// connection silently; a failed handshake closes it at once.
    handshake,
    /// Kept alive, waiting for the first byte of the next request
    /// (--idle-timeout closes it silently). While the kernel still holds
    /// reply bytes the client has not acknowledged, --send-timeout applies
    /// as in writing.
    idle,
    /// A request is arriving; a new plain connection starts here
    /// (--header-timeout, --request-timeout: 408, then closing).
    reading,
    /// One request is in service. Bytes that arrive wait unparsed, up to
    /// max_read_ahead; then reading pauses. If no answer comes by the
    /// request's backstop (actor_timeout, or a receive's wait plus
    /// receive_margin), 503.
    dispatched,
    /// More than max_unsent bytes of replies wait for the client: nothing
    /// is served or read until they drain. If the client takes no byte of
    /// them for --send-timeout, the connection is reset.
    writing,
    /// The last reply is out or going out; nothing more is served. Once it
    /// is out, the connection sends its FIN and reads on, discarding, for
    /// up to linger_time: a client still sending (a body over the limit)
    /// reads the reply instead of a reset. While replies still wait in
    /// Pistache's queue or unacknowledged in the kernel's, --send-timeout
    /// applies as in writing.
    closing,
  };

  /// A connection on descriptor `fd` of transport `t`.
  connection(std::shared_ptr<shared_state> st, frontend_transport* t,
             int fd);

  /// The connection's descriptor.
  int fd() const {
    return fd_;
  }

  /// Whether the transport must leave the socket unread for now; a wake
  /// (frontend_transport::wake) follows when that changes.
  bool paused() const {
    return paused_.load(std::memory_order_acquire);
  }

  /// Set while the connection waits in the transport's wakes for its next
  /// read turn (frontend_transport::read); the transport's thread only.
  bool turn_waits = false;

  /// Bytes arrived.
  void input(const char* data, size_t size);

  /// After a wake: answers a request its actors dropped (see release()),
  /// serves what waited for replies to drain. Returns whether the
  /// transport should read.
  bool resume();

  /// Applies the timeout of the current state at `now`.
  void expire(clock_type::time_point now);

  /// Refuses the connection (the server holds --max-connections): a 503,
  /// then a close at once, without lingering: past the limit, a connection
  /// holds its descriptor no longer than that. Over TLS only the close,
  /// before any handshake (which would cost the most when the server is
  /// busiest).
  void refuse();

  /// The client went away; nothing may be written to the descriptor now.
  /// Returns whether a request is still in service: the connection then
  /// counts toward --max-connections until it is answered or its backstop
  /// fires, and needs expire() until then.
  bool closed();

  /// Whether a request is in service (see closed()).
  bool in_service();

  /// Answers request number `request` (from an actor's thread); false if
  /// the answer went nowhere: the client is gone, or that request is not
  /// in service (answered already).
  bool respond(uint64_t request, const reply& r);

  /// Whether request `request` is in service, not answered yet (any
  /// thread).
  bool awaits(uint64_t request);

  /// Request number `request` ended (any thread, with or without the
  /// mutex): it stops counting in flight, unless it did already.
  void uncount(uint64_t request);

  /// The last copy of request `request`'s responder went (any thread, with
  /// or without the mutex). Unanswered (the actor holding it ended), the
  /// request gets its 503 now, from the connection's thread, instead of at
  /// its backstop.
  void release(uint64_t request);

private:
  void take(const char* data, size_t size);
  void decrypt(const char* data, size_t size);
  size_t parse(const char* data, size_t size);
  void serve(request& req);
  bool refuse_early();
  void route(request& req);
  void serve_call(const request& req, const route_match& m);
  void serve_sqs(const request& req, sqs::protocol proto);
  void preflight(const request& req);
  template <class Call>
  void dispatch(Call call);
  void note_api(const api_call& call);
  void note_api(const sqs::call& call);
  reply unavailable() const;
  bool answer(const reply& r);
  void finish(const reply& r, std::string_view extra_headers = {});
  void serve_read_ahead();
  bool update_pause();
  void write(std::string bytes, bool close_after);
  void send(std::string bytes, bool close_after);
  void written(size_t size, bool close_after);
  void close_now();
  void leave();
  bool replies_unacked() const;
  bool stalled(clock_type::time_point now);
  void reset();

  std::shared_ptr<shared_state> st_;
  frontend_transport* transport_;
  int fd_;
  std::mutex mtx_;
  state state_ = state::reading;
  /// Null for plain HTTP.
  std::unique_ptr<tls_session> tls_;
  /// When the current state's timeout started (writing, closing: when the
  /// client last took reply bytes).
  clock_type::time_point since_;
  /// Reply bytes the client's TCP acknowledged, as stalled() saw last.
  uint64_t acked_ = 0;
  /// The number of the request dispatched last, and when the connection
  /// stops waiting for its answer.
  uint64_t request_ = 0;
  clock_type::time_point deadline_;
  /// The request dispatched last, if it is an SQS request: its protocol
  /// and id (its 503 is in SQS's shape).
  std::optional<sqs::protocol> sqs_proto_;
  std::string sqs_request_id_;
  /// The request counted in shared_state::in_flight; 0: none.
  std::atomic<uint64_t> counted_{0};
  /// The request whose responder went unanswered; 0: none.
  std::atomic<uint64_t> orphaned_{0};
  request_reader reader_;
  /// Whether the request being read had its token looked at as soon as
  /// its headers were in (refuse_early()).
  bool screened_ = false;
  /// Bytes read while a request was in service, from `read_ahead_pos_`.
  std::string read_ahead_;
  size_t read_ahead_pos_ = 0;
  /// Of the request in service.
  bool keep_alive_ = true;
  bool head_ = false;
  /// False once the client is gone and `fd_` may belong to another.
  std::atomic<bool> open_{true};
  /// Whether the socket is left unread (see paused()).
  std::atomic<bool> paused_{false};
  /// Writes handed to Pistache's queue and not yet done, and their bytes.
  std::atomic<size_t> queued_writes_{0};
  std::atomic<size_t> unsent_{0};
};

} // namespace actormq::http::detail
