/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-idx.c — IDX files (gzipped or plain) and PNG folders as image sets
 * (ar-idx.h). */
#include "data/ar-idx.h"
#include "core/ar-error.h"

#include <gio/gio.h>
#include <png.h>
#include <string.h>

/* The whole file, decompressed when it starts with the gzip magic. */
static GBytes *
read_all (const char *path, GError **error)
{
  g_autofree char *contents = NULL;
  gsize len;

  if (!g_file_get_contents (path, &contents, &len, error))
    return NULL;
  if (len < 2 || (guint8) contents[0] != 0x1f || (guint8) contents[1] != 0x8b)
    return g_bytes_new_take (g_steal_pointer (&contents), len);

  g_autoptr (GInputStream) mem =
      g_memory_input_stream_new_from_data (g_steal_pointer (&contents), len,
          g_free);
  g_autoptr (GZlibDecompressor) dec =
      g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  g_autoptr (GInputStream) in =
      g_converter_input_stream_new (mem, G_CONVERTER (dec));
  g_autoptr (GByteArray) out = g_byte_array_new ();
  guint8 buf[65536];
  GError *local = NULL;

  while (TRUE) {
    gssize n = g_input_stream_read (in, buf, sizeof buf, NULL, &local);
    if (n < 0) {
      g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
          "%s: gzip data is corrupt or truncated: %s", path, local->message);
      g_error_free (local);
      return NULL;
    }
    if (n == 0)
      break;
    if (out->len + (gsize) n > AR_IDX_MAX_BYTES) {
      g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
          "%s: decompresses to more than %" G_GSIZE_FORMAT " bytes", path,
          AR_IDX_MAX_BYTES);
      return NULL;
    }
    g_byte_array_append (out, buf, n);
  }
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

guint8 *
ar_idx_read (const char *path, guint *n_dims, guint32 dims[4], GError **error)
{
  g_return_val_if_fail (path != NULL && n_dims != NULL && dims != NULL, NULL);
  g_autoptr (GBytes) bytes = read_all (path, error);
  gsize len;

  if (bytes == NULL)
    return NULL;
  const guint8 *p = g_bytes_get_data (bytes, &len);
  if (len < 4 || p[0] != 0 || p[1] != 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "%s: not an IDX file (expected the magic 00 00 TT DD)", path);
    return NULL;
  }
  if (p[2] != 0x08) {
    g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
        "%s: IDX value type 0x%02x; only unsigned bytes (0x08) are read", path,
        p[2]);
    return NULL;
  }
  guint d = p[3];
  if (d < 1 || d > 4) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "%s: IDX file has %u dimensions; expected 1 … 4", path, d);
    return NULL;
  }
  if (len < 4 + 4 * (gsize) d) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "%s: truncated IDX header (%" G_GSIZE_FORMAT " bytes)", path, len);
    return NULL;
  }
  guint64 total = 1;
  for (guint i = 0; i < d; i++) {
    const guint8 *q = p + 4 + 4 * i;
    dims[i] = (guint32) q[0] << 24 | (guint32) q[1] << 16 |
        (guint32) q[2] << 8 | q[3];
    total *= dims[i];
    if (dims[i] == 0 || total > AR_IDX_MAX_BYTES) {
      g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
          "%s: IDX dimension %u is %u (the values must be 1 … %" G_GSIZE_FORMAT
          " bytes in all)",
          path, i, dims[i], AR_IDX_MAX_BYTES);
      return NULL;
    }
  }
  gsize have = len - 4 - 4 * d;
  if (have != total) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "%s: the IDX dimensions give %" G_GUINT64_FORMAT
        " values; the file holds %" G_GSIZE_FORMAT " (%s)",
        path, total, have, have < total ? "truncated" : "trailing bytes");
    return NULL;
  }
  *n_dims = d;
  return g_memdup2 (p + 4 + 4 * d, total);
}

