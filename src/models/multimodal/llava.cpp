// LLaVA (HF modeling_llava.py, LlavaForConditionalGeneration): a CLIP vision tower whose hidden state at
// vision_feature_layer (an index or a list of indexes, concatenated) -- without the class token under the
// "default" vision_feature_select_strategy -- goes through the multi-modal projector (linear_1, act, linear_2)
// and replaces, in order, the embeddings of the prompt's image tokens (image_token_index) before any causal LM
// of the engine (config.text_config: Llama, Mistral, ...) runs on them; generation prefills with those merged
// embeddings and continues with the KV cache; under ModelConfig::transformers_compat 4.48 its decode steps take
// the mask and positions of that release's legacy LLaVA path (LegacyDecode), by default the prompt's own.
#include "generation/beam_generate.h"
#include "generation/generate.h"
#include "models/causal_lm.h"
#include "models/composite.h"
#include "models/layers.h"
#include "models/multimodal/clip_encoder.h"
#include "models/vision/common.h"

namespace ia::llava {
namespace {

// transformers 4.48 runs LLaVA's decode steps through its legacy branch: the past attention mask is rebuilt from
// the KV cache (a past position is masked only when its layer-0 keys, feature 0 summed over heads, are exactly
// zero) and position_ids = mask.sum() - 1. For unpadded prompts this is the usual mask and positions; for
// left-padded rows the padding becomes visible and positions count it. Prefill steps pass through unchanged.
class LegacyDecode : public CausalLM {
 public:
  explicit LegacyDecode(CausalLM& lm) : lm_(lm) {}
  std::unique_ptr<DecoderState> new_state(int64_t batch, int64_t capacity) const override {
    return lm_.new_state(batch, capacity);
  }
  Tensor step(DecoderState& state, const StepInput& in) override {
    auto* cache = dynamic_cast<KVCache*>(&state);
    const int64_t past = state.length();
    if (cache == nullptr || past == 0 || in.input_ids.dim(1) != 1) return lm_.step(state, in);
    const int64_t B = in.input_ids.dim(0);
    const Tensor k = cache->keys(0, past).to(Device::cpu()).contiguous();  // [B, Hkv, past, D]
    const int64_t H = k.dim(1), D = k.dim(3);
    Tensor mask = layers::full_i64({B, past + 1}, 1), pos = Tensor::empty({B, 1}, DType::I64);
    for (int64_t b = 0; b < B; ++b) {
      int64_t count = 1;
      for (int64_t j = 0; j < past; ++j) {
        float sum = 0.0f;
        for (int64_t h = 0; h < H; ++h) sum += k.data<float>()[((b * H + h) * past + j) * D];
        mask.data<int64_t>()[b * (past + 1) + j] = sum != 0.0f;
        count += sum != 0.0f;
      }
      pos.data<int64_t>()[b] = count - 1;
    }
    StepInput legacy = in;
    legacy.attention_mask = mask;
    legacy.position_ids = pos;
    return lm_.step(state, legacy);
  }
  int64_t vocab_size() const override { return lm_.vocab_size(); }
  int64_t max_positions() const override { return lm_.max_positions(); }
  bool accepts_inputs_embeds() const override { return lm_.accepts_inputs_embeds(); }

