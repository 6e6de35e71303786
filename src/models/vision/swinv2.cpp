// Swin Transformer V2 (HF modeling_swinv2.py): Swin with scaled cosine attention (per-head clamped
// logit_scale), a continuous position bias from a 2-layer MLP over log-spaced relative coordinates
// (16 * sigmoid), residual post-norm blocks and reduction-then-norm patch merging; Swinv2Model and
// Swinv2ForImageClassification.
#include <cmath>

#include "models/vision/swin.h"

namespace ia::swinv2 {
namespace {

using layers::LayerNorm;
using layers::Linear;

struct Block {
  LayerNorm before, after;  // applied after attention / MLP (res-post-norm)
  Linear query, key, value, attn_out, intermediate, output;
  Tensor logit_scale;  // [heads, 1, 1], already clamped and exponentiated
  Tensor bias;         // [1, heads, N, N]: 16 * sigmoid(cpb_mlp(table))[index]
  int64_t window = 0, shift = 0;
};

struct Stage {
  int64_t dim = 0, heads = 0;
  std::vector<Block> blocks;
  bool downsample = false;
  LayerNorm merge_norm;
  Linear reduction;
};

// Swinv2SelfAttention's relative_coords_table [(2w-1)^2, 2], as torch computes it in float32.
Tensor relative_coords_table(int64_t w, int64_t pretrained) {
  const int64_t n = 2 * w - 1;
  const float denom = static_cast<float>(pretrained > 0 ? pretrained - 1 : w - 1);
  Tensor t = Tensor::empty({n * n, 2}, DType::F32);
  float* p = t.data<float>();
  auto f = [&](int64_t coord) {
    float v = static_cast<float>(coord) / denom * 8.0f;
    const float s = v > 0 ? 1.0f : (v < 0 ? -1.0f : 0.0f);
    return s * std::log2(std::fabs(v) + 1.0f) / 3.0f;  // / math.log2(8)
  };
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      p[(i * n + j) * 2 + 0] = f(i - (w - 1));
      p[(i * n + j) * 2 + 1] = f(j - (w - 1));
    }
  return t;
}

// Python's tuple comparison (h, w) <= (a, b).
bool tuple_le(int64_t h, int64_t w, int64_t a, int64_t b) { return h < a || (h == a && w <= b); }

class Swinv2 : public Model {
 public:
  Swinv2(const ModelConfig& c, const WeightLoader& weights, const std::string& cls) {
    classify_ = cls == "Swinv2ForImageClassification";
    if (!classify_) IA_CHECK(cls == "Swinv2Model", ErrorKind::Unsupported, "unsupported: swinv2/{}", cls);
    channels_ = c.dim_or("num_channels", 3, 1);
    int64_t image_h, image_w;
    std::tie(image_h, image_w) = vision::hw_pair(c, "image_size");
    std::tie(patch_h_, patch_w_) = vision::hw_pair(c, "patch_size");
    embed_dim_ = c.dim("embed_dim");
    const int64_t window = c.dim("window_size");
    const auto depths = vision::int_list(c, "depths", 0);
    const auto heads = vision::int_list(c, "num_heads", 1);
    IA_CHECK(!depths.empty() && depths.size() == heads.size(), ErrorKind::Format,
             "{}: depths and num_heads must be non-empty lists of equal length", c.source());
    std::vector<int64_t> pretrained(depths.size(), 0);
    if (c.has("pretrained_window_sizes")) {
      auto p = vision::int_list(c, "pretrained_window_sizes", 0);
      IA_CHECK(p.size() >= depths.size(), ErrorKind::Format, "{}: pretrained_window_sizes shorter than depths",
               c.source());
      std::copy(p.begin(), p.begin() + depths.size(), pretrained.begin());
    }
    IA_CHECK(!c.flag_or("use_absolute_embeddings", false), ErrorKind::Unsupported,
             "{}: unsupported use_absolute_embeddings=true", c.source());
    const double mlp_ratio = c.number_or("mlp_ratio", 4.0);
    const bool qkv_bias = c.flag_or("qkv_bias", true);
    const double eps = c.number_or("layer_norm_eps", 1e-5);
    act_ = c.str_or("hidden_act", "gelu");
    ops::activation_op(act_);
    auto w = weights.base("swinv2");
    auto emb = w.pp("embeddings");
    auto proj = emb.pp("patch_embeddings").pp("projection");
    patch_.weight = proj.get("weight", {embed_dim_, channels_, patch_h_, patch_w_});
    patch_.bias = proj.get("bias", {embed_dim_});
    patch_.args.stride_h = patch_h_;
    patch_.args.stride_w = patch_w_;
    emb_norm_ = LayerNorm::load(emb.pp("norm"), embed_dim_, 1e-5);  // nn.LayerNorm default eps
    const int64_t grid_h = image_h / patch_h_, grid_w = image_w / patch_w_;
    for (size_t s = 0; s < depths.size(); ++s) {
      Stage st;
      st.dim = embed_dim_ << s;
      st.heads = heads[s];
      IA_CHECK(st.dim % st.heads == 0, ErrorKind::Format, "{}: stage {} dim {} not divisible by {} heads", c.source(),
               s, st.dim, st.heads);
      const int64_t D = st.dim, I = static_cast<int64_t>(mlp_ratio * static_cast<double>(D));
      const int64_t res_h = grid_h >> s, res_w = grid_w >> s;  // the config's input_resolution
      auto sl = w.pp("encoder").pp("layers").pp(static_cast<int64_t>(s));
      for (int64_t i = 0; i < depths[s]; ++i) {
        auto b = sl.pp("blocks").pp(i);
        auto self = b.pp("attention").pp("self");
        Block B;
        // Swinv2Layer.__init__ -> set_shift_and_window_size(input_resolution).
        B.window = res_h <= window ? res_h : window;
        B.shift = tuple_le(res_h, res_w, B.window, B.window) ? 0 : (i % 2 == 0 ? 0 : window / 2);
        B.before = LayerNorm::load(b.pp("layernorm_before"), D, eps);
        B.after = LayerNorm::load(b.pp("layernorm_after"), D, eps);
        B.query = Linear::load(self.pp("query"), D, D, qkv_bias);
        B.key = Linear::load(self.pp("key"), D, D, false);
        B.value = Linear::load(self.pp("value"), D, D, qkv_bias);
        B.attn_out = Linear::load(b.pp("attention").pp("output").pp("dense"), D, D);
        B.intermediate = Linear::load(b.pp("intermediate").pp("dense"), D, I);
        B.output = Linear::load(b.pp("output").pp("dense"), I, D);
        Tensor ls = self.get("logit_scale", {st.heads, 1, 1});
        B.logit_scale = ops::unary(UnaryOp::Exp,
                                   ops::binary(BinaryOp::Min, ls, Tensor::scalar(std::log(1.0f / 0.01f)).to(ls.device())));
        auto mlp = self.pp("continuous_position_bias_mlp");
        Linear fc1 = Linear::load(mlp.pp(0), 2, 512), fc2 = Linear::load(mlp.pp(2), 512, st.heads, false);
        const Tensor coords = relative_coords_table(B.window, pretrained[s]).to(ls.device());
        Tensor table = fc2(ops::unary(UnaryOp::Relu, fc1(coords)));  // [(2w-1)^2, heads]
        const int64_t N = B.window * B.window;
        Tensor bias = ops::index_select(table, swin::relative_position_index(B.window).to(ls.device()))
                          .view({N, N, st.heads})
                          .permute({2, 0, 1})
                          .contiguous();
        B.bias = ops::scale(ops::unary(UnaryOp::Sigmoid, bias), 16.0f).view({1, st.heads, N, N});
        st.blocks.push_back(std::move(B));
      }
      st.downsample = s + 1 < depths.size();
      if (st.downsample) {
        st.reduction = Linear::load(sl.pp("downsample").pp("reduction"), 4 * D, 2 * D, false);
        st.merge_norm = LayerNorm::load(sl.pp("downsample").pp("norm"), 2 * D, 1e-5);
      }
      stages_.push_back(std::move(st));
    }
    num_features_ = stages_.back().dim;
    norm_ = LayerNorm::load(w.pp("layernorm"), num_features_, eps);
    if (classify_) {
      const int64_t labels = vision::num_labels(c);
      if (labels > 0) classifier_ = Linear::load(weights.pp("classifier"), num_features_, labels);
    }
  }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    Tensor pixels = vision::pixel_values(inputs, channels_, device());
    Conv2dArgs a = patch_.args;  // Swinv2PatchEmbeddings.maybe_pad
    a.pad_right = (patch_w_ - pixels.dim(3) % patch_w_) % patch_w_;
    a.pad_bottom = (patch_h_ - pixels.dim(2) % patch_h_) % patch_h_;
    Tensor grid = ops::conv2d(pixels, patch_.weight, patch_.bias, a);
    int64_t H = grid.dim(2), W = grid.dim(3);
    Tensor x = emb_norm_(vision::to_tokens(grid));
    std::vector<Tensor> hs, reshaped;
    auto record = [&](const Tensor& t) {
      hs.push_back(t);
      reshaped.push_back(t.reshape({t.dim(0), H, W, t.dim(2)}).permute({0, 3, 1, 2}).contiguous());
    };
    if (opts.output_hidden_states) record(x);
    for (const auto& st : stages_) {
      for (const auto& B : st.blocks) x = block(st, B, x, H, W);
      if (st.downsample) {
        x = st.merge_norm(st.reduction(swin::merge_patches(x, H, W)));
        H = (H + 1) / 2;
        W = (W + 1) / 2;
      }
      if (opts.output_hidden_states) record(x);
    }
    x = norm_(x);
    Tensor pooled = ops::reduce(ReduceOp::Mean, x.transpose(1, 2));
    NamedTensors out;
    const std::string prefix = classify_ ? "base." : "";
    if (classify_) out.emplace_back("logits", classifier_.defined() ? classifier_(pooled) : pooled);
    out.emplace_back(prefix + "last_hidden_state", x);
    out.emplace_back(prefix + "pooler_output", pooled);
    if (opts.output_hidden_states) {
      vision::append_hidden_states(out, hs);
      for (size_t i = 0; i < reshaped.size(); ++i)
        out.emplace_back("reshaped_hidden_states." + std::to_string(i), reshaped[i]);
    }
    return out;
  }

