/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-transformer.c — the Transformer family on small random models.
 *
 * Three independent computations of the same logits:
 * - the cached step (ar_transformer_forward), what generation runs;
 * - the library's oracle (ar_transformer_forward_full), every position of
 *   every layer recomputed with an explicit causal mask, no cache;
 * - a reference written here in double precision, straight from the
 *   formulas in ar-transformer.h, reading the tensors by name from the file.
 * Cached vs oracle: the same float operations in the same order, so they
 * agree to within 1e-5 of the logits' scale (in practice bit for bit; the
 * tolerance only allows a compiler to contract differently).  Library vs
 * double reference: float rounding through a few layers, 1e-3 of the
 * logits' scale.  Both shapes (llama, gpt), grouped-query and multi-query
 * attention, tied and separate classifiers, fused and separate q/k/v, with
 * and without biases, and F16 / Q8_0 / Q4_0 storage.  Then: the sliding window
 * (logits after every token equal a fresh run over the window the state
 * reports, far past 4x the context), prompt processing equal to token by
 * token, generation through ArTextGen past 4x the context, and every
 * loader error naming its key or tensor. */
#include <math.h>
#include <string.h>

#include "core/ar-gguf.h"
#include "core/ar-rng.h"
#include "core/ar-threadpool.h"
#include "text/ar-text.h"
#include "transformer/ar-transformer.h"

#include "test-transformer-util.h"

/* ---- the double-precision reference ---------------------------------- */

/* Tensor @name of the file as doubles (NULL when absent). */
static double *
tensor_d (const ArGguf *g, const char *name)
{
  const ArGgufTensor *t = ar_gguf_find_tensor (g, name);
  if (t == NULL)
    return NULL;
  g_autofree float *f = g_new (float, t->n_elements);
  ar_gguf_tensor_to_f32 (t, f);
  double *d = g_new (double, t->n_elements);
  for (guint64 i = 0; i < t->n_elements; i++)
    d[i] = f[i];
  return d;
}

static double *
blk_d (const ArGguf *g, guint l, const char *what)
{
  char n[64];
  g_snprintf (n, sizeof n, "blk.%u.%s", l, what);
  return tensor_d (g, n);
}

/* y (rows) = W (rows, cols) x + b */
static void
lin_d (double *y, const double *W, const double *b, const double *x, guint rows,
    guint cols)
{
  for (guint r = 0; r < rows; r++) {
    double s = b ? b[r] : 0;
    for (guint c = 0; c < cols; c++)
      s += W[(gsize) r * cols + c] * x[c];
    y[r] = s;
  }
}

static void
norm_d (double *o, const double *x, const double *w, const double *b, guint n,
    gboolean gpt, double eps)
{
  double mean = 0, ss = 0;
  if (gpt) {
    for (guint i = 0; i < n; i++)
      mean += x[i] / n;
  }
  for (guint i = 0; i < n; i++)
    ss += (x[i] - mean) * (x[i] - mean) / n;
  for (guint i = 0; i < n; i++)
    o[i] = (x[i] - mean) / sqrt (ss + eps) * w[i] + (b ? b[i] : 0);
}

