/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-kernels.c — matrix-vector throughput at every SIMD level this CPU
 * has, side by side in one run.
 *
 * First ar_matvec (F32): for each shape (rows x cols, row-major W) and
 * level, it times repeated y = W x + b on the same data and prints GFLOP/s
 * (2 rows cols per call), the weight bandwidth this implies (a
 * matrix-vector product reads each weight once, so this is the number to
 * compare with the memory system), and the speed-up over the plain-C path.
 * Then the storage types side by side on the stories15M classifier's shape,
 * 32000 x 288 (too big for the caches: memory bound): F32, F16, Q8_0 and
 * Q4_0 weights (ar_matvec, ar_matvec_f16, ar_matvec_q8_0, ar_matvec_q4_0;
 * the quantised ones read x quantised to Q8_0 once, outside the timing),
 * GB/s counting the bytes of the weights as stored.  Last the exact
 * batched F32 products speculative verification uses, 8 rows of X at once:
 * T separate ar_matvec calls, ar_matvec_multi (for weights in the caches)
 * and ar_matvec_multi_streamed (for weights from memory), on the default
 * Transformer's feed-forward matrix (352 x 128, in L2) and the stories15M
 * classifier (from memory).  Each figure is the best of three short timing
 * windows, which filters out the other processes on a shared machine.
 *
 * Usage: bench-kernels [SECONDS]   (timing window, default 0.1 s) */
#include <stdio.h>
#include <stdlib.h>

#include "core/ar-gguf.h"
#include "core/ar-kernels.h"
#include "core/ar-rng.h"

typedef struct
{
  int rows, cols;
} Shape;

/* One product to time: y (rows) = W (rows, cols) x, W stored as @type. */
typedef struct
{
  ArTensorType type;
  const void *W;
  const float *x, *b;    /* b: F32 only, may be NULL */
  const ArBlockQ8_0 *xq; /* x quantised, for Q8_0 and Q4_0 */
  float *y;
  int rows, cols;
  /* F32 only: 0, one product; otherwise T rows of X (x, T × cols) into y
   * (T × rows) by 1 T ar_matvec calls, 2 ar_matvec_multi, 3
   * ar_matvec_multi_streamed */
  int batch, T;
} Product;

static void
run_product (const Product *p)
{
  switch (p->type) {
    case AR_TENSOR_F16:
      ar_matvec_f16 (p->y, p->W, p->x, p->rows, p->cols);
      break;
    case AR_TENSOR_Q8_0:
      ar_matvec_q8_0 (p->y, p->W, p->xq, p->rows, p->cols);
      break;
    case AR_TENSOR_Q4_0:
      ar_matvec_q4_0 (p->y, p->W, p->xq, p->rows, p->cols);
      break;
    case AR_TENSOR_F32:
    default:
      if (p->batch == 0)
        ar_matvec (p->y, p->W, p->x, p->b, p->rows, p->cols);
      else if (p->batch == 1)
        for (int t = 0; t < p->T; t++)
          ar_matvec (p->y + (gsize) t * p->rows, p->W,
              p->x + (gsize) t * p->cols, p->b, p->rows, p->cols);
      else
        (p->batch == 2 ? ar_matvec_multi : ar_matvec_multi_streamed) (p->y,
            p->rows, p->W, p->x, p->b, p->rows, p->cols, p->T);
      break;
  }
}

/* Seconds per call of @p, best of three windows of about @window seconds
 * each. */
static double
time_product (const Product *p, double window)
{
  double best = G_MAXDOUBLE;
  int rep, i;

  for (i = 0; i < 3; i++) /* warm the caches and the branch predictors */
    run_product (p);

  for (rep = 0; rep < 3; rep++) {
    gint64 start = g_get_monotonic_time (), elapsed;
    long calls = 0;

    do {
      for (i = 0; i < 16; i++)
        run_product (p);
      calls += 16;
      elapsed = g_get_monotonic_time () - start;
    } while (elapsed < window * 1e6);
    best = MIN (best, elapsed * 1e-6 / calls);
  }
  return best;
}

/* The four storage types of one random (rows, cols) matrix at every level:
 * GFLOP/s, GB/s of stored weights, and the speed-up over F32 at the same
 * level. */
