/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-sample.c — ar-sample: exact distributions, then sampling against them.
 *
 * Most cases use logits ln (w) for small integer weights w, so the expected
 * distributions are fractions worked out by hand: temperature T turns the
 * weights into w^(1/T), top-k and top-p drop the smallest weights, and the
 * rest are renormalised.  Boundary cases use equal logits, whose
 * probabilities are exact in float, so "the mass reaches p exactly" is
 * exactly testable.  The sampling tests then check that draws follow
 * ar_sampler_distribution() (chi-square at 0.1% significance with fixed
 * seeds), that a seed reproduces its tokens, and that masked (-INFINITY)
 * tokens are never drawn. */
#include <math.h>
#include <stdlib.h>

#include "core/ar-sample.h"

/* Probabilities are computed in float from expf; 2e-6 absolute covers their
 * rounding (a few float ulps of values <= 1) and nothing more. */
#define PROB_TOL 2e-6

static void
check_distribution (const float *logits, guint n, float temperature,
    guint top_k, float top_p, const double *expected)
{
  ArSamplingParams params = { temperature, top_k, top_p };
  g_autoptr (ArSampler) sampler = ar_sampler_new (n);
  g_autofree float *probs = g_new (float, n);
  double sum = 0.0;
  guint i;

  ar_sampler_distribution (sampler, &params, logits, probs);
  for (i = 0; i < n; i++) {
    if (fabs (probs[i] - expected[i]) > PROB_TOL)
      g_error ("T=%g k=%u p=%g: probs[%u] = %.9g, expected %.9g", temperature,
          top_k, top_p, i, probs[i], expected[i]);
    /* Dropped tokens are exactly zero, not merely small. */
    if (expected[i] == 0.0)
      g_assert_cmpfloat (probs[i], ==, 0.0f);
    sum += probs[i];
  }
  g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-6);
}

/* logits[i] = ln (weights[i]); 0 weights become -INFINITY. */
static void
log_weights (float *logits, const double *weights, guint n)
{
  guint i;

  for (i = 0; i < n; i++)
    logits[i] = weights[i] > 0 ? (float) log (weights[i]) : -INFINITY;
}

static void
test_temperature (void)
{
  static const double w[4] = { 1, 2, 3, 4 };
  const double s2 = sqrt (2.0), s3 = sqrt (3.0), z2 = 1 + s2 + s3 + 2;
  float logits[4];

  log_weights (logits, w, 4);
  /* T = 1: the weights themselves, / 10. */
  check_distribution (logits, 4, 1.0f, 0, 1.0f,
      (double[]){ 0.1, 0.2, 0.3, 0.4 });
  /* T = 0.5: squared weights 1, 4, 9, 16, / 30. */
  check_distribution (logits, 4, 0.5f, 0, 1.0f,
      (double[]){ 1 / 30., 4 / 30., 9 / 30., 16 / 30. });
  /* T = 2: square roots 1, √2, √3, 2, / (3 + √2 + √3). */
  check_distribution (logits, 4, 2.0f, 0, 1.0f,
      (double[]){ 1 / z2, s2 / z2, s3 / z2, 2 / z2 });
  /* An infinite temperature flattens to uniform. */
  check_distribution (logits, 4, INFINITY, 0, 1.0f,
      (double[]){ 0.25, 0.25, 0.25, 0.25 });
  /* A tiny temperature keeps only the maximum. */
  check_distribution (logits, 4, 1e-30f, 0, 1.0f, (double[]){ 0, 0, 0, 1 });
  /* Large logits do not overflow: only differences matter. */
  {
    float big[4];
    guint i;

    for (i = 0; i < 4; i++)
      big[i] = logits[i] + 1000.0f;
    /* 1000 + ln w loses ~6e-5 absolute to float rounding, so compare
     * against the weights with a matching tolerance. */
    {
      ArSamplingParams params = { 1.0f, 0, 1.0f };
      g_autoptr (ArSampler) sampler = ar_sampler_new (4);
      float probs[4];

      ar_sampler_distribution (sampler, &params, big, probs);
      for (i = 0; i < 4; i++)
        g_assert_cmpfloat_with_epsilon (probs[i], w[i] / 10, 1e-4);
    }
  }
}

