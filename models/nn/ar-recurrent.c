/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-recurrent.c — RNN, GRU and LSTM cells: the single-step inference kernel
 * (ar_cell_step) and the recurrent layer over whole sequences with its
 * back-propagation through time, for training.
 *
 * The gate arithmetic of each cell is written once, in the static inline
 * *_gates functions below, and used by both paths: the batched forward and the
 * inference step differ only in how W_hh h is computed (one cblas_sgemm per
 * time step over the batch, versus the SIMD ar_matvec for one stream).  That is
 * what lets tests/test-nn.c use ar_cell_step as the oracle for the training
 * forward.
 *
 * Where the time goes in training, and how it is organised (G gates, H hidden,
 * T steps, B streams, N = T * B rows, time outermost):
 *   - forward: one sgemm X (N, in) · W_ihᵀ for the input projections of all T
 *     steps, then per step one sgemm h (B, H) · W_hhᵀ and the gate loop;
 *   - backward: per step the gate-gradient loop and one sgemm dG (B, G*H) ·
 *     W_hh for the gradient reaching h_{t-1}; the weight gradients are then ONE
 *     sgemm each over all N rows: dW_hh += dGᵀ · H_prev, dW_ih += dGᵀ · X.
 * The forward gate loops call expf (no fast-math, so they stay scalar) and
 * are the largest cost outside BLAS (about 60 ms of one core per step of the
 * default GRU-512 model); between two BLAS calls OpenBLAS leaves the other
 * cores idle, so each step's forward loop is split over the streams with
 * ar_nn_parallel_for.  The per-step activations live in one cache allocated at
 * creation for (max_T, max_B); backward overwrites the cached activations of
 * each step with that step's gate gradients once it has read them, so it
 * needs no second buffer of the same size (and can run once per forward). */
#include "ar-nn.h"
#include "ar-nn-private.h"
#include "../core/ar-kernels.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* ---- cell names ----------------------------------------------------------- */

static const char *const cell_names[] = { "rnn", "gru", "lstm" };

guint
ar_cell_n_gates (ArCellType cell)
{
  switch (cell) {
    case AR_CELL_RNN:
      return 1;
    case AR_CELL_GRU:
      return 3;
    case AR_CELL_LSTM:
      return 4;
  }
  g_return_val_if_reached (0);
}

const char *
ar_cell_name (ArCellType cell)
{
  g_return_val_if_fail ((guint) cell < G_N_ELEMENTS (cell_names), NULL);
  return cell_names[cell];
}

gboolean
ar_cell_from_name (const char *name, ArCellType *cell)
{
  guint i;

  g_return_val_if_fail (cell != NULL, FALSE);
  if (name == NULL)
    return FALSE;
  for (i = 0; i < G_N_ELEMENTS (cell_names); i++) {
    if (g_ascii_strcasecmp (name, cell_names[i]) == 0) {
      *cell = (ArCellType) i;
      return TRUE;
    }
  }
  return FALSE;
}

/* ---- the cell arithmetic, shared by training and inference -------------- *
 * xp (G*H): W_ih x + b_ih;  hp (G*H): W_hh h + b_hh;  gate blocks in PyTorch's
 * order.  The outputs may alias the state inputs element for element (h_out ==
 * h, c_out == c for in-place inference; act == xp for the training cache):
 * each j reads all its inputs before writing, and nothing is restrict. When
 * act is NULL (inference) nothing is cached. */

static inline float
sigmoidf (float x)
{
  return 1.0f / (1.0f + expf (-x));
}

/* tanh from expf: glibc's tanhf goes through the old expm1f and costs four to
 * seven times as much as the modern expf (measured on the Zen 3 we train on),
 * which made it the largest non-BLAS cost of a GRU step.  1 - 2 / (1 + e^2x)
 * is exact to about 2e-7 absolute but loses relative precision as x → 0, where
 * the odd Taylor series to x^7 takes over (its truncation error at |x| = 1/8 is
 * 2e-10 relative).  Both are computed so the choice is a select, not a branch
 * that mispredicts on the small pre-activations of early training.  Against
 * tanh in double, over every float in [1e-30, 20] and its negative: relative
 * error below 1e-6 (8 ulp, worst just above 1/8), absolute below 1.8e-7
 * (tests/test-nn.c, /nn/cell/reference, checks a sweep). */
