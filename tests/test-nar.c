/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-nar.c — the non-autoregressive family (models/nar) and what it
 * needs below it:
 *   - bidirectional attention (ar-attention.c): forward against a direct
 *     double evaluation, backward against central finite differences (the
 *     budget of test-nn-attn.c: ±1e-2 steps, |a - n| <= 1e-2 max (|a|, |n|)
 *     + 1e-4), and that it really sees later positions;
 *   - the training graph with config.bidirectional: its logits against the
 *     inference oracle ar_transformer_forward_full_all () and
 *     ar_transformer_encode () of the file it writes, and targets < 0 left
 *     out of the loss (an exact identity between the losses and gradients of
 *     complementary target sets);
 *   - Mask-Predict on a tiny random model: T = 1 greedy is the argmax of the
 *     encoder's logits, any T equals a plain re-implementation of the
 *     algorithm written here, the schedule, the mask token never output
 *     (even when its logit is the largest), seeds, the context cut, and
 *     ar_nar_propose ();
 *   - a short training run lowering the held-out loss, and a run stopped
 *     and resumed from its checkpoint ending with exactly the weights of an
 *     uninterrupted one (dropout on);
 *   - malformed files: each a GError naming the key, tensor or file. */
#include <math.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "core/ar-rng.h"
#include "core/ar-sample.h"
#include "nar/ar-nar-train.h"
#include "nar/ar-nar.h"
#include "nn/ar-nn.h"
#include "train/ar-train.h"
#include "transformer/ar-transformer-train.h"

#define EPS 1e-2
#define FD_RTOL 1e-2
#define FD_ATOL 1e-4

/* new_floats (n), spelled as a function so that clang-format reads the size
 * as an expression */
static float *
new_floats (gsize n)
{
  return g_new (float, n);
}

static float *
new_uniform (gsize n, ArRng *rng, float a)
{
  float *x = g_new (float, n);

  for (gsize i = 0; i < n; i++)
    x[i] = a * (2.0f * ar_rng_uniform (rng) - 1.0f);
  return x;
}

/* ---- bidirectional attention ------------------------------------------- */

#define AT 37 /* positions: more than one block of 32 query rows */
#define AH 4
#define AHKV 2
#define AHS 4

typedef struct
{
  ArAttention *a;
  float *Q, *K, *V, *O,
      *P; /* (T, B, H hs) and (T, B, Hkv hs); P the projection */
  int T, B;
} AttnCase;

static double
attn_loss (gpointer data)
{
  AttnCase *c = data;
  double s = 0.0;
  gsize n = (gsize) c->T * c->B * AH * AHS;

  ar_attention_forward (c->a, c->Q, AH * AHS, c->K, c->V, AHKV * AHS, c->O,
      c->T, c->B);
  for (gsize i = 0; i < n; i++)
    s += (double) c->P[i] * c->O[i];
  return s;
}

static void
check_fd (const char *what, float *x, const float *analytic, gsize n,
    AttnCase *c)
{
  double worst = 0.0;

  for (gsize i = 0; i < n; i++) {
    float keep = x[i];
    double lp, lm, num;

    x[i] = keep + EPS;
    lp = attn_loss (c);
    x[i] = keep - EPS;
    lm = attn_loss (c);
    x[i] = keep;
    num = (lp - lm) / (2 * EPS);
    double err = fabs (analytic[i] - num);
    double tol = FD_RTOL * MAX (fabs (analytic[i]), fabs (num)) + FD_ATOL;
    if (err > tol)
      g_error ("%s[%" G_GSIZE_FORMAT "]: analytic %g, numeric %g", what, i,
          analytic[i], num);
    worst = MAX (worst, err / tol);
  }
  g_test_message ("%s: worst error %.3f of the budget", what, worst);
}