static void
test_top_k (void)
{
  static const double w[5] = { 1, 2, 3, 4, 0.5 };
  static const double ties[5] = { 2, 1, 2, 2, 1 };
  float logits[5];

  log_weights (logits, w, 5);
  /* k = 2 keeps weights 4 and 3: 4/7, 3/7. */
  check_distribution (logits, 5, 1.0f, 2, 1.0f,
      (double[]){ 0, 0, 3 / 7., 4 / 7., 0 });
  /* k = 1 is the argmax. */
  check_distribution (logits, 5, 1.0f, 1, 1.0f, (double[]){ 0, 0, 0, 1, 0 });
  /* k = n and k > n change nothing: weights / 10.5. */
  check_distribution (logits, 5, 1.0f, 5, 1.0f,
      (double[]){ 1 / 10.5, 2 / 10.5, 3 / 10.5, 4 / 10.5, 0.5 / 10.5 });
  check_distribution (logits, 5, 1.0f, 1000, 1.0f,
      (double[]){ 1 / 10.5, 2 / 10.5, 3 / 10.5, 4 / 10.5, 0.5 / 10.5 });

  /* Ties at the cut go to the lower index: weight 2 at 0, 2, 3; k = 2 keeps
   * 0 and 2; k = 4 keeps all three 2s and the first 1 (index 1). */
  log_weights (logits, ties, 5);
  check_distribution (logits, 5, 1.0f, 2, 1.0f,
      (double[]){ 0.5, 0, 0.5, 0, 0 });
  check_distribution (logits, 5, 1.0f, 4, 1.0f,
      (double[]){ 2 / 7., 1 / 7., 2 / 7., 2 / 7., 0 });
}

static void
test_top_p (void)
{
  static const double w[4] = { 1, 2, 3, 4 };
  const float equal[4] = { 0, 0, 0, 0 };
  const float masked[6] = { -INFINITY, 0, 0, -INFINITY, 0, 0 };
  float logits[4];

  log_weights (logits, w, 4);
  /* Probabilities .1 .2 .3 .4: p = 0.5 needs .4 + .3 (0.7): keeps 3/7, 4/7. */
  check_distribution (logits, 4, 1.0f, 0, 0.5f,
      (double[]){ 0, 0, 3 / 7., 4 / 7. });
  /* p = 0.8 needs .4 + .3 + .2 = 0.9. */
  check_distribution (logits, 4, 1.0f, 0, 0.8f,
      (double[]){ 0, 2 / 9., 3 / 9., 4 / 9. });
  /* p tiny: one token, the most probable. */
  check_distribution (logits, 4, 1.0f, 0, 1e-6f, (double[]){ 0, 0, 0, 1 });
  /* p <= 0 (outside the documented range) still keeps one token. */
  check_distribution (logits, 4, 1.0f, 0, 0.0f, (double[]){ 0, 0, 0, 1 });
  /* p = 1 keeps everything. */
  check_distribution (logits, 4, 1.0f, 0, 1.0f,
      (double[]){ 0.1, 0.2, 0.3, 0.4 });

  /* Reached exactly: four tokens of exactly 1/4.  p = 0.5 is reached by the
   * second token (0.25 + 0.25 == 0.5) and stops there; the next float above
   * 0.5 needs a third.  Ties are taken lowest index first. */
  check_distribution (equal, 4, 1.0f, 0, 0.5f, (double[]){ 0.5, 0.5, 0, 0 });
  check_distribution (equal, 4, 1.0f, 0, nextafterf (0.5f, 1.0f),
      (double[]){ 1 / 3., 1 / 3., 1 / 3., 0 });
  check_distribution (equal, 4, 1.0f, 0, 0.75f,
      (double[]){ 1 / 3., 1 / 3., 1 / 3., 0 });
  check_distribution (equal, 4, 1.0f, 0, 0.25f, (double[]){ 1, 0, 0, 0 });
  /* The same among masked tokens: they count for nothing. */
  check_distribution (masked, 6, 1.0f, 0, 0.5f,
      (double[]){ 0, 0.5, 0.5, 0, 0, 0 });
}

/* The fixed order: temperature, softmax, top-k, then top-p on the
 * renormalised top-k distribution. */
