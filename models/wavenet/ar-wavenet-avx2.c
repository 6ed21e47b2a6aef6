/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-wavenet-avx2.c — AVX2+FMA+F16C kernels of WaveNet generation (8 floats
 * per register), the fast versions of ar-wavenet-kernels.c.
 *
 * Where the time goes: one generated sample reads every weight of the
 * network once (0.62 M of them in the reference shape) and does one FMA
 * with it, so the products are bound by how fast weights arrive from the
 * caches; F16 storage halves that traffic at the price of one conversion
 * per 8 weights (measured on the 2-core EPYC, CPU time: about 30 GB/s from
 * L3 for either type, so F16 does twice the multiply-adds there).  Eight
 * rows are processed together: each x load feeds eight FMAs, and the eight
 * rows' accumulators are eight independent FMA chains, enough to hide the
 * FMA latency when the weights come from L1/L2 (25-35 % faster there than
 * four rows with two accumulators each).
 *
 * Position independence (ar-wavenet-private.h): a row left over after the
 * blocks of eight is computed by the same operations in the same order as a
 * row inside a block — one accumulator, the same pairwise reduction
 * ((v0+v1)+(v2+v3))+((v4+v5)+(v6+v7)) that the block's horizontal adds
 * perform, the same scalar tail with explicit fmaf — so its result is bit
 * for bit the same wherever a thread's share of rows begins.  The gate
 * finishes a tail shorter than a register through a padded buffer for the
 * same reason.
 *
 * Compiled for any x86 target with per-function target attributes, called
 * only after ar_simd_get_level () has confirmed the CPU. */
#include "ar-wavenet-private.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define AR_TARGET __attribute__ ((target ("avx2,fma,f16c")))

/* 8 binary16 values at p widened to floats */
#define LOAD_F16(p) _mm256_cvtph_ps (_mm_loadu_si128 ((const __m128i *) (p)))

/* Weight loads of the two storage types, as macros so that one body of
 * code serves both kernels. */
#define LOAD_W_F32(p) _mm256_loadu_ps (p)
#define LOAD_W_F16(p) LOAD_F16 (p)
#define SCALAR_W_F32(w) (w)
#define SCALAR_W_F16(w) _cvtsh_ss (w)

/* The 8-lane pairwise reduction of one row, ((v0+v1)+(v2+v3)) +
 * ((v4+v5)+(v6+v7)), as the eight-row block performs it. */
AR_TARGET static inline float
reduce1 (__m256 v)
{
  __m256 t = _mm256_hadd_ps (v, v);
  __m128 s;

  t = _mm256_hadd_ps (t, t);
  s = _mm_add_ss (_mm256_castps256_ps128 (t), _mm256_extractf128_ps (t, 1));
  return _mm_cvtss_f32 (s);
}

/* The rows of a product: blocks of eight rows, one accumulator each (eight
 * independent FMA chains; each x load feeds eight FMAs), then single rows
 * with the same operations in the same order.  TYPE is the weight type,
 * LOADW and SCALARW its vector and scalar loads. */
