// BERT family (HF modeling_bert.py / modeling_roberta.py / modeling_electra.py / modeling_ernie.py):
// embeddings -> post-LN encoder layers -> optional pooler, plus the task heads.
#include "models/encoder/bert.h"

#include <cmath>

namespace ia::bert {

using layers::Embedding;
using layers::LayerNorm;
using layers::Linear;

BertConfig BertConfig::from(const ModelConfig& c, bool roberta_positions) {
  BertConfig b;
  b.vocab_size = c.dim("vocab_size");
  b.hidden_size = c.dim("hidden_size");
  b.num_layers = c.dim("num_hidden_layers", 0, 1024);
  b.num_heads = c.dim("num_attention_heads");
  b.intermediate_size = c.dim("intermediate_size");
  b.max_position_embeddings = c.dim("max_position_embeddings");
  b.type_vocab_size = c.dim_or("type_vocab_size", 2, 0);
  b.embedding_size = c.dim_or("embedding_size", b.hidden_size, 1);
  b.pad_token_id = c.dim_or("pad_token_id", 0, 0, b.vocab_size);
  b.use_task_id = c.flag_or("use_task_id", false);
  b.task_type_vocab_size = c.dim_or("task_type_vocab_size", 3, 0);
  b.hidden_act = c.str_or("hidden_act", "gelu");
  ops::activation_op(b.hidden_act);  // reject unsupported activations at load time
  b.position_embedding_type = c.str_or("position_embedding_type", "absolute");
  IA_CHECK(b.position_embedding_type == "absolute" || b.position_embedding_type == "relative_key" ||
               b.position_embedding_type == "relative_key_query",
           ErrorKind::Unsupported, "{}: unsupported position_embedding_type '{}'", c.source(),
           b.position_embedding_type);
  b.layer_norm_eps = c.number_or("layer_norm_eps", 1e-12);
  IA_CHECK(b.hidden_size % b.num_heads == 0, ErrorKind::Format,
           "{}: hidden_size {} is not a multiple of num_attention_heads {}", c.source(), b.hidden_size, b.num_heads);
  b.roberta_positions = roberta_positions;
  return b;
}

BertEncoder::BertEncoder(const BertConfig& cfg, const WeightLoader& w, bool with_pooler) : cfg_(cfg) {
  const int64_t H = cfg.hidden_size, E = cfg.embedding_size, I = cfg.intermediate_size;
  auto emb = w.pp("embeddings");
  word_ = Embedding::load(emb.pp("word_embeddings"), cfg.vocab_size, E);
  if (cfg.position_embedding_type == "absolute")
    position_ = Embedding::load(emb.pp("position_embeddings"), cfg.max_position_embeddings, E);
  if (cfg.type_vocab_size > 0) token_type_ = Embedding::load(emb.pp("token_type_embeddings"), cfg.type_vocab_size, E);
  if (cfg.use_task_id) task_type_ = Embedding::load(emb.pp("task_type_embeddings"), cfg.task_type_vocab_size, E);
  emb_norm_ = LayerNorm::load(emb.pp("LayerNorm"), E, cfg.layer_norm_eps);
  if (E != H) emb_project_ = Linear::load(w.pp("embeddings_project"), E, H);
  const int64_t head_dim = H / cfg.num_heads;
  for (int64_t i = 0; i < cfg.num_layers; ++i) {
    auto l = w.pp("encoder").pp("layer").pp(i);
    BertLayer L;
    auto self = l.pp("attention").pp("self");
    L.query = Linear::load(self.pp("query"), H, H);
    L.key = Linear::load(self.pp("key"), H, H);
    L.value = Linear::load(self.pp("value"), H, H);
    if (cfg.position_embedding_type != "absolute")
      L.distance_embedding =
          Embedding::load(self.pp("distance_embedding"), 2 * cfg.max_position_embeddings - 1, head_dim);
    L.attn_out = Linear::load(l.pp("attention").pp("output").pp("dense"), H, H);
    L.attn_norm = LayerNorm::load(l.pp("attention").pp("output").pp("LayerNorm"), H, cfg.layer_norm_eps);
    L.intermediate = Linear::load(l.pp("intermediate").pp("dense"), H, I);
    L.output = Linear::load(l.pp("output").pp("dense"), I, H);
    L.out_norm = LayerNorm::load(l.pp("output").pp("LayerNorm"), H, cfg.layer_norm_eps);
    layers_.push_back(std::move(L));
  }
  if (with_pooler) pooler_ = Linear::load(w.pp("pooler").pp("dense"), H, H);
}

Tensor mask_or_ones(const TensorMap& inputs, const Tensor& input_ids) {
  auto it = inputs.find("attention_mask");
  if (it != inputs.end() && it->second.defined()) return it->second;
  return layers::full_i64(input_ids.shape(), 1);
}

Tensor BertEncoder::embed(const TensorMap& inputs) const {
  auto it = inputs.find("input_ids");
  IA_CHECK(it != inputs.end(), ErrorKind::InvalidArgument, "missing input 'input_ids'");
  const Tensor ids = it->second.to(Device::cpu()).to(DType::I64).contiguous();
  IA_CHECK(ids.ndim() == 2, ErrorKind::InvalidArgument, "input_ids must be [batch, seq], got {}", ids.describe());
  const int64_t B = ids.dim(0), S = ids.dim(1);
  const Device dev = word_.weight.device();
  Tensor x = word_(ids.to(dev));
  if (position_.weight.defined()) {
    Tensor pos;
    if (inputs.count("position_ids")) {
      pos = inputs.at("position_ids").to(DType::I64);
    } else if (cfg_.roberta_positions) {
      pos = padding_position_ids(ids, cfg_.pad_token_id);
    } else {
      pos = layers::arange(S).view({1, S});
    }
    IA_CHECK(S <= cfg_.max_position_embeddings, ErrorKind::InvalidArgument,
             "sequence length {} exceeds max_position_embeddings {}", S, cfg_.max_position_embeddings);
    x = ops::add(x, position_(pos.to(dev)));
  }
  if (token_type_.weight.defined()) {
    auto tt = inputs.find("token_type_ids");
    Tensor types = tt != inputs.end() ? tt->second.to(DType::I64) : layers::full_i64({B, S}, 0);
    x = ops::add(x, token_type_(types.to(dev)));
  }
  if (task_type_.weight.defined()) {
    auto tt = inputs.find("task_type_ids");
    Tensor types = tt != inputs.end() ? tt->second.to(DType::I64) : layers::full_i64({B, S}, 0);
    x = ops::add(x, task_type_(types.to(dev)));
  }
  x = emb_norm_(x);
  if (emb_project_.defined()) x = emb_project_(x);
  return x;
}

Tensor BertEncoder::layer(const BertLayer& L, const Tensor& h, const Tensor& mask) const {
  const int64_t heads = cfg_.num_heads;
  const int64_t head_dim = cfg_.hidden_size / heads;
  Tensor q = layers::split_heads(L.query(h), heads);
  Tensor k = layers::split_heads(L.key(h), heads);
  Tensor v = layers::split_heads(L.value(h), heads);
  AttentionArgs args;
  args.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  args.key_mask = mask;
  if (L.distance_embedding.weight.defined()) {
    const int64_t B = q.dim(0), Sq = q.dim(2), Sk = k.dim(2);
    Tensor dist = Tensor::empty({Sq, Sk}, DType::I64);
    for (int64_t l = 0; l < Sq; ++l)
      for (int64_t r = 0; r < Sk; ++r) dist.data<int64_t>()[l * Sk + r] = l - r + cfg_.max_position_embeddings - 1;
    Tensor pe = L.distance_embedding(dist.to(h.device()));  // [L, R, D]
    Tensor ql = q.permute({2, 0, 1, 3}).contiguous().view({Sq, B * heads, head_dim});
    Tensor rel = ops::matmul(ql, pe, false, true).view({Sq, B, heads, Sk}).permute({1, 2, 0, 3});
    if (cfg_.position_embedding_type == "relative_key_query") {
      Tensor kr = k.permute({2, 0, 1, 3}).contiguous().view({Sk, B * heads, head_dim});
      Tensor per = pe.permute({1, 0, 2}).contiguous();  // [R, L, D]
      Tensor relk = ops::matmul(kr, per, false, true).view({Sk, B, heads, Sq}).permute({1, 2, 3, 0});
      rel = ops::add(rel, relk);
    }
    args.bias = ops::scale(rel.contiguous(), args.scale);
  }
  Tensor ctx = layers::merge_heads(ops::attention(q, k, v, args));
  Tensor a = L.attn_norm(ops::add(L.attn_out(ctx), h));
  Tensor inter = L.intermediate(a, ops::activation_op(cfg_.hidden_act));
  return L.out_norm(ops::add(L.output(inter), a));
}

Tensor BertEncoder::forward(const TensorMap& inputs, std::vector<Tensor>* hidden_states) const {
  Tensor h = embed(inputs);
  Tensor mask = mask_or_ones(inputs, inputs.at("input_ids"));
  if (hidden_states) hidden_states->push_back(h);
  for (const auto& L : layers_) {
    h = layer(L, h, mask);
    if (hidden_states) hidden_states->push_back(h);
  }
  return h;
}

Tensor BertEncoder::pool(const Tensor& h) const {
  return ops::unary(UnaryOp::Tanh, pooler_(h.select(1, 0)));
}

Tensor padding_position_ids(const Tensor& input_ids, int64_t padding_idx) {
  const Tensor ids = input_ids.to(Device::cpu()).to(DType::I64).contiguous();
  const int64_t B = ids.dim(0), S = ids.dim(1);
  Tensor pos = Tensor::empty({B, S}, DType::I64);
  const int64_t* ip = ids.data<int64_t>();
  int64_t* pp = pos.data<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    int64_t run = 0;
    for (int64_t s = 0; s < S; ++s) {
      const bool real = ip[b * S + s] != padding_idx;
      run += real;
      pp[b * S + s] = (real ? run : 0) + padding_idx;
    }
  }
  return pos;
}

