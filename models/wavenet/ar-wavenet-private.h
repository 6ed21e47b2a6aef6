/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-wavenet-private.h — the kernels of WaveNet generation (ar-wavenet.c),
 * in plain C (ar-wavenet-kernels.c, the reference) and AVX2+FMA+F16C
 * (ar-wavenet-avx2.c), chosen at run time from ar_simd_get_level ().  Not
 * installed, not part of the API.
 *
 * Every kernel computes each output element by a sequence of operations that
 * depends only on that element's inputs, never on where the element lies in
 * the call (row r of a product is the same whether the call covers rows
 * 0 … 127 or 37 … 40; element j of the gate the same in a call of 1 or of
 * 64).  That is what lets generation split rows between threads at any
 * point and still give bit-identical results for any thread count. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  /* y (rows) = W (rows, cols) · x (cols) + b (rows), plus y itself when
   * @acc: y[r] = (acc ? y[r] : 0) + (W_r · x + b[r]).  W row-major F32;
   * y must not overlap W, x or b. */
  void (*matvec) (float *y, const float *W, const float *x, const float *b,
      int rows, int cols, gboolean acc);
  /* The same with W in IEEE binary16. */
  void (*matvec_f16) (float *y, const guint16 *W, const float *x,
      const float *b, int rows, int cols, gboolean acc);
  /* u (n) = tanh (zt (n)) ⊙ σ (zs (n)): the gated activation. */
  void (*gate) (float *u, const float *zt, const float *zs, int n);
} ArWaveNetKernels;

G_GNUC_INTERNAL extern const ArWaveNetKernels ar_wavenet_kernels_c;
#if defined(__x86_64__) || defined(__i386__)
#define AR_WAVENET_HAVE_AVX2 1
G_GNUC_INTERNAL extern const ArWaveNetKernels ar_wavenet_kernels_avx2;
#endif

/* Steps @g has run split between two threads since it was made (the tests
 * check that the split path really ran). */
typedef struct _ArWaveNetGen ArWaveNetGen;
G_GNUC_INTERNAL guint64 ar_wavenet_gen_get_split_steps (const ArWaveNetGen *g);
/* Makes @g run every step of a job on two threads once the pool's second
 * thread has joined, however the timing turns out (the tests compare the
 * split path with one thread over whole jobs). */
G_GNUC_INTERNAL void ar_wavenet_gen_set_always_split (ArWaveNetGen *g,
    gboolean always);

/* Teacher forcing of a mel-conditioned model through the incremental path
 * (what ArWaveNetVocoder runs, with the frames given instead of analysed):
 * as ar_wavenet_gen_feed, conditioned on @mel (n_frames, n_mels),
 * n_frames >= n / hop + 2, from a freshly reset @g.  For the tests. */
G_GNUC_INTERNAL void ar_wavenet_gen_feed_mel (ArWaveNetGen *g, const guint8 *x,
    gsize n, const float *mel, gsize n_frames, float *logits);

/* The generator a vocoder runs (for the tests' ar_wavenet_gen_* calls). */
typedef struct _ArWaveNetVocoder ArWaveNetVocoder;
G_GNUC_INTERNAL ArWaveNetGen *ar_wavenet_vocoder_get_gen (
    ArWaveNetVocoder *v);

/* The kernels of the level ar_simd_get_level () names. */
G_GNUC_INTERNAL const ArWaveNetKernels *ar_wavenet_kernels (void);

G_END_DECLS
