// Switch Transformers (HF modeling_switch_transformers.py): T5 (v1.0 style) whose every `sparse_step`-th
// feed-forward layer is a top-1 routed mixture of experts. Routing is per batch row: a token goes to its argmax
// expert only while that expert has taken fewer than expert_capacity earlier tokens of the same call; overflow
// tokens skip the experts (their normed input passes through). Either way the result is scaled by the top-1
// router probability. forward() also returns HF's router tuples: "<stack>_router_logits.<layer>.0" (logits
// [B, S, E]) and ".1" (expert index [B, S], 0 for dropped tokens); dense layers give a single i64 zero.
#include "models/seq2seq/t5.h"

namespace ia::switch_transformers {
namespace {

using layers::Linear;

struct SparseMLP {
  Linear router;  // router.classifier [E, d_model]
  std::vector<t5::T5DenseActDense> experts;
};

class SwitchTransformers : public t5::T5Model {
 public:
  SwitchTransformers(const ModelConfig& c, const WeightLoader& w, const std::string& cls) : T5Model(c, w, cls) {
    num_experts_ = c.dim_or("num_experts", 8, 1);
    capacity_ = c.dim_or("expert_capacity", 64, 0);
    const bool router_bias = c.flag_or("router_bias", false);
    const std::string dtype = c.str_or("router_dtype", "float32");
    IA_CHECK(dtype == "float32", ErrorKind::Unsupported, "{}: router_dtype '{}' (only float32)", c.source(), dtype);
    auto load = [&](bool decoder, int64_t n, std::vector<SparseMLP>& out) {
      out.resize(n);
      for (int64_t i = 0; i < n; ++i) {
        if (!cfg_.is_sparse(decoder, i)) continue;
        auto mlp = w.pp(decoder ? "decoder" : "encoder").pp("block").pp(i).pp("layer").pp(decoder ? 2 : 1).pp("mlp");
        out[i].router = Linear::load(mlp.pp("router").pp("classifier"), cfg_.d_model, num_experts_, router_bias);
        for (int64_t e = 0; e < num_experts_; ++e)
          out[i].experts.push_back(t5::T5DenseActDense::load(cfg_, mlp.pp("experts").pp("expert_" + std::to_string(e))));
      }
    };
    load(false, cfg_.num_layers, encoder_sparse_);
    load(true, cfg_.num_decoder_layers, decoder_sparse_);
  }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    encoder_router_.clear();
    decoder_router_.clear();
    record_ = true;
    NamedTensors out;
    try {
      out = T5Model::forward(inputs, opts);
    } catch (...) {
      record_ = false;
      throw;
    }
    record_ = false;
    append_router(out, "encoder_router_logits", encoder_router_);
    append_router(out, "decoder_router_logits", decoder_router_);
    return out;
  }

 protected:
  Tensor feed_forward(bool decoder, int64_t layer, const Tensor& x) override {
    auto& record = decoder ? decoder_router_ : encoder_router_;
    if (!cfg_.is_sparse(decoder, layer)) {
      if (record_) record.push_back({layers::full_i64({1}, 0)});
      return T5Model::feed_forward(decoder, layer, x);
    }
    const t5::T5Block& b = decoder ? decoder_[layer] : encoder_[layer];
    const SparseMLP& mlp = decoder ? decoder_sparse_[layer] : encoder_sparse_[layer];
    const int64_t B = x.dim(0), S = x.dim(1), D = x.dim(2), E = num_experts_;
    const Tensor h = b.ff_norm(x);
    const Tensor logits = mlp.router(h);  // [B, S, E]
    const std::vector<float> probs = ops::softmax(logits).to_vector<float>();

    // Top-1 expert per token with per-row capacity (cumsum over the sequence), on the host.
    std::vector<int64_t> expert_index(B * S, 0), choice(B * S, -1);
    std::vector<float> top_prob(B * S);
    for (int64_t bb = 0; bb < B; ++bb) {
      std::vector<int64_t> taken(E, 0);
      for (int64_t s = 0; s < S; ++s) {
        const float* p = probs.data() + (bb * S + s) * E;
        int64_t best = 0;
        for (int64_t e = 1; e < E; ++e)
          if (p[e] > p[best]) best = e;  // first maximum, like torch.argmax
        top_prob[bb * S + s] = p[best];
        if (++taken[best] <= capacity_) {
          choice[bb * S + s] = best;
          expert_index[bb * S + s] = best;
        }
      }
    }
    // Run each expert on its tokens, then gather every token's row from [expert outputs..., h] (dropped tokens
    // read their own normed input).
    const Tensor flat = h.contiguous().view({B * S, D});
    std::vector<Tensor> parts;
    std::vector<int64_t> row(B * S);
    int64_t offset = 0;
    for (int64_t e = 0; e < E; ++e) {
      std::vector<int64_t> tokens;
      for (int64_t t = 0; t < B * S; ++t)
        if (choice[t] == e) {
          row[t] = offset + static_cast<int64_t>(tokens.size());
          tokens.push_back(t);
        }
      if (tokens.empty()) continue;
      const int64_t n = static_cast<int64_t>(tokens.size());
      const Tensor idx = Tensor::from_vector<int64_t>(tokens, {n}).to(flat.device());
      parts.push_back(mlp.experts[e](ops::index_select(flat, idx)));
      offset += n;
    }
    for (int64_t t = 0; t < B * S; ++t)
      if (choice[t] < 0) row[t] = offset + t;
    parts.push_back(flat);
    const Tensor table = parts.size() == 1 ? flat : ops::concat(parts, 0);
    const Tensor rows = ops::index_select(table, Tensor::from_vector<int64_t>(row, {B * S}).to(flat.device()));
    const Tensor scale = Tensor::from_vector<float>(top_prob, {B, S, 1}).to(flat.device());
    if (record_) record.push_back({logits, Tensor::from_vector<int64_t>(expert_index, {B, S})});
    return ops::add(x, ops::mul(rows.view({B, S, D}), scale));
  }

 private:
  static void append_router(NamedTensors& out, const std::string& prefix, const std::vector<std::vector<Tensor>>& r) {
    for (size_t i = 0; i < r.size(); ++i)
      for (size_t j = 0; j < r[i].size(); ++j)
        out.emplace_back(prefix + "." + std::to_string(i) + "." + std::to_string(j), r[i][j]);
  }

  int64_t num_experts_ = 8, capacity_ = 64;
  std::vector<SparseMLP> encoder_sparse_, decoder_sparse_;
  bool record_ = false;
  std::vector<std::vector<Tensor>> encoder_router_, decoder_router_;
};

}  // namespace
}  // namespace ia::switch_transformers

IA_REGISTER_MODEL(switch_transformers,
                  {"switch_transformers", "mixture-of-experts",
                   {"SwitchTransformersForConditionalGeneration", "SwitchTransformersModel"},
                   [](const ia::ModelConfig& c, const ia::WeightLoader& w, const std::string& cls) {
                     return std::unique_ptr<ia::Model>(new ia::switch_transformers::SwitchTransformers(c, w, cls));
                   }})
