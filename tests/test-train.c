/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-train.c — the shared trainer on the RNN family: it learns a short
 * text (greedy generation then reproduces it), it is deterministic, a resumed
 * run ends bit-identical to an uninterrupted one, and a stop request leaves a
 * usable checkpoint; the units its progress reports are those of the
 * vocabulary. */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include "test-util.h"

#define TEXT "the cat sat on the mat. "

typedef struct
{
  ArTextData *data;
  ArRnnTask *task;
  ArTrainer *trainer;
} Run;

static void
run_init (Run *r, guint64 steps, guint64 seed)
{
  g_autoptr (GString) text = g_string_new (NULL);
  for (int i = 0; i < 40; i++)
    g_string_append (text, TEXT);
  r->data = ar_text_data_new (text->str, text->len, AR_VOCAB_CHAR, 0.1, NULL);
  g_assert_nonnull (r->data);
  ArRnnConfig config = { AR_CELL_GRU, 1, 16, 64, ar_vocab_get_size (r->data->vocab) };
  r->task = ar_rnn_task_new (&config, r->data, 32, 8, 0);
  ArRng rng;
  ar_rng_init (&rng, seed);
  ar_rnn_train_init (ar_rnn_task_get_net (r->task), &rng);
  ArTrainOptions o = AR_TRAIN_OPTIONS_INIT;
  o.steps = steps;
  o.warmup = 10;
  o.lr = 1e-2f;
  o.eval_every = 25;
  o.checkpoint_every = 0;
  o.seed = seed;
  r->trainer = ar_trainer_new (ar_rnn_task_get_trainable (r->task), r->task, &o);
}

static void
run_clear (Run *r)
{
  ar_trainer_free (r->trainer);
  ar_rnn_task_free (r->task);
  ar_text_data_free (r->data);
}

static void
assert_same_params (Run *a, Run *b)
{
  test_assert_same_params (ar_rnn_train_get_params (ar_rnn_task_get_net (a->task)),
      ar_rnn_train_get_params (ar_rnn_task_get_net (b->task)));
}

/* The units the progress reports: those of the vocabulary's tokens, for the
 * loss and the rate alike (a byte vocabulary's rate said chars/s). */
