#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include "actormq/cluster.hpp"

using namespace actormq;

namespace {

std::vector<member> three() {
  std::string err;
  auto xs = parse_members("n1@127.0.0.1:9101,n2@host-2:9102,n3@[::1]:9103",
                          err);
  REQUIRE(err.empty());
  return xs;
}

std::string parse_error(const std::string& text) {
  std::string err;
  auto xs = parse_members(text, err);
  CHECK(xs.empty());
  return err;
}

} // namespace

TEST_CASE("a member list is NAME@HOST:PORT, comma separated") {
  auto xs = three();
  REQUIRE(xs.size() == 3);
  CHECK(xs[0].name == "n1");
  CHECK(xs[0].host == "127.0.0.1");
  CHECK(xs[0].port == 9101);
  CHECK(xs[1].host == "host-2");
  CHECK(xs[2].host == "::1");
  CHECK(xs[2].port == 9103);
}

TEST_CASE("a bad member list says what is wrong") {
  CHECK(parse_error("") == "the list names no node");
  CHECK(parse_error("n1@h") == "'n1@h' is not NAME@HOST:PORT");
  CHECK(parse_error("h:1") == "'h:1' is not NAME@HOST:PORT");
  CHECK(parse_error("@h:1").find("a node name is 1-64") != std::string::npos);
  CHECK(parse_error("n 1@h:1").find("a node name") != std::string::npos);
  CHECK(parse_error("n1@:1") == "'n1@:1' names no host");
  CHECK(parse_error("n1@h:0") == "'n1@h:0': the port is 1-65535");
  CHECK(parse_error("n1@h:65536") == "'n1@h:65536': the port is 1-65535");
  CHECK(parse_error("n1@h:12x") == "'n1@h:12x': the port is 1-65535");
  CHECK(parse_error("n1@h:1,n1@g:2")
        == "the node name 'n1' appears twice");
  CHECK(parse_error("n1@h:1,n2@h:1") == "the address h:1 appears twice");
  CHECK(parse_error("n1@h:1,") == "the list has an empty entry");
  CHECK(parse_error("n1@h:1,,n2@h:2") == "the list has an empty entry");
}

TEST_CASE("the owner of a queue is the same whatever the order of members") {
  auto xs = three();
  auto ys = xs;
  std::reverse(ys.begin(), ys.end());
  for (int i = 0; i < 500; ++i) {
    auto q = "queue-" + std::to_string(i);
    CHECK(xs[owner_of(q, xs)].name == ys[owner_of(q, ys)].name);
  }
}

TEST_CASE("queues spread over the members, and a new member takes only "
          "its share") {
  auto xs = three();
  std::map<std::string, int> count;
  std::map<std::string, std::string> before;
  for (int i = 0; i < 3000; ++i) {
    auto q = "q" + std::to_string(i);
    before[q] = xs[owner_of(q, xs)].name;
    ++count[before[q]];
  }
  for (auto& x : xs) {
    CHECK(count[x.name] > 800);
    CHECK(count[x.name] < 1200);
  }
  auto ys = xs;
  ys.push_back(member{"n4", "h4", 9104});
  int moved = 0;
  for (auto& [q, owner] : before) {
    auto now = ys[owner_of(q, ys)].name;
    if (now != owner) {
      CHECK(now == "n4");
      ++moved;
    }
  }
  CHECK(moved > 600);
  CHECK(moved < 900);
}

TEST_CASE("node names are 1-64 of A-Z a-z 0-9 _ . -") {
  CHECK(valid_node_name("n1"));
  CHECK(valid_node_name("eu-west.node_7"));
  CHECK(valid_node_name(std::string(64, 'a')));
  CHECK_FALSE(valid_node_name(""));
  CHECK_FALSE(valid_node_name(std::string(65, 'a')));
  CHECK_FALSE(valid_node_name("a b"));
  CHECK_FALSE(valid_node_name("a@b"));
}

TEST_CASE("times cross processes as system-clock time") {
  caf::actor_system_config cfg;
  add_cluster_types(cfg);
  caf::actor_system sys{cfg};
  auto now = std::chrono::steady_clock::now();
  lease x;
  x.msg.id = 7;
  x.msg.enqueued_at = now - std::chrono::seconds{90};
  x.expires = now + std::chrono::seconds{30};
  x.receipt = "r";
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  REQUIRE(!sink(x));
  lease y;
  caf::binary_deserializer source{sys, buf};
  REQUIRE(!source(y));
  auto close = [](time_point a, time_point b) {
    return std::chrono::abs(a - b) < std::chrono::milliseconds{50};
  };
  CHECK(y.msg.id == 7);
  CHECK(close(y.msg.enqueued_at, x.msg.enqueued_at));
  CHECK(close(y.expires, x.expires));
  // "Never" stays never.
  CHECK(y.msg.first_received_at == time_point{});
}
