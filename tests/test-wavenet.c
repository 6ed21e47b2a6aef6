/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-wavenet.c — the WaveNet family (ar-wavenet.h): the generation
 * kernels against their plain-C reference, the incremental generator
 * against the full causal forward, sampling, threads, F16 weights, the
 * vocoder stream against the full forward over the mel front end, model
 * files and their errors.
 *
 * Tolerances (max |Δ logit| over every logit of a run, relative to
 * 1 + max |logit|):
 *   - incremental vs full forward, same weights: 2e-5.  Both compute in
 *     float; they differ in summation order (BLAS vs the step kernels) and
 *     in the AVX2 gate's polynomial exponential (a few ulp of expf).
 *   - F16 weights vs F32: 2e-2 here — rounding every weight to 11
 *     significant bits moves a logit by about 2^-11 times the root of the
 *     number of terms in each product, compounded over the layers; the
 *     measured figure is printed with --verbose. */
#include <math.h>
#include <string.h>

#include "core/ar-kernels.h"
#include "core/ar-rng.h"
#include "core/ar-sample.h"
#include "core/ar-threadpool.h"
#include "data/ar-audio.h"
#include "data/ar-mel.h"
#include "wavenet/ar-wavenet.h"
#include "wavenet/ar-wavenet-private.h"
#include "test-util.h"

#define TOL_INCREMENTAL 2e-5
#define TOL_F16 2e-2

/* A configuration of the given sizes, 8 kHz, no conditioning. */
static ArWaveNetConfig
config (int R, int G, int S, int O, int stacks, int layers)
{
  ArWaveNetConfig c = AR_WAVENET_CONFIG_REFERENCE;

  c.sample_rate = 8000;
  c.residual = R;
  c.gate = G;
  c.skip = S;
  c.output = O;
  c.stacks = stacks;
  c.layers_per_stack = layers;
  return c;
}

/* max |a − b| / (1 + max |b|) over n values */
static double
rel_diff (const float *a, const float *b, gsize n)
{
  double d = 0.0, m = 0.0;

  for (gsize i = 0; i < n; i++) {
    d = MAX (d, fabs ((double) a[i] - b[i]));
    m = MAX (m, fabs ((double) b[i]));
  }
  return d / (1.0 + m);
}

/* n pseudo-random classes that look a little like audio: a random walk. */
static guint8 *
random_classes (gsize n, guint64 seed)
{
  guint8 *x = g_new (guint8, n);
  ArRng rng;
  int v = 128;

  ar_rng_init (&rng, seed);
  for (gsize i = 0; i < n; i++) {
    v += (int) ar_rng_below (&rng, 41) - 20;
    v = CLAMP (v, 0, 255);
    x[i] = (guint8) v;
  }
  return x;
}

/* ---- kernels ---------------------------------------------------------- */

/* The SIMD kernels against the plain-C ones, and each level's rows
 * identical bit for bit however the rows are split between calls. */
static void
test_kernels (void)
{
  static const int shapes[][2] = {
    { 1, 1 },
    { 3, 7 },
    { 4, 8 },
    { 5, 16 },
    { 13, 24 },
    { 64, 128 },
    { 37, 41 },
  };
  const ArWaveNetKernels *levels[2] = { &ar_wavenet_kernels_c, NULL };
  ArRng rng;

#ifdef AR_WAVENET_HAVE_AVX2
  if (ar_simd_detect () >= AR_SIMD_AVX2)
    levels[1] = &ar_wavenet_kernels_avx2;
#endif
  ar_rng_init (&rng, 7);
  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++) {
    int rows = shapes[s][0], cols = shapes[s][1];
    g_autofree float *W = g_new (float, rows *cols);
    g_autofree guint16 *W16 = g_new (guint16, rows * cols);
    g_autofree float *W16f = g_new (float, rows *cols);
    g_autofree float *x = g_new (float, cols);
    g_autofree float *b = g_new (float, rows);
    g_autofree float *y0 = g_new (float, rows);
    g_autofree float *ref = g_new (float, rows);
    g_autofree float *y = g_new (float, rows);
    g_autofree float *yy = g_new (float, rows);

    for (int i = 0; i < rows * cols; i++) {
      W[i] = ar_rng_normal (&rng);
      W16[i] = ar_f32_to_f16 (W[i]);
      W16f[i] = ar_f16_to_f32 (W16[i]);
    }
    for (int i = 0; i < cols; i++)
      x[i] = ar_rng_normal (&rng);
    for (int i = 0; i < rows; i++) {
      b[i] = ar_rng_normal (&rng);
      y0[i] = ar_rng_normal (&rng);
    }

    for (int acc = 0; acc < 2; acc++) {
      for (int f16 = 0; f16 < 2; f16++) {
        /* double-precision reference */
        for (int r = 0; r < rows; r++) {
          double sum = 0.0;

          for (int c = 0; c < cols; c++)
            sum += (double) (f16 ? W16f : W)[r * cols + c] * x[c];
          ref[r] = (float) ((acc ? y0[r] : 0.0) + sum + b[r]);
        }
        for (int lv = 0; lv < 2; lv++) {
          const ArWaveNetKernels *k = levels[lv];

          if (k == NULL)
            continue;
          memcpy (y, y0, rows * sizeof (float));
          if (f16)
            k->matvec_f16 (y, W16, x, b, rows, cols, acc);
          else
            k->matvec (y, W, x, b, rows, cols, acc);
          g_assert_cmpfloat (rel_diff (y, ref, rows), <, 1e-5);
          /* every split point: the same bits */
          for (int at = 1; at < rows; at++) {
            memcpy (yy, y0, rows * sizeof (float));
            if (f16) {
              k->matvec_f16 (yy, W16, x, b, at, cols, acc);
              k->matvec_f16 (yy + at, W16 + at * cols, x, b + at, rows - at,
                  cols, acc);
            } else {
              k->matvec (yy, W, x, b, at, cols, acc);
              k->matvec (yy + at, W + at * cols, x, b + at, rows - at, cols,
                  acc);
            }
            g_assert_cmpmem (yy, rows * sizeof (float), y,
                rows * sizeof (float));
          }
        }
      }
    }
  }

  /* the gate, over the range that matters and beyond */
  {
    enum
    {
      N = 203
    };
    float zt[N], zs[N], u[N], uu[N];

    for (int i = 0; i < N; i++) {
      zt[i] = (i - N / 2) * 0.25f;
      zs[i] = (N / 2 - i) * 0.3f + 0.1f;
    }
    zt[0] = -100.0f;
    zs[1] = 200.0f;
    zs[2] = -200.0f;
    for (int lv = 0; lv < 2; lv++) {
      const ArWaveNetKernels *k = levels[lv];

      if (k == NULL)
        continue;
      k->gate (u, zt, zs, N);
      for (int i = 0; i < N; i++) {
        double want = tanh (zt[i]) / (1.0 + exp (-(double) zs[i]));

        g_assert_cmpfloat (fabs (u[i] - want), <, 1e-6);
      }
      for (int at = 1; at < N; at += 5) {
        k->gate (uu, zt, zs, at);
        k->gate (uu + at, zt + at, zs + at, N - at);
        g_assert_cmpmem (uu, sizeof uu, u, sizeof u);
      }
    }
  }
}

/* ---- incremental vs full ---------------------------------------------- */

typedef struct
{
  const char *name;
  ArWaveNetConfig config;
  int global_class;
} Shape;

/* Feeds @n classes through a generator and compares with forward_full. */
static void
check_feed (ArWaveNet *wn, int global_class, gsize n, guint64 seed, double tol)
{
  const ArWaveNetConfig *c = ar_wavenet_get_config (wn);
  g_autofree guint8 *x = random_classes (n, seed);
  g_autofree float *full = g_new (float, n * c->quantization);
  g_autofree float *inc = g_new (float, n * c->quantization);
  g_autoptr (ArWaveNetGen) g = ar_wavenet_gen_new (wn);
  gsize half = n / 3;
  double d;

  ar_wavenet_forward_full (wn, x, n, NULL, 0, global_class, full);
  g_assert_true (ar_wavenet_gen_set_global_class (g, global_class, NULL));
  ar_wavenet_gen_reset (g, 1);
  /* in two calls: the queues carry over */
  ar_wavenet_gen_feed (g, x, half, inc);
  ar_wavenet_gen_feed (g, x + half, n - half, inc + half * c->quantization);
  d = rel_diff (inc, full, n * c->quantization);
  g_test_message ("feed vs full: %.3g (tolerance %.3g)", d, tol);
  g_assert_cmpfloat (d, <, tol);

  /* a reset starts over from silence (stale queues would show at once) */
  ar_wavenet_gen_reset (g, 2);
  ar_wavenet_gen_feed (g, x, half, inc);
  g_assert_cmpfloat (rel_diff (inc, full, half * c->quantization), <, tol);
}

static void
test_feed_vs_full (gconstpointer data)
{
  const Shape *s = data;
  ArSimdLevel saved = ar_simd_get_level ();
  GError *error = NULL;
  g_autoptr (ArWaveNet) wn = ar_wavenet_new_random (&s->config, 11, &error);
  gsize n;

  g_assert_no_error (error);
  /* several receptive fields */
  n = 2 * ar_wavenet_receptive_field (wn) + 17;
  check_feed (wn, s->global_class, n, 5, TOL_INCREMENTAL);
  /* the plain-C kernels too */
  g_assert_true (ar_simd_set_level (AR_SIMD_C));
  check_feed (wn, s->global_class, n, 6, TOL_INCREMENTAL);
  ar_simd_set_level (saved);
}

