/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstargen-common.h — code the elements share.
 *
 * The text elements (textgensrc, textgen) expose the same generation
 * properties (model, max-tokens, temperature, top-k, top-p, seed, stop,
 * beam-width, threads) with the same ranges and flags; this file installs
 * them, stores them in a GstArgenTextSettings, and hands out the loaded
 * models.  The media elements (wavenetsrc, wavenetvocoder, pixelcnnsrc,
 * pixelcnnfill) share four properties (model, seed, temperature, threads),
 * installed here too from a GstArgenMediaProperties that says what differs
 * between them, and stored in a GstArgenMediaSettings.  It also holds the
 * one model loader of all the elements
 * (text, WaveNet, PixelCNN: gst_argen_model_acquire() with a
 * GstArgenModelFamily each): a model embedded in the plugin is loaded once
 * and shared by every element instance that uses it, and freed when the
 * last one stops.
 * This is GStreamer-side glue only: generation itself is libargen's
 * ArTextGen (models/text/ar-text.h). */
#pragma once

#include <gst/gst.h>
#include "core/ar-threadpool.h"
#include "text/ar-text.h"

G_BEGIN_DECLS

/* Property ids of the shared properties.  Each element's own PROP_* enum
 * continues from GST_ARGEN_TEXT_PROP_LAST. */
enum
{
  GST_ARGEN_TEXT_PROP_0,
  GST_ARGEN_TEXT_PROP_MODEL,
  GST_ARGEN_TEXT_PROP_MAX_TOKENS,
  GST_ARGEN_TEXT_PROP_TEMPERATURE,
  GST_ARGEN_TEXT_PROP_TOP_K,
  GST_ARGEN_TEXT_PROP_TOP_P,
  GST_ARGEN_TEXT_PROP_SEED,
  GST_ARGEN_TEXT_PROP_STOP,
  GST_ARGEN_TEXT_PROP_BEAM_WIDTH,
  GST_ARGEN_TEXT_PROP_THREADS,
  GST_ARGEN_TEXT_PROP_MODE,
  GST_ARGEN_TEXT_PROP_DRAFT_MODEL,
  GST_ARGEN_TEXT_PROP_DRAFT_TOKENS,
  GST_ARGEN_TEXT_PROP_ITERATIONS,
  GST_ARGEN_TEXT_PROP_LAST
};

/* How the text elements decode (the `mode` property). */
typedef enum
{
  GST_ARGEN_TEXT_MODE_AUTOREGRESSIVE,
  GST_ARGEN_TEXT_MODE_SPECULATIVE,
  GST_ARGEN_TEXT_MODE_NON_AUTOREGRESSIVE,
} GstArgenTextMode;

#define GST_TYPE_ARGEN_TEXT_MODE (gst_argen_text_mode_get_type ())
GType gst_argen_text_mode_get_type (void);

#define GST_ARGEN_DEFAULT_MODEL NULL
#define GST_ARGEN_DEFAULT_TEMPERATURE 0.8f
#define GST_ARGEN_MAX_TEMPERATURE 10.0f
#define GST_ARGEN_DEFAULT_TOP_K 0
#define GST_ARGEN_DEFAULT_TOP_P 1.0f
#define GST_ARGEN_DEFAULT_SEED G_GINT64_CONSTANT (-1)
#define GST_ARGEN_DEFAULT_STOP NULL
#define GST_ARGEN_DEFAULT_BEAM_WIDTH 1
#define GST_ARGEN_MAX_BEAM_WIDTH 64 /* AR_TEXT_BEAM_MAX_WIDTH */
#define GST_ARGEN_DEFAULT_THREADS 0
#define GST_ARGEN_DEFAULT_MODE GST_ARGEN_TEXT_MODE_AUTOREGRESSIVE
#define GST_ARGEN_DEFAULT_DRAFT_MODEL NULL
#define GST_ARGEN_DEFAULT_DRAFT_TOKENS 4
#define GST_ARGEN_MAX_DRAFT_TOKENS 64 /* AR_TEXT_SPECULATIVE_MAX_DRAFT */
#define GST_ARGEN_DEFAULT_ITERATIONS 1
#define GST_ARGEN_MAX_ITERATIONS 1024

/* Resource paths of the text models embedded in the plugin
 * (plugin/argen.gresource.xml): the default (the RNN) and the Transformer.
 * The `model` property takes a file path or "resource://" + such a path. */
#define GST_ARGEN_DEFAULT_TEXT_MODEL_RESOURCE                                  \
  "/org/gstreamer/argen/defaults/rnn-shakespeare.gguf"
