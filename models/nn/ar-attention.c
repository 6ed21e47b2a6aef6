/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-attention.c — multi-head self-attention with grouped-query heads over
 * (T, B) batches, causal (the decoder) or bidirectional (the
 * non-autoregressive encoder of models/nar), and rotary position
 * embeddings, each with its backward pass, for training.
 *
 * Layout: the T * B rows of Q (H * hs values), K and V (Hkv * hs), time
 * outermost, each at a caller-given distance from the next — in the
 * training graph they are the three parts of the rows of one fused q|k|v
 * projection.  The T rows of one head of one stream are therefore a
 * strided matrix (leading dimension B times the row distance), which
 * cblas_sgemm reads as it is: nothing is copied into a per-head layout.
 *
 * Where the time goes, per (stream, head), in row blocks of R = ATTN_BLOCK
 * queries so that the causal mask skips most of the upper triangle:
 *   forward : S = Q_blk · K[0, r1)ᵀ / sqrt (hs)   one sgemm (R, r1, hs)
 *             P = softmax of each row over its first t + 1 entries
 *             O_blk = P · V[0, r1)                one sgemm (R, hs, r1)
 *   backward: S and P again from the saved log-sum-exp, then
 *             dP = dO_blk · V[0, r1)ᵀ,  dV[0, r1) += Pᵀ · dO_blk,
 *             dS = P ⊙ (dP - rowsum (dO ⊙ O)),
 *             dQ_blk = dS · K[0, r1) / sqrt (hs),  dK[0, r1) += dSᵀ · Q_blk / sqrt (hs)
 * With T = 128 and R = 32 the products cover 5/8 of the full T × T.
 * Bidirectional attention is the same code with every block reaching r1 =
 * T and no row masked (t + 1 replaced by T).  The
 * attention weights are recomputed in backward (FlashAttention's trade)
 * instead of being kept: B · H · T² floats per layer would be the largest
 * activation of the model (8 MB per layer at B = 32, H = 4, T = 128), while
 * recomputing costs one sgemm of the five and the exponentials, which go
 * through the SIMD kernel of ar-kernels.h. */
#include "ar-nn.h"
#include "ar-pointwise-simd.h"
#include "../core/ar-kernels.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* new_floats (n), spelled as a function so that clang-format reads the size
 * as an expression */
static float *
new_floats (gsize n)
{
  return g_new (float, n);
}

/* Query rows per block; see the top of the file. */
#define ATTN_BLOCK 32

/* C (m, n) = alpha op(A) op(B), what cblas_sgemm computes with beta = 0.
 * For beta = 0 OpenBLAS clears C first with one scalar store per element,
 * a noticeable share of these small products; clearing the rows with memset
 * and adding into them (beta = 1) gives the same numbers sooner. */
static void
gemm_set (CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k,
    float alpha, const float *A, int lda, const float *B, int ldb, float *C,
    int ldc)
{
  for (int i = 0; i < m; i++)
    memset (C + (gsize) i * ldc, 0, (gsize) n * sizeof (float));
  cblas_sgemm (CblasRowMajor, ta, tb, m, n, k, alpha, A, lda, B, ldb, 1.0f, C,
      ldc);
}

/* ---- rotary embeddings ---------------------------------------------------- */

void
ar_nn_rope_table (float *cos_t, float *sin_t, int T, int n_rot, float freq_base)
{
  g_return_if_fail (cos_t != NULL && sin_t != NULL && T >= 0);
  g_return_if_fail (n_rot >= 2 && n_rot % 2 == 0 && freq_base > 0.0f);
  int half = n_rot / 2;

  /* the same float expressions as rope_angles () in ar-transformer.c, so
   * the training graph rotates by exactly the angles inference uses */
  for (int i = 0; i < half; i++) {
    float freq = 1.0f / powf (freq_base, (float) (2 * i) / n_rot);

    for (int t = 0; t < T; t++) {
      float angle = (guint) t * freq;

      cos_t[(gsize) t * half + i] = cosf (angle);
      sin_t[(gsize) t * half + i] = sinf (angle);
    }
  }
}

/* Rotates every head of the T * B rows of X (@ld apart) by +angle (sign 1)
 * or -angle (sign -1). */
static void
rope_rotate (float *X, int ld, const float *cos_t, const float *sin_t, int T,
    int B, int n_heads, int hs, int n_rot, float sign)
{
  int half = n_rot / 2;

#ifdef AR_POINTWISE_HAVE_AVX2
  if (ar_simd_get_level () >= AR_SIMD_AVX2) {
    ar_nn_rope_rotate_avx2 (X, ld, cos_t, sin_t, T, B, n_heads, hs, n_rot,
        sign);
    return;
  }
#endif
  for (int t = 0; t < T; t++) {
    const float *c = cos_t + (gsize) t * half;
    const float *s = sin_t + (gsize) t * half;

    for (int b = 0; b < B; b++)
      for (int h = 0; h < n_heads; h++) {
        float *v = X + ((gsize) t * B + b) * ld + (gsize) h * hs;

        for (int i = 0; i < half; i++) {
          float v0 = v[2 * i], v1 = v[2 * i + 1], si = sign * s[i];

          v[2 * i] = v0 * c[i] - v1 * si;
          v[2 * i + 1] = v0 * si + v1 * c[i];
        }
      }
  }
}

void
ar_nn_rope_forward (float *X, int ld, const float *cos_t, const float *sin_t,
    int T, int B, int n_heads, int hs, int n_rot)
{
  g_return_if_fail (X != NULL && cos_t != NULL && sin_t != NULL);
  g_return_if_fail (T >= 0 && B >= 0 && n_heads >= 1 && ld >= n_heads * hs);
  g_return_if_fail (n_rot >= 2 && n_rot % 2 == 0 && n_rot <= hs);

  rope_rotate (X, ld, cos_t, sin_t, T, B, n_heads, hs, n_rot, 1.0f);
}

/* The rotation is orthogonal: its gradient is the rotation by -angle. */
void
ar_nn_rope_backward (float *dX, int ld, const float *cos_t, const float *sin_t,
    int T, int B, int n_heads, int hs, int n_rot)
{
  g_return_if_fail (dX != NULL && cos_t != NULL && sin_t != NULL);
  g_return_if_fail (T >= 0 && B >= 0 && n_heads >= 1 && ld >= n_heads * hs);
  g_return_if_fail (n_rot >= 2 && n_rot % 2 == 0 && n_rot <= hs);

  rope_rotate (dX, ld, cos_t, sin_t, T, B, n_heads, hs, n_rot, -1.0f);
}

/* ---- attention -------------------------------------------------------------- */

struct _ArAttention
{
  int n_head, n_head_kv, head_size; /* H, Hkv, hs */
  int max_T, max_B;
  gboolean bidirectional; /* every query sees every key of its stream */
  float scale;            /* 1 / sqrt (hs) */
  float *lse;             /* (B, H, T) log Σ_j exp (s_tj) of each query row */
  float *S;               /* (ATTN_BLOCK, max_T) scores, then weights */
  float *dP;              /* (ATTN_BLOCK, max_T) their gradient */
  float *Dt;              /* (max_T) rowsum (dO ⊙ O) of one head */
};

ArAttention *
ar_attention_new (int n_head, int n_head_kv, int head_size, int max_T,
    int max_B)
{
  g_return_val_if_fail (n_head >= 1 && n_head_kv >= 1, NULL);
  g_return_val_if_fail (n_head % n_head_kv == 0 && head_size >= 1, NULL);
  g_return_val_if_fail (max_T >= 1 && max_B >= 1, NULL);
  ArAttention *a = g_new0 (ArAttention, 1);

  a->n_head = n_head;
  a->n_head_kv = n_head_kv;
  a->head_size = head_size;
  a->max_T = max_T;
  a->max_B = max_B;
  a->scale = 1.0f / sqrtf ((float) head_size);
  a->lse = new_floats ((gsize) max_B * n_head * max_T);
  a->S = new_floats ((gsize) ATTN_BLOCK * max_T);
  a->dP = new_floats ((gsize) ATTN_BLOCK * max_T);
  a->Dt = new_floats (max_T);
  return a;
}

void
ar_attention_set_bidirectional (ArAttention *a, gboolean bidirectional)
{
  g_return_if_fail (a != NULL);
  a->bidirectional = bidirectional;
}

gboolean
ar_attention_get_bidirectional (const ArAttention *a)
{
  g_return_val_if_fail (a != NULL, FALSE);
  return a->bidirectional;
}

void
ar_attention_free (ArAttention *a)
{
  if (a == NULL)
    return;
  g_free (a->lse);
  g_free (a->S);
  g_free (a->dP);
  g_free (a->Dt);
  g_free (a);
}

/* The strided views of one (stream b, query head h): row t of the head is at
 * base + t * ld. */
typedef struct
{
  int T, hs;
  gsize ldq, ldkv, ldo;       /* B * ld_q, B * ld_kv, B * H * hs */
  const float *q, *k, *v, *o; /* (T, hs) each, strided */
  float *lse;                 /* (T) */
} HeadView;

static HeadView
head_view (const ArAttention *a, const float *Q, int ld_q, const float *K,
    const float *V, int ld_kv, const float *O, int T, int B, int b, int h)
{
  int hs = a->head_size, g = h / (a->n_head / a->n_head_kv);
  HeadView v;

  v.T = T;
  v.hs = hs;
  v.ldq = (gsize) B * ld_q;
  v.ldkv = (gsize) B * ld_kv;
  v.ldo = (gsize) B * a->n_head * hs;
  v.q = Q + (gsize) b * ld_q + (gsize) h * hs;
  v.k = K + (gsize) b * ld_kv + (gsize) g * hs;
  v.v = V + (gsize) b * ld_kv + (gsize) g * hs;
  v.o = O + ((gsize) b * a->n_head + h) * hs;
  v.lse = a->lse + ((gsize) b * a->n_head + h) * T;
  return v;
}

/* S (m, r1), leading dimension max_T = scale · Q[r0, r0 + m) · K[0, r1)ᵀ */
static void
scores (const ArAttention *a, const HeadView *hv, int r0, int m, int r1)
{
  gemm_set (CblasNoTrans, CblasTrans, m, r1, hv->hs, a->scale,
      hv->q + (gsize) r0 * hv->ldq, (int) hv->ldq, hv->k, (int) hv->ldkv, a->S,
      a->max_T);
}

/* The keys a block of queries [r0, r0 + m) reads: [0, r0 + m) when causal,
 * all T when bidirectional. */
static inline int
block_keys (const ArAttention *a, int r0, int m, int T)
{
  return a->bidirectional ? T : r0 + m;
}

/* The keys query row t sees: 0 .. t when causal, all T when bidirectional. */
static inline int
row_keys (const ArAttention *a, int t, int T)
{
  return a->bidirectional ? T : t + 1;
}

static void
head_forward (ArAttention *a, const HeadView *hv, float *o)
{
  int T = hv->T;

  for (int r0 = 0; r0 < T; r0 += ATTN_BLOCK) {
    int m = MIN (ATTN_BLOCK, T - r0), r1 = block_keys (a, r0, m, T);

    scores (a, hv, r0, m, r1);
    for (int i = 0; i < m; i++) {
      float *s = a->S + (gsize) i * a->max_T, mx = s[0], sum;
      int n = row_keys (a, r0 + i, T); /* visible keys */

      for (int j = 1; j < n; j++)
        mx = MAX (mx, s[j]);
      sum = ar_exp_shift_sum (s, mx, n);
      hv->lse[r0 + i] = mx + logf (sum);
      float inv = 1.0f / sum;
      for (int j = 0; j < n; j++)
        s[j] *= inv;
      /* masked: the product below reads the block's full width r1 */
      memset (s + n, 0, (gsize) (r1 - n) * sizeof (float));
    }
    /* O_blk (m, hs) = P (m, r1) · V[0, r1) */
    gemm_set (CblasNoTrans, CblasNoTrans, m, hv->hs, r1, 1.0f, a->S, a->max_T,
        hv->v, (int) hv->ldkv, o + (gsize) r0 * hv->ldo, (int) hv->ldo);
  }
}

void
ar_attention_forward (ArAttention *a, const float *Q, int ld_q, const float *K,
    const float *V, int ld_kv, float *O, int T, int B)
{
  g_return_if_fail (a != NULL && Q != NULL && K != NULL && V != NULL &&
      O != NULL);
  g_return_if_fail (T >= 1 && T <= a->max_T && B >= 1 && B <= a->max_B);
  g_return_if_fail (ld_q >= a->n_head * a->head_size &&
      ld_kv >= a->n_head_kv * a->head_size);

  for (int b = 0; b < B; b++)
    for (int h = 0; h < a->n_head; h++) {
      HeadView hv = head_view (a, Q, ld_q, K, V, ld_kv, O, T, B, b, h);

      head_forward (a, &hv, O + ((gsize) b * a->n_head + h) * a->head_size);
    }
}

/* Accumulates the head's share into dk, dv (its key/value head's rows,
 * strided as K) and writes its rows of dq (strided as Q). */
static void
head_backward (ArAttention *a, const HeadView *hv, const float *dO, float *dq,
    float *dk, float *dv)
{
  int T = hv->T, hs = hv->hs;
  int ldq = (int) hv->ldq, ldkv = (int) hv->ldkv, ldo = (int) hv->ldo;
  int ldS = a->max_T;

  /* D_t = Σ_i dO_ti O_ti = Σ_j P_tj dP_tj, the softmax's correction term */
  for (int t = 0; t < T; t++) {
    const float *d = dO + (gsize) t * ldo, *o = hv->o + (gsize) t * ldo;
    float s = 0.0f;

    for (int i = 0; i < hs; i++)
      s += d[i] * o[i];
    a->Dt[t] = s;
  }

  for (int r0 = 0; r0 < T; r0 += ATTN_BLOCK) {
    int m = MIN (ATTN_BLOCK, T - r0), r1 = block_keys (a, r0, m, T);
    const float *dO_blk = dO + (gsize) r0 * ldo;

    /* P again: exp (s - lse) is the normalised weight */
    scores (a, hv, r0, m, r1);
    for (int i = 0; i < m; i++) {
      float *s = a->S + (gsize) i * ldS;
      int n = row_keys (a, r0 + i, T);

      ar_exp_shift_sum (s, hv->lse[r0 + i], n);
      memset (s + n, 0, (gsize) (r1 - n) * sizeof (float));
    }
    /* dP (m, r1) = dO_blk · V[0, r1)ᵀ */
    gemm_set (CblasNoTrans, CblasTrans, m, r1, hs, 1.0f, dO_blk, ldo, hv->v,
        ldkv, a->dP, ldS);
    /* dV[0, r1) += Pᵀ · dO_blk */
    cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, r1, hs, m, 1.0f, a->S,
        ldS, dO_blk, ldo, 1.0f, dv, ldkv);
    /* dS = P ⊙ (dP - D_t), in place of dP; zero where P is masked */
    for (int i = 0; i < m; i++) {
      const float *p = a->S + (gsize) i * ldS;
      float *d = a->dP + (gsize) i * ldS, Dt = a->Dt[r0 + i];

      for (int j = 0; j < r1; j++)
        d[j] = p[j] * (d[j] - Dt);
    }
    /* dQ_blk = scale · dS · K[0, r1);  dK[0, r1) += scale · dSᵀ · Q_blk */
    gemm_set (CblasNoTrans, CblasNoTrans, m, hs, r1, a->scale, a->dP, ldS,
        hv->k, ldkv, dq + (gsize) r0 * ldq, ldq);
    cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, r1, hs, m, a->scale,
        a->dP, ldS, hv->q + (gsize) r0 * ldq, ldq, 1.0f, dk, ldkv);
  }
}

