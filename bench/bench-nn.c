/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-nn.c — training throughput of the default text model's graph:
 * embedding (65 → 64) → recurrent layer (GRU, hidden 512) → linear (512 → 65)
 * → softmax cross-entropy, at T = 128 steps of B = 32 streams (4096 characters
 * per training step), with gradient clipping and AdamW.
 *
 * Prints characters per second (T * B per step over the time of a step) and how
 * a step splits between forward, backward and optimiser, with the recurrent
 * layer's share of the first two.  The reference point is PyTorch on the same
 * 2-core machine: about 9,600 chars/s for this model.
 *
 * usage: bench-nn [STEPS [CELL [HIDDEN]]]   (defaults: 5 gru 512) */
#include <stdio.h>
#include <stdlib.h>
#include <math.h>

#include <glib.h>

#include "nn/ar-nn.h"
#include "core/ar-rng.h"

enum
{
  V = 65,
  D = 64,
  T = 128,
  B = 32,
  N = T * B
};

/* new_floats (n), spelled as a function so that clang-format reads the
 * size as an expression */
static float *
new_floats (gsize n)
{
  return g_new (float, n);
}

static double
now (void)
{
  return g_get_monotonic_time () / 1e6;
}

int
main (int argc, char **argv)
{
  int steps = argc > 1 ? atoi (argv[1]) : 5;
  ArCellType cell = AR_CELL_GRU;
  int H = argc > 3 ? atoi (argv[3]) : 512;
  guint64 ne[2];
  ArParam *E, *Wo, *bo;
  ArRecurrent *rnn;
  GPtrArray *params;
  ArAdamW opt = AR_ADAMW_INIT;
  ArRng rng;
  gint32 *ids;
  float *emb, *hid, *logits, *dhid, *demb;
  double t_fwd = 0, t_bwd = 0, t_opt = 0, t_rfwd = 0, t_rbwd = 0, total;
  double best = G_MAXDOUBLE;
  float loss = 0.0f;
  int s, i;

  if (argc > 2 && !ar_cell_from_name (argv[2], &cell)) {
    fprintf (stderr, "bench-nn: unknown cell '%s' (rnn, gru, lstm)\n", argv[2]);
    return 2;
  }
  if (steps < 1 || H < 1) {
    fprintf (stderr, "usage: bench-nn [STEPS [CELL [HIDDEN]]]\n");
    return 2;
  }

  ar_rng_init (&rng, 42);
  ne[0] = D;
  ne[1] = V;
  E = ar_param_new ("tok_embd.weight", 2, ne);
  ne[0] = H;
  Wo = ar_param_new ("output.weight", 2, ne);
  ne[0] = V;
  bo = ar_param_new ("output.bias", 1, ne);
  rnn = ar_recurrent_new (cell, D, H, "blk.0", T, B);
  ar_param_init_normal (E, &rng, 1.0f);
  ar_recurrent_init (rnn, &rng);
  ar_param_init_uniform (Wo, &rng, 1.0f / sqrtf ((float) H));
  ar_param_init_uniform (bo, &rng, 1.0f / sqrtf ((float) H));
  params = g_ptr_array_new ();
  g_ptr_array_add (params, E);
  ar_recurrent_add_params (rnn, params);
  g_ptr_array_add (params, Wo);
  g_ptr_array_add (params, bo);

  /* N + 1 ids: inputs are ids[0 .. N-1], targets ids[1 .. N] */
  ids = g_new (gint32, N + 1);
  for (i = 0; i < N + 1; i++)
    ids[i] = (gint32) ar_rng_below (&rng, V);
  emb = new_floats ((gsize) N * D);
  demb = new_floats ((gsize) N * D);
  hid = new_floats ((gsize) N * H);
  dhid = new_floats ((gsize) N * H);
  logits = new_floats ((gsize) N * V);

  printf ("bench-nn: embedding(%d→%d) → %s-%d → linear(%d→%d), T=%d B=%d, "
          "%" G_GSIZE_FORMAT " parameters, %u processors\n",
      V, D, ar_cell_name (cell), H, H, V, T, B, ar_params_count (params),
      g_get_num_processors ());

  /* step 0 warms up (page faults, OpenBLAS threads) and is not timed */
  for (s = 0; s <= steps; s++) {
    double t0, t1, t2, t3, t4, t5, t6, t7;

    t0 = now ();
    ar_nn_embedding_forward (E, ids, emb, N);
    t1 = now ();
    ar_recurrent_forward (rnn, emb, NULL, NULL, hid, T, B);
    t2 = now ();
    ar_nn_linear_forward (Wo, bo, hid, logits, N);
    loss = ar_nn_softmax_xent (logits, ids + 1, logits, N, V);
    t3 = now ();
    ar_params_zero_grad (params);
    ar_nn_linear_backward (Wo, bo, hid, logits, dhid, N);
    t4 = now ();
    ar_recurrent_backward (rnn, emb, dhid, demb, T, B);
    t5 = now ();
    ar_nn_embedding_backward (E, ids, demb, N);
    ar_params_clip_grad_norm (params, 1.0f);
    t6 = now ();
    ar_adamw_step (&opt, params, s + 1, 1e-3f);
    t7 = now ();
    if (s == 0)
      continue;
    t_rfwd += t2 - t1;
    t_fwd += t3 - t0;
    t_rbwd += t5 - t4;
    t_bwd += t6 - t3;
    t_opt += t7 - t6;
    best = MIN (best, t7 - t0);
  }
  total = t_fwd + t_bwd + t_opt;

  printf ("%d steps, %.1f ms/step, loss %.3f\n", steps, 1e3 * total / steps,
      loss);
  printf ("forward   %7.1f ms/step (%4.1f%%), of which %s %.1f ms\n",
      1e3 * t_fwd / steps, 100 * t_fwd / total, ar_cell_name (cell),
      1e3 * t_rfwd / steps);
  printf ("backward  %7.1f ms/step (%4.1f%%), of which %s %.1f ms (clip "
          "included)\n",
      1e3 * t_bwd / steps, 100 * t_bwd / total, ar_cell_name (cell),
      1e3 * t_rbwd / steps);
  printf ("optimiser %7.1f ms/step (%4.1f%%)\n", 1e3 * t_opt / steps,
      100 * t_opt / total);
  /* On a shared machine the fastest step is the better estimate of what the
   * code does with the processors to itself. */
  printf ("%.0f chars/s (fastest step: %.1f ms, %.0f chars/s)\n",
      (double) steps * N / total, 1e3 * best, N / best);

  g_free (ids);
  g_free (emb);
  g_free (demb);
  g_free (hid);
  g_free (dhid);
  g_free (logits);
  g_ptr_array_unref (params);
  ar_param_free (E);
  ar_param_free (Wo);
  ar_param_free (bo);
  ar_recurrent_free (rnn);
  return 0;
}
