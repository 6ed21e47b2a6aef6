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
} ArKernelTable;

G_GNUC_INTERNAL extern const ArKernelTable ar_kernels_table_c;
#if defined(__x86_64__) || defined(__i386__)
G_GNUC_INTERNAL extern const ArKernelTable ar_kernels_table_avx2;
G_GNUC_INTERNAL extern const ArKernelTable ar_kernels_table_avx512;
#endif

G_END_DECLS
