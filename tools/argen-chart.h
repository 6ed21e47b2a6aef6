/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* argen-chart.h — small x/y charts written as PNG with cairo: a framed plot
 * area with a grid and tick labels, series drawn as lines and/or markers
 * (optionally each point labelled), a title, axis labels and a legend.
 * Shared by `argen train`'s training curves (argen-plot.c) and the
 * benchmarks that draw their results (bench/bench-nar.c).
 *
 *   g_autoptr (ArgenChart) c = argen_chart_new ("run.csv", "step", "loss");
 *   argen_chart_add_series (c, "training", xs, ys, n, ARGEN_CHART_LINE, NULL);
 *   argen_chart_write_png (c, "run.png", &error); */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  ARGEN_CHART_LINE = 1 << 0,    /* points joined in order */
  ARGEN_CHART_MARKERS = 1 << 1, /* a dot at every point */
} ArgenChartStyle;

typedef struct _ArgenChart ArgenChart;

ArgenChart *argen_chart_new (const char *title, const char *x_label,
    const char *y_label);
void argen_chart_free (ArgenChart *c);
/* The x axis starts at 0 whatever the data (default: at the data's
 * minimum). */
void argen_chart_set_x_from_zero (ArgenChart *c, gboolean from_zero);
/* A logarithmic x axis (ticks at 1, 2, 5 × 10^k); x must be > 0. */
void argen_chart_set_x_log (ArgenChart *c, gboolean log_scale);
/* Where the legend goes (default top right). */
typedef enum
{
  ARGEN_CHART_LEGEND_TOP_RIGHT,
  ARGEN_CHART_LEGEND_BOTTOM_RIGHT,
} ArgenChartLegend;

void argen_chart_set_legend (ArgenChart *c, ArgenChartLegend where);
/* Copies @n points; @labels (n strings, may be NULL) are drawn beside the
 * points.  Series take the colours of a fixed palette in the order they are
 * added.  A series of one point is drawn as a marker whatever @style. */
void argen_chart_add_series (ArgenChart *c, const char *name, const double *x,
    const double *y, guint n, ArgenChartStyle style, const char *const *labels);
/* AR_ERROR_INVALID when there is nothing to draw, AR_ERROR_IO when the file
 * cannot be written. */
gboolean argen_chart_write_png (const ArgenChart *c, const char *path,
    GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArgenChart, argen_chart_free)

G_END_DECLS
