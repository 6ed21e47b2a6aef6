/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-kernels.c — ar-kernels: every SIMD level the CPU has against the
 * plain-C path, and the plain-C path against exact arithmetic.
 *
 * Two kinds of data:
 * - exact: W, x, b and y hold multiples of 1/8 in [-2, 2], so every product
 *   is a multiple of 1/64 and every partial sum stays far below 2^24 / 64;
 *   float arithmetic is then exact in any order, with or without FMA, and each
 *   level must equal the double-precision reference bit for bit.  A dropped,
 *   doubled or misplaced term cannot hide in a tolerance.
 * - real: normal random values.  Summation order differs between levels, so
 *   they are compared with the classic forward error bound of a dot product
 *   of length n, |fl (s) - s| <= gamma_n * sum |w x| with gamma_n =
 *   n u / (1 - n u) and u = FLT_EPSILON / 2; two results each within it
 *   differ by at most twice that.
 * Pointers are deliberately misaligned, and guard values around y catch
 * writes outside it.  The levels this CPU lacks cannot run here; the test
 * says which ones were skipped. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/ar-kernels.h"
#include "core/ar-rng.h"

#define GUARD 8
#define GUARD_VALUE 1234.5f

/* A float buffer of n elements starting one float past a 32-byte boundary
 * (so never aligned for SIMD), with GUARD guard values on both sides. */
typedef struct
{
  float *block;
  float *data;
  int n;
} Buffer;

static Buffer
buffer_new (int n)
{
  Buffer b;
  int i;

  b.block = g_malloc (((gsize) n + 2 * GUARD + 8) * sizeof (float) + 32);
  b.data = (float *) (((guintptr) b.block + 31) & ~(guintptr) 31) + 1 + GUARD;
  b.n = n;
  for (i = -GUARD; i < n + GUARD; i++)
    b.data[i] = GUARD_VALUE;
  return b;
}

static void
buffer_check_guards (const Buffer *b)
{
  int i;

  for (i = 1; i <= GUARD; i++) {
    g_assert_cmpfloat (b->data[-i], ==, GUARD_VALUE);
    g_assert_cmpfloat (b->data[b->n - 1 + i], ==, GUARD_VALUE);
  }
}

static void
buffer_free (Buffer *b)
{
  g_free (b->block);
}

/* Multiples of 1/8 in [-2, 2]. */
static void
fill_exact (float *v, int n, ArRng *rng)
{
  int i;

  for (i = 0; i < n; i++)
    v[i] = ((int) ar_rng_below (rng, 33) - 16) / 8.0f;
}

static void
fill_normal (float *v, int n, ArRng *rng)
{
  int i;

  for (i = 0; i < n; i++)
    v[i] = ar_rng_normal (rng);
}

static double
gamma_n (int n)
{
  double u = FLT_EPSILON / 2;

  return n * u / (1 - n * u);
}

/* Levels to test: every level up to the best one this CPU has. */
static int
n_levels (void)
{
  return ar_simd_detect () + 1;
}

static const int sizes[] = { 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63,
  64, 65 };
/* 8195 x 257 is past the AVX2 kernel's threshold for matrices that stream
 * from memory (2 M weights), which it reads one row at a time. */
static const int big_shapes[][2] = { { 512, 64 }, { 64, 512 }, { 1536, 512 },
  { 6, 1000 }, { 5, 4099 }, { 4099, 3 }, { 8195, 257 } };

/* ar_matvec and ar_matvec_acc on exact data, for one shape, at every
 * level: all equal the exact result. */
