// CUDA runtime side: availability, per-device contexts, the caching device allocator (registered for
// DeviceType::CUDA), cuBLAS through dlopen, error translation and the executor init hook.
#include "backends/cuda/cuda_device.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <climits>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <vector>

#include "backends/cuda/kernels.cuh"
#include "backends/registry.h"
#include "core/error.h"
#include "core/storage.h"

namespace ia::cuda {

namespace {

std::string bytes_str(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024.0 && u < 4) v /= 1024.0, ++u;
  return u == 0 ? fmt::format("{} B", n) : fmt::format("{:.1f} {}", v, units[u]);
}

std::string error_text(cudaError_t e) { return fmt::format("{} ({})", cudaGetErrorString(e), cudaGetErrorName(e)); }

struct Availability {
  bool ok = false;
  int count = 0;
  std::string why;
};

const Availability& availability() {
  static const Availability a = [] {
    Availability r;
    cudaError_t e = cudaGetDeviceCount(&r.count);
    if (e != cudaSuccess) {
      cudaGetLastError();
      r.count = 0;
      r.why = error_text(e);
    } else if (r.count == 0) {
      r.why = "no CUDA device";
    } else {
      r.ok = true;
    }
    return r;
  }();
  return a;
}

struct BlasLoad {
  Blas blas;
  std::string error;
};

const BlasLoad& blas_load() {
  static const BlasLoad l = [] {
    BlasLoad r;
    const std::string versioned = fmt::format("libcublas.so.{}", CUBLAS_VER_MAJOR);
    void* h = nullptr;
    std::string errors;
    for (const std::string& name : {versioned, std::string("libcublas.so")}) {
      h = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (h) {
        r.blas.path = name;
        break;
      }
      const char* err = dlerror();
      errors += fmt::format("{}{}", errors.empty() ? "" : "; ", err ? err : name + ": cannot load");
    }
    if (!h) {
      r.error = "cuBLAS not found: " + errors;
      return r;
    }
    std::vector<std::string> missing;
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(h, name));
      if (!fn) missing.push_back(name);
    };
    sym(r.blas.create, "cublasCreate_v2");
    sym(r.blas.set_stream, "cublasSetStream_v2");
    sym(r.blas.set_math_mode, "cublasSetMathMode");
    sym(r.blas.gemm_ex, "cublasGemmEx");
    sym(r.blas.gemm_strided_batched_ex, "cublasGemmStridedBatchedEx");
    r.blas.status_string = reinterpret_cast<const char* (*)(cublasStatus_t)>(dlsym(h, "cublasGetStatusString"));
    if (!missing.empty()) r.error = fmt::format("{} lacks {}", r.blas.path, fmt::join(missing, ", "));
    return r;
  }();
  return l;
}

MathMode parse_math_mode() {
  const char* m = std::getenv("IA_CUDA_MATH");
  if (m && *m) {
    const std::string s = m;
    if (s == "fp32" || s == "f32") return MathMode::F32;
    if (s == "tf32") return MathMode::TF32;
    if (s == "bf16") return MathMode::BF16;
    if (s == "fp16" || s == "f16") return MathMode::F16;
    fail(ErrorKind::InvalidArgument, "IA_CUDA_MATH='{}': expected fp32, tf32, bf16 or fp16", s);
  }
  const char* tf32 = std::getenv("IA_CUDA_ALLOW_TF32");
  if (tf32 && std::string(tf32) != "0" && *tf32) return MathMode::TF32;
  return MathMode::F32;
}

std::mutex g_mu;
std::vector<DeviceContext*>& contexts() {
  static auto* v = new std::vector<DeviceContext*>();  // leaked: blocks may be freed during static destruction
  return *v;
}
thread_local int t_current = -1;

