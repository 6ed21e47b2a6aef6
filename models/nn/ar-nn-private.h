/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-nn-private.h — helpers shared by the files of models/nn/, not part of
 * libargen's interface. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Work on the index range [begin, end). */
typedef void (*ArNnRangeFunc) (gpointer data, int begin, int end);

/* Calls fn over [0, n) split into contiguous parts, one per processor (at
 * most AR_NN_MAX_PARTS), the caller running the first part and persistent
 * helper threads the others; returns when all parts are done.  Each index is
 * processed by exactly one call, so as long as fn treats indices
 * independently the results do not depend on the split or on scheduling.
 * Runs everything in the calling thread on one processor or while another
 * thread is using the helpers.  Worth it for a few hundred microseconds of
 * work or more: element-wise loops between BLAS calls, which OpenBLAS does
 * not parallelise for us. */
#define AR_NN_MAX_PARTS 8
void ar_nn_parallel_for (int n, ArNnRangeFunc fn, gpointer data);

G_END_DECLS
