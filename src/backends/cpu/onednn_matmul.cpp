// oneDNN matmuls of the CPU linear (see onednn_matmul.h). Primitives come from oneDNN's own primitive cache;
// activation conversion runs on the engine's thread pool, oneDNN on its OpenMP threads
// (sized with the engine's pool by set_num_threads).
#include "backends/cpu/onednn_matmul.h"

#include <dnnl.hpp>
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/thread_pool.h"

namespace ia::cpu {
namespace {

using dnnl::memory;
using dt = memory::data_type;
using tag = memory::format_tag;

struct Onednn {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
};

Onednn& onednn() {
  static Onednn o;
  return o;
}

// w [N, K] row-major is oneDNN's [K, N] weights in `ba` order.
dnnl::matmul::primitive_desc make_pd(int64_t M, int64_t K, int64_t N, dt in, dt acc_out, bool bias) {
  const memory::desc src({M, K}, in, tag::ab);
  const memory::desc wei({K, N}, in, tag::ba);
  const memory::desc dst({M, N}, acc_out, tag::ab);
  if (bias) {
    const memory::desc b({1, N}, dt::f32, tag::ab);
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wei, b, dst), onednn().engine);
  }
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wei, dst), onednn().engine);
}

// The implementation oneDNN picks for a representative shape ("" when it has none).
std::string impl_for(dt in, dt acc_out) {
  try {
    return make_pd(64, 256, 256, in, acc_out, acc_out == dt::f32).impl_info_str();
  } catch (const dnnl::error&) {
    return "";
  }
}

OnednnKernels probe() {
  OnednnKernels k;
  const char* env = std::getenv("IA_ONEDNN");
  if (env && std::string(env) == "0") return k;
  auto has = [](const std::string& s, const char* what) { return s.find(what) != std::string::npos; };
  const std::string f32 = impl_for(dt::f32, dt::f32), bf16 = impl_for(dt::bf16, dt::f32),
                    s8 = impl_for(dt::s8, dt::s32);
  k.f32 = has(f32, "avx512");
  k.bf16 = !bf16.empty() && !has(bf16, "ref") && !has(bf16, "gemm:jit");
  k.s8 = has(s8, "vnni") || has(s8, "amx");
  return k;
}

void execute(const dnnl::matmul::primitive_desc& pd, const void* src, const void* wei, const float* bias,
             void* dst) {
  const dnnl::matmul mm(pd);
  Onednn& o = onednn();
  memory s(pd.src_desc(), o.engine, const_cast<void*>(src));
  memory w(pd.weights_desc(), o.engine, const_cast<void*>(wei));
  memory d(pd.dst_desc(), o.engine, dst);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, s}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, d}};
  if (bias) args.emplace(DNNL_ARG_BIAS, memory(pd.bias_desc(), o.engine, const_cast<float*>(bias)));
  mm.execute(o.stream, args);
  o.stream.wait();
}

[[noreturn]] void rethrow(const dnnl::error& e, const char* what, int64_t M, int64_t K, int64_t N) {
  throw Error(ErrorKind::Backend, fmt::format("linear (oneDNN {} matmul {}x{}x{}): {} (status {})", what, M, K, N,
                                              e.what(), static_cast<int>(e.status)));
}

}  // namespace

const OnednnKernels& onednn_kernels() {
  static const OnednnKernels k = probe();
  return k;
}

void onednn_linear(const Tensor& x, const Tensor& w, const float* bias, Tensor& out) {
  const int64_t M = x.dim(0), K = x.dim(1), N = w.dim(0);
  const float* xp = x.data<float>();
  const bool bf16 = w.dtype() == DType::BF16;
  std::vector<uint16_t> xb(bf16 ? static_cast<size_t>(M * K) : 0);
  if (bf16)
    parallel_for(0, M * K, 16384, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) xb[i] = f32_to_bf16(xp[i]);
    });
  try {
    const auto pd = make_pd(M, K, N, bf16 ? dt::bf16 : dt::f32, dt::f32, bias != nullptr);
    execute(pd, bf16 ? static_cast<const void*>(xb.data()) : xp, w.raw_data(), bias, out.raw_data());
  } catch (const dnnl::error& e) {
    rethrow(e, bf16 ? "bf16" : "f32", M, K, N);
  }
}

void onednn_gemm_s8(const int8_t* xq, int64_t M, int64_t K, const Tensor& w, int32_t* acc) {
  const int64_t N = w.dim(0);
  try {
    execute(make_pd(M, K, N, dt::s8, dt::s32, false), xq, w.raw_data(), nullptr, acc);
  } catch (const dnnl::error& e) {
    rethrow(e, "int8", M, K, N);
  }
}

}  // namespace ia::cpu
