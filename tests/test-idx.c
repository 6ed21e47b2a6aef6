/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-idx.c — image data sets: IDX files plain and gzipped, with and
 * without labels, every malformed case an error naming the file; folders of
 * PNGs, flat and one sub-folder per class, colour converted to grey; the
 * Fashion-MNIST test set when it is installed. */
#include "core/ar-error.h"
#include "data/ar-idx.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <png.h>
#include <string.h>

static char *tmpdir;

static char *
tmp_path (const char *name)
{
  return g_build_filename (tmpdir, name, NULL);
}

/* An IDX header for @d dimensions followed by @data (@len bytes); gzipped
 * when @gz. */
static char *
write_idx (const char *name, guint8 type, guint d, const guint32 *dims,
    const guint8 *data, gsize len, gboolean gz)
{
  g_autoptr (GByteArray) b = g_byte_array_new ();
  guint8 head[4] = { 0, 0, type, (guint8) d };
  char *path = tmp_path (name);

  g_byte_array_append (b, head, 4);
  for (guint i = 0; i < d; i++) {
    guint8 be[4] = { dims[i] >> 24, dims[i] >> 16, dims[i] >> 8, dims[i] };
    g_byte_array_append (b, be, 4);
  }
  g_byte_array_append (b, data, len);
  if (gz) {
    g_autoptr (GZlibCompressor) comp =
        g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP, -1);
    g_autoptr (GOutputStream) mem = g_memory_output_stream_new_resizable ();
    g_autoptr (GOutputStream) out =
        g_converter_output_stream_new (mem, G_CONVERTER (comp));
    g_assert_true (g_output_stream_write_all (out, b->data, b->len, NULL, NULL,
        NULL));
    g_assert_true (g_output_stream_close (out, NULL, NULL));
    g_assert_true (g_file_set_contents (path,
        g_memory_output_stream_get_data (G_MEMORY_OUTPUT_STREAM (mem)),
        g_memory_output_stream_get_data_size (G_MEMORY_OUTPUT_STREAM (mem)),
        NULL));
  } else {
    g_assert_true (g_file_set_contents (path, (char *) b->data, b->len, NULL));
  }
  return path;
}

static void
test_idx_plain_and_gz (void)
{
  guint8 pix[3 * 2 * 4], lab[3] = { 4, 0, 9 };
  guint32 dims[3] = { 3, 2, 4 }, ldims[1] = { 3 };

  for (guint i = 0; i < sizeof pix; i++)
    pix[i] = (guint8) (i * 11);
  for (int gz = 0; gz < 2; gz++) {
    g_autofree char *ip =
        write_idx (gz ? "i.gz" : "i.idx", 8, 3, dims, pix, sizeof pix, gz);
    g_autofree char *lp =
        write_idx (gz ? "l.gz" : "l.idx", 8, 1, ldims, lab, 3, gz);
    GError *error = NULL;
    g_autoptr (ArImageSet) s = ar_image_set_new_from_idx (ip, lp, &error);
    g_assert_no_error (error);
    g_assert_cmpint (s->n, ==, 3);
    g_assert_cmpint (s->height, ==, 2);
    g_assert_cmpint (s->width, ==, 4);
    g_assert_cmpmem (s->pixels, sizeof pix, pix, sizeof pix);
    g_assert_cmpint (s->labels[0], ==, 4);
    g_assert_cmpint (s->labels[2], ==, 9);
    g_assert_cmpint (s->n_classes, ==, 10);
    g_autoptr (ArImageSet) u = ar_image_set_new_from_path (ip, NULL, &error);
    g_assert_no_error (error);
    g_assert_null (u->labels);
    g_assert_cmpint (u->n_classes, ==, 0);
  }
}

static void
expect_bad (const char *images, const char *labels, int code,
    const char *fragment)
{
  GError *error = NULL;
  g_autoptr (ArImageSet) s = ar_image_set_new_from_idx (images, labels, &error);

  g_assert_null (s);
  g_assert_error (error, AR_ERROR, code);
  if (strstr (error->message, fragment) == NULL)
    g_error ("'%s' does not say '%s'", error->message, fragment);
  g_error_free (error);
}

