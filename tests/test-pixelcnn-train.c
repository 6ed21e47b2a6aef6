/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-pixelcnn-train.c — the PixelCNN training graph: its logits are the
 * inference model's (through a written file), every parameter's gradient
 * agrees with finite differences of the loss, threads do not change a bit,
 * an interrupted run resumes exactly, and a tiny model overfits two images. */
#include "pixelcnn/ar-pixelcnn-train.h"
#include "test-util.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

/* 3 layers of 3 features, kernels 3 and 3, 2 classes on 4 × 5 images. */
static const ArPixelCnnConfig tiny = { 5, 4, 1, 256, 3, 3, 3, 3, 5, 2 };

/* Every parameter random, biases and class tables included (the trainer's
 * initialisation leaves those 0, which would hide their terms). */
static void
randomise (ArPixelCnnTrain *t, guint64 seed)
{
  GPtrArray *params = ar_pixelcnn_train_get_params (t);
  ArRng rng;

  ar_rng_init (&rng, seed);
  for (guint i = 0; i < params->len; i++) {
    ArParam *p = g_ptr_array_index (params, i);
    float std = p->decay ? 1.0f / sqrtf ((float) p->ne[0]) : 0.3f;
    ar_param_init_normal (p, &rng, std);
  }
}

static void
random_images (guint8 *img, gsize n, guint64 seed)
{
  ArRng rng;
  ar_rng_init (&rng, seed);
  for (gsize i = 0; i < n; i++)
    img[i] = (guint8) ar_rng_below (&rng, 256);
}

