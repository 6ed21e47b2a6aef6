/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-model-files.c — the model-file contract of docs/model-files.md and
 * the family headers, from the side of someone who writes their own files:
 * for every family a minimal file written key by key and tensor by tensor
 * exactly as the documentation lists them (nothing borrowed from the
 * family's own writer) must load and generate, optional keys may be left
 * out, and what the documentation says is refused is refused. */
#include <math.h>
#include <string.h>
#include "core/ar-gguf.h"
#include "nar/ar-nar.h"
#include "pixelcnn/ar-pixelcnn.h"
#include "text/ar-text.h"
#include "wavenet/ar-wavenet.h"

/* Adds an F32 (or @type) tensor of small deterministic values. */
static void
add (ArGgufWriter *w, ArTensorType type, const char *name, guint n_dims,
    guint64 ne0, guint64 ne1, guint64 ne2)
{
  const guint64 ne[3] = { ne0, ne1, ne2 };
  guint64 n = ne0 * (n_dims > 1 ? ne1 : 1) * (n_dims > 2 ? ne2 : 1);
  g_autofree float *data = g_new (float, n);
  guint32 h = g_str_hash (name);

  for (guint64 i = 0; i < n; i++)
    data[i] = 0.3f * sinf ((float) (h % 97) + 0.7f * (float) i);
  ar_gguf_writer_add_tensor_f32 (w, name, type, n_dims, ne, data);
}

#define T1(w, name, a) add (w, AR_TENSOR_F32, name, 1, a, 1, 1)
#define T2(w, name, a, b) add (w, AR_TENSOR_F32, name, 2, a, b, 1)

static void
set_char_vocab (ArGgufWriter *w)
{
  const char *tokens[] = { "\n", " ", "a", "b", "é" }; /* V = 5 */
  ar_gguf_writer_set_string (w, "tokenizer.ggml.model", "char");
  ar_gguf_writer_set_string_array (w, "tokenizer.ggml.tokens", tokens, NULL,
      G_N_ELEMENTS (tokens));
}

/* Loads @w as a text model and generates a few tokens; NULL + error when
 * it does not load. */
static ArTextModel *
text_load (ArGgufWriter *w, GError **error)
{
  g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
  ArTextModel *m = ar_text_model_new_from_bytes (bytes, "m.gguf", error);
  if (m) {
    g_autoptr (ArTextGen) gen = ar_text_gen_new (m);
    g_autoptr (GString) out = g_string_new (NULL);
    ar_text_gen_reset (gen, 1);
    ar_text_gen_feed (gen, "ab", -1);
    for (int i = 0; i < 8 && !ar_text_gen_next (gen, out); i++)
      ;
    ar_text_gen_finish (gen, out);
    g_assert_true (g_utf8_validate (out->str, out->len, NULL));
  }
  return m;
}

/* ---- rnn (models/rnn/ar-rnn.h) ------------------------------------------ */

static ArGgufWriter *
rnn_file_typed (const char *cell, guint G, ArTensorType type, guint E, guint H)
{
  const guint V = 5;
  ArGgufWriter *w = ar_gguf_writer_new ();

  ar_gguf_writer_set_string (w, "general.architecture", "rnn");
  ar_gguf_writer_set_string (w, "rnn.cell", cell);
  ar_gguf_writer_set_u32 (w, "rnn.block_count", 2);
  ar_gguf_writer_set_u32 (w, "rnn.embedding_length", E);
  ar_gguf_writer_set_u32 (w, "rnn.hidden_size", H);
  set_char_vocab (w);
  add (w, type, "token_embd.weight", 2, E, V, 1);
  for (guint l = 0; l < 2; l++) {
    char name[64];
    g_snprintf (name, sizeof name, "blk.%u.rnn_ih.weight", l);
    add (w, type, name, 2, l == 0 ? E : H, G * H, 1);
    g_snprintf (name, sizeof name, "blk.%u.rnn_hh.weight", l);
    add (w, type, name, 2, H, G * H, 1);
    g_snprintf (name, sizeof name, "blk.%u.rnn_ih.bias", l);
    T1 (w, name, G * H);
    g_snprintf (name, sizeof name, "blk.%u.rnn_hh.bias", l);
    T1 (w, name, G * H);
  }
  add (w, type, "output.weight", 2, H, V, 1);
  T1 (w, "output.bias", V);
  return w;
}

static ArGgufWriter *
rnn_file (const char *cell, guint G)
{
  return rnn_file_typed (cell, G, AR_TENSOR_F32, 3, 4);
}

static void
test_rnn (void)
{
  const char *cells[] = { "rnn", "gru", "lstm" };
  const guint gates[] = { 1, 3, 4 };

  for (guint i = 0; i < 3; i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (ArGgufWriter) w = rnn_file (cells[i], gates[i]);
    g_autoptr (ArTextModel) m = text_load (w, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (ar_vocab_get_size (ar_text_model_get_vocab (m)), ==, 5);
  }
  /* F16, Q8_0 and Q4_0 tensors load too (rows of whole blocks of 32) */
  {
    const ArTensorType types[] = { AR_TENSOR_F16, AR_TENSOR_Q8_0,
      AR_TENSOR_Q4_0 };
    for (guint i = 0; i < G_N_ELEMENTS (types); i++) {
      g_autoptr (GError) error = NULL;
      g_autoptr (ArGgufWriter) w = rnn_file_typed ("lstm", 4, types[i], 32, 32);
      g_autoptr (ArTextModel) m = text_load (w, &error);
      g_assert_no_error (error);
    }
  }
  /* "byte": the model name alone, 256 tokens, BOS the newline */
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
    const guint E = 3, H = 4, V = 256;
    ar_gguf_writer_set_string (w, "general.architecture", "rnn");
    ar_gguf_writer_set_string (w, "rnn.cell", "rnn");
    ar_gguf_writer_set_u32 (w, "rnn.block_count", 1);
    ar_gguf_writer_set_u32 (w, "rnn.embedding_length", E);
    ar_gguf_writer_set_u32 (w, "rnn.hidden_size", H);
    ar_gguf_writer_set_string (w, "tokenizer.ggml.model", "byte");
    T2 (w, "token_embd.weight", E, V);
    T2 (w, "blk.0.rnn_ih.weight", E, H);
    T2 (w, "blk.0.rnn_hh.weight", H, H);
    T1 (w, "blk.0.rnn_ih.bias", H);
    T1 (w, "blk.0.rnn_hh.bias", H);
    T2 (w, "output.weight", H, V);
    T1 (w, "output.bias", V);
    g_autoptr (ArTextModel) m = text_load (w, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (ar_vocab_get_size (ar_text_model_get_vocab (m)), ==, 256);
    g_assert_cmpint (ar_vocab_get_bos (ar_text_model_get_vocab (m)), ==, 10);
  }
  /* trailing dimensions of 1 do not matter: output.bias { V, 1 } */
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (ArGgufWriter) w = rnn_file ("gru", 3);
    g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
    g_autoptr (ArGguf) f = ar_gguf_new_from_bytes (bytes, "m.gguf", &error);
    g_autoptr (ArGgufWriter) w2 = ar_gguf_writer_new ();
    g_assert_no_error (error);
    ar_gguf_writer_copy_kv (w2, f);
    for (guint i = 0; i < ar_gguf_get_n_tensors (f); i++) {
      const ArGgufTensor *t = ar_gguf_get_tensor (f, i);
      gboolean bias = strcmp (t->name, "output.bias") == 0;
      ar_gguf_writer_add_tensor_raw (w2, t->name, t->type, bias ? 2 : t->n_dims,
          t->ne, t->data, t->nbytes);
    }
    g_autoptr (ArTextModel) m = text_load (w2, &error);
    g_assert_no_error (error);
  }
  /* A "char" token must be exactly one character. */
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (ArGgufWriter) w = rnn_file ("gru", 3);
    const char *tokens[] = { "\n", " ", "a", "bb", "é" };
    ar_gguf_writer_set_string_array (w, "tokenizer.ggml.tokens", tokens, NULL,
        5);
    g_autoptr (ArTextModel) m = text_load (w, &error);
    g_assert_null (m);
    g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  }
}

