/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstwavenet-common.c — model loading, seeds, thread pools and statistics
 * shared by the WaveNet elements.  See gstwavenet-common.h. */

#include "gstwavenet-common.h"

#include <gio/gio.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (wavenet_common_debug);
#define GST_CAT_DEFAULT wavenet_common_debug

static void
ensure_debug_category (void)
{
  static gsize init = 0;

  if (g_once_init_enter (&init)) {
    GST_DEBUG_CATEGORY_INIT (wavenet_common_debug, "wavenetcommon", 0,
        "WaveNet elements' shared code");
    g_once_init_leave (&init, 1);
  }
}

/* ---- models ------------------------------------------------------------ */

static ArWaveNet *
load_from_gguf (ArGguf *gguf, GError **error)
{
  ArWaveNet *model;

  if (gguf == NULL)
    return NULL;
  model = ar_wavenet_new_from_gguf (gguf, error);
  ar_gguf_unref (gguf);
  return model;
}

/* Models embedded in the plugin, loaded on first use and shared: each entry
 * counts the elements holding it, so that it is freed when the last stops
 * (as gstargen-common.c does for the text models). */
typedef struct
{
  ArWaveNet *model;
  guint users;
} EmbeddedModel;

static GMutex embedded_lock;
static GHashTable *embedded = NULL; /* resource path → EmbeddedModel */

static ArWaveNet *
load_embedded_model (const gchar *resource, GError **error)
{
  EmbeddedModel *entry;
  ArWaveNet *model = NULL;
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
    model = ar_wavenet_ref (entry->model);
  }
  g_mutex_unlock (&embedded_lock);
  return model;
}

ArWaveNet *
gst_wavenet_model_acquire (GstElement *element, const gchar *uri)
{
  GError *error = NULL;
  ArWaveNet *model;
  gchar *text;

  ensure_debug_category ();

  if (uri == NULL || uri[0] == '\0') {
    GST_ELEMENT_ERROR (element, RESOURCE, NOT_FOUND,
        ("no model: set the model property to a WaveNet model file (as "
         "argen train wavenet writes it)"),
        ("the plugin embeds no default WaveNet model"));
    return NULL;
  }

  if (g_str_has_prefix (uri, GST_ARGEN_RESOURCE_SCHEME))
    model =
        load_embedded_model (uri + strlen (GST_ARGEN_RESOURCE_SCHEME), &error);
  else
    model = load_from_gguf (ar_gguf_new_from_file (uri, &error), &error);

  if (model != NULL) {
    const ArWaveNetConfig *c = ar_wavenet_get_config (model);

    GST_CAT_INFO_OBJECT (wavenet_common_debug, element,
        "loaded %s: %d Hz, %d x %d layers, R %d G %d S %d, %d classes, "
        "%d mel conditioning channels, receptive field %" G_GSIZE_FORMAT,
        uri, c->sample_rate, c->stacks, c->layers_per_stack, c->residual,
        c->gate, c->skip, c->global_classes, c->cond_channels,
        ar_wavenet_receptive_field (model));
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
        ("could not load %s as a WaveNet model", uri));
  }
  g_free (text);
  g_error_free (error);
  return NULL;
}

void
gst_wavenet_model_release (ArWaveNet *model)
{
  GHashTableIter iter;
  EmbeddedModel *entry;
  ArWaveNet *drop = NULL;

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
    ar_wavenet_unref (drop);
  ar_wavenet_unref (model);
}

/* ---- settings ------------------------------------------------------------ */

guint64
gst_wavenet_pick_seed (gint64 seed)
{
  if (seed >= 0)
    return (guint64) seed;
  return ((guint64) g_random_int () << 32) | g_random_int ();
}

ArThreadPool *
gst_wavenet_threadpool_new (guint threads)
{
  /* One thread needs no pool: libargen then runs everything in the
   * streaming thread, with no hand-over per sample. */
  if (threads == 1)
    return NULL;
  return ar_threadpool_new (threads);
}

/* ---- statistics ---------------------------------------------------------- */

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
