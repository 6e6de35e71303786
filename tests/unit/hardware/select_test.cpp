#include "hardware/select.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "hw_test_util.h"

namespace ia {
namespace {

constexpr uint64_t GiB = 1ull << 30;

std::set<std::string> all_ops() {
  const auto v = all_op_names();
  return {v.begin(), v.end()};
}

struct Dev {
  uint64_t free_b, total_b;
};

BackendStatus backend(DeviceType t, bool available, bool executor, std::vector<Dev> devs,
                      std::set<std::string> ops = all_ops()) {
  BackendStatus s;
  s.report.type = t;
  s.report.available = available;
  if (!available) s.report.why_not = "fake: nothing here";
  for (size_t i = 0; i < devs.size(); ++i) {
    hw::DeviceInfo d;
    d.index = int(i);
    d.name = std::string("Fake ") + device_type_name(t) + std::to_string(i);
    d.free_memory = devs[i].free_b;
    d.total_memory = devs[i].total_b;
    s.report.devices.push_back(d);
  }
  s.has_executor = executor;
  if (executor) s.ops = std::move(ops);
  s.total_ops = all_op_names().size();
  return s;
}

// A machine with two executing CUDA GPUs (20 and 70 GiB free), a ROCm GPU without an executor, and a CPU with
// 200 GiB free.
std::vector<BackendStatus> gpu_machine() {
  return {backend(DeviceType::CPU, true, true, {{200 * GiB, 256 * GiB}}),
          backend(DeviceType::CUDA, true, true, {{20 * GiB, 24 * GiB}, {70 * GiB, 80 * GiB}}),
          backend(DeviceType::ROCm, true, false, {{60 * GiB, 64 * GiB}}),
          backend(DeviceType::MPS, false, false, {}),
          backend(DeviceType::OpenVINO, false, false, {}),
          backend(DeviceType::QNN, false, false, {})};
}

SelectionRequest request(const std::string& device, uint64_t memory = 0, bool fallback = true) {
  SelectionRequest r;
  r.device = device;
  r.memory_bytes = memory;
  r.allow_fallback = fallback;
  r.what = "test-model";
  return r;
}

bool contains(const std::vector<std::string>& v, const std::string& needle) {
  for (const auto& s : v)
    if (s.find(needle) != std::string::npos) return true;
  return false;
}

const auto kDefault = default_device_priority();

// The fake machines have CUDA devices this process cannot use: swap the real CUDA backend's init hook for `hook`
// (none by default) while a test runs.
class CudaInitHook {
 public:
  explicit CudaInitHook(ExecutorInit hook = {}) : saved_(executor_init(DeviceType::CUDA)) {
    register_executor_init(DeviceType::CUDA, std::move(hook));
  }
  ~CudaInitHook() { register_executor_init(DeviceType::CUDA, saved_); }

