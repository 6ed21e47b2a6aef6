/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-idx.h — image data sets for the PixelCNN family: IDX files (the MNIST
 * format, gzipped or plain) and folders of PNG images.
 *
 *   g_autoptr (ArImageSet) train = ar_image_set_new_from_idx (
 *       "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", &error);
 *   // train->pixels: train->n images of height × width bytes
 *
 * IDX (big-endian): two zero bytes, a type byte (0x08 = unsigned byte, the
 * only type read here), a dimension count d, then d u32 sizes, then the
 * values, last dimension innermost.  Image files have d = 3 (n, rows,
 * columns), label files d = 1 (n).  A file starting with the gzip magic
 * (1f 8b) is decompressed first (GIO's GZlibDecompressor).
 *
 * PNG folders: every *.png in DIR (sorted by name), unlabelled; or, when
 * DIR holds sub-folders, every *.png of each sub-folder, labelled by the
 * sub-folder's index in name order (the names become the class names).
 * Images are read as 8-bit grey whatever their format (colour converted by
 * libpng's simplified API, alpha composed on black); all must be the same
 * size, and a header must not claim more pixels than its file can hold
 * (8 · 1032 per byte: deflate's largest expansion, one bit per pixel) nor
 * the whole set more than AR_IDX_MAX_BYTES.
 *
 * Errors are GErrors (AR_ERROR_IO, AR_ERROR_FORMAT, AR_ERROR_UNSUPPORTED)
 * naming the file and what was expected versus found. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Largest IDX payload read (decompressed), bytes. */
#define AR_IDX_MAX_BYTES ((gsize) 1 << 31)

typedef struct
{
  int n; /* images */
  int height, width;
  guint8 *pixels;     /* (n, height, width) */
  gint32 *labels;     /* (n) class indices, or NULL */
  int n_classes;      /* 1 + the largest label; 0 without labels */
  char **class_names; /* (n_classes + 1) NULL-terminated, or NULL */
} ArImageSet;

/* An IDX file of unsigned bytes: its dimensions (*n_dims of them, at most 4,
 * into @dims) and its values (the returned array, g_free it). */
guint8 *ar_idx_read (const char *path, guint *n_dims, guint32 dims[4],
    GError **error);
/* Images from a 3-dimensional IDX file; @labels (may be NULL) a
 * 1-dimensional one with as many entries. */
ArImageSet *ar_image_set_new_from_idx (const char *images, const char *labels,
    GError **error);
ArImageSet *ar_image_set_new_from_png_dir (const char *dir, GError **error);
/* A folder → PNGs (then @labels must be NULL), otherwise IDX. */
ArImageSet *ar_image_set_new_from_path (const char *path, const char *labels,
    GError **error);
void ar_image_set_free (ArImageSet *set);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArImageSet, ar_image_set_free)

G_END_DECLS
