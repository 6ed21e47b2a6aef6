/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-nar.h — the non-autoregressive text family: a bidirectional
 * Transformer encoder over [context ; N slots] that predicts every slot in
 * one pass, and Mask-Predict decoding (Ghazvininejad et al. 2019, "Mask-
 * Predict: Parallel Decoding of Conditional Masked Language Models").
 *
 *   g_autoptr (ArGguf) f = ar_gguf_new_from_file ("nar.gguf", &error);
 *   g_autoptr (ArNar) nar = ar_nar_new_from_gguf (f, &error);
 *   g_autoptr (ArNarState) s = ar_nar_state_new (nar);
 *   ArSamplingParams greedy = { 0.0f, 0, 1.0f };
 *   gint32 out[32];
 *   ar_nar_generate (nar, s, ctx, n_ctx, 32, 4, &greedy, &rng, out);
 *
 * The model.  A llama-shape Transformer (ar-transformer.h) whose attention
 * sees every position (config.bidirectional), with one token more than the
 * text vocabulary: the mask token, id V, which stands for "a slot to
 * predict".  Given context tokens c_1 .. c_k followed by n masked slots,
 * logits (V + 1) at slot position k + j are the model's distribution of
 * the j-th token after the context; the mask token has no text and is
 * never output (its logit is ignored everywhere).
 *
 * Model file, general.architecture = "nar": the Transformer's llama keys
 * under the "nar." prefix (nar.context_length, nar.block_count, ...; see
 * ar-transformer.h, which reads and writes them) and its tensors, with
 * token_embd.weight { D, V + 1 } (and output.weight { D, V + 1 } unless
 * tied), plus
 *   nar.mask_token_id   u32  = V, the text vocabulary's size
 *   nar.slots           u32  N, the slots the model was trained to fill,
 *                            1 <= N < context_length
 *   tokenizer.ggml.*         the text vocabulary (V tokens), as a char
 *                            model of the same text stores it, so text
 *                            round-trips and an autoregressive model of the
 *                            same vocabulary can score the output.
 *
 * Training (ar-nar-train.h) puts the slots after a context of random length
 * c ∈ [1, C - N] and masks a random subset of them: the model learns to
 * fill any subset of the slots given the others, which is what Mask-Predict
 * asks of it.
 *
 * Mask-Predict with T iterations over n slots: iteration 1 predicts every
 * slot from the all-masked input; iteration t = 2 .. T puts the mask token
 * back into the m_t = ⌊n (T - t + 1) / T⌋ least confident slots (the
 * paper's schedule, n (T - t) / T with its iterations counted from 0) and
 * predicts those again, from the context and the slots kept.  A slot's
 * confidence is the model's probability (softmax of the text logits,
 * temperature 1) of the token chosen for it, kept until the slot is
 * predicted again; among equal confidences the lower slot is re-masked
 * first.  So T = 1 is fully parallel, T = 4 over 10 slots re-predicts 7,
 * 5 and 2 of them, and T = n re-predicts n - 1, n - 2, ..., 1: every
 * iteration fixes at least one more slot.  An iteration with m_t = 0 (T >
 * n) does nothing and costs nothing.  Choosing a token: temperature 0 is the argmax of the
 * text logits; otherwise ar_sampler_sample () with the sampling
 * parameters over the V text logits, one uniform draw per predicted slot in
 * slot order, so the output is a function of the seed. */
#pragma once

#include <glib.h>
#include "core/ar-gguf.h"
#include "core/ar-rng.h"
#include "core/ar-sample.h"
#include "text/ar-text.h"
#include "transformer/ar-transformer.h"

G_BEGIN_DECLS

typedef struct _ArNar ArNar;
typedef struct _ArNarState ArNarState;

/* Binds the Transformer (ar_transformer_new_from_gguf ()), the vocabulary
 * and the nar keys, and checks that they agree: general.architecture
 * "nar", nar.mask_token_id = the vocabulary's size V = the embedding's rows
 * - 1, 1 <= nar.slots < the cache length.  Keeps a reference to @gguf (the
 * weights stay in its mapping).  AR_ERROR naming the file and the key or
 * tensor on anything else. */
ArNar *ar_nar_new_from_gguf (ArGguf *gguf, GError **error);
ArNar *ar_nar_new_from_file (const char *path, GError **error);
void ar_nar_free (ArNar *nar);
const ArTransformer *ar_nar_get_transformer (const ArNar *nar);
const ArVocab *ar_nar_get_vocab (const ArNar *nar);
/* N, the slots trained (nar.slots) */
guint ar_nar_get_slots (const ArNar *nar);
/* V, the text vocabulary's size, which is also the mask token's id */
guint ar_nar_get_n_vocab (const ArNar *nar);
guint ar_nar_get_mask_token (const ArNar *nar);
/* Positions one pass can take: context + slots <= this (the Transformer's
 * cache length). */
guint ar_nar_get_context_length (const ArNar *nar);

/* The workspace of one stream: the Transformer's state, the pass's input
 * and logits ((cache length, V + 1) floats), a sampler and the slots'
 * confidences.  Generation never allocates. */
ArNarState *ar_nar_state_new (const ArNar *nar);
void ar_nar_state_free (ArNarState *s);

/* m_t = ⌊n (T - t + 1) / T⌋: how many of @n slots iteration @t (1 ..
 * @iterations = T) predicts. */
guint ar_nar_schedule (guint n, guint iterations, guint t);

/* Mask-Predict (see above): @n_slots tokens following @context (the last
 * n_context of them, cut to the last cache length - n_slots; n_context
 * may be 0) into @out (n_slots), in @iterations >= 1 iterations, 1 <=
 * n_slots <= the cache length - 1 (more than nar.slots is allowed but was
 * never trained).  Returns the number of encoder passes run (iterations
 * whose re-masked set was empty run none). */
guint ar_nar_generate (const ArNar *nar, ArNarState *s, const gint32 *context,
    guint n_context, guint n_slots, guint iterations,
    const ArSamplingParams *params, ArRng *rng, gint32 *out);

/* One pass over [context ; k masked slots] (the context cut as above), 1
 * <= k <= the cache length - 1: @probs (k, V) receives each slot's
 * distribution (ar_sampler_distribution () of its V text logits with
 * @params: one-hot for temperature 0) and @tokens (k) the token drawn from
 * it (ar_sampler_sample (): the argmax, or one uniform draw per slot in
 * slot order).  A draft for speculative decoding: the k tokens are drawn
 * independently, each from its marginal. */
void ar_nar_propose (const ArNar *nar, ArNarState *s, const gint32 *context,
    guint n_context, guint k, const ArSamplingParams *params, ArRng *rng,
    gint32 *tokens, float *probs);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArNar, ar_nar_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArNarState, ar_nar_state_free)

G_END_DECLS
