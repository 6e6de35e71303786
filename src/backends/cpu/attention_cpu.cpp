// CPU kernel: fused scaled-dot-product attention (masks, causal, sliding window, GQA, bias, softcap). Work is split
// into (batch, head, block of up to 16 queries); each block packs its queries, the head's keys and values into
// contiguous scratch, computes the block's scores with a register-blocked kernel, applies masks / bias / softcap and
// a softmax (all vectorized over the visible range when there is no bias, softcap or key mask), then multiplies by V.
// AVX2: keys transposed [D, Sk], 4 rows x 16 keys, then 4 rows x 16 features. AVX-512 (where the CPU has it): keys
// in panels of 32 [Sk/32][D][32], so a panel is one contiguous stream whatever Sk is (a [D, Sk] row stride of a
// power of two maps every d to the same L1 sets), 8 rows x 32 keys, then 4 rows x 64 features.
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
constexpr int64_t kPanel = 32;  // keys per AVX-512 score panel

// s[r, j] = scale * sum_d q[r, d] * kt[d, j] for NR rows and keys j >= j0 (q [NR, D] row stride ldq, kt [D, Sk],
// s row stride Sk).
template <int NR>
void scores_rows(const float* q, int64_t ldq, const float* kt, int64_t D, int64_t Sk, float scale, float* s,
                 int64_t j0 = 0) {
  int64_t j = j0;
#ifdef IA_HAVE_AVX2
  const __m256 sc = _mm256_set1_ps(scale);
  for (; j + 16 <= Sk; j += 16) {
    __m256 acc[NR][2];
    for (int r = 0; r < NR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int64_t d = 0; d < D; ++d) {
      const __m256 k0 = _mm256_loadu_ps(kt + d * Sk + j), k1 = _mm256_loadu_ps(kt + d * Sk + j + 8);
      for (int r = 0; r < NR; ++r) {
        const __m256 qv = _mm256_broadcast_ss(q + r * ldq + d);
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
      for (int64_t d = 0; d < D; ++d) a += q[r * ldq + d] * kt[d * Sk + j];
      s[r * Sk + j] = scale * a;
    }
}

// o[r, d] = scale[r] * sum_j p[r, j] * v[j, d] for NR rows and features d >= d0 (p row stride ldp, v [Sk, Dv] row
// stride ldv, o row stride ldo).
template <int NR>
void weighted_values(const float* p, int64_t ldp, const float* scale, const float* v, int64_t ldv, int64_t Sk,
                     int64_t Dv, float* o, int64_t ldo, int64_t d0 = 0) {
  int64_t d = d0;
#ifdef IA_HAVE_AVX2
  for (; d + 16 <= Dv; d += 16) {
    __m256 acc[NR][2];
    for (int r = 0; r < NR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int64_t j = 0; j < Sk; ++j) {
      const __m256 v0 = _mm256_loadu_ps(v + j * ldv + d), v1 = _mm256_loadu_ps(v + j * ldv + d + 8);
      for (int r = 0; r < NR; ++r) {
        const __m256 pv = _mm256_broadcast_ss(p + r * ldp + j);
        acc[r][0] = _mm256_fmadd_ps(pv, v0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(pv, v1, acc[r][1]);
      }
    }
    for (int r = 0; r < NR; ++r) {
      const __m256 sr = _mm256_set1_ps(scale[r]);
      _mm256_storeu_ps(o + r * ldo + d, _mm256_mul_ps(acc[r][0], sr));
      _mm256_storeu_ps(o + r * ldo + d + 8, _mm256_mul_ps(acc[r][1], sr));
    }
  }
#endif
  for (; d < Dv; ++d)
    for (int r = 0; r < NR; ++r) {
      float a = 0.0f;
      for (int64_t j = 0; j < Sk; ++j) a += p[r * ldp + j] * v[j * ldv + d];
      o[r * ldo + d] = scale[r] * a;
    }
}

#if defined(__x86_64__) && defined(IA_HAVE_AVX2)
// GCC 12 flags the intrinsics' own _mm512_undefined_* operands as (maybe-)uninitialized once inlined here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
// s[r, p * 32 + c] = scale * sum_d q[r, d] * panels[p][d][c] for NR rows (q row stride ldq, s row stride lds).
template <int NR>
__attribute__((target("avx512f,avx512bw"))) void scores_panels_512(const float* q, int64_t ldq, const float* panels,
                                                                    int64_t D, int64_t npanels, float scale,
                                                                    float* s, int64_t lds) {
  const __m512 sc = _mm512_set1_ps(scale);
  for (int64_t p = 0; p < npanels; ++p) {
    const float* kb = panels + p * D * kPanel;
    __m512 acc[NR][2];
    for (int r = 0; r < NR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t d = 0; d < D; ++d) {
      const __m512 k0 = _mm512_loadu_ps(kb + d * kPanel), k1 = _mm512_loadu_ps(kb + d * kPanel + 16);
      for (int r = 0; r < NR; ++r) {
        const __m512 qv = _mm512_set1_ps(q[r * ldq + d]);
        acc[r][0] = _mm512_fmadd_ps(qv, k0, acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(qv, k1, acc[r][1]);
      }
    }
    for (int r = 0; r < NR; ++r) {
      _mm512_storeu_ps(s + r * lds + p * kPanel, _mm512_mul_ps(acc[r][0], sc));
      _mm512_storeu_ps(s + r * lds + p * kPanel + 16, _mm512_mul_ps(acc[r][1], sc));
    }
  }
}

// weighted_values with 64 features per step (16 accumulators at NR = 4), then 32, then the AVX2 form.
template <int NR>
__attribute__((target("avx512f,avx512bw"))) void weighted_values_512(const float* p, int64_t ldp,
                                                                      const float* scale, const float* v,
                                                                      int64_t ldv, int64_t Sk, int64_t Dv,
                                                                      float* o, int64_t ldo) {
  int64_t d = 0;
  for (; d + 64 <= Dv; d += 64) {
    __m512 acc[NR][4];
    for (int r = 0; r < NR; ++r)
      for (int c = 0; c < 4; ++c) acc[r][c] = _mm512_setzero_ps();
    for (int64_t j = 0; j < Sk; ++j) {
      const float* vr = v + j * ldv + d;
      const __m512 v0 = _mm512_loadu_ps(vr), v1 = _mm512_loadu_ps(vr + 16), v2 = _mm512_loadu_ps(vr + 32),
                   v3 = _mm512_loadu_ps(vr + 48);
      for (int r = 0; r < NR; ++r) {
        const __m512 pv = _mm512_set1_ps(p[r * ldp + j]);
        acc[r][0] = _mm512_fmadd_ps(pv, v0, acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(pv, v1, acc[r][1]);
        acc[r][2] = _mm512_fmadd_ps(pv, v2, acc[r][2]);
        acc[r][3] = _mm512_fmadd_ps(pv, v3, acc[r][3]);
      }
    }
    for (int r = 0; r < NR; ++r)
      for (int c = 0; c < 4; ++c)
        _mm512_storeu_ps(o + r * ldo + d + 16 * c, _mm512_mul_ps(acc[r][c], _mm512_set1_ps(scale[r])));
  }
  for (; d + 32 <= Dv; d += 32) {
    __m512 acc[NR][2];
    for (int r = 0; r < NR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t j = 0; j < Sk; ++j) {
      const __m512 v0 = _mm512_loadu_ps(v + j * ldv + d), v1 = _mm512_loadu_ps(v + j * ldv + d + 16);
      for (int r = 0; r < NR; ++r) {
        const __m512 pv = _mm512_set1_ps(p[r * ldp + j]);
        acc[r][0] = _mm512_fmadd_ps(pv, v0, acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(pv, v1, acc[r][1]);
      }
    }
    for (int r = 0; r < NR; ++r) {
      const __m512 sr = _mm512_set1_ps(scale[r]);
      _mm512_storeu_ps(o + r * ldo + d, _mm512_mul_ps(acc[r][0], sr));
      _mm512_storeu_ps(o + r * ldo + d + 16, _mm512_mul_ps(acc[r][1], sr));
    }
  }
  weighted_values<NR>(p, ldp, scale, v, ldv, Sk, Dv, o, ldo, d);
}
#else
template <int NR>
void scores_panels_512(const float* q, int64_t ldq, const float* panels, int64_t D, int64_t npanels, float scale,
                       float* s, int64_t lds) {
  for (int64_t p = 0; p < npanels; ++p)
    for (int r = 0; r < NR; ++r)
      for (int64_t c = 0; c < kPanel; ++c) {
        float a = 0.0f;
        for (int64_t d = 0; d < D; ++d) a += q[r * ldq + d] * panels[(p * D + d) * kPanel + c];
        s[r * lds + p * kPanel + c] = scale * a;
      }
}
template <int NR>
void weighted_values_512(const float* p, int64_t ldp, const float* scale, const float* v, int64_t ldv, int64_t Sk,
                         int64_t Dv, float* o, int64_t ldo) {
  weighted_values<NR>(p, ldp, scale, v, ldv, Sk, Dv, o, ldo);
}
#endif

// f.template operator()<NR>(r) over rows in blocks of NR = MaxNR, then halves down to 1.
template <int MaxNR, typename F>
void by_rows(int64_t rows, int64_t r, F&& f) {
  for (; r + MaxNR <= rows; r += MaxNR) f.template operator()<MaxNR>(r);
  if constexpr (MaxNR > 1) by_rows<MaxNR / 2>(rows, r, f);
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

// exp(s - max) over s[jlo, jhi) in place, zeros elsewhere in [0, Sk); returns the sum, so the softmax row is s / sum
// (the division is left to the weighted sum of values). The common case: no bias, softcap or key mask.
float exp_range(float* s, int64_t Sk, int64_t jlo, int64_t jhi) {
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
  std::fill(s, s + jlo, 0.0f);
  std::fill(s + jhi, s + Sk, 0.0f);
  return sum;
}

#if defined(__x86_64__) && defined(IA_HAVE_AVX2)
// exp_range over 16 lanes, the last partial vector masked.
__attribute__((target("avx512f,avx512bw"))) float exp_range_512(float* s, int64_t Sk, int64_t jlo, int64_t jhi) {
  const __m512 ninf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  __m512 vm = ninf;
  for (int64_t j = jlo; j < jhi; j += 16) {
    const __mmask16 k = jhi - j >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (jhi - j)) - 1);
    vm = _mm512_max_ps(vm, _mm512_mask_loadu_ps(ninf, k, s + j));
  }
  const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(vm));
  __m512 vs = _mm512_setzero_ps();
  for (int64_t j = jlo; j < jhi; j += 16) {
    const __mmask16 k = jhi - j >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (jhi - j)) - 1);
    const __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + j), m));
    _mm512_mask_storeu_ps(s + j, k, e);
    vs = _mm512_mask_add_ps(vs, k, vs, e);
  }
  std::fill(s, s + jlo, 0.0f);
  std::fill(s + jhi, s + Sk, 0.0f);
  return _mm512_reduce_add_ps(vs);
}
#else
float exp_range_512(float* s, int64_t Sk, int64_t jlo, int64_t jhi) { return exp_range(s, Sk, jlo, jhi); }
#endif

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
  // Score rows: [Sk] (AVX2, keys [D, Sk]) or padded to whole panels (AVX-512, keys [Sk/32][D][32]; the last panel's
  // keys past Sk stay the zeros kt starts with, as packing writes only keys below Sk).
  const int64_t npanels = (Sk + kPanel - 1) / kPanel, lds = wide ? npanels * kPanel : Sk;
  const int64_t qblocks = (Sq + kQueryBlock - 1) / kQueryBlock;
  const int64_t tasks = B * Hq * qblocks;
  // Tasks run in (batch, head, block) order, so a chunk's consecutive blocks share a head and pack it once.
  parallel_for(0, tasks, 1, [&](int64_t lo, int64_t hi) {
    std::vector<float> qb(static_cast<size_t>(qs[3] == 1 ? 0 : kQueryBlock * D)), kt(static_cast<size_t>(D * lds)),
        vb(static_cast<size_t>(vs[3] == 1 ? 0 : Sk * Dv)), sc(static_cast<size_t>(kQueryBlock * lds));
    std::vector<uint8_t> visible(static_cast<size_t>(Sk));
    float row_scale[kQueryBlock];  // 1 / the softmax sum of each score row
    const float* vrows = vb.data();  // the head's values [Sk, Dv], row stride ldv
    int64_t ldv = Dv;
    int64_t packed_b = -1, packed_kh = -1;
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t blk = t % qblocks, h = (t / qblocks) % Hq, b = t / (qblocks * Hq);
      const int64_t kh = h / group, i0 = blk * kQueryBlock, rows = std::min(kQueryBlock, Sq - i0);
      if (b != packed_b || kh != packed_kh) {  // the head's keys (panels or transposed); values unless rows are dense
        const float* kbase = kp + b * ks[0] + kh * ks[1];
        const float* vbase = vp + b * vs[0] + kh * vs[1];
        if (vs[3] == 1) vrows = vbase, ldv = vs[2];
        for (int64_t j = 0; j < Sk; ++j) {
          const float* kr = kbase + j * ks[2];
          if (wide) {
            float* dst = kt.data() + (j / kPanel) * D * kPanel + j % kPanel;
            for (int64_t d = 0; d < D; ++d) dst[d * kPanel] = kr[d * ks[3]];
          } else {
            for (int64_t d = 0; d < D; ++d) kt[d * Sk + j] = kr[d * ks[3]];
          }
          if (vs[3] != 1)
            for (int64_t d = 0; d < Dv; ++d) vb[j * Dv + d] = vbase[j * vs[2] + d * vs[3]];
        }
        packed_b = b, packed_kh = kh;
      }
      const float* qr = qp + b * qs[0] + h * qs[1] + i0 * qs[2];  // the block's queries, in place if rows are dense
      int64_t ldq = qs[2];
      if (qs[3] != 1) {
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t d = 0; d < D; ++d) qb[r * D + d] = qr[r * qs[2] + d * qs[3]];
        qr = qb.data(), ldq = D;
      }
      float* sr = sc.data();
      if (wide)
        by_rows<8>(rows, 0, [&]<int NR>(int64_t r) {
          scores_panels_512<NR>(qr + r * ldq, ldq, kt.data(), D, npanels, args.scale, sr + r * lds, lds);
        });
      else
        by_rows<4>(rows, 0, [&]<int NR>(int64_t r) {
          scores_rows<NR>(qr + r * ldq, ldq, kt.data(), D, Sk, args.scale, sr + r * lds);
        });
      for (int64_t r = 0; r < rows; ++r) {  // masks, bias, softcap, softmax (unnormalized: row_scale)
        const int64_t i = i0 + r, pos = i + args.q_offset;
        float* s = sc.data() + r * lds;
        const bool query_ok = querymask.empty() || querymask[b * Sq + i];
        const int64_t jlo = args.sliding_window > 0 ? std::max<int64_t>(0, pos - args.sliding_window + 1) : 0;
        const int64_t jhi = args.causal ? std::min<int64_t>(Sk, pos + 1) : Sk;
        if (query_ok && all_keys[b] && !bias && args.softcap <= 0.0f && jlo < jhi) {
          row_scale[r] = 1.0f / (wide ? exp_range_512(s, Sk, jlo, jhi) : exp_range(s, Sk, jlo, jhi));
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
          std::fill(s, s + Sk, 1.0f);
          row_scale[r] = 1.0f / static_cast<float>(Sk);
          continue;
        }
        row_scale[r] = static_cast<float>(1.0 / exp_row(s, visible.data(), Sk, mx));
      }
      float* orow = op + ((b * Sq + i0) * Hq + h) * Dv;
      const int64_t ldo = Hq * Dv;
      if (wide)
        by_rows<4>(rows, 0, [&]<int NR>(int64_t r) {
          weighted_values_512<NR>(sr + r * lds, lds, row_scale + r, vrows, ldv, Sk, Dv, orow + r * ldo, ldo);
        });
      else
        by_rows<4>(rows, 0, [&]<int NR>(int64_t r) {
          weighted_values<NR>(sr + r * lds, lds, row_scale + r, vrows, ldv, Sk, Dv, orow + r * ldo, ldo);
        });
    }
  });
}

}  // namespace
}  // namespace ia::cpu

IA_REGISTER_KERNEL(attention, ia::DeviceType::CPU, ia::cpu::attention_cpu)
