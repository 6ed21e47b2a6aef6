/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-pixelcnn-train.c — the PixelCNN training graph and image task
 * (ar-pixelcnn-train.h).
 *
 * Every convolution is a matrix product: the windows of all positions of a
 * micro-batch are gathered into rows (im2col, taps in the model file's
 * order), multiplied by the weight matrix (out, taps · Cin) with sgemm, and
 * in the backward pass the rows' gradients are scattered back (col2im).
 * The 1 × 1 convolutions (link, residual, output) are plain products over
 * the positions.  Activations are kept per micro-batch in the work space of
 * the thread running it; the windows are gathered again in the backward
 * pass rather than kept (gathering is cheap next to the products). */
#include "pixelcnn/ar-pixelcnn-train.h"
#include "core/ar-error.h"
#include "core/ar-kernels.h"
#include "core/ar-threadpool.h"
#include "core/ar-workspaces.h"
#include "pixelcnn/ar-pixelcnn-private.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* Parameter indices of a layer (−1: absent). */
typedef struct
{
  int v_w, v_b, h_w, h_b, vh_w, res_w, res_b, cv, ch;
} LayerIdx;

/* Activations and gradients of one micro-batch (NB = AR_PIXELCNN_MICROBATCH
 * · H · W positions, rows (image, row, column)). */
typedef struct
{
  float *store;
  float *u;           /* (NB) inputs */
  float **zv, **zh;   /* (L) × (NB, 2C) pre-activations */
  float **tsv, **tsh; /* (L) × (NB, 2C) their gates' [tanh | σ] */
  float **hin;        /* (L + 1) × (NB, C): hin[l] = hˡ, l = 1 … L */
  float **vin;        /* (L) × (NB, C): vin[l] = vˡ, l = 1 … L−1 */
  float **g;          /* (L) × (NB, C): gate (zhˡ), l >= 1 */
  float *a;           /* (NB, C) relu (hᴸ) */
  float *o1;          /* (NB, O) */
  float *logits;      /* (NB, Q); the backward pass turns it into dlogits */
  float *col, *dcol;  /* (NB, max taps) */
  float *dz, *dz2;    /* (NB, 2C) */
  float *dg, *dh, *dh2, *dv, *da; /* (NB, C) */
  float *do1;                     /* (NB, O) */
} Work;

struct _ArPixelCnnTrain
{
  ArPixelCnnConfig c;
  int H, W, HW, C, C2, L, Q, O, N;
  GPtrArray *params; /* owned */
  LayerIdx *li;      /* (L) */
  int o1_w, o1_b, o2_w, o2_b;
  int max_B, n_threads, max_tasks;
  ArThreadPool *pool;
  gsize *offset;     /* (params) offset of each gradient in a copy */
  gsize total;       /* floats of a gradient copy */
  float *gcopy;      /* (max_tasks, total) */
  double *task_loss; /* (max_tasks) */
  ArWorkspaces *ws; /* of Work, one per thread running tasks */

  /* the call being run */
  const guint8 *images;
  const gint32 *classes;
  int B;
  gboolean backward;
  float *logits_out;
};

/* ---- parameters -------------------------------------------------------------- */

static int
add_param (ArPixelCnnTrain *t, const char *name, guint n_dims, guint64 cols,
    guint64 rows, gboolean decay)
{
  guint64 ne[2] = { cols, rows };
  ArParam *p = ar_param_new (name, n_dims, ne);

  p->decay = decay;
  g_ptr_array_add (t->params, p);
  return t->params->len - 1;
}

static int
taps_v (const ArPixelCnnConfig *c, int l)
{
  return l == 0 ? (c->first_kernel / 2 + 1) * c->first_kernel
                : (c->kernel / 2 + 1) * c->kernel * c->features;
}

static int
taps_h (const ArPixelCnnConfig *c, int l)
{
  return l == 0 ? c->first_kernel / 2 : (c->kernel / 2 + 1) * c->features;
}

