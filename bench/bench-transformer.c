/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-transformer.c — Transformer generation speed at batch 1 on one
 * thread, in tokens per second, for two models in F32, F16, Q8_0 and Q4_0,
 * with and without the KV cache:
 *   1. stories260K, converted from ../shared/data/stories260K (llama2.c's
 *      260K-parameter TinyStories model: dim 64, 5 layers, 8 heads / 4 kv
 *      heads, vocabulary 512);
 *   2. the stories15M shape with random weights: dim 288, 6 layers, 6
 *      heads, hidden 768, vocabulary 32000, context 256 (60 MB of F32
 *      weights: memory bound).
 * "cache": greedy generation from BOS for --steps positions, the way
 * llama2.c's `run` generates; "no cache": every token recomputes the whole
 * prefix (ar_transformer_forward_full), for --nocache-steps tokens;
 * "prompt": one prompt of --steps tokens through
 * ar_transformer_forward_prompt (batched: 32 tokens per pass); "threads":
 * the cached generation again with the large matrix-vector products split
 * over --threads threads (ar-threadpool.h; the other columns use one).
 * Each figure is the best of --repeat runs (the machine is shared).
 *
 * The random model is made and converted in memory (ar_llama2c_convert_
 * bytes), so an interrupted run leaves nothing behind.  With --llama2c RUN
 * (a llama2.c `run` binary, e.g. built with `make runfast`), the same F32
 * models are written as llama2.c checkpoints (the random one into a
 * temporary folder, removed afterwards) and RUN is timed on them in the
 * same process run (`RUN M.bin -z T.bin -t 0 -n
 * STEPS`, its own "achieved tok/s" line, best of --repeat), and the ratio is
 * printed.
 *
 * With --speculative, instead: speculative decoding (ar_text_gen_set_
 * speculative) against plain decoding, side by side on one thread, in
 * tokens per second of the whole stream (drafting, verification and
 * rollback included): the default Transformer with the default draft and
 * with the default GRU drafting (from --defaults DIR, plugin/defaults),
 * 500 tokens after "ROMEO:\n", greedy (checked to give the same text as
 * plain decoding) and sampled at temperature 0.8; and the stories15M shape
 * (F32) drafted by its own Q8_0 copy (a quarter of the bytes) and by its
 * own Q4_0 copy (a seventh: 4.5 bits a weight), 200 tokens greedy from
 * BOS; for k = 1 .. --max-k (default 8) drafts per round, with the acceptance rate.  Plain
 * decoding runs alternately with the speculative runs and the speedups are
 * against its best rate.  --pairs defaults or --pairs 15m runs only those
 * pairs.
 *
 * usage: bench-transformer [--shared DIR] [--llama2c RUN] [--steps 256]
 *                          [--nocache-steps 32] [--repeat 3] [--threads N]
 *        bench-transformer --speculative [--defaults DIR] [--repeat 3]
 *                          [--pairs all|defaults|15m] [--max-k 8] */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <glib/gstdio.h>

#include "core/ar-gguf.h"
#include "core/ar-kernels.h"
#include "core/ar-rng.h"
#include "core/ar-sample.h"
#include "core/ar-threadpool.h"
#include "text/ar-text.h"
#include "transformer/ar-llama2c.h"
#include "transformer/ar-transformer.h"

/* A llama2.c checkpoint of the stories15M shape with N (0, 0.02) weights
 * (norm weights 1) into *@model, and a 32000-token tokenizer for it into
 * *@tokenizer.  BOS and EOS get zero embedding rows, so with the tied
 * classifier their logit is always 0 and greedy generation (llama2.c stops
 * at BOS) practically never picks them. */
