/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-audio.c — audio files (libsndfile in, 16-bit WAV out, libsamplerate in
 * between), the lists of files a trainer reads, and the two µ-law codings:
 * the model's continuous µ = 255 companding quantised to 256 classes, and
 * ITU-T G.711 µ-law bytes.  See ar-audio.h for the conventions. */
#include "ar-audio.h"
#include "core/ar-error.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <math.h>
#include <samplerate.h>
#include <sndfile.h>
#include <string.h>
#include <unistd.h>

/* Frames read from libsndfile per call: a whole prompt is a few hundred
 * thousand samples, a long recording could be hours, so never read (or
 * convert) more than this at once beyond the output itself. */
#define READ_CHUNK 4096

/* At most this many samples (16 MiB) are reserved on the word of the
 * file's header: a 150-byte FLAC file may claim 1.65 billion frames, and
 * believing it cost 10 GB of address space (g_renew aborts when that is
 * refused; asked for 256 times the rate, 2.2 TB always is).  Beyond it
 * the buffer grows by doubling as samples actually arrive. */
#define MAX_RESERVE ((gsize) 1 << 22)

/* A growing float buffer: the output of reading and resampling. */
typedef struct
{
  float *data;
  gsize len, cap;
} FloatBuf;

static float *
buf_reserve (FloatBuf *b, gsize extra)
{
  if (b->len + extra > b->cap) {
    gsize cap = MAX (b->cap * 2, b->len + extra);
    cap = MAX (cap, 1024);
    b->data = g_renew (float, b->data, cap);
    b->cap = cap;
  }
  return b->data + b->len;
}

/* Feeds @n mono samples (@n = 0 with @eof to drain) through the resampler
 * into @out. */
static gboolean
resample_chunk (SRC_STATE *src, double ratio, const float *in, gsize n,
    gboolean eof, FloatBuf *out, const char *path, GError **error)
{
  for (;;) {
    /* Room for what this input can make, plus the converter's delay line. */
    gsize room = (gsize) ceil (n * ratio) + 512;
    SRC_DATA d = {
      .data_in = in,
      .data_out = buf_reserve (out, room),
      .input_frames = (long) n,
      .output_frames = (long) room,
      .end_of_input = eof,
      .src_ratio = ratio,
    };
    int err = src_process (src, &d);
    if (err != 0) {
      g_set_error (error, AR_ERROR, AR_ERROR_IO, "%s: resampling failed: %s",
          path, src_strerror (err));
      return FALSE;
    }
    out->len += (gsize) d.output_frames_gen;
    in += d.input_frames_used;
    n -= (gsize) d.input_frames_used;
    /* Without end of input the converter keeps what it cannot use yet; at the
     * end, call until it has nothing more to give. */
    if (n == 0 && (!eof || d.output_frames_gen == 0))
      return TRUE;
  }
}

