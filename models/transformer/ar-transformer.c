/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-transformer.c — the Transformer text family: configuration, weight
 * binding, the cached single-token step with its sliding window, and the
 * no-cache full recomputation used as its oracle.
 *
 * In llama2.c's spirit: a Config, read-only Weights that point into the file
 * mapping, and a RunState allocated once.  Where the time goes: the matrix-
 * vector products (ar-kernels, in each matrix's storage type) read every
 * weight once per token; attention reads the cached keys and values of every
 * earlier position once per token, which for small models at long contexts
 * costs as much as the weights. */
#include "ar-transformer.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* ---- configuration ---------------------------------------------------- */

const char *
ar_transformer_arch_name (ArTransformerArch arch)
{
  return arch == AR_TRANSFORMER_GPT ? "gpt" : "llama";
}

const char *
ar_transformer_config_architecture (const ArTransformerConfig *c)
{
  return c->bidirectional ? "nar" : ar_transformer_arch_name (c->arch);
}

guint
ar_transformer_config_head_size (const ArTransformerConfig *c)
{
  return c->n_head ? c->n_embd / c->n_head : 0;
}

gboolean
ar_transformer_config_check (const ArTransformerConfig *c, GError **error)
{
  if (c->n_layers < 1 || c->n_layers > AR_TRANSFORMER_MAX_LAYERS) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "%u blocks; expected 1 to %u", c->n_layers, AR_TRANSFORMER_MAX_LAYERS);
    return FALSE;
  }
  if (c->n_embd < 1 || c->n_embd > AR_TRANSFORMER_MAX_DIM || c->n_ff < 1 ||
      c->n_ff > AR_TRANSFORMER_MAX_DIM) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "embedding length %u, feed-forward length %u; expected 1 to %u",
        c->n_embd, c->n_ff, AR_TRANSFORMER_MAX_DIM);
    return FALSE;
  }
  if (c->n_head < 1 || c->n_head > AR_TRANSFORMER_MAX_HEADS ||
      c->n_embd % c->n_head != 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "%u attention heads; expected 1 to %u dividing the embedding length %u",
        c->n_head, AR_TRANSFORMER_MAX_HEADS, c->n_embd);
    return FALSE;
  }
  if (c->n_head_kv < 1 || c->n_head_kv > c->n_head ||
      c->n_head % c->n_head_kv != 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "%u key/value heads; expected a divisor of the %u query heads",
        c->n_head_kv, c->n_head);
    return FALSE;
  }
  if (c->n_ctx < 1 || c->n_ctx > (1u << 24)) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "context length %u; expected 1 to %u", c->n_ctx, 1u << 24);
    return FALSE;
  }
  if (c->n_vocab < 1 || c->n_vocab > AR_TRANSFORMER_MAX_VOCAB) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "vocabulary of %u tokens; expected 1 to %u", c->n_vocab,
        AR_TRANSFORMER_MAX_VOCAB);
    return FALSE;
  }
  if (!(c->norm_eps > 0.0f) || !isfinite (c->norm_eps)) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "normalisation epsilon %g; expected a positive finite number",
        c->norm_eps);
    return FALSE;
  }
  if (c->bidirectional && c->arch != AR_TRANSFORMER_LLAMA) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "a bidirectional (\"nar\") model has the llama shape, not %s",
        ar_transformer_arch_name (c->arch));
    return FALSE;
  }
  if (c->arch == AR_TRANSFORMER_LLAMA) {
    guint hs = ar_transformer_config_head_size (c);
    if (c->n_rot < 2 || c->n_rot > hs || c->n_rot % 2 != 0) {
      g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
          "rotary dimension count %u; expected an even number from 2 to the "
          "head size %u",
          c->n_rot, hs);
      return FALSE;
    }
    if (!(c->rope_freq_base > 0.0f) || !isfinite (c->rope_freq_base)) {
      g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
          "rotary frequency base %g; expected a positive finite number",
          c->rope_freq_base);
      return FALSE;
    }
  }
  return TRUE;
}

/* "<architecture>.<key>" */
static const char *
arch_key (char *buf, gsize size, const ArTransformerConfig *c, const char *key)
{
  g_snprintf (buf, size, "%s.%s", ar_transformer_config_architecture (c), key);
  return buf;
}

/* An optional u32 key: @def when absent. */
static gboolean
get_u32_default (const ArGguf *gguf, const char *key, guint32 def, guint32 *out,
    GError **error)
{
  if (!ar_gguf_has_key (gguf, key)) {
    *out = def;
    return TRUE;
  }
  return ar_gguf_get_u32 (gguf, key, out, error);
}

static gboolean
get_f32_default (const ArGguf *gguf, const char *key, float def, float *out,
    GError **error)
{
  if (!ar_gguf_has_key (gguf, key)) {
    *out = def;
    return TRUE;
  }
  return ar_gguf_get_f32 (gguf, key, out, error);
}

gboolean
ar_transformer_config_from_gguf (ArTransformerConfig *c, const ArGguf *gguf,
    GError **error)
{
  const char *name = ar_gguf_get_name (gguf);
  const char *arch;
  char key[128];

  memset (c, 0, sizeof *c);
  if (!ar_gguf_get_string (gguf, "general.architecture", &arch, error))
    return FALSE;
  if (strcmp (arch, "llama") == 0) {
    c->arch = AR_TRANSFORMER_LLAMA;
  } else if (strcmp (arch, "gpt") == 0) {
    c->arch = AR_TRANSFORMER_GPT;
  } else if (strcmp (arch, "nar") == 0) {
    c->arch = AR_TRANSFORMER_LLAMA;
    c->bidirectional = TRUE;
  } else {
    g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
        "%s: general.architecture is \"%s\"; expected \"llama\", \"gpt\" "
        "or \"nar\"",
        name, arch);
    return FALSE;
  }
  if (!ar_gguf_get_u32 (gguf, arch_key (key, sizeof key, c, "context_length"),
          &c->n_ctx, error) ||
      !ar_gguf_get_u32 (gguf, arch_key (key, sizeof key, c, "embedding_length"),
          &c->n_embd, error) ||
      !ar_gguf_get_u32 (gguf, arch_key (key, sizeof key, c, "block_count"),
          &c->n_layers, error) ||
      !ar_gguf_get_u32 (gguf,
          arch_key (key, sizeof key, c, "feed_forward_length"), &c->n_ff,
          error) ||
      !ar_gguf_get_u32 (gguf,
          arch_key (key, sizeof key, c, "attention.head_count"), &c->n_head,
          error) ||
      !get_u32_default (gguf,
          arch_key (key, sizeof key, c, "attention.head_count_kv"), c->n_head,
          &c->n_head_kv, error))
    return FALSE;
  if (c->arch == AR_TRANSFORMER_LLAMA) {
    guint hs = ar_transformer_config_head_size (c);
    if (!get_f32_default (gguf,
            arch_key (key, sizeof key, c, "attention.layer_norm_rms_epsilon"),
            1e-5f, &c->norm_eps, error) ||
        !get_f32_default (gguf, arch_key (key, sizeof key, c, "rope.freq_base"),
            10000.0f, &c->rope_freq_base, error) ||
        !get_u32_default (gguf,
            arch_key (key, sizeof key, c, "rope.dimension_count"), hs,
            &c->n_rot, error))
      return FALSE;
  } else {
    if (!get_f32_default (gguf,
            arch_key (key, sizeof key, c, "attention.layer_norm_epsilon"),
            1e-5f, &c->norm_eps, error))
      return FALSE;
  }

  const ArGgufTensor *embd = ar_gguf_find_tensor (gguf, "token_embd.weight");
  if (embd == NULL) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: tensor 'token_embd.weight' is missing", name);
    return FALSE;
  }
  c->n_vocab = embd->n_dims == 2 && embd->ne[1] <= AR_TRANSFORMER_MAX_VOCAB
      ? (guint) embd->ne[1]
      : 0;
  c->tied_output = ar_gguf_find_tensor (gguf, "output.weight") == NULL;

  GError *local = NULL;
  if (!ar_transformer_config_check (c, &local)) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: %s", name,
        local->message);
    g_error_free (local);
    return FALSE;
  }
  return TRUE;
}

