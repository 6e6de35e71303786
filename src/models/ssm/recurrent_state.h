// The decoding state of recurrent (state-space) language models: a fixed set of tensors per layer (conv
// inputs, SSM state, RWKV shift/WKV state; a KV cache for the attention layers of hybrids) allocated once for
// the batch and updated in place by every step. Recurrent slots do not grow with the sequence; only hybrid
// attention layers use the capacity. See docs/ssm.md.
#pragma once
#include <vector>

#include "models/causal_lm.h"

namespace ia::ssm {

class RecurrentState : public DecoderState {
 public:
  // shapes[i]: the tensors of one layer (the same for every layer); each starts filled with `init[i]`.
  RecurrentState(int64_t layers, int64_t batch, const std::vector<Shape>& shapes, const std::vector<float>& init,
                 Device device);
  // Per-layer slot shapes (layers may differ: hybrids), all zero-filled; `capacity` bounds attention caches.
  RecurrentState(int64_t batch, int64_t capacity, const std::vector<std::vector<Shape>>& per_layer, Device device);
  // Tensor `slot` of `layer` (e.g. 0 = conv inputs, 1 = SSM state); updated in place by the ops.
  Tensor& at(int64_t layer, size_t slot) { return layers_[layer][slot]; }
  int64_t layers() const { return static_cast<int64_t>(layers_.size()); }
  size_t slots(int64_t layer) const { return layers_[layer].size(); }

 private:
  std::vector<std::vector<Tensor>> layers_;
};

// The new tokens' attention mask as f32 [B, S, 1] (the last S columns of `mask`, which covers past + new).
Tensor new_token_mask(const Tensor& mask, int64_t S);

}  // namespace ia::ssm
