/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-audio.c — audio files (ar-audio.h): the two µ-law codings, WAV
 * writing and reading, mixing to mono, resampling, error messages, lists of
 * files and the held-out split.  Every file is made here, in a temporary
 * directory (the asterisk prompts are never needed).
 *
 * Budgets:
 * - model µ-law: decode (encode (x)) lies in the class of x, so its error is
 *   at most the width of that class in x;
 * - G.711: decode (encode (x)) is the middle of x's cell, at most half a step
 *   (4 · 2^segment) from x, for |x| <= 32635 (the clip);
 * - 16-bit WAV: read (write (x)) within 0.5 / 32768 (+ float rounding);
 * - resampling a 1 kHz sine 16 → 8 kHz (libsamplerate's medium sinc, pass
 *   band flat to well under 0.1 dB at 1 kHz): RMS within 1 % of the
 *   input's, the DFT peak in the 1 kHz bin, 2 zero crossings per ms;
 * - baselines: the Laplace masses of the 256 classes sum to 1 within 1e-9;
 *   the unigram of a uniform class sequence costs 8 bits within 1e-9; an
 *   AR(2) process (a1 = 1.6, a2 = -0.8, innovation 0.02, process standard
 *   deviation 0.073) gives LPC coefficients within 0.03 of the truth and
 *   costs at least 1 bit less than the unigram (theory: log2 of the ratio
 *   of the standard deviations, 1.9 bits). */
#include <math.h>
#include <string.h>
#include <sndfile.h>

#include <glib/gstdio.h>

#include "core/ar-error.h"
#include "core/ar-rng.h"
#include "data/ar-audio-stats.h"
#include "data/ar-audio.h"

/* ---- model µ-law -------------------------------------------------------- */

static void
test_mulaw_round_trip (void)
{
  for (int q = 0; q < 256; q++)
    g_assert_cmpint (ar_mulaw_encode (ar_mulaw_decode ((guint8) q)), ==, q);
  /* The ends and the middle as the header defines them. */
  g_assert_cmpint (ar_mulaw_encode (-1.0f), ==, 0);
  g_assert_cmpint (ar_mulaw_encode (1.0f), ==, 255);
  g_assert_cmpint (ar_mulaw_encode (-7.0f), ==, 0);
  g_assert_cmpint (ar_mulaw_encode (7.0f), ==, 255);
  g_assert_cmpint (ar_mulaw_encode (0.0f), ==, 128);
  g_assert_cmpint (ar_mulaw_encode (-1e-7f), ==, 127);
  g_assert_cmpint (ar_mulaw_encode (NAN), ==, 128);
  /* decode is odd: class q and 255 - q mirror each other. */
  for (int q = 0; q < 128; q++)
    g_assert_cmpfloat (ar_mulaw_decode ((guint8) q), ==,
        -ar_mulaw_decode ((guint8) (255 - q)));
  /* The companding itself, at the centre of class 200: y = 200.5/128 - 1. */
  double y = 200.5 / 128 - 1, x = (pow (256.0, y) - 1) / 255;
  g_assert_cmpfloat_with_epsilon (ar_mulaw_decode (200), x, 1e-6);
}

static void
test_mulaw_monotonic (void)
{
  /* encode is non-decreasing and hits every class; decode strictly increases;
   * decode (encode (x)) stays within x's class. */
  int last = -1, seen = 0;
  for (int i = -200000; i <= 200000; i++) {
    float x = i / 200000.0f;
    int q = ar_mulaw_encode (x);
    g_assert_cmpint (q, >=, last);
    if (q != last)
      seen++;
    last = q;
    /* The class edges, from the companding's inverse. */
    double lo = q / 128.0 - 1, hi = (q + 1) / 128.0 - 1;
    double xlo = copysign (expm1 (fabs (lo) * log (256.0)) / 255, lo);
    double xhi = copysign (expm1 (fabs (hi) * log (256.0)) / 255, hi);
    g_assert_cmpfloat (fabs (ar_mulaw_decode ((guint8) q) - x), <=,
        xhi - xlo + 1e-6);
  }
  g_assert_cmpint (seen, ==, 256);
  for (int q = 1; q < 256; q++)
    g_assert_cmpfloat (ar_mulaw_decode ((guint8) q), >,
        ar_mulaw_decode ((guint8) (q - 1)));
}

/* ---- G.711 -------------------------------------------------------------- */

static int
g711_segment (guint8 b)
{
  return ((guint8) ~b >> 4) & 7;
}

