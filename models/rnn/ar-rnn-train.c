/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-rnn-train.c — the RNN text family's training graph: embedding →
 * recurrent layers → linear → softmax cross-entropy, forward and backward over
 * (T, B) batches, with every activation buffer allocated once. */
#include "ar-rnn.h"

#include <math.h>
#include <string.h>

struct _ArRnnTrain
{
  ArRnnConfig config;
  int max_T, max_B;
  ArParam *embd;                /* (V, E) */
  ArRecurrent **layers;         /* (n_layers) */
  ArParam *out_w;               /* (V, H) */
  ArParam *out_b;               /* (V) */
  GPtrArray *params;

  float *x0;                    /* (T*B, E) embedded inputs */
  float **ys;                   /* (n_layers) × (T*B, H) layer outputs */
  float *logits;                /* (T*B, V), then their gradient */
  float *dh_a, *dh_b;           /* (T*B, H) gradients flowing down the stack */
  float *dx0;                   /* (T*B, E) */
  float *carry_h, *carry_c;     /* (n_layers, B, H) states carried between calls */
  gboolean carry, have_carry;
};

ArRnnTrain *
ar_rnn_train_new (const ArRnnConfig *config, int max_T, int max_B)
{
  g_return_val_if_fail (ar_rnn_config_check (config, NULL), NULL);
  g_return_val_if_fail (max_T > 0 && max_B > 0, NULL);
  const ArRnnConfig *c = config;
  ArRnnTrain *t = g_new0 (ArRnnTrain, 1);
  t->config = *config;
  t->max_T = max_T;
  t->max_B = max_B;
  t->params = g_ptr_array_new ();

  const guint64 ne_embd[2] = { c->n_embd, c->n_vocab };
  t->embd = ar_param_new ("token_embd.weight", 2, ne_embd);
  t->embd->decay = FALSE;       /* as PyTorch users usually configure embeddings */
  g_ptr_array_add (t->params, t->embd);
  t->layers = g_new0 (ArRecurrent *, c->n_layers);
  for (guint l = 0; l < c->n_layers; l++) {
    char prefix[32];
    g_snprintf (prefix, sizeof prefix, "blk.%u", l);
    t->layers[l] = ar_recurrent_new (c->cell, l == 0 ? c->n_embd : c->n_hidden,
        c->n_hidden, prefix, max_T, max_B);
    ar_recurrent_add_params (t->layers[l], t->params);
  }
  const guint64 ne_out[2] = { c->n_hidden, c->n_vocab }, ne_b[1] = { c->n_vocab };
  t->out_w = ar_param_new ("output.weight", 2, ne_out);
  t->out_b = ar_param_new ("output.bias", 1, ne_b);
  g_ptr_array_add (t->params, t->out_w);
  g_ptr_array_add (t->params, t->out_b);

  gsize N = (gsize) max_T * max_B;
  t->x0 = g_new (float, N * c->n_embd);
  t->ys = g_new0 (float *, c->n_layers);
  for (guint l = 0; l < c->n_layers; l++)
    t->ys[l] = g_new (float, N * c->n_hidden);
  t->logits = g_new (float, N * c->n_vocab);
  t->dh_a = g_new (float, N * c->n_hidden);
  t->dh_b = g_new (float, N * c->n_hidden);
  t->dx0 = g_new (float, N * c->n_embd);
  t->carry_h = g_new0 (float, (gsize) c->n_layers * max_B * c->n_hidden);
  t->carry_c = g_new0 (float, (gsize) c->n_layers * max_B * c->n_hidden);
  return t;
}

void
ar_rnn_train_free (ArRnnTrain *t)
{
  if (t == NULL)
    return;
  ar_param_free (t->embd);
  for (guint l = 0; l < t->config.n_layers; l++) {
    ar_recurrent_free (t->layers[l]);
    g_free (t->ys[l]);
  }
  g_free (t->layers);
  g_free (t->ys);
  ar_param_free (t->out_w);
  ar_param_free (t->out_b);
  g_ptr_array_unref (t->params);
  g_free (t->x0);
  g_free (t->logits);
  g_free (t->dh_a);
  g_free (t->dh_b);
  g_free (t->dx0);
  g_free (t->carry_h);
  g_free (t->carry_c);
  g_free (t);
}

void
ar_rnn_train_init (ArRnnTrain *t, ArRng *rng)
{
  /* PyTorch's defaults: nn.Embedding N(0, 1); nn.GRU/LSTM/RNN and nn.Linear
   * U(±1/sqrt(fan_in)). */
  ar_param_init_normal (t->embd, rng, 1.0f);
  for (guint l = 0; l < t->config.n_layers; l++)
    ar_recurrent_init (t->layers[l], rng);
  float bound = 1.0f / sqrtf ((float) t->config.n_hidden);
  ar_param_init_uniform (t->out_w, rng, bound);
  ar_param_init_uniform (t->out_b, rng, bound);
}

