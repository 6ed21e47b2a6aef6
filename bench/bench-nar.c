/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-nar.c — Mask-Predict's speed/quality curve: for T = 1 .. N
 * iterations (every T, or 1, 2, 4, ... and N when N > 16), the
 * non-autoregressive model's tokens per second and the quality of what it
 * generates, next to autoregressive decoding of the same length by the
 * autoregressive model.
 *
 * Setting: --contexts K contexts of C - N characters (C the NAR model's
 * context length, N its slots), spread evenly over the held-out last 10 %
 * of --data (the split of the training recipes).  From each, both decoders
 * generate --length L tokens, greedily by default (--temperature): the NAR
 * model N at a time, each chunk by Mask-Predict after the last C - N tokens
 * of the text so far; the AR model token by token from the same context
 * through its KV cache.
 *
 * Quality: the AR model's negative log-likelihood of the generated text
 * given the same context, in nats per character, averaged over all
 * generated tokens (the AR model scoring its own greedy output gives the
 * reference row).  Speed: tokens generated per second of wall time on one
 * thread (OpenBLAS held to one), the best of --repeat runs over all
 * contexts (the machine is shared).  The NAR time includes everything
 * (each pass re-encodes its context); the AR time counts only the L
 * decoding steps, not its one batched pass over the prompt — so the ratio
 * is, if anything, unfavourable to the NAR model.  With --cpu-time the
 * clock is the thread's CPU time instead of wall time: steadier when other
 * work shares the machine (it still slows the caches down).
 *
 * Writes the table to standard output and as CSV (--csv), and the curve as
 * a PNG (--png): quality against tokens/s, one point per T, and the AR
 * point.
 *
 * usage: bench-nar [--ar M.gguf] [--nar M.gguf] [--data TEXT]
 *                  [--contexts 8] [--length 2N] [--repeat 3]
 *                  [--temperature 0] [--seed 1] [--cpu-time]
 *                  [--csv F] [--png F] */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "argen-chart.h"
#include "core/ar-rng.h"
#include "core/ar-sample.h"
#include "nar/ar-nar.h"
#include "text/ar-text-data.h"
#include "transformer/ar-transformer.h"

/* Seconds on the benchmark's clock: wall time, or with --cpu-time the
 * calling thread's CPU time. */
static gboolean use_cpu_time;

