// MobileViT (HF modeling_mobilevit.py): conv stem, MobileNetV2 inverted residual layers, and MobileViT
// blocks (local kxk + 1x1 convs, unfold into p x p patches, transformer layers, fold back, projection and
// fusion with the block input); 1x1 expansion and mean pooling; MobileViTModel and
// MobileViTForImageClassification.
#include <cmath>

#include "models/vision/common.h"
#include "ops/interpolate.h"

namespace ia::mobilevit {
namespace {

using layers::LayerNorm;
using layers::Linear;
using vision::BatchNorm2d;
using vision::Conv2d;

int64_t make_divisible(double value, int64_t divisor) {
  int64_t v = std::max<int64_t>(divisor, static_cast<int64_t>(value + static_cast<double>(divisor) / 2.0) / divisor * divisor);
  if (static_cast<double>(v) < 0.9 * value) v += divisor;
  return v;
}

// MobileViTConvLayer: conv (padding (k-1)/2 * dilation, no bias) -> optional BatchNorm (eps 1e-5) -> activation.
struct ConvLayer {
  Conv2d conv;
  BatchNorm2d norm;
  std::string act;  // "" = none
  static ConvLayer load(const WeightLoader& w, int64_t in, int64_t out, int64_t k, int64_t stride, int64_t groups,
                        int64_t dilation, bool normalize, const std::string& act) {
    ConvLayer c;
    c.conv = Conv2d::load(w.pp("convolution"), in, out, k, stride, (k - 1) / 2 * dilation, groups, false, dilation);
    if (normalize) c.norm = BatchNorm2d::load(w.pp("normalization"), out, 1e-5);
    c.act = act;
    return c;
  }
  Tensor operator()(const Tensor& x) const {
    Tensor y = conv(x);
    if (norm.weight.defined()) y = norm(y);
    return act.empty() ? y : ops::activation(y, act);
  }
};

struct InvertedResidual {
  ConvLayer expand, depthwise, reduce;
  bool residual = false;
  static InvertedResidual load(const WeightLoader& w, int64_t in, int64_t out, int64_t stride, int64_t dilation,
                               double expand_ratio, const std::string& act) {
    InvertedResidual r;
    const int64_t e = make_divisible(static_cast<double>(static_cast<int64_t>(std::nearbyint(in * expand_ratio))), 8);
    r.residual = stride == 1 && in == out;
    r.expand = ConvLayer::load(w.pp("expand_1x1"), in, e, 1, 1, 1, 1, true, act);
    r.depthwise = ConvLayer::load(w.pp("conv_3x3"), e, e, 3, stride, e, dilation, true, act);
    r.reduce = ConvLayer::load(w.pp("reduce_1x1"), e, out, 1, 1, 1, 1, true, "");
    return r;
  }
  Tensor operator()(const Tensor& x) const {
    Tensor y = reduce(depthwise(expand(x)));
    return residual ? ops::add(x, y) : y;
  }
};

struct TransformerLayer {
  LayerNorm before, after;
  Linear query, key, value, attn_out, intermediate, output;
};

struct ViTBlock {
  bool downsample = false;
  InvertedResidual down;
  ConvLayer conv_kxk, conv_1x1, projection, fusion;
  std::vector<TransformerLayer> layers;
  LayerNorm norm;
  int64_t hidden = 0;
};

// One encoder stage: either MobileNet layers or a MobileViT block.
struct Stage {
  std::vector<InvertedResidual> mobilenet;
  std::unique_ptr<ViTBlock> vit;
};

class MobileViT : public Model {
 public:
  MobileViT(const ModelConfig& c, const WeightLoader& weights, const std::string& cls) {
    classify_ = cls == "MobileViTForImageClassification";
    if (!classify_) IA_CHECK(cls == "MobileViTModel", ErrorKind::Unsupported, "unsupported: mobilevit/{}", cls);
    channels_ = c.dim_or("num_channels", 3, 1);
    const auto neck = vision::int_list(c, "neck_hidden_sizes", 1);
    const auto hidden = vision::int_list(c, "hidden_sizes", 1);
    IA_CHECK(neck.size() >= 7 && hidden.size() >= 3, ErrorKind::Format,
             "{}: neck_hidden_sizes needs 7 entries and hidden_sizes 3", c.source());
    act_ = c.str_or("hidden_act", "silu");
    ops::activation_op(act_);
    patch_ = c.dim_or("patch_size", 2, 1);
    heads_ = c.dim_or("num_attention_heads", 4, 1);
    eps_ = c.number_or("layer_norm_eps", 1e-5);
    expand_ratio_ = c.number_or("expand_ratio", 4.0);
    mlp_ratio_ = c.number_or("mlp_ratio", 2.0);
    kernel_ = c.dim_or("conv_kernel_size", 3, 1);
    qkv_bias_ = c.flag_or("qkv_bias", true);
    const int64_t output_stride = c.dim_or("output_stride", 32, 1);
    auto w = weights.base("mobilevit");
    stem_ = ConvLayer::load(w.pp("conv_stem"), channels_, neck[0], 3, 2, 1, 1, true, act_);
    auto enc = w.pp("encoder").pp("layer");
    // layer_1: 1 inverted residual, layer_2: 3 (first with stride 2).
    Stage s1, s2;
    s1.mobilenet.push_back(InvertedResidual::load(enc.pp(0).pp("layer").pp(0), neck[0], neck[1], 1, 1, expand_ratio_, act_));
    for (int64_t i = 0; i < 3; ++i)
      s2.mobilenet.push_back(InvertedResidual::load(enc.pp(1).pp("layer").pp(i), i == 0 ? neck[1] : neck[2], neck[2],
                                                    i == 0 ? 2 : 1, 1, expand_ratio_, act_));
    stages_.push_back(std::move(s1));
    stages_.push_back(std::move(s2));
    int64_t dilation = 1;
    const int64_t depth[3] = {2, 4, 3};
    for (int64_t i = 0; i < 3; ++i) {
      if ((i == 1 && output_stride == 8) || (i == 2 && (output_stride == 8 || output_stride == 16))) dilation *= 2;
      Stage st;
      st.vit = load_block(enc.pp(2 + i), neck[2 + i], neck[3 + i], hidden[i], depth[i], dilation);
      stages_.push_back(std::move(st));
    }
    expand_ = ConvLayer::load(w.pp("conv_1x1_exp"), neck[5], neck[6], 1, 1, 1, 1, true, act_);
    if (classify_) {
      const int64_t labels = vision::num_labels(c);
      if (labels > 0) classifier_ = Linear::load(weights.pp("classifier"), neck[6], labels);
    }
  }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    Tensor x = stem_(vision::pixel_values(inputs, channels_, device()));
    std::vector<Tensor> hs;
    for (const auto& st : stages_) {
      if (st.vit) x = vit_block(*st.vit, x);
      for (const auto& l : st.mobilenet) x = l(x);
      if (opts.output_hidden_states) hs.push_back(x);
    }
    Tensor last = expand_(x);
    Tensor pooled = vision::spatial_mean(last);
    NamedTensors out;
    const std::string prefix = classify_ ? "base." : "";
    if (classify_) out.emplace_back("logits", classifier_.defined() ? classifier_(pooled) : pooled);
    out.emplace_back(prefix + "last_hidden_state", last);
    out.emplace_back(prefix + "pooler_output", pooled);
    if (opts.output_hidden_states) vision::append_hidden_states(out, hs);
    return out;
  }