/* logits (V) after tokens[0 .. n), by the formulas of ar-transformer.h. */
static void
reference_forward (const ArGguf *g, const ArTransformerConfig *c,
    const gint32 *tokens, guint n, double *logits)
{
  gboolean gpt = c->arch == AR_TRANSFORMER_GPT;
  guint D = c->n_embd, F = c->n_ff, H = c->n_head, hs = D / H;
  guint KV = c->n_head_kv * hs, group = H / c->n_head_kv;
  g_autofree double *X = g_new0 (double, (gsize) n *D);
  g_autofree double *Q = g_new (double, (gsize) n *D);
  g_autofree double *K = g_new (double, (gsize) n *KV);
  g_autofree double *Vv = g_new (double, (gsize) n *KV);
  g_autofree double *xn = g_new (double, D);
  g_autofree double *a = g_new (double, D);
  g_autofree double *t1 = g_new (double, F);
  g_autofree double *t2 = g_new (double, F);
  g_autofree double *att = g_new (double, n);
  g_autofree double *emb = tensor_d (g, "token_embd.weight");
  g_autofree double *pemb = tensor_d (g, "position_embd.weight");

  for (guint p = 0; p < n; p++)
    for (guint i = 0; i < D; i++)
      X[p * D + i] =
          emb[(gsize) tokens[p] * D + i] + (gpt ? pemb[(gsize) p * D + i] : 0);

  for (guint l = 0; l < c->n_layers; l++) {
    g_autofree double *an = blk_d (g, l, "attn_norm.weight");
    g_autofree double *anb = blk_d (g, l, "attn_norm.bias");
    g_autofree double *fn = blk_d (g, l, "ffn_norm.weight");
    g_autofree double *fnb = blk_d (g, l, "ffn_norm.bias");
    g_autofree double *wqkv = blk_d (g, l, "attn_qkv.weight");
    g_autofree double *bqkv = blk_d (g, l, "attn_qkv.bias");
    g_autofree double *wq = blk_d (g, l, "attn_q.weight");
    g_autofree double *wk = blk_d (g, l, "attn_k.weight");
    g_autofree double *wv = blk_d (g, l, "attn_v.weight");
    g_autofree double *bq = blk_d (g, l, "attn_q.bias");
    g_autofree double *bk = blk_d (g, l, "attn_k.bias");
    g_autofree double *bv = blk_d (g, l, "attn_v.bias");
    g_autofree double *wo = blk_d (g, l, "attn_output.weight");
    g_autofree double *bo = blk_d (g, l, "attn_output.bias");
    g_autofree double *wg = blk_d (g, l, "ffn_gate.weight");
    g_autofree double *wu = blk_d (g, l, "ffn_up.weight");
    g_autofree double *bu = blk_d (g, l, "ffn_up.bias");
    g_autofree double *wd = blk_d (g, l, "ffn_down.weight");
    g_autofree double *bd = blk_d (g, l, "ffn_down.bias");
    if (wqkv) {
      wq = g_memdup2 (wqkv, sizeof (double) * D * D);
      wk = g_memdup2 (wqkv + (gsize) D * D, sizeof (double) * KV * D);
      wv = g_memdup2 (wqkv + (gsize) (D + KV) * D, sizeof (double) * KV * D);
      if (bqkv) {
        bq = g_memdup2 (bqkv, sizeof (double) * D);
        bk = g_memdup2 (bqkv + D, sizeof (double) * KV);
        bv = g_memdup2 (bqkv + D + KV, sizeof (double) * KV);
      }
    }
    for (guint p = 0; p < n; p++) {
      norm_d (xn, X + p * D, an, anb, D, gpt, c->norm_eps);
      lin_d (Q + p * D, wq, bq, xn, D, D);
      lin_d (K + p * KV, wk, bk, xn, KV, D);
      lin_d (Vv + p * KV, wv, bv, xn, KV, D);
      if (!gpt) {
        /* rotate adjacent pairs by p * base^(-2i / n_rot) */
        for (guint h = 0; h < H; h++)
          for (guint i = 0; i < c->n_rot / 2; i++) {
            double th = p * pow (c->rope_freq_base, -2.0 * i / c->n_rot);
            double *v = Q + p * D + h * hs + 2 * i;
            double v0 = v[0], v1 = v[1];
            v[0] = v0 * cos (th) - v1 * sin (th);
            v[1] = v0 * sin (th) + v1 * cos (th);
            if (h < c->n_head_kv) {
              v = K + p * KV + h * hs + 2 * i;
              v0 = v[0];
              v1 = v[1];
              v[0] = v0 * cos (th) - v1 * sin (th);
              v[1] = v0 * sin (th) + v1 * cos (th);
            }
          }
      }
    }
    for (guint p = 0; p < n; p++) {
      for (guint h = 0; h < H; h++) {
        guint g2 = h / group;
        double max = -INFINITY, sum = 0;
        for (guint j = 0; j <= p; j++) {
          double s = 0;
          for (guint i = 0; i < hs; i++)
            s += Q[p * D + h * hs + i] * K[j * KV + g2 * hs + i];
          att[j] = s / sqrt (hs);
          max = MAX (max, att[j]);
        }
        for (guint j = 0; j <= p; j++)
          sum += att[j] = exp (att[j] - max);
        for (guint i = 0; i < hs; i++) {
          double s = 0;
          for (guint j = 0; j <= p; j++)
            s += att[j] / sum * Vv[j * KV + g2 * hs + i];
          a[h * hs + i] = s;
        }
      }
      /* this position's attention output is final: the residual may be
       * added now, because later positions read only Q, K and V */
      lin_d (xn, wo, bo, a, D, D);
      for (guint i = 0; i < D; i++)
        X[p * D + i] += xn[i];
      norm_d (xn, X + p * D, fn, fnb, D, gpt, c->norm_eps);
      lin_d (t1, wu, bu, xn, F, D);
      if (gpt) {
        for (guint i = 0; i < F; i++)
          t1[i] = 0.5 * t1[i] *
              (1 +
                  tanh (sqrt (2 / G_PI) *
                      (t1[i] + 0.044715 * t1[i] * t1[i] * t1[i])));
      } else {
        lin_d (t2, wg, NULL, xn, F, D);
        for (guint i = 0; i < F; i++)
          t1[i] *= t2[i] / (1 + exp (-t2[i]));
      }
      lin_d (a, wd, bd, t1, D, F);
      for (guint i = 0; i < D; i++)
        X[p * D + i] += a[i];
    }
  }
  g_autofree double *on = tensor_d (g, "output_norm.weight");
  g_autofree double *onb = tensor_d (g, "output_norm.bias");
  g_autofree double *out = tensor_d (g, "output.weight");
  norm_d (xn, X + (gsize) (n - 1) * D, on, onb, D, gpt, c->norm_eps);
  lin_d (logits, out ? out : emb, NULL, xn, c->n_vocab, D);
}

/* ---- helpers ---------------------------------------------------------- */

static float
max_abs (const float *x, guint n)
{
  float m = 0;
  for (guint i = 0; i < n; i++)
    m = MAX (m, fabsf (x[i]));
  return m;
}

