/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-rnn.c — the RNN text family: single-token inference equals the
 * training graph's full forward (the oracle tying the fast path to the
 * obviously-correct one), reduced-precision files, and every loader error. */
#include <math.h>
#include <string.h>
#include "test-util.h"

#define ALPHABET "abcdefgh ij\n"

/* Rewrites @src: keys copied then @key (if not NULL) set to string @value,
 * tensors copied except @drop; @poison gets a NaN; @as stores everything
 * in that type. */
static GBytes *
rewrite (GBytes *src, const char *key, const char *value, const char *drop,
    const char *poison, ArTensorType as)
{
  g_autoptr (ArGguf) g = ar_gguf_new_from_bytes (src, "src", NULL);
  g_assert_nonnull (g);
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  ar_gguf_writer_copy_kv (w, g);
  if (key)
    ar_gguf_writer_set_string (w, key, value);
  for (guint i = 0; i < ar_gguf_get_n_tensors (g); i++) {
    const ArGgufTensor *t = ar_gguf_get_tensor (g, i);
    if (drop && strcmp (t->name, drop) == 0)
      continue;
    g_autofree float *data = g_new (float, t->n_elements);
    ar_gguf_tensor_to_f32 (t, data);
    if (poison && strcmp (t->name, poison) == 0)
      data[t->n_elements / 2] = NAN;
    gboolean quantised = as == AR_TENSOR_Q8_0 || as == AR_TENSOR_Q4_0;
    ArTensorType type = quantised && t->ne[0] % 32 ? AR_TENSOR_F16 : as;
    ar_gguf_writer_add_tensor_f32 (w, t->name, type, t->n_dims, t->ne, data);
  }
  return ar_gguf_writer_to_bytes (w);
}

/* Mean cross-entropy of a token sequence through ar_rnn_step. */
static double
stepwise_loss (const ArRnn *rnn, const gint32 *ids, int T)
{
  g_autoptr (ArRnnState) s = ar_rnn_state_new (rnn);
  guint V = ar_rnn_get_config (rnn)->n_vocab;
  g_autofree float *p = g_new (float, V);
  double total = 0;
  for (int t = 0; t < T; t++) {
    const float *logits = ar_rnn_step (rnn, s, ids[t]);
    memcpy (p, logits, V * sizeof (float));
    double mx = -INFINITY, sum = 0;
    for (guint v = 0; v < V; v++)
      mx = MAX (mx, p[v]);
    for (guint v = 0; v < V; v++)
      sum += exp (p[v] - mx);
    total += -(p[ids[t + 1]] - mx - log (sum));
  }
  return total / T;
}

static void
test_step_equals_training_forward (gconstpointer data)
{
  ArCellType cell = GPOINTER_TO_INT (data);
  g_autoptr (GBytes) bytes = test_make_rnn_bytes (cell, 2, 8, 24, ALPHABET, 11);
  g_autoptr (GError) error = NULL;
  g_autoptr (ArGguf) g = ar_gguf_new_from_bytes (bytes, "model", &error);
  g_assert_no_error (error);
  g_autoptr (ArRnn) rnn = ar_rnn_new_from_gguf (g, &error);
  g_assert_no_error (error);
  const ArRnnConfig *c = ar_rnn_get_config (rnn);
  g_assert_cmpuint (c->n_layers, ==, 2);
  g_assert_cmpuint (c->n_vocab, ==, strlen (ALPHABET));

  enum { T = 40 };
  gint32 ids[T + 1];
  ArRng rng;
  ar_rng_init (&rng, 5);
  for (int t = 0; t <= T; t++)
    ids[t] = ar_rng_below (&rng, c->n_vocab);

  g_autoptr (ArRnnTrain) net = ar_rnn_train_new (c, T, 1);
  g_assert_true (ar_rnn_train_load_weights (net, g, &error));
  g_assert_no_error (error);
  double batched = ar_rnn_train_forward (net, ids, ids + 1, T, 1, FALSE);
  double stepped = stepwise_loss (rnn, ids, T);
  g_assert_cmpfloat (fabs (batched - stepped), <, 1e-5 * MAX (1.0, fabs (stepped)));
}

static void
test_reduced_precision (void)
{
  g_autoptr (GBytes) bytes = test_make_rnn_bytes (AR_CELL_GRU, 1, 32, 64, ALPHABET, 3);
  g_autoptr (ArGguf) g = ar_gguf_new_from_bytes (bytes, "f32", NULL);
  g_autoptr (ArRnn) ref = ar_rnn_new_from_gguf (g, NULL);
  g_assert_nonnull (ref);
  gint32 ids[17];
  for (int t = 0; t < 17; t++)
    ids[t] = (t * 7) % strlen (ALPHABET);
  double want = stepwise_loss (ref, ids, 16);
  const struct { ArTensorType type; double tol; } cases[] = {
    { AR_TENSOR_F32, 0 }, { AR_TENSOR_F16, 2e-3 }, { AR_TENSOR_Q8_0, 2e-2 },
    { AR_TENSOR_Q4_0, 2e-2 }, /* measured 1.3e-3 (Q8_0 1e-4, F16 6e-6) */
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GBytes) b = rewrite (bytes, NULL, NULL, NULL, NULL, cases[i].type);
    g_autoptr (GError) error = NULL;
    g_autoptr (ArGguf) g2 = ar_gguf_new_from_bytes (b, "converted", &error);
    g_assert_no_error (error);
    g_autoptr (ArRnn) rnn = ar_rnn_new_from_gguf (g2, &error);
    g_assert_no_error (error);
    double got = stepwise_loss (rnn, ids, 16);
    g_assert_cmpfloat (fabs (got - want), <=, cases[i].tol * fabs (want));
  }
}