int64_t num_labels(const ModelConfig& c) {
  if (c.has("id2label")) return static_cast<int64_t>(c.json()["id2label"].size());
  return c.dim_or("num_labels", 2, 1);
}

void append_span_logits(NamedTensors& out, const Tensor& logits) {
  out.emplace_back("start_logits", logits.select(2, 0).contiguous());
  out.emplace_back("end_logits", logits.select(2, 1).contiguous());
}

void append_hidden_states(NamedTensors& out, const std::vector<Tensor>& hs, const std::string& prefix) {
  for (size_t i = 0; i < hs.size(); ++i) out.emplace_back(prefix + "hidden_states." + std::to_string(i), hs[i]);
}

namespace {

enum class Head { None, MaskedLM, SequenceClassification, TokenClassification, QuestionAnswering, MultipleChoice };

// Which flavour of the BERT recipe a model_type is.
struct Flavour {
  std::string base_prefix;  // HF base_model_prefix
  std::string class_prefix; // "Bert", "Roberta", ...
  bool roberta_positions;
  bool pooler;              // base model has a pooler
};

Flavour flavour_of(const std::string& type) {
  if (type == "bert") return {"bert", "Bert", false, true};
  if (type == "roberta") return {"roberta", "Roberta", true, true};
  if (type == "camembert") return {"roberta", "Camembert", true, true};
  if (type == "xlm-roberta") return {"roberta", "XLMRoberta", true, true};
  if (type == "ernie") return {"ernie", "Ernie", false, true};
  if (type == "electra") return {"electra", "Electra", false, false};
  fail(ErrorKind::Unsupported, "unsupported: {}", type);
}

Head head_of(const std::string& cls, const Flavour& f) {
  const std::string rest = cls.substr(f.class_prefix.size());
  if (rest == "Model") return Head::None;
  if (rest == "ForMaskedLM") return Head::MaskedLM;
  if (rest == "ForSequenceClassification") return Head::SequenceClassification;
  if (rest == "ForTokenClassification") return Head::TokenClassification;
  if (rest == "ForQuestionAnswering") return Head::QuestionAnswering;
  if (rest == "ForMultipleChoice") return Head::MultipleChoice;
  fail(ErrorKind::Unsupported, "unsupported: {}", cls);
}

class BertFamilyModel : public Model {
 public:
  BertFamilyModel(const ModelConfig& c, const WeightLoader& w, const std::string& cls) {
    flavour_ = flavour_of(c.model_type());
    head_ = head_of(cls, flavour_);
    cfg_ = BertConfig::from(c, flavour_.roberta_positions);
    const bool is_roberta = flavour_.roberta_positions;
    // HF builds the pooler for base models and for heads that use it (BERT-style seq classification).
    bool pooler = flavour_.pooler && (head_ == Head::None ||
                                      (!is_roberta && (head_ == Head::SequenceClassification ||
                                                       head_ == Head::MultipleChoice)));
    if (head_ == Head::None) {
      encoder_ = std::make_unique<BertEncoder>(cfg_, w.base(flavour_.base_prefix), pooler);
    } else {
      // Head checkpoints store the backbone under base_model_prefix; a bare backbone file is accepted too.
      encoder_ = std::make_unique<BertEncoder>(cfg_, w.base(flavour_.base_prefix), pooler);
    }
    const int64_t H = cfg_.hidden_size;
    const int64_t E = cfg_.embedding_size;
    labels_ = num_labels(c);
    switch (head_) {
      case Head::None: break;
      case Head::MaskedLM: load_mlm(c, w, H, E); break;
      case Head::SequenceClassification:
        if (is_roberta || flavour_.class_prefix == "Electra") {
          cls_dense_ = Linear::load(w.pp("classifier").pp("dense"), H, H);
          cls_out_ = Linear::load(w.pp("classifier").pp("out_proj"), H, labels_);
        } else {
          cls_out_ = Linear::load(w.pp("classifier"), H, labels_);
        }
        break;
      case Head::MultipleChoice: cls_out_ = Linear::load(w.pp("classifier"), H, 1); break;
      case Head::TokenClassification: cls_out_ = Linear::load(w.pp("classifier"), H, labels_); break;
      case Head::QuestionAnswering: cls_out_ = Linear::load(w.pp("qa_outputs"), H, 2); break;
    }
  }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    std::vector<Tensor> hs;
    Tensor h = encoder_->forward(inputs, opts.output_hidden_states ? &hs : nullptr);
    NamedTensors out;
    switch (head_) {
      case Head::None:
        out.emplace_back("last_hidden_state", h);
        if (encoder_->has_pooler()) out.emplace_back("pooler_output", encoder_->pool(h));
        break;
      case Head::MaskedLM: out.emplace_back("logits", mlm(h)); break;
      case Head::SequenceClassification: {
        Tensor logits;
        if (cls_dense_.defined()) {
          Tensor x = cls_dense_(h.select(1, 0));
          x = flavour_.class_prefix == "Electra" ? ops::activation(x, "gelu") : ops::unary(UnaryOp::Tanh, x);
          logits = cls_out_(x);
        } else {
          logits = cls_out_(encoder_->pool(h));
        }
        out.emplace_back("logits", logits);
        break;
      }
      case Head::MultipleChoice:
        fail(ErrorKind::Unsupported, "unsupported: {} (multiple-choice inputs)", hf_class());
      case Head::TokenClassification: out.emplace_back("logits", cls_out_(h)); break;
      case Head::QuestionAnswering: {
        append_span_logits(out, cls_out_(h));
        break;
      }
    }
    if (head_ != Head::None) out.emplace_back("base.last_hidden_state", h);
    if (opts.output_hidden_states) append_hidden_states(out, hs);
    return out;
  }

