/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-gguf.c — GGUF v3 model files: a reader that validates the whole file
 * before anyone uses it, and a writer that replaces files atomically.
 *
 * Reading is two layers.  A bounds-checked cursor walks the header, the
 * key/value pairs and the tensor descriptors; every length and count read from
 * the file is checked against the bytes that remain before anything is
 * allocated from it, so a hostile file can make us allocate at most a small
 * multiple of its own size.  Then each tensor's type, shape (with overflow
 * checks), alignment and extent are checked.  Low-level failures set a GError
 * with what went wrong and where; each layer prefixes its context ("key 'x': "),
 * and the outermost prefixes the file name, so messages read like
 * "m.gguf: key 'rnn.hidden_size': truncated at offset 80 (...)".
 *
 * What we keep: metadata is decoded into native, aligned, NUL-terminated
 * copies (file strings carry no NUL and arrays may sit at odd offsets);
 * tensor data is never copied — ArGgufTensor.data points into the mmap'd file
 * or the caller's GBytes.  Tensor data is used in place, so only
 * little-endian hosts are supported (checked at compile time).
 *
 * Choices where GGUF leaves room (documented in docs/model-files.md):
 * - arrays of arrays are rejected (AR_ERROR_UNSUPPORTED); no file of ours or
 *   llama.cpp's uses them;
 * - keys, tensor names and string values must be valid UTF-8 without NUL;
 *   elements of string arrays may hold any bytes, NUL included, because a
 *   byte-level vocabulary needs the token "\0";
 * - booleans must be 0 or 1; general.alignment must be a UINT32 power of two
 *   of at least 8 (the GGUF spec asks for a multiple of 8);
 * - tensors must be F32, F16, Q8_0 or Q4_0, with 1..4 dimensions, each > 0
 *   (and ne[0] a multiple of 32 for the quantised two). */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "ar-gguf.h"
#include "ar-kernels.h"

/* Tensor data is handed out in place as float / f16 arrays. */
G_STATIC_ASSERT (G_BYTE_ORDER == G_LITTLE_ENDIAN);

#define HEADER_BYTES 24 /* magic, version, n_tensors, n_kv */
/* The fewest bytes one key/value pair can take: key length, a 1-byte key,
 * the value type and a 1-byte value.  Bounds n_kv before we allocate. */
#define MIN_KV_BYTES (8 + 1 + 4 + 1)
/* The fewest bytes one tensor descriptor can take: name length, a 1-byte
 * name, n_dims, one dimension, the type and the offset. */
#define MIN_TENSOR_BYTES (8 + 1 + 4 + 8 + 4 + 8)

#define Q8_0_BLOCK 32                         /* values per Q8_0 block */
#define Q8_0_BLOCK_BYTES (2 + Q8_0_BLOCK)     /* f16 scale + 32 int8 */
#define Q4_0_BLOCK AR_Q4_0_BLOCK              /* values per Q4_0 block, 32 */
#define Q4_0_BLOCK_BYTES (2 + Q4_0_BLOCK / 2) /* f16 scale + 32 nibbles */
/* Q4_0 tensor data is read and written as ArBlockQ4_0 arrays in place, Q8_0
 * data written as ArBlockQ8_0 arrays. */
G_STATIC_ASSERT (sizeof (ArBlockQ4_0) == Q4_0_BLOCK_BYTES);
G_STATIC_ASSERT (sizeof (ArBlockQ8_0) == Q8_0_BLOCK_BYTES);

/* Tensor data pointers are aligned to MIN (general.alignment, this): memory
 * from GBytes that is not gets copied once into an allocation that is. */
#define MAX_DATA_ALIGN 64

/* How long array and string renderings get in ar_gguf_format_value(). */
#define FORMAT_MAX_ELEMENTS 8
#define FORMAT_MAX_STRING 256

typedef struct
{
  char *key;
  ArGgufType type;
  ArGgufType array_type; /* ARRAY: element type */
  guint64 n;             /* ARRAY: element count */
  gsize raw_offset;      /* the value's bytes in the file, after its type */
  gsize raw_len;
  union
  {
    guint64 u; /* UINT*, BOOL */
    gint64 i;  /* INT* */
    double f;  /* FLOAT32, FLOAT64 */
  } v;
  char *str; /* STRING: NUL-terminated copy */
  gsize str_len;
  /* numeric ARRAY: native copy (n elements); string ARRAY: char *[n]
   * pointing into strings_block */
  gpointer array;
  gsize *lengths;      /* string ARRAY: byte length of each (n) */
  char *strings_block; /* string ARRAY: all strings, each NUL-terminated */
} Kv;

struct _ArGguf
{
  gatomicrefcount ref;
  char *name;    /* file name or caller's name, for messages */
  GBytes *bytes; /* the whole file (mapping or memory) */
  const guint8 *data;
  gsize size;
  guint32 alignment;
  gsize data_offset; /* start of the tensor data section */
  Kv *kvs;           /* (n_kv) in file order */
  guint n_kv;
  ArGgufTensor *tensors;   /* (n_tensors) in file order */
  guint64 *tensor_offsets; /* (n_tensors) relative to data_offset */
  guint n_tensors;
  GHashTable *kv_index;     /* key -> index + 1 */
  GHashTable *tensor_index; /* name -> index + 1 */
};

/* ---- names ------------------------------------------------------------ */

const char *
ar_tensor_type_name (ArTensorType type)
{
  switch (type) {
    case AR_TENSOR_F32:
      return "F32";
    case AR_TENSOR_F16:
      return "F16";
    case AR_TENSOR_Q4_0:
      return "Q4_0";
    case AR_TENSOR_Q8_0:
      return "Q8_0";
  }
  return "unknown";
}

/* Names of ggml tensor types we do not run, so an error can say "Q4_K"
 * rather than "12". */
static const char *
ggml_type_name (guint32 type)
{
  static const char *const names[] = {
    [0] = "F32",
    [1] = "F16",
    [2] = "Q4_0",
    [3] = "Q4_1",
    [6] = "Q5_0",
    [7] = "Q5_1",
    [8] = "Q8_0",
    [9] = "Q8_1",
    [10] = "Q2_K",
    [11] = "Q3_K",
    [12] = "Q4_K",
    [13] = "Q5_K",
    [14] = "Q6_K",
    [15] = "Q8_K",
    [24] = "I8",
    [25] = "I16",
    [26] = "I32",
    [27] = "I64",
    [28] = "F64",
    [30] = "BF16",
  };

  if (type < G_N_ELEMENTS (names) && names[type])
    return names[type];
  return "unknown";
}

static const char *
value_type_name (ArGgufType type)
{
  switch (type) {
    case AR_GGUF_TYPE_UINT8:
      return "uint8";
    case AR_GGUF_TYPE_INT8:
      return "int8";
    case AR_GGUF_TYPE_UINT16:
      return "uint16";
    case AR_GGUF_TYPE_INT16:
      return "int16";
    case AR_GGUF_TYPE_UINT32:
      return "uint32";
    case AR_GGUF_TYPE_INT32:
      return "int32";
    case AR_GGUF_TYPE_FLOAT32:
      return "float32";
    case AR_GGUF_TYPE_BOOL:
      return "bool";
    case AR_GGUF_TYPE_STRING:
      return "string";
    case AR_GGUF_TYPE_ARRAY:
      return "array";
    case AR_GGUF_TYPE_UINT64:
      return "uint64";
    case AR_GGUF_TYPE_INT64:
      return "int64";
    case AR_GGUF_TYPE_FLOAT64:
      return "float64";
  }
  return "unknown";
}

/* Size in the file of one scalar of @type; 0 for STRING, ARRAY and unknown. */
static gsize
scalar_size (guint32 type)
{
  switch (type) {
    case AR_GGUF_TYPE_UINT8:
    case AR_GGUF_TYPE_INT8:
    case AR_GGUF_TYPE_BOOL:
      return 1;
    case AR_GGUF_TYPE_UINT16:
    case AR_GGUF_TYPE_INT16:
      return 2;
    case AR_GGUF_TYPE_UINT32:
    case AR_GGUF_TYPE_INT32:
    case AR_GGUF_TYPE_FLOAT32:
      return 4;
    case AR_GGUF_TYPE_UINT64:
    case AR_GGUF_TYPE_INT64:
    case AR_GGUF_TYPE_FLOAT64:
      return 8;
    default:
      return 0;
  }
}

static gboolean
is_integer_type (ArGgufType type)
{
  switch (type) {
    case AR_GGUF_TYPE_UINT8:
    case AR_GGUF_TYPE_INT8:
    case AR_GGUF_TYPE_UINT16:
    case AR_GGUF_TYPE_INT16:
    case AR_GGUF_TYPE_UINT32:
    case AR_GGUF_TYPE_INT32:
    case AR_GGUF_TYPE_UINT64:
    case AR_GGUF_TYPE_INT64:
      return TRUE;
    default:
      return FALSE;
  }
}

static gboolean
is_signed_type (ArGgufType type)
{
  return type == AR_GGUF_TYPE_INT8 || type == AR_GGUF_TYPE_INT16 ||
      type == AR_GGUF_TYPE_INT32 || type == AR_GGUF_TYPE_INT64;
}

/* Bytes a block of 32 values of quantised @type takes; 0 for F32 and F16. */
static guint
block_bytes (ArTensorType type)
{
  switch (type) {
    case AR_TENSOR_Q8_0:
      return Q8_0_BLOCK_BYTES;
    case AR_TENSOR_Q4_0:
      return Q4_0_BLOCK_BYTES;
    case AR_TENSOR_F32:
    case AR_TENSOR_F16:
    default:
      return 0;
  }
}