static void
expect_load_error (GBytes *bytes, gint code, const char *needle)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (ArTextModel) m = ar_text_model_new_from_bytes (bytes, "bad.gguf", &error);
  g_assert_null (m);
  g_assert_error (error, AR_ERROR, code);
  g_assert_nonnull (strstr (error->message, "bad.gguf"));
  if (!strstr (error->message, needle))
    g_error ("message \"%s\" does not mention \"%s\"", error->message, needle);
}

static void
test_load_errors (void)
{
  g_autoptr (GBytes) good = test_make_rnn_bytes (AR_CELL_LSTM, 2, 8, 16, ALPHABET, 1);
  g_autoptr (GError) error = NULL;
  g_autoptr (ArTextModel) ok = ar_text_model_new_from_bytes (good, "good.gguf", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ar_text_model_get_architecture (ok), ==, "rnn");

  const char *tensors[] = {
    "token_embd.weight", "blk.0.rnn_ih.weight", "blk.1.rnn_hh.weight", "blk.1.rnn_ih.bias",
    "blk.0.rnn_hh.bias", "output.weight", "output.bias",
  };
  for (guint i = 0; i < G_N_ELEMENTS (tensors); i++) {
    g_autoptr (GBytes) missing = rewrite (good, NULL, NULL, tensors[i], NULL, AR_TENSOR_F32);
    expect_load_error (missing, AR_ERROR_MODEL, tensors[i]);
    g_autoptr (GBytes) nan = rewrite (good, NULL, NULL, NULL, tensors[i], AR_TENSOR_F32);
    expect_load_error (nan, AR_ERROR_MODEL, tensors[i]);
  }
  g_autoptr (GBytes) arch = rewrite (good, "general.architecture", "pixelcnn", NULL, NULL,
      AR_TENSOR_F32);
  expect_load_error (arch, AR_ERROR_UNSUPPORTED, "pixelcnn");
  g_autoptr (GBytes) cell = rewrite (good, "rnn.cell", "transformer", NULL, NULL, AR_TENSOR_F32);
  expect_load_error (cell, AR_ERROR_UNSUPPORTED, "transformer");
  /* a GRU's weights read as an LSTM have the wrong shapes */
  g_autoptr (GBytes) gru = rewrite (good, "rnn.cell", "gru", NULL, NULL, AR_TENSOR_F32);
  expect_load_error (gru, AR_ERROR_MODEL, "blk.0.rnn_ih.weight");
  g_autoptr (GBytes) tok = rewrite (good, "tokenizer.ggml.model", "bpe", NULL, NULL,
      AR_TENSOR_F32);
  expect_load_error (tok, AR_ERROR_UNSUPPORTED, "bpe");
  g_autoptr (GBytes) bytevocab = rewrite (good, "tokenizer.ggml.model", "byte", NULL, NULL,
      AR_TENSOR_F32);
  expect_load_error (bytevocab, AR_ERROR_MODEL, "256");
}

static void
test_absurd_sizes (void)
{
  g_autoptr (GBytes) good = test_make_rnn_bytes (AR_CELL_RNN, 1, 4, 4, ALPHABET, 1);
  g_autoptr (ArGguf) g = ar_gguf_new_from_bytes (good, "src", NULL);
  const char *keys[] = { "rnn.block_count", "rnn.hidden_size", "rnn.embedding_length" };
  const guint32 values[] = { 0, 100000, G_MAXUINT32 };
  for (guint k = 0; k < G_N_ELEMENTS (keys); k++)
    for (guint v = 0; v < G_N_ELEMENTS (values); v++) {
      g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
      ar_gguf_writer_copy_kv (w, g);
      ar_gguf_writer_set_u32 (w, keys[k], values[v]);
      for (guint i = 0; i < ar_gguf_get_n_tensors (g); i++) {
        const ArGgufTensor *t = ar_gguf_get_tensor (g, i);
        ar_gguf_writer_add_tensor_raw (w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes);
      }
      g_autoptr (GBytes) b = ar_gguf_writer_to_bytes (w);
      g_autoptr (GError) error = NULL;
      g_autoptr (ArTextModel) m = ar_text_model_new_from_bytes (b, "bad.gguf", &error);
      g_assert_null (m);
      g_assert_nonnull (error);
      g_assert_nonnull (strstr (error->message, "bad.gguf"));
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/rnn/step-equals-forward/rnn", GINT_TO_POINTER (AR_CELL_RNN),
      test_step_equals_training_forward);
  g_test_add_data_func ("/rnn/step-equals-forward/gru", GINT_TO_POINTER (AR_CELL_GRU),
      test_step_equals_training_forward);
  g_test_add_data_func ("/rnn/step-equals-forward/lstm", GINT_TO_POINTER (AR_CELL_LSTM),
      test_step_equals_training_forward);
  g_test_add_func ("/rnn/reduced-precision", test_reduced_precision);
  g_test_add_func ("/rnn/load-errors", test_load_errors);
  g_test_add_func ("/rnn/absurd-sizes", test_absurd_sizes);
  return g_test_run ();
}
