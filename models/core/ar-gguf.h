/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-gguf.h — GGUF v3 model files: a validating reader and an atomic writer.
 *
 * Example:
 *
 *   g_autoptr (ArGguf) f = ar_gguf_new_from_file ("m.gguf", &error);
 *   guint32 hidden;
 *   if (!f || !ar_gguf_get_u32 (f, "rnn.hidden_size", &hidden, &error))
 *     return FALSE;
 *   const guint64 ne[2] = { hidden, 3 * hidden };
 *   const ArGgufTensor *w = ar_gguf_require_tensor (f, "blk.0.rnn_hh.weight",
 *       2, ne, &error);
 *   if (!w)
 *     return FALSE;
 *   // w->type is F32, F16, Q8_0 or Q4_0: the caller accepts or converts it.
 *
 * The format (all integers little-endian; "string" = u64 length + bytes, no NUL):
 *
 *   u32 magic "GGUF" | u32 version (3) | u64 n_tensors | u64 n_kv
 *   n_kv × { string key | u32 value_type | value }
 *        value: scalar of ArGgufType, a string, or ARRAY = u32 elem_type | u64 n | n values
 *   n_tensors × { string name | u32 n_dims (1..4) | u64 ne[n_dims] | u32 ArTensorType | u64 offset }
 *   padding to `general.alignment` (u32 key, default 32)
 *   tensor data; each tensor's offset is relative to the data start and aligned.
 *
 * Shapes follow ggml: ne[0] is the innermost, contiguous dimension, so a row-major
 * matrix of R rows and C columns has ne = { C, R }.
 *
 * The reader validates everything before returning: the header, every key and
 * value, every tensor's name, type, dimensions (with overflow checks), offset and
 * extent; a file that passes can be read without further bounds checks.  Tensor
 * data is never copied: it points into the mmap'd file (or the GBytes; bytes
 * not aligned to MIN (general.alignment, 64) are copied once, whole, into
 * memory that is).  Any fault
 * is a GError (AR_ERROR) naming the file and the fault. */
#pragma once

#include <glib.h>
#include "ar-error.h"

G_BEGIN_DECLS

#define AR_GGUF_MAGIC 0x46554747u       /* "GGUF" read as a little-endian u32 */
#define AR_GGUF_VERSION 3
#define AR_GGUF_DEFAULT_ALIGNMENT 32
#define AR_GGUF_MAX_DIMS 4

/* Metadata value types (the numbering is GGUF's). */
typedef enum
{
  AR_GGUF_TYPE_UINT8 = 0,
  AR_GGUF_TYPE_INT8 = 1,
  AR_GGUF_TYPE_UINT16 = 2,
  AR_GGUF_TYPE_INT16 = 3,
  AR_GGUF_TYPE_UINT32 = 4,
  AR_GGUF_TYPE_INT32 = 5,
  AR_GGUF_TYPE_FLOAT32 = 6,
  AR_GGUF_TYPE_BOOL = 7,
  AR_GGUF_TYPE_STRING = 8,
  AR_GGUF_TYPE_ARRAY = 9,
  AR_GGUF_TYPE_UINT64 = 10,
  AR_GGUF_TYPE_INT64 = 11,
  AR_GGUF_TYPE_FLOAT64 = 12,
} ArGgufType;

/* Tensor element types (the numbering is ggml's).  Q8_0 = blocks of 32 int8
 * values with one f16 scale (34 bytes a block); Q4_0 = blocks of 32 4-bit
 * codes with one f16 scale (18 bytes a block, layout in ar-kernels.h).  The
 * quantised types need ne[0] % 32 == 0. */
typedef enum
{
  AR_TENSOR_F32 = 0,
  AR_TENSOR_F16 = 1,
  AR_TENSOR_Q4_0 = 2,
  AR_TENSOR_Q8_0 = 8,
} ArTensorType;

const char *ar_tensor_type_name (ArTensorType type);

typedef struct
{
  const char *name;
  ArTensorType type;
  guint n_dims;
  guint64 ne[AR_GGUF_MAX_DIMS]; /* ne[0] innermost; unused dims are 1 */
  guint64 n_elements;
  gsize nbytes;
  const void *data;             /* aligned, inside the file mapping */
} ArGgufTensor;

typedef struct _ArGguf ArGguf;