 private:
  ExecutorInit saved_;
};

TEST(SelectDevice, AutoPrefersCudaAndTheGpuWithMostFreeMemory) {
  DeviceDecision d = select_device(request("auto", 10 * GiB), gpu_machine(), kDefault);
  EXPECT_EQ(d.used, (Device{DeviceType::CUDA, 1}));
  EXPECT_FALSE(d.fell_back);
  EXPECT_EQ(d.requested, "auto");
  EXPECT_NE(d.reason.find("auto chose cuda:1 (Fake cuda1), needs 10 GiB of 63 GiB usable: first in priority order "
                          "cuda > rocm > mps > openvino > qnn > cpu"),
            std::string::npos)
      << d.reason;
}

TEST(SelectDevice, ModelTooLargeForOneGpuGoesToTheOther) {
  DeviceDecision d = select_device(request("auto", 30 * GiB), gpu_machine(), kDefault);
  EXPECT_EQ(d.used, (Device{DeviceType::CUDA, 1}));
  EXPECT_FALSE(d.fell_back);
  EXPECT_TRUE(contains(d.skipped, "cuda:0 (Fake cuda0): needs 30 GiB, only 18 GiB usable (90% of 20 GiB free)"))
      << d.reason;
}

TEST(SelectDevice, ModelTooLargeForEveryGpuFallsToCpuWithTheReason) {
  DeviceDecision d = select_device(request("auto", 100 * GiB), gpu_machine(), kDefault);
  EXPECT_EQ(d.used, Device::cpu());
  EXPECT_TRUE(d.fell_back);
  EXPECT_TRUE(contains(d.skipped, "cuda:0 (Fake cuda0): needs 100 GiB")) << d.reason;
  EXPECT_TRUE(contains(d.skipped, "cuda:1 (Fake cuda1): needs 100 GiB, only 63 GiB usable")) << d.reason;
  EXPECT_TRUE(contains(d.skipped, "rocm: detected (1 device), no executor in this build")) << d.reason;
  EXPECT_NE(d.reason.find("skipped:"), std::string::npos);
}

TEST(SelectDevice, NoFallbackTurnsTheFallbackIntoAnError) {
  try {
    select_device(request("auto", 100 * GiB, false), gpu_machine(), kDefault);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("--no-fallback"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("needs 100 GiB"), std::string::npos) << e.what();
  }
  // A choice that is no fallback is fine with --no-fallback.
  EXPECT_EQ(select_device(request("auto", 10 * GiB, false), gpu_machine(), kDefault).used.type, DeviceType::CUDA);
}

TEST(SelectDevice, TooLargeForEverythingIsAnError) {
  try {
    select_device(request("auto", 1000 * GiB), gpu_machine(), kDefault);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no device can run test-model"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cpu (Fake cpu0): needs 1000 GiB"), std::string::npos) << e.what();
  }
}

TEST(SelectDevice, ExplicitRequestIsHonoured) {
  DeviceDecision d = select_device(request("cuda:0", 10 * GiB), gpu_machine(), kDefault);
  EXPECT_EQ(d.used, (Device{DeviceType::CUDA, 0}));
  EXPECT_FALSE(d.fell_back);
  EXPECT_EQ(d.reason.rfind("cuda:0 (Fake cuda0), needs 10 GiB of 18 GiB usable as requested", 0), 0u) << d.reason;
  EXPECT_EQ(d.to_json()["requested"], "cuda:0");
  EXPECT_EQ(d.to_json()["used"], "cuda:0");
}

TEST(SelectDevice, ExplicitRequestTooSmallFallsBackAlongThePriorityList) {
  DeviceDecision d = select_device(request("cuda:0", 30 * GiB), gpu_machine(), kDefault);
  EXPECT_EQ(d.used, (Device{DeviceType::CUDA, 1}));
  EXPECT_TRUE(d.fell_back);
  EXPECT_NE(d.reason.find("requested cuda:0 could not be used; fell back to cuda:1"), std::string::npos) << d.reason;
  EXPECT_THROW(select_device(request("cuda:0", 30 * GiB, false), gpu_machine(), kDefault), Error);
}

TEST(SelectDevice, ExplicitBackendWithoutExecutor) {
  DeviceDecision d = select_device(request("rocm"), gpu_machine(), kDefault);
  EXPECT_EQ(d.used, (Device{DeviceType::CUDA, 1}));
  EXPECT_TRUE(d.fell_back);
  EXPECT_TRUE(contains(d.skipped, "rocm: detected (1 device), no executor in this build")) << d.reason;
  try {
    select_device(request("rocm", 0, false), gpu_machine(), kDefault);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--device rocm cannot run test-model and --no-fallback is set"),
              std::string::npos)
        << e.what();
  }
}

TEST(SelectDevice, ExplicitMissingIndexAndUnavailableBackend) {
  DeviceDecision d = select_device(request("cuda:5"), gpu_machine(), kDefault);
  EXPECT_TRUE(contains(d.skipped, "cuda:5: no such device (2 detected)")) << d.reason;
  d = select_device(request("mps"), gpu_machine(), kDefault);
  EXPECT_TRUE(contains(d.skipped, "mps: not available: fake: nothing here; no executor in this build")) << d.reason;
}

