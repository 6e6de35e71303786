// wav2vec 2.0, HuBERT, data2vec-audio and WavLM (HF modeling_wav2vec2.py / modeling_hubert.py /
// modeling_data2vec_audio.py / modeling_wavlm.py): a convolutional waveform feature extractor, a feature
// projection, a convolutional relative positional embedding and a post-LN (or "stable" pre-LN) transformer
// (WavLM: with a gated relative position bias), with a CTC head. Padded batches follow HF's attention_mask rules.
#include <algorithm>
#include <cmath>

#include "models/encoder/bert.h"
#include "models/speech/conv1d.h"

namespace ia::wav2vec2 {
namespace {

using layers::LayerNorm;
using layers::Linear;
using speech::conv1d;

enum class Arch { Wav2Vec2, Hubert, Data2VecAudio, WavLM };

// LayerNorm over channels of [B, C, T].
Tensor channel_layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, float eps) {
  return ops::layer_norm(x.transpose(1, 2), w, b, eps).transpose(1, 2).contiguous();
}

struct ConvLayer {
  Tensor weight, bias, norm_w, norm_b;
  int64_t stride = 1;
  enum { None, Group, Layer } norm = None;
};

struct EncoderLayer {
  Linear q, k, v, o, ff_in, ff_out;
  LayerNorm ln, final_ln;
  // WavLM gate of the relative position bias: gru_rel_pos_linear [8, head_dim] and gru_rel_pos_const [heads].
  Linear gru_rel_pos_linear;
  Tensor gru_rel_pos_const;
};

const char* arch_prefix(Arch a) {
  switch (a) {
    case Arch::Wav2Vec2: return "Wav2Vec2";
    case Arch::Hubert: return "Hubert";
    case Arch::Data2VecAudio: return "Data2VecAudio";
    case Arch::WavLM: return "WavLM";
  }
  return "";
}

const char* arch_base(Arch a) {
  switch (a) {
    case Arch::Wav2Vec2: return "wav2vec2";
    case Arch::Hubert: return "hubert";
    case Arch::Data2VecAudio: return "data2vec_audio";
    case Arch::WavLM: return "wavlm";
  }
  return "";
}

// WavLMAttention._relative_positions_bucket: bidirectional buckets, exact below num_buckets / 4, logarithmic
// (float32 math, truncated) up to max_distance.
int64_t relative_position_bucket(int64_t relative, int64_t num_buckets, int64_t max_distance) {
  const int64_t half = num_buckets / 2, max_exact = half / 2;
  int64_t bucket = relative > 0 ? half : 0;
  const int64_t a = relative < 0 ? -relative : relative;
  if (a < max_exact) return bucket + a;
  float large = std::log(static_cast<float>(a) / static_cast<float>(max_exact));
  large = large / static_cast<float>(std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)));
  large = large * static_cast<float>(half - max_exact);
  const int64_t l = static_cast<int64_t>(static_cast<float>(max_exact) + large);
  return bucket + std::min(l, half - 1);
}

