// RecurrentGemma / Griffin (transformers modeling_recurrent_gemma.py): residual blocks whose temporal mixer is
// either a recurrent block (linear_x -> causal conv1d -> RG-LRU, gated by gelu(linear_y)) or local multi-query
// attention with partial rotary embeddings, each followed by a gated MLP. Embeddings are scaled by
// sqrt(hidden_size) rounded to bfloat16 (HF's `normalizer` buffer); logits are soft-capped.
// State per layer: conv inputs [B, lru, K-1] + RG-LRU state [B, lru] (recurrent) or a key/value cache of the
// state's capacity (attention). Local attention is, by default, what Griffin intends: every query, in a prefill
// of any length or a one-token step, sees the last attention_window_size positions (itself included).
// ModelConfig::transformers_compat = 4.48 reproduces that release instead:
//  * forward(): a prefill of S > attention_window_size tokens keeps only the last `window` keys and masks them
//    as if they were positions 0..window-1 (query i sees the first i+1 of them); later one-token steps see the
//    last `window` positions;
//  * generate() (StepInput::hf_cache_compat): plain causal attention over every position, like the no-cache
//    full forward that produced the generation goldens (HF's generate() fails for this class at 4.48).
#include <cmath>
#include <cstring>

#include "models/layers.h"
#include "models/ssm/recurrent_state.h"
#include "ops/decoding.h"
#include "ops/ssm.h"

namespace ia::ssm {
namespace {

// torch.tensor(x, dtype=torch.bfloat16): round to nearest even on the float bits.
float round_to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof(u));
  u += 0x7FFFu + ((u >> 16) & 1u);
  u &= 0xFFFF0000u;
  float r;
  std::memcpy(&r, &u, sizeof(r));
  return r;
}

// The per-head [H, bw, bw] gate weights of the RG-LRU (x @ W[h]) as one block-diagonal [H*bw, H*bw] Linear
// weight (out, in), so the gates are a single ops::linear.
Tensor block_diagonal(const Tensor& w) {
  const int64_t H = w.dim(0), bw = w.dim(1), C = H * bw;
  const auto v = w.to(Device::cpu()).contiguous().to_vector<float>();
  std::vector<float> full(C * C, 0.0f);
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 0; i < bw; ++i)
      for (int64_t o = 0; o < bw; ++o) full[(h * bw + o) * C + h * bw + i] = v[(h * bw + i) * bw + o];
  return Tensor::from_vector(full, {C, C}).to(w.device());
}

struct Recurrent {
  layers::Linear linear_x, linear_y, linear_out;
  Tensor conv_w, conv_b;              // [lru, K], [lru]
  layers::Linear input_gate, a_gate;  // block-diagonal
  Tensor softplus_param;              // softplus(recurrent_param) [lru]
};

struct Attention {
  layers::Linear q, k, v, o;
};

struct Layer {
  bool attention = false;
  layers::RMSNorm temporal_norm, channel_norm;
  Recurrent rec;
  Attention attn;
  layers::Linear gate, up, down;
};

