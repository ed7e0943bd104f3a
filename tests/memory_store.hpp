#pragma once

#include <atomic>
#include <map>
#include <string>

#include "actormq/store.hpp"

namespace test {

/// A store in a std::map, for tests: counts writes and syncs, and fails
/// them on demand (a full disk, an I/O error).
class memory_store : public actormq::store {
public:
  std::string write(const actormq::store_batch& ops, bool sync) override {
    if (failing)
      return "IO error: No space left on device";
    writes += 1;
    syncs += sync ? 1 : 0;
    for (auto& op : ops) {
      switch (op.what) {
        case actormq::store_op::kind::put:
          data[op.key] = op.value;
          break;
        case actormq::store_op::kind::erase:
          data.erase(op.key);
          break;
        case actormq::store_op::kind::erase_range:
          data.erase(data.lower_bound(op.key), data.lower_bound(op.value));
          break;
      }
    }
    return {};
  }

  std::string sync() override {
    if (failing)
      return "IO error: No space left on device";
    syncs += 1;
    return {};
  }

  std::string resume() override {
    return failing ? "IO error: No space left on device" : "";
  }

  std::string scan(const std::function<void(std::string_view,
                                            std::string_view)>& f) override {
    scans += 1;
    if (failing)
      return "IO error: Input/output error";
    for (auto& [k, v] : data)
      f(k, v);
    return {};
  }

  uint64_t disk_bytes() const override {
    uint64_t n = 0;
    for (auto& [k, v] : data)
      n += k.size() + v.size();
    return n;
  }

  std::map<std::string, std::string> data;
  std::atomic<bool> failing{false};
  int writes = 0;
  int syncs = 0;
  int scans = 0;
};

} // namespace test
