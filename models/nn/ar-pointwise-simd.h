/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-pointwise-simd.h — the AVX2+FMA versions of the element-wise layers of
 * ar-pointwise.c (same arguments, same formulas as the plain-C loops there,
 * which are their reference in tests/test-nn-attn.c).  Called only when
 * ar_simd_get_level () >= AR_SIMD_AVX2.  Not installed, not part of the
 * API. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#if defined(__x86_64__) || defined(__i386__)
#define AR_POINTWISE_HAVE_AVX2 1
G_GNUC_INTERNAL void ar_nn_gelu_forward_avx2 (const float *X, float *Y,
    gsize n);
G_GNUC_INTERNAL void ar_nn_gelu_backward_avx2 (const float *X, const float *dY,
    float *dX, gsize n);
G_GNUC_INTERNAL void ar_nn_swiglu_forward_avx2 (const float *G, const float *U,
    float *Y, gsize n);
G_GNUC_INTERNAL void ar_nn_swiglu_backward_avx2 (const float *G, const float *U,
    const float *dY, float *dG, float *dU, gsize n);
#endif

G_END_DECLS