static void
make_params (ArPixelCnnTrain *t)
{
  const ArPixelCnnConfig *c = &t->c;
  char name[64];

  for (int l = 0; l < t->L; l++) {
    LayerIdx *li = &t->li[l];
#define P(field, suffix, nd, cols, rows, decay)                                \
  do {                                                                         \
    g_snprintf (name, sizeof name, "layer.%d.%s", l, suffix);                  \
    li->field = add_param (t, name, nd, cols, rows, decay);                    \
  } while (0)
    P (v_w, "v.weight", 2, taps_v (c, l), t->C2, TRUE);
    P (v_b, "v.bias", 1, t->C2, 1, FALSE);
    P (h_w, "h.weight", 2, taps_h (c, l), t->C2, TRUE);
    P (h_b, "h.bias", 1, t->C2, 1, FALSE);
    P (vh_w, "vh.weight", 2, t->C2, t->C2, TRUE);
    li->res_w = li->res_b = li->cv = li->ch = -1;
    if (l > 0) {
      P (res_w, "res.weight", 2, t->C, t->C, TRUE);
      P (res_b, "res.bias", 1, t->C, 1, FALSE);
    }
    if (t->N > 0) {
      P (cv, "cv.weight", 2, t->C2, t->N, FALSE);
      P (ch, "ch.weight", 2, t->C2, t->N, FALSE);
    }
#undef P
  }
  t->o1_w = add_param (t, "out1.weight", 2, t->C, t->O, TRUE);
  t->o1_b = add_param (t, "out1.bias", 1, t->O, 1, FALSE);
  t->o2_w = add_param (t, "out2.weight", 2, t->O, t->Q, TRUE);
  t->o2_b = add_param (t, "out2.bias", 1, t->Q, 1, FALSE);
}

static inline ArParam *
par (const ArPixelCnnTrain *t, int i)
{
  return g_ptr_array_index (t->params, i);
}

/* ---- work spaces ------------------------------------------------------------- */

static gpointer
work_new (gpointer data)
{
  const ArPixelCnnTrain *t = data;
  gsize NB = (gsize) AR_PIXELCNN_MICROBATCH * t->HW;
  gsize C = t->C, C2 = t->C2, L = t->L;
  gsize taps =
      MAX (MAX (taps_v (&t->c, 0), taps_v (&t->c, 1)), taps_h (&t->c, 1));
  gsize n = NB *
      (1 + L * 4 * C2 + (L + 1) * C + L * C + L * C + C + t->O + t->Q +
          2 * taps + 2 * C2 + 5 * C + t->O);
  Work *w = g_new0 (Work, 1);
  float *p;

  w->store = p = g_new0 (float, n);
#define TAKE(count) (p += (count), p - (count))
  w->u = TAKE (NB);
  w->zv = g_new0 (float *, L);
  w->zh = g_new0 (float *, L);
  w->tsv = g_new0 (float *, L);
  w->tsh = g_new0 (float *, L);
  w->hin = g_new0 (float *, L + 1);
  w->vin = g_new0 (float *, L);
  w->g = g_new0 (float *, L);
  for (gsize l = 0; l < L; l++) {
    w->zv[l] = TAKE (NB * C2);
    w->zh[l] = TAKE (NB * C2);
    w->tsv[l] = TAKE (NB * C2);
    w->tsh[l] = TAKE (NB * C2);
    w->vin[l] = TAKE (NB * C);
    w->g[l] = TAKE (NB * C);
  }
  for (gsize l = 0; l <= L; l++)
    w->hin[l] = TAKE (NB * C);
  w->a = TAKE (NB * C);
  w->o1 = TAKE (NB * t->O);
  w->logits = TAKE (NB * t->Q);
  w->col = TAKE (NB * taps);
  w->dcol = TAKE (NB * taps);
  w->dz = TAKE (NB * C2);
  w->dz2 = TAKE (NB * C2);
  w->dg = TAKE (NB * C);
  w->dh = TAKE (NB * C);
  w->dh2 = TAKE (NB * C);
  w->dv = TAKE (NB * C);
  w->da = TAKE (NB * C);
  w->do1 = TAKE (NB * t->O);
#undef TAKE
  g_assert ((gsize) (p - w->store) <= n);
  return w;
}

static void
work_free (gpointer data)
{
  Work *w = data;

  if (w == NULL)
    return;
  g_free (w->store);
  g_free (w->zv);
  g_free (w->zh);
  g_free (w->tsv);
  g_free (w->tsh);
  g_free (w->hin);
  g_free (w->vin);
  g_free (w->g);
  g_free (w);
}

/* ---- life cycle ---------------------------------------------------------------- */

