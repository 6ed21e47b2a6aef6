/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstpixelcnnsrc.c — pixelcnnsrc, a GstPushSrc that draws images pixel by
 * pixel with a PixelCNN model (libargen's ArPixelCnnGen), built like
 * videotestsrc: fill() writes one image into each buffer the base class
 * allocates (from a video buffer pool, so that strides are honoured), and
 * the buffer's offsets and timestamps come from a frame counter scaled by
 * the negotiated framerate, so that they never drift.
 *
 * With more than one thread the generator draws several images per call
 * (libargen shares a call's images among its threads), so the element
 * draws a small batch ahead and hands the images out one buffer at a time;
 * image k of the stream is the same whatever the batch (libargen seeds
 * each image from the seed and its index). */

/**
 * SECTION:element-pixelcnnsrc
 * @title: pixelcnnsrc
 *
 * pixelcnnsrc draws images with a PixelCNN, one pixel at a time in raster
 * order, and pushes each as one progressive `video/x-raw` GRAY8 buffer at
 * the model's width and height (binary models give pixels of 0 and 255).  It offers
 * only that size: a downstream element that wants another fails to
 * negotiate (the error names both sizes), so put videoscale after it.  The
 * framerate is negotiable (default 1/1); a framerate of 0/1 gives a single
 * image, timestamped 0 without a duration.  Buffer offsets count images;
 * timestamps are those counts scaled by the framerate.  When downstream
 * renegotiates the framerate mid-stream, the timestamps go on from the end
 * of the last image at the old one.
 *
 * The #GstPixelcnnSrc:model is a file made by `argen train pixelcnn`, or a
 * model embedded in the plugin given as resource:// and its path.  A
 * class-conditional model draws the #GstPixelcnnSrc:class named by a label
 * ("sneaker") or an index, or a random class for each image ("random" or
 * "-1", the default).  The same #GstPixelcnnSrc:seed gives the same images,
 * which are those libargen's generator (and `argen images`) draws with that
 * seed, whatever the number of #GstPixelcnnSrc:threads.
 * #GstPixelcnnSrc:temperature and #GstPixelcnnSrc:class can be changed
 * while playing, temperature also through a control binding: a change
 * applies from the next image drawn (with threads other than 1, from the
 * next batch of twice as many images as threads).
 *
 * With #GstPixelcnnSrc:is-live the source pushes each image when the clock
 * reaches its timestamp and reports one frame of latency (it posts a
 * latency message once it has negotiated a framerate: a live pipeline asks
 * for its latency before that, and applications recalculate it on the
 * message, as gst-launch-1.0 does); with threads
 * other than 1, a batch of frames (the first image of a batch waits until
 * the batch is drawn; put a queue after the source, so that the sink's
 * wait for the clock does not hold up the drawing).  The stream is not
 * seekable: an image exists only once drawn.
 *
 * At the end of the stream the element posts an element message named
 * `pixelcnnsrc-statistics` with the fields `images` (guint64), `seconds`
 * (gdouble, wall time spent drawing) and `images-per-second` (gdouble).
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 pixelcnnsrc model=fashion.gguf class=sneaker num-buffers=16 seed=3 ! pngenc ! multifilesink location=img%02d.png
 * ]| Sixteen images of the class sneaker in PNG files, the same files every
 * time.
 * |[
 * gst-launch-1.0 pixelcnnsrc model=fashion.gguf is-live=true framerate=2/1 ! videoconvert ! videoscale ! video/x-raw,width=280,height=280 ! autovideosink
 * ]| Shows two new images a second, of random classes, enlarged.
 */

#include "gstpixelcnnsrc.h"
#include "gstpixelcnn-common.h"

#include <gst/video/video.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (pixelcnn_src_debug);
#define GST_CAT_DEFAULT pixelcnn_src_debug

#define DEFAULT_CLASS GST_PIXELCNN_DEFAULT_CLASS
#define DEFAULT_IS_LIVE FALSE
/* The framerate fixated when downstream leaves it open. */
#define DEFAULT_FPS_N 1
#define DEFAULT_FPS_D 1

/* model, seed, temperature and threads: read in start(), but temperature
 * for every batch of images, through the controller at the stream time of
 * the batch's first image.  The default of one thread draws each image
 * when its buffer is due, with the settings of that moment. */
static const GstArgenMediaProperties media_properties = {
  .model_blurb = GST_PIXELCNN_MODEL_BLURB,
  .default_model = GST_PIXELCNN_DEFAULT_MODEL,
  .seed_blurb =
      "Seed of the sampling random number generator; the same seed, model "
      "and settings give the same images (-1 = a random seed)",
  .temperature_blurb = NULL,
  .default_temperature = GST_PIXELCNN_DEFAULT_TEMPERATURE,
  .temperature_flags = GST_PARAM_CONTROLLABLE | GST_PARAM_MUTABLE_PLAYING,
  .threads_blurb =
      "Threads drawing images (0 = one per processor); with more than one, "
      "images are drawn in batches of twice as many ahead of time.  The "
      "images are the same for every value",
};

enum
{
  PROP_CLASS = GST_ARGEN_MEDIA_PROP_LAST,
  PROP_IS_LIVE,
};

struct _GstPixelcnnSrc
{
  GstPushSrc parent;

  /* Properties, under the object lock. */
  GstArgenMediaSettings settings;
  gchar *class_text;

  /* Negotiated format (set_caps), under the object lock. */
  GstVideoInfo info;
  gboolean negotiated;

  /* The model's size, atomic: caps queries read it from any thread. */
  gint width;
  gint height;

  /* Streaming state, set up in start(), then used by the streaming thread
   * only. */
  ArPixelCnn *model;
  ArPixelCnnGen *gen;
  ArThreadPool *pool;
  gchar *uri;           /* the model's, for messages */
  gchar *applied_class; /* class_text as last applied to gen */
  guint batch_max;      /* images drawn per generator call */
  guint8 *images;       /* (batch_max, H, W) drawn, not yet pushed */
  guint n_ready;        /* images in the batch */
  guint next_ready;     /* the next one to push */
  guint64 n_frames;     /* frames pushed since start */
  guint64 drawn;        /* images drawn, for the statistics */
  gint64 draw_us;
  gboolean stats_posted;
  /* Where the negotiated framerate took over: the frame count and stream
   * time then (0 and 0 until caps change mid-stream), so that timestamps
   * stay continuous when downstream renegotiates the framerate. */
  guint64 rate_frame;
  GstClockTime rate_time;
};

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (GST_PIXELCNN_CAPS));

#define gst_pixelcnn_src_parent_class parent_class
G_DEFINE_TYPE (GstPixelcnnSrc, gst_pixelcnn_src, GST_TYPE_PUSH_SRC);

GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (pixelcnnsrc, "pixelcnnsrc",
    GST_RANK_NONE, GST_TYPE_PIXELCNN_SRC,
    GST_DEBUG_CATEGORY_INIT (pixelcnn_src_debug, "pixelcnnsrc", 0,
        "PixelCNN image source"));

static void gst_pixelcnn_src_finalize (GObject *object);
static void gst_pixelcnn_src_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec);
static void gst_pixelcnn_src_get_property (GObject *object, guint prop_id,
    GValue *value, GParamSpec *pspec);