static void
random_15m (GBytes **model, GBytes **tokenizer)
{
  const gint32 D = 288, F = 768, L = 6, H = 6, V = 32000, C = 256;
  const gint32 header[7] = { D, F, L, H, H, V, C };
  gsize hs = D / H;
  gsize n = (gsize) V * D + 2 * L * D + 4 * (gsize) L * D * D +
      3 * (gsize) L * D * F + D + 2 * (C * hs / 2);
  g_autofree float *w = g_new (float, n);
  ArRng rng;
  gsize at = 0;

  ar_rng_init (&rng, 15);
  for (gsize i = 0; i < n; i++)
    w[i] = 0.02f * ar_rng_normal (&rng);
  memset (w + 1 * D, 0, 2 * D * sizeof (float)); /* BOS, EOS rows */
  at = (gsize) V * D;
  for (gsize i = 0; i < (gsize) L * D; i++)
    w[at + i] = 1.0f; /* attention RMSNorm */
  at += (gsize) L * D + 4 * (gsize) L * D * D;
  for (gsize i = 0; i < (gsize) L * D; i++)
    w[at + i] = 1.0f; /* FFN RMSNorm */
  at += (gsize) L * D + 3 * (gsize) L * D * F;
  for (gsize i = 0; i < (gsize) D; i++)
    w[at + i] = 1.0f; /* final RMSNorm */

  GString *m = g_string_new_len ((const char *) header, sizeof header);
  g_string_append_len (m, (const char *) w, n * sizeof (float));
  *model = g_string_free_to_bytes (m);

  GString *t = g_string_new (NULL);
  guint32 max_len = 16;
  g_string_append_len (t, (const char *) &max_len, 4);
  for (gint32 i = 0; i < V; i++) {
    char piece[16];
    float score = -(float) i;
    gint32 len;
    if (i == 0)
      g_strlcpy (piece, "<unk>", sizeof piece);
    else if (i == 1)
      g_strlcpy (piece, "\n<s>\n", sizeof piece);
    else if (i == 2)
      g_strlcpy (piece, "\n</s>\n", sizeof piece);
    else if (i < 3 + 256)
      g_snprintf (piece, sizeof piece, "<0x%02X>", i - 3);
    else
      g_snprintf (piece, sizeof piece, " t%d", i);
    len = strlen (piece);
    g_string_append_len (t, (const char *) &score, 4);
    g_string_append_len (t, (const char *) &len, 4);
    g_string_append_len (t, piece, len);
  }
  *tokenizer = g_string_free_to_bytes (t);
}

/* Writes @bytes to @path. */
static gboolean
write_bytes (const char *path, GBytes *bytes, GError **error)
{
  gsize size;
  const char *data = g_bytes_get_data (bytes, &size);

  return g_file_set_contents (path, data, size, error);
}

/* Tokens per second of greedy generation from BOS for @steps positions. */
static double
rate_cached (const ArTransformer *t, ArTransformerState *s, guint steps)
{
  guint V = ar_transformer_get_config (t)->n_vocab, token = 1;
  ar_transformer_state_reset (s);
  gint64 t0 = g_get_monotonic_time ();
  for (guint i = 0; i < steps; i++)
    token = ar_argmax (ar_transformer_forward (t, s, token), V);
  double sec = (g_get_monotonic_time () - t0) / 1e6;
  return steps / sec;
}

/* Tokens per second of ar_transformer_forward_prompt over @n tokens (a
 * fixed pseudo-random prompt starting with BOS) from an empty cache. */
static double
rate_prompt (const ArTransformer *t, ArTransformerState *s, guint n)
{
  guint V = ar_transformer_get_config (t)->n_vocab;
  g_autofree gint32 *tokens = g_new (gint32, n);
  ArRng rng;

  ar_rng_init (&rng, 256);
  tokens[0] = 1;
  for (guint i = 1; i < n; i++)
    tokens[i] = 3 + ar_rng_below (&rng, V - 3);
  ar_transformer_state_reset (s);
  gint64 t0 = g_get_monotonic_time ();
  ar_transformer_forward_prompt (t, s, tokens, n);
  double sec = (g_get_monotonic_time () - t0) / 1e6;
  return n / sec;
}

/* Tokens per second when each token recomputes its whole prefix. */
static double
rate_full (const ArTransformer *t, guint steps)
{
  guint V = ar_transformer_get_config (t)->n_vocab;
  g_autofree gint32 *tokens = g_new (gint32, steps + 1);
  g_autofree float *logits = g_new (float, V);
  tokens[0] = 1;
  gint64 t0 = g_get_monotonic_time ();
  for (guint i = 0; i < steps; i++) {
    ar_transformer_forward_full (t, tokens, i + 1, logits);
    tokens[i + 1] = ar_argmax (logits, V);
  }
  double sec = (g_get_monotonic_time () - t0) / 1e6;
  return steps / sec;
}

