// The engine's one thread pool (OpenMP's team, shared with oneDNN). Size: set_num_threads(), else
// IA_NUM_THREADS, else physical cores.
#pragma once
#include <cstdint>
#include <functional>

namespace ia {

int physical_core_count();
int num_threads();
void set_num_threads(int n);  // also sizes OpenMP (oneDNN); OpenBLAS runs single-threaded inside the pool

// Splits [begin, end) into contiguous chunks of at least `grain` items and runs fn(lo, hi) on the pool;
// the calling thread takes part. Nested calls run serially.
void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace ia