/* Bytes of tensor data for @n elements of @type (n is a multiple of 32 for
 * the quantised types); FALSE on overflow. */
static gboolean
tensor_nbytes (ArTensorType type, guint64 n, guint64 *nbytes)
{
  switch (type) {
    case AR_TENSOR_F32:
      return g_uint64_checked_mul (nbytes, n, 4);
    case AR_TENSOR_F16:
      return g_uint64_checked_mul (nbytes, n, 2);
    case AR_TENSOR_Q8_0:
      return g_uint64_checked_mul (nbytes, n / Q8_0_BLOCK, Q8_0_BLOCK_BYTES);
    case AR_TENSOR_Q4_0:
      return g_uint64_checked_mul (nbytes, n / Q4_0_BLOCK, Q4_0_BLOCK_BYTES);
  }
  return FALSE;
}

/* "[4, 3]": ne[0] first, as in the file. */
static char *
format_shape (guint n_dims, const guint64 *ne)
{
  GString *s = g_string_new ("[");

  for (guint d = 0; d < n_dims; d++)
    g_string_append_printf (s, "%s%" G_GUINT64_FORMAT, d ? ", " : "", ne[d]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

/* ---- the bounds-checked cursor ----------------------------------------- */

typedef struct
{
  const guint8 *data;
  gsize size;
  gsize pos; /* invariant: pos <= size */
} Cursor;

static gboolean
cursor_need (const Cursor *c, guint64 n, GError **error)
{
  if (n > c->size - c->pos) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "truncated at offset %zu (%" G_GUINT64_FORMAT
        " bytes needed, %zu left)",
        c->pos, n, c->size - c->pos);
    return FALSE;
  }
  return TRUE;
}

static gboolean
cursor_u32 (Cursor *c, guint32 *out, GError **error)
{
  guint32 v;

  if (!cursor_need (c, 4, error))
    return FALSE;
  memcpy (&v, c->data + c->pos, 4);
  *out = GUINT32_FROM_LE (v);
  c->pos += 4;
  return TRUE;
}

static gboolean
cursor_u64 (Cursor *c, guint64 *out, GError **error)
{
  guint64 v;

  if (!cursor_need (c, 8, error))
    return FALSE;
  memcpy (&v, c->data + c->pos, 8);
  *out = GUINT64_FROM_LE (v);
  c->pos += 8;
  return TRUE;
}

/* A GGUF string: u64 length, then the bytes (no terminator). */
static gboolean
cursor_string (Cursor *c, const char **s, gsize *len, GError **error)
{
  guint64 n;

  if (!cursor_u64 (c, &n, error))
    return FALSE;
  if (n > c->size - c->pos) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "string length %" G_GUINT64_FORMAT " at offset %zu runs past the end "
        "of the file (%zu bytes left)",
        n, c->pos - 8, c->size - c->pos);
    return FALSE;
  }
  *s = (const char *) c->data + c->pos;
  *len = (gsize) n;
  c->pos += (gsize) n;
  return TRUE;
}

/* Keys, tensor names and string values: not empty (for names), no NUL,
 * valid UTF-8.  @what is "key", "name" or "string". */
static gboolean
check_text (const char *s, gsize len, gboolean allow_empty, const char *what,
    GError **error)
{
  if (len == 0 && !allow_empty) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT, "%s is empty", what);
    return FALSE;
  }
  if (memchr (s, '\0', len)) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "%s contains a NUL byte at position %zu", what,
        (gsize) ((const char *) memchr (s, '\0', len) - s));
    return FALSE;
  }
  if (!g_utf8_validate_len (s, len, NULL)) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT, "%s is not valid UTF-8",
        what);
    return FALSE;
  }
  return TRUE;
}

/* ---- reading values ----------------------------------------------------- */

static gboolean
read_scalar (Cursor *c, Kv *kv, GError **error)
{
  const guint8 *p;

  if (!cursor_need (c, scalar_size (kv->type), error))
    return FALSE;
  p = c->data + c->pos;
  c->pos += scalar_size (kv->type);

  switch (kv->type) {
    case AR_GGUF_TYPE_UINT8:
      kv->v.u = p[0];
      break;
    case AR_GGUF_TYPE_INT8:
      kv->v.i = (gint8) p[0];
      break;
    case AR_GGUF_TYPE_BOOL:
      if (p[0] > 1) {
        g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
            "boolean value is %u (expected 0 or 1)", p[0]);
        return FALSE;
      }
      kv->v.u = p[0];
      break;
    case AR_GGUF_TYPE_UINT16: {
      guint16 v;
      memcpy (&v, p, 2);
      kv->v.u = GUINT16_FROM_LE (v);
      break;
    }
    case AR_GGUF_TYPE_INT16: {
      gint16 v;
      memcpy (&v, p, 2);
      kv->v.i = GINT16_FROM_LE (v);
      break;
    }
    case AR_GGUF_TYPE_UINT32: {
      guint32 v;
      memcpy (&v, p, 4);
      kv->v.u = GUINT32_FROM_LE (v);
      break;
    }
    case AR_GGUF_TYPE_INT32: {
      gint32 v;
      memcpy (&v, p, 4);
      kv->v.i = GINT32_FROM_LE (v);
      break;
    }
    case AR_GGUF_TYPE_FLOAT32: {
      float v;
      memcpy (&v, p, 4);
      kv->v.f = v;
      break;
    }
    case AR_GGUF_TYPE_UINT64: {
      guint64 v;
      memcpy (&v, p, 8);
      kv->v.u = GUINT64_FROM_LE (v);
      break;
    }
    case AR_GGUF_TYPE_INT64: {
      gint64 v;
      memcpy (&v, p, 8);
      kv->v.i = GINT64_FROM_LE (v);
      break;
    }
    case AR_GGUF_TYPE_FLOAT64: {
      double v;
      memcpy (&v, p, 8);
      kv->v.f = v;
      break;
    }
    default:
      g_assert_not_reached ();
  }
  return TRUE;
}

/* Two passes over a string array: the first checks every length against the
 * file and sums them, so the second can copy into one block. */
static gboolean
read_string_array (Cursor *c, Kv *kv, GError **error)
{
  gsize start = c->pos;
  gsize total = 0;
  char **strs;
  char *dst;

  for (guint64 j = 0; j < kv->n; j++) {
    const char *s;
    gsize len;

    if (!cursor_string (c, &s, &len, error)) {
      g_prefix_error (error, "element %" G_GUINT64_FORMAT ": ", j);
      return FALSE;
    }
    total += len + 1; /* cannot overflow: len <= the file size */
  }

  c->pos = start;
  strs = g_new (char *, kv->n);
  kv->array = strs;
  kv->lengths = g_new (gsize, kv->n);
  kv->strings_block = dst = g_malloc (MAX (total, 1));
  for (guint64 j = 0; j < kv->n; j++) {
    const char *s;
    gsize len;

    /* Cannot fail: the first pass walked the same bytes. */
    cursor_string (c, &s, &len, NULL);
    memcpy (dst, s, len);
    dst[len] = '\0';
    strs[j] = dst;
    kv->lengths[j] = len;
    dst += len + 1;
  }
  return TRUE;
}

static gboolean
read_array (Cursor *c, Kv *kv, GError **error)
{
  guint32 elem_type;
  gsize elem_size;

  if (!cursor_u32 (c, &elem_type, error) || !cursor_u64 (c, &kv->n, error))
    return FALSE;

  if (elem_type == AR_GGUF_TYPE_ARRAY) {
    g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
        "arrays of arrays are not supported");
    return FALSE;
  }
  if (elem_type == AR_GGUF_TYPE_STRING)
    elem_size = 8; /* at least the length of each string */
  else if ((elem_size = scalar_size (elem_type)) == 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "array element type %u is unknown", elem_type);
    return FALSE;
  }
  kv->array_type = elem_type;

  /* The count is untrusted: check it against what remains before allocating. */
  if (kv->n > (c->size - c->pos) / elem_size) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "array of %" G_GUINT64_FORMAT " %s elements does not fit in the %zu "
        "bytes left in the file",
        kv->n, value_type_name (elem_type), c->size - c->pos);
    return FALSE;
  }

  if (elem_type == AR_GGUF_TYPE_STRING)
    return read_string_array (c, kv, error);

  /* A native, aligned copy (the file position may be odd); the host is
   * little-endian, like the file. */
  kv->array = g_malloc (MAX (kv->n * elem_size, 1));
  memcpy (kv->array, c->data + c->pos, kv->n * elem_size);
  c->pos += kv->n * elem_size;

  if (elem_type == AR_GGUF_TYPE_BOOL) {
    const guint8 *b = kv->array;

    for (guint64 j = 0; j < kv->n; j++)
      if (b[j] > 1) {
        g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
            "element %" G_GUINT64_FORMAT
            ": boolean value is %u (expected 0 or 1)",
            j, b[j]);
        return FALSE;
      }
  }
  return TRUE;
}

static gboolean
read_value (Cursor *c, Kv *kv, GError **error)
{
  kv->raw_offset = c->pos;

  if (kv->type == AR_GGUF_TYPE_STRING) {
    const char *s;
    gsize len;

    if (!cursor_string (c, &s, &len, error) ||
        !check_text (s, len, TRUE, "string value", error))
      return FALSE;
    kv->str = g_strndup (s, len);
    kv->str_len = len;
  } else if (kv->type == AR_GGUF_TYPE_ARRAY) {
    if (!read_array (c, kv, error))
      return FALSE;
  } else if (scalar_size (kv->type) != 0) {
    if (!read_scalar (c, kv, error))
      return FALSE;
  } else {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT, "value type %u is unknown",
        (guint) kv->type);
    return FALSE;
  }

  kv->raw_len = c->pos - kv->raw_offset;
  return TRUE;
}

