/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-quant.c — ggml's Q4_0 block format: the quantiser and the dequantiser
 * (the block and the contract are in ar-kernels.h).
 *
 * One implementation for everyone who converts: the GGUF writer storing a
 * Q4_0 tensor, the reader's ar_gguf_tensor_to_f32, models looking up an
 * embedding row.  Kept apart from ar-kernels.c so that the GGUF code (which
 * the fuzzer builds on its own) needs no kernel dispatch.  These run at
 * conversion and load time, or on one row at a time: plain C, no SIMD.
 *
 * The quantiser follows ggml's reference one, operation for operation in
 * float — scale from the signed value of largest magnitude, codes truncated
 * after adding 8.5 — so a file we write holds the bits llama.cpp's tools
 * would write for the same floats. */
#include "ar-kernels.h"
#include "ar-gguf.h"

#include <math.h>
#include <string.h>

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
    id = d != 0.0f ? 1.0f / d : 0.0f;
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
