/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-nn.c — tests of the training core (models/nn/ar-nn.h).
 *
 * Every backward pass is checked against central finite differences of a
 * scalar loss.  The loss is a fixed random projection L = Σ P ⊙ Y of the layer
 * output (so dL/dY = P), accumulated in double; each parameter and input
 * element is moved by ±EPS (1e-2; the layers compute in float, and a smaller
 * step would let float rounding of Y dominate the difference) and the analytic
 * gradient must satisfy
 *     |analytic - numeric| <= FD_RTOL * max(|analytic|, |numeric|) + FD_ATOL
 * with FD_RTOL = 1e-2 (relative) and FD_ATOL = 1e-4 (for entries near zero).
 * The sizes are small and odd (H = 7, n_in = 5) so that no vector width divides
 * them, T = 4 steps and B = 3 streams.
 *
 * Also: the recurrent forward against a loop of ar_cell_step (the inference
 * kernel, the oracle tying training to generation), AdamW against values worked
 * out by hand, gradient clipping, the learning-rate schedule, and bit-identical
 * results for a fixed seed. */
#include <math.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include "nn/ar-nn.h"
#include "nn/ar-nn-private.h"
#include "core/ar-kernels.h"
#include "core/ar-rng.h"

#define EPS 1e-2
#define FD_RTOL 1e-2
#define FD_ATOL 1e-4

/* ---- helpers ---------------------------------------------------------- */

/* new_floats (n), spelled as a function so that clang-format reads the
 * size as an expression */
static float *
new_floats (gsize n)
{
  return g_new (float, n);
}

static void
fill_uniform (float *x, gsize n, ArRng *rng, float a)
{
  gsize i;

  for (i = 0; i < n; i++)
    x[i] = a * (2.0f * ar_rng_uniform (rng) - 1.0f);
}

static float *
new_uniform (gsize n, ArRng *rng, float a)
{
  float *x = new_floats (n);

  fill_uniform (x, n, rng, a);
  return x;
}

/* Σ P ⊙ Y in double */
static double
project (const float *P, const float *Y, gsize n)
{
  double s = 0.0;
  gsize i;

  for (i = 0; i < n; i++)
    s += (double) P[i] * Y[i];
  return s;
}

/* Asserts analytic ≈ numeric element-wise; returns the largest error ratio
 * |a - n| / (FD_RTOL * max(|a|, |n|) + FD_ATOL) (must be <= 1). */
static double
check_close (const char *what, const float *analytic, const double *numeric,
    gsize n)
{
  double worst = 0.0;
  gsize i;

  for (i = 0; i < n; i++) {
    double a = analytic[i], d = numeric[i];
    double tol = FD_RTOL * MAX (fabs (a), fabs (d)) + FD_ATOL;
    double ratio = fabs (a - d) / tol;

    if (!(ratio <= 1.0))
      g_error ("%s[%" G_GSIZE_FORMAT "]: analytic %.7g, finite difference %.7g",
          what, i, a, d);
    worst = MAX (worst, ratio);
  }
  g_test_message ("%s: %" G_GSIZE_FORMAT
                  " entries, worst error %.3f of tolerance",
      what, n, worst);
  return worst;
}

/* The loss as a function of the current contents of the buffers it reads. */
typedef double (*LossFunc) (gpointer data);

/* numeric[i] = (L(x_i + EPS) - L(x_i - EPS)) / (2 EPS), restoring x. */
static double *
numeric_grad (float *x, gsize n, LossFunc loss, gpointer data)
{
  double *num = g_new (double, n);
  gsize i;

  for (i = 0; i < n; i++) {
    float saved = x[i];
    double lp, lm;

    x[i] = saved + (float) EPS;
    lp = loss (data);
    x[i] = saved - (float) EPS;
    lm = loss (data);
    x[i] = saved;
    /* Divide by the step actually taken in float. */
    num[i] = (lp - lm) /
        ((double) (saved + (float) EPS) - (double) (saved - (float) EPS));
  }
  return num;
}

static void
check_fd (const char *what, float *x, const float *analytic, gsize n,
    LossFunc loss, gpointer data)
{
  double *num = numeric_grad (x, n, loss, data);

  check_close (what, analytic, num, n);
  g_free (num);
}

/* analytic - offset, for gradients that were pre-filled to test accumulation */
static float *
minus (const float *g, gsize n, float offset)
{
  float *r = new_floats (n);
  gsize i;

  for (i = 0; i < n; i++)
    r[i] = g[i] - offset;
  return r;
}

static ArParam *
new_param (const char *name, guint n_dims, guint64 ne0, guint64 ne1)
{
  guint64 ne[2] = { ne0, ne1 };

  return ar_param_new (name, n_dims, ne);
}

/* ---- parameters --------------------------------------------------------- */

static void
test_param_basics (void)
{
  g_autoptr (ArParam) W = new_param ("w", 2, 3, 4);
  g_autoptr (ArParam) b = new_param ("b", 1, 4, 0);
  g_autoptr (GPtrArray) params = g_ptr_array_new ();
  ArRng rng;
  double sum = 0.0, sumsq = 0.0;
  gsize i;

  g_assert_cmpstr (W->name, ==, "w");
  g_assert_cmpuint (W->n, ==, 12);
  g_assert_cmpuint (W->ne[0], ==, 3);
  g_assert_cmpuint (W->ne[1], ==, 4);
  g_assert_cmpuint (W->ne[2], ==, 1);
  g_assert_true (W->decay);
  g_assert_false (b->decay);
  for (i = 0; i < W->n; i++)
    g_assert_true (W->w[i] == 0.0f && W->g[i] == 0.0f && W->m[i] == 0.0f &&
        W->v[i] == 0.0f);

  g_ptr_array_add (params, W);
  g_ptr_array_add (params, b);
  g_assert_cmpuint (ar_params_count (params), ==, 16);
  for (i = 0; i < 4; i++)
    b->g[i] = 1.0f;
  ar_params_zero_grad (params);
  for (i = 0; i < 4; i++)
    g_assert_true (b->g[i] == 0.0f);

  ar_rng_init (&rng, 1);
  ar_param_init_uniform (W, &rng, 0.5f);
  for (i = 0; i < W->n; i++)
    g_assert_true (fabsf (W->w[i]) <= 0.5f);
  g_assert_true (W->w[0] != W->w[1]);

  /* normal: mean and standard deviation of 20000 draws within 4 standard
   * errors (0.03 / sqrt(20000) ≈ 2e-4 for the mean). */
  {
    g_autoptr (ArParam) Nrm = new_param ("n", 1, 20000, 0);

    ar_param_init_normal (Nrm, &rng, 0.03f);
    for (i = 0; i < Nrm->n; i++) {
      sum += Nrm->w[i];
      sumsq += (double) Nrm->w[i] * Nrm->w[i];
    }
    g_assert_cmpfloat (fabs (sum / Nrm->n), <, 4 * 0.03 / sqrt (20000.0));
    g_assert_cmpfloat (fabs (sqrt (sumsq / Nrm->n) - 0.03), <,
        4 * 0.03 / sqrt (2 * 20000.0));
  }
}

