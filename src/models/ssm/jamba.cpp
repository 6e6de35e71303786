// Jamba (transformers modeling_jamba.py): a hybrid of Mamba layers (the Mamba-1 slow path with weighted RMS
// norms on dt, B, C) and attention layers (GQA, no positional encoding), each followed by a dense gated MLP
// or a sparse MoE block (softmax over experts, top-k without renormalisation). Layer i is attention when
// i % attn_layer_period == attn_layer_offset and MoE when i % expert_layer_period == expert_layer_offset.
// Eager attention is plain causal: transformers uses `sliding_window` only in its flash-attention path.
// State per layer: conv inputs + SSM state (Mamba) or a key/value cache of the state's capacity (attention).
// forward() also returns HF's "router_logits.i" ([B*S, E] per MoE layer).
#include <algorithm>
#include <cmath>

#include "models/layers.h"
#include "models/ssm/mamba_mixer.h"
#include "models/ssm/recurrent_state.h"
#include "ops/decoding.h"

namespace ia::ssm {
namespace {

struct GatedMlp {
  layers::Linear gate, up, down;
  Tensor operator()(const Tensor& x, const std::string& act) const {
    return down(ops::mul(ops::activation(gate(x), act), up(x)));
  }
  static GatedMlp load(const WeightLoader& w, int64_t hidden, int64_t inter) {
    return {layers::Linear::load(w.pp("gate_proj"), hidden, inter, false),
            layers::Linear::load(w.pp("up_proj"), hidden, inter, false),
            layers::Linear::load(w.pp("down_proj"), inter, hidden, false)};
  }
};

struct Attention {
  layers::Linear q, k, v, o;
};

struct Layer {
  bool attention = false, moe = false;
  layers::RMSNorm input_norm, pre_ff_norm;
  MambaMixer mamba;
  Attention attn;
  GatedMlp mlp;
  layers::Linear router;
  std::vector<GatedMlp> experts;
};

class JambaLM : public CausalLM {
 public:
  JambaLM(const ModelConfig& c, const WeightLoader& root) {
    hidden_ = c.dim("hidden_size");
    heads_ = c.dim("num_attention_heads");
    kv_heads_ = c.dim_or("num_key_value_heads", heads_, 1);
    head_dim_ = hidden_ / heads_;
    vocab_ = c.dim("vocab_size");
    act_ = c.str_or("hidden_act", "silu");
    top_k_ = c.dim_or("num_experts_per_tok", 2, 1);
    const int64_t inter = c.dim("intermediate_size"), E = c.dim_or("num_experts", 16, 1);
    const float eps = static_cast<float>(c.number_or("rms_norm_eps", 1e-6));
    MambaMixerConfig m;
    m.hidden = hidden_;
    m.inner = c.dim_or("mamba_expand", 2, 1) * hidden_;
    m.state = c.dim_or("mamba_d_state", 16, 1);
    m.kernel = c.dim_or("mamba_d_conv", 4, 1);
    const auto& dr = c.has("mamba_dt_rank") ? c.json()["mamba_dt_rank"] : nlohmann::json("auto");
    m.rank = dr.is_string() ? (hidden_ + 15) / 16 : c.dim("mamba_dt_rank");
    m.conv_bias = c.flag_or("mamba_conv_bias", true);
    m.proj_bias = c.flag_or("mamba_proj_bias", false);
    m.act = act_;
    m.inner_norm = MambaMixerConfig::InnerNorm::Weighted;
    m.inner_norm_eps = eps;
    const int64_t attn_period = c.dim_or("attn_layer_period", 8, 1), attn_offset = c.dim_or("attn_layer_offset", 4, 0);
    const int64_t exp_period = c.dim_or("expert_layer_period", 2, 1);
    const int64_t exp_offset = c.dim_or("expert_layer_offset", 1, 0);
    const WeightLoader base = root.pp("model");
    embed_ = layers::Embedding::load(base.pp("embed_tokens"), vocab_, hidden_);
    for (int64_t i = 0; i < c.dim("num_hidden_layers"); ++i) {
      const WeightLoader l = base.pp("layers").pp(i);
      Layer L;
      L.attention = i % attn_period == attn_offset;
      L.moe = E > 1 && i % exp_period == exp_offset;
      L.input_norm = layers::RMSNorm::load(l.pp("input_layernorm"), hidden_, eps);
      L.pre_ff_norm = layers::RMSNorm::load(l.pp("pre_ff_layernorm"), hidden_, eps);
      if (L.attention) {
        const WeightLoader a = l.pp("self_attn");
        L.attn = {layers::Linear::load(a.pp("q_proj"), hidden_, heads_ * head_dim_, false),
                  layers::Linear::load(a.pp("k_proj"), hidden_, kv_heads_ * head_dim_, false),
                  layers::Linear::load(a.pp("v_proj"), hidden_, kv_heads_ * head_dim_, false),
                  layers::Linear::load(a.pp("o_proj"), heads_ * head_dim_, hidden_, false)};
      } else {
        L.mamba = MambaMixer::load(l.pp("mamba"), m);
        mamba_ = L.mamba.cfg;
      }
      const WeightLoader f = l.pp("feed_forward");
      if (L.moe) {
        L.router = layers::Linear::load(f.pp("router"), hidden_, E, false);
        for (int64_t e = 0; e < E; ++e) L.experts.push_back(GatedMlp::load(f.pp("experts").pp(e), hidden_, inter));
      } else {
        L.mlp = GatedMlp::load(f, hidden_, inter);
      }
      layers_.push_back(std::move(L));
    }
    final_norm_ = layers::RMSNorm::load(base.pp("final_layernorm"), hidden_, eps);
    lm_head_ = c.flag_or("tie_word_embeddings", false) ? embed_.weight
                                                         : root.pp("lm_head").get("weight", {vocab_, hidden_});
  }

