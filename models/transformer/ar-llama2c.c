/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-llama2c.c — llama2.c checkpoint and tokenizer → "llama" GGUF (formats
 * and mapping in ar-llama2c.h).  Everything is validated before anything is
 * written: the header against the checkpoint's length, every weight
 * (finite, and still finite once stored as the requested type), then the
 * whole tokenizer; only then do keys and tensors go to the writer, so a
 * failed conversion leaves it as it was. */
#include "ar-llama2c.h"
#include "ar-transformer.h"

#include <math.h>
#include <string.h>

G_STATIC_ASSERT (G_BYTE_ORDER == G_LITTLE_ENDIAN);

#define HEADER_BYTES (7 * 4)
#define LLAMA2C_MAGIC 0x616b3432u /* "ak42" as a little-endian u32 */

/* One tensor of the checkpoint, in file order: @rows × @cols floats, stacked
 * over the layers when @per_layer; @ours is its GGUF name (after
 * "blk.N." when per layer), NULL for what is not converted (the RoPE
 * tables), @theirs llama2.c's name for messages; a matrix when @rows > 0,
 * else a vector of @cols. */
typedef struct
{
  const char *ours;
  const char *theirs;
  gboolean per_layer;
  guint64 rows, cols;
  const float *data;
} Segment;

#define MAX_SEGMENTS 13

/* A parsed tokenizer, in llama.cpp's form. */
typedef struct
{
  GPtrArray *pieces; /* (n_vocab) NUL-terminated, may hold NULs */
  gsize *lengths;    /* (n_vocab) */
  float *scores;     /* (n_vocab) */
  gint32 *types;     /* (n_vocab) */
} Tokenizer;

static void
tokenizer_clear (Tokenizer *t)
{
  g_clear_pointer (&t->pieces, g_ptr_array_unref);
  g_clear_pointer (&t->lengths, g_free);
  g_clear_pointer (&t->scores, g_free);
  g_clear_pointer (&t->types, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Tokenizer, tokenizer_clear)

/* Reads the tokenizer @data (@size bytes, named @name) of @n_vocab tokens
 * into @t. */
static gboolean
parse_tokenizer (const guint8 *data, gsize size, const char *name,
    guint n_vocab, Tokenizer *t, GError **error)
{
  gsize at = 4;

  if (size < 4) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "%s: %" G_GSIZE_FORMAT " bytes; a llama2.c tokenizer starts with a "
        "4-byte max_token_length",
        name, size);
    return FALSE;
  }
  t->pieces = g_ptr_array_new_with_free_func (g_free);
  t->lengths = g_new (gsize, n_vocab);
  t->scores = g_new (float, n_vocab);
  t->types = g_new (gint32, n_vocab);

  for (guint i = 0; i < n_vocab; i++) {
    gint32 len;
    if (size - at < 8) {
      g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
          "%s: truncated at token %u of %u (offset %" G_GSIZE_FORMAT
          "): the model's vocabulary has %u tokens",
          name, i, n_vocab, at, n_vocab);
      return FALSE;
    }
    memcpy (&t->scores[i], data + at, 4);
    memcpy (&len, data + at + 4, 4);
    at += 8;
    if (len < 0 || (gsize) len > size - at) {
      g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
          "%s: token %u has length %d but %" G_GSIZE_FORMAT " bytes remain",
          name, i, len, size - at);
      return FALSE;
    }
    if (!isfinite (t->scores[i])) {
      g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
          "%s: token %u has a score that is not finite", name, i);
      return FALSE;
    }
    const char *text = (const char *) data + at;
    at += len;

    /* to llama.cpp's form: control pieces by id, bytes, ▁ for spaces */
    GString *piece = g_string_new (NULL);
    if (i == 1 || i == 2) {
      g_string_assign (piece, i == 1 ? "<s>" : "</s>");
      t->types[i] = 3; /* control */
    } else if (i == 0 && len == 5 && memcmp (text, "<unk>", 5) == 0) {
      g_string_assign (piece, "<unk>");
      t->types[i] = 2; /* unknown */
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
      t->types[i] = byte ? 6 : 1;
    }
    t->lengths[i] = piece->len;
    g_ptr_array_add (t->pieces, g_string_free (piece, FALSE));
  }
  if (at != size) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "%s: %" G_GSIZE_FORMAT " bytes after the %u tokens the model's "
        "vocabulary has (a tokenizer for another model?)",
        name, size - at, n_vocab);
    return FALSE;
  }
  return TRUE;
}

