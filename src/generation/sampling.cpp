#include "generation/sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"

namespace ia::generation {

void SamplingParams::validate() const {
  IA_CHECK(std::isfinite(temperature) && temperature > 0.0f, ErrorKind::InvalidArgument,
           "temperature must be > 0, got {}", temperature);
  IA_CHECK(top_k >= 0, ErrorKind::InvalidArgument, "top_k must be >= 0, got {}", top_k);
  IA_CHECK(top_p > 0.0f && top_p <= 1.0f, ErrorKind::InvalidArgument, "top_p must be in (0, 1], got {}", top_p);
  IA_CHECK(min_p >= 0.0f && min_p <= 1.0f, ErrorKind::InvalidArgument, "min_p must be in [0, 1], got {}", min_p);
  IA_CHECK(std::isfinite(repetition_penalty) && repetition_penalty > 0.0f, ErrorKind::InvalidArgument,
           "repetition_penalty must be > 0, got {}", repetition_penalty);
}

Sampler::Sampler(const SamplingParams& p) : p_(p), rng_(p.seed) { p_.validate(); }

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// softmax over the finite entries (masked ones are -inf) as doubles.
std::vector<double> probs_of(const std::vector<float>& l) {
  float mx = kNegInf;
  for (float v : l) mx = std::max(mx, v);
  std::vector<double> p(l.size());
  double sum = 0.0;
  for (size_t i = 0; i < l.size(); ++i) sum += p[i] = l[i] == kNegInf ? 0.0 : std::exp(double(l[i]) - mx);
  for (double& v : p) v /= sum;
  return p;
}

int64_t argmax_first(const std::vector<float>& l) {
  return std::max_element(l.begin(), l.end()) - l.begin();  // first maximum, like torch.argmax
}

}  // namespace

int64_t Sampler::next(std::vector<float>& l, const std::vector<int64_t>& history) {
  const int64_t V = static_cast<int64_t>(l.size());
  if (p_.repetition_penalty != 1.0f) {  // RepetitionPenaltyLogitsProcessor
    std::vector<char> seen(V, 0);
    for (int64_t t : history)
      if (t >= 0 && t < V) seen[t] = 1;
    for (int64_t t = 0; t < V; ++t)
      if (seen[t]) l[t] = l[t] < 0 ? l[t] * p_.repetition_penalty : l[t] / p_.repetition_penalty;
  }
  if (!p_.do_sample) return argmax_first(l);
  if (p_.temperature != 1.0f)
    for (float& v : l) v /= p_.temperature;
  if (p_.top_k > 0 && p_.top_k < V) {  // TopKLogitsWarper: keep scores >= the k-th largest
    std::vector<float> s(l);
    std::nth_element(s.begin(), s.begin() + (p_.top_k - 1), s.end(), std::greater<float>());
    const float kth = s[p_.top_k - 1];
    for (float& v : l)
      if (v < kth) v = kNegInf;
  }
  if (p_.top_p < 1.0f) {  // TopPLogitsWarper: drop the ascending-sorted prefix with cumulative prob <= 1 - p
    std::vector<double> p = probs_of(l);
    std::vector<int64_t> order(V);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return l[a] < l[b]; });
    double cum = 0.0;
    for (int64_t i = 0; i < V - 1; ++i) {  // the most likely token is always kept
      cum += p[order[i]];
      if (cum <= 1.0 - p_.top_p) l[order[i]] = kNegInf;
    }
  }
  if (p_.min_p > 0.0f) {  // MinPLogitsWarper: drop tokens below min_p * max prob
    std::vector<double> p = probs_of(l);
    const double thr = p_.min_p * *std::max_element(p.begin(), p.end());
    const int64_t top = argmax_first(l);
    for (int64_t t = 0; t < V; ++t)
      if (p[t] < thr && t != top) l[t] = kNegInf;
  }
  std::vector<double> p = probs_of(l);
  const double u = static_cast<double>(rng_() >> 11) * (1.0 / 9007199254740992.0);  // [0, 1), platform-stable
  double cum = 0.0;
  int64_t last = 0;
  for (int64_t t = 0; t < V; ++t) {
    if (p[t] <= 0.0) continue;
    last = t;
    cum += p[t];
    if (u < cum) return t;
  }
  return last;
}

}  // namespace ia::generation
