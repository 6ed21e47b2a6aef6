/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-text.h — text generation, the same for every text family.
 *
 * An ArTextModel is an immutable, refcounted loaded model of any text
 * architecture (the file's `general.architecture` chooses the family); many
 * ArTextGen streams can share one.  An ArTextGen owns one stream's state (the
 * family's recurrent state or KV cache, the sampler, its RNG and the output
 * filter) and turns tokens into text that is always valid UTF-8:
 *
 *   g_autoptr (ArTextModel) m = ar_text_model_new_from_file ("play.gguf", &error);
 *   g_autoptr (ArTextGen) gen = ar_text_gen_new (m);
 *   ar_text_gen_reset (gen, 7);
 *   ar_text_gen_feed (gen, "ROMEO:", -1);
 *   g_autoptr (GString) out = g_string_new (NULL);
 *   for (int i = 0; i < 300 && !ar_text_gen_next (gen, out); i++) ;
 *   ar_text_gen_finish (gen, out);
 *
 * Output filtering: bytes of an incomplete UTF-8 sequence are held back until
 * the sequence completes; an invalid sequence becomes U+FFFD.  With a stop
 * string set, bytes that could be the start of it are held back too; when the
 * output reaches the stop string, generation stops and the stop string itself is
 * not emitted. */
#pragma once

#include <glib.h>
#include "../core/ar-error.h"
#include "../core/ar-gguf.h"
#include "../core/ar-sample.h"
#include "../core/ar-threadpool.h"

G_BEGIN_DECLS

/* ---- vocabularies ------------------------------------------------------
 * Stored in the model file as tokenizer.ggml.model ("char", "byte" or
 * "llama"), tokenizer.ggml.tokens (string array: each token's bytes) and,
 * optionally, tokenizer.ggml.bos_token_id (for our char models: the newline)
 * and tokenizer.ggml.eos_token_id (generation ends when it is sampled).
 *
 * "llama" is a SentencePiece-style vocabulary as llama.cpp stores it: pieces
 * with U+2581 "▁" for a space, tokenizer.ggml.scores (f32 per token, the
 * merge priority), tokenizer.ggml.token_type (i32 per token: 1 normal, 2
 * unknown, 3 control, 4 user-defined, 5 unused, 6 byte; when absent, <0xNN>
 * pieces are bytes, ids 0..2 <unk> <s> </s>, the rest normal), BOS default 1
 * and EOS default 2.  Encoding is llama2.c's: a " " (▁) dummy prefix before
 * non-empty text, each UTF-8 character as its token or else its bytes as
 * <0xNN> byte tokens, then repeatedly merging the adjacent pair whose
 * concatenation is a normal or user-defined token of highest score (the
 * leftmost on ties).  Only normal and user-defined tokens take part in
 * matching text (llama2.c would also match the literal text of its control
 * pieces, e.g. "\n<s>\n"; that is the only difference).  Decoding maps ▁ to
 * a space and <0xNN> to the byte, control and unknown tokens to nothing, and
 * drops the leading space of the token right after BOS (ar_vocab_decode). */

typedef enum
{
  AR_VOCAB_CHAR, /* one token per Unicode character seen in training */
  AR_VOCAB_BYTE, /* 256 tokens, one per byte value */
  AR_VOCAB_SPM,  /* SentencePiece-style pieces with scores ("llama") */
} ArVocabType;

typedef struct _ArVocab ArVocab;

ArVocab *ar_vocab_new_from_gguf (const ArGguf *gguf, GError **error);
/* The sorted set of characters of @text (which must be valid UTF-8); the BOS
 * token is "\n" when present, else none. */
ArVocab *ar_vocab_new_chars (const char *text, gsize len, GError **error);
/* 256 tokens; BOS is "\n" (byte 10).  Stored in files as the model name
 * alone (token 0 would be a NUL byte, which GGUF strings may not hold). */
