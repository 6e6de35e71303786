#include "generation/cache_reorder.h"

#include <typeinfo>

#include "models/ssm/recurrent_state.h"
#include "ops/ops.h"

namespace ia::generation {

void reorder_rows_(Tensor& t, const std::vector<int64_t>& src, Tensor& scratch, int seq_dim, int64_t len) {
  const int64_t R = t.dim(0);
  IA_CHECK(static_cast<int64_t>(src.size()) == R, ErrorKind::InvalidArgument, "reorder: {} indices for {}",
           src.size(), t.describe());
  for (int64_t s : src) IA_CHECK(s >= 0 && s < R, ErrorKind::InvalidArgument, "reorder: row {} outside [0, {})", s, R);
  if (!scratch.defined() || scratch.shape() != t.shape() || !(scratch.device() == t.device()))
    scratch = Tensor::empty(t.shape(), t.dtype(), t.device());
  IA_CHECK(seq_dim < 0 || seq_dim == 1 || seq_dim == 2, ErrorKind::InvalidArgument, "reorder: sequence dim {}",
           seq_dim);
  // Contiguous pieces of row r: the whole row, [0, len) of dim 1, or [0, len) of dim 2 for every index of dim 1.
  auto move = [&](Tensor& dst, const Tensor& src, int64_t d, int64_t s) {
    Tensor a = dst.select(0, d), b = src.select(0, s);
    if (seq_dim < 0) {
      ops::copy_(a, b);
    } else if (seq_dim == 1) {
      Tensor x = a.slice(0, 0, len);
      ops::copy_(x, b.slice(0, 0, len));
    } else {
      for (int64_t h = 0; h < a.dim(0); ++h) {
        Tensor x = a.select(0, h).slice(0, 0, len);
        ops::copy_(x, b.select(0, h).slice(0, 0, len));
      }
    }
  };
  for (int64_t r = 0; r < R; ++r)
    if (src[r] != r) move(scratch, t, r, src[r]);
  for (int64_t r = 0; r < R; ++r)
    if (src[r] != r) move(t, scratch, r, r);
}

void StateReorder::operator()(DecoderState& state, const std::vector<int64_t>& beam_idx) {
  if (auto* kv = dynamic_cast<KVCache*>(&state)) {
    scratch_.resize(2);
    for (int64_t l = 0; l < kv->layers(); ++l) {
      reorder_rows_(kv->keys(l), beam_idx, scratch_[0], 2, kv->length());
      reorder_rows_(kv->values(l), beam_idx, scratch_[1], 2, kv->length());
    }
    return;
  }
  if (auto* rs = dynamic_cast<ssm::RecurrentState*>(&state)) {
    size_t n = 0;
    for (int64_t l = 0; l < rs->layers(); ++l)
      for (size_t i = 0; i < rs->slots(l); ++i) {
        if (scratch_.size() <= n) scratch_.resize(n + 1);
        reorder_rows_(rs->at(l, i), beam_idx, scratch_[n++]);
      }
    return;
  }
  fail(ErrorKind::Unsupported, "beam search: cannot reorder a decoding state of type {}", typeid(state).name());
}

}  // namespace ia::generation
