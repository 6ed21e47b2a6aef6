/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-transformer-train.c — the Transformer text family's training graph
 * (token embedding → L pre-norm blocks of attention and feed-forward → final
 * norm → classifier → softmax cross-entropy, forward and backward over (T, B)
 * batches) and its training task over a text corpus.
 *
 * Organisation: the parameters live once, in slots (global ones, then
 * B_COUNT per block).  A batch is split into tasks of consecutive streams
 * (see ar-transformer-train.h), handed out to the threads of a pool; a task
 * runs its streams in micro-batches in the workspace (activations allocated
 * once for one micro-batch of max_T positions) of the thread that took it,
 * and sees the parameters through its own array of slots: task 0 through
 * the parameters themselves, the others through copies of the ArParam
 * structs that share the weights but point their gradient into the task's
 * own block.  The layer functions of ar-nn.h therefore run unchanged in
 * every task, and the gradients are added up in task order once all tasks
 * are done.
 *
 * Where the time goes: the projections (q, k, v, attn_output, the
 * feed-forward matrices, the classifier) are single sgemm calls over the
 * micro-batch's T · nb rows, forward and backward — about 85 % of the arithmetic
 * at the default shape; attention is ar_attention_*; the rest is the
 * element-wise layers of ar-pointwise.c. */
#include "ar-transformer-train.h"
#include "core/ar-threadpool.h"
#include "core/ar-workspaces.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* new_floats (n), spelled as a function so that clang-format reads the size
 * as an expression */
static float *
new_floats (gsize n)
{
  return g_new (float, n);
}

/* Global parameter slots, then B_COUNT slots per block. */
enum
{
  P_TOK_EMBD,   /* (V, D) */
  P_POS_EMBD,   /* (C, D), gpt */
  P_OUT_NORM,   /* (D) */
  P_OUT_NORM_B, /* (D), gpt */
  P_OUTPUT,     /* (V, D); the P_TOK_EMBD parameter when tied */
  P_GLOBAL
};

/* A block's slots.  q, k, v (and their biases) are views of one fused
 * matrix with rows q | k | v, and llama's gate and up of one with rows
 * gate | up (see new_fused ()), so each fused projection is one sgemm. */
enum
{
  B_ATTN_NORM,   /* (D) */
  B_ATTN_NORM_B, /* (D), gpt */
  B_Q,           /* (D, D), first rows of the fused (D + 2 KV, D) */
  B_K,           /* (KV, D) */
  B_V,           /* (KV, D) */
  B_O,           /* (D, D) */
  B_Q_B,         /* (D), gpt, first part of the fused (D + 2 KV) */
  B_K_B,         /* (KV), gpt */
  B_V_B,         /* (KV), gpt */
  B_O_B,         /* (D), gpt */
  B_FFN_NORM,    /* (D) */
  B_FFN_NORM_B,  /* (D), gpt */
  B_GATE,        /* (F, D), llama, first rows of the fused (2 F, D) */
  B_UP,          /* (F, D) */
  B_DOWN,        /* (D, F) */
  B_UP_B,        /* (F), gpt */
  B_DOWN_B,      /* (D), gpt */
  B_COUNT
};

static inline int
blk (int l, int j)
{
  return P_GLOBAL + l * B_COUNT + j;
}

/* A task: a fixed range of the streams of a batch, which whichever thread
 * takes it runs in micro-batches, with the parameters seen through its own
 * slots: task 0 through the parameters themselves, the others through
 * copies of the ArParam structs that share the values but point the
 * gradient into the task's own block. */
typedef struct
{
  int b0, n;       /* streams [b0, b0 + n) of the current call */
  double loss_sum; /* Σ of its micro-batches' mean losses × their scored
                    * targets */
  ArParam **p;     /* (n_slots) the parameters as this task sees them */
  ArParam *views;  /* (n_params) tasks > 0: copies with their own gradient */
  float *grad;     /* the views' gradients, one block */
} Task;

/* The activations of one micro-batch of nb streams, one workspace per
 * thread (ArWorkspaces: a running task holds one).  Per-layer buffers are (L, N_max,
 * width) with N_max = max_T nb_max; a micro-batch uses the first T · nb
 * rows of each.  QKV is the width of a fused q|k|v row, D + 2 KV. */
typedef struct
{
  int nb;          /* streams of the current micro-batch */
  int L;           /* layers: attn holds L attention workspaces */
  gint32 *in, *tg; /* (T, nb) token ids; a target < 0 is not scored */
  float loss;      /* mean over the micro-batch's scored targets */
  int n_scored;    /* its targets >= 0 */

  /* forward, kept for backward */
  float *x;             /* (L + 1, N, D) the residual stream into each block */
  float *xn1;           /* (L, N, D) attn_norm (x) */
  float *qkv;           /* (L, N, QKV) queries, keys (rotated: llama), values */
  float *att;           /* (L, N, D) attention output */
  float *xm;            /* (L, N, D) the residual stream after attention */
  float *xn2;           /* (L, N, D) ffn_norm (xm) */
  float *ffa;           /* (L, N, 2F) gate | up (llama); (L, N, F) up (gpt) */
  float *ffh;           /* (L, N, F) silu (gate) ⊙ up, or gelu (up) */
  float *mean1, *rstd1; /* (L, N) attn_norm statistics (mean: gpt) */
  float *mean2, *rstd2; /* (L, N) ffn_norm statistics */
  float *meanf, *rstdf; /* (N) output_norm statistics */
  float *xf;            /* (N, D) output_norm (x_L) */
  float *logits;        /* (N, V), then their gradient */
  ArAttention **attn;   /* (L) */

  /* backward scratch */
  float *dx, *dxm, *dxn, *datt; /* (N, D) */
  float *dqkv;                  /* (N, QKV) */
  float *dh;                    /* (N, F) */
  float *dga;                   /* (N, 2F) d gate | d up, llama */
  int first;    /* the micro-batch's first stream in the batch */
  guint8 *keep; /* (1 + 2L, N, D) dropout masks, when dropping */
} Workspace;

struct _ArTransformerTrain
{
  ArTransformerConfig config;
  int max_T, max_B;
  int nb_max; /* streams per micro-batch (see run_task ()) */
  int D, F, KV, QKV, V, L, H, Hkv, hs;
  int n_threads;
  int n_slots;
  ArParam **p;            /* (n_slots) NULL where the architecture has none */
  GPtrArray *params;      /* the distinct parameters, in slot order */
  int *slot_param;        /* (n_slots) index into params, -1 for none */
  GPtrArray *owned;       /* what ar_param_new () made: plain and fused */
  GPtrArray *fused_views; /* parameters that are parts of a fused one */
  float *rope_cos, *rope_sin; /* (max_T, n_rot / 2), llama */
  ArThreadPool *pool;         /* n_threads > 1 */
  Task *tasks;                /* (n_tasks_max) */
  int n_tasks_max;
  ArWorkspaces *ws;            /* of Workspace, one per thread running tasks */

  float drop_p;      /* dropout probability; 0 = none */
  guint64 drop_seed; /* of the masks */

  /* the current call, for the tasks */
  gboolean dropping; /* drop_p > 0 and not an evaluation */
  int n_tasks;
  const gint32 *inputs, *targets;
  float *logits_out; /* (T, B, V) or NULL */
  int T, B;
  gboolean backward;
  gint64 n_scored; /* targets >= 0 of the whole batch */
};

