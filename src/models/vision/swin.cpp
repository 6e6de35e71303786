// Swin Transformer (HF modeling_swin.py): patch embedding + LayerNorm, stages of (shifted) window attention
// blocks with a learned relative position bias table, patch merging between stages, final LayerNorm and
// mean pooling; SwinModel and SwinForImageClassification. Also the window helpers shared with Swin V2.
#include "models/vision/swin.h"

#include <cmath>

namespace ia::swin {

Tensor pad_bottom_right(const Tensor& x, int64_t pad_h, int64_t pad_w) {
  Tensor y = x;
  if (pad_w > 0)
    y = ops::concat({y, Tensor::zeros({y.dim(0), y.dim(1), pad_w, y.dim(3)}, DType::F32, y.device())}, 2);
  if (pad_h > 0)
    y = ops::concat({y, Tensor::zeros({y.dim(0), pad_h, y.dim(2), y.dim(3)}, DType::F32, y.device())}, 1);
  return y;
}

Tensor roll_hw(const Tensor& x, int64_t shift) {
  Tensor y = x;
  for (int dim : {1, 2}) {
    const int64_t n = y.dim(dim), s = ((shift % n) + n) % n;
    if (s == 0) continue;
    y = ops::concat({y.slice(dim, n - s, n), y.slice(dim, 0, n - s)}, dim);
  }
  return y;
}

Tensor window_partition(const Tensor& x, int64_t ws) {
  const int64_t B = x.dim(0), H = x.dim(1), W = x.dim(2), C = x.dim(3);
  return x.contiguous()
      .view({B, H / ws, ws, W / ws, ws, C})
      .permute({0, 1, 3, 2, 4, 5})
      .contiguous()
      .view({B * (H / ws) * (W / ws), ws * ws, C});
}

Tensor window_reverse(const Tensor& windows, int64_t ws, int64_t B, int64_t H, int64_t W) {
  const int64_t C = windows.dim(-1);
  return windows.contiguous()
      .view({B, H / ws, W / ws, ws, ws, C})
      .permute({0, 1, 3, 2, 4, 5})
      .contiguous()
      .view({B, H, W, C});
}

Tensor shifted_window_mask(int64_t H, int64_t W, int64_t ws, int64_t shift, float value) {
  std::vector<int64_t> region(H * W);
  auto band = [&](int64_t i, int64_t n) { return i < n - ws ? 0 : (i < n - shift ? 1 : 2); };
  for (int64_t i = 0; i < H; ++i)
    for (int64_t j = 0; j < W; ++j) region[i * W + j] = band(i, H) * 3 + band(j, W);
  const int64_t nh = H / ws, nw = W / ws, N = ws * ws;
  Tensor mask = Tensor::empty({nh * nw, N, N}, DType::F32);
  float* mp = mask.data<float>();
  for (int64_t wi = 0; wi < nh; ++wi)
    for (int64_t wj = 0; wj < nw; ++wj) {
      std::vector<int64_t> ids(N);
      for (int64_t a = 0; a < N; ++a) ids[a] = region[(wi * ws + a / ws) * W + wj * ws + a % ws];
      float* m = mp + (wi * nw + wj) * N * N;
      for (int64_t a = 0; a < N; ++a)
        for (int64_t b = 0; b < N; ++b) m[a * N + b] = ids[a] == ids[b] ? 0.0f : value;
    }
  return mask;
}

Tensor relative_position_index(int64_t ws) {
  const int64_t N = ws * ws;
  Tensor idx = Tensor::empty({N * N}, DType::I64);
  int64_t* p = idx.data<int64_t>();
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < N; ++j)
      p[i * N + j] = (i / ws - j / ws + ws - 1) * (2 * ws - 1) + (i % ws - j % ws + ws - 1);
  return idx;
}

Tensor merge_patches(const Tensor& x, int64_t H, int64_t W) {
  const int64_t B = x.dim(0), C = x.dim(2);
  Tensor m = pad_bottom_right(x.reshape({B, H, W, C}), H % 2, W % 2);
  const int64_t H2 = m.dim(1) / 2, W2 = m.dim(2) / 2;
  // cat([x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2]], -1): index (dw * 2 + dh) * C + c.
  return m.contiguous()
      .view({B, H2, 2, W2, 2, C})
      .permute({0, 1, 3, 4, 2, 5})
      .contiguous()
      .view({B, H2 * W2, 4 * C});
}

Tensor window_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias, float scale,
                        int64_t num_windows) {
  AttentionArgs args;
  args.scale = scale;
  args.bias = bias;
  if (bias.dim(0) == 1) return ops::attention(q, k, v, args);
  const int64_t B = q.dim(0) / num_windows;
  std::vector<Tensor> outs;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t s = b * num_windows, e = s + num_windows;
    outs.push_back(ops::attention(q.slice(0, s, e), k.slice(0, s, e), v.slice(0, s, e), args));
  }
  return ops::concat(outs, 0);
}

