/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-pointwise.c — the row-wise and element-wise layers of a Transformer
 * block, each with its backward pass: RMSNorm, LayerNorm, GELU (tanh form),
 * SwiGLU's gate and the residual add.
 *
 * The norms repeat the inference step's arithmetic operation for operation
 * (models/transformer/ar-transformer.c), so a trained model computes the
 * same activations when it is loaded for generation.  The activations are
 * where a training step spends its time outside BLAS: a feed-forward layer
 * of F = 512 over 4096 rows evaluates two million GELUs per layer and step.
 * With no -ffast-math, tanhf and expf stay scalar library calls of 10-20 ns,
 * so both activations are written in terms of the logistic function
 * σ(u) = 1 / (1 + e^-u) (GELU's 1/2 (1 + tanh z) is σ(2z)) and the
 * exponentials go through ar_exp_shift_sum(), the SIMD kernel the softmax of
 * inference uses, on chunks of a small stack buffer. */
#include "ar-nn.h"
#include "../core/ar-kernels.h"

#include <math.h>
#include <string.h>

/* ---- RMSNorm ------------------------------------------------------------ */

void
ar_nn_rmsnorm_forward (const ArParam *w, const float *X, float *Y, float *rstd,
    int N, float eps)
{
  g_return_if_fail (w != NULL && X != NULL && Y != NULL && rstd != NULL);
  g_return_if_fail (N >= 0 && eps > 0.0f);
  gsize n = w->n;

  for (int r = 0; r < N; r++) {
    const float *x = X + (gsize) r * n;
    float *y = Y + (gsize) r * n;
    float ss = 0.0f;

    for (gsize i = 0; i < n; i++)
      ss += x[i] * x[i];
    ss = 1.0f / sqrtf (ss / n + eps);
    rstd[r] = ss;
    for (gsize i = 0; i < n; i++)
      y[i] = w->w[i] * (ss * x[i]);
  }
}

/* y_i = w_i r x_i with r = (Σ x² / n + eps)^-1/2, so dr/dx_j = -r³ x_j / n:
 *   dw_i += dy_i r x_i
 *   dx_j  = r w_j dy_j - r³ x_j / n · Σ_i dy_i w_i x_i */
void
ar_nn_rmsnorm_backward (ArParam *w, const float *X, const float *rstd,
    const float *dY, float *dX, int N)
{
  g_return_if_fail (w != NULL && X != NULL && rstd != NULL && dY != NULL &&
      dX != NULL && N >= 0);
  gsize n = w->n;

  for (int r = 0; r < N; r++) {
    const float *x = X + (gsize) r * n;
    const float *dy = dY + (gsize) r * n;
    float *dx = dX + (gsize) r * n;
    float *restrict g = w->g;
    float s = rstd[r], dot = 0.0f;

    for (gsize i = 0; i < n; i++) {
      dot += dy[i] * w->w[i] * x[i];
      g[i] += dy[i] * s * x[i];
    }
    float c = s * s * s * dot / n;
    for (gsize i = 0; i < n; i++)
      dx[i] = s * w->w[i] * dy[i] - c * x[i];
  }
}

/* ---- LayerNorm ---------------------------------------------------------- */

void
ar_nn_layernorm_forward (const ArParam *w, const ArParam *b, const float *X,
    float *Y, float *mean, float *rstd, int N, float eps)
{
  g_return_if_fail (w != NULL && b != NULL && b->n == w->n);
  g_return_if_fail (X != NULL && Y != NULL && mean != NULL && rstd != NULL);
  g_return_if_fail (N >= 0 && eps > 0.0f);
  gsize n = w->n;

  for (int r = 0; r < N; r++) {
    const float *x = X + (gsize) r * n;
    float *y = Y + (gsize) r * n;
    float mu = 0.0f, var = 0.0f, s;

    /* two passes, as the inference step */
    for (gsize i = 0; i < n; i++)
      mu += x[i];
    mu /= n;
    for (gsize i = 0; i < n; i++)
      var += (x[i] - mu) * (x[i] - mu);
    s = 1.0f / sqrtf (var / n + eps);
    mean[r] = mu;
    rstd[r] = s;
    for (gsize i = 0; i < n; i++)
      y[i] = (x[i] - mu) * s * w->w[i] + b->w[i];
  }
}

/* With x̂ = (x - mean) r and dx̂ = dy ⊙ w:
 *   dw += dy ⊙ x̂,  db += dy
 *   dx  = r (dx̂ - mean (dx̂) - x̂ mean (dx̂ ⊙ x̂)) */
void
ar_nn_layernorm_backward (ArParam *w, ArParam *b, const float *X,
    const float *mean, const float *rstd, const float *dY, float *dX, int N)
{
  g_return_if_fail (w != NULL && b != NULL && b->n == w->n);
  g_return_if_fail (X != NULL && mean != NULL && rstd != NULL && dY != NULL &&
      dX != NULL && N >= 0);
  gsize n = w->n;

  for (int r = 0; r < N; r++) {
    const float *x = X + (gsize) r * n;
    const float *dy = dY + (gsize) r * n;
    float *dx = dX + (gsize) r * n;
    float *restrict gw = w->g, *restrict gb = b->g;
    float mu = mean[r], s = rstd[r], sum_d = 0.0f, sum_dx = 0.0f;

    for (gsize i = 0; i < n; i++) {
      float xh = (x[i] - mu) * s, d = dy[i] * w->w[i];

      gw[i] += dy[i] * xh;
      gb[i] += dy[i];
      sum_d += d;
      sum_dx += d * xh;
    }
    sum_d /= n;
    sum_dx /= n;
    for (gsize i = 0; i < n; i++) {
      float xh = (x[i] - mu) * s;

      dx[i] = s * (dy[i] * w->w[i] - sum_d - xh * sum_dx);
    }
  }
}

/* ---- activations ---------------------------------------------------------- */

/* Elements per chunk: the exponentials of a chunk are one kernel call on a
 * buffer that stays in L1. */
#define CHUNK 256

#define GELU_K 0.7978845608028654f /* sqrt (2 / pi) */
#define GELU_C 0.044715f

/* u = 2 sqrt (2/π) (x + 0.044715 x³): GELU is x σ(u) */
static inline float
gelu_arg (float x)
{
  return 2.0f * GELU_K * (x + GELU_C * x * x * x);
}

/* e (m) = exp (-|u|) for u (m), m <= CHUNK: arguments never positive, so the
 * kernel's polynomial is in its range and nothing overflows. */
static void
exp_neg_abs (float *e, const float *u, int m)
{
  for (int i = 0; i < m; i++)
    e[i] = -fabsf (u[i]);
  ar_exp_shift_sum (e, 0.0f, m);
}

/* σ(u) from e = exp (-|u|): 1 / (1 + e) for u >= 0, e / (1 + e) below. */
static inline float
sigmoid_from (float u, float e)
{
  float inv = 1.0f / (1.0f + e);

  return u >= 0.0f ? inv : e * inv;
}

void
ar_nn_gelu_forward (const float *X, float *Y, gsize n)
{
  float u[CHUNK], e[CHUNK];

  g_return_if_fail (X != NULL && Y != NULL);

  for (gsize c0 = 0; c0 < n; c0 += CHUNK) {
    int m = (int) MIN ((gsize) CHUNK, n - c0);
    const float *x = X + c0;
    float *y = Y + c0;

    for (int i = 0; i < m; i++)
      u[i] = gelu_arg (x[i]);
    exp_neg_abs (e, u, m);
    for (int i = 0; i < m; i++)
      y[i] = x[i] * sigmoid_from (u[i], e[i]);
  }
}

/* d/dx x σ(u) = σ + x σ (1 - σ) du/dx,  du/dx = 2 sqrt (2/π) (1 + 3 · 0.044715 x²) */
void
ar_nn_gelu_backward (const float *X, const float *dY, float *dX, gsize n)
{
  float u[CHUNK], e[CHUNK];

  g_return_if_fail (X != NULL && dY != NULL && dX != NULL);

  for (gsize c0 = 0; c0 < n; c0 += CHUNK) {
    int m = (int) MIN ((gsize) CHUNK, n - c0);
    const float *x = X + c0, *dy = dY + c0;
    float *dx = dX + c0;

    for (int i = 0; i < m; i++)
      u[i] = gelu_arg (x[i]);
    exp_neg_abs (e, u, m);
    for (int i = 0; i < m; i++) {
      float s = sigmoid_from (u[i], e[i]), xi = x[i];
      float du = 2.0f * GELU_K * (1.0f + 3.0f * GELU_C * xi * xi);

      dx[i] = dy[i] * (s + xi * s * (1.0f - s) * du);
    }
  }
}

void
ar_nn_swiglu_forward (const float *G, const float *U, float *Y, gsize n)
{
  float e[CHUNK];

  g_return_if_fail (G != NULL && U != NULL && Y != NULL);

  for (gsize c0 = 0; c0 < n; c0 += CHUNK) {
    int m = (int) MIN ((gsize) CHUNK, n - c0);
    const float *g = G + c0, *u = U + c0;
    float *y = Y + c0;

    exp_neg_abs (e, g, m);
    for (int i = 0; i < m; i++)
      y[i] = g[i] * sigmoid_from (g[i], e[i]) * u[i];
  }
}

/* silu' (g) = σ (1 + g (1 - σ)):  dG = dY U silu' (G),  dU = dY silu (G) */
void
ar_nn_swiglu_backward (const float *G, const float *U, const float *dY,
    float *dG, float *dU, gsize n)
{
  float e[CHUNK];

  g_return_if_fail (G != NULL && U != NULL && dY != NULL && dG != NULL &&
      dU != NULL);

  for (gsize c0 = 0; c0 < n; c0 += CHUNK) {
    int m = (int) MIN ((gsize) CHUNK, n - c0);
    const float *g = G + c0, *u = U + c0, *dy = dY + c0;
    float *dg = dG + c0, *du = dU + c0;

    exp_neg_abs (e, g, m);
    for (int i = 0; i < m; i++) {
      float s = sigmoid_from (g[i], e[i]), d = dy[i], gi = g[i], ui = u[i];

      /* read everything before writing: dG or dU may be dY */
      dg[i] = d * ui * s * (1.0f + gi * (1.0f - s));
      du[i] = d * gi * s;
    }
  }
}

void
ar_nn_add (float *Y, const float *X, gsize n)
{
  g_return_if_fail (Y != NULL && X != NULL);

  for (gsize i = 0; i < n; i++)
    Y[i] += X[i];
}
