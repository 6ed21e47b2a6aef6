/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-transformer-train.c — the Transformer training graph and task
 * (models/transformer/ar-transformer-train.h).
 *
 *   - oracle: a trainable model with random weights, written to GGUF and
 *     loaded by the inference decoder, gives the logits the training forward
 *     gives, position by position of every stream fed from an empty state,
 *     and the same teacher-forced loss — llama (grouped-query heads, partial
 *     rotary, tied classifier) and gpt (biases everywhere, learned
 *     positions) shapes, more positions than one attention block;
 *   - the whole backward pass against finite differences of the loss, for
 *     every parameter of a small model of each architecture (every element
 *     of the small ones, two dozen of the others);
 *   - threads: 1, 2 or 8 threads give the same loss, logits and
 *     gradients bit for bit, and the batch's tasks and micro-batches add up
 *     to the mean of one-stream batches;
 *   - the evaluation modes against the inference decoder window by window;
 *   - a tiny model learns a short text and then generates it greedily;
 *   - resuming through ArTrainer ends bit-identical to an uninterrupted run,
 *     with dropout;
 *   - weights load back; what the graph cannot hold is an error. */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "test-util.h"
#include "transformer/ar-transformer-train.h"
#include "text/ar-text.h"

#define ALPHABET "abcdefghij\n"

static ArTransformerConfig
llama_config (guint V)
{
  /* hs = 6, rotating 4 of 6 dimensions; 4 query heads share 2 key/value
   * heads; the classifier is the embedding */
  ArTransformerConfig c = { AR_TRANSFORMER_LLAMA, 2, 24, 40, 4, 2, 48, V, 4,
    10000.0f, 1e-5f, TRUE };
  return c;
}

static ArTransformerConfig
gpt_config (guint V)
{
  ArTransformerConfig c = { AR_TRANSFORMER_GPT, 2, 16, 48, 2, 2, 48, V, 0, 0.0f,
    1e-5f, FALSE };
  return c;
}

/* Weights far from GPT-2's small initialisation, so that every layer
 * changes the logits by a visible amount: matrices U(±0.4), vectors around
 * 1 (norm weights) or 0 (biases). */
static void
randomise (ArTransformerTrain *t, guint64 seed)
{
  GPtrArray *params = ar_transformer_train_get_params (t);
  ArRng rng;

  ar_rng_init (&rng, seed);
  for (guint i = 0; i < params->len; i++) {
    ArParam *p = g_ptr_array_index (params, i);
    float centre = g_str_has_suffix (p->name, "norm.weight") ? 1.0f : 0.0f;
    float a = p->n_dims == 2 ? 0.4f : 0.3f;

    for (gsize j = 0; j < p->n; j++)
      p->w[j] = centre + a * (2.0f * ar_rng_uniform (&rng) - 1.0f);
  }
}

static GBytes *
model_bytes (ArTransformerTrain *t, const ArVocab *vocab)
{
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();

  ar_transformer_train_write (t, w);
  if (vocab != NULL)
    ar_vocab_write_gguf (vocab, w);
  return ar_gguf_writer_to_bytes (w);
}

static void
random_ids (gint32 *ids, gsize n, guint V, guint64 seed)
{
  ArRng rng;

  ar_rng_init (&rng, seed);
  for (gsize i = 0; i < n; i++)
    ids[i] = (gint32) ar_rng_below (&rng, V);
}

/* -log softmax (l)[target], in double */
static double
nll (const float *l, guint V, gint32 target)
{
  double mx = l[0], s = 0.0;

  for (guint j = 1; j < V; j++)
    mx = MAX (mx, l[j]);
  for (guint j = 0; j < V; j++)
    s += exp (l[j] - mx);
  return log (s) + mx - l[target];
}

/* ---- the oracle --------------------------------------------------------- */

