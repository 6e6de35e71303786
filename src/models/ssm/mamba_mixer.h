// The Mamba-1 mixer (transformers MambaMixer.slow_forward) shared by Mamba, Falcon-Mamba (weightless RMS norm
// on dt, B, C) and Jamba (RMS norms with weights on dt, B, C). State per layer: conv inputs [B, D, K-1] and
// the SSM state [B, D, 1, N].
#pragma once
#include <string>

#include "models/layers.h"

namespace ia::ssm {

struct MambaMixerConfig {
  int64_t hidden = 0, inner = 0, state = 0, rank = 0, kernel = 0;
  bool proj_bias = false, conv_bias = true;
  std::string act = "silu";
  enum class InnerNorm { None, Weightless, Weighted } inner_norm = InnerNorm::None;
  float inner_norm_eps = 1e-6f;
};

struct MambaMixer {
  MambaMixerConfig cfg;
  layers::Linear in_proj, x_proj, dt_proj, out_proj;
  Tensor conv_w, conv_b;  // [D, K], [D]
  Tensor A;               // -exp(A_log) [D, N]
  Tensor D;               // [D]
  layers::RMSNorm dt_norm, b_norm, c_norm;  // InnerNorm != None

  // `w` points at the mixer module; Jamba's norms are dt_layernorm / b_layernorm / c_layernorm.
  static MambaMixer load(const WeightLoader& w, const MambaMixerConfig& cfg);
  // The conv-input and SSM-state shapes of one layer for `batch` sequences.
  Shape conv_state_shape(int64_t batch) const { return {batch, cfg.inner, cfg.kernel - 1}; }
  Shape ssm_state_shape(int64_t batch) const { return {batch, cfg.inner, 1, cfg.state}; }
  // h [B, S, hidden] (normed), mask f32 [B, S, 1] or undefined; updates both states in place.
  Tensor operator()(const Tensor& h, const Tensor& mask, Tensor& conv_state, Tensor& ssm_state) const;
};

}  // namespace ia::ssm
