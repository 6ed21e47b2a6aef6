/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* argen-train.c — `argen train FAMILY`: trains a model with the shared
 * trainer and writes it as a GGUF file, with a CSV log, a PNG plot of the
 * curves and a checkpoint that `--resume` continues exactly.  Ctrl-C saves a
 * checkpoint and exits cleanly (a second Ctrl-C exits at once).
 *
 * The family comes first (`argen train transformer --data ...`); the options
 * every family shares (data, schedule, checkpoints, log) are the main group,
 * each family's hyper-parameters its own GOptionGroup (`--help-rnn`,
 * `--help-transformer`).  A family builds its task (an ArTrainable) and the
 * line recorded as general.source.recipe; run_training () does the rest. */
#include "argen.h"
#include "data/ar-audio.h"
#include "nar/ar-nar-train.h"
#include "pixelcnn/ar-pixelcnn-train.h"
#include "rnn/ar-rnn.h"
#include "transformer/ar-transformer-train.h"
#include "wavenet/ar-wavenet-train.h"

#include <cblas.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile gint stop_requested;

/* --warmup's default: 100 steps, or a tenth of --steps when that is less
 * (a short run is not all warm-up); UNSET_WARMUP until the options are
 * parsed */
#define DEFAULT_WARMUP 100
#define UNSET_WARMUP G_MININT64
/* --lr-min's default: 1e-4, or --lr when that is less (a cosine "down" to a
 * floor above the peak raised the rate through the run: --lr 5e-5 ended at
 * 1e-4); UNSET_LR_MIN until the options are parsed */
#define DEFAULT_LR_MIN 1e-4
#define UNSET_LR_MIN (-G_MAXDOUBLE)

static void
on_sigint (int sig)
{
  stop_requested = 1;
}

/* ---- options every family shares ---------------------------------------- */

typedef struct
{
  char *data, *out, *checkpoint, *log, *plot, *vocab, *name, *description;
  gint batch, threads;
  gint64 steps, warmup, eval_every, checkpoint_every, seed;
  gdouble lr, lr_min, weight_decay, clip, val_fraction;
  gboolean resume, keep_best;
} Common;

static void
common_clear (Common *c)
{
  g_free (c->data);
  g_free (c->out);
  g_free (c->checkpoint);
  g_free (c->log);
  g_free (c->plot);
  g_free (c->vocab);
  g_free (c->name);
  g_free (c->description);
}

/* ---- the family-specific options ------------------------------------------ */

typedef struct
{
  char *cell;
  gint layers, embd, hidden, seq, eval_window;
} RnnOptions;

typedef struct
{
  char *arch, *eval;
  gint layers, heads, kv_heads, dim, hidden, context;
  gdouble rope_base, dropout;
  gboolean tied;
} TransformerOptions;

typedef struct
{
  char *labels, *test_data, *test_labels, *class_names;
  gint layers, features, first_kernel, kernel, output_hidden, levels,
      eval_images;
  gboolean unconditional;
} PixelCnnOptions;

typedef struct
{
  char *condition, *classes;
  gint rate, residual, gate, skip, output, stacks, layers_per_stack, window,
      holdout_every, n_mels, n_fft, win_length, hop, cond_channels;
  gdouble pre_emphasis;
  gdouble highpass;
} WaveNetOptions;

static GOptionGroup *
rnn_group (RnnOptions *o)
{
  GOptionEntry entries[] = { { "cell", 0, 0, G_OPTION_ARG_FILENAME, &o->cell,
                                 "Recurrent cell: rnn, gru, lstm (default gru)",
                                 "CELL" },
    { "layers", 0, 0, G_OPTION_ARG_INT, &o->layers,
        "Recurrent layers (default 1)", "N" },
    { "embedding", 0, 0, G_OPTION_ARG_INT, &o->embd,
        "Embedding size (default 64)", "N" },
    { "hidden", 0, 0, G_OPTION_ARG_INT, &o->hidden, "Hidden size (default 512)",
        "N" },
    { "seq", 0, 0, G_OPTION_ARG_INT, &o->seq,
        "Sequence length: steps of back-propagation through time (default 128)",
        "T" },
    { "eval-window", 0, 0, G_OPTION_ARG_INT, &o->eval_window,
        "Validate in windows of N chars from a zero state; 0 = contiguous "
        "streams with carried state (default 0)",
        "N" },
    { NULL } };
  GOptionGroup *g = g_option_group_new ("rnn",
      "Options of the rnn family:", "Show the rnn family's options", NULL,
      NULL);

  g_option_group_add_entries (g, entries);
  return g;
}

static GOptionGroup *
transformer_group (TransformerOptions *o)
{
  GOptionEntry entries[] = {
    { "arch", 0, 0, G_OPTION_ARG_FILENAME, &o->arch,
        "llama (RMSNorm, rotary, SwiGLU) or gpt (LayerNorm, learned positions, "
        "GELU, biases) (default llama)",
        "ARCH" },
    { "layers", 0, 0, G_OPTION_ARG_INT, &o->layers, "Blocks (default 4)", "N" },
    { "dim", 0, 0, G_OPTION_ARG_INT, &o->dim, "Embedding width (default 128)",
        "D" },
    { "heads", 0, 0, G_OPTION_ARG_INT, &o->heads,
        "Attention heads, dividing the width (default 4)", "H" },
    { "kv-heads", 0, 0, G_OPTION_ARG_INT, &o->kv_heads,
        "Key/value heads, dividing the heads (default: as many as heads)",
        "N" },
    { "hidden", 0, 0, G_OPTION_ARG_INT, &o->hidden,
        "Feed-forward width (default: gpt 4 D; llama 2/3 of 4 D rounded up to "
        "a multiple of 32, as llama2.c)",
        "F" },
    { "context", 0, 0, G_OPTION_ARG_INT, &o->context,
        "Context length: the training windows and the model's context (default "
        "128)",
        "T" },
    { "rope-base", 0, 0, G_OPTION_ARG_DOUBLE, &o->rope_base,
        "Rotary frequency base, llama (default 10000)", "F" },
    { "dropout", 0, 0, G_OPTION_ARG_DOUBLE, &o->dropout,
        "Dropout probability on the embedding and the blocks' residual "
        "branches while training (default 0)",
        "P" },
    { "tied", 0, 0, G_OPTION_ARG_NONE, &o->tied,
        "Use the token embedding as the classifier", NULL },
    { "eval", 0, 0, G_OPTION_ARG_FILENAME, &o->eval,
        "Validation: windows (windows of the context, each from scratch) or "
        "sliding (windows advancing by half, scoring their second half; twice "
        "the cost) (default windows)",
        "MODE" },
    { NULL }
  };
  GOptionGroup *g =
      g_option_group_new ("transformer", "Options of the transformer family:",
          "Show the transformer family's options", NULL, NULL);

  g_option_group_add_entries (g, entries);
  return g;
}

/* The nar family: the transformer's shape options (llama shape only), and
 * the slots. */