DeviceContext* create_context(int index) {
  check(cudaSetDevice(index), index, "cudaSetDevice");
  auto* c = new DeviceContext();
  c->index = index;
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, index) == cudaSuccess) c->name = prop.name;
  check(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking), index, "cudaStreamCreate");
  const BlasLoad& bl = blas_load();
  IA_CHECK(bl.error.empty(), ErrorKind::Backend, "cuda:{}: not available ({})", index, bl.error);
  check_blas(bl.blas.create(&c->blas), index, "cublasCreate");
  check_blas(bl.blas.set_stream(c->blas, c->stream), index, "cublasSetStream");
  // Default math never uses TF32 for f32 GEMMs; the compute type of each call picks tensor-core modes.
  check_blas(bl.blas.set_math_mode(c->blas, CUBLAS_DEFAULT_MATH), index, "cublasSetMathMode");
  void* word = nullptr;
  check(cudaHostAlloc(&word, sizeof(int), cudaHostAllocMapped), index, "cudaHostAlloc (kernel error word)");
  c->error_word = static_cast<int*>(word);
  *c->error_word = 0;
  void* word_dev = nullptr;
  check(cudaHostGetDevicePointer(&word_dev, word, 0), index, "cudaHostGetDevicePointer");
  c->error_word_device = static_cast<int*>(word_dev);
  cudaStream_t stream = c->stream;
  c->allocator = new CachingAllocator(
      [index](size_t n) -> void* {
        void* p = nullptr;
        cudaSetDevice(index);
        if (cudaMalloc(&p, n) != cudaSuccess) {
          cudaGetLastError();
          return nullptr;
        }
        return p;
      },
      [index](void* p) {
        cudaSetDevice(index);
        cudaFree(p);
      },
      [stream] { cudaStreamSynchronize(stream); });
  return c;
}

std::shared_ptr<Storage> cuda_allocate(int index, size_t nbytes) {
  DeviceContext& ctx = context(index);
  void* p = ctx.allocator->allocate(nbytes);
  if (!p) {
    const auto st = ctx.allocator->stats();
    fail(ErrorKind::OutOfMemory, "cuda:{}: out of memory: asked for {} ({} bytes); {}; this process holds {} in tensors",
         index, bytes_str(nbytes), nbytes, memory_report(index), bytes_str(st.in_use_bytes));
  }
  CachingAllocator* alloc = ctx.allocator;
  return std::make_shared<Storage>(p, nbytes, Device{DeviceType::CUDA, index}, [alloc](void* q) { alloc->deallocate(q); });
}

const bool registered = [] {
  register_allocator(DeviceType::CUDA, cuda_allocate);
  register_executor_init(DeviceType::CUDA, [](int index) { context(index); });
  return true;
}();

}  // namespace

MathMode math_mode() {
  static const MathMode m = parse_math_mode();
  return m;
}

cublasComputeType_t f32_compute() {
  switch (math_mode()) {
    case MathMode::TF32: return CUBLAS_COMPUTE_32F_FAST_TF32;
    case MathMode::BF16: return CUBLAS_COMPUTE_32F_FAST_16BF;
    case MathMode::F16: return CUBLAS_COMPUTE_32F_FAST_16F;
    case MathMode::F32: break;
  }
  return CUBLAS_COMPUTE_32F;
}

int as_int(int64_t v, const char* what, const Tensor& t) {
  IA_CHECK(v <= INT_MAX, ErrorKind::Unsupported, "{}: {} = {} exceeds cuBLAS int range ({})", t.describe(), what, v,
           INT_MAX);
  return static_cast<int>(v);
}

const char* math_mode_name(MathMode m) {
  switch (m) {
    case MathMode::F32: return "fp32";
    case MathMode::TF32: return "tf32";
    case MathMode::BF16: return "bf16";
    case MathMode::F16: return "fp16";
  }
  return "?";
}

bool runtime_available(std::string* why) {
  const Availability& a = availability();
  if (!a.ok && why) *why = a.why;
  return a.ok;
}

DeviceContext& context(int index) {
  (void)registered;
  const Availability& a = availability();
  if (!a.ok) fail(ErrorKind::Backend, "cuda:{}: not available ({})", index, a.why);
  if (index < 0 || index >= a.count)
    fail(ErrorKind::Backend, "cuda:{}: not available (this machine has {} CUDA device{})", index, a.count,
         a.count == 1 ? "" : "s");
  DeviceContext* c = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    auto& v = contexts();
    if (v.size() <= static_cast<size_t>(index)) v.resize(index + 1, nullptr);
    if (!v[index]) v[index] = create_context(index);
    c = v[index];
  }
  if (t_current != index) {
    check(cudaSetDevice(index), index, "cudaSetDevice");
    t_current = index;
  }
  return *c;
}