/* max |a - b| <= tol * max (1, max |b|) */
static void
assert_close (const float *a, const float *b, guint n, float tol)
{
  float scale = MAX (1.0f, max_abs (b, n)), worst = 0;
  for (guint i = 0; i < n; i++) {
    g_assert_true (isfinite (a[i]));
    worst = MAX (worst, fabsf (a[i] - b[i]));
  }
  g_assert_cmpfloat (worst, <=, tol * scale);
}

/* max |a - b| / max (1, max |b|) */
static float
rel_diff (const float *a, const float *b, guint n)
{
  float worst = 0;
  for (guint i = 0; i < n; i++)
    worst = MAX (worst, fabsf (a[i] - b[i]));
  return worst / MAX (1.0f, max_abs (b, n));
}

static ArGguf *
load_spec (const Spec *sp, guint64 seed, ArTransformer **t)
{
  g_autoptr (GBytes) bytes = make_model (sp, seed);
  GError *error = NULL;
  ArGguf *g = ar_gguf_new_from_bytes (bytes, "test.gguf", &error);
  g_assert_no_error (error);
  *t = ar_transformer_new_from_gguf (g, &error);
  g_assert_no_error (error);
  return g;
}

/* ---- cached step vs oracle vs double reference ------------------------ */

static const Spec specs[] = {
  /* arch, L, D, F, H, Hkv, C, V, tied, fused, biases, type */
  { AR_TRANSFORMER_LLAMA, 2, 32, 48, 4, 4, 20, 50, TRUE, FALSE, FALSE,
      AR_TENSOR_F32 },
  { AR_TRANSFORMER_LLAMA, 3, 32, 40, 8, 2, 20, 61, FALSE, FALSE, FALSE,
      AR_TENSOR_F32 },
  { AR_TRANSFORMER_LLAMA, 2, 24, 40, 6, 1, 20, 37, TRUE, FALSE, TRUE,
      AR_TENSOR_F32 },
  { AR_TRANSFORMER_GPT, 2, 32, 64, 4, 4, 20, 50, TRUE, FALSE, TRUE,
      AR_TENSOR_F32 },
  { AR_TRANSFORMER_GPT, 2, 32, 64, 4, 2, 20, 45, FALSE, TRUE, TRUE,
      AR_TENSOR_F32 },
  { AR_TRANSFORMER_GPT, 1, 16, 24, 2, 2, 20, 30, FALSE, FALSE, FALSE,
      AR_TENSOR_F32 },
  { AR_TRANSFORMER_LLAMA, 2, 64, 96, 8, 2, 20, 50, FALSE, FALSE, FALSE,
      AR_TENSOR_F16 },
  { AR_TRANSFORMER_LLAMA, 2, 64, 96, 8, 2, 20, 50, TRUE, FALSE, FALSE,
      AR_TENSOR_Q8_0 },
  { AR_TRANSFORMER_GPT, 2, 64, 128, 4, 4, 20, 50, FALSE, TRUE, TRUE,
      AR_TENSOR_Q8_0 },
  { AR_TRANSFORMER_LLAMA, 2, 64, 96, 8, 2, 20, 50, FALSE, FALSE, FALSE,
      AR_TENSOR_Q4_0 },
  { AR_TRANSFORMER_GPT, 2, 64, 128, 4, 2, 20, 50, TRUE, TRUE, TRUE,
      AR_TENSOR_Q4_0 },
};

/* Whether the matrices of @sp read their inputs quantised to Q8_0. */
static gboolean
quantised (const Spec *sp)
{
  return sp->type == AR_TENSOR_Q8_0 || sp->type == AR_TENSOR_Q4_0;
}

static void
test_cache_vs_full (gconstpointer data)
{
  const Spec *sp = data;
  ArTransformer *t;
  g_autoptr (ArGguf) g = load_spec (sp, 1, &t);
  const ArTransformerConfig *c = ar_transformer_get_config (t);
  g_autoptr (ArTransformerState) s = ar_transformer_state_new (t);
  g_autofree float *full = g_new (float, c->n_vocab);
  g_autofree float *reff = g_new (float, c->n_vocab);
  g_autofree double *ref = g_new (double, c->n_vocab);
  gint32 tokens[20];
  ArRng rng;

  g_assert_cmpuint (c->tied_output, ==, sp->tied);
  g_assert_cmpuint (c->n_head_kv, ==, sp->Hkv);
  ar_rng_init (&rng, 2);
  for (guint i = 0; i < sp->C; i++)
    tokens[i] = ar_rng_below (&rng, sp->V);
  for (guint i = 0; i < sp->C; i++) {
    const float *logits = ar_transformer_forward (t, s, tokens[i]);
    ar_transformer_forward_full (t, tokens, i + 1, full);
    assert_close (logits, full, c->n_vocab, 1e-5f);
    /* the reference is slow: check a few prefixes */
    if (i == 0 || i == 5 || i + 1 == sp->C) {
      reference_forward (g, c, tokens, i + 1, ref);
      for (guint v = 0; v < c->n_vocab; v++)
        reff[v] = ref[v];
      /* Q8_0 and Q4_0 also quantise the activations, which the reference
       * (reading the same dequantised weights) does not: about 1 % of the
       * logits' scale */
      assert_close (logits, reff, c->n_vocab, quantised (sp) ? 0.05f : 1e-3f);
    }
  }
  ar_transformer_free (t);
}

