/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-kernels.c — run-time SIMD dispatch and the plain-C kernels.
 *
 * The plain-C kernels are the reference every SIMD level is tested against
 * and the path used on CPUs without AVX2 and on non-x86 builds.  They sum each
 * dot product strictly left to right in float, so they are easy to reason
 * about; matvec interleaves four rows only to give the CPU four independent
 * addition chains (the per-row order of operations is unchanged).
 *
 * The level is chosen once, on the first kernel call (g_once): the best the
 * CPU supports, lowered by the AR_SIMD environment variable if set.  The
 * kernels then cost one atomic pointer load of dispatch per call. */
#include "ar-kernels.h"
#include "ar-kernels-private.h"
#include "ar-gguf.h"

#include <math.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

/* ArBlockQ8_0 must match ggml's on-disk block exactly (no padding). */
G_STATIC_ASSERT (sizeof (ArBlockQ8_0) == 34);
G_STATIC_ASSERT (sizeof (ArBlockQ4_0) == 18);

/* ---- plain C ---- */

/* y (rows) = W (rows, cols) · x (cols) + add (rows, or NULL) */
static void
matvec_add_c (float *y, const float *W, const float *x, const float *add,
    int rows, int cols)
{
  int r = 0, c;

  for (; r + 4 <= rows; r += 4) {
    const float *w0 = W + (gsize) r * cols;
    const float *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;

    for (c = 0; c < cols; c++) {
      float xc = x[c];

      s0 += w0[c] * xc;
      s1 += w1[c] * xc;
      s2 += w2[c] * xc;
      s3 += w3[c] * xc;
    }
    if (add) {
      s0 += add[r];
      s1 += add[r + 1];
      s2 += add[r + 2];
      s3 += add[r + 3];
    }
    y[r] = s0;
    y[r + 1] = s1;
    y[r + 2] = s2;
    y[r + 3] = s3;
  }

  for (; r < rows; r++) {
    const float *w = W + (gsize) r * cols;
    float s = 0.0f;

    for (c = 0; c < cols; c++)
      s += w[c] * x[c];
    y[r] = add ? s + add[r] : s;
  }
}

/* Σ a (n) · b (n) */
static float
dot_c (const float *a, const float *b, int n)
{
  float s = 0.0f;
  int i;

  for (i = 0; i < n; i++)
    s += a[i] * b[i];
  return s;
}

/* y (cols) = Σ_r x[r] W[r, :], rows in order. */
static void
matvec_t_c (float *y, const float *W, const float *x, int rows, int cols)
{
  int r, c;

  memset (y, 0, (gsize) cols * sizeof (float));
  for (r = 0; r < rows; r++) {
    const float *w = W + (gsize) r * cols;
    float xr = x[r];

    for (c = 0; c < cols; c++)
      y[c] += xr * w[c];
  }
}

/* x[i] = expf (x[i] - shift), summed left to right. */
static float
exp_shift_sum_c (float *x, float shift, int n)
{
  float s = 0.0f;
  int i;

  for (i = 0; i < n; i++) {
    x[i] = expf (x[i] - shift);
    s += x[i];
  }
  return s;
}

/* y (rows) = W (rows, cols) · x (cols), W in binary16: each weight is
 * widened exactly to float, then the same left-to-right sum as matvec. */
static void
matvec_f16_c (float *y, const guint16 *W, const float *x, int rows, int cols)
{
  int r, c;

  for (r = 0; r < rows; r++) {
    const guint16 *w = W + (gsize) r * cols;
    float s = 0.0f;

    for (c = 0; c < cols; c++)
      s += ar_f16_to_f32 (w[c]) * x[c];
    y[r] = s;
  }
}

/* y (rows) = W (rows, n_blocks) · xq (n_blocks), Q8_0.  The integer dot of
 * a block is exact (32 products of at most 128 * 127 fit an int easily); the
 * blocks are summed left to right in float. */
