/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-kernels-quant.c — the kernels of ar-kernels.h added for the
 * Transformer: F16, Q8_0 and Q4_0 matrix-vector products (and the Q4_0
 * quantiser), and attention's
 * transposed product and exp-sum; every SIMD level the CPU has against
 * exact arithmetic and against each other.
 *
 * As in test-kernels.c, two kinds of data:
 * - exact: weights and inputs chosen so that every partial sum is a float
 *   computed without rounding in any order (multiples of 1/8 for F16; power
 *   of two scales and small integers for Q8_0); each level must then equal
 *   the double-precision reference bit for bit.
 * - real: normal random values, compared with the forward error bound of a
 *   sum of n terms, gamma_n * sum |term|, gamma_n = n u / (1 - n u).
 * The quantiser is checked on hand-computed blocks and on non-finite input
 * (which the GGUF writer shares), and a Q8_0 product is checked against the
 * F32 one it approximates (normalised squared error).  ar_matvec_typed, the
 * product for any storage type, must be each type's kernel bit for bit.
 * Pointers are deliberately misaligned and y has guard values around it. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "core/ar-gguf.h"
#include "core/ar-kernels.h"
#include "core/ar-rng.h"

#define GUARD 4
#define GUARD_VALUE 1234.5f

static const int shapes[][2] = {
  { 1, 1 },
  { 1, 7 },
  { 3, 8 },
  { 4, 9 },
  { 5, 16 },
  { 7, 31 },
  { 8, 33 },
  { 9, 64 },
  { 13, 100 },
  { 64, 288 },
  { 172, 64 },
  { 33, 768 },
};

/* rows: fewer than, exactly and more than the kernels' groups (2, 4, 8) */
static const int q_shapes[][2] = {
  { 1, 32 },
  { 2, 32 },
  { 3, 64 },
  { 4, 96 },
  { 5, 288 },
  { 7, 32 },
  { 17, 64 },
  { 33, 288 },
  { 64, 768 },
};

/* y with guards: data[-GUARD .. n + GUARD) */
static float *
guarded_new (int n, float **block)
{
  *block = g_new (float, n + 2 * GUARD);
  for (int i = 0; i < n + 2 * GUARD; i++)
    (*block)[i] = GUARD_VALUE;
  return *block + GUARD;
}

static void
guarded_check (const float *y, int n)
{
  for (int i = 1; i <= GUARD; i++) {
    g_assert_cmpfloat (y[-i], ==, GUARD_VALUE);
    g_assert_cmpfloat (y[n - 1 + i], ==, GUARD_VALUE);
  }
}

static double
gamma_n (int n)
{
  double u = FLT_EPSILON / 2;
  return n * u / (1 - n * u);
}

/* ---- F16 ---- */

/* Fills @rows x @cols binary16 weights and F32 copies of them; exact data
 * are multiples of 1/8 in [-2, 2] (exact in binary16). */
static void
fill_f16 (guint16 *w16, float *w32, int n, gboolean exact, ArRng *rng)
{
  for (int i = 0; i < n; i++) {
    float v = exact ? ((int) ar_rng_below (rng, 33) - 16) / 8.0f
                    : ar_rng_normal (rng);
    w16[i] = ar_f32_to_f16 (v);
    w32[i] = ar_f16_to_f32 (w16[i]);
  }
}

static void
check_f16 (gboolean exact)
{
  ArRng rng;
  ar_rng_init (&rng, exact ? 11 : 12);
  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++) {
    int rows = shapes[s][0], cols = shapes[s][1];
    gsize n = (gsize) rows * cols;
    /* one element past the start: never 16- or 32-byte aligned */
    g_autofree guint16 *w16_block = g_new (guint16, n + 1);
    g_autofree float *w32 = g_new (float, n);
    g_autofree float *x_block = g_new (float, cols + 1);
    g_autofree float *ref = g_new (float, rows);
    g_autofree float *bound = g_new (float, rows);
    float *y_block, *y = guarded_new (rows, &y_block);
    guint16 *w16 = w16_block + 1;
    float *x = x_block + 1;

    fill_f16 (w16, w32, n, exact, &rng);
    for (int c = 0; c < cols; c++)
      x[c] = exact ? ((int) ar_rng_below (&rng, 33) - 16) / 8.0f
                   : ar_rng_normal (&rng);
    for (int r = 0; r < rows; r++) {
      double acc = 0, mag = 0;
      for (int c = 0; c < cols; c++) {
        acc += (double) w32[(gsize) r * cols + c] * x[c];
        mag += fabs ((double) w32[(gsize) r * cols + c] * x[c]);
      }
      ref[r] = acc;
      bound[r] = gamma_n (cols) * mag;
    }

    for (int level = AR_SIMD_C; level <= (int) ar_simd_detect (); level++) {
      g_assert_true (ar_simd_set_level (level));
      ar_matvec_f16 (y, w16, x, rows, cols);
      guarded_check (y, rows);
      for (int r = 0; r < rows; r++) {
        if (exact)
          g_assert_cmpfloat (y[r], ==, ref[r]);
        else
          g_assert_cmpfloat (fabsf (y[r] - ref[r]), <=, bound[r]);
      }
      /* the F16 kernel equals the F32 one on the widened weights, within
       * the same bound (exactly, for exact data) */
      g_autofree float *y32 = g_new (float, rows);
      ar_matvec (y32, w32, x, NULL, rows, cols);
      for (int r = 0; r < rows; r++) {
        if (exact)
          g_assert_cmpfloat (y[r], ==, y32[r]);
        else
          g_assert_cmpfloat (fabsf (y[r] - y32[r]), <=, 2 * bound[r]);
      }
    }
    g_free (y_block);
  }
  ar_simd_set_level (ar_simd_detect ());
}

static void
test_f16_exact (void)
{
  check_f16 (TRUE);
}

