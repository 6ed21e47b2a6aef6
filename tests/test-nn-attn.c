/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-nn-attn.c — tests of the Transformer layers of the training core
 * (models/nn/ar-pointwise.c, ar-attention.c): RMSNorm, LayerNorm, GELU,
 * SwiGLU, rotary embeddings and causal grouped-query attention.
 *
 * Forward passes are checked against direct double-precision evaluations of
 * their formulas.  Every backward pass is checked against central finite
 * differences of a scalar loss L = Σ P ⊙ Y (a fixed random projection of the
 * output, so dL/dY = P) accumulated in double: each input and parameter
 * element moves by ±EPS = 1e-2 and the analytic gradient must satisfy
 *     |analytic - numeric| <= FD_RTOL * max(|analytic|, |numeric|) + FD_ATOL
 * with FD_RTOL = 1e-2 and FD_ATOL = 1e-4 — the budget of tests/test-nn.c.
 * Sizes are small and odd where the layer allows it; attention runs T = 37
 * positions, more than one block of 32 query rows, with H = 4 query heads
 * sharing Hkv = 4, 2 or 1 key/value heads (one stream for the finite
 * differences, which run the layer thousands of times; several streams,
 * strided rows and the fused layout are compared with the reference and
 * between layouts). */
#include <math.h>
#include <string.h>

#include <glib.h>

#include "nn/ar-nn.h"
#include "core/ar-kernels.h"
#include "core/ar-rng.h"

#define EPS 1e-2
#define FD_RTOL 1e-2
#define FD_ATOL 1e-4

/* ---- helpers ------------------------------------------------------------ */

static float *
new_floats (gsize n)
{
  return g_new (float, n);
}

static float *
new_uniform (gsize n, ArRng *rng, float a)
{
  float *x = new_floats (n);

  for (gsize i = 0; i < n; i++)
    x[i] = a * (2.0f * ar_rng_uniform (rng) - 1.0f);
  return x;
}

static ArParam *
new_vector_param (const char *name, guint64 n, ArRng *rng, float centre,
    float a)
{
  const guint64 ne[1] = { n };
  ArParam *p = ar_param_new (name, 1, ne);

  for (gsize i = 0; i < n; i++)
    p->w[i] = centre + a * (2.0f * ar_rng_uniform (rng) - 1.0f);
  return p;
}

static double
project (const float *P, const float *Y, gsize n)
{
  double s = 0.0;

  for (gsize i = 0; i < n; i++)
    s += (double) P[i] * Y[i];
  return s;
}

typedef double (*LossFunc) (gpointer data);

/* Checks analytic (n) against central differences of @loss in each x[i]. */
static void
check_fd (const char *what, float *x, const float *analytic, gsize n,
    LossFunc loss, gpointer data)
{
  double worst = 0.0;

  for (gsize i = 0; i < n; i++) {
    float saved = x[i];
    double lp, lm, num, a = analytic[i], tol, ratio;

    x[i] = saved + (float) EPS;
    lp = loss (data);
    x[i] = saved - (float) EPS;
    lm = loss (data);
    x[i] = saved;
    num = (lp - lm) /
        ((double) (saved + (float) EPS) - (double) (saved - (float) EPS));
    tol = FD_RTOL * MAX (fabs (a), fabs (num)) + FD_ATOL;
    ratio = fabs (a - num) / tol;
    if (!(ratio <= 1.0))
      g_error ("%s[%" G_GSIZE_FORMAT "]: analytic %.7g, finite difference "
               "%.7g",
          what, i, a, num);
    worst = MAX (worst, ratio);
  }
  g_test_message ("%s: %" G_GSIZE_FORMAT " entries, worst error %.3f of "
                  "tolerance",
      what, n, worst);
}

/* g - offset: gradients pre-filled with @offset must have accumulated */
static float *
minus (const float *g, gsize n, float offset)
{
  float *r = new_floats (n);

  for (gsize i = 0; i < n; i++)
    r[i] = g[i] - offset;
  return r;
}

static void
fill (float *x, gsize n, float v)
{
  for (gsize i = 0; i < n; i++)
    x[i] = v;
}

/* ---- norms ---------------------------------------------------------------- */

enum
{
  NORM_N = 5, /* rows */
  NORM_D = 29 /* features: 16 + 8 + 5 in the SIMD loops */
};

typedef struct
{
  gboolean layer; /* LayerNorm, else RMSNorm */
  ArParam *w, *b;
  float *X, *Y, *P, *mean, *rstd;
} NormCase;

static double
norm_loss (gpointer data)
{
  NormCase *c = data;

  if (c->layer)
    ar_nn_layernorm_forward (c->w, c->b, c->X, c->Y, c->mean, c->rstd, NORM_N,
        1e-5f);
  else
    ar_nn_rmsnorm_forward (c->w, c->X, c->Y, c->rstd, NORM_N, 1e-5f);
  return project (c->P, c->Y, NORM_N * NORM_D);
}

