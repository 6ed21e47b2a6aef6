/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-nar-train.h — training the non-autoregressive text model (ar-nar.h)
 * with the shared trainer: the Transformer training graph in its
 * bidirectional form (ar-transformer-train.h) over windows of context
 * followed by partly masked slots, as in Mask-Predict's conditional masked
 * language model.
 *
 *   ArTransformerConfig c = { AR_TRANSFORMER_LLAMA, 4, 64, 192, 4, 4, 128,
 *                             V + 1, 16, 10000.0f, 1e-5f, FALSE, TRUE };
 *   g_autoptr (ArNarTask) task = ar_nar_task_new (&c, data, 64, 32, 1);
 *   ar_transformer_train_init (ar_nar_task_get_net (task), &rng);
 *   g_autoptr (ArTrainer) tr = ar_trainer_new (ar_nar_task_get_trainable (task),
 *                                              task, &options);
 *
 * A training step (C the context length, N the slots, V the text
 * vocabulary, the mask token V): one context length c, uniform in [1, C -
 * N], for the whole step (so the batch is one (c + N, B) block); B windows
 * of c + N consecutive tokens at uniform offsets of the training text; in
 * each window a uniform number m ∈ [1, N] of its N slots, chosen uniformly
 * without replacement, replaced by the mask token.  The loss is the mean
 * cross-entropy of the masked slots' true tokens; the context and the
 * unmasked slots are inputs only (their targets are -1).  Varying c teaches
 * the slots every distance from the start of a window, and varying m every
 * stage of Mask-Predict, from all slots masked (its first iteration) to
 * one.
 *
 * Validation: nats per token of the held-out text as the first Mask-Predict
 * iteration sees it: every held-out token is a slot of a window with all N
 * slots masked after a context of min (C - N, training tokens) tokens (the
 * text just before it, reaching back into the training part for the first
 * window), with the distribution over the V text tokens (the mask token's
 * logit left out, as generation leaves it out).  Consecutive windows' slots
 * tile the held-out part; the last window ends at its end and scores only
 * the tokens no earlier window scored. */
#pragma once

#include <glib.h>
#include "core/ar-gguf.h"
#include "core/ar-rng.h"
#include "text/ar-text-data.h"
#include "train/ar-train.h"
#include "transformer/ar-transformer-train.h"

G_BEGIN_DECLS

typedef struct _ArNarTask ArNarTask;

/* @config: bidirectional, llama shape, n_vocab = the vocabulary's size + 1;
 * 1 <= @slots < config->n_ctx; @data is borrowed and must outlive the task
 * and hold more than n_ctx training tokens.  AR_ERROR_INVALID naming the
 * size otherwise. */
gboolean ar_nar_task_check (const ArTransformerConfig *config,
    const ArTextData *data, int slots, int B, GError **error);
/* Arguments as ar_nar_task_check () accepts them; @n_threads as
 * ar_transformer_train_new (). */
ArNarTask *ar_nar_task_new (const ArTransformerConfig *config,
    const ArTextData *data, int slots, int B, int n_threads);
void ar_nar_task_free (ArNarTask *task);
const ArTrainable *ar_nar_task_get_trainable (ArNarTask *task);
ArTransformerTrain *ar_nar_task_get_net (ArNarTask *task);
/* Dropout of the training steps, as ar_transformer_task_set_dropout ()
 * (default 0; validation never drops). */
void ar_nar_task_set_dropout (ArNarTask *task, float p);
/* Draws one step's batch as described above: inputs and targets (c + N,
 * B), time outermost; returns c + N. */
int ar_nar_task_sample (ArNarTask *task, ArRng *rng, gint32 *inputs,
    gint32 *targets);
/* Mean nats per token over the held-out part (see above); *n_scored (may
 * be NULL) receives the number of tokens scored.  NAN when nothing is held
 * out. */
double ar_nar_task_evaluate (ArNarTask *task, guint64 *n_scored);
/* The model file: the Transformer (general.architecture "nar"), nar.slots,
 * nar.mask_token_id and the vocabulary. */
void ar_nar_task_write_model (ArNarTask *task, ArGgufWriter *w);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArNarTask, ar_nar_task_free)

G_END_DECLS
