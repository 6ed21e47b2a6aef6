/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-nar.c — the non-autoregressive text model: loading and checking a
 * "nar" file, and Mask-Predict decoding over the bidirectional encoder of
 * ar-transformer.h (see ar-nar.h for the model and the algorithm).
 *
 * Where the time goes: each iteration is one ar_transformer_encode () of
 * the c + n positions (batched products, cblas_sgemm for F32 weights); the
 * choice of tokens and the confidences cost O (n V) and the re-masking an
 * O (n log n) sort, both negligible next to the pass. */
#include "ar-nar.h"

#include <math.h>
#include <string.h>

/* new_floats (n), spelled as a function so that clang-format reads the size
 * as an expression */
static float *
new_floats (gsize n)
{
  return g_new (float, n);
}

struct _ArNar
{
  ArGguf *gguf; /* holds the mapping the weights live in */
  ArTransformer *t;
  ArVocab *vocab;
  guint n_vocab; /* V: text tokens; the mask token is V */
  guint slots;   /* N */
  guint n_cache; /* positions a pass can take */
};

struct _ArNarState
{
  ArTransformerState *ts;
  ArSampler *sampler; /* over the V text tokens */
  gint32 *tokens;     /* (n_cache) the pass's input: context, then slots */
  float *logits;      /* (n_cache, V + 1) the pass's output */
  float *conf;        /* (n_cache) each slot's confidence */
  gboolean *masked;   /* (n_cache) the slots the next pass predicts */
  guint *order;       /* (n_cache) slots by confidence, for re-masking */
};

/* ---- loading ------------------------------------------------------------ */

ArNar *
ar_nar_new_from_gguf (ArGguf *gguf, GError **error)
{
  g_return_val_if_fail (gguf != NULL, NULL);
  const char *name = ar_gguf_get_name (gguf), *arch = NULL;
  g_autoptr (ArTransformer) t = NULL;
  g_autoptr (ArVocab) vocab = NULL;
  guint32 mask, slots;

  if (!ar_gguf_get_string (gguf, "general.architecture", &arch, error))
    return NULL;
  if (strcmp (arch, "nar") != 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: general.architecture is '%s'; expected 'nar' (a "
        "non-autoregressive model)",
        name, arch);
    return NULL;
  }
  if (!(t = ar_transformer_new_from_gguf (gguf, error)))
    return NULL;
  if (!(vocab = ar_vocab_new_from_gguf (gguf, error)))
    return NULL;
  if (!ar_gguf_get_u32 (gguf, "nar.mask_token_id", &mask, error) ||
      !ar_gguf_get_u32 (gguf, "nar.slots", &slots, error))
    return NULL;

  const ArTransformerConfig *c = ar_transformer_get_config (t);
  guint V = ar_vocab_get_size (vocab),
        n_cache = ar_transformer_get_cache_length (t);

  if (!c->bidirectional) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: the Transformer is not bidirectional", name);
    return NULL;
  }
  if (mask != V) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: nar.mask_token_id is %u; expected the vocabulary's size %u (the "
        "mask token follows the text tokens)",
        name, mask, V);
    return NULL;
  }
  if (c->n_vocab != V + 1) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: tensor 'token_embd.weight' has %u rows; expected %u (the %u "
        "text tokens of tokenizer.ggml.tokens and the mask token)",
        name, c->n_vocab, V + 1, V);
    return NULL;
  }
  if (slots < 1 || slots >= n_cache) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: nar.slots is %u; expected 1 to %u (one less than the context "
        "length %u, so that a slot has context)",
        name, slots, n_cache - 1, n_cache);
    return NULL;
  }

  ArNar *nar = g_new0 (ArNar, 1);
  nar->gguf = ar_gguf_ref (gguf);
  nar->t = g_steal_pointer (&t);
  nar->vocab = g_steal_pointer (&vocab);
  nar->n_vocab = V;
  nar->slots = slots;
  nar->n_cache = n_cache;
  return nar;
}

ArNar *
ar_nar_new_from_file (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_autoptr (ArGguf) gguf = ar_gguf_new_from_file (path, error);

  return gguf != NULL ? ar_nar_new_from_gguf (gguf, error) : NULL;
}

