/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-beam.c — beam search in ArTextGen, and the state copies it rests on.
 *
 * - State copies: an RNN and a Transformer state copied mid-stream (the
 *   Transformer's after its window has slid) continue with bit-identical
 *   logits.
 * - Width 1 is greedy decoding: the same bytes as sampling at temperature 0,
 *   for an RNN and a Transformer, with prompts, a stop string and EOS, and
 *   on stories260K (llama2.c's test vector, when the shared data is there).
 * - Exactness: on small random RNNs over 4 tokens, a beam wide enough to
 *   keep every prefix (4^3 = 64) finds the sequence of highest total
 *   log-probability over 4 steps that an exhaustive search finds — also
 *   when one token is EOS and sequences may end early — and, on the first
 *   of these models where greedy decoding is not optimal (found by trying
 *   seeds in order), it beats greedy strictly.  Scores are recomputed here
 *   from the model's own logits, independently of the search.
 * - Streaming and determinism: output comes out while searching, never
 *   lags more than AR_TEXT_BEAM_HORIZON tokens, and is the same bytes in
 *   one run as in another and whether taken call by call or at the end; a
 *   prompt fed during a search settles it first. */
#include <math.h>
#include <string.h>

#include "core/ar-gguf.h"
#include "core/ar-rng.h"
#include "text/ar-text.h"
#include "transformer/ar-llama2c.h"
#include "transformer/ar-transformer.h"
#include "test-util.h"

static const ArSamplingParams greedy = { 0.0f, 0, 1.0f };

/* A copy of model file @src with tokenizer.ggml.eos_token_id = @eos. */
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

/* A random llama model with a byte vocabulary (C = 24, so 100 tokens slide
 * the window several times). */
static GBytes *
make_transformer (guint64 seed)
{
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  ArTransformerConfig c = { AR_TRANSFORMER_LLAMA, 2, 32, 48, 4, 2, 24, 256, 8,
    10000.0f, 1e-5f, TRUE };
  ArRng rng;
  char name[64];

  ar_rng_init (&rng, seed);
  ar_transformer_config_write (&c, w);
  ar_gguf_writer_set_string (w, "tokenizer.ggml.model", "byte");
#define ADD(nm, rows, cols, mean, sd)                                          \
  do {                                                                         \
    gsize n_ = (gsize) (rows) * (cols);                                        \
    g_autofree float *v_ = g_new (float, n_);                                  \
    for (gsize i_ = 0; i_ < n_; i_++)                                          \
      v_[i_] = (mean) + (sd) *ar_rng_normal (&rng);                            \
    const guint64 ne_[2] = { cols, rows };                                     \
    ar_gguf_writer_add_tensor_f32 (w, nm, AR_TENSOR_F32, (rows) == 1 ? 1 : 2,  \
        ne_, v_);                                                              \
  } while (0)
  ADD ("token_embd.weight", 256, 32, 0, 1);
  for (guint l = 0; l < 2; l++) {
#define BLK(what) (g_snprintf (name, sizeof name, "blk.%u." what, l), name)
    ADD (BLK ("attn_norm.weight"), 1, 32, 1, 0.1f);
    ADD (BLK ("ffn_norm.weight"), 1, 32, 1, 0.1f);
    ADD (BLK ("attn_q.weight"), 32, 32, 0, 0.18f);
    ADD (BLK ("attn_k.weight"), 16, 32, 0, 0.18f);
    ADD (BLK ("attn_v.weight"), 16, 32, 0, 0.18f);
    ADD (BLK ("attn_output.weight"), 32, 32, 0, 0.18f);
    ADD (BLK ("ffn_gate.weight"), 48, 32, 0, 0.18f);
    ADD (BLK ("ffn_up.weight"), 48, 32, 0, 0.18f);
    ADD (BLK ("ffn_down.weight"), 32, 48, 0, 0.14f);
#undef BLK
  }
  ADD ("output_norm.weight", 1, 32, 1, 0.1f);
#undef ADD
  return ar_gguf_writer_to_bytes (w);
}

/* @n steps after @prompt (NULL: none) with beam @width (0: sampling with
 * @params), output collected call by call. */
static char *
run (ArTextModel *m, guint width, const ArSamplingParams *params,
    const char *prompt, const char *stop, guint n, gboolean *ended)
{
  g_autoptr (ArTextGen) gen = ar_text_gen_new (m);
  GString *out = g_string_new (NULL);
  gboolean end = FALSE;

  ar_text_gen_set_sampling (gen, params ? params : &greedy);
  ar_text_gen_set_beam (gen, width, 0.0f);
  ar_text_gen_set_stop (gen, stop);
  ar_text_gen_reset (gen, 11);
  if (prompt)
    ar_text_gen_feed (gen, prompt, -1);
  for (guint i = 0; i < n && !end; i++)
    end = ar_text_gen_next (gen, out);
  ar_text_gen_finish (gen, out);
  /* ended with EOS: the search's winner, or what greedy sampled last */
  if (ended) {
    gint eos = ar_vocab_get_eos (ar_text_model_get_vocab (m));
    *ended = eos >= 0 && ar_text_gen_last_token (gen) == (guint) eos;
    g_assert_true (!*ended || end || width > 0);
  }
  return g_string_free (out, FALSE);
}

/* ---- state copies ----------------------------------------------------- */

static void
check_copy (ArTextModel *m, guint n_before)
{
  const ArTextFamily *fam = ar_text_model_get_family (m);
  gconstpointer impl = ar_text_model_get_impl (m);
  guint V = fam->n_vocab (impl);
  gpointer a = fam->state_new (impl), b = fam->state_new (impl);
  g_autofree float *la = g_new (float, V);

  fam->state_reset (impl, a);
  fam->state_reset (impl, b);
  fam->forward (impl, b, 7); /* b holds something else, to be overwritten */
  for (guint i = 0; i < n_before; i++)
    fam->forward (impl, a, (i * 13 + 1) % V);
  fam->state_copy (impl, b, a);
  for (guint i = 0; i < 40; i++) {
    guint token = (i * 29 + 3) % V;
    memcpy (la, fam->forward (impl, a, token), V * sizeof (float));
    const float *lb = fam->forward (impl, b, token);
    g_assert_cmpmem (la, V * sizeof (float), lb, V * sizeof (float));
  }
  fam->state_free (a);
  fam->state_free (b);
}

static void
test_state_copy (void)
{
  g_autoptr (GBytes) rb =
      test_make_rnn_bytes (AR_CELL_LSTM, 2, 8, 16, "abcdefgh", 1);
  g_autoptr (ArTextModel) rnn = test_text_model_from_bytes (rb);
  check_copy (rnn, 5);
  g_autoptr (GBytes) tb = make_transformer (2);
  g_autoptr (ArTextModel) tr = test_text_model_from_bytes (tb);
  check_copy (tr, 0);
  check_copy (tr, 10);
  check_copy (tr, 50); /* after two slides of the 24-token window */
}

/* ---- width 1 is greedy ------------------------------------------------ */

static void
check_width1 (ArTextModel *m, const char *prompt, const char *stop, guint n)
{
  gboolean e0, e1;
  g_autofree char *g = run (m, 0, NULL, prompt, stop, n, &e0);
  /* (ended: with EOS, the search's winner or what greedy sampled last) */
  g_autofree char *b = run (m, 1, NULL, prompt, stop, n, &e1);
  g_assert_cmpstr (g, ==, b);
  g_assert_cmpint (e0, ==, e1);
}

static void
test_width1 (void)
{
  g_autoptr (GBytes) rb =
      test_make_rnn_bytes (AR_CELL_GRU, 1, 16, 32, "abcdefgh \n", 3);
  g_autoptr (ArTextModel) rnn = test_text_model_from_bytes (rb);
  g_autoptr (GBytes) tb = make_transformer (4);
  g_autoptr (ArTextModel) tr = test_text_model_from_bytes (tb);

  check_width1 (rnn, NULL, NULL, 100);
  check_width1 (rnn, "abba", NULL, 100);
  check_width1 (tr, NULL, NULL, 100);
  check_width1 (tr, "hello", NULL, 100);
  /* a stop string greedy reaches */
  g_autofree char *g = run (tr, 0, NULL, "hello", NULL, 30, NULL);
  g_assert_cmpint (g_utf8_strlen (g, -1), >=, 12);
  g_autofree char *stop = g_utf8_substring (g, 10, 12);
  check_width1 (tr, "hello", stop, 100);
  /* EOS: the 20th greedy token declared EOS ends both at the same place */
  g_autoptr (ArTextGen) gen = ar_text_gen_new (tr);
  g_autoptr (GString) sink = g_string_new (NULL);
  ar_text_gen_set_sampling (gen, &greedy);
  ar_text_gen_reset (gen, 0);
  ar_text_gen_feed (gen, "hello", -1);
  for (guint i = 0; i < 20; i++)
    ar_text_gen_next (gen, sink);
  g_autoptr (GBytes) eb = with_eos (tb, ar_text_gen_last_token (gen));
  g_autoptr (ArTextModel) te = test_text_model_from_bytes (eb);
  gboolean ended;
  g_autofree char *ge = run (te, 1, NULL, "hello", NULL, 100, &ended);
  g_assert_true (ended);
  check_width1 (te, "hello", NULL, 100);
}

/* llama2.c's test vector again, now through the beam machinery. */
static void
test_width1_stories260k (void)
{
  const char *shared = g_getenv ("AR_SHARED_DATA");
  g_autofree char *dir =
      shared ? g_build_filename (shared, "stories260K", NULL) : NULL;
  if (dir == NULL || !g_file_test (dir, G_FILE_TEST_IS_DIR)) {
    g_test_skip ("AR_SHARED_DATA/stories260K is absent");
    return;
  }
  g_autofree char *bin = g_build_filename (dir, "stories260K.bin", NULL);
  g_autofree char *tok = g_build_filename (dir, "tok512.bin", NULL);
  g_autofree char *vec =
      g_build_filename (dir, "expected_t0_n200_empty_prompt.txt", NULL);
  g_autofree char *expected = NULL;
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  GError *error = NULL;
  g_assert_true (ar_llama2c_convert (bin, tok, AR_TENSOR_F32, w, &error));
  g_assert_no_error (error);
  g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
  g_autoptr (ArTextModel) m = test_text_model_from_bytes (bytes);
  g_assert_true (g_file_get_contents (vec, &expected, NULL, NULL));
  g_autofree char *out = run (m, 1, NULL, NULL, NULL, 200, NULL);
  g_assert_cmpstr (out, ==, expected);
  /* a wider beam: a different but deterministic story */
  g_autofree char *b4 = run (m, 4, NULL, NULL, NULL, 200, NULL);
  g_autofree char *b4again = run (m, 4, NULL, NULL, NULL, 200, NULL);
  g_assert_cmpstr (b4, ==, b4again);
  g_assert_true (g_str_has_prefix (b4, "Once upon a time"));
}

/* ---- exactness against exhaustive search ------------------------------ */

/* log p (tokens[0 .. n)) under model @m from its start (BOS fed when the
 * vocabulary has one), each log-softmax in double as the search does; the
 * last token may be EOS. */
static double
score (ArTextModel *m, const gint32 *tokens, guint n)
{
  const ArTextFamily *fam = ar_text_model_get_family (m);
  gconstpointer impl = ar_text_model_get_impl (m);
  guint V = fam->n_vocab (impl);
  gint bos = ar_vocab_get_bos (ar_text_model_get_vocab (m));
  gpointer s = fam->state_new (impl);
  g_autofree float *zeros = g_new0 (float, V);
  const float *l = zeros;
  double total = 0;

  fam->state_reset (impl, s);
  if (bos >= 0)
    l = fam->forward (impl, s, bos);
  for (guint i = 0; i < n; i++) {
    double max = -INFINITY, sum = 0;
    for (guint v = 0; v < V; v++)
      max = MAX (max, l[v]);
    for (guint v = 0; v < V; v++)
      sum += exp ((double) l[v] - max);
    total += l[tokens[i]] - (max + log (sum));
    if (i + 1 < n)
      l = fam->forward (impl, s, tokens[i]);
  }
  fam->state_free (s);
  return total;
}

static void
encode (ArTextModel *m, const char *text, GArray *ids)
{
  g_array_set_size (ids, 0);
  g_assert_cmpuint (ar_vocab_encode (ar_text_model_get_vocab (m), text, -1,
                        ids),
      ==, 0);
}

/* The best total log-probability over 4 steps: sequences of 4 tokens, or
 * (with @eos >= 0) shorter ones ending with EOS.  Returns it; the best
 * sequence into @best (EOS included). */
static double
exhaustive (ArTextModel *m, gint eos, GArray *best)
{
  double top = -INFINITY;
  gint32 seq[4];

  for (guint code = 0; code < 256; code++) {
    guint n = 4;
    for (guint i = 0; i < 4; i++)
      seq[i] = (code >> (2 * i)) & 3;
    /* EOS may only come last: cut the sequence at its first EOS */
    for (guint i = 0; i < 4 && eos >= 0; i++)
      if (seq[i] == eos) {
        n = i + 1;
        break;
      }
    if (n < 4 && (code >> (2 * n)) != 0)
      continue; /* the same short sequence was counted with zeros after it */
    double sc = score (m, seq, n);
    if (sc > top) {
      top = sc;
      g_array_set_size (best, 0);
      g_array_append_vals (best, seq, n);
    }
  }
  return top;
}

/* The tokens of @text, plus EOS when the stream ended early. */
static double
score_text (ArTextModel *m, const char *text, gboolean ended, gint eos,
    GArray *ids)
{
  encode (m, text, ids);
  if (ended) {
    g_assert_cmpint (eos, >=, 0);
    gint32 e = eos;
    g_array_append_val (ids, e);
  }
  return score (m, (const gint32 *) ids->data, ids->len);
}

static void
test_exact (void)
{
  g_autoptr (GArray) best = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  gboolean found_suboptimal = FALSE, found_eos_case = FALSE;

  for (guint64 seed = 1; seed <= 10; seed++) {
    /* no newline in the alphabet: no BOS, the first token's distribution
     * is the uniform start */
    g_autoptr (GBytes) rb =
        test_make_rnn_bytes (AR_CELL_GRU, 1, 4, 8, "abcd", seed);
    for (int use_eos = 0; use_eos < 2; use_eos++) {
      gint eos = use_eos ? 3 : -1; /* 'd' */
      g_autoptr (GBytes) bytes = use_eos ? with_eos (rb, 3) : g_bytes_ref (rb);
      g_autoptr (ArTextModel) m = test_text_model_from_bytes (bytes);
      gboolean ended;
      double top = exhaustive (m, eos, best);

      g_autofree char *b = run (m, 64, NULL, NULL, NULL, 4, &ended);
      double sb = score_text (m, b, ended, eos, ids);
      g_assert_cmpfloat (fabs (sb - top), <=, 1e-9);
      g_assert_cmpmem (ids->data, ids->len * sizeof (gint32), best->data,
          best->len * sizeof (gint32));
      if (use_eos && best->len < 4)
        found_eos_case = TRUE;

      g_autofree char *g = run (m, 0, NULL, NULL, NULL, 4, &ended);
      double sg = score_text (m, g, ended, eos, ids);
      g_assert_cmpfloat (sg, <=, top + 1e-9);
      if (sg < top - 1e-6 && !use_eos && !found_suboptimal) {
        found_suboptimal = TRUE;
        /* greedy is not optimal here; a narrower beam already helps */
        g_autofree char *b2 = run (m, 2, NULL, NULL, NULL, 4, &ended);
        g_assert_cmpfloat (score_text (m, b2, ended, eos, ids), >=, sg);
        g_assert_cmpfloat (sb, >, sg + 1e-6);
      }
    }
  }
  g_assert_true (found_suboptimal);
  g_assert_true (found_eos_case);
}

/* ---- streaming, determinism, feed during a search --------------------- */

static void
test_streaming (void)
{
  g_autoptr (GBytes) tb = make_transformer (6);
  g_autoptr (ArTextModel) m = test_text_model_from_bytes (tb);
  g_autoptr (ArTextGen) gen = ar_text_gen_new (m);
  g_autoptr (GString) out = g_string_new (NULL);
  gsize out_before_finish;

  /* a byte model's tokens are single bytes, each giving at least one byte
   * of output (invalid ones become U+FFFD) once past the held-back UTF-8
   * tail of at most 3 bytes: so the output bytes bound the lag */
  ar_text_gen_set_beam (gen, 5, 0.0f);
  ar_text_gen_reset (gen, 1);
  ar_text_gen_feed (gen, "abc", -1);
  for (guint i = 1; i <= 150; i++) {
    g_assert_false (ar_text_gen_next (gen, out));
    g_assert_cmpuint (out->len + AR_TEXT_BEAM_HORIZON + 3, >=, i);
  }
  out_before_finish = out->len;
  g_assert_cmpuint (out_before_finish, >, 0);
  ar_text_gen_finish (gen, out);
  g_assert_cmpuint (out->len, >, out_before_finish);
  g_assert_cmpuint (ar_text_gen_get_n_tokens (gen), ==, 150);

  /* the same again, from the same generator after a reset, and taken in
   * one piece at the end: the same bytes */
  g_autoptr (GString) again = g_string_new (NULL);
  g_autoptr (GString) sink = g_string_new (NULL);
  ar_text_gen_reset (gen, 99); /* the seed does not matter to a beam */
  ar_text_gen_feed (gen, "abc", -1);
  for (guint i = 0; i < 150; i++) {
    ar_text_gen_next (gen, sink);
    g_string_append_len (again, sink->str, sink->len);
    g_string_truncate (sink, 0);
  }
  ar_text_gen_finish (gen, again);
  g_assert_cmpmem (out->str, out->len, again->str, again->len);

  /* a length penalty runs too, deterministically */
  g_autofree char *p1 = NULL, *p2 = NULL;
  for (int k = 0; k < 2; k++) {
    g_autoptr (GString) o = g_string_new (NULL);
    ar_text_gen_set_beam (gen, 3, 1.0f);
    ar_text_gen_reset (gen, 0);
    for (guint i = 0; i < 40; i++)
      ar_text_gen_next (gen, o);
    ar_text_gen_finish (gen, o);
    g_assert_true (g_utf8_validate (o->str, o->len, NULL));
    *(k ? &p2 : &p1) = g_strdup (o->str);
  }
  g_assert_cmpstr (p1, ==, p2);
}

/* A prompt fed while a search runs: the best hypothesis so far is settled
 * (its text comes out with the next call), then the prompt follows it.
 * Equal to settling by hand: finish, then continue from those tokens. */
static void
test_feed_during_search (void)
{
  g_autoptr (GBytes) rb =
      test_make_rnn_bytes (AR_CELL_GRU, 1, 16, 32, "abcdefgh \n", 8);
  g_autoptr (ArTextModel) m = test_text_model_from_bytes (rb);
  g_autoptr (ArTextGen) gen = ar_text_gen_new (m);
  g_autoptr (GString) a = g_string_new (NULL);
  g_autoptr (GString) first = g_string_new (NULL);

  ar_text_gen_set_beam (gen, 3, 0.0f);
  ar_text_gen_reset (gen, 0);
  for (guint i = 0; i < 10; i++)
    ar_text_gen_next (gen, a);
  ar_text_gen_feed (gen, "hh", -1);
  for (guint i = 0; i < 10; i++)
    ar_text_gen_next (gen, a);
  ar_text_gen_finish (gen, a);

  /* by hand: the 10-step result, then that text and "hh" as a prompt */
  ar_text_gen_reset (gen, 0);
  for (guint i = 0; i < 10; i++)
    ar_text_gen_next (gen, first);
  ar_text_gen_finish (gen, first);
  g_autofree char *prompt = g_strconcat (first->str, "hh", NULL);
  g_autofree char *rest = run (m, 3, NULL, prompt, NULL, 10, NULL);
  g_autofree char *want = g_strconcat (first->str, rest, NULL);
  g_assert_cmpstr (a->str, ==, want);
}

/* The stop string ends a search like it ends sampling; the stream then
 * takes a new prompt or a reset and goes on. */
static void
test_stop_then_continue (void)
{
  g_autoptr (GBytes) rb =
      test_make_rnn_bytes (AR_CELL_GRU, 1, 16, 32, "abcdefgh \n", 8);
  g_autoptr (ArTextModel) m = test_text_model_from_bytes (rb);
  g_autoptr (ArTextGen) gen = ar_text_gen_new (m);
  g_autoptr (GString) out = g_string_new (NULL);
  g_autofree char *free_run = run (m, 3, NULL, NULL, NULL, 40, NULL);
  g_autofree char *stop = NULL;
  gboolean stopped = FALSE;

  g_assert_cmpint (strlen (free_run), >=, 12);
  stop = g_strndup (free_run + 10, 2);
  ar_text_gen_set_beam (gen, 3, 0.0f);
  ar_text_gen_set_stop (gen, stop);
  ar_text_gen_reset (gen, 0);
  for (guint i = 0; i < 40 && !stopped; i++)
    stopped = ar_text_gen_next (gen, out);
  g_assert_true (stopped);
  g_assert_true (ar_text_gen_next (gen, out)); /* stays ended */
  ar_text_gen_finish (gen, out);
  /* what came out was agreed by every hypothesis, so the search without a
   * stop string output it too */
  g_assert_true (g_str_has_prefix (free_run, out->str));
  g_assert_null (strstr (out->str, stop));
  /* a prompt after the stop: the stream goes on */
  ar_text_gen_feed (gen, "ab", -1);
  for (guint i = 0; i < 5; i++)
    ar_text_gen_next (gen, out);
  /* and after a reset, it is a fresh stream */
  ar_text_gen_reset (gen, 0);
  g_string_truncate (out, 0);
  for (guint i = 0; i < 5; i++)
    ar_text_gen_next (gen, out);
  ar_text_gen_finish (gen, out);
  g_autofree char *fresh = run (m, 3, NULL, NULL, stop, 5, NULL);
  g_assert_cmpstr (out->str, ==, fresh);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/beam/state-copy", test_state_copy);
  g_test_add_func ("/beam/width1-is-greedy", test_width1);
  g_test_add_func ("/beam/width1-stories260k", test_width1_stories260k);
  g_test_add_func ("/beam/exact", test_exact);
  g_test_add_func ("/beam/streaming", test_streaming);
  g_test_add_func ("/beam/feed-during-search", test_feed_during_search);
  g_test_add_func ("/beam/stop-then-continue", test_stop_then_continue);
  return g_test_run ();
}
