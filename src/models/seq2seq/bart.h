// The BART-family encoder-decoder (BART, mBART, PLBart, Marian, Pegasus, Blenderbot, M2M100) as a reusable
// class: the switches of BartVariant select the norms and positions; speech models (Whisper, Speech2Text) reuse
// the same layers behind their own encoder front-end (HF copies these layers from mBART). See docs/seq2seq.md.
#pragma once
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "models/seq2seq/seq2seq.h"
#include "models/seq2seq/sinusoid.h"

namespace ia::bart {

using layers::Embedding;
using layers::LayerNorm;
using layers::Linear;

enum class Positions {
  Learned,      // nn.Embedding indexed by arange(past, past + T) + offset
  Sinusoidal,   // Marian/Pegasus: fixed sin | cos halves, arange(past, past + T) (stored table used when present)
  FromPadding,  // M2M100: sin | cos, positions from the non-pad token count + padding_idx, pad rows zero
};

struct BartVariant {
  bool pre_norm = false;             // LN before each sub-layer, and a final `layer_norm` per stack
  bool layernorm_embedding = false;  // LN over the embeddings
  bool embedding_norm_before_positions_in_decoder = false;  // BlenderbotSmall decoder: LN(tokens) + positions
  Positions positions = Positions::Learned;
  int64_t position_offset = 0;       // learned tables: 2 for BART/mBART/PLBart
  // Speech models (Whisper, Speech2Text): the encoder reads input_features through a front-end the subclass
  // provides (encode_inputs), so there are no encoder token embeddings or encoder position tables here.
  bool speech_encoder = false;
  bool k_proj_bias = true;                                       // Whisper: k_proj has no bias
  std::string lm_head = "lm_head";                               // Whisper: proj_out
  std::string max_positions_key = "max_position_embeddings";     // speech: max_target_positions
};

// The variant of a text model_type (Unsupported for other types).
BartVariant variant_for(const std::string& type);

struct Attention {
  Linear q, k, v, out;
  static Attention load(const WeightLoader& w, int64_t d, bool k_bias) {
    return {Linear::load(w.pp("q_proj"), d, d), Linear::load(w.pp("k_proj"), d, d, k_bias),
            Linear::load(w.pp("v_proj"), d, d), Linear::load(w.pp("out_proj"), d, d)};
  }
};

struct Layer {
  Attention self_attn, cross_attn;
  LayerNorm self_attn_layer_norm, encoder_attn_layer_norm, final_layer_norm;
  Linear fc1, fc2;
};

inline Layer load_layer(const WeightLoader& w, int64_t d, int64_t ffn, bool decoder, bool k_bias) {
  Layer L;
  L.self_attn = Attention::load(w.pp("self_attn"), d, k_bias);
  L.self_attn_layer_norm = LayerNorm::load(w.pp("self_attn_layer_norm"), d, 1e-5);
  if (decoder) {
    L.cross_attn = Attention::load(w.pp("encoder_attn"), d, k_bias);
    L.encoder_attn_layer_norm = LayerNorm::load(w.pp("encoder_attn_layer_norm"), d, 1e-5);
  }
  L.fc1 = Linear::load(w.pp("fc1"), d, ffn);
  L.fc2 = Linear::load(w.pp("fc2"), ffn, d);
  L.final_layer_norm = LayerNorm::load(w.pp("final_layer_norm"), d, 1e-5);
  return L;
}

// Marian/Pegasus sinusoidal table row (float64 like numpy, then f32): columns [0, half) sin, [half, dim) cos,
// frequency of column pair c: pos / 10000^(2c / dim).
inline void sinusoid_row(int64_t pos, int64_t dim, float* out) {
  const int64_t sentinel = dim % 2 == 0 ? dim / 2 : dim / 2 + 1;
  for (int64_t j = 0; j < dim; ++j) {
    const double angle = static_cast<double>(pos) / std::pow(10000.0, 2.0 * static_cast<double>(j / 2) / dim);
    if (j % 2 == 0) out[j / 2] = static_cast<float>(std::sin(angle));
    else out[sentinel + j / 2] = static_cast<float>(std::cos(angle));
  }
}

class BartModel : public seq2seq::Seq2SeqLM {
 public:
  BartModel(const ModelConfig& c, const WeightLoader& root, const std::string& cls)
      : BartModel(c, root, cls, variant_for(c.model_type())) {}

