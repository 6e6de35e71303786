// `ipfs-accelerate test-backend-ops`: every op of every backend with kernels against the CPU reference, like
// llama.cpp's test-backend-ops: random inputs, several shapes and dtypes per op, kernels called directly through
// the op tables, outputs compared by NMSE (1e-7 by default, 5e-4 for linear/matmul), NaN/Inf checked, and guard
// bytes around every output to catch out-of-bounds writes. Ops a backend lacks are "not supported", ops without a
// case here are listed as uncovered; neither counts as a pass.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <tuple>

#include "backends/registry.h"
#include "cli/command.h"
#include "core/dispatch.h"
#include "core/error.h"
#include "core/tensor.h"
#include "ops/batch_norm.h"
#include "ops/conv.h"
#include "ops/decoding.h"
#include "ops/group_norm.h"
#include "ops/interpolate.h"
#include "ops/ops.h"
#include "ops/pool.h"
#include "ops/ssm.h"

namespace {

using namespace ia;

constexpr double kDefaultNmse = 1e-7;
constexpr double kGemmNmse = 5e-4;
constexpr size_t kGuardBytes = 256;
constexpr uint8_t kGuardByte = 0xA5;

using Inputs = std::vector<Tensor>;

struct OpCase {
  std::string op;    // kernel table name
  std::string desc;  // shapes, dtypes, flags
  double max_nmse = kDefaultNmse;
  Inputs inputs = {};  // host tensors
  Shape out_shape = {};
  DType out_dtype = DType::F32;
  Tensor out_init = {};        // initial output content (host) for in-place ops
  bool inputs_on_host = false;  // from_host: the source stays on the host
  bool output_on_host = false;  // to_host: the destination is on the host
  std::function<void(DeviceType, const Inputs&, Tensor&)> run = {};
};

class Random {
 public:
  explicit Random(uint64_t seed) : rng_(seed) {}
  Tensor uniform(const Shape& shape, float lo = -1.0f, float hi = 1.0f, DType dt = DType::F32) {
    std::uniform_real_distribution<float> u(lo, hi);
    std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
    for (float& x : v) x = u(rng_);
    Tensor t = Tensor::from_vector(v, shape);
    return dt == DType::F32 ? t : t.to(dt);
  }
  Tensor ints(const Shape& shape, int64_t lo, int64_t hi, DType dt = DType::I64) {
    std::uniform_int_distribution<int64_t> u(lo, hi);
    std::vector<int64_t> v(static_cast<size_t>(shape_numel(shape)));
    for (int64_t& x : v) x = u(rng_);
    Tensor t = Tensor::from_vector(v, shape);
    return dt == DType::I64 ? t : t.to(dt);
  }

