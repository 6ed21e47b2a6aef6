/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gen-llama2c-seeds.c — writes the seed corpus for fuzz-llama2c: tiny valid
 * llama2.c checkpoints with their tokenizers, in the harness's input layout
 * (a flags byte, the checkpoint's u32 length, the checkpoint, the
 * tokenizer; see fuzz-llama2c.c), written by tests/test-llama2c-util.h as
 * stories260K.bin / tok512.bin are laid out ("\n<s>\n" and "\n</s>\n" for
 * ids 1 and 2, <0xNN> byte pieces, spaces as spaces), with shapes of 8 to
 * 32 channels so that each seed is a few KB.  Each seed is converted and loaded as a text
 * model before it is written: a seed that does not import would start the
 * fuzzer outside the importer.
 *
 * Usage: gen-llama2c-seeds DIR   (run by run-fuzz.sh) */
#include <string.h>

#include "../test-llama2c-util.h"
#include "core/ar-gguf.h"
#include "text/ar-text.h"
#include "transformer/ar-llama2c.h"

/* Flags (fuzz-llama2c.c): the storage type, and the odd alignment. */
enum
{
  F32 = 0,
  F16 = 1,
  Q8_0 = 2,
  Q4_0 = 3,
  ODD = 4
};

static const ArTensorType types[] = { AR_TENSOR_F32, AR_TENSOR_F16,
  AR_TENSOR_Q8_0, AR_TENSOR_Q4_0 };

static gboolean
seed (const char *dir, const char *name, guint8 flags, const gint32 *h,
    const char *const *pieces, GError **error)
{
  g_autoptr (GBytes) model =
      llama2c_checkpoint (h, (guint32) (h[0] * 7 + h[2]), 0.4f);
  g_autoptr (GBytes) tok = llama2c_tokenizer (pieces, ABS (h[5]));
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  g_autoptr (GBytes) gguf = NULL;
  g_autoptr (ArTextModel) m = NULL;

  if (!ar_llama2c_convert_bytes (model, name, tok, name, types[flags & 3], w,
          error))
    return FALSE;
  gguf = ar_gguf_writer_to_bytes (w);
  m = ar_text_model_new_from_bytes (gguf, name, error);
  if (m == NULL)
    return FALSE;

  g_autoptr (GByteArray) b = g_byte_array_new ();
  guint32 n = g_bytes_get_size (model);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_byte_array_append (b, &flags, 1);
  g_byte_array_append (b, (const guint8 *) &n, 4);
  g_byte_array_append (b, g_bytes_get_data (model, NULL), n);
  g_byte_array_append (b, g_bytes_get_data (tok, NULL), g_bytes_get_size (tok));
  return g_file_set_contents (path, (const char *) b->data, b->len, error);
}

int
main (int argc, char **argv)
{
  /* as llama2.c's tokenizers: specials, bytes, then merged pieces */
  static const char *const pieces[] = { "<unk>", "\n<s>\n", "\n</s>\n",
    "<0x0A>", "<0x41>", "<0xC3>", " ", "a", "b", " a", "ab", " ab", "\xc3\xa9",
    " b", "ba", " ba" };
  /* dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len */
  static const gint32 tied[7] = { 8, 16, 1, 2, 1, 8, 4 };
  static const gint32 untied[7] = { 8, 12, 2, 2, 2, -12, 6 };
  static const gint32 wide[7] = { 16, 8, 1, 4, 2, 16, 8 };
  /* rows of 32: the matrices with D columns are quantised */
  static const gint32 quantised[7] = { 32, 8, 1, 4, 1, 6, 2 };
  g_autoptr (GError) error = NULL;
  const char *dir;
  gboolean ok;

  if (argc != 2) {
    g_printerr ("usage: %s DIR\n", argv[0]);
    return 2;
  }
  dir = argv[1];
  if (g_mkdir_with_parents (dir, 0755) != 0) {
    g_printerr ("gen-llama2c-seeds: cannot create %s\n", dir);
    return 1;
  }
  ok = seed (dir, "tied-f32", F32, tied, pieces, &error) &&
      seed (dir, "untied-f16-odd", F16 | ODD, untied, pieces, &error) &&
      seed (dir, "wide-q4_0", Q4_0, wide, pieces, &error) &&
      seed (dir, "quantised-q8_0", Q8_0, quantised, pieces, &error);
  if (!ok) {
    g_printerr ("gen-llama2c-seeds: %s\n", error->message);
    return 1;
  }
  return 0;
}
