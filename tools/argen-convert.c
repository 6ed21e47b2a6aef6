/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* argen-convert.c — `argen convert FORMAT ...`: model files to our GGUF.
 *
 *   argen convert llama2c MODEL.bin TOKENIZER.bin OUT.gguf [--type T]
 *
 * turns a llama2.c checkpoint and its tokenizer into a "llama" GGUF file with
 * llama.cpp's tensor names (the mapping is in models/transformer/
 * ar-llama2c.h);
 *
 *   argen convert gguf IN.gguf OUT.gguf [--type T] [--highpass HZ]
 *
 * copies a text or WaveNet model, its matrices (its two-dimensional
 * tensors) stored as T — e.g. a Q8_0 or Q4_0 copy of a large text model to
 * draft for it in speculative decoding, an F16 WaveNet —, and for a WaveNet
 * the output high-pass set to HZ (wavenet.highpass; 0 removes it), every
 * other key and tensor as they are.  Every output is checked by loading it
 * as a model of its kind before it is written. */
#include "argen.h"
#include "text/ar-text.h"
#include "transformer/ar-llama2c.h"
#include "wavenet/ar-wavenet.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Parses a format's options for the summary @params: --type into @type
 * (f32 when absent; @type_given says whether it was given), and, when
 * @highpass is not NULL, --highpass into @highpass (@highpass_given says
 * whether it was given; a number >= 0).  FALSE after a message. */
static gboolean
parse_options (const char *format, const char *params, int *argc,
    char ***argv, ArTensorType *type, gboolean *type_given,
    gboolean *highpass_given, double *highpass)
{
  g_autofree char *name = NULL;
  g_autofree char *hz = NULL;
  GOptionEntry entries[] = {
    { "type", 't', 0, G_OPTION_ARG_FILENAME, &name,
        "Storage of the matrices: f32 (default), f16, q8_0 or q4_0", "T" },
    { "highpass", 0, 0, G_OPTION_ARG_FILENAME, &hz,
        "WaveNet: the output high-pass's cutoff in Hz (0: none)", "HZ" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (params);
  GError *error = NULL;

  if (highpass == NULL)
    entries[1] = entries[2];
  else /* gguf: without --type every tensor keeps its storage */
    entries[0].description =
        "Storage of the matrices: f32, f16, q8_0 or q4_0 (default: each "
        "tensor's own, as in IN)";
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, argc, argv, &error)) {
    fprintf (stderr, "argen convert %s: %s\n", format, error->message);
    g_error_free (error);
    return FALSE;
  }
  /* read as bytes, converted here to name the option if it is not text */
  if (!argen_option_to_utf8 ("--type", &name) ||
      !argen_option_to_utf8 ("--highpass", &hz))
    return FALSE;
  if (highpass != NULL) {
    char *end = NULL;

    *highpass_given = hz != NULL;
    *highpass = hz ? g_ascii_strtod (hz, &end) : 0.0;
    if (hz != NULL && (end == hz || *end != '\0' || !(*highpass >= 0) ||
            !isfinite (*highpass))) {
      fprintf (stderr,
          "argen convert %s: --highpass %s: expected a cutoff in Hz (0 = "
          "none)\n",
          format, hz);
      return FALSE;
    }
  }
  if (type_given != NULL)
    *type_given = name != NULL;
  if (name == NULL || g_ascii_strcasecmp (name, "f32") == 0)
    *type = AR_TENSOR_F32;
  else if (g_ascii_strcasecmp (name, "f16") == 0)
    *type = AR_TENSOR_F16;
  else if (g_ascii_strcasecmp (name, "q8_0") == 0)
    *type = AR_TENSOR_Q8_0;
  else if (g_ascii_strcasecmp (name, "q4_0") == 0)
    *type = AR_TENSOR_Q4_0;
  else {
    fprintf (stderr,
        "argen convert %s: --type is \"%s\"; expected f32, f16, q8_0 or "
        "q4_0\n",
        format, name);
    return FALSE;
  }
  return TRUE;
}

/* Loads what @w holds as a model (a WaveNet when @wavenet, else a text
 * model; named @path) and writes it there: a converter bug must not leave a
 * file behind that looks fine. */
static int
check_and_write (const char *format, ArGgufWriter *w, gboolean wavenet,
    const char *path)
{
  GError *error = NULL;
  g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
  g_autoptr (ArTextModel) model = NULL;
  g_autoptr (ArWaveNet) wn = NULL;
  g_autoptr (ArGguf) f = ar_gguf_new_from_bytes (bytes, path, &error);

  if (f != NULL && wavenet)
    wn = ar_wavenet_new_from_gguf (f, &error);
  else if (f != NULL)
    model = ar_text_model_new_from_gguf (f, &error);
  if ((model == NULL && wn == NULL) ||
      !ar_gguf_writer_write_file (w, path, &error)) {
    fprintf (stderr, "argen convert %s: %s\n", format, error->message);
    g_error_free (error);
    return 1;
  }
  if (wn != NULL)
    printf ("%s: wavenet model, %d Hz, output high-pass %g Hz, %"
        G_GSIZE_FORMAT " bytes\n", path, ar_wavenet_get_config (wn)->sample_rate,
        (double) ar_wavenet_get_config (wn)->highpass, g_bytes_get_size (bytes));
  else
    printf ("%s: %s model, %u tokens, %" G_GSIZE_FORMAT " bytes\n", path,
        ar_text_model_get_architecture (model),
        ar_vocab_get_size (ar_text_model_get_vocab (model)),
        g_bytes_get_size (bytes));
  return 0;
}

