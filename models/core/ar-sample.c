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
 *   cannot make the sampler return garbage; -INFINITY is the ordinary way to
 *   mask tokens.  If every logit is masked the distribution is uniform (the
 *   limit of equal logits), and +INFINITY logits share all the mass.
 * - Tokens are ranked by logit, then by id ("more probable first, lower id
 *   first on ties"): a strict total order, so the kept set is unique whatever
 *   selection algorithm finds it.
 * - top-k (k < n_vocab) scans the logits once with a k-entry heap whose root
 *   is the worst token kept so far, so most tokens cost one comparison, and
 *   only the k survivors are exponentiated and sorted.  top-p alone needs the
 *   total mass, so it exponentiates everything, then finds the cut with a
 *   two-level radix selection on the bits of e, so that only the few tokens
 *   next to the cut are ever sorted.  With both, top-p cuts the sorted top-k
 *   list at p times the mass top-k kept: top-p sees the distribution
 *   renormalised after top-k (the convention of Hugging Face's and
 *   llama.cpp's samplers).
 * - The inverse CDF walks the kept tokens in the order the selection left
 *   them (id order when nothing was truncated); any fixed order draws from
 *   the same distribution.
 * - All scratch arrays are allocated by ar_sampler_new(): sampling never
 *   allocates. */
#include "ar-sample.h"
#include "ar-error.h"

#include <math.h>
#include <string.h>

struct _ArSampler
{
  guint n_vocab;
  float *e;    /* (n_vocab) exp ((logit - max) / T), unnormalised */
  guint *heap; /* (n_vocab) token ids arranged as a binary heap */
  guint *kept; /* (n_vocab) kept token ids (order: see select_*) */
};

gboolean
ar_sampling_params_check (const ArSamplingParams *params, GError **error)
{
  g_return_val_if_fail (params != NULL, FALSE);

  /* written so that NaN fails each test */
  if (!(params->temperature >= 0.0f)) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "sampling temperature is %g; expected a number >= 0 (0 = greedy)",
        params->temperature);
    return FALSE;
  }
  if (!(params->top_p >= 0.0f && params->top_p <= 1.0f)) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "sampling top-p is %g; expected a number from 0 to 1 (1 = no limit)",
        params->top_p);
    return FALSE;
  }
  return TRUE;
}

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

/* The sort key of a logit: NaN ranks with -INFINITY (probability 0). */
static inline float
rank_key (float x)
{
  return isnan (x) ? -INFINITY : x;
}

/* exp ((x - m) / temperature) for a logit x of a set whose largest rank key
 * is m; temperature > 0.  Degenerate sets get the limits they represent: all
 * -INFINITY/NaN gives 1 everywhere (uniform), and when some logits are
 * +INFINITY those share everything.  The explicit -INFINITY test also avoids
 * -inf / inf = NaN when the temperature is infinite. */
static inline float
scaled_exp (float x, float m, float temperature)
{
  if (m == -INFINITY)
    return 1.0f;
  if (m == INFINITY)
    return x == INFINITY ? 1.0f : 0.0f;
  if (!(x > -INFINITY))
    return 0.0f;
  return expf ((x - m) / temperature);
}

/* e (n) = scaled_exp (x (n)); returns sum (e) in double. */
static double
exp_shifted (float *e, const float *x, guint n, float temperature)
{
  float m = -INFINITY;
  double sum = 0.0;
  guint i;

  for (i = 0; i < n; i++)
    if (x[i] > m)
      m = x[i];

  for (i = 0; i < n; i++) {
    e[i] = scaled_exp (x[i], m, temperature);
    sum += e[i];
  }
  return sum;
}

