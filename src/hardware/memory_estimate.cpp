#include "hardware/memory_estimate.h"

#include <fmt/format.h>

#include <algorithm>
#include <initializer_list>

#include "hardware/hardware.h"

namespace ia {

std::string MemoryEstimate::str() const {
  return fmt::format("{} (weights {}, activations {}, kv cache {})", hw::format_bytes(total()),
                     hw::format_bytes(weights), hw::format_bytes(activations), hw::format_bytes(kv_cache));
}

uint64_t checkpoint_f32_bytes(const Checkpoint& ckpt) {
  uint64_t total = 0;
  for (const auto& f : ckpt.files())
    for (const auto& t : f->tensors()) total += uint64_t(shape_numel(t.shape)) * 4;
  return total;
}

namespace {

int64_t first_dim(const ModelConfig& c, std::initializer_list<const char*> keys, int64_t fallback) {
  for (const char* k : keys)
    if (c.has(k) && c.json()[k].is_number_integer()) return std::max<int64_t>(1, c.json()[k].get<int64_t>());
  return fallback;
}

}  // namespace

MemoryEstimate estimate_memory(const ModelConfig& config, uint64_t weight_bytes, const WorkloadShape& shape) {
  const ModelConfig c = (!config.has("hidden_size") && !config.has("d_model") && !config.has("n_embd") &&
                         config.has("text_config") && config.json()["text_config"].is_object())
                            ? config.sub("text_config")
                            : config;
  const int64_t hidden = first_dim(c, {"hidden_size", "d_model", "n_embd", "dim"}, 1024);
  const int64_t layers = first_dim(c, {"num_hidden_layers", "num_layers", "n_layer", "n_layers"}, 24);
  const int64_t heads = first_dim(c, {"num_attention_heads", "num_heads", "n_head", "n_heads"}, 16);
  const int64_t kv_heads = first_dim(c, {"num_key_value_heads", "num_kv_heads"}, heads);
  const int64_t mlp = first_dim(c, {"intermediate_size", "ffn_dim", "d_ff", "n_inner", "encoder_ffn_dim"}, 4 * hidden);
  const int64_t head_dim = first_dim(c, {"head_dim", "d_kv"}, std::max<int64_t>(1, hidden / heads));

  const uint64_t b = uint64_t(std::max<int64_t>(1, shape.batch));
  const uint64_t s = uint64_t(std::max<int64_t>(1, shape.seq_len));
  const uint64_t total_len = s + uint64_t(std::max<int64_t>(0, shape.new_tokens));
  const uint64_t v = uint64_t(std::max<int64_t>(1, shape.bytes_per_value));

  MemoryEstimate m;
  m.weights = weight_bytes;
  // Live at once inside one layer: residual + normed input + q/k/v + attention output (~6 hidden-wide tensors),
  // the MLP's up/gate outputs (2 x mlp), and one head group's scores and probabilities over the full length.
  m.activations = b * s * (6 * uint64_t(hidden) + 2 * uint64_t(mlp)) * v + 2 * b * uint64_t(heads) * s * total_len * v;
  if (shape.new_tokens > 0) m.kv_cache = 2 * uint64_t(layers) * b * uint64_t(kv_heads) * uint64_t(head_dim) * total_len * v;
  return m;
}

}  // namespace ia
