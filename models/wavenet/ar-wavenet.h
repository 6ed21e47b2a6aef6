/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-wavenet.h — the WaveNet audio family (van den Oord et al. 2016): sample
 * by sample generation of 8-bit µ-law audio, unconditional, with a global
 * condition (a speaker or class), or conditioned on log-mel frames (a neural
 * vocoder).
 *
 *   g_autoptr (ArGguf) f = ar_gguf_new_from_file ("speech.gguf", &error);
 *   g_autoptr (ArWaveNet) wn = ar_wavenet_new_from_gguf (f, &error);
 *   g_autoptr (ArWaveNetGen) g = ar_wavenet_gen_new (wn);
 *   ar_wavenet_gen_reset (g, seed);
 *   ar_wavenet_gen_generate (g, classes, n);      // n µ-law classes
 *
 * Network (R residual channels, G gate channels — the dilated convolution's
 * outputs, split into a tanh half and a sigmoid half of G/2 each —, S skip
 * channels, O output hidden channels, Q = 256 classes, K = 2 taps, layers
 * l = 0 … stacks·layers_per_stack − 1 with dilation d_l = 2^(l mod
 * layers_per_stack)).  x_t ∈ {0 … Q−1} is the µ-law class of sample t
 * (ar_mulaw_encode); the network at time t sees x_0 … x_t and outputs the
 * distribution of x_{t+1}:
 *
 *   h⁰_t = input.weight[x_{t−1}][0] + input.weight[x_t][1] + input.bias
 *            (causal input convolution over one-hot inputs, x_{−1} = Q/2)
 *   per layer l:
 *     z_t = W_l · [h_{t−d}; h_t] + b_l + c_l(t) + g_l[class]     (G)
 *            (h_{t−d} = 0 for t < d: the convolution is zero-padded)
 *     u_t = tanh (z_t[0 … G/2−1]) ⊙ σ (z_t[G/2 … G−1])             (G/2)
 *     skip += Ws_l · u_t + bs_l                                    (S)
 *     h_{t} ← h_t + Wr_l · u_t + br_l                              (R)
 *   logits_t = Wo2 · relu (Wo1 · relu (skip) + bo1) + bo2             (Q)
 *
 * Mel conditioning (vocoder): frames f (n_mels each, ar-mel.h framing: frame
 * f centred on sample f·hop) go through a non-causal convolution over frames,
 *   e_f = tanh (Wc · [m_{f−1}; m_f; m_{f+1}] + bc)                 (Cc)
 * (m outside the signal = the log floor, i.e. silence), each layer projects
 * e_f to p_{l,f} = Wcl_l · e_f (G), and c_l(t) interpolates linearly between
 * the two frames around sample t+1 — the sample being predicted:
 *   c_l(t) = (1 − a) p_{l,f} + a p_{l,f+1},  f = (t+1) / hop,  a = ((t+1) mod hop) / hop.
 * Global conditioning: g_l[class] = column `class` of global.L.weight.
 *
 * Pre-emphasis (LPCNet, Valin & Skoglund 2019): with α = pre_emphasis > 0
 * the classes code the emphasised signal e_t = s_t − α s_{t−1} (s_{−1} = 0,
 * ar_audio_pre_emphasize), and the audio out is its de-emphasis
 *   s_t = ar_mulaw_decode (x_t) + α s_{t−1}
 * (ar_wavenet_gen_decode, whose one float of state belongs to the stream).
 * The white noise of the 8-bit coding and of the sampling is then shaped
 * like speech's spectral tilt, loud where the speech is loud.  Mel frames
 * are always those of the un-emphasised s.
 *
 * Output high-pass: with fc = highpass > 0 Hz the decoded audio goes
 * through a second-order Butterworth high-pass at fc (ArHighpass), the
 * band of the training data (the asterisk prompts have nothing below about
 * 120 Hz).  The network models the data as they are; an autoregressive
 * model cannot produce their spectral zero, so its output kept a rumble
 * below the band, 20-45 dB above the data's (de-emphasis lifts the lowest
 * frequencies most), which the filter removes.
 *
 * Model file, general.architecture = "wavenet":
 *   wavenet.sample_rate            u32   Hz
 *   wavenet.quantization           u32   Q (256)
 *   wavenet.residual_channels      u32   R
 *   wavenet.gate_channels          u32   G (even)
 *   wavenet.skip_channels          u32   S
 *   wavenet.output_channels        u32   O
 *   wavenet.stacks                 u32
 *   wavenet.layers_per_stack       u32
 *   wavenet.global.classes         u32   0 = no global condition; absent = 0
 *   wavenet.global.names           [string] class names (optional; else "0", "1", …):
 *                                        distinct, non-empty UTF-8
 *   wavenet.cond_channels          u32   Cc; 0 = no mel conditioning; absent = 0
 *   wavenet.mel.*                  the ArMelParams (ar_mel_params_write), when Cc > 0:
 *                                        sample_rate (= wavenet.sample_rate), n_fft,
 *                                        win_length, hop, n_mels (u32), f_min, f_max,
 *                                        power, log_floor (f32); see ar-mel.h
 *   wavenet.pre_emphasis           f32   α in [0, 0.99]; absent = 0 (see below)
 *   wavenet.highpass               f32   fc in Hz, 0 or in (0, sample_rate / 2);
 *                                        absent = 0 = none (see above)
 * Tensors (ne innermost first, as GGUF writes them; a matrix { cols, rows }
 * is row-major rows × cols; F32 or F16):
 *   input.weight        { R, Q, 2 }       [tap][class][channel]
 *   input.bias          { R }
 *   layer.L.conv.weight { 2R, G }         row j = [tap 0 (h_{t−d}) R | tap 1 (h_t) R]
 *   layer.L.conv.bias   { G }
 *   layer.L.skip.weight { G/2, S }        layer.L.skip.bias { S }
 *   layer.L.res.weight  { G/2, R }        layer.L.res.bias  { R }   (every layer but the last)
 *   layer.L.cond.weight { Cc, G }         when Cc > 0
 *   layer.L.global.weight { classes, G }  when classes > 0
 *   cond.weight         { 3·n_mels, Cc }  cond.bias { Cc }  when Cc > 0
 *                        columns [frame f−1 | f | f+1]
 *   out1.weight { S, O }  out1.bias { O }  out2.weight { O, Q }  out2.bias { Q }
 * A tensor of these names that the keys leave out (a layer past the last,
 * the last layer's res.*, cond.* without Cc, global.* without classes) is
 * an error: the keys disagree with the network.  Other tensors (a
 * checkpoint's opt.*) are not the model's and are ignored.
 *
 * An ArWaveNet is immutable once made and may be shared by any number of
 * generators in any threads.  Errors are GErrors in the AR_ERROR domain naming
 * the key or tensor and what was expected. */
#pragma once

#include <glib.h>
#include "core/ar-gguf.h"
#include "core/ar-threadpool.h"
#include "data/ar-mel.h"

G_BEGIN_DECLS

typedef struct
{
  int sample_rate;
  int quantization; /* Q */
  int residual;     /* R */
  int gate;         /* G */
  int skip;         /* S */
  int output;       /* O */
  int stacks;
  int layers_per_stack;
  int global_classes; /* 0 = none */
  int cond_channels;  /* Cc; 0 = not a vocoder */
  ArMelParams mel;    /* meaningful when cond_channels > 0 */
  /* α of the pre-emphasis e_t = s_t − α s_{t−1} the classes code (0 = none,
   * at most AR_WAVENET_MAX_PRE_EMPHASIS) */
  float pre_emphasis;
  /* the output high-pass's cutoff in Hz (0 = none, else under
   * sample_rate / 2) */
  float highpass;
} ArWaveNetConfig;

#define AR_WAVENET_MAX_PRE_EMPHASIS 0.99f

/* Checks every range a model file must satisfy — what
 * ar_wavenet_new_from_gguf () and ar_wavenet_new_random () refuse: Q 256,
 * the sample rate 1000 … 96000 Hz, 1 … 1024 channels of each kind, 1 … 8
 * stacks of 1 … 16 layers, 0 … 1024 global classes, the decode (below) and
 * a vocoder's mel parameters (ar_mel_new ()'s ranges, at the model's rate)
 * —, for the trainer, so that what it trains can be loaded; errors in the
 * AR_ERROR domain with @code, prefixed by @what. */
gboolean ar_wavenet_config_check (const ArWaveNetConfig *c, const char *what,
    int code, GError **error);
/* Checks what @c says of the decode — the pre-emphasis α (0 …
 * AR_WAVENET_MAX_PRE_EMPHASIS) and the output high-pass (0, or under half
 * of c->sample_rate) —, for the model loader and the trainer; errors in the
 * AR_ERROR domain with @code, prefixed by @what. */
gboolean ar_wavenet_config_check_decode (const ArWaveNetConfig *c, const char *what,
    int code, GError **error);
/* Writes @c as the model file's keys (general.architecture and wavenet.*,
 * above; wavenet.global.names from @class_names when it is not NULL), for
 * ar_wavenet_write and the trainer. */
void ar_wavenet_config_write (const ArWaveNetConfig *c, const char *const *class_names,
    ArGgufWriter *w);

/* The reference shape of the benchmarks: 2 stacks × 10 layers, R 64, G 128,
 * S 128, O 128, 16 kHz (about 0.62 M multiply-adds per sample). */
#define AR_WAVENET_CONFIG_REFERENCE                                            \
  {                                                                            \
    16000, 256, 64, 128, 128, 128, 2, 10, 0, 0, AR_MEL_PARAMS_INIT, 0.0f       \
  }

typedef struct _ArWaveNet ArWaveNet;

ArWaveNet *ar_wavenet_new_from_gguf (ArGguf *gguf, GError **error);
/* Random weights (N (0, 1/fan_in)), for tests and benchmarks; NULL + error
 * (AR_ERROR_INVALID, as ar_wavenet_config_check ()) when @config is out of
 * range.  The loader's errors are AR_ERROR_MODEL (AR_ERROR_UNSUPPORTED for
 * another architecture). */
ArWaveNet *ar_wavenet_new_random (const ArWaveNetConfig *config, guint64 seed,
    GError **error);
ArWaveNet *ar_wavenet_ref (ArWaveNet *wn);
void ar_wavenet_unref (ArWaveNet *wn);
const ArWaveNetConfig *ar_wavenet_get_config (const ArWaveNet *wn);
/* Class name @i (0 <= i < global_classes); index of @name or -1. */
const char *ar_wavenet_get_class_name (const ArWaveNet *wn, int i);
int ar_wavenet_find_class (const ArWaveNet *wn, const char *name);
/* Samples of history one output depends on: 1 + stacks · (2^layers_per_stack − 1) + 1. */
gsize ar_wavenet_receptive_field (const ArWaveNet *wn);
/* Multiply-adds per generated sample (the matrix products). */
guint64 ar_wavenet_macs_per_sample (const ArWaveNet *wn);
/* Writes the keys and tensors (F32, or F16 matrices when @f16). */
void ar_wavenet_write (const ArWaveNet *wn, ArGgufWriter *w, gboolean f16);
/* A copy whose matrices are rounded to F16 (what generation with F16 weights
 * computes), for tolerance tests and benchmarks. */
ArWaveNet *ar_wavenet_to_f16 (const ArWaveNet *wn);

/* The obviously-correct full causal forward (the oracle of the fast paths
 * and of training): @x (n) classes, @mel (n_mel_frames, n_mels) or NULL,
 * @global_class or -1 → @logits (n, Q), row t the distribution of x_{t+1}.
 * For a vocoder n_mel_frames >= ar_mel_n_frames (n + 1) (the frames of the
 * n + 1 samples x_0 … x_n).  Row t reads frames (t+1)/hop and (t+1)/hop + 1;
 * the second can lie one past ar_mel_n_frames (n + 1) when (n + 1) is not a
 * multiple of hop: pass n/hop + 2 frames (or more) to have it, otherwise
 * the last frame given stands in for it.  The cond conv sees frames outside
 * the n_mel_frames given at the log floor, so pass n/hop + 3 frames to get
 * exactly what a stream over a longer signal computes. */
void ar_wavenet_forward_full (const ArWaveNet *wn, const guint8 *x, gsize n,
    const float *mel, gsize n_mel_frames, int global_class, float *logits);

/* ---- generation ---------------------------------------------------------- */

/* Incremental generator: per-layer queues of past activations (Fast WaveNet,
 * Paine et al. 2016), O(layers) work per sample, no allocation per sample.
 *
 * After a reset the history is empty.  Generation then starts from one
 * silence sample: the first sample generated is x_1 of a sequence whose x_0
 * is Q/2 (so greedy output = argmax of ar_wavenet_forward_full over
 * [Q/2, out_0, out_1, …]).  ar_wavenet_gen_feed instead starts the sequence
 * with its own x_0 (its logits equal forward_full over x).  The two mix
 * freely: generated samples count as history for a later feed, fed ones for
 * a later generate.  A model whose matrices are F16 (file or
 * ar_wavenet_to_f16) generates with F16 weights. */
typedef struct _ArWaveNetGen ArWaveNetGen;

ArWaveNetGen *ar_wavenet_gen_new (ArWaveNet *wn);
void ar_wavenet_gen_free (ArWaveNetGen *g);
/* Empties the queues (silence history) and reseeds the sampler. */
void ar_wavenet_gen_reset (ArWaveNetGen *g, guint64 seed);
/* 0 = greedy (argmax), 1 = the model's distribution (the start); a finite
 * value >= 0 — anything else is a programmer error (a critical, the
 * temperature kept). */
void ar_wavenet_gen_set_temperature (ArWaveNetGen *g, float temperature);
/* -1 = none (the start); FALSE + error (AR_ERROR_INVALID, the class kept)
 * when out of range.  Kept across resets. */
gboolean ar_wavenet_gen_set_global_class (ArWaveNetGen *g, int cls,
    GError **error);
/* The most threads generation uses: one runs each layer's dependent part,
 * the other the rest. */
#define AR_WAVENET_GEN_MAX_THREADS 2

/* Shares each step's work between two of the pool's threads (NULL: one)
 * for calls of 64 samples or more, while that is measurably faster than one
 * thread (on a busy machine it often is not: the generator times both and
 * falls back); the samples are bit for bit those of one thread.  The pool
 * is not owned and must outlive its use here. */
void ar_wavenet_gen_set_threadpool (ArWaveNetGen *g, ArThreadPool *pool);
/* Generates @n samples as µ-law classes into @out.  Unconditional and
 * globally conditioned models only (a vocoder needs ArWaveNetVocoder). */
void ar_wavenet_gen_generate (ArWaveNetGen *g, guint8 *out, gsize n);
/* Turns @n generated classes into audio @out (n), the one place where that
 * is done (wavenetsrc, the vocoder, argen generate): ar_mulaw_decode; for a
 * model with a pre-emphasis α the de-emphasis s_t = ar_mulaw_decode (x_t) +
 * α s_{t−1}; for a model with an output high-pass that filter; clipped to
 * [-1, 1] on the way out.  Its state (s_{t−1} and the filter's; cleared by
 * ar_wavenet_gen_reset) belongs to the stream: decode every class
 * generated, in order, once.  Without either it is stateless and equal to
 * ar_mulaw_decode (ar_wavenet_decode_is_stateless). */
void ar_wavenet_gen_decode (ArWaveNetGen *g, const guint8 *classes, float *out,
    gsize n);
/* TRUE when @wn's decode is ar_mulaw_decode, class by class (no
 * pre-emphasis, no output high-pass): a lookup table may stand in for it. */
gboolean ar_wavenet_decode_is_stateless (const ArWaveNet *wn);
/* Teacher forcing through the incremental path: feeds @x (n) as if it had
 * been generated and writes the logits (n, Q) — what the tests compare with
 * ar_wavenet_forward_full.  Unconditional and globally conditioned models
 * only, as ar_wavenet_gen_generate (). */
void ar_wavenet_gen_feed (ArWaveNetGen *g, const guint8 *x, gsize n,
    float *logits);

/* ---- vocoder stream ------------------------------------------------------ */

/* Audio in (mono floats at the model's rate, full scale ±1, analysed as
 * they are: a NaN makes every frame it falls in read as silence, the log
 * floor), log-mel analysis, mel-conditioned generation, audio out: output
 * sample i is the resynthesis of input sample i.  Output lags input by
 * ar_wavenet_vocoder_latency () samples until drained.
 *
 * Precisely: the input s is analysed into mel frames as ar_mel_compute
 * would (frame f centred on s_{f·hop}); the output is
 * ar_wavenet_gen_decode of y_0, y_1, … (ar_mulaw_decode (y_i) without
 * pre-emphasis), where y_0 = Q/2 (the silence the history starts
 * from) and y_i (i >= 1) is drawn from row i − 1 of
 * ar_wavenet_forward_full (y, …) over the mel frames of s — the alignment
 * of training.  Output i needs the input up to s_{i + latency}, latency =
 * 2·hop + n_fft/2 − 1 (n_fft/2 of look-ahead for the frame, one hop for the
 * interpolation to the next frame, one for the cond conv's frame f + 1):
 * after n samples pushed, max (0, n − latency) outputs have been available.
 * Drain ends the input: the signal continues as silence (zeros), which
 * makes every pushed sample's output available; push after drain needs a
 * reset.  Memory stays bounded for endless streams as long as the caller
 * pulls what is available. */
typedef struct _ArWaveNetVocoder ArWaveNetVocoder;

/* NULL + error when @wn has no mel conditioning. */
ArWaveNetVocoder *ar_wavenet_vocoder_new (ArWaveNet *wn, GError **error);
void ar_wavenet_vocoder_free (ArWaveNetVocoder *v);
/* Empties the stream (input, frames, output history) and reseeds the
 * sampler: the next push starts a new signal. */
void ar_wavenet_vocoder_reset (ArWaveNetVocoder *v, guint64 seed);
/* As ar_wavenet_gen_set_temperature (). */
void ar_wavenet_vocoder_set_temperature (ArWaveNetVocoder *v,
    float temperature);
/* The global class of a model that has them (ar_wavenet_gen_set_global_class
 * ()): -1 = none — the start, and a condition a model trained with classes
 * never saw —; FALSE + error (AR_ERROR_INVALID) when out of range.  Kept
 * across resets; the outputs pulled after the call are generated with it. */
gboolean ar_wavenet_vocoder_set_global_class (ArWaveNetVocoder *v, int cls,
    GError **error);
void ar_wavenet_vocoder_set_threadpool (ArWaveNetVocoder *v,
    ArThreadPool *pool);
gsize ar_wavenet_vocoder_latency (const ArWaveNetVocoder *v);
void ar_wavenet_vocoder_push (ArWaveNetVocoder *v, const float *in, gsize n);
/* After the end of the input: pads with silence so every pushed sample can
 * be resynthesised (available () then counts every remaining output). */
void ar_wavenet_vocoder_drain (ArWaveNetVocoder *v);
/* Samples ready to pull. */
gsize ar_wavenet_vocoder_available (const ArWaveNetVocoder *v);
/* Generates and returns up to @max samples (floats in [-1, 1]). */
gsize ar_wavenet_vocoder_pull (ArWaveNetVocoder *v, float *out, gsize max);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArWaveNet, ar_wavenet_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArWaveNetGen, ar_wavenet_gen_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArWaveNetVocoder, ar_wavenet_vocoder_free)

G_END_DECLS
