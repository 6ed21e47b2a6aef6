/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-wavenet-train.h — training the WaveNet audio family: the network of
 * ar-wavenet.h as a training graph (forward and backward over batches of
 * windows with teacher forcing), an audio corpus (µ-law classes, log-mel
 * frames and a class per file, with the held-out split every trainer and
 * baseline shares), and a training task for the shared trainer (ar-train.h).
 *
 *   g_autoptr (GPtrArray) files = ar_audio_list_files ("prompts/", &error);
 *   GPtrArray *train, *held;
 *   ar_audio_split_holdout (files, 20, &train, &held);
 *   g_autoptr (ArWaveNetCorpus) corpus =
 *       ar_wavenet_corpus_new (train, held, 8000, NULL, 0.0f, &error);
 *   g_autoptr (ArWaveNetTask) task =
 *       ar_wavenet_task_new (&config, corpus, 4096, 8, 0, NULL);
 *   ar_wavenet_task_init (task, &rng);
 *   g_autoptr (ArTrainer) tr = ar_trainer_new (ar_wavenet_task_get_trainable (task),
 *                                              task, &options);
 *
 * The graph computes exactly the network of ar-wavenet.h (the oracle is
 * ar_wavenet_forward_full (); tests/test-wavenet-train.c compares them on a
 * written model file), and its parameters carry the tensor names and shapes
 * the inference loader binds, so ar_wavenet_train_write () produces a file
 * ar_wavenet_new_from_gguf () loads.
 *
 * Windows.  A window is T consecutive samples of one file, x_s … x_{s+T−1}
 * (the network's inputs, s >= 0), with targets x_{s+1} … x_{s+T} (teacher
 * forcing: position p predicts x_{s+p+1} from the true x_{s} … x_{s+p}).
 * Only the positions [score_from, score_to) are scored.  A window that
 * starts inside a file (s > 0) cannot know the samples before x_s, which the
 * first receptive-field − 1 positions depend on, so they only provide
 * context and are not scored: score_from >= ar_wavenet_train_receptive_field
 * () − 1, and every scored output is then exactly the one a forward over the
 * whole file gives.  A window at the start of a file (s = 0) sees the file's
 * start exactly as generation does (silence before it: x_{−1} = Q/2 and
 * zero-padded convolutions), so all its positions may be scored.  Targets
 * past the end of the file are never scored (score_to <= n − 1 − s).
 *
 * Layout and cost.  Within a window every activation is [channels, time]
 * (row-major, T columns): each layer's dilated convolution is one sgemm of
 * the (G, 2R) weights over a (2R, T) matrix whose rows are the layer's input
 * delayed by the dilation, then undelayed — both taps in one product — and
 * the skip, residual and output projections are sgemms over the same
 * columns.  Columns nothing scored depends on are not computed: layer l
 * works on the columns from score_from − (dilations of the layers above it)
 * on, and the output stack on the scored columns only, so the unscored
 * context costs about half of what scored positions do.  The output stack
 * (ReLU → 1×1 → ReLU → 1×1) runs with time outermost, (n, Q) logits, so the
 * softmax reads each position's 256 values contiguously.  Cross-entropy is
 * in nats inside; ar_wavenet_train_forward () returns nats, the task reports
 * bits per sample.
 *
 * Mel conditioning follows the header of ar-wavenet.h exactly: the cond
 * convolution over the frames a window needs (frames outside the file are
 * the log floor, ln (log_floor)), a per-layer projection at the frame rate,
 * and linear interpolation to the samples, added inside every gate (past
 * the file's last frame, the interpolation's next frame is the last one
 * again, as in ar_wavenet_forward_full ()).  The
 * global condition adds column `class` of each layer's global.L.weight.
 *
 * Threads and determinism.  A batch of B windows is split into n_tasks =
 * min (AR_WAVENET_TRAIN_MAX_TASKS, B) tasks of consecutive windows, handed
 * to the threads of a pool as they come free; a task runs its windows one
 * at a time in the workspace (activations for one window of max_T columns)
 * of the thread running it, adding into its own copy of the gradients, and
 * the copies are added up in task order afterwards.  OpenBLAS is held to one
 * thread during the call.  Results depend on B and the windows only, not on
 * the number of threads: bit for bit the same for 1, 2 or 8 threads.
 * Everything is allocated when the graph is made; a step allocates nothing.
 *
 * Initialisation: every matrix N (0, 1 / fan_in) (input.weight: fan-in 2,
 * the two one-hot taps), biases 0, and the global class embeddings 0 (they
 * are per-class biases of the gates: a model starts out unconditional).
 */
