/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* argen-chart.c — x/y charts as PNG with cairo (see argen-chart.h): the
 * drawing that `argen train`'s curves and the benchmarks' plots share. */
#include "argen-chart.h"
#include "core/ar-error.h"

#include <cairo.h>
#include <math.h>
#include <string.h>

#define W 800
#define H 500
#define LEFT 80
#define RIGHT 30
#define TOP 40
#define BOTTOM 60

typedef struct
{
  char *name;
  GArray *x, *y;     /* (double) */
  GPtrArray *labels; /* (char *) or NULL */
  ArgenChartStyle style;
} Series;

struct _ArgenChart
{
  char *title, *x_label, *y_label;
  gboolean from_zero, x_log;
  ArgenChartLegend legend;
  GPtrArray *series; /* (Series *) */
};

/* The plot area's data range; x is log10 (x) on a logarithmic axis. */
typedef struct
{
  double min_x, max_x, min_y, max_y;
} Box;

static const double palette[][3] = {
  { 0.12, 0.47, 0.71 },
  { 0.85, 0.37, 0.01 },
  { 0.17, 0.63, 0.17 },
  { 0.84, 0.15, 0.16 },
  { 0.58, 0.40, 0.74 },
};

static void
series_free (gpointer data)
{
  Series *s = data;

  g_free (s->name);
  g_array_unref (s->x);
  g_array_unref (s->y);
  if (s->labels)
    g_ptr_array_unref (s->labels);
  g_free (s);
}

ArgenChart *
argen_chart_new (const char *title, const char *x_label, const char *y_label)
{
  ArgenChart *c = g_new0 (ArgenChart, 1);

  c->title = g_strdup (title);
  c->x_label = g_strdup (x_label);
  c->y_label = g_strdup (y_label);
  c->series = g_ptr_array_new_with_free_func (series_free);
  return c;
}

void
argen_chart_free (ArgenChart *c)
{
  if (c == NULL)
    return;
  g_free (c->title);
  g_free (c->x_label);
  g_free (c->y_label);
  g_ptr_array_unref (c->series);
  g_free (c);
}

void
argen_chart_set_x_from_zero (ArgenChart *c, gboolean from_zero)
{
  g_return_if_fail (c != NULL);
  c->from_zero = from_zero;
}

void
argen_chart_set_x_log (ArgenChart *c, gboolean log_scale)
{
  g_return_if_fail (c != NULL);
  c->x_log = log_scale;
}

void
argen_chart_set_legend (ArgenChart *c, ArgenChartLegend where)
{
  g_return_if_fail (c != NULL);
  c->legend = where;
}

void
argen_chart_add_series (ArgenChart *c, const char *name, const double *x,
    const double *y, guint n, ArgenChartStyle style, const char *const *labels)
{
  g_return_if_fail (c != NULL && name != NULL);
  g_return_if_fail (n == 0 || (x != NULL && y != NULL));
  Series *s = g_new0 (Series, 1);

  s->name = g_strdup (name);
  s->x = g_array_sized_new (FALSE, FALSE, sizeof (double), n);
  s->y = g_array_sized_new (FALSE, FALSE, sizeof (double), n);
  g_array_append_vals (s->x, x, n);
  g_array_append_vals (s->y, y, n);
  if (labels != NULL) {
    s->labels = g_ptr_array_new_with_free_func (g_free);
    for (guint i = 0; i < n; i++)
      g_ptr_array_add (s->labels, g_strdup (labels[i]));
  }
  s->style = style;
  g_ptr_array_add (c->series, s);
}

static double
axis_x (const ArgenChart *c, double x)
{
  return c->x_log ? log10 (x) : x;
}

static double
px (const Box *b, double x)
{
  return LEFT + (x - b->min_x) / (b->max_x - b->min_x) * (W - LEFT - RIGHT);
}