static void
test_attention_bidirectional (void)
{
  ArRng rng;
  AttnCase c = { 0 };
  gsize nq = (gsize) AT * 2 * AH * AHS, nkv = (gsize) AT * 2 * AHKV * AHS;

  ar_rng_init (&rng, 11);
  c.T = AT;
  c.B = 2;
  c.a = ar_attention_new (AH, AHKV, AHS, AT, 2);
  g_assert_false (ar_attention_get_bidirectional (c.a));
  ar_attention_set_bidirectional (c.a, TRUE);
  g_assert_true (ar_attention_get_bidirectional (c.a));
  c.Q = new_uniform (nq, &rng, 1.0f);
  c.K = new_uniform (nkv, &rng, 1.0f);
  c.V = new_uniform (nkv, &rng, 1.0f);
  c.P = new_uniform (nq, &rng, 1.0f);
  c.O = g_new (float, nq);

  /* forward: O_t = Σ_j softmax_j (q_t · k_j / sqrt (hs)) v_j over all j */
  attn_loss (&c);
  double worst = 0.0;
  for (int b = 0; b < 2; b++)
    for (int h = 0; h < AH; h++) {
      int g = h / (AH / AHKV);

      for (int t = 0; t < AT; t++) {
        double w[AT], mx = -INFINITY, sum = 0.0;
        const float *q = c.Q + ((gsize) t * 2 + b) * AH * AHS + h * AHS;

        for (int j = 0; j < AT; j++) {
          const float *k = c.K + ((gsize) j * 2 + b) * AHKV * AHS + g * AHS;
          double s = 0.0;

          for (int i = 0; i < AHS; i++)
            s += (double) q[i] * k[i];
          w[j] = s / sqrt (AHS);
          mx = MAX (mx, w[j]);
        }
        for (int j = 0; j < AT; j++)
          sum += (w[j] = exp (w[j] - mx));
        for (int i = 0; i < AHS; i++) {
          double o = 0.0;

          for (int j = 0; j < AT; j++)
            o += w[j] / sum *
                c.V[((gsize) j * 2 + b) * AHKV * AHS + g * AHS + i];
          worst = MAX (worst,
              fabs (o - c.O[((gsize) t * 2 + b) * AH * AHS + h * AHS + i]));
        }
      }
    }
  g_test_message ("bidirectional forward: max error %.2e", worst);
  g_assert_cmpfloat (worst, <, 1e-5);

  /* the first position sees the last one (a causal layer would not) */
  {
    float o0 = c.O[0];

    c.K[(gsize) (AT - 1) * 2 * AHKV * AHS] += 1.0f;
    c.V[(gsize) (AT - 1) * 2 * AHKV * AHS] += 1.0f;
    attn_loss (&c);
    g_assert_cmpfloat (fabsf (c.O[0] - o0), >, 1e-4);
    c.K[(gsize) (AT - 1) * 2 * AHKV * AHS] -= 1.0f;
    c.V[(gsize) (AT - 1) * 2 * AHKV * AHS] -= 1.0f;
  }

  /* backward against finite differences, every element of Q, K and V of
   * one stream (the first T rows of the arrays; the streams are
   * independent, and the forward check above covered two) */
  gsize nq1 = nq / 2, nkv1 = nkv / 2;
  g_autofree float *dQ = g_new (float, nq1);
  g_autofree float *dK = g_new (float, nkv1);
  g_autofree float *dV = g_new (float, nkv1);
  c.B = 1;
  attn_loss (&c);
  ar_attention_backward (c.a, c.Q, AH * AHS, c.K, c.V, AHKV * AHS, c.O, c.P, dQ,
      dK, dV, AT, 1);
  check_fd ("dQ", c.Q, dQ, nq1, &c);
  check_fd ("dK", c.K, dK, nkv1, &c);
  check_fd ("dV", c.V, dV, nkv1, &c);

  ar_attention_free (c.a);
  g_free (c.Q);
  g_free (c.K);
  g_free (c.V);
  g_free (c.P);
  g_free (c.O);
}

/* ---- a tiny model ----------------------------------------------------- */

#define TEXT_CHARS "abcdefghij\n" /* V = 11 */
#define CTX 24

static ArTransformerConfig
tiny_config (guint V)
{
  ArTransformerConfig c = { 0 };

  c.arch = AR_TRANSFORMER_LLAMA;
  c.n_layers = 2;
  c.n_embd = 16;
  c.n_ff = 32;
  c.n_head = 4;
  c.n_head_kv = 2;
  c.n_ctx = CTX;
  c.n_vocab = V + 1;
  c.n_rot = 4;
  c.rope_freq_base = 10000.0f;
  c.norm_eps = 1e-5f;
  c.tied_output = TRUE;
  c.bidirectional = TRUE;
  return c;
}

static ArParam *
find_param (ArTransformerTrain *t, const char *name)
{
  GPtrArray *params = ar_transformer_train_get_params (t);

  for (guint i = 0; i < params->len; i++) {
    ArParam *p = g_ptr_array_index (params, i);

    if (strcmp (p->name, name) == 0)
      return p;
  }
  g_assert_not_reached ();
  return NULL;
}

typedef struct
{
  const char *arch; /* NULL: the config's */
  gint64 mask_id;   /* -1: omit the key; else its value */
  gint64 slots;     /* -1: omit the key */
  const char *vocab_chars;
  float
      mask_scale; /* the mask token's embedding row (tied: its classifier row too) */
} FileSpec;

/* A randomly initialised tiny model written as @spec says, as GGUF bytes. */
static GBytes *
write_tiny (const FileSpec *spec, guint64 seed)
{
  g_autoptr (ArVocab) vocab =
      ar_vocab_new_chars (TEXT_CHARS, strlen (TEXT_CHARS), NULL);
  ArTransformerConfig c = tiny_config (ar_vocab_get_size (vocab));
  g_autoptr (ArTransformerTrain) t = ar_transformer_train_new (&c, CTX, 2, 1);
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  ArRng rng;

  ar_rng_init (&rng, seed);
  ar_transformer_train_init (t, &rng);
  /* norm weights and embeddings away from their initial values, so that
   * nothing is accidentally symmetric */
  {
    ArParam *e = find_param (t, "token_embd.weight");
    gsize D = c.n_embd, V = c.n_vocab - 1;

    for (gsize i = 0; i < e->n; i++)
      e->w[i] = 0.5f * ar_rng_normal (&rng);
    for (gsize i = 0; i < D; i++)
      e->w[V * D + i] *= spec->mask_scale;
  }
  ar_transformer_train_write (t, w);
  if (spec->arch != NULL)
    ar_gguf_writer_set_string (w, "general.architecture", spec->arch);
  if (spec->mask_id >= 0)
    ar_gguf_writer_set_u32 (w, "nar.mask_token_id", (guint32) spec->mask_id);
  if (spec->slots >= 0)
    ar_gguf_writer_set_u32 (w, "nar.slots", (guint32) spec->slots);
  if (spec->vocab_chars != NULL) {
    g_autoptr (ArVocab) other = ar_vocab_new_chars (spec->vocab_chars,
        strlen (spec->vocab_chars), NULL);
    ar_vocab_write_gguf (other, w);
  } else {
    ar_vocab_write_gguf (vocab, w);
  }
  return ar_gguf_writer_to_bytes (w);
}