 private:
  void load_mlm(const ModelConfig& c, const WeightLoader& w, int64_t H, int64_t E) {
    const bool tie = c.flag_or("tie_word_embeddings", true);
    const int64_t V = cfg_.vocab_size;
    if (flavour_.roberta_positions) {
      auto lm = w.pp("lm_head");
      mlm_dense_ = Linear::load(lm.pp("dense"), H, H);
      mlm_norm_ = LayerNorm::load(lm.pp("layer_norm"), H, cfg_.layer_norm_eps);
      mlm_act_ = "gelu";
      mlm_decoder_ = lm.has("decoder.weight") && !tie ? lm.pp("decoder").get("weight", {V, H}) : Tensor();
      mlm_bias_ = lm.has("bias") ? lm.get("bias", {V}) : lm.pp("decoder").get("bias", {V});
    } else if (flavour_.class_prefix == "Electra") {
      mlm_dense_ = Linear::load(w.pp("generator_predictions").pp("dense"), H, E);
      mlm_norm_ = LayerNorm::load(w.pp("generator_predictions").pp("LayerNorm"), E, cfg_.layer_norm_eps);
      mlm_act_ = "gelu";
      auto head = w.pp("generator_lm_head");
      mlm_decoder_ = tie ? Tensor() : head.get("weight", {V, E});
      mlm_bias_ = head.get("bias", {V});
    } else {
      auto p = w.pp("cls").pp("predictions");
      mlm_dense_ = Linear::load(p.pp("transform").pp("dense"), H, H);
      mlm_norm_ = LayerNorm::load(p.pp("transform").pp("LayerNorm"), H, cfg_.layer_norm_eps);
      mlm_act_ = cfg_.hidden_act;
      mlm_decoder_ = tie ? Tensor() : p.pp("decoder").get("weight", {V, H});
      mlm_bias_ = p.has("bias") ? p.get("bias", {V}) : p.pp("decoder").get("bias", {V});
    }
  }

