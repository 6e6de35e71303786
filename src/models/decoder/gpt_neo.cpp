// GPT-Neo (modeling_gpt_neo.py): learned positions, pre-LN blocks, unscaled attention (no 1/sqrt(d)),
// alternating global / local (window_size) layers from attention_types.
#include "models/decoder/transformer.h"

namespace ia::decoder {
namespace {

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& root, const std::string&) {
  Spec s;
  s.vocab = c.dim("vocab_size");
  s.hidden = c.dim("hidden_size");
  s.heads = c.dim("num_heads");
  s.kv_heads = s.heads;
  s.head_dim = s.hidden / s.heads;
  const int64_t H = s.hidden, L = c.dim("num_layers", 0, 4096);
  const int64_t I = c.dim_or("intermediate_size", 4 * H, 1);
  const int64_t P = c.dim("max_position_embeddings");
  const double eps = c.number_or("layer_norm_epsilon", 1e-5);
  const std::string act = c.str_or("activation_function", "gelu_new");
  ops::activation_op(act);
  const int64_t window = c.dim("window_size");
  std::vector<std::string> kinds;
  if (c.has("attention_layers")) {
    kinds = c.json()["attention_layers"].get<std::vector<std::string>>();
  } else {
    // GPTNeoConfig.expand_attention_types_params: [[kinds, repeat], ...] -> kinds repeated, in order.
    const nlohmann::json types = c.has("attention_types") ? c.json()["attention_types"]
                                                          : nlohmann::json::parse(R"([[["global","local"],12]])");
    IA_CHECK(types.is_array(), ErrorKind::Format, "{}: attention_types must be a list", c.source());
    for (const auto& g : types) {
      IA_CHECK(g.is_array() && g.size() == 2 && g[0].is_array() && g[1].is_number_integer() && g[1].get<int64_t>() >= 0 &&
                   g[1].get<int64_t>() <= 4096,
               ErrorKind::Format, "{}: attention_types entry {} is not [[kinds...], repeat]", c.source(), g.dump());
      for (int64_t r = 0; r < g[1].get<int64_t>(); ++r)
        for (const auto& k : g[0]) {
          IA_CHECK(k.is_string(), ErrorKind::Format, "{}: attention_types kind {} is not a string", c.source(), k.dump());
          kinds.push_back(k.get<std::string>());
        }
    }
  }
  IA_CHECK(static_cast<int64_t>(kinds.size()) == L, ErrorKind::Format,
           "{}: attention_layers has {} entries for {} layers", c.source(), kinds.size(), L);
  WeightLoader w = root.base("transformer");
  s.embed = w.pp("wte").get_native("weight", {s.vocab, H});
  s.pos_table = w.pp("wpe").get("weight", {P, H});
  s.max_positions = P;
  for (int64_t i = 0; i < L; ++i) {
    auto l = w.pp("h").pp(i);
    auto a = l.pp("attn").pp("attention");
    Layer layer;
    layer.ln_attn = Norm::layer(l.pp("ln_1"), H, eps);
    layer.ln_mlp = Norm::layer(l.pp("ln_2"), H, eps);
    Attention& at = layer.attn;
    at.q = layers::Linear::load(a.pp("q_proj"), H, H, false);
    at.k = layers::Linear::load(a.pp("k_proj"), H, H, false);
    at.v = layers::Linear::load(a.pp("v_proj"), H, H, false);
    at.o = layers::Linear::load(a.pp("out_proj"), H, H, true);
    at.scale = 1.0f;
    IA_CHECK(kinds[i] == "global" || kinds[i] == "local", ErrorKind::Unsupported,
             "{}: unsupported attention_layers[{}] '{}'", c.source(), i, kinds[i]);
    if (kinds[i] == "local") at.sliding_window = window;
    layer.mlp.up = layers::Linear::load(l.pp("mlp").pp("c_fc"), H, I, true);
    layer.mlp.down = layers::Linear::load(l.pp("mlp").pp("c_proj"), I, H, true);
    layer.mlp.act = act;
    s.layers.push_back(std::move(layer));
  }
  s.final_norm = Norm::layer(w.pp("ln_f"), H, eps);
  load_lm_head(s, c, root, true);
  return std::make_unique<TransformerLM>(std::move(s));
}

}  // namespace
}  // namespace ia::decoder

IA_REGISTER_MODEL(gpt_neo, {"gpt_neo", "decoder-only", {"GPTNeoForCausalLM"}, ia::decoder::make})
