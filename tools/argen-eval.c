/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* argen-eval.c — `argen eval MODEL --data FILE`: the model's loss on the
 * held-out end of a text file, in nats (and bits) per token.  The file's
 * general.architecture picks the family: "rnn" (streams with carried state,
 * or windows from a zero state), "llama" and "gpt" (windows of the context
 * from an empty context, or sliding windows scoring their second half),
 * "nar" (every held-out token as a slot of a pass with all N slots masked
 * after the text before it: Mask-Predict's first iteration, as validation
 * in training), "pixelcnn" (bits per dimension of the images of --data, IDX with
 * --labels, or a folder of PNGs), "wavenet" (bits per sample over every
 * sample of the held-out audio files of --data: the split of training,
 * every --holdout-every-th file of the sorted list; of the pre-emphasised
 * signal's classes for a model with wavenet.pre_emphasis). */
#include "argen.h"
#include "data/ar-audio.h"
#include "nar/ar-nar-train.h"
#include "nar/ar-nar.h"
#include "pixelcnn/ar-pixelcnn-train.h"
#include "rnn/ar-rnn.h"
#include "transformer/ar-transformer-train.h"
#include "wavenet/ar-wavenet-train.h"

#include <stdio.h>
#include <string.h>

typedef struct
{
  const char *path, *data, *labels;
  double val_fraction;
  gboolean all, sliding;
  int window, batch, threads;
  int holdout_every;   /* wavenet */
  const char *classes; /* wavenet */
} EvalOptions;

/* The text of @o->data tokenised with the model's vocabulary. */
static ArTextData *
load_text (const EvalOptions *o, const ArGguf *gguf, GError **error)
{
  g_autoptr (ArVocab) vocab = ar_vocab_new_from_gguf (gguf, error);
  g_autofree char *contents = NULL;
  gsize len;
  ArTextData *text;

  if (vocab == NULL || !g_file_get_contents (o->data, &contents, &len, error))
    return NULL;
  text = ar_text_data_new_with_vocab (contents, len, vocab,
      o->all ? 0 : o->val_fraction, error);
  if (text == NULL) {
    g_prefix_error (error, "%s: ", o->data);
    return NULL;
  }
  /* one token to predict after another, at least */
  if (text->n - (o->all ? 0 : text->n_train) < 2) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "%s: %s has %" G_GSIZE_FORMAT " tokens; scoring needs at least 2%s",
        o->data, o->all ? "the text" : "the held-out end",
        text->n - (o->all ? 0 : text->n_train),
        o->all ? "" : " (a longer file, or a larger --val-fraction)");
    ar_text_data_free (text);
    return NULL;
  }
  return text;
}

static void
print_result (const EvalOptions *o, const ArTextData *text, double nats,
    guint64 n, const char *mode, double seconds)
{
  gsize from = o->all ? 0 : text->n_train;
  const char *unit =
      ar_vocab_get_type (text->vocab) == AR_VOCAB_BYTE ? "byte" : "char";

  if (ar_vocab_get_type (text->vocab) == AR_VOCAB_SPM)
    unit = "token";
  printf ("%s on %s (%s, %" G_GSIZE_FORMAT " tokens from %" G_GSIZE_FORMAT "): "
          "%.4f nats/%s (%.4f bits/%s) over %" G_GUINT64_FORMAT
          " predictions, %s, %.1f s\n",
      o->path, o->data, o->all ? "whole file" : "held-out end", text->n - from,
      from, nats, unit, nats / G_LN2, unit, n, mode, seconds);
}

