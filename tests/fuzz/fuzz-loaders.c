/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz-loaders.c — libFuzzer harness for libargen's training-data readers:
 * the files a trainer reads are as untrusted as the models it writes.
 *
 * Byte 0 of an input picks the reader (bits 0-1) and its options; the rest
 * is the file, written to a temporary folder of this process, because every
 * reader takes a path:
 *
 *   0  IDX images (models/data/ar-idx.c, `argen train pixelcnn --data`)
 *      through ar_image_set_new_from_path () and ar_idx_read ().  Bit 2: a
 *      label file follows (bytes 1-4 the u32 LE length of the image file,
 *      clamped, then the image file, then the label file); bit 3: the
 *      harness gzips the image file (a mutation inside a gzip stream fails
 *      its CRC, so this is what lets the IDX parser behind the decompressor
 *      meet mutated headers; the seeds also hold gzip streams as they are).
 *   1  a PNG folder (ar_image_set_new_from_png_dir ()): the input is
 *      DIR/0.png.  Bit 2: the harness recomputes every chunk's CRC (libpng
 *      rejects a critical chunk whose CRC is wrong, which is where most
 *      mutations would stop); bit 3: one sub-folder per class instead
 *      (DIR/a/0.png); bit 4: a valid 2 × 2 grey PNG follows it (DIR/1.png or
 *      DIR/b/1.png), so images of different sizes and the appending of a
 *      second image are reached.
 *   2  an audio file (ar_audio_read (), libsndfile then our mix-down and
 *      libsamplerate): bits 2-4 the rate asked for (8 of them, 1 kHz to
 *      96 kHz), bits 5-6 the file's extension (wav, flac, aiff, au).
 *   3  a text (ar_text_data_new*): bit 2 a byte vocabulary instead of a
 *      character one; bits 3-5 the held-out fraction (including 1, a
 *      negative one and NaN, which must be refused); bit 6 read from the
 *      file (ar_text_data_new_from_file ()) rather than from memory; bit 7
 *      tokenised with a fixed vocabulary instead
 *      (ar_text_data_new_with_vocab ()), whose unknown characters are an
 *      error naming the first.
 *
 * Every reader must return data, or NULL / FALSE with an AR_ERROR that
 * names the file (a text read from memory has no file name) — never both,
 * never neither — and what it returns must keep the promises of its header,
 * which the harness checks cheaply: every image byte and label readable
 * (ASan sees an allocation shorter than n × height × width), labels below
 * the class count, class names one per class; IDX dimensions 1 to 4 whose
 * product is the payload of a plain file; audio samples finite and in
 * [-1, 1], as many as libsndfile decodes (or that many times the rate
 * ratio, within the resampler's rounding); token ids within the
 * vocabulary, decoding back to the text, and a held-out split where the
 * fraction puts it.  GLib criticals and warnings are fatal (fuzz-common.h)
 * and ASan's leak check covers every error path.
 *
 * Built and run by run-fuzz.sh (clang -fsanitize=fuzzer,address,undefined,
 * linked with libargen built with -fsanitize=fuzzer-no-link,…); the seeds
 * are written by gen-loader-seeds.c. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <math.h>
#include <png.h>
#include <sndfile.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/ar-error.h"
#include "core/ar-rng.h"
#include "data/ar-audio.h"
#include "data/ar-idx.h"
#include "text/ar-text-data.h"

#define FUZZ_NAME "fuzz-loaders"
#include "fuzz-common.h"

enum
{
  LOADER_IDX,
  LOADER_PNG,
  LOADER_AUDIO,
  LOADER_TEXT
};

/* This process's scratch folder, removed at exit (a crash leaves it). */
static char *tmpdir;

/* Removes @names (paths in tmpdir; folders after what they hold). */
static void
remove_names (const char *const *names, guint n)
{
  for (guint i = 0; i < n; i++) {
    g_autofree char *p = g_build_filename (tmpdir, names[i], NULL);
    g_remove (p);
  }
}

static const char *const png_names[] = { "png/a/0.png", "png/b/1.png",
  "png/0.png", "png/1.png", "png/a", "png/b", "png" };

static void
remove_tmpdir (void)
{
  static const char *const names[] = { "images.idx", "labels.idx", "audio.wav",
    "audio.flac", "audio.aiff", "audio.au", "text.txt" };

  remove_names (png_names, G_N_ELEMENTS (png_names));
  remove_names (names, G_N_ELEMENTS (names));
  g_rmdir (tmpdir);
}

static char *
tmp_path (const char *name)
{
  return g_build_filename (tmpdir, name, NULL);
}

/* @data as the whole of @path, in place: without g_file_set_contents ()'s
 * fsync of a file that exists, which made every input wait for the disk
 * (and G_FILE_SET_CONTENTS_NONE does not truncate what was there). */
static void
write_file (const char *path, const guint8 *data, gsize len)
{
  FILE *f = fopen (path, "wb");

  if (f == NULL || (len > 0 && fwrite (data, 1, len, f) != len) ||
      fclose (f) != 0) {
    g_printerr (FUZZ_NAME ": cannot write %s\n", path);
    abort ();
  }
}

/* The reader's contract: data, or an AR_ERROR naming @name. */
static void
check_result (gboolean ok, GError *error, const char *name)
{
  CHECK (ok == (error == NULL));
  if (error != NULL) {
    CHECK (error->domain == AR_ERROR);
    CHECK (error->message != NULL && error->message[0] != '\0');
    CHECK (g_utf8_validate (error->message, -1, NULL));
    if (name != NULL && strstr (error->message, name) == NULL) {
      g_printerr (FUZZ_NAME ": error does not name %s: %s\n", name,
          error->message);
      abort ();
    }
  }
}

static volatile guint64 sink;

/* Reads every pixel and label of @set (ASan sees one past the end). */
static void
check_image_set (const ArImageSet *set)
{
  guint64 sum = 0;

  CHECK (set->n >= 1 && set->height >= 1 && set->width >= 1);
  gsize size = (gsize) set->n * set->height * set->width;
  CHECK (size / set->n / set->height == (gsize) set->width);
  for (gsize i = 0; i < size; i++)
    sum += set->pixels[i];
  if (set->labels != NULL) {
    CHECK (set->n_classes >= 1);
    for (int i = 0; i < set->n; i++)
      CHECK (set->labels[i] >= 0 && set->labels[i] < set->n_classes);
  } else {
    CHECK (set->n_classes == 0);
  }
  if (set->class_names != NULL) {
    for (int c = 0; c < set->n_classes; c++)
      CHECK (set->class_names[c] != NULL);
    CHECK (set->class_names[set->n_classes] == NULL);
  }
  sink += sum;
}

/* @data gzipped (GIO's compressor, the format the reader decompresses). */
static GBytes *
gzip (const guint8 *data, gsize len)
{
  g_autoptr (GZlibCompressor) comp =
      g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP, 1);
  g_autoptr (GOutputStream) mem = g_memory_output_stream_new_resizable ();
  g_autoptr (GOutputStream) out =
      g_converter_output_stream_new (mem, G_CONVERTER (comp));

  CHECK (g_output_stream_write_all (out, data, len, NULL, NULL, NULL));
  CHECK (g_output_stream_close (out, NULL, NULL));
  return g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (mem));
}

