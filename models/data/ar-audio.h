/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-audio.h — audio files and sample coding for the WaveNet family.
 *
 * Reading goes through libsndfile (WAV, FLAC, OGG/Vorbis, AIFF, … — whatever
 * the installed libsndfile reads), mixes every channel down to mono (the mean
 * of the channels) and resamples to the rate the caller asks for with
 * libsamplerate (SRC_SINC_MEDIUM_QUALITY).  Samples are floats in [-1, 1]:
 * a float file's values beyond full scale are clipped before the mix-down,
 * as is the resampler's ringing after it, and a NaN or infinite sample is
 * an error.
 *
 * Two µ-law codings exist and must not be confused:
 *   - the model's: WaveNet's continuous companding with µ = 255,
 *       y = sign (x) ln (1 + µ|x|) / ln (1 + µ),
 *     quantised uniformly to 256 classes, class q ↔ y = (q + 0.5) / 128 - 1
 *     (class 0 is the most negative value, 255 the most positive);
 *   - ITU-T G.711 µ-law bytes, what `audio/x-mulaw` caps mean in GStreamer
 *     (mulawenc / mulawdec): a piecewise-linear 8-segment approximation of the
 *     same curve over 14-bit samples, stored bit-inverted.
 * ar_mulaw_* is the model's coding; ar_g711_ulaw_* is G.711. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Reads the whole of @path as mono floats at @rate Hz (rate > 0).  *@samples
 * is g_malloc'd (g_free it), *@n_samples its length: the file's frames ×
 * @rate / its rate rounded down, resampled sometimes one less
 * (libsamplerate's end: 44100 frames at 44.1 kHz give 7999 at 8 kHz); 0 for
 * an empty file, or one too short to make a sample.  Errors (AR_ERROR): the
 * file is missing or unreadable, libsndfile cannot decode it (its message
 * is included), a sample is NaN or infinite (a floating-point file;
 * AR_ERROR_FORMAT, naming the file, frame and channel), resampling fails or
 * cannot reach @rate (libsamplerate's ratios are 1/256 … 256). */
gboolean ar_audio_read (const char *path, int rate, float **samples, gsize *n_samples,
    GError **error);

/* Writes mono 16-bit PCM WAV (values clipped to [-1, 1], NaN written as
 * 0), atomically (a temporary file renamed into place).  Errors (AR_ERROR):
 * @rate is not positive (AR_ERROR_INVALID), the file cannot be written
 * (AR_ERROR_IO). */
gboolean ar_audio_write_wav (const char *path, const float *samples, gsize n_samples, int rate,
    GError **error);

/* The audio files named by @spec: a directory (every regular file under it,
 * recursively — the asterisk prompts keep letters, digits, … in subfolders —
 * whose extension, in any case, libsndfile knows: wav, flac, ogg, oga, aiff,
 * aif, au, snd, caf, w64; names starting with '.' are skipped and symbolic
 * links to directories are not followed), a glob pattern (`*`, `?` in the
 * last path component; every regular file that matches, whatever its
 * extension, names starting with '.' only when the pattern does), or one file.  Sorted by path (strcmp), so held-out splits are
 * reproducible.  Returns a GPtrArray of g_malloc'd paths (free func set);
 * an error when nothing matches. */
GPtrArray *ar_audio_list_files (const char *spec, GError **error);

/* The held-out split every trainer and baseline uses: file i of @files (the
 * sorted list of ar_audio_list_files) is held out when i % @every == 0
 * (every = 20: files 0, 20, 40, … — 5 %); the others train.  (The issue's
 * orientation figures, unigram 7.52 and LPC-16 6.30 bits/sample on the
 * asterisk prompts, are for this split; the offset matters: holding out
 * files 19, 39, … instead gives 7.43 and 6.33.)
 * @every = 0 holds nothing out.  *@train and *@held are new arrays of copied
 * paths (free func set), in the order of @files. */
void ar_audio_split_holdout (GPtrArray *files, guint every, GPtrArray **train,
    GPtrArray **held);

/* Model µ-law, µ = 255, 256 classes (see above).  encode clips x to [-1, 1]. */
guint8 ar_mulaw_encode (float x);
float ar_mulaw_decode (guint8 q);

/* Pre-emphasis in place: x_t ← x_t − @alpha x_{t−1} (the original x_{t−1},
 * x_{−1} = 0), a first-order high-pass that flattens speech's spectral tilt
 * before a coding whose noise is white.  @alpha = 0 leaves @x unchanged. */
void ar_audio_pre_emphasize (float *x, gsize n, float alpha);
/* Its inverse in place: x_t ← x_t + @alpha x_{t−1} (the de-emphasised
 * x_{t−1}).  @prev holds x_{−1} on entry and the last output on return, so a
 * stream can be de-emphasised piece by piece; NULL: x_{−1} = 0. */
void ar_audio_de_emphasize (float *x, gsize n, float alpha, float *prev);

/* A second-order Butterworth high-pass filter (the analog prototype
 * 1 / (1 + √2 s + s²) taken through the bilinear transform with the cutoff
 * prewarped), run in direct form I with double precision state:
 *   |H (f)|² = 1 / (1 + (tan (π fc / rate) / tan (π f / rate))⁴),
 * −3 dB at fc, −12 dB per octave below it, 0 dB at rate / 2.  The WaveNet
 * decode uses it to give a model's output the band of its training data: an
 * autoregressive model cannot make a spectral zero, so the audio it
 * generates keeps a rumble below the band its (high-passed) data had. */
typedef struct
{
  double b0, b1, b2, a1, a2; /* y_t = b0 x_t + b1 x_{t−1} + b2 x_{t−2} − a1 y_{t−1} − a2 y_{t−2} */
  double x1, x2, y1, y2;     /* the state: the last two inputs and outputs */
} ArHighpass;

/* Sets @f's coefficients for @cutoff Hz at @rate Hz, 0 < @cutoff < @rate / 2,
 * and clears its state. */
void ar_highpass_init (ArHighpass *f, double cutoff, double rate);
/* Clears the state (the signal before it was silence). */
void ar_highpass_reset (ArHighpass *f);
/* Filters @x in place, continuing from the state and leaving it after the
 * last sample: a stream can be filtered piece by piece. */
void ar_highpass_run (ArHighpass *f, float *x, gsize n);

/* G.711 µ-law byte <-> 16-bit linear sample. */
guint8 ar_g711_ulaw_encode (gint16 x);
gint16 ar_g711_ulaw_decode (guint8 b);

G_END_DECLS
