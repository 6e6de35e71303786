// How much device memory a model run needs, for device selection: weights as the engine holds them plus a
// transformer-shaped estimate of peak activations and the KV cache for the requested shapes. An estimate
// (deliberately on the high side), not an allocator trace.
#pragma once
#include <cstdint>
#include <string>

#include "io/config.h"
#include "io/weights.h"

namespace ia {

struct MemoryEstimate {
  uint64_t weights = 0;
  uint64_t activations = 0;  // peak working set of one layer's forward (hidden states, MLP, attention scores)
  uint64_t kv_cache = 0;     // decoder models generating new tokens
  uint64_t total() const { return weights + activations + kv_cache; }
  std::string str() const;  // "1.2 GiB (weights 1.0 GiB, activations 180 MiB, kv cache 20 MiB)"
};

struct WorkloadShape {
  int64_t batch = 1;
  int64_t seq_len = 512;     // input tokens (or patches/frames)
  int64_t new_tokens = 0;    // generated tokens (adds KV cache)
  int64_t bytes_per_value = 4;  // activations and cache in f32
};

// Bytes the checkpoint's tensors occupy once loaded as f32 (WeightLoader::get converts f16/bf16 to f32).
uint64_t checkpoint_f32_bytes(const Checkpoint& ckpt);

// Reads hidden size, layers, heads, KV heads and MLP width from `config` (HF names and their GPT-2/T5 aliases;
// nested text_config when the top level has none); unknown fields fall back to conservative defaults.
MemoryEstimate estimate_memory(const ModelConfig& config, uint64_t weight_bytes, const WorkloadShape& shape);

}  // namespace ia