class RecurrentGemmaLM : public CausalLM {
 public:
  RecurrentGemmaLM(const ModelConfig& c, const WeightLoader& root) {
    hidden_ = c.dim("hidden_size");
    heads_ = c.dim("num_attention_heads");
    kv_heads_ = c.dim_or("num_key_value_heads", heads_, 1);
    head_dim_ = c.dim_or("head_dim", hidden_ / heads_, 1);
    lru_ = c.dim_or("lru_width", hidden_, 1);
    kernel_ = c.dim_or("conv1d_width", 4, 1);
    vocab_ = c.dim("vocab_size");
    act_ = c.str_or("hidden_activation", "gelu_pytorch_tanh");
    ops::activation_op(act_);
    softcap_ = static_cast<float>(c.number_or("logits_soft_cap", 30.0));
    theta_ = c.number_or("rope_theta", 10000.0);
    const double partial = c.number_or("partial_rotary_factor", 0.5);
    IA_CHECK(partial > 0.0 && std::fabs(1.0 / partial - std::round(1.0 / partial)) < 1e-9, ErrorKind::Unsupported,
             "{}: partial_rotary_factor {} must be 1/n", c.source(), partial);
    quirks_ = c.reproduces_transformers();
    rot_dim_ = head_dim_ / static_cast<int64_t>(std::round(1.0 / partial));
    window_ = c.dim_or("attention_window_size", 2048, 1);
    IA_CHECK(lru_ % heads_ == 0, ErrorKind::Format, "{}: lru_width {} not a multiple of num_attention_heads {}",
             c.source(), lru_, heads_);
    const int64_t mlp = c.dim("intermediate_size") / 2;
    const float eps = static_cast<float>(c.number_or("rms_norm_eps", 1e-6));
    const bool attn_bias = c.flag_or("attention_bias", false);
    std::vector<std::string> types;
    IA_CHECK(c.has("block_types") && c.json()["block_types"].is_array(), ErrorKind::Format,
             "{}: block_types must be a list", c.source());
    for (const auto& t : c.json()["block_types"]) types.push_back(t.is_string() ? t.get<std::string>() : t.dump());
    IA_CHECK(!types.empty(), ErrorKind::Format, "{}: block_types is empty", c.source());
    normalizer_ = round_to_bf16(std::sqrt(static_cast<float>(hidden_)));
    const WeightLoader base = root.pp("model");
    embed_ = layers::Embedding::load(base.pp("embed_tokens"), vocab_, hidden_);
    for (int64_t i = 0; i < c.dim("num_hidden_layers"); ++i) {
      const WeightLoader l = base.pp("layers").pp(i);
      const std::string& type = types[i % types.size()];
      IA_CHECK(type == "recurrent" || type == "attention", ErrorKind::Unsupported, "{}: block type '{}'", c.source(),
               type);
      Layer L;
      L.attention = type == "attention";
      L.temporal_norm = layers::RMSNorm::load(l.pp("temporal_pre_norm"), hidden_, eps, true);
      L.channel_norm = layers::RMSNorm::load(l.pp("channel_pre_norm"), hidden_, eps, true);
      const WeightLoader t = l.pp("temporal_block");
      if (L.attention) {
        L.attn = {layers::Linear::load(t.pp("q_proj"), hidden_, heads_ * head_dim_, attn_bias),
                  layers::Linear::load(t.pp("k_proj"), hidden_, kv_heads_ * head_dim_, attn_bias),
                  layers::Linear::load(t.pp("v_proj"), hidden_, kv_heads_ * head_dim_, attn_bias),
                  layers::Linear::load(t.pp("o_proj"), heads_ * head_dim_, hidden_, true)};
      } else {
        Recurrent& r = L.rec;
        r.linear_x = layers::Linear::load(t.pp("linear_x"), hidden_, lru_);
        r.linear_y = layers::Linear::load(t.pp("linear_y"), hidden_, lru_);
        r.linear_out = layers::Linear::load(t.pp("linear_out"), lru_, hidden_);
        r.conv_w = t.pp("conv_1d").get("weight", {lru_, 1, kernel_}).contiguous().view({lru_, kernel_});
        r.conv_b = t.pp("conv_1d").get("bias", {lru_});
        const WeightLoader g = t.pp("rg_lru");
        const int64_t bw = lru_ / heads_;
        r.input_gate.weight = block_diagonal(g.get("input_gate_weight", {heads_, bw, bw}));
        r.input_gate.bias = g.get("input_gate_bias", {heads_, bw}).contiguous().view({lru_});
        r.a_gate.weight = block_diagonal(g.get("recurrent_gate_weight", {heads_, bw, bw}));
        r.a_gate.bias = g.get("recurrent_gate_bias", {heads_, bw}).contiguous().view({lru_});
        r.softplus_param = ops::unary(UnaryOp::Softplus, g.get("recurrent_param", {lru_}));
      }
      const WeightLoader m = l.pp("mlp_block");
      L.gate = layers::Linear::load(m.pp("gate_proj"), hidden_, mlp);
      L.up = layers::Linear::load(m.pp("up_proj"), hidden_, mlp);
      L.down = layers::Linear::load(m.pp("down_proj"), mlp, hidden_);
      layers_.push_back(std::move(L));
    }
    final_norm_ = layers::RMSNorm::load(base.pp("final_norm"), hidden_, eps, true);
  }