static GOptionGroup *
nar_group (TransformerOptions *o, gint *slots)
{
  GOptionEntry entries[] = {
    { "slots", 0, 0, G_OPTION_ARG_INT, slots,
        "Slots N predicted together after the context, below the context "
        "length (default 32)",
        "N" },
    { "layers", 0, 0, G_OPTION_ARG_INT, &o->layers, "Blocks (default 4)", "N" },
    { "dim", 0, 0, G_OPTION_ARG_INT, &o->dim, "Embedding width (default 128)",
        "D" },
    { "heads", 0, 0, G_OPTION_ARG_INT, &o->heads,
        "Attention heads, dividing the width (default 4)", "H" },
    { "kv-heads", 0, 0, G_OPTION_ARG_INT, &o->kv_heads,
        "Key/value heads, dividing the heads (default: as many as heads)",
        "N" },
    { "hidden", 0, 0, G_OPTION_ARG_INT, &o->hidden,
        "Feed-forward width (default 2/3 of 4 D rounded up to a multiple of "
        "32, as llama2.c)",
        "F" },
    { "context", 0, 0, G_OPTION_ARG_INT, &o->context,
        "Positions of a pass, context and slots together (default 128); "
        "training contexts are 1 to this - N tokens",
        "C" },
    { "rope-base", 0, 0, G_OPTION_ARG_DOUBLE, &o->rope_base,
        "Rotary frequency base (default 10000)", "F" },
    { "dropout", 0, 0, G_OPTION_ARG_DOUBLE, &o->dropout,
        "Dropout probability on the embedding and the blocks' residual "
        "branches while training (default 0)",
        "P" },
    { "tied", 0, 0, G_OPTION_ARG_NONE, &o->tied,
        "Use the token embedding as the classifier", NULL },
    { NULL }
  };
  GOptionGroup *g = g_option_group_new ("nar",
      "Options of the nar family (a bidirectional llama-shape Transformer "
      "trained for Mask-Predict):",
      "Show the nar family's options", NULL, NULL);

  g_option_group_add_entries (g, entries);
  return g;
}

static GOptionGroup *
pixelcnn_group (PixelCnnOptions *o)
{
  GOptionEntry entries[] = {
    { "labels", 0, 0, G_OPTION_ARG_FILENAME, &o->labels,
        "IDX labels of the --data images (a PNG folder's labels are its "
        "sub-folders)",
        "FILE" },
    { "test-data", 0, 0, G_OPTION_ARG_FILENAME, &o->test_data,
        "Held-out images (IDX or PNG folder) for validation (default: the "
        "last --val-fraction of --data)",
        "PATH" },
    { "test-labels", 0, 0, G_OPTION_ARG_FILENAME, &o->test_labels,
        "IDX labels of --test-data", "FILE" },
    { "class-names", 0, 0, G_OPTION_ARG_FILENAME, &o->class_names,
        "Comma-separated class names stored in the model (default: the PNG "
        "sub-folders, or 0, 1, …)",
        "A,B,…" },
    { "unconditional", 0, 0, G_OPTION_ARG_NONE, &o->unconditional,
        "Ignore the labels: an unconditional model", NULL },
    { "layers", 0, 0, G_OPTION_ARG_INT, &o->layers, "Gated layers (default 8)",
        "N" },
    { "features", 0, 0, G_OPTION_ARG_INT, &o->features,
        "Feature channels of each stack (default 32)", "C" },
    { "first-kernel", 0, 0, G_OPTION_ARG_INT, &o->first_kernel,
        "First layer's kernel, odd (default 7)", "K" },
    { "kernel", 0, 0, G_OPTION_ARG_INT, &o->kernel,
        "Later layers' kernel, odd (default 3)", "K" },
    { "output-hidden", 0, 0, G_OPTION_ARG_INT, &o->output_hidden,
        "Hidden units of the output layer (default 64)", "O" },
    { "levels", 0, 0, G_OPTION_ARG_INT, &o->levels,
        "256 (8-bit grey) or 2 (binary images) (default 256)", "Q" },
    { "eval-images", 0, 0, G_OPTION_ARG_INT, &o->eval_images,
        "Validate on the first N held-out images, 0 = all (default 0)", "N" },
    { NULL }
  };
  GOptionGroup *g = g_option_group_new ("pixelcnn",
      "Options of the pixelcnn family:", "Show the pixelcnn family's options",
      NULL, NULL);

  g_option_group_add_entries (g, entries);
  return g;
}

static GOptionGroup *
wavenet_group (WaveNetOptions *o)
{
  GOptionEntry entries[] = {
    { "rate", 0, 0, G_OPTION_ARG_INT, &o->rate,
        "Sample rate the audio is read at (resampled) (default 8000)", "HZ" },
    { "residual", 0, 0, G_OPTION_ARG_INT, &o->residual,
        "Residual channels R (default 32)", "R" },
    { "gate", 0, 0, G_OPTION_ARG_INT, &o->gate,
        "Gate channels G, even: a tanh half and a sigmoid half (default 64)",
        "G" },
    { "skip", 0, 0, G_OPTION_ARG_INT, &o->skip, "Skip channels S (default 64)",
        "S" },
    { "output", 0, 0, G_OPTION_ARG_INT, &o->output,
        "Output hidden channels O (default 128)", "O" },
    { "stacks", 0, 0, G_OPTION_ARG_INT, &o->stacks,
        "Stacks of dilated layers (default 2)", "N" },
    { "layers-per-stack", 0, 0, G_OPTION_ARG_INT, &o->layers_per_stack,
        "Layers per stack, dilations 1, 2, 4 … (default 8)", "N" },
    { "window", 0, 0, G_OPTION_ARG_INT, &o->window,
        "Samples per training window; the first receptive field − 1 of a "
        "window inside a file are context, not scored (default 0: 4 × the "
        "receptive field)",
        "T" },
    { "holdout-every", 0, 0, G_OPTION_ARG_INT, &o->holdout_every,
        "Every N-th file of the sorted list is held out (files 0, N, 2N, …: "
        "ar_audio_split_holdout); 0 = none (default 20: 5 %)",
        "N" },
    { "condition", 0, 0, G_OPTION_ARG_FILENAME, &o->condition,
        "none, or mel: a vocoder conditioned on log-mel frames of the audio "
        "(default none)",
        "KIND" },
    { "n-mels", 0, 0, G_OPTION_ARG_INT, &o->n_mels, "mel: bands (default 80)",
        "N" },
    { "n-fft", 0, 0, G_OPTION_ARG_INT, &o->n_fft, "mel: FFT size (default 512)",
        "N" },
    { "win-length", 0, 0, G_OPTION_ARG_INT, &o->win_length,
        "mel: Hann window (default 400)", "N" },
    { "hop", 0, 0, G_OPTION_ARG_INT, &o->hop,
        "mel: samples between frames (default 80)", "N" },
    { "cond-channels", 0, 0, G_OPTION_ARG_INT, &o->cond_channels,
        "mel: channels of the convolution over frames (default 64)", "C" },
    { "pre-emphasis", 0, 0, G_OPTION_ARG_DOUBLE, &o->pre_emphasis,
        "Model the pre-emphasised signal e_t = s_t − A s_{t−1} (0 … 0.99; "
        "generation de-emphasises, which shapes the µ-law noise like the "
        "speech; the mel frames stay those of s) (default 0: none)",
        "A" },
    { "highpass", 0, 0, G_OPTION_ARG_DOUBLE, &o->highpass,
        "Filter generated audio with a second-order high-pass at HZ — the "
        "band of data that have nothing below it (telephone prompts: about "
        "100); stored in the model, used by every decode, not by training "
        "(default 0: none)",
        "HZ" },
    { "classes", 0, 0, G_OPTION_ARG_FILENAME, &o->classes,
        "A global condition: \"dirs\" (each file's folder name is its "
        "class) or a file of lines \"NAME CLASS\" (default: none)",
        "dirs|FILE" },
    { NULL }
  };
  GOptionGroup *g = g_option_group_new ("wavenet",
      "Options of the wavenet family:", "Show the wavenet family's options",
      NULL, NULL);

  g_option_group_add_entries (g, entries);
  return g;
}

/* ---- the shared training run ------------------------------------------------ */

