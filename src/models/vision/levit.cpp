// LeViT (HF modeling_levit.py): 4-conv hardswish stem (BatchNorm eval), stages of residual attention
// (learned per-offset attention biases) and MLP layers built from Linear+BatchNorm1d, attention-subsample
// layers between stages, mean pooling and BatchNorm1d+Linear heads; LevitModel,
// LevitForImageClassification and LevitForImageClassificationWithTeacher.
#include <cmath>
#include <map>

#include "models/vision/common.h"

namespace ia::levit {
namespace {

using layers::Linear;
using vision::BatchNorm2d;
using vision::Conv2d;
using vision::ConvBN;

// MLPLayerWithBN: bias-free Linear, then BatchNorm1d over the features of every token.
struct LinearBN {
  Linear linear;
  BatchNorm2d norm;
  static LinearBN load(const WeightLoader& w, int64_t in, int64_t out) {
    LinearBN l;
    l.linear = Linear::load(w.pp("linear"), in, out, false);
    l.norm = BatchNorm2d::load(w.pp("batch_norm"), out);
    return l;
  }
  Tensor operator()(const Tensor& x) const {
    Tensor y = linear(x);
    return norm(y.reshape({-1, y.dim(-1)})).view(y.shape());
  }
};

// attention_biases[:, attention_bias_idxs] as a [1, heads, Nq, Nk] attention bias. Offsets are numbered in
// order of first appearance, as HF's dict does.
Tensor attention_bias(const Tensor& biases, int64_t res_in, int64_t res_out, int64_t stride) {
  std::map<std::pair<int64_t, int64_t>, int64_t> offsets;
  const int64_t nq = res_out * res_out, nk = res_in * res_in;
  Tensor idx = Tensor::empty({nq * nk}, DType::I64);
  int64_t* p = idx.data<int64_t>();
  for (int64_t a = 0; a < nq; ++a)
    for (int64_t b = 0; b < nk; ++b) {
      const std::pair<int64_t, int64_t> off{std::llabs(a / res_out * stride - b / res_in),
                                            std::llabs(a % res_out * stride - b % res_in)};
      auto it = offsets.find(off);
      if (it == offsets.end()) it = offsets.emplace(off, static_cast<int64_t>(offsets.size())).first;
      p[a * nk + b] = it->second;
    }
  const int64_t heads = biases.dim(0);
  IA_CHECK(static_cast<int64_t>(offsets.size()) == biases.dim(1), ErrorKind::Format,
           "levit: attention_biases has {} offsets, resolution {} implies {}", biases.dim(1), res_in, offsets.size());
  Tensor g = ops::index_select(biases.transpose(0, 1).contiguous(), idx.to(biases.device()));  // [nq*nk, heads]
  return g.view({nq, nk, heads}).permute({2, 0, 1}).contiguous().view({1, heads, nq, nk});
}

enum class Kind { Attention, Mlp, Subsample };

struct Layer {
  Kind kind = Kind::Mlp;
  LinearBN qkv, queries, proj, up, down;  // attention: qkv/proj; subsample: qkv (keys_values)/queries/proj
  Tensor bias;
  int64_t heads = 0, key_dim = 0, ratio = 0, res_in = 0, res_out = 0, stride = 1;
};

class Levit : public Model {
 public:
  Levit(const ModelConfig& c, const WeightLoader& weights, const std::string& cls) {
    if (cls == "LevitModel") head_ = 0;
    else if (cls == "LevitForImageClassification") head_ = 1;
    else if (cls == "LevitForImageClassificationWithTeacher") head_ = 2;
    else fail(ErrorKind::Unsupported, "unsupported: levit/{}", cls);
    channels_ = c.dim_or("num_channels", 3, 1);
    const auto hidden = vision::int_list(c, "hidden_sizes", 1);
    const auto depths = vision::int_list(c, "depths", 0);
    const auto heads = vision::int_list(c, "num_attention_heads", 1);
    const auto key_dim = vision::int_list(c, "key_dim", 1);
    const auto ratio = vision::int_list(c, "attention_ratio", 1);
    const auto mlp = vision::int_list(c, "mlp_ratio", 0);
    const size_t n = depths.size();
    for (size_t len : {hidden.size(), heads.size(), key_dim.size(), ratio.size(), mlp.size()})
      IA_CHECK(len >= n, ErrorKind::Format, "{}: per-stage lists shorter than depths", c.source());
    const int64_t k = c.dim_or("kernel_size", 3, 1), stride = c.dim_or("stride", 2, 1), pad = c.dim_or("padding", 1, 0);
    auto w = weights.base("levit");
    const int64_t h0 = hidden[0];
    const int64_t stem_ch[5] = {channels_, h0 / 8, h0 / 4, h0 / 2, h0};
    for (int i = 0; i < 4; ++i) {
      auto e = w.pp("patch_embeddings").pp("embedding_layer_" + std::to_string(i + 1));
      ConvBN s;
      s.conv = Conv2d::load(e.pp("convolution"), stem_ch[i], stem_ch[i + 1], k, stride, pad, 1, false);
      s.norm = BatchNorm2d::load(e.pp("batch_norm"), stem_ch[i + 1]);
      s.act = i < 3 ? "hardswish" : "";
      stem_.push_back(s);
    }
    // LevitConfig's default: a Subsample between consecutive stages, heads = hidden_sizes[i] // key_dim[0].
    nlohmann::json down_ops = c.json().contains("down_ops") ? c.json()["down_ops"] : nlohmann::json::array();
    if (!c.json().contains("down_ops"))
      for (size_t s = 0; s + 1 < n && s < 2; ++s)
        down_ops.push_back({"Subsample", key_dim[0], hidden[s] / key_dim[0], 4, 2, 2});
    int64_t res = c.dim("image_size") / c.dim("patch_size");
    for (size_t s = 0; s < n; ++s) {
      auto sw = w.pp("encoder").pp("stages").pp(static_cast<int64_t>(s));
      std::vector<Layer> stage;
      int64_t li = 0;
      const int64_t D = hidden[s];
      for (int64_t d = 0; d < depths[s]; ++d) {
        Layer a;
        a.kind = Kind::Attention;
        a.heads = heads[s];
        a.key_dim = key_dim[s];
        a.ratio = ratio[s];
        a.res_in = a.res_out = res;
        auto m = sw.pp("layers").pp(li++).pp("module");
        const int64_t dh = a.ratio * a.key_dim * a.heads;
        a.qkv = LinearBN::load(m.pp("queries_keys_values"), D, dh + 2 * a.key_dim * a.heads);
        a.proj = LinearBN::load(m.pp("projection"), dh, D);
        a.bias = attention_bias(m.get("attention_biases", {a.heads, num_offsets(res, res, 1)}), res, res, 1);
        stage.push_back(std::move(a));
        if (mlp[s] > 0) stage.push_back(mlp_layer(sw.pp("layers").pp(li++).pp("module"), D, D * mlp[s]));
      }
      const nlohmann::json op = s < down_ops.size() ? down_ops[s] : nlohmann::json::array({""});
      if (op.is_array() && !op.empty() && op[0].is_string() && op[0].get<std::string>() == "Subsample") {
        IA_CHECK(op.size() == 6 && s + 1 < hidden.size(), ErrorKind::Format,
                 "{}: down_ops[{}] must be [\"Subsample\", key_dim, heads, ratio, mlp_ratio, stride]", c.source(), s);
        Layer sub;
        sub.kind = Kind::Subsample;
        sub.key_dim = op[1].get<int64_t>();
        sub.heads = op[2].get<int64_t>();
        sub.ratio = op[3].get<int64_t>();
        sub.stride = op[5].get<int64_t>();
        sub.res_in = res;
        sub.res_out = (res - 1) / sub.stride + 1;
        const int64_t out = hidden[s + 1], dh = sub.ratio * sub.key_dim * sub.heads;
        auto m = sw.pp("layers").pp(li++);
        sub.qkv = LinearBN::load(m.pp("keys_values"), D, dh + sub.key_dim * sub.heads);
        sub.queries = LinearBN::load(m.pp("queries"), D, sub.key_dim * sub.heads);
        sub.proj = LinearBN::load(m.pp("projection"), dh, out);
        sub.bias = attention_bias(
            m.get("attention_biases", {sub.heads, num_offsets(res, sub.res_out, sub.stride)}), res, sub.res_out,
            sub.stride);
        stage.push_back(std::move(sub));
        res = sub.res_out;
        const int64_t mr = op[4].get<int64_t>();
        if (mr > 0) stage.push_back(mlp_layer(sw.pp("layers").pp(li++).pp("module"), out, out * mr));
      } else {
        IA_CHECK(op.is_array() && !op.empty() && op[0].is_string() && op[0].get<std::string>().empty(),
                 ErrorKind::Unsupported, "{}: unsupported down_ops[{}] {}", c.source(), s, op.dump());
      }
      stages_.push_back(std::move(stage));
    }
    const int64_t last = hidden[n - 1];
    labels_ = vision::num_labels(c);
    if (head_ > 0 && labels_ > 0) {
      cls_norm_ = BatchNorm2d::load(weights.pp("classifier").pp("batch_norm"), last);
      cls_linear_ = Linear::load(weights.pp("classifier").pp("linear"), last, labels_);
      if (head_ == 2) {
        dist_norm_ = BatchNorm2d::load(weights.pp("classifier_distill").pp("batch_norm"), last);
        dist_linear_ = Linear::load(weights.pp("classifier_distill").pp("linear"), last, labels_);
      }
    }
  }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    Tensor x = vision::pixel_values(inputs, channels_, device());
    for (const auto& s : stem_) x = s(x);
    x = vision::to_tokens(x);
    std::vector<Tensor> hs;
    for (const auto& stage : stages_) {
      if (opts.output_hidden_states) hs.push_back(x);
      for (const auto& L : stage) x = layer(L, x);
    }
    if (opts.output_hidden_states) hs.push_back(x);
    Tensor pooled = ops::reduce(ReduceOp::Mean, x.transpose(1, 2));
    NamedTensors out;
    const std::string prefix = head_ > 0 ? "base." : "";
    if (head_ > 0) {
      Tensor cls = labels_ > 0 ? cls_linear_(cls_norm_(pooled)) : pooled;
      if (head_ == 1) {
        out.emplace_back("logits", cls);
      } else {
        Tensor dist = labels_ > 0 ? dist_linear_(dist_norm_(pooled)) : pooled;
        out.emplace_back("logits", ops::scale(ops::add(cls, dist), 0.5f));
        out.emplace_back("cls_logits", cls);
        out.emplace_back("distillation_logits", dist);
      }
    }
    out.emplace_back(prefix + "last_hidden_state", x);
    out.emplace_back(prefix + "pooler_output", pooled);
    if (opts.output_hidden_states) vision::append_hidden_states(out, hs);
    return out;
  }