 private:
  CausalLM& lm_;
};

class LlavaForConditionalGeneration : public Model, public generation::BeamGenerating {
 public:
  LlavaForConditionalGeneration(const ModelConfig& c, const WeightLoader& w, const std::string&) {
    IA_CHECK(c.has("vision_config") && c.has("text_config"), ErrorKind::Format,
             "{}: LLaVA needs vision_config and text_config", c.source());
    const ModelConfig vc = c.sub("vision_config"), tc = c.sub("text_config");
    const std::string vtype = vc.str_or("model_type", "clip_vision_model");
    IA_CHECK(vtype == "clip_vision_model", ErrorKind::Unsupported,
             "unsupported: LLaVA vision tower '{}' (implemented: clip_vision_model)", vtype);
    vision_ = std::make_unique<clip::VisionTower>(vc, w.pp("vision_tower").pp("vision_model"));
    channels_ = vc.dim_or("num_channels", 3, 1);
    const int64_t vision_layers = vc.dim_or("num_hidden_layers", 12, 0, 1024);
    const auto& fl = c.json().contains("vision_feature_layer") ? c.json()["vision_feature_layer"] : nlohmann::json(-2);
    for (const auto& v : fl.is_array() ? fl : nlohmann::json::array({fl})) {
      IA_CHECK(v.is_number_integer(), ErrorKind::Format, "{}: vision_feature_layer must be an int or a list of ints",
               c.source());
      const int64_t l = v.get<int64_t>(), idx = l < 0 ? vision_layers + 1 + l : l;
      IA_CHECK(idx >= 0 && idx <= vision_layers, ErrorKind::Format,
               "{}: vision_feature_layer {} outside the {} hidden states of the vision tower", c.source(), l,
               vision_layers + 1);
      feature_layers_.push_back(idx);
    }
    strategy_ = c.str_or("vision_feature_select_strategy", "default");
    IA_CHECK(strategy_ == "default" || strategy_ == "full", ErrorKind::Unsupported,
             "{}: unsupported vision_feature_select_strategy '{}' (default, full)", c.source(), strategy_);
    image_token_ = c.dim_or("image_token_index", 32000, 0, int64_t(1) << 40);

    lm_model_ = build_model(tc, w.pp("language_model"), auto_causal_lm_class(tc, "LlavaForConditionalGeneration"));
    lm_ = dynamic_cast<CausalLM*>(lm_model_.get());
    IA_CHECK(lm_ != nullptr && lm_->accepts_inputs_embeds(), ErrorKind::Unsupported,
             "unsupported: LLaVA text model '{}' (it takes no inputs_embeds)", tc.model_type());
    const int64_t text_hidden = lm_->hidden_size();
    const bool bias = c.flag_or("multimodal_projector_bias", true);
    auto p = w.pp("multi_modal_projector");
    const int64_t in = vision_->hidden() * static_cast<int64_t>(feature_layers_.size());
    linear_1_ = bias ? layers::Linear::load(p.pp("linear_1"), in, text_hidden)
                     : layers::Linear::load(p.pp("linear_1"), in, text_hidden, false);
    linear_2_ = bias ? layers::Linear::load(p.pp("linear_2"), text_hidden, text_hidden)
                     : layers::Linear::load(p.pp("linear_2"), text_hidden, text_hidden, false);
    act_ = c.str_or("projector_hidden_act", "gelu");
    ops::activation_op(act_);
  }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    const Tensor ids = input_ids(inputs);
    const int64_t B = ids.dim(0), S = ids.dim(1);
    IA_CHECK(lm_->max_positions() == 0 || S <= lm_->max_positions(), ErrorKind::InvalidArgument,
             "sequence length {} exceeds the model's maximum of {} positions", S, lm_->max_positions());
    Tensor features;
    StepInput in;
    in.input_ids = ids;
    in.inputs_embeds = merged_embeddings(inputs, ids, &features);
    auto m = inputs.find("attention_mask");
    in.attention_mask = m != inputs.end() && m->second.defined()
                            ? m->second.to(Device::cpu()).to(DType::I64).contiguous()
                            : layers::full_i64({B, S}, 1);
    IA_CHECK(in.attention_mask.shape() == ids.shape(), ErrorKind::InvalidArgument, "attention_mask {} for input_ids {}",
             in.attention_mask.describe(), ids.describe());
    in.position_ids = lm_->default_position_ids(in.attention_mask);
    std::vector<Tensor> hs;
    if (opts.output_hidden_states) in.hidden_states = &hs;
    auto state = lm_->new_state(B, S);
    NamedTensors out;
    out.emplace_back("logits", lm_->step(*state, in));
    for (size_t i = 0; i < hs.size(); ++i) out.emplace_back("hidden_states." + std::to_string(i), hs[i]);
    if (features.defined()) out.emplace_back("image_hidden_states", features);
    return out;
  }

  NamedTensors generate(const TensorMap& inputs, const GenerationRequest& req) override {
    const Tensor ids = input_ids(inputs);
    generation::GenerationSettings s;
    s.max_new_tokens = req.max_new_tokens;
    s.eos_token_ids = req.eos_token_ids.empty() ? default_eos_token_ids(config_) : req.eos_token_ids;
    s.pad_token_id = req.pad_token_id;
    s.return_logits = req.return_logits;
    s.hf_cache_compat = config_.reproduces_transformers();
    s.prompt_embeds = merged_embeddings(inputs, ids, nullptr);
    auto m = inputs.find("attention_mask");
    const Tensor mask = m != inputs.end() ? m->second : Tensor();
    if (!config_.reproduces_transformers()) return generation::generate(*lm_, ids, mask, s).named(req.return_logits);
    LegacyDecode legacy(*lm_);
    return generation::generate(legacy, ids, mask, s).named(req.return_logits);
  }

