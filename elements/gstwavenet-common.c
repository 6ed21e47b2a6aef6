/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstwavenet-common.c — model loading and statistics shared by the WaveNet
 * elements.  See gstwavenet-common.h. */

#include "gstwavenet-common.h"

/* ---- models ------------------------------------------------------------ */

static gpointer
wavenet_load (ArGguf *gguf, GError **error)
{
  return ar_wavenet_new_from_gguf (gguf, error);
}

static gpointer
wavenet_ref (gpointer model)
{
  return ar_wavenet_ref (model);
}

static void
wavenet_unref (gpointer model)
{
  ar_wavenet_unref (model);
}

static gchar *
wavenet_describe (gpointer model)
{
  const ArWaveNetConfig *c = ar_wavenet_get_config (model);

  return g_strdup_printf ("%d Hz, %d x %d layers, R %d G %d S %d, %d classes, "
                          "%d mel conditioning channels, receptive field "
                          "%" G_GSIZE_FORMAT,
      c->sample_rate, c->stacks, c->layers_per_stack, c->residual, c->gate,
      c->skip, c->global_classes, c->cond_channels,
      ar_wavenet_receptive_field (model));
}

static const GstArgenModelFamily wavenet_family = {
  .family = "WaveNet",
  /* none here: each element's `model` property holds its default
   * (gst_argen_media_settings_set_property) */
  .default_resource = NULL,
  .load = wavenet_load,
  .ref = wavenet_ref,
  .unref = wavenet_unref,
  .describe = wavenet_describe,
};

ArWaveNet *
gst_wavenet_model_acquire (GstElement *element, const gchar *uri)
{
  return gst_argen_model_acquire (element, uri, &wavenet_family);
}

void
gst_wavenet_model_release (ArWaveNet *model)
{
  gst_argen_model_release (model, &wavenet_family);
}

/* ---- statistics ---------------------------------------------------------- */

gboolean
gst_wavenet_find_global_class (GstElement *element, const ArWaveNet *model,
    const gchar *uri, const gchar *condition, int *cls)
{
  const ArWaveNetConfig *config = ar_wavenet_get_config (model);
  guint64 index;
  GString *names;
  int i;

  *cls = -1;
  if (condition == NULL || condition[0] == '\0')
    return TRUE;

  if (config->global_classes == 0) {
    GST_ELEMENT_ERROR (element, LIBRARY, SETTINGS,
        ("global-condition is \"%s\" but the model %s has no global "
         "condition",
            condition, uri),
        (NULL));
    return FALSE;
  }

  *cls = ar_wavenet_find_class (model, condition);
  if (*cls < 0 &&
      g_ascii_string_to_unsigned (condition, 10, 0,
          (guint64) config->global_classes - 1, &index, NULL))
    *cls = (int) index;
  if (*cls >= 0)
    return TRUE;

  names = g_string_new (NULL);
  for (i = 0; i < config->global_classes; i++) {
    if (i == 8) {
      g_string_append_printf (names, ", … (%d in all)",
          config->global_classes);
      break;
    }
    g_string_append_printf (names, "%s%s", i > 0 ? ", " : "",
        ar_wavenet_get_class_name (model, i));
  }
  GST_ELEMENT_ERROR (element, LIBRARY, SETTINGS,
      ("global-condition \"%s\" is not a class of the model %s: its "
       "classes are %s (or their indices, 0 to %d)",
          condition, uri, names->str, config->global_classes - 1),
      (NULL));
  g_string_free (names, TRUE);
  return FALSE;
}

void
gst_wavenet_post_statistics (GstElement *element, const gchar *name,
    guint64 samples, gdouble seconds, gint rate)
{
  gdouble per_second = seconds > 0.0 ? (gdouble) samples / seconds : 0.0;
  GstStructure *s;

  s = gst_structure_new (name, "samples", G_TYPE_UINT64, samples, "seconds",
      G_TYPE_DOUBLE, seconds, "samples-per-second", G_TYPE_DOUBLE, per_second,
      "real-time-factor", G_TYPE_DOUBLE, rate > 0 ? per_second / rate : 0.0,
      NULL);
  gst_element_post_message (element,
      gst_message_new_element (GST_OBJECT (element), s));
}
