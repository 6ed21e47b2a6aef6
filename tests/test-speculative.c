/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-speculative.c — speculative decoding (ar_text_gen_set_speculative)
 * against plain decoding.
 *
 * - Greedy: the output is byte for byte plain greedy decoding's, for
 *   several targets, drafts (the target itself, unrelated random models,
 *   quantised copies of the target, the default GRU drafting for the
 *   default Transformer), draft lengths k and prompts, far past the
 *   context (the window slides), with prompts fed in the middle of a
 *   stream and with a stop string that ends it mid-round; with prompts
 *   fed in steps.
 * - Sampled: on a tiny model, the joint frequencies of the first two
 *   tokens and the frequencies of the third, over 20,000 streams, pass a
 *   chi-square test against the target's exact distribution (computed
 *   token by token from its logits); the same test rejects plain samples
 *   from the draft, so it can tell the two models apart.
 * - Errors: an RNN target, a draft with another vocabulary. */
#include <math.h>
#include <string.h>

#include "test-transformer-util.h"
#include "test-util.h"

static ArTextModel *
random_model (const Spec *sp, guint64 seed)
{
  g_autoptr (GBytes) bytes = make_model_vocab (sp, seed, TRUE);
  return test_text_model_from_bytes (bytes);
}

/* A scripted stream: reset, prompt, n1 tokens, a second prompt, n2 tokens,
 * finish; the text out and the tokens sampled. */
