/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-text.c — loaded text models of any family, and generation streams.
 *
 * The model file's general.architecture picks the family from a small table;
 * the family loads its weights, the vocabulary comes from the file's
 * tokenizer keys, and the two are checked against each other.  A stream
 * (ArTextGen) is one family state, a sampler, an RNG and an output filter: it
 * is what the elements and `argen` drive, identically for every family. */
#include "ar-text.h"
#include "nar/ar-nar.h"
#include "rnn/ar-rnn.h"
#include "transformer/ar-transformer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A prompt queue longer than this (tokens) is freed once fed rather than
 * kept for the next prompt (queue_clear ()). */
#define AR_TEXT_QUEUE_KEEP 65536

static const ArTextFamily *const families[] = {
  &ar_rnn_text_family,
  &ar_transformer_llama_family,
  &ar_transformer_gpt_family,
};

struct _ArTextModel
{
  gint ref_count;
  ArGguf *gguf; /* the weights may point into its mapping */
  ArVocab *vocab;
  const ArTextFamily *family; /* NULL for a non-autoregressive model */
  gpointer impl;
  ArNar *nar; /* a non-autoregressive model ("nar"), else NULL */
};

ArTextModel *
ar_text_model_new_from_gguf (ArGguf *gguf, GError **error)
{
  const char *arch;
  const char *name = ar_gguf_get_name (gguf);
  if (!ar_gguf_get_string (gguf, "general.architecture", &arch, error))
    return NULL;
  if (strcmp (arch, "nar") == 0) {
    g_autoptr (ArNar) nar = ar_nar_new_from_gguf (gguf, error);
    if (nar == NULL)
      return NULL;
    ArTextModel *m = g_new0 (ArTextModel, 1);
    m->ref_count = 1;
    m->gguf = ar_gguf_ref (gguf);
    m->vocab = ar_vocab_new_from_gguf (gguf, error);
    g_assert (m->vocab != NULL); /* ar_nar_new_from_gguf () read it */
    m->nar = g_steal_pointer (&nar);
    return m;
  }
  const ArTextFamily *family = NULL;
  for (guint i = 0; i < G_N_ELEMENTS (families); i++)
    if (strcmp (families[i]->architecture, arch) == 0)
      family = families[i];
  if (family == NULL) {
    GString *known = g_string_new (NULL);
    for (guint i = 0; i < G_N_ELEMENTS (families); i++)
      g_string_append_printf (known, "%s\"%s\"", i ? ", " : "",
          families[i]->architecture);
    g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
        "%s: architecture \"%s\" is not a text model this build can run (text "
        "architectures: %s, \"nar\")",
        name, arch, known->str);
    g_string_free (known, TRUE);
    return NULL;
  }

  g_autoptr (ArVocab) vocab = ar_vocab_new_from_gguf (gguf, error);
  if (vocab == NULL)
    return NULL;
  gpointer impl = family->load (gguf, error);
  if (impl == NULL)
    return NULL;
  if (family->n_vocab (impl) != ar_vocab_get_size (vocab)) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: the model predicts %u tokens but the vocabulary has %u", name,
        family->n_vocab (impl), ar_vocab_get_size (vocab));
    family->free (impl);
    return NULL;
  }

  ArTextModel *m = g_new0 (ArTextModel, 1);
  m->ref_count = 1;
  m->gguf = ar_gguf_ref (gguf);
  m->vocab = g_steal_pointer (&vocab);
  m->family = family;
  m->impl = impl;
  return m;
}

ArTextModel *
ar_text_model_new_from_file (const char *path, GError **error)
{
  g_autoptr (ArGguf) gguf = ar_gguf_new_from_file (path, error);
  return gguf ? ar_text_model_new_from_gguf (gguf, error) : NULL;
}

ArTextModel *
ar_text_model_new_from_bytes (GBytes *bytes, const char *name, GError **error)
{
  g_autoptr (ArGguf) gguf = ar_gguf_new_from_bytes (bytes, name, error);
  return gguf ? ar_text_model_new_from_gguf (gguf, error) : NULL;
}

ArTextModel *
ar_text_model_ref (ArTextModel *m)
{
  g_return_val_if_fail (m != NULL, NULL);
  g_atomic_int_inc (&m->ref_count);
  return m;
}

void
ar_text_model_unref (ArTextModel *m)
{
  if (m == NULL || !g_atomic_int_dec_and_test (&m->ref_count))
    return;
  if (m->nar)
    ar_nar_free (m->nar);
  else
    m->family->free (m->impl);
  ar_vocab_free (m->vocab);
  ar_gguf_unref (m->gguf);
  g_free (m);
}

const char *
ar_text_model_get_name (const ArTextModel *m)
{
  g_return_val_if_fail (m != NULL, NULL);
  return ar_gguf_get_name (m->gguf);
}

const char *
ar_text_model_get_architecture (const ArTextModel *m)
{
  g_return_val_if_fail (m != NULL, NULL);
  return m->nar ? "nar" : m->family->architecture;
}

const ArNar *
ar_text_model_get_nar (const ArTextModel *m)
{
  g_return_val_if_fail (m != NULL, NULL);
  return m->nar;
}

const ArVocab *
ar_text_model_get_vocab (const ArTextModel *m)
{
  g_return_val_if_fail (m != NULL, NULL);
  return m->vocab;
}

const ArTextFamily *
ar_text_model_get_family (const ArTextModel *m)
{
  g_return_val_if_fail (m != NULL, NULL);
  return m->family;
}

gconstpointer
ar_text_model_get_impl (const ArTextModel *m)
{
  g_return_val_if_fail (m != NULL, NULL);
  return m->impl;
}

/* ---- streams --------------------------------------------------------- */

/* A beam search hypothesis: the tokens generated since the last reset (or
 * feed) that are not output yet, its score, and the family state after all
 * of its tokens.  A finished hypothesis (ended by EOS) keeps the state of
 * its last token before EOS, so that the stream can go on from it. */
typedef struct
{
  gpointer state;
  const float *logits; /* (n_vocab) for its next token; into state */
  double score;        /* Σ log p of its tokens */
  guint n_tokens;      /* its length, for length normalisation */
  GArray *pending;     /* gint32: its tokens not yet output */
  gboolean eos;        /* finished: its last (unlisted) token is EOS */
  float *saved;        /* (n_vocab) finished ones: the logits EOS was
                                 * chosen from (their state's own are not
                                 * reachable through the family interface) */
} Hyp;

/* An extension of hypothesis @beam by @token. */
typedef struct
{
  double score, rank;
  guint beam, token;
} Candidate;

