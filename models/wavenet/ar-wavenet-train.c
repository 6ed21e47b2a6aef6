/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-wavenet-train.c — the WaveNet family's training graph (input
 * convolution over one-hot µ-law classes → dilated gated layers with skip
 * and residual projections → ReLU output stack → softmax cross-entropy,
 * forward and backward over batches of windows), its audio corpus and its
 * training task (see ar-wavenet-train.h).
 *
 * Organisation, as the Transformer's graph: the parameters live once, in
 * slots (global ones, then L_COUNT per layer).  A batch is split into tasks
 * of consecutive windows, handed out to the threads of a pool; a task runs
 * its windows one at a time in the workspace of the thread that took it
 * (the activations of one window, allocated once), and sees the parameters
 * through its own slots: task 0 through the parameters themselves, the
 * others through copies of the ArParam structs that share the weights but
 * point their gradient into the task's own block, added up in task order
 * at the end.
 *
 * Where the time goes: the sgemms of each layer (the (G, 2R) convolution,
 * the (S, G/2) skip and (R, G/2) residual projections, forward, and twice
 * that backward) and of the output stack (S → O → Q over the scored
 * columns); then the gates' exponentials (ar_exp_shift_sum (), SIMD) and
 * the softmax. */
#include "ar-wavenet-train.h"
#include "core/ar-error.h"
#include "core/ar-kernels.h"
#include "core/ar-threadpool.h"
#include "core/ar-workspaces.h"
#include "data/ar-audio.h"
#include "data/ar-mel.h"

#include <cblas.h>
#include <math.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static float *
new_floats (gsize n)
{
  return g_new (float, MAX (n, 1));
}

/* Global parameter slots, then L_COUNT slots per layer. */
enum
{
  P_IN_W,   /* input.weight (2, Q, R) */
  P_IN_B,   /* input.bias (R) */
  P_COND_W, /* cond.weight (Cc, 3 n_mels), vocoders */
  P_COND_B, /* cond.bias (Cc) */
  P_OUT1_W, /* out1.weight (O, S) */
  P_OUT1_B, /* out1.bias (O) */
  P_OUT2_W, /* out2.weight (Q, O) */
  P_OUT2_B, /* out2.bias (Q) */
  P_GLOBAL
};

enum
{
  L_CONV_W,   /* (G, 2R): [tap 0 (h_{t−d}) | tap 1 (h_t)] */
  L_CONV_B,   /* (G) */
  L_SKIP_W,   /* (S, G/2) */
  L_SKIP_B,   /* (S) */
  L_RES_W,    /* (R, G/2), every layer but the last */
  L_RES_B,    /* (R) */
  L_COND_W,   /* (G, Cc), vocoders */
  L_GLOBAL_W, /* (G, classes), global condition */
  L_COUNT
};

static inline int
lslot (int l, int j)
{
  return P_GLOBAL + l * L_COUNT + j;
}

/* A task: windows [w0, w0 + n) of the current call, run by whichever
 * thread takes it. */
typedef struct
{
  int w0, n;
  double loss_sum; /* Σ over its windows of their summed nats */
  guint64 n_scored;
  ArParam **p;    /* (n_slots) the parameters as this task sees them */
  ArParam *views; /* (n_params) tasks > 0: copies with their own gradient */
  float *grad;    /* the views' gradients, one block */
} Task;

/* The activations of one window of up to max_T columns, one workspace per
 * thread (ArWorkspaces).  [channels, time] matrices (T below) have rows of ld floats, of
 * which a window uses its columns [0, T); the output stack's matrices are
 * compact over the window's ns scored columns. */
typedef struct
{
  int *col;         /* (L + 1) first column each layer's input is needed at */
  float *X;         /* (L, 2R, T) layer inputs: delayed rows, then h_l */
  float *gate;      /* (L, G, T) tanh half, then sigmoid half */
  float *u;         /* (H, T) tanh ⊙ sigmoid of the current layer */
  float *tmp;       /* (G, T) the exponentials of the gates */
  float *r1;        /* (S, ns) skip sum, then relu of it */
  float *r2;        /* (O, ns) relu (out1) */
  float *logits;    /* (ns, Q), then their gradient */
  float *dr2;       /* (O, ns) */
  float *dskip;     /* (S, ns) */
  float *dskip_sum; /* (S) row sums of dskip (the skip biases' gradient) */
  float *du;        /* (H, T) */
  float *dz;        /* (G, T) */
  float *dX;        /* (2R, T) */
  float *dh;        /* (R, T) gradient of the residual stream */
  float *bsum;      /* (S) Σ of the layers' skip biases */
  /* mel conditioning over the nF frames a window needs */
  float *mc;  /* (3 n_mels, nF) cond convolution inputs */
  float *e;   /* (Cc, nF) tanh (cond conv) */
  float *pc;  /* (L, G, nF) per-layer projections */
  float *dpc; /* (G, nF) */
  float *de;  /* (Cc, nF) */
  int *fi;    /* (T) frame of each column, relative to the first */
  int *fn;    /* (T) the frame after it (the last repeats), relative */
  int *fe;    /* (T) the first column past the frame interval of each */
  float *fa;  /* (T) interpolation weight of the next frame */
} Workspace;

struct _ArWaveNetTrain
{
  ArWaveNetConfig config;
  int R, G, H, S, O, Q, L, Cc, M, C, hop;
  int *dil; /* (L) */
  gsize rf;
  int max_T, max_B, nF_max;
  int ld; /* floats a row of a [channels, time] matrix: max_T rounded up to
           * 16, plus 16, so that rows are never a large power of two
           * apart (cache-set conflicts in the products' packing) */
  int n_threads, n_slots, n_tasks_max;
  ArParam **p;       /* (n_slots), NULL where the model has none */
  int *slot_param;   /* (n_slots) index into params, -1 for none */
  GPtrArray *params; /* owned */
  ArThreadPool *pool;
  Task *tasks;
  ArWorkspaces *ws; /* of Workspace, one per thread running tasks */
  float log_floor; /* ln (mel.log_floor): a frame outside the file */
  /* vocoders: the graph's mel inputs are (m - mel_shift) · mel_scale
   * (ar_wavenet_train_set_mel_normalization; 0 and 1 by default) */
  float *mel_shift, *mel_scale; /* (M) */

  /* the current call */
  const ArWaveNetWindow *win;
  int T, B, n_tasks;
  gboolean backward;
  float scale; /* 1 / scored targets of the batch */
};

/* ---- checks and construction -------------------------------------------- */

gsize
ar_wavenet_train_receptive_field (const ArWaveNetConfig *c)
{
  g_return_val_if_fail (c != NULL && c->layers_per_stack >= 0 &&
          c->layers_per_stack < 31,
      0);
  return 1 + (gsize) c->stacks * (((gsize) 1 << c->layers_per_stack) - 1) + 1;
}

/* Floats of one thread's workspace for windows of T. */
static double
workspace_floats (const ArWaveNetConfig *c, int T)
{
  double R = c->residual, G = c->gate, S = c->skip, O = c->output;
  double L = (double) c->stacks * c->layers_per_stack, Q = c->quantization;
  double nF = c->cond_channels > 0 ? T / (double) c->mel.hop + 4 : 0;

  return T *
      (L * (2 * R + G) + 2.5 * G + 2 * G + 2 * S + 2 * O + Q + 3 * R + 2) +
      nF * (3 * c->mel.n_mels + 2 * c->cond_channels + (L + 1) * G);
}

gboolean
ar_wavenet_train_check (const ArWaveNetConfig *c, int T, int B, GError **error)
{
  g_return_val_if_fail (c != NULL, FALSE);

  /* the graph takes any Q from 2 (the tests' finite differences use a few
   * classes); everything else as the loader will check the file written */
  if (c->quantization < 2 || c->quantization > 256) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "wavenet configuration: wavenet.quantization is %d; expected 2 to 256 "
        "(256 for a model file)",
        c->quantization);
    return FALSE;
  }
  ArWaveNetConfig file = *c;
  file.quantization = 256;
  if (!ar_wavenet_config_check (&file, "wavenet configuration",
          AR_ERROR_INVALID, error))
    return FALSE;
  gsize rf = ar_wavenet_train_receptive_field (c);
  if (T < 1 || (gsize) T < rf || T > 1 << 24) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "training windows of %d samples; expected at least the receptive "
        "field, %" G_GSIZE_FORMAT " samples (and at most %d)",
        T, rf, 1 << 24);
    return FALSE;
  }
  if (B < 1 || B > 1 << 16) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "batch of %d windows; expected 1 to %d", B, 1 << 16);
    return FALSE;
  }
  double bytes =
      workspace_floats (c, T) * AR_WAVENET_TRAIN_MAX_THREADS * sizeof (float);
  if (bytes > 16.0 * (1 << 30)) {
    g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
        "activations for windows of %d samples could take %.1f GiB; at most 16 "
        "GiB",
        T, bytes / (1 << 30));
    return FALSE;
  }
  return TRUE;
}

static void
new_param (ArWaveNetTrain *t, int slot, const char *name, guint n_dims,
    guint64 ne0, guint64 ne1, guint64 ne2)
{
  const guint64 ne[3] = { ne0, ne1, ne2 };
  ArParam *p = ar_param_new (name, n_dims, ne);

  t->p[slot] = p;
  t->slot_param[slot] = (int) t->params->len;
  g_ptr_array_add (t->params, p);
}

static void
task_init (ArWaveNetTrain *t, Task *task, int index)
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

