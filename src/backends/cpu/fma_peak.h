// The CPU's measured fp32 FMA rate, the ceiling for compute-bound kernels (GEMMs): `bench --peak` reports what
// fraction of it a model's forward reaches.
#pragma once

namespace ia::cpu {

// GFLOP/s of independent fused multiply-adds in registers on every pool thread (16 lanes where the CPU has
// AVX-512 and IA_AVX512 is not 0, else 8 with AVX2/FMA); 0 where neither is available. Takes about 0.2 s.
double measure_fp32_fma_peak_gflops();

}  // namespace ia::cpu