ArImageSet *
ar_image_set_new_from_idx (const char *images, const char *labels,
    GError **error)
{
  guint nd;
  guint32 dims[4];

  g_return_val_if_fail (images != NULL, NULL);
  g_autofree guint8 *pix = ar_idx_read (images, &nd, dims, error);
  if (pix == NULL)
    return NULL;
  if (nd != 3) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "%s: an image IDX file has 3 dimensions (images, rows, columns); "
        "found %u",
        images, nd);
    return NULL;
  }
  /* (AR_IDX_MAX_BYTES already bounds the count by 2^31) */
  if (dims[1] > 65536 || dims[2] > 65536) {
    g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
        "%s: images of %u × %u pixels; at most 65536 × 65536 are read", images,
        dims[2], dims[1]);
    return NULL;
  }
  g_autoptr (ArImageSet) set = g_new0 (ArImageSet, 1);
  set->n = dims[0];
  set->height = dims[1];
  set->width = dims[2];
  set->pixels = g_steal_pointer (&pix);
  if (labels != NULL) {
    g_autofree guint8 *lab = ar_idx_read (labels, &nd, dims, error);
    if (lab == NULL)
      return NULL;
    if (nd != 1 || dims[0] != (guint32) set->n) {
      g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
          "%s: a label IDX file has 1 dimension of %d labels (one per image "
          "of %s); found %u dimensions, the first %u",
          labels, set->n, images, nd, dims[0]);
      return NULL;
    }
    set->labels = g_new (gint32, set->n);
    for (int i = 0; i < set->n; i++) {
      set->labels[i] = lab[i];
      set->n_classes = MAX (set->n_classes, lab[i] + 1);
    }
  }
  return g_steal_pointer (&set);
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* The sorted names in @dir that are PNG files (@want_dirs FALSE) or
 * folders (TRUE). */
static GPtrArray *
list_dir (const char *dir, gboolean want_dirs, GError **error)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, error);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  if (d == NULL) {
    g_ptr_array_unref (names);
    return NULL;
  }
  while ((name = g_dir_read_name (d)) != NULL) {
    g_autofree char *full = g_build_filename (dir, name, NULL);
    gboolean is_dir = g_file_test (full, G_FILE_TEST_IS_DIR);

    if (want_dirs ? is_dir
                  : !is_dir &&
                (g_str_has_suffix (name, ".png") ||
                    g_str_has_suffix (name, ".PNG")))
      g_ptr_array_add (names, g_strdup (name));
  }
  g_ptr_array_sort (names, compare_names);
  return names;
}

/* Deflate turns one byte into at most 1032 (a 258-byte match coded in two
 * bits), and a PNG row has at least one bit per pixel: so a PNG file of
 * n bytes cannot hold more than 8 · 1032 · n pixels.  A header that claims
 * more is a lie that would otherwise cost an allocation of its claimed
 * size before libpng finds the data missing (4 GB for 65535 × 65535 in a
 * 270-byte file). */
#define PNG_MAX_PIXELS_PER_BYTE (8 * 1032)

/* Appends the grey pixels of @path to @pixels, checking its size against
 * *h, *w (set by the first image, *h == 0). */
static gboolean
read_png (const char *path, GByteArray *pixels, int *h, int *w, GError **error)
{
  g_autofree char *contents = NULL;
  gsize len;
  png_image img;
  GError *local = NULL;

  /* (in memory, so that its size is known) */
  if (!g_file_get_contents (path, &contents, &len, &local)) {
    g_set_error (error, AR_ERROR, AR_ERROR_IO, "%s: %s", path, local->message);
    g_error_free (local);
    return FALSE;
  }
  memset (&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory (&img, contents, len)) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT, "%s: not a readable PNG: %s",
        path, img.message);
    return FALSE;
  }
  if ((guint64) img.width * img.height >
      (guint64) len * PNG_MAX_PIXELS_PER_BYTE) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "%s: the header says %u × %u pixels, more than a file of "
        "%" G_GSIZE_FORMAT " bytes can hold (truncated or corrupt)",
        path, img.width, img.height, len);
    png_image_free (&img);
    return FALSE;
  }
  if (*h == 0) {
    if (img.height > 65536 || img.width > 65536) {
      g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
          "%s: %u × %u is too large an image", path, img.width, img.height);
      png_image_free (&img);
      return FALSE;
    }
    *h = img.height;
    *w = img.width;
  }
  if ((int) img.height != *h || (int) img.width != *w) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "%s: %u × %u pixels; the images before it are %d × %d", path, img.width,
        img.height, *w, *h);
    png_image_free (&img);
    return FALSE;
  }
  /* The whole set stays within what an IDX file may hold (a GByteArray's
   * length is a guint: past 4 GiB it would wrap, and the image be written
   * past the end of a short buffer). */
  gsize at = pixels->len, size = (gsize) *h * (gsize) *w;
  if (size > AR_IDX_MAX_BYTES - at) {
    g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
        "%s: with the images before it, more than %" G_GSIZE_FORMAT
        " bytes of pixels",
        path, AR_IDX_MAX_BYTES);
    png_image_free (&img);
    return FALSE;
  }
  img.format = PNG_FORMAT_GRAY;
  g_byte_array_set_size (pixels, at + size);
  if (!png_image_finish_read (&img, NULL, pixels->data + at, 0, NULL)) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT, "%s: %s", path, img.message);
    return FALSE;
  }
  return TRUE;
}