static const FileSpec good_spec = { NULL, 11, 8, NULL, 1.0f };

static ArNar *
load_tiny (const FileSpec *spec, guint64 seed)
{
  g_autoptr (GBytes) bytes = write_tiny (spec, seed);
  g_autoptr (GError) error = NULL;
  g_autoptr (ArGguf) gguf =
      ar_gguf_new_from_bytes (bytes, "tiny-nar.gguf", &error);
  g_assert_no_error (error);
  ArNar *nar = ar_nar_new_from_gguf (gguf, &error);
  g_assert_no_error (error);
  return nar;
}

/* ---- the training graph, bidirectional ----------------------------------- */

static void
test_train_matches_inference (void)
{
  g_autoptr (ArVocab) vocab =
      ar_vocab_new_chars (TEXT_CHARS, strlen (TEXT_CHARS), NULL);
  ArTransformerConfig c = tiny_config (ar_vocab_get_size (vocab));
  g_autoptr (ArTransformerTrain) t = ar_transformer_train_new (&c, CTX, 2, 1);
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  g_autoptr (GError) error = NULL;
  const int T = 20, B = 2, W = c.n_vocab;
  gint32 in[20 * 2], seq[20];
  g_autofree float *lt = new_floats ((gsize) T * B * W);
  g_autofree float *lf = new_floats ((gsize) T * W);
  g_autofree float *le = new_floats ((gsize) T * W);
  ArRng rng;

  ar_rng_init (&rng, 5);
  ar_transformer_train_init (t, &rng);
  ar_transformer_train_write (t, w);
  ar_vocab_write_gguf (vocab, w);
  g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
  g_autoptr (ArGguf) gguf = ar_gguf_new_from_bytes (bytes, "bidi.gguf", &error);
  g_assert_no_error (error);
  const char *arch = NULL;
  g_assert_true (ar_gguf_get_string (gguf, "general.architecture", &arch,
      NULL));
  g_assert_cmpstr (arch, ==, "nar");
  g_autoptr (ArTransformer) m = ar_transformer_new_from_gguf (gguf, &error);
  g_assert_no_error (error);
  g_assert_true (ar_transformer_get_config (m)->bidirectional);
  g_autoptr (ArTransformerState) s = ar_transformer_state_new (m);

  /* any ids, the mask token included */
  for (int i = 0; i < T * B; i++)
    in[i] = (gint32) ar_rng_below (&rng, W);
  ar_transformer_train_logits (t, in, T, B, lt);

  double worst_full = 0.0, worst_enc = 0.0, scale = 0.0;
  for (int b = 0; b < B; b++) {
    for (int i = 0; i < T; i++)
      seq[i] = in[i * B + b];
    ar_transformer_forward_full_all (m, seq, T, lf);
    ar_transformer_encode (m, s, seq, T, le);
    for (int i = 0; i < T; i++)
      for (int v = 0; v < W; v++) {
        float x = lt[((gsize) i * B + b) * W + v];

        scale = MAX (scale, fabsf (x));
        worst_full = MAX (worst_full, fabsf (x - lf[(gsize) i * W + v]));
        worst_enc = MAX (worst_enc, fabsf (x - le[(gsize) i * W + v]));
      }
  }
  g_test_message ("training logits vs forward_full_all %.2e, vs encode %.2e "
                  "(logits up to %.2f)",
      worst_full, worst_enc, scale);
  /* float sums in different orders through two blocks */
  g_assert_cmpfloat (worst_full, <=, 1e-5 * MAX (1.0, scale));
  g_assert_cmpfloat (worst_enc, <=, 1e-5 * MAX (1.0, scale));

  /* bidirectional: the first position's logits depend on the last token */
  for (int i = 0; i < T; i++)
    seq[i] = in[i * B];
  ar_transformer_forward_full_all (m, seq, T, lf);
  seq[T - 1] = (seq[T - 1] + 1) % W;
  ar_transformer_forward_full_all (m, seq, T, le);
  double moved = 0.0;
  for (int v = 0; v < W; v++)
    moved = MAX (moved, fabsf (lf[v] - le[v]));
  g_assert_cmpfloat (moved, >, 1e-5);
}

/* Σ of n · gradient over the parameters: a copy of the gradients times n. */
static float *
grads_times (GPtrArray *params, double n)
{
  gsize total = ar_params_count (params), at = 0;
  float *g = g_new (float, total);

  for (guint i = 0; i < params->len; i++) {
    ArParam *p = g_ptr_array_index (params, i);

    for (gsize j = 0; j < p->n; j++)
      g[at++] = (float) (p->g[j] * n);
  }
  return g;
}