gboolean
ar_audio_read (const char *path, int rate, float **samples, gsize *n_samples,
    GError **error)
{
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (samples != NULL && n_samples != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  *samples = NULL;
  *n_samples = 0;
  if (rate <= 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "%s: the requested sample rate %d Hz is not positive", path, rate);
    return FALSE;
  }

  /* libsndfile's message for a missing file is a bare "System error"; say
   * what the system said. */
  GStatBuf st;
  if (g_stat (path, &st) != 0) {
    int e = errno;
    g_set_error (error, AR_ERROR, AR_ERROR_IO, "%s: %s", path, g_strerror (e));
    return FALSE;
  }

  SF_INFO info = { 0 };
  SNDFILE *sf = sf_open (path, SFM_READ, &info);
  if (sf == NULL) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "%s: libsndfile cannot read it: %s", path, sf_strerror (NULL));
    return FALSE;
  }

  gboolean ok = FALSE;
  SRC_STATE *src = NULL;
  float *chunk = NULL, *mono = NULL;
  FloatBuf out = { 0 };
  gsize n_frames = 0; /* frames read so far */

  if (info.channels <= 0 || info.samplerate <= 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "%s: %d channels at %d Hz: expected at least one channel at a positive "
        "rate",
        path, info.channels, info.samplerate);
    goto done;
  }
  double ratio = (double) rate / info.samplerate;
  if (info.samplerate != rate) {
    if (!src_is_valid_ratio (ratio)) {
      g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
          "%s: cannot resample from %d Hz to %d Hz (ratio %g is outside "
          "libsamplerate's range)",
          path, info.samplerate, rate, ratio);
      goto done;
    }
    int err = 0;
    src = src_new (SRC_SINC_MEDIUM_QUALITY, 1, &err);
    if (src == NULL) {
      g_set_error (error, AR_ERROR, AR_ERROR_IO,
          "%s: cannot start the resampler: %s", path, src_strerror (err));
      goto done;
    }
  }
  /* frames may be unknown (SF_COUNT_MAX, a pipe) or lie for a truncated or
   * corrupt file; it only sizes the first allocation, up to MAX_RESERVE. */
  if (info.frames > 0 && info.frames < (sf_count_t) 1 << 31)
    buf_reserve (&out,
        (gsize) MIN (ceil ((double) info.frames * ratio) + 1024, MAX_RESERVE));

  chunk = g_new (float, (gsize) READ_CHUNK *info.channels);
  mono = g_new (float, READ_CHUNK);
  for (;;) {
    sf_count_t got = sf_readf_float (sf, chunk, READ_CHUNK);
    if (got < 0 || sf_error (sf) != SF_ERR_NO_ERROR) {
      g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
          "%s: read error after %" G_GSIZE_FORMAT " samples: %s", path, out.len,
          sf_strerror (sf));
      goto done;
    }
    if (got == 0)
      break;
    /* Mix down: the mean of the channels.  libsndfile scales integer
     * codings into [-1, 1], but gives a float or double file's values as
     * they are: clip them (as ar_audio_write_wav does), which also keeps
     * the sum of many huge channels finite, and refuse NaN and infinities,
     * which the resampler would smear over its whole filter length. */
    for (sf_count_t i = 0; i < got; i++) {
      float s = 0;
      for (int c = 0; c < info.channels; c++) {
        float x = chunk[i * info.channels + c];
        if (!isfinite (x)) {
          g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
              "%s: sample %" G_GSIZE_FORMAT " of channel %d is %g; expected "
              "a finite value",
              path, n_frames + (gsize) i, c, (double) x);
          goto done;
        }
        s += CLAMP (x, -1.0f, 1.0f);
      }
      mono[i] = s / info.channels;
    }
    n_frames += (gsize) got;
    if (src != NULL) {
      if (!resample_chunk (src, ratio, mono, (gsize) got, FALSE, &out, path,
              error))
        goto done;
    } else {
      memcpy (buf_reserve (&out, (gsize) got), mono,
          (gsize) got * sizeof (float));
      out.len += (gsize) got;
    }
  }
  if (src != NULL &&
      !resample_chunk (src, ratio, mono, 0, TRUE, &out, path, error))
    goto done;
  /* A band-limited resampler rings at steps: a full-scale edge comes out
   * a few percent beyond full scale, and the samples promised are in
   * [-1, 1]. */
  if (src != NULL)
    for (gsize i = 0; i < out.len; i++)
      out.data[i] = CLAMP (out.data[i], -1.0f, 1.0f);

  *samples =
      out.len ? g_renew (float, out.data, out.len) : (g_free (out.data), NULL);
  *n_samples = out.len;
  out.data = NULL;
  ok = TRUE;

done:
  g_free (out.data);
  g_free (chunk);
  g_free (mono);
  if (src != NULL)
    src_delete (src);
  sf_close (sf);
  return ok;
}