ArPixelCnnTrain *
ar_pixelcnn_train_new (const ArPixelCnnConfig *config, int max_B, int n_threads)
{
  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (ar_pixelcnn_config_check (config, NULL), NULL);
  g_return_val_if_fail (max_B >= 1, NULL);
  g_return_val_if_fail (n_threads >= 0 && n_threads <= AR_PIXELCNN_MAX_THREADS,
      NULL);
  ArPixelCnnTrain *t = g_new0 (ArPixelCnnTrain, 1);

  t->c = *config;
  t->H = config->height;
  t->W = config->width;
  t->HW = t->H * t->W;
  t->C = config->features;
  t->C2 = 2 * t->C;
  t->L = config->layers;
  t->Q = config->levels;
  t->O = config->output_hidden;
  t->N = config->classes;
  t->params = g_ptr_array_new_with_free_func ((GDestroyNotify) ar_param_free);
  t->li = g_new0 (LayerIdx, t->L);
  make_params (t);
  t->max_B = max_B;
  t->max_tasks = (max_B + AR_PIXELCNN_MICROBATCH - 1) / AR_PIXELCNN_MICROBATCH;
  if (n_threads == 0)
    n_threads = MIN ((int) g_get_num_processors (), AR_PIXELCNN_MAX_THREADS);
  t->n_threads = MAX (1, MIN (n_threads, t->max_tasks));
  if (t->n_threads > 1)
    t->pool = ar_threadpool_new (t->n_threads);
  t->offset = g_new0 (gsize, t->params->len);
  for (guint i = 0; i < t->params->len; i++) {
    t->offset[i] = t->total;
    t->total += par (t, i)->n;
  }
  t->gcopy = g_new0 (float, t->total * t->max_tasks);
  t->task_loss = g_new0 (double, t->max_tasks);
  t->ws = ar_workspaces_new (work_new, work_free, t);
  return t;
}

void
ar_pixelcnn_train_free (ArPixelCnnTrain *t)
{
  if (t == NULL)
    return;
  ar_threadpool_free (t->pool);
  ar_workspaces_free (t->ws);
  g_ptr_array_unref (t->params);
  g_free (t->li);
  g_free (t->offset);
  g_free (t->gcopy);
  g_free (t->task_loss);
  g_free (t);
}

void
ar_pixelcnn_train_init (ArPixelCnnTrain *t, ArRng *rng)
{
  g_return_if_fail (t != NULL && rng != NULL);
  for (guint i = 0; i < t->params->len; i++) {
    ArParam *p = par (t, i);
    const char *dot = strrchr (p->name, '.');

    if (p->n_dims < 2 || strcmp (dot, ".weight") != 0 ||
        g_str_has_suffix (p->name, ".cv.weight") ||
        g_str_has_suffix (p->name, ".ch.weight")) {
      memset (p->w, 0, p->n * sizeof (float));
      continue;
    }
    float std = 1.0f / sqrtf ((float) p->ne[0]);
    if (g_str_has_suffix (p->name, ".res.weight"))
      std *= 0.1f;
    ar_param_init_normal (p, rng, std);
  }
}

GPtrArray *
ar_pixelcnn_train_get_params (ArPixelCnnTrain *t)
{
  g_return_val_if_fail (t != NULL, NULL);
  return t->params;
}

const ArPixelCnnConfig *
ar_pixelcnn_train_get_config (const ArPixelCnnTrain *t)
{
  g_return_val_if_fail (t != NULL, NULL);
  return &t->c;
}

int
ar_pixelcnn_train_get_n_threads (const ArPixelCnnTrain *t)
{
  g_return_val_if_fail (t != NULL, 0);
  return t->n_threads;
}

/* ---- kernels -------------------------------------------------------------------- */

/* Y (N, out) += X (N, in) · Wᵀ, W (out, in) */
static void
gemm_fwd (float *Y, const float *X, const float *W, int N, int out, int in)
{
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, N, out, in, 1.0f, X, in,
      W, in, 1.0f, Y, out);
}

/* dW (out, in) += dYᵀ · X; dX (N, in) = dY · W (+= when @acc), unless NULL */
static void
gemm_bwd (const float *dY, const float *X, const float *W, float *dW, float *dX,
    gboolean acc, int N, int out, int in)
{
  cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, out, in, N, 1.0f, dY,
      out, X, in, 1.0f, dW, in);
  if (dX != NULL)
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, N, in, out, 1.0f,
        dY, out, W, in, acc ? 1.0f : 0.0f, dX, in);
}

/* Every row of Y (nb · HW, n) = b (n) [+ table[cls[image]] (N, n)]. */
static void
fill_bias (float *Y, int nb, int HW, int n, const float *b, const float *table,
    const gint32 *cls)
{
  for (int i = 0; i < nb; i++) {
    float *row0 = Y + (gsize) i * HW * n;

    for (int k = 0; k < n; k++)
      row0[k] = b[k] + (table != NULL ? table[(gsize) cls[i] * n + k] : 0.0f);
    for (int p = 1; p < HW; p++)
      memcpy (row0 + (gsize) p * n, row0, n * sizeof (float));
  }
}

