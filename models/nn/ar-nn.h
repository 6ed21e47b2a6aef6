/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-nn.h — trainable parameters, layers with forward and backward passes,
 * the optimiser and the learning-rate schedule: the training core every model
 * family builds on.
 *
 * Conventions: activations are row-major batches (N rows of features);
 * for sequences, N = T * B with time outermost, X (T, B, n) at X[(t * B + b) * n + i].
 * Weight matrices are row-major (out, in), stored in GGUF with ne = { in, out }.
 * Backward passes *accumulate* into parameter gradients (callers zero them once
 * per step) and *overwrite* input gradients.  Large products go to CBLAS
 * (OpenBLAS).  Every backward pass is checked by finite differences in
 * tests/test-nn.c. */
#pragma once

#include <glib.h>
#include "../core/ar-rng.h"

G_BEGIN_DECLS

/* ---- parameters ------------------------------------------------------ */

typedef struct
{
  char *name;                   /* GGUF tensor name, e.g. "blk.0.rnn_hh.weight" */
  guint n_dims;
  guint64 ne[4];                /* ne[0] innermost, as in GGUF */
  gsize n;                      /* number of elements */
  gboolean decay;               /* AdamW weight decay applies (matrices; not biases) */
  float *w;                     /* (n) values */
  float *g;                     /* (n) gradient */
  float *m;                     /* (n) AdamW first moment */
  float *v;                     /* (n) AdamW second moment */
} ArParam;

/* All four arrays zeroed; decay defaults to n_dims >= 2. */
ArParam *ar_param_new (const char *name, guint n_dims, const guint64 *ne);
void ar_param_free (ArParam *p);
void ar_param_init_uniform (ArParam *p, ArRng *rng, float bound);       /* U(-bound, bound) */
void ar_param_init_normal (ArParam *p, ArRng *rng, float std);

/* Over a GPtrArray of ArParam* (the array does not own them unless its free
 * func says so). */
gsize ar_params_count (GPtrArray *params);      /* total elements */
void ar_params_zero_grad (GPtrArray *params);
/* Scales all gradients so their global L2 norm is at most max_norm; returns the
 * norm before clipping. */
float ar_params_clip_grad_norm (GPtrArray *params, float max_norm);

/* ---- optimiser and schedule ------------------------------------------ */

typedef struct
{
  float beta1, beta2, eps, weight_decay;
} ArAdamW;

#define AR_ADAMW_INIT { 0.9f, 0.999f, 1e-8f, 0.01f }

/* One AdamW step (decoupled weight decay, bias-corrected moments, as PyTorch's
 * torch.optim.AdamW); t is the 1-based step number. */
void ar_adamw_step (const ArAdamW *opt, GPtrArray *params, guint64 t, float lr);
/* Linear warm-up from 0 to lr_max over `warmup` steps, then cosine decay to
 * lr_min at step `total` (and lr_min after). */
float ar_lr_warmup_cosine (guint64 step, guint64 warmup, guint64 total, float lr_max, float lr_min);

/* ---- layers ------------------------------------------------------------ */

/* Y (N, out) = X (N, in) · Wᵀ + b;  W: (out, in), b: (out) or NULL */
void ar_nn_linear_forward (const ArParam *W, const ArParam *b, const float *X, float *Y, int N);
/* accumulates W->g, b->g; dX (N, in) overwritten unless NULL */
void ar_nn_linear_backward (ArParam *W, ArParam *b, const float *X, const float *dY,
    float *dX, int N);

/* Y (N, D) = E[ids];  E: (V, D) */
void ar_nn_embedding_forward (const ArParam *E, const gint32 *ids, float *Y, int N);
void ar_nn_embedding_backward (ArParam *E, const gint32 *ids, const float *dY, int N);

/* Mean over N rows of -log softmax(logits)[target].  When dlogits is not NULL it
 * receives d(mean)/d(logits) (it may alias logits).  logits: (N, V). */
