/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-audio-stats.h — the two non-neural baselines a WaveNet's validation
 * figure (bits per sample of 8-bit µ-law audio) is set beside, fitted on
 * training signals and evaluated on held-out ones:
 *
 *   - unigram: the histogram of the 256 model µ-law classes (ar_mulaw_encode)
 *     of the training samples, add-one smoothed; a held-out sample costs
 *     -log2 p(class).  It knows nothing of time: the figure any sequence
 *     model must beat first.
 *   - linear prediction: one global predictor of order p (16 in the issue),
 *       x̂_t = Σ_{k=1..p} a_k x_{t-k}     (x_{t} = 0 before a signal starts),
 *     fitted on the training signals by the autocorrelation method
 *     (Levinson-Durbin on the autocorrelation summed over the signals), with
 *     a Laplace residual of scale b = mean |x_t - x̂_t| over the training
 *     samples (its maximum-likelihood value).  A held-out sample of class q
 *     costs -log2 of the probability the Laplace density centred on x̂_t
 *     gives to q's interval of x (between the class's edges; classes 0 and
 *     255 take the tails), so the figure is in the same unit as the
 *     unigram's and a WaveNet's.
 *
 * Both see the signal as the WaveNet does: every sample is first quantised to
 * its µ-law class, and the predictor works on the class values
 * (ar_mulaw_decode), not on the original floats.
 *
 *   ArAudioBaselines b;
 *   ar_audio_baselines (train, n_train, held, n_held, 16, &b, &error);
 *   printf ("unigram %.3f, LPC16 %.3f bits/sample\n", b.unigram_bits, b.lpc_bits);
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* One mono signal: floats in [-1, 1] (e.g. from ar_audio_read), not owned. */
typedef struct
{
  const float *samples; /* (n_samples) */
  gsize n_samples;
} ArAudioSignal;

/* ---- unigram ------------------------------------------------------------ */

typedef struct
{
  double log2p[256]; /* log2 probability of each µ-law class */
  guint64 n_fitted;  /* samples the histogram counted */
} ArAudioUnigram;

/* Counts the classes of every sample of @signals (n_signals), add-one
 * smoothed (so no class has probability 0, even with no samples at all). */
void ar_audio_unigram_fit (ArAudioUnigram *u, const ArAudioSignal *signals,
    guint n_signals);
/* Mean cost in bits per sample of @signals under @u; 0 when they have no
 * samples. */
double ar_audio_unigram_bits (const ArAudioUnigram *u,
    const ArAudioSignal *signals, guint n_signals);

/* ---- linear prediction with a Laplace residual ------------------------- */

#define AR_AUDIO_LPC_MAX_ORDER 64

typedef struct
{
  int order; /* p */
  double
      a[AR_AUDIO_LPC_MAX_ORDER]; /* (p) a[k - 1] = a_k, the weight of x_{t-k} */
  double scale;                  /* Laplace b, in signal units */
  guint64 n_fitted;              /* training samples */
} ArAudioLpc;

/* Fits a predictor of @order (1 … AR_AUDIO_LPC_MAX_ORDER) on @signals.
 * Errors (AR_ERROR_INVALID): the order is out of range, or the signals have
 * fewer than order + 1 samples in all.  b is never below 1e-5 (a tenth of
 * the narrowest class), so a constant signal still has a finite cost. */
gboolean ar_audio_lpc_fit (ArAudioLpc *lpc, int order,
    const ArAudioSignal *signals, guint n_signals, GError **error);
/* Mean cost in bits per sample of @signals under @lpc; 0 when they have no
 * samples. */
double ar_audio_lpc_bits (const ArAudioLpc *lpc, const ArAudioSignal *signals,
    guint n_signals);

/* ---- both, as the issue reports them ------------------------------------ */

typedef struct
{
  double unigram_bits; /* histogram fitted on the training signals */
  /* The histogram fitted on the held-out signals themselves: what the
   * unigram could reach at best.  Not a fair baseline (it has seen the
   * test data); shown to tell a mismatch of the split from the model. */
  double unigram_oracle_bits;
  double lpc_bits; /* predictor and scale fitted on the training signals */
  ArAudioLpc lpc;  /* the fitted predictor */
  guint64 n_train, n_held; /* samples */
} ArAudioBaselines;

gboolean ar_audio_baselines (const ArAudioSignal *train, guint n_train,
    const ArAudioSignal *held, guint n_held, int lpc_order,
    ArAudioBaselines *out, GError **error);

G_END_DECLS
