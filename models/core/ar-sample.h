/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-sample.h — choosing the next token from logits.
 *
 * The distribution is built in a fixed order: temperature scaling, softmax,
 * top-k (keep the k most probable; ties broken towards the lower index), top-p
 * (keep the smallest prefix of the remaining tokens, most probable first, whose
 * mass reaches p; always at least one token), renormalise.  temperature == 0
 * means greedy: the argmax (lowest index on ties), no randomness consumed.
 * Otherwise exactly one ar_rng_uniform() is drawn per sample, so a stream is
 * reproducible from its seed. */
#pragma once

#include <glib.h>
#include "ar-rng.h"

G_BEGIN_DECLS

typedef struct
{
  float temperature;            /* >= 0; 0 = greedy */
  guint top_k;                  /* 0 = no limit */
  float top_p;                  /* (0, 1]; 1 = no limit */
} ArSamplingParams;

#define AR_SAMPLING_PARAMS_INIT { 1.0f, 0, 1.0f }

/* FALSE + AR_ERROR_INVALID naming the field, its value and the accepted
 * range when @params is outside the ranges above: temperature NaN or
 * negative (+infinity is allowed: the uniform distribution), top_p NaN or
 * outside [0, 1] (0 keeps the single most probable token, like any p small
 * enough).  For values a user supplies: the samplers take such params only
 * as a programmer error. */
gboolean ar_sampling_params_check (const ArSamplingParams *params,
    GError **error);

typedef struct _ArSampler ArSampler;

/* Scratch space for a vocabulary of @n_vocab tokens; sampling never allocates. */
ArSampler *ar_sampler_new (guint n_vocab);
void ar_sampler_free (ArSampler *sampler);
guint ar_sampler_get_n_vocab (const ArSampler *sampler);

/* Returns a token id in [0, n_vocab). */
guint ar_sampler_sample (ArSampler *sampler, const ArSamplingParams *params,
    ArRng *rng, const float *logits /* (n_vocab) */);
/* The exact distribution ar_sampler_sample() draws from, into probs (n_vocab);
 * greedy gives a one-hot vector. */
void ar_sampler_distribution (ArSampler *sampler, const ArSamplingParams *params,
    const float *logits /* (n_vocab) */, float *probs /* (n_vocab) */);

/* An index drawn from weights w (n) >= 0 in proportion to them, with one
 * ar_rng_uniform () draw, the way ar_sampler_sample () draws from its
 * distribution (which need not be normalised here); -1, drawing nothing,
 * when every weight is 0. */
gint ar_sample_weights (ArRng *rng, const float *w, guint n);
/* Index of the largest value (lowest index on ties). */
guint ar_argmax (const float *x, guint n);
/* Numerically stable in-place softmax; returns log(sum(exp(x - max))) + max. */
float ar_softmax (float *x, guint n);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArSampler, ar_sampler_free)

G_END_DECLS
