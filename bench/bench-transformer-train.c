/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-transformer-train.c — training throughput of the Transformer family:
 * tokens per second of `argen train transformer`'s loop (the real
 * ArTransformerTask + ArTrainer: batch sampling, forward, backward, clipping,
 * AdamW), GPT- and Llama-style, on every processor and on one.
 *
 * The default shape is the anchor: 4 layers, 4 heads, width 128,
 * context 128, batch 32, a 65-character vocabulary; feed-forward 512 for GPT
 * (4 D) and 352 for Llama (llama2.c's rule: 2/3 of 4 D, rounded up to a
 * multiple of 32, so that its three matrices hold what GPT's two do).
 * PyTorch 1.13 trains the GPT shape at about 15,000 tokens/s on both cores of
 * this 2-core machine class.
 *
 * Prints the mean over the timed steps and the fastest step (on a shared
 * machine the better estimate of what the code does with the processors to
 * itself), and the load average, since other work on the machine shows in
 * the figures.
 *
 * usage: bench-transformer-train [--steps 6] [--layers 4] [--dim 128]
 *        [--heads 4] [--context 128] [--batch 32] [--arch gpt|llama|both] */
#include <stdio.h>
#include <string.h>

#include "transformer/ar-transformer-train.h"

typedef struct
{
  double last, best;
} Timing;

static void
on_step (const ArTrainProgress *p, gpointer user_data)
{
  Timing *t = user_data;
  double dt = p->elapsed - t->last;

  t->last = p->elapsed;
  t->best = MIN (t->best, dt);
}

/* Runs @steps timed steps after one untimed warm-up step; returns the mean
 * rate, *best the fastest step's. */
static double
train_rate (const ArTransformerConfig *c, const ArTextData *data, int T, int B,
    int threads, int steps, double *best)
{
  g_autoptr (ArTransformerTask) task = ar_transformer_task_new (c, data, T, B,
      threads, AR_TRANSFORMER_EVAL_WINDOWS);
  ArRng rng;
  ar_rng_init (&rng, 1);
  ar_transformer_train_init (ar_transformer_task_get_net (task), &rng);
  ArTrainOptions o = AR_TRAIN_OPTIONS_INIT;
  o.steps = 1; /* warm-up: first touch of every buffer, thread start */
  o.warmup = 1;
  o.lr = 1e-3f;
  o.eval_every = 0;
  g_autoptr (ArTrainer) warm =
      ar_trainer_new (ar_transformer_task_get_trainable (task), task, &o);
  ar_trainer_run (warm, NULL, NULL, NULL, NULL, NULL);

  o.steps = steps;
  g_autoptr (ArTrainer) tr =
      ar_trainer_new (ar_transformer_task_get_trainable (task), task, &o);
  Timing timing = { 0.0, G_MAXDOUBLE };
  gint64 t0 = g_get_monotonic_time ();
  ar_trainer_run (tr, NULL, on_step, &timing, NULL, NULL);
  double s = (g_get_monotonic_time () - t0) / 1e6;
  *best = (double) T * B / timing.best;
  return (double) steps * T * B / s;
}

static double
load_average (void)
{
  g_autofree char *text = NULL;

  if (!g_file_get_contents ("/proc/loadavg", &text, NULL, NULL))
    return -1.0;
  return g_ascii_strtod (text, NULL);
}

int
main (int argc, char **argv)
{
  gint steps = 6, layers = 4, dim = 128, heads = 4, context = 128, batch = 32;
  g_autofree char *arch = g_strdup ("both");
  GOptionEntry entries[] = { { "steps", 0, 0, G_OPTION_ARG_INT, &steps,
                                 "Timed steps per case", "N" },
    { "layers", 0, 0, G_OPTION_ARG_INT, &layers, "Blocks", "L" },
    { "dim", 0, 0, G_OPTION_ARG_INT, &dim, "Width", "D" },
    { "heads", 0, 0, G_OPTION_ARG_INT, &heads, "Attention heads", "H" },
    { "context", 0, 0, G_OPTION_ARG_INT, &context, "Window length", "T" },
    { "batch", 0, 0, G_OPTION_ARG_INT, &batch, "Windows per step", "B" },
    { "arch", 0, 0, G_OPTION_ARG_STRING, &arch, "gpt, llama or both", "A" },
    { NULL } };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("");
  g_autoptr (GError) error = NULL;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || steps < 1 ||
      layers < 1 || dim < 1 || heads < 1 || dim % heads || context < 1 ||
      batch < 1) {
    fprintf (stderr, "bench-transformer-train: %s\n",
        error ? error->message : "bad sizes");
    return 2;
  }

  /* 300,000 random characters of a 65-character alphabet */
  const char *alphabet = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                         "abcdefghijklmnopqrstuvwxyz";
  gsize n_alpha = strlen (alphabet), n = 300000;
  g_autofree char *text = g_malloc (n);
  ArRng rng;
  ar_rng_init (&rng, 7);
  for (gsize i = 0; i < n; i++)
    text[i] = alphabet[ar_rng_below (&rng, n_alpha)];
  /* the loop validates at its last step: a held-out part of a few
   * characters keeps that out of the timing */
  g_autoptr (ArTextData) data =
      ar_text_data_new (text, n, AR_VOCAB_CHAR, 1e-5, &error);
  g_assert_no_error (error);
  guint V = ar_vocab_get_size (data->vocab);
  int procs = (int) g_get_num_processors ();

  printf ("bench-transformer-train: %d layers, %d heads, width %d, context "
          "%d, batch %d (%d tokens per step), vocabulary %u; %d processors, "
          "load "
          "average %.2f\n",
      layers, heads, dim, context, batch, context * batch, V, procs,
      load_average ());
  for (int a = 0; a < 2; a++) {
    gboolean gpt = a == 0;
    if (strcmp (arch, "both") != 0 && strcmp (arch, gpt ? "gpt" : "llama"))
      continue;
    int hidden = gpt ? 4 * dim : (2 * 4 * dim / 3 + 31) / 32 * 32;
    ArTransformerConfig c = { gpt ? AR_TRANSFORMER_GPT : AR_TRANSFORMER_LLAMA,
      layers, dim, hidden, heads, heads, context, V, dim / heads, 10000.0f,
      1e-5f, FALSE };
    if (!ar_transformer_train_check (&c, context, batch, &error)) {
      fprintf (stderr, "bench-transformer-train: %s\n", error->message);
      return 2;
    }
    g_autoptr (ArTransformerTrain) probe =
        ar_transformer_train_new (&c, 1, 1, 1);
    printf ("%s (feed-forward %d, %" G_GSIZE_FORMAT " parameters):\n",
        gpt ? "GPT" : "Llama", hidden,
        ar_params_count (ar_transformer_train_get_params (probe)));

    struct
    {
      const char *what;
      int threads;
    } cases[] = {
      { "all processors", procs },
      { "one processor", 1 },
    };
    for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
      double best, rate;

      if (i == 0 && procs == 1)
        continue;
      rate =
          train_rate (&c, data, context, batch, cases[i].threads, steps, &best);
      printf ("  %-32s %8.0f tokens/s (fastest step %.0f tokens/s)\n",
          cases[i].what, rate, best);
    }
  }
  printf ("load average %.2f\n", load_average ());
  return 0;
}
