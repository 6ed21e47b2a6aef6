/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-kernels.c — ar_matvec throughput at every SIMD level this CPU has,
 * side by side in one run.
 *
 * For each shape (rows x cols, row-major W) and level, it times repeated
 * y = W x + b on the same data and prints GFLOP/s (2 rows cols per call),
 * the weight bandwidth this implies (a matrix-vector product reads each weight
 * once, so this is the number to compare with the memory system), and the
 * speed-up over the plain-C path.  Each figure is the best of three short
 * timing windows, which filters out the other processes on a shared machine.
 *
 * Usage: bench-kernels [SECONDS]   (timing window, default 0.1 s) */
#include <stdio.h>
#include <stdlib.h>

#include "core/ar-kernels.h"
#include "core/ar-rng.h"

typedef struct
{
  int rows, cols;
} Shape;

/* Seconds per call of ar_matvec on (rows, cols), best of three windows of
 * about @window seconds each. */
static double
time_matvec (float *y, const float *W, const float *x, const float *b, int rows,
    int cols, double window)
{
  double best = G_MAXDOUBLE;
  int rep, i;

  for (i = 0; i < 3; i++) /* warm the caches and the branch predictors */
    ar_matvec (y, W, x, b, rows, cols);

  for (rep = 0; rep < 3; rep++) {
    gint64 start = g_get_monotonic_time (), elapsed;
    long calls = 0;

    do {
      for (i = 0; i < 16; i++)
        ar_matvec (y, W, x, b, rows, cols);
      calls += 16;
      elapsed = g_get_monotonic_time () - start;
    } while (elapsed < window * 1e6);
    best = MIN (best, elapsed * 1e-6 / calls);
  }
  return best;
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
      double t;

      if (!ar_simd_set_level (level))
        continue;
      t = time_matvec (y, W, x, b, rows, cols, window);
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
  ar_simd_set_level (best_level);
  return 0;
}
