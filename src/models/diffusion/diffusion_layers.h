// The diffusers building blocks shared by UNet2DConditionModel and AutoencoderKL, loaded by diffusers tensor names:
// GroupNorm, Conv2d, ResnetBlock2D, Downsample2D / Upsample2D (resnet.py / downsampling.py / upsampling.py),
// Attention (attention_processor.py), BasicTransformerBlock with GEGLU feed-forward (attention.py) and the
// continuous-input Transformer2DModel (transformer_2d.py).
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "models/layers.h"
#include "ops/conv.h"

namespace ia::diffusion {

struct GroupNorm {
  Tensor weight, bias;
  int64_t groups = 32;
  float eps = 1e-5f;
  static GroupNorm load(const WeightLoader& w, int64_t groups, int64_t channels, double eps);
  Tensor operator()(const Tensor& x) const;
};

struct Conv2d {
  Tensor weight, bias;
  Conv2dArgs args;
  static Conv2d load(const WeightLoader& w, int64_t in, int64_t out, int64_t kernel, int64_t stride = 1,
                     int64_t padding = 0, bool with_bias = true);
  Tensor operator()(const Tensor& x) const;
};

// diffusers ResnetBlock2D: norm1 -> act -> conv1 (+ time_emb_proj(act(temb))) -> norm2 -> act -> conv2, plus a
// 1x1 conv_shortcut when channels change; (x + h) / output_scale_factor.
struct ResnetBlock2D {
  struct Options {
    int64_t in = 0, out = 0, temb_channels = 0;  // temb_channels 0: no time embedding (VAE)
    int64_t groups = 32;
    double eps = 1e-6;
    std::string act = "silu";
    std::string time_embedding_norm = "default";  // or "scale_shift"
    bool skip_time_act = false;
    double output_scale_factor = 1.0;
  };
  Options o;
  GroupNorm norm1, norm2;
  Conv2d conv1, conv2, conv_shortcut;
  layers::Linear time_emb_proj;
  static ResnetBlock2D load(const WeightLoader& w, const Options& o);
  Tensor operator()(const Tensor& x, const Tensor& temb) const;
};

// Downsample2D with use_conv: a stride-2 3x3 conv; padding 0 pads (0, 1, 0, 1) first, as diffusers does.
struct Downsample2D {
  Conv2d conv;
  int64_t padding = 1;
  static Downsample2D load(const WeightLoader& w, int64_t channels, int64_t padding);
  Tensor operator()(const Tensor& x) const;
};

// Upsample2D with use_conv: nearest x2 (or to `size`) then a 3x3 conv.
struct Upsample2D {
  Conv2d conv;
  static Upsample2D load(const WeightLoader& w, int64_t channels);
  Tensor operator()(const Tensor& x, std::optional<std::pair<int64_t, int64_t>> size = std::nullopt) const;
};

// diffusers Attention with the default (SDPA) processor: to_q/to_k/to_v/to_out.0; optional group_norm on the input
// and the residual connection of the VAE's spatial attention.
struct Attention {
  int64_t heads = 1, dim_head = 0;
  layers::Linear to_q, to_k, to_v, to_out;
  std::optional<GroupNorm> group_norm;
  bool residual_connection = false;
  double rescale_output_factor = 1.0;
  // w -> the module; kv_dim: cross_attention_dim (== query_dim for self-attention).
  static Attention load(const WeightLoader& w, int64_t query_dim, int64_t kv_dim, int64_t heads, int64_t dim_head,
                        bool qkv_bias, bool out_bias = true);
  // x [B, S, query_dim], context [B, Sk, kv_dim] or undefined (self-attention).
  Tensor operator()(const Tensor& x, const Tensor& context = Tensor()) const;
  // The VAE mid-block form: x [B, C, H, W] -> group_norm -> attention over H*W -> + x.
  Tensor spatial(const Tensor& x) const;
};

// BasicTransformerBlock (norm_type layer_norm): self-attn, cross-attn, GEGLU/GELU feed-forward, pre-LN residuals.
struct BasicTransformerBlock {
  layers::LayerNorm norm1, norm2, norm3;
  Attention attn1, attn2;
  bool has_attn2 = false, only_cross_attention = false;
  layers::Linear ff_proj, ff_out;  // ff.net.0.proj, ff.net.2
  std::string activation_fn = "geglu";
  static BasicTransformerBlock load(const WeightLoader& w, int64_t dim, int64_t heads, int64_t dim_head,
                                    int64_t cross_attention_dim, bool only_cross_attention, bool double_self_attention,
                                    const std::string& activation_fn, bool attention_bias);
  Tensor operator()(const Tensor& x, const Tensor& context) const;
};

// Transformer2DModel for continuous latents: GroupNorm(eps 1e-6) -> proj_in (1x1 conv or linear) -> blocks ->
// proj_out -> + residual.
struct Transformer2DModel {
  GroupNorm norm;
  bool use_linear_projection = false;
  Conv2d proj_in_conv, proj_out_conv;
  layers::Linear proj_in_linear, proj_out_linear;
  std::vector<BasicTransformerBlock> blocks;
  int64_t inner_dim = 0;
  struct Options {
    int64_t heads = 8, dim_head = 64, in_channels = 0, num_layers = 1, groups = 32, cross_attention_dim = 0;
    bool use_linear_projection = false, only_cross_attention = false, double_self_attention = false;
  };
  static Transformer2DModel load(const WeightLoader& w, const Options& o);
  Tensor operator()(const Tensor& x, const Tensor& encoder_hidden_states) const;
};

// diffusers get_timestep_embedding: sinusoidal [N, dim] of timesteps [N] (flip_sin_to_cos puts cos first).
Tensor timestep_embedding(const Tensor& timesteps, int64_t dim, bool flip_sin_to_cos, double downscale_freq_shift,
                          double scale = 1.0, double max_period = 10000.0);

}  // namespace ia::diffusion
