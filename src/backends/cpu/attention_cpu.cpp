// CPU kernel: fused scaled-dot-product attention (masks, causal, sliding window, GQA, bias, softcap). Work is split
// into (batch, head, block of up to 16 queries); each block packs its queries, the head's keys transposed and its
// values into contiguous scratch, computes the block's scores with a register-blocked 4-rows x 16-keys kernel
// (32 keys in AVX-512 where the CPU has it), applies masks / bias / softcap and a softmax (all vectorized over the
// visible range when there is no bias, softcap or key mask), then multiplies by V with a 4-rows x 16-features
// (AVX-512: 32) kernel.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/vec_math.h"
#include "core/thread_pool.h"
#include "ops/ops.h"

namespace ia::cpu {
namespace {

constexpr int64_t kQueryBlock = 16;

// s[r, j] = scale * sum_d q[r, d] * kt[d, j] for NR rows and keys j >= j0 (q [NR, D] row stride D, kt [D, Sk],
// s row stride Sk).
template <int NR>
void scores_rows(const float* q, const float* kt, int64_t D, int64_t Sk, float scale, float* s, int64_t j0 = 0) {
  int64_t j = j0;
#ifdef IA_HAVE_AVX2
  const __m256 sc = _mm256_set1_ps(scale);
  for (; j + 16 <= Sk; j += 16) {
    __m256 acc[NR][2];
    for (int r = 0; r < NR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int64_t d = 0; d < D; ++d) {
      const __m256 k0 = _mm256_loadu_ps(kt + d * Sk + j), k1 = _mm256_loadu_ps(kt + d * Sk + j + 8);
      for (int r = 0; r < NR; ++r) {
        const __m256 qv = _mm256_broadcast_ss(q + r * D + d);
        acc[r][0] = _mm256_fmadd_ps(qv, k0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(qv, k1, acc[r][1]);
      }
    }
    for (int r = 0; r < NR; ++r) {
      _mm256_storeu_ps(s + r * Sk + j, _mm256_mul_ps(acc[r][0], sc));
      _mm256_storeu_ps(s + r * Sk + j + 8, _mm256_mul_ps(acc[r][1], sc));
    }
  }
#endif
  for (; j < Sk; ++j)
    for (int r = 0; r < NR; ++r) {
      float a = 0.0f;
      for (int64_t d = 0; d < D; ++d) a += q[r * D + d] * kt[d * Sk + j];
      s[r * Sk + j] = scale * a;
    }
}

// o[r, d] = sum_j p[r, j] * v[j, d] for NR rows and features d >= d0 (p row stride Sk, v [Sk, Dv], o row stride
// ldo).
template <int NR>
void weighted_values(const float* p, const float* v, int64_t Sk, int64_t Dv, float* o, int64_t ldo, int64_t d0 = 0) {
  int64_t d = d0;
#ifdef IA_HAVE_AVX2
  for (; d + 16 <= Dv; d += 16) {
    __m256 acc[NR][2];
    for (int r = 0; r < NR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int64_t j = 0; j < Sk; ++j) {
      const __m256 v0 = _mm256_loadu_ps(v + j * Dv + d), v1 = _mm256_loadu_ps(v + j * Dv + d + 8);
      for (int r = 0; r < NR; ++r) {
        const __m256 pv = _mm256_broadcast_ss(p + r * Sk + j);
        acc[r][0] = _mm256_fmadd_ps(pv, v0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(pv, v1, acc[r][1]);
      }
    }
    for (int r = 0; r < NR; ++r) {
      _mm256_storeu_ps(o + r * ldo + d, acc[r][0]);
      _mm256_storeu_ps(o + r * ldo + d + 8, acc[r][1]);
    }
  }
#endif
  for (; d < Dv; ++d)
    for (int r = 0; r < NR; ++r) {
      float a = 0.0f;
      for (int64_t j = 0; j < Sk; ++j) a += p[r * Sk + j] * v[j * Dv + d];
      o[r * ldo + d] = a;
    }
}

#if defined(__x86_64__) && defined(IA_HAVE_AVX2)
// GCC 12 flags the intrinsics' own _mm512_undefined_* operands as (maybe-)uninitialized once inlined here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
// AVX-512 forms (32 keys / features per step), then the AVX2 forms for the tail; chosen at run time.
template <int NR>
__attribute__((target("avx512f,avx512bw"))) void scores_rows_512(const float* q, const float* kt, int64_t D,
                                                                  int64_t Sk, float scale, float* s) {
  int64_t j = 0;
  const __m512 sc = _mm512_set1_ps(scale);
  for (; j + 32 <= Sk; j += 32) {
    __m512 acc[NR][2];
    for (int r = 0; r < NR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t d = 0; d < D; ++d) {
      const __m512 k0 = _mm512_loadu_ps(kt + d * Sk + j), k1 = _mm512_loadu_ps(kt + d * Sk + j + 16);
      for (int r = 0; r < NR; ++r) {
        const __m512 qv = _mm512_set1_ps(q[r * D + d]);
        acc[r][0] = _mm512_fmadd_ps(qv, k0, acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(qv, k1, acc[r][1]);
      }
    }
    for (int r = 0; r < NR; ++r) {
      _mm512_storeu_ps(s + r * Sk + j, _mm512_mul_ps(acc[r][0], sc));
      _mm512_storeu_ps(s + r * Sk + j + 16, _mm512_mul_ps(acc[r][1], sc));
    }
  }
  scores_rows<NR>(q, kt, D, Sk, scale, s, j);
}

template <int NR>
__attribute__((target("avx512f,avx512bw"))) void weighted_values_512(const float* p, const float* v, int64_t Sk,
                                                                      int64_t Dv, float* o, int64_t ldo) {
  int64_t d = 0;
  for (; d + 32 <= Dv; d += 32) {
    __m512 acc[NR][2];
    for (int r = 0; r < NR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t j = 0; j < Sk; ++j) {
      const __m512 v0 = _mm512_loadu_ps(v + j * Dv + d), v1 = _mm512_loadu_ps(v + j * Dv + d + 16);
      for (int r = 0; r < NR; ++r) {
        const __m512 pv = _mm512_set1_ps(p[r * Sk + j]);
        acc[r][0] = _mm512_fmadd_ps(pv, v0, acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(pv, v1, acc[r][1]);
      }
    }
    for (int r = 0; r < NR; ++r) {
      _mm512_storeu_ps(o + r * ldo + d, acc[r][0]);
      _mm512_storeu_ps(o + r * ldo + d + 16, acc[r][1]);
    }
  }
  weighted_values<NR>(p, v, Sk, Dv, o, ldo, d);
}
#else
template <int NR>
void scores_rows_512(const float* q, const float* kt, int64_t D, int64_t Sk, float scale, float* s) {
  scores_rows<NR>(q, kt, D, Sk, scale, s);
}
template <int NR>
void weighted_values_512(const float* p, const float* v, int64_t Sk, int64_t Dv, float* o, int64_t ldo) {
  weighted_values<NR>(p, v, Sk, Dv, o, ldo);
}
#endif

template <int NR>
void scores(bool wide, const float* q, const float* kt, int64_t D, int64_t Sk, float scale, float* s) {
  if (wide) scores_rows_512<NR>(q, kt, D, Sk, scale, s);
  else scores_rows<NR>(q, kt, D, Sk, scale, s);
}

template <int NR>
void values(bool wide, const float* p, const float* v, int64_t Sk, int64_t Dv, float* o, int64_t ldo) {
  if (wide) weighted_values_512<NR>(p, v, Sk, Dv, o, ldo);
  else weighted_values<NR>(p, v, Sk, Dv, o, ldo);
}

// Row r of a block of NR at once, then the rest (NR = 4, 2, 1).
template <typename F4, typename F2, typename F1>
void by_rows(int64_t rows, F4 f4, F2 f2, F1 f1) {
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) f4(r);
  for (; r + 2 <= rows; r += 2) f2(r);
  for (; r < rows; ++r) f1(r);
}

// exp(s - mx) over one score row in place for the visible entries (0 elsewhere); returns their sum.
double exp_row(float* s, const uint8_t* visible, int64_t n, float mx) {
  int64_t j = 0;
  double sum = 0.0;
#ifdef IA_HAVE_AVX2
  const __m256 m = _mm256_set1_ps(mx);
  for (; j + 8 <= n; j += 8) {
    const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(s + j), m));
    _mm256_storeu_ps(s + j, e);
  }
  for (int64_t t = 0; t < j; ++t) {
    if (!visible[t]) s[t] = 0.0f;
    sum += s[t];
  }
#endif
  for (; j < n; ++j) {
    s[j] = visible[j] ? std::exp(s[j] - mx) : 0.0f;
    sum += s[j];
  }
  return sum;
}

// Softmax of s[jlo, jhi) in place, zeros elsewhere in [0, Sk): the common case (no bias, softcap or key mask), all
// vectorized.
void softmax_range(float* s, int64_t Sk, int64_t jlo, int64_t jhi) {
  float mx = -std::numeric_limits<float>::infinity();
  int64_t j = jlo;
#ifdef IA_HAVE_AVX2
  __m256 vm = _mm256_set1_ps(mx);
  for (; j + 8 <= jhi; j += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(s + j));
  mx = hmax256(vm);
#endif
  for (; j < jhi; ++j) mx = std::max(mx, s[j]);
  float sum = 0.0f;
  j = jlo;
#ifdef IA_HAVE_AVX2
  const __m256 m = _mm256_set1_ps(mx);
  __m256 vs = _mm256_setzero_ps();
  for (; j + 8 <= jhi; j += 8) {
    const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(s + j), m));
    _mm256_storeu_ps(s + j, e);
    vs = _mm256_add_ps(vs, e);
  }
  sum = hsum256(vs);
#endif
  for (; j < jhi; ++j) {
    s[j] = std::exp(s[j] - mx);
    sum += s[j];
  }
  const float inv = 1.0f / sum;
  j = jlo;
#ifdef IA_HAVE_AVX2
  const __m256 vi = _mm256_set1_ps(inv);
  for (; j + 8 <= jhi; j += 8) _mm256_storeu_ps(s + j, _mm256_mul_ps(_mm256_loadu_ps(s + j), vi));
#endif
  for (; j < jhi; ++j) s[j] *= inv;
  std::fill(s, s + jlo, 0.0f);
  std::fill(s + jhi, s + Sk, 0.0f);
}

void attention_cpu(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionArgs& args, Tensor& out) {
  const int64_t B = q.dim(0), Hq = q.dim(1), Sq = q.dim(2), D = q.dim(3);
  const int64_t Hkv = k.dim(1), Sk = k.dim(2), Dv = v.dim(3);
  const int64_t group = Hq / Hkv;
  const float* qp = static_cast<const float*>(q.raw_data());
  const float* kp = static_cast<const float*>(k.raw_data());
  const float* vp = static_cast<const float*>(v.raw_data());
  float* op = out.data<float>();
  const auto& qs = q.strides();
  const auto& ks = k.strides();
  const auto& vs = v.strides();

  std::vector<uint8_t> keymask;  // [B, Sk] 1 = visible
  if (args.key_mask.defined()) {
    auto m = args.key_mask.to_vector<double>();
    keymask.resize(m.size());
    for (size_t i = 0; i < m.size(); ++i) keymask[i] = m[i] != 0.0;
  }
  std::vector<uint8_t> querymask;  // [B, Sq] 1 = may attend
  if (args.query_mask.defined()) {
    auto m = args.query_mask.to_vector<double>();
    querymask.resize(m.size());
    for (size_t i = 0; i < m.size(); ++i) querymask[i] = m[i] != 0.0;
  }
  const float* bias = args.bias.defined() ? args.bias.data<float>() : nullptr;
  int64_t bsb = 0, bsh = 0, bsq = 0;
  if (bias) {
    const auto& bshape = args.bias.shape();
    bsq = bshape[2] == 1 ? 0 : Sk;
    bsh = bshape[1] == 1 ? 0 : bshape[2] * Sk;
    bsb = bshape[0] == 1 ? 0 : bshape[1] * bshape[2] * Sk;
  }
  std::vector<uint8_t> all_keys(static_cast<size_t>(B), 1);  // batch entries whose key mask hides nothing
  if (!keymask.empty())
    for (int64_t b = 0; b < B; ++b)
      all_keys[b] = std::all_of(keymask.begin() + b * Sk, keymask.begin() + (b + 1) * Sk, [](uint8_t v) { return v; });
  if (Sk == 0) {  // nothing to attend to: zeros
    std::fill(op, op + B * Sq * Hq * Dv, 0.0f);
    return;
  }

  const bool wide = have_avx512();
  const int64_t qblocks = (Sq + kQueryBlock - 1) / kQueryBlock;
  const int64_t tasks = B * Hq * qblocks;
  // Tasks run in (batch, head, block) order, so a chunk's consecutive blocks share a head and pack it once.
  parallel_for(0, tasks, 1, [&](int64_t lo, int64_t hi) {
    std::vector<float> qb(static_cast<size_t>(kQueryBlock * D)), kt(static_cast<size_t>(D * Sk)),
        vb(static_cast<size_t>(Sk * Dv)), sc(static_cast<size_t>(kQueryBlock * Sk));
    std::vector<uint8_t> visible(static_cast<size_t>(Sk));
    int64_t packed_b = -1, packed_kh = -1;
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t blk = t % qblocks, h = (t / qblocks) % Hq, b = t / (qblocks * Hq);
      const int64_t kh = h / group, i0 = blk * kQueryBlock, rows = std::min(kQueryBlock, Sq - i0);
      if (b != packed_b || kh != packed_kh) {  // the head's keys transposed [D, Sk] and values [Sk, Dv]
        const float* kbase = kp + b * ks[0] + kh * ks[1];
        const float* vbase = vp + b * vs[0] + kh * vs[1];
        for (int64_t j = 0; j < Sk; ++j) {
          for (int64_t d = 0; d < D; ++d) kt[d * Sk + j] = kbase[j * ks[2] + d * ks[3]];
          for (int64_t d = 0; d < Dv; ++d) vb[j * Dv + d] = vbase[j * vs[2] + d * vs[3]];
        }
        packed_b = b, packed_kh = kh;
      }
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t d = 0; d < D; ++d) qb[r * D + d] = qp[b * qs[0] + h * qs[1] + (i0 + r) * qs[2] + d * qs[3]];
      const float* qr = qb.data();
      float* sr = sc.data();
      by_rows(
          rows, [&](int64_t r) { scores<4>(wide, qr + r * D, kt.data(), D, Sk, args.scale, sr + r * Sk); },
          [&](int64_t r) { scores<2>(wide, qr + r * D, kt.data(), D, Sk, args.scale, sr + r * Sk); },
          [&](int64_t r) { scores<1>(wide, qr + r * D, kt.data(), D, Sk, args.scale, sr + r * Sk); });
      for (int64_t r = 0; r < rows; ++r) {  // masks, bias, softcap, softmax
        const int64_t i = i0 + r, pos = i + args.q_offset;
        float* s = sc.data() + r * Sk;
        const bool query_ok = querymask.empty() || querymask[b * Sq + i];
        const int64_t jlo = args.sliding_window > 0 ? std::max<int64_t>(0, pos - args.sliding_window + 1) : 0;
        const int64_t jhi = args.causal ? std::min<int64_t>(Sk, pos + 1) : Sk;
        if (query_ok && all_keys[b] && !bias && args.softcap <= 0.0f && jlo < jhi) {
          softmax_range(s, Sk, jlo, jhi);
          continue;
        }
        int64_t nvis = 0;
        float mx = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < Sk; ++j) {
          bool vis = query_ok && (keymask.empty() || keymask[b * Sk + j]);
          if (args.causal && j > pos) vis = false;
          if (args.sliding_window > 0 && pos - j >= args.sliding_window) vis = false;
          visible[j] = vis;
          if (bias) s[j] += bias[b * bsb + h * bsh + i * bsq + j];
          if (args.softcap > 0.0f) s[j] = args.softcap * std::tanh(s[j] / args.softcap);
          if (vis) {
            ++nvis;
            mx = std::max(mx, s[j]);
          }
        }
        if (nvis == 0) {  // HF eager: every score gets the same huge negative mask -> uniform weights
          std::fill(s, s + Sk, 1.0f / static_cast<float>(Sk));
          continue;
        }
        const float inv = static_cast<float>(1.0 / exp_row(s, visible.data(), Sk, mx));
        for (int64_t j = 0; j < Sk; ++j) s[j] *= inv;
      }
      float* orow = op + ((b * Sq + i0) * Hq + h) * Dv;
      const int64_t ldo = Hq * Dv;
      by_rows(
          rows, [&](int64_t r) { values<4>(wide, sr + r * Sk, vb.data(), Sk, Dv, orow + r * ldo, ldo); },
          [&](int64_t r) { values<2>(wide, sr + r * Sk, vb.data(), Sk, Dv, orow + r * ldo, ldo); },
          [&](int64_t r) { values<1>(wide, sr + r * Sk, vb.data(), Sk, Dv, orow + r * ldo, ldo); });
    }
  });
}

}  // namespace
}  // namespace ia::cpu

IA_REGISTER_KERNEL(attention, ia::DeviceType::CPU, ia::cpu::attention_cpu)