static gpointer
ws_new (gpointer data)
{
  ArWaveNetTrain *t = data;
  Workspace *w = g_new0 (Workspace, 1);
  gsize T = t->ld, L = t->L, R = t->R, G = t->G, H = t->H, S = t->S;
  gsize O = t->O, nF = t->nF_max;

  w->col = g_new (int, L + 1);
  w->X = new_floats (L * 2 * R * T);
  w->gate = new_floats (L * G * T);
  w->u = new_floats (H * T);
  w->tmp = new_floats (G * T);
  w->r1 = new_floats (S * T);
  w->r2 = new_floats (O * T);
  w->logits = new_floats (T * t->Q);
  w->dr2 = new_floats (O * T);
  w->dskip = new_floats (S * T);
  w->dskip_sum = new_floats (S);
  w->du = new_floats (H * T);
  w->dz = new_floats (G * T);
  w->dX = new_floats (2 * R * T);
  w->dh = new_floats (R * T);
  w->bsum = new_floats (S);
  if (t->Cc > 0) {
    w->mc = new_floats (3 * (gsize) t->M * nF);
    w->e = new_floats ((gsize) t->Cc * nF);
    w->pc = new_floats (L * G * nF);
    w->dpc = new_floats (G * nF);
    w->de = new_floats ((gsize) t->Cc * nF);
    w->fi = g_new (int, T);
    w->fn = g_new (int, T);
    w->fe = g_new (int, T);
    w->fa = new_floats (T);
  }
  return w;
}

static void
ws_free (gpointer data)
{
  Workspace *w = data;

  g_free (w->col);
  g_free (w->X);
  g_free (w->gate);
  g_free (w->u);
  g_free (w->tmp);
  g_free (w->r1);
  g_free (w->r2);
  g_free (w->logits);
  g_free (w->dr2);
  g_free (w->dskip);
  g_free (w->dskip_sum);
  g_free (w->du);
  g_free (w->dz);
  g_free (w->dX);
  g_free (w->dh);
  g_free (w->bsum);
  g_free (w->mc);
  g_free (w->e);
  g_free (w->pc);
  g_free (w->dpc);
  g_free (w->de);
  g_free (w->fi);
  g_free (w->fn);
  g_free (w->fe);
  g_free (w->fa);
  g_free (w);
}

ArWaveNetTrain *
ar_wavenet_train_new (const ArWaveNetConfig *config, int max_T, int max_B,
    int n_threads)
{
  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (ar_wavenet_train_check (config, max_T, max_B, NULL),
      NULL);
  g_return_val_if_fail (n_threads >= 0 &&
          n_threads <= AR_WAVENET_TRAIN_MAX_THREADS,
      NULL);
  ArWaveNetTrain *t = g_new0 (ArWaveNetTrain, 1);
  const ArWaveNetConfig *c = &t->config;
  char name[64];

  t->config = *config;
  t->R = c->residual;
  t->G = c->gate;
  t->H = c->gate / 2;
  t->S = c->skip;
  t->O = c->output;
  t->Q = c->quantization;
  t->L = c->stacks * c->layers_per_stack;
  t->Cc = c->cond_channels;
  t->C = c->global_classes;
  t->M = t->Cc > 0 ? c->mel.n_mels : 0;
  t->hop = t->Cc > 0 ? c->mel.hop : 1;
  t->log_floor = t->Cc > 0 ? logf (c->mel.log_floor) : 0.0f;
  t->mel_shift = g_new0 (float, MAX (t->M, 1));
  t->mel_scale = g_new (float, MAX (t->M, 1));
  for (int m = 0; m < MAX (t->M, 1); m++)
    t->mel_scale[m] = 1.0f;
  t->rf = ar_wavenet_train_receptive_field (c);
  t->max_T = max_T;
  t->max_B = max_B;
  t->ld = (max_T + 15) / 16 * 16 + 16;
  t->nF_max = t->Cc > 0 ? max_T / t->hop + 4 : 0;
  t->dil = g_new (int, t->L);
  for (int l = 0; l < t->L; l++)
    t->dil[l] = 1 << (l % c->layers_per_stack);

  if (n_threads == 0)
    n_threads =
        MIN ((int) g_get_num_processors (), AR_WAVENET_TRAIN_MAX_THREADS);
  t->n_tasks_max = MIN (AR_WAVENET_TRAIN_MAX_TASKS, max_B);
  t->n_threads = MIN (n_threads, t->n_tasks_max);

  t->n_slots = P_GLOBAL + t->L * L_COUNT;
  t->p = g_new0 (ArParam *, t->n_slots);
  t->slot_param = g_new (int, t->n_slots);
  for (int s = 0; s < t->n_slots; s++)
    t->slot_param[s] = -1;
  t->params = g_ptr_array_new_with_free_func ((GDestroyNotify) ar_param_free);

  /* in the order of the model file's description (ar-wavenet.h) */
  new_param (t, P_IN_W, "input.weight", 3, t->R, t->Q, 2);
  new_param (t, P_IN_B, "input.bias", 1, t->R, 0, 0);
  for (int l = 0; l < t->L; l++) {
#define NAME(what) (g_snprintf (name, sizeof name, "layer.%d." what, l), name)
    new_param (t, lslot (l, L_CONV_W), NAME ("conv.weight"), 2, 2 * t->R, t->G,
        0);
    new_param (t, lslot (l, L_CONV_B), NAME ("conv.bias"), 1, t->G, 0, 0);
    new_param (t, lslot (l, L_SKIP_W), NAME ("skip.weight"), 2, t->H, t->S, 0);
    new_param (t, lslot (l, L_SKIP_B), NAME ("skip.bias"), 1, t->S, 0, 0);
    if (l < t->L - 1) {
      new_param (t, lslot (l, L_RES_W), NAME ("res.weight"), 2, t->H, t->R, 0);
      new_param (t, lslot (l, L_RES_B), NAME ("res.bias"), 1, t->R, 0, 0);
    }
    if (t->Cc > 0)
      new_param (t, lslot (l, L_COND_W), NAME ("cond.weight"), 2, t->Cc, t->G,
          0);
    if (t->C > 0)
      new_param (t, lslot (l, L_GLOBAL_W), NAME ("global.weight"), 2, t->C,
          t->G, 0);
#undef NAME
  }
  if (t->Cc > 0) {
    new_param (t, P_COND_W, "cond.weight", 2, 3 * (guint64) t->M, t->Cc, 0);
    new_param (t, P_COND_B, "cond.bias", 1, t->Cc, 0, 0);
  }
  new_param (t, P_OUT1_W, "out1.weight", 2, t->S, t->O, 0);
  new_param (t, P_OUT1_B, "out1.bias", 1, t->O, 0, 0);
  new_param (t, P_OUT2_W, "out2.weight", 2, t->O, t->Q, 0);
  new_param (t, P_OUT2_B, "out2.bias", 1, t->Q, 0, 0);
  /* the input convolution is a lookup, not a product: no decay, as an
   * embedding in the other families' graphs has none either */
  t->p[P_IN_W]->decay = FALSE;

  t->tasks = g_new0 (Task, t->n_tasks_max);
  for (int k = 0; k < t->n_tasks_max; k++)
    task_init (t, &t->tasks[k], k);
  t->ws = ar_workspaces_new (ws_new, ws_free, t);
  if (t->n_threads > 1)
    t->pool = ar_threadpool_new (t->n_threads);
  return t;
}

void
ar_wavenet_train_free (ArWaveNetTrain *t)
{
  if (t == NULL)
    return;
  ar_threadpool_free (t->pool);
  for (int k = 0; k < t->n_tasks_max; k++) {
    g_free (t->tasks[k].p);
    g_free (t->tasks[k].views);
    g_free (t->tasks[k].grad);
  }
  g_free (t->tasks);
  ar_workspaces_free (t->ws);
  g_ptr_array_unref (t->params);
  g_free (t->p);
  g_free (t->slot_param);
  g_free (t->dil);
  g_free (t->mel_shift);
  g_free (t->mel_scale);
  g_free (t);
}

void
ar_wavenet_train_set_mel_normalization (ArWaveNetTrain *t, const float *mean,
    const float *sd)
{
  g_return_if_fail (t != NULL && t->M > 0 && mean != NULL && sd != NULL);

  for (int m = 0; m < t->M; m++) {
    g_return_if_fail (sd[m] > 0.0f && isfinite (sd[m]) && isfinite (mean[m]));
    t->mel_shift[m] = mean[m];
    t->mel_scale[m] = 1.0f / sd[m];
  }
}

void
ar_wavenet_train_init (ArWaveNetTrain *t, ArRng *rng)
{
  g_return_if_fail (t != NULL && rng != NULL);

  for (guint i = 0; i < t->params->len; i++) {
    ArParam *p = g_ptr_array_index (t->params, i);

    if (p->n_dims == 1 || g_str_has_suffix (p->name, ".global.weight")) {
      memset (p->w, 0, p->n * sizeof (float));
    } else if (p == t->p[P_IN_W]) {
      /* two one-hot taps: h⁰ is the sum of two rows */
      ar_param_init_normal (p, rng, sqrtf (0.5f));
    } else {
      /* rows × ne[0] inputs */
      ar_param_init_normal (p, rng, 1.0f / sqrtf ((float) p->ne[0]));
    }
  }
}

GPtrArray *
ar_wavenet_train_get_params (ArWaveNetTrain *t)
{
  g_return_val_if_fail (t != NULL, NULL);
  return t->params;
}