static void
test_clip (void)
{
  g_autoptr (ArParam) a = new_param ("a", 1, 2, 0);
  g_autoptr (ArParam) c = new_param ("c", 2, 1, 1);
  g_autoptr (GPtrArray) params = g_ptr_array_new ();
  float norm;

  g_ptr_array_add (params, a);
  g_ptr_array_add (params, c);

  /* global norm of (3, 4, 12) is 13 */
  a->g[0] = 3.0f;
  a->g[1] = 4.0f;
  c->g[0] = -12.0f;
  norm = ar_params_clip_grad_norm (params, 20.0f);
  g_assert_cmpfloat_with_epsilon (norm, 13.0f, 1e-5f);
  g_assert_true (a->g[0] == 3.0f && a->g[1] == 4.0f && c->g[0] == -12.0f);

  norm = ar_params_clip_grad_norm (params, 1.0f);
  g_assert_cmpfloat_with_epsilon (norm, 13.0f, 1e-5f);
  /* scaled by 1 / (13 + 1e-6), as PyTorch */
  g_assert_cmpfloat_with_epsilon (a->g[0], 3.0f / 13.0f, 1e-6f);
  g_assert_cmpfloat_with_epsilon (a->g[1], 4.0f / 13.0f, 1e-6f);
  g_assert_cmpfloat_with_epsilon (c->g[0], -12.0f / 13.0f, 1e-6f);
  norm = ar_params_clip_grad_norm (params, 1.0f);
  g_assert_cmpfloat_with_epsilon (norm, 1.0f, 1e-5f);
}

static void
test_grad_views (void)
{
  g_autoptr (ArParam) a = new_param ("a", 1, 2, 0);
  g_autoptr (ArParam) c = new_param ("c", 2, 3, 2);
  g_autoptr (GPtrArray) params = g_ptr_array_new ();
  g_autofree ArParam *views = NULL;
  g_autofree float *grad = NULL;

  g_ptr_array_add (params, a);
  g_ptr_array_add (params, c);
  a->g[1] = 5.0f;
  views = ar_params_new_grad_views (params, &grad);
  /* the same values and shapes, the gradients one zeroed block in list
   * order, no moments */
  for (guint i = 0; i < params->len; i++) {
    const ArParam *p = g_ptr_array_index (params, i);

    g_assert_true (views[i].w == p->w);
    g_assert_cmpuint (views[i].n, ==, p->n);
    g_assert_cmpstr (views[i].name, ==, p->name);
    g_assert_true (views[i].m == NULL && views[i].v == NULL);
  }
  g_assert_true (views[0].g == grad && views[1].g == grad + 2);
  for (int i = 0; i < 8; i++)
    g_assert_cmpfloat (grad[i], ==, 0.0f);
  /* a view's gradient is not its parameter's */
  views[0].g[1] = 2.0f;
  views[1].g[5] = 3.0f;
  g_assert_cmpfloat (a->g[1], ==, 5.0f);
  g_assert_cmpfloat (c->g[5], ==, 0.0f);
}

/* ---- AdamW and the schedule ------------------------------------------ */

static void
test_adamw (void)
{
  /* W (decay) and b (no decay); lr 0.1, weight decay 0.01, betas (0.9, 0.999),
   * eps 1e-8.  Worked by hand for W[0] = 1, g = 0.5 then -0.25:
   *  step 1: w ← 1 · (1 - 0.1 · 0.01) = 0.999;  m = 0.05;  v = 0.00025;
   *          m̂ = 0.05 / 0.1 = 0.5;  v̂ = 0.00025 / 0.001 = 0.25;
   *          w ← 0.999 - 0.1 · 0.5 / (0.5 + 1e-8) = 0.899000002
   *  step 2: w ← 0.899000002 · 0.999 = 0.898101002;
   *          m = 0.9 · 0.05 - 0.1 · 0.25 = 0.02;
   *          v = 0.999 · 0.00025 + 0.001 · 0.0625 = 0.00031225;
   *          m̂ = 0.02 / 0.19 = 0.105263158;  v̂ = 0.00031225 / 0.001999 = 0.156203102;
   *          w ← 0.898101002 - 0.1 · 0.105263158 / (0.395225382 + 1e-8) = 0.871467299
   * The same without decay for b[0] gives 0.900000002 then 0.873366299; the
   * other entries follow the same arithmetic. */
  static const float w_step1[2] = { 0.899000002f, -1.898000001f };
  static const float w_step2[2] = { 0.871467299f, -1.945520984f };
  static const float b_step1[2] = { 0.900000002f, 0.4000000005f };
  static const float b_step2[2] = { 0.873366299f, 0.332994176f };
  g_autoptr (ArParam) W = new_param ("w", 2, 2, 1);
  g_autoptr (ArParam) b = new_param ("b", 1, 2, 0);
  g_autoptr (GPtrArray) params = g_ptr_array_new ();
  ArAdamW opt = AR_ADAMW_INIT;
  int i;

  g_assert_true (W->decay && !b->decay);
  g_ptr_array_add (params, W);
  g_ptr_array_add (params, b);
  W->w[0] = 1.0f;
  W->w[1] = -2.0f;
  b->w[0] = 1.0f;
  b->w[1] = 0.5f;

  W->g[0] = 0.5f;
  W->g[1] = -1.0f;
  b->g[0] = 0.5f;
  b->g[1] = 2.0f;
  ar_adamw_step (&opt, params, 1, 0.1f);
  for (i = 0; i < 2; i++) {
    g_assert_cmpfloat_with_epsilon (W->w[i], w_step1[i], 1e-6f);
    g_assert_cmpfloat_with_epsilon (b->w[i], b_step1[i], 1e-6f);
  }
  /* The betas are floats, so 1 - beta2 carries a relative error of 1.3e-5
   * (0.999f is 0.99900001287): the moments are checked to that precision. */
  g_assert_cmpfloat_with_epsilon (W->m[0], 0.05f, 0.05f * 1e-6f);
  g_assert_cmpfloat_with_epsilon (W->v[0], 0.00025f, 0.00025f * 3e-5f);

  W->g[0] = -0.25f;
  W->g[1] = 3.0f;
  b->g[0] = -0.25f;
  b->g[1] = 0.0f;
  ar_adamw_step (&opt, params, 2, 0.1f);
  for (i = 0; i < 2; i++) {
    g_assert_cmpfloat_with_epsilon (W->w[i], w_step2[i], 1e-6f);
    g_assert_cmpfloat_with_epsilon (b->w[i], b_step2[i], 1e-6f);
  }
  g_assert_cmpfloat_with_epsilon (W->m[0], 0.02f, 0.02f * 1e-5f);
  g_assert_cmpfloat_with_epsilon (W->v[0], 0.00031225f, 0.00031225f * 3e-5f);
}