gboolean
ar_audio_write_wav (const char *path, const float *samples, gsize n_samples,
    int rate, GError **error)
{
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (samples != NULL || n_samples == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (rate <= 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "%s: the sample rate %d Hz is not positive", path, rate);
    return FALSE;
  }
  /* The temporary file sits beside the target so the rename stays on one
   * file system (and so is atomic). */
  g_autofree char *tmp = g_strdup_printf ("%s.tmp-XXXXXX", path);
  int fd = g_mkstemp_full (tmp, O_RDWR, 0666);
  if (fd < 0) {
    int e = errno;
    g_set_error (error, AR_ERROR, AR_ERROR_IO,
        "%s: cannot create a temporary file: %s", path, g_strerror (e));
    return FALSE;
  }
  SF_INFO info = {
    .samplerate = rate,
    .channels = 1,
    .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16,
  };
  /* Reopened by name: whether sf_open_fd closes the descriptor when it
   * fails is not documented. */
  close (fd);
  SNDFILE *sf = sf_open (tmp, SFM_WRITE, &info);
  if (sf == NULL) {
    g_set_error (error, AR_ERROR, AR_ERROR_IO,
        "%s: libsndfile cannot write it: %s", path, sf_strerror (NULL));
    g_unlink (tmp);
    return FALSE;
  }

  /* Our own conversion, so clipping (rather than libsndfile's wrap-around
   * when clipping is off) and the scale are explicit: x · 32768 rounded,
   * the scale libsndfile reads 16-bit PCM back with. */
  gint16 pcm[READ_CHUNK];
  gboolean ok = TRUE;
  for (gsize i = 0; i < n_samples && ok; i += READ_CHUNK) {
    gsize n = MIN (READ_CHUNK, n_samples - i);
    for (gsize j = 0; j < n; j++) {
      float v = samples[i + j] * 32768.0f;
      /* NaN becomes silence rather than an undefined conversion. */
      v = isnan (v) ? 0.0f : CLAMP (v, -32768.0f, 32767.0f);
      pcm[j] = (gint16) lrintf (v);
    }
    if (sf_write_short (sf, pcm, (sf_count_t) n) != (sf_count_t) n) {
      g_set_error (error, AR_ERROR, AR_ERROR_IO, "%s: write error: %s", path,
          sf_strerror (sf));
      ok = FALSE;
    }
  }
  if (sf_close (sf) != 0 && ok) {
    g_set_error (error, AR_ERROR, AR_ERROR_IO, "%s: cannot finish the file",
        path);
    ok = FALSE;
  }
  if (ok && g_rename (tmp, path) != 0) {
    int e = errno;
    g_set_error (error, AR_ERROR, AR_ERROR_IO,
        "%s: cannot rename %s into place: %s", path, tmp, g_strerror (e));
    ok = FALSE;
  }
  if (!ok)
    g_unlink (tmp);
  return ok;
}

/* ---- lists of files ----------------------------------------------------- */

static gboolean
has_audio_extension (const char *name)
{
  static const char *const exts[] = {
    "wav",
    "flac",
    "ogg",
    "oga",
    "aiff",
    "aif",
    "au",
    "snd",
    "caf",
    "w64",
  };
  const char *dot = strrchr (name, '.');
  if (dot == NULL)
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (exts); i++)
    if (g_ascii_strcasecmp (dot + 1, exts[i]) == 0)
      return TRUE;
  return FALSE;
}

static int
compare_paths (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Every audio file under @dir (recursively) into @out. */
static gboolean
list_dir (const char *dir, GPtrArray *out, GError **error)
{
  GError *local = NULL;
  g_autoptr (GDir) d = g_dir_open (dir, 0, &local);
  if (d == NULL) {
    g_set_error (error, AR_ERROR, AR_ERROR_IO, "%s", local->message);
    g_error_free (local);
    return FALSE;
  }
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL) {
    if (name[0] == '.')
      continue;
    char *path = g_build_filename (dir, name, NULL);
    gboolean link = g_file_test (path, G_FILE_TEST_IS_SYMLINK);
    if (g_file_test (path, G_FILE_TEST_IS_DIR)) {
      /* A link to a directory could make a cycle. */
      if (!link && !list_dir (path, out, error)) {
        g_free (path);
        return FALSE;
      }
      g_free (path);
    } else if (g_file_test (path, G_FILE_TEST_IS_REGULAR) &&
        has_audio_extension (name)) {
      g_ptr_array_add (out, path);
    } else {
      g_free (path);
    }
  }
  return TRUE;
}