  BartModel(const ModelConfig& c, const WeightLoader& root, const std::string& cls, BartVariant variant)
      : var_(std::move(variant)) {
    with_head_ = cls.find("ForConditionalGeneration") != std::string::npos || cls == "MarianMTModel";
    d_ = c.dim("d_model");
    vocab_ = c.dim("vocab_size");
    enc_heads_ = c.dim("encoder_attention_heads");
    dec_heads_ = c.dim("decoder_attention_heads");
    const int64_t enc_layers = c.dim("encoder_layers", 0, 1024), dec_layers = c.dim("decoder_layers", 0, 1024);
    const int64_t enc_ffn = c.dim("encoder_ffn_dim"), dec_ffn = c.dim("decoder_ffn_dim");
    max_pos_ = c.dim(var_.max_positions_key);
    pad_ = c.dim_or("pad_token_id", 1, 0);
    act_ = c.str_or("activation_function", "gelu");
    ops::activation_op(act_);
    IA_CHECK(d_ % enc_heads_ == 0 && d_ % dec_heads_ == 0, ErrorKind::Format,
             "{}: d_model {} is not a multiple of the attention heads ({}, {})", c.source(), d_, enc_heads_, dec_heads_);
    embed_scale_ = c.flag_or("scale_embedding", false) ? static_cast<float>(std::sqrt(static_cast<double>(d_))) : 1.0f;
    default_decoder_start_ = c.dim_or("decoder_start_token_id", pad_, 0);
    // Marian may use a separate target vocabulary (share_encoder_decoder_embeddings = false).
    target_vocab_ = c.model_type() == "marian" && !c.flag_or("share_encoder_decoder_embeddings", true)
                        ? c.dim_or("decoder_vocab_size", vocab_, 1)
                        : vocab_;

    const WeightLoader w = root.base("model");
    const WeightLoader enc = w.pp("encoder"), dec = w.pp("decoder");
    if (!var_.speech_encoder && w.has("shared.weight")) shared_ = Embedding::load(w.pp("shared"), vocab_, d_);
    if (!var_.speech_encoder)
      enc_embed_ = enc.has("embed_tokens.weight") ? Embedding::load(enc.pp("embed_tokens"), vocab_, d_) : shared_;
    dec_embed_ = dec.has("embed_tokens.weight") ? Embedding::load(dec.pp("embed_tokens"), target_vocab_, d_) : shared_;
    IA_CHECK((var_.speech_encoder || enc_embed_.weight.defined()) && dec_embed_.weight.defined(), ErrorKind::NotFound,
             "{}: no token embeddings (model.shared.weight)", root.checkpoint().path());
    if (var_.positions != Positions::FromPadding) {
      const int64_t rows = max_pos_ + var_.position_offset;
      if (var_.positions == Positions::Learned) {
        if (!var_.speech_encoder) enc_pos_ = enc.pp("embed_positions").get("weight", {rows, d_});
        dec_pos_ = dec.pp("embed_positions").get("weight", {rows, d_});
      } else {
        if (!var_.speech_encoder) enc_pos_ = enc.pp("embed_positions").get_optional("weight", {rows, d_});
        dec_pos_ = dec.pp("embed_positions").get_optional("weight", {rows, d_});
      }
    }
    if (var_.layernorm_embedding) {
      enc_emb_norm_ = LayerNorm::load(enc.pp("layernorm_embedding"), d_, 1e-5);
      dec_emb_norm_ = LayerNorm::load(dec.pp("layernorm_embedding"), d_, 1e-5);
    }
    for (int64_t i = 0; i < enc_layers; ++i) encoder_.push_back(load_layer(enc.pp("layers").pp(i), d_, enc_ffn, false, var_.k_proj_bias));
    for (int64_t i = 0; i < dec_layers; ++i) decoder_.push_back(load_layer(dec.pp("layers").pp(i), d_, dec_ffn, true, var_.k_proj_bias));
    if (var_.pre_norm) {
      enc_final_norm_ = LayerNorm::load(enc.pp("layer_norm"), d_, 1e-5);
      dec_final_norm_ = LayerNorm::load(dec.pp("layer_norm"), d_, 1e-5);
    }
    if (with_head_) {
      lm_head_ = c.flag_or("tie_word_embeddings", true) ? dec_embed_.weight
                                                         : root.pp(var_.lm_head).get("weight", {target_vocab_, d_});
      final_logits_bias_ = root.get_optional("final_logits_bias", {1, target_vocab_});
    }
  }

