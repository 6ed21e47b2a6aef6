/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* argen-train.c — `argen train FAMILY`: trains a model with the shared
 * trainer and writes it as a GGUF file, with a CSV log, a PNG plot of the
 * curves and a checkpoint that `--resume` continues exactly.  Ctrl-C saves a
 * checkpoint and exits cleanly (a second Ctrl-C exits at once). */
#include "argen.h"
#include "rnn/ar-rnn.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile gint stop_requested;

static void
on_sigint (int sig)
{
  stop_requested = 1;
}

typedef struct
{
  ArTrainer *trainer;
  const char *keep_best;        /* write the model here at each new best validation */
  guint64 best_step;
  GError *save_error;
  FILE *csv;
  gboolean tty;
  const char *unit;
  const char *rate_name;
  guint64 print_every;
} Reporter;

static void
format_duration (char *buf, gsize size, double s)
{
  guint64 t = (guint64) MAX (s, 0);
  if (t >= 3600)
    g_snprintf (buf, size, "%" G_GUINT64_FORMAT ":%02u:%02u", t / 3600,
        (guint) (t / 60 % 60), (guint) (t % 60));
  else
    g_snprintf (buf, size, "%u:%02u", (guint) (t / 60), (guint) (t % 60));
}

static void
report (const ArTrainProgress *p, gpointer user_data)
{
  Reporter *r = user_data;
  if (r->csv) {
    fprintf (r->csv, "%" G_GUINT64_FORMAT ",%.6g,%.6f,%.6f,", p->step, p->lr, p->loss,
        p->loss_avg);
    if (!isnan (p->val_loss))
      fprintf (r->csv, "%.6f", p->val_loss);
    fprintf (r->csv, ",%.4f,%.3f,%.1f\n", p->grad_norm, p->elapsed, p->units_per_s);
    fflush (r->csv);
  }
  gboolean val = !isnan (p->val_loss);
  if (r->keep_best && p->val_best && r->save_error == NULL) {
    if (ar_trainer_save_model (r->trainer, r->keep_best, &r->save_error))
      r->best_step = p->step;
  }
  if (!r->tty && !val && p->step % r->print_every != 0 && p->step != p->steps)
    return;
  char eta[32];
  format_duration (eta, sizeof eta, p->eta);
  if (r->tty)
    fputs ("\r\033[K", stderr);
  fprintf (stderr, "step %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT "  loss %.4f  lr %.2e  %.0f %s  ETA %s",
      p->step, p->steps, p->loss_avg, p->lr, p->units_per_s, r->rate_name, eta);
  if (val)
    fprintf (stderr, "  validation %.4f %s", p->val_loss, r->unit);
  if (!r->tty || val || p->step == p->steps)
    fputc ('\n', stderr);
}

/* On resume, drop log rows past the checkpoint's step (they were written after
 * the last checkpoint of an interrupted run and will be redone). */
static gboolean
trim_log (const char *path, guint64 step, GError **error)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return TRUE;
  GString *kept = g_string_new (NULL);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    if (!*lines[i])
      continue;
    if (i > 0 && g_ascii_strtoull (lines[i], NULL, 10) > step)
      break;
    g_string_append_printf (kept, "%s\n", lines[i]);
  }
  gboolean ok = g_file_set_contents (path, kept->str, kept->len, error);
  g_string_free (kept, TRUE);
  return ok;
}

static int
fail (GError *error)
{
  fprintf (stderr, "argen train: %s\n", error->message);
  g_error_free (error);
  return 1;
}