class Wav2Vec2Like : public Model {
 public:
  Wav2Vec2Like(const ModelConfig& c, const WeightLoader& root, const std::string& cls, Arch arch) : arch_(arch) {
    const std::string prefix = arch_prefix(arch);
    ctc_ = cls == prefix + "ForCTC";
    IA_CHECK(ctc_ || cls == prefix + "Model", ErrorKind::Unsupported, "unsupported: {}/{}", c.model_type(), cls);
    const WeightLoader w = root.base(arch_base(arch));
    H_ = c.dim("hidden_size");
    heads_ = c.dim("num_attention_heads");
    const int64_t I = c.dim("intermediate_size"), n = c.dim("num_hidden_layers", 0, 1024);
    eps_ = static_cast<float>(c.number_or("layer_norm_eps", 1e-5));
    act_ = c.str_or("hidden_act", "gelu");
    feat_act_ = c.str_or("feat_extract_activation", "gelu");
    ops::activation_op(act_);
    ops::activation_op(feat_act_);
    stable_ = c.flag_or("do_stable_layer_norm", false);
    if (arch == Arch::WavLM) {
      num_buckets_ = c.dim_or("num_buckets", 320, 2);
      max_distance_ = c.dim_or("max_bucket_distance", 800, 1);
    }
    IA_CHECK(H_ % heads_ == 0, ErrorKind::Format, "{}: hidden_size not divisible by num_attention_heads", c.source());
    IA_CHECK(!c.flag_or("use_weighted_layer_sum", false) || !ctc_, ErrorKind::Unsupported,
             "{}: unsupported use_weighted_layer_sum=true", c.source());
    const std::string norm = arch == Arch::Data2VecAudio ? "layer" : c.str_or("feat_extract_norm", "group");
    IA_CHECK(norm == "group" || norm == "layer", ErrorKind::Unsupported, "{}: unsupported feat_extract_norm '{}'",
             c.source(), norm);
    const auto& cj = c.json();
    IA_CHECK(cj.contains("conv_dim") && cj.contains("conv_kernel") && cj.contains("conv_stride"), ErrorKind::Format,
             "{}: missing conv_dim/conv_kernel/conv_stride", c.source());
    auto dims = cj["conv_dim"].get<std::vector<int64_t>>();
    auto kernels = cj["conv_kernel"].get<std::vector<int64_t>>();
    auto strides = cj["conv_stride"].get<std::vector<int64_t>>();
    IA_CHECK(dims.size() == kernels.size() && dims.size() == strides.size() && !dims.empty(), ErrorKind::Format,
             "{}: conv_dim, conv_kernel and conv_stride differ in length", c.source());
    const bool conv_bias = c.flag_or("conv_bias", false);
    int64_t in = 1;
    for (size_t i = 0; i < dims.size(); ++i) {
      auto l = w.pp("feature_extractor").pp("conv_layers").pp(static_cast<int64_t>(i));
      ConvLayer L;
      L.weight = l.pp("conv").get("weight", {dims[i], in, kernels[i]});
      if (conv_bias) L.bias = l.pp("conv").get("bias", {dims[i]});
      L.stride = strides[i];
      if (norm == "layer" || i == 0) {
        L.norm = norm == "layer" ? ConvLayer::Layer : ConvLayer::Group;
        L.norm_w = l.pp("layer_norm").get("weight", {dims[i]});
        L.norm_b = l.pp("layer_norm").get("bias", {dims[i]});
      }
      convs_.push_back(L);
      in = dims[i];
    }
    const int64_t C = dims.back();
    auto fp = w.pp("feature_projection");
    if (arch != Arch::Hubert || c.flag_or("feat_proj_layer_norm", true))
      feat_norm_ = LayerNorm::load(fp.pp("layer_norm"), C, eps_);
    projection_ = Linear::load(fp.pp("projection"), C, H_);

    auto enc = w.pp("encoder");
    const int64_t groups = c.dim_or("num_conv_pos_embedding_groups", 16, 1);
    if (arch == Arch::Data2VecAudio) {
      pos_kernel_ = c.dim_or("conv_pos_kernel_size", 19, 1);
      const int64_t layers = c.dim_or("num_conv_pos_embeddings", 5, 1);
      for (int64_t i = 0; i < layers; ++i) {
        auto pl = enc.pp("pos_conv_embed").pp("layers").pp(i).pp("conv");
        pos_w_.push_back(pl.get("weight", {H_, H_ / groups, pos_kernel_}));
        pos_b_.push_back(pl.get("bias", {H_}));
      }
    } else {
      IA_CHECK(!c.flag_or("conv_pos_batch_norm", false), ErrorKind::Unsupported,
               "{}: unsupported conv_pos_batch_norm=true", c.source());
      pos_kernel_ = c.dim_or("num_conv_pos_embeddings", 128, 1);
      auto pc = enc.pp("pos_conv_embed").pp("conv");
      pos_w_.push_back(weight_norm(pc, H_, H_ / groups, pos_kernel_));
      pos_b_.push_back(pc.get("bias", {H_}));
    }
    pos_groups_ = groups;
    enc_ln_ = LayerNorm::load(enc.pp("layer_norm"), H_, eps_);
    for (int64_t i = 0; i < n; ++i) {
      auto l = enc.pp("layers").pp(i);
      EncoderLayer L;
      L.q = Linear::load(l.pp("attention").pp("q_proj"), H_, H_);
      L.k = Linear::load(l.pp("attention").pp("k_proj"), H_, H_);
      L.v = Linear::load(l.pp("attention").pp("v_proj"), H_, H_);
      L.o = Linear::load(l.pp("attention").pp("out_proj"), H_, H_);
      L.ln = LayerNorm::load(l.pp("layer_norm"), H_, eps_);
      L.ff_in = Linear::load(l.pp("feed_forward").pp("intermediate_dense"), H_, I);
      L.ff_out = Linear::load(l.pp("feed_forward").pp("output_dense"), I, H_);
      L.final_ln = LayerNorm::load(l.pp("final_layer_norm"), H_, eps_);
      if (arch == Arch::WavLM) {
        const int64_t hd = H_ / heads_;
        L.gru_rel_pos_linear = Linear::load(l.pp("attention").pp("gru_rel_pos_linear"), hd, 8);
        L.gru_rel_pos_const = l.pp("attention").get("gru_rel_pos_const", {1, heads_, 1, 1}).view({heads_});
        if (i == 0) rel_attn_embed_ = l.pp("attention").pp("rel_attn_embed").get("weight", {num_buckets_, heads_});
      }
      layers_.push_back(std::move(L));
    }
    if (ctc_) {
      const int64_t out_hidden = c.dim_or("output_hidden_size", H_, 1);
      IA_CHECK(!c.flag_or("add_adapter", false), ErrorKind::Unsupported, "{}: unsupported add_adapter=true", c.source());
      lm_head_ = Linear::load(root.pp("lm_head"), out_hidden, c.dim("vocab_size"));
    }
  }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    auto it = inputs.find("input_values");
    IA_CHECK(it != inputs.end(), ErrorKind::InvalidArgument, "missing input 'input_values' ([batch, samples])");
    const Device dev = projection_.weight.device();
    Tensor x = it->second.to(DType::F32).to(dev);
    IA_CHECK(x.ndim() == 2, ErrorKind::InvalidArgument, "input_values must be [batch, samples], got {}", x.describe());
    const int64_t B = x.dim(0);
    std::vector<int64_t> sample_lengths;
    if (auto m = inputs.find("attention_mask"); m != inputs.end() && m->second.defined()) {
      const Tensor mask = m->second.to(Device::cpu()).to(DType::I64).contiguous();
      IA_CHECK(mask.shape() == x.shape(), ErrorKind::InvalidArgument, "attention_mask {} does not match input_values {}",
               mask.describe(), x.describe());
      const std::vector<int64_t> mv = mask.to_vector<int64_t>();
      for (int64_t b = 0; b < B; ++b) {
        int64_t n = 0;
        for (int64_t t = 0; t < x.dim(1); ++t) n += mv[b * x.dim(1) + t] != 0;
        sample_lengths.push_back(n);
      }
    }
    x = x.unsqueeze(1);  // [B, 1, L]
    for (const auto& L : convs_) {
      IA_CHECK(x.dim(2) >= L.weight.dim(2), ErrorKind::InvalidArgument,
               "audio too short: {} samples left for a kernel of {}", x.dim(2), L.weight.dim(2));
      x = conv1d(x, L.weight, L.bias, L.stride, 0, 1);
      if (L.norm == ConvLayer::Group) {  // GroupNorm with one group per channel: normalize each channel over time
        const int64_t C = x.dim(1);
        x = ops::add(ops::mul(ops::layer_norm(x, Tensor(), Tensor(), 1e-5f), L.norm_w.view({C, 1})), L.norm_b.view({C, 1}));
      } else if (L.norm == ConvLayer::Layer) {
        x = channel_layer_norm(x, L.norm_w, L.norm_b, 1e-5f);
      }
      x = ops::activation(x, feat_act_);
    }
    Tensor features = x.transpose(1, 2).contiguous();  // [B, T, C]
    const int64_t T = features.dim(1);
    // _get_feature_vector_attention_mask: the first conv-output-length frames of each row are real.
    Tensor frame_mask;
    if (!sample_lengths.empty()) {
      std::vector<float> fm(B * T, 0.0f);
      for (int64_t b = 0; b < B; ++b) {
        const int64_t n = output_length(sample_lengths[b]);
        IA_CHECK(n >= 1, ErrorKind::InvalidArgument, "row {}: {} unpadded samples give no frame after the conv stack",
                 b, sample_lengths[b]);
        std::fill(fm.begin() + b * T, fm.begin() + b * T + std::min(n, T), 1.0f);
      }
      frame_mask = Tensor::from_vector<float>(fm, {B, T}).to(dev);
    }
    Tensor normed = feat_norm_.weight.defined() ? feat_norm_(features) : features;
    Tensor h = projection_(normed);
    if (frame_mask.defined()) h = ops::mul(h, frame_mask.unsqueeze(2));  // padded frames are zeroed

