/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-rng.h — a small seeded random number generator (xoshiro256**, seeded by
 * splitmix64) that gives the same stream on every platform: integer-only state
 * update, uniform floats built from the top bits.  The state is a plain struct so
 * it can be embedded, copied and saved in checkpoints. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  guint64 s[4];
} ArRng;

void ar_rng_init (ArRng *rng, guint64 seed);
guint64 ar_rng_next_u64 (ArRng *rng);
guint32 ar_rng_next_u32 (ArRng *rng);
/* Uniform in [0, 1) with 24 (float) or 53 (double) random bits. */
float ar_rng_uniform (ArRng *rng);
double ar_rng_uniform_double (ArRng *rng);
/* Uniform integer in [0, n), unbiased; n > 0. */
guint64 ar_rng_below (ArRng *rng, guint64 n);
/* Standard normal (Box–Muller on uniform doubles). */
float ar_rng_normal (ArRng *rng);

G_END_DECLS