static void
check_matvec_exact (int rows, int cols, ArRng *rng)
{
  Buffer W = buffer_new (rows * cols), x = buffer_new (cols);
  Buffer b = buffer_new (rows), y = buffer_new (rows), y0 = buffer_new (rows);
  g_autofree double *ref = g_new (double, rows);
  int level, r, c;

  fill_exact (W.data, rows * cols, rng);
  fill_exact (x.data, cols, rng);
  fill_exact (b.data, rows, rng);
  fill_exact (y0.data, rows, rng);
  for (r = 0; r < rows; r++) {
    ref[r] = 0.0;
    for (c = 0; c < cols; c++)
      ref[r] += (double) W.data[(gsize) r * cols + c] * x.data[c];
  }

  for (level = 0; level < n_levels (); level++) {
    g_assert_true (ar_simd_set_level (level));

    ar_matvec (y.data, W.data, x.data, NULL, rows, cols);
    for (r = 0; r < rows; r++)
      if (y.data[r] != ref[r])
        g_error ("%s matvec %dx%d: y[%d] = %.9g, exact %.9g",
            ar_simd_level_name (level), rows, cols, r, y.data[r], ref[r]);

    ar_matvec (y.data, W.data, x.data, b.data, rows, cols);
    for (r = 0; r < rows; r++)
      if (y.data[r] != ref[r] + b.data[r])
        g_error ("%s matvec+bias %dx%d: y[%d] = %.9g, exact %.9g",
            ar_simd_level_name (level), rows, cols, r, y.data[r],
            ref[r] + b.data[r]);

    for (r = 0; r < rows; r++)
      y.data[r] = y0.data[r];
    ar_matvec_acc (y.data, W.data, x.data, rows, cols);
    for (r = 0; r < rows; r++)
      if (y.data[r] != ref[r] + y0.data[r])
        g_error ("%s matvec_acc %dx%d: y[%d] = %.9g, exact %.9g",
            ar_simd_level_name (level), rows, cols, r, y.data[r],
            ref[r] + y0.data[r]);

    buffer_check_guards (&y);
  }

  buffer_free (&W);
  buffer_free (&x);
  buffer_free (&b);
  buffer_free (&y);
  buffer_free (&y0);
}

/* Real data: each level against the C path within 2 gamma_(cols+1) times the
 * magnitude (sum |w x| + |b|, the +1 for adding the bias). */
static void
check_matvec_real (int rows, int cols, ArRng *rng)
{
  Buffer W = buffer_new (rows * cols), x = buffer_new (cols);
  Buffer b = buffer_new (rows), y = buffer_new (rows), yc = buffer_new (rows);
  Buffer acc = buffer_new (rows);
  g_autofree double *mag = g_new (double, rows);
  g_autofree double *mag_acc = g_new (double, rows);
  const double g = 2 * gamma_n (cols + 1);
  int level, r, c;

  fill_normal (W.data, rows * cols, rng);
  fill_normal (x.data, cols, rng);
  fill_normal (b.data, rows, rng);
  for (r = 0; r < rows; r++) {
    mag[r] = 0.0;
    for (c = 0; c < cols; c++)
      mag[r] += fabs ((double) W.data[(gsize) r * cols + c] * x.data[c]);
    mag_acc[r] = mag[r] + fabs (b.data[r]);
  }

  g_assert_true (ar_simd_set_level (AR_SIMD_C));
  ar_matvec (yc.data, W.data, x.data, b.data, rows, cols);
  /* The C path itself is within the bound of the double-precision result. */
  for (r = 0; r < rows; r++) {
    double exact = b.data[r];

    for (c = 0; c < cols; c++)
      exact += (double) W.data[(gsize) r * cols + c] * x.data[c];
    g_assert_cmpfloat (fabs (yc.data[r] - exact), <=,
        gamma_n (cols + 1) * mag_acc[r]);
  }
  for (r = 0; r < rows; r++)
    acc.data[r] = b.data[r];
  ar_matvec_acc (acc.data, W.data, x.data, rows, cols);
  /* Same operations in the same order: matvec with a bias and matvec_acc
   * onto the bias agree exactly in the C path. */
  for (r = 0; r < rows; r++)
    g_assert_cmpfloat (acc.data[r], ==, yc.data[r]);

  for (level = 1; level < n_levels (); level++) {
    g_assert_true (ar_simd_set_level (level));

    ar_matvec (y.data, W.data, x.data, b.data, rows, cols);
    for (r = 0; r < rows; r++)
      if (fabs (y.data[r] - yc.data[r]) > g * mag_acc[r])
        g_error ("%s matvec %dx%d: y[%d] = %.9g, C %.9g, allowed %.3g",
            ar_simd_level_name (level), rows, cols, r, y.data[r], yc.data[r],
            g * mag_acc[r]);

    for (r = 0; r < rows; r++)
      y.data[r] = b.data[r];
    ar_matvec_acc (y.data, W.data, x.data, rows, cols);
    for (r = 0; r < rows; r++)
      if (fabs (y.data[r] - yc.data[r]) > g * mag_acc[r])
        g_error ("%s matvec_acc %dx%d: y[%d] = %.9g, C %.9g",
            ar_simd_level_name (level), rows, cols, r, y.data[r], yc.data[r]);

    buffer_check_guards (&y);
  }

  buffer_free (&W);
  buffer_free (&x);
  buffer_free (&b);
  buffer_free (&y);
  buffer_free (&yc);
  buffer_free (&acc);
}