static void
test_units (void)
{
  static const struct
  {
    ArVocabType type;
    const char *unit, *rate;
  } cases[] = {
    { AR_VOCAB_CHAR, "nats/char", "chars/s" },
    { AR_VOCAB_BYTE, "nats/byte", "bytes/s" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (ArTextData) data = ar_text_data_new (TEXT TEXT TEXT,
        3 * strlen (TEXT), cases[i].type, 0.1, NULL);
    g_assert_nonnull (data);
    ArRnnConfig config = { AR_CELL_GRU, 1, 4, 4,
      ar_vocab_get_size (data->vocab) };
    g_autoptr (ArRnnTask) task = ar_rnn_task_new (&config, data, 8, 2, 0);
    const ArTrainable *t = ar_rnn_task_get_trainable (task);

    g_assert_cmpstr (t->unit, ==, cases[i].unit);
    g_assert_cmpstr (t->units_per_s_name, ==, cases[i].rate);
  }
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
  g_autofree char *dir = g_dir_make_tmp ("argen-train-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "cat.gguf", NULL);
  Run r;
  run_init (&r, 150, 7);
  double val = NAN;
  g_autoptr (GError) error = NULL;
  g_assert_true (ar_trainer_run (r.trainer, NULL, record_val, &val, NULL, &error));
  g_assert_no_error (error);
  /* from ln(12) = 2.5 nats at chance to nearly determined (only the first
   * characters of each held-out stream are uncertain) */
  g_assert_cmpfloat (val, <, 0.25);
  g_assert_true (ar_trainer_save_model (r.trainer, path, &error));
  g_assert_no_error (error);
  run_clear (&r);

  g_autoptr (ArTextModel) m = ar_text_model_new_from_file (path, &error);
  g_assert_no_error (error);
  g_autoptr (ArTextGen) gen = ar_text_gen_new (m);
  ArSamplingParams greedy = { 0.0f, 0, 1.0f };
  ar_text_gen_set_sampling (gen, &greedy);
  ar_text_gen_reset (gen, 0);
  ar_text_gen_feed (gen, "the cat", -1);
  g_autoptr (GString) out = g_string_new (NULL);
  for (int i = 0; i < 3 * (int) strlen (TEXT); i++)
    ar_text_gen_next (gen, out);
  g_assert_cmpstr (out->str, ==, " sat on the mat. " TEXT TEXT "the cat");
  g_unlink (path);
  g_rmdir (dir);
}

static void
raise_at_17 (const ArTrainProgress *p, gpointer user_data)
{
  if (p->step == 17)
    *(volatile gint *) user_data = 1;
}

static void
test_resume_is_exact (void)
{
  g_autofree char *dir = g_dir_make_tmp ("argen-train-XXXXXX", NULL);
  g_autofree char *ckpt = g_build_filename (dir, "run.ckpt", NULL);
  g_autoptr (GError) error = NULL;

  Run straight;
  run_init (&straight, 40, 3);
  g_assert_true (ar_trainer_run (straight.trainer, NULL, NULL, NULL, NULL, &error));

  /* the same run stopped by the stop flag after step 17 (the callback runs
   * before the flag is read), then resumed by a fresh trainer whose weights
   * and seed start out different */
  Run first;
  run_init (&first, 40, 3);
  volatile gint stop = 0;
  gboolean ok = ar_trainer_run (first.trainer, ckpt, raise_at_17, (gpointer) &stop, &stop,
      &error);
  g_assert_false (ok);
  g_assert_error (error, AR_ERROR, AR_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_cmpuint (ar_trainer_get_step (first.trainer), ==, 17);
  g_assert_true (g_file_test (ckpt, G_FILE_TEST_EXISTS));
  /* the checkpoint is a loadable model too */
  g_autoptr (ArTextModel) m = ar_text_model_new_from_file (ckpt, &error);
  g_assert_no_error (error);
  run_clear (&first);

  Run resumed;
  run_init (&resumed, 40, 99);  /* different initial weights and seed: all restored */
  g_assert_true (ar_trainer_resume (resumed.trainer, ckpt, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ar_trainer_get_step (resumed.trainer), ==, 17);
  g_assert_true (ar_trainer_run (resumed.trainer, ckpt, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  assert_same_params (&straight, &resumed);
  run_clear (&straight);
  run_clear (&resumed);

  /* a checkpoint that is not one */
  g_autoptr (GBytes) plain = test_make_rnn_bytes (AR_CELL_GRU, 1, 16, 64, "abc", 1);
  g_autofree char *bogus = g_build_filename (dir, "plain.gguf", NULL);
  g_assert_true (g_file_set_contents (bogus, g_bytes_get_data (plain, NULL),
          g_bytes_get_size (plain), NULL));
  Run other;
  run_init (&other, 40, 3);
  g_assert_false (ar_trainer_resume (other.trainer, bogus, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  g_clear_error (&error);
  g_assert_false (ar_trainer_resume (other.trainer, "/nonexistent/ckpt", &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "/nonexistent/ckpt"));
  run_clear (&other);

  g_unlink (bogus);
  g_unlink (ckpt);
  g_rmdir (dir);
}

static void
test_deterministic (void)
{
  Run a, b;
  run_init (&a, 20, 5);
  run_init (&b, 20, 5);
  g_assert_true (ar_trainer_run (a.trainer, NULL, NULL, NULL, NULL, NULL));
  g_assert_true (ar_trainer_run (b.trainer, NULL, NULL, NULL, NULL, NULL));
  assert_same_params (&a, &b);
  run_clear (&a);
  run_clear (&b);
}

/* The learning rate of each step a run reports, and a stop request after
 * step stop_at (0: none). */
typedef struct
{
  float lr[16];                 /* by step - 1 */
  guint64 stop_at;
  volatile gint stop;
} LrLog;

static void
record_lr (const ArTrainProgress *p, gpointer user_data)
{
  LrLog *log = user_data;

  g_assert_cmpuint (p->step, >=, 1);
  g_assert_cmpuint (p->step, <=, G_N_ELEMENTS (log->lr));
  log->lr[p->step - 1] = p->lr;
  if (p->step == log->stop_at)
    log->stop = 1;
}

/* @r's trainer replaced by one of @steps steps and @warmup warm-up steps. */
static void
run_set_schedule (Run *r, guint64 steps, guint64 warmup)
{
  ArTrainOptions o = *ar_trainer_get_options (r->trainer);

  o.steps = steps;
  o.warmup = warmup;
  ar_trainer_free (r->trainer);
  r->trainer = ar_trainer_new (ar_rnn_task_get_trainable (r->task), r->task,
      &o);
}

/* The schedule the trainer follows at its edges: a one-step run without a
 * warm-up trains at lr (it trained at lr_min, the schedule's end), a run
 * without a warm-up starts at lr and ends at lr_min, a warm-up climbs to
 * lr at its last step, and a run resumed midway takes the same rates as
 * an uninterrupted one and ends with the same weights. */
static void
test_schedule_edges (void)
{
  g_autofree char *dir = g_dir_make_tmp ("argen-train-XXXXXX", NULL);
  g_autofree char *ckpt = g_build_filename (dir, "run.ckpt", NULL);
  g_autoptr (GError) error = NULL;
  const float lr = 1e-2f, lr_min = 1e-4f;   /* run_init's */
  LrLog log = { { 0 } };
  Run r;

  run_init (&r, 1, 3);
  run_set_schedule (&r, 1, 0);
  g_assert_cmpfloat (ar_trainer_get_options (r.trainer)->lr, ==, lr);
  g_assert_cmpfloat (ar_trainer_get_options (r.trainer)->lr_min, ==, lr_min);
  g_assert_true (ar_trainer_run (r.trainer, NULL, record_lr, &log, NULL,
          &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (log.lr[0], ==, lr);
  run_clear (&r);

  run_init (&r, 1, 3);
  run_set_schedule (&r, 6, 0);
  g_assert_true (ar_trainer_run (r.trainer, NULL, record_lr, &log, NULL,
          &error));
  g_assert_cmpfloat (log.lr[0], ==, lr);
  for (guint i = 1; i < 6; i++)
    g_assert_cmpfloat (log.lr[i], <, log.lr[i - 1]);
  g_assert_cmpfloat (log.lr[5], ==, lr_min);
  run_clear (&r);

  /* --steps = --warmup + 1 */
  run_init (&r, 1, 3);
  run_set_schedule (&r, 4, 3);
  g_assert_true (ar_trainer_run (r.trainer, NULL, record_lr, &log, NULL,
          &error));
  g_assert_cmpfloat_with_epsilon (log.lr[0], lr / 3, 1e-9f);
  g_assert_cmpfloat_with_epsilon (log.lr[1], 2 * lr / 3, 1e-9f);
  g_assert_cmpfloat (log.lr[2], ==, lr);
  g_assert_cmpfloat (log.lr[3], ==, lr_min);
  run_clear (&r);

  /* resumed after step 5 of 12 (no warm-up) */
  Run straight, resumed;
  LrLog straight_log = { { 0 } }, resumed_log = { { 0 } };

  run_init (&straight, 1, 3);
  run_set_schedule (&straight, 12, 0);
  g_assert_true (ar_trainer_run (straight.trainer, NULL, record_lr,
          &straight_log, NULL, &error));
  run_init (&r, 1, 3);
  run_set_schedule (&r, 12, 0);
  resumed_log.stop_at = 5;
  g_assert_false (ar_trainer_run (r.trainer, ckpt, record_lr, &resumed_log,
          &resumed_log.stop, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_CANCELLED);
  g_clear_error (&error);
  run_clear (&r);
  run_init (&resumed, 1, 99);
  g_assert_true (ar_trainer_resume (resumed.trainer, ckpt, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ar_trainer_get_options (resumed.trainer)->steps, ==, 12);
  g_assert_cmpuint (ar_trainer_get_options (resumed.trainer)->warmup, ==, 0);
  resumed_log.stop_at = 0;
  resumed_log.stop = 0;
  g_assert_true (ar_trainer_run (resumed.trainer, NULL, record_lr,
          &resumed_log, NULL, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < 12; i++)
    g_assert_cmpfloat (resumed_log.lr[i], ==, straight_log.lr[i]);
  g_assert_cmpfloat (straight_log.lr[0], ==, lr);
  g_assert_cmpfloat (straight_log.lr[11], ==, lr_min);
  assert_same_params (&straight, &resumed);
  run_clear (&straight);
  run_clear (&resumed);
  g_unlink (ckpt);
  g_rmdir (dir);
}

/* Options out of range (a NaN, infinite or negative learning rate, decay
 * or clip, a final rate above the peak) fail the run with a GError naming the option before any step:
 * a NaN learning rate used to run, and with --steps 1 finish "successfully"
 * with every weight NaN. */
static void
test_bad_options (void)
{
  static const struct
  {
    const char *name;
    gsize offset;
    float value;
  } bad[] = {
    { "lr", G_STRUCT_OFFSET (ArTrainOptions, lr), NAN },
    { "lr", G_STRUCT_OFFSET (ArTrainOptions, lr), -1e-3f },
    { "lr", G_STRUCT_OFFSET (ArTrainOptions, lr), INFINITY },
    { "lr_min", G_STRUCT_OFFSET (ArTrainOptions, lr_min), NAN },
    /* above lr (1e-2): the cosine would raise the rate */
    { "lr_min is 0.02, above lr 0.01", G_STRUCT_OFFSET (ArTrainOptions,
            lr_min), 2e-2f },
    { "weight_decay", G_STRUCT_OFFSET (ArTrainOptions, weight_decay), NAN },
    { "weight_decay", G_STRUCT_OFFSET (ArTrainOptions, weight_decay), -1.0f },
    { "grad_clip", G_STRUCT_OFFSET (ArTrainOptions, grad_clip), NAN },
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    Run r;
    g_autoptr (GError) error = NULL;

    run_init (&r, 1, 3);
    ArTrainOptions o = *ar_trainer_get_options (r.trainer);
    G_STRUCT_MEMBER (float, &o, bad[i].offset) = bad[i].value;
    ar_trainer_free (r.trainer);
    r.trainer = ar_trainer_new (ar_rnn_task_get_trainable (r.task), r.task, &o);
    g_assert_false (ar_trainer_run (r.trainer, NULL, NULL, NULL, NULL, &error));
    g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
    g_assert_nonnull (strstr (error->message, bad[i].name));
    g_assert_cmpuint (ar_trainer_get_step (r.trainer), ==, 0);
    run_clear (&r);
  }
}

/* A training text too short for one window fails the run with a GError
 * giving the lengths (it ran, with criticals, on unwritten batches and
 * then reported that training "diverged"). */
static void
test_short_text (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (ArTextData) data =
      ar_text_data_new ("abcabcabcab", 11, AR_VOCAB_CHAR, 0.1, NULL);
  ArRnnConfig config = { AR_CELL_GRU, 1, 8, 16, ar_vocab_get_size (data->vocab) };
  g_autoptr (ArRnnTask) task = ar_rnn_task_new (&config, data, 32, 4, 0);
  ArTrainOptions o = AR_TRAIN_OPTIONS_INIT;

  o.steps = 2;
  g_autoptr (ArTrainer) tr =
      ar_trainer_new (ar_rnn_task_get_trainable (task), task, &o);
  g_assert_false (ar_text_data_check_window (data, 32, NULL));
  g_assert_true (ar_text_data_check_window (data, 7, NULL));
  g_assert_false (ar_trainer_run (tr, NULL, NULL, NULL, NULL, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "is 9 tokens; windows of 32"));
  g_assert_cmpuint (ar_trainer_get_step (tr), ==, 0);
}

/* Metadata values that are not UTF-8 (a general.name taken from a file name
 * that is not) are stored with U+FFFD for the bad bytes: they used to be
 * dropped from every saved file, with a critical each time. */
static void
test_metadata_not_utf8 (void)
{
  g_autofree char *dir = g_dir_make_tmp ("argen-train-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "m.gguf", NULL);
  g_autoptr (GError) error = NULL;
  const char *name;
  Run r;

  run_init (&r, 1, 2);
  ar_trainer_set_metadata (r.trainer, "general.name", "caf\xe9.txt");
  ar_trainer_set_metadata (r.trainer, "general.description", "ok");
  g_assert_true (ar_trainer_save_model (r.trainer, path, &error));
  g_assert_no_error (error);
  run_clear (&r);

  g_autoptr (ArGguf) g = ar_gguf_new_from_file (path, &error);
  g_assert_no_error (error);
  g_assert_true (ar_gguf_get_string (g, "general.name", &name, &error));
  g_assert_cmpstr (name, ==, "caf\xef\xbf\xbd.txt");
  g_assert_true (ar_gguf_get_string (g, "general.description", &name, &error));
  g_assert_cmpstr (name, ==, "ok");
  g_unlink (path);
  g_rmdir (dir);
}

/* @path rewritten with every key and tensor of @src, then @edit applied. */
static void
rewrite_checkpoint (const ArGguf *src, const char *path,
    void (*edit) (ArGgufWriter *w))
{
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();

  ar_gguf_writer_copy_kv (w, src);
  edit (w);
  for (guint i = 0; i < ar_gguf_get_n_tensors (src); i++) {
    const ArGgufTensor *t = ar_gguf_get_tensor (src, i);
    ar_gguf_writer_add_tensor_raw (w, t->name, t->type, t->n_dims, t->ne,
        t->data, t->nbytes);
  }
  g_assert_true (ar_gguf_writer_write_file (w, path, NULL));
}

static void
zero_rng (ArGgufWriter *w)
{
  const guint64 zero[4] = { 0 };
  ar_gguf_writer_set_u64_array (w, "train.rng", zero, 4);
}

static void
negative_lr (ArGgufWriter *w)
{
  ar_gguf_writer_set_f32 (w, "train.lr", -1.0f);
}

/* A checkpoint whose loop state cannot be resumed is refused: an all-zero
 * train.rng (the one state xoshiro256** never leaves: every draw 0, and
 * ar_rng_below () looped forever on it) and a negative learning rate. */
static void
test_resume_bad_state (void)
{
  g_autofree char *dir = g_dir_make_tmp ("argen-train-XXXXXX", NULL);
  g_autofree char *ckpt = g_build_filename (dir, "run.ckpt", NULL);
  g_autofree char *bad = g_build_filename (dir, "bad.ckpt", NULL);
  void (*edits[2]) (ArGgufWriter *) = { zero_rng, negative_lr };
  const char *what[2] = { "train.rng", "option lr is -1" };
  Run r;

  run_init (&r, 3, 4);
  g_assert_true (ar_trainer_run (r.trainer, ckpt, NULL, NULL, NULL, NULL));
  run_clear (&r);
  g_autoptr (ArGguf) src = ar_gguf_new_from_file (ckpt, NULL);
  g_assert_nonnull (src);
  for (guint i = 0; i < G_N_ELEMENTS (edits); i++) {
    g_autoptr (GError) error = NULL;

    rewrite_checkpoint (src, bad, edits[i]);
    run_init (&r, 6, 4);
    g_assert_false (ar_trainer_resume (r.trainer, bad, &error));
    g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
    g_assert_nonnull (strstr (error->message, what[i]));
    g_assert_nonnull (strstr (error->message, bad));
    run_clear (&r);
  }
  g_unlink (bad);
  g_unlink (ckpt);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/train/learns-short-text", test_learns_short_text);
  g_test_add_func ("/train/resume-is-exact", test_resume_is_exact);
  g_test_add_func ("/train/deterministic", test_deterministic);
  g_test_add_func ("/train/schedule-edges", test_schedule_edges);
  g_test_add_func ("/train/units", test_units);
  g_test_add_func ("/train/bad-options", test_bad_options);
  g_test_add_func ("/train/short-text", test_short_text);
  g_test_add_func ("/train/metadata-not-utf8", test_metadata_not_utf8);
  g_test_add_func ("/train/resume-bad-state", test_resume_bad_state);
  return g_test_run ();
}