static int
convert_llama2c (int argc, char **argv)
{
  ArTensorType type = AR_TENSOR_F32;
  GError *error = NULL;

  if (!parse_options ("llama2c",
          "llama2c MODEL.bin TOKENIZER.bin OUT.gguf — convert "
          "a llama2.c checkpoint",
          &argc, &argv, &type, NULL, NULL, NULL))
    return 2;
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
  return check_and_write ("llama2c", w, FALSE, argv[3]);
}

static int
convert_gguf (int argc, char **argv)
{
  ArTensorType type;
  gboolean type_given, highpass_given;
  double highpass;
  GError *error = NULL;

  if (!parse_options ("gguf",
          "gguf IN.gguf OUT.gguf — copy a text or WaveNet model with its "
          "matrices in another type, or a WaveNet with another output "
          "high-pass",
          &argc, &argv, &type, &type_given, &highpass_given, &highpass))
    return 2;
  if (argc != 3 || (!type_given && !highpass_given)) {
    fprintf (stderr,
        "argen convert gguf: usage: argen convert gguf IN.gguf "
        "OUT.gguf [--type f32|f16|q8_0|q4_0] [--highpass HZ] (at least "
        "one)\n");
    return 2;
  }

  /* a model to begin with (the error then names the input) */
  g_autoptr (ArGguf) in = ar_gguf_new_from_file (argv[1], &error);
  const char *arch = NULL;
  gboolean wavenet = FALSE;
  if (in != NULL) {
    wavenet = ar_gguf_get_string (in, "general.architecture", &arch, NULL) &&
        strcmp (arch, "wavenet") == 0;
    g_autoptr (ArWaveNet) wn =
        wavenet ? ar_wavenet_new_from_gguf (in, &error) : NULL;
    g_autoptr (ArTextModel) model =
        wavenet ? NULL : ar_text_model_new_from_gguf (in, &error);
    if (wn == NULL && model == NULL)
      g_clear_pointer (&in, ar_gguf_unref);
    else if (wn != NULL && highpass_given &&
        !(highpass < ar_wavenet_get_config (wn)->sample_rate / 2.0)) {
      fprintf (stderr,
          "argen convert gguf: --highpass %g is out of range (0 = none, or a "
          "cutoff under half the model's sample rate, %g Hz)\n",
          highpass, ar_wavenet_get_config (wn)->sample_rate / 2.0);
      return 2;
    }
  }
  if (in == NULL) {
    fprintf (stderr, "argen convert gguf: %s\n", error->message);
    g_error_free (error);
    return 1;
  }
  if (highpass_given && !wavenet) {
    fprintf (stderr,
        "argen convert gguf: --highpass is for WaveNet models; %s is a %s "
        "model\n",
        argv[1], arch ? arch : "text");
    return 2;
  }
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  ar_gguf_writer_copy_kv (w, in);
  if (highpass_given)
    ar_gguf_writer_set_f32 (w, "wavenet.highpass", (float) highpass);
  for (guint i = 0; i < ar_gguf_get_n_tensors (in); i++) {
    const ArGgufTensor *t = ar_gguf_get_tensor (in, i);
    gboolean quantised = type == AR_TENSOR_Q8_0 || type == AR_TENSOR_Q4_0;

    if (!type_given || t->n_dims != 2 || t->type == type) {
      ar_gguf_writer_add_tensor_raw (w, t->name, t->type, t->n_dims, t->ne,
          t->data, t->nbytes);
      continue;
    }
    if (quantised && t->ne[0] % 32 != 0) {
      fprintf (stderr,
          "argen convert gguf: %s: tensor '%s' has rows of %" G_GUINT64_FORMAT
          " values, not a multiple of 32: it cannot be stored as %s\n",
          argv[1], t->name, t->ne[0], ar_tensor_type_name (type));
      return 1;
    }
    g_autofree float *f = g_try_new (float, t->n_elements);
    if (f == NULL) {
      fprintf (stderr,
          "argen convert gguf: %s: tensor '%s' (%" G_GUINT64_FORMAT
          " values) does not fit in memory as floats\n",
          argv[1], t->name, t->n_elements);
      return 1;
    }
    ar_gguf_tensor_to_f32 (t, f);
    ar_gguf_writer_add_tensor_f32 (w, t->name, type, t->n_dims, t->ne, f);
  }
  return check_and_write ("gguf", w, wavenet, argv[2]);
}

int
argen_cmd_convert (int argc, char **argv)
{
  static const char usage[] =
      "argen convert llama2c MODEL.bin TOKENIZER.bin OUT.gguf "
      "[--type f32|f16|q8_0|q4_0]\n"
      "       argen convert gguf IN.gguf OUT.gguf [--type f32|f16|q8_0|q4_0] "
      "[--highpass HZ]\n";

  if (argc >= 2 && strcmp (argv[1], "llama2c") == 0)
    return convert_llama2c (argc - 1, argv + 1);
  if (argc >= 2 && strcmp (argv[1], "gguf") == 0)
    return convert_gguf (argc - 1, argv + 1);
  if (argc >= 2 &&
      (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0)) {
    printf ("Usage: %s", usage);
    return 0;
  }
  fprintf (stderr, "argen convert: %s%s%s; formats: llama2c, gguf\nusage: %s",
      argc >= 2 ? "unknown format '" : "no format", argc >= 2 ? argv[1] : "",
      argc >= 2 ? "'" : "", usage);
  return 2;
}