static void
test_g711_known (void)
{
  /* Silence is all ones; the clip ends; -1 is "negative zero". */
  g_assert_cmphex (ar_g711_ulaw_encode (0), ==, 0xFF);
  g_assert_cmphex (ar_g711_ulaw_encode (-1), ==, 0x7F);
  g_assert_cmphex (ar_g711_ulaw_encode (32767), ==, 0x80);
  g_assert_cmphex (ar_g711_ulaw_encode (-32768), ==, 0x00);
  g_assert_cmphex (ar_g711_ulaw_encode (32635), ==, 0x80);
  g_assert_cmphex (ar_g711_ulaw_encode (1000), ==, 0xCE);
  g_assert_cmphex (ar_g711_ulaw_encode (-1000), ==, 0x4E);
  g_assert_cmpint (ar_g711_ulaw_decode (0xFF), ==, 0);
  g_assert_cmpint (ar_g711_ulaw_decode (0x7F), ==, 0);
  g_assert_cmpint (ar_g711_ulaw_decode (0x80), ==, 32124);
  g_assert_cmpint (ar_g711_ulaw_decode (0x00), ==, -32124);
  g_assert_cmpint (ar_g711_ulaw_decode (0xCE), ==, 988);

  /* Segment boundaries: G.711's 14-bit thresholds 31, 95, 223, 479, 991,
   * 2015, 4063 are, on 16-bit samples, the last values of segments 0 … 6
   * (·4, minus the rounding of the bias): segment s starts at 2^(s+8) - 132. */
  static const int first[8] = { 0, 124, 380, 892, 1916, 3964, 8060, 16252 };
  for (int s = 0; s < 8; s++) {
    g_assert_cmpint (g711_segment (ar_g711_ulaw_encode ((gint16) first[s])), ==,
        s);
    g_assert_cmpint (g711_segment (ar_g711_ulaw_encode ((gint16) (-first[s]))),
        ==, s);
    if (s > 0) {
      g_assert_cmpint (g711_segment (ar_g711_ulaw_encode ((gint16) (first[s] -
                           1))),
          ==, s - 1);
      g_assert_cmpint (g711_segment (ar_g711_ulaw_encode ((gint16) (1 -
                           first[s]))),
          ==, s - 1);
    }
  }
}

static void
test_g711_round_trip (void)
{
  for (int x = -32768; x <= 32767; x++) {
    guint8 b = ar_g711_ulaw_encode ((gint16) x);
    int y = ar_g711_ulaw_decode (b), s = g711_segment (b);
    int clipped = CLAMP (x, -32635, 32635);
    g_assert_cmpint (abs (y - clipped), <=, 4 << s);
    /* The sign survives (zero decodes to zero from either side). */
    g_assert_true (y == 0 || (y > 0) == (x > 0));
  }
  /* Every byte but negative zero comes back from its own decoded value. */
  for (int b = 0; b < 256; b++)
    if (b != 0x7F)
      g_assert_cmphex (ar_g711_ulaw_encode (ar_g711_ulaw_decode ((guint8) b)),
          ==, b);
}

/* ---- files -------------------------------------------------------------- */

typedef struct
{
  char *dir;
} TmpDir;

static void
tmp_setup (TmpDir *t, gconstpointer data)
{
  GError *error = NULL;
  t->dir = g_dir_make_tmp ("test-audio-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
remove_tree (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) &&
      !g_file_test (path, G_FILE_TEST_IS_SYMLINK)) {
    GDir *d = g_dir_open (path, 0, NULL);
    const char *name;
    while ((name = g_dir_read_name (d)) != NULL) {
      g_autofree char *p = g_build_filename (path, name, NULL);
      remove_tree (p);
    }
    g_dir_close (d);
    g_rmdir (path);
  } else {
    g_unlink (path);
  }
}

static void
tmp_teardown (TmpDir *t, gconstpointer data)
{
  remove_tree (t->dir);
  g_free (t->dir);
}

static guint
count_entries (const char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  guint n = 0;
  while (g_dir_read_name (d) != NULL)
    n++;
  g_dir_close (d);
  return n;
}