static void
test_combined (void)
{
  static const double w[4] = { 1, 2, 3, 4 };
  float logits[4];

  log_weights (logits, w, 4);
  /* k = 2 leaves 3/7, 4/7; p = 0.5 is reached by 4/7 alone.  (Were p applied
   * to the mass before top-k, .4 < .5 would keep both.) */
  check_distribution (logits, 4, 1.0f, 2, 0.5f, (double[]){ 0, 0, 0, 1 });
  /* p = 0.6 needs both (4/7 = 0.571 < 0.6). */
  check_distribution (logits, 4, 1.0f, 2, 0.6f,
      (double[]){ 0, 0, 3 / 7., 4 / 7. });
  /* T = 0.5: 1, 4, 9, 16; k = 3 leaves 4, 9, 16 (/ 29); p = 0.8: 16/29 =
   * 0.55, + 9/29 = 0.86 reaches it: 9/25, 16/25. */
  check_distribution (logits, 4, 0.5f, 3, 0.8f,
      (double[]){ 0, 0, 9 / 25., 16 / 25. });
  /* T = 2 with k = 3 (√2, √3, 2) and p = 1. */
  {
    const double z = sqrt (2.0) + sqrt (3.0) + 2;

    check_distribution (logits, 4, 2.0f, 3, 1.0f,
        (double[]){ 0, sqrt (2.0) / z, sqrt (3.0) / z, 2 / z });
  }
}

static void
test_greedy (void)
{
  const float logits[5] = { 1, 3, -2, 3, 2.5f };
  ArSamplingParams params = { 0.0f, 3, 0.5f };
  g_autoptr (ArSampler) sampler = ar_sampler_new (5);
  ArRng rng, before;
  int i;

  /* Argmax with the tie at 1 and 3 going to 1; top-k/top-p are irrelevant. */
  check_distribution (logits, 5, 0.0f, 3, 0.5f, (double[]){ 0, 1, 0, 0, 0 });
  check_distribution (logits, 5, 0.0f, 0, 1.0f, (double[]){ 0, 1, 0, 0, 0 });

  ar_rng_init (&rng, 5);
  before = rng;
  for (i = 0; i < 10; i++)
    g_assert_cmpuint (ar_sampler_sample (sampler, &params, &rng, logits), ==,
        1);
  /* No randomness consumed. */
  g_assert_cmpmem (&rng, sizeof rng, &before, sizeof before);

  g_assert_cmpuint (ar_argmax (logits, 5), ==, 1);
  g_assert_cmpuint (ar_argmax ((const float[]){ NAN, -1, NAN, 4 }, 4), ==, 3);
  g_assert_cmpuint (ar_argmax ((const float[]){ -INFINITY, -INFINITY }, 2), ==,
      0);
}

/* Equal logits split the mass equally under any T > 0, unlike greedy. */
static void
test_ties (void)
{
  const float logits[4] = { 2, 5, 5, 5 };
  const double e = exp (-3.0), z = 3 + e;

  check_distribution (logits, 4, 1.0f, 0, 1.0f,
      (double[]){ e / z, 1 / z, 1 / z, 1 / z });
  check_distribution (logits, 4, 1.0f, 2, 1.0f, (double[]){ 0, 0.5, 0.5, 0 });
}

static void
test_masked (void)
{
  const float logits[5] = { -INFINITY, 0, -INFINITY, (float) G_LN2, NAN };
  const float all_masked[3] = { -INFINITY, -INFINITY, NAN };
  const float plus_inf[4] = { 0, INFINITY, 3, INFINITY };
  ArSamplingParams params = { 1.0f, 0, 1.0f };
  g_autoptr (ArSampler) sampler = ar_sampler_new (5);
  ArRng rng;
  int i, counts[5] = { 0 };

  /* Weights 1 and 2 on tokens 1 and 3; NaN counts as masked. */
  check_distribution (logits, 5, 1.0f, 0, 1.0f,
      (double[]){ 0, 1 / 3., 0, 2 / 3., 0 });
  /* top-k larger than the unmasked set keeps a masked token at 0. */
  check_distribution (logits, 5, 1.0f, 3, 1.0f,
      (double[]){ 0, 1 / 3., 0, 2 / 3., 0 });
  check_distribution (logits, 5, 0.7f, 0, 0.999f,
      (double[]){ 0, 1 / (1 + pow (2, 1 / 0.7)), 0,
          pow (2, 1 / 0.7) / (1 + pow (2, 1 / 0.7)), 0 });
  /* Everything masked: uniform, the limit of equal logits. */
  check_distribution (all_masked, 3, 1.0f, 0, 1.0f,
      (double[]){ 1 / 3., 1 / 3., 1 / 3. });
  /* +INFINITY takes all the mass, shared among equals. */
  check_distribution (plus_inf, 4, 1.0f, 0, 1.0f, (double[]){ 0, 0.5, 0, 0.5 });

  ar_rng_init (&rng, 77);
  for (i = 0; i < 3000; i++) {
    guint t;

    params.top_k = i % 4; /* no limit, then 1, 2, 3 */
    t = ar_sampler_sample (sampler, &params, &rng, logits);
    g_assert_cmpuint (t, <, 5);
    counts[t]++;
  }
  g_assert_cmpint (counts[0], ==, 0);
  g_assert_cmpint (counts[2], ==, 0);
  g_assert_cmpint (counts[4], ==, 0);
  g_assert_cmpint (counts[1], >, 0);
}

