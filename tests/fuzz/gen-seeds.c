/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gen-seeds.c — writes the seed corpus for fuzz-gguf: small valid GGUF files
 * that between them use every metadata value type, every tensor type, 1 to 4
 * dimensions and a non-default alignment, so that mutations start from
 * inputs that reach deep into the reader.
 *
 * Usage: gen-seeds DIR   (run by run-fuzz.sh) */
#include <errno.h>
#include <math.h>
#include <string.h>

#include <glib/gstdio.h>

#include "core/ar-gguf.h"

static gboolean
save (const char *dir, const char *name, GBytes *bytes, GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);

  return g_file_set_contents (path, g_bytes_get_data (bytes, NULL),
      g_bytes_get_size (bytes), error);
}

static GBytes *
model_seed (void)
{
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  static const char *const tokens[] = { "\n", " ", "a", "b", "é" };
  static const float scores[] = { 0.0f, -1.0f, 2.5f };
  static const gint32 ids[] = { -1, 0, 1 };
  static const guint64 sizes[] = { 1, 2, 3 };
  static const guint64 ne1[1] = { 8 }, ne2[2] = { 32, 2 };
  static const guint64 ne3[3] = { 4, 3, 2 }, ne4[4] = { 2, 2, 2, 2 };
  float x[64];

  for (int i = 0; i < 64; i++)
    x[i] = sinf (i * 0.7f) * (i % 5);
  ar_gguf_writer_set_string (w, "general.architecture", "rnn");
  ar_gguf_writer_set_u32 (w, "rnn.hidden_size", 8);
  ar_gguf_writer_set_i32 (w, "rnn.offset", -2);
  ar_gguf_writer_set_u64 (w, "rnn.context", 4096);
  ar_gguf_writer_set_f32 (w, "rnn.eps", 1e-5f);
  ar_gguf_writer_set_bool (w, "rnn.flag", TRUE);
  ar_gguf_writer_set_string_array (w, "tokenizer.ggml.tokens", tokens, NULL,
      G_N_ELEMENTS (tokens));
  ar_gguf_writer_set_f32_array (w, "t.scores", scores, 3);
  ar_gguf_writer_set_i32_array (w, "t.ids", ids, 3);
  ar_gguf_writer_set_u64_array (w, "t.sizes", sizes, 3);
  ar_gguf_writer_add_tensor_f32 (w, "a", AR_TENSOR_F32, 1, ne1, x);
  ar_gguf_writer_add_tensor_f32 (w, "b", AR_TENSOR_F16, 3, ne3, x);
  ar_gguf_writer_add_tensor_f32 (w, "c", AR_TENSOR_Q8_0, 2, ne2, x);
  ar_gguf_writer_add_tensor_f32 (w, "d", AR_TENSOR_F32, 4, ne4, x);
  ar_gguf_writer_add_tensor_f32 (w, "e", AR_TENSOR_Q4_0, 2, ne2, x);
  return ar_gguf_writer_to_bytes (w);
}

static GBytes *
keys_only_seed (void)
{
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  static const char *const bytes[] = { "\0", "\xff", "ab" };
  static const gsize lengths[] = { 1, 1, 2 };

  ar_gguf_writer_set_string (w, "general.name", "keys only");
  ar_gguf_writer_set_string_array (w, "tokenizer.ggml.tokens", bytes, lengths,
      3);
  return ar_gguf_writer_to_bytes (w);
}

/* Types the writer has no setter for, and alignment 64, built by hand. */
static void
put (GByteArray *b, const void *p, gsize n)
{
  g_byte_array_append (b, p, n);
}

static void
put_u32 (GByteArray *b, guint32 v)
{
  v = GUINT32_TO_LE (v);
  put (b, &v, 4);
}

static void
put_u64 (GByteArray *b, guint64 v)
{
  v = GUINT64_TO_LE (v);
  put (b, &v, 8);
}

static void
put_key (GByteArray *b, const char *key, guint32 type)
{
  put_u64 (b, strlen (key));
  put (b, key, strlen (key));
  put_u32 (b, type);
}

static GBytes *
all_types_seed (void)
{
  GByteArray *b = g_byte_array_new ();
  static const guint8 u8s[2] = { 1, 0 };
  const double d = 0.25;
  const float one = 1.0f;

  put (b, "GGUF", 4);
  put_u32 (b, 3);
  put_u64 (b, 1); /* tensors */
  put_u64 (b, 8); /* keys */
  put_key (b, "u8", AR_GGUF_TYPE_UINT8);
  put (b, u8s, 1);
  put_key (b, "i16", AR_GGUF_TYPE_INT16);
  put (b, "\xfe\xff", 2);
  put_key (b, "i64", AR_GGUF_TYPE_INT64);
  put_u64 (b, (guint64) -5);
  put_key (b, "f64", AR_GGUF_TYPE_FLOAT64);
  put (b, &d, 8);
  put_key (b, "bools", AR_GGUF_TYPE_ARRAY);
  put_u32 (b, AR_GGUF_TYPE_BOOL);
  put_u64 (b, 2);
  put (b, u8s, 2);
  put_key (b, "f64s", AR_GGUF_TYPE_ARRAY);
  put_u32 (b, AR_GGUF_TYPE_FLOAT64);
  put_u64 (b, 1);
  put (b, &d, 8);
  put_key (b, "i8s", AR_GGUF_TYPE_ARRAY);
  put_u32 (b, AR_GGUF_TYPE_INT8);
  put_u64 (b, 2);
  put (b, "\x80\x7f", 2);
  put_key (b, "general.alignment", AR_GGUF_TYPE_UINT32);
  put_u32 (b, 64);
  /* tensor "w": F32 { 4 } at offset 0 */
  put_u64 (b, 1);
  put (b, "w", 1);
  put_u32 (b, 1);
  put_u64 (b, 4);
  put_u32 (b, AR_TENSOR_F32);
  put_u64 (b, 0);
  while (b->len % 64)
    g_byte_array_append (b, (const guint8 *) "", 1);
  for (int i = 0; i < 4; i++)
    put (b, &one, 4);
  return g_byte_array_free_to_bytes (b);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (ArGgufWriter) empty = ar_gguf_writer_new ();
  g_autoptr (GBytes) s1 = NULL, s2 = NULL, s3 = NULL, s4 = NULL;

  if (argc != 2) {
    g_printerr ("usage: %s DIR\n", argv[0]);
    return 2;
  }
  if (g_mkdir_with_parents (argv[1], 0755) != 0) {
    g_printerr ("%s: cannot create: %s\n", argv[1], g_strerror (errno));
    return 1;
  }
  s1 = model_seed ();
  s2 = keys_only_seed ();
  s3 = all_types_seed ();
  s4 = ar_gguf_writer_to_bytes (empty);
  if (!save (argv[1], "model.gguf", s1, &error) ||
      !save (argv[1], "keys.gguf", s2, &error) ||
      !save (argv[1], "all-types.gguf", s3, &error) ||
      !save (argv[1], "empty.gguf", s4, &error)) {
    g_printerr ("%s\n", error->message);
    return 1;
  }
  return 0;
}
