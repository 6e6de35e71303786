// MPS detector: Metal is macOS-only. On Apple platforms the system default Metal device is queried through the
// Objective-C runtime (no Objective-C++ in the build); everywhere else MPS is "not applicable on this OS".
#include <fmt/format.h>

#include "backends/registry.h"
#include "hardware/hardware.h"
#include "hardware/probe.h"

#if defined(__APPLE__)
#include <dlfcn.h>
#endif

namespace ia::hw {

#if defined(__APPLE__)
namespace {

BackendReport probe_mps(const ProbeEnv& env) {
  BackendReport r;
  r.type = DeviceType::MPS;
  void* metal = dlopen("/System/Library/Frameworks/Metal.framework/Metal", RTLD_NOW | RTLD_LOCAL);
  void* objc = dlopen("/usr/lib/libobjc.A.dylib", RTLD_NOW | RTLD_LOCAL);
  if (!metal || !objc) {
    r.why_not = "Metal.framework or libobjc could not be loaded";
    return r;
  }
  using CreateDevice = void* (*)();
  using SelFn = void* (*)(const char*);
  auto create = reinterpret_cast<CreateDevice>(dlsym(metal, "MTLCreateSystemDefaultDevice"));
  auto sel = reinterpret_cast<SelFn>(dlsym(objc, "sel_registerName"));
  void* send = dlsym(objc, "objc_msgSend");
  if (!create || !sel || !send) {
    r.why_not = "MTLCreateSystemDefaultDevice/objc_msgSend not found";
    return r;
  }
  void* device = create();
  if (!device) {
    r.why_not = "no Metal device (MTLCreateSystemDefaultDevice returned nil)";
    return r;
  }
  auto msg_obj = reinterpret_cast<void* (*)(void*, void*)>(send);
  auto msg_u64 = reinterpret_cast<uint64_t (*)(void*, void*)>(send);
  auto msg_str = reinterpret_cast<const char* (*)(void*, void*)>(send);
  DeviceInfo d;
  if (void* name = msg_obj(device, sel("name"))) d.name = msg_str(name, sel("UTF8String"));
  d.total_memory = msg_u64(device, sel("recommendedMaxWorkingSetSize"));
  const uint64_t allocated = msg_u64(device, sel("currentAllocatedSize"));
  d.free_memory = d.total_memory > allocated ? d.total_memory - allocated : 0;
  d.capabilities["unified_memory"] = msg_u64(device, sel("hasUnifiedMemory")) != 0;
  r.devices.push_back(d);
  r.available = true;
  return r;
}

}  // namespace

BackendReport detect_mps(const ProbeEnv& env) {
  return run_probe(DeviceType::MPS, env, [&] { return probe_mps(env); });
}
#else
BackendReport detect_mps(const ProbeEnv&) {
  return BackendReport::unavailable(DeviceType::MPS, "not applicable on this OS (Metal/MPS exists only on macOS)");
}
#endif

}  // namespace ia::hw

IA_REGISTER_BACKEND(mps, ::ia::DeviceType::MPS, ::ia::hw::detect_mps)