static void
test_schedule (void)
{
  const float mx = 1e-3f, mn = 1e-4f;

  /* warm-up 10 steps, cosine until step 110 */
  g_assert_cmpfloat (ar_lr_warmup_cosine (0, 10, 110, mx, mn), ==, 0.0f);
  g_assert_cmpfloat_with_epsilon (ar_lr_warmup_cosine (5, 10, 110, mx, mn),
      5e-4f, 1e-9f);
  g_assert_cmpfloat_with_epsilon (ar_lr_warmup_cosine (10, 10, 110, mx, mn), mx,
      1e-9f);
  /* a quarter of the way: lr_min + (1 + cos(π/4)) / 2 · (lr_max - lr_min) */
  g_assert_cmpfloat_with_epsilon (ar_lr_warmup_cosine (35, 10, 110, mx, mn),
      8.681980515e-4f, 1e-9f);
  /* midpoint of the cosine: halfway between the two rates */
  g_assert_cmpfloat_with_epsilon (ar_lr_warmup_cosine (60, 10, 110, mx, mn),
      5.5e-4f, 1e-9f);
  /* one step before the end: lr_min + (1 + cos(0.99 π)) / 2 · (lr_max - lr_min) */
  g_assert_cmpfloat_with_epsilon (ar_lr_warmup_cosine (109, 10, 110, mx, mn),
      1.002220568e-4f, 1e-10f);
  g_assert_cmpfloat (ar_lr_warmup_cosine (110, 10, 110, mx, mn), ==, mn);
  g_assert_cmpfloat (ar_lr_warmup_cosine (1000, 10, 110, mx, mn), ==, mn);
  /* no warm-up: starts at lr_max */
  g_assert_cmpfloat_with_epsilon (ar_lr_warmup_cosine (0, 0, 100, mx, mn), mx,
      1e-9f);

  /* The edges, with steps numbered from 1 as the trainer does.  Without a
   * warm-up the first step trains at lr_max (it trained a step into the
   * decay, at lr_min + (1 + cos(π/100)) / 2 · (lr_max - lr_min)) and the
   * last at lr_min: the cosine runs over steps 1 … total. */
  g_assert_cmpfloat (ar_lr_warmup_cosine (1, 0, 100, mx, mn), ==, mx);
  g_assert_cmpfloat_with_epsilon (ar_lr_warmup_cosine (2, 0, 100, mx, mn),
      (float) (mn + 0.5 * (1.0 + cos (G_PI / 99)) * (mx - mn)), 1e-9f);
  g_assert_cmpfloat (ar_lr_warmup_cosine (100, 0, 100, mx, mn), ==, mn);
  /* a warm-up of 1 step is no warm-up: the same schedule */
  for (guint64 t = 1; t <= 101; t++)
    g_assert_cmpfloat (ar_lr_warmup_cosine (t, 1, 100, mx, mn), ==,
        ar_lr_warmup_cosine (t, 0, 100, mx, mn));
  /* a one-step run trains at lr_max (it trained at lr_min) */
  g_assert_cmpfloat (ar_lr_warmup_cosine (1, 0, 1, mx, mn), ==, mx);
  g_assert_cmpfloat (ar_lr_warmup_cosine (2, 0, 1, mx, mn), ==, mn);
  /* two steps: lr_max, then lr_min */
  g_assert_cmpfloat (ar_lr_warmup_cosine (1, 0, 2, mx, mn), ==, mx);
  g_assert_cmpfloat (ar_lr_warmup_cosine (2, 0, 2, mx, mn), ==, mn);
  /* total = warmup + 1: the ramp to lr_max, then one step at lr_min */
  g_assert_cmpfloat_with_epsilon (ar_lr_warmup_cosine (1, 3, 4, mx, mn),
      mx / 3, 1e-9f);
  g_assert_cmpfloat_with_epsilon (ar_lr_warmup_cosine (2, 3, 4, mx, mn),
      2 * mx / 3, 1e-9f);
  g_assert_cmpfloat (ar_lr_warmup_cosine (3, 3, 4, mx, mn), ==, mx);
  g_assert_cmpfloat (ar_lr_warmup_cosine (4, 3, 4, mx, mn), ==, mn);
  /* a warm-up as long as the run: the last step reaches lr_max (it
   * jumped to lr_min instead); longer, the rate is still climbing */
  g_assert_cmpfloat_with_epsilon (ar_lr_warmup_cosine (4, 5, 5, mx, mn),
      0.8f * mx, 1e-9f);
  g_assert_cmpfloat (ar_lr_warmup_cosine (5, 5, 5, mx, mn), ==, mx);
  g_assert_cmpfloat_with_epsilon (ar_lr_warmup_cosine (5, 10, 5, mx, mn),
      0.5f * mx, 1e-9f);
  /* lr_min = lr_max: constant after the warm-up */
  for (guint64 t = 1; t <= 12; t++)
    g_assert_cmpfloat_with_epsilon (ar_lr_warmup_cosine (t, 2, 12, mx, mx),
        t < 2 ? mx / 2 : mx, 1e-9f);
  /* never increasing after the peak, from lr_max down to lr_min */
  for (guint64 total = 1; total <= 6; total++)
    for (guint64 warmup = 0; warmup < total; warmup++) {
      float prev = ar_lr_warmup_cosine (MAX (warmup, 1), warmup, total, mx,
          mn);

      g_assert_cmpfloat (prev, ==, mx);
      for (guint64 t = MAX (warmup, 1) + 1; t <= total; t++) {
        float lr = ar_lr_warmup_cosine (t, warmup, total, mx, mn);

        g_assert_cmpfloat (lr, <=, prev);
        prev = lr;
      }
      g_assert_cmpfloat (prev, ==, total > MAX (warmup, 1) ? mn : mx);
    }
}

/* ---- linear -------------------------------------------------------------- */

typedef struct
{
  ArParam *W, *b;
  float *X, *Y, *P;
  int N;
} LinearCase;

static double
linear_loss (gpointer data)
{
  LinearCase *c = data;

  ar_nn_linear_forward (c->W, c->b, c->X, c->Y, c->N);
  return project (c->P, c->Y, (gsize) c->N * c->W->ne[1]);
}