const ArWaveNetConfig *
ar_wavenet_train_get_config (const ArWaveNetTrain *t)
{
  g_return_val_if_fail (t != NULL, NULL);
  return &t->config;
}

int
ar_wavenet_train_get_n_threads (const ArWaveNetTrain *t)
{
  g_return_val_if_fail (t != NULL, 0);
  return t->n_threads;
}

int
ar_wavenet_train_get_max_T (const ArWaveNetTrain *t)
{
  g_return_val_if_fail (t != NULL, 0);
  return t->max_T;
}

/* ---- kernels ------------------------------------------------------------ */

/* C (M, N) += op (A) · op (B), row-major, single precision.  Every product
 * accumulates: outputs are initialised (with biases, or zeros) by the
 * caller, which is also cheaper than OpenBLAS's beta = 0 path. */
static void
gemm (gboolean ta, gboolean tb, int M, int N, int K, const float *A, int lda,
    const float *B, int ldb, float *C, int ldc)
{
  if (M <= 0 || N <= 0 || K <= 0)
    return;
  cblas_sgemm (CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
      tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb, 1.0f, C,
      ldc);
}

/* ---- element-wise rows --------------------------------------------------
 * The loops over a row's columns, four at a time with SSE2 (every x86-64
 * processor has it) and one at a time for the rest or elsewhere: the same
 * IEEE operations in the same order either way (no FMA), so results do not
 * depend on where the columns start.  (GCC -O2 leaves such loops scalar:
 * their trip counts are unknown.) */

#if defined(__SSE2__)
#define VEC4 1
#define V_LOAD(p) _mm_loadu_ps (p)
#define V_STORE(p, v) _mm_storeu_ps ((p), (v))
#define V_SET(x) _mm_set1_ps (x)
#endif

/* y (n) = v */
static void
row_fill (float *y, float v, int n)
{
  int q = 0;
#ifdef VEC4
  for (; q + 4 <= n; q += 4)
    V_STORE (y + q, V_SET (v));
#endif
  for (; q < n; q++)
    y[q] = v;
}

/* y (n) = x + v */
static void
row_add_scalar (float *y, const float *x, float v, int n)
{
  int q = 0;
#ifdef VEC4
  for (; q + 4 <= n; q += 4)
    V_STORE (y + q, _mm_add_ps (V_LOAD (x + q), V_SET (v)));
#endif
  for (; q < n; q++)
    y[q] = x[q] + v;
}

/* y (n) = a ⊙ b */
static void
row_mul (float *y, const float *a, const float *b, int n)
{
  int q = 0;
#ifdef VEC4
  for (; q + 4 <= n; q += 4)
    V_STORE (y + q, _mm_mul_ps (V_LOAD (a + q), V_LOAD (b + q)));
#endif
  for (; q < n; q++)
    y[q] = a[q] * b[q];
}

/* y (n) = k · y */
static void
row_scale (float *y, float k, int n)
{
  int q = 0;
#ifdef VEC4
  for (; q + 4 <= n; q += 4)
    V_STORE (y + q, _mm_mul_ps (V_LOAD (y + q), V_SET (k)));
#endif
  for (; q < n; q++)
    y[q] *= k;
}

/* y (n) = max (y, 0) */
static void
row_relu (float *y, int n)
{
  int q = 0;
#ifdef VEC4
  for (; q + 4 <= n; q += 4)
    V_STORE (y + q, _mm_max_ps (V_LOAD (y + q), V_SET (0.0f)));
#endif
  for (; q < n; q++)
    y[q] = y[q] > 0.0f ? y[q] : 0.0f;
}

/* dy (n) = 0 where y <= 0: the gradient through a ReLU whose output is y */
static void
row_relu_back (float *dy, const float *y, int n)
{
  int q = 0;
#ifdef VEC4
  for (; q + 4 <= n; q += 4)
    V_STORE (dy + q,
        _mm_and_ps (_mm_cmpgt_ps (V_LOAD (y + q), V_SET (0.0f)),
            V_LOAD (dy + q)));
#endif
  for (; q < n; q++)
    dy[q] = y[q] > 0.0f ? dy[q] : 0.0f;
}

/* e (n) = clamp (k x, −80, 80) */
static void
row_scale_clamp (float *e, const float *x, float k, int n)
{
  int q = 0;
#ifdef VEC4
  for (; q + 4 <= n; q += 4) {
    __m128 v = _mm_mul_ps (V_LOAD (x + q), V_SET (k));
    V_STORE (e + q, _mm_min_ps (_mm_max_ps (v, V_SET (-80.0f)), V_SET (80.0f)));
  }
#endif
  for (; q < n; q++) {
    float v = k * x[q];

    v = v > -80.0f ? v : -80.0f;
    e[q] = v < 80.0f ? v : 80.0f;
  }
}

/* y (n) = 1 − 2 / (1 + e): tanh x from e = exp (2x) */
static void
row_tanh_from_exp (float *y, const float *e, int n)
{
  int q = 0;
#ifdef VEC4
  for (; q + 4 <= n; q += 4)
    V_STORE (y + q,
        _mm_sub_ps (V_SET (1.0f),
            _mm_div_ps (V_SET (2.0f),
                _mm_add_ps (V_SET (1.0f), V_LOAD (e + q)))));
#endif
  for (; q < n; q++)
    y[q] = 1.0f - 2.0f / (1.0f + e[q]);
}

/* y (n) = 1 / (1 + e): σ (x) from e = exp (−x) */
static void
row_sigmoid_from_exp (float *y, const float *e, int n)
{
  int q = 0;
#ifdef VEC4
  for (; q + 4 <= n; q += 4)
    V_STORE (y + q,
        _mm_div_ps (V_SET (1.0f), _mm_add_ps (V_SET (1.0f), V_LOAD (e + q))));
#endif
  for (; q < n; q++)
    y[q] = 1.0f / (1.0f + e[q]);
}

/* y (n) = b + ((1 − a) pf + a pn): a bias and the interpolation between
 * two frames' values with weights a (n) */
static void
row_interp (float *y, const float *a, float b, float pf, float pn, int n)
{
  int q = 0;
#ifdef VEC4
  for (; q + 4 <= n; q += 4) {
    __m128 va = V_LOAD (a + q);

    V_STORE (y + q,
        _mm_add_ps (V_SET (b),
            _mm_add_ps (_mm_mul_ps (_mm_sub_ps (V_SET (1.0f), va), V_SET (pf)),
                _mm_mul_ps (va, V_SET (pn)))));
  }
#endif
  for (; q < n; q++)
    y[q] = b + ((1.0f - a[q]) * pf + a[q] * pn);
}

/* Its backward pass: *s0 = Σ (1 − a) d, *s1 = Σ a d over n, in four
 * partial sums (lane k takes the columns ≡ k mod 4) added in a fixed
 * order. */
static void
row_interp_back (const float *d, const float *a, int n, float *s0, float *s1)
{
  float p0[4] = { 0 }, p1[4] = { 0 };
  int q = 0;

#ifdef VEC4
  __m128 v0 = _mm_setzero_ps (), v1 = _mm_setzero_ps ();

  for (; q + 4 <= n; q += 4) {
    __m128 va = V_LOAD (a + q), vd = V_LOAD (d + q);

    v0 = _mm_add_ps (v0, _mm_mul_ps (_mm_sub_ps (V_SET (1.0f), va), vd));
    v1 = _mm_add_ps (v1, _mm_mul_ps (va, vd));
  }
  _mm_storeu_ps (p0, v0);
  _mm_storeu_ps (p1, v1);
#else
  for (; q + 4 <= n; q += 4)
    for (int k = 0; k < 4; k++) {
      p0[k] += (1.0f - a[q + k]) * d[q + k];
      p1[k] += a[q + k] * d[q + k];
    }
#endif
  for (; q < n; q++) {
    p0[0] += (1.0f - a[q]) * d[q];
    p1[0] += a[q] * d[q];
  }
  *s0 = (p0[0] + p0[1]) + (p0[2] + p0[3]);
  *s1 = (p1[0] + p1[1]) + (p1[2] + p1[3]);
}

/* The gate's backward pass over n columns: u = a s with a = tanh, s = σ:
 * dza (n) = du s (1 − a²), dzs (n) = du a s (1 − s). */
static void
row_gate_back (float *dza, float *dzs, const float *du, const float *a,
    const float *sg, int n)
{
  int q = 0;
#ifdef VEC4
  for (; q + 4 <= n; q += 4) {
    __m128 vdu = V_LOAD (du + q), va = V_LOAD (a + q), vs = V_LOAD (sg + q);

    V_STORE (dza + q,
        _mm_mul_ps (_mm_mul_ps (vdu, vs),
            _mm_sub_ps (V_SET (1.0f), _mm_mul_ps (va, va))));
    V_STORE (dzs + q,
        _mm_mul_ps (_mm_mul_ps (_mm_mul_ps (vdu, va), vs),
            _mm_sub_ps (V_SET (1.0f), vs)));
  }
#endif
  for (; q < n; q++) {
    dza[q] = du[q] * sg[q] * (1.0f - a[q] * a[q]);
    dzs[q] = du[q] * a[q] * sg[q] * (1.0f - sg[q]);
  }
}

/* Rows [0, rows) of a matrix with @ld columns, columns [c0, c1), set to v[r]
 * (or 0 when v is NULL). */
