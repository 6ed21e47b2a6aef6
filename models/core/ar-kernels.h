/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-kernels.h — inference kernels with run-time SIMD dispatch.
 *
 * Each kernel has a plain-C version, always compiled and always correct, and
 * AVX2+FMA and AVX-512F versions compiled with per-function target attributes
 * (never -march=native), chosen once at run time from what the CPU supports.
 * Tests run every level the CPU has against the plain-C one; benchmarks switch
 * levels with ar_simd_set_level() to measure them side by side.
 *
 * Matrices are row-major: W (rows, cols) has element (r, c) at W[r * cols + c]. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  AR_SIMD_C = 0,
  AR_SIMD_AVX2 = 1,             /* AVX2 + FMA */
  AR_SIMD_AVX512 = 2,           /* AVX-512F */
} ArSimdLevel;

/* The best level this CPU supports. */
ArSimdLevel ar_simd_detect (void);
/* The level in use (initially ar_simd_detect(), or the AR_SIMD environment
 * variable: "c", "avx2", "avx512"). */
ArSimdLevel ar_simd_get_level (void);
/* For tests and benchmarks: FALSE (and no change) if the CPU lacks @level.
 * Not thread-safe against kernels running concurrently. */
gboolean ar_simd_set_level (ArSimdLevel level);
const char *ar_simd_level_name (ArSimdLevel level);

/* y (rows) = W (rows, cols) · x (cols) [+ b (rows), when b != NULL] */
void ar_matvec (float *y, const float *W, const float *x, const float *b, int rows, int cols);
/* y (rows) += W (rows, cols) · x (cols) */
void ar_matvec_acc (float *y, const float *W, const float *x, int rows, int cols);
float ar_dot (const float *a, const float *b, int n);

G_END_DECLS