static void
test_linear (void)
{
  enum
  {
    N = 6,
    IN = 5,
    OUT = 7
  };
  LinearCase c;
  ArRng rng;
  float *dX, *gw, *gb;
  int i, o, k;

  ar_rng_init (&rng, 7);
  c.W = new_param ("w", 2, IN, OUT);
  c.b = new_param ("b", 1, OUT, 0);
  c.N = N;
  fill_uniform (c.W->w, c.W->n, &rng, 0.5f);
  fill_uniform (c.b->w, c.b->n, &rng, 0.5f);
  c.X = new_uniform (N * IN, &rng, 1.0f);
  c.P = new_uniform (N * OUT, &rng, 1.0f);
  c.Y = new_floats (N * OUT);
  dX = new_floats (N * IN);

  /* forward against a direct double-precision sum */
  ar_nn_linear_forward (c.W, c.b, c.X, c.Y, N);
  for (i = 0; i < N; i++)
    for (o = 0; o < OUT; o++) {
      double s = c.b->w[o];

      for (k = 0; k < IN; k++)
        s += (double) c.X[i * IN + k] * c.W->w[o * IN + k];
      g_assert_cmpfloat_with_epsilon (c.Y[i * OUT + o], s, 1e-5);
    }

  /* backward: gradients pre-filled with 0.25 (they must accumulate), dX with
   * garbage (it must be overwritten) */
  for (i = 0; i < (int) c.W->n; i++)
    c.W->g[i] = 0.25f;
  for (i = 0; i < OUT; i++)
    c.b->g[i] = 0.25f;
  for (i = 0; i < N * IN; i++)
    dX[i] = 1e30f;
  ar_nn_linear_backward (c.W, c.b, c.X, c.P, dX, N);
  gw = minus (c.W->g, c.W->n, 0.25f);
  gb = minus (c.b->g, c.b->n, 0.25f);
  check_fd ("linear dW", c.W->w, gw, c.W->n, linear_loss, &c);
  check_fd ("linear db", c.b->w, gb, c.b->n, linear_loss, &c);
  check_fd ("linear dX", c.X, dX, N * IN, linear_loss, &c);

  /* without bias */
  {
    ArParam *b = c.b;

    c.b = NULL;
    memset (c.W->g, 0, c.W->n * sizeof (float));
    ar_nn_linear_backward (c.W, NULL, c.X, c.P, dX, N);
    check_fd ("linear (no bias) dW", c.W->w, c.W->g, c.W->n, linear_loss, &c);
    check_fd ("linear (no bias) dX", c.X, dX, N * IN, linear_loss, &c);
    c.b = b;
  }

  g_free (gw);
  g_free (gb);
  g_free (dX);
  g_free (c.X);
  g_free (c.Y);
  g_free (c.P);
  ar_param_free (c.W);
  ar_param_free (c.b);
}

/* ---- embedding ----------------------------------------------------------- */

typedef struct
{
  ArParam *E;
  const gint32 *ids;
  float *Y, *P;
  int N;
} EmbeddingCase;

static double
embedding_loss (gpointer data)
{
  EmbeddingCase *c = data;

  ar_nn_embedding_forward (c->E, c->ids, c->Y, c->N);
  return project (c->P, c->Y, (gsize) c->N * c->E->ne[0]);
}

static void
test_embedding (void)
{
  /* id 2 three times, 4 twice, 0 and 5 never */
  static const gint32 ids[] = { 2, 4, 2, 1, 3, 2, 4 };
  enum
  {
    N = G_N_ELEMENTS (ids),
    V = 6,
    D = 5
  };
  EmbeddingCase c;
  ArRng rng;
  int i, j;

  ar_rng_init (&rng, 8);
  c.E = new_param ("e", 2, D, V);
  c.ids = ids;
  c.N = N;
  fill_uniform (c.E->w, c.E->n, &rng, 1.0f);
  c.P = new_uniform (N * D, &rng, 1.0f);
  c.Y = new_floats (N * D);

  ar_nn_embedding_forward (c.E, ids, c.Y, N);
  for (i = 0; i < N; i++)
    for (j = 0; j < D; j++)
      g_assert_true (c.Y[i * D + j] == c.E->w[ids[i] * D + j]);

  ar_nn_embedding_backward (c.E, ids, c.P, N);
  check_fd ("embedding dE", c.E->w, c.E->g, c.E->n, embedding_loss, &c);
  /* rows never looked up get no gradient */
  for (j = 0; j < D; j++)
    g_assert_true (c.E->g[0 * D + j] == 0.0f && c.E->g[5 * D + j] == 0.0f);

  g_free (c.P);
  g_free (c.Y);
  ar_param_free (c.E);
}

/* ---- softmax cross-entropy ----------------------------------------------- */

typedef struct
{
  float *logits;
  const gint32 *targets;
  int N, V;
} XentCase;

static double
xent_loss (gpointer data)
{
  XentCase *c = data;

  return ar_nn_softmax_xent (c->logits, c->targets, NULL, c->N, c->V);
}

static void
test_xent (void)
{
  static const gint32 targets[] = { 0, 3, 3, 6, 1 };
  enum
  {
    N = G_N_ELEMENTS (targets),
    V = 7
  };
  XentCase c;
  ArRng rng;
  float *d, *alias;
  float two[4] = { 0.0f, 0.0f, 1000.0f, 1000.0f };
  gint32 t2[2] = { 0, 1 };
  float d2[4];
  float loss;
  int i;

  /* hand cases: two equal logits → log 2; logits of 1000 do not overflow */
  loss = ar_nn_softmax_xent (two, t2, d2, 2, 2);
  g_assert_cmpfloat_with_epsilon (loss, G_LN2, 1e-6);
  for (i = 0; i < 4; i++)
    g_assert_cmpfloat_with_epsilon (d2[i], (i == 0 || i == 3) ? -0.25f : 0.25f,
        1e-7f);

  ar_rng_init (&rng, 9);
  c.logits = new_uniform (N * V, &rng, 3.0f);
  c.targets = targets;
  c.N = N;
  c.V = V;
  d = new_floats (N * V);

  loss = ar_nn_softmax_xent (c.logits, targets, d, N, V);
  g_assert_cmpfloat_with_epsilon (loss, xent_loss (&c), 1e-7);
  check_fd ("xent dlogits", c.logits, d, N * V, xent_loss, &c);

  /* dlogits may alias logits */
  alias = g_memdup2 (c.logits, N * V * sizeof (float));
  g_assert_cmpfloat (ar_nn_softmax_xent (alias, targets, alias, N, V), ==,
      loss);
  g_assert_cmpmem (alias, N * V * sizeof (float), d, N * V * sizeof (float));

  g_free (alias);
  g_free (d);
  g_free (c.logits);
}

/* ---- recurrent cells ---------------------------------------------------- */