  // Beam search over the merged prompt embeddings (repeated per beam), decoded like generate().
  NamedTensors generate_beams(const TensorMap& inputs, const generation::BeamRequest& req) override {
    const Tensor ids = input_ids(inputs);
    generation::BeamRequest r = req;
    if (r.base.eos_token_ids.empty()) r.base.eos_token_ids = default_eos_token_ids(config_);
    const auto bs = generation::beam_settings(r, config_, ids.dim(1));
    generation::BeamConditioning cond;
    cond.hf_cache_compat = config_.reproduces_transformers();
    cond.prompt_embeds = merged_embeddings(inputs, ids, nullptr);
    auto m = inputs.find("attention_mask");
    const Tensor mask = m != inputs.end() ? m->second : Tensor();
    LegacyDecode legacy(*lm_);
    CausalLM& decoder = config_.reproduces_transformers() ? static_cast<CausalLM&>(legacy) : *lm_;
    const auto out = generation::generate_beams(decoder, ids, mask, bs, cond);
    return generation::beam_outputs(out, ids.dim(0) * req.num_beams, lm_->vocab_size(), bs.return_logits);
  }
  bool can_generate() const override { return true; }

 private:
  Tensor input_ids(const TensorMap& inputs) const {
    auto it = inputs.find("input_ids");
    IA_CHECK(it != inputs.end() && it->second.defined(), ErrorKind::InvalidArgument, "missing input 'input_ids'");
    Tensor ids = it->second.to(Device::cpu()).to(DType::I64).contiguous();
    IA_CHECK(ids.ndim() == 2 && ids.dim(0) > 0 && ids.dim(1) > 0, ErrorKind::InvalidArgument,
             "input_ids must be [batch, seq>0], got {}", ids.describe());
    return ids;
  }

  // LlavaForConditionalGeneration.get_image_features: [images, tokens, text hidden].
  Tensor image_features(const TensorMap& inputs) const {
    TensorMap vin{{"pixel_values", vision::pixel_values(inputs, channels_, device())}};
    std::vector<Tensor> hs;
    vision_->forward(vin, &hs);
    std::vector<Tensor> picked;
    for (int64_t l : feature_layers_) {
      const Tensor h = hs[l];
      picked.push_back(strategy_ == "default" ? h.slice(1, 1, h.dim(1)).contiguous() : h);
    }
    const Tensor f = picked.size() == 1 ? picked[0] : ops::concat(picked, 2);
    return linear_2_(ops::activation(linear_1_(f), act_));
  }

  // Token embeddings with the image features scattered, in order, over the image-token positions (HF
  // masked_scatter); without pixel_values the plain embeddings.
  Tensor merged_embeddings(const TensorMap& inputs, const Tensor& ids, Tensor* features_out) const {
    const int64_t B = ids.dim(0), S = ids.dim(1), V = lm_->vocab_size();
    std::vector<int64_t> flat = ids.to_vector<int64_t>(), positions;
    for (int64_t i = 0; i < B * S; ++i)
      if (flat[i] == image_token_) {
        positions.push_back(i);
        if (image_token_ >= V) flat[i] = 0;  // looked up, then overwritten by a feature row
      }
    Tensor embeds = lm_->embed_tokens(Tensor::from_vector(flat, {B, S}));
    auto px = inputs.find("pixel_values");
    if (px == inputs.end() || !px->second.defined()) {
      IA_CHECK(positions.empty() || image_token_ < V, ErrorKind::InvalidArgument,
               "input_ids hold image tokens ({}) but no pixel_values were given", image_token_);
      return embeds;
    }
    const Tensor features = image_features(inputs);
    const int64_t n = features.dim(0) * features.dim(1), E = features.dim(2);
    IA_CHECK(static_cast<int64_t>(positions.size()) == n, ErrorKind::InvalidArgument,
             "Image features and image tokens do not match: tokens: {}, features {}", positions.size(), n);
    Tensor host = embeds.to(Device::cpu()).to(DType::F32).contiguous().clone();
    const Tensor f = features.to(Device::cpu()).contiguous();
    for (int64_t r = 0; r < n; ++r)
      std::copy(f.data<float>() + r * E, f.data<float>() + (r + 1) * E, host.data<float>() + positions[r] * E);
    if (features_out) *features_out = features;
    return host.to(embeds.device());
  }

  std::unique_ptr<clip::VisionTower> vision_;
  std::unique_ptr<Model> lm_model_;
  CausalLM* lm_ = nullptr;
  layers::Linear linear_1_, linear_2_;
  std::string act_, strategy_;
  std::vector<int64_t> feature_layers_;
  int64_t image_token_ = 32000, channels_ = 3;
};

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& w, const std::string& cls) {
  return std::make_unique<LlavaForConditionalGeneration>(c, w, cls);
}

}  // namespace
}  // namespace ia::llava

IA_REGISTER_MODEL(llava, {"llava", "multimodal", {"LlavaForConditionalGeneration"}, ia::llava::make})
