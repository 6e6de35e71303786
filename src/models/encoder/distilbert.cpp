// DistilBERT (HF modeling_distilbert.py): word + learned position embeddings, post-LN layers with
// q_lin/k_lin/v_lin/out_lin attention and a lin1/lin2 FFN, plus the task heads.
#include <cmath>

#include "models/encoder/bert.h"

namespace ia::distilbert {
namespace {

using layers::Embedding;
using layers::LayerNorm;
using layers::Linear;

struct Layer {
  Linear q, k, v, o, lin1, lin2;
  LayerNorm sa_norm, out_norm;
};

class DistilBert : public Model {
 public:
  DistilBert(const ModelConfig& c, const WeightLoader& root, const std::string& cls) {
    head_ = cls == "DistilBertModel" ? 0 : cls == "DistilBertForMaskedLM" ? 1
          : cls == "DistilBertForSequenceClassification" ? 2 : cls == "DistilBertForTokenClassification" ? 3
          : cls == "DistilBertForQuestionAnswering" ? 4 : -1;
    IA_CHECK(head_ >= 0, ErrorKind::Unsupported, "unsupported: distilbert/{}", cls);
    vocab_ = c.dim("vocab_size");
    dim_ = c.dim("dim");
    heads_ = c.dim("n_heads");
    max_pos_ = c.dim("max_position_embeddings");
    IA_CHECK(dim_ % heads_ == 0, ErrorKind::Format, "{}: dim {} not divisible by n_heads {}", c.source(), dim_, heads_);
    const int64_t hidden = c.dim("hidden_dim"), n = c.dim("n_layers", 0, 1024);
    act_ = c.str_or("activation", "gelu");
    ops::activation_op(act_);
    const WeightLoader w = root.base("distilbert");
    word_ = Embedding::load(w.pp("embeddings").pp("word_embeddings"), vocab_, dim_);
    pos_ = Embedding::load(w.pp("embeddings").pp("position_embeddings"), max_pos_, dim_);
    emb_norm_ = LayerNorm::load(w.pp("embeddings").pp("LayerNorm"), dim_, 1e-12);
    for (int64_t i = 0; i < n; ++i) {
      auto l = w.pp("transformer").pp("layer").pp(i);
      Layer L;
      L.q = Linear::load(l.pp("attention").pp("q_lin"), dim_, dim_);
      L.k = Linear::load(l.pp("attention").pp("k_lin"), dim_, dim_);
      L.v = Linear::load(l.pp("attention").pp("v_lin"), dim_, dim_);
      L.o = Linear::load(l.pp("attention").pp("out_lin"), dim_, dim_);
      L.sa_norm = LayerNorm::load(l.pp("sa_layer_norm"), dim_, 1e-12);
      L.lin1 = Linear::load(l.pp("ffn").pp("lin1"), dim_, hidden);
      L.lin2 = Linear::load(l.pp("ffn").pp("lin2"), hidden, dim_);
      L.out_norm = LayerNorm::load(l.pp("output_layer_norm"), dim_, 1e-12);
      layers_.push_back(std::move(L));
    }
    const int64_t labels = bert::num_labels(c);
    if (head_ == 1) {
      vocab_transform_ = Linear::load(root.pp("vocab_transform"), dim_, dim_);
      vocab_norm_ = LayerNorm::load(root.pp("vocab_layer_norm"), dim_, 1e-12);
      if (!c.flag_or("tie_word_embeddings", true)) projector_ = root.pp("vocab_projector").get("weight", {vocab_, dim_});
      projector_bias_ = root.pp("vocab_projector").get("bias", {vocab_});
    } else if (head_ == 2) {
      pre_classifier_ = Linear::load(root.pp("pre_classifier"), dim_, dim_);
      classifier_ = Linear::load(root.pp("classifier"), dim_, labels);
    } else if (head_ == 3) {
      classifier_ = Linear::load(root.pp("classifier"), dim_, labels);
    } else if (head_ == 4) {
      classifier_ = Linear::load(root.pp("qa_outputs"), dim_, 2);
    }
  }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    const Tensor ids = inputs.at("input_ids").to(DType::I64).contiguous();
    const int64_t S = ids.dim(1);
    IA_CHECK(S <= max_pos_, ErrorKind::InvalidArgument, "sequence length {} exceeds max_position_embeddings {}", S,
             max_pos_);
    const Device dev = word_.weight.device();
    Tensor mask = bert::mask_or_ones(inputs, ids);
    Tensor p = inputs.count("position_ids") ? inputs.at("position_ids").to(DType::I64) : layers::arange(S).view({1, S});
    Tensor x = emb_norm_(ops::add(word_(ids.to(dev)), pos_(p.to(dev))));
    std::vector<Tensor> hs{x};
    AttentionArgs args;
    args.scale = 1.0f / std::sqrt(static_cast<float>(dim_ / heads_));
    args.key_mask = mask;
    for (const auto& L : layers_) {
      Tensor ctx = layers::merge_heads(ops::attention(layers::split_heads(L.q(x), heads_),
                                                      layers::split_heads(L.k(x), heads_),
                                                      layers::split_heads(L.v(x), heads_), args));
      Tensor sa = L.sa_norm(ops::add(L.o(ctx), x));
      x = L.out_norm(ops::add(L.lin2(ops::activation(L.lin1(sa), act_)), sa));
      hs.push_back(x);
    }
    NamedTensors out;
    switch (head_) {
      case 0: out.emplace_back("last_hidden_state", x); break;
      case 1: {
        Tensor t = vocab_norm_(ops::activation(vocab_transform_(x), act_));
        out.emplace_back("logits", ops::linear(t, projector_.defined() ? projector_ : word_.weight, projector_bias_));
        break;
      }
      case 2:
        out.emplace_back("logits", classifier_(ops::unary(UnaryOp::Relu, pre_classifier_(x.select(1, 0)))));
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
  int64_t vocab_ = 0, dim_ = 0, heads_ = 0, max_pos_ = 0;
  std::string act_;
  Embedding word_, pos_;
  LayerNorm emb_norm_, vocab_norm_;
  std::vector<Layer> layers_;
  Linear vocab_transform_, pre_classifier_, classifier_;
  Tensor projector_, projector_bias_;
};

}  // namespace
}  // namespace ia::distilbert

IA_REGISTER_MODEL(distilbert,
                  {"distilbert", "encoder-only",
                   {"DistilBertModel", "DistilBertForMaskedLM", "DistilBertForSequenceClassification",
                    "DistilBertForTokenClassification", "DistilBertForQuestionAnswering"},
                   [](const ia::ModelConfig& c, const ia::WeightLoader& w, const std::string& cls) {
                     return std::unique_ptr<ia::Model>(new ia::distilbert::DistilBert(c, w, cls));
                   }})
