#include "models/moe/moe.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace ia::moe {

namespace {

// torch.softmax over n floats (max-subtracted, f32).
void softmax_inplace(float* v, int64_t n) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) m = std::max(m, v[i]);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    v[i] = std::exp(v[i] - m);
    sum += v[i];
  }
  for (int64_t i = 0; i < n; ++i) v[i] /= sum;
}

// Indices of the k largest values, largest first (ties: lower index first), like torch.topk.
std::vector<int64_t> top_k_indices(const float* v, int64_t n, int64_t k) {
  std::vector<int64_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int64_t a, int64_t b) {
    return v[a] > v[b] || (v[a] == v[b] && a < b);
  });
  idx.resize(k);
  return idx;
}

int64_t first_argmax(const float* v, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (v[i] > v[best]) best = i;
  return best;
}

// One sparsemixer stage (modeling_phimoe.py, eval): the expert with the largest `masked` score, and its
// multiplier softmax(masked with every expert whose relative gap to that score, measured on the original
// `scores`, exceeds 2 * jitter_eps set to -inf)[expert].
std::pair<int64_t, float> sparsemixer_stage(const float* scores, const std::vector<float>& masked, float two_eps) {
  const int64_t n = static_cast<int64_t>(masked.size());
  const int64_t sel = first_argmax(masked.data(), n);
  const float thr = masked[sel];
  std::vector<float> gates(masked);
  for (int64_t i = 0; i < n; ++i) {
    const float factor = std::max(std::fabs(scores[i]), thr);
    if ((thr - scores[i]) / factor > two_eps) gates[i] = -std::numeric_limits<float>::infinity();
  }
  softmax_inplace(gates.data(), n);
  return {sel, gates[sel]};
}

}  // namespace

Routing Router::route(const Tensor& logits) const {
  IA_CHECK(logits.ndim() == 2 && logits.dim(1) == experts, ErrorKind::InvalidArgument,
           "moe router: logits {} for {} experts", logits.describe(), experts);
  const Tensor l = logits.to(Device::cpu()).to(DType::F32).contiguous();
  Routing r;
  r.tokens = l.dim(0);
  r.k = top_k;
  r.experts.resize(r.tokens * r.k);
  r.weights.resize(r.tokens * r.k);
  const int64_t E = experts, K = top_k;
  for (int64_t t = 0; t < r.tokens; ++t) {
    const float* row = l.data<float>() + t * E;
    int64_t* ex = r.experts.data() + t * K;
    float* w = r.weights.data() + t * K;
    switch (kind) {
      case RouterKind::SoftmaxTopK: {
        std::vector<float> p(row, row + E);
        softmax_inplace(p.data(), E);
        auto idx = top_k_indices(p.data(), E, K);
        float norm = 1.0f;
        if (norm_p > 0.0f) {
          float s = 0.0f;
          for (int64_t j = 0; j < K; ++j) s += norm_p == 1.0f ? std::fabs(p[idx[j]]) : std::pow(std::fabs(p[idx[j]]), norm_p);
          norm = norm_p == 1.0f ? s : std::pow(s, 1.0f / norm_p);
        }
        for (int64_t j = 0; j < K; ++j) {
          ex[j] = idx[j];
          w[j] = norm_p > 0.0f ? p[idx[j]] / norm : p[idx[j]];
        }
        break;
      }
      case RouterKind::TopKSoftmax: {
        auto idx = top_k_indices(row, E, K);
        for (int64_t j = 0; j < K; ++j) {
          ex[j] = idx[j];
          w[j] = row[idx[j]];
        }
        softmax_inplace(w, K);
        break;
      }
      case RouterKind::SparseMixer: {
        std::vector<float> masked(row, row + E);
        auto [e1, w1] = sparsemixer_stage(row, masked, 2.0f * jitter_eps);
        masked[e1] = -std::numeric_limits<float>::infinity();
        auto [e2, w2] = sparsemixer_stage(row, masked, 2.0f * jitter_eps);
        ex[0] = e1, w[0] = w1, ex[1] = e2, w[1] = w2;
        break;
      }
    }
  }
  return r;
}

