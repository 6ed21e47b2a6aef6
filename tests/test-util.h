/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-util.h — small models made on the spot for tests (header-only). */
#pragma once

#include <string.h>
#include "rnn/ar-rnn.h"
#include "text/ar-text.h"

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