float
ar_softmax (float *x, guint n)
{
  double sum;
  float m;
  guint i;

  g_return_val_if_fail (x != NULL, NAN);
  g_return_val_if_fail (n > 0, NAN);

  m = rank_key (x[ar_argmax (x, n)]);
  sum = exp_shifted (x, x, n, 1.0f);
  for (i = 0; i < n; i++)
    x[i] = (float) (x[i] / sum);

  if (m == -INFINITY || m == INFINITY)
    return m;
  return (float) (m + log (sum));
}

/* TRUE if token a ranks before token b: a larger logit, or an equal one
 * (equal probability) and a lower id.  A strict total order.  Ranking the
 * logits rather than their exponentials keeps the true order of tokens whose
 * probabilities round to the same float; since exp is monotonic the two
 * orders agree everywhere else, so every kept set is a prefix of both. */
static inline gboolean
ranks_before (const float *logits, guint a, guint b)
{
  float ka = rank_key (logits[a]), kb = rank_key (logits[b]);

  return ka > kb || (ka == kb && a < b);
}

/* Restores the heap property of h (size) below position i.  With
 * best_on_top the root is the best-ranked token (a max-heap, used to pop
 * tokens best-first); otherwise it is the worst-ranked one (used to keep the
 * k best seen so far, evicting the root). */
static void
sift_down (const float *logits, guint *h, guint size, guint i,
    gboolean best_on_top)
{
  guint item = h[i];

  for (;;) {
    guint c = 2 * i + 1;

    if (c >= size)
      break;
    if (c + 1 < size &&
        (best_on_top ? ranks_before (logits, h[c + 1], h[c])
                     : ranks_before (logits, h[c], h[c + 1])))
      c++;
    if (!(best_on_top ? ranks_before (logits, h[c], item)
                      : ranks_before (logits, item, h[c])))
      break;
    h[i] = h[c];
    i = c;
  }
  h[i] = item;
}

static void
heapify (const float *logits, guint *h, guint size, gboolean best_on_top)
{
  guint i;

  for (i = size / 2; i > 0; i--)
    sift_down (logits, h, size, i - 1, best_on_top);
}

/* kept (k) = the k best-ranked tokens of logits (n_vocab), best first;
 * 0 < k < n_vocab. */
static void
select_top_k (ArSampler *s, const float *logits, guint k)
{
  guint *h = s->heap;
  guint i, size;
  float worst;

  for (i = 0; i < k; i++)
    h[i] = i;
  heapify (logits, h, k, FALSE);

  /* The root is the worst of the k best so far.  Every id in the heap is
   * below i, so token i displaces it only with a strictly larger key: most
   * tokens cost one comparison. */
  worst = rank_key (logits[h[0]]);
  for (i = k; i < s->n_vocab; i++) {
    if (rank_key (logits[i]) > worst) {
      h[0] = i;
      sift_down (logits, h, k, 0, FALSE);
      worst = rank_key (logits[h[0]]);
    }
  }

  /* Pop worst first into the back of kept, leaving kept best first. */
  for (size = k; size > 0; size--) {
    s->kept[size - 1] = h[0];
    h[0] = h[size - 1];
    sift_down (logits, h, size - 1, 0, FALSE);
  }
}

/* Radix classes of e in [0, 1], for top-p.  The coarse class is the binary
 * exponent: 0 for e == 1, b for e in [2^-b, 2^(1-b)) up to b = 62, and 63 for
 * anything smaller (0 included).  Within coarse classes 0..62, which each hold
 * a single exponent, the fine class splits by the top 8 mantissa bits.  Both
 * count upwards as e decreases, so scanning classes upwards visits tokens
 * most probable first. */
#define N_COARSE 64
#define N_FINE 256

static inline guint32
float_bits (float e)
{
  guint32 bits;

  memcpy (&bits, &e, sizeof bits);
  return bits;
}

static inline guint
coarse_class (float e)
{
  guint biased = float_bits (e) >> 23; /* e >= 0: no sign bit */

  return biased >= 127 ? 0 : MIN (127 - biased, N_COARSE - 1);
}

