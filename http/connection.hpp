#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <caf/actor.hpp>

#include "api.hpp"
#include "json_api.hpp"
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

/// What every connection of a server shares.
struct shared_state {
  /// The frontend's actors, one per HTTP thread.
  std::vector<caf::actor> bridges;
  /// Round-robin position over `bridges`.
  std::atomic<size_t> next_bridge{0};
  /// Limits for the request reader.
  size_t max_header_bytes = 0;
  size_t max_body_bytes = 0;
  /// Limits of the API.
  api_limits limits;
  /// False while the store fails; null: no store.
  std::shared_ptr<const std::atomic<bool>> storage_healthy;
  /// Time for a request line and headers, for a whole request, and for a
  /// keep-alive connection waiting for its next request.
  clock_type::duration header_timeout;
  clock_type::duration request_timeout;
  clock_type::duration idle_timeout;
  /// Connections served at once; more are refused with 503.
  size_t max_connections = 0;
  /// Connections open now.
  std::atomic<size_t> connections{0};
  /// Requests handed to a bridge and not yet answered.
  std::atomic<int64_t> in_flight{0};
};

/// One client connection: reads requests one at a time, serves each in
/// order (pipelining included) and writes the responses, within bounds on
/// what it reads ahead and what waits to be sent, and within its timeouts.
///
/// Bytes, timers and the client's departure arrive on the connection's
/// Pistache thread; answers from actors on any thread (respond()).
class connection : public std::enable_shared_from_this<connection> {
public:
  /// Where a connection stands.
  enum class state : uint8_t {
    /// Kept alive, waiting for the first byte of the next request
    /// (--idle-timeout closes it silently).
    idle,
    /// A request is arriving; a new connection starts here
    /// (--header-timeout, --request-timeout: 408, then closing).
    reading,
    /// One request is in service. Bytes that arrive wait unparsed, up to
    /// max_read_ahead; then reading pauses.
    dispatched,
    /// More than max_unsent bytes of replies wait for the client: nothing
    /// is served or read until they drain.
    writing,
    /// The last reply is out or going out; nothing more is served.
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

  /// Bytes arrived.
  void input(const char* data, size_t size);

  /// After a wake: serves what waited for replies to drain. Returns
  /// whether the transport should read.
  bool resume();

  /// Applies the timeout of the current state at `now`.
  void expire(clock_type::time_point now);

  /// Refuses the connection (the server holds --max-connections).
  void refuse();

  /// The client went away; nothing may be written to the descriptor now.
  void closed();

  /// Answers the request in service (from an actor's thread); false if the
  /// client is gone and the answer went nowhere.
  bool respond(const reply& r);

private:
  size_t parse(const char* data, size_t size);
  void serve(request& req);
  void route(request& req);
  void enqueue_compat(request& req);
  void api(request& req);
  void preflight(const request& req);
  void dispatch(api_call call);
  void finish(const reply& r, std::string_view extra_headers = {});
  void serve_read_ahead();
  bool update_pause();
  void write(std::string bytes, bool close_after);
  void written(size_t size, bool close_after);

  std::shared_ptr<shared_state> st_;
  frontend_transport* transport_;
  int fd_;
  std::mutex mtx_;
  state state_ = state::reading;
  /// When the current state's timeout started.
  clock_type::time_point since_;
  request_reader reader_;
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
