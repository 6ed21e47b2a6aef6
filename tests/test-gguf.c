/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-gguf.c — the GGUF reader and writer and half-precision conversion.
 *
 * Files here are built two ways: with ArGgufWriter, and byte by byte with
 * the small builder below (written from the format description in
 * ar-gguf.h, independently of ar-gguf.c), so that the writer's layout is
 * checked against the format rather than against the reader, and so that
 * malformed files can be made exactly.  Every malformed file must fail with
 * the right AR_ERROR code and a message that starts with the file's name.
 *
 * Error budgets, with d = max|x| / 127 the Q8_0 block scale:
 * - F16: |x' - x| <= 2^-11 |x| (half an ulp of an 11-bit significand), or
 *   2^-25 in the subnormal range (half the smallest subnormal);
 * - Q8_0: |x' - x| <= 0.57 d — 0.5 d from rounding q to an integer plus
 *   127 |d16 - d| <= 127 * 2^-11 d = 0.062 d from storing d as f16;
 *   normalized MSE on Gaussian data below 1e-4 (theory: about 4e-5).
 * - Q4_0, with d = m / -8 (m the block's value of largest magnitude):
 *   |x' - x| <= 0.5 |d| + 8 * 2^-11 |d| (rounding to a code, storing d as
 *   f16), except within half a step of -m, where the top code 7 d stands
 *   for 8 d: there |d| + 8 * 2^-11 |d|; normalized MSE on Gaussian data
 *   below 1.5e-2 (theory for a uniform error of one step over a block's
 *   range, about 2.4 sigma: (2.4 / 8)^2 / 12 = 7.5e-3). */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "core/ar-gguf.h"

/* ---- a byte-level GGUF builder ------------------------------------------ */

static void
b_bytes (GByteArray *b, const void *p, gsize n)
{
  g_byte_array_append (b, p, n);
}

static void
b_u8 (GByteArray *b, guint8 v)
{
  b_bytes (b, &v, 1);
}

static void
b_u16 (GByteArray *b, guint16 v)
{
  v = GUINT16_TO_LE (v);
  b_bytes (b, &v, 2);
}

static void
b_u32 (GByteArray *b, guint32 v)
{
  v = GUINT32_TO_LE (v);
  b_bytes (b, &v, 4);
}

static void
b_u64 (GByteArray *b, guint64 v)
{
  v = GUINT64_TO_LE (v);
  b_bytes (b, &v, 8);
}

static void
b_f32 (GByteArray *b, float f)
{
  guint32 u;

  memcpy (&u, &f, 4);
  b_u32 (b, u);
}

static void
b_f64 (GByteArray *b, double f)
{
  guint64 u;

  memcpy (&u, &f, 8);
  b_u64 (b, u);
}

static void
b_strn (GByteArray *b, const char *s, gsize n)
{
  b_u64 (b, n);
  b_bytes (b, s, n);
}

static void
b_str (GByteArray *b, const char *s)
{
  b_strn (b, s, strlen (s));
}

static GByteArray *
b_new (guint32 version, guint64 n_tensors, guint64 n_kv)
{
  GByteArray *b = g_byte_array_new ();

  b_bytes (b, "GGUF", 4);
  b_u32 (b, version);
  b_u64 (b, n_tensors);
  b_u64 (b, n_kv);
  return b;
}

static void
b_kv_u32 (GByteArray *b, const char *key, guint32 v)
{
  b_str (b, key);
  b_u32 (b, AR_GGUF_TYPE_UINT32);
  b_u32 (b, v);
}

static void
b_kv_str (GByteArray *b, const char *key, const char *s)
{
  b_str (b, key);
  b_u32 (b, AR_GGUF_TYPE_STRING);
  b_str (b, s);
}

static void
b_tensor (GByteArray *b, const char *name, guint32 n_dims, const guint64 *ne,
    guint32 type, guint64 offset)
{
  b_str (b, name);
  b_u32 (b, n_dims);
  for (guint d = 0; d < n_dims; d++)
    b_u64 (b, ne[d]);
  b_u32 (b, type);
  b_u64 (b, offset);
}

static void
b_pad (GByteArray *b, guint align)
{
  while (b->len % align)
    b_u8 (b, 0);
}

static void
b_zeros (GByteArray *b, gsize n)
{
  for (gsize i = 0; i < n; i++)
    b_u8 (b, 0);
}

static GBytes *
b_finish (GByteArray *b)
{
  return g_byte_array_free_to_bytes (b);
}

/* ---- helpers -------------------------------------------------------------- */

/* Loads @bytes (taken) as "bad.gguf" and checks it fails with @code, a
 * message that names the file and contains @fragment. */
static void
expect_error (GBytes *bytes, gint code, const char *fragment)
{
  g_autoptr (GError) error = NULL;
  ArGguf *g = ar_gguf_new_from_bytes (bytes, "bad.gguf", &error);

  g_assert_null (g);
  g_assert_error (error, AR_ERROR, code);
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, "bad.gguf: "));
  if (fragment && !strstr (error->message, fragment))
    g_error ("message \"%s\" does not contain \"%s\"", error->message,
        fragment);
  g_bytes_unref (bytes);
}

static ArGguf *
load_bytes (GBytes *bytes)
{
  g_autoptr (GError) error = NULL;
  ArGguf *g = ar_gguf_new_from_bytes (bytes, "test.gguf", &error);

  g_assert_no_error (error);
  g_assert_nonnull (g);
  return g;
}

static void
assert_contains (const char *haystack, const char *needle)
{
  if (!strstr (haystack, needle))
    g_error ("\"%s\" does not contain \"%s\"", haystack, needle);
}

static char *
format_key (const ArGguf *g, const char *key)
{
  for (guint i = 0; i < ar_gguf_get_n_kv (g); i++)
    if (strcmp (ar_gguf_get_key (g, i), key) == 0)
      return ar_gguf_format_value (g, i);
  g_error ("no key %s", key);
  return NULL;
}

static void
assert_format (const ArGguf *g, const char *key, const char *expected)
{
  g_autofree char *s = format_key (g, key);

  g_assert_cmpstr (s, ==, expected);
}

/* Offset of the last occurrence of @needle in @p, or -1. */
static gssize
find_last (const guint8 *p, gsize n, const void *needle, gsize m)
{
  for (gssize i = (gssize) n - (gssize) m; i >= 0; i--)
    if (memcmp (p + i, needle, m) == 0)
      return i;
  return -1;
}

static float
gaussian (GRand *r)
{
  double u1 = g_rand_double_range (r, 1e-12, 1.0);
  double u2 = g_rand_double (r);

  return (float) (sqrt (-2.0 * log (u1)) * cos (2.0 * G_PI * u2));
}

/* A small valid file (about 3.5 KB): every kind of key the writer can set and
 * one tensor of each type. */
static GBytes *
make_small_file (void)
{
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  static const char *const tokens[] = { "a", "b", "\n", "é", "" };
  static const float fa[] = { 1.0f, 2.5f, -3.0f };
  static const gint32 ia[] = { -1, 0, 7 };
  static const guint64 ua[] = { 1, G_GUINT64_CONSTANT (1) << 40 };
  static const guint64 ne_a[2] = { 32, 16 }, ne_b[2] = { 16, 3 };
  static const guint64 ne_c[2] = { 64, 4 };
  float data[512];

  for (int i = 0; i < 512; i++)
    data[i] = sinf (i * 0.37f) * (1.0f + i % 7);

  ar_gguf_writer_set_string (w, "general.architecture", "test");
  ar_gguf_writer_set_u32 (w, "test.hidden_size", 512);
  ar_gguf_writer_set_i32 (w, "test.offset", -3);
  ar_gguf_writer_set_u64 (w, "test.big", G_GUINT64_CONSTANT (1) << 40);
  ar_gguf_writer_set_f32 (w, "test.eps", 0.1f);
  ar_gguf_writer_set_bool (w, "test.flag", TRUE);
  ar_gguf_writer_set_string_array (w, "tokenizer.ggml.tokens", tokens, NULL,
      G_N_ELEMENTS (tokens));
  ar_gguf_writer_set_f32_array (w, "test.floats", fa, G_N_ELEMENTS (fa));
  ar_gguf_writer_set_i32_array (w, "test.ints", ia, G_N_ELEMENTS (ia));
  ar_gguf_writer_set_u64_array (w, "test.u64s", ua, G_N_ELEMENTS (ua));
  ar_gguf_writer_add_tensor_f32 (w, "a", AR_TENSOR_F32, 2, ne_a, data);
  ar_gguf_writer_add_tensor_f32 (w, "b", AR_TENSOR_F16, 2, ne_b, data);
  ar_gguf_writer_add_tensor_f32 (w, "c", AR_TENSOR_Q8_0, 2, ne_c, data);
  return ar_gguf_writer_to_bytes (w);
}

/* ---- half precision ------------------------------------------------------ */

/* Every half against the definition: (-1)^s 2^(e-15) (1 + m/1024), or
 * 2^-14 m/1024 for e = 0; and back again unchanged (NaNs stay NaN and come
 * back quiet). */
