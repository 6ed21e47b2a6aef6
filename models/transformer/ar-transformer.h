/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-transformer.h — the Transformer text family: decoder-only blocks in the
 * two common shapes, inference with a KV cache.
 *
 *   g_autoptr (ArGguf) f = ar_gguf_new_from_file ("stories260K.gguf", &error);
 *   g_autoptr (ArTransformer) t = ar_transformer_new_from_gguf (f, &error);
 *   g_autoptr (ArTransformerState) s = ar_transformer_state_new (t);
 *   const float *logits = ar_transformer_forward (t, s, bos);   // (V)
 *   ... sample a token, feed it back with ar_transformer_forward () ...
 *
 * Shapes (D = embedding, H query heads, Hkv key/value heads, hs = D / H head
 * size, F feed-forward, V vocabulary, C context):
 *
 *   llama:  x = token_embd[t]
 *           per block: x += Wo · attn (rope (Wq · rms (x)), rope (Wk · rms (x)), Wv · rms (x))
 *                      x += Wdown · (silu (Wgate · rms (x)) * (Wup · rms (x)))
 *           logits = output · rms (x)                    (RMSNorm without bias)
 *   gpt:    x = token_embd[t] + position_embd[pos]
 *           per block: x += Wo · attn (Wq · ln (x), Wk · ln (x), Wv · ln (x)) + bo
 *                      x += Wdown · gelu (Wup · ln (x) + bup) + bdown
 *           logits = output · ln (x)                     (LayerNorm with bias)
 *
 * Attention is causal, softmax (q·k / sqrt (hs)), with grouped-query sharing:
 * query head h reads key/value head h / (H / Hkv).  GELU is the tanh form
 * (GPT-2's).  Rotary embeddings rotate adjacent pairs (x[2i], x[2i+1]) of the
 * first n_rot dimensions of every head by pos * theta_i, theta_i =
 * freq_base^(-2i / n_rot) — llama.cpp's "normal" rope and llama2.c's.
 *
 * Model file, general.architecture = "llama" (llama.cpp's conventions, so its
 * files load as they are):
 *   llama.context_length                      u32  C
 *   llama.embedding_length                    u32  D
 *   llama.block_count                         u32  L
 *   llama.feed_forward_length                 u32  F
 *   llama.attention.head_count                u32  H
 *   llama.attention.head_count_kv             u32  Hkv (default H)
 *   llama.attention.layer_norm_rms_epsilon    f32  (default 1e-5)
 *   llama.rope.freq_base                      f32  (default 10000)
 *   llama.rope.dimension_count                u32  n_rot (default hs)
 * general.architecture = "gpt" (ours): gpt.context_length,
 * gpt.embedding_length, gpt.block_count, gpt.feed_forward_length,
 * gpt.attention.head_count, gpt.attention.head_count_kv (default H),
 * gpt.attention.layer_norm_epsilon (default 1e-5).
 *
 * Tensors (ne as in GGUF, innermost first; all matrices F32, F16, Q8_0 or
 * Q4_0, read in place from the file mapping; vectors F32 or F16):
 *   token_embd.weight          { D, V }
 *   position_embd.weight       { D, C }        gpt only
 *   blk.N.attn_norm.weight     { D }           (.bias { D }: gpt, required)
 *   blk.N.attn_q.weight        { D, D }        (gpt may instead have one fused
 *   blk.N.attn_k.weight        { D, Hkv*hs }    blk.N.attn_qkv.weight
 *   blk.N.attn_v.weight        { D, Hkv*hs }    { D, D + 2 Hkv*hs }, rows q|k|v)
 *   blk.N.attn_output.weight   { D, D }
 *   blk.N.ffn_norm.weight      { D }           (.bias: gpt)
 *   blk.N.ffn_gate.weight      { D, F }        llama only
 *   blk.N.ffn_up.weight        { D, F }
 *   blk.N.ffn_down.weight      { F, D }
 *   output_norm.weight         { D }           (.bias: gpt)
 *   output.weight              { D, V }        absent: tied to token_embd
 * Optional biases { rows } on every matrix (attn_q.bias, ..., ffn_down.bias;
 * attn_qkv.bias for the fused form); absent means zero.
 *
 * Rotary layout.  llama.cpp's converter from Hugging Face checkpoints permutes
 * the rows of attn_q and attn_k so that the adjacent-pair rotation above gives
 * the same result as HF's rotate-half; GGUF files therefore already hold the
 * adjacent-pair layout and we read them as they are.  llama2.c checkpoints
 * were exported in that same layout, so `argen convert llama2c` copies their
 * wq / wk unchanged.
 *
 * Context and the sliding window.  A state's KV cache holds C positions
 * (capped at AR_TRANSFORMER_MAX_CONTEXT).  When a token arrives with the cache
 * full, the state keeps the most recent C / 2 tokens (rounded down),
 * recomputes their keys and values at positions 0 .. C/2 - 1, and processes
 * the new token at position C/2.  So at any time the logits are exactly (up
 * to float summation order) those of a fresh run over the tokens that
 * ar_transformer_state_get_tokens() lists: both rotary and learned positions
 * stay within what the model was trained on, and nothing depends on dropped
 * tokens.  (A ring buffer whose positions keep increasing would be cheaper,
 * but the cached keys and values of deeper layers would still carry the
 * dropped tokens' influence, so it is not exactly any window's result.)  The
 * recomputation costs C / 2 cached steps every C / 2 tokens — about one extra
 * step per generated token — with the classifier skipped. */
#pragma once

#include <glib.h>
#include "core/ar-gguf.h"
#include "core/ar-kernels.h"
#include "core/ar-threadpool.h"
#include "text/ar-text.h"

G_BEGIN_DECLS

#define AR_TRANSFORMER_MAX_LAYERS 1024
#define AR_TRANSFORMER_MAX_DIM 65536 /* D, F */
#define AR_TRANSFORMER_MAX_HEADS 1024
#define AR_TRANSFORMER_MAX_VOCAB (1 << 22)
/* The KV cache of a state never holds more positions than this, whatever the
 * file's context_length says; longer streams slide (see above). */
#define AR_TRANSFORMER_MAX_CONTEXT 8192

typedef enum
{
  AR_TRANSFORMER_LLAMA, /* RMSNorm, rotary, SwiGLU, no biases */
  AR_TRANSFORMER_GPT,   /* LayerNorm + bias, learned positions, GELU */
} ArTransformerArch;

/* The hyper-parameters; the same struct describes a training graph. */
typedef struct
{
  ArTransformerArch arch;
  guint n_layers;       /* L */
  guint n_embd;         /* D */
  guint n_ff;           /* F */
  guint n_head;         /* H, divides D */
  guint n_head_kv;      /* Hkv, divides H */
  guint n_ctx;          /* C, as in the file (the cache holds up to the max) */
  guint n_vocab;        /* V */
  guint n_rot;          /* rotary dimensions per head (llama), even, <= hs */
  float rope_freq_base; /* llama */
  float norm_eps;       /* RMSNorm / LayerNorm epsilon */
  gboolean tied_output; /* the classifier is token_embd */
  /* Attention sees every position, not only earlier ones: the
   * non-autoregressive encoder (models/nar).  Stored as
   * general.architecture = "nar" with llama's keys under "nar." (llama
   * shape only).  Such a model runs ar_transformer_encode () and the
   * oracles, not the cached step. */
  gboolean bidirectional;
} ArTransformerConfig;

/* "llama" or "gpt" */
const char *ar_transformer_arch_name (ArTransformerArch arch);
/* general.architecture of a configuration: "nar" when bidirectional, else
 * the arch name; also the prefix of its keys. */
const char *ar_transformer_config_architecture (const ArTransformerConfig *c);
/* Head size D / H. */
guint ar_transformer_config_head_size (const ArTransformerConfig *config);
/* Checks ranges and divisibility; AR_ERROR_INVALID names the offending size. */
gboolean ar_transformer_config_check (const ArTransformerConfig *config,
    GError **error);
/* Reads general.architecture ("llama", "gpt" or "nar"), the keys above and V (from token_embd.weight)
 * and whether output.weight exists. */
gboolean ar_transformer_config_from_gguf (ArTransformerConfig *config,
    const ArGguf *gguf, GError **error);
/* Writes general.architecture and the model keys (not tensors, not the
 * vocabulary). */
void ar_transformer_config_write (const ArTransformerConfig *config,
    ArGgufWriter *w);

/* The text family table entries (architectures "llama" and "gpt"). */
extern const ArTextFamily ar_transformer_llama_family;
extern const ArTextFamily ar_transformer_gpt_family;

/* ---- inference -------------------------------------------------------- */

/* A weight matrix as stored: rows × cols in its storage type, row-major
 * (F32: float, F16: guint16, Q8_0: cols / 32 ArBlockQ8_0 per row, Q4_0:
 * cols / 32 ArBlockQ4_0 per row). */
typedef struct
{
  ArTensorType type;
  const void *data;
  guint rows, cols;
} ArMatrix;

typedef struct _ArTransformer ArTransformer;
typedef struct _ArTransformerState ArTransformerState;

/* Binds every tensor (shapes checked, values finite); matrices stay in the
 * mapping, so @gguf must outlive the model. */
ArTransformer *ar_transformer_new_from_gguf (const ArGguf *gguf,
    GError **error);
void ar_transformer_free (ArTransformer *t);
const ArTransformerConfig *ar_transformer_get_config (const ArTransformer *t);
/* Positions a state's KV cache holds: min (n_ctx, AR_TRANSFORMER_MAX_CONTEXT). */
guint ar_transformer_get_cache_length (const ArTransformer *t);

/* One allocation for the activations and the KV cache (2 L C Hkv hs floats),
 * plus min (32, C) rows of every activation for batched prompts. */
ArTransformerState *ar_transformer_state_new (const ArTransformer *t);
void ar_transformer_state_free (ArTransformerState *s);
/* Empties the cache. */
void ar_transformer_state_reset (ArTransformerState *s);
/* Makes @dest (a state of the same model) continue exactly as @src would:
 * the same window, cache contents and last logits.  Copies only the filled
 * positions of the cache (beam search clones states every token).  @dest
 * keeps its own thread pool. */
void ar_transformer_state_copy (ArTransformerState *dest,
    const ArTransformerState *src);
/* Splits the matrix-vector products of matrices of at least
 * AR_THREADPOOL_MIN_WEIGHTS weights over @pool's threads (NULL: none, the
 * default).  The logits are bit for bit the same with any pool.  @pool is
 * not owned and must outlive its use by @s. */
void ar_transformer_state_set_threadpool (ArTransformerState *s,
    ArThreadPool *pool);
/* The tokens the next logits are conditioned on, oldest first (*n of them):
 * what the cache holds. */
const gint32 *ar_transformer_state_get_tokens (const ArTransformerState *s,
    guint *n);

/* Appends @token to the stream (sliding the window if the cache is full) and
 * returns the logits (V) for the next token, owned by @s and valid until the
 * next call.  Never allocates. */
const float *ar_transformer_forward (const ArTransformer *t,
    ArTransformerState *s, guint token);
/* Appends @n >= 1 tokens; returns the logits after the last one, as n
 * forward calls would.  Much cheaper: up to 32 tokens at a time go through
 * each block together, and every projection reads its weights once for all
 * of them — F32 matrices in one cblas_sgemm (its sums come out in another
 * order than the matrix-vector kernels': equal up to float rounding), F16,
 * Q8_0 and Q4_0 ones with the token path's own kernels 64 rows at a time
 * over every token (bit for bit the token path's products, split over the
 * state's thread pool when large).  Attention is causal within the batch
 * and over the cache; the last block after its keys and values and the
 * classifier run for the last token only.  The window slides as for
 * forward(), and the slide's recomputation is batched the same way.  Never
 * allocates. */
const float *ar_transformer_forward_prompt (const ArTransformer *t,
    ArTransformerState *s, const gint32 *tokens, guint n);

/* ---- verification and rollback (speculative decoding) ------------------ */

/* Positions the cache can still take before the window slides. */
guint ar_transformer_state_get_room (const ArTransformerState *s);
/* Appends up to @n >= 1 tokens and writes the logits after each of them,
 * logits (n, V), row i bit for bit what forward() returns after token i.
 * When the cache is full it first slides (as forward() would), then takes
 * min (n, room) tokens; returns how many it took (>= 1).  The tokens go
 * through the blocks together as in forward_prompt() (every matrix read
 * once for all of them), but every product with the token path's own
 * kernels, F32 included, so that the results are exact.  Causal models
 * only. */
guint ar_transformer_forward_all (const ArTransformer *t,
    ArTransformerState *s, const gint32 *tokens, guint n, float *logits);
/* Forgets the last @n tokens (n <= the tokens held): the state continues as
 * if they had never been appended.  The last logits are then undefined
 * until the next forward. */
void ar_transformer_state_rewind (ArTransformerState *s, guint n);

/* ---- the bidirectional encoder (config.bidirectional) ------------------- */

/* Runs tokens[0 .. n), 1 <= n <= cache length, as one sequence from an
 * empty state, every position attending over all n, and writes the logits
 * of every position, logits (n, V).  Products are batched (F32 through
 * cblas_sgemm): equal to ar_transformer_forward_full_all () up to float
 * rounding.  The state's cache is left holding this sequence. */
void ar_transformer_encode (const ArTransformer *t, ArTransformerState *s,
    const gint32 *tokens, guint n, float *logits);

/* ---- oracles ------------------------------------------------------------ */

/* The oracle: logits (V) for the next token after tokens[0 .. n), 1 <= n <=
 * cache length, computed with no cache at all — every position of every
 * layer from scratch, attention with an explicit causal mask (none for a
 * bidirectional model).  Allocates; for tests and for measuring what the
 * cache saves. */
void ar_transformer_forward_full (const ArTransformer *t, const gint32 *tokens,
    guint n, float *logits);
/* The same, writing the logits of every position, logits (n, V). */
void ar_transformer_forward_full_all (const ArTransformer *t,
    const gint32 *tokens, guint n, float *logits);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArTransformer, ar_transformer_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArTransformerState, ar_transformer_state_free)

G_END_DECLS