static void
test_matvec_exact (void)
{
  ArRng rng;
  guint i, j;

  ar_rng_init (&rng, 1);
  for (i = 0; i < G_N_ELEMENTS (sizes); i++)
    for (j = 0; j < G_N_ELEMENTS (sizes); j++)
      check_matvec_exact (sizes[i], sizes[j], &rng);
  for (i = 0; i < G_N_ELEMENTS (big_shapes); i++)
    check_matvec_exact (big_shapes[i][0], big_shapes[i][1], &rng);
  ar_simd_set_level (ar_simd_detect ());
}

static void
test_matvec_real (void)
{
  ArRng rng;
  guint i, j;

  ar_rng_init (&rng, 2);
  for (i = 0; i < G_N_ELEMENTS (sizes); i++)
    for (j = 0; j < G_N_ELEMENTS (sizes); j++)
      check_matvec_real (sizes[i], sizes[j], &rng);
  for (i = 0; i < G_N_ELEMENTS (big_shapes); i++)
    check_matvec_real (big_shapes[i][0], big_shapes[i][1], &rng);
  ar_simd_set_level (ar_simd_detect ());
}

/* Degenerate shapes: no rows writes nothing; no columns gives the bias (or
 * leaves y for matvec_acc, or zero without a bias).  The matrix and vector
 * may then be NULL. */
static void
test_matvec_empty (void)
{
  Buffer y = buffer_new (3);
  const float b[3] = { 1, 2, 3 };
  int level, r;

  for (level = 0; level < n_levels (); level++) {
    g_assert_true (ar_simd_set_level (level));

    for (r = 0; r < 3; r++)
      y.data[r] = GUARD_VALUE;
    ar_matvec (y.data, NULL, NULL, b, 0, 5);
    ar_matvec (NULL, NULL, NULL, NULL, 0, 0);
    for (r = 0; r < 3; r++)
      g_assert_cmpfloat (y.data[r], ==, GUARD_VALUE);

    ar_matvec (y.data, NULL, NULL, b, 3, 0);
    for (r = 0; r < 3; r++)
      g_assert_cmpfloat (y.data[r], ==, b[r]);
    ar_matvec_acc (y.data, NULL, NULL, 3, 0);
    for (r = 0; r < 3; r++)
      g_assert_cmpfloat (y.data[r], ==, b[r]);
    ar_matvec (y.data, NULL, NULL, NULL, 3, 0);
    for (r = 0; r < 3; r++)
      g_assert_cmpfloat (y.data[r], ==, 0.0f);
    g_assert_cmpfloat (ar_dot (NULL, NULL, 0), ==, 0.0f);

    buffer_check_guards (&y);
  }
  ar_simd_set_level (ar_simd_detect ());
  buffer_free (&y);
}

static void
test_dot (void)
{
  static const int lengths[] = { 0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33,
    47, 63, 64, 65, 100, 127, 128, 129, 1000, 4099 };
  ArRng rng;
  guint i;
  int level;

  ar_rng_init (&rng, 3);
  for (i = 0; i < G_N_ELEMENTS (lengths); i++) {
    int n = lengths[i], k;
    Buffer a = buffer_new (n), b = buffer_new (n);
    double exact = 0.0, mag = 0.0;
    float c_result;

    /* Exact data: equal to the exact sum at every level. */
    fill_exact (a.data, n, &rng);
    fill_exact (b.data, n, &rng);
    for (k = 0; k < n; k++)
      exact += (double) a.data[k] * b.data[k];
    for (level = 0; level < n_levels (); level++) {
      g_assert_true (ar_simd_set_level (level));
      g_assert_cmpfloat (ar_dot (a.data, b.data, n), ==, exact);
    }

    /* Real data: within the error bound of the C result. */
    fill_normal (a.data, n, &rng);
    fill_normal (b.data, n, &rng);
    for (k = 0; k < n; k++)
      mag += fabs ((double) a.data[k] * b.data[k]);
    g_assert_true (ar_simd_set_level (AR_SIMD_C));
    c_result = ar_dot (a.data, b.data, n);
    for (level = 1; level < n_levels (); level++) {
      g_assert_true (ar_simd_set_level (level));
      g_assert_cmpfloat (fabs (ar_dot (a.data, b.data, n) - c_result), <=,
          2 * gamma_n (n) * mag);
    }

    buffer_free (&a);
    buffer_free (&b);
  }
  ar_simd_set_level (ar_simd_detect ());
}

