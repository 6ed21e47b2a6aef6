/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-pixelcnn-kernels.c — the one product the PixelCNN generator spends its
 * time in (ar-pixelcnn-private.h), in plain C and with AVX2+FMA, chosen at
 * run time from ar_simd_get_level (), and the gate (its exponentials by
 * ar_exp_shift_sum, SIMD at the same levels).
 *
 * The products are small (64 outputs of 3 … 192 inputs for the default
 * shape) and the weights stay in the caches, so what counts is arithmetic:
 * the outputs are taken 32 at a time in four 8-float accumulators that stay
 * in registers through the whole sum, each input broadcast once and its
 * weight row read once per block; two positions (rows of X) share each
 * weight load.  The same body is compiled twice, once for the baseline
 * target (GCC's generic vectors become SSE pairs) and once with
 * target ("avx2,fma") (FMA contractions), so the plain-C level is always
 * there; the levels round differently (FMA) and are tested against each
 * other within a tolerance.
 *
 * Every output is its bias plus the terms x[k] W[k][r] added in order
 * k = 0, 1, …, whatever the position pairing or block it falls in: results
 * do not depend on n or on which outputs share a block. */
#include "pixelcnn/ar-pixelcnn-private.h"
#include "core/ar-kernels.h"

#include <math.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

typedef float v8sf __attribute__ ((vector_size (32)));

#define AR_INLINE static inline __attribute__ ((always_inline))

/* Unaligned loads and stores (GNU statement expressions: a function
 * returning a 32-byte vector would change the ABI of the baseline build). */
#define ld(p)                                                                  \
  ({                                                                           \
    v8sf v_;                                                                   \
    memcpy (&v_, (p), sizeof v_);                                              \
    v_;                                                                        \
  })
#define st(p, v)                                                               \
  do {                                                                         \
    v8sf v_ = (v);                                                             \
    memcpy ((p), &v_, sizeof v_);                                              \
  } while (0)

/* Outputs [r0, r0 + 32) of one or two positions (x1 == NULL: one). */
AR_INLINE void
block32 (float *y0, float *y1, const float *b0, const float *b1,
    const float *x0, const float *x1, const float *WT, int K, int R, int r0)
{
  v8sf a0 = ld (b0 + r0), a1 = ld (b0 + r0 + 8), a2 = ld (b0 + r0 + 16),
       a3 = ld (b0 + r0 + 24);

  if (x1 == NULL) {
    for (int k = 0; k < K; k++) {
      const float *w = WT + (gsize) k * R + r0;
      const float x = x0[k];
      a0 += x * ld (w);
      a1 += x * ld (w + 8);
      a2 += x * ld (w + 16);
      a3 += x * ld (w + 24);
    }
  } else {
    v8sf c0 = ld (b1 + r0), c1 = ld (b1 + r0 + 8), c2 = ld (b1 + r0 + 16),
         c3 = ld (b1 + r0 + 24);
    for (int k = 0; k < K; k++) {
      const float *w = WT + (gsize) k * R + r0;
      const v8sf w0 = ld (w), w1 = ld (w + 8), w2 = ld (w + 16),
                 w3 = ld (w + 24);
      const float x = x0[k], z = x1[k];
      a0 += x * w0;
      a1 += x * w1;
      a2 += x * w2;
      a3 += x * w3;
      c0 += z * w0;
      c1 += z * w1;
      c2 += z * w2;
      c3 += z * w3;
    }
    st (y1 + r0, c0);
    st (y1 + r0 + 8, c1);
    st (y1 + r0 + 16, c2);
    st (y1 + r0 + 24, c3);
  }
  st (y0 + r0, a0);
  st (y0 + r0 + 8, a1);
  st (y0 + r0 + 16, a2);
  st (y0 + r0 + 24, a3);
}

/* Outputs [r0, r0 + 64) of one position: eight independent accumulator
 * chains, enough to hide the latency of the multiply-adds. */
AR_INLINE void
block64 (float *y, const float *b, const float *x, const float *WT, int K,
    int R, int r0)
{
  v8sf a0 = ld (b + r0), a1 = ld (b + r0 + 8), a2 = ld (b + r0 + 16),
       a3 = ld (b + r0 + 24), a4 = ld (b + r0 + 32), a5 = ld (b + r0 + 40),
       a6 = ld (b + r0 + 48), a7 = ld (b + r0 + 56);

  for (int k = 0; k < K; k++) {
    const float *w = WT + (gsize) k * R + r0;
    const float xk = x[k];
    a0 += xk * ld (w);
    a1 += xk * ld (w + 8);
    a2 += xk * ld (w + 16);
    a3 += xk * ld (w + 24);
    a4 += xk * ld (w + 32);
    a5 += xk * ld (w + 40);
    a6 += xk * ld (w + 48);
    a7 += xk * ld (w + 56);
  }
  st (y + r0, a0);
  st (y + r0 + 8, a1);
  st (y + r0 + 16, a2);
  st (y + r0 + 24, a3);
  st (y + r0 + 32, a4);
  st (y + r0 + 40, a5);
  st (y + r0 + 48, a6);
  st (y + r0 + 56, a7);
}

/* Outputs [r0, R) of one position, fewer than 32: 8 at a time, then one. */
AR_INLINE void
block_tail (float *y, const float *b, const float *x, const float *WT, int K,
    int R, int r0)
{
  for (; r0 + 8 <= R; r0 += 8) {
    v8sf a = ld (b + r0);
    for (int k = 0; k < K; k++)
      a += x[k] * ld (WT + (gsize) k * R + r0);
    st (y + r0, a);
  }
  for (; r0 < R; r0++) {
    float a = b[r0];
    for (int k = 0; k < K; k++)
      a += x[k] * WT[(gsize) k * R + r0];
    y[r0] = a;
  }
}

AR_INLINE void
rows_product_body (float *Y, int ldy, const float *B, int ldb, const float *X,
    int ldx, const float *WT, int n, int K, int R)
{
  int R32 = R / 32 * 32;

  for (int i = 0; i < n; i += 2) {
    gboolean two = i + 1 < n;
    float *y0 = Y + (gsize) i * ldy, *y1 = two ? y0 + ldy : NULL;
    const float *b0 = B + (gsize) i * ldb, *b1 = two ? b0 + ldb : NULL;
    const float *x0 = X + (gsize) i * ldx, *x1 = two ? x0 + ldx : NULL;

    int r0 = 0;

    if (!two)
      for (; r0 + 64 <= R; r0 += 64)
        block64 (y0, b0, x0, WT, K, R, r0);
    for (; r0 < R32; r0 += 32)
      block32 (y0, y1, b0, b1, x0, x1, WT, K, R, r0);
    block_tail (y0, b0, x0, WT, K, R, R32);
    if (two)
      block_tail (y1, b1, x1, WT, K, R, R32);
  }
}

static void
rows_product_c (float *Y, int ldy, const float *B, int ldb, const float *X,
    int ldx, const float *WT, int n, int K, int R)
{
  rows_product_body (Y, ldy, B, ldb, X, ldx, WT, n, K, R);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__ ((target ("avx2,fma"))) static void
rows_product_avx2 (float *Y, int ldy, const float *B, int ldb, const float *X,
    int ldx, const float *WT, int n, int K, int R)
{
  rows_product_body (Y, ldy, B, ldb, X, ldx, WT, n, K, R);
}
#endif

void
ar_pixelcnn_rows_product (float *Y, int ldy, const float *B, int ldb,
    const float *X, int ldx, const float *WT, int n, int K, int R)
{
#if defined(__x86_64__) || defined(__i386__)
  if (ar_simd_get_level () >= AR_SIMD_AVX2) {
    rows_product_avx2 (Y, ldy, B, ldb, X, ldx, WT, n, K, R);
    return;
  }
#endif
  rows_product_c (Y, ldy, B, ldb, X, ldx, WT, n, K, R);
}

/* The gate after the exponentials: ts holds e^−2|a| | e^−|b|. */
static void
gate_finish_c (float *out, float *ts, const float *z, int C, int from)
{
  for (int i = from; i < C; i++) {
    float e = ts[i], f = ts[C + i];
    float t = (1.0f - e) / (1.0f + e);
    float s = z[C + i] >= 0.0f ? 1.0f / (1.0f + f) : f / (1.0f + f);

    t = z[i] < 0.0f ? -t : t;
    ts[i] = t;
    ts[C + i] = s;
    out[i] = t * s;
  }
}

#if defined(__x86_64__) || defined(__i386__)
/* The same, eight at a time: the same correctly rounded divisions and
 * selections, so the same values as gate_finish_c. */
__attribute__ ((target ("avx2,fma"))) static void
gate_finish_avx2 (float *out, float *ts, const float *z, int C)
{
  const __m256 one = _mm256_set1_ps (1.0f), zero = _mm256_setzero_ps ();
  int i = 0;

  for (; i + 8 <= C; i += 8) {
    __m256 e = _mm256_loadu_ps (ts + i), f = _mm256_loadu_ps (ts + C + i);
    __m256 a = _mm256_loadu_ps (z + i), b = _mm256_loadu_ps (z + C + i);
    __m256 t = _mm256_div_ps (_mm256_sub_ps (one, e), _mm256_add_ps (one, e));
    __m256 neg = _mm256_cmp_ps (a, zero, _CMP_LT_OQ);
    __m256 num = _mm256_blendv_ps (f, one, _mm256_cmp_ps (b, zero, _CMP_GE_OQ));
    __m256 s = _mm256_div_ps (num, _mm256_add_ps (one, f));

    t = _mm256_blendv_ps (t, _mm256_sub_ps (zero, t), neg);
    _mm256_storeu_ps (ts + i, t);
    _mm256_storeu_ps (ts + C + i, s);
    _mm256_storeu_ps (out + i, _mm256_mul_ps (t, s));
  }
  gate_finish_c (out, ts, z, C, i);
}
#endif

void
ar_pixelcnn_gate (float *out, float *ts, const float *z, int C)
{
  /* every exponential of a non-positive argument: no overflow, and the
   * SIMD exponential's accurate range */
  for (int i = 0; i < C; i++) {
    ts[i] = -2.0f * fabsf (z[i]);
    ts[C + i] = -fabsf (z[C + i]);
  }
  ar_exp_shift_sum (ts, 0.0f, 2 * C);
#if defined(__x86_64__) || defined(__i386__)
  if (ar_simd_get_level () >= AR_SIMD_AVX2) {
    gate_finish_avx2 (out, ts, z, C);
    return;
  }
#endif
  gate_finish_c (out, ts, z, C, 0);
}