/* llama2.c's "achieved tok/s" for @model / @tok, best of @repeat; 0 on
 * failure (reported). */
static double
rate_llama2c (const char *run, const char *model, const char *tok, guint steps,
    guint repeat)
{
  double best = 0;
  g_autofree char *n = g_strdup_printf ("%u", steps);
  const char *argv[] = { run, model, "-z", tok, "-t", "0", "-n", n, NULL };
  for (guint r = 0; r < repeat; r++) {
    g_autofree char *err = NULL;
    gint status;
    GError *error = NULL;
    if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL,
            NULL, NULL, NULL, &err, &status, &error)) {
      fprintf (stderr, "bench-transformer: %s: %s\n", run, error->message);
      g_error_free (error);
      return 0;
    }
    const char *line = err ? strstr (err, "achieved tok/s:") : NULL;
    if (line == NULL) {
      fprintf (stderr,
          "bench-transformer: %s printed no \"achieved tok/s\" "
          "line: %s\n",
          run, err ? err : "");
      return 0;
    }
    best = MAX (best, g_ascii_strtod (line + strlen ("achieved tok/s:"), NULL));
  }
  return best;
}

/* @model and @tokenizer: a llama2.c checkpoint and tokenizer; @model_bin
 * and @tok_bin: the same as files, for --llama2c (NULL without it). */
static void
bench_model (const char *title, GBytes *model, GBytes *tokenizer,
    const char *model_bin, const char *tok_bin, guint steps,
    guint nocache_steps, guint repeat, guint threads, const char *llama2c)
{
  static const ArTensorType types[] = { AR_TENSOR_F32, AR_TENSOR_F16,
    AR_TENSOR_Q8_0, AR_TENSOR_Q4_0 };
  double ours_f32 = 0;

  printf ("\n%s\n", title);
  printf ("  %-6s %12s %14s %13s %14s  %s\n", "type", "cache tok/s",
      "no-cache tok/s", "prompt tok/s", "threads tok/s", "weights");
  for (guint k = 0; k < G_N_ELEMENTS (types); k++) {
    g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
    GError *error = NULL;
    if (!ar_llama2c_convert_bytes (model, title, tokenizer, title, types[k],
            w, &error)) {
      fprintf (stderr, "bench-transformer: %s\n", error->message);
      g_error_free (error);
      return;
    }
    g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
    g_autoptr (ArGguf) g = ar_gguf_new_from_bytes (bytes, title, &error);
    g_assert_no_error (error);
    g_autoptr (ArTransformer) t = ar_transformer_new_from_gguf (g, &error);
    g_assert_no_error (error);
    g_autoptr (ArTransformerState) s = ar_transformer_state_new (t);
    guint n = MIN (steps, ar_transformer_get_cache_length (t));
    double cached = 0, full = 0, prompt = 0, threaded = 0;
    g_autoptr (ArThreadPool) pool = ar_threadpool_new (threads);
    gsize weight_bytes = 0;

    for (guint i = 0; i < ar_gguf_get_n_tensors (g); i++)
      weight_bytes += ar_gguf_get_tensor (g, i)->nbytes;
    rate_cached (t, s, MIN (n, 16)); /* warm-up: page in the weights */
    for (guint r = 0; r < repeat; r++)
      cached = MAX (cached, rate_cached (t, s, n));
    for (guint r = 0; r < repeat; r++)
      full = MAX (full, rate_full (t, MIN (nocache_steps, n)));
    for (guint r = 0; r < repeat; r++)
      prompt = MAX (prompt, rate_prompt (t, s, n));
    /* the cached rate again with large products split over the pool */
    ar_transformer_state_set_threadpool (s, pool);
    for (guint r = 0; r < repeat; r++)
      threaded = MAX (threaded, rate_cached (t, s, n));
    ar_transformer_state_set_threadpool (s, NULL);
    if (k == 0)
      ours_f32 = cached;
    printf ("  %-6s %12.0f %14.1f %13.0f %14.0f  %.1f MB\n",
        ar_tensor_type_name (types[k]), cached, full, prompt, threaded,
        weight_bytes / 1e6);
  }
  printf ("  (cache: %u positions from BOS; no cache: %u tokens; prompt: one "
          "%u-token prompt; threads: cache with %u threads)\n",
      steps, nocache_steps, steps, threads);
  if (llama2c && model_bin && tok_bin) {
    double theirs = rate_llama2c (llama2c, model_bin, tok_bin, steps, repeat);
    if (theirs > 0)
      printf ("  llama2.c %s: %.0f tok/s (F32); ours F32 / llama2.c = %.2fx\n",
          llama2c, theirs, ours_f32 / theirs);
  }
}

