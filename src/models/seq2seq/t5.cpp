// T5, mT5 and UMT5 (HF modeling_t5.py / modeling_mt5.py / modeling_umt5.py): pre-norm stacks with RMS-style
// T5LayerNorm, unscaled attention plus a bucketed relative position bias (computed by the first layer and shared
// in T5/mT5; owned by every layer in UMT5), ReLU or gated-GELU feed-forward, tied or untied LM head.
#include "models/seq2seq/t5.h"

#include <cmath>

namespace ia::t5 {

using layers::Embedding;
using layers::Linear;
using layers::RMSNorm;

T5Config T5Config::from(const ModelConfig& c) {
  T5Config t;
  t.vocab_size = c.dim("vocab_size");
  t.d_model = c.dim("d_model");
  t.d_kv = c.dim("d_kv");
  t.d_ff = c.dim("d_ff");
  t.num_heads = c.dim("num_heads");
  t.num_layers = c.dim("num_layers", 1, 1024);
  t.num_decoder_layers = c.dim_or("num_decoder_layers", t.num_layers, 1, 1024);
  t.num_buckets = c.dim_or("relative_attention_num_buckets", 32, 2);
  t.max_distance = c.dim_or("relative_attention_max_distance", 128, 1);
  t.eps = c.number_or("layer_norm_epsilon", 1e-6);
  // T5Config.__init__: feed_forward_proj is "<act>" or "gated-<act>"; "gated-gelu" means gelu_new. Explicit
  // dense_act_fn / is_gated_act fields (saved by HF) win, as PretrainedConfig sets them after __init__.
  // Class defaults where a config omits a field: MT5Config/UMT5Config use gated-gelu, MT5Config an untied head.
  const std::string type = c.model_type();
  const bool mt5 = type == "mt5", umt5 = type == "umt5";
  const std::string ffp = c.str_or("feed_forward_proj", mt5 || umt5 ? "gated-gelu" : "relu");
  const auto dash = ffp.find('-');
  IA_CHECK(dash == std::string::npos || (ffp.substr(0, dash) == "gated" && ffp.find('-', dash + 1) == std::string::npos),
           ErrorKind::Format, "{}: feed_forward_proj '{}' is not '<act>' or 'gated-<act>'", c.source(), ffp);
  t.gated = dash != std::string::npos;
  t.act = ffp == "gated-gelu" ? "gelu_new" : ffp.substr(dash == std::string::npos ? 0 : dash + 1);
  if (c.has("dense_act_fn")) t.act = c.str("dense_act_fn");
  t.gated = c.flag_or("is_gated_act", t.gated);
  ops::activation_op(t.act);
  t.tied = c.flag_or("tie_word_embeddings", !mt5);
  t.pad_token_id = c.dim_or("pad_token_id", 0, 0);
  t.decoder_start_token_id = c.dim_or("decoder_start_token_id", t.pad_token_id, 0);
  if (type == "switch_transformers") {
    // SwitchTransformersConfig: step = num_layers // num_sparse_layers (num_layers when none); saved values win.
    t.ff_module = "mlp";
    t.gated = false;  // SwitchTransformersLayerFF always uses DenseActDense (wi, wo)
    const int64_t se = c.dim_or("num_sparse_encoder_layers", 3, 0, t.num_layers);
    const int64_t sd = c.dim_or("num_sparse_decoder_layers", 3, 0, t.num_decoder_layers);
    t.encoder_sparse_step = c.dim_or("encoder_sparse_step", se > 0 ? t.num_layers / se : t.num_layers, 0);
    t.decoder_sparse_step = c.dim_or("decoder_sparse_step", sd > 0 ? t.num_decoder_layers / sd : t.num_decoder_layers, 0);
  }
  return t;
}

int64_t relative_position_bucket(int64_t relative_position, bool bidirectional, int64_t num_buckets,
                                 int64_t max_distance) {
  int64_t ret = 0;
  int64_t n = relative_position;
  if (bidirectional) {
    num_buckets /= 2;
    if (n > 0) ret += num_buckets;
    n = std::llabs(n);
  } else {
    n = -std::min<int64_t>(n, 0);
  }
  const int64_t max_exact = num_buckets / 2;
  if (n < max_exact) return ret + n;
  float v = std::log(static_cast<float>(n) / static_cast<float>(max_exact)) /
            static_cast<float>(std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)));
  v *= static_cast<float>(num_buckets - max_exact);
  const int64_t large = std::min<int64_t>(max_exact + static_cast<int64_t>(v), num_buckets - 1);
  return ret + large;
}

