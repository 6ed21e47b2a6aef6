/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstpixelcnn-common.c — model loading, class names, caps and statistics
 * shared by the PixelCNN elements.  See gstpixelcnn-common.h. */

#include "gstpixelcnn-common.h"

#include <string.h>

/* ---- models ------------------------------------------------------------ */

static gpointer
pixelcnn_load (ArGguf *gguf, GError **error)
{
  return ar_pixelcnn_new_from_gguf (gguf, error);
}

static gpointer
pixelcnn_ref (gpointer model)
{
  return ar_pixelcnn_ref (model);
}

static void
pixelcnn_unref (gpointer model)
{
  ar_pixelcnn_unref (model);
}

static gchar *
pixelcnn_describe (gpointer model)
{
  const ArPixelCnnConfig *c = ar_pixelcnn_get_config (model);

  return g_strdup_printf ("%d x %d, %d levels, %d layers of %d features, "
                          "kernels %d then %d, %d classes",
      c->width, c->height, c->levels, c->layers, c->features, c->first_kernel,
      c->kernel, c->classes);
}

static const GstArgenModelFamily pixelcnn_family = {
  .family = "PixelCNN",
  /* none here: each element's `model` property holds its default
   * (gst_argen_media_settings_set_property) */
  .default_resource = NULL,
  .load = pixelcnn_load,
  .ref = pixelcnn_ref,
  .unref = pixelcnn_unref,
  .describe = pixelcnn_describe,
};

ArPixelCnn *
gst_pixelcnn_model_acquire (GstElement *element, const gchar *uri)
{
  return gst_argen_model_acquire (element, uri, &pixelcnn_family);
}

void
gst_pixelcnn_model_release (ArPixelCnn *model)
{
  gst_argen_model_release (model, &pixelcnn_family);
}

/* ---- settings ------------------------------------------------------------ */

gboolean
gst_pixelcnn_parse_class (GstElement *element, ArPixelCnn *model,
    const gchar *uri, const gchar *text, gint *cls)
{
  const ArPixelCnnConfig *config = ar_pixelcnn_get_config (model);
  GString *names;
  int i;

  if (text == NULL || text[0] == '\0' || strcmp (text, "random") == 0 ||
      strcmp (text, "-1") == 0) {
    *cls = -1;
    return TRUE;
  }

  if (config->classes == 0) {
    GST_ELEMENT_ERROR (element, LIBRARY, SETTINGS,
        ("class is \"%s\" but the model %s has no classes (use "
         "class=random)",
            text, uri),
        (NULL));
    return FALSE;
  }

  /* A name first (libargen looks names up before indices), so that a class
   * named "3" is found as such. */
  *cls = ar_pixelcnn_find_class (model, text);
  if (*cls >= 0)
    return TRUE;

  names = g_string_new (NULL);
  for (i = 0; i < config->classes; i++) {
    if (i == 16) {
      g_string_append_printf (names, ", … (%d in all)", config->classes);
      break;
    }
    g_string_append_printf (names, "%s%s", i > 0 ? ", " : "",
        ar_pixelcnn_get_class_name (model, i));
  }
  GST_ELEMENT_ERROR (element, LIBRARY, SETTINGS,
      ("class \"%s\" is not a class of the model %s: its classes are %s (or "
       "their indices, 0 to %d, or random)",
          text, uri, names->str, config->classes - 1),
      (NULL));
  g_string_free (names, TRUE);
  return FALSE;
}

gboolean
gst_pixelcnn_apply_class (GstElement *element, GstDebugCategory *cat,
    ArPixelCnn *model, const gchar *uri, ArPixelCnnGen *gen, gchar **applied,
    gchar *text)
{
  GError *error = NULL;
  gint cls;

  if (g_strcmp0 (text, *applied) == 0) {
    g_free (text);
    return TRUE;
  }
  if (!gst_pixelcnn_parse_class (element, model, uri, text, &cls)) {
    g_free (text);
    return FALSE;
  }
  if (!ar_pixelcnn_gen_set_class (gen, cls, &error)) {
    GST_ELEMENT_ERROR (element, LIBRARY, SETTINGS, ("%s", error->message),
        (NULL));
    g_error_free (error);
    g_free (text);
    return FALSE;
  }
  GST_CAT_INFO_OBJECT (cat, element, "class %d (%s)", cls,
      cls >= 0 ? ar_pixelcnn_get_class_name (model, cls) : "random");
  g_free (*applied);
  *applied = text;
  return TRUE;
}

GstCaps *
gst_pixelcnn_caps_at_size (gint width, gint height)
{
  static GstStaticCaps any_size = GST_STATIC_CAPS (GST_PIXELCNN_CAPS);
  GstCaps *caps = gst_static_caps_get (&any_size);
  guint i;

  if (width <= 0 || height <= 0)
    return caps;
  caps = gst_caps_make_writable (caps);
  for (i = 0; i < gst_caps_get_size (caps); i++)
    gst_structure_set (gst_caps_get_structure (caps, i), "width", G_TYPE_INT,
        width, "height", G_TYPE_INT, height, NULL);
  return caps;
}

/* ---- statistics ---------------------------------------------------------- */

void
gst_pixelcnn_post_statistics (GstElement *element, const gchar *name,
    guint64 images, gdouble seconds)
{
  GstStructure *s;

  s = gst_structure_new (name, "images", G_TYPE_UINT64, images, "seconds",
      G_TYPE_DOUBLE, seconds, "images-per-second", G_TYPE_DOUBLE,
      seconds > 0.0 ? (gdouble) images / seconds : 0.0, NULL);
  gst_element_post_message (element,
      gst_message_new_element (GST_OBJECT (element), s));
}
