#include "models/diffusion/unet_2d_condition.h"

#include <algorithm>
#include <initializer_list>

namespace ia::diffusion {
namespace {

// An int-or-list config field broadcast to one value per block (diffusers' isinstance(x, int) expansion).
std::vector<int64_t> per_block(const ModelConfig& c, const std::string& key, size_t n, int64_t fallback) {
  if (!c.has(key)) return std::vector<int64_t>(n, fallback);
  const auto& v = c.json()[key];
  if (v.is_number_integer()) return std::vector<int64_t>(n, v.get<int64_t>());
  IA_CHECK(v.is_array() && v.size() == n, ErrorKind::Format,
           "{}: field '{}' must be an integer or a list of {} integers (one per down block), got {}", c.source(), key,
           n, v.dump());
  std::vector<int64_t> out;
  for (const auto& x : v) {
    IA_CHECK(x.is_number_integer(), ErrorKind::Format, "{}: field '{}' has a non-integer entry {}", c.source(), key,
             x.dump());
    out.push_back(x.get<int64_t>());
  }
  return out;
}

std::vector<bool> per_block_flag(const ModelConfig& c, const std::string& key, size_t n) {
  if (!c.has(key)) return std::vector<bool>(n, false);
  const auto& v = c.json()[key];
  if (v.is_boolean()) return std::vector<bool>(n, v.get<bool>());
  IA_CHECK(v.is_array() && v.size() == n, ErrorKind::Format,
           "{}: field '{}' must be true/false or a list of {} booleans", c.source(), key, n);
  std::vector<bool> out;
  for (const auto& x : v) out.push_back(x.get<bool>());
  return out;
}

std::vector<std::string> string_list(const ModelConfig& c, const std::string& key) {
  const auto& v = c.json().contains(key) ? c.json()[key] : nlohmann::json();
  IA_CHECK(v.is_array() && !v.empty(), ErrorKind::Format, "{}: field '{}' must be a non-empty list of block types",
           c.source(), key);
  std::vector<std::string> out;
  for (const auto& x : v) out.push_back(x.is_string() ? x.get<std::string>() : x.dump());
  return out;
}

// A config field that must be null/absent (or equal `allowed`) because the engine does not implement it.
void require_unset(const ModelConfig& c, const std::string& key, const std::string& what) {
  IA_CHECK(!c.has(key) || (c.json()[key].is_boolean() && !c.json()[key].get<bool>()), ErrorKind::Unsupported,
           "{}: field '{}' = {} is not supported ({})", c.source(), key, c.json().contains(key) ? c.json()[key].dump() : "",
           what);
}

}  // namespace

Tensor UNet2DConditionModel::TimestepEmbedding::operator()(const Tensor& x) const {
  Tensor h = linear_2(ops::activation(linear_1(x), act));
  return post_act.empty() ? h : ops::activation(h, post_act);
}

UNet2DConditionModel::TimestepEmbedding UNet2DConditionModel::load_timestep_embedding(const WeightLoader& w,
                                                                                      int64_t in, int64_t dim,
                                                                                      const std::string& act,
                                                                                      const std::string& post_act) {
  TimestepEmbedding t;
  t.linear_1 = layers::Linear::load(w.pp("linear_1"), in, dim);
  t.linear_2 = layers::Linear::load(w.pp("linear_2"), dim, dim);
  t.act = act;
  t.post_act = post_act;
  return t;
}

UNet2DConditionModel::UNet2DConditionModel(const ModelConfig& c, const WeightLoader& w) {
  const std::string& src = c.source();
  IA_CHECK(!c.has("num_attention_heads"), ErrorKind::Format,
           "{}: field 'num_attention_heads' cannot be set for UNet2DConditionModel in diffusers 0.32 (the head count "
           "is given by 'attention_head_dim')",
           src);
  IA_CHECK(c.str_or("time_embedding_type", "positional") == "positional", ErrorKind::Unsupported,
           "{}: field 'time_embedding_type' = '{}' is not supported (positional)", src, c.str("time_embedding_type"));
  require_unset(c, "class_embed_type", "class-conditioned UNets");
  require_unset(c, "num_class_embeds", "class-conditioned UNets");
  require_unset(c, "encoder_hid_dim_type", "encoder_hid_proj");
  require_unset(c, "encoder_hid_dim", "encoder_hid_proj");
  require_unset(c, "time_cond_proj_dim", "timestep_cond (LCM)");
  require_unset(c, "dual_cross_attention", "dual cross-attention");
  require_unset(c, "cross_attention_norm", "cross-attention norm");
  require_unset(c, "class_embeddings_concat", "class embeddings");
  IA_CHECK(c.str_or("attention_type", "default") == "default", ErrorKind::Unsupported,
           "{}: field 'attention_type' = '{}' is not supported (default)", src, c.str("attention_type"));
  addition_embed_type_ = c.str_or("addition_embed_type", "");
  IA_CHECK(addition_embed_type_.empty() || addition_embed_type_ == "text_time", ErrorKind::Unsupported,
           "{}: field 'addition_embed_type' = '{}' is not supported (null, text_time)", src, addition_embed_type_);

  const std::vector<std::string> down_types = string_list(c, "down_block_types");
  const std::vector<std::string> up_types = string_list(c, "up_block_types");
  const size_t n = down_types.size();
  IA_CHECK(up_types.size() == n, ErrorKind::Format, "{}: {} down_block_types but {} up_block_types", src, n,
           up_types.size());
  auto check_types = [&](const std::vector<std::string>& types, const char* key,
                         std::initializer_list<const char*> known) {
    for (size_t i = 0; i < types.size(); ++i) {
      bool ok = false;
      std::string names;
      for (const char* k : known) {
        ok = ok || types[i] == k;
        names += (names.empty() ? "" : ", ") + std::string(k);
      }
      IA_CHECK(ok, ErrorKind::Unsupported, "{}: {}[{}] = '{}' is not supported ({})", src, key, i, types[i], names);
    }
  };
  check_types(down_types, "down_block_types", {"DownBlock2D", "CrossAttnDownBlock2D"});
  check_types(up_types, "up_block_types", {"UpBlock2D", "CrossAttnUpBlock2D"});
  std::vector<int64_t> boc;
  if (c.has("block_out_channels") && c.json()["block_out_channels"].is_array())
    for (const auto& x : c.json()["block_out_channels"]) boc.push_back(x.get<int64_t>());
  IA_CHECK(boc.size() == n, ErrorKind::Format, "{}: field 'block_out_channels' must list {} channel counts", src, n);

  in_channels_ = c.dim_or("in_channels", 4);
  out_channels_ = c.dim_or("out_channels", 4);
  center_input_sample_ = c.flag_or("center_input_sample", false);
  flip_sin_to_cos_ = c.flag_or("flip_sin_to_cos", true);
  freq_shift_ = c.number_or("freq_shift", 0.0);
  act_ = c.str_or("act_fn", "silu");
  const int64_t groups = c.dim_or("norm_num_groups", 32);
  const double eps = c.number_or("norm_eps", 1e-5);
  const std::vector<int64_t> heads = per_block(c, "attention_head_dim", n, 8);
  const std::vector<int64_t> cross_dim = per_block(c, "cross_attention_dim", n, 1280);
  const std::vector<int64_t> layers_per_block = per_block(c, "layers_per_block", n, 2);
  const std::vector<int64_t> tlpb = per_block(c, "transformer_layers_per_block", n, 1);
  const std::vector<bool> only_cross = per_block_flag(c, "only_cross_attention", n);
  cross_attention_dim_ = cross_dim.back();
  for (int64_t d : cross_dim)
    IA_CHECK(d == cross_attention_dim_, ErrorKind::Unsupported,
             "{}: per-block cross_attention_dim values that differ are not supported", src);
  std::vector<int64_t> reverse_tlpb(tlpb.rbegin(), tlpb.rend());
  if (c.has("reverse_transformer_layers_per_block")) {
    const auto& v = c.json()["reverse_transformer_layers_per_block"];
    reverse_tlpb.clear();
    for (const auto& x : v) {
      IA_CHECK(x.is_number_integer() || (x.is_array() && !x.empty()), ErrorKind::Format,
               "{}: field 'reverse_transformer_layers_per_block' entries must be integers or lists", src);
      const int64_t first = x.is_number_integer() ? x.get<int64_t>() : x[0].get<int64_t>();
      if (x.is_array())
        for (const auto& y : x)
          IA_CHECK(y.get<int64_t>() == first, ErrorKind::Unsupported,
                   "{}: per-layer reverse_transformer_layers_per_block values that differ are not supported", src);
      reverse_tlpb.push_back(first);
    }
    IA_CHECK(reverse_tlpb.size() == n, ErrorKind::Format,
             "{}: field 'reverse_transformer_layers_per_block' must have {} entries", src, n);
  }

  const int64_t conv_in_kernel = c.dim_or("conv_in_kernel", 3), conv_out_kernel = c.dim_or("conv_out_kernel", 3);
  conv_in_ = Conv2d::load(w.pp("conv_in"), in_channels_, boc[0], conv_in_kernel, 1, (conv_in_kernel - 1) / 2);

  const int64_t time_embed_dim = c.dim_or("time_embedding_dim", boc[0] * 4);
  time_proj_dim_ = boc[0];
  const std::string post_act = c.str_or("timestep_post_act", "");
  time_embedding_ = load_timestep_embedding(w.pp("time_embedding"), time_proj_dim_, time_embed_dim, act_, post_act);
  if (addition_embed_type_ == "text_time") {
    addition_time_embed_dim_ = c.dim("addition_time_embed_dim");
    add_embedding_ = load_timestep_embedding(w.pp("add_embedding"), c.dim("projection_class_embeddings_input_dim"),
                                             time_embed_dim, "silu", "");
  }
  time_embed_act_ = c.str_or("time_embedding_act_fn", "");

  BlockOptions base;
  base.temb_channels = time_embed_dim;
  base.eps = eps;
  base.act = act_;
  base.groups = groups;
  base.downsample_padding = c.dim_or("downsample_padding", 1, 0, 8);
  base.use_linear_projection = c.flag_or("use_linear_projection", false);
  base.time_scale_shift = c.str_or("resnet_time_scale_shift", "default");
  base.skip_time_act = c.flag_or("resnet_skip_time_act", false);

  int64_t output_channel = boc[0];
  for (size_t i = 0; i < n; ++i) {
    BlockOptions o = base;
    o.in = output_channel;
    o.out = output_channel = boc[i];
    o.num_layers = layers_per_block[i];
    o.transformer_layers = tlpb[i];
    o.cross_attention_dim = cross_dim[i];
    o.heads = heads[i];
    o.only_cross_attention = only_cross[i];
    o.add_sample = i + 1 < n;
    down_blocks_.push_back(DownBlock::load(w.pp("down_blocks").pp(static_cast<int64_t>(i)), down_types[i], o));
  }

  const std::string mid_type = c.has("mid_block_type") ? c.str("mid_block_type") : (c.json().contains("mid_block_type") ? "" : "UNetMidBlock2DCrossAttn");
  IA_CHECK(mid_type.empty() || mid_type == "UNetMidBlock2DCrossAttn" || mid_type == "UNetMidBlock2D",
           ErrorKind::Unsupported, "{}: mid_block_type = '{}' is not supported (UNetMidBlock2DCrossAttn, UNetMidBlock2D)",
           src, mid_type);
  if (!mid_type.empty()) {
    BlockOptions o = base;
    o.in = o.out = boc.back();
    o.output_scale_factor = c.number_or("mid_block_scale_factor", 1.0);
    o.transformer_layers = tlpb.back();
    o.cross_attention_dim = cross_dim.back();
    o.heads = heads.back();
    o.num_layers = mid_type == "UNetMidBlock2D" ? 0 : 1;
    mid_block_ = MidBlock::load(w.pp("mid_block"), mid_type, o, /*add_attention=*/false);
  }

  std::vector<int64_t> rboc(boc.rbegin(), boc.rend()), rheads(heads.rbegin(), heads.rend());
  std::vector<int64_t> rlayers(layers_per_block.rbegin(), layers_per_block.rend());
  std::vector<int64_t> rcross(cross_dim.rbegin(), cross_dim.rend());
  std::vector<bool> ronly(only_cross.rbegin(), only_cross.rend());
  output_channel = rboc[0];
  for (size_t i = 0; i < n; ++i) {
    BlockOptions o = base;
    o.prev_out = output_channel;
    o.out = output_channel = rboc[i];
    o.in = rboc[std::min(i + 1, n - 1)];
    o.num_layers = rlayers[i] + 1;
    o.transformer_layers = reverse_tlpb[i];
    o.cross_attention_dim = rcross[i];
    o.heads = rheads[i];
    o.only_cross_attention = ronly[i];
    o.add_sample = i + 1 < n;
    if (o.add_sample) ++num_upsamplers_;
    up_blocks_.push_back(UpBlock::load(w.pp("up_blocks").pp(static_cast<int64_t>(i)), up_types[i], o));
  }

  if (c.has("norm_num_groups")) conv_norm_out_ = GroupNorm::load(w.pp("conv_norm_out"), groups, boc[0], eps);
  else if (!c.json().contains("norm_num_groups")) conv_norm_out_ = GroupNorm::load(w.pp("conv_norm_out"), 32, boc[0], eps);
  conv_out_ = Conv2d::load(w.pp("conv_out"), boc[0], out_channels_, conv_out_kernel, 1, (conv_out_kernel - 1) / 2);
}

Tensor UNet2DConditionModel::denoise(const Tensor& sample_in, const Tensor& timestep, const Tensor& ehs,
                                     const Tensor& text_embeds, const Tensor& time_ids) const {
  IA_CHECK(sample_in.ndim() == 4 && sample_in.dim(1) == in_channels_, ErrorKind::InvalidArgument,
           "UNet2DConditionModel: sample must be [B, {}, H, W], got {}", in_channels_, sample_in.describe());
  const int64_t B = sample_in.dim(0);
  IA_CHECK(ehs.defined() && ehs.ndim() == 3 && ehs.dim(0) == B && ehs.dim(2) == cross_attention_dim_,
           ErrorKind::InvalidArgument, "UNet2DConditionModel: encoder_hidden_states must be [{}, S, {}], got {}", B,
           cross_attention_dim_, ehs.defined() ? ehs.describe() : "nothing");
  std::vector<float> t = timestep.to_vector<float>();
  IA_CHECK(t.size() == 1 || static_cast<int64_t>(t.size()) == B, ErrorKind::InvalidArgument,
           "UNet2DConditionModel: timestep must be a scalar or [{}], got {}", B, timestep.describe());
  if (t.size() == 1) t.assign(static_cast<size_t>(B), t[0]);

  const int64_t factor = int64_t(1) << num_upsamplers_;
  const bool forward_upsample_size = sample_in.dim(2) % factor != 0 || sample_in.dim(3) % factor != 0;

  Tensor sample = center_input_sample_ ? ops::scale(sample_in, 2.0f, -1.0f) : sample_in;
  Tensor t_emb = timestep_embedding(Tensor::from_vector<float>(t, {B}), time_proj_dim_, flip_sin_to_cos_, freq_shift_);
  Tensor emb = time_embedding_(t_emb);
  if (addition_embed_type_ == "text_time") {
    IA_CHECK(text_embeds.defined() && time_ids.defined(), ErrorKind::InvalidArgument,
             "UNet2DConditionModel: addition_embed_type 'text_time' needs text_embeds and time_ids inputs");
    Tensor flat = time_ids.reshape({time_ids.numel()});
    Tensor time_embeds = timestep_embedding(flat, addition_time_embed_dim_, flip_sin_to_cos_, freq_shift_);
    time_embeds = time_embeds.reshape({text_embeds.dim(0), -1});
    emb = ops::add(emb, add_embedding_(ops::concat({text_embeds.to(DType::F32), time_embeds}, -1)));
  }
  if (!time_embed_act_.empty()) emb = ops::activation(emb, time_embed_act_);

  sample = conv_in_(sample);
  std::vector<Tensor> res_samples = {sample};
  for (const auto& b : down_blocks_) sample = b(sample, emb, ehs, &res_samples);
  if (mid_block_) sample = (*mid_block_)(sample, emb, ehs);
  for (size_t i = 0; i < up_blocks_.size(); ++i) {
    const UpBlock& b = up_blocks_[i];
    const size_t take = b.resnets.size();
    IA_CHECK(res_samples.size() >= take, ErrorKind::InvalidArgument, "UNet2DConditionModel: skip states exhausted");
    std::vector<Tensor> skips(res_samples.end() - static_cast<std::ptrdiff_t>(take), res_samples.end());
    res_samples.resize(res_samples.size() - take);
    std::optional<std::pair<int64_t, int64_t>> up_size;
    if (i + 1 < up_blocks_.size() && forward_upsample_size)
      up_size = std::make_pair(res_samples.back().dim(2), res_samples.back().dim(3));
    sample = b(sample, emb, ehs, &skips, up_size);
  }
  if (conv_norm_out_) sample = ops::activation((*conv_norm_out_)(sample), act_);
  return conv_out_(sample);
}

NamedTensors UNet2DConditionModel::forward(const TensorMap& in, const ForwardOptions&) {
  auto get = [&](const char* n, bool required) {
    auto it = in.find(n);
    IA_CHECK(!required || it != in.end(), ErrorKind::InvalidArgument, "UNet2DConditionModel: missing input '{}'", n);
    return it == in.end() ? Tensor() : it->second;
  };
  Tensor out = denoise(get("sample", true), get("timestep", true), get("encoder_hidden_states", true),
                       get("text_embeds", false), get("time_ids", false));
  return {{"sample", out}};
}

}  // namespace ia::diffusion

namespace {
std::unique_ptr<ia::Model> make_unet(const ia::ModelConfig& c, const ia::WeightLoader& w, const std::string&) {
  return std::make_unique<ia::diffusion::UNet2DConditionModel>(c, w);
}
}  // namespace

// Catalog entries name the pipeline; the denoiser is what runs for them (StableDiffusionPipeline also end to end
// through models/diffusion/stable_diffusion.h, the SDXL pipeline only as a UNet forward).
IA_REGISTER_MODEL(unet_2d_condition, {"unet_2d_condition", "diffusion",
                                      {"UNet2DConditionModel", "StableDiffusionPipeline", "StableDiffusionXLPipeline"},
                                      make_unet})