#pragma once

#include <glib.h>
#include "core/ar-gguf.h"
#include "core/ar-rng.h"
#include "nn/ar-nn.h"
#include "train/ar-train.h"
#include "wavenet/ar-wavenet.h"

G_BEGIN_DECLS

/* Most threads a graph uses. */
#define AR_WAVENET_TRAIN_MAX_THREADS 16
/* Most tasks a batch is split into (each holds a copy of the gradients). */
#define AR_WAVENET_TRAIN_MAX_TASKS 4

/* ---- the training graph ------------------------------------------------- */

typedef struct _ArWaveNetTrain ArWaveNetTrain;

/* One window of a batch (see above). */
typedef struct
{
  const guint8 *x;          /* (n) the file's µ-law classes (< Q) */
  gsize n;                  /* samples in the file */
  gsize start;              /* s: the file sample at position 0 */
  int score_from, score_to; /* scored positions [from, to) */
  /* vocoders: the file's log-mel frames (n_frames, n_mels), n_frames =
   * ar_mel_n_frames (n), at least (start + score_to) / hop + 1 */
  const float *mel;
  gsize n_frames;
  int global_class; /* 0 … classes − 1; -1 when the model has none */
} ArWaveNetWindow;

/* Samples of history one output depends on, as ar_wavenet_receptive_field ():
 * 1 + stacks · (2^layers_per_stack − 1) + 1. */
gsize ar_wavenet_train_receptive_field (const ArWaveNetConfig *config);

/* Checks that @config can be trained on windows of @T samples, @B at a
 * time: everything ar_wavenet_config_check () checks, so that the model
 * file ar_wavenet_train_write () makes loads — except that Q may be 2 …
 * 256 (a graph of fewer classes trains, for tests, but only Q = 256 makes a
 * model file) —, T at least the receptive field (so that a window inside a
 * file scores at least one position), and that the activations of the
 * largest number of threads stay below 16 GiB.  Errors: AR_ERROR_INVALID,
 * AR_ERROR_UNSUPPORTED for the memory. */
gboolean ar_wavenet_train_check (const ArWaveNetConfig *config, int T, int B,
    GError **error);
/* @config must pass ar_wavenet_train_check () for max_T, max_B; @n_threads:
 * 1 .. AR_WAVENET_TRAIN_MAX_THREADS, or 0 for the number of processors
 * (either capped at the number of tasks a batch of max_B makes). */
ArWaveNetTrain *ar_wavenet_train_new (const ArWaveNetConfig *config, int max_T,
    int max_B, int n_threads);
void ar_wavenet_train_free (ArWaveNetTrain *t);
/* The initialisation above, drawn from @rng in parameter order. */
void ar_wavenet_train_init (ArWaveNetTrain *t, ArRng *rng);
/* (element-type ArParam) not owned; in the order of the model file */
GPtrArray *ar_wavenet_train_get_params (ArWaveNetTrain *t);
const ArWaveNetConfig *ar_wavenet_train_get_config (const ArWaveNetTrain *t);
int ar_wavenet_train_get_n_threads (const ArWaveNetTrain *t);
int ar_wavenet_train_get_max_T (const ArWaveNetTrain *t);
/* @win (B) windows of @T positions each (1 <= T <= max_T, 1 <= B <= max_B;
 * at least one scored position in the batch).  Returns the mean cross-
 * entropy in nats over the scored targets; *@n_scored (may be NULL)
 * receives their number.  With @backward, accumulates the gradient of that
 * mean into the parameters' gradients. */