 private:
  std::mt19937_64 rng_;
};

Tensor opt_in(const Inputs& in, size_t i) { return i < in.size() ? in[i] : Tensor(); }

// ---------------------------------------------------------------------------------------------------------------
// Cases, one builder per op table.

void fill_cases(std::vector<OpCase>& out, Random&) {
  for (const auto& spec : std::vector<std::tuple<DType, Shape, double>>{
           {DType::F32, {7, 33}, 1.5}, {DType::F16, {5, 3}, -2.25}, {DType::BF16, {129}, 3.0}, {DType::I64, {10}, 7},
           {DType::I32, {4, 4}, -3}, {DType::Bool, {9}, 1}, {DType::U8, {1000}, 200}}) {
    const DType dt = std::get<0>(spec);
    const double value = std::get<2>(spec);
    OpCase c{"fill", fmt::format("{} {} = {}", dtype_name(dt), shape_str(std::get<1>(spec)), value)};
    c.out_shape = std::get<1>(spec);
    c.out_dtype = dt;
    c.run = [value](DeviceType d, const Inputs&, Tensor& o) { kernels::fill().get(d)(o, value); };
    out.push_back(c);
  }
}

void copy_cases(std::vector<OpCase>& out, Random& r) {
  using View = std::function<Tensor(const Tensor&)>;
  const View same = [](const Tensor& t) { return t; };
  const View tr = [](const Tensor& t) { return t.transpose(0, 1); };
  const View perm = [](const Tensor& t) { return t.permute({0, 2, 1, 3}); };
  const View bcast = [](const Tensor& t) { return t.expand({4, t.dim(1)}); };
  const View sliced = [](const Tensor& t) { return t.slice(1, 3, 11).slice(0, 1, 5); };
  struct Spec {
    const char* what;
    Tensor src;
    DType dst;
    View view;
  };
  std::vector<Spec> specs = {
      {"contiguous", r.uniform({4, 5}), DType::F32, same},
      {"transposed", r.uniform({6, 7}), DType::F32, tr},
      {"permuted", r.uniform({2, 3, 4, 5}), DType::F32, perm},
      {"broadcast", r.uniform({1, 5}), DType::F32, bcast},
      {"sliced", r.uniform({6, 16}), DType::F32, sliced},
      {"to f16", r.uniform({3, 17}, -100, 100), DType::F16, same},
      {"to bf16 transposed", r.uniform({9, 5}, -100, 100), DType::BF16, tr},
      {"f16 to f32 transposed", r.uniform({8, 3}, -4, 4, DType::F16), DType::F32, tr},
      {"bf16 to f32", r.uniform({33}, -4, 4, DType::BF16), DType::F32, same},
      {"f32 to i64", r.uniform({50}, -100, 100), DType::I64, same},
      {"f32 to i32 permuted", r.uniform({2, 3, 4, 5}, -100, 100), DType::I32, perm},
      {"i64 to i32", r.ints({40}, -1000, 1000), DType::I32, same},
      {"i64 to f32 transposed", r.ints({5, 6}, -1000, 1000), DType::F32, tr},
      {"i32 to i64", r.ints({5, 6}, -1000, 1000, DType::I32), DType::I64, same},
      {"u8 to f32", r.ints({30}, 0, 255, DType::U8), DType::F32, same},
      {"bool to f32", r.ints({30}, 0, 1, DType::Bool), DType::F32, same},
      {"f32 to bool", r.ints({30}, 0, 2).to(DType::F32), DType::Bool, same},
      {"f32 to f64", r.uniform({13}), DType::F64, same},
      {"bf16 to f16", r.uniform({21}, -8, 8, DType::BF16), DType::F16, same},
  };
  for (auto& s : specs) {
    OpCase c{"copy", fmt::format("{}: {} {} -> {}", s.what, dtype_name(s.src.dtype()), shape_str(s.src.shape()),
                                 dtype_name(s.dst))};
    c.inputs = {s.src};
    c.out_shape = s.view(s.src).shape();
    c.out_dtype = s.dst;
    View view = s.view;
    c.run = [view](DeviceType d, const Inputs& in, Tensor& o) { kernels::copy().get(d)(o, view(in[0])); };
    out.push_back(c);
  }
}

void transfer_cases(std::vector<OpCase>& out, Random& r) {
  for (Tensor t : {r.uniform({1000}), r.uniform({3, 7}, -2, 2, DType::BF16), r.ints({17}, -5, 5)}) {
    OpCase up{"from_host", fmt::format("{} {}", dtype_name(t.dtype()), shape_str(t.shape()))};
    up.inputs = {t};
    up.out_shape = t.shape();
    up.out_dtype = t.dtype();
    up.inputs_on_host = true;
    up.run = [](DeviceType d, const Inputs& in, Tensor& o) {
      if (d == DeviceType::CPU)
        kernels::copy().get(d)(o, in[0]);
      else
        kernels::from_host().get(d)(o, in[0]);
    };
    out.push_back(up);
    OpCase down = up;
    down.op = "to_host";
    down.inputs_on_host = false;
    down.output_on_host = true;
    down.run = [](DeviceType d, const Inputs& in, Tensor& o) {
      if (d == DeviceType::CPU)
        kernels::copy().get(d)(o, in[0]);
      else
        kernels::to_host().get(d)(o, in[0]);
    };
    out.push_back(down);
  }
}

void linear_cases(std::vector<OpCase>& out, Random& r) {
  struct Spec {
    int64_t M, K, N;
    DType w;
    bool bias;
  };
  for (const Spec& s : std::vector<Spec>{{1, 64, 32, DType::F32, false},
                                         {1, 256, 96, DType::F16, true},
                                         {3, 128, 40, DType::BF16, true},
                                         {8, 72, 33, DType::F32, true},
                                         {2, 70, 9, DType::BF16, false},
                                         {5, 37, 11, DType::F16, true},
                                         {64, 96, 40, DType::F32, true},
                                         {33, 128, 50, DType::BF16, true},
                                         {17, 64, 48, DType::F16, false},
                                         {128, 256, 192, DType::F32, false}}) {
    OpCase c{"linear", fmt::format("M={} K={} N={} w={}{}", s.M, s.K, s.N, dtype_name(s.w), s.bias ? " bias" : "")};
    c.max_nmse = kGemmNmse;
    c.inputs = {r.uniform({s.M, s.K}), r.uniform({s.N, s.K}, -0.5f, 0.5f, s.w)};
    if (s.bias) c.inputs.push_back(r.uniform({s.N}));
    c.out_shape = {s.M, s.N};
    c.run = [](DeviceType d, const Inputs& in, Tensor& o) {
      kernels::linear().get(d)(in[0], in[1], opt_in(in, 2), o);
    };
    out.push_back(c);
  }
}

void linear_act_cases(std::vector<OpCase>& out, Random& r) {
  struct Spec {
    int64_t M, K, N;
    DType w;
    UnaryOp act;
    const char* act_name;
  };
  for (const Spec& s : std::vector<Spec>{{3, 64, 40, DType::F32, UnaryOp::Gelu, "gelu"},
                                         {9, 72, 33, DType::F32, UnaryOp::Gelu, "gelu"},
                                         {64, 96, 48, DType::BF16, UnaryOp::GeluTanh, "gelu_tanh"},
                                         {17, 64, 50, DType::F32, UnaryOp::Silu, "silu"},
                                         {33, 128, 40, DType::F16, UnaryOp::Relu, "relu"},
                                         {12, 48, 24, DType::F32, UnaryOp::Mish, "mish"}}) {
    OpCase c{"linear_act", fmt::format("M={} K={} N={} w={} {}", s.M, s.K, s.N, dtype_name(s.w), s.act_name)};
    c.max_nmse = kGemmNmse;
    c.inputs = {r.uniform({s.M, s.K}), r.uniform({s.N, s.K}, -0.5f, 0.5f, s.w), r.uniform({s.N})};
    c.out_shape = {s.M, s.N};
    const UnaryOp act = s.act;
    c.run = [act](DeviceType d, const Inputs& in, Tensor& o) {
      kernels::linear_act().get(d)(in[0], in[1], in[2], act, o);
    };
    out.push_back(c);
  }
}

// linear_int8 and linear_w8a8 take the same inputs (x, int8 weight rows, per-row scales, optional bias).
void int8_linear_cases(std::vector<OpCase>& out, Random& r, const char* op,
                       ::ia::OpTable<kernels::linear_int8_fn>& table,
                       const std::vector<std::tuple<int64_t, int64_t, int64_t, bool>>& shapes) {
  for (const auto& [M, K, N, bias] : shapes) {
    OpCase c{op, fmt::format("M={} K={} N={}{}", M, K, N, bias ? " bias" : "")};
    c.max_nmse = kGemmNmse;
    auto [q, scale] = ops::quantize_int8_rows(r.uniform({N, K}, -0.5f, 0.5f));
    c.inputs = {r.uniform({M, K}), q, scale};
    if (bias) c.inputs.push_back(r.uniform({N}));
    c.out_shape = {M, N};
    c.run = [&table](DeviceType d, const Inputs& in, Tensor& o) {
      table.get(d)(in[0], in[1], in[2], opt_in(in, 3), o);
    };
    out.push_back(c);
  }
}

void linear_int8_cases(std::vector<OpCase>& out, Random& r) {
  int8_linear_cases(out, r, "linear_int8", kernels::linear_int8(),
                    {{1, 64, 32, false}, {2, 200, 17, true}, {4, 77, 40, true}, {3, 256, 96, false},
                     {9, 128, 50, true}, {64, 96, 130, true}});
}

void linear_w8a8_cases(std::vector<OpCase>& out, Random& r) {
  int8_linear_cases(out, r, "linear_w8a8", kernels::linear_w8a8(),
                    {{1, 64, 32, false}, {3, 77, 40, true}, {9, 128, 50, true}, {64, 96, 130, true}});
}

void matmul_cases(std::vector<OpCase>& out, Random& r) {
  struct Spec {
    int64_t Ba, Bb, M, K, N;
    bool ta, tb;
    float alpha;
  };
  for (const Spec& s : std::vector<Spec>{{3, 3, 17, 9, 11, false, false, 1.0f},
                                         {2, 2, 16, 64, 16, false, true, 0.125f},
                                         {4, 4, 7, 5, 13, true, false, 1.0f},
                                         {2, 2, 6, 8, 10, true, true, 2.0f},
                                         {5, 1, 12, 32, 20, false, false, 1.0f},
                                         {1, 1, 128, 64, 96, false, true, 1.0f}}) {
    OpCase c{"matmul", fmt::format("[{}]x[{}] M={} K={} N={}{}{} alpha={}", s.Ba, s.Bb, s.M, s.K, s.N,
                                   s.ta ? " ta" : "", s.tb ? " tb" : "", s.alpha)};
    c.max_nmse = kGemmNmse;
    c.inputs = {r.uniform(s.ta ? Shape{s.Ba, s.K, s.M} : Shape{s.Ba, s.M, s.K}),
                r.uniform(s.tb ? Shape{s.Bb, s.N, s.K} : Shape{s.Bb, s.K, s.N})};
    c.out_shape = {s.Ba, s.M, s.N};
    const bool ta = s.ta, tb = s.tb;
    const float alpha = s.alpha;
    c.run = [=](DeviceType d, const Inputs& in, Tensor& o) { kernels::matmul().get(d)(in[0], in[1], o, ta, tb, alpha); };
    out.push_back(c);
  }
}

void binary_cases(std::vector<OpCase>& out, Random& r) {
  const std::vector<std::pair<BinaryOp, const char*>> ops = {{BinaryOp::Add, "add"}, {BinaryOp::Sub, "sub"},
                                                             {BinaryOp::Mul, "mul"}, {BinaryOp::Div, "div"},
                                                             {BinaryOp::Max, "max"}, {BinaryOp::Min, "min"},
                                                             {BinaryOp::Pow, "pow"}};
  struct Spec {
    const char* what;
    Shape a, b, out;
    bool transpose_a;
  };
  const std::vector<Spec> specs = {{"same shape", {3, 257}, {3, 257}, {3, 257}, false},
                                   {"row broadcast", {6, 40}, {40}, {6, 40}, false},
                                   {"two-sided broadcast", {4, 1, 6}, {5, 6}, {4, 5, 6}, false},
                                   {"scalar", {2, 3, 4}, {}, {2, 3, 4}, false},
                                   {"transposed a", {9, 4}, {4, 9}, {4, 9}, true},
                                   {"column broadcast", {2, 8, 16}, {2, 8, 1}, {2, 8, 16}, false}};
  for (const auto& [op, name] : ops) {
    for (const Spec& s : specs) {
      if (op != BinaryOp::Add && op != BinaryOp::Mul && std::string(s.what) != "two-sided broadcast" &&
          std::string(s.what) != "same shape")
        continue;
      OpCase c{"binary", fmt::format("{} {}: {} {} -> {}", name, s.what, shape_str(s.a), shape_str(s.b),
                                     shape_str(s.out))};
      const float lo_a = op == BinaryOp::Pow ? 0.5f : -2.0f;
      c.inputs = {r.uniform(s.a, lo_a, 2.0f), op == BinaryOp::Div ? r.uniform(s.b, 0.5f, 2.0f) : r.uniform(s.b, -2, 2)};
      c.out_shape = s.out;
      const bool ta = s.transpose_a;
      const Shape shape = s.out;
      const BinaryOp bop = op;
      c.run = [=](DeviceType d, const Inputs& in, Tensor& o) {
        Tensor a = ta ? in[0].transpose(0, 1) : in[0];
        kernels::binary().get(d)(bop, a.shape() == shape ? a : a.expand(shape),
                                 in[1].shape() == shape ? in[1] : in[1].expand(shape), o);
      };
      out.push_back(c);
    }
  }
}

void unary_cases(std::vector<OpCase>& out, Random& r) {
  struct Spec {
    UnaryOp op;
    const char* name;
    float lo, hi;
  };
  const std::vector<Spec> specs = {
      {UnaryOp::Identity, "identity", -4, 4}, {UnaryOp::Relu, "relu", -4, 4},       {UnaryOp::Gelu, "gelu", -6, 6},
      {UnaryOp::GeluTanh, "gelu_tanh", -6, 6}, {UnaryOp::GeluFast, "gelu_fast", -6, 6},
      {UnaryOp::QuickGelu, "quick_gelu", -6, 6}, {UnaryOp::Silu, "silu", -8, 8},   {UnaryOp::Sigmoid, "sigmoid", -8, 8},
      {UnaryOp::Tanh, "tanh", -4, 4},          {UnaryOp::Exp, "exp", -10, 10},      {UnaryOp::Log, "log", 0.01f, 10},
      {UnaryOp::Neg, "neg", -4, 4},            {UnaryOp::Sqrt, "sqrt", 0, 10},      {UnaryOp::Rsqrt, "rsqrt", 0.1f, 10},
      {UnaryOp::Abs, "abs", -4, 4},            {UnaryOp::Softplus, "softplus", -30, 30},
      {UnaryOp::Square, "square", -4, 4},      {UnaryOp::Relu6, "relu6", -8, 8},    {UnaryOp::Mish, "mish", -30, 30},
      {UnaryOp::HardSigmoid, "hardsigmoid", -5, 5}, {UnaryOp::HardSwish, "hardswish", -5, 5},
      {UnaryOp::Sin, "sin", -6, 6},            {UnaryOp::Cos, "cos", -6, 6},        {UnaryOp::Erf, "erf", -3, 3},
      {UnaryOp::Recip, "recip", 0.25f, 4}};
  for (const Spec& s : specs) {
    for (const Shape& shape : {Shape{3, 257}, Shape{5}}) {
      OpCase c{"unary", fmt::format("{} {}", s.name, shape_str(shape))};
      c.inputs = {r.uniform(shape, s.lo, s.hi)};
      c.out_shape = shape;
      const UnaryOp op = s.op;
      c.run = [op](DeviceType d, const Inputs& in, Tensor& o) { kernels::unary().get(d)(op, in[0], o); };
      out.push_back(c);
    }
  }
}

void scale_cases(std::vector<OpCase>& out, Random& r) {
  for (const Shape& shape : {Shape{1000}, Shape{3, 5, 7}}) {
    OpCase c{"scale", fmt::format("{} * 0.37 + 1.5", shape_str(shape))};
    c.inputs = {r.uniform(shape)};
    c.out_shape = shape;
    c.run = [](DeviceType d, const Inputs& in, Tensor& o) { kernels::scale().get(d)(in[0], 0.37f, 1.5f, o); };
    out.push_back(c);
  }
}

void norm_cases(std::vector<OpCase>& out, Random& r) {
  struct Spec {
    Shape shape;
    bool weight, bias;
  };
  for (const Spec& s : std::vector<Spec>{{{4, 768}, true, true}, {{3, 33}, true, false}, {{2, 5, 4096}, false, false},
                                         {{7, 1}, true, true}}) {
    const int64_t D = s.shape.back();
    OpCase c{"layer_norm", fmt::format("{}{}{}", shape_str(s.shape), s.weight ? " weight" : "", s.bias ? " bias" : "")};
    c.inputs = {r.uniform(s.shape, -3, 5), s.weight ? r.uniform({D}, 0.5f, 1.5f) : Tensor(),
                s.bias ? r.uniform({D}) : Tensor()};
    c.out_shape = s.shape;
    c.run = [](DeviceType d, const Inputs& in, Tensor& o) { kernels::layer_norm().get(d)(in[0], in[1], in[2], 1e-5f, o); };
    out.push_back(c);
  }
  for (const Spec& s : std::vector<Spec>{{{4, 2048}, true, false}, {{3, 33}, true, true}, {{2, 100}, false, false}}) {
    const int64_t D = s.shape.back();
    const bool unit = s.bias;  // reuse the flag: unit_offset weights (Gemma)
    OpCase c{"rms_norm", fmt::format("{}{}{}", shape_str(s.shape), s.weight ? " weight" : "", unit ? " unit_offset" : "")};
    c.inputs = {r.uniform(s.shape, -3, 3), s.weight ? r.uniform({D}, 0.5f, 1.5f) : Tensor()};
    c.out_shape = s.shape;
    c.run = [unit](DeviceType d, const Inputs& in, Tensor& o) { kernels::rms_norm().get(d)(in[0], in[1], 1e-6f, unit, o); };
    out.push_back(c);
  }
  for (const Shape& shape : {Shape{5, 128}, Shape{3, 1000}, Shape{2, 7}, Shape{1, 50000}}) {
    OpCase c{"softmax", shape_str(shape)};
    c.inputs = {r.uniform(shape, -8, 8)};
    c.out_shape = shape;
    c.run = [](DeviceType d, const Inputs& in, Tensor& o) { kernels::softmax().get(d)(in[0], o); };
    out.push_back(c);
  }
  const std::vector<std::pair<ReduceOp, const char*>> rops = {
      {ReduceOp::Sum, "sum"}, {ReduceOp::Mean, "mean"}, {ReduceOp::Max, "max"}, {ReduceOp::Min, "min"}};
  for (const auto& [op, name] : rops) {
    for (const Shape& shape : {Shape{6, 300}, Shape{2, 3, 5}}) {
      OpCase c{"reduce", fmt::format("{} {}", name, shape_str(shape))};
      c.inputs = {r.uniform(shape, -2, 3)};
      c.out_shape = Shape(shape.begin(), shape.end() - 1);
      const ReduceOp rop = op;
      c.run = [rop](DeviceType d, const Inputs& in, Tensor& o) { kernels::reduce().get(d)(rop, in[0], o); };
      out.push_back(c);
    }
  }
  for (const Shape& shape : {Shape{4, 1000}, Shape{7, 3}, Shape{2, 32000}}) {
    OpCase c{"argmax", shape_str(shape)};
    c.inputs = {r.uniform(shape)};
    c.out_shape = Shape(shape.begin(), shape.end() - 1);
    c.out_dtype = DType::I64;
    c.run = [](DeviceType d, const Inputs& in, Tensor& o) { kernels::argmax().get(d)(in[0], o); };
    out.push_back(c);
  }
}

void index_cases(std::vector<OpCase>& out, Random& r) {
  struct Emb {
    DType table, ids;
    int64_t V, D;
    Shape ids_shape;
  };
  for (const Emb& e : std::vector<Emb>{{DType::F32, DType::I64, 50, 16, {2, 5}},
                                       {DType::F16, DType::I32, 30, 64, {7}},
                                       {DType::BF16, DType::I64, 100, 40, {3, 4}}}) {
    OpCase c{"embedding", fmt::format("table {} [{}, {}] ids {} {}", dtype_name(e.table), e.V, e.D,
                                      dtype_name(e.ids), shape_str(e.ids_shape))};
    c.inputs = {r.uniform({e.V, e.D}, -1, 1, e.table), r.ints(e.ids_shape, 0, e.V - 1, e.ids)};
    c.out_shape = e.ids_shape;
    c.out_shape.push_back(e.D);
    c.run = [](DeviceType d, const Inputs& in, Tensor& o) { kernels::embedding().get(d)(in[0], in[1], o); };
    out.push_back(c);
  }
  struct Cat {
    std::vector<Shape> shapes;
    int dim;
    DType dt;
  };
  for (const Cat& k : std::vector<Cat>{{{{2, 3}, {4, 3}}, 0, DType::F32},
                                       {{{2, 3, 4}, {2, 5, 4}, {2, 1, 4}}, 1, DType::F32},
                                       {{{3, 2}, {3, 7}}, 1, DType::I64},
                                       {{{2, 2, 8}, {2, 2, 8}}, 2, DType::BF16}}) {
    std::vector<std::string> parts;
    for (const Shape& s : k.shapes) parts.push_back(shape_str(s));
    OpCase c{"concat", fmt::format("{} dim {} {}", fmt::join(parts, " + "), k.dim, dtype_name(k.dt))};
    Shape out_shape = k.shapes[0];
    out_shape[k.dim] = 0;
    for (const Shape& s : k.shapes) {
      c.inputs.push_back(k.dt == DType::I64 ? r.ints(s, -50, 50) : r.uniform(s, -1, 1, k.dt));
      out_shape[k.dim] += s[k.dim];
    }
    c.out_shape = out_shape;
    c.out_dtype = k.dt;
    const int dim = k.dim;
    c.run = [dim](DeviceType d, const Inputs& in, Tensor& o) { kernels::concat().get(d)(in, dim, o); };
    out.push_back(c);
  }
  {
    OpCase c{"gather_last", "x [2, 3, 8, 16] index [8, 5]"};
    c.inputs = {r.uniform({2, 3, 8, 16}), r.ints({8, 5}, 0, 15)};
    c.out_shape = {2, 3, 8, 5};
    c.run = [](DeviceType d, const Inputs& in, Tensor& o) { kernels::gather_last().get(d)(in[0], in[1], o); };
    out.push_back(c);
  }
}

void attention_cases(std::vector<OpCase>& out, Random& r) {
  struct Spec {
    std::string what;
    int64_t B, Hq, Hkv, Sq, Sk, D, Dv;
    bool strided_q = false, key_mask = false, query_mask = false, causal = false;
    int64_t q_offset = 0, window = 0;
    float softcap = 0.0f;
    Shape bias = {};          // empty: none
    bool all_masked_batch = false;  // batch 0 has every key masked (uniform rows)
  };
  std::vector<Spec> specs = {
      {"plain", 2, 4, 4, 16, 16, 64, 64},
      {"key mask", 2, 4, 4, 13, 13, 32, 32, false, true},
      {"causal", 1, 2, 2, 40, 40, 64, 64, false, false, false, true},
      {"causal + kv cache offset", 2, 2, 2, 3, 20, 64, 64, false, false, false, true, 17},
      {"sliding window", 1, 2, 2, 50, 50, 32, 32, false, false, false, true, 0, 8},
      {"softcap", 1, 2, 2, 9, 9, 16, 16, false, false, false, false, 0, 0, 5.0f},
      {"bias [1,H,Sq,Sk]", 2, 3, 3, 10, 10, 32, 32, false, true, false, false, 0, 0, 0.0f, {1, 3, 10, 10}},
      {"bias [B,1,1,Sk]", 2, 3, 3, 10, 10, 32, 32, false, false, false, false, 0, 0, 0.0f, {2, 1, 1, 10}},
      {"GQA 8/2", 2, 8, 2, 12, 12, 64, 64, false, true},
      {"query mask (DeBERTa)", 2, 2, 2, 11, 11, 32, 32, false, true, true},
      {"all keys masked (uniform rows)", 2, 2, 2, 5, 7, 32, 32, false, true, false, false, 0, 0, 0.0f, {}, true},
      {"strided q", 2, 4, 4, 9, 9, 64, 64, true},
      {"head dim 128, 100 tokens", 1, 2, 2, 100, 100, 128, 128, false, true},
      {"head dim 80 (D % 32 != 0)", 1, 2, 2, 33, 33, 80, 80},
      {"head dim 256", 1, 1, 1, 20, 20, 256, 256, false, false, false, true},
      {"Dv != D", 1, 2, 2, 10, 10, 64, 32},
      {"odd head dim 6", 1, 2, 2, 5, 9, 6, 6, false, true},
      {"decode Sq=1", 2, 4, 2, 1, 77, 64, 64, false, true, false, true, 76},
      {"long keys 300", 1, 2, 2, 64, 300, 64, 64, false, true}};
  for (const Spec& s : specs) {
    OpCase c{"attention", fmt::format("{}: B={} Hq={} Hkv={} Sq={} Sk={} D={} Dv={}", s.what, s.B, s.Hq, s.Hkv, s.Sq,
                                      s.Sk, s.D, s.Dv)};
    c.inputs = {s.strided_q ? r.uniform({s.B, s.Sq, s.Hq, s.D}) : r.uniform({s.B, s.Hq, s.Sq, s.D}),
                r.uniform({s.B, s.Hkv, s.Sk, s.D}), r.uniform({s.B, s.Hkv, s.Sk, s.Dv})};
    Tensor km, qm, bias;
    if (s.key_mask) {
      std::vector<int64_t> m(static_cast<size_t>(s.B * s.Sk), 1);
      for (int64_t b = 0; b < s.B; ++b)
        for (int64_t j = 0; j < s.Sk; ++j)
          if (s.all_masked_batch ? b == 0 : j >= s.Sk - 1 - b * 3 && b > 0) m[b * s.Sk + j] = 0;
      km = Tensor::from_vector(m, {s.B, s.Sk});
    }
    if (s.query_mask) {
      std::vector<int64_t> m(static_cast<size_t>(s.B * s.Sq), 1);
      for (int64_t i = s.Sq - 3; i < s.Sq; ++i) m[(s.B - 1) * s.Sq + i] = 0;
      qm = Tensor::from_vector(m, {s.B, s.Sq});
    }
    if (!s.bias.empty()) bias = r.uniform(s.bias, -2, 2);
    c.inputs.push_back(km);
    c.inputs.push_back(qm);
    c.inputs.push_back(bias);
    c.out_shape = {s.B, s.Sq, s.Hq, s.Dv};
    AttentionArgs a;
    a.scale = 1.0f / std::sqrt(static_cast<float>(s.D));
    a.causal = s.causal;
    a.q_offset = s.q_offset;
    a.sliding_window = s.window;
    a.softcap = s.softcap;
    const bool strided = s.strided_q;
    c.run = [a, strided](DeviceType d, const Inputs& in, Tensor& o) {
      AttentionArgs args = a;
      args.key_mask = in[3];
      args.query_mask = in[4];
      args.bias = in[5];
      kernels::attention().get(d)(strided ? in[0].permute({0, 2, 1, 3}) : in[0], in[1], in[2], args, o);
    };
    out.push_back(c);
  }
}

void decoding_cases(std::vector<OpCase>& out, Random& r) {
  struct Rot {
    int64_t B, S, H, D, half;
    bool interleaved, strided;
  };
  for (const Rot& s : std::vector<Rot>{{2, 5, 4, 64, 32, false, false},
                                       {1, 7, 2, 64, 32, true, false},
                                       {2, 3, 2, 64, 16, false, false},
                                       {1, 4, 3, 32, 16, false, true}}) {
    OpCase c{"rotary", fmt::format("x [{}, {}, {}, {}] rot_dim {}{}{}", s.B, s.S, s.H, s.D, 2 * s.half,
                                   s.interleaved ? " interleaved" : "", s.strided ? " strided" : "")};
    c.inputs = {s.strided ? r.uniform({s.B, s.S, s.H, 2 * s.D}) : r.uniform({s.B, s.S, s.H, s.D}),
                r.uniform({s.B, s.S, s.half}), r.uniform({s.B, s.S, s.half})};
    c.out_shape = {s.B, s.S, s.H, s.D};
    const bool inter = s.interleaved, strided = s.strided;
    const int64_t D = s.D;
    c.run = [=](DeviceType d, const Inputs& in, Tensor& o) {
      kernels::rotary().get(d)(strided ? in[0].slice(3, 0, D) : in[0], in[1], in[2], inter, o);
    };
    out.push_back(c);
  }
  for (bool strided : {false, true}) {
    OpCase c{"kv_write", fmt::format("cache [2, 4, 16, 32] src [2, 3, 4, 32] at 5{}", strided ? " strided" : "")};
    c.inputs = {strided ? r.uniform({2, 4, 3, 32}) : r.uniform({2, 3, 4, 32})};
    c.out_shape = {2, 4, 16, 32};
    c.out_init = r.uniform({2, 4, 16, 32});
    c.run = [strided](DeviceType d, const Inputs& in, Tensor& o) {
      kernels::kv_write().get(d)(o, strided ? in[0].transpose(1, 2) : in[0], 5);
    };
    out.push_back(c);
  }
}

// Vision ops: output shapes come from the op front-ends run on the host inputs (their shape rules are the
// reference), the kernels then run through the tables.
void vision_cases(std::vector<OpCase>& out, Random& r) {
  struct Conv {
    const char* what;
    int64_t N, C, H, W, O, KH, KW;
    Conv2dArgs args;
    bool bias;
  };
  Conv2dArgs asym = Conv2dArgs::make(2, 0, 1, 2);
  asym.pad_bottom = 1, asym.pad_left = 1;
  Conv2dArgs rect = Conv2dArgs::make(1);
  rect.stride_w = 2, rect.pad_top = rect.pad_bottom = 1;
  for (const Conv& s : std::vector<Conv>{{"3x3 s1 p1", 2, 3, 9, 11, 4, 3, 3, Conv2dArgs::make(1, 1), true},
                                         {"3x3 s2 d2 asymmetric pad", 1, 5, 13, 10, 6, 3, 3, asym, false},
                                         {"3x2 stride (1,2) pad (1,0)", 2, 4, 7, 9, 3, 3, 2, rect, true},
                                         {"groups 2", 2, 4, 8, 8, 6, 3, 3, Conv2dArgs::make(1, 1, 2), true},
                                         {"depthwise s2", 2, 8, 9, 9, 8, 3, 3, Conv2dArgs::make(2, 1, 8), true},
                                         {"depthwise x2 multiplier", 1, 4, 6, 7, 8, 5, 5, Conv2dArgs::make(1, 2, 4), false},
                                         {"pointwise", 2, 16, 5, 6, 8, 1, 1, Conv2dArgs::make(1), true},
                                         {"patch 4x4 s4", 1, 3, 16, 16, 32, 4, 4, Conv2dArgs::make(4), true}}) {
    OpCase c{"conv2d", fmt::format("{} x [{}, {}, {}, {}] w [{}, {}, {}, {}]{}", s.what, s.N, s.C, s.H, s.W, s.O,
                                   s.C / s.args.groups, s.KH, s.KW, s.bias ? " bias" : "")};
    c.max_nmse = kGemmNmse;
    c.inputs = {r.uniform({s.N, s.C, s.H, s.W}), r.uniform({s.O, s.C / s.args.groups, s.KH, s.KW}, -0.5f, 0.5f)};
    if (s.bias) c.inputs.push_back(r.uniform({s.O}));
    c.out_shape = ops::conv2d(c.inputs[0], c.inputs[1], opt_in(c.inputs, 2), s.args).shape();
    const Conv2dArgs args = s.args;
    c.run = [args](DeviceType d, const Inputs& in, Tensor& o) {
      kernels::conv2d().get(d)(in[0], in[1], opt_in(in, 2), args, o);
    };
    out.push_back(c);
  }
  Pool2dArgs avg_excl = Pool2dArgs::make(PoolKind::Avg, 3, 1, 1);
  avg_excl.count_include_pad = false;
  Pool2dArgs rect_pool = Pool2dArgs::make(PoolKind::Max, 2, 1);
  rect_pool.kernel_w = 3, rect_pool.stride_h = 2, rect_pool.pad_w = 1;
  for (const auto& [what, shape, args] : std::vector<std::tuple<const char*, Shape, Pool2dArgs>>{
           {"max 3x3 s2 p1", {2, 3, 11, 11}, Pool2dArgs::make(PoolKind::Max, 3, 2, 1)},
           {"max 3x3 s2 ceil", {1, 4, 10, 9}, Pool2dArgs::make(PoolKind::Max, 3, 2, 0, true)},
           {"max 2x3 s(2,1) p(0,1)", {2, 2, 8, 7}, rect_pool},
           {"avg 2x2 s2", {2, 5, 8, 6}, Pool2dArgs::make(PoolKind::Avg, 2, 2)},
           {"avg 3x3 s1 p1 exclude pad", {1, 3, 7, 5}, avg_excl},
           {"avg 3x3 s2 p1 ceil", {1, 2, 8, 8}, Pool2dArgs::make(PoolKind::Avg, 3, 2, 1, true)}}) {
    OpCase c{"pool2d", fmt::format("{} x {}", what, shape_str(shape))};
    c.inputs = {r.uniform(shape)};
    c.out_shape = ops::pool2d(c.inputs[0], args).shape();
    const Pool2dArgs a = args;
    c.run = [a](DeviceType d, const Inputs& in, Tensor& o) { kernels::pool2d().get(d)(in[0], a, o); };
    out.push_back(c);
  }
  for (const auto& [shape, oh, ow] : std::vector<std::tuple<Shape, int64_t, int64_t>>{
           {{2, 3, 7, 7}, 3, 3}, {{1, 4, 10, 13}, 4, 5}, {{1, 2, 5, 3}, 7, 4}, {{2, 8, 6, 6}, 1, 1}}) {
    OpCase c{"adaptive_avg_pool2d", fmt::format("{} -> {}x{}", shape_str(shape), oh, ow)};
    c.inputs = {r.uniform(shape)};
    c.out_shape = {shape[0], shape[1], oh, ow};
    c.run = [](DeviceType d, const Inputs& in, Tensor& o) { kernels::adaptive_avg_pool2d().get(d)(in[0], o); };
    out.push_back(c);
  }
  struct Interp {
    InterpMode mode;
    bool align;
    double scale;
    Shape shape;
    int64_t oh, ow;
  };
  const char* mode_names[] = {"nearest", "bilinear", "bicubic"};
  for (const Interp& s : std::vector<Interp>{{InterpMode::Nearest, false, 0.0, {2, 3, 5, 7}, 10, 14},
                                             {InterpMode::Nearest, false, 0.0, {1, 2, 9, 8}, 4, 3},
                                             {InterpMode::Bilinear, false, 0.0, {2, 2, 8, 8}, 13, 11},
                                             {InterpMode::Bilinear, true, 0.0, {1, 3, 6, 5}, 11, 9},
                                             {InterpMode::Bilinear, false, 2.0, {1, 4, 5, 6}, 10, 12},
                                             {InterpMode::Bicubic, false, 0.0, {1, 3, 6, 6}, 12, 9},
                                             {InterpMode::Bicubic, true, 0.0, {2, 2, 16, 12}, 7, 5}}) {
    InterpolateArgs a;
    a.mode = s.mode, a.align_corners = s.align, a.scale_h = a.scale_w = s.scale;
    OpCase c{"interpolate", fmt::format("{}{}{} {} -> {}x{}", mode_names[static_cast<int>(s.mode)],
                                        s.align ? " align_corners" : "",
                                        s.scale > 0 ? fmt::format(" scale {}", s.scale) : "", shape_str(s.shape), s.oh,
                                        s.ow)};
    c.inputs = {r.uniform(s.shape)};
    c.out_shape = {s.shape[0], s.shape[1], s.oh, s.ow};
    c.run = [a](DeviceType d, const Inputs& in, Tensor& o) { kernels::interpolate().get(d)(in[0], a, o); };
    out.push_back(c);
  }
  for (const Shape& shape : std::vector<Shape>{{2, 5, 7, 3}, {1, 64, 1}, {3, 4, 33}}) {
    OpCase c{"channel_affine", shape_str(shape)};
    c.inputs = {r.uniform(shape), r.uniform({shape[1]}), r.uniform({shape[1]})};
    c.out_shape = shape;
    c.run = [](DeviceType d, const Inputs& in, Tensor& o) { kernels::channel_affine().get(d)(in[0], in[1], in[2], o); };
    out.push_back(c);
  }
  for (const auto& [shape, groups, affine] : std::vector<std::tuple<Shape, int64_t, bool>>{
           {{2, 8, 5, 5}, 4, true}, {{1, 32, 16}, 32, false}, {{3, 6, 7}, 1, true}, {{1, 64, 40, 40}, 8, true}}) {
    OpCase c{"group_norm", fmt::format("{} groups {}{}", shape_str(shape), groups, affine ? " affine" : "")};
    c.inputs = {r.uniform(shape, -2.0f, 3.0f)};
    if (affine) c.inputs.insert(c.inputs.end(), {r.uniform({shape[1]}), r.uniform({shape[1]})});
    c.out_shape = shape;
    const int64_t G = groups;
    c.run = [G](DeviceType d, const Inputs& in, Tensor& o) {
      kernels::group_norm().get(d)(in[0], G, opt_in(in, 1), opt_in(in, 2), 1e-5f, o);
    };
    out.push_back(c);
  }
}

// The state-space ops write y and update a state in place: the compared output is one buffer holding y then the
// final state (initialised with y = 0 and the starting state), so both are checked against the CPU.
Tensor with_state(const Shape& y_shape, const Tensor& state) {
  std::vector<float> v(static_cast<size_t>(shape_numel(y_shape)), 0.0f);
  const std::vector<float> s = state.to_vector<float>();
  v.insert(v.end(), s.begin(), s.end());
  return Tensor::from_vector(v, {static_cast<int64_t>(v.size())});
}

std::pair<Tensor, Tensor> split_state(Tensor& o, const Shape& y_shape, const Shape& state_shape) {
  const size_t y_bytes = static_cast<size_t>(shape_numel(y_shape)) * sizeof(float);
  return {Tensor(o.storage(), o.byte_offset(), y_shape, DType::F32),
          Tensor(o.storage(), o.byte_offset() + y_bytes, state_shape, DType::F32)};
}

void ssm_cases(std::vector<OpCase>& out, Random& r) {
  for (const auto& [B, S, C, K, bias] : std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t, bool>>{
           {2, 6, 10, 4, true}, {3, 1, 16, 4, true}, {1, 2, 7, 4, false}, {2, 9, 5, 2, true}}) {
    OpCase c{"causal_conv1d", fmt::format("B={} S={} C={} K={}{}", B, S, C, K, bias ? " bias" : "")};
    const Shape ys{B, S, C}, ss{B, C, K - 1};
    c.inputs = {r.uniform(ys), r.uniform({C, K})};
    if (bias) c.inputs.push_back(r.uniform({C}));
    c.out_init = with_state(ys, r.uniform(ss));
    c.out_shape = c.out_init.shape();
    c.run = [ys, ss](DeviceType d, const Inputs& in, Tensor& o) {
      auto [y, st] = split_state(o, ys, ss);
      kernels::causal_conv1d().get(d)(in[0], in[1], opt_in(in, 2), st, y);
    };
    out.push_back(c);
  }
  struct Scan {
    int64_t B, S, H, P, N, G;
    bool dskip;
  };
  for (const Scan& s : std::vector<Scan>{{2, 5, 12, 1, 4, 1, true}, {1, 7, 4, 3, 8, 2, false}, {2, 1, 6, 2, 16, 3, true},
                                         {1, 12, 2, 4, 4, 1, true}}) {
    OpCase c{"selective_scan", fmt::format("B={} S={} H={} P={} N={} G={}{}", s.B, s.S, s.H, s.P, s.N, s.G,
                                           s.dskip ? " D" : "")};
    const Shape ys{s.B, s.S, s.H, s.P}, ss{s.B, s.H, s.P, s.N};
    c.inputs = {r.uniform(ys), r.uniform({s.B, s.S, s.H}, 0.01f, 0.5f), r.uniform({s.H, s.N}, -2.0f, -0.1f),
                r.uniform({s.B, s.S, s.G, s.N}), r.uniform({s.B, s.S, s.G, s.N})};
    if (s.dskip) c.inputs.push_back(r.uniform({s.H}));
    c.out_init = with_state(ys, r.uniform(ss));
    c.out_shape = c.out_init.shape();
    c.run = [ys, ss](DeviceType d, const Inputs& in, Tensor& o) {
      auto [y, st] = split_state(o, ys, ss);
      kernels::selective_scan().get(d)(in[0], in[1], in[2], in[3], in[4], opt_in(in, 5), st, y);
    };
    out.push_back(c);
  }
  for (const auto& [B, S, C, fresh] : std::vector<std::tuple<int64_t, int64_t, int64_t, bool>>{
           {2, 6, 8, true}, {1, 1, 32, false}, {3, 4, 5, false}}) {
    OpCase c{"wkv", fmt::format("B={} S={} C={} {} state", B, S, C, fresh ? "fresh" : "carried")};
    const Shape ys{B, S, C}, ss{B, 3, C};
    c.inputs = {r.uniform(ys, -2.0f, 2.0f), r.uniform(ys), r.uniform({C}, -1.0f, 1.0f), r.uniform({C})};
    Tensor state = Tensor::zeros(ss, DType::F32);
    float* sp = state.data<float>();
    const Tensor carried = r.uniform(ss, 0.1f, 2.0f);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < C; ++i) {
        sp[(b * 3 + 0) * C + i] = fresh ? 0.0f : carried.data<float>()[(b * 3 + 0) * C + i];
        sp[(b * 3 + 1) * C + i] = fresh ? 0.0f : carried.data<float>()[(b * 3 + 1) * C + i];
        sp[(b * 3 + 2) * C + i] = fresh ? -1e38f : carried.data<float>()[(b * 3 + 2) * C + i] - 1.0f;
      }
    c.out_init = with_state(ys, state);
    c.out_shape = c.out_init.shape();
    c.run = [ys, ss](DeviceType d, const Inputs& in, Tensor& o) {
      auto [y, st] = split_state(o, ys, ss);
      kernels::wkv().get(d)(in[0], in[1], in[2], in[3], st, y);
    };
    out.push_back(c);
  }
  for (const auto& [B, S, C] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{2, 9, 16}, {1, 1, 300}}) {
    OpCase c{"linear_recurrence", fmt::format("B={} S={} C={}", B, S, C)};
    const Shape ys{B, S, C}, ss{B, C};
    c.inputs = {r.uniform(ys, 0.0f, 1.0f), r.uniform(ys)};
    c.out_init = with_state(ys, r.uniform(ss));
    c.out_shape = c.out_init.shape();
    c.run = [ys, ss](DeviceType d, const Inputs& in, Tensor& o) {
      auto [y, st] = split_state(o, ys, ss);
      kernels::linear_recurrence().get(d)(in[0], in[1], st, y);
    };
    out.push_back(c);
  }
}