typedef struct
{
  ArTrainer *trainer;
  const char *keep_best; /* write the model here at each new best validation */
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
    fprintf (r->csv, "%" G_GUINT64_FORMAT ",%.6g,%.6f,%.6f,", p->step, p->lr,
        p->loss, p->loss_avg);
    if (!isnan (p->val_loss))
      fprintf (r->csv, "%.6f", p->val_loss);
    fprintf (r->csv, ",%.4f,%.3f,%.1f\n", p->grad_norm, p->elapsed,
        p->units_per_s);
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
  fprintf (stderr,
      "step %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT
      "  loss %.4f  lr %.2e  %.0f %s  ETA %s",
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

/* A checkpoint carries the options of its run (ar_trainer_resume () takes
 * them back), so a resumed run ends exactly as an uninterrupted one would.
 * An option given differently now would be ignored (a longer --steps did
 * nothing) and recorded wrongly in general.source.recipe: name it instead.
 * FALSE after a message. */
static gboolean
check_resumed_options (const Common *c, const ArTrainOptions *o)
{
  /* the floats as the checkpoint stores them, in single precision */
  const struct
  {
    const char *name;
    gboolean integer;
    double given, stored;
  } options[] = {
    { "--steps", TRUE, (double) c->steps, (double) o->steps },
    { "--warmup", TRUE, (double) c->warmup, (double) o->warmup },
    { "--lr", FALSE, (float) c->lr, o->lr },
    { "--lr-min", FALSE, (float) c->lr_min, o->lr_min },
    { "--weight-decay", FALSE, (float) c->weight_decay, o->weight_decay },
    { "--clip", FALSE, (float) c->clip, o->grad_clip },
    { "--eval-every", TRUE, (double) c->eval_every, (double) o->eval_every },
    { "--checkpoint-every", TRUE, (double) c->checkpoint_every,
        (double) o->checkpoint_every },
    { "--seed", TRUE, (double) c->seed, (double) o->seed },
  };

  for (guint i = 0; i < G_N_ELEMENTS (options); i++)
    if (options[i].given != options[i].stored) {
      /* integers exactly, floats to the digits a float holds */
      const char *format = options[i].integer ? "%.0f" : "%.7g";
      char stored[G_ASCII_DTOSTR_BUF_SIZE], given[G_ASCII_DTOSTR_BUF_SIZE];

      g_ascii_formatd (stored, sizeof stored, format, options[i].stored);
      g_ascii_formatd (given, sizeof given, format, options[i].given);
      fprintf (stderr,
          "argen train: %s is the checkpoint of a run with %s %s, not %s: "
          "--resume continues that run with its own options (give them as "
          "they were, or start anew without --resume)\n",
          c->checkpoint, options[i].name, stored, given);
      return FALSE;
    }
  return TRUE;
}

/* Whether @a and @b name the same file: the same inode when both exist,
 * else the same absolute path. */
static gboolean
same_file (const char *a, const char *b)
{
  GStatBuf sa, sb;

  if (g_stat (a, &sa) == 0 && g_stat (b, &sb) == 0)
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  g_autofree char *ca = g_canonicalize_filename (a, NULL);
  g_autofree char *cb = g_canonicalize_filename (b, NULL);
  return strcmp (ca, cb) == 0;
}

/* The files a run writes — the model, the checkpoint, the log and the plot
 * (OUT.gguf, OUT.ckpt, OUT.csv, OUT.png by default) — must be distinct and
 * none of them the training data: `--data quotes.csv --out quotes.gguf`
 * overwrote the text with the log.  FALSE after a message. */
static gboolean
check_output_paths (const Common *c)
{
  const struct
  {
    const char *option, *path;
  } files[] = {
    { "--data", c->data },
    { "--out", c->out },
    { "--checkpoint", c->checkpoint },
    { "--log", c->log },
    { "--plot", c->plot },
  };

  for (guint i = 1; i < G_N_ELEMENTS (files); i++)
    for (guint j = 0; j < i; j++)
      if (same_file (files[i].path, files[j].path)) {
        fprintf (stderr,
            "argen train: %s %s and %s %s are the same file: the run would "
            "overwrite it%s\n",
            files[j].option, files[j].path, files[i].option, files[i].path,
            j == 0 ? " (give --out another name, or --log, --plot or "
                     "--checkpoint another path)"
                   : "");
        return FALSE;
      }
  return TRUE;
}

static int
fail (GError *error)
{
  fprintf (stderr, "argen train: %s\n", error->message);
  g_error_free (error);
  return 1;
}

/* A model shape the family refuses (sizes that do not fit together, or too
 * large): the options were wrong, so the status is a usage error's. */
static int
fail_options (GError *error)
{
  fail (error);
  return 2;
}

/* Trains @task (of @trainable) as the common options say; @recipe is the
 * family's part of the command line, @what a description of the model for
 * the first progress line, @text the corpus of a text family or NULL (then
 * @data_line describes the data). */
static int
run_training (Common *c, const ArTrainable *trainable, gpointer task,
    const ArTextData *text, const char *data_line, const char *recipe,
    const char *what)
{
  GError *error = NULL;
  ArTrainOptions options = {
    .steps = c->steps,
    .warmup = c->warmup,
    .lr = c->lr,
    .lr_min = c->lr_min,
    .weight_decay = c->weight_decay,
    .grad_clip = c->clip,
    .eval_every = c->eval_every,
    .checkpoint_every = c->checkpoint_every,
    .seed = c->seed,
  };
  g_autoptr (ArTrainer) tr = ar_trainer_new (trainable, task, &options);
  g_autofree char *base = g_str_has_suffix (c->out, ".gguf")
      ? g_strndup (c->out, strlen (c->out) - 5)
      : g_strdup (c->out);
  if (!c->checkpoint)
    c->checkpoint = g_strconcat (base, ".ckpt", NULL);
  if (!c->log)
    c->log = g_strconcat (base, ".csv", NULL);
  if (!c->plot)
    c->plot = g_strconcat (base, ".png", NULL);
  if (!check_output_paths (c))
    return 2;
  g_autofree char *data_base = g_path_get_basename (c->data);
  ar_trainer_set_metadata (tr, "general.name", c->name ? c->name : data_base);
  if (c->description)
    ar_trainer_set_metadata (tr, "general.description", c->description);
  g_autofree char *vocab =
      text ? g_strdup_printf (" --vocab %s", c->vocab) : g_strdup ("");
  g_autofree char *full_recipe =
      g_strdup_printf ("%s%s --batch %d --steps %" G_GINT64_FORMAT
                       " --lr %g --lr-min %g --warmup %" G_GINT64_FORMAT
                       " --weight-decay %g --clip %g --val-fraction %g --seed "
                       "%" G_GINT64_FORMAT " --data %s",
          recipe, vocab, c->batch, c->steps, c->lr, c->lr_min, c->warmup,
          c->weight_decay, c->clip, c->val_fraction, c->seed, data_base);
  ar_trainer_set_metadata (tr, "general.source.recipe", full_recipe);

  if (c->resume) {
    if (!ar_trainer_resume (tr, c->checkpoint, &error))
      return fail (error);
    if (!check_resumed_options (c, ar_trainer_get_options (tr)))
      return 2;
    if (!trim_log (c->log, ar_trainer_get_step (tr), &error))
      return fail (error);
    fprintf (stderr, "resuming from %s at step %" G_GUINT64_FORMAT "\n",
        c->checkpoint, ar_trainer_get_step (tr));
  }

  FILE *csv = fopen (c->log, c->resume ? "a" : "w");
  if (csv == NULL) {
    fprintf (stderr, "argen train: cannot write %s: %s\n", c->log,
        g_strerror (errno));
    return 1;
  }
  if (!c->resume)
    fprintf (csv, "step,lr,loss,loss_avg,val_loss,grad_norm,elapsed_s,%s\n",
        trainable->units_per_s_name);

  if (text != NULL)
    fprintf (stderr,
        "training %s (%" G_GSIZE_FORMAT " parameters) on %s: %" G_GSIZE_FORMAT
        " training / %" G_GSIZE_FORMAT " held-out tokens, vocabulary %u\n",
        what, ar_params_count (trainable->params), c->data, text->n_train,
        text->n - text->n_train, ar_vocab_get_size (text->vocab));
  else
    fprintf (stderr, "training %s (%" G_GSIZE_FORMAT " parameters) on %s: %s\n",
        what, ar_params_count (trainable->params), c->data, data_line);

  Reporter reporter = {
    .trainer = tr,
    .keep_best = c->keep_best ? c->out : NULL,
    .csv = csv,
    .tty = isatty (2),
    .unit = trainable->unit,
    .rate_name = trainable->units_per_s_name,
    .print_every = MAX (1, ar_trainer_get_options (tr)->steps / 100),
  };
  struct sigaction sa = { 0 };
  sa.sa_handler = on_sigint;
  sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C kills at once */
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);

  gboolean ok = ar_trainer_run (tr, c->checkpoint, report, &reporter,
      &stop_requested, &error);
  fclose (csv);
  signal (SIGINT, SIG_DFL);
  signal (SIGTERM, SIG_DFL);
  GError *plot_error = NULL;
  gboolean plotted =
      argen_plot_training_log (c->log, c->plot, trainable->unit, &plot_error);
  if (!plotted) {
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
      fprintf (stderr,
          "\n%s; checkpoint saved to %s — continue with the same command "
          "and --resume\n",
          error->message, c->checkpoint);
      g_error_free (error);
      return 130;
    }
    return fail (error);
  }
  if (c->keep_best && !isnan (ar_trainer_get_best_val (tr))) {
    if (reporter.best_step)
      fprintf (stderr,
          "%s is the model of step %" G_GUINT64_FORMAT
          ", the lowest validation loss (%.4f %s)\n",
          c->out, reporter.best_step, ar_trainer_get_best_val (tr),
          trainable->unit);
    else
      fprintf (stderr,
          "%s was written before this resumed run: no validation of this run "
          "beat its %.4f %s\n",
          c->out, ar_trainer_get_best_val (tr), trainable->unit);
  } else if (!ar_trainer_save_model (tr, c->out, &error)) {
    return fail (error);
  }
  if (plotted)
    fprintf (stderr, "wrote %s (log %s, plot %s)\n", c->out, c->log, c->plot);
  else
    fprintf (stderr, "wrote %s (log %s)\n", c->out, c->log);
  return 0;
}