/* db (n) += Σ rows of dY; dtable[cls[image]] += Σ of the image's rows. */
static void
bias_bwd (const float *dY, int nb, int HW, int n, float *db, float *dtable,
    const gint32 *cls)
{
  for (int i = 0; i < nb; i++) {
    for (int p = 0; p < HW; p++) {
      const float *row = dY + ((gsize) i * HW + p) * n;
      for (int k = 0; k < n; k++)
        db[k] += row[k];
      if (dtable != NULL) {
        float *d = dtable + (gsize) cls[i] * n;
        for (int k = 0; k < n; k++)
          d[k] += row[k];
      }
    }
  }
}

/* The windows of src (nb, H, W, Cin): row (i, r, c) of col holds taps
 * (rr, cc) for rr = r + dr0 … r + dr0 + nr − 1 (outer), cc = c + dc0 … c +
 * dc0 + nc − 1, each Cin channels; zero outside the image.  With @scatter,
 * the transpose: src += the rows of col at their taps. */
static void
im2col (float *col, float *src, int nb, int H, int W, int Cin, int dr0, int nr,
    int dc0, int nc, gboolean scatter)
{
  gsize T = (gsize) nr * nc * Cin;

  for (int i = 0; i < nb; i++)
    for (int r = 0; r < H; r++)
      for (int c = 0; c < W; c++) {
        float *row = col + (((gsize) i * H + r) * W + c) * T;
        for (int a = 0; a < nr; a++) {
          int rr = r + dr0 + a;
          for (int b = 0; b < nc; b++, row += Cin) {
            int cc = c + dc0 + b;
            if (rr < 0 || rr >= H || cc < 0 || cc >= W) {
              if (!scatter)
                memset (row, 0, Cin * sizeof (float));
              continue;
            }
            float *s = src + (((gsize) i * H + rr) * W + cc) * Cin;
            if (scatter)
              for (int k = 0; k < Cin; k++)
                s[k] += row[k];
            else
              memcpy (row, s, Cin * sizeof (float));
          }
        }
      }
}

/* g (N, C) = gate (z (N, 2C)); ts (N, 2C) keeps [tanh | σ] of each row */
static void
gate_fwd (float *g, float *ts, const float *z, gsize N, int C)
{
  for (gsize i = 0; i < N; i++)
    ar_pixelcnn_gate (g + i * C, ts + i * 2 * C, z + i * 2 * C, C);
}

/* dz (N, 2C) = the gradient of gate's input from dg (N, C) and ts */
static void
gate_bwd (float *dz, const float *ts, const float *dg, gsize N, int C)
{
  for (gsize i = 0; i < N; i++, dz += 2 * C, ts += 2 * C, dg += C)
    for (int k = 0; k < C; k++) {
      float th = ts[k], s = ts[C + k];
      dz[k] = dg[k] * s * (1.0f - th * th);
      dz[C + k] = dg[k] * th * s * (1.0f - s);
    }
}

/* ---- forward and backward of one micro-batch ------------------------------------- */

static inline float *
G (ArPixelCnnTrain *t, float *copy, int i)
{
  return copy + t->offset[i];
}

/* Images [b0, b0 + nb) of the call: forward, the loss summed into the
 * returned double, and with t->backward the gradients into @grad. */
