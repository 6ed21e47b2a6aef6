/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-llama2c.c — llama2.c checkpoint and tokenizer → "llama" GGUF (formats
 * and mapping in ar-llama2c.h).  Both files are mapped read-only and every
 * size is validated against their lengths before a value is read. */
#include "ar-llama2c.h"
#include "ar-transformer.h"

#include <math.h>
#include <string.h>

G_STATIC_ASSERT (G_BYTE_ORDER == G_LITTLE_ENDIAN);

#define HEADER_BYTES (7 * 4)

static GMappedFile *
map_file (const char *path, GError **error)
{
  GError *local = NULL;
  GMappedFile *f = g_mapped_file_new (path, FALSE, &local);
  if (f == NULL) {
    /* GLib's message already names the file */
    g_set_error (error, AR_ERROR, AR_ERROR_IO, "%s", local->message);
    g_error_free (local);
  }
  return f;
}

/* Adds matrix @name (rows, cols) from @data, as @type where possible. */
static void
add_matrix (ArGgufWriter *w, const char *name, ArTensorType type, guint rows,
    guint cols, const float *data)
{
  const guint64 ne[2] = { cols, rows };
  if ((type == AR_TENSOR_Q8_0 || type == AR_TENSOR_Q4_0) && cols % 32 != 0)
    type = AR_TENSOR_F16;
  ar_gguf_writer_add_tensor_f32 (w, name, type, 2, ne, data);
}

static void
add_vector (ArGgufWriter *w, const char *name, guint n, const float *data)
{
  const guint64 ne[1] = { n };
  ar_gguf_writer_add_tensor_f32 (w, name, AR_TENSOR_F32, 1, ne, data);
}

/* Reads the tokenizer of @n_vocab tokens into @w. */
static gboolean
convert_tokenizer (const char *path, guint n_vocab, ArGgufWriter *w,
    GError **error)
{
  g_autoptr (GMappedFile) f = map_file (path, error);
  if (f == NULL)
    return FALSE;
  const guint8 *data = (const guint8 *) g_mapped_file_get_contents (f);
  gsize size = g_mapped_file_get_length (f), at = 4;

  if (size < 4) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "%s: %" G_GSIZE_FORMAT " bytes; a llama2.c tokenizer starts with a "
        "4-byte max_token_length",
        path, size);
    return FALSE;
  }
  g_autoptr (GPtrArray) pieces = g_ptr_array_new_with_free_func (g_free);
  g_autofree gsize *lengths = g_new (gsize, n_vocab);
  g_autofree float *scores = g_new (float, n_vocab);
  g_autofree gint32 *types = g_new (gint32, n_vocab);

  for (guint i = 0; i < n_vocab; i++) {
    gint32 len;
    if (size - at < 8) {
      g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
          "%s: truncated at token %u of %u (offset %" G_GSIZE_FORMAT
          "): the model's vocabulary has %u tokens",
          path, i, n_vocab, at, n_vocab);
      return FALSE;
    }
    memcpy (&scores[i], data + at, 4);
    memcpy (&len, data + at + 4, 4);
    at += 8;
    if (len < 0 || (gsize) len > size - at) {
      g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
          "%s: token %u has length %d but %" G_GSIZE_FORMAT " bytes remain",
          path, i, len, size - at);
      return FALSE;
    }
    if (!isfinite (scores[i])) {
      g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
          "%s: token %u has a score that is not finite", path, i);
      return FALSE;
    }
    const char *text = (const char *) data + at;
    at += len;

    /* to llama.cpp's form: control pieces by id, bytes, ▁ for spaces */
    GString *piece = g_string_new (NULL);
    if (i == 1 || i == 2) {
      g_string_assign (piece, i == 1 ? "<s>" : "</s>");
      types[i] = 3; /* control */
    } else if (i == 0 && len == 5 && memcmp (text, "<unk>", 5) == 0) {
      g_string_assign (piece, "<unk>");
      types[i] = 2; /* unknown */
    } else {
      gboolean byte = len == 6 && memcmp (text, "<0x", 3) == 0 &&
          g_ascii_isxdigit (text[3]) && g_ascii_isxdigit (text[4]) &&
          text[5] == '>';
      for (gint k = 0; k < len; k++) {
        if (text[k] == ' ')
          g_string_append (piece, "\xe2\x96\x81");
        else
          g_string_append_c (piece, text[k]);
      }
      types[i] = byte ? 6 : 1;
    }
    lengths[i] = piece->len;
    g_ptr_array_add (pieces, g_string_free (piece, FALSE));
  }
  if (at != size) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "%s: %" G_GSIZE_FORMAT " bytes after the %u tokens the model's "
        "vocabulary has (a tokenizer for another model?)",
        path, size - at, n_vocab);
    return FALSE;
  }

  ar_gguf_writer_set_string (w, "tokenizer.ggml.model", "llama");
  ar_gguf_writer_set_string_array (w, "tokenizer.ggml.tokens",
      (const char *const *) pieces->pdata, lengths, n_vocab);
  ar_gguf_writer_set_f32_array (w, "tokenizer.ggml.scores", scores, n_vocab);
  ar_gguf_writer_set_i32_array (w, "tokenizer.ggml.token_type", types, n_vocab);
  ar_gguf_writer_set_u32 (w, "tokenizer.ggml.bos_token_id", 1);
  ar_gguf_writer_set_u32 (w, "tokenizer.ggml.eos_token_id", 2);
  ar_gguf_writer_set_u32 (w, "tokenizer.ggml.unknown_token_id", 0);
  return TRUE;
}

