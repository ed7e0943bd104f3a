#include <catch2/catch.hpp>

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