static double
micro_batch (ArPixelCnnTrain *t, Work *w, int b0, int nb, float *grad)
{
  const ArPixelCnnConfig *c = &t->c;
  int H = t->H, W = t->W, HW = t->HW, C = t->C, C2 = t->C2, L = t->L;
  int Q = t->Q, O = t->O;
  int P0 = c->first_kernel / 2, K0 = c->first_kernel;
  int P = c->kernel / 2, K = c->kernel;
  gsize NB = (gsize) nb * HW;
  const guint8 *img = t->images + (gsize) b0 * HW;
  const gint32 *cls = t->N > 0 ? t->classes + b0 : NULL;
  double loss = 0.0;

#define W_(i) (par (t, (i))->w)
#define TAB(i) ((i) >= 0 ? W_ (i) : NULL)
  for (gsize p = 0; p < NB; p++)
    w->u[p] = 2.0f * ar_pixelcnn_value_to_level (Q, img[p]) / (Q - 1) - 1.0f;

  /* ---- forward ---- */
  for (int l = 0; l < L; l++) {
    const LayerIdx *li = &t->li[l];
    int Tv = taps_v (c, l), Th = taps_h (c, l);
    float *hout = w->hin[l + 1];

    fill_bias (w->zv[l], nb, HW, C2, W_ (li->v_b), TAB (li->cv), cls);
    if (l == 0)
      im2col (w->col, w->u, nb, H, W, 1, -P0 - 1, P0 + 1, -P0, K0, FALSE);
    else
      im2col (w->col, w->vin[l], nb, H, W, C, -P, P + 1, -P, K, FALSE);
    gemm_fwd (w->zv[l], w->col, W_ (li->v_w), NB, C2, Tv);
    if (l + 1 < L)
      gate_fwd (w->vin[l + 1], w->tsv[l], w->zv[l], NB, C);

    fill_bias (w->zh[l], nb, HW, C2, W_ (li->h_b), TAB (li->ch), cls);
    if (l == 0)
      im2col (w->col, w->u, nb, H, W, 1, 0, 1, -P0, P0, FALSE);
    else
      im2col (w->col, w->hin[l], nb, H, W, C, 0, 1, -P, P + 1, FALSE);
    gemm_fwd (w->zh[l], w->col, W_ (li->h_w), NB, C2, Th);
    gemm_fwd (w->zh[l], w->zv[l], W_ (li->vh_w), NB, C2, C2);
    if (l == 0) {
      gate_fwd (hout, w->tsh[0], w->zh[0], NB, C);
    } else {
      gate_fwd (w->g[l], w->tsh[l], w->zh[l], NB, C);
      fill_bias (hout, nb, HW, C, W_ (li->res_b), NULL, NULL);
      ar_nn_add (hout, w->hin[l], NB * C);
      gemm_fwd (hout, w->g[l], W_ (li->res_w), NB, C, C);
    }
  }
  const float *hL = w->hin[L];
  for (gsize k = 0; k < NB * C; k++)
    w->a[k] = hL[k] > 0.0f ? hL[k] : 0.0f;
  fill_bias (w->o1, nb, HW, O, W_ (t->o1_b), NULL, NULL);
  gemm_fwd (w->o1, w->a, W_ (t->o1_w), NB, O, C);
  for (gsize k = 0; k < NB * O; k++)
    w->o1[k] = w->o1[k] > 0.0f ? w->o1[k] : 0.0f;
  fill_bias (w->logits, nb, HW, Q, W_ (t->o2_b), NULL, NULL);
  gemm_fwd (w->logits, w->o1, W_ (t->o2_w), NB, Q, O);
  if (t->logits_out != NULL)
    memcpy (t->logits_out + (gsize) b0 * HW * Q, w->logits,
        NB * Q * sizeof (float));

  /* loss, and the logits' gradient in place: (softmax − one-hot) / (B HW);
   * the exponentials by the SIMD kernel (ar_exp_shift_sum) */
  float scale = 1.0f / ((float) t->B * HW);
  for (gsize p = 0; p < NB; p++) {
    float *l = w->logits + p * Q;
    int x = ar_pixelcnn_value_to_level (Q, img[p]);
    float mx = l[0], lx = l[x];

    for (int q = 1; q < Q; q++)
      mx = MAX (mx, l[q]);
    float s = ar_exp_shift_sum (l, mx, Q);
    loss += log (s) + mx - lx;
    if (t->backward) {
      float f = scale / s;
      for (int q = 0; q < Q; q++)
        l[q] *= f;
      l[x] -= scale;
    }
  }
  if (!t->backward)
    return loss;

  /* ---- backward ---- */
  float *dlog = w->logits;
  gemm_bwd (dlog, w->o1, W_ (t->o2_w), G (t, grad, t->o2_w), w->do1, FALSE, NB,
      Q, O);
  bias_bwd (dlog, nb, HW, Q, G (t, grad, t->o2_b), NULL, NULL);
  for (gsize k = 0; k < NB * O; k++)
    if (!(w->o1[k] > 0.0f))
      w->do1[k] = 0.0f;
  gemm_bwd (w->do1, w->a, W_ (t->o1_w), G (t, grad, t->o1_w), w->da, FALSE, NB,
      O, C);
  bias_bwd (w->do1, nb, HW, O, G (t, grad, t->o1_b), NULL, NULL);
  float *dh = w->dh, *dh2 = w->dh2;
  for (gsize k = 0; k < NB * C; k++)
    dh[k] = hL[k] > 0.0f ? w->da[k] : 0.0f;

  gboolean have_dv = FALSE; /* dv holds d vˡ⁺¹ (none above the last layer) */
  for (int l = L - 1; l >= 0; l--) {
    const LayerIdx *li = &t->li[l];
    int Tv = taps_v (c, l), Th = taps_h (c, l);
    float *dtab_h = li->ch >= 0 ? G (t, grad, li->ch) : NULL;
    float *dtab_v = li->cv >= 0 ? G (t, grad, li->cv) : NULL;

    /* horizontal: dh = d hˡ⁺¹ → dz = d zhˡ, dh2 = d hˡ (l >= 1) */
    if (l == 0) {
      gate_bwd (w->dz, w->tsh[0], dh, NB, C);
    } else {
      gemm_bwd (dh, w->g[l], W_ (li->res_w), G (t, grad, li->res_w), w->dg,
          FALSE, NB, C, C);
      bias_bwd (dh, nb, HW, C, G (t, grad, li->res_b), NULL, NULL);
      gate_bwd (w->dz, w->tsh[l], w->dg, NB, C);
    }
    bias_bwd (w->dz, nb, HW, C2, G (t, grad, li->h_b), dtab_h, cls);
    if (l == 0) {
      im2col (w->col, w->u, nb, H, W, 1, 0, 1, -P0, P0, FALSE);
      gemm_bwd (w->dz, w->col, W_ (li->h_w), G (t, grad, li->h_w), NULL, FALSE,
          NB, C2, Th);
    } else {
      im2col (w->col, w->hin[l], nb, H, W, C, 0, 1, -P, P + 1, FALSE);
      gemm_bwd (w->dz, w->col, W_ (li->h_w), G (t, grad, li->h_w), w->dcol,
          FALSE, NB, C2, Th);
      memcpy (dh2, dh, NB * C * sizeof (float)); /* the residual path */
      im2col (w->dcol, dh2, nb, H, W, C, 0, 1, -P, P + 1, TRUE);
    }
    /* the link: dz2 = d zvˡ */
    gemm_bwd (w->dz, w->zv[l], W_ (li->vh_w), G (t, grad, li->vh_w), w->dz2,
        FALSE, NB, C2, C2);
    if (have_dv) {
      gate_bwd (w->dz, w->tsv[l], w->dv, NB, C);
      ar_nn_add (w->dz2, w->dz, NB * C2);
    }
    /* vertical */
    bias_bwd (w->dz2, nb, HW, C2, G (t, grad, li->v_b), dtab_v, cls);
    if (l == 0) {
      im2col (w->col, w->u, nb, H, W, 1, -P0 - 1, P0 + 1, -P0, K0, FALSE);
      gemm_bwd (w->dz2, w->col, W_ (li->v_w), G (t, grad, li->v_w), NULL, FALSE,
          NB, C2, Tv);
    } else {
      im2col (w->col, w->vin[l], nb, H, W, C, -P, P + 1, -P, K, FALSE);
      gemm_bwd (w->dz2, w->col, W_ (li->v_w), G (t, grad, li->v_w), w->dcol,
          FALSE, NB, C2, Tv);
      memset (w->dv, 0, NB * C * sizeof (float));
      im2col (w->dcol, w->dv, nb, H, W, C, -P, P + 1, -P, K, TRUE);
      have_dv = TRUE;
    }
    float *tmp = dh;
    dh = dh2;
    dh2 = tmp;
  }
#undef W_
#undef TAB
  return loss;
}

