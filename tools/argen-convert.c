/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* argen-convert.c — `argen convert FORMAT ...`: other projects' model files
 * to our GGUF.  One format so far:
 *
 *   argen convert llama2c MODEL.bin TOKENIZER.bin OUT.gguf [--type T]
 *
 * turns a llama2.c checkpoint and its tokenizer into a "llama" GGUF file with
 * llama.cpp's tensor names (the mapping is in models/transformer/
 * ar-llama2c.h).  The output is checked by loading it as a text model before
 * the command reports success. */
#include "argen.h"
#include "text/ar-text.h"
#include "transformer/ar-llama2c.h"

#include <stdio.h>
#include <string.h>

static int
convert_llama2c (int argc, char **argv)
{
  g_autofree char *type_name = NULL;
  GOptionEntry entries[] = {
    { "type", 't', 0, G_OPTION_ARG_STRING, &type_name,
        "Storage of the matrices: f32 (default), f16, q8_0 or q4_0", "T" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx =
      g_option_context_new ("MODEL.bin TOKENIZER.bin OUT.gguf — convert a "
                            "llama2.c checkpoint");
  g_option_context_add_main_entries (ctx, entries, NULL);
  GError *error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    fprintf (stderr, "argen convert llama2c: %s\n", error->message);
    g_error_free (error);
    return 2;
  }
  ArTensorType type = AR_TENSOR_F32;
  if (type_name == NULL || g_ascii_strcasecmp (type_name, "f32") == 0)
    type = AR_TENSOR_F32;
  else if (g_ascii_strcasecmp (type_name, "f16") == 0)
    type = AR_TENSOR_F16;
  else if (g_ascii_strcasecmp (type_name, "q8_0") == 0)
    type = AR_TENSOR_Q8_0;
  else if (g_ascii_strcasecmp (type_name, "q4_0") == 0)
    type = AR_TENSOR_Q4_0;
  else {
    fprintf (stderr,
        "argen convert llama2c: --type is \"%s\"; expected f32, "
        "f16, q8_0 or q4_0\n",
        type_name);
    return 2;
  }
  if (argc != 4) {
    fprintf (stderr,
        "argen convert llama2c: usage: argen convert llama2c "
        "MODEL.bin TOKENIZER.bin OUT.gguf [--type f32|f16|q8_0|q4_0]\n");
    return 2;
  }

  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  if (!ar_llama2c_convert (argv[1], argv[2], type, w, &error)) {
    fprintf (stderr, "argen convert llama2c: %s\n", error->message);
    g_error_free (error);
    return 1;
  }
  /* load what we made before writing it: a converter bug must not leave a
   * file behind that looks fine */
  g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
  g_autoptr (ArTextModel) model =
      ar_text_model_new_from_bytes (bytes, argv[3], &error);
  if (model == NULL || !ar_gguf_writer_write_file (w, argv[3], &error)) {
    fprintf (stderr, "argen convert llama2c: %s\n", error->message);
    g_error_free (error);
    return 1;
  }
  printf ("%s: %s model, %u tokens, %" G_GSIZE_FORMAT " bytes\n", argv[3],
      ar_text_model_get_architecture (model),
      ar_vocab_get_size (ar_text_model_get_vocab (model)),
      g_bytes_get_size (bytes));
  return 0;
}

int
argen_cmd_convert (int argc, char **argv)
{
  if (argc >= 2 && strcmp (argv[1], "llama2c") == 0)
    return convert_llama2c (argc - 1, argv + 1);
  if (argc >= 2 &&
      (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0)) {
    printf ("Usage: argen convert llama2c MODEL.bin TOKENIZER.bin OUT.gguf "
            "[--type f32|f16|q8_0|q4_0]\n");
    return 0;
  }
  fprintf (stderr,
      "argen convert: %s%s%s; formats: llama2c\n"
      "usage: argen convert llama2c MODEL.bin TOKENIZER.bin OUT.gguf "
      "[--type f32|f16|q8_0|q4_0]\n",
      argc >= 2 ? "unknown format '" : "no format", argc >= 2 ? argv[1] : "",
      argc >= 2 ? "'" : "");
  return 2;
}