static gboolean
evaluate_rnn (const EvalOptions *o, const ArGguf *gguf, GError **error)
{
  ArRnnConfig config;
  g_autoptr (ArTextData) text = NULL;

  if (o->sliding) {
    g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
        "%s: --sliding is for transformer models (an rnn carries its state "
        "instead)",
        o->path);
    return FALSE;
  }
  if (!ar_rnn_config_from_gguf (&config, gguf, error) ||
      !(text = load_text (o, gguf, error)))
    return FALSE;

  int T = o->window > 0 ? o->window : 128;
  gsize from = o->all ? 0 : text->n_train;
  /* contiguous streams: no more of them than there are targets, as each
   * stream scores an equal share and the remainder is left out */
  int B = o->window > 0 ? o->batch
                        : (int) MIN ((gsize) o->batch, text->n - from - 1);
  g_autoptr (ArRnnTask) task = ar_rnn_task_new (&config, text, T, B, o->window);
  if (!ar_rnn_train_load_weights (ar_rnn_task_get_net (task), gguf, error))
    return FALSE;
  guint64 n = 0;
  g_autoptr (GTimer) timer = g_timer_new ();
  double nats = ar_rnn_task_evaluate (task, from, text->n, o->window, &n);
  g_autofree char *mode = o->window > 0
      ? g_strdup_printf ("windows of %d from a zero state", o->window)
      : g_strdup ("contiguous streams with carried state");
  print_result (o, text, nats, n, mode, g_timer_elapsed (timer, NULL));
  return TRUE;
}

static gboolean
evaluate_transformer (const EvalOptions *o, const ArGguf *gguf, GError **error)
{
  ArTransformerConfig config;
  g_autoptr (ArTextData) text = NULL;

  if (!ar_transformer_config_from_gguf (&config, gguf, error) ||
      !(text = load_text (o, gguf, error)))
    return FALSE;
  if (o->window > 0 && (guint) o->window > config.n_ctx) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "%s: --window %d is longer than the model's context (%u tokens)",
        o->path, o->window, config.n_ctx);
    return FALSE;
  }
  /* windows of the model's context unless asked for shorter ones; never
   * longer than the text */
  int T = o->window > 0 ? o->window : (int) MIN (config.n_ctx, 1u << 16);
  gsize from = o->all ? 0 : text->n_train;
  T = (int) MIN ((gsize) T, MAX (text->n - from, 2) - 1);
  if (!ar_transformer_train_check (&config, T, o->batch, error))
    return FALSE;
  ArTransformerEvalMode mode =
      o->sliding ? AR_TRANSFORMER_EVAL_SLIDING : AR_TRANSFORMER_EVAL_WINDOWS;
  g_autoptr (ArTransformerTask) task =
      ar_transformer_task_new (&config, text, T, o->batch, o->threads, mode);
  if (!ar_transformer_train_load_weights (ar_transformer_task_get_net (task),
          gguf, error))
    return FALSE;
  guint64 n = 0;
  g_autoptr (GTimer) timer = g_timer_new ();
  double nats = ar_transformer_task_evaluate (task, from, text->n, mode, &n);
  /* after the first window (scored whole), each scores the S targets it
   * advanced by (ar_transformer_task_evaluate ()) */
  int S = MAX (T / 2, 1);
  g_autofree char *desc = o->sliding
      ? g_strdup_printf ("windows of %d advancing by %d, each after the first "
                         "scoring its last %d",
            T, S, S)
      : g_strdup_printf ("windows of %d, each from an empty context", T);
  print_result (o, text, nats, n, desc, g_timer_elapsed (timer, NULL));
  return TRUE;
}

