/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-mel.c — the mel front end (ar-mel.h): the FFTW path against a direct
 * DFT, the Slaney filterbank against the scale's formulas (written here
 * again, independently), framing and centring, one frame against the whole
 * signal, alignment of the caller's scratch, threads, Griffin-Lim, the
 * log-spectral distance and the model-file keys.
 *
 * Budgets:
 * - FFT vs direct DFT (double, O(n²)): |X_fft - X_dft| <= 5e-7 · Σ|w·x| per
 *   bin, the worst-case rounding of a single-precision FFT (about
 *   log2 (n) · 2^-24 of the frame's L1 norm; measured 3e-8);
 * - filterbank: the unnormalised triangles sum to 1 within 1e-5 between the
 *   first and last centre (a partition of unity), each peak is in the bin
 *   nearest its centre;
 * - Griffin-Lim (32 iterations, the default front end, 0.6 s of a breathy
 *   harmonic voice): log-spectral distance below 0.7× that of the
 *   random-phase start (measured 6.8 vs 11.2 dB, 0.61×); the mel frames of
 *   the reconstruction within 2 dB RMS of the target's and below 0.3× the
 *   random start's error (measured 1.39 vs 8.33 dB).  A clean harmonic
 *   signal is a poor test: its spectral valleys are tens of dB deep, no
 *   magnitude recovered from 80 mels has them, and they dominate the
 *   per-bin distance. */
#include <math.h>
#include <string.h>

#include "core/ar-error.h"
#include "core/ar-rng.h"
#include "data/ar-mel-private.h"

static ArMel *
default_mel (void)
{
  ArMelParams p = AR_MEL_PARAMS_INIT;
  GError *error = NULL;
  ArMel *mel = ar_mel_new (&p, &error);
  g_assert_no_error (error);
  return mel;
}

static float *
noise (gsize n, guint64 seed)
{
  ArRng rng;
  ar_rng_init (&rng, seed);
  float *x = g_new (float, n);
  for (gsize i = 0; i < n; i++)
    x[i] = ar_rng_uniform (&rng) - 0.5f;
  return x;
}

/* ---- STFT --------------------------------------------------------------- */

static void
check_against_dft (const ArMelParams *p)
{
  GError *error = NULL;
  g_autoptr (ArMel) mel = ar_mel_new (p, &error);
  g_assert_no_error (error);
  gsize n = 1234, nf = ar_mel_n_frames (mel, n), nb = p->n_fft / 2 + 1;
  float *x = noise (n, 1);
  float *mag = g_new (float, nf *nb);
  ar_mel_stft_magnitude (mel, x, n, mag);

  /* Our own periodic Hann, centred as librosa centres it. */
  double *w = g_new0 (double, p->n_fft), *fr = g_new (double, p->n_fft);
  int off = (p->n_fft - p->win_length) / 2;
  for (int i = 0; i < p->win_length; i++)
    w[off + i] = 0.5 - 0.5 * cos (2 * G_PI * i / p->win_length);
  double worst = 0;
  for (gsize t = 0; t < nf; t++) {
    double l1 = 0;
    for (int i = 0; i < p->n_fft; i++) {
      long s = (long) (t * p->hop) - p->n_fft / 2 + i;
      fr[i] = (s >= 0 && s < (long) n ? x[s] : 0.0) * w[i];
      l1 += fabs (fr[i]);
    }
    for (gsize k = 0; k < nb; k++) {
      double re = 0, im = 0;
      for (int i = 0; i < p->n_fft; i++) {
        double a = 2 * G_PI * (double) ((k * i) % p->n_fft) / p->n_fft;
        re += fr[i] * cos (a);
        im -= fr[i] * sin (a);
      }
      double err = fabs (hypot (re, im) - mag[t * nb + k]) / l1;
      worst = MAX (worst, err);
    }
  }
  g_test_message ("n_fft %d: worst |FFT - DFT| / L1 = %.3g", p->n_fft, worst);
  g_assert_cmpfloat (worst, <=, 5e-7);
  g_free (w);
  g_free (fr);
  g_free (mag);
  g_free (x);
}

static void
test_stft_dft (void)
{
  ArMelParams p = AR_MEL_PARAMS_INIT;
  check_against_dft (&p);
  /* A window as long as the frame, and a power-of-two-free size. */
  ArMelParams q = { 16000, 300, 300, 100, 40, 50.0f, 7000.0f, 2.0f, 1e-6f };
  check_against_dft (&q);
}

static void
test_framing (void)
{
  g_autoptr (ArMel) mel = default_mel ();
  g_assert_cmpuint (ar_mel_n_frames (mel, 0), ==, 1);
  g_assert_cmpuint (ar_mel_n_frames (mel, 79), ==, 1);
  g_assert_cmpuint (ar_mel_n_frames (mel, 80), ==, 2);
  g_assert_cmpuint (ar_mel_n_frames (mel, 1000), ==, 13);

  /* An impulse at sample t · hop sits at the centre of frame t, where the
   * periodic Hann is exactly 1: a flat spectrum of magnitude 1 there, and
   * less energy in every other frame. */
  gsize n = 1000, nf = ar_mel_n_frames (mel, n), nb = 257;
  float *x = g_new0 (float, n), *mag = g_new (float, nf *nb);
  for (gsize t = 0; t < nf; t++) {
    if (t * 80 >= n)
      continue;
    memset (x, 0, n * sizeof (float));
    x[t * 80] = 1.0f;
    ar_mel_stft_magnitude (mel, x, n, mag);
    for (gsize k = 0; k < nb; k++)
      g_assert_cmpfloat_with_epsilon (mag[t * nb + k], 1.0, 1e-6);
    for (gsize u = 0; u < nf; u++)
      if (u != t)
        g_assert_cmpfloat (mag[u * nb], <, 0.9f);
  }
  g_free (x);
  g_free (mag);
}

/* ---- filterbank --------------------------------------------------------- */

static double
slaney_mel (double hz)
{
  return hz < 1000 ? 3 * hz / 200 : 15 + 27 * log (hz / 1000) / log (6.4);
}

static double
slaney_hz (double mel)
{
  return mel < 15 ? 200 * mel / 3 : 1000 * pow (6.4, (mel - 15) / 27);
}

static void
check_filterbank (const ArMelParams *p)
{
  GError *error = NULL;
  g_autoptr (ArMel) mel = ar_mel_new (p, &error);
  g_assert_no_error (error);
  const float *fb = ar_mel_get_filterbank (mel);
  int nb = p->n_fft / 2 + 1, nm = p->n_mels;
  double df = (double) p->sample_rate / p->n_fft;
  double *edge = g_new (double, nm + 2);
  for (int i = 0; i < nm + 2; i++)
    edge[i] = slaney_hz (slaney_mel (p->f_min) +
        (slaney_mel (p->f_max) - slaney_mel (p->f_min)) * i / (nm + 1));
  for (int m = 0; m < nm; m++) {
    /* Non-negative, zero outside (edge m, edge m + 2), peak nearest the
     * centre, at most the Slaney height 2 / (edge m+2 - edge m). */
    double height = 2 / (edge[m + 2] - edge[m]);
    int peak = 0;
    for (int k = 0; k < nb; k++) {
      float w = fb[m * nb + k];
      g_assert_cmpfloat (w, >=, 0);
      if (k * df <= edge[m] || k * df >= edge[m + 2])
        g_assert_cmpfloat (w, ==, 0);
      if (w > fb[m * nb + peak])
        peak = k;
    }
    g_assert_cmpfloat (fb[m * nb + peak], <=, height * (1 + 1e-6));
    g_assert_cmpfloat (fabs (peak * df - edge[m + 1]), <=, df);
  }
  /* Partition of unity: with the normalisation divided out, neighbouring
   * triangles sum to 1 between the first and the last centre. */
  for (int k = 0; k < nb; k++) {
    double f = k * df;
    if (f < edge[1] || f > edge[nm])
      continue;
    double sum = 0;
    for (int m = 0; m < nm; m++)
      sum += fb[m * nb + k] * (edge[m + 2] - edge[m]) / 2;
    g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-5);
  }
  g_free (edge);
}

