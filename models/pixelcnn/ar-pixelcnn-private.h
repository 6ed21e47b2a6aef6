/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-pixelcnn-private.h — the PixelCNN kernels (ar-pixelcnn-kernels.c),
 * shared by the generator, the training graph and the tests. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Y (n, R) = B (n, R) + X (n, K) · WT (K, R), rows ldy, ldb, ldx floats
 * apart (ldb 0: one bias row for all; B may equal Y, no other overlap).
 * Each output is its bias plus x[k] WT[k][r] added in order k = 0 … K−1,
 * at the SIMD level ar_simd_get_level () reports (AVX2: fused
 * multiply-adds). */
void ar_pixelcnn_rows_product (float *Y, int ldy, const float *B, int ldb,
    const float *X, int ldx, const float *WT, int n, int K, int R);

/* The gated unit of a layer: out (C) = tanh (a) ⊙ σ (b) for z (2C) = [a |
 * b], computed from e^−2|a| and e^−|b| (non-positive arguments, no
 * overflow): tanh (a) = sign (a) (1 − e^−2|a|) / (1 + e^−2|a|), σ (b) =
 * 1 / (1 + e^−b) for b ≥ 0, e^b / (1 + e^b) below.  ts (2C, not z)
 * receives [tanh (a) | σ (b)] (what the backward pass needs). */
void ar_pixelcnn_gate (float *out, float *ts, const float *z, int C);

G_END_DECLS
