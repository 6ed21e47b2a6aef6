/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-wavenet-train.c — the WaveNet training graph, corpus and task
 * (models/wavenet/ar-wavenet-train.h).
 *
 *   - the whole backward pass against finite differences of the loss, for
 *     every parameter tensor of a tiny model — unconditional, and with mel
 *     and global conditioning —, on windows at a file's start (every
 *     position scored), inside a file (the receptive field's context not
 *     scored) and at its end (targets past the end not scored);
 *   - oracle: the model written by ar_wavenet_train_write () and loaded by
 *     the inference code gives, through ar_wavenet_forward_full () over the
 *     whole file, the losses the training forward gives window by window;
 *   - threads: 1, 2 and 3 threads give the same loss and gradients bit for
 *     bit;
 *   - the corpus and task on synthetic WAV files written to a temporary
 *     directory: the held-out split, validation = the oracle's mean over
 *     every target of every held-out file (with each file's class and mel
 *     frames), the class names in the written file;
 *   - a tiny model learns a periodic signal (loss bound below);
 *   - resuming through ArTrainer ends bit-identical to an uninterrupted
 *     run. */
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "test-util.h"
#include "core/ar-error.h"
#include "data/ar-audio.h"
#include "data/ar-mel.h"
#include "wavenet/ar-wavenet-train.h"

/* A tiny model: 2 stacks of dilations 1, 2 (receptive field 8), 16 classes
 * (the graph takes any Q; the inference loader wants 256). */
static ArWaveNetConfig
tiny_config (gboolean mel, gboolean global, int Q)
{
  ArWaveNetConfig c = { 8000, Q, 4, 6, 5, 7, 2, 2, global ? 3 : 0, mel ? 3 : 0,
    AR_MEL_PARAMS_INIT, 0.0f };

  c.mel.n_mels = 4;
  c.mel.hop = 4;
  c.mel.n_fft = 16;
  c.mel.win_length = 16;
  c.mel.f_min = 0.0f;
  c.mel.f_max = 4000.0f;
  return c;
}

/* Weights large enough that every layer changes the loss visibly,
 * biases and class embeddings included. */
static void
randomise (ArWaveNetTrain *t, guint64 seed, float a)
{
  GPtrArray *params = ar_wavenet_train_get_params (t);
  ArRng rng;

  ar_rng_init (&rng, seed);
  for (guint i = 0; i < params->len; i++) {
    ArParam *p = g_ptr_array_index (params, i);

    for (gsize j = 0; j < p->n; j++)
      p->w[j] = a * (2.0f * ar_rng_uniform (&rng) - 1.0f);
  }
}

/* A fake file: random classes around the middle, random log-mel frames. */
typedef struct
{
  guint8 *x;
  gsize n;
  float *mel;
  gsize n_frames;
} FakeFile;

static void
fake_file_init (FakeFile *f, gsize n, int Q, const ArMelParams *m, guint64 seed)
{
  ArRng rng;

  ar_rng_init (&rng, seed);
  f->n = n;
  f->x = g_new (guint8, n);
  for (gsize i = 0; i < n; i++)
    f->x[i] = (guint8) ar_rng_below (&rng, Q);
  f->n_frames = n / m->hop + 1;
  f->mel = g_new (float, f->n_frames * m->n_mels);
  for (gsize i = 0; i < f->n_frames * m->n_mels; i++)
    f->mel[i] = -4.0f + 3.0f * ar_rng_uniform (&rng);
}

static void
fake_file_clear (FakeFile *f)
{
  g_free (f->x);
  g_free (f->mel);
}

static ArWaveNetWindow
window (const FakeFile *f, gsize start, int from, int to, int cls)
{
  ArWaveNetWindow w = { f->x, f->n, start, from, to, f->mel, f->n_frames, cls };
  return w;
}

/* ---- gradients ------------------------------------------------------------ */

/* The central difference quotient of the loss in weight @j of @p. */
static double
difference (ArWaveNetTrain *t, const ArWaveNetWindow *win, int T, int B,
    ArParam *p, gsize j, double eps)
{
  float saved = p->w[j];
  double lp, lm;

  p->w[j] = saved + (float) eps;
  lp = ar_wavenet_train_forward (t, win, T, B, FALSE, NULL);
  p->w[j] = saved - (float) eps;
  lm = ar_wavenet_train_forward (t, win, T, B, FALSE, NULL);
  p->w[j] = saved;
  return (lp - lm) /
      ((double) (saved + (float) eps) - (double) (saved - (float) eps));
}

/* data: bit 0 mel, bit 1 global */
static void
test_grad (gconstpointer data)
{
  gboolean mel = GPOINTER_TO_INT (data) & 1,
           global = GPOINTER_TO_INT (data) & 2;
  ArWaveNetConfig c = tiny_config (mel, global, 16);
  enum
  {
    T = 13,
    B = 3
  };
  gsize rf = ar_wavenet_train_receptive_field (&c);
  g_assert_cmpuint (rf, ==, 8);
  g_autoptr (ArWaveNetTrain) t = ar_wavenet_train_new (&c, T, B, 2);
  GPtrArray *params = ar_wavenet_train_get_params (t);
  FakeFile f;
  /* test-transformer-train's step and tolerances: the loss is computed in
   * float, so its rounding noise of a few 1e-7 becomes ~1e-4 in the
   * quotient */
  const double eps = 2e-3, rtol = 1e-2, atol = 2e-4;

  fake_file_init (&f, 40, 16, &c.mel, 3);
  if (mel) {
    /* through a mel normalisation (the fake frames lie in [−4, −1]) */
    const float mean[4] = { -2.5f, -2.0f, -3.0f, -2.5f };
    const float sd[4] = { 0.4f, 0.6f, 0.5f, 0.3f };
    ar_wavenet_train_set_mel_normalization (t, mean, sd);
  }
  /* the start of the file (all scored), inside it (context not scored),
   * its end (targets past x_{n−1} not scored) */
  ArWaveNetWindow win[B] = {
    window (&f, 0, 0, T, global ? 1 : -1),
    window (&f, 9, (int) rf - 1, T, global ? 2 : -1),
    window (&f, 30, (int) rf - 1, 9, global ? 0 : -1),
  };
  randomise (t, 1, 0.5f);
  ar_params_zero_grad (params);
  guint64 n_scored = 0;
  double loss = ar_wavenet_train_forward (t, win, T, B, TRUE, &n_scored);
  g_assert_cmpuint (n_scored, ==, 13 + 6 + 2);
  g_assert_true (isfinite (loss) && loss > 0.5);

  for (guint i = 0; i < params->len; i++) {
    ArParam *p = g_ptr_array_index (params, i);
    double worst = 0.0;
    /* every element of the small tensors; of the larger ones about 24, an
     * odd stride apart, and the last */
    gsize step = p->n <= 48 ? 1 : (p->n / 24) | 1, checked = 0, nonzero = 0;
    int retried = 0;

    for (gsize j = 0; j < p->n;
         j = j + step < p->n || j == p->n - 1 ? j + step : p->n - 1) {
      double a = p->g[j], ratio = 0.0, e = eps;

      /* A difference quotient across a kink of a ReLU (some skip sum or
       * out1 value within e of 0) measures neither side's derivative: then
       * the step is made smaller, down to where the loss's float rounding
       * (a few 1e-7) starts to dominate. */
      for (int tries = 0; tries < 3; tries++, e /= 4) {
        double num = difference (t, win, T, B, p, j, e);

        ratio = fabs (a - num) / (rtol * MAX (fabs (a), fabs (num)) + atol);
        if (ratio <= 1.0)
          break;
        if (tries == 2)
          g_error ("%s[%" G_GSIZE_FORMAT "]: analytic %.7g, finite difference "
                   "%.7g",
              p->name, j, a, num);
        retried++;
      }
      worst = MAX (worst, ratio);
      checked++;
      /* well above the absolute tolerance: an entry the check really
       * tests */
      nonzero += fabs (a) > 2 * atol;
    }
    /* a tensor whose gradient is all zero would pass vacuously; the class
     * embeddings only have the columns of the classes used, and input.weight
     * only the rows of the classes seen */
    g_assert_cmpuint (nonzero, >, 0);
    g_test_message ("%s: %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT
                    " entries, worst %.3f of tolerance, %d smaller steps",
        p->name, checked, p->n, worst, retried);
  }
  fake_file_clear (&f);
}