T5Attention T5Attention::load(const T5Config& c, const WeightLoader& w, bool with_bias) {
  const int64_t inner = c.num_heads * c.d_kv;
  T5Attention a;
  a.q = Linear::load(w.pp("q"), c.d_model, inner, false);
  a.k = Linear::load(w.pp("k"), c.d_model, inner, false);
  a.v = Linear::load(w.pp("v"), c.d_model, inner, false);
  a.o = Linear::load(w.pp("o"), inner, c.d_model, false);
  if (with_bias) a.relative_attention_bias = Embedding::load(w.pp("relative_attention_bias"), c.num_buckets, c.num_heads);
  return a;
}

Tensor T5Attention::position_bias(const T5Config& c, int64_t q0, int64_t Tq, int64_t Tk, bool bidirectional) const {
  Tensor buckets = Tensor::empty({Tq, Tk}, DType::I64);
  int64_t* p = buckets.data<int64_t>();
  for (int64_t i = 0; i < Tq; ++i)
    for (int64_t j = 0; j < Tk; ++j)
      p[i * Tk + j] = relative_position_bucket(j - (q0 + i), bidirectional, c.num_buckets, c.max_distance);
  const Tensor& table = relative_attention_bias.weight;
  return relative_attention_bias(buckets.to(table.device())).permute({2, 0, 1}).contiguous().view({1, c.num_heads, Tq, Tk});
}

T5DenseActDense T5DenseActDense::load(const T5Config& c, const WeightLoader& w) {
  T5DenseActDense f;
  if (c.gated) {
    f.wi_0 = Linear::load(w.pp("wi_0"), c.d_model, c.d_ff, false);
    f.wi_1 = Linear::load(w.pp("wi_1"), c.d_model, c.d_ff, false);
  } else {
    f.wi = Linear::load(w.pp("wi"), c.d_model, c.d_ff, false);
  }
  f.wo = Linear::load(w.pp("wo"), c.d_ff, c.d_model, false);
  f.act = c.act;
  return f;
}

Tensor T5DenseActDense::operator()(const Tensor& x) const {
  if (wi.defined()) return wo(ops::activation(wi(x), act));
  return wo(ops::mul(ops::activation(wi_0(x), act), wi_1(x)));
}

namespace {

T5Block load_block(const T5Config& c, const WeightLoader& w, bool decoder, int64_t index) {
  T5Block b;
  const bool with_bias = index == 0 || c.bias_every_layer;
  b.self_attn = T5Attention::load(c, w.pp("layer").pp(0).pp("SelfAttention"), with_bias);
  b.self_norm = RMSNorm::load(w.pp("layer").pp(0).pp("layer_norm"), c.d_model, c.eps);
  int64_t ff = 1;
  if (decoder) {
    b.cross_attn = T5Attention::load(c, w.pp("layer").pp(1).pp("EncDecAttention"), false);
    b.cross_norm = RMSNorm::load(w.pp("layer").pp(1).pp("layer_norm"), c.d_model, c.eps);
    ff = 2;
  }
  if (!c.is_sparse(decoder, index)) b.ff = T5DenseActDense::load(c, w.pp("layer").pp(ff).pp(c.ff_module));
  b.ff_norm = RMSNorm::load(w.pp("layer").pp(ff).pp("layer_norm"), c.d_model, c.eps);
  return b;
}

}  // namespace

T5Model::T5Model(const ModelConfig& c, const WeightLoader& w, const std::string& hf_class) {
  cfg_ = T5Config::from(c);
  cfg_.bias_every_layer = c.model_type() == "umt5";
  with_head_ = hf_class.find("ForConditionalGeneration") != std::string::npos;
  default_decoder_start_ = cfg_.decoder_start_token_id;
  shared_ = Embedding::load(w.pp("shared"), cfg_.vocab_size, cfg_.d_model);
  for (int64_t i = 0; i < cfg_.num_layers; ++i)
    encoder_.push_back(load_block(cfg_, w.pp("encoder").pp("block").pp(i), false, i));
  for (int64_t i = 0; i < cfg_.num_decoder_layers; ++i)
    decoder_.push_back(load_block(cfg_, w.pp("decoder").pp("block").pp(i), true, i));
  encoder_final_norm_ = RMSNorm::load(w.pp("encoder").pp("final_layer_norm"), cfg_.d_model, cfg_.eps);
  decoder_final_norm_ = RMSNorm::load(w.pp("decoder").pp("final_layer_norm"), cfg_.d_model, cfg_.eps);
  if (with_head_ && !cfg_.tied) lm_head_ = w.pp("lm_head").get("weight", {cfg_.vocab_size, cfg_.d_model});
}

Tensor T5Model::feed_forward(bool decoder, int64_t layer, const Tensor& x) {
  const T5Block& b = decoder ? decoder_[layer] : encoder_[layer];
  return ops::add(x, b.ff(b.ff_norm(x)));
}

