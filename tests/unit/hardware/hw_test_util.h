// Helpers for the hardware tests: a temporary directory tree standing in for /sys, /dev and /proc, and a
// ProbeEnv that sees only that tree and the fake vendor libraries built by tests/cmake/hardware.cmake.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "hardware/hardware.h"

namespace ia::hw::testing {

class FakeRoot {
 public:
  FakeRoot() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ia_hw_XXXXXX").string();
    root_ = mkdtemp(tmpl.data());
    std::filesystem::create_directories(root_ + "/sys");
    std::filesystem::create_directories(root_ + "/dev");
    std::filesystem::create_directories(root_ + "/proc");
  }
  ~FakeRoot() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  FakeRoot(const FakeRoot&) = delete;
  FakeRoot& operator=(const FakeRoot&) = delete;

  const std::string& path() const { return root_; }
  // Writes `content` to root/rel, creating parent directories.
  void write(const std::string& rel, const std::string& content) const {
    const std::filesystem::path p = root_ + "/" + rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << content;
  }

  // Sees only this tree and the fake library variants named (dirs under IA_FAKE_LIB_DIR); never the system's.
  ProbeEnv env(std::initializer_list<const char*> fake_variants = {}) const {
    ProbeEnv e;
    for (const char* v : fake_variants) e.lib_dirs.push_back(std::string(IA_FAKE_LIB_DIR) + "/" + v);
    e.system_search = false;
    e.sysfs_root = root_ + "/sys";
    e.devfs_root = root_ + "/dev";
    e.procfs_root = root_ + "/proc";
    e.timeout_ms = 5000;
    e.rocm_path.clear();
    return e;
  }

 private:
  std::string root_;
};

}  // namespace ia::hw::testing