/* ---- the inference oracle ------------------------------------------------- */

static ArWaveNet *
load_written (ArWaveNetTrain *t, const char *const *names)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();

  ar_wavenet_train_write (t, w, names);
  g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
  g_autoptr (ArGguf) f = ar_gguf_new_from_bytes (bytes, "written", &error);
  g_assert_no_error (error);
  ArWaveNet *wn = ar_wavenet_new_from_gguf (f, &error);
  g_assert_no_error (error);
  return wn;
}

/* -log softmax (l)[target], in double */
static double
nll (const float *l, int Q, int target)
{
  double mx = l[0], s = 0.0;

  for (int j = 1; j < Q; j++)
    mx = MAX (mx, l[j]);
  for (int j = 0; j < Q; j++)
    s += exp (l[j] - mx);
  return log (s) + mx - l[target];
}

/* nll[i] = the oracle's loss of target x_{i+1} of the whole file (n − 1). */
static double *
oracle_nll (ArWaveNet *wn, const guint8 *x, gsize n, const float *mel,
    gsize n_frames, int cls)
{
  g_autofree float *logits = g_new (float, (n - 1) * 256);
  double *out = g_new (double, n - 1);

  ar_wavenet_forward_full (wn, x, n - 1, mel, n_frames, cls, logits);
  for (gsize i = 0; i + 1 < n; i++)
    out[i] = nll (logits + i * 256, 256, x[i + 1]);
  return out;
}

static void
test_oracle (gconstpointer data)
{
  gboolean cond = GPOINTER_TO_INT (data);
  ArWaveNetConfig c = tiny_config (cond, cond, 256);
  const char *const names[] = { "a", "b", "c", NULL };
  enum
  {
    T = 30,
    N = 101
  };
  gsize rf = ar_wavenet_train_receptive_field (&c);
  g_autoptr (ArWaveNetTrain) t = ar_wavenet_train_new (&c, T, 1, 1);
  FakeFile f;

  fake_file_init (&f, N, 256, &c.mel, 5);
  randomise (t, 2, 0.4f);
  if (cond) {
    /* a mel normalisation, which the written file must fold in */
    const float mean[4] = { -4.0f, -2.5f, -3.0f, -1.0f };
    const float sd[4] = { 0.5f, 1.5f, 0.8f, 2.0f };
    ar_wavenet_train_set_mel_normalization (t, mean, sd);
  }
  g_autoptr (ArWaveNet) wn = load_written (t, cond ? names : NULL);
  g_assert_cmpuint (ar_wavenet_receptive_field (wn), ==, rf);
  if (cond)
    g_assert_cmpint (ar_wavenet_find_class (wn, "b"), ==, 1);
  int cls = cond ? 1 : -1;
  g_autofree double *ref =
      oracle_nll (wn, f.x, N, cond ? f.mel : NULL, f.n_frames, cls);

  /* windows over the file: its start, every start inside it up to the
   * last targets (with a few hop phases), each target once and with
   * context */
  double worst = 0.0;
  for (gsize s = 0; s + rf < N; s += s == 0 ? 1 : 7) {
    int from = s == 0 ? 0 : (int) rf - 1;
    int to = (int) MIN ((gsize) T, N - 1 - s);
    ArWaveNetWindow win = window (&f, s, from, to, cls);

    if (!cond)
      win.mel = NULL;
    guint64 n;
    double got = ar_wavenet_train_forward (t, &win, T, 1, FALSE, &n);
    double want = 0.0;

    for (int p = from; p < to; p++)
      want += ref[s + p];
    want /= to - from;
    g_assert_cmpuint (n, ==, (guint64) (to - from));
    worst = MAX (worst, fabs (got - want) / want);
    if (!(fabs (got - want) <= 1e-5 * want))
      g_error ("window at %" G_GSIZE_FORMAT ": training forward %.8f nats, "
               "oracle %.8f",
          s, got, want);
  }
  g_test_message ("worst relative difference %.2e", worst);

  /* load_weights unfolds what write folded: a second graph with the same
   * normalisation loads the file into the same parameters (to rounding) */
  if (cond) {
    const float mean[4] = { -4.0f, -2.5f, -3.0f, -1.0f };
    const float sd[4] = { 0.5f, 1.5f, 0.8f, 2.0f };
    g_autoptr (ArWaveNetTrain) t2 = ar_wavenet_train_new (&c, T, 1, 1);
    g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
    g_autoptr (GError) error = NULL;

    ar_wavenet_train_set_mel_normalization (t2, mean, sd);
    ar_wavenet_train_write (t, w, names);
    g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
    g_autoptr (ArGguf) g = ar_gguf_new_from_bytes (bytes, "written", &error);
    g_assert_no_error (error);
    g_assert_true (ar_wavenet_train_load_weights (t2, g, &error));
    g_assert_no_error (error);
    GPtrArray *p1 = ar_wavenet_train_get_params (t);
    GPtrArray *p2 = ar_wavenet_train_get_params (t2);
    for (guint i = 0; i < p1->len; i++) {
      const ArParam *a = g_ptr_array_index (p1, i);
      const ArParam *b = g_ptr_array_index (p2, i);
      for (gsize j = 0; j < a->n; j++)
        g_assert_cmpfloat (fabsf (a->w[j] - b->w[j]), <=,
            1e-5f * MAX (1.0f, fabsf (a->w[j])));
    }

    /* a file that fails — the last tensor missing, or one quantised —
     * leaves every weight as it was (the tensors before the failing one
     * were copied), and names the tensor */
    g_autoptr (ArWaveNetTrain) t3 = ar_wavenet_train_new (&c, T, 1, 1);
    GPtrArray *p3 = ar_wavenet_train_get_params (t3);
    const ArParam *first = g_ptr_array_index (p3, 0);
    g_autofree float *before = g_memdup2 (first->w, first->n * sizeof (float));
    for (int k = 0; k < 2; k++) {
      g_autoptr (ArGgufWriter) w2 = ar_gguf_writer_new ();

      for (guint i = 0; i < ar_gguf_get_n_tensors (g); i++) {
        const ArGgufTensor *tn = ar_gguf_get_tensor (g, i);
        g_autofree float *v = g_new (float, tn->n_elements);

        ar_gguf_tensor_to_f32 (tn, v);
        if (strcmp (tn->name, "out2.bias") == 0 && k == 0)
          continue;
        ar_gguf_writer_add_tensor_f32 (w2, tn->name,
            strcmp (tn->name, "out2.bias") == 0 && k == 1 ? AR_TENSOR_Q8_0
                                                          : AR_TENSOR_F32,
            tn->n_dims, tn->ne, v);
      }
      g_autoptr (GBytes) b2 = ar_gguf_writer_to_bytes (w2);
      g_autoptr (ArGguf) g2 = ar_gguf_new_from_bytes (b2, "bad", &error);
      g_assert_no_error (error);
      g_assert_false (ar_wavenet_train_load_weights (t3, g2, &error));
      g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
      g_assert_nonnull (strstr (error->message,
          k == 0 ? "'out2.bias' is missing" : "'out2.bias' has type Q8_0"));
      g_clear_error (&error);
      g_assert_cmpmem (first->w, first->n * sizeof (float), before,
          first->n * sizeof (float));
    }
  }
  fake_file_clear (&f);
}