struct _ArTextGen
{
  ArTextModel *model;
  gpointer state; /* the stream's state; NULL while beams hold it */
  ArSampler *sampler;
  ArSamplingParams params;
  ArRng rng;
  ArTextFilter *filter;
  const float
      *logits; /* (n_vocab) for the next token; into state or `uniform` */
  float
      *uniform; /* (n_vocab) zeros: the start when there is no BOS or prompt */
  guint last_token;
  gint prev_token; /* the last token output (or fed), -1 none */
  guint64 n_tokens;
  GArray *queue;      /* gint32: prompt tokens queued ... */
  guint queue_pos;    /* ... of which this many were fed */
  ArThreadPool *pool; /* NULL: one thread */

  /* beam search */
  guint beam_width; /* as set: 0 = sampling */
  float length_penalty;
  guint width;           /* in use since the last reset */
  gboolean searching;    /* the hypotheses hold the stream */
  gboolean ended;        /* the search ended; next() returns TRUE */
  Hyp *live, *next_live; /* (width) live hypotheses, best first */
  guint n_live;
  Hyp *done; /* (width) finished ones, best first */
  guint n_done;
  Candidate *cands; /* (width * width) */
  GPtrArray *spare; /* family states not in use */
  GString *held;    /* settled output not yet handed out */
  double *topv;     /* (width) scratch: the best logits ... */
  guint *topi;      /* (width) ... and their ids */

  /* speculative decoding (see "speculative decoding" below) */
  ArTextModel *draft;   /* as set: NULL = off */
  guint draft_k;        /* as set */
  gboolean speculating; /* in use since the last reset */
  guint k;              /* drafts per round, in use */
  gpointer dstate;      /* the draft's state */
  gpointer dsnap;       /* the draft's state at the start of a round */
  ArSampler *dsampler;
  gint t_next;     /* the token the target has still to consume, or -1 */
  float *p0;       /* (V) the target's logits before a round without one */
  float *dq0;      /* (V) the draft's logits at dsnap (zeros: none yet) */
  GArray *d_pend;  /* gint32: tokens the draft has still to consume */
  GArray *round;   /* gint32: the last round's output tokens ... */
  guint round_out; /* ... of which this many were handed out */
  gint32 round_prev; /* the last round's t_next ... */
  gboolean round_in; /* ... if it had one */
  float *rows;     /* (k + 1, V) the target's logits over a round */
  float *q;        /* (k, V) the draft's distributions */
  float *p;        /* (V) the target's distribution, then the residual */
  guint64 n_rounds, n_drafted, n_accepted;

  /* a non-autoregressive model (see "non-autoregressive streams") */
  ArNarState *nstate;
  GArray *history;    /* gint32: the stream so far (at most 2 C tokens) */
  guint iterations;   /* Mask-Predict's T */
  gint32 *chunk;      /* (slots) the last pass's tokens ... */
  guint chunk_len;    /* ... how many ... */
  guint chunk_out;    /* ... and how many were handed out */
  guint64 n_passes;
};

static gpointer
take_state (ArTextGen *gen)
{
  const ArTextFamily *fam = gen->model->family;
  gpointer state;

  if (gen->spare->len > 0)
    return g_ptr_array_steal_index_fast (gen->spare, gen->spare->len - 1);
  state = fam->state_new (gen->model->impl);
  if (fam->state_set_threadpool)
    fam->state_set_threadpool (gen->model->impl, state, gen->pool);
  return state;
}

static void
give_state (ArTextGen *gen, gpointer state)
{
  if (state != NULL)
    g_ptr_array_add (gen->spare, state);
}

static void
free_state (gpointer state, gpointer gen)
{
  ((ArTextGen *) gen)->model->family->state_free (state);
}

/* Frees the beam arrays (their states go back to the spares). */
static void
beams_clear (ArTextGen *gen)
{
  for (guint i = 0; i < gen->n_live; i++)
    give_state (gen, gen->live[i].state);
  for (guint i = 0; i < gen->n_done; i++)
    give_state (gen, gen->done[i].state);
  for (guint i = 0; i < gen->width; i++) {
    g_array_unref (gen->live[i].pending);
    g_array_unref (gen->next_live[i].pending);
    g_array_unref (gen->done[i].pending);
    g_free (gen->done[i].saved);
  }
  g_clear_pointer (&gen->live, g_free);
  g_clear_pointer (&gen->next_live, g_free);
  g_clear_pointer (&gen->done, g_free);
  g_clear_pointer (&gen->cands, g_free);
  g_clear_pointer (&gen->topv, g_free);
  g_clear_pointer (&gen->topi, g_free);
  gen->n_live = gen->n_done = 0;
  gen->width = 0;
  gen->searching = FALSE;
}

static void
beams_alloc (ArTextGen *gen, guint width)
{
  guint V = ar_vocab_get_size (gen->model->vocab);
  gboolean has_eos = ar_vocab_get_eos (gen->model->vocab) >= 0;

  gen->width = width;
  gen->live = g_new0 (Hyp, width);
  gen->next_live = g_new0 (Hyp, width);
  gen->done = g_new0 (Hyp, width);
  for (guint i = 0; i < width; i++) {
    gen->live[i].pending = g_array_new (FALSE, FALSE, sizeof (gint32));
    gen->next_live[i].pending = g_array_new (FALSE, FALSE, sizeof (gint32));
    gen->done[i].pending = g_array_new (FALSE, FALSE, sizeof (gint32));
    gen->done[i].saved = has_eos ? g_new (float, V) : NULL;
  }
  gen->cands = g_new (Candidate, (gsize) width * width);
  gen->topv = g_new (double, width);
  gen->topi = g_new (guint, width);
}

/* Empties the prompt queue; after a huge prompt it lets its memory go, so
 * that a stream does not keep megabytes of scratch for the rest of its
 * life. */
static void
queue_clear (ArTextGen *gen)
{
  if (gen->queue->len > AR_TEXT_QUEUE_KEEP) {
    g_array_unref (gen->queue);
    gen->queue = g_array_new (FALSE, FALSE, sizeof (gint32));
  }
  g_array_set_size (gen->queue, 0);
  gen->queue_pos = 0;
}

static gboolean beam_settle (ArTextGen *gen, GString *out);
static void spec_clear (ArTextGen *gen);
static void spec_start (ArTextGen *gen);
static void spec_settle (ArTextGen *gen);
static gboolean spec_next (ArTextGen *gen, GString *out);
static const float *feed_ids (ArTextModel *m, gpointer state,
    const gint32 *ids, guint n);
static gboolean nar_next (ArTextGen *gen, GString *out);