/* ---- speculative decoding ---------------------------------------------- */

/* Generates @n tokens after @prompt (plain when @draft is NULL); the best
 * tokens/s of @repeat runs, the acceptance rate and the text. */
static double
rate_speculative (ArTextModel *target, ArTextModel *draft, guint k,
    float temperature, const char *prompt, guint n, guint repeat,
    double *acceptance, char **text)
{
  ArSamplingParams params = { temperature, 0, 1.0f };
  double best = 0;

  for (guint r = 0; r < repeat; r++) {
    g_autoptr (ArTextGen) gen = ar_text_gen_new (target);
    g_autoptr (GString) out = g_string_new (NULL);
    guint64 rounds, drafted, accepted;
    guint i;
    gint64 t0;
    double rate;

    if (draft && !ar_text_gen_set_speculative (gen, draft, k, NULL))
      g_error ("the draft cannot draft for this target");
    ar_text_gen_set_sampling (gen, &params);
    t0 = g_get_monotonic_time ();
    ar_text_gen_reset (gen, 1);
    ar_text_gen_feed (gen, prompt, -1);
    for (i = 0; i < n && !ar_text_gen_next (gen, out); i++)
      ;
    ar_text_gen_finish (gen, out);
    rate = ar_text_gen_get_n_tokens (gen) /
        ((g_get_monotonic_time () - t0) / 1e6);
    best = MAX (best, rate);
    ar_text_gen_get_speculative_stats (gen, &rounds, &drafted, &accepted);
    *acceptance = drafted ? (double) accepted / drafted : 0;
    if (text && r == 0)
      *text = g_strdup (out->str);
  }
  return best;
}

/* Drafts per round are tried from 1 to max_k (--max-k, at most MAX_K: the
 * Transformer verifies up to 32 tokens in one pass). */
#define MAX_K 31
static guint max_k = 8;

/* Plain decoding is run next to every speculative run, alternately, and the
 * speedups are against the best plain rate of them all: on a shared
 * machine whose speed drifts, neither side gets the quieter moments. */
static void
bench_pair (const char *title, ArTextModel *target, ArTextModel *draft,
    float temperature, const char *prompt, guint n, guint repeat)
{
  g_autofree char *plain_text = NULL;
  double acc[MAX_K + 1], rate[MAX_K + 1], plain = 0;
  gboolean same[MAX_K + 1];

  for (guint k = 1; k <= max_k; k++) {
    rate[k] = 0;
    for (guint r = 0; r < repeat; r++) {
      g_autofree char *text = NULL, *ptext = NULL;
      double a;

      plain = MAX (plain, rate_speculative (target, NULL, 0, temperature,
              prompt, n, 1, &a, &ptext));
      if (plain_text == NULL)
        plain_text = g_strdup (ptext);
      rate[k] = MAX (rate[k], rate_speculative (target, draft, k, temperature,
              prompt, n, 1, &acc[k], &text));
      if (r == 0)
        same[k] = strcmp (text, plain_text) == 0;
    }
  }
  printf ("\n%s, %u tokens, %s\n", title, n,
      temperature == 0 ? "greedy" : "temperature 0.8");
  printf ("  plain: %.0f tok/s\n", plain);
  printf ("  %3s %10s %8s %11s  %s\n", "k", "tok/s", "speedup", "acceptance",
      temperature == 0 ? "same text as plain" : "");
  for (guint k = 1; k <= max_k; k++)
    printf ("  %3u %10.0f %7.2fx %10.1f%%  %s\n", k, rate[k], rate[k] / plain,
        100 * acc[k], temperature == 0 ? (same[k] ? "yes" : "NO") : "");
}