/* ---- threads ------------------------------------------------------------- */

static void
test_threads (void)
{
  ArWaveNetConfig c = tiny_config (TRUE, TRUE, 32);
  enum
  {
    T = 24,
    B = 5
  };
  FakeFile f;
  fake_file_init (&f, 200, 32, &c.mel, 8);
  ArWaveNetWindow win[B];
  for (int b = 0; b < B; b++)
    win[b] = window (&f, b == 0 ? 0 : 17 * b, b == 0 ? 0 : 7, T, b % 3);

  ArWaveNetTrain *t[3];
  double loss[3];
  for (int k = 0; k < 3; k++) {
    t[k] = ar_wavenet_train_new (&c, T, B, k + 1);
    g_assert_cmpint (ar_wavenet_train_get_n_threads (t[k]), ==, k + 1);
    randomise (t[k], 4, 0.4f);
    ar_params_zero_grad (ar_wavenet_train_get_params (t[k]));
    loss[k] = ar_wavenet_train_forward (t[k], win, T, B, TRUE, NULL);
    /* twice: the gradients accumulate, the workspaces are reused */
    loss[k] += ar_wavenet_train_forward (t[k], win, T, B, TRUE, NULL);
  }
  for (int k = 1; k < 3; k++) {
    g_assert_cmpmem (&loss[0], sizeof (double), &loss[k], sizeof (double));
    GPtrArray *pa = ar_wavenet_train_get_params (t[0]);
    GPtrArray *pb = ar_wavenet_train_get_params (t[k]);
    for (guint i = 0; i < pa->len; i++) {
      ArParam *x = g_ptr_array_index (pa, i), *y = g_ptr_array_index (pb, i);
      g_assert_cmpmem (x->g, x->n * sizeof (float), y->g,
          y->n * sizeof (float));
    }
  }
  /* and the batch's mean is the scored-weighted mean of its windows */
  double sum = 0.0;
  guint64 count = 0;
  for (int b = 0; b < B; b++) {
    guint64 n;
    sum += ar_wavenet_train_forward (t[1], &win[b], T, 1, FALSE, &n) * n;
    count += n;
  }
  g_assert_cmpfloat_with_epsilon (sum / count, loss[0] / 2, 1e-6);
  for (int k = 0; k < 3; k++)
    ar_wavenet_train_free (t[k]);
  fake_file_clear (&f);
}

/* ---- corpus and task on WAV files ------------------------------------------- */

/* Writes @n_files short WAVs into a new temporary directory: file i a sine
 * of period 10 + i % 3 samples, amplitude 0.5, of 300 + 37 i samples. */
static char *
write_wavs (int n_files, int period_fixed)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp ("argen-wntrain-XXXXXX", &error);

  g_assert_no_error (error);
  for (int i = 0; i < n_files; i++) {
    gsize n = 300 + 37 * i;
    int period = period_fixed ? period_fixed : 10 + i % 3;
    g_autofree float *x = g_new (float, n);
    g_autofree char *name = g_strdup_printf ("f%02d.wav", i);
    g_autofree char *path = g_build_filename (dir, name, NULL);

    for (gsize j = 0; j < n; j++)
      x[j] = 0.5f * sinf (2.0f * (float) G_PI * (float) j / (float) period);
    g_assert_true (ar_audio_write_wav (path, x, n, 8000, &error));
    g_assert_no_error (error);
  }
  return dir;
}

static void
remove_dir (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL) {
    g_autofree char *path = g_build_filename (dir, name, NULL);
    g_unlink (path);
  }
  g_rmdir (dir);
}

static ArWaveNetCorpus *
load_corpus (const char *dir, guint every, const ArMelParams *mel)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) files = ar_audio_list_files (dir, &error);
  GPtrArray *train, *held;

  g_assert_no_error (error);
  ar_audio_split_holdout (files, every, &train, &held);
  ArWaveNetCorpus *corpus =
      ar_wavenet_corpus_new (train, held, 8000, mel, 0.0f, &error);
  g_assert_no_error (error);
  g_ptr_array_unref (train);
  g_ptr_array_unref (held);
  return corpus;
}

