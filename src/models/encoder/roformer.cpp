// RoFormer (HF modeling_roformer.py): BERT-style post-LN encoder without absolute positions; queries and
// keys (and optionally values) get interleaved sinusoidal rotary embeddings from encoder.embed_positions.
#include <cmath>

#include "models/encoder/bert.h"

namespace ia::roformer {
namespace {

using layers::Embedding;
using layers::LayerNorm;
using layers::Linear;

struct Layer {
  Linear q, k, v, attn_out, inter, out;
  LayerNorm attn_norm, out_norm;
};

class RoFormer : public Model {
 public:
  RoFormer(const ModelConfig& c, const WeightLoader& root, const std::string& cls) {
    head_ = cls == "RoFormerModel" ? 0 : cls == "RoFormerForMaskedLM" ? 1 : cls == "RoFormerForSequenceClassification" ? 2
          : cls == "RoFormerForTokenClassification" ? 3 : cls == "RoFormerForQuestionAnswering" ? 4 : -1;
    IA_CHECK(head_ >= 0, ErrorKind::Unsupported, "unsupported: roformer/{}", cls);
    vocab_ = c.dim("vocab_size");
    H_ = c.dim("hidden_size");
    E_ = c.dim_or("embedding_size", H_, 1);
    heads_ = c.dim("num_attention_heads");
    const int64_t I = c.dim("intermediate_size"), n = c.dim("num_hidden_layers", 0, 1024);
    max_pos_ = c.dim("max_position_embeddings");
    type_vocab_ = c.dim_or("type_vocab_size", 2, 0);
    rotary_value_ = c.flag_or("rotary_value", false);
    act_ = c.str_or("hidden_act", "gelu");
    ops::activation_op(act_);
    const double eps = c.number_or("layer_norm_eps", 1e-12);
    IA_CHECK(H_ % heads_ == 0 && (H_ / heads_) % 2 == 0, ErrorKind::Format,
             "{}: hidden_size / num_attention_heads must be even for rotary embeddings", c.source());
    const WeightLoader w = root.base("roformer");
    auto emb = w.pp("embeddings");
    word_ = Embedding::load(emb.pp("word_embeddings"), vocab_, E_);
    if (type_vocab_ > 0) type_ = Embedding::load(emb.pp("token_type_embeddings"), type_vocab_, E_);
    emb_norm_ = LayerNorm::load(emb.pp("LayerNorm"), E_, eps);
    if (E_ != H_) project_ = Linear::load(w.pp("embeddings_project"), E_, H_);
    positions_ = w.pp("encoder").pp("embed_positions").get("weight", {max_pos_, H_ / heads_});
    for (int64_t i = 0; i < n; ++i) {
      auto l = w.pp("encoder").pp("layer").pp(i);
      auto s = l.pp("attention").pp("self");
      Layer L;
      L.q = Linear::load(s.pp("query"), H_, H_);
      L.k = Linear::load(s.pp("key"), H_, H_);
      L.v = Linear::load(s.pp("value"), H_, H_);
      L.attn_out = Linear::load(l.pp("attention").pp("output").pp("dense"), H_, H_);
      L.attn_norm = LayerNorm::load(l.pp("attention").pp("output").pp("LayerNorm"), H_, eps);
      L.inter = Linear::load(l.pp("intermediate").pp("dense"), H_, I);
      L.out = Linear::load(l.pp("output").pp("dense"), I, H_);
      L.out_norm = LayerNorm::load(l.pp("output").pp("LayerNorm"), H_, eps);
      layers_.push_back(std::move(L));
    }
    const int64_t labels = bert::num_labels(c);
    if (head_ == 1) {
      auto p = root.pp("cls").pp("predictions");
      mlm_dense_ = Linear::load(p.pp("transform").pp("dense"), H_, E_);
      mlm_norm_ = LayerNorm::load(p.pp("transform").pp("LayerNorm"), E_, eps);
      if (!c.flag_or("tie_word_embeddings", true)) mlm_decoder_ = p.pp("decoder").get("weight", {vocab_, E_});
      mlm_bias_ = p.has("bias") ? p.get("bias", {vocab_}) : p.pp("decoder").get("bias", {vocab_});
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
    const int64_t B = ids.dim(0), S = ids.dim(1), d = H_ / heads_;
    IA_CHECK(S <= max_pos_, ErrorKind::InvalidArgument, "sequence length {} exceeds max_position_embeddings {}", S,
             max_pos_);
    const Device dev = word_.weight.device();
    Tensor mask = bert::mask_or_ones(inputs, ids);
    Tensor x = word_(ids.to(dev));
    if (type_.weight.defined()) {
      Tensor t = inputs.count("token_type_ids") ? inputs.at("token_type_ids").to(DType::I64) : layers::full_i64({B, S}, 0);
      x = ops::add(x, type_(t.to(dev)));
    }
    x = emb_norm_(x);
    if (project_.defined()) x = project_(x);
    // The sinusoidal table stores sin in the first half of each row and cos in the second.
    Tensor table = positions_.slice(0, 0, S);
    Tensor sin = table.slice(1, 0, d / 2).contiguous(), cos = table.slice(1, d / 2, d).contiguous();
    AttentionArgs args;
    args.scale = 1.0f / std::sqrt(static_cast<float>(d));
    args.key_mask = mask;
    std::vector<Tensor> hs{x};
    for (const auto& L : layers_) {
      Tensor q = layers::apply_rotary(layers::split_heads(L.q(x), heads_), cos, sin, true);
      Tensor k = layers::apply_rotary(layers::split_heads(L.k(x), heads_), cos, sin, true);
      Tensor v = layers::split_heads(L.v(x), heads_);
      if (rotary_value_) v = layers::apply_rotary(v, cos, sin, true);
      Tensor ctx = layers::merge_heads(ops::attention(q, k, v, args));
      Tensor a = L.attn_norm(ops::add(L.attn_out(ctx), x));
      x = L.out_norm(ops::add(L.out(ops::activation(L.inter(a), act_)), a));
      hs.push_back(x);
    }
    NamedTensors out;
    switch (head_) {
      case 0: out.emplace_back("last_hidden_state", x); break;
      case 1: {
        Tensor t = mlm_norm_(ops::activation(mlm_dense_(x), act_));
        out.emplace_back("logits", ops::linear(t, mlm_decoder_.defined() ? mlm_decoder_ : word_.weight, mlm_bias_));
        break;
      }
      case 2:
        out.emplace_back("logits", classifier_(ops::activation(cls_dense_(x.select(1, 0)), act_)));
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
  int64_t vocab_ = 0, H_ = 0, E_ = 0, heads_ = 0, max_pos_ = 0, type_vocab_ = 0;
  bool rotary_value_ = false;
  std::string act_;
  Embedding word_, type_;
  LayerNorm emb_norm_, mlm_norm_;
  Linear project_, mlm_dense_, cls_dense_, classifier_;
  Tensor positions_, mlm_decoder_, mlm_bias_;
  std::vector<Layer> layers_;
};

}  // namespace
}  // namespace ia::roformer

IA_REGISTER_MODEL(roformer,
                  {"roformer", "encoder-only",
                   {"RoFormerModel", "RoFormerForMaskedLM", "RoFormerForSequenceClassification",
                    "RoFormerForTokenClassification", "RoFormerForQuestionAnswering"},
                   [](const ia::ModelConfig& c, const ia::WeightLoader& w, const std::string& cls) {
                     return std::unique_ptr<ia::Model>(new ia::roformer::RoFormer(c, w, cls));
                   }})