/* The same weights stored as F16, Q8_0 and Q4_0 give nearly the F32
 * logits: F16 rounding of weights (2^-11 relative) and Q8_0 quantisation
 * of weights and activations (about 1/254 relative a block) perturb the
 * logits by well under 1 % and 5 % of their scale.  Q4_0's 16 levels leave
 * an RMS weight error of about 9 % of the weights' (normalised squared
 * error 7.5e-3, test-gguf): measured 7.6 % of the logits' scale here,
 * allowed 25 %; weights read in the wrong nibble order or with the wrong
 * offset would be unrelated ones, off by the whole scale. */
static void
test_storage_types (void)
{
  Spec sp = specs[7];
  ArTransformer *t32, *t16, *t8, *t4;
  gint32 tokens[] = { 3, 14, 15, 9, 26, 5, 35, 8, 9, 7 };

  sp.type = AR_TENSOR_F32;
  g_autoptr (ArGguf) g32 = load_spec (&sp, 5, &t32);
  sp.type = AR_TENSOR_F16;
  g_autoptr (ArGguf) g16 = load_spec (&sp, 5, &t16);
  sp.type = AR_TENSOR_Q8_0;
  g_autoptr (ArGguf) g8 = load_spec (&sp, 5, &t8);
  sp.type = AR_TENSOR_Q4_0;
  g_autoptr (ArGguf) g4 = load_spec (&sp, 5, &t4);
  g_autofree float *l32 = g_new (float, sp.V);
  g_autofree float *l16 = g_new (float, sp.V);
  g_autofree float *l8 = g_new (float, sp.V);
  g_autofree float *l4 = g_new (float, sp.V);

  ar_transformer_forward_full (t32, tokens, G_N_ELEMENTS (tokens), l32);
  ar_transformer_forward_full (t16, tokens, G_N_ELEMENTS (tokens), l16);
  ar_transformer_forward_full (t8, tokens, G_N_ELEMENTS (tokens), l8);
  ar_transformer_forward_full (t4, tokens, G_N_ELEMENTS (tokens), l4);
  g_test_message ("largest difference from F32, relative to the logits' "
                  "scale: F16 %.2g, Q8_0 %.2g, Q4_0 %.2g",
      rel_diff (l16, l32, sp.V), rel_diff (l8, l32, sp.V),
      rel_diff (l4, l32, sp.V));
  assert_close (l16, l32, sp.V, 0.01f);
  assert_close (l8, l32, sp.V, 0.05f);
  assert_close (l4, l32, sp.V, 0.25f);
  /* and they are not simply equal: the storage type was really used */
  g_assert_cmpint (memcmp (l16, l32, sp.V * sizeof (float)), !=, 0);
  g_assert_cmpint (memcmp (l8, l32, sp.V * sizeof (float)), !=, 0);
  g_assert_cmpint (memcmp (l4, l8, sp.V * sizeof (float)), !=, 0);
  ar_transformer_free (t32);
  ar_transformer_free (t16);
  ar_transformer_free (t8);
  ar_transformer_free (t4);
}

/* ---- sliding window --------------------------------------------------- */

static void
check_sliding (const Spec *sp)
{
  ArTransformer *t;
  g_autoptr (ArGguf) g = load_spec (sp, 7, &t);
  guint V = sp->V, C = sp->C;
  g_autoptr (ArTransformerState) s = ar_transformer_state_new (t);
  g_autofree float *full = g_new (float, V);
  gint32 expect_first = -1;
  ArRng rng;

  g_assert_cmpuint (ar_transformer_get_cache_length (t), ==, C);
  ar_rng_init (&rng, 8);
  /* greedy-ish generation: each next token from the logits (argmax), with
   * an occasional random token so the stream does not settle in a loop */
  guint token = 1;
  for (guint i = 0; i < 4 * C + C / 2 + 3; i++) {
    const float *logits = ar_transformer_forward (t, s, token);
    guint n;
    const gint32 *win = ar_transformer_state_get_tokens (s, &n);

    /* the window: everything until the cache fills, then C/2 kept + 1 */
    if (i < C)
      g_assert_cmpuint (n, ==, i + 1);
    else
      g_assert_cmpuint (n, ==, (i - C) % (C - C / 2) + C / 2 + 1);
    g_assert_cmpint (win[n - 1], ==, token);
    if (i == C && C / 2 > 0)
      g_assert_cmpint (win[0], ==, expect_first);
    if (i == C - 1 && C / 2 > 0) {
      guint n2;
      /* after the slide, the window starts C/2 tokens before the end */
      expect_first = ar_transformer_state_get_tokens (s, &n2)[C - C / 2];
    }
    ar_transformer_forward_full (t, win, n, full);
    assert_close (logits, full, V, 1e-5f);
    token =
        ar_rng_below (&rng, 4) ? ar_argmax (logits, V) : ar_rng_below (&rng, V);
  }
  ar_transformer_free (t);
}

