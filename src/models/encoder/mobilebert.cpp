// MobileBERT (HF modeling_mobilebert.py): trigram input embeddings, bottlenecked layers with an
// intra-bottleneck attention width, stacked FFNs, and NoNorm (x * w + b) or LayerNorm.
#include <cmath>

#include "models/encoder/bert.h"

namespace ia::mobilebert {
namespace {

using layers::Embedding;
using layers::Linear;

// NoNorm (elementwise affine) or LayerNorm, per config.normalization_type.
struct Norm {
  Tensor weight, bias;
  bool layer_norm = false;
  float eps = 1e-12f;
  static Norm load(const WeightLoader& w, int64_t dim, bool layer_norm, double eps) {
    Norm n;
    n.weight = w.get("weight", {dim});
    n.bias = w.get("bias", {dim});
    n.layer_norm = layer_norm;
    n.eps = static_cast<float>(eps);
    return n;
  }
  Tensor operator()(const Tensor& x) const {
    return layer_norm ? ops::layer_norm(x, weight, bias, eps) : ops::add(ops::mul(x, weight), bias);
  }
};

struct DenseNorm {  // a Linear followed by a Norm (BottleneckLayer, FFNOutput, ...)
  Linear dense;
  Norm norm;
};

struct Layer {
  DenseNorm bottleneck_input, bottleneck_attention, attn_output, output, output_bottleneck;
  Linear q, k, v, intermediate;
  std::vector<std::pair<Linear, DenseNorm>> ffn;  // (intermediate, output) of the extra FFNs
};

class MobileBert : public Model {
 public:
  MobileBert(const ModelConfig& c, const WeightLoader& root, const std::string& cls) {
    head_ = cls == "MobileBertModel" ? 0 : cls == "MobileBertForSequenceClassification" ? 1
          : cls == "MobileBertForTokenClassification" ? 2 : cls == "MobileBertForQuestionAnswering" ? 3 : -1;
    IA_CHECK(head_ >= 0, ErrorKind::Unsupported, "unsupported: mobilebert/{}", cls);
    vocab_ = c.dim("vocab_size");
    H_ = c.dim("hidden_size");
    E_ = c.dim_or("embedding_size", 128, 1);
    heads_ = c.dim("num_attention_heads");
    const int64_t I = c.dim("intermediate_size"), n = c.dim("num_hidden_layers", 0, 1024);
    max_pos_ = c.dim("max_position_embeddings");
    type_vocab_ = c.dim_or("type_vocab_size", 2, 0);
    trigram_ = c.flag_or("trigram_input", true);
    use_bottleneck_ = c.flag_or("use_bottleneck", true);
    bottleneck_attention_ = c.flag_or("use_bottleneck_attention", false);
    kq_shared_ = c.flag_or("key_query_shared_bottleneck", true);
    T_ = use_bottleneck_ ? c.dim_or("intra_bottleneck_size", 128, 1) : H_;
    n_ffn_ = c.dim_or("num_feedforward_networks", 4, 1, 64);
    classifier_activation_ = c.flag_or("classifier_activation", true);
    act_ = c.str_or("hidden_act", "relu");
    ops::activation_op(act_);
    const std::string norm_type = c.str_or("normalization_type", "no_norm");
    IA_CHECK(norm_type == "no_norm" || norm_type == "layer_norm", ErrorKind::Unsupported,
             "{}: unsupported normalization_type '{}'", c.source(), norm_type);
    const bool ln = norm_type == "layer_norm";
    const double eps = c.number_or("layer_norm_eps", 1e-12);
    IA_CHECK(T_ % heads_ == 0, ErrorKind::Format, "{}: true hidden size {} not divisible by num_attention_heads {}",
             c.source(), T_, heads_);
    auto dn = [&](const WeightLoader& w, int64_t in, int64_t out) {
      return DenseNorm{Linear::load(w.pp("dense"), in, out), Norm::load(w.pp("LayerNorm"), out, ln, eps)};
    };
    const WeightLoader w = root.base("mobilebert");
    auto emb = w.pp("embeddings");
    word_ = Embedding::load(emb.pp("word_embeddings"), vocab_, E_);
    pos_ = Embedding::load(emb.pp("position_embeddings"), max_pos_, H_);
    if (type_vocab_ > 0) type_ = Embedding::load(emb.pp("token_type_embeddings"), type_vocab_, H_);
    if (trigram_ || E_ != H_) transform_ = Linear::load(emb.pp("embedding_transformation"), trigram_ ? 3 * E_ : E_, H_);
    emb_norm_ = Norm::load(emb.pp("LayerNorm"), H_, ln, eps);
    for (int64_t i = 0; i < n; ++i) {
      auto l = w.pp("encoder").pp("layer").pp(i);
      Layer L;
      if (use_bottleneck_) {
        L.bottleneck_input = dn(l.pp("bottleneck").pp("input"), H_, T_);
        if (kq_shared_ && !bottleneck_attention_) L.bottleneck_attention = dn(l.pp("bottleneck").pp("attention"), H_, T_);
      }
      auto s = l.pp("attention").pp("self");
      L.q = Linear::load(s.pp("query"), T_, T_);
      L.k = Linear::load(s.pp("key"), T_, T_);
      L.v = Linear::load(s.pp("value"), bottleneck_attention_ ? T_ : H_, T_);
      L.attn_output = dn(l.pp("attention").pp("output"), T_, T_);
      for (int64_t f = 0; f + 1 < n_ffn_; ++f) {
        auto fl = l.pp("ffn").pp(f);
        L.ffn.emplace_back(Linear::load(fl.pp("intermediate").pp("dense"), T_, I), dn(fl.pp("output"), I, T_));
      }
      L.intermediate = Linear::load(l.pp("intermediate").pp("dense"), T_, I);
      L.output = dn(l.pp("output"), I, T_);
      if (use_bottleneck_) L.output_bottleneck = dn(l.pp("output").pp("bottleneck"), T_, H_);
      layers_.push_back(std::move(L));
    }
    const int64_t labels = bert::num_labels(c);
    if ((head_ == 0 || head_ == 1) && classifier_activation_) pooler_ = Linear::load(w.pp("pooler").pp("dense"), H_, H_);
    if (head_ == 1) classifier_ = Linear::load(root.pp("classifier"), H_, labels);
    if (head_ == 2) classifier_ = Linear::load(root.pp("classifier"), H_, labels);
    if (head_ == 3) classifier_ = Linear::load(root.pp("qa_outputs"), H_, 2);
  }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    const Tensor ids = inputs.at("input_ids").to(DType::I64).contiguous();
    const int64_t B = ids.dim(0), S = ids.dim(1);
    IA_CHECK(S <= max_pos_, ErrorKind::InvalidArgument, "sequence length {} exceeds max_position_embeddings {}", S,
             max_pos_);
    const Device dev = word_.weight.device();
    Tensor mask = bert::mask_or_ones(inputs, ids);
    Tensor x = word_(ids.to(dev));  // [B, S, E]
    if (trigram_) {
      Tensor zero = Tensor::zeros({B, 1, E_}, DType::F32, dev);
      Tensor next = S > 1 ? ops::concat({x.slice(1, 1, S), zero}, 1) : zero;
      Tensor prev = S > 1 ? ops::concat({zero, x.slice(1, 0, S - 1)}, 1) : zero;
      x = ops::concat({next, x, prev}, 2);
    }
    if (transform_.defined()) x = transform_(x);
    Tensor p = inputs.count("position_ids") ? inputs.at("position_ids").to(DType::I64) : layers::arange(S).view({1, S});
    x = ops::add(x, pos_(p.to(dev)));
    if (type_.weight.defined()) {
      Tensor t = inputs.count("token_type_ids") ? inputs.at("token_type_ids").to(DType::I64) : layers::full_i64({B, S}, 0);
      x = ops::add(x, type_(t.to(dev)));
    }
    x = emb_norm_(x);
    std::vector<Tensor> hs{x};
    AttentionArgs args;
    args.scale = 1.0f / std::sqrt(static_cast<float>(T_ / heads_));
    args.key_mask = mask;
    for (const auto& L : layers_) {
      Tensor qin = x, kin = x, vin = x, layer_input = x;
      if (use_bottleneck_) {
        layer_input = apply(L.bottleneck_input, x);
        if (bottleneck_attention_) {
          qin = kin = vin = layer_input;
        } else if (kq_shared_) {
          qin = kin = apply(L.bottleneck_attention, x);
        }
      }
      Tensor ctx = layers::merge_heads(ops::attention(layers::split_heads(L.q(qin), heads_),
                                                      layers::split_heads(L.k(kin), heads_),
                                                      layers::split_heads(L.v(vin), heads_), args));
      Tensor a = L.attn_output.norm(ops::add(L.attn_output.dense(ctx), layer_input));
      for (const auto& [inter, out] : L.ffn)
        a = out.norm(ops::add(out.dense(ops::activation(inter(a), act_)), a));
      Tensor o = L.output.norm(ops::add(L.output.dense(ops::activation(L.intermediate(a), act_)), a));
      if (use_bottleneck_) o = L.output_bottleneck.norm(ops::add(L.output_bottleneck.dense(o), x));
      x = o;
      hs.push_back(x);
    }
    auto pooled = [&] {
      Tensor first = x.select(1, 0);
      return pooler_.defined() ? ops::unary(UnaryOp::Tanh, pooler_(first)) : first.contiguous();
    };
    NamedTensors out;
    switch (head_) {
      case 0:
        out.emplace_back("last_hidden_state", x);
        out.emplace_back("pooler_output", pooled());
        break;
      case 1: out.emplace_back("logits", classifier_(pooled())); break;
      case 2: out.emplace_back("logits", classifier_(x)); break;
      default: {
        bert::append_span_logits(out, classifier_(x));
      }
    }
    if (head_ != 0) out.emplace_back("base.last_hidden_state", x);
    if (opts.output_hidden_states) bert::append_hidden_states(out, hs);
    return out;
  }

 private:
  static Tensor apply(const DenseNorm& d, const Tensor& x) { return d.norm(d.dense(x)); }

  int head_ = 0;
  int64_t vocab_ = 0, H_ = 0, E_ = 0, T_ = 0, heads_ = 0, max_pos_ = 0, type_vocab_ = 0, n_ffn_ = 1;
  bool trigram_ = true, use_bottleneck_ = true, bottleneck_attention_ = false, kq_shared_ = true;
  bool classifier_activation_ = true;
  std::string act_;
  Embedding word_, pos_, type_;
  Linear transform_, pooler_, classifier_;
  Norm emb_norm_;
  std::vector<Layer> layers_;
};

}  // namespace
}  // namespace ia::mobilebert

IA_REGISTER_MODEL(mobilebert,
                  {"mobilebert", "encoder-only",
                   {"MobileBertModel", "MobileBertForSequenceClassification", "MobileBertForTokenClassification",
                    "MobileBertForQuestionAnswering"},
                   [](const ia::ModelConfig& c, const ia::WeightLoader& w, const std::string& cls) {
                     return std::unique_ptr<ia::Model>(new ia::mobilebert::MobileBert(c, w, cls));
                   }})