int
argen_cmd_train (int argc, char **argv)
{
  g_autofree char *data = NULL, *out = NULL, *checkpoint = NULL, *log = NULL, *plot = NULL;
  g_autofree char *cell = g_strdup ("gru"), *vocab = g_strdup ("char"), *name = NULL;
  g_autofree char *description = NULL;
  gint layers = 1, embd = 64, hidden = 512, seq = 128, batch = 32, threads = 0;
  gint eval_window = 0;
  gint64 steps = 2000, warmup = 100, eval_every = 200, checkpoint_every = 200, seed = 1;
  gdouble lr = 2e-3, lr_min = 1e-4, weight_decay = 0.01, clip = 1.0, val_fraction = 0.1;
  gboolean resume = FALSE, keep_best = FALSE;
  GOptionEntry entries[] = {
    { "data", 'd', 0, G_OPTION_ARG_FILENAME, &data, "Training text (UTF-8)", "FILE" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Model file to write", "M.gguf" },
    { "cell", 0, 0, G_OPTION_ARG_STRING, &cell, "Recurrent cell: rnn, gru, lstm (default gru)", "CELL" },
    { "layers", 0, 0, G_OPTION_ARG_INT, &layers, "Recurrent layers (default 1)", "N" },
    { "embedding", 0, 0, G_OPTION_ARG_INT, &embd, "Embedding size (default 64)", "N" },
    { "hidden", 0, 0, G_OPTION_ARG_INT, &hidden, "Hidden size (default 512)", "N" },
    { "vocab", 0, 0, G_OPTION_ARG_STRING, &vocab, "Vocabulary: char or byte (default char)", "TYPE" },
    { "seq", 0, 0, G_OPTION_ARG_INT, &seq, "Sequence length: steps of back-propagation through time (default 128)", "T" },
    { "batch", 0, 0, G_OPTION_ARG_INT, &batch, "Sequences per step (default 32)", "B" },
    { "steps", 0, 0, G_OPTION_ARG_INT64, &steps, "Optimisation steps (default 2000)", "N" },
    { "lr", 0, 0, G_OPTION_ARG_DOUBLE, &lr, "Peak learning rate (default 2e-3)", "LR" },
    { "lr-min", 0, 0, G_OPTION_ARG_DOUBLE, &lr_min, "Final learning rate of the cosine schedule (default 1e-4)", "LR" },
    { "warmup", 0, 0, G_OPTION_ARG_INT64, &warmup, "Warm-up steps (default 100)", "N" },
    { "weight-decay", 0, 0, G_OPTION_ARG_DOUBLE, &weight_decay, "AdamW weight decay (default 0.01)", "W" },
    { "clip", 0, 0, G_OPTION_ARG_DOUBLE, &clip, "Gradient norm clipping, 0 = off (default 1)", "NORM" },
    { "val-fraction", 0, 0, G_OPTION_ARG_DOUBLE, &val_fraction, "Held-out fraction at the end of the data (default 0.1)", "F" },
    { "eval-every", 0, 0, G_OPTION_ARG_INT64, &eval_every, "Steps between validations (default 200)", "N" },
    { "eval-window", 0, 0, G_OPTION_ARG_INT, &eval_window, "Validate in windows of N chars from a zero state; 0 = contiguous streams with carried state (default 0)", "N" },
    { "checkpoint", 0, 0, G_OPTION_ARG_FILENAME, &checkpoint, "Checkpoint file (default OUT.ckpt)", "FILE" },
    { "checkpoint-every", 0, 0, G_OPTION_ARG_INT64, &checkpoint_every, "Steps between checkpoints (default 200)", "N" },
    { "resume", 0, 0, G_OPTION_ARG_NONE, &resume, "Continue from the checkpoint", NULL },
    { "keep-best", 0, 0, G_OPTION_ARG_NONE, &keep_best, "Write OUT at each new lowest validation loss, so it ends as the best-validated model rather than the last", NULL },
    { "log", 0, 0, G_OPTION_ARG_FILENAME, &log, "CSV log (default OUT.csv)", "FILE" },
    { "plot", 0, 0, G_OPTION_ARG_FILENAME, &plot, "PNG plot of the curves (default OUT.png)", "FILE" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Random seed (default 1)", "N" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "BLAS threads, 0 = all cores (default 0)", "N" },
    { "name", 0, 0, G_OPTION_ARG_STRING, &name, "general.name of the model", "TEXT" },
    { "description", 0, 0, G_OPTION_ARG_STRING, &description, "general.description (data, licence, recipe)", "TEXT" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("FAMILY — train a model (families: rnn)");
  g_option_context_add_main_entries (ctx, entries, NULL);
  GError *error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    return fail (error);
  if (argc != 2 || strcmp (argv[1], "rnn") != 0) {
    fprintf (stderr, "argen train: give one family; available: rnn\n");
    return 2;
  }
  if (data == NULL || out == NULL) {
    fprintf (stderr, "argen train: --data and --out are required\n");
    return 2;
  }
  if (seq < 1 || batch < 1 || steps < 1 || warmup < 0 || eval_every < 0 || checkpoint_every < 0
      || !(lr > 0) || !(lr_min >= 0) || !(weight_decay >= 0) || !(clip >= 0) || eval_window < 0
      || seq > 100000 || batch > 100000 || seed < 0) {
    fprintf (stderr, "argen train: an option is out of range (sizes and steps must be positive)\n");
    return 2;
  }
  ArRnnConfig config = { .n_layers = layers, .n_embd = embd, .n_hidden = hidden };
  if (!ar_cell_from_name (cell, &config.cell)) {
    fprintf (stderr, "argen train: unknown cell '%s' (rnn, gru, lstm)\n", cell);
    return 2;
  }
  ArVocabType vtype;
  if (strcmp (vocab, "char") == 0)
    vtype = AR_VOCAB_CHAR;
  else if (strcmp (vocab, "byte") == 0)
    vtype = AR_VOCAB_BYTE;
  else {
    fprintf (stderr, "argen train: unknown vocabulary '%s' (char, byte)\n", vocab);
    return 2;
  }
  if (threads > 0)
    openblas_set_num_threads (threads);

  g_autoptr (ArTextData) text = ar_text_data_new_from_file (data, vtype, val_fraction, &error);
  if (text == NULL)
    return fail (error);
  if (text->n_train <= (gsize) seq + 1) {
    fprintf (stderr, "argen train: %s: %" G_GSIZE_FORMAT
        " training tokens is too short for sequences of %d\n", data, text->n_train, seq);
    return 1;
  }
  config.n_vocab = ar_vocab_get_size (text->vocab);
  if (!ar_rnn_config_check (&config, &error))
    return fail (error);

  g_autoptr (ArRnnTask) task = ar_rnn_task_new (&config, text, seq, batch, eval_window);
  ArRng init;
  ar_rng_init (&init, seed);
  ar_rnn_train_init (ar_rnn_task_get_net (task), &init);

  ArTrainOptions options = {
    .steps = steps, .warmup = warmup, .lr = lr, .lr_min = lr_min,
    .weight_decay = weight_decay, .grad_clip = clip, .eval_every = eval_every,
    .checkpoint_every = checkpoint_every, .seed = seed,
  };
  const ArTrainable *trainable = ar_rnn_task_get_trainable (task);
  g_autoptr (ArTrainer) tr = ar_trainer_new (trainable, task, &options);
  g_autofree char *base = g_str_has_suffix (out, ".gguf")
      ? g_strndup (out, strlen (out) - 5) : g_strdup (out);
  if (!checkpoint)
    checkpoint = g_strconcat (base, ".ckpt", NULL);
  if (!log)
    log = g_strconcat (base, ".csv", NULL);
  if (!plot)
    plot = g_strconcat (base, ".png", NULL);
  g_autofree char *data_base = g_path_get_basename (data);
  ar_trainer_set_metadata (tr, "general.name", name ? name : data_base);
  if (description)
    ar_trainer_set_metadata (tr, "general.description", description);
  g_autofree char *recipe = g_strdup_printf ("argen train rnn --cell %s --layers %d "
      "--embedding %d --hidden %d --vocab %s --seq %d --batch %d --steps %" G_GINT64_FORMAT
      " --lr %g --lr-min %g --warmup %" G_GINT64_FORMAT " --weight-decay %g --clip %g "
      "--val-fraction %g --seed %" G_GINT64_FORMAT " --data %s",
      cell, layers, embd, hidden, vocab, seq, batch, steps, lr, lr_min, warmup,
      weight_decay, clip, val_fraction, seed, data_base);
  ar_trainer_set_metadata (tr, "general.source.recipe", recipe);

  if (resume) {
    if (!ar_trainer_resume (tr, checkpoint, &error))
      return fail (error);
    if (!trim_log (log, ar_trainer_get_step (tr), &error))
      return fail (error);
    fprintf (stderr, "resuming from %s at step %" G_GUINT64_FORMAT "\n", checkpoint,
        ar_trainer_get_step (tr));
  }

  FILE *csv = fopen (log, resume ? "a" : "w");
  if (csv == NULL) {
    fprintf (stderr, "argen train: cannot write %s: %s\n", log, g_strerror (errno));
    return 1;
  }
  if (!resume)
    fprintf (csv, "step,lr,loss,loss_avg,val_loss,grad_norm,elapsed_s,%s\n",
        trainable->units_per_s_name);

  fprintf (stderr, "training %s-%u x%u (%" G_GSIZE_FORMAT " parameters) on %s: %"
      G_GSIZE_FORMAT " training / %" G_GSIZE_FORMAT " held-out tokens, vocabulary %u\n",
      cell, config.n_hidden, config.n_layers, ar_params_count (trainable->params), data,
      text->n_train, text->n - text->n_train, config.n_vocab);

  Reporter reporter = {
    .trainer = tr, .keep_best = keep_best ? out : NULL,
    .csv = csv, .tty = isatty (2), .unit = trainable->unit,
    .rate_name = trainable->units_per_s_name,
    .print_every = MAX (1, ar_trainer_get_options (tr)->steps / 100),
  };
  struct sigaction sa = { 0 };
  sa.sa_handler = on_sigint;
  sa.sa_flags = SA_RESETHAND;   /* a second Ctrl-C kills at once */
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);

  gboolean ok = ar_trainer_run (tr, checkpoint, report, &reporter, &stop_requested, &error);
  fclose (csv);
  signal (SIGINT, SIG_DFL);
  signal (SIGTERM, SIG_DFL);
  GError *plot_error = NULL;
  if (!argen_plot_training_log (log, plot, trainable->unit, &plot_error)) {
    fprintf (stderr, "argen train: no plot: %s\n", plot_error->message);
    g_error_free (plot_error);
  }
  if (ok && reporter.save_error) {
    ok = FALSE;
    error = g_steal_pointer (&reporter.save_error);
  }
  g_clear_error (&reporter.save_error);
  if (!ok) {
    if (g_error_matches (error, AR_ERROR, AR_ERROR_CANCELLED)) {
      fprintf (stderr, "\n%s; checkpoint saved to %s — continue with the same command "
          "and --resume\n", error->message, checkpoint);
      g_error_free (error);
      return 130;
    }
    return fail (error);
  }
  if (keep_best && !isnan (ar_trainer_get_best_val (tr))) {
    if (reporter.best_step)
      fprintf (stderr, "%s is the model of step %" G_GUINT64_FORMAT
          ", the lowest validation loss (%.4f %s)\n", out, reporter.best_step,
          ar_trainer_get_best_val (tr), trainable->unit);
    else
      fprintf (stderr, "%s was written before this resumed run: no validation of this run "
          "beat its %.4f %s\n", out, ar_trainer_get_best_val (tr), trainable->unit);
  } else if (!ar_trainer_save_model (tr, out, &error)) {
    return fail (error);
  }
  fprintf (stderr, "wrote %s (log %s, plot %s)\n", out, log, plot);
  return 0;
}
