// ConvNeXt (HF modeling_convnext.py): patchify conv + channels-first LayerNorm stem, stages of
// [LayerNorm + 2x2/2 conv downsampling] + blocks (7x7 depthwise conv -> LayerNorm -> MLP -> LayerScale,
// residual), mean pool + LayerNorm; ConvNextModel and ConvNextForImageClassification. Also builds V2.
#include "models/vision/convnext.h"

namespace ia::convnext {
namespace {

using layers::LayerNorm;
using layers::Linear;
using vision::Conv2d;

constexpr double kBlockEps = 1e-6;  // HF hard-codes eps=1e-6 for every ConvNextLayerNorm

struct Block {
  Conv2d dwconv;
  LayerNorm norm;
  Linear pw1, pw2;
  Tensor layer_scale;          // V1, optional
  Tensor grn_weight, grn_bias;  // V2
};

struct Stage {
  bool downsample = false;
  LayerNorm down_norm;
  Conv2d down_conv;
  std::vector<Block> blocks;
};

// ConvNextV2GRN over NHWC x: x + bias + weight * x * ||x||_hw / (mean_c ||x||_hw + 1e-6).
Tensor grn(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const int64_t B = x.dim(0), C = x.dim(3), HW = x.dim(1) * x.dim(2);
  Tensor sq = ops::unary(UnaryOp::Square, x).view({B, HW, C}).transpose(1, 2);
  Tensor g = ops::unary(UnaryOp::Sqrt, ops::reduce(ReduceOp::Sum, sq));  // [B, C]
  Tensor mean = ops::scale(ops::reduce(ReduceOp::Mean, g), 1.0f, 1e-6f).view({B, 1});
  Tensor n = ops::div(g, mean).view({B, 1, 1, C});
  return ops::add(ops::add(ops::mul(weight.view({C}), ops::mul(x, n)), bias.view({C})), x);
}

class ConvNext : public Model {
 public:
  ConvNext(const ModelConfig& c, const WeightLoader& weights, const std::string& cls, bool v2) : v2_(v2) {
    const std::string prefix = v2 ? "ConvNextV2" : "ConvNext";
    classify_ = cls == prefix + "ForImageClassification";
    if (!classify_)
      IA_CHECK(cls == prefix + "Model", ErrorKind::Unsupported, "unsupported: {}/{}", c.model_type(), cls);
    channels_ = c.dim_or("num_channels", 3, 1);
    const auto hidden = vision::int_list(c, "hidden_sizes", 1);
    const auto depths = vision::int_list(c, "depths", 0);
    const int64_t num_stages = c.dim_or("num_stages", static_cast<int64_t>(hidden.size()), 1);
    IA_CHECK(hidden.size() >= static_cast<size_t>(num_stages) && depths.size() >= static_cast<size_t>(num_stages),
             ErrorKind::Format, "{}: hidden_sizes/depths shorter than num_stages {}", c.source(), num_stages);
    act_ = c.str_or("hidden_act", "gelu");
    ops::activation_op(act_);
    const int64_t patch = c.dim_or("patch_size", 4, 1);
    const double layer_scale = v2 ? 0.0 : c.number_or("layer_scale_init_value", 1e-6);
    auto w = weights.base(v2 ? "convnextv2" : "convnext");
    stem_ = Conv2d::load(w.pp("embeddings").pp("patch_embeddings"), channels_, hidden[0], patch, patch);
    stem_norm_ = LayerNorm::load(w.pp("embeddings").pp("layernorm"), hidden[0], kBlockEps);
    int64_t prev = hidden[0];
    for (int64_t i = 0; i < num_stages; ++i) {
      auto s = w.pp("encoder").pp("stages").pp(i);
      const int64_t out = hidden[i], stride = i > 0 ? 2 : 1;
      Stage st;
      st.downsample = prev != out || stride > 1;
      if (st.downsample) {
        st.down_norm = LayerNorm::load(s.pp("downsampling_layer").pp(0), prev, kBlockEps);
        st.down_conv = Conv2d::load(s.pp("downsampling_layer").pp(1), prev, out, 2, stride);
      }
      for (int64_t j = 0; j < depths[i]; ++j) {
        auto l = s.pp("layers").pp(j);
        Block b;
        b.dwconv = Conv2d::load(l.pp("dwconv"), out, out, 7, 1, 3, out);
        b.norm = LayerNorm::load(l.pp("layernorm"), out, kBlockEps);
        b.pw1 = Linear::load(l.pp("pwconv1"), out, 4 * out);
        b.pw2 = Linear::load(l.pp("pwconv2"), 4 * out, out);
        if (layer_scale > 0) b.layer_scale = l.get("layer_scale_parameter", {out});
        if (v2) {
          b.grn_weight = l.pp("grn").get("weight", {1, 1, 1, 4 * out});
          b.grn_bias = l.pp("grn").get("bias", {1, 1, 1, 4 * out});
        }
        st.blocks.push_back(std::move(b));
      }
      stages_.push_back(std::move(st));
      prev = out;
    }
    norm_ = LayerNorm::load(w.pp("layernorm"), prev, c.number_or("layer_norm_eps", 1e-12));
    if (classify_) {
      const int64_t labels = vision::num_labels(c);
      if (labels > 0) classifier_ = Linear::load(weights.pp("classifier"), prev, labels);
    }
  }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    Tensor x = vision::layer_norm_channels(stem_(vision::pixel_values(inputs, channels_, device())), stem_norm_);
    std::vector<Tensor> hs;
    for (const auto& st : stages_) {
      if (opts.output_hidden_states) hs.push_back(x);
      if (st.downsample) x = st.down_conv(vision::layer_norm_channels(x, st.down_norm));
      for (const auto& b : st.blocks) {
        Tensor y = b.dwconv(x).permute({0, 2, 3, 1}).contiguous();  // NHWC
        y = ops::activation(b.pw1(b.norm(y)), act_);
        if (v2_) y = grn(y, b.grn_weight, b.grn_bias);
        y = b.pw2(y);
        if (b.layer_scale.defined()) y = ops::mul(b.layer_scale, y);
        x = ops::add(x, y.permute({0, 3, 1, 2}));
      }
    }
    if (opts.output_hidden_states) hs.push_back(x);
    Tensor pooled = norm_(vision::spatial_mean(x));
    NamedTensors out;
    const std::string prefix = classify_ ? "base." : "";
    if (classify_) out.emplace_back("logits", classifier_.defined() ? classifier_(pooled) : pooled);
    out.emplace_back(prefix + "last_hidden_state", x);
    out.emplace_back(prefix + "pooler_output", pooled);
    if (opts.output_hidden_states) vision::append_hidden_states(out, hs);
    return out;
  }

 private:
  bool v2_ = false, classify_ = false;
  int64_t channels_ = 3;
  std::string act_;
  Conv2d stem_;
  LayerNorm stem_norm_, norm_;
  std::vector<Stage> stages_;
  Linear classifier_;
};

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& w, const std::string& cls) {
  return make_model(c, w, cls, false);
}

}  // namespace

std::unique_ptr<Model> make_model(const ModelConfig& c, const WeightLoader& w, const std::string& cls, bool v2) {
  return std::make_unique<ConvNext>(c, w, cls, v2);
}

}  // namespace ia::convnext

IA_REGISTER_MODEL(convnext, {"convnext", "vision", {"ConvNextModel", "ConvNextForImageClassification"},
                             ia::convnext::make})
