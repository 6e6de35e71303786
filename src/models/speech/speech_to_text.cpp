// Speech2Text (HF modeling_speech_to_text.py): Conv1dSubsampler (stride-2 conv1d layers, each followed by a GLU
// over channels) on the filter-bank input_features, scaled, plus sinusoidal positions derived from the padding
// mask; then M2M100's pre-LN encoder/decoder layers (HF copies them from mBART) with sinusoidal decoder positions
// from the token padding, reused from the BART-family base.
#include "models/seq2seq/bart.h"
#include "models/speech/conv1d.h"

namespace ia::speech_to_text {
namespace {

bart::BartVariant s2t_variant() {
  bart::BartVariant v = bart::variant_for("m2m_100");  // pre-LN, positions from padding
  v.speech_encoder = true;
  v.max_positions_key = "max_target_positions";
  return v;
}

class Speech2TextModel : public bart::BartModel {
 public:
  Speech2TextModel(const ModelConfig& c, const WeightLoader& root, const std::string& cls)
      : BartModel(c, root, cls, s2t_variant()) {
    const int64_t n = c.dim("num_conv_layers", 1, 64);
    const auto& j = c.json();
    IA_CHECK(j.contains("conv_kernel_sizes") && j["conv_kernel_sizes"].is_array(), ErrorKind::Format,
             "{}: missing conv_kernel_sizes", c.source());
    const auto kernels = j["conv_kernel_sizes"].get<std::vector<int64_t>>();
    IA_CHECK(static_cast<int64_t>(kernels.size()) == n, ErrorKind::Format,
             "{}: conv_kernel_sizes has {} entries for num_conv_layers {}", c.source(), kernels.size(), n);
    in_features_ = c.dim("input_feat_per_channel") * c.dim_or("input_channels", 1, 1);
    const int64_t mid = c.dim("conv_channels");
    IA_CHECK(mid % 2 == 0, ErrorKind::Format, "{}: conv_channels {} is odd (GLU halves it)", c.source(), mid);
    const WeightLoader conv = root.base("model").pp("encoder").pp("conv").pp("conv_layers");
    for (int64_t i = 0; i < n; ++i) {
      const int64_t in = i == 0 ? in_features_ : mid / 2, out = i < n - 1 ? mid : 2 * d_;
      conv_w_.push_back(conv.pp(i).get("weight", {out, in, kernels[i]}));
      conv_b_.push_back(conv.pp(i).get("bias", {out}));
    }
  }

  // Speech2TextEncoder.forward: input_features [B, frames, features], attention_mask [B, frames] (optional).
  seq2seq::EncoderOutput encode_inputs(const TensorMap& inputs, std::vector<Tensor>* hidden_states) override {
    auto it = inputs.find("input_features");
    IA_CHECK(it != inputs.end() && it->second.defined(), ErrorKind::InvalidArgument,
             "missing input 'input_features' ([batch, frames, {}] filter banks)", in_features_);
    const Device dev = conv_w_[0].device();
    Tensor x = it->second.to(DType::F32).to(dev);
    IA_CHECK(x.ndim() == 3 && x.dim(2) == in_features_ && x.dim(1) > 0, ErrorKind::InvalidArgument,
             "input_features must be [batch, frames, {}], got {}", in_features_, x.describe());
    const int64_t B = x.dim(0);
    const Tensor frames_mask = seq2seq::host_mask(inputs, "attention_mask", {B, x.dim(1)});

    // Conv1dSubsampler: [B, F, T] -> conv (stride 2, padding k / 2) -> GLU over channels, per layer.
    x = x.transpose(1, 2).contiguous();
    for (size_t i = 0; i < conv_w_.size(); ++i) {
      x = speech::conv1d(x, conv_w_[i], conv_b_[i], 2, conv_w_[i].dim(2) / 2);
      const int64_t half = x.dim(1) / 2;
      x = ops::mul(x.slice(1, 0, half), ops::unary(UnaryOp::Sigmoid, x.slice(1, half, 2 * half)));
    }
    x = x.transpose(1, 2).contiguous();  // [B, T', D]
    if (embed_scale_ != 1.0f) x = ops::scale(x, embed_scale_);
    const int64_t T = x.dim(1);

    // _get_feature_vector_attention_mask: the first subsampled-length frames of each row are real.
    std::vector<int64_t> real(B * T, 1);
    if (frames_mask.defined()) {
      const std::vector<int64_t> m = frames_mask.to_vector<int64_t>();
      for (int64_t b = 0; b < B; ++b) {
        int64_t n = 0;
        for (int64_t t = 0; t < frames_mask.dim(1); ++t) n += m[b * frames_mask.dim(1) + t];
        for (size_t i = 0; i < conv_w_.size(); ++i) n = n <= 0 ? 0 : (n - 1) / 2 + 1;
        IA_CHECK(n >= 1, ErrorKind::InvalidArgument, "attention_mask row {} has no unpadded frame", b);
        for (int64_t t = 0; t < T; ++t) real[b * T + t] = t < n ? 1 : 0;
      }
    }
    // Speech2TextSinusoidalPositionalEmbedding over padding_mask = (mask != 1): create_position_ids_from_input_ids
    // with padding_idx = pad_token_id treats entries equal to pad_token_id as padding.
    Tensor pos = Tensor::empty({B, T, d_}, DType::F32);
    for (int64_t b = 0; b < B; ++b) {
      int64_t run = 0;
      for (int64_t t = 0; t < T; ++t) {
        const int64_t padding_value = real[b * T + t] ? 0 : 1;
        const bool counted = padding_value != pad_;
        run += counted;
        seq2seq::fairseq_sinusoid_row(counted ? run + pad_ : pad_, d_, pad_, pos.data<float>() + (b * T + t) * d_);
      }
    }
    x = ops::add(x, pos.to(dev));
    seq2seq::EncoderOutput e;
    if (frames_mask.defined()) e.mask = Tensor::from_vector<int64_t>(real, {B, T});
    e.hidden = run_encoder(x, e.mask, hidden_states);
    return e;
  }

 private:
  int64_t in_features_ = 0;
  std::vector<Tensor> conv_w_, conv_b_;
};

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& w, const std::string& cls) {
  return std::make_unique<Speech2TextModel>(c, w, cls);
}

}  // namespace
}  // namespace ia::speech_to_text

IA_REGISTER_MODEL(speech_to_text, {"speech_to_text", "speech",
                                   {"Speech2TextForConditionalGeneration", "Speech2TextModel"},
                                   ia::speech_to_text::make})
