/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gen-loader-seeds.c — writes the seed corpus for fuzz-loaders: tiny valid
 * inputs of each reader, each prefixed with the selector byte that
 * fuzz-loaders.c's header describes.  IDX files of two 3 × 2 images, plain,
 * gzipped (as a file, and by the harness), with two labels; PNGs of 3 × 2
 * pixels in grey, grey + alpha and palette, flat and in a class folder;
 * 48-frame audio files in WAV (16-bit mono, float stereo), FLAC, AIFF
 * (24-bit, three channels) and AU; a short text with a two-byte character,
 * for character and byte vocabularies.  Each file is read back by the
 * reader it is meant for before it is written: a seed that does not load
 * would start the fuzzer outside the readers.
 *
 * Usage: gen-loader-seeds DIR   (run by run-fuzz.sh) */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <math.h>
#include <png.h>
#include <sndfile.h>
#include <string.h>

#include "core/ar-error.h"
#include "data/ar-audio.h"
#include "data/ar-idx.h"
#include "text/ar-text-data.h"

/* fuzz-loaders' selector: the reader in bits 0-1 */
#define SEL_IDX 0
#define SEL_PNG 1
#define SEL_AUDIO 2
#define SEL_TEXT 3

static char *scratch;

static gboolean
fail (GError **error, const char *what)
{
  /* (the reader's own error, when it gave one) */
  if (*error == NULL)
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID, "seed %s does not load",
        what);
  return FALSE;
}

/* Writes DIR/NAME: @sel, then @prefix (may be NULL), then @body. */
static gboolean
save (const char *dir, const char *name, guint8 sel, GBytes *prefix,
    GBytes *body, GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GByteArray) b = g_byte_array_new ();
  gsize len;
  const guint8 *p;

  g_byte_array_append (b, &sel, 1);
  if (prefix != NULL) {
    p = g_bytes_get_data (prefix, &len);
    g_byte_array_append (b, p, len);
  }
  p = g_bytes_get_data (body, &len);
  g_byte_array_append (b, p, len);
  return g_file_set_contents (path, (const char *) b->data, b->len, error);
}

static char *
scratch_file (GBytes *bytes, const char *name)
{
  char *path = g_build_filename (scratch, name, NULL);
  gsize len;
  const char *p = g_bytes_get_data (bytes, &len);

  if (!g_file_set_contents (path, p, len, NULL))
    g_clear_pointer (&path, g_free);
  return path;
}

static GBytes *
gzip (GBytes *in)
{
  g_autoptr (GZlibCompressor) comp =
      g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP, 9);
  g_autoptr (GOutputStream) mem = g_memory_output_stream_new_resizable ();
  g_autoptr (GOutputStream) out =
      g_converter_output_stream_new (mem, G_CONVERTER (comp));
  gsize len;
  const guint8 *p = g_bytes_get_data (in, &len);

  g_output_stream_write_all (out, p, len, NULL, NULL, NULL);
  g_output_stream_close (out, NULL, NULL);
  return g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (mem));
}

/* An IDX file of unsigned bytes with @d dimensions @dims, values i·37. */
static GBytes *
idx_bytes (guint d, const guint32 *dims)
{
  g_autoptr (GByteArray) b = g_byte_array_new ();
  guint8 head[4] = { 0, 0, 0x08, (guint8) d };
  guint32 total = 1;

  g_byte_array_append (b, head, 4);
  for (guint i = 0; i < d; i++) {
    guint8 be[4] = { dims[i] >> 24, dims[i] >> 16, dims[i] >> 8, dims[i] };
    g_byte_array_append (b, be, 4);
    total *= dims[i];
  }
  for (guint32 i = 0; i < total; i++) {
    guint8 v = (guint8) (i * 37);
    g_byte_array_append (b, &v, 1);
  }
  return g_byte_array_free_to_bytes (g_steal_pointer (&b));
}