void
ar_nar_free (ArNar *nar)
{
  if (nar == NULL)
    return;
  ar_transformer_free (nar->t);
  ar_vocab_free (nar->vocab);
  ar_gguf_unref (nar->gguf);
  g_free (nar);
}

const ArTransformer *
ar_nar_get_transformer (const ArNar *nar)
{
  g_return_val_if_fail (nar != NULL, NULL);
  return nar->t;
}

const ArVocab *
ar_nar_get_vocab (const ArNar *nar)
{
  g_return_val_if_fail (nar != NULL, NULL);
  return nar->vocab;
}

guint
ar_nar_get_slots (const ArNar *nar)
{
  g_return_val_if_fail (nar != NULL, 0);
  return nar->slots;
}

guint
ar_nar_get_n_vocab (const ArNar *nar)
{
  g_return_val_if_fail (nar != NULL, 0);
  return nar->n_vocab;
}

guint
ar_nar_get_mask_token (const ArNar *nar)
{
  g_return_val_if_fail (nar != NULL, 0);
  return nar->n_vocab;
}

guint
ar_nar_get_context_length (const ArNar *nar)
{
  g_return_val_if_fail (nar != NULL, 0);
  return nar->n_cache;
}

/* ---- states ---------------------------------------------------------------- */

ArNarState *
ar_nar_state_new (const ArNar *nar)
{
  g_return_val_if_fail (nar != NULL, NULL);
  ArNarState *s = g_new0 (ArNarState, 1);
  gsize C = nar->n_cache;

  s->ts = ar_transformer_state_new (nar->t);
  s->sampler = ar_sampler_new (nar->n_vocab);
  s->tokens = g_new (gint32, C);
  s->logits = new_floats (C * (nar->n_vocab + 1));
  s->conf = g_new (float, C);
  s->masked = g_new (gboolean, C);
  s->order = g_new (guint, C);
  return s;
}

void
ar_nar_state_free (ArNarState *s)
{
  if (s == NULL)
    return;
  ar_transformer_state_free (s->ts);
  ar_sampler_free (s->sampler);
  g_free (s->tokens);
  g_free (s->logits);
  g_free (s->conf);
  g_free (s->masked);
  g_free (s->order);
  g_free (s);
}

/* ---- decoding ---------------------------------------------------------------- */

/* Writes the input [last context tokens ; n masks] into s->tokens; returns
 * how many context tokens it kept: at most n_cache - n. */
static guint
put_context (const ArNar *nar, ArNarState *s, const gint32 *context,
    guint n_context, guint n)
{
  guint keep = MIN (n_context, nar->n_cache - n);

  if (keep > 0)
    memcpy (s->tokens, context + (n_context - keep), keep * sizeof (gint32));
  for (guint j = 0; j < n; j++)
    s->tokens[keep + j] = (gint32) nar->n_vocab;
  return keep;
}

static gboolean
tokens_ok (const gint32 *ids, guint n, guint V)
{
  for (guint i = 0; i < n; i++)
    if (ids[i] < 0 || (guint) ids[i] >= V)
      return FALSE;
  return TRUE;
}

/* The model's probability of @token under the text logits l (V):
 * softmax at temperature 1, the mask token's logit left out. */
static float
probability (const float *l, guint V, guint token)
{
  float mx = l[0], sum = 0.0f;

  for (guint i = 1; i < V; i++)
    mx = MAX (mx, l[i]);
  for (guint i = 0; i < V; i++)
    sum += expf (l[i] - mx);
  return expf (l[token] - mx) / sum;
}

/* Slot a is re-masked before slot b: lower confidence, then lower index. */
static inline gboolean
before (const float *conf, guint a, guint b)
{
  return conf[a] < conf[b] || (conf[a] == conf[b] && a < b);
}

static void
sift_down (guint *h, const float *conf, guint i, guint n)
{
  for (;;) {
    guint c = 2 * i + 1;

    if (c >= n)
      return;
    /* a max-heap on "re-masked later" */
    if (c + 1 < n && before (conf, h[c], h[c + 1]))
      c++;
    if (!before (conf, h[i], h[c]))
      return;
    guint tmp = h[i];
    h[i] = h[c];
    h[c] = tmp;
    i = c;
  }
}

/* order (n) = 0 .. n - 1 sorted so that the slots to re-mask come first
 * (heapsort: in place, never allocates; the order is total, so the result
 * does not depend on the algorithm). */