std::vector<OpCase> all_cases(uint64_t seed) {
  Random r(seed);
  std::vector<OpCase> cases;
  fill_cases(cases, r);
  copy_cases(cases, r);
  transfer_cases(cases, r);
  linear_cases(cases, r);
  linear_act_cases(cases, r);
  linear_int8_cases(cases, r);
  linear_w8a8_cases(cases, r);
  matmul_cases(cases, r);
  binary_cases(cases, r);
  unary_cases(cases, r);
  scale_cases(cases, r);
  norm_cases(cases, r);
  index_cases(cases, r);
  attention_cases(cases, r);
  decoding_cases(cases, r);
  vision_cases(cases, r);
  ssm_cases(cases, r);
  return cases;
}

// ---------------------------------------------------------------------------------------------------------------
// Running and comparing.

struct Guarded {
  std::shared_ptr<Storage> storage;
  Tensor out;
  size_t total = 0;
};

Guarded guarded_output(const OpCase& c, Device dev) {
  Guarded g;
  const size_t nbytes = static_cast<size_t>(shape_numel(c.out_shape)) * dtype_size(c.out_dtype);
  g.total = nbytes + 2 * kGuardBytes;
  g.storage = allocate_storage(dev, g.total);
  Tensor host = Tensor::empty({static_cast<int64_t>(g.total)}, DType::U8);
  std::fill(host.data<uint8_t>(), host.data<uint8_t>() + g.total, kGuardByte);
  if (c.out_init.defined()) {
    Tensor init = c.out_init.to(c.out_dtype).contiguous();
    std::memcpy(host.data<uint8_t>() + kGuardBytes, init.raw_data(), nbytes);
  }
  Tensor whole(g.storage, 0, {static_cast<int64_t>(g.total)}, DType::U8);
  ops::transfer_(whole, host);
  g.out = Tensor(g.storage, kGuardBytes, c.out_shape, c.out_dtype);
  return g;
}