  std::unique_ptr<DecoderState> new_state(int64_t batch, int64_t capacity) const override {
    std::vector<std::vector<Shape>> shapes;
    for (const auto& L : layers_)
      shapes.push_back(L.attention ? std::vector<Shape>{{batch, kv_heads_, capacity, head_dim_},
                                                         {batch, kv_heads_, capacity, head_dim_}}
                                   : std::vector<Shape>{{batch, mamba_.inner, mamba_.kernel - 1},
                                                         {batch, mamba_.inner, 1, mamba_.state}});
    return std::make_unique<RecurrentState>(batch, capacity, shapes, embed_.weight.device());
  }

  int64_t vocab_size() const override { return vocab_; }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    router_log_.clear();
    record_router_ = true;
    NamedTensors out;
    try {
      out = CausalLM::forward(inputs, opts);
    } catch (...) {
      record_router_ = false;
      throw;
    }
    record_router_ = false;
    for (size_t i = 0; i < router_log_.size(); ++i)
      out.emplace_back("router_logits." + std::to_string(i), router_log_[i]);
    router_log_.clear();
    return out;
  }

  Tensor step(DecoderState& st, const StepInput& in) override {
    auto& state = dynamic_cast<RecurrentState&>(st);
    const int64_t S = in.input_ids.dim(1), past = st.length();
    IA_CHECK(past + S <= st.capacity(), ErrorKind::InvalidArgument, "jamba: {} tokens exceed the state capacity {}",
             past + S, st.capacity());
    Tensor x = embed_(in.input_ids.to(embed_.weight.device()));
    Tensor mask = in.attention_mask.defined() ? new_token_mask(in.attention_mask, S).to(x.device()) : Tensor();
    for (size_t li = 0; li < layers_.size(); ++li) {
      const Layer& L = layers_[li];
      const int64_t l = static_cast<int64_t>(li);
      if (in.hidden_states) in.hidden_states->push_back(x);
      Tensor h = L.input_norm(x);
      h = L.attention ? attention(L.attn, h, in.attention_mask, state.at(l, 0), state.at(l, 1), past)
                      : L.mamba(h, past == 0 ? mask : Tensor(), state.at(l, 0), state.at(l, 1));
      x = ops::add(x, h);
      h = L.pre_ff_norm(x);
      x = ops::add(x, L.moe ? moe(L, h) : L.mlp(h, act_));
    }
    st.advance(S);
    x = final_norm_(x);
    if (in.hidden_states) in.hidden_states->push_back(x);
    if (in.last_logits_only) x = x.slice(1, S - 1, S);
    return ops::linear(x, lm_head_);
  }