static char *
run_stream (ArTextModel *target, ArTextModel *draft, guint k,
    const ArSamplingParams *params, const char *stop, const char *prompt1,
    guint n1, const char *prompt2, guint n2, guint64 seed, guint64 *tokens,
    double *acceptance)
{
  g_autoptr (ArTextGen) gen = ar_text_gen_new (target);
  g_autoptr (GString) out = g_string_new (NULL);
  GError *error = NULL;
  guint64 rounds, drafted, accepted;

  if (draft) {
    g_assert_true (ar_text_gen_set_speculative (gen, draft, k, &error));
    g_assert_no_error (error);
  }
  ar_text_gen_set_sampling (gen, params);
  ar_text_gen_set_stop (gen, stop);
  ar_text_gen_reset (gen, seed);
  ar_text_gen_feed (gen, prompt1, -1);
  for (guint i = 0; i < n1 && !ar_text_gen_next (gen, out); i++)
    ;
  g_string_append (out, "|");
  ar_text_gen_feed (gen, prompt2, -1);
  for (guint i = 0; i < n2 && !ar_text_gen_next (gen, out); i++)
    ;
  ar_text_gen_finish (gen, out);
  if (tokens)
    *tokens = ar_text_gen_get_n_tokens (gen);
  ar_text_gen_get_speculative_stats (gen, &rounds, &drafted, &accepted);
  if (draft) {
    g_assert_cmpuint (rounds, >, 0);
    g_assert_cmpuint (accepted, <=, drafted);
    g_assert_cmpuint (drafted, <=, rounds * k);
  } else {
    g_assert_cmpuint (rounds, ==, 0);
  }
  if (acceptance)
    *acceptance = drafted ? (double) accepted / drafted : 0.0;
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static const ArSamplingParams greedy = { 0.0f, 0, 1.0f };

/* Greedy speculative output equals plain greedy output. */
static void
test_greedy_random (void)
{
  static const Spec targets[] = {
    { AR_TRANSFORMER_LLAMA, 2, 32, 48, 4, 2, 40, 50, FALSE, FALSE, FALSE,
        AR_TENSOR_F32 },
    { AR_TRANSFORMER_GPT, 2, 32, 64, 4, 4, 40, 50, TRUE, FALSE, TRUE,
        AR_TENSOR_F32 },
    { AR_TRANSFORMER_LLAMA, 2, 64, 96, 8, 2, 40, 50, FALSE, FALSE, FALSE,
        AR_TENSOR_Q8_0 },
  };
  const Spec draft_spec = { AR_TRANSFORMER_LLAMA, 1, 16, 24, 2, 1, 24, 50,
    TRUE, FALSE, FALSE, AR_TENSOR_F32 };
  static const guint ks[] = { 1, 2, 3, 5, 8 };
  static const char *const prompts[][2] = {
    { "", "ABC" },
    { "!#%&", "" },
    /* longer than the context */
    { "ABCDEFGHIJKLMNOPQRSTUVWXYZ!#%&ABCDEFGHIJKLMNOPQRSTUVWXYZ", "QRS" },
  };

  for (guint t = 0; t < G_N_ELEMENTS (targets); t++) {
    g_autoptr (ArTextModel) target = random_model (&targets[t], 100 + t);
    g_autoptr (ArTextModel) other = random_model (&draft_spec, 200 + t);
    ArTextModel *drafts[] = { target, other };

    for (guint p = 0; p < G_N_ELEMENTS (prompts); p++) {
      guint64 n_plain;
      g_autofree char *plain = run_stream (target, NULL, 0, &greedy, NULL,
          prompts[p][0], 130, prompts[p][1], 70, 1, &n_plain, NULL);

      for (guint d = 0; d < G_N_ELEMENTS (drafts); d++) {
        for (guint i = 0; i < G_N_ELEMENTS (ks); i++) {
          guint64 n;
          double acc;
          g_autofree char *spec = run_stream (target, drafts[d], ks[i],
              &greedy, NULL, prompts[p][0], 130, prompts[p][1], 70, 1, &n,
              &acc);

          g_assert_cmpstr (spec, ==, plain);
          g_assert_cmpuint (n, ==, n_plain);
          /* the target drafting for itself: every draft accepted */
          if (drafts[d] == target)
            g_assert_cmpfloat (acc, ==, 1.0);
        }
      }
    }
  }
}

/* A greedy stream whose prompts are queued and fed @step tokens at a time
 * (as the elements feed them, ar_text_gen_feed_queued ()): reset, prompt,
 * n1 tokens, a second prompt in the middle of the stream, n2 tokens. */
static char *
run_stream_steps (ArTextModel *target, ArTextModel *draft, guint k,
    const char *prompt1, guint n1, const char *prompt2, guint n2, guint step,
    double *acceptance)
{
  guint64 drafted, accepted;
  g_autoptr (ArTextGen) gen = ar_text_gen_new (target);
  g_autoptr (GString) out = g_string_new (NULL);
  const char *prompts[] = { prompt1, prompt2 };
  const guint n[] = { n1, n2 };

  if (draft)
    g_assert_true (ar_text_gen_set_speculative (gen, draft, k, NULL));
  ar_text_gen_set_sampling (gen, &greedy);
  ar_text_gen_reset (gen, 1);
  for (guint p = 0; p < 2; p++) {
    guint left;

    ar_text_gen_queue (gen, prompts[p], -1);
    left = ar_text_gen_get_n_queued (gen);
    while (left > 0) {
      guint rest = ar_text_gen_feed_queued (gen, step);

      g_assert_cmpuint (rest, ==, left - MIN (left, step));
      left = rest;
    }
    for (guint i = 0; i < n[p] && !ar_text_gen_next (gen, out); i++)
      ;
    g_string_append (out, "|");
  }
  ar_text_gen_finish (gen, out);
  ar_text_gen_get_speculative_stats (gen, NULL, &drafted, &accepted);
  *acceptance = drafted ? (double) accepted / drafted : 0.0;
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* Prompts fed in steps: the draft reads each step at once (so that no
 * long catch-up is left for its next round); greedy speculative output is
 * still plain greedy output fed in the same steps, with prompts longer
 * than both contexts, in the middle of the stream too.  The target
 * drafting for itself has every draft accepted: the draft read exactly
 * the target's prompt. */
static void
test_greedy_prompt_in_steps (void)
{
  const Spec target_spec = { AR_TRANSFORMER_LLAMA, 2, 32, 48, 4, 2, 40, 50,
    FALSE, FALSE, FALSE, AR_TENSOR_F32 };
  const Spec draft_spec = { AR_TRANSFORMER_LLAMA, 1, 16, 24, 2, 1, 24, 50, TRUE,
    FALSE, FALSE, AR_TENSOR_F32 };
  g_autoptr (ArTextModel) target = random_model (&target_spec, 300);
  g_autoptr (ArTextModel) draft = random_model (&draft_spec, 301);
  const char *long_prompt =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZ!#%&ABCDEFGHIJKLMNOPQRSTUVWXYZ!#%&ABCDEFGH";
  static const guint steps[] = { 1, 5, 32 };

  for (guint i = 0; i < G_N_ELEMENTS (steps); i++) {
    double acc;
    g_autofree char *plain = run_stream_steps (target, NULL, 0, long_prompt, 60,
        long_prompt + 10, 50, steps[i], &acc);

    for (guint k = 1; k <= 4; k += 3) {
      g_autofree char *spec = run_stream_steps (target, draft, k, long_prompt,
          60, long_prompt + 10, 50, steps[i], &acc);
      g_autofree char *self = run_stream_steps (target, target, k, long_prompt,
          60, long_prompt + 10, 50, steps[i], &acc);

      g_assert_cmpstr (spec, ==, plain);
      g_assert_cmpstr (self, ==, plain);
      g_assert_cmpfloat (acc, ==, 1.0);
    }
  }
}

/* What speculative decoding is for: a target drafted by a quantised copy
 * of itself (the same weights stored as Q8_0 and Q4_0), and a Q4_0 target
 * verified in batches with its own kernels (drafting for itself: every
 * draft accepted) or drafted by its F32 original.  Greedy output equals
 * plain greedy output in every case.  The copies agree with the original
 * far more often than an unrelated model does: acceptance measured 0.88 to
 * 0.95 for the Q8_0 draft, 0.46 to 0.86 for Q4_0 (k = 8 to 1; these random
 * weights are harder to quantise than trained ones), 0.32 to 0.81 the
 * other way round, against 0.00 to 0.03 for another random model of the
 * same shape; 0.2 is required. */
static void
test_greedy_quantised_copy (void)
{
  Spec sp = { AR_TRANSFORMER_LLAMA, 2, 64, 96, 8, 2, 40, 50, FALSE, FALSE,
    FALSE, AR_TENSOR_F32 };
  static const guint ks[] = { 1, 4, 8 };
  static const char *const prompt =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZ!#%&ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  g_autoptr (ArTextModel) f32 = random_model (&sp, 300);
  sp.type = AR_TENSOR_Q8_0;
  g_autoptr (ArTextModel) q8 = random_model (&sp, 300);
  sp.type = AR_TENSOR_Q4_0;
  g_autoptr (ArTextModel) q4 = random_model (&sp, 300);
  const struct
  {
    ArTextModel *target, *draft;
    const char *what;
  } cases[] = {
    { f32, q8, "F32 target, Q8_0 draft" },
    { f32, q4, "F32 target, Q4_0 draft" },
    { q4, q4, "Q4_0 target, itself as the draft" },
    { q4, f32, "Q4_0 target, F32 draft" },
  };

  for (guint c = 0; c < G_N_ELEMENTS (cases); c++) {
    guint64 n_plain;
    g_autofree char *plain = run_stream (cases[c].target, NULL, 0, &greedy,
        NULL, prompt, 120, "QRS", 40, 1, &n_plain, NULL);

    for (guint i = 0; i < G_N_ELEMENTS (ks); i++) {
      guint64 n;
      double acc;
      g_autofree char *spec = run_stream (cases[c].target, cases[c].draft,
          ks[i], &greedy, NULL, prompt, 120, "QRS", 40, 1, &n, &acc);

      g_test_message ("%s, k = %u: acceptance %.2f", cases[c].what, ks[i], acc);
      g_assert_cmpstr (spec, ==, plain);
      g_assert_cmpuint (n, ==, n_plain);
      if (cases[c].draft == cases[c].target)
        g_assert_cmpfloat (acc, ==, 1.0);
      else
        g_assert_cmpfloat (acc, >=, 0.2);
    }
  }
}

/* A stop string reached in the middle of a round ends the stream where
 * plain decoding ends it, and the stream goes on alike after a prompt. */
static void
test_greedy_stop (void)
{
  const Spec sp = { AR_TRANSFORMER_LLAMA, 2, 32, 48, 4, 2, 40, 50, FALSE,
    FALSE, FALSE, AR_TENSOR_F32 };
  const Spec dsp = { AR_TRANSFORMER_LLAMA, 1, 16, 24, 2, 1, 24, 50, TRUE,
    FALSE, FALSE, AR_TENSOR_F32 };
  g_autoptr (ArTextModel) target = random_model (&sp, 7);
  g_autoptr (ArTextModel) draft = random_model (&dsp, 8);
  g_autofree char *free_run = run_stream (target, NULL, 0, &greedy, NULL,
      "AB", 60, "", 0, 3, NULL, NULL);
  guint stopped = 0;

  /* stop strings taken from the unconstrained output, at several places */
  for (guint at = 5; at + 2 < 60; at += 7) {
    g_autofree char *stop = g_strndup (free_run + at, 2);
    g_autofree char *plain = run_stream (target, NULL, 0, &greedy, stop,
        "AB", 60, "CD", 40, 3, NULL, NULL);

    if (strlen (plain) < 60)
      stopped++;
    for (guint k = 1; k <= 6; k += 2) {
      g_autofree char *spec = run_stream (target, draft, k, &greedy, stop,
          "AB", 60, "CD", 40, 3, NULL, NULL);
      g_assert_cmpstr (spec, ==, plain);
    }
  }
  g_assert_cmpuint (stopped, >, 0);
}

/* The default GRU drafting for the default Transformer (files from the
 * source tree). */
static void
test_greedy_defaults (void)
{
  const char *dir = g_getenv ("AR_DEFAULTS_DIR");
  g_autofree char *tp = g_build_filename (dir ? dir : ".",
      "transformer-shakespeare.gguf", NULL);
  g_autofree char *rp = g_build_filename (dir ? dir : ".",
      "rnn-shakespeare.gguf", NULL);
  GError *error = NULL;
  g_autoptr (ArTextModel) target = ar_text_model_new_from_file (tp, &error);
  g_assert_no_error (error);
  g_autoptr (ArTextModel) rnn = ar_text_model_new_from_file (rp, &error);
  g_assert_no_error (error);
  static const char *const prompts[] = { "ROMEO:\n", "", "First Citizen:\nWe" };

  for (guint p = 0; p < G_N_ELEMENTS (prompts); p++) {
    g_autofree char *plain = run_stream (target, NULL, 0, &greedy, NULL,
        prompts[p], 200, "\nKING:", 100, 1, NULL, NULL);
    for (guint k = 2; k <= 6; k += 2) {
      double acc;
      g_autofree char *spec = run_stream (target, rnn, k, &greedy, NULL,
          prompts[p], 200, "\nKING:", 100, 1, NULL, &acc);
      g_assert_cmpstr (spec, ==, plain);
      /* two models of the same text agree on much of it */
      /* two models of the same text agree on much of it, when the draft
       * follows the stream (a draft out of step would agree by chance
       * only); from BOS alone both fall into loops of their own */
      if (p != 1)
        g_assert_cmpfloat (acc, >, 0.3);
      if (p == 0)
        g_test_message ("GRU draft for the Transformer, k = %u: %.0f %% of "
            "drafts accepted", k, 100 * acc);
    }
  }
}

/* ---- sampled output ---------------------------------------------------- */

#define N_STREAMS 20000
#define TV 8 /* the tiny vocabulary */

/* Pearson's chi-square of @counts against @n * @probs over @cells cells,
 * cells of expectation below 5 pooled; *dof receives the degrees of
 * freedom. */
static double
chi_square (const guint *counts, const double *probs, guint cells, guint n,
    guint *dof)
{
  double chi = 0.0, pool_e = 0.0, pool_o = 0.0;
  guint used = 0;

  for (guint i = 0; i < cells; i++) {
    double e = n * probs[i];
    if (e < 5.0) {
      pool_e += e;
      pool_o += counts[i];
      continue;
    }
    chi += (counts[i] - e) * (counts[i] - e) / e;
    used++;
  }
  if (pool_e > 0.0) {
    chi += (pool_o - pool_e) * (pool_o - pool_e) / MAX (pool_e, 1e-9);
    used++;
  }
  *dof = used - 1;
  return chi;
}

/* The chi-square value exceeded with probability 0.001 (Wilson-Hilferty). */
static double
chi_square_critical (guint dof)
{
  double z = 3.0902, a = 2.0 / (9.0 * dof);
  return dof * pow (1.0 - a + z * sqrt (a), 3.0);
}

/* Exact distributions under @params of the target after "!" t1 (t2): the
 * first token, the pair, and the third token's marginal. */
static void
exact_distributions (ArTextModel *m, const ArSamplingParams *params,
    double *p1, double *p12, double *p3)
{
  const ArTransformer *t = ar_text_model_get_impl (m);
  g_autoptr (ArTransformerState) s = ar_transformer_state_new (t);
  g_autoptr (ArSampler) sampler = ar_sampler_new (TV);
  float d1[TV], d2[TV], d3[TV];
  guint bang;
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));

  ar_vocab_encode (ar_text_model_get_vocab (m), "!", -1, ids);
  bang = g_array_index (ids, gint32, 0);
  memset (p3, 0, TV * sizeof (double));
  ar_transformer_state_reset (s);
  ar_sampler_distribution (sampler, params,
      ar_transformer_forward (t, s, bang), d1);
  for (guint a = 0; a < TV; a++) {
    p1[a] = d1[a];
    ar_transformer_state_reset (s);
    ar_transformer_forward (t, s, bang);
    ar_sampler_distribution (sampler, params, ar_transformer_forward (t, s, a),
        d2);
    for (guint b = 0; b < TV; b++) {
      p12[a * TV + b] = (double) d1[a] * d2[b];
      ar_transformer_state_reset (s);
      ar_transformer_forward (t, s, bang);
      ar_transformer_forward (t, s, a);
      ar_sampler_distribution (sampler, params,
          ar_transformer_forward (t, s, b), d3);
      for (guint c = 0; c < TV; c++)
        p3[c] += p12[a * TV + b] * d3[c];
    }
  }
}

