/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-pointwise-avx2.c — AVX2+FMA versions of the activations of a
 * Transformer block (GELU, SwiGLU), of its norms (RMSNorm, LayerNorm) and
 * of the rotary embeddings, with their gradients, 8 floats per register.
 *
 * Both activations are a logistic function σ(u) = 1 / (1 + e^-u) of some u
 * (GELU's tanh form is x σ(2 sqrt (2/π) (x + 0.044715 x³)), SiLU is g σ(g)),
 * evaluated as e = exp (-|u|), which never overflows, then 1 / (1 + e) or
 * e / (1 + e) by the sign of u.  The exponential is computed here in
 * registers (range reduction to r in [-ln2/2, ln2/2], a degree-6 Taylor
 * polynomial, 2^n put into the exponent bits), within a few ulp of expf;
 * the plain-C loops of ar-pointwise.c call expf itself.  Arguments below
 * -87 are clamped there, where e^-87 ≈ 1.6e-38 already makes σ 0 or 1 to
 * float precision, so no subnormal is ever built.
 *
 * Compiled for any x86 target with per-function target attributes, called
 * only after the CPU has been checked (ar_simd_get_level ()).  Tails shorter
 * than a register go through a zero-padded buffer so every element is
 * computed by the same instructions. */
#include "ar-pointwise-simd.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define AR_TARGET_AVX2 __attribute__ ((target ("avx2,fma")))

#define GELU_K 0.7978845608028654f /* sqrt (2 / pi) */
#define GELU_C 0.044715f

/* exp (x) for x <= 0, 8 lanes */
AR_TARGET_AVX2 static inline __m256
exp_nonpositive (__m256 x)
{
  const __m256 ln2_hi = _mm256_set1_ps (0.693359375f);
  const __m256 ln2_lo = _mm256_set1_ps (-2.12194440e-4f);
  __m256 n, r, p;
  __m256i bits;

  x = _mm256_max_ps (x, _mm256_set1_ps (-87.0f));
  n = _mm256_round_ps (_mm256_mul_ps (x, _mm256_set1_ps (1.44269504f)),
      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  /* r = x - n ln2, with ln2 in two parts so that r keeps its low bits */
  r = _mm256_fnmadd_ps (n, ln2_hi, x);
  r = _mm256_fnmadd_ps (n, ln2_lo, r);
  p = _mm256_set1_ps (1.0f / 720.0f);
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f / 120.0f));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f / 24.0f));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f / 6.0f));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (0.5f));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f));
  bits = _mm256_slli_epi32 (_mm256_add_epi32 (_mm256_cvtps_epi32 (n),
                                _mm256_set1_epi32 (127)),
      23);
  return _mm256_mul_ps (p, _mm256_castsi256_ps (bits));
}

/* σ(u), 8 lanes */
AR_TARGET_AVX2 static inline __m256
sigmoid (__m256 u)
{
  const __m256 sign = _mm256_set1_ps (-0.0f);
  __m256 e = exp_nonpositive (_mm256_or_ps (u, sign)); /* exp (-|u|) */
  __m256 inv = _mm256_div_ps (_mm256_set1_ps (1.0f),
      _mm256_add_ps (_mm256_set1_ps (1.0f), e));

  /* u < 0 (sign bit set): e / (1 + e) */
  return _mm256_blendv_ps (inv, _mm256_mul_ps (e, inv), u);
}

/* GELU's u = 2 sqrt (2/π) (x + 0.044715 x³) */
AR_TARGET_AVX2 static inline __m256
gelu_arg (__m256 x)
{
  __m256 x2 = _mm256_mul_ps (x, x);
  __m256 a = _mm256_fmadd_ps (_mm256_set1_ps (2.0f * GELU_K * GELU_C), x2,
      _mm256_set1_ps (2.0f * GELU_K));

  return _mm256_mul_ps (a, x);
}

/* The kernels on 8 elements: the loops below run them over whole
 * registers, then once over a zero-padded copy of the tail. */

AR_TARGET_AVX2 static inline void
gelu8 (const float *x_, float *y_)
{
  __m256 x = _mm256_loadu_ps (x_);

  _mm256_storeu_ps (y_, _mm256_mul_ps (x, sigmoid (gelu_arg (x))));
}