/* 0.1% critical value of chi-square with df degrees of freedom by the
 * Wilson–Hilferty approximation (z = 3.0902 is the normal 99.9% quantile);
 * within 1.5% of the exact value for df >= 3 (df = 5: 20.75 vs 20.52). */
static double
chi2_critical_0001 (int df)
{
  double a = 2.0 / (9.0 * df);
  double c = 1.0 - a + 3.0902 * sqrt (a);

  return df * c * c * c;
}

/* Draws n tokens and compares the counts with ar_sampler_distribution().
 * Every kept token in these cases has an expected count of at least 50. */
static void
check_frequencies (const float *logits, guint n_vocab,
    const ArSamplingParams *params, guint64 seed, int draws)
{
  g_autoptr (ArSampler) sampler = ar_sampler_new (n_vocab);
  g_autofree float *probs = g_new (float, n_vocab);
  g_autofree int *counts = g_new0 (int, n_vocab);
  ArRng rng;
  double chi2 = 0.0, crit;
  guint i;
  int d, df = -1;

  ar_sampler_distribution (sampler, params, logits, probs);
  ar_rng_init (&rng, seed);
  for (d = 0; d < draws; d++)
    counts[ar_sampler_sample (sampler, params, &rng, logits)]++;

  for (i = 0; i < n_vocab; i++) {
    double expect = (double) probs[i] * draws;

    if (probs[i] == 0.0f) {
      g_assert_cmpint (counts[i], ==, 0);
      continue;
    }
    g_assert_cmpfloat (expect, >=, 50.0);
    chi2 += (counts[i] - expect) * (counts[i] - expect) / expect;
    df++;
  }
  crit = chi2_critical_0001 (df);
  g_test_message ("chi2 = %.2f with %d degrees of freedom (0.1%% critical "
                  "value %.2f)",
      chi2, df, crit);
  g_assert_cmpint (df, >=, 2);
  g_assert_cmpfloat (chi2, <, crit);
}

static void
test_frequencies (void)
{
  static const double w[8] = { 5, 1, 8, 3, 2, 13, 0.5, 7 };
  float logits[40];
  ArRng gen;
  guint i;

  log_weights (logits, w, 8);
  /* No truncation (id-order walk); top-k; top-p; all three. */
  check_frequencies (logits, 8, &(ArSamplingParams){ 1.0f, 0, 1.0f }, 1, 20000);
  check_frequencies (logits, 8, &(ArSamplingParams){ 0.8f, 5, 1.0f }, 2, 20000);
  check_frequencies (logits, 8, &(ArSamplingParams){ 1.3f, 0, 0.85f }, 3,
      20000);
  check_frequencies (logits, 8, &(ArSamplingParams){ 0.9f, 6, 0.9f }, 4, 20000);

  /* A wider random vocabulary. */
  ar_rng_init (&gen, 2718);
  for (i = 0; i < 40; i++)
    logits[i] = 0.6f * ar_rng_normal (&gen);
  check_frequencies (logits, 40, &(ArSamplingParams){ 1.0f, 0, 0.9f }, 5,
      30000);
}

static void
test_reproducible (void)
{
  const ArSamplingParams params = { 1.0f, 20, 0.95f };
  const guint n = 100;
  g_autoptr (ArSampler) sampler = ar_sampler_new (n);
  float logits[100];
  guint tokens[200];
  ArRng rng, again, other;
  guint i;
  int same_as_other = 0;

  ar_rng_init (&rng, 11);
  for (i = 0; i < n; i++)
    logits[i] = ar_rng_normal (&rng);

  ar_rng_init (&rng, 1234);
  for (i = 0; i < G_N_ELEMENTS (tokens); i++)
    tokens[i] = ar_sampler_sample (sampler, &params, &rng, logits);

  ar_rng_init (&again, 1234);
  ar_rng_init (&other, 4321);
  for (i = 0; i < G_N_ELEMENTS (tokens); i++) {
    g_assert_cmpuint (ar_sampler_sample (sampler, &params, &again, logits), ==,
        tokens[i]);
    same_as_other +=
        ar_sampler_sample (sampler, &params, &other, logits) == tokens[i];
  }
  g_assert_cmpint (same_as_other, <, (int) G_N_ELEMENTS (tokens));

  /* Exactly one uniform per sample: the generator is where 200 plain
   * ar_rng_uniform() calls would leave it. */
  ar_rng_init (&other, 1234);
  for (i = 0; i < G_N_ELEMENTS (tokens); i++)
    ar_rng_uniform (&other);
  g_assert_cmpmem (&rng, sizeof rng, &other, sizeof other);
  g_assert_cmpmem (&again, sizeof again, &other, sizeof other);
}