static void
test_f16_real (void)
{
  check_f16 (FALSE);
}

/* ---- Q8_0 ---- */

static void
test_quantize (void)
{
  ArBlockQ8_0 q[2];
  float x[64];

  /* block 0: max |x| = 127, so d = 1 and q = round (x) with halves away
   * from zero, as roundf does */
  for (int i = 0; i < 32; i++)
    x[i] = i - 16.5f;
  x[0] = -127.0f;
  x[1] = 126.5f;
  x[2] = -0.5f;
  x[3] = 0.49f;
  /* block 1: all zero, d = 0 and q = 0 (no division by zero) */
  for (int i = 32; i < 64; i++)
    x[i] = 0.0f;
  memset (q, 0x55, sizeof q);
  ar_quantize_q8_0 (q, x, 64);

  g_assert_cmpfloat (ar_f16_to_f32 (q[0].d), ==, 1.0f);
  g_assert_cmpint (q[0].qs[0], ==, -127);
  g_assert_cmpint (q[0].qs[1], ==, 127);
  g_assert_cmpint (q[0].qs[2], ==, -1);
  g_assert_cmpint (q[0].qs[3], ==, 0);
  for (int i = 4; i < 32; i++)
    g_assert_cmpint (q[0].qs[i], ==, (int) roundf (i - 16.5f));
  g_assert_cmpfloat (ar_f16_to_f32 (q[1].d), ==, 0.0f);
  for (int i = 0; i < 32; i++)
    g_assert_cmpint (q[1].qs[i], ==, 0);

  /* A scale that is not representable in binary16: q comes from the exact
   * scale (amax maps to exactly ±127), d is stored rounded. */
  for (int i = 0; i < 32; i++)
    x[i] = (i % 2 ? 1.0f : -1.0f) * 0.001f * (i + 1);
  ar_quantize_q8_0 (q, x, 32);
  float d = (0.001f * 32) / 127.0f;
  g_assert_cmpfloat (ar_f16_to_f32 (q[0].d), ==,
      ar_f16_to_f32 (ar_f32_to_f16 (d)));
  g_assert_cmpint (q[0].qs[31], ==, 127);
  g_assert_cmpint (q[0].qs[30], ==, (int) roundf (-(0.001f * 31) / d));
  /* every value is reproduced to within half a step of the stored scale */
  for (int i = 0; i < 32; i++)
    g_assert_cmpfloat (fabsf (q[0].qs[i] * ar_f16_to_f32 (q[0].d) - x[i]), <=,
        0.5f * d + 127 * fabsf (ar_f16_to_f32 (q[0].d) - d));
}

/* Random blocks.  Exact data: scales in {1/2, 1, 2}; one side's integers
 * span the whole range (-128 included for weights), the other's are small,
 * so that every block product and every sum is exact in float. */
static void
fill_q8_0 (ArBlockQ8_0 *b, int n_blocks, int qmin, int qmax, ArRng *rng)
{
  static const float scales[] = { 0.5f, 1.0f, 2.0f };
  for (int i = 0; i < n_blocks; i++) {
    b[i].d = ar_f32_to_f16 (scales[ar_rng_below (rng, 3)]);
    for (int j = 0; j < 32; j++)
      b[i].qs[j] = (gint8) (qmin + (int) ar_rng_below (rng, qmax - qmin + 1));
  }
}

/* reference: y_r = Σ_b d_w d_x Σ_i q_w q_x in double; *mag = Σ |terms| */
static double
q8_0_ref (const ArBlockQ8_0 *w, const ArBlockQ8_0 *x, int n_blocks, double *mag)
{
  double acc = 0;
  *mag = 0;
  for (int b = 0; b < n_blocks; b++) {
    int sumi = 0;
    for (int i = 0; i < 32; i++)
      sumi += w[b].qs[i] * x[b].qs[i];
    double t = (double) ar_f16_to_f32 (w[b].d) * ar_f16_to_f32 (x[b].d) * sumi;
    acc += t;
    *mag += fabs (t);
  }
  return acc;
}

/* A block holding a non-finite value (NaN, +inf or -inf, anywhere in it —
 * a NaN first, where MAX alone would lose it to the larger values after it)
 * gets a NaN scale and codes 0; the other blocks are quantised as if alone,
 * and a product with the bad block is NaN at every level.  The GGUF writer
 * stores exactly these blocks (it calls this quantiser): its Q8_0 tensor
 * data, read back, are ar_quantize_q8_0's bytes. */
static void
test_q8_0_non_finite (void)
{
  static const float bad[] = { NAN, INFINITY, -INFINITY };
  static const int where[] = { 0, 31, 5 };
  float x[4 * 32];
  ArBlockQ8_0 q[4], alone, ones[4];
  ArRng rng;

  ar_rng_init (&rng, 80);
  for (int i = 0; i < 4 * 32; i++)
    x[i] = ar_rng_normal (&rng);
  for (int k = 0; k < 3; k++)
    x[(k + 1) * 32 + where[k]] = bad[k];
  memset (q, 0x55, sizeof q);
  ar_quantize_q8_0 (q, x, 4 * 32);
  ar_quantize_q8_0 (&alone, x, 32);
  g_assert_cmpmem (&q[0], sizeof q[0], &alone, sizeof alone);
  for (int b = 1; b < 4; b++) {
    g_assert_true (isnan (ar_f16_to_f32 (q[b].d)));
    for (int j = 0; j < 32; j++)
      g_assert_cmpint (q[b].qs[j], ==, 0);
  }

  /* W = one row of ones: the product is the sum of the blocks' terms */
  for (int b = 0; b < 4; b++) {
    ones[b].d = ar_f32_to_f16 (1.0f);
    memset (ones[b].qs, 1, sizeof ones[b].qs);
  }
  for (int level = AR_SIMD_C; level <= (int) ar_simd_detect (); level++) {
    float y = 0.0f;

    g_assert_true (ar_simd_set_level (level));
    ar_matvec_q8_0 (&y, ones, q, 1, 32);
    g_assert_true (isfinite (y));
    ar_matvec_q8_0 (&y, ones, q, 1, 2 * 32);
    g_assert_true (isnan (y));
  }
  ar_simd_set_level (ar_simd_detect ());

  {
    g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
    static const guint64 ne[2] = { 64, 2 };
    g_autoptr (GBytes) bytes = NULL;
    g_autoptr (ArGguf) g = NULL;
    const ArGgufTensor *t;

    ar_gguf_writer_add_tensor_f32 (w, "q", AR_TENSOR_Q8_0, 2, ne, x);
    bytes = ar_gguf_writer_to_bytes (w);
    g = ar_gguf_new_from_bytes (bytes, "q.gguf", NULL);
    g_assert_nonnull (g);
    t = ar_gguf_find_tensor (g, "q");
    g_assert_nonnull (t);
    g_assert_cmpmem (t->data, t->nbytes, q, sizeof q);
  }
}