static void
test_oracle (gconstpointer data)
{
  gboolean gpt = GPOINTER_TO_INT (data);
  const guint V = 11;
  ArTransformerConfig c = gpt ? gpt_config (V) : llama_config (V);
  const int T = 40, B = 3;
  g_autoptr (GError) error = NULL;

  /* the three streams are one micro-batch, one task: one thread is used */
  g_autoptr (ArTransformerTrain) t = ar_transformer_train_new (&c, T, B, 3);
  g_assert_cmpint (ar_transformer_train_get_n_threads (t), ==, 1);
  randomise (t, 7);
  g_autoptr (GBytes) bytes = model_bytes (t, NULL);
  g_autoptr (ArGguf) gguf = ar_gguf_new_from_bytes (bytes, "oracle", &error);
  g_assert_no_error (error);
  g_autoptr (ArTransformer) inf = ar_transformer_new_from_gguf (gguf, &error);
  g_assert_no_error (error);
  const ArTransformerConfig *ic = ar_transformer_get_config (inf);
  g_assert_cmpint (ic->arch, ==, c.arch);
  g_assert_cmpint (ic->tied_output, ==, c.tied_output);
  g_assert_cmpuint (ic->n_rot, ==, c.n_rot);

  g_autofree gint32 *inputs = g_new (gint32, T * B);
  g_autofree gint32 *targets = g_new (gint32, T * B);
  g_autofree float *logits = g_new (float, (gsize) T *B *V);
  random_ids (inputs, T * B, V, 3);
  random_ids (targets, T * B, V, 4);
  ar_transformer_train_logits (t, inputs, T, B, logits);

  g_autoptr (ArTransformerState) s = ar_transformer_state_new (inf);
  double worst = 0.0, spread = 0.0, loss = 0.0;
  for (int b = 0; b < B; b++) {
    ar_transformer_state_reset (s);
    for (int i = 0; i < T; i++) {
      const float *want = ar_transformer_forward (inf, s, inputs[i * B + b]);
      const float *got = logits + ((gsize) i * B + b) * V;

      for (guint j = 0; j < V; j++) {
        worst = MAX (worst, fabs (got[j] - want[j]));
        spread = MAX (spread, fabs (want[j] - want[0]));
      }
      loss += nll (want, V, targets[i * B + b]);
    }
  }
  loss /= T * B;
  g_test_message ("largest logit difference %.3g (logits spread over %.3g)",
      worst, spread);
  /* the logits differ between positions and tokens by units, the two paths
   * by float rounding of sums of a few dozen terms */
  g_assert_cmpfloat (spread, >, 1.0);
  g_assert_cmpfloat (worst, <, 1e-4);

  float train_loss =
      ar_transformer_train_forward (t, inputs, targets, T, B, FALSE);
  g_assert_cmpfloat (fabs (train_loss - loss), <, 1e-5);
}

/* ---- gradients ---------------------------------------------------------- */

typedef struct
{
  ArTransformerTrain *t;
  const gint32 *inputs, *targets;
  int T, B;
} LossCase;

static double
graph_loss (LossCase *c)
{
  return ar_transformer_train_forward (c->t, c->inputs, c->targets, c->T, c->B,
      FALSE);
}

/* data: bit 0 gpt (else llama), bit 1 with dropout */
static void
test_grad (gconstpointer data)
{
  gboolean gpt = GPOINTER_TO_INT (data) & 1;
  gboolean dropout = GPOINTER_TO_INT (data) & 2;
  const guint V = 7;
  /* small: D = 8, 2 query heads of 4 sharing one key/value head (llama) */
  ArTransformerConfig c = gpt ? (ArTransformerConfig){ AR_TRANSFORMER_GPT, 2, 8,
    12, 2, 2, 6, V, 0, 0.0f, 1e-5f, TRUE }
                              : (ArTransformerConfig){ AR_TRANSFORMER_LLAMA, 2,
                                  8, 12, 2, 1, 6, V, 4, 100.0f, 1e-5f, FALSE };
  enum
  {
    T = 5,
    B = 3
  };
  g_autoptr (ArTransformerTrain) t = ar_transformer_train_new (&c, T, B, 2);
  gint32 inputs[T * B], targets[T * B];
  GPtrArray *params = ar_transformer_train_get_params (t);
  LossCase lc = { t, inputs, targets, T, B };
  const double eps = 2e-3, rtol = 1e-2, atol = 2e-4;

  randomise (t, 1);
  random_ids (inputs, T * B, V, 5);
  random_ids (targets, T * B, V, 6);
  /* the same masks in every forward below: the loss is a smooth function
   * of the weights for a fixed seed */
  if (dropout)
    ar_transformer_train_set_dropout (t, 0.3f, 77);
  ar_params_zero_grad (params);
  ar_transformer_train_forward (t, inputs, targets, T, B, TRUE);

  /* The step is 2e-3, not test-nn's 1e-2: with the large random weights
   * the loss is curved enough that 1e-2 steps leave truncation errors of
   * 1.5 %.  The loss is computed in float, so rounding noise of a few 1e-7
   * becomes ~1e-4 in the difference quotient: hence the absolute tolerance
   * of 2e-4 (the relative one is test-nn's 1e-2). */
  for (guint i = 0; i < params->len; i++) {
    ArParam *p = g_ptr_array_index (params, i);
    double worst = 0.0;
    /* every element of the small parameters; of the larger ones about 24,
     * an odd stride apart so they fall in different rows and columns, and
     * the last (the valgrind run pays for each of these two forwards) */
    gsize step = p->n <= 48 ? 1 : (p->n / 24) | 1, checked = 0;

    for (gsize j = 0; j < p->n;
         j = j + step < p->n || j == p->n - 1 ? j + step : p->n - 1) {
      float saved = p->w[j];
      double lp, lm, num, a = p->g[j], ratio;

      p->w[j] = saved + (float) eps;
      lp = graph_loss (&lc);
      p->w[j] = saved - (float) eps;
      lm = graph_loss (&lc);
      p->w[j] = saved;
      num = (lp - lm) /
          ((double) (saved + (float) eps) - (double) (saved - (float) eps));
      ratio = fabs (a - num) / (rtol * MAX (fabs (a), fabs (num)) + atol);
      if (!(ratio <= 1.0))
        g_error ("%s[%" G_GSIZE_FORMAT "]: analytic %.7g, finite difference "
                 "%.7g",
            p->name, j, a, num);
      worst = MAX (worst, ratio);
      checked++;
    }
    g_test_message ("%s: %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT
                    " entries, worst %.3f of tolerance",
        p->name, checked, p->n, worst);
  }
}

