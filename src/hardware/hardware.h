// What the machine has: one detector per backend (CPU, CUDA, ROCm, MPS, OpenVINO, QNN), each returning whether
// the backend is usable here, why not, and its devices and capabilities. Vendor libraries are found at run time
// (dlopen through ProbeEnv's search path), never linked; probes run isolated and time-bounded (probe.h).
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"

namespace ia::hw {

// Where detectors look. Defaults come from the environment (see docs/hardware.md); tests build their own to
// point at fake sysfs/devfs/procfs trees and fake vendor libraries.
struct ProbeEnv {
  std::vector<std::string> lib_dirs;  // searched first, in order (IA_LIB_PATH, ':'-separated)
  bool system_search = true;          // then the dynamic loader's own search (off: IA_LIB_PATH_ONLY=1)
  std::string sysfs_root = "/sys";    // IA_SYSFS_ROOT
  std::string devfs_root = "/dev";    // IA_DEVFS_ROOT
  std::string procfs_root = "/proc";  // IA_PROCFS_ROOT
  int timeout_ms = 10000;             // per vendor probe (IA_PROBE_TIMEOUT_MS)
  bool isolate = true;                // vendor probes in a child process (off: IA_PROBE_ISOLATE=0)
  std::string rocm_path;              // ROCM_PATH: adds <ROCM_PATH>/lib to the HIP search
  std::string openvino_dir;           // INTEL_OPENVINO_DIR: adds <dir>/runtime/lib/intel64
  std::string qnn_sdk_root;           // QNN_SDK_ROOT: adds <root>/lib/<target> to the QNN search
  int min_cuda_driver = 0;            // CUDA driver API version the build needs (e.g. 13000); 0: no check
  std::string cuda_blas_library;      // cuBLAS the build's CUDA executor dlopens ("libcublas.so.13"); "": no check

  static ProbeEnv from_environment();
};

struct DeviceInfo {
  int index = 0;
  std::string name;
  uint64_t total_memory = 0;  // bytes; 0: unknown
  uint64_t free_memory = 0;   // bytes; 0: unknown
  nlohmann::json capabilities = nlohmann::json::object();
};

struct BackendReport {
  DeviceType type = DeviceType::CPU;
  bool available = false;
  std::string why_not;  // set when !available: "libcuda.so.1 not found (searched ...)", "no device", ...
  std::string version;  // driver/runtime version when known
  std::vector<DeviceInfo> devices;
  nlohmann::json capabilities = nlohmann::json::object();
  std::vector<std::string> notes;  // facts worth showing that are not failures ("cuBLAS: not found")

  nlohmann::json to_json() const;
  static BackendReport from_json(const nlohmann::json& j);
  static BackendReport unavailable(DeviceType type, std::string why);
};

// The detectors. Each one returns a report; none throws for a missing, broken or failing library.
BackendReport detect_cpu(const ProbeEnv& env);
BackendReport detect_cuda(const ProbeEnv& env);
BackendReport detect_rocm(const ProbeEnv& env);
BackendReport detect_mps(const ProbeEnv& env);
BackendReport detect_openvino(const ProbeEnv& env);
BackendReport detect_qnn(const ProbeEnv& env);

// "1.5 GiB", "512 MiB", "48 KiB".
std::string format_bytes(uint64_t bytes);

}  // namespace ia::hw
