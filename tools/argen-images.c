/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* argen-images.c — `argen images MODEL.gguf --out GRID.png`: draws images
 * from a PixelCNN model into one PNG, a row per class (or --count images of
 * one --class), or completes held-out images below --keep-rows and writes
 * each original beside its completion.  A quick look at what a model has
 * learned, before any pipeline runs it.
 *
 *   argen images fashion.gguf --out grid.png                  # 8 per class
 *   argen images fashion.gguf --class sneaker --count 16 --seed 3 --out s.png
 *   argen images fashion.gguf --complete t10k-images-idx3-ubyte.gz \
 *       --labels t10k-labels-idx1-ubyte.gz --keep-rows 14 --out fill.png */
#include "argen.h"
#include "data/ar-idx.h"
#include "pixelcnn/ar-pixelcnn.h"

#include <cairo.h>
#include <stdio.h>
#include <string.h>

gboolean
argen_image_set_match_classes (ArImageSet *set, const char *path,
    const char *const *names, int n_names, GError **error)
{
  g_autofree int *to = NULL;
  int n_classes = 0;

  if (set->class_names == NULL || set->labels == NULL || n_names == 0)
    return TRUE;
  to = g_new (int, set->n_classes);
  for (int k = 0; k < set->n_classes; k++) {
    const char *name = set->class_names[k];
    char *end;
    gint64 v;

    to[k] = -1;
    for (int j = 0; names != NULL && j < n_names && to[k] < 0; j++)
      if (strcmp (names[j], name) == 0)
        to[k] = j;
    v = g_ascii_strtoll (name, &end, 10);
    if (to[k] < 0 && end != name && *end == '\0' && v >= 0 && v < n_names)
      to[k] = (int) v;
    if (to[k] < 0) {
      g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
          "%s: sub-folder '%s' is not one of the model's %d classes (by name "
          "or index)",
          path, name, n_names);
      return FALSE;
    }
    n_classes = MAX (n_classes, to[k] + 1);
  }
  for (int i = 0; i < set->n; i++)
    set->labels[i] = to[set->labels[i]];
  set->n_classes = n_classes;
  /* the names now are those of the model's classes */
  g_clear_pointer (&set->class_names, g_strfreev);
  return TRUE;
}

/* The size of a grid of @n images (H, W) in @cols columns, each pixel a
 * @scale × @scale square, one pixel of grey between images; FALSE (naming
 * @path) when cairo cannot draw it: its image surfaces, and so its PNGs, are
 * at most 32767 pixels a side. */
static gboolean
grid_size (const char *path, int n, int H, int W, int cols, int scale,
    gint64 *gw, gint64 *gh, GError **error)
{
  gint64 rows = (n + cols - 1) / cols;

  *gw = (gint64) cols * (W * scale + 1) + 1;
  *gh = rows * (H * scale + 1) + 1;
  if (*gw > 32767 || *gh > 32767) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "%s: a grid of %" G_GINT64_FORMAT " × %" G_GINT64_FORMAT " pixels "
        "is larger than a PNG can be drawn (32767 a side): ask for fewer "
        "images (--count) or a smaller --scale",
        path, *gw, *gh);
    return FALSE;
  }
  return TRUE;
}

/* Writes @n images (H, W) as a grid of @cols columns (grid_size ()). */
static gboolean
write_grid (const char *path, const guint8 *images, int n, int H, int W,
    int cols, int scale, GError **error)
{
  gint64 gw, gh;
  cairo_surface_t *s;
  int stride;
  guint8 *data;

  if (!grid_size (path, n, H, W, cols, scale, &gw, &gh, error))
    return FALSE;
  s = cairo_image_surface_create (CAIRO_FORMAT_RGB24, (int) gw, (int) gh);
  if (cairo_surface_status (s) != CAIRO_STATUS_SUCCESS) {
    g_set_error (error, AR_ERROR, AR_ERROR_IO,
        "%s: cannot draw a grid of %" G_GINT64_FORMAT " × %" G_GINT64_FORMAT
        " pixels: %s",
        path, gw, gh, cairo_status_to_string (cairo_surface_status (s)));
    cairo_surface_destroy (s);
    return FALSE;
  }
  stride = cairo_image_surface_get_stride (s);
  cairo_surface_flush (s);
  data = cairo_image_surface_get_data (s);
  for (int y = 0; y < gh; y++)
    for (int x = 0; x < gw; x++)
      ((guint32 *) (data + (gsize) y * stride))[x] = 0x808080;
  for (int k = 0; k < n; k++) {
    int x0 = (k % cols) * (W * scale + 1) + 1,
        y0 = (k / cols) * (H * scale + 1) + 1;
    for (int y = 0; y < H * scale; y++)
      for (int x = 0; x < W * scale; x++) {
        guint32 v =
            images[(gsize) k * H * W + (gsize) (y / scale) * W + x / scale];
        ((guint32 *) (data + (gsize) (y0 + y) * stride))[x0 + x] =
            v << 16 | v << 8 | v;
      }
  }
  cairo_surface_mark_dirty (s);
  cairo_status_t st = cairo_surface_write_to_png (s, path);
  cairo_surface_destroy (s);
  if (st != CAIRO_STATUS_SUCCESS) {
    g_set_error (error, AR_ERROR, AR_ERROR_IO, "cannot write %s: %s", path,
        cairo_status_to_string (st));
    return FALSE;
  }
  return TRUE;
}