TEST(SelectDevice, BackendWithoutExecutorIsNotAFallbackForAuto) {
  const std::vector<DeviceType> prio = {DeviceType::ROCm, DeviceType::CPU};
  DeviceDecision d = select_device(request("auto", 0, false), gpu_machine(), prio);
  EXPECT_EQ(d.used, Device::cpu());
  EXPECT_FALSE(d.fell_back);
  EXPECT_TRUE(contains(d.skipped, "no executor in this build"));
}

TEST(SelectDevice, EveryOpMustHaveAKernel) {
  auto machine = gpu_machine();
  std::set<std::string> partial = machine[1].ops;
  partial.erase("attention");
  machine[1].ops = partial;
  DeviceDecision d = select_device(request("auto"), machine, kDefault);
  EXPECT_EQ(d.used, Device::cpu());
  EXPECT_TRUE(d.fell_back);
  EXPECT_TRUE(contains(d.skipped, "cuda: no cuda kernel for op attention")) << d.reason;
  SelectionRequest linear_only = request("auto");
  linear_only.ops = {"linear", "layer_norm"};
  EXPECT_EQ(select_device(linear_only, machine, kDefault).used.type, DeviceType::CUDA);
  SelectionRequest unknown = request("auto");
  unknown.ops = {"no_such_op"};
  EXPECT_THROW(select_device(unknown, machine, kDefault), Error);
}

TEST(SelectDevice, UnknownDeviceMemoryIsNotChecked) {
  std::vector<BackendStatus> m = {backend(DeviceType::CPU, true, true, {{0, 0}})};
  DeviceDecision d = select_device(request("auto", 10 * GiB), m, kDefault);
  EXPECT_EQ(d.used, Device::cpu());
  EXPECT_NE(d.reason.find("device memory unknown, not checked"), std::string::npos) << d.reason;
}

TEST(SelectDevice, PriorityOverride) {
  const auto prio = parse_device_priority("cpu, cuda");
  EXPECT_EQ(prio, (std::vector<DeviceType>{DeviceType::CPU, DeviceType::CUDA}));
  EXPECT_EQ(select_device(request("auto"), gpu_machine(), prio).used, Device::cpu());
  EXPECT_EQ(parse_device_priority("ROCm>cpu"), (std::vector<DeviceType>{DeviceType::ROCm, DeviceType::CPU}));
  EXPECT_THROW(parse_device_priority("cuda,tpu"), Error);
  EXPECT_THROW(parse_device_priority("cuda,cuda"), Error);
  EXPECT_THROW(parse_device_priority(" , "), Error);
  // Left out of the list: never chosen by auto.
  std::vector<BackendStatus> m = {backend(DeviceType::CPU, true, true, {{GiB, GiB}})};
  EXPECT_THROW(select_device(request("auto"), m, {DeviceType::CUDA}), Error);
}

TEST(SelectDevice, PriorityFromEnvironmentAndConfigFile) {
  hw::testing::FakeRoot root;
  unsetenv("IA_DEVICE_PRIORITY");
  root.write("hardware.json", R"({"device_priority": ["openvino", "cpu"]})");
  setenv("IA_HARDWARE_CONFIG", (root.path() + "/hardware.json").c_str(), 1);
  DevicePriority p = device_priority();
  EXPECT_EQ(p.order, (std::vector<DeviceType>{DeviceType::OpenVINO, DeviceType::CPU}));
  EXPECT_EQ(p.source, root.path() + "/hardware.json");
  setenv("IA_DEVICE_PRIORITY", "qnn,cpu", 1);  // the variable wins over the file
  p = device_priority();
  EXPECT_EQ(p.order, (std::vector<DeviceType>{DeviceType::QNN, DeviceType::CPU}));
  EXPECT_EQ(p.source, "IA_DEVICE_PRIORITY");
  unsetenv("IA_DEVICE_PRIORITY");
  root.write("hardware.json", R"({"device_priority": ["cuda", "gpu"]})");
  EXPECT_THROW(device_priority(), Error);
  setenv("IA_HARDWARE_CONFIG", (root.path() + "/missing.json").c_str(), 1);
  EXPECT_THROW(device_priority(), Error);
  unsetenv("IA_HARDWARE_CONFIG");
  setenv("XDG_CONFIG_HOME", root.path().c_str(), 1);  // no file there: the default
  p = device_priority();
  EXPECT_EQ(p.order, default_device_priority());
  EXPECT_EQ(p.source, "default");
  unsetenv("XDG_CONFIG_HOME");
}