static void
test_f16_exhaustive (void)
{
  for (guint32 h = 0; h < 0x10000; h++) {
    guint32 s = h >> 15, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    float f = ar_f16_to_f32 (h);
    guint16 back = ar_f32_to_f16 (f);

    if (e == 0x1f && m != 0) {
      g_assert_true (isnan (f));
      g_assert_cmphex (back, ==, h | 0x200); /* quiet bit set */
      continue;
    }
    if (e == 0x1f) {
      g_assert_true (isinf (f));
    } else {
      double ref =
          e ? ldexp (1.0 + m / 1024.0, (int) e - 15) : ldexp (m / 1024.0, -14);
      g_assert_cmpfloat ((double) f, ==, s ? -ref : ref);
    }
    g_assert_true ((signbit (f) != 0) == (s != 0));
    g_assert_cmphex (back, ==, h);
  }
}

/* The correctly rounded half of @x, computed in double with rint (round
 * to nearest even, the default mode): an independent reference. */
static double
f16_reference (float x)
{
  double a = fabs ((double) x), ulp, q;
  int e;

  if (a >= 65520.0)
    return copysign (INFINITY, x);
  if (a < 0x1p-14) {
    ulp = 0x1p-24;
  } else {
    frexp (a, &e); /* a = f 2^e, f in [0.5, 1) */
    ulp = ldexp (1.0, e - 1 - 10);
  }
  q = rint (a / ulp) * ulp;
  return copysign (q, x);
}

static void
check_rounding (float x)
{
  double got = ar_f16_to_f32 (ar_f32_to_f16 (x));
  double ref = f16_reference (x);

  if (got != ref || !signbit (got) != !signbit (ref))
    g_error ("f16 (%a) = %a, expected %a", x, got, ref);
}

static void
test_f16_rounding (void)
{
  static const struct
  {
    float x;
    guint16 h;
  } cases[] = {
    { 0.0f, 0x0000 }, { -0.0f, 0x8000 }, { 1.0f, 0x3c00 }, { -2.0f, 0xc000 },
    { 65504.0f, 0x7bff },  /* largest half */
    { 65519.99f, 0x7bff }, /* just below the tie: rounds down */
    { 65520.0f, 0x7c00 },  /* the tie goes to even = 2^16 = inf */
    { 1e9f, 0x7c00 }, { -INFINITY, 0xfc00 },
    { 0x1p-14f, 0x0400 },                   /* smallest normal */
    { 0x1p-14f - 0x1p-25f, 0x0400 },        /* tie 0x3ff / 0x400: to even */
    { 0x1p-24f, 0x0001 },                   /* smallest subnormal */
    { 0x1p-25f, 0x0000 },                   /* tie 0 / 0x0001: to even = 0 */
    { 0x1.000002p-25f, 0x0001 },            /* just above the tie */
    { 1.5f * 0x1p-24f, 0x0002 },            /* tie 1 / 2: to even */
    { 2.5f * 0x1p-24f, 0x0002 },            /* tie 2 / 3: to even */
    { 1.0f + 0x1p-11f, 0x3c00 },            /* tie: to even */
    { 1.0f + 3 * 0x1p-11f, 0x3c02 },        /* tie: to even (up) */
    { 1.0f + 0x1p-11f + 0x1p-20f, 0x3c01 }, /* above the tie */
    { 1.0f - 0x1p-12f, 0x3c00 }, /* tie, to even: carries into the exponent */
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    guint16 h = ar_f32_to_f16 (cases[i].x);
    if (h != cases[i].h)
      g_error ("f16 (%a) = 0x%04x, expected 0x%04x", cases[i].x, h, cases[i].h);
  }
  g_assert_true (isnan (ar_f16_to_f32 (ar_f32_to_f16 (NAN))));

  /* A sweep over all float bit patterns (a prime stride), then a denser one
   * over the subnormal and lowest normal halves, against the reference. */
  for (guint64 u = 0; u < G_GUINT64_CONSTANT (0x100000000); u += 4099) {
    guint32 bits = (guint32) u;
    float x;

    memcpy (&x, &bits, 4);
    if (!isnan (x))
      check_rounding (x);
  }
  for (guint32 bits = 0x33000000u; bits < 0x39000000u; bits += 241) {
    float x;

    memcpy (&x, &bits, 4);
    check_rounding (x);
    check_rounding (-x);
  }
}

/* ---- writer and reader round trips ---------------------------------------- */

/* The writer's bytes for a tiny model, against a file built by hand from
 * the format description: header, keys in order then general.alignment,
 * the tensor descriptor, padding to 32, the data, and nothing after it. */
static void
test_writer_layout (void)
{
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  static const float data[2] = { 1.0f, -2.0f };
  static const guint64 ne[1] = { 2 };
  g_autoptr (GBytes) got = NULL;
  g_autoptr (GBytes) expected = NULL;
  GByteArray *b;

  ar_gguf_writer_set_u32 (w, "a.b", 7);
  ar_gguf_writer_add_tensor_f32 (w, "t", AR_TENSOR_F32, 1, ne, data);
  got = ar_gguf_writer_to_bytes (w);

  b = b_new (3, 1, 2);
  b_kv_u32 (b, "a.b", 7);
  b_kv_u32 (b, "general.alignment", 32);
  b_tensor (b, "t", 1, ne, AR_TENSOR_F32, 0);
  b_pad (b, 32);
  b_f32 (b, 1.0f);
  b_f32 (b, -2.0f);
  expected = b_finish (b);

  g_assert_cmpuint (g_bytes_get_size (got), ==, g_bytes_get_size (expected));
  g_assert_true (g_bytes_equal (got, expected));
}

static void
test_roundtrip_values (void)
{
  g_autoptr (GBytes) bytes = make_small_file ();
  g_autoptr (ArGguf) g = load_bytes (bytes);
  g_autoptr (GError) error = NULL;
  const char *const *strs;
  const gsize *lens;
  const float *fv;
  const gint32 *iv;
  const guint64 *uv;
  const char *s;
  guint64 n, u64;
  guint32 u32;
  gint32 i32;
  float f;
  gboolean b;

  g_assert_cmpstr (ar_gguf_get_name (g), ==, "test.gguf");
  g_assert_cmpuint (ar_gguf_get_size (g), ==, g_bytes_get_size (bytes));
  g_assert_cmpuint (ar_gguf_get_n_kv (g), ==, 11);
  /* Order kept; general.alignment last. */
  g_assert_cmpstr (ar_gguf_get_key (g, 0), ==, "general.architecture");
  g_assert_cmpstr (ar_gguf_get_key (g, 9), ==, "test.u64s");
  g_assert_cmpstr (ar_gguf_get_key (g, 10), ==, "general.alignment");

  g_assert_true (ar_gguf_get_string (g, "general.architecture", &s, &error));
  g_assert_cmpstr (s, ==, "test");
  g_assert_true (ar_gguf_get_u32 (g, "test.hidden_size", &u32, &error));
  g_assert_cmpuint (u32, ==, 512);
  g_assert_true (ar_gguf_get_i32 (g, "test.offset", &i32, &error));
  g_assert_cmpint (i32, ==, -3);
  g_assert_true (ar_gguf_get_u64 (g, "test.big", &u64, &error));
  g_assert_cmpuint (u64, ==, G_GUINT64_CONSTANT (1) << 40);
  g_assert_true (ar_gguf_get_f32 (g, "test.eps", &f, &error));
  g_assert_cmpfloat (f, ==, 0.1f);
  g_assert_true (ar_gguf_get_bool (g, "test.flag", &b, &error));
  g_assert_true (b);
  g_assert_true (ar_gguf_get_u32 (g, "general.alignment", &u32, &error));
  g_assert_cmpuint (u32, ==, 32);
  g_assert_no_error (error);

  g_assert_true (ar_gguf_get_string_array (g, "tokenizer.ggml.tokens", &strs,
      &lens, &n, &error));
  g_assert_cmpuint (n, ==, 5);
  g_assert_cmpstr (strs[2], ==, "\n");
  g_assert_cmpstr (strs[3], ==, "é");
  g_assert_cmpuint (lens[3], ==, 2);
  g_assert_cmpstr (strs[4], ==, "");
  g_assert_cmpuint (lens[4], ==, 0);
  g_assert_true (ar_gguf_get_f32_array (g, "test.floats", &fv, &n, &error));
  g_assert_cmpuint (n, ==, 3);
  g_assert_cmpfloat (fv[1], ==, 2.5f);
  g_assert_true (ar_gguf_get_i32_array (g, "test.ints", &iv, &n, &error));
  g_assert_cmpuint (n, ==, 3);
  g_assert_cmpint (iv[0], ==, -1);
  g_assert_cmpint (iv[2], ==, 7);
  g_assert_true (ar_gguf_get_u64_array (g, "test.u64s", &uv, &n, &error));
  g_assert_cmpuint (uv[1], ==, G_GUINT64_CONSTANT (1) << 40);
  g_assert_no_error (error);

  g_assert_cmpint (ar_gguf_get_kv_type (g, 6), ==, AR_GGUF_TYPE_ARRAY);
  g_assert_cmpint (ar_gguf_get_array_type (g, 6), ==, AR_GGUF_TYPE_STRING);
  g_assert_cmpuint (ar_gguf_get_array_length (g, 6), ==, 5);
  g_assert_true (ar_gguf_has_key (g, "test.flag"));
  g_assert_false (ar_gguf_has_key (g, "test.nope"));

  assert_format (g, "general.architecture", "\"test\"");
  assert_format (g, "test.hidden_size", "512");
  assert_format (g, "test.offset", "-3");
  assert_format (g, "test.eps", "0.1");
  assert_format (g, "test.flag", "true");
  assert_format (g, "test.floats", "[1, 2.5, -3]");
  assert_format (g, "tokenizer.ggml.tokens",
      "[\"a\", \"b\", \"\\n\", \"é\", \"\"]");
}

