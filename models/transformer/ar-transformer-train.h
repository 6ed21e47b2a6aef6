/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-transformer-train.h — training the Transformer text family: the
 * decoder's forward and backward passes over (T, B) token batches, and a
 * character- or byte-level training task for the shared trainer.
 *
 *   ArTransformerConfig c = { AR_TRANSFORMER_LLAMA, 4, 128, 352, 4, 4, 128, V,
 *                             32, 10000.0f, 1e-5f, FALSE };
 *   g_autoptr (ArTransformerTask) task = ar_transformer_task_new (&c, data, 128, 32,
 *                                          0, AR_TRANSFORMER_EVAL_SLIDING);
 *   ar_transformer_train_init (ar_transformer_task_get_net (task), &rng);
 *   g_autoptr (ArTrainer) tr = ar_trainer_new (ar_transformer_task_get_trainable (task),
 *                                              task, &options);
 *
 * The graph is exactly the inference decoder of ar-transformer.h (same norms,
 * rotary angles, GELU / SwiGLU, grouped-query attention), and its parameters
 * carry the tensor names and shapes the inference loader binds, so
 * ar_transformer_train_write () produces a file ar_transformer_new_from_gguf ()
 * loads.  llama graphs have no biases; gpt graphs have a bias on every linear
 * layer except the classifier (as GPT-2).  With tied_output the classifier is
 * token_embd and no output.weight is written.
 *
 * With config->bidirectional (llama shape) every attention layer sees all T
 * positions of its window, forward and backward, and the file written is
 * the encoder of models/nar (general.architecture "nar"), which
 * ar_transformer_new_from_gguf () loads and ar_transformer_encode () runs.
 *
 * Initialisation is GPT-2's (as nanoGPT and llama2.c do it): every matrix and
 * embedding N(0, 0.02), the two residual projections of each block
 * (attn_output, ffn_down) N(0, 0.02 / sqrt (2 L)), biases 0, norm weights 1.
 *
 * Threads and determinism.  A batch of B streams is split into n_tasks =
 * min (AR_TRANSFORMER_MAX_TASKS, ⌈B / nb⌉) tasks of consecutive streams, nb
 * = max (1, AR_TRANSFORMER_MICROBATCH_ROWS / max_T) the micro-batch.  The
 * threads of a pool take tasks as they come free (so one slowed down by
 * other work on the machine simply takes fewer); OpenBLAS is held to one
 * thread during the call (its threads would compete with ours, and how it
 * splits a product changes the rounding).  A task runs its streams through
 * forward and backward one micro-batch at a time, in the workspace of the
 * thread running it, adding into its own copy of the gradients; the copies
 * are then added up in task order.  Which thread ran what changes nothing: results depend on
 * B and max_T, not on n_threads, the number of processors or scheduling, so
 * a run is reproducible bit for bit on any machine with the same SIMD level
 * and any thread count.  n_threads = 1 runs in the calling thread.
 */
#pragma once

#include <glib.h>
#include "core/ar-gguf.h"
#include "core/ar-rng.h"
#include "nn/ar-nn.h"
#include "text/ar-text-data.h"
#include "train/ar-train.h"
#include "transformer/ar-transformer.h"

G_BEGIN_DECLS

/* Most threads a graph uses. */
#define AR_TRANSFORMER_MAX_THREADS 16
/* Most tasks a batch is split into (each holds a copy of the gradients). */
#define AR_TRANSFORMER_MAX_TASKS 4
/* Streams go through in micro-batches of max (1, this / max_T) streams
 * (forward and backward of one before the next): activations are allocated
 * for one micro-batch per thread, not for the batch. */
#define AR_TRANSFORMER_MICROBATCH_ROWS 512

/* ---- the training graph ------------------------------------------------- */

typedef struct _ArTransformerTrain ArTransformerTrain;

/* Checks that @config can be trained on windows of @T tokens, @B at a time:
 * the configuration itself (ar_transformer_config_check ()), 1 <= T <=
 * n_ctx, and that the activations of the largest number of threads stay
 * below 16 GiB. */
gboolean ar_transformer_train_check (const ArTransformerConfig *config, int T,
    int B, GError **error);
/* @config must pass ar_transformer_train_check () for max_T, max_B;
 * @n_threads: 1 .. AR_TRANSFORMER_MAX_THREADS, or 0 for the number of
 * processors (either capped at the number of tasks a batch of max_B makes).
 * Everything is allocated here: the activations of one micro-batch of up
 * to max_T positions per thread, and a copy of the gradients per task. */
ArTransformerTrain *ar_transformer_train_new (const ArTransformerConfig *config,
    int max_T, int max_B, int n_threads);