static GstCaps *gst_pixelcnn_src_get_caps (GstBaseSrc *bsrc, GstCaps *filter);
static gboolean gst_pixelcnn_src_negotiate (GstBaseSrc *bsrc);
static GstCaps *gst_pixelcnn_src_fixate (GstBaseSrc *bsrc, GstCaps *caps);
static gboolean gst_pixelcnn_src_set_caps (GstBaseSrc *bsrc, GstCaps *caps);
static gboolean gst_pixelcnn_src_decide_allocation (GstBaseSrc *bsrc,
    GstQuery *query);
static gboolean gst_pixelcnn_src_start (GstBaseSrc *bsrc);
static gboolean gst_pixelcnn_src_stop (GstBaseSrc *bsrc);
static gboolean gst_pixelcnn_src_is_seekable (GstBaseSrc *bsrc);
static gboolean gst_pixelcnn_src_query (GstBaseSrc *bsrc, GstQuery *query);
static void gst_pixelcnn_src_get_times (GstBaseSrc *bsrc, GstBuffer *buffer,
    GstClockTime *start, GstClockTime *end);
static GstFlowReturn gst_pixelcnn_src_fill (GstPushSrc *psrc,
    GstBuffer *buffer);
static GstPadProbeReturn gst_pixelcnn_src_eos_probe (GstPad *pad,
    GstPadProbeInfo *info, gpointer user_data);

