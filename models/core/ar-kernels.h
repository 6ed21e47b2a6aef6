/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-kernels.h — inference kernels with run-time SIMD dispatch.
 *
 * Each kernel has a plain-C version, always compiled and always correct, and
 * AVX2+FMA and AVX-512F versions compiled with per-function target attributes
 * (never -march=native), chosen once at run time from what the CPU supports.
 * Tests run every level the CPU has against the plain-C one; benchmarks switch
 * levels with ar_simd_set_level() to measure them side by side.
 *
 * Matrices are row-major: W (rows, cols) has element (r, c) at W[r * cols + c]. */
#pragma once

#include <glib.h>
#include "ar-gguf.h"            /* ArTensorType */

G_BEGIN_DECLS

typedef enum
{
  AR_SIMD_C = 0,
  AR_SIMD_AVX2 = 1,             /* AVX2 + FMA */
  AR_SIMD_AVX512 = 2,           /* AVX-512F */
} ArSimdLevel;

/* The best level this CPU supports. */
ArSimdLevel ar_simd_detect (void);
/* The level in use (initially ar_simd_detect(), or the AR_SIMD environment
 * variable: "c", "avx2", "avx512"). */
ArSimdLevel ar_simd_get_level (void);
/* For tests and benchmarks: FALSE (and no change) if the CPU lacks @level.
 * Not thread-safe against kernels running concurrently. */
gboolean ar_simd_set_level (ArSimdLevel level);
const char *ar_simd_level_name (ArSimdLevel level);

/* y (rows) = W (rows, cols) · x (cols) [+ b (rows), when b != NULL] */
void ar_matvec (float *y, const float *W, const float *x, const float *b, int rows, int cols);
/* Y (T, ldy): row t = W (rows, cols) · X row t (X (T, cols)) [+ b (rows)],
 * each bit for bit what ar_matvec () gives for that row of X, but cheaper
 * than T calls: the weights are read once for several rows of X.  (A
 * row's sum depends only on that row of W, x and b at every level — not on
 * which rows are computed with it — which is what makes batching exact.) */
void ar_matvec_multi (float *Y, int ldy, const float *W, const float *X,
    const float *b, int rows, int cols, int T);
/* ar_matvec_multi () — the same results, bit for bit — for weights that come
 * from memory rather than the caches (a model larger than the L3 cache):
 * one row of W at a time, a single sequential stream fetched two rows
 * ahead, where ar_matvec_multi () reads four rows side by side and so
 * shares each load of X between them.  For 8 rows of X on the development
 * machine (bench-kernels): from memory (32000 × 288) 4.5 ms against 8.9 —
 * as fast as one ar_matvec —, from L2 (352 × 128) 0.030 ms against 0.019;
 * through a whole stories15M-shape verification 8.5 ms against 10.0. */
void ar_matvec_multi_streamed (float *Y, int ldy, const float *W,
    const float *X, const float *b, int rows, int cols, int T);
/* y (rows) += W (rows, cols) · x (cols) */
void ar_matvec_acc (float *y, const float *W, const float *x, int rows, int cols);
float ar_dot (const float *a, const float *b, int n);
/* y (cols) = Wᵀ x = Σ_r x[r] W[r, :], W (rows, cols), x (rows): the weighted
 * sum of rows (attention's sum of values).  y must not overlap W or x. */
void ar_matvec_t (float *y, const float *W, const float *x, int rows, int cols);
/* x[i] = exp (x[i] - shift) for x (n), returning their sum: the heart of a
 * softmax (shift = max x).  The plain-C level uses expf; SIMD levels a
 * polynomial within 2 ulp of it for arguments in [-87, 0], exactly 0 below
 * about -87.3.  Arguments must not exceed 88. */
float ar_exp_shift_sum (float *x, float shift, int n);

/* ---- quantised and half-precision weights ----------------------------
 * Kernels that read weights in their storage type straight from a GGUF
 * mapping, so F16, Q8_0 and Q4_0 models need no F32 copy. */

/* ggml's Q8_0 block: 32 consecutive values q[i] * d with one IEEE half scale
 * d; 34 bytes, 2-byte aligned.  A row of C columns (C % 32 == 0) is C / 32
 * blocks; a GGUF Q8_0 tensor is such rows back to back. */
#define AR_Q8_0_BLOCK 32
typedef struct
{
  guint16 d;                    /* the scale, IEEE binary16 */
  gint8 qs[AR_Q8_0_BLOCK];
} ArBlockQ8_0;