GPtrArray *
ar_rnn_train_get_params (ArRnnTrain *t)
{
  return t->params;
}

const ArRnnConfig *
ar_rnn_train_get_config (const ArRnnTrain *t)
{
  return &t->config;
}

void
ar_rnn_train_set_carry (ArRnnTrain *t, gboolean carry)
{
  t->carry = carry;
  t->have_carry = FALSE;
}

float
ar_rnn_train_forward (ArRnnTrain *t, const gint32 *inputs, const gint32 *targets,
    int T, int B, gboolean backward)
{
  const ArRnnConfig *c = &t->config;
  g_return_val_if_fail (T > 0 && T <= t->max_T && B > 0 && B <= t->max_B, NAN);
  int N = T * B;
  gsize BH = (gsize) B * c->n_hidden;
  gboolean lstm = c->cell == AR_CELL_LSTM;

  ar_nn_embedding_forward (t->embd, inputs, t->x0, N);
  const float *x = t->x0;
  for (guint l = 0; l < c->n_layers; l++) {
    const float *h0 = NULL, *c0 = NULL;
    if (t->carry && t->have_carry) {
      h0 = t->carry_h + l * BH;
      c0 = lstm ? t->carry_c + l * BH : NULL;
    }
    ar_recurrent_forward (t->layers[l], x, h0, c0, t->ys[l], T, B);
    if (t->carry) {
      memcpy (t->carry_h + l * BH, ar_recurrent_final_h (t->layers[l]), BH * sizeof (float));
      if (lstm)
        memcpy (t->carry_c + l * BH, ar_recurrent_final_c (t->layers[l]), BH * sizeof (float));
    }
    x = t->ys[l];
  }
  t->have_carry = t->carry;
  ar_nn_linear_forward (t->out_w, t->out_b, x, t->logits, N);
  float loss = ar_nn_softmax_xent (t->logits, targets, backward ? t->logits : NULL, N,
      c->n_vocab);
  if (!backward)
    return loss;

  float *dy = t->dh_a, *dx = t->dh_b;
  ar_nn_linear_backward (t->out_w, t->out_b, x, t->logits, dy, N);
  for (int l = (int) c->n_layers - 1; l >= 0; l--) {
    const float *xin = l == 0 ? t->x0 : t->ys[l - 1];
    float *dxin = l == 0 ? t->dx0 : dx;
    ar_recurrent_backward (t->layers[l], xin, dy, dxin, T, B);
    float *tmp = dy;
    dy = dx;
    dx = tmp;
  }
  ar_nn_embedding_backward (t->embd, inputs, t->dx0, N);
  return loss;
}

void
ar_rnn_train_write (ArRnnTrain *t, ArGgufWriter *w)
{
  const ArRnnConfig *c = &t->config;
  ar_gguf_writer_set_string (w, "general.architecture", "rnn");
  ar_gguf_writer_set_string (w, "rnn.cell", ar_cell_name (c->cell));
  ar_gguf_writer_set_u32 (w, "rnn.block_count", c->n_layers);
  ar_gguf_writer_set_u32 (w, "rnn.embedding_length", c->n_embd);
  ar_gguf_writer_set_u32 (w, "rnn.hidden_size", c->n_hidden);
  for (guint i = 0; i < t->params->len; i++) {
    ArParam *p = g_ptr_array_index (t->params, i);
    ar_gguf_writer_add_tensor_f32 (w, p->name, AR_TENSOR_F32, p->n_dims, p->ne, p->w);
  }
}

gboolean
ar_rnn_train_load_weights (ArRnnTrain *t, const ArGguf *gguf, GError **error)
{
  for (guint i = 0; i < t->params->len; i++) {
    ArParam *p = g_ptr_array_index (t->params, i);
    const ArGgufTensor *tensor = ar_gguf_require_tensor (gguf, p->name, p->n_dims, p->ne, error);
    if (tensor == NULL)
      return FALSE;
    ar_gguf_tensor_to_f32 (tensor, p->w);
  }
  return TRUE;
}

/* ---- the training task ------------------------------------------------ */

struct _ArRnnTask
{
  ArTrainable trainable;
  ArRnnTrain *net;
  const ArTextData *data;
  int T, B, eval_window;
  gint32 *inputs, *targets;     /* (T, B) */
};

static float
task_step (gpointer self, ArRng *rng)
{
  ArRnnTask *task = self;
  ar_text_data_sample (task->data, rng, task->T, task->B, task->inputs, task->targets);
  return ar_rnn_train_forward (task->net, task->inputs, task->targets, task->T, task->B, TRUE);
}

/* Without this, a text too short for one window left the batch unwritten
 * (ar_text_data_sample () refuses) and training ran on garbage ids. */
static gboolean
task_check (gpointer self, GError **error)
{
  ArRnnTask *task = self;
  return ar_text_data_check_window (task->data, task->T, error);
}