static void
gst_pixelcnn_src_class_init (GstPixelcnnSrcClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *basesrc_class = GST_BASE_SRC_CLASS (klass);
  GstPushSrcClass *pushsrc_class = GST_PUSH_SRC_CLASS (klass);

  gobject_class->set_property = gst_pixelcnn_src_set_property;
  gobject_class->get_property = gst_pixelcnn_src_get_property;
  gobject_class->finalize = gst_pixelcnn_src_finalize;

  gst_argen_media_install_properties (gobject_class, &media_properties);
  g_object_class_install_property (gobject_class, PROP_CLASS,
      g_param_spec_string ("class", "Class",
          "The class of the images a class-conditional model draws: a label "
          "of the model (\"sneaker\") or its index, or \"random\" (or -1) "
          "for a random class per image; applies from the next image",
          DEFAULT_CLASS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_IS_LIVE,
      g_param_spec_boolean ("is-live", "Is live",
          "Whether to act as a live source, pushing each image when the "
          "clock reaches its timestamp",
          DEFAULT_IS_LIVE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));

  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "PixelCNN source",
      "Source/Video",
      "Draws images pixel by pixel with a PixelCNN model, optionally of a "
      "chosen class",
      "gst-argen developers");

  basesrc_class->get_caps = GST_DEBUG_FUNCPTR (gst_pixelcnn_src_get_caps);
  basesrc_class->negotiate = GST_DEBUG_FUNCPTR (gst_pixelcnn_src_negotiate);
  basesrc_class->fixate = GST_DEBUG_FUNCPTR (gst_pixelcnn_src_fixate);
  basesrc_class->set_caps = GST_DEBUG_FUNCPTR (gst_pixelcnn_src_set_caps);
  basesrc_class->decide_allocation =
      GST_DEBUG_FUNCPTR (gst_pixelcnn_src_decide_allocation);
  basesrc_class->start = GST_DEBUG_FUNCPTR (gst_pixelcnn_src_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR (gst_pixelcnn_src_stop);
  basesrc_class->is_seekable = GST_DEBUG_FUNCPTR (gst_pixelcnn_src_is_seekable);
  basesrc_class->query = GST_DEBUG_FUNCPTR (gst_pixelcnn_src_query);
  basesrc_class->get_times = GST_DEBUG_FUNCPTR (gst_pixelcnn_src_get_times);
  pushsrc_class->fill = GST_DEBUG_FUNCPTR (gst_pixelcnn_src_fill);
}

static void
gst_pixelcnn_src_init (GstPixelcnnSrc *self)
{
  gst_argen_media_settings_init (&self->settings, &media_properties);
  self->class_text = g_strdup (DEFAULT_CLASS);
  gst_video_info_init (&self->info);

  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
  gst_base_src_set_live (GST_BASE_SRC (self), DEFAULT_IS_LIVE);

  /* EOS can come from the base class (num-buffers), from fill (framerate
   * 0/1) or from the application; the statistics go out whichever it is,
   * before the EOS leaves the element. */
  gst_pad_add_probe (GST_BASE_SRC_PAD (self),
      GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, gst_pixelcnn_src_eos_probe, self,
      NULL);
}

static void
gst_pixelcnn_src_finalize (GObject *object)
{
  GstPixelcnnSrc *self = GST_PIXELCNN_SRC (object);

  gst_argen_media_settings_clear (&self->settings);
  g_free (self->class_text);

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_pixelcnn_src_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec)
{
  GstPixelcnnSrc *self = GST_PIXELCNN_SRC (object);

  if (gst_argen_media_settings_set_property (GST_ELEMENT (self),
          &self->settings, prop_id, value))
    return;

  switch (prop_id) {
    case PROP_IS_LIVE:
      gst_base_src_set_live (GST_BASE_SRC (self), g_value_get_boolean (value));
      return;
    default:
      break;
  }

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_CLASS:
      g_free (self->class_text);
      self->class_text = g_value_dup_string (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_pixelcnn_src_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  GstPixelcnnSrc *self = GST_PIXELCNN_SRC (object);

  if (gst_argen_media_settings_get_property (GST_ELEMENT (self),
          &self->settings, prop_id, value))
    return;

  switch (prop_id) {
    case PROP_IS_LIVE:
      g_value_set_boolean (value, gst_base_src_is_live (GST_BASE_SRC (self)));
      return;
    default:
      break;
  }

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_CLASS:
      g_value_set_string (value, self->class_text);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ---- caps ------------------------------------------------------------- */

/* Stream time of frame @n at @fps_n / @fps_d (> 0). */
static GstClockTime
frame_time (guint64 n, gint fps_n, gint fps_d)
{
  return gst_util_uint64_scale (n, (guint64) fps_d * GST_SECOND,
      (guint64) fps_n);
}

static GstCaps *
model_caps (GstPixelcnnSrc *self)
{
  return gst_pixelcnn_caps_at_size (g_atomic_int_get (&self->width),
      g_atomic_int_get (&self->height));
}

static GstCaps *
gst_pixelcnn_src_get_caps (GstBaseSrc *bsrc, GstCaps *filter)
{
  GstPixelcnnSrc *self = GST_PIXELCNN_SRC (bsrc);
  GstCaps *caps, *result;

  /* Before start() no model is loaded and any size is possible. */
  caps = model_caps (self);
  if (filter == NULL)
    return caps;
  result = gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST);
  gst_caps_unref (caps);
  return result;
}

/* The sizes @caps allows, for a message ("any" when it does not say). */
static gchar *
describe_sizes (const GstCaps *caps)
{
  GString *s = g_string_new (NULL);
  guint i;

  for (i = 0; i < gst_caps_get_size (caps); i++) {
    const GstStructure *st = gst_caps_get_structure (caps, i);
    const GValue *w = gst_structure_get_value (st, "width");
    const GValue *h = gst_structure_get_value (st, "height");
    gchar *ws, *hs, *text;

    if (w == NULL && h == NULL)
      continue;
    ws = w != NULL ? gst_value_serialize (w) : g_strdup ("any");
    hs = h != NULL ? gst_value_serialize (h) : g_strdup ("any");
    text = g_strdup_printf ("%s x %s", ws, hs);
    if (strstr (s->str, text) == NULL)
      g_string_append_printf (s, "%s%s", s->len > 0 ? " or " : "", text);
    g_free (ws);
    g_free (hs);
    g_free (text);
  }
  if (s->len == 0)
    g_string_append (s, "any size");
  return g_string_free (s, FALSE);
}

static gboolean
gst_pixelcnn_src_negotiate (GstBaseSrc *bsrc)
{
  GstPixelcnnSrc *self = GST_PIXELCNN_SRC (bsrc);
  GstCaps *ours, *any_size, *peer;
  gint width = g_atomic_int_get (&self->width);
  gint height = g_atomic_int_get (&self->height);

  if (GST_BASE_SRC_CLASS (parent_class)->negotiate (bsrc))
    return TRUE;

  /* The base class fails with a bare not-negotiated; when the reason is
   * that downstream takes none of what the model can draw, say so, and
   * what to do about it. */
  peer = gst_pad_peer_query_caps (GST_BASE_SRC_PAD (bsrc), NULL);
  if (peer == NULL)
    return FALSE;
  ours = model_caps (self);
  any_size = gst_static_pad_template_get_caps (&src_template);
  if (!gst_caps_can_intersect (ours, peer)) {
    if (width > 0 && gst_caps_can_intersect (any_size, peer)) {
      gchar *sizes = describe_sizes (peer);

      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
          ("pixelcnnsrc draws images of the model's size, %d x %d, but "
           "downstream accepts only %s; put videoscale after it",
              width, height, sizes),
          ("downstream caps: %" GST_PTR_FORMAT, peer));
      g_free (sizes);
    } else {
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
          ("downstream accepts none of what pixelcnnsrc produces "
           "(progressive GRAY8 video, square pixels); put videoconvert "
           "after it"),
          ("ours: %" GST_PTR_FORMAT ", downstream: %" GST_PTR_FORMAT, ours,
              peer));
    }
  }
  gst_caps_unref (ours);
  gst_caps_unref (any_size);
  gst_caps_unref (peer);
  return FALSE;
}

