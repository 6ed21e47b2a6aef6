/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-kernels-private.h — the per-level kernel tables behind ar-kernels.h.
 *
 * Each SIMD level provides one table; ar-kernels.c picks one at run time and
 * the public functions call through it.  matvec and matvec_acc share a single
 * entry point, y = W x + add, because they differ only in what is added:
 * the bias (or nothing) for ar_matvec, y itself for ar_matvec_acc.  Not
 * installed, not part of the API. */
#pragma once

#include <glib.h>
#include "ar-kernels.h"

G_BEGIN_DECLS

typedef struct
{
  /* y (rows) = W (rows, cols) · x (cols) + add (rows); add may be NULL (adds
   * nothing) or equal to y (each add[r] is read before y[r] is written).  y
   * must not overlap W or x.  No alignment is required of any pointer. */
  void (*matvec_add) (float *y, const float *W, const float *x,
      const float *add, int rows, int cols);
  /* Σ a (n) · b (n) */
  float (*dot) (const float *a, const float *b, int n);
  /* y (cols) = Wᵀ (cols, rows) · x (rows); rows, cols >= 1. */
  void (*matvec_t) (float *y, const float *W, const float *x, int rows,
      int cols);
  /* x[i] = exp (x[i] - shift), returns Σ; n >= 1. */
  float (*exp_shift_sum) (float *x, float shift, int n);
  /* y (rows) = W (rows, cols) · x (cols), W in binary16; cols >= 1. */
  void (*matvec_f16) (float *y, const guint16 *W, const float *x, int rows,
      int cols);
  /* y (rows) = W (rows, n_blocks Q8_0 blocks) · xq (n_blocks); n_blocks >= 1. */
  void (*matvec_q8_0) (float *y, const ArBlockQ8_0 *W, const ArBlockQ8_0 *xq,
      int rows, int n_blocks);
  /* Y (T, ldy) rows t = W (rows, cols) · X (T, cols) row t + add (rows, or
   * NULL): each row of Y bit for bit matvec_add's; rows, cols, T >= 1.
   * @streamed: W comes from memory rather than the caches (only the speed
   * differs). */
  void (*matvec_multi) (float *Y, int ldy, const float *W, const float *X,
      const float *add, int rows, int cols, int T, gboolean streamed);
  /* y (rows) = W (rows, n_blocks Q4_0 blocks) · xq (n_blocks Q8_0 blocks);
   * n_blocks >= 1. */
  void (*matvec_q4_0) (float *y, const ArBlockQ4_0 *W, const ArBlockQ8_0 *xq,
      int rows, int n_blocks);
} ArKernelTable;

G_GNUC_INTERNAL extern const ArKernelTable ar_kernels_table_c;
#if defined(__x86_64__) || defined(__i386__)
G_GNUC_INTERNAL extern const ArKernelTable ar_kernels_table_avx2;
G_GNUC_INTERNAL extern const ArKernelTable ar_kernels_table_avx512;
/* AVX2 kernels shared with the AVX-512 table (which has no versions of its
 * own for them). */
G_GNUC_INTERNAL void ar_matvec_t_avx2 (float *y, const float *W, const float *x,
    int rows, int cols);
G_GNUC_INTERNAL float ar_exp_shift_sum_avx2 (float *x, float shift, int n);
G_GNUC_INTERNAL void ar_matvec_f16_avx2 (float *y, const guint16 *W,
    const float *x, int rows, int cols);
G_GNUC_INTERNAL void ar_matvec_q8_0_avx2 (float *y, const ArBlockQ8_0 *W,
    const ArBlockQ8_0 *xq, int rows, int n_blocks);
G_GNUC_INTERNAL void ar_matvec_q4_0_avx2 (float *y, const ArBlockQ4_0 *W,
    const ArBlockQ8_0 *xq, int rows, int n_blocks);
#endif

G_END_DECLS