  int64_t vocab_size() const override { return target_vocab_; }
  int64_t input_vocab_size() const override { return vocab_; }
  bool has_lm_head() const override { return with_head_; }
  int64_t max_decoder_positions() const override {
    return var_.positions == Positions::FromPadding ? 0 : max_pos_;
  }

  Tensor encode(const Tensor& ids, const Tensor& mask, std::vector<Tensor>* hidden_states) override {
    IA_CHECK(!var_.speech_encoder, ErrorKind::Unsupported, "unsupported: {} encodes input_features, not input_ids",
             model_type_);
    Tensor x = ops::add(embed_tokens(enc_embed_, ids), positions(enc_pos_, ids, 0));
    if (var_.layernorm_embedding) x = enc_emb_norm_(x);
    return run_encoder(x, mask, hidden_states);
  }

  // The encoder layers (and final norm) over embedded inputs x [B, S, D]; mask [B, S] (undefined: none).
  Tensor run_encoder(Tensor x, const Tensor& mask, std::vector<Tensor>* hidden_states) const {
    const Device dev = dec_embed_.weight.device();
    AttentionArgs args;
    args.scale = scaling(enc_heads_);
    if (mask.defined()) args.key_mask = mask.to(dev);
    for (const Layer& L : encoder_) {
      if (hidden_states) hidden_states->push_back(x);
      auto self = [&](const Tensor& h) {
        return attention(L.self_attn, h, layers::split_heads(L.self_attn.k(h), enc_heads_),
                         layers::split_heads(L.self_attn.v(h), enc_heads_), enc_heads_, args);
      };
      x = sublayer(x, L.self_attn_layer_norm, self);
      x = sublayer(x, L.final_layer_norm, [&](const Tensor& h) { return ffn(L, h); });
    }
    if (var_.pre_norm) x = enc_final_norm_(x);
    if (hidden_states) hidden_states->push_back(x);
    return x;
  }

  std::unique_ptr<seq2seq::DecoderState> new_state(const Tensor& encoder_out, const Tensor& encoder_mask,
                                                   int64_t capacity) override {
    const Device dev = dec_embed_.weight.device();
    auto st = std::make_unique<seq2seq::DecoderState>(static_cast<int64_t>(decoder_.size()), encoder_out.dim(0),
                                                      capacity, dec_heads_, d_ / dec_heads_, dev);
    for (const Layer& L : decoder_) {
      st->cross_k.push_back(layers::split_heads(L.cross_attn.k(encoder_out), dec_heads_));
      st->cross_v.push_back(layers::split_heads(L.cross_attn.v(encoder_out), dec_heads_));
    }
    if (encoder_mask.defined()) st->encoder_mask = encoder_mask.to(dev);
    return st;
  }

  Tensor decode(seq2seq::DecoderState& st, const seq2seq::DecodeInput& in) override {
    const Device dev = dec_embed_.weight.device();
    const int64_t q0 = st.length(), T = in.input_ids.dim(1);
    const Tensor tokens = embed_tokens(dec_embed_, in.input_ids);
    const Tensor pos = positions(dec_pos_, in.input_ids, q0);
    Tensor x;
    if (var_.embedding_norm_before_positions_in_decoder) {
      x = ops::add(dec_emb_norm_(tokens), pos);
    } else {
      x = ops::add(tokens, pos);
      if (var_.layernorm_embedding) x = dec_emb_norm_(x);
    }
    AttentionArgs self_args;
    self_args.scale = scaling(dec_heads_);
    self_args.causal = true;
    self_args.q_offset = q0;
    if (in.attention_mask.defined()) self_args.key_mask = in.attention_mask.to(dev);
    AttentionArgs cross_args;
    cross_args.scale = self_args.scale;
    cross_args.key_mask = st.encoder_mask;
    for (size_t i = 0; i < decoder_.size(); ++i) {
      const Layer& L = decoder_[i];
      if (in.hidden_states) in.hidden_states->push_back(x);
      x = sublayer(x, L.self_attn_layer_norm, [&](const Tensor& h) {
        auto [k, v] = st.append(static_cast<int64_t>(i), L.self_attn.k(h), L.self_attn.v(h));
        return attention(L.self_attn, h, k, v, dec_heads_, self_args);
      });
      x = sublayer(x, L.encoder_attn_layer_norm, [&](const Tensor& h) {
        return attention(L.cross_attn, h, st.cross_k[i], st.cross_v[i], dec_heads_, cross_args);
      });
      x = sublayer(x, L.final_layer_norm, [&](const Tensor& h) { return ffn(L, h); });
    }
    st.advance(T);
    if (var_.pre_norm) x = dec_final_norm_(x);
    if (in.hidden_states) in.hidden_states->push_back(x);
    return x;
  }

