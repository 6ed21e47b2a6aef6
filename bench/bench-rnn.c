/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-rnn.c — the RNN text family end to end, measured side by side in one
 * run:
 *   1. training: characters per second of `argen train rnn`'s loop (the real
 *      ArRnnTask + ArTrainer: batch sampling, forward, backward, clipping,
 *      AdamW) for a shape, on both cores and on one;
 *   2. generation: characters per second of ArTextGen (sampling included) with
 *      each SIMD level the CPU has against the plain-C kernels.
 * The default shape is the embedded default model's: GRU, hidden 512,
 * embedding 64, 65 characters, sequences of 128, batch 32 — PyTorch 1.13 trains
 * it at about 9,600 chars/s on this 2-core machine class.
 *
 * usage: bench-rnn [--cell gru] [--hidden 512] [--steps 8] [--tokens 20000] [--model M.gguf]
 * (with --model, generation runs that file instead of random weights) */
#include <cblas.h>
#include <stdio.h>
#include <string.h>

#include "core/ar-kernels.h"
#include "rnn/ar-rnn.h"

static double
train_rate (const ArRnnConfig *config, const ArTextData *data, int steps, int threads)
{
  openblas_set_num_threads (threads);
  g_autoptr (ArRnnTask) task = ar_rnn_task_new (config, data, 128, 32, 0);
  ArRng rng;
  ar_rng_init (&rng, 1);
  ar_rnn_train_init (ar_rnn_task_get_net (task), &rng);
  ArTrainOptions o = AR_TRAIN_OPTIONS_INIT;
  o.steps = 1;                  /* a warm-up step: first-touch of every buffer */
  o.eval_every = 0;
  g_autoptr (ArTrainer) tr = ar_trainer_new (ar_rnn_task_get_trainable (task), task, &o);
  /* the loop evaluates at its last step: a held-out part of two tokens keeps
   * that negligible */
  ar_trainer_run (tr, NULL, NULL, NULL, NULL, NULL);
  o.steps = steps;
  g_autoptr (ArTrainer) timed = ar_trainer_new (ar_rnn_task_get_trainable (task), task, &o);
  gint64 t0 = g_get_monotonic_time ();
  ar_trainer_run (timed, NULL, NULL, NULL, NULL, NULL);
  double s = (g_get_monotonic_time () - t0) / 1e6;
  return steps * 128.0 * 32 / s;
}

static double
generate_rate (ArTextModel *m, int tokens)
{
  g_autoptr (ArTextGen) gen = ar_text_gen_new (m);
  ar_text_gen_reset (gen, 1);
  g_autoptr (GString) out = g_string_sized_new (tokens * 2);
  gint64 t0 = g_get_monotonic_time ();
  for (int i = 0; i < tokens; i++)
    ar_text_gen_next (gen, out);
  return tokens / ((g_get_monotonic_time () - t0) / 1e6);
}

int
main (int argc, char **argv)
{
  g_autofree char *cell_name = g_strdup ("gru"), *model = NULL;
  gint hidden = 512, steps = 8, tokens = 20000;
  GOptionEntry entries[] = {
    { "cell", 0, 0, G_OPTION_ARG_STRING, &cell_name, "rnn, gru or lstm", "CELL" },
    { "hidden", 0, 0, G_OPTION_ARG_INT, &hidden, "Hidden size", "H" },
    { "steps", 0, 0, G_OPTION_ARG_INT, &steps, "Timed training steps", "N" },
    { "tokens", 0, 0, G_OPTION_ARG_INT, &tokens, "Generated characters per kernel level", "N" },
    { "model", 0, 0, G_OPTION_ARG_FILENAME, &model, "Model file for the generation part", "M.gguf" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("— RNN training and generation speed");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  ArRnnConfig config = { AR_CELL_GRU, 1, 64, 512, 65 };
  if (!g_option_context_parse (ctx, &argc, &argv, &error)
      || !ar_cell_from_name (cell_name, &config.cell) || hidden < 1 || steps < 1 || tokens < 1) {
    fprintf (stderr, "bench-rnn: bad arguments%s%s\n", error ? ": " : "",
        error ? error->message : "");
    return 2;
  }
  config.n_hidden = hidden;

  /* 65 symbols of synthetic text: the cost does not depend on the content */
  enum { LEN = 1 << 20 };
  g_autofree char *text = g_malloc (LEN);
  ArRng rng;
  ar_rng_init (&rng, 7);
  for (int i = 0; i < LEN; i++)
    text[i] = i < 65 ? ' ' + i : ' ' + (char) ar_rng_below (&rng, 65);
  g_autoptr (ArTextData) data = ar_text_data_new (text, LEN, AR_VOCAB_CHAR,
      2.0 / LEN, &error);
  g_assert_no_error (error);
  config.n_vocab = ar_vocab_get_size (data->vocab);

  printf ("training %s-%d, embedding 64, vocabulary %u, T=128, B=32 (%d timed steps)\n",
      cell_name, hidden, config.n_vocab, steps);
  double both = train_rate (&config, data, steps, 2);
  double one = train_rate (&config, data, steps, 1);
  printf ("  both cores  %8.0f chars/s   (PyTorch 1.13 reference for GRU-512: ~9600)\n", both);
  printf ("  one core    %8.0f chars/s   (%.2fx from the second core)\n", one, both / one);

  g_autoptr (ArTextModel) m = NULL;
  if (model) {
    m = ar_text_model_new_from_file (model, &error);
  } else {
    g_autoptr (ArRnnTask) task = ar_rnn_task_new (&config, data, 4, 1, 0);
    ar_rnn_train_init (ar_rnn_task_get_net (task), &rng);
    g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
    ar_rnn_task_get_trainable (task)->write_model (task, w);
    g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
    m = ar_text_model_new_from_bytes (bytes, "random", &error);
  }
  if (m == NULL) {
    fprintf (stderr, "bench-rnn: %s\n", error->message);
    return 1;
  }
  printf ("generation, batch 1, one thread (%s, %d characters per level)\n",
      model ? model : "random weights of the shape above", tokens);
  ArSimdLevel best = ar_simd_detect ();
  ar_simd_set_level (AR_SIMD_C);
  double c_rate = generate_rate (m, tokens);
  printf ("  %-8s %9.0f chars/s\n", ar_simd_level_name (AR_SIMD_C), c_rate);
  for (int level = AR_SIMD_AVX2; level <= (int) best; level++) {
    ar_simd_set_level (level);
    double r = generate_rate (m, tokens);
    printf ("  %-8s %9.0f chars/s   %.2fx plain C\n", ar_simd_level_name (level), r, r / c_rate);
  }
  return 0;
}
