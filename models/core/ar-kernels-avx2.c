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
 * memory checkers model as full-width reads.
 *
 * The F16 and Q8_0 kernels read 2 and 34/32 bytes per weight instead of 4,
 * which is where their speed comes from once the weights outgrow the
 * caches. */
#include "ar-kernels-private.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#define AR_TARGET_AVX2 __attribute__ ((target ("avx2,fma")))
/* The half-precision kernels also need F16C (checked with AVX2, see
 * ar_simd_detect). */
#define AR_TARGET_AVX2_F16C __attribute__ ((target ("avx2,fma,f16c")))

/* 8 binary16 values at p (no alignment) widened to 8 floats. */
#define LOAD_F16(p) _mm256_cvtph_ps (_mm_loadu_si128 ((const __m128i *) (p)))

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

/* Horizontal sum of the 8 lanes. */
AR_TARGET_AVX2 static inline float
hsum_avx2 (__m256 v)
{
  __m128 h =
      _mm_add_ps (_mm256_castps256_ps128 (v), _mm256_extractf128_ps (v, 1));

  h = _mm_add_ps (h, _mm_movehl_ps (h, h));
  h = _mm_add_ss (h, _mm_movehdup_ps (h));
  return _mm_cvtss_f32 (h);
}

/* y (rows) = W (rows, cols) · x (cols), W in binary16.  As matvec_add_avx2,
 * four rows share each x load; F16C widens 8 halves to 8 floats exactly, so
 * the only difference from the F32 kernel is half the bytes to read. */
AR_TARGET_AVX2_F16C void
ar_matvec_f16_avx2 (float *y, const guint16 *W, const float *x, int rows,
    int cols)
{
  int r = 0;

  for (; r + 4 <= rows; r += 4) {
    const guint16 *w0 = W + (gsize) r * cols;
    const guint16 *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;
    __m256 a0 = _mm256_setzero_ps (), a1 = _mm256_setzero_ps ();
    __m256 a2 = _mm256_setzero_ps (), a3 = _mm256_setzero_ps ();
    __m256 t0, t1;
    __m128 sum;
    float tail[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
    int c = 0;

    for (; c + 8 <= cols; c += 8) {
      __m256 xa = _mm256_loadu_ps (x + c);

      a0 = _mm256_fmadd_ps (LOAD_F16 (w0 + c), xa, a0);
      a1 = _mm256_fmadd_ps (LOAD_F16 (w1 + c), xa, a1);
      a2 = _mm256_fmadd_ps (LOAD_F16 (w2 + c), xa, a2);
      a3 = _mm256_fmadd_ps (LOAD_F16 (w3 + c), xa, a3);
    }
    for (; c < cols; c++) {
      tail[0] += _cvtsh_ss (w0[c]) * x[c];
      tail[1] += _cvtsh_ss (w1[c]) * x[c];
      tail[2] += _cvtsh_ss (w2[c]) * x[c];
      tail[3] += _cvtsh_ss (w3[c]) * x[c];
    }
    /* the same four-row reduction as matvec_add_avx2 */
    t0 = _mm256_hadd_ps (a0, a1);
    t1 = _mm256_hadd_ps (a2, a3);
    t0 = _mm256_hadd_ps (t0, t1);
    sum =
        _mm_add_ps (_mm256_castps256_ps128 (t0), _mm256_extractf128_ps (t0, 1));
    _mm_storeu_ps (y + r, _mm_add_ps (sum, _mm_loadu_ps (tail)));
  }

  for (; r < rows; r++) {
    const guint16 *w = W + (gsize) r * cols;
    __m256 a = _mm256_setzero_ps ();
    float s;
    int c = 0;

    for (; c + 8 <= cols; c += 8)
      a = _mm256_fmadd_ps (LOAD_F16 (w + c), _mm256_loadu_ps (x + c), a);
    s = hsum_avx2 (a);
    for (; c < cols; c++)
      s += _cvtsh_ss (w[c]) * x[c];
    y[r] = s;
  }
}

/* Σ over the 32 int8 pairs of one block, as 8 int32 lanes.  maddubs
 * multiplies unsigned by signed bytes, so the sign of w moves onto x:
 * |w| * (x * sign w) = w x.  |w| <= 128 as an unsigned byte is exact even for
 * w = -128, and x * sign w stays in [-127, 127] because x comes from
 * ar_quantize_q8_0; a pair sum is at most 2 * 128 * 127 = 32512, so the
 * saturating 16-bit add never saturates and the result is exact. */
AR_TARGET_AVX2 static inline __m256i
block_dot_avx2 (const gint8 *w, const gint8 *x)
{
  __m256i vw = _mm256_loadu_si256 ((const __m256i *) w);
  __m256i vx = _mm256_loadu_si256 ((const __m256i *) x);
  __m256i p16 =
      _mm256_maddubs_epi16 (_mm256_abs_epi8 (vw), _mm256_sign_epi8 (vx, vw));

  return _mm256_madd_epi16 (p16, _mm256_set1_epi16 (1));
}

/* y (rows) = W (rows, n_blocks) · xq (n_blocks), Q8_0.  Per block: the exact
 * integer dot (block_dot_avx2), converted to float and scaled by d_W d_x into
 * eight float lanes; two rows at a time so each x block load serves two. */
AR_TARGET_AVX2_F16C void
ar_matvec_q8_0_avx2 (float *y, const ArBlockQ8_0 *W, const ArBlockQ8_0 *xq,
    int rows, int n_blocks)
{
  int r = 0;

  for (; r + 2 <= rows; r += 2) {
    const ArBlockQ8_0 *w0 = W + (gsize) r * n_blocks, *w1 = w0 + n_blocks;
    __m256 a0 = _mm256_setzero_ps (), a1 = _mm256_setzero_ps ();
    int b;

    for (b = 0; b < n_blocks; b++) {
      float dx = _cvtsh_ss (xq[b].d);
      __m256 d0 = _mm256_set1_ps (_cvtsh_ss (w0[b].d) * dx);
      __m256 d1 = _mm256_set1_ps (_cvtsh_ss (w1[b].d) * dx);

      a0 = _mm256_fmadd_ps (d0,
          _mm256_cvtepi32_ps (block_dot_avx2 (w0[b].qs, xq[b].qs)), a0);
      a1 = _mm256_fmadd_ps (d1,
          _mm256_cvtepi32_ps (block_dot_avx2 (w1[b].qs, xq[b].qs)), a1);
    }
    y[r] = hsum_avx2 (a0);
    y[r + 1] = hsum_avx2 (a1);
  }

  for (; r < rows; r++) {
    const ArBlockQ8_0 *w = W + (gsize) r * n_blocks;
    __m256 a = _mm256_setzero_ps ();
    int b;

    for (b = 0; b < n_blocks; b++) {
      __m256 d = _mm256_set1_ps (_cvtsh_ss (w[b].d) * _cvtsh_ss (xq[b].d));

      a = _mm256_fmadd_ps (d,
          _mm256_cvtepi32_ps (block_dot_avx2 (w[b].qs, xq[b].qs)), a);
    }
    y[r] = hsum_avx2 (a);
  }
}

const ArKernelTable ar_kernels_table_avx2 = {
  matvec_add_avx2,
  dot_avx2,
  ar_matvec_f16_avx2,
  ar_matvec_q8_0_avx2,
};

#endif /* x86 */