static void
test_sliding_llama (void)
{
  Spec sp = specs[1];
  sp.C = 12;
  check_sliding (&sp);
  sp.C = 7; /* odd: 3 kept */
  check_sliding (&sp);
  sp.C = 1; /* degenerate: nothing kept */
  check_sliding (&sp);
}

static void
test_sliding_gpt (void)
{
  Spec sp = specs[4];
  sp.C = 10;
  check_sliding (&sp);
}

/* ---- prompt processing ------------------------------------------------ */

/* The batched prompt path against the token path (one forward call per
 * token) and against the oracle, on every spec with a context of 80
 * (batches of 32): prompts that fit one batch, fill it exactly, spill one
 * token into the next, fill the cache, and slide twice.  The projections'
 * sums are added in another order (sgemm versus the matrix-vector
 * kernels), so the logits agree to float rounding: measured below 7e-7 of
 * their scale for F32 and F16, allowed 1e-5.  Q8_0 and Q4_0 run the token
 * path's kernels, so the batched path equals it exactly (measured 0); the
 * oracle's attention sums in another order, which can move an activation
 * across a quantisation step (1/254 of its block's largest value): measured
 * 0 for Q8_0 and up to 6.2e-3 for Q4_0, allowed 1e-2 and 2e-2, still well
 * below the 5 % and 25 % that bound their distance from F32.  After the
 * prompt both states continue alike. */
static void
test_prompt (gconstpointer data)
{
  Spec sp = *(const Spec *) data;
  static const guint lengths[] = { 2, 32, 33, 80, 150 };
  float tol = sp.type == AR_TENSOR_Q4_0 ? 2e-2f
      : sp.type == AR_TENSOR_Q8_0       ? 1e-2f
                                        : 1e-5f;
  ArTransformer *t;
  gint32 prompt[150];
  ArRng rng;

  sp.C = 80;
  g_autoptr (ArGguf) g = load_spec (&sp, 9, &t);
  g_autoptr (ArTransformerState) a = ar_transformer_state_new (t);
  g_autoptr (ArTransformerState) b = ar_transformer_state_new (t);
  g_autofree float *la = g_new (float, sp.V);
  g_autofree float *full = g_new (float, sp.V);
  ar_rng_init (&rng, 10);
  for (guint i = 0; i < G_N_ELEMENTS (prompt); i++)
    prompt[i] = ar_rng_below (&rng, sp.V);

  for (guint k = 0; k < G_N_ELEMENTS (lengths); k++) {
    guint n = lengths[k], na, nb;
    const float *lb;
    const gint32 *wa, *wb;

    ar_transformer_state_reset (a);
    ar_transformer_state_reset (b);
    for (guint i = 0; i < n; i++)
      memcpy (la, ar_transformer_forward (t, a, prompt[i]),
          sp.V * sizeof (float));
    lb = ar_transformer_forward_prompt (t, b, prompt, n);
    g_assert_cmpfloat (rel_diff (lb, la, sp.V), <=, tol);
    wa = ar_transformer_state_get_tokens (a, &na);
    wb = ar_transformer_state_get_tokens (b, &nb);
    g_assert_cmpmem (wa, na * sizeof (gint32), wb, nb * sizeof (gint32));
    ar_transformer_forward_full (t, wb, nb, full);
    g_assert_cmpfloat (rel_diff (lb, full, sp.V), <=, tol);
    /* both continue from what they cached */
    memcpy (la, ar_transformer_forward (t, a, 9), sp.V * sizeof (float));
    lb = ar_transformer_forward (t, b, 9);
    g_assert_cmpfloat (rel_diff (lb, la, sp.V), <=, tol);
  }
  /* reset empties the window */
  ar_transformer_state_reset (b);
  guint n;
  ar_transformer_state_get_tokens (b, &n);
  g_assert_cmpuint (n, ==, 0);
  ar_transformer_free (t);
}

/* ---- verification and rollback ------------------------------------------ */

/* Speculative decoding's use of the state, against plain forward () calls:
 * a proposal of k tokens goes through forward_all () in one call, a random
 * number of them is "accepted" and the rest rewound, round after round,
 * far past the context (so the window slides, at the start of calls).  The
 * plain state is fed only the accepted tokens.  Every logits row
 * forward_all () writes for an accepted token equals, bit for bit, what
 * forward () returned for it, and both states hold the same window.  The
 * verifying state splits its products over two threads, the plain one
 * runs in one. */
