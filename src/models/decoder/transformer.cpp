#include "models/decoder/transformer.h"

#include <algorithm>
#include <cmath>

#include "ops/decoding.h"

namespace ia::decoder {

using layers::Linear;

// ---- norms ----------------------------------------------------------------------------------------------

Norm Norm::layer(const WeightLoader& w, int64_t dim, double eps, bool with_bias) {
  Norm n;
  n.kind = Kind::LayerNorm;
  n.weight = w.get("weight", {dim});
  if (with_bias) n.bias = w.get("bias", {dim});
  n.eps = static_cast<float>(eps);
  return n;
}

Norm Norm::layer_1p(const WeightLoader& w, int64_t dim, double eps) {
  Norm n = layer(w, dim, eps, true);
  n.weight = ops::scale(n.weight, 1.0f, 1.0f);
  return n;
}

Norm Norm::layer_plain(double eps) {
  Norm n;
  n.kind = Kind::LayerNorm;
  n.eps = static_cast<float>(eps);
  return n;
}

Norm Norm::rms(const WeightLoader& w, int64_t dim, double eps, bool unit_offset) {
  Norm n;
  n.kind = Kind::RMSNorm;
  n.weight = w.get("weight", {dim});
  n.eps = static_cast<float>(eps);
  n.unit_offset = unit_offset;
  return n;
}

Norm Norm::per_head(const WeightLoader& w, int64_t heads, int64_t dim, double eps) {
  Norm n;
  n.kind = Kind::LayerNormPerHead;
  n.weight = w.get("weight", {heads, dim});
  n.eps = static_cast<float>(eps);
  return n;
}

Tensor Norm::operator()(const Tensor& x) const {
  switch (kind) {
    case Kind::None: return x;
    case Kind::LayerNorm: return ops::layer_norm(x, weight, bias, eps);
    case Kind::RMSNorm: return ops::rms_norm(x, weight, eps, unit_offset);
    case Kind::LayerNormPerHead: {
      Tensor y = ops::mul(ops::layer_norm(x, Tensor(), Tensor(), eps), weight);
      return bias.defined() ? ops::add(y, bias) : y;
    }
  }
  return x;
}

void load_lm_head(Spec& s, const ModelConfig& c, const WeightLoader& root, bool tie_default, const std::string& name,
                  bool with_bias) {
  const bool tie = c.flag_or("tie_word_embeddings", tie_default);
  if (tie) {
    s.lm_head = s.embed;
    IA_CHECK(s.embed.dim(1) == s.hidden || s.project_out.defined(), ErrorKind::Format,
             "{}: tied lm_head needs embedding dim {} == hidden_size {}", c.source(), s.embed.dim(1), s.hidden);
  } else {
    s.lm_head = root.pp(name).get_native("weight", {s.vocab, s.embed.dim(1)});
  }
  if (with_bias) s.lm_head_bias = root.pp(name).get("bias", {s.vocab});
}

int64_t kv_heads_of(const ModelConfig& c, int64_t heads, const std::string& key) {
  const int64_t kv = c.has(key) ? c.dim(key) : heads;
  IA_CHECK(heads % kv == 0, ErrorKind::Format, "{}: num_attention_heads {} is not a multiple of {} {}", c.source(),
           heads, key, kv);
  return kv;
}

std::vector<float> bloom_alibi_slopes(int64_t heads) {
  // transformers build_alibi_tensor, in float32 like torch.
  const int64_t closest = int64_t(1) << static_cast<int64_t>(std::floor(std::log2(double(heads))));
  const float base = static_cast<float>(std::pow(2.0, -std::pow(2.0, -(std::log2(double(closest)) - 3))));
  std::vector<float> slopes;
  for (int64_t i = 1; i <= closest; ++i) slopes.push_back(std::pow(base, static_cast<float>(i)));
  if (closest != heads) {
    const float extra = static_cast<float>(std::pow(2.0, -std::pow(2.0, -(std::log2(double(2 * closest)) - 3))));
    const int64_t remaining = std::min(closest, heads - closest);
    for (int64_t i = 0; i < remaining; ++i) slopes.push_back(std::pow(extra, static_cast<float>(1 + 2 * i)));
  }
  return slopes;
}

// ---- rotary ---------------------------------------------------------------------------------------------

namespace {

std::vector<float> default_inv_freq(double base, int64_t dim) {
  std::vector<float> f(dim / 2);
  for (int64_t i = 0; i < dim / 2; ++i) {
    const float e = static_cast<float>(2 * i) / static_cast<float>(dim);  // float32 like torch
    f[i] = 1.0f / static_cast<float>(std::pow(base, static_cast<double>(e)));
  }
  return f;
}

std::vector<float> float_list(const ModelConfig& c, const nlohmann::json& j, const char* key, size_t n) {
  IA_CHECK(j.contains(key) && j[key].is_array() && j[key].size() == n, ErrorKind::Format,
           "{}: rope_scaling.{} must be a list of {} numbers", c.source(), key, n);
  std::vector<float> v;
  for (const auto& x : j[key]) v.push_back(x.get<float>());
  return v;
}

}  // namespace

Rope Rope::from_config(const ModelConfig& c, int64_t rot_dim, bool interleaved, double base) {
  Rope r;
  r.dim = rot_dim;
  r.interleaved = interleaved;
  r.base = base;
  IA_CHECK(rot_dim > 0 && rot_dim % 2 == 0, ErrorKind::Format, "{}: rotary dimension {} must be even and > 0",
           c.source(), rot_dim);
  r.inv_freq = default_inv_freq(base, rot_dim);
  r.max_positions = c.dim_or("max_position_embeddings", 0, 0);
  if (!c.has("rope_scaling")) return r;
  const auto& rs = c.json()["rope_scaling"];
  IA_CHECK(rs.is_object(), ErrorKind::Format, "{}: rope_scaling must be an object or null", c.source());
  r.type = rs.value("rope_type", rs.value("type", std::string("default")));
  auto num = [&](const char* key, double fallback) {
    return rs.contains(key) && rs[key].is_number() ? rs[key].get<double>() : fallback;
  };
  r.factor = num("factor", 1.0);
  const int64_t half = rot_dim / 2;
  if (r.type == "default") {
  } else if (r.type == "linear") {
    for (auto& f : r.inv_freq) f = static_cast<float>(f / r.factor);
  } else if (r.type == "dynamic") {
    IA_CHECK(r.max_positions > 0, ErrorKind::Format, "{}: dynamic rope_scaling needs max_position_embeddings",
             c.source());
  } else if (r.type == "llama3") {
    const double low = num("low_freq_factor", 1.0), high = num("high_freq_factor", 4.0);
    const double old_ctx = num("original_max_position_embeddings", 8192.0);
    const double low_wl = old_ctx / low, high_wl = old_ctx / high;
    for (auto& f : r.inv_freq) {
      const double wl = 2 * M_PI / f;
      double v = wl > low_wl ? f / r.factor : f;
      if (!(wl < high_wl) && !(wl > low_wl)) {
        const double smooth = (old_ctx / wl - low) / (high - low);
        v = (1 - smooth) * v / r.factor + smooth * v;
      }
      f = static_cast<float>(v);
    }
  } else if (r.type == "yarn") {
    const double beta_fast = num("beta_fast", 32.0), beta_slow = num("beta_slow", 1.0);
    // The correction range is measured against the pre-trained context: rope_scaling's
    // original_max_position_embeddings when given (the YaRN paper, later transformers); transformers 4.48
    // used max_position_embeddings whatever rope_scaling said.
    const double mpe = c.reproduces_transformers() ? double(r.max_positions)
                                                   : num("original_max_position_embeddings", double(r.max_positions));
    r.attention_factor = static_cast<float>(num("attention_factor", 0.1 * std::log(r.factor) + 1.0));
    auto corr = [&](double rot) { return (rot_dim * std::log(mpe / (rot * 2 * M_PI))) / (2 * std::log(base)); };
    double lo = std::max(std::floor(corr(beta_fast)), 0.0), hi = std::min(std::ceil(corr(beta_slow)), double(rot_dim - 1));
    if (lo == hi) hi += 0.001;
    for (int64_t i = 0; i < half; ++i) {
      const float pos_freq = static_cast<float>(std::pow(base, double(static_cast<float>(2 * i) / rot_dim)));
      const float extra = 1.0f / pos_freq, inter = 1.0f / (static_cast<float>(r.factor) * pos_freq);
      const float ramp = static_cast<float>(std::clamp((double(i) - lo) / (hi - lo), 0.0, 1.0));
      const float extra_factor = 1.0f - ramp;
      r.inv_freq[i] = inter * (1 - extra_factor) + extra * extra_factor;
    }
  } else if (r.type == "longrope" || r.type == "su") {
    r.type = "longrope";
    auto sf = float_list(c, rs, "short_factor", half), lf = float_list(c, rs, "long_factor", half);
    double mpe = r.max_positions, factor = r.factor;
    if (c.has("original_max_position_embeddings")) {
      mpe = double(c.dim("original_max_position_embeddings"));
      factor = double(r.max_positions) / mpe;
    } else if (rs.contains("original_max_position_embeddings")) {
      mpe = num("original_max_position_embeddings", mpe);
    }
    r.original_max_positions = static_cast<int64_t>(mpe);
    if (rs.contains("attention_factor") && rs["attention_factor"].is_number())
      r.attention_factor = rs["attention_factor"].get<float>();
    else
      r.attention_factor = factor <= 1.0 ? 1.0f : static_cast<float>(std::sqrt(1 + std::log(factor) / std::log(mpe)));
    r.long_inv_freq = r.inv_freq;
    for (int64_t i = 0; i < half; ++i) {
      const float p = static_cast<float>(std::pow(base, double(static_cast<float>(2 * i) / rot_dim)));
      r.inv_freq[i] = 1.0f / (sf[i] * p);
      r.long_inv_freq[i] = 1.0f / (lf[i] * p);
    }
  } else {
    fail(ErrorKind::Unsupported, "{}: unsupported rope_scaling type '{}'", c.source(), r.type);
  }
  return r;
}

void Rope::tables(const Tensor& position_ids, Tensor& cos, Tensor& sin) const {
  const int64_t B = position_ids.dim(0), S = position_ids.dim(1), half = dim / 2;
  const int64_t* pp = position_ids.data<int64_t>();
  int64_t max_pos = 0;
  for (int64_t i = 0; i < B * S; ++i) max_pos = std::max(max_pos, pp[i]);
  const std::vector<float>* freq = &inv_freq;
  std::vector<float> dyn;
  if (type == "dynamic" && max_pos + 1 > max_positions) {
    const double seq = double(max_pos + 1);
    const double b = base * std::pow(factor * seq / max_positions - (factor - 1), double(dim) / (dim - 2));
    dyn = default_inv_freq(b, dim);
    freq = &dyn;
  } else if (type == "longrope" && max_pos + 1 > original_max_positions) {
    freq = &long_inv_freq;
  }
  cos = Tensor::empty({B, S, half}, DType::F32);
  sin = Tensor::empty({B, S, half}, DType::F32);
  float* cp = cos.data<float>();
  float* sp = sin.data<float>();
  for (int64_t i = 0; i < B * S; ++i) {
    const float p = static_cast<float>(pp[i]);
    for (int64_t j = 0; j < half; ++j) {
      const float a = (*freq)[j] * p;  // float32 product like torch
      cp[i * half + j] = std::cos(a) * attention_factor;
      sp[i * half + j] = std::sin(a) * attention_factor;
    }
  }
}

// ---- MLP ------------------------------------------------------------------------------------------------

namespace {

Tensor apply_act(const Tensor& x, const std::string& name) {
  if (name == "relu2") return ops::unary(UnaryOp::Square, ops::unary(UnaryOp::Relu, x));
  return ops::activation(x, name);
}

}  // namespace

Tensor Mlp::operator()(const Tensor& x) const {
  if (block) return block(x);
  if (gate_up.defined()) {
    Tensor y = gate_up(x);
    const int64_t I = y.dim(-1) / 2;
    return down(ops::mul(apply_act(y.slice(-1, 0, I), act), y.slice(-1, I, 2 * I)));
  }
  if (gate.defined()) return down(ops::mul(apply_act(gate(x), act), up(x)));
  return down(apply_act(up(x), act));
}

// ---- the model ------------------------------------------------------------------------------------------

TransformerLM::TransformerLM(Spec spec) : s_(std::move(spec)) {
  IA_CHECK(s_.heads > 0 && s_.kv_heads > 0 && s_.heads % s_.kv_heads == 0 && s_.head_dim > 0, ErrorKind::Format,
           "decoder: bad head configuration ({} heads, {} kv heads, head_dim {})", s_.heads, s_.kv_heads, s_.head_dim);
  IA_CHECK(s_.lm_head.defined(), ErrorKind::Format, "decoder: no lm_head");
  IA_CHECK(s_.rope.dim <= s_.head_dim, ErrorKind::Format, "decoder: rotary dim {} exceeds head_dim {}", s_.rope.dim,
           s_.head_dim);
  for (const Layer& L : s_.layers)
    IA_CHECK(!L.cross.defined() || s_.style != BlockStyle::Parallel, ErrorKind::Unsupported,
             "decoder: unsupported cross-attention in a parallel block");
}

Tensor TransformerLM::embed_tokens(const Tensor& input_ids) const {
  const Tensor ids = input_ids.to(Device::cpu()).to(DType::I64).contiguous();
  for (int64_t t : ids.to_vector<int64_t>())
    IA_CHECK(t >= 0 && t < s_.vocab, ErrorKind::InvalidArgument, "token id {} outside the vocabulary [0, {})", t,
             s_.vocab);
  return ops::embedding(s_.embed, ids.to(s_.embed.device()));
}

int64_t TransformerLM::cross_attention_width() const {
  for (const Layer& L : s_.layers)
    if (L.cross.defined()) return L.cross.width;
  return 0;
}

std::unique_ptr<DecoderState> TransformerLM::new_cross_state(const Tensor& encoder_states, const Tensor& encoder_mask,
                                                             int64_t capacity) const {
  const int64_t width = cross_attention_width();
  IA_CHECK(width > 0, ErrorKind::Unsupported, "unsupported: {}/{} has no cross-attention (add_cross_attention)",
           model_type(), hf_class());
  IA_CHECK(encoder_states.ndim() == 3 && encoder_states.dim(2) == width, ErrorKind::InvalidArgument,
           "decoder: encoder states {} for a cross-attention over width {}", encoder_states.describe(), width);
  const int64_t B = encoder_states.dim(0), S = encoder_states.dim(1);
  auto st = std::make_unique<CrossKVCache>(static_cast<int64_t>(s_.layers.size()), B, s_.kv_heads, capacity,
                                           s_.head_dim, s_.head_dim, s_.embed.device());
  const Tensor enc = encoder_states.to(s_.embed.device()).contiguous();
  for (const Layer& L : s_.layers) {
    Tensor k, v;
    if (L.cross.kv.defined()) {
      const Tensor kv = L.cross.kv(enc);
      const int64_t E = kv.dim(2) / 2;
      k = kv.slice(2, 0, E).contiguous();
      v = kv.slice(2, E, 2 * E).contiguous();
    } else if (L.cross.defined()) {
      k = L.cross.k(enc);
      v = L.cross.v(enc);
    }
    st->cross_k.push_back(k.defined() ? layers::split_heads(k, s_.heads) : Tensor());
    st->cross_v.push_back(v.defined() ? layers::split_heads(v, s_.heads) : Tensor());
  }
  if (encoder_mask.defined()) {
    IA_CHECK(encoder_mask.ndim() == 2 && encoder_mask.dim(0) == B && encoder_mask.dim(1) == S,
             ErrorKind::InvalidArgument, "decoder: encoder mask {} for encoder states {}", encoder_mask.describe(),
             encoder_states.describe());
    st->encoder_mask = encoder_mask.to(s_.embed.device());
  }
  return st;
}

Tensor TransformerLM::cross_attention(const Layer& L, int64_t li, const Tensor& x, const CrossKVCache& cache) const {
  AttentionArgs args;
  args.scale = L.cross.scale;
  args.key_mask = cache.encoder_mask;
  const int64_t B = x.dim(0), S = x.dim(1);
  Tensor o = ops::attention(layers::split_heads(L.cross.q(x), s_.heads), cache.cross_k[li], cache.cross_v[li], args);
  return L.cross.o(o.view({B, S, s_.heads * s_.head_dim}));
}

std::unique_ptr<DecoderState> TransformerLM::new_state(int64_t batch, int64_t capacity) const {
  return std::make_unique<KVCache>(static_cast<int64_t>(s_.layers.size()), batch, s_.kv_heads, capacity, s_.head_dim,
                                   s_.head_dim, s_.embed.device());
}

Tensor TransformerLM::default_position_ids(const Tensor& mask) const {
  if (s_.positions == Positions::Arange) return CausalLM::default_position_ids(mask);
  const int64_t B = mask.dim(0), S = mask.dim(1);
  Tensor m = mask.to(DType::I64).contiguous();
  Tensor pos = Tensor::empty({B, S}, DType::I64);
  for (int64_t b = 0; b < B; ++b) {
    int64_t run = 0;
    for (int64_t i = 0; i < S; ++i) {
      const int64_t v = m.data<int64_t>()[b * S + i] != 0;
      run += v;
      pos.data<int64_t>()[b * S + i] = s_.positions == Positions::MaskCumsum ? run * v - 1 : (v ? run - 1 : 1);
    }
  }
  return pos;
}

Tensor TransformerLM::attention(const Layer& L, int64_t li, const Tensor& x, KVCache& cache, const Tensor& mask,
                                const Tensor& cos, const Tensor& sin, const Tensor& alibi, bool hf_cache_compat) const {
  const Attention& A = L.attn;
  const int64_t B = x.dim(0), S = x.dim(1), Hq = s_.heads, Hkv = s_.kv_heads, D = s_.head_dim;
  Tensor q, k, v;  // [B, S, H, D] views
  switch (A.layout) {
    case QkvLayout::Separate: {
      Tensor qf = A.q(x), kf = A.k(x), vf = A.v(x);
      if (A.full_qk_norm) {
        qf = A.q_norm(qf);
        kf = A.k_norm(kf);
      }
      q = qf.view({B, S, Hq, D});
      k = kf.view({B, S, Hkv, D});
      v = vf.view({B, S, Hkv, D});
      break;
    }
    case QkvLayout::Concat: {
      Tensor y = A.qkv(x).view({B, S, Hq + 2 * Hkv, D});
      q = y.slice(2, 0, Hq);
      k = y.slice(2, Hq, Hq + Hkv);
      v = y.slice(2, Hq + Hkv, Hq + 2 * Hkv);
      break;
    }
    case QkvLayout::HeadInterleaved: {
      Tensor y = A.qkv(x).view({B, S, Hq, 3, D});
      q = y.select(3, 0);
      k = y.select(3, 1);
      v = y.select(3, 2);
      break;
    }
    case QkvLayout::Grouped: {
      const int64_t g = Hq / Hkv;
      Tensor y = A.qkv(x).view({B, S, Hkv, g + 2, D});
      q = y.slice(3, 0, g).reshape({B, S, Hq, D});
      k = y.select(3, g);
      v = y.select(3, g + 1);
      break;
    }
    case QkvLayout::CodeGen: {
      constexpr int64_t mp = 4;
      Tensor y = A.qkv(x).view({B, S, mp, 3, Hq / mp, D});
      q = y.select(3, 0).reshape({B, S, Hq, D});
      v = y.select(3, 1).reshape({B, S, Hq, D});
      k = y.select(3, 2).reshape({B, S, Hq, D});
      break;
    }
  }
  if (A.clip_qkv > 0.0f) {
    Tensor lo = Tensor::scalar(-A.clip_qkv), hi = Tensor::scalar(A.clip_qkv);
    auto clamp = [&](const Tensor& t) { return ops::binary(BinaryOp::Min, ops::binary(BinaryOp::Max, t, lo), hi); };
    q = clamp(q);
    k = clamp(k);
    v = clamp(v);
  }
  if (!A.full_qk_norm && A.q_norm.defined()) {
    q = A.q_norm(q);
    k = A.k_norm(k);
  }
  if (s_.rope.dim > 0) {
    q = ops::rotary(q, cos, sin, s_.rope.interleaved);
    k = ops::rotary(k, cos, sin, s_.rope.interleaved);
  }
  const int64_t past = cache.length(), T = past + S;
  ops::kv_write_(cache.keys(li), k, past);
  ops::kv_write_(cache.values(li), v, past);
  AttentionArgs args;
  args.scale = A.scale;
  args.key_mask = mask;
  const int64_t W = A.sliding_window;
  if (hf_cache_compat && s_.hybrid_cache_sliding_mask && W > 0 && S == 1 && past > 0 && T >= W) {
    Tensor m = Tensor::zeros({B, T}, DType::I64);
    const Tensor src = mask.to(Device::cpu()).to(DType::I64).contiguous();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = T - W; j < T; ++j) m.data<int64_t>()[b * T + j] = src.data<int64_t>()[b * T + j - (T - W)];
    args.key_mask = m.to(mask.device());
  }
  args.causal = true;
  args.q_offset = past;
  args.sliding_window = A.sliding_window;
  args.softcap = s_.attn_softcap;
  args.bias = alibi;
  Tensor o = ops::attention(q.transpose(1, 2), cache.keys(li, T), cache.values(li, T), args);  // [B, S, Hq, D]
  return A.o(o.view({B, S, Hq * D}));
}

