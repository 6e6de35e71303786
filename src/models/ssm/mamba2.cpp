// Mamba-2 (transformers modeling_mamba2.py, torch_forward). Per layer the state holds the conv inputs
// [B, conv_dim, K-1] and the SSM state [B, H, head_dim, N].
// Default (intended) semantics, as upstream after its fixes: dt = clamp(softplus(dt + dt_bias), time_step_limit)
// and every call, prefill or one-token step, is the exact recurrence ops::selective_scan_ with head h reading
// group h / (H / G) (repeat_interleave); prefill and token-by-token decode agree at any length.
// ModelConfig::transformers_compat = 4.48 reproduces that release's torch_forward quirks (the conformance goldens):
//  * dt = max(softplus(dt + dt_bias), time_step_min) on both paths (time_step_limit is not used);
//  * the inter-chunk state pass reduces over the wrong axis: the state entering chunk c is
//    f_c * local_c with f_c = sum_{z=c..n} exp(sum of A*dt over chunks c..z-1) and local_c the state chunk c-1
//    builds from zero (local_0 = the carried state), and the final state is the last chunk's local state;
//  * with n_groups > 1 the multi-token path maps head h to group h % G (B.repeat), the one-token path to
//    h / (H / G) (expand).
// Each quirky chunk runs ops::selective_scan_ twice: from the entering state (outputs) and from zero (local state).
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
    IA_CHECK(heads_ * head_dim_ == inner_, ErrorKind::Format,
             "{}: num_heads {} * head_dim {} != expand * hidden_size {}", c.source(), heads_, head_dim_, inner_);
    IA_CHECK(heads_ % groups_ == 0, ErrorKind::Format, "{}: num_heads {} not a multiple of n_groups {}", c.source(),
             heads_, groups_);
    // rms_norm / norm_before_gate are read but unused by transformers' torch_forward (always the gated RMSNorm,
    // gate before norm); so here.
    quirks_ = c.reproduces_transformers();
    if (quirks_) {
      dt_lo_ = c.number_or("time_step_min", 0.001);
    } else if (c.has("time_step_limit")) {
      // [min, max]; a config written by Python may carry Infinity, which JSON cannot: a non-number means unbounded.
      const auto& lim = c.json()["time_step_limit"];
      IA_CHECK(lim.is_array() && lim.size() == 2, ErrorKind::Format, "{}: time_step_limit must be [min, max]",
               c.source());
      if (lim[0].is_number()) dt_lo_ = lim[0].get<double>();
      if (lim[1].is_number()) dt_hi_ = lim[1].get<double>();
      IA_CHECK(dt_lo_ <= dt_hi_, ErrorKind::Format, "{}: time_step_limit [{}, {}] is reversed", c.source(), dt_lo_,
               dt_hi_);
    }
    chunk_ = c.dim_or("chunk_size", 256, 1);
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
    const bool quirky_prefill = quirks_ && !decode;
    if (quirky_prefill && groups_ > 1) {
      std::vector<Tensor> bs(heads_ / groups_, Bm), cs(heads_ / groups_, Cm);
      Bm = ops::concat(bs, 2);
      Cm = ops::concat(cs, 2);
    }
    dt = ops::unary(UnaryOp::Softplus, ops::add(dt, m.dt_bias));
    if (dt_lo_ > 0.0)
      dt = ops::binary(BinaryOp::Max, dt, Tensor::scalar(static_cast<float>(dt_lo_)).to(dt.device()));
    if (std::isfinite(dt_hi_))
      dt = ops::binary(BinaryOp::Min, dt, Tensor::scalar(static_cast<float>(dt_hi_)).to(dt.device()));
    dt = dt.contiguous();
    Tensor y = quirky_prefill ? chunked_scan(xs, dt, m, Bm, Cm, state.at(li, 1))
                              : ops::selective_scan_(xs, dt, m.A, Bm, Cm, m.D, state.at(li, 1));
    y = y.view({B, S, inner_});
    y = m.norm(ops::mul(y, ops::unary(UnaryOp::Silu, gate)));
    return m.out_proj(y);
  }

  // transformers 4.48's chunked SSD, quirks included (see the file comment): outputs [B, S, H, P]; `state` becomes the last
  // chunk's local state.
  Tensor chunked_scan(const Tensor& xs, const Tensor& dt, const Mixer& m, const Tensor& Bm, const Tensor& Cm,
                      Tensor& state) const {
    const int64_t B = xs.dim(0), S = xs.dim(1), n = (S + chunk_ - 1) / chunk_;
    // Per chunk, batch and head: the total of A * dt over the chunk.
    const auto dtv = dt.to(Device::cpu()).to_vector<float>();
    const auto av = m.A.to(Device::cpu()).to_vector<float>();  // [H, N], constant over N
    std::vector<double> total(n * B * heads_, 0.0);
    for (int64_t c = 0; c < n; ++c)
      for (int64_t b = 0; b < B; ++b)
        for (int64_t t = c * chunk_; t < std::min(S, (c + 1) * chunk_); ++t)
          for (int64_t h = 0; h < heads_; ++h)
            total[(c * B + b) * heads_ + h] += double(av[h * state_]) * double(dtv[(b * S + t) * heads_ + h]);
    Tensor local = state.clone();  // local_0: the carried state
    std::vector<Tensor> ys;
    for (int64_t c = 0; c < n; ++c) {
      std::vector<float> f(B * heads_);
      for (int64_t b = 0; b < B; ++b)
        for (int64_t h = 0; h < heads_; ++h) {
          double sum = 0.0, acc = 0.0;
          for (int64_t z = c; z <= n; ++z) {
            sum += std::exp(acc);
            if (z < n) acc += total[(z * B + b) * heads_ + h];
          }
          f[b * heads_ + h] = static_cast<float>(sum);
        }
      Tensor entering = ops::mul(local, Tensor::from_vector(f, {B, heads_, 1, 1}).to(state.device())).contiguous();
      const int64_t t0 = c * chunk_, t1 = std::min(S, t0 + chunk_);
      auto sl = [&](const Tensor& v) { return v.slice(1, t0, t1).contiguous(); };
      ys.push_back(ops::selective_scan_(sl(xs), sl(dt), m.A, sl(Bm), sl(Cm), m.D, entering));
      local = Tensor::zeros(state.shape(), DType::F32, state.device());
      ops::selective_scan_(sl(xs), sl(dt), m.A, sl(Bm), sl(Cm), Tensor(), local);
    }
    ops::copy_(state, local);
    return ys.size() == 1 ? ys[0] : ops::concat(ys, 1);
  }

  int64_t hidden_, heads_, head_dim_, inner_, state_, groups_, kernel_, vocab_, conv_dim_;
  int64_t chunk_;
  bool quirks_ = false;
  double dt_lo_ = 0.0, dt_hi_ = INFINITY;
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
