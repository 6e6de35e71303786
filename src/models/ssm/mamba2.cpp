// Mamba-2 (transformers modeling_mamba2.py, torch_forward). The chunked SSD scan of the reference equals the
// sequential recurrence run here (ops::selective_scan_ with scalar A per head), up to float rounding. Per layer
// the state holds the conv inputs [B, conv_dim, K-1] and the SSM state [B, H, head_dim, N].
// transformers 4.48 quirk reproduced: with n_groups > 1 the multi-token path maps head h to group h % G
// (B.repeat) while the single-token cached path maps it to group h / (H / G) (expand).
#include <cmath>

#include "models/layers.h"
#include "models/ssm/recurrent_state.h"
#include "ops/ssm.h"

namespace ia::ssm {
namespace {

struct Mixer {
  layers::Linear in_proj, out_proj;
  Tensor conv_w, conv_b;  // [conv_dim, K], [conv_dim]
  Tensor A;               // -exp(A_log) as [H, N]
  Tensor D, dt_bias;      // [H]
  layers::RMSNorm norm;   // gated
};

struct Block {
  layers::RMSNorm norm;
  Mixer mixer;
};

// A time_step_limit bound: a number, or "Infinity" / "-Infinity" (io/config.cpp quotes Python's bare tokens).
double limit_value(const nlohmann::json& v, const ModelConfig& c) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string() && v.get<std::string>() == "Infinity") return INFINITY;
  if (v.is_string() && v.get<std::string>() == "-Infinity") return -INFINITY;
  fail(ErrorKind::Format, "{}: time_step_limit bound must be a number, got {}", c.source(), v.dump());
}

class Mamba2LM : public CausalLM {
 public:
  Mamba2LM(const ModelConfig& c, const WeightLoader& root) {
    hidden_ = c.dim("hidden_size");
    heads_ = c.dim("num_heads");
    head_dim_ = c.dim("head_dim");
    inner_ = static_cast<int64_t>(c.number_or("expand", 2) * hidden_);
    state_ = c.dim("state_size");
    groups_ = c.dim_or("n_groups", 1, 1);
    kernel_ = c.dim("conv_kernel");
    vocab_ = c.dim("vocab_size");
    const int64_t L = c.dim("num_hidden_layers");
    const float eps = static_cast<float>(c.number_or("layer_norm_epsilon", 1e-5));
    act_ = c.str_or("hidden_act", "silu");
    ops::activation_op(act_);
    IA_CHECK(heads_ * head_dim_ == inner_, ErrorKind::Format, "{}: num_heads {} * head_dim {} != expand * hidden_size {}",
             c.source(), heads_, head_dim_, inner_);
    IA_CHECK(heads_ % groups_ == 0, ErrorKind::Format, "{}: num_heads {} not a multiple of n_groups {}", c.source(),
             heads_, groups_);
    IA_CHECK(c.flag_or("rms_norm", true), ErrorKind::Unsupported, "{}: mamba2 rms_norm=false is not supported",
             c.source());
    IA_CHECK(!c.flag_or("norm_before_gate", false), ErrorKind::Unsupported,
             "{}: mamba2 norm_before_gate=true is not supported (transformers ignores it too)", c.source());
    if (c.has("time_step_limit")) {
      const auto& lim = c.json()["time_step_limit"];
      IA_CHECK(lim.is_array() && lim.size() == 2, ErrorKind::Format, "{}: time_step_limit must be [min, max]",
               c.source());
      dt_min_ = limit_value(lim[0], c);
      dt_max_ = limit_value(lim[1], c);
    }
    conv_dim_ = inner_ + 2 * groups_ * state_;
    const bool use_bias = c.flag_or("use_bias", false), conv_bias = c.flag_or("use_conv_bias", true);
    const WeightLoader bb = root.pp("backbone");
    embed_ = layers::Embedding::load(bb.pp("embeddings"), vocab_, hidden_);
    for (int64_t i = 0; i < L; ++i) {
      const WeightLoader l = bb.pp("layers").pp(i);
      const WeightLoader m = l.pp("mixer");
      Block b;
      b.norm = layers::RMSNorm::load(l.pp("norm"), hidden_, eps);
      b.mixer.in_proj = layers::Linear::load(m.pp("in_proj"), hidden_, inner_ + conv_dim_ + heads_, use_bias);
      b.mixer.out_proj = layers::Linear::load(m.pp("out_proj"), inner_, hidden_, use_bias);
      b.mixer.conv_w = m.pp("conv1d").get("weight", {conv_dim_, 1, kernel_}).contiguous().view({conv_dim_, kernel_});
      if (conv_bias) b.mixer.conv_b = m.pp("conv1d").get("bias", {conv_dim_});
      Tensor a = ops::scale(ops::unary(UnaryOp::Exp, m.get("A_log", {heads_})), -1.0f);
      b.mixer.A = ops::add(a.view({heads_, 1}), Tensor::zeros({heads_, state_}, DType::F32, a.device()));
      b.mixer.D = m.get("D", {heads_});
      b.mixer.dt_bias = m.get("dt_bias", {heads_});
      b.mixer.norm = layers::RMSNorm::load(m.pp("norm"), inner_, eps);
      blocks_.push_back(std::move(b));
    }
    norm_f_ = layers::RMSNorm::load(bb.pp("norm_f"), hidden_, eps);
    lm_head_ = c.flag_or("tie_word_embeddings", false) ? embed_.weight
                                                         : root.pp("lm_head").get("weight", {vocab_, hidden_});
  }