/* ---- checks and construction -------------------------------------------- */

/* Floats of activations one stream of T positions needs (forward and
 * backward), for the size check. */
static double
floats_per_stream (const ArTransformerConfig *c, int T)
{
  double D = c->n_embd, F = c->n_ff, hs = D / c->n_head;
  double KV = c->n_head_kv * hs;

  return (double) T *
      (c->n_layers * (6 * D + 2 * KV + 3 * F + 4) + D * 6 + 2 * KV + 3 * F +
          c->n_vocab + D);
}

gboolean
ar_transformer_train_check (const ArTransformerConfig *config, int T, int B,
    GError **error)
{
  g_return_val_if_fail (config != NULL, FALSE);

  if (!ar_transformer_config_check (config, error))
    return FALSE;
  if (T < 1 || (guint) T > config->n_ctx) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "training windows of %d tokens; expected 1 to the context length %u", T,
        config->n_ctx);
    return FALSE;
  }
  if (B < 1 || B > 1 << 20) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "batch of %d windows; expected 1 to %d", B, 1 << 20);
    return FALSE;
  }
  /* a micro-batch per thread, at most AR_TRANSFORMER_MAX_THREADS of them */
  int streams = MIN (B, MAX (1, AR_TRANSFORMER_MICROBATCH_ROWS / T));
  double bytes = floats_per_stream (config, T) * streams *
      AR_TRANSFORMER_MAX_THREADS * sizeof (float);
  if (bytes > 16.0 * (1 << 30)) {
    g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
        "activations for windows of %d tokens could take %.1f GiB; at most 16 "
        "GiB",
        T, bytes / (1 << 30));
    return FALSE;
  }
  return TRUE;
}

static void
add_param (ArTransformerTrain *t, int slot, ArParam *p)
{
  t->p[slot] = p;
  t->slot_param[slot] = (int) t->params->len;
  g_ptr_array_add (t->params, p);
}

static void
new_param (ArTransformerTrain *t, int slot, const char *name, guint64 ne0,
    guint64 ne1)
{
  const guint64 ne[2] = { ne0, ne1 };
  ArParam *p = ar_param_new (name, ne1 ? 2 : 1, ne);

  g_ptr_array_add (t->owned, p);
  add_param (t, slot, p);
}

static void
fused_view_free (gpointer data)
{
  ArParam *p = data;

  g_free (p->name);
  g_free (p);
}

/* @n parameters (slots[i], names[i], rows[i] rows of @cols, or vectors of
 * rows[i] when cols is 0) stored as consecutive parts of one parameter:
 * each is a view into the values, gradient and moments of the fused one,
 * which the trainer never sees.  Views are added to the list in order, so
 * that in any copy of the list whose gradients are laid out in list order
 * (the tasks') the parts stay contiguous too. */
static void
new_fused (ArTransformerTrain *t, int n, const int *slots,
    const char *const *names, const guint64 *rows, guint64 cols)
{
  guint64 total = 0, ne[2];
  gsize at = 0;

  for (int i = 0; i < n; i++)
    total += rows[i];
  ne[0] = cols ? cols : total;
  ne[1] = total;
  ArParam *f = ar_param_new ("fused", cols ? 2 : 1, ne);
  g_ptr_array_add (t->owned, f);

  for (int i = 0; i < n; i++) {
    ArParam *v = g_new0 (ArParam, 1);

    v->name = g_strdup (names[i]);
    v->n_dims = f->n_dims;
    v->ne[0] = cols ? cols : rows[i];
    v->ne[1] = cols ? rows[i] : 1;
    v->ne[2] = v->ne[3] = 1;
    v->n = v->ne[0] * v->ne[1];
    v->decay = f->decay;
    v->w = f->w + at;
    v->g = f->g + at;
    v->m = f->m + at;
    v->v = f->v + at;
    at += v->n;
    g_ptr_array_add (t->fused_views, v);
    add_param (t, slots[i], v);
  }
}

static void
new_block_params (ArTransformerTrain *t, int l)
{
  gboolean gpt = t->config.arch == AR_TRANSFORMER_GPT;
  guint64 D = t->D, F = t->F, KV = t->KV;
  const guint64 qkv_rows[3] = { D, KV, KV }, ff_rows[2] = { F, F };
  const int qkv[3] = { blk (l, B_Q), blk (l, B_K), blk (l, B_V) };
  const int qkv_b[3] = { blk (l, B_Q_B), blk (l, B_K_B), blk (l, B_V_B) };
  const int gate_up[2] = { blk (l, B_GATE), blk (l, B_UP) };
  char n[8][64];

#define NAME(i, what) (g_snprintf (n[i], sizeof n[i], "blk.%d." what, l), n[i])
  new_param (t, blk (l, B_ATTN_NORM), NAME (0, "attn_norm.weight"), D, 0);
  if (gpt)
    new_param (t, blk (l, B_ATTN_NORM_B), NAME (0, "attn_norm.bias"), D, 0);
  {
    const char *const names[3] = { NAME (0, "attn_q.weight"),
      NAME (1, "attn_k.weight"), NAME (2, "attn_v.weight") };
    new_fused (t, 3, qkv, names, qkv_rows, D);
  }
  new_param (t, blk (l, B_O), NAME (0, "attn_output.weight"), D, D);
  if (gpt) {
    const char *const names[3] = { NAME (0, "attn_q.bias"),
      NAME (1, "attn_k.bias"), NAME (2, "attn_v.bias") };
    new_fused (t, 3, qkv_b, names, qkv_rows, 0);
    new_param (t, blk (l, B_O_B), NAME (0, "attn_output.bias"), D, 0);
  }
  new_param (t, blk (l, B_FFN_NORM), NAME (0, "ffn_norm.weight"), D, 0);
  if (gpt) {
    new_param (t, blk (l, B_FFN_NORM_B), NAME (0, "ffn_norm.bias"), D, 0);
    new_param (t, blk (l, B_UP), NAME (0, "ffn_up.weight"), D, F);
  } else {
    const char *const names[2] = { NAME (0, "ffn_gate.weight"),
      NAME (1, "ffn_up.weight") };
    new_fused (t, 2, gate_up, names, ff_rows, D);
  }
  new_param (t, blk (l, B_DOWN), NAME (0, "ffn_down.weight"), F, D);
  if (gpt) {
    new_param (t, blk (l, B_UP_B), NAME (0, "ffn_up.bias"), F, 0);
    new_param (t, blk (l, B_DOWN_B), NAME (0, "ffn_down.bias"), D, 0);
  }
#undef NAME
}

static void
task_init (ArTransformerTrain *t, Task *task, int index)
{
  task->p = g_new0 (ArParam *, t->n_slots);
  if (index == 0) {
    memcpy (task->p, t->p, t->n_slots * sizeof (ArParam *));
    return;
  }
  task->views = ar_params_new_grad_views (t->params, &task->grad);
  for (int s = 0; s < t->n_slots; s++)
    task->p[s] = t->slot_param[s] >= 0 ? &task->views[t->slot_param[s]] : NULL;
}

static void
task_clear (Task *task)
{
  g_free (task->p);
  g_free (task->views);
  g_free (task->grad);
}

