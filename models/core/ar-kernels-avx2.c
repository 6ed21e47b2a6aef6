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
 * The F16, Q8_0 and Q4_0 kernels read 2, 34/32 and 18/32 bytes per weight
 * instead of 4, which is where their speed comes from once the weights
 * outgrow the caches. */
#include "ar-kernels-private.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <math.h>
#include <string.h>

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

/* Matrices of at least this many weights (8 MB of F32, a quarter of the
 * development machine's L3 cache) are taken to stream from memory on every
 * call, e.g. a 32000-token classifier.  Smaller ones may well be cached
 * (a GRU's 3 MB recurrent matrix is, during generation), and there the
 * four-row blocking below is faster. */
#define STREAM_MIN_WEIGHTS (2 * 1024 * 1024)

/* One row of matvec_add_avx2 (): w (cols) · x (cols) [+ *add], with the
 * arithmetic of one row of its four-row blocks, operation for operation —
 * two accumulators over 16 columns, the hadd reduction order, the scalar
 * tail, then the bias — so that every row comes out the same bit for bit
 * whichever way the rows are grouped: alone here (streamed matrices, the
 * rows left over after the blocks) or in a block, and however a matrix is
 * split into row ranges (thread pools, the batched exact products). */
/* The end of row_avx2 (): the sum @ab of its two accumulators (a + b)
 * reduced in the blocks' order, then the scalar tail w[c] x[c] for c from
 * @from (where the 8-column steps end) to @cols, then *@add.  Every kernel
 * that claims row_avx2 ()'s results ends its rows here. */
AR_TARGET_AVX2 static inline float
row_finish_avx2 (__m256 ab, const float *w, const float *x, int from, int cols,
    const float *add)
{
  float l[8], tail = 0.0f, s;

  /* explicit fmaf: left to the compiler, whether a product is contracted
   * with its sum could differ between callers */
  for (int c = from; c < cols; c++)
    tail = fmaf (w[c], x[c], tail);
  _mm256_storeu_ps (l, ab);
  /* the block's reduction: ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)) */
  s = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
  s += tail;
  return add ? s + *add : s;
}

AR_TARGET_AVX2 static float
row_avx2 (const float *w, const float *x, const float *add, int cols)
{
  __m256 a = _mm256_setzero_ps (), b = _mm256_setzero_ps ();
  int c = 0;

  for (; c + 16 <= cols; c += 16) {
    a = _mm256_fmadd_ps (_mm256_loadu_ps (w + c), _mm256_loadu_ps (x + c), a);
    b = _mm256_fmadd_ps (_mm256_loadu_ps (w + c + 8),
        _mm256_loadu_ps (x + c + 8), b);
  }
  if (c + 8 <= cols) {
    a = _mm256_fmadd_ps (_mm256_loadu_ps (w + c), _mm256_loadu_ps (x + c), a);
    c += 8;
  }
  return row_finish_avx2 (_mm256_add_ps (a, b), w, x, c, cols, add);
}