static double
now (void)
{
  struct timespec ts;

  clock_gettime (use_cpu_time ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct
{
  const ArTransformer *ar;
  ArTransformerState *ar_state;
  const ArNar *nar;
  ArNarState *nar_state;
  ArSampler *sampler;
  ArSamplingParams params;
  guint64 seed;
  guint V, K, L, c0;       /* vocabulary, contexts, length, context tokens */
  const gint32 **contexts; /* (K) pointers into the held-out ids, c0 each */
  gint32 *text;            /* (c0 + L) context then generated */
  gint32 *out;             /* (K, L) what the last run generated */
} Bench;

/* -log softmax (logits)[token], in double */
static double
nll (const float *logits, guint V, guint token)
{
  float mx = logits[0];
  double s = 0.0;

  for (guint i = 1; i < V; i++)
    mx = MAX (mx, logits[i]);
  for (guint i = 0; i < V; i++)
    s += exp ((double) logits[i] - mx);
  return log (s) + mx - logits[token];
}

/* The AR model's mean nats per token of each context's generated L tokens
 * (b->out) given that context. */
static double
ar_score (Bench *b)
{
  double total = 0.0;

  for (guint k = 0; k < b->K; k++) {
    const gint32 *gen = b->out + (gsize) k * b->L;
    const float *logits;

    ar_transformer_state_reset (b->ar_state);
    logits = ar_transformer_forward_prompt (b->ar, b->ar_state, b->contexts[k],
        b->c0);
    for (guint i = 0; i < b->L; i++) {
      total += nll (logits, b->V, (guint) gen[i]);
      logits = ar_transformer_forward (b->ar, b->ar_state, (guint) gen[i]);
    }
  }
  return total / ((double) b->K * b->L);
}

/* AR decoding of every context: returns the seconds the L decoding steps
 * took, summed over the contexts. */
static double
run_ar (Bench *b)
{
  ArRng rng;
  double seconds = 0.0;

  ar_rng_init (&rng, b->seed);
  for (guint k = 0; k < b->K; k++) {
    gint32 *gen = b->out + (gsize) k * b->L;
    const float *logits;

    ar_transformer_state_reset (b->ar_state);
    logits = ar_transformer_forward_prompt (b->ar, b->ar_state, b->contexts[k],
        b->c0);
    double t0 = now ();
    for (guint i = 0; i < b->L; i++) {
      guint tok = b->params.temperature == 0.0f
          ? ar_argmax (logits, b->V)
          : ar_sampler_sample (b->sampler, &b->params, &rng, logits);

      gen[i] = (gint32) tok;
      /* the last token needs no logits after it */
      if (i + 1 < b->L)
        logits = ar_transformer_forward (b->ar, b->ar_state, tok);
    }
    seconds += now () - t0;
  }
  return seconds;
}

/* Mask-Predict with @T iterations over every context, N tokens at a time;
 * returns the seconds taken and the passes run in *passes. */
static double
run_nar (Bench *b, guint T, guint64 *passes)
{
  guint N = ar_nar_get_slots (b->nar);
  ArRng rng;

  *passes = 0;
  ar_rng_init (&rng, b->seed);
  double t0 = now ();
  for (guint k = 0; k < b->K; k++) {
    memcpy (b->text, b->contexts[k], b->c0 * sizeof (gint32));
    for (guint done = 0; done < b->L;) {
      guint n = MIN (N, b->L - done);

      *passes += ar_nar_generate (b->nar, b->nar_state, b->text, b->c0 + done,
          n, T, &b->params, &rng, b->text + b->c0 + done);
      done += n;
    }
    memcpy (b->out + (gsize) k * b->L, b->text + b->c0, b->L * sizeof (gint32));
  }
  return now () - t0;
}

int
main (int argc, char **argv)
{
  g_autofree char *ar_path = NULL, *nar_path = NULL, *data_path = NULL;
  g_autofree char *csv_path = NULL, *png_path = NULL;
  gint contexts = 8, length = 0, repeat = 3;
  gint64 seed = 1;
  gdouble temperature = 0.0;
  GOptionEntry entries[] = {
    { "ar", 0, 0, G_OPTION_ARG_FILENAME, &ar_path,
        "Autoregressive model (default "
        "plugin/defaults/transformer-shakespeare.gguf)",
        "M.gguf" },
    { "nar", 0, 0, G_OPTION_ARG_FILENAME, &nar_path,
        "Non-autoregressive model (default "
        "plugin/defaults/nar-shakespeare.gguf)",
        "M.gguf" },
    { "data", 0, 0, G_OPTION_ARG_FILENAME, &data_path,
        "Text whose last 10 % gives the contexts (default "
        "../shared/data/tinyshakespeare.txt)",
        "TEXT" },
    { "contexts", 0, 0, G_OPTION_ARG_INT, &contexts, "Contexts (default 8)",
        "K" },
    { "length", 0, 0, G_OPTION_ARG_INT, &length,
        "Tokens generated from each (default 2 N)", "L" },
    { "repeat", 0, 0, G_OPTION_ARG_INT, &repeat,
        "Timed runs, the best counts (default 3)", "R" },
    { "temperature", 0, 0, G_OPTION_ARG_DOUBLE, &temperature,
        "Sampling temperature of both decoders, 0 = greedy (default 0)", "T" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Sampling seed (default 1)",
        "N" },
    { "cpu-time", 0, 0, G_OPTION_ARG_NONE, &use_cpu_time,
        "Time with the thread's CPU time instead of wall time", NULL },
    { "csv", 0, 0, G_OPTION_ARG_FILENAME, &csv_path, "Write the table here",
        "FILE" },
    { "png", 0, 0, G_OPTION_ARG_FILENAME, &png_path, "Draw the curve here",
        "FILE" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx =
      g_option_context_new ("— Mask-Predict's speed/quality curve");
  g_autoptr (GError) error = NULL;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    fprintf (stderr, "bench-nar: %s\n", error->message);
    return 2;
  }
  if (contexts < 1 || length < 0 || repeat < 1 || !(temperature >= 0) ||
      seed < 0) {
    fprintf (stderr, "bench-nar: an option is out of range\n");
    return 2;
  }
  if (ar_path == NULL)
    ar_path = g_strdup ("plugin/defaults/transformer-shakespeare.gguf");
  if (nar_path == NULL)
    nar_path = g_strdup ("plugin/defaults/nar-shakespeare.gguf");
  if (data_path == NULL)
    data_path = g_strdup ("../shared/data/tinyshakespeare.txt");
  /* one thread: the encoder's sgemm and the AR step alike */
  openblas_set_num_threads (1);

  g_autoptr (ArGguf) ar_file = ar_gguf_new_from_file (ar_path, &error);
  g_autoptr (ArTransformer) ar =
      ar_file ? ar_transformer_new_from_gguf (ar_file, &error) : NULL;
  g_autoptr (ArVocab) ar_vocab =
      ar ? ar_vocab_new_from_gguf (ar_file, &error) : NULL;
  g_autoptr (ArNar) nar =
      ar_vocab ? ar_nar_new_from_file (nar_path, &error) : NULL;
  g_autofree char *text = NULL;
  gsize text_len = 0;
  if (nar != NULL && !g_file_get_contents (data_path, &text, &text_len, &error))
    g_prefix_error (&error, "%s: ", data_path);
  if (error != NULL) {
    fprintf (stderr, "bench-nar: %s\n", error->message);
    return 1;
  }
  if (!ar_vocab_equal (ar_vocab, ar_nar_get_vocab (nar))) {
    fprintf (stderr,
        "bench-nar: %s and %s have different vocabularies: the "
        "AR model cannot score the NAR model's text\n",
        ar_path, nar_path);
    return 1;
  }
  g_autoptr (ArTextData) data =
      ar_text_data_new_with_vocab (text, text_len, ar_vocab, 0.1, &error);
  if (data == NULL) {
    fprintf (stderr, "bench-nar: %s: %s\n", data_path, error->message);
    return 1;
  }

  guint N = ar_nar_get_slots (nar), C = ar_nar_get_context_length (nar);
  Bench b = { 0 };
  b.ar = ar;
  b.nar = nar;
  b.V = ar_vocab_get_size (ar_vocab);
  b.K = contexts;
  b.L = length ? (guint) length : 2 * N;
  b.c0 = C - N;
  b.seed = seed;
  b.params = (ArSamplingParams){ temperature, 0, 1.0f };
  if (data->n - data->n_train < (gsize) b.c0 + 1) {
    fprintf (stderr,
        "bench-nar: %s: the held-out text is shorter than one "
        "context\n",
        data_path);
    return 1;
  }
  b.ar_state = ar_transformer_state_new (ar);
  b.nar_state = ar_nar_state_new (nar);
  b.sampler = ar_sampler_new (b.V);
  b.contexts = g_new (const gint32 *, b.K);
  for (guint k = 0; k < b.K; k++)
    b.contexts[k] =
        data->ids + data->n_train + (data->n - data->n_train - b.c0) * k / b.K;
  b.text = g_new (gint32, b.c0 + b.L);
  b.out = g_new (gint32, (gsize) b.K * b.L);

  /* which T: all of 1 .. N, or powers of two and N */
  g_autoptr (GArray) Ts = g_array_new (FALSE, FALSE, sizeof (guint));
  for (guint T = 1; T <= N; T = N <= 16 ? T + 1 : T * 2)
    g_array_append_val (Ts, T);
  if (g_array_index (Ts, guint, Ts->len - 1) != N)
    g_array_append_val (Ts, N);

  printf ("AR  %s: %u blocks x %u, context %u\n", ar_path,
      ar_transformer_get_config (ar)->n_layers,
      ar_transformer_get_config (ar)->n_embd,
      ar_transformer_get_cache_length (ar));
  printf ("NAR %s: %u blocks x %u, context %u, %u slots\n", nar_path,
      ar_transformer_get_config (ar_nar_get_transformer (nar))->n_layers,
      ar_transformer_get_config (ar_nar_get_transformer (nar))->n_embd, C, N);
  printf ("%u contexts of %u characters from the held-out text, %u tokens "
          "each, temperature %g, best of %d, one thread, %s\n\n",
      b.K, b.c0, b.L, temperature, repeat,
      use_cpu_time ? "CPU time" : "wall time");

  double ar_best = INFINITY;
  for (int r = 0; r < repeat; r++)
    ar_best = MIN (ar_best, run_ar (&b));
  double ar_tps = (double) b.K * b.L / ar_best, ar_nll = ar_score (&b);

  g_autoptr (GString) csv = g_string_new ("decoder,iterations,passes_per_token,"
                                          "tokens_per_s,speedup_vs_ar,"
                                          "ar_nll_nats_per_char\n");
  printf ("%-8s %10s %8s %12s %8s %14s\n", "decoder", "iterations",
      "passes/tok", "tokens/s", "vs AR", "AR NLL n/char");
  printf ("%-8s %10s %8s %12.0f %8.2f %14.4f\n", "ar", "-", "1", ar_tps, 1.0,
      ar_nll);
  g_string_append_printf (csv, "ar,,1,%.1f,1.000,%.4f\n", ar_tps, ar_nll);

  g_autofree double *xs = g_new (double, Ts->len);
  g_autofree double *ys = g_new (double, Ts->len);
  g_auto (GStrv) labels = g_new0 (char *, Ts->len + 1);
  for (guint i = 0; i < Ts->len; i++) {
    guint T = g_array_index (Ts, guint, i);
    guint64 passes = 0;
    double best = INFINITY;

    for (int r = 0; r < repeat; r++)
      best = MIN (best, run_nar (&b, T, &passes));
    double tps = (double) b.K * b.L / best, q = ar_score (&b);
    double ppt = (double) passes / ((double) b.K * b.L);

    printf ("%-8s %10u %8.3f %12.0f %8.2f %14.4f\n", "nar", T, ppt, tps,
        tps / ar_tps, q);
    g_string_append_printf (csv, "nar,%u,%.4f,%.1f,%.3f,%.4f\n", T, ppt, tps,
        tps / ar_tps, q);
    xs[i] = tps;
    ys[i] = q;
    labels[i] = g_strdup_printf ("T=%u", T);
  }

  printf ("\nT = 1: %.0f tokens/s, %.2fx autoregressive decoding's %.0f "
          "(the target: at least 5x)\n",
      xs[0], xs[0] / ar_tps, ar_tps);

  if (csv_path != NULL &&
      !g_file_set_contents (csv_path, csv->str, csv->len, &error)) {
    fprintf (stderr, "bench-nar: %s\n", error->message);
    return 1;
  }
  if (png_path != NULL) {
    g_autofree char *title =
        g_strdup_printf ("Mask-Predict, %u slots: speed "
                         "and quality (AR model's NLL of the text)",
            N);
    g_autoptr (ArgenChart) chart = argen_chart_new (title,
        "tokens/s (one thread, log scale)", "AR NLL (nats/char)");
    argen_chart_set_x_log (chart, TRUE);
    /* the curve falls from top right to bottom left: room at bottom right */
    argen_chart_set_legend (chart, ARGEN_CHART_LEGEND_BOTTOM_RIGHT);
    argen_chart_add_series (chart, "Mask-Predict, T iterations", xs, ys,
        Ts->len, ARGEN_CHART_LINE | ARGEN_CHART_MARKERS,
        (const char *const *) labels);
    const char *ar_label = "AR";
    argen_chart_add_series (chart, "autoregressive (greedy)", &ar_tps, &ar_nll,
        1, ARGEN_CHART_MARKERS, &ar_label);
    if (!argen_chart_write_png (chart, png_path, &error)) {
      fprintf (stderr, "bench-nar: %s\n", error->message);
      return 1;
    }
  }
  ar_transformer_state_free (b.ar_state);
  ar_nar_state_free (b.nar_state);
  ar_sampler_free (b.sampler);
  g_free (b.contexts);
  g_free (b.text);
  g_free (b.out);
  return 0;
}
