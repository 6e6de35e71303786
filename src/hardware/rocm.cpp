// ROCm detector: AMD GPUs from the KFD topology in sysfs (/sys/class/kfd/kfd/topology: gfx target, compute
// units, VRAM) and /dev/kfd, then the HIP runtime through dlopen("libamdhip64.so") for names and free memory.
#include <fmt/format.h>

#include <map>
#include <sstream>

#include "backends/registry.h"
#include "hardware/hardware.h"
#include "hardware/probe.h"

namespace ia::hw {

namespace {

std::map<std::string, int64_t> parse_properties(const std::string& text) {
  std::map<std::string, int64_t> out;
  std::istringstream in(text);
  std::string key;
  long long value = 0;
  while (in >> key >> value) out[key] = value;
  return out;
}

struct KfdGpu {
  std::string node;
  std::string gfx;
  int64_t compute_units = 0;
  uint64_t vram = 0;
  uint64_t vram_used = 0;
  bool vram_used_known = false;
};

// GPU nodes (simd_count > 0) of the KFD topology, in node order.
std::vector<KfdGpu> read_kfd_topology(const ProbeEnv& env) {
  std::vector<KfdGpu> gpus;
  const std::string nodes = env.sysfs_root + "/class/kfd/kfd/topology/nodes";
  for (const auto& n : list_dir(nodes)) {
    const std::string dir = nodes + "/" + n;
    auto props = parse_properties(read_text(dir + "/properties").value_or(""));
    if (props["simd_count"] <= 0) continue;  // a CPU node
    KfdGpu g;
    g.node = n;
    if (int64_t v = props["gfx_target_version"]; v > 0)
      g.gfx = fmt::format("gfx{}{:x}{:x}", v / 10000, (v / 100) % 100, v % 100);
    else
      g.gfx = read_text(dir + "/name").value_or("");
    if (props["simd_per_cu"] > 0) g.compute_units = props["simd_count"] / props["simd_per_cu"];
    for (const auto& bank : list_dir(dir + "/mem_banks"))
      g.vram += uint64_t(parse_properties(read_text(dir + "/mem_banks/" + bank + "/properties").value_or(""))
                             ["size_in_bytes"]);
    if (props.count("drm_render_minor")) {
      const std::string drm = fmt::format("{}/class/drm/renderD{}/device/", env.sysfs_root, props["drm_render_minor"]);
      if (auto used = read_int(drm + "mem_info_vram_used")) {
        g.vram_used = uint64_t(*used);
        g.vram_used_known = true;
      }
      if (auto total = read_int(drm + "mem_info_vram_total"); total && g.vram == 0) g.vram = uint64_t(*total);
    }
    gpus.push_back(g);
  }
  return gpus;
}

using hipError_t = int;
struct HipApi {
  hipError_t (*hipInit)(unsigned) = nullptr;
  hipError_t (*hipGetDeviceCount)(int*) = nullptr;
  hipError_t (*hipDeviceGetName)(char*, int, int) = nullptr;
  hipError_t (*hipDeviceTotalMem)(size_t*, int) = nullptr;
  hipError_t (*hipRuntimeGetVersion)(int*) = nullptr;
  hipError_t (*hipSetDevice)(int) = nullptr;
  hipError_t (*hipMemGetInfo)(size_t*, size_t*) = nullptr;
  const char* (*hipGetErrorString)(hipError_t) = nullptr;
  std::string error(hipError_t rc) const {
    const char* s = hipGetErrorString ? hipGetErrorString(rc) : nullptr;
    return s ? fmt::format("hipError {}: {}", rc, s) : fmt::format("hipError {}", rc);
  }
};

BackendReport probe_rocm(const ProbeEnv& env) {
  BackendReport r;
  r.type = DeviceType::ROCm;
  const auto kfd = read_kfd_topology(env);
  const bool kfd_dev = path_exists(env.devfs_root + "/kfd");
  r.capabilities["kfd_gpus"] = int(kfd.size());
  r.capabilities["kfd_device_node"] = kfd_dev;
  for (size_t i = 0; i < kfd.size(); ++i) {
    DeviceInfo d;
    d.index = int(i);
    d.name = kfd[i].gfx;
    d.total_memory = kfd[i].vram;
    if (kfd[i].vram_used_known && kfd[i].vram >= kfd[i].vram_used) d.free_memory = kfd[i].vram - kfd[i].vram_used;
    d.capabilities["gfx_target"] = kfd[i].gfx;
    d.capabilities["kfd_node"] = kfd[i].node;
    if (kfd[i].compute_units) d.capabilities["compute_units"] = kfd[i].compute_units;
    r.devices.push_back(d);
  }

  std::string err;
  auto lib = DynamicLibrary::open(env, {"libamdhip64.so", "libamdhip64.so.6", "libamdhip64.so.5"},
                                  {env.rocm_path.empty() ? "" : env.rocm_path + "/lib"}, &err);
  if (!lib) {
    if (kfd.empty() && !kfd_dev)
      r.why_not = fmt::format("no AMD GPU ({}/kfd absent, no GPU node in the KFD topology) and HIP runtime {}",
                              env.devfs_root, err);
    else if (!kfd.empty())
      r.why_not = fmt::format("{} AMD GPU(s) in the KFD topology ({}) but HIP runtime {}", kfd.size(),
                              kfd.front().gfx, err);
    else
      r.why_not = fmt::format("{}/kfd exists but HIP runtime {}", env.devfs_root, err);
    return r;
  }
  r.capabilities["hip_library"] = lib->path();
  if (!kfd.empty() && !kfd_dev) {
    r.why_not = fmt::format("{} AMD GPU(s) in the KFD topology but {}/kfd is absent (amdgpu driver not loaded, or "
                            "the device is not mapped into this container)", kfd.size(), env.devfs_root);
    return r;
  }
  HipApi api;
  api.hipInit = lib->get<decltype(api.hipInit)>("hipInit");
  api.hipGetDeviceCount = lib->get<decltype(api.hipGetDeviceCount)>("hipGetDeviceCount");
  api.hipDeviceGetName = lib->get<decltype(api.hipDeviceGetName)>("hipDeviceGetName");
  api.hipDeviceTotalMem = lib->get<decltype(api.hipDeviceTotalMem)>("hipDeviceTotalMem");
  api.hipRuntimeGetVersion = lib->get<decltype(api.hipRuntimeGetVersion)>("hipRuntimeGetVersion");
  api.hipSetDevice = lib->get<decltype(api.hipSetDevice)>("hipSetDevice");
  api.hipMemGetInfo = lib->get<decltype(api.hipMemGetInfo)>("hipMemGetInfo");
  api.hipGetErrorString = lib->get<decltype(api.hipGetErrorString)>("hipGetErrorString");
  if (!api.hipInit || !api.hipGetDeviceCount) {
    r.why_not = fmt::format("{} lacks hipInit/hipGetDeviceCount (not a usable HIP runtime)", lib->path());
    return r;
  }
  if (api.hipRuntimeGetVersion) {
    int v = 0;
    if (api.hipRuntimeGetVersion(&v) == 0)  // HIP_VERSION: major * 10^7 + minor * 10^5 + patch
      r.version = fmt::format("{}.{}.{}", v / 10000000, (v / 100000) % 100, v % 100000);
  }
  if (hipError_t rc = api.hipInit(0); rc != 0) {
    r.why_not = "hipInit failed: " + api.error(rc);
    return r;
  }
  int count = 0;
  if (hipError_t rc = api.hipGetDeviceCount(&count); rc != 0 || count == 0) {
    r.why_not = rc != 0 ? "hipGetDeviceCount failed: " + api.error(rc) : "no ROCm device (hipGetDeviceCount returned 0)";
    return r;
  }
  // HIP enumerates the KFD GPU nodes in order; keep their gfx/CU facts when the counts agree.
  std::vector<DeviceInfo> devices;
  for (int i = 0; i < count; ++i) {
    DeviceInfo d;
    if (size_t(count) == kfd.size()) d = r.devices[size_t(i)];
    d.index = i;
    char name[256] = {0};
    if (api.hipDeviceGetName && api.hipDeviceGetName(name, sizeof name - 1, i) == 0) d.name = name;
    size_t total = 0;
    if (api.hipDeviceTotalMem && api.hipDeviceTotalMem(&total, i) == 0) d.total_memory = total;
    size_t free_b = 0, total_b = 0;
    if (api.hipSetDevice && api.hipMemGetInfo && api.hipSetDevice(i) == 0 && api.hipMemGetInfo(&free_b, &total_b) == 0)
      d.free_memory = free_b;
    devices.push_back(std::move(d));
  }
  r.devices = std::move(devices);
  r.available = true;
  return r;
}

}  // namespace

BackendReport detect_rocm(const ProbeEnv& env) {
  return run_probe(DeviceType::ROCm, env, [&] { return probe_rocm(env); });
}

}  // namespace ia::hw

IA_REGISTER_BACKEND(rocm, ::ia::DeviceType::ROCm, ::ia::hw::detect_rocm)