static void
norm_case (gboolean layer)
{
  NormCase c = { layer };
  ArRng rng;

  ar_rng_init (&rng, 11);
  c.w = new_vector_param ("w", NORM_D, &rng, 1.0f, 0.5f);
  c.b = new_vector_param ("b", NORM_D, &rng, 0.0f, 0.5f);
  c.X = new_uniform (NORM_N * NORM_D, &rng, 1.0f);
  /* an offset row: LayerNorm must remove the mean, RMSNorm must not */
  for (int i = 0; i < NORM_D; i++)
    c.X[i] += 3.0f;
  c.P = new_uniform (NORM_N * NORM_D, &rng, 1.0f);
  c.Y = new_floats (NORM_N * NORM_D);
  c.mean = new_floats (NORM_N);
  c.rstd = new_floats (NORM_N);
  float *dX = new_floats (NORM_N * NORM_D);

  /* forward against the formula in double */
  norm_loss (&c);
  for (int r = 0; r < NORM_N; r++) {
    const float *x = c.X + r * NORM_D;
    double mu = 0.0, ms = 0.0, var = 0.0;

    for (int i = 0; i < NORM_D; i++) {
      mu += x[i];
      ms += (double) x[i] * x[i];
    }
    mu /= NORM_D;
    ms /= NORM_D;
    for (int i = 0; i < NORM_D; i++)
      var += (x[i] - mu) * (x[i] - mu);
    var /= NORM_D;
    for (int i = 0; i < NORM_D; i++) {
      double want = c.layer
          ? (x[i] - mu) / sqrt (var + 1e-5) * c.w->w[i] + c.b->w[i]
          : x[i] / sqrt (ms + 1e-5) * c.w->w[i];

      g_assert_cmpfloat_with_epsilon (c.Y[r * NORM_D + i], want, 1e-5);
    }
  }

  /* backward: parameter gradients pre-filled (they accumulate), dX garbage
   * (it is overwritten) */
  fill (c.w->g, NORM_D, 0.25f);
  fill (c.b->g, NORM_D, 0.25f);
  fill (dX, NORM_N * NORM_D, 1e30f);
  if (c.layer)
    ar_nn_layernorm_backward (c.w, c.b, c.X, c.mean, c.rstd, c.P, dX, NORM_N);
  else
    ar_nn_rmsnorm_backward (c.w, c.X, c.rstd, c.P, dX, NORM_N);
  g_autofree float *gw = minus (c.w->g, NORM_D, 0.25f);
  check_fd ("norm dw", c.w->w, gw, NORM_D, norm_loss, &c);
  if (c.layer) {
    g_autofree float *gb = minus (c.b->g, NORM_D, 0.25f);
    check_fd ("norm db", c.b->w, gb, NORM_D, norm_loss, &c);
  } else {
    for (int i = 0; i < NORM_D; i++)
      g_assert_cmpfloat (c.b->g[i], ==, 0.25f);
  }
  check_fd ("norm dX", c.X, dX, NORM_N * NORM_D, norm_loss, &c);

  /* in place: Y = X forward, dX = dY backward give the same numbers */
  {
    g_autofree float *Y2 = g_memdup2 (c.X, NORM_N * NORM_D * sizeof (float));
    g_autofree float *d2 = g_memdup2 (c.P, NORM_N * NORM_D * sizeof (float));

    norm_loss (&c);
    if (c.layer) {
      ar_nn_layernorm_forward (c.w, c.b, Y2, Y2, c.mean, c.rstd, NORM_N, 1e-5f);
      ar_nn_layernorm_backward (c.w, c.b, c.X, c.mean, c.rstd, d2, d2, NORM_N);
    } else {
      ar_nn_rmsnorm_forward (c.w, Y2, Y2, c.rstd, NORM_N, 1e-5f);
      ar_nn_rmsnorm_backward (c.w, c.X, c.rstd, d2, d2, NORM_N);
    }
    g_assert_cmpmem (Y2, NORM_N * NORM_D * sizeof (float), c.Y,
        NORM_N * NORM_D * sizeof (float));
    g_assert_cmpmem (d2, NORM_N * NORM_D * sizeof (float), dX,
        NORM_N * NORM_D * sizeof (float));
  }

  ar_param_free (c.w);
  ar_param_free (c.b);
  g_free (c.X);
  g_free (c.Y);
  g_free (c.P);
  g_free (c.mean);
  g_free (c.rstd);
  g_free (dX);
}

/* Each SIMD level the CPU has, and plain C. */
static void
test_norm (gconstpointer data)
{
  ArSimdLevel best = ar_simd_get_level ();

  for (int lv = AR_SIMD_C; lv <= (int) best; lv++) {
    if (!ar_simd_set_level ((ArSimdLevel) lv))
      continue;
    g_test_message ("level %s", ar_simd_level_name ((ArSimdLevel) lv));
    norm_case (GPOINTER_TO_INT (data));
  }
  ar_simd_set_level (best);
}

