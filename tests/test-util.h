/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-util.h — small models made on the spot for tests, and what a
 * model's output should be, computed by hand (header-only). */
#pragma once

#include <string.h>
#include "data/ar-audio.h"
#include "rnn/ar-rnn.h"
#include "text/ar-text.h"

/* A WaveNet's decode of the classes @y (n) by hand, as
 * ar_wavenet_gen_decode documents it: the model µ-law, the de-emphasis
 * s_t = decoded + @alpha s_{t−1} (alpha 0: none), the output high-pass at
 * @highpass Hz for @rate (0: none) on the unclipped signal, then the clip. */
static inline G_GNUC_UNUSED void
test_decode_by_hand (const guint8 *y, gsize n, float alpha, float highpass,
    int rate, float *out)
{
  ArHighpass hp;
  float s = 0.0f;

  if (highpass > 0)
    ar_highpass_init (&hp, highpass, rate);
  for (gsize i = 0; i < n; i++) {
    s = ar_mulaw_decode (y[i]) + alpha * s;
    out[i] = s;
    if (highpass > 0)
      ar_highpass_run (&hp, &out[i], 1);
    out[i] = CLAMP (out[i], -1.0f, 1.0f);
  }
}

/* The text model of GGUF @bytes (asserted to load). */
static inline G_GNUC_UNUSED ArTextModel *
test_text_model_from_bytes (GBytes *bytes)
{
  GError *error = NULL;
  ArTextModel *m = ar_text_model_new_from_bytes (bytes, "m.gguf", &error);
  g_assert_no_error (error);
  return m;
}

/* A randomly initialised RNN text model over the characters of @alphabet,
 * as the bytes of a GGUF file. */
static inline GBytes *
test_make_rnn_bytes (ArCellType cell, guint layers, guint embd, guint hidden,
    const char *alphabet, guint64 seed)
{
  g_autoptr (ArVocab) vocab = ar_vocab_new_chars (alphabet, strlen (alphabet), NULL);
  g_assert_nonnull (vocab);
  ArRnnConfig config = { cell, layers, embd, hidden, ar_vocab_get_size (vocab) };
  g_autoptr (ArRnnTrain) net = ar_rnn_train_new (&config, 4, 1);
  ArRng rng;
  ar_rng_init (&rng, seed);
  ar_rnn_train_init (net, &rng);
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  ar_rnn_train_write (net, w);
  ar_vocab_write_gguf (vocab, w);
  return ar_gguf_writer_to_bytes (w);
}

/* Two parameter lists hold bit-identical weights and AdamW moments (the
 * check that a resumed or re-run training ended where another did). */
static inline void
test_assert_same_params (GPtrArray *pa, GPtrArray *pb)
{
  g_assert_cmpuint (pa->len, ==, pb->len);
  for (guint i = 0; i < pa->len; i++) {
    ArParam *x = g_ptr_array_index (pa, i), *y = g_ptr_array_index (pb, i);
    g_assert_cmpmem (x->w, x->n * sizeof (float), y->w, y->n * sizeof (float));
    g_assert_cmpmem (x->m, x->n * sizeof (float), y->m, y->n * sizeof (float));
    g_assert_cmpmem (x->v, x->n * sizeof (float), y->v, y->n * sizeof (float));
  }
}

/* Seconds libargen takes to feed the first @n characters of @text to the
 * text model in @path: what an element's own reading of them costs on this
 * machine, under this build (ASan, valgrind) and load — the yardstick of
 * the text elements' interruption tests. */
static inline G_GNUC_UNUSED gdouble
test_text_feed_seconds (const gchar *path, const gchar *text, gsize n)
{
  GError *error = NULL;
  ArTextModel *model;
  ArTextGen *gen;
  gint64 t0;
  gdouble seconds;

  model = ar_text_model_new_from_file (path, &error);
  g_assert_no_error (error);
  gen = ar_text_gen_new (model);
  ar_text_gen_reset (gen, 1);
  ar_text_gen_feed (gen, text, 8); /* warm the caches up */
  t0 = g_get_monotonic_time ();
  ar_text_gen_feed (gen, text, n);
  seconds = (g_get_monotonic_time () - t0) / (gdouble) G_USEC_PER_SEC;
  ar_text_gen_free (gen);
  ar_text_model_unref (model);
  return seconds;
}