 private:
  std::unique_ptr<ViTBlock> load_block(const WeightLoader& w, int64_t in, int64_t out, int64_t hidden, int64_t depth,
                                       int64_t dilation) const {
    auto b = std::make_unique<ViTBlock>();
    b->hidden = hidden;
    IA_CHECK(hidden % heads_ == 0, ErrorKind::Format, "mobilevit: hidden size {} not divisible by {} heads", hidden,
             heads_);
    b->downsample = true;  // every MobileViT block of the encoder has stride 2
    b->down = InvertedResidual::load(w.pp("downsampling_layer"), in, out, dilation == 1 ? 2 : 1,
                                     dilation > 1 ? dilation / 2 : 1, expand_ratio_, act_);
    b->conv_kxk = ConvLayer::load(w.pp("conv_kxk"), out, out, kernel_, 1, 1, 1, true, act_);
    b->conv_1x1 = ConvLayer::load(w.pp("conv_1x1"), out, hidden, 1, 1, 1, 1, false, "");
    const int64_t inter = static_cast<int64_t>(static_cast<double>(hidden) * mlp_ratio_);
    for (int64_t i = 0; i < depth; ++i) {
      auto l = w.pp("transformer").pp("layer").pp(i);
      auto att = l.pp("attention");
      TransformerLayer t;
      t.before = LayerNorm::load(l.pp("layernorm_before"), hidden, eps_);
      t.after = LayerNorm::load(l.pp("layernorm_after"), hidden, eps_);
      t.query = Linear::load(att.pp("attention").pp("query"), hidden, hidden, qkv_bias_);
      t.key = Linear::load(att.pp("attention").pp("key"), hidden, hidden, qkv_bias_);
      t.value = Linear::load(att.pp("attention").pp("value"), hidden, hidden, qkv_bias_);
      t.attn_out = Linear::load(att.pp("output").pp("dense"), hidden, hidden);
      t.intermediate = Linear::load(l.pp("intermediate").pp("dense"), hidden, inter);
      t.output = Linear::load(l.pp("output").pp("dense"), inter, hidden);
      b->layers.push_back(std::move(t));
    }
    b->norm = LayerNorm::load(w.pp("layernorm"), hidden, eps_);
    b->projection = ConvLayer::load(w.pp("conv_projection"), hidden, out, 1, 1, 1, 1, true, act_);
    b->fusion = ConvLayer::load(w.pp("fusion"), 2 * out, out, kernel_, 1, 1, 1, true, act_);
    return b;
  }