const Blas& blas() {
  const BlasLoad& l = blas_load();
  IA_CHECK(l.error.empty(), ErrorKind::Backend, "cuda: {}", l.error);
  return l.blas;
}

void check(cudaError_t e, int device, const char* what) {
  if (e == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so the next call does not report it again
  if (e == cudaErrorMemoryAllocation)
    fail(ErrorKind::OutOfMemory, "cuda:{}: {} failed: {}; {}", device, what, error_text(e), memory_report(device));
  fail(ErrorKind::Backend, "cuda:{}: {} failed: {}", device, what, error_text(e));
}

void check_blas(cublasStatus_t st, int device, const char* what) {
  if (st == CUBLAS_STATUS_SUCCESS) return;
  const BlasLoad& l = blas_load();
  const char* text = l.blas.status_string ? l.blas.status_string(st) : nullptr;
  const ErrorKind kind = st == CUBLAS_STATUS_ALLOC_FAILED ? ErrorKind::OutOfMemory : ErrorKind::Backend;
  fail(kind, "cuda:{}: {} failed: {} (cublasStatus {})", device, what, text ? text : "cuBLAS error",
       static_cast<int>(st));
}

void synchronize(int device) {
  DeviceContext& c = context(device);
  check(cudaStreamSynchronize(c.stream), device, "cudaStreamSynchronize");
  const int flags = __atomic_exchange_n(c.error_word, 0, __ATOMIC_SEQ_CST);
  if (flags == 0) return;
  std::string ops;
  if (flags & kEmbeddingIndex) ops += "embedding";
  if (flags & kGatherIndex) ops += ops.empty() ? "gather_last" : ", gather_last";
  fail(ErrorKind::InvalidArgument, "cuda:{}: {}: index out of range (reported by a kernel since the last "
       "synchronisation; the output of that op is invalid)", device, ops);
}

cudaStream_t stream_of(const Tensor& t) {
  IA_CHECK(t.device().type == DeviceType::CUDA, ErrorKind::InvalidArgument, "cuda kernel given {}", t.describe());
  return context(t.device().index).stream;
}

Layout collapse(const Shape& shape, const Shape& stride_a, const Shape& stride_b) {
  std::vector<int64_t> sh, a, b;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (!sh.empty() && a.back() == stride_a[i] * shape[i] && b.back() == stride_b[i] * shape[i]) {
      sh.back() *= shape[i];
      a.back() = stride_a[i];
      b.back() = stride_b[i];
      continue;
    }
    sh.push_back(shape[i]);
    a.push_back(stride_a[i]);
    b.push_back(stride_b[i]);
  }
  Layout l;
  if (sh.empty()) {
    l.nd = 1;
    l.shape[0] = 1;
    l.stride_a[0] = l.stride_b[0] = 1;
    return l;
  }
  IA_CHECK(sh.size() <= static_cast<size_t>(kMaxDims), ErrorKind::Unsupported,
           "cuda: layout of shape {} needs {} dims after collapsing, kernels take at most {}", shape_str(shape),
           sh.size(), kMaxDims);
  l.nd = static_cast<int>(sh.size());
  for (int i = 0; i < l.nd; ++i) l.shape[i] = sh[i], l.stride_a[i] = a[i], l.stride_b[i] = b[i];
  return l;
}

std::string memory_report(int device) {
  size_t free_b = 0, total_b = 0;
  int prev = -1;
  cudaGetDevice(&prev);
  cudaSetDevice(device);
  cudaError_t e = cudaMemGetInfo(&free_b, &total_b);
  if (prev >= 0) cudaSetDevice(prev);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return "free memory unknown (" + error_text(e) + ")";
  }
  return fmt::format("{} free of {}", bytes_str(free_b), bytes_str(total_b));
}

}  // namespace ia::cuda