static void
test_ignored_targets (void)
{
  g_autoptr (ArVocab) vocab =
      ar_vocab_new_chars (TEXT_CHARS, strlen (TEXT_CHARS), NULL);
  ArTransformerConfig c = tiny_config (ar_vocab_get_size (vocab));
  const int T = 12, B = 3, n = T * B;
  g_autoptr (ArTransformerTrain) t = ar_transformer_train_new (&c, T, B, 1);
  GPtrArray *params = ar_transformer_train_get_params (t);
  gint32 in[12 * 3], all[12 * 3], ts[12 * 3], tc[12 * 3], none[12 * 3];
  int n_s = 0;
  ArRng rng;

  ar_rng_init (&rng, 8);
  ar_transformer_train_init (t, &rng);
  for (int i = 0; i < n; i++) {
    in[i] = (gint32) ar_rng_below (&rng, c.n_vocab);
    all[i] = (gint32) ar_rng_below (&rng, c.n_vocab);
    gboolean in_s = ar_rng_below (&rng, 3) == 0;
    ts[i] = in_s ? all[i] : -1;
    tc[i] = in_s ? -1 : all[i];
    none[i] = -1;
    n_s += in_s;
  }
  g_assert_cmpint (n_s, >, 0);
  g_assert_cmpint (n_s, <, n);

  ar_params_zero_grad (params);
  double l_all = ar_transformer_train_forward (t, in, all, T, B, TRUE);
  g_autofree float *g_all = grads_times (params, n);
  ar_params_zero_grad (params);
  double l_s = ar_transformer_train_forward (t, in, ts, T, B, TRUE);
  g_autofree float *g_s = grads_times (params, n_s);
  ar_params_zero_grad (params);
  double l_c = ar_transformer_train_forward (t, in, tc, T, B, TRUE);
  g_autofree float *g_c = grads_times (params, n - n_s);

  /* n · mean over all = n_s · mean over S + n_c · mean over the rest */
  g_assert_cmpfloat (fabs (n * l_all - (n_s * l_s + (n - n_s) * l_c)), <=,
      1e-5 * n * l_all);
  gsize total = ar_params_count (params);
  double worst = 0.0, scale = 0.0;
  for (gsize i = 0; i < total; i++) {
    scale = MAX (scale, fabsf (g_all[i]));
    worst = MAX (worst, fabsf (g_all[i] - (g_s[i] + g_c[i])));
  }
  g_test_message ("gradient identity: %.2e of %.2e", worst, scale);
  g_assert_cmpfloat (scale, >, 0.0);
  g_assert_cmpfloat (worst, <=, 1e-5 * scale);

  /* nothing scored: zero loss, no gradient */
  ar_params_zero_grad (params);
  g_assert_cmpfloat (ar_transformer_train_forward (t, in, none, T, B, TRUE), ==,
      0.0f);
  g_autofree float *g0 = grads_times (params, 1.0);
  for (gsize i = 0; i < total; i++)
    g_assert_cmpfloat (g0[i], ==, 0.0f);
}

/* ---- Mask-Predict --------------------------------------------------------- */

/* softmax probability as ar-nar.c computes it (same float operations, so
 * confidences and hence re-masking choices are identical) */
static float
ref_probability (const float *l, guint V, guint token)
{
  float mx = l[0], sum = 0.0f;

  for (guint i = 1; i < V; i++)
    mx = MAX (mx, l[i]);
  for (guint i = 0; i < V; i++)
    sum += expf (l[i] - mx);
  return expf (l[token] - mx) / sum;
}

/* Greedy Mask-Predict written plainly: the encoder through its own state,
 * re-masking by repeated minimum search. */
static guint
ref_mask_predict (const ArNar *nar, const gint32 *ctx, guint n_ctx, guint n,
    guint T, gint32 *out)
{
  const ArTransformer *t = ar_nar_get_transformer (nar);
  g_autoptr (ArTransformerState) s = ar_transformer_state_new (t);
  guint V = ar_nar_get_n_vocab (nar), C = ar_nar_get_context_length (nar);
  guint keep = MIN (n_ctx, C - n), passes = 0;
  g_autofree gint32 *tok = g_new (gint32, keep + n);
  g_autofree float *logits = g_new (float, (gsize) (keep + n) * (V + 1));
  g_autofree float *conf = g_new (float, n);
  g_autofree gboolean *masked = g_new (gboolean, n);

  memcpy (tok, ctx + n_ctx - keep, keep * sizeof (gint32));
  for (guint j = 0; j < n; j++) {
    tok[keep + j] = (gint32) V;
    masked[j] = TRUE;
  }
  for (guint it = 1; it <= T; it++) {
    if (it > 1) {
      guint m = (guint) ((guint64) n * (T - it + 1) / T);

      if (m == 0)
        break;
      for (guint k = 0; k < m; k++) {
        int best = -1;

        for (guint j = 0; j < n; j++)
          if (!masked[j] && (best < 0 || conf[j] < conf[best]))
            best = (int) j;
        masked[best] = TRUE;
        tok[keep + best] = (gint32) V;
      }
    }
    ar_transformer_encode (t, s, tok, keep + n, logits);
    passes++;
    for (guint j = 0; j < n; j++)
      if (masked[j]) {
        const float *l = logits + (gsize) (keep + j) * (V + 1);
        guint a = ar_argmax (l, V);

        tok[keep + j] = (gint32) a;
        conf[j] = ref_probability (l, V, a);
        masked[j] = FALSE;
      }
  }
  memcpy (out, tok + keep, n * sizeof (gint32));
  return passes;
}