/* d/dx x σ(u) = σ + x σ (1 - σ) du/dx,
 * du/dx = 2 sqrt (2/π) (1 + 3 · 0.044715 x²) */
AR_TARGET_AVX2 static inline void
gelu_grad8 (const float *x_, const float *dy_, float *dx_)
{
  __m256 x = _mm256_loadu_ps (x_), dy = _mm256_loadu_ps (dy_);
  __m256 sg = sigmoid (gelu_arg (x));
  __m256 du = _mm256_fmadd_ps (_mm256_set1_ps (6.0f * GELU_K * GELU_C),
      _mm256_mul_ps (x, x), _mm256_set1_ps (2.0f * GELU_K));
  __m256 xs = _mm256_mul_ps (_mm256_mul_ps (x, sg),
      _mm256_sub_ps (_mm256_set1_ps (1.0f), sg));

  _mm256_storeu_ps (dx_, _mm256_mul_ps (dy, _mm256_fmadd_ps (xs, du, sg)));
}

AR_TARGET_AVX2 static inline void
swiglu8 (const float *g_, const float *u_, float *y_)
{
  __m256 g = _mm256_loadu_ps (g_), u = _mm256_loadu_ps (u_);

  _mm256_storeu_ps (y_, _mm256_mul_ps (_mm256_mul_ps (g, sigmoid (g)), u));
}

/* silu' (g) = σ (1 + g (1 - σ)):  dG = dY U silu' (G),  dU = dY silu (G) */
AR_TARGET_AVX2 static inline void
swiglu_grad8 (const float *g_, const float *u_, const float *dy_, float *dg_,
    float *du_)
{
  const __m256 one = _mm256_set1_ps (1.0f);
  __m256 g = _mm256_loadu_ps (g_), u = _mm256_loadu_ps (u_);
  __m256 dy = _mm256_loadu_ps (dy_), sg = sigmoid (g);
  __m256 d = _mm256_mul_ps (_mm256_mul_ps (dy, u), sg);

  /* everything is loaded before either store: dG or dU may be dY */
  _mm256_storeu_ps (dg_,
      _mm256_mul_ps (d, _mm256_fmadd_ps (g, _mm256_sub_ps (one, sg), one)));
  _mm256_storeu_ps (du_, _mm256_mul_ps (dy, _mm256_mul_ps (g, sg)));
}

/* r (< 8) floats of src into a zeroed 8-float buffer */
static inline void
pad8 (float *buf, const float *src, gsize r)
{
  memset (buf, 0, 8 * sizeof (float));
  memcpy (buf, src, r * sizeof (float));
}

AR_TARGET_AVX2 void
ar_nn_gelu_forward_avx2 (const float *X, float *Y, gsize n)
{
  float tx[8], ty[8];
  gsize i = 0;

  for (; i + 8 <= n; i += 8)
    gelu8 (X + i, Y + i);
  if (i < n) {
    pad8 (tx, X + i, n - i);
    gelu8 (tx, ty);
    memcpy (Y + i, ty, (n - i) * sizeof (float));
  }
}

AR_TARGET_AVX2 void
ar_nn_gelu_backward_avx2 (const float *X, const float *dY, float *dX, gsize n)
{
  float tx[8], tdy[8], tdx[8];
  gsize i = 0;

  for (; i + 8 <= n; i += 8)
    gelu_grad8 (X + i, dY + i, dX + i);
  if (i < n) {
    pad8 (tx, X + i, n - i);
    pad8 (tdy, dY + i, n - i);
    gelu_grad8 (tx, tdy, tdx);
    memcpy (dX + i, tdx, (n - i) * sizeof (float));
  }
}

AR_TARGET_AVX2 void
ar_nn_swiglu_forward_avx2 (const float *G, const float *U, float *Y, gsize n)
{
  float tg[8], tu[8], ty[8];
  gsize i = 0;

  for (; i + 8 <= n; i += 8)
    swiglu8 (G + i, U + i, Y + i);
  if (i < n) {
    pad8 (tg, G + i, n - i);
    pad8 (tu, U + i, n - i);
    swiglu8 (tg, tu, ty);
    memcpy (Y + i, ty, (n - i) * sizeof (float));
  }
}