GPtrArray *
ar_audio_list_files (const char *spec, GError **error)
{
  g_return_val_if_fail (spec != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *base = g_path_get_basename (spec);
  if (strpbrk (base, "*?") != NULL) {
    g_autofree char *dir = g_path_get_dirname (spec);
    if (strpbrk (dir, "*?") != NULL) {
      g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
          "%s: wildcards are only allowed in the last path component", spec);
      return NULL;
    }
    GError *local = NULL;
    g_autoptr (GDir) d = g_dir_open (dir, 0, &local);
    if (d == NULL) {
      g_set_error (error, AR_ERROR, AR_ERROR_IO, "%s: %s", spec,
          local->message);
      g_error_free (local);
      return NULL;
    }
    g_autoptr (GPatternSpec) pat = g_pattern_spec_new (base);
    const char *name;
    while ((name = g_dir_read_name (d)) != NULL) {
      /* As in the shell, a wildcard does not match a leading dot. */
      if ((name[0] == '.' && base[0] != '.') ||
          !g_pattern_spec_match_string (pat, name))
        continue;
      char *path = g_build_filename (dir, name, NULL);
      if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
        g_ptr_array_add (out, path);
      else
        g_free (path);
    }
  } else if (g_file_test (spec, G_FILE_TEST_IS_DIR)) {
    if (!list_dir (spec, out, error))
      return NULL;
  } else if (g_file_test (spec, G_FILE_TEST_IS_REGULAR)) {
    g_ptr_array_add (out, g_strdup (spec));
  } else {
    g_set_error (error, AR_ERROR, AR_ERROR_IO, "%s: no such file or directory",
        spec);
    return NULL;
  }
  if (out->len == 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_IO, "%s: no audio files found",
        spec);
    return NULL;
  }
  g_ptr_array_sort (out, compare_paths);
  return g_steal_pointer (&out);
}

void
ar_audio_split_holdout (GPtrArray *files, guint every, GPtrArray **train,
    GPtrArray **held)
{
  g_return_if_fail (files != NULL && train != NULL && held != NULL);

  *train = g_ptr_array_new_with_free_func (g_free);
  *held = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < files->len; i++) {
    gboolean out = every > 0 && i % every == 0;
    g_ptr_array_add (out ? *held : *train,
        g_strdup (g_ptr_array_index (files, i)));
  }
}

/* ---- the model's µ-law -------------------------------------------------- */

#define MU 255.0

guint8
ar_mulaw_encode (float x)
{
  /* NaN counts as silence; the clip keeps the class index in range. */
  double v = isnan (x) ? 0.0 : CLAMP ((double) x, -1.0, 1.0);
  double y = copysign (log1p (MU * fabs (v)) / log1p (MU), v);
  /* y in [-1, 1] to 256 equal cells of width 1/128; y = 1 would be cell 256. */
  int q = (int) floor ((y + 1.0) * 128.0);
  return (guint8) CLAMP (q, 0, 255);
}

float
ar_mulaw_decode (guint8 q)
{
  double y = (q + 0.5) / 128.0 - 1.0;
  /* The inverse of the companding: |x| = ((1 + µ)^|y| - 1) / µ. */
  return (float) copysign (expm1 (fabs (y) * log1p (MU)) / MU, y);
}

/* ---- pre-emphasis ------------------------------------------------------ */

void
ar_audio_pre_emphasize (float *x, gsize n, float alpha)
{
  float prev = 0.0f;

  g_return_if_fail (x != NULL || n == 0);
  for (gsize i = 0; i < n; i++) {
    float s = x[i];

    x[i] = s - alpha * prev;
    prev = s;
  }
}