/* ---- llama, gpt (models/transformer/ar-transformer.h) ------------------- */

static ArGgufWriter *
transformer_file_kv (const char *arch, gboolean fused, guint rows_v,
    gboolean kv_key)
{
  const guint D = 8, F = 12, C = 16, H = 2, Hkv = kv_key ? 1 : H, hs = D / H;
  gboolean gpt = strcmp (arch, "gpt") == 0;
  ArGgufWriter *w = ar_gguf_writer_new ();
  char key[96];

#define KEY(k) (g_snprintf (key, sizeof key, "%s." k, arch), key)
  ar_gguf_writer_set_string (w, "general.architecture", arch);
  ar_gguf_writer_set_u32 (w, KEY ("context_length"), C);
  ar_gguf_writer_set_u32 (w, KEY ("embedding_length"), D);
  ar_gguf_writer_set_u32 (w, KEY ("block_count"), 2);
  ar_gguf_writer_set_u32 (w, KEY ("feed_forward_length"), F);
  ar_gguf_writer_set_u32 (w, KEY ("attention.head_count"), H);
  /* every optional key left out but this one (when asked), whose default
   * is H */
  if (kv_key)
    ar_gguf_writer_set_u32 (w, KEY ("attention.head_count_kv"), Hkv);
#undef KEY
  set_char_vocab (w);
  T2 (w, "token_embd.weight", D, rows_v);
  if (gpt)
    T2 (w, "position_embd.weight", D, C);
  for (guint l = 0; l < 2; l++) {
    char name[64];
#define NAME(s) (g_snprintf (name, sizeof name, "blk.%u." s, l), name)
    T1 (w, NAME ("attn_norm.weight"), D);
    if (gpt)
      T1 (w, NAME ("attn_norm.bias"), D);
    if (fused) {
      T2 (w, NAME ("attn_qkv.weight"), D, D + 2 * Hkv * hs);
      T1 (w, NAME ("attn_qkv.bias"), D + 2 * Hkv * hs);
    } else {
      T2 (w, NAME ("attn_q.weight"), D, D);
      T2 (w, NAME ("attn_k.weight"), D, Hkv * hs);
      T2 (w, NAME ("attn_v.weight"), D, Hkv * hs);
    }
    T2 (w, NAME ("attn_output.weight"), D, D);
    T1 (w, NAME ("ffn_norm.weight"), D);
    if (gpt)
      T1 (w, NAME ("ffn_norm.bias"), D);
    else
      T2 (w, NAME ("ffn_gate.weight"), D, F);
    T2 (w, NAME ("ffn_up.weight"), D, F);
    T2 (w, NAME ("ffn_down.weight"), F, D);
    if (gpt) {
      /* optional biases */
      T1 (w, NAME ("attn_output.bias"), D);
      T1 (w, NAME ("ffn_down.bias"), D);
    }
#undef NAME
  }
  T1 (w, "output_norm.weight", D);
  if (gpt)
    T1 (w, "output_norm.bias", D);
  /* output.weight left out: tied to token_embd */
  return w;
}