static gboolean
read_kvs (ArGguf *g, Cursor *c, GError **error)
{
  for (guint i = 0; i < g->n_kv; i++) {
    Kv *kv = &g->kvs[i];
    const char *key;
    gsize len;
    guint32 type;

    if (!cursor_string (c, &key, &len, error) ||
        !check_text (key, len, FALSE, "name", error)) {
      g_prefix_error (error, "key %u: ", i);
      return FALSE;
    }
    kv->key = g_strndup (key, len);
    if (g_hash_table_contains (g->kv_index, kv->key)) {
      g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
          "key '%s' appears more than once", kv->key);
      return FALSE;
    }
    g_hash_table_insert (g->kv_index, kv->key, GUINT_TO_POINTER (i + 1));

    if (!cursor_u32 (c, &type, error)) {
      g_prefix_error (error, "key '%s': ", kv->key);
      return FALSE;
    }
    kv->type = type;
    if (!read_value (c, kv, error)) {
      g_prefix_error (error, "key '%s': ", kv->key);
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
read_alignment (ArGguf *g, GError **error)
{
  gpointer p = g_hash_table_lookup (g->kv_index, "general.alignment");
  const Kv *kv;

  g->alignment = AR_GGUF_DEFAULT_ALIGNMENT;
  if (!p)
    return TRUE;

  kv = &g->kvs[GPOINTER_TO_UINT (p) - 1];
  if (kv->type != AR_GGUF_TYPE_UINT32) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "key 'general.alignment' has type %s, expected uint32",
        value_type_name (kv->type));
    return FALSE;
  }
  if (kv->v.u < 8 || (kv->v.u & (kv->v.u - 1)) != 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "key 'general.alignment' is %" G_GUINT64_FORMAT
        ", expected a power of two of at least 8",
        kv->v.u);
    return FALSE;
  }
  g->alignment = (guint32) kv->v.u;
  return TRUE;
}

/* One tensor descriptor: everything but the data extent, which needs the
 * start of the data section, known only after the last descriptor. */
static gboolean
read_tensor_info (ArGguf *g, Cursor *c, guint i, GError **error)
{
  ArGgufTensor *t = &g->tensors[i];
  const char *name;
  gsize len;
  guint32 n_dims, type;
  guint64 n = 1, nbytes;

  if (!cursor_string (c, &name, &len, error) ||
      !check_text (name, len, FALSE, "name", error)) {
    g_prefix_error (error, "tensor %u: ", i);
    return FALSE;
  }
  t->name = g_strndup (name, len);
  if (g_hash_table_contains (g->tensor_index, t->name)) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "tensor '%s' appears more than once", t->name);
    return FALSE;
  }
  g_hash_table_insert (g->tensor_index, (gpointer) t->name,
      GUINT_TO_POINTER (i + 1));

  if (!cursor_u32 (c, &n_dims, error))
    goto prefixed;
  if (n_dims < 1 || n_dims > AR_GGUF_MAX_DIMS) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "tensor '%s' has %u dimensions (expected 1 to %d)", t->name, n_dims,
        AR_GGUF_MAX_DIMS);
    return FALSE;
  }
  t->n_dims = n_dims;
  for (guint d = 0; d < AR_GGUF_MAX_DIMS; d++)
    t->ne[d] = 1;
  for (guint d = 0; d < n_dims; d++) {
    if (!cursor_u64 (c, &t->ne[d], error))
      goto prefixed;
    if (t->ne[d] == 0) {
      g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
          "tensor '%s': dimension %u is 0", t->name, d);
      return FALSE;
    }
  }
  for (guint d = 0; d < n_dims; d++)
    if (!g_uint64_checked_mul (&n, n, t->ne[d])) {
      g_autofree char *shape = format_shape (n_dims, t->ne);
      g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
          "tensor '%s': shape %s has too many elements", t->name, shape);
      return FALSE;
    }
  t->n_elements = n;

  if (!cursor_u32 (c, &type, error))
    goto prefixed;
  if (type != AR_TENSOR_F32 && type != AR_TENSOR_F16 &&
      type != AR_TENSOR_Q8_0 && type != AR_TENSOR_Q4_0) {
    g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
        "tensor '%s' has type %s (%u); only F32, F16, Q8_0 and Q4_0 are "
        "supported",
        t->name, ggml_type_name (type), type);
    return FALSE;
  }
  t->type = type;
  /* both quantised types have blocks of 32 values that never straddle rows */
  if (block_bytes (t->type) != 0 && t->ne[0] % Q8_0_BLOCK != 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "tensor '%s' is %s but ne[0] = %" G_GUINT64_FORMAT
        " is not a multiple of %d",
        t->name, ar_tensor_type_name (t->type), t->ne[0], Q8_0_BLOCK);
    return FALSE;
  }
  /* Bigger than any file we could map: the extent check would reject it,
   * but gsize may be 32 bits, so keep nbytes representable first. */
  if (!tensor_nbytes (t->type, n, &nbytes) || nbytes > G_MAXSIZE) {
    g_autofree char *shape = format_shape (n_dims, t->ne);
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "tensor '%s': shape %s is too large", t->name, shape);
    return FALSE;
  }
  t->nbytes = (gsize) nbytes;

  if (!cursor_u64 (c, &g->tensor_offsets[i], error))
    goto prefixed;
  if (g->tensor_offsets[i] % g->alignment != 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "tensor '%s' data offset %" G_GUINT64_FORMAT
        " is not a multiple of the alignment (%u)",
        t->name, g->tensor_offsets[i], g->alignment);
    return FALSE;
  }
  return TRUE;

prefixed:
  g_prefix_error (error, "tensor '%s': ", t->name);
  return FALSE;
}

/* If the memory is not aligned enough for the tensor data to be used in
 * place (a GBytes at an odd address), copy it once into memory that is. */
static void
ensure_aligned (ArGguf *g)
{
  gsize need = MIN (g->alignment, MAX_DATA_ALIGN);
  guint8 *copy;

  if (((guintptr) g->data) % need == 0)
    return;

  copy = g_aligned_alloc (MAX (g->size, 1), 1, MAX_DATA_ALIGN);
  memcpy (copy, g->data, g->size);
  g_bytes_unref (g->bytes);
  g->bytes = g_bytes_new_with_free_func (copy, g->size, g_aligned_free, copy);
  g->data = copy;
}

static gboolean
parse (ArGguf *g, GError **error)
{
  Cursor c = { g->data, g->size, 0 };
  guint32 magic, version;
  guint64 n_tensors, n_kv, remaining;

  if (g->size >= 4) {
    memcpy (&magic, g->data, 4);
    if (GUINT32_FROM_LE (magic) != AR_GGUF_MAGIC) {
      g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
          "not a GGUF file (it starts with the bytes %02x %02x %02x %02x, "
          "expected 47 47 55 46, \"GGUF\")",
          g->data[0], g->data[1], g->data[2], g->data[3]);
      return FALSE;
    }
  }
  if (g->size < HEADER_BYTES) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "file is too small to be a GGUF file (%zu bytes; the header alone is "
        "%d)",
        g->size, HEADER_BYTES);
    return FALSE;
  }

  c.pos = 4;
  cursor_u32 (&c, &version, NULL);
  if (version != AR_GGUF_VERSION) {
    if (version >= 0x10000 && (version & 0xffff) == 0)
      g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
          "GGUF version field is 0x%08x: a big-endian file, which is not "
          "supported",
          version);
    else
      g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
          "GGUF version %u is not supported (only version %d)", version,
          AR_GGUF_VERSION);
    return FALSE;
  }
  cursor_u64 (&c, &n_tensors, NULL);
  cursor_u64 (&c, &n_kv, NULL);

  /* Untrusted counts: each entry takes a minimum number of bytes, so the
   * rest of the file bounds how many there can be.  Checked before any
   * allocation sized by them. */
  remaining = g->size - HEADER_BYTES;
  if (n_kv > remaining / MIN_KV_BYTES ||
      n_tensors > (remaining - n_kv * MIN_KV_BYTES) / MIN_TENSOR_BYTES) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "header claims %" G_GUINT64_FORMAT
        " key-value pairs and %" G_GUINT64_FORMAT
        " tensors, more than the remaining %" G_GUINT64_FORMAT
        " bytes can hold",
        n_kv, n_tensors, remaining);
    return FALSE;
  }
  if (n_kv > G_MAXUINT || n_tensors > G_MAXUINT) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "header claims %" G_GUINT64_FORMAT
        " key-value pairs and %" G_GUINT64_FORMAT
        " tensors, more than supported",
        n_kv, n_tensors);
    return FALSE;
  }

  g->n_kv = (guint) n_kv;
  g->kvs = g_new0 (Kv, g->n_kv);
  if (!read_kvs (g, &c, error) || !read_alignment (g, error))
    return FALSE;

  g->n_tensors = (guint) n_tensors;
  g->tensors = g_new0 (ArGgufTensor, g->n_tensors);
  g->tensor_offsets = g_new0 (guint64, g->n_tensors);
  for (guint i = 0; i < g->n_tensors; i++)
    if (!read_tensor_info (g, &c, i, error))
      return FALSE;

  /* The data section starts at the next multiple of the alignment.  It may
   * lie past the end of a file with no tensors (nothing is read there). */
  g->data_offset = c.pos + (g->alignment - c.pos % g->alignment) % g->alignment;

  for (guint i = 0; i < g->n_tensors; i++) {
    const ArGgufTensor *t = &g->tensors[i];
    guint64 start = g->tensor_offsets[i];

    if (g->data_offset > g->size || start > g->size - g->data_offset ||
        t->nbytes > g->size - g->data_offset - start) {
      g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
          "tensor '%s' data (offset %" G_GUINT64_FORMAT ", %zu bytes, in the "
          "data section starting at %zu) extends past the end of the file "
          "(%zu bytes)",
          t->name, start, t->nbytes, g->data_offset, g->size);
      return FALSE;
    }
  }

  ensure_aligned (g);
  for (guint i = 0; i < g->n_tensors; i++)
    g->tensors[i].data = g->data + g->data_offset + g->tensor_offsets[i];
  return TRUE;
}