static GstCaps *
gst_pixelcnn_src_fixate (GstBaseSrc *bsrc, GstCaps *caps)
{
  GstPixelcnnSrc *self = GST_PIXELCNN_SRC (bsrc);
  GstStructure *s;

  caps = gst_caps_truncate (gst_caps_make_writable (caps));
  s = gst_caps_get_structure (caps, 0);
  gst_structure_fixate_field_nearest_int (s, "width",
      g_atomic_int_get (&self->width));
  gst_structure_fixate_field_nearest_int (s, "height",
      g_atomic_int_get (&self->height));
  gst_structure_fixate_field_nearest_fraction (s, "framerate", DEFAULT_FPS_N,
      DEFAULT_FPS_D);
  if (gst_structure_has_field (s, "pixel-aspect-ratio"))
    gst_structure_fixate_field_nearest_fraction (s, "pixel-aspect-ratio", 1, 1);

  return GST_BASE_SRC_CLASS (parent_class)->fixate (bsrc, caps);
}

static gboolean
gst_pixelcnn_src_set_caps (GstBaseSrc *bsrc, GstCaps *caps)
{
  GstPixelcnnSrc *self = GST_PIXELCNN_SRC (bsrc);
  gboolean latency_changed;
  GstVideoInfo info;

  if (!gst_video_info_from_caps (&info, caps) ||
      GST_VIDEO_INFO_FORMAT (&info) != GST_VIDEO_FORMAT_GRAY8 ||
      GST_VIDEO_INFO_WIDTH (&info) != g_atomic_int_get (&self->width) ||
      GST_VIDEO_INFO_HEIGHT (&info) != g_atomic_int_get (&self->height) ||
      GST_VIDEO_INFO_FPS_N (&info) < 0 || GST_VIDEO_INFO_FPS_D (&info) <= 0) {
    /* get_caps offers nothing else once the model is loaded. */
    GST_ERROR_OBJECT (self, "cannot produce %" GST_PTR_FORMAT, caps);
    return FALSE;
  }

  GST_OBJECT_LOCK (self);
  /* The latency is a frame (a batch) at the framerate: a live pipeline
   * asks for it when going to PLAYING, before the streaming thread has
   * negotiated, so a first framerate (or a new one) is announced. */
  latency_changed = !self->negotiated ||
      GST_VIDEO_INFO_FPS_N (&self->info) != GST_VIDEO_INFO_FPS_N (&info) ||
      GST_VIDEO_INFO_FPS_D (&self->info) != GST_VIDEO_INFO_FPS_D (&info);
  /* A new framerate mid-stream (set_caps runs in the streaming thread, as
   * fill does) starts where the frames at the old one ended; a still image
   * (0/1) ends where it started. */
  if (self->negotiated && GST_VIDEO_INFO_FPS_N (&self->info) > 0)
    self->rate_time += frame_time (self->n_frames - self->rate_frame,
        GST_VIDEO_INFO_FPS_N (&self->info), GST_VIDEO_INFO_FPS_D (&self->info));
  self->rate_frame = self->n_frames;
  self->info = info;
  self->negotiated = TRUE;
  GST_OBJECT_UNLOCK (self);
  GST_DEBUG_OBJECT (self, "negotiated %" GST_PTR_FORMAT, caps);
  if (latency_changed && gst_base_src_is_live (bsrc))
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_latency (GST_OBJECT (self)));
  return TRUE;
}