static ArGgufWriter *
transformer_file (const char *arch, gboolean fused, guint V, guint rows_v)
{
  (void) V;
  return transformer_file_kv (arch, fused, rows_v, TRUE);
}

static void
test_transformer (void)
{
  /* head_count_kv absent: as many key/value heads as heads */
  for (guint i = 0; i < 2; i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (ArGgufWriter) w =
        transformer_file_kv (i ? "gpt" : "llama", FALSE, 5, FALSE);
    g_autoptr (ArTextModel) m = text_load (w, &error);
    g_assert_no_error (error);
  }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (ArGgufWriter) w = transformer_file ("llama", FALSE, 5, 5);
    g_autoptr (ArTextModel) m = text_load (w, &error);
    g_assert_no_error (error);
  }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (ArGgufWriter) w = transformer_file ("gpt", FALSE, 5, 5);
    g_autoptr (ArTextModel) m = text_load (w, &error);
    g_assert_no_error (error);
  }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (ArGgufWriter) w = transformer_file ("gpt", TRUE, 5, 5);
    g_autoptr (ArTextModel) m = text_load (w, &error);
    g_assert_no_error (error);
  }
  /* gpt's norm biases are required */
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (ArGgufWriter) w = transformer_file ("gpt", FALSE, 5, 5);
    g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
    g_autoptr (ArGguf) f = ar_gguf_new_from_bytes (bytes, "m.gguf", &error);
    g_assert_no_error (error);
    g_autoptr (ArGgufWriter) w2 = ar_gguf_writer_new ();
    ar_gguf_writer_copy_kv (w2, f);
    for (guint i = 0; i < ar_gguf_get_n_tensors (f); i++) {
      const ArGgufTensor *t = ar_gguf_get_tensor (f, i);
      if (strcmp (t->name, "blk.1.ffn_norm.bias") != 0)
        ar_gguf_writer_add_tensor_raw (w2, t->name, t->type, t->n_dims, t->ne,
            t->data, t->nbytes);
    }
    g_autoptr (ArTextModel) m = text_load (w2, &error);
    g_assert_null (m);
    g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
    g_assert_nonnull (strstr (error->message, "blk.1.ffn_norm.bias"));
  }
}