/* ---- Q4_0 ---- */

/* The code of element j of a Q4_0 block, read from the bytes as ggml lays
 * them out (not through the library). */
static int
q4_code (const ArBlockQ4_0 *b, int j)
{
  return j < 16 ? b->qs[j] & 15 : b->qs[j - 16] >> 4;
}

/* ggml's quantiser on hand-made blocks: m = the signed value of largest
 * magnitude, d = m / -8, code = MIN (15, (int) (x / d + 8.5)). */
static void
test_q4_0_quantize (void)
{
  ArBlockQ4_0 q[5];
  float x[5 * 32], back[5 * 32];

  /* block 0: positive maximum 8, so d = -1 and code = MIN (15, (int)
   * (8.5 - x)): 8 -> 0 (value 8 = -8 d), -8 -> 16 clamped to 15 (value -7),
   * halves of a step go to the higher code (0.5 -> 8, -0.5 -> 9). */
  static const float b0[32] = { 8, -8, -7, 0, 0.5f, -0.5f, 3, -3, 7.4f, -7.6f,
    1.49f, 2.51f, 6, 5, 4, 2, 1, -1, -2, -4, -5, -6, 0.25f, -0.25f, 7, -6.5f,
    0.75f, 3.5f, -3.5f, 0, 0, 0 };
  static const int c0[32] = { 0, 15, 15, 8, 8, 9, 5, 11, 1, 15, 7, 5, 2, 3, 4,
    6, 7, 9, 10, 12, 13, 14, 8, 8, 1, 15, 7, 5, 12, 8, 8, 8 };
  memcpy (x, b0, sizeof b0);
  /* block 1: negative maximum -4, so d = 0.5 and code = MIN (15, (int)
   * (2 x + 8.5)); the positive 4 gets the clamped top code (3.5) */
  for (int j = 0; j < 32; j++)
    x[32 + j] = (j % 17 - 8) * 0.25f; /* -2 .. 2 in quarter steps */
  x[32 + 3] = -4.0f;
  x[32 + 20] = 4.0f;
  x[32 + 21] = 1.2f;
  /* block 2: all zero: d = 0, every code 8 (no division by zero) */
  for (int j = 0; j < 32; j++)
    x[64 + j] = 0.0f;
  /* block 3: equal magnitudes of both signs: the first (-2) is m, so
   * d = 0.25 and the later +2 gets code 15 */
  for (int j = 0; j < 32; j++)
    x[96 + j] = 0.0f;
  x[96 + 4] = -2.0f;
  x[96 + 9] = 2.0f;
  x[96 + 30] = 1.0f;
  /* block 4: a scale binary16 cannot hold (0.1 / 8): codes come from the
   * exact scale, d is stored rounded */
  for (int j = 0; j < 32; j++)
    x[128 + j] = 0.1f * (j - 15) / 17.0f;
  x[128 + 31] = 0.1f;

  memset (q, 0x55, sizeof q);
  ar_quantize_q4_0 (q, x, 5 * 32);

  g_assert_cmpfloat (ar_f16_to_f32 (q[0].d), ==, -1.0f);
  for (int j = 0; j < 32; j++)
    g_assert_cmpint (q4_code (&q[0], j), ==, c0[j]);
  /* the layout: element j is the low nibble of byte j, j + 16 the high */
  g_assert_cmphex (q[0].qs[0], ==, c0[0] | c0[16] << 4);
  g_assert_cmphex (q[0].qs[15], ==, c0[15] | c0[31] << 4);

  g_assert_cmpfloat (ar_f16_to_f32 (q[1].d), ==, 0.5f);
  for (int j = 0; j < 32; j++)
    g_assert_cmpint (q4_code (&q[1], j), ==,
        MIN (15, (int) (2 * x[32 + j] + 8.5f)));
  g_assert_cmpint (q4_code (&q[1], 3), ==, 0);
  g_assert_cmpint (q4_code (&q[1], 20), ==, 15);
  g_assert_cmpint (q4_code (&q[1], 21), ==, 10); /* 2.4 + 8.5 -> 10 */

  g_assert_cmpfloat (ar_f16_to_f32 (q[2].d), ==, 0.0f);
  for (int j = 0; j < 16; j++)
    g_assert_cmphex (q[2].qs[j], ==, 0x88);

  g_assert_cmpfloat (ar_f16_to_f32 (q[3].d), ==, 0.25f);
  g_assert_cmpint (q4_code (&q[3], 4), ==, 0);
  g_assert_cmpint (q4_code (&q[3], 9), ==, 15);
  g_assert_cmpint (q4_code (&q[3], 30), ==, 12);
  g_assert_cmpint (q4_code (&q[3], 0), ==, 8);

  {
    float d = 0.1f / -8.0f, id = 1.0f / d;
    g_assert_cmphex (q[4].d, ==, ar_f32_to_f16 (d));
    g_assert_cmpfloat (ar_f16_to_f32 (q[4].d), !=, d);
    for (int j = 0; j < 32; j++)
      g_assert_cmpint (q4_code (&q[4], j), ==,
          MIN (15, (int) (x[128 + j] * id + 8.5f)));
    g_assert_cmpint (q4_code (&q[4], 31), ==, 0);
  }

  /* dequantisation is (code - 8) d16, every block */
  ar_dequantize_q4_0 (back, q, 5 * 32);
  for (int b = 0; b < 5; b++)
    for (int j = 0; j < 32; j++)
      g_assert_cmpfloat (back[b * 32 + j], ==,
          (q4_code (&q[b], j) - 8) * ar_f16_to_f32 (q[b].d));
  for (int j = 0; j < 32; j++)
    g_assert_cmpfloat (back[j], ==, (c0[j] - 8) * -1.0f);

  /* a non-finite value: a NaN scale (rejected by the GGUF reader), codes 8 */
  x[7] = INFINITY;
  ar_quantize_q4_0 (q, x, 32);
  g_assert_true (isnan (ar_f16_to_f32 (q[0].d)));
  for (int j = 0; j < 16; j++)
    g_assert_cmphex (q[0].qs[j], ==, 0x88);
}

