/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstargen-common.c — the properties, model loading and statistics shared by
 * the text elements, the properties shared by the media elements, and the
 * model loader of all of them.  See gstargen-common.h. */

#include "gstargen-common.h"

#include <gio/gio.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (argen_common_debug);
#define GST_CAT_DEFAULT argen_common_debug

static void
ensure_debug_category (void)
{
  static gsize init = 0;

  if (g_once_init_enter (&init)) {
    GST_DEBUG_CATEGORY_INIT (argen_common_debug, "argencommon", 0,
        "argen shared element code");
    g_once_init_leave (&init, 1);
  }
}

GType
gst_argen_text_mode_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = {
    { GST_ARGEN_TEXT_MODE_AUTOREGRESSIVE,
        "Autoregressive: one token at a time from the model", "autoregressive" },
    { GST_ARGEN_TEXT_MODE_SPECULATIVE,
        "Speculative: a draft model proposes draft-tokens tokens, the model "
        "checks them in one pass (the same text as autoregressive when "
        "greedy, the same distribution when sampling; faster for models "
        "limited by memory bandwidth, slower for the small embedded ones)",
        "speculative" },
    { GST_ARGEN_TEXT_MODE_NON_AUTOREGRESSIVE,
        "Non-autoregressive: a NAR model fills a block of tokens at once by "
        "Mask-Predict in `iterations` passes (faster, lower quality)",
        "non-autoregressive" },
    { 0, NULL, NULL },
  };

  if (g_once_init_enter (&type))
    g_once_init_leave (&type,
        g_enum_register_static ("GstArgenTextMode", values));
  return type;
}

