/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-rnn.c — the RNN text family: loading, single-token inference and the
 * training graph (embedding → recurrent layers → linear → softmax
 * cross-entropy) built from the layers of models/nn. */
#include "ar-rnn.h"
#include "core/ar-kernels.h"
#include "core/ar-threadpool.h"

#include <math.h>
#include <string.h>

/* ---- configuration ---------------------------------------------------- */

gboolean
ar_rnn_config_check (const ArRnnConfig *c, GError **error)
{
  if (c->n_layers < 1 || c->n_layers > AR_RNN_MAX_LAYERS) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "%u recurrent layers; expected 1 to %u", c->n_layers,
        AR_RNN_MAX_LAYERS);
    return FALSE;
  }
  if (c->n_embd < 1 || c->n_embd > AR_RNN_MAX_DIM || c->n_hidden < 1 ||
      c->n_hidden > AR_RNN_MAX_DIM || c->n_vocab < 1 || c->n_vocab > 1 << 20) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "sizes out of range: embedding %u, hidden %u (1 to %u), vocabulary %u",
        c->n_embd, c->n_hidden, AR_RNN_MAX_DIM, c->n_vocab);
    return FALSE;
  }
  return TRUE;
}

gboolean
ar_rnn_config_from_gguf (ArRnnConfig *c, const ArGguf *gguf, GError **error)
{
  const char *name = ar_gguf_get_name (gguf);
  const char *cell;
  if (!ar_gguf_get_string (gguf, "rnn.cell", &cell, error) ||
      !ar_gguf_get_u32 (gguf, "rnn.block_count", &c->n_layers, error) ||
      !ar_gguf_get_u32 (gguf, "rnn.embedding_length", &c->n_embd, error) ||
      !ar_gguf_get_u32 (gguf, "rnn.hidden_size", &c->n_hidden, error))
    return FALSE;
  if (!ar_cell_from_name (cell, &c->cell)) {
    g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
        "%s: rnn.cell is \"%s\"; expected \"rnn\", \"gru\" or \"lstm\"", name,
        cell);
    return FALSE;
  }
  const ArGgufTensor *embd = ar_gguf_find_tensor (gguf, "token_embd.weight");
  if (embd == NULL) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: tensor 'token_embd.weight' is missing", name);
    return FALSE;
  }
  c->n_vocab =
      embd->n_dims == 2 && embd->ne[1] <= G_MAXUINT ? (guint) embd->ne[1] : 0;
  GError *local = NULL;
  if (!ar_rnn_config_check (c, &local)) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: %s", name,
        local->message);
    g_error_free (local);
    return FALSE;
  }
  return TRUE;
}

/* ---- inference -------------------------------------------------------- */

struct _ArRnn
{
  ArRnnConfig config;
  const float *embd;     /* (V, E) */
  ArCellWeights *layers; /* (n_layers) */
  const float *out_w;    /* (V, H) */
  const float *out_b;    /* (V) */
  GPtrArray *owned;      /* F32 copies of F16/Q8_0/Q4_0/unaligned tensors */
};

struct _ArRnnState
{
  const ArRnn *rnn;
  ArThreadPool *pool; /* splits large products; NULL: none */
  float *h;           /* (n_layers, H) */
  float *c;           /* (n_layers, H), LSTM only */
  float *xproj;       /* (G * H) */
  float *scratch;     /* (G * H) */
  float *logits;      /* (V) */
};

/* Binds a tensor by name with its shape checked; F32 data aligned for SIMD is
 * used in place, anything else is expanded to an owned F32 copy. */
