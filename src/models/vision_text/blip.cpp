// BLIP image captioning (HF modeling_blip.py / modeling_blip_text.py, BlipForConditionalGeneration): a ViT vision
// model (class token + patch embedding + positions, pre-LN layers with a fused qkv projection, post_layernorm)
// whose last_hidden_state the BERT-style text decoder (BlipTextLMHeadModel) cross-attends to. Generation follows
// BLIP's generate: the prompt's first token becomes bos ([DEC]), its last token (the processor's [SEP]) is
// dropped, and decoding stops at sep_token_id.
#include <cmath>

#include "generation/beam_generate.h"
#include "generation/generate.h"
#include "models/causal_lm.h"
#include "models/encoder/bert_decoder.h"
#include "models/multimodal/clip_encoder.h"
#include "models/vision/common.h"
#include "models/vision/vit.h"

namespace ia::blip {
namespace {

class VisionModel {
 public:
  VisionModel(const ModelConfig& c, const WeightLoader& w) {
    cfg_ = clip::TowerConfig::from(c, {768, 3072, 12, 12, "gelu", 1e-5});
    image_ = c.dim_or("image_size", 384, 1);
    patch_ = c.dim_or("patch_size", 16, 1);
    const int64_t D = cfg_.hidden, n = (image_ / patch_) * (image_ / patch_) + 1;
    auto e = w.pp("embeddings");
    class_ = e.get("class_embedding", {1, 1, D});
    patch_w_ = e.pp("patch_embedding").get("weight", {D, 3, patch_, patch_});
    patch_b_ = e.pp("patch_embedding").get("bias", {D});
    pos_ = e.get("position_embedding", {1, n, D});
    encoder_ = clip::PreLnEncoder(cfg_, w.pp("encoder"), true);
    post_ln_ = layers::LayerNorm::load(w.pp("post_layernorm"), D, cfg_.eps);
  }
  int64_t hidden() const { return cfg_.hidden; }

  // BlipVisionModel.forward: last_hidden_state = post_layernorm(encoder output); hidden_states are the
  // encoder's (embeddings, then each layer, before post_layernorm).
  Tensor forward(const TensorMap& inputs, Device device, std::vector<Tensor>* hs) const {
    const Tensor px = vision::pixel_values(inputs, 3, device);
    const int64_t B = px.dim(0), D = cfg_.hidden, height = px.dim(2), width = px.dim(3);
    const bool interpolate = vit::interpolate_flag(inputs);
    if (!interpolate)
      IA_CHECK(height == image_ && width == image_, ErrorKind::InvalidArgument,
               "Input image size ({}*{}) doesn't match model ({}*{})", height, width, image_, image_);
    IA_CHECK(height >= patch_ && width >= patch_, ErrorKind::InvalidArgument, "image {}x{} smaller than patch {}",
             height, width, patch_);
    Tensor patches = clip::patch_embed(px, patch_w_, patch_b_, patch_);
    Tensor x = ops::concat({class_.expand({B, 1, D}).contiguous(), patches}, 1);
    Tensor pos = pos_;
    if (interpolate && !(x.dim(1) == pos_.dim(1) && height == width))
      pos = vit::interpolate_positions(pos_, 1, height / patch_, width / patch_);
    x = ops::add(x, pos);
    AttentionArgs args;
    args.scale = 1.0f / std::sqrt(static_cast<float>(D / cfg_.heads));
    return post_ln_(encoder_.forward(x, args, hs));
  }

