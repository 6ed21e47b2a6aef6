/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* argen-eval.c — `argen eval MODEL --data FILE`: the model's loss on the
 * held-out end of a text file, in nats (and bits) per character. */
#include "argen.h"
#include "rnn/ar-rnn.h"

#include <stdio.h>
#include <string.h>

static gboolean
evaluate (const char *path, const char *data, double val_fraction, gboolean all, int window,
    int batch, GError **error)
{
  g_autoptr (ArGguf) gguf = ar_gguf_new_from_file (path, error);
  ArRnnConfig config;
  g_autoptr (ArVocab) vocab = NULL;
  g_autoptr (ArTextData) text = NULL;
  g_autofree char *contents = NULL;
  gsize len;
  const char *arch = NULL;
  if (gguf == NULL || !ar_gguf_get_string (gguf, "general.architecture", &arch, error))
    return FALSE;
  if (strcmp (arch, "rnn") != 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
        "%s: architecture \"%s\": argen eval handles rnn models", path, arch);
    return FALSE;
  }
  if (!ar_rnn_config_from_gguf (&config, gguf, error)
      || !(vocab = ar_vocab_new_from_gguf (gguf, error)))
    return FALSE;
  if (!g_file_get_contents (data, &contents, &len, error))
    return FALSE;
  if (!(text = ar_text_data_new_with_vocab (contents, len, vocab, all ? 0 : val_fraction, error)))
    return FALSE;

  int T = window > 0 ? window : 128;
  g_autoptr (ArRnnTask) task = ar_rnn_task_new (&config, text, T, batch, window);
  if (!ar_rnn_train_load_weights (ar_rnn_task_get_net (task), gguf, error))
    return FALSE;
  gsize from = all ? 0 : text->n_train;
  guint64 n = 0;
  g_autoptr (GTimer) timer = g_timer_new ();
  double nats = ar_rnn_task_evaluate (task, from, text->n, window, &n);
  g_autofree char *mode = window > 0
      ? g_strdup_printf ("windows of %d from a zero state", window)
      : g_strdup ("contiguous streams with carried state");
  printf ("%s on %s (%s, %" G_GSIZE_FORMAT " tokens from %" G_GSIZE_FORMAT "): "
      "%.4f nats/char (%.4f bits/char) over %" G_GUINT64_FORMAT " predictions, %s, %.1f s\n",
      path, data, all ? "whole file" : "held-out end", text->n - from, from, nats,
      nats / G_LN2, n, mode, g_timer_elapsed (timer, NULL));
  return TRUE;

}

int
argen_cmd_eval (int argc, char **argv)
{
  g_autofree char *data = NULL;
  gdouble val_fraction = 0.1;
  gint window = 0, batch = 32;
  gboolean all = FALSE;
  GOptionEntry entries[] = {
    { "data", 'd', 0, G_OPTION_ARG_FILENAME, &data, "Text file", "FILE" },
    { "val-fraction", 0, 0, G_OPTION_ARG_DOUBLE, &val_fraction, "Held-out fraction at the end of the data (default 0.1)", "F" },
    { "all", 0, 0, G_OPTION_ARG_NONE, &all, "Score the whole file instead of its held-out end", NULL },
    { "window", 0, 0, G_OPTION_ARG_INT, &window, "Score windows of N chars, each from a zero state; 0 = contiguous streams with carried state (default 0)", "N" },
    { "batch", 0, 0, G_OPTION_ARG_INT, &batch, "Streams or windows evaluated together (default 32)", "B" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("MODEL.gguf — held-out loss of a text model");
  g_option_context_add_main_entries (ctx, entries, NULL);
  GError *error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    fprintf (stderr, "argen eval: %s\n", error->message);
    g_error_free (error);
    return 2;
  }
  if (argc != 2 || data == NULL || window < 0 || batch < 1 || batch > 4096
      || !(val_fraction > 0 && val_fraction < 1)) {
    fprintf (stderr, "argen eval: usage: argen eval MODEL.gguf --data FILE "
        "[--val-fraction F] [--window N] [--batch B]\n");
    return 2;
  }
  if (!evaluate (argv[1], data, val_fraction, all, window, batch, &error)) {
    fprintf (stderr, "argen eval: %s\n", error->message);
    g_error_free (error);
    return 1;
  }
  return 0;
}