/* Counts the first three tokens of N_STREAMS streams after "!". */
static void
sample_counts (ArTextModel *m, ArTextModel *draft, guint k,
    const ArSamplingParams *params, guint *c12, guint *c3)
{
  g_autoptr (ArTextGen) gen = ar_text_gen_new (m);
  g_autoptr (GString) out = g_string_new (NULL);

  if (draft)
    g_assert_true (ar_text_gen_set_speculative (gen, draft, k, NULL));
  ar_text_gen_set_sampling (gen, params);
  memset (c12, 0, TV * TV * sizeof (guint));
  memset (c3, 0, TV * sizeof (guint));
  for (guint i = 0; i < N_STREAMS; i++) {
    guint tok[3];
    ar_text_gen_reset (gen, 1000 + i);
    ar_text_gen_feed (gen, "!", -1);
    for (guint j = 0; j < 3; j++) {
      g_assert_false (ar_text_gen_next (gen, out));
      tok[j] = ar_text_gen_last_token (gen);
    }
    c12[tok[0] * TV + tok[1]]++;
    c3[tok[2]]++;
  }
}

static void
test_sampled_distribution (void)
{
  const Spec tsp = { AR_TRANSFORMER_LLAMA, 1, 16, 24, 2, 1, 16, TV, FALSE,
    FALSE, FALSE, AR_TENSOR_F32 };
  g_autoptr (ArTextModel) target = random_model (&tsp, 41);
  g_autoptr (ArTextModel) draft = random_model (&tsp, 42);
  static const ArSamplingParams settings[] = {
    { 1.0f, 0, 1.0f },
    { 0.7f, 5, 0.9f },
  };

  for (guint s = 0; s < G_N_ELEMENTS (settings); s++) {
    const ArSamplingParams *params = &settings[s];
    double p1[TV], p12[TV * TV], p3[TV];
    guint c12[TV * TV], c3[TV], dof12, dof3;
    double chi12, chi3;

    exact_distributions (target, params, p1, p12, p3);
    for (guint k = 1; k <= 4; k += 3) {
      sample_counts (target, draft, k, params, c12, c3);
      chi12 = chi_square (c12, p12, TV * TV, N_STREAMS, &dof12);
      chi3 = chi_square (c3, p3, TV, N_STREAMS, &dof3);
      g_test_message ("T %.1f k %u: pairs chi2 %.1f (%u dof, critical %.1f), "
          "third chi2 %.1f (%u dof, critical %.1f)", params->temperature, k,
          chi12, dof12, chi_square_critical (dof12), chi3, dof3,
          chi_square_critical (dof3));
      g_assert_cmpfloat (chi12, <, chi_square_critical (dof12));
      g_assert_cmpfloat (chi3, <, chi_square_critical (dof3));
    }
    /* the test has power: the draft's own samples fail it */
    sample_counts (draft, NULL, 0, params, c12, c3);
    chi12 = chi_square (c12, p12, TV * TV, N_STREAMS, &dof12);
    g_assert_cmpfloat (chi12, >, chi_square_critical (dof12));
  }
}