static void
fill_rows (float *X, int ld, int rows, int c0, int c1, const float *v)
{
  if (c1 <= c0)
    return;
  for (int r = 0; r < rows; r++)
    row_fill (X + (gsize) r * ld + c0, v ? v[r] : 0.0f, c1 - c0);
}

/* Σ x[0 … n), in eight interleaved partial sums added up in a fixed order
 * at the end: a single running sum would wait for each addition's latency
 * (a few cycles) on every element. */
static float
sum_floats (const float *x, int n)
{
  float acc[8] = { 0 };
  int q = 0;

  for (; q + 8 <= n; q += 8)
    for (int k = 0; k < 8; k++)
      acc[k] += x[q + k];
  for (; q < n; q++)
    acc[0] += x[q];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) +
      ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* s[r] += Σ_q X[r, q], q in [c0, c1). */
static void
add_row_sums (float *s, const float *X, int ld, int rows, int c0, int c1)
{
  for (int r = 0; r < rows; r++)
    if (c1 > c0)
      s[r] += sum_floats (X + (gsize) r * ld + c0, c1 - c0);
}

/* The gates of one layer in place, columns [c0, c1) of z (G rows of ld
 * columns): rows [0, H) become tanh (z), rows [H, G) σ (z); u (H rows of
 * ld) their product.  tanh x = 1 − 2 / (1 + e^{2x}) and σ (x) = 1 / (1 +
 * e^{−x}), with the exponentials from ar_exp_shift_sum () (SIMD) on
 * arguments clamped to ±80, where both functions are flat to float
 * precision. */
static void
gates_forward (float *z, float *u, float *tmp, int ld, int H, int c0, int c1)
{
  int n = c1 - c0;

  if (n <= 0)
    return;
  for (int r = 0; r < 2 * H; r++)
    row_scale_clamp (tmp + (gsize) r * n, z + (gsize) r * ld + c0,
        r < H ? 2.0f : -1.0f, n);
  ar_exp_shift_sum (tmp, 0.0f, 2 * H * n);
  for (int r = 0; r < 2 * H; r++) {
    float *zr = z + (gsize) r * ld + c0;
    const float *e = tmp + (gsize) r * n;

    if (r < H)
      row_tanh_from_exp (zr, e, n);
    else
      row_sigmoid_from_exp (zr, e, n);
  }
  for (int r = 0; r < H; r++)
    row_mul (u + (gsize) r * ld + c0, z + (gsize) r * ld + c0,
        z + (gsize) (r + H) * ld + c0, n);
}

/* ---- one window ------------------------------------------------------------ */

/* The mel conditioning of window @win: cond convolution over the frames its
 * columns [c_first, p1) interpolate between, each layer's projection, and
 * every column's frames and weight.  A column between the file's last frame
 * and the one after it interpolates towards the last frame again, as
 * ar_wavenet_forward_full () does. */
static void
mel_forward (ArWaveNetTrain *t, Workspace *w, ArParam **p,
    const ArWaveNetWindow *win, int c_first, int p1, int *F0_out, int *nF_out)
{
  const int M = t->M, Cc = t->Cc, G = t->G, hop = t->hop;
  gsize s = win->start;
  /* column q predicts sample s + q + 1, between frames (s + q + 1) / hop and
   * the one after */
  gsize last = win->n_frames - 1;
  int F0 = (int) ((s + c_first + 1) / hop);
  int F1 = (int) MIN ((s + p1) / hop + 1, last);
  int nF = F1 - F0 + 1;

  g_assert (nF <= t->nF_max);
  for (int q = c_first; q < p1; q++) {
    gsize tau = s + q + 1, f = tau / hop;

    w->fi[q] = (int) f - F0;
    w->fn[q] = (int) MIN (f + 1, last) - F0;
    w->fe[q] = (int) MIN ((gsize) p1, (f + 1) * hop - s - 1);
    w->fa[q] = (float) (tau % hop) / (float) hop;
  }
  /* mc rows [k · M + m]: mel m of frame f − 1 + k */
  for (int k = 0; k < 3; k++)
    for (int j = 0; j < nF; j++) {
      gint64 f = (gint64) F0 + j - 1 + k;
      gboolean in = f >= 0 && (guint64) f < win->n_frames;

      for (int m = 0; m < M; m++)
        w->mc[((gsize) k * M + m) * nF + j] =
            ((in ? win->mel[(gsize) f * M + m] : t->log_floor) -
                t->mel_shift[m]) * t->mel_scale[m];
    }
  fill_rows (w->e, nF, Cc, 0, nF, p[P_COND_B]->w);
  gemm (FALSE, FALSE, Cc, nF, 3 * M, p[P_COND_W]->w, 3 * M, w->mc, nF, w->e,
      nF);
  for (gsize i = 0; i < (gsize) Cc * nF; i++)
    w->e[i] = tanhf (w->e[i]);
  for (int l = 0; l < t->L; l++) {
    float *pc = w->pc + (gsize) l * G * nF;

    memset (pc, 0, (gsize) G * nF * sizeof (float));
    gemm (FALSE, FALSE, G, nF, Cc, p[lslot (l, L_COND_W)]->w, Cc, w->e, nF, pc,
        nF);
  }
  *F0_out = F0;
  *nF_out = nF;
}

/* Forward (and backward) of one window, its [channels, time] matrices @ld
 * floats a row; returns the summed nats of its scored targets. */