/* y (rows) = W (rows, cols) · x (cols), W in IEEE binary16. */
void ar_matvec_f16 (float *y, const guint16 *W, const float *x, int rows, int cols);
/* Quantises x (n floats, n % 32 == 0) into xq (n / 32 blocks) as ggml does:
 * per block d = max |x| / 127 (stored as f16), q = round (x / d) computed with
 * the unrounded d, so |q| <= 127.  A block holding a non-finite value gets a
 * NaN scale and codes 0, so a GGUF reader's finiteness check rejects it and a
 * product with it is NaN (ar-quant.c, which the GGUF writer calls too). */
void ar_quantize_q8_0 (ArBlockQ8_0 *xq, const float *x, int n);
/* y (rows) = W (rows, cols) · xq (cols), both Q8_0, cols % 32 == 0: per block
 * an exact integer dot product, scaled by d_W * d_x and summed in float.
 * Weights may hold any int8 (-128 included); xq must come from
 * ar_quantize_q8_0 (|q| <= 127). */
void ar_matvec_q8_0 (float *y, const ArBlockQ8_0 *W, const ArBlockQ8_0 *xq, int rows,
    int cols);

/* ggml's Q4_0 block: 32 consecutive values (n - 8) * d, n a 4-bit code, with
 * one IEEE half scale d; 18 bytes, 2-byte aligned.  Value j (0..15) is the
 * low nibble of qs[j], value j + 16 its high nibble.  A row of C columns
 * (C % 32 == 0) is C / 32 blocks; a GGUF Q4_0 tensor is such rows back to
 * back.  4.5 bits a weight: 18/34 of Q8_0's bytes. */
#define AR_Q4_0_BLOCK 32
typedef struct
{
  guint16 d;                    /* the scale, IEEE binary16 */
  guint8 qs[AR_Q4_0_BLOCK / 2]; /* (16) codes j | codes j + 16 << 4 */
} ArBlockQ4_0;

/* Quantises x (n floats, n % 32 == 0) into q (n / 32 blocks) as ggml does:
 * per block m = the value of largest magnitude (sign kept), d = m / -8
 * (stored as f16), code = MIN (15, (int) (x / d + 8.5)) computed with the
 * unrounded d — so m itself gets code 0 (-8 d = m) and -m code 15 (7 d, the
 * one asymmetry).  A block holding a non-finite value gets a NaN scale and
 * codes 8, so a GGUF reader's finiteness check rejects it. */
void ar_quantize_q4_0 (ArBlockQ4_0 *q, const float *x, int n);
/* x (n, n % 32 == 0) = the values of q (n / 32 blocks). */
void ar_dequantize_q4_0 (float *x, const ArBlockQ4_0 *q, int n);
/* y (rows) = W (rows, cols) · xq (cols), W Q4_0 and xq Q8_0 (from
 * ar_quantize_q8_0, as for ar_matvec_q8_0), cols % 32 == 0: per block an
 * exact integer dot product, scaled by d_W * d_x and summed in float.  A
 * row's result depends only on that row of W and xq, never on how the rows
 * are grouped or split (thread pools, batches). */
void ar_matvec_q4_0 (float *y, const ArBlockQ4_0 *W, const ArBlockQ8_0 *xq, int rows,
    int cols);

/* ---- one product for every storage type -------------------------------- */

/* y (rows) = W (rows, cols) · x (cols) [+ b (rows), when b != NULL], W
 * stored as @type (a GGUF tensor's data as it is): the one place that picks
 * the kernel for a storage type, so callers that run products over any
 * matrix (the thread pool's split, the Transformer's projections) need no
 * per-type code of their own.
 * @x: the input as floats, read by F32 and F16 matrices (may be NULL for
 * the others); @xq: x quantised by ar_quantize_q8_0 (cols / 32 blocks), read
 * by Q8_0 and Q4_0 matrices (may be NULL for the others).  Each type's
 * result is bit for bit its kernel's: F32 is ar_matvec (), which adds the
 * bias inside the kernel; F16, Q8_0 and Q4_0 are ar_matvec_f16 / _q8_0 /
 * _q4_0, after which y[r] += b[r] — the same single float addition of the
 * sum and the bias.  Row r of W starts r · ar_tensor_data_size (type, cols)
 * bytes in, so rows [r0, r0 + n) are the product of the matrix that starts
 * there, with b + r0: bit for bit those rows of the whole product when r0
 * is a multiple of 16 (the kernels sum rows in groups of 8, 4 and 2, and
 * the rows left over after the last group another way). */
void ar_matvec_typed (ArTensorType type, float *y, const void *W,
    const float *x, const ArBlockQ8_0 *xq, const float *b, int rows, int cols);

G_END_DECLS
