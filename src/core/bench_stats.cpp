#include "core/bench_stats.h"

#include <sys/resource.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace ia {

LatencyStats latency_stats(const std::vector<double>& samples) {
  IA_CHECK(!samples.empty(), ErrorKind::InvalidArgument, "latency_stats: no samples");
  std::vector<double> s = samples;
  std::sort(s.begin(), s.end());
  auto pct = [&](double p) {
    const double idx = p * static_cast<double>(s.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(idx)), hi = static_cast<size_t>(std::ceil(idx));
    return s[lo] + (s[hi] - s[lo]) * (idx - static_cast<double>(lo));
  };
  LatencyStats r;
  r.count = static_cast<int>(s.size());
  r.p50 = pct(0.5);
  r.p90 = pct(0.9);
  r.min = s.front();
  r.max = s.back();
  for (double v : s) r.mean += v;
  r.mean /= static_cast<double>(s.size());
  double var = 0;
  for (double v : s) var += (v - r.mean) * (v - r.mean);
  r.stddev = s.size() > 1 ? std::sqrt(var / static_cast<double>(s.size() - 1)) : 0.0;
  return r;
}

long peak_rss_kib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

}  // namespace ia