ArTextGen *
ar_text_gen_new (ArTextModel *model)
{
  g_return_val_if_fail (model != NULL, NULL);

  guint n_vocab = ar_vocab_get_size (model->vocab);
  ArTextGen *gen = g_new0 (ArTextGen, 1);
  gen->model = ar_text_model_ref (model);
  if (model->nar) {
    gen->nstate = ar_nar_state_new (model->nar);
    gen->history = g_array_new (FALSE, FALSE, sizeof (gint32));
    gen->chunk = g_new (gint32, ar_nar_get_slots (model->nar));
    gen->iterations = 1;
  } else {
    gen->state = model->family->state_new (model->impl);
  }
  gen->sampler = ar_sampler_new (n_vocab);
  gen->params = (ArSamplingParams) AR_SAMPLING_PARAMS_INIT;
  gen->filter = ar_text_filter_new ();
  gen->uniform = g_new0 (float, n_vocab);
  gen->queue = g_array_new (FALSE, FALSE, sizeof (gint32));
  gen->spare = g_ptr_array_new ();
  gen->held = g_string_new (NULL);
  ar_text_gen_reset (gen, 0);
  return gen;
}

void
ar_text_gen_free (ArTextGen *gen)
{
  if (gen == NULL)
    return;
  beams_clear (gen);
  spec_clear (gen);
  g_clear_pointer (&gen->draft, ar_text_model_unref);
  if (gen->state)
    gen->model->family->state_free (gen->state);
  g_clear_pointer (&gen->nstate, ar_nar_state_free);
  if (gen->history)
    g_array_unref (gen->history);
  g_free (gen->chunk);
  g_ptr_array_foreach (gen->spare, free_state, gen);
  g_ptr_array_unref (gen->spare);
  ar_sampler_free (gen->sampler);
  ar_text_filter_free (gen->filter);
  g_free (gen->uniform);
  g_array_unref (gen->queue);
  g_string_free (gen->held, TRUE);
  ar_threadpool_free (gen->pool);
  ar_text_model_unref (gen->model);
  g_free (gen);
}

void
ar_text_gen_reset (ArTextGen *gen, guint64 seed)
{
  g_return_if_fail (gen != NULL);

  const ArTextFamily *fam = gen->model->family;
  gint bos = ar_vocab_get_bos (gen->model->vocab);
  guint width = fam != NULL && fam->state_copy ? gen->beam_width : 0;

  /* the stream's state back from the hypotheses, if a search was on */
  if (gen->searching)
    beam_settle (gen, NULL);
  beams_clear (gen);
  if (width > 0)
    beams_alloc (gen, width);
  spec_clear (gen);
  queue_clear (gen);
  gen->ended = FALSE;
  g_string_truncate (gen->held, 0);
  ar_rng_init (&gen->rng, seed);
  ar_text_filter_reset (gen->filter);
  gen->n_tokens = 0;
  gen->last_token = 0;
  gen->prev_token = bos; /* -1 when none */
  gen->logits = gen->uniform;
  gen->n_rounds = gen->n_drafted = gen->n_accepted = gen->n_passes = 0;

  if (gen->model->nar) {
    /* the passes read the stream from the history */
    gen->chunk_len = gen->chunk_out = 0;
    g_array_set_size (gen->history, 0);
    if (bos >= 0)
      g_array_append_val (gen->history, bos);
    return;
  }
  fam->state_reset (gen->model->impl, gen->state);
  if (width == 0 && gen->draft != NULL && gen->draft_k > 0)
    spec_start (gen);
  if (bos >= 0) {
    gen->logits = fam->forward (gen->model->impl, gen->state, bos);
    /* the draft consumes it with its first round */
    if (gen->speculating)
      g_array_append_val (gen->d_pend, bos);
  }
}

void
ar_text_gen_set_sampling (ArTextGen *gen, const ArSamplingParams *params)
{
  g_return_if_fail (gen != NULL && params != NULL);
  /* taken as they were, a NaN or negative temperature made every later
   * ar_text_gen_next () fail its sampler's check and emit token 0 */
  g_return_if_fail (ar_sampling_params_check (params, NULL));
  gen->params = *params;
}

void
ar_text_gen_set_stop (ArTextGen *gen, const char *stop)
{
  g_return_if_fail (gen != NULL);
  ar_text_filter_set_stop (gen->filter, stop);
}

void
ar_text_gen_set_beam (ArTextGen *gen, guint width, float length_penalty)
{
  g_return_if_fail (gen != NULL);
  g_return_if_fail (width <= AR_TEXT_BEAM_MAX_WIDTH);
  g_return_if_fail (length_penalty >= 0.0f && isfinite (length_penalty));
  gen->beam_width = width;
  gen->length_penalty = length_penalty;
}

static void
set_pool (gpointer state, gpointer gen_)
{
  ArTextGen *gen = gen_;
  const ArTextFamily *fam = gen->model->family;

  if (state != NULL && fam->state_set_threadpool)
    fam->state_set_threadpool (gen->model->impl, state, gen->pool);
}

void
ar_text_gen_set_threads (ArTextGen *gen, guint n_threads)
{
  g_return_if_fail (gen != NULL);

  ArThreadPool *old = gen->pool;

  if (gen->model->nar)
    return; /* one batched pass: BLAS's own threads */
  if (n_threads == 0)
    n_threads = g_get_num_processors ();
  if (ar_threadpool_get_n_threads (old) ==
      MIN (n_threads, AR_THREADPOOL_MAX_THREADS))
    return;
  gen->pool = n_threads > 1 ? ar_threadpool_new (n_threads) : NULL;
  /* every state this stream owns, whatever its role */
  set_pool (gen->state, gen);
  for (guint i = 0; i < gen->n_live; i++)
    set_pool (gen->live[i].state, gen);
  for (guint i = 0; i < gen->n_done; i++)
    set_pool (gen->done[i].state, gen);
  g_ptr_array_foreach (gen->spare, set_pool, gen);
  if (gen->speculating) {
    const ArTextFamily *dfam = gen->draft->family;
    if (dfam->state_set_threadpool) {
      dfam->state_set_threadpool (gen->draft->impl, gen->dstate, gen->pool);
      dfam->state_set_threadpool (gen->draft->impl, gen->dsnap, gen->pool);
    }
  }
  ar_threadpool_free (old);
}

/* Pushes token @id through the output filter into @out, as output after
 * the previous one; TRUE when the stop string was reached. */
static gboolean
emit (ArTextGen *gen, guint id, GString *out)
{
  gsize len;
  const char *bytes =
      ar_vocab_decode (gen->model->vocab, gen->prev_token, id, &len);

  gen->prev_token = id;
  return ar_text_filter_push (gen->filter, bytes, len, out);
}

/* The rank of a hypothesis of @n tokens scoring @score. */
static double
beam_rank (const ArTextGen *gen, double score, guint n)
{
  if (gen->length_penalty == 0.0f || n == 0)
    return score;
  return score / pow (n, gen->length_penalty);
}

