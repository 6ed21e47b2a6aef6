/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-nar-train.c — the non-autoregressive model's training task: masked
 * slots after a random-length context, through the bidirectional Transformer
 * training graph, and its held-out validation (see ar-nar-train.h). */
#include "ar-nar-train.h"

#include <math.h>
#include <string.h>

/* new_floats (n), spelled as a function so that clang-format reads the size
 * as an expression */
static float *
new_floats (gsize n)
{
  return g_new (float, n);
}

struct _ArNarTask
{
  ArTrainable trainable;
  ArTransformerTrain *net;
  const ArTextData *data;
  int C, N, B;     /* context length, slots, windows per step */
  int V;           /* text tokens; the mask token is V */
  float dropout;   /* of the training steps */
  gint32 *inputs;  /* (C, B) */
  gint32 *targets; /* (C, B) */
  float *logits;   /* (C, B, V + 1), validation */
  int *perm;       /* (N) slot indices, for drawing the masked ones */
};

gboolean
ar_nar_task_check (const ArTransformerConfig *config, const ArTextData *data,
    int slots, int B, GError **error)
{
  g_return_val_if_fail (config != NULL && data != NULL, FALSE);
  guint V = ar_vocab_get_size (data->vocab);

  if (!config->bidirectional || config->arch != AR_TRANSFORMER_LLAMA) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "a non-autoregressive model is a bidirectional llama-shape "
        "Transformer");
    return FALSE;
  }
  if (config->n_vocab != V + 1) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "a vocabulary of %u tokens for %u text tokens; expected %u (the "
        "text and the mask token)",
        config->n_vocab, V, V + 1);
    return FALSE;
  }
  if (slots < 1 || (guint) slots >= config->n_ctx) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "%d slots; expected 1 to the context length - 1 (%u)", slots,
        config->n_ctx - 1);
    return FALSE;
  }
  if (data->n_train <= config->n_ctx) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "%" G_GSIZE_FORMAT " training tokens; windows of the context length "
        "%u need more",
        data->n_train, config->n_ctx);
    return FALSE;
  }
  return ar_transformer_train_check (config, (int) config->n_ctx, B, error);
}

int
ar_nar_task_sample (ArNarTask *task, ArRng *rng, gint32 *inputs,
    gint32 *targets)
{
  g_return_val_if_fail (task != NULL && rng != NULL, 0);
  g_return_val_if_fail (inputs != NULL && targets != NULL, 0);
  const ArTextData *d = task->data;
  int N = task->N, B = task->B;
  int c = 1 + (int) ar_rng_below (rng, task->C - N), T = c + N;

  for (int b = 0; b < B; b++) {
    gsize start = ar_rng_below (rng, d->n_train - T + 1);
    int m = 1 + (int) ar_rng_below (rng, N);

    for (int t = 0; t < T; t++) {
      inputs[t * B + b] = d->ids[start + t];
      targets[t * B + b] = -1;
    }
    /* m distinct slots: the first m of a partial Fisher-Yates shuffle */
    for (int j = 0; j < N; j++)
      task->perm[j] = j;
    for (int j = 0; j < m; j++) {
      int k = j + (int) ar_rng_below (rng, N - j), s = task->perm[k];
      gsize at = (gsize) (c + s) * B + b;

      task->perm[k] = task->perm[j];
      task->perm[j] = s;
      targets[at] = inputs[at];
      inputs[at] = task->V;
    }
  }
  return T;
}

static float
task_step (gpointer self, ArRng *rng)
{
  ArNarTask *task = self;
  int T = ar_nar_task_sample (task, rng, task->inputs, task->targets);
  float loss;

  if (task->dropout == 0.0f)
    return ar_transformer_train_forward (task->net, task->inputs, task->targets,
        T, task->B, TRUE);
  /* the masks' seed from the trainer's stream, so that a resumed run drops
   * what the uninterrupted one would have */
  ar_transformer_train_set_dropout (task->net, task->dropout,
      ar_rng_next_u64 (rng));
  loss = ar_transformer_train_forward (task->net, task->inputs, task->targets,
      T, task->B, TRUE);
  ar_transformer_train_set_dropout (task->net, 0.0f, 0);
  return loss;
}

/* -log of token @target's probability among the first V logits of @l. */
static double
nll (const float *l, int V, int target)
{
  float mx = l[0];
  double s = 0.0;

  for (int j = 1; j < V; j++)
    mx = MAX (mx, l[j]);
  for (int j = 0; j < V; j++)
    s += exp ((double) l[j] - mx);
  return log (s) + mx - l[target];
}