/* The corpus, split and tokenised; NULL after printing why. */
static ArTextData *
load_text (const Common *c, int T)
{
  GError *error = NULL;
  ArVocabType vtype;

  if (strcmp (c->vocab, "char") == 0) {
    vtype = AR_VOCAB_CHAR;
  } else if (strcmp (c->vocab, "byte") == 0) {
    vtype = AR_VOCAB_BYTE;
  } else {
    fprintf (stderr, "argen train: unknown vocabulary '%s' (char, byte)\n",
        c->vocab);
    return NULL;
  }
  ArTextData *text =
      ar_text_data_new_from_file (c->data, vtype, c->val_fraction, &error);
  if (text == NULL) {
    fail (error);
    return NULL;
  }
  /* a single held-out token is nothing to predict: validation would score
   * nothing, and say nothing */
  if (text->n - text->n_train == 1) {
    fprintf (stderr,
        "argen train: %s: the held-out end is 1 token, nothing to predict (a "
        "larger --val-fraction, or 0 for none)\n",
        c->data);
    ar_text_data_free (text);
    return NULL;
  }
  if (text->n_train <= (gsize) T + 1) {
    fprintf (stderr,
        "argen train: %s: %" G_GSIZE_FORMAT
        " training tokens is too short for sequences of %d\n",
        c->data, text->n_train, T);
    ar_text_data_free (text);
    return NULL;
  }
  return text;
}

/* ---- the families ------------------------------------------------------------ */

static int
train_rnn (Common *c, RnnOptions *o)
{
  GError *error = NULL;

  if (o->layers < 1 || o->embd < 1 || o->hidden < 1 || o->seq < 1 ||
      o->seq > 100000 || o->eval_window < 0) {
    fprintf (stderr,
        "argen train: an option is out of range (sizes must be positive)\n");
    return 2;
  }
  ArRnnConfig config = { .n_layers = o->layers,
    .n_embd = o->embd,
    .n_hidden = o->hidden };
  if (!ar_cell_from_name (o->cell, &config.cell)) {
    fprintf (stderr, "argen train: unknown cell '%s' (rnn, gru, lstm)\n",
        o->cell);
    return 2;
  }
  if (c->threads > 0)
    openblas_set_num_threads (c->threads);

  g_autoptr (ArTextData) text = load_text (c, o->seq);
  if (text == NULL)
    return 1;
  /* validation scores --batch contiguous streams of the held-out targets
   * (or windows of them): with fewer it would score none, and say nothing */
  gsize held = text->n - text->n_train;
  gsize needed = o->eval_window > 0 ? 1 : (gsize) c->batch;
  if (held > 0 && held - 1 < needed) {
    fprintf (stderr,
        "argen train: %s: the held-out end has %" G_GSIZE_FORMAT " tokens, "
        "%" G_GSIZE_FORMAT " to predict; validation needs %" G_GSIZE_FORMAT
        "%s (a larger --val-fraction, or 0 for none)\n",
        c->data, held, held - 1, needed,
        o->eval_window > 0 ? "" : ", one per stream of --batch");
    return 1;
  }
  config.n_vocab = ar_vocab_get_size (text->vocab);
  if (!ar_rnn_config_check (&config, &error))
    return fail_options (error);

  g_autoptr (ArRnnTask) task =
      ar_rnn_task_new (&config, text, o->seq, c->batch, o->eval_window);
  ArRng init;
  ar_rng_init (&init, c->seed);
  ar_rnn_train_init (ar_rnn_task_get_net (task), &init);

  g_autofree char *recipe =
      g_strdup_printf ("argen train rnn --cell %s --layers %d "
                       "--embedding %d --hidden %d --seq %d",
          o->cell, o->layers, o->embd, o->hidden, o->seq);
  g_autofree char *what =
      g_strdup_printf ("%s-%u x%u", o->cell, config.n_hidden, config.n_layers);
  return run_training (c, ar_rnn_task_get_trainable (task), task, text, NULL,
      recipe, what);
}