ArVocab *ar_vocab_new_bytes (void);
void ar_vocab_free (ArVocab *v);
ArVocabType ar_vocab_get_type (const ArVocab *v);
guint ar_vocab_get_size (const ArVocab *v);
gint ar_vocab_get_bos (const ArVocab *v); /* -1 when none */
gint ar_vocab_get_eos (const ArVocab *v); /* -1 when none */
/* The same type, tokens (each the same bytes), BOS and EOS: two models of
 * these vocabularies read and write text alike. */
gboolean ar_vocab_equal (const ArVocab *a, const ArVocab *b);
/* The bytes token @id stands for in output. */
const char *ar_vocab_token_bytes (const ArVocab *v, guint id, gsize *len);
/* The bytes to output for @id when it follows token @prev (-1: none): as
 * ar_vocab_token_bytes(), except that an SPM token right after BOS loses
 * its leading space (SentencePiece's dummy prefix), as llama2.c prints. */
const char *ar_vocab_decode (const ArVocab *v, gint prev, guint id, gsize *len);
/* SPM: each token's piece as stored (with ▁), its score and type; NULL / 0
 * for other vocabularies. */
const char *ar_vocab_token_piece (const ArVocab *v, guint id);
float ar_vocab_token_score (const ArVocab *v, guint id);
/* Appends the tokens of @text (gint32) to @ids; characters not in the
 * vocabulary are skipped and counted in the return value (SPM: bytes with
 * no byte token).  Each call on an SPM vocabulary is one SentencePiece
 * encoding: it starts with the dummy prefix (BOS is not added: streams feed
 * it on reset). */
guint ar_vocab_encode (const ArVocab *v, const char *text, gssize len,
    GArray *ids);
void ar_vocab_write_gguf (const ArVocab *v, ArGgufWriter *w);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArVocab, ar_vocab_free)

/* ---- models and families ---------------------------------------------- */

/* What a text family provides.  forward() consumes one token and returns the
 * logits (n_vocab) for the next one, valid until the next call on that state;
 * it never allocates and cannot fail (sizes were checked at load). */
typedef struct
{
  const char *architecture; /* general.architecture, e.g. "rnn" */
  gpointer (*load) (const ArGguf *gguf, GError **error);
  void (*free) (gpointer model);
  gpointer (*state_new) (gconstpointer model);
  void (*state_free) (gpointer state);
  void (*state_reset) (gconstpointer model, gpointer state);
  const float *(*forward) (gconstpointer model, gpointer state, guint token);
  /* Size of the logits vector; must equal the vocabulary's size. */
  guint (*n_vocab) (gconstpointer model);
  /* Tokens of context the model can see; 0 = unbounded (a recurrent state). */
  guint (*context_length) (gconstpointer model);
  /* Optional (NULL: forward() per token): consumes tokens (n >= 1) and
   * returns the logits after the last, as n forward() calls would, but may
   * skip work only intermediate logits need. */
  const float *(*forward_prompt) (gconstpointer model, gpointer state,
      const gint32 *tokens, guint n);
  /* Optional (NULL: no beam search for this family): makes @dest, a state
   * of the same model, continue exactly as @src would. */
  void (*state_copy) (gconstpointer model, gpointer dest, gconstpointer src);
  /* Optional (NULL: one thread): splits the large products of @state over
   * @pool's threads (NULL: none) without changing any result.  The pool is
   * not owned. */
  void (*state_set_threadpool) (gconstpointer model, gpointer state,
      ArThreadPool *pool);
  /* Optional, both or neither (NULL: the family cannot be the target of
   * speculative decoding).  forward_all() appends up to @n >= 1 tokens and
   * writes the logits after each, logits (n, n_vocab), each row bit for bit
   * what forward() would return there; it may take fewer (>= 1: a context
   * window that must slide first takes what fits after the slide) and
   * returns how many it took.  state_rewind() forgets the last @n tokens,
   * at most those the last forward_all() took; the state's logits are then
   * undefined until the next forward. */
  guint (*forward_all) (gconstpointer model, gpointer state,
      const gint32 *tokens, guint n, float *logits);
  void (*state_rewind) (gconstpointer model, gpointer state, guint n);
} ArTextFamily;

