// Whisper (HF modeling_whisper.py): WhisperEncoder = two GELU conv1d layers over the log-mel input_features
// (the second with stride 2) plus the stored sinusoidal position table, then pre-LN layers; WhisperDecoder =
// token embeddings plus learned positions, pre-LN self/cross-attention layers, and proj_out tied to the token
// embeddings. The layers are HF's mBART layers (k_proj without bias), so they come from the BART-family base.
#include "models/seq2seq/bart.h"
#include "models/speech/conv1d.h"

namespace ia::whisper {
namespace {

bart::BartVariant whisper_variant() {
  bart::BartVariant v;
  v.pre_norm = true;
  v.positions = bart::Positions::Learned;
  v.speech_encoder = true;
  v.k_proj_bias = false;
  v.lm_head = "proj_out";
  v.max_positions_key = "max_target_positions";
  return v;
}

class WhisperModel : public bart::BartModel {
 public:
  WhisperModel(const ModelConfig& c, const WeightLoader& root, const std::string& cls)
      : BartModel(c, root, cls, whisper_variant()) {
    mels_ = c.dim("num_mel_bins");
    source_positions_ = c.dim("max_source_positions");
    const WeightLoader enc = root.base("model").pp("encoder");
    conv1_w_ = enc.pp("conv1").get("weight", {d_, mels_, 3});
    conv1_b_ = enc.pp("conv1").get("bias", {d_});
    conv2_w_ = enc.pp("conv2").get("weight", {d_, d_, 3});
    conv2_b_ = enc.pp("conv2").get("bias", {d_});
    embed_positions_ = enc.pp("embed_positions").get("weight", {source_positions_, d_});
  }

  // WhisperEncoder.forward: input_features [B, num_mel_bins, 2 * max_source_positions] (HF rejects other lengths;
  // Whisper's encoder takes no attention_mask).
  seq2seq::EncoderOutput encode_inputs(const TensorMap& inputs, std::vector<Tensor>* hidden_states) override {
    auto it = inputs.find("input_features");
    IA_CHECK(it != inputs.end() && it->second.defined(), ErrorKind::InvalidArgument,
             "missing input 'input_features' ([batch, {}, {}] log-mel)", mels_, 2 * source_positions_);
    Tensor x = it->second.to(DType::F32).to(conv1_w_.device());
    IA_CHECK(x.ndim() == 3 && x.dim(1) == mels_, ErrorKind::InvalidArgument,
             "input_features must be [batch, {}, frames], got {}", mels_, x.describe());
    IA_CHECK(x.dim(2) == 2 * source_positions_, ErrorKind::InvalidArgument,
             "Whisper expects the mel input features to be of length {}, but found {}; pad them to {} frames",
             2 * source_positions_, x.dim(2), 2 * source_positions_);
    x = ops::activation(speech::conv1d(x.contiguous(), conv1_w_, conv1_b_, 1, 1), "gelu");
    x = ops::activation(speech::conv1d(x, conv2_w_, conv2_b_, 2, 1), "gelu");
    x = ops::add(x.transpose(1, 2), embed_positions_.slice(0, 0, x.dim(2)).unsqueeze(0));
    seq2seq::EncoderOutput e;
    e.hidden = run_encoder(x, Tensor(), hidden_states);
    return e;
  }

 private:
  int64_t mels_ = 0, source_positions_ = 0;
  Tensor conv1_w_, conv1_b_, conv2_w_, conv2_b_, embed_positions_;
};

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& w, const std::string& cls) {
  return std::make_unique<WhisperModel>(c, w, cls);
}

}  // namespace
}  // namespace ia::whisper

IA_REGISTER_MODEL(whisper, {"whisper", "speech", {"WhisperForConditionalGeneration", "WhisperModel"},
                            ia::whisper::make})
