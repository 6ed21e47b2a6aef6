/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-train.c — the shared training loop: AdamW, schedule, clipping,
 * validation, atomic checkpoints and exact resume. */
#include "ar-train.h"
#include "nn/ar-nn.h"

#include <math.h>
#include <string.h>

struct _ArTrainer
{
  ArTrainable model;
  gpointer self;
  ArTrainOptions options;
  ArAdamW adamw;
  ArRng rng;                    /* batches: the only randomness after init */
  guint64 step;                 /* steps done */
  float loss_avg;
  float best_val;                /* float: as stored in checkpoints */
  GPtrArray *meta_keys, *meta_values;
};

ArTrainer *
ar_trainer_new (const ArTrainable *model, gpointer self, const ArTrainOptions *options)
{
  ArTrainer *tr = g_new0 (ArTrainer, 1);
  tr->model = *model;
  tr->self = self;
  tr->options = *options;
  tr->adamw = (ArAdamW) AR_ADAMW_INIT;
  tr->adamw.weight_decay = options->weight_decay;
  /* The batch stream is seeded apart from the initialisation stream the
   * caller used, so both are functions of --seed alone. */
  ar_rng_init (&tr->rng, options->seed ^ G_GUINT64_CONSTANT (0x9e3779b97f4a7c15));
  tr->loss_avg = NAN;
  tr->best_val = NAN;
  tr->meta_keys = g_ptr_array_new_with_free_func (g_free);
  tr->meta_values = g_ptr_array_new_with_free_func (g_free);
  return tr;
}

void
ar_trainer_free (ArTrainer *tr)
{
  if (tr == NULL)
    return;
  g_ptr_array_unref (tr->meta_keys);
  g_ptr_array_unref (tr->meta_values);
  g_free (tr);
}

const ArTrainOptions *
ar_trainer_get_options (const ArTrainer *tr)
{
  return &tr->options;
}

guint64
ar_trainer_get_step (const ArTrainer *tr)
{
  return tr->step;
}

double
ar_trainer_get_best_val (const ArTrainer *tr)
{
  return tr->best_val;
}

void
ar_trainer_set_metadata (ArTrainer *tr, const char *key, const char *value)
{
  g_return_if_fail (tr != NULL && key != NULL && value != NULL);

  /* GGUF strings are UTF-8 and the writer refuses others; values often come
   * from file names, which need not be, so bad bytes become U+FFFD rather
   * than the key vanishing from every saved file */
  char *valid = g_utf8_make_valid (value, -1);

  for (guint i = 0; i < tr->meta_keys->len; i++)
    if (strcmp (g_ptr_array_index (tr->meta_keys, i), key) == 0) {
      g_free (tr->meta_values->pdata[i]);
      tr->meta_values->pdata[i] = valid;
      return;
    }
  g_ptr_array_add (tr->meta_keys, g_strdup (key));
  g_ptr_array_add (tr->meta_values, valid);
}

static void
write_model (ArTrainer *tr, ArGgufWriter *w)
{
  tr->model.write_model (tr->self, w);
  for (guint i = 0; i < tr->meta_keys->len; i++)
    ar_gguf_writer_set_string (w, g_ptr_array_index (tr->meta_keys, i),
        g_ptr_array_index (tr->meta_values, i));
}

gboolean
ar_trainer_save_model (ArTrainer *tr, const char *path, GError **error)
{
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  write_model (tr, w);
  return ar_gguf_writer_write_file (w, path, error);
}

/* Whether the model file stores @p transformed (ArTrainable.transformed):
 * then the checkpoint keeps it as trained in "opt.w.NAME". */
static gboolean
stored_transformed (const ArTrainer *tr, const ArParam *p)
{
  return tr->model.transformed != NULL &&
      g_strv_contains ((const char *const *) tr->model.transformed, p->name);
}

