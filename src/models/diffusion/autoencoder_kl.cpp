#include "models/diffusion/autoencoder_kl.h"

namespace ia::diffusion {
namespace {

std::vector<std::string> block_types(const ModelConfig& c, const std::string& key, const std::string& fallback) {
  std::vector<std::string> out;
  if (!c.has(key)) return {fallback};
  const auto& v = c.json()[key];
  IA_CHECK(v.is_array() && !v.empty(), ErrorKind::Format, "{}: field '{}' must be a non-empty list", c.source(), key);
  for (const auto& x : v) out.push_back(x.is_string() ? x.get<std::string>() : x.dump());
  return out;
}

}  // namespace

AutoencoderKL::AutoencoderKL(const ModelConfig& c, const WeightLoader& w) {
  const std::string& src = c.source();
  in_channels_ = c.dim_or("in_channels", 3);
  out_channels_ = c.dim_or("out_channels", 3);
  latent_channels_ = c.dim_or("latent_channels", 4);
  scaling_factor_ = c.number_or("scaling_factor", 0.18215);
  shift_factor_ = c.number_or("shift_factor", 0.0);
  act_ = c.str_or("act_fn", "silu");
  IA_CHECK(!c.has("latents_mean") && !c.has("latents_std"), ErrorKind::Unsupported,
           "{}: fields 'latents_mean' / 'latents_std' (per-channel latent normalization) are not supported", src);
  const auto down_types = block_types(c, "down_block_types", "DownEncoderBlock2D");
  const auto up_types = block_types(c, "up_block_types", "UpDecoderBlock2D");
  std::vector<int64_t> boc;
  if (c.has("block_out_channels"))
    for (const auto& x : c.json()["block_out_channels"]) boc.push_back(x.get<int64_t>());
  else
    boc = {64};
  const size_t n = boc.size();
  IA_CHECK(down_types.size() == n && up_types.size() == n, ErrorKind::Format,
           "{}: down_block_types / up_block_types must list {} blocks (one per block_out_channels entry)", src, n);
  for (const auto& t : down_types)
    IA_CHECK(t == "DownEncoderBlock2D", ErrorKind::Unsupported,
             "{}: unsupported down block type '{}' for AutoencoderKL (DownEncoderBlock2D)", src, t);
  for (const auto& t : up_types)
    IA_CHECK(t == "UpDecoderBlock2D", ErrorKind::Unsupported,
             "{}: unsupported up block type '{}' for AutoencoderKL (UpDecoderBlock2D)", src, t);
  num_blocks_ = static_cast<int64_t>(n);
  const int64_t layers = c.dim_or("layers_per_block", 1);
  const int64_t groups = c.dim_or("norm_num_groups", 32);
  const bool mid_attention = c.flag_or("mid_block_add_attention", true);

  BlockOptions base;
  base.eps = 1e-6;
  base.act = act_;
  base.groups = groups;
  base.downsample_padding = 0;

  // Encoder
  WeightLoader ew = w.pp("encoder");
  encoder_.conv_in = Conv2d::load(ew.pp("conv_in"), in_channels_, boc[0], 3, 1, 1);
  int64_t output_channel = boc[0];
  for (size_t i = 0; i < n; ++i) {
    BlockOptions o = base;
    o.in = output_channel;
    o.out = output_channel = boc[i];
    o.num_layers = layers;
    o.add_sample = i + 1 < n;
    encoder_.down_blocks.push_back(DownBlock::load(ew.pp("down_blocks").pp(static_cast<int64_t>(i)), down_types[i], o));
  }
  BlockOptions mid = base;
  mid.in = mid.out = boc.back();
  mid.num_layers = 1;
  encoder_.mid_block = MidBlock::load(ew.pp("mid_block"), "UNetMidBlock2D", mid, mid_attention, boc.back());
  encoder_.conv_norm_out = GroupNorm::load(ew.pp("conv_norm_out"), groups, boc.back(), 1e-6);
  encoder_.conv_out = Conv2d::load(ew.pp("conv_out"), boc.back(), 2 * latent_channels_, 3, 1, 1);

  if (c.flag_or("use_quant_conv", true))
    quant_conv_ = Conv2d::load(w.pp("quant_conv"), 2 * latent_channels_, 2 * latent_channels_, 1);
  if (c.flag_or("use_post_quant_conv", true))
    post_quant_conv_ = Conv2d::load(w.pp("post_quant_conv"), latent_channels_, latent_channels_, 1);

  // Decoder
  WeightLoader dw = w.pp("decoder");
  decoder_.conv_in = Conv2d::load(dw.pp("conv_in"), latent_channels_, boc.back(), 3, 1, 1);
  decoder_.mid_block = MidBlock::load(dw.pp("mid_block"), "UNetMidBlock2D", mid, mid_attention, boc.back());
  std::vector<int64_t> rboc(boc.rbegin(), boc.rend());
  output_channel = rboc[0];
  for (size_t i = 0; i < n; ++i) {
    BlockOptions o = base;
    o.in = output_channel;
    o.out = output_channel = rboc[i];
    o.num_layers = layers + 1;
    o.add_sample = i + 1 < n;
    decoder_.up_blocks.push_back(UpBlock::load(dw.pp("up_blocks").pp(static_cast<int64_t>(i)), up_types[i], o));
  }
  decoder_.conv_norm_out = GroupNorm::load(dw.pp("conv_norm_out"), groups, boc[0], 1e-6);
  decoder_.conv_out = Conv2d::load(dw.pp("conv_out"), boc[0], out_channels_, 3, 1, 1);
}

Tensor AutoencoderKL::run_encoder(const Tensor& x) const {
  Tensor h = encoder_.conv_in(x);
  for (const auto& b : encoder_.down_blocks) h = b(h, Tensor(), Tensor(), nullptr);
  h = (*encoder_.mid_block)(h, Tensor(), Tensor());
  h = ops::activation(encoder_.conv_norm_out(h), act_);
  return encoder_.conv_out(h);
}

Tensor AutoencoderKL::run_decoder(const Tensor& z) const {
  Tensor h = decoder_.conv_in(z);
  h = (*decoder_.mid_block)(h, Tensor(), Tensor());
  for (const auto& b : decoder_.up_blocks) h = b(h, Tensor(), Tensor(), nullptr, std::nullopt);
  h = ops::activation(decoder_.conv_norm_out(h), act_);
  return decoder_.conv_out(h);
}

AutoencoderKL::Posterior AutoencoderKL::encode(const Tensor& x) const {
  IA_CHECK(x.ndim() == 4 && x.dim(1) == in_channels_, ErrorKind::InvalidArgument,
           "AutoencoderKL: sample must be [B, {}, H, W], got {}", in_channels_, x.describe());
  Tensor moments = run_encoder(x);
  if (quant_conv_) moments = (*quant_conv_)(moments);
  Posterior p;
  p.mean = moments.slice(1, 0, latent_channels_).contiguous();
  Tensor lv = moments.slice(1, latent_channels_, 2 * latent_channels_);
  p.logvar = ops::binary(BinaryOp::Min, ops::binary(BinaryOp::Max, lv, Tensor::scalar(-30.0f)), Tensor::scalar(20.0f));
  return p;
}

Tensor AutoencoderKL::Posterior::sample(TorchGenerator& gen) const {
  Tensor std = ops::unary(UnaryOp::Exp, ops::scale(logvar, 0.5f));
  return ops::add(mean, ops::mul(std, gen.randn(mean.shape())));
}

Tensor AutoencoderKL::decode(const Tensor& z) const {
  IA_CHECK(z.ndim() == 4 && z.dim(1) == latent_channels_, ErrorKind::InvalidArgument,
           "AutoencoderKL: latents must be [B, {}, h, w], got {}", latent_channels_, z.describe());
  return run_decoder(post_quant_conv_ ? (*post_quant_conv_)(z) : z);
}

NamedTensors AutoencoderKL::forward(const TensorMap& in, const ForwardOptions&) {
  NamedTensors out;
  auto s = in.find("sample");
  if (s != in.end()) {
    Posterior p = encode(s->second);
    out.emplace_back("latent_mean", p.mean);
    out.emplace_back("latent_logvar", p.logvar);
    out.emplace_back("sample", decode(p.mode()));
  }
  auto l = in.find("latents");
  if (l != in.end()) out.emplace_back("decoded", decode(l->second));
  IA_CHECK(!out.empty(), ErrorKind::InvalidArgument, "AutoencoderKL: needs a 'sample' or 'latents' input");
  return out;
}

}  // namespace ia::diffusion

namespace {
std::unique_ptr<ia::Model> make_vae(const ia::ModelConfig& c, const ia::WeightLoader& w, const std::string&) {
  return std::make_unique<ia::diffusion::AutoencoderKL>(c, w);
}
}  // namespace

IA_REGISTER_MODEL(autoencoder_kl, {"autoencoder_kl", "diffusion", {"AutoencoderKL"}, make_vae})