/* ---- activations ---------------------------------------------------------- */

/* More than one chunk of 256 of the implementation, not a multiple of 8. */
#define ACT_N 301

typedef struct
{
  gboolean swiglu;
  float *G, *U, *Y, *P;
} ActCase;

static double
act_loss (gpointer data)
{
  ActCase *c = data;

  if (c->swiglu)
    ar_nn_swiglu_forward (c->G, c->U, c->Y, ACT_N);
  else
    ar_nn_gelu_forward (c->U, c->Y, ACT_N);
  return project (c->P, c->Y, ACT_N);
}

static void
test_activation (gconstpointer data)
{
  ActCase c = { GPOINTER_TO_INT (data) };
  ArRng rng;

  ar_rng_init (&rng, 5);
  /* wide enough to reach both tails of σ, including arguments whose
   * exponential underflows (|u| > 87) */
  c.G = new_uniform (ACT_N, &rng, 6.0f);
  c.U = new_uniform (ACT_N, &rng, 6.0f);
  c.G[0] = -100.0f;
  c.G[1] = 100.0f;
  c.U[2] = -40.0f;
  c.U[3] = 40.0f;
  c.P = new_uniform (ACT_N, &rng, 1.0f);
  c.Y = new_floats (ACT_N);
  float *dG = new_floats (ACT_N), *dU = new_floats (ACT_N);

  act_loss (&c);
  for (int i = 0; i < ACT_N; i++) {
    double g = c.G[i], u = c.U[i], want;

    if (c.swiglu)
      want = g / (1.0 + exp (-g)) * u;
    else
      want = 0.5 * u *
          (1.0 + tanh (sqrt (2.0 / G_PI) * (u + 0.044715 * u * u * u)));
    g_assert_cmpfloat (fabs (c.Y[i] - want), <=, 1e-6 * fabs (want) + 1e-6);
  }

  fill (dG, ACT_N, 1e30f);
  fill (dU, ACT_N, 1e30f);
  if (c.swiglu) {
    ar_nn_swiglu_backward (c.G, c.U, c.P, dG, dU, ACT_N);
    check_fd ("swiglu dG", c.G, dG, ACT_N, act_loss, &c);
    check_fd ("swiglu dU", c.U, dU, ACT_N, act_loss, &c);
    /* in place on dY */
    g_autofree float *d = g_memdup2 (c.P, ACT_N * sizeof (float));
    g_autofree float *d2 = new_floats (ACT_N);
    ar_nn_swiglu_backward (c.G, c.U, d, d, d2, ACT_N);
    g_assert_cmpmem (d, ACT_N * sizeof (float), dG, ACT_N * sizeof (float));
    g_assert_cmpmem (d2, ACT_N * sizeof (float), dU, ACT_N * sizeof (float));
  } else {
    ar_nn_gelu_backward (c.U, c.P, dU, ACT_N);
    check_fd ("gelu dX", c.U, dU, ACT_N, act_loss, &c);
    g_autofree float *d = g_memdup2 (c.P, ACT_N * sizeof (float));
    ar_nn_gelu_backward (c.U, d, d, ACT_N);
    g_assert_cmpmem (d, ACT_N * sizeof (float), dU, ACT_N * sizeof (float));
  }

  g_free (c.G);
  g_free (c.U);
  g_free (c.Y);
  g_free (c.P);
  g_free (dG);
  g_free (dU);
}

/* The SIMD activations against the plain-C loops (their reference): every
 * length up to a few registers, so each tail length is covered, with
 * arguments up to the ranges where σ saturates. */
static void
test_activation_levels (void)
{
  ArSimdLevel best = ar_simd_detect ();
  ArRng rng;

  if (best == AR_SIMD_C) {
    g_test_skip ("no SIMD level on this CPU");
    return;
  }
  ar_rng_init (&rng, 9);
  for (int n = 1; n <= 41; n += (n < 20 ? 1 : 7)) {
    g_autofree float *G = new_uniform (n, &rng, 12.0f);
    g_autofree float *U = new_uniform (n, &rng, 12.0f);
    g_autofree float *D = new_uniform (n, &rng, 1.0f);
    float *out[2][4];

    G[0] = n % 2 ? -95.0f : 95.0f;
    for (int lv = 0; lv < 2; lv++) {
      g_assert_true (ar_simd_set_level (lv ? best : AR_SIMD_C));
      for (int k = 0; k < 4; k++)
        out[lv][k] = new_floats (n);
      ar_nn_gelu_forward (G, out[lv][0], n);
      ar_nn_gelu_backward (G, D, out[lv][1], n);
      ar_nn_swiglu_forward (G, U, out[lv][2], n);
      ar_nn_swiglu_backward (G, U, D, out[lv][3], out[lv][3], n);
    }
    for (int k = 0; k < 4; k++) {
      for (int i = 0; i < n; i++) {
        float c = out[0][k][i], v = out[1][k][i], g = G[i];
        /* σ's argument u (GELU's 1.6 (x + 0.045 x³)) is rounded
         * differently by FMA; e^-|u| then differs by |u| ulps */
        float u = k < 2 ? 1.6f * (g + 0.045f * g * g * g) : g;
        float rtol = 2e-6f + 1.2e-7f * MIN (fabsf (u), 88.0f);

        if (!(fabsf (c - v) <= rtol * MAX (fabsf (c), fabsf (v)) + 1e-30f))
          g_error ("output %d, n = %d, [%d]: plain C %.9g, %s %.9g", k, n, i, c,
              ar_simd_level_name (best), v);
      }
      g_free (out[0][k]);
      g_free (out[1][k]);
    }
  }
  ar_simd_set_level (best);
}

