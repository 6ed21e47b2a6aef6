/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* argen-generate.c — `argen generate MODEL`: text from a model file to
 * standard output, with the same sampling controls as the elements.  A
 * non-autoregressive ("nar") model generates N tokens at a time (its
 * nar.slots), each chunk by Mask-Predict in --iterations passes after the
 * text so far (BOS, the prompt and the chunks before), as ArTextGen runs
 * it for the elements. */
#include "argen.h"
#include "text/ar-text.h"

#include <stdio.h>

/* Mask-Predict passes per chunk, at most: the elements' limit too.  More
 * passes than slots re-predict the same slots again (T passes over N slots
 * run about T (N - 1) / N encoder passes), so a larger number only takes
 * longer. */
#define MAX_ITERATIONS 1024

int
argen_cmd_generate (int argc, char **argv)
{
  g_autofree char *prompt = NULL, *stop = NULL;
  gint64 tokens = 200, seed = 0;
  gdouble temperature = 0.8, top_p = 1.0;
  gint top_k = 0, iterations = 4;
  GOptionEntry entries[] = {
    /* the texts are read as bytes and converted by argen_option_to_utf8 (),
     * whose message names the option */
    { "prompt", 'p', 0, G_OPTION_ARG_FILENAME, &prompt, "Text to continue", "TEXT" },
    { "tokens", 'n', 0, G_OPTION_ARG_INT64, &tokens, "Tokens to generate (default 200)", "N" },
    { "temperature", 't', 0, G_OPTION_ARG_DOUBLE, &temperature, "Sampling temperature, 0 = greedy (default 0.8)", "T" },
    { "top-k", 0, 0, G_OPTION_ARG_INT, &top_k, "Keep the K most likely tokens, 0 = all (default 0)", "K" },
    { "top-p", 0, 0, G_OPTION_ARG_DOUBLE, &top_p, "Nucleus sampling mass (default 1 = off)", "P" },
    { "seed", 's', 0, G_OPTION_ARG_INT64, &seed, "Random seed (default 0)", "N" },
    { "stop", 0, 0, G_OPTION_ARG_FILENAME, &stop, "Stop when the output reaches this text", "TEXT" },
    { "iterations", 'T', 0, G_OPTION_ARG_INT, &iterations,
      "nar models: Mask-Predict passes per chunk of N tokens, 1 = fully parallel, at most 1024 "
      "(default 4)", "T" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("MODEL.gguf — generate text");
  g_option_context_add_main_entries (ctx, entries, NULL);
  GError *error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    fprintf (stderr, "argen generate: %s\n", error->message);
    g_error_free (error);
    return 2;
  }
  if (!argen_option_to_utf8 ("--prompt", &prompt) || !argen_option_to_utf8 ("--stop", &stop))
    return 2;
  if (argc != 2 || tokens < 0 || !(temperature >= 0) || top_k < 0 || !(top_p > 0 && top_p <= 1)
      || seed < 0 || iterations < 1 || iterations > MAX_ITERATIONS) {
    fprintf (stderr, "argen generate: usage: argen generate MODEL.gguf [--prompt TEXT] "
        "[--tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed N] [--stop TEXT] "
        "[--iterations T (1 … 1024)]\n");
    return 2;
  }
  g_autoptr (ArTextModel) model = ar_text_model_new_from_file (argv[1], &error);
  if (model == NULL) {
    fprintf (stderr, "argen generate: %s\n", error->message);
    g_error_free (error);
    return 1;
  }
  g_autoptr (ArTextGen) gen = ar_text_gen_new (model);
  ArSamplingParams params = { temperature, top_k, top_p };
  ar_text_gen_set_sampling (gen, &params);
  ar_text_gen_set_stop (gen, stop);
  /* nar models only; the others ignore it */
  ar_text_gen_set_iterations (gen, iterations);
  ar_text_gen_reset (gen, seed);
  if (prompt) {
    guint skipped = ar_text_gen_feed (gen, prompt, -1);
    if (skipped)
      fprintf (stderr, "argen generate: %u prompt characters are not in the vocabulary\n",
          skipped);
  }
  g_autoptr (GString) out = g_string_new (NULL);
  for (gint64 i = 0; i < tokens; i++) {
    gboolean stopped = ar_text_gen_next (gen, out);
    fwrite (out->str, 1, out->len, stdout);
    g_string_truncate (out, 0);
    if (stopped)
      break;
  }
  ar_text_gen_finish (gen, out);
  fwrite (out->str, 1, out->len, stdout);
  fflush (stdout);
  return 0;
}