/* The round trip on random data: each value within half a step (plus the
 * f16 rounding of d, 8 * 2^-11 |d| at code 0) of its dequantised value,
 * except within half a step of -m, whose code 15 means 7 d instead of
 * 8 d: there within a full step. */
static void
test_q4_0_round_trip (void)
{
  const int n = 32 * 200;
  g_autofree float *x = g_new (float, n);
  g_autofree float *y = g_new (float, n);
  g_autofree ArBlockQ4_0 *q = g_new (ArBlockQ4_0, n / 32);
  ArRng rng;
  int n_top = 0;

  ar_rng_init (&rng, 60);
  for (int i = 0; i < n; i++)
    x[i] = ar_rng_normal (&rng) * (1 + i / 32 % 7); /* scales vary by block */
  ar_quantize_q4_0 (q, x, n);
  ar_dequantize_q4_0 (y, q, n);
  for (int b = 0; b < n / 32; b++) {
    float m = 0;
    for (int j = 0; j < 32; j++)
      if (fabsf (x[b * 32 + j]) > fabsf (m))
        m = x[b * 32 + j];
    double d = m / -8.0;
    for (int j = 0; j < 32; j++) {
      double e = fabs ((double) y[b * 32 + j] - x[b * 32 + j]);
      gboolean top = x[b * 32 + j] / d > 7.5;

      n_top += top;
      g_assert_cmpfloat (e, <=, ((top ? 1.0 : 0.5) + 8 * 0x1p-11) * fabs (d));
    }
  }
  /* the exception is rare: values near -m in a Gaussian block */
  g_assert_cmpint (n_top, <, n / 100);
}

/* Random Q4_0 blocks: scales in {1/2, 1, 2} (exact data) or normal weights
 * quantised by ar_quantize_q4_0 (real). */
static void
fill_q4_0 (ArBlockQ4_0 *b, int n_blocks, ArRng *rng)
{
  static const float scales[] = { 0.5f, 1.0f, 2.0f };
  for (int i = 0; i < n_blocks; i++) {
    b[i].d = ar_f32_to_f16 (scales[ar_rng_below (rng, 3)]);
    for (int j = 0; j < 16; j++)
      b[i].qs[j] = (guint8) ar_rng_below (rng, 256);
  }
}

/* reference: Σ_c w_c x_c in double over the dequantised values (w from
 * ar_dequantize_q4_0, x = q d of the Q8_0 blocks); *mag = Σ_b |d_w d_x
 * sumi_b|, the magnitude of the terms the kernels add in float. */
static double
q4_0_ref (const ArBlockQ4_0 *w, const ArBlockQ8_0 *x, int n_blocks, double *mag)
{
  double acc = 0;
  float wv[32];

  *mag = 0;
  for (int b = 0; b < n_blocks; b++) {
    double blk = 0;
    ar_dequantize_q4_0 (wv, w + b, 32);
    for (int j = 0; j < 32; j++)
      blk += (double) wv[j] * ((double) x[b].qs[j] * ar_f16_to_f32 (x[b].d));
    acc += blk;
    *mag += fabs (blk);
  }
  return acc;
}

/* A quantised product (Q8_0 or Q4_0 weights, Q8_0 input) and its helpers,
 * so that both types go through one check. */
static gsize
block_size (ArTensorType type)
{
  return type == AR_TENSOR_Q8_0 ? sizeof (ArBlockQ8_0) : sizeof (ArBlockQ4_0);
}

static void
quantised_product (ArTensorType type, float *y, const void *w,
    const ArBlockQ8_0 *xq, int rows, int cols)
{
  if (type == AR_TENSOR_Q8_0)
    ar_matvec_q8_0 (y, w, xq, rows, cols);
  else
    ar_matvec_q4_0 (y, w, xq, rows, cols);
}

static double
quantised_ref (ArTensorType type, const void *w, const ArBlockQ8_0 *xq, int nb,
    double *mag)
{
  return type == AR_TENSOR_Q8_0 ? q8_0_ref (w, xq, nb, mag)
                                : q4_0_ref (w, xq, nb, mag);
}