static inline float
tanh_expf (float x)
{
  float x2 = x * x;
  float q = 2.0f / 15.0f - 17.0f / 315.0f * x2;
  float p = x * (1.0f + x2 * (-1.0f / 3.0f + x2 * q));
  float e = 1.0f - 2.0f / (1.0f + expf (2.0f * x));

  return fabsf (x) < 0.125f ? p : e;
}

/* h' = tanh(xp + hp).  The cache needs nothing beyond h' itself. */
static inline void
rnn_gates (int H, const float *xp, const float *hp, float *h_out)
{
  int j;

  for (j = 0; j < H; j++)
    h_out[j] = tanh_expf (xp[j] + hp[j]);
}

/* act (3H) ← r, z, n;  hn_out (H) ← W_hn h + b_hn (needed for dr). */
static inline void
gru_gates (int H, const float *xp, const float *hp, const float *h,
    float *h_out, float *act, float *hn_out)
{
  int j;

  for (j = 0; j < H; j++) {
    float r = sigmoidf (xp[j] + hp[j]);
    float z = sigmoidf (xp[H + j] + hp[H + j]);
    float hn = hp[2 * H + j];
    float n = tanh_expf (xp[2 * H + j] + r * hn);
    float hj = h[j];

    if (act != NULL) {
      act[j] = r;
      act[H + j] = z;
      act[2 * H + j] = n;
      hn_out[j] = hn;
    }
    h_out[j] = (1.0f - z) * n + z * hj;
  }
}

/* act (4H) ← i, f, g, o;  tc_out (H) ← tanh(c'). */
static inline void
lstm_gates (int H, const float *xp, const float *hp, const float *c,
    float *c_out, float *h_out, float *act, float *tc_out)
{
  int j;

  for (j = 0; j < H; j++) {
    float i = sigmoidf (xp[j] + hp[j]);
    float f = sigmoidf (xp[H + j] + hp[H + j]);
    float g = tanh_expf (xp[2 * H + j] + hp[2 * H + j]);
    float o = sigmoidf (xp[3 * H + j] + hp[3 * H + j]);
    float cn = f * c[j] + i * g;
    float tc = tanh_expf (cn);

    if (act != NULL) {
      act[j] = i;
      act[H + j] = f;
      act[2 * H + j] = g;
      act[3 * H + j] = o;
      tc_out[j] = tc;
    }
    c_out[j] = cn;
    h_out[j] = o * tc;
  }
}

void
ar_cell_step_gates (const ArCellWeights *w, const float *xproj,
    const float *hproj, float *h, float *c)
{
  int H;

  g_return_if_fail (w != NULL && xproj != NULL && hproj != NULL && h != NULL);
  g_return_if_fail (w->cell != AR_CELL_LSTM || c != NULL);

  H = w->n_hidden;
  switch (w->cell) {
    case AR_CELL_RNN:
      rnn_gates (H, xproj, hproj, h);
      break;
    case AR_CELL_GRU:
      gru_gates (H, xproj, hproj, h, h, NULL, NULL);
      break;
    case AR_CELL_LSTM:
      lstm_gates (H, xproj, hproj, c, c, h, NULL, NULL);
      break;
  }
}

void
ar_cell_step (const ArCellWeights *w, const float *xproj, float *h, float *c,
    float *scratch)
{
  g_return_if_fail (w != NULL && xproj != NULL && h != NULL && scratch != NULL);

  /* scratch (G*H) = W_hh h + b_hh */
  ar_matvec (scratch, w->w_hh, h, w->b_hh,
      (int) ar_cell_n_gates (w->cell) * w->n_hidden, w->n_hidden);
  ar_cell_step_gates (w, xproj, scratch, h, c);
}