/* The best hypothesis, live or finished. */
static Hyp *
beam_best (ArTextGen *gen)
{
  Hyp *best = gen->n_live ? &gen->live[0] : NULL;

  if (gen->n_done &&
      (best == NULL ||
          beam_rank (gen, gen->done[0].score, gen->done[0].n_tokens) >=
              beam_rank (gen, best->score, best->n_tokens)))
    best = &gen->done[0];
  return best;
}

/* Ends the search on its best hypothesis: outputs its pending tokens into
 * @out (NULL: abandons them, as after the stop string or on reset), makes
 * its state the stream's, returns the others' states to the spares.  TRUE
 * when the output reached the stop string. */
static gboolean
beam_settle (ArTextGen *gen, GString *out)
{
  Hyp *best = beam_best (gen);
  gboolean stopped = FALSE;

  if (best != NULL) {
    for (guint i = 0; out && i < best->pending->len && !stopped; i++)
      stopped = emit (gen, g_array_index (best->pending, gint32, i), out);
    gen->last_token = best->eos ? (guint) ar_vocab_get_eos (gen->model->vocab)
        : best->pending->len
        ? (guint) g_array_index (best->pending, gint32, best->pending->len - 1)
        : gen->last_token;
    gen->state = best->state;
    gen->logits = best->logits;
    best->state = NULL;
  } else {
    gen->state = take_state (gen);
    gen->model->family->state_reset (gen->model->impl, gen->state);
    gen->logits = gen->uniform;
  }
  for (guint i = 0; i < gen->n_live; i++) {
    give_state (gen, gen->live[i].state);
    gen->live[i].state = NULL;
    g_array_set_size (gen->live[i].pending, 0);
  }
  for (guint i = 0; i < gen->n_done; i++) {
    give_state (gen, gen->done[i].state);
    gen->done[i].state = NULL;
    g_array_set_size (gen->done[i].pending, 0);
  }
  gen->n_live = gen->n_done = 0;
  gen->searching = FALSE;
  return stopped;
}

guint
ar_text_gen_queue (ArTextGen *gen, const char *text, gssize len)
{
  g_return_val_if_fail (gen != NULL, 0);
  g_return_val_if_fail (text != NULL || len == 0, 0);

  const ArTextFamily *fam = gen->model->family;
  guint before = gen->queue->len;

  /* a search in progress settles first: its text is handed out later (none
   * when it had ended at the stop string) */
  if (gen->searching)
    beam_settle (gen, gen->ended ? NULL : gen->held);
  gen->ended = FALSE;

  guint unknown = ar_vocab_encode (gen->model->vocab, text, len, gen->queue);
  guint n = gen->queue->len - before;
  /* (nothing queued may mean no storage: no pointer into it then) */
  const gint32 *ids =
      n > 0 ? (const gint32 *) gen->queue->data + before : NULL;

  if (gen->model->nar) {
    /* the tokens of the last pass not handed out are not part of the
     * stream; the prompt is.  Appending costs no model work, so nothing
     * stays queued; only the last C tokens are ever read (nar_next ()) */
    guint C = ar_nar_get_context_length (gen->model->nar);

    gen->chunk_len = gen->chunk_out = 0;
    g_array_append_vals (gen->history, ids, n);
    if (gen->history->len > 2 * C)
      g_array_remove_range (gen->history, 0, gen->history->len - C);
    g_array_set_size (gen->queue, before);
  } else if (gen->speculating) {
    /* what the last round made and nobody took is dropped; with a prompt
     * the target then takes the last token out (as plain decoding did when
     * it was drawn) before it, exactly as plain decoding does */
    spec_settle (gen);
    if (n > 0 && gen->t_next >= 0)
      fam->forward (gen->model->impl, gen->state, gen->t_next);
    if (n > 0)
      gen->t_next = -1;
  }
  if (n > 0)
    gen->prev_token = ids[n - 1];
  return unknown;
}

guint
ar_text_gen_feed_queued (ArTextGen *gen, guint max_tokens)
{
  g_return_val_if_fail (gen != NULL, 0);

  guint left = gen->queue->len - gen->queue_pos;
  guint n = MIN (max_tokens, left);
  const gint32 *ids;

  /* (an empty queue may have no storage: no pointer into it then) */
  if (n == 0)
    return left;
  ids = (const gint32 *) gen->queue->data + gen->queue_pos;
  gen->logits = feed_ids (gen->model, gen->state, ids, n);
  if (gen->speculating) {
    /* the draft catches up at once rather than at its next round, so that
     * a long prompt leaves no long uninterruptible catch-up behind it */
    const float *ql;

    g_array_append_vals (gen->d_pend, ids, n);
    ql = feed_ids (gen->draft, gen->dstate, (const gint32 *) gen->d_pend->data,
        gen->d_pend->len);
    memcpy (gen->dq0, ql,
        ar_vocab_get_size (gen->model->vocab) * sizeof (float));
    g_array_set_size (gen->d_pend, 0);
  }
  gen->queue_pos += n;
  left -= n;
  if (left == 0)
    queue_clear (gen);
  return left;
}

guint
ar_text_gen_get_n_queued (const ArTextGen *gen)
{
  g_return_val_if_fail (gen != NULL, 0);
  return gen->queue->len - gen->queue_pos;
}

guint
ar_text_gen_feed (ArTextGen *gen, const char *text, gssize len)
{
  g_return_val_if_fail (gen != NULL, 0);
  g_return_val_if_fail (text != NULL || len == 0, 0);

  guint unknown = ar_text_gen_queue (gen, text, len);

  ar_text_gen_feed_queued (gen, G_MAXUINT);
  return unknown;
}

/* Orders candidates best first: by rank, then earlier hypothesis, then
 * lower token id (a total order, so the search is deterministic). */
static int
cmp_candidates (gconstpointer pa, gconstpointer pb)
{
  const Candidate *a = pa, *b = pb;

  if (a->rank != b->rank)
    return a->rank > b->rank ? -1 : 1;
  if (a->beam != b->beam)
    return a->beam < b->beam ? -1 : 1;
  return a->token < b->token ? -1 : a->token > b->token;
}

/* Appends to gen->cands hypothesis @b's extensions by its most probable
 * tokens (up to width of them): log-probabilities from a log-softmax in
 * double precision; non-finite logits are never candidates. */