Tensor T5Model::encode(const Tensor& input_ids, const Tensor& attention_mask, std::vector<Tensor>* hidden_states) {
  const Device dev = shared_.weight.device();
  const int64_t S = input_ids.dim(1), H = cfg_.num_heads;
  Tensor x = shared_(input_ids.to(dev));
  AttentionArgs args;  // T5 does not scale scores
  if (attention_mask.defined()) args.key_mask = attention_mask.to(dev);
  for (size_t i = 0; i < encoder_.size(); ++i) {
    const T5Block& b = encoder_[i];
    if (hidden_states) hidden_states->push_back(x);
    if (b.self_attn.relative_attention_bias.weight.defined())
      args.bias = b.self_attn.position_bias(cfg_, 0, S, S, /*bidirectional=*/true);
    const Tensor n = b.self_norm(x);
    const Tensor ctx = seq2seq::attend(b.self_attn.q(n), layers::split_heads(b.self_attn.k(n), H),
                                       layers::split_heads(b.self_attn.v(n), H), H, args);
    x = feed_forward(false, static_cast<int64_t>(i), ops::add(x, b.self_attn.o(ctx)));
  }
  x = encoder_final_norm_(x);
  if (hidden_states) hidden_states->push_back(x);
  return x;
}

std::unique_ptr<seq2seq::DecoderState> T5Model::new_state(const Tensor& encoder_out, const Tensor& encoder_mask,
                                                          int64_t capacity) {
  const Device dev = shared_.weight.device();
  const int64_t H = cfg_.num_heads;
  auto st = std::make_unique<seq2seq::DecoderState>(static_cast<int64_t>(decoder_.size()), encoder_out.dim(0),
                                                    capacity, H, cfg_.d_kv, dev);
  for (const T5Block& b : decoder_) {
    st->cross_k.push_back(layers::split_heads(b.cross_attn.k(encoder_out), H));
    st->cross_v.push_back(layers::split_heads(b.cross_attn.v(encoder_out), H));
  }
  if (encoder_mask.defined()) st->encoder_mask = encoder_mask.to(dev);
  return st;
}

Tensor T5Model::decode(seq2seq::DecoderState& st, const seq2seq::DecodeInput& in) {
  const Device dev = shared_.weight.device();
  const int64_t T = in.input_ids.dim(1), H = cfg_.num_heads, q0 = st.length();
  Tensor x = shared_(in.input_ids.to(dev));
  AttentionArgs self_args;
  self_args.causal = true;
  self_args.q_offset = q0;
  if (in.attention_mask.defined()) self_args.key_mask = in.attention_mask.to(dev);
  AttentionArgs cross_args;
  cross_args.key_mask = st.encoder_mask;
  for (size_t i = 0; i < decoder_.size(); ++i) {
    const T5Block& b = decoder_[i];
    if (in.hidden_states) in.hidden_states->push_back(x);
    Tensor n = b.self_norm(x);
    auto [k, v] = st.append(static_cast<int64_t>(i), b.self_attn.k(n), b.self_attn.v(n));
    if (b.self_attn.relative_attention_bias.weight.defined())
      self_args.bias = b.self_attn.position_bias(cfg_, q0, T, q0 + T, /*bidirectional=*/false);
    x = ops::add(x, b.self_attn.o(seq2seq::attend(b.self_attn.q(n), k, v, H, self_args)));
    n = b.cross_norm(x);
    x = ops::add(x, b.cross_attn.o(seq2seq::attend(b.cross_attn.q(n), st.cross_k[i], st.cross_v[i], H, cross_args)));
    x = feed_forward(true, static_cast<int64_t>(i), x);
  }
  st.advance(T);
  x = decoder_final_norm_(x);
  if (in.hidden_states) in.hidden_states->push_back(x);
  return x;
}

Tensor T5Model::lm_logits(const Tensor& h) const {
  if (!with_head_) return Tensor();
  if (lm_head_.defined()) return ops::linear(h, lm_head_);
  return ops::linear(ops::scale(h, static_cast<float>(std::pow(static_cast<double>(cfg_.d_model), -0.5))),
                     shared_.weight);
}

}  // namespace ia::t5

namespace {
std::unique_ptr<ia::Model> make_t5(const ia::ModelConfig& c, const ia::WeightLoader& w, const std::string& cls) {
  return std::make_unique<ia::t5::T5Model>(c, w, cls);
}
}  // namespace

IA_REGISTER_MODEL(t5, {"t5", "encoder-decoder", {"T5ForConditionalGeneration", "T5Model"}, make_t5})
IA_REGISTER_MODEL(mt5, {"mt5", "encoder-decoder", {"MT5ForConditionalGeneration", "MT5Model"}, make_t5})
IA_REGISTER_MODEL(umt5, {"umt5", "encoder-decoder", {"UMT5ForConditionalGeneration", "UMT5Model"}, make_t5})
