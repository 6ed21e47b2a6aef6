/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-pointwise.c — the row-wise and element-wise layers of a Transformer
 * block, each with its backward pass: RMSNorm, LayerNorm, GELU (tanh form),
 * SwiGLU's gate and the residual add.
 *
 * The plain-C norms repeat the inference step's arithmetic operation for
 * operation (models/transformer/ar-transformer.c).  These layers are where
 * a training step spends its time outside BLAS — a feed-forward layer of
 * F = 512 over 4096 rows evaluates two million GELUs per layer and step —
 * and without -ffast-math neither expf nor the sums over a row vectorise.
 * So every layer here has an AVX2+FMA version (ar-pointwise-avx2.c), used
 * when the CPU has it, and the loops here are their reference: the
 * activations are written in terms of the logistic function
 * σ(u) = 1 / (1 + e^-u) (GELU's 1/2 (1 + tanh z) is σ(2z)) with the
 * exponential in registers, and the norms' row sums are formed in 8 lanes
 * (a few ulps from the sequential sums of inference). */
#include "ar-nn.h"
#include "ar-pointwise-simd.h"
#include "../core/ar-kernels.h"

#include <math.h>
#include <string.h>

#ifdef AR_POINTWISE_HAVE_AVX2
/* this CPU runs the AVX2 versions (ar-pointwise-avx2.c) */
static gboolean
use_avx2 (void)
{
  return ar_simd_get_level () >= AR_SIMD_AVX2;
}
#endif

/* ---- RMSNorm ------------------------------------------------------------ */

void
ar_nn_rmsnorm_forward (const ArParam *w, const float *X, float *Y, float *rstd,
    int N, float eps)
{
  g_return_if_fail (w != NULL && X != NULL && Y != NULL && rstd != NULL);
  g_return_if_fail (N >= 0 && eps > 0.0f);
  gsize n = w->n;

#ifdef AR_POINTWISE_HAVE_AVX2
  if (use_avx2 ()) {
    ar_nn_rmsnorm_forward_avx2 (w->w, X, Y, rstd, N, (int) n, eps);
    return;
  }
#endif
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

#ifdef AR_POINTWISE_HAVE_AVX2
  if (use_avx2 ()) {
    ar_nn_rmsnorm_backward_avx2 (w->w, w->g, X, rstd, dY, dX, N, (int) n);
    return;
  }
#endif
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

#ifdef AR_POINTWISE_HAVE_AVX2
  if (use_avx2 ()) {
    ar_nn_layernorm_forward_avx2 (w->w, b->w, X, Y, mean, rstd, N, (int) n,
        eps);
    return;
  }
#endif
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

#ifdef AR_POINTWISE_HAVE_AVX2
  if (use_avx2 ()) {
    ar_nn_layernorm_backward_avx2 (w->w, w->g, b->g, X, mean, rstd, dY, dX, N,
        (int) n);
    return;
  }
#endif
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

#define GELU_K 0.7978845608028654f /* sqrt (2 / pi) */
#define GELU_C 0.044715f

/* σ(u) from e = exp (-|u|), which cannot overflow: 1 / (1 + e) for u >= 0,
 * e / (1 + e) below. */
static inline float
sigmoid (float u)
{
  float e = expf (-fabsf (u)), inv = 1.0f / (1.0f + e);

  return u >= 0.0f ? inv : e * inv;
}

/* u = 2 sqrt (2/π) (x + 0.044715 x³): GELU is x σ(u) */
static inline float
gelu_arg (float x)
{
  return (2.0f * GELU_K + 2.0f * GELU_K * GELU_C * (x * x)) * x;
}

void
ar_nn_gelu_forward (const float *X, float *Y, gsize n)
{
  g_return_if_fail (X != NULL && Y != NULL);

#ifdef AR_POINTWISE_HAVE_AVX2
  if (use_avx2 ()) {
    ar_nn_gelu_forward_avx2 (X, Y, n);
    return;
  }
#endif
  for (gsize i = 0; i < n; i++)
    Y[i] = X[i] * sigmoid (gelu_arg (X[i]));
}

/* d/dx x σ(u) = σ + x σ (1 - σ) du/dx,
 * du/dx = 2 sqrt (2/π) (1 + 3 · 0.044715 x²) */
void
ar_nn_gelu_backward (const float *X, const float *dY, float *dX, gsize n)
{
  g_return_if_fail (X != NULL && dY != NULL && dX != NULL);

#ifdef AR_POINTWISE_HAVE_AVX2
  if (use_avx2 ()) {
    ar_nn_gelu_backward_avx2 (X, dY, dX, n);
    return;
  }
#endif
  for (gsize i = 0; i < n; i++) {
    float x = X[i], s = sigmoid (gelu_arg (x));
    float du = 6.0f * GELU_K * GELU_C * (x * x) + 2.0f * GELU_K;

    dX[i] = dY[i] * (x * s * (1.0f - s) * du + s);
  }
}

void
ar_nn_swiglu_forward (const float *G, const float *U, float *Y, gsize n)
{
  g_return_if_fail (G != NULL && U != NULL && Y != NULL);

#ifdef AR_POINTWISE_HAVE_AVX2
  if (use_avx2 ()) {
    ar_nn_swiglu_forward_avx2 (G, U, Y, n);
    return;
  }
#endif
  for (gsize i = 0; i < n; i++)
    Y[i] = G[i] * sigmoid (G[i]) * U[i];
}

/* silu' (g) = σ (1 + g (1 - σ)):  dG = dY U silu' (G),  dU = dY silu (G) */
void
ar_nn_swiglu_backward (const float *G, const float *U, const float *dY,
    float *dG, float *dU, gsize n)
{
  g_return_if_fail (G != NULL && U != NULL && dY != NULL && dG != NULL &&
      dU != NULL);

#ifdef AR_POINTWISE_HAVE_AVX2
  if (use_avx2 ()) {
    ar_nn_swiglu_backward_avx2 (G, U, dY, dG, dU, n);
    return;
  }
#endif
  for (gsize i = 0; i < n; i++) {
    float g = G[i], u = U[i], d = dY[i], s = sigmoid (g);

    /* read everything before writing: dG or dU may be dY */
    dG[i] = d * u * s * (g * (1.0f - s) + 1.0f);
    dU[i] = d * (g * s);
  }
}

void
ar_nn_add (float *restrict Y, const float *restrict X, gsize n)
{
  g_return_if_fail (Y != NULL && X != NULL);

#ifdef AR_POINTWISE_HAVE_AVX2
  if (use_avx2 ()) {
    ar_nn_add_avx2 (Y, X, n);
    return;
  }
#endif
  for (gsize i = 0; i < n; i++)
    Y[i] += X[i];
}
