// oneDNN matmuls of the CPU linear (see onednn_matmul.h). Constant weights are packed once into the layout
// oneDNN's kernel reads (kept while the weight lives, with their primitives); other weights are read in place,
// with primitives from oneDNN's own cache. Activation conversion runs on the engine's thread pool, oneDNN on its
// OpenMP threads (sized with the engine's pool by set_num_threads).
#include "backends/cpu/onednn_matmul.h"

#include <dnnl.hpp>
#include <fmt/format.h>

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
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

// w [N, K] row-major is oneDNN's [K, N] weights in `ba` order; `wei` overrides that (a packed layout, or `any`
// to ask oneDNN for its preferred one).
// The epilogue for an activation: oneDNN's eltwise algorithm and alpha (false: none matches it exactly).
bool eltwise_for(UnaryOp act, dnnl::algorithm& alg, float& alpha) {
  alpha = 0.0f;
  switch (act) {
    case UnaryOp::Gelu: alg = dnnl::algorithm::eltwise_gelu_erf; return true;
    case UnaryOp::GeluTanh: alg = dnnl::algorithm::eltwise_gelu_tanh; return true;
    case UnaryOp::Relu: alg = dnnl::algorithm::eltwise_relu; return true;
    case UnaryOp::Silu: alg = dnnl::algorithm::eltwise_swish; alpha = 1.0f; return true;
    case UnaryOp::QuickGelu: alg = dnnl::algorithm::eltwise_swish; alpha = 1.702f; return true;
    case UnaryOp::Sigmoid: alg = dnnl::algorithm::eltwise_logistic; return true;
    case UnaryOp::Tanh: alg = dnnl::algorithm::eltwise_tanh; return true;
    default: return false;
  }
}

dnnl::primitive_attr epilogue(UnaryOp act) {
  dnnl::primitive_attr attr;
  dnnl::algorithm alg;
  float alpha;
  if (act != UnaryOp::Identity && eltwise_for(act, alg, alpha)) {
    dnnl::post_ops po;
    po.append_eltwise(1.0f, alg, alpha, 0.0f);
    attr.set_post_ops(po);
  }
  return attr;
}

dnnl::matmul::primitive_desc make_pd(int64_t M, int64_t K, int64_t N, dt in, dt acc_out, bool bias,
                                     const memory::desc* wei = nullptr, UnaryOp act = UnaryOp::Identity) {
  const memory::desc src({M, K}, in, tag::ab);
  const memory::desc plain({K, N}, in, tag::ba);
  const memory::desc& w = wei ? *wei : plain;
  const memory::desc dst({M, N}, acc_out, tag::ab);
  const dnnl::primitive_attr attr = epilogue(act);
  if (bias) {
    const memory::desc b({1, N}, dt::f32, tag::ab);
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, w, b, dst), attr, onednn().engine);
  }
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, w, dst), attr, onednn().engine);
}

// A constant weight (Storage::constant) in oneDNN's packed layout, with the primitives made for it per row count
// and bias. Valid while `owner` lives; the key is the weight's storage, offset, shape and dtype.
struct Packed {
  std::weak_ptr<Storage> owner;
  memory mem;
  size_t bytes = 0;
  std::mutex mu;
  struct Prim {
    int64_t M;
    bool bias;
    UnaryOp act;
    dnnl::matmul::primitive_desc pd;
    dnnl::matmul mm;
  };
  std::vector<Prim> prims;
};

struct PackKey {
  const Storage* storage;
  size_t offset;
  int64_t n, k;
  DType dtype;
  bool operator==(const PackKey& o) const {
    return storage == o.storage && offset == o.offset && n == o.n && k == o.k && dtype == o.dtype;
  }
};
struct PackKeyHash {
  size_t operator()(const PackKey& k) const {
    size_t h = std::hash<const void*>()(k.storage) ^ (std::hash<size_t>()(k.offset) * 31);
    return h ^ (std::hash<int64_t>()(k.n * 1000003 + k.k) * 131) ^ static_cast<size_t>(k.dtype);
  }
};

// Packed copies add memory beside the plain weights (which the GEMV of single rows still reads), so they have a
// budget: a quarter of physical memory, IA_PREPACK_MIB to set it, IA_PREPACK=0 for none. Weights past it are
// read in place.
size_t pack_budget() {
  static const size_t b = [] {
    const char* off = std::getenv("IA_PREPACK");
    if (off && std::string(off) == "0") return size_t{0};
    if (const char* mib = std::getenv("IA_PREPACK_MIB")) return static_cast<size_t>(std::atoll(mib)) << 20;
    return static_cast<size_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<size_t>(sysconf(_SC_PAGESIZE)) / 4;
  }();
  return b;
}

struct PackCache {
  std::mutex mu;
  std::unordered_map<PackKey, std::shared_ptr<Packed>, PackKeyHash> map;
  size_t bytes = 0;
};
PackCache& pack_cache() {
  static PackCache c;
  return c;
}