static void
test_add (void)
{
  float y[5] = { 1, 2, 3, 4, 5 }, x[5] = { 0.5f, -2, 0, 1e-3f, -5 };
  const float want[5] = { 1.5f, 0, 3, 4.001f, 0 };

  ar_nn_add (y, x, 5);
  for (int i = 0; i < 5; i++)
    g_assert_cmpfloat (y[i], ==, want[i]);
}

/* ---- rotary embeddings ---------------------------------------------------- */

enum
{
  ROPE_T = 6,
  ROPE_B = 2,
  ROPE_HEADS = 3,
  ROPE_HS = 16,
  ROPE_ROT = 14, /* partial: the last 2 dims stay; 4 + 3 pairs in SIMD */
  ROPE_N = ROPE_T * ROPE_B * ROPE_HEADS * ROPE_HS
};

typedef struct
{
  float *X, *Y, *P, *cos_t, *sin_t;
} RopeCase;

static double
rope_loss (gpointer data)
{
  RopeCase *c = data;

  memcpy (c->Y, c->X, ROPE_N * sizeof (float));
  ar_nn_rope_forward (c->Y, ROPE_HEADS * ROPE_HS, c->cos_t, c->sin_t, ROPE_T,
      ROPE_B, ROPE_HEADS, ROPE_HS, ROPE_ROT);
  return project (c->P, c->Y, ROPE_N);
}

static void
rope_case (void)
{
  RopeCase c;
  ArRng rng;
  const float base = 500.0f;

  ar_rng_init (&rng, 3);
  c.X = new_uniform (ROPE_N, &rng, 1.0f);
  c.P = new_uniform (ROPE_N, &rng, 1.0f);
  c.Y = new_floats (ROPE_N);
  c.cos_t = new_floats (ROPE_T * ROPE_ROT / 2);
  c.sin_t = new_floats (ROPE_T * ROPE_ROT / 2);
  ar_nn_rope_table (c.cos_t, c.sin_t, ROPE_T, ROPE_ROT, base);

  /* the convention: pair (2i, 2i+1) of each head at time t turns by
   * t · base^(-2i / n_rot); dimensions past n_rot are left alone */
  rope_loss (&c);
  for (int t = 0; t < ROPE_T; t++)
    for (int r = 0; r < ROPE_B * ROPE_HEADS; r++) {
      const float *x = c.X + (t * ROPE_B * ROPE_HEADS + r) * ROPE_HS;
      const float *y = c.Y + (t * ROPE_B * ROPE_HEADS + r) * ROPE_HS;

      for (int i = 0; i < ROPE_ROT / 2; i++) {
        double a = t * pow (base, -2.0 * i / ROPE_ROT);
        double y0 = x[2 * i] * cos (a) - x[2 * i + 1] * sin (a);
        double y1 = x[2 * i] * sin (a) + x[2 * i + 1] * cos (a);

        g_assert_cmpfloat_with_epsilon (y[2 * i], y0, 2e-6);
        g_assert_cmpfloat_with_epsilon (y[2 * i + 1], y1, 2e-6);
      }
      for (int i = ROPE_ROT; i < ROPE_HS; i++)
        g_assert_cmpfloat (y[i], ==, x[i]);
    }

  g_autofree float *dX = g_memdup2 (c.P, ROPE_N * sizeof (float));
  ar_nn_rope_backward (dX, ROPE_HEADS * ROPE_HS, c.cos_t, c.sin_t, ROPE_T,
      ROPE_B, ROPE_HEADS, ROPE_HS, ROPE_ROT);
  check_fd ("rope dX", c.X, dX, ROPE_N, rope_loss, &c);

  /* backward undoes forward (the rotation is orthogonal) */
  memcpy (c.Y, c.X, ROPE_N * sizeof (float));
  ar_nn_rope_forward (c.Y, ROPE_HEADS * ROPE_HS, c.cos_t, c.sin_t, ROPE_T,
      ROPE_B, ROPE_HEADS, ROPE_HS, ROPE_ROT);
  ar_nn_rope_backward (c.Y, ROPE_HEADS * ROPE_HS, c.cos_t, c.sin_t, ROPE_T,
      ROPE_B, ROPE_HEADS, ROPE_HS, ROPE_ROT);
  for (int i = 0; i < ROPE_N; i++)
    g_assert_cmpfloat_with_epsilon (c.Y[i], c.X[i], 1e-6);

  g_free (c.X);
  g_free (c.Y);
  g_free (c.P);
  g_free (c.cos_t);
  g_free (c.sin_t);
}