static double
run_window (ArWaveNetTrain *t, Workspace *w, ArParam **p,
    const ArWaveNetWindow *win, int ld, gboolean backward, float scale)
{
  const int R = t->R, G = t->G, H = t->H, S = t->S, O = t->O, Q = t->Q;
  const int L = t->L, C = t->C;
  const int p0 = win->score_from, p1 = win->score_to, ns = p1 - p0;
  const gsize s = win->start;
  const guint8 *x = win->x;
  int *col = w->col, nF = 0, F0 = 0;
  double loss = 0.0;

  if (ns <= 0)
    return 0.0;
  /* layer l computes columns [col[l + 1], p1) from its input's [col[l], p1):
   * the columns the scored ones depend on */
  col[L] = p0;
  for (int l = L - 1; l >= 0; l--)
    col[l] = MAX (0, col[l + 1] - t->dil[l]);

  /* input convolution over one-hot classes, into the undelayed rows of
   * layer 0's input; x_{−1} is silence (Q/2) at the start of the file */
  {
    const float *W0 = p[P_IN_W]->w, *W1 = W0 + (gsize) Q * R;
    const float *b = p[P_IN_B]->w;
    float *h = w->X + (gsize) R * ld;

    for (int c = 0; c < R; c++) {
      float *hr = h + (gsize) c * ld;

      for (int q = col[0]; q < p1; q++) {
        gsize a = s + q;
        int prev = a >= 1 ? x[a - 1] : Q / 2;

        hr[q] = W0[(gsize) prev * R + c] + W1[(gsize) x[a] * R + c] + b[c];
      }
    }
  }
  if (t->Cc > 0)
    mel_forward (t, w, p, win, col[1], p1, &F0, &nF);

  /* the skip sum starts at the layers' summed biases */
  memset (w->bsum, 0, S * sizeof (float));
  for (int l = 0; l < L; l++)
    ar_nn_add (w->bsum, p[lslot (l, L_SKIP_B)]->w, S);
  fill_rows (w->r1, ns, S, 0, ns, w->bsum);

  for (int l = 0; l < L; l++) {
    const int d = t->dil[l], c0 = col[l + 1], n = p1 - c0;
    float *X = w->X + (gsize) l * 2 * R * ld;
    float *z = w->gate + (gsize) l * G * ld;
    const float *b = p[lslot (l, L_CONV_B)]->w;

    /* delayed rows: h_l (t − d), zero before the window's first column */
    for (int c = 0; c < R; c++) {
      float *dst = X + (gsize) c * ld;
      const float *src = X + (gsize) (R + c) * ld;
      int q = c0;

      for (; q < MIN (p1, d); q++)
        dst[q] = 0.0f;
      if (q < p1)
        memcpy (dst + q, src + q - d, (gsize) (p1 - q) * sizeof (float));
    }
    /* z = b + g[class] + c_l (t) + W · [h (t − d); h (t)] */
    for (int j = 0; j < G; j++) {
      float *zr = z + (gsize) j * ld;
      float bj = b[j];

      if (C > 0)
        bj += p[lslot (l, L_GLOBAL_W)]->w[(gsize) j * C + win->global_class];
      if (t->Cc > 0) {
        /* frame interval by frame interval: the two frames are the same
         * throughout one */
        const float *pr = w->pc + ((gsize) l * G + j) * nF;

        for (int q = c0, e; q < p1; q = e) {
          e = w->fe[q];
          row_interp (zr + q, w->fa + q, bj, pr[w->fi[q]], pr[w->fn[q]], e - q);
        }
      } else {
        row_fill (zr + c0, bj, n);
      }
    }
    gemm (FALSE, FALSE, G, n, 2 * R, p[lslot (l, L_CONV_W)]->w, 2 * R, X + c0,
        ld, z + c0, ld);
    gates_forward (z, w->u, w->tmp, ld, H, c0, p1);
    /* skip (S, ns) += Ws · u over the scored columns */
    gemm (FALSE, FALSE, S, ns, H, p[lslot (l, L_SKIP_W)]->w, H, w->u + p0, ld,
        w->r1, ns);
    if (l < L - 1) {
      /* h_{l+1} = h_l + Wr · u + br, the next layer's undelayed rows */
      float *hn = w->X + ((gsize) (l + 1) * 2 * R + R) * ld;
      const float *h = X + (gsize) R * ld, *br = p[lslot (l, L_RES_B)]->w;

      for (int c = 0; c < R; c++)
        row_add_scalar (hn + (gsize) c * ld + c0, h + (gsize) c * ld + c0,
            br[c], n);
      gemm (FALSE, FALSE, R, n, H, p[lslot (l, L_RES_W)]->w, H, w->u + c0, ld,
          hn + c0, ld);
    }
  }

  /* output stack over the scored columns: r1 = relu (skip), r2 = relu
   * (Wo1 r1 + bo1), logits (ns, Q) = r2ᵀ Wo2ᵀ + bo2 */
  row_relu (w->r1, S * ns);
  fill_rows (w->r2, ns, O, 0, ns, p[P_OUT1_B]->w);
  gemm (FALSE, FALSE, O, ns, S, p[P_OUT1_W]->w, S, w->r1, ns, w->r2, ns);
  row_relu (w->r2, O * ns);
  for (int q = 0; q < ns; q++)
    memcpy (w->logits + (gsize) q * Q, p[P_OUT2_B]->w, Q * sizeof (float));
  gemm (TRUE, TRUE, ns, Q, O, w->r2, ns, p[P_OUT2_W]->w, O, w->logits, Q);

  /* softmax cross-entropy; the logits become d (mean nats) / d logits */
  for (int q = 0; q < ns; q++) {
    float *l = w->logits + (gsize) q * Q, mx = l[0];
    int target = x[s + p0 + q + 1];
    float lt = l[target];

    for (int j = 1; j < Q; j++)
      mx = MAX (mx, l[j]);
    float sum = ar_exp_shift_sum (l, mx, Q);
    loss += log ((double) sum) + mx - lt;
    if (backward) {
      row_scale (l, scale / sum, Q);
      l[target] -= scale;
    }
  }
  if (!backward)
    return loss;

  /* ---- backward ---- */
  ArParam *Wo2 = p[P_OUT2_W], *Wo1 = p[P_OUT1_W];

  /* dbo2 += Σ rows of dlogits; dWo2 (Q, O) += dlogitsᵀ r2ᵀ */
  for (int q = 0; q < ns; q++)
    ar_nn_add (p[P_OUT2_B]->g, w->logits + (gsize) q * Q, Q);
  gemm (TRUE, TRUE, Q, O, ns, w->logits, Q, w->r2, ns, Wo2->g, O);
  /* dr2 (O, ns) = Wo2ᵀ dlogitsᵀ, through the ReLU */
  memset (w->dr2, 0, (gsize) O * ns * sizeof (float));
  gemm (TRUE, TRUE, O, ns, Q, Wo2->w, O, w->logits, Q, w->dr2, ns);
  row_relu_back (w->dr2, w->r2, O * ns);
  add_row_sums (p[P_OUT1_B]->g, w->dr2, ns, O, 0, ns);
  gemm (FALSE, TRUE, O, S, ns, w->dr2, ns, w->r1, ns, Wo1->g, S);
  memset (w->dskip, 0, (gsize) S * ns * sizeof (float));
  gemm (TRUE, FALSE, S, ns, O, Wo1->w, S, w->dr2, ns, w->dskip, ns);
  row_relu_back (w->dskip, w->r1, S * ns);
  memset (w->dskip_sum, 0, S * sizeof (float));
  add_row_sums (w->dskip_sum, w->dskip, ns, S, 0, ns);

  if (t->Cc > 0)
    memset (w->de, 0, (gsize) t->Cc * nF * sizeof (float));

  /* dh: the gradient of the residual stream above the layer being
   * undone; nothing reads the last layer's output */
  for (int l = L - 1; l >= 0; l--) {
    const int d = t->dil[l], c0 = col[l + 1], n = p1 - c0;
    const float *X = w->X + (gsize) l * 2 * R * ld;
    const float *z = w->gate + (gsize) l * G * ld;

    if (l == L - 1)
      fill_rows (w->dh, ld, R, c0, p1, NULL);
    /* u again, from the kept gates */
    for (int r = 0; r < H; r++)
      row_mul (w->u + (gsize) r * ld + c0, z + (gsize) r * ld + c0,
          z + (gsize) (r + H) * ld + c0, n);
    /* skip projection: dWs += dskip uᵀ (scored columns), dbs, du */
    ArParam *Ws = p[lslot (l, L_SKIP_W)];
    ar_nn_add (p[lslot (l, L_SKIP_B)]->g, w->dskip_sum, S);
    gemm (FALSE, TRUE, S, H, ns, w->dskip, ns, w->u + p0, ld, Ws->g, H);
    fill_rows (w->du, ld, H, c0, p1, NULL);
    gemm (TRUE, FALSE, H, ns, S, Ws->w, H, w->dskip, ns, w->du + p0, ld);
    /* residual projection */
    if (l < L - 1) {
      ArParam *Wr = p[lslot (l, L_RES_W)];

      add_row_sums (p[lslot (l, L_RES_B)]->g, w->dh, ld, R, c0, p1);
      gemm (FALSE, TRUE, R, H, n, w->dh + c0, ld, w->u + c0, ld, Wr->g, H);
      gemm (TRUE, FALSE, H, n, R, Wr->w, H, w->dh + c0, ld, w->du + c0, ld);
    }
    /* through the gates: u = a s, a = tanh, s = σ */
    for (int r = 0; r < H; r++)
      row_gate_back (w->dz + (gsize) r * ld + c0,
          w->dz + (gsize) (r + H) * ld + c0, w->du + (gsize) r * ld + c0,
          z + (gsize) r * ld + c0, z + (gsize) (r + H) * ld + c0, n);
    /* the convolution: dW += dz Xᵀ, db, dX = Wᵀ dz */
    ArParam *Wc = p[lslot (l, L_CONV_W)];
    ArParam *bc = p[lslot (l, L_CONV_B)];

    /* the class column of the global embedding is added where the bias is:
     * the same gradient */
    for (int j = 0; j < G; j++) {
      float acc = sum_floats (w->dz + (gsize) j * ld + c0, p1 - c0);

      bc->g[j] += acc;
      if (C > 0)
        p[lslot (l, L_GLOBAL_W)]->g[(gsize) j * C + win->global_class] += acc;
    }
    gemm (FALSE, TRUE, G, 2 * R, n, w->dz + c0, ld, X + c0, ld, Wc->g, 2 * R);
    fill_rows (w->dX, ld, 2 * R, c0, p1, NULL);
    gemm (TRUE, FALSE, 2 * R, n, G, Wc->w, 2 * R, w->dz + c0, ld, w->dX + c0,
        ld);
    /* mel: dp_l at the frame rate, then dWcl += dp eᵀ, de += Wclᵀ dp */
    if (t->Cc > 0) {
      ArParam *Wcl = p[lslot (l, L_COND_W)];

      memset (w->dpc, 0, (gsize) G * nF * sizeof (float));
      for (int j = 0; j < G; j++) {
        const float *dzr = w->dz + (gsize) j * ld;
        float *dp = w->dpc + (gsize) j * nF;

        for (int q = c0, e; q < p1; q = e) {
          float s0 = 0.0f, s1 = 0.0f;

          e = w->fe[q];
          row_interp_back (dzr + q, w->fa + q, e - q, &s0, &s1);
          dp[w->fi[q]] += s0;
          dp[w->fn[q]] += s1;
        }
      }
      gemm (FALSE, TRUE, G, t->Cc, nF, w->dpc, nF, w->e, nF, Wcl->g, t->Cc);
      gemm (TRUE, FALSE, t->Cc, nF, G, Wcl->w, t->Cc, w->dpc, nF, w->de, nF);
    }
    /* dh_l = dh_{l+1} (the residual path) + the undelayed rows' gradient +
     * the delayed rows' gradient moved back by d; the columns [col[l], c0)
     * only receive the last */
    fill_rows (w->dh, ld, R, col[l], c0, NULL);
    for (int c = 0; c < R; c++) {
      float *dh = w->dh + (gsize) c * ld;
      const float *d0 = w->dX + (gsize) c * ld,
                  *d1 = w->dX + (gsize) (R + c) * ld;
      int q0 = MAX (c0, d);

      ar_nn_add (dh + c0, d1 + c0, n);
      if (q0 < p1)
        ar_nn_add (dh + q0 - d, d0 + q0, p1 - q0);
    }
  }

  /* the input convolution: scatter into the rows of the two taps */
  {
    float *gW0 = p[P_IN_W]->g, *gW1 = gW0 + (gsize) Q * R;

    add_row_sums (p[P_IN_B]->g, w->dh, ld, R, col[0], p1);
    for (int q = col[0]; q < p1; q++) {
      gsize a = s + q;
      int prev = a >= 1 ? x[a - 1] : Q / 2;
      float *g0 = gW0 + (gsize) prev * R, *g1 = gW1 + (gsize) x[a] * R;

      for (int c = 0; c < R; c++) {
        float v = w->dh[(gsize) c * ld + q];

        g0[c] += v;
        g1[c] += v;
      }
    }
  }

  /* the cond convolution: through tanh, dWc += de mcᵀ, dbc */
  if (t->Cc > 0) {
    const int Cc = t->Cc, M3 = 3 * t->M;

    for (gsize i = 0; i < (gsize) Cc * nF; i++)
      w->de[i] *= 1.0f - w->e[i] * w->e[i];
    add_row_sums (p[P_COND_B]->g, w->de, nF, Cc, 0, nF);
    gemm (FALSE, TRUE, Cc, M3, nF, w->de, nF, w->mc, nF, p[P_COND_W]->g, M3);
  }
  return loss;
}