/* ---- nar (models/nar/ar-nar.h) ------------------------------------------ */

static void
test_nar (void)
{
  for (int bad = 0; bad < 3; bad++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (ArGgufWriter) w = transformer_file ("nar", FALSE, 5, 6);
    ar_gguf_writer_set_u32 (w, "nar.mask_token_id", bad == 1 ? 4 : 5);
    ar_gguf_writer_set_u32 (w, "nar.slots", bad == 2 ? 16 : 3);
    g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
    g_autoptr (ArGguf) f = ar_gguf_new_from_bytes (bytes, "m.gguf", &error);
    g_assert_no_error (error);
    g_autoptr (ArNar) nar = ar_nar_new_from_gguf (f, &error);
    if (bad) {
      g_assert_null (nar);
      g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
      g_assert_nonnull (strstr (error->message,
          bad == 1 ? "nar.mask_token_id" : "nar.slots"));
      continue;
    }
    g_assert_no_error (error);
    g_assert_cmpuint (ar_nar_get_slots (nar), ==, 3);
    /* and as a text model */
    g_autoptr (ArTextModel) m = text_load (w, &error);
    g_assert_no_error (error);
  }
}

/* ---- pixelcnn (models/pixelcnn/ar-pixelcnn.h) --------------------------- */

static ArGgufWriter *
pixelcnn_file (ArTensorType type, guint channels, gboolean names)
{
  const guint W = 5, H = 4, Q = 2, L = 2, C = 3, K0 = 3, K = 3, O = 4, N = 2;
  const guint P0 = K0 / 2, P = K / 2;
  ArGgufWriter *w = ar_gguf_writer_new ();

  ar_gguf_writer_set_string (w, "general.architecture", "pixelcnn");
  ar_gguf_writer_set_u32 (w, "pixelcnn.width", W);
  ar_gguf_writer_set_u32 (w, "pixelcnn.height", H);
  ar_gguf_writer_set_u32 (w, "pixelcnn.channels", channels);
  ar_gguf_writer_set_u32 (w, "pixelcnn.levels", Q);
  ar_gguf_writer_set_u32 (w, "pixelcnn.layers", L);
  ar_gguf_writer_set_u32 (w, "pixelcnn.features", C);
  ar_gguf_writer_set_u32 (w, "pixelcnn.first_kernel", K0);
  ar_gguf_writer_set_u32 (w, "pixelcnn.kernel", K);
  ar_gguf_writer_set_u32 (w, "pixelcnn.output_hidden", O);
  ar_gguf_writer_set_u32 (w, "pixelcnn.classes", N);
  if (names) {
    const char *n[] = { "boot", "ankle-boot" };
    ar_gguf_writer_set_string_array (w, "pixelcnn.class_names", n, NULL, 2);
  }
  for (guint l = 0; l < L; l++) {
    char name[64];
#define NAME(s) (g_snprintf (name, sizeof name, "layer.%u." s, l), name)
    if (l == 0) {
      add (w, type, NAME ("v.weight"), 2, (P0 + 1) * K0, 2 * C, 1);
      add (w, type, NAME ("h.weight"), 2, P0, 2 * C, 1);
    } else {
      add (w, type, NAME ("v.weight"), 2, (P + 1) * K * C, 2 * C, 1);
      add (w, type, NAME ("h.weight"), 2, (P + 1) * C, 2 * C, 1);
      add (w, type, NAME ("res.weight"), 2, C, C, 1);
      T1 (w, NAME ("res.bias"), C);
    }
    T1 (w, NAME ("v.bias"), 2 * C);
    T1 (w, NAME ("h.bias"), 2 * C);
    add (w, type, NAME ("vh.weight"), 2, 2 * C, 2 * C, 1);
    add (w, type, NAME ("cv.weight"), 2, 2 * C, N, 1);
    add (w, type, NAME ("ch.weight"), 2, 2 * C, N, 1);
#undef NAME
  }
  add (w, type, "out1.weight", 2, C, O, 1);
  T1 (w, "out1.bias", O);
  add (w, type, "out2.weight", 2, O, Q, 1);
  T1 (w, "out2.bias", Q);
  return w;
}