/* ---- construction ------------------------------------------------------- */

static void
kv_clear (Kv *kv)
{
  g_free (kv->key);
  g_free (kv->str);
  g_free (kv->array);
  g_free (kv->lengths);
  g_free (kv->strings_block);
}

static void
gguf_free (ArGguf *g)
{
  for (guint i = 0; i < g->n_kv && g->kvs; i++)
    kv_clear (&g->kvs[i]);
  g_free (g->kvs);
  for (guint i = 0; i < g->n_tensors && g->tensors; i++)
    g_free ((char *) g->tensors[i].name);
  g_free (g->tensors);
  g_free (g->tensor_offsets);
  g_hash_table_unref (g->kv_index);
  g_hash_table_unref (g->tensor_index);
  g_bytes_unref (g->bytes);
  g_free (g->name);
  g_free (g);
}

ArGguf *
ar_gguf_new_from_bytes (GBytes *bytes, const char *name, GError **error)
{
  ArGguf *g;

  g_return_val_if_fail (bytes != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g = g_new0 (ArGguf, 1);
  g_atomic_ref_count_init (&g->ref);
  g->name = g_strdup (name ? name : "(memory)");
  g->bytes = g_bytes_ref (bytes);
  g->data = g_bytes_get_data (bytes, &g->size);
  /* Hash tables keyed by the copies in kvs / tensors (freed with them). */
  g->kv_index = g_hash_table_new (g_str_hash, g_str_equal);
  g->tensor_index = g_hash_table_new (g_str_hash, g_str_equal);

  if (!parse (g, error)) {
    g_prefix_error (error, "%s: ", g->name);
    gguf_free (g);
    return NULL;
  }
  return g;
}

GBytes *
ar_gguf_map_file (const char *path, GError **error)
{
  g_autoptr (GMappedFile) mapped = NULL;
  g_autoptr (GError) local = NULL;
  g_autofree char *name = NULL;
  struct stat st;
  int fd;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* a path need not be UTF-8; a message must */
  name = g_filename_display_name (path);

  /* O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer,
   * forever if none comes (`argen info FIFO` hung, and so would an element
   * given one as its model); this way it opens at once and is refused below
   * as not a regular file.  A regular file's reads and mapping ignore the
   * flag. */
  fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK, 0);
  if (fd < 0) {
    int errsv = errno;
    g_set_error (error, AR_ERROR, AR_ERROR_IO, "%s: cannot open: %s", name,
        g_strerror (errsv));
    return NULL;
  }
  if (fstat (fd, &st) != 0) {
    int errsv = errno;
    g_set_error (error, AR_ERROR, AR_ERROR_IO, "%s: cannot stat: %s", name,
        g_strerror (errsv));
    close (fd);
    return NULL;
  }
  if (!S_ISREG (st.st_mode)) {
    g_set_error (error, AR_ERROR, AR_ERROR_IO, "%s: %s", name,
        S_ISDIR (st.st_mode) ? "is a directory, not a model file"
                             : "is not a regular file");
    close (fd);
    return NULL;
  }
  /* Read-only and shared: the pages are the page cache's, so many processes
   * (one pipeline each) loading the same model share one copy. */
  mapped = g_mapped_file_new_from_fd (fd, FALSE, &local);
  close (fd);
  if (!mapped) {
    g_set_error (error, AR_ERROR, AR_ERROR_IO, "%s: cannot map: %s", name,
        local->message);
    return NULL;
  }
  return g_mapped_file_get_bytes (mapped);
}

ArGguf *
ar_gguf_new_from_file (const char *path, GError **error)
{
  g_autoptr (GBytes) bytes = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  bytes = ar_gguf_map_file (path, error);
  if (bytes == NULL)
    return NULL;
  return ar_gguf_new_from_bytes (bytes, path, error);
}

ArGguf *
ar_gguf_ref (ArGguf *gguf)
{
  g_return_val_if_fail (gguf != NULL, NULL);
  g_atomic_ref_count_inc (&gguf->ref);
  return gguf;
}

void
ar_gguf_unref (ArGguf *gguf)
{
  g_return_if_fail (gguf != NULL);
  if (g_atomic_ref_count_dec (&gguf->ref))
    gguf_free (gguf);
}

const char *
ar_gguf_get_name (const ArGguf *gguf)
{
  g_return_val_if_fail (gguf != NULL, NULL);
  return gguf->name;
}

gsize
ar_gguf_get_size (const ArGguf *gguf)
{
  g_return_val_if_fail (gguf != NULL, 0);
  return gguf->size;
}

/* ---- metadata ----------------------------------------------------------- */

guint
ar_gguf_get_n_kv (const ArGguf *gguf)
{
  g_return_val_if_fail (gguf != NULL, 0);
  return gguf->n_kv;
}

const char *
ar_gguf_get_key (const ArGguf *gguf, guint i)
{
  g_return_val_if_fail (gguf != NULL && i < gguf->n_kv, NULL);
  return gguf->kvs[i].key;
}

ArGgufType
ar_gguf_get_kv_type (const ArGguf *gguf, guint i)
{
  g_return_val_if_fail (gguf != NULL && i < gguf->n_kv, AR_GGUF_TYPE_UINT8);
  return gguf->kvs[i].type;
}

ArGgufType
ar_gguf_get_array_type (const ArGguf *gguf, guint i)
{
  g_return_val_if_fail (gguf != NULL && i < gguf->n_kv, AR_GGUF_TYPE_UINT8);
  g_return_val_if_fail (gguf->kvs[i].type == AR_GGUF_TYPE_ARRAY,
      AR_GGUF_TYPE_UINT8);
  return gguf->kvs[i].array_type;
}

guint64
ar_gguf_get_array_length (const ArGguf *gguf, guint i)
{
  g_return_val_if_fail (gguf != NULL && i < gguf->n_kv, 0);
  g_return_val_if_fail (gguf->kvs[i].type == AR_GGUF_TYPE_ARRAY, 0);
  return gguf->kvs[i].n;
}

gboolean
ar_gguf_has_key (const ArGguf *gguf, const char *key)
{
  g_return_val_if_fail (gguf != NULL && key != NULL, FALSE);
  return g_hash_table_contains (gguf->kv_index, key);
}

/* Quoted, with quotes, backslashes, control bytes and invalid UTF-8
 * escaped, cut after about @max bytes. */
static void
append_quoted (GString *out, const char *s, gsize len, gsize max)
{
  gsize i = 0;

  g_string_append_c (out, '"');
  while (i < len) {
    guchar ch = s[i];

    if (i >= max) {
      g_string_append (out, "...");
      break;
    }
    if (ch == '"' || ch == '\\') {
      g_string_append_c (out, '\\');
      g_string_append_c (out, ch);
    } else if (ch == '\n') {
      g_string_append (out, "\\n");
    } else if (ch == '\t') {
      g_string_append (out, "\\t");
    } else if (ch < 0x20 || ch == 0x7f) {
      g_string_append_printf (out, "\\x%02x", ch);
    } else if (ch < 0x80) {
      g_string_append_c (out, ch);
    } else {
      gunichar u = g_utf8_get_char_validated (s + i, len - i);

      if (u == (gunichar) -1 || u == (gunichar) -2) {
        g_string_append_printf (out, "\\x%02x", ch);
      } else {
        gsize n = g_utf8_next_char (s + i) - (s + i);
        g_string_append_len (out, s + i, n);
        i += n;
        continue;
      }
    }
    i++;
  }
  g_string_append_c (out, '"');
}

/* Shortest decimal that reads back as the same value (float32 or float64). */
static void
append_float (GString *out, double v, gboolean single)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  for (int prec = single ? 6 : 15; prec <= (single ? 9 : 17); prec++) {
    char fmt[8];
    double back;

    g_snprintf (fmt, sizeof fmt, "%%.%dg", prec);
    g_ascii_formatd (buf, sizeof buf, fmt, v);
    back = g_ascii_strtod (buf, NULL);
    if (isnan (v) || (single ? (float) back == (float) v : back == v))
      break;
  }
  g_string_append (out, buf);
}