void
ar_transformer_config_write (const ArTransformerConfig *c, ArGgufWriter *w)
{
  char key[128];

  ar_gguf_writer_set_string (w, "general.architecture",
      ar_transformer_config_architecture (c));
  ar_gguf_writer_set_u32 (w, arch_key (key, sizeof key, c, "context_length"),
      c->n_ctx);
  ar_gguf_writer_set_u32 (w, arch_key (key, sizeof key, c, "embedding_length"),
      c->n_embd);
  ar_gguf_writer_set_u32 (w, arch_key (key, sizeof key, c, "block_count"),
      c->n_layers);
  ar_gguf_writer_set_u32 (w,
      arch_key (key, sizeof key, c, "feed_forward_length"), c->n_ff);
  ar_gguf_writer_set_u32 (w,
      arch_key (key, sizeof key, c, "attention.head_count"), c->n_head);
  ar_gguf_writer_set_u32 (w,
      arch_key (key, sizeof key, c, "attention.head_count_kv"), c->n_head_kv);
  if (c->arch == AR_TRANSFORMER_LLAMA) {
    ar_gguf_writer_set_f32 (w,
        arch_key (key, sizeof key, c, "attention.layer_norm_rms_epsilon"),
        c->norm_eps);
    ar_gguf_writer_set_f32 (w, arch_key (key, sizeof key, c, "rope.freq_base"),
        c->rope_freq_base);
    ar_gguf_writer_set_u32 (w,
        arch_key (key, sizeof key, c, "rope.dimension_count"), c->n_rot);
  } else {
    ar_gguf_writer_set_f32 (w,
        arch_key (key, sizeof key, c, "attention.layer_norm_epsilon"),
        c->norm_eps);
  }
}

/* ---- weights ---------------------------------------------------------- */

/* One block's weights; matrices are (rows, cols) = (out, in). */
typedef struct
{
  const float *attn_norm;    /* (D) */
  const float *attn_norm_b;  /* (D), gpt; NULL for llama */
  ArMatrix wq;               /* (D, D) */
  ArMatrix wk;               /* (Hkv*hs, D) */
  ArMatrix wv;               /* (Hkv*hs, D) */
  const float *bq, *bk, *bv; /* (D), (Hkv*hs), (Hkv*hs) or NULL */
  ArMatrix wo;               /* (D, D) */
  const float *bo;           /* (D) or NULL */
  const float *ffn_norm;     /* (D) */
  const float *ffn_norm_b;   /* (D), gpt */
  ArMatrix w_gate;           /* (F, D), llama */
  ArMatrix w_up;             /* (F, D) */
  const float *b_up;         /* (F) or NULL */
  ArMatrix w_down;           /* (D, F) */
  const float *b_down;       /* (D) or NULL */
} Layer;

struct _ArTransformer
{
  ArTransformerConfig config;
  guint head_size;            /* hs = D / H */
  guint kv_dim;               /* Hkv * hs */
  guint n_cache;              /* positions a state's cache holds */
  guint max_in;               /* widest matrix input, max (D, F) */
  ArMatrix token_embd;        /* (V, D) */
  ArMatrix position_embd;     /* (C, D), gpt */
  Layer *layers;              /* (L) */
  const float *output_norm;   /* (D) */
  const float *output_norm_b; /* (D), gpt */
  ArMatrix output;            /* (V, D); token_embd when tied */
  /* The matrices together outgrow the caches (STREAMED_MIN_BYTES): exact
   * batched products then stream them (ar_matvec_multi_streamed). */
  gboolean streamed;
  GPtrArray *owned;           /* copies of vectors not stored as aligned F32 */
};

void
ar_transformer_free (ArTransformer *t)
{
  if (t == NULL)
    return;
  g_free (t->layers);
  g_ptr_array_unref (t->owned);
  g_free (t);
}

/* Models whose matrices take at least this many bytes are taken to come
 * from memory on every step (half the development machine's 32 MB L3
 * cache; the KV cache and activations compete for the rest): the stories15M
 * shape's 60 MB of F32, not the default Transformer's 3 MB. */
#define STREAMED_MIN_BYTES (16u << 20)

/* Bytes of every matrix a step reads: the blocks' and the classifier. */
static gsize
matrix_bytes (const ArTransformer *t)
{
  gsize n = (gsize) t->output.rows *
      ar_tensor_data_size (t->output.type, t->output.cols);

  for (guint l = 0; l < t->config.n_layers; l++) {
    const Layer *w = &t->layers[l];
    const ArMatrix *ms[] = { &w->wq, &w->wk, &w->wv, &w->wo, &w->w_gate,
      &w->w_up, &w->w_down };
    for (guint i = 0; i < G_N_ELEMENTS (ms); i++)
      if (ms[i]->data)
        n += (gsize) ms[i]->rows *
            ar_tensor_data_size (ms[i]->type, ms[i]->cols);
  }
  return n;
}

/* Rows [r0, r0 + n) of @m, for the fused q|k|v matrix. */
static ArMatrix
matrix_rows (const ArMatrix *m, guint r0, guint n)
{
  ArMatrix s = *m;
  s.data =
      (const guint8 *) m->data + r0 * ar_tensor_data_size (m->type, m->cols);
  s.rows = n;
  return s;
}

/* Binds matrix @name of @rows rows and @cols columns, in place.  Storage is
 * 32-byte aligned within a GGUF file; a mapping that is not even 4-byte
 * aligned (a GBytes from odd memory) gets a copy so the kernels may read the
 * values as floats, halves and blocks.  An absent @optional matrix leaves
 * m->data NULL. */
static gboolean
bind_matrix (ArTransformer *t, const ArGguf *gguf, const char *name, guint rows,
    guint cols, gboolean optional, ArMatrix *m, GError **error)
{
  const guint64 ne[2] = { cols, rows };
  const ArGgufTensor *tensor;

  memset (m, 0, sizeof *m);
  if (optional && ar_gguf_find_tensor (gguf, name) == NULL)
    return TRUE;
  tensor = ar_gguf_require_tensor (gguf, name, 2, ne, error);
  if (tensor == NULL)
    return FALSE;
  m->type = tensor->type;
  m->rows = rows;
  m->cols = cols;
  m->data = tensor->data;
  if ((guintptr) tensor->data % 4 != 0) {
    gpointer copy = g_memdup2 (tensor->data, tensor->nbytes);
    g_ptr_array_add (t->owned, copy);
    m->data = copy;
  }
  return TRUE;
}

/* Binds vector @name of @n values as F32: in place when it is aligned F32,
 * else converted into an owned copy.  NULL without error when @optional and
 * absent. */
static gboolean
bind_vector (ArTransformer *t, const ArGguf *gguf, const char *name, guint n,
    gboolean optional, const float **out, GError **error)
{
  const guint64 ne[1] = { n };
  const ArGgufTensor *tensor;

  *out = NULL;
  if (optional && ar_gguf_find_tensor (gguf, name) == NULL)
    return TRUE;
  tensor = ar_gguf_require_tensor (gguf, name, 1, ne, error);
  if (tensor == NULL)
    return FALSE;
  if (tensor->type == AR_TENSOR_F32 && (guintptr) tensor->data % 4 == 0) {
    *out = tensor->data;
  } else {
    float *copy = g_new (float, n);
    ar_gguf_tensor_to_f32 (tensor, copy);
    g_ptr_array_add (t->owned, copy);
    *out = copy;
  }
  return TRUE;
}

/* "blk.<l>.<what>" */
static const char *
blk_name (char *buf, gsize size, guint l, const char *what)
{
  g_snprintf (buf, size, "blk.%u.%s", l, what);
  return buf;
}