static void
test_filterbank (void)
{
  ArMelParams p = AR_MEL_PARAMS_INIT;
  check_filterbank (&p);
  ArMelParams q = { 22050, 1024, 1024, 256, 128, 30.0f, 11025.0f, 2.0f, 1e-5f };
  check_filterbank (&q);
}

/* ---- mel frames --------------------------------------------------------- */

static void
test_frame_equals_compute (void)
{
  g_autoptr (ArMel) mel = default_mel ();
  gsize n = 2345, nf = ar_mel_n_frames (mel, n);
  float *x = noise (n, 2);
  float *all = g_new (float, nf * 80);
  ar_mel_compute (mel, x, n, all);

  /* The caller's scratch at three alignments (FFTW must not assume any):
   * bit-identical results. */
  gsize ss = ar_mel_scratch_size (mel);
  g_assert_cmpuint (ss, >=, 512);
  float *scratch = g_new (float, ss + 3), frame[512], out[80];
  gsize ts[] = { 0, 1, 7, nf / 2, nf - 1 };
  for (guint j = 0; j < G_N_ELEMENTS (ts); j++) {
    gsize t = ts[j];
    for (int i = 0; i < 512; i++) {
      long s = (long) (t * 80) - 256 + i;
      frame[i] = s >= 0 && s < (long) n ? x[s] : 0.0f;
    }
    for (int a = 0; a < 4; a++) {
      ar_mel_frame (mel, frame, out, scratch + a);
      g_assert_cmpmem (out, sizeof out, all + t * 80, sizeof out);
    }
  }

  /* The mel values themselves, from the magnitudes and the filterbank. */
  float *mag = g_new (float, nf * 257);
  ar_mel_stft_magnitude (mel, x, n, mag);
  const float *fb = ar_mel_get_filterbank (mel);
  for (gsize t = 0; t < nf; t += 5)
    for (int m = 0; m < 80; m++) {
      double s = 0;
      for (int k = 0; k < 257; k++)
        s += (double) fb[m * 257 + k] * mag[t * 257 + k];
      g_assert_cmpfloat_with_epsilon (all[t * 80 + m], log (MAX (s, 1e-5)),
          1e-4);
    }

  /* Silence is the log floor everywhere. */
  memset (x, 0, n * sizeof (float));
  ar_mel_compute (mel, x, n, all);
  for (gsize i = 0; i < nf * 80; i++)
    g_assert_cmpfloat (all[i], ==, logf (1e-5f));
  g_free (mag);
  g_free (scratch);
  g_free (all);
  g_free (x);
}

