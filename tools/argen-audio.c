/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* argen-audio.c — audio measurements for the WaveNet family:
 *
 *   argen audio-compare REF.wav TEST.wav [--bands] [--levels]
 *                       [--griffin-lim OUT.wav] [--mulaw [--pre-emphasis A]]
 *     the log-spectral distance of TEST to REF in dB (ar-mel.h's
 *     definition) — per octave band too, with TEST's level relative to
 *     REF's, with --bands; by the level of REF's frames with --levels —, and
 *     optionally the same figure for a Griffin-Lim
 *     reconstruction of REF from REF's own mel frames — the non-neural
 *     baseline a vocoder's figure is set beside — and for REF through the
 *     models' 8-bit µ-law coding (pre-emphasised first and de-emphasised
 *     after with --pre-emphasis, as a model with wavenet.pre_emphasis codes
 *     it);
 *   argen baselines --data DIR|GLOB [--pre-emphasis A]
 *     the unigram and order-16 linear-prediction costs in bits per µ-law
 *     sample on the held-out files (ar-audio-stats.h), the figures a
 *     WaveNet's validation NLL is compared with (of the pre-emphasised
 *     signal's classes with --pre-emphasis, like a model trained with it). */
#include <stdio.h>
#include <string.h>

#include "argen.h"
#include "core/ar-error.h"
#include "data/ar-audio-stats.h"
#include "data/ar-audio.h"
#include "data/ar-mel.h"
#include "wavenet/ar-wavenet.h"

/* ---- audio-compare ------------------------------------------------------ */

/* --levels: @test's distance to @ref in classes of REF's frame level */
static void
print_levels (const ArMel *mel, const float *ref, const float *test, gsize n)
{
  static const double below[] = { 0, 10, 20, 30, 40, 50, 60 };
  double dist[6], share[6];

  ar_mel_log_spectral_distance_levels (mel, ref, test, n, below, 6, dist,
      share);
  for (guint i = 0; i < 6; i++)
    printf ("  %2.0f-%-2.0f dB under the loudest: %7.3f dB (%5.1f %% of "
            "frames)\n",
        below[i], below[i + 1], dist[i], 100 * share[i]);
}

