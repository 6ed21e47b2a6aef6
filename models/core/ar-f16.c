/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-f16.c — IEEE 754 binary16 ("half") conversion for GGUF F16 tensors and
 * Q8_0 block scales.
 *
 * Written with integer operations on the bit patterns, so the result does not
 * depend on the FPU's rounding mode or on compiler flags, and subnormals, the
 * infinities and NaN come out exactly.  float -> half rounds to nearest, ties
 * to even (what IEEE conversion and ggml's F16C path do); half -> float is
 * exact.  These run at load and save time only (models convert F16 weights to
 * F32 once), so clarity wins over speed here. */
#include <string.h>

#include "ar-gguf.h"

/* Bit pattern helpers: memcpy is the portable, UB-free type pun. */
static inline guint32
f32_bits (float f)
{
  guint32 u;

  memcpy (&u, &f, sizeof u);
  return u;
}

static inline float
bits_f32 (guint32 u)
{
  float f;

  memcpy (&f, &u, sizeof f);
  return f;
}

float
ar_f16_to_f32 (guint16 h)
{
  guint32 sign = (guint32) (h & 0x8000u) << 16;
  guint32 exp = (h >> 10) & 0x1fu;
  guint32 mant = h & 0x3ffu;

  if (exp == 0x1f) /* inf or NaN: keep the payload, top-aligned */
    return bits_f32 (sign | 0x7f800000u | (mant << 13));

  if (exp == 0) {
    /* Zero or subnormal: mant × 2^-24.  mant < 2^10, so the product is exact
     * in float (a normal float has 24 bits of precision). */
    float v = (float) mant * 0x1p-24f;
    return sign ? -v : v;
  }

  /* Normal: rebias the exponent from 15 to 127 and widen the mantissa. */
  return bits_f32 (sign | ((exp + (127 - 15)) << 23) | (mant << 13));
}

guint16
ar_f32_to_f16 (float f)
{
  guint32 u = f32_bits (f);
  guint16 sign = (guint16) ((u >> 16) & 0x8000u);
  guint32 a = u & 0x7fffffffu; /* |f| as bits; ordered like the values */

  if (a >= 0x7f800000u) {
    if (a == 0x7f800000u)
      return sign | 0x7c00u; /* ±inf */
    /* NaN: keep the top payload bits and force the quiet bit so a signalling
     * NaN whose payload lives only in the low bits does not become inf. */
    return sign | 0x7e00u | (guint16) ((a >> 13) & 0x3ffu);
  }

  /* 65520 = 0x477ff000 is halfway between the largest half (65504) and 2^16;
   * the tie goes to the even neighbour, 2^16, which overflows to inf. */
  if (a >= 0x477ff000u)
    return sign | 0x7c00u;

  if (a < 0x38800000u) {
    /* Below 2^-14, the smallest normal half: the result is a subnormal
     * m × 2^-24 (or zero).  2^-25 (0x33000000) is the tie between 0 and the
     * smallest subnormal and rounds to even, i.e. 0. */
    if (a <= 0x33000000u)
      return sign;

    guint32 e = a >> 23; /* biased float exponent, 102..112 here */
    guint32 m = (a & 0x7fffffu) | 0x800000u; /* with the implicit bit */
    /* |f| = m × 2^(e - 150); in units of 2^-24 that is m × 2^(e - 126). */
    guint32 shift = 126 - e; /* 14..24 */
    guint32 h = m >> shift;
    guint32 rem = m & ((1u << shift) - 1);
    guint32 half = 1u << (shift - 1);

    if (rem > half || (rem == half && (h & 1)))
      h++; /* may carry into 0x400, the smallest normal: correct */
    return sign | (guint16) h;
  }

  /* Normal range: rebias (127 -> 15) and drop 13 mantissa bits, rounding to
   * nearest even.  A carry out of the mantissa correctly bumps the exponent;
   * it cannot reach inf because of the 65520 test above. */
  guint32 h = (a >> 13) - ((127u - 15u) << 10);
  guint32 rem = a & 0x1fffu;

  if (rem > 0x1000u || (rem == 0x1000u && (h & 1)))
    h++;
  return sign | (guint16) h;
}