/* Buffers from downstream's pool when it offers one (at least an image
 * large), else from a video pool of our own; video meta when downstream
 * reads it, so that a pool's strides are described. */
static gboolean
gst_pixelcnn_src_decide_allocation (GstBaseSrc *bsrc, GstQuery *query)
{
  GstPixelcnnSrc *self = GST_PIXELCNN_SRC (bsrc);
  GstBufferPool *pool = NULL;
  GstStructure *config;
  GstCaps *caps = NULL;
  guint size, min = 0, max = 0, image_size;
  gboolean have_pool;

  GST_OBJECT_LOCK (self);
  image_size = (guint) GST_VIDEO_INFO_SIZE (&self->info);
  GST_OBJECT_UNLOCK (self);

  have_pool = gst_query_get_n_allocation_pools (query) > 0;
  if (have_pool)
    gst_query_parse_nth_allocation_pool (query, 0, &pool, &size, &min, &max);
  size = have_pool ? MAX (size, image_size) : image_size;
  if (pool == NULL)
    pool = gst_video_buffer_pool_new ();

  config = gst_buffer_pool_get_config (pool);
  gst_query_parse_allocation (query, &caps, NULL);
  if (caps != NULL)
    gst_buffer_pool_config_set_params (config, caps, size, min, max);
  if (gst_query_find_allocation_meta (query, GST_VIDEO_META_API_TYPE, NULL))
    gst_buffer_pool_config_add_option (config,
        GST_BUFFER_POOL_OPTION_VIDEO_META);
  gst_buffer_pool_set_config (pool, config);

  if (have_pool)
    gst_query_set_nth_allocation_pool (query, 0, pool, size, min, max);
  else
    gst_query_add_allocation_pool (query, pool, size, min, max);
  gst_object_unref (pool);

  return GST_BASE_SRC_CLASS (parent_class)->decide_allocation (bsrc, query);
}