  std::unique_ptr<DecoderState> new_state(int64_t batch, int64_t capacity) const override {
    std::vector<std::vector<Shape>> shapes;
    for (const auto& L : layers_)
      shapes.push_back(L.attention ? std::vector<Shape>{{batch, kv_heads_, capacity, head_dim_},
                                                         {batch, kv_heads_, capacity, head_dim_}}
                                   : std::vector<Shape>{{batch, lru_, kernel_ - 1}, {batch, lru_}});
    return std::make_unique<RecurrentState>(batch, capacity, shapes, embed_.weight.device());
  }

  int64_t vocab_size() const override { return vocab_; }

  Tensor step(DecoderState& st, const StepInput& in) override {
    auto& state = dynamic_cast<RecurrentState&>(st);
    const int64_t B = in.input_ids.dim(0), S = in.input_ids.dim(1), past = st.length();
    IA_CHECK(past + S <= st.capacity(), ErrorKind::InvalidArgument,
             "recurrent_gemma: {} tokens exceed the state capacity {}", past + S, st.capacity());
    const Device dev = embed_.weight.device();
    Tensor x = ops::scale(embed_(in.input_ids.to(dev)), normalizer_);
    // RG-LRU reset at position 0; rotary angles from the positions.
    const auto pos = in.position_ids.to(Device::cpu()).contiguous().to_vector<int64_t>();
    std::vector<float> reset(B * S), cosv(B * S * (rot_dim_ / 2)), sinv(B * S * (rot_dim_ / 2));
    for (int64_t i = 0; i < B * S; ++i) {
      reset[i] = pos[i] == 0 ? 1.0f : 0.0f;
      for (int64_t j = 0; j < rot_dim_ / 2; ++j) {
        const float inv = 1.0f / std::pow(static_cast<float>(theta_), static_cast<float>(2 * j) / rot_dim_);
        const float ang = inv * static_cast<float>(pos[i]);
        cosv[i * (rot_dim_ / 2) + j] = std::cos(ang);
        sinv[i * (rot_dim_ / 2) + j] = std::sin(ang);
      }
    }
    Tensor reset_t = Tensor::from_vector(reset, {B, S, 1}).to(dev);
    Tensor cos = Tensor::from_vector(cosv, {B, S, rot_dim_ / 2}).to(dev);
    Tensor sin = Tensor::from_vector(sinv, {B, S, rot_dim_ / 2}).to(dev);
    for (size_t li = 0; li < layers_.size(); ++li) {
      const Layer& L = layers_[li];
      const int64_t l = static_cast<int64_t>(li);
      if (in.hidden_states) in.hidden_states->push_back(x);
      Tensor h = L.temporal_norm(x);
      h = L.attention ? attention(L.attn, h, in.attention_mask, cos, sin, state.at(l, 0), state.at(l, 1), past,
                                  in.hf_cache_compat)
                      : recurrent(L.rec, h, reset_t, state.at(l, 0), state.at(l, 1));
      Tensor residual = ops::add(h, x);
      h = L.channel_norm(residual);
      x = ops::add(L.down(ops::mul(ops::activation(L.gate(h), act_), L.up(h))), residual);
    }
    st.advance(S);
    x = final_norm_(x);
    if (in.hidden_states) in.hidden_states->push_back(x);
    if (in.last_logits_only) x = x.slice(1, S - 1, S);
    Tensor logits = ops::linear(x, embed_.weight);
    return ops::scale(ops::unary(UnaryOp::Tanh, ops::scale(logits, 1.0f / softcap_)), softcap_);
  }