#define GST_ARGEN_TRANSFORMER_TEXT_MODEL_RESOURCE                              \
  "/org/gstreamer/argen/defaults/transformer-shakespeare.gguf"
/* The small Transformer that drafts for it (mode=speculative). */
#define GST_ARGEN_DRAFT_TEXT_MODEL_RESOURCE                                    \
  "/org/gstreamer/argen/defaults/transformer-draft.gguf"
/* The non-autoregressive model (mode=non-autoregressive). */
#define GST_ARGEN_NAR_TEXT_MODEL_RESOURCE                                      \
  "/org/gstreamer/argen/defaults/nar-shakespeare.gguf"
#define GST_ARGEN_RESOURCE_SCHEME "resource://"

/* The shared properties' values.  Fields are read and written under the
 * owning element's GST_OBJECT_LOCK; the streaming thread copies them with
 * gst_argen_text_settings_copy() at the start of each buffer. */
typedef struct
{
  gchar *model;       /* file path; NULL = embedded default */
  gint max_tokens;    /* -1 = unlimited */
  gfloat temperature; /* [0, 10]; 0 = greedy */
  guint top_k;        /* 0 = off */
  gfloat top_p;       /* (0, 1]; 1 = off */
  gint64 seed;        /* -1 = random */
  gchar *stop;        /* as set, escapes not yet interpreted; NULL = none */
  guint beam_width;   /* 1 = sampling; 2 .. 64 = beam search */
  guint threads;      /* 0 = one per processor */
  GstArgenTextMode mode;
  gchar *draft_model; /* file path; NULL = embedded default draft */
  guint draft_tokens; /* k, 1 .. 64 */
  guint iterations;   /* Mask-Predict's T */
} GstArgenTextSettings;

void gst_argen_text_install_properties (GObjectClass *klass,
    gint default_max_tokens);
void gst_argen_text_settings_init (GstArgenTextSettings *s,
    gint default_max_tokens);
void gst_argen_text_settings_clear (GstArgenTextSettings *s);
/* Copies @src into @dest (which must be cleared or zeroed). */
void gst_argen_text_settings_copy (GstArgenTextSettings *dest,
    const GstArgenTextSettings *src);

/* set_property/get_property for the shared ids; they take the object lock.
 * Return FALSE when @prop_id is not one of the shared properties. */
gboolean gst_argen_text_settings_set_property (GstElement *element,
    GstArgenTextSettings *s, guint prop_id, const GValue *value);
gboolean gst_argen_text_settings_get_property (GstElement *element,
    GstArgenTextSettings *s, guint prop_id, GValue *value);

/* The sampling part of @s for ar_text_gen_set_sampling(). */
void gst_argen_text_settings_get_sampling (const GstArgenTextSettings *s,
    ArSamplingParams *params);
/* Applies @s to @gen: sampling, stop string, thread count, and (taking
 * effect at the next ar_text_gen_reset()) beam width and, in speculative
 * mode, @draft with draft-tokens.  On failure (a target or draft that
 * cannot do speculative decoding) posts GST_ELEMENT_ERROR on @element and
 * returns FALSE. */
gboolean gst_argen_text_settings_apply (const GstArgenTextSettings *s,
    ArTextGen *gen, ArTextModel *draft, GstElement *element);
/* The stop string with C escapes (\n, \t, \\ …) interpreted, so that
 * gst-launch-1.0 users can write stop="\n"; NULL when none.  Free with g_free. */
gchar *gst_argen_text_settings_dup_stop (const GstArgenTextSettings *s);
/* @s's seed, or a fresh random one when it is -1. */
guint64 gst_argen_text_settings_pick_seed (const GstArgenTextSettings *s);

/* ---- the media elements' common properties ---------------------------- */

/* Property ids of the properties every media element has.  Each element's
 * own PROP_* enum continues from GST_ARGEN_MEDIA_PROP_LAST. */
enum
{
  GST_ARGEN_MEDIA_PROP_0,
  GST_ARGEN_MEDIA_PROP_MODEL,
  GST_ARGEN_MEDIA_PROP_SEED,
  GST_ARGEN_MEDIA_PROP_TEMPERATURE,
  GST_ARGEN_MEDIA_PROP_THREADS,
  GST_ARGEN_MEDIA_PROP_LAST
};

/* One thread by default, unlike the text elements: the embedded media
 * models are small enough to run fastest in one, each buffer is made with
 * the settings of its moment (no batch drawn ahead), and the other core is
 * left to the rest of the pipeline. */