namespace {

using layers::LayerNorm;
using layers::Linear;

struct Block {
  LayerNorm before, after;
  Linear query, key, value, attn_out, intermediate, output;
  Tensor bias;  // [1, heads, N, N] relative position bias
  int64_t shift = 0;
};

struct Stage {
  int64_t dim = 0, heads = 0;
  std::vector<Block> blocks;
  bool downsample = false;
  LayerNorm merge_norm;
  Linear reduction;
};

class Swin : public Model {
 public:
  Swin(const ModelConfig& c, const WeightLoader& weights, const std::string& cls) {
    classify_ = cls == "SwinForImageClassification";
    if (!classify_) IA_CHECK(cls == "SwinModel", ErrorKind::Unsupported, "unsupported: swin/{}", cls);
    channels_ = c.dim_or("num_channels", 3, 1);
    std::tie(patch_h_, patch_w_) = vision::hw_pair(c, "patch_size");
    embed_dim_ = c.dim("embed_dim");
    window_ = c.dim("window_size");
    const auto depths = vision::int_list(c, "depths", 0);
    const auto heads = vision::int_list(c, "num_heads", 1);
    IA_CHECK(!depths.empty() && depths.size() == heads.size(), ErrorKind::Format,
             "{}: depths and num_heads must be non-empty lists of equal length", c.source());
    IA_CHECK(!c.flag_or("use_absolute_embeddings", false), ErrorKind::Unsupported,
             "{}: unsupported use_absolute_embeddings=true", c.source());
    const double mlp_ratio = c.number_or("mlp_ratio", 4.0);
    const bool qkv_bias = c.flag_or("qkv_bias", true);
    eps_ = c.number_or("layer_norm_eps", 1e-5);
    act_ = c.str_or("hidden_act", "gelu");
    ops::activation_op(act_);
    auto w = weights.base("swin");
    auto emb = w.pp("embeddings");
    patch_.weight = emb.pp("patch_embeddings").pp("projection").get("weight", {embed_dim_, channels_, patch_h_, patch_w_});
    patch_.bias = emb.pp("patch_embeddings").pp("projection").get("bias", {embed_dim_});
    patch_.args.stride_h = patch_h_;
    patch_.args.stride_w = patch_w_;
    emb_norm_ = LayerNorm::load(emb.pp("norm"), embed_dim_, 1e-5);  // nn.LayerNorm default eps
    const Tensor index = relative_position_index(window_);
    for (size_t s = 0; s < depths.size(); ++s) {
      Stage st;
      st.dim = embed_dim_ << s;
      st.heads = heads[s];
      IA_CHECK(st.dim % st.heads == 0, ErrorKind::Format, "{}: stage {} dim {} not divisible by {} heads", c.source(),
               s, st.dim, st.heads);
      const int64_t D = st.dim, I = static_cast<int64_t>(mlp_ratio * static_cast<double>(D));
      auto sl = w.pp("encoder").pp("layers").pp(static_cast<int64_t>(s));
      for (int64_t i = 0; i < depths[s]; ++i) {
        auto b = sl.pp("blocks").pp(i);
        auto self = b.pp("attention").pp("self");
        Block B;
        B.before = LayerNorm::load(b.pp("layernorm_before"), D, eps_);
        B.after = LayerNorm::load(b.pp("layernorm_after"), D, eps_);
        B.query = Linear::load(self.pp("query"), D, D, qkv_bias);
        B.key = Linear::load(self.pp("key"), D, D, qkv_bias);
        B.value = Linear::load(self.pp("value"), D, D, qkv_bias);
        B.attn_out = Linear::load(b.pp("attention").pp("output").pp("dense"), D, D);
        B.intermediate = Linear::load(b.pp("intermediate").pp("dense"), D, I);
        B.output = Linear::load(b.pp("output").pp("dense"), I, D);
        Tensor table = self.get("relative_position_bias_table", {(2 * window_ - 1) * (2 * window_ - 1), st.heads});
        const int64_t N = window_ * window_;
        B.bias = ops::index_select(table, index.to(table.device()))
                     .view({N, N, st.heads})
                     .permute({2, 0, 1})
                     .contiguous()
                     .view({1, st.heads, N, N});
        B.shift = i % 2 == 0 ? 0 : window_ / 2;
        st.blocks.push_back(std::move(B));
      }
      st.downsample = s + 1 < depths.size();
      if (st.downsample) {
        st.merge_norm = LayerNorm::load(sl.pp("downsample").pp("norm"), 4 * D, 1e-5);
        st.reduction = Linear::load(sl.pp("downsample").pp("reduction"), 4 * D, 2 * D, false);
      }
      stages_.push_back(std::move(st));
    }
    num_features_ = stages_.back().dim;
    norm_ = LayerNorm::load(w.pp("layernorm"), num_features_, eps_);
    if (classify_) {
      const int64_t labels = vision::num_labels(c);
      if (labels > 0) classifier_ = Linear::load(weights.pp("classifier"), num_features_, labels);
    }
  }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    Tensor pixels = vision::pixel_values(inputs, channels_, device());
    Conv2dArgs a = patch_.args;  // SwinPatchEmbeddings.maybe_pad
    a.pad_right = (patch_w_ - pixels.dim(3) % patch_w_) % patch_w_;
    a.pad_bottom = (patch_h_ - pixels.dim(2) % patch_h_) % patch_h_;
    Tensor grid = ops::conv2d(pixels, patch_.weight, patch_.bias, a);
    int64_t H = grid.dim(2), W = grid.dim(3);
    Tensor x = emb_norm_(vision::to_tokens(grid));
    NamedTensors out;
    std::vector<Tensor> hs, reshaped;
    auto record = [&](const Tensor& t) {
      hs.push_back(t);
      reshaped.push_back(t.reshape({t.dim(0), H, W, t.dim(2)}).permute({0, 3, 1, 2}).contiguous());
    };
    if (opts.output_hidden_states) record(x);
    for (const auto& st : stages_) {
      for (const auto& B : st.blocks) x = block(st, B, x, H, W);
      if (st.downsample) {
        x = st.reduction(st.merge_norm(merge_patches(x, H, W)));
        H = (H + 1) / 2;
        W = (W + 1) / 2;
      }
      if (opts.output_hidden_states) record(x);
    }
    x = norm_(x);
    Tensor pooled = ops::reduce(ReduceOp::Mean, x.transpose(1, 2));
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
  Tensor block(const Stage& st, const Block& B, const Tensor& x, int64_t H, int64_t W) const {
    // SwinLayer.set_shift_and_window_size: no shifting when the map fits in one window.
    int64_t ws = window_, shift = B.shift;
    if (std::min(H, W) <= window_) {
      shift = 0;
      ws = std::min(H, W);
    }
    IA_CHECK(ws == window_, ErrorKind::Unsupported,
             "swin: feature map {}x{} smaller than window_size {} (HF's bias table would not fit)", H, W, window_);
    const int64_t Bn = x.dim(0), C = x.dim(2);
    Tensor h = B.before(x).view({Bn, H, W, C});
    const int64_t pad_w = (ws - W % ws) % ws, pad_h = (ws - H % ws) % ws;
    h = pad_bottom_right(h, pad_h, pad_w);
    const int64_t Hp = H + pad_h, Wp = W + pad_w, nW = (Hp / ws) * (Wp / ws);
    if (shift > 0) h = roll_hw(h, -shift);
    Tensor win = window_partition(h, ws);  // [B*nW, N, C]
    Tensor bias = B.bias;
    if (shift > 0)
      bias = ops::add(bias, shifted_window_mask(Hp, Wp, ws, shift, -100.0f).to(x.device()).unsqueeze(1));
    Tensor q = layers::split_heads(B.query(win), st.heads);
    Tensor k = layers::split_heads(B.key(win), st.heads);
    Tensor v = layers::split_heads(B.value(win), st.heads);
    const float scale = 1.0f / std::sqrt(static_cast<float>(C / st.heads));
    Tensor ctx = B.attn_out(layers::merge_heads(window_attention(q, k, v, bias, scale, nW)));
    Tensor merged = window_reverse(ctx, ws, Bn, Hp, Wp);
    if (shift > 0) merged = roll_hw(merged, shift);
    if (pad_h > 0 || pad_w > 0) merged = merged.slice(1, 0, H).slice(2, 0, W);
    Tensor h1 = ops::add(x, merged.contiguous().view({Bn, H * W, C}));
    Tensor m = B.output(ops::activation(B.intermediate(B.after(h1)), act_));
    return ops::add(h1, m);
  }

  bool classify_ = false;
  int64_t channels_ = 3, patch_h_ = 4, patch_w_ = 4, embed_dim_ = 0, window_ = 7, num_features_ = 0;
  double eps_ = 1e-5;
  std::string act_;
  vision::Conv2d patch_;
  LayerNorm emb_norm_, norm_;
  std::vector<Stage> stages_;
  Linear classifier_;
};

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& w, const std::string& cls) {
  return std::make_unique<Swin>(c, w, cls);
}

}  // namespace
}  // namespace ia::swin

IA_REGISTER_MODEL(swin, {"swin", "vision", {"SwinModel", "SwinForImageClassification"}, ia::swin::make})