static void
test_wav_round_trip (TmpDir *t, gconstpointer data)
{
  g_autofree char *path = g_build_filename (t->dir, "x.wav", NULL);
  enum
  {
    N = 3001
  };
  float *x = g_new (float, N);
  for (int i = 0; i < N; i++)
    x[i] = 0.9f * sinf (i * 0.05f) * cosf (i * 0.0013f);
  x[10] = 1.5f; /* clipped */
  x[11] = -3.0f;
  GError *error = NULL;
  g_assert_true (ar_audio_write_wav (path, x, N, 16000, &error));
  g_assert_no_error (error);
  /* Written through a temporary file, renamed: nothing else is left. */
  g_assert_cmpuint (count_entries (t->dir), ==, 1);

  float *y = NULL;
  gsize n = 0;
  g_assert_true (ar_audio_read (path, 16000, &y, &n, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, N);
  for (int i = 0; i < N; i++) {
    float want = CLAMP (x[i], -1.0f, 32767.0f / 32768.0f);
    g_assert_cmpfloat (fabsf (y[i] - want), <=, 0.5f / 32768 + 1e-7f);
  }
  g_free (y);

  /* Overwrite in place; an empty file reads as no samples. */
  g_assert_true (ar_audio_write_wav (path, NULL, 0, 8000, &error));
  g_assert_true (ar_audio_read (path, 8000, &y, &n, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 0);
  g_assert_null (y);

  /* A directory that does not exist: the error names the path. */
  g_autofree char *bad =
      g_build_filename (t->dir, "no", "such", "dir.wav", NULL);
  g_assert_false (ar_audio_write_wav (bad, x, N, 8000, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_IO);
  g_assert_nonnull (strstr (error->message, bad));
  g_clear_error (&error);
  g_free (x);
}

/* A WAV of @channels interleaved channels written with libsndfile directly. */
static void
write_raw_wav (const char *path, const float *x, gsize frames, int channels,
    int rate)
{
  SF_INFO info = { .samplerate = rate,
    .channels = channels,
    .format = SF_FORMAT_WAV | SF_FORMAT_FLOAT };
  SNDFILE *sf = sf_open (path, SFM_WRITE, &info);
  g_assert_nonnull (sf);
  g_assert_cmpint (sf_writef_float (sf, x, (sf_count_t) frames), ==,
      (sf_count_t) frames);
  g_assert_cmpint (sf_close (sf), ==, 0);
}

static void
test_stereo_mix (TmpDir *t, gconstpointer data)
{
  g_autofree char *path = g_build_filename (t->dir, "stereo.wav", NULL);
  enum
  {
    N = 5000
  };
  float *x = g_new (float, 2 * N);
  for (int i = 0; i < N; i++) {
    x[2 * i] = 0.5f * sinf (i * 0.1f);
    x[2 * i + 1] = -0.25f;
  }
  write_raw_wav (path, x, N, 2, 8000);
  float *y = NULL;
  gsize n = 0;
  GError *error = NULL;
  g_assert_true (ar_audio_read (path, 8000, &y, &n, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, N);
  for (int i = 0; i < N; i++)
    g_assert_cmpfloat_with_epsilon (y[i], 0.5f * (x[2 * i] + x[2 * i + 1]),
        1e-7);
  g_free (y);
  g_free (x);
}

static void
test_resample (TmpDir *t, gconstpointer data)
{
  g_autofree char *path = g_build_filename (t->dir, "sine16k.flac", NULL);
  enum
  {
    N = 16000
  };
  float *x = g_new (float, N);
  for (int i = 0; i < N; i++)
    x[i] = 0.5f * sinf (2 * G_PI * 1000.0 * i / 16000.0);
  /* Through libsndfile's FLAC, 16-bit, at 16 kHz. */
  SF_INFO info = { .samplerate = 16000,
    .channels = 1,
    .format = SF_FORMAT_FLAC | SF_FORMAT_PCM_16 };
  SNDFILE *sf = sf_open (path, SFM_WRITE, &info);
  g_assert_nonnull (sf);
  g_assert_cmpint (sf_writef_float (sf, x, N), ==, N);
  sf_close (sf);

  float *y = NULL;
  gsize n = 0;
  GError *error = NULL;
  g_assert_true (ar_audio_read (path, 8000, &y, &n, &error));
  g_assert_no_error (error);
  /* Half as many samples (libsamplerate rounds the end to within a few). */
  g_assert_cmpuint (n, >=, 7995);
  g_assert_cmpuint (n, <=, 8005);

  /* The middle half second, away from the converter's edge effects:
   * 0.5 s of 1 kHz is 500 periods, 1000 zero crossings. */
  int a = 2000, len = 4000, crossings = 0;
  double ss = 0;
  for (int i = a; i < a + len; i++) {
    ss += (double) y[i] * y[i];
    if (i > a && (y[i - 1] < 0) != (y[i] < 0))
      crossings++;
  }
  double rms = sqrt (ss / len);
  g_assert_cmpfloat (fabs (rms - 0.5 / sqrt (2)) / (0.5 / sqrt (2)), <, 0.01);
  g_assert_cmpint (abs (crossings - 1000), <=, 1);
  /* The DFT of those 4000 samples peaks in bin 1000 Hz · 4000 / 8000 = 500. */
  int best = -1;
  double best_mag = -1;
  for (int k = 400; k <= 600; k++) {
    double re = 0, im = 0;
    for (int i = 0; i < len; i++) {
      re += y[a + i] * cos (2 * G_PI * k * i / len);
      im -= y[a + i] * sin (2 * G_PI * k * i / len);
    }
    double m = re * re + im * im;
    if (m > best_mag) {
      best_mag = m;
      best = k;
    }
  }
  g_assert_cmpint (best, ==, 500);
  g_free (y);
  g_free (x);
}

static void
assert_read_fails (const char *path, int code)
{
  float *y = NULL;
  gsize n = 7;
  GError *error = NULL;
  g_assert_false (ar_audio_read (path, 8000, &y, &n, &error));
  g_assert_error (error, AR_ERROR, code);
  g_assert_true (g_str_has_prefix (error->message, path));
  g_assert_null (y);
  g_assert_cmpuint (n, ==, 0);
  g_test_message ("%s", error->message);
  g_error_free (error);
}

static void
test_read_errors (TmpDir *t, gconstpointer data)
{
  g_autofree char *missing = g_build_filename (t->dir, "missing.wav", NULL);
  assert_read_fails (missing, AR_ERROR_IO);

  /* Not audio at all. */
  g_autofree char *junk = g_build_filename (t->dir, "junk.wav", NULL);
  g_assert_true (g_file_set_contents (junk,
      "this is not a RIFF file, just text\n", -1, NULL));
  assert_read_fails (junk, AR_ERROR_FORMAT);

  /* A real WAV cut inside its header. */
  g_autofree char *good = g_build_filename (t->dir, "good.wav", NULL);
  float x[400] = { 0 };
  g_assert_true (ar_audio_write_wav (good, x, 400, 8000, NULL));
  g_autofree char *bytes = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (good, &bytes, &len, NULL));
  g_autofree char *cut = g_build_filename (t->dir, "cut.wav", NULL);
  g_assert_true (g_file_set_contents (cut, bytes, 24, NULL));
  assert_read_fails (cut, AR_ERROR_FORMAT);

  /* The same WAV cut inside its data still reads: what is there. */
  g_assert_true (g_file_set_contents (cut, bytes, len - 200, NULL));
  float *y = NULL;
  gsize n = 0;
  GError *error = NULL;
  g_assert_true (ar_audio_read (cut, 8000, &y, &n, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 300);
  g_free (y);

  /* A directory is not a file; a bad rate is the caller's error. */
  assert_read_fails (t->dir, AR_ERROR_FORMAT);
  g_assert_false (ar_audio_read (good, 0, &y, &n, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
  g_clear_error (&error);
}

/* Found by fuzz-loaders: the samples promised in [-1, 1] were not.  A
 * full-scale square wave resampled 8 → 96 kHz rang to 1.06 (the sinc
 * filter's Gibbs overshoot at each edge); a float file's values came through
 * as they were, 4 or 3e38 (two channels of which summed to infinity), and a
 * NaN spread over the resampler's filter.  Now the output is clipped, and a
 * non-finite sample is an error naming the file and the frame. */
static void
test_read_range (TmpDir *t, gconstpointer data)
{
  g_autofree char *square = g_build_filename (t->dir, "square.wav", NULL);
  g_autofree char *loud = g_build_filename (t->dir, "loud.wav", NULL);
  g_autofree char *nan = g_build_filename (t->dir, "nan.wav", NULL);
  enum
  {
    N = 400
  };
  float x[2 * N];
  float *y = NULL;
  gsize n = 0;
  GError *error = NULL;

  /* 16-bit, so every stored value is within [-1, 1]; 8 samples per half
   * period, 500 Hz */
  for (int i = 0; i < N; i++)
    x[i] = (i / 8) % 2 ? -1.0f : 1.0f;
  g_assert_true (ar_audio_write_wav (square, x, N, 8000, &error));
  g_assert_no_error (error);
  g_assert_true (ar_audio_read (square, 96000, &y, &n, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n, >=, 12 * N - 12);
  g_assert_cmpuint (n, <=, 12 * N + 12);
  float lo = 0, hi = 0;
  for (gsize i = 0; i < n; i++) {
    lo = MIN (lo, y[i]);
    hi = MAX (hi, y[i]);
  }
  g_assert_cmpfloat (lo, >=, -1.0f);
  g_assert_cmpfloat (hi, <=, 1.0f);
  /* (still a full-scale square: the clip is all that changed) */
  g_assert_cmpfloat (lo, <, -0.99f);
  g_assert_cmpfloat (hi, >, 0.99f);
  g_clear_pointer (&y, g_free);

  /* A float file beyond full scale: clipped per channel, then mixed. */
  for (int i = 0; i < N; i++) {
    x[2 * i] = i % 2 ? 3e38f : 4.0f;
    x[2 * i + 1] = i % 2 ? 3e38f : -0.5f;
  }
  write_raw_wav (loud, x, N, 2, 8000);
  g_assert_true (ar_audio_read (loud, 8000, &y, &n, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, N);
  for (int i = 0; i < N; i++)
    g_assert_cmpfloat (y[i], ==, i % 2 ? 1.0f : 0.25f);
  g_clear_pointer (&y, g_free);

  /* A NaN or an infinity in frame 123 of the second channel, read at the
   * file's rate and resampled. */
  const float bad[] = { NAN, INFINITY, -INFINITY };
  for (guint k = 0; k < G_N_ELEMENTS (bad); k++) {
    for (int i = 0; i < 2 * N; i++)
      x[i] = 0.1f;
    x[2 * 123 + 1] = bad[k];
    write_raw_wav (nan, x, N, 2, 8000);
    for (int rate = 8000; rate <= 16000; rate += 8000) {
      g_assert_false (ar_audio_read (nan, rate, &y, &n, &error));
      g_assert_error (error, AR_ERROR, AR_ERROR_FORMAT);
      g_assert_nonnull (strstr (error->message, nan));
      g_assert_nonnull (strstr (error->message, "sample 123 of channel 1"));
      g_assert_null (y);
      g_assert_cmpuint (n, ==, 0);
      g_clear_error (&error);
    }
  }
}

/* Found by fuzz-loaders: the header's frame count sized the first
 * allocation, so a 150-byte FLAC file claiming 1.65 billion frames
 * reserved 10 GB.  Here a 48-frame FLAC at 1 kHz claims 2^31 - 1 frames
 * and is read at 256 kHz (libsamplerate's largest ratio): 2.2 TB, which
 * g_renew could only abort on (ASan: "allocation size exceeds maximum"). */
static void
test_read_lying_length (TmpDir *t, gconstpointer data)
{
  g_autofree char *path = g_build_filename (t->dir, "lying.flac", NULL);
  SF_INFO info = { .samplerate = 1000,
    .channels = 1,
    .format = SF_FORMAT_FLAC | SF_FORMAT_PCM_16 };
  SNDFILE *sf = sf_open (path, SFM_WRITE, &info);
  float x[48];
  g_autofree guint8 *bytes = NULL;
  gsize len, n = 0;
  float *y = NULL;
  GError *error = NULL;

  g_assert_nonnull (sf);
  for (int i = 0; i < 48; i++)
    x[i] = 0.5f * sinf (0.2f * i);
  g_assert_cmpint (sf_writef_float (sf, x, 48), ==, 48);
  g_assert_cmpint (sf_close (sf), ==, 0);
  /* STREAMINFO (after "fLaC" and a 4-byte block header): 10 bytes of block
   * and frame sizes, then 20 bits of rate, 3 of channels, 5 of sample
   * size and 36 of total samples, big-endian */
  g_assert_true (g_file_get_contents (path, (char **) &bytes, &len, NULL));
  g_assert_cmpuint (len, >, 26);
  g_assert_cmpmem (bytes, 4, "fLaC", 4);
  guint64 v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | bytes[18 + i];
  g_assert_cmpuint (v & G_GUINT64_CONSTANT (0xfffffffff), ==, 48);
  v = (v & ~G_GUINT64_CONSTANT (0xfffffffff)) | G_MAXINT32;
  for (int i = 7; i >= 0; i--, v >>= 8)
    bytes[18 + i] = (guint8) v;
  g_assert_true (g_file_set_contents (path, (char *) bytes, len, NULL));

  /* what is there is read, whatever the header claimed */
  g_assert_true (ar_audio_read (path, 256000, &y, &n, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n, >=, 256 * 48 - 256);
  g_assert_cmpuint (n, <=, 256 * 48 + 256);
  g_free (y);
}

static void
touch (const char *dir, const char *name)
{
  g_autofree char *p = g_build_filename (dir, name, NULL);
  g_assert_true (g_file_set_contents (p, "", 0, NULL));
}

static void
test_list_files (TmpDir *t, gconstpointer data)
{
  g_autofree char *sub = g_build_filename (t->dir, "sub", NULL);
  g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);
  touch (t->dir, "b.wav");
  touch (t->dir, "a.WAV");
  touch (t->dir, "c.txt");
  touch (t->dir, ".hidden.wav");
  touch (t->dir, "d.flac");
  touch (sub, "e.wav");
  touch (sub, "f.ogg");

  GError *error = NULL;
  g_autoptr (GPtrArray) all = ar_audio_list_files (t->dir, &error);
  g_assert_no_error (error);
  static const char *const want_all[] = { "a.WAV", "b.wav", "d.flac",
    "sub/e.wav", "sub/f.ogg" };
  g_assert_cmpuint (all->len, ==, G_N_ELEMENTS (want_all));
  for (guint i = 0; i < all->len; i++) {
    g_autofree char *want = g_build_filename (t->dir, want_all[i], NULL);
    g_assert_cmpstr (g_ptr_array_index (all, i), ==, want);
  }

  /* A glob: the pattern decides, not the extension; dot files only when
   * the pattern asks. */
  g_autofree char *glob = g_build_filename (t->dir, "*.wav", NULL);
  g_autoptr (GPtrArray) wav = ar_audio_list_files (glob, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (wav->len, ==, 1);
  g_assert_true (g_str_has_suffix (g_ptr_array_index (wav, 0), "/b.wav"));
  g_autofree char *glob2 = g_build_filename (t->dir, "?.*", NULL);
  g_autoptr (GPtrArray) any = ar_audio_list_files (glob2, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (any->len, ==, 4); /* a.WAV b.wav c.txt d.flac */
  g_assert_true (g_str_has_suffix (g_ptr_array_index (any, 2), "/c.txt"));

  /* One file. */
  g_autofree char *one = g_build_filename (sub, "e.wav", NULL);
  g_autoptr (GPtrArray) single = ar_audio_list_files (one, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (single->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (single, 0), ==, one);

  /* Nothing there: errors naming the spec. */
  g_autofree char *none = g_build_filename (t->dir, "*.aiff", NULL);
  g_assert_null (ar_audio_list_files (none, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_IO);
  g_assert_nonnull (strstr (error->message, none));
  g_clear_error (&error);
  g_autofree char *missing = g_build_filename (t->dir, "nope", NULL);
  g_assert_null (ar_audio_list_files (missing, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_IO);
  g_assert_nonnull (strstr (error->message, missing));
  g_clear_error (&error);
  g_autofree char *empty = g_build_filename (t->dir, "empty", NULL);
  g_assert_cmpint (g_mkdir (empty, 0755), ==, 0);
  g_assert_null (ar_audio_list_files (empty, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_IO);
  g_clear_error (&error);
}

static void
test_split_holdout (void)
{
  g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0; i < 45; i++)
    g_ptr_array_add (files, g_strdup_printf ("f%02d.wav", i));
  GPtrArray *train, *held;
  ar_audio_split_holdout (files, 20, &train, &held);
  g_assert_cmpuint (held->len, ==, 3);
  g_assert_cmpstr (g_ptr_array_index (held, 0), ==, "f00.wav");
  g_assert_cmpstr (g_ptr_array_index (held, 1), ==, "f20.wav");
  g_assert_cmpstr (g_ptr_array_index (held, 2), ==, "f40.wav");
  g_assert_cmpuint (train->len, ==, 42);
  g_assert_cmpstr (g_ptr_array_index (train, 0), ==, "f01.wav");
  g_assert_cmpstr (g_ptr_array_index (train, 19), ==, "f21.wav");
  g_ptr_array_unref (train);
  g_ptr_array_unref (held);

  ar_audio_split_holdout (files, 0, &train, &held);
  g_assert_cmpuint (held->len, ==, 0);
  g_assert_cmpuint (train->len, ==, 45);
  g_ptr_array_unref (train);
  g_ptr_array_unref (held);
  ar_audio_split_holdout (files, 1, &train, &held);
  g_assert_cmpuint (held->len, ==, 45);
  g_assert_cmpuint (train->len, ==, 0);
  g_ptr_array_unref (train);
  g_ptr_array_unref (held);
}

/* ---- baselines ---------------------------------------------------------- */

static void
test_baseline_laplace_mass (void)
{
  /* A predictor that always says 0 (order 1, a = 0): the cost of a
   * one-sample signal is -log2 of its class's mass, which must sum to 1
   * over the classes, tails included. */
  const double scales[] = { 1e-5, 0.003, 0.05, 2.0 };
  for (guint j = 0; j < G_N_ELEMENTS (scales); j++) {
    ArAudioLpc lpc = { .order = 1, .scale = scales[j] };
    double total = 0;
    for (int q = 0; q < 256; q++) {
      float x = ar_mulaw_decode ((guint8) q);
      ArAudioSignal sig = { &x, 1 };
      double bits = ar_audio_lpc_bits (&lpc, &sig, 1);
      g_assert_cmpfloat (bits, >=, 0);
      total += exp2 (-bits);
      /* A class away from the centre, against the CDF written out. */
      if (q == 200 && scales[j] == 0.05) {
        double lo = (pow (256, 200 / 128.0 - 1) - 1) / 255;
        double hi = (pow (256, 201 / 128.0 - 1) - 1) / 255;
        double mass = 0.5 * exp (-lo / 0.05) - 0.5 * exp (-hi / 0.05);
        g_assert_cmpfloat_with_epsilon (bits, -log2 (mass), 1e-9);
      }
    }
    g_assert_cmpfloat_with_epsilon (total, 1.0, 1e-9);
  }
}

static void
test_baseline_unigram (void)
{
  /* Every class equally often: 8 bits, fitted or not. */
  float *x = g_new (float, 256 * 40);
  for (int i = 0; i < 256 * 40; i++)
    x[i] = ar_mulaw_decode ((guint8) (i * 7 % 256));
  ArAudioSignal all = { x, 256 * 40 };
  ArAudioUnigram u;
  ar_audio_unigram_fit (&u, &all, 1);
  g_assert_cmpuint (u.n_fitted, ==, 256 * 40);
  g_assert_cmpfloat_with_epsilon (ar_audio_unigram_bits (&u, &all, 1), 8.0,
      1e-9);

  /* One class only: add-one leaves it -log2 ((N + 1) / (N + 256)). */
  for (int i = 0; i < 256 * 40; i++)
    x[i] = 0.3f;
  ar_audio_unigram_fit (&u, &all, 1);
  double bits = ar_audio_unigram_bits (&u, &all, 1);
  g_assert_cmpfloat_with_epsilon (bits, -log2 ((10240 + 1.0) / (10240 + 256)),
      1e-12);
  g_assert_cmpfloat (bits, <, 0.04);

  /* Fitted on nothing: uniform. */
  ar_audio_unigram_fit (&u, NULL, 0);
  g_assert_cmpfloat_with_epsilon (ar_audio_unigram_bits (&u, &all, 1), 8.0,
      1e-12);
  g_assert_cmpfloat (ar_audio_unigram_bits (&u, NULL, 0), ==, 0.0);
  g_free (x);
}

/* An AR(2) process: x_t = 1.6 x_{t-1} - 0.8 x_{t-2} + 0.02 e_t, e ~ N (0, 1). */
static float *
ar2 (gsize n, guint64 seed)
{
  ArRng rng;
  ar_rng_init (&rng, seed);
  float *x = g_new (float, n);
  double x1 = 0, x2 = 0;
  for (gsize i = 0; i < n; i++) {
    double v = 1.6 * x1 - 0.8 * x2 + 0.02 * ar_rng_normal (&rng);
    x[i] = (float) v;
    x2 = x1;
    x1 = v;
  }
  return x;
}

static void
test_baseline_ar2 (void)
{
  enum
  {
    N = 20000
  };
  float *tr[3], *he = ar2 (N, 100);
  ArAudioSignal train[3], held = { he, N };
  for (int i = 0; i < 3; i++) {
    tr[i] = ar2 (N, i + 1);
    train[i] = (ArAudioSignal){ tr[i], N };
  }
  ArAudioBaselines b;
  GError *error = NULL;
  g_assert_true (ar_audio_baselines (train, 3, &held, 1, 16, &b, &error));
  g_assert_no_error (error);
  g_test_message ("AR(2): unigram %.3f (oracle %.3f), LPC16 %.3f bits/sample; "
                  "a1 %.3f a2 %.3f "
                  "a3 %.3f, b %.4f",
      b.unigram_bits, b.unigram_oracle_bits, b.lpc_bits, b.lpc.a[0], b.lpc.a[1],
      b.lpc.a[2], b.lpc.scale);
  g_assert_cmpuint (b.n_train, ==, 3 * N);
  g_assert_cmpuint (b.n_held, ==, N);
  g_assert_cmpfloat (fabs (b.lpc.a[0] - 1.6), <, 0.03);
  g_assert_cmpfloat (fabs (b.lpc.a[1] + 0.8), <, 0.03);
  for (int k = 2; k < 16; k++)
    g_assert_cmpfloat (fabs (b.lpc.a[k]), <, 0.03);
  /* The Laplace scale of a Gaussian innovation: E|e| = 0.02 · sqrt (2/π). */
  g_assert_cmpfloat (fabs (b.lpc.scale - 0.02 * sqrt (2 / G_PI)), <, 0.002);
  g_assert_cmpfloat (b.lpc_bits, <, b.unigram_bits - 1.0);
  g_assert_cmpfloat (b.unigram_bits, <, 8.0);
  g_assert_cmpfloat (fabs (b.unigram_oracle_bits - b.unigram_bits), <, 0.1);

  /* Held-out data louder than the training data: the histogram fitted on
   * it (the oracle) does much better than the one fitted on training. */
  for (gsize i = 0; i < N; i++)
    he[i] *= 8;
  g_assert_true (ar_audio_baselines (train, 3, &held, 1, 16, &b, &error));
  g_assert_cmpfloat (b.unigram_oracle_bits, <, b.unigram_bits - 0.5);

  /* Errors: orders out of range, too little data. */
  ArAudioLpc lpc;
  g_assert_false (ar_audio_lpc_fit (&lpc, 0, train, 3, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (ar_audio_lpc_fit (&lpc, AR_AUDIO_LPC_MAX_ORDER + 1, train, 3,
      &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
  g_clear_error (&error);
  ArAudioSignal tiny = { he, 10 };
  g_assert_false (ar_audio_lpc_fit (&lpc, 16, &tiny, 1, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
  g_clear_error (&error);
  /* Silence is class 128 throughout (µ-law has no exact zero): predicted
   * from the second sample on, with the smallest scale; only the first
   * sample (predicted as 0, at the lower edge of its class) costs about a
   * bit. */
  float zeros[100] = { 0 };
  ArAudioSignal quiet = { zeros, 100 };
  g_assert_true (ar_audio_lpc_fit (&lpc, 4, &quiet, 1, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (lpc.scale, ==, 1e-5);
  double quiet_bits = ar_audio_lpc_bits (&lpc, &quiet, 1);
  g_assert_cmpfloat (quiet_bits, >, 0.5 / 100);
  g_assert_cmpfloat (quiet_bits, <, 1.5 / 100);
  for (int i = 0; i < 3; i++)
    g_free (tr[i]);
  g_free (he);
}

/* The filter's steady-state gain for sines across the band is the
 * Butterworth magnitude of the prewarped design, and DC goes to zero. */
static void
test_highpass_response (void)
{
  const double rate = 8000, fc = 100;
  const double freqs[] = { 20, 50, 71, 100, 141, 200, 400, 1000, 3000, 3950 };
  const gsize n = 16000; /* the second second is measured: whole periods */
  float *x = g_new (float, n);
  ArHighpass f;

  for (gsize k = 0; k < G_N_ELEMENTS (freqs); k++) {
    double w = 2 * G_PI * freqs[k] / rate, c = 0, s = 0;

    for (gsize i = 0; i < n; i++)
      x[i] = (float) (0.5 * sin (w * i));
    ar_highpass_init (&f, fc, rate);
    ar_highpass_run (&f, x, n);
    for (gsize i = n / 2; i < n; i++) {
      c += x[i] * cos (w * i);
      s += x[i] * sin (w * i);
    }
    double gain = 2.0 / (n / 2) * sqrt (c * c + s * s) / 0.5;
    double r = tan (G_PI * fc / rate) / tan (G_PI * freqs[k] / rate);
    double expect = 1.0 / sqrt (1.0 + r * r * r * r);
    if (fabs (gain - expect) > 1e-3 * expect + 1e-5)
      g_error ("high-pass gain at %g Hz: %g, expected %g", freqs[k], gain,
          expect);
  }

  for (gsize i = 0; i < n; i++)
    x[i] = 0.25f;
  ar_highpass_init (&f, fc, rate);
  ar_highpass_run (&f, x, n);
  g_assert_cmpfloat (x[0], ==, (float) (f.b0 * 0.25)); /* the step passes, */
  g_assert_cmpfloat (x[0], >, 0.2f);                   /* then decays */
  for (gsize i = 2000; i < n; i++)
    g_assert_cmpfloat (fabsf (x[i]), <, 1e-6f);
  g_free (x);
}

/* Filtering in pieces (the decode's buffers) is filtering at once. */
static void
test_highpass_pieces (void)
{
  const gsize n = 5000;
  float *a = g_new (float, n), *b = g_new (float, n);
  ArRng rng;
  ArHighpass f;

  ar_rng_init (&rng, 7);
  for (gsize i = 0; i < n; i++)
    a[i] = b[i] = ar_rng_uniform (&rng) * 2 - 1;
  ar_highpass_init (&f, 120, 8000);
  ar_highpass_run (&f, a, n);
  ar_highpass_init (&f, 120, 8000);
  for (gsize i = 0; i < n;) {
    gsize m = MIN (n - i, 1 + ar_rng_below (&rng, 300));

    ar_highpass_run (&f, b + i, m);
    i += m;
  }
  g_assert_cmpmem (a, n * sizeof (float), b, n * sizeof (float));
  /* reset is a new stream */
  ar_highpass_reset (&f);
  memcpy (b, a, n * sizeof (float));
  ar_highpass_run (&f, b, n);
  ArHighpass g;
  ar_highpass_init (&g, 120, 8000);
  ar_highpass_run (&g, a, n);
  g_assert_cmpmem (a, n * sizeof (float), b, n * sizeof (float));
  g_free (a);
  g_free (b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/audio/mulaw/round-trip", test_mulaw_round_trip);
  g_test_add_func ("/audio/mulaw/monotonic", test_mulaw_monotonic);
  g_test_add_func ("/audio/g711/known", test_g711_known);
  g_test_add_func ("/audio/g711/round-trip", test_g711_round_trip);
  g_test_add ("/audio/wav/round-trip", TmpDir, NULL, tmp_setup,
      test_wav_round_trip, tmp_teardown);
  g_test_add ("/audio/read/stereo", TmpDir, NULL, tmp_setup, test_stereo_mix,
      tmp_teardown);
  g_test_add ("/audio/read/resample", TmpDir, NULL, tmp_setup, test_resample,
      tmp_teardown);
  g_test_add ("/audio/read/errors", TmpDir, NULL, tmp_setup, test_read_errors,
      tmp_teardown);
  g_test_add ("/audio/read/range", TmpDir, NULL, tmp_setup, test_read_range,
      tmp_teardown);
  g_test_add ("/audio/read/lying-length", TmpDir, NULL, tmp_setup,
      test_read_lying_length, tmp_teardown);
  g_test_add ("/audio/list-files", TmpDir, NULL, tmp_setup, test_list_files,
      tmp_teardown);
  g_test_add_func ("/audio/split-holdout", test_split_holdout);
  g_test_add_func ("/audio/highpass/response", test_highpass_response);
  g_test_add_func ("/audio/highpass/pieces", test_highpass_pieces);
  g_test_add_func ("/audio/baselines/laplace-mass", test_baseline_laplace_mass);
  g_test_add_func ("/audio/baselines/unigram", test_baseline_unigram);
  g_test_add_func ("/audio/baselines/ar2", test_baseline_ar2);
  return g_test_run ();
}