static int
train_transformer (Common *c, TransformerOptions *o)
{
  GError *error = NULL;
  ArTransformerConfig config = { 0 };
  ArTransformerEvalMode eval_mode;

  if (strcmp (o->arch, "llama") == 0) {
    config.arch = AR_TRANSFORMER_LLAMA;
  } else if (strcmp (o->arch, "gpt") == 0) {
    config.arch = AR_TRANSFORMER_GPT;
  } else {
    fprintf (stderr, "argen train: unknown architecture '%s' (llama, gpt)\n",
        o->arch);
    return 2;
  }
  if (strcmp (o->eval, "windows") == 0) {
    eval_mode = AR_TRANSFORMER_EVAL_WINDOWS;
  } else if (strcmp (o->eval, "sliding") == 0) {
    eval_mode = AR_TRANSFORMER_EVAL_SLIDING;
  } else {
    fprintf (stderr,
        "argen train: unknown validation mode '%s' (windows, sliding)\n",
        o->eval);
    return 2;
  }
  if (o->layers < 1 || o->dim < 1 || o->heads < 1 || o->kv_heads < 0 ||
      o->hidden < 0 || o->context < 1 || o->context > 100000 ||
      c->threads > AR_TRANSFORMER_MAX_THREADS || !(o->rope_base > 0) ||
      !(o->dropout >= 0 && o->dropout < 1)) {
    fprintf (stderr,
        "argen train: an option is out of range (sizes must be positive, "
        "--threads at most %d, --dropout below 1)\n",
        AR_TRANSFORMER_MAX_THREADS);
    return 2;
  }
  config.n_layers = o->layers;
  config.n_embd = o->dim;
  config.n_head = o->heads;
  config.n_head_kv = o->kv_heads ? o->kv_heads : o->heads;
  config.n_ctx = o->context;
  if (o->hidden)
    config.n_ff = o->hidden;
  else if (config.arch == AR_TRANSFORMER_GPT)
    config.n_ff = 4 * o->dim;
  else
    config.n_ff = (2 * 4 * o->dim / 3 + 31) / 32 * 32;
  config.n_rot = o->dim / o->heads;
  config.rope_freq_base = o->rope_base;
  config.norm_eps = 1e-5f;
  config.tied_output = o->tied;

  g_autoptr (ArTextData) text = load_text (c, o->context);
  if (text == NULL)
    return 1;
  config.n_vocab = ar_vocab_get_size (text->vocab);
  if (!ar_transformer_train_check (&config, o->context, c->batch, &error))
    return fail_options (error);
  g_autoptr (ArTransformerTask) task = ar_transformer_task_new (&config, text,
      o->context, c->batch, c->threads, eval_mode);
  ArRng init;
  ar_rng_init (&init, c->seed);
  ar_transformer_train_init (ar_transformer_task_get_net (task), &init);
  ar_transformer_task_set_dropout (task, o->dropout);

  g_autofree char *rope = config.arch == AR_TRANSFORMER_LLAMA
      ? g_strdup_printf (" --rope-base %g", o->rope_base)
      : g_strdup ("");
  g_autofree char *recipe =
      g_strdup_printf ("argen train transformer --arch %s --layers %d "
                       "--dim %d --heads %d --kv-heads %u --hidden %u "
                       "--context %d%s%s --dropout %g --eval %s",
          o->arch, o->layers, o->dim, o->heads, config.n_head_kv, config.n_ff,
          o->context, rope, o->tied ? " --tied" : "", o->dropout, o->eval);
  g_autofree char *what = g_strdup_printf (
      "%s, %u blocks of width %u, %u heads (%u "
      "key/value), feed-forward %u, context %u, %d threads",
      o->arch, config.n_layers, config.n_embd, config.n_head, config.n_head_kv,
      config.n_ff, config.n_ctx,
      ar_transformer_train_get_n_threads (ar_transformer_task_get_net (task)));
  return run_training (c, ar_transformer_task_get_trainable (task), task, text,
      NULL, recipe, what);
}

static int
train_nar (Common *c, TransformerOptions *o, int slots)
{
  GError *error = NULL;
  ArTransformerConfig config = { 0 };

  if (o->layers < 1 || o->dim < 1 || o->heads < 1 || o->kv_heads < 0 ||
      o->hidden < 0 || o->context < 2 || o->context > 100000 || slots < 1 ||
      slots >= o->context || c->threads > AR_TRANSFORMER_MAX_THREADS ||
      !(o->rope_base > 0) || !(o->dropout >= 0 && o->dropout < 1)) {
    fprintf (stderr,
        "argen train: an option is out of range (sizes must be positive, "
        "--slots below --context, --threads at most %d, --dropout below 1)\n",
        AR_TRANSFORMER_MAX_THREADS);
    return 2;
  }
  config.arch = AR_TRANSFORMER_LLAMA;
  config.bidirectional = TRUE;
  config.n_layers = o->layers;
  config.n_embd = o->dim;
  config.n_head = o->heads;
  config.n_head_kv = o->kv_heads ? o->kv_heads : o->heads;
  config.n_ctx = o->context;
  config.n_ff = o->hidden ? o->hidden : (2 * 4 * o->dim / 3 + 31) / 32 * 32;
  config.n_rot = o->dim / o->heads;
  config.rope_freq_base = o->rope_base;
  config.norm_eps = 1e-5f;
  config.tied_output = o->tied;

  g_autoptr (ArTextData) text = load_text (c, o->context);
  if (text == NULL)
    return 1;
  /* the text tokens and the mask token */
  config.n_vocab = ar_vocab_get_size (text->vocab) + 1;
  /* not fail_options (): besides the shape, this checks that the training
   * text is long enough for the context — a data problem */
  if (!ar_nar_task_check (&config, text, slots, c->batch, &error))
    return fail (error);
  /* validation fills the slots from the held-out end: with fewer tokens
   * there it would score none, and say nothing */
  gsize held = text->n - text->n_train;
  if (held > 0 && held < (gsize) slots) {
    fprintf (stderr,
        "argen train: %s: the held-out end has %" G_GSIZE_FORMAT " tokens, "
        "fewer than the %d slots validation fills (a larger --val-fraction, "
        "or 0 for none)\n",
        c->data, held, slots);
    return 1;
  }
  g_autoptr (ArNarTask) task =
      ar_nar_task_new (&config, text, slots, c->batch, c->threads);
  ArRng init;
  ar_rng_init (&init, c->seed);
  ar_transformer_train_init (ar_nar_task_get_net (task), &init);
  ar_nar_task_set_dropout (task, o->dropout);

  g_autofree char *recipe =
      g_strdup_printf ("argen train nar --slots %d --layers %d --dim %d "
                       "--heads %d --kv-heads %u --hidden %u --context %d "
                       "--rope-base %g%s --dropout %g",
          slots, o->layers, o->dim, o->heads, config.n_head_kv, config.n_ff,
          o->context, o->rope_base, o->tied ? " --tied" : "", o->dropout);
  g_autofree char *what = g_strdup_printf (
      "nar (bidirectional llama), %u blocks of width %u, %u heads (%u "
      "key/value), feed-forward %u, context %u with %d slots, %d threads",
      config.n_layers, config.n_embd, config.n_head, config.n_head_kv,
      config.n_ff, config.n_ctx, slots,
      ar_transformer_train_get_n_threads (ar_nar_task_get_net (task)));
  return run_training (c, ar_nar_task_get_trainable (task), task, text, NULL,
      recipe, what);
}

/* The last @fraction of @set's images, moved into a set of their own. */
static ArImageSet *
split_tail (ArImageSet *set, double fraction)
{
  int n = (int) (set->n * fraction);
  gsize HW = (gsize) set->height * set->width;

  if (n < 1 || n >= set->n)
    return NULL;
  ArImageSet *tail = g_new0 (ArImageSet, 1);
  *tail = *set;
  tail->n = n;
  set->n -= n;
  tail->pixels = g_memdup2 (set->pixels + set->n * HW, n * HW);
  tail->labels = set->labels
      ? g_memdup2 (set->labels + set->n, n * sizeof (gint32))
      : NULL;
  tail->class_names = g_strdupv (set->class_names);
  return tail;
}

