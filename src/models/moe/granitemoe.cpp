// GraniteMoE (modeling_granitemoe.py): Granite's multipliers (embedding, attention scale, residual, logits
// scaling) with parallel experts stored fused: block_sparse_moe.input_linear [E, 2I, H] (first half gate, second
// half up), output_linear [E, H, I]; router.layer picks the top-k logits and softmaxes over those k.
#include "models/moe/moe.h"

namespace ia::moe {
namespace {

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& root, const std::string&) {
  const int64_t L = c.dim("num_hidden_layers", 0, 4096), H = c.dim("hidden_size"), I = c.dim("intermediate_size");
  const int64_t E = c.dim("num_local_experts"), K = c.dim("num_experts_per_tok", 1, E);
  const std::string act = c.str_or("hidden_act", "silu");
  ops::activation_op(act);
  LlamaStyle o;
  o.qkv_bias = o.o_bias = c.flag_or("attention_bias", false);
  o.scale = static_cast<float>(c.number_or("attention_multiplier", 1.0));
  decoder::Spec s = llama_style(c, root, o);
  s.embed_scale = static_cast<float>(c.number_or("embedding_multiplier", 1.0));
  s.residual_multiplier = static_cast<float>(c.number_or("residual_multiplier", 1.0));
  s.logit_scale = static_cast<float>(1.0 / c.number_or("logits_scaling", 1.0));
  auto log = std::make_shared<RouterLog>();
  WeightLoader w = root.base("model");
  for (int64_t i = 0; i < L; ++i) {
    auto m = w.pp("layers").pp(i).pp("block_sparse_moe");
    MoeBlock b;
    b.router.gate = layers::Linear::load(m.pp("router").pp("layer"), H, E, false);
    b.router.kind = RouterKind::TopKSoftmax;
    b.router.experts = E;
    b.router.top_k = K;
    const Tensor in = m.pp("input_linear").get_native("weight", {E, 2 * I, H});
    const Tensor out = m.pp("output_linear").get_native("weight", {E, H, I});
    for (int64_t e = 0; e < E; ++e) {
      Expert x;
      x.gate_up.weight = in.select(0, e);  // [gate | up] rows: one linear, no copy
      x.down.weight = out.select(0, e);
      b.experts.experts.push_back(std::move(x));
    }
    b.experts.act = act;
    b.log = log;
    set_block(s.layers[i], std::move(b));
  }
  return std::make_unique<MoeLM>(std::move(s), log);
}

}  // namespace
}  // namespace ia::moe

IA_REGISTER_MODEL(granitemoe, {"granitemoe", "mixture-of-experts", {"GraniteMoeForCausalLM"}, ia::moe::make})