Tensor Experts::operator()(const Tensor& x, const Routing& r) const {
  const int64_t T = x.dim(0), H = x.dim(1), K = r.k, E = static_cast<int64_t>(experts.size());
  IA_CHECK(r.tokens == T, ErrorKind::InvalidArgument, "moe experts: routing for {} tokens, input {}", r.tokens,
           x.describe());
  const Device dev = x.device();
  // Dispatch: bucket the (token, choice) pairs by expert, then run each expert's linears over its rows only.
  // pos[t * K + j] is where token t's j-th choice lands in the concatenated expert outputs.
  std::vector<std::vector<int64_t>> rows(E);
  std::vector<std::vector<float>> wts(E);
  std::vector<int64_t> slot(T * K);
  for (int64_t i = 0; i < T * K; ++i) {
    const int64_t e = r.experts[i];
    IA_CHECK(e >= 0 && e < E, ErrorKind::InvalidArgument, "moe experts: routed expert {} outside [0, {})", e, E);
    slot[i] = static_cast<int64_t>(rows[e].size());
    rows[e].push_back(i / K);
    wts[e].push_back(r.weights[i]);
  }
  std::vector<int64_t> first(E, 0);
  std::vector<Tensor> outs;
  int64_t offset = 0;
  for (int64_t e = 0; e < E; ++e) {
    first[e] = offset;
    if (rows[e].empty()) continue;
    const int64_t n = static_cast<int64_t>(rows[e].size());
    const Expert& ex = experts[e];
    Tensor xe = ops::index_select(x, Tensor::from_vector<int64_t>(rows[e], {n}).to(dev));
    Tensor h;
    if (ex.gate_up.defined()) {
      Tensor y = ex.gate_up(xe);
      const int64_t I = y.dim(-1) / 2;
      h = ops::mul(ops::activation(y.slice(-1, 0, I), act), y.slice(-1, I, 2 * I));
    } else {
      h = ops::mul(ops::activation(ex.gate(xe), act), ex.up(xe));
    }
    outs.push_back(ops::mul(ex.down(h), Tensor::from_vector<float>(wts[e], {n, 1}).to(dev)));
    offset += n;
  }
  std::vector<int64_t> pos(T * K);
  for (int64_t i = 0; i < T * K; ++i) pos[i] = first[r.experts[i]] + slot[i];
  // Combine: per token, sum its K expert outputs in expert order (HF's index_add_ loop over experts).
  std::vector<int64_t> order(T * K);
  for (int64_t t = 0; t < T; ++t) {
    std::vector<int64_t> slots(K);
    std::iota(slots.begin(), slots.end(), 0);
    std::sort(slots.begin(), slots.end(),
              [&](int64_t a, int64_t b) { return r.experts[t * K + a] < r.experts[t * K + b]; });
    for (int64_t j = 0; j < K; ++j) order[t * K + j] = pos[t * K + slots[j]];
  }
  Tensor all = outs.size() == 1 ? outs[0] : ops::concat(outs, 0);
  Tensor z = ops::index_select(all, Tensor::from_vector<int64_t>(order, {T * K}).to(dev)).view({T, K, H});
  Tensor out = z.select(1, 0);
  for (int64_t j = 1; j < K; ++j) out = ops::add(out, z.select(1, j));
  return out.contiguous();
}

Tensor MoeBlock::operator()(const Tensor& x) const {
  const Shape shape = x.shape();
  const int64_t H = shape.back();
  Tensor x2 = x.reshape({-1, H});
  Tensor logits = router.gate(x2);  // [T, E]
  Routing r = router.route(logits);
  if (log && log->on) {
    if (router.record_probs) {
      Tensor p = logits.to(Device::cpu()).to(DType::F32).contiguous().clone();
      for (int64_t t = 0; t < p.dim(0); ++t) softmax_inplace(p.data<float>() + t * router.experts, router.experts);
      log->logits.push_back(p);
    } else {
      log->logits.push_back(logits);
    }
  }
  Tensor out = experts(x2, r);
  if (shared.down.defined()) out = ops::add(out, ops::mul(ops::unary(UnaryOp::Sigmoid, shared_gate(x2)), shared(x2)));
  return out.view(shape);
}

