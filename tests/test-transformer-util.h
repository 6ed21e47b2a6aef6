/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-transformer-util.h — random Transformer models for tests (included by
 * test-transformer.c and test-speculative.c). */
#pragma once

#include <math.h>

#include "core/ar-gguf.h"
#include "core/ar-rng.h"
#include "text/ar-text.h"
#include "transformer/ar-transformer.h"

typedef struct
{
  ArTransformerArch arch;
  guint L, D, F, H, Hkv, C, V;
  gboolean tied, fused, biases;
  ArTensorType type; /* storage of the matrices */
} Spec;

static void
add_random (ArGgufWriter *w, const char *name, ArTensorType type, guint rows,
    guint cols, float mean, float std, ArRng *rng)
{
  gsize n = (gsize) rows * cols;
  g_autofree float *v = g_new (float, n);
  for (gsize i = 0; i < n; i++)
    v[i] = mean + std * ar_rng_normal (rng);
  if (rows == 1) {
    const guint64 ne[1] = { cols };
    ar_gguf_writer_add_tensor_f32 (w, name, AR_TENSOR_F32, 1, ne, v);
  } else {
    const guint64 ne[2] = { cols, rows };
    ar_gguf_writer_add_tensor_f32 (w, name, type, 2, ne, v);
  }
}

/* A random model of @sp as GGUF bytes, with a byte vocabulary when V is
 * 256, else with @chars (V <= 94) a character vocabulary of the V printable
 * ASCII characters from '!', else none.  With @nar_slots > 0 (llama shape,
 * @chars), a non-autoregressive ("nar") model instead: bidirectional, V + 1
 * embedding and classifier rows (the last the mask token), nar.slots =
 * @nar_slots.  Matrices ~ N (0, 1 / cols), so attention logits are
 * O (1). */
static GBytes *
make_model_full (const Spec *sp_in, guint64 seed, gboolean chars,
    guint nar_slots)
{
  Spec spec = *sp_in;
  const Spec *sp = &spec;
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  gboolean gpt = sp->arch == AR_TRANSFORMER_GPT;
  guint hs = sp->D / sp->H, KV = sp->Hkv * hs;
  ArTransformerConfig c = {
    sp->arch,
    sp->L,
    sp->D,
    sp->F,
    sp->H,
    sp->Hkv,
    sp->C,
    sp->V,
    hs,
    10000.0f,
    1e-5f,
    sp->tied,
  };
  ArRng rng;
  char n[64];

  ar_rng_init (&rng, seed);
  if (nar_slots > 0) {
    c.bidirectional = TRUE;
    c.n_vocab = sp->V + 1;
  }
  ar_transformer_config_write (&c, w);
  if (nar_slots > 0) {
    ar_gguf_writer_set_u32 (w, "nar.mask_token_id", sp->V);
    ar_gguf_writer_set_u32 (w, "nar.slots", nar_slots);
  }
  if (sp->V == 256) {
    ar_gguf_writer_set_string (w, "tokenizer.ggml.model", "byte");
  } else if (chars) {
    char text[95];
    g_autoptr (ArVocab) vocab = NULL;

    g_assert_cmpuint (sp->V, <=, 94);
    for (guint i = 0; i < sp->V; i++)
      text[i] = (char) ('!' + i);
    vocab = ar_vocab_new_chars (text, sp->V, NULL);
    g_assert_nonnull (vocab);
    ar_vocab_write_gguf (vocab, w);
  }
  /* the tensors have a row more for the mask token */
  if (nar_slots > 0)
    spec.V++;
  add_random (w, "token_embd.weight", sp->type, sp->V, sp->D, 0, 1, &rng);
  if (gpt)
    add_random (w, "position_embd.weight", sp->type, sp->C, sp->D, 0, 0.5f,
        &rng);
  for (guint l = 0; l < sp->L; l++) {
#define BLK(what) (g_snprintf (n, sizeof n, "blk.%u." what, l), n)
    float sd = 1.0f / sqrtf (sp->D), sf = 1.0f / sqrtf (sp->F);
    add_random (w, BLK ("attn_norm.weight"), 0, 1, sp->D, 1, 0.1f, &rng);
    add_random (w, BLK ("ffn_norm.weight"), 0, 1, sp->D, 1, 0.1f, &rng);
    if (gpt) {
      add_random (w, BLK ("attn_norm.bias"), 0, 1, sp->D, 0, 0.1f, &rng);
      add_random (w, BLK ("ffn_norm.bias"), 0, 1, sp->D, 0, 0.1f, &rng);
    }
    if (sp->fused) {
      add_random (w, BLK ("attn_qkv.weight"), sp->type, sp->D + 2 * KV, sp->D,
          0, sd, &rng);
      if (sp->biases)
        add_random (w, BLK ("attn_qkv.bias"), 0, 1, sp->D + 2 * KV, 0, 0.1f,
            &rng);
    } else {
      add_random (w, BLK ("attn_q.weight"), sp->type, sp->D, sp->D, 0, sd,
          &rng);
      add_random (w, BLK ("attn_k.weight"), sp->type, KV, sp->D, 0, sd, &rng);
      add_random (w, BLK ("attn_v.weight"), sp->type, KV, sp->D, 0, sd, &rng);
      if (sp->biases) {
        add_random (w, BLK ("attn_q.bias"), 0, 1, sp->D, 0, 0.1f, &rng);
        add_random (w, BLK ("attn_k.bias"), 0, 1, KV, 0, 0.1f, &rng);
        add_random (w, BLK ("attn_v.bias"), 0, 1, KV, 0, 0.1f, &rng);
      }
    }
    add_random (w, BLK ("attn_output.weight"), sp->type, sp->D, sp->D, 0, sd,
        &rng);
    if (!gpt)
      add_random (w, BLK ("ffn_gate.weight"), sp->type, sp->F, sp->D, 0, sd,
          &rng);
    add_random (w, BLK ("ffn_up.weight"), sp->type, sp->F, sp->D, 0, sd, &rng);
    add_random (w, BLK ("ffn_down.weight"), sp->type, sp->D, sp->F, 0, sf,
        &rng);
    if (sp->biases) {
      add_random (w, BLK ("attn_output.bias"), 0, 1, sp->D, 0, 0.1f, &rng);
      add_random (w, BLK ("ffn_up.bias"), 0, 1, sp->F, 0, 0.1f, &rng);
      add_random (w, BLK ("ffn_down.bias"), 0, 1, sp->D, 0, 0.1f, &rng);
    }
#undef BLK
  }
  add_random (w, "output_norm.weight", 0, 1, sp->D, 1, 0.1f, &rng);
  if (gpt)
    add_random (w, "output_norm.bias", 0, 1, sp->D, 0, 0.1f, &rng);
  if (!sp->tied)
    add_random (w, "output.weight", sp->type, sp->V, sp->D, 0,
        1.0f / sqrtf (sp->D), &rng);
  return ar_gguf_writer_to_bytes (w);
}


static G_GNUC_UNUSED GBytes *
make_model_vocab (const Spec *sp, guint64 seed, gboolean chars)
{
  return make_model_full (sp, seed, chars, 0);
}

/* make_model_vocab () without a character vocabulary. */
static G_GNUC_UNUSED GBytes *
make_model (const Spec *sp, guint64 seed)
{
  return make_model_vocab (sp, seed, FALSE);
}