static gpointer
ws_new (gpointer data)
{
  ArTransformerTrain *t = data;
  Workspace *sh = g_new0 (Workspace, 1);
  gsize N = (gsize) t->max_T * t->nb_max, L = t->L;
  gsize D = t->D, F = t->F, QKV = t->QKV;
  gboolean llama = t->config.arch == AR_TRANSFORMER_LLAMA;

  sh->in = g_new (gint32, N);
  sh->tg = g_new (gint32, N);
  sh->x = new_floats ((L + 1) * N * D);
  sh->xn1 = new_floats (L * N * D);
  sh->qkv = new_floats (L * N * QKV);
  sh->att = new_floats (L * N * D);
  sh->xm = new_floats (L * N * D);
  sh->xn2 = new_floats (L * N * D);
  sh->ffa = new_floats (L * N * F * (llama ? 2 : 1));
  sh->ffh = new_floats (L * N * F);
  sh->mean1 = new_floats (L * N);
  sh->rstd1 = new_floats (L * N);
  sh->mean2 = new_floats (L * N);
  sh->rstd2 = new_floats (L * N);
  sh->meanf = new_floats (N);
  sh->rstdf = new_floats (N);
  sh->xf = new_floats (N * D);
  sh->logits = new_floats (N * t->V);
  sh->L = (int) L;
  sh->attn = g_new0 (ArAttention *, L);
  for (gsize l = 0; l < L; l++) {
    sh->attn[l] = ar_attention_new (t->H, t->Hkv, t->hs, t->max_T, t->nb_max);
    ar_attention_set_bidirectional (sh->attn[l], t->config.bidirectional);
  }
  sh->dx = new_floats (N * D);
  sh->dxm = new_floats (N * D);
  sh->dxn = new_floats (N * D);
  sh->datt = new_floats (N * D);
  sh->dqkv = new_floats (N * QKV);
  sh->dh = new_floats (N * F);
  if (llama)
    sh->dga = new_floats (N * 2 * F);
  sh->keep = g_new (guint8, (1 + 2 * L) * N * D);
  return sh;
}

static void
ws_free (gpointer data)
{
  Workspace *sh = data;

  g_free (sh->in);
  g_free (sh->tg);
  g_free (sh->x);
  g_free (sh->xn1);
  g_free (sh->qkv);
  g_free (sh->att);
  g_free (sh->xm);
  g_free (sh->xn2);
  g_free (sh->ffa);
  g_free (sh->ffh);
  g_free (sh->mean1);
  g_free (sh->rstd1);
  g_free (sh->mean2);
  g_free (sh->rstd2);
  g_free (sh->meanf);
  g_free (sh->rstdf);
  g_free (sh->xf);
  g_free (sh->logits);
  for (int l = 0; l < sh->L; l++)
    ar_attention_free (sh->attn[l]);
  g_free (sh->attn);
  g_free (sh->dx);
  g_free (sh->dxm);
  g_free (sh->dxn);
  g_free (sh->datt);
  g_free (sh->dqkv);
  g_free (sh->dh);
  g_free (sh->dga);
  g_free (sh->keep);
  g_free (sh);
}

ArTransformerTrain *
ar_transformer_train_new (const ArTransformerConfig *config, int max_T,
    int max_B, int n_threads)
{
  g_return_val_if_fail (ar_transformer_train_check (config, max_T, max_B, NULL),
      NULL);
  g_return_val_if_fail (n_threads >= 0 &&
          n_threads <= AR_TRANSFORMER_MAX_THREADS,
      NULL);
  const ArTransformerConfig *c = config;
  ArTransformerTrain *t = g_new0 (ArTransformerTrain, 1);
  gboolean gpt = c->arch == AR_TRANSFORMER_GPT;

  t->config = *config;
  t->max_T = max_T;
  t->max_B = max_B;
  t->D = c->n_embd;
  t->F = c->n_ff;
  t->H = c->n_head;
  t->Hkv = c->n_head_kv;
  t->hs = ar_transformer_config_head_size (c);
  t->KV = t->Hkv * t->hs;
  t->QKV = t->D + 2 * t->KV;
  t->V = c->n_vocab;
  t->L = c->n_layers;
  t->nb_max = MIN (max_B, MAX (1, AR_TRANSFORMER_MICROBATCH_ROWS / max_T));
  t->n_tasks_max =
      MIN (AR_TRANSFORMER_MAX_TASKS, (max_B + t->nb_max - 1) / t->nb_max);
  if (n_threads == 0)
    n_threads = MIN ((int) g_get_num_processors (), AR_TRANSFORMER_MAX_THREADS);
  /* no more threads than tasks could use */
  t->n_threads = MIN (n_threads, t->n_tasks_max);

  t->n_slots = P_GLOBAL + t->L * B_COUNT;
  t->p = g_new0 (ArParam *, t->n_slots);
  t->slot_param = g_new (int, t->n_slots);
  for (int s = 0; s < t->n_slots; s++)
    t->slot_param[s] = -1;
  t->params = g_ptr_array_new ();
  t->owned = g_ptr_array_new_with_free_func ((GDestroyNotify) ar_param_free);
  t->fused_views = g_ptr_array_new_with_free_func (fused_view_free);
  new_param (t, P_TOK_EMBD, "token_embd.weight", t->D, t->V);
  if (gpt)
    new_param (t, P_POS_EMBD, "position_embd.weight", t->D, c->n_ctx);
  for (int l = 0; l < t->L; l++)
    new_block_params (t, l);
  new_param (t, P_OUT_NORM, "output_norm.weight", t->D, 0);
  if (gpt)
    new_param (t, P_OUT_NORM_B, "output_norm.bias", t->D, 0);
  if (c->tied_output) {
    t->p[P_OUTPUT] = t->p[P_TOK_EMBD];
    t->slot_param[P_OUTPUT] = t->slot_param[P_TOK_EMBD];
  } else {
    new_param (t, P_OUTPUT, "output.weight", t->D, t->V);
  }

  if (!gpt) {
    int half = c->n_rot / 2;

    t->rope_cos = new_floats ((gsize) max_T * half);
    t->rope_sin = new_floats ((gsize) max_T * half);
    ar_nn_rope_table (t->rope_cos, t->rope_sin, max_T, c->n_rot,
        c->rope_freq_base);
  }

  t->tasks = g_new0 (Task, t->n_tasks_max);
  for (int k = 0; k < t->n_tasks_max; k++)
    task_init (t, &t->tasks[k], k);
  t->ws = ar_workspaces_new (ws_new, ws_free, t);
  if (t->n_threads > 1)
    t->pool = ar_threadpool_new (t->n_threads);
  return t;
}

void
ar_transformer_train_free (ArTransformerTrain *t)
{
  if (t == NULL)
    return;
  ar_threadpool_free (t->pool);
  for (int k = 0; k < t->n_tasks_max; k++)
    task_clear (&t->tasks[k]);
  g_free (t->tasks);
  ar_workspaces_free (t->ws);
  g_ptr_array_unref (t->params);
  g_ptr_array_unref (t->fused_views);
  g_ptr_array_unref (t->owned);
  g_free (t->p);
  g_free (t->slot_param);
  g_free (t->rope_cos);
  g_free (t->rope_sin);
  g_free (t);
}

static void
fill (ArParam *p, float value)
{
  if (p == NULL)
    return;
  for (gsize i = 0; i < p->n; i++)
    p->w[i] = value;
}

