#include <catch2/catch.hpp>

#include <fstream>
#include <vector>

#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "actormq/durable.hpp"
#include "actormq/errors.hpp"
#include "actormq/testing.hpp"
#include "memory_store.hpp"
#include "temp_dir.hpp"

using namespace actormq;

namespace {

/// A storage actor on virtual time, watched as the binary watches it.
struct watch_fixture : testing::fixture {
  std::vector<caf::error> failures;
  std::shared_ptr<test::memory_store> db
    = std::make_shared<test::memory_store>();
  storage_actor storage;

  watch_fixture() {
    storage_config scfg;
    scfg.db = db;
    scfg.ids = message_queue::make_id_source();
    storage = sys.spawn(actormq::storage, scfg);
    watch(caf::actor_cast<caf::strong_actor_ptr>(storage), "storage",
          [this](const caf::error& why) { failures.push_back(why); });
    run();
  }
};

/// Enqueues `body` to the queue `name` of `node`, creating it.
void enqueue(caf::scoped_actor& self, const durable_node& node,
             const std::string& name, const std::string& body) {
  queue_actor q;
  self->request(node.registry, caf::infinite, atom::get::value, name, true)
    .receive([&](queue_actor& x) { q = std::move(x); },
             [](caf::error& err) { FAIL(caf::to_string(err)); });
  new_message x;
  x.data.body = body;
  self->request(q, caf::infinite, atom::enqueue::value, x)
    .receive([](uint64_t) {},
             [](caf::error& err) { FAIL(caf::to_string(err)); });
}

/// Returns the bodies ready in the queue `name` of `node`.
std::vector<std::string> peek(caf::scoped_actor& self,
                              const durable_node& node,
                              const std::string& name) {
  std::vector<std::string> result;
  self->request(node.registry, caf::infinite, atom::get::value, name, false)
    .receive(
      [&](queue_actor& q) {
        self->request(q, caf::infinite, atom::peek::value, uint32_t{10})
          .receive(
            [&](std::vector<message>& xs) {
              for (auto& x : xs)
                result.push_back(x.data.body);
            },
            [](caf::error& err) { FAIL(caf::to_string(err)); });
      },
      [](caf::error& err) { FAIL(caf::to_string(err)); });
  return result;
}

} // namespace

TEST_CASE_METHOD(watch_fixture,
                 "a storage actor that fails is reported, with its reason") {
  self->send_exit(storage, make_error(ec::storage_failed));
  run();
  REQUIRE(failures.size() == 1);
  CHECK(failures[0] == make_error(ec::storage_failed));
}

TEST_CASE_METHOD(watch_fixture,
                 "a storage actor told to exit is not a failure") {
  self->send_exit(storage, caf::exit_reason::user_shutdown);
  run();
  CHECK(failures.empty());
}

TEST_CASE_METHOD(watch_fixture,
                 "a storage actor that ends answers the writes it holds") {
  auto write = [&](std::string key) {
    store_batch ops{store_op{store_op::kind::put, std::move(key), "v"}};
    return self->request(storage, caf::infinite, atom::write::value, ops);
  };
  auto outcome = [&](auto& handle) {
    // An answer is waiting, or none will ever come.
    REQUIRE_FALSE(self->mailbox().empty());
    caf::error result = caf::sec::request_timeout;
    std::move(handle).receive([&](atom::ok) { result = caf::none; },
                              [&](caf::error& err) { result = err; });
    return result;
  };
  SECTION("a failure answers them with an error, writing nothing") {
    auto w = write("a");
    self->send_exit(storage, make_error(ec::storage_failed));
    run();
    CHECK(outcome(w) == caf::sec::request_receiver_down);
    CHECK(db->data.count("a") == 0);
  }
  SECTION("a shutdown writes them first") {
    auto w = write("b");
    self->send_exit(storage, caf::exit_reason::user_shutdown);
    run();
    CHECK(outcome(w) == caf::none);
    CHECK(db->data.count("b") == 1);
  }
}

TEST_CASE("start_durable serves what the store held; stop_durable syncs") {
  test::temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  durable_options opts;
  opts.data_dir = dir.path();
  {
    auto node = start_durable(sys, opts);
    REQUIRE(node);
    CHECK(node->healthy->load());
    enqueue(self, *node, "orders", "a");
    stop_durable(sys, *node);
  }
  auto node = start_durable(sys, opts);
  REQUIRE(node);
  CHECK(peek(self, *node, "orders") == std::vector<std::string>{"a"});
  stop_durable(sys, *node);
}

TEST_CASE("start_durable refuses a store it cannot open, naming it") {
  test::temp_dir dir;
  { std::ofstream{dir.path() + "/notes.txt"} << "hello"; }
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  durable_options opts;
  opts.data_dir = dir.path();
  auto node = start_durable(sys, opts);
  REQUIRE_FALSE(node);
  CHECK(caf::to_string(node.error()).find(dir.path()) != std::string::npos);
}
