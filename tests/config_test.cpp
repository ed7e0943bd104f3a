#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <unistd.h>

#include "config.hpp"

// The options of the `actormq` binary, parsed as its main() parses them.

using namespace actormq;

TEST_CASE("the memory bound defaults to 40% of the machine's memory") {
  http::config cfg;
  char name[] = "actormq";
  char* argv[] = {name, nullptr};
  REQUIRE_FALSE(cfg.parse(1, argv));
  http::settings opts;
  REQUIRE(cfg.validate(opts).empty());
  auto ram = static_cast<double>(::sysconf(_SC_PHYS_PAGES))
             * static_cast<double>(::sysconf(_SC_PAGESIZE));
  CHECK(static_cast<double>(opts.max_memory_bytes) == Approx(0.4 * ram));
  // 0 still means none.
  http::config none;
  char zero[] = "--max-memory-bytes=0";
  char* argv0[] = {name, zero, nullptr};
  REQUIRE_FALSE(none.parse(2, argv0));
  REQUIRE(none.validate(opts).empty());
  CHECK(opts.max_memory_bytes == 0);
}

namespace {

/// What validate() says of the command line `args`, and the settings.
std::string validated(std::vector<std::string> args, http::settings& opts) {
  args.insert(args.begin(), "actormq");
  std::vector<char*> argv;
  for (auto& x : args)
    argv.push_back(x.data());
  argv.push_back(nullptr);
  http::config cfg;
  REQUIRE_FALSE(cfg.parse(static_cast<int>(args.size()), argv.data()));
  return cfg.validate(opts);
}

} // namespace

TEST_CASE("cluster options name this node among the members") {
  http::settings opts;
  const std::string m = "--cluster=n1@127.0.0.1:9101,n2@127.0.0.1:9102";
  CHECK(validated({m, "--node-name=n2"}, opts).empty());
  REQUIRE(opts.members.size() == 2);
  CHECK(opts.node_name == "n2");
  CHECK(opts.cluster_max_in_flight == 1024);
  CHECK(opts.cluster_protocol == cluster_protocol_version);
  CHECK(validated({m}, opts)
        == "--cluster needs --node-name: which member this node is");
  CHECK(validated({m, "--node-name=n3"}, opts)
        == "--node-name 'n3' is not a member of --cluster");
  CHECK(validated({"--cluster=n1@h", "--node-name=n1"}, opts)
        == "--cluster: 'n1@h' is not NAME@HOST:PORT");
  CHECK(validated({"--node-name=a b"}, opts)
        == "--node-name must be 1-64 of A-Z a-z 0-9 _ . -, got 'a b'");
  CHECK(validated({m, "--node-name=n1", "--cluster-max-in-flight=0"}, opts)
        == "--cluster-max-in-flight must be between 1 and 1000000, got 0");
  CHECK(validated({"--cluster-ca=/etc/hostname"}, opts)
        == "--cluster-ca needs --cluster");
  CHECK(validated({m, "--node-name=n1", "--cluster-ca=/etc/hostname"}, opts)
        .rfind("--cluster-ca needs --tls-cert and --tls-key", 0)
        == 0);
  // A node name alone: a node that runs alone, named.
  CHECK(validated({"--node-name=solo"}, opts).empty());
  CHECK(opts.members.empty());
  CHECK(opts.node_name == "solo");
}
