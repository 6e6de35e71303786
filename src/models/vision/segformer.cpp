// SegFormer (HF modeling_segformer.py): Mix Transformer encoder (overlapping conv patch embeddings,
// efficient self-attention with conv sequence reduction, Mix-FFN with a depthwise 3x3 conv) and the all-MLP
// decode head (per-stage linear, bilinear upsampling to 1/4 resolution, fuse conv + BatchNorm + ReLU,
// classifier conv); SegformerModel, SegformerForSemanticSegmentation, SegformerForImageClassification.
#include <algorithm>
#include <cmath>

#include "models/vision/common.h"
#include "ops/interpolate.h"

namespace ia::segformer {
namespace {

using layers::LayerNorm;
using layers::Linear;
using vision::BatchNorm2d;
using vision::Conv2d;

constexpr double kEps = 1e-5;  // every SegFormer nn.LayerNorm uses the default eps

struct Layer {
  LayerNorm norm1, norm2, sr_norm;
  Linear query, key, value, attn_out, dense1, dense2;
  Conv2d sr, dwconv;
};

struct Stage {
  Conv2d patch;
  LayerNorm patch_norm, norm;
  int64_t heads = 1;
  std::vector<Layer> layers;
};

enum class Head { None, SemanticSegmentation, ImageClassification };

class Segformer : public Model {
 public:
  Segformer(const ModelConfig& c, const WeightLoader& weights, const std::string& cls) {
    if (cls == "SegformerModel") head_ = Head::None;
    else if (cls == "SegformerForSemanticSegmentation") head_ = Head::SemanticSegmentation;
    else if (cls == "SegformerForImageClassification") head_ = Head::ImageClassification;
    else fail(ErrorKind::Unsupported, "unsupported: segformer/{}", cls);
    channels_ = c.dim_or("num_channels", 3, 1);
    const int64_t n = c.dim("num_encoder_blocks");
    hidden_ = vision::int_list(c, "hidden_sizes", 1);
    const auto depths = vision::int_list(c, "depths", 0);
    const auto heads = vision::int_list(c, "num_attention_heads", 1);
    const auto patch = vision::int_list(c, "patch_sizes", 1);
    const auto strides = vision::int_list(c, "strides", 1);
    const auto sr = vision::int_list(c, "sr_ratios", 1);
    const auto mlp = vision::number_list(c, "mlp_ratios");
    for (size_t len : {hidden_.size(), depths.size(), heads.size(), patch.size(), strides.size(), sr.size(), mlp.size()})
      IA_CHECK(len >= static_cast<size_t>(n), ErrorKind::Format, "{}: per-stage lists shorter than num_encoder_blocks {}",
               c.source(), n);
    reshape_last_ = c.flag_or("reshape_last_stage", true);
    act_ = c.str_or("hidden_act", "gelu");
    ops::activation_op(act_);
    auto w = weights.base("segformer").pp("encoder");
    for (int64_t i = 0; i < n; ++i) {
      const int64_t D = hidden_[i], I = static_cast<int64_t>(static_cast<double>(D) * mlp[i]);
      IA_CHECK(D % heads[i] == 0, ErrorKind::Format, "{}: hidden size {} not divisible by {} heads", c.source(), D,
               heads[i]);
      Stage st;
      st.heads = heads[i];
      auto pe = w.pp("patch_embeddings").pp(i);
      st.patch = Conv2d::load(pe.pp("proj"), i == 0 ? channels_ : hidden_[i - 1], D, patch[i], strides[i], patch[i] / 2);
      st.patch_norm = LayerNorm::load(pe.pp("layer_norm"), D, kEps);
      for (int64_t j = 0; j < depths[i]; ++j) {
        auto l = w.pp("block").pp(i).pp(j);
        auto self = l.pp("attention").pp("self");
        Layer L;
        L.norm1 = LayerNorm::load(l.pp("layer_norm_1"), D, kEps);
        L.norm2 = LayerNorm::load(l.pp("layer_norm_2"), D, kEps);
        L.query = Linear::load(self.pp("query"), D, D);
        L.key = Linear::load(self.pp("key"), D, D);
        L.value = Linear::load(self.pp("value"), D, D);
        if (sr[i] > 1) {
          L.sr = Conv2d::load(self.pp("sr"), D, D, sr[i], sr[i]);
          L.sr_norm = LayerNorm::load(self.pp("layer_norm"), D, kEps);
        }
        L.attn_out = Linear::load(l.pp("attention").pp("output").pp("dense"), D, D);
        L.dense1 = Linear::load(l.pp("mlp").pp("dense1"), D, I);
        L.dwconv = Conv2d::load(l.pp("mlp").pp("dwconv").pp("dwconv"), I, I, 3, 1, 1, I);
        L.dense2 = Linear::load(l.pp("mlp").pp("dense2"), I, D);
        st.layers.push_back(std::move(L));
      }
      st.norm = LayerNorm::load(w.pp("layer_norm").pp(i), D, kEps);
      stages_.push_back(std::move(st));
    }
    const int64_t labels = vision::num_labels(c);
    if (head_ == Head::SemanticSegmentation) {
      auto d = weights.pp("decode_head");
      const int64_t dh = c.dim("decoder_hidden_size");
      for (int64_t i = 0; i < n; ++i) linear_c_.push_back(Linear::load(d.pp("linear_c").pp(i).pp("proj"), hidden_[i], dh));
      fuse_ = Conv2d::load(d.pp("linear_fuse"), dh * n, dh, 1, 1, 0, 1, false);
      fuse_norm_ = BatchNorm2d::load(d.pp("batch_norm"), dh);
      seg_classifier_ = Conv2d::load(d.pp("classifier"), dh, labels, 1);
    } else if (head_ == Head::ImageClassification && labels > 0) {
      classifier_ = Linear::load(weights.pp("classifier"), hidden_[n - 1], labels);
    }
  }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    Tensor x = vision::pixel_values(inputs, channels_, device());
    std::vector<Tensor> hs;  // per-stage outputs (NCHW, except a non-reshaped last stage)
    for (size_t i = 0; i < stages_.size(); ++i) {
      const Stage& st = stages_[i];
      Tensor grid = st.patch(x);
      const int64_t H = grid.dim(2), W = grid.dim(3);
      Tensor h = st.patch_norm(vision::to_tokens(grid));
      for (const auto& L : st.layers) h = layer(st, L, h, H, W);
      h = st.norm(h);
      const bool last = i + 1 == stages_.size();
      x = (!last || reshape_last_) ? vision::to_nchw(h, H, W) : h;
      hs.push_back(x);
    }
    NamedTensors out;
    const std::string prefix = head_ == Head::None ? "" : "base.";
    if (head_ == Head::SemanticSegmentation) out.emplace_back("logits", decode(hs));
    if (head_ == Head::ImageClassification) {
      Tensor tokens = reshape_last_ ? vision::to_tokens(x) : x;
      Tensor pooled = ops::reduce(ReduceOp::Mean, tokens.transpose(1, 2));
      out.emplace_back("logits", classifier_.defined() ? classifier_(pooled) : pooled);
    }
    out.emplace_back(prefix + "last_hidden_state", x);
    if (opts.output_hidden_states) vision::append_hidden_states(out, hs);
    return out;
  }