typedef struct
{
  ArMel *mel;
  const float *x;
  gsize n;
  float *out;
} ThreadJob;

static gpointer
thread_compute (gpointer data)
{
  ThreadJob *j = data;
  /* Planning in this thread too, while the other one executes. */
  ArMelParams p = { 16000, 1024, 800, 160, 64, 0.0f, 8000.0f, 2.0f, 1e-6f };
  for (int r = 0; r < 4; r++) {
    ArMel *other = ar_mel_new (&p, NULL);
    g_assert_nonnull (other);
    ar_mel_free (other);
    ar_mel_compute (j->mel, j->x, j->n,
        j->out + r * ar_mel_n_frames (j->mel, j->n) * 80);
  }
  return NULL;
}

static void
test_threads (void)
{
  g_autoptr (ArMel) mel = default_mel ();
  gsize n = 8000, nf = ar_mel_n_frames (mel, n);
  float *x = noise (n, 3);
  float *ref = g_new (float, nf * 80);
  ar_mel_compute (mel, x, n, ref);
  ThreadJob jobs[2];
  GThread *th[2];
  for (int i = 0; i < 2; i++) {
    jobs[i] = (ThreadJob){ mel, x, n, g_new (float, 4 * nf * 80) };
    th[i] = g_thread_new ("mel", thread_compute, &jobs[i]);
  }
  for (int i = 0; i < 2; i++) {
    g_thread_join (th[i]);
    for (int r = 0; r < 4; r++)
      g_assert_cmpmem (jobs[i].out + r * nf * 80, nf * 80 * sizeof (float), ref,
          nf * 80 * sizeof (float));
    g_free (jobs[i].out);
  }
  g_free (ref);
  g_free (x);
}

/* ---- Griffin-Lim and log-spectral distance ------------------------------ */

/* 0.6 s of a 160 Hz harmonic tone with a gliding pitch, some breath noise
 * (at @noise of the tone's level) and a syllable-like envelope:
 * speech-shaped, known, and not stationary. */
static float *
harmonic (gsize n, double noise)
{
  float *x = g_new (float, n);
  double phase = 0;
  ArRng rng;
  ar_rng_init (&rng, 5);
  for (gsize i = 0; i < n; i++) {
    double t = i / 8000.0, f0 = 160 + 40 * t;
    phase += 2 * G_PI * f0 / 8000.0;
    double s = 0;
    for (int h = 1; h * f0 < 3800; h++)
      s += sin (h * phase) / h;
    x[i] = (float) (0.3 * (s + noise * ar_rng_normal (&rng)) *
        sin (G_PI * t / 0.6));
  }
  return x;
}