float ar_nn_softmax_xent (const float *logits, const gint32 *targets, float *dlogits, int N, int V);

/* ---- recurrent cells ----------------------------------------------------
 * PyTorch's formulations and gate orders, so weights convert one to one:
 *   RNN : h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
 *   GRU : r, z, n gates;  n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn));
 *         h' = (1 - z) ⊙ n + z ⊙ h
 *   LSTM: i, f, g, o gates;  c' = f ⊙ c + i ⊙ g;  h' = o ⊙ tanh(c')          */

typedef enum
{
  AR_CELL_RNN = 0,
  AR_CELL_GRU = 1,
  AR_CELL_LSTM = 2,
} ArCellType;

guint ar_cell_n_gates (ArCellType cell);        /* 1, 3, 4 */
const char *ar_cell_name (ArCellType cell);     /* "rnn", "gru", "lstm" */
gboolean ar_cell_from_name (const char *name, ArCellType *cell);

/* Read-only weights of one layer for single-step inference (G = n_gates). */
typedef struct
{
  ArCellType cell;
  int n_in, n_hidden;
  const float *w_ih;            /* (G * H, n_in) */
  const float *w_hh;            /* (G * H, H) */
  const float *b_ih;            /* (G * H) */
  const float *b_hh;            /* (G * H) */
} ArCellWeights;

/* One time step.  xproj (G * H) = W_ih x + b_ih, already computed by the caller
 * (for the first layer it can come from a precomputed table per token);
 * h (H) updated in place; c (H) likewise for LSTM (ignored otherwise);
 * scratch: (G * H) floats.  Uses the SIMD kernels; never allocates. */
void ar_cell_step (const ArCellWeights *w, const float *xproj, float *h, float *c, float *scratch);

/* A recurrent layer over whole sequences, for training. */
typedef struct _ArRecurrent ArRecurrent;

/* Parameters are named "<prefix>.rnn_ih.weight" (G*H, n_in), "<prefix>.rnn_hh.weight"
 * (G*H, H), "<prefix>.rnn_ih.bias", "<prefix>.rnn_hh.bias" (G*H); the activation
 * cache is sized for sequences of up to max_T steps of max_B streams. */
ArRecurrent *ar_recurrent_new (ArCellType cell, int n_in, int n_hidden, const char *prefix,
    int max_T, int max_B);
void ar_recurrent_free (ArRecurrent *l);
/* U(-1/sqrt(H), 1/sqrt(H)) for every parameter, as PyTorch. */
void ar_recurrent_init (ArRecurrent *l, ArRng *rng);
/* Appends the layer's four ArParam* (still owned by the layer). */
void ar_recurrent_add_params (ArRecurrent *l, GPtrArray *params);
ArParam *ar_recurrent_get_param (ArRecurrent *l, guint i);      /* 0..3: w_ih, w_hh, b_ih, b_hh */
ArCellWeights ar_recurrent_weights (const ArRecurrent *l);
/* X (T, B, n_in) → Y (T, B, H).  h0, c0 (B, H): initial state, NULL for zeros
 * (c0 only for LSTM).  Caches what backward needs. */
void ar_recurrent_forward (ArRecurrent *l, const float *X, const float *h0, const float *c0,
    float *Y, int T, int B);
/* After forward: the final state (B, H) (c: LSTM only, else NULL). */
const float *ar_recurrent_final_h (const ArRecurrent *l);
const float *ar_recurrent_final_c (const ArRecurrent *l);
/* Back-propagation through the T steps of the last forward (truncated: no
 * gradient flows into h0/c0).  dY (T, B, H); dX (T, B, n_in) overwritten unless
 * NULL; accumulates parameter gradients. */
void ar_recurrent_backward (ArRecurrent *l, const float *X, const float *dY, float *dX, int T, int B);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArParam, ar_param_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArRecurrent, ar_recurrent_free)

G_END_DECLS
