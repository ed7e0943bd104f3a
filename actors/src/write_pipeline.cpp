#include "actormq/write_pipeline.hpp"

#include <iterator>
#include <utility>

namespace actormq {

namespace {

void run(std::vector<write_pipeline::callback>& fs, const caf::error& err) {
  for (auto& f : fs)
    f(err);
}

} // namespace

void write_pipeline::wait(callback f) {
  waiting_.push_back(std::move(f));
}

void write_pipeline::flush(bool changes) {
  auto done = std::exchange(waiting_, {});
  if (changes) {
    in_flight_.push_back(std::move(done));
  } else if (!in_flight_.empty()) {
    auto& last = in_flight_.back();
    std::move(done.begin(), done.end(), std::back_inserter(last));
  } else {
    run(done, caf::none);
  }
}

void write_pipeline::written(const caf::error& err) {
  if (in_flight_.empty())
    return;
  // Callbacks may start new writes: take the group out first.
  auto done = std::move(in_flight_.front());
  in_flight_.pop_front();
  run(done, err);
}

void write_pipeline::fail_all(const caf::error& err) {
  auto groups = std::exchange(in_flight_, {});
  auto waiting = std::exchange(waiting_, {});
  for (auto& group : groups)
    run(group, err);
  run(waiting, err);
}

} // namespace actormq
