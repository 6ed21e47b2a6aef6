/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-llama2c.h — conversion of Karpathy's llama2.c checkpoints (MODEL.bin
 * with its TOKENIZER.bin) to "llama" GGUF models with llama.cpp's names.
 *
 * llama2.c checkpoint: 7 int32 (dim, hidden_dim, n_layers, n_heads,
 * n_kv_heads, vocab_size — negative when a separate classifier follows —
 * seq_len), then float32 tensors, each stacked over layers: token
 * embedding (V, D), attention RMSNorm (L, D), wq (L, D, D), wk (L, Hkv*hs,
 * D), wv (L, Hkv*hs, D), wo (L, D, D), FFN RMSNorm (L, D), w1 (L, F, D), w2
 * (L, D, F), w3 (L, F, D), final RMSNorm (D), two unused RoPE tables of
 * seq_len * hs / 2 floats each, then the classifier (V, D) when separate.
 * Every size is checked against the file length before anything is read.
 * This is the legacy format that llama2.c's run.c reads (export.py
 * --version 0); the versioned exports (magic "ak42") are refused as such.
 *
 * llama2.c tokenizer: u32 max_token_length, then per token f32 score, i32
 * byte length, the bytes.  Spaces are stored as spaces (llama2.c's exporter
 * replaced SentencePiece's ▁); ids 0, 1, 2 are <unk>, <s> (stored as
 * "\n<s>\n"), </s> ("\n</s>\n"); <0xNN> pieces are bytes.
 *
 * Mapping: w1 → ffn_gate, w3 → ffn_up, w2 → ffn_down, wq/wk/wv/wo → attn_q/k/
 * v/output, RMSNorms → attn_norm, ffn_norm, output_norm; the classifier →
 * output.weight only when separate (tied otherwise).  llama2.c's rotary
 * layout already is llama.cpp's adjacent-pair one, so no row permutation is
 * needed.  Pieces get ▁ for spaces, ids 1 and 2 become "<s>" and "</s>", and
 * token types are set (unknown, control, byte, normal) as llama.cpp writes
 * them; BOS 1, EOS 2; RMSNorm epsilon 1e-5 and rotary base 10000, llama2.c's
 * constants. */
#pragma once

#include <glib.h>
#include "core/ar-gguf.h"

G_BEGIN_DECLS

/* Adds the model keys, tensors and vocabulary to @w.  Matrices are stored
 * as @type (F32, F16, Q8_0 or Q4_0; a quantised matrix whose rows are not a
 * multiple of 32 values is stored as F16 instead); vectors stay F32.  Every
 * weight must be finite, and stay finite once stored (an F16 holds at most
 * 65504; a quantised block's scale is an F16).  Errors name the file and what
 * was expected versus found; on error @w is left as it was.
 * The paths need not be UTF-8 (messages and general.name use their display
 * names). */
gboolean ar_llama2c_convert (const char *model_path, const char *tokenizer_path,
    ArTensorType type, ArGgufWriter *w, GError **error);
/* The same from the two files' contents, which need no alignment:
 * @model_name and @tokenizer_name (UTF-8) name them in messages, and the
 * base name of @model_name is general.name. */
gboolean ar_llama2c_convert_bytes (GBytes *model, const char *model_name,
    GBytes *tokenizer, const char *tokenizer_name, ArTensorType type,
    ArGgufWriter *w, GError **error);

G_END_DECLS
