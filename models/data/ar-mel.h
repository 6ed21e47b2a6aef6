/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-mel.h — log-mel spectrogram front end (FFTW, single precision), and the
 * spectral tools built on the same short-time Fourier transform: magnitude
 * spectrograms, Griffin-Lim reconstruction from mel frames (the classic
 * non-neural baseline of a vocoder), and log-spectral distance.
 *
 * Framing: frame t is centred on sample t * hop.  It covers the n_fft samples
 * starting at t * hop - n_fft / 2; samples outside the signal are zero.  The
 * analysis window is a periodic Hann window of win_length samples, centred in
 * the n_fft frame (zero elsewhere).  A signal of n samples has
 * n / hop + 1 frames (integer division), so every sample lies between two
 * frame centres.  Frame t needs the samples up to t * hop + n_fft / 2 - 1:
 * a streaming analyser has n_fft / 2 samples of look-ahead.
 *
 * Mel frame = log (max (floor, M · |rfft (window · frame)|^power)) with M
 * the Slaney-style filterbank (librosa's default, htk = false, norm =
 * "slaney": triangles on the Slaney mel scale, linear below 1 kHz and
 * logarithmic above, each scaled by 2 / (upper - lower edge in Hz)), n_mels
 * bands from f_min to f_max; natural logarithm.  A triangle with no FFT bin
 * strictly inside it (too many mels for n_fft: at 8 kHz, 512 mels on 257
 * bins leave 114 empty, 1024 leave 522) has no weight, and its band always
 * reads as the log floor.
 * A NaN sample makes every band of its frames the log floor too.
 *
 * An ArMel is immutable after ar_mel_new () and may be used from any number
 * of threads at once: FFTW plans are made once (under a process-wide lock,
 * since FFTW's planner is not thread-safe) and executed with the new-array
 * functions on the caller's scratch buffers. */
#pragma once

#include <glib.h>
#include "core/ar-gguf.h"

G_BEGIN_DECLS

typedef struct
{
  int sample_rate;              /* Hz */
  int n_fft;                    /* FFT size, even */
  int win_length;               /* Hann window length, <= n_fft */
  int hop;                      /* samples between frame centres */
  int n_mels;                   /* mel bands */
  float f_min, f_max;           /* Hz; f_max <= sample_rate / 2 */
  float power;                  /* 1 = magnitude, 2 = power */
  float log_floor;              /* smallest value before the logarithm */
} ArMelParams;

/* 8 kHz speech: 80 Slaney mels, n_fft 512, window 400, hop 80 (10 ms). */
#define AR_MEL_PARAMS_INIT { 8000, 512, 400, 80, 80, 0.0f, 4000.0f, 1.0f, 1e-5f }

typedef struct _ArMel ArMel;

/* Checks @params (ranges named in the error) and plans the transforms. */
ArMel *ar_mel_new (const ArMelParams *params, GError **error);
void ar_mel_free (ArMel *mel);
const ArMelParams *ar_mel_get_params (const ArMel *mel);

/* n / hop + 1 */
gsize ar_mel_n_frames (const ArMel *mel, gsize n_samples);
/* Floats of scratch space the per-frame functions need. */
gsize ar_mel_scratch_size (const ArMel *mel);

/* One frame from the n_fft samples @frame (already positioned: frame[0] is
 * sample t * hop - n_fft / 2, zero-padded by the caller at the edges):
 * @mel_out (n_mels) log-mel values.  @scratch: ar_mel_scratch_size () floats. */
void ar_mel_frame (const ArMel *mel, const float *frame, float *mel_out, float *scratch);

/* Every frame of a whole signal: @out (n_frames, n_mels), row-major. */
void ar_mel_compute (const ArMel *mel, const float *x, gsize n_samples, float *out);

/* Magnitude spectrogram |STFT| of a whole signal, same framing and window:
 * @out (n_frames, n_fft / 2 + 1). */
void ar_mel_stft_magnitude (const ArMel *mel, const float *x, gsize n_samples, float *out);

/* Griffin-Lim: a signal of @n_samples whose log-mel frames approximate
 * @mel_frames (n_frames = ar_mel_n_frames (n_samples), n_mels): the linear
 * magnitudes are recovered from the mels by non-negative least squares
 * (projected gradient on the filterbank, from zero), then @iterations
 * rounds of Griffin-Lim phase estimation — the fast variant, momentum 0.99
 * (Perraudin et al. 2013) — with the inverse STFT by weighted overlap-add,
 * starting from phases drawn from @seed (0 iterations: the random-phase
 * start itself).  32 to 100 iterations are typical.  @out (n_samples). */
void ar_mel_griffin_lim (const ArMel *mel, const float *mel_frames, gsize n_samples,
    int iterations, guint64 seed, float *out);

/* Log-spectral distance in dB between two aligned signals of @n_samples
 * each (a caller with signals of two lengths passes the shorter): the mean
 * over frames of
 *   sqrt (mean over bins of (20 log10 (max (|A|, eps) / max (|B|, eps)))^2),
 * eps = 1e-5, over the frames whose reference (@a) energy is within 60 dB of
 * the loudest frame (silence would otherwise dominate). */
double ar_mel_log_spectral_distance (const ArMel *mel, const float *a, const float *b,
    gsize n_samples);
/* The same distance over the bins of one band, @f_lo <= f < @f_hi Hz (the
 * Nyquist bin included when @f_hi reaches it; the frames are chosen by
 * their whole-band energy as above), and in *@level (when not NULL) the
 * mean over those frames and bins of 20 log10 (|B| / |A|): how much louder
 * @b is in the band (negative: quieter).  A vocoder's error split by band:
 * `argen audio-compare --bands`.  0 for a band without bins. */
double ar_mel_log_spectral_distance_band (const ArMel *mel, const float *a,
    const float *b, gsize n_samples, double f_lo, double f_hi, double *level);
/* The same for @n_bands bands at once, band i from @edges[i] to
 * @edges[i + 1] (increasing), into @distance[i] and @level[i] (@level may be
 * NULL): one analysis of the two signals for all of them. */
void ar_mel_log_spectral_distance_bands (const ArMel *mel, const float *a,
    const float *b, gsize n_samples, const double *edges, guint n_bands,
    double *distance, double *level);

/* The same distance split by how loud the reference is: class i holds the
 * frames whose @a energy is @below[i] to @below[i + 1] dB under the
 * loudest frame's (the last class includes its upper edge), of the frames
 * the whole distance counts (within 60 dB); into @distance[i] their mean
 * distance (0 for a class without frames) and into @share[i] (when not
 * NULL) the fraction of those frames in it: where in the dynamics a
 * resynthesis or a coding goes wrong (`argen audio-compare --levels`). */
void ar_mel_log_spectral_distance_levels (const ArMel *mel, const float *a,
    const float *b, gsize n_samples, const double *below, guint n_levels,
    double *distance, double *share);

/* Model-file keys PREFIX.sample_rate, PREFIX.n_fft, PREFIX.win_length,
 * PREFIX.hop, PREFIX.n_mels (u32), PREFIX.f_min, PREFIX.f_max, PREFIX.power,
 * PREFIX.log_floor (f32) — e.g. PREFIX "wavenet.mel". */
void ar_mel_params_write (const ArMelParams *params, ArGgufWriter *w, const char *prefix);
gboolean ar_mel_params_read (ArMelParams *params, const ArGguf *f, const char *prefix,
    GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArMel, ar_mel_free)

G_END_DECLS