/* Element @j of array @kv, whose elements are of @type. */
static void
append_element (GString *out, ArGgufType type, const Kv *kv, guint64 j)
{
  const void *a = kv->array;

  switch (type) {
    case AR_GGUF_TYPE_UINT8:
      g_string_append_printf (out, "%u", ((const guint8 *) a)[j]);
      break;
    case AR_GGUF_TYPE_INT8:
      g_string_append_printf (out, "%d", ((const gint8 *) a)[j]);
      break;
    case AR_GGUF_TYPE_UINT16:
      g_string_append_printf (out, "%u", ((const guint16 *) a)[j]);
      break;
    case AR_GGUF_TYPE_INT16:
      g_string_append_printf (out, "%d", ((const gint16 *) a)[j]);
      break;
    case AR_GGUF_TYPE_UINT32:
      g_string_append_printf (out, "%u", ((const guint32 *) a)[j]);
      break;
    case AR_GGUF_TYPE_INT32:
      g_string_append_printf (out, "%d", ((const gint32 *) a)[j]);
      break;
    case AR_GGUF_TYPE_UINT64:
      g_string_append_printf (out, "%" G_GUINT64_FORMAT,
          ((const guint64 *) a)[j]);
      break;
    case AR_GGUF_TYPE_INT64:
      g_string_append_printf (out, "%" G_GINT64_FORMAT,
          ((const gint64 *) a)[j]);
      break;
    case AR_GGUF_TYPE_FLOAT32:
      append_float (out, ((const float *) a)[j], TRUE);
      break;
    case AR_GGUF_TYPE_FLOAT64:
      append_float (out, ((const double *) a)[j], FALSE);
      break;
    case AR_GGUF_TYPE_BOOL:
      g_string_append (out, ((const guint8 *) a)[j] ? "true" : "false");
      break;
    case AR_GGUF_TYPE_STRING:
      append_quoted (out, ((char *const *) a)[j], kv->lengths[j], 16);
      break;
    case AR_GGUF_TYPE_ARRAY:
      g_assert_not_reached ();
  }
}

char *
ar_gguf_format_value (const ArGguf *gguf, guint i)
{
  const Kv *kv;
  GString *out;

  g_return_val_if_fail (gguf != NULL && i < gguf->n_kv, NULL);
  kv = &gguf->kvs[i];
  out = g_string_new (NULL);

  switch (kv->type) {
    case AR_GGUF_TYPE_UINT8:
    case AR_GGUF_TYPE_UINT16:
    case AR_GGUF_TYPE_UINT32:
    case AR_GGUF_TYPE_UINT64:
      g_string_append_printf (out, "%" G_GUINT64_FORMAT, kv->v.u);
      break;
    case AR_GGUF_TYPE_INT8:
    case AR_GGUF_TYPE_INT16:
    case AR_GGUF_TYPE_INT32:
    case AR_GGUF_TYPE_INT64:
      g_string_append_printf (out, "%" G_GINT64_FORMAT, kv->v.i);
      break;
    case AR_GGUF_TYPE_FLOAT32:
      append_float (out, kv->v.f, TRUE);
      break;
    case AR_GGUF_TYPE_FLOAT64:
      append_float (out, kv->v.f, FALSE);
      break;
    case AR_GGUF_TYPE_BOOL:
      g_string_append (out, kv->v.u ? "true" : "false");
      break;
    case AR_GGUF_TYPE_STRING:
      append_quoted (out, kv->str, kv->str_len, FORMAT_MAX_STRING);
      break;
    case AR_GGUF_TYPE_ARRAY:
      if (kv->n > FORMAT_MAX_ELEMENTS) {
        if (kv->array_type == AR_GGUF_TYPE_STRING)
          g_string_append_printf (out, "[%" G_GUINT64_FORMAT " strings]",
              kv->n);
        else
          g_string_append_printf (out, "[%" G_GUINT64_FORMAT " %s values]",
              kv->n, value_type_name (kv->array_type));
        break;
      }
      g_string_append_c (out, '[');
      for (guint64 j = 0; j < kv->n; j++) {
        if (j)
          g_string_append (out, ", ");
        append_element (out, kv->array_type, kv, j);
      }
      g_string_append_c (out, ']');
      break;
  }
  return g_string_free (out, FALSE);
}

static const Kv *
lookup (const ArGguf *g, const char *key, GError **error)
{
  gpointer p = g_hash_table_lookup (g->kv_index, key);

  if (!p) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: key '%s' is missing",
        g->name, key);
    return NULL;
  }
  return &g->kvs[GPOINTER_TO_UINT (p) - 1];
}

static void
set_type_error (const ArGguf *g, const Kv *kv, const char *expected,
    GError **error)
{
  if (kv->type == AR_GGUF_TYPE_ARRAY)
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: key '%s' has type array of %s, expected %s", g->name, kv->key,
        value_type_name (kv->array_type), expected);
  else
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: key '%s' has type %s, expected %s", g->name, kv->key,
        value_type_name (kv->type), expected);
}

/* Any integer type; checks that the value lies in [min, max] (max as
 * unsigned, so the u64 range fits). */
static gboolean
get_integer (const ArGguf *g, const char *key, gint64 min, guint64 max,
    const char *type_name, gboolean *negative, guint64 *magnitude,
    GError **error)
{
  const Kv *kv = lookup (g, key, error);
  gboolean fits;

  if (!kv)
    return FALSE;
  if (!is_integer_type (kv->type)) {
    set_type_error (g, kv, "an integer", error);
    return FALSE;
  }
  if (is_signed_type (kv->type) && kv->v.i < 0) {
    *negative = TRUE;
    *magnitude = (guint64) 0 - (guint64) kv->v.i;
    fits = kv->v.i >= min;
  } else {
    *negative = FALSE;
    *magnitude = is_signed_type (kv->type) ? (guint64) kv->v.i : kv->v.u;
    fits = *magnitude <= max;
  }
  if (!fits) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: key '%s' = %s%" G_GUINT64_FORMAT " does not fit in %s", g->name,
        key, *negative ? "-" : "", *magnitude, type_name);
    return FALSE;
  }
  return TRUE;
}

gboolean
ar_gguf_get_u32 (const ArGguf *gguf, const char *key, guint32 *out,
    GError **error)
{
  gboolean neg;
  guint64 mag;

  g_return_val_if_fail (gguf != NULL && key != NULL && out != NULL, FALSE);
  if (!get_integer (gguf, key, 0, G_MAXUINT32, "uint32", &neg, &mag, error))
    return FALSE;
  *out = (guint32) mag;
  return TRUE;
}

gboolean
ar_gguf_get_i32 (const ArGguf *gguf, const char *key, gint32 *out,
    GError **error)
{
  gboolean neg;
  guint64 mag;

  g_return_val_if_fail (gguf != NULL && key != NULL && out != NULL, FALSE);
  if (!get_integer (gguf, key, G_MININT32, G_MAXINT32, "int32", &neg, &mag,
          error))
    return FALSE;
  *out = neg ? (gint32) (-(gint64) mag) : (gint32) mag;
  return TRUE;
}

gboolean
ar_gguf_get_u64 (const ArGguf *gguf, const char *key, guint64 *out,
    GError **error)
{
  gboolean neg;
  guint64 mag;

  g_return_val_if_fail (gguf != NULL && key != NULL && out != NULL, FALSE);
  if (!get_integer (gguf, key, 0, G_MAXUINT64, "uint64", &neg, &mag, error))
    return FALSE;
  *out = mag;
  return TRUE;
}

gboolean
ar_gguf_get_f32 (const ArGguf *gguf, const char *key, float *out,
    GError **error)
{
  const Kv *kv;

  g_return_val_if_fail (gguf != NULL && key != NULL && out != NULL, FALSE);
  if (!(kv = lookup (gguf, key, error)))
    return FALSE;
  if (kv->type != AR_GGUF_TYPE_FLOAT32 && kv->type != AR_GGUF_TYPE_FLOAT64) {
    set_type_error (gguf, kv, "float32 or float64", error);
    return FALSE;
  }
  /* A hyper-parameter that is NaN or infinite (or a float64 beyond the
   * float range) would poison everything computed from it. */
  if (!isfinite (kv->v.f) || fabs (kv->v.f) > FLT_MAX) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: key '%s' = %g is not a finite float32", gguf->name, key, kv->v.f);
    return FALSE;
  }
  *out = (float) kv->v.f;
  return TRUE;
}

gboolean
ar_gguf_get_bool (const ArGguf *gguf, const char *key, gboolean *out,
    GError **error)
{
  const Kv *kv;

  g_return_val_if_fail (gguf != NULL && key != NULL && out != NULL, FALSE);
  if (!(kv = lookup (gguf, key, error)))
    return FALSE;
  if (kv->type != AR_GGUF_TYPE_BOOL) {
    set_type_error (gguf, kv, "bool", error);
    return FALSE;
  }
  *out = kv->v.u != 0;
  return TRUE;
}

gboolean
ar_gguf_get_string (const ArGguf *gguf, const char *key, const char **out,
    GError **error)
{
  const Kv *kv;

  g_return_val_if_fail (gguf != NULL && key != NULL && out != NULL, FALSE);
  if (!(kv = lookup (gguf, key, error)))
    return FALSE;
  if (kv->type != AR_GGUF_TYPE_STRING) {
    set_type_error (gguf, kv, "string", error);
    return FALSE;
  }
  *out = kv->str;
  return TRUE;
}

static const Kv *
lookup_array (const ArGguf *g, const char *key, ArGgufType elem_type,
    GError **error)
{
  const Kv *kv = lookup (g, key, error);

  if (kv && (kv->type != AR_GGUF_TYPE_ARRAY || kv->array_type != elem_type)) {
    g_autofree char *expected =
        g_strdup_printf ("array of %s", value_type_name (elem_type));
    set_type_error (g, kv, expected, error);
    return NULL;
  }
  return kv;
}