static gboolean
bind_layer (ArTransformer *t, const ArGguf *gguf, guint l, Layer *w,
    GError **error)
{
  const ArTransformerConfig *c = &t->config;
  gboolean gpt = c->arch == AR_TRANSFORMER_GPT;
  guint D = c->n_embd, F = c->n_ff, KV = t->kv_dim;
  char n[96];

  if (!bind_vector (t, gguf, blk_name (n, sizeof n, l, "attn_norm.weight"), D,
          FALSE, &w->attn_norm, error) ||
      !bind_vector (t, gguf, blk_name (n, sizeof n, l, "ffn_norm.weight"), D,
          FALSE, &w->ffn_norm, error))
    return FALSE;
  if (gpt &&
      (!bind_vector (t, gguf, blk_name (n, sizeof n, l, "attn_norm.bias"), D,
           FALSE, &w->attn_norm_b, error) ||
          !bind_vector (t, gguf, blk_name (n, sizeof n, l, "ffn_norm.bias"), D,
              FALSE, &w->ffn_norm_b, error)))
    return FALSE;

  /* q, k, v: separate, or (gpt) one fused matrix whose rows are q | k | v */
  if (gpt &&
      ar_gguf_find_tensor (gguf,
          blk_name (n, sizeof n, l, "attn_qkv.weight")) != NULL &&
      ar_gguf_find_tensor (gguf, blk_name (n, sizeof n, l, "attn_q.weight")) ==
          NULL) {
    ArMatrix qkv;
    const float *b;
    if (!bind_matrix (t, gguf, blk_name (n, sizeof n, l, "attn_qkv.weight"),
            D + 2 * KV, D, FALSE, &qkv, error) ||
        !bind_vector (t, gguf, blk_name (n, sizeof n, l, "attn_qkv.bias"),
            D + 2 * KV, TRUE, &b, error))
      return FALSE;
    w->wq = matrix_rows (&qkv, 0, D);
    w->wk = matrix_rows (&qkv, D, KV);
    w->wv = matrix_rows (&qkv, D + KV, KV);
    if (b) {
      w->bq = b;
      w->bk = b + D;
      w->bv = b + D + KV;
    }
  } else {
    if (!bind_matrix (t, gguf, blk_name (n, sizeof n, l, "attn_q.weight"), D, D,
            FALSE, &w->wq, error) ||
        !bind_matrix (t, gguf, blk_name (n, sizeof n, l, "attn_k.weight"), KV,
            D, FALSE, &w->wk, error) ||
        !bind_matrix (t, gguf, blk_name (n, sizeof n, l, "attn_v.weight"), KV,
            D, FALSE, &w->wv, error) ||
        !bind_vector (t, gguf, blk_name (n, sizeof n, l, "attn_q.bias"), D,
            TRUE, &w->bq, error) ||
        !bind_vector (t, gguf, blk_name (n, sizeof n, l, "attn_k.bias"), KV,
            TRUE, &w->bk, error) ||
        !bind_vector (t, gguf, blk_name (n, sizeof n, l, "attn_v.bias"), KV,
            TRUE, &w->bv, error))
      return FALSE;
  }
  if (!bind_matrix (t, gguf, blk_name (n, sizeof n, l, "attn_output.weight"), D,
          D, FALSE, &w->wo, error) ||
      !bind_vector (t, gguf, blk_name (n, sizeof n, l, "attn_output.bias"), D,
          TRUE, &w->bo, error) ||
      !bind_matrix (t, gguf, blk_name (n, sizeof n, l, "ffn_up.weight"), F, D,
          FALSE, &w->w_up, error) ||
      !bind_vector (t, gguf, blk_name (n, sizeof n, l, "ffn_up.bias"), F, TRUE,
          &w->b_up, error) ||
      !bind_matrix (t, gguf, blk_name (n, sizeof n, l, "ffn_down.weight"), D, F,
          FALSE, &w->w_down, error) ||
      !bind_vector (t, gguf, blk_name (n, sizeof n, l, "ffn_down.bias"), D,
          TRUE, &w->b_down, error))
    return FALSE;
  if (!gpt &&
      !bind_matrix (t, gguf, blk_name (n, sizeof n, l, "ffn_gate.weight"), F, D,
          FALSE, &w->w_gate, error))
    return FALSE;
  return TRUE;
}

ArTransformer *
ar_transformer_new_from_gguf (const ArGguf *gguf, GError **error)
{
  g_autoptr (ArTransformer) t = g_new0 (ArTransformer, 1);
  const ArTransformerConfig *c = &t->config;
  gboolean gpt;

  t->owned = g_ptr_array_new_with_free_func (g_free);
  if (!ar_transformer_config_from_gguf (&t->config, gguf, error))
    return NULL;
  gpt = c->arch == AR_TRANSFORMER_GPT;
  t->head_size = ar_transformer_config_head_size (c);
  t->kv_dim = c->n_head_kv * t->head_size;
  t->n_cache = MIN (c->n_ctx, AR_TRANSFORMER_MAX_CONTEXT);
  t->max_in = MAX (c->n_embd, c->n_ff);

  /* The cache is 2 L C Hkv hs floats; refuse what cannot be allocated on
   * any machine rather than abort in ar_transformer_state_new (). */
  if ((double) c->n_layers * t->n_cache * t->kv_dim * 2 * sizeof (float) >
      64.0 * (1 << 30)) {
    g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
        "%s: a KV cache of %u layers x %u positions x %u values would exceed "
        "64 GiB",
        ar_gguf_get_name (gguf), c->n_layers, t->n_cache, t->kv_dim);
    return NULL;
  }

  if (!bind_matrix (t, gguf, "token_embd.weight", c->n_vocab, c->n_embd, FALSE,
          &t->token_embd, error))
    return NULL;
  if (gpt &&
      !bind_matrix (t, gguf, "position_embd.weight", c->n_ctx, c->n_embd, FALSE,
          &t->position_embd, error))
    return NULL;
  t->layers = g_new0 (Layer, c->n_layers);
  for (guint l = 0; l < c->n_layers; l++)
    if (!bind_layer (t, gguf, l, &t->layers[l], error))
      return NULL;
  if (!bind_vector (t, gguf, "output_norm.weight", c->n_embd, FALSE,
          &t->output_norm, error))
    return NULL;
  if (gpt &&
      !bind_vector (t, gguf, "output_norm.bias", c->n_embd, FALSE,
          &t->output_norm_b, error))
    return NULL;
  if (c->tied_output)
    t->output = t->token_embd;
  else if (!bind_matrix (t, gguf, "output.weight", c->n_vocab, c->n_embd, FALSE,
               &t->output, error))
    return NULL;
  t->streamed = matrix_bytes (t) >= STREAMED_MIN_BYTES;
  return g_steal_pointer (&t);
}

const ArTransformerConfig *
ar_transformer_get_config (const ArTransformer *t)
{
  return &t->config;
}

guint
ar_transformer_get_cache_length (const ArTransformer *t)
{
  return t->n_cache;
}

/* ---- building blocks -------------------------------------------------- */

/* Whether @m reads its input quantised to Q8_0 blocks (Q8_0 and Q4_0
 * matrices) rather than as floats (F32 and F16 ones). */
static inline gboolean
is_quantised (const ArMatrix *m)
{
  return m->type == AR_TENSOR_Q8_0 || m->type == AR_TENSOR_Q4_0;
}

/* Whether the input of q, k and v must be quantised. */
static inline gboolean
qkv_quantised (const Layer *w)
{
  return is_quantised (&w->wq) || is_quantised (&w->wk) ||
      is_quantised (&w->wv);
}

/* y (m->rows) = m (rows, cols) · x (cols) [+ bias (rows)].  @xq is x
 * quantised to Q8_0 (cols / 32 blocks), needed only by a Q8_0 or Q4_0
 * matrix.
 * Large matrices are split by rows over @pool's threads (NULL: none); the
 * result is bit for bit the same (ar-threadpool.h). */
static void
linear (ArThreadPool *pool, float *y, const ArMatrix *m, const float *x,
    const ArBlockQ8_0 *xq, const float *bias)
{
  ar_threadpool_matvec_typed (pool, m->type, y, m->data, x, xq, bias, m->rows,
      m->cols);
}

/* out (cols) = row r of m, as floats (an embedding lookup). */
static void
matrix_row (const ArMatrix *m, guint r, float *out)
{
  ar_tensor_data_to_f32 (m->type,
      (const guint8 *) m->data + r * ar_tensor_data_size (m->type, m->cols),
      m->cols, out);
}

/* o (n) = w * x / sqrt (mean (x²) + eps); o may equal x.  The same order of
 * operations as llama2.c, so greedy decoding agrees token for token. */
static void
rmsnorm (float *o, const float *x, const float *w, guint n, float eps)
{
  float ss = 0.0f;

  for (guint i = 0; i < n; i++)
    ss += x[i] * x[i];
  ss = 1.0f / sqrtf (ss / n + eps);
  for (guint i = 0; i < n; i++)
    o[i] = w[i] * (ss * x[i]);
}

