/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-wavenet.c — WaveNet generation speed: samples per second, real-time
 * factor (generated samples per second ÷ the model's sample rate) and
 * achieved GFLOP/s (2 × multiply-adds per sample × samples per second) of
 * the incremental generator (ArWaveNetGen; ArWaveNetVocoder for a mel-
 * conditioned model, analysis included), with F32 and F16 weights, on one
 * thread and on two, next to naive generation: every sample recomputed by
 * ar_wavenet_forward_full over the last receptive field of samples (F32,
 * one thread, BLAS on one thread).
 *
 * Models: the reference shape of issue 4 with random weights
 * (AR_WAVENET_CONFIG_REFERENCE: 2 stacks × 10 layers, R 64, G 128, S 128,
 * O 128, 16 kHz); the shape `argen train wavenet` trains by default (8 kHz,
 * 2 × 8 layers, R 32, G 64, S 64, O 128), unconditional and as a vocoder
 * (64 conditioning channels, 80 mels, hop 80), with random weights (speed
 * does not depend on the values); then every --model FILE.  Generation samples at
 * temperature 1.  Each figure is the best of --repeat runs of --seconds
 * seconds of audio (the machine is shared: run it when it is quiet).
 *
 * --only F32:1 (or F16:2, …) times just that row of the reference shape,
 * for profiling (perf record -- bench-wavenet --only F16:1).
 *
 * usage: bench-wavenet [--model FILE]… [--models-only] [--seconds 2]
 *                      [--repeat 3] [--naive-samples 8]
 *                      [--only WEIGHTS:THREADS] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ar-kernels.h"
#include "core/ar-threadpool.h"
#include "data/ar-mel.h"
#include "wavenet/ar-wavenet.h"

static double opt_seconds = 2.0;
static int opt_repeat = 3;
static int opt_naive = 8;
static char **opt_models;
static char *opt_only;
static gboolean opt_models_only;

/* Samples per second of generating @n samples with @wn on @pool (NULL: one
 * thread), best of opt_repeat. */
static double
time_generation (ArWaveNet *wn, ArThreadPool *pool, gsize n)
{
  const ArWaveNetConfig *c = ar_wavenet_get_config (wn);
  double best = 0.0;

  if (c->cond_channels == 0) {
    g_autoptr (ArWaveNetGen) g = ar_wavenet_gen_new (wn);
    g_autofree guint8 *out = g_new (guint8, n);

    ar_wavenet_gen_set_threadpool (g, pool);
    ar_wavenet_gen_reset (g, 1);
    /* warm up: caches, the pool's worker */
    ar_wavenet_gen_generate (g, out, MIN (n, 2000));
    for (int r = 0; r < opt_repeat; r++) {
      gint64 t0;
      double s;

      ar_wavenet_gen_reset (g, 1 + r);
      t0 = g_get_monotonic_time ();
      ar_wavenet_gen_generate (g, out, n);
      s = (g_get_monotonic_time () - t0) / 1e6;
      best = MAX (best, n / s);
    }
  } else {
    /* the vocoder stream over a synthetic input: two tones */
    g_autoptr (ArWaveNetVocoder) v = ar_wavenet_vocoder_new (wn, NULL);
    g_autofree float *in = g_new (float, n);
    g_autofree float *out = g_new (float, n);

    for (gsize i = 0; i < n; i++)
      in[i] = 0.3f * sinf (0.05f * i) + 0.2f * sinf (0.31f * i);
    ar_wavenet_vocoder_set_threadpool (v, pool);
    for (int r = 0; r < opt_repeat + 1; r++) {
      gsize got = 0;
      gint64 t0;
      double s;

      ar_wavenet_vocoder_reset (v, 1 + r);
      t0 = g_get_monotonic_time ();
      /* in buffers of 1024, as an element would */
      for (gsize at = 0; at < n; at += 1024) {
        ar_wavenet_vocoder_push (v, in + at, MIN (1024, n - at));
        got += ar_wavenet_vocoder_pull (v, out + got, n - got);
      }
      ar_wavenet_vocoder_drain (v);
      got += ar_wavenet_vocoder_pull (v, out + got, n - got);
      s = (g_get_monotonic_time () - t0) / 1e6;
      g_assert (got == n);
      /* run 0 warms up */
      if (r > 0)
        best = MAX (best, n / s);
    }
  }
  return best;
}

/* Samples per second of naive generation: each sample from
 * ar_wavenet_forward_full over the receptive field before it. */
static double
time_naive (ArWaveNet *wn)
{
  const ArWaveNetConfig *c = ar_wavenet_get_config (wn);
  gsize rf = ar_wavenet_receptive_field (wn);
  g_autofree guint8 *x = g_new (guint8, rf);
  g_autofree float *logits = g_new (float, rf * c->quantization);
  g_autofree float *frames = NULL;
  gsize n_frames = 0;
  gint64 t0;

  memset (x, c->quantization / 2, rf);
  if (c->cond_channels > 0) {
    /* the products cost the same whatever the frames hold: silence */
    g_autoptr (ArMel) mel = ar_mel_new (&c->mel, NULL);
    g_autofree float *quiet = NULL;

    n_frames = ar_mel_n_frames (mel, rf + 1) + 2;
    quiet = g_new0 (float, (n_frames - 1) * c->mel.hop);
    frames = g_new (float, n_frames * c->mel.n_mels);
    ar_mel_compute (mel, quiet, (n_frames - 1) * c->mel.hop, frames);
  }
  t0 = g_get_monotonic_time ();
  for (int i = 0; i < opt_naive; i++) {
    float *last;
    int best = 0;

    ar_wavenet_forward_full (wn, x, rf, frames, n_frames, -1, logits);
    last = logits + (rf - 1) * c->quantization;
    for (int q = 1; q < c->quantization; q++)
      if (last[q] > last[best])
        best = q;
    memmove (x, x + 1, rf - 1);
    x[rf - 1] = (guint8) best;
  }
  return opt_naive / ((g_get_monotonic_time () - t0) / 1e6);
}

static void
bench_model (ArWaveNet *wn, const char *name, ArThreadPool *pool)
{
  const ArWaveNetConfig *c = ar_wavenet_get_config (wn);
  guint64 macs = ar_wavenet_macs_per_sample (wn);
  gsize n = (gsize) (opt_seconds * c->sample_rate);
  g_autoptr (ArWaveNet) f32 = NULL;
  g_autoptr (ArWaveNet) f16 = ar_wavenet_to_f16 (wn);
  double one_f32 = 0.0, naive;

  /* the F32 rows use an F32 copy (of a model from an F16 file: its F16
   * values in F32 storage) */
  {
    g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
    g_autoptr (GBytes) bytes = NULL;
    g_autoptr (ArGguf) f = NULL;

    ar_wavenet_write (wn, w, FALSE);
    bytes = ar_gguf_writer_to_bytes (w);
    f = ar_gguf_new_from_bytes (bytes, name, NULL);
    f32 = ar_wavenet_new_from_gguf (f, NULL);
  }

  printf ("\n%s: %d Hz, %d×%d layers, R %d, G %d, S %d, O %d%s, "
          "%" G_GUINT64_FORMAT " MACs/sample, receptive field %" G_GSIZE_FORMAT
          " samples\n",
      name, c->sample_rate, c->stacks, c->layers_per_stack, c->residual,
      c->gate, c->skip, c->output,
      c->cond_channels > 0 ? " (vocoder stream)" : "", macs,
      ar_wavenet_receptive_field (wn));
  printf ("  %-8s %-8s %12s %12s %10s\n", "weights", "threads", "samples/s",
      "× real time", "GFLOP/s");
  for (int h = 0; h < 2; h++) {
    for (int t = 1; t <= 2; t++) {
      double sps = time_generation (h ? f16 : f32, t == 2 ? pool : NULL, n);

      if (h == 0 && t == 1)
        one_f32 = sps;
      printf ("  %-8s %-8d %12.0f %12.2f %10.2f\n", h ? "F16" : "F32", t, sps,
          sps / c->sample_rate, 2.0 * macs * sps / 1e9);
      fflush (stdout);
    }
  }
  naive = time_naive (f32);
  printf ("  %-8s %-8d %12.2f %12.5f %10.2f   naive: forward_full over the "
          "receptive field per sample\n",
      "F32", 1, naive, naive / c->sample_rate,
      2.0 * macs * ar_wavenet_receptive_field (wn) * naive / 1e9);
  printf ("  incremental (F32, 1 thread) / naive: %.0f×\n", one_f32 / naive);
}

int
main (int argc, char **argv)
{
  GOptionEntry entries[] = {
    { "model", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &opt_models,
        "Also benchmark this model file (repeatable)", "FILE" },
    { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &opt_seconds,
        "Seconds of audio per run (default 2)", "S" },
    { "repeat", 0, 0, G_OPTION_ARG_INT, &opt_repeat,
        "Runs per figure, the best kept (default 3)", "N" },
    { "naive-samples", 0, 0, G_OPTION_ARG_INT, &opt_naive,
        "Samples of naive generation to time (default 8)", "N" },
    { "models-only", 0, 0, G_OPTION_ARG_NONE, &opt_models_only,
        "Only the --model files, not the built-in shapes", NULL },
    { "only", 0, 0, G_OPTION_ARG_STRING, &opt_only,
        "Time only this row of the reference shape (F32:1, F16:2, …)",
        "WEIGHTS:THREADS" },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
  };
  g_autoptr (GOptionContext) ctx =
      g_option_context_new ("— WaveNet generation speed");
  g_autoptr (ArThreadPool) pool = ar_threadpool_new (2);
  ArWaveNetConfig ref = AR_WAVENET_CONFIG_REFERENCE;
  GError *error = NULL;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    fprintf (stderr, "bench-wavenet: %s\n", error->message);
    return 2;
  }
  if (opt_seconds <= 0 || opt_repeat < 1 || opt_naive < 1) {
    fprintf (stderr,
        "bench-wavenet: --seconds, --repeat and --naive-samples "
        "must be positive\n");
    return 2;
  }
  /* the naive path's sgemm calls on one thread, like everything else */
  g_setenv ("OPENBLAS_NUM_THREADS", "1", FALSE);
  printf ("SIMD level: %s; F16 rows: weights rounded to F16 and read as "
          "F16\n",
      ar_simd_level_name (ar_simd_get_level ()));
  if (opt_only) {
    g_autoptr (ArWaveNet) wn = ar_wavenet_new_random (&ref, 1, &error);
    g_autoptr (ArWaveNet) h = ar_wavenet_to_f16 (wn);
    gboolean f16 = g_str_has_prefix (opt_only, "F16");
    int threads =
        strchr (opt_only, ':') ? atoi (strchr (opt_only, ':') + 1) : 1;
    double sps = time_generation (f16 ? h : wn, threads == 2 ? pool : NULL,
        (gsize) (opt_seconds * ref.sample_rate));

    printf ("reference shape, %s: %.0f samples/s, %.2f × real time\n", opt_only,
        sps, sps / ref.sample_rate);
    g_free (opt_only);
    return 0;
  }
  if (!opt_models_only) {
    g_autoptr (ArWaveNet) wn = ar_wavenet_new_random (&ref, 1, &error);

    g_assert_no_error (error);
    bench_model (wn, "reference shape (random weights)", pool);
  }
  if (!opt_models_only) {
    ArWaveNetConfig def = { 8000, 256, 32, 64, 64, 128, 2, 8, 0, 0,
      AR_MEL_PARAMS_INIT, 0.0f };
    g_autoptr (ArWaveNet) wn = ar_wavenet_new_random (&def, 1, &error);
    g_autoptr (ArWaveNet) voc = NULL;

    g_assert_no_error (error);
    bench_model (wn, "default 8 kHz shape (random weights)", pool);
    def.cond_channels = 64;
    voc = ar_wavenet_new_random (&def, 1, &error);
    g_assert_no_error (error);
    bench_model (voc, "default 8 kHz vocoder shape (random weights)", pool);
  }
  for (int i = 0; opt_models && opt_models[i]; i++) {
    g_autoptr (ArGguf) f = ar_gguf_new_from_file (opt_models[i], &error);
    g_autoptr (ArWaveNet) wn = f ? ar_wavenet_new_from_gguf (f, &error) : NULL;

    if (wn == NULL) {
      fprintf (stderr, "bench-wavenet: %s\n", error->message);
      g_clear_error (&error);
      continue;
    }
    bench_model (wn, opt_models[i], pool);
  }
  g_strfreev (opt_models);
  return 0;
}