MoeLM::MoeLM(decoder::Spec spec, std::shared_ptr<RouterLog> log)
    : decoder::TransformerLM(std::move(spec)), log_(std::move(log)) {}

NamedTensors MoeLM::forward(const TensorMap& inputs, const ForwardOptions& opts) {
  log_->logits.clear();
  log_->on = true;
  NamedTensors out;
  try {
    out = decoder::TransformerLM::forward(inputs, opts);
  } catch (...) {
    log_->on = false;
    throw;
  }
  log_->on = false;
  for (size_t i = 0; i < log_->logits.size(); ++i)
    out.emplace_back("router_logits." + std::to_string(i), log_->logits[i]);
  log_->logits.clear();
  return out;
}

void set_block(decoder::Layer& layer, MoeBlock block) {
  auto b = std::make_shared<MoeBlock>(std::move(block));
  layer.mlp.block = [b](const Tensor& x) { return (*b)(x); };
}

Expert load_expert(const WeightLoader& w, int64_t hidden, int64_t inter, const std::string& gate,
                   const std::string& up, const std::string& down) {
  Expert e;
  e.gate = layers::Linear::load(w.pp(gate), hidden, inter, false);
  e.up = layers::Linear::load(w.pp(up), hidden, inter, false);
  e.down = layers::Linear::load(w.pp(down), inter, hidden, false);
  return e;
}

decoder::Spec llama_style(const ModelConfig& c, const WeightLoader& root, const LlamaStyle& o) {
  using decoder::Norm;
  decoder::Spec s;
  s.vocab = c.dim("vocab_size");
  s.hidden = c.dim("hidden_size");
  s.heads = c.dim("num_attention_heads");
  s.kv_heads = decoder::kv_heads_of(c, s.heads);
  s.head_dim = c.has("head_dim") ? c.dim("head_dim") : s.hidden / s.heads;
  const int64_t H = s.hidden, D = s.head_dim, L = c.dim("num_hidden_layers", 0, 4096);
  const double eps = c.number_or("rms_norm_eps", 1e-6);
  s.rope = decoder::Rope::from_config(c, D, false, c.number_or("rope_theta", 10000.0));
  auto norm = [&](const WeightLoader& w, int64_t dim) {
    return o.layer_norm ? Norm::layer(w, dim, eps) : Norm::rms(w, dim, eps);
  };
  WeightLoader w = root.base("model");
  s.embed = w.pp("embed_tokens").get_native("weight", {s.vocab, H});
  for (int64_t i = 0; i < L; ++i) {
    auto l = w.pp("layers").pp(i);
    auto a = l.pp("self_attn");
    decoder::Layer layer;
    layer.ln_attn = norm(l.pp("input_layernorm"), H);
    layer.ln_mlp = norm(l.pp("post_attention_layernorm"), H);
    decoder::Attention& at = layer.attn;
    at.q = layers::Linear::load(a.pp("q_proj"), H, s.heads * D, o.qkv_bias);
    at.k = layers::Linear::load(a.pp("k_proj"), H, s.kv_heads * D, o.qkv_bias);
    at.v = layers::Linear::load(a.pp("v_proj"), H, s.kv_heads * D, o.qkv_bias);
    at.o = layers::Linear::load(a.pp("o_proj"), s.heads * D, H, o.o_bias);
    if (o.qk_norm) {
      at.full_qk_norm = true;
      at.q_norm = Norm::rms(a.pp("q_norm"), s.heads * D, eps);
      at.k_norm = Norm::rms(a.pp("k_norm"), s.kv_heads * D, eps);
    }
    at.clip_qkv = o.clip_qkv;
    at.scale = o.scale > 0.0f ? o.scale : 1.0f / std::sqrt(static_cast<float>(D));
    if (!o.sliding_window.empty()) at.sliding_window = o.sliding_window[i];
    s.layers.push_back(std::move(layer));
  }
  s.final_norm = norm(w.pp("norm"), H);
  decoder::load_lm_head(s, c, root, false, "lm_head", o.lm_head_bias);
  return s;
}

}  // namespace ia::moe