/* o (n) = (x - mean) / sqrt (var + eps) * w + b, variance by two passes. */
static void
layernorm (float *o, const float *x, const float *w, const float *b, guint n,
    float eps)
{
  float mean = 0.0f, var = 0.0f, rstd;

  for (guint i = 0; i < n; i++)
    mean += x[i];
  mean /= n;
  for (guint i = 0; i < n; i++)
    var += (x[i] - mean) * (x[i] - mean);
  rstd = 1.0f / sqrtf (var / n + eps);
  for (guint i = 0; i < n; i++)
    o[i] = (x[i] - mean) * rstd * w[i] + b[i];
}

static void
norm (const ArTransformer *t, float *o, const float *x, const float *w,
    const float *b)
{
  if (t->config.arch == AR_TRANSFORMER_GPT)
    layernorm (o, x, w, b, t->config.n_embd, t->config.norm_eps);
  else
    rmsnorm (o, x, w, t->config.n_embd, t->config.norm_eps);
}

/* The rotation of position @pos: cos / sin (n_rot / 2) of pos * theta_i,
 * theta_i = base^(-2i / n_rot), computed in float as llama2.c does. */
static void
rope_angles (const ArTransformer *t, guint pos, float *cos_out, float *sin_out)
{
  const ArTransformerConfig *c = &t->config;

  for (guint i = 0; i < c->n_rot / 2; i++) {
    float freq = 1.0f / powf (c->rope_freq_base, (float) (2 * i) / c->n_rot);
    float angle = pos * freq;
    cos_out[i] = cosf (angle);
    sin_out[i] = sinf (angle);
  }
}

/* Rotates the adjacent pairs (v[2i], v[2i+1]), i < n_rot / 2, of each of
 * @n_heads heads of v (n_heads, hs). */
static void
rope_apply (const ArTransformer *t, float *v, guint n_heads, const float *cos_a,
    const float *sin_a)
{
  for (guint h = 0; h < n_heads; h++) {
    float *vh = v + (gsize) h * t->head_size;
    for (guint i = 0; i < t->config.n_rot / 2; i++) {
      float v0 = vh[2 * i], v1 = vh[2 * i + 1];
      vh[2 * i] = v0 * cos_a[i] - v1 * sin_a[i];
      vh[2 * i + 1] = v0 * sin_a[i] + v1 * cos_a[i];
    }
  }
}

/* In-place softmax over x (n), n >= 1; -INFINITY entries become 0. */
static void
softmax (float *x, guint n)
{
  float max = x[0], sum = 0.0f;

  for (guint i = 1; i < n; i++)
    max = MAX (max, x[i]);
  for (guint i = 0; i < n; i++) {
    x[i] = expf (x[i] - max);
    sum += x[i];
  }
  for (guint i = 0; i < n; i++)
    x[i] /= sum;
}

/* Σ a (n) · b (n) left to right; attention heads are short (often 8 to 64
 * values), where a call through the kernel dispatch would cost more than
 * the arithmetic. */
static inline float
dot_small (const float *a, const float *b, guint n)
{
  float s = 0.0f;

  for (guint i = 0; i < n; i++)
    s += a[i] * b[i];
  return s;
}

/* Attention of one query position over keys/values k, v (n_keys, kv_dim):
 * out (D) = per head h, Σ_j softmax_j (q_h · k_j,g / sqrt (hs)) v_j,g with
 * g = h / (H / Hkv).  Keys j >= @n_visible are masked out (the oracle passes
 * every position with a causal mask; the cached path passes only the
 * visible ones).  att: scratch (n_keys). */
static void
attention (const ArTransformer *t, float *out, const float *q, const float *k,
    const float *v, guint n_keys, guint n_visible, float *att)
{
  guint hs = t->head_size, kv_dim = t->kv_dim;
  guint group = t->config.n_head / t->config.n_head_kv;
  float scale = sqrtf ((float) hs);

  for (guint h = 0; h < t->config.n_head; h++) {
    const float *qh = q + (gsize) h * hs;
    gsize off = (gsize) (h / group) * hs;
    float *oh = out + (gsize) h * hs;

    for (guint j = 0; j < n_keys; j++)
      att[j] = j < n_visible
          ? dot_small (qh, k + (gsize) j * kv_dim + off, hs) / scale
          : -INFINITY;
    softmax (att, n_keys);
    memset (oh, 0, hs * sizeof (float));
    for (guint j = 0; j < n_keys; j++) {
      const float *vj = v + (gsize) j * kv_dim + off;
      float a = att[j];
      for (guint i = 0; i < hs; i++)
        oh[i] += a * vj[i];
    }
  }
}

/* x·σ(x) */
static inline float
silu (float x)
{
  return x / (1.0f + expf (-x));
}

/* GPT-2's tanh approximation of GELU. */
static inline float
gelu (float x)
{
  const float k = 0.7978845608028654f; /* sqrt (2 / pi) */
  return 0.5f * x * (1.0f + tanhf (k * (x + 0.044715f * x * x * x)));
}

/* The feed-forward half of block @w on the normalised input xn (D), into
 * out (D); hb, hb2: scratch (F); xq: scratch (max_in / 32). */
static void
feed_forward (const ArTransformer *t, ArThreadPool *pool, const Layer *w,
    float *out, const float *xn, float *hb, float *hb2, ArBlockQ8_0 *xq)
{
  guint F = t->config.n_ff;
  const ArBlockQ8_0 *xnq = NULL, *hq = NULL;

  if (is_quantised (&w->w_up) || is_quantised (&w->w_gate)) {
    ar_quantize_q8_0 (xq, xn, t->config.n_embd);
    xnq = xq;
  }
  linear (pool, hb, &w->w_up, xn, xnq, w->b_up);
  if (t->config.arch == AR_TRANSFORMER_GPT) {
    for (guint i = 0; i < F; i++)
      hb[i] = gelu (hb[i]);
  } else {
    linear (pool, hb2, &w->w_gate, xn, xnq, NULL);
    for (guint i = 0; i < F; i++)
      hb[i] = silu (hb2[i]) * hb[i];
  }
  if (is_quantised (&w->w_down)) {
    ar_quantize_q8_0 (xq, hb, F);
    hq = xq;
  }
  linear (pool, out, &w->w_down, hb, hq, w->b_down);
}

/* x (D) = token embedding (+ position embedding for gpt). */
static void
embed (const ArTransformer *t, float *x, guint token, guint pos, float *tmp)
{
  matrix_row (&t->token_embd, token, x);
  if (t->config.arch == AR_TRANSFORMER_GPT) {
    matrix_row (&t->position_embd, pos, tmp);
    for (guint i = 0; i < t->config.n_embd; i++)
      x[i] += tmp[i];
  }
}

/* logits (V) = output · norm (x); x is overwritten. */
static void
classify (const ArTransformer *t, ArThreadPool *pool, float *logits, float *x,
    ArBlockQ8_0 *xq)
{
  norm (t, x, x, t->output_norm, t->output_norm_b);
  if (is_quantised (&t->output))
    ar_quantize_q8_0 (xq, x, t->config.n_embd);
  linear (pool, logits, &t->output, x, xq, NULL);
}

/* ---- batched building blocks ------------------------------------------- */

/* Most tokens of a prompt processed together: each projection then reads
 * the weights once for all of them instead of once per token.  32 rows
 * already make the products compute bound on these widths; more would only
 * grow every state. */
#define AR_TRANSFORMER_BATCH 32
/* Rows of an F16, Q8_0 or Q4_0 matrix multiplied by every row of a batch
 * before the next: 64 rows of up to a few thousand columns stay in the L2
 * cache while the batch's rows go by.  A multiple of 16, so the kernels' row
 * groups (8, 4 and 2) are the token path's. */
#define ROW_BLOCK 64

/* xq (T, n / 32 blocks) = X (T, n) quantised row by row, as the token path
 * quantises its input. */
static void
quantize_rows (ArBlockQ8_0 *xq, const float *X, guint T, guint n)
{
  for (guint r = 0; r < T; r++)
    ar_quantize_q8_0 (xq + (gsize) r * (n / AR_Q8_0_BLOCK), X + (gsize) r * n,
        n);
}

/* How linear_batch () multiplies: F32 matrices with cblas_sgemm (equal to
 * the token path's products up to float rounding) or, like every other
 * type, with the token path's own kernels (bit for bit), those of F32
 * matrices for weights that come from the caches or from memory. */