static void
matvec_q8_0_c (float *y, const ArBlockQ8_0 *W, const ArBlockQ8_0 *xq, int rows,
    int n_blocks)
{
  int r, b, i;

  for (r = 0; r < rows; r++) {
    const ArBlockQ8_0 *w = W + (gsize) r * n_blocks;
    float s = 0.0f;

    for (b = 0; b < n_blocks; b++) {
      int sumi = 0;

      for (i = 0; i < AR_Q8_0_BLOCK; i++)
        sumi += w[b].qs[i] * xq[b].qs[i];
      s += ar_f16_to_f32 (w[b].d) * ar_f16_to_f32 (xq[b].d) * (float) sumi;
    }
    y[r] = s;
  }
}

/* y (rows) = W (rows, n_blocks) · xq (n_blocks), W Q4_0, xq Q8_0: as
 * matvec_q8_0_c, with the weight codes widened to (n - 8) in [-8, 7]; the
 * integer dot of a block is exact (32 products of at most 8 * 127). */
static void
matvec_q4_0_c (float *y, const ArBlockQ4_0 *W, const ArBlockQ8_0 *xq, int rows,
    int n_blocks)
{
  int r, b, j;

  for (r = 0; r < rows; r++) {
    const ArBlockQ4_0 *w = W + (gsize) r * n_blocks;
    float s = 0.0f;

    for (b = 0; b < n_blocks; b++) {
      const gint8 *x = xq[b].qs;
      int sumi = 0;

      for (j = 0; j < AR_Q4_0_BLOCK / 2; j++) {
        sumi += ((w[b].qs[j] & 0x0f) - 8) * x[j];
        sumi += ((w[b].qs[j] >> 4) - 8) * x[j + AR_Q4_0_BLOCK / 2];
      }
      s += ar_f16_to_f32 (w[b].d) * ar_f16_to_f32 (xq[b].d) * (float) sumi;
    }
    y[r] = s;
  }
}

/* One matvec per row of X: the plain-C sums are row by row anyway. */
static void
matvec_multi_c (float *Y, int ldy, const float *W, const float *X,
    const float *add, int rows, int cols, int T,
    G_GNUC_UNUSED gboolean streamed)
{
  for (int t = 0; t < T; t++)
    matvec_add_c (Y + (gsize) t * ldy, W, X + (gsize) t * cols, add, rows,
        cols);
}

const ArKernelTable ar_kernels_table_c = {
  matvec_add_c,
  dot_c,
  matvec_t_c,
  exp_shift_sum_c,
  matvec_f16_c,
  matvec_q8_0_c,
  matvec_multi_c,
  matvec_q4_0_c,
};

/* ---- dispatch ---- */

static const ArKernelTable *
table_for_level (ArSimdLevel level)
{
  switch (level) {
#if defined(__x86_64__) || defined(__i386__)
    case AR_SIMD_AVX512:
      return &ar_kernels_table_avx512;
    case AR_SIMD_AVX2:
      return &ar_kernels_table_avx2;
#endif
    case AR_SIMD_C:
    default:
      return &ar_kernels_table_c;
  }
}