void
gst_argen_text_install_properties (GObjectClass *klass, gint default_max_tokens)
{
  g_object_class_install_property (klass, GST_ARGEN_TEXT_PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "Path of a GGUF text model file, or resource:// and the path of a "
          "model embedded in the plugin (NULL = the embedded default: the "
          "GRU; in speculative mode the Transformer, resource://"
          GST_ARGEN_TRANSFORMER_TEXT_MODEL_RESOURCE "; in non-autoregressive "
          "mode the NAR model, resource://" GST_ARGEN_NAR_TEXT_MODEL_RESOURCE
          "); takes effect when the element starts",
          GST_ARGEN_DEFAULT_MODEL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (klass, GST_ARGEN_TEXT_PROP_MAX_TOKENS,
      g_param_spec_int ("max-tokens", "Maximum tokens",
          "Maximum number of tokens to generate (-1 = unlimited)", -1, G_MAXINT,
          default_max_tokens,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (klass, GST_ARGEN_TEXT_PROP_TEMPERATURE,
      g_param_spec_float ("temperature", "Temperature",
          "Sampling temperature: below 1 is more conservative, above 1 more "
          "random (0 = greedy, always the most probable token)",
          0.0f, GST_ARGEN_MAX_TEMPERATURE, GST_ARGEN_DEFAULT_TEMPERATURE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_CONTROLLABLE |
              GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (klass, GST_ARGEN_TEXT_PROP_TOP_K,
      g_param_spec_uint ("top-k", "Top k",
          "Sample only among the k most probable tokens (0 = no limit)", 0,
          G_MAXUINT, GST_ARGEN_DEFAULT_TOP_K,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_CONTROLLABLE |
              GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (klass, GST_ARGEN_TEXT_PROP_TOP_P,
      g_param_spec_float ("top-p", "Top p",
          "Nucleus sampling: sample only among the most probable tokens whose "
          "probabilities add up to p (1 = no limit)",
          0.0f, 1.0f, GST_ARGEN_DEFAULT_TOP_P,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_CONTROLLABLE |
              GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (klass, GST_ARGEN_TEXT_PROP_SEED,
      g_param_spec_int64 ("seed", "Seed",
          "Seed of the sampling random number generator; the same seed and "
          "settings give the same text (-1 = a random seed)",
          -1, G_MAXINT64, GST_ARGEN_DEFAULT_SEED,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (klass, GST_ARGEN_TEXT_PROP_STOP,
      g_param_spec_string ("stop", "Stop string",
          "Generation ends when the output reaches this string, which is not "
          "output; C escapes such as \\n are interpreted (NULL = none)",
          GST_ARGEN_DEFAULT_STOP,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (klass, GST_ARGEN_TEXT_PROP_BEAM_WIDTH,
      g_param_spec_uint ("beam-width", "Beam width",
          "Beam search: keep this many hypotheses and output the most probable "
          "continuation (their total log-probability); the text comes out as "
          "soon as all hypotheses agree on it, at most 64 tokens late.  When "
          "above 1, temperature, top-k, top-p and seed are ignored "
          "(1 = no beam search: sample)",
          1, GST_ARGEN_MAX_BEAM_WIDTH, GST_ARGEN_DEFAULT_BEAM_WIDTH,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (klass, GST_ARGEN_TEXT_PROP_THREADS,
      g_param_spec_uint ("threads", "Threads",
          "Threads for the large matrix products of each token (0 = one per "
          "processor).  Only matrices of 128K weights or more are split, so a "
          "small model runs in one thread whatever is set; the output is the "
          "same for every value",
          0, 64, GST_ARGEN_DEFAULT_THREADS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (klass, GST_ARGEN_TEXT_PROP_MODE,
      g_param_spec_enum ("mode", "Mode",
          "How tokens are decoded.  Speculative needs a Transformer model "
          "and a draft-model with the same vocabulary; it is not combined "
          "with beam search.  Non-autoregressive needs a NAR model (argen "
          "train nar; NULL model = the embedded one)",
          GST_TYPE_ARGEN_TEXT_MODE, GST_ARGEN_DEFAULT_MODE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (klass, GST_ARGEN_TEXT_PROP_DRAFT_MODEL,
      g_param_spec_string ("draft-model", "Draft model",
          "Speculative mode: path of the GGUF text model that drafts tokens "
          "for the model, with the same vocabulary, or resource:// and an "
          "embedded model's path (NULL = the embedded draft for the "
          "embedded Transformer, resource://"
          GST_ARGEN_DRAFT_TEXT_MODEL_RESOURCE ")",
          GST_ARGEN_DEFAULT_DRAFT_MODEL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (klass, GST_ARGEN_TEXT_PROP_DRAFT_TOKENS,
      g_param_spec_uint ("draft-tokens", "Draft tokens",
          "Speculative mode: tokens the draft proposes per round (k); more "
          "pays when the draft is often right",
          1, GST_ARGEN_MAX_DRAFT_TOKENS, GST_ARGEN_DEFAULT_DRAFT_TOKENS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (klass, GST_ARGEN_TEXT_PROP_ITERATIONS,
      g_param_spec_uint ("iterations", "Iterations",
          "Non-autoregressive mode: Mask-Predict refinement passes per block "
          "of tokens (1 = fully parallel, fastest; more passes re-predict "
          "the least confident tokens: slower, better text)",
          1, GST_ARGEN_MAX_ITERATIONS, GST_ARGEN_DEFAULT_ITERATIONS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_PLAYING));
}

void
gst_argen_text_settings_init (GstArgenTextSettings *s, gint default_max_tokens)
{
  s->model = g_strdup (GST_ARGEN_DEFAULT_MODEL);
  s->max_tokens = default_max_tokens;
  s->temperature = GST_ARGEN_DEFAULT_TEMPERATURE;
  s->top_k = GST_ARGEN_DEFAULT_TOP_K;
  s->top_p = GST_ARGEN_DEFAULT_TOP_P;
  s->seed = GST_ARGEN_DEFAULT_SEED;
  s->stop = g_strdup (GST_ARGEN_DEFAULT_STOP);
  s->beam_width = GST_ARGEN_DEFAULT_BEAM_WIDTH;
  s->threads = GST_ARGEN_DEFAULT_THREADS;
  s->mode = GST_ARGEN_DEFAULT_MODE;
  s->draft_model = g_strdup (GST_ARGEN_DEFAULT_DRAFT_MODEL);
  s->draft_tokens = GST_ARGEN_DEFAULT_DRAFT_TOKENS;
  s->iterations = GST_ARGEN_DEFAULT_ITERATIONS;
}

void
gst_argen_text_settings_clear (GstArgenTextSettings *s)
{
  g_clear_pointer (&s->model, g_free);
  g_clear_pointer (&s->stop, g_free);
  g_clear_pointer (&s->draft_model, g_free);
}

void
gst_argen_text_settings_copy (GstArgenTextSettings *dest,
    const GstArgenTextSettings *src)
{
  *dest = *src;
  dest->model = g_strdup (src->model);
  dest->stop = g_strdup (src->stop);
  dest->draft_model = g_strdup (src->draft_model);
}

gboolean
gst_argen_text_settings_set_property (GstElement *element,
    GstArgenTextSettings *s, guint prop_id, const GValue *value)
{
  GST_OBJECT_LOCK (element);
  switch (prop_id) {
    case GST_ARGEN_TEXT_PROP_MODEL:
      g_free (s->model);
      s->model = g_value_dup_string (value);
      if (GST_STATE (element) > GST_STATE_READY)
        GST_CAT_INFO_OBJECT (argen_common_debug, element,
            "model changed while running; takes effect at the next start");
      break;
    case GST_ARGEN_TEXT_PROP_MAX_TOKENS:
      s->max_tokens = g_value_get_int (value);
      break;
    case GST_ARGEN_TEXT_PROP_TEMPERATURE:
      s->temperature = g_value_get_float (value);
      break;
    case GST_ARGEN_TEXT_PROP_TOP_K:
      s->top_k = g_value_get_uint (value);
      break;
    case GST_ARGEN_TEXT_PROP_TOP_P:
      s->top_p = g_value_get_float (value);
      break;
    case GST_ARGEN_TEXT_PROP_SEED:
      s->seed = g_value_get_int64 (value);
      break;
    case GST_ARGEN_TEXT_PROP_STOP:
      g_free (s->stop);
      s->stop = g_value_dup_string (value);
      break;
    case GST_ARGEN_TEXT_PROP_BEAM_WIDTH:
      s->beam_width = g_value_get_uint (value);
      break;
    case GST_ARGEN_TEXT_PROP_THREADS:
      s->threads = g_value_get_uint (value);
      break;
    case GST_ARGEN_TEXT_PROP_MODE:
      s->mode = g_value_get_enum (value);
      break;
    case GST_ARGEN_TEXT_PROP_DRAFT_MODEL:
      g_free (s->draft_model);
      s->draft_model = g_value_dup_string (value);
      break;
    case GST_ARGEN_TEXT_PROP_DRAFT_TOKENS:
      s->draft_tokens = g_value_get_uint (value);
      break;
    case GST_ARGEN_TEXT_PROP_ITERATIONS:
      s->iterations = g_value_get_uint (value);
      break;
    default:
      GST_OBJECT_UNLOCK (element);
      return FALSE;
  }
  GST_OBJECT_UNLOCK (element);
  return TRUE;
}

gboolean
gst_argen_text_settings_get_property (GstElement *element,
    GstArgenTextSettings *s, guint prop_id, GValue *value)
{
  GST_OBJECT_LOCK (element);
  switch (prop_id) {
    case GST_ARGEN_TEXT_PROP_MODEL:
      g_value_set_string (value, s->model);
      break;
    case GST_ARGEN_TEXT_PROP_MAX_TOKENS:
      g_value_set_int (value, s->max_tokens);
      break;
    case GST_ARGEN_TEXT_PROP_TEMPERATURE:
      g_value_set_float (value, s->temperature);
      break;
    case GST_ARGEN_TEXT_PROP_TOP_K:
      g_value_set_uint (value, s->top_k);
      break;
    case GST_ARGEN_TEXT_PROP_TOP_P:
      g_value_set_float (value, s->top_p);
      break;
    case GST_ARGEN_TEXT_PROP_SEED:
      g_value_set_int64 (value, s->seed);
      break;
    case GST_ARGEN_TEXT_PROP_STOP:
      g_value_set_string (value, s->stop);
      break;
    case GST_ARGEN_TEXT_PROP_BEAM_WIDTH:
      g_value_set_uint (value, s->beam_width);
      break;
    case GST_ARGEN_TEXT_PROP_THREADS:
      g_value_set_uint (value, s->threads);
      break;
    case GST_ARGEN_TEXT_PROP_MODE:
      g_value_set_enum (value, s->mode);
      break;
    case GST_ARGEN_TEXT_PROP_DRAFT_MODEL:
      g_value_set_string (value, s->draft_model);
      break;
    case GST_ARGEN_TEXT_PROP_DRAFT_TOKENS:
      g_value_set_uint (value, s->draft_tokens);
      break;
    case GST_ARGEN_TEXT_PROP_ITERATIONS:
      g_value_set_uint (value, s->iterations);
      break;
    default:
      GST_OBJECT_UNLOCK (element);
      return FALSE;
  }
  GST_OBJECT_UNLOCK (element);
  return TRUE;
}

void
gst_argen_text_settings_get_sampling (const GstArgenTextSettings *s,
    ArSamplingParams *params)
{
  params->temperature = s->temperature;
  params->top_k = s->top_k;
  /* The sampler wants top_p in (0, 1]; the property allows 0, which can only
   * mean "keep as little as possible": the most probable token survives
   * either way. */
  params->top_p = MAX (s->top_p, 1e-6f);
}

gboolean
gst_argen_text_settings_apply (const GstArgenTextSettings *s, ArTextGen *gen,
    ArTextModel *draft, GstElement *element)
{
  ArSamplingParams params;
  GError *error = NULL;
  gchar *stop;

  gst_argen_text_settings_get_sampling (s, &params);
  ar_text_gen_set_sampling (gen, &params);
  stop = gst_argen_text_settings_dup_stop (s);
  ar_text_gen_set_stop (gen, stop);
  g_free (stop);
  /* beam-width 1 means sampling, which with temperature 0 is exactly a beam
   * of one: libargen's width 0 */
  ar_text_gen_set_beam (gen, s->beam_width > 1 ? s->beam_width : 0, 0.0f);
  ar_text_gen_set_threads (gen, s->threads);
  ar_text_gen_set_iterations (gen, s->iterations);
  if (!ar_text_gen_set_speculative (gen,
          s->mode == GST_ARGEN_TEXT_MODE_SPECULATIVE ? draft : NULL,
          s->draft_tokens, &error)) {
    GST_ELEMENT_ERROR (element, RESOURCE, SETTINGS,
        ("Cannot decode speculatively with these models."), ("%s",
            error->message));
    g_error_free (error);
    return FALSE;
  }
  if (s->mode == GST_ARGEN_TEXT_MODE_SPECULATIVE && s->beam_width > 1)
    GST_CAT_WARNING_OBJECT (argen_common_debug, element,
        "beam-width %u: beam search, the draft model is not used",
        s->beam_width);
  return TRUE;
}

gchar *
gst_argen_text_settings_dup_stop (const GstArgenTextSettings *s)
{
  gchar *stop;

  if (s->stop == NULL || s->stop[0] == '\0')
    return NULL;
  stop = g_strcompress (s->stop);
  /* A lone trailing backslash would otherwise vanish; an escape cannot make
   * the string invalid UTF-8 except through octal escapes, which the output
   * (always valid UTF-8) could never match anyway. */
  if (stop[0] == '\0')
    g_clear_pointer (&stop, g_free);
  return stop;
}

guint64
gst_argen_text_settings_pick_seed (const GstArgenTextSettings *s)
{
  return gst_argen_pick_seed (s->seed);
}

/* ---- the media elements' common properties ---------------------------- */

void
gst_argen_media_install_properties (GObjectClass *klass,
    const GstArgenMediaProperties *props)
{
  /* set_property logs in this category. */
  ensure_debug_category ();

  g_object_class_install_property (klass, GST_ARGEN_MEDIA_PROP_MODEL,
      g_param_spec_string ("model", "Model", props->model_blurb,
          props->default_model,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (klass, GST_ARGEN_MEDIA_PROP_SEED,
      g_param_spec_int64 ("seed", "Seed", props->seed_blurb, -1, G_MAXINT64,
          GST_ARGEN_DEFAULT_SEED,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (klass, GST_ARGEN_MEDIA_PROP_TEMPERATURE,
      g_param_spec_float ("temperature", "Temperature",
          props->temperature_blurb != NULL ? props->temperature_blurb
                                           : GST_ARGEN_MEDIA_TEMPERATURE_BLURB,
          0.0f, GST_ARGEN_MAX_TEMPERATURE, props->default_temperature,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              props->temperature_flags));
  g_object_class_install_property (klass, GST_ARGEN_MEDIA_PROP_THREADS,
      g_param_spec_uint ("threads", "Threads", props->threads_blurb, 0,
          props->max_threads > 0 ? props->max_threads
                                 : AR_THREADPOOL_MAX_THREADS,
          GST_ARGEN_MEDIA_DEFAULT_THREADS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
}

void
gst_argen_media_settings_init (GstArgenMediaSettings *s,
    const GstArgenMediaProperties *props)
{
  s->model = g_strdup (props->default_model);
  s->seed = GST_ARGEN_DEFAULT_SEED;
  s->temperature = props->default_temperature;
  s->threads = GST_ARGEN_MEDIA_DEFAULT_THREADS;
}

void
gst_argen_media_settings_clear (GstArgenMediaSettings *s)
{
  g_clear_pointer (&s->model, g_free);
}

gboolean
gst_argen_media_settings_set_property (GstElement *element,
    GstArgenMediaSettings *s, guint prop_id, const GValue *value)
{
  GST_OBJECT_LOCK (element);
  switch (prop_id) {
    case GST_ARGEN_MEDIA_PROP_MODEL:{
      const gchar *path = g_value_get_string (value);
      GParamSpec *pspec;

      /* NULL or "" stands for the default, the embedded model, as it does
       * for the text elements: an unset path, not a file named "". */
      if (path == NULL || path[0] == '\0') {
        pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (element),
            "model");
        path = G_PARAM_SPEC_STRING (pspec)->default_value;
      }
      g_free (s->model);
      s->model = g_strdup (path);
      if (GST_STATE (element) > GST_STATE_READY)
        GST_CAT_INFO_OBJECT (argen_common_debug, element,
            "model changed while running; takes effect at the next start");
      break;
    }
    case GST_ARGEN_MEDIA_PROP_SEED:
      s->seed = g_value_get_int64 (value);
      break;
    case GST_ARGEN_MEDIA_PROP_TEMPERATURE:
      s->temperature = g_value_get_float (value);
      break;
    case GST_ARGEN_MEDIA_PROP_THREADS:
      s->threads = g_value_get_uint (value);
      break;
    default:
      GST_OBJECT_UNLOCK (element);
      return FALSE;
  }
  GST_OBJECT_UNLOCK (element);
  return TRUE;
}

gboolean
gst_argen_media_settings_get_property (GstElement *element,
    GstArgenMediaSettings *s, guint prop_id, GValue *value)
{
  GST_OBJECT_LOCK (element);
  switch (prop_id) {
    case GST_ARGEN_MEDIA_PROP_MODEL:
      g_value_set_string (value, s->model);
      break;
    case GST_ARGEN_MEDIA_PROP_SEED:
      g_value_set_int64 (value, s->seed);
      break;
    case GST_ARGEN_MEDIA_PROP_TEMPERATURE:
      g_value_set_float (value, s->temperature);
      break;
    case GST_ARGEN_MEDIA_PROP_THREADS:
      g_value_set_uint (value, s->threads);
      break;
    default:
      GST_OBJECT_UNLOCK (element);
      return FALSE;
  }
  GST_OBJECT_UNLOCK (element);
  return TRUE;
}

/* ---- every element ------------------------------------------------------ */

guint64
gst_argen_pick_seed (gint64 seed)
{
  if (seed >= 0)
    return (guint64) seed;
  return ((guint64) g_random_int () << 32) | g_random_int ();
}

ArThreadPool *
gst_argen_threadpool_new (guint threads, guint max)
{
  if (threads == 0 && max > 0)
    threads = MIN (g_get_num_processors (), max);
  if (threads == 1)
    return NULL;
  return ar_threadpool_new (threads);
}

/* ---- models ------------------------------------------------------------ */

/* Models embedded in the plugin (plugin/argen.gresource.xml), loaded on first
 * use and shared by every element of every family: each entry counts the
 * elements holding it, so that it is freed when the last stops. */
typedef struct
{
  gpointer model;
  guint users;
} EmbeddedModel;

static GMutex embedded_lock;
/* family "\n" resource path → EmbeddedModel */
static GHashTable *embedded = NULL;

static gpointer
load_embedded_model (const gchar *resource, const GstArgenModelFamily *family,
    GError **error)
{
  EmbeddedModel *entry;
  gpointer model = NULL;
  GBytes *bytes;
  ArGguf *gguf;
  gchar *key;

  /* The family is part of the key: the same file loaded as two kinds of
   * model gives two different objects. */
  key = g_strconcat (family->family, "\n", resource, NULL);
  g_mutex_lock (&embedded_lock);
  if (embedded == NULL)
    embedded = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  entry = g_hash_table_lookup (embedded, key);
  if (entry == NULL) {
    bytes =
        g_resources_lookup_data (resource, G_RESOURCE_LOOKUP_FLAGS_NONE, error);
    if (bytes != NULL) {
      gguf = ar_gguf_new_from_bytes (bytes, resource, error);
      if (gguf != NULL) {
        model = family->load (gguf, error);
        ar_gguf_unref (gguf);
      }
      g_bytes_unref (bytes);
    }
    if (model != NULL) {
      entry = g_new0 (EmbeddedModel, 1);
      entry->model = model;
      g_hash_table_insert (embedded, g_steal_pointer (&key), entry);
    }
  }
  if (entry != NULL) {
    entry->users++;
    model = family->ref (entry->model);
  }
  g_mutex_unlock (&embedded_lock);
  g_free (key);
  return model;
}

gpointer
gst_argen_model_acquire (GstElement *element, const gchar *uri,
    const GstArgenModelFamily *family)
{
  GError *error = NULL;
  gpointer model = NULL;
  gchar *name, *text;
  ArGguf *gguf;

  /* the media elements' model property holds their default itself */
  g_return_val_if_fail (family->default_resource != NULL ||
      (uri != NULL && uri[0] != '\0'), NULL);
  ensure_debug_category ();

  if (uri == NULL || uri[0] == '\0') {
    name = g_strdup_printf ("the embedded default %s model", family->family);
    model = load_embedded_model (family->default_resource, family, &error);
  } else if (g_str_has_prefix (uri, GST_ARGEN_RESOURCE_SCHEME)) {
    name = g_strdup (uri);
    model = load_embedded_model (uri + strlen (GST_ARGEN_RESOURCE_SCHEME),
        family, &error);
  } else {
    name = g_strdup (uri);
    gguf = ar_gguf_new_from_file (uri, &error);
    if (gguf != NULL) {
      model = family->load (gguf, &error);
      ar_gguf_unref (gguf);
    }
  }

  if (model != NULL) {
    text = family->describe (model);
    GST_CAT_INFO_OBJECT (argen_common_debug, element, "loaded %s: %s", name,
        text);
    g_free (text);
    g_free (name);
    return model;
  }

  /* libargen's messages name the file; say it ourselves when one does not,
   * so that the user always learns which file failed. */
  if (uri != NULL && uri[0] != '\0' && strstr (error->message, uri) == NULL)
    text = g_strdup_printf ("%s: %s", uri, error->message);
  else
    text = g_strdup (error->message);

  if ((error->domain == AR_ERROR && error->code == AR_ERROR_IO) ||
      error->domain == G_FILE_ERROR || error->domain == G_IO_ERROR) {
    GST_ELEMENT_ERROR (element, RESOURCE, OPEN_READ, ("%s", text),
        ("could not read %s", name));
  } else if (error->domain == G_RESOURCE_ERROR) {
    GST_ELEMENT_ERROR (element, RESOURCE, NOT_FOUND,
        ("%s is not embedded in the plugin (%s)", name, error->message),
        ("resource lookup failed"));
  } else {
    GST_ELEMENT_ERROR (element, RESOURCE, FAILED, ("%s", text),
        ("could not load %s as a %s model", name, family->family));
  }
  g_free (text);
  g_free (name);
  g_error_free (error);
  return NULL;
}

void
gst_argen_model_release (gpointer model, const GstArgenModelFamily *family)
{
  GHashTableIter iter;
  EmbeddedModel *entry;
  gpointer drop = NULL;

  if (model == NULL)
    return;

  g_mutex_lock (&embedded_lock);
  if (embedded != NULL) {
    /* Models are distinct objects, so the pointer alone finds the entry. */
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
    family->unref (drop);
  family->unref (model);
}

/* The text models, through the generic code above. */

static gpointer
text_model_load (ArGguf *gguf, GError **error)
{
  return ar_text_model_new_from_gguf (gguf, error);
}

static gpointer
text_model_ref (gpointer model)
{
  return ar_text_model_ref (model);
}

static void
text_model_unref (gpointer model)
{
  ar_text_model_unref (model);
}

static gchar *
text_model_describe (gpointer model)
{
  return g_strdup_printf ("architecture %s, %u tokens",
      ar_text_model_get_architecture (model),
      ar_vocab_get_size (ar_text_model_get_vocab (model)));
}

static const GstArgenModelFamily text_family = {
  .family = "text",
  .default_resource = GST_ARGEN_DEFAULT_TEXT_MODEL_RESOURCE,
  .load = text_model_load,
  .ref = text_model_ref,
  .unref = text_model_unref,
  .describe = text_model_describe,
};

ArTextModel *
gst_argen_text_model_acquire (GstElement *element, const gchar *path)
{
  return gst_argen_model_acquire (element, path, &text_family);
}

void
gst_argen_text_model_release (ArTextModel *model)
{
  gst_argen_model_release (model, &text_family);
}

gboolean
gst_argen_text_models_acquire (GstElement *element,
    const GstArgenTextSettings *s, ArTextModel **model, ArTextModel **draft)
{
  gboolean speculative = s->mode == GST_ARGEN_TEXT_MODE_SPECULATIVE;
  gboolean nar_mode = s->mode == GST_ARGEN_TEXT_MODE_NON_AUTOREGRESSIVE;
  const gchar *path = s->model, *draft_path = s->draft_model;

  *model = *draft = NULL;
  if (speculative && (path == NULL || path[0] == '\0'))
    path = GST_ARGEN_RESOURCE_SCHEME GST_ARGEN_TRANSFORMER_TEXT_MODEL_RESOURCE;
  if (nar_mode && (path == NULL || path[0] == '\0'))
    path = GST_ARGEN_RESOURCE_SCHEME GST_ARGEN_NAR_TEXT_MODEL_RESOURCE;
  if (speculative && (draft_path == NULL || draft_path[0] == '\0'))
    draft_path = GST_ARGEN_RESOURCE_SCHEME GST_ARGEN_DRAFT_TEXT_MODEL_RESOURCE;
  *model = gst_argen_text_model_acquire (element, path);
  if (*model == NULL)
    return FALSE;
  if (nar_mode != (ar_text_model_get_nar (*model) != NULL)) {
    GST_ELEMENT_ERROR (element, RESOURCE, SETTINGS,
        ("The model %s does not suit mode=%s.", ar_text_model_get_name (*model),
            nar_mode ? "non-autoregressive" : speculative ? "speculative"
                                                          : "autoregressive"),
        ("%s", nar_mode
            ? "non-autoregressive mode needs a NAR model (argen train nar)"
            : "this is a non-autoregressive (nar) model: set "
              "mode=non-autoregressive"));
    g_clear_pointer (model, gst_argen_text_model_release);
    return FALSE;
  }
  if (speculative) {
    *draft = gst_argen_text_model_acquire (element, draft_path);
    if (*draft == NULL) {
      g_clear_pointer (model, gst_argen_text_model_release);
      return FALSE;
    }
  }
  return TRUE;
}

void
gst_argen_text_models_release (ArTextModel **model, ArTextModel **draft)
{
  g_clear_pointer (model, gst_argen_text_model_release);
  g_clear_pointer (draft, gst_argen_text_model_release);
}

/* ---- statistics -------------------------------------------------------- */

void
gst_argen_text_stats_add_gen (GstArgenTextStats *st, const ArTextGen *gen)
{
  guint64 drafted, accepted;

  ar_text_gen_get_speculative_stats (gen, NULL, &drafted, &accepted);
  st->drafted += drafted;
  st->accepted += accepted;
  st->passes += ar_text_gen_get_passes (gen);
}

gboolean
gst_argen_text_feed_queued (ArTextGen *gen, gint *flushing,
    GstArgenTextStats *st)
{
  guint left = ar_text_gen_get_n_queued (gen);

  while (left > 0) {
    guint rest;

    if (g_atomic_int_get (flushing))
      return FALSE;
    rest = ar_text_gen_feed_queued (gen, GST_ARGEN_TEXT_FEED_STEP);
    st->prompt_tokens += left - rest;
    left = rest;
  }
  return TRUE;
}

void
gst_argen_post_text_statistics (GstElement *element, GstArgenTextMode mode,
    const GstArgenTextStats *st)
{
  GstStructure *s;

  s = gst_structure_new ("textgen-statistics", "tokens", G_TYPE_UINT64,
      st->tokens, "seconds", G_TYPE_DOUBLE, st->seconds, "tokens-per-second",
      G_TYPE_DOUBLE, st->seconds > 0.0 ? st->tokens / st->seconds : 0.0,
      "prompt-tokens", G_TYPE_UINT64, st->prompt_tokens, NULL);
  if (mode == GST_ARGEN_TEXT_MODE_SPECULATIVE)
    gst_structure_set (s, "draft-tokens", G_TYPE_UINT64, st->drafted,
        "draft-accepted", G_TYPE_UINT64, st->accepted, "acceptance-rate",
        G_TYPE_DOUBLE,
        st->drafted ? (gdouble) st->accepted / st->drafted : 0.0, NULL);
  if (mode == GST_ARGEN_TEXT_MODE_NON_AUTOREGRESSIVE)
    gst_structure_set (s, "passes", G_TYPE_UINT64, st->passes, NULL);
  gst_element_post_message (element,
      gst_message_new_element (GST_OBJECT (element), s));
}