typedef enum
{
  BATCH_SGEMM,
  BATCH_EXACT,
  BATCH_EXACT_STREAMED,
} BatchProducts;

/* A batched product of one matrix with the token path's kernels (see
 * linear_batch). */
typedef struct
{
  float *Y;
  const ArMatrix *m;
  const float *X;
  const ArBlockQ8_0 *Xq;
  const float *bias; /* added by the kernels, as linear () adds it */
  guint T;
  gboolean streamed; /* F32 only: ar_matvec_multi_streamed () */
} BatchJob;

/* Rows [task * ROW_BLOCK, +ROW_BLOCK) of the matrix against every row of the
 * batch, with the token path's kernels: F32 matrices with the batched
 * ar_matvec_multi (the token path's sums, bit for bit), the others with
 * ar_matvec_typed () once per row of the batch. */
static void
batch_rows (gpointer data, guint task)
{
  const BatchJob *j = data;
  const ArMatrix *m = j->m;
  guint r0 = task * ROW_BLOCK, n = MIN (ROW_BLOCK, m->rows - r0);
  const void *W =
      (const guint8 *) m->data + r0 * ar_tensor_data_size (m->type, m->cols);
  const float *bias = j->bias ? j->bias + r0 : NULL;

  if (m->type == AR_TENSOR_F32) {
    (j->streamed ? ar_matvec_multi_streamed : ar_matvec_multi) (j->Y + r0,
        m->rows, W, j->X, bias, n, m->cols, j->T);
    return;
  }
  for (guint t = 0; t < j->T; t++)
    ar_matvec_typed (m->type, j->Y + (gsize) t * m->rows + r0, W,
        j->X + (gsize) t * m->cols,
        j->Xq ? j->Xq + (gsize) t * (m->cols / AR_Q8_0_BLOCK) : NULL, bias, n,
        m->cols);
}

/* Y (T, m->rows) = X (T, cols) · mᵀ [+ bias (rows)], the batched linear().
 * @Xq: X quantised (quantize_rows), read by a Q8_0 or Q4_0 matrix only.
 * F32 matrices go to cblas_sgemm when @how is BATCH_SGEMM, whose sums come
 * out in another order than ar_matvec's: equal to float rounding.  F16,
 * Q8_0 and Q4_0 ones, and F32 ones otherwise, run the token path's own
 * kernels ROW_BLOCK rows at a time over every row of the batch, so that
 * block is read from memory once for all T tokens and every output is bit
 * for bit the token path's
 * (a row's sum does not depend on the rows computed with it, ar-kernels.h);
 * the blocks are split over @pool's threads when the matrix is large (each
 * row block is one task, written by one thread: the result does not depend
 * on the split). */
static void
linear_batch (ArThreadPool *pool, float *Y, const ArMatrix *m, const float *X,
    const ArBlockQ8_0 *Xq, const float *bias, guint T, BatchProducts how)
{
  guint rows = m->rows, cols = m->cols;

  if (m->type == AR_TENSOR_F32 && how == BATCH_SGEMM) {
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, T, rows, cols, 1.0f,
        X, cols, m->data, cols, 0.0f, Y, rows);
    if (bias)
      for (guint t = 0; t < T; t++)
        for (guint r = 0; r < rows; r++)
          Y[(gsize) t * rows + r] += bias[r];
  } else {
    BatchJob j = { Y, m, X, Xq, bias, T, how == BATCH_EXACT_STREAMED };
    guint n_blocks = (rows + ROW_BLOCK - 1) / ROW_BLOCK;

    if ((gint64) rows * cols < AR_THREADPOOL_MIN_WEIGHTS)
      pool = NULL;
    ar_threadpool_run (pool, n_blocks, batch_rows, &j);
  }
}

/* ---- the cached step -------------------------------------------------- */

struct _ArTransformerState
{
  const ArTransformer *t;
  ArThreadPool *pool;         /* splits large products; NULL: none */
  guint pos;                  /* positions filled: the next token's position */
  gint32 *tokens;             /* (n_cache) the token at each position */
  float *x;                   /* (D) the residual stream */
  float *xb;                  /* (D) normalised input, then attention output */
  float *xb2;                 /* (D) a block's contribution to x */
  float *q;                   /* (D) the query */
  float *k, *v;               /* (Hkv*hs) the new key and value */
  float *hb, *hb2;            /* (F) feed-forward activations */
  float *att;                 /* (n_cache) attention weights of one head */
  float *logits;              /* (V) */
  float *rope_cos, *rope_sin; /* (n_rot / 2) at the current position */
  ArBlockQ8_0 *xq;            /* (max_in / 32) a quantised input */
  float *k_cache, *v_cache;   /* (L, Hkv, n_cache, hs) */

  /* the batched path (step_batch), B = n_batch rows */
  guint n_batch;      /* B = min (AR_TRANSFORMER_BATCH, n_cache) */
  float *bx;          /* (B, D) residual streams */
  float *bxn;         /* (B, D) normalised inputs, block outputs */
  float *bq;          /* (B, D) queries */
  float *ba;          /* (B, D) attention outputs, block outputs */
  float *bk, *bv;     /* (B, Hkv*hs) new keys and values */
  float *bhb, *bhb2;  /* (B, F) feed-forward activations */
  ArBlockQ8_0 *bxq;   /* (B, max_in / 32) quantised inputs */
  float *bcos, *bsin; /* (B, n_rot / 2) rotations of each row */

  gpointer mem; /* the one allocation holding all of the above */
};

/* Reserves @bytes at *offset, 64-byte aligned; returns the offset. */
static gsize
carve (gsize *offset, gsize bytes)
{
  gsize at = (*offset + 63) & ~(gsize) 63;
  *offset = at + bytes;
  return at;
}

ArTransformerState *
ar_transformer_state_new (const ArTransformer *t)
{
  const ArTransformerConfig *c = &t->config;
  gsize D = c->n_embd, F = c->n_ff, C = t->n_cache, f = sizeof (float);
  gsize KV = t->kv_dim, half = c->n_rot / 2 + 1;
  /* a bidirectional model runs whole sequences as one batch */
  gsize B = c->bidirectional ? t->n_cache
                             : MIN (AR_TRANSFORMER_BATCH, t->n_cache);
  gsize cache = (gsize) c->n_layers * C * KV * f;
  gsize o = 0;
  gsize o_tokens = carve (&o, C * sizeof (gint32));
  gsize o_x = carve (&o, D * f), o_xb = carve (&o, D * f);
  gsize o_xb2 = carve (&o, D * f), o_q = carve (&o, D * f);
  gsize o_k = carve (&o, KV * f), o_v = carve (&o, KV * f);
  gsize o_hb = carve (&o, F * f), o_hb2 = carve (&o, F * f);
  gsize o_att = carve (&o, C * f), o_logits = carve (&o, c->n_vocab * f);
  gsize o_cos = carve (&o, half * f), o_sin = carve (&o, half * f);
  gsize o_xq =
      carve (&o, (t->max_in / AR_Q8_0_BLOCK + 1) * sizeof (ArBlockQ8_0));
  gsize o_kc = carve (&o, cache), o_vc = carve (&o, cache);
  gsize o_bx = carve (&o, B * D * f), o_bxn = carve (&o, B * D * f);
  gsize o_bq = carve (&o, B * D * f), o_ba = carve (&o, B * D * f);
  gsize o_bk = carve (&o, B * KV * f), o_bv = carve (&o, B * KV * f);
  gsize o_bhb = carve (&o, B * F * f), o_bhb2 = carve (&o, B * F * f);
  gsize o_bxq =
      carve (&o, B * (t->max_in / AR_Q8_0_BLOCK + 1) * sizeof (ArBlockQ8_0));
  gsize o_bcos = carve (&o, B * half * f), o_bsin = carve (&o, B * half * f);
  ArTransformerState *s = g_new0 (ArTransformerState, 1);
  /* one allocation, zeroed so every byte is defined; 64 spare bytes let the
   * base be rounded up to a cache line */
  guint8 *mem = g_malloc0 (o + 64);
  guint8 *base = (guint8 *) (((guintptr) mem + 63) & ~(guintptr) 63);

  s->t = t;
  s->tokens = (gint32 *) (base + o_tokens);
  s->x = (float *) (base + o_x);
  s->xb = (float *) (base + o_xb);
  s->xb2 = (float *) (base + o_xb2);
  s->q = (float *) (base + o_q);
  s->k = (float *) (base + o_k);
  s->v = (float *) (base + o_v);
  s->hb = (float *) (base + o_hb);
  s->hb2 = (float *) (base + o_hb2);
  s->att = (float *) (base + o_att);
  s->logits = (float *) (base + o_logits);
  s->rope_cos = (float *) (base + o_cos);
  s->rope_sin = (float *) (base + o_sin);
  s->xq = (ArBlockQ8_0 *) (base + o_xq);
  s->k_cache = (float *) (base + o_kc);
  s->v_cache = (float *) (base + o_vc);
  s->n_batch = B;
  s->bx = (float *) (base + o_bx);
  s->bxn = (float *) (base + o_bxn);
  s->bq = (float *) (base + o_bq);
  s->ba = (float *) (base + o_ba);
  s->bk = (float *) (base + o_bk);
  s->bv = (float *) (base + o_bv);
  s->bhb = (float *) (base + o_bhb);
  s->bhb2 = (float *) (base + o_bhb2);
  s->bxq = (ArBlockQ8_0 *) (base + o_bxq);
  s->bcos = (float *) (base + o_bcos);
  s->bsin = (float *) (base + o_bsin);
  s->mem = mem;
  return s;
}