static gboolean
evaluate_pixelcnn (const EvalOptions *o, const ArGguf *gguf, GError **error)
{
  ArPixelCnnConfig config;

  if (!ar_pixelcnn_config_from_gguf (&config, gguf, error))
    return FALSE;
  g_autoptr (ArImageSet) set =
      ar_image_set_new_from_path (o->data, o->labels, error);
  if (set == NULL)
    return FALSE;
  if (set->width != config.width || set->height != config.height) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "%s: images of %d × %d; the model's are %d × %d", o->data, set->width,
        set->height, config.width, config.height);
    return FALSE;
  }
  /* a PNG folder's labels by name: pixelcnn.class_names (else the classes
   * are "0", "1", …) */
  const char *const *names = NULL;
  guint64 n_names = 0;
  if (ar_gguf_has_key (gguf, "pixelcnn.class_names") &&
      !ar_gguf_get_string_array (gguf, "pixelcnn.class_names", &names, NULL,
          &n_names, error))
    return FALSE;
  if (!argen_image_set_match_classes (set, o->data,
          n_names == (guint64) config.classes ? names : NULL, config.classes,
          error))
    return FALSE;
  if (config.classes > 0 &&
      (set->labels == NULL || set->n_classes > config.classes)) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "%s: a class-conditional model (%d classes) needs labels below %d "
        "(--labels FILE, or PNG sub-folders)",
        o->data, config.classes, config.classes);
    return FALSE;
  }
  if (o->threads > AR_PIXELCNN_MAX_THREADS) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "--threads is at most %d for pixelcnn", AR_PIXELCNN_MAX_THREADS);
    return FALSE;
  }
  g_autoptr (ArPixelCnnTask) task =
      ar_pixelcnn_task_new (&config, set, NULL, NULL, o->batch, o->threads);
  if (!ar_pixelcnn_train_load_weights (ar_pixelcnn_task_get_net (task), gguf,
          error))
    return FALSE;
  g_autoptr (GTimer) timer = g_timer_new ();
  double bits = ar_pixelcnn_task_evaluate (task, set, 0, set->n);
  double s = g_timer_elapsed (timer, NULL);
  printf ("%s on %s: %.4f bits/dim (%.4f nats/dim) over %d images of %d × %d, "
          "%.1f s (%.0f images/s)\n",
      o->path, o->data, bits, bits * G_LN2, set->n, set->width, set->height, s,
      set->n / MAX (s, 1e-9));
  return TRUE;
}

static gboolean
evaluate_wavenet (const EvalOptions *o, ArGguf *gguf, GError **error)
{
  g_autoptr (ArWaveNet) wn = ar_wavenet_new_from_gguf (gguf, error);
  if (wn == NULL)
    return FALSE;
  const ArWaveNetConfig *config = ar_wavenet_get_config (wn);
  g_autoptr (GPtrArray) files = ar_audio_list_files (o->data, error);
  if (files == NULL)
    return FALSE;
  g_autoptr (GPtrArray) train = NULL;
  g_autoptr (GPtrArray) held = NULL;
  if (o->all)
    held = g_ptr_array_ref (files);
  else
    ar_audio_split_holdout (files, o->holdout_every, &train, &held);
  if (held->len == 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "%s: no held-out file among %u (file i is held out when i %% %d == "
        "0)",
        o->data, files->len, o->holdout_every);
    return FALSE;
  }
  g_autoptr (ArWaveNetCorpus) corpus = ar_wavenet_corpus_new (NULL, held,
      config->sample_rate, config->cond_channels > 0 ? &config->mel : NULL,
      config->pre_emphasis, error);
  if (corpus == NULL)
    return FALSE;
  if (config->global_classes > 0) {
    g_autofree char **names = g_new0 (char *, config->global_classes + 1);

    if (o->classes == NULL) {
      g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
          "%s: a model with %d global classes needs --classes (dirs or a "
          "mapping file)",
          o->path, config->global_classes);
      return FALSE;
    }
    for (int i = 0; i < config->global_classes; i++)
      names[i] = (char *) ar_wavenet_get_class_name (wn, i);
    if (!ar_wavenet_corpus_assign_classes (corpus, o->classes, &names, error))
      return FALSE;
  }
  /* long windows: less of each is receptive-field context */
  gsize rf = ar_wavenet_receptive_field (wn);
  int T = o->window > 0 ? o->window : (int) MAX (8 * rf, 8192);
  if (!ar_wavenet_train_check (config, T, o->batch, error))
    return FALSE;
  g_autoptr (ArWaveNetTask) task =
      ar_wavenet_task_new (config, corpus, T, o->batch, o->threads, NULL);
  if (!ar_wavenet_train_load_weights (ar_wavenet_task_get_net (task), gguf,
          error))
    return FALSE;
  g_autoptr (GTimer) timer = g_timer_new ();
  guint64 n = 0;
  double bits = ar_wavenet_task_evaluate (task, TRUE, &n);
  double s = g_timer_elapsed (timer, NULL);
  if (n == 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "%s: nothing to score: no held-out file (of %u) has the 2 samples a "
        "prediction needs",
        o->data, held->len);
    return FALSE;
  }
  g_autofree char *which = o->all
      ? g_strdup ("all files")
      : g_strdup_printf ("1 file in %d held out", o->holdout_every);
  printf ("%s on %s (%s: %u of %u files, %.1f min): %.4f bits/sample (%.4f "
          "nats) over %" G_GUINT64_FORMAT " predictions, windows of %d, %.1f "
          "s (%.0f samples/s)\n",
      o->path, o->data, which, held->len, files->len,
      ar_wavenet_corpus_count_samples (corpus, TRUE) /
          (60.0 * config->sample_rate),
      bits, bits * G_LN2, n, T, s, n / MAX (s, 1e-9));
  /* the classes are those of e_t = s_t − α s_{t−1}: compare with
   * `argen baselines --pre-emphasis α`, not with the plain signal's */
  if (config->pre_emphasis > 0.0f)
    printf ("(bits per sample of the pre-emphasised signal's µ-law classes, "
            "wavenet.pre_emphasis = %g; its baselines: argen baselines "
            "--pre-emphasis %g)\n",
        (double) config->pre_emphasis, (double) config->pre_emphasis);
  return TRUE;
}