static double
task_evaluate (gpointer self)
{
  ArRnnTask *task = self;
  if (task->data->n - task->data->n_train < 2)
    return NAN;
  return ar_rnn_task_evaluate (task, task->data->n_train, task->data->n, task->eval_window,
      NULL);
}

static void
task_write_model (gpointer self, ArGgufWriter *w)
{
  ArRnnTask *task = self;
  ar_rnn_train_write (task->net, w);
  ar_vocab_write_gguf (task->data->vocab, w);
}

ArRnnTask *
ar_rnn_task_new (const ArRnnConfig *config, const ArTextData *data, int T, int B,
    int eval_window)
{
  g_return_val_if_fail (config->n_vocab == ar_vocab_get_size (data->vocab), NULL);
  ArRnnTask *task = g_new0 (ArRnnTask, 1);
  task->net = ar_rnn_train_new (config, MAX (T, eval_window), B);
  task->data = data;
  task->T = T;
  task->B = B;
  task->eval_window = eval_window;
  task->inputs = g_new (gint32, (gsize) MAX (T, eval_window) * B);
  task->targets = g_new (gint32, (gsize) MAX (T, eval_window) * B);
  task->trainable = (ArTrainable) {
    .unit = "nats/char",
    .units_per_s_name = "chars/s",
    .units_per_step = (guint64) T * B,
    .params = ar_rnn_train_get_params (task->net),
    .step = task_step,
    .evaluate = task_evaluate,
    .write_model = task_write_model,
    .check = task_check,
  };
  /* as ar_vocab's tokens are: bytes, not characters (the loss and the
   * rate alike) */
  if (ar_vocab_get_type (data->vocab) == AR_VOCAB_BYTE) {
    task->trainable.unit = "nats/byte";
    task->trainable.units_per_s_name = "bytes/s";
  }
  return task;
}

void
ar_rnn_task_free (ArRnnTask *task)
{
  if (task == NULL)
    return;
  ar_rnn_train_free (task->net);
  g_free (task->inputs);
  g_free (task->targets);
  g_free (task);
}

const ArTrainable *
ar_rnn_task_get_trainable (ArRnnTask *task)
{
  return &task->trainable;
}

ArRnnTrain *
ar_rnn_task_get_net (ArRnnTask *task)
{
  return task->net;
}

double
ar_rnn_task_evaluate (ArRnnTask *task, gsize from, gsize to, int eval_window,
    guint64 *n_predicted)
{
  const gint32 *ids = task->data->ids;
  ArRnnTrain *net = task->net;
  int B = task->B;
  double total = 0;
  guint64 count = 0;
  g_return_val_if_fail (from < to && to <= task->data->n, NAN);
  gsize n_targets = to - from - 1;

  if (eval_window > 0) {
    /* windows of eval_window targets, each from a zero state, B at a time;
     * the tail is one shorter window */
    int W = MIN (eval_window, net->max_T);
    gsize n_windows = n_targets / W;
    ar_rnn_train_set_carry (net, FALSE);
    for (gsize w0 = 0; w0 < n_windows; w0 += B) {
      int nb = (int) MIN ((gsize) B, n_windows - w0);
      for (int b = 0; b < nb; b++)
        for (int t = 0; t < W; t++) {
          gsize pos = from + (w0 + b) * W + t;
          task->inputs[t * nb + b] = ids[pos];
          task->targets[t * nb + b] = ids[pos + 1];
        }
      total += (double) ar_rnn_train_forward (net, task->inputs, task->targets, W, nb, FALSE)
          * W * nb;
      count += (guint64) W * nb;
    }
    int tail = (int) (n_targets - n_windows * W);
    if (tail > 0) {
      gsize start = from + n_windows * W;
      for (int t = 0; t < tail; t++) {
        task->inputs[t] = ids[start + t];
        task->targets[t] = ids[start + t + 1];
      }
      total += (double) ar_rnn_train_forward (net, task->inputs, task->targets, tail, 1, FALSE)
          * tail;
      count += tail;
    }
  } else {
    /* B contiguous streams, their states carried from chunk to chunk; the
     * fewer than B targets left over are not scored */
    gsize L = n_targets / B;
    int T = net->max_T;
    ar_rnn_train_set_carry (net, TRUE);
    for (gsize t0 = 0; t0 < L; t0 += T) {
      int nt = (int) MIN ((gsize) T, L - t0);
      for (int b = 0; b < B; b++)
        for (int t = 0; t < nt; t++) {
          gsize pos = from + b * L + t0 + t;
          task->inputs[t * B + b] = ids[pos];
          task->targets[t * B + b] = ids[pos + 1];
        }
      total += (double) ar_rnn_train_forward (net, task->inputs, task->targets, nt, B, FALSE)
          * nt * B;
      count += (guint64) nt * B;
    }
    ar_rnn_train_set_carry (net, FALSE);
  }
  if (n_predicted)
    *n_predicted = count;
  return count ? total / count : NAN;
}