static void
test_threads (void)
{
  const guint V = 9;
  ArTransformerConfig c = llama_config (V);
  /* windows long enough that a micro-batch holds only a few streams
   * (AR_TRANSFORMER_MICROBATCH_ROWS / 205: 2 for 512): the 5 streams make
   * 3 tasks of 1 or 2 streams */
  const int T = 205, B = 5;
  c.n_ctx = 256;
  g_assert_cmpint (AR_TRANSFORMER_MICROBATCH_ROWS / T, <, 3);
  gsize nl = (gsize) T * B * V;
  g_autofree gint32 *inputs = g_new (gint32, T * B);
  g_autofree gint32 *targets = g_new (gint32, T * B);
  g_autofree float *ref_logits = g_new (float, nl);
  g_autofree float *logits = g_new (float, nl);
  g_autoptr (ArTransformerTrain) ref = ar_transformer_train_new (&c, T, B, 1);
  GPtrArray *pa = ar_transformer_train_get_params (ref);
  float ref_loss;

  random_ids (inputs, T * B, V, 8);
  random_ids (targets, T * B, V, 9);
  randomise (ref, 2);
  ar_params_zero_grad (pa);
  ref_loss = ar_transformer_train_forward (ref, inputs, targets, T, B, TRUE);
  ar_transformer_train_logits (ref, inputs, T, B, ref_logits);
  /* the logits are the ones the loss is computed from */
  {
    double sum = 0.0;
    for (int i = 0; i < T * B; i++)
      sum += nll (ref_logits + (gsize) i * V, V, targets[i]);
    g_assert_cmpfloat (fabs (sum / (T * B) - ref_loss), <, 1e-5);
  }

  /* any number of threads: the same numbers, bit for bit */
  for (int n_threads = 2; n_threads <= 8; n_threads += 6) {
    g_autoptr (ArTransformerTrain) t =
        ar_transformer_train_new (&c, T, B, n_threads);
    GPtrArray *pb = ar_transformer_train_get_params (t);

    g_assert_cmpint (ar_transformer_train_get_n_threads (t), ==,
        MIN (n_threads, 3));
    randomise (t, 2);
    /* gradients from an earlier step were zeroed by the trainer; whatever
     * the tasks held before must not leak in */
    ar_transformer_train_forward (t, targets, inputs, T, B, TRUE);
    ar_params_zero_grad (pb);
    float loss = ar_transformer_train_forward (t, inputs, targets, T, B, TRUE);
    g_assert_cmpfloat (loss, ==, ref_loss);
    ar_transformer_train_logits (t, inputs, T, B, logits);
    g_assert_cmpmem (logits, nl * sizeof (float), ref_logits,
        nl * sizeof (float));
    for (guint i = 0; i < pa->len; i++) {
      ArParam *x = g_ptr_array_index (pa, i), *y = g_ptr_array_index (pb, i);
      g_assert_cmpmem (x->g, x->n * sizeof (float), y->g,
          y->n * sizeof (float));
    }
  }

  /* the tasks and micro-batches add up to the batch's mean: the same as
   * the mean of one-stream batches */
  {
    g_autoptr (ArTransformerTrain) one = ar_transformer_train_new (&c, T, 1, 1);
    GPtrArray *pb = ar_transformer_train_get_params (one);
    g_autofree gint32 *in1 = g_new (gint32, T);
    g_autofree gint32 *tg1 = g_new (gint32, T);
    double loss = 0.0, worst = 0.0;

    randomise (one, 2);
    ar_params_zero_grad (pb);
    for (int b = 0; b < B; b++) {
      for (int i = 0; i < T; i++) {
        in1[i] = inputs[i * B + b];
        tg1[i] = targets[i * B + b];
      }
      loss += ar_transformer_train_forward (one, in1, tg1, T, 1, TRUE);
    }
    g_assert_cmpfloat (fabs (loss / B - ref_loss), <, 1e-6);
    for (guint i = 0; i < pa->len; i++) {
      ArParam *x = g_ptr_array_index (pa, i), *y = g_ptr_array_index (pb, i);
      double scale = 0.0;

      for (gsize j = 0; j < x->n; j++)
        scale = MAX (scale, fabs (x->g[j]));
      for (gsize j = 0; j < x->n; j++)
        worst = MAX (worst, fabs (x->g[j] - y->g[j] / B) / scale);
    }
    g_test_message ("against one-stream batches: largest gradient "
                    "difference %.3g of each parameter's largest",
        worst);
    g_assert_cmpfloat (worst, <, 1e-5);
  }
}