AR_TARGET_AVX2 void
ar_nn_swiglu_backward_avx2 (const float *G, const float *U, const float *dY,
    float *dG, float *dU, gsize n)
{
  float tg[8], tu[8], tdy[8], tdg[8], tdu[8];
  gsize i = 0;

  for (; i + 8 <= n; i += 8)
    swiglu_grad8 (G + i, U + i, dY + i, dG + i, dU + i);
  if (i < n) {
    pad8 (tg, G + i, n - i);
    pad8 (tu, U + i, n - i);
    pad8 (tdy, dY + i, n - i);
    swiglu_grad8 (tg, tu, tdy, tdg, tdu);
    memcpy (dG + i, tdg, (n - i) * sizeof (float));
    memcpy (dU + i, tdu, (n - i) * sizeof (float));
  }
}

AR_TARGET_AVX2 void
ar_nn_add_avx2 (float *Y, const float *X, gsize n)
{
  gsize i = 0;

  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps (Y + i,
        _mm256_add_ps (_mm256_loadu_ps (Y + i), _mm256_loadu_ps (X + i)));
  for (; i < n; i++)
    Y[i] += X[i];
}

/* ---- rotary embeddings ---------------------------------------------------
 * Four pairs per register: y = x ⊙ (c0 c0 c1 c1 ..) + swap (x) ⊙ (-s0 s0
 * -s1 s1 ..), swap exchanging the two values of each pair; @sign -1 turns
 * the other way (the backward pass).  The plain-C rotation rounds each of
 * its two products separately, this one fuses one of them. */

AR_TARGET_AVX2 void
ar_nn_rope_rotate_avx2 (float *X, int ld, const float *cos_t,
    const float *sin_t, int T, int B, int n_heads, int hs, int n_rot,
    float sign)
{
  int half = n_rot / 2, half4 = half & ~3;
  const __m256 alt =
      _mm256_setr_ps (-0.0f, 0.0f, -0.0f, 0.0f, -0.0f, 0.0f, -0.0f, 0.0f);

  for (int t = 0; t < T; t++) {
    const float *c = cos_t + (gsize) t * half, *s = sin_t + (gsize) t * half;
    float *row0 = X + (gsize) t * B * ld;

    for (int i = 0; i < half4; i += 4) {
      __m128 c4 = _mm_loadu_ps (c + i);
      __m128 s4 = _mm_mul_ps (_mm_loadu_ps (s + i), _mm_set1_ps (sign));
      __m256 c8 =
          _mm256_set_m128 (_mm_unpackhi_ps (c4, c4), _mm_unpacklo_ps (c4, c4));
      __m256 s8 = _mm256_xor_ps (_mm256_set_m128 (_mm_unpackhi_ps (s4, s4),
                                     _mm_unpacklo_ps (s4, s4)),
          alt);

      for (int b = 0; b < B; b++)
        for (int h = 0; h < n_heads; h++) {
          float *v = row0 + (gsize) b * ld + (gsize) h * hs + 2 * i;
          __m256 x = _mm256_loadu_ps (v);
          __m256 sw = _mm256_permute_ps (x, 0xB1);

          _mm256_storeu_ps (v, _mm256_fmadd_ps (x, c8, _mm256_mul_ps (sw, s8)));
        }
    }
    for (int i = half4; i < half; i++) {
      float ci = c[i], si = sign * s[i];

      for (int b = 0; b < B; b++)
        for (int h = 0; h < n_heads; h++) {
          float *v = row0 + (gsize) b * ld + (gsize) h * hs + 2 * i;
          float v0 = v[0], v1 = v[1];

          v[0] = v0 * ci - v1 * si;
          v[1] = v0 * si + v1 * ci;
        }
    }
  }
}

/* ---- norms ------------------------------------------------------------------
 * Row by row as the plain-C loops, with the sums over a row in 8 lanes (two
 * accumulators where a loop has nothing else to hide the latency) added up
 * at the end, then the few elements past the last full register in scalar
 * code.  The sums therefore round differently from the plain-C and
 * inference loops, by a few ulps of a row's sum. */