static double
py (const Box *b, double y)
{
  return H - BOTTOM -
      (y - b->min_y) / (b->max_y - b->min_y) * (H - TOP - BOTTOM);
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
vertical_tick (cairo_t *cr, const Box *b, double ax, double value)
{
  char label[64];

  cairo_set_source_rgb (cr, 0.88, 0.88, 0.88);
  cairo_move_to (cr, px (b, ax), TOP);
  cairo_line_to (cr, px (b, ax), H - BOTTOM);
  cairo_stroke (cr);
  cairo_set_source_rgb (cr, 0.2, 0.2, 0.2);
  g_snprintf (label, sizeof label, "%g", value);
  cairo_move_to (cr, px (b, ax) - 3.5 * strlen (label), H - BOTTOM + 18);
  cairo_show_text (cr, label);
}

static void
draw_grid (cairo_t *cr, const ArgenChart *c, const Box *b)
{
  char label[64];
  double sy = tick_step (b->max_y - b->min_y, 6);

  cairo_set_line_width (cr, 1);
  if (c->x_log) {
    /* 1, 2, 5 in every decade the axis spans */
    for (double d = floor (b->min_x); d <= ceil (b->max_x); d += 1.0)
      for (int k = 0; k < 3; k++) {
        double v = (k == 0 ? 1 : k == 1 ? 2 : 5) * pow (10, d);
        double ax = log10 (v);

        if (ax >= b->min_x - 1e-9 && ax <= b->max_x + 1e-9)
          vertical_tick (cr, b, ax, v);
      }
  } else {
    double sx = tick_step (b->max_x - b->min_x, 8);

    for (double x = ceil (b->min_x / sx) * sx; x <= b->max_x + 1e-9; x += sx)
      vertical_tick (cr, b, x, x);
  }
  for (double y = ceil (b->min_y / sy) * sy; y <= b->max_y; y += sy) {
    cairo_set_source_rgb (cr, 0.88, 0.88, 0.88);
    cairo_move_to (cr, LEFT, py (b, y));
    cairo_line_to (cr, W - RIGHT, py (b, y));
    cairo_stroke (cr);
    cairo_set_source_rgb (cr, 0.2, 0.2, 0.2);
    g_snprintf (label, sizeof label, "%.3g", y);
    cairo_move_to (cr, LEFT - 10 - 7 * strlen (label), py (b, y) + 4);
    cairo_show_text (cr, label);
  }
  cairo_set_source_rgb (cr, 0, 0, 0);
  cairo_rectangle (cr, LEFT, TOP, W - LEFT - RIGHT, H - TOP - BOTTOM);
  cairo_stroke (cr);
}

static void
draw_series (cairo_t *cr, const ArgenChart *c, const Box *b, const Series *s,
    const double *rgb)
{
  guint n = s->x->len;

  cairo_set_source_rgb (cr, rgb[0], rgb[1], rgb[2]);
  cairo_set_line_width (cr, 2);
  if ((s->style & ARGEN_CHART_LINE) && n > 1) {
    for (guint i = 0; i < n; i++) {
      double x = px (b, axis_x (c, g_array_index (s->x, double, i)));
      double y = py (b, g_array_index (s->y, double, i));

      if (i == 0)
        cairo_move_to (cr, x, y);
      else
        cairo_line_to (cr, x, y);
    }
    cairo_stroke (cr);
  }
  for (guint i = 0; i < n; i++) {
    double x = px (b, axis_x (c, g_array_index (s->x, double, i)));
    double y = py (b, g_array_index (s->y, double, i));

    if ((s->style & ARGEN_CHART_MARKERS) || n == 1) {
      cairo_arc (cr, x, y, 3, 0, 2 * G_PI);
      cairo_fill (cr);
    }
    if (s->labels != NULL) {
      cairo_move_to (cr, x + 6, y - 6);
      cairo_show_text (cr, g_ptr_array_index (s->labels, i));
    }
  }
}

gboolean
argen_chart_write_png (const ArgenChart *c, const char *path, GError **error)
{
  g_return_val_if_fail (c != NULL && path != NULL, FALSE);
  Box b = { INFINITY, -INFINITY, INFINITY, -INFINITY };

  for (guint k = 0; k < c->series->len; k++) {
    const Series *s = g_ptr_array_index (c->series, k);

    for (guint i = 0; i < s->x->len; i++) {
      double x = g_array_index (s->x, double, i);
      double y = g_array_index (s->y, double, i);

      if (!isfinite (y) || !isfinite (x) || (c->x_log && !(x > 0)))
        continue;
      b.min_x = MIN (b.min_x, axis_x (c, x));
      b.max_x = MAX (b.max_x, axis_x (c, x));
      b.min_y = MIN (b.min_y, y);
      b.max_y = MAX (b.max_y, y);
    }
  }
  if (!(b.min_x <= b.max_x)) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID, "%s: nothing to draw",
        path);
    return FALSE;
  }
  if (c->x_log) {
    /* a little room for the markers and their labels */
    double pad = MAX (0.05 * (b.max_x - b.min_x), 0.05);
    b.min_x -= pad;
    b.max_x += 2 * pad;
  } else {
    if (b.max_x <= b.min_x)
      b.max_x = b.min_x + 1;
    if (c->from_zero)
      b.min_x = 0;
  }
  double pad = MAX (0.05 * (b.max_y - b.min_y), 0.01);
  b.min_y -= pad;
  b.max_y += pad;

  cairo_surface_t *surface =
      cairo_image_surface_create (CAIRO_FORMAT_RGB24, W, H);
  cairo_t *cr = cairo_create (surface);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_paint (cr);
  cairo_select_font_face (cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
      CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size (cr, 12);

  draw_grid (cr, c, &b);
  for (guint k = 0; k < c->series->len; k++)
    draw_series (cr, c, &b, g_ptr_array_index (c->series, k),
        palette[k % G_N_ELEMENTS (palette)]);

  /* title, axis labels and legend */
  cairo_set_source_rgb (cr, 0, 0, 0);
  cairo_set_font_size (cr, 14);
  cairo_move_to (cr, LEFT, TOP - 14);
  cairo_show_text (cr, c->title);
  cairo_set_font_size (cr, 12);
  cairo_move_to (cr, (W + LEFT - RIGHT) / 2 - 3.5 * strlen (c->x_label),
      H - 15);
  cairo_show_text (cr, c->x_label);
  cairo_save (cr);
  cairo_move_to (cr, 20, (H + TOP - BOTTOM) / 2 + 3.5 * strlen (c->y_label));
  cairo_rotate (cr, -G_PI / 2);
  cairo_show_text (cr, c->y_label);
  cairo_restore (cr);
  for (guint k = 0; k < c->series->len; k++) {
    const Series *s = g_ptr_array_index (c->series, k);
    const double *rgb = palette[k % G_N_ELEMENTS (palette)];
    double y = c->legend == ARGEN_CHART_LEGEND_BOTTOM_RIGHT
        ? H - BOTTOM - 12 - 18 * (c->series->len - 1 - k)
        : TOP + 20 + 18 * k;

    cairo_set_source_rgb (cr, rgb[0], rgb[1], rgb[2]);
    cairo_set_line_width (cr, 2);
    cairo_move_to (cr, W - RIGHT - 170, y - 4);
    cairo_line_to (cr, W - RIGHT - 145, y - 4);
    cairo_stroke (cr);
    cairo_set_source_rgb (cr, 0, 0, 0);
    cairo_move_to (cr, W - RIGHT - 138, y);
    cairo_show_text (cr, s->name);
  }

  cairo_destroy (cr);
  cairo_status_t status = cairo_surface_write_to_png (surface, path);
  cairo_surface_destroy (surface);
  if (status != CAIRO_STATUS_SUCCESS) {
    g_set_error (error, AR_ERROR, AR_ERROR_IO, "cannot write %s: %s", path,
        cairo_status_to_string (status));
    return FALSE;
  }
  return TRUE;
}
