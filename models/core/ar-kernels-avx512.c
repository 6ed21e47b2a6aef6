/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-kernels-avx512.c — AVX-512F kernels (16 floats per register).
 *
 * Deliberately the plainest correct form: four rows share each x load (the
 * part that matters for memory bandwidth), one accumulator per row, and the
 * column tail is one masked load.  AVX-512 masked loads do not touch (and do
 * not fault on) masked-out elements, so the tail never reads past a row and
 * no scalar clean-up loop is needed.  Functions carry
 * __attribute__((target ("avx512f"))) and are only called after ar-kernels.c
 * has checked the CPU; on other architectures the file is empty. */
#include "ar-kernels-private.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#define AR_TARGET_AVX512 __attribute__ ((target ("avx512f")))

/* Lanes [0, n) set, 0 <= n <= 16. */
AR_TARGET_AVX512 static inline __mmask16
tail_mask (int n)
{
  return (__mmask16) ((1u << n) - 1u);
}

/* Σ a (n) · b (n); also the single-row case of matvec. */
AR_TARGET_AVX512 static float
dot_avx512 (const float *a, const float *b, int n)
{
  __m512 s = _mm512_setzero_ps ();
  int i = 0;

  for (; i + 16 <= n; i += 16)
    s = _mm512_fmadd_ps (_mm512_loadu_ps (a + i), _mm512_loadu_ps (b + i), s);
  if (i < n) {
    __mmask16 m = tail_mask (n - i);

    s = _mm512_fmadd_ps (_mm512_maskz_loadu_ps (m, a + i),
        _mm512_maskz_loadu_ps (m, b + i), s);
  }
  return _mm512_reduce_add_ps (s);
}

/* y (rows) = W (rows, cols) · x (cols) + add (rows, or NULL; may equal y) */
AR_TARGET_AVX512 static void
matvec_add_avx512 (float *y, const float *W, const float *x, const float *add,
    int rows, int cols)
{
  int r = 0;

  for (; r + 4 <= rows; r += 4) {
    const float *w0 = W + (gsize) r * cols;
    const float *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;
    __m512 a0 = _mm512_setzero_ps (), a1 = _mm512_setzero_ps ();
    __m512 a2 = _mm512_setzero_ps (), a3 = _mm512_setzero_ps ();
    int c = 0, k;

    for (; c + 16 <= cols; c += 16) {
      __m512 xv = _mm512_loadu_ps (x + c);

      a0 = _mm512_fmadd_ps (_mm512_loadu_ps (w0 + c), xv, a0);
      a1 = _mm512_fmadd_ps (_mm512_loadu_ps (w1 + c), xv, a1);
      a2 = _mm512_fmadd_ps (_mm512_loadu_ps (w2 + c), xv, a2);
      a3 = _mm512_fmadd_ps (_mm512_loadu_ps (w3 + c), xv, a3);
    }
    if (c < cols) {
      __mmask16 m = tail_mask (cols - c);
      __m512 xv = _mm512_maskz_loadu_ps (m, x + c);

      a0 = _mm512_fmadd_ps (_mm512_maskz_loadu_ps (m, w0 + c), xv, a0);
      a1 = _mm512_fmadd_ps (_mm512_maskz_loadu_ps (m, w1 + c), xv, a1);
      a2 = _mm512_fmadd_ps (_mm512_maskz_loadu_ps (m, w2 + c), xv, a2);
      a3 = _mm512_fmadd_ps (_mm512_maskz_loadu_ps (m, w3 + c), xv, a3);
    }

    {
      float s[4];

      s[0] = _mm512_reduce_add_ps (a0);
      s[1] = _mm512_reduce_add_ps (a1);
      s[2] = _mm512_reduce_add_ps (a2);
      s[3] = _mm512_reduce_add_ps (a3);
      for (k = 0; k < 4; k++)
        y[r + k] = add ? s[k] + add[r + k] : s[k];
    }
  }

  for (; r < rows; r++) {
    float s = dot_avx512 (W + (gsize) r * cols, x, cols);

    y[r] = add ? s + add[r] : s;
  }
}

/* One matvec per row of X (exact by construction). */
AR_TARGET_AVX512 static void
matvec_multi_avx512 (float *Y, int ldy, const float *W, const float *X,
    const float *add, int rows, int cols, int T,
    G_GNUC_UNUSED gboolean streamed)
{
  for (int t = 0; t < T; t++)
    matvec_add_avx512 (Y + (gsize) t * ldy, W, X + (gsize) t * cols, add,
        rows, cols);
}

const ArKernelTable ar_kernels_table_avx512 = {
  matvec_add_avx512,
  dot_avx512,
  ar_matvec_t_avx2, /* no AVX-512 versions of these four (and Q4_0) yet */
  ar_exp_shift_sum_avx2,
  ar_matvec_f16_avx2,
  ar_matvec_q8_0_avx2,
  matvec_multi_avx512,
  ar_matvec_q4_0_avx2,
};

#endif /* x86 */