static guint
beam_candidates (ArTextGen *gen, guint b, Candidate *out)
{
  const Hyp *h = &gen->live[b];
  const float *l = h->logits;
  guint V = ar_vocab_get_size (gen->model->vocab), k = 0;
  double max = -INFINITY, sum = 0.0, lse;

  for (guint i = 0; i < V; i++)
    if (isfinite (l[i]) && l[i] > max)
      max = l[i];
  if (max == -INFINITY)
    return 0;
  for (guint i = 0; i < V; i++)
    if (isfinite (l[i]))
      sum += exp ((double) l[i] - max);
  lse = max + log (sum);

  /* the top `width` logits by insertion, ties keeping the lower id first */
  for (guint i = 0; i < V; i++) {
    guint j;
    if (!isfinite (l[i]) || (k == gen->width && !(l[i] > gen->topv[k - 1])))
      continue;
    j = k < gen->width ? k++ : k - 1;
    for (; j > 0 && l[i] > gen->topv[j - 1]; j--) {
      gen->topv[j] = gen->topv[j - 1];
      gen->topi[j] = gen->topi[j - 1];
    }
    gen->topv[j] = l[i];
    gen->topi[j] = i;
  }
  for (guint j = 0; j < k; j++) {
    out[j].beam = b;
    out[j].token = gen->topi[j];
    out[j].score = h->score + (gen->topv[j] - lse);
    out[j].rank = beam_rank (gen, out[j].score, h->n_tokens + 1);
  }
  return k;
}

/* Offers a finished hypothesis (parent @p + EOS, scoring @score) to the
 * finished list, best first, at most width long (1 with no length
 * penalty: a worse finished one can never win). */
static void
beam_finish (ArTextGen *gen, const Hyp *p, double score)
{
  guint cap = gen->length_penalty == 0.0f ? 1 : gen->width;
  double rank = beam_rank (gen, score, p->n_tokens + 1);
  guint at = gen->n_done;
  Hyp tmp;

  while (at > 0 &&
      rank >
          beam_rank (gen, gen->done[at - 1].score, gen->done[at - 1].n_tokens))
    at--;
  if (at >= cap)
    return;
  if (gen->n_done == cap) {
    /* the worst is dropped; its slot is reused */
    give_state (gen, gen->done[cap - 1].state);
    gen->done[cap - 1].state = NULL;
  } else {
    gen->n_done++;
  }
  tmp = gen->done[gen->n_done - 1];
  memmove (gen->done + at + 1, gen->done + at,
      (gen->n_done - 1 - at) * sizeof (Hyp));
  gen->done[at] = tmp;
  /* the state of its last token before EOS, so the stream can go on */
  gen->done[at].state = take_state (gen);
  gen->model->family->state_copy (gen->model->impl, gen->done[at].state,
      p->state);
  memcpy (gen->done[at].saved, p->logits,
      ar_vocab_get_size (gen->model->vocab) * sizeof (float));
  gen->done[at].logits = gen->done[at].saved;
  gen->done[at].score = score;
  gen->done[at].n_tokens = p->n_tokens + 1;
  gen->done[at].eos = TRUE;
  g_array_set_size (gen->done[at].pending, 0);
  g_array_append_vals (gen->done[at].pending, p->pending->data,
      p->pending->len);
}

/* Drops live hypothesis @i (its state to the spares). */
static void
beam_drop_live (ArTextGen *gen, guint i)
{
  Hyp tmp = gen->live[i];

  give_state (gen, tmp.state);
  tmp.state = NULL;
  memmove (gen->live + i, gen->live + i + 1,
      (gen->n_live - 1 - i) * sizeof (Hyp));
  gen->live[--gen->n_live] = tmp;
}

/* Outputs what every hypothesis agrees on, after forcing out the oldest
 * token of the best one when it lags AR_TEXT_BEAM_HORIZON tokens behind.
 * TRUE when the output reached the stop string. */
static gboolean
beam_commit (ArTextGen *gen, GString *out)
{
  Hyp *best = beam_best (gen);
  guint n;

  if (best == NULL)
    return FALSE;
  if (best->pending->len >= AR_TEXT_BEAM_HORIZON) {
    gint32 first = g_array_index (best->pending, gint32, 0);
    for (guint i = gen->n_live; i-- > 0;)
      if (g_array_index (gen->live[i].pending, gint32, 0) != first)
        beam_drop_live (gen, i);
    for (guint i = gen->n_done; i-- > 0;)
      if (gen->done[i].pending->len == 0 ||
          g_array_index (gen->done[i].pending, gint32, 0) != first) {
        Hyp tmp = gen->done[i];
        give_state (gen, tmp.state);
        tmp.state = NULL;
        memmove (gen->done + i, gen->done + i + 1,
            (gen->n_done - 1 - i) * sizeof (Hyp));
        gen->done[--gen->n_done] = tmp;
      }
    /* the drops moved the hypotheses: find the best again */
    best = beam_best (gen);
  }

  /* the longest prefix common to every hypothesis */
  n = best->pending->len;
  for (guint i = 0; i < gen->n_live + gen->n_done; i++) {
    const GArray *p = i < gen->n_live ? gen->live[i].pending
                                      : gen->done[i - gen->n_live].pending;
    guint k = 0;
    n = MIN (n, p->len);
    while (k < n &&
        g_array_index (p, gint32, k) ==
            g_array_index (best->pending, gint32, k))
      k++;
    n = k;
  }
  if (n == 0)
    return FALSE;
  for (guint i = 0; i < n; i++)
    if (emit (gen, g_array_index (best->pending, gint32, i), out))
      return TRUE;
  for (guint i = 0; i < gen->n_live; i++)
    g_array_remove_range (gen->live[i].pending, 0, n);
  for (guint i = 0; i < gen->n_done; i++)
    g_array_remove_range (gen->done[i].pending, 0, n);
  return FALSE;
}

