// ROCm, OpenVINO, QNN and MPS detectors against fake sysfs/devfs trees and fake vendor libraries.
#include <gtest/gtest.h>

#include "hw_test_util.h"

namespace ia::hw {
namespace {

using testing::FakeRoot;
constexpr uint64_t GiB = 1ull << 30;

// One CPU node and one MI210-like GPU node (gfx90a, 104 CUs, 64 GiB VRAM, 4 GiB used).
void write_kfd_gpu(const FakeRoot& root) {
  const std::string t = "sys/class/kfd/kfd/topology/nodes/";
  root.write(t + "0/properties", "cpu_cores_count 64\nsimd_count 0\n");
  root.write(t + "1/properties",
             "cpu_cores_count 0\nsimd_count 416\nsimd_per_cu 4\ngfx_target_version 90010\ndrm_render_minor 128\n");
  root.write(t + "1/mem_banks/0/properties", "heap_type 1\nsize_in_bytes 68719476736\n");
  root.write("sys/class/drm/renderD128/device/mem_info_vram_used", "4294967296\n");
  root.write("sys/class/drm/renderD128/device/mem_info_vram_total", "68719476736\n");
}

TEST(RocmDetector, Absent) {
  FakeRoot root;
  BackendReport r = detect_rocm(root.env());
  EXPECT_FALSE(r.available);
  EXPECT_NE(r.why_not.find("no AMD GPU"), std::string::npos) << r.why_not;
  EXPECT_NE(r.why_not.find("libamdhip64.so"), std::string::npos) << r.why_not;
}

TEST(RocmDetector, KfdTopologyWithoutHipRuntime) {
  FakeRoot root;
  write_kfd_gpu(root);
  root.write("dev/kfd", "");
  BackendReport r = detect_rocm(root.env());
  EXPECT_FALSE(r.available);
  EXPECT_NE(r.why_not.find("1 AMD GPU(s) in the KFD topology (gfx90a) but HIP runtime"), std::string::npos)
      << r.why_not;
  ASSERT_EQ(r.devices.size(), 1u);  // the hardware is still reported
  EXPECT_EQ(r.devices[0].capabilities["gfx_target"], "gfx90a");
  EXPECT_EQ(r.devices[0].capabilities["compute_units"], 104);
  EXPECT_EQ(r.devices[0].total_memory, 64 * GiB);
  EXPECT_EQ(r.devices[0].free_memory, 60 * GiB);
}

TEST(RocmDetector, GpuNodesButNoDevKfd) {
  FakeRoot root;
  write_kfd_gpu(root);
  BackendReport r = detect_rocm(root.env({"hip_one"}));
  EXPECT_FALSE(r.available);
  EXPECT_NE(r.why_not.find("kfd is absent"), std::string::npos) << r.why_not;
}

TEST(RocmDetector, PresentWithHip) {
  FakeRoot root;
  write_kfd_gpu(root);
  root.write("dev/kfd", "");
  BackendReport r = detect_rocm(root.env({"hip_one"}));
  ASSERT_TRUE(r.available) << r.why_not;
  EXPECT_EQ(r.version, "6.2.41134");
  ASSERT_EQ(r.devices.size(), 1u);
  EXPECT_EQ(r.devices[0].name, "Fake AMD Instinct MI210");
  EXPECT_EQ(r.devices[0].total_memory, 64 * GiB);
  EXPECT_EQ(r.devices[0].free_memory, 60 * GiB);
  EXPECT_EQ(r.devices[0].capabilities["gfx_target"], "gfx90a");
}

TEST(RocmDetector, HipInitFailure) {
  FakeRoot root;
  write_kfd_gpu(root);
  root.write("dev/kfd", "");
  BackendReport r = detect_rocm(root.env({"hip_initfail"}));
  EXPECT_FALSE(r.available);
  EXPECT_NE(r.why_not.find("hipInit failed: hipError 100: no ROCm-capable device"), std::string::npos) << r.why_not;
}

TEST(OpenVinoDetector, Absent) {
  FakeRoot root;
  BackendReport r = detect_openvino(root.env());
  EXPECT_FALSE(r.available);
  EXPECT_NE(r.why_not.find("libopenvino_c.so not found"), std::string::npos) << r.why_not;
}

TEST(OpenVinoDetector, VersionAndDevices) {
  FakeRoot root;
  BackendReport r = detect_openvino(root.env({"ov_two"}));
  ASSERT_TRUE(r.available) << r.why_not;
  EXPECT_EQ(r.version, "2025.0.0-fake");
  ASSERT_EQ(r.devices.size(), 2u);
  EXPECT_EQ(r.devices[0].name, "CPU");
  EXPECT_EQ(r.devices[0].capabilities["full_name"], "Fake Xeon CPU");
  EXPECT_EQ(r.devices[1].name, "GPU.0");
}

TEST(OpenVinoDetector, NoDevices) {
  FakeRoot root;
  BackendReport r = detect_openvino(root.env({"ov_nodev"}));
  EXPECT_FALSE(r.available);
  EXPECT_NE(r.why_not.find("no device"), std::string::npos) << r.why_not;
}

TEST(OpenVinoDetector, BrokenLibrary) {
  FakeRoot root;
  BackendReport r = detect_openvino(root.env({"ov_nocore"}));
  EXPECT_FALSE(r.available);
  EXPECT_NE(r.why_not.find("lacks the OpenVINO 2.0 C API"), std::string::npos) << r.why_not;
}

TEST(QnnDetector, Absent) {
  FakeRoot root;
  BackendReport r = detect_qnn(root.env());
  EXPECT_FALSE(r.available);
  EXPECT_NE(r.why_not.find("libQnnHtp.so"), std::string::npos) << r.why_not;
  EXPECT_NE(r.why_not.find("QNN_SDK_ROOT unset"), std::string::npos) << r.why_not;
}

TEST(QnnDetector, CpuBackendLoads) {
  FakeRoot root;
  BackendReport r = detect_qnn(root.env({"qnn_cpu"}));
  ASSERT_TRUE(r.available) << r.why_not;
  ASSERT_EQ(r.devices.size(), 1u);
  EXPECT_EQ(r.devices[0].name, "cpu");
  EXPECT_EQ(r.devices[0].capabilities["provider"], "FAKE_QNN_CPU");
  EXPECT_EQ(r.devices[0].capabilities["core_api"], "2.22.0");
  EXPECT_EQ(r.devices[0].capabilities["backend_api"], "5.31.1");
}

TEST(QnnDetector, HtpNeedsTheDspDeviceNode) {
  FakeRoot root;
  BackendReport r = detect_qnn(root.env({"qnn_htp"}));
  EXPECT_FALSE(r.available);
  EXPECT_NE(r.why_not.find("htp: library loads but no device node"), std::string::npos) << r.why_not;
  root.write("dev/fastrpc-cdsp", "");
  r = detect_qnn(root.env({"qnn_htp"}));
  ASSERT_TRUE(r.available) << r.why_not;
  EXPECT_EQ(r.devices[0].name, "htp");
  EXPECT_EQ(r.devices[0].capabilities["backend_id"], 6);
}

TEST(QnnDetector, FoundThroughQnnSdkRoot) {
  FakeRoot root;
  ProbeEnv env = root.env();
#if defined(__x86_64__)
  root.write("sdk/lib/x86_64-linux-clang/.keep", "");
  std::filesystem::copy_file(std::string(IA_FAKE_LIB_DIR) + "/qnn_cpu/libQnnCpu.so",
                             root.path() + "/sdk/lib/x86_64-linux-clang/libQnnCpu.so");
  env.qnn_sdk_root = root.path() + "/sdk";
  BackendReport r = detect_qnn(env);
  EXPECT_TRUE(r.available) << r.why_not;
#else
  GTEST_SKIP() << "SDK layout test written for x86_64";
#endif
}

TEST(MpsDetector, NotApplicableOffMacOs) {
#if defined(__APPLE__)
  GTEST_SKIP() << "macOS: MPS is probed for real";
#else
  FakeRoot root;
  BackendReport r = detect_mps(root.env());
  EXPECT_FALSE(r.available);
  EXPECT_NE(r.why_not.find("not applicable on this OS"), std::string::npos);
#endif
}

}  // namespace
}  // namespace ia::hw