/* ---- errors ------------------------------------------------------------ */

static void
test_errors (void)
{
  const Spec sp = { AR_TRANSFORMER_LLAMA, 1, 16, 24, 2, 1, 16, 40, FALSE,
    FALSE, FALSE, AR_TENSOR_F32 };
  const Spec sp2 = { AR_TRANSFORMER_LLAMA, 1, 16, 24, 2, 1, 16, 41, FALSE,
    FALSE, FALSE, AR_TENSOR_F32 };
  g_autoptr (ArTextModel) target = random_model (&sp, 1);
  g_autoptr (ArTextModel) other = random_model (&sp2, 2);
  g_autoptr (GBytes) rb = test_make_rnn_bytes (AR_CELL_GRU, 1, 8, 16,
      "abcdefgh", 3);
  g_autoptr (ArTextModel) rnn = test_text_model_from_bytes (rb);
  g_autoptr (ArTextGen) gen = ar_text_gen_new (target);
  g_autoptr (ArTextGen) rgen = ar_text_gen_new (rnn);
  GError *error = NULL;

  g_assert_false (ar_text_gen_set_speculative (gen, other, 4, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "vocabulary"));
  g_clear_error (&error);
  g_assert_false (ar_text_gen_set_speculative (rgen, rnn, 4, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "rnn"));
  g_clear_error (&error);
  /* off again: NULL or k = 0 */
  g_assert_true (ar_text_gen_set_speculative (gen, target, 3, &error));
  g_assert_true (ar_text_gen_set_speculative (gen, NULL, 3, &error));
  g_assert_true (ar_text_gen_set_speculative (rgen, NULL, 0, &error));
  g_assert_no_error (error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/speculative/greedy/random", test_greedy_random);
  g_test_add_func ("/speculative/greedy/quantised-copy",
      test_greedy_quantised_copy);
  g_test_add_func ("/speculative/greedy/stop", test_greedy_stop);
  g_test_add_func ("/speculative/greedy/prompt-in-steps",
      test_greedy_prompt_in_steps);
  g_test_add_func ("/speculative/greedy/defaults", test_greedy_defaults);
  g_test_add_func ("/speculative/sampled-distribution",
      test_sampled_distribution);
  g_test_add_func ("/speculative/errors", test_errors);
  return g_test_run ();
}
