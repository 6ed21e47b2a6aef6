/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstpixelcnnfill.c — pixelcnnfill, a GstVideoFilter that completes each
 * frame with a PixelCNN model (libargen's ArPixelCnnGen, _complete): the
 * pixels of the kept region are copied, the others drawn in raster order
 * given everything before them, and the frame (in place) keeps its
 * timestamps.
 *
 * The element queues frames itself (GstBaseTransform's submit_input_buffer
 * and generate_output) so that, with more than one thread, it can hand
 * libargen a batch of frames at once — libargen shares a call's images among
 * its threads and cannot split one image.  With one thread (the default)
 * the batch is one frame and nothing is held back. */

/**
 * SECTION:element-pixelcnnfill
 * @title: pixelcnnfill
 *
 * pixelcnnfill completes every frame of a progressive `video/x-raw` GRAY8
 * stream at the model's width and height (upstream is offered only that size, so a
 * videoscale before it adapts; a stream of another size fails to negotiate,
 * upstream posting the not-negotiated error, and the element posts a
 * warning naming both sizes).  Each frame keeps its top
 * #GstPixelcnnFill:keep-rows rows (by default half the model's height) and
 * has the rest drawn by the model, conditioned on what was kept.  Instead,
 * #GstPixelcnnFill:keep-rect keeps a rectangle, written `<x, y, width,
 * height>` (clipped to the frame), and draws everything outside it: above
 * it unconditioned, to its sides and below it conditioned on it.  Kept
 * pixels are passed through byte for byte; timestamps and other metadata
 * are untouched.  A buffer too small for the negotiated caps is dropped
 * with a warning.
 *
 * A class-conditional model completes each frame as the
 * #GstPixelcnnFill:class named by a label or an index, or as a random class
 * per frame ("random", the default).  Frame n of the stream (counted from
 * the start) is drawn with the random stream libargen's generator uses for
 * image n of the #GstPixelcnnFill:seed, so the same seed and input give
 * the same output, equal to libargen's (and `argen images --keep-rows`)
 * completion.  #GstPixelcnnFill:temperature, #GstPixelcnnFill:class and
 * the kept region can be changed while playing (temperature also through a
 * control binding, synchronised at each frame's stream time).
 *
 * #GstPixelcnnFill:threads: libargen draws the images of one call on
 * several threads but one image on one, so with more than one thread the
 * element holds frames back until it has a batch of twice as many frames
 * as threads (or the stream ends, or an event arrives), and completes them
 * together.  That is faster for files and adds a batch of latency, which
 * the element reports in the latency query (the frames held back at the
 * input's framerate; nothing at a variable framerate, 0/1): keep 1 thread
 * for live pipelines that must respond quickly.  The output does not
 * depend on it.
 *
 * At the end of the stream the element posts an element message named
 * `pixelcnnfill-statistics` with the fields `images` (guint64, frames
 * completed), `seconds` (gdouble, wall time spent drawing) and
 * `images-per-second` (gdouble).
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 pixelcnnsrc model=fashion.gguf num-buffers=8 seed=1 ! pixelcnnfill model=fashion.gguf keep-rows=14 ! pngenc ! multifilesink location=filled%02d.png
 * ]| Eight generated images, their bottom halves drawn again.
 * |[
 * gst-launch-1.0 multifilesrc location=img%02d.png caps=image/png,framerate=1/1 ! pngdec ! videoconvert ! videoscale ! video/x-raw,format=GRAY8,width=28,height=28 ! pixelcnnfill model=fashion.gguf keep-rect="<7, 7, 14, 14>" ! videoconvert ! pngenc ! multifilesink location=out%02d.png
 * ]| The centre of each image kept, the frame around it drawn.
 */

#include "gstpixelcnnfill.h"
#include "gstpixelcnn-common.h"

#include <gst/video/video.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (pixelcnn_fill_debug);
#define GST_CAT_DEFAULT pixelcnn_fill_debug

#define DEFAULT_CLASS GST_PIXELCNN_DEFAULT_CLASS
#define DEFAULT_KEEP_ROWS (-1)

/* model, seed, temperature and threads: read in start(), but temperature
 * for every batch of frames, through the controller at the stream time of
 * the batch's last frame.  The default of one thread completes every frame
 * as it arrives. */
static const GstArgenMediaProperties media_properties = {
  .model_blurb = GST_PIXELCNN_MODEL_BLURB,
  .default_model = GST_PIXELCNN_DEFAULT_MODEL,
  .seed_blurb =
      "Seed of the sampling random number generator: frame n of the stream "
      "uses libargen's random stream for image n of this seed, so the same "
      "seed and input give the same output (-1 = a random seed)",
  .temperature_blurb = NULL,
  .default_temperature = GST_PIXELCNN_DEFAULT_TEMPERATURE,
  .temperature_flags = GST_PARAM_CONTROLLABLE | GST_PARAM_MUTABLE_PLAYING,
  .threads_blurb =
      "Threads completing frames (0 = one per processor); with more than "
      "one, frames are held back and completed in batches of twice as many, "
      "which adds latency.  The output is the same for every value",
};

enum
{
  PROP_KEEP_ROWS = GST_ARGEN_MEDIA_PROP_LAST,
  PROP_KEEP_RECT,
  PROP_CLASS,
};

struct _GstPixelcnnFill
{
  GstVideoFilter parent;

  /* Properties, under the object lock. */
  GstArgenMediaSettings settings;
  gint keep_rows;    /* -1 = half the height */
  gint keep_rect[4]; /* x, y, width, height */
  gboolean have_rect;
  gchar *class_text;

  /* The model's size, atomic: caps queries read it from any thread. */
  gint width;
  gint height;
  gint size_warned; /* atomic: the size warning was posted */

  /* The input's framerate (set_info), under the object lock: latency
   * queries come from any thread. */
  gint fps_n;
  gint fps_d;

  /* Streaming state, set up in start(), then used by the streaming thread
   * only. */
  ArPixelCnn *model;
  ArPixelCnnGen *gen;
  ArThreadPool *pool;
  gchar *uri;
  gchar *applied_class;
  guint batch_max;       /* frames completed per generator call */
  guint8 *images;        /* (batch_max, H, W) the batch's pixels */
  GstVideoFrame *frames; /* (batch_max) the batch's mapped frames */
  guint8 *known;         /* (H, W) 1 where a pixel is kept */
  GQueue pending;        /* frames waiting for a batch */
  GQueue done;           /* completed frames not yet output */
  guint64 completed;     /* frames completed, for the statistics */
  gint64 draw_us;
  gboolean stats_posted;
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (GST_PIXELCNN_CAPS));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (GST_PIXELCNN_CAPS));