gboolean
ar_trainer_save_checkpoint (ArTrainer *tr, const char *path, GError **error)
{
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  write_model (tr, w);
  const ArTrainOptions *o = &tr->options;
  ar_gguf_writer_set_u64 (w, "train.step", tr->step);
  ar_gguf_writer_set_u64_array (w, "train.rng", tr->rng.s, 4);
  ar_gguf_writer_set_f32 (w, "train.loss_avg", tr->loss_avg);
  if (!isnan (tr->best_val))
    ar_gguf_writer_set_f32 (w, "train.best_val", tr->best_val);
  ar_gguf_writer_set_u64 (w, "train.steps", o->steps);
  ar_gguf_writer_set_u64 (w, "train.warmup", o->warmup);
  ar_gguf_writer_set_f32 (w, "train.lr", o->lr);
  ar_gguf_writer_set_f32 (w, "train.lr_min", o->lr_min);
  ar_gguf_writer_set_f32 (w, "train.weight_decay", o->weight_decay);
  ar_gguf_writer_set_f32 (w, "train.grad_clip", o->grad_clip);
  ar_gguf_writer_set_u64 (w, "train.eval_every", o->eval_every);
  ar_gguf_writer_set_u64 (w, "train.checkpoint_every", o->checkpoint_every);
  ar_gguf_writer_set_u64 (w, "train.seed", o->seed);
  for (guint i = 0; i < tr->model.params->len; i++) {
    ArParam *p = g_ptr_array_index (tr->model.params, i);
    g_autofree char *m = g_strconcat ("opt.m.", p->name, NULL);
    g_autofree char *v = g_strconcat ("opt.v.", p->name, NULL);
    ar_gguf_writer_add_tensor_f32 (w, m, AR_TENSOR_F32, p->n_dims, p->ne, p->m);
    ar_gguf_writer_add_tensor_f32 (w, v, AR_TENSOR_F32, p->n_dims, p->ne, p->v);
    if (stored_transformed (tr, p)) {
      g_autofree char *raw = g_strconcat ("opt.w.", p->name, NULL);
      ar_gguf_writer_add_tensor_f32 (w, raw, AR_TENSOR_F32, p->n_dims, p->ne,
          p->w);
    }
  }
  return ar_gguf_writer_write_file (w, path, error);
}

static gboolean
restore_param (const ArGguf *g, const char *name, ArParam *p, float *dst, GError **error)
{
  const ArGgufTensor *t = ar_gguf_require_tensor (g, name, p->n_dims, p->ne, error);
  if (t == NULL)
    return FALSE;
  if (t->type != AR_TENSOR_F32) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: checkpoint tensor '%s' is %s; a checkpoint keeps F32 to resume exactly",
        ar_gguf_get_name (g), name, ar_tensor_type_name (t->type));
    return FALSE;
  }
  ar_gguf_tensor_to_f32 (t, dst);
  return TRUE;
}

/* FALSE + @code naming the option (as @where: the run, or the checkpoint
 * it came from) when a rate is not a finite number >= 0 (a NaN one turned
 * every weight NaN at the first update, unnoticed when that was the last
 * step), lr_min is above lr, or the clip is NaN or negative (+infinity: no
 * clipping, like 0). */
static gboolean
check_options (const ArTrainOptions *o, const char *where, gint code,
    GError **error)
{
  const struct
  {
    const char *name;
    float value;
  } rates[] = {
    { "lr", o->lr }, { "lr_min", o->lr_min },
    { "weight_decay", o->weight_decay },
  };

  for (guint i = 0; i < G_N_ELEMENTS (rates); i++) {
    if (!(isfinite (rates[i].value) && rates[i].value >= 0.0f)) {
      g_set_error (error, AR_ERROR, code,
          "%s: option %s is %g; expected a finite number >= 0",
          where, rates[i].name, rates[i].value);
      return FALSE;
    }
  }
  /* the cosine falls from lr to lr_min: a floor above the peak raised the
   * rate all through the run */
  if (o->lr_min > o->lr) {
    g_set_error (error, AR_ERROR, code,
        "%s: option lr_min is %g, above lr %g; expected at most lr",
        where, o->lr_min, o->lr);
    return FALSE;
  }
  if (!(o->grad_clip >= 0.0f)) {
    g_set_error (error, AR_ERROR, code,
        "%s: option grad_clip is %g; expected a number >= 0 "
        "(0 = no clipping)", where, o->grad_clip);
    return FALSE;
  }
  return TRUE;
}

