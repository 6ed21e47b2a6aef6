/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-rnn.h — the RNN text family: embedding → N recurrent layers (vanilla
 * RNN, GRU or LSTM) → linear over the vocabulary.
 *
 * Model file (general.architecture = "rnn"):
 *   rnn.cell              string   "rnn" | "gru" | "lstm"
 *   rnn.block_count       u32      recurrent layers, 1..64
 *   rnn.embedding_length  u32      E
 *   rnn.hidden_size       u32      H
 *   tokenizer.*                     the vocabulary (V tokens), see ar-text.h
 * Tensors (ne as in GGUF, innermost first; G = 1, 3 or 4 gates):
 *   token_embd.weight     { E, V }
 *   blk.N.rnn_ih.weight   { I, G*H }   I = E for N = 0, else H
 *   blk.N.rnn_hh.weight   { H, G*H }
 *   blk.N.rnn_ih.bias     { G*H }
 *   blk.N.rnn_hh.bias     { G*H }
 *   output.weight         { H, V }
 *   output.bias           { V }
 * Gate orders and formulas are PyTorch's (see ar-nn.h), so a torch.nn.GRU's
 * weight_ih_l0 etc. convert one to one.  F32, F16, Q8_0 and Q4_0 tensors
 * load (all but F32 are expanded to F32). */
#pragma once

#include <glib.h>
#include "core/ar-gguf.h"
#include "core/ar-rng.h"
#include "core/ar-threadpool.h"
#include "nn/ar-nn.h"
#include "text/ar-text.h"
#include "text/ar-text-data.h"
#include "train/ar-train.h"

G_BEGIN_DECLS

#define AR_RNN_MAX_LAYERS 64
#define AR_RNN_MAX_DIM 16384

typedef struct
{
  ArCellType cell;
  guint n_layers;
  guint n_embd;   /* E */
  guint n_hidden; /* H */
  guint n_vocab;  /* V */
} ArRnnConfig;

/* The text family table entry (architecture "rnn"). */
extern const ArTextFamily ar_rnn_text_family;

/* ---- inference -------------------------------------------------------- */

typedef struct _ArRnn ArRnn;
typedef struct _ArRnnState ArRnnState;

ArRnn *ar_rnn_new_from_gguf (const ArGguf *gguf, GError **error);
void ar_rnn_free (ArRnn *rnn);
const ArRnnConfig *ar_rnn_get_config (const ArRnn *rnn);

ArRnnState *ar_rnn_state_new (const ArRnn *rnn);
void ar_rnn_state_free (ArRnnState *s);
void ar_rnn_state_reset (ArRnnState *s);
/* Makes @dest (a state of the same model) continue exactly as @src would. */
void ar_rnn_state_copy (ArRnnState *dest, const ArRnnState *src);
/* Splits the products of matrices of at least AR_THREADPOOL_MIN_WEIGHTS
 * weights (e.g. W_hh of a GRU of 512 units) over @pool's threads (NULL:
 * none, the default); the logits are bit for bit the same.  Not owned. */
void ar_rnn_state_set_threadpool (ArRnnState *s, ArThreadPool *pool);
/* Consumes @token, returns logits (V) for the next one (owned by @s). */
const float *ar_rnn_step (const ArRnn *rnn, ArRnnState *s, guint token);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArRnn, ar_rnn_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArRnnState, ar_rnn_state_free)

/* ---- training --------------------------------------------------------- */

/* The trainable model: parameters, and activations for sequences of up to
 * max_T steps of max_B streams. */
typedef struct _ArRnnTrain ArRnnTrain;

gboolean ar_rnn_config_check (const ArRnnConfig *config, GError **error);
ArRnnTrain *ar_rnn_train_new (const ArRnnConfig *config, int max_T, int max_B);
void ar_rnn_train_free (ArRnnTrain *t);
void ar_rnn_train_init (ArRnnTrain *t, ArRng *rng);
GPtrArray *
ar_rnn_train_get_params (ArRnnTrain *t); /* (element-type ArParam) not owned */
const ArRnnConfig *ar_rnn_train_get_config (const ArRnnTrain *t);
/* inputs, targets: (T, B) token ids, time outermost.  h0: per layer (B, H)
 * initial states or NULL for zeros (for LSTM, c0 likewise).  Returns the mean
 * cross-entropy in nats; with @backward, accumulates parameter gradients. */
float ar_rnn_train_forward (ArRnnTrain *t, const gint32 *inputs,
    const gint32 *targets, int T, int B, gboolean backward);
/* Carry the final states of the last forward into the next one (stream
 * evaluation), or start from zeros. */
void ar_rnn_train_set_carry (ArRnnTrain *t, gboolean carry);
/* Model keys and weights (not optimiser state) into @w. */
void ar_rnn_train_write (ArRnnTrain *t, ArGgufWriter *w);
/* Copies weights from a model file of the same configuration. */
gboolean ar_rnn_train_load_weights (ArRnnTrain *t, const ArGguf *gguf,
    GError **error);
/* Reads the configuration of an "rnn" model file. */
gboolean ar_rnn_config_from_gguf (ArRnnConfig *config, const ArGguf *gguf,
    GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArRnnTrain, ar_rnn_train_free)

/* ---- a character-level training task ---------------------------------- */

/* Ties an ArRnnTrain to a text corpus for the shared trainer (ar-train.h):
 * steps on B random windows of T characters from zero state (truncated
 * back-propagation through T steps), evaluates the held-out part in nats per
 * character. */
typedef struct _ArRnnTask ArRnnTask;

/* @data is borrowed and must outlive the task.  @eval_window: 0 evaluates the
 * held-out text as B contiguous streams whose state carries across chunks (how
 * the elements generate); N > 0 evaluates windows of N characters, each from
 * a zero state. */
ArRnnTask *ar_rnn_task_new (const ArRnnConfig *config, const ArTextData *data,
    int T, int B, int eval_window);
void ar_rnn_task_free (ArRnnTask *task);
const ArTrainable *ar_rnn_task_get_trainable (ArRnnTask *task);
ArRnnTrain *ar_rnn_task_get_net (ArRnnTask *task);
/* Mean nats per predicted token over ids[from, to) of the task's data (see
 * @eval_window above); *n_predicted (may be NULL) receives how many targets
 * were scored. */
double ar_rnn_task_evaluate (ArRnnTask *task, gsize from, gsize to,
    int eval_window, guint64 *n_predicted);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArRnnTask, ar_rnn_task_free)

G_END_DECLS