static gboolean
evaluate_nar (const EvalOptions *o, ArGguf *gguf, GError **error)
{
  g_autoptr (ArNar) nar = NULL;
  g_autoptr (ArTextData) text = NULL;

  if (o->sliding || o->window > 0 || o->all) {
    g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
        "%s: a nar model is scored as in training only (no --sliding, "
        "--window or --all)",
        o->path);
    return FALSE;
  }
  /* the loader's checks first: they name what is wrong with the file */
  if (!(nar = ar_nar_new_from_gguf (gguf, error)) ||
      !(text = load_text (o, gguf, error)))
    return FALSE;
  const ArTransformerConfig *config =
      ar_transformer_get_config (ar_nar_get_transformer (nar));
  int slots = (int) ar_nar_get_slots (nar);
  if (!ar_nar_task_check (config, text, slots, o->batch, error))
    return FALSE;
  /* a pass fills all the slots: the held-out end must hold that many */
  if (text->n - text->n_train < (gsize) slots) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "%s: the held-out end has %" G_GSIZE_FORMAT " tokens, fewer than the "
        "model's %d slots (a longer file, or a larger --val-fraction)",
        o->data, text->n - text->n_train, slots);
    return FALSE;
  }
  g_autoptr (ArNarTask) task =
      ar_nar_task_new (config, text, slots, o->batch, o->threads);
  if (!ar_transformer_train_load_weights (ar_nar_task_get_net (task), gguf,
          error))
    return FALSE;
  guint64 n = 0;
  g_autoptr (GTimer) timer = g_timer_new ();
  double nats = ar_nar_task_evaluate (task, &n);
  g_autofree char *desc =
      g_strdup_printf ("slots of %d, all masked, after "
                       "%u tokens of context (Mask-Predict's first iteration)",
          slots, config->n_ctx - slots);
  print_result (o, text, nats, n, desc, g_timer_elapsed (timer, NULL));
  return TRUE;
}

static gboolean
evaluate (const EvalOptions *o, GError **error)
{
  g_autoptr (ArGguf) gguf = ar_gguf_new_from_file (o->path, error);
  const char *arch = NULL;

  if (gguf == NULL ||
      !ar_gguf_get_string (gguf, "general.architecture", &arch, error))
    return FALSE;
  if (strcmp (arch, "rnn") == 0)
    return evaluate_rnn (o, gguf, error);
  if (strcmp (arch, "llama") == 0 || strcmp (arch, "gpt") == 0)
    return evaluate_transformer (o, gguf, error);
  if (strcmp (arch, "nar") == 0)
    return evaluate_nar (o, gguf, error);
  if (strcmp (arch, "pixelcnn") == 0)
    return evaluate_pixelcnn (o, gguf, error);
  if (strcmp (arch, "wavenet") == 0)
    return evaluate_wavenet (o, gguf, error);
  g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
      "%s: architecture \"%s\": argen eval handles rnn, llama, gpt, nar, "
      "pixelcnn and wavenet models",
      o->path, arch);
  return FALSE;
}