  Tensor vit_block(const ViTBlock& b, const Tensor& input) const {
    Tensor x = b.downsample ? b.down(input) : input;
    Tensor residual = x;
    Tensor f = b.conv_1x1(b.conv_kxk(x));
    // unfolding: resize (bilinear) to multiples of the patch size, then [B*p*p, patches, C].
    const int64_t B = f.dim(0), C = f.dim(1), H = f.dim(2), W = f.dim(3), p = patch_;
    const int64_t Hn = (H + p - 1) / p * p, Wn = (W + p - 1) / p * p;
    const bool resize = Hn != H || Wn != W;
    InterpolateArgs bilinear;
    if (resize) f = ops::interpolate(f, Hn, Wn, bilinear);
    const int64_t nph = Hn / p, npw = Wn / p;
    Tensor patches = f.contiguous()
                         .view({B, C, nph, p, npw, p})
                         .permute({0, 3, 5, 2, 4, 1})
                         .contiguous()
                         .view({B * p * p, nph * npw, C});
    for (const auto& t : b.layers) {
      Tensor h = t.before(patches);
      Tensor q = layers::split_heads(t.query(h), heads_);
      Tensor k = layers::split_heads(t.key(h), heads_);
      Tensor v = layers::split_heads(t.value(h), heads_);
      AttentionArgs args;
      args.scale = 1.0f / std::sqrt(static_cast<float>(b.hidden / heads_));
      patches = ops::add(t.attn_out(layers::merge_heads(ops::attention(q, k, v, args))), patches);
      patches = ops::add(t.output(ops::activation(t.intermediate(t.after(patches)), act_)), patches);
    }
    patches = b.norm(patches);
    // folding
    Tensor g = patches.view({B, p, p, nph, npw, C}).permute({0, 5, 3, 1, 4, 2}).contiguous().view({B, C, Hn, Wn});
    if (resize) g = ops::interpolate(g, H, W, bilinear);
    g = b.projection(g);
    return b.fusion(ops::concat({residual, g}, 1));
  }

  bool classify_ = false, qkv_bias_ = true;
  int64_t channels_ = 3, patch_ = 2, heads_ = 4, kernel_ = 3;
  double eps_ = 1e-5, expand_ratio_ = 4.0, mlp_ratio_ = 2.0;
  std::string act_;
  ConvLayer stem_, expand_;
  std::vector<Stage> stages_;
  Linear classifier_;
};

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& w, const std::string& cls) {
  return std::make_unique<MobileViT>(c, w, cls);
}

}  // namespace
}  // namespace ia::mobilevit

IA_REGISTER_MODEL(mobilevit, {"mobilevit", "vision", {"MobileViTModel", "MobileViTForImageClassification"},
                              ia::mobilevit::make})
