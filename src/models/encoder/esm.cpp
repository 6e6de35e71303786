// ESM / ESM-2 protein language models (HF modeling_esm.py): pre-LN transformer, rotary or absolute
// positions, token-dropout rescaling of embeddings (applied in eval too), final emb_layer_norm_after.
#include <cmath>

#include "models/encoder/bert.h"

namespace ia::esm {
namespace {

using layers::Embedding;
using layers::LayerNorm;
using layers::Linear;

struct Layer {
  LayerNorm attn_ln, ffn_ln;
  Linear q, k, v, attn_out, inter, out;
  Tensor inv_freq;
};

class Esm : public Model {
 public:
  Esm(const ModelConfig& c, const WeightLoader& root, const std::string& cls) {
    head_ = cls == "EsmModel" ? 0 : cls == "EsmForMaskedLM" ? 1 : cls == "EsmForSequenceClassification" ? 2
          : cls == "EsmForTokenClassification" ? 3 : -1;
    IA_CHECK(head_ >= 0, ErrorKind::Unsupported, "unsupported: esm/{}", cls);
    IA_CHECK(!c.flag_or("is_folding_model", false), ErrorKind::Unsupported, "{}: unsupported is_folding_model=true (ESMFold)",
             c.source());
    vocab_ = c.dim("vocab_size");
    H_ = c.dim("hidden_size");
    heads_ = c.dim("num_attention_heads");
    const int64_t I = c.dim("intermediate_size"), n = c.dim("num_hidden_layers", 0, 1024);
    max_pos_ = c.dim("max_position_embeddings");
    pad_ = c.dim_or("pad_token_id", 1, 0);
    mask_token_ = c.has("mask_token_id") ? c.dim("mask_token_id", 0) : -1;
    token_dropout_ = c.flag_or("token_dropout", false);
    position_type_ = c.str_or("position_embedding_type", "absolute");
    IA_CHECK(position_type_ == "absolute" || position_type_ == "rotary", ErrorKind::Unsupported,
             "{}: unsupported position_embedding_type '{}'", c.source(), position_type_);
    const double eps = c.number_or("layer_norm_eps", 1e-12);
    IA_CHECK(H_ % heads_ == 0, ErrorKind::Format, "{}: hidden_size not divisible by num_attention_heads", c.source());
    const int64_t d = H_ / heads_;
    const WeightLoader w = root.base("esm");
    auto emb = w.pp("embeddings");
    word_ = Embedding::load(emb.pp("word_embeddings"), vocab_, H_);
    if (position_type_ == "absolute") pos_ = Embedding::load(emb.pp("position_embeddings"), max_pos_, H_);
    if (c.flag_or("emb_layer_norm_before", false)) emb_ln_ = LayerNorm::load(emb.pp("layer_norm"), H_, eps);
    for (int64_t i = 0; i < n; ++i) {
      auto l = w.pp("encoder").pp("layer").pp(i);
      auto s = l.pp("attention").pp("self");
      Layer L;
      L.attn_ln = LayerNorm::load(l.pp("attention").pp("LayerNorm"), H_, eps);
      L.q = Linear::load(s.pp("query"), H_, H_);
      L.k = Linear::load(s.pp("key"), H_, H_);
      L.v = Linear::load(s.pp("value"), H_, H_);
      if (position_type_ == "rotary") L.inv_freq = s.pp("rotary_embeddings").get("inv_freq", {d / 2});
      L.attn_out = Linear::load(l.pp("attention").pp("output").pp("dense"), H_, H_);
      L.ffn_ln = LayerNorm::load(l.pp("LayerNorm"), H_, eps);
      L.inter = Linear::load(l.pp("intermediate").pp("dense"), H_, I);
      L.out = Linear::load(l.pp("output").pp("dense"), I, H_);
      layers_.push_back(std::move(L));
    }
    final_ln_ = LayerNorm::load(w.pp("encoder").pp("emb_layer_norm_after"), H_, eps);
    const int64_t labels = bert::num_labels(c);
    if (head_ == 0) pooler_ = Linear::load(w.pp("pooler").pp("dense"), H_, H_);
    if (head_ == 1) {
      auto lm = root.pp("lm_head");
      lm_dense_ = Linear::load(lm.pp("dense"), H_, H_);
      lm_norm_ = LayerNorm::load(lm.pp("layer_norm"), H_, eps);
      if (!c.flag_or("tie_word_embeddings", true)) lm_decoder_ = lm.pp("decoder").get("weight", {vocab_, H_});
      lm_bias_ = lm.get("bias", {vocab_});
    } else if (head_ == 2) {
      cls_dense_ = Linear::load(root.pp("classifier").pp("dense"), H_, H_);
      classifier_ = Linear::load(root.pp("classifier").pp("out_proj"), H_, labels);
    } else if (head_ == 3) {
      classifier_ = Linear::load(root.pp("classifier"), H_, labels);
    }
  }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    const Tensor ids = inputs.at("input_ids").to(DType::I64).contiguous();
    const int64_t B = ids.dim(0), S = ids.dim(1), d = H_ / heads_;
    const Device dev = word_.weight.device();
    Tensor mask = bert::mask_or_ones(inputs, ids).to(DType::I64).contiguous();
    Tensor maskf = mask.to(DType::F32);
    Tensor x = word_(ids.to(dev));
    if (token_dropout_) {
      // Zero <mask> embeddings and rescale by (1 - 0.15 * 0.8) / (1 - observed mask ratio), as HF does in eval.
      std::vector<float> keep(B * S), scale(B);
      const int64_t* ip = ids.data<int64_t>();
      const int64_t* mp = mask.data<int64_t>();
      for (int64_t b = 0; b < B; ++b) {
        int64_t masked = 0, len = 0;
        for (int64_t s = 0; s < S; ++s) {
          const bool is_mask = ip[b * S + s] == mask_token_;
          keep[b * S + s] = is_mask ? 0.0f : 1.0f;
          masked += is_mask;
          len += mp[b * S + s];
        }
        const float observed = static_cast<float>(masked) / static_cast<float>(len);
        scale[b] = (1.0f - 0.15f * 0.8f) / (1.0f - observed);
      }
      x = ops::mul(ops::mul(x, Tensor::from_vector(keep, {B, S, 1}).to(dev)), Tensor::from_vector(scale, {B, 1, 1}).to(dev));
    }
    if (pos_.weight.defined()) {
      x = ops::add(x, pos_(bert::padding_position_ids(ids, pad_).to(dev)));
    }
    if (emb_ln_.weight.defined()) x = emb_ln_(x);
    x = ops::mul(x, maskf.view({B, S, 1}).to(dev));
    AttentionArgs args;
    args.scale = 1.0f;  // ESM scales the queries by head_dim^-0.5 before the rotary embedding
    args.key_mask = mask;
    Tensor cos, sin;
    std::vector<Tensor> hs;
    for (const auto& L : layers_) {
      hs.push_back(x);
      Tensor h = L.attn_ln(x);
      Tensor q = layers::split_heads(ops::scale(L.q(h), 1.0f / std::sqrt(static_cast<float>(d))), heads_);
      Tensor k = layers::split_heads(L.k(h), heads_);
      if (L.inv_freq.defined()) {
        if (!cos.defined()) rotary_tables(L.inv_freq, S, cos, sin);
        q = layers::apply_rotary(q, cos, sin, false);
        k = layers::apply_rotary(k, cos, sin, false);
      }
      Tensor ctx = layers::merge_heads(ops::attention(q, k, layers::split_heads(L.v(h), heads_), args));
      Tensor a = ops::add(L.attn_out(ctx), x);
      x = ops::add(L.out(ops::activation(L.inter(L.ffn_ln(a)), "gelu")), a);
    }
    x = final_ln_(x);
    hs.push_back(x);
    NamedTensors out;
    switch (head_) {
      case 0:
        out.emplace_back("last_hidden_state", x);
        out.emplace_back("pooler_output", ops::unary(UnaryOp::Tanh, pooler_(x.select(1, 0))));
        break;
      case 1: {
        Tensor t = lm_norm_(ops::activation(lm_dense_(x), "gelu"));
        out.emplace_back("logits", ops::linear(t, lm_decoder_.defined() ? lm_decoder_ : word_.weight, lm_bias_));
        break;
      }
      case 2:
        out.emplace_back("logits", classifier_(ops::unary(UnaryOp::Tanh, cls_dense_(x.select(1, 0)))));
        break;
      default: out.emplace_back("logits", classifier_(x));
    }
    if (head_ != 0) out.emplace_back("base.last_hidden_state", x);
    if (opts.output_hidden_states) bert::append_hidden_states(out, hs);
    return out;
  }