/* Levels above what the CPU has are refused and change nothing; so are
 * values outside the enum. */
/* Each row of ar_matvec depends only on that row, x and its bias: computed
 * whole, in row ranges cut anywhere (as thread pools and the Transformer's
 * batched exact products cut them), one row at a time or for several x at
 * once (ar_matvec_multi, ar_matvec_multi_streamed), the results are equal
 * bit for bit, at every level — with real data, where the summation order
 * shows.  The shapes include a matrix past the size from which the
 * AVX2 kernel streams rows one at a time, and column counts with tails. */
static void
test_matvec_rows (void)
{
  static const int shapes[][2] = {
    { 37, 100 }, { 64, 128 }, { 13, 9 }, { 8, 24 }, { 2100, 1001 },
  };
  static const int multi_T[] = { 1, 2, 3, 4, 5, 8, 9 };
  ArRng rng;

  ar_rng_init (&rng, 31);
  for (guint k = 0; k < G_N_ELEMENTS (shapes); k++) {
    int rows = shapes[k][0], cols = shapes[k][1];
    g_autofree float *W = g_new (float, (gsize) rows * cols);
    g_autofree float *x = g_new (float, cols);
    g_autofree float *b = g_new (float, rows);
    g_autofree float *whole = g_new (float, rows);
    g_autofree float *cut = g_new (float, rows);

    for (gsize i = 0; i < (gsize) rows * cols; i++)
      W[i] = ar_rng_normal (&rng);
    for (int i = 0; i < cols; i++)
      x[i] = ar_rng_normal (&rng);
    for (int i = 0; i < rows; i++)
      b[i] = ar_rng_normal (&rng);
    for (int level = AR_SIMD_C; level <= AR_SIMD_AVX512; level++) {
      if (!ar_simd_set_level ((ArSimdLevel) level))
        continue;
      for (int with_bias = 0; with_bias < 2; with_bias++) {
        const float *bias = with_bias ? b : NULL;

        ar_matvec (whole, W, x, bias, rows, cols);
        /* ranges of 1, 2, 3, 5, 7, 1, 2, ... rows */
        for (int r0 = 0, step = 0; r0 < rows; step++) {
          static const int sizes[] = { 1, 2, 3, 5, 7 };
          int n = MIN (sizes[step % 5], rows - r0);
          ar_matvec (cut + r0, W + (gsize) r0 * cols, x,
              bias ? bias + r0 : NULL, n, cols);
          r0 += n;
        }
        g_assert_cmpmem (whole, rows * sizeof (float), cut,
            rows * sizeof (float));

        /* several rows of X at once, into rows of Y with a larger stride,
         * with the kernels for cached and for streamed weights (their token
         * groups are 2 and 4 rows of X: T covers whole groups and rests) */
        for (guint k = 0; k < 2 * G_N_ELEMENTS (multi_T); k++) {
          int T = multi_T[k / 2], ldy = rows + 3;
          g_autofree float *X = g_new (float, (gsize) T * cols);
          g_autofree float *Y = g_new0 (float, (gsize) T * ldy);
          for (gsize i = 0; i < (gsize) T * cols; i++)
            X[i] = ar_rng_normal (&rng);
          (k % 2 ? ar_matvec_multi_streamed : ar_matvec_multi) (Y, ldy, W, X,
              bias, rows, cols, T);
          for (int t = 0; t < T; t++) {
            ar_matvec (whole, W, X + (gsize) t * cols, bias, rows, cols);
            g_assert_cmpmem (whole, rows * sizeof (float), Y + (gsize) t * ldy,
                rows * sizeof (float));
          }
        }
      }
    }
  }
  ar_simd_set_level (ar_simd_detect ());
}