/* y (rows) = W (rows, cols) · x (cols) + add (rows, or NULL; may equal y) */
AR_TARGET_AVX2 static void
matvec_add_avx2 (float *y, const float *W, const float *x, const float *add,
    int rows, int cols)
{
  int r = 0;

  /* From memory, one row at a time: the weights are then one sequential
   * stream, which the hardware prefetcher follows best: 15-30 % more
   * bandwidth than four interleaved rows when the weights come from memory
   * (measured on 32000 x 288, 768 x 288 and 288 x 288 matrices), but 5-25 %
   * less from L2 or L3, where four rows sharing each load of x win. */
  if ((gsize) rows * cols >= STREAM_MIN_WEIGHTS) {
    for (; r < rows; r++)
      y[r] = row_avx2 (W + (gsize) r * cols, x, add ? add + r : NULL, cols);
    return;
  }

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
    /* explicit fmaf, as in row_avx2 (): left to the compiler, whether a
     * product is contracted with its sum could differ between the two */
    for (; c < cols; c++) {
      tail[0] = fmaf (w0[c], x[c], tail[0]);
      tail[1] = fmaf (w1[c], x[c], tail[1]);
      tail[2] = fmaf (w2[c], x[c], tail[2]);
      tail[3] = fmaf (w3[c], x[c], tail[3]);
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

  for (; r < rows; r++)
    y[r] = row_avx2 (W + (gsize) r * cols, x, add ? add + r : NULL, cols);
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

/* y (cols) = Σ_r x[r] W[r, :].  Columns in strips of 32 (four registers),
 * then 8, then scalars; within a strip the rows are split in two
 * interleaved halves with their own accumulators (even and odd rows), so
 * two FMA chains run at once even when a strip is one register wide — the
 * common case of an attention head of 8 values. */
AR_TARGET_AVX2 void
ar_matvec_t_avx2 (float *y, const float *W, const float *x, int rows, int cols)
{
  int c = 0;

  for (; c + 32 <= cols; c += 32) {
    __m256 a0 = _mm256_setzero_ps (), a1 = _mm256_setzero_ps ();
    __m256 a2 = _mm256_setzero_ps (), a3 = _mm256_setzero_ps ();

    for (int r = 0; r < rows; r++) {
      const float *w = W + (gsize) r * cols + c;
      __m256 xr = _mm256_set1_ps (x[r]);

      a0 = _mm256_fmadd_ps (xr, _mm256_loadu_ps (w), a0);
      a1 = _mm256_fmadd_ps (xr, _mm256_loadu_ps (w + 8), a1);
      a2 = _mm256_fmadd_ps (xr, _mm256_loadu_ps (w + 16), a2);
      a3 = _mm256_fmadd_ps (xr, _mm256_loadu_ps (w + 24), a3);
    }
    _mm256_storeu_ps (y + c, a0);
    _mm256_storeu_ps (y + c + 8, a1);
    _mm256_storeu_ps (y + c + 16, a2);
    _mm256_storeu_ps (y + c + 24, a3);
  }
  for (; c + 8 <= cols; c += 8) {
    __m256 a0 = _mm256_setzero_ps (), a1 = _mm256_setzero_ps ();
    int r = 0;

    for (; r + 2 <= rows; r += 2) {
      const float *w = W + (gsize) r * cols + c;

      a0 = _mm256_fmadd_ps (_mm256_set1_ps (x[r]), _mm256_loadu_ps (w), a0);
      a1 = _mm256_fmadd_ps (_mm256_set1_ps (x[r + 1]),
          _mm256_loadu_ps (w + cols), a1);
    }
    if (r < rows)
      a0 = _mm256_fmadd_ps (_mm256_set1_ps (x[r]),
          _mm256_loadu_ps (W + (gsize) r * cols + c), a0);
    _mm256_storeu_ps (y + c, _mm256_add_ps (a0, a1));
  }
  for (; c < cols; c++) {
    float s = 0.0f;

    for (int r = 0; r < rows; r++)
      s += x[r] * W[(gsize) r * cols + c];
    y[c] = s;
  }
}

/* exp (x) for x <= 88, 8 lanes: x = n ln2 + r with n = round (x / ln2) and
 * |r| <= ln2 / 2 (ln2 split in two parts so r is exact to float
 * precision), e^r by its Taylor polynomial to degree 6 (truncation below
 * 1e-7 relative on that interval), times 2^n built in the exponent bits.
 * Below -87.33 the result would be subnormal: it is returned as 0. */
AR_TARGET_AVX2 static inline __m256
exp_avx2 (__m256 x)
{
  const __m256 log2e = _mm256_set1_ps (1.44269504088896341f);
  const __m256 ln2_hi = _mm256_set1_ps (0.693359375f);
  const __m256 ln2_lo = _mm256_set1_ps (-2.12194440e-4f);
  __m256 small = _mm256_cmp_ps (x, _mm256_set1_ps (-87.33f), _CMP_LT_OQ);
  __m256 n, r, p;
  __m256i e;

  x = _mm256_max_ps (x, _mm256_set1_ps (-87.33f));
  n = _mm256_round_ps (_mm256_mul_ps (x, log2e),
      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  r = _mm256_fnmadd_ps (n, ln2_hi, x);
  r = _mm256_fnmadd_ps (n, ln2_lo, r);
  p = _mm256_set1_ps (1.0f / 720);
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f / 120));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f / 24));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f / 6));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (0.5f));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f));
  e = _mm256_slli_epi32 (_mm256_add_epi32 (_mm256_cvtps_epi32 (n),
                             _mm256_set1_epi32 (127)),
      23);
  p = _mm256_mul_ps (p, _mm256_castsi256_ps (e));
  return _mm256_andnot_ps (small, p);
}