static inline guint
fine_class (float e)
{
  return N_FINE - 1 - ((float_bits (e) >> 15) & (N_FINE - 1));
}

/* The first non-empty class, scanning upwards, at which the running mass
 * (starting from *before) reaches threshold; if rounding never lets it, the
 * last non-empty class.  On return *before is the mass of the classes ahead
 * of it.  Class 0 of the coarse histogram always holds the best token
 * (e == 1), so a non-empty class exists. */
static guint
find_cut_class (const double *mass, const guint *count, guint n_classes,
    double threshold, double *before)
{
  double cum = *before;
  guint c, cut = 0;

  for (c = 0; c < n_classes; c++) {
    if (count[c] == 0)
      continue;
    cut = c;
    if (cum + mass[c] >= threshold)
      break;
    cum += mass[c];
  }
  if (c == n_classes)
    cum -= mass[cut];
  *before = cum;
  return cut;
}

/* top-p without top-k: kept = the shortest prefix of the ranking whose mass
 * (e (n_vocab) summed) reaches threshold = p * total, at least one token.
 * Sorting the vocabulary is what dominates naive implementations, so this is
 * a two-level radix selection instead: a histogram of the mass by binary
 * exponent finds the class where the threshold is crossed, a histogram of
 * that class by leading mantissa bits narrows it to a sub-class, and only that
 * sub-class (usually a handful of tokens) is heap-ordered and popped best-first
 * until the mass is reached.  Every token of a class ahead of the cut has a
 * larger e, hence a larger logit, so it is kept without being sorted.  Masses
 * are summed per class in double: the cut matches a sequential sum in ranking
 * order up to double rounding.  kept holds the wholly kept tokens in id order,
 * then the cut sub-class's kept tokens best first. */
static guint
select_top_p (ArSampler *s, const float *logits, double threshold)
{
  double coarse_mass[N_COARSE] = { 0.0 }, fine_mass[N_FINE] = { 0.0 };
  guint coarse_count[N_COARSE] = { 0 }, fine_count[N_FINE] = { 0 };
  const float *e = s->e;
  double cum = 0.0;
  guint i, cut, fine_cut = 0, size = 0, n_kept = 0;
  gboolean split;

  for (i = 0; i < s->n_vocab; i++) {
    guint c = coarse_class (e[i]);

    coarse_mass[c] += e[i];
    coarse_count[c]++;
  }
  cut = find_cut_class (coarse_mass, coarse_count, N_COARSE, threshold, &cum);

  /* The last coarse class mixes exponents, so it is not split; it is only
   * reached for p within 2^-62 of 1 or for extremely flat tails. */
  split = cut < N_COARSE - 1;
  if (split) {
    for (i = 0; i < s->n_vocab; i++) {
      if (coarse_class (e[i]) == cut) {
        guint f = fine_class (e[i]);

        fine_mass[f] += e[i];
        fine_count[f]++;
      }
    }
    fine_cut = find_cut_class (fine_mass, fine_count, N_FINE, threshold, &cum);
  }

  for (i = 0; i < s->n_vocab; i++) {
    guint c = coarse_class (e[i]);

    if (c < cut || (split && c == cut && fine_class (e[i]) < fine_cut))
      s->kept[n_kept++] = i;
    else if (c == cut && (!split || fine_class (e[i]) == fine_cut))
      s->heap[size++] = i;
  }

  heapify (logits, s->heap, size, TRUE);
  while (size > 0) {
    guint t = s->heap[0];

    s->kept[n_kept++] = t;
    cum += e[t];
    if (cum >= threshold)
      break;
    s->heap[0] = s->heap[--size];
    sift_down (logits, s->heap, size, 0, TRUE);
  }
  return n_kept;
}

/* Fills sampler->e and chooses the kept tokens.  Returns how many are kept
 * and their unnormalised mass in *mass.  *kept is NULL when nothing was
 * truncated (all n_vocab tokens, in id order, with e filled for all),
 * otherwise it points to the kept ids (e is filled at least for those).  Needs temperature > 0. */