TEST(SelectDevice, DeviceRequestParsing) {
  EXPECT_TRUE(DeviceRequest::parse("auto").is_auto);
  DeviceRequest r = DeviceRequest::parse("cuda:1");
  EXPECT_FALSE(r.is_auto);
  EXPECT_TRUE(r.has_index);
  EXPECT_EQ(r.device, (Device{DeviceType::CUDA, 1}));
  EXPECT_FALSE(DeviceRequest::parse("rocm").has_index);
  EXPECT_EQ(DeviceRequest::parse("openvino").str(), "openvino");
  try {
    DeviceRequest::parse("tpu");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("expected auto, cpu, cuda[:N]"), std::string::npos);
  }
  EXPECT_THROW(DeviceRequest::parse("cuda:x"), Error);
}

TEST(LoadWithFallback, LoadFailureMovesToTheNextDeviceAndIsRecorded) {
  CudaInitHook no_hook;
  std::vector<std::string> tried;
  auto load = [&](const Device& d) {
    tried.push_back(d.str());
    if (d.type == DeviceType::CUDA) fail(ErrorKind::OutOfMemory, "cudaMalloc of 12 GiB failed on {}", d.str());
  };
  DeviceDecision d = load_with_fallback(request("auto", 10 * GiB), load, gpu_machine(), kDefault);
  EXPECT_EQ(tried, (std::vector<std::string>{"cuda:1", "cuda:0", "cpu"}));
  EXPECT_EQ(d.used, Device::cpu());
  EXPECT_TRUE(d.fell_back);
  EXPECT_TRUE(contains(d.skipped, "cuda:1: load failed: cudaMalloc of 12 GiB failed on cuda:1")) << d.reason;
  EXPECT_TRUE(contains(d.skipped, "cuda:0: load failed")) << d.reason;
}

TEST(LoadWithFallback, NoFallbackRethrowsWithTheDeviceNamed) {
  CudaInitHook no_hook;
  int calls = 0;
  auto load = [&](const Device&) {
    ++calls;
    fail(ErrorKind::Backend, "driver error 700");
  };
  try {
    load_with_fallback(request("cuda:1", 0, false), load, gpu_machine(), kDefault);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Backend);
    EXPECT_NE(std::string(e.what()).find("cuda:1 failed at load and --no-fallback is set: driver error 700"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(calls, 1);
}

TEST(LoadWithFallback, NonDeviceErrorsPropagateAtOnce) {
  CudaInitHook no_hook;
  int calls = 0;
  auto load = [&](const Device&) {
    ++calls;
    fail(ErrorKind::NotFound, "config.json missing");
  };
  EXPECT_THROW(load_with_fallback(request("auto"), load, gpu_machine(), kDefault), Error);
  EXPECT_EQ(calls, 1);
}

TEST(LoadWithFallback, ExecutorInitHookFailureFallsBack) {
  CudaInitHook failing([](int index) {
    fail(ErrorKind::Backend, "cudaSetDevice({}) failed: all CUDA-capable devices are busy", index);
  });
  std::vector<std::string> loaded;
  DeviceDecision d =
      load_with_fallback(request("cuda"), [&](const Device& dev) { loaded.push_back(dev.str()); }, gpu_machine(),
                         kDefault);
  EXPECT_EQ(loaded, (std::vector<std::string>{"cpu"}));
  EXPECT_TRUE(d.fell_back);
  EXPECT_TRUE(contains(d.skipped, "cuda:1: init failed: cudaSetDevice(1) failed")) << d.reason;
}

TEST(SelectDevice, ThisMachineChoosesABackendWithAnExecutor) {
  DeviceDecision d = select_device(request("auto"));
  EXPECT_FALSE(ops_with_kernel(d.used.type).empty());
  EXPECT_FALSE(d.reason.empty());
}

}  // namespace
}  // namespace ia