static void
run_task (gpointer data, guint k)
{
  ArPixelCnnTrain *t = data;
  int b0 = k * AR_PIXELCNN_MICROBATCH;
  int nb = MIN (AR_PIXELCNN_MICROBATCH, t->B - b0);
  float *grad = t->gcopy + (gsize) k * t->total;
  Work *w = ar_workspaces_claim (t->ws);

  if (t->backward)
    memset (grad, 0, t->total * sizeof (float));
  t->task_loss[k] = micro_batch (t, w, b0, nb, grad);
  ar_workspaces_release (t->ws, w);
}

/* Parameter @i's gradient += the tasks' copies, in task order. */
static void
reduce_param (gpointer data, guint i)
{
  ArPixelCnnTrain *t = data;
  ArParam *p = par (t, i);
  int n_tasks = (t->B + AR_PIXELCNN_MICROBATCH - 1) / AR_PIXELCNN_MICROBATCH;

  for (int k = 0; k < n_tasks; k++)
    ar_nn_add (p->g, t->gcopy + (gsize) k * t->total + t->offset[i], p->n);
}

static double
run (ArPixelCnnTrain *t, const guint8 *images, const gint32 *classes, int B,
    gboolean backward, float *logits)
{
  int n_tasks = (B + AR_PIXELCNN_MICROBATCH - 1) / AR_PIXELCNN_MICROBATCH;
  double total = 0.0;

  for (int i = 0; t->N > 0 && i < B; i++)
    g_return_val_if_fail (classes[i] >= 0 && classes[i] < t->N, NAN);
  t->images = images;
  t->classes = classes;
  t->B = B;
  t->backward = backward;
  t->logits_out = logits;
  /* one OpenBLAS thread: ours share the processors, and its split of a
   * product would make the rounding depend on its thread count */
  int blas_threads = openblas_get_num_threads ();
  if (blas_threads != 1)
    openblas_set_num_threads (1);
  if (t->pool != NULL)
    ar_threadpool_run (t->pool, n_tasks, run_task, t);
  else
    for (int k = 0; k < n_tasks; k++)
      run_task (t, k);
  if (backward) {
    if (t->pool != NULL)
      ar_threadpool_run (t->pool, t->params->len, reduce_param, t);
    else
      for (guint i = 0; i < t->params->len; i++)
        reduce_param (t, i);
  }
  if (blas_threads != 1)
    openblas_set_num_threads (blas_threads);
  for (int k = 0; k < n_tasks; k++)
    total += t->task_loss[k];
  t->logits_out = NULL;
  return total;
}

