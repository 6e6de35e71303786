// ALBERT (HF modeling_albert.py): factorized embeddings (embedding_size -> hidden via
// embedding_hidden_mapping_in) and layer groups whose weights are shared across num_hidden_layers.
#include <cmath>

#include "models/encoder/bert.h"

namespace ia::albert {
namespace {

using layers::Embedding;
using layers::LayerNorm;
using layers::Linear;

struct Layer {
  Linear q, k, v, dense, ffn, ffn_out;
  LayerNorm attn_norm, full_norm;
};

class Albert : public Model {
 public:
  Albert(const ModelConfig& c, const WeightLoader& root, const std::string& cls) {
    head_ = cls == "AlbertModel" ? 0 : cls == "AlbertForMaskedLM" ? 1 : cls == "AlbertForSequenceClassification" ? 2
          : cls == "AlbertForTokenClassification" ? 3 : cls == "AlbertForQuestionAnswering" ? 4 : -1;
    IA_CHECK(head_ >= 0, ErrorKind::Unsupported, "unsupported: albert/{}", cls);
    vocab_ = c.dim("vocab_size");
    H_ = c.dim("hidden_size");
    E_ = c.dim_or("embedding_size", 128, 1);
    heads_ = c.dim("num_attention_heads");
    const int64_t I = c.dim("intermediate_size");
    n_layers_ = c.dim("num_hidden_layers", 0, 1024);
    n_groups_ = c.dim_or("num_hidden_groups", 1, 1, 1024);
    inner_ = c.dim_or("inner_group_num", 1, 1, 1024);
    max_pos_ = c.dim("max_position_embeddings");
    type_vocab_ = c.dim_or("type_vocab_size", 2, 0);
    act_ = c.str_or("hidden_act", "gelu_new");
    ops::activation_op(act_);
    const double eps = c.number_or("layer_norm_eps", 1e-12);
    IA_CHECK(c.str_or("position_embedding_type", "absolute") == "absolute", ErrorKind::Unsupported,
             "{}: unsupported position_embedding_type '{}'", c.source(), c.str_or("position_embedding_type", ""));
    IA_CHECK(H_ % heads_ == 0, ErrorKind::Format, "{}: hidden_size not divisible by num_attention_heads", c.source());
    const WeightLoader w = root.base("albert");
    auto emb = w.pp("embeddings");
    word_ = Embedding::load(emb.pp("word_embeddings"), vocab_, E_);
    pos_ = Embedding::load(emb.pp("position_embeddings"), max_pos_, E_);
    if (type_vocab_ > 0) type_ = Embedding::load(emb.pp("token_type_embeddings"), type_vocab_, E_);
    emb_norm_ = LayerNorm::load(emb.pp("LayerNorm"), E_, eps);
    mapping_ = Linear::load(w.pp("encoder").pp("embedding_hidden_mapping_in"), E_, H_);
    for (int64_t g = 0; g < n_groups_; ++g) {
      std::vector<Layer> group;
      for (int64_t j = 0; j < inner_; ++j) {
        auto l = w.pp("encoder").pp("albert_layer_groups").pp(g).pp("albert_layers").pp(j);
        auto a = l.pp("attention");
        Layer L;
        L.q = Linear::load(a.pp("query"), H_, H_);
        L.k = Linear::load(a.pp("key"), H_, H_);
        L.v = Linear::load(a.pp("value"), H_, H_);
        L.dense = Linear::load(a.pp("dense"), H_, H_);
        L.attn_norm = LayerNorm::load(a.pp("LayerNorm"), H_, eps);
        L.ffn = Linear::load(l.pp("ffn"), H_, I);
        L.ffn_out = Linear::load(l.pp("ffn_output"), I, H_);
        L.full_norm = LayerNorm::load(l.pp("full_layer_layer_norm"), H_, eps);
        group.push_back(std::move(L));
      }
      groups_.push_back(std::move(group));
    }
    const int64_t labels = bert::num_labels(c);
    if (head_ == 0 || head_ == 2) pooler_ = Linear::load(w.pp("pooler"), H_, H_);
    if (head_ == 1) {
      auto p = root.pp("predictions");
      pred_dense_ = Linear::load(p.pp("dense"), H_, E_);
      pred_norm_ = LayerNorm::load(p.pp("LayerNorm"), E_, eps);
      if (!c.flag_or("tie_word_embeddings", true)) pred_decoder_ = p.pp("decoder").get("weight", {vocab_, E_});
      pred_bias_ = p.has("bias") ? p.get("bias", {vocab_}) : p.pp("decoder").get("bias", {vocab_});
    } else if (head_ == 2) {
      classifier_ = Linear::load(root.pp("classifier"), H_, labels);
    } else if (head_ == 3) {
      classifier_ = Linear::load(root.pp("classifier"), H_, labels);
    } else if (head_ == 4) {
      classifier_ = Linear::load(root.pp("qa_outputs"), H_, 2);
    }
  }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    const Tensor ids = inputs.at("input_ids").to(DType::I64).contiguous();
    const int64_t B = ids.dim(0), S = ids.dim(1);
    IA_CHECK(S <= max_pos_, ErrorKind::InvalidArgument, "sequence length {} exceeds max_position_embeddings {}", S,
             max_pos_);
    const Device dev = word_.weight.device();
    Tensor mask = bert::mask_or_ones(inputs, ids);
    Tensor p = inputs.count("position_ids") ? inputs.at("position_ids").to(DType::I64) : layers::arange(S).view({1, S});
    Tensor x = ops::add(word_(ids.to(dev)), pos_(p.to(dev)));
    if (type_.weight.defined()) {
      Tensor t = inputs.count("token_type_ids") ? inputs.at("token_type_ids").to(DType::I64) : layers::full_i64({B, S}, 0);
      x = ops::add(x, type_(t.to(dev)));
    }
    x = mapping_(emb_norm_(x));
    std::vector<Tensor> hs{x};
    AttentionArgs args;
    args.scale = 1.0f / std::sqrt(static_cast<float>(H_ / heads_));
    args.key_mask = mask;
    for (int64_t i = 0; i < n_layers_; ++i) {
      const auto g = static_cast<int64_t>(static_cast<double>(i) / (static_cast<double>(n_layers_) / n_groups_));
      for (const auto& L : groups_[g]) {
        Tensor ctx = layers::merge_heads(ops::attention(layers::split_heads(L.q(x), heads_),
                                                        layers::split_heads(L.k(x), heads_),
                                                        layers::split_heads(L.v(x), heads_), args));
        Tensor a = L.attn_norm(ops::add(x, L.dense(ctx)));
        x = L.full_norm(ops::add(L.ffn_out(ops::activation(L.ffn(a), act_)), a));
      }
      hs.push_back(x);
    }
    NamedTensors out;
    switch (head_) {
      case 0:
        out.emplace_back("last_hidden_state", x);
        out.emplace_back("pooler_output", ops::unary(UnaryOp::Tanh, pooler_(x.select(1, 0))));
        break;
      case 1: {
        Tensor t = pred_norm_(ops::activation(pred_dense_(x), act_));
        out.emplace_back("logits", ops::linear(t, pred_decoder_.defined() ? pred_decoder_ : word_.weight, pred_bias_));
        break;
      }
      case 2: out.emplace_back("logits", classifier_(ops::unary(UnaryOp::Tanh, pooler_(x.select(1, 0))))); break;
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
  int64_t vocab_ = 0, H_ = 0, E_ = 0, heads_ = 0, n_layers_ = 0, n_groups_ = 1, inner_ = 1, max_pos_ = 0,
          type_vocab_ = 0;
  std::string act_;
  Embedding word_, pos_, type_;
  LayerNorm emb_norm_, pred_norm_;
  Linear mapping_, pooler_, pred_dense_, classifier_;
  Tensor pred_decoder_, pred_bias_;
  std::vector<std::vector<Layer>> groups_;
};

}  // namespace
}  // namespace ia::albert

IA_REGISTER_MODEL(albert,
                  {"albert", "encoder-only",
                   {"AlbertModel", "AlbertForMaskedLM", "AlbertForSequenceClassification",
                    "AlbertForTokenClassification", "AlbertForQuestionAnswering"},
                   [](const ia::ModelConfig& c, const ia::WeightLoader& w, const std::string& cls) {
                     return std::unique_ptr<ia::Model>(new ia::albert::Albert(c, w, cls));
                   }})