gboolean
ar_gguf_get_string_array (const ArGguf *gguf, const char *key,
    const char *const **strings, const gsize **lengths, guint64 *n,
    GError **error)
{
  const Kv *kv;

  g_return_val_if_fail (gguf != NULL && key != NULL, FALSE);
  g_return_val_if_fail (strings != NULL && n != NULL, FALSE);
  if (!(kv = lookup_array (gguf, key, AR_GGUF_TYPE_STRING, error)))
    return FALSE;
  *strings = (const char *const *) kv->array;
  if (lengths)
    *lengths = kv->lengths;
  *n = kv->n;
  return TRUE;
}

gboolean
ar_gguf_get_name_array (const ArGguf *gguf, const char *key, guint64 n,
    const char *count_key, const char *const **names, GError **error)
{
  const char *const *s;
  const gsize *lengths;
  guint64 got;
  g_autoptr (GHashTable) seen = NULL;

  g_return_val_if_fail (gguf != NULL && key != NULL && count_key != NULL &&
      names != NULL, FALSE);
  if (!ar_gguf_get_string_array (gguf, key, &s, &lengths, &got, error))
    return FALSE;
  if (got != n) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: %s has %" G_GUINT64_FORMAT " names; expected %" G_GUINT64_FORMAT
        " (%s)",
        gguf->name, key, got, n, count_key);
    return FALSE;
  }
  seen = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint64 i = 0; i < n; i++) {
    const char *problem = NULL;
    gpointer first;

    if (lengths[i] == 0)
      problem = "is empty";
    else if (memchr (s[i], '\0', lengths[i]) != NULL)
      problem = "contains a NUL byte";
    else if (!g_utf8_validate (s[i], (gssize) lengths[i], NULL))
      problem = "is not valid UTF-8";
    if (problem != NULL) {
      g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
          "%s: %s[%" G_GUINT64_FORMAT "] %s; expected a class name",
          gguf->name, key, i, problem);
      return FALSE;
    }
    if (g_hash_table_lookup_extended (seen, s[i], NULL, &first)) {
      g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
          "%s: %s[%" G_GUINT64_FORMAT "] is \"%s\", as is %s[%u]; expected "
          "distinct names",
          gguf->name, key, i, s[i], key, GPOINTER_TO_UINT (first));
      return FALSE;
    }
    g_hash_table_insert (seen, (gpointer) s[i], GUINT_TO_POINTER ((guint) i));
  }
  *names = s;
  return TRUE;
}

gboolean
ar_gguf_get_f32_array (const ArGguf *gguf, const char *key,
    const float **values, guint64 *n, GError **error)
{
  const Kv *kv;

  g_return_val_if_fail (gguf != NULL && key != NULL, FALSE);
  g_return_val_if_fail (values != NULL && n != NULL, FALSE);
  if (!(kv = lookup_array (gguf, key, AR_GGUF_TYPE_FLOAT32, error)))
    return FALSE;
  *values = kv->array;
  *n = kv->n;
  return TRUE;
}

gboolean
ar_gguf_get_i32_array (const ArGguf *gguf, const char *key,
    const gint32 **values, guint64 *n, GError **error)
{
  const Kv *kv;

  g_return_val_if_fail (gguf != NULL && key != NULL, FALSE);
  g_return_val_if_fail (values != NULL && n != NULL, FALSE);
  if (!(kv = lookup_array (gguf, key, AR_GGUF_TYPE_INT32, error)))
    return FALSE;
  *values = kv->array;
  *n = kv->n;
  return TRUE;
}

gboolean
ar_gguf_get_u64_array (const ArGguf *gguf, const char *key,
    const guint64 **values, guint64 *n, GError **error)
{
  const Kv *kv;

  g_return_val_if_fail (gguf != NULL && key != NULL, FALSE);
  g_return_val_if_fail (values != NULL && n != NULL, FALSE);
  if (!(kv = lookup_array (gguf, key, AR_GGUF_TYPE_UINT64, error)))
    return FALSE;
  *values = kv->array;
  *n = kv->n;
  return TRUE;
}

/* ---- tensors ------------------------------------------------------------ */

guint
ar_gguf_get_n_tensors (const ArGguf *gguf)
{
  g_return_val_if_fail (gguf != NULL, 0);
  return gguf->n_tensors;
}

const ArGgufTensor *
ar_gguf_get_tensor (const ArGguf *gguf, guint i)
{
  g_return_val_if_fail (gguf != NULL && i < gguf->n_tensors, NULL);
  return &gguf->tensors[i];
}

const ArGgufTensor *
ar_gguf_find_tensor (const ArGguf *gguf, const char *name)
{
  gpointer p;

  g_return_val_if_fail (gguf != NULL && name != NULL, NULL);
  p = g_hash_table_lookup (gguf->tensor_index, name);
  return p ? &gguf->tensors[GPOINTER_TO_UINT (p) - 1] : NULL;
}

/* The index of the first non-finite value, or -1.  Q8_0 and Q4_0 values are
 * integers times the block scale, so only the scales can be non-finite. */
static gint64
find_non_finite (const ArGgufTensor *t, float *bad)
{
  switch (t->type) {
    case AR_TENSOR_F32: {
      const float *x = t->data;
      for (guint64 j = 0; j < t->n_elements; j++)
        if (!isfinite (x[j])) {
          *bad = x[j];
          return (gint64) j;
        }
      break;
    }
    case AR_TENSOR_F16: {
      const guint16 *h = t->data;
      for (guint64 j = 0; j < t->n_elements; j++)
        if ((h[j] & 0x7c00u) == 0x7c00u) { /* exponent all ones */
          *bad = ar_f16_to_f32 (h[j]);
          return (gint64) j;
        }
      break;
    }
    case AR_TENSOR_Q8_0:
    case AR_TENSOR_Q4_0: {
      const guint8 *b = t->data;
      guint bytes = block_bytes (t->type);
      for (guint64 k = 0; k < t->n_elements / Q8_0_BLOCK; k++) {
        guint16 d;

        memcpy (&d, b + k * bytes, 2);
        if ((d & 0x7c00u) == 0x7c00u) {
          *bad = ar_f16_to_f32 (d);
          return (gint64) (k * Q8_0_BLOCK);
        }
      }
      break;
    }
  }
  return -1;
}

const ArGgufTensor *
ar_gguf_require_tensor (const ArGguf *gguf, const char *name, guint n_dims,
    const guint64 *ne, GError **error)
{
  const ArGgufTensor *t;
  gboolean same = TRUE;
  gint64 bad_index;
  float bad = 0;

  g_return_val_if_fail (gguf != NULL && name != NULL && ne != NULL, NULL);
  g_return_val_if_fail (n_dims >= 1 && n_dims <= AR_GGUF_MAX_DIMS, NULL);

  if (!(t = ar_gguf_find_tensor (gguf, name))) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: tensor '%s' is missing",
        gguf->name, name);
    return NULL;
  }

  /* Trailing dimensions of 1 do not change the layout: { 5 } and { 5, 1 }
   * are the same tensor (converters differ on whether they write them). */
  for (guint d = 0; d < AR_GGUF_MAX_DIMS; d++)
    if (t->ne[d] != (d < n_dims ? ne[d] : 1))
      same = FALSE;
  if (!same) {
    g_autofree char *found = format_shape (t->n_dims, t->ne);
    g_autofree char *expected = format_shape (n_dims, ne);
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: tensor '%s' has shape %s, expected %s", gguf->name, name, found,
        expected);
    return NULL;
  }

  if ((bad_index = find_non_finite (t, &bad)) >= 0) {
    guint64 idx[AR_GGUF_MAX_DIMS], rest = (guint64) bad_index;
    g_autofree char *where = NULL;

    for (guint d = 0; d < t->n_dims; d++) {
      idx[d] = rest % t->ne[d];
      rest /= t->ne[d];
    }
    where = format_shape (t->n_dims, idx);
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: tensor '%s' has a non-finite %s (%s) at element %" G_GINT64_FORMAT
        " (index %s)",
        gguf->name, name, block_bytes (t->type) ? "block scale" : "value",
        isnan (bad)   ? "nan"
            : bad > 0 ? "inf"
                      : "-inf",
        bad_index, where);
    return NULL;
  }
  return t;
}

void
ar_tensor_data_from_f32 (ArTensorType type, const float *src, guint64 n,
    void *dst)
{
  g_return_if_fail (n == 0 || (src != NULL && dst != NULL));
  g_return_if_fail (block_bytes (type) == 0 || n % Q8_0_BLOCK == 0);

  switch (type) {
    case AR_TENSOR_F32:
      memcpy (dst, src, n * sizeof (float));
      break;
    case AR_TENSOR_F16: {
      guint16 *h = dst;
      for (guint64 j = 0; j < n; j++)
        h[j] = ar_f32_to_f16 (src[j]);
      break;
    }
    /* ggml's quantisers (ar-quant.c), a block at a time (an int counts
     * the values of one call); a non-finite value gives its block a NaN
     * scale, so the reader's finiteness check rejects it instead of it
     * turning into numbers. */
    case AR_TENSOR_Q8_0:
      for (guint64 k = 0; k < n / Q8_0_BLOCK; k++)
        ar_quantize_q8_0 ((ArBlockQ8_0 *) dst + k, src + k * Q8_0_BLOCK,
            Q8_0_BLOCK);
      break;
    case AR_TENSOR_Q4_0:
      for (guint64 k = 0; k < n / Q4_0_BLOCK; k++)
        ar_quantize_q4_0 ((ArBlockQ4_0 *) dst + k, src + k * Q4_0_BLOCK,
            Q4_0_BLOCK);
      break;
    default:
      g_return_if_reached ();
  }
}

