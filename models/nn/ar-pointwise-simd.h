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
G_GNUC_INTERNAL void ar_nn_add_avx2 (float *Y, const float *X, gsize n);
/* rope_rotate () of ar-attention.c */
G_GNUC_INTERNAL void ar_nn_rope_rotate_avx2 (float *X, int ld,
    const float *cos_t, const float *sin_t, int T, int B, int n_heads, int hs,
    int n_rot, float sign);
/* The norms over N rows of n (ar-nn.h), with the parameters' values and
 * gradients as arrays of n. */
G_GNUC_INTERNAL void ar_nn_rmsnorm_forward_avx2 (const float *w, const float *X,
    float *Y, float *rstd, int N, int n, float eps);
G_GNUC_INTERNAL void ar_nn_rmsnorm_backward_avx2 (const float *w, float *gw,
    const float *X, const float *rstd, const float *dY, float *dX, int N,
    int n);
G_GNUC_INTERNAL void ar_nn_layernorm_forward_avx2 (const float *w,
    const float *b, const float *X, float *Y, float *mean, float *rstd, int N,
    int n, float eps);
G_GNUC_INTERNAL void ar_nn_layernorm_backward_avx2 (const float *w, float *gw,
    float *gb, const float *X, const float *mean, const float *rstd,
    const float *dY, float *dX, int N, int n);
#endif

G_END_DECLS
