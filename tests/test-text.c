/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-text.c — vocabularies, the UTF-8 / stop-string output filter and
 * generation streams (determinism, greedy decoding, prompts, prompts fed
 * in steps). */
#include <math.h>
#include <string.h>
#include "test-util.h"

/* ---- filter ------------------------------------------------------------ */

/* Pushes @bytes one byte at a time, returns everything output (finish included). */
static char *
filter_bytewise (const char *stop, const char *bytes, gsize len, gboolean *stopped)
{
  g_autoptr (ArTextFilter) f = ar_text_filter_new ();
  ar_text_filter_set_stop (f, stop);
  GString *out = g_string_new (NULL);
  *stopped = FALSE;
  for (gsize i = 0; i < len && !*stopped; i++) {
    gsize before = out->len;
    *stopped = ar_text_filter_push (f, bytes + i, 1, out);
    g_assert_true (g_utf8_validate (out->str + before, out->len - before, NULL));
  }
  if (!*stopped)
    ar_text_filter_finish (f, out);
  return g_string_free (out, FALSE);
}

static void
test_filter_utf8 (void)
{
  gboolean stopped;
  /* complete multi-byte characters pass through, split byte by byte */
  const char *ok = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80!";
  g_autofree char *a = filter_bytewise (NULL, ok, strlen (ok), &stopped);
  g_assert_cmpstr (a, ==, ok);
  g_assert_false (stopped);

  /* a stray continuation byte, an overlong form, a surrogate and a NUL each
   * become U+FFFD per byte; valid text around them is kept */
  const char bad[] = "a\x80" "b\xc0\xaf" "c\xed\xa0\x80" "d\0e";
  g_autofree char *b = filter_bytewise (NULL, bad, sizeof bad - 1, &stopped);
  g_assert_cmpstr (b, ==, "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd"
      "c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "d\xef\xbf\xbd" "e");

  /* a sequence broken by an ASCII byte: the lead byte is replaced and the
   * ASCII byte kept */
  g_autofree char *c = filter_bytewise (NULL, "\xe2\x82x", 3, &stopped);
  g_assert_cmpstr (c, ==, "\xef\xbf\xbd\xef\xbf\xbdx");

  /* an incomplete tail is held back until finish, then replaced */
  g_autoptr (ArTextFilter) f = ar_text_filter_new ();
  g_autoptr (GString) out = g_string_new (NULL);
  ar_text_filter_push (f, "ok\xe2\x82", 4, out);
  g_assert_cmpstr (out->str, ==, "ok");
  ar_text_filter_finish (f, out);
  g_assert_cmpstr (out->str, ==, "ok\xef\xbf\xbd\xef\xbf\xbd");
}

static void
test_filter_stop (void)
{
  gboolean stopped;
  const char *text = "ROMEO: hello\n\nJULIET: no";
  g_autofree char *a = filter_bytewise ("\n\n", text, strlen (text), &stopped);
  g_assert_true (stopped);
  g_assert_cmpstr (a, ==, "ROMEO: hello");

  /* a partial match that fails is released in full */
  g_autofree char *b = filter_bytewise ("END", "the ENd ENDING", 14, &stopped);
  g_assert_true (stopped);
  g_assert_cmpstr (b, ==, "the ENd ");

  /* a partial match at the end of the stream is output by finish */
  g_autofree char *c = filter_bytewise ("END", "fine EN", 7, &stopped);
  g_assert_false (stopped);
  g_assert_cmpstr (c, ==, "fine EN");

  /* a multi-byte stop string split across pushes */
  g_autofree char *d = filter_bytewise ("\xe2\x82\xac", "cost 5\xe2\x82\xac more", 13, &stopped);
  g_assert_true (stopped);
  g_assert_cmpstr (d, ==, "cost 5");

  /* held-back output never exceeds what cannot yet be decided */
  g_autoptr (ArTextFilter) f = ar_text_filter_new ();
  ar_text_filter_set_stop (f, "abc");
  g_autoptr (GString) out = g_string_new (NULL);
  g_assert_false (ar_text_filter_push (f, "xxab", 4, out));
  g_assert_cmpstr (out->str, ==, "xx");
  g_assert_false (ar_text_filter_push (f, "x", 1, out));
  g_assert_cmpstr (out->str, ==, "xxabx");
}

/* ---- vocabularies ------------------------------------------------------ */

static void
test_vocab (void)
{
  g_autoptr (GError) error = NULL;
  const char *text = "b a\nc\xc3\xa9 a";
  g_autoptr (ArVocab) v = ar_vocab_new_chars (text, strlen (text), &error);
  g_assert_no_error (error);
  /* sorted code points: \n, space, a, b, c, é */
  g_assert_cmpuint (ar_vocab_get_size (v), ==, 6);
  g_assert_cmpint (ar_vocab_get_bos (v), ==, 0);
  gsize len;
  g_assert_cmpstr (ar_vocab_token_bytes (v, 5, &len), ==, "\xc3\xa9");
  g_assert_cmpuint (len, ==, 2);
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_assert_cmpuint (ar_vocab_encode (v, "ab\xc3\xa9zq\xff", -1, ids), ==, 3);
  g_assert_cmpuint (ids->len, ==, 3);
  g_assert_cmpint (g_array_index (ids, gint32, 0), ==, 2);
  g_assert_cmpint (g_array_index (ids, gint32, 2), ==, 5);

  /* round trip through a file */
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  ar_vocab_write_gguf (v, w);
  g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
  g_autoptr (ArGguf) g = ar_gguf_new_from_bytes (bytes, "vocab.gguf", &error);
  g_assert_no_error (error);
  g_autoptr (ArVocab) v2 = ar_vocab_new_from_gguf (g, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ar_vocab_get_size (v2), ==, 6);
  for (guint i = 0; i < 6; i++)
    g_assert_cmpstr (ar_vocab_token_bytes (v2, i, NULL), ==, ar_vocab_token_bytes (v, i, NULL));

  /* invalid text, duplicate and multi-character tokens */
  g_autoptr (ArVocab) bad = ar_vocab_new_chars ("a\xff", 2, &error);
  g_assert_null (bad);
  g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
  g_clear_error (&error);
  const char *dup[] = { "a", "b", "a" }, *multi[] = { "a", "bc" };
  const char *const *cases[] = { dup, multi };
  const gsize n[] = { 3, 2 };
  for (guint i = 0; i < 2; i++) {
    g_autoptr (ArGgufWriter) w2 = ar_gguf_writer_new ();
    ar_gguf_writer_set_string (w2, "tokenizer.ggml.model", "char");
    ar_gguf_writer_set_string_array (w2, "tokenizer.ggml.tokens", cases[i], NULL, n[i]);
    g_autoptr (GBytes) b2 = ar_gguf_writer_to_bytes (w2);
    g_autoptr (ArGguf) g2 = ar_gguf_new_from_bytes (b2, "tok.gguf", NULL);
    g_autoptr (ArVocab) v3 = ar_vocab_new_from_gguf (g2, &error);
    g_assert_null (v3);
    g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
    g_assert_nonnull (strstr (error->message, "tok.gguf"));
    g_clear_error (&error);
  }

  g_autoptr (ArVocab) bytes_v = ar_vocab_new_bytes ();
  g_assert_cmpuint (ar_vocab_get_size (bytes_v), ==, 256);
  g_array_set_size (ids, 0);
  g_assert_cmpuint (ar_vocab_encode (bytes_v, "\xc3\xa9", -1, ids), ==, 0);
  g_assert_cmpint (g_array_index (ids, gint32, 0), ==, 0xc3);
}

/* ---- generation ---------------------------------------------------------- */

static char *
generate (ArTextModel *m, guint64 seed, float temperature, const char *prompt, int n)
{
  g_autoptr (ArTextGen) gen = ar_text_gen_new (m);
  ArSamplingParams p = { temperature, 0, 1.0f };
  ar_text_gen_set_sampling (gen, &p);
  ar_text_gen_reset (gen, seed);
  if (prompt)
    ar_text_gen_feed (gen, prompt, -1);
  GString *out = g_string_new (NULL);
  for (int i = 0; i < n; i++)
    g_assert_false (ar_text_gen_next (gen, out));
  ar_text_gen_finish (gen, out);
  g_assert_true (g_utf8_validate (out->str, out->len, NULL));
  return g_string_free (out, FALSE);
}

static void
test_generation (void)
{
  const char *alphabet = "abcdefghij \n\xc3\xa9\xe2\x82\xac";
  g_autoptr (GBytes) bytes = test_make_rnn_bytes (AR_CELL_GRU, 1, 8, 32, alphabet, 9);
  g_autoptr (GError) error = NULL;
  g_autoptr (ArTextModel) m = ar_text_model_new_from_bytes (bytes, "m.gguf", &error);
  g_assert_no_error (error);

  g_autofree char *a = generate (m, 1, 1.0f, "abc", 200);
  g_autofree char *b = generate (m, 1, 1.0f, "abc", 200);
  g_autofree char *c = generate (m, 2, 1.0f, "abc", 200);
  g_assert_cmpstr (a, ==, b);
  g_assert_cmpstr (a, !=, c);
  g_assert_cmpuint (g_utf8_strlen (a, -1), ==, 200);       /* one character a token */

  /* temperature 0 is the argmax chain, computed here directly on the family */
  g_autofree char *greedy = generate (m, 1, 0.0f, "abc", 50);
  g_autofree char *greedy2 = generate (m, 99, 0.0f, "abc", 50);
  g_assert_cmpstr (greedy, ==, greedy2);
  const ArTextFamily *fam = ar_text_model_get_family (m);
  gconstpointer impl = ar_text_model_get_impl (m);
  const ArVocab *v = ar_text_model_get_vocab (m);
  gpointer state = fam->state_new (impl);
  fam->state_reset (impl, state);
  const float *logits = fam->forward (impl, state, ar_vocab_get_bos (v));
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  ar_vocab_encode (v, "abc", -1, ids);
  for (guint i = 0; i < ids->len; i++)
    logits = fam->forward (impl, state, g_array_index (ids, gint32, i));
  GString *want = g_string_new (NULL);
  for (int i = 0; i < 50; i++) {
    guint tok = ar_argmax (logits, ar_vocab_get_size (v));
    g_string_append (want, ar_vocab_token_bytes (v, tok, NULL));
    logits = fam->forward (impl, state, tok);
  }
  fam->state_free (state);
  g_assert_cmpstr (greedy, ==, want->str);
  g_string_free (want, TRUE);

  /* unknown prompt characters are skipped and counted */
  g_autoptr (ArTextGen) gen = ar_text_gen_new (m);
  ar_text_gen_reset (gen, 0);
  g_assert_cmpuint (ar_text_gen_feed (gen, "aXbY", -1), ==, 2);
}

static void
test_stop_in_generation (void)
{
  g_autoptr (GBytes) bytes = test_make_rnn_bytes (AR_CELL_GRU, 1, 8, 32, "ab\n", 4);
  g_autoptr (ArTextModel) m = ar_text_model_new_from_bytes (bytes, "m.gguf", NULL);
  g_autofree char *free_run = generate (m, 5, 1.0f, NULL, 300);
  const char *hit = strstr (free_run, "ab");
  g_assert_nonnull (hit);       /* 300 random draws over 3 symbols */
  g_autoptr (ArTextGen) gen = ar_text_gen_new (m);
  ar_text_gen_set_stop (gen, "ab");
  ar_text_gen_reset (gen, 5);
  g_autoptr (GString) out = g_string_new (NULL);
  gboolean stopped = FALSE;
  for (int i = 0; i < 300 && !stopped; i++)
    stopped = ar_text_gen_next (gen, out);
  g_assert_true (stopped);
  g_autofree char *expect = g_strndup (free_run, hit - free_run);
  g_assert_cmpstr (out->str, ==, expect);
}

/* Sampling parameters out of range (a NaN or negative temperature, top-p
 * outside [0, 1]) are refused by ar_text_gen_set_sampling (), which keeps
 * the previous ones: they used to be taken, after which every token failed
 * the sampler's check and came out as token 0. */
static void
test_bad_sampling (void)
{
  g_autoptr (GBytes) bytes = test_make_rnn_bytes (AR_CELL_GRU, 1, 8, 32, "abcd\n", 6);
  g_autoptr (ArTextModel) m = ar_text_model_new_from_bytes (bytes, "m.gguf", NULL);
  g_autofree char *want = generate (m, 3, 1.0f, "ab", 100);
  const ArSamplingParams bad[] = {
    { NAN, 0, 1.0f }, { -1.0f, 0, 1.0f }, { 1.0f, 0, NAN }, { 1.0f, 0, 1.5f },
    { 1.0f, 0, -0.5f },
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (ArTextGen) gen = ar_text_gen_new (m);
    g_autoptr (GString) out = g_string_new (NULL);
    g_autoptr (GError) error = NULL;

    g_assert_false (ar_sampling_params_check (&bad[i], &error));
    g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
    g_assert_nonnull (strstr (error->message,
            i < 2 ? "temperature" : "top-p"));
    g_test_expect_message (G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL,
        "*ar_sampling_params_check*");
    ar_text_gen_set_sampling (gen, &bad[i]);
    g_test_assert_expected_messages ();
    /* still the defaults (temperature 1, no limits) */
    ar_text_gen_reset (gen, 3);
    ar_text_gen_feed (gen, "ab", -1);
    for (int k = 0; k < 100; k++)
      g_assert_false (ar_text_gen_next (gen, out));
    ar_text_gen_finish (gen, out);
    g_assert_cmpstr (out->str, ==, want);
  }
}

/* ar_text_data_new_with_vocab () names the first character the vocabulary
 * lacks, as its header says (it only counted them). */
static void
test_data_unknown (void)
{
  g_autoptr (ArVocab) v = ar_vocab_new_chars ("abc\n", 4, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (ArTextData) ok = ar_text_data_new_with_vocab ("cab\n", 4, v, 0.0, NULL);
  g_assert_nonnull (ok);
  g_assert_cmpuint (ok->n, ==, 4);

  ArTextData *d = ar_text_data_new_with_vocab ("ab\xc3\xa9" "cxa", 7, v, 0.0, &error);
  g_assert_null (d);
  g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "2 characters"));
  g_assert_nonnull (strstr (error->message, "\"\xc3\xa9\" (U+00E9) at byte 2"));
  g_clear_error (&error);
  d = ar_text_data_new_with_vocab ("ab\xc3", 3, v, 0.0, &error);
  g_assert_null (d);
  g_assert_nonnull (strstr (error->message, "invalid UTF-8 byte 0xc3 at byte 2"));
  g_clear_error (&error);
  /* a SentencePiece vocabulary cannot be made from a text (it made a
   * character one) */
  d = ar_text_data_new ("abc", 3, AR_VOCAB_SPM, 0.0, &error);
  g_assert_null (d);
  g_assert_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED);
}

