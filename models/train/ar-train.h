/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-train.h — the training loop every family shares.
 *
 * A family provides an ArTrainable: its parameters, a step that draws a batch
 * (from the RNG it is given) and accumulates gradients, an evaluation of the
 * held-out data in its natural unit, and a writer for its model file.  The
 * trainer owns the rest: AdamW with a warm-up + cosine schedule, gradient
 * clipping, periodic validation, and checkpoints.
 *
 * A checkpoint is a complete model file (the family's keys and weights, so
 * `argen info` and the elements read it) plus the optimiser's moments as tensors
 * "opt.m.NAME" / "opt.v.NAME" (and "opt.w.NAME", the weights as trained, for
 * those the file stores transformed) and the loop's state as keys "train.*" (step, RNG
 * state, options).  It is written atomically.  Resuming restores all of it, so
 * an interrupted run that resumes ends with exactly the weights of an
 * uninterrupted one (bit for bit, with the same number of BLAS threads).
 *
 * Nothing here prints: progress goes to a callback. */
#pragma once

#include <glib.h>
#include "core/ar-gguf.h"
#include "core/ar-rng.h"

G_BEGIN_DECLS

typedef struct
{
  guint64 steps;                /* total optimisation steps */
  guint64 warmup;               /* linear warm-up steps */
  float lr;                     /* peak learning rate */
  float lr_min;                 /* final learning rate (cosine floor), <= lr */
  float weight_decay;           /* AdamW decoupled decay */
  float grad_clip;              /* global L2 norm limit; 0 = none */
  guint64 eval_every;           /* steps between validations; 0 = only at the end */
  guint64 checkpoint_every;     /* steps between checkpoints; 0 = only at the end */
  guint64 seed;
} ArTrainOptions;

#define AR_TRAIN_OPTIONS_INIT { 1000, 100, 2e-3f, 1e-4f, 0.01f, 1.0f, 200, 200, 1 }

typedef struct
{
  const char *unit;             /* of the loss, e.g. "nats/char" */
  const char *units_per_s_name; /* e.g. "chars/s" */
  guint64 units_per_step;       /* e.g. characters predicted per step */
  GPtrArray *params;            /* (element-type ArParam) */
  /* Draws a batch with @rng, runs forward and backward (gradients are zeroed
   * before the call); returns the mean training loss. */
  float (*step) (gpointer self, ArRng *rng);
  /* The held-out loss; NAN when there is no held-out data. */
  double (*evaluate) (gpointer self);
  /* The model file's keys and weights. */
  void (*write_model) (gpointer self, ArGgufWriter *w);
  /* The names of the parameters write_model() stores transformed, not as
   * trained (NULL-terminated; NULL: none) — the WaveNet vocoder folds its
   * mel normalisation into cond.weight and cond.bias.  Checkpoints keep
   * them as trained too, as tensors "opt.w.NAME", which a resume reads: an
   * inverse transform would not give the same floats back. */
  const char *const *transformed;
  /* Optional (NULL: always): whether the data let the task train, asked by
   * ar_trainer_run () before its first step; FALSE + error naming what is
   * missing, e.g. a training text too short for one window. */
  gboolean (*check) (gpointer self, GError **error);
} ArTrainable;

typedef struct
{
  guint64 step, steps;
  float loss;                   /* this step's training loss */
  float loss_avg;               /* exponential moving average (0.98) */
  double val_loss;              /* NAN unless this step ran a validation */
  gboolean val_best;            /* val_loss is the lowest of the run so far */
  float lr;
  float grad_norm;              /* before clipping */
  double units_per_s;           /* over this run (since start or resume) */
  double elapsed;               /* seconds in this run */
  double eta;                   /* seconds to the last step */
  const char *checkpoint;       /* non-NULL when this step wrote one */
} ArTrainProgress;

typedef void (*ArTrainCallback) (const ArTrainProgress *progress, gpointer user_data);

typedef struct _ArTrainer ArTrainer;

ArTrainer *ar_trainer_new (const ArTrainable *model, gpointer self, const ArTrainOptions *options);
void ar_trainer_free (ArTrainer *tr);
const ArTrainOptions *ar_trainer_get_options (const ArTrainer *tr);
guint64 ar_trainer_get_step (const ArTrainer *tr);
/* The lowest validation loss so far (kept in checkpoints); NAN before any. */
double ar_trainer_get_best_val (const ArTrainer *tr);
/* Restores weights, moments, step, RNG and options from a checkpoint written
 * by the same family and shape. */
gboolean ar_trainer_resume (ArTrainer *tr, const char *checkpoint, GError **error);
gboolean ar_trainer_save_checkpoint (ArTrainer *tr, const char *path, GError **error);
/* The model alone (no optimiser state). */
gboolean ar_trainer_save_model (ArTrainer *tr, const char *path, GError **error);
/* Runs to options->steps.  @checkpoint (may be NULL) is written every
 * checkpoint_every steps, at the end, and when *@stop becomes non-zero — then
 * it returns FALSE with AR_ERROR_CANCELLED.  The callback runs after every step,
 * before the stop flag is read. */
gboolean ar_trainer_run (ArTrainer *tr, const char *checkpoint, ArTrainCallback callback,
    gpointer user_data, const volatile gint *stop, GError **error);
/* A string key written into every file this trainer saves (e.g. general.name,
 * general.description, general.source.data).  A @value that is not UTF-8
 * (a file name may not be) is stored with U+FFFD for its invalid bytes. */
void ar_trainer_set_metadata (ArTrainer *tr, const char *key, const char *value);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArTrainer, ar_trainer_free)

G_END_DECLS
