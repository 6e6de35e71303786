#include <gtest/gtest.h>

#include "hw_test_util.h"

namespace ia::hw {
namespace {

using testing::FakeRoot;
constexpr uint64_t GiB = 1ull << 30;

TEST(CudaDetector, TwoDevicesWithMemoryAndComputeCapability) {
  FakeRoot root;
  BackendReport r = detect_cuda(root.env({"cuda_two"}));
  ASSERT_TRUE(r.available) << r.why_not;
  EXPECT_EQ(r.version, "13.0");
  EXPECT_EQ(r.capabilities["driver_api_version"], 13000);
  EXPECT_EQ(r.capabilities["driver_library"], std::string(IA_FAKE_LIB_DIR) + "/cuda_two/libcuda.so.1");
  ASSERT_EQ(r.devices.size(), 2u);
  EXPECT_EQ(r.devices[0].name, "Fake GeForce RTX 3090");
  EXPECT_EQ(r.devices[0].total_memory, 24 * GiB);
  EXPECT_EQ(r.devices[0].free_memory, 20 * GiB);
  EXPECT_EQ(r.devices[0].capabilities["compute_capability"], "8.6");
  EXPECT_EQ(r.devices[0].capabilities["multiprocessors"], 82);
  EXPECT_EQ(r.devices[1].name, "Fake H100 80GB HBM3");
  EXPECT_EQ(r.devices[1].total_memory, 80 * GiB);
  EXPECT_EQ(r.devices[1].free_memory, 70 * GiB);
  EXPECT_EQ(r.devices[1].capabilities["compute_capability"], "9.0");
  EXPECT_EQ(r.devices[1].capabilities["pci_bus_id"], "0000:42:00.0");
  EXPECT_TRUE(r.capabilities.contains("cudart"));
  EXPECT_TRUE(r.capabilities.contains("cublas"));
}

TEST(CudaDetector, Absent) {
  FakeRoot root;
  BackendReport r = detect_cuda(root.env());
  EXPECT_FALSE(r.available);
  EXPECT_NE(r.why_not.find("libcuda.so.1"), std::string::npos);
  EXPECT_NE(r.why_not.find("not found"), std::string::npos) << r.why_not;
}

TEST(CudaDetector, DeviceNodesWithoutDriverLibraryAreCalledOut) {
  FakeRoot root;
  root.write("dev/nvidiactl", "");
  BackendReport r = detect_cuda(root.env());
  EXPECT_FALSE(r.available);
  EXPECT_NE(r.why_not.find("nvidiactl exists"), std::string::npos) << r.why_not;
}

TEST(CudaDetector, InitFailureCarriesTheDriverError) {
  FakeRoot root;
  BackendReport r = detect_cuda(root.env({"cuda_initfail"}));
  EXPECT_FALSE(r.available);
  EXPECT_NE(r.why_not.find("cuInit failed: CUDA_ERROR_NO_DEVICE (100): no CUDA-capable device is detected"),
            std::string::npos)
      << r.why_not;
  EXPECT_EQ(r.version, "13.0");
}

TEST(CudaDetector, MissingSymbol) {
  FakeRoot root;
  BackendReport r = detect_cuda(root.env({"cuda_nosym"}));
  EXPECT_FALSE(r.available);
  EXPECT_NE(r.why_not.find("lacks cuDeviceGetCount"), std::string::npos) << r.why_not;
}

TEST(CudaDetector, CrashInsideDriverIsContained) {
  FakeRoot root;
  BackendReport r = detect_cuda(root.env({"cuda_crash"}));
  EXPECT_FALSE(r.available);
  EXPECT_NE(r.why_not.find("probe crashed"), std::string::npos) << r.why_not;
}

TEST(CudaDetector, HangInsideDriverTimesOut) {
  FakeRoot root;
  ProbeEnv env = root.env({"cuda_hang"});
  env.timeout_ms = 300;
  BackendReport r = detect_cuda(env);
  EXPECT_FALSE(r.available);
  EXPECT_NE(r.why_not.find("timed out after 300 ms"), std::string::npos) << r.why_not;
}

TEST(CudaDetector, NoDevices) {
  FakeRoot root;
  BackendReport r = detect_cuda(root.env({"cuda_zero"}));
  EXPECT_FALSE(r.available);
  EXPECT_NE(r.why_not.find("no CUDA device"), std::string::npos) << r.why_not;
}

TEST(CudaDetector, DriverTooOldForThisBuild) {
  FakeRoot root;
  ProbeEnv env = root.env({"cuda_old"});
  env.min_cuda_driver = 12000;
  BackendReport r = detect_cuda(env);
  EXPECT_FALSE(r.available);
  EXPECT_EQ(r.why_not, "driver too old: it supports CUDA 11.8, this build needs CUDA 12.0");
  EXPECT_EQ(r.devices.size(), 2u);  // still listed
}

TEST(CudaDetector, BuildThatNeedsCublasWithoutIt) {
  FakeRoot root;
  ProbeEnv env = root.env({"cuda_old"});  // a driver without a cuBLAS beside it
  env.cuda_blas_library = "libcublas.so.13";
  BackendReport r = detect_cuda(env);
  EXPECT_FALSE(r.available);
  EXPECT_NE(r.why_not.find("libcublas.so.13 not found"), std::string::npos) << r.why_not;
  EXPECT_EQ(r.capabilities["cublas"], "not found");
}

TEST(CudaDetector, SearchOrderPrefersEarlierDirectories) {
  FakeRoot root;
  BackendReport r = detect_cuda(root.env({"cuda_initfail", "cuda_two"}));
  EXPECT_FALSE(r.available);  // the first directory's library is the one used
  EXPECT_EQ(r.capabilities["driver_library"], std::string(IA_FAKE_LIB_DIR) + "/cuda_initfail/libcuda.so.1");
}

}  // namespace
}  // namespace ia::hw
