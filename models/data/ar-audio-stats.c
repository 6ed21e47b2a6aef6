/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-audio-stats.c — the unigram and linear-prediction baselines in bits per
 * µ-law sample (see ar-audio-stats.h for what each one is). */
#include "ar-audio-stats.h"
#include "ar-audio.h"
#include "core/ar-error.h"

#include <math.h>
#include <string.h>

/* The narrowest µ-law class (around 0) is 1.7e-4 wide in x; a Laplace scale
 * far below it would make the cost of a constant signal depend on rounding. */
#define MIN_SCALE 1e-5

/* ---- unigram ------------------------------------------------------------ */

void
ar_audio_unigram_fit (ArAudioUnigram *u, const ArAudioSignal *signals,
    guint n_signals)
{
  g_return_if_fail (u != NULL && (signals != NULL || n_signals == 0));

  guint64 count[256] = { 0 }, total = 0;
  for (guint s = 0; s < n_signals; s++) {
    for (gsize i = 0; i < signals[s].n_samples; i++)
      count[ar_mulaw_encode (signals[s].samples[i])]++;
    total += signals[s].n_samples;
  }
  for (int q = 0; q < 256; q++)
    u->log2p[q] = log2 ((count[q] + 1.0) / (total + 256.0));
  u->n_fitted = total;
}

double
ar_audio_unigram_bits (const ArAudioUnigram *u, const ArAudioSignal *signals,
    guint n_signals)
{
  g_return_val_if_fail (u != NULL && (signals != NULL || n_signals == 0), 0.0);

  double bits = 0;
  guint64 total = 0;
  for (guint s = 0; s < n_signals; s++) {
    for (gsize i = 0; i < signals[s].n_samples; i++)
      bits -= u->log2p[ar_mulaw_encode (signals[s].samples[i])];
    total += signals[s].n_samples;
  }
  return total ? bits / total : 0.0;
}

/* ---- linear prediction -------------------------------------------------- */

/* A signal as the model sees it: each sample's µ-law class value. */
static double *
quantise (const ArAudioSignal *s)
{
  double *x = g_new (double, MAX (s->n_samples, 1));
  for (gsize i = 0; i < s->n_samples; i++)
    x[i] = ar_mulaw_decode (ar_mulaw_encode (s->samples[i]));
  return x;
}

/* x̂_t from the p samples before t (zero before the start). */
static double
predict (const ArAudioLpc *lpc, const double *x, gsize t)
{
  double s = 0;
  int p = (int) MIN ((gsize) lpc->order, t);
  for (int k = 1; k <= p; k++)
    s += lpc->a[k - 1] * x[t - k];
  return s;
}

gboolean
ar_audio_lpc_fit (ArAudioLpc *lpc, int order, const ArAudioSignal *signals,
    guint n_signals, GError **error)
{
  g_return_val_if_fail (lpc != NULL && (signals != NULL || n_signals == 0),
      FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (order < 1 || order > AR_AUDIO_LPC_MAX_ORDER) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "linear predictor order %d: expected 1 to %d", order,
        AR_AUDIO_LPC_MAX_ORDER);
    return FALSE;
  }
  guint64 total = 0;
  for (guint s = 0; s < n_signals; s++)
    total += signals[s].n_samples;
  if (total < (guint64) order + 1) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "linear predictor of order %d: %" G_GUINT64_FORMAT
        " training samples are too few (at least %d)",
        order, total, order + 1);
    return FALSE;
  }

  /* Autocorrelation r[0 … p], summed over the signals (each one's lags stay
   * inside it: no product across two files). */
  double r[AR_AUDIO_LPC_MAX_ORDER + 1] = { 0 };
  for (guint s = 0; s < n_signals; s++) {
    double *x = quantise (&signals[s]);
    gsize n = signals[s].n_samples;
    for (int k = 0; k <= order; k++) {
      double acc = 0;
      for (gsize t = (gsize) k; t < n; t++)
        acc += x[t] * x[t - k];
      r[k] += acc;
    }
    g_free (x);
  }

  /* Levinson-Durbin: the order-m solution from the order-(m-1) one.  A
   * relative 1e-9 added to r[0] (white-noise correction) keeps the
   * recursion stable when the data are nearly predictable. */
  memset (lpc, 0, sizeof *lpc);
  lpc->order = order;
  double err = r[0] * (1 + 1e-9), a[AR_AUDIO_LPC_MAX_ORDER],
         prev[AR_AUDIO_LPC_MAX_ORDER];
  memset (a, 0, sizeof a);
  for (int m = 1; m <= order && err > 0; m++) {
    double acc = r[m];
    for (int k = 1; k < m; k++)
      acc -= a[k - 1] * r[m - k];
    double kappa = acc / err;
    memcpy (prev, a, sizeof a);
    a[m - 1] = kappa;
    for (int k = 1; k < m; k++)
      a[k - 1] = prev[k - 1] - kappa * prev[m - k - 1];
    err *= 1 - kappa * kappa;
  }
  memcpy (lpc->a, a, sizeof (double) * order);

  /* The Laplace scale: mean absolute residual on the training samples. */
  double sum = 0;
  for (guint s = 0; s < n_signals; s++) {
    double *x = quantise (&signals[s]);
    for (gsize t = 0; t < signals[s].n_samples; t++)
      sum += fabs (x[t] - predict (lpc, x, t));
    g_free (x);
  }
  lpc->scale = MAX (sum / total, MIN_SCALE);
  lpc->n_fitted = total;
  return TRUE;
}