/* RMS difference in dB between the mel frames of @y and @target, over the
 * bins more than 40 dB above silence's floor. */
static double
mel_error_db (const ArMel *mel, const float *target, const float *y, gsize n)
{
  gsize nf = ar_mel_n_frames (mel, n);
  float *back = g_new (float, nf * 80);
  ar_mel_compute (mel, y, n, back);
  double sq = 0;
  int used = 0;
  for (gsize i = 0; i < nf * 80; i++)
    if (target[i] > logf (1e-3f)) {
      double db = 20 / log (10) * (back[i] - target[i]);
      sq += db * db;
      used++;
    }
  g_free (back);
  g_assert_cmpint (used, >, 0);
  return sqrt (sq / used);
}

static void
test_lsd (void)
{
  g_autoptr (ArMel) mel = default_mel ();
  gsize n = 4800;
  float *x = harmonic (n, 0.0), *y = g_new (float, n);
  g_assert_cmpfloat (ar_mel_log_spectral_distance (mel, x, x, n), ==, 0.0);
  /* 6 dB: twice the amplitude is 20 log10 2 = 6.02 dB in every bin that is
   * above eps in both. */
  for (gsize i = 0; i < n; i++)
    y[i] = 2 * x[i];
  double d = ar_mel_log_spectral_distance (mel, x, y, n);
  g_assert_cmpfloat (fabs (d - 20 * log10 (2.0)), <, 0.05);
  g_assert_cmpfloat (fabs (ar_mel_log_spectral_distance (mel, y, x, n) - d), <,
      1e-9);
  /* Silence against silence. */
  memset (y, 0, n * sizeof (float));
  g_assert_cmpfloat (ar_mel_log_spectral_distance (mel, y, y, n), ==, 0.0);
  g_free (x);
  g_free (y);
}

/* The distance in bands: over every bin it is the whole distance; white
 * noise and itself doubled differ by 6.02 dB in every band, the second
 * louder; a 3 kHz tone added moves the band that holds it (4 dB) and
 * hardly the others. */
static void
test_lsd_bands (void)
{
  g_autoptr (ArMel) mel = default_mel ();
  gsize n = 4800;
  float *x = noise (n, 3), *y = g_new (float, n), *z = g_new (float, n);
  static const double edges[] = { 0, 125, 250, 500, 1000, 2000, 4000 };
  double level, d;

  for (gsize i = 0; i < n; i++) {
    y[i] = 2 * x[i];
    z[i] = x[i] + 0.5f * (float) sin (2 * G_PI * 3000.0 * i / 8000.0);
  }
  g_assert_cmpfloat (ar_mel_log_spectral_distance_band (mel, x, z, n, 0,
          4000, &level), ==, ar_mel_log_spectral_distance (mel, x, z, n));
  for (guint b = 0; b + 1 < G_N_ELEMENTS (edges); b++) {
    d = ar_mel_log_spectral_distance_band (mel, x, y, n, edges[b],
        edges[b + 1], &level);
    g_assert_cmpfloat (fabs (d - 20 * log10 (2.0)), <, 1e-4);
    g_assert_cmpfloat (fabs (level - 20 * log10 (2.0)), <, 1e-4);
    d = ar_mel_log_spectral_distance_band (mel, y, x, n, edges[b],
        edges[b + 1], &level);
    g_assert_cmpfloat (fabs (level + 20 * log10 (2.0)), <, 1e-4);
    d = ar_mel_log_spectral_distance_band (mel, x, z, n, edges[b],
        edges[b + 1], &level);
    if (b + 2 < G_N_ELEMENTS (edges)) {
      /* the tone's own spectrum does not reach below 2 kHz; only the
       * frames at the ends of the signal, where it starts and stops
       * abruptly, spread it (measured: under 0.07 dB per band) */
      g_test_message ("%g-%g Hz: %g dB", edges[b], edges[b + 1], d);
      g_assert_cmpfloat (d, <, 0.2);
    } else {
      g_test_message ("tone band: %g dB, level %+g dB", d, level);
      g_assert_cmpfloat (d, >, 0.5);
      g_assert_cmpfloat (level, >, 0.1);
    }
  }
  /* all bands in one call: each what it is alone */
  {
    double dist[6], lev[6];

    ar_mel_log_spectral_distance_bands (mel, x, z, n, edges, 6, dist, lev);
    for (guint b = 0; b < 6; b++) {
      d = ar_mel_log_spectral_distance_band (mel, x, z, n, edges[b],
          edges[b + 1], &level);
      g_assert_cmpfloat (dist[b], ==, d);
      g_assert_cmpfloat (lev[b], ==, level);
    }
  }
  /* a band without bins (narrower than one, between two) */
  g_assert_cmpfloat (ar_mel_log_spectral_distance_band (mel, x, y, n, 1.0,
          2.0, &level), ==, 0.0);
  g_assert_cmpfloat (level, ==, 0.0);
  g_free (x);
  g_free (y);
  g_free (z);
}