/* Every level against the reference, for Q8_0 or Q4_0 weights (@type).
 * @mode 0: exact data — Q8_0: full-range weights (-128 included) and small
 * inputs; Q4_0: any codes and full-range inputs (|w| <= 16, |x| <= 254, at
 * most 24 blocks: every block product and sum is exact in float) —, bit
 * for bit; 1: exact, Q8_0 only, small weights and full-range inputs; 2: real
 * data quantised by ar_quantize_q8_0 / _q4_0, within gamma_(nb + 10)
 * Σ |block terms| (per block d_w d_x rounded, times sumi rounded, then
 * nb + 8 additions at most).  The C and SIMD levels therefore agree to
 * within twice that.  Then the rows split every way: each row's value does
 * not depend on the rows computed with it. */
static void
check_quantised (ArTensorType type, int mode)
{
  static const int splits[] = { 1, 2, 3, 5, 16 };
  const gsize bs = block_size (type);
  ArRng rng;

  ar_rng_init (&rng, (type == AR_TENSOR_Q8_0 ? 20 : 70) + mode);
  for (guint s = 0; s < G_N_ELEMENTS (q_shapes); s++) {
    int rows = q_shapes[s][0], cols = q_shapes[s][1], nb = cols / 32;
    gsize row_bytes = (gsize) nb * bs;
    /* offset by one block: 34- and 18-byte blocks are then only 2-byte
     * aligned */
    g_autofree guint8 *w_block = g_malloc ((gsize) rows * row_bytes + bs);
    g_autofree ArBlockQ8_0 *x_block = g_new (ArBlockQ8_0, nb + 1);
    guint8 *w = w_block + bs;
    ArBlockQ8_0 *xq = x_block + 1;
    g_autofree float *ref = g_new (float, rows);
    g_autofree float *bound = g_new (float, rows);
    g_autofree float *y_c = g_new (float, rows);
    g_autofree float *part = g_new (float, rows);
    float *y_block, *y = guarded_new (rows, &y_block);

    if (mode < 2 && type == AR_TENSOR_Q4_0) {
      fill_q4_0 ((ArBlockQ4_0 *) w, rows * nb, &rng);
      fill_q8_0 (xq, nb, -127, 127, &rng);
    } else if (mode < 2) {
      fill_q8_0 ((ArBlockQ8_0 *) w, rows * nb, mode ? -4 : -128, mode ? 4 : 127,
          &rng);
      fill_q8_0 (xq, nb, mode ? -127 : -4, mode ? 127 : 4, &rng);
    } else {
      g_autofree float *v = g_new (float, cols);
      for (int r = 0; r < rows; r++) {
        for (int c = 0; c < cols; c++)
          v[c] = ar_rng_normal (&rng);
        if (type == AR_TENSOR_Q8_0)
          ar_quantize_q8_0 ((ArBlockQ8_0 *) (w + r * row_bytes), v, cols);
        else
          ar_quantize_q4_0 ((ArBlockQ4_0 *) (w + r * row_bytes), v, cols);
      }
      for (int c = 0; c < cols; c++)
        v[c] = ar_rng_normal (&rng) * 3;
      ar_quantize_q8_0 (xq, v, cols);
    }
    for (int r = 0; r < rows; r++) {
      double mag;
      ref[r] = quantised_ref (type, w + r * row_bytes, xq, nb, &mag);
      bound[r] = gamma_n (nb + 10) * mag;
    }

    for (int level = AR_SIMD_C; level <= (int) ar_simd_detect (); level++) {
      g_assert_true (ar_simd_set_level (level));
      quantised_product (type, y, w, xq, rows, cols);
      guarded_check (y, rows);
      for (int r = 0; r < rows; r++) {
        if (mode < 2)
          g_assert_cmpfloat (y[r], ==, ref[r]);
        else
          g_assert_cmpfloat (fabsf (y[r] - ref[r]), <=, bound[r]);
      }
      if (level == AR_SIMD_C)
        memcpy (y_c, y, rows * sizeof (float));
      for (int r = 0; r < rows; r++)
        g_assert_cmpfloat (fabsf (y[r] - y_c[r]), <=, 2 * bound[r]);

      for (guint k = 0; k < G_N_ELEMENTS (splits); k++) {
        for (int r0 = 0; r0 < rows; r0 += splits[k])
          quantised_product (type, part + r0, w + r0 * row_bytes, xq,
              MIN (splits[k], rows - r0), cols);
        g_assert_cmpmem (part, rows * sizeof (float), y, rows * sizeof (float));
      }
      /* and a range starting at an odd row */
      if (rows > 3) {
        quantised_product (type, part, w + row_bytes, xq, rows - 2, cols);
        g_assert_cmpmem (part, (rows - 2) * sizeof (float), y + 1,
            (rows - 2) * sizeof (float));
      }
    }
    g_free (y_block);
  }
  ar_simd_set_level (ar_simd_detect ());
}

static void
test_q8_0_exact_weights (void)
{
  check_quantised (AR_TENSOR_Q8_0, 0);
}

static void
test_q8_0_exact_inputs (void)
{
  check_quantised (AR_TENSOR_Q8_0, 1);
}

static void
test_q8_0_real (void)
{
  check_quantised (AR_TENSOR_Q8_0, 2);
}

static void
test_q4_0_exact (void)
{
  check_quantised (AR_TENSOR_Q4_0, 0);
}

static void
test_q4_0_real (void)
{
  check_quantised (AR_TENSOR_Q4_0, 2);
}

/* A quantised product approximates the F32 product of the unquantised
 * input with the dequantised weights: the only error left is the input's
 * Q8_0 rounding, half a step per value, about 1 / 254 relative, so a
 * normalised squared error around 1e-5; 1e-4 leaves room, and a wrong
 * scale, sign, nibble order or offset gives ~1. */
