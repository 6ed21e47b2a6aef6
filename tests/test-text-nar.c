/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-text-nar.c — non-autoregressive models through the text API
 * (ArTextModel / ArTextGen): a "nar" file loads as a text model, and a
 * stream is exactly Mask-Predict passes (ar_nar_generate ()) over the text
 * so far, chunk after chunk, with prompts fed in between dropping the rest
 * of a chunk; speculative decoding refuses it. */
#include <string.h>

#include "nar/ar-nar.h"
#include "test-transformer-util.h"

#define SLOTS 6

static const Spec nar_spec = { AR_TRANSFORMER_LLAMA, 2, 32, 48, 4, 2, 24, 20,
  FALSE, FALSE, FALSE, AR_TENSOR_F32 };

static ArTextModel *
nar_model (guint64 seed)
{
  g_autoptr (GBytes) bytes = make_model_full (&nar_spec, seed, TRUE, SLOTS);
  GError *error = NULL;
  ArTextModel *m = ar_text_model_new_from_bytes (bytes, "nar.gguf", &error);
  g_assert_no_error (error);
  return m;
}

static void
append_text (const ArVocab *v, const char *text, GArray *ids)
{
  ar_vocab_encode (v, text, -1, ids);
}

/* The stream against passes run by hand: prompt, 2.5 chunks, a second
 * prompt in the middle of a chunk, 1.5 chunks more.  (The test
 * vocabulary is the 20 characters from '!' to '4'.) */
static void
check_stream (ArTextModel *m, guint iterations, float temperature)
{
  const ArNar *nar = ar_text_model_get_nar (m);
  const ArVocab *v = ar_text_model_get_vocab (m);
  ArSamplingParams params = { temperature, 0, 1.0f };
  g_autoptr (ArTextGen) gen = ar_text_gen_new (m);
  g_autoptr (ArNarState) s = ar_nar_state_new (nar);
  g_autoptr (GArray) history = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_autoptr (GString) out = g_string_new (NULL);
  static const guint counts[2] = { 15, 9 };
  static const char *const prompts[2] = { "#$%", "&'" };
  gint32 chunk[SLOTS];
  guint64 passes = 0;
  ArRng rng;

  ar_text_gen_set_sampling (gen, &params);
  ar_text_gen_set_iterations (gen, iterations);
  ar_text_gen_reset (gen, 77);
  ar_rng_init (&rng, 77);
  for (guint part = 0; part < 2; part++) {
    guint have = 0, used = 0;

    ar_text_gen_feed (gen, prompts[part], -1);
    append_text (v, prompts[part], history);
    for (guint i = 0; i < counts[part]; i++) {
      if (used == have) {
        passes += ar_nar_generate (nar, s, (const gint32 *) history->data,
            history->len, SLOTS, iterations, &params, &rng, chunk);
        have = SLOTS;
        used = 0;
      }
      g_assert_false (ar_text_gen_next (gen, out));
      g_assert_cmpuint (ar_text_gen_last_token (gen), ==, chunk[used]);
      g_array_append_val (history, chunk[used]);
      used++;
    }
  }
  g_assert_cmpuint (ar_text_gen_get_n_tokens (gen), ==, 24);
  g_assert_cmpuint (ar_text_gen_get_passes (gen), ==, passes);
  /* one pass per chunk at T = 1 (5 chunks started: 3 then 2) */
  if (iterations == 1)
    g_assert_cmpuint (passes, ==, 5);
  g_assert_cmpuint (g_utf8_strlen (out->str, -1), ==, 24);
}

static void
test_stream (void)
{
  g_autoptr (ArTextModel) m = nar_model (3);

  g_assert_cmpstr (ar_text_model_get_architecture (m), ==, "nar");
  g_assert_null (ar_text_model_get_family (m));
  g_assert_nonnull (ar_text_model_get_nar (m));
  g_assert_cmpuint (ar_vocab_get_size (ar_text_model_get_vocab (m)), ==,
      nar_spec.V);
  for (guint T = 1; T <= 4; T += 3) {
    check_stream (m, T, 0.0f);
    check_stream (m, T, 0.8f);
  }
}

/* The same seed, the same text; beam settings change nothing. */
static void
test_seed_and_beam (void)
{
  g_autoptr (ArTextModel) m = nar_model (4);
  g_autoptr (GString) a = g_string_new (NULL);
  g_autoptr (GString) b = g_string_new (NULL);
  ArSamplingParams params = { 0.9f, 0, 1.0f };

  for (guint run = 0; run < 2; run++) {
    g_autoptr (ArTextGen) gen = ar_text_gen_new (m);
    GString *out = run ? b : a;

    ar_text_gen_set_sampling (gen, &params);
    ar_text_gen_set_iterations (gen, 2);
    if (run)
      ar_text_gen_set_beam (gen, 4, 0.0f);
    ar_text_gen_reset (gen, 5);
    ar_text_gen_feed (gen, "()*+,", -1);
    for (guint i = 0; i < 20; i++)
      g_assert_false (ar_text_gen_next (gen, out));
    ar_text_gen_finish (gen, out);
  }
  g_assert_cmpstr (a->str, ==, b->str);
}

static void
test_speculative_refused (void)
{
  const Spec ar_spec = { AR_TRANSFORMER_LLAMA, 1, 16, 24, 2, 1, 24, 20, FALSE,
    FALSE, FALSE, AR_TENSOR_F32 };
  g_autoptr (GBytes) bytes = make_model_vocab (&ar_spec, 9, TRUE);
  GError *error = NULL;
  g_autoptr (ArTextModel) ar = ar_text_model_new_from_bytes (bytes, "ar.gguf",
      &error);
  g_assert_no_error (error);
  g_autoptr (ArTextModel) nar = nar_model (5);
  g_autoptr (ArTextGen) gen_ar = ar_text_gen_new (ar);
  g_autoptr (ArTextGen) gen_nar = ar_text_gen_new (nar);

  g_assert_false (ar_text_gen_set_speculative (gen_ar, nar, 3, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "non-autoregressive"));
  g_clear_error (&error);
  g_assert_false (ar_text_gen_set_speculative (gen_nar, ar, 3, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED);
  g_clear_error (&error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/text-nar/stream", test_stream);
  g_test_add_func ("/text-nar/seed-and-beam", test_seed_and_beam);
  g_test_add_func ("/text-nar/speculative-refused", test_speculative_refused);
  return g_test_run ();
}
