/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-pixelcnn-private.h — the PixelCNN generator's kernel
 * (ar-pixelcnn-kernels.c), shared by ar-pixelcnn.c and the tests. */
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

G_END_DECLS