static void
bench_types (int rows, int cols, ArSimdLevel best_level, double window,
    ArRng *rng)
{
  static const ArTensorType types[] = { AR_TENSOR_F32, AR_TENSOR_F16,
    AR_TENSOR_Q8_0, AR_TENSOR_Q4_0 };
  gsize n = (gsize) rows * cols, nb = n / 32;
  float *W = g_new (float, n), *x = g_new (float, cols);
  float *y = g_new (float, rows);
  guint16 *W16 = g_new (guint16, n);
  ArBlockQ8_0 *W8 = g_new (ArBlockQ8_0, nb);
  ArBlockQ4_0 *W4 = g_new (ArBlockQ4_0, nb);
  ArBlockQ8_0 *xq = g_new (ArBlockQ8_0, cols / 32);
  const void *data[] = { W, W16, W8, W4 };
  const gsize bytes[] = { n * 4, n * 2, nb * sizeof (ArBlockQ8_0),
    nb * sizeof (ArBlockQ4_0) };
  gsize i;

  for (i = 0; i < n; i++) {
    W[i] = ar_rng_normal (rng);
    W16[i] = ar_f32_to_f16 (W[i]);
  }
  ar_quantize_q8_0 (W8, W, (int) n);
  ar_quantize_q4_0 (W4, W, (int) n);
  for (i = 0; i < (gsize) cols; i++)
    x[i] = ar_rng_normal (rng);
  ar_quantize_q8_0 (xq, x, cols);

  printf ("\nstorage types, %dx%d (%.1f MB as F32)\n", rows, cols, n * 4 / 1e6);
  printf ("%-6s %-7s %9s %9s %8s\n", "type", "level", "GFLOP/s", "GB/s W",
      "vs F32");
  for (ArSimdLevel level = AR_SIMD_C; level <= best_level; level++) {
    double f32_time = 0.0;

    if (!ar_simd_set_level (level))
      continue;
    for (guint k = 0; k < G_N_ELEMENTS (types); k++) {
      Product p = { types[k], data[k], x, NULL, xq, y, rows, cols };
      double t = time_product (&p, window);

      if (k == 0)
        f32_time = t;
      printf ("%-6s %-7s %9.2f %9.2f %7.2fx\n", ar_tensor_type_name (types[k]),
          ar_simd_level_name (level), 2.0 * n / t * 1e-9, bytes[k] / t * 1e-9,
          f32_time / t);
    }
  }
  g_free (W);
  g_free (x);
  g_free (y);
  g_free (W16);
  g_free (W8);
  g_free (W4);
  g_free (xq);
}

/* The exact batched products of one random (rows, cols) F32 matrix and
 * T = 8 rows of X, best level: milliseconds per call of each way, and the
 * speed-up over T separate products. */
static void
bench_batched (int rows, int cols, double window, ArRng *rng)
{
  static const char *const names[] = { "8 x ar_matvec", "ar_matvec_multi",
    "ar_matvec_multi_streamed" };
  const int T = 8;
  gsize n = (gsize) rows * cols;
  float *W = g_new (float, n), *X = g_new (float, (gsize) T *cols);
  float *Y = g_new (float, (gsize) T *rows);
  double t[3];

  for (gsize i = 0; i < n; i++)
    W[i] = ar_rng_normal (rng);
  for (gsize i = 0; i < (gsize) T * cols; i++)
    X[i] = ar_rng_normal (rng);
  printf ("\nexact batched products, %dx%d (%.2f MB), %d rows of X, level "
          "%s\n",
      rows, cols, n * 4 / 1e6, T, ar_simd_level_name (ar_simd_get_level ()));
  for (int k = 0; k < 3; k++) {
    Product p = { AR_TENSOR_F32, W, X, NULL, NULL, Y, rows, cols, k + 1, T };
    t[k] = time_product (&p, window);
  }
  for (int k = 0; k < 3; k++)
    printf ("  %-26s %9.3f ms %7.2fx\n", names[k], t[k] * 1e3, t[0] / t[k]);
  g_free (W);
  g_free (X);
  g_free (Y);
}

int
main (int argc, char **argv)
{
  static const Shape shapes[] = { { 1536, 512 }, { 512, 512 } };
  ArSimdLevel best_level = ar_simd_detect (), level;
  double window = argc > 1 ? g_ascii_strtod (argv[1], NULL) : 0.1;
  ArRng rng;
  guint s;

  if (!(window > 0.0 && window <= 10.0)) {
    fprintf (stderr,
        "usage: %s [SECONDS]  (timing window, 0 < SECONDS <= 10)\n", argv[0]);
    return 2;
  }

  ar_rng_init (&rng, 1);
  printf ("ar_matvec, y = W x + b; best level of this CPU: %s\n",
      ar_simd_level_name (best_level));
  printf ("%-10s %-7s %9s %9s %8s\n", "shape", "level", "GFLOP/s", "GB/s W",
      "vs C");

  for (s = 0; s < G_N_ELEMENTS (shapes); s++) {
    int rows = shapes[s].rows, cols = shapes[s].cols;
    gsize n = (gsize) rows * cols, i;
    float *W = g_new (float, n), *x = g_new (float, cols);
    float *b = g_new (float, rows), *y = g_new (float, rows);
    double c_time = 0.0;
    char name[32];

    for (i = 0; i < n; i++)
      W[i] = ar_rng_normal (&rng);
    for (i = 0; i < (gsize) cols; i++)
      x[i] = ar_rng_normal (&rng);
    for (i = 0; i < (gsize) rows; i++)
      b[i] = ar_rng_normal (&rng);
    g_snprintf (name, sizeof name, "%dx%d", rows, cols);

    for (level = AR_SIMD_C; level <= best_level; level++) {
      Product p = { AR_TENSOR_F32, W, x, b, NULL, y, rows, cols };
      double t;

      if (!ar_simd_set_level (level))
        continue;
      t = time_product (&p, window);
      if (level == AR_SIMD_C)
        c_time = t;
      printf ("%-10s %-7s %9.2f %9.2f %7.2fx\n", name,
          ar_simd_level_name (level), 2.0 * n / t * 1e-9,
          n * sizeof (float) / t * 1e-9, c_time / t);
    }

    g_free (W);
    g_free (x);
    g_free (b);
    g_free (y);
  }
  bench_types (32000, 288, best_level, window, &rng);
  ar_simd_set_level (best_level);
  bench_batched (352, 128, window, &rng);
  bench_batched (32000, 288, window, &rng);
  return 0;
}
