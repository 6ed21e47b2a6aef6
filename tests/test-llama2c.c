/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-llama2c.c — llama2.c interoperability on the stories260K checkpoint
 * (../shared/data/stories260K, found through $AR_SHARED_DATA; the tests are
 * skipped only when that directory is absent).
 *
 * - The public test vector: converted, run greedily with an empty prompt for
 *   200 tokens, the model prints exactly expected_t0_n200_empty_prompt.txt
 *   (llama2.c's own test), through the same ArTextGen the elements use.
 * - Encoding equals llama2.c's for prompts that exercise merges, repeated
 *   spaces, characters missing from the vocabulary (byte fallback) and
 *   multi-byte UTF-8.  The expected ids were produced by an independent
 *   re-implementation of llama2.c's encode() over tok512.bin, and the first
 *   one checked by hand: " Once" " upon" " a" " time" are ids 403 407 261
 *   378 and are also what the model generates first, which the next test
 *   uses.
 * - The encoder's heap-ordered merges give exactly the ids of llama2.c's
 *   literal rescan (ar_vocab_encode_naive), on random texts over
 *   vocabularies where scores decide and where only positions do (all
 *   merges scoring the same), and over tok512.bin.
 * - A prompt continues exactly like the tokens it encodes to.
 * - EOS ends generation; F16, Q8_0 and Q4_0 conversions stay close to F32.
 * - Malformed checkpoints and tokenizers give errors naming the file and
 *   the expected versus found sizes. */
#include <math.h>
#include <string.h>
#include <glib/gstdio.h>

#include "core/ar-gguf.h"
#include "text/ar-text.h"
#include "text/ar-text-private.h"
#include "transformer/ar-llama2c.h"
#include "transformer/ar-transformer.h"

#include "test-llama2c-util.h"

static char *model_path, *tokenizer_path, *expected_path;

static gboolean
have_data (void)
{
  if (model_path == NULL) {
    g_test_skip ("AR_SHARED_DATA/stories260K is absent");
    return FALSE;
  }
  return TRUE;
}

static GBytes *
convert (ArTensorType type)
{
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  GError *error = NULL;
  g_assert_true (ar_llama2c_convert (model_path, tokenizer_path, type, w,
      &error));
  g_assert_no_error (error);
  return ar_gguf_writer_to_bytes (w);
}

static ArTextModel *
load (ArTensorType type)
{
  g_autoptr (GBytes) bytes = convert (type);
  GError *error = NULL;
  ArTextModel *m =
      ar_text_model_new_from_bytes (bytes, "stories260K.gguf", &error);
  g_assert_no_error (error);
  return m;
}

/* @n greedy tokens after @prompt (NULL: none), as text; the ids into @ids
 * when not NULL. */
static char *
generate (ArTextModel *m, const char *prompt, guint n, GArray *ids)
{
  g_autoptr (ArTextGen) gen = ar_text_gen_new (m);
  ArSamplingParams greedy = { 0.0f, 0, 1.0f };
  GString *out = g_string_new (NULL);

  ar_text_gen_set_sampling (gen, &greedy);
  ar_text_gen_reset (gen, 0);
  if (prompt)
    g_assert_cmpuint (ar_text_gen_feed (gen, prompt, -1), ==, 0);
  for (guint i = 0; i < n; i++) {
    g_assert_false (ar_text_gen_next (gen, out));
    if (ids) {
      gint32 id = ar_text_gen_last_token (gen);
      g_array_append_val (ids, id);
    }
  }
  ar_text_gen_finish (gen, out);
  return g_string_free (out, FALSE);
}

static void
test_vector (void)
{
  if (!have_data ())
    return;
  g_autoptr (ArTextModel) m = load (AR_TENSOR_F32);
  g_autofree char *expected = NULL;
  gsize expected_len;
  g_assert_true (g_file_get_contents (expected_path, &expected, &expected_len,
      NULL));
  g_assert_cmpstr (ar_text_model_get_architecture (m), ==, "llama");
  g_autofree char *out = generate (m, NULL, 200, NULL);
  g_assert_cmpstr (out, ==, expected);
}

/* llama2.c's encodings (without its BOS, which streams feed on reset) */
static const struct
{
  const char *text;
  gint32 ids[24];
} encodings[] = {
  { "Once upon a time", { 403, 407, 261, 378, -1 } },
  { "Hello, world! It's a sunny day.",
      { 346, 306, 414, 432, 263, 304, 341, 443, 359, 413, 439, 419, 261, 262,
          379, 416, 422, 328, 426, -1 } },
  { "Lily's mom said: \"no\"",
      { 317, 439, 419, 357, 336, 467, 313, 416, 414, 436, -1 } },
  /* é is a token; ✓ and 日本 are not: their UTF-8 bytes + 3 */
  { "h\xc3\xa9llo \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac",
      { 270, 485, 306, 414, 410, 229, 159, 150, 410, 233, 154, 168, 233, 159,
          175, -1 } },
  { "  two  spaces",
      { 410, 410, 259, 424, 414, 410, 262, 427, 412, 331, 419, -1 } },
  { "a", { 261, -1 } },
  { "", { -1 } },
};

static void
test_encode (void)
{
  if (!have_data ())
    return;
  g_autoptr (ArTextModel) m = load (AR_TENSOR_F32);
  const ArVocab *v = ar_text_model_get_vocab (m);

  g_assert_cmpint (ar_vocab_get_type (v), ==, AR_VOCAB_SPM);
  g_assert_cmpint (ar_vocab_get_bos (v), ==, 1);
  g_assert_cmpint (ar_vocab_get_eos (v), ==, 2);
  g_assert_cmpstr (ar_vocab_token_piece (v, 403), ==, "\xe2\x96\x81Once");
  g_assert_cmpstr (ar_vocab_token_piece (v, 1), ==, "<s>");
  g_assert_cmpstr (ar_vocab_token_piece (v, 13), ==, "<0x0A>");
  for (guint p = 0; p < G_N_ELEMENTS (encodings); p++) {
    g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
    const char *text = encodings[p].text;
    guint n = 0;
    while (encodings[p].ids[n] >= 0)
      n++;
    g_assert_cmpuint (ar_vocab_encode (v, text, -1, ids), ==, 0);
    g_assert_cmpmem (ids->data, ids->len * sizeof (gint32), encodings[p].ids,
        n * sizeof (gint32));
    /* decoding after BOS gives the text back: the dummy prefix is dropped */
    g_autoptr (GString) back = g_string_new (NULL);
    gint prev = ar_vocab_get_bos (v);
    for (guint i = 0; i < ids->len; i++) {
      gsize len;
      gint32 id = g_array_index (ids, gint32, i);
      const char *bytes = ar_vocab_decode (v, prev, id, &len);
      g_string_append_len (back, bytes, len);
      prev = id;
    }
    g_assert_cmpstr (back->str, ==, text);
  }
}

/* The empty-prompt output starts with the tokens "Once upon a time"
 * encodes to, so with that prompt the stream must continue with exactly
 * the rest of the test vector (this goes through the prompt path,
 * ar_transformer_forward_prompt). */
static void
test_prompt_continues (void)
{
  if (!have_data ())
    return;
  g_autoptr (ArTextModel) m = load (AR_TENSOR_F32);
  g_autoptr (GArray) first = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_autofree char *all = generate (m, NULL, 200, first);
  g_assert_cmpint (g_array_index (first, gint32, 0), ==, 403);
  g_assert_cmpint (g_array_index (first, gint32, 3), ==, 378);
  g_assert_true (g_str_has_prefix (all, "Once upon a time"));
  g_autofree char *rest = generate (m, "Once upon a time", 196, NULL);
  g_assert_cmpstr (rest, ==, all + strlen ("Once upon a time"));
}

/* A copy of @src with tokenizer.ggml.eos_token_id set to @eos. */
static GBytes *
with_eos (GBytes *src, guint32 eos)
{
  g_autoptr (ArGguf) g = ar_gguf_new_from_bytes (src, "src", NULL);
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  ar_gguf_writer_copy_kv (w, g);
  ar_gguf_writer_set_u32 (w, "tokenizer.ggml.eos_token_id", eos);
  for (guint i = 0; i < ar_gguf_get_n_tensors (g); i++) {
    const ArGgufTensor *t = ar_gguf_get_tensor (g, i);
    ar_gguf_writer_add_tensor_raw (w, t->name, t->type, t->n_dims, t->ne,
        t->data, t->nbytes);
  }
  return ar_gguf_writer_to_bytes (w);
}

/* With " upon" (407, the second greedy token) declared EOS, generation
 * ends exactly there: "Once", then TRUE with nothing more. */
static void
test_eos (void)
{
  if (!have_data ())
    return;
  g_autoptr (GBytes) f32 = convert (AR_TENSOR_F32);
  g_autoptr (GBytes) bytes = with_eos (f32, 407);
  GError *error = NULL;
  g_autoptr (ArTextModel) m =
      ar_text_model_new_from_bytes (bytes, "eos", &error);
  g_assert_no_error (error);
  g_autoptr (ArTextGen) gen = ar_text_gen_new (m);
  ArSamplingParams greedy = { 0.0f, 0, 1.0f };
  g_autoptr (GString) out = g_string_new (NULL);
  ar_text_gen_set_sampling (gen, &greedy);
  ar_text_gen_reset (gen, 0);
  g_assert_false (ar_text_gen_next (gen, out));
  g_assert_true (ar_text_gen_next (gen, out));
  g_assert_cmpuint (ar_text_gen_last_token (gen), ==, 407);
  ar_text_gen_finish (gen, out);
  g_assert_cmpstr (out->str, ==, "Once");
}

/* F16, Q8_0 and Q4_0 conversions: the first logits stay within 1 %, 5 %
 * and 35 % of the F32 logits' scale (measured 0.04 %, 1.3 % and 17 %: 16
 * levels a weight cost this 64-wide model more than a large one); the
 * quantised types fall back to F16 for ffn_down, whose rows of 172 values
 * are not whole blocks. */
static void
test_storage_types (void)
{
  if (!have_data ())
    return;
  const ArTensorType types[] = { AR_TENSOR_F32, AR_TENSOR_F16, AR_TENSOR_Q8_0,
    AR_TENSOR_Q4_0 };
  float *logits[4];
  for (guint k = 0; k < 4; k++) {
    g_autoptr (GBytes) bytes = convert (types[k]);
    g_autoptr (ArGguf) g = ar_gguf_new_from_bytes (bytes, "s.gguf", NULL);
    GError *error = NULL;
    g_autoptr (ArTransformer) t = ar_transformer_new_from_gguf (g, &error);
    g_assert_no_error (error);
    g_assert_cmpint (ar_gguf_find_tensor (g, "blk.0.attn_q.weight")->type, ==,
        types[k]);
    g_assert_cmpint (ar_gguf_find_tensor (g, "blk.4.ffn_down.weight")->type, ==,
        types[k] == AR_TENSOR_Q8_0 || types[k] == AR_TENSOR_Q4_0 ? AR_TENSOR_F16
                                                                 : types[k]);
    g_assert_cmpint (ar_gguf_find_tensor (g, "blk.0.attn_norm.weight")->type,
        ==, AR_TENSOR_F32);
    g_autoptr (ArTransformerState) s = ar_transformer_state_new (t);
    gint32 prompt[] = { 1, 403, 407, 261, 378 };
    logits[k] = g_memdup2 (ar_transformer_forward_prompt (t, s, prompt, 5),
        512 * sizeof (float));
  }
  float scale = 1, d16 = 0, d8 = 0, d4 = 0;
  for (guint i = 0; i < 512; i++) {
    scale = MAX (scale, fabsf (logits[0][i]));
    d16 = MAX (d16, fabsf (logits[1][i] - logits[0][i]));
    d8 = MAX (d8, fabsf (logits[2][i] - logits[0][i]));
    d4 = MAX (d4, fabsf (logits[3][i] - logits[0][i]));
  }
  g_test_message ("largest difference from F32 / scale: F16 %.2g, Q8_0 %.2g, "
                  "Q4_0 %.2g",
      d16 / scale, d8 / scale, d4 / scale);
  g_assert_cmpfloat (d16, <=, 0.01f * scale);
  g_assert_cmpfloat (d8, <=, 0.05f * scale);
  g_assert_cmpfloat (d8, >, 0);
  g_assert_cmpfloat (d4, <=, 0.35f * scale);
  g_assert_cmpfloat (d4, >, d8);
  for (guint k = 0; k < 4; k++)
    g_free (logits[k]);
}

/* ---- a hand-made SentencePiece vocabulary (no shared data needed) ----- */

static const char *const spm_pieces[] = {
  "<unk>",
  "<s>",
  "</s>",
  "<0x41>",
  "\xe2\x96\x81",
  "a",
  "b",
  "ab",
  "\xe2\x96\x81"
  "a",
  "\xe2\x96\x81"
  "ab",
  "ba",
};
static const float spm_scores[] = { 0, 0, 0, 0, -1, -2, -3, -4, -5, -1, -0.5f };

/* A vocabulary GGUF of the @n @pieces with @n_scores @scores; @types may be
 * NULL (then inferred). */
static ArVocab *
spm_vocab_of (const char *const *pieces, gsize n, const float *scores,
    gsize n_scores, const gint32 *types, GError **error)
{
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  ar_gguf_writer_set_string (w, "tokenizer.ggml.model", "llama");
  ar_gguf_writer_set_string_array (w, "tokenizer.ggml.tokens", pieces, NULL,
      n);
  ar_gguf_writer_set_f32_array (w, "tokenizer.ggml.scores", scores, n_scores);
  if (types)
    ar_gguf_writer_set_i32_array (w, "tokenizer.ggml.token_type", types, n);
  g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
  g_autoptr (ArGguf) g = ar_gguf_new_from_bytes (bytes, "spm.gguf", NULL);
  return ar_vocab_new_from_gguf (g, error);
}

/* A vocabulary GGUF of spm_pieces; @types may be NULL (then inferred), and
 * @n_scores lets a test give the wrong number of scores. */
static ArVocab *
spm_vocab (const gint32 *types, gsize n_scores, GError **error)
{
  return spm_vocab_of (spm_pieces, G_N_ELEMENTS (spm_pieces), spm_scores,
      n_scores, types, error);
}

/* encodes @text, expects @n ids and @unknown skipped bytes, and that the
 * ids decode after BOS to @text minus the skipped bytes (@back) */
static void
check_spm (const ArVocab *v, const char *text, const gint32 *expect, guint n,
    guint unknown, const char *back)
{
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_assert_cmpuint (ar_vocab_encode (v, text, -1, ids), ==, unknown);
  g_assert_cmpmem (ids->data, ids->len * sizeof (gint32), expect,
      n * sizeof (gint32));
  g_autoptr (GString) out = g_string_new (NULL);
  gint prev = ar_vocab_get_bos (v);
  for (guint i = 0; i < ids->len; i++) {
    gsize len;
    gint32 id = g_array_index (ids, gint32, i);
    const char *b = ar_vocab_decode (v, prev, id, &len);
    g_string_append_len (out, b, len);
    prev = id;
  }
  g_assert_cmpstr (out->str, ==, back);
}

/* Worked by hand from the algorithm in ar-text.h:
 *   "ab a": ▁ a b ▁ a → merge "ab" (-4, the best of ▁a -5, ab -4) → ▁ ab ▁ a
 *           → "▁ab" (-1) → ▁ab ▁ a → "▁a" (-5) → ▁ab ▁a, nothing more;
 *   "bab":  ▁ b a b → "ba" (-0.5) beats "ab" (-4) → ▁ ba b, nothing more;
 *   "Ab":   A is not a normal token: its byte token <0x41>, which never
 *           merges → ▁ <0x41> b;
 *   "é":    neither the character nor its bytes are tokens → ▁, 2 unknown. */
static void
test_spm_vocab (void)
{
  GError *error = NULL;
  g_autoptr (ArVocab) v = spm_vocab (NULL, G_N_ELEMENTS (spm_scores), &error);
  g_assert_no_error (error);
  g_assert_cmpint (ar_vocab_get_type (v), ==, AR_VOCAB_SPM);
  g_assert_cmpint (ar_vocab_get_bos (v), ==, 1);
  g_assert_cmpint (ar_vocab_get_eos (v), ==, 2);
  g_assert_cmpfloat (ar_vocab_token_score (v, 10), ==, -0.5f);
  gsize len;
  g_assert_cmpstr (ar_vocab_token_bytes (v, 3, &len), ==, "A");
  g_assert_cmpstr (ar_vocab_token_bytes (v, 9, &len), ==, " ab");
  g_assert_cmpuint (len, ==, 3);
  g_assert_cmpstr (ar_vocab_token_bytes (v, 1, &len), ==, "");
  /* the leading space goes only right after BOS */
  g_assert_cmpstr (ar_vocab_decode (v, 1, 9, &len), ==, "ab");
  g_assert_cmpstr (ar_vocab_decode (v, 5, 9, &len), ==, " ab");

  check_spm (v, "ab a", (const gint32[]){ 9, 8 }, 2, 0, "ab a");
  check_spm (v, "bab", (const gint32[]){ 4, 10, 6 }, 3, 0, "bab");
  check_spm (v, "Ab", (const gint32[]){ 4, 3, 6 }, 3, 0, "Ab");
  check_spm (v, "\xc3\xa9", (const gint32[]){ 4 }, 1, 2, "");
  check_spm (v, "", NULL, 0, 0, "");

  /* written back and read again: the same pieces, scores and types */
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  ar_vocab_write_gguf (v, w);
  g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
  g_autoptr (ArGguf) g = ar_gguf_new_from_bytes (bytes, "again.gguf", NULL);
  g_autoptr (ArVocab) again = ar_vocab_new_from_gguf (g, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < G_N_ELEMENTS (spm_pieces); i++) {
    g_assert_cmpstr (ar_vocab_token_piece (again, i), ==, spm_pieces[i]);
    g_assert_cmpfloat (ar_vocab_token_score (again, i), ==, spm_scores[i]);
  }
  check_spm (again, "ab a", (const gint32[]){ 9, 8 }, 2, 0, "ab a");

  /* errors: a score per token, type 6 only for <0xNN> pieces */
  g_assert_null (spm_vocab (NULL, 5, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  g_assert_nonnull (strstr (error->message, "tokenizer.ggml.scores"));
  g_clear_error (&error);
  gint32 types[G_N_ELEMENTS (spm_pieces)];
  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    types[i] = 1;
  types[7] = 6; /* "ab" as a byte */
  g_assert_null (spm_vocab (types, G_N_ELEMENTS (spm_scores), &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  g_assert_nonnull (strstr (error->message, "token 7 has type 6"));
  g_clear_error (&error);
  /* declared types win over the inferred ones: with "▁ab" unused, "ab a"
   * stops at ▁ ab ▁a */
  types[7] = 1;
  types[9] = 5;
  types[0] = 2;
  types[1] = types[2] = 3;
  types[3] = 6;
  g_autoptr (ArVocab) typed =
      spm_vocab (types, G_N_ELEMENTS (spm_scores), &error);
  g_assert_no_error (error);
  check_spm (typed, "ab a", (const gint32[]){ 4, 7, 8 }, 3, 0, "ab a");
}

/* ---- the heap-ordered merges against the literal rescan ---------------- */

/* Encodes @text both ways: the same ids, the same bytes without a token. */
static void
check_merges (const ArVocab *v, const char *text, gsize len)
{
  g_autoptr (GArray) fast = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_autoptr (GArray) naive = g_array_new (FALSE, FALSE, sizeof (gint32));
  gint32 keep = 77;

  /* both append after what the array holds */
  g_array_append_val (fast, keep);
  g_array_append_val (naive, keep);
  g_assert_cmpuint (ar_vocab_encode (v, text, len, fast), ==,
      ar_vocab_encode_naive (v, text, len, naive));
  g_assert_cmpmem (fast->data, fast->len * sizeof (gint32), naive->data,
      naive->len * sizeof (gint32));
}

/* @n random texts of up to @max_parts parts, each one of the @n_parts
 * @parts, through check_merges (). */
static void
check_random_merges (const ArVocab *v, const char *const *parts,
    guint n_parts, guint n, guint max_parts, guint32 seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  g_autoptr (GString) text = g_string_new (NULL);

  for (guint i = 0; i < n; i++) {
    guint k = g_rand_int_range (rand, 0, max_parts + 1);

    g_string_truncate (text, 0);
    for (guint j = 0; j < k; j++)
      g_string_append (text, parts[g_rand_int_range (rand, 0, n_parts)]);
    check_merges (v, text->str, text->len);
  }
}

/* Every merge scores the same: which pair merges first is decided by its
 * position alone. */
static const char *const tie_pieces[] = {
  "<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b", "aa", "ab", "ba", "bb",
  "aaa", "\xe2\x96\x81" "a", "\xe2\x96\x81" "b", "aab", "bba", "abab",
  "<0x41>",
};
static const float tie_scores[] = {
  0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0,
};

static void
test_encode_merges (void)
{
  static const char *const parts[] = { "a", "b", " ", "A", "\xc3\xa9", "ab",
    "ba", "  " };
  GError *error = NULL;
  g_autoptr (ArVocab) scored = spm_vocab (NULL, G_N_ELEMENTS (spm_scores),
      &error);
  g_assert_no_error (error);
  g_autoptr (ArVocab) tied = spm_vocab_of (tie_pieces,
      G_N_ELEMENTS (tie_pieces), tie_scores, G_N_ELEMENTS (tie_scores), NULL,
      &error);
  g_assert_no_error (error);

  /* ties by position, worked by hand:
   *   "aaaa": ▁ a a a a → ▁a a a a (the leftmost of ▁a aa aa aa) → ▁a aa a
   *           (the leftmost aa) → ▁a aaa, and " aaaa" is no token;
   *   "abab": ▁ a b a b → ▁a b a b → ▁a ba b (ba left of ab), and neither
   *           " aba" nor "bab" is a token — abab is never reached */
  check_spm (tied, "aaaa", (const gint32[]){ 11, 10 }, 2, 0, "aaaa");
  check_spm (tied, "abab", (const gint32[]){ 11, 8, 5 }, 3, 0, "abab");

  check_random_merges (scored, parts, G_N_ELEMENTS (parts), 3000, 40, 1);
  check_random_merges (tied, parts, G_N_ELEMENTS (parts), 3000, 40, 2);
  /* long texts, where merges far apart interleave */
  check_random_merges (tied, parts, G_N_ELEMENTS (parts), 20, 2000, 3);

  if (!have_data ())
    return;
  g_autoptr (ArTextModel) m = load (AR_TENSOR_F32);
  static const char *const words[] = { "Once", " upon", " a", " time", " the",
    " little", " girl", " named", " Lily", ",", ".", "\n", " ", "  ", "\xc3\xa9",
    " played", "x", "q", "z", " dog", "Tim", " sun", " happy" };
  check_random_merges (ar_text_model_get_vocab (m), words,
      G_N_ELEMENTS (words), 300, 60, 4);
  check_random_merges (ar_text_model_get_vocab (m), words,
      G_N_ELEMENTS (words), 4, 1500, 5);
}

/* ---- malformed inputs ------------------------------------------------- */

static char *tmpdir;

/* Writes @len bytes of @data (then @extra zero bytes) to a file in tmpdir. */
static char *
write_tmp (const char *name, const void *data, gsize len, gsize extra)
{
  char *path = g_build_filename (tmpdir, name, NULL);
  g_autofree guint8 *buf = g_malloc0 (len + extra);
  memcpy (buf, data, len);
  g_assert_true (g_file_set_contents (path, (const char *) buf, len + extra,
      NULL));
  return path;
}

static void
expect_convert_error (const char *model, const char *tok, const char *expect1,
    const char *expect2)
{
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  GError *error = NULL;
  g_assert_false (ar_llama2c_convert (model, tok, AR_TENSOR_F32, w, &error));
  g_assert_nonnull (error);
  if (strstr (error->message, expect1) == NULL ||
      (expect2 && strstr (error->message, expect2) == NULL))
    g_error ("\"%s\" lacks \"%s\" / \"%s\"", error->message, expect1,
        expect2 ? expect2 : "");
  g_error_free (error);
}

static void
test_errors (void)
{
  if (!have_data ())
    return;
  g_autofree char *m = NULL, *t = NULL;
  gsize ml, tl;
  g_assert_true (g_file_get_contents (model_path, &m, &ml, NULL));
  g_assert_true (g_file_get_contents (tokenizer_path, &t, &tl, NULL));
  tmpdir = g_dir_make_tmp ("test-llama2c-XXXXXX", NULL);
  g_assert_nonnull (tmpdir);

  g_autofree char *short_model = write_tmp ("short.bin", m, ml - 4, 0);
  expect_convert_error (short_model, tokenizer_path, "short.bin",
      "needs 1056540 bytes but the file has 1056536");
  g_autofree char *long_model = write_tmp ("long.bin", m, ml, 4);
  expect_convert_error (long_model, tokenizer_path, "long.bin",
      "the file has 1056544");
  g_autofree char *tiny = write_tmp ("tiny.bin", m, 10, 0);
  expect_convert_error (tiny, tokenizer_path, "tiny.bin", "28-byte header");
  /* dim 64 with 3 heads */
  g_autofree char *bad_heads_data = g_memdup2 (m, ml);
  ((gint32 *) bad_heads_data)[3] = 3;
  g_autofree char *bad_heads = write_tmp ("heads.bin", bad_heads_data, ml, 0);
  expect_convert_error (bad_heads, tokenizer_path, "heads.bin",
      "3 attention heads");
  ((gint32 *) bad_heads_data)[3] = 8;
  ((gint32 *) bad_heads_data)[0] = 0;
  g_autofree char *zero = write_tmp ("zero.bin", bad_heads_data, ml, 0);
  expect_convert_error (zero, tokenizer_path, "zero.bin", "field 0 is 0");

  g_autofree char *short_tok = write_tmp ("short-tok.bin", t, tl - 1, 0);
  expect_convert_error (model_path, short_tok, "short-tok.bin", "token 511");
  g_autofree char *long_tok = write_tmp ("long-tok.bin", t, tl, 3);
  expect_convert_error (model_path, long_tok, "long-tok.bin",
      "3 bytes after the 512 tokens");
  g_autofree char *missing = g_build_filename (tmpdir, "missing.bin", NULL);
  expect_convert_error (missing, tokenizer_path, "missing.bin", NULL);

  const char *files[] = { short_model, long_model, tiny, bad_heads, zero,
    short_tok, long_tok };
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    g_unlink (files[i]);
  g_rmdir (tmpdir);
  g_clear_pointer (&tmpdir, g_free);
}

/* ---- tiny checkpoints, written here ------------------------------------ */

/* The header of a tiny checkpoint: dim 8, hidden_dim 16, 1 layer, 2 heads
 * sharing 1 key/value head (head size 4), vocabulary 6 (negative: a
 * separate classifier), seq_len 4. */
static const gint32 tiny_header[7] = { 8, 16, 1, 2, 1, 6, 4 };

/* A llama2.c checkpoint for @h, its floats small pseudo-random numbers. */
static GBytes *
tiny_model (const gint32 *h)
{
  return llama2c_checkpoint (h, 1, 0.5f);
}

/* Its tokenizer of @n tokens (3 to 6): the three special ones, a byte, two
 * pieces. */
static GBytes *
tiny_tokenizer (guint n)
{
  static const char *const pieces[] = { "<unk>", "\n<s>\n", "\n</s>\n",
    "<0x0A>", " a", "b" };

  g_assert_cmpuint (n, <=, G_N_ELEMENTS (pieces));
  return llama2c_tokenizer (pieces, n);
}

/* Converts @model and @tok; NULL with @error set on failure. */
static GBytes *
convert_bytes (GBytes *model, GBytes *tok, ArTensorType type, GError **error)
{
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  if (!ar_llama2c_convert_bytes (model, "tiny.bin", tok, "tiny-tok.bin", type,
          w, error))
    return NULL;
  return ar_gguf_writer_to_bytes (w);
}

/* A tiny checkpoint converts from memory, at any alignment, and the
 * result loads and generates. */
static void
test_tiny (void)
{
  g_autoptr (GBytes) model = tiny_model (tiny_header);
  g_autoptr (GBytes) tok = tiny_tokenizer (6);
  GError *error = NULL;
  g_autoptr (GBytes) gguf = convert_bytes (model, tok, AR_TENSOR_F32, &error);
  g_assert_no_error (error);
  g_autoptr (ArTextModel) m =
      ar_text_model_new_from_bytes (gguf, "tiny.gguf", &error);
  g_assert_no_error (error);
  g_autoptr (ArTextGen) gen = ar_text_gen_new (m);
  g_autoptr (GString) out = g_string_new (NULL);
  ar_text_gen_reset (gen, 1);
  ar_text_gen_next (gen, out);
  g_assert_cmpuint (ar_vocab_get_size (ar_text_model_get_vocab (m)), ==, 6);
  /* no piece for " ", "é" or its bytes: no id at all, 2 bytes unknown (the
   * merge loop took &ids[0] of the still empty array, a null pointer plus
   * zero; clang's UBSan reported it, found by fuzz-llama2c) */
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  const ArVocab *v = ar_text_model_get_vocab (m);
  guint unknown = ar_vocab_encode (v, "\xc3\xa9", -1, ids);
  g_assert_cmpuint (unknown, ==, 2);
  g_assert_cmpuint (ids->len, ==, 0);

  /* the floats one byte off their alignment: the same file */
  gsize size;
  const guint8 *data = g_bytes_get_data (model, &size);
  g_autofree guint8 *buf = g_malloc (size + 1);
  memcpy (buf + 1, data, size);
  g_autoptr (GBytes) odd = g_bytes_new_static (buf + 1, size);
  g_autoptr (GBytes) gguf2 = convert_bytes (odd, tok, AR_TENSOR_F32, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (gguf, gguf2));
}

/* Paths that are not UTF-8 are converted, and messages and general.name
 * use their display names (before, the name reached the writer's UTF-8
 * check: a GLib critical and no general.name). */
static void
test_non_utf8_path (void)
{
  g_autofree char *dir = g_dir_make_tmp ("test-llama2c-XXXXXX", NULL);
  g_autofree char *mpath = g_build_filename (dir, "m\xff.bin", NULL);
  g_autofree char *tpath = g_build_filename (dir, "t\xfe.bin", NULL);
  g_autoptr (GBytes) model = tiny_model (tiny_header);
  g_autoptr (GBytes) tok = tiny_tokenizer (6);
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  GError *error = NULL;

  g_assert_true (g_file_set_contents (mpath, g_bytes_get_data (model, NULL),
      g_bytes_get_size (model), NULL));
  g_assert_true (g_file_set_contents (tpath, "\0\0", 2, NULL));
  g_assert_false (ar_llama2c_convert (mpath, tpath, AR_TENSOR_F32, w, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_FORMAT);
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
  g_assert_nonnull (strstr (error->message, "t\xef\xbf\xbd.bin: 2 bytes"));
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (tpath, g_bytes_get_data (tok, NULL),
      g_bytes_get_size (tok), NULL));
  g_assert_true (ar_llama2c_convert (mpath, tpath, AR_TENSOR_F32, w, &error));
  g_assert_no_error (error);
  g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
  g_autoptr (ArGguf) g = ar_gguf_new_from_bytes (bytes, "out.gguf", &error);
  g_assert_no_error (error);
  const char *name;
  g_assert_true (ar_gguf_get_string (g, "general.name", &name, &error));
  g_assert_cmpstr (name, ==, "m\xef\xbf\xbd.bin");
  g_unlink (mpath);
  g_unlink (tpath);
  g_rmdir (dir);
}

/* A copy of @model with float @k (after the header) set to @x. */
static GBytes *
with_weight (GBytes *model, gsize k, float x)
{
  gsize size;
  guint8 *data = g_bytes_unref_to_data (g_bytes_ref (model), &size);
  memcpy (data + 28 + 4 * k, &x, 4);
  return g_bytes_new_take (data, size);
}

/* Every weight must be finite, and fit the storage type: the reader
 * rejects a tensor with a NaN or an infinity, so such a checkpoint used to
 * convert, and only loading the output failed, naming a GGUF tensor of the
 * output file.  The error names the checkpoint and llama2.c's tensor, and
 * the writer is left empty. */
static void
test_bad_weights (void)
{
  g_autoptr (GBytes) model = tiny_model (tiny_header);
  g_autoptr (GBytes) tok = tiny_tokenizer (6);
  g_autoptr (ArGgufWriter) w0 = ar_gguf_writer_new ();
  g_autoptr (GBytes) empty = ar_gguf_writer_to_bytes (w0);
  /* embedding (6, 8), then attention RMSNorm (8), then wq (8, 8) */
  const gsize wq = 6 * 8 + 8;
  struct
  {
    gsize k;
    float x;
    ArTensorType type;
    const char *expect;
  } cases[] = {
    { wq + 5, NAN, AR_TENSOR_F32,
        "wq of layer 0 has a non-finite weight (nan) at element 5" },
    { 3, -INFINITY, AR_TENSOR_F16,
        "token_embedding_table has a non-finite weight (inf) at element 3" },
    { wq + 1, 1e5f, AR_TENSOR_F16,
        "wq of layer 0 holds 100000 at element 1, beyond what F16 can store" },
    /* rows of 8 are not quantised: F16 again */
    { wq + 1, 7e4f, AR_TENSOR_Q8_0,
        "wq of layer 0 holds 70000 at element 1, beyond what F16 can store" },
  };
  GError *error = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GBytes) bad = with_weight (model, cases[i].k, cases[i].x);
    g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
    g_assert_false (ar_llama2c_convert_bytes (bad, "tiny.bin", tok,
        "tiny-tok.bin", cases[i].type, w, &error));
    g_assert_error (error, AR_ERROR, AR_ERROR_FORMAT);
    if (!g_str_has_prefix (error->message, "tiny.bin: ") ||
        strstr (error->message, cases[i].expect) == NULL)
      g_error ("\"%s\" lacks \"%s\"", error->message, cases[i].expect);
    g_clear_error (&error);
    g_autoptr (GBytes) after = ar_gguf_writer_to_bytes (w);
    g_assert_true (g_bytes_equal (after, empty));
  }
  /* rows of 32 are quantised; a block whose scale overflows F16 is named
   * by its largest value, not by its first (element 32, which used to be
   * reported, holds a small weight) */
  const gint32 wide[7] = { 32, 8, 1, 4, 1, 6, 2 };
  g_autoptr (GBytes) wide_model = tiny_model (wide);
  const gsize wide_wq = 6 * 32 + 32;
  struct
  {
    float x;
    ArTensorType type;
    const char *expect;
  } blocks[] = {
    { 1e7f, AR_TENSOR_Q8_0,
        "wq of layer 0 holds 1e+07 at element 40, beyond "
        "what Q8_0 can store (its block's scale overflows F16)" },
    { 1e6f, AR_TENSOR_Q4_0,
        "wq of layer 0 holds 1e+06 at element 40, beyond "
        "what Q4_0 can store (its block's scale overflows F16)" },
    { NAN, AR_TENSOR_Q4_0,
        "wq of layer 0 has a non-finite weight (nan) at element 40" },
    { 1e6f, AR_TENSOR_Q8_0, NULL }, /* a scale of 7874 */
  };
  for (guint i = 0; i < G_N_ELEMENTS (blocks); i++) {
    g_autoptr (GBytes) bad =
        with_weight (wide_model, wide_wq + 40, blocks[i].x);
    g_autoptr (GBytes) out = convert_bytes (bad, tok, blocks[i].type, &error);
    if (blocks[i].expect == NULL) {
      g_assert_no_error (error);
      g_assert_nonnull (out);
      continue;
    }
    g_assert_error (error, AR_ERROR, AR_ERROR_FORMAT);
    if (strstr (error->message, blocks[i].expect) == NULL)
      g_error ("\"%s\" lacks \"%s\"", error->message, blocks[i].expect);
    g_clear_error (&error);
  }

  /* 65504, F16's largest, converts; so does 1e5 as F32 */
  g_autoptr (GBytes) max16 = with_weight (model, wq + 1, 65504.0f);
  g_autoptr (GBytes) gguf = convert_bytes (max16, tok, AR_TENSOR_F16, &error);
  g_assert_no_error (error);
  g_assert_nonnull (gguf);
  g_autoptr (GBytes) big = with_weight (model, wq + 1, 1e5f);
  g_autoptr (GBytes) gguf32 = convert_bytes (big, tok, AR_TENSOR_F32, &error);
  g_assert_no_error (error);
  g_autoptr (ArTextModel) m =
      ar_text_model_new_from_bytes (gguf32, "tiny.gguf", &error);
  g_assert_no_error (error);
  g_assert_nonnull (m);
}

/* A vocabulary of fewer than 3 tokens has no <s> and </s> (ids 1 and 2):
 * it converted, with BOS and EOS ids past its end, and only loading the
 * output failed.  3 tokens convert and load. */
static void
test_small_vocab (void)
{
  GError *error = NULL;

  for (gint32 n = -3; n <= 3; n++) {
    gint32 h[7];
    if (n == 0)
      continue;
    memcpy (h, tiny_header, sizeof h);
    h[5] = n;
    g_autoptr (GBytes) model = tiny_model (h);
    g_autoptr (GBytes) tok = tiny_tokenizer (ABS (n));
    g_autoptr (GBytes) gguf = convert_bytes (model, tok, AR_TENSOR_F32, &error);
    if (ABS (n) < 3) {
      g_assert_error (error, AR_ERROR, AR_ERROR_FORMAT);
      g_autofree char *expect = g_strdup_printf ("tiny.bin: vocab_size is "
                                                 "%d; a llama2.c vocabulary "
                                                 "has at least the 3 tokens",
          n);
      g_assert_true (g_str_has_prefix (error->message, expect));
      g_clear_error (&error);
      continue;
    }
    g_assert_no_error (error);
    g_autoptr (ArTextModel) m =
        ar_text_model_new_from_bytes (gguf, "tiny.gguf", &error);
    g_assert_no_error (error);
    g_assert_nonnull (m);
  }
}

/* The versioned exports of llama2.c's export.py (magic "ak42", then the
 * version) are named as such, not as a header of absurd sizes. */
static void
test_versioned_export (void)
{
  g_autoptr (GBytes) model = tiny_model (tiny_header);
  g_autoptr (GBytes) tok = tiny_tokenizer (6);
  gsize size;
  g_autofree guint8 *data = g_bytes_unref_to_data (g_bytes_ref (model), &size);
  const gint32 v2[2] = { 0x616b3432, 2 };
  GError *error = NULL;

  memcpy (data, v2, sizeof v2);
  g_autoptr (GBytes) exported = g_bytes_new_static (data, size);
  g_autoptr (GBytes) gguf =
      convert_bytes (exported, tok, AR_TENSOR_F32, &error);
  g_assert_null (gguf);
  g_assert_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED);
  g_assert_cmpstr (error->message, ==,
      "tiny.bin: a llama2.c export of "
      "version 2 (magic \"ak42\"); only the legacy format that run.c reads "
      "(export.py --version 0) is supported");
  g_clear_error (&error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  const char *shared = g_getenv ("AR_SHARED_DATA");
  if (shared) {
    g_autofree char *dir = g_build_filename (shared, "stories260K", NULL);
    if (g_file_test (dir, G_FILE_TEST_IS_DIR)) {
      model_path = g_build_filename (dir, "stories260K.bin", NULL);
      tokenizer_path = g_build_filename (dir, "tok512.bin", NULL);
      expected_path =
          g_build_filename (dir, "expected_t0_n200_empty_prompt.txt", NULL);
    }
  }
  g_test_add_func ("/llama2c/spm-vocab", test_spm_vocab);
  g_test_add_func ("/llama2c/test-vector", test_vector);
  g_test_add_func ("/llama2c/encode", test_encode);
  g_test_add_func ("/llama2c/encode-merges", test_encode_merges);
  g_test_add_func ("/llama2c/prompt-continues", test_prompt_continues);
  g_test_add_func ("/llama2c/eos", test_eos);
  g_test_add_func ("/llama2c/storage-types", test_storage_types);
  g_test_add_func ("/llama2c/errors", test_errors);
  g_test_add_func ("/llama2c/tiny", test_tiny);
  g_test_add_func ("/llama2c/non-utf8-path", test_non_utf8_path);
  g_test_add_func ("/llama2c/bad-weights", test_bad_weights);
  g_test_add_func ("/llama2c/small-vocab", test_small_vocab);
  g_test_add_func ("/llama2c/versioned-export", test_versioned_export);
  int ret = g_test_run ();
  g_free (model_path);
  g_free (tokenizer_path);
  g_free (expected_path);
  return ret;
}
