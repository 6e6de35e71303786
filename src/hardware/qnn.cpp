// QNN detector: Qualcomm AI Engine Direct backends (libQnnHtp.so, libQnnGpu.so, libQnnCpu.so) through dlopen,
// from the search path and QNN_SDK_ROOT. A backend counts when it loads and QnnInterface_getProviders returns a
// provider; HTP and GPU also need their device node (FastRPC to the Hexagon DSP, the Adreno kgsl node).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "backends/registry.h"
#include "hardware/hardware.h"
#include "hardware/probe.h"

namespace ia::hw {

namespace {

// The stable prefix of QnnInterface_t (QnnInterface.h): the version union that follows is not read.
struct QnnVersion {
  uint32_t major, minor, patch;
};
struct QnnInterfacePrefix {
  uint32_t backend_id;
  const char* provider_name;
  QnnVersion core_api;
  QnnVersion backend_api;
};
using GetProviders = uint64_t (*)(const QnnInterfacePrefix***, uint32_t*);

struct QnnBackendSpec {
  const char* name;
  const char* library;
  std::vector<std::string> device_nodes;  // any one must exist under devfs; empty: none needed
};

std::vector<std::string> sdk_lib_dirs(const ProbeEnv& env) {
  if (env.qnn_sdk_root.empty()) return {};
#if defined(__x86_64__)
  return {env.qnn_sdk_root + "/lib/x86_64-linux-clang"};
#else
  return {env.qnn_sdk_root + "/lib/aarch64-ubuntu-gcc9.4", env.qnn_sdk_root + "/lib/aarch64-oe-linux-gcc11.2",
          env.qnn_sdk_root + "/lib/aarch64-android"};
#endif
}

BackendReport probe_qnn(const ProbeEnv& env) {
  static const std::vector<QnnBackendSpec> specs = {
      {"htp", "libQnnHtp.so", {"fastrpc-cdsp", "fastrpc-cdsp-secure", "adsprpc-smd"}},
      {"gpu", "libQnnGpu.so", {"kgsl-3d0"}},
      {"cpu", "libQnnCpu.so", {}},
  };
  BackendReport r;
  r.type = DeviceType::QNN;
  r.capabilities["qnn_sdk_root"] = env.qnn_sdk_root.empty() ? "unset" : env.qnn_sdk_root;
  const auto extra = sdk_lib_dirs(env);
  std::vector<std::string> failures, not_found;
  for (const auto& spec : specs) {
    std::string err;
    auto lib = DynamicLibrary::open(env, {spec.library}, extra, &err);
    if (!lib) {
      if (err.find("failed to load") != std::string::npos)
        failures.push_back(err);
      else
        not_found.push_back(spec.library);
      continue;
    }
    auto get = lib->get<GetProviders>("QnnInterface_getProviders");
    if (!get) {
      failures.push_back(fmt::format("{} lacks QnnInterface_getProviders", lib->path()));
      continue;
    }
    const QnnInterfacePrefix** providers = nullptr;
    uint32_t n = 0;
    if (uint64_t rc = get(&providers, &n); rc != 0 || !providers || n == 0 || !providers[0]) {
      failures.push_back(fmt::format("{}: QnnInterface_getProviders returned error {} with {} providers",
                                     lib->path(), rc, n));
      continue;
    }
    DeviceInfo d;
    d.index = int(r.devices.size());
    d.name = spec.name;
    const auto* p = providers[0];
    d.capabilities["library"] = lib->path();
    d.capabilities["provider"] = p->provider_name ? p->provider_name : "";
    d.capabilities["backend_id"] = p->backend_id;
    d.capabilities["core_api"] = fmt::format("{}.{}.{}", p->core_api.major, p->core_api.minor, p->core_api.patch);
    d.capabilities["backend_api"] =
        fmt::format("{}.{}.{}", p->backend_api.major, p->backend_api.minor, p->backend_api.patch);
    bool usable = spec.device_nodes.empty();
    for (const auto& node : spec.device_nodes)
      if (path_exists(env.devfs_root + "/" + node)) usable = true;
    d.capabilities["usable"] = usable;
    if (!usable)
      d.capabilities["why_not"] = fmt::format("library loads but no device node ({}/{})", env.devfs_root,
                                              fmt::join(spec.device_nodes, ", "));
    r.devices.push_back(std::move(d));
  }
  for (const auto& d : r.devices)
    if (d.capabilities["usable"].get<bool>()) r.available = true;
  if (!r.available) {
    std::vector<std::string> why;
    if (!not_found.empty())
      why.push_back(fmt::format("{} not found (searched: {})", fmt::join(not_found, ", "), describe_search(env, extra)));
    why.insert(why.end(), failures.begin(), failures.end());
    for (const auto& d : r.devices)
      why.push_back(fmt::format("{}: {}", d.name, d.capabilities["why_not"].get<std::string>()));
    r.why_not = fmt::format("no usable QNN backend: {}{}", fmt::join(why, "; "),
                            env.qnn_sdk_root.empty() ? " (QNN_SDK_ROOT unset)" : "");
  }
  return r;
}

}  // namespace

BackendReport detect_qnn(const ProbeEnv& env) {
  return run_probe(DeviceType::QNN, env, [&] { return probe_qnn(env); });
}

}  // namespace ia::hw

IA_REGISTER_BACKEND(qnn, ::ia::DeviceType::QNN, ::ia::hw::detect_qnn)