static gboolean
idx_seeds (const char *dir, GError **error)
{
  static const guint32 img_dims[3] = { 2, 3, 2 };
  g_autoptr (GBytes) img = idx_bytes (3, img_dims);
  /* one dimension of two labels, 1 and 2 */
  static const guint8 lab_data[10] = { 0, 0, 8, 1, 0, 0, 0, 2, 1, 2 };
  g_autoptr (GBytes) lab = g_bytes_new (lab_data, sizeof lab_data);
  g_autoptr (GBytes) img_gz = gzip (img);
  g_autofree char *img_path = scratch_file (img, "i.idx");
  g_autofree char *gz_path = scratch_file (img_gz, "i.idx.gz");
  g_autofree char *lab_path = scratch_file (lab, "l.idx");
  guint32 len = g_bytes_get_size (img);
  guint8 le[4] = { len, len >> 8, len >> 16, len >> 24 };
  g_autoptr (GBytes) prefix = g_bytes_new (le, 4);
  guint32 gz_len = g_bytes_get_size (img_gz);
  guint8 gz_le[4] = { gz_len, gz_len >> 8, gz_len >> 16, gz_len >> 24 };
  g_autoptr (GBytes) gz_prefix = g_bytes_new (gz_le, 4);
  g_autoptr (GByteArray) both = g_byte_array_new ();
  g_autoptr (GByteArray) both_gz = g_byte_array_new ();
  g_autoptr (GBytes) b = NULL, bg = NULL;
  g_autoptr (ArImageSet) s1 = NULL, s2 = NULL;

  s1 = ar_image_set_new_from_idx (gz_path, lab_path, error);
  if (s1 != NULL)
    s2 = ar_image_set_new_from_idx (img_path, NULL, error);
  g_remove (img_path);
  g_remove (gz_path);
  g_remove (lab_path);
  if (s1 == NULL || s2 == NULL || s1->n_classes != 3)
    return fail (error, "idx");
  g_byte_array_append (both, g_bytes_get_data (img, NULL), len);
  g_byte_array_append (both, lab_data, sizeof lab_data);
  b = g_byte_array_free_to_bytes (g_steal_pointer (&both));
  g_byte_array_append (both_gz, g_bytes_get_data (img_gz, NULL), gz_len);
  g_byte_array_append (both_gz, lab_data, sizeof lab_data);
  bg = g_byte_array_free_to_bytes (g_steal_pointer (&both_gz));
  return save (dir, "idx-plain", SEL_IDX, NULL, img, error) &&
      save (dir, "idx-gz", SEL_IDX, NULL, img_gz, error) &&
      save (dir, "idx-harness-gz", SEL_IDX | 8, NULL, img, error) &&
      save (dir, "idx-labels", SEL_IDX | 4, prefix, b, error) &&
      save (dir, "idx-gz-labels", SEL_IDX | 4, gz_prefix, bg, error);
}

