/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* argen-plot.c — training curves as a PNG (cairo): the smoothed training
 * loss and the validation loss against the step, from `argen train`'s CSV. */
#include "argen.h"
#include "core/ar-error.h"

#include <cairo.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define W 800
#define H 500
#define LEFT 80
#define RIGHT 30
#define TOP 40
#define BOTTOM 60

typedef struct
{
  double min_x, max_x, min_y, max_y;
} Box;

static double
px (const Box *b, double x)
{
  return LEFT + (x - b->min_x) / (b->max_x - b->min_x) * (W - LEFT - RIGHT);
}

static double
py (const Box *b, double y)
{
  return H - BOTTOM - (y - b->min_y) / (b->max_y - b->min_y) * (H - TOP - BOTTOM);
}

/* A "nice" tick step covering @range in about @n steps. */
static double
tick_step (double range, int n)
{
  double raw = range / n, mag = pow (10, floor (log10 (raw)));
  double f = raw / mag;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

static void
draw_series (cairo_t *cr, const Box *b, GArray *xs, GArray *ys, double r, double g, double bl)
{
  cairo_set_source_rgb (cr, r, g, bl);
  cairo_set_line_width (cr, 2);
  for (guint i = 0; i < xs->len; i++) {
    double x = px (b, g_array_index (xs, double, i)), y = py (b, g_array_index (ys, double, i));
    if (i == 0)
      cairo_move_to (cr, x, y);
    else
      cairo_line_to (cr, x, y);
  }
  if (xs->len == 1)
    cairo_arc (cr, px (b, g_array_index (xs, double, 0)), py (b, g_array_index (ys, double, 0)),
        3, 0, 2 * G_PI);
  cairo_stroke (cr);
}

gboolean
argen_plot_training_log (const char *csv_path, const char *png_path, const char *unit,
    GError **error)
{
  g_autofree char *text = NULL;
  GError *local = NULL;
  if (!g_file_get_contents (csv_path, &text, NULL, &local)) {
    g_set_error (error, AR_ERROR, AR_ERROR_IO, "%s", local->message);
    g_error_free (local);
    return FALSE;
  }
  g_autoptr (GArray) tx = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) ty = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) vx = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) vy = g_array_new (FALSE, FALSE, sizeof (double));
  Box b = { INFINITY, -INFINITY, INFINITY, -INFINITY };
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 1; lines[i]; i++) {
    g_auto (GStrv) f = g_strsplit (lines[i], ",", -1);
    if (g_strv_length (f) < 5)
      continue;
    double step = g_ascii_strtod (f[0], NULL), avg = g_ascii_strtod (f[3], NULL);
    if (!isfinite (avg))
      continue;
    g_array_append_val (tx, step);
    g_array_append_val (ty, avg);
    b.min_x = MIN (b.min_x, step);
    b.max_x = MAX (b.max_x, step);
    b.min_y = MIN (b.min_y, avg);
    b.max_y = MAX (b.max_y, avg);
    if (*f[4]) {
      double val = g_ascii_strtod (f[4], NULL);
      g_array_append_val (vx, step);
      g_array_append_val (vy, val);
      b.min_y = MIN (b.min_y, val);
      b.max_y = MAX (b.max_y, val);
    }
  }
  if (tx->len == 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID, "%s: no training steps logged", csv_path);
    return FALSE;
  }
  if (b.max_x <= b.min_x)
    b.max_x = b.min_x + 1;
  b.min_x = 0;
  double pad = MAX (0.05 * (b.max_y - b.min_y), 0.01);
  b.min_y -= pad;
  b.max_y += pad;

  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_RGB24, W, H);
  cairo_t *cr = cairo_create (surface);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_paint (cr);
  cairo_select_font_face (cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size (cr, 12);

  /* grid and tick labels */
  char label[64];
  double sx = tick_step (b.max_x - b.min_x, 8), sy = tick_step (b.max_y - b.min_y, 6);
  cairo_set_line_width (cr, 1);
  for (double x = 0; x <= b.max_x + 1e-9; x += sx) {
    cairo_set_source_rgb (cr, 0.88, 0.88, 0.88);
    cairo_move_to (cr, px (&b, x), TOP);
    cairo_line_to (cr, px (&b, x), H - BOTTOM);
    cairo_stroke (cr);
    cairo_set_source_rgb (cr, 0.2, 0.2, 0.2);
    g_snprintf (label, sizeof label, "%g", x);
    cairo_move_to (cr, px (&b, x) - 3.5 * strlen (label), H - BOTTOM + 18);
    cairo_show_text (cr, label);
  }
  for (double y = ceil (b.min_y / sy) * sy; y <= b.max_y; y += sy) {
    cairo_set_source_rgb (cr, 0.88, 0.88, 0.88);
    cairo_move_to (cr, LEFT, py (&b, y));
    cairo_line_to (cr, W - RIGHT, py (&b, y));
    cairo_stroke (cr);
    cairo_set_source_rgb (cr, 0.2, 0.2, 0.2);
    g_snprintf (label, sizeof label, "%.3g", y);
    cairo_move_to (cr, LEFT - 10 - 7 * strlen (label), py (&b, y) + 4);
    cairo_show_text (cr, label);
  }
  cairo_set_source_rgb (cr, 0, 0, 0);
  cairo_rectangle (cr, LEFT, TOP, W - LEFT - RIGHT, H - TOP - BOTTOM);
  cairo_stroke (cr);

  draw_series (cr, &b, tx, ty, 0.12, 0.47, 0.71);
  if (vx->len)
    draw_series (cr, &b, vx, vy, 0.85, 0.37, 0.01);

  /* titles and legend */
  cairo_set_source_rgb (cr, 0, 0, 0);
  cairo_set_font_size (cr, 14);
  g_autofree char *base = g_path_get_basename (csv_path);
  cairo_move_to (cr, LEFT, TOP - 14);
  cairo_show_text (cr, base);
  cairo_set_font_size (cr, 12);
  cairo_move_to (cr, (W + LEFT - RIGHT) / 2 - 15, H - 15);
  cairo_show_text (cr, "step");
  cairo_save (cr);
  cairo_move_to (cr, 20, (H + TOP - BOTTOM) / 2 + 40);
  cairo_rotate (cr, -G_PI / 2);
  g_snprintf (label, sizeof label, "loss (%s)", unit);
  cairo_show_text (cr, label);
  cairo_restore (cr);
  const char *names[] = { "training (smoothed)", "validation" };
  const double colours[2][3] = { {0.12, 0.47, 0.71}, {0.85, 0.37, 0.01} };
  for (int i = 0; i < (vx->len ? 2 : 1); i++) {
    double y = TOP + 20 + 18 * i;
    cairo_set_source_rgb (cr, colours[i][0], colours[i][1], colours[i][2]);
    cairo_set_line_width (cr, 2);
    cairo_move_to (cr, W - RIGHT - 170, y - 4);
    cairo_line_to (cr, W - RIGHT - 145, y - 4);
    cairo_stroke (cr);
    cairo_set_source_rgb (cr, 0, 0, 0);
    cairo_move_to (cr, W - RIGHT - 138, y);
    cairo_show_text (cr, names[i]);
  }

  cairo_destroy (cr);
  cairo_status_t status = cairo_surface_write_to_png (surface, png_path);
  cairo_surface_destroy (surface);
  if (status != CAIRO_STATUS_SUCCESS) {
    g_set_error (error, AR_ERROR, AR_ERROR_IO, "cannot write %s: %s", png_path,
        cairo_status_to_string (status));
    return FALSE;
  }
  return TRUE;
}
