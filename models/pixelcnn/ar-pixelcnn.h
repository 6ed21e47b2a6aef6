/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-pixelcnn.h — the PixelCNN image family: a Gated PixelCNN (van den Oord
 * et al. 2016, "Conditional Image Generation with PixelCNN Decoders") that
 * draws 8-bit grey (or binary) images pixel by pixel in raster order,
 * optionally conditioned on a class, and completes partly known images.
 *
 *   g_autoptr (ArGguf) f = ar_gguf_new_from_file ("fashion.gguf", &error);
 *   g_autoptr (ArPixelCnn) pc = ar_pixelcnn_new_from_gguf (f, &error);
 *   g_autoptr (ArPixelCnnGen) g = ar_pixelcnn_gen_new (pc);
 *   ar_pixelcnn_gen_reset (g, seed);
 *   ar_pixelcnn_gen_set_class (g, ar_pixelcnn_find_class (pc, "sneaker"), &error);
 *   ar_pixelcnn_gen_sample (g, pixels, 16, NULL);   // 16 images of H × W bytes
 *   memset (known, 1, 14 * W);                       // keep the top 14 rows,
 *   ar_pixelcnn_gen_complete (g, frame, known, 1, NULL);  // draw the rest
 *
 * An element keeps one generator per stream (the model may be shared),
 * takes its settings under its object lock and calls _sample or _complete
 * per buffer; set_threadpool shares a call's images among threads.
 *
 * Network.  An image has H × W pixels x(r, c) ∈ {0 … Q−1} (Q = levels: 256
 * for 8-bit grey, 2 for binary), fed as u(r, c) = 2 x(r, c) / (Q − 1) − 1;
 * every convolution is zero-padded (u, v, h = 0 outside the image).  C
 * feature channels, L ≥ 1 layers, a first kernel K0 and a kernel K (odd;
 * P0 = K0 / 2, P = K / 2), O output hidden units, N classes (0 = none), y
 * the class.  gate (z) for z of 2C values is tanh (z[0 … C−1]) ⊙
 * σ (z[C … 2C−1]), both computed from exponentials of non-positive
 * arguments (ar-pixelcnn-private.h: ar_pixelcnn_gate).
 *
 * Two stacks.  The vertical stack v sees only rows strictly above the pixel,
 * the horizontal stack h also the pixels to its left in its own row; there is
 * no blind spot because the vertical stack feeds the horizontal one at every
 * layer.  The masks are structural: a convolution has weights only for the
 * taps it may see, so nothing is ever multiplied by a masked-out weight.
 *
 *   layer 0 (mask A: the pixel itself is never seen)
 *     zv⁰(r,c) = Wv₀ · [u(r−P0−1+i, c−P0+j)]  i = 0 … P0, j = 0 … K0−1
 *                + bv₀ + cv₀[y]                                   (2C)
 *     zh⁰(r,c) = Wh₀ · [u(r, c−P0+j)]  j = 0 … P0−1
 *                + Wvh₀ · zv⁰(r,c) + bh₀ + ch₀[y]                 (2C)
 *     v¹ = gate (zv⁰)   h¹ = gate (zh⁰)                            (C)
 *   layer l = 1 … L−1 (mask B: the inputs at the pixel are already causal)
 *     zvˡ(r,c) = Wvₗ · [vˡ(r−P+i, c−P+j)]  i = 0 … P, j = 0 … K−1
 *                + bvₗ + cvₗ[y]                                   (2C)
 *     zhˡ(r,c) = Whₗ · [hˡ(r, c−P+j)]  j = 0 … P
 *                + Wvhₗ · zvˡ(r,c) + bhₗ + chₗ[y]                 (2C)
 *     vˡ⁺¹ = gate (zvˡ)                                            (C)
 *     hˡ⁺¹ = hˡ + Wrₗ · gate (zhˡ) + brₗ       (residual)          (C)
 *   output
 *     logits(r,c) = Wo2 · relu (Wo1 · relu (hᴸ(r,c)) + bo1) + bo2  (Q)
 *
 * A gathered window [ … ] lists taps in the order written (i outer, j
 * inner), each tap's channels innermost.  vᴸ is never computed (nothing
 * reads it).  The logits at (r, c) therefore depend on exactly the pixels
 * in rows r − R … r − 1, columns c − S … c + S, and on pixels (r, c − S …
 * c − 1), with R = P0 + 1 + (L − 1) P and S = P0 + (L − 1) P
 * (ar_pixelcnn_receptive_field), clipped to the image.
 *
 * Model file, general.architecture = "pixelcnn":
 *   pixelcnn.width, pixelcnn.height  u32   W, H
 *   pixelcnn.channels                u32   1 (grey).  3 is reserved for
 *        colour models (sub-pixels R → G → B, the input window 3 channels
 *        wide, the horizontal stack's features split into three groups
 *        masked by sub-pixel, Q logits per sub-pixel); such files are
 *        rejected as unsupported by this version
 *   pixelcnn.levels                  u32   Q: 256 (8-bit values) or 2
 *        (binary: a pixel < 128 is 0, else 1; generated as 0 and 255)
 *   pixelcnn.layers                  u32   L
 *   pixelcnn.features                u32   C
 *   pixelcnn.first_kernel            u32   K0 (odd, ≥ 3)
 *   pixelcnn.kernel                  u32   K (odd, ≥ 1)
 *   pixelcnn.output_hidden           u32   O
 *   pixelcnn.classes                 u32   N; 0 = unconditional
 *   pixelcnn.class_names             [string] N names (optional; else "0",
 *        "1", …): distinct, non-empty UTF-8 without NUL, e.g. "ankle-boot"
 *        (an element's class property takes a name, an index or "random")
 * Tensors (ne innermost first; a matrix { cols, rows } is row-major rows ×
 * cols, rows the outputs, columns the gathered window; F32 or F16), for
 * every layer l = 0 … L−1 unless said otherwise:
 *   layer.0.v.weight  { (P0+1)·K0, 2C }   layer.l.v.weight { (P+1)·K·C, 2C } (l ≥ 1)
 *   layer.0.h.weight  { P0, 2C }          layer.l.h.weight { (P+1)·C, 2C }   (l ≥ 1)
 *   layer.l.v.bias, layer.l.h.bias      { 2C }
 *   layer.l.vh.weight                   { 2C, 2C }
 *   layer.l.res.weight { C, C }   layer.l.res.bias { C }                     (l ≥ 1)
 *   layer.l.cv.weight, layer.l.ch.weight { 2C, N }: row y = class y's bias  (N > 0)
 *   out1.weight { C, O }  out1.bias { O }  out2.weight { O, Q }  out2.bias { Q }
 *
 * An ArPixelCnn is immutable once made and may be shared by any number of
 * generators in any threads.  Errors are GErrors in the AR_ERROR domain
 * naming the key or tensor and what was expected. */
#pragma once

#include <glib.h>
#include "core/ar-gguf.h"
#include "core/ar-threadpool.h"

G_BEGIN_DECLS

typedef struct
{
  int width;         /* W */
  int height;        /* H */
  int channels;      /* 1 */
  int levels;        /* Q: 256 or 2 */
  int layers;        /* L */
  int features;      /* C */
  int first_kernel;  /* K0 */
  int kernel;        /* K */
  int output_hidden; /* O */
  int classes;       /* N; 0 = unconditional */
} ArPixelCnnConfig;

/* The default model's shape: 28 × 28 grey, 256 levels, 10 classes, 8
 * layers of 32 features, kernels 7 then 3, 64 output hidden units. */
#define AR_PIXELCNN_CONFIG_DEFAULT                                             \
  {                                                                            \
    28, 28, 1, 256, 8, 32, 7, 3, 64, 10                                        \
  }

/* Limits a file may declare (anything larger is rejected as malformed). */
#define AR_PIXELCNN_MAX_SIDE 1024
#define AR_PIXELCNN_MAX_FEATURES 1024
#define AR_PIXELCNN_MAX_LAYERS 64
#define AR_PIXELCNN_MAX_KERNEL 15
#define AR_PIXELCNN_MAX_CLASSES 65536

/* FALSE + error (naming the field and the accepted range) when @config
 * cannot be built. */
gboolean ar_pixelcnn_config_check (const ArPixelCnnConfig *config,
    GError **error);
/* Reads the pixelcnn.* keys (general.architecture must be "pixelcnn") and
 * checks them. */
gboolean ar_pixelcnn_config_from_gguf (ArPixelCnnConfig *config,
    const ArGguf *gguf, GError **error);
/* Writes general.architecture and the pixelcnn.* keys; @names (classes
 * strings) or NULL for "0", "1", …. */
void ar_pixelcnn_config_write (const ArPixelCnnConfig *config,
    const char *const *names, ArGgufWriter *w);
/* Rows above (R) and columns to either side (S) the logits of a pixel see
 * (see the network above). */
void ar_pixelcnn_config_receptive_field (const ArPixelCnnConfig *config,
    int *rows_above, int *cols_side);
/* Multiply-adds per pixel of one image (all matrix products, vertical
 * stack amortised over its row). */
guint64 ar_pixelcnn_config_macs_per_pixel (const ArPixelCnnConfig *config);

/* A pixel value (0 … 255) as a class of Q levels and back: identity for
 * 256; for 2, 0 below 128 and 1 from 128, back to 0 and 255. */
int ar_pixelcnn_value_to_level (int levels, guint8 value);
guint8 ar_pixelcnn_level_to_value (int levels, int level);

typedef struct _ArPixelCnn ArPixelCnn;

ArPixelCnn *ar_pixelcnn_new_from_gguf (const ArGguf *gguf, GError **error);
/* Random weights (standard deviation 1/sqrt (fan_in); biases and class
 * biases 0.1), for tests and benchmarks; NULL + error when @config is out of range. */
ArPixelCnn *ar_pixelcnn_new_random (const ArPixelCnnConfig *config,
    guint64 seed, GError **error);
ArPixelCnn *ar_pixelcnn_ref (ArPixelCnn *pc);
void ar_pixelcnn_unref (ArPixelCnn *pc);
const ArPixelCnnConfig *ar_pixelcnn_get_config (const ArPixelCnn *pc);
/* Class name @i (0 <= i < classes); the index of @name, or of a decimal
 * index string, or -1. */
const char *ar_pixelcnn_get_class_name (const ArPixelCnn *pc, int i);
int ar_pixelcnn_find_class (const ArPixelCnn *pc, const char *name);
/* Writes the keys (class names included) and the tensors, F32. */
void ar_pixelcnn_write (const ArPixelCnn *pc, ArGgufWriter *w);

/* The full network over one image (the oracle of the fast paths and of
 * training): @image (H, W) pixel values (0 … 255), @cls in [0, N) or −1
 * for an unconditional model → @logits (H, W, Q), those at (r, c) the
 * distribution of level x(r, c) given the pixels before it.  Computed with
 * the generator's own kernels (so bit for bit what it computes). */
void ar_pixelcnn_forward (const ArPixelCnn *pc, const guint8 *image, int cls,
    float *logits);

/* ---- generation ---------------------------------------------------------- */

/* Draws images pixel by pixel.  Cached (the default; Fast PixelCNN++,
 * Ramachandran et al. 2017): each row of the vertical stack is computed
 * once, when the row begins (it sees only the rows above); each pixel then
 * runs the horizontal stack at that pixel alone, reading the rows of its
 * layers' inputs kept so far.  Naive (the oracle): the full network over
 * the whole image once per pixel.  Both compute every activation with the
 * same kernels in the same order from the same inputs, and the causal
 * structure makes the activations a pixel reads independent of the pixels
 * not yet drawn, so they draw the same images bit for bit.
 *
 * Image k since the last reset (counting across calls) draws from its own
 * random stream, seeded from (seed, k): first the class when it is random
 * (class −1 on a conditional model: ar_rng_below), then one uniform per
 * drawn pixel (none at temperature 0, none for a known pixel).  Images are independent of each
 * other, of the batch they come in and of the threads that draw them. */
typedef struct _ArPixelCnnGen ArPixelCnnGen;

ArPixelCnnGen *ar_pixelcnn_gen_new (ArPixelCnn *pc);
void ar_pixelcnn_gen_free (ArPixelCnnGen *g);
ArPixelCnn *ar_pixelcnn_gen_get_model (ArPixelCnnGen *g);
/* Restarts the image count and the random streams at @seed. */
void ar_pixelcnn_gen_reset (ArPixelCnnGen *g, guint64 seed);
/* 0 = greedy (argmax), 1 = the model's distribution. */
void ar_pixelcnn_gen_set_temperature (ArPixelCnnGen *g, float temperature);
/* @cls in [0, N), or −1: a random class per image (none when N = 0);
 * FALSE + error when out of range. */
gboolean ar_pixelcnn_gen_set_class (ArPixelCnnGen *g, int cls, GError **error);
/* Images of a call are shared among the pool's threads (NULL: the caller's
 * thread alone).  The pool must outlive its use here.  The work spaces of
 * its threads are made here (and by _new and _set_naive), so that
 * sampling and completion never allocate. */
void ar_pixelcnn_gen_set_threadpool (ArPixelCnnGen *g, ArThreadPool *pool);
/* TRUE: the naive loop (for tests and benchmarks). */
void ar_pixelcnn_gen_set_naive (ArPixelCnnGen *g, gboolean naive);
/* Draws @n images into @out (n, H, W) as pixel values; @classes (n) (may be
 * NULL) receives each image's class (−1 for an unconditional model). */
void ar_pixelcnn_gen_sample (ArPixelCnnGen *g, guint8 *out, int n,
    int *classes);
/* Completes @n images in place: @images (n, H, W); pixels where @known (H,
 * W, shared by the n images) is non-zero are kept and fed to the network,
 * the others are drawn in raster order given everything before them. */
void ar_pixelcnn_gen_complete (ArPixelCnnGen *g, guint8 *images,
    const guint8 *known, int n, int *classes);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArPixelCnn, ar_pixelcnn_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArPixelCnnGen, ar_pixelcnn_gen_free)

G_END_DECLS
