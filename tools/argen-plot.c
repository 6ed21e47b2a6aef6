/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* argen-plot.c — training curves as a PNG: the smoothed training loss and
 * the validation loss against the step, from `argen train`'s CSV, drawn
 * with argen-chart.h. */
#include "argen.h"
#include "argen-chart.h"
#include "core/ar-error.h"

#include <math.h>

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
    if (*f[4]) {
      double val = g_ascii_strtod (f[4], NULL);
      g_array_append_val (vx, step);
      g_array_append_val (vy, val);
    }
  }
  if (tx->len == 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID, "%s: no training steps logged", csv_path);
    return FALSE;
  }

  g_autofree char *base = g_path_get_basename (csv_path);
  g_autofree char *y_label = g_strdup_printf ("loss (%s)", unit);
  g_autoptr (ArgenChart) chart = argen_chart_new (base, "step", y_label);
  argen_chart_set_x_from_zero (chart, TRUE);
  argen_chart_add_series (chart, "training (smoothed)", (const double *) tx->data,
      (const double *) ty->data, tx->len, ARGEN_CHART_LINE, NULL);
  if (vx->len)
    argen_chart_add_series (chart, "validation", (const double *) vx->data,
        (const double *) vy->data, vx->len, ARGEN_CHART_LINE, NULL);
  return argen_chart_write_png (chart, png_path, error);
}