static void
write_tokenizer (const Tokenizer *t, guint n_vocab, ArGgufWriter *w)
{
  ar_gguf_writer_set_string (w, "tokenizer.ggml.model", "llama");
  ar_gguf_writer_set_string_array (w, "tokenizer.ggml.tokens",
      (const char *const *) t->pieces->pdata, t->lengths, n_vocab);
  ar_gguf_writer_set_f32_array (w, "tokenizer.ggml.scores", t->scores, n_vocab);
  ar_gguf_writer_set_i32_array (w, "tokenizer.ggml.token_type", t->types,
      n_vocab);
  ar_gguf_writer_set_u32 (w, "tokenizer.ggml.bos_token_id", 1);
  ar_gguf_writer_set_u32 (w, "tokenizer.ggml.eos_token_id", 2);
  ar_gguf_writer_set_u32 (w, "tokenizer.ggml.unknown_token_id", 0);
}

/* The storage of a matrix of @cols columns asked to be @type: a quantised
 * row must be whole blocks of 32. */
static ArTensorType
matrix_type (ArTensorType type, guint64 cols)
{
  if ((type == AR_TENSOR_Q8_0 || type == AR_TENSOR_Q4_0) && cols % 32 != 0)
    return AR_TENSOR_F16;
  return type;
}

/* FALSE when a weight of @s (layer @l) is not finite, or is not once
 * stored as the type the matrix will have: a file the reader would reject
 * (it checks every tensor's values) must fail here, naming the checkpoint
 * and llama2.c's tensor. */
static gboolean
check_segment (const Segment *s, ArTensorType type, guint l,
    const char *model_name, GError **error)
{
  guint64 n = MAX (s->rows, 1) * s->cols;
  const float *data = s->data + (s->per_layer ? l * n : 0);
  ArTensorType stored =
      s->rows > 0 ? matrix_type (type, s->cols) : AR_TENSOR_F32;
  g_autofree guint8 *narrow = NULL;
  g_autofree float *back = NULL;
  const float *check = data;
  guint64 k;

  if (stored != AR_TENSOR_F32) {
    /* what the file will hold, read back as the loader reads it */
    narrow = g_malloc (ar_tensor_data_size (stored, n));
    back = g_new (float, n);
    ar_tensor_data_from_f32 (stored, data, n, narrow);
    ar_tensor_data_to_f32 (stored, narrow, n, back);
    check = back;
  }
  for (k = 0; k < n && isfinite (check[k]); k++)
    ;
  if (k == n)
    return TRUE;

  /* A quantised block reads back non-finite as a whole when its scale (an
   * F16) overflows: name the value that did it, a non-finite one or the
   * largest, not the block's first. */
  gboolean quantised = stored == AR_TENSOR_Q8_0 || stored == AR_TENSOR_Q4_0;
  if (quantised) {
    guint64 b = k / 32 * 32;
    k = b;
    for (guint64 j = b; j < b + 32; j++) {
      if (!isfinite (data[j])) {
        k = j;
        break;
      }
      if (fabsf (data[j]) > fabsf (data[k]))
        k = j;
    }
  }

  char where[32] = "";
  if (s->per_layer)
    g_snprintf (where, sizeof where, " of layer %u", l);
  if (!isfinite (data[k]))
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "%s: %s%s has a non-finite weight (%s) at element %" G_GUINT64_FORMAT
        "; every weight must be finite",
        model_name, s->theirs, where, isnan (data[k]) ? "nan" : "inf", k);
  else
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "%s: %s%s holds %g at element %" G_GUINT64_FORMAT ", beyond what %s "
        "can store%s; convert to a wider type",
        model_name, s->theirs, where, (double) data[k], k,
        ar_tensor_type_name (stored),
        quantised ? " (its block's scale overflows F16)" : "");
  return FALSE;
}