// The packed form of `w` (made now if it fits the budget), or null: read `w` in place.
std::shared_ptr<Packed> packed_weight(const Tensor& w, int64_t M, dt in) {
  const std::shared_ptr<Storage>& st = w.storage();
  if (!st->constant() || pack_budget() == 0) return nullptr;
  const int64_t N = w.dim(0), K = w.dim(1);
  const PackKey key{st.get(), w.byte_offset(), N, K, w.dtype()};
  PackCache& c = pack_cache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.map.find(key);
  if (it != c.map.end()) {
    if (it->second->owner.lock() == st) return it->second;
    c.bytes -= it->second->bytes;  // a dead weight's entry whose storage address was reused
    c.map.erase(it);
  }
  for (auto i = c.map.begin(); i != c.map.end();) {  // drop the packs of weights that are gone
    if (i->second->owner.expired()) {
      c.bytes -= i->second->bytes;
      i = c.map.erase(i);
    } else {
      ++i;
    }
  }
  const memory::desc any({K, N}, in, tag::any);
  const auto pd = make_pd(M, K, N, in, dt::f32, false, &any);
  const size_t bytes = pd.weights_desc().get_size();
  if (c.bytes + bytes > pack_budget()) return nullptr;
  auto p = std::make_shared<Packed>();
  p->owner = st;
  p->bytes = bytes;
  Onednn& o = onednn();
  p->mem = memory(pd.weights_desc(), o.engine);
  memory plain({{K, N}, in, tag::ba}, o.engine, w.raw_data());
  dnnl::reorder(plain, p->mem).execute(o.stream, plain, p->mem);
  o.stream.wait();
  st->drop_resident(w.byte_offset(), w.nbytes());  // a mapped checkpoint's pages: the packed copy replaces them
  c.bytes += bytes;
  c.map.emplace(key, p);
  return p;
}

// The primitive for M rows (and epilogue) on packed weights (null when oneDNN has none for that layout and shape).
const Packed::Prim* packed_primitive(Packed& p, int64_t M, int64_t K, int64_t N, dt in, bool bias, UnaryOp act) {
  std::lock_guard<std::mutex> lock(p.mu);
  for (const auto& prim : p.prims)
    if (prim.M == M && prim.bias == bias && prim.act == act) return &prim;
  const memory::desc wd = p.mem.get_desc();
  const auto pd = make_pd(M, K, N, in, dt::f32, bias, &wd, act);
  if (pd.weights_desc() != wd) return nullptr;
  p.prims.push_back({M, bias, act, pd, dnnl::matmul(pd)});
  return &p.prims.back();
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

void execute(const dnnl::matmul& mm, const dnnl::matmul::primitive_desc& pd, const void* src, const memory& w,
             const float* bias, void* dst) {
  Onednn& o = onednn();
  memory s(pd.src_desc(), o.engine, const_cast<void*>(src));
  memory d(pd.dst_desc(), o.engine, dst);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, s}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, d}};
  if (bias) args.emplace(DNNL_ARG_BIAS, memory(pd.bias_desc(), o.engine, const_cast<float*>(bias)));
  mm.execute(o.stream, args);
  o.stream.wait();
}

void execute(const dnnl::matmul::primitive_desc& pd, const void* src, const void* wei, const float* bias,
             void* dst) {
  execute(dnnl::matmul(pd), pd, src, memory(pd.weights_desc(), onednn().engine, const_cast<void*>(wei)), bias,
          dst);
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

size_t onednn_packed_bytes() {
  PackCache& c = pack_cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.bytes;
}

bool onednn_has_epilogue(UnaryOp act) {
  dnnl::algorithm alg;
  float alpha;
  return act == UnaryOp::Identity || eltwise_for(act, alg, alpha);
}

void onednn_linear(const Tensor& x, const Tensor& w, const float* bias, Tensor& out, UnaryOp act) {
  IA_CHECK(onednn_has_epilogue(act), ErrorKind::Unsupported, "linear (oneDNN): no epilogue for this activation");
  const int64_t M = x.dim(0), K = x.dim(1), N = w.dim(0);
  const float* xp = x.data<float>();
  const bool bf16 = w.dtype() == DType::BF16;
  std::vector<uint16_t> xb(bf16 ? static_cast<size_t>(M * K) : 0);
  if (bf16)
    parallel_for(0, M * K, 16384, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) xb[i] = f32_to_bf16(xp[i]);
    });
  const dt in = bf16 ? dt::bf16 : dt::f32;
  const void* src = bf16 ? static_cast<const void*>(xb.data()) : xp;
  try {
    if (const auto p = packed_weight(w, M, in)) {
      if (const Packed::Prim* prim = packed_primitive(*p, M, K, N, in, bias != nullptr, act)) {
        execute(prim->mm, prim->pd, src, p->mem, bias, out.raw_data());
        return;
      }
    }
    execute(make_pd(M, K, N, in, dt::f32, bias != nullptr, nullptr, act), src, w.raw_data(), bias, out.raw_data());
  } catch (const dnnl::error& e) {
    rethrow(e, bf16 ? "bf16" : "f32", M, K, N);
  }
}

void onednn_gemm_f32(const float* x, int64_t M, int64_t K, const float* w, int64_t nb, const float* bias, float* out,
                     int64_t ldo) {
  try {
    const memory::desc src({M, K}, dt::f32, tag::ab), wei({K, nb}, dt::f32, tag::ba),
        dst({M, nb}, dt::f32, memory::dims{ldo, 1});
    const memory::desc b({1, nb}, dt::f32, tag::ab);
    const auto pd = bias ? dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wei, b, dst), onednn().engine)
                         : dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wei, dst), onednn().engine);
    execute(pd, x, w, bias, out);
  } catch (const dnnl::error& e) {
    rethrow(e, "f32 block", M, K, nb);
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