/* ---- start and stop --------------------------------------------------- */

/* The class property's @text (taken) applied to the generator. */
static gboolean
apply_class (GstPixelcnnSrc *self, gchar *text)
{
  return gst_pixelcnn_apply_class (GST_ELEMENT (self), GST_CAT_DEFAULT,
      self->model, self->uri, self->gen, &self->applied_class, text);
}

static gboolean
gst_pixelcnn_src_start (GstBaseSrc *bsrc)
{
  GstPixelcnnSrc *self = GST_PIXELCNN_SRC (bsrc);
  const ArPixelCnnConfig *config;
  guint64 stream_seed;
  gchar *class_text;
  gint64 seed;
  guint threads;

  GST_OBJECT_LOCK (self);
  self->uri = g_strdup (self->settings.model);
  class_text = g_strdup (self->class_text != NULL ? self->class_text : "");
  seed = self->settings.seed;
  threads = self->settings.threads;
  self->negotiated = FALSE;
  GST_OBJECT_UNLOCK (self);

  self->model = gst_pixelcnn_model_acquire (GST_ELEMENT (self), self->uri);
  if (self->model == NULL) {
    g_free (class_text);
    goto failed;
  }
  config = ar_pixelcnn_get_config (self->model);

  self->gen = ar_pixelcnn_gen_new (self->model);
  /* A class the model does not have fails here, before any streaming. */
  if (!apply_class (self, class_text))
    goto failed;
  self->pool = gst_argen_threadpool_new (threads, 0);
  ar_pixelcnn_gen_set_threadpool (self->gen, self->pool);
  /* libargen draws images in pairs on each thread: two per thread keeps
   * them all busy.  One thread draws each image when it is due. */
  self->batch_max =
      self->pool != NULL ? 2 * ar_threadpool_get_n_threads (self->pool) : 1;
  self->images =
      g_malloc ((gsize) self->batch_max * config->width * config->height);
  self->n_ready = self->next_ready = 0;

  stream_seed = gst_argen_pick_seed (seed);
  GST_INFO_OBJECT (self, "seed %" G_GUINT64_FORMAT ", %u images a batch",
      stream_seed, self->batch_max);
  ar_pixelcnn_gen_reset (self->gen, stream_seed);

  g_atomic_int_set (&self->width, config->width);
  g_atomic_int_set (&self->height, config->height);
  self->n_frames = 0;
  self->rate_frame = 0;
  self->rate_time = 0;
  self->drawn = 0;
  self->draw_us = 0;
  self->stats_posted = FALSE;
  return TRUE;

failed:
  gst_pixelcnn_src_stop (bsrc);
  return FALSE;
}