void ar_transformer_train_free (ArTransformerTrain *t);
/* GPT-2's initialisation (see above), drawn from @rng in parameter order. */
void ar_transformer_train_init (ArTransformerTrain *t, ArRng *rng);
GPtrArray *ar_transformer_train_get_params (ArTransformerTrain
        *t); /* (element-type ArParam) not owned */
const ArTransformerConfig *
ar_transformer_train_get_config (const ArTransformerTrain *t);
int ar_transformer_train_get_n_threads (const ArTransformerTrain *t);
/* inputs, targets: (T, B) token ids, time outermost; every stream starts at
 * position 0.  A target < 0 is ignored: it adds nothing to the loss or the
 * gradients (the masked-slot loss of models/nar scores only the masked
 * positions).  Returns the mean cross-entropy in nats over the targets >= 0
 * (0, and no gradient, when there is none); with @backward, accumulates the
 * parameter gradients of that mean. */
float ar_transformer_train_forward (ArTransformerTrain *t, const gint32 *inputs,
    const gint32 *targets, int T, int B, gboolean backward);
/* Dropout for training, 0 <= @p < 1 (0: none, the default): the output of
 * the embedding and of each block's two branches (attention and
 * feed-forward, before they are added to the residual stream) have each
 * element zeroed with probability p and the others scaled by 1 / (1 - p),
 * GPT-2's embedding and residual dropout (the attention weights are not
 * dropped).  Whether an element is kept is a hash of @seed, the place in
 * the graph and the element's position in the batch (time, stream,
 * feature), so the masks do not depend on threads, tasks or micro-batches.
 * Applies to ar_transformer_train_forward () until set back to 0, never to
 * ar_transformer_train_logits (). */
void ar_transformer_train_set_dropout (ArTransformerTrain *t, float p,
    guint64 seed);
/* The logits (T, B, V) for inputs (T, B): what the inference decoder gives
 * after each token of each stream fed from an empty state. */
void ar_transformer_train_logits (ArTransformerTrain *t, const gint32 *inputs,
    int T, int B, float *logits);
/* The model keys (ar_transformer_config_write ()) and weights, F32; not the
 * vocabulary. */
void ar_transformer_train_write (ArTransformerTrain *t, ArGgufWriter *w);
/* Copies the weights of a model file with the same configuration (any
 * storage type the loader reads).  Absent optional biases load as zeros; a
 * tensor the graph cannot represent (a bias on a llama matrix, a fused
 * attn_qkv) is an error. */
gboolean ar_transformer_train_load_weights (ArTransformerTrain *t,
    const ArGguf *gguf, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArTransformerTrain, ar_transformer_train_free)

/* ---- a text training task ------------------------------------------------ */

/* How the held-out text is scored (nats per predicted token):
 *   WINDOWS: consecutive windows of T tokens, each run from an empty context
 *     (as training windows are), every target scored once; the first
 *     targets of each window see little context, so this is pessimistic.
 *   SLIDING: windows of T tokens advancing by S = max (T / 2, 1); each
 *     window scores only the targets of its last S positions (the first
 *     window scores all of its), so every target is scored exactly once with
 *     at least T - S tokens of context — close to what generation with a
 *     full context sees, at about twice the cost. */
typedef enum
{
  AR_TRANSFORMER_EVAL_WINDOWS,
  AR_TRANSFORMER_EVAL_SLIDING,
} ArTransformerEvalMode;

/* Ties an ArTransformerTrain to a text corpus for the shared trainer
 * (ar-train.h): each step draws B random windows of T tokens from the
 * training part; validation scores the held-out part with @eval_mode. */
typedef struct _ArTransformerTask ArTransformerTask;

/* @data is borrowed and must outlive the task; config->n_vocab must be its
 * vocabulary's size and (config, T, B) must pass ar_transformer_train_check. */
ArTransformerTask *ar_transformer_task_new (const ArTransformerConfig *config,
    const ArTextData *data, int T, int B, int n_threads,
    ArTransformerEvalMode eval_mode);
void ar_transformer_task_free (ArTransformerTask *task);
const ArTrainable *ar_transformer_task_get_trainable (ArTransformerTask *task);
/* Dropout probability of the training steps (default 0); each step draws
 * its masks' seed from the trainer's random stream.  Validation never
 * drops. */
void ar_transformer_task_set_dropout (ArTransformerTask *task, float p);
ArTransformerTrain *ar_transformer_task_get_net (ArTransformerTask *task);
/* Mean nats per predicted token over ids[from, to) of the task's data, to -
 * from >= 2, in windows of T tokens evaluated B at a time; *n_predicted (may
 * be NULL) receives the number of targets scored (to - from - 1). */
double ar_transformer_task_evaluate (ArTransformerTask *task, gsize from,
    gsize to, ArTransformerEvalMode mode, guint64 *n_predicted);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArTransformerTask, ar_transformer_task_free)

G_END_DECLS