#define MATVEC_BODY(TYPE, LOADW, SCALARW)                                      \
  int r = 0;                                                                   \
                                                                               \
  for (; r + 8 <= rows; r += 8) {                                              \
    const TYPE *w0 = W + (gsize) r * cols, *w1 = w0 + cols, *w2 = w1 + cols;   \
    const TYPE *w3 = w2 + cols, *w4 = w3 + cols, *w5 = w4 + cols;              \
    const TYPE *w6 = w5 + cols, *w7 = w6 + cols;                               \
    __m256 a0 = _mm256_setzero_ps (), a1 = a0, a2 = a0, a3 = a0, a4 = a0;      \
    __m256 a5 = a0, a6 = a0, a7 = a0, h0, h1, lo, hi;                          \
    float t0 = 0.0f, t1 = 0.0f, t2 = 0.0f, t3 = 0.0f;                          \
    float t4 = 0.0f, t5 = 0.0f, t6 = 0.0f, t7 = 0.0f;                          \
    int c = 0;                                                                 \
                                                                               \
    for (; c + 8 <= cols; c += 8) {                                            \
      __m256 xv = _mm256_loadu_ps (x + c);                                     \
                                                                               \
      a0 = _mm256_fmadd_ps (LOADW (w0 + c), xv, a0);                           \
      a1 = _mm256_fmadd_ps (LOADW (w1 + c), xv, a1);                           \
      a2 = _mm256_fmadd_ps (LOADW (w2 + c), xv, a2);                           \
      a3 = _mm256_fmadd_ps (LOADW (w3 + c), xv, a3);                           \
      a4 = _mm256_fmadd_ps (LOADW (w4 + c), xv, a4);                           \
      a5 = _mm256_fmadd_ps (LOADW (w5 + c), xv, a5);                           \
      a6 = _mm256_fmadd_ps (LOADW (w6 + c), xv, a6);                           \
      a7 = _mm256_fmadd_ps (LOADW (w7 + c), xv, a7);                           \
    }                                                                          \
    for (; c < cols; c++) {                                                    \
      t0 = fmaf (SCALARW (w0[c]), x[c], t0);                                   \
      t1 = fmaf (SCALARW (w1[c]), x[c], t1);                                   \
      t2 = fmaf (SCALARW (w2[c]), x[c], t2);                                   \
      t3 = fmaf (SCALARW (w3[c]), x[c], t3);                                   \
      t4 = fmaf (SCALARW (w4[c]), x[c], t4);                                   \
      t5 = fmaf (SCALARW (w5[c]), x[c], t5);                                   \
      t6 = fmaf (SCALARW (w6[c]), x[c], t6);                                   \
      t7 = fmaf (SCALARW (w7[c]), x[c], t7);                                   \
    }                                                                          \
    /* per 128-bit half, the pairwise sums of rows 0-3 and 4-7; the halves   \
     * then hold the low and high four lanes' sums of each row */ \
    h0 = _mm256_hadd_ps (_mm256_hadd_ps (a0, a1), _mm256_hadd_ps (a2, a3));    \
    h1 = _mm256_hadd_ps (_mm256_hadd_ps (a4, a5), _mm256_hadd_ps (a6, a7));    \
    lo = _mm256_permute2f128_ps (h0, h1, 0x20);                                \
    hi = _mm256_permute2f128_ps (h0, h1, 0x31);                                \
    lo = _mm256_add_ps (lo, hi);                                               \
    lo = _mm256_add_ps (lo, _mm256_setr_ps (t0, t1, t2, t3, t4, t5, t6, t7));  \
    lo = _mm256_add_ps (lo, _mm256_loadu_ps (b + r));                          \
    if (acc)                                                                   \
      lo = _mm256_add_ps (_mm256_loadu_ps (y + r), lo);                        \
    _mm256_storeu_ps (y + r, lo);                                              \
  }                                                                            \
                                                                               \
  for (; r < rows; r++) {                                                      \
    const TYPE *w0 = W + (gsize) r * cols;                                     \
    __m256 a0 = _mm256_setzero_ps ();                                          \
    float t0 = 0.0f, s;                                                        \
    int c = 0;                                                                 \
                                                                               \
    for (; c + 8 <= cols; c += 8)                                              \
      a0 = _mm256_fmadd_ps (LOADW (w0 + c), _mm256_loadu_ps (x + c), a0);      \
    for (; c < cols; c++)                                                      \
      t0 = fmaf (SCALARW (w0[c]), x[c], t0);                                   \
    s = reduce1 (a0) + t0;                                                     \
    s = s + b[r];                                                              \
    y[r] = acc ? y[r] + s : s;                                                 \
  }

AR_TARGET static void
matvec_avx2 (float *y, const float *W, const float *x, const float *b, int rows,
    int cols, gboolean acc){ MATVEC_BODY (float, LOAD_W_F32, SCALAR_W_F32) }