static const float *sort_logits;

static int
cmp_rank (const void *pa, const void *pb)
{
  guint a = *(const guint *) pa, b = *(const guint *) pb;

  if (sort_logits[a] != sort_logits[b])
    return sort_logits[a] > sort_logits[b] ? -1 : 1;
  return a < b ? -1 : 1;
}

/* Brute force for a large vocabulary: sort everything by (logit desc, id
 * asc), keep the first k, then the shortest prefix whose mass reaches
 * p * (mass of the first k), and compare with ar_sampler_distribution().  The
 * probabilities are taken as the sampler defines them, expf (logit - max) in
 * float (T = 1), summed here in double in ranking order; the sampler's sums
 * differ from these only in double rounding. */
static void
check_against_sort (ArSampler *sampler, const float *logits, guint n,
    guint top_k, float top_p)
{
  ArSamplingParams params = { 1.0f, top_k, top_p };
  g_autofree float *probs = g_new (float, n);
  g_autofree guint *order = g_new (guint, n);
  double total = 0.0, mass = 0.0;
  guint i, k = top_k == 0 || top_k > n ? n : top_k, kept;
  float maxl;

  for (i = 0; i < n; i++)
    order[i] = i;
  sort_logits = logits;
  qsort (order, n, sizeof (guint), cmp_rank);
  maxl = logits[order[0]];

  for (i = 0; i < k; i++)
    total += expf (logits[order[i]] - maxl);
  for (kept = 0; kept < k; kept++) {
    mass += expf (logits[order[kept]] - maxl);
    if (top_p >= 1.0f || mass >= top_p * total)
      break;
  }
  kept = top_p >= 1.0f ? k : kept + 1;
  if (top_p >= 1.0f)
    mass = total;

  ar_sampler_distribution (sampler, &params, logits, probs);
  for (i = 0; i < n; i++) {
    guint t = order[i];

    if (i < kept)
      g_assert_cmpfloat_with_epsilon (probs[t], expf (logits[t] - maxl) / mass,
          1e-6);
    else
      g_assert_cmpfloat (probs[t], ==, 0.0f);
  }
}

/* 32000 tokens, two kinds of logits: a shuffled ramp (distinct values, a
 * flat distribution where top-p keeps thousands of tokens) and a peaked one
 * with many exact ties (values on a 1/4 grid plus a few large ones), which
 * puts whole groups of equal probabilities at the top-p cut. */
static void
test_large_vocab (void)
{
  const guint n = 32000;
  g_autoptr (ArSampler) sampler = ar_sampler_new (n);
  g_autofree float *ramp = g_new (float, n);
  g_autofree float *tied = g_new (float, n);
  ArSamplingParams params = { 1.0f, 40, 1.0f };
  ArRng rng;
  guint i;
  gint64 t0;

  for (i = 0; i < n; i++)
    ramp[i] = i * (8.0f / n);
  ar_rng_init (&rng, 3);
  for (i = n - 1; i > 0; i--) {
    guint j = (guint) ar_rng_below (&rng, i + 1);
    float t = ramp[i];

    ramp[i] = ramp[j];
    ramp[j] = t;
  }
  for (i = 0; i < n; i++)
    tied[i] = 0.25f * ar_rng_below (&rng, 24) + (i % 997 == 0 ? 9.0f : 0.0f);

  check_against_sort (sampler, ramp, n, 40, 1.0f);
  check_against_sort (sampler, ramp, n, 0, 0.9f);
  check_against_sort (sampler, ramp, n, 500, 0.5f);
  check_against_sort (sampler, tied, n, 0, 0.5f);
  check_against_sort (sampler, tied, n, 0, 0.99f);
  check_against_sort (sampler, tied, n, 100, 0.7f);

  /* Not asserted (machines differ), but worth seeing in the test log. */
  t0 = g_get_monotonic_time ();
  for (i = 0; i < 20; i++)
    ar_sampler_sample (sampler, &params, &rng, ramp);
  g_test_message ("32000 tokens, top-k 40: %.1f us per sample",
      (g_get_monotonic_time () - t0) / 20.0);
  params.top_k = 0;
  params.top_p = 0.9f;
  t0 = g_get_monotonic_time ();
  for (i = 0; i < 20; i++)
    ar_sampler_sample (sampler, &params, &rng, ramp);
  g_test_message ("32000 tokens, top-p 0.9: %.1f us per sample",
      (g_get_monotonic_time () - t0) / 20.0);
}

