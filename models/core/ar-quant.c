/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-quant.c — ggml's Q8_0 and Q4_0 block formats: the quantisers and the
 * Q4_0 dequantiser (the blocks and the contracts are in ar-kernels.h).
 *
 * One implementation for everyone who converts: the kernels' callers
 * quantising a vector for ar_matvec_q8_0 / _q4_0, the GGUF writer storing
 * a Q8_0 or Q4_0 tensor, the reader's ar_gguf_tensor_to_f32, models looking
 * up an embedding row.  Kept apart from ar-kernels.c so that the GGUF code
 * (which the fuzzer builds on its own) needs no kernel dispatch.  These run
 * at conversion and load time, or on one vector at a time: plain C, no
 * SIMD.
 *
 * The quantisers follow ggml's reference ones, operation for operation in
 * float — Q8_0's scale from the largest magnitude and codes rounded, Q4_0's
 * from the signed value of largest magnitude and codes truncated after
 * adding 8.5 — so a file we write holds the bits llama.cpp's tools would
 * write for the same floats.  Where ggml leaves non-finite input undefined,
 * both give the block a NaN scale, which the GGUF reader's finiteness check
 * rejects instead of the block turning into numbers. */
#include "ar-kernels.h"
#include "ar-gguf.h"

#include <math.h>
#include <string.h>

/* 1 / @d, the factor that turns a block's values into codes; 0 when d is 0
 * (a block of zeros) and also when 1 / d overflows (|d| < 2^-128, tiny
 * subnormal values): such a scale is 0 in F16 anyway, so the block decodes
 * to zeros whatever its codes, and with an infinite factor a value times it
 * would be ±inf or NaN, and its conversion to an integer code undefined
 * (found by fuzzing: the GGUF writer quantising a subnormal tensor). */
static float
inverse_scale (float d)
{
  float id = d != 0.0f ? 1.0f / d : 0.0f;

  return isfinite (id) ? id : 0.0f;
}

void
ar_quantize_q8_0 (ArBlockQ8_0 *xq, const float *x, int n)
{
  int b, i;

  g_return_if_fail (n >= 0 && n % AR_Q8_0_BLOCK == 0);
  g_return_if_fail (n == 0 || (xq != NULL && x != NULL));

  for (b = 0; b < n / AR_Q8_0_BLOCK; b++) {
    const float *v = x + (gsize) b * AR_Q8_0_BLOCK;
    float amax = 0.0f, d, id;
    gboolean finite = TRUE;

    for (i = 0; i < AR_Q8_0_BLOCK; i++) {
      /* MAX alone could drop a NaN (every comparison with it is false) */
      finite = finite && isfinite (v[i]);
      amax = MAX (amax, fabsf (v[i]));
    }
    if (!finite) {
      xq[b].d = ar_f32_to_f16 (NAN);
      memset (xq[b].qs, 0, sizeof xq[b].qs);
      continue;
    }
    /* As ggml: q is computed with the exact scale, the stored scale is its
     * f16 rounding.  |v| / d <= 127 (up to rounding), so roundf stays in
     * [-127, 127] and the clamp only guards the edge. */
    d = amax / 127.0f;
    id = inverse_scale (d);
    xq[b].d = ar_f32_to_f16 (d);
    for (i = 0; i < AR_Q8_0_BLOCK; i++)
      xq[b].qs[i] = (gint8) CLAMP (roundf (v[i] * id), -127.0f, 127.0f);
  }
}

void
ar_quantize_q4_0 (ArBlockQ4_0 *q, const float *x, int n)
{
  int b, j;

  g_return_if_fail (n >= 0 && n % AR_Q4_0_BLOCK == 0);
  g_return_if_fail (n == 0 || (q != NULL && x != NULL));

  for (b = 0; b < n / AR_Q4_0_BLOCK; b++) {
    const float *v = x + (gsize) b * AR_Q4_0_BLOCK;
    float amax = 0.0f, m = 0.0f, d, id;
    gboolean finite = TRUE;

    for (j = 0; j < AR_Q4_0_BLOCK; j++) {
      finite = finite && isfinite (v[j]);
      /* the first of equal magnitudes wins, as in ggml */
      if (fabsf (v[j]) > amax) {
        amax = fabsf (v[j]);
        m = v[j];
      }
    }
    if (!finite) {
      q[b].d = ar_f32_to_f16 (NAN);
      memset (q[b].qs, 0x88, sizeof q[b].qs);
      continue;
    }
    /* m maps to code 0 (-8 d) rather than to 15: the signed maximum gets
     * the extra level the asymmetric range [-8, 7] has. */
    d = m / -8.0f;
    id = inverse_scale (d);
    q[b].d = ar_f32_to_f16 (d);
    for (j = 0; j < AR_Q4_0_BLOCK / 2; j++) {
      /* v * id is in [-8, 8] up to rounding, so the sum is positive and
       * the cast rounds v / d + 8 to the nearest code (halves up); values
       * within half a step of -m reach 16, one past the top code. */
      int lo = MIN (15, (int) (v[j] * id + 8.5f));
      int hi = MIN (15, (int) (v[j + AR_Q4_0_BLOCK / 2] * id + 8.5f));

      q[b].qs[j] = (guint8) (lo | hi << 4);
    }
  }
}

void
ar_dequantize_q4_0 (float *x, const ArBlockQ4_0 *q, int n)
{
  int b, j;

  g_return_if_fail (n >= 0 && n % AR_Q4_0_BLOCK == 0);
  g_return_if_fail (n == 0 || (q != NULL && x != NULL));

  for (b = 0; b < n / AR_Q4_0_BLOCK; b++) {
    float d = ar_f16_to_f32 (q[b].d), *v = x + (gsize) b * AR_Q4_0_BLOCK;

    for (j = 0; j < AR_Q4_0_BLOCK / 2; j++) {
      v[j] = ((q[b].qs[j] & 0x0f) - 8) * d;
      v[j + AR_Q4_0_BLOCK / 2] = ((q[b].qs[j] >> 4) - 8) * d;
    }
  }
}