static void
test_schedule (void)
{
  /* T = n: n, n - 1, ..., 1 — each iteration fixes one more slot */
  for (guint n = 1; n <= 40; n++) {
    g_assert_cmpuint (ar_nar_schedule (n, n, 1), ==, n);
    for (guint t = 2; t <= n; t++)
      g_assert_cmpuint (ar_nar_schedule (n, n, t), ==, n - t + 1);
    /* any T <= n: from n down, strictly, never 0 */
    for (guint T = 1; T <= n; T++)
      for (guint t = 2; t <= T; t++) {
        g_assert_cmpuint (ar_nar_schedule (n, T, t), <,
            ar_nar_schedule (n, T, t - 1));
        g_assert_cmpuint (ar_nar_schedule (n, T, t), >=, 1);
      }
  }
  /* the paper's example: N = 10, T = 4 re-masks 7, 5, 2 */
  g_assert_cmpuint (ar_nar_schedule (10, 4, 2), ==, 7);
  g_assert_cmpuint (ar_nar_schedule (10, 4, 3), ==, 5);
  g_assert_cmpuint (ar_nar_schedule (10, 4, 4), ==, 2);
}

static void
test_mask_predict_greedy (void)
{
  g_autoptr (ArNar) nar = load_tiny (&good_spec, 21);
  g_autoptr (ArNarState) s = ar_nar_state_new (nar);
  const ArTransformer *t = ar_nar_get_transformer (nar);
  g_autoptr (ArTransformerState) ts = ar_transformer_state_new (t);
  guint V = ar_nar_get_n_vocab (nar), N = ar_nar_get_slots (nar);
  ArSamplingParams greedy = { 0.0f, 0, 1.0f };
  gint32 ctx[40], tok[CTX], out[CTX], ref[CTX];
  g_autofree float *logits = new_floats ((gsize) CTX * (V + 1));
  ArRng rng;

  g_assert_cmpuint (V, ==, 11);
  g_assert_cmpuint (ar_nar_get_mask_token (nar), ==, V);
  g_assert_cmpuint (N, ==, 8);
  g_assert_cmpuint (ar_nar_get_context_length (nar), ==, CTX);
  g_assert_cmpuint (ar_vocab_get_size (ar_nar_get_vocab (nar)), ==, V);
  ar_rng_init (&rng, 3);
  for (guint i = 0; i < G_N_ELEMENTS (ctx); i++)
    ctx[i] = (gint32) ar_rng_below (&rng, V);

  /* T = 1: the argmax of the encoder's text logits at each slot */
  guint nc = 10;
  g_assert_cmpuint (ar_nar_generate (nar, s, ctx, nc, N, 1, &greedy, NULL, out),
      ==, 1);
  memcpy (tok, ctx, nc * sizeof (gint32));
  for (guint j = 0; j < N; j++)
    tok[nc + j] = (gint32) V;
  ar_transformer_encode (t, ts, tok, nc + N, logits);
  for (guint j = 0; j < N; j++)
    g_assert_cmpint (out[j], ==,
        ar_argmax (logits + (gsize) (nc + j) * (V + 1), V));

  /* every T against the plain version, for a few slot counts */
  for (guint n = 1; n <= N; n += 3)
    for (guint T = 1; T <= n + 2; T++) {
      guint passes =
          ar_nar_generate (nar, s, ctx, nc, n, T, &greedy, NULL, out);
      guint ref_passes = ref_mask_predict (nar, ctx, nc, n, T, ref);

      g_assert_cmpuint (passes, ==, ref_passes);
      if (T <= n)
        g_assert_cmpuint (passes, ==, T);
      g_assert_cmpmem (out, n * sizeof (gint32), ref, n * sizeof (gint32));
    }

  /* a context longer than a pass can take is cut to its last C - n tokens */
  for (guint n = 1; n <= N; n += 7) {
    guint C = ar_nar_get_context_length (nar), keep = C - n;

    ar_nar_generate (nar, s, ctx, G_N_ELEMENTS (ctx), n, 3, &greedy, NULL, out);
    ar_nar_generate (nar, s, ctx + G_N_ELEMENTS (ctx) - keep, keep, n, 3,
        &greedy, NULL, ref);
    g_assert_cmpmem (out, n * sizeof (gint32), ref, n * sizeof (gint32));
  }

  /* no context at all is allowed */
  ar_nar_generate (nar, s, NULL, 0, N, 2, &greedy, NULL, out);
  for (guint j = 0; j < N; j++)
    g_assert_cmpint (out[j], <, (gint) V);
}

/* With the mask token's embedding (and, tied, its classifier row) scaled
 * up, its logit is the largest at most slots: generation must still never
 * output it. */
