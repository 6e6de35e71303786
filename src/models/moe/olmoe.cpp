// OLMoE (modeling_olmoe.py): Llama-style blocks with RMSNorm over the whole q and k projections, optional
// clip_qkv, and a sparse MoE MLP (mlp.gate, mlp.experts.i.{gate,up,down}_proj): softmax over all experts, top-k,
// renormalised only with norm_topk_prob.
#include "models/moe/moe.h"

namespace ia::moe {
namespace {

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& root, const std::string&) {
  const int64_t L = c.dim("num_hidden_layers", 0, 4096), H = c.dim("hidden_size"), I = c.dim("intermediate_size");
  const int64_t E = c.dim("num_experts"), K = c.dim("num_experts_per_tok", 1, E);
  const std::string act = c.str_or("hidden_act", "silu");
  ops::activation_op(act);
  LlamaStyle o;
  o.qkv_bias = o.o_bias = c.flag_or("attention_bias", false);
  o.qk_norm = true;
  if (c.has("clip_qkv")) o.clip_qkv = static_cast<float>(c.number("clip_qkv"));
  decoder::Spec s = llama_style(c, root, o);
  auto log = std::make_shared<RouterLog>();
  WeightLoader w = root.base("model");
  for (int64_t i = 0; i < L; ++i) {
    auto m = w.pp("layers").pp(i).pp("mlp");
    MoeBlock b;
    b.router.gate = layers::Linear::load(m.pp("gate"), H, E, false);
    b.router.experts = E;
    b.router.top_k = K;
    b.router.norm_p = c.flag_or("norm_topk_prob", false) ? 1.0f : 0.0f;
    for (int64_t e = 0; e < E; ++e)
      b.experts.experts.push_back(load_expert(m.pp("experts").pp(e), H, I, "gate_proj", "up_proj", "down_proj"));
    b.experts.act = act;
    b.log = log;
    set_block(s.layers[i], std::move(b));
  }
  return std::make_unique<MoeLM>(std::move(s), log);
}

}  // namespace
}  // namespace ia::moe

IA_REGISTER_MODEL(olmoe, {"olmoe", "mixture-of-experts", {"OlmoeForCausalLM"}, ia::moe::make})