void
ar_transformer_train_init (ArTransformerTrain *t, ArRng *rng)
{
  const float std = 0.02f;
  float std_res = std / sqrtf (2.0f * t->L);

  g_return_if_fail (t != NULL && rng != NULL);

  /* in parameter order, so that the draws are a function of the seed and
   * the shape alone */
  for (guint i = 0; i < t->params->len; i++) {
    ArParam *p = g_ptr_array_index (t->params, i);

    if (p->n_dims == 1) {
      /* norm weights 1; norm and linear biases 0 */
      fill (p, g_str_has_suffix (p->name, "norm.weight") ? 1.0f : 0.0f);
    } else if (g_str_has_suffix (p->name, "attn_output.weight") ||
        g_str_has_suffix (p->name, "ffn_down.weight")) {
      ar_param_init_normal (p, rng, std_res);
    } else {
      ar_param_init_normal (p, rng, std);
    }
  }
}

GPtrArray *
ar_transformer_train_get_params (ArTransformerTrain *t)
{
  g_return_val_if_fail (t != NULL, NULL);
  return t->params;
}

const ArTransformerConfig *
ar_transformer_train_get_config (const ArTransformerTrain *t)
{
  g_return_val_if_fail (t != NULL, NULL);
  return &t->config;
}

int
ar_transformer_train_get_n_threads (const ArTransformerTrain *t)
{
  g_return_val_if_fail (t != NULL, 0);
  return t->n_threads;
}

void
ar_transformer_train_set_dropout (ArTransformerTrain *t, float p, guint64 seed)
{
  g_return_if_fail (t != NULL && p >= 0.0f && p < 1.0f);

  t->drop_p = p;
  t->drop_seed = seed;
}

/* ---- forward and backward of one micro-batch ---------------------------- */

static void
norm_forward (const ArTransformerTrain *t, ArParam *w, ArParam *b,
    const float *X, float *Y, float *mean, float *rstd, int N)
{
  if (t->config.arch == AR_TRANSFORMER_GPT)
    ar_nn_layernorm_forward (w, b, X, Y, mean, rstd, N, t->config.norm_eps);
  else
    ar_nn_rmsnorm_forward (w, X, Y, rstd, N, t->config.norm_eps);
}

static void
norm_backward (const ArTransformerTrain *t, ArParam *w, ArParam *b,
    const float *X, const float *mean, const float *rstd, const float *dY,
    float *dX, int N)
{
  if (t->config.arch == AR_TRANSFORMER_GPT)
    ar_nn_layernorm_backward (w, b, X, mean, rstd, dY, dX, N);
  else
    ar_nn_rmsnorm_backward (w, X, rstd, dY, dX, N);
}

/* b->g (out) += column sums of dY (N, out), row by row in order (as
 * ar_nn_linear_backward () does, but with the SIMD add) */
static void
bias_backward (ArParam *b, const float *dY, int N)
{
  if (b == NULL)
    return;
  for (int r = 0; r < N; r++)
    ar_nn_add (b->g, dY + (gsize) r * b->n, b->n);
}

/* The linear layer's products as ar_nn_linear_forward () and
 * ar_nn_linear_backward () compute them, except that outputs are cleared
 * with memset and added into (beta = 1): for beta = 0 OpenBLAS clears them
 * with one scalar store per element, a few per cent of a training step.
 * The numbers are the same. */
static void
linear_forward (const ArParam *W, const ArParam *b, const float *X, float *Y,
    int N)
{
  int n_in = (int) W->ne[0], n_out = (int) W->ne[1];

  if (b != NULL) {
    /* starts from the bias rows: no clearing either */
    ar_nn_linear_forward (W, b, X, Y, N);
    return;
  }
  memset (Y, 0, (gsize) N * n_out * sizeof (float));
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, N, n_out, n_in, 1.0f, X,
      n_in, W->w, n_in, 1.0f, Y, n_out);
}

static void
linear_backward (ArParam *W, ArParam *b, const float *X, const float *dY,
    float *dX, int N)
{
  int n_in = (int) W->ne[0], n_out = (int) W->ne[1];

  /* dW (out, in) += dYᵀ (out, N) · X (N, in) */
  cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, n_out, n_in, N, 1.0f,
      dY, n_out, X, n_in, 1.0f, W->g, n_in);
  bias_backward (b, dY, N);
  /* dX (N, in) = dY (N, out) · W (out, in) */
  memset (dX, 0, (gsize) N * n_in * sizeof (float));
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, N, n_in, n_out, 1.0f,
      dY, n_out, W->w, n_in, 1.0f, dX, n_in);
}

/* The fused parameter whose first part is @first (see new_fused ()): the
 * matrix of @rows rows (or the vector of @rows values) that continues
 * through the parts after it.  NULL for NULL. */
static ArParam *
fused (ArParam *f, const ArParam *first, guint64 rows)
{
  if (first == NULL)
    return NULL;
  *f = *first;
  if (f->n_dims == 2)
    f->ne[1] = rows;
  else
    f->ne[0] = rows;
  f->n = f->ne[0] * f->ne[1];
  return f;
}

/* Y (N, out) = R (N, out) + X (N, in) · Wᵀ (+ b): a projection added to
 * the residual stream.  Y starts as R (+ b), then one sgemm adds into it,
 * which spares OpenBLAS's clearing of Y and a separate pass for the sum. */
static void
residual_linear_forward (const ArParam *W, const ArParam *b, const float *X,
    const float *R, float *Y, int N)
{
  int n_in = (int) W->ne[0], n_out = (int) W->ne[1];

  if (b != NULL) {
    for (int r = 0; r < N; r++) {
      const float *rr = R + (gsize) r * n_out;
      float *y = Y + (gsize) r * n_out;

      for (int i = 0; i < n_out; i++)
        y[i] = rr[i] + b->w[i];
    }
  } else {
    memcpy (Y, R, (gsize) N * n_out * sizeof (float));
  }
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, N, n_out, n_in, 1.0f, X,
      n_in, W->w, n_in, 1.0f, Y, n_out);
}

/* ---- dropout ---------------------------------------------------------------
 * Site 0 is the embedding's output, sites 1 + 2 l and 2 + 2 l block l's
 * attention and feed-forward branches.  Whether element (time t, stream b
 * of the batch, feature i) of a site is kept is a hash of the seed, the
 * site and that position, integers only: the same whichever task,
 * micro-batch or thread computes it.  The micro-batch's masks are kept for
 * its backward pass. */

static inline gboolean
drop_keep (guint64 seed, guint64 site, guint64 row, guint64 col,
    guint64 threshold)
{
  /* splitmix64's finaliser over the position mixed into the seed */
  guint64 x = seed + site * G_GUINT64_CONSTANT (0x9E3779B97F4A7C15) +
      row * G_GUINT64_CONSTANT (0xD1B54A32D192ED03) +
      col * G_GUINT64_CONSTANT (0xC2B2AE3D27D4EB4F);

  x ^= x >> 30;
  x *= G_GUINT64_CONSTANT (0xBF58476D1CE4E5B9);
  x ^= x >> 27;
  x *= G_GUINT64_CONSTANT (0x94D049BB133111EB);
  x ^= x >> 31;
  return (x >> 32) >= threshold;
}

/* Y (T * nb, D) of @site: each element zeroed with probability p, the rest
 * scaled by 1 / (1 - p); the mask is kept in sh->keep. */