static void
test_cell_names (void)
{
  ArCellType cell;

  g_assert_cmpuint (ar_cell_n_gates (AR_CELL_RNN), ==, 1);
  g_assert_cmpuint (ar_cell_n_gates (AR_CELL_GRU), ==, 3);
  g_assert_cmpuint (ar_cell_n_gates (AR_CELL_LSTM), ==, 4);
  g_assert_cmpstr (ar_cell_name (AR_CELL_GRU), ==, "gru");
  g_assert_true (ar_cell_from_name ("lstm", &cell) && cell == AR_CELL_LSTM);
  g_assert_true (ar_cell_from_name ("rnn", &cell) && cell == AR_CELL_RNN);
  g_assert_true (ar_cell_from_name ("gru", &cell) && cell == AR_CELL_GRU);
  g_assert_false (ar_cell_from_name ("transformer", &cell));
  g_assert_false (ar_cell_from_name (NULL, &cell));
}

static void
test_recurrent_init (void)
{
  g_autoptr (ArRecurrent) l =
      ar_recurrent_new (AR_CELL_LSTM, 3, 16, "blk.0", 2, 2);
  g_autoptr (GPtrArray) params = g_ptr_array_new ();
  ArRng rng;
  guint i;
  gsize j;

  ar_rng_init (&rng, 3);
  ar_recurrent_init (l, &rng);
  ar_recurrent_add_params (l, params);
  g_assert_cmpuint (params->len, ==, 4);
  g_assert_cmpstr (ar_recurrent_get_param (l, 0)->name, ==,
      "blk.0.rnn_ih.weight");
  g_assert_cmpstr (ar_recurrent_get_param (l, 1)->name, ==,
      "blk.0.rnn_hh.weight");
  g_assert_cmpstr (ar_recurrent_get_param (l, 2)->name, ==,
      "blk.0.rnn_ih.bias");
  g_assert_cmpstr (ar_recurrent_get_param (l, 3)->name, ==,
      "blk.0.rnn_hh.bias");
  g_assert_cmpuint (ar_recurrent_get_param (l, 0)->ne[0], ==, 3);
  g_assert_cmpuint (ar_recurrent_get_param (l, 0)->ne[1], ==, 64);
  g_assert_cmpuint (ar_recurrent_get_param (l, 1)->ne[0], ==, 16);
  g_assert_cmpuint (ar_recurrent_get_param (l, 3)->n, ==, 64);
  for (i = 0; i < 4; i++) {
    ArParam *p = g_ptr_array_index (params, i);
    float lo = 1.0f, hi = -1.0f;

    g_assert_true (p == ar_recurrent_get_param (l, i));
    for (j = 0; j < p->n; j++) {
      lo = MIN (lo, p->w[j]);
      hi = MAX (hi, p->w[j]);
    }
    /* U(-1/4, 1/4) for H = 16; with 48+ draws the range is nearly covered */
    g_assert_cmpfloat (lo, >=, -0.25f);
    g_assert_cmpfloat (hi, <=, 0.25f);
    g_assert_cmpfloat (hi - lo, >, 0.3f);
  }
}

static double
sigmoid_d (double x)
{
  return 1.0 / (1.0 + exp (-x));
}

/* One step of each cell in double, written straight from PyTorch's
 * documentation of nn.RNNCell, nn.GRUCell and nn.LSTMCell (gate orders r, z, n
 * and i, f, g, o), independently of the library's code. */
static void
reference_step (ArCellType cell, int H, const float *xproj, const float *w_hh,
    const float *b_hh, const float *h, const float *c, double *h_out,
    double *c_out)
{
  int G = (int) ar_cell_n_gates (cell), r, k;
  double *hp = g_new (double, G *H);

  for (r = 0; r < G * H; r++) {
    double s = b_hh[r];

    for (k = 0; k < H; k++)
      s += (double) w_hh[r * H + k] * h[k];
    hp[r] = s;
  }
  for (k = 0; k < H; k++) {
    const float *x = xproj;

    switch (cell) {
      case AR_CELL_RNN:
        h_out[k] = tanh (x[k] + hp[k]);
        break;
      case AR_CELL_GRU: {
        double rg = sigmoid_d (x[k] + hp[k]);
        double zg = sigmoid_d (x[H + k] + hp[H + k]);
        double ng = tanh (x[2 * H + k] + rg * hp[2 * H + k]);

        h_out[k] = (1.0 - zg) * ng + zg * h[k];
        break;
      }
      case AR_CELL_LSTM: {
        double ig = sigmoid_d (x[k] + hp[k]);
        double fg = sigmoid_d (x[H + k] + hp[H + k]);
        double gg = tanh (x[2 * H + k] + hp[2 * H + k]);
        double og = sigmoid_d (x[3 * H + k] + hp[3 * H + k]);

        c_out[k] = fg * c[k] + ig * gg;
        h_out[k] = og * tanh (c_out[k]);
        break;
      }
    }
  }
  g_free (hp);
}

/* ar_cell_step against the double-precision reference, for every cell, over
 * pre-activations from 1e-6 to 8 (random weights) */