static guint
build_distribution (ArSampler *s, const ArSamplingParams *params,
    const float *logits, const guint **kept, double *mass)
{
  guint n = s->n_vocab;
  guint k = params->top_k;
  float top_p = params->top_p;
  float T = params->temperature;
  gboolean use_top_p = top_p < 1.0f; /* NaN counts as 1: no limit */
  double total = 0.0;
  guint n_kept, j;

  if (k == 0 || k > n)
    k = n;

  if (k == n) {
    total = exp_shifted (s->e, logits, n, T);
    if (!use_top_p) {
      *kept = NULL;
      *mass = total;
      return n;
    }
    /* p <= 0 gives a zero threshold, reached by the first token. */
    n_kept = select_top_p (s, logits, MAX (top_p, 0.0f) * total);
  } else {
    /* top-k: only the k survivors need their exponentials, relative to the
     * largest logit, which is the first of them. */
    float m;

    select_top_k (s, logits, k);
    m = rank_key (logits[s->kept[0]]);
    for (j = 0; j < k; j++) {
      guint t = s->kept[j];

      s->e[t] = scaled_exp (logits[t], m, T);
      total += s->e[t];
    }
    n_kept = k;
    if (use_top_p) {
      /* The shortest prefix of the renormalised top-k reaching p. */
      double threshold = MAX (top_p, 0.0f) * total, cum = 0.0;

      for (j = 0; j < k; j++) {
        cum += s->e[s->kept[j]];
        if (cum >= threshold)
          break;
      }
      n_kept = MIN (j + 1, k);
    }
  }

  *kept = s->kept;
  *mass = 0.0;
  for (j = 0; j < n_kept; j++)
    *mass += s->e[s->kept[j]];
  return n_kept;
}

/* Inverse CDF with one ar_rng_uniform () draw: the first index (in the
 * order of @kept, or 0 .. n - 1 when @kept is NULL) whose cumulative weight
 * e exceeds u * @mass, @mass > 0 the weights' sum.  A weight of 0 never
 * raises the sum, so it is never chosen.  If rounding leaves u * mass at or
 * above the final sum, the last index with weight is the right answer (it
 * owns the top of the interval). */
static guint
inverse_cdf (ArRng *rng, const float *e, const guint *kept, guint n,
    double mass)
{
  double target = ar_rng_uniform (rng) * mass, cum = 0.0;
  guint last_nonzero = 0;

  for (guint j = 0; j < n; j++) {
    guint t = kept ? kept[j] : j;

    if (e[t] > 0.0f) {
      cum += e[t];
      last_nonzero = t;
      if (target < cum)
        return t;
    }
  }
  return last_nonzero;
}

gint
ar_sample_weights (ArRng *rng, const float *w, guint n)
{
  double total = 0.0;

  g_return_val_if_fail (rng != NULL && w != NULL, -1);
  for (guint i = 0; i < n; i++)
    total += w[i];
  if (!(total > 0.0))
    return -1;
  return (gint) inverse_cdf (rng, w, NULL, n, total);
}

guint
ar_sampler_sample (ArSampler *sampler, const ArSamplingParams *params,
    ArRng *rng, const float *logits)
{
  const guint *kept;
  double mass;
  guint n_kept;

  g_return_val_if_fail (sampler != NULL, 0);
  g_return_val_if_fail (params != NULL, 0);
  g_return_val_if_fail (rng != NULL, 0);
  g_return_val_if_fail (logits != NULL, 0);
  g_return_val_if_fail (params->temperature >= 0.0f, 0);

  if (params->temperature == 0.0f)
    return ar_argmax (logits, sampler->n_vocab);

  n_kept = build_distribution (sampler, params, logits, &kept, &mass);
  return inverse_cdf (rng, sampler->e, kept, n_kept, mass);
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
