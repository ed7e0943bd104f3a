#pragma once

#include <memory>
#include <unordered_map>
#include <vector>

#include <pistache/mailbox.h>
#include <pistache/transport.h>

#include "connection.hpp"

namespace actormq::http::detail {

/// One HTTP thread's Pistache transport. Pistache reads every socket until
/// it is empty; this one reads a connection only while it is not paused
/// (connection::paused()), so a client that sends faster than it is served
/// meets TCP's backpressure. It also ticks the connections' timeouts and
/// resumes connections that other threads wake. Pistache keeps accepting,
/// polling and queued writes.
class frontend_transport : public Pistache::Tcp::Transport {
public:
  explicit frontend_transport(std::shared_ptr<shared_state> st);
  ~frontend_transport() override;

  /// A transport for another HTTP thread.
  std::shared_ptr<Pistache::Aio::Handler> clone() const override;

  /// Adds the wake queue and the timer to the thread's poller.
  void registerPoller(Pistache::Polling::Epoll& poller) override;

  /// Reads for connections, resumes woken ones, ticks timeouts; passes the
  /// rest (its queues, writes) to Pistache.
  void onReady(const Pistache::Aio::FdSet& fds) override;

  /// A new client: a connection, or a 503 past --max-connections.
  void open(const std::shared_ptr<Pistache::Tcp::Peer>& peer);

  /// Bytes for the connection on `fd`.
  void input(int fd, const char* data, size_t size);

  /// Asks this transport's thread to resume `c` (from any thread).
  void wake(std::shared_ptr<connection> c);

private:
  void read(const std::shared_ptr<connection>& c);
  void serve_wakes();
  void drop(int fd);
  void tick();

  std::shared_ptr<shared_state> st_;
  std::unordered_map<int, std::shared_ptr<connection>> conns_;
  /// Connections whose client left while a request was in service: ticked
  /// until it ends (by its answer or its backstop).
  std::vector<std::shared_ptr<connection>> departed_;
  Pistache::PollableQueue<std::shared_ptr<connection>> wakes_;
  int timer_fd_ = -1;
};

} // namespace actormq::http::detail