static int
train_pixelcnn (Common *c, PixelCnnOptions *o)
{
  GError *error = NULL;

  if (c->threads > AR_PIXELCNN_MAX_THREADS || o->eval_images < 0) {
    fprintf (stderr,
        "argen train: an option is out of range (--threads at most %d, "
        "--eval-images 0 or more)\n",
        AR_PIXELCNN_MAX_THREADS);
    return 2;
  }
  g_autoptr (ArImageSet) train =
      ar_image_set_new_from_path (c->data, o->labels, &error);
  if (train == NULL)
    return fail (error);
  g_autoptr (ArImageSet) test = NULL;
  if (o->test_data != NULL) {
    test = ar_image_set_new_from_path (o->test_data, o->test_labels, &error);
    if (test == NULL)
      return fail (error);
  } else if (c->val_fraction > 0) {
    test = split_tail (train, c->val_fraction);
    /* else the run went without validation, and said nothing (--keep-best
     * then kept the last model) */
    if (test == NULL) {
      fprintf (stderr,
          "argen train: %s: --val-fraction %g of %d images holds out none "
          "(a larger --val-fraction, --test-data, or 0 for no validation)\n",
          c->data, c->val_fraction, train->n);
      return 1;
    }
  }
  ArPixelCnnConfig config = {
    .width = train->width,
    .height = train->height,
    .channels = 1,
    .levels = o->levels,
    .layers = o->layers,
    .features = o->features,
    .first_kernel = o->first_kernel,
    .kernel = o->kernel,
    .output_hidden = o->output_hidden,
    .classes = o->unconditional ? 0 : train->n_classes,
  };
  if (!ar_pixelcnn_config_check (&config, &error))
    return fail_options (error);
  g_auto (GStrv) names = NULL;
  if (o->class_names != NULL && config.classes > 0) {
    names = g_strsplit (o->class_names, ",", -1);
    if (g_strv_length (names) != (guint) config.classes) {
      fprintf (stderr,
          "argen train: --class-names gives %u names; the labels have %d "
          "classes\n",
          g_strv_length (names), config.classes);
      return 2;
    }
    /* what the loader refuses (pixelcnn.class_names), before training */
    for (guint i = 0; names[i] != NULL; i++) {
      if (names[i][0] == '\0') {
        fprintf (stderr, "argen train: --class-names: name %u is empty\n", i);
        return 2;
      }
      for (guint j = 0; j < i; j++)
        if (strcmp (names[i], names[j]) == 0) {
          fprintf (stderr,
              "argen train: --class-names: \"%s\" is names %u and %u; "
              "expected distinct names\n",
              names[i], j, i);
          return 2;
        }
    }
  } else if (train->class_names != NULL) {
    names = g_strdupv (train->class_names);
  }
  /* a PNG --test-data folder's labels by name: those of the training
   * folders (or --class-names) */
  if (o->test_data != NULL &&
      !argen_image_set_match_classes (test, o->test_data,
          (const char *const *) (train->class_names ? train->class_names
                                                    : names),
          config.classes, &error))
    return fail (error);
  if (test != NULL &&
      (test->width != train->width || test->height != train->height ||
          (config.classes > 0 &&
              (test->labels == NULL || test->n_classes > config.classes)))) {
    /* (a split of --data always matches: this is --test-data) */
    fprintf (stderr,
        "argen train: %s: the held-out images must be %d × %d like the "
        "training images%s; found %d × %d%s\n",
        o->test_data, train->width, train->height,
        config.classes > 0 ? ", with labels below the training labels' count"
                           : "",
        test->width, test->height,
        config.classes > 0 && test->labels == NULL ? " without labels" : "");
    return 1;
  }
  g_autoptr (ArPixelCnnTask) task = ar_pixelcnn_task_new (&config, train, test,
      (const char *const *) names, c->batch, c->threads);
  ar_pixelcnn_task_set_eval_images (task, o->eval_images);
  ArRng init;
  ar_rng_init (&init, c->seed);
  ar_pixelcnn_train_init (ar_pixelcnn_task_get_net (task), &init);

  g_autofree char *recipe = g_strdup_printf (
      "argen train pixelcnn --layers %d --features %d --first-kernel %d "
      "--kernel %d --output-hidden %d --levels %d%s --eval-images %d",
      o->layers, o->features, o->first_kernel, o->kernel, o->output_hidden,
      o->levels, o->unconditional ? " --unconditional" : "", o->eval_images);
  g_autofree char *what = g_strdup_printf ("Gated PixelCNN, %d layers of %d "
                                           "features, kernels %d and %d, %d "
                                           "levels, %d classes, %d threads",
      config.layers, config.features, config.first_kernel, config.kernel,
      config.levels, config.classes,
      ar_pixelcnn_train_get_n_threads (ar_pixelcnn_task_get_net (task)));
  g_autofree char *data_line =
      g_strdup_printf ("%d training / %d held-out images of %d × %d", train->n,
          test ? test->n : 0, train->width, train->height);
  return run_training (c, ar_pixelcnn_task_get_trainable (task), task, NULL,
      data_line, recipe, what);
}

/* Targets (every sample after a file's first) in @corpus's training
 * files, what the steps draw their windows from, or in its held-out ones,
 * what validation scores. */
static guint64
corpus_targets (ArWaveNetCorpus *corpus, gboolean held_out)
{
  guint64 n = 0;

  for (guint i = 0; i < ar_wavenet_corpus_get_n_files (corpus); i++) {
    const ArWaveNetFile *f = ar_wavenet_corpus_get_file (corpus, i);

    if (f->held_out == held_out && f->n >= 2)
      n += f->n - 1;
  }
  return n;
}

/* Seconds of audio in @corpus's training or held-out files. */
static double
corpus_minutes (const ArWaveNetCorpus *corpus, gboolean held_out, int rate)
{
  return ar_wavenet_corpus_count_samples (corpus, held_out) / (60.0 * rate);
}