static const Shape shapes[] = {
  { "small", { 8000, 256, 8, 12, 10, 12, 2, 3, 0, 0, AR_MEL_PARAMS_INIT }, -1 },
  /* sizes that are not multiples of anything: kernel tails everywhere */
  { "odd", { 8000, 256, 5, 6, 7, 9, 1, 4, 0, 0, AR_MEL_PARAMS_INIT }, -1 },
  { "one-layer", { 8000, 256, 4, 2, 3, 5, 1, 1, 0, 0, AR_MEL_PARAMS_INIT },
      -1 },
  { "global", { 16000, 256, 16, 24, 20, 18, 2, 4, 3, 0, AR_MEL_PARAMS_INIT },
      2 },
  { "global-none",
      { 16000, 256, 16, 24, 20, 18, 1, 5, 3, 0, AR_MEL_PARAMS_INIT }, -1 },
  { "wide", { 8000, 256, 32, 64, 48, 40, 3, 5, 0, 0, AR_MEL_PARAMS_INIT }, -1 },
};

/* ---- sampling --------------------------------------------------------- */

static void
test_generate_seeds (void)
{
  ArWaveNetConfig c = config (8, 12, 10, 12, 2, 3);
  g_autoptr (ArWaveNet) wn = ar_wavenet_new_random (&c, 3, NULL);
  g_autoptr (ArWaveNetGen) g = ar_wavenet_gen_new (wn);
  enum
  {
    N = 500
  };
  guint8 a[N], b[N], d[N];

  ar_wavenet_gen_set_temperature (g, 1.0f);
  ar_wavenet_gen_reset (g, 42);
  ar_wavenet_gen_generate (g, a, N);
  ar_wavenet_gen_reset (g, 42);
  /* in pieces: the same stream */
  ar_wavenet_gen_generate (g, b, 1);
  ar_wavenet_gen_generate (g, b + 1, 200);
  ar_wavenet_gen_generate (g, b + 201, N - 201);
  g_assert_cmpmem (a, N, b, N);
  ar_wavenet_gen_reset (g, 43);
  ar_wavenet_gen_generate (g, d, N);
  g_assert_true (memcmp (a, d, N) != 0);
}

/* Greedy generation is the argmax of the full forward over the generated
 * sequence (after its silence prime). */
static void
test_greedy_vs_full (void)
{
  ArWaveNetConfig c = config (8, 12, 10, 12, 2, 3);
  g_autoptr (ArWaveNet) wn = ar_wavenet_new_random (&c, 4, NULL);
  g_autoptr (ArWaveNetGen) g = ar_wavenet_gen_new (wn);
  enum
  {
    N = 300
  };
  guint8 out[N], seq[N];
  g_autofree float *logits = g_new (float, N * 256);
  int mismatches = 0;

  ar_wavenet_gen_set_temperature (g, 0.0f);
  ar_wavenet_gen_reset (g, 1);
  ar_wavenet_gen_generate (g, out, N);
  seq[0] = 128;
  memcpy (seq + 1, out, N - 1);
  ar_wavenet_forward_full (wn, seq, N, NULL, 0, -1, logits);
  for (int t = 0; t < N; t++) {
    guint best = ar_argmax (logits + t * 256, 256);

    if (best != out[t]) {
      /* only a near tie may go either way */
      float gap = fabsf (logits[t * 256 + best] - logits[t * 256 + out[t]]);

      g_assert_cmpfloat (gap, <, 1e-4);
      mismatches++;
    }
  }
  g_assert_cmpint (mismatches, <=, 1);
  /* not a constant: the random network goes somewhere */
  g_assert_true (memchr (out, out[0] ^ 1, N) != NULL ||
      memcmp (out, out + 1, N - 1) != 0);
}

/* Teacher forcing then generation: the generated samples continue the fed
 * ones (feed is "as if it had been generated"). */
static void
test_feed_then_generate (void)
{
  ArWaveNetConfig c = config (8, 12, 10, 12, 1, 4);
  g_autoptr (ArWaveNet) wn = ar_wavenet_new_random (&c, 8, NULL);
  g_autoptr (ArWaveNetGen) g = ar_wavenet_gen_new (wn);
  enum
  {
    P = 40,
    N = 30
  };
  g_autofree guint8 *prompt = random_classes (P, 9);
  guint8 seq[P + N], out[N];
  g_autofree float *logits = g_new (float, (P + N) * 256);

  ar_wavenet_gen_set_temperature (g, 0.0f);
  ar_wavenet_gen_reset (g, 0);
  ar_wavenet_gen_feed (g, prompt, P, logits);
  ar_wavenet_gen_generate (g, out, N);
  memcpy (seq, prompt, P);
  memcpy (seq + P, out, N);
  ar_wavenet_forward_full (wn, seq, P + N, NULL, 0, -1, logits);
  for (int i = 0; i < N; i++)
    g_assert_cmpuint (ar_argmax (logits + (P - 1 + i) * 256, 256), ==, out[i]);
}

/* Generation then teacher forcing: the last sample drawn is history for
 * the samples fed after it. */
static void
test_generate_then_feed (void)
{
  ArWaveNetConfig c = config (8, 12, 10, 12, 1, 4);
  g_autoptr (ArWaveNet) wn = ar_wavenet_new_random (&c, 18, NULL);
  g_autoptr (ArWaveNetGen) g = ar_wavenet_gen_new (wn);
  enum
  {
    N = 25,
    M = 30
  };
  g_autofree guint8 *x = random_classes (M, 19);
  guint8 seq[1 + N + M];
  g_autofree float *full = g_new (float, (1 + N + M) * 256);
  g_autofree float *inc = g_new (float, M * 256);

  ar_wavenet_gen_reset (g, 3);
  ar_wavenet_gen_generate (g, seq + 1, N);
  ar_wavenet_gen_feed (g, x, M, inc);
  seq[0] = 128;
  memcpy (seq + 1 + N, x, M);
  ar_wavenet_forward_full (wn, seq, 1 + N + M, NULL, 0, -1, full);
  g_assert_cmpfloat (rel_diff (inc, full + (1 + N) * 256, M * 256), <,
      TOL_INCREMENTAL);
}

/* ---- threads ---------------------------------------------------------- */

/* Generation and teacher forcing on two threads (every step of a job split,
 * once the pool's worker has joined) against one thread, bit for bit —
 * the samples must not depend on the split.  @wn's shape decides which of
 * the skip rows each thread computes (side_skip_rows ()). */
static void
check_threads (ArWaveNet *wn, int global_class)
{
  g_autoptr (ArThreadPool) pool = ar_threadpool_new (2);
  g_autoptr (ArWaveNetGen) g1 = ar_wavenet_gen_new (wn);
  g_autoptr (ArWaveNetGen) g2 = ar_wavenet_gen_new (wn);
  enum
  {
    N = 600
  };
  g_autofree guint8 *a = g_new (guint8, N);
  g_autofree guint8 *b = g_new (guint8, N);
  g_autofree float *la = g_new (float, N * 256);
  g_autofree float *lb = g_new (float, N * 256);
  guint64 before;

  g_assert_true (ar_wavenet_gen_set_global_class (g1, global_class, NULL));
  g_assert_true (ar_wavenet_gen_set_global_class (g2, global_class, NULL));
  ar_wavenet_gen_set_threadpool (g2, pool);
  ar_wavenet_gen_set_always_split (g2, TRUE);
  /* the pool's worker joins a job at a step boundary once it has woken:
   * make sure it has, so the split path is what is compared below */
  for (int i = 0; i < 200 && ar_wavenet_gen_get_split_steps (g2) == 0; i++)
    ar_wavenet_gen_generate (g2, a, N);
  g_assert_cmpuint (ar_wavenet_gen_get_split_steps (g2), >, 0);
  before = ar_wavenet_gen_get_split_steps (g2);
  for (int k = 0; k < 2; k++) {
    float temperature = k == 0 ? 1.0f : 0.0f;

    ar_wavenet_gen_set_temperature (g1, temperature);
    ar_wavenet_gen_set_temperature (g2, temperature);
    ar_wavenet_gen_reset (g1, 5);
    ar_wavenet_gen_reset (g2, 5);
    ar_wavenet_gen_generate (g1, a, N);
    /* one long job, then short ones (run in the caller alone) */
    ar_wavenet_gen_generate (g2, b, N - 100);
    for (int i = N - 100; i < N; i += 10)
      ar_wavenet_gen_generate (g2, b + i, 10);
    g_assert_cmpmem (a, N, b, N);
  }
  /* teacher forcing: the same logits, bit for bit */
  ar_wavenet_gen_reset (g1, 0);
  ar_wavenet_gen_reset (g2, 0);
  ar_wavenet_gen_feed (g1, a, N, la);
  ar_wavenet_gen_feed (g2, a, N, lb);
  g_assert_cmpmem (la, N * 256 * sizeof (float), lb, N * 256 * sizeof (float));
  /* the worker joins each long job within a few steps when it is not
   * descheduled; how many split is up to the machine's load */
  g_test_message ("%" G_GUINT64_FORMAT " of %d steps in long jobs ran on "
                  "two threads",
      ar_wavenet_gen_get_split_steps (g2) - before, 2 * (N - 100) + N);
  g_assert_cmpuint (ar_wavenet_gen_get_split_steps (g2) - before, >,
      0);
}

static void
test_threads (void)
{
  /* R, G, S, O, stacks, layers: the side computes 16 of 20 skip rows
   * here, all of them (the chain's column half of out1 is empty) in the
   * second, none in the third */
  static const int shapes[][6] = {
    { 16, 24, 20, 18, 2, 5 },
    { 32, 16, 16, 8, 1, 4 },
    { 2, 6, 4, 8, 2, 3 },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (shapes); i++) {
    const int *s = shapes[i];
    ArWaveNetConfig c = config (s[0], s[1], s[2], s[3], s[4], s[5]);
    g_autoptr (ArWaveNet) wn = NULL;

    c.global_classes = i == 0 ? 3 : 0;
    wn = ar_wavenet_new_random (&c, 12 + i, NULL);
    check_threads (wn, i == 0 ? 2 : -1);
    if (i == 0) {
      /* F16 weights: other kernels */
      g_autoptr (ArWaveNet) half = ar_wavenet_to_f16 (wn);

      check_threads (half, -1);
    }
  }
}