  Tensor mlm(const Tensor& h) const {
    Tensor x = mlm_norm_(ops::activation(mlm_dense_(h), mlm_act_));
    const Tensor& dec = mlm_decoder_.defined() ? mlm_decoder_ : encoder_->word_embeddings();
    return ops::linear(x, dec, mlm_bias_);
  }

  Flavour flavour_;
  Head head_ = Head::None;
  BertConfig cfg_;
  std::unique_ptr<BertEncoder> encoder_;
  int64_t labels_ = 2;
  Linear cls_dense_, cls_out_, mlm_dense_;
  LayerNorm mlm_norm_;
  std::string mlm_act_;
  Tensor mlm_decoder_, mlm_bias_;
};

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& w, const std::string& cls) {
  return std::make_unique<BertFamilyModel>(c, w, cls);
}

std::vector<std::string> classes(const std::string& prefix) {
  return {prefix + "Model", prefix + "ForMaskedLM", prefix + "ForSequenceClassification",
          prefix + "ForTokenClassification", prefix + "ForQuestionAnswering"};
}

}  // namespace
}  // namespace ia::bert

IA_REGISTER_MODEL(bert, {"bert", "encoder-only", ia::bert::classes("Bert"), ia::bert::make})
IA_REGISTER_MODEL(roberta, {"roberta", "encoder-only", ia::bert::classes("Roberta"), ia::bert::make})
IA_REGISTER_MODEL(camembert, {"camembert", "encoder-only", ia::bert::classes("Camembert"), ia::bert::make})
IA_REGISTER_MODEL(xlm_roberta, {"xlm-roberta", "encoder-only", ia::bert::classes("XLMRoberta"), ia::bert::make})
IA_REGISTER_MODEL(ernie, {"ernie", "encoder-only", ia::bert::classes("Ernie"), ia::bert::make})
IA_REGISTER_MODEL(electra, {"electra", "encoder-only", ia::bert::classes("Electra"), ia::bert::make})