static void
test_levels (void)
{
  ArSimdLevel best = ar_simd_detect (), level;

  g_test_message ("best level of this CPU: %s", ar_simd_level_name (best));
  for (level = AR_SIMD_C; level <= AR_SIMD_AVX512; level++) {
    ArSimdLevel before = ar_simd_get_level ();

    if (level <= best) {
      g_assert_true (ar_simd_set_level (level));
      g_assert_cmpint (ar_simd_get_level (), ==, level);
    } else {
      g_assert_false (ar_simd_set_level (level));
      g_assert_cmpint (ar_simd_get_level (), ==, before);
      g_test_message ("level %s not supported by this CPU: refused, and "
                      "its kernels were not run",
          ar_simd_level_name (level));
    }
  }
  g_assert_true (ar_simd_set_level (AR_SIMD_C));
  g_assert_false (ar_simd_set_level ((ArSimdLevel) 3));
  g_assert_false (ar_simd_set_level ((ArSimdLevel) -1));
  g_assert_cmpint (ar_simd_get_level (), ==, AR_SIMD_C);
  ar_simd_set_level (best);

  g_assert_cmpstr (ar_simd_level_name (AR_SIMD_C), ==, "c");
  g_assert_cmpstr (ar_simd_level_name (AR_SIMD_AVX2), ==, "avx2");
  g_assert_cmpstr (ar_simd_level_name (AR_SIMD_AVX512), ==, "avx512");
#if !defined(__x86_64__) && !defined(__i386__)
  g_assert_cmpint (best, ==, AR_SIMD_C);
#endif
}

/* AR_SIMD is read once, at the first kernel call, so each value is checked
 * in a fresh process: this program re-run with --print-simd-level (see
 * main) and the variable in its environment.  (A plain spawn rather than
 * g_test_trap_subprocess(), whose child-watch thread valgrind reports.) */
static const char *self_path;

static void
test_env (void)
{
  ArSimdLevel best = ar_simd_detect ();
  const struct
  {
    const char *value;
    ArSimdLevel expect;
  } cases[] = {
    { NULL, best },
    { "c", AR_SIMD_C },
    { "avx2", MIN (best, AR_SIMD_AVX2) },
    { "AVX512", MIN (best, AR_SIMD_AVX512) },
    { "bogus", best },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++) {
    const char *argv[] = { self_path, "--print-simd-level", NULL };
    g_auto (GStrv) envp = g_get_environ ();
    g_autofree char *out = NULL;
    g_autoptr (GError) error = NULL;
    int status;

    if (cases[i].value)
      envp = g_environ_setenv (envp, "AR_SIMD", cases[i].value, TRUE);
    else
      envp = g_environ_unsetenv (envp, "AR_SIMD");
    g_assert_true (g_spawn_sync (NULL, (char **) argv, envp, G_SPAWN_DEFAULT,
        NULL, NULL, &out, NULL, &status, &error));
    g_assert_no_error (error);
    g_assert_true (g_spawn_check_wait_status (status, NULL));
    g_assert_cmpstr (g_strstrip (out), ==,
        ar_simd_level_name (cases[i].expect));
  }
}

int
main (int argc, char **argv)
{
  /* The child of test_env: the level chosen from this environment. */
  if (argc == 2 && strcmp (argv[1], "--print-simd-level") == 0) {
    printf ("%s\n", ar_simd_level_name (ar_simd_get_level ()));
    return 0;
  }
  self_path = argv[0];

  g_test_init (&argc, &argv, NULL);

  /* Start from the detected level whatever the caller's AR_SIMD says. */
  ar_simd_set_level (ar_simd_detect ());

  g_test_add_func ("/kernels/levels", test_levels);
  g_test_add_func ("/kernels/matvec-exact", test_matvec_exact);
  g_test_add_func ("/kernels/matvec-real", test_matvec_real);
  g_test_add_func ("/kernels/matvec-empty", test_matvec_empty);
  g_test_add_func ("/kernels/matvec-rows", test_matvec_rows);
  g_test_add_func ("/kernels/dot", test_dot);
  g_test_add_func ("/kernels/env", test_env);

  return g_test_run ();
}