/* ---- gate gradients (training only) ---------------------------------------
 * For one row: given the cached activations and d = dY_t + (gradient carried
 * from step t+1) with respect to h_t, write the pre-activation gate gradients
 * over the cache, as the hidden-to-hidden product sees them, and leave in dh
 * the part of dL/dh_{t-1} that does not go through W_hh.  All pointers are to
 * disjoint rows, hence restrict.  (GCC 12 at -O2 leaves these loops scalar,
 * as it does every loop of unknown trip count; they cost about 2% of a GRU
 * training step, so they are left plain.) */

static void
rnn_gates_backward (int H, const float *restrict h_out,
    const float *restrict dy, const float *restrict dh, float *restrict dpre)
{
  int j;

  for (j = 0; j < H; j++) {
    float y = h_out[j];

    dpre[j] = (dy[j] + dh[j]) * (1.0f - y * y);
  }
}

/* act (3H): r, z, n in, [dr_pre, dz_pre, dn_pre ⊙ r] out (the W_hh view);
 * aux (H): W_hn h + b_hn in, dn_pre out (the W_ih view of the n block);
 * dh (H): carried gradient in, z ⊙ d out. */
static void
gru_gates_backward (int H, float *restrict a_r, float *restrict a_z,
    float *restrict a_n, float *restrict aux, const float *restrict h_prev,
    const float *restrict dy, float *restrict dh)
{
  int j;

  for (j = 0; j < H; j++) {
    float r = a_r[j], z = a_z[j], n = a_n[j], hn = aux[j];
    float d = dy[j] + dh[j];
    float dn_pre = d * (1.0f - z) * (1.0f - n * n);
    float dz_pre = d * (h_prev[j] - n) * z * (1.0f - z);
    float dr_pre = dn_pre * hn * r * (1.0f - r);

    a_r[j] = dr_pre;
    a_z[j] = dz_pre;
    a_n[j] = dn_pre * r;
    aux[j] = dn_pre;
    dh[j] = d * z;
  }
}

/* act (4H): i, f, g, o in, [di, df, dg, do]_pre out;  tc (H): tanh(c_t);
 * dc (H): gradient w.r.t. c_t from step t+1 in, w.r.t. c_{t-1} out. */
static void
lstm_gates_backward (int H, float *restrict a_i, float *restrict a_f,
    float *restrict a_g, float *restrict a_o, const float *restrict tc,
    const float *restrict c_prev, const float *restrict dy,
    const float *restrict dh, float *restrict dc)
{
  int j;

  for (j = 0; j < H; j++) {
    float i = a_i[j], f = a_f[j], g = a_g[j], o = a_o[j], t = tc[j];
    float d = dy[j] + dh[j];
    float dcj = dc[j] + d * o * (1.0f - t * t);

    a_i[j] = dcj * g * i * (1.0f - i);
    a_f[j] = dcj * c_prev[j] * f * (1.0f - f);
    a_g[j] = dcj * i * (1.0f - g * g);
    a_o[j] = d * t * o * (1.0f - o);
    dc[j] = dcj * f;
  }
}

/* ---- the layer ------------------------------------------------------------ */

struct _ArRecurrent
{
  ArCellType cell;
  int n_in, n_hidden, n_gates;
  int max_T, max_B;
  ArParam *w_ih; /* (G*H, n_in) */
  ArParam *w_hh; /* (G*H, H) */
  ArParam *b_ih; /* (G*H) */
  ArParam *b_hh; /* (G*H) */