typedef struct _ArTextModel ArTextModel;

ArTextModel *ar_text_model_new_from_file (const char *path, GError **error);
ArTextModel *ar_text_model_new_from_bytes (GBytes *bytes, const char *name,
    GError **error);
/* Fails with AR_ERROR_UNSUPPORTED naming the architecture when no text family runs it. */
ArTextModel *ar_text_model_new_from_gguf (ArGguf *gguf, GError **error);
/* Non-autoregressive models (general.architecture "nar", models/nar) load
 * as text models too: their streams generate by Mask-Predict (see
 * ar_text_gen_set_iterations ()); ar_text_model_get_family () and
 * ar_text_model_get_impl () are then NULL, ar_text_model_get_nar () the
 * model. */
ArTextModel *ar_text_model_ref (ArTextModel *m);
void ar_text_model_unref (ArTextModel *m);
const char *ar_text_model_get_name (const ArTextModel *m);
const char *ar_text_model_get_architecture (const ArTextModel *m);
const ArVocab *ar_text_model_get_vocab (const ArTextModel *m);
const ArTextFamily *ar_text_model_get_family (const ArTextModel *m);
gconstpointer ar_text_model_get_impl (const ArTextModel *m);
typedef struct _ArNar ArNar;
const ArNar *ar_text_model_get_nar (const ArTextModel *m);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArTextModel, ar_text_model_unref)

/* ---- generation streams ----------------------------------------------- */

typedef struct _ArTextGen ArTextGen;

ArTextGen *ar_text_gen_new (ArTextModel *model);
void ar_text_gen_free (ArTextGen *gen);
/* Clears the state and output filter and reseeds; then feeds BOS if the
 * vocabulary has one.  Keeps sampling settings and the stop string. */
void ar_text_gen_reset (ArTextGen *gen, guint64 seed);
void ar_text_gen_set_sampling (ArTextGen *gen, const ArSamplingParams *params);
/* NULL or "" = no stop string.  @stop must be valid UTF-8 (a stop string
 * that is not can never match the filtered output): one that is not is
 * refused as a programmer error, keeping the previous one. */
void ar_text_gen_set_stop (ArTextGen *gen, const char *stop);
/* Feeds a prompt; returns the number of characters skipped as not in the
 * vocabulary.  The same as ar_text_gen_queue () then
 * ar_text_gen_feed_queued (gen, G_MAXUINT). */
guint ar_text_gen_feed (ArTextGen *gen, const char *text, gssize len);

/* Feeding in steps.  The model reads a prompt one token at a time (a
 * Transformer in batches of a few dozen, sliding its window every C / 2
 * tokens past its context length C; an RNN carries its whole history), so
 * a long prompt is long work: a 2 MiB line of a character model is two
 * million steps, minutes of one call.  A caller that must be able to stop
 * (a GStreamer element on a flush or a state change) queues the prompt
 * instead and feeds it a bounded number of tokens at a time, checking in
 * between:
 *
 *   ar_text_gen_queue (gen, text, -1);
 *   while (ar_text_gen_feed_queued (gen, 32) > 0)
 *     if (cancelled)
 *       return;
 *
 * ar_text_gen_queue () settles a beam search or speculative round and
 * encodes @text (the vocabulary's encoding of the whole text, as
 * ar_text_gen_feed () does), appending its tokens to the stream's queue
 * without running the model; it returns the characters skipped.  (A
 * non-autoregressive stream only appends the tokens to its context: nothing
 * stays queued.)  ar_text_gen_feed_queued () runs the model over at most
 * @max_tokens queued tokens (a speculative stream's draft too) and returns
 * how many are still queued.  ar_text_gen_next () first feeds whatever is
 * still queued; ar_text_gen_reset () drops it.  Fed in steps, a prompt
 * gives the stream ar_text_gen_feed () would (bit for bit for a family
 * without forward_prompt; otherwise up to the float rounding of batching
 * the tokens differently).  The queue takes 4 bytes a token. */