/* One step of the beam search; TRUE when the stream ended. */
static gboolean
beam_next (ArTextGen *gen, GString *out)
{
  const ArTextFamily *fam = gen->model->family;
  gint eos = ar_vocab_get_eos (gen->model->vocab);
  guint n_cands = 0, n_next = 0;
  /* per live hypothesis: 1 + the index of its first child, 0 if none */
  guint first_child[AR_TEXT_BEAM_MAX_WIDTH];

  if (!gen->searching) {
    /* the stream's state becomes the one live hypothesis */
    Hyp *h = &gen->live[0];
    h->state = gen->state;
    h->logits = gen->logits;
    h->score = 0.0;
    h->n_tokens = 0;
    h->eos = FALSE;
    g_array_set_size (h->pending, 0);
    gen->state = NULL;
    gen->n_live = 1;
    gen->n_done = 0;
    gen->searching = TRUE;
  }

  for (guint b = 0; b < gen->n_live; b++)
    n_cands += beam_candidates (gen, b, gen->cands + n_cands);
  qsort (gen->cands, n_cands, sizeof (Candidate), cmp_candidates);

  /* the best candidates: EOS ones finish, the others become the next live
   * hypotheses, up to width of them; a parent's state goes to its first
   * child, copies to the others (made before any child runs a token) */
  memset (first_child, 0, sizeof first_child);
  for (guint c = 0; c < n_cands && n_next < gen->width; c++) {
    const Candidate *cd = &gen->cands[c];
    Hyp *p = &gen->live[cd->beam], *h;

    if ((gint) cd->token == eos) {
      beam_finish (gen, p, cd->score);
      continue;
    }
    h = &gen->next_live[n_next++];
    if (!first_child[cd->beam]) {
      first_child[cd->beam] = n_next;
      h->state = NULL; /* the parent's, moved below */
    } else {
      h->state = take_state (gen);
      fam->state_copy (gen->model->impl, h->state, p->state);
    }
    h->score = cd->score;
    h->n_tokens = p->n_tokens + 1;
    h->eos = FALSE;
    g_array_set_size (h->pending, 0);
    g_array_append_vals (h->pending, p->pending->data, p->pending->len);
    g_array_append_val (h->pending, cd->token);
  }
  /* the moves, and the states of parents without children to the spares */
  for (guint b = 0; b < gen->n_live; b++) {
    if (first_child[b])
      gen->next_live[first_child[b] - 1].state = gen->live[b].state;
    else
      give_state (gen, gen->live[b].state);
    gen->live[b].state = NULL;
  }
  {
    Hyp *swap = gen->live;
    gen->live = gen->next_live;
    gen->next_live = swap;
    gen->n_live = n_next;
  }
  /* every child runs its token */
  for (guint i = 0; i < gen->n_live; i++) {
    Hyp *h = &gen->live[i];
    gint32 token = g_array_index (h->pending, gint32, h->pending->len - 1);
    h->logits = fam->forward (gen->model->impl, h->state, token);
  }

  /* without length penalty, a live hypothesis scoring below the best
   * finished one can never overtake it: scores only fall */
  if (gen->length_penalty == 0.0f && gen->n_done > 0)
    while (gen->n_live > 0 &&
        gen->live[gen->n_live - 1].score <= gen->done[0].score)
      beam_drop_live (gen, gen->n_live - 1);

  if (gen->n_live > 0)
    gen->last_token = g_array_index (gen->live[0].pending, gint32,
        gen->live[0].pending->len - 1);
  if (gen->n_live == 0 ||
      (gen->length_penalty > 0.0f && gen->n_done >= gen->width)) {
    gen->ended = TRUE;
    beam_settle (gen, out);
    return TRUE;
  }
  return beam_commit (gen, out);
}

gboolean
ar_text_gen_next (ArTextGen *gen, GString *out)
{
  g_return_val_if_fail (gen != NULL && out != NULL, TRUE);
  if (gen->held->len > 0) {
    g_string_append_len (out, gen->held->str, gen->held->len);
    g_string_truncate (gen->held, 0);
  }
  if (gen->ended)
    return TRUE;
  /* what is still queued of a prompt comes before the next token */
  ar_text_gen_feed_queued (gen, G_MAXUINT);
  gen->n_tokens++;
  if (gen->width > 0) {
    if (beam_next (gen, out)) {
      gen->ended = TRUE;
      return TRUE;
    }
    return FALSE;
  }
  /* once ended, the stream stays ended until a reset or a prompt, as a
   * beam search does: sampling again from the logits that gave EOS would
   * continue the text past its end */
  if (gen->speculating) {
    gen->ended = spec_next (gen, out);
    return gen->ended;
  }
  if (gen->model->nar) {
    gen->ended = nar_next (gen, out);
    return gen->ended;
  }

  guint token =
      ar_sampler_sample (gen->sampler, &gen->params, &gen->rng, gen->logits);
  gen->last_token = token;
  /* EOS ends the stream: it has no text, and feeding it would only start
   * a new sequence the caller did not ask for */
  if ((gint) token == ar_vocab_get_eos (gen->model->vocab)
      || emit (gen, token, out)) {
    gen->ended = TRUE;
    return TRUE;
  }
  gen->logits =
      gen->model->family->forward (gen->model->impl, gen->state, token);
  return FALSE;
}

guint
ar_text_gen_last_token (const ArTextGen *gen)
{
  g_return_val_if_fail (gen != NULL, 0);
  return gen->last_token;
}

void
ar_text_gen_finish (ArTextGen *gen, GString *out)
{
  g_return_if_fail (gen != NULL && out != NULL);
  if (gen->held->len > 0) {
    g_string_append_len (out, gen->held->str, gen->held->len);
    g_string_truncate (gen->held, 0);
  }
  if (gen->searching && !gen->ended) {
    gen->ended = TRUE;
    beam_settle (gen, out);
  }
  ar_text_filter_finish (gen->filter, out);
}

guint64
ar_text_gen_get_n_tokens (const ArTextGen *gen)
{
  g_return_val_if_fail (gen != NULL, 0);
  return gen->n_tokens;
}

/* ---- speculative decoding ---------------------------------------------
 *
 * The stream runs in rounds.  The target consumes BOS and prompts as plain
 * decoding does (forward (), forward_prompt ()), so that its cache holds
 * the same values bit for bit; after a round it lags by at most one token,
 * the round's last (t_next).  The draft lags by the tokens in d_pend.  A
 * round:
 *   1. the draft consumes its pending tokens, its state is saved (dsnap),
 *      and it proposes d1 .. dk, each sampled from its own distribution
 *      q_i (the stream's sampling parameters applied to its logits; the
 *      argmax when greedy), feeding each but the last back;
 *   2. the target scores [t_next, d1 .. dk] (or [d1 .. dk] when it lags by
 *      nothing: p_0 is then its current logits) in one forward_all ()
 *      call: the logits after each, p_0 .. p_k, bit for bit those of
 *      one-token-at-a-time decoding (m <= k drafts are verified when the
 *      context window has less room);
 *   3. d_i is accepted with probability min (1, p_{i-1} (d_i) / q_i (d_i))
 *      (greedy: when it is the argmax of p_{i-1}); at the first rejection
 *      a token is drawn from the residual max (0, p_{i-1} - q_i),
 *      normalised, and the round ends; if all m are accepted, a bonus
 *      token is drawn from p_m.  (Leviathan et al. 2023, Chen et al. 2023:
 *      each output token then follows the target's distribution exactly,
 *      whatever the draft.)
 *   4. the target rewinds the rejected drafts; the draft returns to dsnap
 *      and is left the accepted drafts to consume (or, when all k were
 *      accepted, only d_k); both are left the round's last token.
 * ar_text_gen_next () hands the round's tokens out one at a time.  Tokens
 * a round made beyond what was handed out (the stream ended at EOS or the
 * stop string, or a prompt is fed mid-round) are taken back from both
 * states (spec_settle ()), so the stream continues exactly as plain
 * decoding would. */

