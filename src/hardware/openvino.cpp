// OpenVINO detector: the OpenVINO C API through dlopen("libopenvino_c.so") -- runtime version and the devices its
// plugins report (CPU, GPU.0, NPU, ...) with their full names.
#include <fmt/format.h>

#include "backends/registry.h"
#include "hardware/hardware.h"
#include "hardware/probe.h"

namespace ia::hw {

namespace {

// From openvino/c/ov_core.h (status 0 is OK).
struct ov_version_t {
  const char* buildNumber;
  const char* description;
};
struct ov_available_devices_t {
  char** devices;
  size_t size;
};
using ov_status_e = int;

BackendReport probe_openvino(const ProbeEnv& env) {
  std::string err;
  std::vector<std::string> extra;
  if (!env.openvino_dir.empty()) extra.push_back(env.openvino_dir + "/runtime/lib/intel64");
  auto lib = DynamicLibrary::open(env, {"libopenvino_c.so"}, extra, &err);
  if (!lib) return BackendReport::unavailable(DeviceType::OpenVINO, "OpenVINO runtime " + err);

  auto get_version = lib->get<ov_status_e (*)(ov_version_t*)>("ov_get_openvino_version");
  auto free_version = lib->get<void (*)(ov_version_t*)>("ov_version_free");
  auto core_create = lib->get<ov_status_e (*)(void**)>("ov_core_create");
  auto core_free = lib->get<void (*)(void*)>("ov_core_free");
  auto get_devices = lib->get<ov_status_e (*)(const void*, ov_available_devices_t*)>("ov_core_get_available_devices");
  auto free_devices = lib->get<void (*)(ov_available_devices_t*)>("ov_available_devices_free");
  auto get_property = lib->get<ov_status_e (*)(const void*, const char*, const char*, char**)>("ov_core_get_property");
  auto ov_free = lib->get<void (*)(const char*)>("ov_free");
  if (!get_version || !core_create || !core_free || !get_devices || !free_devices)
    return BackendReport::unavailable(
        DeviceType::OpenVINO,
        fmt::format("{} lacks the OpenVINO 2.0 C API (ov_core_create/ov_core_get_available_devices)", lib->path()));

  BackendReport r;
  r.type = DeviceType::OpenVINO;
  r.capabilities["library"] = lib->path();
  ov_version_t v{nullptr, nullptr};
  if (get_version(&v) == 0) {
    r.version = v.buildNumber ? v.buildNumber : "";
    if (free_version) free_version(&v);
  }
  void* core = nullptr;
  if (ov_status_e rc = core_create(&core); rc != 0 || !core) {
    r.why_not = fmt::format("ov_core_create failed (status {})", rc);
    return r;
  }
  ov_available_devices_t devs{nullptr, 0};
  if (ov_status_e rc = get_devices(core, &devs); rc != 0) {
    core_free(core);
    r.why_not = fmt::format("ov_core_get_available_devices failed (status {})", rc);
    return r;
  }
  for (size_t i = 0; i < devs.size; ++i) {
    DeviceInfo d;
    d.index = int(i);
    d.name = devs.devices[i] ? devs.devices[i] : "";
    d.capabilities["ov_device"] = d.name;
    char* full = nullptr;
    if (get_property && get_property(core, d.name.c_str(), "FULL_DEVICE_NAME", &full) == 0 && full) {
      d.capabilities["full_name"] = std::string(full);
      if (ov_free) ov_free(full);
    }
    r.devices.push_back(std::move(d));
  }
  free_devices(&devs);
  core_free(core);
  r.available = !r.devices.empty();
  if (!r.available) r.why_not = "OpenVINO loaded but its plugins report no device";
  return r;
}

}  // namespace

BackendReport detect_openvino(const ProbeEnv& env) {
  return run_probe(DeviceType::OpenVINO, env, [&] { return probe_openvino(env); });
}

}  // namespace ia::hw

IA_REGISTER_BACKEND(openvino, ::ia::DeviceType::OpenVINO, ::ia::hw::detect_openvino)
