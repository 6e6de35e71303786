// Mixtral (modeling_mixtral.py): the Mistral decoder with a sparse MoE block per layer (block_sparse_moe):
// router `gate`, experts w1 (gate) / w3 (up) / w2 (down), softmax over all experts, top-k, renormalised.
#include "models/moe/moe.h"

namespace ia::moe {
namespace {

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& root, const std::string&) {
  const int64_t L = c.dim("num_hidden_layers", 0, 4096), H = c.dim("hidden_size"), I = c.dim("intermediate_size");
  const int64_t E = c.dim("num_local_experts"), K = c.dim("num_experts_per_tok", 1, E);
  const std::string act = c.str_or("hidden_act", "silu");
  ops::activation_op(act);
  LlamaStyle o;
  if (c.has("sliding_window")) o.sliding_window.assign(L, c.dim("sliding_window"));
  decoder::Spec s = llama_style(c, root, o);
  auto log = std::make_shared<RouterLog>();
  WeightLoader w = root.base("model");
  for (int64_t i = 0; i < L; ++i) {
    auto m = w.pp("layers").pp(i).pp("block_sparse_moe");
    MoeBlock b;
    b.router.gate = layers::Linear::load(m.pp("gate"), H, E, false);
    b.router.experts = E;
    b.router.top_k = K;
    b.router.norm_p = 1.0f;
    for (int64_t e = 0; e < E; ++e) b.experts.experts.push_back(load_expert(m.pp("experts").pp(e), H, I, "w1", "w3", "w2"));
    b.experts.act = act;
    b.log = log;
    set_block(s.layers[i], std::move(b));
  }
  return std::make_unique<MoeLM>(std::move(s), log);
}

}  // namespace
}  // namespace ia::moe

IA_REGISTER_MODEL(mixtral, {"mixtral", "mixture-of-experts", {"MixtralForCausalLM"}, ia::moe::make})