#define gst_pixelcnn_fill_parent_class parent_class
G_DEFINE_TYPE (GstPixelcnnFill, gst_pixelcnn_fill, GST_TYPE_VIDEO_FILTER);

GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (pixelcnnfill, "pixelcnnfill",
    GST_RANK_NONE, GST_TYPE_PIXELCNN_FILL,
    GST_DEBUG_CATEGORY_INIT (pixelcnn_fill_debug, "pixelcnnfill", 0,
        "PixelCNN image completion"));

static void gst_pixelcnn_fill_finalize (GObject *object);
static void gst_pixelcnn_fill_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec);
static void gst_pixelcnn_fill_get_property (GObject *object, guint prop_id,
    GValue *value, GParamSpec *pspec);
static gboolean gst_pixelcnn_fill_start (GstBaseTransform *trans);
static gboolean gst_pixelcnn_fill_stop (GstBaseTransform *trans);
static GstCaps *gst_pixelcnn_fill_transform_caps (GstBaseTransform *trans,
    GstPadDirection direction, GstCaps *caps, GstCaps *filter);
static gboolean gst_pixelcnn_fill_query (GstBaseTransform *trans,
    GstPadDirection direction, GstQuery *query);
static gboolean gst_pixelcnn_fill_accept_caps (GstBaseTransform *trans,
    GstPadDirection direction, GstCaps *caps);