static void
add_segment (ArGgufWriter *w, const Segment *s, ArTensorType type,
    const char *name, guint l)
{
  const float *data =
      s->data + (s->per_layer ? l * MAX (s->rows, 1) * s->cols : 0);

  if (s->rows > 0) {
    const guint64 ne[2] = { s->cols, s->rows };
    ar_gguf_writer_add_tensor_f32 (w, name, matrix_type (type, s->cols), 2, ne,
        data);
  } else {
    const guint64 ne[1] = { s->cols };
    ar_gguf_writer_add_tensor_f32 (w, name, AR_TENSOR_F32, 1, ne, data);
  }
}

gboolean
ar_llama2c_convert_bytes (GBytes *model, const char *model_name,
    GBytes *tokenizer, const char *tokenizer_name, ArTensorType type,
    ArGgufWriter *w, GError **error)
{
  g_return_val_if_fail (model != NULL && model_name != NULL, FALSE);
  g_return_val_if_fail (tokenizer != NULL && tokenizer_name != NULL, FALSE);
  g_return_val_if_fail (g_utf8_validate (model_name, -1, NULL), FALSE);
  g_return_val_if_fail (type == AR_TENSOR_F32 || type == AR_TENSOR_F16 ||
          type == AR_TENSOR_Q8_0 || type == AR_TENSOR_Q4_0,
      FALSE);
  g_return_val_if_fail (w != NULL, FALSE);

  gsize size;
  const guint8 *data = g_bytes_get_data (model, &size);
  gint32 h[7];

  if (size < HEADER_BYTES) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "%s: %" G_GSIZE_FORMAT " bytes; a llama2.c checkpoint starts with a "
        "%d-byte header",
        model_name, size, HEADER_BYTES);
    return FALSE;
  }
  memcpy (h, data, HEADER_BYTES);
  /* llama2.c's export.py also writes versions 1 (float32) and 2 (Q8_0)
   * behind a magic number; run.c reads neither, and neither do we */
  if ((guint32) h[0] == LLAMA2C_MAGIC) {
    g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
        "%s: a llama2.c export of version %d (magic \"ak42\"); only the "
        "legacy format that run.c reads (export.py --version 0) is supported",
        model_name, h[1]);
    return FALSE;
  }
  for (int i = 0; i < 7; i++)
    if (h[i] == 0 || (h[i] < 0 && i != 5) || h[i] == G_MININT32) {
      g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
          "%s: header field %d is %d; expected dim, hidden_dim, n_layers, "
          "n_heads, n_kv_heads, vocab_size, seq_len, all non-zero and only "
          "vocab_size negative",
          model_name, i, h[i]);
      return FALSE;
    }

  /* BOS and EOS are ids 1 and 2 (the converted file says so) */
  if (ABS (h[5]) < 3) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "%s: vocab_size is %d; a llama2.c vocabulary has at least the 3 "
        "tokens <unk>, <s> and </s>",
        model_name, h[5]);
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
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT, "%s: %s", model_name,
        local->message);
    g_error_free (local);
    return FALSE;
  }

  /* the config check bounds every size, so these products fit easily */
  guint64 D = c.n_embd, F = c.n_ff, L = c.n_layers, V = c.n_vocab;
  guint64 hs = D / c.n_head, KV = c.n_head_kv * hs;
  Segment seg[MAX_SEGMENTS] = {
    { "token_embd.weight", "token_embedding_table", FALSE, V, D },
    { "attn_norm.weight", "rms_att_weight", TRUE, 0, D },
    { "attn_q.weight", "wq", TRUE, D, D },
    { "attn_k.weight", "wk", TRUE, KV, D },
    { "attn_v.weight", "wv", TRUE, KV, D },
    { "attn_output.weight", "wo", TRUE, D, D },
    { "ffn_norm.weight", "rms_ffn_weight", TRUE, 0, D },
    { "ffn_gate.weight", "w1", TRUE, F, D },
    { "ffn_down.weight", "w2", TRUE, D, F },
    { "ffn_up.weight", "w3", TRUE, F, D },
    { "output_norm.weight", "rms_final_weight", FALSE, 0, D },
    /* freq_cis_real and freq_cis_imag, seq_len * hs / 2 floats each */
    { NULL, "freq_cis", FALSE, 0, 2 * ((guint64) c.n_ctx * hs / 2) },
    { "output.weight", "wcls", FALSE, V, D },
  };
  guint n_seg = c.tied_output ? MAX_SEGMENTS - 1 : MAX_SEGMENTS;
  guint64 n_floats = 0;
  for (guint s = 0; s < n_seg; s++)
    n_floats += (seg[s].per_layer ? L : 1) * MAX (seg[s].rows, 1) * seg[s].cols;
  guint64 expect = HEADER_BYTES + 4 * n_floats;
  if (expect != size) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "%s: the header (dim %u, hidden_dim %u, %u layers, %u heads, %u kv "
        "heads, vocabulary %d, seq_len %u) needs %" G_GUINT64_FORMAT
        " bytes but the file has %" G_GSIZE_FORMAT,
        model_name, c.n_embd, c.n_ff, c.n_layers, c.n_head, c.n_head_kv, h[5],
        c.n_ctx, expect, size);
    return FALSE;
  }

  /* The floats are read in place when 4-byte aligned (a mapped file is
   * page aligned and the header is 28 bytes), else from an aligned copy. */
  g_autofree float *copy = NULL;
  const float *p;
  if ((guintptr) (data + HEADER_BYTES) % G_ALIGNOF (float) == 0) {
    p = (const float *) (data + HEADER_BYTES);
  } else {
    copy = g_memdup2 (data + HEADER_BYTES, size - HEADER_BYTES);
    p = copy;
  }
  for (guint s = 0; s < n_seg; s++) {
    seg[s].data = p;
    p += (seg[s].per_layer ? L : 1) * MAX (seg[s].rows, 1) * seg[s].cols;
    for (guint l = 0; l < (seg[s].per_layer ? L : 1); l++)
      if (seg[s].ours != NULL &&
          !check_segment (&seg[s], type, l, model_name, error))
        return FALSE;
  }

  /* the tokenizer is validated completely before anything is written */
  g_auto (Tokenizer) tok = { 0 };
  gsize tok_size;
  const guint8 *tok_data = g_bytes_get_data (tokenizer, &tok_size);
  if (!parse_tokenizer (tok_data, tok_size, tokenizer_name, c.n_vocab, &tok,
          error))
    return FALSE;

  g_autofree char *base = g_path_get_basename (model_name);
  write_tokenizer (&tok, c.n_vocab, w);
  ar_transformer_config_write (&c, w);
  ar_gguf_writer_set_string (w, "general.name", base);
  ar_gguf_writer_set_string (w, "general.source.recipe",
      "a llama2.c checkpoint converted by argen convert llama2c");
  /* per-layer tensors grouped by layer, as llama.cpp orders them */
  add_segment (w, &seg[0], type, seg[0].ours, 0);
  for (guint l = 0; l < L; l++)
    for (guint s = 0; s < n_seg; s++)
      if (seg[s].per_layer) {
        char name[64];
        g_snprintf (name, sizeof name, "blk.%u.%s", l, seg[s].ours);
        add_segment (w, &seg[s], type, name, l);
      }
  for (guint s = 1; s < n_seg; s++)
    if (!seg[s].per_layer && seg[s].ours != NULL)
      add_segment (w, &seg[s], type, seg[s].ours, 0);
  return TRUE;
}

gboolean
ar_llama2c_convert (const char *model_path, const char *tokenizer_path,
    ArTensorType type, ArGgufWriter *w, GError **error)
{
  g_return_val_if_fail (model_path != NULL && tokenizer_path != NULL, FALSE);

  /* paths need not be UTF-8; messages and general.name must be */
  g_autofree char *model_name = g_filename_display_name (model_path);
  g_autofree char *tokenizer_name = g_filename_display_name (tokenizer_path);
  /* mapped as model files are: a FIFO is refused, not waited on */
  g_autoptr (GBytes) model = ar_gguf_map_file (model_path, error);
  g_autoptr (GBytes) tokenizer =
      model ? ar_gguf_map_file (tokenizer_path, error) : NULL;
  if (tokenizer == NULL)
    return FALSE;
  return ar_llama2c_convert_bytes (model, model_name, tokenizer, tokenizer_name,
      type, w, error);
}