static int
train_wavenet (Common *c, WaveNetOptions *o)
{
  GError *error = NULL;
  ArWaveNetConfig config = {
    .sample_rate = o->rate,
    .quantization = 256,
    .residual = o->residual,
    .gate = o->gate,
    .skip = o->skip,
    .output = o->output,
    .stacks = o->stacks,
    .layers_per_stack = o->layers_per_stack,
    .mel = AR_MEL_PARAMS_INIT,
    .pre_emphasis = (float) o->pre_emphasis,
    .highpass = (float) o->highpass,
  };
  gboolean mel;

  if (strcmp (o->condition, "none") == 0) {
    mel = FALSE;
  } else if (strcmp (o->condition, "mel") == 0) {
    mel = TRUE;
  } else {
    fprintf (stderr, "argen train: unknown condition '%s' (none, mel)\n",
        o->condition);
    return 2;
  }
  if (o->rate < 1000 || o->rate > 96000 || o->window < 0 ||
      o->holdout_every < 0 || c->threads > AR_WAVENET_TRAIN_MAX_THREADS ||
      o->stacks < 1 || o->layers_per_stack < 1 || o->layers_per_stack > 16) {
    fprintf (stderr,
        "argen train: an option is out of range (--rate 1000 … 96000, "
        "--layers-per-stack 1 … 16, --threads at most %d)\n",
        AR_WAVENET_TRAIN_MAX_THREADS);
    return 2;
  }
  if (!(o->pre_emphasis >= 0.0 &&
          o->pre_emphasis <= AR_WAVENET_MAX_PRE_EMPHASIS)) {
    fprintf (stderr,
        "argen train: --pre-emphasis %g is out of range (0 … %g)\n",
        o->pre_emphasis, (double) AR_WAVENET_MAX_PRE_EMPHASIS);
    return 2;
  }
  if (!(o->highpass >= 0.0 && o->highpass < o->rate / 2.0)) {
    fprintf (stderr,
        "argen train: --highpass %g is out of range (0 = none, or a cutoff "
        "under half the sample rate, %g Hz)\n",
        o->highpass, o->rate / 2.0);
    return 2;
  }
  if (mel) {
    config.cond_channels = o->cond_channels;
    config.mel.sample_rate = o->rate;
    config.mel.n_mels = o->n_mels;
    config.mel.n_fft = o->n_fft;
    config.mel.win_length = o->win_length;
    config.mel.hop = o->hop;
    config.mel.f_max = o->rate / 2.0f;
  }
  gsize rf = ar_wavenet_train_receptive_field (&config);
  int T = o->window > 0 ? o->window : (int) (4 * rf);
  if (!ar_wavenet_train_check (&config, T, c->batch, &error))
    return fail_options (error);

  g_autoptr (GPtrArray) files = ar_audio_list_files (c->data, &error);
  if (files == NULL)
    return fail (error);
  g_autoptr (GPtrArray) train = NULL;
  g_autoptr (GPtrArray) held = NULL;
  ar_audio_split_holdout (files, o->holdout_every, &train, &held);
  /* files 0, N, 2N, … are held out: every file when N is 1, and the only
   * one of a --data naming one file */
  if (train->len == 0) {
    fprintf (stderr,
        "argen train: %s: no training files: --holdout-every %d holds out "
        "all %u (files 0, %d, %d, … of the sorted list; %s)\n",
        c->data, o->holdout_every, held->len, o->holdout_every,
        2 * o->holdout_every, held->len > 1
        ? "a larger --holdout-every, or 0 for none"
        : "--holdout-every 0 for none: the first file is always held out");
    return 1;
  }
  g_autoptr (ArWaveNetCorpus) corpus = ar_wavenet_corpus_new (train, held,
      o->rate, mel ? &config.mel : NULL, config.pre_emphasis, &error);
  if (corpus == NULL)
    return fail (error);
  if (corpus_targets (corpus, FALSE) == 0) {
    fprintf (stderr,
        "argen train: %s: nothing to learn from: no training file (of %u) "
        "has the 2 samples a prediction needs\n",
        c->data, train->len);
    return 1;
  }
  /* else validation would score nothing, and say nothing */
  if (held->len > 0 && corpus_targets (corpus, TRUE) == 0) {
    fprintf (stderr,
        "argen train: %s: nothing to validate on: no held-out file (of %u) "
        "has the 2 samples a prediction needs (--holdout-every 0 for none)\n",
        c->data, held->len);
    return 1;
  }
  g_auto (GStrv) names = NULL;
  if (o->classes != NULL) {
    if (!ar_wavenet_corpus_assign_classes (corpus, o->classes, &names, &error))
      return fail (error);
    config.global_classes = (int) g_strv_length (names);
    /* the data decide the number of classes, which a model file bounds:
     * a failure of the data, not of the options */
    if (!ar_wavenet_train_check (&config, T, c->batch, &error))
      return fail (error);
  }

  g_autoptr (ArWaveNetTask) task = ar_wavenet_task_new (&config, corpus, T,
      c->batch, c->threads, (const char *const *) names);
  ArRng init;
  ar_rng_init (&init, c->seed);
  ar_wavenet_task_init (task, &init);

  g_autofree char *cond = mel
      ? g_strdup_printf (" --condition mel --n-mels %d --n-fft %d "
                         "--win-length %d --hop %d --cond-channels %d",
            o->n_mels, o->n_fft, o->win_length, o->hop, o->cond_channels)
      : g_strdup ("");
  g_autofree char *classes = o->classes
      ? g_strdup_printf (" --classes %s", o->classes)
      : g_strdup ("");
  g_autofree char *emphasis = config.pre_emphasis > 0.0f
      ? g_strdup_printf (" --pre-emphasis %g", (double) config.pre_emphasis)
      : g_strdup ("");
  g_autofree char *highpass = config.highpass > 0.0f
      ? g_strdup_printf (" --highpass %g", (double) config.highpass)
      : g_strdup ("");
  g_autofree char *recipe = g_strdup_printf (
      "argen train wavenet --rate %d --residual %d --gate %d --skip %d "
      "--output %d --stacks %d --layers-per-stack %d --window %d "
      "--holdout-every %d%s%s%s%s",
      o->rate, o->residual, o->gate, o->skip, o->output, o->stacks,
      o->layers_per_stack, T, o->holdout_every, cond, emphasis, highpass,
      classes);
  g_autofree char *what =
      g_strdup_printf ("WaveNet, %d × %d layers, R %d, G %d, S %d, O %d, "
                       "receptive field %" G_GSIZE_FORMAT
                       " samples, %s%s%s, %d threads",
          o->stacks, o->layers_per_stack, o->residual, o->gate, o->skip,
          o->output, rf, mel ? "mel-conditioned" : "unconditional",
          config.global_classes > 0 ? ", global classes" : "",
          config.pre_emphasis > 0.0f ? ", pre-emphasised" : "",
          ar_wavenet_train_get_n_threads (ar_wavenet_task_get_net (task)));
  g_autofree char *class_list = names ? g_strjoinv (",", names) : NULL;
  g_autofree char *data_line = g_strdup_printf (
      "%u training files (%.1f min) / %u held-out files (%.1f min) at %d Hz, "
      "%d windows of %d samples a step scoring up to %" G_GSIZE_FORMAT
      " each%s%s",
      train->len, corpus_minutes (corpus, FALSE, o->rate), held->len,
      corpus_minutes (corpus, TRUE, o->rate), o->rate, c->batch, T, T - rf + 1,
      names ? ", classes " : "", names ? class_list : "");
  return run_training (c, ar_wavenet_task_get_trainable (task), task, NULL,
      data_line, recipe, what);
}

