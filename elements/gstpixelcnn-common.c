/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstpixelcnn-common.c — model loading, class names, seeds, thread pools,
 * caps and statistics shared by the PixelCNN elements.  See
 * gstpixelcnn-common.h. */

#include "gstpixelcnn-common.h"

#include <gio/gio.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (pixelcnn_common_debug);
#define GST_CAT_DEFAULT pixelcnn_common_debug

static void
ensure_debug_category (void)
{
  static gsize init = 0;

  if (g_once_init_enter (&init)) {
    GST_DEBUG_CATEGORY_INIT (pixelcnn_common_debug, "pixelcnncommon", 0,
        "PixelCNN elements' shared code");
    g_once_init_leave (&init, 1);
  }
}

/* ---- models ------------------------------------------------------------ */

static ArPixelCnn *
load_from_gguf (ArGguf *gguf, GError **error)
{
  ArPixelCnn *model;

  if (gguf == NULL)
    return NULL;
  model = ar_pixelcnn_new_from_gguf (gguf, error);
  ar_gguf_unref (gguf);
  return model;
}

/* Models embedded in the plugin, loaded on first use and shared: each
 * entry counts the elements holding it, so that it is freed when the last
 * stops. */
typedef struct
{
  ArPixelCnn *model;
  guint users;
} EmbeddedModel;

static GMutex embedded_lock;
static GHashTable *embedded = NULL; /* resource path → EmbeddedModel */

static ArPixelCnn *
load_embedded_model (const gchar *resource, GError **error)
{
  EmbeddedModel *entry;
  ArPixelCnn *model = NULL;
  GBytes *bytes;

  g_mutex_lock (&embedded_lock);
  if (embedded == NULL)
    embedded = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  entry = g_hash_table_lookup (embedded, resource);
  if (entry == NULL) {
    bytes =
        g_resources_lookup_data (resource, G_RESOURCE_LOOKUP_FLAGS_NONE, error);
    if (bytes != NULL) {
      model = load_from_gguf (ar_gguf_new_from_bytes (bytes, resource, error),
          error);
      g_bytes_unref (bytes);
    }
    if (model != NULL) {
      entry = g_new0 (EmbeddedModel, 1);
      entry->model = model;
      g_hash_table_insert (embedded, g_strdup (resource), entry);
    }
  }
  if (entry != NULL) {
    entry->users++;
    model = ar_pixelcnn_ref (entry->model);
  }
  g_mutex_unlock (&embedded_lock);
  return model;
}

ArPixelCnn *
gst_pixelcnn_model_acquire (GstElement *element, const gchar *uri)
{
  GError *error = NULL;
  ArPixelCnn *model;
  gchar *text;

  ensure_debug_category ();

  if (uri == NULL || uri[0] == '\0') {
    GST_ELEMENT_ERROR (element, RESOURCE, NOT_FOUND,
        ("no model: set the model property to a PixelCNN model file (as "
         "argen train pixelcnn writes it)"),
        ("the plugin embeds no default PixelCNN model"));
    return NULL;
  }

  if (g_str_has_prefix (uri, GST_ARGEN_RESOURCE_SCHEME))
    model =
        load_embedded_model (uri + strlen (GST_ARGEN_RESOURCE_SCHEME), &error);
  else
    model = load_from_gguf (ar_gguf_new_from_file (uri, &error), &error);

  if (model != NULL) {
    const ArPixelCnnConfig *c = ar_pixelcnn_get_config (model);

    GST_CAT_INFO_OBJECT (pixelcnn_common_debug, element,
        "loaded %s: %d x %d, %d levels, %d layers of %d features, kernels "
        "%d then %d, %d classes",
        uri, c->width, c->height, c->levels, c->layers, c->features,
        c->first_kernel, c->kernel, c->classes);
    return model;
  }

  /* libargen's messages name the file; say it ourselves when one does not,
   * so that the user always learns which file failed. */
  if (strstr (error->message, uri) == NULL)
    text = g_strdup_printf ("%s: %s", uri, error->message);
  else
    text = g_strdup (error->message);

  if ((error->domain == AR_ERROR && error->code == AR_ERROR_IO) ||
      error->domain == G_FILE_ERROR || error->domain == G_IO_ERROR) {
    GST_ELEMENT_ERROR (element, RESOURCE, OPEN_READ, ("%s", text),
        ("could not read %s", uri));
  } else if (error->domain == G_RESOURCE_ERROR) {
    GST_ELEMENT_ERROR (element, RESOURCE, NOT_FOUND,
        ("%s is not embedded in the plugin (%s)", uri, error->message),
        ("resource lookup failed"));
  } else {
    GST_ELEMENT_ERROR (element, RESOURCE, FAILED, ("%s", text),
        ("could not load %s as a PixelCNN model", uri));
  }
  g_free (text);
  g_error_free (error);
  return NULL;
}

void
gst_pixelcnn_model_release (ArPixelCnn *model)
{
  GHashTableIter iter;
  EmbeddedModel *entry;
  ArPixelCnn *drop = NULL;

  if (model == NULL)
    return;

  g_mutex_lock (&embedded_lock);
  if (embedded != NULL) {
    g_hash_table_iter_init (&iter, embedded);
    while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &entry)) {
      if (entry->model != model)
        continue;
      g_assert (entry->users > 0);
      if (--entry->users == 0) {
        drop = entry->model;
        g_hash_table_iter_remove (&iter);
      }
      break;
    }
    if (g_hash_table_size (embedded) == 0)
      g_clear_pointer (&embedded, g_hash_table_unref);
  }
  g_mutex_unlock (&embedded_lock);

  /* Unref outside the lock: freeing a model may take a while. */
  if (drop != NULL)
    ar_pixelcnn_unref (drop);
  ar_pixelcnn_unref (model);
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

guint64
gst_pixelcnn_pick_seed (gint64 seed)
{
  if (seed >= 0)
    return (guint64) seed;
  return ((guint64) g_random_int () << 32) | g_random_int ();
}

ArThreadPool *
gst_pixelcnn_threadpool_new (guint threads)
{
  /* One thread needs no pool: libargen then draws in the streaming thread,
   * with no hand-over. */
  if (threads == 1)
    return NULL;
  return ar_threadpool_new (threads);
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