static void
dropout_forward (ArTransformerTrain *t, Workspace *sh, int site, float *Y,
    int T)
{
  int nb = sh->nb, D = t->D;
  gsize Nm = (gsize) t->max_T * t->nb_max;
  guint8 *keep = sh->keep + site * Nm * D;
  guint64 threshold = (guint64) ((double) t->drop_p * 4294967296.0);
  float scale = 1.0f / (1.0f - t->drop_p);

  for (int tt = 0; tt < T; tt++)
    for (int j = 0; j < nb; j++) {
      gsize r = (gsize) tt * nb + j;
      guint64 row = (guint64) tt * t->B + sh->first + j;

      for (int i = 0; i < D; i++) {
        gboolean k = drop_keep (t->drop_seed, site, row, i, threshold);

        keep[r * D + i] = k;
        Y[r * D + i] = k ? Y[r * D + i] * scale : 0.0f;
      }
    }
}

/* dX (N, D) = dY ⊙ the mask of @site × 1 / (1 - p); dX may be dY. */
static void
dropout_backward (ArTransformerTrain *t, Workspace *sh, int site,
    const float *dY, float *dX, int N)
{
  gsize n = (gsize) N * t->D;
  const guint8 *keep = sh->keep + site * (gsize) t->max_T * t->nb_max * t->D;
  float scale = 1.0f / (1.0f - t->drop_p);

  for (gsize i = 0; i < n; i++)
    dX[i] = keep[i] ? dY[i] * scale : 0.0f;
}

/* Mean cross-entropy of the N rows of @logits (N, V) whose target is >= 0
 * (0 when there is none), their number in *n_scored; with @dlogits (may
 * alias @logits), its gradient: (softmax - onehot) / n_scored on those
 * rows, 0 on the others.  When every target is scored this is
 * ar_nn_softmax_xent () itself, so causal training computes exactly what
 * it did before targets could be left out. */
static float
xent_scored (const float *logits, const gint32 *targets, float *dlogits, int N,
    int V, int *n_scored)
{
  int n = 0;
  double loss = 0.0;

  for (int i = 0; i < N; i++)
    n += targets[i] >= 0;
  *n_scored = n;
  if (n == N)
    return ar_nn_softmax_xent (logits, targets, dlogits, N, V);
  for (int i = 0; i < N; i++) {
    const float *l = logits + (gsize) i * V;
    float *d = dlogits != NULL ? dlogits + (gsize) i * V : NULL;

    if (targets[i] < 0) {
      if (d != NULL)
        memset (d, 0, (gsize) V * sizeof (float));
      continue;
    }
    /* one row: the loss and softmax - onehot, then the mean's 1 / n */
    loss += ar_nn_softmax_xent (l, targets + i, d, 1, V);
    if (d != NULL) {
      float inv = 1.0f / n;

      for (int j = 0; j < V; j++)
        d[j] *= inv;
    }
  }
  return n > 0 ? (float) (loss / n) : 0.0f;
}

/* The forward pass of the micro-batch in @sh, T x nb tokens (sh->in), with
 * the parameters @P; with targets, sh->loss and sh->n_scored.  Keeps every
 * activation backward needs. */
static void
mb_forward (ArTransformerTrain *t, Workspace *sh, ArParam **P, int T,
    gboolean with_loss, gboolean backward)
{
  gboolean gpt = t->config.arch == AR_TRANSFORMER_GPT;
  int nb = sh->nb, N = T * nb, QKV = t->QKV;
  gsize D = t->D, F = t->F, A = gpt ? F : 2 * F;
  gsize Nm = (gsize) t->max_T * t->nb_max; /* rows per layer slab */

  ar_nn_embedding_forward (P[P_TOK_EMBD], sh->in, sh->x, N);
  if (gpt) {
    for (int tt = 0; tt < T; tt++)
      for (int j = 0; j < nb; j++)
        ar_nn_add (sh->x + ((gsize) tt * nb + j) * D,
            P[P_POS_EMBD]->w + (gsize) tt * D, D);
  }
  if (t->dropping)
    dropout_forward (t, sh, 0, sh->x, T);

  for (int l = 0; l < t->L; l++) {
    ArParam **W = P + blk (l, 0), wqkv, bqkv, wa;
    const float *x = sh->x + l * Nm * D;
    float *xn1 = sh->xn1 + l * Nm * D, *qkv = sh->qkv + l * Nm * QKV;
    float *att = sh->att + l * Nm * D, *xm = sh->xm + l * Nm * D;
    float *xn2 = sh->xn2 + l * Nm * D, *xo = sh->x + (l + 1) * Nm * D;
    float *ffa = sh->ffa + l * Nm * A, *ffh = sh->ffh + l * Nm * F;

    /* attention half: xm = x + Wo · attn (q, k, v) (+ bo), with q | k | v
     * one product into rows of QKV */
    norm_forward (t, W[B_ATTN_NORM], W[B_ATTN_NORM_B], x, xn1,
        sh->mean1 + l * Nm, sh->rstd1 + l * Nm, N);
    linear_forward (fused (&wqkv, W[B_Q], QKV), fused (&bqkv, W[B_Q_B], QKV),
        xn1, qkv, N);
    if (!gpt) {
      ar_nn_rope_forward (qkv, QKV, t->rope_cos, t->rope_sin, T, nb, t->H,
          t->hs, t->config.n_rot);
      ar_nn_rope_forward (qkv + D, QKV, t->rope_cos, t->rope_sin, T, nb, t->Hkv,
          t->hs, t->config.n_rot);
    }
    ar_attention_forward (sh->attn[l], qkv, QKV, qkv + D, qkv + D + t->KV, QKV,
        att, T, nb);
    if (t->dropping) {
      linear_forward (W[B_O], W[B_O_B], att, xm, N);
      dropout_forward (t, sh, 1 + 2 * l, xm, T);
      ar_nn_add (xm, x, (gsize) N * D);
    } else {
      residual_linear_forward (W[B_O], W[B_O_B], att, x, xm, N);
    }

    /* feed-forward half: x' = xm + Wdown · act (...) (+ bdown) */
    norm_forward (t, W[B_FFN_NORM], W[B_FFN_NORM_B], xm, xn2,
        sh->mean2 + l * Nm, sh->rstd2 + l * Nm, N);
    if (gpt) {
      linear_forward (W[B_UP], W[B_UP_B], xn2, ffa, N);
      ar_nn_gelu_forward (ffa, ffh, (gsize) N * F);
    } else {
      /* rows of gate | up */
      linear_forward (fused (&wa, W[B_GATE], 2 * F), NULL, xn2, ffa, N);
      for (int r = 0; r < N; r++)
        ar_nn_swiglu_forward (ffa + r * A, ffa + r * A + F, ffh + r * F, F);
    }
    if (t->dropping) {
      linear_forward (W[B_DOWN], W[B_DOWN_B], ffh, xo, N);
      dropout_forward (t, sh, 2 + 2 * l, xo, T);
      ar_nn_add (xo, xm, (gsize) N * D);
    } else {
      residual_linear_forward (W[B_DOWN], W[B_DOWN_B], ffh, xm, xo, N);
    }
  }

  norm_forward (t, P[P_OUT_NORM], P[P_OUT_NORM_B], sh->x + t->L * Nm * D,
      sh->xf, sh->meanf, sh->rstdf, N);
  linear_forward (P[P_OUTPUT], NULL, sh->xf, sh->logits, N);
  if (with_loss)
    sh->loss = xent_scored (sh->logits, sh->tg, backward ? sh->logits : NULL, N,
        t->V, &sh->n_scored);
}