static gboolean
gst_pixelcnn_src_stop (GstBaseSrc *bsrc)
{
  GstPixelcnnSrc *self = GST_PIXELCNN_SRC (bsrc);

  g_clear_pointer (&self->gen, ar_pixelcnn_gen_free);
  g_clear_pointer (&self->pool, ar_threadpool_free);
  g_clear_pointer (&self->model, gst_pixelcnn_model_release);
  g_clear_pointer (&self->images, g_free);
  g_clear_pointer (&self->uri, g_free);
  g_clear_pointer (&self->applied_class, g_free);
  self->n_ready = self->next_ready = 0;
  g_atomic_int_set (&self->width, 0);
  g_atomic_int_set (&self->height, 0);
  GST_OBJECT_LOCK (self);
  self->negotiated = FALSE;
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

/* ---- time and queries ------------------------------------------------- */

static gboolean
gst_pixelcnn_src_is_seekable (GstBaseSrc *bsrc)
{
  return FALSE;
}

static gboolean
gst_pixelcnn_src_query (GstBaseSrc *bsrc, GstQuery *query)
{
  GstPixelcnnSrc *self = GST_PIXELCNN_SRC (bsrc);

  if (GST_QUERY_TYPE (query) == GST_QUERY_LATENCY) {
    GstClockTime latency = 0;
    gint fps_n, fps_d;
    gboolean negotiated;

    GST_OBJECT_LOCK (self);
    negotiated = self->negotiated;
    fps_n = GST_VIDEO_INFO_FPS_N (&self->info);
    fps_d = GST_VIDEO_INFO_FPS_D (&self->info);
    GST_OBJECT_UNLOCK (self);
    /* A live source's image "arrives" over a frame's duration, as from a
     * camera: downstream must allow one frame.  With more than one thread
     * the first image of a batch is pushed only once the whole batch is
     * drawn, which keeping up takes up to batch_max - 1 frames more (set in
     * start(), before we can be negotiated).  No maximum.  Before the
     * framerate is known (a live pipeline asks when going to PLAYING,
     * while the streaming thread negotiates) and at a variable framerate
     * the answer is live with no latency of our own, and set_caps posts a
     * latency message once a framerate is negotiated: a failed query made
     * the whole pipeline count as not live, with no latency at all. */
    if (gst_base_src_is_live (bsrc) && negotiated && fps_n > 0)
      latency = gst_util_uint64_scale_int (GST_SECOND * (guint64) fps_d,
          MAX (self->batch_max, 1), fps_n);
    gst_query_set_latency (query, gst_base_src_is_live (bsrc), latency,
        GST_CLOCK_TIME_NONE);
    return TRUE;
  }
  return GST_BASE_SRC_CLASS (parent_class)->query (bsrc, query);
}

static void
gst_pixelcnn_src_get_times (GstBaseSrc *bsrc, GstBuffer *buffer,
    GstClockTime *start, GstClockTime *end)
{
  /* Only a live source waits for the clock: until each image's timestamp,
   * so that the next image is drawn during this one's frame. */
  *start = GST_CLOCK_TIME_NONE;
  *end = GST_CLOCK_TIME_NONE;
  if (gst_base_src_is_live (bsrc) && GST_BUFFER_PTS_IS_VALID (buffer)) {
    *start = GST_BUFFER_PTS (buffer);
    if (GST_BUFFER_DURATION_IS_VALID (buffer))
      *end = *start + GST_BUFFER_DURATION (buffer);
  }
}

/* ---- drawing ------------------------------------------------------------ */

/* Draws the next batch with the settings of @time: at most batch_max
 * images, no more than num-buffers still needs, one for a still image. */
static GstFlowReturn
draw_batch (GstPixelcnnSrc *self, GstClockTime time, gint fps_n)
{
  gfloat temperature;
  gchar *class_text;
  gint num_buffers;
  guint n = self->batch_max;
  gint64 t0;

  if (GST_CLOCK_TIME_IS_VALID (time))
    gst_object_sync_values (GST_OBJECT (self), time);
  GST_OBJECT_LOCK (self);
  temperature = self->settings.temperature;
  class_text = g_strdup (self->class_text != NULL ? self->class_text : "");
  num_buffers = GST_BASE_SRC (self)->num_buffers;
  GST_OBJECT_UNLOCK (self);

  /* The class is parsed again only when it changes. */
  if (!apply_class (self, class_text))
    return GST_FLOW_ERROR;
  ar_pixelcnn_gen_set_temperature (self->gen, temperature);

  if (num_buffers >= 0 && (guint64) num_buffers > self->n_frames)
    n = (guint) MIN ((guint64) n, (guint64) num_buffers - self->n_frames);
  if (fps_n == 0)
    n = 1;

  t0 = g_get_monotonic_time ();
  ar_pixelcnn_gen_sample (self->gen, self->images, (int) n, NULL);
  self->draw_us += g_get_monotonic_time () - t0;
  self->drawn += n;
  self->n_ready = n;
  self->next_ready = 0;
  GST_LOG_OBJECT (self, "drew %u images at temperature %g", n, temperature);
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_pixelcnn_src_fill (GstPushSrc *psrc, GstBuffer *buffer)
{
  GstPixelcnnSrc *self = GST_PIXELCNN_SRC (psrc);
  const ArPixelCnnConfig *config;
  GstClockTime time, next_time;
  GstVideoFrame frame;
  GstVideoInfo info;
  GstFlowReturn ret;
  const guint8 *image;
  gboolean negotiated;
  gint fps_n, fps_d, r;

  GST_OBJECT_LOCK (self);
  info = self->info;
  negotiated = self->negotiated;
  GST_OBJECT_UNLOCK (self);
  if (!negotiated || self->gen == NULL)
    return GST_FLOW_NOT_NEGOTIATED;
  fps_n = GST_VIDEO_INFO_FPS_N (&info);
  fps_d = GST_VIDEO_INFO_FPS_D (&info);

  /* A still image (framerate 0/1) is one frame. */
  if (fps_n == 0 && self->n_frames > self->rate_frame) {
    GST_DEBUG_OBJECT (self, "framerate 0/1: one image only");
    return GST_FLOW_EOS;
  }

  /* Counted from where this framerate took over, so that the timestamps
   * neither jump nor go back when it changes. */
  time = self->rate_time;
  next_time = GST_CLOCK_TIME_NONE;
  if (fps_n > 0) {
    time += frame_time (self->n_frames - self->rate_frame, fps_n, fps_d);
    next_time = self->rate_time +
        frame_time (self->n_frames - self->rate_frame + 1, fps_n, fps_d);
  }

  if (self->next_ready >= self->n_ready) {
    ret = draw_batch (self, time, fps_n);
    if (ret != GST_FLOW_OK)
      return ret;
  }

  config = ar_pixelcnn_get_config (self->model);
  image =
      self->images + (gsize) self->next_ready * config->width * config->height;
  if (!gst_video_frame_map (&frame, &info, buffer, GST_MAP_WRITE)) {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE, (NULL),
        ("could not map the output buffer"));
    return GST_FLOW_ERROR;
  }
  /* Rows of the model's width into rows of the frame's stride. */
  for (r = 0; r < config->height; r++)
    memcpy ((guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frame, 0) +
            (gsize) r * GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0),
        image + (gsize) r * config->width, config->width);
  gst_video_frame_unmap (&frame);
  self->next_ready++;

  GST_BUFFER_PTS (buffer) = time;
  GST_BUFFER_DTS (buffer) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DURATION (buffer) = GST_CLOCK_TIME_IS_VALID (next_time)
      ? next_time - time
      : GST_CLOCK_TIME_NONE;
  GST_BUFFER_OFFSET (buffer) = self->n_frames;
  GST_BUFFER_OFFSET_END (buffer) = self->n_frames + 1;
  GST_LOG_OBJECT (self, "image %" G_GUINT64_FORMAT " at %" GST_TIME_FORMAT,
      self->n_frames, GST_TIME_ARGS (time));
  self->n_frames++;
  return GST_FLOW_OK;
}

static GstPadProbeReturn
gst_pixelcnn_src_eos_probe (GstPad *pad, GstPadProbeInfo *info,
    gpointer user_data)
{
  GstPixelcnnSrc *self = GST_PIXELCNN_SRC (user_data);
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);

  /* Downstream events are pushed from the streaming thread, which owns the
   * counters.  Images drawn ahead but never pushed are not counted. */
  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS && !self->stats_posted &&
      self->gen != NULL) {
    gdouble seconds = self->draw_us / (gdouble) G_USEC_PER_SEC;
    guint64 pushed = self->n_frames;

    /* The time of the images pushed, in proportion to those drawn. */
    if (self->drawn > pushed && self->drawn > 0)
      seconds *= (gdouble) pushed / (gdouble) self->drawn;
    self->stats_posted = TRUE;
    gst_pixelcnn_post_statistics (GST_ELEMENT (self), "pixelcnnsrc-statistics",
        pushed, seconds);
  }
  return GST_PAD_PROBE_OK;
}
