/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-rng.c — xoshiro256** seeded through splitmix64.
 *
 * Written from the published descriptions: splitmix64 (Steele, Lea and Flood,
 * "Fast splittable pseudorandom number generators", OOPSLA 2014) expands a
 * 64-bit seed into the 256-bit state, and xoshiro256** (Blackman and Vigna,
 * "Scrambled linear pseudorandom number generators", 2018) produces the stream.
 * Everything is unsigned 64-bit integer arithmetic, so the stream is the same on
 * every platform and compiler; floats are built from the top bits of one output
 * by exact scaling (no platform-dependent rounding).  The state is the public
 * ArRng struct, so a generator can be copied or written into a checkpoint. */
#include "ar-rng.h"

#include <math.h>

static inline guint64
rotl64 (guint64 x, int k)
{
  return (x << k) | (x >> (64 - k));
}

/* One splitmix64 step: advance the Weyl sequence by the golden-ratio constant,
 * then mix.  The mixer is a bijection, so four consecutive outputs are four
 * distinct values and the xoshiro state can never be all zero (the one state
 * xoshiro must avoid). */
static guint64
splitmix64_next (guint64 *x)
{
  guint64 z;

  *x += G_GUINT64_CONSTANT (0x9e3779b97f4a7c15);
  z = *x;
  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94d049bb133111eb);
  return z ^ (z >> 31);
}

void
ar_rng_init (ArRng *rng, guint64 seed)
{
  guint64 x = seed;
  int i;

  g_return_if_fail (rng != NULL);

  for (i = 0; i < 4; i++)
    rng->s[i] = splitmix64_next (&x);
}

guint64
ar_rng_next_u64 (ArRng *rng)
{
  guint64 *s = rng->s;
  guint64 result = rotl64 (s[1] * 5, 7) * 9;
  guint64 t = s[1] << 17;

  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl64 (s[3], 45);

  return result;
}

/* The upper bits of xoshiro output are the best ones, so every narrower value
 * is taken from the top. */
guint32
ar_rng_next_u32 (ArRng *rng)
{
  return (guint32) (ar_rng_next_u64 (rng) >> 32);
}

/* 24 random bits times 2^-24: every value k / 2^24 for k in [0, 2^24) is
 * exactly representable in a float, so the result lies in [0, 1) with no
 * rounding up to 1.0. */
float
ar_rng_uniform (ArRng *rng)
{
  return (float) (ar_rng_next_u64 (rng) >> 40) * (1.0f / 16777216.0f);
}

/* Same construction with 53 bits, the width of a double's significand. */
double
ar_rng_uniform_double (ArRng *rng)
{
  return (double) (ar_rng_next_u64 (rng) >> 11) * (1.0 / 9007199254740992.0);
}

/* Unbiased by rejection: 2^64 mod n (computed as (-n) mod n in unsigned
 * arithmetic) outputs at the bottom are rejected, which leaves a range whose
 * length is a multiple of n, so r mod n is exactly uniform.  At most half of
 * the outputs can be rejected (n > 2^63), so the expected number of draws is
 * below 2, and for small n it is 1 with overwhelming probability. */
guint64
ar_rng_below (ArRng *rng, guint64 n)
{
  guint64 threshold, r;

  g_return_val_if_fail (n > 0, 0);

  threshold = (0 - n) % n;
  do
    r = ar_rng_next_u64 (rng);
  while (r < threshold);

  return r % n;
}

/* Box–Muller: for u1 in (0, 1] and u2 in [0, 1), sqrt(-2 ln u1) cos(2 pi u2)
 * is standard normal.  1 - uniform_double() gives (0, 1], so the logarithm is
 * finite (|z| <= sqrt(2 * 53 ln 2) ~ 8.6).  The paired sine value is dropped:
 * ArRng is a plain integer state with nowhere to cache it, and two draws per
 * normal keeps the stream position a simple function of the call count. */
float
ar_rng_normal (ArRng *rng)
{
  double u1 = 1.0 - ar_rng_uniform_double (rng);
  double u2 = ar_rng_uniform_double (rng);

  return (float) (sqrt (-2.0 * log (u1)) * cos (2.0 * G_PI * u2));
}
