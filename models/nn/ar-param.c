/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-param.c — trainable parameters: a named tensor with its value, gradient
 * and the two AdamW moments, plus the operations over a list of parameters
 * (count, zero the gradients, clip the global gradient norm).
 *
 * The four arrays of a parameter live in one 64-byte-aligned allocation so that
 * the SIMD kernels and OpenBLAS see aligned rows, and so a parameter is one
 * malloc however it is used. */
#include "ar-nn.h"

#include <math.h>
#include <string.h>

/* Each array starts on a 64-byte (16-float) boundary inside the block. */
#define AR_PARAM_ALIGN 64
#define AR_PARAM_ROUND(n) (((n) + 15) & ~(gsize) 15)

ArParam *
ar_param_new (const char *name, guint n_dims, const guint64 *ne)
{
  ArParam *p;
  gsize n = 1, stride;
  guint i;
  float *block;

  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (n_dims >= 1 && n_dims <= 4, NULL);
  g_return_val_if_fail (ne != NULL, NULL);

  for (i = 0; i < n_dims; i++) {
    g_return_val_if_fail (ne[i] > 0, NULL);
    /* Four float arrays must fit in a gsize of bytes. */
    g_return_val_if_fail (ne[i] <= G_MAXSIZE / 16 / n, NULL);
    n *= ne[i];
  }

  p = g_new0 (ArParam, 1);
  p->name = g_strdup (name);
  p->n_dims = n_dims;
  for (i = 0; i < 4; i++)
    p->ne[i] = i < n_dims ? ne[i] : 1;
  p->n = n;
  p->decay = n_dims >= 2;

  stride = AR_PARAM_ROUND (n);
  block = g_aligned_alloc0 (4 * stride, sizeof (float), AR_PARAM_ALIGN);
  p->w = block;
  p->g = block + stride;
  p->m = block + 2 * stride;
  p->v = block + 3 * stride;
  return p;
}

void
ar_param_free (ArParam *p)
{
  if (p == NULL)
    return;
  g_aligned_free (p->w);
  g_free (p->name);
  g_free (p);
}

void
ar_param_init_uniform (ArParam *p, ArRng *rng, float bound)
{
  gsize i;

  g_return_if_fail (p != NULL && rng != NULL);

  for (i = 0; i < p->n; i++)
    p->w[i] = bound * (2.0f * ar_rng_uniform (rng) - 1.0f);
}

void
ar_param_init_normal (ArParam *p, ArRng *rng, float std)
{
  gsize i;

  g_return_if_fail (p != NULL && rng != NULL);

  for (i = 0; i < p->n; i++)
    p->w[i] = std * ar_rng_normal (rng);
}

gsize
ar_params_count (GPtrArray *params)
{
  gsize total = 0;
  guint i;

  g_return_val_if_fail (params != NULL, 0);

  for (i = 0; i < params->len; i++)
    total += ((const ArParam *) g_ptr_array_index (params, i))->n;
  return total;
}

ArParam *
ar_params_new_grad_views (GPtrArray *params, float **grad)
{
  ArParam *views;
  gsize at = 0;

  g_return_val_if_fail (params != NULL && grad != NULL, NULL);

  views = g_new0 (ArParam, params->len);
  *grad = g_new0 (float, ar_params_count (params));
  for (guint i = 0; i < params->len; i++) {
    const ArParam *master = g_ptr_array_index (params, i);

    views[i] = *master;
    views[i].g = *grad + at;
    views[i].m = views[i].v = NULL;
    at += master->n;
  }
  return views;
}

void
ar_params_zero_grad (GPtrArray *params)
{
  guint i;

  g_return_if_fail (params != NULL);

  for (i = 0; i < params->len; i++) {
    ArParam *p = g_ptr_array_index (params, i);
    memset (p->g, 0, p->n * sizeof (float));
  }
}

float
ar_params_clip_grad_norm (GPtrArray *params, float max_norm)
{
  double sumsq = 0.0;
  float norm, scale;
  guint i;
  gsize j;

  g_return_val_if_fail (params != NULL, 0.0f);

  /* Summed in double: a million squares added up in float would lose digits,
   * and this runs once per step, so the scalar loop costs nothing that
   * matters. */
  for (i = 0; i < params->len; i++) {
    const ArParam *p = g_ptr_array_index (params, i);

    for (j = 0; j < p->n; j++)
      sumsq += (double) p->g[j] * p->g[j];
  }
  norm = (float) sqrt (sumsq);

  /* As torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) only
   * when that is below one.  A non-finite norm leaves the gradients alone; the
   * caller sees it in the return value. */
  if (!isfinite (norm) || norm <= max_norm)
    return norm;
  scale = (float) (max_norm / (sqrt (sumsq) + 1e-6));
  if (scale >= 1.0f)
    return norm;
  for (i = 0; i < params->len; i++) {
    ArParam *p = g_ptr_array_index (params, i);

    for (j = 0; j < p->n; j++)
      p->g[j] *= scale;
  }
  return norm;
}