static void
test_cell_reference (void)
{
  static const ArCellType cells[] = { AR_CELL_RNN, AR_CELL_GRU, AR_CELL_LSTM };
  const int H = 37;
  ArRng rng;
  guint ci;
  int rep, k;

  ar_rng_init (&rng, 300);
  for (ci = 0; ci < G_N_ELEMENTS (cells); ci++) {
    ArCellType cell = cells[ci];
    int GH = (int) ar_cell_n_gates (cell) * H;
    float *w_hh = new_floats (GH * H), *b_hh = new_floats (GH);
    float *xproj = new_floats (GH), *scratch = new_floats (GH);
    float h[37], c[37], h_in[37], c_in[37];
    double h_ref[37], c_ref[37], worst = 0.0;
    ArCellWeights w = { cell, 1, H, NULL, w_hh, NULL, b_hh };

    for (rep = 0; rep < 20; rep++) {
      /* scales from 1e-6 to 8 so the small-argument and saturated regimes
       * of the nonlinearities are both exercised */
      float scale = (float) pow (10.0, -6.0 + 7.0 * rep / 19.0);

      fill_uniform (w_hh, (gsize) GH * H, &rng, scale / sqrtf (H));
      fill_uniform (b_hh, GH, &rng, scale);
      fill_uniform (xproj, GH, &rng, scale);
      fill_uniform (h_in, H, &rng, 1.0f);
      fill_uniform (c_in, H, &rng, 2.0f);
      memcpy (h, h_in, sizeof h);
      memcpy (c, c_in, sizeof c);
      ar_cell_step (&w, xproj, h, c, scratch);
      reference_step (cell, H, xproj, w_hh, b_hh, h_in, c_in, h_ref, c_ref);
      for (k = 0; k < H; k++) {
        /* float products of length 37 and the library's tanh: 2e-6 relative
         * plus 3e-7 absolute */
        double tol = 2e-6 * fabs (h_ref[k]) + 3e-7;

        if (!(fabs (h[k] - h_ref[k]) <= tol))
          g_error ("%s step, scale %g, h[%d]: %.9g, reference %.9g",
              ar_cell_name (cell), scale, k, h[k], h_ref[k]);
        worst = MAX (worst, fabs (h[k] - h_ref[k]) / tol);
        if (cell == AR_CELL_LSTM)
          g_assert_cmpfloat (fabs (c[k] - c_ref[k]), <=,
              2e-6 * fabs (c_ref[k]) + 3e-7);
      }
    }
    g_test_message ("%s step vs double reference: worst %.3f of tolerance",
        ar_cell_name (cell), worst);
    g_free (w_hh);
    g_free (b_hh);
    g_free (xproj);
    g_free (scratch);
  }

  /* The RNN cell with W_hh = 0, b_hh = 0 is tanh itself: a sweep of
   * arguments from 1e-30 to 30, both signs, to 1e-6 relative. */
  {
    float zero_w = 0.0f, zero_b = 0.0f, x, hh, s;
    ArCellWeights w = { AR_CELL_RNN, 1, 1, NULL, &zero_w, NULL, &zero_b };
    double worst = 0.0;

    for (x = 1e-30f; x < 30.0f; x *= 1.0137f) {
      for (k = 0; k < 2; k++) {
        float xs = k ? -x : x;
        double t = tanh ((double) xs);

        hh = 0.0f;
        ar_cell_step (&w, &xs, &hh, NULL, &s);
        if (!(fabs (hh - t) <= 1e-6 * fabs (t)))
          g_error ("tanh(%.9g) = %.9g, expected %.9g", xs, hh, t);
        worst = MAX (worst, fabs (hh - t) / fabs (t));
      }
    }
    g_test_message ("tanh sweep: worst relative error %.3g", worst);
  }
}

typedef struct
{
  ArRecurrent *l;
  float *X, *h0, *c0, *Y, *P;
  int T, B, H, n_in;
} RecurrentCase;

static double
recurrent_loss (gpointer data)
{
  RecurrentCase *c = data;

  ar_recurrent_forward (c->l, c->X, c->h0, c->c0, c->Y, c->T, c->B);
  return project (c->P, c->Y, (gsize) c->T * c->B * c->H);
}

static void
check_recurrent_grad (ArCellType cell, gboolean with_state)
{
  static const char *const names[] = { "w_ih", "w_hh", "b_ih", "b_hh" };
  RecurrentCase c;
  ArRng rng;
  float *dX, *analytic[4];
  gsize nX, nY, nS;
  guint i;
  gsize j;

  c.T = 4;
  c.B = 3;
  c.H = 7;
  c.n_in = 5;
  nX = (gsize) c.T * c.B * c.n_in;
  nY = (gsize) c.T * c.B * c.H;
  nS = (gsize) c.B * c.H;
  /* the cache is sized larger than used, as in training with short batches */
  c.l = ar_recurrent_new (cell, c.n_in, c.H, "rec", c.T + 2, c.B + 1);
  ar_rng_init (&rng, 100 + cell);
  /* U(±0.8) rather than ±1/sqrt(7): the gates should leave their linear range */
  for (i = 0; i < 4; i++) {
    ArParam *p = ar_recurrent_get_param (c.l, i);

    ar_param_init_uniform (p, &rng, 0.8f);
  }
  c.X = new_uniform (nX, &rng, 1.0f);
  c.P = new_uniform (nY, &rng, 1.0f);
  c.Y = new_floats (nY);
  c.h0 = with_state ? new_uniform (nS, &rng, 0.9f) : NULL;
  c.c0 =
      with_state && cell == AR_CELL_LSTM ? new_uniform (nS, &rng, 1.5f) : NULL;
  dX = new_floats (nX);

  /* analytic: parameter gradients pre-filled with 0.25 (they accumulate), dX
   * with garbage (it is overwritten) */
  for (i = 0; i < 4; i++) {
    ArParam *p = ar_recurrent_get_param (c.l, i);

    for (j = 0; j < p->n; j++)
      p->g[j] = 0.25f;
  }
  for (j = 0; j < nX; j++)
    dX[j] = 1e30f;
  recurrent_loss (&c);
  ar_recurrent_backward (c.l, c.X, c.P, dX, c.T, c.B);

  for (i = 0; i < 4; i++) {
    ArParam *p = ar_recurrent_get_param (c.l, i);
    char *what = g_strdup_printf ("%s%s d%s", ar_cell_name (cell),
        with_state ? " (h0)" : "", names[i]);

    analytic[i] = minus (p->g, p->n, 0.25f);
    check_fd (what, p->w, analytic[i], p->n, recurrent_loss, &c);
    g_free (analytic[i]);
    g_free (what);
  }
  {
    char *what = g_strdup_printf ("%s%s dX", ar_cell_name (cell),
        with_state ? " (h0)" : "");

    check_fd (what, c.X, dX, nX, recurrent_loss, &c);
    g_free (what);
  }

  g_free (dX);
  g_free (c.X);
  g_free (c.P);
  g_free (c.Y);
  g_free (c.h0);
  g_free (c.c0);
  ar_recurrent_free (c.l);
}

static void
test_recurrent_grad (gconstpointer data)
{
  ArCellType cell = GPOINTER_TO_INT (data);

  check_recurrent_grad (cell, FALSE);
  check_recurrent_grad (cell, TRUE);
}

/* The batched forward against a loop of ar_cell_step, stream by stream, with
 * xproj = W_ih x + b_ih from ar_matvec.  The two differ only in the summation
 * order of W_hh h (sgemm versus the SIMD kernel), hence the tight tolerance. */