// Empty when the guards are intact, else where they were overwritten.
std::string check_guards(const Guarded& g) {
  Tensor whole(g.storage, 0, {static_cast<int64_t>(g.total)}, DType::U8);
  std::vector<uint8_t> bytes = whole.to_vector<uint8_t>();
  size_t before = 0, after = 0;
  for (size_t i = 0; i < kGuardBytes; ++i) {
    before += bytes[i] != kGuardByte;
    after += bytes[g.total - kGuardBytes + i] != kGuardByte;
  }
  if (before == 0 && after == 0) return "";
  return fmt::format("out-of-bounds write: {} guard byte(s) before and {} after the output changed", before, after);
}

struct Outcome {
  std::string status;  // "ok", "fail", "not supported", "error"
  double nmse = 0.0;
  std::string message = {};
};

Outcome compare(const OpCase& c, const Tensor& ref, const Tensor& got) {
  Outcome o{"ok"};
  if (!dtype_is_float(c.out_dtype)) {
    auto a = ref.to_vector<int64_t>(), b = got.to_vector<int64_t>();
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < a.size(); ++i)
      if (a[i] != b[i] && bad++ == 0) first = i;
    if (bad) o = {"fail", 0.0, fmt::format("{} of {} elements differ (first at {}: {} vs reference {})", bad, a.size(),
                                           first, b[first], a[first])};
    return o;
  }
  auto a = ref.to_vector<double>(), b = got.to_vector<double>();
  double err = 0.0, norm = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) {
      const bool same = (std::isnan(a[i]) && std::isnan(b[i])) || a[i] == b[i];
      if (!same) return {"fail", 0.0, fmt::format("element {}: {} where the reference has {}", i, b[i], a[i])};
      continue;
    }
    if (!std::isfinite(b[i])) return {"fail", 0.0, fmt::format("element {} is {} (reference {})", i, b[i], a[i])};
    err += (a[i] - b[i]) * (a[i] - b[i]);
    norm += a[i] * a[i];
  }
  o.nmse = norm > 0.0 ? err / norm : err;
  if (!(o.nmse <= c.max_nmse)) {
    o.status = "fail";
    o.message = fmt::format("nmse {:.3e} > {:.0e}", o.nmse, c.max_nmse);
  }
  return o;
}