gboolean
ar_llama2c_convert (const char *model_path, const char *tokenizer_path,
    ArTensorType type, ArGgufWriter *w, GError **error)
{
  g_return_val_if_fail (type == AR_TENSOR_F32 || type == AR_TENSOR_F16 ||
          type == AR_TENSOR_Q8_0 || type == AR_TENSOR_Q4_0,
      FALSE);

  g_autoptr (GMappedFile) f = map_file (model_path, error);
  if (f == NULL)
    return FALSE;
  const guint8 *data = (const guint8 *) g_mapped_file_get_contents (f);
  gsize size = g_mapped_file_get_length (f);
  gint32 h[7];

  if (size < HEADER_BYTES) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "%s: %" G_GSIZE_FORMAT " bytes; a llama2.c checkpoint starts with a "
        "%d-byte header",
        model_path, size, HEADER_BYTES);
    return FALSE;
  }
  memcpy (h, data, HEADER_BYTES);
  for (int i = 0; i < 7; i++)
    if (h[i] == 0 || (h[i] < 0 && i != 5) || h[i] == G_MININT32) {
      g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
          "%s: header field %d is %d; expected dim, hidden_dim, n_layers, "
          "n_heads, n_kv_heads, vocab_size, seq_len, all non-zero and only "
          "vocab_size negative",
          model_path, i, h[i]);
      return FALSE;
    }

  ArTransformerConfig c = {
    .arch = AR_TRANSFORMER_LLAMA,
    .n_embd = h[0],
    .n_ff = h[1],
    .n_layers = h[2],
    .n_head = h[3],
    .n_head_kv = h[4],
    .n_vocab = ABS (h[5]),
    .n_ctx = h[6],
    .rope_freq_base = 10000.0f,
    .norm_eps = 1e-5f,
    .tied_output = h[5] > 0,
  };
  c.n_rot = ar_transformer_config_head_size (&c);
  GError *local = NULL;
  if (!ar_transformer_config_check (&c, &local)) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT, "%s: %s", model_path,
        local->message);
    g_error_free (local);
    return FALSE;
  }

  /* the config check bounds every size, so these products fit easily */
  guint64 D = c.n_embd, F = c.n_ff, L = c.n_layers, V = c.n_vocab;
  guint64 hs = D / c.n_head, KV = c.n_head_kv * hs;
  guint64 n_floats = V * D + 2 * L * D + 2 * L * D * D + 2 * L * KV * D +
      3 * L * D * F + D + 2 * ((guint64) c.n_ctx * hs / 2) +
      (c.tied_output ? 0 : V * D);
  guint64 expect = HEADER_BYTES + 4 * n_floats;
  if (expect != size) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "%s: the header (dim %u, hidden_dim %u, %u layers, %u heads, %u kv "
        "heads, vocabulary %d, seq_len %u) needs %" G_GUINT64_FORMAT
        " bytes but the file has %" G_GSIZE_FORMAT,
        model_path, c.n_embd, c.n_ff, c.n_layers, c.n_head, c.n_head_kv, h[5],
        c.n_ctx, expect, size);
    return FALSE;
  }
  /* mmap'd data is page aligned and the header is 28 bytes: floats are
   * 4-byte aligned */
  const float *p = (const float *) (data + HEADER_BYTES);
  const float *embd = p;
  const float *rms_att = embd + V * D;
  const float *wq = rms_att + L * D;
  const float *wk = wq + L * D * D;
  const float *wv = wk + L * KV * D;
  const float *wo = wv + L * KV * D;
  const float *rms_ffn = wo + L * D * D;
  const float *w1 = rms_ffn + L * D;
  const float *w2 = w1 + L * F * D;
  const float *w3 = w2 + L * D * F;
  const float *rms_final = w3 + L * F * D;
  const float *wcls = rms_final + D + 2 * ((guint64) c.n_ctx * hs / 2);

  /* the tokenizer is validated completely before it writes its keys, so on
   * error @w is left untouched */
  if (!convert_tokenizer (tokenizer_path, c.n_vocab, w, error))
    return FALSE;

  g_autofree char *base = g_path_get_basename (model_path);
  ar_transformer_config_write (&c, w);
  ar_gguf_writer_set_string (w, "general.name", base);
  ar_gguf_writer_set_string (w, "general.source.recipe",
      "a llama2.c checkpoint converted by argen convert llama2c");
  add_matrix (w, "token_embd.weight", type, V, D, embd);
  for (guint l = 0; l < L; l++) {
    char n[64];
#define BLK(what) (g_snprintf (n, sizeof n, "blk.%u." what, l), n)
    add_vector (w, BLK ("attn_norm.weight"), D, rms_att + l * D);
    add_matrix (w, BLK ("attn_q.weight"), type, D, D, wq + l * D * D);
    add_matrix (w, BLK ("attn_k.weight"), type, KV, D, wk + l * KV * D);
    add_matrix (w, BLK ("attn_v.weight"), type, KV, D, wv + l * KV * D);
    add_matrix (w, BLK ("attn_output.weight"), type, D, D, wo + l * D * D);
    add_vector (w, BLK ("ffn_norm.weight"), D, rms_ffn + l * D);
    add_matrix (w, BLK ("ffn_gate.weight"), type, F, D, w1 + l * F * D);
    add_matrix (w, BLK ("ffn_down.weight"), type, D, F, w2 + l * D * F);
    add_matrix (w, BLK ("ffn_up.weight"), type, F, D, w3 + l * F * D);
#undef BLK
  }
  add_vector (w, "output_norm.weight", D, rms_final);
  if (!c.tied_output)
    add_matrix (w, "output.weight", type, V, D, wcls);
  return TRUE;
}
