// BEiT (HF modeling_beit.py): ViT-style encoder with per-layer (or shared) relative position bias over the
// patch grid plus [CLS] entries, LayerScale (lambda_1/lambda_2), optional absolute positions, and mean pooling
// (LayerNorm of the patch-token mean) or [CLS] pooling. BeitModel and BeitForImageClassification.
#include <cmath>

#include "models/vision/common.h"
#include "ops/interpolate.h"

namespace ia::beit {
namespace {

using layers::LayerNorm;
using layers::Linear;

struct Config {
  int64_t hidden = 0, layers = 0, heads = 0, intermediate = 0, channels = 3, image_h = 0, image_w = 0, patch = 0;
  bool absolute_positions = false, relative_bias = false, shared_relative_bias = false, mean_pooling = true;
  double layer_scale = 0.1, eps = 1e-12;
  std::string act = "gelu";
};

Config parse(const ModelConfig& c) {
  Config k;
  k.hidden = c.dim("hidden_size");
  k.layers = c.dim("num_hidden_layers", 0, 1024);
  k.heads = c.dim("num_attention_heads");
  k.intermediate = c.dim("intermediate_size");
  k.channels = c.dim_or("num_channels", 3, 1);
  std::tie(k.image_h, k.image_w) = vision::hw_pair(c, "image_size");
  k.patch = c.dim("patch_size");  // HF divides the resolution by it as an int
  k.absolute_positions = c.flag_or("use_absolute_position_embeddings", false);
  k.relative_bias = c.flag_or("use_relative_position_bias", false);
  k.shared_relative_bias = c.flag_or("use_shared_relative_position_bias", false);
  k.mean_pooling = c.flag_or("use_mean_pooling", true);
  k.layer_scale = c.number_or("layer_scale_init_value", 0.1);
  k.eps = c.number_or("layer_norm_eps", 1e-12);
  k.act = c.str_or("hidden_act", "gelu");
  ops::activation_op(k.act);
  IA_CHECK(k.hidden % k.heads == 0, ErrorKind::Format, "{}: hidden_size {} is not a multiple of num_attention_heads {}",
           c.source(), k.hidden, k.heads);
  return k;
}

// BeitRelativePositionBias: a table over (2*Wh-1)*(2*Ww-1) relative offsets + 3 [CLS] entries, resampled
// (bilinear, as HF does) to the input's patch grid and gathered into a [1, heads, S, S] attention bias.
struct RelativePositionBias {
  Tensor table;              // [(2*Wh-1)*(2*Ww-1)+3, heads]
  int64_t window_h = 0, window_w = 0;

  static RelativePositionBias load(const WeightLoader& w, int64_t wh, int64_t ww, int64_t heads) {
    RelativePositionBias r;
    r.window_h = wh;
    r.window_w = ww;
    r.table = w.get("relative_position_bias_table", {(2 * wh - 1) * (2 * ww - 1) + 3, heads});
    return r;
  }