/* The distance by level: noise whose second half is 35 dB quieter, against
 * itself with the loud half doubled.  The loud frames are 6.02 dB away and
 * the quiet ones 0; the classes' shares and distances add up to the whole
 * distance; a class no frame falls in is 0.  A silent reference's frames
 * are all in the loudest class, as they all count in the whole distance. */
static void
test_lsd_levels (void)
{
  g_autoptr (ArMel) mel = default_mel ();
  gsize n = 16000, half = n / 2;
  float *x = noise (n, 7), *y = g_new (float, n);
  static const double below[] = { 0, 10, 20, 30, 40, 50, 60 };
  double dist[6], share[6], whole = 0, sum_share = 0;

  for (gsize i = 0; i < n; i++) {
    if (i >= half)
      x[i] *= (float) pow (10.0, -35.0 / 20.0);
    y[i] = i < half ? 2 * x[i] : x[i];
  }
  ar_mel_log_spectral_distance_levels (mel, x, y, n, below, 6, dist, share);
  for (guint i = 0; i < 6; i++) {
    g_test_message ("%g-%g dB below: %.1f %% of frames, %.4f dB", below[i],
        below[i + 1], 100 * share[i], dist[i]);
    whole += share[i] * dist[i];
    sum_share += share[i];
  }
  /* the loud half: 100 frames, a few at its edges (the zero-padded start,
   * the change to quiet) below 10 dB */
  g_assert_cmpfloat (share[0], >, 0.45);
  g_assert_cmpfloat (fabs (dist[0] - 20 * log10 (2.0)), <, 0.05);
  /* the quiet half: identical, 0 dB but for the two or three frames that
   * reach back into the doubled half (measured: 0.06 dB on average) */
  g_assert_cmpfloat (share[3], >, 0.45);
  g_assert_cmpfloat (dist[3], <, 0.2);
  /* nothing is 40 dB or more below */
  g_assert_cmpfloat (share[4], ==, 0.0);
  g_assert_cmpfloat (dist[4], ==, 0.0);
  g_assert_cmpfloat (share[5], ==, 0.0);
  g_assert_cmpfloat (fabs (sum_share - 1.0), <, 1e-12);
  g_assert_cmpfloat (fabs (whole - ar_mel_log_spectral_distance (mel, x, y,
              n)), <, 1e-9);

  /* a silent reference: every frame counts in the whole distance, so every
   * frame is in the loudest class */
  memset (x, 0, n * sizeof (float));
  ar_mel_log_spectral_distance_levels (mel, x, y, n, below, 6, dist, share);
  g_assert_cmpfloat (share[0], ==, 1.0);
  g_assert_cmpfloat (dist[0], >, 0.0);
  g_assert_cmpfloat (fabs (dist[0] - ar_mel_log_spectral_distance (mel, x, y,
              n)), <, 1e-9);
  g_free (x);
  g_free (y);
}

