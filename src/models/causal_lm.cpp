#include "models/causal_lm.h"

#include <filesystem>

#include "generation/generate.h"
#include "generation/generation_config.h"
#include "models/layers.h"

namespace ia {

KVCache::KVCache(int64_t layers, int64_t batch, int64_t kv_heads, int64_t capacity, int64_t head_dim,
                 int64_t v_head_dim, Device device)
    : DecoderState(batch, capacity) {
  for (int64_t l = 0; l < layers; ++l) {
    k_.push_back(Tensor::empty({batch, kv_heads, capacity, head_dim}, DType::F32, device));
    v_.push_back(Tensor::empty({batch, kv_heads, capacity, v_head_dim}, DType::F32, device));
  }
}

size_t KVCache::nbytes() const {
  size_t n = 0;
  for (size_t i = 0; i < k_.size(); ++i) n += k_[i].nbytes() + v_[i].nbytes();
  return n;
}

std::vector<int64_t> default_eos_token_ids(const ModelConfig& config) {
  const auto dir = std::filesystem::path(config.source()).parent_path();
  if (std::filesystem::exists(dir / "generation_config.json"))
    return generation::GenerationConfig::load_dir(dir.string()).eos_token_ids;
  if (config.has("eos_token_id"))
    return generation::GenerationConfig::parse(nlohmann::json{{"eos_token_id", config.json()["eos_token_id"]}},
                                               config.source())
        .eos_token_ids;
  return {};
}

Tensor CausalLM::embed_tokens(const Tensor&) const {
  fail(ErrorKind::Unsupported, "unsupported: inputs_embeds for {}/{}", model_type_, hf_class_);
}

std::unique_ptr<DecoderState> CausalLM::new_cross_state(const Tensor&, const Tensor&, int64_t) const {
  fail(ErrorKind::Unsupported, "unsupported: {}/{} has no cross-attention (add_cross_attention)", model_type_,
       hf_class_);
}

Tensor CausalLM::default_position_ids(const Tensor& attention_mask) const {
  const int64_t B = attention_mask.dim(0), S = attention_mask.dim(1);
  Tensor pos = Tensor::empty({B, S}, DType::I64);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < S; ++i) pos.data<int64_t>()[b * S + i] = i;
  return pos;
}

NamedTensors CausalLM::forward(const TensorMap& inputs, const ForwardOptions& opts) {
  auto it = inputs.find("input_ids");
  IA_CHECK(it != inputs.end() && it->second.defined(), ErrorKind::InvalidArgument, "missing input 'input_ids'");
  Tensor ids = it->second.to(Device::cpu()).to(DType::I64).contiguous();
  IA_CHECK(ids.ndim() == 2 && ids.dim(1) > 0, ErrorKind::InvalidArgument, "input_ids must be [batch, seq>0], got {}",
           ids.describe());
  const int64_t B = ids.dim(0), S = ids.dim(1);
  const int64_t V = vocab_size();
  for (int64_t t : ids.to_vector<int64_t>())
    IA_CHECK(t >= 0 && t < V, ErrorKind::InvalidArgument, "input_ids: token id {} outside the vocabulary [0, {})", t, V);
  IA_CHECK(max_positions() == 0 || S <= max_positions(), ErrorKind::InvalidArgument,
           "sequence length {} exceeds the model's maximum of {} positions", S, max_positions());
  StepInput in;
  in.input_ids = ids;
  auto m = inputs.find("attention_mask");
  in.attention_mask = m != inputs.end() && m->second.defined() ? m->second.to(Device::cpu()).to(DType::I64).contiguous()
                                                                 : layers::full_i64({B, S}, 1);
  IA_CHECK(in.attention_mask.shape() == ids.shape(), ErrorKind::InvalidArgument, "attention_mask {} for input_ids {}",
           in.attention_mask.describe(), ids.describe());
  auto p = inputs.find("position_ids");
  in.position_ids = p != inputs.end() && p->second.defined() ? p->second.to(Device::cpu()).to(DType::I64).contiguous()
                                                               : default_position_ids(in.attention_mask);
  std::vector<Tensor> hs;
  if (opts.output_hidden_states) in.hidden_states = &hs;
  auto state = new_state(B, S);
  NamedTensors out;
  out.emplace_back("logits", step(*state, in));
  for (size_t i = 0; i < hs.size(); ++i) out.emplace_back("hidden_states." + std::to_string(i), hs[i]);
  return out;
}

NamedTensors CausalLM::generate(const TensorMap& inputs, const GenerationRequest& req) {
  auto it = inputs.find("input_ids");
  IA_CHECK(it != inputs.end(), ErrorKind::InvalidArgument, "generate: missing input 'input_ids'");
  auto m = inputs.find("attention_mask");
  const Tensor mask = m != inputs.end() ? m->second : Tensor();
  const int64_t P = it->second.defined() && it->second.ndim() == 2 ? it->second.dim(1) : 0;
  // transformers.generate falls back to the model's generation_config (generation_config.json, else the
  // generation keys of config.json) for settings the call leaves unset.
  const auto gc = generation::GenerationConfig::for_model(config());
  std::vector<int64_t> eos = req.eos_token_ids.empty() ? gc.eos_token_ids : req.eos_token_ids;
  generation::LogitsProcessors procs = gc.processors(P);
  generation::GenerationSettings s;
  s.max_new_tokens = req.max_new_tokens;
  s.eos_token_ids = eos;
  s.sampling.repetition_penalty = procs.repetition_penalty;
  procs.repetition_penalty = 1.0f;
  s.processors = procs;
  s.hf_cache_compat = config().reproduces_transformers();
  s.pad_token_id = req.pad_token_id;
  s.return_logits = req.return_logits;
  return generation::generate(*this, it->second, mask, s).named(req.return_logits);
}

}  // namespace ia
