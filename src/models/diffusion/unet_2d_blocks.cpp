#include "models/diffusion/unet_2d_blocks.h"

namespace ia::diffusion {
namespace {

ResnetBlock2D::Options resnet_options(const BlockOptions& o, int64_t in, int64_t out) {
  ResnetBlock2D::Options r;
  r.in = in;
  r.out = out;
  r.temb_channels = o.temb_channels;
  r.groups = o.groups;
  r.eps = o.eps;
  r.act = o.act;
  r.time_embedding_norm = o.time_scale_shift;
  r.skip_time_act = o.skip_time_act;
  r.output_scale_factor = o.output_scale_factor;
  return r;
}

Transformer2DModel::Options transformer_options(const WeightLoader& w, const BlockOptions& o, int64_t channels) {
  IA_CHECK(o.heads >= 1 && channels % o.heads == 0, ErrorKind::Format,
           "{}: {} channels are not divisible by {} attention heads (attention_head_dim / num_attention_heads)",
           w.prefix(), channels, o.heads);
  IA_CHECK(o.cross_attention_dim > 0, ErrorKind::Format, "{}: cross-attention block needs cross_attention_dim",
           w.prefix());
  Transformer2DModel::Options t;
  t.heads = o.heads;
  t.dim_head = channels / o.heads;
  t.in_channels = channels;
  t.num_layers = o.transformer_layers;
  t.groups = o.groups;
  t.cross_attention_dim = o.cross_attention_dim;
  t.use_linear_projection = o.use_linear_projection;
  t.only_cross_attention = o.only_cross_attention;
  return t;
}

}  // namespace

DownBlock DownBlock::load(const WeightLoader& w, const std::string& type, const BlockOptions& o) {
  const bool cross = type == "CrossAttnDownBlock2D";
  IA_CHECK(cross || type == "DownBlock2D" || type == "DownEncoderBlock2D", ErrorKind::Unsupported,
           "unsupported down block type '{}' (DownBlock2D, CrossAttnDownBlock2D, DownEncoderBlock2D)", type);
  DownBlock b;
  for (int64_t i = 0; i < o.num_layers; ++i) {
    b.resnets.push_back(ResnetBlock2D::load(w.pp("resnets").pp(i), resnet_options(o, i == 0 ? o.in : o.out, o.out)));
    if (cross) b.attentions.push_back(Transformer2DModel::load(w.pp("attentions").pp(i), transformer_options(w, o, o.out)));
  }
  if (o.add_sample) b.downsampler = Downsample2D::load(w.pp("downsamplers").pp(0), o.out, o.downsample_padding);
  return b;
}

Tensor DownBlock::operator()(Tensor x, const Tensor& temb, const Tensor& context, std::vector<Tensor>* states) const {
  for (size_t i = 0; i < resnets.size(); ++i) {
    x = resnets[i](x, temb);
    if (!attentions.empty()) x = attentions[i](x, context);
    if (states) states->push_back(x);
  }
  if (downsampler) {
    x = (*downsampler)(x);
    if (states) states->push_back(x);
  }
  return x;
}

MidBlock MidBlock::load(const WeightLoader& w, const std::string& type, const BlockOptions& o, bool add_attention,
                        int64_t attention_head_dim) {
  const bool cross = type == "UNetMidBlock2DCrossAttn";
  IA_CHECK(cross || type == "UNetMidBlock2D", ErrorKind::Unsupported,
           "unsupported mid_block_type '{}' (UNetMidBlock2DCrossAttn, UNetMidBlock2D)", type);
  MidBlock b;
  const int64_t C = o.in;
  b.resnets.push_back(ResnetBlock2D::load(w.pp("resnets").pp(0), resnet_options(o, C, C)));
  for (int64_t i = 0; i < o.num_layers; ++i) {
    if (cross) {
      b.cross_attentions.push_back(Transformer2DModel::load(w.pp("attentions").pp(i), transformer_options(w, o, C)));
    } else if (add_attention) {
      const int64_t dim_head = attention_head_dim > 0 ? attention_head_dim : C;
      IA_CHECK(C % dim_head == 0, ErrorKind::Format, "{}: {} channels not divisible by attention_head_dim {}",
               w.prefix(), C, dim_head);
      WeightLoader aw = w.pp("attentions").pp(i);
      Attention a = Attention::load(aw, C, C, C / dim_head, dim_head, true);
      a.group_norm = GroupNorm::load(aw.pp("group_norm"), o.groups, C, o.eps);
      a.residual_connection = true;
      a.rescale_output_factor = o.output_scale_factor;
      b.spatial_attentions.push_back(std::move(a));
    }
    b.resnets.push_back(ResnetBlock2D::load(w.pp("resnets").pp(i + 1), resnet_options(o, C, C)));
  }
  return b;
}

Tensor MidBlock::operator()(Tensor x, const Tensor& temb, const Tensor& context) const {
  x = resnets[0](x, temb);
  for (size_t i = 1; i < resnets.size(); ++i) {
    if (!cross_attentions.empty()) x = cross_attentions[i - 1](x, context);
    if (!spatial_attentions.empty()) x = spatial_attentions[i - 1].spatial(x);
    x = resnets[i](x, temb);
  }
  return x;
}

UpBlock UpBlock::load(const WeightLoader& w, const std::string& type, const BlockOptions& o) {
  const bool cross = type == "CrossAttnUpBlock2D";
  const bool decoder = type == "UpDecoderBlock2D";
  IA_CHECK(cross || decoder || type == "UpBlock2D", ErrorKind::Unsupported,
           "unsupported up block type '{}' (UpBlock2D, CrossAttnUpBlock2D, UpDecoderBlock2D)", type);
  UpBlock b;
  b.uses_skips = !decoder;
  for (int64_t i = 0; i < o.num_layers; ++i) {
    int64_t in;
    if (decoder) {
      in = i == 0 ? o.in : o.out;
    } else {
      const int64_t skip = i == o.num_layers - 1 ? o.in : o.out;
      in = (i == 0 ? o.prev_out : o.out) + skip;
    }
    b.resnets.push_back(ResnetBlock2D::load(w.pp("resnets").pp(i), resnet_options(o, in, o.out)));
    if (cross) b.attentions.push_back(Transformer2DModel::load(w.pp("attentions").pp(i), transformer_options(w, o, o.out)));
  }
  if (o.add_sample) b.upsampler = Upsample2D::load(w.pp("upsamplers").pp(0), o.out);
  return b;
}

Tensor UpBlock::operator()(Tensor x, const Tensor& temb, const Tensor& context, std::vector<Tensor>* skips,
                           std::optional<std::pair<int64_t, int64_t>> upsample_size) const {
  for (size_t i = 0; i < resnets.size(); ++i) {
    if (uses_skips) {
      IA_CHECK(skips && !skips->empty(), ErrorKind::InvalidArgument, "up block: no skip state left");
      x = ops::concat({x, skips->back()}, 1);
      skips->pop_back();
    }
    x = resnets[i](x, temb);
    if (!attentions.empty()) x = attentions[i](x, context);
  }
  if (upsampler) x = (*upsampler)(x, upsample_size);
  return x;
}

}  // namespace ia::diffusion
