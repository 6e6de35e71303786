// CUDA detector: the NVIDIA driver API through dlopen("libcuda.so.1") -- device count, names, compute
// capability, total/free memory (primary context), driver version -- plus whether cudart and cuBLAS are present.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "backends/registry.h"
#include "hardware/hardware.h"
#include "hardware/probe.h"

#include <dlfcn.h>

#if defined(IA_WITH_CUDA) && __has_include(<cuda_runtime_api.h>)
#include <cuda_runtime_api.h>
#define IA_CUDA_IN_BUILD 1
#endif

namespace ia::hw {

namespace {

// The driver API subset we call (signatures as in cuda.h; CUdevice is an int, CUcontext an opaque pointer).
using CUresult = int;
using CUdevice = int;
using CUcontext = void*;
constexpr int kAttrMultiprocessorCount = 16;
constexpr int kAttrComputeCapabilityMajor = 75;
constexpr int kAttrComputeCapabilityMinor = 76;

struct CudaApi {
  CUresult (*cuInit)(unsigned) = nullptr;
  CUresult (*cuDriverGetVersion)(int*) = nullptr;
  CUresult (*cuDeviceGetCount)(int*) = nullptr;
  CUresult (*cuDeviceGet)(CUdevice*, int) = nullptr;
  CUresult (*cuDeviceGetName)(char*, int, CUdevice) = nullptr;
  CUresult (*cuDeviceTotalMem)(size_t*, CUdevice) = nullptr;
  CUresult (*cuDeviceGetAttribute)(int*, int, CUdevice) = nullptr;
  // Optional.
  CUresult (*cuGetErrorName)(CUresult, const char**) = nullptr;
  CUresult (*cuGetErrorString)(CUresult, const char**) = nullptr;
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext*, CUdevice) = nullptr;
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice) = nullptr;
  CUresult (*cuCtxSetCurrent)(CUcontext) = nullptr;
  CUresult (*cuCtxGetCurrent)(CUcontext*) = nullptr;
  CUresult (*cuMemGetInfo)(size_t*, size_t*) = nullptr;
  CUresult (*cuDeviceGetPCIBusId)(char*, int, CUdevice) = nullptr;

  std::string error(CUresult rc) const {
    const char* name = nullptr;
    const char* text = nullptr;
    if (cuGetErrorName) cuGetErrorName(rc, &name);
    if (cuGetErrorString) cuGetErrorString(rc, &text);
    if (name && text) return fmt::format("{} ({}): {}", name, rc, text);
    return fmt::format("CUresult {}", rc);
  }
};

std::string cuda_version_string(int v) { return fmt::format("{}.{}", v / 1000, (v % 1000) / 10); }

// Which of the named libraries loads (path), or "not found".
std::string find_library(const ProbeEnv& env, const std::vector<std::string>& names) {
  std::string err;
  auto lib = DynamicLibrary::open(env, names, {}, &err);
  return lib ? lib->path() : "not found";
}