/* After mb_forward with backward: accumulates the gradients into @P's.
 * @scale: the micro-batch's share of the batch's scored targets, since the
 * loss is the mean over all of them. */
static void
mb_backward (ArTransformerTrain *t, Workspace *sh, ArParam **P, int T,
    float scale)
{
  gboolean gpt = t->config.arch == AR_TRANSFORMER_GPT;
  int nb = sh->nb, N = T * nb, QKV = t->QKV;
  gsize D = t->D, F = t->F, A = gpt ? F : 2 * F;
  gsize Nm = (gsize) t->max_T * t->nb_max;
  float *dqkv = sh->dqkv;

  if (scale != 1.0f) {
    for (gsize i = 0; i < (gsize) N * t->V; i++)
      sh->logits[i] *= scale;
  }
  /* classifier and final norm: dx = d loss / d x_L */
  linear_backward (P[P_OUTPUT], NULL, sh->xf, sh->logits, sh->dxn, N);
  norm_backward (t, P[P_OUT_NORM], P[P_OUT_NORM_B], sh->x + t->L * Nm * D,
      sh->meanf, sh->rstdf, sh->dxn, sh->dx, N);

  for (int l = t->L - 1; l >= 0; l--) {
    ArParam **W = P + blk (l, 0), wqkv, bqkv, wa;
    const float *x = sh->x + l * Nm * D;
    const float *xn1 = sh->xn1 + l * Nm * D, *qkv = sh->qkv + l * Nm * QKV;
    const float *att = sh->att + l * Nm * D, *xm = sh->xm + l * Nm * D;
    const float *xn2 = sh->xn2 + l * Nm * D;
    const float *ffa = sh->ffa + l * Nm * A, *ffh = sh->ffh + l * Nm * F;

    /* feed-forward half; dx holds d loss / d x_{l+1} */
    const float *dbranch = sh->dx;
    if (t->dropping) {
      dropout_backward (t, sh, 2 + 2 * l, sh->dx, sh->dxn, N);
      dbranch = sh->dxn;
    }
    linear_backward (W[B_DOWN], W[B_DOWN_B], ffh, dbranch, sh->dh, N);
    if (gpt) {
      ar_nn_gelu_backward (ffa, sh->dh, sh->dh, (gsize) N * F);
      linear_backward (W[B_UP], W[B_UP_B], xn2, sh->dh, sh->dxn, N);
    } else {
      for (int r = 0; r < N; r++)
        ar_nn_swiglu_backward (ffa + r * A, ffa + r * A + F, sh->dh + r * F,
            sh->dga + r * A, sh->dga + r * A + F, F);
      linear_backward (fused (&wa, W[B_GATE], 2 * F), NULL, xn2, sh->dga,
          sh->dxn, N);
    }
    norm_backward (t, W[B_FFN_NORM], W[B_FFN_NORM_B], xm, sh->mean2 + l * Nm,
        sh->rstd2 + l * Nm, sh->dxn, sh->dxm, N);
    ar_nn_add (sh->dxm, sh->dx, (gsize) N * D);

    /* attention half; dxm holds d loss / d xm */
    dbranch = sh->dxm;
    if (t->dropping) {
      dropout_backward (t, sh, 1 + 2 * l, sh->dxm, sh->dxn, N);
      dbranch = sh->dxn;
    }
    linear_backward (W[B_O], W[B_O_B], att, dbranch, sh->datt, N);
    ar_attention_backward (sh->attn[l], qkv, QKV, qkv + D, qkv + D + t->KV, QKV,
        att, sh->datt, dqkv, dqkv + D, dqkv + D + t->KV, T, nb);
    if (!gpt) {
      ar_nn_rope_backward (dqkv, QKV, t->rope_cos, t->rope_sin, T, nb, t->H,
          t->hs, t->config.n_rot);
      ar_nn_rope_backward (dqkv + D, QKV, t->rope_cos, t->rope_sin, T, nb,
          t->Hkv, t->hs, t->config.n_rot);
    }
    linear_backward (fused (&wqkv, W[B_Q], QKV), fused (&bqkv, W[B_Q_B], QKV),
        xn1, dqkv, sh->dxn, N);
    norm_backward (t, W[B_ATTN_NORM], W[B_ATTN_NORM_B], x, sh->mean1 + l * Nm,
        sh->rstd1 + l * Nm, sh->dxn, sh->dx, N);
    ar_nn_add (sh->dx, sh->dxm, (gsize) N * D);
  }

  if (t->dropping)
    dropout_backward (t, sh, 0, sh->dx, sh->dx, N);
  ar_nn_embedding_backward (P[P_TOK_EMBD], sh->in, sh->dx, N);
  if (gpt) {
    for (int tt = 0; tt < T; tt++)
      for (int j = 0; j < nb; j++)
        ar_nn_add (P[P_POS_EMBD]->g + (gsize) tt * D,
            sh->dx + ((gsize) tt * nb + j) * D, D);
  }
}

/* ---- the batch over the tasks ------------------------------------------- */

/* Task @k of the call: its streams in micro-batches of at most nb_max, each
 * through forward (and backward, adding into the task's gradients) before
 * the next, so that the activations of one micro-batch — not of the whole
 * batch — are what the products walk through: smaller, and nearer the
 * caches.  Which thread runs it, and in which workspace, changes nothing in
 * what it computes. */
static void
run_task (gpointer data, guint k)
{
  ArTransformerTrain *t = data;
  Task *task = &t->tasks[k];
  int T = t->T, B = t->B;
  gsize V = t->V;
  Workspace *sh = ar_workspaces_claim (t->ws);

  task->loss_sum = 0.0;
  if (t->backward && k > 0)
    memset (task->grad, 0, ar_params_count (t->params) * sizeof (float));
  for (int c0 = 0; c0 < task->n; c0 += t->nb_max) {
    int nb = MIN (t->nb_max, task->n - c0), first = task->b0 + c0;

    sh->nb = nb;
    sh->first = first;
    for (int tt = 0; tt < T; tt++)
      for (int j = 0; j < nb; j++) {
        gsize from = (gsize) tt * B + first + j, to = (gsize) tt * nb + j;

        sh->in[to] = t->inputs[from];
        if (t->targets != NULL)
          sh->tg[to] = t->targets[from];
      }
    mb_forward (t, sh, task->p, T, t->targets != NULL, t->backward);
    if (t->targets != NULL)
      task->loss_sum += (double) sh->loss * sh->n_scored;
    /* a micro-batch with nothing scored contributes no gradient */
    if (t->backward && sh->n_scored > 0)
      mb_backward (t, sh, task->p, T, (float) sh->n_scored / t->n_scored);
    if (t->logits_out != NULL) {
      for (int tt = 0; tt < T; tt++)
        memcpy (t->logits_out + ((gsize) tt * B + first) * V,
            sh->logits + (gsize) tt * nb * V, nb * V * sizeof (float));
    }
  }
  ar_workspaces_release (t->ws, sh);
}

/* Parameter @i's gradient += the other tasks', in task order. */
static void
reduce_param (gpointer data, guint i)
{
  ArTransformerTrain *t = data;
  ArParam *p = g_ptr_array_index (t->params, i);

  for (int k = 1; k < t->n_tasks; k++)
    ar_nn_add (p->g, t->tasks[k].views[i].g, p->n);
}

