// Benchmark statistics: percentiles as numpy computes them (linear interpolation), mean, sample stddev.
#include <gtest/gtest.h>

#include <cmath>

#include "core/bench_stats.h"
#include "core/error.h"

TEST(BenchStats, PercentilesInterpolateLikeNumpy) {
  // numpy.percentile([10, 1, 7, 3, 5], [50, 90]) = [5.0, 8.8]
  const ia::LatencyStats s = ia::latency_stats({10, 1, 7, 3, 5});
  EXPECT_DOUBLE_EQ(s.p50, 5.0);
  EXPECT_NEAR(s.p90, 8.8, 1e-12);
  EXPECT_DOUBLE_EQ(s.min, 1.0);
  EXPECT_DOUBLE_EQ(s.max, 10.0);
  EXPECT_DOUBLE_EQ(s.mean, 5.2);
  EXPECT_NEAR(s.stddev, std::sqrt(48.8 / 4), 1e-12);
  EXPECT_EQ(s.count, 5);
  const ia::LatencyStats one = ia::latency_stats({2.5});
  EXPECT_DOUBLE_EQ(one.p50, 2.5);
  EXPECT_DOUBLE_EQ(one.p90, 2.5);
  EXPECT_DOUBLE_EQ(one.stddev, 0.0);
  EXPECT_THROW(ia::latency_stats({}), ia::Error);
  EXPECT_GT(ia::peak_rss_kib(), 0);
}
