#pragma once

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include <sys/mount.h>
#include <unistd.h>

#include "temp_dir.hpp"

// A small filesystem that fills up: a tmpfs mounted on a fresh directory.

namespace test {

/// A tmpfs of a given size, mounted for the lifetime of the object and
/// unmounted (lazily, even if busy) at its end. Mounting needs root: when it
/// fails, `mounted()` is false and `why()` says why.
class small_tmpfs {
public:
  explicit small_tmpfs(size_t bytes) {
    if (::geteuid() != 0) {
      why_ = "not root";
      return;
    }
    auto opts = "size=" + std::to_string(bytes);
    if (::mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, opts.c_str()) != 0)
      why_ = std::string{"mount failed: "} + std::strerror(errno);
    else
      mounted_ = true;
  }

  ~small_tmpfs() {
    if (mounted_)
      ::umount2(dir_.path().c_str(), MNT_DETACH);
  }

  small_tmpfs(const small_tmpfs&) = delete;
  small_tmpfs& operator=(const small_tmpfs&) = delete;

  bool mounted() const {
    return mounted_;
  }

  const std::string& why() const {
    return why_;
  }

  /// Returns the path of `name` inside the filesystem.
  std::string path(const std::string& name) const {
    return dir_.path() + "/" + name;
  }

  /// Writes a file of `bytes` bytes named `name`; true if it all fits.
  bool fill(const std::string& name, size_t bytes) const {
    std::ofstream out{path(name), std::ios::binary};
    std::string block(64 * 1024, 'f');
    for (size_t left = bytes; left > 0 && out;) {
      auto n = std::min(left, block.size());
      out.write(block.data(), static_cast<std::streamsize>(n));
      left -= n;
    }
    out.flush();
    return static_cast<bool>(out);
  }

private:
  temp_dir dir_;
  bool mounted_ = false;
  std::string why_;
};

} // namespace test