ArGguf *ar_gguf_new_from_file (const char *path, GError **error);
/* The regular file @path mapped read-only, its pages shared with every
 * process that maps it: how ar_gguf_new_from_file () and the llama2.c
 * converter read files.  Anything else (a directory, a FIFO, a device) is
 * refused at once, never waited on; AR_ERROR_IO, the message starting with
 * @path. */
GBytes *ar_gguf_map_file (const char *path, GError **error);
/* @name is used in error messages (e.g. "resource:///…/default.gguf"). */
ArGguf *ar_gguf_new_from_bytes (GBytes *bytes, const char *name, GError **error);
ArGguf *ar_gguf_ref (ArGguf *gguf);
void ar_gguf_unref (ArGguf *gguf);
const char *ar_gguf_get_name (const ArGguf *gguf);
gsize ar_gguf_get_size (const ArGguf *gguf);    /* file size in bytes */

/* Metadata.  Getters fail with AR_ERROR_MODEL naming the file and key when the
 * key is missing, has the wrong type, or (for integers) does not fit. */
guint ar_gguf_get_n_kv (const ArGguf *gguf);
const char *ar_gguf_get_key (const ArGguf *gguf, guint i);
ArGgufType ar_gguf_get_kv_type (const ArGguf *gguf, guint i);
/* For arrays: the element type and count. */
ArGgufType ar_gguf_get_array_type (const ArGguf *gguf, guint i);
guint64 ar_gguf_get_array_length (const ArGguf *gguf, guint i);
/* A one-line rendering of value i ("512", "\"gru\"", "[65 strings]") for `argen info`. */
char *ar_gguf_format_value (const ArGguf *gguf, guint i);
gboolean ar_gguf_has_key (const ArGguf *gguf, const char *key);
/* Integer getters accept any integer type whose value fits. */
gboolean ar_gguf_get_u32 (const ArGguf *gguf, const char *key, guint32 *out, GError **error);
gboolean ar_gguf_get_i32 (const ArGguf *gguf, const char *key, gint32 *out, GError **error);
gboolean ar_gguf_get_u64 (const ArGguf *gguf, const char *key, guint64 *out, GError **error);
/* Accepts FLOAT32 or FLOAT64; a value that is not a finite float is an error. */
gboolean ar_gguf_get_f32 (const ArGguf *gguf, const char *key, float *out, GError **error);
gboolean ar_gguf_get_bool (const ArGguf *gguf, const char *key, gboolean *out, GError **error);
/* The string stays valid as long as @gguf; it is NUL-terminated (a string that
 * contains a NUL byte is a format error). */
gboolean ar_gguf_get_string (const ArGguf *gguf, const char *key, const char **out, GError **error);
/* Arrays: the returned pointers stay valid as long as @gguf. Strings are
 * NUL-terminated; *lengths (may be NULL) gives their byte lengths.  Unlike
 * keys and string values, array strings may hold any bytes, NUL included (a
 * byte vocabulary has the token "\0").  Element types must match exactly. */
gboolean ar_gguf_get_string_array (const ArGguf *gguf, const char *key,
    const char *const **strings, const gsize **lengths, guint64 *n, GError **error);
/* The string array @key as @n names, one per class of a model (@count_key
 * says where @n comes from, for the message): each non-empty, without a NUL
 * byte, valid UTF-8 and unlike the others — names a caller can find again
 * by name and show.  Anything else is AR_ERROR_MODEL naming the entry.
 * *@names as ar_gguf_get_string_array ()'s. */
gboolean ar_gguf_get_name_array (const ArGguf *gguf, const char *key,
    guint64 n, const char *count_key, const char *const **names,
    GError **error);
gboolean ar_gguf_get_f32_array (const ArGguf *gguf, const char *key,
    const float **values, guint64 *n, GError **error);
gboolean ar_gguf_get_i32_array (const ArGguf *gguf, const char *key,
    const gint32 **values, guint64 *n, GError **error);
gboolean ar_gguf_get_u64_array (const ArGguf *gguf, const char *key,
    const guint64 **values, guint64 *n, GError **error);

/* Tensors. */
guint ar_gguf_get_n_tensors (const ArGguf *gguf);
const ArGgufTensor *ar_gguf_get_tensor (const ArGguf *gguf, guint i);
const ArGgufTensor *ar_gguf_find_tensor (const ArGguf *gguf, const char *name);
/* Looks up @name and checks its shape (trailing dimensions of 1 are ignored:
 * { 5 } matches { 5, 1 }) and that it is finite: every value of F32 and F16
 * tensors, every block scale of Q8_0 and Q4_0 ones.  The type is not checked: callers
 * look at ->type and accept or convert it.  Errors (AR_ERROR_MODEL) name the
 * file and the tensor and give the expected and found shapes. */