 private:
  Tensor recurrent(const Recurrent& r, const Tensor& h, const Tensor& reset, Tensor& conv_state,
                   Tensor& lru_state) const {
    Tensor y = ops::activation(r.linear_y(h), act_);
    Tensor xb = ops::causal_conv1d_(r.linear_x(h).contiguous(), r.conv_w, r.conv_b, conv_state);
    // RG-LRU.
    Tensor input_gate = ops::unary(UnaryOp::Sigmoid, r.input_gate(xb));
    Tensor a_gate = ops::unary(UnaryOp::Sigmoid, r.a_gate(xb));
    Tensor log_a = ops::scale(ops::mul(a_gate, r.softplus_param), -8.0f);
    Tensor a = ops::unary(UnaryOp::Exp, log_a);
    Tensor a_square = ops::unary(UnaryOp::Exp, ops::scale(log_a, 2.0f));
    Tensor gated = ops::mul(xb, input_gate);
    Tensor not_reset = ops::scale(reset, -1.0f, 1.0f);
    Tensor mult = ops::unary(UnaryOp::Sqrt, ops::scale(a_square, -1.0f, 1.0f));
    mult = ops::add(reset, ops::mul(not_reset, mult));
    Tensor normalized = ops::mul(gated, mult);
    Tensor hs = ops::linear_recurrence_(ops::mul(a, not_reset).contiguous(), normalized.contiguous(), lru_state);
    return r.linear_out(ops::mul(hs, y));
  }

  Tensor attention(const Attention& a, const Tensor& h, const Tensor& key_mask, const Tensor& cos, const Tensor& sin,
                   Tensor& kc, Tensor& vc, int64_t past, bool hf_compat) const {
    const int64_t B = h.dim(0), S = h.dim(1), n = past + S;
    Tensor q = ops::rotary(a.q(h).view({B, S, heads_, head_dim_}), cos, sin, false);
    Tensor k = ops::rotary(a.k(h).view({B, S, kv_heads_, head_dim_}), cos, sin, false);
    ops::kv_write_(kc, k, past);
    ops::kv_write_(vc, a.v(h).view({B, S, kv_heads_, head_dim_}), past);
    AttentionArgs args;
    args.scale = 1.0f / std::sqrt(static_cast<float>(head_dim_));
    args.causal = true;
    args.q_offset = past;
    int64_t first = 0;  // first key position attended
    if (quirks_ && !hf_compat && past == 0 && S > window_) {
      first = S - window_;  // 4.48 prefill quirk: the last `window` keys, masked from slot 0
      args.q_offset = 0;
    } else if (!hf_compat) {
      args.sliding_window = window_;
    }
    if (key_mask.defined()) args.key_mask = key_mask.to(h.device()).slice(1, first, n).contiguous();
    Tensor o = ops::attention(q.transpose(1, 2), kc.slice(2, first, n), vc.slice(2, first, n), args);
    return a.o(o.reshape({B, S, heads_ * head_dim_}));
  }

  int64_t hidden_, heads_, kv_heads_, head_dim_, lru_, kernel_, vocab_, rot_dim_, window_;
  bool quirks_ = false;  // ModelConfig::reproduces_transformers()
  std::string act_;
  float softcap_, normalizer_;
  double theta_;
  layers::Embedding embed_;
  std::vector<Layer> layers_;
  layers::RMSNorm final_norm_;
};

std::unique_ptr<Model> make_recurrent_gemma(const ModelConfig& c, const WeightLoader& root, const std::string&) {
  return std::make_unique<RecurrentGemmaLM>(c, root);
}

}  // namespace
}  // namespace ia::ssm

IA_REGISTER_MODEL(recurrent_gemma,
                  {"recurrent_gemma", "state-space", {"RecurrentGemmaForCausalLM"}, ia::ssm::make_recurrent_gemma})
