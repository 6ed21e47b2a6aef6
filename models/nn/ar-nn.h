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
/* Gradient views for one task of a data-parallel step: (params->len)
 * copies of the parameters' structs — the same values — whose gradients
 * point into one block of ar_params_count () floats of their own, zeroed,
 * returned in *@grad (moments NULL: they stay the trainer's).  A task sums
 * into its views; the trainer then adds the blocks into the parameters'
 * gradients in task order, so the sums do not depend on which thread ran
 * which task.  Free both with g_free (). */
ArParam *ar_params_new_grad_views (GPtrArray *params, float **grad);

/* ---- optimiser and schedule ------------------------------------------ */

typedef struct
{
  float beta1, beta2, eps, weight_decay;
} ArAdamW;

#define AR_ADAMW_INIT { 0.9f, 0.999f, 1e-8f, 0.01f }

/* One AdamW step (decoupled weight decay, bias-corrected moments, as PyTorch's
 * torch.optim.AdamW); t is the 1-based step number. */
void ar_adamw_step (const ArAdamW *opt, GPtrArray *params, guint64 t, float lr);
/* The learning rate of update @step (1-based: the trainer's first update is
 * step 1, its last step @total).  Linear warm-up to lr_max, reached at step
 * @warmup (step t < @warmup: lr_max · t / @warmup), then cosine decay from
 * lr_max to lr_min, reached at step @total (and lr_min after).  Without a
 * warm-up (0, or 1, which is the same) the first step trains at lr_max; a
 * one-step run trains at lr_max, a two-step one at lr_max then lr_min.  A
 * warm-up as long as the run or longer leaves no decay: the rate climbs
 * until the last step. */
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
/* The gates of ar_cell_step alone, given hproj (G * H) = W_hh h + b_hh
 * computed by the caller (the inference step splits it over threads). */
void ar_cell_step_gates (const ArCellWeights *w, const float *xproj, const float *hproj,
    float *h, float *c);

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

/* ---- Transformer layers (ar-pointwise.c, ar-attention.c) -----------------
 * All over rows of (N, n) or (T, B, n) batches as above; they run in the
 * calling thread (the Transformer training graph parallelises by splitting
 * the batch into shards, ar-transformer-train.h).  Checked by finite
 * differences in tests/test-nn-attn.c. */

/* RMSNorm of each row: Y (N, n) = w ⊙ X / sqrt (mean (X²) + eps), w (n);
 * rstd (N) receives each row's 1 / sqrt (mean (X²) + eps).  Y may equal X.
 * The inference step's formula (the SIMD version sums a row in 8 lanes). */
void ar_nn_rmsnorm_forward (const ArParam *w, const float *X, float *Y, float *rstd, int N,
    float eps);
/* accumulates w->g; dX (N, n) overwritten (it may equal dY) */
void ar_nn_rmsnorm_backward (ArParam *w, const float *X, const float *rstd, const float *dY,
    float *dX, int N);
/* LayerNorm of each row: Y (N, n) = (X - mean) / sqrt (var + eps) ⊙ w + b
 * (biased variance, as PyTorch); mean, rstd (N) are kept for the backward
 * pass.  Y may equal X. */
void ar_nn_layernorm_forward (const ArParam *w, const ArParam *b, const float *X, float *Y,
    float *mean, float *rstd, int N, float eps);
/* accumulates w->g, b->g; dX (N, n) overwritten (it may equal dY) */
void ar_nn_layernorm_backward (ArParam *w, ArParam *b, const float *X, const float *mean,
    const float *rstd, const float *dY, float *dX, int N);

/* GELU, GPT-2's tanh form: Y (n) = X/2 (1 + tanh (sqrt (2/π) (X + 0.044715 X³))).
 * Y may equal X. */