gboolean
ar_trainer_resume (ArTrainer *tr, const char *checkpoint, GError **error)
{
  g_autoptr (ArGguf) g = ar_gguf_new_from_file (checkpoint, error);
  if (g == NULL)
    return FALSE;
  ArTrainOptions o = tr->options;
  const guint64 *rng;
  guint64 n_rng;
  guint64 step;
  float loss_avg;
  if (!ar_gguf_get_u64 (g, "train.step", &step, error)
      || !ar_gguf_get_u64_array (g, "train.rng", &rng, &n_rng, error)
      || !ar_gguf_get_f32 (g, "train.loss_avg", &loss_avg, error)
      || !ar_gguf_get_u64 (g, "train.steps", &o.steps, error)
      || !ar_gguf_get_u64 (g, "train.warmup", &o.warmup, error)
      || !ar_gguf_get_f32 (g, "train.lr", &o.lr, error)
      || !ar_gguf_get_f32 (g, "train.lr_min", &o.lr_min, error)
      || !ar_gguf_get_f32 (g, "train.weight_decay", &o.weight_decay, error)
      || !ar_gguf_get_f32 (g, "train.grad_clip", &o.grad_clip, error)
      || !ar_gguf_get_u64 (g, "train.eval_every", &o.eval_every, error)
      || !ar_gguf_get_u64 (g, "train.checkpoint_every", &o.checkpoint_every, error)
      || !ar_gguf_get_u64 (g, "train.seed", &o.seed, error))
    return FALSE;
  if (!check_options (&o, checkpoint, AR_ERROR_MODEL, error))
    return FALSE;
  float best_val = NAN;
  if (ar_gguf_has_key (g, "train.best_val")
      && !ar_gguf_get_f32 (g, "train.best_val", &best_val, error))
    return FALSE;
  if (n_rng != 4) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: train.rng has %" G_GUINT64_FORMAT " values, expected 4", checkpoint, n_rng);
    return FALSE;
  }
  /* xoshiro256** never reaches the all-zero state and never leaves it:
   * every draw would be 0, and ar_rng_below () would loop forever */
  if ((rng[0] | rng[1] | rng[2] | rng[3]) == 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: train.rng is all zero, which is no state of the generator",
        checkpoint);
    return FALSE;
  }
  for (guint i = 0; i < tr->model.params->len; i++) {
    ArParam *p = g_ptr_array_index (tr->model.params, i);
    g_autofree char *m = g_strconcat ("opt.m.", p->name, NULL);
    g_autofree char *v = g_strconcat ("opt.v.", p->name, NULL);
    g_autofree char *w = stored_transformed (tr, p)
        ? g_strconcat ("opt.w.", p->name, NULL) : g_strdup (p->name);
    if (!restore_param (g, w, p, p->w, error)
        || !restore_param (g, m, p, p->m, error)
        || !restore_param (g, v, p, p->v, error))
      return FALSE;
  }
  tr->options = o;
  tr->adamw.weight_decay = o.weight_decay;
  memcpy (tr->rng.s, rng, sizeof tr->rng.s);
  tr->step = step;
  tr->loss_avg = loss_avg;
  tr->best_val = best_val;
  return TRUE;
}

gboolean
ar_trainer_run (ArTrainer *tr, const char *checkpoint, ArTrainCallback callback,
    gpointer user_data, const volatile gint *stop, GError **error)
{
  const ArTrainOptions *o = &tr->options;
  GPtrArray *params = tr->model.params;
  g_autoptr (GTimer) timer = g_timer_new ();
  guint64 first = tr->step;

  if (!check_options (o, "training", AR_ERROR_INVALID, error))
    return FALSE;
  if (tr->model.check != NULL && !tr->model.check (tr->self, error))
    return FALSE;
  while (tr->step < o->steps) {
    ArTrainProgress pr = { 0 };
    ar_params_zero_grad (params);
    pr.loss = tr->model.step (tr->self, &tr->rng);
    if (!isfinite (pr.loss)) {
      g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
          "training diverged at step %" G_GUINT64_FORMAT " (loss %g): lower the learning rate",
          tr->step + 1, pr.loss);
      return FALSE;
    }
    pr.grad_norm = ar_params_clip_grad_norm (params,
        o->grad_clip > 0 ? o->grad_clip : INFINITY);
    tr->step++;
    pr.lr = ar_lr_warmup_cosine (tr->step, o->warmup, o->steps, o->lr, o->lr_min);
    ar_adamw_step (&tr->adamw, params, tr->step, pr.lr);
    tr->loss_avg = isnan (tr->loss_avg) ? pr.loss : 0.98f * tr->loss_avg + 0.02f * pr.loss;

    pr.step = tr->step;
    pr.steps = o->steps;
    pr.loss_avg = tr->loss_avg;
    pr.val_loss = NAN;
    gboolean last = tr->step == o->steps;
    if (last || (o->eval_every && tr->step % o->eval_every == 0))
      pr.val_loss = tr->model.evaluate (tr->self);
    if (!isnan (pr.val_loss) && (isnan (tr->best_val) || (float) pr.val_loss < tr->best_val)) {
      tr->best_val = (float) pr.val_loss;
      pr.val_best = TRUE;
    }
    pr.elapsed = g_timer_elapsed (timer, NULL);
    guint64 done = tr->step - first;
    pr.units_per_s = pr.elapsed > 0 ? done * (double) tr->model.units_per_step / pr.elapsed : 0;
    pr.eta = done ? pr.elapsed / done * (o->steps - tr->step) : 0;

    gboolean saved = FALSE;
    if (checkpoint && (last || (o->checkpoint_every && tr->step % o->checkpoint_every == 0))) {
      if (!ar_trainer_save_checkpoint (tr, checkpoint, error))
        return FALSE;
      pr.checkpoint = checkpoint;
      saved = TRUE;
    }
    if (callback)
      callback (&pr, user_data);
    if (stop && *stop) {
      if (checkpoint && !saved && !ar_trainer_save_checkpoint (tr, checkpoint, error))
        return FALSE;
      g_set_error (error, AR_ERROR, AR_ERROR_CANCELLED,
          "interrupted after step %" G_GUINT64_FORMAT, tr->step);
      return FALSE;
    }
  }
  return TRUE;
}
