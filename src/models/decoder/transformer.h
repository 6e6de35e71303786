// The shared decoder-only transformer: one configurable block stack that the architecture files
// (llama.cpp, gpt2.cpp, falcon.cpp, ...) fill from their HF config and weights. It covers what those HF
// modeling files vary: rotary (full/partial, NeoX halves vs GPT-J pairs, rope_scaling types), learned or
// sinusoidal positions, ALiBi, GQA/MQA, fused QKV layouts, q/k norms, sliding windows, pre-norm / parallel /
// post-norm blocks, gated MLPs, embedding/residual/logit scaling and soft-capping, tied embeddings, and
// cross-attention over encoder states (GPT-2 add_cross_attention, TrOCR, BERT/BLIP text decoders).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "io/config.h"
#include "models/causal_lm.h"
#include "models/layers.h"

namespace ia::decoder {

// A normalization as HF's modules compute it (over the last dim; PerHead: x [B, S, H, D], weight [H, D]).
struct Norm {
  enum class Kind { None, LayerNorm, RMSNorm, LayerNormPerHead };
  Kind kind = Kind::None;
  Tensor weight, bias;
  float eps = 1e-5f;
  bool unit_offset = false;  // RMSNorm: x * (1 + w) (Gemma)

  static Norm layer(const WeightLoader& w, int64_t dim, double eps, bool with_bias = true);
  static Norm layer_1p(const WeightLoader& w, int64_t dim, double eps);  // Nemotron LayerNorm1P: w + 1
  static Norm layer_plain(double eps);                                  // no affine parameters (OLMo)
  static Norm rms(const WeightLoader& w, int64_t dim, double eps, bool unit_offset = false);
  static Norm per_head(const WeightLoader& w, int64_t heads, int64_t dim, double eps);  // weight [H, D]
  bool defined() const { return kind != Kind::None; }
  Tensor operator()(const Tensor& x) const;
};

// Rotary embedding frequencies: rope_scaling types default, linear, dynamic, yarn, longrope/su, llama3.
struct Rope {
  int64_t dim = 0;           // rotated features per head (0: no rotary)
  bool interleaved = false;  // GPT-J pairs (2i, 2i+1) instead of NeoX halves
  std::string type = "default";
  double base = 10000.0;
  double factor = 1.0;
  int64_t max_positions = 0;           // dynamic: beyond this the base grows
  int64_t original_max_positions = 0;  // longrope: beyond this the long factors apply
  float attention_factor = 1.0f;       // multiplies cos/sin (yarn, longrope)
  std::vector<float> inv_freq, long_inv_freq;