void
ar_transformer_state_free (ArTransformerState *s)
{
  if (s == NULL)
    return;
  g_free (s->mem);
  g_free (s);
}

void
ar_transformer_state_reset (ArTransformerState *s)
{
  /* Positions >= pos are never read, so the cache needs no clearing. */
  s->pos = 0;
}

void
ar_transformer_state_copy (ArTransformerState *dest,
    const ArTransformerState *src)
{
  const ArTransformer *t = src->t;
  const ArTransformerConfig *c = &t->config;
  gsize filled = (gsize) src->pos * t->head_size * sizeof (float);

  g_return_if_fail (dest->t == src->t);
  if (dest == src)
    return;
  dest->pos = src->pos;
  memcpy (dest->tokens, src->tokens, src->pos * sizeof (gint32));
  /* only the filled positions of each (layer, head) run of the cache */
  for (gsize lg = 0; lg < (gsize) c->n_layers * c->n_head_kv; lg++) {
    gsize at = lg * t->n_cache * t->head_size;
    memcpy (dest->k_cache + at, src->k_cache + at, filled);
    memcpy (dest->v_cache + at, src->v_cache + at, filled);
  }
  memcpy (dest->logits, src->logits, c->n_vocab * sizeof (float));
}

void
ar_transformer_state_set_threadpool (ArTransformerState *s, ArThreadPool *pool)
{
  s->pool = pool;
}

const gint32 *
ar_transformer_state_get_tokens (const ArTransformerState *s, guint *n)
{
  *n = s->pos;
  return s->tokens;
}

/* out (D) = attention of the query q (D) over the first @n cached positions
 * of block @l; q is scaled in place.  The cache holds each key/value head's
 * positions contiguously, so per query head the scores are one
 * matrix-vector product K_g (n, hs) · q_h and the output one transposed
 * product V_gᵀ · att: both SIMD kernels, where a head of 8 values would
 * leave scalar loops mostly idle.  Same formula as attention() (the
 * oracle's).  Scratch: s->att (n). */
static void
attend (const ArTransformer *t, ArTransformerState *s, guint l, float *q,
    float *out, guint n)
{
  guint hs = t->head_size, group = t->config.n_head / t->config.n_head_kv;
  float inv_scale = 1.0f / sqrtf ((float) hs);

  /* scaling q once costs D multiplications instead of H n divisions */
  for (guint i = 0; i < t->config.n_embd; i++)
    q[i] *= inv_scale;
  for (guint h = 0; h < t->config.n_head; h++) {
    gsize at = ((gsize) l * t->config.n_head_kv + h / group) * t->n_cache * hs;
    float max, inv;

    ar_matvec (s->att, s->k_cache + at, q + (gsize) h * hs, NULL, n, hs);
    max = s->att[0];
    for (guint j = 1; j < n; j++)
      max = MAX (max, s->att[j]);
    inv = 1.0f / ar_exp_shift_sum (s->att, max, n);
    for (guint j = 0; j < n; j++)
      s->att[j] *= inv;
    ar_matvec_t (out + (gsize) h * hs, s->v_cache + at, s->att, n, hs);
  }
}

/* Stores key and value k, v (Hkv*hs) of block @l at position @pos of the
 * cache, head by head: (L, Hkv, n_cache, hs). */
static void
cache_store (const ArTransformer *t, ArTransformerState *s, guint l, guint pos,
    const float *k, const float *v)
{
  guint hs = t->head_size;

  for (guint g = 0; g < t->config.n_head_kv; g++) {
    gsize at = (((gsize) l * t->config.n_head_kv + g) * t->n_cache + pos) * hs;
    memcpy (s->k_cache + at, k + (gsize) g * hs, hs * sizeof (float));
    memcpy (s->v_cache + at, v + (gsize) g * hs, hs * sizeof (float));
  }
}

/* Appends @token at position s->pos (the cache has room).  With
 * @want_logits FALSE the work that only this token's logits need is
 * skipped: the last block after its keys and values, and the classifier. */
static void
step (const ArTransformer *t, ArTransformerState *s, guint token,
    gboolean want_logits)
{
  const ArTransformerConfig *c = &t->config;
  guint pos = s->pos, D = c->n_embd;
  gboolean llama = c->arch == AR_TRANSFORMER_LLAMA;
  ArThreadPool *pool = s->pool;
  float *x = s->x;

  s->tokens[pos] = token;
  s->pos = pos + 1;
  embed (t, x, token, pos, s->xb);
  if (llama)
    rope_angles (t, pos, s->rope_cos, s->rope_sin);

  for (guint l = 0; l < c->n_layers; l++) {
    const Layer *w = &t->layers[l];
    const ArBlockQ8_0 *xq = NULL;

    norm (t, s->xb, x, w->attn_norm, w->attn_norm_b);
    if (qkv_quantised (w)) {
      ar_quantize_q8_0 (s->xq, s->xb, D);
      xq = s->xq;
    }
    linear (pool, s->k, &w->wk, s->xb, xq, w->bk);
    linear (pool, s->v, &w->wv, s->xb, xq, w->bv);
    if (llama)
      rope_apply (t, s->k, c->n_head_kv, s->rope_cos, s->rope_sin);
    cache_store (t, s, l, pos, s->k, s->v);
    if (!want_logits && l + 1 == c->n_layers)
      return;
    linear (pool, s->q, &w->wq, s->xb, xq, w->bq);
    if (llama)
      rope_apply (t, s->q, c->n_head, s->rope_cos, s->rope_sin);

    attend (t, s, l, s->q, s->xb, pos + 1);
    if (is_quantised (&w->wo)) {
      ar_quantize_q8_0 (s->xq, s->xb, D);
      xq = s->xq;
    }
    linear (pool, s->xb2, &w->wo, s->xb, xq, w->bo);
    for (guint i = 0; i < D; i++)
      x[i] += s->xb2[i];

    norm (t, s->xb, x, w->ffn_norm, w->ffn_norm_b);
    feed_forward (t, pool, w, s->xb2, s->xb, s->hb, s->hb2, s->xq);
    for (guint i = 0; i < D; i++)
      x[i] += s->xb2[i];
  }
  if (want_logits)
    classify (t, pool, s->logits, x, s->xq);
}

/* Appends tokens[0 .. T) at positions s->pos .. s->pos + T - 1 (1 <= T <=
 * n_batch, the cache has room): step() for T tokens at once.  Every block
 * runs on the T rows together, each projection one matrix-matrix product
 * (linear_batch: cblas_sgemm for F32 unless @exact, else the token path's
 * kernels, streaming when the model outgrows the caches) that reads the
 * weights once for all T tokens; norms, rotations, nonlinearities and attention are step()'s
 * per-row code, row i attending over the cache up to its own position,
 * which the earlier rows of the batch have just written (a bidirectional
 * model: over every row of the batch).  With @all_logits (T, V), every
 * row's logits are written there (and the last row's to s->logits).
 * Otherwise the last block after its keys and values and the classifier
 * run for the last row only when @want_logits (no one reads the others'
 * logits), not at all otherwise.  @tokens may point into s->tokens at
 * s->pos (the window slide does). */
