/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gen-model-seeds.c — writes the seed corpus for fuzz-models: one small
 * valid model file of each family and variant, written by libargen's own
 * writers from random weights, with shapes so tiny (2 to 8 channels, one or
 * two layers, vocabularies of a few characters) that each file is a few KB
 * and mutations of the keys and tensor headers are not drowned in weights.
 * WaveNet's 256 µ-law classes make its files the largest (up to 8.4 KB).
 *
 * Usage: gen-model-seeds DIR   (run by run-fuzz.sh) */
#include <string.h>

#include "core/ar-gguf.h"
#include "core/ar-rng.h"
#include "pixelcnn/ar-pixelcnn.h"
#include "rnn/ar-rnn.h"
#include "text/ar-text.h"
#include "transformer/ar-transformer-train.h"
#include "transformer/ar-transformer.h"
#include "wavenet/ar-wavenet.h"

#define ALPHABET "ab \n"

/* Writes @w as DIR/NAME once it loads as the model its architecture names:
 * a seed that does not load would start the fuzzer outside the loaders. */
static gboolean
save (const char *dir, const char *name, ArGgufWriter *w, GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
  g_autoptr (ArGguf) g = ar_gguf_new_from_bytes (bytes, name, error);
  const char *arch;

  if (g == NULL ||
      !ar_gguf_get_string (g, "general.architecture", &arch, error))
    return FALSE;
  if (strcmp (arch, "wavenet") == 0) {
    g_autoptr (ArWaveNet) wn = ar_wavenet_new_from_gguf (g, error);
    if (wn == NULL)
      return FALSE;
  } else if (strcmp (arch, "pixelcnn") == 0) {
    g_autoptr (ArPixelCnn) pc = ar_pixelcnn_new_from_gguf (g, error);
    if (pc == NULL)
      return FALSE;
  } else {
    g_autoptr (ArTextModel) m = ar_text_model_new_from_gguf (g, error);
    if (m == NULL)
      return FALSE;
  }
  return ar_gguf_writer_write_file (w, path, error);
}

/* R = G = S = O = 2, one stack of @layers; @classes global classes, @cond
 * mel-conditioning channels over 4 mels of 32-sample frames. */
static gboolean
wavenet_seed (const char *dir, const char *name, int layers, int classes,
    int cond, float pre_emphasis, float highpass, gboolean f16, GError **error)
{
  ArWaveNetConfig c = { 8000, 256, 2, 2, 2, 2, 1, layers, classes, cond,
    { 8000, 32, 32, 8, 4, 0.0f, 4000.0f, 1.0f, 1e-5f }, pre_emphasis,
    highpass };
  g_autoptr (ArWaveNet) wn = ar_wavenet_new_random (&c, 1, error);
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();

  if (wn == NULL)
    return FALSE;
  ar_wavenet_write (wn, w, f16);
  return save (dir, name, w, error);
}

/* @cell RNN of @layers layers, E = H = 4, over ALPHABET. */
static gboolean
rnn_seed (const char *dir, const char *name, ArCellType cell, guint layers,
    GError **error)
{
  g_autoptr (ArVocab) vocab =
      ar_vocab_new_chars (ALPHABET, strlen (ALPHABET), error);
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  g_autoptr (ArRnnTrain) net = NULL;
  ArRnnConfig c = { cell, layers, 4, 4, 0 };
  ArRng rng;

  if (vocab == NULL)
    return FALSE;
  c.n_vocab = ar_vocab_get_size (vocab);
  net = ar_rnn_train_new (&c, 4, 1);
  ar_rng_init (&rng, 2);
  ar_rnn_train_init (net, &rng);
  ar_rnn_train_write (net, w);
  ar_vocab_write_gguf (vocab, w);
  return save (dir, name, w, error);
}

/* A Transformer of one block, D = 8, F = 8, 2 query heads sharing one
 * key/value head, context 8, over ALPHABET; @nar_slots > 0: the
 * non-autoregressive form (bidirectional, a mask token after ALPHABET's). */
