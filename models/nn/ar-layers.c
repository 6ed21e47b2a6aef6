/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-layers.c — feed-forward layers for training: linear, embedding, and the
 * softmax cross-entropy loss, each with its backward pass.
 *
 * Batches are row-major (N rows of features), weights row-major (out, in) as
 * PyTorch stores them.  The products are single cblas_sgemm calls over the
 * whole batch, which is where the time goes; the rest are plain loops.
 * Backward passes accumulate into parameter gradients and overwrite input
 * gradients (see ar-nn.h). */
#include "ar-nn.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* ---- linear ------------------------------------------------------------- */

/* W (out, in) with ne = { in, out }; b (out). */
static gboolean
linear_shapes_ok (const ArParam *W, const ArParam *b)
{
  return W->n_dims == 2 && (b == NULL || b->n == W->ne[1]);
}

void
ar_nn_linear_forward (const ArParam *W, const ArParam *b, const float *X,
    float *Y, int N)
{
  int n_in, n_out, i;

  g_return_if_fail (W != NULL && X != NULL && Y != NULL && N >= 0);
  g_return_if_fail (linear_shapes_ok (W, b));
  if (N == 0)
    return;
  n_in = (int) W->ne[0];
  n_out = (int) W->ne[1];

  /* Y starts as the bias broadcast over rows, then Y += X · Wᵀ. */
  if (b != NULL) {
    for (i = 0; i < N; i++)
      memcpy (Y + (gsize) i * n_out, b->w, n_out * sizeof (float));
  }
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, N, n_out, n_in, 1.0f, X,
      n_in, W->w, n_in, b != NULL ? 1.0f : 0.0f, Y, n_out);
}

/* g (n) += column sums of M (rows, n). */
static void
add_column_sums (float *restrict g, const float *restrict M, int rows, int n)
{
  int i, j;

  for (i = 0; i < rows; i++) {
    const float *row = M + (gsize) i * n;

    for (j = 0; j < n; j++)
      g[j] += row[j];
  }
}

void
ar_nn_linear_backward (ArParam *W, ArParam *b, const float *X, const float *dY,
    float *dX, int N)
{
  int n_in, n_out;

  g_return_if_fail (W != NULL && X != NULL && dY != NULL && N >= 0);
  g_return_if_fail (linear_shapes_ok (W, b));
  n_in = (int) W->ne[0];
  n_out = (int) W->ne[1];
  if (N == 0)
    return;

  /* dW (out, in) += dYᵀ (out, N) · X (N, in) */
  cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, n_out, n_in, N, 1.0f,
      dY, n_out, X, n_in, 1.0f, W->g, n_in);
  if (b != NULL)
    add_column_sums (b->g, dY, N, n_out);
  /* dX (N, in) = dY (N, out) · W (out, in) */
  if (dX != NULL)
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, N, n_in, n_out,
        1.0f, dY, n_out, W->w, n_in, 0.0f, dX, n_in);
}

/* ---- embedding ---------------------------------------------------------- */

/* Token ids come from a vocabulary the caller has already checked, so an id
 * out of range here is a programmer error. */
static gboolean
ids_in_range (const gint32 *ids, int N, guint64 V)
{
  int i;

  for (i = 0; i < N; i++)
    if (ids[i] < 0 || (guint64) ids[i] >= V)
      return FALSE;
  return TRUE;
}

void
ar_nn_embedding_forward (const ArParam *E, const gint32 *ids, float *Y, int N)
{
  gsize D;
  int i;

  g_return_if_fail (E != NULL && E->n_dims == 2 && ids != NULL && Y != NULL &&
      N >= 0);
  g_return_if_fail (ids_in_range (ids, N, E->ne[1]));
  D = E->ne[0];

  for (i = 0; i < N; i++)
    memcpy (Y + i * D, E->w + (gsize) ids[i] * D, D * sizeof (float));
}

void
ar_nn_embedding_backward (ArParam *E, const gint32 *ids, const float *dY, int N)
{
  gsize D, j;
  int i;

  g_return_if_fail (E != NULL && E->n_dims == 2 && ids != NULL && dY != NULL &&
      N >= 0);
  g_return_if_fail (ids_in_range (ids, N, E->ne[1]));
  D = E->ne[0];

  /* Repeated ids add up, in row order (deterministic). */
  for (i = 0; i < N; i++) {
    float *restrict g = E->g + (gsize) ids[i] * D;
    const float *restrict d = dY + i * D;

    for (j = 0; j < D; j++)
      g[j] += d[j];
  }
}

/* ---- softmax cross-entropy ------------------------------------------- */

float
ar_nn_softmax_xent (const float *logits, const gint32 *targets, float *dlogits,
    int N, int V)
{
  double loss = 0.0;
  float inv_n;
  int i, j;

  g_return_val_if_fail (logits != NULL && targets != NULL, NAN);
  g_return_val_if_fail (N > 0 && V > 0, NAN);
  g_return_val_if_fail (ids_in_range (targets, N, (guint64) V), NAN);

  inv_n = 1.0f / (float) N;
  for (i = 0; i < N; i++) {
    const float *l = logits + (gsize) i * V;
    float *d = dlogits != NULL ? dlogits + (gsize) i * V : NULL;
    float mx = l[0], lt = l[targets[i]];
    float s = 0.0f;

    /* log-sum-exp with the row maximum subtracted so expf cannot overflow.
     * Every element of the row is read before it is written, which is what
     * lets dlogits alias logits.  The sum is formed the same way with or
     * without a gradient so the loss does not depend on the request. */
    for (j = 1; j < V; j++)
      mx = MAX (mx, l[j]);
    if (d != NULL) {
      for (j = 0; j < V; j++) {
        float e = expf (l[j] - mx);

        d[j] = e;
        s += e;
      }
    } else {
      for (j = 0; j < V; j++)
        s += expf (l[j] - mx);
    }
    loss += log ((double) s) + (double) mx - (double) lt;

    /* d loss_mean / d l = (softmax(l) - onehot(target)) / N */
    if (d != NULL) {
      float scale = inv_n / s;

      for (j = 0; j < V; j++)
        d[j] *= scale;
      d[targets[i]] -= inv_n;
    }
  }
  return (float) (loss / N);
}