/* ---- F16 -------------------------------------------------------------- */

static void
test_f16 (void)
{
  ArWaveNetConfig c = config (16, 32, 24, 20, 2, 5);
  g_autoptr (ArWaveNet) wn = ar_wavenet_new_random (&c, 13, NULL);
  g_autoptr (ArWaveNet) h = ar_wavenet_to_f16 (wn);
  enum
  {
    N = 400
  };
  g_autofree guint8 *x = random_classes (N, 14);
  g_autofree float *full32 = g_new (float, N * 256);
  g_autofree float *full16 = g_new (float, N * 256);
  g_autofree float *inc16 = g_new (float, N * 256);
  g_autofree float *p32 = g_new (float, 256);
  g_autofree float *p16 = g_new (float, 256);
  g_autoptr (ArWaveNetGen) g = ar_wavenet_gen_new (h);
  g_autoptr (ArSampler) sampler = ar_sampler_new (256);
  ArSamplingParams params = AR_SAMPLING_PARAMS_INIT;
  double d, tv = 0.0;

  ar_wavenet_forward_full (wn, x, N, NULL, 0, -1, full32);
  ar_wavenet_forward_full (h, x, N, NULL, 0, -1, full16);
  ar_wavenet_gen_reset (g, 0);
  ar_wavenet_gen_feed (g, x, N, inc16);
  /* generation with F16 weights computes what the rounded model is */
  g_assert_cmpfloat (rel_diff (inc16, full16, N * 256), <, TOL_INCREMENTAL);
  /* and stays near the F32 model */
  d = rel_diff (inc16, full32, N * 256);
  for (int t = 0; t < N; t++) {
    double s = 0.0;

    ar_sampler_distribution (sampler, &params, full32 + t * 256, p32);
    ar_sampler_distribution (sampler, &params, inc16 + t * 256, p16);
    for (int i = 0; i < 256; i++)
      s += fabs ((double) p32[i] - p16[i]);
    tv = MAX (tv, s / 2);
  }
  g_test_message ("F16 vs F32: logits %.3g (tolerance %.3g), total "
                  "variation of the distributions %.3g (tolerance 0.01)",
      d, TOL_F16, tv);
  g_assert_cmpfloat (d, <, TOL_F16);
  g_assert_cmpfloat (d, >, 0.0);
  g_assert_cmpfloat (tv, <, 0.01);
}

static ArGguf *
to_gguf (const ArWaveNet *wn, gboolean f16)
{
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  g_autoptr (GBytes) bytes = NULL;
  GError *error = NULL;
  ArGguf *f;

  ar_wavenet_write (wn, w, f16);
  bytes = ar_gguf_writer_to_bytes (w);
  f = ar_gguf_new_from_bytes (bytes, "model.gguf", &error);
  g_assert_no_error (error);
  return f;
}

/* ---- the vocoder stream ----------------------------------------------- */

/* A small vocoder: 8 kHz, 10 mels over 64-sample frames, hop 16.  Its
 * per-layer mel projections are scaled up (through a model file) so that
 * the conditioning moves the argmax often, as it does in a trained
 * vocoder; random ones barely do. */
static ArWaveNet *
small_vocoder (guint64 seed)
{
  ArWaveNetConfig c = config (8, 12, 10, 12, 2, 4);
  ArMelParams mp = { 8000, 64, 48, 16, 10, 0.0f, 4000.0f, 1.0f, 1e-5f };
  GError *error = NULL;
  g_autoptr (ArWaveNet) wn = NULL;
  g_autoptr (ArGgufWriter) w0 = ar_gguf_writer_new ();
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  g_autoptr (GBytes) b0 = NULL;
  g_autoptr (GBytes) b = NULL;
  g_autoptr (ArGguf) f0 = NULL;
  g_autoptr (ArGguf) f = NULL;
  ArWaveNet *scaled;

  c.cond_channels = 6;
  c.mel = mp;
  wn = ar_wavenet_new_random (&c, seed, &error);
  g_assert_no_error (error);
  ar_wavenet_write (wn, w0, FALSE);
  b0 = ar_gguf_writer_to_bytes (w0);
  f0 = ar_gguf_new_from_bytes (b0, "vocoder.gguf", NULL);
  ar_gguf_writer_copy_kv (w, f0);
  for (guint i = 0; i < ar_gguf_get_n_tensors (f0); i++) {
    const ArGgufTensor *t = ar_gguf_get_tensor (f0, i);
    g_autofree float *data = g_new (float, t->n_elements);

    ar_gguf_tensor_to_f32 (t, data);
    if (g_str_has_prefix (t->name, "layer.") &&
        g_str_has_suffix (t->name, ".cond.weight"))
      for (guint64 j = 0; j < t->n_elements; j++)
        data[j] *= 6.0f;
    ar_gguf_writer_add_tensor_f32 (w, t->name, AR_TENSOR_F32, t->n_dims, t->ne,
        data);
  }
  b = ar_gguf_writer_to_bytes (w);
  f = ar_gguf_new_from_bytes (b, "vocoder.gguf", NULL);
  scaled = ar_wavenet_new_from_gguf (f, &error);
  g_assert_no_error (error);
  return scaled;
}

/* A test signal: two tones and a little noise. */
static float *
test_signal (gsize n, guint64 seed)
{
  float *s = g_new (float, n);
  ArRng rng;

  ar_rng_init (&rng, seed);
  for (gsize i = 0; i < n; i++)
    s[i] = 0.4f * sinf (0.07f * i) + 0.2f * sinf (0.53f * i) +
        0.05f * ar_rng_normal (&rng);
  return s;
}

/* Pushes @s (n) in pieces of the sizes in @sizes (cycled), pulling what is
 * available after each push in pieces of at most @pull_max; then drains.
 * Returns the n outputs. */
static float *
run_vocoder (ArWaveNetVocoder *v, const float *s, gsize n, const gsize *sizes,
    guint n_sizes, gsize pull_max)
{
  float *out = g_new (float, n);
  gsize pushed = 0, pulled = 0, latency = ar_wavenet_vocoder_latency (v);

  for (guint k = 0; pushed < n; k++) {
    gsize m = MIN (sizes[k % n_sizes], n - pushed);

    ar_wavenet_vocoder_push (v, s + pushed, m);
    pushed += m;
    /* the output lags the input by exactly the latency */
    g_assert_cmpuint (pulled + ar_wavenet_vocoder_available (v), ==,
        pushed > latency ? pushed - latency : 0);
    while (ar_wavenet_vocoder_available (v) > 0)
      pulled += ar_wavenet_vocoder_pull (v, out + pulled, pull_max);
  }
  ar_wavenet_vocoder_drain (v);
  g_assert_cmpuint (pulled + ar_wavenet_vocoder_available (v), ==, n);
  while (pulled < n) {
    gsize got = ar_wavenet_vocoder_pull (v, out + pulled, pull_max);

    g_assert_cmpuint (got, >, 0);
    pulled += got;
  }
  g_assert_cmpuint (ar_wavenet_vocoder_available (v), ==, 0);
  g_assert_cmpuint (ar_wavenet_vocoder_pull (v, out, 1), ==, 0);
  return out;
}

/* The class whose decoded value is @x exactly. */
static guint8
class_of (float x)
{
  for (int q = 0; q < 256; q++)
    if (ar_mulaw_decode ((guint8) q) == x)
      return (guint8) q;
  g_error ("%g is not a decoded µ-law class", (double) x);
  return 0;
}