  // Reads rope_theta (or `base`) and rope_scaling from the config; throws Unsupported naming an unknown type.
  static Rope from_config(const ModelConfig& c, int64_t rot_dim, bool interleaved, double base);
  // cos/sin [B, S, dim/2] for i64 positions [B, S].
  void tables(const Tensor& position_ids, Tensor& cos, Tensor& sin) const;
};

enum class QkvLayout {
  Separate,         // q_proj, k_proj, v_proj
  Concat,           // one projection: [q (Hq*D) | k (Hkv*D) | v (Hkv*D)]
  HeadInterleaved,  // per head [q|k|v] (GPT-NeoX, BLOOM, Persimmon, Falcon without MQA): view [H, 3, D]
  Grouped,          // per KV group [q * (Hq/Hkv) | k | v] (Falcon new_decoder_architecture)
  CodeGen,          // mp_num=4 blocks of [q | v | k] (CodeGen)
};

struct Attention {
  QkvLayout layout = QkvLayout::Separate;
  layers::Linear q, k, v, qkv, o;
  Norm q_norm, k_norm;     // applied per head ([B, S, H, D]) unless full_qk_norm
  bool full_qk_norm = false;  // OLMo2: norm over all heads of the projection output
  float clip_qkv = 0.0f;      // OLMo: clamp q/k/v to [-clip, clip]
  float scale = 1.0f;
  int64_t sliding_window = 0;
};

struct Mlp {
  layers::Linear up, gate, down, gate_up;  // gate_up: fused [gate | up] (Phi-3, GLM)
  std::string act;                         // HF activation name; "relu2" = relu(x)^2
  // Replaces the dense MLP when set: a mixture-of-experts block [B, S, E] -> [B, S, E] (src/models/moe/).
  std::function<Tensor(const Tensor&)> block;
  Tensor operator()(const Tensor& x) const;
};

// Attention from decoder queries to encoder states: keys/values are projected once per sequence from the
// encoder output (CrossKVCache) with as many heads as the self-attention.
struct CrossAttention {
  layers::Linear q, k, v, kv, o;  // kv: fused [k | v] (GPT-2 c_attn), else separate k and v
  int64_t width = 0;              // width of the encoder states k/v read
  float scale = 1.0f;
  bool defined() const { return o.defined(); }
};

struct Layer {
  Norm ln_attn, ln_mlp;       // pre-norms (ln_mlp undefined in a parallel block: the MLP reuses ln_attn)
  Norm post_attn, post_mlp;   // norms on the sublayer outputs (Gemma-2, OLMo-2)
  Attention attn;
  Norm ln_cross;              // PreNorm: x += cross(ln_cross(x)); PostNorm: x = ln_cross(x + cross(x))
  CrossAttention cross;       // between self-attention and MLP when defined
  Mlp mlp;
};

enum class Positions {
  Arange,           // 0..S-1 (most models)
  MaskCumsum,       // cumsum(mask) * mask - 1 (OPT, BioGPT)
  MaskCumsumFill1,  // cumsum(mask) - 1, padding set to 1 (GPTBigCode)
};

enum class BlockStyle {
  PreNorm,   // x += attn(ln_attn(x)); x += mlp(ln_mlp(x))
  Parallel,  // x += attn(ln_attn(x)) + mlp(ln_mlp(x) or ln_attn(x))
  PostNorm,  // x = ln_attn(x + attn(x)); x = ln_mlp(x + mlp(x))   (OPT with do_layer_norm_before=False)
};

struct Spec {
  int64_t vocab = 0, hidden = 0, heads = 0, kv_heads = 0, head_dim = 0;
  int64_t max_positions = 0;  // learned/sinusoidal position tables bound the sequence length; 0 = unbounded
  Tensor embed;               // [V, E]
  float embed_scale = 1.0f;
  Tensor embed_add;           // [E] added to every token embedding (BERT's token_type_embeddings[0])
  Tensor pos_table;           // [rows, E] learned or sinusoidal; row = position + pos_offset
  int64_t pos_offset = 0;
  Positions positions = Positions::Arange;  // HF forward's default position_ids
  // The embeddings ignore the caller's position_ids and use the cache position past..past+S (HF BERT/BLIP text
  // embeddings, TrOCR learned positions: generate passes them no position_ids).
  bool positions_from_cache = false;
  // >= 0: table rows come from the token ids like fairseq (TrOCR sinusoidal): a token equal to this padding
  // index gets its row, others padding_idx + past + their running count of non-padding tokens in the call.
  int64_t positions_from_ids_padding = -1;
  Norm embed_norm;                   // BLOOM word_embeddings_layernorm
  layers::Linear project_in, project_out;  // OPT word_embed_proj_dim != hidden_size
  Rope rope;
  std::vector<float> alibi_slopes;  // per head; bias = slope * key index
  BlockStyle style = BlockStyle::PreNorm;
  bool residual_from_norm = false;  // BLOOM apply_residual_connection_post_layernorm
  float residual_multiplier = 1.0f;  // Granite
  std::vector<Layer> layers;
  Norm final_norm;
  bool final_norm_in_hidden_states = true;  // false: HF's last hidden_states entry is taken before final_norm
  // transformers' HybridCache (Gemma-2 generate): a one-token decode step of a sliding layer sees the last
  // `window` keys but masks them with the padding mask of the first `window` positions. Applied only when
  // StepInput::hf_cache_compat is set (CausalLM::generate, i.e. conformance), never in the native engine.
  bool hybrid_cache_sliding_mask = false;
  // BERT-style prediction-head transform before the lm_head: head_norm(act(head_dense(x))).
  layers::Linear head_dense;
  std::string head_act;
  Norm head_norm;
  Tensor lm_head, lm_head_bias;
  float logit_scale = 1.0f;   // Cohere logit_scale, Granite 1/logits_scaling
  float final_softcap = 0.0f;  // Gemma-2 final_logit_softcapping
  float attn_softcap = 0.0f;   // Gemma-2 attn_logit_softcapping
};

// The lm_head: a separate `lm_head` (or `name`) unless tie_word_embeddings (HF default per model type).
void load_lm_head(Spec& s, const ModelConfig& c, const WeightLoader& root, bool tie_default,
                  const std::string& name = "lm_head", bool with_bias = false);
// num_key_value_heads with num_attention_heads as fallback; checks divisibility.
int64_t kv_heads_of(const ModelConfig& c, int64_t heads, const std::string& key = "num_key_value_heads");
// BLOOM/Falcon ALiBi slopes (build_alibi_tensor).
std::vector<float> bloom_alibi_slopes(int64_t heads);

// A KV cache plus the per-layer cross-attention keys/values [B, H, S_enc, D] of one encoder output.
class CrossKVCache : public KVCache {
 public:
  using KVCache::KVCache;
  std::vector<Tensor> cross_k, cross_v;  // per layer; undefined for layers without cross-attention
  Tensor encoder_mask;                   // [B, S_enc], 0 = padding; undefined: none
};

class TransformerLM : public CausalLM {
 public:
  explicit TransformerLM(Spec spec);
  std::unique_ptr<DecoderState> new_state(int64_t batch, int64_t capacity) const override;
  Tensor step(DecoderState& state, const StepInput& in) override;
  int64_t vocab_size() const override { return s_.vocab; }
  int64_t max_positions() const override { return s_.max_positions; }
  Tensor default_position_ids(const Tensor& attention_mask) const override;
  int64_t hidden_size() const override { return s_.hidden; }
  bool accepts_inputs_embeds() const override { return true; }
  Tensor embed_tokens(const Tensor& input_ids) const override;
  int64_t cross_attention_width() const override;
  std::unique_ptr<DecoderState> new_cross_state(const Tensor& encoder_states, const Tensor& encoder_mask,
                                                int64_t capacity) const override;
  const Spec& spec() const { return s_; }

 private:
  Tensor attention(const Layer& L, int64_t li, const Tensor& x, KVCache& cache, const Tensor& mask,
                   const Tensor& cos, const Tensor& sin, const Tensor& alibi, bool hf_cache_compat) const;
  Tensor cross_attention(const Layer& L, int64_t li, const Tensor& x, const CrossKVCache& cache) const;
  Tensor embeddings(const StepInput& in, const Tensor& ids, const Tensor& pos, int64_t past) const;
  Spec s_;
};

}  // namespace ia::decoder