static void
test_mask_never_output (void)
{
  FileSpec spec = good_spec;
  spec.mask_scale = 8.0f;
  g_autoptr (ArNar) nar = load_tiny (&spec, 4);
  g_autoptr (ArNarState) s = ar_nar_state_new (nar);
  const ArTransformer *t = ar_nar_get_transformer (nar);
  g_autoptr (ArTransformerState) ts = ar_transformer_state_new (t);
  guint V = ar_nar_get_n_vocab (nar), N = ar_nar_get_slots (nar);
  gint32 ctx[8] = { 0, 1, 2, 3, 4, 5, 6, 7 }, tok[16], out[8];
  g_autofree float *logits = new_floats (16 * (V + 1));
  g_autofree float *probs = new_floats ((gsize) N * V);
  ArRng rng;
  int trapped = 0;

  /* the trap is set: the full-row argmax is the mask token */
  memcpy (tok, ctx, sizeof ctx);
  for (guint j = 0; j < N; j++)
    tok[8 + j] = (gint32) V;
  ar_transformer_encode (t, ts, tok, 8 + N, logits);
  for (guint j = 0; j < N; j++)
    trapped += ar_argmax (logits + (gsize) (8 + j) * (V + 1), V + 1) == V;
  g_assert_cmpint (trapped, >=, (int) N / 2);

  ar_rng_init (&rng, 1);
  for (int k = 0; k < 50; k++) {
    ArSamplingParams p = { k % 5 == 0 ? 0.0f : 0.5f + 0.1f * (k % 20),
      (guint) (k % 3 == 0 ? 3 : 0), k % 4 == 0 ? 0.9f : 1.0f };

    ar_nar_generate (nar, s, ctx, 8, N, 1 + k % N, &p, &rng, out);
    for (guint j = 0; j < N; j++) {
      g_assert_cmpint (out[j], >=, 0);
      g_assert_cmpint (out[j], <, (gint) V);
    }
    ar_nar_propose (nar, s, ctx, 8, N, &p, &rng, out, probs);
    for (guint j = 0; j < N; j++)
      g_assert_cmpint (out[j], <, (gint) V);
  }
}

static void
test_mask_predict_seeds (void)
{
  g_autoptr (ArNar) nar = load_tiny (&good_spec, 9);
  g_autoptr (ArNarState) s = ar_nar_state_new (nar);
  guint N = ar_nar_get_slots (nar);
  ArSamplingParams p = { 1.0f, 0, 1.0f };
  gint32 ctx[6] = { 1, 3, 5, 7, 9, 10 }, a[8], b[8];
  ArRng r1, r2;
  gboolean differ = FALSE;

  for (guint64 seed = 0; seed < 8; seed++) {
    ar_rng_init (&r1, seed);
    ar_rng_init (&r2, seed);
    ar_nar_generate (nar, s, ctx, 6, N, 3, &p, &r1, a);
    ar_nar_generate (nar, s, ctx, 6, N, 3, &p, &r2, b);
    g_assert_cmpmem (a, sizeof a, b, sizeof b);
    /* the RNG advanced identically too */
    g_assert_cmpmem (&r1, sizeof r1, &r2, sizeof r2);
    ar_rng_init (&r2, seed + 100);
    ar_nar_generate (nar, s, ctx, 6, N, 3, &p, &r2, b);
    differ |= memcmp (a, b, sizeof a) != 0;
  }
  g_assert_true (differ);
}

static void
test_propose (void)
{
  g_autoptr (ArNar) nar = load_tiny (&good_spec, 12);
  g_autoptr (ArNarState) s = ar_nar_state_new (nar);
  guint V = ar_nar_get_n_vocab (nar), N = ar_nar_get_slots (nar);
  g_autofree float *probs = new_floats ((gsize) N * V);
  gint32 ctx[5] = { 2, 4, 6, 8, 10 }, tok[8], gen[8];
  ArSamplingParams greedy = { 0.0f, 0, 1.0f }, warm = { 0.8f, 5, 0.95f };
  ArRng rng;

  /* greedy: one-hot rows at the T = 1 tokens */
  ar_nar_propose (nar, s, ctx, 5, N, &greedy, NULL, tok, probs);
  ar_nar_generate (nar, s, ctx, 5, N, 1, &greedy, NULL, gen);
  g_assert_cmpmem (tok, sizeof tok, gen, sizeof gen);
  for (guint j = 0; j < N; j++)
    g_assert_cmpfloat (probs[(gsize) j * V + tok[j]], ==, 1.0f);

  /* sampled: rows are distributions (at most top-k = 5 tokens), each
   * token drawn from where its row has mass */
  ar_rng_init (&rng, 2);
  ar_nar_propose (nar, s, ctx, 5, N, &warm, &rng, tok, probs);
  for (guint j = 0; j < N; j++) {
    double sum = 0.0;
    int nonzero = 0;

    for (guint v = 0; v < V; v++) {
      sum += probs[(gsize) j * V + v];
      nonzero += probs[(gsize) j * V + v] > 0.0f;
    }
    g_assert_cmpfloat (fabs (sum - 1.0), <, 1e-5);
    g_assert_cmpint (nonzero, <=, 5);
    g_assert_cmpfloat (probs[(gsize) j * V + tok[j]], >, 0.0f);
  }
}

/* ---- training ----------------------------------------------------------------- */