static void
check_vs_f32 (ArTensorType type)
{
  const int rows = 96, cols = 768, nb = cols / 32;
  ArRng rng;
  ar_rng_init (&rng, type == AR_TENSOR_Q8_0 ? 30 : 80);
  g_autofree guint8 *w = g_malloc ((gsize) rows * nb * block_size (type));
  g_autofree ArBlockQ8_0 *xq = g_new (ArBlockQ8_0, nb);
  g_autofree float *wf = g_new (float, rows *cols);
  g_autofree float *x = g_new (float, cols);
  g_autofree float *y = g_new (float, rows);
  g_autofree float *y32 = g_new (float, rows);

  for (int i = 0; i < rows * cols; i++)
    wf[i] = ar_rng_normal (&rng);
  if (type == AR_TENSOR_Q8_0) {
    ArBlockQ8_0 *w8 = (ArBlockQ8_0 *) w;
    ar_quantize_q8_0 (w8, wf, rows * cols);
    for (int i = 0; i < rows * cols; i++)
      wf[i] = w8[i / 32].qs[i % 32] * ar_f16_to_f32 (w8[i / 32].d);
  } else {
    ar_quantize_q4_0 ((ArBlockQ4_0 *) w, wf, rows * cols);
    ar_dequantize_q4_0 (wf, (ArBlockQ4_0 *) w, rows * cols);
  }
  for (int c = 0; c < cols; c++)
    x[c] = ar_rng_normal (&rng);
  ar_quantize_q8_0 (xq, x, cols);

  for (int level = AR_SIMD_C; level <= (int) ar_simd_detect (); level++) {
    g_assert_true (ar_simd_set_level (level));
    quantised_product (type, y, w, xq, rows, cols);
    ar_matvec (y32, wf, x, NULL, rows, cols);
    double err = 0, sig = 0;
    for (int r = 0; r < rows; r++) {
      err += (double) (y[r] - y32[r]) * (y[r] - y32[r]);
      sig += (double) y32[r] * y32[r];
    }
    g_test_message ("%s %s: normalised squared error %.3g",
        ar_tensor_type_name (type), ar_simd_level_name (level), err / sig);
    g_assert_cmpfloat (err / sig, <, 1e-4);
    g_assert_cmpfloat (err / sig, >, 0); /* x really was quantised */
  }
  ar_simd_set_level (ar_simd_detect ());
}

static void
test_q8_0_vs_f32 (void)
{
  check_vs_f32 (AR_TENSOR_Q8_0);
}

static void
test_q4_0_vs_f32 (void)
{
  check_vs_f32 (AR_TENSOR_Q4_0);
}

/* ---- attention helpers: transposed product and exp-sum ---- */

/* ar_matvec_t: exact data (multiples of 1/8) must give the double
 * reference bit for bit at every level, real data within the error bound
 * of a sum over rows. */
static void
check_matvec_t (gboolean exact)
{
  static const int t_shapes[][2] = {
    { 1, 1 },
    { 1, 8 },
    { 2, 8 },
    { 3, 8 },
    { 257, 8 },
    { 5, 3 },
    { 7, 13 },
    { 9, 48 },
    { 33, 64 },
    { 100, 40 },
    { 4, 100 },
  };
  ArRng rng;
  ar_rng_init (&rng, exact ? 40 : 41);
  for (guint s = 0; s < G_N_ELEMENTS (t_shapes); s++) {
    int rows = t_shapes[s][0], cols = t_shapes[s][1];
    g_autofree float *w_block = g_new (float, (gsize) rows *cols + 1);
    g_autofree float *x_block = g_new (float, rows + 1);
    g_autofree float *ref = g_new (float, cols);
    g_autofree float *bound = g_new (float, cols);
    float *w = w_block + 1, *x = x_block + 1;
    float *y_block, *y = guarded_new (cols, &y_block);

    for (int i = 0; i < rows * cols; i++)
      w[i] = exact ? ((int) ar_rng_below (&rng, 33) - 16) / 8.0f
                   : ar_rng_normal (&rng);
    for (int r = 0; r < rows; r++)
      x[r] = exact ? ((int) ar_rng_below (&rng, 33) - 16) / 8.0f
                   : ar_rng_normal (&rng);
    for (int c = 0; c < cols; c++) {
      double acc = 0, mag = 0;
      for (int r = 0; r < rows; r++) {
        acc += (double) x[r] * w[(gsize) r * cols + c];
        mag += fabs ((double) x[r] * w[(gsize) r * cols + c]);
      }
      ref[c] = acc;
      bound[c] = gamma_n (rows + 1) * mag;
    }
    for (int level = AR_SIMD_C; level <= (int) ar_simd_detect (); level++) {
      g_assert_true (ar_simd_set_level (level));
      ar_matvec_t (y, w, x, rows, cols);
      guarded_check (y, cols);
      for (int c = 0; c < cols; c++) {
        if (exact)
          g_assert_cmpfloat (y[c], ==, ref[c]);
        else
          g_assert_cmpfloat (fabsf (y[c] - ref[c]), <=, bound[c]);
      }
    }
    g_free (y_block);
  }
  ar_simd_set_level (ar_simd_detect ());
}

static void
test_matvec_t_exact (void)
{
  check_matvec_t (TRUE);
}

static void
test_matvec_t_real (void)
{
  check_matvec_t (FALSE);
}

/* ar_exp_shift_sum: every level within 2 ulp (relative 2.4e-7) of the
 * double exp, 0 below the subnormal range, the sum within the bound of its
 * terms; lengths around the vector widths, shifted arguments. */