void
ar_audio_de_emphasize (float *x, gsize n, float alpha, float *prev)
{
  float s = prev ? *prev : 0.0f;

  g_return_if_fail (x != NULL || n == 0);
  for (gsize i = 0; i < n; i++)
    s = x[i] = x[i] + alpha * s;
  if (prev)
    *prev = s;
}

/* ---- high-pass ----------------------------------------------------------- */

void
ar_highpass_init (ArHighpass *f, double cutoff, double rate)
{
  g_return_if_fail (f != NULL);
  g_return_if_fail (rate > 0 && cutoff > 0 && cutoff < rate / 2);

  /* s = (1 − z⁻¹) / (K (1 + z⁻¹)) maps the analog cutoff 1 to cutoff Hz;
   * s² / (s² + √2 s + 1) then becomes (1 − z⁻¹)² / D (z) with
   * D = (1 + √2 K + K²) − 2 (1 − K²) z⁻¹ + (1 − √2 K + K²) z⁻². */
  double K = tan (G_PI * cutoff / rate);
  double n = 1.0 / (1.0 + G_SQRT2 * K + K * K);

  f->b0 = n;
  f->b1 = -2.0 * n;
  f->b2 = n;
  f->a1 = 2.0 * (K * K - 1.0) * n;
  f->a2 = (1.0 - G_SQRT2 * K + K * K) * n;
  ar_highpass_reset (f);
}

void
ar_highpass_reset (ArHighpass *f)
{
  g_return_if_fail (f != NULL);
  f->x1 = f->x2 = f->y1 = f->y2 = 0.0;
}

void
ar_highpass_run (ArHighpass *f, float *x, gsize n)
{
  g_return_if_fail (f != NULL);
  g_return_if_fail (x != NULL || n == 0);

  double x1 = f->x1, x2 = f->x2, y1 = f->y1, y2 = f->y2;
  for (gsize i = 0; i < n; i++) {
    double in = x[i];
    double y = f->b0 * in + f->b1 * x1 + f->b2 * x2 - f->a1 * y1 - f->a2 * y2;

    x2 = x1;
    x1 = in;
    y2 = y1;
    y1 = y;
    x[i] = (float) y;
  }
  f->x1 = x1;
  f->x2 = x2;
  f->y1 = y1;
  f->y2 = y2;
}

/* ---- ITU-T G.711 µ-law -------------------------------------------------- */

/* G.711 works on 14-bit magnitudes; on 16-bit samples that is a bias of
 * 33 · 4 = 132 added before finding the segment (so segment boundaries fall
 * at powers of two), and a clip at 32767 - 132 so the biased value stays
 * within 15 bits. */
#define G711_BIAS 0x84
#define G711_CLIP 32635

guint8
ar_g711_ulaw_encode (gint16 x)
{
  int v = x, sign = 0;
  if (v < 0) {
    sign = 0x80;
    v = -v; /* an int, so -32768 is fine */
  }
  if (v > G711_CLIP)
    v = G711_CLIP;
  v += G711_BIAS;
  /* The segment is the position of the leading one above bit 7 (v >= 128
   * after the bias): segment s covers biased values [2^(s+7), 2^(s+8)). */
  int seg = 0;
  for (int t = v >> 8; t != 0; t >>= 1)
    seg++;
  /* Four mantissa bits just below the leading one. */
  int mant = (v >> (seg + 3)) & 0x0F;
  /* Bit-inverted on the line (so silence is all ones). */
  return (guint8) ~(sign | (seg << 4) | mant);
}

gint16
ar_g711_ulaw_decode (guint8 b)
{
  int u = (guint8) ~b;
  int seg = (u >> 4) & 0x07, mant = u & 0x0F;
  /* The middle of the cell: the leading one, the mantissa, half a step
   * (the bias's low bits), then the bias removed. */
  int v = (((mant << 3) + G711_BIAS) << seg) - G711_BIAS;
  return (gint16) ((u & 0x80) ? -v : v);
}