static gboolean gst_pixelcnn_fill_sink_event (GstBaseTransform *trans,
    GstEvent *event);
static GstFlowReturn
gst_pixelcnn_fill_submit_input_buffer (GstBaseTransform *trans,
    gboolean is_discont, GstBuffer *input);
static GstFlowReturn gst_pixelcnn_fill_generate_output (GstBaseTransform *trans,
    GstBuffer **outbuf);
static gboolean gst_pixelcnn_fill_set_info (GstVideoFilter *filter,
    GstCaps *incaps, GstVideoInfo *in_info, GstCaps *outcaps,
    GstVideoInfo *out_info);

static void
gst_pixelcnn_fill_class_init (GstPixelcnnFillClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstVideoFilterClass *filter_class = GST_VIDEO_FILTER_CLASS (klass);

  gobject_class->set_property = gst_pixelcnn_fill_set_property;
  gobject_class->get_property = gst_pixelcnn_fill_get_property;
  gobject_class->finalize = gst_pixelcnn_fill_finalize;

  gst_argen_media_install_properties (gobject_class, &media_properties);
  g_object_class_install_property (gobject_class, PROP_KEEP_ROWS,
      g_param_spec_int ("keep-rows", "Keep rows",
          "Rows at the top of each frame kept as they are; the rows below "
          "are drawn by the model (-1 = half the model's height; 0 draws "
          "whole images).  Not used while keep-rect is set",
          -1, AR_PIXELCNN_MAX_SIDE, DEFAULT_KEEP_ROWS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_KEEP_RECT,
      gst_param_spec_array ("keep-rect", "Keep rectangle",
          "A rectangle of each frame kept as it is, <x, y, width, height> "
          "(clipped to the frame); every pixel outside it is drawn by the "
          "model.  Empty (the default): keep-rows applies",
          g_param_spec_int ("coordinate", "Coordinate",
              "x, y, width or height of the kept rectangle, in pixels", 0,
              AR_PIXELCNN_MAX_SIDE, 0,
              G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS),
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_CLASS,
      g_param_spec_string ("class", "Class",
          "The class a class-conditional model completes the frames as: a "
          "label of the model (\"sneaker\") or its index, or \"random\" (or "
          "-1) for a random class per frame",
          DEFAULT_CLASS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_PLAYING));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "PixelCNN fill",
      "Filter/Effect/Video",
      "Completes the hidden part of each frame (below the kept rows, or "
      "outside a kept rectangle) with a PixelCNN model",
      "gst-argen developers");

  trans_class->start = GST_DEBUG_FUNCPTR (gst_pixelcnn_fill_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_pixelcnn_fill_stop);
  trans_class->transform_caps =
      GST_DEBUG_FUNCPTR (gst_pixelcnn_fill_transform_caps);
  trans_class->query = GST_DEBUG_FUNCPTR (gst_pixelcnn_fill_query);
  trans_class->accept_caps = GST_DEBUG_FUNCPTR (gst_pixelcnn_fill_accept_caps);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_pixelcnn_fill_sink_event);
  trans_class->submit_input_buffer =
      GST_DEBUG_FUNCPTR (gst_pixelcnn_fill_submit_input_buffer);
  trans_class->generate_output =
      GST_DEBUG_FUNCPTR (gst_pixelcnn_fill_generate_output);
  filter_class->set_info = GST_DEBUG_FUNCPTR (gst_pixelcnn_fill_set_info);
}

static void
gst_pixelcnn_fill_init (GstPixelcnnFill *self)
{
  gst_argen_media_settings_init (&self->settings, &media_properties);
  self->keep_rows = DEFAULT_KEEP_ROWS;
  self->class_text = g_strdup (DEFAULT_CLASS);
  g_queue_init (&self->pending);
  g_queue_init (&self->done);
  /* Frames are completed in their own buffers (made writable first). */
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
}

