// The mixture-of-experts pieces shared by the architecture files in src/models/moe/: HF's routing rules
// (softmax before/after top-k, renormalisation, PhiMoE's sparsemixer, DBRX's p-norm), a set of expert MLPs with
// a sparse dispatch (each expert runs one linear chain over the tokens routed to it), and `MoeLM`, the shared
// decoder transformer (decoder::TransformerLM) whose MLPs are MoE blocks and whose forward also returns HF's
// `router_logits.i`. See docs/moe.md.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "models/decoder/transformer.h"

namespace ia::moe {

// Per-token expert choice: experts[t * k + j] with weight weights[t * k + j].
struct Routing {
  int64_t tokens = 0, k = 0;
  std::vector<int64_t> experts;
  std::vector<float> weights;
};

enum class RouterKind {
  SoftmaxTopK,  // softmax over all experts, top-k of the probabilities (Mixtral, Qwen2-MoE, OLMoE, DBRX)
  TopKSoftmax,  // top-k of the logits, softmax over those k (GraniteMoE)
  SparseMixer,  // PhiMoE sparsemixer, eval path (top-2 with masked softmax multipliers)
};

struct Router {
  layers::Linear gate;  // [E, H]
  RouterKind kind = RouterKind::SoftmaxTopK;
  int64_t experts = 0, top_k = 0;
  float norm_p = 0.0f;         // SoftmaxTopK: > 0 divides the top-k weights by their p-norm (1: renormalise)
  float jitter_eps = 0.0f;     // SparseMixer: router_jitter_noise
  bool record_probs = false;   // DBRX reports the softmax probabilities as its router_logits
  // Routing for router logits [T, E] (host f32).
  Routing route(const Tensor& logits) const;
};

// One expert's gated MLP: down(act(gate(x)) * up(x)); gate_up (when set) holds [gate | up] as one matrix
// (GraniteMoE's input_linear rows), run as a single linear.
struct Expert {
  layers::Linear gate, up, down, gate_up;
};

struct Experts {
  std::vector<Expert> experts;
  std::string act;
  // x [T, H]; each expert runs over the rows routed to it; rows are combined in expert order like HF's
  // index_add_ loop. Returns [T, H].
  Tensor operator()(const Tensor& x, const Routing& r) const;
};

// Collects router logits during a forward pass (MoeLM::forward turns it on).
struct RouterLog {
  bool on = false;
  std::vector<Tensor> logits;
};

// A sparse MoE block [B, S, H] -> [B, S, H] with an optional shared expert (Qwen2-MoE: sigmoid-gated).
struct MoeBlock {
  Router router;
  Experts experts;
  decoder::Mlp shared;          // shared expert (undefined: none)
  layers::Linear shared_gate;   // [1, H]
  std::shared_ptr<RouterLog> log;
  Tensor operator()(const Tensor& x) const;
};

// The decoder transformer with MoE blocks; forward() adds "router_logits.i" ([B*S, E] per MoE layer, in layer
// order, as HF returns them with output_router_logits).
class MoeLM : public decoder::TransformerLM {
 public:
  MoeLM(decoder::Spec spec, std::shared_ptr<RouterLog> log);
  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override;

 private:
  std::shared_ptr<RouterLog> log_;
};

// Installs `block` as layer's MLP.
void set_block(decoder::Layer& layer, MoeBlock block);

// Loads one expert's gated MLP from `w` (no biases): gate/up [I, H], down [H, I].
Expert load_expert(const WeightLoader& w, int64_t hidden, int64_t inter, const std::string& gate,
                   const std::string& up, const std::string& down);

// The attention/norm skeleton the Llama-derived MoE files share (model.embed_tokens, model.layers.i.self_attn.
// {q,k,v,o}_proj, input_layernorm, post_attention_layernorm, model.norm, lm_head); the caller fills each
// layer's MLP. Switches are the per-architecture differences.
struct LlamaStyle {
  bool layer_norm = false;     // nn.LayerNorm with bias (PhiMoE) instead of RMSNorm
  bool qkv_bias = false, o_bias = false;
  bool qk_norm = false;        // RMSNorm over the whole q / k projections (OLMoE)
  float clip_qkv = 0.0f;
  float scale = 0.0f;          // 0: 1/sqrt(head_dim)
  std::vector<int64_t> sliding_window;  // per layer (0: none); empty: none
  bool lm_head_bias = false;
};
decoder::Spec llama_style(const ModelConfig& c, const WeightLoader& root, const LlamaStyle& o);

}  // namespace ia::moe