static void
step_batch (const ArTransformer *t, ArTransformerState *s, const gint32 *tokens,
    guint T, gboolean want_logits, gboolean exact, float *all_logits)
{
  const ArTransformerConfig *c = &t->config;
  guint p0 = s->pos, D = c->n_embd, F = c->n_ff, KV = t->kv_dim;
  guint half = c->n_rot / 2 + 1;
  gboolean llama = c->arch == AR_TRANSFORMER_LLAMA;
  ArThreadPool *pool = s->pool;
  BatchProducts how = BATCH_SGEMM;

  if (exact)
    how = t->streamed ? BATCH_EXACT_STREAMED : BATCH_EXACT;
  if (all_logits)
    want_logits = TRUE;
  memmove (s->tokens + p0, tokens, T * sizeof (gint32));
  s->pos = p0 + T;
  for (guint i = 0; i < T; i++) {
    embed (t, s->bx + (gsize) i * D, s->tokens[p0 + i], p0 + i, s->xb);
    if (llama)
      rope_angles (t, p0 + i, s->bcos + i * half, s->bsin + i * half);
  }

  for (guint l = 0; l < c->n_layers; l++) {
    const Layer *w = &t->layers[l];
    guint first = 0, n;
    float *x;

    for (guint i = 0; i < T; i++)
      norm (t, s->bxn + (gsize) i * D, s->bx + (gsize) i * D, w->attn_norm,
          w->attn_norm_b);
    if (qkv_quantised (w))
      quantize_rows (s->bxq, s->bxn, T, D);
    linear_batch (pool, s->bk, &w->wk, s->bxn, s->bxq, w->bk, T, how);
    linear_batch (pool, s->bv, &w->wv, s->bxn, s->bxq, w->bv, T, how);
    for (guint i = 0; i < T; i++) {
      if (llama)
        rope_apply (t, s->bk + (gsize) i * KV, c->n_head_kv, s->bcos + i * half,
            s->bsin + i * half);
      cache_store (t, s, l, p0 + i, s->bk + (gsize) i * KV,
          s->bv + (gsize) i * KV);
    }
    if (l + 1 == c->n_layers && !all_logits) {
      if (!want_logits)
        return;
      first = T - 1;
    }

    /* rows first .. T - 1 carry on, as rows 0 .. n - 1 of the scratch */
    n = T - first;
    x = s->bx + (gsize) first * D;
    linear_batch (pool, s->bq, &w->wq, s->bxn + (gsize) first * D,
        s->bxq + (gsize) first * (D / AR_Q8_0_BLOCK), w->bq, n, how);
    for (guint j = 0; j < n; j++) {
      guint i = first + j;
      float *q = s->bq + (gsize) j * D;
      if (llama)
        rope_apply (t, q, c->n_head, s->bcos + i * half, s->bsin + i * half);
      attend (t, s, l, q, s->ba + (gsize) j * D,
          c->bidirectional ? p0 + T : p0 + i + 1);
    }
    if (is_quantised (&w->wo))
      quantize_rows (s->bxq, s->ba, n, D);
    linear_batch (pool, s->bxn, &w->wo, s->ba, s->bxq, w->bo, n, how);
    for (gsize i = 0; i < (gsize) n * D; i++)
      x[i] += s->bxn[i];

    for (guint j = 0; j < n; j++)
      norm (t, s->bxn + (gsize) j * D, x + (gsize) j * D, w->ffn_norm,
          w->ffn_norm_b);
    if (is_quantised (&w->w_up) || is_quantised (&w->w_gate))
      quantize_rows (s->bxq, s->bxn, n, D);
    linear_batch (pool, s->bhb, &w->w_up, s->bxn, s->bxq, w->b_up, n, how);
    if (c->arch == AR_TRANSFORMER_GPT) {
      for (gsize i = 0; i < (gsize) n * F; i++)
        s->bhb[i] = gelu (s->bhb[i]);
    } else {
      linear_batch (pool, s->bhb2, &w->w_gate, s->bxn, s->bxq, NULL, n, how);
      for (gsize i = 0; i < (gsize) n * F; i++)
        s->bhb[i] = silu (s->bhb2[i]) * s->bhb[i];
    }
    if (is_quantised (&w->w_down))
      quantize_rows (s->bxq, s->bhb, n, F);
    linear_batch (pool, s->ba, &w->w_down, s->bhb, s->bxq, w->b_down, n, how);
    for (gsize i = 0; i < (gsize) n * D; i++)
      x[i] += s->ba[i];
  }
  if (all_logits) {
    /* every row: classify () batched */
    for (guint i = 0; i < T; i++)
      norm (t, s->bx + (gsize) i * D, s->bx + (gsize) i * D, t->output_norm,
          t->output_norm_b);
    if (is_quantised (&t->output))
      quantize_rows (s->bxq, s->bx, T, D);
    linear_batch (pool, all_logits, &t->output, s->bx, s->bxq, NULL, T, how);
    memcpy (s->logits, all_logits + (gsize) (T - 1) * c->n_vocab,
        c->n_vocab * sizeof (float));
  } else if (want_logits) {
    classify (t, s->pool, s->logits, s->bx + (gsize) (T - 1) * D, s->xq);
  }
}

/* Appends tokens[0 .. n) (the cache has room): in batches of up to
 * n_batch rows, a lone token by step().  With @want_logits the logits
 * after the last token are computed. */
static void
append (const ArTransformer *t, ArTransformerState *s, const gint32 *tokens,
    guint n, gboolean want_logits)
{
  for (guint i = 0; i < n;) {
    guint T = MIN (n - i, s->n_batch);
    gboolean last = want_logits && i + T == n;

    if (T == 1)
      step (t, s, tokens[i], last);
    else
      step_batch (t, s, tokens + i, T, last, FALSE, NULL);
    i += T;
  }
}

/* The cache is full: keep the most recent n_cache / 2 tokens and recompute
 * their keys and values from position 0 (see the header), batched. */
static void
slide (const ArTransformer *t, ArTransformerState *s)
{
  guint keep = t->n_cache / 2;

  memmove (s->tokens, s->tokens + (s->pos - keep), keep * sizeof (gint32));
  s->pos = 0;
  append (t, s, s->tokens, keep, FALSE);
}

/* Whether every one of tokens[0 .. n) is in the vocabulary (the batched
 * entry points' argument check). */
static gboolean
tokens_valid (const ArTransformer *t, const gint32 *tokens, guint n)
{
  for (guint i = 0; i < n; i++)
    if (tokens[i] < 0 || (guint) tokens[i] >= t->config.n_vocab)
      return FALSE;
  return TRUE;
}

const float *
ar_transformer_forward (const ArTransformer *t, ArTransformerState *s,
    guint token)
{
  g_return_val_if_fail (token < t->config.n_vocab, s->logits);
  g_return_val_if_fail (!t->config.bidirectional, s->logits);

  if (s->pos == t->n_cache)
    slide (t, s);
  step (t, s, token, TRUE);
  return s->logits;
}

const float *
ar_transformer_forward_prompt (const ArTransformer *t, ArTransformerState *s,
    const gint32 *tokens, guint n)
{
  g_return_val_if_fail (n >= 1, s->logits);
  g_return_val_if_fail (!t->config.bidirectional, s->logits);
  g_return_val_if_fail (tokens_valid (t, tokens, n), s->logits);

  for (guint i = 0; i < n;) {
    guint T;

    if (s->pos == t->n_cache)
      slide (t, s);
    T = MIN (n - i, t->n_cache - s->pos);
    append (t, s, tokens + i, T, i + T == n);
    i += T;
  }
  return s->logits;
}

/* ---- verification and rollback ------------------------------------------ */

guint
ar_transformer_state_get_room (const ArTransformerState *s)
{
  return s->t->n_cache - s->pos;
}