 private:
  // cos/sin [S, d/2] of t * inv_freq, t = 0..S-1 (computed in f32 like torch).
  static void rotary_tables(const Tensor& inv_freq, int64_t S, Tensor& cos, Tensor& sin) {
    auto f = inv_freq.to_vector<float>();
    const int64_t half = static_cast<int64_t>(f.size());
    std::vector<float> c(S * half), s(S * half);
    for (int64_t t = 0; t < S; ++t)
      for (int64_t i = 0; i < half; ++i) {
        const float a = static_cast<float>(t) * f[i];
        c[t * half + i] = std::cos(a);
        s[t * half + i] = std::sin(a);
      }
    cos = Tensor::from_vector(c, {S, half}).to(inv_freq.device());
    sin = Tensor::from_vector(s, {S, half}).to(inv_freq.device());
  }

  int head_ = 0;
  int64_t vocab_ = 0, H_ = 0, heads_ = 0, max_pos_ = 0, pad_ = 1, mask_token_ = -1;
  bool token_dropout_ = false;
  std::string position_type_;
  Embedding word_, pos_;
  LayerNorm emb_ln_, final_ln_, lm_norm_;
  Linear pooler_, lm_dense_, cls_dense_, classifier_;
  Tensor lm_decoder_, lm_bias_;
  std::vector<Layer> layers_;
};

}  // namespace
}  // namespace ia::esm

IA_REGISTER_MODEL(esm, {"esm", "encoder-only",
                        {"EsmModel", "EsmForMaskedLM", "EsmForSequenceClassification", "EsmForTokenClassification"},
                        [](const ia::ModelConfig& c, const ia::WeightLoader& w, const std::string& cls) {
                          return std::unique_ptr<ia::Model>(new ia::esm::Esm(c, w, cls));
                        }})