Outcome run_case(const OpCase& c, Device dev) {
  Guarded ref = guarded_output(c, Device::cpu());
  c.run(DeviceType::CPU, c.inputs, ref.out);
  Inputs dev_in;
  for (const Tensor& t : c.inputs) dev_in.push_back(!t.defined() || c.inputs_on_host ? t : t.to(dev));
  Guarded got = guarded_output(c, c.output_on_host ? Device::cpu() : dev);
  c.run(dev.type, dev_in, got.out);
  const std::string guard = check_guards(got);
  Outcome o = compare(c, ref.out, got.out);
  if (!guard.empty()) return {"fail", o.nmse, guard};
  const std::string ref_guard = check_guards(ref);
  if (!ref_guard.empty()) return {"fail", o.nmse, "cpu reference: " + ref_guard};
  return o;
}

// Makes `dev` usable or says why not.
std::string unavailable_reason(Device dev) {
  if (dev.is_cpu()) return "";
  try {
    if (auto init = executor_init(dev.type)) init(dev.index);
    allocate_storage(dev, 1);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

struct Args {
  std::string device = "all";
  std::string op;
  uint64_t seed = 1234;
  bool verbose = false;
};

constexpr int kExitUnavailable = 3;

int run(const Args& a) {
  const bool json = cli::globals().json;
  std::vector<Device> devices;
  if (a.device == "all") {
    for (int t = 1; t < kNumDeviceTypes; ++t)
      if (!ops_with_kernel(static_cast<DeviceType>(t)).empty()) devices.push_back({static_cast<DeviceType>(t), 0});
    if (devices.empty()) {
      if (json)
        std::cout << nlohmann::json{{"skipped", true}, {"reason", "no backend besides cpu has kernels in this build"}}.dump()
                  << std::endl;
      else
        fmt::print("no backend besides cpu has kernels in this build: nothing to test\n");
      return 0;
    }
  } else {
    devices.push_back(Device::parse(a.device));
  }

  const std::vector<OpCase> cases = all_cases(a.seed);
  std::set<std::string> covered;
  for (const auto& c : cases) covered.insert(c.op);

  int failures = 0, unavailable = 0;
  for (const Device& dev : devices) {
    if (std::string why = unavailable_reason(dev); !why.empty()) {
      ++unavailable;
      if (json)
        std::cout << nlohmann::json{{"device", dev.str()}, {"available", false}, {"reason", why}}.dump() << std::endl;
      else
        fmt::print("{}\n", why.find("not available") != std::string::npos ? why
                                                                         : fmt::format("{}: not available ({})", dev.str(), why));
      continue;
    }
    if (!json) fmt::print("Testing {} against cpu ({} cases)\n", dev.str(), cases.size());
    const std::set<std::string> kernels = ops_with_kernel(dev.type);
    std::map<std::string, int> counts;
    std::set<std::string> unsupported;
    for (const OpCase& c : cases) {
      if (!a.op.empty() && c.op != a.op) continue;
      Outcome o;
      if (!kernels.count(c.op)) {
        o = {"not supported"};
        unsupported.insert(c.op);
      } else {
        try {
          o = run_case(c, dev);
        } catch (const Error& e) {
          o = {"error", 0.0, e.what()};
        }
      }
      ++counts[o.status];
      if (o.status == "fail" || o.status == "error") ++failures;
      if (json) {
        nlohmann::json j{{"device", dev.str()}, {"op", c.op},         {"case", c.desc},
                         {"status", o.status},  {"nmse", o.nmse},     {"max_nmse", c.max_nmse}};
        if (!o.message.empty()) j["message"] = o.message;
        std::cout << j.dump() << std::endl;
      } else if (o.status != "not supported" && (a.verbose || o.status != "ok")) {
        fmt::print("  {:<12} {:<70} {}{}\n", c.op, c.desc, o.status == "ok" ? "OK" : o.status == "fail" ? "FAIL" : "ERROR",
                   o.message.empty() ? fmt::format(" (nmse {:.2e})", o.nmse) : " " + o.message);
      }
    }
    std::vector<std::string> uncovered;
    for (const auto* t : all_op_tables())
      if (!covered.count(t->name()) && (a.op.empty() || a.op == t->name())) uncovered.push_back(t->name());
    for (const auto* t : all_op_tables())
      if (!t->has(dev.type) && (a.op.empty() || a.op == t->name())) unsupported.insert(t->name());
    if (json) {
      std::cout << nlohmann::json{{"device", dev.str()},
                                  {"summary", {{"ok", counts["ok"]},
                                               {"fail", counts["fail"]},
                                               {"error", counts["error"]},
                                               {"not_supported_cases", counts["not supported"]},
                                               {"unsupported_ops", unsupported},
                                               {"ops_without_cases", uncovered}}}}
                       .dump()
                << std::endl;
    } else {
      for (const auto& op : unsupported) fmt::print("  {:<12} not supported on {}\n", op, dev.str());
      fmt::print("{}: {} ok, {} failed, {} errors, {} cases not supported; ops without cases: {}\n", dev.str(),
                 counts["ok"], counts["fail"], counts["error"], counts["not supported"],
                 uncovered.empty() ? "none" : fmt::format("{}", fmt::join(uncovered, ", ")));
    }
  }
  if (failures) return 1;
  if (a.device != "all" && unavailable) return kExitUnavailable;
  return 0;
}

void setup(CLI::App& app) {
  auto args = std::make_shared<Args>();
  auto* c = app.add_subcommand("test-backend-ops",
                               "Check every op of every backend against the CPU reference (random inputs, NMSE, guards)");
  c->add_option("--device", args->device,
                "all (every non-CPU backend with kernels) | cuda[:N] | ... | cpu (self-check of the harness)")
      ->capture_default_str();
  c->add_option("--op", args->op, "only the cases of this op (kernel table name, e.g. attention)");
  c->add_option("--seed", args->seed, "random seed for the inputs")->capture_default_str();
  c->add_flag("-v,--verbose", args->verbose, "print passing cases too");
  c->add_flag("--json", cli::globals().json, "one JSON object per case, then one summary per device");
  c->footer("Exit status: 0 all passed, 1 a case failed, 3 the requested device is not available.");
  c->callback([args] { cli::set_exit_code(run(*args)); });
}

}  // namespace

IA_REGISTER_COMMAND(test_backend_ops, 60, setup)