/* The root mean square of the cond convolution's pre-activations
 * Wc · [m_{f−1}; m_f; m_{f+1}] + bc over the interior frames of the first
 * @n_train files of @corpus, with the convolution as the task's graph
 * writes it (raw log-mel frames in, any normalisation folded). */
static double
cond_preactivation_rms (ArWaveNetTask *task, ArWaveNetCorpus *corpus,
    guint n_train)
{
  g_autoptr (ArGgufWriter) wr = ar_gguf_writer_new ();
  g_autoptr (GError) error = NULL;

  ar_wavenet_train_write (ar_wavenet_task_get_net (task), wr, NULL);
  g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (wr);
  g_autoptr (ArGguf) g = ar_gguf_new_from_bytes (bytes, "written", &error);
  g_assert_no_error (error);
  const ArGgufTensor *W = ar_gguf_find_tensor (g, "cond.weight");
  const ArGgufTensor *b = ar_gguf_find_tensor (g, "cond.bias");
  g_assert_true (W != NULL && b != NULL);
  const float *Ww = W->data, *bw = b->data;
  int M3 = (int) W->ne[0], M = M3 / 3, Cc = (int) W->ne[1];
  double sum2 = 0.0;
  guint64 count = 0;

  for (guint i = 0; i < n_train; i++) {
    ArWaveNetFile *f = ar_wavenet_corpus_get_file (corpus, i);
    for (gsize j = 1; j + 1 < f->n_frames; j++)
      for (int c = 0; c < Cc; c++) {
        double v = bw[c];
        for (int k = 0; k < M3; k++)
          v += Ww[(gsize) c * M3 + k] * f->mel[(j - 1) * M + k];
        sum2 += v * v;
        count++;
      }
  }
  return sqrt (sum2 / count);
}