 private:
  // F.normalize(x, dim=-1): x / max(||x||, 1e-12).
  static Tensor l2_normalize(const Tensor& x) {
    Tensor norm = ops::unary(UnaryOp::Sqrt, ops::reduce(ReduceOp::Sum, ops::unary(UnaryOp::Square, x)));
    norm = ops::binary(BinaryOp::Max, norm, Tensor::scalar(1e-12f).to(x.device()));
    return ops::div(x, norm.unsqueeze(-1));
  }

  Tensor block(const Stage& st, const Block& B, const Tensor& x, int64_t H, int64_t W) const {
    // Swinv2Layer.forward -> set_shift_and_window_size(input_dimensions), from the init-time values.
    const int64_t ws = H <= B.window ? H : B.window;
    const int64_t shift = tuple_le(H, W, ws, ws) ? 0 : B.shift;
    IA_CHECK(ws == B.window, ErrorKind::Unsupported,
             "swinv2: feature map {}x{} smaller than the window {} its position bias was built for", H, W, B.window);
    const int64_t Bn = x.dim(0), C = x.dim(2);
    Tensor h = x.view({Bn, H, W, C});
    const int64_t pad_w = (ws - W % ws) % ws, pad_h = (ws - H % ws) % ws;
    h = swin::pad_bottom_right(h, pad_h, pad_w);
    const int64_t Hp = H + pad_h, Wp = W + pad_w, nW = (Hp / ws) * (Wp / ws);
    if (shift > 0) h = swin::roll_hw(h, -shift);
    Tensor win = swin::window_partition(h, ws);
    Tensor bias = B.bias;
    // HF adds the shifted-window mask twice.
    if (shift > 0)
      bias = ops::add(bias, swin::shifted_window_mask(Hp, Wp, ws, shift, -200.0f).to(x.device()).unsqueeze(1));
    Tensor q = ops::mul(l2_normalize(layers::split_heads(B.query(win), st.heads)), B.logit_scale);
    Tensor k = l2_normalize(layers::split_heads(B.key(win), st.heads));
    Tensor v = layers::split_heads(B.value(win), st.heads);
    Tensor ctx = B.attn_out(layers::merge_heads(swin::window_attention(q, k, v, bias, 1.0f, nW)));
    Tensor merged = swin::window_reverse(ctx, ws, Bn, Hp, Wp);
    if (shift > 0) merged = swin::roll_hw(merged, shift);
    if (pad_h > 0 || pad_w > 0) merged = merged.slice(1, 0, H).slice(2, 0, W);
    Tensor h1 = ops::add(x, B.before(merged.contiguous().view({Bn, H * W, C})));
    Tensor m = B.output(ops::activation(B.intermediate(h1), act_));
    return ops::add(h1, B.after(m));
  }

  bool classify_ = false;
  int64_t channels_ = 3, patch_h_ = 4, patch_w_ = 4, embed_dim_ = 0, num_features_ = 0;
  std::string act_;
  vision::Conv2d patch_;
  LayerNorm emb_norm_, norm_;
  std::vector<Stage> stages_;
  Linear classifier_;
};

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& w, const std::string& cls) {
  return std::make_unique<Swinv2>(c, w, cls);
}

}  // namespace
}  // namespace ia::swinv2

IA_REGISTER_MODEL(swinv2, {"swinv2", "vision", {"Swinv2Model", "Swinv2ForImageClassification"}, ia::swinv2::make})