double ar_wavenet_train_forward (ArWaveNetTrain *t, const ArWaveNetWindow *win,
    int T, int B, gboolean backward, guint64 *n_scored);
/* Vocoders: the graph feeds its cond convolution (m − mean) / sd for each
 * band m of the log-mel frames (@mean, @sd: n_mels values, sd > 0) instead
 * of the raw frames: the convolution's parameters live in that normalised
 * space while training.  The model file stays in raw space:
 * ar_wavenet_train_write () folds the normalisation into cond.weight and
 * cond.bias, ar_wavenet_train_load_weights () unfolds it.  Default: mean 0,
 * sd 1 (none). */
void ar_wavenet_train_set_mel_normalization (ArWaveNetTrain *t,
    const float *mean, const float *sd);
/* The model's keys (general.architecture "wavenet", wavenet.*, the mel
 * parameters of a vocoder) and weights, F32, the mel normalisation folded
 * into the cond convolution.  @class_names: NULL or global_classes names,
 * written as wavenet.global.names. */
void ar_wavenet_train_write (ArWaveNetTrain *t, ArGgufWriter *w,
    const char *const *class_names);
/* Copies the weights of a model file of the same configuration (F32 or F16
 * tensors), unfolding the graph's mel normalisation from the cond
 * convolution.  Errors (AR_ERROR_MODEL) name a tensor that is missing,
 * mis-shaped, not finite or of another type; the weights are then
 * unchanged. */
gboolean ar_wavenet_train_load_weights (ArWaveNetTrain *t, const ArGguf *gguf,
    GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArWaveNetTrain, ar_wavenet_train_free)

/* ---- an audio corpus ------------------------------------------------------ */

/* One file, read once: mono at the model's rate, µ-law coded. */
typedef struct
{
  char *path;
  /* (n) µ-law classes (ar_mulaw_encode) of the file's samples, pre-emphasised
   * first when the corpus has a pre-emphasis */
  guint8 *x;
  gsize n;
  /* vocoders: ar_mel_compute () of the file, (n_frames, n_mels) */
  float *mel;
  gsize n_frames;
  int global_class; /* -1 until the caller assigns one */
  gboolean held_out;
} ArWaveNetFile;

typedef struct _ArWaveNetCorpus ArWaveNetCorpus;

/* Reads every file of @train and @held (paths, as ar_audio_split_holdout ()
 * makes them; @held may be NULL or empty) with ar_audio_read () at @rate Hz,
 * codes the samples as µ-law classes — of the pre-emphasised samples
 * (ar_audio_pre_emphasize, per file) when @pre_emphasis > 0 (at most
 * AR_WAVENET_MAX_PRE_EMPHASIS; a task needs its config's) — and, when @mel
 * is not NULL, computes the log-mel frames of the original samples once
 * (@mel->sample_rate must be @rate).  Errors: a file cannot be read, no file
 * at all. */
ArWaveNetCorpus *ar_wavenet_corpus_new (GPtrArray *train, GPtrArray *held,
    int rate, const ArMelParams *mel, float pre_emphasis, GError **error);