static void
test_forward_all (gconstpointer data)
{
  Spec sp = *(const Spec *) data;
  ArTransformer *t;
  ArRng rng;

  sp.C = 40;
  g_autoptr (ArGguf) g = load_spec (&sp, 21, &t);
  g_autoptr (ArTransformerState) plain = ar_transformer_state_new (t);
  g_autoptr (ArTransformerState) spec = ar_transformer_state_new (t);
  g_autoptr (ArThreadPool) pool = ar_threadpool_new (2);
  g_autofree float *rows = g_new (float, 40 * sp.V);
  guint fed = 0, slid = 0, last_room = sp.C;

  ar_transformer_state_set_threadpool (spec, pool);
  ar_rng_init (&rng, 22);
  g_assert_cmpuint (ar_transformer_state_get_room (spec), ==, sp.C);
  while (fed < 4 * sp.C) {
    gint32 proposal[40];
    guint k = 1 + ar_rng_below (&rng, 12), took, accept;
    const gint32 *wa, *wb;
    guint na, nb;

    for (guint i = 0; i < k; i++)
      proposal[i] = ar_rng_below (&rng, sp.V);
    took = ar_transformer_forward_all (t, spec, proposal, k, rows);
    g_assert_cmpuint (took, >=, 1);
    g_assert_cmpuint (took, <=, k);
    if (ar_transformer_state_get_room (spec) + took > last_room)
      slid++;
    accept = 1 + ar_rng_below (&rng, took);
    for (guint i = 0; i < accept; i++) {
      const float *l = ar_transformer_forward (t, plain, proposal[i]);
      g_assert_cmpmem (rows + (gsize) i * sp.V, sp.V * sizeof (float), l,
          sp.V * sizeof (float));
    }
    ar_transformer_state_rewind (spec, took - accept);
    fed += accept;
    last_room = ar_transformer_state_get_room (spec);
    wa = ar_transformer_state_get_tokens (plain, &na);
    wb = ar_transformer_state_get_tokens (spec, &nb);
    g_assert_cmpmem (wa, na * sizeof (gint32), wb, nb * sizeof (gint32));
  }
  g_assert_cmpuint (slid, >=, 2);
  /* after the rewinds both continue alike, one token at a time too */
  for (guint i = 0; i < 5; i++) {
    gint32 tok = (gint32) ((i * 7) % sp.V);
    g_assert_cmpuint (ar_transformer_forward_all (t, spec, &tok, 1, rows), ==,
        1);
    g_assert_cmpmem (rows, sp.V * sizeof (float),
        ar_transformer_forward (t, plain, tok), sp.V * sizeof (float));
  }
  ar_transformer_free (t);
}

/* A model whose matrices outgrow the caches (17.6 MB of F32, at least the
 * 16 MB from which ar-transformer.c streams its batched exact products with
 * ar_matvec_multi_streamed): a 30000-token tied classifier, and a width
 * (136) that leaves 8 columns after the 16-column steps. */
static const Spec streamed_spec = { AR_TRANSFORMER_LLAMA, 2, 136, 200, 4, 4,
  20, 30000, TRUE, FALSE, FALSE, AR_TENSOR_F32 };

/* A bidirectional ("nar") model: it loads as such, the oracle lets every
 * position see every other (changing the last token changes the first
 * position's logits, which a causal model's never do), and the batched
 * encoder agrees with the oracle at every position to float rounding. */
static void
test_bidirectional (void)
{
  Spec sp = { AR_TRANSFORMER_LLAMA, 2, 32, 48, 4, 2, 24, 40, FALSE, FALSE,
    FALSE, AR_TENSOR_F32 };
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  g_autoptr (GBytes) causal_bytes = make_model (&sp, 5);
  GError *error = NULL;
  g_autoptr (ArGguf) causal = ar_gguf_new_from_bytes (causal_bytes, "c.gguf",
      &error);
  g_assert_no_error (error);
  ArTransformerConfig c;
  g_assert_true (ar_transformer_config_from_gguf (&c, causal, &error));
  g_assert_false (c.bidirectional);
  c.bidirectional = TRUE;
  g_assert_cmpstr (ar_transformer_config_architecture (&c), ==, "nar");
  /* the same tensors under a bidirectional configuration */
  ar_transformer_config_write (&c, w);
  for (guint i = 0; i < ar_gguf_get_n_tensors (causal); i++) {
    const ArGgufTensor *ti = ar_gguf_get_tensor (causal, i);
    ar_gguf_writer_add_tensor_f32 (w, ti->name, ti->type, ti->n_dims, ti->ne,
        ti->data);
  }
  g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
  g_autoptr (ArGguf) g = ar_gguf_new_from_bytes (bytes, "nar.gguf", &error);
  g_assert_no_error (error);
  g_autoptr (ArTransformer) t = ar_transformer_new_from_gguf (g, &error);
  g_assert_no_error (error);
  g_assert_true (ar_transformer_get_config (t)->bidirectional);

  guint n = 20, V = sp.V;
  gint32 tokens[20];
  ArRng rng;
  ar_rng_init (&rng, 6);
  for (guint i = 0; i < n; i++)
    tokens[i] = ar_rng_below (&rng, V);
  g_autofree float *full = g_new (float, n * V);
  g_autofree float *enc = g_new (float, n * V);
  g_autofree float *other = g_new (float, n * V);
  g_autoptr (ArTransformerState) s = ar_transformer_state_new (t);
  ar_transformer_forward_full_all (t, tokens, n, full);
  ar_transformer_encode (t, s, tokens, n, enc);
  for (guint p = 0; p < n; p++)
    g_assert_cmpfloat (rel_diff (enc + p * V, full + p * V, V), <=, 1e-5f);
  /* twice in a row (the state is reset by encode) */
  ar_transformer_encode (t, s, tokens, n, other);
  g_assert_cmpmem (enc, n * V * sizeof (float), other, n * V * sizeof (float));
  /* the future matters */
  tokens[n - 1] = (tokens[n - 1] + 1) % V;
  ar_transformer_forward_full_all (t, tokens, n, other);
  g_assert_cmpfloat (rel_diff (other, full, V), >, 1e-4f);
  /* and for the causal model it does not */
  g_autoptr (ArTransformer) tc = ar_transformer_new_from_gguf (causal, &error);
  g_assert_no_error (error);
  ar_transformer_forward_full_all (tc, tokens, n, full);
  tokens[n - 1] = (tokens[n - 1] + 1) % V;
  ar_transformer_forward_full_all (tc, tokens, n, other);
  g_assert_cmpmem (full, (n - 1) * V * sizeof (float), other,
      (n - 1) * V * sizeof (float));
  /* a gpt-shaped bidirectional configuration is refused */
  c.arch = AR_TRANSFORMER_GPT;
  g_assert_false (ar_transformer_config_check (&c, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "bidirectional"));
  g_clear_error (&error);
}