/* Runs the call set up in @t: the batch's B streams in n_tasks = min
 * (AR_TRANSFORMER_MAX_TASKS, ⌈B / nb_max⌉) tasks of consecutive streams,
 * handed out to the threads as they come free (a thread slowed down by
 * other work on the machine takes fewer), then the tasks' gradients added
 * up.  The tasks and the order of every sum depend on B and max_T only. */
static void
run_tasks (ArTransformerTrain *t)
{
  int B = t->B;

  t->n_tasks = MIN (t->n_tasks_max, (B + t->nb_max - 1) / t->nb_max);
  for (int k = 0; k < t->n_tasks; k++) {
    t->tasks[k].b0 = (int) ((gint64) B * k / t->n_tasks);
    t->tasks[k].n = (int) ((gint64) B * (k + 1) / t->n_tasks) - t->tasks[k].b0;
  }
  /* Every product is single-threaded: OpenBLAS's own threads would compete
   * with the tasks for the processors, and its split of a product changes
   * the rounding, which would make results depend on its thread count. */
  int blas_threads = openblas_get_num_threads ();
  if (blas_threads != 1)
    openblas_set_num_threads (1);
  if (t->pool == NULL) {
    for (int k = 0; k < t->n_tasks; k++)
      run_task (t, k);
  } else {
    ar_threadpool_run (t->pool, t->n_tasks, run_task, t);
  }
  if (t->backward && t->n_tasks > 1) {
    if (t->pool != NULL)
      ar_threadpool_run (t->pool, t->params->len, reduce_param, t);
    else
      for (guint i = 0; i < t->params->len; i++)
        reduce_param (t, i);
  }
  if (blas_threads != 1)
    openblas_set_num_threads (blas_threads);
}

static gboolean
ids_ok (const gint32 *ids, gsize n, int V)
{
  for (gsize i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= V)
      return FALSE;
  return TRUE;
}

/* Targets are below V; negative ones are left out of the loss. */
static gboolean
targets_ok (const gint32 *ids, gsize n, int V)
{
  for (gsize i = 0; i < n; i++)
    if (ids[i] >= V)
      return FALSE;
  return TRUE;
}

float
ar_transformer_train_forward (ArTransformerTrain *t, const gint32 *inputs,
    const gint32 *targets, int T, int B, gboolean backward)
{
  g_return_val_if_fail (t != NULL && inputs != NULL && targets != NULL, NAN);
  g_return_val_if_fail (T >= 1 && T <= t->max_T && B >= 1 && B <= t->max_B,
      NAN);
  g_return_val_if_fail (ids_ok (inputs, (gsize) T * B, t->V), NAN);
  g_return_val_if_fail (targets_ok (targets, (gsize) T * B, t->V), NAN);

  t->inputs = inputs;
  t->targets = targets;
  t->logits_out = NULL;
  t->dropping = t->drop_p > 0.0f;
  t->T = T;
  t->B = B;
  t->backward = backward;
  t->n_scored = 0;
  for (gsize i = 0; i < (gsize) T * B; i++)
    t->n_scored += targets[i] >= 0;
  if (t->n_scored == 0)
    return 0.0f;
  run_tasks (t);

  /* the mean over all scored targets, from the micro-batches' means */
  double loss = 0.0;
  for (int k = 0; k < t->n_tasks; k++)
    loss += t->tasks[k].loss_sum;
  return (float) (loss / t->n_scored);
}

void
ar_transformer_train_logits (ArTransformerTrain *t, const gint32 *inputs, int T,
    int B, float *logits)
{
  g_return_if_fail (t != NULL && inputs != NULL && logits != NULL);
  g_return_if_fail (T >= 1 && T <= t->max_T && B >= 1 && B <= t->max_B);
  g_return_if_fail (ids_ok (inputs, (gsize) T * B, t->V));

  t->inputs = inputs;
  t->targets = NULL;
  t->logits_out = logits;
  t->dropping = FALSE;
  t->T = T;
  t->B = B;
  t->backward = FALSE;
  run_tasks (t);
  t->logits_out = NULL;
}

/* ---- model files ---------------------------------------------------------- */

void
ar_transformer_train_write (ArTransformerTrain *t, ArGgufWriter *w)
{
  g_return_if_fail (t != NULL && w != NULL);

  ar_transformer_config_write (&t->config, w);
  for (guint i = 0; i < t->params->len; i++) {
    ArParam *p = g_ptr_array_index (t->params, i);

    ar_gguf_writer_add_tensor_f32 (w, p->name, AR_TENSOR_F32, p->n_dims, p->ne,
        p->w);
  }
}

/* Biases the inference decoder reads when present, absent meaning zero. */
static const char *const optional_biases[] = {
  "attn_q.bias",
  "attn_k.bias",
  "attn_v.bias",
  "attn_output.bias",
  "ffn_up.bias",
  "ffn_down.bias",
};

gboolean
ar_transformer_train_load_weights (ArTransformerTrain *t, const ArGguf *gguf,
    GError **error)
{
  g_return_val_if_fail (t != NULL && gguf != NULL, FALSE);
  const char *name = ar_gguf_get_name (gguf);

  for (guint i = 0; i < t->params->len; i++) {
    ArParam *p = g_ptr_array_index (t->params, i);
    gboolean optional = FALSE;

    for (guint j = 0; j < G_N_ELEMENTS (optional_biases); j++)
      if (g_str_has_suffix (p->name, optional_biases[j]))
        optional = TRUE;
    if (optional && ar_gguf_find_tensor (gguf, p->name) == NULL) {
      memset (p->w, 0, p->n * sizeof (float));
      continue;
    }
    const ArGgufTensor *tensor =
        ar_gguf_require_tensor (gguf, p->name, p->n_dims, p->ne, error);
    if (tensor == NULL)
      return FALSE;
    ar_gguf_tensor_to_f32 (tensor, p->w);
  }

  /* what the inference decoder would read but this graph cannot hold */
  for (int l = 0; l < t->L; l++) {
    char n[96];

    g_snprintf (n, sizeof n, "blk.%d.attn_qkv.weight", l);
    if (ar_gguf_find_tensor (gguf, n) != NULL) {
      g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
          "%s: tensor '%s': the training graph has separate q, k, v "
          "projections",
          name, n);
      return FALSE;
    }
    if (t->config.arch == AR_TRANSFORMER_LLAMA) {
      for (guint j = 0; j < G_N_ELEMENTS (optional_biases); j++) {
        g_snprintf (n, sizeof n, "blk.%d.%s", l, optional_biases[j]);
        if (ar_gguf_find_tensor (gguf, n) != NULL) {
          g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
              "%s: tensor '%s': the llama training graph has no biases", name,
              n);
          return FALSE;
        }
      }
    }
  }
  return TRUE;
}

/* ---- the training task ------------------------------------------------------ */

struct _ArTransformerTask
{
  ArTrainable trainable;
  ArTransformerTrain *net;
  const ArTextData *data;
  int T, B;
  ArTransformerEvalMode eval_mode;
  float dropout;
  gint32 *inputs, *targets; /* (T, B) */
  float *logits;            /* (T, B, V), evaluation */
};

/* Without this, a text too short for one window left the batch unwritten
 * (ar_text_data_sample () refuses) and training ran on garbage ids. */
