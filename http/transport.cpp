#include "transport.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <utility>
#include <vector>

#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <pistache/peer.h>
#include <pistache/prototype.h>
#include <pistache/tcp.h>

namespace actormq::http::detail {

using namespace Pistache;

namespace {

/// Pistache's per-peer callbacks, bound to one frontend_transport.
class peer_handler : public Tcp::Handler {
public:
  PROTOTYPE_OF(Tcp::Handler, peer_handler)

  void onConnection(const std::shared_ptr<Tcp::Peer>& peer) override {
    owner().open(peer);
  }

  /// Pistache's own read loop would call this; frontend_transport reads
  /// itself, through the same connection input.
  void onInput(const char* data, size_t size,
               const std::shared_ptr<Tcp::Peer>& peer) override {
    owner().input(peer->fd(), data, size);
  }

private:
  frontend_transport& owner() {
    return static_cast<frontend_transport&>(*transport());
  }
};

/// `e` as Pistache's poller reported it; `write_only` keeps only its
/// writability.
Polling::Event copy_event(const Aio::FdSet::Entry& e, bool write_only) {
  Polling::Event result{e.getTag()};
  if (e.isReadable() && !write_only)
    result.flags.setFlag(Polling::NotifyOn::Read);
  if (e.isHangup() && !write_only)
    result.flags.setFlag(Polling::NotifyOn::Hangup);
  if (e.isWritable())
    result.flags.setFlag(Polling::NotifyOn::Write);
  return result;
}

} // namespace

frontend_transport::frontend_transport(std::shared_ptr<shared_state> st)
  : Tcp::Transport(std::make_shared<peer_handler>()), st_(std::move(st)) {
  // nop
}

frontend_transport::~frontend_transport() {
  if (timer_fd_ >= 0)
    ::close(timer_fd_);
}

std::shared_ptr<Aio::Handler> frontend_transport::clone() const {
  return std::make_shared<frontend_transport>(st_);
}

namespace {

/// Bytes a connection reads in one turn (see frontend_transport::read()):
/// a request of usual size. Measured with two clients pipelining GET
/// /healthz as fast as they read replies beside 64 enqueueing ones: 64
/// KiB turns let the enqueuers through at 2,100 req/s (p99 83 ms), 4 KiB
/// at 9,500 (p99 17 ms), unbounded at 70 (p99 750 ms, timeouts).
constexpr size_t read_turn = 4 * 1024;

} // namespace

void frontend_transport::registerPoller(Polling::Epoll& poller) {
  Tcp::Transport::registerPoller(poller);
  wakes_.bind(poller);
  // One timer per thread ticks every connection: a quarter of the shortest
  // timeout, between 10 ms and 1 s.
  using namespace std::chrono;
  auto shortest = std::min({st_->header_timeout, st_->request_timeout,
                            st_->idle_timeout, st_->send_timeout});
  auto tick = std::clamp(duration_cast<nanoseconds>(shortest / 4),
                         nanoseconds{milliseconds{10}},
                         nanoseconds{seconds{1}});
  timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  itimerspec spec{};
  spec.it_interval.tv_sec = static_cast<time_t>(tick.count() / 1000000000);
  spec.it_interval.tv_nsec = static_cast<long>(tick.count() % 1000000000);
  spec.it_value = spec.it_interval;
  ::timerfd_settime(timer_fd_, 0, &spec, nullptr);
  poller.addFd(timer_fd_,
               Flags<Polling::NotifyOn>(Polling::NotifyOn::Read),
               Polling::Tag(static_cast<uint64_t>(timer_fd_)));
}

void frontend_transport::onReady(const Aio::FdSet& fds) {
  Polling::Tag timer_tag{static_cast<uint64_t>(timer_fd_)};
  // Pistache's events first: its queues, and writes it was left to finish
  // (before a read below may close the peer they are for).
  std::vector<Polling::Event> theirs;
  for (auto& e : fds) {
    auto tag = e.getTag();
    if (tag == wakes_.tag() || tag == timer_tag)
      continue;
    if (conns_.count(static_cast<int>(tag.value())) == 0)
      theirs.push_back(copy_event(e, false));
    else if (e.isWritable())
      theirs.push_back(copy_event(e, true));
  }
  if (!theirs.empty())
    Tcp::Transport::onReady(Aio::FdSet{std::move(theirs)});
  for (auto& e : fds) {
    auto tag = e.getTag();
    if (tag == wakes_.tag()) {
      serve_wakes();
    } else if (tag == timer_tag) {
      tick();
    } else if (e.isReadable() || e.isHangup()) {
      auto i = conns_.find(static_cast<int>(tag.value()));
      if (i != conns_.end() && !i->second->turn_waits) {
        auto c = i->second;
        read(c);
      }
    }
  }
}

void frontend_transport::open(const std::shared_ptr<Tcp::Peer>& peer) {
  auto c = std::make_shared<connection>(st_, this, peer->fd());
  conns_.emplace(peer->fd(), c);
  if (st_->connections.fetch_add(1, std::memory_order_relaxed)
      >= st_->max_connections)
    c->refuse();
}

void frontend_transport::input(int fd, const char* data, size_t size) {
  if (auto i = conns_.find(fd); i != conns_.end())
    i->second->input(data, size);
}

void frontend_transport::wake(std::shared_ptr<connection> c) {
  wakes_.push(std::move(c));
}

/// Reads while the connection takes bytes; stops short of an empty socket
/// when it pauses (a wake resumes it), and after a full `read_turn`: a
/// connection that may have more to read waits for its next turn behind
/// the wakes queued now (once; its socket's events are left to that
/// turn). So a client that pipelines without end gets one turn per round
/// like every other connection, instead of the thread: before, a client
/// that sent GET /healthz as fast as it read the replies held its thread
/// for seconds.
void frontend_transport::read(const std::shared_ptr<connection>& c) {
  char buf[read_turn];
  while (!c->paused()) {
    auto n = ::recv(c->fd(), buf, sizeof(buf), 0);
    if (n > 0) {
      c->input(buf, static_cast<size_t>(n));
      if (static_cast<size_t>(n) == sizeof(buf)) {
        if (!c->paused() && !std::exchange(c->turn_waits, true))
          wake(c);
        return;
      }
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
        drop(c->fd());
      return;
    }
  }
}

/// Resumes the connections woken, those queued now: a read that yields its
/// turn queues its connection again, for the next round.
void frontend_transport::serve_wakes() {
  std::vector<std::shared_ptr<connection>> woken;
  while (auto c = wakes_.popSafe())
    woken.push_back(std::move(*c));
  for (auto& c : woken) {
    c->turn_waits = false;
    if (c->resume())
      read(c);
  }
}

/// The client is gone (or the connection closed): forget it.
void frontend_transport::drop(int fd) {
  auto i = conns_.find(fd);
  if (i == conns_.end())
    return;
  if (i->second->closed())
    departed_.push_back(std::move(i->second));
  conns_.erase(i);
  if (auto p = peers.find(fd); p != peers.end()) {
    auto peer = p->second;
    removePeer(peer);
  }
}

void frontend_transport::tick() {
  uint64_t expirations;
  while (::read(timer_fd_, &expirations, sizeof(expirations)) > 0)
    continue;
  // Pistache's queue can strand a wake: pop() drains the eventfd after it
  // found the queue empty, so a push between the two leaves its entry
  // without a signal. Each tick serves what waits.
  serve_wakes();
  auto now = clock_type::now();
  for (auto& entry : conns_)
    entry.second->expire(now);
  departed_.erase(std::remove_if(departed_.begin(), departed_.end(),
                                 [now](const std::shared_ptr<connection>& c) {
                                   c->expire(now);
                                   return !c->in_service();
                                 }),
                  departed_.end());
}

} // namespace actormq::http::detail