/* ---- through the text API --------------------------------------------- */

static void
test_text_gen (void)
{
  for (int arch = 0; arch < 2; arch++) {
    Spec sp = { arch, 2, 32, 48, 4, 2, 16, 256, TRUE, FALSE, FALSE,
      AR_TENSOR_F32 };
    g_autoptr (GBytes) bytes = make_model (&sp, 11);
    GError *error = NULL;
    g_autoptr (ArTextModel) m =
        ar_text_model_new_from_bytes (bytes, "t.gguf", &error);
    g_assert_no_error (error);
    g_assert_cmpstr (ar_text_model_get_architecture (m), ==,
        arch ? "gpt" : "llama");
    g_assert_cmpuint (ar_text_model_get_family (m)
                          ->context_length (ar_text_model_get_impl (m)),
        ==, 16);
    g_autoptr (ArTextGen) gen = ar_text_gen_new (m);
    ArSamplingParams params = { 1.0f, 0, 1.0f };
    ar_text_gen_set_sampling (gen, &params);
    ar_text_gen_reset (gen, 3);
    ar_text_gen_feed (gen, "a prompt longer than the sixteen-token context",
        -1);
    g_autoptr (GString) out = g_string_new (NULL);
    /* far past 4x the context, sampling at temperature 1 */
    for (guint i = 0; i < 5 * 16 + 3; i++)
      g_assert_false (ar_text_gen_next (gen, out));
    ar_text_gen_finish (gen, out);
    g_assert_cmpuint (ar_text_gen_get_n_tokens (gen), ==, 83);
    g_assert_true (g_utf8_validate (out->str, out->len, NULL));
  }
}

/* ---- loader errors ---------------------------------------------------- */

/* Loads @sp with key @key set to @value (or removed when @value < 0) and
 * tensor @drop left out, and expects an error containing @expect. */
static void
expect_error (const Spec *sp, const char *key, gint64 value, const char *drop,
    const char *rename_from, const char *rename_to, const char *expect)
{
  g_autoptr (GBytes) good = make_model (sp, 1);
  g_autoptr (ArGguf) src = ar_gguf_new_from_bytes (good, "src.gguf", NULL);
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  GError *error = NULL;

  for (guint i = 0; i < ar_gguf_get_n_kv (src); i++) {
    const char *k = ar_gguf_get_key (src, i);
    if ((key && strcmp (k, key) == 0) || strcmp (k, "general.alignment") == 0)
      continue;
    if (ar_gguf_get_kv_type (src, i) == AR_GGUF_TYPE_STRING) {
      const char *v;
      g_assert_true (ar_gguf_get_string (src, k, &v, NULL));
      ar_gguf_writer_set_string (w, k, v);
    } else if (ar_gguf_get_kv_type (src, i) == AR_GGUF_TYPE_FLOAT32) {
      float v;
      g_assert_true (ar_gguf_get_f32 (src, k, &v, NULL));
      ar_gguf_writer_set_f32 (w, k, v);
    } else {
      guint32 v;
      g_assert_true (ar_gguf_get_u32 (src, k, &v, NULL));
      ar_gguf_writer_set_u32 (w, k, v);
    }
  }
  if (key && value >= 0)
    ar_gguf_writer_set_u32 (w, key, value);
  for (guint i = 0; i < ar_gguf_get_n_tensors (src); i++) {
    const ArGgufTensor *t = ar_gguf_get_tensor (src, i);
    const char *name = t->name;
    if (drop && strcmp (name, drop) == 0)
      continue;
    if (rename_from && strcmp (name, rename_from) == 0)
      name = rename_to;
    ar_gguf_writer_add_tensor_raw (w, name, t->type, t->n_dims, t->ne, t->data,
        t->nbytes);
  }
  g_autoptr (GBytes) bad = ar_gguf_writer_to_bytes (w);
  g_autoptr (ArGguf) g = ar_gguf_new_from_bytes (bad, "bad.gguf", &error);
  g_assert_no_error (error);
  ArTransformer *t = ar_transformer_new_from_gguf (g, &error);
  g_assert_null (t);
  g_assert_nonnull (error);
  if (strstr (error->message, expect) == NULL)
    g_error ("message \"%s\" lacks \"%s\"", error->message, expect);
  g_assert_true (strstr (error->message, "bad.gguf") != NULL);
  g_error_free (error);
}