static void
test_task_evaluate (gconstpointer data)
{
  gboolean cond = GPOINTER_TO_INT (data);
  g_autofree char *dir = write_wavs (7, 0);
  ArWaveNetConfig c = tiny_config (cond, cond, 256);
  c.mel.n_fft = 32;
  c.mel.win_length = 24;
  c.mel.hop = 8;
  const char *const names[] = { "low", "mid", "high", NULL };
  g_autoptr (ArWaveNetCorpus) corpus =
      load_corpus (dir, 3, cond ? &c.mel : NULL);
  /* every third file held out, as ar_audio_split_holdout () picks them:
   * the corpus has the training files first, then the held-out ones */
  g_autoptr (GPtrArray) files = ar_audio_list_files (dir, NULL);
  g_autoptr (GPtrArray) split_train = NULL;
  g_autoptr (GPtrArray) split_held = NULL;
  ar_audio_split_holdout (files, 3, &split_train, &split_held);
  const guint n_train = split_train->len;
  g_assert_cmpuint (n_train, >=, 4);
  g_assert_cmpuint (split_held->len, ==, 7 - n_train);
  guint64 held_samples = 0;

  g_assert_cmpuint (ar_wavenet_corpus_get_n_files (corpus), ==, 7);
  for (guint i = 0; i < 7; i++) {
    ArWaveNetFile *f = ar_wavenet_corpus_get_file (corpus, i);
    const char *path =
        g_ptr_array_index (i < n_train ? split_train : split_held,
            i < n_train ? i : i - n_train);
    g_autofree char *base = g_path_get_basename (f->path);
    guint orig = 99;

    g_assert_cmpstr (f->path, ==, path);
    g_assert_cmpint (sscanf (base, "f%02u.wav", &orig), ==, 1);
    g_assert_cmpint (f->held_out, ==, i >= n_train);
    g_assert_cmpuint (f->n, ==, 300 + 37 * orig);
    if (f->held_out)
      held_samples += f->n;
    g_assert_cmpint (f->global_class, ==, -1);
    if (cond)
      g_assert_cmpuint (f->n_frames, ==, f->n / 8 + 1);
    else
      g_assert_null (f->mel);
  }
  if (cond) {
    /* classes from a mapping file: c0, c1, c2 by the file's number */
    g_autoptr (GString) map = g_string_new ("# file class\n\n");
    g_autofree char *map_path = g_build_filename (dir, "classes.txt", NULL);
    g_autoptr (GError) error = NULL;
    char **found = NULL;

    for (int i = 0; i < 6; i++)
      g_string_append_printf (map, "f%02d.wav\tc%d\n", i, i % 3);
    g_assert_true (g_file_set_contents (map_path, map->str, -1, NULL));
    /* f06 has no line */
    g_assert_false (ar_wavenet_corpus_assign_classes (corpus, map_path, &found,
        &error));
    g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
    g_assert_nonnull (strstr (error->message, "f06.wav"));
    g_clear_error (&error);
    /* a class name that is not UTF-8 (Latin-1 "Zoë"), which a model file
     * cannot hold: refused naming the line (a GLib critical, then "expected
     * NAME CLASS") */
    g_autofree char *latin1 = g_strdup_printf ("%sf06.wav Zo\xeb\n", map->str);
    g_assert_true (g_file_set_contents (map_path, latin1, -1, NULL));
    g_assert_false (ar_wavenet_corpus_assign_classes (corpus, map_path, &found,
        &error));
    g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
    g_assert_nonnull (strstr (error->message, "classes.txt:9: the class "
            "\"Zo\xef\xbf\xbd\" is not valid UTF-8"));
    g_assert_null (found);
    g_clear_error (&error);
    /* a NAME need not be UTF-8: it is a file's (here one the corpus does
     * not have) */
    g_autofree char *latin1_name =
        g_strdup_printf ("%sZo\xeb.wav c1\n", map->str);
    g_assert_true (g_file_set_contents (map_path, latin1_name, -1, NULL));
    g_assert_false (ar_wavenet_corpus_assign_classes (corpus, map_path, &found,
        &error));
    g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
    g_assert_nonnull (strstr (error->message, "no class for"));
    g_clear_error (&error);
    /* a file given two classes: refused naming the line (the later class
     * won silently); given the same one twice: fine */
    g_autofree char *twice =
        g_strdup_printf ("%sf06.wav c0\nf02.wav c1\n", map->str);
    g_assert_true (g_file_set_contents (map_path, twice, -1, NULL));
    g_assert_false (ar_wavenet_corpus_assign_classes (corpus, map_path, &found,
        &error));
    g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
    g_assert_nonnull (strstr (error->message, "classes.txt:10: f02.wav is "
            "given the class \"c1\"; an earlier line gave it \"c2\""));
    g_clear_error (&error);
    g_autofree char *same =
        g_strdup_printf ("%sf06.wav c0\nf02.wav c2\n", map->str);
    g_assert_true (g_file_set_contents (map_path, same, -1, NULL));
    g_assert_true (ar_wavenet_corpus_assign_classes (corpus, map_path, &found,
        &error));
    g_assert_no_error (error);
    g_clear_pointer (&found, g_strfreev);
    /* no mapping file: an AR_ERROR too (it was a GFileError) */
    g_autofree char *missing = g_build_filename (dir, "none.txt", NULL);
    g_assert_false (ar_wavenet_corpus_assign_classes (corpus, missing, &found,
        &error));
    g_assert_error (error, AR_ERROR, AR_ERROR_IO);
    g_assert_nonnull (strstr (error->message, "none.txt"));
    g_clear_error (&error);
    g_string_append (map, "f06.wav c0\n");
    g_assert_true (g_file_set_contents (map_path, map->str, -1, NULL));
    g_assert_true (ar_wavenet_corpus_assign_classes (corpus, map_path, &found,
        &error));
    g_assert_no_error (error);
    g_assert_cmpuint (g_strv_length (found), ==, 3);
    g_assert_cmpstr (found[2], ==, "c2");
    for (guint i = 0; i < 7; i++) {
      ArWaveNetFile *f = ar_wavenet_corpus_get_file (corpus, i);
      guint orig = (f->n - 300) / 37;
      g_assert_cmpint (f->global_class, ==, orig % 3);
    }
    g_strfreev (found);
    /* a model's classes: every file's must be one of them */
    const char *const two[] = { "c0", "c1", NULL };
    found = (char **) two;
    g_assert_false (ar_wavenet_corpus_assign_classes (corpus, map_path, &found,
        &error));
    g_assert_nonnull (strstr (error->message, "\"c2\""));
    g_clear_error (&error);
    /* the folders' names: one class here */
    char **dirs = NULL;
    g_assert_true (ar_wavenet_corpus_assign_classes (corpus, "dirs", &dirs,
        &error));
    g_assert_cmpuint (g_strv_length (dirs), ==, 1);
    g_assert_true (g_str_has_prefix (dirs[0], "argen-wntrain-"));
    g_strfreev (dirs);
    found = NULL;
    g_assert_true (ar_wavenet_corpus_assign_classes (corpus, map_path, &found,
        &error));
    g_strfreev (found);
    g_unlink (map_path);
  }
  g_assert_cmpuint (ar_wavenet_corpus_count_samples (corpus, TRUE), ==,
      held_samples);

  /* windows of 40: blocks of 33 targets, four windows a batch */
  g_autoptr (ArWaveNetTask) task =
      ar_wavenet_task_new (&c, corpus, 40, 4, 2, cond ? names : NULL);
  ArWaveNetTrain *t = ar_wavenet_task_get_net (task);
  randomise (t, 6, 0.3f);
  const ArTrainable *tr = ar_wavenet_task_get_trainable (task);
  g_assert_cmpstr (tr->unit, ==, "bits/sample");
  /* the targets a step scores on average: each training target lies in 33
   * of the Σ (n + 31) blocks */
  double targets = 0, blocks = 0;
  for (guint i = 0; i < n_train; i++) {
    targets += ar_wavenet_corpus_get_file (corpus, i)->n - 1;
    blocks += ar_wavenet_corpus_get_file (corpus, i)->n + 33 - 2;
  }
  g_assert_cmpuint (tr->units_per_step, ==,
      llround (4 * 33 * targets / blocks));
  g_assert_cmpuint (tr->units_per_step, <, 4 * 33);

  guint64 n = 0;
  double got = ar_wavenet_task_evaluate (task, TRUE, &n);
  g_autoptr (ArWaveNet) wn = load_written (t, cond ? names : NULL);
  double want = 0.0, wrong = 0.0;
  guint64 count = 0;
  for (guint i = n_train; i < 7; i++) {
    ArWaveNetFile *f = ar_wavenet_corpus_get_file (corpus, i);
    g_autofree double *ref =
        oracle_nll (wn, f->x, f->n, f->mel, f->n_frames, f->global_class);
    for (gsize j = 0; j + 1 < f->n; j++)
      want += ref[j];
    count += f->n - 1;
    if (cond) {
      g_autofree double *other = oracle_nll (wn, f->x, f->n, f->mel,
          f->n_frames, (f->global_class + 1) % 3);
      for (gsize j = 0; j + 1 < f->n; j++)
        wrong += other[j];
    }
  }
  want /= count * G_LN2;
  g_assert_cmpuint (n, ==, count);
  g_test_message ("held out: %.6f bits/sample (oracle %.6f)", got, want);
  g_assert_cmpfloat (fabs (got - want), <=, 1e-6 * want);
  /* each file's class is used: the next class scores differently by more
   * than the tolerance above (7e-4 bits with these weights) */
  if (cond)
    g_assert_cmpfloat (fabs (wrong / (count * G_LN2) - want), >, 1e-4);
  /* the training files too, and the task's step draws a batch */
  g_assert_true (isfinite (ar_wavenet_task_evaluate (task, FALSE, &n)));
  g_assert_cmpuint (n, ==,
      ar_wavenet_corpus_count_samples (corpus, FALSE) - n_train);
  ArRng rng;
  ar_rng_init (&rng, 1);
  ar_params_zero_grad (tr->params);
  g_assert_true (isfinite (tr->step (task, &rng)));

  /* a vocoder's initialisation: the cond convolution's pre-activations
   * over the training frames centred and of unit scale, where the
   * data-blind one leaves them far off (log-mel values sit around −5) */
  if (cond) {
    ar_rng_init (&rng, 3);
    ar_wavenet_train_init (t, &rng);
    double before = cond_preactivation_rms (task, corpus, n_train);
    ar_rng_init (&rng, 3);
    ar_wavenet_task_init (task, &rng);
    double after = cond_preactivation_rms (task, corpus, n_train);
    g_test_message ("cond convolution pre-activations: rms %.3f after "
                    "ar_wavenet_train_init, %.3f after ar_wavenet_task_init",
        before, after);
    g_assert_cmpfloat (after, <, 2.0);
    g_assert_cmpfloat (after, >, 0.3);
    g_assert_cmpfloat (before, >, 2 * after);
  }

  /* the class names go into the file */
  if (cond) {
    g_assert_cmpstr (ar_wavenet_get_class_name (wn, 2), ==, "high");
    g_assert_cmpint (ar_wavenet_get_config (wn)->global_classes, ==, 3);
    g_assert_cmpint (ar_wavenet_get_config (wn)->cond_channels, ==, 3);
    g_assert_cmpint (ar_wavenet_get_config (wn)->mel.hop, ==, 8);
  }
  remove_dir (dir);
}