#define GST_ARGEN_MEDIA_DEFAULT_THREADS 1

/* The `model` blurb of a media element taking @file ("Path of a WaveNet
 * model file (GGUF, as argen train wavenet writes it)"), whose default is
 * @default_text ("the model embedded in the plugin"). */
#define GST_ARGEN_MEDIA_MODEL_BLURB(file, default_text)                        \
  file ", or resource:// and the path of a model embedded in the plugin; "     \
       "read when the element starts (default: " default_text                 \
       "; an empty value restores it)"

/* The `temperature` blurb of the media elements, unless theirs says more. */
#define GST_ARGEN_MEDIA_TEMPERATURE_BLURB                                      \
  "Sampling temperature: 1 samples the model's distribution, below 1 is "      \
  "more conservative, above 1 more random (0 = greedy, always the most "       \
  "probable value)"

/* What differs between the media elements' common properties: each
 * element describes its own in a static const, which
 * gst_argen_media_install_properties() and gst_argen_media_settings_init()
 * take.  Everything else is the same for all: model, seed and threads are
 * read when the element starts (changeable up to READY); seed runs from -1
 * (a random seed, the default) to G_MAXINT64, temperature from 0 to
 * GST_ARGEN_MAX_TEMPERATURE, threads from 0 (one per processor) to
 * AR_THREADPOOL_MAX_THREADS with GST_ARGEN_MEDIA_DEFAULT_THREADS. */
typedef struct
{
  /* GST_ARGEN_MEDIA_MODEL_BLURB of the element's kind of model file */
  const gchar *model_blurb;
  /* "resource://" and the embedded default model's path; setting the
   * property to NULL or "" restores it */
  const gchar *default_model;
  /* what the same seed reproduces */
  const gchar *seed_blurb;
  /* NULL for GST_ARGEN_MEDIA_TEMPERATURE_BLURB */
  const gchar *temperature_blurb;
  gfloat default_temperature;
  /* Added to the temperature's G_PARAM_READWRITE: GST_PARAM_CONTROLLABLE |
   * GST_PARAM_MUTABLE_PLAYING for an element that reads it again for every
   * buffer (after gst_object_sync_values()), GST_PARAM_MUTABLE_READY for
   * one that reads it only when it starts. */
  GParamFlags temperature_flags;
  /* how the element shares its work among the threads */
  const gchar *threads_blurb;
  /* the most threads it can use, the top of `threads`' range (0:
   * AR_THREADPOOL_MAX_THREADS) */
  guint max_threads;
} GstArgenMediaProperties;

/* The common properties' values.  Fields are read and written under the
 * owning element's GST_OBJECT_LOCK: the element reads model, seed and
 * threads when it starts, temperature as its flags say. */
typedef struct
{
  gchar *model;       /* file path or resource:// URI, never NULL or "" */
  gint64 seed;        /* -1 = random */
  gfloat temperature; /* [0, 10]; 0 = greedy */
  guint threads;      /* 0 = one per processor */
} GstArgenMediaSettings;

/* Installs model, seed, temperature and threads on @klass with the ids
 * GST_ARGEN_MEDIA_PROP_MODEL … _THREADS, as @props describes them. */
void gst_argen_media_install_properties (GObjectClass *klass,
    const GstArgenMediaProperties *props);
/* @s at @props's defaults. */
void gst_argen_media_settings_init (GstArgenMediaSettings *s,
    const GstArgenMediaProperties *props);
void gst_argen_media_settings_clear (GstArgenMediaSettings *s);

/* set_property/get_property for the common ids; they take the object
 * lock.  Return FALSE when @prop_id is not one of the common properties. */
gboolean gst_argen_media_settings_set_property (GstElement *element,
    GstArgenMediaSettings *s, guint prop_id, const GValue *value);
gboolean gst_argen_media_settings_get_property (GstElement *element,
    GstArgenMediaSettings *s, guint prop_id, GValue *value);

/* ---- every element ------------------------------------------------------ */

/* @seed, or a fresh random one when it is -1 (every element's `seed`). */
guint64 gst_argen_pick_seed (gint64 seed);

/* A pool of @threads threads (0 = one per processor, but at most @max when
 * @max > 0), or NULL for one thread: libargen then runs everything in the
 * streaming thread, with no hand-over (every element's `threads`). */
ArThreadPool *gst_argen_threadpool_new (guint threads, guint max);

