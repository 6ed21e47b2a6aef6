/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-pixelcnn.c — PixelCNN sampling speed in images per second, for a
 * model file or the default shape (AR_PIXELCNN_CONFIG_DEFAULT) with random
 * weights:
 *   - cached sampling on one thread, images one at a time (batch 1);
 *   - cached sampling of batches of 16 images over --threads threads (0 =
 *     every processor), the images shared among the threads;
 *   - the naive loop (the full network once per pixel).  A whole naive
 *     image takes minutes, so it is timed on --naive-pixels pixels: a
 *     completion that knows every pixel but those runs the naive loop's
 *     full forward pass exactly once per unknown pixel, and an image costs
 *     H × W of them;
 * and the ratio of cached to naive.  Each figure is the best of --repeat
 * runs (the machine is shared); the sampling figures also give images per
 * CPU second of the process, what quiet cores would do.
 *
 * training: with --train, the training graph's images per second (forward
 * and backward, batch --batch, --threads threads), best of --repeat steps.
 *
 * usage: bench-pixelcnn [--model M.gguf] [--images 16] [--threads 0]
 *                       [--naive-pixels 4] [--repeat 3] [--train]
 *                       [--batch 32] */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/ar-rng.h"
#include "core/ar-threadpool.h"
#include "nn/ar-nn.h"
#include "pixelcnn/ar-pixelcnn-train.h"
#include "pixelcnn/ar-pixelcnn.h"

