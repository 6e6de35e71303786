// Device selection and graceful fallback. `--device auto` picks, in a configurable priority order, the first
// backend that is available, has an executor in this build, has a kernel for every op the model needs and whose
// device has room for the model's memory estimate. Explicit requests (`cuda:1`) are honoured or, unless
// --no-fallback, replaced along the priority list. Every outcome is a DeviceDecision with the reason.
//
// What other commands record (conformance, test runner, bench): call select_device() (or load_with_fallback()
// when loading can fail on the chosen device) and store decision.to_json() with every result:
//   {"requested": "auto", "used": "cpu", "fell_back": false,
//    "reason": "auto: cpu is the first backend in priority order ...", "skipped": ["cuda: not available: ..."]}
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "backends/registry.h"
#include "core/dtype.h"

namespace ia {

// A --device value: "auto" or a Device ("cpu", "cuda", "cuda:1", "rocm:0", "mps", "openvino", "qnn").
struct DeviceRequest {
  bool is_auto = true;
  bool has_index = false;  // "cuda:1" pins the index; "cuda" lets selection pick among CUDA devices
  Device device;
  static DeviceRequest parse(const std::string& s);  // throws InvalidArgument naming the accepted forms
  std::string str() const;
};

// The outcome every run records: what was asked for, what was used, and why.
struct DeviceDecision {
  std::string requested = "auto";     // the --device value as given
  Device used;                        // the device the run actually used
  std::string reason;                 // one line: why `used`, including why devices before it were passed over
  bool fell_back = false;             // an explicit request was not honoured, a preferred executing backend was
                                      // passed over (ops, memory), or the chosen device failed at init/load
  std::vector<std::string> skipped;   // one entry per passed-over backend/device: "cuda:0: needs 30 GiB, ..."
  nlohmann::json to_json() const;     // {"requested","used","reason","fell_back","skipped"}
  std::string summary() const;        // "cpu (requested auto): <reason>"
};

struct SelectionRequest {
  std::string device = "auto";     // the --device value
  std::vector<std::string> ops;    // op names the model runs; empty: every op of this build (conservative)
  uint64_t memory_bytes = 0;       // MemoryEstimate::total(); 0: unknown, no memory check
  bool allow_fallback = true;      // false: --no-fallback
  std::string what;                // names the workload in errors ("bert-base-uncased"); optional
};

// Share of a device's free memory a model may plan to use (the rest is headroom for allocator and workspaces).
constexpr double kUsableMemoryFraction = 0.9;

// Priority order for `auto`: IA_DEVICE_PRIORITY ("cuda,rocm,cpu"), else "device_priority" in the hardware config
// file (IA_HARDWARE_CONFIG, else $XDG_CONFIG_HOME/ipfs-accelerate/hardware.json, else
// ~/.config/ipfs-accelerate/hardware.json), else cuda > rocm > mps > openvino > qnn > cpu. Backends left out of
// the list are never chosen by `auto` (an explicit --device still reaches them).
struct DevicePriority {
  std::vector<DeviceType> order;
  std::string source;  // "default", "IA_DEVICE_PRIORITY", or the config file's path
};
std::vector<DeviceType> default_device_priority();
std::vector<DeviceType> parse_device_priority(const std::string& csv);  // throws InvalidArgument
DevicePriority device_priority();
std::string priority_str(const std::vector<DeviceType>& order);  // "cuda > rocm > cpu"

// Chooses without touching any device. Throws ia::Error (Unsupported) when nothing can run the request, or when
// the choice would be a fallback and req.allow_fallback is false; the message carries every reason.
DeviceDecision select_device(const SelectionRequest& req, const std::vector<BackendStatus>& backends,
                             const std::vector<DeviceType>& priority);
DeviceDecision select_device(const SelectionRequest& req);  // backend_statuses() and device_priority()

// Devices to try in order for `req` (first = select_device's choice, then the fallbacks), with the reasons for
// everything left out.
struct DeviceRanking {
  struct Candidate {
    Device device;
    std::string note;  // "cuda:1 (NVIDIA H100), needs 30 GiB of 63 GiB usable"
  };
  struct Skip {
    std::string reason;      // "cuda: not available: libcuda.so.1 not found (...)"
    size_t before = 0;       // index of the first candidate ranked after this skip
    bool executing = false;  // a whole available, executing backend was passed over (ops, memory)
  };
  std::vector<Candidate> candidates;
  std::vector<Skip> skipped;
  bool request_unusable = false;  // an explicit --device yields no candidate
};
DeviceRanking rank_devices(const SelectionRequest& req, const std::vector<BackendStatus>& backends,
                           const std::vector<DeviceType>& priority);

// Selects, then runs the device's executor init hook (if any) and `load(device)`. When either throws ia::Error of
// kind Backend, OutOfMemory or Unsupported (or std::bad_alloc), the failure is recorded and the next candidate is
// tried; with req.allow_fallback false the failure is rethrown with the device named. Other errors (bad model
// directory, format errors) propagate at once: another device would not fix them.
DeviceDecision load_with_fallback(const SelectionRequest& req, const std::function<void(const Device&)>& load,
                                  const std::vector<BackendStatus>& backends, const std::vector<DeviceType>& priority);
DeviceDecision load_with_fallback(const SelectionRequest& req, const std::function<void(const Device&)>& load);

}  // namespace ia