/* NULL streams and models are programmer errors: a critical and a neutral
 * return, not a crash (ar_text_gen_new (NULL) dereferenced it). */
static void
test_gen_null (void)
{
  g_autoptr (GString) out = g_string_new (NULL);

  g_test_expect_message (G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*model != NULL*");
  g_assert_null (ar_text_gen_new (NULL));
  g_test_assert_expected_messages ();
  g_test_expect_message (G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*gen != NULL*");
  ar_text_gen_reset (NULL, 1);
  g_test_assert_expected_messages ();
  g_test_expect_message (G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*gen != NULL*");
  g_assert_cmpuint (ar_text_gen_feed (NULL, "a", -1), ==, 0);
  g_test_assert_expected_messages ();
  g_test_expect_message (G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*gen != NULL*");
  g_assert_true (ar_text_gen_next (NULL, out));
  g_test_assert_expected_messages ();
  g_assert_cmpuint (out->len, ==, 0);
  g_test_expect_message (G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*m != NULL*");
  g_assert_null (ar_text_model_get_vocab (NULL));
  g_test_assert_expected_messages ();
  g_test_expect_message (G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*v != NULL*");
  g_assert_cmpuint (ar_vocab_get_size (NULL), ==, 0);
  g_test_assert_expected_messages ();
}

/* Once ar_text_gen_next () has returned TRUE (EOS, stop string) it keeps
 * returning TRUE without sampling, until a reset: in sampling mode it used
 * to sample again from the logits that gave EOS and continue past it. */
static void
test_ended_stays_ended (void)
{
  g_autoptr (GBytes) rnn = test_make_rnn_bytes (AR_CELL_GRU, 1, 8, 32, "ab\n", 4);
  g_autoptr (ArGguf) src = ar_gguf_new_from_bytes (rnn, "m.gguf", NULL);
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();

  /* the same model with "b" (id 2) as EOS */
  ar_gguf_writer_copy_kv (w, src);
  ar_gguf_writer_set_u32 (w, "tokenizer.ggml.eos_token_id", 2);
  for (guint i = 0; i < ar_gguf_get_n_tensors (src); i++) {
    const ArGgufTensor *t = ar_gguf_get_tensor (src, i);
    ar_gguf_writer_add_tensor_raw (w, t->name, t->type, t->n_dims, t->ne,
        t->data, t->nbytes);
  }
  g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
  g_autoptr (ArTextModel) m = test_text_model_from_bytes (bytes);

  for (int with_stop = 0; with_stop < 2; with_stop++) {
    g_autoptr (ArTextGen) gen = ar_text_gen_new (m);
    g_autoptr (GString) out = g_string_new (NULL);
    int i;

    if (with_stop)
      ar_text_gen_set_stop (gen, "aa");
    ar_text_gen_reset (gen, 5);
    for (i = 0; i < 300 && !ar_text_gen_next (gen, out); i++) ;
    g_assert_cmpint (i, <, 300);
    guint64 n = ar_text_gen_get_n_tokens (gen);
    guint last = ar_text_gen_last_token (gen);
    g_autofree char *before = g_strdup (out->str);
    g_assert_true (with_stop || last == 2);
    for (int k = 0; k < 50; k++)
      g_assert_true (ar_text_gen_next (gen, out));
    g_assert_cmpstr (out->str, ==, before);
    g_assert_cmpuint (ar_text_gen_get_n_tokens (gen), ==, n);
    g_assert_cmpuint (ar_text_gen_last_token (gen), ==, last);
    /* a reset starts again */
    ar_text_gen_reset (gen, 5);
    g_string_truncate (out, 0);
    for (i = 0; i < 300 && !ar_text_gen_next (gen, out); i++) ;
    g_assert_cmpstr (out->str, ==, before);
  }
}

/* The continuation of @gen (reset and prompted by the caller) as a
 * string: @n tokens, then the held-back rest. */
static char *
continue_stream (ArTextGen *gen, int n)
{
  GString *out = g_string_new (NULL);

  for (int i = 0; i < n && !ar_text_gen_next (gen, out); i++)
    ;
  ar_text_gen_finish (gen, out);
  return g_string_free (out, FALSE);
}

/* A prompt queued and fed a few tokens at a time (what the elements do, so
 * that a flush can stop a long one) gives the stream ar_text_gen_feed ()
 * gives, bit for bit for an RNN; ar_text_gen_next () feeds what is left;
 * ar_text_gen_reset () drops it. */
static void
test_feed_in_steps (void)
{
  const char *alphabet = "abcdefghij \n\xc3\xa9";
  g_autoptr (GBytes) bytes =
      test_make_rnn_bytes (AR_CELL_GRU, 1, 8, 32, alphabet, 9);
  g_autoptr (ArTextModel) m = test_text_model_from_bytes (bytes);
  g_autoptr (GString) prompt = g_string_new (NULL);
  g_autoptr (ArTextGen) whole = ar_text_gen_new (m);
  g_autoptr (ArTextGen) steps = ar_text_gen_new (m);
  g_autoptr (ArTextGen) none = ar_text_gen_new (m);
  /* greedy: the random model's distributions are nearly flat, so that
   * sampled streams of one seed hardly depend on the prompt, while the
   * argmax does */
  ArSamplingParams greedy = { 0.0f, 0, 1.0f };

  ar_text_gen_set_sampling (whole, &greedy);
  ar_text_gen_set_sampling (steps, &greedy);
  ar_text_gen_set_sampling (none, &greedy);

  /* 1000 characters, 2 of them not in the vocabulary */
  for (int i = 0; i < 100; i++)
    g_string_append (prompt,
        i == 50 ? "ab\xc3\xa9 XYfghi" : "abc\xc3\xa9 fghij");
  g_assert_cmpuint (g_utf8_strlen (prompt->str, -1), ==, 1000);

  ar_text_gen_reset (whole, 3);
  g_assert_cmpuint (ar_text_gen_feed (whole, prompt->str, -1), ==, 2);
  g_assert_cmpuint (ar_text_gen_get_n_queued (whole), ==, 0);
  g_autofree char *want = continue_stream (whole, 100);

  /* in steps of 7 tokens: 998 / 7 = 142 full ones and one of 4 */
  ar_text_gen_reset (steps, 3);
  g_assert_cmpuint (ar_text_gen_queue (steps, prompt->str, -1), ==, 2);
  g_assert_cmpuint (ar_text_gen_get_n_queued (steps), ==, 998);
  g_assert_cmpuint (ar_text_gen_feed_queued (steps, 0), ==, 998);
  guint left = 998, n_steps = 0;
  while (left > 0) {
    guint rest = ar_text_gen_feed_queued (steps, 7);
    g_assert_cmpuint (rest, ==, left - MIN (left, 7));
    g_assert_cmpuint (ar_text_gen_get_n_queued (steps), ==, rest);
    left = rest;
    n_steps++;
  }
  g_assert_cmpuint (n_steps, ==, 143);
  g_autofree char *got = continue_stream (steps, 100);
  g_assert_cmpstr (got, ==, want);

  /* half fed, then ar_text_gen_next () reads the rest first */
  ar_text_gen_reset (steps, 3);
  ar_text_gen_queue (steps, prompt->str, 600);
  ar_text_gen_feed_queued (steps, 100);
  ar_text_gen_queue (steps, prompt->str + 600, -1);
  g_assert_cmpuint (ar_text_gen_get_n_queued (steps), ==, 898);
  g_autofree char *rest = continue_stream (steps, 100);
  g_assert_cmpuint (ar_text_gen_get_n_queued (steps), ==, 0);
  g_assert_cmpstr (rest, ==, want);

  /* a reset drops what is queued: the stream is that of no prompt */
  ar_text_gen_reset (none, 3);
  g_autofree char *bare = continue_stream (none, 100);
  g_assert_cmpstr (bare, !=, want);
  ar_text_gen_reset (steps, 3);
  ar_text_gen_queue (steps, prompt->str, -1);
  ar_text_gen_feed_queued (steps, 10);
  ar_text_gen_reset (steps, 3);
  g_assert_cmpuint (ar_text_gen_get_n_queued (steps), ==, 0);
  g_autofree char *dropped = continue_stream (steps, 100);
  g_assert_cmpstr (dropped, ==, bare);
}

/* ar_vocab_equal: the same tokens in the same order, BOS and EOS. */
static void
test_vocab_equal (void)
{
  g_autoptr (ArVocab) a = ar_vocab_new_chars ("abc\n", 4, NULL);
  g_autoptr (ArVocab) b = ar_vocab_new_chars ("cba\nab", 6, NULL);
  g_autoptr (ArVocab) c = ar_vocab_new_chars ("abd\n", 4, NULL);
  g_autoptr (ArVocab) d = ar_vocab_new_chars ("abc", 3, NULL);
  g_autoptr (ArVocab) bytes = ar_vocab_new_bytes ();
  g_autoptr (ArVocab) bytes2 = ar_vocab_new_bytes ();

  g_assert_true (ar_vocab_equal (a, b));
  g_assert_true (ar_vocab_equal (bytes, bytes2));
  g_assert_false (ar_vocab_equal (a, c)); /* one token differs */
  g_assert_false (ar_vocab_equal (a, d)); /* no newline: size and BOS */
  g_assert_false (ar_vocab_equal (a, bytes));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/text/bad-sampling", test_bad_sampling);
  g_test_add_func ("/text/data-unknown", test_data_unknown);
  g_test_add_func ("/text/gen-null", test_gen_null);
  g_test_add_func ("/text/ended-stays-ended", test_ended_stays_ended);
  g_test_add_func ("/text/filter/utf8", test_filter_utf8);
  g_test_add_func ("/text/filter/stop", test_filter_stop);
  g_test_add_func ("/text/vocab", test_vocab);
  g_test_add_func ("/text/vocab-equal", test_vocab_equal);
  g_test_add_func ("/text/generation", test_generation);
  g_test_add_func ("/text/stop-in-generation", test_stop_in_generation);
  g_test_add_func ("/text/feed-in-steps", test_feed_in_steps);
  return g_test_run ();
}