BackendReport probe_cuda(const ProbeEnv& env) {
  std::string err;
  auto lib = DynamicLibrary::open(env, {"libcuda.so.1", "libcuda.so"}, {}, &err);
  if (!lib) {
    std::string why = "NVIDIA driver library " + err;
    if (path_exists(env.devfs_root + "/nvidiactl")) why += fmt::format("; {}/nvidiactl exists, so the driver's "
                                                                      "user-space part is missing", env.devfs_root);
    return BackendReport::unavailable(DeviceType::CUDA, why);
  }
  CudaApi api;
  std::vector<std::string> missing;
  auto need = [&](auto& fn, std::initializer_list<const char*> names) {
    for (const char* n : names)
      if ((fn = lib->get<std::remove_reference_t<decltype(fn)>>(n))) return;
    missing.push_back(*names.begin());
  };
  need(api.cuInit, {"cuInit"});
  need(api.cuDriverGetVersion, {"cuDriverGetVersion"});
  need(api.cuDeviceGetCount, {"cuDeviceGetCount"});
  need(api.cuDeviceGet, {"cuDeviceGet"});
  need(api.cuDeviceGetName, {"cuDeviceGetName"});
  need(api.cuDeviceTotalMem, {"cuDeviceTotalMem_v2", "cuDeviceTotalMem"});
  need(api.cuDeviceGetAttribute, {"cuDeviceGetAttribute"});
  if (!missing.empty())
    return BackendReport::unavailable(
        DeviceType::CUDA, fmt::format("{} lacks {} (not a usable CUDA driver)", lib->path(), fmt::join(missing, ", ")));
  api.cuGetErrorName = lib->get<decltype(api.cuGetErrorName)>("cuGetErrorName");
  api.cuGetErrorString = lib->get<decltype(api.cuGetErrorString)>("cuGetErrorString");
  api.cuDevicePrimaryCtxRetain = lib->get<decltype(api.cuDevicePrimaryCtxRetain)>("cuDevicePrimaryCtxRetain");
  api.cuDevicePrimaryCtxRelease = lib->get<decltype(api.cuDevicePrimaryCtxRelease)>("cuDevicePrimaryCtxRelease_v2");
  if (!api.cuDevicePrimaryCtxRelease)
    api.cuDevicePrimaryCtxRelease = lib->get<decltype(api.cuDevicePrimaryCtxRelease)>("cuDevicePrimaryCtxRelease");
  api.cuCtxSetCurrent = lib->get<decltype(api.cuCtxSetCurrent)>("cuCtxSetCurrent");
  api.cuCtxGetCurrent = lib->get<decltype(api.cuCtxGetCurrent)>("cuCtxGetCurrent");
  api.cuMemGetInfo = lib->get<decltype(api.cuMemGetInfo)>("cuMemGetInfo_v2");
  api.cuDeviceGetPCIBusId = lib->get<decltype(api.cuDeviceGetPCIBusId)>("cuDeviceGetPCIBusId");

  BackendReport r;
  r.type = DeviceType::CUDA;
  r.capabilities["driver_library"] = lib->path();
  int driver = 0;
  if (CUresult rc = api.cuDriverGetVersion(&driver); rc != 0)
    return BackendReport::unavailable(DeviceType::CUDA, "cuDriverGetVersion failed: " + api.error(rc));
  r.version = cuda_version_string(driver);
  r.capabilities["driver_api_version"] = driver;
  if (CUresult rc = api.cuInit(0); rc != 0) {
    BackendReport u = BackendReport::unavailable(DeviceType::CUDA, "cuInit failed: " + api.error(rc));
    u.version = r.version;
    u.capabilities = r.capabilities;
    return u;
  }
  int count = 0;
  if (CUresult rc = api.cuDeviceGetCount(&count); rc != 0)
    return BackendReport::unavailable(DeviceType::CUDA, "cuDeviceGetCount failed: " + api.error(rc));

  for (int i = 0; i < count; ++i) {
    DeviceInfo d;
    d.index = i;
    CUdevice dev = 0;
    if (CUresult rc = api.cuDeviceGet(&dev, i); rc != 0) {
      d.capabilities["error"] = "cuDeviceGet failed: " + api.error(rc);
      r.devices.push_back(d);
      continue;
    }
    char name[256] = {0};
    if (api.cuDeviceGetName(name, sizeof name - 1, dev) == 0) d.name = name;
    size_t total = 0;
    if (api.cuDeviceTotalMem(&total, dev) == 0) d.total_memory = total;
    int major = 0, minor = 0, sms = 0;
    if (api.cuDeviceGetAttribute(&major, kAttrComputeCapabilityMajor, dev) == 0 &&
        api.cuDeviceGetAttribute(&minor, kAttrComputeCapabilityMinor, dev) == 0)
      d.capabilities["compute_capability"] = fmt::format("{}.{}", major, minor);
    if (api.cuDeviceGetAttribute(&sms, kAttrMultiprocessorCount, dev) == 0) d.capabilities["multiprocessors"] = sms;
    if (api.cuDeviceGetPCIBusId) {
      char bus[64] = {0};
      if (api.cuDeviceGetPCIBusId(bus, sizeof bus - 1, dev) == 0) d.capabilities["pci_bus_id"] = bus;
    }
    // Free memory needs a context: retain the primary one briefly, then restore whatever was current (in-process
    // probes share the thread with the CUDA runtime).
    if (api.cuDevicePrimaryCtxRetain && api.cuCtxSetCurrent && api.cuMemGetInfo && api.cuDevicePrimaryCtxRelease) {
      CUcontext prev = nullptr;
      if (api.cuCtxGetCurrent) api.cuCtxGetCurrent(&prev);
      CUcontext ctx = nullptr;
      if (CUresult rc = api.cuDevicePrimaryCtxRetain(&ctx, dev); rc != 0) {
        d.capabilities["free_memory_error"] = "cuDevicePrimaryCtxRetain failed: " + api.error(rc);
      } else {
        size_t free_b = 0, total_b = 0;
        CUresult rc2 = api.cuCtxSetCurrent(ctx);
        if (rc2 == 0) rc2 = api.cuMemGetInfo(&free_b, &total_b);
        if (rc2 == 0)
          d.free_memory = free_b;
        else
          d.capabilities["free_memory_error"] = "cuMemGetInfo failed: " + api.error(rc2);
        api.cuCtxSetCurrent(prev);
        api.cuDevicePrimaryCtxRelease(dev);
      }
    } else {
      d.capabilities["free_memory_error"] = "driver lacks cuDevicePrimaryCtxRetain/cuMemGetInfo_v2";
    }
    r.devices.push_back(std::move(d));
  }

#ifdef IA_CUDA_IN_BUILD
  r.capabilities["cudart"] = fmt::format("linked into this build (CUDA {})", cuda_version_string(CUDART_VERSION));
#else
  r.capabilities["cudart"] = find_library(env, {"libcudart.so.13", "libcudart.so.12", "libcudart.so"});
#endif
  const std::string cublas = find_library(env, env.cuda_blas_library.empty()
                                                   ? std::vector<std::string>{"libcublas.so.13", "libcublas.so.12",
                                                                              "libcublas.so"}
                                                   : std::vector<std::string>{env.cuda_blas_library, "libcublas.so"});
  r.capabilities["cublas"] = cublas;

  if (count == 0) {
    r.available = false;
    r.why_not = "no CUDA device (cuDeviceGetCount returned 0)";
  } else if (env.min_cuda_driver > 0 && driver < env.min_cuda_driver) {
    r.available = false;
    r.why_not = fmt::format("driver too old: it supports CUDA {}, this build needs CUDA {}", r.version,
                            cuda_version_string(env.min_cuda_driver));
  } else if (!env.cuda_blas_library.empty() && cublas == "not found") {
    r.available = false;
    r.why_not = fmt::format("{} not found (searched: {}); this build's CUDA executor needs cuBLAS",
                            env.cuda_blas_library, describe_search(env, {}));
  } else {
    r.available = true;
  }
  return r;
}

}  // namespace

BackendReport detect_cuda(const ProbeEnv& env) {
  // A forked child may not use a driver its parent already initialised; when this process has loaded the real
  // driver (the CUDA backend is running), probe in-process instead -- that driver has already proven it works.
  ProbeEnv e = env;
  bool in_process = false;
  if (e.isolate && e.system_search) {
    if (void* h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD)) {
      dlclose(h);
      e.isolate = false;
      in_process = true;
    }
  }
  BackendReport r = run_probe(DeviceType::CUDA, e, [&] { return probe_cuda(e); });
  if (in_process) r.notes.push_back("probed in-process: the CUDA driver is already loaded in this process");
  return r;
}

}  // namespace ia::hw

IA_REGISTER_BACKEND(cuda, ::ia::DeviceType::CUDA, ::ia::hw::detect_cuda)