float
ar_pixelcnn_train_forward (ArPixelCnnTrain *t, const guint8 *images,
    const gint32 *classes, int B, gboolean backward)
{
  g_return_val_if_fail (t != NULL && images != NULL, NAN);
  g_return_val_if_fail (B >= 1 && B <= t->max_B, NAN);
  g_return_val_if_fail (t->N == 0 || classes != NULL, NAN);
  return (float) (run (t, images, classes, B, backward, NULL) /
      ((double) B * t->HW));
}

double
ar_pixelcnn_train_nll_sum (ArPixelCnnTrain *t, const guint8 *images,
    const gint32 *classes, int B)
{
  g_return_val_if_fail (t != NULL && images != NULL, NAN);
  g_return_val_if_fail (B >= 1 && B <= t->max_B, NAN);
  g_return_val_if_fail (t->N == 0 || classes != NULL, NAN);
  return run (t, images, classes, B, FALSE, NULL);
}

void
ar_pixelcnn_train_logits (ArPixelCnnTrain *t, const guint8 *images,
    const gint32 *classes, int B, float *logits)
{
  g_return_if_fail (t != NULL && images != NULL && logits != NULL);
  g_return_if_fail (B >= 1 && B <= t->max_B);
  g_return_if_fail (t->N == 0 || classes != NULL);
  run (t, images, classes, B, FALSE, logits);
}

void
ar_pixelcnn_train_write (ArPixelCnnTrain *t, const char *const *names,
    ArGgufWriter *w)
{
  g_return_if_fail (t != NULL && w != NULL);
  ar_pixelcnn_config_write (&t->c, names, w);
  for (guint i = 0; i < t->params->len; i++) {
    ArParam *p = par (t, i);
    ar_gguf_writer_add_tensor_f32 (w, p->name, AR_TENSOR_F32, p->n_dims, p->ne,
        p->w);
  }
}

gboolean
ar_pixelcnn_train_load_weights (ArPixelCnnTrain *t, const ArGguf *gguf,
    GError **error)
{
  ArPixelCnnConfig c;

  g_return_val_if_fail (t != NULL && gguf != NULL, FALSE);
  if (!ar_pixelcnn_config_from_gguf (&c, gguf, error))
    return FALSE;
  if (memcmp (&c, &t->c, sizeof c) != 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: the model's shape differs from the training graph's",
        ar_gguf_get_name (gguf));
    return FALSE;
  }
  for (guint i = 0; i < t->params->len; i++) {
    ArParam *p = par (t, i);
    const ArGgufTensor *tensor =
        ar_gguf_require_tensor (gguf, p->name, p->n_dims, p->ne, error);

    if (tensor == NULL)
      return FALSE;
    if (tensor->type != AR_TENSOR_F32 && tensor->type != AR_TENSOR_F16) {
      g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
          "%s: tensor '%s' is %s; expected F32 or F16", ar_gguf_get_name (gguf),
          p->name, ar_tensor_type_name (tensor->type));
      return FALSE;
    }
    ar_gguf_tensor_to_f32 (tensor, p->w);
  }
  return TRUE;
}

/* ---- the image task ------------------------------------------------------------------ */

struct _ArPixelCnnTask
{
  ArPixelCnnTrain *net;
  const ArImageSet *train, *test;
  char **names;
  int B, eval_images;
  guint8 *batch;  /* (B, H, W) */
  gint32 *labels; /* (B) */
  ArTrainable trainable;
};

