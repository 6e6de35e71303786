// Beam-search cache reordering in place: after each step, row r of every per-row decoding tensor becomes the old
// row beam_idx[r] (HF Cache.reorder_cache / _reorder_cache), with scratch buffers allocated once per search.
#pragma once
#include <vector>

#include "core/tensor.h"
#include "models/causal_lm.h"

namespace ia::generation {

// Row r (dim 0) of `t` becomes the old row src[r]; rows with src[r] == r are not touched. Only the first `len`
// entries of dim `seq_dim` move (all of them when seq_dim < 0). `scratch` holds the moved rows: allocated like
// `t` on first use, reused afterwards.
void reorder_rows_(Tensor& t, const std::vector<int64_t>& src, Tensor& scratch, int seq_dim = -1, int64_t len = -1);

// Reorders a CausalLM decoding state: KVCache (the cached positions of every layer) or ssm::RecurrentState
// (every slot of every layer). Other state types: Unsupported naming the type.
class StateReorder {
 public:
  void operator()(DecoderState& state, const std::vector<int64_t>& beam_idx);

 private:
  std::vector<Tensor> scratch_;
};

}  // namespace ia::generation
