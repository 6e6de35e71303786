#include <gtest/gtest.h>

#include <fmt/format.h>

#include "hw_test_util.h"

namespace ia::hw {
namespace {

using testing::FakeRoot;

std::string x86_cpuinfo(int logical, const std::string& flags) {
  std::string s;
  for (int i = 0; i < logical; ++i)
    s += fmt::format(
        "processor\t: {}\nvendor_id\t: GenuineIntel\nmodel name\t: Fake Xeon Platinum 8480+\nphysical id\t: 0\n"
        "core id\t\t: {}\nflags\t\t: {}\n\n",
        i, i / 2, flags);
  return s;
}

void write_topology(const FakeRoot& root, int logical) {
  root.write("sys/devices/system/cpu/online", fmt::format("0-{}\n", logical - 1));
  for (int i = 0; i < logical; ++i) {
    root.write(fmt::format("sys/devices/system/cpu/cpu{}/topology/physical_package_id", i), "0\n");
    root.write(fmt::format("sys/devices/system/cpu/cpu{}/topology/core_id", i), fmt::format("{}\n", i / 2));
  }
  const std::string c = "sys/devices/system/cpu/cpu0/cache/";
  root.write(c + "index0/level", "1\n");
  root.write(c + "index0/type", "Data\n");
  root.write(c + "index0/size", "48K\n");
  root.write(c + "index1/level", "1\n");
  root.write(c + "index1/type", "Instruction\n");
  root.write(c + "index1/size", "32K\n");
  root.write(c + "index2/level", "2\n");
  root.write(c + "index2/type", "Unified\n");
  root.write(c + "index2/size", "2048K\n");
  root.write(c + "index3/level", "3\n");
  root.write(c + "index3/type", "Unified\n");
  root.write(c + "index3/size", "107520K\n");
  root.write("sys/devices/system/node/node0/cpulist", "0-1\n");
  root.write("sys/devices/system/node/node1/cpulist", "2-3\n");
  root.write("sys/devices/system/node/possible", "0-1\n");
}

constexpr const char* kMeminfo = "MemTotal:       65536000 kB\nMemFree:        1000000 kB\nMemAvailable:   60000000 kB\n";

TEST(CpuDetector, ReadsVendorTopologyIsaCachesMemoryNuma) {
  FakeRoot root;
  root.write("proc/cpuinfo", x86_cpuinfo(4, "fpu sse4_2 avx avx2 fma f16c avx512f avx512bw avx512_vnni avx_vnni "
                                            "amx_tile amx_bf16 amx_int8"));
  root.write("proc/meminfo", kMeminfo);
  write_topology(root, 4);
  BackendReport r = detect_cpu(root.env());
  EXPECT_TRUE(r.available) << r.why_not;
  const auto& c = r.capabilities;
  EXPECT_EQ(c["vendor"], "GenuineIntel");
  EXPECT_EQ(c["model"], "Fake Xeon Platinum 8480+");
  EXPECT_EQ(c["logical_cores"], 4);
  EXPECT_EQ(c["physical_cores"], 2);
  EXPECT_EQ(c["sockets"], 1);
  EXPECT_EQ(c["numa_nodes"], 2);
  EXPECT_EQ(c["caches"]["L1d"], 48 * 1024);
  EXPECT_EQ(c["caches"]["L1i"], 32 * 1024);
  EXPECT_EQ(c["caches"]["L2"], 2 * 1024 * 1024);
  EXPECT_EQ(c["caches"]["L3"], 105 * 1024 * 1024);
  const auto isa = c["isa"].get<std::vector<std::string>>();
  for (const char* f : {"sse4.2", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_tile",
                        "amx_bf16", "amx_int8"})
    EXPECT_NE(std::find(isa.begin(), isa.end(), f), isa.end()) << f;
  EXPECT_EQ(std::find(isa.begin(), isa.end(), "avx512vl"), isa.end());
  ASSERT_EQ(r.devices.size(), 1u);
  EXPECT_EQ(r.devices[0].total_memory, 65536000ull * 1024);
  EXPECT_EQ(r.devices[0].free_memory, 60000000ull * 1024);
}

TEST(CpuDetector, CgroupLimitCapsMemory) {
  FakeRoot root;
  root.write("proc/cpuinfo", x86_cpuinfo(2, "sse4_2 avx avx2 fma f16c"));
  root.write("proc/meminfo", kMeminfo);
  root.write("sys/fs/cgroup/memory.max", "8589934592\n");      // 8 GiB
  root.write("sys/fs/cgroup/memory.current", "2147483648\n");  // 2 GiB used
  BackendReport r = detect_cpu(root.env());
  EXPECT_EQ(r.devices[0].total_memory, 8ull << 30);
  EXPECT_EQ(r.devices[0].free_memory, 6ull << 30);
  EXPECT_EQ(r.capabilities["cgroup_memory_limit"], 8ull << 30);
}

TEST(CpuDetector, ArmFeaturesAndNoSysfs) {
  FakeRoot root;
  root.write("proc/cpuinfo",
             "processor\t: 0\nFeatures\t: fp asimd asimdhp asimddp i8mm bf16 sve sve2\nCPU implementer\t: 0x41\n"
             "CPU part\t: 0xd4f\n\nprocessor\t: 1\nFeatures\t: fp asimd asimdhp asimddp i8mm bf16 sve sve2\n"
             "CPU implementer\t: 0x41\nCPU part\t: 0xd4f\n\n");
  root.write("proc/meminfo", kMeminfo);
  BackendReport r = detect_cpu(root.env());
  EXPECT_EQ(r.capabilities["vendor"], "arm implementer 0x41");
  EXPECT_EQ(r.capabilities["logical_cores"], 2);
  EXPECT_EQ(r.capabilities["physical_cores"], 2);
  EXPECT_EQ(r.capabilities["numa_nodes"], 1);
  const auto isa = r.capabilities["isa"].get<std::vector<std::string>>();
  for (const char* f : {"neon", "neon_fp16", "neon_dotprod", "i8mm", "bf16", "sve", "sve2"})
    EXPECT_NE(std::find(isa.begin(), isa.end(), f), isa.end()) << f;
}

#if defined(__AVX2__)
TEST(CpuDetector, CpuWithoutTheBuildsIsaIsUnavailable) {
  FakeRoot root;
  root.write("proc/cpuinfo", x86_cpuinfo(2, "sse4_2 avx"));
  root.write("proc/meminfo", kMeminfo);
  BackendReport r = detect_cpu(root.env());
  EXPECT_FALSE(r.available);
  EXPECT_NE(r.why_not.find("CPU lacks avx2"), std::string::npos) << r.why_not;
}
#endif

TEST(CpuDetector, UnreadableProcfsStillReportsSomething) {
  FakeRoot root;
  BackendReport r = detect_cpu(root.env());
  EXPECT_TRUE(r.available);
  EXPECT_GE(r.capabilities["logical_cores"].get<int>(), 1);
  ASSERT_FALSE(r.notes.empty());
  EXPECT_NE(r.notes[0].find("cpuinfo unreadable"), std::string::npos);
}

TEST(CpuDetector, ThisMachine) {
  BackendReport r = detect_cpu(ProbeEnv{});
  EXPECT_TRUE(r.available) << r.why_not;
  EXPECT_GE(r.capabilities["logical_cores"].get<int>(), 1);
  EXPECT_GE(r.capabilities["physical_cores"].get<int>(), 1);
  ASSERT_EQ(r.devices.size(), 1u);
  EXPECT_GT(r.devices[0].total_memory, 0u);
  EXPECT_GT(r.devices[0].free_memory, 0u);
}

}  // namespace
}  // namespace ia::hw