static void
test_vocoder_vs_full (void)
{
  static const gsize sizes[] = { 1, 7, 1000 };
  static const gsize one[] = { 1 };
  static const gsize big[] = { 5000 };
  g_autoptr (ArWaveNet) wn = small_vocoder (31);
  const ArWaveNetConfig *c = ar_wavenet_get_config (wn);
  enum
  {
    N = 1100 /* more than a job of the vocoder (1024 samples) */
  };
  g_autofree float *s = test_signal (N, 3);
  g_autoptr (ArWaveNetVocoder) v = ar_wavenet_vocoder_new (wn, NULL);
  g_autoptr (ArMel) mel = ar_mel_new (&c->mel, NULL);
  g_autofree float *out = NULL;
  g_autofree guint8 *y = g_new (guint8, N);
  g_autofree float *logits = g_new (float, N * 256);
  g_autofree float *ext = NULL;
  g_autofree float *frames = NULL;
  gsize latency = ar_wavenet_vocoder_latency (v), n_ext, n_frames;
  int mismatches = 0;

  /* 2 hops for the interpolation and the cond conv, n_fft / 2 look-ahead */
  g_assert_cmpuint (latency, ==, 2 * 16 + 32 - 1);
  ar_wavenet_vocoder_set_temperature (v, 0.0f);
  ar_wavenet_vocoder_reset (v, 1);
  out = run_vocoder (v, s, N, sizes, G_N_ELEMENTS (sizes), 300);

  /* the full forward over the output classes, conditioned on the mel
   * frames of the input followed by the drain's silence */
  for (gsize i = 0; i < N; i++)
    y[i] = class_of (out[i]);
  g_assert_cmpuint (y[0], ==, 128);
  n_ext = N + latency + 1;
  ext = g_new0 (float, n_ext);
  memcpy (ext, s, N * sizeof (float));
  n_frames = ar_mel_n_frames (mel, n_ext);
  frames = g_new (float, n_frames * c->mel.n_mels);
  ar_mel_compute (mel, ext, n_ext, frames);
  ar_wavenet_forward_full (wn, y, N, frames, n_frames, -1, logits);
  for (gsize t = 0; t + 1 < N; t++) {
    guint best = ar_argmax (logits + t * 256, 256);

    if (best != y[t + 1]) {
      float gap = fabsf (logits[t * 256 + best] - logits[t * 256 + y[t + 1]]);

      g_assert_cmpfloat (gap, <, 1e-4);
      mismatches++;
    }
  }
  g_assert_cmpint (mismatches, <=, 2);
  /* the conditioning matters: the same check over the frames of silence
   * fails, and the output is not a constant */
  {
    g_autofree float *quiet = g_new0 (float, n_ext);
    int wrong = 0;

    ar_mel_compute (mel, quiet, n_ext, frames);
    ar_wavenet_forward_full (wn, y, N, frames, n_frames, -1, logits);
    for (gsize t = 0; t + 1 < N; t++)
      wrong += ar_argmax (logits + t * 256, 256) != y[t + 1];
    g_test_message ("greedy vocoder: %d of %d outputs differ with the mel "
                    "frames of silence",
        wrong, N - 1);
    g_assert_cmpint (wrong, >, N / 10);
  }

  /* other chunkings, sampling at temperature 1 with a fixed seed: the
   * same output; another seed: a different one */
  {
    g_autofree float *a = NULL;
    g_autofree float *b = NULL;
    g_autofree float *d = NULL;

    ar_wavenet_vocoder_set_temperature (v, 1.0f);
    ar_wavenet_vocoder_reset (v, 9);
    a = run_vocoder (v, s, N, one, 1, 5);
    ar_wavenet_vocoder_reset (v, 9);
    b = run_vocoder (v, s, N, big, 1, 100000);
    g_assert_cmpmem (a, N * sizeof (float), b, N * sizeof (float));
    ar_wavenet_vocoder_reset (v, 10);
    d = run_vocoder (v, s, N, sizes, G_N_ELEMENTS (sizes), 777);
    g_assert_true (memcmp (a, d, N * sizeof (float)) != 0);

    /* two threads: the same samples */
    {
      g_autoptr (ArThreadPool) pool = ar_threadpool_new (2);
      g_autofree float *e = NULL;

      ArWaveNetGen *gen = ar_wavenet_vocoder_get_gen (v);

      ar_wavenet_vocoder_set_threadpool (v, pool);
      ar_wavenet_gen_set_always_split (gen, TRUE);
      /* until the pool's worker has joined a job (each is 1024 samples) */
      for (int i = 0; i < 200 && ar_wavenet_gen_get_split_steps (gen) == 0;
           i++) {
        ar_wavenet_vocoder_reset (v, 9);
        g_free (run_vocoder (v, s, N, big, 1, 100000));
      }
      g_assert_cmpuint (ar_wavenet_gen_get_split_steps (gen), >, 0);
      ar_wavenet_vocoder_reset (v, 9);
      e = run_vocoder (v, s, N, big, 1, 100000);
      g_assert_cmpmem (a, N * sizeof (float), e, N * sizeof (float));
      ar_wavenet_gen_set_always_split (gen, FALSE);
      ar_wavenet_vocoder_set_threadpool (v, NULL);
    }
  }

  /* an empty stream drains to nothing; a short one to its length */
  {
    float o[8];

    ar_wavenet_vocoder_reset (v, 1);
    ar_wavenet_vocoder_drain (v);
    g_assert_cmpuint (ar_wavenet_vocoder_available (v), ==, 0);
    ar_wavenet_vocoder_reset (v, 1);
    ar_wavenet_vocoder_push (v, s, 3);
    g_assert_cmpuint (ar_wavenet_vocoder_available (v), ==, 0);
    ar_wavenet_vocoder_drain (v);
    g_assert_cmpuint (ar_wavenet_vocoder_pull (v, o, 8), ==, 3);
  }
}

/* The mel-conditioned incremental path against forward_full, logits within
 * the incremental tolerance, hops that do and do not divide the lengths. */
static void
test_mel_feed_vs_full (void)
{
  static const int hops[] = { 16, 5 };
  ArSimdLevel saved = ar_simd_get_level ();

  for (guint h = 0; h < G_N_ELEMENTS (hops); h++) {
    ArWaveNetConfig c = config (8, 12, 10, 12, 2, 4);
    ArMelParams mp = { 8000, 64, 48, 16, 10, 0.0f, 4000.0f, 1.0f, 1e-5f };
    g_autoptr (ArWaveNet) wn = NULL;
    g_autoptr (ArMel) mel = NULL;
    g_autoptr (ArWaveNetGen) g = NULL;
    gsize n = 2 * 32 + 17, n_frames;
    g_autofree guint8 *x = random_classes (n, 40 + h);
    g_autofree float *s = NULL;
    g_autofree float *frames = NULL;
    g_autofree float *full = g_new (float, n * 256);
    g_autofree float *inc = g_new (float, n * 256);

    mp.hop = hops[h];
    c.cond_channels = 6;
    c.mel = mp;
    wn = ar_wavenet_new_random (&c, 41, NULL);
    mel = ar_mel_new (&mp, NULL);
    /* frames of n + 1 + 2 hops of signal: n / hop + 2 at least */
    s = test_signal (n + 1 + 2 * mp.hop, 5);
    n_frames = ar_mel_n_frames (mel, n + 1 + 2 * mp.hop);
    frames = g_new (float, n_frames *mp.n_mels);
    ar_mel_compute (mel, s, n + 1 + 2 * mp.hop, frames);
    ar_wavenet_forward_full (wn, x, n, frames, n_frames, -1, full);
    for (int lv = 0; lv < 2; lv++) {
      double d;

      if (lv == 1)
        g_assert_true (ar_simd_set_level (AR_SIMD_C));
      g = ar_wavenet_gen_new (wn);
      ar_wavenet_gen_feed_mel (g, x, n, frames, n_frames, inc);
      d = rel_diff (inc, full, n * 256);
      g_test_message ("mel feed vs full, hop %d: %.3g", hops[h], d);
      g_assert_cmpfloat (d, <, TOL_INCREMENTAL);
      g_clear_pointer (&g, ar_wavenet_gen_free);
      ar_simd_set_level (saved);
    }
    /* the conditioning moves the logits: silence frames give others */
    {
      g_autofree float *quiet = g_new0 (float, n + 1 + 2 * mp.hop);

      ar_mel_compute (mel, quiet, n + 1 + 2 * mp.hop, frames);
      g = ar_wavenet_gen_new (wn);
      ar_wavenet_gen_feed_mel (g, x, n, frames, n_frames, inc);
      g_assert_cmpfloat (rel_diff (inc, full, n * 256), >, 1e-3);
    }
  }
}