static void
test_idx_bad (void)
{
  guint8 pix[2 * 3 * 3] = { 0 }, lab[2] = { 1, 2 };
  guint32 dims[3] = { 2, 3, 3 }, ldims[1] = { 2 }, ldims3[1] = { 3 };
  g_autofree char *good =
      write_idx ("good", 8, 3, dims, pix, sizeof pix, FALSE);
  g_autofree char *gl = write_idx ("gl", 8, 1, ldims, lab, 2, FALSE);

  /* truncated values, plain and gzipped; trailing bytes */
  g_autofree char *t1 =
      write_idx ("t1", 8, 3, dims, pix, sizeof pix - 1, FALSE);
  expect_bad (t1, NULL, AR_ERROR_FORMAT, "truncated");
  g_autofree char *t2 =
      write_idx ("t2.gz", 8, 3, dims, pix, sizeof pix - 5, TRUE);
  expect_bad (t2, NULL, AR_ERROR_FORMAT, "t2.gz");
  g_autofree char *t3 = write_idx ("t3", 8, 2, dims, pix, sizeof pix, FALSE);
  expect_bad (t3, NULL, AR_ERROR_FORMAT, "trailing");
  /* wrong dimension count for images, wrong type, zero dimension */
  g_autofree char *d1 = write_idx ("d1", 8, 1, ldims, lab, 2, FALSE);
  expect_bad (d1, NULL, AR_ERROR_FORMAT, "3 dimensions");
  g_autofree char *ty = write_idx ("ty", 0x0d, 3, dims, pix, sizeof pix, FALSE);
  expect_bad (ty, NULL, AR_ERROR_UNSUPPORTED, "0x0d");
  guint32 zero[3] = { 2, 0, 3 };
  g_autofree char *z = write_idx ("z", 8, 3, zero, pix, 0, FALSE);
  expect_bad (z, NULL, AR_ERROR_FORMAT, "dimension 1");
  /* rows beyond the image size read (the error said "found 3") */
  guint32 tall[3] = { 1, 65537, 1 };
  g_autofree guint8 *col = g_malloc0 (65537);
  g_autofree char *tl = write_idx ("tall", 8, 3, tall, col, 65537, FALSE);
  expect_bad (tl, NULL, AR_ERROR_UNSUPPORTED, "1 × 65537 pixels");
  g_autofree char *d0 = write_idx ("d0", 8, 0, dims, pix, 0, FALSE);
  expect_bad (d0, NULL, AR_ERROR_FORMAT, "0 dimensions");
  /* bad magic; a truncated header; a corrupt gzip stream */
  g_autofree char *m = tmp_path ("m");
  g_assert_true (g_file_set_contents (m, "P5\n3 3\n255\n", -1, NULL));
  expect_bad (m, NULL, AR_ERROR_FORMAT, "not an IDX file");
  g_autofree char *h = tmp_path ("h");
  g_assert_true (g_file_set_contents (h, "\0\0\x08\x03\0\0", 6, NULL));
  expect_bad (h, NULL, AR_ERROR_FORMAT, "truncated IDX header");
  g_autofree char *cz = tmp_path ("cz.gz");
  g_assert_true (g_file_set_contents (cz, "\x1f\x8b\x08\0garbage!", 12, NULL));
  expect_bad (cz, NULL, AR_ERROR_FORMAT, "gzip");
  /* labels: a count that does not match, a missing file */
  g_autofree char *l3 = write_idx ("l3", 8, 1, ldims3, pix, 3, FALSE);
  expect_bad (good, l3, AR_ERROR_FORMAT, "l3");
  g_autofree char *none = tmp_path ("does-not-exist");
  GError *error = NULL;
  g_assert_null (ar_image_set_new_from_idx (good, none, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_clear_error (&error);
  g_autoptr (ArImageSet) ok = ar_image_set_new_from_idx (good, gl, &error);
  g_assert_no_error (error);
  g_assert_cmpint (ok->n_classes, ==, 3);
}

static void
write_png (const char *path, png_uint_32 format, int w, int h,
    const guint8 *data)
{
  png_image img;

  memset (&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = w;
  img.height = h;
  img.format = format;
  g_assert_true (png_image_write_to_file (&img, path, 0, data, 0, NULL));
}

static void
test_png_dirs (void)
{
  g_autofree char *flat = tmp_path ("flat");
  g_autofree char *cls = tmp_path ("classes");
  guint8 grey[3 * 2] = { 0, 50, 100, 150, 200, 255 };
  guint8 rgb[3 * 2 * 3];
  GError *error = NULL;

  for (int i = 0; i < 6; i++) /* grey pixels written as colour */
    rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = grey[i];
  g_assert_cmpint (g_mkdir_with_parents (flat, 0700), ==, 0);
  g_autofree char *a = g_build_filename (flat, "a.png", NULL);
  g_autofree char *b = g_build_filename (flat, "b.png", NULL);
  write_png (b, PNG_FORMAT_GRAY, 3, 2, grey);
  write_png (a, PNG_FORMAT_RGB, 3, 2, rgb);
  {
    g_autoptr (ArImageSet) s = ar_image_set_new_from_path (flat, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpint (s->n, ==, 2);
    g_assert_cmpint (s->width, ==, 3);
    g_assert_cmpint (s->height, ==, 2);
    g_assert_null (s->labels);
    g_assert_cmpmem (s->pixels + 6, 6, grey, 6);
    /* grey through colour comes back within the sRGB round trip's error */
    for (int i = 0; i < 6; i++)
      g_assert_cmpint (ABS ((int) s->pixels[i] - grey[i]), <=, 1);
  }
  /* labels are sub-folders */
  const char *names[] = { "ankle-boot", "bag" };
  for (int c = 0; c < 2; c++) {
    g_autofree char *sub = g_build_filename (cls, names[c], NULL);
    g_assert_cmpint (g_mkdir_with_parents (sub, 0700), ==, 0);
    for (int k = 0; k <= c; k++) {
      g_autofree char *n = g_strdup_printf ("%d.png", k);
      g_autofree char *p = g_build_filename (sub, n, NULL);
      write_png (p, PNG_FORMAT_GRAY, 3, 2, grey);
    }
  }
  {
    g_autoptr (ArImageSet) s = ar_image_set_new_from_png_dir (cls, &error);
    g_assert_no_error (error);
    g_assert_cmpint (s->n, ==, 3);
    g_assert_cmpint (s->labels[0], ==, 0);
    g_assert_cmpint (s->labels[2], ==, 1);
    g_assert_cmpint (s->n_classes, ==, 2);
    g_assert_cmpstr (s->class_names[1], ==, "bag");
  }
  /* labels given for a folder; a size mismatch; not a PNG; empty; mixed */
  g_assert_null (ar_image_set_new_from_path (flat, "l.idx", &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
  g_clear_error (&error);
  g_autofree char *c = g_build_filename (flat, "c.png", NULL);
  write_png (c, PNG_FORMAT_GRAY, 2, 3, grey);
  g_assert_null (ar_image_set_new_from_png_dir (flat, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "c.png"));
  g_clear_error (&error);
  g_assert_true (g_file_set_contents (c, "not a png", -1, NULL));
  g_assert_null (ar_image_set_new_from_png_dir (flat, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "c.png"));
  g_clear_error (&error);
  g_autofree char *empty = tmp_path ("empty");
  g_assert_cmpint (g_mkdir_with_parents (empty, 0700), ==, 0);
  g_assert_null (ar_image_set_new_from_png_dir (empty, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_FORMAT);
  g_clear_error (&error);
  g_autofree char *mixed = g_build_filename (cls, "x.png", NULL);
  write_png (mixed, PNG_FORMAT_GRAY, 3, 2, grey);
  g_assert_null (ar_image_set_new_from_png_dir (cls, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_FORMAT);
  g_clear_error (&error);
}

/* CRC-32 (ISO-HDLC, the polynomial 0xEDB88320 reflected), what a PNG chunk
 * ends with, over @len bytes of @p. */
static guint32
crc32_of (const guint8 *p, gsize len)
{
  guint32 c = 0xffffffffu;

  for (gsize i = 0; i < len; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++)
      c = (c >> 1) ^ (0xedb88320u & -(c & 1));
  }
  return c ^ 0xffffffffu;
}

static void
append_be32 (GByteArray *b, guint32 v)
{
  guint8 be[4] = { v >> 24, v >> 16, v >> 8, v };
  g_byte_array_append (b, be, 4);
}

static void
append_chunk (GByteArray *b, const char *type, const guint8 *data, gsize len)
{
  gsize at = b->len + 4;

  append_be32 (b, len);
  g_byte_array_append (b, (const guint8 *) type, 4);
  if (len > 0)
    g_byte_array_append (b, data, len);
  append_be32 (b, crc32_of (b->data + at, 4 + len));
}

/* A PNG whose header says @w × @h 8-bit grey pixels but whose data holds
 * only @rows rows of zeros: a few hundred bytes. */
static void
write_lying_png (const char *path, guint32 w, guint32 h, guint rows)
{
  static const guint8 magic[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a,
    '\n' };
  g_autoptr (GByteArray) b = g_byte_array_new ();
  g_autoptr (GByteArray) ihdr = g_byte_array_new ();
  guint8 depth_etc[5] = { 8, 0, 0, 0, 0 }; /* grey, deflate, no interlace */
  g_autofree guint8 *raw = g_malloc0 ((gsize) rows * (1 + w));
  g_autoptr (GZlibCompressor) comp =
      g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_ZLIB, 9);
  g_autoptr (GOutputStream) mem = g_memory_output_stream_new_resizable ();
  g_autoptr (GOutputStream) out =
      g_converter_output_stream_new (mem, G_CONVERTER (comp));

  g_assert_true (g_output_stream_write_all (out, raw, (gsize) rows * (1 + w),
      NULL, NULL, NULL));
  g_assert_true (g_output_stream_close (out, NULL, NULL));
  append_be32 (ihdr, w);
  append_be32 (ihdr, h);
  g_byte_array_append (ihdr, depth_etc, 5);
  g_byte_array_append (b, magic, 8);
  append_chunk (b, "IHDR", ihdr->data, ihdr->len);
  append_chunk (b, "IDAT",
      g_memory_output_stream_get_data (G_MEMORY_OUTPUT_STREAM (mem)),
      g_memory_output_stream_get_data_size (G_MEMORY_OUTPUT_STREAM (mem)));
  append_chunk (b, "IEND", NULL, 0);
  g_assert_true (g_file_set_contents (path, (char *) b->data, b->len, NULL));
}

/* Found while writing fuzz-loaders (by reading the code; its harness, with
 * chunk CRCs recomputed, confirmed both inputs, which its runs had not
 * reached): a PNG header's size was believed before its data.
 * 65536 × 65536 wrapped the pixel buffer's 32-bit length to 0, and a NULL
 * buffer went to libpng (UBSan: NULL + 0; only libpng's own "image too
 * large" kept it from writing through it); 65535 × 65535 in a 270-byte file
 * allocated 4 GiB before libpng found the data short.  A file
 * of n bytes holds at most 8 · 1032 · n pixels (deflate expands at most
 * 1032 times, a row at least one bit per pixel): more is an error before
 * any allocation; a real, very compressible image is well within it. */
static void
test_png_lying_size (void)
{
  g_autofree char *dir = tmp_path ("lying");
  g_autofree char *p = g_build_filename (dir, "big.png", NULL);
  static const guint32 sizes[2] = { 65536, 65535 };
  GError *error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  for (int i = 0; i < 2; i++) {
    write_lying_png (p, sizes[i], sizes[i], 3);
    g_assert_null (ar_image_set_new_from_png_dir (dir, &error));
    g_assert_error (error, AR_ERROR, AR_ERROR_FORMAT);
    g_assert_nonnull (strstr (error->message, p));
    g_assert_nonnull (strstr (error->message, "more than a file of"));
    g_clear_error (&error);
  }

  /* 1024 × 1024 black pixels compress ~1000-fold in 8-bit grey */
  g_autofree guint8 *black = g_malloc0 (1024 * 1024);
  write_png (p, PNG_FORMAT_GRAY, 1024, 1024, black);
  g_autoptr (ArImageSet) s = ar_image_set_new_from_png_dir (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpint (s->n, ==, 1);
  g_assert_cmpint (s->width * s->height, ==, 1024 * 1024);
  g_remove (p);
}

/* The installed Fashion-MNIST test set (package dataset-fashion-mnist). */
static void
test_fashion_mnist (void)
{
  const char *dir = "/usr/share/datasets/fashion-mnist";
  g_autofree char *ip =
      g_build_filename (dir, "t10k-images-idx3-ubyte.gz", NULL);
  g_autofree char *lp =
      g_build_filename (dir, "t10k-labels-idx1-ubyte.gz", NULL);
  GError *error = NULL;

  if (!g_file_test (ip, G_FILE_TEST_EXISTS)) {
    g_test_skip ("Fashion-MNIST is not installed");
    return;
  }
  g_autoptr (ArImageSet) s = ar_image_set_new_from_idx (ip, lp, &error);
  g_assert_no_error (error);
  g_assert_cmpint (s->n, ==, 10000);
  g_assert_cmpint (s->height, ==, 28);
  g_assert_cmpint (s->width, ==, 28);
  g_assert_cmpint (s->n_classes, ==, 10);
  int count[10] = { 0 };
  for (int i = 0; i < s->n; i++)
    count[s->labels[i]]++;
  for (int c = 0; c < 10; c++)
    g_assert_cmpint (count[c], ==, 1000);
}

static void
remove_tree (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR)) {
    g_autoptr (GDir) d = g_dir_open (path, 0, NULL);
    const char *name;
    while (d != NULL && (name = g_dir_read_name (d)) != NULL) {
      g_autofree char *sub = g_build_filename (path, name, NULL);
      remove_tree (sub);
    }
  }
  g_remove (path);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp ("test-idx-XXXXXX", NULL);
  g_assert_nonnull (tmpdir);
  g_test_add_func ("/idx/plain-and-gz", test_idx_plain_and_gz);
  g_test_add_func ("/idx/bad", test_idx_bad);
  g_test_add_func ("/idx/png-dirs", test_png_dirs);
  g_test_add_func ("/idx/png-lying-size", test_png_lying_size);
  g_test_add_func ("/idx/fashion-mnist", test_fashion_mnist);
  int ret = g_test_run ();
  remove_tree (tmpdir);
  g_free (tmpdir);
  return ret;
}