static ArPixelCnn *
pixelcnn_load (ArGgufWriter *w, GError **error)
{
  g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
  g_autoptr (ArGguf) f = ar_gguf_new_from_bytes (bytes, "m.gguf", error);
  g_assert_nonnull (f);
  return ar_pixelcnn_new_from_gguf (f, error);
}

static void
test_pixelcnn (void)
{
  const ArTensorType types[] = { AR_TENSOR_F32, AR_TENSOR_F16 };

  for (guint i = 0; i < 2; i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (ArGgufWriter) w = pixelcnn_file (types[i], 1, i == 0);
    g_autoptr (ArPixelCnn) pc = pixelcnn_load (w, &error);
    g_assert_no_error (error);
    /* names given, or "0", "1" */
    g_assert_cmpint (ar_pixelcnn_find_class (pc, i == 0 ? "ankle-boot" : "1"),
        ==, 1);
    g_autoptr (ArPixelCnnGen) g = ar_pixelcnn_gen_new (pc);
    guint8 px[4 * 5];
    ar_pixelcnn_gen_reset (g, 3);
    ar_pixelcnn_gen_sample (g, px, 1, NULL);
    for (guint j = 0; j < sizeof px; j++)
      g_assert_true (px[j] == 0 || px[j] == 255); /* binary: 0 and 255 */
  }
  /* class names: distinct, non-empty UTF-8 without NUL (each found again
   * by name); they loaded as long as they were not empty */
  {
    const char *bad[][2] = { { "boot", "boot" }, { "boot", "\xff" },
      { "boot", "an\0kle" }, { "", "boot" } };
    const gsize lengths[][2] = { { 4, 4 }, { 4, 1 }, { 4, 6 }, { 0, 4 } };
    const char *problem[] = { "expected distinct names", "not valid UTF-8",
      "NUL", "is empty" };

    for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
      g_autoptr (GError) error = NULL;
      g_autoptr (ArGgufWriter) w = pixelcnn_file (AR_TENSOR_F32, 1, FALSE);
      ar_gguf_writer_set_string_array (w, "pixelcnn.class_names", bad[i],
          lengths[i], 2);
      g_autoptr (ArPixelCnn) pc = pixelcnn_load (w, &error);
      g_assert_null (pc);
      g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
      g_assert_nonnull (strstr (error->message, "pixelcnn.class_names["));
      g_assert_nonnull (strstr (error->message, problem[i]));
    }
  }
  /* channels 3 is reserved: unsupported */
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (ArGgufWriter) w = pixelcnn_file (AR_TENSOR_F32, 3, FALSE);
    g_autoptr (ArPixelCnn) pc = pixelcnn_load (w, &error);
    g_assert_null (pc);
    g_assert_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED);
  }
}

