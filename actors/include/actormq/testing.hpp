#pragma once

#include <utility>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/expected.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/sec.hpp>

/// A test fixture for ActorMQ's actors and for users' own consumers: actors
/// run on CAF's deterministic scheduler and time is virtual, so a test moves
/// the clock forward instead of sleeping. Works with any test framework.
namespace actormq::testing {

/// An actor system config that selects CAF's deterministic test scheduler.
class test_config : public caf::actor_system_config {
public:
  test_config() {
    set("scheduler.policy", caf::atom("testing"));
  }
};

/// Owns an actor system on virtual time and a blocking `self` to talk to
/// actors from test code.
///
///     actormq::testing::fixture f;
///     auto q = f.sys.spawn(actormq::queue, actormq::queue_config{});
///     auto id = f.request<uint64_t>(q, actormq::atom::enqueue::value,
///                                   actormq::payload{"hi"});
///     f.advance(std::chrono::seconds{5}); // fires timers due by then
class fixture {
public:
  fixture()
    : sys(cfg),
      sched(dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())),
      self(sys) {
    // Periodic actors re-arm forever; do not wait for them at the end.
    sys.await_actors_before_shutdown(false);
  }

  /// Cancels every timer: CAF's test scheduler would otherwise fire them
  /// while the system shuts down, after a derived fixture's members (which
  /// handlers may refer to) are gone. For the same reason, end each test
  /// with nothing left to run (run() or advance() last).
  ~fixture() {
    sched.clock().cancel_all();
  }

  /// The configuration (set options before the fixture builds the system
  /// by deriving from both).
  test_config cfg;
  /// The actor system under test.
  caf::actor_system sys;
  /// The deterministic scheduler: `sched.run()`, `sched.advance_time(d)`.
  caf::scheduler::test_coordinator& sched;
  /// A blocking actor that stands for the test.
  caf::scoped_actor self;

  /// Runs every message that is ready; returns how many ran.
  size_t run() {
    return sched.run();
  }

  /// Moves virtual time forward by `d`, fires the timers due by then (each
  /// at most once: step a periodic actor one interval at a time) and runs
  /// what they set off.
  void advance(caf::timespan d) {
    sched.advance_time(d);
    sched.run();
  }

  /// Sends `xs...` to `dest` as a request, runs the system and returns the
  /// reply (or the error it got); `sec::request_timeout` if nothing answered
  /// once everything ran (a request left hanging fails instead of blocking
  /// the test).
  template <class Result, class Handle, class... Ts>
  caf::expected<Result> request(const Handle& dest, Ts&&... xs) {
    caf::expected<Result> result{caf::sec::request_timeout};
    auto handle = self->request(dest, caf::infinite, std::forward<Ts>(xs)...);
    sched.run();
    if (self->mailbox().empty())
      return result;
    std::move(handle).receive(
      [&](Result& x) { result = std::move(x); },
      [&](caf::error& err) { result = std::move(err); });
    return result;
  }
};

} // namespace actormq::testing
