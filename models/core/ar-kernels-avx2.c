/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-kernels-avx2.c — AVX2+FMA kernels (8 floats per register).
 *
 * Compiled for any x86 target: only the functions carry
 * __attribute__((target ("avx2,fma"))), so the rest of the library (and the
 * plugin) still runs on a plain x86-64, and these are called only after
 * ar-kernels.c has checked the CPU.  On other architectures the file is empty.
 *
 * Where the time goes: a matrix-vector product reads every weight once and
 * does one FMA with it, so for matrices larger than the caches it is bound
 * by memory bandwidth, not arithmetic.  Four rows are processed together so
 * each x load feeds four FMAs, and each row has two accumulators (eight
 * independent FMA chains in all) so the FMA latency is hidden when the
 * weights do come from cache.  Loads are unaligned (loadu), which costs
 * nothing on aligned data on AVX2-era cores; tails shorter than a register
 * are finished in scalar code rather than with masked loads, which some
 * memory checkers model as full-width reads. */
#include "ar-kernels-private.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#define AR_TARGET_AVX2 __attribute__ ((target ("avx2,fma")))

/* Σ a (n) · b (n); also the single-row case of matvec. */
AR_TARGET_AVX2 static float
dot_avx2 (const float *a, const float *b, int n)
{
  __m256 s0 = _mm256_setzero_ps (), s1 = _mm256_setzero_ps ();
  __m256 s2 = _mm256_setzero_ps (), s3 = _mm256_setzero_ps ();
  __m128 h;
  float s;
  int i = 0;

  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps (_mm256_loadu_ps (a + i), _mm256_loadu_ps (b + i), s0);
    s1 = _mm256_fmadd_ps (_mm256_loadu_ps (a + i + 8),
        _mm256_loadu_ps (b + i + 8), s1);
    s2 = _mm256_fmadd_ps (_mm256_loadu_ps (a + i + 16),
        _mm256_loadu_ps (b + i + 16), s2);
    s3 = _mm256_fmadd_ps (_mm256_loadu_ps (a + i + 24),
        _mm256_loadu_ps (b + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8)
    s0 = _mm256_fmadd_ps (_mm256_loadu_ps (a + i), _mm256_loadu_ps (b + i), s0);

  s0 = _mm256_add_ps (_mm256_add_ps (s0, s1), _mm256_add_ps (s2, s3));
  h = _mm_add_ps (_mm256_castps256_ps128 (s0), _mm256_extractf128_ps (s0, 1));
  h = _mm_add_ps (h, _mm_movehl_ps (h, h));
  h = _mm_add_ss (h, _mm_movehdup_ps (h));
  s = _mm_cvtss_f32 (h);

  for (; i < n; i++)
    s += a[i] * b[i];
  return s;
}

/* y (rows) = W (rows, cols) · x (cols) + add (rows, or NULL; may equal y) */
AR_TARGET_AVX2 static void
matvec_add_avx2 (float *y, const float *W, const float *x, const float *add,
    int rows, int cols)
{
  int r = 0;

  for (; r + 4 <= rows; r += 4) {
    const float *w0 = W + (gsize) r * cols;
    const float *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;
    __m256 a0 = _mm256_setzero_ps (), a1 = _mm256_setzero_ps ();
    __m256 a2 = _mm256_setzero_ps (), a3 = _mm256_setzero_ps ();
    __m256 b0 = _mm256_setzero_ps (), b1 = _mm256_setzero_ps ();
    __m256 b2 = _mm256_setzero_ps (), b3 = _mm256_setzero_ps ();
    __m256 t0, t1;
    __m128 sum;
    float tail[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
    int c = 0;

    for (; c + 16 <= cols; c += 16) {
      __m256 xa = _mm256_loadu_ps (x + c);
      __m256 xb = _mm256_loadu_ps (x + c + 8);

      a0 = _mm256_fmadd_ps (_mm256_loadu_ps (w0 + c), xa, a0);
      a1 = _mm256_fmadd_ps (_mm256_loadu_ps (w1 + c), xa, a1);
      a2 = _mm256_fmadd_ps (_mm256_loadu_ps (w2 + c), xa, a2);
      a3 = _mm256_fmadd_ps (_mm256_loadu_ps (w3 + c), xa, a3);
      b0 = _mm256_fmadd_ps (_mm256_loadu_ps (w0 + c + 8), xb, b0);
      b1 = _mm256_fmadd_ps (_mm256_loadu_ps (w1 + c + 8), xb, b1);
      b2 = _mm256_fmadd_ps (_mm256_loadu_ps (w2 + c + 8), xb, b2);
      b3 = _mm256_fmadd_ps (_mm256_loadu_ps (w3 + c + 8), xb, b3);
    }
    if (c + 8 <= cols) {
      __m256 xa = _mm256_loadu_ps (x + c);

      a0 = _mm256_fmadd_ps (_mm256_loadu_ps (w0 + c), xa, a0);
      a1 = _mm256_fmadd_ps (_mm256_loadu_ps (w1 + c), xa, a1);
      a2 = _mm256_fmadd_ps (_mm256_loadu_ps (w2 + c), xa, a2);
      a3 = _mm256_fmadd_ps (_mm256_loadu_ps (w3 + c), xa, a3);
      c += 8;
    }
    for (; c < cols; c++) {
      tail[0] += w0[c] * x[c];
      tail[1] += w1[c] * x[c];
      tail[2] += w2[c] * x[c];
      tail[3] += w3[c] * x[c];
    }

    a0 = _mm256_add_ps (a0, b0);
    a1 = _mm256_add_ps (a1, b1);
    a2 = _mm256_add_ps (a2, b2);
    a3 = _mm256_add_ps (a3, b3);
    /* Reduce the four rows at once.  hadd works within each 128-bit half:
     * t0 = [a0 pairs, a1 pairs | same for the upper half], and the second
     * hadd leaves, in each half, one partial sum per row in row order; adding
     * the halves gives [row r, r+1, r+2, r+3]. */
    t0 = _mm256_hadd_ps (a0, a1);
    t1 = _mm256_hadd_ps (a2, a3);
    t0 = _mm256_hadd_ps (t0, t1);
    sum =
        _mm_add_ps (_mm256_castps256_ps128 (t0), _mm256_extractf128_ps (t0, 1));
    sum = _mm_add_ps (sum, _mm_loadu_ps (tail));
    if (add)
      sum = _mm_add_ps (sum, _mm_loadu_ps (add + r));
    _mm_storeu_ps (y + r, sum);
  }

  for (; r < rows; r++) {
    float s = dot_avx2 (W + (gsize) r * cols, x, cols);

    y[r] = add ? s + add[r] : s;
  }
}

const ArKernelTable ar_kernels_table_avx2 = {
  matvec_add_avx2,
  dot_avx2,
};

#endif /* x86 */
