/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz-gguf.c — libFuzzer harness for the GGUF reader.
 *
 * Each input is parsed with ar_gguf_new_from_bytes().  When it is accepted,
 * everything the reader promised is exercised: every key rendered and read
 * with the getter for its type, every tensor looked up, checked with
 * ar_gguf_require_tensor() and (when small) converted to F32.  Then the file
 * goes through the writer (copy_kv + add_tensor_raw) and must read back with
 * the same metadata and tensor bytes: a file the reader accepts is one the
 * writer can reproduce.  GLib criticals and warnings are made fatal, so a
 * g_return_if_fail reached from file data counts as a crash.
 *
 * Built and run by run-fuzz.sh (clang -fsanitize=fuzzer,address,undefined). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/ar-gguf.h"

#define FUZZ_NAME "fuzz-gguf"
#include "fuzz-common.h"

/* Tensors up to this many elements are converted to F32. */
#define MAX_CONVERT (1 << 16)

static void
walk_keys (const ArGguf *g)
{
  for (guint i = 0; i < ar_gguf_get_n_kv (g); i++) {
    const char *key = ar_gguf_get_key (g, i);
    g_autofree char *shown = ar_gguf_format_value (g, i);
    g_autoptr (GError) error = NULL;
    guint32 u32;
    gint32 i32;
    guint64 u64, n;
    float f;
    gboolean b;
    const char *s;
    const char *const *strs;
    const gsize *lens;
    const float *fv;
    const gint32 *iv;
    const guint64 *uv;

    CHECK (key != NULL && shown != NULL);
    CHECK (ar_gguf_has_key (g, key));
    CHECK (g_utf8_validate (shown, -1, NULL));

    /* Every getter on every key: each either succeeds or sets an error. */
#define TRY(call)                                                              \
  do {                                                                         \
    gboolean ok_ = (call);                                                     \
    CHECK (ok_ == (error == NULL));                                            \
    g_clear_error (&error);                                                    \
  } while (0)
    TRY (ar_gguf_get_u32 (g, key, &u32, &error));
    TRY (ar_gguf_get_i32 (g, key, &i32, &error));
    TRY (ar_gguf_get_u64 (g, key, &u64, &error));
    TRY (ar_gguf_get_f32 (g, key, &f, &error));
    TRY (ar_gguf_get_bool (g, key, &b, &error));
    TRY (ar_gguf_get_string (g, key, &s, &error));
    TRY (ar_gguf_get_f32_array (g, key, &fv, &n, &error));
    TRY (ar_gguf_get_i32_array (g, key, &iv, &n, &error));
    TRY (ar_gguf_get_u64_array (g, key, &uv, &n, &error));
#undef TRY

    if (ar_gguf_get_string (g, key, &s, NULL))
      CHECK (strlen (s) < ar_gguf_get_size (g));
    if (ar_gguf_get_kv_type (g, i) == AR_GGUF_TYPE_ARRAY) {
      guint64 len = ar_gguf_get_array_length (g, i);

      if (ar_gguf_get_array_type (g, i) == AR_GGUF_TYPE_STRING) {
        CHECK (ar_gguf_get_string_array (g, key, &strs, &lens, &n, NULL));
        CHECK (n == len);
        for (guint64 j = 0; j < n; j++)
          CHECK (strs[j][lens[j]] == '\0');
      }
    }
  }
}

static volatile float sink;

static void
walk_tensors (const ArGguf *g)
{
  for (guint i = 0; i < ar_gguf_get_n_tensors (g); i++) {
    const ArGgufTensor *t = ar_gguf_get_tensor (g, i);
    g_autoptr (GError) error = NULL;
    const ArGgufTensor *r;

    CHECK (ar_gguf_find_tensor (g, t->name) == t);
    CHECK (t->n_dims >= 1 && t->n_dims <= AR_GGUF_MAX_DIMS);
    CHECK (t->nbytes <= ar_gguf_get_size (g));
    CHECK ((guintptr) t->data % 8 == 0);
    r = ar_gguf_require_tensor (g, t->name, t->n_dims, t->ne, &error);
    CHECK ((r == t) == (error == NULL));

    if (t->n_elements <= MAX_CONVERT) {
      float *y = g_new (float, t->n_elements);
      float sum = 0;

      ar_gguf_tensor_to_f32 (t, y);
      for (guint64 j = 0; j < t->n_elements; j++)
        sum += y[j];
      sink = sum; /* every converted value is read */
      g_free (y);
    }
  }
}

/* Through the writer and back: the same keys, values and tensors. */
static void
round_trip (const ArGguf *g)
{
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (ArGguf) g2 = NULL;
  g_autoptr (GError) error = NULL;
  guint j = 0;

  ar_gguf_writer_copy_kv (w, g);
  for (guint i = 0; i < ar_gguf_get_n_tensors (g); i++) {
    const ArGgufTensor *t = ar_gguf_get_tensor (g, i);
    ar_gguf_writer_add_tensor_raw (w, t->name, t->type, t->n_dims, t->ne,
        t->data, t->nbytes);
  }
  bytes = ar_gguf_writer_to_bytes (w);
  g2 = ar_gguf_new_from_bytes (bytes, "round-trip.gguf", &error);
  if (!g2)
    g_printerr ("fuzz-gguf: %s\n", error->message);
  CHECK (g2 != NULL);

  for (guint i = 0; i < ar_gguf_get_n_kv (g); i++) {
    g_autofree char *a = NULL;
    g_autofree char *b = NULL;

    if (strcmp (ar_gguf_get_key (g, i), "general.alignment") == 0)
      continue;
    CHECK (strcmp (ar_gguf_get_key (g, i), ar_gguf_get_key (g2, j)) == 0);
    a = ar_gguf_format_value (g, i);
    b = ar_gguf_format_value (g2, j);
    CHECK (strcmp (a, b) == 0);
    j++;
  }
  CHECK (ar_gguf_get_n_tensors (g2) == ar_gguf_get_n_tensors (g));
  for (guint i = 0; i < ar_gguf_get_n_tensors (g); i++) {
    const ArGgufTensor *t = ar_gguf_get_tensor (g, i);
    const ArGgufTensor *t2 = ar_gguf_get_tensor (g2, i);

    CHECK (strcmp (t->name, t2->name) == 0 && t->type == t2->type);
    CHECK (memcmp (t->ne, t2->ne, sizeof t->ne) == 0);
    CHECK (t->nbytes == t2->nbytes);
    CHECK (memcmp (t->data, t2->data, t->nbytes) == 0);
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* Static bytes: the input buffer itself, so ASan sees any read past it. */
  g_autoptr (GBytes) bytes = g_bytes_new_static (data, size);
  g_autoptr (GError) error = NULL;
  g_autoptr (ArGguf) g = ar_gguf_new_from_bytes (bytes, "fuzz.gguf", &error);

  if (!g) {
    CHECK (error != NULL && error->domain == AR_ERROR);
    CHECK (g_str_has_prefix (error->message, "fuzz.gguf: "));
    CHECK (g_utf8_validate (error->message, -1, NULL));
    return 0;
  }
  CHECK (error == NULL);
  walk_keys (g);
  walk_tensors (g);
  round_trip (g);
  return 0;
}