static void
sort_by_confidence (guint *order, const float *conf, guint n)
{
  for (guint i = 0; i < n; i++)
    order[i] = i;
  for (guint i = n / 2; i-- > 0;)
    sift_down (order, conf, i, n);
  for (guint end = n; end-- > 1;) {
    guint tmp = order[0];
    order[0] = order[end];
    order[end] = tmp;
    sift_down (order, conf, 0, end);
  }
}

guint
ar_nar_schedule (guint n, guint iterations, guint t)
{
  g_return_val_if_fail (iterations >= 1 && t >= 1 && t <= iterations, 0);
  /* the paper's n (T - t) / T with its t counted from 0 */
  return (guint) ((guint64) n * (iterations - t + 1) / iterations);
}

guint
ar_nar_generate (const ArNar *nar, ArNarState *s, const gint32 *context,
    guint n_context, guint n_slots, guint iterations,
    const ArSamplingParams *params, ArRng *rng, gint32 *out)
{
  g_return_val_if_fail (nar != NULL && s != NULL && params != NULL, 0);
  g_return_val_if_fail (out != NULL && (context != NULL || n_context == 0), 0);
  g_return_val_if_fail (n_slots >= 1 && n_slots < nar->n_cache, 0);
  g_return_val_if_fail (iterations >= 1, 0);
  g_return_val_if_fail (params->temperature == 0.0f || rng != NULL, 0);
  g_return_val_if_fail (tokens_ok (context, n_context, nar->n_vocab), 0);
  guint V = nar->n_vocab, W = V + 1, n = n_slots, passes = 0;
  guint keep = put_context (nar, s, context, n_context, n);
  gint32 *slot = s->tokens + keep;

  for (guint j = 0; j < n; j++)
    s->masked[j] = TRUE;
  for (guint it = 1; it <= iterations; it++) {
    if (it > 1) {
      guint m = ar_nar_schedule (n, iterations, it);

      /* m only falls from here on */
      if (m == 0)
        break;
      sort_by_confidence (s->order, s->conf, n);
      for (guint i = 0; i < m; i++) {
        s->masked[s->order[i]] = TRUE;
        slot[s->order[i]] = (gint32) nar->n_vocab;
      }
    }
    ar_transformer_encode (nar->t, s->ts, s->tokens, keep + n, s->logits);
    passes++;
    for (guint j = 0; j < n; j++) {
      const float *l = s->logits + (gsize) (keep + j) * W;
      guint tok;

      if (!s->masked[j])
        continue;
      /* the first V logits: the mask token is never chosen */
      tok = params->temperature == 0.0f
          ? ar_argmax (l, V)
          : ar_sampler_sample (s->sampler, params, rng, l);
      slot[j] = (gint32) tok;
      /* the last iteration's confidences would never be read */
      if (it < iterations)
        s->conf[j] = probability (l, V, tok);
      s->masked[j] = FALSE;
    }
  }
  memcpy (out, slot, n * sizeof (gint32));
  return passes;
}

void
ar_nar_propose (const ArNar *nar, ArNarState *s, const gint32 *context,
    guint n_context, guint k, const ArSamplingParams *params, ArRng *rng,
    gint32 *tokens, float *probs)
{
  g_return_if_fail (nar != NULL && s != NULL && params != NULL);
  g_return_if_fail (tokens != NULL && probs != NULL);
  g_return_if_fail (context != NULL || n_context == 0);
  g_return_if_fail (k >= 1 && k < nar->n_cache);
  g_return_if_fail (params->temperature == 0.0f || rng != NULL);
  g_return_if_fail (tokens_ok (context, n_context, nar->n_vocab));
  guint V = nar->n_vocab, W = V + 1;
  guint keep = put_context (nar, s, context, n_context, k);

  ar_transformer_encode (nar->t, s->ts, s->tokens, keep + k, s->logits);
  for (guint j = 0; j < k; j++) {
    const float *l = s->logits + (gsize) (keep + j) * W;

    ar_sampler_distribution (s->sampler, params, l, probs + (gsize) j * V);
    tokens[j] = (gint32) (params->temperature == 0.0f
            ? ar_argmax (l, V)
            : ar_sampler_sample (s->sampler, params, rng, l));
  }
}