/* ---- training ------------------------------------------------------------- */

typedef struct
{
  char *dir;
  ArWaveNetCorpus *corpus;
  ArWaveNetTask *task;
  ArTrainer *trainer;
} Run;

/* 1 stack of 4 layers (receptive field 17), R 8, G 16, S 16, O 32; with
 * @mel a vocoder (4 mels, cond 3 channels), initialised as the trainer
 * does (ar_wavenet_task_init: the mel normalisation from the data, which
 * the model file stores folded into the cond convolution) */
static void
run_init_full (Run *r, guint64 steps, guint64 seed, int n_threads, float lr,
    gboolean mel)
{
  ArWaveNetConfig c = { 8000, 256, 8, 16, 16, 32, 1, 4, 0, mel ? 3 : 0,
    AR_MEL_PARAMS_INIT, 0.0f };

  if (mel) {
    ArWaveNetConfig t = tiny_config (TRUE, FALSE, 256);
    c.mel = t.mel;
    c.mel.n_fft = 32;
    c.mel.win_length = 24;
    c.mel.hop = 8;
  }
  r->dir = write_wavs (6, mel ? 0 : 16);
  r->corpus = load_corpus (r->dir, 6, mel ? &c.mel : NULL);
  r->task = ar_wavenet_task_new (&c, r->corpus, 48, 4, n_threads, NULL);
  ArRng rng;
  ar_rng_init (&rng, seed);
  if (mel)
    ar_wavenet_task_init (r->task, &rng);
  else
    ar_wavenet_train_init (ar_wavenet_task_get_net (r->task), &rng);
  ArTrainOptions o = AR_TRAIN_OPTIONS_INIT;
  o.steps = steps;
  o.warmup = 10;
  o.lr = lr;
  o.eval_every = 0;
  o.checkpoint_every = 0;
  o.seed = seed;
  r->trainer =
      ar_trainer_new (ar_wavenet_task_get_trainable (r->task), r->task, &o);
}

static void
run_init (Run *r, guint64 steps, guint64 seed, int n_threads, float lr)
{
  run_init_full (r, steps, seed, n_threads, lr, FALSE);
}

static void
run_clear (Run *r)
{
  ar_trainer_free (r->trainer);
  ar_wavenet_task_free (r->task);
  ar_wavenet_corpus_free (r->corpus);
  remove_dir (r->dir);
  g_free (r->dir);
}

static void
record_val (const ArTrainProgress *p, gpointer user_data)
{
  if (!isnan (p->val_loss))
    *(double *) user_data = p->val_loss;
}

static void
test_learns_periodic (void)
{
  double val = NAN;
  g_autoptr (GError) error = NULL;
  Run r;

  run_init (&r, 100, 7, 2, 1e-2f);
  double before = ar_wavenet_task_evaluate (r.task, TRUE, NULL);
  g_assert_true (ar_trainer_run (r.trainer, NULL, record_val, &val, NULL,
      &error));
  g_assert_no_error (error);
  g_test_message ("held-out sine: %.4f bits/sample before, %.4f after 100 "
                  "steps",
      before, val);
  /* a sine of period 16 is 16 µ-law values repeating: from about 8 bits
   * (uniform over 256) to nearly determined — only the first targets of
   * the file are uncertain, the rest follow from a few samples before them
   * (0.0025 bits/sample here) */
  g_assert_cmpfloat (before, >, 6.0);
  g_assert_cmpfloat (val, <, 0.1);
  run_clear (&r);
}

static void
stop_at_17 (const ArTrainProgress *p, gpointer user_data)
{
  if (p->step == 17)
    *(volatile gint *) user_data = 1;
}

/* An unconditional model, and a vocoder (@data), whose checkpoint keeps
 * the cond convolution as trained besides the folded copy of its model
 * file (ArTrainable.transformed: unfolding would not give the same floats
 * back). */