  /* The activation cache: one aligned block, carved below.  Rows are (t, b)
   * with t outermost, packed for the T and B of the last forward. */
  float *block;
  /* (max_T * max_B, G*H): W_ih x + b_ih, then the gate activations;
   * backward turns them into the gate gradients */
  float *gates;
  /* (max_T * max_B, H): GRU W_hn h + b_hn, LSTM tanh(c); unused for RNN */
  float *aux;
  float *hs; /* ((max_T + 1) * max_B, H): h_0 .. h_T */
  float *cs; /* ((max_T + 1) * max_B, H): c_0 .. c_T, LSTM only */
  float *hp; /* (max_B, G*H): W_hh h_{t-1} + b_hh of one step */
  float *dh; /* (max_B, H): gradient carried to h_{t-1} */
  float *dc; /* (max_B, H): gradient carried to c_{t-1}, LSTM */

  int T, B; /* of the last forward; 0 before the first */
  /* the cache holds that forward's activations (backward turns them into
   * gradients) */
  gboolean have_activations;
};

#define AR_ALIGN_FLOATS(n) (((n) + 15) & ~(gsize) 15)

ArRecurrent *
ar_recurrent_new (ArCellType cell, int n_in, int n_hidden, const char *prefix,
    int max_T, int max_B)
{
  ArRecurrent *l;
  guint64 ne[2];
  gsize GH, rows, off, sz_gates, sz_aux, sz_hs, sz_cs, sz_hp, sz_dh, sz_dc;
  char *name;
  float *p;

  g_return_val_if_fail ((guint) cell <= AR_CELL_LSTM, NULL);
  g_return_val_if_fail (n_in > 0 && n_hidden > 0 && max_T > 0 && max_B > 0,
      NULL);
  g_return_val_if_fail (prefix != NULL, NULL);
  /* Sizes below are products of these; keep them far from overflowing the
   * int indices handed to BLAS. */
  g_return_val_if_fail ((gint64) max_T * max_B < G_MAXINT / 4, NULL);
  g_return_val_if_fail ((gint64) 4 * n_hidden * MAX (n_in, n_hidden) < G_MAXINT,
      NULL);

  l = g_new0 (ArRecurrent, 1);
  l->cell = cell;
  l->n_in = n_in;
  l->n_hidden = n_hidden;
  l->n_gates = (int) ar_cell_n_gates (cell);
  l->max_T = max_T;
  l->max_B = max_B;
  GH = (gsize) l->n_gates * n_hidden;

  ne[0] = n_in;
  ne[1] = GH;
  name = g_strconcat (prefix, ".rnn_ih.weight", NULL);
  l->w_ih = ar_param_new (name, 2, ne);
  g_free (name);
  ne[0] = n_hidden;
  name = g_strconcat (prefix, ".rnn_hh.weight", NULL);
  l->w_hh = ar_param_new (name, 2, ne);
  g_free (name);
  ne[0] = GH;
  name = g_strconcat (prefix, ".rnn_ih.bias", NULL);
  l->b_ih = ar_param_new (name, 1, ne);
  g_free (name);
  name = g_strconcat (prefix, ".rnn_hh.bias", NULL);
  l->b_hh = ar_param_new (name, 1, ne);
  g_free (name);

  rows = (gsize) max_T * max_B;
  sz_gates = AR_ALIGN_FLOATS (rows * GH);
  sz_aux = cell == AR_CELL_RNN ? 0 : AR_ALIGN_FLOATS (rows * n_hidden);
  sz_hs = AR_ALIGN_FLOATS ((rows + max_B) * n_hidden);
  sz_cs = cell == AR_CELL_LSTM ? sz_hs : 0;
  sz_hp = AR_ALIGN_FLOATS ((gsize) max_B * GH);
  sz_dh = AR_ALIGN_FLOATS ((gsize) max_B * n_hidden);
  sz_dc = cell == AR_CELL_LSTM ? sz_dh : 0;
  l->block = g_aligned_alloc0 (sz_gates + sz_aux + sz_hs + sz_cs + sz_hp +
          sz_dh + sz_dc,
      sizeof (float), 64);
  p = l->block;
  off = 0;
  l->gates = p + off;
  off += sz_gates;
  l->aux = sz_aux ? p + off : NULL;
  off += sz_aux;
  l->hs = p + off;
  off += sz_hs;
  l->cs = sz_cs ? p + off : NULL;
  off += sz_cs;
  l->hp = p + off;
  off += sz_hp;
  l->dh = p + off;
  off += sz_dh;
  l->dc = sz_dc ? p + off : NULL;
  return l;
}