 private:
  clip::TowerConfig cfg_;
  int64_t image_ = 0, patch_ = 0;
  Tensor class_, patch_w_, patch_b_, pos_;
  clip::PreLnEncoder encoder_;
  layers::LayerNorm post_ln_;
};

// BlipTextConfig with HF's defaults for the fields save_pretrained leaves out.
bert::BertConfig text_config(const ModelConfig& c) {
  bert::BertConfig b;
  b.vocab_size = c.dim_or("vocab_size", 30524, 1);
  b.hidden_size = c.dim_or("hidden_size", 768, 1);
  b.num_layers = c.dim_or("num_hidden_layers", 12, 0, 1024);
  b.num_heads = c.dim_or("num_attention_heads", 8, 1);
  b.intermediate_size = c.dim_or("intermediate_size", 3072, 1);
  b.max_position_embeddings = c.dim_or("max_position_embeddings", 512, 1);
  b.embedding_size = b.hidden_size;
  b.pad_token_id = c.dim_or("pad_token_id", 0, 0);
  b.hidden_act = c.str_or("hidden_act", "gelu");
  ops::activation_op(b.hidden_act);
  b.position_embedding_type = c.str_or("position_embedding_type", "absolute");
  b.layer_norm_eps = c.number_or("layer_norm_eps", 1e-12);
  IA_CHECK(b.hidden_size % b.num_heads == 0, ErrorKind::Format,
           "{}: hidden_size {} is not a multiple of num_attention_heads {}", c.source(), b.hidden_size, b.num_heads);
  return b;
}

class BlipForConditionalGeneration : public Model, public generation::BeamGenerating {
 public:
  BlipForConditionalGeneration(const ModelConfig& c, const WeightLoader& w, const std::string&) {
    const ModelConfig vc = c.has("vision_config") ? c.sub("vision_config") : ModelConfig(nlohmann::json::object(), c.source() + ":vision_config");
    const ModelConfig tc = c.has("text_config") ? c.sub("text_config") : ModelConfig(nlohmann::json::object(), c.source() + ":text_config");
    vision_ = std::make_unique<VisionModel>(vc, w.pp("vision_model"));
    bert::TextDecoderSpec spec;
    spec.token_type = false;
    spec.cross_width = tc.dim_or("encoder_hidden_size", 768, 1);
    IA_CHECK(spec.cross_width == vision_->hidden(), ErrorKind::Format,
             "{}: text_config.encoder_hidden_size {} differs from the vision hidden_size {}", c.source(),
             spec.cross_width, vision_->hidden());
    text_model_ = bert::make_text_decoder(tc, w.pp("text_decoder"), text_config(tc), spec);
    text_ = dynamic_cast<CausalLM*>(text_model_.get());
    bos_ = tc.dim_or("bos_token_id", 30522, 0);
    sep_ = tc.dim_or("sep_token_id", 102, 0);
    pad_ = tc.dim_or("pad_token_id", 0, 0);
  }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    std::vector<Tensor> hs;
    const Tensor image_embeds = vision_->forward(inputs, device(), opts.output_hidden_states ? &hs : nullptr);
    auto it = inputs.find("input_ids");
    IA_CHECK(it != inputs.end() && it->second.defined(), ErrorKind::InvalidArgument,
             "missing input 'input_ids' (BlipForConditionalGeneration's text decoder input)");
    const Tensor ids = it->second.to(Device::cpu()).to(DType::I64).contiguous();
    IA_CHECK(ids.ndim() == 2 && ids.dim(0) == image_embeds.dim(0) && ids.dim(1) > 0, ErrorKind::InvalidArgument,
             "input_ids must be [{}, seq>0], got {}", image_embeds.dim(0), ids.describe());
    const int64_t B = ids.dim(0), S = ids.dim(1);
    IA_CHECK(S <= text_->max_positions(), ErrorKind::InvalidArgument,
             "sequence length {} exceeds max_position_embeddings {}", S, text_->max_positions());
    StepInput in;
    in.input_ids = ids;
    auto m = inputs.find("attention_mask");
    in.attention_mask = m != inputs.end() && m->second.defined()
                            ? m->second.to(Device::cpu()).to(DType::I64).contiguous()
                            : layers::full_i64({B, S}, 1);
    IA_CHECK(in.attention_mask.shape() == ids.shape(), ErrorKind::InvalidArgument, "attention_mask {} for input_ids {}",
             in.attention_mask.describe(), ids.describe());
    in.position_ids = text_->default_position_ids(in.attention_mask);
    auto state = text_->new_cross_state(image_embeds, Tensor(), S);
    NamedTensors out;
    out.emplace_back("logits", text_->step(*state, in));
    out.emplace_back("image_embeds", image_embeds);
    out.emplace_back("last_hidden_state", image_embeds);
    vision::append_hidden_states(out, hs);
    return out;
  }