  Tensor operator()(int64_t wh, int64_t ww) const {
    const int64_t heads = table.dim(1), old_h = 2 * window_h - 1, old_w = 2 * window_w - 1;
    const int64_t new_h = 2 * wh - 1, new_w = 2 * ww - 1, old_n = old_h * old_w, new_n = new_h * new_w;
    // HF reshapes the sub-table as (old_width, old_height) and resizes it to (new_height, new_width).
    Tensor sub = table.slice(0, 0, old_n).reshape({1, old_w, old_h, heads}).permute({0, 3, 1, 2});
    InterpolateArgs args;
    args.mode = InterpMode::Bilinear;
    Tensor resized = ops::interpolate(sub, new_h, new_w, args).permute({0, 2, 3, 1}).contiguous().view({new_n, heads});
    Tensor full = ops::concat({resized, table.slice(0, old_n, old_n + 3).contiguous()}, 0);
    const int64_t area = wh * ww, S = area + 1;
    Tensor index = Tensor::empty({S * S}, DType::I64);
    int64_t* ip = index.data<int64_t>();
    for (int64_t i = 0; i < area; ++i)
      for (int64_t j = 0; j < area; ++j) {
        const int64_t dh = i / ww - j / ww + wh - 1, dw = i % ww - j % ww + ww - 1;
        ip[(i + 1) * S + (j + 1)] = dh * (2 * ww - 1) + dw;
      }
    for (int64_t j = 0; j < S; ++j) ip[j] = new_n;        // cls -> token
    for (int64_t i = 0; i < S; ++i) ip[i * S] = new_n + 1;  // token -> cls
    ip[0] = new_n + 2;                                      // cls -> cls
    Tensor bias = ops::index_select(full, index.to(table.device())).view({S, S, heads});
    return bias.permute({2, 0, 1}).contiguous().view({1, heads, S, S});
  }
};

struct Layer {
  LayerNorm before, after;
  Linear query, key, value, attn_out, intermediate, output;
  Tensor lambda1, lambda2;
  RelativePositionBias rel;
};

class Beit : public Model {
 public:
  Beit(const ModelConfig& c, const WeightLoader& weights, const std::string& cls) {
    cfg_ = parse(c);
    classify_ = cls == "BeitForImageClassification";
    if (!classify_) IA_CHECK(cls == "BeitModel", ErrorKind::Unsupported, "unsupported: beit/{}", cls);
    const int64_t H = cfg_.hidden, wh = cfg_.image_h / cfg_.patch, ww = cfg_.image_w / cfg_.patch;
    auto w = weights.base("beit");
    auto emb = w.pp("embeddings");
    auto proj = emb.pp("patch_embeddings").pp("projection");
    patch_ = vision::Conv2d::load(proj, cfg_.channels, H, cfg_.patch, cfg_.patch);
    cls_token_ = emb.get("cls_token", {1, 1, H});
    if (cfg_.absolute_positions) positions_ = emb.get("position_embeddings", {1, wh * ww + 1, H});
    if (cfg_.shared_relative_bias)
      shared_rel_ = RelativePositionBias::load(w.pp("encoder").pp("relative_position_bias"), wh, ww, cfg_.heads);
    for (int64_t i = 0; i < cfg_.layers; ++i) {
      auto l = w.pp("encoder").pp("layer").pp(i);
      auto att = l.pp("attention");
      Layer L;
      L.before = LayerNorm::load(l.pp("layernorm_before"), H, cfg_.eps);
      L.after = LayerNorm::load(l.pp("layernorm_after"), H, cfg_.eps);
      L.query = Linear::load(att.pp("attention").pp("query"), H, H);
      L.key = Linear::load(att.pp("attention").pp("key"), H, H, false);
      L.value = Linear::load(att.pp("attention").pp("value"), H, H);
      L.attn_out = Linear::load(att.pp("output").pp("dense"), H, H);
      L.intermediate = Linear::load(l.pp("intermediate").pp("dense"), H, cfg_.intermediate);
      L.output = Linear::load(l.pp("output").pp("dense"), cfg_.intermediate, H);
      if (cfg_.layer_scale > 0) {
        L.lambda1 = l.get("lambda_1", {H});
        L.lambda2 = l.get("lambda_2", {H});
      }
      if (cfg_.relative_bias)
        L.rel = RelativePositionBias::load(att.pp("attention").pp("relative_position_bias"), wh, ww, cfg_.heads);
      layers_.push_back(std::move(L));
    }
    if (!cfg_.mean_pooling) final_norm_ = LayerNorm::load(w.pp("layernorm"), H, cfg_.eps);
    // BeitModel always builds the pooler (add_pooling_layer=True), also under the classification head.
    if (cfg_.mean_pooling) pool_norm_ = LayerNorm::load(w.pp("pooler").pp("layernorm"), H, cfg_.eps);
    if (classify_) {
      const int64_t labels = vision::num_labels(c);
      if (labels > 0) classifier_ = Linear::load(weights.pp("classifier"), H, labels);
    }
  }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    Tensor pixels = vision::pixel_values(inputs, cfg_.channels, device());
    IA_CHECK(!(cfg_.absolute_positions && inputs.count("interpolate_pos_encoding") &&
               inputs.at("interpolate_pos_encoding").item() != 0.0f),
             ErrorKind::Unsupported, "beit: interpolate_pos_encoding with use_absolute_position_embeddings");
    const int64_t wh = pixels.dim(2) / cfg_.patch, ww = pixels.dim(3) / cfg_.patch;
    Tensor h = embed(pixels);
    Tensor shared = shared_rel_.table.defined() ? shared_rel_(wh, ww) : Tensor();
    std::vector<Tensor> hs;
    if (opts.output_hidden_states) hs.push_back(h);
    for (const auto& L : layers_) {
      h = layer(L, h, wh, ww, shared);
      if (opts.output_hidden_states) hs.push_back(h);
    }
    if (final_norm_.weight.defined()) h = final_norm_(h);
    Tensor pooled = pool_norm_.weight.defined()
                        ? pool_norm_(ops::reduce(ReduceOp::Mean, h.slice(1, 1, h.dim(1)).transpose(1, 2)))
                        : h.select(1, 0).contiguous();
    NamedTensors out;
    const std::string prefix = classify_ ? "base." : "";
    if (classify_) out.emplace_back("logits", classifier_.defined() ? classifier_(pooled) : pooled);
    out.emplace_back(prefix + "last_hidden_state", h);
    out.emplace_back(prefix + "pooler_output", pooled);
    if (opts.output_hidden_states) vision::append_hidden_states(out, hs);
    return out;
  }