static void
test_recurrent_step_oracle (gconstpointer data)
{
  ArCellType cell = GPOINTER_TO_INT (data);
  /* (B, H, T): one stream, a few, and enough state per step (B * H >= 4096)
   * for the element-wise work to be split over threads */
  static const int sizes[][3] = { { 1, 37, 6 }, { 3, 37, 6 }, { 32, 128, 2 } };
  const int n_in = 5;
  int B, H, T, G = (int) ar_cell_n_gates (cell);
  ArRng rng;
  int k, t, b, j;

  ar_rng_init (&rng, 200 + cell);
  for (k = 0; k < (int) G_N_ELEMENTS (sizes); k++) {
    ArRecurrent *l;
    ArCellWeights w;
    float *X, *Y, *h0, *c0, *h, *c, *xproj, *scratch;
    const float *fh, *fc;
    double worst = 0.0;

    B = sizes[k][0];
    H = sizes[k][1];
    T = sizes[k][2];
    l = ar_recurrent_new (cell, n_in, H, "rec", T, B);
    ar_recurrent_init (l, &rng);
    X = new_uniform ((gsize) T * B * n_in, &rng, 1.0f);
    h0 = new_uniform ((gsize) B * H, &rng, 0.5f);
    c0 = new_uniform ((gsize) B * H, &rng, 0.5f);
    Y = new_floats ((gsize) T * B * H);
    h = new_floats (H);
    c = new_floats (H);
    xproj = new_floats (G * H);
    scratch = new_floats (G * H);

    ar_recurrent_forward (l, X, h0, cell == AR_CELL_LSTM ? c0 : NULL, Y, T, B);
    fh = ar_recurrent_final_h (l);
    fc = ar_recurrent_final_c (l);
    g_assert_true ((fc != NULL) == (cell == AR_CELL_LSTM));
    w = ar_recurrent_weights (l);
    g_assert_cmpint (w.cell, ==, cell);
    g_assert_cmpint (w.n_in, ==, n_in);
    g_assert_cmpint (w.n_hidden, ==, H);

    for (b = 0; b < B; b++) {
      memcpy (h, h0 + b * H, H * sizeof (float));
      memcpy (c, c0 + b * H, H * sizeof (float));
      for (t = 0; t < T; t++) {
        ar_matvec (xproj, w.w_ih, X + ((gsize) t * B + b) * n_in, w.b_ih, G * H,
            n_in);
        ar_cell_step (&w, xproj, h, c, scratch);
        for (j = 0; j < H; j++) {
          float y = Y[((gsize) t * B + b) * H + j];

          g_assert_cmpfloat_with_epsilon (y, h[j], 2e-6f);
          worst = MAX (worst, fabsf (y - h[j]));
        }
      }
      /* the final state is exactly the last output */
      g_assert_cmpmem (fh + b * H, H * sizeof (float),
          Y + ((gsize) (T - 1) * B + b) * H, H * sizeof (float));
      if (fc != NULL)
        for (j = 0; j < H; j++)
          g_assert_cmpfloat_with_epsilon (fc[b * H + j], c[j], 2e-6f);
    }
    g_test_message ("%s B=%d H=%d: forward vs ar_cell_step max |diff| %.3g",
        ar_cell_name (cell), B, H, worst);

    g_free (X);
    g_free (Y);
    g_free (h0);
    g_free (c0);
    g_free (h);
    g_free (c);
    g_free (xproj);
    g_free (scratch);
    ar_recurrent_free (l);
  }
}

/* A batch of 32 streams with H = 128 (its forward gate loops are split over
 * threads) against the same 32 streams run one at a time (B = 1, all in the
 * calling thread): outputs, the parameter gradients accumulated over the 32
 * calls and dX agree to float rounding (the sums run in a different order). */
static void
test_recurrent_batch_split (gconstpointer data)
{
  ArCellType cell = GPOINTER_TO_INT (data);
  enum
  {
    T = 2,
    B = 32,
    H = 128,
    IN = 8
  };
  ArRecurrent *big = ar_recurrent_new (cell, IN, H, "big", T, B);
  ArRecurrent *one = ar_recurrent_new (cell, IN, H, "one", T, 1);
  ArRng rng;
  float *X, *dY, *h0, *c0, *Y, *dX, *x1, *dy1, *y1, *dx1;
  guint i;
  int t, b;
  gsize j;
  double worst = 0.0;

  ar_rng_init (&rng, 400 + cell);
  ar_recurrent_init (big, &rng);
  for (i = 0; i < 4; i++)
    memcpy (ar_recurrent_get_param (one, i)->w,
        ar_recurrent_get_param (big, i)->w,
        ar_recurrent_get_param (big, i)->n * sizeof (float));
  X = new_uniform (T * B * IN, &rng, 1.0f);
  dY = new_uniform (T * B * H, &rng, 1.0f);
  h0 = new_uniform (B * H, &rng, 0.5f);
  c0 = new_uniform (B * H, &rng, 0.5f);
  Y = new_floats (T * B * H);
  dX = new_floats (T * B * IN);
  x1 = new_floats (T * IN);
  dy1 = new_floats (T * H);
  y1 = new_floats (T * H);
  dx1 = new_floats (T * IN);

  ar_recurrent_forward (big, X, h0, cell == AR_CELL_LSTM ? c0 : NULL, Y, T, B);
  ar_recurrent_backward (big, X, dY, dX, T, B);

  for (b = 0; b < B; b++) {
    for (t = 0; t < T; t++) {
      memcpy (x1 + t * IN, X + (t * B + b) * IN, IN * sizeof (float));
      memcpy (dy1 + t * H, dY + (t * B + b) * H, H * sizeof (float));
    }
    ar_recurrent_forward (one, x1, h0 + b * H,
        cell == AR_CELL_LSTM ? c0 + b * H : NULL, y1, T, 1);
    /* parameter gradients accumulate over the 32 calls */
    ar_recurrent_backward (one, x1, dy1, dx1, T, 1);
    for (t = 0; t < T; t++) {
      for (j = 0; j < H; j++)
        g_assert_cmpfloat_with_epsilon (y1[t * H + j], Y[(t * B + b) * H + j],
            1e-6f);
      for (j = 0; j < IN; j++)
        g_assert_cmpfloat_with_epsilon (dx1[t * IN + j],
            dX[(t * B + b) * IN + j],
            1e-5f * (1.0f + fabsf (dX[(t * B + b) * IN + j])));
    }
  }
  for (i = 0; i < 4; i++) {
    const ArParam *pb = ar_recurrent_get_param (big, i);
    const ArParam *p1 = ar_recurrent_get_param (one, i);

    for (j = 0; j < pb->n; j++) {
      double tol = 1e-5 * (1.0 + fabs (pb->g[j]));

      if (!(fabs (pb->g[j] - p1->g[j]) <= tol))
        g_error ("%s %s[%" G_GSIZE_FORMAT
                 "]: batched %.7g, stream by stream %.7g",
            ar_cell_name (cell), pb->name, j, pb->g[j], p1->g[j]);
      worst = MAX (worst, fabs (pb->g[j] - p1->g[j]) / tol);
    }
  }
  g_test_message ("%s: batched vs per-stream gradients, worst %.3f of "
                  "tolerance",
      ar_cell_name (cell), worst);

  g_free (X);
  g_free (dY);
  g_free (h0);
  g_free (c0);
  g_free (Y);
  g_free (dX);
  g_free (x1);
  g_free (dy1);
  g_free (y1);
  g_free (dx1);
  ar_recurrent_free (big);
  ar_recurrent_free (one);
}

/* ---- the fork-join helper ------------------------------------------------ */