ArImageSet *
ar_image_set_new_from_png_dir (const char *dir, GError **error)
{
  g_return_val_if_fail (dir != NULL, NULL);
  g_autoptr (GPtrArray) files = list_dir (dir, FALSE, error);
  if (files == NULL)
    return NULL;
  g_autoptr (GPtrArray) classes = list_dir (dir, TRUE, error);
  if (classes == NULL)
    return NULL;
  g_autoptr (GByteArray) pixels = g_byte_array_new ();
  g_autoptr (GArray) labels = g_array_new (FALSE, FALSE, sizeof (gint32));
  int h = 0, w = 0;

  if (classes->len > 0 && files->len > 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "%s holds both PNG files and sub-folders; expected either unlabelled "
        "PNGs or one sub-folder of PNGs per class",
        dir);
    return NULL;
  }
  if (classes->len == 0) {
    for (guint i = 0; i < files->len; i++) {
      g_autofree char *p = g_build_filename (dir, files->pdata[i], NULL);
      if (!read_png (p, pixels, &h, &w, error))
        return NULL;
    }
  } else {
    for (guint c = 0; c < classes->len; c++) {
      g_autofree char *sub = g_build_filename (dir, classes->pdata[c], NULL);
      g_autoptr (GPtrArray) f = list_dir (sub, FALSE, error);
      if (f == NULL)
        return NULL;
      for (guint i = 0; i < f->len; i++) {
        g_autofree char *p = g_build_filename (sub, f->pdata[i], NULL);
        gint32 label = c;
        if (!read_png (p, pixels, &h, &w, error))
          return NULL;
        g_array_append_val (labels, label);
      }
    }
  }
  if (pixels->len == 0 || pixels->len / ((gsize) h * w) > G_MAXINT) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "%s: no PNG images (expected *.png files, or sub-folders of them)",
        dir);
    return NULL;
  }
  ArImageSet *set = g_new0 (ArImageSet, 1);
  set->height = h;
  set->width = w;
  set->n = pixels->len / ((gsize) h * w);
  set->pixels = g_byte_array_steal (pixels, NULL);
  if (classes->len > 0) {
    set->labels =
        (gint32 *) (void *) g_array_free (g_steal_pointer (&labels), FALSE);
    set->n_classes = classes->len;
    set->class_names = g_new0 (char *, classes->len + 1);
    for (guint c = 0; c < classes->len; c++)
      set->class_names[c] = g_strdup (classes->pdata[c]);
  }
  return set;
}

ArImageSet *
ar_image_set_new_from_path (const char *path, const char *labels,
    GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  if (g_file_test (path, G_FILE_TEST_IS_DIR)) {
    if (labels != NULL) {
      g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
          "%s is a folder of PNGs: its labels are its sub-folders, not %s",
          path, labels);
      return NULL;
    }
    return ar_image_set_new_from_png_dir (path, error);
  }
  return ar_image_set_new_from_idx (path, labels, error);
}

void
ar_image_set_free (ArImageSet *set)
{
  if (set == NULL)
    return;
  g_free (set->pixels);
  g_free (set->labels);
  g_strfreev (set->class_names);
  g_free (set);
}