    // Convolutional positional embedding (same padding; an even kernel drops the last frame).
    Tensor p = h.transpose(1, 2).contiguous();  // [B, H, T]
    for (size_t i = 0; i < pos_w_.size(); ++i) {
      p = conv1d(p, pos_w_[i], pos_b_[i], 1, pos_kernel_ / 2, pos_groups_);
      if (pos_kernel_ % 2 == 0) p = p.slice(2, 0, p.dim(2) - 1).contiguous();
      if (arch_ == Arch::Data2VecAudio) p = channel_layer_norm(p, Tensor(), Tensor(), 1e-5f);
      p = ops::activation(p, feat_act_);
    }
    IA_CHECK(p.dim(2) == T, ErrorKind::InvalidArgument, "positional conv changed the length {} -> {}", T, p.dim(2));
    h = ops::add(h, p.transpose(1, 2));
    if (!stable_) h = enc_ln_(h);
    AttentionArgs args;
    args.scale = 1.0f / std::sqrt(static_cast<float>(H_ / heads_));
    if (frame_mask.defined()) args.key_mask = frame_mask;
    const Tensor position_bias = arch_ == Arch::WavLM ? relative_position_bias(T) : Tensor();
    std::vector<Tensor> hs;
    for (const auto& L : layers_) {
      hs.push_back(h);
      if (stable_) {
        Tensor a = L.ln(h);
        h = ops::add(h, attend(L, a, args, position_bias));
        h = ops::add(h, L.ff_out(ops::activation(L.ff_in(L.final_ln(h)), act_)));
      } else {
        h = L.ln(ops::add(h, attend(L, h, args, position_bias)));
        h = L.final_ln(ops::add(h, L.ff_out(ops::activation(L.ff_in(h), act_))));
      }
    }
    if (stable_) h = enc_ln_(h);
    hs.push_back(h);
    NamedTensors out;
    if (ctc_) {
      out.emplace_back("logits", lm_head_(h));
      out.emplace_back("base.last_hidden_state", h);
      if (arch_ != Arch::Hubert) out.emplace_back("base.extract_features", normed);
    } else {
      out.emplace_back("last_hidden_state", h);
      if (arch_ != Arch::Hubert) out.emplace_back("extract_features", normed);
    }
    if (opts.output_hidden_states) bert::append_hidden_states(out, hs);
    return out;
  }

  // _get_feat_extract_output_lengths: floor((n - kernel) / stride) + 1 per conv layer.
  int64_t output_length(int64_t n) const {
    for (const auto& L : convs_) {
      const int64_t k = L.weight.dim(2);
      n = n < k ? 0 : (n - k) / L.stride + 1;
    }
    return n;
  }

 private:
  Tensor attend(const EncoderLayer& L, const Tensor& x, AttentionArgs args, const Tensor& position_bias) const {
    if (position_bias.defined()) args.bias = gated_position_bias(L, x, position_bias);
    return L.o(layers::merge_heads(ops::attention(layers::split_heads(L.q(x), heads_),
                                                  layers::split_heads(L.k(x), heads_),
                                                  layers::split_heads(L.v(x), heads_), args)));
  }

  // WavLMAttention.compute_bias: rel_attn_embed[bucket(j - i)] as [1, heads, T, T] (layer 0's table, shared).
  Tensor relative_position_bias(int64_t T) const {
    std::vector<int64_t> buckets(T * T);
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j < T; ++j) buckets[i * T + j] = relative_position_bucket(j - i, num_buckets_, max_distance_);
    const Tensor ids = Tensor::from_vector<int64_t>(buckets, {T * T}).to(rel_attn_embed_.device());
    return ops::embedding(rel_attn_embed_, ids).view({T, T, heads_}).permute({2, 0, 1}).unsqueeze(0).contiguous();
  }

  // The per-query gate of WavLM's position bias from the attention input x [B, T, H]:
  // (a, b) = sigmoid(sum of 4-wide groups of gru_rel_pos_linear(x_head)), gate = a * (b * const - 1) + 2.
  Tensor gated_position_bias(const EncoderLayer& L, const Tensor& x, const Tensor& position_bias) const {
    const int64_t B = x.dim(0), T = x.dim(1), hd = H_ / heads_;
    Tensor g = L.gru_rel_pos_linear(x.contiguous().view({B, T, heads_, hd}));     // [B, T, heads, 8]
    g = ops::unary(UnaryOp::Sigmoid, ops::reduce(ReduceOp::Sum, g.view({B, T, heads_, 2, 4})));  // [B, T, heads, 2]
    const Tensor a = g.slice(3, 0, 1), b = g.slice(3, 1, 2);
    const Tensor bc = ops::scale(ops::mul(b, L.gru_rel_pos_const.view({1, 1, heads_, 1})), 1.0f, -1.0f);
    const Tensor gate = ops::scale(ops::mul(a, bc), 1.0f, 2.0f).permute({0, 2, 1, 3});  // [B, heads, T, 1]
    return ops::mul(gate, position_bias).contiguous();                                    // [B, heads, T, T]
  }

  // torch weight_norm over dim 2: weight[o, i, k] = g[k] * v[o, i, k] / ||v[:, :, k]||. Accepts the
  // parametrizations.weight.original0/1 names (torch >= 2.1) and the legacy weight_g/weight_v.
  static Tensor weight_norm(const WeightLoader& conv, int64_t out, int64_t in, int64_t k) {
    Tensor g, v;
    if (conv.has("parametrizations.weight.original0")) {
      g = conv.get("parametrizations.weight.original0", {1, 1, k});
      v = conv.get("parametrizations.weight.original1", {out, in, k});
    } else {
      g = conv.get("weight_g", {1, 1, k});
      v = conv.get("weight_v", {out, in, k});
    }
    Tensor vk = v.permute({2, 0, 1}).contiguous().view({k, out * in});  // one row per kernel position
    Tensor norm = ops::unary(UnaryOp::Sqrt, ops::reduce(ReduceOp::Sum, ops::unary(UnaryOp::Square, vk)));  // [k]
    Tensor scale = ops::div(g.view({k}), norm).view({1, 1, k});
    return ops::mul(v, scale);
  }

  Arch arch_;
  bool ctc_ = false, stable_ = false;
  int64_t H_ = 0, heads_ = 0, pos_kernel_ = 0, pos_groups_ = 1, num_buckets_ = 0, max_distance_ = 0;
  Tensor rel_attn_embed_;
  float eps_ = 1e-5f;
  std::string act_, feat_act_;
  std::vector<ConvLayer> convs_;
  LayerNorm feat_norm_, enc_ln_;
  Linear projection_, lm_head_;
  std::vector<Tensor> pos_w_, pos_b_;
  std::vector<EncoderLayer> layers_;
};

template <Arch A>
std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& w, const std::string& cls) {
  return std::make_unique<Wav2Vec2Like>(c, w, cls, A);
}

}  // namespace
}  // namespace ia::wav2vec2

IA_REGISTER_MODEL(wav2vec2, {"wav2vec2", "speech", {"Wav2Vec2ForCTC", "Wav2Vec2Model"},
                             ia::wav2vec2::make<ia::wav2vec2::Arch::Wav2Vec2>})
IA_REGISTER_MODEL(hubert, {"hubert", "speech", {"HubertForCTC", "HubertModel"},
                           ia::wav2vec2::make<ia::wav2vec2::Arch::Hubert>})
IA_REGISTER_MODEL(wavlm, {"wavlm", "speech", {"WavLMForCTC", "WavLMModel"}, ia::wav2vec2::make<ia::wav2vec2::Arch::WavLM>})
IA_REGISTER_MODEL(data2vec_audio, {"data2vec-audio", "speech", {"Data2VecAudioForCTC", "Data2VecAudioModel"},
                                   ia::wav2vec2::make<ia::wav2vec2::Arch::Data2VecAudio>})
