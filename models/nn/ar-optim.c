/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-optim.c — the AdamW optimiser and the warm-up + cosine learning-rate
 * schedule.
 *
 * AdamW follows torch.optim.AdamW step for step (decoupled weight decay applied
 * to the weights before the moment update, bias-corrected moments, eps added
 * after the square root), so a model trained here and one trained in PyTorch
 * with the same hyper-parameters follow the same trajectory up to rounding.
 * Unlike PyTorch's single parameter group, decay applies only to parameters
 * whose `decay` flag is set (matrices by default, never biases). */
#include "ar-nn.h"

#include <math.h>

void
ar_adamw_step (const ArAdamW *opt, GPtrArray *params, guint64 t, float lr)
{
  float b1, b2, omb1, omb2, step_size, inv_bc2_sqrt, eps, decay_mul;
  double bc1, bc2;
  guint i;

  g_return_if_fail (opt != NULL && params != NULL);
  g_return_if_fail (t >= 1);

  b1 = opt->beta1;
  b2 = opt->beta2;
  omb1 = 1.0f - b1;
  omb2 = 1.0f - b2;
  eps = opt->eps;
  /* The bias corrections in double: beta2^t for t in the millions is close
   * to 0 and 1 - beta2^t must not cancel to garbage in float. */
  bc1 = 1.0 - pow (b1, (double) t);
  bc2 = 1.0 - pow (b2, (double) t);
  step_size = (float) (lr / bc1);
  inv_bc2_sqrt = (float) (1.0 / sqrt (bc2));
  decay_mul = 1.0f - lr * opt->weight_decay;

  for (i = 0; i < params->len; i++) {
    ArParam *p = g_ptr_array_index (params, i);
    float *restrict w = p->w;
    float *restrict m = p->m;
    float *restrict v = p->v;
    const float *restrict g = p->g;
    gsize j, n = p->n;

    if (p->decay && opt->weight_decay != 0.0f) {
      for (j = 0; j < n; j++)
        w[j] *= decay_mul;
    }
    for (j = 0; j < n; j++) {
      float gj = g[j];
      float mj = b1 * m[j] + omb1 * gj;
      float vj = b2 * v[j] + omb2 * gj * gj;

      m[j] = mj;
      v[j] = vj;
      w[j] -= step_size * mj / (sqrtf (vj) * inv_bc2_sqrt + eps);
    }
  }
}

float
ar_lr_warmup_cosine (guint64 step, guint64 warmup, guint64 total, float lr_max,
    float lr_min)
{
  /* The step that trains at lr_max: the warm-up's last, or without a
   * warm-up the run's first.  The cosine used to start from step 0 when
   * there was no warm-up, a step no run makes: the first step was already
   * below lr_max, and a one-step run trained at lr_min. */
  guint64 peak = MAX (warmup, 1);
  double progress;

  if (step < warmup)
    return (float) ((double) lr_max * (double) step / (double) warmup);
  /* before the cosine: also the last step of a warm-up as long as the run
   * (then the run has no decay to make) */
  if (step <= peak)
    return lr_max;
  if (step >= total)
    return lr_min;
  /* Here peak < step < total, so the denominator is at least two. */
  progress = (double) (step - peak) / (double) (total - peak);
  return (float) (lr_min +
      0.5 * (1.0 + cos (G_PI * progress)) * (lr_max - lr_min));
}