  NamedTensors generate(const TensorMap& inputs, const GenerationRequest& req) override {
    const Tensor image_embeds = vision_->forward(inputs, device(), nullptr);
    const int64_t B = image_embeds.dim(0);
    Tensor mask;
    const Tensor prompt = decoder_prompt(inputs, B, mask);
    generation::GenerationSettings s;
    s.max_new_tokens = req.max_new_tokens;
    s.eos_token_ids = {sep_};  // BLIP's generate passes eos_token_id = sep_token_id
    s.pad_token_id = pad_;
    s.return_logits = req.return_logits;
    s.hf_cache_compat = config_.reproduces_transformers();
    const Tensor ones = layers::full_i64({B, image_embeds.dim(1)}, 1);
    s.new_state = [&](int64_t, int64_t capacity) { return text_->new_cross_state(image_embeds, ones, capacity); };
    auto r = generation::generate(*text_, prompt, mask, s);
    return r.named(req.return_logits);
  }

  // Beam search with the same prompt and BLIP's eos/pad, the image embeddings repeated per beam.
  NamedTensors generate_beams(const TensorMap& inputs, const generation::BeamRequest& req) override {
    const Tensor image_embeds = vision_->forward(inputs, device(), nullptr);
    const int64_t B = image_embeds.dim(0);
    Tensor mask;
    const Tensor prompt = decoder_prompt(inputs, B, mask);
    generation::BeamRequest r = req;
    r.base.eos_token_ids = {sep_};
    r.base.pad_token_id = pad_;
    const auto bs = generation::beam_settings(r, config_, prompt.dim(1));
    generation::BeamConditioning cond;
    cond.hf_cache_compat = config_.reproduces_transformers();
    cond.new_state = [&](int64_t rows, int64_t capacity) {
      return text_->new_cross_state(generation::repeat_rows(image_embeds, rows / B),
                                    layers::full_i64({rows, image_embeds.dim(1)}, 1), capacity);
    };
    const auto out = generation::generate_beams(*text_, prompt, mask, bs, cond);
    return generation::beam_outputs(out, B * req.num_beams, text_->vocab_size(), bs.return_logits);
  }
  bool can_generate() const override { return true; }

 private:
  // BLIP.generate's decoder prompt: [bos] alone, or the processor's input_ids ([CLS] prompt [SEP]) with the
  // first token replaced by bos and the trailing [SEP] dropped (mask: the attention_mask cut the same way).
  Tensor decoder_prompt(const TensorMap& inputs, int64_t B, Tensor& mask) const {
    auto it = inputs.find("input_ids");
    if (it == inputs.end() || !it->second.defined()) return layers::full_i64({B, 1}, bos_);
    Tensor ids = it->second.to(Device::cpu()).to(DType::I64).clone();
    IA_CHECK(ids.ndim() == 2 && ids.dim(0) == B && ids.dim(1) >= 2, ErrorKind::InvalidArgument,
             "generate: input_ids must be [{}, seq>=2] ([CLS] prompt [SEP] from the processor), got {}", B,
             ids.describe());
    for (int64_t b = 0; b < B; ++b) ids.data<int64_t>()[b * ids.dim(1)] = bos_;
    auto m = inputs.find("attention_mask");
    if (m != inputs.end() && m->second.defined()) {
      Tensor am = m->second.to(Device::cpu()).to(DType::I64).contiguous();
      IA_CHECK(am.shape() == ids.shape(), ErrorKind::InvalidArgument, "attention_mask {} for input_ids {}",
               am.describe(), ids.describe());
      mask = am.slice(1, 0, am.dim(1) - 1).contiguous();
    }
    return ids.slice(1, 0, ids.dim(1) - 1).contiguous();
  }

  std::unique_ptr<VisionModel> vision_;
  std::unique_ptr<Model> text_model_;
  CausalLM* text_ = nullptr;
  int64_t bos_ = 0, sep_ = 0, pad_ = 0;
};

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& w, const std::string& cls) {
  return std::make_unique<BlipForConditionalGeneration>(c, w, cls);
}

}  // namespace
}  // namespace ia::blip

IA_REGISTER_MODEL(blip, {"blip", "vision-encoder-text-decoder", {"BlipForConditionalGeneration"}, ia::blip::make})
