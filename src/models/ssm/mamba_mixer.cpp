#include "models/ssm/mamba_mixer.h"

#include "ops/ssm.h"

namespace ia::ssm {

MambaMixer MambaMixer::load(const WeightLoader& w, const MambaMixerConfig& cfg) {
  const int64_t D = cfg.inner, N = cfg.state, R = cfg.rank, K = cfg.kernel;
  ops::activation_op(cfg.act);
  MambaMixer m;
  m.cfg = cfg;
  m.in_proj = layers::Linear::load(w.pp("in_proj"), cfg.hidden, 2 * D, cfg.proj_bias);
  m.x_proj = layers::Linear::load(w.pp("x_proj"), D, R + 2 * N, false);
  m.dt_proj = layers::Linear::load(w.pp("dt_proj"), R, D, true);
  m.out_proj = layers::Linear::load(w.pp("out_proj"), D, cfg.hidden, cfg.proj_bias);
  m.conv_w = w.pp("conv1d").get("weight", {D, 1, K}).contiguous().view({D, K});
  if (cfg.conv_bias) m.conv_b = w.pp("conv1d").get("bias", {D});
  m.A = ops::scale(ops::unary(UnaryOp::Exp, w.get("A_log", {D, N})), -1.0f);
  m.D = w.get("D", {D});
  using InnerNorm = MambaMixerConfig::InnerNorm;
  if (cfg.inner_norm == InnerNorm::Weighted) {
    m.dt_norm = layers::RMSNorm::load(w.pp("dt_layernorm"), R, cfg.inner_norm_eps);
    m.b_norm = layers::RMSNorm::load(w.pp("b_layernorm"), N, cfg.inner_norm_eps);
    m.c_norm = layers::RMSNorm::load(w.pp("c_layernorm"), N, cfg.inner_norm_eps);
  } else if (cfg.inner_norm == InnerNorm::Weightless) {
    auto ones = [&](int64_t n) {
      layers::RMSNorm r;
      r.weight = Tensor::full({n}, 1.0f).to(w.device());
      r.eps = cfg.inner_norm_eps;
      return r;
    };
    m.dt_norm = ones(R);
    m.b_norm = ones(N);
    m.c_norm = ones(N);
  }
  return m;
}

Tensor MambaMixer::operator()(const Tensor& h, const Tensor& mask, Tensor& conv_state, Tensor& ssm_state) const {
  const int64_t B = h.dim(0), S = h.dim(1), D = cfg.inner, N = cfg.state, R = cfg.rank;
  Tensor proj = in_proj(h);  // [B, S, 2D]: hidden_states, gate
  Tensor xs = proj.slice(2, 0, D);
  Tensor gate = proj.slice(2, D, 2 * D);
  if (mask.defined()) xs = ops::mul(xs, mask);
  Tensor u = ops::activation(ops::causal_conv1d_(xs.contiguous(), conv_w, conv_b, conv_state), cfg.act);
  if (mask.defined()) u = ops::mul(u, mask);
  Tensor params = x_proj(u);  // [B, S, R + 2N]: time_step, B, C
  Tensor ts = params.slice(2, 0, R).contiguous();
  Tensor Bm = params.slice(2, R, R + N).contiguous();
  Tensor Cm = params.slice(2, R + N, R + 2 * N).contiguous();
  if (cfg.inner_norm != MambaMixerConfig::InnerNorm::None) {
    ts = dt_norm(ts);
    Bm = b_norm(Bm);
    Cm = c_norm(Cm);
  }
  Tensor dt = ops::unary(UnaryOp::Softplus, dt_proj(ts));  // [B, S, D]
  Tensor y = ops::selective_scan_(u.view({B, S, D, 1}), dt, A, Bm.view({B, S, 1, N}), Cm.view({B, S, 1, N}), this->D,
                                  ssm_state);
  y = ops::mul(y.view({B, S, D}), ops::activation(gate, cfg.act));
  return out_proj(y);
}

}  // namespace ia::ssm