int
argen_cmd_images (int argc, char **argv)
{
  g_autofree char *out = NULL, *cls_name = NULL, *complete = NULL,
                  *labels = NULL;
  /* keep_rows: G_MININT until given (then half the image) */
  gint count = 8, keep_rows = G_MININT, threads = 0, scale = 3;
  gint64 seed = 1;
  gdouble temperature = 1.0;
  GOptionEntry entries[] = { { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out,
                                 "PNG file to write", "GRID.png" },
    { "class", 'c', 0, G_OPTION_ARG_FILENAME, &cls_name,
        "Draw only this class (name or index); default: a row of each",
        "NAME" },
    { "count", 'n', 0, G_OPTION_ARG_INT, &count,
        "Images per class, or in all with --class or --complete (default 8)",
        "N" },
    { "seed", 's', 0, G_OPTION_ARG_INT64, &seed, "Random seed (default 1)",
        "N" },
    { "temperature", 't', 0, G_OPTION_ARG_DOUBLE, &temperature,
        "Sampling temperature, 0 = greedy (default 1)", "T" },
    { "complete", 0, 0, G_OPTION_ARG_FILENAME, &complete,
        "Complete the first --count images of this set (IDX or PNG folder) "
        "below --keep-rows, each beside its original",
        "IMAGES" },
    { "labels", 0, 0, G_OPTION_ARG_FILENAME, &labels,
        "IDX labels of --complete (the class of each completion)", "FILE" },
    { "keep-rows", 0, 0, G_OPTION_ARG_INT, &keep_rows,
        "Rows kept by --complete (default: half the image)", "N" },
    { "scale", 0, 0, G_OPTION_ARG_INT, &scale,
        "Pixels per image pixel in the PNG (default 3)", "N" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads,
        "Threads, 0 = one per processor (default 0)", "N" },
    { NULL } };
  g_autoptr (GOptionContext) ctx =
      g_option_context_new ("MODEL.gguf — draw or complete images with a "
                            "PixelCNN model");
  GError *error = NULL;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    fprintf (stderr, "argen images: %s\n", error->message);
    g_error_free (error);
    return 2;
  }
  /* read as bytes, converted here to name the option if it is not text */
  if (!argen_option_to_utf8 ("--class", &cls_name))
    return 2;
  if (argc != 2 || out == NULL || count < 1 || count > 10000 || threads < 0 ||
      seed < 0 || !(temperature >= 0) || scale < 1 || scale > 32 ||
      (keep_rows < 0 && keep_rows != G_MININT)) {
    fprintf (stderr,
        "argen images: usage: argen images MODEL.gguf --out "
        "GRID.png [--class NAME] [--count N] [--seed N] "
        "[--complete IMAGES [--labels L] [--keep-rows N]]\n");
    return 2;
  }
  g_autoptr (ArGguf) gguf = ar_gguf_new_from_file (argv[1], &error);
  g_autoptr (ArPixelCnn) pc =
      gguf ? ar_pixelcnn_new_from_gguf (gguf, &error) : NULL;
  if (pc == NULL) {
    fprintf (stderr, "argen images: %s\n", error->message);
    g_error_free (error);
    return 1;
  }
  const ArPixelCnnConfig *c = ar_pixelcnn_get_config (pc);
  int H = c->height, W = c->width, N = c->classes;
  gsize HW = (gsize) H * W;
  g_autoptr (ArThreadPool) pool = ar_threadpool_new (threads);
  g_autoptr (ArPixelCnnGen) g = ar_pixelcnn_gen_new (pc);
  int cls = -1;

  ar_pixelcnn_gen_set_threadpool (g, pool);
  ar_pixelcnn_gen_set_temperature (g, temperature);
  ar_pixelcnn_gen_reset (g, seed);
  if (cls_name != NULL) {
    cls = ar_pixelcnn_find_class (pc, cls_name);
    if (cls < 0) {
      fprintf (stderr, "argen images: %s has no class '%s'\n", argv[1],
          cls_name);
      return 2;
    }
  }
  g_autoptr (GTimer) timer = g_timer_new ();
  g_autofree guint8 *grid = NULL;
  /* a row of each class, or --count images of one */
  int n = cls >= 0 || N == 0 ? count : count * N;
  int cols = cls >= 0 || N == 0 ? MIN (count, 8) : count;
  gint64 gw, gh;

  if (complete != NULL) {
    g_autoptr (ArImageSet) set =
        ar_image_set_new_from_path (complete, labels, &error);
    if (set == NULL) {
      fprintf (stderr, "argen images: %s\n", error->message);
      g_error_free (error);
      return 1;
    }
    if (set->width != W || set->height != H) {
      fprintf (stderr,
          "argen images: %s: images of %d × %d; the model's are %d × %d\n",
          complete, set->width, set->height, W, H);
      return 1;
    }
    g_autofree const char **names = g_new (const char *, MAX (N, 1));
    for (int k = 0; k < N; k++)
      names[k] = ar_pixelcnn_get_class_name (pc, k);
    if (!argen_image_set_match_classes (set, complete, names, N, &error)) {
      fprintf (stderr, "argen images: %s\n", error->message);
      g_error_free (error);
      return 1;
    }
    int keep = keep_rows != G_MININT ? MIN (keep_rows, H) : H / 2;
    g_autofree guint8 *known = g_new0 (guint8, HW);
    memset (known, 1, (gsize) keep * W);
    n = MIN (count, set->n);
    cols = 2;
    /* each original beside its completion */
    if (!grid_size (out, 2 * n, H, W, cols, scale, &gw, &gh, &error))
      goto grid_error;
    grid = g_new (guint8, 2 * n * HW);
    /* one image at a time: each with its own label's class */
    for (int i = 0; i < n; i++) {
      int ci = cls >= 0                                        ? cls
          : N > 0 && set->labels != NULL && set->labels[i] < N ? set->labels[i]
                                                               : -1;
      memcpy (grid + 2 * i * HW, set->pixels + i * HW, HW);
      memcpy (grid + (2 * i + 1) * HW, set->pixels + i * HW, HW);
      ar_pixelcnn_gen_set_class (g, ci, NULL);
      ar_pixelcnn_gen_complete (g, grid + (2 * i + 1) * HW, known, 1, NULL);
    }
    printf ("completed %d images below row %d in %.1f s\n", n, keep,
        g_timer_elapsed (timer, NULL));
  } else if (!grid_size (out, n, H, W, cols, scale, &gw, &gh, &error)) {
    goto grid_error;
  } else if (cls >= 0 || N == 0) {
    grid = g_new (guint8, n * HW);
    ar_pixelcnn_gen_set_class (g, cls, NULL);
    ar_pixelcnn_gen_sample (g, grid, n, NULL);
  } else {
    grid = g_new (guint8, n * HW);
    for (int k = 0; k < N; k++) {
      ar_pixelcnn_gen_set_class (g, k, NULL);
      ar_pixelcnn_gen_sample (g, grid + (gsize) k * count * HW, count, NULL);
      printf ("row %d: %s\n", k + 1, ar_pixelcnn_get_class_name (pc, k));
    }
  }
  if (complete == NULL)
    printf ("drew %d images in %.1f s (%.1f images/s)\n", n,
        g_timer_elapsed (timer, NULL), n / g_timer_elapsed (timer, NULL));
  if (!write_grid (out, grid, complete ? 2 * n : n, H, W, cols, scale,
          &error)) {
    fprintf (stderr, "argen images: %s\n", error->message);
    g_error_free (error);
    return 1;
  }
  printf ("wrote %s\n", out);
  return 0;

grid_error:
  fprintf (stderr, "argen images: %s\n", error->message);
  g_error_free (error);
  return 2;
}