guint
ar_transformer_forward_all (const ArTransformer *t, ArTransformerState *s,
    const gint32 *tokens, guint n, float *logits)
{
  guint V = t->config.n_vocab, m;

  g_return_val_if_fail (!t->config.bidirectional, 0);
  g_return_val_if_fail (n >= 1, 0);
  g_return_val_if_fail (tokens_valid (t, tokens, n), 0);

  if (s->pos == t->n_cache)
    slide (t, s);
  m = MIN (n, t->n_cache - s->pos);
  for (guint i = 0; i < m;) {
    guint T = MIN (m - i, s->n_batch);

    if (T == 1) {
      step (t, s, tokens[i], TRUE);
      memcpy (logits + (gsize) i * V, s->logits, V * sizeof (float));
    } else {
      step_batch (t, s, tokens + i, T, TRUE, TRUE, logits + (gsize) i * V);
    }
    i += T;
  }
  return m;
}

void
ar_transformer_state_rewind (ArTransformerState *s, guint n)
{
  g_return_if_fail (n <= s->pos);
  /* positions >= pos are never read: nothing else to undo */
  s->pos -= n;
}

/* ---- the bidirectional encoder ------------------------------------------- */

void
ar_transformer_encode (const ArTransformer *t, ArTransformerState *s,
    const gint32 *tokens, guint n, float *logits)
{
  g_return_if_fail (t->config.bidirectional);
  g_return_if_fail (n >= 1 && n <= t->n_cache);
  g_return_if_fail (tokens_valid (t, tokens, n));

  /* the state's batch holds n_cache rows for a bidirectional model */
  s->pos = 0;
  step_batch (t, s, tokens, n, TRUE, FALSE, logits);
}

/* ---- the oracle: full recomputation ----------------------------------- */

static void forward_full (const ArTransformer *t, const gint32 *tokens,
    guint n, float *logits, gboolean all);

void
ar_transformer_forward_full (const ArTransformer *t, const gint32 *tokens,
    guint n, float *logits)
{
  forward_full (t, tokens, n, logits, FALSE);
}

void
ar_transformer_forward_full_all (const ArTransformer *t, const gint32 *tokens,
    guint n, float *logits)
{
  forward_full (t, tokens, n, logits, TRUE);
}

/* The oracles' common body: the logits of the last position, or with @all
 * of every position, logits (n, V). */
static void
forward_full (const ArTransformer *t, const gint32 *tokens, guint n,
    float *logits, gboolean all)
{
  const ArTransformerConfig *c = &t->config;
  gsize D = c->n_embd, F = c->n_ff, KV = t->kv_dim;
  gboolean llama = c->arch == AR_TRANSFORMER_LLAMA;

  g_return_if_fail (n >= 1 && n <= t->n_cache);

  /* every activation of every position: (n, width) */
  g_autofree float *X = g_new (float, n *D);
  g_autofree float *XN = g_new (float, n *D);
  g_autofree float *Q = g_new (float, n *D);
  g_autofree float *K = g_new (float, n *KV);
  g_autofree float *V = g_new (float, n *KV);
  g_autofree float *A = g_new (float, n *D);
  g_autofree float *tmp = g_new (float, MAX (D, n));
  g_autofree float *hb = g_new (float, F);
  g_autofree float *hb2 = g_new (float, F);
  g_autofree float *cos_a = g_new (float, c->n_rot / 2 + 1);
  g_autofree float *sin_a = g_new (float, c->n_rot / 2 + 1);
  g_autofree ArBlockQ8_0 *xq =
      g_new (ArBlockQ8_0, t->max_in / AR_Q8_0_BLOCK + 1);

  for (guint p = 0; p < n; p++)
    embed (t, X + p * D, tokens[p], p, tmp);

  for (guint l = 0; l < c->n_layers; l++) {
    const Layer *w = &t->layers[l];

    /* q, k, v of every position */
    for (guint p = 0; p < n; p++) {
      float *xn = XN + p * D;
      norm (t, xn, X + p * D, w->attn_norm, w->attn_norm_b);
      if (qkv_quantised (w))
        ar_quantize_q8_0 (xq, xn, D);
      linear (NULL, Q + p * D, &w->wq, xn, xq, w->bq);
      linear (NULL, K + p * KV, &w->wk, xn, xq, w->bk);
      linear (NULL, V + p * KV, &w->wv, xn, xq, w->bv);
      if (llama) {
        rope_angles (t, p, cos_a, sin_a);
        rope_apply (t, Q + p * D, c->n_head, cos_a, sin_a);
        rope_apply (t, K + p * KV, c->n_head_kv, cos_a, sin_a);
      }
    }
    /* every position attends over all n keys, later ones masked (unless
     * the model is bidirectional) */
    for (guint p = 0; p < n; p++)
      attention (t, A + p * D, Q + p * D, K, V, n,
          c->bidirectional ? n : p + 1, tmp);
    /* residual, feed-forward, residual */
    for (guint p = 0; p < n; p++) {
      float *x = X + p * D, *xn = XN + p * D;
      if (is_quantised (&w->wo))
        ar_quantize_q8_0 (xq, A + p * D, D);
      linear (NULL, xn, &w->wo, A + p * D, xq, w->bo);
      for (guint i = 0; i < D; i++)
        x[i] += xn[i];
      norm (t, xn, x, w->ffn_norm, w->ffn_norm_b);
      feed_forward (t, NULL, w, A + p * D, xn, hb, hb2, xq);
      for (guint i = 0; i < D; i++)
        x[i] += A[p * D + i];
    }
  }
  if (all)
    for (guint p = 0; p < n; p++)
      classify (t, NULL, logits + (gsize) p * c->n_vocab, X + (gsize) p * D,
          xq);
  else
    classify (t, NULL, logits, X + (gsize) (n - 1) * D, xq);
}

/* ---- the text family entries ------------------------------------------ */

static gpointer
family_load (const ArGguf *gguf, GError **error)
{
  return ar_transformer_new_from_gguf (gguf, error);
}

static void
family_free (gpointer model)
{
  ar_transformer_free (model);
}

static gpointer
family_state_new (gconstpointer model)
{
  return ar_transformer_state_new (model);
}

static void
family_state_free (gpointer state)
{
  ar_transformer_state_free (state);
}

static void
family_state_reset (gconstpointer model, gpointer state)
{
  ar_transformer_state_reset (state);
}

static const float *
family_forward (gconstpointer model, gpointer state, guint token)
{
  return ar_transformer_forward (model, state, token);
}

static const float *
family_forward_prompt (gconstpointer model, gpointer state,
    const gint32 *tokens, guint n)
{
  return ar_transformer_forward_prompt (model, state, tokens, n);
}

static void
family_state_copy (gconstpointer model, gpointer dest, gconstpointer src)
{
  ar_transformer_state_copy (dest, src);
}

static void
family_state_set_threadpool (gconstpointer model, gpointer state,
    ArThreadPool *pool)
{
  ar_transformer_state_set_threadpool (state, pool);
}

static guint
family_forward_all (gconstpointer model, gpointer state, const gint32 *tokens,
    guint n, float *logits)
{
  return ar_transformer_forward_all (model, state, tokens, n, logits);
}

static void
family_state_rewind (gconstpointer model, gpointer state, guint n)
{
  ar_transformer_state_rewind (state, n);
}

static guint
family_n_vocab (gconstpointer model)
{
  return ((const ArTransformer *) model)->config.n_vocab;
}

static guint
family_context_length (gconstpointer model)
{
  return ((const ArTransformer *) model)->n_cache;
}

const ArTextFamily ar_transformer_llama_family = {
  .architecture = "llama",
  .load = family_load,
  .free = family_free,
  .state_new = family_state_new,
  .state_free = family_state_free,
  .state_reset = family_state_reset,
  .forward = family_forward,
  .n_vocab = family_n_vocab,
  .context_length = family_context_length,
  .forward_prompt = family_forward_prompt,
  .state_copy = family_state_copy,
  .state_set_threadpool = family_state_set_threadpool,
  .forward_all = family_forward_all,
  .state_rewind = family_state_rewind,
};

const ArTextFamily ar_transformer_gpt_family = {
  .architecture = "gpt",
  .load = family_load,
  .free = family_free,
  .state_new = family_state_new,
  .state_free = family_state_free,
  .state_reset = family_state_reset,
  .forward = family_forward,
  .n_vocab = family_n_vocab,
  .context_length = family_context_length,
  .forward_prompt = family_forward_prompt,
  .state_copy = family_state_copy,
  .state_set_threadpool = family_state_set_threadpool,
  .forward_all = family_forward_all,
  .state_rewind = family_state_rewind,
};
