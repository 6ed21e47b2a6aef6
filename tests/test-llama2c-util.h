/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-llama2c-util.h — tiny llama2.c files made in memory, in the legacy
 * export's layout (models/transformer/ar-llama2c.h), for test-llama2c and
 * the fuzzer's seeds (tests/fuzz/gen-llama2c-seeds.c), so that neither
 * needs the shared stories260K data. */
#pragma once

#include <glib.h>
#include <string.h>

/* A checkpoint for header @h (dim, hidden_dim, n_layers, n_heads,
 * n_kv_heads, vocab_size — negative with a separate classifier —,
 * seq_len): every float of the tensors and the RoPE tables pseudo-random
 * in [-@scale / 2, @scale / 2), drawn from @seed. */
static inline GBytes *
llama2c_checkpoint (const gint32 *h, guint32 seed, float scale)
{
  guint64 D = h[0], F = h[1], L = h[2], hs = D / h[3], KV = h[4] * hs;
  guint64 V = ABS (h[5]);
  guint64 n = V * D + 2 * L * D + 2 * L * D * D + 2 * L * KV * D +
      3 * L * D * F + D + 2 * (h[6] * hs / 2) + (h[5] < 0 ? V * D : 0);
  GByteArray *b = g_byte_array_new ();
  guint32 x = seed;

  g_byte_array_append (b, (const guint8 *) h, 7 * 4);
  for (guint64 i = 0; i < n; i++) {
    float f;

    x = x * 1664525u + 1013904223u;
    f = ((x >> 8) / 16777216.0f - 0.5f) * scale;
    g_byte_array_append (b, (const guint8 *) &f, 4);
  }
  return g_byte_array_free_to_bytes (b);
}

/* A tokenizer of the first @n of @pieces (ids 0, 1, 2 being <unk>, <s>
 * and </s>, as llama2.c writes them): scores 0 for those three, then
 * falling with the id as SentencePiece's do. */
static inline GBytes *
llama2c_tokenizer (const char *const *pieces, guint n)
{
  GByteArray *b = g_byte_array_new ();
  guint32 max_len = 0;

  for (guint i = 0; i < n; i++)
    max_len = MAX (max_len, strlen (pieces[i]));
  g_byte_array_append (b, (const guint8 *) &max_len, 4);
  for (guint i = 0; i < n; i++) {
    float score = i < 3 ? 0.0f : -(float) i;
    gint32 len = strlen (pieces[i]);

    g_byte_array_append (b, (const guint8 *) &score, 4);
    g_byte_array_append (b, (const guint8 *) &len, 4);
    g_byte_array_append (b, (const guint8 *) pieces[i], len);
  }
  return g_byte_array_free_to_bytes (b);
}