void
ar_recurrent_free (ArRecurrent *l)
{
  if (l == NULL)
    return;
  ar_param_free (l->w_ih);
  ar_param_free (l->w_hh);
  ar_param_free (l->b_ih);
  ar_param_free (l->b_hh);
  g_aligned_free (l->block);
  g_free (l);
}

void
ar_recurrent_init (ArRecurrent *l, ArRng *rng)
{
  float bound;

  g_return_if_fail (l != NULL && rng != NULL);

  /* PyTorch's nn.RNN/GRU/LSTM reset_parameters: every tensor, in the order
   * weight_ih, weight_hh, bias_ih, bias_hh. */
  bound = 1.0f / sqrtf ((float) l->n_hidden);
  ar_param_init_uniform (l->w_ih, rng, bound);
  ar_param_init_uniform (l->w_hh, rng, bound);
  ar_param_init_uniform (l->b_ih, rng, bound);
  ar_param_init_uniform (l->b_hh, rng, bound);
}

void
ar_recurrent_add_params (ArRecurrent *l, GPtrArray *params)
{
  g_return_if_fail (l != NULL && params != NULL);

  g_ptr_array_add (params, l->w_ih);
  g_ptr_array_add (params, l->w_hh);
  g_ptr_array_add (params, l->b_ih);
  g_ptr_array_add (params, l->b_hh);
}

ArParam *
ar_recurrent_get_param (ArRecurrent *l, guint i)
{
  g_return_val_if_fail (l != NULL && i < 4, NULL);

  switch (i) {
    case 0:
      return l->w_ih;
    case 1:
      return l->w_hh;
    case 2:
      return l->b_ih;
    default:
      return l->b_hh;
  }
}

ArCellWeights
ar_recurrent_weights (const ArRecurrent *l)
{
  ArCellWeights w = {
    0,
  };

  g_return_val_if_fail (l != NULL, w);

  w.cell = l->cell;
  w.n_in = l->n_in;
  w.n_hidden = l->n_hidden;
  w.w_ih = l->w_ih->w;
  w.w_hh = l->w_hh->w;
  w.b_ih = l->b_ih->w;
  w.b_hh = l->b_hh->w;
  return w;
}

/* M (rows, n) = v (n) broadcast to every row */
static void
fill_rows (float *M, const float *v, gsize rows, gsize n)
{
  gsize i;

  for (i = 0; i < rows; i++)
    memcpy (M + i * n, v, n * sizeof (float));
}

/* The element-wise work of one time step over a range of streams [begin,
 * end), in the form ar_nn_parallel_for wants.  Streams are independent, so
 * the split does not change any result. */
typedef struct
{
  ArRecurrent *l;
  int t, B;
  float *y_t;        /* forward: Y_t (B, H) */
  const float *dy_t; /* backward: dY_t (B, H) */
} StepRows;

/* Below this many floats of state per step (B * H) the helper threads cost
 * more than they save on the forward gate loops. */
#define AR_PARALLEL_MIN_STATE 4096

static void
run_rows (const StepRows *s, ArNnRangeFunc fn)
{
  if ((gsize) s->B * s->l->n_hidden >= AR_PARALLEL_MIN_STATE)
    ar_nn_parallel_for (s->B, fn, (gpointer) s);
  else
    fn ((gpointer) s, 0, s->B);
}