void
ar_attention_backward (ArAttention *a, const float *Q, int ld_q, const float *K,
    const float *V, int ld_kv, const float *O, const float *dO, float *dQ,
    float *dK, float *dV, int T, int B)
{
  g_return_if_fail (a != NULL && Q != NULL && K != NULL && V != NULL &&
      O != NULL && dO != NULL && dQ != NULL && dK != NULL && dV != NULL);
  g_return_if_fail (T >= 1 && T <= a->max_T && B >= 1 && B <= a->max_B);
  g_return_if_fail (ld_q >= a->n_head * a->head_size &&
      ld_kv >= a->n_head_kv * a->head_size);
  int hs = a->head_size, H = a->n_head, Hkv = a->n_head_kv;
  gsize kv_width = (gsize) Hkv * hs;

  /* the heads of a group add into the same dK, dV */
  for (gsize r = 0; r < (gsize) T * B; r++) {
    memset (dK + r * ld_kv, 0, kv_width * sizeof (float));
    memset (dV + r * ld_kv, 0, kv_width * sizeof (float));
  }
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++) {
      HeadView hv = head_view (a, Q, ld_q, K, V, ld_kv, O, T, B, b, h);
      gsize qo = (gsize) b * ld_q + (gsize) h * hs;
      gsize kvo = (gsize) b * ld_kv + (gsize) (h / (H / Hkv)) * hs;
      gsize oo = ((gsize) b * H + h) * hs;

      head_backward (a, &hv, dO + oo, dQ + qo, dK + kvo, dV + kvo);
    }
}