gboolean
ar_text_gen_set_speculative (ArTextGen *gen, ArTextModel *draft, guint k,
    GError **error)
{
  g_return_val_if_fail (gen != NULL, FALSE);
  g_return_val_if_fail (k <= AR_TEXT_SPECULATIVE_MAX_DRAFT, FALSE);

  if (draft != NULL && k > 0) {
    const ArTextFamily *fam = gen->model->family;

    if (gen->model->nar || draft->nar) {
      g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
          "%s: a non-autoregressive model can be neither the target nor the "
          "draft of speculative decoding here",
          ar_text_model_get_name (gen->model->nar ? gen->model : draft));
      return FALSE;
    }
    if (fam->forward_all == NULL || fam->state_rewind == NULL) {
      g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
          "%s: %s models cannot verify drafts in one pass; speculative "
          "decoding needs a Transformer (llama or gpt) target",
          ar_text_model_get_name (gen->model), fam->architecture);
      return FALSE;
    }
    if (draft->family->state_copy == NULL) {
      g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
          "%s: %s models cannot be drafts (their state cannot be saved)",
          ar_text_model_get_name (draft), draft->family->architecture);
      return FALSE;
    }
    if (!ar_vocab_equal (gen->model->vocab, draft->vocab)) {
      g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
          "the draft model %s has another vocabulary than %s (%u and %u "
          "tokens); a draft must share the target's tokens",
          ar_text_model_get_name (draft), ar_text_model_get_name (gen->model),
          ar_vocab_get_size (draft->vocab),
          ar_vocab_get_size (gen->model->vocab));
      return FALSE;
    }
  }
  if (draft != gen->draft) {
    g_clear_pointer (&gen->draft, ar_text_model_unref);
    gen->draft = draft ? ar_text_model_ref (draft) : NULL;
  }
  gen->draft_k = draft ? k : 0;
  return TRUE;
}

void
ar_text_gen_get_speculative_stats (const ArTextGen *gen, guint64 *rounds,
    guint64 *drafted, guint64 *accepted)
{
  g_return_if_fail (gen != NULL);
  if (rounds)
    *rounds = gen->n_rounds;
  if (drafted)
    *drafted = gen->n_drafted;
  if (accepted)
    *accepted = gen->n_accepted;
}

static void
spec_clear (ArTextGen *gen)
{
  if (!gen->speculating)
    return;
  gen->draft->family->state_free (gen->dstate);
  gen->draft->family->state_free (gen->dsnap);
  g_clear_pointer (&gen->dsampler, ar_sampler_free);
  g_clear_pointer (&gen->p0, g_free);
  g_clear_pointer (&gen->dq0, g_free);
  g_clear_pointer (&gen->d_pend, g_array_unref);
  g_clear_pointer (&gen->round, g_array_unref);
  g_clear_pointer (&gen->rows, g_free);
  g_clear_pointer (&gen->q, g_free);
  g_clear_pointer (&gen->p, g_free);
  gen->dstate = gen->dsnap = NULL;
  gen->speculating = FALSE;
}

/* Allocates a round's buffers and the draft's states, empty. */
static void
spec_start (ArTextGen *gen)
{
  const ArTextFamily *dfam = gen->draft->family;
  gsize V = ar_vocab_get_size (gen->model->vocab);

  gen->speculating = TRUE;
  gen->k = gen->draft_k;
  gen->dstate = dfam->state_new (gen->draft->impl);
  gen->dsnap = dfam->state_new (gen->draft->impl);
  if (dfam->state_set_threadpool) {
    dfam->state_set_threadpool (gen->draft->impl, gen->dstate, gen->pool);
    dfam->state_set_threadpool (gen->draft->impl, gen->dsnap, gen->pool);
  }
  gen->dsampler = ar_sampler_new (V);
  gen->t_next = -1;
  gen->p0 = g_new (float, V);
  gen->dq0 = g_new0 (float, V);
  gen->d_pend = g_array_new (FALSE, FALSE, sizeof (gint32));
  gen->round = g_array_new (FALSE, FALSE, sizeof (gint32));
  gen->round_out = 0;
  gen->rows = g_new (float, (gen->k + 1) * V);
  gen->q = g_new (float, gen->k * V);
  gen->p = g_new (float, V);
}

/* Feeds @ids (n >= 1) to @state of @m; returns the logits after the last. */
static const float *
feed_ids (ArTextModel *m, gpointer state, const gint32 *ids, guint n)
{
  const ArTextFamily *fam = m->family;
  const float *logits = NULL;

  if (fam->forward_prompt)
    return fam->forward_prompt (m->impl, state, ids, n);
  for (guint i = 0; i < n; i++)
    logits = fam->forward (m->impl, state, ids[i]);
  return logits;
}