void
ar_tensor_data_to_f32 (ArTensorType type, const void *data, guint64 n,
    float *dst)
{
  g_return_if_fail (n == 0 || (data != NULL && dst != NULL));

  switch (type) {
    case AR_TENSOR_F32:
      memcpy (dst, data, n * sizeof (float));
      break;
    case AR_TENSOR_F16: {
      const guint16 *h = data;
      for (guint64 j = 0; j < n; j++)
        dst[j] = ar_f16_to_f32 (h[j]);
      break;
    }
    case AR_TENSOR_Q8_0: {
      const guint8 *b = data;
      for (guint64 k = 0; k < n / Q8_0_BLOCK; k++) {
        const guint8 *block = b + k * Q8_0_BLOCK_BYTES;
        const gint8 *q = (const gint8 *) (block + 2);
        guint16 dh;
        float d;

        memcpy (&dh, block, 2);
        d = ar_f16_to_f32 (dh);
        for (int j = 0; j < Q8_0_BLOCK; j++)
          dst[k * Q8_0_BLOCK + j] = q[j] * d;
      }
      break;
    }
    case AR_TENSOR_Q4_0:
      /* the blocks are 2-byte aligned structs of 18 bytes, and so is the
       * data (a tensor's is at least 8-byte aligned, a row of one starts a
       * whole number of blocks in), so the blocks are read in place */
      for (guint64 k = 0; k < n / Q4_0_BLOCK; k++)
        ar_dequantize_q4_0 (dst + k * Q4_0_BLOCK,
            (const ArBlockQ4_0 *) data + k, Q4_0_BLOCK);
      break;
  }
}

gsize
ar_tensor_data_size (ArTensorType type, guint64 n)
{
  guint64 nbytes = 0;

  g_return_val_if_fail (tensor_nbytes (type, n, &nbytes) && nbytes <= G_MAXSIZE,
      0);
  return (gsize) nbytes;
}

void
ar_gguf_tensor_to_f32 (const ArGgufTensor *tensor, float *dst)
{
  g_return_if_fail (tensor != NULL && dst != NULL);

  ar_tensor_data_to_f32 (tensor->type, tensor->data, tensor->n_elements, dst);
}

/* ---- writer ------------------------------------------------------------- */

typedef struct
{
  char *key;
  ArGgufType type;
  GByteArray *value; /* the value as serialized, after the type */
} WKv;

typedef struct
{
  char *name;
  ArTensorType type;
  guint n_dims;
  guint64 ne[AR_GGUF_MAX_DIMS];
  guint8 *data; /* (nbytes) in the storage type */
  gsize nbytes;
} WTensor;

struct _ArGgufWriter
{
  GPtrArray *kvs;           /* WKv, in the order keys were first set */
  GHashTable *kv_index;     /* key -> WKv */
  GPtrArray *tensors;       /* WTensor, in the order added */
  GHashTable *tensor_names; /* set of names */
};

static void
wkv_free (gpointer p)
{
  WKv *kv = p;

  g_free (kv->key);
  g_byte_array_unref (kv->value);
  g_free (kv);
}

static void
wtensor_free (gpointer p)
{
  WTensor *t = p;

  g_free (t->name);
  g_free (t->data);
  g_free (t);
}

ArGgufWriter *
ar_gguf_writer_new (void)
{
  ArGgufWriter *w = g_new0 (ArGgufWriter, 1);

  w->kvs = g_ptr_array_new_with_free_func (wkv_free);
  w->kv_index = g_hash_table_new (g_str_hash, g_str_equal);
  w->tensors = g_ptr_array_new_with_free_func (wtensor_free);
  w->tensor_names = g_hash_table_new (g_str_hash, g_str_equal);
  return w;
}

void
ar_gguf_writer_free (ArGgufWriter *w)
{
  if (!w)
    return;
  g_hash_table_unref (w->kv_index);
  g_hash_table_unref (w->tensor_names);
  g_ptr_array_unref (w->kvs);
  g_ptr_array_unref (w->tensors);
  g_free (w);
}

static void
put_u32 (GByteArray *b, guint32 v)
{
  v = GUINT32_TO_LE (v);
  g_byte_array_append (b, (const guint8 *) &v, 4);
}

static void
put_u64 (GByteArray *b, guint64 v)
{
  v = GUINT64_TO_LE (v);
  g_byte_array_append (b, (const guint8 *) &v, 8);
}

static void
put_string (GByteArray *b, const char *s, gsize len)
{
  put_u64 (b, len);
  g_byte_array_append (b, (const guint8 *) s, len);
}

/* Takes @value.  A key set again keeps its first position. */
static void
writer_set (ArGgufWriter *w, const char *key, ArGgufType type,
    GByteArray *value)
{
  WKv *kv = g_hash_table_lookup (w->kv_index, key);

  if (kv) {
    g_byte_array_unref (kv->value);
  } else {
    kv = g_new0 (WKv, 1);
    kv->key = g_strdup (key);
    g_ptr_array_add (w->kvs, kv);
    g_hash_table_insert (w->kv_index, kv->key, kv);
  }
  kv->type = type;
  kv->value = value;
}

/* The writer manages general.alignment itself. */
static gboolean
valid_key (const char *key)
{
  return key != NULL && *key != '\0' && g_utf8_validate (key, -1, NULL) &&
      strcmp (key, "general.alignment") != 0;
}

void
ar_gguf_writer_set_u32 (ArGgufWriter *w, const char *key, guint32 v)
{
  GByteArray *b;

  g_return_if_fail (w != NULL && valid_key (key));
  b = g_byte_array_new ();
  put_u32 (b, v);
  writer_set (w, key, AR_GGUF_TYPE_UINT32, b);
}

void
ar_gguf_writer_set_i32 (ArGgufWriter *w, const char *key, gint32 v)
{
  GByteArray *b;

  g_return_if_fail (w != NULL && valid_key (key));
  b = g_byte_array_new ();
  put_u32 (b, (guint32) v);
  writer_set (w, key, AR_GGUF_TYPE_INT32, b);
}

void
ar_gguf_writer_set_u64 (ArGgufWriter *w, const char *key, guint64 v)
{
  GByteArray *b;

  g_return_if_fail (w != NULL && valid_key (key));
  b = g_byte_array_new ();
  put_u64 (b, v);
  writer_set (w, key, AR_GGUF_TYPE_UINT64, b);
}

void
ar_gguf_writer_set_f32 (ArGgufWriter *w, const char *key, float v)
{
  GByteArray *b;
  guint32 u;

  g_return_if_fail (w != NULL && valid_key (key));
  b = g_byte_array_new ();
  memcpy (&u, &v, 4);
  put_u32 (b, u);
  writer_set (w, key, AR_GGUF_TYPE_FLOAT32, b);
}

void
ar_gguf_writer_set_bool (ArGgufWriter *w, const char *key, gboolean v)
{
  GByteArray *b;
  guint8 u = v ? 1 : 0;

  g_return_if_fail (w != NULL && valid_key (key));
  b = g_byte_array_new ();
  g_byte_array_append (b, &u, 1);
  writer_set (w, key, AR_GGUF_TYPE_BOOL, b);
}

void
ar_gguf_writer_set_string (ArGgufWriter *w, const char *key, const char *v)
{
  GByteArray *b;

  g_return_if_fail (w != NULL && valid_key (key));
  g_return_if_fail (v != NULL && g_utf8_validate (v, -1, NULL));
  b = g_byte_array_new ();
  put_string (b, v, strlen (v));
  writer_set (w, key, AR_GGUF_TYPE_STRING, b);
}

static GByteArray *
array_header (ArGgufType elem_type, gsize n)
{
  GByteArray *b = g_byte_array_new ();

  put_u32 (b, elem_type);
  put_u64 (b, n);
  return b;
}

void
ar_gguf_writer_set_string_array (ArGgufWriter *w, const char *key,
    const char *const *v, const gsize *lengths, gsize n)
{
  GByteArray *b;

  g_return_if_fail (w != NULL && valid_key (key));
  g_return_if_fail (v != NULL || n == 0);
  b = array_header (AR_GGUF_TYPE_STRING, n);
  for (gsize j = 0; j < n; j++)
    put_string (b, v[j], lengths ? lengths[j] : strlen (v[j]));
  writer_set (w, key, AR_GGUF_TYPE_ARRAY, b);
}

void
ar_gguf_writer_set_f32_array (ArGgufWriter *w, const char *key, const float *v,
    gsize n)
{
  GByteArray *b;

  g_return_if_fail (w != NULL && valid_key (key));
  g_return_if_fail (v != NULL || n == 0);
  b = array_header (AR_GGUF_TYPE_FLOAT32, n);
  g_byte_array_append (b, (const guint8 *) v, n * 4); /* host is LE */
  writer_set (w, key, AR_GGUF_TYPE_ARRAY, b);
}

void
ar_gguf_writer_set_i32_array (ArGgufWriter *w, const char *key, const gint32 *v,
    gsize n)
{
  GByteArray *b;

  g_return_if_fail (w != NULL && valid_key (key));
  g_return_if_fail (v != NULL || n == 0);
  b = array_header (AR_GGUF_TYPE_INT32, n);
  g_byte_array_append (b, (const guint8 *) v, n * 4);
  writer_set (w, key, AR_GGUF_TYPE_ARRAY, b);
}

void
ar_gguf_writer_set_u64_array (ArGgufWriter *w, const char *key,
    const guint64 *v, gsize n)
{
  GByteArray *b;

  g_return_if_fail (w != NULL && valid_key (key));
  g_return_if_fail (v != NULL || n == 0);
  b = array_header (AR_GGUF_TYPE_UINT64, n);
  g_byte_array_append (b, (const guint8 *) v, n * 8);
  writer_set (w, key, AR_GGUF_TYPE_ARRAY, b);
}