void ar_nn_gelu_forward (const float *X, float *Y, gsize n);
/* dX (n) = dY ⊙ gelu' (X); dX may equal dY */
void ar_nn_gelu_backward (const float *X, const float *dY, float *dX, gsize n);
/* SwiGLU's gating: Y (n) = silu (G) ⊙ U, silu (g) = g σ(g).  Y may equal G or U. */
void ar_nn_swiglu_forward (const float *G, const float *U, float *Y, gsize n);
/* dG, dU (n) overwritten; either may equal dY. */
void ar_nn_swiglu_backward (const float *G, const float *U, const float *dY, float *dG,
    float *dU, gsize n);
/* The residual connection Y += X (n).  Its backward pass is the same call:
 * the gradient reaching the sum flows unchanged into both of its inputs, so
 * a block adds the gradient of its output into the gradient of its input. */
void ar_nn_add (float *Y, const float *X, gsize n);

/* Rotary position embeddings, the inference step's convention: in each head
 * of hs values the adjacent pairs (x[2i], x[2i+1]), i < n_rot / 2, turn by
 * the angle t · θ_i, θ_i = freq_base^(-2i / n_rot), t the row's time index.
 * cos_t, sin_t (T, n_rot / 2) hold the table for t < T, computed in float
 * exactly as the inference step computes it. */
void ar_nn_rope_table (float *cos_t, float *sin_t, int T, int n_rot, float freq_base);
/* X: T * B rows (time outermost) of n_heads * hs values each, @ld floats
 * apart (ld >= n_heads * hs: the rows may be part of wider ones, as a fused
 * q|k|v projection writes them), rotated in place. */
void ar_nn_rope_forward (float *X, int ld, const float *cos_t, const float *sin_t, int T,
    int B, int n_heads, int hs, int n_rot);
/* dX rotated back in place (the transpose of the rotation is its inverse). */
void ar_nn_rope_backward (float *dX, int ld, const float *cos_t, const float *sin_t, int T,
    int B, int n_heads, int hs, int n_rot);

/* Causal multi-head self-attention with grouped-query heads over B streams
 * of T positions: query head h (of H) reads key/value head h / (H / Hkv);
 * position t of a stream attends to positions 0 .. t of the same stream
 * (bidirectional: to all T positions of the stream),
 * O = softmax (Q Kᵀ / sqrt (hs)) V per (stream, head).  No parameters: the
 * projections around it are linear layers.  The object holds what backward
 * needs besides the inputs (each row's log-sum-exp, (B, H, T)) and its
 * scratch, sized for up to max_T positions of max_B streams; backward
 * recomputes the attention weights rather than keep B·H·T² of them. */
typedef struct _ArAttention ArAttention;

ArAttention *ar_attention_new (int n_head, int n_head_kv, int head_size, int max_T, int max_B);
void ar_attention_free (ArAttention *a);
/* Bidirectional (non-causal) attention from now on: every position attends
 * to all T positions of its stream, forward and backward (the encoder of
 * models/nar).  FALSE (the default) is causal. */
void ar_attention_set_bidirectional (ArAttention *a, gboolean bidirectional);
gboolean ar_attention_get_bidirectional (const ArAttention *a);
/* Q: T * B rows (time outermost) of H * hs values, ld_q floats apart; K, V:
 * T * B rows of Hkv * hs values, ld_kv floats apart (Q, K and V may be the
 * three parts of the rows of one fused projection, ld_q = ld_kv = its
 * width) → O (T, B, H * hs), contiguous. */
void ar_attention_forward (ArAttention *a, const float *Q, int ld_q, const float *K,
    const float *V, int ld_kv, float *O, int T, int B);
/* After forward on the same Q, K, V, O: dQ (rows ld_q apart), dK, dV (rows
 * ld_kv apart) overwritten from dO (T, B, H * hs); the parts of rows outside
 * them are not touched. */
void ar_attention_backward (ArAttention *a, const float *Q, int ld_q, const float *K,
    const float *V, int ld_kv, const float *O, const float *dO, float *dQ, float *dK,
    float *dV, int T, int B);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArParam, ar_param_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArRecurrent, ar_recurrent_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArAttention, ar_attention_free)

G_END_DECLS
