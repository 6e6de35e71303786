// VisionEncoderDecoderModel (HF modeling_vision_encoder_decoder.py): any implemented vision encoder (the base
// model of config.encoder: ViT, DeiT, Swin, BEiT, ...) and any implemented causal text decoder with
// cross-attention (config.decoder: GPT-2 / BERT / RoBERTa with add_cross_attention, TrOCR), joined by
// enc_to_dec_proj when the widths differ and the decoder has no cross_attention_hidden_size. TrOCR checkpoints
// are this class with a TrOCR decoder.
#include <filesystem>
#include <fstream>

#include "generation/beam_generate.h"
#include "generation/generate.h"
#include "models/causal_lm.h"
#include "models/composite.h"
#include "models/layers.h"
#include "models/vision/common.h"

namespace ia::vision_encoder_decoder {
namespace {

// An integer field of generation_config.json next to the config, else of the config, else of its decoder.
int64_t generation_field(const ModelConfig& c, const std::string& key) {
  const auto dir = std::filesystem::path(c.source()).parent_path();
  std::ifstream in(dir / "generation_config.json");
  if (in.good()) {
    const nlohmann::json g = nlohmann::json::parse(in, nullptr, false);
    if (g.is_object() && g.contains(key) && g[key].is_number_integer()) return g[key].get<int64_t>();
  }
  if (c.has(key) && c.json()[key].is_number_integer()) return c.json()[key].get<int64_t>();
  const ModelConfig d = c.sub("decoder");
  if (d.has(key) && d.json()[key].is_number_integer()) return d.json()[key].get<int64_t>();
  return -1;
}

class VisionEncoderDecoder : public Model, public generation::BeamGenerating {
 public:
  VisionEncoderDecoder(const ModelConfig& c, const WeightLoader& w, const std::string&) {
    const ModelConfig ec = c.sub("encoder"), dc = c.sub("decoder");
    encoder_ = build_model(ec, w.pp("encoder"), auto_model_class(ec, "VisionEncoderDecoderModel"));
    decoder_model_ = build_model(dc, w.pp("decoder"), auto_causal_lm_class(dc, "VisionEncoderDecoderModel"));
    decoder_ = dynamic_cast<CausalLM*>(decoder_model_.get());
    IA_CHECK(decoder_ != nullptr && decoder_->cross_attention_width() > 0, ErrorKind::Unsupported,
             "unsupported: VisionEncoderDecoderModel decoder {} without cross-attention (needs add_cross_attention)",
             dc.model_type());
    channels_ = ec.dim_or("num_channels", 3, 1);
    IA_CHECK(ec.has("hidden_size"), ErrorKind::Format, "{}: missing field 'hidden_size'", ec.source());
    const int64_t enc_hidden = ec.dim("hidden_size"), dec_hidden = decoder_->hidden_size();
    if (enc_hidden != dec_hidden && !dc.has("cross_attention_hidden_size"))
      enc_to_dec_proj_ = layers::Linear::load(w.pp("enc_to_dec_proj"), enc_hidden, dec_hidden);
    const int64_t width = enc_to_dec_proj_.defined() ? dec_hidden : enc_hidden;
    IA_CHECK(decoder_->cross_attention_width() == width, ErrorKind::Format,
             "{}: the decoder's cross-attention reads width {}, the encoder provides {}", c.source(),
             decoder_->cross_attention_width(), width);
    decoder_start_ = generation_field(c, "decoder_start_token_id");
    if (decoder_start_ < 0) decoder_start_ = generation_field(c, "bos_token_id");
  }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    std::vector<Tensor> enc_hs;
    const Tensor enc = encode(inputs, opts.output_hidden_states ? &enc_hs : nullptr);
    auto it = inputs.find("decoder_input_ids");
    IA_CHECK(it != inputs.end() && it->second.defined(), ErrorKind::InvalidArgument,
             "missing input 'decoder_input_ids' (VisionEncoderDecoderModel needs the decoder sequence)");
    const Tensor ids = it->second.to(Device::cpu()).to(DType::I64).contiguous();
    IA_CHECK(ids.ndim() == 2 && ids.dim(0) == enc.dim(0) && ids.dim(1) > 0, ErrorKind::InvalidArgument,
             "decoder_input_ids must be [{}, seq>0], got {}", enc.dim(0), ids.describe());
    const int64_t B = ids.dim(0), S = ids.dim(1), V = decoder_->vocab_size();
    for (int64_t t : ids.to_vector<int64_t>())
      IA_CHECK(t >= 0 && t < V, ErrorKind::InvalidArgument, "decoder_input_ids: token id {} outside [0, {})", t, V);
    const int64_t maxp = decoder_->max_positions();
    IA_CHECK(maxp == 0 || S <= maxp, ErrorKind::InvalidArgument,
             "decoder sequence length {} exceeds the decoder's maximum of {} positions", S, maxp);
    StepInput in;
    in.input_ids = ids;
    auto m = inputs.find("decoder_attention_mask");
    in.attention_mask = m != inputs.end() && m->second.defined()
                            ? m->second.to(Device::cpu()).to(DType::I64).contiguous()
                            : layers::full_i64({B, S}, 1);
    IA_CHECK(in.attention_mask.shape() == ids.shape(), ErrorKind::InvalidArgument,
             "decoder_attention_mask {} for decoder_input_ids {}", in.attention_mask.describe(), ids.describe());
    in.position_ids = decoder_->default_position_ids(in.attention_mask);
    std::vector<Tensor> dec_hs;
    if (opts.output_hidden_states) in.hidden_states = &dec_hs;
    auto state = decoder_->new_cross_state(cross_input(enc), Tensor(), S);
    NamedTensors out;
    out.emplace_back("logits", decoder_->step(*state, in));
    for (size_t i = 0; i < dec_hs.size(); ++i) out.emplace_back("decoder_hidden_states." + std::to_string(i), dec_hs[i]);
    out.emplace_back("encoder_last_hidden_state", enc);
    vision::append_hidden_states(out, enc_hs, "encoder_");
    return out;
  }