/* ---- wavenet (models/wavenet/ar-wavenet.h) ------------------------------ */

static ArGgufWriter *
wavenet_file_typed (ArTensorType type, ArTensorType global_type, guint classes,
    guint cc, gboolean extra)
{
  const guint R = 4, G = 6, S = 5, O = 3, Q = 256, stacks = 1, lps = 2;
  const guint M = 8; /* n_mels */
  ArGgufWriter *w = ar_gguf_writer_new ();

  ar_gguf_writer_set_string (w, "general.architecture", "wavenet");
  ar_gguf_writer_set_u32 (w, "wavenet.sample_rate", 8000);
  ar_gguf_writer_set_u32 (w, "wavenet.quantization", Q);
  ar_gguf_writer_set_u32 (w, "wavenet.residual_channels", R);
  ar_gguf_writer_set_u32 (w, "wavenet.gate_channels", G);
  ar_gguf_writer_set_u32 (w, "wavenet.skip_channels", S);
  ar_gguf_writer_set_u32 (w, "wavenet.output_channels", O);
  ar_gguf_writer_set_u32 (w, "wavenet.stacks", stacks);
  ar_gguf_writer_set_u32 (w, "wavenet.layers_per_stack", lps);
  /* wavenet.global.classes and wavenet.cond_channels: absent = 0 */
  if (classes)
    ar_gguf_writer_set_u32 (w, "wavenet.global.classes", classes);
  if (cc) {
    ar_gguf_writer_set_u32 (w, "wavenet.cond_channels", cc);
    ar_gguf_writer_set_u32 (w, "wavenet.mel.sample_rate", 8000);
    ar_gguf_writer_set_u32 (w, "wavenet.mel.n_fft", 256);
    ar_gguf_writer_set_u32 (w, "wavenet.mel.win_length", 200);
    ar_gguf_writer_set_u32 (w, "wavenet.mel.hop", 80);
    ar_gguf_writer_set_u32 (w, "wavenet.mel.n_mels", M);
    ar_gguf_writer_set_f32 (w, "wavenet.mel.f_min", 0.0f);
    ar_gguf_writer_set_f32 (w, "wavenet.mel.f_max", 4000.0f);
    ar_gguf_writer_set_f32 (w, "wavenet.mel.power", 1.0f);
    ar_gguf_writer_set_f32 (w, "wavenet.mel.log_floor", 1e-5f);
  }
  add (w, AR_TENSOR_F32, "input.weight", 3, R, Q, 2);
  T1 (w, "input.bias", R);
  for (guint l = 0; l < stacks * lps + (extra ? 1 : 0); l++) {
    char name[64];
#define NAME(s) (g_snprintf (name, sizeof name, "layer.%u." s, l), name)
    add (w, type, NAME ("conv.weight"), 2, 2 * R, G, 1);
    T1 (w, NAME ("conv.bias"), G);
    add (w, type, NAME ("skip.weight"), 2, G / 2, S, 1);
    T1 (w, NAME ("skip.bias"), S);
    if (l + 1 < stacks * lps) {
      add (w, type, NAME ("res.weight"), 2, G / 2, R, 1);
      T1 (w, NAME ("res.bias"), R);
    }
    if (cc)
      add (w, type, NAME ("cond.weight"), 2, cc, G, 1);
    if (classes)
      add (w, global_type, NAME ("global.weight"), 2, classes, G, 1);
#undef NAME
  }
  if (cc) {
    add (w, type, "cond.weight", 2, 3 * M, cc, 1);
    T1 (w, "cond.bias", cc);
  }
  add (w, type, "out1.weight", 2, S, O, 1);
  T1 (w, "out1.bias", O);
  add (w, type, "out2.weight", 2, O, Q, 1);
  T1 (w, "out2.bias", Q);
  return w;
}