 private:
  static int64_t num_offsets(int64_t res_in, int64_t res_out, int64_t stride) {
    std::map<std::pair<int64_t, int64_t>, int> seen;
    for (int64_t a = 0; a < res_out * res_out; ++a)
      for (int64_t b = 0; b < res_in * res_in; ++b)
        seen[{std::llabs(a / res_out * stride - b / res_in), std::llabs(a % res_out * stride - b % res_in)}] = 1;
    return static_cast<int64_t>(seen.size());
  }

  static Layer mlp_layer(const WeightLoader& m, int64_t dim, int64_t hidden) {
    Layer l;
    l.kind = Kind::Mlp;
    l.up = LinearBN::load(m.pp("linear_up"), dim, hidden);
    l.down = LinearBN::load(m.pp("linear_down"), hidden, dim);
    return l;
  }

  Tensor layer(const Layer& L, const Tensor& x) const {
    const int64_t B = x.dim(0), N = x.dim(1);
    if (L.kind == Kind::Mlp) return ops::add(x, L.down(ops::unary(UnaryOp::HardSwish, L.up(x))));
    IA_CHECK(N == L.res_in * L.res_in, ErrorKind::InvalidArgument,
             "levit: {} tokens, the attention biases were built for a {}x{} grid", N, L.res_in, L.res_in);
    const int64_t kd = L.key_dim, vd = L.ratio * L.key_dim;
    AttentionArgs args;
    args.scale = 1.0f / std::sqrt(static_cast<float>(kd));
    args.bias = L.bias;
    Tensor q, k, v;
    if (L.kind == Kind::Attention) {
      Tensor qkv = L.qkv(x).view({B, N, L.heads, 2 * kd + vd});
      q = qkv.slice(3, 0, kd).permute({0, 2, 1, 3});
      k = qkv.slice(3, kd, 2 * kd).permute({0, 2, 1, 3});
      v = qkv.slice(3, 2 * kd, 2 * kd + vd).permute({0, 2, 1, 3});
    } else {
      Tensor kv = L.qkv(x).view({B, N, L.heads, kd + vd});
      k = kv.slice(3, 0, kd).permute({0, 2, 1, 3});
      v = kv.slice(3, kd, kd + vd).permute({0, 2, 1, 3});
      // LevitSubsample: x.view(B, res, res, C)[:, ::stride, ::stride]
      Tensor rows = Tensor::empty({L.res_out * L.res_out}, DType::I64);
      int64_t* rp = rows.data<int64_t>();
      for (int64_t i = 0; i < L.res_out; ++i)
        for (int64_t j = 0; j < L.res_out; ++j) rp[i * L.res_out + j] = i * L.stride * L.res_in + j * L.stride;
      Tensor sub = ops::index_select(x.transpose(0, 1).contiguous(), rows.to(x.device())).transpose(0, 1);
      q = L.queries(sub.contiguous()).view({B, L.res_out * L.res_out, L.heads, kd}).permute({0, 2, 1, 3});
    }
    Tensor ctx = ops::attention(q, k, v, args);  // [B, Nq, heads, vd]
    Tensor y = L.proj(ops::unary(UnaryOp::HardSwish, ctx.reshape({B, ctx.dim(1), L.heads * vd})));
    return L.kind == Kind::Attention ? ops::add(x, y) : y;
  }

  int head_ = 0;
  int64_t channels_ = 3, labels_ = 0;
  std::vector<ConvBN> stem_;
  std::vector<std::vector<Layer>> stages_;
  BatchNorm2d cls_norm_, dist_norm_;
  Linear cls_linear_, dist_linear_;
};

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& w, const std::string& cls) {
  return std::make_unique<Levit>(c, w, cls);
}

}  // namespace
}  // namespace ia::levit

IA_REGISTER_MODEL(levit, {"levit", "vision",
                          {"LevitModel", "LevitForImageClassification", "LevitForImageClassificationWithTeacher"},
                          ia::levit::make})
