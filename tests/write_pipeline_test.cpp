#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <caf/sec.hpp>

#include "actormq/write_pipeline.hpp"

// The one mechanism behind "answer after the write": callbacks in, writes
// out, answers in order, every callback answered exactly once.

using actormq::write_pipeline;

namespace {

struct recorder {
  std::vector<std::string> log;

  write_pipeline::callback note(std::string name) {
    return [this, name](const caf::error& err) {
      log.push_back(name + (err ? ":err" : ":ok"));
    };
  }
};

} // namespace

TEST_CASE("callbacks are answered when their write ends, in order") {
  write_pipeline p;
  recorder r;
  p.wait(r.note("a"));
  p.flush(true);
  p.wait(r.note("b"));
  p.wait(r.note("c"));
  p.flush(true);
  CHECK(p.in_flight() == 2);
  CHECK(r.log.empty());
  p.written(caf::none);
  CHECK(r.log == std::vector<std::string>{"a:ok"});
  p.written(caf::make_error(caf::sec::runtime_error));
  CHECK(r.log == std::vector<std::string>{"a:ok", "b:err", "c:err"});
  CHECK(p.in_flight() == 0);
}

TEST_CASE("a burst without changes waits for the write in flight") {
  write_pipeline p;
  recorder r;
  p.wait(r.note("a"));
  p.flush(false);
  CHECK(r.log == std::vector<std::string>{"a:ok"});
  p.wait(r.note("b"));
  p.flush(true);
  p.wait(r.note("c"));
  p.flush(false);
  CHECK(r.log.size() == 1);
  p.written(caf::none);
  CHECK(r.log == std::vector<std::string>{"a:ok", "b:ok", "c:ok"});
}

TEST_CASE("fail_all answers everything once, in flight and waiting") {
  write_pipeline p;
  recorder r;
  p.wait(r.note("a"));
  p.flush(true);
  p.wait(r.note("b"));
  p.fail_all(caf::make_error(caf::sec::request_receiver_down));
  CHECK(r.log == std::vector<std::string>{"a:err", "b:err"});
  p.written(caf::none);
  p.fail_all(caf::none);
  CHECK(r.log.size() == 2);
}

TEST_CASE("a callback may start the next write") {
  write_pipeline p;
  recorder r;
  p.wait([&](const caf::error&) {
    p.wait(r.note("next"));
    p.flush(true);
  });
  p.flush(true);
  p.written(caf::none);
  CHECK(p.in_flight() == 1);
  p.written(caf::none);
  CHECK(r.log == std::vector<std::string>{"next:ok"});
}