static void
test_resume_is_exact (gconstpointer data)
{
  gboolean mel = GPOINTER_TO_INT (data);
  g_autofree char *dir = g_dir_make_tmp ("argen-wntrain-XXXXXX", NULL);
  g_autofree char *ckpt = g_build_filename (dir, "run.ckpt", NULL);
  g_autoptr (GError) error = NULL;
  Run straight, first, resumed;

  run_init_full (&straight, 30, 3, 2, 5e-3f, mel);
  g_assert_true (ar_trainer_run (straight.trainer, NULL, NULL, NULL, NULL,
      &error));
  g_assert_no_error (error);

  /* stopped after step 17, then resumed by a trainer whose weights and
   * seed start out different, on one thread */
  run_init_full (&first, 30, 3, 2, 5e-3f, mel);
  volatile gint stop = 0;
  g_assert_false (ar_trainer_run (first.trainer, ckpt, stop_at_17,
      (gpointer) &stop, &stop, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_CANCELLED);
  g_clear_error (&error);
  run_clear (&first);
  /* the checkpoint is a model the inference code loads */
  g_autoptr (ArGguf) f = ar_gguf_new_from_file (ckpt, &error);
  g_assert_no_error (error);
  g_autoptr (ArWaveNet) wn = ar_wavenet_new_from_gguf (f, &error);
  g_assert_no_error (error);

  run_init_full (&resumed, 30, 99, 1, 5e-3f, mel);
  g_assert_true (ar_trainer_resume (resumed.trainer, ckpt, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ar_trainer_get_step (resumed.trainer), ==, 17);
  g_assert_true (ar_trainer_run (resumed.trainer, ckpt, NULL, NULL, NULL,
      &error));
  g_assert_no_error (error);
  test_assert_same_params (
      ar_wavenet_train_get_params (ar_wavenet_task_get_net (straight.task)),
      ar_wavenet_train_get_params (ar_wavenet_task_get_net (resumed.task)));
  run_clear (&straight);
  run_clear (&resumed);
  g_unlink (ckpt);
  g_rmdir (dir);
}

/* ---- pre-emphasis ------------------------------------------------------------ */

/* The corpus codes e_t = s_t − α s_{t−1} (s_{−1} = 0) of each file as µ-law
 * classes, and keeps the mel frames of s; a task writes α into the file. */
static void
test_pre_emphasis (void)
{
  enum
  {
    N = 700
  };
  const float alpha = 0.85f;
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("argen-wnpe-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "a.wav", NULL);
  g_autofree float *x = g_new (float, N);
  g_autofree float *s = NULL;
  gsize n = 0;
  ArWaveNetConfig c = tiny_config (TRUE, FALSE, 256);

  g_assert_no_error (error);
  c.mel.n_fft = 32;
  c.mel.win_length = 24;
  c.mel.hop = 8;
  for (gsize j = 0; j < N; j++)
    x[j] = 0.4f * sinf (0.05f * j) + 0.1f * sinf (1.9f * j);
  g_assert_true (ar_audio_write_wav (path, x, N, 8000, &error));
  g_assert_no_error (error);
  /* what the corpus reads (16-bit, so not x exactly) */
  g_assert_true (ar_audio_read (path, 8000, &s, &n, &error));
  g_assert_cmpuint (n, ==, N);

  g_autoptr (GPtrArray) train = g_ptr_array_new ();
  g_ptr_array_add (train, path);
  g_autoptr (ArWaveNetCorpus) plain =
      ar_wavenet_corpus_new (train, NULL, 8000, &c.mel, 0.0f, &error);
  g_assert_no_error (error);
  g_autoptr (ArWaveNetCorpus) emph =
      ar_wavenet_corpus_new (train, NULL, 8000, &c.mel, alpha, &error);
  g_assert_no_error (error);
  const ArWaveNetFile *fp = ar_wavenet_corpus_get_file (plain, 0);
  const ArWaveNetFile *fe = ar_wavenet_corpus_get_file (emph, 0);
  int differ = 0;

  g_assert_cmpuint (fe->n, ==, N);
  for (gsize t = 0; t < N; t++) {
    float e = t == 0 ? s[0] : s[t] - alpha * s[t - 1];

    g_assert_cmpuint (fe->x[t], ==, ar_mulaw_encode (e));
    g_assert_cmpuint (fp->x[t], ==, ar_mulaw_encode (s[t]));
    differ += fe->x[t] != fp->x[t];
  }
  g_assert_cmpint (differ, >, N / 2);
  /* the mel frames are the original signal's */
  {
    g_autoptr (ArMel) mel = ar_mel_new (&c.mel, &error);
    gsize nf = ar_mel_n_frames (mel, N), m = nf * c.mel.n_mels;
    g_autofree float *frames = g_new (float, m);

    ar_mel_compute (mel, s, N, frames);
    g_assert_cmpuint (fe->n_frames, ==, nf);
    g_assert_cmpmem (fe->mel, m * sizeof (float), frames, m * sizeof (float));
  }

  /* the task's file carries α (and the output high-pass, which training
   * never uses), and the model loads with them */
  c.pre_emphasis = alpha;
  c.highpass = 100.0f;
  {
    g_autoptr (ArWaveNetTask) task =
        ar_wavenet_task_new (&c, emph, 16, 1, 1, NULL);
    g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
    ArRng rng;
    float v = 0.0f;

    ar_rng_init (&rng, 1);
    ar_wavenet_task_init (task, &rng);
    ar_wavenet_train_write (ar_wavenet_task_get_net (task), w, NULL);
    g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
    g_autoptr (ArGguf) f = ar_gguf_new_from_bytes (bytes, "pe.gguf", &error);
    g_assert_no_error (error);
    g_assert_true (ar_gguf_get_f32 (f, "wavenet.pre_emphasis", &v, &error));
    g_assert_cmpfloat (v, ==, alpha);
    g_autoptr (ArWaveNet) wn = ar_wavenet_new_from_gguf (f, &error);
    g_assert_no_error (error);
    g_assert_cmpfloat (ar_wavenet_get_config (wn)->pre_emphasis, ==, alpha);
    g_assert_cmpfloat (ar_wavenet_get_config (wn)->highpass, ==, 100.0f);
  }
  /* out of range for training */
  c.pre_emphasis = 1.0f;
  g_assert_false (ar_wavenet_train_check (&c, 16, 1, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "wavenet.pre_emphasis is 1;"));
  g_clear_error (&error);
  c.pre_emphasis = alpha;
  c.highpass = c.sample_rate / 2.0f;
  g_assert_false (ar_wavenet_train_check (&c, 16, 1, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "wavenet.highpass is"));
  g_clear_error (&error);

  g_unlink (path);
  g_rmdir (dir);
}

/* ---- checks --------------------------------------------------------------- */

static void
test_check (void)
{
  ArWaveNetConfig c = tiny_config (TRUE, FALSE, 256);
  g_autoptr (GError) error = NULL;

  g_assert_true (ar_wavenet_train_check (&c, 8, 1, &error));
  g_assert_no_error (error);
  /* shorter than the receptive field */
  g_assert_false (ar_wavenet_train_check (&c, 7, 1, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "receptive field"));
  g_clear_error (&error);
  c.gate = 7;
  g_assert_false (ar_wavenet_train_check (&c, 8, 1, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
  g_clear_error (&error);
  c.gate = 6;
  c.mel.sample_rate = 16000;
  g_assert_false (ar_wavenet_train_check (&c, 8, 1, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "16000"));
}

/* --classes dirs over a folder whose name is not UTF-8 (Latin-1 "Zoë"):
 * refused naming the file, since no model file can hold the class name
 * (it was taken, and the model trained on it was refused by the loader). */
static void
test_classes_not_utf8 (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("argen-wntrain-XXXXXX", &error);
  g_autofree char *sub = g_build_filename (dir, "Zo\xeb", NULL);
  g_autofree char *path = g_build_filename (sub, "a.wav", NULL);
  const float x[4] = { 0.1f, -0.1f, 0.2f, -0.2f };
  char **names = NULL;

  g_assert_no_error (error);
  g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);
  g_assert_true (ar_audio_write_wav (path, x, 4, 8000, &error));
  {
    g_autoptr (GPtrArray) files = g_ptr_array_new ();
    g_autoptr (ArWaveNetCorpus) corpus = NULL;

    g_ptr_array_add (files, path);
    corpus = ar_wavenet_corpus_new (files, NULL, 8000, NULL, 0.0f, &error);
    g_assert_no_error (error);
    g_assert_false (ar_wavenet_corpus_assign_classes (corpus, "dirs", &names,
        &error));
    g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
    g_assert_nonnull (strstr (error->message, "a.wav, \"Zo\xef\xbf\xbd\", is "
            "not valid UTF-8"));
    g_assert_null (names);
  }
  g_unlink (path);
  g_rmdir (sub);
  g_rmdir (dir);
}

/* A corpus whose training files are too short to predict anything (one
 * sample; the other file held out): ar_trainer_run () refuses it before the
 * first step, saying so (a critical, then "training diverged at step 1
 * (loss nan): lower the learning rate"). */
static void
test_nothing_to_train (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("argen-wntrain-XXXXXX", &error);
  g_autofree char *one = g_build_filename (dir, "one.wav", NULL);
  g_autofree char *more = g_build_filename (dir, "more.wav", NULL);
  const float x[64] = { 0.25f };
  ArWaveNetConfig c = tiny_config (FALSE, FALSE, 256);
  ArTrainOptions o = AR_TRAIN_OPTIONS_INIT;
  g_autoptr (GPtrArray) train = g_ptr_array_new ();
  g_autoptr (GPtrArray) held = g_ptr_array_new ();
  ArRng rng;

  g_assert_true (ar_audio_write_wav (one, x, 1, 8000, &error));
  g_assert_true (ar_audio_write_wav (more, x, 64, 8000, &error));
  g_ptr_array_add (train, one);
  g_ptr_array_add (held, more);
  {
    g_autoptr (ArWaveNetCorpus) corpus =
        ar_wavenet_corpus_new (train, held, 8000, NULL, 0.0f, &error);
    g_autoptr (ArWaveNetTask) task = NULL;
    g_autoptr (ArTrainer) tr = NULL;

    g_assert_no_error (error);
    task = ar_wavenet_task_new (&c, corpus, 16, 1, 1, NULL);
    ar_rng_init (&rng, 1);
    ar_wavenet_task_init (task, &rng);
    o.steps = 1;
    o.warmup = 0;
    tr = ar_trainer_new (ar_wavenet_task_get_trainable (task), task, &o);
    g_assert_false (ar_trainer_run (tr, NULL, NULL, NULL, NULL, &error));
    g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
    g_assert_nonnull (strstr (error->message, "nothing to train on: no "
            "training file (of 1) has the 2 samples a prediction needs"));
    g_assert_cmpuint (ar_trainer_get_step (tr), ==, 0);
  }
  g_unlink (one);
  g_unlink (more);
  g_rmdir (dir);
}

/* What the trainer accepts, the loader loads: every configuration outside
 * the model file's ranges is refused before training, naming the key (9
 * stacks, 2000 channels or classes, a rate of 500 Hz and mel parameters
 * ar_mel_new () refuses all trained, and wrote files that
 * ar_wavenet_new_from_gguf () then refused). */
static void
test_check_model_ranges (void)
{
  const struct
  {
    const char *field, *message;
  } cases[] = {
    { "stacks", "wavenet.stacks is 9" },
    { "residual", "wavenet.residual_channels is 2000" },
    { "classes", "wavenet.global.classes is 2000" },
    { "cond", "wavenet.cond_channels is 2000" },
    { "rate", "wavenet.sample_rate is 500" },
    { "n_fft", "n_fft is 15" },
    { "f_max", "f_max is 5000" },
    { "win_length", "win_length is 32" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    ArWaveNetConfig c = tiny_config (TRUE, FALSE, 256);
    g_autoptr (GError) error = NULL;
    const char *f = cases[i].field;

    if (strcmp (f, "stacks") == 0)
      c.stacks = 9;
    else if (strcmp (f, "residual") == 0)
      c.residual = 2000;
    else if (strcmp (f, "classes") == 0)
      c.global_classes = 2000;
    else if (strcmp (f, "cond") == 0)
      c.cond_channels = 2000;
    else if (strcmp (f, "rate") == 0)
      c.sample_rate = c.mel.sample_rate = 500;
    else if (strcmp (f, "n_fft") == 0)
      c.mel.n_fft = 15;
    else if (strcmp (f, "f_max") == 0)
      c.mel.f_max = 5000.0f;
    else
      c.mel.win_length = 32;
    g_assert_false (ar_wavenet_train_check (&c,
        (int) ar_wavenet_train_receptive_field (&c), 1, &error));
    g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
    g_assert_nonnull (strstr (error->message, cases[i].message));
  }

  /* the largest configuration the loader takes passes (windows of its
   * receptive field, one at a time), and Q below 256 still trains */
  {
    ArWaveNetConfig c = tiny_config (FALSE, FALSE, 256);
    g_autoptr (GError) error = NULL;

    c.stacks = 8;
    c.layers_per_stack = 2;
    c.global_classes = 1024;
    g_assert_true (ar_wavenet_train_check (&c, 64, 1, &error));
    g_assert_no_error (error);
    c.quantization = 16;
    g_assert_true (ar_wavenet_train_check (&c, 64, 1, &error));
    g_assert_no_error (error);
    c.quantization = 1;
    g_assert_false (ar_wavenet_train_check (&c, 64, 1, &error));
    g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
    g_assert_nonnull (strstr (error->message, "quantization is 1"));
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/wavenet-train/grad/plain", GINT_TO_POINTER (0),
      test_grad);
  g_test_add_data_func ("/wavenet-train/grad/mel-global", GINT_TO_POINTER (3),
      test_grad);
  g_test_add_data_func ("/wavenet-train/oracle/plain", GINT_TO_POINTER (0),
      test_oracle);
  g_test_add_data_func ("/wavenet-train/oracle/mel-global", GINT_TO_POINTER (1),
      test_oracle);
  g_test_add_func ("/wavenet-train/threads", test_threads);
  g_test_add_data_func ("/wavenet-train/task/plain", GINT_TO_POINTER (0),
      test_task_evaluate);
  g_test_add_data_func ("/wavenet-train/task/mel-global", GINT_TO_POINTER (1),
      test_task_evaluate);
  g_test_add_func ("/wavenet-train/check", test_check);
  g_test_add_func ("/wavenet-train/check-model-ranges",
      test_check_model_ranges);
  g_test_add_func ("/wavenet-train/classes-not-utf8", test_classes_not_utf8);
  g_test_add_func ("/wavenet-train/nothing-to-train", test_nothing_to_train);
  g_test_add_func ("/wavenet-train/pre-emphasis", test_pre_emphasis);
  g_test_add_func ("/wavenet-train/learns-periodic", test_learns_periodic);
  g_test_add_data_func ("/wavenet-train/resume", GINT_TO_POINTER (FALSE),
      test_resume_is_exact);
  g_test_add_data_func ("/wavenet-train/resume-vocoder", GINT_TO_POINTER (TRUE),
      test_resume_is_exact);
  return g_test_run ();
}