/* Each SIMD level the CPU has, and plain C. */
static void
test_rope (void)
{
  ArSimdLevel best = ar_simd_get_level ();

  for (int lv = AR_SIMD_C; lv <= (int) best; lv++) {
    if (!ar_simd_set_level ((ArSimdLevel) lv))
      continue;
    g_test_message ("level %s", ar_simd_level_name ((ArSimdLevel) lv));
    rope_case ();
  }
  ar_simd_set_level (best);
}

/* ---- attention ------------------------------------------------------------ */

typedef struct
{
  int T, B, H, Hkv, hs;
  ArAttention *a;
  float *Q, *K, *V, *O, *P;
} AttnCase;

static gsize
attn_q_size (const AttnCase *c)
{
  return (gsize) c->T * c->B * c->H * c->hs;
}

static gsize
attn_kv_size (const AttnCase *c)
{
  return (gsize) c->T * c->B * c->Hkv * c->hs;
}

static double
attn_loss (gpointer data)
{
  AttnCase *c = data;

  ar_attention_forward (c->a, c->Q, c->H * c->hs, c->K, c->V, c->Hkv * c->hs,
      c->O, c->T, c->B);
  return project (c->P, c->O, attn_q_size (c));
}

static void
attn_case_init (AttnCase *c, int T, int B, int H, int Hkv, int hs, guint64 seed,
    float scale)
{
  ArRng rng;

  ar_rng_init (&rng, seed);
  *c = (AttnCase){ T, B, H, Hkv, hs };
  c->a = ar_attention_new (H, Hkv, hs, T, B);
  c->Q = new_uniform (attn_q_size (c), &rng, scale);
  c->K = new_uniform (attn_kv_size (c), &rng, scale);
  c->V = new_uniform (attn_kv_size (c), &rng, 1.0f);
  c->P = new_uniform (attn_q_size (c), &rng, 1.0f);
  c->O = new_floats (attn_q_size (c));
}

static void
attn_case_clear (AttnCase *c)
{
  ar_attention_free (c->a);
  g_free (c->Q);
  g_free (c->K);
  g_free (c->V);
  g_free (c->O);
  g_free (c->P);
}

/* O of (stream b, position t, head h) by the definition, in double. */
static void
attn_reference (const AttnCase *c, int t, int b, int h, double *out)
{
  int hs = c->hs, g = h / (c->H / c->Hkv);
  const float *q = c->Q + (((gsize) t * c->B + b) * c->H + h) * hs;
  g_autofree double *s = g_new (double, t + 1);
  double mx = -INFINITY, sum = 0.0;

  for (int j = 0; j <= t; j++) {
    const float *k = c->K + (((gsize) j * c->B + b) * c->Hkv + g) * hs;
    double d = 0.0;

    for (int i = 0; i < hs; i++)
      d += (double) q[i] * k[i];
    s[j] = d / sqrt (hs);
    mx = MAX (mx, s[j]);
  }
  for (int j = 0; j <= t; j++)
    sum += s[j] = exp (s[j] - mx);
  for (int i = 0; i < hs; i++)
    out[i] = 0.0;
  for (int j = 0; j <= t; j++) {
    const float *v = c->V + (((gsize) j * c->B + b) * c->Hkv + g) * hs;

    for (int i = 0; i < hs; i++)
      out[i] += s[j] / sum * v[i];
  }
}