  std::unique_ptr<DecoderState> new_state(int64_t batch, int64_t) const override {
    return std::make_unique<RecurrentState>(
        static_cast<int64_t>(blocks_.size()), batch,
        std::vector<Shape>{{batch, conv_dim_, kernel_ - 1}, {batch, heads_, head_dim_, state_}},
        std::vector<float>{0.0f, 0.0f}, embed_.weight.device());
  }

  int64_t vocab_size() const override { return vocab_; }

  Tensor step(DecoderState& st, const StepInput& in) override {
    auto& state = dynamic_cast<RecurrentState&>(st);
    const int64_t S = in.input_ids.dim(1);
    const bool decode = st.length() > 0 && S == 1;
    Tensor mask = in.attention_mask.defined() ? new_token_mask(in.attention_mask, S) : Tensor();
    Tensor x = embed_(in.input_ids.to(embed_.weight.device()));
    if (mask.defined()) mask = mask.to(x.device());
    for (size_t li = 0; li < blocks_.size(); ++li) {
      x = ops::add(x, mix(blocks_[li].mixer, blocks_[li].norm(x), mask, state, static_cast<int64_t>(li), decode));
      if (in.hidden_states) in.hidden_states->push_back(x);
    }
    st.advance(S);
    x = norm_f_(x);
    if (in.hidden_states) in.hidden_states->push_back(x);
    if (in.last_logits_only) x = x.slice(1, S - 1, S);
    return ops::linear(x, lm_head_);
  }

 private:
  Tensor mix(const Mixer& m, Tensor h, const Tensor& mask, RecurrentState& state, int64_t li, bool decode) const {
    const int64_t B = h.dim(0), S = h.dim(1), GN = groups_ * state_;
    if (mask.defined() && !decode) h = ops::mul(h, mask);
    Tensor proj = m.in_proj(h);  // [B, S, inner + conv_dim + H]
    Tensor gate = proj.slice(2, 0, inner_);
    Tensor xbc = proj.slice(2, inner_, inner_ + conv_dim_).contiguous();
    Tensor dt = proj.slice(2, inner_ + conv_dim_, inner_ + conv_dim_ + heads_);
    xbc = ops::activation(ops::causal_conv1d_(xbc, m.conv_w, m.conv_b, state.at(li, 0)), act_);
    if (mask.defined() && !decode) xbc = ops::mul(xbc, mask);
    Tensor xs = xbc.slice(2, 0, inner_).contiguous().view({B, S, heads_, head_dim_});
    Tensor Bm = xbc.slice(2, inner_, inner_ + GN).contiguous().view({B, S, groups_, state_});
    Tensor Cm = xbc.slice(2, inner_ + GN, inner_ + 2 * GN).contiguous().view({B, S, groups_, state_});
    if (!decode && groups_ > 1) {
      std::vector<Tensor> bs(heads_ / groups_, Bm), cs(heads_ / groups_, Cm);
      Bm = ops::concat(bs, 2);
      Cm = ops::concat(cs, 2);
    }
    dt = ops::unary(UnaryOp::Softplus, ops::add(dt, m.dt_bias));
    if (dt_min_ > 0.0 || dt_max_ != INFINITY) dt = clamp(dt);
    Tensor y = ops::selective_scan_(xs, dt.contiguous(), m.A, Bm, Cm, m.D, state.at(li, 1));
    y = y.view({B, S, inner_});
    y = m.norm(ops::mul(y, ops::unary(UnaryOp::Silu, gate)));
    return m.out_proj(y);
  }

  Tensor clamp(const Tensor& dt) const {
    Tensor r = ops::binary(BinaryOp::Max, dt, Tensor::scalar(static_cast<float>(dt_min_)).to(dt.device()));
    if (dt_max_ != INFINITY)
      r = ops::binary(BinaryOp::Min, r, Tensor::scalar(static_cast<float>(dt_max_)).to(dt.device()));
    return r;
  }

  int64_t hidden_, heads_, head_dim_, inner_, state_, groups_, kernel_, vocab_, conv_dim_;
  double dt_min_ = 0.0, dt_max_ = INFINITY;
  std::string act_;
  layers::Embedding embed_;
  std::vector<Block> blocks_;
  layers::RMSNorm norm_f_;
  Tensor lm_head_;
};

std::unique_ptr<Model> make_mamba2(const ModelConfig& c, const WeightLoader& root, const std::string&) {
  return std::make_unique<Mamba2LM>(c, root);
}

}  // namespace
}  // namespace ia::ssm

IA_REGISTER_MODEL(mamba2, {"mamba2", "state-space", {"Mamba2ForCausalLM"}, ia::ssm::make_mamba2})