/* ---- tasks and threads ------------------------------------------------------ */

/* Task @k of the call: its windows one after the other, in the workspace of
 * the thread running it, adding into the task's gradients. */
static void
run_task (gpointer data, guint k)
{
  ArWaveNetTrain *t = data;
  Task *task = &t->tasks[k];
  Workspace *w = ar_workspaces_claim (t->ws);

  task->loss_sum = 0.0;
  task->n_scored = 0;
  if (t->backward && k > 0)
    memset (task->grad, 0, ar_params_count (t->params) * sizeof (float));
  for (int i = task->w0; i < task->w0 + task->n; i++) {
    const ArWaveNetWindow *win = &t->win[i];

    task->loss_sum +=
        run_window (t, w, task->p, win, t->ld, t->backward, t->scale);
    task->n_scored += MAX (win->score_to - win->score_from, 0);
  }
  ar_workspaces_release (t->ws, w);
}

/* Parameter @i's gradient += the other tasks', in task order. */
static void
reduce_param (gpointer data, guint i)
{
  ArWaveNetTrain *t = data;
  ArParam *p = g_ptr_array_index (t->params, i);

  for (int k = 1; k < t->n_tasks; k++)
    ar_nn_add (p->g, t->tasks[k].views[i].g, p->n);
}

static gboolean
window_ok (const ArWaveNetTrain *t, const ArWaveNetWindow *win, int T)
{
  if (win->x == NULL || win->score_from < 0 || win->score_to > T ||
      (win->score_to > win->score_from &&
          win->start + win->score_to > win->n - 1))
    return FALSE;
  /* inside a file, the first receptive field − 1 positions are context */
  if (win->start > 0 && win->score_to > win->score_from &&
      (gsize) win->score_from < t->rf - 1)
    return FALSE;
  if (t->C > 0 && (win->global_class < 0 || win->global_class >= t->C))
    return FALSE;
  /* the frames up to the one of the last scored target */
  if (t->Cc > 0 && win->score_to > win->score_from &&
      (win->mel == NULL ||
          win->n_frames < (win->start + win->score_to) / t->hop + 1))
    return FALSE;
  return TRUE;
}

double
ar_wavenet_train_forward (ArWaveNetTrain *t, const ArWaveNetWindow *win, int T,
    int B, gboolean backward, guint64 *n_scored)
{
  g_return_val_if_fail (t != NULL && win != NULL, NAN);
  g_return_val_if_fail (T >= 1 && T <= t->max_T && B >= 1 && B <= t->max_B,
      NAN);
  guint64 total = 0;

  for (int b = 0; b < B; b++) {
    g_return_val_if_fail (window_ok (t, &win[b], T), NAN);
    total += MAX (win[b].score_to - win[b].score_from, 0);
  }
  g_return_val_if_fail (total > 0, NAN);

  t->win = win;
  t->T = T;
  t->B = B;
  t->backward = backward;
  t->scale = (float) (1.0 / (double) total);
  t->n_tasks = MIN (t->n_tasks_max, B);
  for (int k = 0; k < t->n_tasks; k++) {
    t->tasks[k].w0 = (int) ((gint64) B * k / t->n_tasks);
    t->tasks[k].n = (int) ((gint64) B * (k + 1) / t->n_tasks) - t->tasks[k].w0;
  }
  /* Every product single-threaded: OpenBLAS's threads would compete with
   * the tasks, and its split of a product changes the rounding. */
  int blas_threads = openblas_get_num_threads ();
  if (blas_threads != 1)
    openblas_set_num_threads (1);
  if (t->pool == NULL) {
    for (int k = 0; k < t->n_tasks; k++)
      run_task (t, k);
  } else {
    ar_threadpool_run (t->pool, t->n_tasks, run_task, t);
  }
  if (backward && t->n_tasks > 1) {
    if (t->pool != NULL)
      ar_threadpool_run (t->pool, t->params->len, reduce_param, t);
    else
      for (guint i = 0; i < t->params->len; i++)
        reduce_param (t, i);
  }
  if (blas_threads != 1)
    openblas_set_num_threads (blas_threads);
  t->win = NULL;

  double loss = 0.0;
  for (int k = 0; k < t->n_tasks; k++)
    loss += t->tasks[k].loss_sum;
  if (n_scored != NULL)
    *n_scored = total;
  return loss / (double) total;
}

/* ---- model files ---------------------------------------------------------- */

/* cond.weight (or with @bias cond.bias) with the mel normalisation folded
 * in, newly allocated. */
static float *
fold_cond (ArWaveNetTrain *t, gboolean bias)
{
  const ArParam *Wc = t->p[P_COND_W], *bc = t->p[P_COND_B];
  const int M = t->M, M3 = 3 * M;
  float *out = g_new (float, bias ? (gsize) t->Cc : (gsize) t->Cc * M3);

  for (int c = 0; c < t->Cc; c++) {
    const float *row = Wc->w + (gsize) c * M3;
    double shift = 0.0;

    for (int k = 0; k < M3; k++) {
      float w = row[k] * t->mel_scale[k % M];

      if (!bias)
        out[(gsize) c * M3 + k] = w;
      shift += (double) w * t->mel_shift[k % M];
    }
    if (bias)
      out[c] = (float) (bc->w[c] - shift);
  }
  return out;
}

void
ar_wavenet_train_write (ArWaveNetTrain *t, ArGgufWriter *w,
    const char *const *class_names)
{
  g_return_if_fail (t != NULL && w != NULL);
  const ArWaveNetConfig *c = &t->config;

  ar_wavenet_config_write (c, class_names, w);
  for (guint i = 0; i < t->params->len; i++) {
    ArParam *p = g_ptr_array_index (t->params, i);
    g_autofree float *folded = NULL;

    /* the mel normalisation folded into the cond convolution, whose input
     * in the file is the raw log-mel frames:
     *   W' = W · diag (scale),  b' = b - W' · shift */
    if (p == t->p[P_COND_W] || p == t->p[P_COND_B]) {
      folded = fold_cond (t, p == t->p[P_COND_B]);
      ar_gguf_writer_add_tensor_f32 (w, p->name, AR_TENSOR_F32, p->n_dims,
          p->ne, folded);
      continue;
    }
    ar_gguf_writer_add_tensor_f32 (w, p->name, AR_TENSOR_F32, p->n_dims, p->ne,
        p->w);
  }
}

gboolean
ar_wavenet_train_load_weights (ArWaveNetTrain *t, const ArGguf *gguf,
    GError **error)
{
  g_return_val_if_fail (t != NULL && gguf != NULL, FALSE);

  /* every tensor checked before any is copied: a file that fails leaves
   * the graph's weights as they were */
  for (guint i = 0; i < t->params->len; i++) {
    ArParam *p = g_ptr_array_index (t->params, i);
    const ArGgufTensor *tensor =
        ar_gguf_require_tensor (gguf, p->name, p->n_dims, p->ne, error);

    if (tensor == NULL)
      return FALSE;
    if (tensor->type != AR_TENSOR_F32 && tensor->type != AR_TENSOR_F16) {
      g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
          "%s: tensor '%s' has type %s; expected F32 or F16",
          ar_gguf_get_name (gguf), p->name, ar_tensor_type_name (tensor->type));
      return FALSE;
    }
  }
  for (guint i = 0; i < t->params->len; i++) {
    ArParam *p = g_ptr_array_index (t->params, i);

    ar_gguf_tensor_to_f32 (ar_gguf_find_tensor (gguf, p->name), p->w);
  }
  /* the file's cond convolution reads raw frames: unfold the normalisation
   * (W = W' · diag (sd), b = b' + W' · shift), bias first (it needs W') */
  if (t->Cc > 0) {
    ArParam *Wc = t->p[P_COND_W], *bc = t->p[P_COND_B];
    const int M = t->M, M3 = 3 * M;

    for (int c = 0; c < t->Cc; c++) {
      float *row = Wc->w + (gsize) c * M3;
      double shift = 0.0;

      for (int k = 0; k < M3; k++)
        shift += (double) row[k] * t->mel_shift[k % M];
      bc->w[c] = (float) (bc->w[c] + shift);
      for (int k = 0; k < M3; k++)
        row[k] /= t->mel_scale[k % M];
    }
  }
  return TRUE;
}

/* ---- the corpus ------------------------------------------------------------ */

struct _ArWaveNetCorpus
{
  GArray *files; /* (element-type ArWaveNetFile) */
  int n_mels;
  float pre_emphasis; /* α of the classes' e_t = s_t − α s_{t−1} */
};

static void
file_clear (gpointer data)
{
  ArWaveNetFile *f = data;

  g_free (f->path);
  g_free (f->x);
  g_free (f->mel);
}

