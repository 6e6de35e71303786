// Grid-stride launch helpers shared by the .cu files: the block count for n elements and the loop over them.
#pragma once
#include <cstdint>

namespace ia::cuda {

// Blocks of `threads` for n elements: at least 1, at most 65535 * 16 (the grid-stride loop covers the rest).
inline unsigned grid_blocks(int64_t n, int threads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 65535 * 16 ? (blocks > 0 ? blocks : 1) : 65535 * 16);
}

}  // namespace ia::cuda

#define IA_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)