int
argen_cmd_train (int argc, char **argv)
{
  /* string options stay NULL unless given (GOption does not free a default
   * it replaces); their defaults are filled in after parsing */
  Common c = {
    .steps = 2000,
    .warmup = UNSET_WARMUP,
    .eval_every = 200,
    .checkpoint_every = 200,
    .seed = 1,
    .lr = 2e-3,
    .lr_min = UNSET_LR_MIN,
    .weight_decay = 0.01,
    .clip = 1.0,
    .val_fraction = 0.1,
  };
  RnnOptions rnn = { NULL, 1, 64, 512, 128, 0 };
  PixelCnnOptions pcnn = {
    .layers = 8,
    .features = 32,
    .first_kernel = 7,
    .kernel = 3,
    .output_hidden = 64,
    .levels = 256,
  };
  TransformerOptions tf = {
    .layers = 4,
    .heads = 4,
    .dim = 128,
    .context = 128,
    .rope_base = 10000.0,
  };
  WaveNetOptions wn = {
    .rate = 8000,
    .residual = 32,
    .gate = 64,
    .skip = 64,
    .output = 128,
    .stacks = 2,
    .layers_per_stack = 8,
    .holdout_every = 20,
    .n_mels = 80,
    .n_fft = 512,
    .win_length = 400,
    .hop = 80,
    .cond_channels = 64,
  };
  GOptionEntry entries[] = {
    { "data", 'd', 0, G_OPTION_ARG_FILENAME, &c.data,
        "Training data: text (UTF-8); pixelcnn: IDX images "
        "(.gz or plain) or a folder of PNGs; wavenet: a folder of audio "
        "files (recursively), a glob or one file",
        "PATH" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &c.out, "Model file to write",
        "M.gguf" },
    { "vocab", 0, 0, G_OPTION_ARG_FILENAME, &c.vocab,
        "Vocabulary: char or byte (default char)", "TYPE" },
    { "batch", 0, 0, G_OPTION_ARG_INT, &c.batch,
        "Sequences per step (default 32; wavenet: windows, 8)", "B" },
    { "steps", 0, 0, G_OPTION_ARG_INT64, &c.steps,
        "Optimisation steps (default 2000)", "N" },
    { "lr", 0, 0, G_OPTION_ARG_DOUBLE, &c.lr,
        "Peak learning rate (default 2e-3)", "LR" },
    { "lr-min", 0, 0, G_OPTION_ARG_DOUBLE, &c.lr_min,
        "Final learning rate of the cosine schedule, at most --lr (default "
        "1e-4, or --lr when that is less)", "LR" },
    { "warmup", 0, 0, G_OPTION_ARG_INT64, &c.warmup,
        "Warm-up steps, below --steps (default 100, or a tenth of --steps "
        "when that is less)", "N" },
    { "weight-decay", 0, 0, G_OPTION_ARG_DOUBLE, &c.weight_decay,
        "AdamW weight decay (default 0.01)", "W" },
    { "clip", 0, 0, G_OPTION_ARG_DOUBLE, &c.clip,
        "Gradient norm clipping, 0 = off (default 1)", "NORM" },
    { "val-fraction", 0, 0, G_OPTION_ARG_DOUBLE, &c.val_fraction,
        "Held-out fraction at the end of the data (default 0.1)", "F" },
    { "eval-every", 0, 0, G_OPTION_ARG_INT64, &c.eval_every,
        "Steps between validations (default 200)", "N" },
    { "checkpoint", 0, 0, G_OPTION_ARG_FILENAME, &c.checkpoint,
        "Checkpoint file (default OUT.ckpt)", "FILE" },
    { "checkpoint-every", 0, 0, G_OPTION_ARG_INT64, &c.checkpoint_every,
        "Steps between checkpoints (default 200)", "N" },
    { "resume", 0, 0, G_OPTION_ARG_NONE, &c.resume,
        "Continue from the checkpoint", NULL },
    { "keep-best", 0, 0, G_OPTION_ARG_NONE, &c.keep_best,
        "Write OUT at each new lowest validation loss, so it ends as the "
        "best-validated model rather than the last",
        NULL },
    { "log", 0, 0, G_OPTION_ARG_FILENAME, &c.log, "CSV log (default OUT.csv)",
        "FILE" },
    { "plot", 0, 0, G_OPTION_ARG_FILENAME, &c.plot,
        "PNG plot of the curves (default OUT.png)", "FILE" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &c.seed, "Random seed (default 1)",
        "N" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &c.threads,
        "Threads, 0 = one per processor (default 0).  rnn: OpenBLAS's threads "
        "(results depend on them); the other families: threads taking parts "
        "of each batch, at most 16 (results do not depend on them)",
        "N" },
    { "name", 0, 0, G_OPTION_ARG_FILENAME, &c.name, "general.name of the model",
        "TEXT" },
    { "description", 0, 0, G_OPTION_ARG_FILENAME, &c.description,
        "general.description (data, licence, recipe)", "TEXT" },
    { NULL }
  };
  static const char *const families[] = { "rnn", "transformer", "nar",
    "pixelcnn", "wavenet" };
  gint nar_slots = 32;
  const char *family = argc >= 2 && argv[1][0] != '-' ? argv[1] : NULL;
  int ret = 2;

  /* the family's default, so that --batch 0 is refused like any size */
  c.batch = family != NULL && strcmp (family, "wavenet") == 0 ? 8 : 32;

  g_autoptr (GOptionContext) ctx =
      g_option_context_new ("FAMILY — train a model");
  g_option_context_set_summary (ctx,
      "FAMILY (first): rnn, transformer, nar, pixelcnn or wavenet.  Each "
      "family's options are listed by --help-rnn, --help-transformer, "
      "--help-nar, --help-pixelcnn and --help-wavenet.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  /* The families name some options alike (--layers, --hidden): only the
   * chosen family's group takes part in parsing; without a family (for
   * --help) all are listed. */
  if (family == NULL || strcmp (family, "rnn") == 0)
    g_option_context_add_group (ctx, rnn_group (&rnn));
  if (family == NULL || strcmp (family, "transformer") == 0)
    g_option_context_add_group (ctx, transformer_group (&tf));
  if (family == NULL || strcmp (family, "nar") == 0)
    g_option_context_add_group (ctx, nar_group (&tf, &nar_slots));
  if (family == NULL || strcmp (family, "pixelcnn") == 0)
    g_option_context_add_group (ctx, pixelcnn_group (&pcnn));
  if (family == NULL || strcmp (family, "wavenet") == 0)
    g_option_context_add_group (ctx, wavenet_group (&wn));
  GError *error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    fprintf (stderr, "argen train: %s\n", error->message);
    g_error_free (error);
    goto out;
  }
  /* the string options are read as bytes (G_OPTION_ARG_FILENAME) and
   * converted here, so that a message names the one that is not text */
  if (!argen_option_to_utf8 ("--vocab", &c.vocab) ||
      !argen_option_to_utf8 ("--name", &c.name) ||
      !argen_option_to_utf8 ("--description", &c.description) ||
      !argen_option_to_utf8 ("--cell", &rnn.cell) ||
      !argen_option_to_utf8 ("--arch", &tf.arch) ||
      !argen_option_to_utf8 ("--eval", &tf.eval) ||
      !argen_option_to_utf8 ("--class-names", &pcnn.class_names) ||
      !argen_option_to_utf8 ("--condition", &wn.condition) ||
      !argen_option_to_utf8 ("--classes", &wn.classes))
    goto out;
  if (c.vocab == NULL)
    c.vocab = g_strdup ("char");
  if (rnn.cell == NULL)
    rnn.cell = g_strdup ("gru");
  if (tf.arch == NULL)
    tf.arch = g_strdup ("llama");
  if (tf.eval == NULL)
    tf.eval = g_strdup ("windows");
  if (wn.condition == NULL)
    wn.condition = g_strdup ("none");
  if (family != NULL && argc > 2 && strcmp (argv[1], family) == 0) {
    fprintf (stderr,
        "argen train: unexpected argument '%s' after the family %s\n", argv[2],
        family);
    goto out;
  }
  if (family == NULL || argc != 2) {
    fprintf (stderr,
        "argen train: give the family first, then options: argen train "
        "%s|%s|%s|%s|%s --data PATH --out M.gguf ...\n",
        families[0], families[1], families[2], families[3], families[4]);
    goto out;
  }
  if (c.data == NULL || c.out == NULL) {
    fprintf (stderr, "argen train: --data and --out are required\n");
    goto out;
  }
  if (c.warmup == UNSET_WARMUP)
    c.warmup = MIN (DEFAULT_WARMUP, c.steps / 10);
  if (c.lr_min == UNSET_LR_MIN)
    c.lr_min = MIN (DEFAULT_LR_MIN, c.lr);
  if (c.batch < 1 || c.batch > 100000 || c.steps < 1 || c.warmup < 0 ||
      c.eval_every < 0 || c.checkpoint_every < 0 || !(c.lr > 0) ||
      !(c.lr_min >= 0) || !(c.weight_decay >= 0) || !(c.clip >= 0) ||
      c.seed < 0 || c.threads < 0 ||
      !(c.val_fraction >= 0 && c.val_fraction < 1)) {
    fprintf (stderr,
        "argen train: an option is out of range (sizes and steps must be "
        "positive)\n");
    goto out;
  }
  /* The learning rate climbs to --lr over the warm-up and reaches it at step
   * --warmup (ar_lr_warmup_cosine ()): a warm-up as long as the run never
   * gets there, and the run trains at a fraction of the rate it was given
   * (--steps 3 --warmup 100 peaked at 3 % of --lr).  The default is always
   * below --steps. */
  if (c.warmup >= c.steps) {
    fprintf (stderr,
        "argen train: --warmup %" G_GINT64_FORMAT
        " is not below --steps %" G_GINT64_FORMAT
        ": the learning rate would never reach --lr %g (give "
        "a --warmup below --steps, 0 for none)\n",
        c.warmup, c.steps, c.lr);
    goto out;
  }
  /* the cosine falls from --lr to --lr-min: a floor above the peak would
   * raise the rate all through the run instead */
  if (c.lr_min > c.lr) {
    fprintf (stderr,
        "argen train: --lr-min %g is above --lr %g: the schedule would raise "
        "the learning rate instead of lowering it (give an --lr-min at most "
        "--lr)\n", c.lr_min, c.lr);
    goto out;
  }
  if (strcmp (family, "rnn") == 0)
    ret = train_rnn (&c, &rnn);
  else if (strcmp (family, "transformer") == 0)
    ret = train_transformer (&c, &tf);
  else if (strcmp (family, "nar") == 0)
    ret = train_nar (&c, &tf, nar_slots);
  else if (strcmp (family, "pixelcnn") == 0)
    ret = train_pixelcnn (&c, &pcnn);
  else if (strcmp (family, "wavenet") == 0)
    ret = train_wavenet (&c, &wn);
  else
    fprintf (stderr,
        "argen train: unknown family '%s'; available: %s, %s, %s, %s, %s\n",
        family, families[0], families[1], families[2], families[3],
        families[4]);
out:
  common_clear (&c);
  g_free (rnn.cell);
  g_free (tf.arch);
  g_free (tf.eval);
  g_free (pcnn.labels);
  g_free (pcnn.test_data);
  g_free (pcnn.test_labels);
  g_free (pcnn.class_names);
  g_free (wn.condition);
  g_free (wn.classes);
  return ret;
}