static void
test_training_lowers_loss (void)
{
  GString *text = g_string_new (NULL);
  g_autoptr (GError) error = NULL;

  /* 7224 characters: the held-out part is not a multiple of the slots, so
   * the last validation window overlaps the one before */
  for (int i = 0; i < 301; i++)
    g_string_append (text, "the cat sat on the mat.\n");
  g_autoptr (ArTextData) data =
      ar_text_data_new (text->str, text->len, AR_VOCAB_CHAR, 0.1, &error);
  g_assert_no_error (error);
  g_string_free (text, TRUE);

  ArTransformerConfig c = tiny_config (ar_vocab_get_size (data->vocab));
  c.n_layers = 1;
  c.n_embd = 32;
  c.n_ff = 64;
  c.n_ctx = 16;
  c.n_rot = 8;
  c.tied_output = FALSE;
  g_assert_true (ar_nar_task_check (&c, data, 4, 16, &error));
  g_autoptr (ArNarTask) task = ar_nar_task_new (&c, data, 4, 16, 1);
  ArRng rng;
  ar_rng_init (&rng, 1);
  ar_transformer_train_init (ar_nar_task_get_net (task), &rng);

  /* the step's batch: slots after a context of 1 .. C - N, masks on 1 .. N
   * slots, targets only there */
  {
    g_autofree gint32 *in = g_new (gint32, 16 * 16);
    g_autofree gint32 *tg = g_new (gint32, 16 * 16);
    guint mask = ar_vocab_get_size (data->vocab);

    for (int k = 0; k < 20; k++) {
      int T = ar_nar_task_sample (task, &rng, in, tg);

      g_assert_cmpint (T, >=, 1 + 4);
      g_assert_cmpint (T, <=, 16);
      for (int b = 0; b < 16; b++) {
        int m = 0;

        for (int t = 0; t < T; t++) {
          gint32 x = in[t * 16 + b], y = tg[t * 16 + b];

          if (t < T - 4)
            g_assert_true (x != (gint32) mask && y == -1);
          else if (x == (gint32) mask) {
            g_assert_true (y >= 0 && y < (gint32) mask);
            m++;
          } else
            g_assert_cmpint (y, ==, -1);
        }
        g_assert_cmpint (m, >=, 1);
        g_assert_cmpint (m, <=, 4);
      }
    }
  }

  guint64 n_scored;
  double before = ar_nar_task_evaluate (task, &n_scored);
  g_assert_cmpuint ((data->n - data->n_train) % 4, !=, 0);
  g_assert_cmpuint (n_scored, ==, data->n - data->n_train);
  ArTrainOptions o = AR_TRAIN_OPTIONS_INIT;
  o.steps = 150;
  o.warmup = 10;
  o.lr = 5e-3f;
  o.eval_every = 0;
  o.checkpoint_every = 0;
  g_autoptr (ArTrainer) tr =
      ar_trainer_new (ar_nar_task_get_trainable (task), task, &o);
  g_assert_true (ar_trainer_run (tr, NULL, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  double after = ar_nar_task_evaluate (task, NULL);
  g_test_message ("held-out nats/char: %.3f before, %.3f after", before, after);
  g_assert_cmpfloat (after, <, 0.6 * before);

  /* the file it writes loads as an ArNar and continues the text */
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  ar_nar_task_write_model (task, w);
  g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
  g_autoptr (ArGguf) gguf = ar_gguf_new_from_bytes (bytes, "cat.gguf", &error);
  g_assert_no_error (error);
  g_autoptr (ArNar) nar = ar_nar_new_from_gguf (gguf, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ar_nar_get_slots (nar), ==, 4);
}

/* A training run of the NAR task with the trainer: tiny text and shape,
 * dropout on (its masks' seeds come from the trainer's stream too). */
typedef struct
{
  ArTextData *data;
  ArNarTask *task;
  ArTrainer *trainer;
} NarRun;

static void
nar_run_init (NarRun *r, guint64 init_seed, guint64 train_seed)
{
  GString *text = g_string_new (NULL);
  ArTrainOptions o = AR_TRAIN_OPTIONS_INIT;
  ArRng rng;

  for (int i = 0; i < 60; i++)
    g_string_append (text, "a stitch in time saves nine.\n");
  r->data = ar_text_data_new (text->str, text->len, AR_VOCAB_CHAR, 0.1, NULL);
  g_string_free (text, TRUE);
  ArTransformerConfig c = tiny_config (ar_vocab_get_size (r->data->vocab));
  c.n_ctx = 12;
  r->task = ar_nar_task_new (&c, r->data, 5, 3, 1);
  ar_nar_task_set_dropout (r->task, 0.1f);
  ar_rng_init (&rng, init_seed);
  ar_transformer_train_init (ar_nar_task_get_net (r->task), &rng);
  o.steps = 12;
  o.warmup = 2;
  o.eval_every = 5;
  o.checkpoint_every = 0;
  o.seed = train_seed;
  r->trainer =
      ar_trainer_new (ar_nar_task_get_trainable (r->task), r->task, &o);
}

static void
nar_run_clear (NarRun *r)
{
  ar_trainer_free (r->trainer);
  ar_nar_task_free (r->task);
  ar_text_data_free (r->data);
}

static void
stop_at_7 (const ArTrainProgress *p, gpointer user_data)
{
  if (p->step == 7)
    *(volatile gint *) user_data = 1;
}

static void
test_resume_is_exact (void)
{
  g_autofree char *dir = g_dir_make_tmp ("argen-nar-XXXXXX", NULL);
  g_autofree char *ckpt = g_build_filename (dir, "run.ckpt", NULL);
  g_autoptr (GError) error = NULL;
  volatile gint stop = 0;
  NarRun straight, first, resumed;

  nar_run_init (&straight, 3, 5);
  g_assert_true (ar_trainer_run (straight.trainer, NULL, NULL, NULL, NULL,
      &error));
  g_assert_no_error (error);

  nar_run_init (&first, 3, 5);
  g_assert_false (ar_trainer_run (first.trainer, ckpt, stop_at_7,
      (gpointer) &stop, &stop, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_CANCELLED);
  g_clear_error (&error);
  nar_run_clear (&first);
  /* the checkpoint loads as a model */
  g_autoptr (ArNar) nar = ar_nar_new_from_file (ckpt, &error);
  g_assert_no_error (error);

  /* weights and seed start out different: all of it comes from the file */
  nar_run_init (&resumed, 99, 98);
  g_assert_true (ar_trainer_resume (resumed.trainer, ckpt, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ar_trainer_get_step (resumed.trainer), ==, 7);
  g_assert_true (ar_trainer_run (resumed.trainer, ckpt, NULL, NULL, NULL,
      &error));
  g_assert_no_error (error);

  GPtrArray *a =
      ar_transformer_train_get_params (ar_nar_task_get_net (straight.task));
  GPtrArray *b =
      ar_transformer_train_get_params (ar_nar_task_get_net (resumed.task));
  g_assert_cmpuint (a->len, ==, b->len);
  for (guint i = 0; i < a->len; i++) {
    ArParam *pa = g_ptr_array_index (a, i), *pb = g_ptr_array_index (b, i);

    g_assert_cmpmem (pa->w, pa->n * sizeof (float), pb->w,
        pb->n * sizeof (float));
  }
  nar_run_clear (&straight);
  nar_run_clear (&resumed);
  g_unlink (ckpt);
  g_rmdir (dir);
}

/* ---- malformed files ------------------------------------------------------------ */

static void
expect_load_error (const FileSpec *spec, const char *needle)
{
  g_autoptr (GBytes) bytes = write_tiny (spec, 1);
  g_autoptr (GError) error = NULL;
  g_autoptr (ArGguf) gguf =
      ar_gguf_new_from_bytes (bytes, "bad-nar.gguf", &error);
  g_assert_no_error (error);
  g_autoptr (ArNar) nar = ar_nar_new_from_gguf (gguf, &error);

  g_assert_null (nar);
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "bad-nar.gguf"));
  g_assert_nonnull (strstr (error->message, needle));
}

static void
test_malformed (void)
{
  FileSpec s;

  s = good_spec;
  s.mask_id = 12;
  expect_load_error (&s, "nar.mask_token_id");
  s = good_spec;
  s.mask_id = -1;
  expect_load_error (&s, "nar.mask_token_id");
  s = good_spec;
  s.slots = -1;
  expect_load_error (&s, "nar.slots");
  s = good_spec;
  s.slots = CTX;
  expect_load_error (&s, "nar.slots");
  s = good_spec;
  s.slots = 0;
  expect_load_error (&s, "nar.slots");
  s = good_spec;
  s.arch = "llama";
  expect_load_error (&s, "general.architecture");
  /* a vocabulary of 12 characters with mask id 12: the embedding has 12
   * rows, not 13 */
  s = good_spec;
  s.vocab_chars = TEXT_CHARS "k";
  s.mask_id = 12;
  expect_load_error (&s, "token_embd.weight");

  /* truncated: the reader names the file */
  g_autoptr (GBytes) bytes = write_tiny (&good_spec, 1);
  gsize size;
  const guint8 *data = g_bytes_get_data (bytes, &size);
  for (gsize cut = 16; cut < size; cut = cut * 3 + 1) {
    g_autoptr (GBytes) part = g_bytes_new (data, MIN (cut, size - 1));
    g_autoptr (GError) error = NULL;
    g_autoptr (ArGguf) gguf =
        ar_gguf_new_from_bytes (part, "short-nar.gguf", &error);

    g_assert_null (gguf);
    g_assert_nonnull (error);
    g_assert_nonnull (strstr (error->message, "short-nar.gguf"));
  }
  /* and a missing file */
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (ArNar) nar =
        ar_nar_new_from_file ("/nonexistent/nar.gguf", &error);

    g_assert_null (nar);
    g_assert_nonnull (error);
    g_assert_nonnull (strstr (error->message, "/nonexistent/nar.gguf"));
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nar/attention-bidirectional",
      test_attention_bidirectional);
  g_test_add_func ("/nar/train-matches-inference",
      test_train_matches_inference);
  g_test_add_func ("/nar/ignored-targets", test_ignored_targets);
  g_test_add_func ("/nar/schedule", test_schedule);
  g_test_add_func ("/nar/mask-predict-greedy", test_mask_predict_greedy);
  g_test_add_func ("/nar/mask-never-output", test_mask_never_output);
  g_test_add_func ("/nar/mask-predict-seeds", test_mask_predict_seeds);
  g_test_add_func ("/nar/propose", test_propose);
  g_test_add_func ("/nar/training", test_training_lowers_loss);
  g_test_add_func ("/nar/resume-is-exact", test_resume_is_exact);
  g_test_add_func ("/nar/malformed", test_malformed);
  return g_test_run ();
}