/* The x values of the class edges: class q covers [edge[q], edge[q + 1])
 * with edge[0] = -∞ and edge[256] = +∞ (the end classes take the tails).
 * Edge q is where the companded value y = q / 128 - 1 begins. */
static void
class_edges (double *edge)
{
  edge[0] = -INFINITY;
  edge[256] = INFINITY;
  for (int q = 1; q < 256; q++) {
    double y = q / 128.0 - 1.0;
    edge[q] = copysign (expm1 (fabs (y) * log1p (255.0)) / 255.0, y);
  }
}

/* ln of the mass a Laplace (mu, b) gives to [lo, hi], without the
 * cancellation of subtracting two CDF values near 0 or 1. */
static double
laplace_log_mass (double lo, double hi, double mu, double b)
{
  /* ln (1 - e^{-(hi - lo)/b}): the share of the nearer edge's tail that the
   * interval keeps. */
  if (hi <= mu)
    return log (0.5) + (hi - mu) / b + log (-expm1 (-(hi - lo) / b));
  if (lo >= mu)
    return log (0.5) - (lo - mu) / b + log (-expm1 (-(hi - lo) / b));
  /* Straddling the centre: 1 minus the two outer tails. */
  double tails = 0.5 * exp (-(mu - lo) / b) + 0.5 * exp (-(hi - mu) / b);
  return log1p (-tails);
}

double
ar_audio_lpc_bits (const ArAudioLpc *lpc, const ArAudioSignal *signals,
    guint n_signals)
{
  g_return_val_if_fail (lpc != NULL && (signals != NULL || n_signals == 0),
      0.0);
  g_return_val_if_fail (lpc->order >= 1 && lpc->order <= AR_AUDIO_LPC_MAX_ORDER,
      0.0);

  double edge[257];
  class_edges (edge);
  double nats = 0;
  guint64 total = 0;
  for (guint s = 0; s < n_signals; s++) {
    double *x = quantise (&signals[s]);
    for (gsize t = 0; t < signals[s].n_samples; t++) {
      int q = ar_mulaw_encode (signals[s].samples[t]);
      nats -= laplace_log_mass (edge[q], edge[q + 1], predict (lpc, x, t),
          lpc->scale);
    }
    total += signals[s].n_samples;
    g_free (x);
  }
  return total ? nats / total / G_LN2 : 0.0;
}

/* ---- both --------------------------------------------------------------- */

gboolean
ar_audio_baselines (const ArAudioSignal *train, guint n_train,
    const ArAudioSignal *held, guint n_held, int lpc_order,
    ArAudioBaselines *out, GError **error)
{
  g_return_val_if_fail (out != NULL, FALSE);
  g_return_val_if_fail (train != NULL || n_train == 0, FALSE);
  g_return_val_if_fail (held != NULL || n_held == 0, FALSE);

  memset (out, 0, sizeof *out);
  if (!ar_audio_lpc_fit (&out->lpc, lpc_order, train, n_train, error))
    return FALSE;
  ArAudioUnigram u;
  ar_audio_unigram_fit (&u, train, n_train);
  out->unigram_bits = ar_audio_unigram_bits (&u, held, n_held);
  ar_audio_unigram_fit (&u, held, n_held);
  out->unigram_oracle_bits = ar_audio_unigram_bits (&u, held, n_held);
  out->lpc_bits = ar_audio_lpc_bits (&out->lpc, held, n_held);
  out->n_train = out->lpc.n_fitted;
  for (guint s = 0; s < n_held; s++)
    out->n_held += held[s].n_samples;
  return TRUE;
}