static void
test_vocoder_model (void)
{
  g_autoptr (ArWaveNet) wn = small_vocoder (32);
  ArWaveNetConfig c = config (8, 12, 10, 12, 2, 4);
  g_autoptr (ArWaveNet) plain = ar_wavenet_new_random (&c, 1, NULL);
  GError *error = NULL;
  enum
  {
    N = 300
  };
  g_autofree guint8 *x = random_classes (N, 2);
  g_autofree float *s = test_signal (N + 1, 4);
  g_autofree float *frames = NULL;
  g_autofree float *la = g_new (float, N * 256);
  g_autofree float *lb = g_new (float, N * 256);
  g_autoptr (ArMel) mel = NULL;
  gsize n_frames;

  g_assert_null (ar_wavenet_vocoder_new (plain, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
  g_clear_error (&error);

  /* the mel parameters and the conditioning tensors survive a file; the
   * frame-rate products count in the MACs */
  mel = ar_mel_new (&ar_wavenet_get_config (wn)->mel, NULL);
  n_frames = ar_mel_n_frames (mel, N + 1);
  frames = g_new (float, n_frames * 10);
  ar_mel_compute (mel, s, N + 1, frames);
  ar_wavenet_forward_full (wn, x, N, frames, n_frames, -1, la);
  for (int f16 = 0; f16 < 2; f16++) {
    g_autoptr (ArGguf) f = to_gguf (wn, f16);
    g_autoptr (ArWaveNet) back = ar_wavenet_new_from_gguf (f, &error);

    g_assert_no_error (error);
    g_assert_cmpmem (ar_wavenet_get_config (back), sizeof (ArWaveNetConfig),
        ar_wavenet_get_config (wn), sizeof (ArWaveNetConfig));
    ar_wavenet_forward_full (back, x, N, frames, n_frames, -1, lb);
    if (f16)
      g_assert_cmpfloat (rel_diff (lb, la, N * 256), <, TOL_F16);
    else
      g_assert_cmpmem (la, N * 256 * sizeof (float), lb,
          N * 256 * sizeof (float));
  }
  g_assert_cmpuint (ar_wavenet_macs_per_sample (wn), ==,
      ar_wavenet_macs_per_sample (plain) + (6 * 30 + 8 * 12 * 6 + 15) / 16);
}

/* ---- files ------------------------------------------------------------ */

static void
assert_same_forward (ArWaveNet *a, ArWaveNet *b, int global_class)
{
  enum
  {
    N = 200
  };
  g_autofree guint8 *x = random_classes (N, 21);
  g_autofree float *la = g_new (float, N * 256);
  g_autofree float *lb = g_new (float, N * 256);
  g_autoptr (ArWaveNetGen) ga = ar_wavenet_gen_new (a);
  g_autoptr (ArWaveNetGen) gb = ar_wavenet_gen_new (b);

  ar_wavenet_forward_full (a, x, N, NULL, 0, global_class, la);
  ar_wavenet_forward_full (b, x, N, NULL, 0, global_class, lb);
  g_assert_cmpmem (la, sizeof (float) * N * 256, lb, sizeof (float) * N * 256);
  g_assert_true (ar_wavenet_gen_set_global_class (ga, global_class, NULL));
  g_assert_true (ar_wavenet_gen_set_global_class (gb, global_class, NULL));
  ar_wavenet_gen_feed (ga, x, N, la);
  ar_wavenet_gen_feed (gb, x, N, lb);
  g_assert_cmpmem (la, sizeof (float) * N * 256, lb, sizeof (float) * N * 256);
}

static void
test_round_trip (void)
{
  ArWaveNetConfig c = config (8, 12, 10, 12, 2, 3);
  g_autoptr (ArWaveNet) wn = NULL;
  g_autoptr (ArWaveNet) half = NULL;
  GError *error = NULL;

  c.global_classes = 3;
  wn = ar_wavenet_new_random (&c, 15, &error);
  g_assert_no_error (error);
  half = ar_wavenet_to_f16 (wn);
  for (int f16 = 0; f16 < 2; f16++) {
    g_autoptr (ArGguf) f = to_gguf (wn, f16);
    g_autoptr (ArWaveNet) back = ar_wavenet_new_from_gguf (f, &error);
    const ArWaveNetConfig *bc;

    g_assert_no_error (error);
    bc = ar_wavenet_get_config (back);
    g_assert_cmpmem (bc, sizeof *bc, &c, sizeof c);
    g_assert_cmpstr (ar_wavenet_get_class_name (back, 2), ==, "2");
    g_assert_cmpint (ar_wavenet_find_class (back, "1"), ==, 1);
    g_assert_cmpint (ar_wavenet_find_class (back, "speaker"), ==, -1);
    /* an F16 file is the F16-rounded model, generating with F16 weights */
    assert_same_forward (f16 ? half : wn, back, 1);
    if (f16) {
      const ArGgufTensor *t = ar_gguf_find_tensor (f, "layer.3.conv.weight");

      g_assert_cmpint (t->type, ==, AR_TENSOR_F16);
      t = ar_gguf_find_tensor (f, "layer.3.conv.bias");
      g_assert_cmpint (t->type, ==, AR_TENSOR_F32);
    }
  }
  /* the last layer has no residual projection */
  {
    g_autoptr (ArGguf) f = to_gguf (wn, FALSE);

    g_assert_nonnull (ar_gguf_find_tensor (f, "layer.4.res.weight"));
    g_assert_null (ar_gguf_find_tensor (f, "layer.5.res.weight"));
    g_assert_nonnull (ar_gguf_find_tensor (f, "layer.5.skip.weight"));
    g_assert_null (ar_gguf_find_tensor (f, "layer.6.skip.weight"));
  }
}

static void
test_properties (void)
{
  ArWaveNetConfig ref = AR_WAVENET_CONFIG_REFERENCE;
  ArWaveNetConfig c = config (8, 12, 10, 12, 2, 3);
  g_autoptr (ArWaveNet) wn = ar_wavenet_new_random (&ref, 1, NULL);
  g_autoptr (ArWaveNet) small = ar_wavenet_new_random (&c, 1, NULL);
  g_autoptr (ArWaveNetGen) g = ar_wavenet_gen_new (small);
  GError *error = NULL;

  /* 1 + 2 · 1023 + 1 */
  g_assert_cmpuint (ar_wavenet_receptive_field (wn), ==, 2048);
  /* 20 · 128 · 128 + 19 · 192 · 64 + 64 · 128 + 128 · 128 + 256 · 128 */
  g_assert_cmpuint (ar_wavenet_macs_per_sample (wn), ==, 618496);
  g_assert_cmpuint (ar_wavenet_receptive_field (small), ==, 16);
  g_assert_false (ar_wavenet_gen_set_global_class (g, 0, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_true (ar_wavenet_gen_set_global_class (g, -1, &error));
  g_assert_no_error (error);
}

/* ---- loader errors ---------------------------------------------------- */

typedef struct
{
  const char *key;     /* key to change (u32), or NULL */
  gint64 value;        /* its new value, -1 to remove it */
  const char *drop;    /* tensor to leave out */
  const char *reshape; /* tensor to store with one row more */
  const char *retype;  /* tensor to store as Q8_0 */
  const char *expect;  /* in the message */
} BadCase;

static void
expect_error (const ArWaveNet *wn, const BadCase *bc)
{
  g_autoptr (GBytes) good = NULL;
  g_autoptr (ArGguf) src = NULL;
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  g_autoptr (ArGgufWriter) w0 = ar_gguf_writer_new ();
  g_autoptr (GBytes) bad = NULL;
  g_autoptr (ArGguf) f = NULL;
  GError *error = NULL;

  ar_wavenet_write (wn, w0, FALSE);
  good = ar_gguf_writer_to_bytes (w0);
  src = ar_gguf_new_from_bytes (good, "src.gguf", NULL);
  ar_gguf_writer_copy_kv (w, src);
  if (bc->key) {
    /* copy_kv keeps the order; removing means rebuilding without it */
    if (bc->value < 0) {
      g_autoptr (ArGgufWriter) w2 = ar_gguf_writer_new ();

      for (guint i = 0; i < ar_gguf_get_n_kv (src); i++) {
        const char *k = ar_gguf_get_key (src, i);
        guint32 v;
        const char *s;

        if (strcmp (k, bc->key) == 0 || strcmp (k, "general.alignment") == 0)
          continue;
        if (ar_gguf_get_kv_type (src, i) == AR_GGUF_TYPE_STRING) {
          g_assert_true (ar_gguf_get_string (src, k, &s, NULL));
          ar_gguf_writer_set_string (w2, k, s);
        } else if (ar_gguf_get_kv_type (src, i) == AR_GGUF_TYPE_UINT32) {
          g_assert_true (ar_gguf_get_u32 (src, k, &v, NULL));
          ar_gguf_writer_set_u32 (w2, k, v);
        }
      }
      ar_gguf_writer_free (w);
      w = g_steal_pointer (&w2);
    } else {
      ar_gguf_writer_set_u32 (w, bc->key, (guint32) bc->value);
    }
  }
  for (guint i = 0; i < ar_gguf_get_n_tensors (src); i++) {
    const ArGgufTensor *t = ar_gguf_get_tensor (src, i);

    if (bc->drop && strcmp (t->name, bc->drop) == 0)
      continue;
    if (bc->reshape && strcmp (t->name, bc->reshape) == 0) {
      guint64 ne[4];
      g_autofree float *data = NULL;

      memcpy (ne, t->ne, sizeof ne);
      ne[t->n_dims - 1]++;
      data =
          g_new0 (float, t->n_elements + t->n_elements / t->ne[t->n_dims - 1]);
      ar_gguf_writer_add_tensor_f32 (w, t->name, AR_TENSOR_F32, t->n_dims, ne,
          data);
      continue;
    }
    if (bc->retype && strcmp (t->name, bc->retype) == 0) {
      ar_gguf_writer_add_tensor_f32 (w, t->name, AR_TENSOR_Q8_0, t->n_dims,
          t->ne, t->data);
      continue;
    }
    ar_gguf_writer_add_tensor_raw (w, t->name, t->type, t->n_dims, t->ne,
        t->data, t->nbytes);
  }
  bad = ar_gguf_writer_to_bytes (w);
  f = ar_gguf_new_from_bytes (bad, "bad.gguf", &error);
  g_assert_no_error (error);
  g_assert_null (ar_wavenet_new_from_gguf (f, &error));
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  if (strstr (error->message, bc->expect) == NULL)
    g_error ("message \"%s\" lacks \"%s\"", error->message, bc->expect);
  g_assert_nonnull (strstr (error->message, "bad.gguf"));
  g_error_free (error);
}

static void
test_errors (void)
{
  static const BadCase cases[] = {
    { "wavenet.gate_channels", 13, NULL, NULL, NULL, "gate_channels is 13" },
    { "wavenet.quantization", 255, NULL, NULL, NULL, "quantization is 255" },
    { "wavenet.stacks", 0, NULL, NULL, NULL, "wavenet.stacks is 0" },
    { "wavenet.layers_per_stack", 17, NULL, NULL, NULL,
        "layers_per_stack is 17; expected 1 to 16" },
    { "wavenet.sample_rate", 500, NULL, NULL, NULL, "sample_rate is 500" },
    { "wavenet.residual_channels", 2000, NULL, NULL, NULL,
        "residual_channels is 2000" },
    { "wavenet.global.classes", 5000, NULL, NULL, NULL, "global.classes" },
    { "wavenet.skip_channels", -1, NULL, NULL, NULL, "wavenet.skip_channels" },
    /* a key that disagrees with the tensors */
    { "wavenet.layers_per_stack", 4, NULL, NULL, NULL, "layer.5.res.weight" },
    { "wavenet.global.classes", 2, NULL, NULL, NULL, "wavenet.global.names" },
    { NULL, 0, "layer.2.res.weight", NULL, NULL, "layer.2.res.weight" },
    { NULL, 0, "out2.bias", NULL, NULL, "out2.bias" },
    { NULL, 0, NULL, "layer.1.skip.weight", NULL, "layer.1.skip.weight" },
    { NULL, 0, NULL, "input.weight", NULL, "input.weight" },
    { NULL, 0, NULL, NULL, "out2.weight", "Q8_0" },
  };
  ArWaveNetConfig c = config (8, 12, 10, 32, 2, 3);
  g_autoptr (ArWaveNet) wn = NULL;

  c.global_classes = 3;
  wn = ar_wavenet_new_random (&c, 1, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    expect_error (wn, &cases[i]);

  /* not a WaveNet */
  {
    g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
    g_autoptr (GBytes) bytes = NULL;
    g_autoptr (ArGguf) f = NULL;
    GError *error = NULL;

    ar_gguf_writer_set_string (w, "general.architecture", "llama");
    bytes = ar_gguf_writer_to_bytes (w);
    f = ar_gguf_new_from_bytes (bytes, "bad.gguf", NULL);
    g_assert_null (ar_wavenet_new_from_gguf (f, &error));
    g_assert_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED);
    g_assert_nonnull (strstr (error->message, "\"wavenet\""));
    g_error_free (error);
  }
  /* a truncated file never gets as far as the model */
  {
    g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
    g_autoptr (GBytes) bytes = NULL;
    g_autoptr (GBytes) cut = NULL;
    GError *error = NULL;

    ar_wavenet_write (wn, w, FALSE);
    bytes = ar_gguf_writer_to_bytes (w);
    cut = g_bytes_new_from_bytes (bytes, 0, g_bytes_get_size (bytes) - 100);
    g_assert_null (ar_gguf_new_from_bytes (cut, "cut.gguf", &error));
    g_assert_error (error, AR_ERROR, AR_ERROR_FORMAT);
    g_assert_nonnull (strstr (error->message, "cut.gguf"));
    g_error_free (error);
  }
  /* out-of-range configurations for random models name the key */
  {
    ArWaveNetConfig bad = c;
    GError *error = NULL;

    /* the caller's settings: AR_ERROR_INVALID (it was AR_ERROR_MODEL, the
     * code of a bad file) */
    bad.gate = 7;
    g_assert_null (ar_wavenet_new_random (&bad, 1, &error));
    g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
    g_assert_nonnull (strstr (error->message, "wavenet.gate_channels is 7"));
    g_clear_error (&error);
    bad = c;
    bad.cond_channels = 4;
    bad.mel.sample_rate = 16000;
    g_assert_null (ar_wavenet_new_random (&bad, 1, &error));
    g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
    g_assert_nonnull (strstr (error->message, "wavenet.mel.sample_rate"));
    g_clear_error (&error);
    bad = c;
    bad.cond_channels = 4;
    bad.mel.sample_rate = 8000;
    bad.mel.n_fft = 15;
    g_assert_null (ar_wavenet_new_random (&bad, 1, &error));
    g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
    g_assert_nonnull (strstr (error->message, "n_fft is 15"));
    g_clear_error (&error);
  }
}

/* A vocoder with global classes (the trainer makes them: --condition mel
 * with --classes) resynthesises with the class it is given: greedy output
 * equal to the argmax of the full forward with that class.  The vocoder
 * API had no way to give one, so such a model always ran with none, a
 * condition it was never trained with. */
static void
test_vocoder_global_class (void)
{
  static const gsize sizes[] = { 100 };
  ArWaveNetConfig c = config (8, 12, 10, 12, 1, 3);
  ArMelParams mp = { 8000, 64, 48, 16, 10, 0.0f, 4000.0f, 1.0f, 1e-5f };
  enum
  {
    N = 400
  };
  g_autoptr (ArWaveNet) wn = NULL;
  g_autoptr (ArWaveNetVocoder) v = NULL;
  g_autoptr (ArMel) mel = NULL;
  g_autofree float *s = test_signal (N, 5);
  g_autofree float *none = NULL;
  g_autofree float *ext = NULL;
  g_autofree float *frames = NULL;
  g_autofree float *logits = g_new (float, N * 256);
  g_autofree guint8 *y = g_new (guint8, N);
  GError *error = NULL;
  gsize n_ext, n_frames;

  c.cond_channels = 6;
  c.mel = mp;
  c.global_classes = 3;
  wn = ar_wavenet_new_random (&c, 4, &error);
  g_assert_no_error (error);
  v = ar_wavenet_vocoder_new (wn, &error);
  g_assert_no_error (error);
  mel = ar_mel_new (&mp, NULL);
  ar_wavenet_vocoder_set_temperature (v, 0.0f);
  none = run_vocoder (v, s, N, sizes, 1, 1000);

  n_ext = N + ar_wavenet_vocoder_latency (v) + 1;
  ext = g_new0 (float, n_ext);
  memcpy (ext, s, N * sizeof (float));
  n_frames = ar_mel_n_frames (mel, n_ext);
  frames = g_new (float, n_frames * mp.n_mels);
  ar_mel_compute (mel, ext, n_ext, frames);
  for (int cls = 0; cls < 3; cls++) {
    g_autofree float *out = NULL;
    int mismatches = 0;

    g_assert_true (ar_wavenet_vocoder_set_global_class (v, cls, &error));
    g_assert_no_error (error);
    /* kept across the reset */
    ar_wavenet_vocoder_reset (v, 1);
    out = run_vocoder (v, s, N, sizes, 1, 1000);
    g_assert_true (memcmp (out, none, N * sizeof (float)) != 0);
    for (gsize i = 0; i < N; i++)
      y[i] = class_of (out[i]);
    ar_wavenet_forward_full (wn, y, N, frames, n_frames, cls, logits);
    for (gsize t = 0; t + 1 < N; t++) {
      guint best = ar_argmax (logits + t * 256, 256);

      if (best != y[t + 1]) {
        g_assert_cmpfloat (fabsf (logits[t * 256 + best] -
                logits[t * 256 + y[t + 1]]), <, 1e-4);
        mismatches++;
      }
    }
    g_assert_cmpint (mismatches, <=, 2);
  }
  g_assert_false (ar_wavenet_vocoder_set_global_class (v, 3, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "global class 3; expected -1"));
  g_clear_error (&error);
}

/* @wn's file, changed by @edit (keys set again replace the written ones),
 * loaded back as "edited.gguf"; NULL + *@error when the loader refuses it. */
typedef void (*EditFile) (ArGgufWriter *w);

static ArWaveNet *
reload_edited (const ArWaveNet *wn, EditFile edit, GError **error)
{
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (ArGguf) f = NULL;

  ar_wavenet_write (wn, w, FALSE);
  edit (w);
  bytes = ar_gguf_writer_to_bytes (w);
  f = ar_gguf_new_from_bytes (bytes, "edited.gguf", error);
  g_assert_nonnull (f);
  return ar_wavenet_new_from_gguf (f, error);
}

static void
edit_fewer_layers (ArGgufWriter *w)
{
  ar_gguf_writer_set_u32 (w, "wavenet.layers_per_stack", 2);
}

static void
edit_no_classes (ArGgufWriter *w)
{
  ar_gguf_writer_set_u32 (w, "wavenet.global.classes", 0);
  ar_gguf_writer_set_string_array (w, "wavenet.global.names", NULL, NULL, 0);
}

static void
edit_no_mel (ArGgufWriter *w)
{
  ar_gguf_writer_set_u32 (w, "wavenet.cond_channels", 0);
}

/* what a checkpoint adds to a model file: not the model's */
static void
edit_optimizer_state (ArGgufWriter *w)
{
  const guint64 ne[1] = { 4 };
  const float zeros[4] = { 0 };

  ar_gguf_writer_add_tensor_f32 (w, "opt.m.input.bias", AR_TENSOR_F32, 1, ne,
      zeros);
}

/* A file whose keys describe a smaller network than its tensors is
 * refused, naming the first tensor the keys leave out: it loaded, dropping
 * layers, the global condition or the mel conditioning of the trained
 * network without a word. */
static void
test_errors_tensors_disagree (void)
{
  ArWaveNetConfig c = config (4, 6, 5, 8, 2, 3);
  g_autoptr (ArWaveNet) wn = NULL;
  g_autoptr (ArWaveNet) voc = NULL;
  g_autoptr (ArWaveNet) ok = NULL;
  GError *error = NULL;

  c.global_classes = 3;
  wn = ar_wavenet_new_random (&c, 1, NULL);
  c.global_classes = 0;
  c.cond_channels = 4;
  voc = ar_wavenet_new_random (&c, 1, NULL);

  g_assert_null (reload_edited (wn, edit_fewer_layers, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  g_assert_nonnull (strstr (error->message, "edited.gguf: tensor "
          "'layer.3.res.weight' has no place in the network the keys "
          "describe (wavenet.stacks 2 × layers_per_stack 2,"));
  g_clear_error (&error);

  g_assert_null (reload_edited (wn, edit_no_classes, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  g_assert_nonnull (strstr (error->message, "'layer.0.global.weight'"));
  g_clear_error (&error);

  g_assert_null (reload_edited (voc, edit_no_mel, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  g_assert_nonnull (strstr (error->message, "'layer.0.cond.weight'"));
  g_clear_error (&error);

  ok = reload_edited (voc, edit_optimizer_state, &error);
  g_assert_no_error (error);
  g_assert_nonnull (ok);
}

static const char *const *class_names_case;
static const gsize *class_names_lengths;

static void
edit_class_names (ArGgufWriter *w)
{
  ar_gguf_writer_set_string_array (w, "wavenet.global.names", class_names_case,
      class_names_lengths, 3);
}

/* wavenet.global.names must name each class so that it can be found by
 * name: an empty name (an element's empty global-condition means none), a
 * name cut short by a NUL byte, one that is not UTF-8, or two alike (the
 * second could never be found) are refused, naming the entry.  They all
 * loaded. */
static void
test_errors_class_names (void)
{
  static const char *const empty[] = { "a", "", "c" };
  static const char *const nul[] = { "a", "b\0x", "c" };
  static const gsize nul_lengths[] = { 1, 3, 1 };
  static const char *const latin1[] = { "a", "Zo\xeb", "c" };
  static const char *const twice[] = { "a", "b", "a" };
  static const char *const good[] = { "alice", "Zoë", "3" };
  ArWaveNetConfig c = config (4, 6, 5, 8, 1, 2);
  g_autoptr (ArWaveNet) wn = NULL;
  g_autoptr (ArWaveNet) loaded = NULL;
  const struct
  {
    const char *const *names;
    const gsize *lengths;
    const char *message;
  } cases[] = {
    { empty, NULL, "wavenet.global.names[1] is empty" },
    { nul, nul_lengths, "wavenet.global.names[1] contains a NUL byte" },
    { latin1, NULL, "wavenet.global.names[1] is not valid UTF-8" },
    { twice, NULL, "wavenet.global.names[2] is \"a\", as is "
          "wavenet.global.names[0]" },
  };
  GError *error = NULL;

  c.global_classes = 3;
  wn = ar_wavenet_new_random (&c, 1, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    class_names_case = cases[i].names;
    class_names_lengths = cases[i].lengths;
    g_assert_null (reload_edited (wn, edit_class_names, &error));
    g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
    g_assert_nonnull (strstr (error->message, cases[i].message));
    g_clear_error (&error);
  }
  class_names_case = good;
  class_names_lengths = NULL;
  loaded = reload_edited (wn, edit_class_names, &error);
  g_assert_no_error (error);
  g_assert_cmpint (ar_wavenet_find_class (loaded, "Zoë"), ==, 1);
  g_assert_cmpint (ar_wavenet_find_class (loaded, "3"), ==, 2);
}

/* ---- pre-emphasis ------------------------------------------------------ */

/* @wn's file with wavenet.pre_emphasis set by @set (NULL: removed) and
 * loaded back as "@name"; NULL + *@error when the loader refuses it. */
typedef void (*SetKey) (ArGgufWriter *w, gconstpointer value);

static ArWaveNet *
reload_with (const ArWaveNet *wn, SetKey set, gconstpointer value,
    GError **error)
{
  g_autoptr (ArGgufWriter) w0 = ar_gguf_writer_new ();
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  g_autoptr (GBytes) b0 = NULL;
  g_autoptr (GBytes) b = NULL;
  g_autoptr (ArGguf) src = NULL;
  g_autoptr (ArGguf) f = NULL;

  ar_wavenet_write (wn, w0, FALSE);
  b0 = ar_gguf_writer_to_bytes (w0);
  src = ar_gguf_new_from_bytes (b0, "src.gguf", NULL);
  ar_gguf_writer_copy_kv (w, src);
  set (w, value);
  for (guint i = 0; i < ar_gguf_get_n_tensors (src); i++) {
    const ArGgufTensor *t = ar_gguf_get_tensor (src, i);

    ar_gguf_writer_add_tensor_raw (w, t->name, t->type, t->n_dims, t->ne,
        t->data, t->nbytes);
  }
  b = ar_gguf_writer_to_bytes (w);
  f = ar_gguf_new_from_bytes (b, "bad.gguf", NULL);
  g_assert_nonnull (f);
  return ar_wavenet_new_from_gguf (f, error);
}

static void
set_f32 (ArGgufWriter *w, gconstpointer value)
{
  ar_gguf_writer_set_f32 (w, "wavenet.pre_emphasis", *(const float *) value);
}

static void
set_u32 (ArGgufWriter *w, gconstpointer value)
{
  ar_gguf_writer_set_u32 (w, "wavenet.pre_emphasis", *(const guint32 *) value);
}

/* A copy of @wn (same weights) whose file says wavenet.pre_emphasis =
 * @alpha. */
static ArWaveNet *
with_pre_emphasis (const ArWaveNet *wn, float alpha)
{
  GError *error = NULL;
  ArWaveNet *e = reload_with (wn, set_f32, &alpha, &error);

  g_assert_no_error (error);
  g_assert_cmpfloat (ar_wavenet_get_config (e)->pre_emphasis, ==, alpha);
  return e;
}

/* The key: written when set and read back; absent (every older file) is 0;
 * out of range, NaN or of another type is an error naming the key. */
static void
test_pre_emphasis_file (void)
{
  ArWaveNetConfig c = config (8, 12, 10, 12, 1, 3);
  g_autoptr (ArWaveNet) plain = NULL;
  g_autoptr (ArWaveNet) emph = NULL;
  GError *error = NULL;

  plain = ar_wavenet_new_random (&c, 3, &error);
  g_assert_no_error (error);
  {
    g_autoptr (ArGguf) f = to_gguf (plain, FALSE);
    g_autoptr (ArWaveNet) back = ar_wavenet_new_from_gguf (f, &error);

    g_assert_no_error (error);
    g_assert_false (ar_gguf_has_key (f, "wavenet.pre_emphasis"));
    g_assert_cmpfloat (ar_wavenet_get_config (back)->pre_emphasis, ==, 0.0f);
  }
  c.pre_emphasis = 0.85f;
  emph = ar_wavenet_new_random (&c, 3, &error);
  g_assert_no_error (error);
  for (int f16 = 0; f16 < 2; f16++) {
    g_autoptr (ArGguf) f = to_gguf (emph, f16);
    g_autoptr (ArWaveNet) back = ar_wavenet_new_from_gguf (f, &error);
    float v = 0.0f;

    g_assert_no_error (error);
    g_assert_true (ar_gguf_get_f32 (f, "wavenet.pre_emphasis", &v, NULL));
    g_assert_cmpfloat (v, ==, 0.85f);
    g_assert_cmpmem (ar_wavenet_get_config (back), sizeof c, &c, sizeof c);
  }
  /* the limits themselves load */
  {
    g_autoptr (ArWaveNet) lo = with_pre_emphasis (plain, 0.0f);
    g_autoptr (ArWaveNet) hi =
        with_pre_emphasis (plain, AR_WAVENET_MAX_PRE_EMPHASIS);
  }
  {
    static const float bad[] = { -0.01f, 0.995f, 1.0f, 7.0f };
    float nan_value = NAN;
    guint32 u = 1;

    for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
      g_assert_null (reload_with (plain, set_f32, &bad[i], &error));
      g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, "bad.gguf"));
      g_assert_nonnull (strstr (error->message, "wavenet.pre_emphasis is"));
      g_assert_nonnull (strstr (error->message, "expected 0 to 0.99"));
      g_clear_error (&error);
    }
    g_assert_null (reload_with (plain, set_f32, &nan_value, &error));
    g_assert_nonnull (error);
    g_test_message ("%s", error->message);
    g_assert_nonnull (strstr (error->message, "wavenet.pre_emphasis"));
    g_assert_nonnull (strstr (error->message, "nan"));
    g_clear_error (&error);
    g_assert_null (reload_with (plain, set_u32, &u, &error));
    g_assert_nonnull (error);
    g_test_message ("%s", error->message);
    g_assert_nonnull (strstr (error->message, "wavenet.pre_emphasis"));
    g_clear_error (&error);
  }
  /* and a random model's configuration */
  c.pre_emphasis = -0.5f;
  g_assert_null (ar_wavenet_new_random (&c, 1, &error));
  g_assert_nonnull (strstr (error->message, "wavenet.pre_emphasis is -0.5"));
  g_clear_error (&error);
}

/* ar_wavenet_gen_decode: stateless ar_mulaw_decode without pre-emphasis;
 * with it, the de-emphasis, its state carried across calls and cleared by
 * a reset. */
static void
test_pre_emphasis_decode (void)
{
  enum
  {
    N = 3000
  };
  ArWaveNetConfig c = config (8, 12, 10, 12, 1, 3);
  g_autoptr (ArWaveNet) plain = ar_wavenet_new_random (&c, 5, NULL);
  g_autoptr (ArWaveNet) emph = with_pre_emphasis (plain, 0.85f);
  g_autoptr (ArWaveNetGen) gp = ar_wavenet_gen_new (plain);
  g_autoptr (ArWaveNetGen) ge = ar_wavenet_gen_new (emph);
  g_autofree guint8 *y = g_new (guint8, N);
  g_autofree float *a = g_new (float, N);
  g_autofree float *b = g_new (float, N);
  g_autofree float *want = g_new (float, N);
  int clipped = 0;

  /* slowly varying classes, like speech's: the de-emphasis then reaches
   * full scale sometimes, and is clipped there */
  for (gsize i = 0; i < N; i++)
    y[i] = (guint8) lrintf (128.0f + 90.0f * sinf (0.01f * i) +
        6.0f * sinf (1.3f * i));
  ar_wavenet_gen_reset (gp, 1);
  ar_wavenet_gen_decode (gp, y, a, N);
  for (gsize i = 0; i < N; i++)
    g_assert_cmpfloat (a[i], ==, ar_mulaw_decode (y[i]));

  test_decode_by_hand (y, N, 0.85f, 0.0f, 8000, want);
  ar_wavenet_gen_reset (ge, 1);
  ar_wavenet_gen_decode (ge, y, b, 1);
  ar_wavenet_gen_decode (ge, y + 1, b + 1, 999);
  ar_wavenet_gen_decode (ge, y + 1000, b + 1000, N - 1000);
  g_assert_cmpmem (b, N * sizeof (float), want, N * sizeof (float));
  for (gsize i = 0; i < N; i++)
    clipped += fabsf (want[i]) == 1.0f;
  g_assert_cmpint (clipped, >, 0);
  g_assert_cmpint (clipped, <, N / 2);
  /* after a reset the state is empty again */
  ar_wavenet_gen_decode (ge, y, b, 10);
  g_assert_true (memcmp (b, want, 10 * sizeof (float)) != 0);
  ar_wavenet_gen_reset (ge, 2);
  ar_wavenet_gen_decode (ge, y, b, N);
  g_assert_cmpmem (b, N * sizeof (float), want, N * sizeof (float));
}

/* ---- output high-pass ------------------------------------------------- */

static void
set_highpass (ArGgufWriter *w, gconstpointer value)
{
  ar_gguf_writer_set_f32 (w, "wavenet.highpass", *(const float *) value);
}

/* The key: written when set and read back (with the pre-emphasis, F32 and
 * F16); absent is 0; negative, at or above half the sample rate, or NaN is
 * an error naming the key. */
static void
test_highpass_file (void)
{
  ArWaveNetConfig c = config (8, 12, 10, 12, 1, 3);
  g_autoptr (ArWaveNet) plain = ar_wavenet_new_random (&c, 3, NULL);
  g_autoptr (ArWaveNet) hp = NULL;
  GError *error = NULL;

  g_assert_cmpfloat (ar_wavenet_get_config (plain)->highpass, ==, 0.0f);
  g_assert_true (ar_wavenet_decode_is_stateless (plain));
  {
    g_autoptr (ArGguf) f = to_gguf (plain, FALSE);

    g_assert_false (ar_gguf_has_key (f, "wavenet.highpass"));
  }
  c.highpass = 100.0f;
  c.pre_emphasis = 0.5f;
  hp = ar_wavenet_new_random (&c, 3, &error);
  g_assert_no_error (error);
  g_assert_false (ar_wavenet_decode_is_stateless (hp));
  for (int f16 = 0; f16 < 2; f16++) {
    g_autoptr (ArGguf) f = to_gguf (hp, f16);
    g_autoptr (ArWaveNet) back = ar_wavenet_new_from_gguf (f, &error);
    float v = 0.0f;

    g_assert_no_error (error);
    g_assert_true (ar_gguf_get_f32 (f, "wavenet.highpass", &v, NULL));
    g_assert_cmpfloat (v, ==, 100.0f);
    g_assert_cmpmem (ar_wavenet_get_config (back), sizeof c, &c, sizeof c);
  }
  {
    static const float bad[] = { -1.0f, 4000.0f, 1e9f };
    float nan_value = NAN;

    for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
      g_assert_null (reload_with (plain, set_highpass, &bad[i], &error));
      g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, "bad.gguf"));
      g_assert_nonnull (strstr (error->message, "wavenet.highpass is"));
      g_assert_nonnull (strstr (error->message, "4000 Hz"));
      g_clear_error (&error);
    }
    g_assert_null (reload_with (plain, set_highpass, &nan_value, &error));
    g_assert_nonnull (error);
    g_test_message ("%s", error->message);
    g_assert_nonnull (strstr (error->message, "wavenet.highpass"));
    g_assert_nonnull (strstr (error->message, "nan"));
    g_clear_error (&error);
    float ok = 3999.0f;
    g_autoptr (ArWaveNet) hi = reload_with (plain, set_highpass, &ok, &error);
    g_assert_no_error (error);
    g_assert_false (ar_wavenet_decode_is_stateless (hi));
  }
}

/* ar_wavenet_gen_decode with a high-pass, alone and after a de-emphasis:
 * the filter (ArHighpass, tested on its own in test-audio) applied to the
 * unclipped de-emphasised signal, then the clip; its state carried across
 * calls and cleared by a reset. */
static void
test_highpass_decode (void)
{
  enum
  {
    N = 3000
  };
  ArWaveNetConfig c = config (8, 12, 10, 12, 1, 3);
  g_autoptr (ArWaveNet) plain = ar_wavenet_new_random (&c, 5, NULL);
  g_autofree guint8 *y = g_new (guint8, N);
  g_autofree float *b = g_new (float, N);
  g_autofree float *want = g_new (float, N);

  for (gsize i = 0; i < N; i++)
    y[i] = (guint8) lrintf (128.0f + 90.0f * sinf (0.01f * i) +
        6.0f * sinf (1.3f * i));
  for (int k = 0; k < 2; k++) {
    float alpha = k ? 0.85f : 0.0f, hz = 100.0f;
    g_autoptr (ArWaveNet) a = with_pre_emphasis (plain, alpha);
    g_autoptr (ArWaveNet) m = reload_with (a, set_highpass, &hz, NULL);
    g_autoptr (ArWaveNetGen) g = ar_wavenet_gen_new (m);
    double low, low_in = 0;

    test_decode_by_hand (y, N, alpha, hz, 8000, want);
    ar_wavenet_gen_reset (g, 1);
    ar_wavenet_gen_decode (g, y, b, 1);
    ar_wavenet_gen_decode (g, y + 1, b + 1, 999);
    ar_wavenet_gen_decode (g, y + 1000, b + 1000, N - 1000);
    g_assert_cmpmem (b, N * sizeof (float), want, N * sizeof (float));
    ar_wavenet_gen_decode (g, y, b, 10);
    g_assert_true (memcmp (b, want, 10 * sizeof (float)) != 0);
    ar_wavenet_gen_reset (g, 2);
    ar_wavenet_gen_decode (g, y, b, N);
    g_assert_cmpmem (b, N * sizeof (float), want, N * sizeof (float));
    /* a constant class: its offset (lifted 1 / (1 − α) by the de-emphasis)
     * passes at first and is gone after a few hundred samples */
    memset (y, 150, N);
    ar_wavenet_gen_reset (g, 3);
    ar_wavenet_gen_decode (g, y, b, N);
    low = fabs (b[0]);
    for (gsize i = N / 2; i < N; i++)
      low_in = MAX (low_in, fabs (b[i]));
    g_assert_cmpfloat (low, >, 0.9 * ar_mulaw_decode (150));
    g_assert_cmpfloat (low_in, <, 1e-4 * ar_mulaw_decode (150));
  }
}

/* The vocoder with a pre-emphasis draws the classes the same network draws
 * without (the network never sees α): its output is the de-emphasis of
 * those classes, recovered from the α = 0 output, which is exactly the
 * decoded classes, as before. */
static void
test_pre_emphasis_vocoder (void)
{
  static const gsize sizes[] = { 1, 7, 1000 };
  enum
  {
    N = 1300
  };
  g_autoptr (ArWaveNet) plain = small_vocoder (31);
  g_autoptr (ArWaveNet) emph = with_pre_emphasis (plain, 0.85f);
  g_autoptr (ArWaveNetVocoder) vp = ar_wavenet_vocoder_new (plain, NULL);
  g_autoptr (ArWaveNetVocoder) ve = ar_wavenet_vocoder_new (emph, NULL);
  g_autofree float *s = test_signal (N, 3);
  g_autofree float *a = NULL;
  g_autofree float *b = NULL;
  g_autofree float *b2 = NULL;
  g_autofree guint8 *y = g_new (guint8, N);
  g_autofree float *want = g_new (float, N);

  ar_wavenet_vocoder_set_temperature (vp, 1.0f);
  ar_wavenet_vocoder_set_temperature (ve, 1.0f);
  ar_wavenet_vocoder_reset (vp, 9);
  ar_wavenet_vocoder_reset (ve, 9);
  a = run_vocoder (vp, s, N, sizes, G_N_ELEMENTS (sizes), 300);
  b = run_vocoder (ve, s, N, sizes, G_N_ELEMENTS (sizes), 300);
  for (gsize i = 0; i < N; i++)
    y[i] = class_of (a[i]);
  g_assert_cmpuint (y[0], ==, 128);
  test_decode_by_hand (y, N, 0.85f, 0.0f, 8000, want);
  g_assert_cmpmem (b, N * sizeof (float), want, N * sizeof (float));
  g_assert_true (memcmp (a, b, N * sizeof (float)) != 0);
  /* the state is the stream's: a reset replays it exactly */
  ar_wavenet_vocoder_reset (ve, 9);
  b2 = run_vocoder (ve, s, N, sizes, G_N_ELEMENTS (sizes), 77);
  g_assert_cmpmem (b, N * sizeof (float), b2, N * sizeof (float));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/wavenet/kernels", test_kernels);
  for (guint i = 0; i < G_N_ELEMENTS (shapes); i++) {
    g_autofree char *path =
        g_strdup_printf ("/wavenet/feed-vs-full/%s", shapes[i].name);

    g_test_add_data_func (path, &shapes[i], test_feed_vs_full);
  }
  g_test_add_func ("/wavenet/generate-seeds", test_generate_seeds);
  g_test_add_func ("/wavenet/greedy-vs-full", test_greedy_vs_full);
  g_test_add_func ("/wavenet/feed-then-generate", test_feed_then_generate);
  g_test_add_func ("/wavenet/generate-then-feed", test_generate_then_feed);
  g_test_add_func ("/wavenet/threads", test_threads);
  g_test_add_func ("/wavenet/f16", test_f16);
  g_test_add_func ("/wavenet/vocoder/vs-full", test_vocoder_vs_full);
  g_test_add_func ("/wavenet/vocoder/model", test_vocoder_model);
  g_test_add_func ("/wavenet/vocoder/global-class", test_vocoder_global_class);
  g_test_add_func ("/wavenet/mel-feed-vs-full", test_mel_feed_vs_full);
  g_test_add_func ("/wavenet/round-trip", test_round_trip);
  g_test_add_func ("/wavenet/properties", test_properties);
  g_test_add_func ("/wavenet/errors", test_errors);
  g_test_add_func ("/wavenet/errors/tensors-disagree",
      test_errors_tensors_disagree);
  g_test_add_func ("/wavenet/errors/class-names", test_errors_class_names);
  g_test_add_func ("/wavenet/pre-emphasis/file", test_pre_emphasis_file);
  g_test_add_func ("/wavenet/pre-emphasis/decode", test_pre_emphasis_decode);
  g_test_add_func ("/wavenet/pre-emphasis/vocoder", test_pre_emphasis_vocoder);
  g_test_add_func ("/wavenet/highpass/file", test_highpass_file);
  g_test_add_func ("/wavenet/highpass/decode", test_highpass_decode);
  return g_test_run ();
}
