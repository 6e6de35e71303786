// DBRX (modeling_dbrx.py): transformer.wte, blocks.i.norm_attn_norm.{norm_1, attn.Wqkv, attn.out_proj, norm_2}
// (bias-free LayerNorms, fused [q | k | v] projection clamped to +-clip_qkv, GQA, rotary), and ffn.router.layer +
// ffn.experts.mlp.{w1, v1, w2}: all experts fused into [E * I, H] matrices (w2 used as x @ w2_e, i.e. transposed).
// Routing: softmax, top-k, divided by the p-norm (moe_normalize_expert_weights) of the top-k weights; the router
// output HF returns as router_logits is the softmax, not the raw logits.
#include <cmath>

#include "models/moe/moe.h"

namespace ia::moe {
namespace {

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& root, const std::string&) {
  using decoder::Norm;
  const nlohmann::json empty = nlohmann::json::object();
  const nlohmann::json& attn = c.has("attn_config") ? c.json()["attn_config"] : empty;
  const nlohmann::json& ffn = c.has("ffn_config") ? c.json()["ffn_config"] : empty;
  auto num = [&](const nlohmann::json& j, const char* key, double fallback) {
    return j.contains(key) && j[key].is_number() ? j[key].get<double>() : fallback;
  };
  decoder::Spec s;
  s.vocab = c.dim("vocab_size");
  s.hidden = c.dim("d_model");
  s.heads = c.dim("n_heads");
  s.kv_heads = static_cast<int64_t>(num(attn, "kv_n_heads", 1));
  IA_CHECK(s.kv_heads > 0 && s.heads % s.kv_heads == 0, ErrorKind::Format,
           "{}: n_heads {} is not a multiple of attn_config.kv_n_heads {}", c.source(), s.heads, s.kv_heads);
  s.head_dim = s.hidden / s.heads;
  const int64_t H = s.hidden, D = s.head_dim, L = c.dim("n_layers", 0, 4096);
  const int64_t I = static_cast<int64_t>(num(ffn, "ffn_hidden_size", 3584));
  const int64_t E = static_cast<int64_t>(num(ffn, "moe_num_experts", 4));
  const int64_t K = static_cast<int64_t>(num(ffn, "moe_top_k", 1));
  IA_CHECK(I > 0 && E > 0 && K > 0 && K <= E, ErrorKind::Format,
           "{}: ffn_config needs ffn_hidden_size > 0 and 0 < moe_top_k ({}) <= moe_num_experts ({})", c.source(), K, E);
  std::string act = "silu";
  if (ffn.contains("ffn_act_fn") && ffn["ffn_act_fn"].is_object())
    act = ffn["ffn_act_fn"].value("name", std::string("silu"));
  ops::activation_op(act);
  float norm_p = 1.0f;
  if (ffn.contains("moe_normalize_expert_weights"))
    norm_p = ffn["moe_normalize_expert_weights"].is_null() ? 0.0f : ffn["moe_normalize_expert_weights"].get<float>();
  const float clip = static_cast<float>(num(attn, "clip_qkv", 0.0));
  s.rope = decoder::Rope::from_config(c, D, false, num(attn, "rope_theta", 10000.0));

  auto log = std::make_shared<RouterLog>();
  WeightLoader w = root.base("transformer");
  s.embed = w.pp("wte").get_native("weight", {s.vocab, H});
  for (int64_t i = 0; i < L; ++i) {
    auto blk = w.pp("blocks").pp(i);
    auto nan = blk.pp("norm_attn_norm");
    decoder::Layer layer;
    layer.ln_attn = Norm::layer(nan.pp("norm_1"), H, 1e-5, false);
    layer.ln_mlp = Norm::layer(nan.pp("norm_2"), H, 1e-5, false);
    decoder::Attention& at = layer.attn;
    at.layout = decoder::QkvLayout::Concat;
    at.qkv = layers::Linear::load(nan.pp("attn").pp("Wqkv"), H, (s.heads + 2 * s.kv_heads) * D, false);
    at.o = layers::Linear::load(nan.pp("attn").pp("out_proj"), H, H, false);
    at.clip_qkv = clip;
    at.scale = 1.0f / std::sqrt(static_cast<float>(D));

    auto f = blk.pp("ffn");
    MoeBlock b;
    b.router.gate = layers::Linear::load(f.pp("router").pp("layer"), H, E, false);
    b.router.experts = E;
    b.router.top_k = K;
    b.router.norm_p = norm_p;
    b.router.record_probs = true;
    auto mlp = f.pp("experts").pp("mlp");
    const Tensor w1 = mlp.get_native("w1", {E * I, H}).view({E, I, H});
    const Tensor v1 = mlp.get_native("v1", {E * I, H}).view({E, I, H});
    const Tensor w2 = mlp.get_native("w2", {E * I, H}).view({E, I, H});
    for (int64_t e = 0; e < E; ++e) {
      Expert x;
      x.gate.weight = w1.select(0, e).contiguous();
      x.up.weight = v1.select(0, e).contiguous();
      x.down.weight = w2.select(0, e).transpose(0, 1).contiguous();
      b.experts.experts.push_back(std::move(x));
    }
    b.experts.act = act;
    b.log = log;
    set_block(layer, std::move(b));
    s.layers.push_back(std::move(layer));
  }
  s.final_norm = Norm::layer(w.pp("norm_f"), H, 1e-5, false);
  decoder::load_lm_head(s, c, root, false);
  return std::make_unique<MoeLM>(std::move(s), log);
}

}  // namespace
}  // namespace ia::moe

IA_REGISTER_MODEL(dbrx, {"dbrx", "mixture-of-experts", {"DbrxForCausalLM"}, ia::moe::make})