/* A 3 × 2 PNG of @format (a colour-mapped one when it has the flag). */
static GBytes *
png_bytes (png_uint_32 format)
{
  static const guint8 pix[3 * 2 * 4] = { 0, 10, 20, 255, 40, 50, 60, 128, 80,
    90, 100, 0, 120, 130, 140, 255, 160, 170, 180, 64, 200, 210, 220, 32 };
  static const guint8 map[4 * 3] = { 0, 0, 0, 255, 255, 255, 200, 30, 30, 30,
    200, 30 };
  static const guint8 idx[6] = { 0, 1, 2, 3, 1, 0 };
  png_image img;
  png_alloc_size_t len = 0;
  gboolean mapped = (format & PNG_FORMAT_FLAG_COLORMAP) != 0;

  memset (&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = 3;
  img.height = 2;
  img.format = format;
  img.colormap_entries = mapped ? 4 : 0;
  if (!png_image_write_to_memory (&img, NULL, &len, 0, mapped ? idx : pix, 0,
          mapped ? map : NULL))
    return NULL;
  guint8 *buf = g_malloc (len);
  if (!png_image_write_to_memory (&img, buf, &len, 0, mapped ? idx : pix, 0,
          mapped ? map : NULL)) {
    g_free (buf);
    return NULL;
  }
  return g_bytes_new_take (buf, len);
}

static gboolean
png_seed (const char *dir, const char *name, png_uint_32 format, guint8 flags,
    GError **error)
{
  g_autoptr (GBytes) png = png_bytes (format);
  g_autofree char *folder = g_build_filename (scratch, name, NULL);
  g_autofree char *file = g_build_filename (folder, "0.png", NULL);
  g_autoptr (ArImageSet) set = NULL;
  gsize len;
  const char *p;

  if (png == NULL)
    return fail (error, name);
  p = g_bytes_get_data (png, &len);
  if (g_mkdir (folder, 0700) != 0 || !g_file_set_contents (file, p, len, error))
    return fail (error, name);
  set = ar_image_set_new_from_png_dir (folder, error);
  g_remove (file);
  g_rmdir (folder);
  if (set == NULL || set->width != 3 || set->height != 2)
    return fail (error, name);
  return save (dir, name, SEL_PNG | flags, NULL, png, error);
}

/* 48 frames of a sine per channel written by libsndfile as @format, read
 * back through ar_audio_read at 8 kHz. */
static gboolean
audio_seed (const char *dir, const char *name, const char *ext, int format,
    int channels, int rate, guint8 flags, GError **error)
{
  g_autofree char *path = g_strdup_printf ("%s/%s.%s", scratch, name, ext);
  SF_INFO info = { .samplerate = rate, .channels = channels, .format = format };
  SNDFILE *sf = sf_open (path, SFM_WRITE, &info);
  float frames[48 * 3];
  g_autofree float *samples = NULL;
  g_autofree char *contents = NULL;
  gsize n, len;

  if (sf == NULL || channels > 3)
    return fail (error, name);
  for (int i = 0; i < 48; i++)
    for (int c = 0; c < channels; c++)
      frames[i * channels + c] = 0.5f * sinf (0.3f * i + c);
  sf_writef_float (sf, frames, 48);
  sf_close (sf);
  if (!ar_audio_read (path, 8000, &samples, &n, error) ||
      !g_file_get_contents (path, &contents, &len, error))
    return FALSE;
  g_remove (path);
  g_autoptr (GBytes) b = g_bytes_new_take (g_steal_pointer (&contents), len);
  return save (dir, name, SEL_AUDIO | flags, NULL, b, error);
}

static gboolean
text_seeds (const char *dir, GError **error)
{
  static const char text[] = "ab ba\nc\xc3\xa9 abc\nba ab\n";
  g_autoptr (GBytes) b = g_bytes_new (text, strlen (text));
  g_autoptr (ArTextData) d =
      ar_text_data_new (text, strlen (text), AR_VOCAB_CHAR, 0.1, error);

  if (d == NULL)
    return FALSE;
  /* bits 3-5 = 1: a held-out tenth; bit 2 bytes; bit 6 from a file;
   * bit 7 with the harness's fixed vocabulary */
  return save (dir, "text-chars", SEL_TEXT | 1 << 3, NULL, b, error) &&
      save (dir, "text-bytes-file", SEL_TEXT | 4 | 1 << 3 | 64, NULL, b,
          error) &&
      save (dir, "text-fixed-vocab", SEL_TEXT | 128, NULL, b, error);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  const char *dir;
  gboolean ok;

  if (argc != 2) {
    g_printerr ("usage: %s DIR\n", argv[0]);
    return 2;
  }
  dir = argv[1];
  if (g_mkdir_with_parents (dir, 0755) != 0) {
    g_printerr ("gen-loader-seeds: cannot create %s\n", dir);
    return 1;
  }
  scratch = g_dir_make_tmp ("gen-loader-seeds-XXXXXX", &error);
  if (scratch == NULL) {
    g_printerr ("gen-loader-seeds: %s\n", error->message);
    return 1;
  }
  /* audio flags: bits 2-4 the rate (0: 8 kHz, 1: 16 kHz, 5: 11.025 kHz),
   * bits 5-6 the extension (0 wav, 1 flac, 2 aiff, 3 au) */
  ok = idx_seeds (dir, &error) &&
      png_seed (dir, "png-grey", PNG_FORMAT_GRAY, 0, &error) &&
      png_seed (dir, "png-grey-alpha-crc", PNG_FORMAT_GA, 4, &error) &&
      png_seed (dir, "png-palette-classes", PNG_FORMAT_RGB_COLORMAP, 8 | 16,
          &error) &&
      png_seed (dir, "png-rgba-second", PNG_FORMAT_RGBA, 4 | 16, &error) &&
      audio_seed (dir, "wav-s16", "wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 1,
          8000, 0, &error) &&
      audio_seed (dir, "wav-float-stereo", "wav",
          SF_FORMAT_WAV | SF_FORMAT_FLOAT, 2, 16000, 0, &error) &&
      audio_seed (dir, "flac", "flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 1,
          11025, 1 << 5 | 1 << 2, &error) &&
      audio_seed (dir, "aiff-24-3ch", "aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_24,
          3, 8000, 2 << 5 | 5 << 2, &error) &&
      audio_seed (dir, "au-ulaw", "au", SF_FORMAT_AU | SF_FORMAT_ULAW, 1, 8000,
          3 << 5, &error) &&
      text_seeds (dir, &error);
  g_rmdir (scratch);
  g_free (scratch);
  if (!ok) {
    g_printerr ("gen-loader-seeds: %s\n",
        error != NULL ? error->message : "failed");
    return 1;
  }
  return 0;
}