static const float *
bind_tensor (const ArGguf *gguf, GPtrArray *owned, const char *tname,
    guint n_dims, guint64 ne0, guint64 ne1, GError **error)
{
  const guint64 ne[2] = { ne0, ne1 };
  const ArGgufTensor *t =
      ar_gguf_require_tensor (gguf, tname, n_dims, ne, error);
  if (t == NULL)
    return NULL;
  if (t->type == AR_TENSOR_F32 && ((guintptr) t->data % 32) == 0)
    return t->data;
  float *copy = g_new (float, t->n_elements);
  ar_gguf_tensor_to_f32 (t, copy);
  g_ptr_array_add (owned, copy);
  return copy;
}

void
ar_rnn_free (ArRnn *rnn)
{
  if (rnn == NULL)
    return;
  g_free (rnn->layers);
  g_ptr_array_unref (rnn->owned);
  g_free (rnn);
}

ArRnn *
ar_rnn_new_from_gguf (const ArGguf *gguf, GError **error)
{
  g_autoptr (ArRnn) rnn = g_new0 (ArRnn, 1);
  rnn->owned = g_ptr_array_new_with_free_func (g_free);
  if (!ar_rnn_config_from_gguf (&rnn->config, gguf, error))
    return NULL;
  const ArRnnConfig *c = &rnn->config;
  guint G = ar_cell_n_gates (c->cell), H = c->n_hidden;

  if (!(rnn->embd = bind_tensor (gguf, rnn->owned, "token_embd.weight", 2,
            c->n_embd, c->n_vocab, error)))
    return NULL;
  rnn->layers = g_new0 (ArCellWeights, c->n_layers);
  for (guint l = 0; l < c->n_layers; l++) {
    ArCellWeights *w = &rnn->layers[l];
    char name[64];
    w->cell = c->cell;
    w->n_in = l == 0 ? c->n_embd : H;
    w->n_hidden = H;
    g_snprintf (name, sizeof name, "blk.%u.rnn_ih.weight", l);
    if (!(w->w_ih =
                bind_tensor (gguf, rnn->owned, name, 2, w->n_in, G * H, error)))
      return NULL;
    g_snprintf (name, sizeof name, "blk.%u.rnn_hh.weight", l);
    if (!(w->w_hh = bind_tensor (gguf, rnn->owned, name, 2, H, G * H, error)))
      return NULL;
    g_snprintf (name, sizeof name, "blk.%u.rnn_ih.bias", l);
    if (!(w->b_ih = bind_tensor (gguf, rnn->owned, name, 1, G * H, 1, error)))
      return NULL;
    g_snprintf (name, sizeof name, "blk.%u.rnn_hh.bias", l);
    if (!(w->b_hh = bind_tensor (gguf, rnn->owned, name, 1, G * H, 1, error)))
      return NULL;
  }
  if (!(rnn->out_w = bind_tensor (gguf, rnn->owned, "output.weight", 2, H,
            c->n_vocab, error)) ||
      !(rnn->out_b = bind_tensor (gguf, rnn->owned, "output.bias", 1,
            c->n_vocab, 1, error)))
    return NULL;
  return g_steal_pointer (&rnn);
}

const ArRnnConfig *
ar_rnn_get_config (const ArRnn *rnn)
{
  return &rnn->config;
}

ArRnnState *
ar_rnn_state_new (const ArRnn *rnn)
{
  const ArRnnConfig *c = &rnn->config;
  gsize LH = (gsize) c->n_layers * c->n_hidden;
  gsize GH = (gsize) ar_cell_n_gates (c->cell) * c->n_hidden;
  ArRnnState *s = g_new0 (ArRnnState, 1);
  s->rnn = rnn;
  /* one allocation for everything the step touches */
  float *mem = g_new0 (float, 2 * LH + 2 * GH + c->n_vocab);
  s->h = mem;
  s->c = s->h + LH;
  s->xproj = s->c + LH;
  s->scratch = s->xproj + GH;
  s->logits = s->scratch + GH;
  return s;
}

void
ar_rnn_state_free (ArRnnState *s)
{
  if (s == NULL)
    return;
  g_free (s->h);
  g_free (s);
}