guint ar_text_gen_queue (ArTextGen *gen, const char *text, gssize len);
guint ar_text_gen_feed_queued (ArTextGen *gen, guint max_tokens);
/* Prompt tokens queued and not fed yet. */
guint ar_text_gen_get_n_queued (const ArTextGen *gen);
/* Samples one token, feeds it back, and appends to @out whatever output became
 * final (possibly nothing).  Returns TRUE when the stop string was reached (the
 * token that completed it is consumed; nothing of the stop string is output),
 * or when the vocabulary's EOS token was sampled (nothing is output for it
 * and it is not fed to the model; ar_text_gen_last_token() returns it).
 * Once it has returned TRUE it keeps returning TRUE, sampling and outputting
 * nothing more, until ar_text_gen_reset() (after EOS, ar_text_gen_feed()
 * also continues the stream; after the stop string only a reset does, as
 * the output filter stays stopped). */
gboolean ar_text_gen_next (ArTextGen *gen, GString *out);
/* The token id that ar_text_gen_next() sampled last (beam search: the
 * last token of the best hypothesis, EOS when it ended with EOS). */
guint ar_text_gen_last_token (const ArTextGen *gen);
/* Ends the stream's output: appends held-back bytes (an incomplete UTF-8 tail as
 * U+FFFD, a partial stop-string match as itself); beam search first outputs
 * the rest of its best hypothesis. */
void ar_text_gen_finish (ArTextGen *gen, GString *out);
guint64
ar_text_gen_get_n_tokens (const ArTextGen *gen); /* sampled since reset */

/* Threads for the large matrix products of each token: 1 (the default) =
 * the calling thread only, 0 = one per processor.  The stream's own pool;
 * its workers start only when a product is large enough to profit
 * (AR_THREADPOOL_MIN_WEIGHTS weights, ar-threadpool.h), so a small model
 * runs in one thread whatever is asked.  Results are bit for bit the same
 * for every value.  Takes effect at once. */
void ar_text_gen_set_threads (ArTextGen *gen, guint n_threads);

/* ---- beam search -------------------------------------------------------
 * With a beam width W >= 1 set, ar_text_gen_next() no longer samples: the
 * stream keeps W hypotheses, each with its own copy of the family state
 * (ArTextFamily.state_copy), scored by their total log-probability Σ log p
 * (natural log, temperature 1; the sampling parameters are ignored).  Each
 * call extends every hypothesis by its W most probable tokens and keeps
 * the W best of the candidates, ranked by score / n^α for a hypothesis of n
 * tokens with α the length penalty (0: by the score itself; larger α
 * favours longer hypotheses).  Ties rank the earlier hypothesis, then the
 * lower token id, first, so W = 1 is exactly greedy decoding.
 *
 * EOS: a candidate ending with the vocabulary's EOS token is a finished
 * hypothesis (EOS counts in its score and length; it is not output).  With
 * α = 0 only the best finished one is kept, and the search ends as soon as
 * it scores at least as well as every live one (their scores can only
 * fall); with α > 0 it ends once W have finished.  It also ends when no
 * live hypothesis is left.  ar_text_gen_next() then outputs the rest of the
 * best hypothesis and returns TRUE.
 *
 * Streaming: output is final once every hypothesis agrees on it, so each
 * call appends the tokens all hypotheses share beyond what is already out
 * (through the UTF-8 / stop-string filter as usual; reaching the stop
 * string ends the stream).  So that output never lags more than
 * AR_TEXT_BEAM_HORIZON tokens behind and memory stays bounded on endless
 * streams, when the best hypothesis has that many tokens not yet out, its
 * oldest one is output and the hypotheses that disagree with it are
 * dropped.  ar_text_gen_finish() (e.g. at max-tokens) outputs the rest of
 * the best hypothesis; ar_text_gen_feed() during a search first settles on
 * the best hypothesis, whose text is appended at the next call of next()
 * or finish(), and feeds the prompt after it.
 *
 * Costs: per token W forward calls, W log-softmaxes and up to W - 1 state
 * copies (a Transformer state copies its filled cache), and up to 3 W
 * family states of memory. */