Tensor TransformerLM::embeddings(const StepInput& in, const Tensor& ids, const Tensor& pos, int64_t past) const {
  const int64_t B = ids.dim(0), S = ids.dim(1);
  const Device dev = s_.embed.device();
  Tensor x;
  if (in.inputs_embeds.defined()) {
    IA_CHECK(in.inputs_embeds.ndim() == 3 && in.inputs_embeds.dim(0) == B && in.inputs_embeds.dim(1) == S &&
                 in.inputs_embeds.dim(2) == s_.embed.dim(1),
             ErrorKind::InvalidArgument, "decoder step: inputs_embeds {} for input_ids [{}, {}] and embedding width {}",
             in.inputs_embeds.describe(), B, S, s_.embed.dim(1));
    x = in.inputs_embeds.to(dev).to(DType::F32);
  } else {
    x = ops::embedding(s_.embed, ids.to(dev));
  }
  if (s_.embed_scale != 1.0f) x = ops::scale(x, s_.embed_scale);
  if (s_.embed_add.defined()) x = ops::add(x, s_.embed_add);
  if (s_.project_in.defined()) x = s_.project_in(x);
  if (s_.pos_table.defined()) {
    Tensor p = Tensor::empty({B, S}, DType::I64);
    const int64_t rows = s_.pos_table.dim(0), pad = s_.positions_from_ids_padding;
    for (int64_t b = 0; b < B; ++b) {
      int64_t run = 0;
      for (int64_t t = 0; t < S; ++t) {
        const int64_t i = b * S + t;
        int64_t r;
        if (pad >= 0) {
          const bool real = ids.data<int64_t>()[i] != pad;
          run += real;
          r = real ? pad + past + run : pad;
        } else {
          r = (s_.positions_from_cache ? past + t : pos.data<int64_t>()[i]) + s_.pos_offset;
        }
        IA_CHECK(r >= 0 && r < rows, ErrorKind::InvalidArgument,
                 "position {} outside the model's position table ({} rows)", r - s_.pos_offset, rows - s_.pos_offset);
        p.data<int64_t>()[i] = r;
      }
    }
    x = ops::add(x, ops::embedding(s_.pos_table, p.to(dev)));
  }
  return x;
}