/* CPU seconds of the whole process (every thread). */
static double
cpu_seconds (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Seconds for @n images drawn @batch at a time (best of @repeat); *cpu
 * receives the CPU seconds of that run. */
static double
time_sampling (ArPixelCnn *pc, ArThreadPool *pool, int n, int batch, int repeat,
    double *cpu)
{
  const ArPixelCnnConfig *c = ar_pixelcnn_get_config (pc);
  g_autoptr (ArPixelCnnGen) g = ar_pixelcnn_gen_new (pc);
  g_autofree guint8 *out = g_new (guint8, (gsize) batch * c->height * c->width);
  double best = G_MAXDOUBLE;

  ar_pixelcnn_gen_set_threadpool (g, pool);
  /* a first batch allocates the threads' work spaces */
  ar_pixelcnn_gen_reset (g, 1);
  ar_pixelcnn_gen_sample (g, out, batch, NULL);
  for (int r = 0; r < repeat; r++) {
    g_autoptr (GTimer) timer = g_timer_new ();
    double c0 = cpu_seconds ();
    for (int i = 0; i < n; i += batch)
      ar_pixelcnn_gen_sample (g, out, MIN (batch, n - i), NULL);
    double t = g_timer_elapsed (timer, NULL);
    if (t < best) {
      best = t;
      *cpu = cpu_seconds () - c0;
    }
  }
  return best;
}

/* Seconds per pixel of the naive loop (best of @repeat). */
static double
time_naive_pixel (ArPixelCnn *pc, int pixels, int repeat)
{
  const ArPixelCnnConfig *c = ar_pixelcnn_get_config (pc);
  gsize HW = (gsize) c->height * c->width;
  g_autoptr (ArPixelCnnGen) g = ar_pixelcnn_gen_new (pc);
  g_autofree guint8 *img = g_new0 (guint8, HW);
  g_autofree guint8 *known = g_new (guint8, HW);
  double best = G_MAXDOUBLE;

  pixels = MIN ((gsize) pixels, HW);
  memset (known, 1, HW);
  memset (known + HW - pixels, 0, pixels); /* the last pixels are drawn */
  ar_pixelcnn_gen_set_naive (g, TRUE);
  for (int r = 0; r < repeat; r++) {
    g_autoptr (GTimer) timer = g_timer_new ();
    ar_pixelcnn_gen_complete (g, img, known, 1, NULL);
    best = MIN (best, g_timer_elapsed (timer, NULL));
  }
  return best / pixels;
}

static void
bench_train (const ArPixelCnnConfig *c, int batch, int threads, int repeat)
{
  g_autoptr (ArPixelCnnTrain) t = ar_pixelcnn_train_new (c, batch, threads);
  gsize HW = (gsize) c->height * c->width;
  g_autofree guint8 *img = g_new (guint8, batch * HW);
  g_autofree gint32 *cls = g_new0 (gint32, batch);
  double best = G_MAXDOUBLE;
  ArRng rng;

  ar_rng_init (&rng, 1);
  ar_pixelcnn_train_init (t, &rng);
  for (gsize i = 0; i < batch * HW; i++)
    img[i] = (guint8) ar_rng_below (&rng, 256);
  for (int b = 0; b < batch && c->classes > 0; b++)
    cls[b] = b % c->classes;
  for (int r = 0; r < repeat + 1; r++) {
    g_autoptr (GTimer) timer = g_timer_new ();
    ar_params_zero_grad (ar_pixelcnn_train_get_params (t));
    ar_pixelcnn_train_forward (t, img, cls, batch, TRUE);
    if (r > 0) /* the first allocates the work spaces */
      best = MIN (best, g_timer_elapsed (timer, NULL));
  }
  printf ("training, batch %d, %d threads: %.1f images/s (%.0f ms a step; "
          "%.2f G multiply-adds/s for forward + backward at 3x forward)\n",
      batch, ar_pixelcnn_train_get_n_threads (t), batch / best, best * 1e3,
      3.0 * batch * HW * ar_pixelcnn_config_macs_per_pixel (c) / best / 1e9);
}

int
main (int argc, char **argv)
{
  g_autofree char *model = NULL;
  gint images = 16, threads = 0, naive_pixels = 4, repeat = 3, batch = 32;
  gboolean train = FALSE;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model,
        "Model file (default: the default shape, random weights)", "M.gguf" },
    { "images", 'n', 0, G_OPTION_ARG_INT, &images,
        "Images per timed run (default 16)", "N" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads,
        "Threads of the batched runs, 0 = every processor (default 0)", "N" },
    { "naive-pixels", 0, 0, G_OPTION_ARG_INT, &naive_pixels,
        "Pixels the naive loop is timed on (default 4)", "N" },
    { "repeat", 'r', 0, G_OPTION_ARG_INT, &repeat,
        "Runs per figure, the best kept (default 3)", "N" },
    { "train", 0, 0, G_OPTION_ARG_NONE, &train,
        "Time the training graph instead", NULL },
    { "batch", 0, 0, G_OPTION_ARG_INT, &batch, "Training batch (default 32)",
        "B" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx =
      g_option_context_new ("— PixelCNN sampling speed");
  GError *error = NULL;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || images < 1 ||
      threads < 0 || naive_pixels < 1 || repeat < 1 || batch < 1) {
    fprintf (stderr, "bench-pixelcnn: %s\n",
        error ? error->message : "options out of range");
    return 2;
  }
  g_autoptr (ArPixelCnn) pc = NULL;
  if (model != NULL) {
    g_autoptr (ArGguf) f = ar_gguf_new_from_file (model, &error);
    if (f != NULL)
      pc = ar_pixelcnn_new_from_gguf (f, &error);
  } else {
    ArPixelCnnConfig c = AR_PIXELCNN_CONFIG_DEFAULT;
    pc = ar_pixelcnn_new_random (&c, 1, &error);
  }
  if (pc == NULL) {
    fprintf (stderr, "bench-pixelcnn: %s\n", error->message);
    return 1;
  }
  const ArPixelCnnConfig *c = ar_pixelcnn_get_config (pc);
  guint64 macs = ar_pixelcnn_config_macs_per_pixel (c);
  gsize HW = (gsize) c->height * c->width;
  printf ("%s: %d × %d, %d levels, %d layers of %d features, kernels %d and "
          "%d, output %d, %d classes; %.1f k multiply-adds a pixel, %.1f M an "
          "image\n",
      model ? model : "default shape (random weights)", c->width, c->height,
      c->levels, c->layers, c->features, c->first_kernel, c->kernel,
      c->output_hidden, c->classes, macs / 1e3, macs * HW / 1e6);
  if (train) {
    bench_train (c, batch, threads, repeat);
    return 0;
  }

  g_autoptr (ArThreadPool) pool = ar_threadpool_new (threads);
  int nt = ar_threadpool_get_n_threads (pool);
  double c1, cb;
  double t1 = time_sampling (pc, NULL, images, 1, repeat, &c1);
  double tb = time_sampling (pc, pool, images, 16, repeat, &cb);
  double tn = time_naive_pixel (pc, naive_pixels, repeat) * HW;
  double r1 = images / t1, rb = images / tb, rn = 1.0 / tn;

  /* on a shared machine the wall clock also counts the other processes'
   * time slices: images per CPU second say what a quiet core does */
  printf ("cached, 1 thread, batch 1:     %8.2f images/s  (%.2f G "
          "multiply-adds/s; %.2f images per CPU second)\n",
      r1, r1 * macs * HW / 1e9, images / c1);
  printf ("cached, %d threads, batch 16:   %8.2f images/s  (%.2f G "
          "multiply-adds/s; %.2f images per CPU second)\n",
      nt, rb, rb * macs * HW / 1e9, images / cb);
  printf ("naive, 1 thread:               %8.4f images/s  (%.1f s an image, "
          "from %d pixels)\n",
      rn, tn, naive_pixels);
  printf ("cached / naive, 1 thread:      %8.0f x\n", r1 / rn);
  return 0;
}