 private:
  Tensor attention(const Attention& a, const Tensor& h, const Tensor& key_mask, Tensor& kc, Tensor& vc,
                   int64_t past) const {
    const int64_t B = h.dim(0), S = h.dim(1), n = past + S;
    Tensor q = a.q(h).view({B, S, heads_, head_dim_}).transpose(1, 2);
    ops::kv_write_(kc, a.k(h).view({B, S, kv_heads_, head_dim_}), past);
    ops::kv_write_(vc, a.v(h).view({B, S, kv_heads_, head_dim_}), past);
    AttentionArgs args;
    args.scale = 1.0f / std::sqrt(static_cast<float>(head_dim_));
    args.causal = true;
    args.q_offset = past;
    if (key_mask.defined()) args.key_mask = key_mask.to(h.device());
    Tensor o = ops::attention(q, kc.slice(2, 0, n), vc.slice(2, 0, n), args);  // [B, S, H, D]
    return a.o(o.reshape({B, S, heads_ * head_dim_}));
  }

  // JambaSparseMoeBlock: softmax over the router logits, top-k (no renormalisation), experts combined per token
  // in expert order.
  Tensor moe(const Layer& L, const Tensor& h) const {
    const int64_t B = h.dim(0), S = h.dim(1), T = B * S, E = static_cast<int64_t>(L.experts.size());
    Tensor x = h.reshape({T, hidden_});
    Tensor logits = L.router(x);  // [T, E]
    if (record_router_) router_log_.push_back(logits);
    const auto probs = ops::softmax(logits).to(Device::cpu()).to_vector<float>();
    std::vector<std::vector<int64_t>> rows(E);
    std::vector<std::vector<float>> weights(E);
    for (int64_t t = 0; t < T; ++t) {
      const float* p = probs.data() + t * E;
      std::vector<int64_t> idx(E);
      for (int64_t e = 0; e < E; ++e) idx[e] = e;
      std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return p[a] > p[b]; });
      for (int64_t j = 0; j < top_k_; ++j) {
        rows[idx[j]].push_back(t);
        weights[idx[j]].push_back(p[idx[j]]);
      }
    }
    std::vector<float> out(T * hidden_, 0.0f);
    for (int64_t e = 0; e < E; ++e) {
      const int64_t n = static_cast<int64_t>(rows[e].size());
      if (n == 0) continue;
      Tensor xe = ops::index_select(x, Tensor::from_vector<int64_t>(rows[e], {n}).to(x.device()));
      const auto ye = L.experts[e](xe, act_).to(Device::cpu()).contiguous().to_vector<float>();
      for (int64_t r = 0; r < n; ++r)
        for (int64_t d = 0; d < hidden_; ++d) out[rows[e][r] * hidden_ + d] += ye[r * hidden_ + d] * weights[e][r];
    }
    return Tensor::from_vector(out, {B, S, hidden_}).to(h.device());
  }

  int64_t hidden_, heads_, kv_heads_, head_dim_, vocab_, top_k_;
  std::string act_;
  MambaMixerConfig mamba_;
  layers::Embedding embed_;
  std::vector<Layer> layers_;
  layers::RMSNorm final_norm_;
  Tensor lm_head_;
  bool record_router_ = false;
  mutable std::vector<Tensor> router_log_;
};

std::unique_ptr<Model> make_jamba(const ModelConfig& c, const WeightLoader& root, const std::string&) {
  return std::make_unique<JambaLM>(c, root);
}

}  // namespace
}  // namespace ia::ssm

IA_REGISTER_MODEL(jamba, {"jamba", "state-space", {"JambaForCausalLM"}, ia::ssm::make_jamba})