static ArTextModel *
load_text_model (const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  GError *error = NULL;
  ArTextModel *m = ar_text_model_new_from_file (path, &error);

  if (m == NULL) {
    fprintf (stderr, "bench-transformer: %s\n", error->message);
    g_error_free (error);
  }
  return m;
}

/* The stories15M shape as a text model of @type. */
static ArTextModel *
convert_text_model (GBytes *model, GBytes *tokenizer, ArTensorType type)
{
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  GError *error = NULL;

  if (!ar_llama2c_convert_bytes (model, "random15M.bin", tokenizer,
          "tok32000.bin", type, w, &error))
    g_error ("%s", error->message);
  g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
  ArTextModel *m = ar_text_model_new_from_bytes (bytes, "stories15M shape",
      &error);
  g_assert_no_error (error);
  return m;
}

static int
bench_speculative_all (const char *defaults, const char *pairs, guint repeat)
{
  g_autoptr (ArTextModel) target =
      load_text_model (defaults, "transformer-shakespeare.gguf");
  g_autoptr (ArTextModel) draft =
      load_text_model (defaults, "transformer-draft.gguf");
  g_autoptr (ArTextModel) gru =
      load_text_model (defaults, "rnn-shakespeare.gguf");

  if (!target || !draft || !gru)
    return 1;
  printf ("bench-transformer: speculative vs plain decoding, one thread, "
          "SIMD level %s (best of %u)\n",
      ar_simd_level_name (ar_simd_get_level ()), repeat);
  if (strcmp (pairs, "15m") != 0) {
    bench_pair ("default Transformer, default draft (2 x 64)", target, draft,
        0.0f, "ROMEO:\n", 500, repeat);
    bench_pair ("default Transformer, default draft (2 x 64)", target, draft,
        0.8f, "ROMEO:\n", 500, repeat);
    bench_pair ("default Transformer, default GRU as the draft", target, gru,
        0.0f, "ROMEO:\n", 500, repeat);
  }
  if (strcmp (pairs, "defaults") == 0)
    return 0;

  g_autoptr (GBytes) m15 = NULL;
  g_autoptr (GBytes) t15 = NULL;
  random_15m (&m15, &t15);
  g_autoptr (ArTextModel) big = convert_text_model (m15, t15, AR_TENSOR_F32);
  g_autoptr (ArTextModel) small = convert_text_model (m15, t15,
      AR_TENSOR_Q8_0);
  bench_pair ("stories15M shape F32, its Q8_0 copy as the draft", big, small,
      0.0f, "", 200, repeat);
  g_clear_pointer (&small, ar_text_model_unref);
  small = convert_text_model (m15, t15, AR_TENSOR_Q4_0);
  bench_pair ("stories15M shape F32, its Q4_0 copy as the draft", big, small,
      0.0f, "", 200, repeat);
  return 0;
}