static gboolean
transformer_seed (const char *dir, const char *name, ArTransformerArch arch,
    gboolean tied, guint nar_slots, GError **error)
{
  g_autoptr (ArVocab) vocab =
      ar_vocab_new_chars (ALPHABET, strlen (ALPHABET), error);
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  g_autoptr (ArTransformerTrain) t = NULL;
  ArTransformerConfig c = { arch, 1, 8, 8, 2, 1, 8, 0, 4, 10000.0f, 1e-5f, tied,
    nar_slots > 0 };
  ArRng rng;

  if (vocab == NULL)
    return FALSE;
  c.n_vocab = ar_vocab_get_size (vocab) + (nar_slots > 0);
  if (!ar_transformer_train_check (&c, 8, 1, error))
    return FALSE;
  t = ar_transformer_train_new (&c, 8, 1, 1);
  ar_rng_init (&rng, 3);
  ar_transformer_train_init (t, &rng);
  ar_transformer_train_write (t, w);
  if (nar_slots > 0) {
    ar_gguf_writer_set_u32 (w, "nar.mask_token_id", c.n_vocab - 1);
    ar_gguf_writer_set_u32 (w, "nar.slots", nar_slots);
  }
  ar_vocab_write_gguf (vocab, w);
  return save (dir, name, w, error);
}

/* A llama of D = F = 32 (quantised rows hold 32 values) whose matrices are
 * stored Q8_0 and Q4_0 in turn, read in place by the Transformer. */
static gboolean
quantised_seed (const char *dir, GError **error)
{
  g_autoptr (ArVocab) vocab =
      ar_vocab_new_chars (ALPHABET, strlen (ALPHABET), error);
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  g_autoptr (ArGgufWriter) wq = ar_gguf_writer_new ();
  g_autoptr (ArTransformerTrain) t = NULL;
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (ArGguf) g = NULL;
  ArTransformerConfig c = { AR_TRANSFORMER_LLAMA, 1, 32, 32, 2, 1, 8, 0, 16,
    10000.0f, 1e-5f, FALSE, FALSE };
  ArRng rng;
  guint n_matrices = 0;

  if (vocab == NULL)
    return FALSE;
  c.n_vocab = ar_vocab_get_size (vocab);
  if (!ar_transformer_train_check (&c, 8, 1, error))
    return FALSE;
  t = ar_transformer_train_new (&c, 8, 1, 1);
  ar_rng_init (&rng, 6);
  ar_transformer_train_init (t, &rng);
  ar_transformer_train_write (t, w);
  ar_vocab_write_gguf (vocab, w);
  bytes = ar_gguf_writer_to_bytes (w);
  g = ar_gguf_new_from_bytes (bytes, "llama-quantised", error);
  if (g == NULL)
    return FALSE;
  ar_gguf_writer_copy_kv (wq, g);
  for (guint i = 0; i < ar_gguf_get_n_tensors (g); i++) {
    const ArGgufTensor *tn = ar_gguf_get_tensor (g, i);
    g_autofree float *x = g_new (float, tn->n_elements);
    ArTensorType type = AR_TENSOR_F32;

    ar_gguf_tensor_to_f32 (tn, x);
    if (tn->n_dims == 2 && tn->ne[0] % 32 == 0)
      type = n_matrices++ % 2 ? AR_TENSOR_Q4_0 : AR_TENSOR_Q8_0;
    ar_gguf_writer_add_tensor_f32 (wq, tn->name, type, tn->n_dims, tn->ne, x);
  }
  return save (dir, "llama-quantised.gguf", wq, error);
}

/* An SPM ("llama" tokenizer) vocabulary on a tiny llama: pieces with ▁,
 * scores, token types and byte tokens, so the fuzzer starts inside that
 * reader too. */