/* Dropout: it changes the loss, reproducibly for a seed, the same with any
 * number of threads; the logits (evaluation) never drop.  (The gradients
 * with dropout are checked by finite differences in test_grad.) */
static void
test_dropout (void)
{
  const guint V = 9;
  ArTransformerConfig c = gpt_config (V);
  const int T = 40, B = 6;
  gsize nl = (gsize) T * B * V;
  g_autofree gint32 *inputs = g_new (gint32, T * B);
  g_autofree gint32 *targets = g_new (gint32, T * B);
  g_autofree float *l0 = g_new (float, nl), *l1 = g_new (float, nl);
  g_autoptr (ArTransformerTrain) a = ar_transformer_train_new (&c, T, B, 1);
  g_autoptr (ArTransformerTrain) b = ar_transformer_train_new (&c, T, B, 2);
  GPtrArray *pa = ar_transformer_train_get_params (a);
  GPtrArray *pb = ar_transformer_train_get_params (b);

  random_ids (inputs, T * B, V, 1);
  random_ids (targets, T * B, V, 2);
  randomise (a, 3);
  randomise (b, 3);
  float plain = ar_transformer_train_forward (a, inputs, targets, T, B, FALSE);
  ar_transformer_train_logits (a, inputs, T, B, l0);

  ar_transformer_train_set_dropout (a, 0.5f, 11);
  ar_transformer_train_set_dropout (b, 0.5f, 11);
  ar_params_zero_grad (pa);
  ar_params_zero_grad (pb);
  float da = ar_transformer_train_forward (a, inputs, targets, T, B, TRUE);
  float db = ar_transformer_train_forward (b, inputs, targets, T, B, TRUE);
  g_assert_cmpfloat (da, !=, plain);
  g_assert_cmpfloat (da, ==, db);
  for (guint i = 0; i < pa->len; i++) {
    ArParam *x = g_ptr_array_index (pa, i), *y = g_ptr_array_index (pb, i);
    g_assert_cmpmem (x->g, x->n * sizeof (float), y->g, y->n * sizeof (float));
  }
  g_assert_cmpfloat (ar_transformer_train_forward (a, inputs, targets, T, B,
                         FALSE),
      ==, da);
  ar_transformer_train_set_dropout (a, 0.5f, 12);
  g_assert_cmpfloat (ar_transformer_train_forward (a, inputs, targets, T, B,
                         FALSE),
      !=, da);
  ar_transformer_train_logits (a, inputs, T, B, l1);
  g_assert_cmpmem (l0, nl * sizeof (float), l1, nl * sizeof (float));
  ar_transformer_train_set_dropout (a, 0.0f, 0);
  g_assert_cmpfloat (ar_transformer_train_forward (a, inputs, targets, T, B,
                         FALSE),
      ==, plain);
}

/* ---- evaluation -------------------------------------------------------- */

