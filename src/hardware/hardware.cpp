#include "hardware/hardware.h"

#include <fmt/format.h>

#include <cstdlib>

#if defined(IA_WITH_CUDA) && __has_include(<cuda_runtime_api.h>)
#include <cuda_runtime_api.h>
#define IA_BUILD_CUDART_VERSION CUDART_VERSION
#else
#define IA_BUILD_CUDART_VERSION 0
#endif

namespace ia::hw {

namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? std::string(v) : fallback;
}

std::vector<std::string> split_path(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t end = s.find(':', start);
    const std::string part = s.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!part.empty()) out.push_back(part);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

}  // namespace

ProbeEnv ProbeEnv::from_environment() {
  ProbeEnv env;
  env.lib_dirs = split_path(env_or("IA_LIB_PATH", ""));
  env.system_search = env_or("IA_LIB_PATH_ONLY", "0") != "1";
  env.sysfs_root = env_or("IA_SYSFS_ROOT", env.sysfs_root);
  env.devfs_root = env_or("IA_DEVFS_ROOT", env.devfs_root);
  env.procfs_root = env_or("IA_PROCFS_ROOT", env.procfs_root);
  const std::string timeout = env_or("IA_PROBE_TIMEOUT_MS", "");
  if (!timeout.empty()) {
    char* end = nullptr;
    const long v = std::strtol(timeout.c_str(), &end, 10);
    IA_CHECK(end && *end == '\0' && v > 0 && v <= 600000, ErrorKind::InvalidArgument,
             "IA_PROBE_TIMEOUT_MS='{}': expected milliseconds in 1..600000", timeout);
    env.timeout_ms = int(v);
  }
  env.isolate = env_or("IA_PROBE_ISOLATE", "1") != "0";
  env.rocm_path = env_or("ROCM_PATH", "/opt/rocm");
  env.openvino_dir = env_or("INTEL_OPENVINO_DIR", "");
  env.qnn_sdk_root = env_or("QNN_SDK_ROOT", "");
  env.min_cuda_driver = IA_BUILD_CUDART_VERSION;
  if (IA_BUILD_CUDART_VERSION > 0) env.cuda_blas_library = fmt::format("libcublas.so.{}", IA_BUILD_CUDART_VERSION / 1000);
  return env;
}

nlohmann::json BackendReport::to_json() const {
  nlohmann::json devs = nlohmann::json::array();
  for (const auto& d : devices)
    devs.push_back({{"index", d.index},
                    {"name", d.name},
                    {"total_memory", d.total_memory},
                    {"free_memory", d.free_memory},
                    {"capabilities", d.capabilities}});
  return {{"backend", device_type_name(type)},
          {"available", available},
          {"why_not", why_not},
          {"version", version},
          {"devices", devs},
          {"capabilities", capabilities},
          {"notes", notes}};
}

BackendReport BackendReport::from_json(const nlohmann::json& j) {
  BackendReport r;
  r.type = Device::parse(j.at("backend").get<std::string>()).type;
  r.available = j.at("available").get<bool>();
  r.why_not = j.value("why_not", "");
  r.version = j.value("version", "");
  for (const auto& d : j.at("devices")) {
    DeviceInfo info;
    info.index = d.at("index").get<int>();
    info.name = d.value("name", "");
    info.total_memory = d.value("total_memory", uint64_t(0));
    info.free_memory = d.value("free_memory", uint64_t(0));
    info.capabilities = d.value("capabilities", nlohmann::json::object());
    r.devices.push_back(std::move(info));
  }
  r.capabilities = j.value("capabilities", nlohmann::json::object());
  r.notes = j.value("notes", std::vector<std::string>{});
  return r;
}

BackendReport BackendReport::unavailable(DeviceType type, std::string why) {
  BackendReport r;
  r.type = type;
  r.available = false;
  r.why_not = std::move(why);
  return r;
}

std::string format_bytes(uint64_t bytes) {
  constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  if (u == 0) return fmt::format("{} B", bytes);
  if (v == double(uint64_t(v))) return fmt::format("{} {}", uint64_t(v), kUnits[u]);
  return fmt::format("{:.1f} {}", v, kUnits[u]);
}

}  // namespace ia::hw