#define AR_TEXT_BEAM_MAX_WIDTH 64
#define AR_TEXT_BEAM_HORIZON 64

/* @width 0: sampling (the default); 1 .. AR_TEXT_BEAM_MAX_WIDTH: beam
 * search of that width.  @length_penalty α >= 0.  Takes effect at the next
 * ar_text_gen_reset().  A family without state_copy samples whatever is
 * asked. */
void ar_text_gen_set_beam (ArTextGen *gen, guint width, float length_penalty);

/* ---- speculative decoding ----------------------------------------------
 * With a draft model set, ar_text_gen_next () samples in rounds: the draft
 * proposes k tokens, the target scores all of them in one batched pass
 * (ArTextFamily.forward_all) and keeps a prefix by the standard rule
 * (Leviathan et al. 2023; Chen et al. 2023; details in ar-text.c), then
 * rolls the rest back.  The output follows the target's distribution
 * exactly, with the stream's sampling parameters; greedy output (temperature
 * 0) is byte for byte that of plain greedy decoding, whatever the draft —
 * which only changes the speed.  The random draws differ from plain
 * sampling's, so a sampled stream differs from a plain one of the same
 * seed (both are reproducible from it).  Not used with beam search. */

#define AR_TEXT_SPECULATIVE_MAX_DRAFT 64

/* @draft (NULL: off) proposes @k tokens a round, 1 ..
 * AR_TEXT_SPECULATIVE_MAX_DRAFT (0: off).  Takes effect at the next
 * ar_text_gen_reset ().  Fails (changing nothing) when the target's family
 * cannot verify in a batch (AR_ERROR_UNSUPPORTED: RNN targets), the
 * draft's state cannot be saved, or the vocabularies differ
 * (AR_ERROR_INVALID). */
gboolean ar_text_gen_set_speculative (ArTextGen *gen, ArTextModel *draft,
    guint k, GError **error);
/* Since the last reset: rounds, drafts verified and drafts accepted (the
 * acceptance rate is accepted / drafted).  Each round outputs its accepted
 * drafts plus one token of the target's. */
void ar_text_gen_get_speculative_stats (const ArTextGen *gen, guint64 *rounds,
    guint64 *drafted, guint64 *accepted);

/* ---- non-autoregressive streams -----------------------------------------
 * A stream of a non-autoregressive model generates nar.slots tokens per
 * encoder pass group, each group by Mask-Predict with @iterations passes
 * (1 = fully parallel, the default), conditioned on the stream so far;
 * ar_text_gen_next () hands them out one at a time (details in ar-text.c).
 * Takes effect at the next pass.  No effect on other models. */
void ar_text_gen_set_iterations (ArTextGen *gen, guint iterations);
/* Encoder passes run since the last reset (non-autoregressive models). */
guint64 ar_text_gen_get_passes (const ArTextGen *gen);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArTextGen, ar_text_gen_free)

/* ---- the UTF-8 / stop-string output filter (exposed for tests) --------- */

typedef struct _ArTextFilter ArTextFilter;
ArTextFilter *ar_text_filter_new (void);
void ar_text_filter_free (ArTextFilter *f);
void ar_text_filter_reset (ArTextFilter *f);
void ar_text_filter_set_stop (ArTextFilter *f, const char *stop);
/* Pushes raw bytes; appends final valid UTF-8 to @out; TRUE when the stop string was reached. */
gboolean ar_text_filter_push (ArTextFilter *f, const char *bytes, gsize len,
    GString *out);
void ar_text_filter_finish (ArTextFilter *f, GString *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArTextFilter, ar_text_filter_free)

G_END_DECLS