 private:
  Tensor layer(const Stage& st, const Layer& L, const Tensor& h, int64_t H, int64_t W) const {
    Tensor x = L.norm1(h);
    Tensor kv = x;
    if (L.sr.weight.defined()) kv = L.sr_norm(vision::to_tokens(L.sr(vision::to_nchw(x, H, W))));
    Tensor q = layers::split_heads(L.query(x), st.heads);
    Tensor k = layers::split_heads(L.key(kv), st.heads);
    Tensor v = layers::split_heads(L.value(kv), st.heads);
    AttentionArgs args;
    args.scale = 1.0f / std::sqrt(static_cast<float>(h.dim(2) / st.heads));
    Tensor h1 = ops::add(L.attn_out(layers::merge_heads(ops::attention(q, k, v, args))), h);
    Tensor m = L.dense1(L.norm2(h1));
    m = vision::to_tokens(L.dwconv(vision::to_nchw(m, H, W)));
    m = L.dense2(ops::activation(m, act_));
    return ops::add(m, h1);
  }

  Tensor decode(const std::vector<Tensor>& hs) const {
    IA_CHECK(hs.back().ndim() == 4, ErrorKind::Unsupported,
             "segformer: decode head with reshape_last_stage=false (square-root reshape) is not supported");
    const int64_t H0 = hs[0].dim(2), W0 = hs[0].dim(3);
    std::vector<Tensor> ups;
    InterpolateArgs bilinear;
    for (size_t i = 0; i < hs.size(); ++i) {
      const int64_t H = hs[i].dim(2), W = hs[i].dim(3);
      Tensor t = vision::to_nchw(linear_c_[i](vision::to_tokens(hs[i])), H, W);
      ups.push_back(ops::interpolate(t, H0, W0, bilinear));
    }
    std::reverse(ups.begin(), ups.end());
    Tensor f = ops::unary(UnaryOp::Relu, fuse_norm_(fuse_(ops::concat(ups, 1))));
    return seg_classifier_(f);
  }

  Head head_ = Head::None;
  int64_t channels_ = 3;
  bool reshape_last_ = true;
  std::string act_;
  std::vector<int64_t> hidden_;
  std::vector<Stage> stages_;
  std::vector<Linear> linear_c_;
  Conv2d fuse_, seg_classifier_;
  BatchNorm2d fuse_norm_;
  Linear classifier_;
};

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& w, const std::string& cls) {
  return std::make_unique<Segformer>(c, w, cls);
}

}  // namespace
}  // namespace ia::segformer

IA_REGISTER_MODEL(segformer, {"segformer", "vision",
                              {"SegformerModel", "SegformerForSemanticSegmentation", "SegformerForImageClassification"},
                              ia::segformer::make})