/* The loss of windows scored as the header describes, by the inference
 * decoder: window w covers targets [start, start + len) of ids, from an
 * empty state, and scores those from score_from on. */
static double
reference_window (ArTransformer *inf, ArTransformerState *s, const gint32 *ids,
    gsize start, int len, int score_from, guint64 *count)
{
  double total = 0.0;

  ar_transformer_state_reset (s);
  for (int i = 0; i < len; i++) {
    const float *l = ar_transformer_forward (inf, s, ids[start + i]);

    if (i >= score_from) {
      total +=
          nll (l, ar_transformer_get_config (inf)->n_vocab, ids[start + i + 1]);
      (*count)++;
    }
  }
  return total;
}

static void
test_evaluate (void)
{
  g_autoptr (GError) error = NULL;
  /* 60 characters, 6 held out at 0.1 */
  const char *text =
      "abcabd\njjihgfabcdeabbbbcaaajihhgf\naabcdeffedcbaabcdabcdhhg";
  g_autoptr (ArTextData) data =
      ar_text_data_new (text, strlen (text), AR_VOCAB_CHAR, 0.1, &error);
  g_assert_no_error (error);
  guint V = ar_vocab_get_size (data->vocab);
  ArTransformerConfig c = llama_config (V);
  const int T = 8, B = 3;
  g_autoptr (ArTransformerTask) task =
      ar_transformer_task_new (&c, data, T, B, 2, AR_TRANSFORMER_EVAL_WINDOWS);
  randomise (ar_transformer_task_get_net (task), 4);
  g_autoptr (GBytes) bytes =
      model_bytes (ar_transformer_task_get_net (task), NULL);
  g_autoptr (ArGguf) gguf = ar_gguf_new_from_bytes (bytes, "eval", &error);
  g_assert_no_error (error);
  g_autoptr (ArTransformer) inf = ar_transformer_new_from_gguf (gguf, &error);
  g_assert_no_error (error);
  g_autoptr (ArTransformerState) s = ar_transformer_state_new (inf);

  /* [from, to) = [3, 50): 46 targets; windows of 8: 5 full (two batches of
   * B = 3 and 2) and a tail of 6 */
  const gsize from = 3, to = 50, n_t = to - from - 1;
  const gint32 *ids = data->ids + from;
  guint64 n = 0, want_n = 0;
  double want = 0.0;
  double got = ar_transformer_task_evaluate (task, from, to,
      AR_TRANSFORMER_EVAL_WINDOWS, &n);
  for (gsize w = 0; w * T < n_t; w++)
    want += reference_window (inf, s, ids, w * T,
        (int) MIN ((gsize) T, n_t - w * T), 0, &want_n);
  g_assert_cmpuint (want_n, ==, n_t);
  g_assert_cmpuint (n, ==, n_t);
  g_assert_cmpfloat (fabs (got - want / want_n), <, 1e-5);

  /* sliding: the first window scores all 8, then windows advancing by 4
   * end at 12, 16, ..., 44, and 46 (clipped), each scoring its new targets */
  want = 0.0;
  want_n = 0;
  got = ar_transformer_task_evaluate (task, from, to,
      AR_TRANSFORMER_EVAL_SLIDING, &n);
  want += reference_window (inf, s, ids, 0, T, 0, &want_n);
  for (gsize end = T; end < n_t;) {
    gsize next = MIN (end + T / 2, n_t);

    want += reference_window (inf, s, ids, next - T, T,
        (int) (T - (next - end)), &want_n);
    end = next;
  }
  g_assert_cmpuint (want_n, ==, n_t);
  g_assert_cmpuint (n, ==, n_t);
  g_assert_cmpfloat (fabs (got - want / want_n), <, 1e-5);
  /* more context per target: on random weights no better in general, but a
   * different number */
  g_assert_cmpfloat (got, !=,
      ar_transformer_task_evaluate (task, from, to, AR_TRANSFORMER_EVAL_WINDOWS,
          NULL));

  /* fewer targets than a window: one short window, both modes */
  n = 0;
  got = ar_transformer_task_evaluate (task, 10, 15, AR_TRANSFORMER_EVAL_SLIDING,
      &n);
  want_n = 0;
  want = reference_window (inf, s, data->ids + 10, 0, 4, 0, &want_n);
  g_assert_cmpuint (n, ==, 4);
  g_assert_cmpfloat (fabs (got - want / 4), <, 1e-5);

  /* the trainer's validation is the held-out part in the task's mode */
  const ArTrainable *tr = ar_transformer_task_get_trainable (task);
  g_assert_cmpfloat (tr->evaluate (task), ==,
      ar_transformer_task_evaluate (task, data->n_train, data->n,
          AR_TRANSFORMER_EVAL_WINDOWS, NULL));
  g_assert_cmpuint (tr->units_per_step, ==, T * B);
}