static void
forward_rows (gpointer data, int begin, int end)
{
  const StepRows *s = data;
  ArRecurrent *l = s->l;
  int H = l->n_hidden, GH = l->n_gates * H, t = s->t, b;
  gsize step = (gsize) s->B * H;
  const float *h_prev = l->hs + t * step;
  float *h_next = l->hs + (t + 1) * step;

  for (b = begin; b < end; b++) {
    gsize row = (gsize) t * s->B + b;
    float *act = l->gates + row * GH; /* W_ih x + b_ih in, activations out */
    const float *hp = l->hp + (gsize) b * GH;
    float *h_out = h_next + (gsize) b * H;

    switch (l->cell) {
      case AR_CELL_RNN:
        rnn_gates (H, act, hp, h_out);
        break;
      case AR_CELL_GRU:
        gru_gates (H, act, hp, h_prev + (gsize) b * H, h_out, act,
            l->aux + row * H);
        break;
      case AR_CELL_LSTM:
        lstm_gates (H, act, hp, l->cs + t * step + (gsize) b * H,
            l->cs + (t + 1) * step + (gsize) b * H, h_out, act,
            l->aux + row * H);
        break;
    }
    memcpy (s->y_t + (gsize) b * H, h_out, H * sizeof (float));
  }
}

static void
backward_rows (gpointer data, int begin, int end)
{
  const StepRows *s = data;
  ArRecurrent *l = s->l;
  int H = l->n_hidden, GH = l->n_gates * H, t = s->t, b;
  gsize step = (gsize) s->B * H;

  for (b = begin; b < end; b++) {
    gsize row = (gsize) t * s->B + b;
    float *a = l->gates + row * GH;
    float *dh = l->dh + (gsize) b * H;
    const float *dy = s->dy_t + (gsize) b * H;

    switch (l->cell) {
      case AR_CELL_RNN:
        rnn_gates_backward (H, l->hs + (t + 1) * step + (gsize) b * H, dy, dh,
            a);
        break;
      case AR_CELL_GRU:
        gru_gates_backward (H, a, a + H, a + 2 * H, l->aux + row * H,
            l->hs + t * step + (gsize) b * H, dy, dh);
        break;
      case AR_CELL_LSTM:
        lstm_gates_backward (H, a, a + H, a + 2 * H, a + 3 * H,
            l->aux + row * H, l->cs + t * step + (gsize) b * H, dy, dh,
            l->dc + (gsize) b * H);
        break;
    }
  }
}

void
ar_recurrent_forward (ArRecurrent *l, const float *X, const float *h0,
    const float *c0, float *Y, int T, int B)
{
  int H, GH, N, t;
  gsize step;
  StepRows rows = { l, 0, B, NULL, NULL };

  g_return_if_fail (l != NULL && X != NULL && Y != NULL);
  g_return_if_fail (T > 0 && T <= l->max_T && B > 0 && B <= l->max_B);

  H = l->n_hidden;
  GH = l->n_gates * H;
  N = T * B;
  step = (gsize) B * H; /* floats per time step of hs, cs, aux, Y */

  /* gates (N, G*H) = X (N, in) · W_ihᵀ + b_ih, for all steps at once */
  fill_rows (l->gates, l->b_ih->w, N, GH);
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, N, GH, l->n_in, 1.0f, X,
      l->n_in, l->w_ih->w, l->n_in, 1.0f, l->gates, GH);

  if (h0 != NULL)
    memcpy (l->hs, h0, step * sizeof (float));
  else
    memset (l->hs, 0, step * sizeof (float));
  if (l->cell == AR_CELL_LSTM) {
    if (c0 != NULL)
      memcpy (l->cs, c0, step * sizeof (float));
    else
      memset (l->cs, 0, step * sizeof (float));
  }

  for (t = 0; t < T; t++) {
    const float *h_prev = l->hs + t * step;

    /* hp (B, G*H) = h_{t-1} (B, H) · W_hhᵀ + b_hh; a zero h_0 needs no product */
    fill_rows (l->hp, l->b_hh->w, B, GH);
    if (t > 0 || h0 != NULL)
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, B, GH, H, 1.0f,
          h_prev, H, l->w_hh->w, H, 1.0f, l->hp, GH);

    rows.t = t;
    rows.y_t = Y + t * step;
    run_rows (&rows, forward_rows);
  }
  l->T = T;
  l->B = B;
  l->have_activations = TRUE;
}