static void
test_exp_shift_sum (void)
{
  static const int lengths[] = { 1, 2, 7, 8, 9, 15, 16, 17, 31, 100, 257 };
  ArRng rng;
  ar_rng_init (&rng, 50);
  for (guint k = 0; k < G_N_ELEMENTS (lengths); k++) {
    int n = lengths[k];
    g_autofree float *src = g_new (float, n);
    float *y_block, *y = guarded_new (n, &y_block);
    float shift = 3.0f * ar_rng_normal (&rng);

    /* arguments x - shift over [-90, 0]: the subnormal cut included */
    for (int i = 0; i < n; i++)
      src[i] = shift - 90.0f * ar_rng_uniform (&rng);
    src[0] = shift; /* exp (0) = 1 exactly */
    for (int level = AR_SIMD_C; level <= (int) ar_simd_detect (); level++) {
      double sum_ref = 0;
      g_assert_true (ar_simd_set_level (level));
      memcpy (y, src, n * sizeof (float));
      float sum = ar_exp_shift_sum (y, shift, n);
      guarded_check (y, n);
      g_assert_cmpfloat (y[0], ==, 1.0f);
      for (int i = 0; i < n; i++) {
        double arg = (double) (src[i] - shift); /* the float difference */
        double e = exp (arg);
        if (arg < -87.4)
          g_assert_cmpfloat (y[i], <=, 1.2e-38); /* 0, or expf's tiny value */
        else if (arg > -87.3)
          g_assert_cmpfloat (fabs (y[i] - e), <=, 2.4e-7 * e);
        sum_ref += y[i];
      }
      g_assert_cmpfloat (fabs (sum - sum_ref), <=, gamma_n (n + 8) * sum_ref);
    }
    g_free (y_block);
  }
  ar_simd_set_level (ar_simd_detect ());
}

/* ---- the typed product ---- */

/* y (rows) = the product of each type's own kernel, then + b for all but
 * F32, whose kernel adds it itself: what ar_matvec_typed promises. */
static void
typed_ref (ArTensorType type, float *y, const void *w, const float *x,
    const ArBlockQ8_0 *xq, const float *b, int rows, int cols)
{
  switch (type) {
    case AR_TENSOR_F32:
      ar_matvec (y, w, x, b, rows, cols);
      return;
    case AR_TENSOR_F16:
      ar_matvec_f16 (y, w, x, rows, cols);
      break;
    case AR_TENSOR_Q8_0:
      ar_matvec_q8_0 (y, w, xq, rows, cols);
      break;
    case AR_TENSOR_Q4_0:
      ar_matvec_q4_0 (y, w, xq, rows, cols);
      break;
    default:
      g_assert_not_reached ();
  }
  if (b != NULL)
    for (int r = 0; r < rows; r++)
      y[r] += b[r];
}

/* ar_matvec_typed is each type's kernel bit for bit, at every level, with
 * and without a bias, reading only the input its type reads (the other is
 * NULL); rows [r0, rows) from the address ar_tensor_data_size gives for
 * row r0, with b + r0, are that slice of the whole product when r0 is a
 * multiple of 16; an empty product (cols == 0) is the bias. */
static void
test_typed (void)
{
  static const ArTensorType types[] = { AR_TENSOR_F32, AR_TENSOR_F16,
    AR_TENSOR_Q8_0, AR_TENSOR_Q4_0 };
  ArRng rng;

  ar_rng_init (&rng, 90);
  for (guint s = 0; s < G_N_ELEMENTS (q_shapes); s++) {
    int rows = q_shapes[s][0], cols = q_shapes[s][1];
    /* a multiple of 16, as the thread pool splits (some kernels sum the
     * last rows of a matrix, past their groups of 4 or 8, otherwise) */
    int r0 = rows / 2 / 16 * 16;
    gsize n = (gsize) rows * cols;
    g_autofree float *v = g_new (float, n);
    g_autofree float *x = g_new (float, cols);
    g_autofree float *b = g_new (float, rows);
    g_autofree ArBlockQ8_0 *xq = g_new (ArBlockQ8_0, cols / 32);
    g_autofree float *ref = g_new (float, rows);
    float *y_block, *y = guarded_new (rows, &y_block);

    for (gsize i = 0; i < n; i++)
      v[i] = ar_rng_normal (&rng);
    for (int c = 0; c < cols; c++)
      x[c] = ar_rng_normal (&rng);
    for (int r = 0; r < rows; r++)
      b[r] = ar_rng_normal (&rng);
    ar_quantize_q8_0 (xq, x, cols);

    for (guint k = 0; k < G_N_ELEMENTS (types); k++) {
      ArTensorType type = types[k];
      gboolean quantised = type == AR_TENSOR_Q8_0 || type == AR_TENSOR_Q4_0;
      const float *xf = quantised ? NULL : x;
      const ArBlockQ8_0 *xb = quantised ? xq : NULL;
      gsize row_bytes = ar_tensor_data_size (type, cols);
      g_autofree guint8 *w = g_malloc (rows * row_bytes);

      g_assert_cmpuint (row_bytes, ==,
          type == AR_TENSOR_F32        ? cols * 4u
              : type == AR_TENSOR_F16  ? cols * 2u
              : type == AR_TENSOR_Q8_0 ? cols / 32u * 34u
                                       : cols / 32u * 18u);
      ar_tensor_data_from_f32 (type, v, n, w);
      for (int level = AR_SIMD_C; level <= (int) ar_simd_detect (); level++) {
        g_assert_true (ar_simd_set_level (level));
        for (int with_b = 0; with_b < 2; with_b++) {
          const float *bb = with_b ? b : NULL;

          typed_ref (type, ref, w, x, xq, bb, rows, cols);
          ar_matvec_typed (type, y, w, xf, xb, bb, rows, cols);
          guarded_check (y, rows);
          g_assert_cmpmem (y, rows * sizeof (float), ref,
              rows * sizeof (float));
          ar_matvec_typed (type, y, w + r0 * row_bytes, xf, xb,
              bb ? bb + r0 : NULL, rows - r0, cols);
          g_assert_cmpmem (y, (rows - r0) * sizeof (float), ref + r0,
              (rows - r0) * sizeof (float));
        }
      }
      ar_simd_set_level (ar_simd_detect ());

      ar_matvec_typed (type, y, NULL, NULL, NULL, b, rows, 0);
      g_assert_cmpmem (y, rows * sizeof (float), b, rows * sizeof (float));
      ar_matvec_typed (type, y, NULL, NULL, NULL, NULL, rows, 0);
      for (int r = 0; r < rows; r++)
        g_assert_cmpfloat (y[r], ==, 0.0f);
    }
    g_free (y_block);
  }
}