int
argen_cmd_audio_compare (int argc, char **argv)
{
  ArMelParams p = AR_MEL_PARAMS_INIT;
  g_autofree char *gl_out = NULL;
  gint iterations = 32, rate = p.sample_rate;
  gint n_fft = p.n_fft, win = p.win_length, hop = p.hop, n_mels = p.n_mels;
  gdouble f_min = p.f_min, f_max = -1;
  gint64 seed = 0;
  gboolean mulaw = FALSE, bands = FALSE, levels = FALSE;
  gdouble pre_emphasis = 0.0;
  GOptionEntry entries[] = { { "griffin-lim", 'g', 0, G_OPTION_ARG_FILENAME,
                                 &gl_out,
                                 "Also reconstruct REF from its own mel frames "
                                 "by Griffin-Lim, write it to OUT.wav and "
                                 "print its distance to REF",
                                 "OUT.wav" },
    { "iterations", 0, 0, G_OPTION_ARG_INT, &iterations,
        "Griffin-Lim iterations (default 32)", "N" },
    { "bands", 'b', 0, G_OPTION_ARG_NONE, &bands,
        "Also print the distance of TEST to REF in octave bands (0-125 Hz, "
        "125-250, … up to half the rate) and how much louder TEST is in "
        "each: where a resynthesis goes wrong",
        NULL },
    { "levels", 'l', 0, G_OPTION_ARG_NONE, &levels,
        "Also print the distance by how loud REF's frames are (0-10 dB "
        "under the loudest, 10-20, … 50-60), with each class's share of the "
        "frames — for TEST and for the --mulaw and --griffin-lim signals",
        NULL },
    { "mulaw", 0, 0, G_OPTION_ARG_NONE, &mulaw,
        "Also print the distance of REF coded to 8-bit µ-law (the WaveNet "
        "models' 256 classes) and back: the floor of any model that outputs "
        "those classes", NULL },
    { "pre-emphasis", 0, 0, G_OPTION_ARG_DOUBLE, &pre_emphasis,
        "With --mulaw: pre-emphasise REF (e_t = s_t − A s_{t−1}) before the "
        "coding and de-emphasise after, as a model with wavenet.pre_emphasis "
        "A does (0 … 0.99, default 0)",
        "A" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed,
        "Griffin-Lim's initial phases (default 0)", "S" },
    { "rate", 'r', 0, G_OPTION_ARG_INT, &rate,
        "Sample rate both files are read at (resampled if needed; default "
        "8000)",
        "HZ" },
    { "n-fft", 0, 0, G_OPTION_ARG_INT, &n_fft, "FFT size (default 512)", "N" },
    { "win-length", 0, 0, G_OPTION_ARG_INT, &win,
        "Hann window length (default 400)", "N" },
    { "hop", 0, 0, G_OPTION_ARG_INT, &hop,
        "Samples between frames (default 80)", "N" },
    { "n-mels", 0, 0, G_OPTION_ARG_INT, &n_mels,
        "Mel bands of the Griffin-Lim input (default 80)", "N" },
    { "f-min", 0, 0, G_OPTION_ARG_DOUBLE, &f_min,
        "Lowest mel frequency (default 0)", "HZ" },
    { "f-max", 0, 0, G_OPTION_ARG_DOUBLE, &f_max,
        "Highest mel frequency (default rate / 2)", "HZ" },
    { NULL } };
  g_autoptr (GOptionContext) ctx =
      g_option_context_new ("REF.wav TEST.wav — log-spectral distance of TEST "
                            "to REF");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_set_description (ctx,
      "The distance is the mean over frames of the RMS over frequency bins of "
      "the dB\n"
      "difference of the two magnitude spectra (STFT with the mel front end's "
      "framing\n"
      "and Hann window), over the frames of REF within 60 dB of its loudest; "
      "the\n"
      "shorter file's length is used.  Both files are mixed to mono.\n");
  GError *error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    fprintf (stderr, "argen audio-compare: %s\n", error->message);
    g_error_free (error);
    return 2;
  }
  if (argc != 3 || iterations < 0 || iterations > 10000) {
    fprintf (stderr,
        "argen audio-compare: usage: argen audio-compare REF.wav TEST.wav "
        "[--griffin-lim OUT.wav] [--iterations N] [--mulaw [--pre-emphasis "
        "A]] [--rate HZ] [--n-mels N] …\n");
    return 2;
  }
  if (!(pre_emphasis >= 0.0 && pre_emphasis <= AR_WAVENET_MAX_PRE_EMPHASIS)) {
    fprintf (stderr,
        "argen audio-compare: --pre-emphasis %g is out of range (0 … %g)\n",
        pre_emphasis, (double) AR_WAVENET_MAX_PRE_EMPHASIS);
    return 2;
  }
  p.sample_rate = rate;
  p.n_fft = n_fft;
  p.win_length = win;
  p.hop = hop;
  p.n_mels = n_mels;
  p.f_min = (float) f_min;
  p.f_max = f_max < 0 ? rate / 2.0f : (float) f_max;
  g_autoptr (ArMel) mel = ar_mel_new (&p, &error);
  g_autofree float *ref = NULL, *test = NULL;
  gsize n_ref = 0, n_test = 0;
  if (mel == NULL || !ar_audio_read (argv[1], rate, &ref, &n_ref, &error) ||
      !ar_audio_read (argv[2], rate, &test, &n_test, &error)) {
    fprintf (stderr, "argen audio-compare: %s\n", error->message);
    g_error_free (error);
    return 1;
  }
  if (n_ref == 0 || n_test == 0) {
    fprintf (stderr, "argen audio-compare: %s: no samples to compare\n",
        n_ref == 0 ? argv[1] : argv[2]);
    return 1;
  }
  gsize n = MIN (n_ref, n_test);
  if (n_ref != n_test)
    fprintf (stderr,
        "argen audio-compare: the files differ in length (%" G_GSIZE_FORMAT
        " and %" G_GSIZE_FORMAT
        " samples at %d Hz); comparing the first %" G_GSIZE_FORMAT "\n",
        n_ref, n_test, rate, n);
  printf ("%s: log-spectral distance to %s: %.3f dB (%" G_GSIZE_FORMAT
          " samples, %.2f s)\n",
      argv[2], argv[1], ar_mel_log_spectral_distance (mel, ref, test, n), n,
      (double) n / rate);
  if (bands) {
    /* octaves from 125 Hz up to half the rate; below 125 Hz one band (a
     * handful of bins) */
    double edges[32], dist[31], level[31];
    guint n_bands = 0;

    edges[0] = 0;
    for (double hi = 125; n_bands < 31; hi *= 2) {
      edges[++n_bands] = MIN (hi, rate / 2.0);
      if (hi >= rate / 2.0)
        break;
    }
    ar_mel_log_spectral_distance_bands (mel, ref, test, n, edges, n_bands,
        dist, level);
    for (guint i = 0; i < n_bands; i++)
      printf ("  %5.0f-%-5.0f Hz: %7.3f dB, level %+7.3f dB\n", edges[i],
          edges[i + 1], dist[i], level[i]);
  }

  if (levels)
    print_levels (mel, ref, test, n);

  if (mulaw) {
    g_autofree float *q = g_new (float, MAX (n_ref, 1));
    memcpy (q, ref, n_ref * sizeof (float));
    ar_audio_pre_emphasize (q, n_ref, (float) pre_emphasis);
    for (gsize i = 0; i < n_ref; i++)
      q[i] = ar_mulaw_decode (ar_mulaw_encode (q[i]));
    /* unclipped, like the stream's state; a model's output is clipped, which
     * matters only for peaks near full scale */
    ar_audio_de_emphasize (q, n_ref, (float) pre_emphasis, NULL);
    if (pre_emphasis > 0)
      printf ("%s coded to 8-bit µ-law and back (pre-emphasis %g): %.3f dB\n",
          argv[1], pre_emphasis,
          ar_mel_log_spectral_distance (mel, ref, q, n_ref));
    else
      printf ("%s coded to 8-bit µ-law and back: %.3f dB\n", argv[1],
          ar_mel_log_spectral_distance (mel, ref, q, n_ref));
    if (levels)
      print_levels (mel, ref, q, n_ref);
  }

  if (gl_out != NULL) {
    gsize nf = ar_mel_n_frames (mel, n_ref);
    g_autofree float *frames = g_new (float, nf *p.n_mels);
    g_autofree float *gl = g_new (float, MAX (n_ref, 1));
    ar_mel_compute (mel, ref, n_ref, frames);
    ar_mel_griffin_lim (mel, frames, n_ref, iterations, (guint64) seed, gl);
    if (!ar_audio_write_wav (gl_out, gl, n_ref, rate, &error)) {
      fprintf (stderr, "argen audio-compare: %s\n", error->message);
      g_error_free (error);
      return 1;
    }
    printf ("%s: Griffin-Lim (%d iterations) from %d mels of %s: %.3f dB\n",
        gl_out, iterations, p.n_mels, argv[1],
        ar_mel_log_spectral_distance (mel, ref, gl, n_ref));
    if (levels)
      print_levels (mel, ref, gl, n_ref);
  }
  return 0;
}