static void
test_errors (void)
{
  Spec llama = specs[1], gpt = specs[3];

  expect_error (&llama, "llama.block_count", -1, NULL, NULL, NULL,
      "llama.block_count");
  expect_error (&llama, "llama.attention.head_count", 5, NULL, NULL, NULL,
      "5 attention heads");
  expect_error (&llama, "llama.attention.head_count_kv", 3, NULL, NULL, NULL,
      "3 key/value heads");
  expect_error (&llama, "llama.rope.dimension_count", 5, NULL, NULL, NULL,
      "rotary dimension count 5");
  expect_error (&llama, "llama.block_count", 0, NULL, NULL, NULL, "0 blocks");
  expect_error (&llama, "llama.context_length", 0, NULL, NULL, NULL,
      "context length 0");
  /* a block count larger than the blocks present */
  expect_error (&llama, "llama.block_count", 4, NULL, NULL, NULL,
      "blk.3.attn_norm.weight");
  expect_error (&llama, NULL, 0, "blk.1.ffn_gate.weight", NULL, NULL,
      "blk.1.ffn_gate.weight");
  expect_error (&llama, NULL, 0, "token_embd.weight", NULL, NULL,
      "token_embd.weight");
  expect_error (&gpt, NULL, 0, "position_embd.weight", NULL, NULL,
      "position_embd.weight");
  expect_error (&gpt, NULL, 0, "blk.0.ffn_norm.bias", NULL, NULL,
      "blk.0.ffn_norm.bias");
  expect_error (&gpt, "general.architecture", -1, NULL, NULL, NULL,
      "general.architecture");
}

static void
test_wrong_shape (void)
{
  /* attn_k stored with D rows: the error gives both shapes */
  Spec sp = specs[1];
  g_autoptr (GBytes) good = make_model (&sp, 1);
  g_autoptr (ArGguf) src = ar_gguf_new_from_bytes (good, "src.gguf", NULL);
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  GError *error = NULL;
  ar_gguf_writer_copy_kv (w, src);
  for (guint i = 0; i < ar_gguf_get_n_tensors (src); i++) {
    const ArGgufTensor *t = ar_gguf_get_tensor (src, i);
    if (strcmp (t->name, "blk.1.attn_v.weight") == 0) {
      const ArGgufTensor *q = ar_gguf_find_tensor (src, "blk.1.attn_q.weight");
      ar_gguf_writer_add_tensor_raw (w, t->name, q->type, q->n_dims, q->ne,
          q->data, q->nbytes);
    } else {
      ar_gguf_writer_add_tensor_raw (w, t->name, t->type, t->n_dims, t->ne,
          t->data, t->nbytes);
    }
  }
  g_autoptr (GBytes) bad = ar_gguf_writer_to_bytes (w);
  g_autoptr (ArGguf) g = ar_gguf_new_from_bytes (bad, "bad.gguf", &error);
  g_assert_no_error (error);
  g_assert_null (ar_transformer_new_from_gguf (g, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  g_assert_nonnull (strstr (error->message, "blk.1.attn_v.weight"));
  g_error_free (error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (specs); i++) {
    const Spec *sp = &specs[i];
    g_autofree char *path = g_strdup_printf ("/transformer/cache-vs-full/"
                                             "%u-%s-%s-H%u-Hkv%u-%s%s%s",
        i, ar_transformer_arch_name (sp->arch), ar_tensor_type_name (sp->type),
        sp->H, sp->Hkv, sp->tied ? "tied" : "separate",
        sp->fused ? "-fused" : "", sp->biases ? "-bias" : "");
    g_test_add_data_func (path, sp, test_cache_vs_full);
  }
  g_test_add_func ("/transformer/storage-types", test_storage_types);
  g_test_add_func ("/transformer/sliding/llama", test_sliding_llama);
  g_test_add_func ("/transformer/sliding/gpt", test_sliding_gpt);
  for (guint i = 0; i < G_N_ELEMENTS (specs); i++) {
    g_autofree char *path = g_strdup_printf ("/transformer/prompt/%u", i);
    g_test_add_data_func (path, &specs[i], test_prompt);
  }
  for (guint i = 0; i < G_N_ELEMENTS (specs); i++) {
    g_autofree char *path =
        g_strdup_printf ("/transformer/forward-all/%u", i);
    g_test_add_data_func (path, &specs[i], test_forward_all);
  }
  g_test_add_data_func ("/transformer/forward-all/streamed", &streamed_spec,
      test_forward_all);
  g_test_add_func ("/transformer/bidirectional", test_bidirectional);
  g_test_add_func ("/transformer/text-gen", test_text_gen);
  g_test_add_func ("/transformer/errors", test_errors);
  g_test_add_func ("/transformer/wrong-shape", test_wrong_shape);
  return g_test_run ();
}