static void
fuzz_idx (guint8 flags, const guint8 *data, gsize size)
{
  g_autofree char *images = tmp_path ("images.idx");
  g_autofree char *labels = NULL;
  gsize n = size;
  GError *error = NULL;

  if (flags & 4) {
    guint32 len;

    if (size < 4)
      return;
    memcpy (&len, data, 4);
    data += 4;
    size -= 4;
    n = MIN (len, size);
    labels = tmp_path ("labels.idx");
    write_file (labels, data + n, size - n);
  }
  if (flags & 8) {
    g_autoptr (GBytes) gz = gzip (data, n);
    gsize len;
    const guint8 *p = g_bytes_get_data (gz, &len);

    write_file (images, p, len);
  } else {
    write_file (images, data, n);
  }

  /* The raw reader: its dimensions describe what it returns. */
  guint n_dims = 0;
  guint32 dims[4] = { 0 };
  g_autofree guint8 *values = ar_idx_read (images, &n_dims, dims, &error);
  check_result (values != NULL, error, "images.idx");
  g_clear_error (&error);
  if (values != NULL) {
    guint64 total = 1, sum = 0;

    CHECK (n_dims >= 1 && n_dims <= 4);
    for (guint i = 0; i < n_dims; i++) {
      CHECK (dims[i] >= 1);
      total *= dims[i];
    }
    CHECK (total <= AR_IDX_MAX_BYTES);
    /* a plain file holds the header and exactly the values */
    if (!(flags & 8) && !(n >= 2 && data[0] == 0x1f && data[1] == 0x8b))
      CHECK (4 + 4 * (guint64) n_dims + total == n);
    for (guint64 i = 0; i < total; i++)
      sum += values[i];
    sink += sum;
  }

  g_autoptr (ArImageSet) set =
      ar_image_set_new_from_path (images, labels, &error);
  /* (a failure names the image file or the label file) */
  check_result (set != NULL, error, NULL);
  if (error != NULL)
    CHECK (strstr (error->message, "images.idx") != NULL ||
        (labels != NULL && strstr (error->message, "labels.idx") != NULL));
  g_clear_error (&error);
  if (set != NULL) {
    check_image_set (set);
    CHECK (set->class_names == NULL);
    CHECK ((set->labels != NULL) == (labels != NULL));
    if (labels != NULL)
      CHECK (set->n_classes <= 256);
  }
}