/* ---- training ----------------------------------------------------------- */

#define TEXT "the cat sat on the mat. "

typedef struct
{
  ArTextData *data;
  ArTransformerTask *task;
  ArTrainer *trainer;
} Run;

static void
run_init (Run *r, guint64 steps, guint64 seed, int n_threads, float dropout)
{
  g_autoptr (GString) text = g_string_new (NULL);

  for (int i = 0; i < 40; i++)
    g_string_append (text, TEXT);
  r->data = ar_text_data_new (text->str, text->len, AR_VOCAB_CHAR, 0.1, NULL);
  g_assert_nonnull (r->data);
  ArTransformerConfig c = { AR_TRANSFORMER_LLAMA, 2, 32, 64, 2, 2, 32,
    ar_vocab_get_size (r->data->vocab), 16, 10000.0f, 1e-5f, FALSE };
  r->task = ar_transformer_task_new (&c, r->data, 32, 8, n_threads,
      AR_TRANSFORMER_EVAL_WINDOWS);
  ArRng rng;
  ar_rng_init (&rng, seed);
  ar_transformer_train_init (ar_transformer_task_get_net (r->task), &rng);
  ar_transformer_task_set_dropout (r->task, dropout);
  ArTrainOptions o = AR_TRAIN_OPTIONS_INIT;
  o.steps = steps;
  o.warmup = 10;
  o.lr = 1e-2f;
  o.eval_every = 0;
  o.checkpoint_every = 0;
  o.seed = seed;
  r->trainer =
      ar_trainer_new (ar_transformer_task_get_trainable (r->task), r->task, &o);
}

static void
run_clear (Run *r)
{
  ar_trainer_free (r->trainer);
  ar_transformer_task_free (r->task);
  ar_text_data_free (r->data);
}

static void
record_val (const ArTrainProgress *p, gpointer user_data)
{
  if (!isnan (p->val_loss))
    *(double *) user_data = p->val_loss;
}

