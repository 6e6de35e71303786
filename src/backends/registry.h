// The backend registry and plugin seam: one entry per device type with its detector (hardware/) and, when this
// build can run on it, its executor. A device type has an executor iff kernels are registered for it in the op
// tables (core/dispatch.h); a backend may also register an init hook that selection runs before loading onto a
// device. Backends that are detected but have no kernels are reported as "no executor in this build".
#pragma once
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "hardware/hardware.h"

namespace ia {

using BackendDetector = std::function<hw::BackendReport(const hw::ProbeEnv&)>;
// Prepares a device for use (context, streams, handles); throws ia::Error (Backend, OutOfMemory) when it cannot.
using ExecutorInit = std::function<void(int device_index)>;

struct BackendEntry {
  DeviceType type = DeviceType::CPU;
  BackendDetector detect;
  ExecutorInit init;  // may be empty
};

// Registering a type again replaces its detector (a plugin may bring a better one); its init hook is kept.
void register_backend(DeviceType type, BackendDetector detect);
void register_executor_init(DeviceType type, ExecutorInit init);
std::vector<BackendEntry> registered_backends();  // in DeviceType order (cpu, cuda, rocm, mps, openvino, qnn)
ExecutorInit executor_init(DeviceType type);       // empty when none registered

// Every op this build knows (all_op_tables()), and those with a kernel for `type`.
std::vector<std::string> all_op_names();
std::set<std::string> ops_with_kernel(DeviceType type);
// `ops` less those that do not apply to `type`: the host transfer ops (to_host, from_host) have no meaning on
// the CPU, whose tensors already live in host memory.
std::vector<std::string> ops_applicable_to(DeviceType type, const std::vector<std::string>& ops);

// What selection and `hardware` consume: detection plus whether this build can execute there.
struct BackendStatus {
  hw::BackendReport report;
  bool has_executor = false;   // at least one kernel registered for this device type
  std::set<std::string> ops;   // applicable ops with a kernel for this device type
  size_t total_ops = 0;        // ops known to this build that apply to this device type
  std::string executor_summary() const;  // "yes (17/17 ops)", "partial (3/17 ops)", "no executor in this build"
  nlohmann::json to_json() const;        // the report plus "executor" and "ops_with_kernel"
};

// Runs every registered detector now with `env`.
std::vector<BackendStatus> detect_backends(const hw::ProbeEnv& env);
// Detected once per process with hw::ProbeEnv::from_environment() and cached (detection forks probes; call it
// before a vendor runtime is initialised in this process).
const std::vector<BackendStatus>& backend_statuses();

}  // namespace ia

// Registers `DETECT` (hw::BackendReport(const hw::ProbeEnv&)) as the detector of DEVICE_TYPE at static-init time.
#define IA_REGISTER_BACKEND(ID, DEVICE_TYPE, DETECT)                                            \
  namespace {                                                                                   \
  const bool ia_backend_registered_##ID = (::ia::register_backend(DEVICE_TYPE, DETECT), true); \
  }