const float *
ar_recurrent_final_h (const ArRecurrent *l)
{
  g_return_val_if_fail (l != NULL && l->T > 0, NULL);

  return l->hs + (gsize) l->T * l->B * l->n_hidden;
}

const float *
ar_recurrent_final_c (const ArRecurrent *l)
{
  g_return_val_if_fail (l != NULL && l->T > 0, NULL);

  if (l->cell != AR_CELL_LSTM)
    return NULL;
  return l->cs + (gsize) l->T * l->B * l->n_hidden;
}

/* g (n) += column sums of M (rows, n) */
static void
add_column_sums (float *restrict g, const float *restrict M, gsize rows,
    gsize n)
{
  gsize i, j;

  for (i = 0; i < rows; i++) {
    const float *row = M + i * n;

    for (j = 0; j < n; j++)
      g[j] += row[j];
  }
}

void
ar_recurrent_backward (ArRecurrent *l, const float *X, const float *dY,
    float *dX, int T, int B)
{
  int H, GH, N, t;
  gsize step;
  StepRows rows = { l, 0, B, NULL, NULL };

  g_return_if_fail (l != NULL && X != NULL && dY != NULL);
  /* Backward consumes the cache of the forward just before it, with the same
   * T and B. */
  g_return_if_fail (l->have_activations && l->T == T && l->B == B);

  H = l->n_hidden;
  GH = l->n_gates * H;
  N = T * B;
  step = (gsize) B * H;

  memset (l->dh, 0, step * sizeof (float));
  if (l->cell == AR_CELL_LSTM)
    memset (l->dc, 0, step * sizeof (float));

  for (t = T - 1; t >= 0; t--) {
    rows.t = t;
    rows.dy_t = dY + t * step;
    /* In the calling thread: without transcendentals a step's gradient
     * loop is too short (about 0.1 ms for B = 32, H = 512) for the hand-off
     * to the helpers to pay; measured, splitting it gained nothing. */
    backward_rows (&rows, 0, B);

    /* dh (B, H) [+]= dG_t (B, G*H) · W_hh (G*H, H); the GRU keeps its direct
     * z ⊙ d term, the others are overwritten.  Truncated at h_0. */
    if (t > 0)
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, B, H, GH, 1.0f,
          l->gates + (gsize) t * B * GH, GH, l->w_hh->w, H,
          l->cell == AR_CELL_GRU ? 1.0f : 0.0f, l->dh, H);
  }

  /* dW_hh (G*H, H) += dGᵀ (G*H, N) · H_prev (N, H), H_prev = h_0 .. h_{T-1} */
  cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, GH, H, N, 1.0f,
      l->gates, GH, l->hs, H, 1.0f, l->w_hh->g, H);
  add_column_sums (l->b_hh->g, l->gates, N, GH);

  /* The GRU's n block differs between the two products: W_hn h is scaled by r
   * inside the tanh, W_in x is not.  Switch the cache to the W_ih view. */
  if (l->cell == AR_CELL_GRU) {
    for (t = 0; t < N; t++)
      memcpy (l->gates + (gsize) t * GH + 2 * H, l->aux + (gsize) t * H,
          H * sizeof (float));
  }

  /* dW_ih (G*H, in) += dGᵀ (G*H, N) · X (N, in) */
  cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, GH, l->n_in, N, 1.0f,
      l->gates, GH, X, l->n_in, 1.0f, l->w_ih->g, l->n_in);
  add_column_sums (l->b_ih->g, l->gates, N, GH);

  /* dX (N, in) = dG (N, G*H) · W_ih (G*H, in) */
  if (dX != NULL)
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, N, l->n_in, GH,
        1.0f, l->gates, GH, l->w_ih->w, l->n_in, 0.0f, dX, l->n_in);

  /* The cache now holds gradients, not activations; h and c are intact, so
   * final_h and final_c stay valid. */
  l->have_activations = FALSE;
}