static void
gst_pixelcnn_fill_finalize (GObject *object)
{
  GstPixelcnnFill *self = GST_PIXELCNN_FILL (object);

  gst_argen_media_settings_clear (&self->settings);
  g_free (self->class_text);

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
set_keep_rect (GstPixelcnnFill *self, const GValue *value)
{
  guint i, n = gst_value_array_get_size (value);

  if (n == 0) {
    self->have_rect = FALSE;
    return;
  }
  if (n != 4) {
    GST_WARNING_OBJECT (self,
        "keep-rect needs 4 values <x, y, width, "
        "height>, not %u: ignored",
        n);
    return;
  }
  for (i = 0; i < 4; i++)
    self->keep_rect[i] = g_value_get_int (gst_value_array_get_value (value, i));
  self->have_rect = TRUE;
}

static void
gst_pixelcnn_fill_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec)
{
  GstPixelcnnFill *self = GST_PIXELCNN_FILL (object);

  if (gst_argen_media_settings_set_property (GST_ELEMENT (self),
          &self->settings, prop_id, value))
    return;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_KEEP_ROWS:
      self->keep_rows = g_value_get_int (value);
      break;
    case PROP_KEEP_RECT:
      set_keep_rect (self, value);
      break;
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
gst_pixelcnn_fill_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  GstPixelcnnFill *self = GST_PIXELCNN_FILL (object);

  if (gst_argen_media_settings_get_property (GST_ELEMENT (self),
          &self->settings, prop_id, value))
    return;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_KEEP_ROWS:
      g_value_set_int (value, self->keep_rows);
      break;
    case PROP_KEEP_RECT:
      if (self->have_rect) {
        GValue v = G_VALUE_INIT;
        guint i;

        g_value_init (&v, G_TYPE_INT);
        for (i = 0; i < 4; i++) {
          g_value_set_int (&v, self->keep_rect[i]);
          gst_value_array_append_value (value, &v);
        }
        g_value_unset (&v);
      }
      break;
    case PROP_CLASS:
      g_value_set_string (value, self->class_text);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ---- start and stop --------------------------------------------------- */

/* The class property's @text (taken) applied to the generator. */
static gboolean
apply_class (GstPixelcnnFill *self, gchar *text)
{
  return gst_pixelcnn_apply_class (GST_ELEMENT (self), GST_CAT_DEFAULT,
      self->model, self->uri, self->gen, &self->applied_class, text);
}

static void
clear_queues (GstPixelcnnFill *self)
{
  g_queue_clear_full (&self->pending, (GDestroyNotify) gst_buffer_unref);
  g_queue_clear_full (&self->done, (GDestroyNotify) gst_buffer_unref);
}

static gboolean
gst_pixelcnn_fill_start (GstBaseTransform *trans)
{
  GstPixelcnnFill *self = GST_PIXELCNN_FILL (trans);
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
  GST_OBJECT_UNLOCK (self);

  self->model = gst_pixelcnn_model_acquire (GST_ELEMENT (self), self->uri);
  if (self->model == NULL) {
    g_free (class_text);
    goto failed;
  }
  config = ar_pixelcnn_get_config (self->model);
  self->gen = ar_pixelcnn_gen_new (self->model);
  if (!apply_class (self, class_text))
    goto failed;
  self->pool = gst_argen_threadpool_new (threads, 0);
  ar_pixelcnn_gen_set_threadpool (self->gen, self->pool);
  /* Two images a thread: libargen draws them in pairs. */
  self->batch_max =
      self->pool != NULL ? 2 * ar_threadpool_get_n_threads (self->pool) : 1;
  self->images =
      g_malloc ((gsize) self->batch_max * config->width * config->height);
  self->known = g_malloc ((gsize) config->width * config->height);
  self->frames = g_new0 (GstVideoFrame, self->batch_max);

  stream_seed = gst_argen_pick_seed (seed);
  GST_INFO_OBJECT (self, "seed %" G_GUINT64_FORMAT ", %u frames a batch",
      stream_seed, self->batch_max);
  ar_pixelcnn_gen_reset (self->gen, stream_seed);

  g_atomic_int_set (&self->width, config->width);
  g_atomic_int_set (&self->height, config->height);
  g_atomic_int_set (&self->size_warned, FALSE);
  self->completed = 0;
  self->draw_us = 0;
  self->stats_posted = FALSE;
  return TRUE;

failed:
  gst_pixelcnn_fill_stop (trans);
  return FALSE;
}

static gboolean
gst_pixelcnn_fill_stop (GstBaseTransform *trans)
{
  GstPixelcnnFill *self = GST_PIXELCNN_FILL (trans);

  clear_queues (self);
  g_clear_pointer (&self->gen, ar_pixelcnn_gen_free);
  g_clear_pointer (&self->pool, ar_threadpool_free);
  g_clear_pointer (&self->model, gst_pixelcnn_model_release);
  g_clear_pointer (&self->images, g_free);
  g_clear_pointer (&self->known, g_free);
  g_clear_pointer (&self->frames, g_free);
  g_clear_pointer (&self->uri, g_free);
  g_clear_pointer (&self->applied_class, g_free);
  g_atomic_int_set (&self->width, 0);
  g_atomic_int_set (&self->height, 0);
  GST_OBJECT_LOCK (self);
  self->fps_n = self->fps_d = 0;
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

/* ---- caps ------------------------------------------------------------- */

/* The same caps on both sides, at the model's size once it is loaded. */
static GstCaps *
gst_pixelcnn_fill_transform_caps (GstBaseTransform *trans,
    GstPadDirection direction, GstCaps *caps, GstCaps *filter)
{
  GstPixelcnnFill *self = GST_PIXELCNN_FILL (trans);
  GstCaps *sized, *result;

  sized = gst_pixelcnn_caps_at_size (g_atomic_int_get (&self->width),
      g_atomic_int_get (&self->height));
  result = gst_caps_intersect (caps, sized);
  gst_caps_unref (sized);
  if (filter != NULL) {
    GstCaps *tmp =
        gst_caps_intersect_full (filter, result, GST_CAPS_INTERSECT_FIRST);

    gst_caps_unref (result);
    result = tmp;
  }
  return result;
}

/* The width and height @caps fix, or 0. */
static void
caps_size (GstCaps *caps, gint *width, gint *height)
{
  GstStructure *s;

  *width = *height = 0;
  if (gst_caps_get_size (caps) == 0)
    return;
  s = gst_caps_get_structure (caps, 0);
  gst_structure_get_int (s, "width", width);
  gst_structure_get_int (s, "height", height);
}

/* Upstream offering a size other than the model's is about to fail to
 * negotiate, and only upstream can post that error: say here, once a
 * stream, which size would do and how to get it.  A warning, not an
 * error: caps and accept-caps queries may be mere probes. */
static void
warn_size (GstPixelcnnFill *self, GstCaps *caps)
{
  gint width = g_atomic_int_get (&self->width);
  gint height = g_atomic_int_get (&self->height);
  gint w, h;

  if (width <= 0 || caps == NULL || gst_caps_is_empty (caps))
    return;
  caps_size (caps, &w, &h);
  if (w <= 0 || h <= 0 || (w == width && h == height))
    return;
  if (g_atomic_int_exchange (&self->size_warned, TRUE))
    return;
  GST_ELEMENT_WARNING (self, CORE, NEGOTIATION,
      ("pixelcnnfill completes images of the model's size, %d x %d, but "
       "upstream offers %d x %d; put videoscale before it",
          width, height, w, h),
      ("upstream caps: %" GST_PTR_FORMAT, caps));
}

/* Adds to upstream's latency in @query the frames a batch holds back:
 * with more than one thread, the first frame of a batch waits for
 * batch_max - 1 more (unknown at a variable framerate, 0/1). */
static void
add_latency (GstPixelcnnFill *self, GstQuery *query)
{
  GstClockTime min, max, held;
  gboolean live;
  gint fps_n, fps_d;

  GST_OBJECT_LOCK (self);
  fps_n = self->fps_n;
  fps_d = self->fps_d;
  GST_OBJECT_UNLOCK (self);
  /* batch_max is set in start(), before any query can reach us. */
  if (self->batch_max <= 1 || fps_n <= 0 || fps_d <= 0)
    return;

  gst_query_parse_latency (query, &live, &min, &max);
  held = gst_util_uint64_scale_int (GST_SECOND * (guint64) fps_d,
      self->batch_max - 1, fps_n);
  min += held;
  if (GST_CLOCK_TIME_IS_VALID (max))
    max += held;
  GST_DEBUG_OBJECT (self, "%u frames a batch: %" GST_TIME_FORMAT " more",
      self->batch_max, GST_TIME_ARGS (held));
  gst_query_set_latency (query, live, min, max);
}

static gboolean
gst_pixelcnn_fill_query (GstBaseTransform *trans, GstPadDirection direction,
    GstQuery *query)
{
  GstPixelcnnFill *self = GST_PIXELCNN_FILL (trans);
  gboolean ret;

  ret =
      GST_BASE_TRANSFORM_CLASS (parent_class)->query (trans, direction, query);
  if (ret && direction == GST_PAD_SRC &&
      GST_QUERY_TYPE (query) == GST_QUERY_LATENCY)
    add_latency (self, query);
  if (ret && direction == GST_PAD_SINK &&
      GST_QUERY_TYPE (query) == GST_QUERY_CAPS) {
    GstCaps *filter, *result;

    gst_query_parse_caps (query, &filter);
    gst_query_parse_caps_result (query, &result);
    if (result != NULL && gst_caps_is_empty (result))
      warn_size (self, filter);
  }
  return ret;
}

static gboolean
gst_pixelcnn_fill_accept_caps (GstBaseTransform *trans,
    GstPadDirection direction, GstCaps *caps)
{
  gboolean ret;

  ret = GST_BASE_TRANSFORM_CLASS (parent_class)
            ->accept_caps (trans, direction, caps);
  if (!ret && direction == GST_PAD_SINK)
    warn_size (GST_PIXELCNN_FILL (trans), caps);
  return ret;
}

static gboolean
gst_pixelcnn_fill_set_info (GstVideoFilter *filter, GstCaps *incaps,
    GstVideoInfo *in_info, GstCaps *outcaps, GstVideoInfo *out_info)
{
  GstPixelcnnFill *self = GST_PIXELCNN_FILL (filter);
  gboolean changed;

  /* transform_caps offers nothing else once the model is loaded. */
  if (GST_VIDEO_INFO_FORMAT (in_info) != GST_VIDEO_FORMAT_GRAY8 ||
      GST_VIDEO_INFO_WIDTH (in_info) != g_atomic_int_get (&self->width) ||
      GST_VIDEO_INFO_HEIGHT (in_info) != g_atomic_int_get (&self->height)) {
    GST_ERROR_OBJECT (self, "cannot complete %" GST_PTR_FORMAT, incaps);
    return FALSE;
  }

  GST_OBJECT_LOCK (self);
  changed = self->fps_n != GST_VIDEO_INFO_FPS_N (in_info) ||
      self->fps_d != GST_VIDEO_INFO_FPS_D (in_info);
  self->fps_n = GST_VIDEO_INFO_FPS_N (in_info);
  self->fps_d = GST_VIDEO_INFO_FPS_D (in_info);
  GST_OBJECT_UNLOCK (self);
  /* The frames a batch holds back last as long as the framerate says. */
  if (changed && self->batch_max > 1)
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_latency (GST_OBJECT (self)));
  return TRUE;
}

/* ---- completing frames ------------------------------------------------- */

/* known (H, W): 1 for the pixels kept by keep-rect (clipped), else by
 * keep-rows (-1: half the height). */
static void
make_known (GstPixelcnnFill *self, const ArPixelCnnConfig *c)
{
  gint rows, rect[4], r;
  gboolean have_rect;

  GST_OBJECT_LOCK (self);
  rows = self->keep_rows;
  have_rect = self->have_rect;
  memcpy (rect, self->keep_rect, sizeof rect);
  GST_OBJECT_UNLOCK (self);

  if (!have_rect) {
    rows = rows < 0 ? c->height / 2 : MIN (rows, c->height);
    memset (self->known, 1, (gsize) rows * c->width);
    memset (self->known + (gsize) rows * c->width, 0,
        (gsize) (c->height - rows) * c->width);
    return;
  }
  memset (self->known, 0, (gsize) c->width * c->height);
  {
    gint x0 = MIN (rect[0], c->width), y0 = MIN (rect[1], c->height);
    gint x1 = MIN (rect[0] + rect[2], c->width);
    gint y1 = MIN (rect[1] + rect[3], c->height);

    for (r = y0; r < y1; r++)
      memset (self->known + (gsize) r * c->width + x0, 1, x1 - x0);
  }
}

/* Completes the pending frames together and moves them to done. */
static GstFlowReturn
complete_pending (GstPixelcnnFill *self)
{
  GstVideoFilter *filter = GST_VIDEO_FILTER (self);
  const ArPixelCnnConfig *c = ar_pixelcnn_get_config (self->model);
  gsize image_size = (gsize) c->width * c->height;
  GstVideoFrame *frames = self->frames;
  guint n = 0, i;
  gfloat temperature;
  gchar *class_text;
  gint64 t0;
  gint r;

  if (g_queue_is_empty (&self->pending))
    return GST_FLOW_OK;

  GST_OBJECT_LOCK (self);
  temperature = self->settings.temperature;
  class_text = g_strdup (self->class_text != NULL ? self->class_text : "");
  GST_OBJECT_UNLOCK (self);
  if (!apply_class (self, class_text)) {
    clear_queues (self);
    return GST_FLOW_ERROR;
  }
  ar_pixelcnn_gen_set_temperature (self->gen, temperature);
  make_known (self, c);

  /* Copy each frame's rows (of the stride) into the packed batch. */
  while (!g_queue_is_empty (&self->pending)) {
    GstBuffer *buf =
        gst_buffer_make_writable (g_queue_pop_head (&self->pending));

    if (!gst_video_frame_map (&frames[n], &filter->in_info, buf,
            GST_MAP_READWRITE)) {
      /* A buffer too small for its caps is no frame: dropped with a
       * warning, as GstVideoFilter does, and the batch and the stream go
       * on. */
      GST_ELEMENT_WARNING (self, STREAM, FORMAT,
          ("a buffer of %" G_GSIZE_FORMAT " bytes is not a frame of %d x %d "
           "GRAY8 (%" G_GSIZE_FORMAT " bytes); it was dropped",
              gst_buffer_get_size (buf), c->width, c->height,
              GST_VIDEO_INFO_SIZE (&filter->in_info)),
          ("could not map the buffer as a frame of the negotiated caps"));
      gst_buffer_unref (buf);
      continue;
    }
    for (r = 0; r < c->height; r++)
      memcpy (self->images + n * image_size + (gsize) r * c->width,
          (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frames[n], 0) +
              (gsize) r * GST_VIDEO_FRAME_PLANE_STRIDE (&frames[n], 0),
          c->width);
    n++;
  }
  if (n == 0)
    return GST_FLOW_OK;

  t0 = g_get_monotonic_time ();
  ar_pixelcnn_gen_complete (self->gen, self->images, self->known, (int) n,
      NULL);
  self->draw_us += g_get_monotonic_time () - t0;
  self->completed += n;

  for (i = 0; i < n; i++) {
    GstBuffer *buf = frames[i].buffer;

    for (r = 0; r < c->height; r++)
      memcpy ((guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frames[i], 0) +
              (gsize) r * GST_VIDEO_FRAME_PLANE_STRIDE (&frames[i], 0),
          self->images + i * image_size + (gsize) r * c->width, c->width);
    gst_video_frame_unmap (&frames[i]);
    g_queue_push_tail (&self->done, buf);
  }
  GST_LOG_OBJECT (self, "completed %u frames at temperature %g", n,
      temperature);
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_pixelcnn_fill_submit_input_buffer (GstBaseTransform *trans,
    gboolean is_discont, GstBuffer *input)
{
  GstPixelcnnFill *self = GST_PIXELCNN_FILL (trans);
  GstClockTime pts, stream_time;
  GstFlowReturn ret;

  /* The base class may drop the buffer for QoS; else it leaves it in
   * queued_buf. */
  ret = GST_BASE_TRANSFORM_CLASS (parent_class)
            ->submit_input_buffer (trans, is_discont, input);
  if (ret != GST_FLOW_OK || trans->queued_buf == NULL)
    return ret;
  if (self->gen == NULL) {
    gst_clear_buffer (&trans->queued_buf);
    return GST_FLOW_NOT_NEGOTIATED;
  }

  /* Controlled properties at the frame's stream time (for a batch: the
   * last frame's, as the batch is completed with one setting). */
  pts = GST_BUFFER_PTS (trans->queued_buf);
  if (trans->segment.format == GST_FORMAT_TIME &&
      GST_CLOCK_TIME_IS_VALID (pts)) {
    stream_time =
        gst_segment_to_stream_time (&trans->segment, GST_FORMAT_TIME, pts);
    if (GST_CLOCK_TIME_IS_VALID (stream_time))
      gst_object_sync_values (GST_OBJECT (self), stream_time);
  }
  g_queue_push_tail (&self->pending, trans->queued_buf);
  trans->queued_buf = NULL;
  if (g_queue_get_length (&self->pending) >= self->batch_max)
    return complete_pending (self);
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_pixelcnn_fill_generate_output (GstBaseTransform *trans, GstBuffer **outbuf)
{
  GstPixelcnnFill *self = GST_PIXELCNN_FILL (trans);

  /* Called until it returns no buffer: one completed frame each time. */
  *outbuf = g_queue_pop_head (&self->done);
  return GST_FLOW_OK;
}

/* Completes and pushes the frames held back, before an event that must
 * follow them. */
static void
drain (GstPixelcnnFill *self)
{
  GstBuffer *buf;

  if (self->gen == NULL || complete_pending (self) != GST_FLOW_OK)
    return;
  while ((buf = g_queue_pop_head (&self->done)) != NULL) {
    GstFlowReturn ret = gst_pad_push (GST_BASE_TRANSFORM_SRC_PAD (self), buf);

    if (ret != GST_FLOW_OK) {
      GST_DEBUG_OBJECT (self, "draining: %s", gst_flow_get_name (ret));
      clear_queues (self);
      return;
    }
  }
}

static gboolean
gst_pixelcnn_fill_sink_event (GstBaseTransform *trans, GstEvent *event)
{
  GstPixelcnnFill *self = GST_PIXELCNN_FILL (trans);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_FLUSH_STOP:
      clear_queues (self);
      /* the stream can end again (a flushing seek after EOS), and that end
       * gets its statistics too */
      self->stats_posted = FALSE;
      break;
    case GST_EVENT_EOS:
      drain (self);
      if (!self->stats_posted && self->gen != NULL) {
        self->stats_posted = TRUE;
        gst_pixelcnn_post_statistics (GST_ELEMENT (self),
            "pixelcnnfill-statistics", self->completed,
            self->draw_us / (gdouble) G_USEC_PER_SEC);
      }
      break;
    default:
      /* What follows frames in the stream must follow them out. */
      if (GST_EVENT_IS_SERIALIZED (event))
        drain (self);
      break;
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}