/* One round (see above): fills gen->round. */
static void
spec_round (ArTextGen *gen)
{
  const ArTextFamily *fam = gen->model->family, *dfam = gen->draft->family;
  gconstpointer impl = gen->model->impl, dimpl = gen->draft->impl;
  guint V = ar_vocab_get_size (gen->model->vocab), k = gen->k, m, a = 0;
  gboolean greedy = gen->params.temperature == 0.0f;
  gint32 *batch = g_newa (gint32, k + 1);
  float *rows = gen->rows; /* (k + 1, V) p_0 .. p_k */
  const float *ql;
  gint y = -1;

  g_array_set_size (gen->round, 0);
  gen->round_out = 0;

  /* 1. the draft catches up, is saved, and proposes */
  if (gen->d_pend->len > 0) {
    ql = feed_ids (gen->draft, gen->dstate,
        (const gint32 *) gen->d_pend->data, gen->d_pend->len);
    memcpy (gen->dq0, ql, V * sizeof (float));
  }
  ql = gen->dq0;
  g_array_set_size (gen->d_pend, 0);
  dfam->state_copy (dimpl, gen->dsnap, gen->dstate);
  for (guint i = 0; i < k; i++) {
    guint d;

    if (greedy) {
      d = ar_argmax (ql, V);
    } else {
      float *qi = gen->q + (gsize) i * V;
      ar_sampler_distribution (gen->dsampler, &gen->params, ql, qi);
      d = (guint) ar_sample_weights (&gen->rng, qi, V);
    }
    batch[i + 1] = (gint32) d;
    if (i + 1 < k)
      ql = dfam->forward (dimpl, gen->dstate, d);
  }

  /* 2. the target scores [t_next, d1 .. dk] in one pass: rows p_0 ..
   * p_k; without t_next, p_0 is its current logits (saved: the pass
   * overwrites them) */
  if (gen->t_next >= 0) {
    batch[0] = gen->t_next;
    m = fam->forward_all (impl, gen->state, batch, k + 1, rows) - 1;
  } else {
    memcpy (gen->p0, gen->logits, V * sizeof (float));
    memcpy (rows, gen->p0, V * sizeof (float));
    m = fam->forward_all (impl, gen->state, batch + 1, k, rows + V);
  }
  gen->round_in = gen->t_next >= 0;
  gen->round_prev = batch[0];

  /* 3. accept or reject */
  for (guint i = 1; i <= m; i++) {
    const float *row = rows + (gsize) (i - 1) * V;
    guint d = (guint) batch[i];

    if (greedy) {
      guint best = ar_argmax (row, V);
      if (best != d) {
        y = (gint) best;
        break;
      }
    } else {
      const float *qi = gen->q + (gsize) (i - 1) * V;
      ar_sampler_distribution (gen->sampler, &gen->params, row, gen->p);
      /* accepted with probability min (1, p (d) / q (d)); q (d) > 0 since
       * d was drawn from q */
      if (!(ar_rng_uniform (&gen->rng) * qi[d] < gen->p[d])) {
        for (guint j = 0; j < V; j++)
          gen->p[j] = MAX (0.0f, gen->p[j] - qi[j]);
        y = ar_sample_weights (&gen->rng, gen->p, V);
        /* p <= q everywhere only when they are equal up to rounding: then
         * the target's own distribution is the residual's limit */
        if (y < 0)
          y = (gint) ar_sampler_sample (gen->sampler, &gen->params, &gen->rng,
              row);
        break;
      }
    }
    a++;
  }
  if (y < 0)
    y = (gint) ar_sampler_sample (gen->sampler, &gen->params, &gen->rng,
        rows + (gsize) m * V);

  /* 4. roll back what was rejected; both models are left y to consume */
  g_array_append_vals (gen->round, batch + 1, a);
  g_array_append_val (gen->round, y);
  fam->state_rewind (impl, gen->state, m - a);
  gen->t_next = y;
  if (a == k) {
    g_array_append_val (gen->d_pend, batch[k]);
  } else {
    dfam->state_copy (dimpl, gen->dstate, gen->dsnap);
    g_array_append_vals (gen->d_pend, batch + 1, a);
  }
  g_array_append_val (gen->d_pend, y);
  gen->n_rounds++;
  gen->n_drafted += m;
  gen->n_accepted += a;
}

/* Takes back from both states the tokens of the last round not handed out,
 * so that they hold exactly the stream so far. */
static void
spec_settle (ArTextGen *gen)
{
  guint u = gen->round->len - gen->round_out;

  if (u > 0) {
    const ArTextFamily *fam = gen->model->family;

    /* The target holds [t_next of the round, if any; d1 .. da] from the
     * round's pass, and lags by its last token.  It keeps the drafts
     * handed out, and the last token out becomes its lagging token again
     * (its logits were overwritten since); when nothing was handed out
     * and the round started without one, it is back where it was, with
     * the logits saved. */
    if (gen->round_out > 0 || gen->round_in) {
      fam->state_rewind (gen->model->impl, gen->state, u - !gen->round_in);
      gen->t_next = gen->round_out > 0
          ? g_array_index (gen->round, gint32, gen->round_out - 1)
          : gen->round_prev;
      if (!gen->round_in)
        fam->state_rewind (gen->model->impl, gen->state, 1);
    } else {
      fam->state_rewind (gen->model->impl, gen->state, u - 1);
      gen->t_next = -1;
      gen->logits = gen->p0;
    }
    /* the draft: back to the round's start, then what was handed out */
    gen->draft->family->state_copy (gen->draft->impl, gen->dstate,
        gen->dsnap);
    g_array_set_size (gen->d_pend, 0);
    g_array_append_vals (gen->d_pend, gen->round->data, gen->round_out);
  }
  g_array_set_size (gen->round, 0);
  gen->round_out = 0;
}

/* ar_text_gen_next () while speculating. */
static gboolean
spec_next (ArTextGen *gen, GString *out)
{
  guint token;

  if (gen->round_out == gen->round->len)
    spec_round (gen);
  token = g_array_index (gen->round, gint32, gen->round_out++);
  gen->last_token = token;
  /* a token that ends the stream is not part of it (plain decoding does
   * not feed it either): spec_settle () takes it back */
  if ((gint) token == ar_vocab_get_eos (gen->model->vocab)) {
    gen->round_out--;
    return TRUE;
  }
  if (emit (gen, token, out)) {
    gen->round_out--;
    return TRUE;
  }
  return FALSE;
}

/* ---- non-autoregressive streams ----------------------------------------
 * A stream of a "nar" model keeps its text so far (BOS, prompts and the
 * tokens handed out) as the context of Mask-Predict passes: when the last
 * pass's tokens are all out, the next pass fills the model's nar.slots
 * slots after the last (context length - slots) tokens of the stream, in
 * `iterations` refinement passes (ar_nar_generate ()), and its tokens are
 * handed out one per ar_text_gen_next ().  A prompt fed in between drops
 * what the pass made beyond what was handed out.  Beam search and
 * speculative decoding do not apply. */

void
ar_text_gen_set_iterations (ArTextGen *gen, guint iterations)
{
  g_return_if_fail (gen != NULL && iterations >= 1);
  gen->iterations = iterations;
}

guint64
ar_text_gen_get_passes (const ArTextGen *gen)
{
  g_return_val_if_fail (gen != NULL, 0);
  return gen->n_passes;
}

static gboolean
nar_next (ArTextGen *gen, GString *out)
{
  const ArNar *nar = gen->model->nar;
  guint C = ar_nar_get_context_length (nar);
  guint token;

  if (gen->chunk_out == gen->chunk_len) {
    gen->n_passes += ar_nar_generate (nar, gen->nstate,
        (const gint32 *) gen->history->data, gen->history->len,
        ar_nar_get_slots (nar), gen->iterations, &gen->params, &gen->rng,
        gen->chunk);
    gen->chunk_len = ar_nar_get_slots (nar);
    gen->chunk_out = 0;
  }
  token = (guint) gen->chunk[gen->chunk_out++];
  gen->last_token = token;
  if ((gint) token == ar_vocab_get_eos (gen->model->vocab))
    return TRUE;
  g_array_append_val (gen->history, token);
  /* only the last C tokens are ever read: keep at most 2 C */
  if (gen->history->len > 2 * C)
    g_array_remove_range (gen->history, 0, gen->history->len - C);
  return emit (gen, token, out);
}