int
argen_cmd_eval (int argc, char **argv)
{
  g_autofree char *data = NULL, *labels = NULL, *classes = NULL;
  gdouble val_fraction = 0.1;
  gint window = 0, batch = 32, threads = 0, holdout_every = 20;
  gboolean all = FALSE, sliding = FALSE;
  GOptionEntry entries[] = { { "data", 'd', 0, G_OPTION_ARG_FILENAME, &data,
                                 "Text file; pixelcnn: IDX images or a folder "
                                 "of PNGs (all of it is scored); wavenet: "
                                 "audio files (a folder, a glob or one file)",
                                 "FILE" },
    { "labels", 0, 0, G_OPTION_ARG_FILENAME, &labels,
        "pixelcnn: IDX labels of the --data images", "FILE" },
    { "holdout-every", 0, 0, G_OPTION_ARG_INT, &holdout_every,
        "wavenet: every N-th file of the sorted list is held out (files 0, N, "
        "2N, …), as in training (default 20)",
        "N" },
    { "classes", 0, 0, G_OPTION_ARG_FILENAME, &classes,
        "wavenet with global classes: \"dirs\" or a file of lines \"NAME "
        "CLASS\", as in training",
        "dirs|FILE" },
    { "val-fraction", 0, 0, G_OPTION_ARG_DOUBLE, &val_fraction,
        "Held-out fraction at the end of the data (default 0.1)", "F" },
    { "all", 0, 0, G_OPTION_ARG_NONE, &all,
        "Score the whole file instead of its held-out end", NULL },
    { "window", 0, 0, G_OPTION_ARG_INT, &window,
        "rnn: score windows of N tokens, each from a zero state; 0 = "
        "contiguous streams with carried state (default 0).  transformer: "
        "windows of N tokens (default 0: the model's context).  wavenet: "
        "windows of N samples, each scoring all but its first receptive "
        "field − 1 (default 0: 8 receptive fields, at least 8192)",
        "N" },
    { "sliding", 0, 0, G_OPTION_ARG_NONE, &sliding,
        "transformer: windows advance by half their length and score only "
        "their second half, so every prediction sees at least half a window of "
        "context",
        NULL },
    { "batch", 0, 0, G_OPTION_ARG_INT, &batch,
        "Streams or windows evaluated together (default 32)", "B" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads,
        "transformer, nar, pixelcnn, wavenet: threads, 0 = one per processor "
        "(default 0, at most 16)",
        "N" },
    { NULL } };
  g_autoptr (GOptionContext) ctx =
      g_option_context_new ("MODEL.gguf — held-out loss of a model: text, "
                            "images or audio");
  g_option_context_add_main_entries (ctx, entries, NULL);
  GError *error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    fprintf (stderr, "argen eval: %s\n", error->message);
    g_error_free (error);
    return 2;
  }
  /* read as bytes, converted here to name the option if it is not text */
  if (!argen_option_to_utf8 ("--classes", &classes))
    return 2;
  if (argc != 2 || data == NULL || window < 0 || batch < 1 || batch > 4096 ||
      holdout_every < 1 || threads < 0 ||
      threads > AR_TRANSFORMER_MAX_THREADS ||
      !(val_fraction > 0 && val_fraction < 1)) {
    fprintf (stderr,
        "argen eval: usage: argen eval MODEL.gguf --data FILE [--labels FILE] "
        "[--val-fraction F] [--holdout-every N] [--classes dirs|FILE] "
        "[--window N] [--sliding] [--batch B] [--threads N]\n");
    return 2;
  }
  EvalOptions o = { argv[1], data, labels, val_fraction, all, sliding, window,
    batch, threads, holdout_every, classes };
  if (!evaluate (&o, &error)) {
    fprintf (stderr, "argen eval: %s\n", error->message);
    g_error_free (error);
    return 1;
  }
  return 0;
}