static void
test_attention_forward (void)
{
  AttnCase c;
  double ref[16];

  /* scores of a few units so the softmax is far from uniform */
  attn_case_init (&c, 70, 3, 4, 2, 16, 21, 2.0f);
  ar_attention_forward (c.a, c.Q, c.H * c.hs, c.K, c.V, c.Hkv * c.hs, c.O, c.T,
      c.B);
  for (int t = 0; t < c.T; t++)
    for (int b = 0; b < c.B; b++)
      for (int h = 0; h < c.H; h++) {
        const float *o = c.O + (((gsize) t * c.B + b) * c.H + h) * c.hs;

        attn_reference (&c, t, b, h, ref);
        for (int i = 0; i < c.hs; i++)
          g_assert_cmpfloat (fabs (o[i] - ref[i]), <=, 1e-5);
      }

  /* causal: changing the last position changes no earlier output */
  {
    g_autofree float *O1 = g_memdup2 (c.O, attn_q_size (&c) * sizeof (float));
    gsize last_row = (gsize) (c.T - 1) * c.B;

    for (gsize i = last_row * c.Hkv * c.hs; i < attn_kv_size (&c); i++) {
      c.K[i] += 1.0f;
      c.V[i] -= 1.0f;
    }
    ar_attention_forward (c.a, c.Q, c.H * c.hs, c.K, c.V, c.Hkv * c.hs, c.O,
        c.T, c.B);
    g_assert_cmpmem (c.O, last_row * c.H * c.hs * sizeof (float), O1,
        last_row * c.H * c.hs * sizeof (float));
    g_assert_true (memcmp (c.O + last_row * c.H * c.hs,
        O1 + last_row * c.H * c.hs, c.B * c.H * c.hs * sizeof (float)));
  }

  /* a call shorter and narrower than the object was sized for (the strides
   * follow the call's T and B): stream 1 of the batch above, alone */
  {
    int T2 = 33;
    AttnCase one;
    attn_case_init (&one, T2, 1, 4, 2, 16, 1, 1.0f);
    for (int t = 0; t < T2; t++) {
      memcpy (one.Q + (gsize) t * 4 * 16, c.Q + ((gsize) t * 3 + 1) * 4 * 16,
          4 * 16 * sizeof (float));
      memcpy (one.K + (gsize) t * 2 * 16, c.K + ((gsize) t * 3 + 1) * 2 * 16,
          2 * 16 * sizeof (float));
      memcpy (one.V + (gsize) t * 2 * 16, c.V + ((gsize) t * 3 + 1) * 2 * 16,
          2 * 16 * sizeof (float));
    }
    ar_attention_forward (c.a, one.Q, 4 * 16, one.K, one.V, 2 * 16, one.O, T2,
        1);
    for (int t = 0; t < T2; t++)
      for (int h = 0; h < 4; h++) {
        attn_reference (&one, t, 0, h, ref);
        for (int i = 0; i < 16; i++)
          g_assert_cmpfloat (fabs (one.O[((gsize) t * 4 + h) * 16 + i] -
                                 ref[i]),
              <=, 1e-5);
      }
    attn_case_clear (&one);
  }
  attn_case_clear (&c);
}

static void
test_attention_grad (gconstpointer data)
{
  int Hkv = GPOINTER_TO_INT (data);
  AttnCase c;

  attn_case_init (&c, 37, 1, 4, Hkv, 4, 8, 1.5f);
  gsize nq = attn_q_size (&c), nkv = attn_kv_size (&c);
  float *dQ = new_floats (nq), *dK = new_floats (nkv), *dV = new_floats (nkv);

  /* backward after the forward it belongs to; outputs start as garbage */
  attn_loss (&c);
  fill (dQ, nq, 1e30f);
  fill (dK, nkv, 1e30f);
  fill (dV, nkv, 1e30f);
  ar_attention_backward (c.a, c.Q, c.H * c.hs, c.K, c.V, c.Hkv * c.hs, c.O, c.P,
      dQ, dK, dV, c.T, c.B);
  check_fd ("attention dQ", c.Q, dQ, nq, attn_loss, &c);
  check_fd ("attention dK", c.K, dK, nkv, attn_loss, &c);
  check_fd ("attention dV", c.V, dV, nkv, attn_loss, &c);

  g_free (dQ);
  g_free (dK);
  g_free (dV);
  attn_case_clear (&c);
}

/* Q, K, V as the three parts of the rows of one buffer (the fused
 * projection's layout), with rope applied in place there: the same outputs
 * and gradients as separate buffers, and the parts of the gradient rows
 * that belong to no input untouched. */