AR_TARGET_AVX2 static inline float
hsum (__m256 v)
{
  __m128 s =
      _mm_add_ps (_mm256_castps256_ps128 (v), _mm256_extractf128_ps (v, 1));

  s = _mm_add_ps (s, _mm_movehl_ps (s, s));
  s = _mm_add_ss (s, _mm_movehdup_ps (s));
  return _mm_cvtss_f32 (s);
}

AR_TARGET_AVX2 void
ar_nn_rmsnorm_forward_avx2 (const float *w, const float *X, float *Y,
    float *rstd, int N, int n, float eps)
{
  int n8 = n & ~7;

  for (int r = 0; r < N; r++) {
    const float *x = X + (gsize) r * n;
    float *y = Y + (gsize) r * n;
    __m256 a0 = _mm256_setzero_ps (), a1 = _mm256_setzero_ps ();
    int i = 0;

    for (; i + 16 <= n; i += 16) {
      __m256 v0 = _mm256_loadu_ps (x + i), v1 = _mm256_loadu_ps (x + i + 8);

      a0 = _mm256_fmadd_ps (v0, v0, a0);
      a1 = _mm256_fmadd_ps (v1, v1, a1);
    }
    for (; i < n8; i += 8) {
      __m256 v0 = _mm256_loadu_ps (x + i);

      a0 = _mm256_fmadd_ps (v0, v0, a0);
    }
    float ss = hsum (_mm256_add_ps (a0, a1));
    for (; i < n; i++)
      ss += x[i] * x[i];
    float s = 1.0f / sqrtf (ss / n + eps);
    __m256 vs = _mm256_set1_ps (s);

    rstd[r] = s;
    for (i = 0; i < n8; i += 8)
      _mm256_storeu_ps (y + i,
          _mm256_mul_ps (_mm256_loadu_ps (w + i),
              _mm256_mul_ps (vs, _mm256_loadu_ps (x + i))));
    for (; i < n; i++)
      y[i] = w[i] * (s * x[i]);
  }
}

AR_TARGET_AVX2 void
ar_nn_rmsnorm_backward_avx2 (const float *w, float *gw, const float *X,
    const float *rstd, const float *dY, float *dX, int N, int n)
{
  int n8 = n & ~7;

  for (int r = 0; r < N; r++) {
    const float *x = X + (gsize) r * n, *dy = dY + (gsize) r * n;
    float *dx = dX + (gsize) r * n;
    float s = rstd[r];
    __m256 vs = _mm256_set1_ps (s), acc = _mm256_setzero_ps ();
    int i = 0;

    for (; i < n8; i += 8) {
      __m256 vx = _mm256_loadu_ps (x + i), vdy = _mm256_loadu_ps (dy + i);
      __m256 dyx = _mm256_mul_ps (vdy, vx);

      acc = _mm256_fmadd_ps (dyx, _mm256_loadu_ps (w + i), acc);
      _mm256_storeu_ps (gw + i,
          _mm256_fmadd_ps (dyx, vs, _mm256_loadu_ps (gw + i)));
    }
    float dot = hsum (acc);
    for (; i < n; i++) {
      dot += dy[i] * w[i] * x[i];
      gw[i] += dy[i] * s * x[i];
    }
    float c = s * s * s * dot / n;
    __m256 vc = _mm256_set1_ps (c);
    for (i = 0; i < n8; i += 8) {
      __m256 t = _mm256_mul_ps (vs,
          _mm256_mul_ps (_mm256_loadu_ps (w + i), _mm256_loadu_ps (dy + i)));

      _mm256_storeu_ps (dx + i,
          _mm256_fnmadd_ps (vc, _mm256_loadu_ps (x + i), t));
    }
    for (; i < n; i++)
      dx[i] = s * w[i] * dy[i] - c * x[i];
  }
}