ArSimdLevel
ar_simd_detect (void)
{
#if defined(__x86_64__) || defined(__i386__)
  /* GCC's and clang's cpu-support checks include the OS check (XGETBV), so
   * a CPU whose kernel does not save the AVX/AVX-512 registers reports no
   * support.  AVX-512 is only taken together with AVX2+FMA so that the levels
   * stay ordered: each one implies the ones below it. */
  gboolean avx2;
  unsigned int eax, ebx, ecx, edx;

  __builtin_cpu_init ();
  /* F16C (half-precision conversion) came with or before AVX2 on every
   * Intel and AMD core; the f16 kernel of the AVX2 level needs it.  Read
   * from CPUID leaf 1 (ECX bit 29) because clang 14 (Debian 12's, which
   * builds the fuzzers) rejects "f16c" in __builtin_cpu_supports; the OS
   * check is avx2's (F16C uses the same registers). */
  avx2 = __builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma") &&
      __get_cpuid (1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
  if (avx2 && __builtin_cpu_supports ("avx512f"))
    return AR_SIMD_AVX512;
  if (avx2)
    return AR_SIMD_AVX2;
#endif
  return AR_SIMD_C;
}

static const ArKernelTable *active_table; /* atomic; set by get_table () */
static gint active_level; /* atomic; the ArSimdLevel of active_table */

/* Chooses the level on first use.  An AR_SIMD value the CPU cannot run is
 * lowered to the best level it can (never a crash), and an unknown value is
 * ignored: libargen does not print, so the effective level is what
 * ar_simd_get_level() reports. */
static const ArKernelTable *
get_table (void)
{
  static gsize initialised = 0;

  if (g_once_init_enter (&initialised)) {
    ArSimdLevel level = ar_simd_detect ();
    const char *env = g_getenv ("AR_SIMD");

    if (env != NULL) {
      if (g_ascii_strcasecmp (env, "c") == 0)
        level = AR_SIMD_C;
      else if (g_ascii_strcasecmp (env, "avx2") == 0)
        level = MIN (level, AR_SIMD_AVX2);
      else if (g_ascii_strcasecmp (env, "avx512") == 0)
        level = MIN (level, AR_SIMD_AVX512);
    }
    g_atomic_int_set (&active_level, level);
    g_atomic_pointer_set (&active_table, table_for_level (level));
    g_once_init_leave (&initialised, 1);
  }
  return g_atomic_pointer_get (&active_table);
}

ArSimdLevel
ar_simd_get_level (void)
{
  get_table ();
  return (ArSimdLevel) g_atomic_int_get (&active_level);
}

gboolean
ar_simd_set_level (ArSimdLevel level)
{
  /* Initialise first, so a later first kernel call cannot override the
   * choice made here. */
  get_table ();

  if (level < AR_SIMD_C || level > AR_SIMD_AVX512 || level > ar_simd_detect ())
    return FALSE;

  g_atomic_int_set (&active_level, level);
  g_atomic_pointer_set (&active_table, table_for_level (level));
  return TRUE;
}

const char *
ar_simd_level_name (ArSimdLevel level)
{
  switch (level) {
    case AR_SIMD_C:
      return "c";
    case AR_SIMD_AVX2:
      return "avx2";
    case AR_SIMD_AVX512:
      return "avx512";
    default:
      return "unknown";
  }
}

/* ---- public kernels ---- */

/* Empty shapes are settled here, so the kernels never see a NULL pointer
 * (W and x may be NULL when cols == 0, everything when rows == 0). */

void
ar_matvec (float *y, const float *W, const float *x, const float *b, int rows,
    int cols)
{
  g_return_if_fail (rows >= 0 && cols >= 0);
  if (rows == 0)
    return;
  g_return_if_fail (y != NULL);
  if (cols == 0) {
    if (b)
      memcpy (y, b, (gsize) rows * sizeof (float));
    else
      memset (y, 0, (gsize) rows * sizeof (float));
    return;
  }
  g_return_if_fail (W != NULL && x != NULL);

  get_table ()->matvec_add (y, W, x, b, rows, cols);
}

static void
matvec_multi (float *Y, int ldy, const float *W, const float *X, const float *b,
    int rows, int cols, int T, gboolean streamed)
{
  g_return_if_fail (rows >= 0 && cols >= 0 && T >= 0 && ldy >= rows);
  if (rows == 0 || T == 0)
    return;
  g_return_if_fail (Y != NULL);
  if (cols == 0) {
    for (int t = 0; t < T; t++)
      ar_matvec (Y + (gsize) t * ldy, W, X, b, rows, 0);
    return;
  }
  g_return_if_fail (W != NULL && X != NULL);

  get_table ()->matvec_multi (Y, ldy, W, X, b, rows, cols, T, streamed);
}

void
ar_matvec_multi (float *Y, int ldy, const float *W, const float *X,
    const float *b, int rows, int cols, int T)
{
  matvec_multi (Y, ldy, W, X, b, rows, cols, T, FALSE);
}

void
ar_matvec_multi_streamed (float *Y, int ldy, const float *W, const float *X,
    const float *b, int rows, int cols, int T)
{
  matvec_multi (Y, ldy, W, X, b, rows, cols, T, TRUE);
}

void
ar_matvec_acc (float *y, const float *W, const float *x, int rows, int cols)
{
  g_return_if_fail (rows >= 0 && cols >= 0);
  if (rows == 0 || cols == 0)
    return;
  g_return_if_fail (y != NULL && W != NULL && x != NULL);

  get_table ()->matvec_add (y, W, x, y, rows, cols);
}

float
ar_dot (const float *a, const float *b, int n)
{
  g_return_val_if_fail (n >= 0, 0.0f);
  if (n == 0)
    return 0.0f;
  g_return_val_if_fail (a != NULL && b != NULL, 0.0f);

  return get_table ()->dot (a, b, n);
}

void
ar_matvec_f16 (float *y, const guint16 *W, const float *x, int rows, int cols)
{
  g_return_if_fail (rows >= 0 && cols >= 0);
  if (rows == 0)
    return;
  g_return_if_fail (y != NULL);
  if (cols == 0) {
    memset (y, 0, (gsize) rows * sizeof (float));
    return;
  }
  g_return_if_fail (W != NULL && x != NULL);

  get_table ()->matvec_f16 (y, W, x, rows, cols);
}

/* The checks and empty shapes of the quantised products (blocks of 32
 * columns): TRUE when the kernel has something to do. */
static gboolean
quantised_args_ok (float *y, const void *W, const ArBlockQ8_0 *xq, int rows,
    int cols)
{
  g_return_val_if_fail (rows >= 0 && cols >= 0 && cols % 32 == 0, FALSE);
  if (rows == 0)
    return FALSE;
  g_return_val_if_fail (y != NULL, FALSE);
  if (cols == 0) {
    memset (y, 0, (gsize) rows * sizeof (float));
    return FALSE;
  }
  g_return_val_if_fail (W != NULL && xq != NULL, FALSE);
  return TRUE;
}

G_STATIC_ASSERT (AR_Q8_0_BLOCK == 32 && AR_Q4_0_BLOCK == 32);

void
ar_matvec_q8_0 (float *y, const ArBlockQ8_0 *W, const ArBlockQ8_0 *xq, int rows,
    int cols)
{
  if (quantised_args_ok (y, W, xq, rows, cols))
    get_table ()->matvec_q8_0 (y, W, xq, rows, cols / AR_Q8_0_BLOCK);
}

void
ar_matvec_q4_0 (float *y, const ArBlockQ4_0 *W, const ArBlockQ8_0 *xq, int rows,
    int cols)
{
  if (quantised_args_ok (y, W, xq, rows, cols))
    get_table ()->matvec_q4_0 (y, W, xq, rows, cols / AR_Q4_0_BLOCK);
}

void
ar_matvec_typed (ArTensorType type, float *y, const void *W, const float *x,
    const ArBlockQ8_0 *xq, const float *b, int rows, int cols)
{
  switch (type) {
    case AR_TENSOR_F32:
      /* the bias inside the kernel: bit for bit ar_matvec () */
      ar_matvec (y, W, x, b, rows, cols);
      return;
    case AR_TENSOR_F16:
      ar_matvec_f16 (y, W, x, rows, cols);
      break;
    case AR_TENSOR_Q8_0:
      ar_matvec_q8_0 (y, W, xq, rows, cols);
      break;
    case AR_TENSOR_Q4_0:
      ar_matvec_q4_0 (y, W, xq, rows, cols);
      break;
    default:
      g_return_if_reached ();
  }
  /* (y may be NULL only when rows == 0, or on a programmer error the
   * kernel has reported) */
  if (b != NULL && y != NULL)
    for (int r = 0; r < rows; r++)
      y[r] += b[r];
}

void
ar_matvec_t (float *y, const float *W, const float *x, int rows, int cols)
{
  g_return_if_fail (rows >= 0 && cols >= 0);
  if (cols == 0)
    return;
  g_return_if_fail (y != NULL);
  if (rows == 0) {
    memset (y, 0, (gsize) cols * sizeof (float));
    return;
  }
  g_return_if_fail (W != NULL && x != NULL);

  get_table ()->matvec_t (y, W, x, rows, cols);
}

float
ar_exp_shift_sum (float *x, float shift, int n)
{
  g_return_val_if_fail (n >= 0, 0.0f);
  if (n == 0)
    return 0.0f;
  g_return_val_if_fail (x != NULL, 0.0f);

  return get_table ()->exp_shift_sum (x, shift, n);
}