static ArGgufWriter *
wavenet_file (ArTensorType type, guint classes, guint cc, gboolean extra)
{
  return wavenet_file_typed (type, type, classes, cc, extra);
}

static ArWaveNet *
wavenet_load (ArGgufWriter *w, GError **error)
{
  g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
  g_autoptr (ArGguf) f = ar_gguf_new_from_bytes (bytes, "m.gguf", error);
  g_assert_nonnull (f);
  return ar_wavenet_new_from_gguf (f, error);
}

static void
test_wavenet (void)
{
  /* unconditional, global, vocoder; F32 and F16 */
  for (guint i = 0; i < 6; i++) {
    g_autoptr (GError) error = NULL;
    guint classes = i % 3 == 1 ? 2 : 0, cc = i % 3 == 2 ? 3 : 0;
    g_autoptr (ArGgufWriter) w =
        wavenet_file (i < 3 ? AR_TENSOR_F32 : AR_TENSOR_F16, classes, cc,
            FALSE);
    g_autoptr (ArWaveNet) wn = wavenet_load (w, &error);
    g_assert_no_error (error);
    const ArWaveNetConfig *c = ar_wavenet_get_config (wn);
    g_assert_cmpint (c->global_classes, ==, classes);
    g_assert_cmpint (c->cond_channels, ==, cc);
    g_assert_cmpfloat (c->pre_emphasis, ==, 0.0f);
    g_assert_cmpfloat (c->highpass, ==, 0.0f);
    if (classes)
      g_assert_cmpstr (ar_wavenet_get_class_name (wn, 1), ==, "1");
    if (cc == 0) {
      g_autoptr (ArWaveNetGen) g = ar_wavenet_gen_new (wn);
      guint8 out[64];
      ar_wavenet_gen_reset (g, 5);
      ar_wavenet_gen_generate (g, out, sizeof out);
    }
  }
  /* Q8_0 matrices are refused */
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (ArGgufWriter) w =
        wavenet_file_typed (AR_TENSOR_F32, AR_TENSOR_Q8_0, 32, 0, FALSE);
    g_autoptr (ArWaveNet) wn = wavenet_load (w, &error);
    g_assert_null (wn);
    g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
    g_assert_nonnull (strstr (error->message, "layer.0.global.weight"));
  }
  /* a layer past the last is an error */
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (ArGgufWriter) w = wavenet_file (AR_TENSOR_F32, 0, 0, TRUE);
    g_autoptr (ArWaveNet) wn = wavenet_load (w, &error);
    g_assert_null (wn);
    g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
    g_assert_nonnull (strstr (error->message, "layer.2."));
  }
  /* the decode keys: in range loads, out of range names the key */
  {
    const char *keys[] = { "wavenet.pre_emphasis", "wavenet.pre_emphasis",
      "wavenet.pre_emphasis", "wavenet.highpass", "wavenet.highpass",
      "wavenet.highpass" };
    const float values[] = { 0.99f, 0.995f, NAN, 3999.0f, 4000.0f, -1.0f };
    for (guint i = 0; i < G_N_ELEMENTS (keys); i++) {
      g_autoptr (GError) error = NULL;
      g_autoptr (ArGgufWriter) w = wavenet_file (AR_TENSOR_F32, 0, 0, FALSE);
      ar_gguf_writer_set_f32 (w, keys[i], values[i]);
      g_autoptr (ArWaveNet) wn = wavenet_load (w, &error);
      if (i % 3 == 0) {
        g_assert_no_error (error);
        continue;
      }
      g_assert_null (wn);
      g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
      g_assert_nonnull (strstr (error->message, keys[i]));
    }
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/model-files/rnn", test_rnn);
  g_test_add_func ("/model-files/transformer", test_transformer);
  g_test_add_func ("/model-files/nar", test_nar);
  g_test_add_func ("/model-files/pixelcnn", test_pixelcnn);
  g_test_add_func ("/model-files/wavenet", test_wavenet);
  return g_test_run ();
}