void
ar_rnn_state_reset (ArRnnState *s)
{
  const ArRnnConfig *c = &s->rnn->config;
  memset (s->h, 0, sizeof (float) * 2 * c->n_layers * c->n_hidden);
}

void
ar_rnn_state_copy (ArRnnState *dest, const ArRnnState *src)
{
  const ArRnnConfig *c = &src->rnn->config;
  g_return_if_fail (dest->rnn == src->rnn);
  if (dest == src)
    return;
  /* h and c are adjacent: (2, n_layers, H) */
  memcpy (dest->h, src->h, sizeof (float) * 2 * c->n_layers * c->n_hidden);
  memcpy (dest->logits, src->logits, sizeof (float) * c->n_vocab);
}

void
ar_rnn_state_set_threadpool (ArRnnState *s, ArThreadPool *pool)
{
  s->pool = pool;
}

/* Each layer's two products and the classifier go through
 * ar_threadpool_matvec: split by rows over the state's pool when large,
 * bit for bit the same result either way; ar_cell_step_gates then applies
 * the cell exactly as ar_cell_step would. */
const float *
ar_rnn_step (const ArRnn *rnn, ArRnnState *s, guint token)
{
  const ArRnnConfig *c = &rnn->config;
  int GH = (int) (ar_cell_n_gates (c->cell) * c->n_hidden);
  g_return_val_if_fail (token < c->n_vocab, s->logits);
  const float *x = rnn->embd + (gsize) token * c->n_embd;
  for (guint l = 0; l < c->n_layers; l++) {
    const ArCellWeights *w = &rnn->layers[l];
    float *h = s->h + (gsize) l * c->n_hidden;
    ar_threadpool_matvec (s->pool, s->xproj, w->w_ih, x, w->b_ih, GH, w->n_in);
    ar_threadpool_matvec (s->pool, s->scratch, w->w_hh, h, w->b_hh, GH,
        c->n_hidden);
    ar_cell_step_gates (w, s->xproj, s->scratch, h,
        s->c + (gsize) l * c->n_hidden);
    x = h;
  }
  ar_threadpool_matvec (s->pool, s->logits, rnn->out_w, x, rnn->out_b,
      c->n_vocab, c->n_hidden);
  return s->logits;
}

/* ---- the text family entry -------------------------------------------- */

static gpointer
family_load (const ArGguf *gguf, GError **error)
{
  return ar_rnn_new_from_gguf (gguf, error);
}

static void
family_free (gpointer model)
{
  ar_rnn_free (model);
}

static gpointer
family_state_new (gconstpointer model)
{
  return ar_rnn_state_new (model);
}

static void
family_state_free (gpointer state)
{
  ar_rnn_state_free (state);
}

static void
family_state_reset (gconstpointer model, gpointer state)
{
  ar_rnn_state_reset (state);
}

static const float *
family_forward (gconstpointer model, gpointer state, guint token)
{
  return ar_rnn_step (model, state, token);
}

static void
family_state_copy (gconstpointer model, gpointer dest, gconstpointer src)
{
  ar_rnn_state_copy (dest, src);
}

static void
family_state_set_threadpool (gconstpointer model, gpointer state,
    ArThreadPool *pool)
{
  ar_rnn_state_set_threadpool (state, pool);
}

static guint
family_context_length (gconstpointer model)
{
  return 0;
}

static guint
family_n_vocab (gconstpointer model)
{
  return ((const ArRnn *) model)->config.n_vocab;
}

const ArTextFamily ar_rnn_text_family = {
  .architecture = "rnn",
  .load = family_load,
  .free = family_free,
  .state_new = family_state_new,
  .state_free = family_state_free,
  .state_reset = family_state_reset,
  .forward = family_forward,
  .context_length = family_context_length,
  .n_vocab = family_n_vocab,
  .state_copy = family_state_copy,
  .state_set_threadpool = family_state_set_threadpool,
};
