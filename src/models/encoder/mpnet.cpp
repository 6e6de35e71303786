// MPNet (HF modeling_mpnet.py): RoBERTa-style embeddings and a BERT-like encoder whose attention adds a
// shared T5-style bucketed relative position bias.
#include <cmath>

#include "models/encoder/bert.h"

namespace ia::mpnet {
namespace {

using layers::Embedding;
using layers::LayerNorm;
using layers::Linear;

// HF MPNet relative_position_bucket (bidirectional, float32 log like torch).
int64_t relative_bucket(int64_t relative_position, int64_t num_buckets, int64_t max_distance) {
  int64_t ret = 0;
  int64_t n = -relative_position;
  num_buckets /= 2;
  if (n < 0) ret += num_buckets;
  n = std::llabs(n);
  const int64_t max_exact = num_buckets / 2;
  if (n < max_exact) return ret + n;
  const float v = std::log(static_cast<float>(n) / static_cast<float>(max_exact)) /
                  static_cast<float>(std::log(static_cast<double>(max_distance) / max_exact)) *
                  static_cast<float>(num_buckets - max_exact);
  int64_t large = max_exact + static_cast<int64_t>(v);
  large = std::min(large, num_buckets - 1);
  return ret + large;
}

struct Layer {
  Linear q, k, v, o, inter, out;
  LayerNorm attn_norm, out_norm;
};

class MPNet : public Model {
 public:
  MPNet(const ModelConfig& c, const WeightLoader& root, const std::string& cls) {
    head_ = cls == "MPNetModel" ? 0 : cls == "MPNetForMaskedLM" ? 1 : cls == "MPNetForSequenceClassification" ? 2
          : cls == "MPNetForTokenClassification" ? 3 : cls == "MPNetForQuestionAnswering" ? 4 : -1;
    IA_CHECK(head_ >= 0, ErrorKind::Unsupported, "unsupported: mpnet/{}", cls);
    vocab_ = c.dim("vocab_size");
    H_ = c.dim("hidden_size");
    heads_ = c.dim("num_attention_heads");
    const int64_t I = c.dim("intermediate_size"), n = c.dim("num_hidden_layers", 0, 1024);
    max_pos_ = c.dim("max_position_embeddings");
    pad_ = c.dim_or("pad_token_id", 1, 0);
    buckets_ = c.dim_or("relative_attention_num_buckets", 32, 1);
    act_ = c.str_or("hidden_act", "gelu");
    ops::activation_op(act_);
    const double eps = c.number_or("layer_norm_eps", 1e-12);
    IA_CHECK(H_ % heads_ == 0, ErrorKind::Format, "{}: hidden_size not divisible by num_attention_heads", c.source());
    const WeightLoader w = root.base("mpnet");
    word_ = Embedding::load(w.pp("embeddings").pp("word_embeddings"), vocab_, H_);
    pos_ = Embedding::load(w.pp("embeddings").pp("position_embeddings"), max_pos_, H_);
    emb_norm_ = LayerNorm::load(w.pp("embeddings").pp("LayerNorm"), H_, eps);
    rel_bias_ = Embedding::load(w.pp("encoder").pp("relative_attention_bias"), buckets_, heads_);
    for (int64_t i = 0; i < n; ++i) {
      auto l = w.pp("encoder").pp("layer").pp(i);
      auto a = l.pp("attention");
      Layer L;
      L.q = Linear::load(a.pp("attn").pp("q"), H_, H_);
      L.k = Linear::load(a.pp("attn").pp("k"), H_, H_);
      L.v = Linear::load(a.pp("attn").pp("v"), H_, H_);
      L.o = Linear::load(a.pp("attn").pp("o"), H_, H_);
      L.attn_norm = LayerNorm::load(a.pp("LayerNorm"), H_, eps);
      L.inter = Linear::load(l.pp("intermediate").pp("dense"), H_, I);
      L.out = Linear::load(l.pp("output").pp("dense"), I, H_);
      L.out_norm = LayerNorm::load(l.pp("output").pp("LayerNorm"), H_, eps);
      layers_.push_back(std::move(L));
    }
    const int64_t labels = bert::num_labels(c);
    if (head_ == 0) pooler_ = Linear::load(w.pp("pooler").pp("dense"), H_, H_);
    if (head_ == 1) {
      auto lm = root.pp("lm_head");
      lm_dense_ = Linear::load(lm.pp("dense"), H_, H_);
      lm_norm_ = LayerNorm::load(lm.pp("layer_norm"), H_, eps);
      if (!c.flag_or("tie_word_embeddings", true)) lm_decoder_ = lm.pp("decoder").get("weight", {vocab_, H_});
      lm_bias_ = lm.has("bias") ? lm.get("bias", {vocab_}) : lm.pp("decoder").get("bias", {vocab_});
    } else if (head_ == 2) {
      cls_dense_ = Linear::load(root.pp("classifier").pp("dense"), H_, H_);
      classifier_ = Linear::load(root.pp("classifier").pp("out_proj"), H_, labels);
    } else if (head_ == 3) {
      classifier_ = Linear::load(root.pp("classifier"), H_, labels);
    } else if (head_ == 4) {
      classifier_ = Linear::load(root.pp("qa_outputs"), H_, 2);
    }
  }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    const Tensor ids = inputs.at("input_ids").to(DType::I64).contiguous();
    const int64_t S = ids.dim(1);
    const Device dev = word_.weight.device();
    Tensor mask = bert::mask_or_ones(inputs, ids);
    Tensor pos;
    if (inputs.count("position_ids")) {
      pos = inputs.at("position_ids").to(DType::I64);
    } else {
      pos = bert::padding_position_ids(ids, pad_);
    }
    for (int64_t p : pos.to_vector<int64_t>())
      IA_CHECK(p >= 0 && p < max_pos_, ErrorKind::InvalidArgument,
               "position id {} out of range for max_position_embeddings {} (sequence length {})", p, max_pos_, S);
    Tensor x = emb_norm_(ops::add(word_(ids.to(dev)), pos_(pos.to(dev))));
    // Position bias [1, H, S, S] shared by all layers (HF hard-codes 32 buckets, max distance 128).
    Tensor buckets = Tensor::empty({S, S}, DType::I64);
    for (int64_t i = 0; i < S; ++i)
      for (int64_t j = 0; j < S; ++j) buckets.data<int64_t>()[i * S + j] = relative_bucket(j - i, 32, 128);
    Tensor bias = rel_bias_(buckets.to(dev)).permute({2, 0, 1}).contiguous().view({1, heads_, S, S});
    AttentionArgs args;
    args.scale = 1.0f / std::sqrt(static_cast<float>(H_ / heads_));
    args.key_mask = mask;
    args.bias = bias;
    std::vector<Tensor> hs{x};
    for (const auto& L : layers_) {
      Tensor ctx = layers::merge_heads(ops::attention(layers::split_heads(L.q(x), heads_),
                                                      layers::split_heads(L.k(x), heads_),
                                                      layers::split_heads(L.v(x), heads_), args));
      Tensor a = L.attn_norm(ops::add(L.o(ctx), x));
      x = L.out_norm(ops::add(L.out(ops::activation(L.inter(a), act_)), a));
      hs.push_back(x);
    }
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
      case 3: out.emplace_back("logits", classifier_(x)); break;
      default: {
        bert::append_span_logits(out, classifier_(x));
      }
    }
    if (head_ != 0) out.emplace_back("base.last_hidden_state", x);
    if (opts.output_hidden_states) bert::append_hidden_states(out, hs);
    return out;
  }

 private:
  int head_ = 0;
  int64_t vocab_ = 0, H_ = 0, heads_ = 0, max_pos_ = 0, pad_ = 1, buckets_ = 32;
  std::string act_;
  Embedding word_, pos_, rel_bias_;
  LayerNorm emb_norm_, lm_norm_;
  std::vector<Layer> layers_;
  Linear pooler_, lm_dense_, cls_dense_, classifier_;
  Tensor lm_decoder_, lm_bias_;
};

}  // namespace
}  // namespace ia::mpnet

IA_REGISTER_MODEL(mpnet,
                  {"mpnet", "encoder-only",
                   {"MPNetModel", "MPNetForMaskedLM", "MPNetForSequenceClassification", "MPNetForTokenClassification",
                    "MPNetForQuestionAnswering"},
                   [](const ia::ModelConfig& c, const ia::WeightLoader& w, const std::string& cls) {
                     return std::unique_ptr<ia::Model>(new ia::mpnet::MPNet(c, w, cls));
                   }})