static void
test_griffin_lim (void)
{
  g_autoptr (ArMel) mel = default_mel ();
  gsize n = 4800, nf = ar_mel_n_frames (mel, n);
  float *x = harmonic (n, 0.1), *mels = g_new (float, nf * 80);
  ar_mel_compute (mel, x, n, mels);
  float *start = g_new (float, n), *gl = g_new (float, n),
        *again = g_new (float, n);
  ar_mel_griffin_lim (mel, mels, n, 0, 42, start);
  ar_mel_griffin_lim (mel, mels, n, 32, 42, gl);
  double d0 = ar_mel_log_spectral_distance (mel, x, start, n);
  double d1 = ar_mel_log_spectral_distance (mel, x, gl, n);
  g_test_message ("log-spectral distance: random phases %.2f dB, Griffin-Lim "
                  "(32) %.2f dB",
      d0, d1);
  g_assert_cmpfloat (d1, <, 0.7 * d0);

  /* The reconstruction's own mel frames match the target's. */
  double e0 = mel_error_db (mel, mels, start, n),
         e1 = mel_error_db (mel, mels, gl, n);
  g_test_message (
      "mel frames: random phases %.2f dB RMS, Griffin-Lim %.2f dB RMS", e0, e1);
  g_assert_cmpfloat (e1, <, 2.0);
  g_assert_cmpfloat (e1, <, 0.3 * e0);

  /* Same seed, same signal. */
  ar_mel_griffin_lim (mel, mels, n, 32, 42, again);
  g_assert_cmpmem (gl, n * sizeof (float), again, n * sizeof (float));
  g_free (again);
  g_free (gl);
  g_free (start);
  g_free (mels);
  g_free (x);
}

/* ---- parameters --------------------------------------------------------- */

static void
expect_invalid (ArMelParams p, const char *name)
{
  GError *error = NULL;
  g_assert_null (ar_mel_new (&p, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, name));
  g_error_free (error);
}

static void
test_params_invalid (void)
{
  ArMelParams p = AR_MEL_PARAMS_INIT;
  ArMelParams q;
  q = p;
  q.n_fft = 511;
  expect_invalid (q, "n_fft");
  q = p;
  q.win_length = 513;
  expect_invalid (q, "win_length");
  q = p;
  q.hop = 0;
  expect_invalid (q, "hop");
  q = p;
  q.n_mels = 0;
  expect_invalid (q, "n_mels");
  q = p;
  q.f_max = 4001;
  expect_invalid (q, "f_max");
  q = p;
  q.f_min = NAN;
  expect_invalid (q, "f_min");
  q = p;
  q.power = 0;
  expect_invalid (q, "power");
  q = p;
  q.log_floor = 0;
  expect_invalid (q, "log_floor");
  q = p;
  q.sample_rate = 0;
  expect_invalid (q, "sample_rate");
}

static void
test_params_keys (void)
{
  ArMelParams p = { 16000, 1024, 800, 200, 64, 20.0f, 7600.0f, 2.0f, 1e-6f };
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  ar_mel_params_write (&p, w, "wavenet.mel");
  g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
  GError *error = NULL;
  g_autoptr (ArGguf) f = ar_gguf_new_from_bytes (bytes, "m.gguf", &error);
  g_assert_no_error (error);
  ArMelParams r;
  g_assert_true (ar_mel_params_read (&r, f, "wavenet.mel", &error));
  g_assert_no_error (error);
  g_assert_cmpmem (&r, sizeof r, &p, sizeof p);

  /* A missing key, under another prefix. */
  g_assert_false (ar_mel_params_read (&r, f, "vocoder.mel", &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  g_assert_nonnull (strstr (error->message, "vocoder.mel.sample_rate"));
  g_clear_error (&error);

  /* Out-of-range values: the error names the file and the key. */
  p.n_fft = 1023;
  g_autoptr (ArGgufWriter) w2 = ar_gguf_writer_new ();
  ar_mel_params_write (&p, w2, "wavenet.mel");
  g_autoptr (GBytes) b2 = ar_gguf_writer_to_bytes (w2);
  g_autoptr (ArGguf) f2 = ar_gguf_new_from_bytes (b2, "bad.gguf", &error);
  g_assert_no_error (error);
  g_assert_false (ar_mel_params_read (&r, f2, "wavenet.mel", &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, "bad.gguf"));
  g_assert_nonnull (strstr (error->message, "wavenet.mel.n_fft"));
  g_clear_error (&error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/mel/stft/dft", test_stft_dft);
  g_test_add_func ("/mel/stft/framing", test_framing);
  g_test_add_func ("/mel/filterbank", test_filterbank);
  g_test_add_func ("/mel/frame-equals-compute", test_frame_equals_compute);
  g_test_add_func ("/mel/threads", test_threads);
  g_test_add_func ("/mel/lsd", test_lsd);
  g_test_add_func ("/mel/lsd-bands", test_lsd_bands);
  g_test_add_func ("/mel/lsd-levels", test_lsd_levels);
  g_test_add_func ("/mel/griffin-lim", test_griffin_lim);
  g_test_add_func ("/mel/params/invalid", test_params_invalid);
  g_test_add_func ("/mel/params/keys", test_params_keys);
  return g_test_run ();
}
