// DeBERTa-v2/v3 (HF modeling_deberta_v2.py): disentangled attention with content->position (c2p) and
// position->content (p2c) terms over log-bucketed relative positions, XSoftmax masking of padded rows.
#include <cmath>

#include "models/encoder/bert.h"

namespace ia::deberta_v2 {
namespace {

using layers::Embedding;
using layers::LayerNorm;
using layers::Linear;

struct Config {
  int64_t vocab = 0, hidden = 0, layers = 0, heads = 0, head_dim = 0, intermediate = 0, max_pos = 0;
  int64_t type_vocab = 0, embedding_size = 0, position_buckets = -1, max_relative_positions = -1, att_span = 0;
  bool position_biased_input = true, relative_attention = false, share_att_key = false;
  bool c2p = false, p2c = false, norm_rel_ebd = false;
  std::string act = "gelu", pooler_act = "gelu";
  int64_t pooler_hidden = 0;
  double eps = 1e-7;
};

Config parse(const ModelConfig& c) {
  Config k;
  k.vocab = c.dim("vocab_size");
  k.hidden = c.dim("hidden_size");
  k.layers = c.dim("num_hidden_layers", 0, 1024);
  k.heads = c.dim("num_attention_heads");
  k.head_dim = c.dim_or("attention_head_size", k.hidden / k.heads, 1);
  k.intermediate = c.dim("intermediate_size");
  k.max_pos = c.dim("max_position_embeddings");
  k.type_vocab = c.dim_or("type_vocab_size", 0, 0);
  k.embedding_size = c.dim_or("embedding_size", k.hidden, 1);
  k.position_biased_input = c.flag_or("position_biased_input", true);
  k.relative_attention = c.flag_or("relative_attention", false);
  k.share_att_key = c.flag_or("share_att_key", false);
  k.position_buckets = c.has("position_buckets") ? c.json()["position_buckets"].get<int64_t>() : -1;
  k.max_relative_positions = c.has("max_relative_positions") ? c.json()["max_relative_positions"].get<int64_t>() : -1;
  if (k.max_relative_positions < 1) k.max_relative_positions = k.max_pos;
  k.att_span = k.position_buckets > 0 ? k.position_buckets : k.max_relative_positions;
  if (c.has("pos_att_type")) {
    const auto& p = c.json()["pos_att_type"];
    std::vector<std::string> types;
    if (p.is_array()) {
      for (const auto& t : p) types.push_back(t.get<std::string>());
    } else if (p.is_string()) {
      std::string s = p.get<std::string>();
      size_t start = 0;
      while (start <= s.size()) {
        size_t bar = s.find('|', start);
        types.push_back(s.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
        if (bar == std::string::npos) break;
        start = bar + 1;
      }
    }
    for (auto& t : types) {
      t.erase(0, t.find_first_not_of(' '));
      t.erase(t.find_last_not_of(' ') + 1);
      if (t == "c2p") k.c2p = true;
      else if (t == "p2c") k.p2c = true;
      else if (!t.empty() && t != "none")
        fail(ErrorKind::Unsupported, "{}: unsupported pos_att_type '{}'", c.source(), t);
    }
  }
  const std::string norm = c.str_or("norm_rel_ebd", "none");
  k.norm_rel_ebd = norm.find("layer_norm") != std::string::npos;
  k.act = c.str_or("hidden_act", "gelu");
  ops::activation_op(k.act);
  k.pooler_act = c.str_or("pooler_hidden_act", "gelu");
  k.pooler_hidden = c.dim_or("pooler_hidden_size", k.hidden, 1);
  k.eps = c.number_or("layer_norm_eps", 1e-7);
  IA_CHECK(c.dim_or("conv_kernel_size", 0, 0) == 0, ErrorKind::Unsupported,
           "{}: unsupported conv_kernel_size {} (DeBERTa-v2 convolution layer)", c.source(),
           c.dim_or("conv_kernel_size", 0, 0));
  return k;
}

// HF make_log_bucket_position, evaluated in float32 as torch does.
int64_t bucket(int64_t rel, int64_t bucket_size, int64_t max_position) {
  const int64_t mid = bucket_size / 2;
  const int64_t sign = rel > 0 ? 1 : (rel < 0 ? -1 : 0);
  const int64_t abs_pos = (rel < mid && rel > -mid) ? mid - 1 : std::llabs(rel);
  if (abs_pos <= mid) return rel;
  const float num = std::log(static_cast<float>(abs_pos) / static_cast<float>(mid));
  const float den = std::log(static_cast<float>(static_cast<double>(max_position - 1) / mid));
  const float log_pos = std::ceil(num / den * static_cast<float>(mid - 1)) + static_cast<float>(mid);
  return static_cast<int64_t>(log_pos) * sign;
}

struct Layer {
  Linear q, k, v, pos_k, pos_q, attn_out, inter, out;
  LayerNorm attn_norm, out_norm;
};

class DebertaV2 : public Model {
 public:
  DebertaV2(const ModelConfig& c, const WeightLoader& root, const std::string& cls) : k_(parse(c)) {
    head_ = cls == "DebertaV2Model" ? 0 : cls == "DebertaV2ForSequenceClassification" ? 1
          : cls == "DebertaV2ForTokenClassification" ? 2 : cls == "DebertaV2ForQuestionAnswering" ? 3 : -1;
    IA_CHECK(head_ >= 0, ErrorKind::Unsupported, "unsupported: deberta-v2/{}", cls);
    const WeightLoader w = root.base("deberta");
    const int64_t H = k_.hidden, E = k_.embedding_size, A = k_.heads * k_.head_dim;
    auto emb = w.pp("embeddings");
    word_ = Embedding::load(emb.pp("word_embeddings"), k_.vocab, E);
    if (k_.position_biased_input) pos_ = Embedding::load(emb.pp("position_embeddings"), k_.max_pos, E);
    if (k_.type_vocab > 0) type_ = Embedding::load(emb.pp("token_type_embeddings"), k_.type_vocab, E);
    if (E != H) embed_proj_ = Linear::load(emb.pp("embed_proj"), E, H, false);
    emb_norm_ = LayerNorm::load(emb.pp("LayerNorm"), H, k_.eps);
    auto enc = w.pp("encoder");
    if (k_.relative_attention) {
      rel_emb_ = enc.pp("rel_embeddings").get("weight", {k_.att_span * 2, H});
      if (k_.norm_rel_ebd) rel_norm_ = LayerNorm::load(enc.pp("LayerNorm"), H, k_.eps);
    }
    for (int64_t i = 0; i < k_.layers; ++i) {
      auto l = enc.pp("layer").pp(i);
      auto s = l.pp("attention").pp("self");
      Layer L;
      L.q = Linear::load(s.pp("query_proj"), H, A);
      L.k = Linear::load(s.pp("key_proj"), H, A);
      L.v = Linear::load(s.pp("value_proj"), H, A);
      if (k_.relative_attention && !k_.share_att_key) {
        if (k_.c2p) L.pos_k = Linear::load(s.pp("pos_key_proj"), H, A);
        if (k_.p2c) L.pos_q = Linear::load(s.pp("pos_query_proj"), H, A);
      }
      L.attn_out = Linear::load(l.pp("attention").pp("output").pp("dense"), A, H);
      L.attn_norm = LayerNorm::load(l.pp("attention").pp("output").pp("LayerNorm"), H, k_.eps);
      L.inter = Linear::load(l.pp("intermediate").pp("dense"), H, k_.intermediate);
      L.out = Linear::load(l.pp("output").pp("dense"), k_.intermediate, H);
      L.out_norm = LayerNorm::load(l.pp("output").pp("LayerNorm"), H, k_.eps);
      layers_.push_back(std::move(L));
    }
    const int64_t labels = bert::num_labels(c);
    if (head_ == 1) {
      pooler_ = Linear::load(root.pp("pooler").pp("dense"), k_.pooler_hidden, k_.pooler_hidden);
      classifier_ = Linear::load(root.pp("classifier"), k_.pooler_hidden, labels);
    } else if (head_ == 2) {
      classifier_ = Linear::load(root.pp("classifier"), H, labels);
    } else if (head_ == 3) {
      classifier_ = Linear::load(root.pp("qa_outputs"), H, 2);
    }
  }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    const Tensor ids = inputs.at("input_ids").to(DType::I64).contiguous();
    const int64_t B = ids.dim(0), S = ids.dim(1);
    const Device dev = word_.weight.device();
    Tensor mask = bert::mask_or_ones(inputs, ids);
    Tensor maskf = mask.to(DType::F32).to(dev);
    Tensor x = word_(ids.to(dev));
    if (pos_.weight.defined()) {
      IA_CHECK(S <= k_.max_pos, ErrorKind::InvalidArgument, "sequence length {} exceeds max_position_embeddings {}",
               S, k_.max_pos);
      Tensor p = inputs.count("position_ids") ? inputs.at("position_ids").to(DType::I64) : layers::arange(S).view({1, S});
      x = ops::add(x, pos_(p.to(dev)));
    }
    if (type_.weight.defined()) {
      Tensor t = inputs.count("token_type_ids") ? inputs.at("token_type_ids").to(DType::I64) : layers::full_i64({B, S}, 0);
      x = ops::add(x, type_(t.to(dev)));
    }
    if (embed_proj_.defined()) x = embed_proj_(x);
    x = ops::mul(emb_norm_(x), maskf.view({B, S, 1}));

    Tensor rel;
    Tensor c2p_index, p2c_index;
    if (k_.relative_attention) {
      rel = rel_norm_.weight.defined() ? rel_norm_(rel_emb_) : rel_emb_;
      build_indices(S, c2p_index, p2c_index);
    }
    std::vector<Tensor> hs{x};
    for (const auto& L : layers_) {
      x = layer(L, x, mask, rel, c2p_index, p2c_index);
      hs.push_back(x);
    }
    NamedTensors out;
    if (head_ == 0) {
      out.emplace_back("last_hidden_state", x);
    } else if (head_ == 1) {
      Tensor pooled = ops::activation(pooler_(x.select(1, 0)), k_.pooler_act);
      out.emplace_back("logits", classifier_(pooled));
    } else if (head_ == 2) {
      out.emplace_back("logits", classifier_(x));
    } else {
      bert::append_span_logits(out, classifier_(x));
    }
    if (head_ != 0) out.emplace_back("base.last_hidden_state", x);
    if (opts.output_hidden_states) bert::append_hidden_states(out, hs);
    return out;
  }

 private:
  void build_indices(int64_t S, Tensor& c2p, Tensor& p2c) const {
    const int64_t span = k_.att_span;
    c2p = Tensor::empty({S, S}, DType::I64);
    p2c = Tensor::empty({S, S}, DType::I64);
    auto rel = [&](int64_t a, int64_t b) {
      const int64_t r = a - b;
      return (k_.position_buckets > 0 && k_.max_relative_positions > 0)
                 ? bucket(r, k_.position_buckets, k_.max_relative_positions)
                 : r;
    };
    for (int64_t i = 0; i < S; ++i)
      for (int64_t j = 0; j < S; ++j) {
        c2p.data<int64_t>()[i * S + j] = std::clamp<int64_t>(rel(i, j) + span, 0, 2 * span - 1);
        p2c.data<int64_t>()[i * S + j] = std::clamp<int64_t>(-rel(i, j) + span, 0, 2 * span - 1);
      }
    c2p = c2p.to(word_.weight.device());
    p2c = p2c.to(word_.weight.device());
  }

  Tensor layer(const Layer& L, const Tensor& h, const Tensor& mask, const Tensor& rel,
               const Tensor& c2p_index, const Tensor& p2c_index) const {
    const int64_t heads = k_.heads;
    Tensor q = layers::split_heads(L.q(h), heads);
    Tensor k = layers::split_heads(L.k(h), heads);
    Tensor v = layers::split_heads(L.v(h), heads);
    const int64_t scale_factor = 1 + (k_.c2p ? 1 : 0) + (k_.p2c ? 1 : 0);
    const float inv_scale = 1.0f / std::sqrt(static_cast<float>(k_.head_dim * scale_factor));
    AttentionArgs args;
    args.scale = inv_scale;
    args.key_mask = mask;
    args.query_mask = mask;  // HF masks scores with mask_i * mask_j: padded query rows are fully masked
    if (k_.relative_attention && (k_.c2p || k_.p2c)) {
      Tensor score;
      Tensor rel3 = rel.view({1, rel.dim(0), rel.dim(1)});
      if (k_.c2p) {
        const Linear& pk = k_.share_att_key ? L.k : L.pos_k;
        Tensor pos_key = layers::split_heads(pk(rel3), heads).squeeze(0);  // [H, 2span, D]
        Tensor att = ops::matmul(q, pos_key, false, true);                // [B, H, S, 2span]
        score = ops::gather_last(att, c2p_index);
      }
      if (k_.p2c) {
        const Linear& pq = k_.share_att_key ? L.q : L.pos_q;
        Tensor pos_query = layers::split_heads(pq(rel3), heads).squeeze(0);
        Tensor att = ops::matmul(k, pos_query, false, true);              // [B, H, S(key), 2span]
        Tensor p2c = ops::gather_last(att, p2c_index).transpose(-1, -2);  // [B, H, q, k]
        score = score.defined() ? ops::add(score, p2c) : p2c.contiguous();
      }
      args.bias = ops::scale(score, inv_scale);
    }
    Tensor ctx = layers::merge_heads(ops::attention(q, k, v, args));
    Tensor a = L.attn_norm(ops::add(L.attn_out(ctx), h));
    Tensor i = ops::activation(L.inter(a), k_.act);
    return L.out_norm(ops::add(L.out(i), a));
  }

  Config k_;
  int head_ = 0;
  Embedding word_, pos_, type_;
  Linear embed_proj_, pooler_, classifier_;
  LayerNorm emb_norm_, rel_norm_;
  Tensor rel_emb_;
  std::vector<Layer> layers_;
};

}  // namespace
}  // namespace ia::deberta_v2

IA_REGISTER_MODEL(deberta_v2,
                  {"deberta-v2", "encoder-only",
                   {"DebertaV2Model", "DebertaV2ForSequenceClassification", "DebertaV2ForTokenClassification",
                    "DebertaV2ForQuestionAnswering"},
                   [](const ia::ModelConfig& c, const ia::WeightLoader& w, const std::string& cls) {
                     return std::unique_ptr<ia::Model>(new ia::deberta_v2::DebertaV2(c, w, cls));
                   }})