  // Greedy decoding from decoder_start_token_id (or a decoder_input_ids prompt, with the start token
  // prepended when missing, like HF's _prepare_decoder_input_ids_for_generation).
  NamedTensors generate(const TensorMap& inputs, const GenerationRequest& req) override {
    const Tensor enc = encode(inputs, nullptr);
    const Tensor prompt = decoder_prompt(inputs, req.decoder_start_token_id, enc.dim(0));
    const Tensor cross = cross_input(enc);
    generation::GenerationSettings s;
    s.max_new_tokens = req.max_new_tokens;
    s.eos_token_ids = req.eos_token_ids.empty() ? default_eos_token_ids(config_) : req.eos_token_ids;
    s.pad_token_id = req.pad_token_id;
    s.return_logits = req.return_logits;
    s.hf_cache_compat = config_.reproduces_transformers();
    s.new_state = [&](int64_t, int64_t capacity) { return decoder_->new_cross_state(cross, Tensor(), capacity); };
    auto r = generation::generate(*decoder_, prompt, Tensor(), s);
    return r.named(req.return_logits);
  }

  // Beam search from the same decoder prompt, the encoder output repeated per beam.
  NamedTensors generate_beams(const TensorMap& inputs, const generation::BeamRequest& req) override {
    const Tensor enc = encode(inputs, nullptr);
    const int64_t B = enc.dim(0);
    const Tensor prompt = decoder_prompt(inputs, req.base.decoder_start_token_id, B);
    const Tensor cross = cross_input(enc);
    generation::BeamRequest r = req;
    if (r.base.eos_token_ids.empty()) r.base.eos_token_ids = default_eos_token_ids(config_);
    const auto bs = generation::beam_settings(r, config_, prompt.dim(1));
    generation::BeamConditioning cond;
    cond.hf_cache_compat = config_.reproduces_transformers();
    cond.new_state = [&](int64_t rows, int64_t capacity) {
      return decoder_->new_cross_state(generation::repeat_rows(cross, rows / B), Tensor(), capacity);
    };
    const auto out = generation::generate_beams(*decoder_, prompt, Tensor(), bs, cond);
    return generation::beam_outputs(out, B * req.num_beams, decoder_->vocab_size(), bs.return_logits);
  }
  bool can_generate() const override { return true; }

 private:
  // The encoder's last_hidden_state [B, S, D] (and its hidden_states tuple when asked).
  Tensor encode(const TensorMap& inputs, std::vector<Tensor>* hidden_states) {
    TensorMap enc_in;
    enc_in["pixel_values"] = vision::pixel_values(inputs, channels_, device());
    if (inputs.count("interpolate_pos_encoding")) enc_in["interpolate_pos_encoding"] = inputs.at("interpolate_pos_encoding");
    ForwardOptions fo;
    fo.output_hidden_states = hidden_states != nullptr;
    Tensor last;
    for (auto& [name, t] : encoder_->forward(enc_in, fo)) {
      if (name == "last_hidden_state") last = t;
      if (hidden_states && name.rfind("hidden_states.", 0) == 0) hidden_states->push_back(t);
    }
    IA_CHECK(last.defined() && last.ndim() == 3, ErrorKind::Unsupported,
             "unsupported: VisionEncoderDecoderModel encoder {} (last_hidden_state must be [batch, tokens, hidden])",
             encoder_->model_type());
    return last;
  }

  // [B, 1] decoder_start_token_id, or the given decoder_input_ids with it prepended when they do not start with it.
  Tensor decoder_prompt(const TensorMap& inputs, int64_t requested_start, int64_t B) const {
    const int64_t start = requested_start >= 0 ? requested_start : decoder_start_;
    IA_CHECK(start >= 0, ErrorKind::InvalidArgument,
             "generate: decoder_start_token_id or bos_token_id has to be defined for encoder-decoder generation");
    const Tensor first = layers::full_i64({B, 1}, start);
    auto it = inputs.find("decoder_input_ids");
    if (it == inputs.end() || !it->second.defined()) return first;
    Tensor given = it->second.to(Device::cpu()).to(DType::I64).contiguous();
    IA_CHECK(given.ndim() == 2 && given.dim(0) == B, ErrorKind::InvalidArgument,
             "generate: decoder_input_ids {} for {} images", given.describe(), B);
    bool starts = given.dim(1) > 0;
    for (int64_t b = 0; b < B && starts; ++b) starts = given.data<int64_t>()[b * given.dim(1)] == start;
    return starts ? given : ops::concat({first, given}, 1);
  }

  Tensor cross_input(const Tensor& enc) const { return enc_to_dec_proj_.defined() ? enc_to_dec_proj_(enc) : enc; }

  std::unique_ptr<Model> encoder_, decoder_model_;
  CausalLM* decoder_ = nullptr;
  layers::Linear enc_to_dec_proj_;
  int64_t channels_ = 3, decoder_start_ = -1;
};

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& w, const std::string& cls) {
  return std::make_unique<VisionEncoderDecoder>(c, w, cls);
}

}  // namespace
}  // namespace ia::vision_encoder_decoder

IA_REGISTER_MODEL(vision_encoder_decoder, {"vision-encoder-decoder", "vision-encoder-text-decoder",
                                           {"VisionEncoderDecoderModel"}, ia::vision_encoder_decoder::make})