static void
test_logits_match_inference (void)
{
  ArPixelCnnConfig c = { 9, 7, 1, 256, 3, 6, 5, 3, 8, 3 };
  enum
  {
    B = 5
  };
  gsize HW = (gsize) c.height * c.width;
  g_autoptr (ArPixelCnnTrain) t = ar_pixelcnn_train_new (&c, B, 2);
  g_autofree guint8 *img = g_new (guint8, B * HW);
  gint32 cls[B] = { 0, 2, 1, 1, 0 };
  g_autofree float *a = g_new (float, B *HW *c.levels);
  g_autofree float *b = g_new (float, HW *c.levels);
  GError *error = NULL;

  randomise (t, 1);
  random_images (img, B * HW, 2);
  ar_pixelcnn_train_logits (t, img, cls, B, a);
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  ar_pixelcnn_train_write (t, NULL, w);
  g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
  g_autoptr (ArGguf) f = ar_gguf_new_from_bytes (bytes, "trained", &error);
  g_assert_no_error (error);
  g_autoptr (ArPixelCnn) pc = ar_pixelcnn_new_from_gguf (f, &error);
  g_assert_no_error (error);
  double worst = 0.0;
  for (int i = 0; i < B; i++) {
    ar_pixelcnn_forward (pc, img + i * HW, cls[i], b);
    for (gsize k = 0; k < HW * c.levels; k++) {
      float x = a[i * HW * c.levels + k], y = b[k];
      double err = fabs (x - y) / (1e-4 + 1e-4 * fabs (y));
      worst = MAX (worst, err);
      if (!(err <= 1.0))
        g_error ("image %d logit %" G_GSIZE_FORMAT ": training %.7g, "
                 "inference %.7g",
            i, k, x, y);
    }
  }
  g_test_message ("worst logit difference %.3f of tolerance", worst);
  /* the weights come back from the file */
  g_autoptr (ArPixelCnnTrain) t2 = ar_pixelcnn_train_new (&c, B, 1);
  g_assert_true (ar_pixelcnn_train_load_weights (t2, f, &error));
  g_assert_no_error (error);
  test_assert_same_params (ar_pixelcnn_train_get_params (t),
      ar_pixelcnn_train_get_params (t2));
  /* the NLL sum is the logits' */
  double nll = ar_pixelcnn_train_nll_sum (t, img, cls, B), ref = 0.0;
  for (gsize p = 0; p < B * HW; p++) {
    const float *l = a + p * c.levels;
    double mx = l[0], s = 0.0;
    for (int q = 1; q < c.levels; q++)
      mx = MAX (mx, l[q]);
    for (int q = 0; q < c.levels; q++)
      s += exp (l[q] - mx);
    ref += log (s) + mx - l[img[p]];
  }
  g_assert_cmpfloat_with_epsilon (nll, ref, 1e-6 * ref);
  /* another shape is refused */
  ArPixelCnnConfig other = c;
  other.features = 4;
  g_autoptr (ArPixelCnnTrain) t3 = ar_pixelcnn_train_new (&other, B, 1);
  g_assert_false (ar_pixelcnn_train_load_weights (t3, f, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_MODEL);
  g_clear_error (&error);
}

/* The mean NLL in nats, summed in double (less rounding noise than the
 * float the forward pass returns). */
static double
mean_loss (ArPixelCnnTrain *t, const guint8 *img, const gint32 *cls, int B)
{
  const ArPixelCnnConfig *c = ar_pixelcnn_train_get_config (t);
  return ar_pixelcnn_train_nll_sum (t, img, cls, B) /
      ((double) B * c->height * c->width);
}

/* data: the number of levels (256 or 2) */
static void
test_grad (gconstpointer data)
{
  ArPixelCnnConfig c = tiny;
  enum
  {
    B = 5
  }; /* two tasks: 4 images and 1 */
  gsize HW = (gsize) c.height * c.width;
  guint8 img[B * 20];
  gint32 cls[B] = { 1, 0, 1, 1, 0 };
  const double eps = 1e-3, rtol = 1e-2, atol = 3e-4;

  c.levels = GPOINTER_TO_INT (data);
  g_autoptr (ArPixelCnnTrain) t = ar_pixelcnn_train_new (&c, B, 1);
  GPtrArray *params = ar_pixelcnn_train_get_params (t);
  g_assert_cmpuint (HW, ==, 20);
  randomise (t, 3);
  random_images (img, sizeof img, 4);
  ar_params_zero_grad (params);
  float loss = ar_pixelcnn_train_forward (t, img, cls, B, TRUE);
  g_assert_cmpfloat_with_epsilon (loss, mean_loss (t, img, cls, B), 1e-5);

  /* Small steps (1e-3): the loss has kinks (the output's relus), and a
   * larger step that crosses one gives a wrong quotient (2e-3 already does
   * for a few entries).  The float rounding of the logits (a few 1e-7)
   * then shows as ~1e-4 in the quotient: the absolute tolerance. */
  for (guint i = 0; i < params->len; i++) {
    ArParam *p = g_ptr_array_index (params, i);
    gsize step = p->n <= 48 ? 1 : (p->n / 24) | 1, checked = 0;
    double worst = 0.0;

    for (gsize j = 0; j < p->n;
         j = j + step < p->n || j == p->n - 1 ? j + step : p->n - 1) {
      float saved = p->w[j];
      double lp, lm, num, a = p->g[j], ratio;

      p->w[j] = saved + (float) eps;
      lp = mean_loss (t, img, cls, B);
      p->w[j] = saved - (float) eps;
      lm = mean_loss (t, img, cls, B);
      p->w[j] = saved;
      num = (lp - lm) /
          ((double) (saved + (float) eps) - (double) (saved - (float) eps));
      ratio = fabs (a - num) / (rtol * MAX (fabs (a), fabs (num)) + atol);
      if (!(ratio <= 1.0))
        g_error ("%s[%" G_GSIZE_FORMAT "]: analytic %.7g, finite difference "
                 "%.7g",
            p->name, j, a, num);
      worst = MAX (worst, ratio);
      checked++;
    }
    g_test_message ("%s: %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT
                    " entries, worst %.3f of tolerance",
        p->name, checked, p->n, worst);
  }
}

static void
test_threads (void)
{
  ArPixelCnnConfig c = tiny;
  enum
  {
    B = 9
  }; /* three tasks */
  guint8 img[B * 20];
  gint32 cls[B] = { 1, 0, 1, 1, 0, 0, 0, 1, 1 };
  g_autoptr (ArPixelCnnTrain) a = ar_pixelcnn_train_new (&c, B, 1);
  g_autoptr (ArPixelCnnTrain) b = ar_pixelcnn_train_new (&c, B, 3);

  g_assert_cmpint (ar_pixelcnn_train_get_n_threads (b), ==, 3);
  randomise (a, 5);
  randomise (b, 5);
  random_images (img, sizeof img, 6);
  ar_params_zero_grad (ar_pixelcnn_train_get_params (a));
  ar_params_zero_grad (ar_pixelcnn_train_get_params (b));
  float la = ar_pixelcnn_train_forward (a, img, cls, B, TRUE);
  float lb = ar_pixelcnn_train_forward (b, img, cls, B, TRUE);
  g_assert_cmpmem (&la, sizeof la, &lb, sizeof lb);
  GPtrArray *pa = ar_pixelcnn_train_get_params (a);
  GPtrArray *pb = ar_pixelcnn_train_get_params (b);
  for (guint i = 0; i < pa->len; i++) {
    ArParam *x = g_ptr_array_index (pa, i), *y = g_ptr_array_index (pb, i);
    g_assert_cmpmem (x->g, x->n * sizeof (float), y->g, y->n * sizeof (float));
  }
}

/* ---- the task and the trainer ---------------------------------------------- */

/* Two 6 × 6 images of two classes (a bright square, a dark bar) repeated. */
static ArImageSet *
toy_set (int n)
{
  ArImageSet *s = g_new0 (ArImageSet, 1);

  s->n = n;
  s->height = s->width = 6;
  s->pixels = g_new0 (guint8, (gsize) n * 36);
  s->labels = g_new0 (gint32, n);
  s->n_classes = 2;
  for (int i = 0; i < n; i++) {
    s->labels[i] = i % 2;
    for (int p = 0; p < 36; p++) {
      int r = p / 6, c = p % 6;
      s->pixels[i * 36 + p] = i % 2 == 0
          ? (r >= 1 && r <= 4 && c >= 1 && c <= 4 ? 240 : 10)
          : (c == 2 || c == 3 ? 30 : 200);
    }
  }
  return s;
}

typedef struct
{
  ArImageSet *data;
  ArPixelCnnTask *task;
  ArTrainer *trainer;
} Run;

static const ArPixelCnnConfig toy = { 6, 6, 1, 256, 2, 8, 3, 3, 16, 2 };

static void
run_init (Run *r, guint64 steps, guint64 seed, int n_threads)
{
  const char *names[] = { "square", "bars" };

  r->data = toy_set (8);
  r->task = ar_pixelcnn_task_new (&toy, r->data, r->data, names, 6, n_threads);
  ArRng rng;
  ar_rng_init (&rng, seed);
  ar_pixelcnn_train_init (ar_pixelcnn_task_get_net (r->task), &rng);
  ArTrainOptions o = AR_TRAIN_OPTIONS_INIT;
  o.steps = steps;
  o.warmup = 5;
  o.lr = 1e-2f;
  o.eval_every = 0;
  o.checkpoint_every = 0;
  o.seed = seed;
  r->trainer =
      ar_trainer_new (ar_pixelcnn_task_get_trainable (r->task), r->task, &o);
}

static void
run_clear (Run *r)
{
  ar_trainer_free (r->trainer);
  ar_pixelcnn_task_free (r->task);
  ar_image_set_free (r->data);
}

static void
stop_at_7 (const ArTrainProgress *p, gpointer user_data)
{
  if (p->step == 7)
    *(volatile gint *) user_data = 1;
}

static void
test_resume_is_exact (void)
{
  g_autofree char *dir = g_dir_make_tmp ("argen-pcnn-XXXXXX", NULL);
  g_autofree char *ckpt = g_build_filename (dir, "run.ckpt", NULL);
  GError *error = NULL;
  Run straight, first, resumed;

  run_init (&straight, 15, 3, 2);
  g_assert_true (ar_trainer_run (straight.trainer, NULL, NULL, NULL, NULL,
      &error));
  g_assert_no_error (error);

  run_init (&first, 15, 3, 1);
  volatile gint stop = 0;
  g_assert_false (ar_trainer_run (first.trainer, ckpt, stop_at_7,
      (gpointer) &stop, &stop, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_CANCELLED);
  g_clear_error (&error);
  run_clear (&first);
  /* the checkpoint is a model the generator loads, class names included */
  g_autoptr (ArGguf) f = ar_gguf_new_from_file (ckpt, &error);
  g_assert_no_error (error);
  g_autoptr (ArPixelCnn) pc = ar_pixelcnn_new_from_gguf (f, &error);
  g_assert_no_error (error);
  g_assert_cmpint (ar_pixelcnn_find_class (pc, "bars"), ==, 1);

  run_init (&resumed, 15, 99, 2);
  g_assert_true (ar_trainer_resume (resumed.trainer, ckpt, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ar_trainer_get_step (resumed.trainer), ==, 7);
  g_assert_true (ar_trainer_run (resumed.trainer, ckpt, NULL, NULL, NULL,
      &error));
  g_assert_no_error (error);
  test_assert_same_params (
      ar_pixelcnn_train_get_params (ar_pixelcnn_task_get_net (straight.task)),
      ar_pixelcnn_train_get_params (ar_pixelcnn_task_get_net (resumed.task)));
  run_clear (&straight);
  run_clear (&resumed);
  g_unlink (ckpt);
  g_rmdir (dir);
}

/* A small model learns two images almost by heart: from 8 bits per pixel
 * (uniform) to well under 1. */
static void
test_overfit (void)
{
  Run r;
  GError *error = NULL;

  run_init (&r, 80, 1, 1); /* one thread: cheaper under valgrind */
  double before = ar_pixelcnn_task_evaluate (r.task, r.data, 0, 2);
  g_assert_true (ar_trainer_run (r.trainer, NULL, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  double after = ar_pixelcnn_task_evaluate (r.task, r.data, 0, 2);
  g_test_message ("bits/dim %.3f → %.3f", before, after);
  g_assert_cmpfloat (before, >, 7.0);
  g_assert_cmpfloat (after, <, 1.0);
  run_clear (&r);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/pixelcnn-train/logits-match-inference",
      test_logits_match_inference);
  g_test_add_data_func ("/pixelcnn-train/grad/256", GINT_TO_POINTER (256),
      test_grad);
  g_test_add_data_func ("/pixelcnn-train/grad/2", GINT_TO_POINTER (2),
      test_grad);
  g_test_add_func ("/pixelcnn-train/threads", test_threads);
  g_test_add_func ("/pixelcnn-train/resume-is-exact", test_resume_is_exact);
  g_test_add_func ("/pixelcnn-train/overfit", test_overfit);
  return g_test_run ();
}