void ar_wavenet_corpus_free (ArWaveNetCorpus *corpus);
/* Training files first, in the order given, then the held-out ones. */
guint ar_wavenet_corpus_get_n_files (const ArWaveNetCorpus *corpus);
/* Mutable so that the caller can assign global classes. */
ArWaveNetFile *ar_wavenet_corpus_get_file (ArWaveNetCorpus *corpus, guint i);
/* Gives every file a global class from @spec: "dirs" — the name of the
 * folder the file is in —, or the path of a text file of lines "NAME CLASS"
 * (NAME a file's base name or its path as listed; blank lines and lines
 * starting with '#' skipped).  With *@names NULL the classes are the
 * distinct names found, sorted (strcmp), returned as a new NULL-terminated
 * array in *@names; otherwise *@names are a model's classes and every file's
 * class must be one of them.  A class name must be valid UTF-8 (a model
 * file's are; a NAME need not be).  Errors (AR_ERROR) name the mapping
 * file (AR_ERROR_IO when it cannot be read) and line, a NAME given two
 * classes, a file without a class, a class that is not UTF-8, or a class
 * the model does not have. */
gboolean ar_wavenet_corpus_assign_classes (ArWaveNetCorpus *corpus,
    const char *spec, char ***names, GError **error);
/* Samples in the training or in the held-out files. */
guint64 ar_wavenet_corpus_count_samples (const ArWaveNetCorpus *corpus,
    gboolean held_out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArWaveNetCorpus, ar_wavenet_corpus_free)

/* ---- the training task ------------------------------------------------------ */

/* Ties an ArWaveNetTrain to a corpus for the shared trainer.  Each step
 * draws B windows: a block of K = T − (receptive field − 1) consecutive
 * targets, uniformly among all the blocks that overlap a training file's
 * targets x_1 … x_{n−1} (so every training target is equally likely to be
 * scored, and files are drawn in proportion to their length), in a window
 * that ends at the block and starts receptive field − 1 samples before it —
 * or at the file's start, then scoring from the file's first target.
 * Validation is the mean over every target of every held-out file (all of
 * x_1 … x_{n−1}), in consecutive blocks of K with the same windows: each
 * target scored once, exactly as a forward over the whole file scores it. */
typedef struct _ArWaveNetTask ArWaveNetTask;

/* @corpus is borrowed and must outlive the task; its files' global classes
 * must be set (0 … classes − 1) when config->global_classes > 0, and it must
 * have mel frames with config->mel when config->cond_channels > 0; (config,
 * T, B) must pass ar_wavenet_train_check ().  @class_names: NULL or
 * global_classes names for the model file (copied). */
ArWaveNetTask *ar_wavenet_task_new (const ArWaveNetConfig *config,
    ArWaveNetCorpus *corpus, int T, int B, int n_threads,
    const char *const *class_names);
void ar_wavenet_task_free (ArWaveNetTask *task);
/* ar_wavenet_train_init () of the task's graph, then, for a vocoder, the
 * graph's mel normalisation (ar_wavenet_train_set_mel_normalization) set to
 * the training files' per-band mean μ_m and standard deviation σ_m over
 * their frames.  Log-mel values lie far from 0 (around ln 1e-5 = −11.5 in
 * silence), so without it every tanh of the cond convolution would start
 * saturated, and every step on its weights would move the pre-activations
 * by large common amounts.  The statistics come from the data alone, so a
 * resumed run sets the same ones. */
void ar_wavenet_task_init (ArWaveNetTask *task, ArRng *rng);
/* Trains in nats; reports bits/sample; ar_trainer_run () refuses
 * (AR_ERROR_INVALID) a corpus whose training files have no target (none
 * of 2 samples or more).  "samples/s" counts the targets a step scores on
 * average: B · K · (training targets) / (blocks), a little below B · K
 * since windows at the ends of files score only the file's targets. */
const ArTrainable *ar_wavenet_task_get_trainable (ArWaveNetTask *task);
ArWaveNetTrain *ar_wavenet_task_get_net (ArWaveNetTask *task);
/* Mean bits per sample over every target of the held-out files (or, with
 * @held_out FALSE, of the training files); NAN when there is none.
 * *@n_scored (may be NULL) receives the number of targets. */
double ar_wavenet_task_evaluate (ArWaveNetTask *task, gboolean held_out,
    guint64 *n_scored);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArWaveNetTask, ar_wavenet_task_free)

G_END_DECLS