static void
test_softmax (void)
{
  float x[3] = { 1, 2, 3 };
  float big[2] = { 1000, 1000 };
  float masked[3] = { -INFINITY, 0, -INFINITY };
  const double z = exp (1) + exp (2) + exp (3);
  float lse;

  lse = ar_softmax (x, 3);
  g_assert_cmpfloat_with_epsilon (lse, log (z), 1e-6);
  g_assert_cmpfloat_with_epsilon (x[0], exp (1) / z, 1e-7);
  g_assert_cmpfloat_with_epsilon (x[1], exp (2) / z, 1e-7);
  g_assert_cmpfloat_with_epsilon (x[2], exp (3) / z, 1e-7);

  /* No overflow: 1000 + ln 2. */
  lse = ar_softmax (big, 2);
  g_assert_cmpfloat_with_epsilon (lse, 1000 + G_LN2, 1e-4);
  g_assert_cmpfloat (big[0], ==, 0.5f);
  g_assert_cmpfloat (big[1], ==, 0.5f);

  lse = ar_softmax (masked, 3);
  g_assert_cmpfloat (lse, ==, 0.0f);
  g_assert_cmpfloat (masked[0], ==, 0.0f);
  g_assert_cmpfloat (masked[1], ==, 1.0f);
  g_assert_cmpfloat (masked[2], ==, 0.0f);
}

static void
test_sampler_object (void)
{
  g_autoptr (ArSampler) sampler = ar_sampler_new (123);

  g_assert_cmpuint (ar_sampler_get_n_vocab (sampler), ==, 123);
}

/* ar_sample_weights: unnormalised weights drawn in proportion (a zero
 * weight never), one uniform per draw, -1 and no draw when all are 0. */
static void
test_sample_weights (void)
{
  const float w[5] = { 2.0f, 0.0f, 1.0f, 0.0f, 5.0f };
  const float zeros[3] = { 0.0f, 0.0f, 0.0f };
  guint counts[5] = { 0 };
  ArRng rng, copy;
  const guint n = 80000;

  ar_rng_init (&rng, 4);
  for (guint i = 0; i < n; i++) {
    gint t = ar_sample_weights (&rng, w, 5);
    g_assert_cmpint (t, >=, 0);
    g_assert_cmpint (t, <, 5);
    counts[t]++;
  }
  g_assert_cmpuint (counts[1] + counts[3], ==, 0);
  /* expected 20000, 10000, 50000; 5 standard deviations at most ~ 600 */
  g_assert_cmpint (ABS ((gint) counts[0] - 20000), <, 600);
  g_assert_cmpint (ABS ((gint) counts[2] - 10000), <, 500);
  g_assert_cmpint (ABS ((gint) counts[4] - 50000), <, 700);
  copy = rng;
  g_assert_cmpint (ar_sample_weights (&rng, zeros, 3), ==, -1);
  g_assert_cmpmem (&rng, sizeof rng, &copy, sizeof copy);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/sample/temperature", test_temperature);
  g_test_add_func ("/sample/top-k", test_top_k);
  g_test_add_func ("/sample/top-p", test_top_p);
  g_test_add_func ("/sample/combined", test_combined);
  g_test_add_func ("/sample/greedy", test_greedy);
  g_test_add_func ("/sample/ties", test_ties);
  g_test_add_func ("/sample/masked", test_masked);
  g_test_add_func ("/sample/frequencies", test_frequencies);
  g_test_add_func ("/sample/reproducible", test_reproducible);
  g_test_add_func ("/sample/large-vocab", test_large_vocab);
  g_test_add_func ("/sample/softmax", test_softmax);
  g_test_add_func ("/sample/object", test_sampler_object);
  g_test_add_func ("/sample/weights", test_sample_weights);

  return g_test_run ();
}
