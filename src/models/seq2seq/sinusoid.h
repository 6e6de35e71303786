// fairseq's sinusoidal position table, shared by M2M100 (bart.cpp) and TrOCR.
#pragma once
#include <cstdint>

namespace ia::seq2seq {

// One row of fairseq's sinusoidal position table (M2M100 / TrOCR SinusoidalPositionalEmbedding.get_embedding,
// torch float32 math): [sin | cos] halves (a zero column when dim is odd); the padding row is zero.
void fairseq_sinusoid_row(int64_t pos, int64_t dim, int64_t padding_idx, float* out);

}  // namespace ia::seq2seq
