#include "hardware/probe.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "hw_test_util.h"

namespace ia::hw {
namespace {

using testing::FakeRoot;

TEST(Probe, LibraryAbsentNamesWhatWasSearched) {
  FakeRoot root;
  ProbeEnv env = root.env();
  env.lib_dirs = {root.path() + "/lib"};
  std::string err;
  EXPECT_FALSE(DynamicLibrary::open(env, {"libcuda.so.1"}, {}, &err).has_value());
  EXPECT_NE(err.find("libcuda.so.1 not found"), std::string::npos) << err;
  EXPECT_NE(err.find(root.path() + "/lib"), std::string::npos) << err;
}

TEST(Probe, BrokenLibraryFileIsReportedNotFatal) {
  FakeRoot root;
  root.write("lib/libcuda.so.1", "this is not an ELF file");
  ProbeEnv env = root.env();
  env.lib_dirs = {root.path() + "/lib"};
  std::string err;
  EXPECT_FALSE(DynamicLibrary::open(env, {"libcuda.so.1"}, {}, &err).has_value());
  EXPECT_NE(err.find("failed to load"), std::string::npos) << err;
}

// In-process loads use the fake OpenVINO library, never the fake libcuda.so.1: a fake driver left loaded under the
// real soname would be picked up by the CUDA runtime of later tests.
TEST(Probe, FakeLibraryLoadsFromSearchPathAndResolvesSymbols) {
  FakeRoot root;
  std::string err;
  auto lib = DynamicLibrary::open(root.env({"ov_two"}), {"libopenvino_c.so"}, {}, &err);
  ASSERT_TRUE(lib.has_value()) << err;
  EXPECT_EQ(lib->path(), std::string(IA_FAKE_LIB_DIR) + "/ov_two/libopenvino_c.so");
  EXPECT_NE(lib->symbol("ov_core_create"), nullptr);
  EXPECT_EQ(lib->symbol("ov_no_such_function"), nullptr);
}

TEST(Probe, InProcessDetectorRun) {
  FakeRoot root;
  ProbeEnv env = root.env({"ov_two"});
  env.isolate = false;
  BackendReport r = detect_openvino(env);
  EXPECT_TRUE(r.available) << r.why_not;
  EXPECT_EQ(r.devices.size(), 2u);
}

TEST(Probe, IsolatedProbeReturnsTheChildsReport) {
  FakeRoot root;
  BackendReport r = run_probe(DeviceType::CUDA, root.env(), [] {
    BackendReport x;
    x.type = DeviceType::CUDA;
    x.available = true;
    x.version = "12.4";
    DeviceInfo d;
    d.name = "child";
    d.total_memory = 1ull << 40;
    d.capabilities["pid"] = int(getpid());
    x.devices.push_back(d);
    return x;
  });
  EXPECT_TRUE(r.available);
  EXPECT_EQ(r.version, "12.4");
  ASSERT_EQ(r.devices.size(), 1u);
  EXPECT_EQ(r.devices[0].total_memory, 1ull << 40);
  EXPECT_NE(r.devices[0].capabilities["pid"].get<int>(), int(getpid()));  // it ran in another process
}

TEST(Probe, CrashingProbeIsContained) {
  FakeRoot root;
  BackendReport r = run_probe(DeviceType::ROCm, root.env(), []() -> BackendReport {
    raise(SIGSEGV);
    return {};
  });
  EXPECT_FALSE(r.available);
  EXPECT_EQ(r.type, DeviceType::ROCm);
#ifdef IA_SANITIZED
  // ASan handles the SIGSEGV itself, reports it and aborts (abort_on_error): the probe dies by signal 6.
  EXPECT_NE(r.why_not.find("probe crashed: signal 6"), std::string::npos) << r.why_not;
#else
  EXPECT_NE(r.why_not.find("probe crashed: signal 11"), std::string::npos) << r.why_not;
#endif
}

TEST(Probe, HangingProbeTimesOut) {
  FakeRoot root;
  ProbeEnv env = root.env();
  env.timeout_ms = 200;
  const auto t0 = std::chrono::steady_clock::now();
  BackendReport r = run_probe(DeviceType::OpenVINO, env, []() -> BackendReport {
    for (;;) pause();
  });
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_FALSE(r.available);
  EXPECT_NE(r.why_not.find("timed out after 200 ms"), std::string::npos) << r.why_not;
  EXPECT_LT(ms, 2000);
}

// The hazard of forking without exec: another thread holds a lock at fork time, and the child's copy of it is
// never released. The probe blocks on it; the parent's deadline must still end it.
TEST(Probe, ProbeBlockedOnALockCopiedAtForkTimesOut) {
  FakeRoot root;
  ProbeEnv env = root.env();
  env.timeout_ms = 300;
  std::mutex lock;
  std::atomic<bool> held{false}, release{false};
  std::thread holder([&] {
    std::lock_guard<std::mutex> g(lock);
    held = true;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  while (!held) std::this_thread::yield();
  const auto t0 = std::chrono::steady_clock::now();
  BackendReport r = run_probe(DeviceType::ROCm, env, [&]() -> BackendReport {
    std::lock_guard<std::mutex> g(lock);
    return BackendReport::unavailable(DeviceType::ROCm, "the copied lock was free");
  });
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  release = true;
  holder.join();
  EXPECT_FALSE(r.available);
  EXPECT_NE(r.why_not.find("timed out after 300 ms"), std::string::npos) << r.why_not;
  EXPECT_LT(ms, 3000);
}

TEST(Probe, ProbeThatExitsIsReported) {
  FakeRoot root;
  BackendReport r = run_probe(DeviceType::QNN, root.env(), []() -> BackendReport { _exit(7); });
  EXPECT_FALSE(r.available);
  EXPECT_NE(r.why_not.find("status 7"), std::string::npos) << r.why_not;
}

TEST(Probe, ThrowingProbeIsReportedInProcessToo) {
  FakeRoot root;
  ProbeEnv env = root.env();
  env.isolate = false;
  BackendReport r = run_probe(DeviceType::CUDA, env, []() -> BackendReport { throw std::runtime_error("boom"); });
  EXPECT_FALSE(r.available);
  EXPECT_EQ(r.why_not, "probe failed: boom");
}

TEST(Probe, ReportJsonRoundTrip) {
  BackendReport r;
  r.type = DeviceType::ROCm;
  r.available = false;
  r.why_not = "x";
  r.notes = {"n"};
  DeviceInfo d;
  d.index = 3;
  d.free_memory = 5;
  r.devices.push_back(d);
  BackendReport back = BackendReport::from_json(r.to_json());
  EXPECT_EQ(back.type, DeviceType::ROCm);
  EXPECT_EQ(back.why_not, "x");
  EXPECT_EQ(back.notes, r.notes);
  ASSERT_EQ(back.devices.size(), 1u);
  EXPECT_EQ(back.devices[0].index, 3);
  EXPECT_EQ(back.devices[0].free_memory, 5u);
}

TEST(Probe, FormatBytes) {
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(48 << 10), "48 KiB");
  EXPECT_EQ(format_bytes(3ull << 29), "1.5 GiB");
}

TEST(Probe, EnvironmentVariablesConfigureTheProbe) {
  setenv("IA_LIB_PATH", "/a:/b::/c", 1);
  setenv("IA_LIB_PATH_ONLY", "1", 1);
  setenv("IA_SYSFS_ROOT", "/fake/sys", 1);
  setenv("IA_PROBE_TIMEOUT_MS", "1234", 1);
  ProbeEnv env = ProbeEnv::from_environment();
  EXPECT_EQ(env.lib_dirs, (std::vector<std::string>{"/a", "/b", "/c"}));
  EXPECT_FALSE(env.system_search);
  EXPECT_EQ(env.sysfs_root, "/fake/sys");
  EXPECT_EQ(env.timeout_ms, 1234);
  setenv("IA_PROBE_TIMEOUT_MS", "soon", 1);
  EXPECT_THROW(ProbeEnv::from_environment(), Error);
  for (const char* v : {"IA_LIB_PATH", "IA_LIB_PATH_ONLY", "IA_SYSFS_ROOT", "IA_PROBE_TIMEOUT_MS"}) unsetenv(v);
}

}  // namespace
}  // namespace ia::hw