static void
test_empty (void)
{
  float y[3] = { 1, 2, 3 };
  ar_matvec_f16 (y, NULL, NULL, 3, 0);
  g_assert_cmpfloat (y[0], ==, 0);
  g_assert_cmpfloat (y[2], ==, 0);
  y[1] = 5;
  ar_matvec_q8_0 (y, NULL, NULL, 3, 0);
  g_assert_cmpfloat (y[1], ==, 0);
  ar_matvec_f16 (NULL, NULL, NULL, 0, 5);
  ar_matvec_q8_0 (NULL, NULL, NULL, 0, 32);
  ar_quantize_q8_0 (NULL, NULL, 0);
  y[1] = 5;
  ar_matvec_q4_0 (y, NULL, NULL, 3, 0);
  g_assert_cmpfloat (y[1], ==, 0);
  ar_matvec_q4_0 (NULL, NULL, NULL, 0, 32);
  ar_quantize_q4_0 (NULL, NULL, 0);
  ar_dequantize_q4_0 (NULL, NULL, 0);
}

/* Subnormal blocks so small that 1 / scale overflows (found by fuzzing the
 * GGUF writer): both quantisers code them as zeros — scale 0 in F16,
 * Q8_0 codes 0, Q4_0 codes 8 — whatever mix of zeros, signs and sizes the
 * block holds, instead of multiplying by an infinite factor (±inf codes,
 * and 0 × inf = NaN, whose conversion to an integer is undefined). */
static void
test_quantize_tiny (void)
{
  float x[AR_Q8_0_BLOCK], back[AR_Q4_0_BLOCK];
  ArBlockQ8_0 q8;
  ArBlockQ4_0 q4;

  for (int i = 0; i < AR_Q8_0_BLOCK; i++)
    x[i] = i % 3 == 0 ? 0.0f : (i % 2 ? 1e-40f : -3e-41f);
  ar_quantize_q8_0 (&q8, x, AR_Q8_0_BLOCK);
  g_assert_cmpuint (q8.d, ==, ar_f32_to_f16 (0.0f));
  for (int i = 0; i < AR_Q8_0_BLOCK; i++)
    g_assert_cmpint (q8.qs[i], ==, 0);
  ar_quantize_q4_0 (&q4, x, AR_Q4_0_BLOCK);
  g_assert_cmpfloat (ar_f16_to_f32 (q4.d), ==, 0.0f);
  for (int i = 0; i < AR_Q4_0_BLOCK / 2; i++)
    g_assert_cmpuint (q4.qs[i], ==, 0x88);
  ar_dequantize_q4_0 (back, &q4, AR_Q4_0_BLOCK);
  for (int i = 0; i < AR_Q4_0_BLOCK; i++)
    g_assert_cmpfloat (back[i], ==, 0.0f);
  /* the smallest normal magnitude still has a finite inverse: coded as
   * before, the signed maximum at code 0 for Q4_0 */
  for (int i = 0; i < AR_Q8_0_BLOCK; i++)
    x[i] = i == 5 ? -FLT_MIN * 64 : 0.0f;
  ar_quantize_q4_0 (&q4, x, AR_Q4_0_BLOCK);
  g_assert_cmpuint (q4.qs[5] & 0x0f, ==, 0);
  ar_quantize_q8_0 (&q8, x, AR_Q8_0_BLOCK);
  g_assert_cmpint (q8.qs[5], ==, -127);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (int level = ar_simd_detect () + 1; level <= AR_SIMD_AVX512; level++)
    g_test_message ("SIMD level %s not on this CPU: not tested",
        ar_simd_level_name (level));
  g_test_add_func ("/kernels-quant/f16/exact", test_f16_exact);
  g_test_add_func ("/kernels-quant/f16/real", test_f16_real);
  g_test_add_func ("/kernels-quant/q8_0/quantize", test_quantize);
  g_test_add_func ("/kernels-quant/q8_0/exact-weights",
      test_q8_0_exact_weights);
  g_test_add_func ("/kernels-quant/q8_0/exact-inputs", test_q8_0_exact_inputs);
  g_test_add_func ("/kernels-quant/q8_0/real", test_q8_0_real);
  g_test_add_func ("/kernels-quant/q8_0/vs-f32", test_q8_0_vs_f32);
  g_test_add_func ("/kernels-quant/q8_0/non-finite", test_q8_0_non_finite);
  g_test_add_func ("/kernels-quant/quantize-tiny", test_quantize_tiny);
  g_test_add_func ("/kernels-quant/q4_0/quantize", test_q4_0_quantize);
  g_test_add_func ("/kernels-quant/q4_0/round-trip", test_q4_0_round_trip);
  g_test_add_func ("/kernels-quant/q4_0/exact", test_q4_0_exact);
  g_test_add_func ("/kernels-quant/q4_0/real", test_q4_0_real);
  g_test_add_func ("/kernels-quant/q4_0/vs-f32", test_q4_0_vs_f32);
  g_test_add_func ("/kernels-quant/matvec-t/exact", test_matvec_t_exact);
  g_test_add_func ("/kernels-quant/matvec-t/real", test_matvec_t_real);
  g_test_add_func ("/kernels-quant/exp-shift-sum", test_exp_shift_sum);
  g_test_add_func ("/kernels-quant/typed", test_typed);
  g_test_add_func ("/kernels-quant/empty", test_empty);
  return g_test_run ();
}
