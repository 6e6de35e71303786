// CUDA runtime side: the caching allocator's policy (host-tested with a fake device), how a CUDA build behaves on
// a machine without a GPU (errors, never aborts), and, with a GPU, allocation reuse, OOM reports and kernel-detected
// index errors.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "backends/cuda/caching_allocator.h"
#include "core/error.h"
#include "core/tensor.h"
#include "ops/ops.h"

#ifdef IA_WITH_CUDA
#include "backends/cuda/cuda_device.h"
#endif

namespace {

// IA_CLI overrides the build-time path (a prebuilt bundle run elsewhere, scripts/gpu-verify.sh --prebuilt).
[[maybe_unused]] std::string cli_path() {
  const char* p = std::getenv("IA_CLI");
  return p && *p ? p : IA_CLI_PATH;
}

using ia::cuda::CachingAllocator;

struct FakeDevice {
  size_t capacity = 0, used = 0;
  int mallocs = 0, frees = 0, trims = 0;
  std::map<void*, size_t> live;
  CachingAllocator make() {
    return CachingAllocator(
        [this](size_t n) -> void* {
          if (used + n > capacity) return nullptr;
          used += n;
          ++mallocs;
          void* p = std::malloc(n);
          live[p] = n;
          return p;
        },
        [this](void* p) {
          used -= live[p];
          live.erase(p);
          ++frees;
          std::free(p);
        },
        [this] { ++trims; });
  }
};

TEST(CachingAllocator, RoundsToClasses) {
  EXPECT_EQ(CachingAllocator::round_size(0), 512u);
  EXPECT_EQ(CachingAllocator::round_size(1), 512u);
  EXPECT_EQ(CachingAllocator::round_size(513), 1024u);
  EXPECT_EQ(CachingAllocator::round_size((1u << 20) - 1), 1u << 20);
  EXPECT_EQ(CachingAllocator::round_size(1u << 20), 2u << 20);
  EXPECT_EQ(CachingAllocator::round_size((2u << 20) + 1), 4u << 20);
}

TEST(CachingAllocator, ReusesFreedBlocksWithoutDeviceCalls) {
  FakeDevice dev;
  dev.capacity = 64 << 20;
  auto a = dev.make();
  void* p = a.allocate(1000);
  ASSERT_NE(p, nullptr);
  a.deallocate(p);
  void* q = a.allocate(900);  // same 1024-byte class
  EXPECT_EQ(q, p);
  EXPECT_EQ(dev.mallocs, 1);
  EXPECT_EQ(a.stats().cache_hits, 1u);
  void* r = a.allocate(5000);  // another class: a new device block
  EXPECT_NE(r, q);
  EXPECT_EQ(dev.mallocs, 2);
  a.deallocate(q);
  a.deallocate(r);
  EXPECT_EQ(a.stats().in_use_bytes, 0u);
  EXPECT_EQ(a.stats().cached_bytes, 1024u + 5120u);
  a.release_cached();
  EXPECT_EQ(dev.frees, 2);
  EXPECT_EQ(a.stats().cached_bytes, 0u);
}

TEST(CachingAllocator, ReleasesCacheBeforeGivingUp) {
  FakeDevice dev;
  dev.capacity = 6 << 20;
  auto a = dev.make();
  void* p = a.allocate(4 << 20);
  ASSERT_NE(p, nullptr);
  a.deallocate(p);  // cached: 4 MiB of the 6 MiB device
  void* q = a.allocate(3 << 20);  // 4 MiB class again -> reuse
  EXPECT_EQ(q, p);
  a.deallocate(q);
  void* r = a.allocate(5 << 20);  // 6 MiB class: needs the cache handed back first
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(dev.trims, 1);
  EXPECT_EQ(dev.frees, 1);
  EXPECT_EQ(a.allocate(1 << 20), nullptr);  // device full, nothing cached: refuse
  a.deallocate(r);
  a.release_cached();
}

#ifndef IA_WITH_CUDA

TEST(CudaBuild, WithoutCudaTheDeviceIsRefused) {
  try {
    ia::Tensor::empty({4}, ia::DType::F32, ia::Device::parse("cuda"));
    FAIL() << "allocation on cuda succeeded in a build without CUDA";
  } catch (const ia::Error& e) {
    EXPECT_EQ(e.kind(), ia::ErrorKind::Unsupported) << e.what();
  }
}

#else

std::string no_gpu_reason() {
  std::string why;
  return ia::cuda::runtime_available(&why) ? std::string() : why;
}

TEST(CudaBuild, NoGpuIsAnErrorNotACrash) {
  const std::string why = no_gpu_reason();
  if (why.empty()) GTEST_SKIP() << "a CUDA device is present";
  try {
    ia::Tensor::empty({4}, ia::DType::F32, ia::Device::parse("cuda"));
    FAIL() << "allocation on cuda succeeded without a GPU";
  } catch (const ia::Error& e) {
    EXPECT_EQ(e.kind(), ia::ErrorKind::Backend);
    EXPECT_NE(std::string(e.what()).find("cuda:0: not available (" + why + ")"), std::string::npos) << e.what();
  }
  // The CPU keeps working in the same process.
  ia::Tensor x = ia::Tensor::from_vector<float>({1, 2, 3}, {3});
  EXPECT_FLOAT_EQ(ia::ops::scale(x, 2.0f).to_vector<float>()[2], 6.0f);
}

TEST(CudaBuild, ConformanceOnCudaWithoutGpuFailsCleanly) {
  if (no_gpu_reason().empty()) GTEST_SKIP() << "a CUDA device is present";
  const std::string cmd = cli_path() + " conformance " + IA_TEST_DATA_DIR +
                          "/conformance/bert --device cuda --no-fallback 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (fgets(buf, sizeof buf, p)) out += buf;
  const int st = pclose(p);
  ASSERT_TRUE(WIFEXITED(st)) << "killed by a signal: " << out;
  EXPECT_NE(WEXITSTATUS(st), 0) << out;
  EXPECT_NE(out.find("cuda: not available"), std::string::npos) << out;
}

TEST(CudaDevice, AllocatorReusesBlocksAndReportsOom) {
  if (!no_gpu_reason().empty()) GTEST_SKIP() << "cuda: " << no_gpu_reason();
  auto& ctx = ia::cuda::context(0);
  {
    ia::Tensor a = ia::Tensor::empty({1000}, ia::DType::F32, ia::Device::parse("cuda"));
  }
  const auto before = ctx.allocator->stats();
  {
    ia::Tensor b = ia::Tensor::empty({1000}, ia::DType::F32, ia::Device::parse("cuda"));
  }
  const auto after = ctx.allocator->stats();
  EXPECT_EQ(after.device_allocs, before.device_allocs);
  EXPECT_EQ(after.cache_hits, before.cache_hits + 1);
  try {
    ia::Tensor::empty({int64_t(1) << 50}, ia::DType::U8, ia::Device::parse("cuda"));
    FAIL() << "a 1 PiB allocation succeeded";
  } catch (const ia::Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(e.kind(), ia::ErrorKind::OutOfMemory) << m;
    EXPECT_NE(m.find("cuda:0"), std::string::npos) << m;
    EXPECT_NE(m.find("asked for"), std::string::npos) << m;
    EXPECT_NE(m.find("free of"), std::string::npos) << m;
  }
}

TEST(CudaDevice, OutOfRangeIdsAreReportedAtSynchronisation) {
  if (!no_gpu_reason().empty()) GTEST_SKIP() << "cuda: " << no_gpu_reason();
  const ia::Device dev = ia::Device::parse("cuda");
  ia::Tensor table = ia::Tensor::zeros({4, 8}, ia::DType::F32).to(dev);
  ia::Tensor ids = ia::Tensor::from_vector<int64_t>({1, 9}, {2}).to(dev);
  ia::Tensor out = ia::ops::embedding(table, ids);
  try {
    out.to_vector<float>();
    FAIL() << "out-of-range id not reported";
  } catch (const ia::Error& e) {
    EXPECT_EQ(e.kind(), ia::ErrorKind::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("embedding"), std::string::npos) << e.what();
  }
  EXPECT_EQ(out.to_vector<float>().size(), 16u);  // the flag is cleared once reported
}

#endif

}  // namespace
