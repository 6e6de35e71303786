// PhiMoE (modeling_phimoe.py): LayerNorm pre-norm blocks, attention with optional bias, optional lm_head bias,
// and Mixtral-named experts (block_sparse_moe.gate, experts.i.w1/w3/w2) routed by sparsemixer (eval path:
// top-2, each multiplier a softmax over the experts within 2 * router_jitter_noise relative gap of the pick).
#include "models/moe/moe.h"

namespace ia::moe {
namespace {

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& root, const std::string&) {
  const int64_t L = c.dim("num_hidden_layers", 0, 4096), H = c.dim("hidden_size"), I = c.dim("intermediate_size");
  const int64_t E = c.dim("num_local_experts"), K = c.dim("num_experts_per_tok", 1, E);
  IA_CHECK(K == 2, ErrorKind::Unsupported, "{}: phimoe sparsemixer needs num_experts_per_tok 2, got {}", c.source(), K);
  // rope_scaling: HF's longrope frequencies with PhiMoE's own cos/sin scale (short_mscale below
  // rope_scaling.original_max_position_embeddings, long_mscale beyond); one scale is supported (Phi-3.5-MoE uses
  // equal ones).
  float mscale = 0.0f;
  if (c.has("rope_scaling")) {
    const auto& rs = c.json()["rope_scaling"];
    const std::string type = rs.is_object() ? rs.value("rope_type", rs.value("type", std::string())) : "";
    IA_CHECK(type == "longrope" || type == "su", ErrorKind::Unsupported,
             "{}: phimoe rope_scaling type '{}' is not supported (longrope only)", c.source(), type);
    auto num = [&](const char* key) { return rs.contains(key) && rs[key].is_number() ? rs[key].get<float>() : 0.0f; };
    const float short_m = num("short_mscale"), long_m = num("long_mscale");
    IA_CHECK(short_m == long_m, ErrorKind::Unsupported,
             "{}: phimoe rope_scaling short_mscale {} != long_mscale {} is not supported", c.source(), short_m, long_m);
    mscale = short_m;
  }
  const std::string act = c.str_or("hidden_act", "silu");
  ops::activation_op(act);
  LlamaStyle o;
  o.layer_norm = true;
  o.qkv_bias = o.o_bias = c.flag_or("attention_bias", false);
  o.lm_head_bias = c.flag_or("lm_head_bias", false);
  if (c.has("sliding_window")) o.sliding_window.assign(L, c.dim("sliding_window"));
  decoder::Spec s = llama_style(c, root, o);
  if (mscale > 0.0f) s.rope.attention_factor = mscale;
  auto log = std::make_shared<RouterLog>();
  WeightLoader w = root.base("model");
  for (int64_t i = 0; i < L; ++i) {
    auto m = w.pp("layers").pp(i).pp("block_sparse_moe");
    MoeBlock b;
    b.router.gate = layers::Linear::load(m.pp("gate"), H, E, false);
    b.router.kind = RouterKind::SparseMixer;
    b.router.experts = E;
    b.router.top_k = K;
    b.router.jitter_eps = static_cast<float>(c.number_or("router_jitter_noise", 0.01));
    for (int64_t e = 0; e < E; ++e) b.experts.experts.push_back(load_expert(m.pp("experts").pp(e), H, I, "w1", "w3", "w2"));
    b.experts.act = act;
    b.log = log;
    set_block(s.layers[i], std::move(b));
  }
  return std::make_unique<MoeLM>(std::move(s), log);
}

}  // namespace
}  // namespace ia::moe

IA_REGISTER_MODEL(phimoe, {"phimoe", "mixture-of-experts", {"PhimoeForCausalLM"}, ia::moe::make})