void
ar_gguf_writer_copy_kv (ArGgufWriter *w, const ArGguf *src)
{
  g_return_if_fail (w != NULL && src != NULL);

  /* The reader kept where each value's bytes are: copy them as they are. */
  for (guint i = 0; i < src->n_kv; i++) {
    const Kv *kv = &src->kvs[i];
    GByteArray *b;

    if (strcmp (kv->key, "general.alignment") == 0)
      continue;
    b = g_byte_array_sized_new (kv->raw_len);
    g_byte_array_append (b, src->data + kv->raw_offset, kv->raw_len);
    writer_set (w, kv->key, kv->type, b);
  }
}

/* Checks shared by both ways of adding a tensor (programmer errors). */
static gboolean
check_new_tensor (ArGgufWriter *w, const char *name, ArTensorType type,
    guint n_dims, const guint64 *ne, guint64 *n_elements)
{
  guint64 n = 1;

  g_return_val_if_fail (name != NULL && *name != '\0', FALSE);
  g_return_val_if_fail (g_utf8_validate (name, -1, NULL), FALSE);
  g_return_val_if_fail (!g_hash_table_contains (w->tensor_names, name), FALSE);
  g_return_val_if_fail (type == AR_TENSOR_F32 || type == AR_TENSOR_F16 ||
          type == AR_TENSOR_Q8_0 || type == AR_TENSOR_Q4_0,
      FALSE);
  g_return_val_if_fail (n_dims >= 1 && n_dims <= AR_GGUF_MAX_DIMS, FALSE);
  g_return_val_if_fail (ne != NULL, FALSE);
  for (guint d = 0; d < n_dims; d++) {
    g_return_val_if_fail (ne[d] > 0, FALSE);
    g_return_val_if_fail (g_uint64_checked_mul (&n, n, ne[d]), FALSE);
  }
  g_return_val_if_fail (block_bytes (type) == 0 || ne[0] % Q8_0_BLOCK == 0,
      FALSE);
  *n_elements = n;
  return TRUE;
}

static WTensor *
add_tensor (ArGgufWriter *w, const char *name, ArTensorType type, guint n_dims,
    const guint64 *ne, gsize nbytes)
{
  WTensor *t = g_new0 (WTensor, 1);

  t->name = g_strdup (name);
  t->type = type;
  t->n_dims = n_dims;
  for (guint d = 0; d < AR_GGUF_MAX_DIMS; d++)
    t->ne[d] = d < n_dims ? ne[d] : 1;
  t->nbytes = nbytes;
  t->data = g_malloc (MAX (nbytes, 1));
  g_ptr_array_add (w->tensors, t);
  g_hash_table_add (w->tensor_names, t->name);
  return t;
}

void
ar_gguf_writer_add_tensor_f32 (ArGgufWriter *w, const char *name,
    ArTensorType type, guint n_dims, const guint64 *ne, const float *data)
{
  guint64 n, nbytes;
  WTensor *t;

  g_return_if_fail (w != NULL && data != NULL);
  if (!check_new_tensor (w, name, type, n_dims, ne, &n))
    return;
  g_return_if_fail (tensor_nbytes (type, n, &nbytes) && nbytes <= G_MAXSIZE);

  t = add_tensor (w, name, type, n_dims, ne, (gsize) nbytes);
  /* t->data is malloc'd, so aligned as the quantised blocks need */
  ar_tensor_data_from_f32 (type, data, n, t->data);
}

void
ar_gguf_writer_add_tensor_raw (ArGgufWriter *w, const char *name,
    ArTensorType type, guint n_dims, const guint64 *ne, const void *data,
    gsize nbytes)
{
  guint64 n, expected;
  WTensor *t;

  g_return_if_fail (w != NULL && data != NULL);
  if (!check_new_tensor (w, name, type, n_dims, ne, &n))
    return;
  g_return_if_fail (tensor_nbytes (type, n, &expected) && expected == nbytes);

  t = add_tensor (w, name, type, n_dims, ne, nbytes);
  memcpy (t->data, data, nbytes);
}

static gsize
align_up (gsize x, gsize a)
{
  return (x + a - 1) / a * a;
}

GBytes *
ar_gguf_writer_to_bytes (const ArGgufWriter *w)
{
  static const char alignment_key[] = "general.alignment";
  g_autoptr (GByteArray) head = g_byte_array_new ();
  gsize data_offset, total, pos;
  gsize offset = 0, end = 0;
  guint8 *out;

  g_return_val_if_fail (w != NULL, NULL);

  /* Header, metadata (general.alignment last, after the caller's keys in
   * their order) and tensor descriptors are small: build them in a
   * GByteArray; the data is then laid out after them. */
  put_u32 (head, AR_GGUF_MAGIC);
  put_u32 (head, AR_GGUF_VERSION);
  put_u64 (head, w->tensors->len);
  put_u64 (head, w->kvs->len + 1);
  for (guint i = 0; i < w->kvs->len; i++) {
    const WKv *kv = g_ptr_array_index (w->kvs, i);

    put_string (head, kv->key, strlen (kv->key));
    put_u32 (head, kv->type);
    g_byte_array_append (head, kv->value->data, kv->value->len);
  }
  put_string (head, alignment_key, strlen (alignment_key));
  put_u32 (head, AR_GGUF_TYPE_UINT32);
  put_u32 (head, AR_GGUF_DEFAULT_ALIGNMENT);

  for (guint i = 0; i < w->tensors->len; i++) {
    const WTensor *t = g_ptr_array_index (w->tensors, i);

    put_string (head, t->name, strlen (t->name));
    put_u32 (head, t->n_dims);
    for (guint d = 0; d < t->n_dims; d++)
      put_u64 (head, t->ne[d]);
    put_u32 (head, t->type);
    put_u64 (head, offset);
    end = offset + t->nbytes;
    offset = align_up (end, AR_GGUF_DEFAULT_ALIGNMENT);
  }

  /* No padding after the last tensor (nor a data section without tensors):
   * then no proper prefix of a file we write is itself a valid file. */
  data_offset = w->tensors->len
      ? align_up (head->len, AR_GGUF_DEFAULT_ALIGNMENT)
      : head->len;
  total = data_offset + end;

  out = g_malloc0 (total);
  memcpy (out, head->data, head->len);
  pos = data_offset;
  for (guint i = 0; i < w->tensors->len; i++) {
    const WTensor *t = g_ptr_array_index (w->tensors, i);

    memcpy (out + pos, t->data, t->nbytes);
    pos = align_up (pos + t->nbytes, AR_GGUF_DEFAULT_ALIGNMENT);
  }
  return g_bytes_new_take (out, total);
}

/* write(2) all of @buf, retrying on EINTR and short writes. */
static gboolean
write_all (int fd, const guint8 *buf, gsize len, int *errsv)
{
  while (len > 0) {
    gssize n = write (fd, buf, MIN (len, (gsize) G_MAXSSIZE));

    if (n < 0) {
      if (errno == EINTR)
        continue;
      *errsv = errno;
      return FALSE;
    }
    buf += n;
    len -= n;
  }
  return TRUE;
}

gboolean
ar_gguf_writer_write_file (const ArGgufWriter *w, const char *path,
    GError **error)
{
  g_autoptr (GBytes) bytes = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *base = NULL;
  g_autofree char *tmp_name = NULL;
  g_autofree char *tmp = NULL;
  const guint8 *data;
  gsize len;
  int fd, errsv = 0, dfd;
  const char *step;

  g_return_val_if_fail (w != NULL && path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  bytes = ar_gguf_writer_to_bytes (w);
  data = g_bytes_get_data (bytes, &len);

  /* The temporary file must be in the target's directory: rename(2) is
   * atomic only within one file system.  Hidden, so a half-written file
   * never looks like a model to someone listing the directory. */
  dir = g_path_get_dirname (path);
  base = g_path_get_basename (path);
  tmp_name = g_strdup_printf (".%s.XXXXXX", base);
  tmp = g_build_filename (dir, tmp_name, NULL);
  fd = g_mkstemp_full (tmp, O_RDWR | O_CLOEXEC, 0666);
  if (fd < 0) {
    errsv = errno;
    g_set_error (error, AR_ERROR, AR_ERROR_IO,
        "%s: cannot create a temporary file in %s: %s", path, dir,
        g_strerror (errsv));
    return FALSE;
  }

  /* fsync before rename: otherwise a crash can leave the new name pointing
   * at a file whose data never reached the disk. */
  step = "write the temporary file";
  if (!write_all (fd, data, len, &errsv))
    goto fail;
  step = "sync the temporary file";
  if (fsync (fd) != 0) {
    errsv = errno;
    goto fail;
  }
  step = "close the temporary file";
  if (close (fd) != 0) { /* NFS reports write errors here */
    errsv = errno;
    fd = -1;
    goto fail;
  }
  fd = -1;
  step = "rename the temporary file into place";
  if (g_rename (tmp, path) != 0) {
    errsv = errno;
    goto fail;
  }

  /* Make the rename itself durable.  Failure here is not an error: the new
   * file is complete and in place, and some file systems cannot sync a
   * directory. */
  dfd = g_open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (dfd >= 0) {
    fsync (dfd);
    close (dfd);
  }
  return TRUE;

fail:
  if (fd >= 0)
    close (fd);
  g_unlink (tmp);
  g_set_error (error, AR_ERROR, AR_ERROR_IO, "%s: cannot %s: %s", path, step,
      g_strerror (errsv));
  return FALSE;
}