static void
test_attention_fused (void)
{
  AttnCase c;
  const int H = 4, Hkv = 2, hs = 6, n_rot = 4;

  attn_case_init (&c, 37, 3, H, Hkv, hs, 12, 1.5f);
  int T = c.T, B = c.B, wq = H * hs, wkv = Hkv * hs;
  int ld = wq + 2 * wkv + 5; /* and 5 floats of something else */
  gsize rows = (gsize) T * B, nq = attn_q_size (&c), nkv = attn_kv_size (&c);
  g_autofree float *cos_t = new_floats (T * n_rot / 2);
  g_autofree float *sin_t = new_floats (T * n_rot / 2);
  g_autofree float *F = new_floats (rows * ld);
  g_autofree float *dF = new_floats (rows * ld);
  g_autofree float *O2 = new_floats (nq);
  g_autofree float *dQ = new_floats (nq), *dK = new_floats (nkv);
  g_autofree float *dV = new_floats (nkv);

  ar_nn_rope_table (cos_t, sin_t, T, n_rot, 10000.0f);
  for (gsize r = 0; r < rows; r++) {
    memcpy (F + r * ld, c.Q + r * wq, wq * sizeof (float));
    memcpy (F + r * ld + wq, c.K + r * wkv, wkv * sizeof (float));
    memcpy (F + r * ld + wq + wkv, c.V + r * wkv, wkv * sizeof (float));
    for (int i = wq + 2 * wkv; i < ld; i++)
      F[r * ld + i] = dF[r * ld + i] = 7.0f;
  }
  ar_nn_rope_forward (c.Q, wq, cos_t, sin_t, T, B, H, hs, n_rot);
  ar_nn_rope_forward (c.K, wkv, cos_t, sin_t, T, B, Hkv, hs, n_rot);
  ar_nn_rope_forward (F, ld, cos_t, sin_t, T, B, H, hs, n_rot);
  ar_nn_rope_forward (F + wq, ld, cos_t, sin_t, T, B, Hkv, hs, n_rot);

  ar_attention_forward (c.a, c.Q, wq, c.K, c.V, wkv, c.O, T, B);
  ar_attention_backward (c.a, c.Q, wq, c.K, c.V, wkv, c.O, c.P, dQ, dK, dV, T,
      B);
  ar_attention_forward (c.a, F, ld, F + wq, F + wq + wkv, ld, O2, T, B);
  ar_attention_backward (c.a, F, ld, F + wq, F + wq + wkv, ld, O2, c.P, dF,
      dF + wq, dF + wq + wkv, T, B);
  ar_nn_rope_backward (dQ, wq, cos_t, sin_t, T, B, H, hs, n_rot);
  ar_nn_rope_backward (dF, ld, cos_t, sin_t, T, B, H, hs, n_rot);

  for (gsize i = 0; i < nq; i++)
    g_assert_cmpfloat_with_epsilon (O2[i], c.O[i], 1e-6);
  for (gsize r = 0; r < rows; r++) {
    const float *f = dF + r * ld;

    for (int i = 0; i < wq; i++)
      g_assert_cmpfloat_with_epsilon (f[i], dQ[r * wq + i], 1e-6);
    for (int i = 0; i < wkv; i++) {
      g_assert_cmpfloat_with_epsilon (f[wq + i], dK[r * wkv + i], 1e-6);
      g_assert_cmpfloat_with_epsilon (f[wq + wkv + i], dV[r * wkv + i], 1e-6);
    }
    for (int i = wq + 2 * wkv; i < ld; i++)
      g_assert_cmpfloat (f[i], ==, 7.0f);
  }
  attn_case_clear (&c);
}

/* ---- a whole pre-norm block ------------------------------------------------ */

/* x' = x + Wo · attn (rope (Wq n), rope (Wk n), Wv n),  n = rmsnorm (x):
 * the layers composed as the training graph composes them, including the
 * residual add whose backward is the same add. */
enum
{
  BLK_T = 5,
  BLK_B = 2,
  BLK_D = 8,
  BLK_H = 2,
  BLK_HS = 4,
  BLK_N = BLK_T * BLK_B
};

typedef struct
{
  ArParam *norm, *wq, *wk, *wv, *wo;
  ArAttention *a;
  float *x, *n, *q, *k, *v, *att, *y, *P, *rstd, *cos_t, *sin_t;
} BlockCase;

static double
block_loss (gpointer data)
{
  BlockCase *c = data;

  ar_nn_rmsnorm_forward (c->norm, c->x, c->n, c->rstd, BLK_N, 1e-5f);
  ar_nn_linear_forward (c->wq, NULL, c->n, c->q, BLK_N);
  ar_nn_linear_forward (c->wk, NULL, c->n, c->k, BLK_N);
  ar_nn_linear_forward (c->wv, NULL, c->n, c->v, BLK_N);
  ar_nn_rope_forward (c->q, BLK_D, c->cos_t, c->sin_t, BLK_T, BLK_B, BLK_H,
      BLK_HS, BLK_HS);
  ar_nn_rope_forward (c->k, BLK_D, c->cos_t, c->sin_t, BLK_T, BLK_B, BLK_H,
      BLK_HS, BLK_HS);
  ar_attention_forward (c->a, c->q, BLK_D, c->k, c->v, BLK_D, c->att, BLK_T,
      BLK_B);
  ar_nn_linear_forward (c->wo, NULL, c->att, c->y, BLK_N);
  ar_nn_add (c->y, c->x, BLK_N * BLK_D);
  return project (c->P, c->y, BLK_N * BLK_D);
}

static ArParam *
new_matrix (const char *name, guint64 in, guint64 out, ArRng *rng)
{
  const guint64 ne[2] = { in, out };
  ArParam *p = ar_param_new (name, 2, ne);

  ar_param_init_uniform (p, rng, 0.6f);
  return p;
}

