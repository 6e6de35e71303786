// oneDNN matmul for bf16 weights (see onednn_matmul.h). Primitives come from oneDNN's own primitive cache; the
// activations are converted to bf16 into a scratch buffer with the engine's thread pool, oneDNN then runs on its
// OpenMP threads (sized with the engine's pool by set_num_threads).
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
dnnl::matmul::primitive_desc make_pd(int64_t M, int64_t K, int64_t N, bool bias) {
  const memory::desc src({M, K}, memory::data_type::bf16, tag::ab);
  const memory::desc wei({K, N}, memory::data_type::bf16, tag::ba);
  const memory::desc dst({M, N}, memory::data_type::f32, tag::ab);
  if (bias) {
    const memory::desc b({1, N}, memory::data_type::f32, tag::ab);
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wei, b, dst), onednn().engine);
  }
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wei, dst), onednn().engine);
}

bool probe() {
  const char* env = std::getenv("IA_ONEDNN");
  if (env && std::string(env) == "0") return false;
  try {
    const std::string impl = make_pd(64, 256, 256, true).impl_info_str();
    return impl.find("ref") == std::string::npos && impl.find("gemm:jit") == std::string::npos;
  } catch (const dnnl::error&) {
    return false;
  }
}

}  // namespace

bool onednn_bf16_available() {
  static const bool ok = probe();
  return ok;
}

void onednn_linear_bf16(const Tensor& x, const Tensor& w, const float* bias, Tensor& out) {
  const int64_t M = x.dim(0), K = x.dim(1), N = w.dim(0);
  std::vector<uint16_t> xb(static_cast<size_t>(M * K));
  const float* xp = x.data<float>();
  parallel_for(0, M * K, 16384, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) xb[i] = f32_to_bf16(xp[i]);
  });
  try {
    const auto pd = make_pd(M, K, N, bias != nullptr);
    const dnnl::matmul mm(pd);
    Onednn& o = onednn();
    memory src(pd.src_desc(), o.engine, xb.data());
    memory wei(pd.weights_desc(), o.engine, w.raw_data());
    memory dst(pd.dst_desc(), o.engine, out.raw_data());
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}};
    if (bias) args.emplace(DNNL_ARG_BIAS, memory(pd.bias_desc(), o.engine, const_cast<float*>(bias)));
    mm.execute(o.stream, args);
    o.stream.wait();
  } catch (const dnnl::error& e) {
    throw Error(ErrorKind::Backend, fmt::format("linear (oneDNN bf16 matmul {}x{}x{}): {} (status {})", M, K, N,
                                                e.what(), static_cast<int>(e.status)));
  }
}

}  // namespace ia::cpu