const ArGgufTensor *ar_gguf_require_tensor (const ArGguf *gguf, const char *name,
    guint n_dims, const guint64 *ne, GError **error);
/* Copies @tensor (F32, F16, Q8_0 or Q4_0) into @dst as F32 (n_elements
 * floats). */
void ar_gguf_tensor_to_f32 (const ArGgufTensor *tensor, float *dst);
/* The same for @n values stored as @type at @data (n % 32 == 0 for the
 * quantised types), e.g. one row of a matrix: the one place each storage
 * type is widened to floats. */
void ar_tensor_data_to_f32 (ArTensorType type, const void *data, guint64 n,
    float *dst);
/* Its inverse: @n floats @src stored as @type at @dst
 * (ar_tensor_data_size (type, n) bytes, 2-byte aligned; n % 32 == 0 for the
 * quantised types), as a GGUF tensor of that type holds them — the one
 * place each storage type is narrowed from floats (the writer's
 * ar_gguf_writer_add_tensor_f32 uses it). */
void ar_tensor_data_from_f32 (ArTensorType type, const float *src, guint64 n,
    void *dst);
/* Bytes that @n values stored as @type take (n % 32 == 0 for the quantised
 * types): for n the columns of a matrix, the bytes of one row, so row r of
 * the matrix starts r times that far into its data. */
gsize ar_tensor_data_size (ArTensorType type, guint64 n);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArGguf, ar_gguf_unref)

/* ---- writer ----------------------------------------------------------- */

typedef struct _ArGgufWriter ArGgufWriter;

ArGgufWriter *ar_gguf_writer_new (void);
void ar_gguf_writer_free (ArGgufWriter *w);
/* Setting a key twice replaces the first value (keeping its position). */
void ar_gguf_writer_set_u32 (ArGgufWriter *w, const char *key, guint32 v);
void ar_gguf_writer_set_i32 (ArGgufWriter *w, const char *key, gint32 v);
void ar_gguf_writer_set_u64 (ArGgufWriter *w, const char *key, guint64 v);
void ar_gguf_writer_set_f32 (ArGgufWriter *w, const char *key, float v);
void ar_gguf_writer_set_bool (ArGgufWriter *w, const char *key, gboolean v);
void ar_gguf_writer_set_string (ArGgufWriter *w, const char *key, const char *v);
/* @lengths may be NULL for NUL-terminated strings. */
void ar_gguf_writer_set_string_array (ArGgufWriter *w, const char *key,
    const char *const *v, const gsize *lengths, gsize n);
void ar_gguf_writer_set_f32_array (ArGgufWriter *w, const char *key, const float *v, gsize n);
void ar_gguf_writer_set_i32_array (ArGgufWriter *w, const char *key, const gint32 *v, gsize n);
void ar_gguf_writer_set_u64_array (ArGgufWriter *w, const char *key, const guint64 *v, gsize n);
/* Copies every key of @src (except general.alignment). */
void ar_gguf_writer_copy_kv (ArGgufWriter *w, const ArGguf *src);
/* Adds a tensor from F32 data, stored as @type (F32, F16, Q8_0 or Q4_0 — the
 * quantised types need ne[0] % 32 == 0, and quantise as ggml does); the data
 * is converted and copied. */
void ar_gguf_writer_add_tensor_f32 (ArGgufWriter *w, const char *name, ArTensorType type,
    guint n_dims, const guint64 *ne, const float *data);
/* Adds a tensor already in its storage type (data copied). */
void ar_gguf_writer_add_tensor_raw (ArGgufWriter *w, const char *name, ArTensorType type,
    guint n_dims, const guint64 *ne, const void *data, gsize nbytes);
GBytes *ar_gguf_writer_to_bytes (const ArGgufWriter *w);
/* Writes through a temporary file in the same directory, fsync and rename: the
 * target is either the old file or the complete new one, never a partial one. */
gboolean ar_gguf_writer_write_file (const ArGgufWriter *w, const char *path, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArGgufWriter, ar_gguf_writer_free)

/* ---- half precision --------------------------------------------------- */
float ar_f16_to_f32 (guint16 h);
guint16 ar_f32_to_f16 (float f);        /* round to nearest even */

G_END_DECLS