/* ---- baselines ---------------------------------------------------------- */

/* Reads every file of @paths at @rate into @signals (and @buffers, which
 * own the samples), pre-emphasised by @alpha (0: as read). */
static gboolean
read_all (GPtrArray *paths, int rate, float alpha, GArray *signals,
    GPtrArray *buffers, GError **error)
{
  for (guint i = 0; i < paths->len; i++) {
    float *x = NULL;
    gsize n = 0;
    if (!ar_audio_read (g_ptr_array_index (paths, i), rate, &x, &n, error))
      return FALSE;
    ar_audio_pre_emphasize (x, n, alpha);
    g_ptr_array_add (buffers, x);
    ArAudioSignal s = { x, n };
    g_array_append_val (signals, s);
  }
  return TRUE;
}

int
argen_cmd_baselines (int argc, char **argv)
{
  g_autofree char *data = NULL;
  gint every = 20, rate = 8000, order = 16;
  gdouble pre_emphasis = 0.0;
  gboolean list = FALSE;
  GOptionEntry entries[] = {
    { "data", 'd', 0, G_OPTION_ARG_FILENAME, &data,
        "Audio files: a directory (searched recursively), a glob or one file",
        "DIR|GLOB" },
    { "holdout-every", 0, 0, G_OPTION_ARG_INT, &every,
        "Hold out file i of the sorted list when i % N == 0 (default 20)",
        "N" },
    { "rate", 'r', 0, G_OPTION_ARG_INT, &rate, "Sample rate (default 8000)",
        "HZ" },
    { "order", 0, 0, G_OPTION_ARG_INT, &order,
        "Linear predictor order (default 16)", "P" },
    { "pre-emphasis", 0, 0, G_OPTION_ARG_DOUBLE, &pre_emphasis,
        "Score the classes of the pre-emphasised signal e_t = s_t − A s_{t−1} "
        "(per file), what a model trained with --pre-emphasis A predicts "
        "(0 … 0.99, default 0)",
        "A" },
    { "list", 0, 0, G_OPTION_ARG_NONE, &list, "Also list the held-out files",
        NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx =
      g_option_context_new ("— unigram and linear-prediction bits per µ-law "
                            "sample");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_set_description (ctx,
      "The files are sorted by path; with --holdout-every N, file i (counting "
      "from 0)\n"
      "is held out when i % N == 0 (N = 20: files 0, 20, 40, …), the "
      "convention\n"
      "`argen train wavenet` uses too.  Every file is mixed to mono and "
      "resampled to\n"
      "--rate.  Both baselines are fitted on the other files and scored on the "
      "held-out\n"
      "ones, in bits per sample of the model's 8-bit µ-law classes (µ = 255):\n"
      "  unigram   the class histogram, add-one smoothed;\n"
      "  LPC       one order-P linear predictor (autocorrelation, "
      "Levinson-Durbin) with\n"
      "            a Laplace residual; a sample costs the Laplace mass of its "
      "class.\n"
      "The unigram fitted on the held-out files themselves is shown as well "
      "(an\n"
      "optimistic bound, not a baseline).\n");
  GError *error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    fprintf (stderr, "argen baselines: %s\n", error->message);
    g_error_free (error);
    return 2;
  }
  if (argc != 1 || data == NULL || every < 2 || rate <= 0 ||
      !(pre_emphasis >= 0.0 && pre_emphasis <= AR_WAVENET_MAX_PRE_EMPHASIS)) {
    fprintf (stderr,
        "argen baselines: usage: argen baselines --data DIR|GLOB "
        "[--holdout-every N (>= 2)] [--rate HZ] [--order P] [--pre-emphasis "
        "A (0 … 0.99)]\n");
    return 2;
  }

  g_autoptr (GPtrArray) files = ar_audio_list_files (data, &error);
  if (files == NULL) {
    fprintf (stderr, "argen baselines: %s\n", error->message);
    g_error_free (error);
    return 1;
  }
  g_autoptr (GPtrArray) train = NULL, held = NULL;
  ar_audio_split_holdout (files, (guint) every, &train, &held);
  if (held->len == 0) {
    fprintf (stderr,
        "argen baselines: %u files: none is held out with --holdout-every %d\n",
        files->len, every);
    return 1;
  }
  g_autoptr (GArray) train_sig =
      g_array_new (FALSE, FALSE, sizeof (ArAudioSignal));
  g_autoptr (GArray) held_sig =
      g_array_new (FALSE, FALSE, sizeof (ArAudioSignal));
  g_autoptr (GPtrArray) buffers = g_ptr_array_new_with_free_func (g_free);
  ArAudioBaselines b;
  if (!read_all (train, rate, (float) pre_emphasis, train_sig, buffers,
          &error) ||
      !read_all (held, rate, (float) pre_emphasis, held_sig, buffers, &error) ||
      !ar_audio_baselines ((ArAudioSignal *) train_sig->data, train_sig->len,
          (ArAudioSignal *) held_sig->data, held_sig->len, order, &b, &error)) {
    fprintf (stderr, "argen baselines: %s\n", error->message);
    g_error_free (error);
    return 1;
  }
  if (b.n_held == 0) {
    fprintf (stderr,
        "argen baselines: %s: nothing to score: the %u held-out files have "
        "no samples\n",
        data, held->len);
    return 1;
  }
  if (list)
    for (guint i = 0; i < held->len; i++)
      printf ("held out: %s\n", (const char *) g_ptr_array_index (held, i));
  printf ("%s: %u files at %d Hz; %u held out (1 file in %d): %" G_GUINT64_FORMAT
          " samples (%.1f s), trained on %" G_GUINT64_FORMAT
          " samples (%.1f s)\n",
      data, files->len, rate, held->len, every, b.n_held,
      (double) b.n_held / rate, b.n_train, (double) b.n_train / rate);
  if (pre_emphasis > 0)
    printf ("of the pre-emphasised signal e_t = s_t − %g s_{t−1}:\n",
        pre_emphasis);
  printf ("unigram (µ-law class histogram, add-one):  %.4f bits/sample\n",
      b.unigram_bits);
  printf ("LPC%-2d (Laplace residual, b = %.5f):      %.4f bits/sample\n",
      order, b.lpc.scale, b.lpc_bits);
  printf ("unigram fitted on the held-out files (oracle, not a baseline): %.4f "
          "bits/sample\n",
      b.unigram_oracle_bits);
  return 0;
}
