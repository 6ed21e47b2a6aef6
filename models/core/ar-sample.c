/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-sample.c — turning logits into the next token (see ar-sample.h for the
 * exact semantics: temperature, softmax, top-k, top-p, renormalise).
 *
 * How it is computed, and why:
 * - Probabilities are kept unnormalised, e[i] = exp ((logit[i] - max) / T), with
 *   their sum in double.  Subtracting the maximum before dividing by T keeps
 *   every exponent <= 0 for any temperature, so nothing overflows and the most
 *   probable token always has e = 1.  Normalisation is one division at the end
 *   (distribution) or folded into the uniform draw (sampling).
 * - NaN logits are treated like -INFINITY (probability 0), so a model bug
 *   cannot make the sampler return garbage indices; -INFINITY is the ordinary
 *   way to mask tokens.  If every logit is masked the distribution is uniform
 *   (the limit of equal logits), and +INFINITY logits share all the mass.
 * - The ranking "more probable first, lower id first on ties" is a strict total
 *   order, so the kept set is unique whatever selection algorithm finds it.
 * - top-k (k < n_vocab) scans the vocabulary once with a k-entry heap whose root
 *   is the worst token kept so far, so most tokens cost one comparison; only
 *   the k survivors are sorted.  top-p alone heapifies the whole vocabulary in
 *   O(n) and pops tokens best-first until their mass reaches p, so only the
 *   kept prefix is ever sorted.  With both, top-p cuts the sorted top-k list;
 *   its threshold is p times the mass that top-k kept, i.e. top-p sees the
 *   distribution renormalised after top-k (the convention of Hugging Face's
 *   and llama.cpp's samplers).
 * - The inverse CDF walks the kept tokens most probable first (or in id order
 *   when nothing was truncated), so the expected walk is short.
 * - All scratch arrays are allocated by ar_sampler_new(): sampling never
 *   allocates. */
#include "ar-sample.h"

#include <math.h>
#include <string.h>

struct _ArSampler
{
  guint n_vocab;
  float *e;                     /* (n_vocab) exp ((logit - max) / T), unnormalised */
  guint *heap;                  /* (n_vocab) token ids arranged as a binary heap */
  guint *kept;                  /* (n_vocab) kept token ids, most probable first */
};

ArSampler *
ar_sampler_new (guint n_vocab)
{
  ArSampler *s;
  gsize per_token = sizeof (float) + 2 * sizeof (guint);

  g_return_val_if_fail (n_vocab > 0, NULL);
  g_return_val_if_fail (n_vocab <= (G_MAXSIZE - sizeof (ArSampler)) / per_token,
      NULL);

  /* One block: the struct, then the three arrays (all 4-byte elements, so the
   * struct's size keeps them aligned). */
  s = g_malloc (sizeof (ArSampler) + (gsize) n_vocab * per_token);
  s->n_vocab = n_vocab;
  s->e = (float *) (s + 1);
  s->heap = (guint *) (s->e + n_vocab);
  s->kept = s->heap + n_vocab;

  return s;
}

void
ar_sampler_free (ArSampler *sampler)
{
  g_free (sampler);
}

guint
ar_sampler_get_n_vocab (const ArSampler *sampler)
{
  g_return_val_if_fail (sampler != NULL, 0);

  return sampler->n_vocab;
}

guint
ar_argmax (const float *x, guint n)
{
  guint i, best = 0;
  float best_value = -INFINITY;

  g_return_val_if_fail (x != NULL, 0);
  g_return_val_if_fail (n > 0, 0);

  /* Strict '>' keeps the lowest index on ties, and a NaN never compares
   * greater, so it never wins; all -INFINITY/NaN gives 0. */
  for (i = 0; i < n; i++) {
    if (x[i] > best_value) {
      best_value = x[i];
      best = i;
    }
  }
  return best;
}

/* e (n) = exp ((x (n) - max) / temperature), NaN and -INFINITY entries
 * mapped to 0; returns sum (e) in double and the maximum in *max_out.
 * temperature > 0.  Degenerate inputs, chosen as the limits they represent:
 * all entries -INFINITY/NaN gives e = 1 everywhere (uniform); any +INFINITY
 * gives e = 1 on those entries and 0 elsewhere. */
static double
exp_shifted (float *e, const float *x, guint n, float temperature,
    float *max_out)
{
  float m = -INFINITY;
  double sum = 0.0;
  guint i;

  for (i = 0; i < n; i++)
    if (x[i] > m)
      m = x[i];
  *max_out = m;

  if (m == -INFINITY) {
    for (i = 0; i < n; i++)
      e[i] = 1.0f;
    return n;
  }

  if (m == INFINITY) {
    for (i = 0; i < n; i++) {
      e[i] = x[i] == INFINITY ? 1.0f : 0.0f;
      sum += e[i];
    }
    return sum;
  }

  for (i = 0; i < n; i++) {
    /* The explicit test also avoids -inf / inf = NaN for temperature = inf. */
    if (x[i] > -INFINITY)
      e[i] = expf ((x[i] - m) / temperature);
    else
      e[i] = 0.0f;
    sum += e[i];
  }
  return sum;
}

float
ar_softmax (float *x, guint n)
{
  float m;
  double sum;
  guint i;

  g_return_val_if_fail (x != NULL, NAN);
  g_return_val_if_fail (n > 0, NAN);

  sum = exp_shifted (x, x, n, 1.0f, &m);
  for (i = 0; i < n; i++)
    x[i] = (float) (x[i] / sum);

  if (m == -INFINITY || m == INFINITY)
    return m;
  return (float) (m + log (sum));
}

/* TRUE if token a ranks before token b: more probable, or as probable with a
 * lower id.  e holds no NaN, so this is a strict total order. */
static inline gboolean
ranks_before (const float *e, guint a, guint b)
{
  return e[a] > e[b] || (e[a] == e[b] && a < b);
}

/* Restores the heap property below position i of h (size).  With
 * best_on_top the root is the best-ranked token (a max-heap, used to pop
 * tokens best-first); otherwise the root is the worst-ranked one (used to
 * keep the k best seen so far, evicting the root). */
static void
sift_down (const float *e, guint *h, guint size, guint i, gboolean best_on_top)
{
  guint item = h[i];

  for (;;) {
    guint c = 2 * i + 1;

    if (c >= size)
      break;
    if (c + 1 < size && (best_on_top ? ranks_before (e, h[c + 1], h[c])
            : ranks_before (e, h[c], h[c + 1])))
      c++;
    if (!(best_on_top ? ranks_before (e, h[c], item)
            : ranks_before (e, item, h[c])))
      break;
    h[i] = h[c];
    i = c;
  }
  h[i] = item;
}

static void
heapify (const float *e, guint *h, guint size, gboolean best_on_top)
{
  guint i;

  for (i = size / 2; i > 0; i--)
    sift_down (e, h, size, i - 1, best_on_top);
}

/* kept (k) = the k best-ranked tokens of e (n), best first; 0 < k < n. */
static void
select_top_k (ArSampler *s, guint k)
{
  const float *e = s->e;
  guint *h = s->heap;
  guint i, size;

  for (i = 0; i < k; i++)
    h[i] = i;
  heapify (e, h, k, FALSE);

  /* The root is the worst of the k best so far: a better token replaces it. */
  for (i = k; i < s->n_vocab; i++) {
    if (ranks_before (e, i, h[0])) {
      h[0] = i;
      sift_down (e, h, k, 0, FALSE);
    }
  }

  /* Pop worst first into the back of kept, leaving kept best first. */
  for (size = k; size > 0; size--) {
    s->kept[size - 1] = h[0];
    h[0] = h[size - 1];
    sift_down (e, h, size - 1, 0, FALSE);
  }
}

/* Fills sampler->e from the logits and chooses the kept tokens.  Returns how
 * many are kept and their unnormalised mass in *mass.  *kept is NULL when
 * nothing was truncated (all n_vocab tokens, in id order), otherwise it points
 * to the kept ids, best first.  Needs temperature > 0. */
static guint
build_distribution (ArSampler *s, const ArSamplingParams *params,
    const float *logits, const guint **kept, double *mass)
{
  guint n = s->n_vocab;
  guint k = params->top_k;
  float top_p = params->top_p;
  gboolean use_top_p = top_p < 1.0f;    /* NaN counts as 1: no limit */
  double total, threshold, cum;
  float m;
  guint n_kept, j;

  total = exp_shifted (s->e, logits, n, params->temperature, &m);

  if (k == 0 || k > n)
    k = n;

  if (k == n && !use_top_p) {
    *kept = NULL;
    *mass = total;
    return n;
  }

  if (k < n) {
    select_top_k (s, k);
    n_kept = k;
    total = 0.0;
    for (j = 0; j < k; j++)
      total += s->e[s->kept[j]];
    if (!use_top_p) {
      *kept = s->kept;
      *mass = total;
      return n_kept;
    }
    /* Smallest prefix reaching p of the renormalised top-k; p <= 0 gives the
     * first token, as the threshold 0 is reached at once. */
    threshold = MAX (top_p, 0.0f) * total;
    cum = 0.0;
    for (j = 0; j < k; j++) {
      cum += s->e[s->kept[j]];
      if (cum >= threshold)
        break;
    }
    n_kept = MIN (j + 1, k);
  } else {
    guint size = n;

    /* top-p alone: pop best-first from a max-heap until the mass is reached.
     * Rounding can leave the running sum a hair below p * total when p is
     * close to 1; the heap then simply runs out and every token is kept. */
    for (j = 0; j < n; j++)
      s->heap[j] = j;
    heapify (s->e, s->heap, n, TRUE);
    threshold = MAX (top_p, 0.0f) * total;
    cum = 0.0;
    n_kept = 0;
    while (size > 0) {
      guint t = s->heap[0];

      s->kept[n_kept++] = t;
      cum += s->e[t];
      if (cum >= threshold)
        break;
      s->heap[0] = s->heap[--size];
      sift_down (s->e, s->heap, size, 0, TRUE);
    }
  }

  *kept = s->kept;
  *mass = 0.0;
  for (j = 0; j < n_kept; j++)
    *mass += s->e[s->kept[j]];
  return n_kept;
}

guint
ar_sampler_sample (ArSampler *sampler, const ArSamplingParams *params,
    ArRng *rng, const float *logits)
{
  const guint *kept;
  double mass, target, cum = 0.0;
  guint n_kept, j, last_nonzero = 0;

  g_return_val_if_fail (sampler != NULL, 0);
  g_return_val_if_fail (params != NULL, 0);
  g_return_val_if_fail (rng != NULL, 0);
  g_return_val_if_fail (logits != NULL, 0);
  g_return_val_if_fail (params->temperature >= 0.0f, 0);

  if (params->temperature == 0.0f)
    return ar_argmax (logits, sampler->n_vocab);

  n_kept = build_distribution (sampler, params, logits, &kept, &mass);

  /* Inverse CDF: the first token whose cumulative mass exceeds u * mass.  A
   * token with e = 0 never raises cum, so it is never chosen.  If rounding
   * leaves u * mass at or above the final sum, the last token with mass is the
   * right answer (it owns the top of the interval). */
  target = ar_rng_uniform (rng) * mass;
  for (j = 0; j < n_kept; j++) {
    guint t = kept ? kept[j] : j;
    float e = sampler->e[t];

    if (e > 0.0f) {
      cum += e;
      last_nonzero = t;
      if (target < cum)
        return t;
    }
  }
  return last_nonzero;
}

void
ar_sampler_distribution (ArSampler *sampler, const ArSamplingParams *params,
    const float *logits, float *probs)
{
  const guint *kept;
  double mass;
  guint n_kept, j;

  g_return_if_fail (sampler != NULL);
  g_return_if_fail (params != NULL);
  g_return_if_fail (logits != NULL);
  g_return_if_fail (probs != NULL);
  g_return_if_fail (params->temperature >= 0.0f);

  if (params->temperature == 0.0f) {
    memset (probs, 0, sampler->n_vocab * sizeof (float));
    probs[ar_argmax (logits, sampler->n_vocab)] = 1.0f;
    return;
  }

  n_kept = build_distribution (sampler, params, logits, &kept, &mass);

  if (kept == NULL) {
    for (j = 0; j < n_kept; j++)
      probs[j] = (float) (sampler->e[j] / mass);
    return;
  }

  memset (probs, 0, sampler->n_vocab * sizeof (float));
  for (j = 0; j < n_kept; j++)
    probs[kept[j]] = (float) (sampler->e[kept[j]] / mass);
}
