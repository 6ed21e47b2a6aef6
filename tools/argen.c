/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* argen.c — `argen`, the command-line tool: train models, evaluate them,
 * inspect model files and generate from them.
 *
 * Exit status, for every command: 0 done; 2 the command line is wrong (an
 * unknown command or option, a value out of range, options that do not fit
 * together — a model shape the family refuses among them); 1 something
 * failed while running (a file missing or malformed, data with nothing to
 * learn from, a write that failed). */
#include "argen.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

static const struct
{
  const char *name;
  int (*run) (int argc, char **argv);
  const char *summary;
} commands[] = {
  { "train", argen_cmd_train, "train a model (argen train rnn|transformer|nar|wavenet|pixelcnn --data … --out M.gguf)" },
  { "eval", argen_cmd_eval, "held-out loss of a model on data (argen eval M.gguf --data FILE)" },
  { "info", argen_cmd_info, "describe a model file (argen info M.gguf)" },
  { "generate", argen_cmd_generate, "generate text from a model, a NAR one by Mask-Predict (argen generate M.gguf --prompt … [--iterations T])" },
  { "images", argen_cmd_images, "draw or complete images with a PixelCNN model into a PNG grid (argen images M.gguf --out GRID.png)" },
  { "convert", argen_cmd_convert, "convert a model (argen convert llama2c M.bin TOK.bin OUT.gguf; argen convert gguf IN.gguf OUT.gguf --type q8_0)" },
  { "audio-compare", argen_cmd_audio_compare, "log-spectral distance of two recordings, Griffin-Lim baseline (argen audio-compare REF.wav TEST.wav)" },
  { "spectrogram", argen_cmd_spectrogram, "draw a labelled spectrogram (argen spectrogram IN.wav OUT.png)" },
  { "baselines", argen_cmd_baselines, "unigram and LPC bits/sample on held-out audio (argen baselines --data DIR)" },
};

gboolean
argen_option_to_utf8 (const char *option, char **value)
{
  g_autoptr (GError) error = NULL;
  const char *charset = NULL;
  char *text;

  if (*value == NULL)
    return TRUE;
  text = g_locale_to_utf8 (*value, -1, NULL, NULL, &error);
  if (text == NULL) {
    g_get_charset (&charset);
    /* g_get_prgname (): "argen train", set by main () */
    fprintf (stderr,
        "%s: %s is not text in the locale's character set (%s): %s\n",
        g_get_prgname (), option, charset, error->message);
    return FALSE;
  }
  g_free (*value);
  *value = text;
  return TRUE;
}

static void
usage (FILE *out)
{
  fprintf (out, "Usage: argen COMMAND [OPTION…]\n\nCommands:\n");
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (out, "  %-14s %s\n", commands[i].name, commands[i].summary);
  fprintf (out, "\nargen COMMAND --help shows a command's options.\n");
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  if (argc < 2 || strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0) {
    usage (argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp (argv[1], "--version") == 0) {
    printf ("argen %s\n", ARGEN_VERSION);
    return 0;
  }
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (argv[1], commands[i].name) == 0) {
      g_autofree char *name = g_strconcat ("argen ", argv[1], NULL);

      /* what GOption's --help shows as the program ("Usage: argen train
       * [OPTION…]"); it would take the subcommand alone from argv[0] */
      g_set_prgname (name);
      return commands[i].run (argc - 1, argv + 1);
    }
  fprintf (stderr, "argen: unknown command '%s'\n\n", argv[1]);
  usage (stderr);
  return 2;
}