/* Setting a key again replaces its value in place; string arrays with
 * explicit lengths keep NUL bytes; long arrays are summarised; non-finite
 * floats are refused by the getter. */
static void
test_writer_keys (void)
{
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  static const char *const bytes_tokens[] = { "\0", "x\0y" };
  static const gsize lengths[] = { 1, 3 };
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (ArGguf) g = NULL;
  g_autoptr (GError) error = NULL;
  const char *const *strs;
  const gsize *lens;
  const char *many[65];
  const gint32 *iv;
  guint64 n;
  guint32 u;
  float f;

  for (int i = 0; i < 65; i++)
    many[i] = "t";
  ar_gguf_writer_set_u32 (w, "k.a", 1);
  ar_gguf_writer_set_u32 (w, "k.b", 2);
  ar_gguf_writer_set_string (w, "k.a", "quote\" back\\ tab\t bell\x07");
  ar_gguf_writer_set_string_array (w, "k.bytes", bytes_tokens, lengths, 2);
  ar_gguf_writer_set_string_array (w, "k.many", many, NULL, 65);
  ar_gguf_writer_set_f32 (w, "k.nan", NAN);
  ar_gguf_writer_set_f32_array (w, "k.empty", NULL, 0);
  bytes = ar_gguf_writer_to_bytes (w);
  g = load_bytes (bytes);

  g_assert_cmpuint (ar_gguf_get_n_kv (g), ==, 7);
  g_assert_cmpstr (ar_gguf_get_key (g, 0), ==, "k.a");
  g_assert_cmpstr (ar_gguf_get_key (g, 1), ==, "k.b");
  g_assert_cmpint (ar_gguf_get_kv_type (g, 0), ==, AR_GGUF_TYPE_STRING);
  assert_format (g, "k.a", "\"quote\\\" back\\\\ tab\\t bell\\x07\"");
  assert_format (g, "k.bytes", "[\"\\x00\", \"x\\x00y\"]");
  assert_format (g, "k.many", "[65 strings]");
  assert_format (g, "k.empty", "[]");

  g_assert_true (ar_gguf_get_string_array (g, "k.bytes", &strs, &lens, &n,
      &error));
  g_assert_cmpuint (lens[0], ==, 1);
  g_assert_cmpuint (lens[1], ==, 3);
  g_assert_cmpmem (strs[1], 4, "x\0y", 4); /* with the terminator */

  g_assert_false (ar_gguf_get_f32 (g, "k.nan", &f, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  assert_contains (error->message, "test.gguf: key 'k.nan'");
  g_clear_error (&error);

  g_assert_false (ar_gguf_get_u32 (g, "k.a", &u, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  assert_contains (error->message, "has type string, expected an integer");
  g_clear_error (&error);

  g_assert_false (ar_gguf_get_u32 (g, "k.missing", &u, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  g_assert_cmpstr (error->message, ==, "test.gguf: key 'k.missing' is missing");
  g_clear_error (&error);

  g_assert_false (ar_gguf_get_i32_array (g, "k.bytes", &iv, &n, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  assert_contains (error->message,
      "has type array of string, expected array of int32");
}

/* A hand-built file with every value type, scalar and array: what the
 * getters accept, how values render, and copy_kv carrying them all. */
static GBytes *
make_all_types_file (void)
{
  GByteArray *b = b_new (3, 0, 24);

  b_str (b, "t.u8");
  b_u32 (b, AR_GGUF_TYPE_UINT8);
  b_u8 (b, 200);
  b_str (b, "t.i8");
  b_u32 (b, AR_GGUF_TYPE_INT8);
  b_u8 (b, (guint8) -100);
  b_str (b, "t.u16");
  b_u32 (b, AR_GGUF_TYPE_UINT16);
  b_u16 (b, 60000);
  b_str (b, "t.i16");
  b_u32 (b, AR_GGUF_TYPE_INT16);
  b_u16 (b, (guint16) -30000);
  b_kv_u32 (b, "t.u32", 4000000000u);
  b_str (b, "t.i32");
  b_u32 (b, AR_GGUF_TYPE_INT32);
  b_u32 (b, (guint32) -2000000000);
  b_str (b, "t.f32");
  b_u32 (b, AR_GGUF_TYPE_FLOAT32);
  b_f32 (b, 1.5f);
  b_str (b, "t.bool");
  b_u32 (b, AR_GGUF_TYPE_BOOL);
  b_u8 (b, 1);
  b_kv_str (b, "t.str", "héllo");
  b_str (b, "t.u64");
  b_u32 (b, AR_GGUF_TYPE_UINT64);
  b_u64 (b, (G_GUINT64_CONSTANT (1) << 63) + 5);
  b_str (b, "t.i64");
  b_u32 (b, AR_GGUF_TYPE_INT64);
  b_u64 (b, (guint64) - (G_GINT64_CONSTANT (1) << 62));
  b_str (b, "t.f64");
  b_u32 (b, AR_GGUF_TYPE_FLOAT64);
  b_f64 (b, 0.1);

  /* Arrays of each scalar type, two elements each. */
  for (guint32 t = 0; t <= AR_GGUF_TYPE_FLOAT64; t++) {
    g_autofree char *key = NULL;

    if (t == AR_GGUF_TYPE_ARRAY)
      continue;
    key = g_strdup_printf ("a.%u", t);
    b_str (b, key);
    b_u32 (b, AR_GGUF_TYPE_ARRAY);
    b_u32 (b, t);
    b_u64 (b, 2);
    for (int j = 0; j < 2; j++)
      switch (t) {
        case AR_GGUF_TYPE_UINT8:
        case AR_GGUF_TYPE_INT8:
        case AR_GGUF_TYPE_BOOL:
          b_u8 (b, j ? 0xff & (t == AR_GGUF_TYPE_BOOL ? 1 : 0xff) : 0);
          break;
        case AR_GGUF_TYPE_UINT16:
        case AR_GGUF_TYPE_INT16:
          b_u16 (b, j ? 0xffff : 1);
          break;
        case AR_GGUF_TYPE_UINT32:
        case AR_GGUF_TYPE_INT32:
          b_u32 (b, j ? 0xffffffffu : 2);
          break;
        case AR_GGUF_TYPE_FLOAT32:
          b_f32 (b, j ? -0.25f : 3.0f);
          break;
        case AR_GGUF_TYPE_STRING:
          b_str (b, j ? "yz" : "x");
          break;
        case AR_GGUF_TYPE_UINT64:
        case AR_GGUF_TYPE_INT64:
          b_u64 (b, j ? G_MAXUINT64 : 3);
          break;
        case AR_GGUF_TYPE_FLOAT64:
          b_f64 (b, j ? 1e300 : 0.5);
          break;
      }
  }
  return b_finish (b);
}

static void
test_all_value_types (void)
{
  static const struct
  {
    const char *key, *shown;
  } shown[] = {
    { "t.u8", "200" },
    { "t.i8", "-100" },
    { "t.u16", "60000" },
    { "t.i16", "-30000" },
    { "t.u32", "4000000000" },
    { "t.i32", "-2000000000" },
    { "t.f32", "1.5" },
    { "t.bool", "true" },
    { "t.str", "\"héllo\"" },
    { "t.u64", "9223372036854775813" },
    { "t.i64", "-4611686018427387904" },
    { "t.f64", "0.1" },
    { "a.0", "[0, 255]" },
    { "a.1", "[0, -1]" },
    { "a.2", "[1, 65535]" },
    { "a.3", "[1, -1]" },
    { "a.4", "[2, 4294967295]" },
    { "a.5", "[2, -1]" },
    { "a.6", "[3, -0.25]" },
    { "a.7", "[false, true]" },
    { "a.8", "[\"x\", \"yz\"]" },
    { "a.10", "[3, 18446744073709551615]" },
    { "a.11", "[3, -1]" },
    { "a.12", "[0.5, 1e+300]" },
  };
  g_autoptr (GBytes) bytes = make_all_types_file ();
  g_autoptr (ArGguf) g = load_bytes (bytes);
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  g_autoptr (GBytes) copied = NULL;
  g_autoptr (ArGguf) g2 = NULL;
  g_autoptr (GError) error = NULL;
  guint32 u32;
  gint32 i32;
  guint64 u64;
  float f;

  g_assert_cmpuint (ar_gguf_get_n_kv (g), ==, G_N_ELEMENTS (shown));
  for (guint i = 0; i < G_N_ELEMENTS (shown); i++)
    assert_format (g, shown[i].key, shown[i].shown);

  /* Integer getters take any integer type whose value fits. */
  g_assert_true (ar_gguf_get_u32 (g, "t.u8", &u32, &error));
  g_assert_cmpuint (u32, ==, 200);
  g_assert_true (ar_gguf_get_i32 (g, "t.i8", &i32, &error));
  g_assert_cmpint (i32, ==, -100);
  g_assert_true (ar_gguf_get_i32 (g, "t.u16", &i32, &error));
  g_assert_cmpint (i32, ==, 60000);
  g_assert_true (ar_gguf_get_i32 (g, "t.i16", &i32, &error));
  g_assert_cmpint (i32, ==, -30000);
  g_assert_true (ar_gguf_get_u64 (g, "t.u32", &u64, &error));
  g_assert_cmpuint (u64, ==, 4000000000u);
  g_assert_true (ar_gguf_get_i32 (g, "t.i32", &i32, &error));
  g_assert_cmpint (i32, ==, -2000000000);
  g_assert_true (ar_gguf_get_u64 (g, "t.u64", &u64, &error));
  g_assert_cmpuint (u64, ==, (G_GUINT64_CONSTANT (1) << 63) + 5);
  g_assert_true (ar_gguf_get_f32 (g, "t.f32", &f, &error));
  g_assert_cmpfloat (f, ==, 1.5f);
  g_assert_true (ar_gguf_get_f32 (g, "t.f64", &f, &error));
  g_assert_cmpfloat (f, ==, 0.1f);
  g_assert_no_error (error);

  /* ... and refuse values that do not fit, naming file, key and value. */
  g_assert_false (ar_gguf_get_i32 (g, "t.u32", &i32, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  g_assert_cmpstr (error->message, ==,
      "test.gguf: key 't.u32' = 4000000000 does not fit in int32");
  g_clear_error (&error);
  g_assert_false (ar_gguf_get_u32 (g, "t.i8", &u32, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  assert_contains (error->message, "= -100 does not fit in uint32");
  g_clear_error (&error);
  g_assert_false (ar_gguf_get_u64 (g, "t.i64", &u64, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  g_clear_error (&error);
  g_assert_false (ar_gguf_get_u32 (g, "t.u64", &u32, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  g_clear_error (&error);
  g_assert_false (ar_gguf_get_f32 (g, "t.u32", &f, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  assert_contains (error->message, "expected float32 or float64");
  g_clear_error (&error);
  g_assert_false (ar_gguf_get_f32 (g, "a.12", &f, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  g_clear_error (&error);

  /* copy_kv carries every type byte for byte. */
  ar_gguf_writer_copy_kv (w, g);
  copied = ar_gguf_writer_to_bytes (w);
  g2 = load_bytes (copied);
  g_assert_cmpuint (ar_gguf_get_n_kv (g2), ==, G_N_ELEMENTS (shown) + 1);
  for (guint i = 0; i < G_N_ELEMENTS (shown); i++)
    assert_format (g2, shown[i].key, shown[i].shown);
}

static void
test_roundtrip_tensors (void)
{
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  g_autoptr (GRand) r = g_rand_new_with_seed (42);
  static const guint64 ne[3] = { 64, 8, 3 };
  const gsize n = 64 * 8 * 3;
  g_autofree float *x = g_new (float, n);
  g_autofree float *y = g_new (float, n);
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (ArGguf) g = NULL;
  g_autoptr (GError) error = NULL;
  const ArGgufTensor *t;
  double err2 = 0, sig2 = 0, worst = 0;

  for (gsize i = 0; i < n; i++)
    x[i] = gaussian (r);
  ar_gguf_writer_add_tensor_f32 (w, "f32", AR_TENSOR_F32, 3, ne, x);
  ar_gguf_writer_add_tensor_f32 (w, "f16", AR_TENSOR_F16, 3, ne, x);
  ar_gguf_writer_add_tensor_f32 (w, "q8", AR_TENSOR_Q8_0, 3, ne, x);
  ar_gguf_writer_add_tensor_f32 (w, "q4", AR_TENSOR_Q4_0, 3, ne, x);
  bytes = ar_gguf_writer_to_bytes (w);
  g = load_bytes (bytes);

  g_assert_cmpuint (ar_gguf_get_n_tensors (g), ==, 4);
  for (guint i = 0; i < 4; i++) {
    t = ar_gguf_get_tensor (g, i);
    g_assert_cmpuint (t->n_dims, ==, 3);
    g_assert_cmpuint (t->ne[2], ==, 3);
    g_assert_cmpuint (t->ne[3], ==, 1);
    g_assert_cmpuint (t->n_elements, ==, n);
    g_assert_cmpuint ((guintptr) t->data % 32, ==, 0);
    g_assert_true (ar_gguf_require_tensor (g, t->name, 3, ne, &error) == t);
    g_assert_no_error (error);
  }

  /* F32: exact. */
  t = ar_gguf_find_tensor (g, "f32");
  g_assert_cmpint (t->type, ==, AR_TENSOR_F32);
  g_assert_cmpuint (t->nbytes, ==, n * 4);
  ar_gguf_tensor_to_f32 (t, y);
  g_assert_cmpmem (y, n * 4, x, n * 4);

  /* F16: within half an ulp. */
  t = ar_gguf_find_tensor (g, "f16");
  g_assert_cmpint (t->type, ==, AR_TENSOR_F16);
  g_assert_cmpuint (t->nbytes, ==, n * 2);
  ar_gguf_tensor_to_f32 (t, y);
  for (gsize i = 0; i < n; i++) {
    double e = fabs ((double) y[i] - x[i]);
    g_assert_cmpfloat (e, <=, MAX (ldexp (fabs (x[i]), -11), 0x1p-25));
    err2 += e * e;
    sig2 += (double) x[i] * x[i];
  }
  g_test_message ("F16 normalized MSE %.3g", err2 / sig2);
  g_assert_cmpfloat (err2 / sig2, <, 1e-6);

  /* Q8_0: ggml's block layout and the error budget above. */
  t = ar_gguf_find_tensor (g, "q8");
  g_assert_cmpint (t->type, ==, AR_TENSOR_Q8_0);
  g_assert_cmpuint (t->nbytes, ==, n / 32 * 34);
  ar_gguf_tensor_to_f32 (t, y);
  err2 = 0;
  for (gsize k = 0; k < n / 32; k++) {
    const guint8 *block = (const guint8 *) t->data + k * 34;
    const gint8 *q = (const gint8 *) (block + 2);
    float amax = 0, d;
    guint16 dh;

    for (int j = 0; j < 32; j++)
      amax = MAX (amax, fabsf (x[k * 32 + j]));
    d = amax / 127;
    memcpy (&dh, block, 2);
    g_assert_cmphex (dh, ==, ar_f32_to_f16 (d));
    for (int j = 0; j < 32; j++) {
      double exact = x[k * 32 + j] / d;
      double e = fabs ((double) y[k * 32 + j] - x[k * 32 + j]);

      /* q is round (x / d) (away from a tie, where x * (1/d) may differ). */
      if (fabs (fabs (exact - floor (exact)) - 0.5) > 1e-3)
        g_assert_cmpint (q[j], ==, (int) lround (exact));
      g_assert_cmpfloat ((double) y[k * 32 + j], ==, q[j] * ar_f16_to_f32 (dh));
      g_assert_cmpfloat (e, <=, 0.57 * d);
      worst = MAX (worst, e / d);
      err2 += e * e;
    }
  }
  g_test_message ("Q8_0 normalized MSE %.3g, worst error %.3f d", err2 / sig2,
      worst);
  g_assert_cmpfloat (err2 / sig2, <, 1e-4);

  /* Q4_0: ggml's block layout (value j the low nibble of byte j, j + 16 its
   * high nibble), its scale and codes, and the error budget above. */
  t = ar_gguf_find_tensor (g, "q4");
  g_assert_cmpint (t->type, ==, AR_TENSOR_Q4_0);
  g_assert_cmpuint (t->nbytes, ==, n / 32 * 18);
  ar_gguf_tensor_to_f32 (t, y);
  err2 = 0;
  worst = 0;
  for (gsize k = 0; k < n / 32; k++) {
    const guint8 *block = (const guint8 *) t->data + k * 18;
    const float *v = x + k * 32;
    float m = 0, d, d16;
    guint16 dh;

    for (int j = 0; j < 32; j++)
      if (fabsf (v[j]) > fabsf (m))
        m = v[j];
    d = m / -8;
    memcpy (&dh, block, 2);
    g_assert_cmphex (dh, ==, ar_f32_to_f16 (d));
    d16 = ar_f16_to_f32 (dh);
    for (int j = 0; j < 32; j++) {
      int code = j < 16 ? block[2 + j] & 15 : block[2 + j - 16] >> 4;
      double exact = v[j] / (double) d + 8; /* in [0, 16] */
      double e = fabs ((double) y[k * 32 + j] - v[j]);
      gboolean top = exact > 15.5;

      /* the nearest code, clamped to 15 (away from a tie) */
      if (fabs (fabs (exact - floor (exact)) - 0.5) > 1e-3)
        g_assert_cmpint (code, ==, MIN (15, (int) floor (exact + 0.5)));
      g_assert_cmpfloat ((double) y[k * 32 + j], ==, (code - 8) * d16);
      g_assert_cmpfloat (e, <=, ((top ? 1.0 : 0.5) + 8 * 0x1p-11) * fabs (d));
      if (!top)
        worst = MAX (worst, e / fabs (d));
      err2 += e * e;
    }
    /* m itself is code 0, exactly -8 d: m up to the f16 rounding of d */
    g_assert_cmpfloat (fabs ((double) -8 * d16 - m), <=,
        8 * 0x1p-11 * fabs (d));
  }
  g_test_message ("Q4_0 normalized MSE %.3g, worst error %.3f |d| (outside "
                  "the top half step)",
      err2 / sig2, worst);
  g_assert_cmpfloat (err2 / sig2, <, 1.5e-2);

  /* add_tensor_raw copies storage bytes as they are. */
  for (guint i = 0; i < 2; i++) {
    const char *name = i ? "q4" : "q8";
    g_autoptr (ArGgufWriter) w2 = ar_gguf_writer_new ();
    g_autoptr (GBytes) bytes2 = NULL;
    g_autoptr (ArGguf) g2 = NULL;
    const ArGgufTensor *t2;

    t = ar_gguf_find_tensor (g, name);
    ar_gguf_writer_add_tensor_raw (w2, name, t->type, 3, ne, t->data,
        t->nbytes);
    bytes2 = ar_gguf_writer_to_bytes (w2);
    g2 = load_bytes (bytes2);
    t2 = ar_gguf_find_tensor (g2, name);
    g_assert_cmpint (t2->type, ==, t->type);
    g_assert_cmpmem (t2->data, t2->nbytes, t->data, t->nbytes);
  }
}

/* The same file from disk (mmap) and from memory gives the same model. */
static void
test_file_and_bytes (void)
{
  g_autoptr (GBytes) bytes = make_small_file ();
  g_autofree char *dir = g_dir_make_tmp ("test-gguf-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "m.gguf", NULL);
  g_autoptr (ArGguf) a = NULL;
  g_autoptr (ArGguf) b = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_true (g_file_set_contents (path, g_bytes_get_data (bytes, NULL),
      g_bytes_get_size (bytes), NULL));
  a = ar_gguf_new_from_file (path, &error);
  g_assert_no_error (error);
  b = load_bytes (bytes);

  g_assert_cmpstr (ar_gguf_get_name (a), ==, path);
  g_assert_cmpuint (ar_gguf_get_size (a), ==, ar_gguf_get_size (b));
  g_assert_cmpuint (ar_gguf_get_n_kv (a), ==, ar_gguf_get_n_kv (b));
  for (guint i = 0; i < ar_gguf_get_n_kv (a); i++) {
    g_autofree char *va = ar_gguf_format_value (a, i);
    g_autofree char *vb = ar_gguf_format_value (b, i);

    g_assert_cmpstr (ar_gguf_get_key (a, i), ==, ar_gguf_get_key (b, i));
    g_assert_cmpstr (va, ==, vb);
  }
  g_assert_cmpuint (ar_gguf_get_n_tensors (a), ==, ar_gguf_get_n_tensors (b));
  for (guint i = 0; i < ar_gguf_get_n_tensors (a); i++) {
    const ArGgufTensor *ta = ar_gguf_get_tensor (a, i);
    const ArGgufTensor *tb = ar_gguf_get_tensor (b, i);

    g_assert_cmpstr (ta->name, ==, tb->name);
    g_assert_cmpint (ta->type, ==, tb->type);
    g_assert_cmpmem (ta->ne, sizeof ta->ne, tb->ne, sizeof tb->ne);
    g_assert_cmpmem (ta->data, ta->nbytes, tb->data, tb->nbytes);
    g_assert_cmpuint ((guintptr) ta->data % 32, ==, 0);
  }

  g_unlink (path);
  g_rmdir (dir);
}

/* Memory at an odd address is copied so that tensor data stays aligned; the
 * model keeps its own reference to the bytes. */
static void
test_unaligned_bytes_and_refs (void)
{
  g_autoptr (GBytes) bytes = make_small_file ();
  gsize size = g_bytes_get_size (bytes);
  guint8 *buf = g_malloc (size + 1);
  GBytes *odd;
  ArGguf *g, *g2;
  const ArGgufTensor *t, *ref;
  g_autoptr (ArGguf) aligned = load_bytes (bytes);

  memcpy (buf + 1, g_bytes_get_data (bytes, NULL), size);
  odd = g_bytes_new_with_free_func (buf + 1, size, g_free, buf);
  g = load_bytes (odd);
  g_bytes_unref (odd); /* the model holds its own reference */

  g2 = ar_gguf_ref (g);
  ar_gguf_unref (g);
  t = ar_gguf_find_tensor (g2, "a");
  ref = ar_gguf_find_tensor (aligned, "a");
  g_assert_cmpuint ((guintptr) t->data % 32, ==, 0);
  g_assert_cmpmem (t->data, t->nbytes, ref->data, ref->nbytes);
  ar_gguf_unref (g2);
}

/* ---- malformed files ------------------------------------------------------ */

static void
test_bad_header (void)
{
  static const guint8 elf[32] = { 0x7f, 'E', 'L', 'F' };
  GByteArray *b;

  expect_error (g_bytes_new_static (elf, sizeof elf), AR_ERROR_FORMAT,
      "not a GGUF file (it starts with the bytes 7f 45 4c 46");
  expect_error (g_bytes_new_static ("", 0), AR_ERROR_FORMAT, "too small");
  expect_error (g_bytes_new_static ("GGUF\3\0\0", 7), AR_ERROR_FORMAT,
      "too small to be a GGUF file (7 bytes;");

  expect_error (b_finish (b_new (2, 0, 0)), AR_ERROR_UNSUPPORTED,
      "GGUF version 2 is not supported (only version 3)");
  expect_error (b_finish (b_new (4, 0, 0)), AR_ERROR_UNSUPPORTED,
      "GGUF version 4");
  expect_error (b_finish (b_new (0x03000000, 0, 0)), AR_ERROR_UNSUPPORTED,
      "big-endian");

  /* Counts are checked against the file size before anything is allocated
   * (ASan would report an allocation of 2^60 entries). */
  expect_error (b_finish (b_new (3, 0, G_GUINT64_CONSTANT (1) << 60)),
      AR_ERROR_FORMAT, "1152921504606846976 key-value pairs");
  expect_error (b_finish (b_new (3, G_MAXUINT64, 0)), AR_ERROR_FORMAT,
      "18446744073709551615 tensors, more than the remaining 0 bytes");
  b = b_new (3, 0, 3);
  b_kv_u32 (b, "a", 1);
  b_zeros (b, 30); /* room for 3 by the count, but not keys */
  expect_error (b_finish (b), AR_ERROR_FORMAT, "key 1:");

  /* The smallest valid file: a header and nothing else. */
  {
    g_autoptr (GBytes) empty = b_finish (b_new (3, 0, 0));
    g_autoptr (ArGguf) g = load_bytes (empty);
    g_assert_cmpuint (ar_gguf_get_n_kv (g), ==, 0);
    g_assert_cmpuint (ar_gguf_get_n_tensors (g), ==, 0);
  }
}

static void
test_bad_strings (void)
{
  GByteArray *b;

  b = b_new (3, 0, 1);
  b_u64 (b, G_GUINT64_CONSTANT (1) << 63);
  b_zeros (b, 16);
  expect_error (b_finish (b), AR_ERROR_FORMAT,
      "key 0: string length 9223372036854775808 at offset 24 runs past the "
      "end");

  b = b_new (3, 0, 1);
  b_str (b, "");
  b_u32 (b, AR_GGUF_TYPE_UINT8);
  b_u8 (b, 0);
  b_zeros (b, 8); /* enough bytes to pass the count check */
  expect_error (b_finish (b), AR_ERROR_FORMAT, "key 0: name is empty");

  b = b_new (3, 0, 1);
  b_strn (b, "ab\0c", 4);
  b_u32 (b, AR_GGUF_TYPE_UINT8);
  b_u8 (b, 0);
  expect_error (b_finish (b), AR_ERROR_FORMAT,
      "key 0: name contains a NUL byte at position 2");

  b = b_new (3, 0, 1);
  b_str (b, "k\xff");
  b_u32 (b, AR_GGUF_TYPE_UINT8);
  b_u8 (b, 0);
  expect_error (b_finish (b), AR_ERROR_FORMAT,
      "key 0: name is not valid UTF-8");

  b = b_new (3, 0, 1);
  b_str (b, "k");
  b_u32 (b, AR_GGUF_TYPE_STRING);
  b_strn (b, "x\0", 2);
  expect_error (b_finish (b), AR_ERROR_FORMAT,
      "key 'k': string value contains a NUL byte");

  b = b_new (3, 0, 1);
  b_str (b, "k");
  b_u32 (b, AR_GGUF_TYPE_STRING);
  b_str (b, "\xc3(");
  expect_error (b_finish (b), AR_ERROR_FORMAT,
      "key 'k': string value is not valid UTF-8");

  b = b_new (3, 1, 0);
  b_strn (b, "w\0", 2);
  b_u32 (b, 1);
  b_u64 (b, 8);
  b_u32 (b, AR_TENSOR_F32);
  b_u64 (b, 0);
  b_pad (b, 32);
  b_zeros (b, 32);
  expect_error (b_finish (b), AR_ERROR_FORMAT,
      "tensor 0: name contains a NUL byte");
}

static void
test_bad_values (void)
{
  GByteArray *b;

  b = b_new (3, 0, 1);
  b_str (b, "k");
  b_u32 (b, 13);
  b_zeros (b, 8);
  expect_error (b_finish (b), AR_ERROR_FORMAT,
      "key 'k': value type 13 is unknown");

  b = b_new (3, 0, 1);
  b_str (b, "k");
  b_u32 (b, AR_GGUF_TYPE_BOOL);
  b_u8 (b, 2);
  expect_error (b_finish (b), AR_ERROR_FORMAT,
      "key 'k': boolean value is 2 (expected 0 or 1)");

  b = b_new (3, 0, 1);
  b_str (b, "k");
  b_u32 (b, AR_GGUF_TYPE_UINT64);
  b_u32 (b, 7); /* 4 of the 8 bytes */
  expect_error (b_finish (b), AR_ERROR_FORMAT,
      "key 'k': truncated at offset 37 (8 bytes needed, 4 left)");

  b = b_new (3, 0, 1);
  b_str (b, "k");
  b_u32 (b, AR_GGUF_TYPE_ARRAY);
  b_u32 (b, 99);
  b_u64 (b, 1);
  b_zeros (b, 8);
  expect_error (b_finish (b), AR_ERROR_FORMAT,
      "key 'k': array element type 99 is unknown");

  b = b_new (3, 0, 1);
  b_str (b, "k");
  b_u32 (b, AR_GGUF_TYPE_ARRAY);
  b_u32 (b, AR_GGUF_TYPE_ARRAY);
  b_u64 (b, 1);
  b_u32 (b, AR_GGUF_TYPE_UINT8);
  b_u64 (b, 1);
  b_u8 (b, 0);
  expect_error (b_finish (b), AR_ERROR_UNSUPPORTED,
      "key 'k': arrays of arrays are not supported");

  b = b_new (3, 0, 1);
  b_str (b, "k");
  b_u32 (b, AR_GGUF_TYPE_ARRAY);
  b_u32 (b, AR_GGUF_TYPE_FLOAT32);
  b_u64 (b, G_GUINT64_CONSTANT (1) << 61);
  b_zeros (b, 64);
  expect_error (b_finish (b), AR_ERROR_FORMAT,
      "key 'k': array of 2305843009213693952 float32 elements does not fit "
      "in the 64 bytes left");

  b = b_new (3, 0, 1);
  b_str (b, "k");
  b_u32 (b, AR_GGUF_TYPE_ARRAY);
  b_u32 (b, AR_GGUF_TYPE_STRING);
  b_u64 (b, 2);
  b_str (b, "ok");
  b_u64 (b, 100);
  b_zeros (b, 10);
  expect_error (b_finish (b), AR_ERROR_FORMAT,
      "key 'k': element 1: string length 100");

  b = b_new (3, 0, 1);
  b_str (b, "k");
  b_u32 (b, AR_GGUF_TYPE_ARRAY);
  b_u32 (b, AR_GGUF_TYPE_BOOL);
  b_u64 (b, 3);
  b_u8 (b, 0);
  b_u8 (b, 1);
  b_u8 (b, 7);
  expect_error (b_finish (b), AR_ERROR_FORMAT,
      "key 'k': element 2: boolean value is 7");

  b = b_new (3, 0, 2);
  b_kv_u32 (b, "k", 1);
  b_kv_str (b, "k", "again");
  expect_error (b_finish (b), AR_ERROR_FORMAT,
      "key 'k' appears more than once");
}

static void
test_bad_alignment (void)
{
  static const guint32 bad[] = { 0, 4, 48, 0x80000001u };
  static const guint64 ne[1] = { 8 };
  GByteArray *b;

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    b = b_new (3, 0, 1);
    b_kv_u32 (b, "general.alignment", bad[i]);
    expect_error (b_finish (b), AR_ERROR_FORMAT,
        "expected a power of two of at least 8");
  }

  b = b_new (3, 0, 1);
  b_str (b, "general.alignment");
  b_u32 (b, AR_GGUF_TYPE_UINT64);
  b_u64 (b, 32);
  expect_error (b_finish (b), AR_ERROR_FORMAT,
      "key 'general.alignment' has type uint64, expected uint32");

  /* Alignment 64: offsets must be multiples of 64, data starts at one. */
  b = b_new (3, 1, 1);
  b_kv_u32 (b, "general.alignment", 64);
  b_tensor (b, "w", 1, ne, AR_TENSOR_F32, 32);
  b_pad (b, 64);
  b_zeros (b, 64);
  expect_error (b_finish (b), AR_ERROR_FORMAT,
      "tensor 'w' data offset 32 is not a multiple of the alignment (64)");

  b = b_new (3, 1, 1);
  b_kv_u32 (b, "general.alignment", 64);
  b_tensor (b, "w", 1, ne, AR_TENSOR_F32, 64);
  b_pad (b, 64);
  b_zeros (b, 64);
  for (int i = 0; i < 8; i++)
    b_f32 (b, i);
  {
    g_autoptr (GBytes) bytes = b_finish (b);
    g_autoptr (ArGguf) g = load_bytes (bytes);
    const ArGgufTensor *t = ar_gguf_find_tensor (g, "w");
    float y[8];

    g_assert_cmpuint ((guintptr) t->data % 64, ==, 0);
    ar_gguf_tensor_to_f32 (t, y);
    g_assert_cmpfloat (y[7], ==, 7.0f);
  }
}

/* A file with one tensor described by @n_dims, @ne, @type, @offset and
 * @data_bytes of data after the (32-aligned) descriptors. */
static GBytes *
one_tensor_file (const char *name, guint32 n_dims, const guint64 *ne,
    guint32 type, guint64 offset, gsize data_bytes)
{
  GByteArray *b = b_new (3, 1, 0);

  b_tensor (b, name, n_dims, ne, type, offset);
  b_pad (b, 32);
  b_zeros (b, data_bytes);
  return b_finish (b);
}

static void
test_bad_tensors (void)
{
  static const guint64 ne4[5] = { 2, 2, 2, 2, 2 };
  static const guint64 zero[2] = { 4, 0 };
  static const guint64 huge3[3] = { G_GUINT64_CONSTANT (1) << 32,
    G_GUINT64_CONSTANT (1) << 32, G_GUINT64_CONSTANT (1) << 32 };
  static const guint64 huge1[1] = { G_GUINT64_CONSTANT (1) << 62 };
  static const guint64 big1[1] = { G_GUINT64_CONSTANT (1) << 40 };
  static const guint64 q48[2] = { 48, 2 };
  static const guint64 ne[2] = { 32, 32 };
  GByteArray *b;

  expect_error (one_tensor_file ("w", 0, ne, AR_TENSOR_F32, 0, 64),
      AR_ERROR_FORMAT, "tensor 'w' has 0 dimensions (expected 1 to 4)");
  expect_error (one_tensor_file ("w", 5, ne4, AR_TENSOR_F32, 0, 256),
      AR_ERROR_FORMAT, "tensor 'w' has 5 dimensions");
  expect_error (one_tensor_file ("w", 2, zero, AR_TENSOR_F32, 0, 64),
      AR_ERROR_FORMAT, "tensor 'w': dimension 1 is 0");
  expect_error (one_tensor_file ("w", 3, huge3, AR_TENSOR_F32, 0, 64),
      AR_ERROR_FORMAT,
      "tensor 'w': shape [4294967296, 4294967296, "
      "4294967296] has too many elements");
  expect_error (one_tensor_file ("w", 1, huge1, AR_TENSOR_F32, 0, 64),
      AR_ERROR_FORMAT, "tensor 'w': shape [4611686018427387904] is too large");
  expect_error (one_tensor_file ("w", 1, big1, AR_TENSOR_F16, 0, 64),
      AR_ERROR_FORMAT, "tensor 'w' data (offset 0, 2199023255552 bytes");
  expect_error (one_tensor_file ("w", 2, ne, 3, 0, 4096), AR_ERROR_UNSUPPORTED,
      "tensor 'w' has type Q4_1 (3); only F32, F16, "
      "Q8_0 and Q4_0 are supported");
  expect_error (one_tensor_file ("w", 2, ne, 12, 0, 4096), AR_ERROR_UNSUPPORTED,
      "type Q4_K (12)");
  expect_error (one_tensor_file ("w", 2, ne, 1000, 0, 4096),
      AR_ERROR_UNSUPPORTED, "type unknown (1000)");
  expect_error (one_tensor_file ("w", 2, q48, AR_TENSOR_Q8_0, 0, 4096),
      AR_ERROR_FORMAT,
      "tensor 'w' is Q8_0 but ne[0] = 48 is not a multiple "
      "of 32");
  expect_error (one_tensor_file ("w", 2, q48, AR_TENSOR_Q4_0, 0, 4096),
      AR_ERROR_FORMAT,
      "tensor 'w' is Q4_0 but ne[0] = 48 is not a multiple "
      "of 32");
  /* Q4_0 sizes: 32 x 32 values are 32 blocks of 18 bytes; one byte short */
  expect_error (one_tensor_file ("w", 2, ne, AR_TENSOR_Q4_0, 0, 575),
      AR_ERROR_FORMAT, "tensor 'w' data (offset 0, 576 bytes");
  expect_error (one_tensor_file ("w", 2, ne, AR_TENSOR_F32, 16, 8192),
      AR_ERROR_FORMAT,
      "tensor 'w' data offset 16 is not a multiple of the "
      "alignment (32)");
  /* 32 x 32 F32 = 4096 bytes at offset 96 of a data section at 96 (the
   * descriptor ends at 65), in a file of 96 + 3000 bytes. */
  expect_error (one_tensor_file ("w", 2, ne, AR_TENSOR_F32, 96, 3000),
      AR_ERROR_FORMAT,
      "tensor 'w' data (offset 96, 4096 bytes, in the data "
      "section starting at 96) extends past the end of the file (3096 bytes)");
  expect_error (one_tensor_file ("w", 2, ne, AR_TENSOR_F32, G_MAXUINT64 - 31,
                    4096),
      AR_ERROR_FORMAT, "extends past the end");

  b = b_new (3, 2, 0);
  b_tensor (b, "w", 2, ne, AR_TENSOR_F32, 0);
  b_tensor (b, "w", 2, ne, AR_TENSOR_F32, 4096);
  b_pad (b, 32);
  b_zeros (b, 8192);
  expect_error (b_finish (b), AR_ERROR_FORMAT,
      "tensor 'w' appears more than once");

  /* Descriptor cut short in its offset (long enough to pass the count). */
  b = b_new (3, 1, 0);
  b_str (b, "weights.long.name");
  b_u32 (b, 1);
  b_u64 (b, 32);
  b_u32 (b, AR_TENSOR_F32);
  b_u32 (b, 0);
  expect_error (b_finish (b), AR_ERROR_FORMAT,
      "tensor 'weights.long.name': truncated at offset 65 (8 bytes needed, "
      "4 left)");
}

/* Patch bytes of a writer-made file: the reader must catch the damage. */
static void
test_patched (void)
{
  g_autoptr (GBytes) good = make_small_file ();
  gsize size;
  const guint8 *data = g_bytes_get_data (good, &size);
  guint8 *p;
  gssize at;

  /* Rename tensor "b" to "a": a duplicate.  Descriptor names are 1-byte
   * strings "\1\0\0\0\0\0\0\0b"; the last one is the descriptor's (the
   * vocabulary has a "b" too). */
  p = g_memdup2 (data, size);
  at = find_last (p, size, "\1\0\0\0\0\0\0\0b", 9);
  g_assert_cmpint (at, >, 0);
  p[at + 8] = 'a';
  expect_error (g_bytes_new_take (p, size), AR_ERROR_FORMAT,
      "tensor 'a' appears more than once");

  /* The magic, then the version. */
  p = g_memdup2 (data, size);
  p[3] = 'X';
  expect_error (g_bytes_new_take (p, size), AR_ERROR_FORMAT, "not a GGUF file");
  p = g_memdup2 (data, size);
  p[4] = 1;
  expect_error (g_bytes_new_take (p, size), AR_ERROR_UNSUPPORTED,
      "GGUF version 1 is not supported");

  /* The key "test.flag" renamed to "test.ints", which comes later. */
  p = g_memdup2 (data, size);
  at = find_last (p, size, "test.flag", 9);
  g_assert_cmpint (at, >, 0);
  memcpy (p + at, "test.ints", 9);
  expect_error (g_bytes_new_take (p, size), AR_ERROR_FORMAT,
      "key 'test.ints' appears more than once");

  /* The key's type replaced by 13. */
  p = g_memdup2 (data, size);
  at = find_last (p, size, "test.flag", 9);
  p[at + 9] = 13;
  expect_error (g_bytes_new_take (p, size), AR_ERROR_FORMAT,
      "key 'test.flag': value type 13 is unknown");
}

/* Every proper prefix of a valid file is rejected cleanly (ASan and valgrind
 * watch for reads past the end: each prefix gets its own allocation). */
static void
test_truncation (void)
{
  g_autoptr (GBytes) good = make_small_file ();
  gsize size;
  const guint8 *data = g_bytes_get_data (good, &size);

  g_assert_cmpuint (size, >, 2000);
  g_assert_cmpuint (size, <, 8000);
  for (gsize len = 0; len < size; len++) {
    g_autoptr (GBytes) cut = g_bytes_new (data, len);
    g_autoptr (GError) error = NULL;
    ArGguf *g = ar_gguf_new_from_bytes (cut, "cut.gguf", &error);

    if (g)
      g_error ("a prefix of %zu of %zu bytes loaded", len, size);
    g_assert_error (error, AR_ERROR, AR_ERROR_FORMAT);
    g_assert_true (g_str_has_prefix (error->message, "cut.gguf: "));
  }
  g_test_message ("%zu truncations rejected", size);
}

/* ---- required tensors and non-finite weights ------------------------------ */

static void
test_require_tensor (void)
{
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  static const guint64 ne[2] = { 4, 3 }, ne_t[2] = { 3, 4 };
  static const guint64 col[2] = { 5, 1 }, col1[1] = { 5 };
  static const guint64 ne_q[2] = { 32, 2 };
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (ArGguf) g = NULL;
  g_autoptr (GError) error = NULL;
  float x[64];

  for (int i = 0; i < 64; i++)
    x[i] = i * 0.5f - 3.0f;
  ar_gguf_writer_add_tensor_f32 (w, "ok", AR_TENSOR_F32, 2, ne, x);
  ar_gguf_writer_add_tensor_f32 (w, "col", AR_TENSOR_F32, 2, col, x);
  x[6] = NAN; /* index [2, 1] of a { 4, 3 } tensor */
  ar_gguf_writer_add_tensor_f32 (w, "nan", AR_TENSOR_F32, 2, ne, x);
  x[6] = 1e6f; /* finite in F32, inf in F16 */
  ar_gguf_writer_add_tensor_f32 (w, "f16inf", AR_TENSOR_F16, 2, ne, x);
  x[40] = 1e30f; /* block 1's scale 1e30 / 127 > 65504 */
  ar_gguf_writer_add_tensor_f32 (w, "q8big", AR_TENSOR_Q8_0, 2, ne_q, x);
  x[40] = -INFINITY;
  ar_gguf_writer_add_tensor_f32 (w, "q8inf", AR_TENSOR_Q8_0, 2, ne_q, x);
  x[6] = 0.0f; /* 1e6 / 8 would overflow block 0's Q4_0 scale too */
  ar_gguf_writer_add_tensor_f32 (w, "q4inf", AR_TENSOR_Q4_0, 2, ne_q, x);
  x[40] = 1e30f; /* block 1's scale -1e30 / 8 < -65504 */
  ar_gguf_writer_add_tensor_f32 (w, "q4big", AR_TENSOR_Q4_0, 2, ne_q, x);
  bytes = ar_gguf_writer_to_bytes (w);
  g = load_bytes (bytes);

  g_assert_nonnull (ar_gguf_require_tensor (g, "ok", 2, ne, &error));
  g_assert_no_error (error);
  /* Trailing 1s do not matter, either way. */
  g_assert_nonnull (ar_gguf_require_tensor (g, "col", 1, col1, &error));
  g_assert_nonnull (ar_gguf_require_tensor (g, "col", 2, col, &error));
  g_assert_no_error (error);

  g_assert_null (ar_gguf_require_tensor (g, "missing", 2, ne, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  g_assert_cmpstr (error->message, ==,
      "test.gguf: tensor 'missing' is missing");
  g_clear_error (&error);

  g_assert_null (ar_gguf_require_tensor (g, "ok", 2, ne_t, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  g_assert_cmpstr (error->message, ==,
      "test.gguf: tensor 'ok' has shape [4, 3], expected [3, 4]");
  g_clear_error (&error);

  g_assert_null (ar_gguf_require_tensor (g, "ok", 1, ne, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  assert_contains (error->message, "has shape [4, 3], expected [4]");
  g_clear_error (&error);

  g_assert_null (ar_gguf_require_tensor (g, "nan", 2, ne, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  g_assert_cmpstr (error->message, ==,
      "test.gguf: tensor 'nan' has a "
      "non-finite value (nan) at element 6 (index [2, 1])");
  g_clear_error (&error);

  g_assert_null (ar_gguf_require_tensor (g, "f16inf", 2, ne, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  assert_contains (error->message, "non-finite value (inf) at element 6");
  g_clear_error (&error);

  g_assert_null (ar_gguf_require_tensor (g, "q8big", 2, ne_q, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  assert_contains (error->message,
      "tensor 'q8big' has a non-finite block scale (inf) at element 32");
  g_clear_error (&error);

  g_assert_null (ar_gguf_require_tensor (g, "q8inf", 2, ne_q, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  assert_contains (error->message, "non-finite block scale (nan)");
  g_clear_error (&error);

  g_assert_null (ar_gguf_require_tensor (g, "q4big", 2, ne_q, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  assert_contains (error->message,
      "tensor 'q4big' has a non-finite block scale (-inf) at element 32");
  g_clear_error (&error);

  g_assert_null (ar_gguf_require_tensor (g, "q4inf", 2, ne_q, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  assert_contains (error->message,
      "tensor 'q4inf' has a non-finite block scale (nan) at element 32");
  g_clear_error (&error);

  g_assert_cmpstr (ar_tensor_type_name (AR_TENSOR_Q8_0), ==, "Q8_0");
  g_assert_cmpstr (ar_tensor_type_name (AR_TENSOR_Q4_0), ==, "Q4_0");
  g_assert_cmpstr (ar_tensor_type_name (AR_TENSOR_F16), ==, "F16");
}

/* ---- files ---------------------------------------------------------------- */

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Names in @dir, sorted, joined by spaces. */
static char *
list_dir (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)))
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

static void
test_open_errors (void)
{
  g_autofree char *dir = g_dir_make_tmp ("test-gguf-XXXXXX", NULL);
  g_autofree char *missing = g_build_filename (dir, "missing.gguf", NULL);
  g_autofree char *empty = g_build_filename (dir, "empty.gguf", NULL);
  g_autofree char *fifo = g_build_filename (dir, "fifo.gguf", NULL);
  g_autoptr (GError) error = NULL;

  g_assert_null (ar_gguf_new_from_file (missing, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_IO);
  g_assert_true (g_str_has_prefix (error->message, missing));
  assert_contains (error->message, g_strerror (ENOENT));
  g_clear_error (&error);

  g_assert_null (ar_gguf_new_from_file (dir, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_IO);
  g_assert_true (g_str_has_prefix (error->message, dir));
  assert_contains (error->message, "is a directory");
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (empty, "", 0, NULL));
  g_assert_null (ar_gguf_new_from_file (empty, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_FORMAT);
  g_assert_true (g_str_has_prefix (error->message, empty));
  g_clear_error (&error);

  /* a FIFO no one writes: opening it waited for a writer, forever (the
   * alarm's default action ends the test if it still does) */
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  alarm (10);
  g_assert_null (ar_gguf_new_from_file (fifo, &error));
  alarm (0);
  g_assert_error (error, AR_ERROR, AR_ERROR_IO);
  g_assert_true (g_str_has_prefix (error->message, fifo));
  assert_contains (error->message, "is not a regular file");
  g_clear_error (&error);

  g_unlink (fifo);
  g_unlink (empty);
  g_rmdir (dir);
}

static gboolean
file_equals (const char *path, GBytes *bytes)
{
  g_autofree char *contents = NULL;
  gsize len;

  if (!g_file_get_contents (path, &contents, &len, NULL))
    return FALSE;
  return len == g_bytes_get_size (bytes) &&
      memcmp (contents, g_bytes_get_data (bytes, NULL), len) == 0;
}

static void
test_atomic_write (void)
{
  g_autofree char *dir = g_dir_make_tmp ("test-gguf-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "m.gguf", NULL);
  g_autofree char *nodir = g_build_filename (dir, "nope", "m.gguf", NULL);
  g_autofree char *subdir = g_build_filename (dir, "d.gguf", NULL);
  g_autoptr (ArGgufWriter) small = ar_gguf_writer_new ();
  g_autoptr (ArGgufWriter) large = ar_gguf_writer_new ();
  g_autoptr (GBytes) small_bytes = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree float *x = g_new0 (float, 16384);
  static const guint64 ne[1] = { 16384 };
  struct rlimit old_limit, limit;
  void (*old_handler) (int);
  char *listing;

  ar_gguf_writer_set_string (small, "general.architecture", "small");
  ar_gguf_writer_set_string (large, "general.architecture", "large");
  ar_gguf_writer_add_tensor_f32 (large, "x", AR_TENSOR_F32, 1, ne, x);
  small_bytes = ar_gguf_writer_to_bytes (small);

  /* Write, then overwrite: the new file is complete and nothing is left. */
  g_assert_true (ar_gguf_writer_write_file (large, path, &error));
  g_assert_no_error (error);
  g_assert_true (ar_gguf_writer_write_file (small, path, &error));
  g_assert_no_error (error);
  g_assert_true (file_equals (path, small_bytes));
  listing = list_dir (dir);
  g_assert_cmpstr (listing, ==, "m.gguf");
  g_free (listing);

  /* Into a directory that does not exist: nothing is created. */
  g_assert_false (ar_gguf_writer_write_file (small, nodir, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_IO);
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, nodir));
  g_clear_error (&error);

  /* Onto a directory: the data is written, the rename fails, and the
   * temporary file is removed. */
  g_assert_cmpint (g_mkdir (subdir, 0755), ==, 0);
  g_assert_false (ar_gguf_writer_write_file (small, subdir, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_IO);
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, subdir));
  assert_contains (error->message, "rename");
  g_clear_error (&error);
  listing = list_dir (dir);
  g_assert_cmpstr (listing, ==, "d.gguf m.gguf");
  g_free (listing);

  /* A write that fails half-way (the file size limit makes write(2) fail
   * with EFBIG, even for root): the old file is intact, no temporary is
   * left. */
  g_assert_cmpint (getrlimit (RLIMIT_FSIZE, &old_limit), ==, 0);
  limit = old_limit;
  limit.rlim_cur = 8192; /* the large model is 64 KB */
  old_handler = signal (SIGXFSZ, SIG_IGN);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &limit), ==, 0);
  g_assert_false (ar_gguf_writer_write_file (large, path, &error));
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &old_limit), ==, 0);
  signal (SIGXFSZ, old_handler);
  g_assert_error (error, AR_ERROR, AR_ERROR_IO);
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, path));
  g_clear_error (&error);
  g_assert_true (file_equals (path, small_bytes));
  listing = list_dir (dir);
  g_assert_cmpstr (listing, ==, "d.gguf m.gguf");
  g_free (listing);

  /* A read-only directory (root ignores permissions: checked only when it
   * is effective). */
  g_assert_cmpint (g_chmod (dir, 0555), ==, 0);
  if (geteuid () != 0) {
    g_assert_false (ar_gguf_writer_write_file (large, path, &error));
    g_assert_error (error, AR_ERROR, AR_ERROR_IO);
    g_assert_true (g_str_has_prefix (error->message, path));
    g_clear_error (&error);
    g_assert_true (file_equals (path, small_bytes));
  }
  g_assert_cmpint (g_chmod (dir, 0755), ==, 0);
  listing = list_dir (dir);
  g_assert_cmpstr (listing, ==, "d.gguf m.gguf");
  g_free (listing);

  g_rmdir (subdir);
  g_unlink (path);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/gguf/f16/exhaustive", test_f16_exhaustive);
  g_test_add_func ("/gguf/f16/rounding", test_f16_rounding);
  g_test_add_func ("/gguf/writer/layout", test_writer_layout);
  g_test_add_func ("/gguf/writer/keys", test_writer_keys);
  g_test_add_func ("/gguf/roundtrip/values", test_roundtrip_values);
  g_test_add_func ("/gguf/roundtrip/all-value-types", test_all_value_types);
  g_test_add_func ("/gguf/roundtrip/tensors", test_roundtrip_tensors);
  g_test_add_func ("/gguf/load/file-and-bytes", test_file_and_bytes);
  g_test_add_func ("/gguf/load/unaligned-and-refs",
      test_unaligned_bytes_and_refs);
  g_test_add_func ("/gguf/bad/header", test_bad_header);
  g_test_add_func ("/gguf/bad/strings", test_bad_strings);
  g_test_add_func ("/gguf/bad/values", test_bad_values);
  g_test_add_func ("/gguf/bad/alignment", test_bad_alignment);
  g_test_add_func ("/gguf/bad/tensors", test_bad_tensors);
  g_test_add_func ("/gguf/bad/patched", test_patched);
  g_test_add_func ("/gguf/bad/truncation", test_truncation);
  g_test_add_func ("/gguf/require-tensor", test_require_tensor);
  g_test_add_func ("/gguf/file/open-errors", test_open_errors);
  g_test_add_func ("/gguf/file/atomic-write", test_atomic_write);

  return g_test_run ();
}
