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

    for (int r0 = 0; r0 < R32; r0 += 32)
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
  for (int i = 0; i < C; i++) {
    float e = ts[i], f = ts[C + i];
    float t = (1.0f - e) / (1.0f + e);
    float s = z[C + i] >= 0.0f ? 1.0f / (1.0f + f) : f / (1.0f + f);

    t = z[i] < 0.0f ? -t : t;
    ts[i] = t;
    ts[C + i] = s;
    out[i] = t * s;
  }
}