/* x[i] = exp (x[i] - shift), returning the sum (two accumulators; the
 * tail through a zero-padded buffer, so lanes past n never touch memory). */
AR_TARGET_AVX2 float
ar_exp_shift_sum_avx2 (float *x, float shift, int n)
{
  __m256 vs = _mm256_set1_ps (shift);
  __m256 s0 = _mm256_setzero_ps (), s1 = _mm256_setzero_ps ();
  float tail = 0.0f;
  int i = 0;

  for (; i + 16 <= n; i += 16) {
    __m256 a = exp_avx2 (_mm256_sub_ps (_mm256_loadu_ps (x + i), vs));
    __m256 b = exp_avx2 (_mm256_sub_ps (_mm256_loadu_ps (x + i + 8), vs));

    _mm256_storeu_ps (x + i, a);
    _mm256_storeu_ps (x + i + 8, b);
    s0 = _mm256_add_ps (s0, a);
    s1 = _mm256_add_ps (s1, b);
  }
  if (i < n) {
    float buf[16] = { 0 };
    int rest = n - i, k;
    __m256 a, b;

    memcpy (buf, x + i, rest * sizeof (float));
    a = exp_avx2 (_mm256_sub_ps (_mm256_loadu_ps (buf), vs));
    b = exp_avx2 (_mm256_sub_ps (_mm256_loadu_ps (buf + 8), vs));
    _mm256_storeu_ps (buf, a);
    _mm256_storeu_ps (buf + 8, b);
    memcpy (x + i, buf, rest * sizeof (float));
    /* padded lanes hold exp (0 - shift): leave them out of the sum */
    for (k = 0; k < rest; k++)
      tail += buf[k];
  }
  return hsum_avx2 (_mm256_add_ps (s0, s1)) + tail;
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

      /* two rows read side by side stream worse than one: fetch the pair
       * after next (68 bytes of it per block), 13 -> 17 GB/s on a
       * 32000 x 288 matrix */
      if (r + 6 <= rows)
        _mm_prefetch ((const char *) (w0 + 4 * (gsize) n_blocks) + 68 * b,
            _MM_HINT_T0);
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

/* 32 Q4_0 codes (16 bytes at qs) unpacked to one byte each, 0..15, in
 * element order: the low nibbles (elements 0..15) in the lower 128-bit
 * lane, the high nibbles (16..31) in the upper one, lined up with the 32
 * int8 of a Q8_0 block.  The bytes are loaded into both lanes and only the
 * upper lane's are shifted (by 4 within each 32-bit word; the bits shifted
 * in from the neighbouring byte are masked off): a load and no shuffle,
 * which was 10-15 % faster than shifting a copy and inserting it. */
AR_TARGET_AVX2 static inline __m256i
unpack_q4_0_avx2 (const guint8 *qs)
{
  __m256i v =
      _mm256_broadcastsi128_si256 (_mm_loadu_si128 ((const __m128i *) qs));

  v = _mm256_srlv_epi32 (v, _mm256_setr_epi32 (0, 0, 0, 0, 4, 4, 4, 4));
  return _mm256_and_si256 (v, _mm256_set1_epi8 (0x0f));
}

/* Σ (u - 8) x over one Q4_0 block of codes u and one Q8_0 block x, as 8
 * int32 lanes.  maddubs takes the codes as the unsigned operand as they
 * are: pair sums of u x are at most 2 * 15 * 127 = 3810, no saturation;
 * the offset comes off as the pair sums of 8 x (@x8, computed once per x
 * block for all the rows).  Every step is exact. */
AR_TARGET_AVX2 static inline __m256i
block_dot_q4_0_avx2 (const guint8 *qs, __m256i x, __m256i x8)
{
  __m256i p16 =
      _mm256_sub_epi16 (_mm256_maddubs_epi16 (unpack_q4_0_avx2 (qs), x), x8);

  return _mm256_madd_epi16 (p16, _mm256_set1_epi16 (1));
}

/* One block of one row: a += d_W d_x · (the block's integer dot). */
#define Q4_0_STEP(a, w, b, vx, x8, dx)                                         \
  a = _mm256_fmadd_ps (_mm256_set1_ps (_cvtsh_ss ((w)[b].d) * (dx)),           \
      _mm256_cvtepi32_ps (block_dot_q4_0_avx2 ((w)[b].qs, vx, x8)), a)

/* y (rows) = W (rows, n_blocks) · xq (n_blocks), W Q4_0, xq Q8_0.  The
 * arithmetic of ar_matvec_q8_0_avx2 (), block for block: the exact integer
 * dot, converted to float, times d_W d_x accumulated in eight float lanes,
 * one horizontal sum per row.
 *
 * Unpacking nibbles makes this kernel compute bound where the Q8_0 one is
 * memory bound, so eight rows at a time share each x block (its load, scale
 * and offset sums): on a 32000 x 288 matrix, measured side by side on one
 * thread, 46 GFLOP/s against 42 with four rows and 38 with four rows and
 * the shuffle unpacking (the Q8_0 kernel: 37, memory bound).  Reducing the
 * eight rows' integer dots to one vector first (hadd) was no faster.  A row's operations are the same
 * whether it is computed in a group or alone, so the result does not
 * depend on how the rows are split. */
AR_TARGET_AVX2_F16C void
ar_matvec_q4_0_avx2 (float *y, const ArBlockQ4_0 *W, const ArBlockQ8_0 *xq,
    int rows, int n_blocks)
{
  const __m256i eight = _mm256_set1_epi8 (8);
  int r = 0;

  for (; r + 8 <= rows; r += 8) {
    const ArBlockQ4_0 *w0 = W + (gsize) r * n_blocks, *w1 = w0 + n_blocks;
    const ArBlockQ4_0 *w2 = w1 + n_blocks, *w3 = w2 + n_blocks;
    const ArBlockQ4_0 *w4 = w3 + n_blocks, *w5 = w4 + n_blocks;
    const ArBlockQ4_0 *w6 = w5 + n_blocks, *w7 = w6 + n_blocks;
    const char *next = (const char *) (w0 + 8 * (gsize) n_blocks);
    __m256 a0 = _mm256_setzero_ps (), a1 = _mm256_setzero_ps ();
    __m256 a2 = _mm256_setzero_ps (), a3 = _mm256_setzero_ps ();
    __m256 a4 = _mm256_setzero_ps (), a5 = _mm256_setzero_ps ();
    __m256 a6 = _mm256_setzero_ps (), a7 = _mm256_setzero_ps ();
    int b;

    for (b = 0; b < n_blocks; b++) {
      __m256i vx = _mm256_loadu_si256 ((const __m256i *) xq[b].qs);
      __m256i x8 = _mm256_maddubs_epi16 (eight, vx);
      float dx = _cvtsh_ss (xq[b].d);

      /* eight rows read side by side: fetch the next group, as the Q8_0
       * kernel does (144 of its bytes per block, in two lines) */
      if (r + 16 <= rows) {
        _mm_prefetch (next + 144 * (gsize) b, _MM_HINT_T0);
        _mm_prefetch (next + 144 * (gsize) b + 64, _MM_HINT_T0);
      }
      Q4_0_STEP (a0, w0, b, vx, x8, dx);
      Q4_0_STEP (a1, w1, b, vx, x8, dx);
      Q4_0_STEP (a2, w2, b, vx, x8, dx);
      Q4_0_STEP (a3, w3, b, vx, x8, dx);
      Q4_0_STEP (a4, w4, b, vx, x8, dx);
      Q4_0_STEP (a5, w5, b, vx, x8, dx);
      Q4_0_STEP (a6, w6, b, vx, x8, dx);
      Q4_0_STEP (a7, w7, b, vx, x8, dx);
    }
    y[r] = hsum_avx2 (a0);
    y[r + 1] = hsum_avx2 (a1);
    y[r + 2] = hsum_avx2 (a2);
    y[r + 3] = hsum_avx2 (a3);
    y[r + 4] = hsum_avx2 (a4);
    y[r + 5] = hsum_avx2 (a5);
    y[r + 6] = hsum_avx2 (a6);
    y[r + 7] = hsum_avx2 (a7);
  }

  for (; r < rows; r++) {
    const ArBlockQ4_0 *w = W + (gsize) r * n_blocks;
    __m256 a = _mm256_setzero_ps ();
    int b;

    for (b = 0; b < n_blocks; b++) {
      __m256i vx = _mm256_loadu_si256 ((const __m256i *) xq[b].qs);

      Q4_0_STEP (a, w, b, vx, _mm256_maddubs_epi16 (eight, vx),
          _cvtsh_ss (xq[b].d));
    }
    y[r] = hsum_avx2 (a);
  }
}

#undef Q4_0_STEP

/* matvec_add_avx2 () for T rows of X.  Four rows of W against two rows of
 * X at a time, every (row, token) pair with row_avx2 ()'s arithmetic: its
 * two accumulators are independent sums (a over the first 8 columns of
 * each 16, then the 8-column remainder; b over the second 8), so they are
 * computed in two passes, each holding 8 accumulators, 4 rows of W and 2 of
 * X in registers: 6 loads per 8 FMAs where one token at a time needs 10.
 * Rows and tokens left over go through row_avx2 () itself. */
AR_TARGET_AVX2 static void
multi_cached_avx2 (float *Y, int ldy, const float *W, const float *X,
    const float *add, int rows, int cols, int T)
{
  int n16 = cols / 16 * 16;
  int end_a = n16 + 8 <= cols ? n16 + 8 : n16; /* a's columns end here */
  int r = 0;

  for (; r + 4 <= rows; r += 4) {
    const float *w0 = W + (gsize) r * cols;
    const float *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;
    int t = 0;

    for (; t + 2 <= T; t += 2) {
      const float *x0 = X + (gsize) t * cols, *x1 = x0 + cols;
      __m256 a[8], b0 = _mm256_setzero_ps (), b1 = _mm256_setzero_ps ();
      __m256 b2 = _mm256_setzero_ps (), b3 = _mm256_setzero_ps ();
      __m256 b4 = _mm256_setzero_ps (), b5 = _mm256_setzero_ps ();
      __m256 b6 = _mm256_setzero_ps (), b7 = _mm256_setzero_ps ();
      __m256 a0 = _mm256_setzero_ps (), a1 = _mm256_setzero_ps ();
      __m256 a2 = _mm256_setzero_ps (), a3 = _mm256_setzero_ps ();
      __m256 a4 = _mm256_setzero_ps (), a5 = _mm256_setzero_ps ();
      __m256 a6 = _mm256_setzero_ps (), a7 = _mm256_setzero_ps ();
      const float *ws[4] = { w0, w1, w2, w3 };

      /* pass a: columns c .. c + 7 of each 16, then the 8-column rest */
#define MULTI_STEP(off)                                                        \
  do {                                                                         \
    __m256 xa = _mm256_loadu_ps (x0 + (off)), xb = _mm256_loadu_ps (x1 + (off)); \
    __m256 v0 = _mm256_loadu_ps (w0 + (off)), v1 = _mm256_loadu_ps (w1 + (off)); \
    __m256 v2 = _mm256_loadu_ps (w2 + (off)), v3 = _mm256_loadu_ps (w3 + (off)); \
    a0 = _mm256_fmadd_ps (v0, xa, a0);                                         \
    a1 = _mm256_fmadd_ps (v0, xb, a1);                                         \
    a2 = _mm256_fmadd_ps (v1, xa, a2);                                         \
    a3 = _mm256_fmadd_ps (v1, xb, a3);                                         \
    a4 = _mm256_fmadd_ps (v2, xa, a4);                                         \
    a5 = _mm256_fmadd_ps (v2, xb, a5);                                         \
    a6 = _mm256_fmadd_ps (v3, xa, a6);                                         \
    a7 = _mm256_fmadd_ps (v3, xb, a7);                                         \
  } while (0)
      /* The four rows are read side by side, which the hardware prefetchers
       * follow far worse than one sequential stream (half the bandwidth
       * from memory, measured on 32000 x 288): while the first pair of
       * tokens goes through these rows, fetch the next four rows, 4 x cols
       * floats, a quarter of them per 16 columns. */
      if (t == 0 && r + 8 <= rows) {
        const char *next = (const char *) (w0 + 4 * (gsize) cols);
        for (int c = 0; c < n16; c += 16) {
          _mm_prefetch (next + c * 16, _MM_HINT_T0);
          _mm_prefetch (next + c * 16 + 64, _MM_HINT_T0);
          _mm_prefetch (next + c * 16 + 128, _MM_HINT_T0);
          _mm_prefetch (next + c * 16 + 192, _MM_HINT_T0);
          MULTI_STEP (c);
        }
      } else {
        for (int c = 0; c < n16; c += 16)
          MULTI_STEP (c);
      }
      if (end_a > n16)
        MULTI_STEP (n16);
#undef MULTI_STEP
      /* pass b: columns c + 8 .. c + 15 of each 16 */
      for (int c = 0; c < n16; c += 16) {
        __m256 xa = _mm256_loadu_ps (x0 + c + 8);
        __m256 xb = _mm256_loadu_ps (x1 + c + 8);
        __m256 v0 = _mm256_loadu_ps (w0 + c + 8);
        __m256 v1 = _mm256_loadu_ps (w1 + c + 8);
        __m256 v2 = _mm256_loadu_ps (w2 + c + 8);
        __m256 v3 = _mm256_loadu_ps (w3 + c + 8);

        b0 = _mm256_fmadd_ps (v0, xa, b0);
        b1 = _mm256_fmadd_ps (v0, xb, b1);
        b2 = _mm256_fmadd_ps (v1, xa, b2);
        b3 = _mm256_fmadd_ps (v1, xb, b3);
        b4 = _mm256_fmadd_ps (v2, xa, b4);
        b5 = _mm256_fmadd_ps (v2, xb, b5);
        b6 = _mm256_fmadd_ps (v3, xa, b6);
        b7 = _mm256_fmadd_ps (v3, xb, b7);
      }
      /* per token, the four rows reduced at once as matvec_add_avx2 ()
       * reduces its blocks (the same sums in the same order as
       * row_avx2 ()'s scalar ones), then the tails and the bias */
      a[0] = _mm256_add_ps (a0, b0), a[1] = _mm256_add_ps (a1, b1);
      a[2] = _mm256_add_ps (a2, b2), a[3] = _mm256_add_ps (a3, b3);
      a[4] = _mm256_add_ps (a4, b4), a[5] = _mm256_add_ps (a5, b5);
      a[6] = _mm256_add_ps (a6, b6), a[7] = _mm256_add_ps (a7, b7);
      for (int j = 0; j < 2; j++) {
        const float *x = j ? x1 : x0;
        float tail[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
        __m256 t0 = _mm256_hadd_ps (a[j], a[2 + j]);
        __m256 t1 = _mm256_hadd_ps (a[4 + j], a[6 + j]);
        __m128 sum;

        for (int c = end_a; c < cols; c++)
          for (int i = 0; i < 4; i++)
            tail[i] = fmaf (ws[i][c], x[c], tail[i]);
        t0 = _mm256_hadd_ps (t0, t1);
        sum = _mm_add_ps (_mm256_castps256_ps128 (t0),
            _mm256_extractf128_ps (t0, 1));
        sum = _mm_add_ps (sum, _mm_loadu_ps (tail));
        if (add)
          sum = _mm_add_ps (sum, _mm_loadu_ps (add + r));
        _mm_storeu_ps (Y + (gsize) (t + j) * ldy + r, sum);
      }
    }
    for (; t < T; t++)
      for (int i = 0; i < 4; i++)
        Y[(gsize) t * ldy + r + i] = row_avx2 (W + (gsize) (r + i) * cols,
            X + (gsize) t * cols, add ? add + r + i : NULL, cols);
  }
  for (; r < rows; r++)
    for (int t = 0; t < T; t++)
      Y[(gsize) t * ldy + r] = row_avx2 (W + (gsize) r * cols,
          X + (gsize) t * cols, add ? add + r : NULL, cols);
}

/* The same products for weights streaming from memory: one row of W at a
 * time against four rows of X (each pair of row_avx2 ()'s accumulators for
 * four tokens, 8 registers), the row read from memory by the first four
 * tokens and from L1 by the rest.  The weights are then one sequential
 * stream, and the row two ahead is prefetched as a row begins, so that
 * memory keeps streaming while the FMAs run: 8 tokens through a 32000 x 288
 * matrix in 4.5 ms against 8.9 for the four-row kernel (one token: 4.5),
 * through the whole stories15M shape in 8.5 ms against 10.0 (one token:
 * 4.7). */
AR_TARGET_AVX2 static void
multi_streamed_avx2 (float *Y, int ldy, const float *W, const float *X,
    const float *add, int rows, int cols, int T)
{
  int n16 = cols / 16 * 16;
  int end_a = n16 + 8 <= cols ? n16 + 8 : n16; /* a's columns end here */
  gsize row_bytes = (gsize) cols * sizeof (float);

  for (int r = 0; r < rows; r++) {
    const float *w = W + (gsize) r * cols;
    int t = 0;

    if (r + 2 < rows) {
      const char *ahead = (const char *) (w + 2 * (gsize) cols);
      for (gsize o = 0; o < row_bytes; o += 64)
        _mm_prefetch (ahead + o, _MM_HINT_T0);
    }
    for (; t + 4 <= T; t += 4) {
      const float *x0 = X + (gsize) t * cols, *x1 = x0 + cols;
      const float *x2 = x1 + cols, *x3 = x2 + cols;
      __m256 a0 = _mm256_setzero_ps (), a1 = _mm256_setzero_ps ();
      __m256 a2 = _mm256_setzero_ps (), a3 = _mm256_setzero_ps ();
      __m256 b0 = _mm256_setzero_ps (), b1 = _mm256_setzero_ps ();
      __m256 b2 = _mm256_setzero_ps (), b3 = _mm256_setzero_ps ();
      __m256 s[4];
      int c = 0;

      for (; c < n16; c += 16) {
        __m256 va = _mm256_loadu_ps (w + c), vb = _mm256_loadu_ps (w + c + 8);

        a0 = _mm256_fmadd_ps (va, _mm256_loadu_ps (x0 + c), a0);
        b0 = _mm256_fmadd_ps (vb, _mm256_loadu_ps (x0 + c + 8), b0);
        a1 = _mm256_fmadd_ps (va, _mm256_loadu_ps (x1 + c), a1);
        b1 = _mm256_fmadd_ps (vb, _mm256_loadu_ps (x1 + c + 8), b1);
        a2 = _mm256_fmadd_ps (va, _mm256_loadu_ps (x2 + c), a2);
        b2 = _mm256_fmadd_ps (vb, _mm256_loadu_ps (x2 + c + 8), b2);
        a3 = _mm256_fmadd_ps (va, _mm256_loadu_ps (x3 + c), a3);
        b3 = _mm256_fmadd_ps (vb, _mm256_loadu_ps (x3 + c + 8), b3);
      }
      if (end_a > n16) {
        __m256 va = _mm256_loadu_ps (w + c);

        a0 = _mm256_fmadd_ps (va, _mm256_loadu_ps (x0 + c), a0);
        a1 = _mm256_fmadd_ps (va, _mm256_loadu_ps (x1 + c), a1);
        a2 = _mm256_fmadd_ps (va, _mm256_loadu_ps (x2 + c), a2);
        a3 = _mm256_fmadd_ps (va, _mm256_loadu_ps (x3 + c), a3);
      }
      s[0] = _mm256_add_ps (a0, b0);
      s[1] = _mm256_add_ps (a1, b1);
      s[2] = _mm256_add_ps (a2, b2);
      s[3] = _mm256_add_ps (a3, b3);
      for (int j = 0; j < 4; j++)
        Y[(gsize) (t + j) * ldy + r] = row_finish_avx2 (s[j], w,
            X + (gsize) (t + j) * cols, end_a, cols, add ? add + r : NULL);
    }
    for (; t < T; t++)
      Y[(gsize) t * ldy + r] =
          row_avx2 (w, X + (gsize) t * cols, add ? add + r : NULL, cols);
  }
}

AR_TARGET_AVX2 static void
matvec_multi_avx2 (float *Y, int ldy, const float *W, const float *X,
    const float *add, int rows, int cols, int T, gboolean streamed)
{
  if (streamed)
    multi_streamed_avx2 (Y, ldy, W, X, add, rows, cols, T);
  else
    multi_cached_avx2 (Y, ldy, W, X, add, rows, cols, T);
}

const ArKernelTable ar_kernels_table_avx2 = {
  matvec_add_avx2,
  dot_avx2,
  ar_matvec_t_avx2,
  ar_exp_shift_sum_avx2,
  ar_matvec_f16_avx2,
  ar_matvec_q8_0_avx2,
  matvec_multi_avx2,
  ar_matvec_q4_0_avx2,
};

#endif /* x86 */