static void
count_visits (gpointer data, int begin, int end)
{
  int *visits = data, i;

  for (i = begin; i < end; i++)
    visits[i]++;
}

static void
test_parallel_for (void)
{
  static const int sizes[] = { 0, 1, 2, 3, 7, 1000 };
  guint k;
  int i;

  for (k = 0; k < G_N_ELEMENTS (sizes); k++) {
    int n = sizes[k];
    int *visits = g_new0 (int, MAX (n, 1));

    ar_nn_parallel_for (n, count_visits, visits);
    for (i = 0; i < n; i++)
      g_assert_cmpint (visits[i], ==, 1);
    g_free (visits);
  }
}

/* A child forked after the helper threads started has none of them: the
 * threaded forward must still finish there (in the calling thread). */
static void
test_parallel_fork (void)
{
  enum
  {
    T = 2,
    B = 32,
    H = 128,
    IN = 4
  };
  ArRecurrent *l = ar_recurrent_new (AR_CELL_GRU, IN, H, "f", T, B);
  float *X = g_new0 (float, T *B *IN), *Y = new_floats (T * B * H);
  int status;
  pid_t pid;

  /* starts the helpers in this process */
  ar_recurrent_forward (l, X, NULL, NULL, Y, T, B);
  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0) {
    /* a hang would be killed by the alarm */
    alarm (20);
    ar_recurrent_forward (l, X, NULL, NULL, Y, T, B);
    _exit (0);
  }
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  g_free (X);
  g_free (Y);
  ar_recurrent_free (l);
}

/* ---- determinism ---------------------------------------------------------- */

/* A small model (embedding → GRU → linear → softmax xent), three training
 * steps from @seed; returns all parameter values concatenated. */
static float *
train_tiny (guint64 seed, gsize *n_out)
{
  enum
  {
    V = 11,
    D = 6,
    H = 9,
    T = 5,
    B = 2,
    N = T * B
  };
  ArRng rng;
  g_autoptr (ArParam) E = new_param ("tok_embd.weight", 2, D, V);
  g_autoptr (ArParam) Wo = new_param ("output.weight", 2, H, V);
  g_autoptr (ArParam) bo = new_param ("output.bias", 1, V, 0);
  g_autoptr (ArRecurrent) gru =
      ar_recurrent_new (AR_CELL_GRU, D, H, "blk.0", T, B);
  g_autoptr (GPtrArray) params = g_ptr_array_new ();
  ArAdamW opt = AR_ADAMW_INIT;
  gint32 ids[N + 1];
  float emb[N * D], hid[N * H], logits[N * V], dhid[N * H], demb[N * D];
  float *all, *p;
  guint i, step;

  ar_rng_init (&rng, seed);
  ar_param_init_normal (E, &rng, 1.0f);
  ar_recurrent_init (gru, &rng);
  ar_param_init_uniform (Wo, &rng, 1.0f / sqrtf (H));
  ar_param_init_uniform (bo, &rng, 1.0f / sqrtf (H));
  g_ptr_array_add (params, E);
  ar_recurrent_add_params (gru, params);
  g_ptr_array_add (params, Wo);
  g_ptr_array_add (params, bo);
  for (i = 0; i < N + 1; i++)
    ids[i] = (gint32) ar_rng_below (&rng, V);

  for (step = 1; step <= 3; step++) {
    ar_params_zero_grad (params);
    ar_nn_embedding_forward (E, ids, emb, N);
    ar_recurrent_forward (gru, emb, NULL, NULL, hid, T, B);
    ar_nn_linear_forward (Wo, bo, hid, logits, N);
    ar_nn_softmax_xent (logits, ids + 1, logits, N, V);
    ar_nn_linear_backward (Wo, bo, hid, logits, dhid, N);
    ar_recurrent_backward (gru, emb, dhid, demb, T, B);
    ar_nn_embedding_backward (E, ids, demb, N);
    ar_params_clip_grad_norm (params, 1.0f);
    ar_adamw_step (&opt, params, step, 1e-2f);
  }

  *n_out = ar_params_count (params);
  all = p = new_floats (*n_out);
  for (i = 0; i < params->len; i++) {
    ArParam *q = g_ptr_array_index (params, i);

    memcpy (p, q->w, q->n * sizeof (float));
    p += q->n;
  }
  return all;
}

static void
test_determinism (void)
{
  gsize n1, n2, n3;
  float *a = train_tiny (1234, &n1);
  float *b = train_tiny (1234, &n2);
  float *c = train_tiny (1235, &n3);

  g_assert_cmpmem (a, n1 * sizeof (float), b, n2 * sizeof (float));
  g_assert_cmpuint (n1, ==, n3);
  g_assert_true (memcmp (a, c, n1 * sizeof (float)) != 0);
  g_free (a);
  g_free (b);
  g_free (c);
}

int
main (int argc, char **argv)
{
  static const ArCellType cells[] = { AR_CELL_RNN, AR_CELL_GRU, AR_CELL_LSTM };
  guint i;

  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/nn/param/basics", test_param_basics);
  g_test_add_func ("/nn/param/clip-grad-norm", test_clip);
  g_test_add_func ("/nn/param/grad-views", test_grad_views);
  g_test_add_func ("/nn/optim/adamw", test_adamw);
  g_test_add_func ("/nn/optim/warmup-cosine", test_schedule);
  g_test_add_func ("/nn/linear/grad", test_linear);
  g_test_add_func ("/nn/embedding/grad", test_embedding);
  g_test_add_func ("/nn/softmax-xent", test_xent);
  g_test_add_func ("/nn/cell/names", test_cell_names);
  g_test_add_func ("/nn/cell/reference", test_cell_reference);
  g_test_add_func ("/nn/recurrent/init", test_recurrent_init);
  for (i = 0; i < G_N_ELEMENTS (cells); i++) {
    char *path =
        g_strdup_printf ("/nn/recurrent/%s/grad", ar_cell_name (cells[i]));

    g_test_add_data_func (path, GINT_TO_POINTER (cells[i]),
        test_recurrent_grad);
    g_free (path);
    path = g_strdup_printf ("/nn/recurrent/%s/step-oracle",
        ar_cell_name (cells[i]));
    g_test_add_data_func (path, GINT_TO_POINTER (cells[i]),
        test_recurrent_step_oracle);
    g_free (path);
    path = g_strdup_printf ("/nn/recurrent/%s/batch-split",
        ar_cell_name (cells[i]));
    g_test_add_data_func (path, GINT_TO_POINTER (cells[i]),
        test_recurrent_batch_split);
    g_free (path);
  }
  g_test_add_func ("/nn/parallel/for", test_parallel_for);
  g_test_add_func ("/nn/parallel/fork", test_parallel_fork);
  g_test_add_func ("/nn/determinism", test_determinism);

  return g_test_run ();
}