static float
task_step (gpointer self, ArRng *rng)
{
  ArPixelCnnTask *task = self;
  gsize HW = (gsize) task->train->height * task->train->width;

  for (int b = 0; b < task->B; b++) {
    guint64 i = ar_rng_below (rng, task->train->n);
    memcpy (task->batch + b * HW, task->train->pixels + i * HW, HW);
    task->labels[b] = task->train->labels != NULL ? task->train->labels[i] : 0;
  }
  return ar_pixelcnn_train_forward (task->net, task->batch, task->labels,
             task->B, TRUE) /
      G_LN2;
}

double
ar_pixelcnn_task_evaluate (ArPixelCnnTask *task, const ArImageSet *set,
    int from, int to)
{
  g_return_val_if_fail (task != NULL && set != NULL, NAN);
  g_return_val_if_fail (0 <= from && from < to && to <= set->n, NAN);
  const ArPixelCnnConfig *c = &task->net->c;
  g_return_val_if_fail (set->height == c->height && set->width == c->width,
      NAN);
  g_return_val_if_fail (c->classes == 0 || set->labels != NULL, NAN);
  gsize HW = (gsize) set->height * set->width;
  double total = 0.0;

  for (int i = from; i < to; i += task->B) {
    int n = MIN (task->B, to - i);
    for (int b = 0; b < n; b++)
      task->labels[b] = set->labels != NULL ? set->labels[i + b] : 0;
    total += ar_pixelcnn_train_nll_sum (task->net, set->pixels + i * HW,
        task->labels, n);
  }
  return total / ((double) (to - from) * HW) / G_LN2;
}

static double
task_evaluate (gpointer self)
{
  ArPixelCnnTask *task = self;

  if (task->test == NULL)
    return NAN;
  int n = task->eval_images > 0 ? MIN (task->eval_images, task->test->n)
                                : task->test->n;
  return ar_pixelcnn_task_evaluate (task, task->test, 0, n);
}

static void
task_write_model (gpointer self, ArGgufWriter *w)
{
  ArPixelCnnTask *task = self;

  ar_pixelcnn_train_write (task->net, (const char *const *) task->names, w);
}

static gboolean
set_fits (const ArImageSet *s, const ArPixelCnnConfig *c)
{
  if (s->height != c->height || s->width != c->width)
    return FALSE;
  if (c->classes == 0)
    return TRUE;
  if (s->labels == NULL)
    return FALSE;
  for (int i = 0; i < s->n; i++)
    if (s->labels[i] < 0 || s->labels[i] >= c->classes)
      return FALSE;
  return TRUE;
}

ArPixelCnnTask *
ar_pixelcnn_task_new (const ArPixelCnnConfig *config, const ArImageSet *train,
    const ArImageSet *test, const char *const *names, int B, int n_threads)
{
  g_return_val_if_fail (config != NULL && train != NULL && train->n > 0, NULL);
  g_return_val_if_fail (ar_pixelcnn_config_check (config, NULL), NULL);
  g_return_val_if_fail (set_fits (train, config), NULL);
  g_return_val_if_fail (test == NULL || set_fits (test, config), NULL);
  ArPixelCnnTask *task = g_new0 (ArPixelCnnTask, 1);

  task->net = ar_pixelcnn_train_new (config, B, n_threads);
  task->train = train;
  task->test = test;
  task->B = B;
  if (config->classes > 0) {
    task->names = g_new0 (char *, config->classes + 1);
    for (int i = 0; i < config->classes; i++)
      task->names[i] =
          names != NULL ? g_strdup (names[i]) : g_strdup_printf ("%d", i);
  }
  task->batch = g_new0 (guint8, (gsize) B * config->height * config->width);
  task->labels = g_new0 (gint32, B);
  task->trainable = (ArTrainable){
    .unit = "bits/dim",
    .units_per_s_name = "images/s",
    .units_per_step = B,
    .params = task->net->params,
    .step = task_step,
    .evaluate = task_evaluate,
    .write_model = task_write_model,
  };
  return task;
}

void
ar_pixelcnn_task_free (ArPixelCnnTask *task)
{
  if (task == NULL)
    return;
  ar_pixelcnn_train_free (task->net);
  g_strfreev (task->names);
  g_free (task->batch);
  g_free (task->labels);
  g_free (task);
}

const ArTrainable *
ar_pixelcnn_task_get_trainable (ArPixelCnnTask *task)
{
  g_return_val_if_fail (task != NULL, NULL);
  return &task->trainable;
}

ArPixelCnnTrain *
ar_pixelcnn_task_get_net (ArPixelCnnTask *task)
{
  g_return_val_if_fail (task != NULL, NULL);
  return task->net;
}

void
ar_pixelcnn_task_set_eval_images (ArPixelCnnTask *task, int n)
{
  g_return_if_fail (task != NULL && n >= 0);
  task->eval_images = n;
}