AR_TARGET static void matvec_f16_avx2 (float *y, const guint16 *W,
    const float *x, const float *b, int rows, int cols,
    gboolean acc){ MATVEC_BODY (guint16, LOAD_W_F16, SCALAR_W_F16) }

/* exp (v) for v <= 0, 8 lanes: v = n ln2 + r with |r| <= ln2 / 2 (ln2 in
 * two parts so r keeps its low bits), e^r by its degree-6 Taylor
 * polynomial (truncation below 1e-7 relative there), 2^n put into the
 * exponent bits.  Arguments below -87 are clamped: e^-87 ≈ 1.6e-38 already
 * leaves 1 + e = 1 in float, so no subnormal is ever built. */
AR_TARGET static inline __m256 exp_nonpositive (__m256 v)
{
  __m256 n, r, p;
  __m256i bits;

  v = _mm256_max_ps (v, _mm256_set1_ps (-87.0f));
  n = _mm256_round_ps (_mm256_mul_ps (v, _mm256_set1_ps (1.44269504f)),
      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  r = _mm256_fnmadd_ps (n, _mm256_set1_ps (0.693359375f), v);
  r = _mm256_fnmadd_ps (n, _mm256_set1_ps (-2.12194440e-4f), r);
  p = _mm256_set1_ps (1.0f / 720.0f);
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f / 120.0f));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f / 24.0f));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f / 6.0f));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (0.5f));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f));
  bits = _mm256_slli_epi32 (_mm256_add_epi32 (_mm256_cvtps_epi32 (n),
                                _mm256_set1_epi32 (127)),
      23);
  return _mm256_mul_ps (p, _mm256_castsi256_ps (bits));
}

/* tanh (a) σ (b) for 8 lanes with a single division:
 *   tanh (a) = sign (a) (1 − e₁) / (1 + e₁),  e₁ = e^(−2|a|)
 *   σ (b)    = (b ≥ 0 ? 1 : e₂) / (1 + e₂),   e₂ = e^(−|b|)
 * both exponentials of non-positive arguments, so nothing overflows. */
AR_TARGET static inline void
gate8 (float *u, const float *zt, const float *zs)
{
  const __m256 sign = _mm256_set1_ps (-0.0f), one = _mm256_set1_ps (1.0f);
  __m256 a = _mm256_loadu_ps (zt), b = _mm256_loadu_ps (zs);
  __m256 abs_a = _mm256_andnot_ps (sign, a);
  __m256 e1 = exp_nonpositive (_mm256_mul_ps (abs_a, _mm256_set1_ps (-2.0f)));
  __m256 e2 = exp_nonpositive (_mm256_or_ps (b, sign));
  __m256 num = _mm256_sub_ps (one, e1);
  __m256 den = _mm256_mul_ps (_mm256_add_ps (one, e1), _mm256_add_ps (one, e2));

  /* b < 0 (sign bit set): numerator times e₂ */
  num = _mm256_blendv_ps (num, _mm256_mul_ps (num, e2), b);
  /* the sign of a onto the (non-negative) quotient */
  _mm256_storeu_ps (u,
      _mm256_or_ps (_mm256_div_ps (num, den), _mm256_and_ps (a, sign)));
}

AR_TARGET static void
gate_avx2 (float *u, const float *zt, const float *zs, int n)
{
  float ta[8], tb[8], tu[8];
  int j = 0;

  for (; j + 8 <= n; j += 8)
    gate8 (u + j, zt + j, zs + j);
  if (j < n) {
    memset (ta, 0, sizeof ta);
    memset (tb, 0, sizeof tb);
    memcpy (ta, zt + j, (n - j) * sizeof (float));
    memcpy (tb, zs + j, (n - j) * sizeof (float));
    gate8 (tu, ta, tb);
    memcpy (u + j, tu, (n - j) * sizeof (float));
  }
}

const ArWaveNetKernels ar_wavenet_kernels_avx2 = {
  matvec_avx2,
  matvec_f16_avx2,
  gate_avx2,
};

#endif
