// Benchmark statistics shared by `bench`, `bench-generate` and the suite's `test --bench`: percentiles, mean and
// standard deviation of repeated timings, and the process's peak resident memory.
#pragma once
#include <vector>

namespace ia {

struct LatencyStats {
  double p50 = 0, p90 = 0, mean = 0, stddev = 0, min = 0, max = 0;
  int count = 0;
};

// Percentiles by linear interpolation between the sorted samples (numpy's default); stddev with n - 1.
LatencyStats latency_stats(const std::vector<double>& samples);

// Peak resident set size of this process so far (getrusage ru_maxrss), in KiB.
long peak_rss_kib();

}  // namespace ia