int
main (int argc, char **argv)
{
  g_autofree char *shared = NULL, *llama2c = NULL;
  g_autofree char *defaults = NULL, *pairs = NULL;
  gint steps = 256, nocache_steps = 32, repeat = 3, threads = 0, k_max = 8;
  gboolean speculative = FALSE;
  GOptionEntry entries[] = {
    { "speculative", 0, 0, G_OPTION_ARG_NONE, &speculative,
        "Speculative against plain decoding instead", NULL },
    { "defaults", 0, 0, G_OPTION_ARG_FILENAME, &defaults,
        "The default models' folder (default plugin/defaults)", "DIR" },
    { "pairs", 0, 0, G_OPTION_ARG_STRING, &pairs,
        "Speculative pairs: all (default), defaults or 15m", "WHICH" },
    { "max-k", 0, 0, G_OPTION_ARG_INT, &k_max,
        "Speculative drafts per round tried up to (default 8, at most 31)",
        "K" },
    { "shared", 0, 0, G_OPTION_ARG_FILENAME, &shared,
        "Shared data folder (default $AR_SHARED_DATA or ../shared/data)",
        "DIR" },
    { "llama2c", 0, 0, G_OPTION_ARG_FILENAME, &llama2c,
        "A llama2.c run binary to time side by side", "RUN" },
    { "steps", 0, 0, G_OPTION_ARG_INT, &steps,
        "Positions generated with the cache (default 256)", "N" },
    { "nocache-steps", 0, 0, G_OPTION_ARG_INT, &nocache_steps,
        "Tokens generated without the cache (default 32)", "N" },
    { "repeat", 0, 0, G_OPTION_ARG_INT, &repeat,
        "Runs per figure, the best is kept (default 3)", "N" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads,
        "Threads of the threads column (default 0: every processor)", "N" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("— Transformer "
                                                         "generation speed");
  g_option_context_add_main_entries (ctx, entries, NULL);
  GError *error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || steps < 1 ||
      nocache_steps < 1 || repeat < 1 || threads < 0 || k_max < 1 ||
      k_max > MAX_K ||
      (pairs && strcmp (pairs, "all") != 0 && strcmp (pairs, "defaults") != 0
          && strcmp (pairs, "15m") != 0)) {
    fprintf (stderr, "bench-transformer: %s\n",
        error ? error->message
              : "counts must be positive, --max-k at most 31, --pairs all, "
                "defaults or 15m");
    return 2;
  }
  max_k = (guint) k_max;
  if (speculative)
    return bench_speculative_all (defaults ? defaults : "plugin/defaults",
        pairs ? pairs : "all", repeat);
  if (shared == NULL)
    shared = g_strdup (g_getenv ("AR_SHARED_DATA") ? g_getenv ("AR_SHARED_DATA")
                                                   : "../shared/data");

  if (threads == 0)
    threads = g_get_num_processors ();
  printf ("bench-transformer: batch 1, one thread (but the threads column), "
          "SIMD level %s, %u processors\n",
      ar_simd_level_name (ar_simd_get_level ()), g_get_num_processors ());

  g_autofree char *m260 =
      g_build_filename (shared, "stories260K", "stories260K.bin", NULL);
  g_autofree char *t260 =
      g_build_filename (shared, "stories260K", "tok512.bin", NULL);
  if (g_file_test (m260, G_FILE_TEST_EXISTS)) {
    g_autoptr (GBytes) mb = ar_gguf_map_file (m260, &error);
    g_autoptr (GBytes) tb = mb ? ar_gguf_map_file (t260, &error) : NULL;
    if (tb == NULL) {
      fprintf (stderr, "bench-transformer: %s\n", error->message);
      return 1;
    }
    bench_model ("stories260K", mb, tb, m260, t260, steps, nocache_steps,
        repeat, threads, llama2c);
  } else {
    printf ("\nstories260K: %s not found, skipped\n", m260);
  }

  g_autoptr (GBytes) m15 = NULL;
  g_autoptr (GBytes) t15 = NULL;
  g_autofree char *dir = NULL, *m15_path = NULL, *t15_path = NULL;
  random_15m (&m15, &t15);
  if (llama2c) {
    /* llama2.c reads files: into a folder removed at the end */
    dir = g_dir_make_tmp ("bench-transformer-XXXXXX", &error);
    if (dir != NULL) {
      m15_path = g_build_filename (dir, "random15M.bin", NULL);
      t15_path = g_build_filename (dir, "tok32000.bin", NULL);
    }
    if (dir == NULL || !write_bytes (m15_path, m15, &error) ||
        !write_bytes (t15_path, t15, &error)) {
      fprintf (stderr, "bench-transformer: %s\n", error->message);
      if (m15_path)
        g_unlink (m15_path);
      if (dir)
        g_rmdir (dir);
      return 1;
    }
  }
  bench_model ("stories15M shape, random weights", m15, t15, m15_path,
      t15_path, steps, nocache_steps, repeat, threads, llama2c);
  if (dir != NULL) {
    g_unlink (m15_path);
    g_unlink (t15_path);
    g_rmdir (dir);
  }
  return 0;
}
