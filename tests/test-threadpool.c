/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-threadpool.c — the fork-join pool and the products split over it.
 *
 * - Every task of a job runs exactly once, for pools of 1 to 8 threads and
 *   jobs of 0 to 1000 tasks, over thousands of back-to-back jobs (which is
 *   where a worker waking up late could run a stale job's task), from a
 *   pool used by two threads in turn, and with a pool freed before it ever
 *   ran a job.
 * - The split products (ar_threadpool_matvec and its F16 / Q8_0 / Q4_0
 *   forms; ar_threadpool_matvec_typed for every type, with and without a
 *   bias) equal the unsplit kernels bit for bit, for row counts that are
 *   not multiples of the split granularity, above and below the size
 *   threshold.
 * - A Transformer's logits, cached steps and batched prompts alike, are
 *   bit for bit the same with 1 and 3 threads, for F32, Q8_0 and Q4_0
 *   storage; so are an RNN's through ArTextGen (ar_text_gen_set_threads),
 *   with 1, 2 and all threads.  (Small models: the suite also runs under
 *   valgrind.) */
#include <math.h>
#include <string.h>

#include "core/ar-gguf.h"
#include "core/ar-rng.h"
#include "core/ar-threadpool.h"
#include "core/ar-workspaces.h"
#include "text/ar-text.h"
#include "transformer/ar-transformer.h"
#include "test-util.h"

/* ---- the pool --------------------------------------------------------- */

typedef struct
{
  gint *hits; /* (n) how often each task ran */
  guint n;
  guint64 job;       /* which job this is, checked by every task */
  guint64 *seen_job; /* (n) */
} CountJob;

static void
count_task (gpointer data, guint task)
{
  CountJob *j = data;
  g_assert_cmpuint (task, <, j->n);
  g_atomic_int_inc (&j->hits[task]);
  j->seen_job[task] = j->job;
}

static void
check_pool (ArThreadPool *pool, guint n_jobs)
{
  static const guint sizes[] = { 0, 1, 2, 3, 7, 64, 1000 };
  g_autofree gint *hits = g_new (gint, 1000);
  g_autofree guint64 *seen = g_new (guint64, 1000);

  for (guint k = 0; k < n_jobs; k++) {
    guint n = sizes[k % G_N_ELEMENTS (sizes)];
    CountJob j = { hits, n, k, seen };
    memset (hits, 0, n * sizeof (gint));
    ar_threadpool_run (pool, n, count_task, &j);
    for (guint i = 0; i < n; i++) {
      g_assert_cmpint (hits[i], ==, 1);
      g_assert_cmpuint (seen[i], ==, k);
    }
  }
}

static void
test_pool (void)
{
  static const guint threads[] = { 1, 2, 3, 8 };

  check_pool (NULL, 50);
  for (guint t = 0; t < G_N_ELEMENTS (threads); t++) {
    g_autoptr (ArThreadPool) pool = ar_threadpool_new (threads[t]);
    g_assert_cmpuint (ar_threadpool_get_n_threads (pool), ==, threads[t]);
    check_pool (pool, 1000);
  }
  g_autoptr (ArThreadPool) all = ar_threadpool_new (0);
  g_assert_cmpuint (ar_threadpool_get_n_threads (all), ==,
      MIN (g_get_num_processors (), AR_THREADPOOL_MAX_THREADS));
  g_assert_cmpuint (ar_threadpool_get_n_threads (NULL), ==, 1);
  /* never used: no thread was started, nothing to join */
  ar_threadpool_free (ar_threadpool_new (4));
  ar_threadpool_free (NULL);
}

static gpointer
other_thread (gpointer pool)
{
  check_pool (pool, 500);
  return NULL;
}

/* One pool used by two threads at once: the second caller of a busy pool
 * does its job alone, correctly. */
static void
test_pool_two_callers (void)
{
  g_autoptr (ArThreadPool) pool = ar_threadpool_new (3);
  GThread *t = g_thread_new ("other", other_thread, pool);
  check_pool (pool, 500);
  g_thread_join (t);
}

/* ---- split products --------------------------------------------------- */

/* ar_threadpool_matvec_typed for every storage type, with and without a
 * bias, equals the unsplit ar_matvec_typed bit for bit, on 1, 2 and 5
 * threads and when a pool is used again (ragged row counts above the
 * threshold, and one below it); ar_threadpool_matvec is its F32 case. */
static void
test_matvec (void)
{
  static const int shapes[][2] = { { 1001, 320 }, { 4099, 64 }, { 37, 96 },
    { 600, 224 } };
  static const ArTensorType types[] = { AR_TENSOR_F32, AR_TENSOR_F16,
    AR_TENSOR_Q8_0, AR_TENSOR_Q4_0 };
  static const guint threads[] = { 1, 2, 5 };
  ArRng rng;

  ar_rng_init (&rng, 2);
  for (guint k = 0; k < G_N_ELEMENTS (shapes); k++) {
    int rows = shapes[k][0], cols = shapes[k][1];
    gsize n = (gsize) rows * cols;
    g_autofree float *v = g_new (float, n);
    g_autofree float *x = g_new (float, cols);
    g_autofree float *b = g_new (float, rows);
    g_autofree ArBlockQ8_0 *xq = g_new (ArBlockQ8_0, cols / AR_Q8_0_BLOCK);
    g_autofree float *ref = g_new (float, rows);
    g_autofree float *y = g_new (float, rows);

    for (gsize i = 0; i < n; i++)
      v[i] = ar_rng_normal (&rng);
    for (int c = 0; c < cols; c++)
      x[c] = ar_rng_normal (&rng);
    for (int r = 0; r < rows; r++)
      b[r] = ar_rng_normal (&rng);
    ar_quantize_q8_0 (xq, x, cols);

    for (guint ty = 0; ty < G_N_ELEMENTS (types); ty++) {
      ArTensorType type = types[ty];
      g_autofree guint8 *W =
          g_malloc ((gsize) rows * ar_tensor_data_size (type, cols));

      ar_tensor_data_from_f32 (type, v, n, W);
      for (int with_b = 0; with_b < 2; with_b++) {
        const float *bb = with_b ? b : NULL;

        ar_matvec_typed (type, ref, W, x, xq, bb, rows, cols);
        for (guint t = 0; t < G_N_ELEMENTS (threads); t++) {
          g_autoptr (ArThreadPool) pool = ar_threadpool_new (threads[t]);

          for (int again = 0; again < 2; again++) {
            memset (y, 0, rows * sizeof (float));
            ar_threadpool_matvec_typed (pool, type, y, W, x, xq, bb, rows,
                cols);
            g_assert_cmpmem (y, rows * sizeof (float), ref,
                rows * sizeof (float));
          }
          if (type == AR_TENSOR_F32) {
            memset (y, 0, rows * sizeof (float));
            ar_threadpool_matvec (pool, y, (const float *) W, x, bb, rows,
                cols);
            g_assert_cmpmem (y, rows * sizeof (float), ref,
                rows * sizeof (float));
          }
        }
      }
    }
  }
}

/* ---- models ----------------------------------------------------------- */

/* A random one-block llama model whose classifier (V = 2048 by D = 64) and
 * feed-forward matrices (F = 2048 by 64) are at the split threshold. */
static GBytes *
make_transformer (ArTensorType type)
{
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  ArTransformerConfig c = { AR_TRANSFORMER_LLAMA, 1, 64, 2048, 4, 2, 64, 2048,
    16, 10000.0f, 1e-5f, FALSE };
  guint KV = 2 * 16;
  ArRng rng;
  char name[64];

  ar_rng_init (&rng, 3);
  ar_transformer_config_write (&c, w);
#define ADD(nm, t, rows, cols, mean, sd)                                       \
  do {                                                                         \
    gsize n_ = (gsize) (rows) * (cols);                                        \
    g_autofree float *v_ = g_new (float, n_);                                  \
    for (gsize i_ = 0; i_ < n_; i_++)                                          \
      v_[i_] = (mean) + (sd) *ar_rng_normal (&rng);                            \
    const guint64 ne2_[2] = { cols, rows };                                    \
    ar_gguf_writer_add_tensor_f32 (w, nm, t, (rows) == 1 ? 1 : 2, ne2_, v_);   \
  } while (0)
  ADD ("token_embd.weight", type, 2048, 64, 0, 1);
  for (guint l = 0; l < 1; l++) {
#define BLK(what) (g_snprintf (name, sizeof name, "blk.%u." what, l), name)
    ADD (BLK ("attn_norm.weight"), AR_TENSOR_F32, 1, 64, 1, 0.1f);
    ADD (BLK ("ffn_norm.weight"), AR_TENSOR_F32, 1, 64, 1, 0.1f);
    ADD (BLK ("attn_q.weight"), type, 64, 64, 0, 0.125f);
    ADD (BLK ("attn_k.weight"), type, KV, 64, 0, 0.125f);
    ADD (BLK ("attn_v.weight"), type, KV, 64, 0, 0.125f);
    ADD (BLK ("attn_output.weight"), type, 64, 64, 0, 0.125f);
    ADD (BLK ("ffn_gate.weight"), type, 2048, 64, 0, 0.125f);
    ADD (BLK ("ffn_up.weight"), type, 2048, 64, 0, 0.125f);
    ADD (BLK ("ffn_down.weight"), type, 64, 2048, 0, 0.022f);
#undef BLK
  }
  ADD ("output_norm.weight", AR_TENSOR_F32, 1, 64, 1, 0.1f);
  ADD ("output.weight", type, 2048, 64, 0, 0.125f);
#undef ADD
  return ar_gguf_writer_to_bytes (w);
}

/* The logits after a 20-token prompt and after each of 2 more tokens, with
 * a pool of @threads threads (0: no pool). */
static float *
transformer_logits (ArTransformer *t, guint threads)
{
  const ArTransformerConfig *c = ar_transformer_get_config (t);
  g_autoptr (ArThreadPool) pool = threads ? ar_threadpool_new (threads) : NULL;
  g_autoptr (ArTransformerState) s = ar_transformer_state_new (t);
  float *all = g_new (float, 3 * c->n_vocab);
  gint32 prompt[20];

  for (guint i = 0; i < 20; i++)
    prompt[i] = (i * 37 + 5) % c->n_vocab;
  ar_transformer_state_set_threadpool (s, pool);
  memcpy (all, ar_transformer_forward_prompt (t, s, prompt, 20),
      c->n_vocab * sizeof (float));
  for (guint i = 1; i <= 2; i++)
    memcpy (all + i * c->n_vocab,
        ar_transformer_forward (t, s, (i * 101) % c->n_vocab),
        c->n_vocab * sizeof (float));
  ar_transformer_state_set_threadpool (s, NULL);
  return all;
}

static void
test_transformer (void)
{
  /* (F16 takes the same paths as Q8_0: the split kernels are compared on
   * their own above) */
  static const ArTensorType types[] = { AR_TENSOR_F32, AR_TENSOR_Q8_0,
    AR_TENSOR_Q4_0 };

  for (guint k = 0; k < G_N_ELEMENTS (types); k++) {
    g_autoptr (GBytes) bytes = make_transformer (types[k]);
    GError *error = NULL;
    g_autoptr (ArGguf) g = ar_gguf_new_from_bytes (bytes, "t.gguf", &error);
    g_assert_no_error (error);
    g_autoptr (ArTransformer) t = ar_transformer_new_from_gguf (g, &error);
    g_assert_no_error (error);
    gsize size = 3 * 2048 * sizeof (float);
    g_autofree float *one = transformer_logits (t, 0);
    g_autofree float *three = transformer_logits (t, 3);
    g_assert_cmpmem (one, size, three, size);
    for (guint i = 0; i < 3 * 2048; i++)
      g_assert_true (isfinite (one[i]));
  }
}

/* An RNN big enough to split (GRU 224: W_hh is 672 × 224) through the text
 * API: the same greedy text and the same sampled text for any thread
 * count. */
static char *
rnn_text (ArTextModel *m, guint threads, float temperature)
{
  g_autoptr (ArTextGen) gen = ar_text_gen_new (m);
  ArSamplingParams params = { temperature, 0, 1.0f };
  GString *out = g_string_new (NULL);

  ar_text_gen_set_threads (gen, threads);
  ar_text_gen_set_sampling (gen, &params);
  ar_text_gen_reset (gen, 42);
  ar_text_gen_feed (gen, "abc", -1);
  for (guint i = 0; i < 15; i++)
    ar_text_gen_next (gen, out);
  ar_text_gen_finish (gen, out);
  return g_string_free (out, FALSE);
}

static void
test_rnn (void)
{
  g_autoptr (GBytes) bytes = test_make_rnn_bytes (AR_CELL_GRU, 1, 64, 224,
      "abcdefghijklmnopqrstuvwxyz .,\n", 5);
  GError *error = NULL;
  g_autoptr (ArTextModel) m =
      ar_text_model_new_from_bytes (bytes, "rnn.gguf", &error);
  g_assert_no_error (error);

  for (guint k = 0; k < 2; k++) {
    float temp = k ? 1.0f : 0.0f;
    g_autofree char *one = rnn_text (m, 1, temp);
    g_autofree char *two = rnn_text (m, 2, temp);
    g_autofree char *all = rnn_text (m, 0, temp);
    g_assert_cmpstr (one, ==, two);
    g_assert_cmpstr (one, ==, all);
  }
}

/* ---- workspaces -------------------------------------------------------- */

typedef struct
{
  gint made;
} SpaceCounts;

typedef struct
{
  gint users; /* tasks holding this space right now */
} Space;

static gpointer
space_new (gpointer data)
{
  SpaceCounts *counts = data;

  g_atomic_int_inc (&counts->made);
  return g_new0 (Space, 1);
}

static void
space_free (gpointer data)
{
  g_free (data);
}

static void
count_free (gpointer data)
{
  /* the destroy notify sees each space once */
  Space *sp = data;

  g_assert_cmpint (g_atomic_int_get (&sp->users), ==, 0);
  space_free (data);
}

typedef struct
{
  ArWorkspaces *ws;
  gint total_uses;
} SpaceJob;

static void
use_space (gpointer data, guint task)
{
  SpaceJob *job = data;
  Space *sp = ar_workspaces_claim (job->ws);

  /* nobody else holds it while this task does */
  g_assert_cmpint (g_atomic_int_add (&sp->users, 1), ==, 0);
  g_usleep (200 + 50 * (task % 3));
  g_atomic_int_inc (&job->total_uses);
  g_assert_cmpint (g_atomic_int_add (&sp->users, -1), ==, 1);
  ar_workspaces_release (job->ws, sp);
}

/* Tasks on 1, 2 and 4 threads claim spaces: never one held by two tasks,
 * never more made than tasks run at once (the pool's threads), all of them
 * reused and freed. */
static void
test_workspaces (void)
{
  static const guint threads[] = { 1, 2, 4 };

  for (guint k = 0; k < G_N_ELEMENTS (threads); k++) {
    g_autoptr (ArThreadPool) pool = ar_threadpool_new (threads[k]);
    SpaceCounts counts = { 0 };
    SpaceJob job = { ar_workspaces_new (space_new, count_free, &counts), 0 };

    for (int round = 0; round < 3; round++)
      ar_threadpool_run (pool, 40, use_space, &job);
    g_assert_cmpint (job.total_uses, ==, 120);
    g_assert_cmpint (counts.made, >=, 1);
    g_assert_cmpint (counts.made, <=, (gint) ar_threadpool_get_n_threads (pool));
    g_assert_cmpuint (ar_workspaces_get_n_made (job.ws), ==, (guint) counts.made);
    ar_workspaces_free (job.ws);
  }
  /* one space claimed and given back is the one claimed next */
  {
    SpaceCounts counts = { 0 };
    g_autoptr (ArWorkspaces) ws =
        ar_workspaces_new (space_new, space_free, &counts);
    gpointer a = ar_workspaces_claim (ws), b = ar_workspaces_claim (ws);

    g_assert_true (a != b);
    ar_workspaces_release (ws, a);
    g_assert_true (ar_workspaces_claim (ws) == a);
    ar_workspaces_release (ws, a);
    ar_workspaces_release (ws, b);
    g_assert_cmpint (counts.made, ==, 2);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/threadpool/pool", test_pool);
  g_test_add_func ("/threadpool/two-callers", test_pool_two_callers);
  g_test_add_func ("/threadpool/matvec", test_matvec);
  g_test_add_func ("/threadpool/workspaces", test_workspaces);
  g_test_add_func ("/threadpool/transformer", test_transformer);
  g_test_add_func ("/threadpool/rnn", test_rnn);
  return g_test_run ();
}