static gboolean
corpus_add (ArWaveNetCorpus *corpus, GPtrArray *paths, gboolean held_out,
    int rate, const ArMel *mel, GError **error)
{
  g_autofree float *emphasised = NULL;

  for (guint i = 0; paths != NULL && i < paths->len; i++) {
    const char *path = g_ptr_array_index (paths, i);
    g_autofree float *samples = NULL;
    ArWaveNetFile f = { 0 };

    if (!ar_audio_read (path, rate, &samples, &f.n, error))
      return FALSE;
    f.path = g_strdup (path);
    f.x = g_new (guint8, MAX (f.n, 1));
    /* the classes code the emphasised signal, the mel frames (below) the
     * original one: what a vocoder is given at run time */
    emphasised = g_renew (float, emphasised, MAX (f.n, 1));
    /* an empty file reads as NULL, which memcpy may not be given */
    if (f.n > 0)
      memcpy (emphasised, samples, f.n * sizeof (float));
    ar_audio_pre_emphasize (emphasised, f.n, corpus->pre_emphasis);
    for (gsize j = 0; j < f.n; j++)
      f.x[j] = ar_mulaw_encode (emphasised[j]);
    if (mel != NULL) {
      f.n_frames = ar_mel_n_frames (mel, f.n);
      f.mel = new_floats (f.n_frames * ar_mel_get_params (mel)->n_mels);
      ar_mel_compute (mel, samples, f.n, f.mel);
    }
    f.global_class = -1;
    f.held_out = held_out;
    g_array_append_val (corpus->files, f);
  }
  return TRUE;
}

ArWaveNetCorpus *
ar_wavenet_corpus_new (GPtrArray *train, GPtrArray *held, int rate,
    const ArMelParams *mel_params, float pre_emphasis, GError **error)
{
  g_return_val_if_fail (rate > 0, NULL);
  g_return_val_if_fail (pre_emphasis >= 0.0f &&
          pre_emphasis <= AR_WAVENET_MAX_PRE_EMPHASIS,
      NULL);
  g_return_val_if_fail (mel_params == NULL || mel_params->sample_rate == rate,
      NULL);
  g_autoptr (ArMel) mel = NULL;

  if ((train == NULL || train->len == 0) && (held == NULL || held->len == 0)) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "no audio files for the corpus");
    return NULL;
  }
  if (mel_params != NULL && (mel = ar_mel_new (mel_params, error)) == NULL)
    return NULL;
  ArWaveNetCorpus *corpus = g_new0 (ArWaveNetCorpus, 1);
  corpus->files = g_array_new (FALSE, TRUE, sizeof (ArWaveNetFile));
  g_array_set_clear_func (corpus->files, file_clear);
  corpus->n_mels = mel_params ? mel_params->n_mels : 0;
  corpus->pre_emphasis = pre_emphasis;
  if (!corpus_add (corpus, train, FALSE, rate, mel, error) ||
      !corpus_add (corpus, held, TRUE, rate, mel, error)) {
    ar_wavenet_corpus_free (corpus);
    return NULL;
  }
  return corpus;
}

void
ar_wavenet_corpus_free (ArWaveNetCorpus *corpus)
{
  if (corpus == NULL)
    return;
  g_array_unref (corpus->files);
  g_free (corpus);
}

guint
ar_wavenet_corpus_get_n_files (const ArWaveNetCorpus *corpus)
{
  g_return_val_if_fail (corpus != NULL, 0);
  return corpus->files->len;
}

ArWaveNetFile *
ar_wavenet_corpus_get_file (ArWaveNetCorpus *corpus, guint i)
{
  g_return_val_if_fail (corpus != NULL && i < corpus->files->len, NULL);
  return &g_array_index (corpus->files, ArWaveNetFile, i);
}

/* The class name of file @f under @spec: the folder's name, or its entry
 * in @map (base name first, then path); NULL + error when it has none. */
static char *
class_of (const ArWaveNetFile *f, const char *spec, GHashTable *map,
    GError **error)
{
  if (map == NULL) {
    g_autofree char *dir = g_path_get_dirname (f->path);
    return g_path_get_basename (dir);
  }
  g_autofree char *base = g_path_get_basename (f->path);
  const char *cls = g_hash_table_lookup (map, base);

  if (cls == NULL)
    cls = g_hash_table_lookup (map, f->path);
  if (cls == NULL) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "%s: no class for %s (expected a line \"%s CLASS\")", spec, f->path,
        base);
    return NULL;
  }
  return g_strdup (cls);
}

/* The lines "NAME CLASS" of mapping file @spec. */
static GHashTable *
read_class_map (const char *spec, GError **error)
{
  g_autofree char *text = NULL;
  gsize len;
  GError *local = NULL;

  if (!g_file_get_contents (spec, &text, &len, &local)) {
    g_set_error (error, AR_ERROR, AR_ERROR_IO, "%s", local->message);
    g_error_free (local);
    return NULL;
  }
  if (strlen (text) != len) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "%s: contains a NUL byte; expected lines \"NAME CLASS\"", spec);
    return NULL;
  }
  GHashTable *map =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    /* split by hand: a NAME need not be UTF-8 (it is a file's name), and
     * GRegex only splits UTF-8 */
    g_auto (GStrv) parts = NULL;
    const char *fields[3] = { NULL, NULL, NULL };
    guint n = 0;
    char *line = g_strstrip (lines[i]);

    if (*line == '\0' || *line == '#')
      continue;
    parts = g_strsplit_set (line, " \t", -1);
    for (guint k = 0; parts[k] != NULL; k++)
      if (*parts[k] != '\0' && n++ < 3)
        fields[n - 1] = parts[k];
    if (n != 2) {
      g_autofree char *shown = g_utf8_make_valid (line, -1);

      g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
          "%s:%u: expected \"NAME CLASS\", found \"%s\"", spec, i + 1, shown);
      g_hash_table_unref (map);
      return NULL;
    }
    /* the CLASS becomes a class name of the model file, which is UTF-8 */
    if (!g_utf8_validate (fields[1], -1, NULL)) {
      g_autofree char *shown = g_utf8_make_valid (fields[1], -1);

      g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
          "%s:%u: the class \"%s\" is not valid UTF-8", spec, i + 1, shown);
      g_hash_table_unref (map);
      return NULL;
    }
    /* a NAME given two classes is a mistake in the file: which one was
     * meant cannot be known (the later one won) */
    const char *before = g_hash_table_lookup (map, fields[0]);
    if (before != NULL && strcmp (before, fields[1]) != 0) {
      g_autofree char *shown = g_utf8_make_valid (fields[0], -1);

      g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
          "%s:%u: %s is given the class \"%s\"; an earlier line gave it "
          "\"%s\"",
          spec, i + 1, shown, fields[1], before);
      g_hash_table_unref (map);
      return NULL;
    }
    g_hash_table_replace (map, g_strdup (fields[0]), g_strdup (fields[1]));
  }
  return map;
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

gboolean
ar_wavenet_corpus_assign_classes (ArWaveNetCorpus *corpus, const char *spec,
    char ***names, GError **error)
{
  g_return_val_if_fail (corpus != NULL && spec != NULL && names != NULL, FALSE);
  g_autoptr (GHashTable) map = NULL;
  guint n = corpus->files->len;
  g_auto (GStrv) cls = g_new0 (char *, n + 1);

  if (strcmp (spec, "dirs") != 0 &&
      (map = read_class_map (spec, error)) == NULL)
    return FALSE;
  for (guint i = 0; i < n; i++) {
    const ArWaveNetFile *f = &g_array_index (corpus->files, ArWaveNetFile, i);

    if ((cls[i] = class_of (f, spec, map, error)) == NULL)
      return FALSE;
    /* a model file's class names are UTF-8 (the loader refuses others) */
    if (!g_utf8_validate (cls[i], -1, NULL)) {
      g_autofree char *shown = g_utf8_make_valid (cls[i], -1);

      g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
          "%s: the class of %s, \"%s\", is not valid UTF-8", spec, f->path,
          shown);
      return FALSE;
    }
  }
  if (*names == NULL) {
    /* the distinct names, sorted */
    g_autoptr (GPtrArray) found = g_ptr_array_new ();
    g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

    for (guint i = 0; i < n; i++)
      if (g_hash_table_add (seen, cls[i]))
        g_ptr_array_add (found, g_strdup (cls[i]));
    g_ptr_array_sort (found, compare_strings);
    g_ptr_array_add (found, NULL);
    *names = (char **) g_ptr_array_free (g_steal_pointer (&found), FALSE);
  }
  for (guint i = 0; i < n; i++) {
    ArWaveNetFile *f = &g_array_index (corpus->files, ArWaveNetFile, i);
    int k = -1;

    for (int j = 0; (*names)[j] != NULL && k < 0; j++)
      if (strcmp ((*names)[j], cls[i]) == 0)
        k = j;
    if (k < 0) {
      g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
          "%s: class \"%s\" of %s is not one of the model's %u classes", spec,
          cls[i], f->path, g_strv_length (*names));
      return FALSE;
    }
    f->global_class = k;
  }
  return TRUE;
}

guint64
ar_wavenet_corpus_count_samples (const ArWaveNetCorpus *corpus,
    gboolean held_out)
{
  g_return_val_if_fail (corpus != NULL, 0);
  guint64 n = 0;

  for (guint i = 0; i < corpus->files->len; i++) {
    const ArWaveNetFile *f = &g_array_index (corpus->files, ArWaveNetFile, i);

    if (f->held_out == held_out)
      n += f->n;
  }
  return n;
}

/* ---- the training task ------------------------------------------------------ */

struct _ArWaveNetTask
{
  ArTrainable trainable;
  ArWaveNetTrain *net;
  ArWaveNetCorpus *corpus;
  int T, B, K; /* K = T − (receptive field − 1) scored targets per window */
  GStrv class_names;
  guint *train_files; /* (n_train) indices of the training files */
  guint64 *train_cum; /* (n_train + 1) blocks before each training file */
  guint n_train;
  ArWaveNetWindow *win; /* (B) */
};