static void
test_learns_short_text (void)
{
  g_autofree char *dir = g_dir_make_tmp ("argen-ttrain-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "cat.gguf", NULL);
  g_autoptr (GError) error = NULL;
  double val = NAN;
  Run r;

  run_init (&r, 120, 7, 2, 0.0f);
  g_assert_true (ar_trainer_run (r.trainer, NULL, record_val, &val, NULL,
      &error));
  g_assert_no_error (error);
  g_test_message ("validation after 120 steps: %.4f nats/char", val);
  /* from ln(12) = 2.5 nats at chance to nearly determined: in windows of
   * 32 characters from scratch, only the first few of each are uncertain */
  g_assert_cmpfloat (val, <, 0.3);
  g_assert_true (ar_trainer_save_model (r.trainer, path, &error));
  g_assert_no_error (error);
  run_clear (&r);

  /* generation through the text stream, which loads the "llama" family */
  g_autoptr (ArTextModel) m = ar_text_model_new_from_file (path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ar_text_model_get_architecture (m), ==, "llama");
  g_autoptr (ArTextGen) gen = ar_text_gen_new (m);
  ArSamplingParams greedy = { 0.0f, 0, 1.0f };
  ar_text_gen_set_sampling (gen, &greedy);
  ar_text_gen_reset (gen, 0);
  ar_text_gen_feed (gen, "the cat", -1);
  g_autoptr (GString) out = g_string_new (NULL);
  for (int i = 0; i < 2 * (int) strlen (TEXT); i++)
    ar_text_gen_next (gen, out);
  g_assert_cmpstr (out->str, ==, " sat on the mat. " TEXT "the cat");
  g_unlink (path);
  g_rmdir (dir);
}

static void
assert_same_params (Run *a, Run *b)
{
  test_assert_same_params (
      ar_transformer_train_get_params (ar_transformer_task_get_net (a->task)),
      ar_transformer_train_get_params (ar_transformer_task_get_net (b->task)));
}

static void
stop_at_17 (const ArTrainProgress *p, gpointer user_data)
{
  if (p->step == 17)
    *(volatile gint *) user_data = 1;
}

static void
test_resume_is_exact (void)
{
  g_autofree char *dir = g_dir_make_tmp ("argen-ttrain-XXXXXX", NULL);
  g_autofree char *ckpt = g_build_filename (dir, "run.ckpt", NULL);
  g_autoptr (GError) error = NULL;
  Run straight, first, resumed;

  run_init (&straight, 30, 3, 2, 0.1f);
  g_assert_true (ar_trainer_run (straight.trainer, NULL, NULL, NULL, NULL,
      &error));
  g_assert_no_error (error);

  /* stopped after step 17, then resumed by a trainer whose weights and seed
   * start out different */
  run_init (&first, 30, 3, 2, 0.1f);
  volatile gint stop = 0;
  g_assert_false (ar_trainer_run (first.trainer, ckpt, stop_at_17,
      (gpointer) &stop, &stop, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_CANCELLED);
  g_clear_error (&error);
  run_clear (&first);
  /* the checkpoint is a model the inference decoder loads */
  g_autoptr (ArTextModel) m = ar_text_model_new_from_file (ckpt, &error);
  g_assert_no_error (error);

  run_init (&resumed, 30, 99, 2, 0.1f);
  g_assert_true (ar_trainer_resume (resumed.trainer, ckpt, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ar_trainer_get_step (resumed.trainer), ==, 17);
  g_assert_true (ar_trainer_run (resumed.trainer, ckpt, NULL, NULL, NULL,
      &error));
  g_assert_no_error (error);
  assert_same_params (&straight, &resumed);
  run_clear (&straight);
  run_clear (&resumed);
  g_unlink (ckpt);
  g_rmdir (dir);
}

/* ---- loading ------------------------------------------------------------ */

static void
test_load_weights (void)
{
  g_autoptr (GError) error = NULL;
  const guint V = 5;
  ArTransformerConfig c = gpt_config (V);
  g_autoptr (ArTransformerTrain) a = ar_transformer_train_new (&c, 4, 1, 1);
  g_autoptr (ArTransformerTrain) b = ar_transformer_train_new (&c, 4, 1, 1);

  /* a gpt file: every parameter comes back */
  randomise (a, 1);
  {
    g_autoptr (GBytes) bytes = model_bytes (a, NULL);
    g_autoptr (ArGguf) gguf = ar_gguf_new_from_bytes (bytes, "a", &error);
    g_assert_no_error (error);
    g_assert_null (ar_gguf_find_tensor (gguf, "blk.0.ffn_gate.weight"));
    g_assert_nonnull (ar_gguf_find_tensor (gguf, "output.weight"));
    g_assert_true (ar_transformer_train_load_weights (b, gguf, &error));
    g_assert_no_error (error);
    GPtrArray *pa = ar_transformer_train_get_params (a);
    GPtrArray *pb = ar_transformer_train_get_params (b);
    for (guint i = 0; i < pa->len; i++) {
      ArParam *x = g_ptr_array_index (pa, i), *y = g_ptr_array_index (pb, i);
      g_assert_cmpstr (x->name, ==, y->name);
      g_assert_cmpmem (x->w, x->n * 4, y->w, y->n * 4);
    }
  }

  /* a gpt file without its optional biases: they load as zeros */
  {
    g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
    GPtrArray *pa = ar_transformer_train_get_params (a);
    ar_transformer_config_write (&c, w);
    for (guint i = 0; i < pa->len; i++) {
      ArParam *p = g_ptr_array_index (pa, i);
      if (!g_str_has_suffix (p->name, "attn_k.bias"))
        ar_gguf_writer_add_tensor_f32 (w, p->name, AR_TENSOR_F32, p->n_dims,
            p->ne, p->w);
    }
    g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
    g_autoptr (ArGguf) gguf = ar_gguf_new_from_bytes (bytes, "nobias", &error);
    g_assert_true (ar_transformer_train_load_weights (b, gguf, &error));
    g_assert_no_error (error);
    GPtrArray *pb = ar_transformer_train_get_params (b);
    for (guint i = 0; i < pb->len; i++) {
      ArParam *p = g_ptr_array_index (pb, i);
      if (g_str_has_suffix (p->name, "attn_k.bias"))
        for (gsize j = 0; j < p->n; j++)
          g_assert_cmpfloat (p->w[j], ==, 0.0f);
    }
  }

  /* a llama file with a bias the llama graph cannot hold; a missing
   * tensor */
  {
    ArTransformerConfig lc = llama_config (V);
    g_autoptr (ArTransformerTrain) l = ar_transformer_train_new (&lc, 4, 1, 1);
    g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
    ar_transformer_train_write (l, w);
    const guint64 ne[1] = { 24 };
    float zeros[24] = { 0 };
    ar_gguf_writer_add_tensor_f32 (w, "blk.1.attn_q.bias", AR_TENSOR_F32, 1, ne,
        zeros);
    g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
    g_autoptr (ArGguf) gguf = ar_gguf_new_from_bytes (bytes, "bias", &error);
    g_assert_false (ar_transformer_train_load_weights (l, gguf, &error));
    g_assert_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED);
    g_assert_nonnull (strstr (error->message, "blk.1.attn_q.bias"));
    g_clear_error (&error);

    g_autoptr (GBytes) gpt_bytes = model_bytes (a, NULL);
    g_autoptr (ArGguf) gpt_gguf =
        ar_gguf_new_from_bytes (gpt_bytes, "gpt", &error);
    g_assert_false (ar_transformer_train_load_weights (l, gpt_gguf, &error));
    g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
    g_test_message ("%s", error->message);
    g_assert_nonnull (strstr (error->message, "token_embd.weight"));
  }
}

static void
test_check (void)
{
  g_autoptr (GError) error = NULL;
  ArTransformerConfig c = llama_config (10);

  g_assert_true (ar_transformer_train_check (&c, 48, 4, &error));
  g_assert_false (ar_transformer_train_check (&c, 49, 4, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "48"));
  g_clear_error (&error);
  c.n_head_kv = 3;
  g_assert_false (ar_transformer_train_check (&c, 8, 4, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
  g_clear_error (&error);
  c = llama_config (10);
  c.n_ctx = 1 << 20;
  g_assert_false (ar_transformer_train_check (&c, 1 << 20, 1024, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED);
}

/* GPT-2's initialisation: N(0, 0.02), residual projections scaled by
 * 1 / sqrt (2 L), norm weights 1, biases 0. */
static void
test_init (void)
{
  ArTransformerConfig c = gpt_config (13);
  c.n_embd = 64;
  c.n_ff = 256;
  g_autoptr (ArTransformerTrain) t = ar_transformer_train_new (&c, 4, 1, 1);
  GPtrArray *params = ar_transformer_train_get_params (t);
  ArRng rng;

  ar_rng_init (&rng, 1);
  ar_transformer_train_init (t, &rng);
  for (guint i = 0; i < params->len; i++) {
    ArParam *p = g_ptr_array_index (params, i);
    double ss = 0.0;

    for (gsize j = 0; j < p->n; j++)
      ss += (double) p->w[j] * p->w[j];
    if (p->n_dims == 1) {
      float want = g_str_has_suffix (p->name, "norm.weight") ? 1.0f : 0.0f;
      for (gsize j = 0; j < p->n; j++)
        g_assert_cmpfloat (p->w[j], ==, want);
      continue;
    }
    double std = sqrt (ss / p->n);
    double want =
        strstr (p->name, "attn_output") || strstr (p->name, "ffn_down")
        ? 0.02 / sqrt (4.0)
        : 0.02;
    /* at least 832 draws: the sample deviation is within 10 % */
    g_assert_cmpfloat (fabs (std - want), <, 0.1 * want);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/transformer-train/oracle/llama",
      GINT_TO_POINTER (FALSE), test_oracle);
  g_test_add_data_func ("/transformer-train/oracle/gpt", GINT_TO_POINTER (TRUE),
      test_oracle);
  g_test_add_data_func ("/transformer-train/grad/llama", GINT_TO_POINTER (0),
      test_grad);
  g_test_add_data_func ("/transformer-train/grad/gpt", GINT_TO_POINTER (1),
      test_grad);
  g_test_add_data_func ("/transformer-train/grad/llama-dropout",
      GINT_TO_POINTER (2), test_grad);
  g_test_add_data_func ("/transformer-train/grad/gpt-dropout",
      GINT_TO_POINTER (3), test_grad);
  g_test_add_func ("/transformer-train/dropout", test_dropout);
  g_test_add_func ("/transformer-train/threads", test_threads);
  g_test_add_func ("/transformer-train/evaluate", test_evaluate);
  g_test_add_func ("/transformer-train/check", test_check);
  g_test_add_func ("/transformer-train/init", test_init);
  g_test_add_func ("/transformer-train/load-weights", test_load_weights);
  g_test_add_func ("/transformer-train/learns-short-text",
      test_learns_short_text);
  g_test_add_func ("/transformer-train/resume-is-exact", test_resume_is_exact);
  return g_test_run ();
}