/* Sets the CRC of every whole chunk of the PNG @p (@len bytes) to what its
 * type and data give. */
static void
fix_png_crcs (guint8 *p, gsize len)
{
  gsize at = 8;

  while (at + 12 <= len) {
    guint32 n = (guint32) p[at] << 24 | (guint32) p[at + 1] << 16 |
        (guint32) p[at + 2] << 8 | p[at + 3];

    if (n > len - at - 12)
      break;
    uLong crc = crc32 (0L, p + at + 4, 4 + n);
    guint8 *c = p + at + 8 + n;
    c[0] = crc >> 24;
    c[1] = crc >> 16;
    c[2] = crc >> 8;
    c[3] = crc;
    at += 12 + (gsize) n;
  }
}

/* A valid 2 × 2 grey PNG, made once. */
static GBytes *
small_png (void)
{
  static GBytes *png;

  if (png == NULL) {
    static const guint8 pix[4] = { 0, 80, 160, 240 };
    png_image img;
    png_alloc_size_t len = 0;

    memset (&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = 2;
    img.height = 2;
    img.format = PNG_FORMAT_GRAY;
    CHECK (png_image_write_to_memory (&img, NULL, &len, 0, pix, 0, NULL));
    guint8 *buf = g_malloc (len);
    CHECK (png_image_write_to_memory (&img, buf, &len, 0, pix, 0, NULL));
    png = g_bytes_new_take (buf, len);
  }
  return png;
}

static void
fuzz_png (guint8 flags, const guint8 *data, gsize size)
{
  g_autofree char *dir = tmp_path ("png");
  gboolean classes = (flags & 8) != 0;
  g_autofree char *first =
      classes ? tmp_path ("png/a/0.png") : tmp_path ("png/0.png");
  g_autofree char *second =
      classes ? tmp_path ("png/b/1.png") : tmp_path ("png/1.png");
  g_autofree guint8 *copy = g_memdup2 (data, size);
  GError *error = NULL;

  /* the previous input's files */
  remove_names (png_names, G_N_ELEMENTS (png_names));
  CHECK (g_mkdir (dir, 0700) == 0);
  if (classes) {
    g_autofree char *a = tmp_path ("png/a");
    CHECK (g_mkdir (a, 0700) == 0);
    if (flags & 16) {
      g_autofree char *b = tmp_path ("png/b");
      CHECK (g_mkdir (b, 0700) == 0);
    }
  }
  if (flags & 4)
    fix_png_crcs (copy, size);
  write_file (first, copy, size);
  if (flags & 16) {
    gsize len;
    const guint8 *p = g_bytes_get_data (small_png (), &len);
    write_file (second, p, len);
  }

  g_autoptr (ArImageSet) set = ar_image_set_new_from_png_dir (dir, &error);
  /* (errors name the folder or a file in it, whose path starts with it) */
  check_result (set != NULL, error, dir);
  g_clear_error (&error);
  if (set != NULL) {
    check_image_set (set);
    CHECK (set->n == ((flags & 16) ? 2 : 1));
    if (flags & 16)
      CHECK (set->height == 2 && set->width == 2);
    CHECK ((set->labels != NULL) == classes);
    CHECK ((set->class_names != NULL) == classes);
    if (classes) {
      CHECK (set->n_classes == ((flags & 16) ? 2 : 1));
      CHECK (strcmp (set->class_names[0], "a") == 0);
      for (int i = 0; i < set->n; i++)
        CHECK (set->labels[i] == i);
    }
  }
}

/* The frames libsndfile decodes from @path and its rate, or FALSE when it
 * cannot open it or fails on the way (the reader then must fail too, or
 * may have stopped at the same place). */
static gboolean
sndfile_frames (const char *path, gsize *frames, int *rate)
{
  SF_INFO info = { 0 };
  SNDFILE *sf = sf_open (path, SFM_READ, &info);
  gboolean ok = TRUE;

  if (sf == NULL)
    return FALSE;
  *frames = 0;
  *rate = info.samplerate;
  if (info.channels <= 0 || info.samplerate <= 0) {
    sf_close (sf);
    return FALSE;
  }
  float *buf = g_new (float, (gsize) 1024 * info.channels);
  for (;;) {
    sf_count_t got = sf_readf_float (sf, buf, 1024);

    if (got < 0 || sf_error (sf) != SF_ERR_NO_ERROR) {
      ok = FALSE;
      break;
    }
    if (got == 0)
      break;
    *frames += (gsize) got;
  }
  g_free (buf);
  sf_close (sf);
  return ok;
}

static void
fuzz_audio (guint8 flags, const guint8 *data, gsize size)
{
  static const int rates[8] = { 8000, 16000, 22050, 44100, 48000, 11025, 96000,
    1000 };
  static const char *const names[4] = { "audio.wav", "audio.flac", "audio.aiff",
    "audio.au" };
  const char *name = names[(flags >> 5) & 3];
  int rate = rates[(flags >> 2) & 7];
  g_autofree char *path = tmp_path (name);
  g_autofree float *samples = NULL;
  gsize n = 0, frames;
  int file_rate;
  GError *error = NULL;

  write_file (path, data, size);
  gboolean ok = ar_audio_read (path, rate, &samples, &n, &error);
  check_result (ok, error, name);
  g_clear_error (&error);
  if (!ok) {
    CHECK (samples == NULL && n == 0);
    return;
  }
  CHECK ((samples == NULL) == (n == 0));
  for (gsize i = 0; i < n; i++)
    if (!(samples[i] >= -1.0f && samples[i] <= 1.0f)) {
      g_printerr (FUZZ_NAME ": %s: sample %" G_GSIZE_FORMAT
                            " of %" G_GSIZE_FORMAT " is %g, outside [-1, 1]\n",
          name, i, n, (double) samples[i]);
      abort ();
    }
  /* as many samples as the file has frames, in the rate asked for */
  if (sndfile_frames (path, &frames, &file_rate)) {
    double expect = (double) frames * rate / file_rate;

    if (fabs ((double) n - expect) > 2.0 + (double) rate / file_rate) {
      g_printerr (FUZZ_NAME ": %s: %" G_GSIZE_FORMAT " frames at %d Hz "
                            "read as %" G_GSIZE_FORMAT
                            " samples at %d Hz (expected ~%.1f)\n",
          name, frames, file_rate, n, rate, expect);
      abort ();
    }
  }
}

/* The vocabulary a text is tokenised with when bit 7 is set. */
static ArVocab *
fixed_vocab (gboolean bytes)
{
  static const char alphabet[] = "ab c\n\xc3\xa9";

  if (bytes)
    return ar_vocab_new_bytes ();
  return ar_vocab_new_chars (alphabet, strlen (alphabet), NULL);
}

static void
fuzz_text (guint8 flags, const guint8 *data, gsize size)
{
  static const double fractions[8] = { 0.0, 0.1, 0.5, 0.9, 0.999, 1.0, -0.5,
    NAN };
  ArVocabType type = (flags & 4) ? AR_VOCAB_BYTE : AR_VOCAB_CHAR;
  double frac = fractions[(flags >> 3) & 7];
  gboolean from_file = (flags & 64) != 0;
  gboolean with_vocab = (flags & 128) != 0;
  g_autofree char *path = tmp_path ("text.txt");
  /* an allocation of the text's own size, so that ASan sees a read past it
   * (one byte for an empty text: g_malloc (0) is NULL, and NULL + 0, which
   * the readers compute, undefined) */
  g_autofree char *text = g_malloc (MAX (size, 1));
  g_autoptr (ArVocab) vocab = NULL;
  g_autoptr (ArTextData) d = NULL;
  GError *error = NULL;

  memcpy (text, data, size);
  if (with_vocab) {
    vocab = fixed_vocab (type == AR_VOCAB_BYTE);
    d = ar_text_data_new_with_vocab (text, size, vocab, frac, &error);
  } else if (from_file) {
    write_file (path, data, size);
    d = ar_text_data_new_from_file (path, type, frac, &error);
  } else {
    d = ar_text_data_new (text, size, type, frac, &error);
  }
  check_result (d != NULL, error, from_file && !with_vocab ? "text.txt" : NULL);
  g_clear_error (&error);
  if (!(frac >= 0 && frac < 1))
    CHECK (d == NULL);
  if (d == NULL)
    return;

  /* the ids are the text's tokens, in the vocabulary, and decode back */
  guint V = ar_vocab_get_size (d->vocab);
  g_autoptr (GString) back = g_string_new (NULL);
  CHECK (d->n_train <= d->n);
  CHECK (d->n_train == (gsize) (d->n * (1.0 - frac)));
  if (type == AR_VOCAB_BYTE)
    CHECK (d->n == size);
  for (gsize i = 0; i < d->n; i++) {
    gsize len;
    const char *bytes;

    CHECK (d->ids[i] >= 0 && (guint) d->ids[i] < V);
    bytes = ar_vocab_token_bytes (d->vocab, d->ids[i], &len);
    g_string_append_len (back, bytes, len);
  }
  CHECK (back->len == size && memcmp (back->str, data, size) == 0);

  /* batches of the training part, when it is long enough for windows of 4 */
  if (ar_text_data_check_window (d, 4, NULL)) {
    gint32 inputs[4 * 2], targets[4 * 2];
    ArRng rng;

    ar_rng_init (&rng, size);
    ar_text_data_sample (d, &rng, 4, 2, inputs, targets);
    for (int t = 0; t + 1 < 4; t++)
      for (int b = 0; b < 2; b++)
        CHECK (targets[t * 2 + b] == inputs[(t + 1) * 2 + b]);
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (tmpdir == NULL) {
    GError *error = NULL;

    tmpdir = g_dir_make_tmp ("argen-fuzz-loaders-XXXXXX", &error);
    if (tmpdir == NULL) {
      g_printerr (FUZZ_NAME ": %s\n", error->message);
      abort ();
    }
    atexit (remove_tmpdir);
  }
  if (size < 1)
    return 0;
  switch (data[0] & 3) {
    case LOADER_IDX:
      fuzz_idx (data[0], data + 1, size - 1);
      break;
    case LOADER_PNG:
      fuzz_png (data[0], data + 1, size - 1);
      break;
    case LOADER_AUDIO:
      fuzz_audio (data[0], data + 1, size - 1);
      break;
    default:
      fuzz_text (data[0], data + 1, size - 1);
      break;
  }
  return 0;
}
