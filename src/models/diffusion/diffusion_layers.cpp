#include "models/diffusion/diffusion_layers.h"

#include <cmath>

#include "ops/group_norm.h"
#include "ops/interpolate.h"

namespace ia::diffusion {

GroupNorm GroupNorm::load(const WeightLoader& w, int64_t groups, int64_t channels, double eps) {
  IA_CHECK(groups >= 1 && channels % groups == 0, ErrorKind::Format,
           "{}: GroupNorm of {} channels cannot use {} groups (norm_num_groups)", w.prefix(), channels, groups);
  GroupNorm g;
  g.weight = w.get("weight", {channels});
  g.bias = w.get("bias", {channels});
  g.groups = groups;
  g.eps = static_cast<float>(eps);
  return g;
}

Tensor GroupNorm::operator()(const Tensor& x) const { return ops::group_norm(x, groups, weight, bias, eps); }

Conv2d Conv2d::load(const WeightLoader& w, int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding,
                    bool with_bias) {
  Conv2d c;
  c.weight = w.get("weight", {out, in, kernel, kernel});
  if (with_bias) c.bias = w.get("bias", {out});
  c.args = Conv2dArgs::make(stride, padding);
  return c;
}

Tensor Conv2d::operator()(const Tensor& x) const { return ops::conv2d(x, weight, bias, args); }

ResnetBlock2D ResnetBlock2D::load(const WeightLoader& w, const Options& o) {
  IA_CHECK(o.time_embedding_norm == "default" || o.time_embedding_norm == "scale_shift", ErrorKind::Unsupported,
           "{}: unsupported resnet_time_scale_shift '{}' (default, scale_shift)", w.prefix(), o.time_embedding_norm);
  ResnetBlock2D r;
  r.o = o;
  r.norm1 = GroupNorm::load(w.pp("norm1"), o.groups, o.in, o.eps);
  r.conv1 = Conv2d::load(w.pp("conv1"), o.in, o.out, 3, 1, 1);
  if (o.temb_channels > 0)
    r.time_emb_proj = layers::Linear::load(w.pp("time_emb_proj"), o.temb_channels,
                                           o.time_embedding_norm == "scale_shift" ? 2 * o.out : o.out);
  r.norm2 = GroupNorm::load(w.pp("norm2"), o.groups, o.out, o.eps);
  r.conv2 = Conv2d::load(w.pp("conv2"), o.out, o.out, 3, 1, 1);
  if (o.in != o.out) r.conv_shortcut = Conv2d::load(w.pp("conv_shortcut"), o.in, o.out, 1);
  return r;
}

Tensor ResnetBlock2D::operator()(const Tensor& x, const Tensor& temb) const {
  Tensor h = conv1(ops::activation(norm1(x), o.act));
  Tensor t;
  if (time_emb_proj.defined() && temb.defined()) {
    t = time_emb_proj(o.skip_time_act ? temb : ops::activation(temb, o.act));
    t = t.view({t.dim(0), t.dim(1), 1, 1});
  }
  if (t.defined() && o.time_embedding_norm == "default") h = ops::add(h, t);
  h = norm2(h);
  if (t.defined() && o.time_embedding_norm == "scale_shift") {
    Tensor scale = t.slice(1, 0, o.out), shift = t.slice(1, o.out, 2 * o.out);
    h = ops::add(ops::mul(h, ops::scale(scale, 1.0f, 1.0f)), shift);
  }
  h = conv2(ops::activation(h, o.act));
  Tensor skip = conv_shortcut.weight.defined() ? conv_shortcut(x) : x;
  Tensor out = ops::add(skip, h);
  return o.output_scale_factor == 1.0 ? out : ops::div(out, Tensor::scalar(static_cast<float>(o.output_scale_factor)));
}

Downsample2D Downsample2D::load(const WeightLoader& w, int64_t channels, int64_t padding) {
  Downsample2D d;
  d.conv = Conv2d::load(w.pp("conv"), channels, channels, 3, 2, padding);
  d.padding = padding;
  if (padding == 0) {  // F.pad(x, (0, 1, 0, 1)) before the unpadded stride-2 conv
    d.conv.args.pad_bottom = 1;
    d.conv.args.pad_right = 1;
  }
  return d;
}

Tensor Downsample2D::operator()(const Tensor& x) const { return conv(x); }

Upsample2D Upsample2D::load(const WeightLoader& w, int64_t channels) {
  Upsample2D u;
  u.conv = Conv2d::load(w.pp("conv"), channels, channels, 3, 1, 1);
  return u;
}

Tensor Upsample2D::operator()(const Tensor& x, std::optional<std::pair<int64_t, int64_t>> size) const {
  InterpolateArgs a;
  a.mode = InterpMode::Nearest;
  Tensor up;
  if (size) {
    up = ops::interpolate(x, size->first, size->second, a);
  } else {
    a.scale_h = a.scale_w = 2.0;
    up = ops::interpolate(x, 2 * x.dim(2), 2 * x.dim(3), a);
  }
  return conv(up);
}

Attention Attention::load(const WeightLoader& w, int64_t query_dim, int64_t kv_dim, int64_t heads, int64_t dim_head,
                          bool qkv_bias, bool out_bias) {
  Attention a;
  a.heads = heads;
  a.dim_head = dim_head;
  const int64_t inner = heads * dim_head;
  a.to_q = layers::Linear::load(w.pp("to_q"), query_dim, inner, qkv_bias);
  a.to_k = layers::Linear::load(w.pp("to_k"), kv_dim, inner, qkv_bias);
  a.to_v = layers::Linear::load(w.pp("to_v"), kv_dim, inner, qkv_bias);
  a.to_out = layers::Linear::load(w.pp("to_out").pp(0), inner, query_dim, out_bias);
  return a;
}

Tensor Attention::operator()(const Tensor& x, const Tensor& context) const {
  const Tensor& kv = context.defined() ? context : x;
  Tensor q = layers::split_heads(to_q(x), heads);
  Tensor k = layers::split_heads(to_k(kv), heads);
  Tensor v = layers::split_heads(to_v(kv), heads);
  AttentionArgs args;
  args.scale = 1.0f / std::sqrt(static_cast<float>(dim_head));
  return to_out(layers::merge_heads(ops::attention(q, k, v, args)));
}

Tensor Attention::spatial(const Tensor& x) const {
  const int64_t B = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  Tensor h = group_norm ? (*group_norm)(x) : x;
  h = h.reshape({B, C, H * W}).transpose(1, 2).contiguous();  // [B, HW, C]
  h = (*this)(h);
  h = h.transpose(1, 2).contiguous().view({B, C, H, W});
  if (residual_connection) h = ops::add(h, x);
  return rescale_output_factor == 1.0 ? h : ops::div(h, Tensor::scalar(static_cast<float>(rescale_output_factor)));
}

BasicTransformerBlock BasicTransformerBlock::load(const WeightLoader& w, int64_t dim, int64_t heads, int64_t dim_head,
                                                  int64_t cross_attention_dim, bool only_cross_attention,
                                                  bool double_self_attention, const std::string& activation_fn,
                                                  bool attention_bias) {
  IA_CHECK(activation_fn == "geglu" || activation_fn == "gelu", ErrorKind::Unsupported,
           "{}: unsupported feed-forward activation_fn '{}' (geglu, gelu)", w.prefix(), activation_fn);
  BasicTransformerBlock b;
  b.only_cross_attention = only_cross_attention;
  b.activation_fn = activation_fn;
  b.norm1 = layers::LayerNorm::load(w.pp("norm1"), dim, 1e-5);
  b.attn1 = Attention::load(w.pp("attn1"), dim, only_cross_attention ? cross_attention_dim : dim, heads, dim_head,
                            attention_bias);
  b.has_attn2 = cross_attention_dim > 0 || double_self_attention;
  if (b.has_attn2) {
    b.norm2 = layers::LayerNorm::load(w.pp("norm2"), dim, 1e-5);
    b.attn2 = Attention::load(w.pp("attn2"), dim, double_self_attention ? dim : cross_attention_dim, heads, dim_head,
                              attention_bias);
  }
  b.norm3 = layers::LayerNorm::load(w.pp("norm3"), dim, 1e-5);
  const int64_t inner = 4 * dim;
  b.ff_proj = layers::Linear::load(w.pp("ff").pp("net").pp(0).pp("proj"), dim, activation_fn == "geglu" ? 2 * inner : inner);
  b.ff_out = layers::Linear::load(w.pp("ff").pp("net").pp(2), inner, dim);
  return b;
}

Tensor BasicTransformerBlock::operator()(const Tensor& x, const Tensor& context) const {
  Tensor h = ops::add(attn1(norm1(x), only_cross_attention ? context : Tensor()), x);
  if (has_attn2) h = ops::add(attn2(norm2(h), context), h);
  Tensor p = ff_proj(norm3(h));
  Tensor act;
  if (activation_fn == "geglu") {  // hidden, gate = proj(x).chunk(2); hidden * gelu(gate)
    const int64_t inner = p.dim(-1) / 2;
    act = ops::mul(p.slice(-1, 0, inner), ops::unary(UnaryOp::Gelu, p.slice(-1, inner, 2 * inner)));
  } else {
    act = ops::unary(UnaryOp::Gelu, p);
  }
  return ops::add(ff_out(act), h);
}

Transformer2DModel Transformer2DModel::load(const WeightLoader& w, const Options& o) {
  Transformer2DModel t;
  t.inner_dim = o.heads * o.dim_head;
  t.use_linear_projection = o.use_linear_projection;
  t.norm = GroupNorm::load(w.pp("norm"), o.groups, o.in_channels, 1e-6);
  if (o.use_linear_projection) {
    t.proj_in_linear = layers::Linear::load(w.pp("proj_in"), o.in_channels, t.inner_dim);
    t.proj_out_linear = layers::Linear::load(w.pp("proj_out"), t.inner_dim, o.in_channels);
  } else {
    t.proj_in_conv = Conv2d::load(w.pp("proj_in"), o.in_channels, t.inner_dim, 1);
    t.proj_out_conv = Conv2d::load(w.pp("proj_out"), t.inner_dim, o.in_channels, 1);
  }
  for (int64_t i = 0; i < o.num_layers; ++i)
    t.blocks.push_back(BasicTransformerBlock::load(w.pp("transformer_blocks").pp(i), t.inner_dim, o.heads, o.dim_head,
                                                   o.cross_attention_dim, o.only_cross_attention,
                                                   o.double_self_attention, "geglu", false));
  return t;
}

Tensor Transformer2DModel::operator()(const Tensor& x, const Tensor& encoder_hidden_states) const {
  const int64_t B = x.dim(0), H = x.dim(2), W = x.dim(3);
  Tensor h = norm(x);
  if (!use_linear_projection) h = proj_in_conv(h);
  h = h.permute({0, 2, 3, 1}).contiguous().view({B, H * W, h.dim(1)});
  if (use_linear_projection) h = proj_in_linear(h);
  for (const auto& b : blocks) h = b(h, encoder_hidden_states);
  if (use_linear_projection) h = proj_out_linear(h);
  h = h.view({B, H, W, h.dim(-1)}).permute({0, 3, 1, 2}).contiguous();
  if (!use_linear_projection) h = proj_out_conv(h);
  return ops::add(h, x);
}

Tensor timestep_embedding(const Tensor& timesteps, int64_t dim, bool flip_sin_to_cos, double shift, double scale,
                          double max_period) {
  const std::vector<float> t = timesteps.to_vector<float>();
  const int64_t N = static_cast<int64_t>(t.size()), half = dim / 2;
  std::vector<float> freq(static_cast<size_t>(half));
  const float neg_log = static_cast<float>(-std::log(max_period));
  for (int64_t i = 0; i < half; ++i)
    freq[static_cast<size_t>(i)] = std::exp(neg_log * static_cast<float>(i) / static_cast<float>(double(half) - shift));
  std::vector<float> out(static_cast<size_t>(N * dim), 0.0f);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < half; ++i) {
      const float a = static_cast<float>(scale) * (t[static_cast<size_t>(n)] * freq[static_cast<size_t>(i)]);
      float* row = out.data() + n * dim;
      row[flip_sin_to_cos ? half + i : i] = std::sin(a);
      row[flip_sin_to_cos ? i : half + i] = std::cos(a);
    }
  return Tensor::from_vector<float>(out, {N, dim});
}

}  // namespace ia::diffusion
