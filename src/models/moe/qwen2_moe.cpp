// Qwen2-MoE (modeling_qwen2_moe.py): the Qwen2 decoder (q/k/v bias) whose MLPs are sparse MoE blocks (mlp.gate,
// mlp.experts.i.{gate,up,down}_proj; softmax over all experts, top-k, renormalised only with norm_topk_prob) plus
// a shared expert gated by sigmoid(shared_expert_gate(x)). Layers in mlp_only_layers, or not on the
// decoder_sparse_step grid, keep a dense MLP of intermediate_size and report no router logits.
#include <algorithm>

#include "models/moe/moe.h"

namespace ia::moe {
namespace {

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& root, const std::string&) {
  const int64_t L = c.dim("num_hidden_layers", 0, 4096), H = c.dim("hidden_size");
  const int64_t I = c.dim("intermediate_size"), MI = c.dim("moe_intermediate_size");
  const int64_t E = c.dim_or("num_experts", 0), K = E > 0 ? c.dim("num_experts_per_tok", 1, E) : 0;
  const int64_t step = c.dim_or("decoder_sparse_step", 1, 1);
  std::vector<int64_t> mlp_only;
  if (c.has("mlp_only_layers")) mlp_only = c.json()["mlp_only_layers"].get<std::vector<int64_t>>();
  const std::string act = c.str_or("hidden_act", "silu");
  ops::activation_op(act);
  LlamaStyle o;
  o.qkv_bias = c.flag_or("qkv_bias", true);
  // Eager attention windows every layer through the causal mask once the config keeps a sliding_window (only with
  // use_sliding_window); max_window_layers only matters to flash attention.
  if (c.flag_or("use_sliding_window", false) && c.has("sliding_window")) o.sliding_window.assign(L, c.dim("sliding_window"));
  decoder::Spec s = llama_style(c, root, o);
  auto log = std::make_shared<RouterLog>();
  WeightLoader w = root.base("model");
  auto dense = [&](const WeightLoader& m, int64_t inter) {
    decoder::Mlp d;
    d.gate = layers::Linear::load(m.pp("gate_proj"), H, inter, false);
    d.up = layers::Linear::load(m.pp("up_proj"), H, inter, false);
    d.down = layers::Linear::load(m.pp("down_proj"), inter, H, false);
    d.act = act;
    return d;
  };
  for (int64_t i = 0; i < L; ++i) {
    auto m = w.pp("layers").pp(i).pp("mlp");
    const bool sparse = std::find(mlp_only.begin(), mlp_only.end(), i) == mlp_only.end() && E > 0 && (i + 1) % step == 0;
    if (!sparse) {
      s.layers[i].mlp = dense(m, I);
      continue;
    }
    MoeBlock b;
    b.router.gate = layers::Linear::load(m.pp("gate"), H, E, false);
    b.router.experts = E;
    b.router.top_k = K;
    b.router.norm_p = c.flag_or("norm_topk_prob", false) ? 1.0f : 0.0f;
    for (int64_t e = 0; e < E; ++e)
      b.experts.experts.push_back(load_expert(m.pp("experts").pp(e), H, MI, "gate_proj", "up_proj", "down_proj"));
    b.experts.act = act;
    b.shared = dense(m.pp("shared_expert"), c.dim("shared_expert_intermediate_size"));
    b.shared_gate = layers::Linear::load(m.pp("shared_expert_gate"), H, 1, false);
    b.log = log;
    set_block(s.layers[i], std::move(b));
  }
  return std::make_unique<MoeLM>(std::move(s), log);
}

}  // namespace
}  // namespace ia::moe

IA_REGISTER_MODEL(qwen2_moe, {"qwen2_moe", "mixture-of-experts", {"Qwen2MoeForCausalLM"}, ia::moe::make})