Tensor TransformerLM::step(DecoderState& state, const StepInput& in) {
  auto* cache = dynamic_cast<KVCache*>(&state);
  IA_CHECK(cache != nullptr, ErrorKind::InvalidArgument, "decoder step: state is not a KV cache");
  const Tensor ids = in.input_ids.to(Device::cpu()).to(DType::I64).contiguous();
  IA_CHECK(ids.ndim() == 2 && ids.dim(0) == cache->batch(), ErrorKind::InvalidArgument,
           "decoder step: input_ids {} for a state of batch {}", ids.describe(), cache->batch());
  const int64_t B = ids.dim(0), S = ids.dim(1), past = cache->length(), T = past + S;
  IA_CHECK(T <= cache->capacity(), ErrorKind::InvalidArgument, "decoder step: {} tokens exceed the state capacity {}",
           T, cache->capacity());
  IA_CHECK(in.attention_mask.defined() && in.attention_mask.ndim() == 2 && in.attention_mask.dim(0) == B &&
               in.attention_mask.dim(1) == T,
           ErrorKind::InvalidArgument, "decoder step: attention_mask must be [{}, {}] (past + new tokens), got {}", B, T,
           in.attention_mask.defined() ? in.attention_mask.describe() : "nothing");
  IA_CHECK(in.position_ids.defined() && in.position_ids.dim(0) == B && in.position_ids.dim(-1) == S,
           ErrorKind::InvalidArgument, "decoder step: position_ids must be [{}, {}]", B, S);
  const Device dev = s_.embed.device();
  const Tensor pos = in.position_ids.to(Device::cpu()).to(DType::I64).contiguous().view({B, S});
  const Tensor mask = in.attention_mask.to(dev);

  Tensor x = embeddings(in, ids, pos, past);
  if (s_.embed_norm.defined()) x = s_.embed_norm(x);

  Tensor cos, sin, alibi;
  if (s_.rope.dim > 0) {
    s_.rope.tables(pos, cos, sin);
    cos = cos.to(dev);
    sin = sin.to(dev);
  }
  if (!s_.alibi_slopes.empty()) {
    alibi = Tensor::empty({1, s_.heads, 1, T}, DType::F32);
    float* ap = alibi.data<float>();
    for (int64_t h = 0; h < s_.heads; ++h)
      for (int64_t j = 0; j < T; ++j) ap[h * T + j] = s_.alibi_slopes[h] * static_cast<float>(j);
    alibi = alibi.to(dev);
  }

  const auto* cross = dynamic_cast<const CrossKVCache*>(cache);
  const float rm = s_.residual_multiplier;
  auto residual = [&](const Tensor& r, const Tensor& y) { return ops::add(r, rm == 1.0f ? y : ops::scale(y, rm)); };
  for (size_t li = 0; li < s_.layers.size(); ++li) {
    if (in.hidden_states) in.hidden_states->push_back(x);
    const Layer& L = s_.layers[li];
    switch (s_.style) {
      case BlockStyle::PreNorm: {
        Tensor h = L.ln_attn(x);
        Tensor a = attention(L, li, h, *cache, mask, cos, sin, alibi, in.hf_cache_compat);
        if (L.post_attn.defined()) a = L.post_attn(a);
        x = residual(s_.residual_from_norm ? h : x, a);
        if (cross && L.cross.defined()) x = ops::add(x, cross_attention(L, li, L.ln_cross(x), *cross));
        h = L.ln_mlp(x);
        Tensor m = L.mlp(h);
        if (L.post_mlp.defined()) m = L.post_mlp(m);
        x = residual(s_.residual_from_norm ? h : x, m);
        break;
      }
      case BlockStyle::Parallel: {
        Tensor h = L.ln_attn(x);
        Tensor a = attention(L, li, h, *cache, mask, cos, sin, alibi, in.hf_cache_compat);
        Tensor m = L.mlp(L.ln_mlp.defined() ? L.ln_mlp(x) : h);
        x = ops::add(ops::add(a, m), x);
        break;
      }
      case BlockStyle::PostNorm: {
        x = L.ln_attn(ops::add(x, attention(L, li, x, *cache, mask, cos, sin, alibi, in.hf_cache_compat)));
        if (cross && L.cross.defined()) x = L.ln_cross(ops::add(x, cross_attention(L, li, x, *cross)));
        x = L.ln_mlp(ops::add(x, L.mlp(x)));
        break;
      }
    }
  }
  cache->advance(S);
  if (in.hidden_states && !s_.final_norm_in_hidden_states) in.hidden_states->push_back(x);
  x = s_.final_norm(x);
  if (s_.project_out.defined()) x = s_.project_out(x);
  if (in.hidden_states && s_.final_norm_in_hidden_states) in.hidden_states->push_back(x);
  if (in.last_logits_only) x = x.slice(1, S - 1, S);
  if (s_.head_dense.defined()) x = s_.head_norm(ops::activation(s_.head_dense(x), s_.head_act));
  Tensor logits = ops::linear(x, s_.lm_head, s_.lm_head_bias);
  if (s_.logit_scale != 1.0f) logits = ops::scale(logits, s_.logit_scale);
  if (s_.final_softcap > 0.0f)
    logits = ops::scale(ops::unary(UnaryOp::Tanh, ops::scale(logits, 1.0f / s_.final_softcap)), s_.final_softcap);
  return logits;
}

}  // namespace ia::decoder