static gboolean
spm_seed (const char *dir, GError **error)
{
  static const char *const pieces[] = { "<unk>", "<s>", "</s>", "<0x0A>",
    "\xe2\x96\x81", "a", "b",
    ("\xe2\x96\x81"
     "a") };
  static const float scores[] = { 0, 0, 0, 0, -1, -2, -3, -0.5f };
  static const gint32 types[] = { 2, 3, 3, 6, 1, 1, 1, 1 };
  const guint V = G_N_ELEMENTS (pieces);
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  g_autoptr (ArTransformerTrain) t = NULL;
  ArTransformerConfig c = { AR_TRANSFORMER_LLAMA, 1, 8, 8, 2, 2, 8, V, 4,
    10000.0f, 1e-5f, TRUE, FALSE };
  ArRng rng;

  if (!ar_transformer_train_check (&c, 8, 1, error))
    return FALSE;
  t = ar_transformer_train_new (&c, 8, 1, 1);
  ar_rng_init (&rng, 4);
  ar_transformer_train_init (t, &rng);
  ar_transformer_train_write (t, w);
  ar_gguf_writer_set_string (w, "tokenizer.ggml.model", "llama");
  ar_gguf_writer_set_string_array (w, "tokenizer.ggml.tokens", pieces, NULL, V);
  ar_gguf_writer_set_f32_array (w, "tokenizer.ggml.scores", scores, V);
  ar_gguf_writer_set_i32_array (w, "tokenizer.ggml.token_type", types, V);
  ar_gguf_writer_set_u32 (w, "tokenizer.ggml.bos_token_id", 1);
  ar_gguf_writer_set_u32 (w, "tokenizer.ggml.eos_token_id", 2);
  return save (dir, "llama-spm.gguf", w, error);
}

/* A 4 × 4 PixelCNN of two layers of 2 features, kernels 3 then 1 (or 3),
 * 2 output hidden units, @levels levels, @classes classes. */
static gboolean
pixelcnn_seed (const char *dir, const char *name, int levels, int kernel,
    int classes, GError **error)
{
  ArPixelCnnConfig c = { 4, 4, 1, levels, 2, 2, 3, kernel, 2, classes };
  g_autoptr (ArPixelCnn) pc = ar_pixelcnn_new_random (&c, 5, error);
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();

  if (pc == NULL)
    return FALSE;
  ar_pixelcnn_write (pc, w);
  return save (dir, name, w, error);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  const char *dir;
  gboolean ok;

  if (argc != 2) {
    g_printerr ("usage: %s DIR\n", argv[0]);
    return 2;
  }
  dir = argv[1];
  if (g_mkdir_with_parents (dir, 0755) != 0) {
    g_printerr ("gen-model-seeds: cannot create %s\n", dir);
    return 1;
  }
  ok = wavenet_seed (dir, "wavenet.gguf", 1, 0, 0, 0, 0, FALSE, &error) &&
      wavenet_seed (dir, "wavenet-f16-global.gguf", 2, 2, 0, 0.5f, 100.0f, TRUE,
          &error) &&
      wavenet_seed (dir, "wavenet-vocoder.gguf", 1, 0, 2, 0, 0, TRUE, &error) &&
      rnn_seed (dir, "rnn-gru.gguf", AR_CELL_GRU, 1, &error) &&
      rnn_seed (dir, "rnn-lstm.gguf", AR_CELL_LSTM, 2, &error) &&
      transformer_seed (dir, "llama.gguf", AR_TRANSFORMER_LLAMA, TRUE, 0,
          &error) &&
      transformer_seed (dir, "gpt.gguf", AR_TRANSFORMER_GPT, FALSE, 0,
          &error) &&
      transformer_seed (dir, "nar.gguf", AR_TRANSFORMER_LLAMA, TRUE, 4,
          &error) &&
      spm_seed (dir, &error) && quantised_seed (dir, &error) &&
      pixelcnn_seed (dir, "pixelcnn.gguf", 256, 1, 0, &error) &&
      pixelcnn_seed (dir, "pixelcnn-binary-classes.gguf", 2, 3, 2, &error);
  if (!ok) {
    g_printerr ("gen-model-seeds: %s\n", error->message);
    return 1;
  }
  return 0;
}