static gboolean
task_check (gpointer self, GError **error)
{
  ArTransformerTask *task = self;
  return ar_text_data_check_window (task->data, task->T, error);
}

static float
task_step (gpointer self, ArRng *rng)
{
  ArTransformerTask *task = self;
  float loss;

  ar_text_data_sample (task->data, rng, task->T, task->B, task->inputs,
      task->targets);
  if (task->dropout == 0.0f)
    return ar_transformer_train_forward (task->net, task->inputs, task->targets,
        task->T, task->B, TRUE);
  /* the masks' seed from the trainer's stream too, so that a resumed run
   * drops what the uninterrupted one would have */
  ar_transformer_train_set_dropout (task->net, task->dropout,
      ar_rng_next_u64 (rng));
  loss = ar_transformer_train_forward (task->net, task->inputs, task->targets,
      task->T, task->B, TRUE);
  ar_transformer_train_set_dropout (task->net, 0.0f, 0);
  return loss;
}

static double
task_evaluate (gpointer self)
{
  ArTransformerTask *task = self;

  if (task->data->n - task->data->n_train < 2)
    return NAN;
  return ar_transformer_task_evaluate (task, task->data->n_train, task->data->n,
      task->eval_mode, NULL);
}

static void
task_write_model (gpointer self, ArGgufWriter *w)
{
  ArTransformerTask *task = self;

  ar_transformer_train_write (task->net, w);
  ar_vocab_write_gguf (task->data->vocab, w);
}

ArTransformerTask *
ar_transformer_task_new (const ArTransformerConfig *config,
    const ArTextData *data, int T, int B, int n_threads,
    ArTransformerEvalMode eval_mode)
{
  g_return_val_if_fail (config != NULL && data != NULL, NULL);
  g_return_val_if_fail (config->n_vocab == ar_vocab_get_size (data->vocab),
      NULL);
  g_return_val_if_fail (ar_transformer_train_check (config, T, B, NULL), NULL);
  ArTransformerTask *task = g_new0 (ArTransformerTask, 1);

  task->net = ar_transformer_train_new (config, T, B, n_threads);
  task->data = data;
  task->T = T;
  task->B = B;
  task->eval_mode = eval_mode;
  task->inputs = g_new (gint32, (gsize) T * B);
  task->targets = g_new (gint32, (gsize) T * B);
  task->logits = new_floats ((gsize) T * B * config->n_vocab);
  task->trainable = (ArTrainable){
    .unit = "nats/char",
    .units_per_s_name = "tokens/s",
    .units_per_step = (guint64) T * B,
    .params = ar_transformer_train_get_params (task->net),
    .step = task_step,
    .evaluate = task_evaluate,
    .write_model = task_write_model,
    .check = task_check,
  };
  if (ar_vocab_get_type (data->vocab) == AR_VOCAB_BYTE)
    task->trainable.unit = "nats/byte";
  return task;
}

void
ar_transformer_task_free (ArTransformerTask *task)
{
  if (task == NULL)
    return;
  ar_transformer_train_free (task->net);
  g_free (task->inputs);
  g_free (task->targets);
  g_free (task->logits);
  g_free (task);
}

const ArTrainable *
ar_transformer_task_get_trainable (ArTransformerTask *task)
{
  g_return_val_if_fail (task != NULL, NULL);
  return &task->trainable;
}

void
ar_transformer_task_set_dropout (ArTransformerTask *task, float p)
{
  g_return_if_fail (task != NULL && p >= 0.0f && p < 1.0f);
  task->dropout = p;
}

ArTransformerTrain *
ar_transformer_task_get_net (ArTransformerTask *task)
{
  g_return_val_if_fail (task != NULL, NULL);
  return task->net;
}

/* -log softmax (l)[target] for logits l (V), in double. */
static double
nll (const float *l, int V, int target)
{
  float mx = l[0];
  double s = 0.0;

  for (int j = 1; j < V; j++)
    mx = MAX (mx, l[j]);
  for (int j = 0; j < V; j++)
    s += exp ((double) l[j] - mx);
  return log (s) + mx - l[target];
}

/* A window of the held-out text: targets [start, start + len) of the
 * evaluated range (input i predicts target i, which is token i + 1), of
 * which [score_from, len) are scored. */
typedef struct
{
  gsize start;
  int len, score_from;
} Window;

/* Runs up to B windows of the same length W (from ids + from), summing
 * their scored losses. */
static double
eval_windows (ArTransformerTask *task, const gint32 *ids, const Window *win,
    int nw, int W, guint64 *count)
{
  int V = task->net->V;
  double total = 0.0;

  for (int b = 0; b < nw; b++)
    for (int i = 0; i < W; i++)
      task->inputs[(gsize) i * nw + b] = ids[win[b].start + i];
  ar_transformer_train_logits (task->net, task->inputs, W, nw, task->logits);
  for (int b = 0; b < nw; b++)
    for (int i = win[b].score_from; i < W; i++) {
      total += nll (task->logits + ((gsize) i * nw + b) * V, V,
          ids[win[b].start + i + 1]);
      (*count)++;
    }
  return total;
}

double
ar_transformer_task_evaluate (ArTransformerTask *task, gsize from, gsize to,
    ArTransformerEvalMode mode, guint64 *n_predicted)
{
  g_return_val_if_fail (task != NULL, NAN);
  g_return_val_if_fail (from + 2 <= to && to <= task->data->n, NAN);
  const gint32 *ids = task->data->ids + from;
  gsize n_t = to - from - 1; /* targets ids[1 .. n_t] of the range */
  int T = task->T, B = task->B;
  g_autofree Window *win = g_new (Window, B);
  double total = 0.0;
  guint64 count = 0;
  int nw = 0;

  if (n_t <= (gsize) T) {
    /* shorter than one window: one window, everything scored */
    win[0] = (Window){ 0, (int) n_t, 0 };
    total = eval_windows (task, ids, win, 1, (int) n_t, &count);
  } else if (mode == AR_TRANSFORMER_EVAL_WINDOWS) {
    /* consecutive windows of T, the tail a shorter window of its own */
    gsize n_full = n_t / T, tail = n_t - n_full * T;

    for (gsize w = 0; w < n_full; w++) {
      win[nw++] = (Window){ w * T, T, 0 };
      if (nw == B || w + 1 == n_full) {
        total += eval_windows (task, ids, win, nw, T, &count);
        nw = 0;
      }
    }
    if (tail > 0) {
      win[0] = (Window){ n_full * T, (int) tail, 0 };
      total += eval_windows (task, ids, win, 1, (int) tail, &count);
    }
  } else {
    /* window k >= 1 scores targets [T + (k - 1) S, T + k S) with S = T / 2
     * (the last one clipped at n_t) and ends at the last of them, so every
     * scored target sees at least T - S positions before it */
    int S = MAX (T / 2, 1);
    gsize end = T;

    win[nw++] = (Window){ 0, T, 0 };
    while (TRUE) {
      gboolean last = end >= n_t;

      if (nw == B || last) {
        total += eval_windows (task, ids, win, nw, T, &count);
        nw = 0;
      }
      if (last)
        break;
      gsize next = MIN (end + S, n_t);
      win[nw++] = (Window){ next - T, T, (int) (T - (next - end)) };
      end = next;
    }
  }
  if (n_predicted != NULL)
    *n_predicted = count;
  return count > 0 ? total / count : NAN;
}
