// Building blocks for detectors: finding and opening vendor libraries through ProbeEnv's search path, running a
// probe in a time-bounded child process (a library that crashes or hangs cannot take the program with it), and
// reading small sysfs/procfs files.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "hardware/hardware.h"

namespace ia::hw {

// A dlopen'ed library, closed on destruction. Symbols are looked up by name; a missing one is an error the
// detector reports ("libcuda.so.1 lacks cuDeviceGetCount"), never a crash.
class DynamicLibrary {
 public:
  // Tries each of `names` in every env.lib_dirs entry (plus `extra_dirs`), then, if env.system_search, through the
  // dynamic loader. On failure returns nullopt and sets *error to what was tried and why it failed.
  static std::optional<DynamicLibrary> open(const ProbeEnv& env, const std::vector<std::string>& names,
                                            const std::vector<std::string>& extra_dirs, std::string* error);
  DynamicLibrary(DynamicLibrary&& o) noexcept : handle_(o.handle_), path_(std::move(o.path_)) { o.handle_ = nullptr; }
  DynamicLibrary& operator=(DynamicLibrary&&) = delete;
  DynamicLibrary(const DynamicLibrary&) = delete;
  ~DynamicLibrary();

  void* symbol(const char* name) const;  // nullptr when absent
  template <typename Fn>
  Fn get(const char* name) const {
    return reinterpret_cast<Fn>(symbol(name));
  }
  const std::string& path() const { return path_; }  // the file that was loaded (or the bare name)

 private:
  DynamicLibrary(void* handle, std::string path) : handle_(handle), path_(std::move(path)) {}
  void* handle_;
  std::string path_;
};

// "dir1, dir2, system loader path": where DynamicLibrary::open looks, for messages.
std::string describe_search(const ProbeEnv& env, const std::vector<std::string>& extra_dirs);

// Runs `probe` and returns its report. With env.isolate it runs in a forked child whose report comes back as
// JSON over a pipe; a child that crashes, exits early or outlives env.timeout_ms is killed and reported as
// unavailable with the reason ("probe crashed: signal 11 (Segmentation fault)", "probe timed out after 10000 ms").
// The child does not exec: it runs the probe (dlopen of a vendor runtime, allocation) in a copy of this process.
// That is only safe while no other thread can hold a lock at fork time; the commands detect (once, cached by
// backend_statuses()) when they resolve --device, before the engine's thread pool starts, and OpenBLAS stops its
// threads in its own atfork handler. If a copied lock is held anyway the child blocks and the deadline (never
// longer than env.timeout_ms, then SIGKILL and waitpid) bounds the cost to one "timed out" report. See
// docs/hardware.md.
BackendReport run_probe(DeviceType type, const ProbeEnv& env, const std::function<BackendReport()>& probe);

// Small file helpers (sysfs/procfs): whole content, trimmed of trailing whitespace; nullopt if unreadable.
std::optional<std::string> read_text(const std::string& path);
std::optional<int64_t> read_int(const std::string& path);
bool path_exists(const std::string& path);
std::vector<std::string> list_dir(const std::string& path);  // entry names, sorted; empty if unreadable

}  // namespace ia::hw
