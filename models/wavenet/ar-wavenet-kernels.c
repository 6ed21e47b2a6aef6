/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-wavenet-kernels.c — the plain-C kernels of WaveNet generation (the
 * reference the AVX2 ones are tested against, and the path on CPUs without
 * AVX2) and the run-time choice between the two (ar-wavenet-private.h).
 *
 * Each dot product is summed strictly left to right in float; the gate uses
 * libm's tanhf and expf.  Nothing here depends on a row's position in the
 * call, as the private header requires. */
#include "ar-wavenet-private.h"
#include "core/ar-gguf.h"
#include "core/ar-kernels.h"

#include <math.h>

static void
matvec_c (float *y, const float *W, const float *x, const float *b, int rows,
    int cols, gboolean acc)
{
  for (int r = 0; r < rows; r++) {
    const float *w = W + (gsize) r * cols;
    float s = 0.0f;

    for (int c = 0; c < cols; c++)
      s += w[c] * x[c];
    s += b[r];
    y[r] = acc ? y[r] + s : s;
  }
}

static void
matvec_f16_c (float *y, const guint16 *W, const float *x, const float *b,
    int rows, int cols, gboolean acc)
{
  for (int r = 0; r < rows; r++) {
    const guint16 *w = W + (gsize) r * cols;
    float s = 0.0f;

    for (int c = 0; c < cols; c++)
      s += ar_f16_to_f32 (w[c]) * x[c];
    s += b[r];
    y[r] = acc ? y[r] + s : s;
  }
}

/* σ (v) = 1 / (1 + e^-v), through e^-|v| so that nothing overflows */
static inline float
sigmoid_c (float v)
{
  float e = expf (-fabsf (v));

  return v >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

static void
gate_c (float *u, const float *zt, const float *zs, int n)
{
  for (int j = 0; j < n; j++)
    u[j] = tanhf (zt[j]) * sigmoid_c (zs[j]);
}

const ArWaveNetKernels ar_wavenet_kernels_c = {
  matvec_c,
  matvec_f16_c,
  gate_c,
};

const ArWaveNetKernels *
ar_wavenet_kernels (void)
{
#ifdef AR_WAVENET_HAVE_AVX2
  /* AR_SIMD_AVX2 and above imply AVX2, FMA and F16C (ar_simd_detect) */
  if (ar_simd_get_level () >= AR_SIMD_AVX2)
    return &ar_wavenet_kernels_avx2;
#endif
  return &ar_wavenet_kernels_c;
}