static void
test_block_grad (void)
{
  BlockCase c;
  ArRng rng;
  gsize nd = BLK_N * BLK_D;

  ar_rng_init (&rng, 17);
  c.norm = new_vector_param ("norm", BLK_D, &rng, 1.0f, 0.3f);
  c.wq = new_matrix ("q", BLK_D, BLK_D, &rng);
  c.wk = new_matrix ("k", BLK_D, BLK_D, &rng);
  c.wv = new_matrix ("v", BLK_D, BLK_D, &rng);
  c.wo = new_matrix ("o", BLK_D, BLK_D, &rng);
  c.a = ar_attention_new (BLK_H, BLK_H, BLK_HS, BLK_T, BLK_B);
  c.x = new_uniform (nd, &rng, 1.0f);
  c.P = new_uniform (nd, &rng, 1.0f);
  c.n = new_floats (nd);
  c.q = new_floats (nd);
  c.k = new_floats (nd);
  c.v = new_floats (nd);
  c.att = new_floats (nd);
  c.y = new_floats (nd);
  c.rstd = new_floats (BLK_N);
  c.cos_t = new_floats (BLK_T * BLK_HS / 2);
  c.sin_t = new_floats (BLK_T * BLK_HS / 2);
  ar_nn_rope_table (c.cos_t, c.sin_t, BLK_T, BLK_HS, 10000.0f);
  float *datt = new_floats (nd), *dq = new_floats (nd), *dk = new_floats (nd);
  float *dv = new_floats (nd), *dn = new_floats (nd), *dx = new_floats (nd);

  /* backward in the order the training graph runs it */
  block_loss (&c);
  ar_nn_linear_backward (c.wo, NULL, c.att, c.P, datt, BLK_N);
  ar_attention_backward (c.a, c.q, BLK_D, c.k, c.v, BLK_D, c.att, datt, dq, dk,
      dv, BLK_T, BLK_B);
  ar_nn_rope_backward (dq, BLK_D, c.cos_t, c.sin_t, BLK_T, BLK_B, BLK_H, BLK_HS,
      BLK_HS);
  ar_nn_rope_backward (dk, BLK_D, c.cos_t, c.sin_t, BLK_T, BLK_B, BLK_H, BLK_HS,
      BLK_HS);
  ar_nn_linear_backward (c.wq, NULL, c.n, dq, dn, BLK_N);
  ar_nn_linear_backward (c.wk, NULL, c.n, dk, dx, BLK_N);
  ar_nn_add (dn, dx, nd);
  ar_nn_linear_backward (c.wv, NULL, c.n, dv, dx, BLK_N);
  ar_nn_add (dn, dx, nd);
  ar_nn_rmsnorm_backward (c.norm, c.x, c.rstd, dn, dx, BLK_N);
  ar_nn_add (dx, c.P, nd); /* the residual path */

  check_fd ("block d norm", c.norm->w, c.norm->g, BLK_D, block_loss, &c);
  check_fd ("block dWq", c.wq->w, c.wq->g, c.wq->n, block_loss, &c);
  check_fd ("block dWk", c.wk->w, c.wk->g, c.wk->n, block_loss, &c);
  check_fd ("block dWv", c.wv->w, c.wv->g, c.wv->n, block_loss, &c);
  check_fd ("block dWo", c.wo->w, c.wo->g, c.wo->n, block_loss, &c);
  check_fd ("block dx", c.x, dx, nd, block_loss, &c);

  ar_param_free (c.norm);
  ar_param_free (c.wq);
  ar_param_free (c.wk);
  ar_param_free (c.wv);
  ar_param_free (c.wo);
  ar_attention_free (c.a);
  g_free (c.x);
  g_free (c.P);
  g_free (c.n);
  g_free (c.q);
  g_free (c.k);
  g_free (c.v);
  g_free (c.att);
  g_free (c.y);
  g_free (c.rstd);
  g_free (c.cos_t);
  g_free (c.sin_t);
  g_free (datt);
  g_free (dq);
  g_free (dk);
  g_free (dv);
  g_free (dn);
  g_free (dx);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/nn-attn/rmsnorm", GINT_TO_POINTER (FALSE), test_norm);
  g_test_add_data_func ("/nn-attn/layernorm", GINT_TO_POINTER (TRUE),
      test_norm);
  g_test_add_data_func ("/nn-attn/gelu", GINT_TO_POINTER (FALSE),
      test_activation);
  g_test_add_data_func ("/nn-attn/swiglu", GINT_TO_POINTER (TRUE),
      test_activation);
  g_test_add_func ("/nn-attn/activations-simd", test_activation_levels);
  g_test_add_func ("/nn-attn/add", test_add);
  g_test_add_func ("/nn-attn/rope", test_rope);
  g_test_add_func ("/nn-attn/attention/forward", test_attention_forward);
  g_test_add_data_func ("/nn-attn/attention/grad-mha", GINT_TO_POINTER (4),
      test_attention_grad);
  g_test_add_data_func ("/nn-attn/attention/grad-gqa", GINT_TO_POINTER (2),
      test_attention_grad);
  g_test_add_data_func ("/nn-attn/attention/grad-mqa", GINT_TO_POINTER (1),
      test_attention_grad);
  g_test_add_func ("/nn-attn/attention/fused-layout", test_attention_fused);
  g_test_add_func ("/nn-attn/block/grad", test_block_grad);
  return g_test_run ();
}