AR_TARGET_AVX2 void
ar_nn_layernorm_forward_avx2 (const float *w, const float *b, const float *X,
    float *Y, float *mean, float *rstd, int N, int n, float eps)
{
  int n8 = n & ~7;

  for (int r = 0; r < N; r++) {
    const float *x = X + (gsize) r * n;
    float *y = Y + (gsize) r * n;
    __m256 acc = _mm256_setzero_ps ();
    int i = 0;

    for (; i < n8; i += 8)
      acc = _mm256_add_ps (acc, _mm256_loadu_ps (x + i));
    float mu = hsum (acc);
    for (; i < n; i++)
      mu += x[i];
    mu /= n;
    __m256 vmu = _mm256_set1_ps (mu);
    acc = _mm256_setzero_ps ();
    for (i = 0; i < n8; i += 8) {
      __m256 d = _mm256_sub_ps (_mm256_loadu_ps (x + i), vmu);

      acc = _mm256_fmadd_ps (d, d, acc);
    }
    float var = hsum (acc);
    for (; i < n; i++)
      var += (x[i] - mu) * (x[i] - mu);
    float s = 1.0f / sqrtf (var / n + eps);
    __m256 vs = _mm256_set1_ps (s);

    mean[r] = mu;
    rstd[r] = s;
    for (i = 0; i < n8; i += 8) {
      __m256 xh =
          _mm256_mul_ps (_mm256_sub_ps (_mm256_loadu_ps (x + i), vmu), vs);

      _mm256_storeu_ps (y + i,
          _mm256_fmadd_ps (xh, _mm256_loadu_ps (w + i),
              _mm256_loadu_ps (b + i)));
    }
    for (; i < n; i++)
      y[i] = (x[i] - mu) * s * w[i] + b[i];
  }
}

AR_TARGET_AVX2 void
ar_nn_layernorm_backward_avx2 (const float *w, float *gw, float *gb,
    const float *X, const float *mean, const float *rstd, const float *dY,
    float *dX, int N, int n)
{
  int n8 = n & ~7;

  for (int r = 0; r < N; r++) {
    const float *x = X + (gsize) r * n, *dy = dY + (gsize) r * n;
    float *dx = dX + (gsize) r * n;
    float mu = mean[r], s = rstd[r];
    __m256 vmu = _mm256_set1_ps (mu), vs = _mm256_set1_ps (s);
    __m256 ad = _mm256_setzero_ps (), adx = _mm256_setzero_ps ();
    int i = 0;

    for (; i < n8; i += 8) {
      __m256 xh =
          _mm256_mul_ps (_mm256_sub_ps (_mm256_loadu_ps (x + i), vmu), vs);
      __m256 vdy = _mm256_loadu_ps (dy + i);
      __m256 d = _mm256_mul_ps (vdy, _mm256_loadu_ps (w + i));

      _mm256_storeu_ps (gw + i,
          _mm256_fmadd_ps (vdy, xh, _mm256_loadu_ps (gw + i)));
      _mm256_storeu_ps (gb + i, _mm256_add_ps (vdy, _mm256_loadu_ps (gb + i)));
      ad = _mm256_add_ps (ad, d);
      adx = _mm256_fmadd_ps (d, xh, adx);
    }
    float sum_d = hsum (ad), sum_dx = hsum (adx);
    for (; i < n; i++) {
      float xh = (x[i] - mu) * s, d = dy[i] * w[i];

      gw[i] += dy[i] * xh;
      gb[i] += dy[i];
      sum_d += d;
      sum_dx += d * xh;
    }
    sum_d /= n;
    sum_dx /= n;
    __m256 vd = _mm256_set1_ps (sum_d), vdx = _mm256_set1_ps (sum_dx);
    for (i = 0; i < n8; i += 8) {
      __m256 xh =
          _mm256_mul_ps (_mm256_sub_ps (_mm256_loadu_ps (x + i), vmu), vs);
      __m256 d =
          _mm256_mul_ps (_mm256_loadu_ps (dy + i), _mm256_loadu_ps (w + i));

      d = _mm256_sub_ps (d, vd);
      _mm256_storeu_ps (dx + i,
          _mm256_mul_ps (vs, _mm256_fnmadd_ps (xh, vdx, d)));
    }
    for (; i < n; i++) {
      float xh = (x[i] - mu) * s;

      dx[i] = s * (dy[i] * w[i] - sum_d - xh * sum_dx);
    }
  }
}

#endif