/* One kind of model the elements load (text, WaveNet, PixelCNN), for
 * gst_argen_model_acquire(). */
typedef struct
{
  const gchar *family; /* "WaveNet", in messages: "a WaveNet model" */
  /* Resource path loaded when the element's model is NULL or "" (the text
   * elements, whose default depends on their mode); NULL for the media
   * families, whose elements' model property holds their default itself
   * (a NULL or "" @uri is then a programmer error). */
  const gchar *default_resource;
  /* Builds a model from @gguf, taking no ownership of it. */
  gpointer (*load) (ArGguf *gguf, GError **error);
  gpointer (*ref) (gpointer model);
  void (*unref) (gpointer model);
  /* What was loaded, for the debug log; free with g_free. */
  gchar *(*describe) (gpointer model);
} GstArgenModelFamily;

/* Loads the @family model @uri names: a file path, or "resource://" and the
 * path of a model embedded in the plugin (loaded once per family, shared,
 * freed when its last user releases it), or @family's default resource
 * when @uri is NULL or "".  On failure posts GST_ELEMENT_ERROR on @element
 * with a message naming the file and the problem, and returns NULL.  Release
 * with gst_argen_model_release() and the same @family. */
gpointer gst_argen_model_acquire (GstElement *element, const gchar *uri,
    const GstArgenModelFamily *family);
void gst_argen_model_release (gpointer model,
    const GstArgenModelFamily *family);

/* ---- the text elements' models and statistics ------------------------- */

/* Loads the model at @path, or the shared embedded default when @path is
 * NULL or "".  On failure posts GST_ELEMENT_ERROR on @element carrying the
 * GError text (which names the file) and returns NULL.  Release with
 * gst_argen_text_model_release(). */
ArTextModel *gst_argen_text_model_acquire (GstElement *element,
    const gchar *path);
void gst_argen_text_model_release (ArTextModel *model);
/* The models @s asks for: *model, the model property's (NULL: the
 * embedded GRU, in speculative mode the embedded Transformer, in
 * non-autoregressive mode the embedded NAR model), and in speculative mode
 * *draft, the draft-model property's (NULL: the embedded draft; otherwise
 * *draft is NULL).  A model that does not suit the mode (an autoregressive
 * one in non-autoregressive mode or the reverse) is an error.  On failure
 * posts GST_ELEMENT_ERROR, leaves both NULL and returns FALSE.  Release
 * with gst_argen_text_models_release(). */
gboolean gst_argen_text_models_acquire (GstElement *element,
    const GstArgenTextSettings *s, ArTextModel **model, ArTextModel **draft);
void gst_argen_text_models_release (ArTextModel **model, ArTextModel **draft);

/* What a text element counts over its streams for its statistics. */
typedef struct
{
  guint64 tokens;
  gdouble seconds;
  guint64 drafted, accepted; /* speculative: drafts verified, accepted */
  guint64 passes;            /* non-autoregressive: encoder passes */
  guint64 prompt_tokens;     /* prompt tokens the model read */
} GstArgenTextStats;

/* Prompt tokens fed between two checks for a flush or a state change:
 * one batch of the Transformer's prompt path; a millisecond or two of
 * the embedded models, a few hundred milliseconds of a 100M-weight one. */
#define GST_ARGEN_TEXT_FEED_STEP 32

/* Feeds what @gen has queued of a prompt (ar_text_gen_queue ()),
 * GST_ARGEN_TEXT_FEED_STEP tokens at a time, checking the atomic
 * *@flushing (set by a flush-start, an unlock or a state change to READY)
 * before each step.  Returns FALSE, leaving the rest queued, when it is
 * set; TRUE once nothing is queued.  Adds the tokens fed to
 * @st->prompt_tokens. */
gboolean gst_argen_text_feed_queued (ArTextGen *gen, gint *flushing,
    GstArgenTextStats *st);

/* Adds @gen's speculative and non-autoregressive counters since its last
 * reset to @st (not tokens or seconds, which the elements count). */
void gst_argen_text_stats_add_gen (GstArgenTextStats *st, const ArTextGen *gen);

/* Posts the element message "textgen-statistics" (tokens, seconds,
 * tokens-per-second, prompt-tokens; in speculative mode also draft-tokens, the drafts
 * verified, draft-accepted, and acceptance-rate, their ratio; in
 * non-autoregressive mode passes, the encoder passes) on @element's
 * bus. */
void gst_argen_post_text_statistics (GstElement *element,
    GstArgenTextMode mode, const GstArgenTextStats *st);

G_END_DECLS