/* The window whose block of K targets starts at target @a (2 − K <= a <= n −
 * 1) of @f, scoring the block's targets inside x_1 … x_{n−1}. */
static ArWaveNetWindow
block_window (const ArWaveNetTask *task, const ArWaveNetFile *f, gint64 a)
{
  gint64 rf = (gint64) (task->T - task->K + 1), n = (gint64) f->n;
  gint64 lo = MAX (a, 1), hi = MIN (a + task->K, n);
  gint64 s = MAX (a - rf, 0);
  ArWaveNetWindow w = {
    .x = f->x,
    .n = f->n,
    .start = (gsize) s,
    .score_from = (int) (lo - 1 - s),
    .score_to = (int) (hi - 1 - s),
    .mel = f->mel,
    .n_frames = f->n_frames,
    .global_class = f->global_class,
  };
  return w;
}

static float
task_step (gpointer self, ArRng *rng)
{
  ArWaveNetTask *task = self;

  g_return_val_if_fail (task->n_train > 0, NAN);
  for (int b = 0; b < task->B; b++) {
    guint64 r = ar_rng_below (rng, task->train_cum[task->n_train]);
    /* the last training file whose first block is at or before r */
    guint lo = 0, hi = task->n_train;

    while (hi - lo > 1) {
      guint mid = (lo + hi) / 2;

      if (task->train_cum[mid] <= r)
        lo = mid;
      else
        hi = mid;
    }
    const ArWaveNetFile *f =
        ar_wavenet_corpus_get_file (task->corpus, task->train_files[lo]);
    gint64 a = 2 - task->K + (gint64) (r - task->train_cum[lo]);

    task->win[b] = block_window (task, f, a);
  }
  return (float) (ar_wavenet_train_forward (task->net, task->win, task->T,
                      task->B, TRUE, NULL) /
      G_LN2);
}

/* ArTrainable.check: a step draws its windows from the training targets */
static gboolean
task_check (gpointer self, GError **error)
{
  ArWaveNetTask *task = self;
  guint n_files = 0;

  if (task->n_train > 0)
    return TRUE;
  for (guint i = 0; i < task->corpus->files->len; i++)
    if (!g_array_index (task->corpus->files, ArWaveNetFile, i).held_out)
      n_files++;
  g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
      "nothing to train on: no training file (of %u) has the 2 samples a "
      "prediction needs",
      n_files);
  return FALSE;
}

static double
task_evaluate (gpointer self)
{
  return ar_wavenet_task_evaluate (self, TRUE, NULL);
}

static void
task_write_model (gpointer self, ArGgufWriter *w)
{
  ArWaveNetTask *task = self;

  ar_wavenet_train_write (task->net, w,
      (const char *const *) task->class_names);
}

static const char *const cond_params[] = { "cond.weight", "cond.bias", NULL };

ArWaveNetTask *
ar_wavenet_task_new (const ArWaveNetConfig *config, ArWaveNetCorpus *corpus,
    int T, int B, int n_threads, const char *const *class_names)
{
  g_return_val_if_fail (config != NULL && corpus != NULL, NULL);
  g_return_val_if_fail (ar_wavenet_train_check (config, T, B, NULL), NULL);
  g_return_val_if_fail (config->cond_channels == 0 ||
          corpus->n_mels == config->mel.n_mels,
      NULL);
  g_return_val_if_fail (corpus->pre_emphasis == config->pre_emphasis, NULL);
  guint n_files = corpus->files->len;

  for (guint i = 0; i < n_files; i++) {
    const ArWaveNetFile *f = &g_array_index (corpus->files, ArWaveNetFile, i);

    g_return_val_if_fail (config->global_classes == 0 ||
            (f->global_class >= 0 && f->global_class < config->global_classes),
        NULL);
  }
  ArWaveNetTask *task = g_new0 (ArWaveNetTask, 1);
  guint64 n_targets = 0;

  task->net = ar_wavenet_train_new (config, T, B, n_threads);
  task->corpus = corpus;
  task->T = T;
  task->B = B;
  task->K = T - (int) ar_wavenet_train_receptive_field (config) + 1;
  if (config->global_classes > 0 && class_names != NULL)
    task->class_names = g_strdupv ((char **) class_names);
  task->train_files = g_new (guint, MAX (n_files, 1));
  task->train_cum = g_new0 (guint64, n_files + 1);
  for (guint i = 0; i < n_files; i++) {
    const ArWaveNetFile *f = &g_array_index (corpus->files, ArWaveNetFile, i);

    if (f->held_out || f->n < 2)
      continue;
    n_targets += f->n - 1;
    task->train_files[task->n_train] = i;
    /* blocks starting at targets 2 − K … n − 1 */
    task->train_cum[task->n_train + 1] =
        task->train_cum[task->n_train] + f->n + task->K - 2;
    task->n_train++;
  }
  task->win = g_new0 (ArWaveNetWindow, B);
  /* each target lies in K of the blocks, so a window drawn uniformly among
   * them scores K · targets / blocks on average (less than K: windows at the
   * ends of files score only the file's targets) */
  guint64 blocks = task->train_cum[task->n_train];
  task->trainable = (ArTrainable){
    .unit = "bits/sample",
    .units_per_s_name = "samples/s",
    .units_per_step = blocks > 0
        ? (guint64) llround ((double) B * task->K * n_targets / blocks)
        : (guint64) B * task->K,
    .params = ar_wavenet_train_get_params (task->net),
    .step = task_step,
    .evaluate = task_evaluate,
    .write_model = task_write_model,
    .check = task_check,
    /* written with the mel normalisation folded in */
    .transformed = config->cond_channels > 0 ? cond_params : NULL,
  };
  return task;
}

void
ar_wavenet_task_free (ArWaveNetTask *task)
{
  if (task == NULL)
    return;
  ar_wavenet_train_free (task->net);
  g_strfreev (task->class_names);
  g_free (task->train_files);
  g_free (task->train_cum);
  g_free (task->win);
  g_free (task);
}

void
ar_wavenet_task_init (ArWaveNetTask *task, ArRng *rng)
{
  g_return_if_fail (task != NULL && rng != NULL);
  ArWaveNetTrain *t = task->net;

  ar_wavenet_train_init (t, rng);
  if (t->Cc == 0)
    return;
  /* per-band mean and deviation over every frame of the training files, in
   * double */
  const int M = t->M;
  g_autofree double *sum = g_new0 (double, M);
  g_autofree double *sum2 = g_new0 (double, M);
  guint64 frames = 0;

  for (guint i = 0; i < task->corpus->files->len; i++) {
    const ArWaveNetFile *f =
        &g_array_index (task->corpus->files, ArWaveNetFile, i);

    if (f->held_out || f->mel == NULL)
      continue;
    for (gsize j = 0; j < f->n_frames; j++)
      for (int m = 0; m < M; m++) {
        double v = f->mel[j * M + m];

        sum[m] += v;
        sum2[m] += v * v;
      }
    frames += f->n_frames;
  }
  if (frames == 0)
    return;
  /* the graph reads each band centred and scaled to unit deviation: with
   * raw log-mel frames (around -5, most bands alike) every step on the
   * cond convolution's weights moved its pre-activations by large common
   * amounts, and its tanh saturated */
  g_autofree float *mean = g_new (float, M);
  g_autofree float *sd = g_new (float, M);
  for (int m = 0; m < M; m++) {
    double mu = sum[m] / frames;

    mean[m] = (float) mu;
    sd[m] = (float) sqrt (MAX (sum2[m] / frames - mu * mu, 1e-6));
  }
  ar_wavenet_train_set_mel_normalization (t, mean, sd);
}

const ArTrainable *
ar_wavenet_task_get_trainable (ArWaveNetTask *task)
{
  g_return_val_if_fail (task != NULL, NULL);
  return &task->trainable;
}

ArWaveNetTrain *
ar_wavenet_task_get_net (ArWaveNetTask *task)
{
  g_return_val_if_fail (task != NULL, NULL);
  return task->net;
}

double
ar_wavenet_task_evaluate (ArWaveNetTask *task, gboolean held_out,
    guint64 *n_scored)
{
  g_return_val_if_fail (task != NULL, NAN);
  double total = 0.0;
  guint64 count = 0;
  int nw = 0;

  for (guint i = 0; i <= task->corpus->files->len; i++) {
    const ArWaveNetFile *f = i < task->corpus->files->len
        ? &g_array_index (task->corpus->files, ArWaveNetFile, i)
        : NULL;

    /* consecutive blocks of K targets from x_1; a batch goes when full, and
     * after the last file */
    if (f != NULL && f->held_out == held_out && f->n >= 2) {
      for (gint64 a = 1; a <= (gint64) f->n - 1; a += task->K) {
        task->win[nw++] = block_window (task, f, a);
        if (nw == task->B) {
          guint64 n;
          double mean = ar_wavenet_train_forward (task->net, task->win, task->T,
              nw, FALSE, &n);

          total += mean * n;
          count += n;
          nw = 0;
        }
      }
    }
    if (f == NULL && nw > 0) {
      guint64 n;
      double mean = ar_wavenet_train_forward (task->net, task->win, task->T, nw,
          FALSE, &n);

      total += mean * n;
      count += n;
    }
  }
  if (n_scored != NULL)
    *n_scored = count;
  return count > 0 ? total / count / G_LN2 : NAN;
}