double
ar_nar_task_evaluate (ArNarTask *task, guint64 *n_scored)
{
  g_return_val_if_fail (task != NULL, NAN);
  const ArTextData *d = task->data;
  const gint32 *ids = d->ids;
  int N = task->N, B = task->B, W = task->V + 1;
  int c = (int) MIN ((gsize) (task->C - N), d->n_train), T = c + N;
  gsize p = d->n_train, scored_to = d->n_train;
  g_autofree gsize *starts = g_new (gsize, B);
  double total = 0.0;
  guint64 count = 0;

  if (n_scored != NULL)
    *n_scored = 0;
  if (d->n < d->n_train + N)
    return NAN;
  while (p < d->n) {
    int nw = 0;

    /* up to B windows whose slots start at p, p + N, ...; the last one
     * ends at the end of the text */
    while (nw < B && p < d->n) {
      gsize s = MIN (p, d->n - N);

      starts[nw++] = s;
      p = s + N;
    }
    for (int b = 0; b < nw; b++)
      for (int t = 0; t < T; t++)
        task->inputs[t * nw + b] =
            t < c ? ids[starts[b] - c + t] : (gint32) task->V;
    ar_transformer_train_logits (task->net, task->inputs, T, nw, task->logits);
    for (int b = 0; b < nw; b++) {
      for (int j = 0; j < N; j++) {
        gsize at = starts[b] + j;

        if (at < scored_to)
          continue; /* the last window's overlap with the one before */
        total += nll (task->logits + ((gsize) (c + j) * nw + b) * W, task->V,
            ids[at]);
        count++;
      }
      scored_to = starts[b] + N;
    }
  }
  if (n_scored != NULL)
    *n_scored = count;
  return total / count;
}

static double
task_evaluate (gpointer self)
{
  return ar_nar_task_evaluate (self, NULL);
}

void
ar_nar_task_write_model (ArNarTask *task, ArGgufWriter *w)
{
  g_return_if_fail (task != NULL && w != NULL);

  ar_transformer_train_write (task->net, w);
  ar_gguf_writer_set_u32 (w, "nar.mask_token_id", (guint32) task->V);
  ar_gguf_writer_set_u32 (w, "nar.slots", (guint32) task->N);
  ar_vocab_write_gguf (task->data->vocab, w);
}

static void
task_write_model (gpointer self, ArGgufWriter *w)
{
  ar_nar_task_write_model (self, w);
}

ArNarTask *
ar_nar_task_new (const ArTransformerConfig *config, const ArTextData *data,
    int slots, int B, int n_threads)
{
  g_return_val_if_fail (ar_nar_task_check (config, data, slots, B, NULL), NULL);
  ArNarTask *task = g_new0 (ArNarTask, 1);
  int C = (int) config->n_ctx;

  task->net = ar_transformer_train_new (config, C, B, n_threads);
  task->data = data;
  task->C = C;
  task->N = slots;
  task->B = B;
  task->V = (int) config->n_vocab - 1;
  task->inputs = g_new (gint32, (gsize) C * B);
  task->targets = g_new (gint32, (gsize) C * B);
  task->logits = new_floats ((gsize) C * B * config->n_vocab);
  task->perm = g_new (int, slots);
  task->trainable = (ArTrainable){
    .unit = ar_vocab_get_type (data->vocab) == AR_VOCAB_BYTE ? "nats/byte"
                                                             : "nats/char",
    .units_per_s_name = "positions/s",
    /* the mean window: c averages (C - N + 1) / 2 */
    .units_per_step = (guint64) B * ((C - slots + 1) / 2 + slots),
    .params = ar_transformer_train_get_params (task->net),
    .step = task_step,
    .evaluate = task_evaluate,
    .write_model = task_write_model,
  };
  return task;
}

void
ar_nar_task_free (ArNarTask *task)
{
  if (task == NULL)
    return;
  ar_transformer_train_free (task->net);
  g_free (task->inputs);
  g_free (task->targets);
  g_free (task->logits);
  g_free (task->perm);
  g_free (task);
}

const ArTrainable *
ar_nar_task_get_trainable (ArNarTask *task)
{
  g_return_val_if_fail (task != NULL, NULL);
  return &task->trainable;
}

void
ar_nar_task_set_dropout (ArNarTask *task, float p)
{
  g_return_if_fail (task != NULL && p >= 0.0f && p < 1.0f);
  task->dropout = p;
}

ArTransformerTrain *
ar_nar_task_get_net (ArNarTask *task)
{
  g_return_val_if_fail (task != NULL, NULL);
  return task->net;
}