  Tensor lm_logits(const Tensor& h) const override {
    if (!with_head_) return Tensor();
    Tensor logits = ops::linear(h, lm_head_);
    return final_logits_bias_.defined() ? ops::add(logits, final_logits_bias_) : logits;
  }

 protected:
  float scaling(int64_t heads) const {
    return static_cast<float>(std::pow(static_cast<double>(d_ / heads), -0.5));
  }

  // Residual sub-layer: pre-LN  x + f(LN(x));  post-LN  LN(x + f(x)).
  template <typename F>
  Tensor sublayer(const Tensor& x, const LayerNorm& norm, F&& f) const {
    if (var_.pre_norm) return ops::add(x, f(norm(x)));
    return norm(ops::add(x, f(x)));
  }

  Tensor attention(const Attention& a, const Tensor& h, const Tensor& k, const Tensor& v, int64_t heads,
                   const AttentionArgs& args) const {
    return a.out(seq2seq::attend(a.q(h), k, v, heads, args));
  }

  Tensor ffn(const Layer& L, const Tensor& h) const { return L.fc2(ops::activation(L.fc1(h), act_)); }

  Tensor embed_tokens(const Embedding& table, const Tensor& ids) const {
    const Tensor x = table(ids.to(table.weight.device()));
    return embed_scale_ == 1.0f ? x : ops::scale(x, embed_scale_);
  }

  // Position embeddings [B or 1, T, D] for tokens `ids` [B, T] at decoder/encoder positions [past, past + T).
  Tensor positions(const Tensor& table, const Tensor& ids, int64_t past) const {
    const int64_t B = ids.dim(0), T = ids.dim(1);
    const Device dev = dec_embed_.weight.device();
    if (var_.positions == Positions::FromPadding) {
      // create_position_ids_from_input_ids: (cumsum(mask) + past) * mask + padding_idx, over this call's tokens.
      Tensor out = Tensor::empty({B, T, d_}, DType::F32);
      const int64_t* ip = ids.data<int64_t>();
      for (int64_t b = 0; b < B; ++b) {
        int64_t run = 0;
        for (int64_t t = 0; t < T; ++t) {
          const bool real = ip[b * T + t] != pad_;
          run += real;
          seq2seq::fairseq_sinusoid_row(real ? run + past + pad_ : pad_, d_, pad_, out.data<float>() + (b * T + t) * d_);
        }
      }
      return out.to(dev);
    }
    const int64_t first = past + var_.position_offset;
    IA_CHECK(past + T <= max_pos_, ErrorKind::InvalidArgument, "positions [{}, {}) exceed max_position_embeddings {}",
             past, past + T, max_pos_);
    if (table.defined()) return table.slice(0, first, first + T).unsqueeze(0);
    Tensor out = Tensor::empty({1, T, d_}, DType::F32);
    for (int64_t t = 0; t < T; ++t) sinusoid_row(first + t, d_, out.data<float>() + t * d_);
    return out.to(dev);
  }

  BartVariant var_;
  bool with_head_ = true;
  int64_t d_ = 0, vocab_ = 0, target_vocab_ = 0, enc_heads_ = 0, dec_heads_ = 0, max_pos_ = 0, pad_ = 1;
  float embed_scale_ = 1.0f;
  std::string act_;
  Embedding shared_, enc_embed_, dec_embed_;
  Tensor enc_pos_, dec_pos_;
  LayerNorm enc_emb_norm_, dec_emb_norm_, enc_final_norm_, dec_final_norm_;
  std::vector<Layer> encoder_, decoder_;
  Tensor lm_head_, final_logits_bias_;
};

}  // namespace ia::bart