 private:
  Tensor embed(const Tensor& pixels) const {
    const int64_t B = pixels.dim(0), H = cfg_.hidden;
    Tensor x = patch_(pixels);  // [B, H, ph, pw]
    const int64_t ph = x.dim(2), pw = x.dim(3);
    Tensor cls = cls_token_.expand({B, 1, H});
    if (positions_.defined()) {
      const int64_t gh = cfg_.image_h / cfg_.patch, gw = cfg_.image_w / cfg_.patch;
      Tensor grid = positions_.slice(1, 1, positions_.dim(1)).reshape({1, gh, gw, H}).permute({0, 3, 1, 2});
      if (gh != ph || gw != pw) {
        InterpolateArgs args;
        args.mode = InterpMode::Bicubic;
        grid = ops::interpolate(grid, ph, pw, args);
      }
      x = ops::add(x, grid);
      cls = ops::add(cls, positions_.slice(1, 0, 1));
    }
    return ops::concat({cls, vision::to_tokens(x)}, 1);
  }

  Tensor layer(const Layer& L, const Tensor& h, int64_t wh, int64_t ww, const Tensor& shared) const {
    Tensor x = L.before(h);
    Tensor q = layers::split_heads(L.query(x), cfg_.heads);
    Tensor k = layers::split_heads(L.key(x), cfg_.heads);
    Tensor v = layers::split_heads(L.value(x), cfg_.heads);
    AttentionArgs args;
    args.scale = 1.0f / std::sqrt(static_cast<float>(cfg_.hidden / cfg_.heads));
    Tensor bias = L.rel.table.defined() ? L.rel(wh, ww) : Tensor();
    if (shared.defined()) bias = bias.defined() ? ops::add(bias, shared) : shared;
    args.bias = bias;
    Tensor a = L.attn_out(layers::merge_heads(ops::attention(q, k, v, args)));
    if (L.lambda1.defined()) a = ops::mul(L.lambda1, a);
    Tensor h1 = ops::add(a, h);
    Tensor m = L.output(ops::activation(L.intermediate(L.after(h1)), cfg_.act));
    if (L.lambda2.defined()) m = ops::mul(L.lambda2, m);
    return ops::add(m, h1);
  }

  Config cfg_;
  bool classify_ = false;
  vision::Conv2d patch_;
  Tensor cls_token_, positions_;
  RelativePositionBias shared_rel_;
  std::vector<Layer> layers_;
  LayerNorm final_norm_, pool_norm_;
  Linear classifier_;
};

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& w, const std::string& cls) {
  return std::make_unique<Beit>(c, w, cls);
}

}  // namespace
}  // namespace ia::beit

IA_REGISTER_MODEL(beit, {"beit", "vision", {"BeitModel", "BeitForImageClassification"}, ia::beit::make})
