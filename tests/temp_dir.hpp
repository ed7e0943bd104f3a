#pragma once

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace test {

/// A fresh directory under the system's temporary one, removed with its
/// contents at the end.
class temp_dir {
public:
  temp_dir() {
    auto pattern = (std::filesystem::temp_directory_path() / "actormq-XXXXXX")
                     .string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }

  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::string& path() const {
    return path_;
  }

  /// Returns the --data-dir option naming this directory.
  std::string option() const {
    return "--data-dir=" + path_;
  }

private:
  std::string path_;
};

} // namespace test
