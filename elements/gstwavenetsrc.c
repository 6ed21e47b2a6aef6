/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstwavenetsrc.c — wavenetsrc, a GstBaseSrc that generates audio sample by
 * sample with a WaveNet model (libargen's ArWaveNetGen), built like
 * audiotestsrc: fill() generates samplesperbuffer samples into the buffer
 * the base class allocates, and the buffer's offsets and timestamps come
 * from a sample counter, so that they never drift.
 *
 * The model outputs 8-bit µ-law classes (its own continuous companding,
 * ar-audio.h); three 256-entry tables made once turn a class into the
 * negotiated format: S16LE, F32LE, or G.711 µ-law bytes (audio/x-mulaw, the
 * class decoded to 16-bit linear and coded again by G.711, since the two
 * µ-laws differ).  A model with a pre-emphasis codes the emphasised signal,
 * and a model with an output high-pass filters its audio: a sample then
 * depends on the samples before it, so the classes go through
 * ar_wavenet_gen_decode (the de-emphasis, the filter) to floats, and each
 * float is converted as the tables' entries were made. */

/**
 * SECTION:element-wavenetsrc
 * @title: wavenetsrc
 *
 * wavenetsrc generates audio with a WaveNet, one sample at a time, and
 * pushes it as mono `audio/x-raw` (S16LE or F32LE) or `audio/x-mulaw`
 * buffers at the model's sample rate.  It offers only that rate:
 * downstream elements that want another fail to negotiate (the error names
 * both rates), so put audioresample after it.  The #GstWavenetSrc:model is
 * a file made by `argen train wavenet`, or a model embedded in the plugin
 * given as resource:// and its path.  Models conditioned on mel frames are
 * vocoders, for wavenetvocoder; a model with a global condition (a speaker
 * or a class) takes the class from #GstWavenetSrc:global-condition.  A model
 * trained with a pre-emphasis (`argen train wavenet --pre-emphasis`) codes
 * the emphasised signal, and the element de-emphasises what it generates;
 * one trained with `--highpass` has its audio high-pass filtered to the band
 * of its training data.
 *
 * Buffers hold #GstWavenetSrc:samplesperbuffer samples; their offsets are
 * sample indices and their timestamps (plus #GstWavenetSrc:timestamp-offset)
 * are computed from those indices.  With #GstWavenetSrc:is-live the source
 * pushes each buffer when the clock reaches its timestamp and reports one
 * buffer of latency.  The same #GstWavenetSrc:seed gives the same samples
 * (the same bytes in every format); #GstWavenetSrc:temperature can be
 * changed while playing, directly or through a control binding (it is
 * synchronised at the start of each buffer, at the stream time of its first
 * sample).
 *
 * Seeking: the sound at a position can only be known by generating all
 * that comes before it, so a seek that moves the position restarts
 * generation there from silence, reseeded with the stream's seed: a seek to
 * 0 replays the stream exactly (with a fixed seed), a seek elsewhere starts
 * a new, equally reproducible stretch timestamped from the seek position.
 * A stop position ends the stream there, in the middle of a buffer if need
 * be.  Reverse playback is refused.  A live source (#GstWavenetSrc:is-live)
 * is not seekable, like a capture device: its samples are those of the
 * present, and a seek is refused.
 *
 * At each end of the stream (num-buffers, a segment stop, or an EOS from
 * the application, and again at an end reached after a seek) the element
 * posts an element message named `wavenetsrc-statistics` with the fields
 * `samples` (guint64, samples generated since the element started),
 * `seconds` (gdouble, wall time spent generating), `samples-per-second` and
 * `real-time-factor` (gdouble; samples-per-second divided by the rate, above
 * 1 is faster than real time).
 *
 * #GstWavenetSrc:threads lets a second thread work on every sample: one
 * thread runs each layer's dependent part (the convolution's tap on the
 * current input, the gate, the residual), the other the rest (the taps on
 * the past, most of the skip projection); a third has nothing to do.  A
 * WaveNet at 8 kHz with a few hundred thousand weights runs several times
 * faster than real time on one core, and with per-sample work that small
 * the hand-over between threads at every sample costs about as much as it
 * saves, so the default is 1; larger models (the 16 kHz reference shape)
 * gain from 2.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 wavenetsrc model=speech.gguf num-buffers=40 seed=1 ! audioconvert ! wavenc ! filesink location=speech.wav
 * ]| About five seconds of generated speech (40 buffers of 1024 samples at
 * 8 kHz) in a WAV file, the same bytes every time.
 * |[
 * gst-launch-1.0 wavenetsrc model=speech.gguf is-live=true ! audioconvert ! audioresample ! autoaudiosink
 * ]| Plays generated speech as it is made.
 * |[
 * gst-launch-1.0 wavenetsrc model=speakers.gguf global-condition=alice temperature=0.8 num-buffers=80 ! mulawenc ! fakesink
 * ]| A globally conditioned model speaking as the class named alice,
 * sampled a little more conservatively.
 */

#include "gstwavenetsrc.h"
#include "gstwavenet-common.h"

#include <gst/audio/audio.h>
#include <math.h>
#include <string.h>

#include "data/ar-audio.h"

GST_DEBUG_CATEGORY_STATIC (wavenet_src_debug);
#define GST_CAT_DEFAULT wavenet_src_debug

/* audiotestsrc's choice: 128 ms at 8 kHz, short enough for a live source's
 * latency and long enough that a busy machine does not starve the sink. */
#define DEFAULT_SAMPLES_PER_BUFFER 1024
#define MAX_SAMPLES_PER_BUFFER (1 << 20)
#define DEFAULT_IS_LIVE FALSE
#define DEFAULT_TIMESTAMP_OFFSET G_GINT64_CONSTANT (0)
#define DEFAULT_GLOBAL_CONDITION NULL

/* model, seed, temperature and threads: read in start(), but temperature
 * for every buffer, through the controller at the buffer's stream time. */
static const GstArgenMediaProperties media_properties = {
  .model_blurb = GST_WAVENET_MODEL_BLURB ("Path of a WaveNet model file (GGUF, "
                                          "as argen train wavenet writes it)"),
  .default_model = GST_WAVENET_SRC_DEFAULT_MODEL,
  .seed_blurb =
      "Seed of the sampling random number generator; the same seed, model "
      "and settings give the same samples (-1 = a random seed)",
  .temperature_blurb = NULL,
  .default_temperature = 1.0f,
  .temperature_flags = GST_PARAM_CONTROLLABLE | GST_PARAM_MUTABLE_PLAYING,
  .max_threads = AR_WAVENET_GEN_MAX_THREADS,
  .threads_blurb = GST_WAVENET_THREADS_BLURB,
};

enum
{
  PROP_SAMPLES_PER_BUFFER = GST_ARGEN_MEDIA_PROP_LAST,
  PROP_IS_LIVE,
  PROP_TIMESTAMP_OFFSET,
  PROP_GLOBAL_CONDITION,
};

typedef enum
{
  SAMPLE_FORMAT_NONE,
  SAMPLE_FORMAT_S16LE,
  SAMPLE_FORMAT_F32LE,
  SAMPLE_FORMAT_MULAW, /* G.711 */
} SampleFormat;

struct _GstWavenetSrc
{
  GstBaseSrc parent;

  /* Properties, under the object lock. */
  GstArgenMediaSettings settings;
  gint samples_per_buffer;
  gint64 timestamp_offset;
  gchar *global_condition;

  /* Negotiated format (set_caps), under the object lock: set_property
   * needs bpf for the block size. */
  SampleFormat format;
  gint bpf;

  /* Streaming state, set up in start(), then used by the streaming thread
   * (fill, do_seek under the stream lock) only; rate is atomic because caps
   * queries read it from any thread. */
  ArWaveNet *model;
  ArWaveNetGen *gen;
  ArThreadPool *pool;
  gint rate;
  guint64 stream_seed;
  guint8 *classes; /* (classes_len) the model's µ-law classes */
  gfloat *samples; /* (classes_len) their de-emphasis, with a pre-emphasis */
  gsize classes_len;
  guint64 next_sample; /* offset of the next buffer */
  guint64 sample_stop; /* segment stop, when check_seek_stop */
  gboolean check_seek_stop;
  gboolean eos_reached;
  guint64 generated; /* samples generated, for the statistics */
  gint64 generation_us;
  gboolean stats_posted;
};

/* A class's sample in each output format, little-endian bytes: made once
 * from libargen's µ-law decoder in class_init. */
static guint8 s16le_table[256][2];
static guint8 f32le_table[256][4];
static guint8 g711_table[256];

#define SRC_CAPS                                                               \
  "audio/x-raw, format = (string) { S16LE, F32LE }, "                          \
  "rate = (int) [ 1, MAX ], channels = (int) 1, "                              \
  "layout = (string) interleaved; "                                            \
  "audio/x-mulaw, rate = (int) [ 1, MAX ], channels = (int) 1"

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (SRC_CAPS));

#define gst_wavenet_src_parent_class parent_class
G_DEFINE_TYPE (GstWavenetSrc, gst_wavenet_src, GST_TYPE_BASE_SRC);

GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (wavenetsrc, "wavenetsrc", GST_RANK_NONE,
    GST_TYPE_WAVENET_SRC,
    GST_DEBUG_CATEGORY_INIT (wavenet_src_debug, "wavenetsrc", 0,
        "WaveNet audio source"));

static void gst_wavenet_src_finalize (GObject *object);
static void gst_wavenet_src_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec);
static void gst_wavenet_src_get_property (GObject *object, guint prop_id,
    GValue *value, GParamSpec *pspec);
static GstCaps *gst_wavenet_src_get_caps (GstBaseSrc *bsrc, GstCaps *filter);
static gboolean gst_wavenet_src_negotiate (GstBaseSrc *bsrc);
static GstCaps *gst_wavenet_src_fixate (GstBaseSrc *bsrc, GstCaps *caps);
static gboolean gst_wavenet_src_set_caps (GstBaseSrc *bsrc, GstCaps *caps);
static gboolean gst_wavenet_src_start (GstBaseSrc *bsrc);
static gboolean gst_wavenet_src_stop (GstBaseSrc *bsrc);
static gboolean gst_wavenet_src_is_seekable (GstBaseSrc *bsrc);
static gboolean gst_wavenet_src_do_seek (GstBaseSrc *bsrc, GstSegment *segment);
static gboolean gst_wavenet_src_query (GstBaseSrc *bsrc, GstQuery *query);
static gboolean gst_wavenet_src_event (GstBaseSrc *bsrc, GstEvent *event);
static gboolean gst_wavenet_src_send_event (GstElement *element,
    GstEvent *event);
static void gst_wavenet_src_get_times (GstBaseSrc *bsrc, GstBuffer *buffer,
    GstClockTime *start, GstClockTime *end);
static GstFlowReturn gst_wavenet_src_fill (GstBaseSrc *bsrc, guint64 offset,
    guint length, GstBuffer *buffer);
static GstPadProbeReturn gst_wavenet_src_eos_probe (GstPad *pad,
    GstPadProbeInfo *info, gpointer user_data);

/* One sample @x (in [-1, 1]) in each output format: the tables' entries
 * and the filtered path, so that both give the same bytes. */
static inline void
encode_s16le (gfloat x, guint8 *out)
{
  gint16 s = (gint16) lrintf (x * 32767.0f);

  out[0] = (guint8) ((guint16) s & 0xff);
  out[1] = (guint8) ((guint16) s >> 8);
}

static inline void
encode_f32le (gfloat x, guint8 *out)
{
  union
  {
    gfloat f;
    guint32 u;
  } bits;

  bits.f = x;
  out[0] = (guint8) (bits.u & 0xff);
  out[1] = (guint8) ((bits.u >> 8) & 0xff);
  out[2] = (guint8) ((bits.u >> 16) & 0xff);
  out[3] = (guint8) (bits.u >> 24);
}

static inline guint8
encode_g711 (gfloat x)
{
  return ar_g711_ulaw_encode ((gint16) lrintf (x * 32767.0f));
}

static void
init_tables (void)
{
  guint q;

  for (q = 0; q < 256; q++) {
    gfloat x = CLAMP (ar_mulaw_decode ((guint8) q), -1.0f, 1.0f);

    encode_s16le (x, s16le_table[q]);
    encode_f32le (x, f32le_table[q]);
    g711_table[q] = encode_g711 (x);
  }
}

static void
gst_wavenet_src_class_init (GstWavenetSrcClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *basesrc_class = GST_BASE_SRC_CLASS (klass);

  init_tables ();

  gobject_class->set_property = gst_wavenet_src_set_property;
  gobject_class->get_property = gst_wavenet_src_get_property;
  gobject_class->finalize = gst_wavenet_src_finalize;

  gst_argen_media_install_properties (gobject_class, &media_properties);
  g_object_class_install_property (gobject_class, PROP_SAMPLES_PER_BUFFER,
      g_param_spec_int ("samplesperbuffer", "Samples per buffer",
          "Number of samples in each outgoing buffer; a live source's "
          "latency is one buffer",
          1, MAX_SAMPLES_PER_BUFFER, DEFAULT_SAMPLES_PER_BUFFER,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_IS_LIVE,
      g_param_spec_boolean ("is-live", "Is live",
          "Whether to act as a live source, pushing each buffer when the "
          "clock reaches its timestamp",
          DEFAULT_IS_LIVE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_TIMESTAMP_OFFSET,
      g_param_spec_int64 ("timestamp-offset", "Timestamp offset",
          "An offset added to the timestamps of the buffers (in ns)", 0,
          G_MAXINT64, DEFAULT_TIMESTAMP_OFFSET,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_GLOBAL_CONDITION,
      g_param_spec_string ("global-condition", "Global condition",
          GST_WAVENET_GLOBAL_CONDITION_BLURB, DEFAULT_GLOBAL_CONDITION,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));

  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "WaveNet source",
      "Source/Audio", "Generates audio sample by sample with a WaveNet model",
      "gst-argen developers");

  basesrc_class->get_caps = GST_DEBUG_FUNCPTR (gst_wavenet_src_get_caps);
  basesrc_class->negotiate = GST_DEBUG_FUNCPTR (gst_wavenet_src_negotiate);
  basesrc_class->fixate = GST_DEBUG_FUNCPTR (gst_wavenet_src_fixate);
  basesrc_class->set_caps = GST_DEBUG_FUNCPTR (gst_wavenet_src_set_caps);
  basesrc_class->start = GST_DEBUG_FUNCPTR (gst_wavenet_src_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR (gst_wavenet_src_stop);
  basesrc_class->is_seekable = GST_DEBUG_FUNCPTR (gst_wavenet_src_is_seekable);
  basesrc_class->do_seek = GST_DEBUG_FUNCPTR (gst_wavenet_src_do_seek);
  basesrc_class->query = GST_DEBUG_FUNCPTR (gst_wavenet_src_query);
  basesrc_class->event = GST_DEBUG_FUNCPTR (gst_wavenet_src_event);
  element_class->send_event = GST_DEBUG_FUNCPTR (gst_wavenet_src_send_event);
  basesrc_class->get_times = GST_DEBUG_FUNCPTR (gst_wavenet_src_get_times);
  basesrc_class->fill = GST_DEBUG_FUNCPTR (gst_wavenet_src_fill);
}

static void
gst_wavenet_src_init (GstWavenetSrc *self)
{
  gst_argen_media_settings_init (&self->settings, &media_properties);
  self->samples_per_buffer = DEFAULT_SAMPLES_PER_BUFFER;
  self->timestamp_offset = DEFAULT_TIMESTAMP_OFFSET;
  self->global_condition = g_strdup (DEFAULT_GLOBAL_CONDITION);

  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
  gst_base_src_set_live (GST_BASE_SRC (self), DEFAULT_IS_LIVE);

  /* EOS can come from the base class (num-buffers, segment stop) or from
   * the application; the statistics go out whichever it is, before the EOS
   * leaves the element. */
  gst_pad_add_probe (GST_BASE_SRC_PAD (self),
      GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, gst_wavenet_src_eos_probe, self,
      NULL);
}

static void
gst_wavenet_src_finalize (GObject *object)
{
  GstWavenetSrc *self = GST_WAVENET_SRC (object);

  gst_argen_media_settings_clear (&self->settings);
  g_free (self->global_condition);

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_wavenet_src_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec)
{
  GstWavenetSrc *self = GST_WAVENET_SRC (object);

  if (gst_argen_media_settings_set_property (GST_ELEMENT (self),
          &self->settings, prop_id, value))
    return;

  switch (prop_id) {
    case PROP_SAMPLES_PER_BUFFER: {
      gint bpf;

      GST_OBJECT_LOCK (self);
      self->samples_per_buffer = g_value_get_int (value);
      bpf = self->bpf;
      GST_OBJECT_UNLOCK (self);
      /* Before negotiation set_caps sets the block size. */
      if (bpf > 0)
        gst_base_src_set_blocksize (GST_BASE_SRC (self),
            (guint) bpf * (guint) g_value_get_int (value));
      /* The latency depends on it. */
      gst_element_post_message (GST_ELEMENT (self),
          gst_message_new_latency (GST_OBJECT (self)));
      break;
    }
    case PROP_IS_LIVE:
      gst_base_src_set_live (GST_BASE_SRC (self), g_value_get_boolean (value));
      break;
    case PROP_TIMESTAMP_OFFSET:
      GST_OBJECT_LOCK (self);
      self->timestamp_offset = g_value_get_int64 (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_GLOBAL_CONDITION:
      GST_OBJECT_LOCK (self);
      g_free (self->global_condition);
      self->global_condition = g_value_dup_string (value);
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_wavenet_src_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  GstWavenetSrc *self = GST_WAVENET_SRC (object);

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
    case PROP_SAMPLES_PER_BUFFER:
      g_value_set_int (value, self->samples_per_buffer);
      break;
    case PROP_TIMESTAMP_OFFSET:
      g_value_set_int64 (value, self->timestamp_offset);
      break;
    case PROP_GLOBAL_CONDITION:
      g_value_set_string (value, self->global_condition);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ---- caps ------------------------------------------------------------- */

/* The template with rate set to @rate (when > 0). */
static GstCaps *
caps_at_rate (GstWavenetSrc *self, gint rate)
{
  GstCaps *caps = gst_pad_get_pad_template_caps (GST_BASE_SRC_PAD (self));
  guint i;

  if (rate <= 0)
    return caps;
  caps = gst_caps_make_writable (caps);
  for (i = 0; i < gst_caps_get_size (caps); i++)
    gst_structure_set (gst_caps_get_structure (caps, i), "rate", G_TYPE_INT,
        rate, NULL);
  return caps;
}

static GstCaps *
gst_wavenet_src_get_caps (GstBaseSrc *bsrc, GstCaps *filter)
{
  GstWavenetSrc *self = GST_WAVENET_SRC (bsrc);
  GstCaps *caps, *result;

  /* Before start() no model is loaded and any rate is possible. */
  caps = caps_at_rate (self, g_atomic_int_get (&self->rate));
  if (filter == NULL)
    return caps;
  result = gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST);
  gst_caps_unref (caps);
  return result;
}

/* The rates @caps allows, for a message. */
static gchar *
describe_rates (const GstCaps *caps)
{
  GString *s = g_string_new (NULL);
  guint i;

  for (i = 0; i < gst_caps_get_size (caps); i++) {
    const GValue *v =
        gst_structure_get_value (gst_caps_get_structure (caps, i), "rate");
    gchar *text;

    if (v == NULL)
      continue;
    text = gst_value_serialize (v);
    if (strstr (s->str, text) == NULL) {
      if (s->len > 0)
        g_string_append (s, " or ");
      g_string_append (s, text);
    }
    g_free (text);
  }
  if (s->len == 0)
    g_string_append (s, "any");
  return g_string_free (s, FALSE);
}

static gboolean
gst_wavenet_src_negotiate (GstBaseSrc *bsrc)
{
  GstWavenetSrc *self = GST_WAVENET_SRC (bsrc);
  GstPad *pad = GST_BASE_SRC_PAD (bsrc);
  GstCaps *ours, *any_rate, *peer;
  gint rate = g_atomic_int_get (&self->rate);

  if (GST_BASE_SRC_CLASS (parent_class)->negotiate (bsrc))
    return TRUE;

  /* The base class fails with a bare not-negotiated; when the reason is
   * that downstream takes none of what the model can produce, say so, and
   * what to do about it.  Other failures (flushing …) keep the base
   * class's handling. */
  peer = gst_pad_peer_query_caps (pad, NULL);
  if (peer == NULL)
    return FALSE;
  ours = caps_at_rate (self, rate);
  any_rate = caps_at_rate (self, 0);
  if (!gst_caps_can_intersect (ours, peer)) {
    if (rate > 0 && gst_caps_can_intersect (any_rate, peer)) {
      gchar *rates = describe_rates (peer);

      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
          ("wavenetsrc generates audio at the model's rate, %d Hz, but "
           "downstream accepts only rate %s; put audioresample after it",
              rate, rates),
          ("downstream caps: %" GST_PTR_FORMAT, peer));
      g_free (rates);
    } else {
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
          ("downstream accepts none of the formats wavenetsrc produces "
           "(mono S16LE, F32LE or G.711 mu-law); put audioconvert after "
           "it"),
          ("ours: %" GST_PTR_FORMAT ", downstream: %" GST_PTR_FORMAT, ours,
              peer));
    }
  }
  gst_caps_unref (ours);
  gst_caps_unref (any_rate);
  gst_caps_unref (peer);
  return FALSE;
}

static GstCaps *
gst_wavenet_src_fixate (GstBaseSrc *bsrc, GstCaps *caps)
{
  GstWavenetSrc *self = GST_WAVENET_SRC (bsrc);
  GstStructure *s;

  caps = gst_caps_truncate (gst_caps_make_writable (caps));
  s = gst_caps_get_structure (caps, 0);
  gst_structure_fixate_field_nearest_int (s, "rate",
      g_atomic_int_get (&self->rate));
  gst_structure_fixate_field_nearest_int (s, "channels", 1);
  /* 16-bit is what most sinks and encoders take without conversion. */
  if (gst_structure_has_field (s, "format"))
    gst_structure_fixate_field_string (s, "format", "S16LE");
  if (gst_structure_has_field (s, "layout"))
    gst_structure_fixate_field_string (s, "layout", "interleaved");

  return GST_BASE_SRC_CLASS (parent_class)->fixate (bsrc, caps);
}

static gboolean
gst_wavenet_src_set_caps (GstBaseSrc *bsrc, GstCaps *caps)
{
  GstWavenetSrc *self = GST_WAVENET_SRC (bsrc);
  GstStructure *s = gst_caps_get_structure (caps, 0);
  SampleFormat format;
  gint rate = 0, channels = 0, bpf, samples_per_buffer;

  if (gst_structure_has_name (s, "audio/x-mulaw")) {
    format = SAMPLE_FORMAT_MULAW;
    bpf = 1;
    gst_structure_get_int (s, "rate", &rate);
    gst_structure_get_int (s, "channels", &channels);
  } else {
    GstAudioInfo info;

    if (!gst_audio_info_from_caps (&info, caps))
      goto invalid;
    switch (GST_AUDIO_INFO_FORMAT (&info)) {
      case GST_AUDIO_FORMAT_S16LE:
        format = SAMPLE_FORMAT_S16LE;
        break;
      case GST_AUDIO_FORMAT_F32LE:
        format = SAMPLE_FORMAT_F32LE;
        break;
      default:
        goto invalid;
    }
    bpf = GST_AUDIO_INFO_BPF (&info);
    rate = GST_AUDIO_INFO_RATE (&info);
    channels = GST_AUDIO_INFO_CHANNELS (&info);
  }
  /* get_caps offers nothing else once the model is loaded. */
  if (rate != g_atomic_int_get (&self->rate) || channels != 1)
    goto invalid;

  GST_OBJECT_LOCK (self);
  self->format = format;
  self->bpf = bpf;
  samples_per_buffer = self->samples_per_buffer;
  GST_OBJECT_UNLOCK (self);
  gst_base_src_set_blocksize (bsrc, (guint) bpf * (guint) samples_per_buffer);
  GST_DEBUG_OBJECT (self, "negotiated %" GST_PTR_FORMAT, caps);
  return TRUE;

invalid:
  GST_ERROR_OBJECT (self, "cannot produce %" GST_PTR_FORMAT, caps);
  return FALSE;
}

/* ---- start and stop --------------------------------------------------- */

/* Applies the global-condition property (@condition: a class name or
 * index, or NULL / "" for none) to the generator; posts an element error
 * naming the problem when the model cannot take it. */
static gboolean
apply_global_condition (GstWavenetSrc *self, const gchar *uri,
    const gchar *condition)
{
  GError *error = NULL;
  int cls;

  if (!gst_wavenet_find_global_class (GST_ELEMENT (self), self->model, uri,
          condition, &cls))
    return FALSE;
  if (cls < 0)
    return TRUE;
  if (!ar_wavenet_gen_set_global_class (self->gen, cls, &error)) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("%s", error->message), (NULL));
    g_error_free (error);
    return FALSE;
  }
  GST_INFO_OBJECT (self, "global condition: class %d (%s)", cls,
      ar_wavenet_get_class_name (self->model, cls));
  return TRUE;
}

static gboolean
gst_wavenet_src_start (GstBaseSrc *bsrc)
{
  GstWavenetSrc *self = GST_WAVENET_SRC (bsrc);
  const ArWaveNetConfig *config;
  gchar *uri, *condition;
  gboolean ok = FALSE;
  gint64 seed;
  guint threads;

  GST_OBJECT_LOCK (self);
  uri = g_strdup (self->settings.model);
  condition = g_strdup (self->global_condition);
  seed = self->settings.seed;
  threads = self->settings.threads;
  GST_OBJECT_UNLOCK (self);

  self->model = gst_wavenet_model_acquire (GST_ELEMENT (self), uri);
  if (self->model == NULL)
    goto done;
  config = ar_wavenet_get_config (self->model);
  if (config->cond_channels > 0) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
        ("the model %s is a vocoder (conditioned on mel frames): it "
         "resynthesises audio in wavenetvocoder and cannot generate on "
         "its own",
            uri),
        (NULL));
    goto done;
  }

  self->gen = ar_wavenet_gen_new (self->model);
  if (!apply_global_condition (self, uri, condition))
    goto done;
  self->pool = gst_argen_threadpool_new (threads, AR_WAVENET_GEN_MAX_THREADS);
  ar_wavenet_gen_set_threadpool (self->gen, self->pool);

  self->stream_seed = gst_argen_pick_seed (seed);
  GST_INFO_OBJECT (self, "seed %" G_GUINT64_FORMAT, self->stream_seed);
  ar_wavenet_gen_reset (self->gen, self->stream_seed);

  g_atomic_int_set (&self->rate, config->sample_rate);
  self->next_sample = 0;
  self->check_seek_stop = FALSE;
  self->eos_reached = FALSE;
  self->generated = 0;
  self->generation_us = 0;
  self->stats_posted = FALSE;
  ok = TRUE;

done:
  if (!ok)
    gst_wavenet_src_stop (bsrc);
  g_free (uri);
  g_free (condition);
  return ok;
}

static gboolean
gst_wavenet_src_stop (GstBaseSrc *bsrc)
{
  GstWavenetSrc *self = GST_WAVENET_SRC (bsrc);

  g_clear_pointer (&self->gen, ar_wavenet_gen_free);
  g_clear_pointer (&self->pool, ar_threadpool_free);
  g_clear_pointer (&self->model, gst_wavenet_model_release);
  g_clear_pointer (&self->classes, g_free);
  g_clear_pointer (&self->samples, g_free);
  self->classes_len = 0;
  g_atomic_int_set (&self->rate, 0);
  GST_OBJECT_LOCK (self);
  self->format = SAMPLE_FORMAT_NONE;
  self->bpf = 0;
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

/* ---- time, seeking, queries ------------------------------------------- */

/* Stream time of the start of sample @n. */
static GstClockTime
sample_time (GstWavenetSrc *self, guint64 n)
{
  return gst_util_uint64_scale_int (n, GST_SECOND, self->rate);
}

static gboolean
gst_wavenet_src_is_seekable (GstBaseSrc *bsrc)
{
  /* A live source is a capture device: its samples are those of the
   * present.  Seeking one to a position p restarted the timestamps at p, so
   * the base class then waited p in real time (silence) before the next
   * buffer went out; refused instead, as by alsasrc. */
  return !gst_base_src_is_live (bsrc);
}

static gboolean
gst_wavenet_src_do_seek (GstBaseSrc *bsrc, GstSegment *segment)
{
  GstWavenetSrc *self = GST_WAVENET_SRC (bsrc);
  guint64 next;

  GST_DEBUG_OBJECT (self, "seek %" GST_SEGMENT_FORMAT, segment);
  /* Reverse seeks were refused in event () and send_event (). */
  if (segment->rate < 0.0 || self->gen == NULL || self->rate <= 0)
    return FALSE;

  /* The sample at or before the position, as audiotestsrc does. */
  next = gst_util_uint64_scale_int (segment->position, self->rate, GST_SECOND);
  /* A seek that leaves the position where it is (a new stop, the initial
   * seek of the activation) continues the stream; any other restarts it
   * from silence with the stream's seed (see the element's
   * documentation). */
  if (next != self->next_sample) {
    GST_DEBUG_OBJECT (self, "restarting at sample %" G_GUINT64_FORMAT, next);
    ar_wavenet_gen_reset (self->gen, self->stream_seed);
    self->next_sample = next;
  }

  if (GST_CLOCK_TIME_IS_VALID (segment->stop)) {
    self->sample_stop =
        gst_util_uint64_scale_round (segment->stop, self->rate, GST_SECOND);
    self->check_seek_stop = TRUE;
  } else {
    self->check_seek_stop = FALSE;
  }
  self->eos_reached = FALSE;
  /* The stream can end again, and that end gets its statistics too. */
  self->stats_posted = FALSE;
  return TRUE;
}

/* A seek backwards is refused before the base class acts on it: a
 * flushing seek that fails in do_seek () would already have flushed the
 * stream, and the base class then resumes without a segment event. */
static gboolean
is_reverse_seek (GstEvent *event)
{
  gdouble rate;

  if (GST_EVENT_TYPE (event) != GST_EVENT_SEEK)
    return FALSE;
  gst_event_parse_seek (event, &rate, NULL, NULL, NULL, NULL, NULL, NULL);
  return rate < 0.0;
}

static gboolean
gst_wavenet_src_event (GstBaseSrc *bsrc, GstEvent *event)
{
  if (is_reverse_seek (event)) {
    GST_WARNING_OBJECT (bsrc, "cannot generate backwards");
    return FALSE;
  }
  return GST_BASE_SRC_CLASS (parent_class)->event (bsrc, event);
}

static gboolean
gst_wavenet_src_send_event (GstElement *element, GstEvent *event)
{
  if (is_reverse_seek (event)) {
    GST_WARNING_OBJECT (element, "cannot generate backwards");
    gst_event_unref (event);
    return FALSE;
  }
  /* A seek sent to the element itself reaches the base class's
   * perform_seek without the is_seekable check that a seek from
   * downstream goes through. */
  if (GST_EVENT_TYPE (event) == GST_EVENT_SEEK &&
      !gst_wavenet_src_is_seekable (GST_BASE_SRC (element))) {
    GST_DEBUG_OBJECT (element, "live: not seekable");
    gst_event_unref (event);
    return FALSE;
  }
  return GST_ELEMENT_CLASS (parent_class)->send_event (element, event);
}

/* Samples, bytes and time, given the negotiated bytes per sample. */
static gboolean
convert (GstWavenetSrc *self, GstFormat src_format, gint64 src_value,
    GstFormat dest_format, gint64 *dest_value)
{
  gint rate = g_atomic_int_get (&self->rate);
  gint bpf;
  gint64 samples;

  GST_OBJECT_LOCK (self);
  bpf = self->bpf;
  GST_OBJECT_UNLOCK (self);

  if (src_format == dest_format || src_value == -1) {
    *dest_value = src_value;
    return TRUE;
  }
  if (rate <= 0 || src_value < 0)
    return FALSE;

  switch (src_format) {
    case GST_FORMAT_DEFAULT:
      samples = src_value;
      break;
    case GST_FORMAT_BYTES:
      if (bpf <= 0)
        return FALSE;
      samples = src_value / bpf;
      break;
    case GST_FORMAT_TIME:
      samples = gst_util_uint64_scale_int (src_value, rate, GST_SECOND);
      break;
    default:
      return FALSE;
  }
  switch (dest_format) {
    case GST_FORMAT_DEFAULT:
      *dest_value = samples;
      return TRUE;
    case GST_FORMAT_BYTES:
      if (bpf <= 0)
        return FALSE;
      *dest_value = samples * bpf;
      return TRUE;
    case GST_FORMAT_TIME:
      *dest_value = gst_util_uint64_scale_int (samples, GST_SECOND, rate);
      return TRUE;
    default:
      return FALSE;
  }
}

static gboolean
gst_wavenet_src_query (GstBaseSrc *bsrc, GstQuery *query)
{
  GstWavenetSrc *self = GST_WAVENET_SRC (bsrc);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_LATENCY: {
      gint rate = g_atomic_int_get (&self->rate);
      GstClockTime latency;
      gint samples;

      if (!gst_base_src_is_live (bsrc) || rate <= 0)
        break;
      /* Each buffer stands for samples that "arrive" over its duration, as
       * from a capture device: downstream must allow one full buffer.  A
       * live source can wait for ever: no maximum. */
      GST_OBJECT_LOCK (self);
      samples = self->samples_per_buffer;
      GST_OBJECT_UNLOCK (self);
      latency = gst_util_uint64_scale_int (samples, GST_SECOND, rate);
      GST_DEBUG_OBJECT (self, "latency %" GST_TIME_FORMAT,
          GST_TIME_ARGS (latency));
      gst_query_set_latency (query, TRUE, latency, GST_CLOCK_TIME_NONE);
      return TRUE;
    }
    case GST_QUERY_CONVERT: {
      GstFormat src_format, dest_format;
      gint64 src_value, dest_value;

      gst_query_parse_convert (query, &src_format, &src_value, &dest_format,
          NULL);
      if (!convert (self, src_format, src_value, dest_format, &dest_value))
        return FALSE;
      gst_query_set_convert (query, src_format, src_value, dest_format,
          dest_value);
      return TRUE;
    }
    default:
      break;
  }
  return GST_BASE_SRC_CLASS (parent_class)->query (bsrc, query);
}

static void
gst_wavenet_src_get_times (GstBaseSrc *bsrc, GstBuffer *buffer,
    GstClockTime *start, GstClockTime *end)
{
  /* Only a live source waits for the clock: until each buffer's timestamp,
   * so that the next buffer is generated during this one's latency. */
  *start = GST_CLOCK_TIME_NONE;
  *end = GST_CLOCK_TIME_NONE;
  if (gst_base_src_is_live (bsrc) && GST_BUFFER_PTS_IS_VALID (buffer)) {
    *start = GST_BUFFER_PTS (buffer);
    if (GST_BUFFER_DURATION_IS_VALID (buffer))
      *end = *start + GST_BUFFER_DURATION (buffer);
  }
}

/* ---- generation -------------------------------------------------------- */

static GstFlowReturn
gst_wavenet_src_fill (GstBaseSrc *bsrc, guint64 offset, guint length,
    GstBuffer *buffer)
{
  GstWavenetSrc *self = GST_WAVENET_SRC (bsrc);
  GstClockTime time, end_time;
  SampleFormat format;
  GstMapInfo map;
  gint64 timestamp_offset, t0;
  gfloat temperature;
  gboolean filtered;
  gsize n, i;
  gint bpf;

  if (self->eos_reached) {
    GST_DEBUG_OBJECT (self, "segment stop reached");
    return GST_FLOW_EOS;
  }

  GST_OBJECT_LOCK (self);
  format = self->format;
  bpf = self->bpf;
  n = self->samples_per_buffer;
  timestamp_offset = self->timestamp_offset;
  GST_OBJECT_UNLOCK (self);
  if (format == SAMPLE_FORMAT_NONE || bpf <= 0)
    return GST_FLOW_NOT_NEGOTIATED;
  /* The base class allocated the block size, which set_property keeps at
   * samplesperbuffer samples. */
  if (length != (guint) -1)
    n = MAX (length / (guint) bpf, 1);

  if (self->check_seek_stop) {
    if (self->next_sample >= self->sample_stop)
      return GST_FLOW_EOS;
    if (self->next_sample + n >= self->sample_stop) {
      n = self->sample_stop - self->next_sample;
      self->eos_reached = TRUE;
    }
  }

  /* Bring controlled properties to this buffer's stream time, then read
   * them once: the whole buffer is generated with one setting. */
  time = sample_time (self, self->next_sample);
  end_time = sample_time (self, self->next_sample + n);
  gst_object_sync_values (GST_OBJECT (self), time);
  GST_OBJECT_LOCK (self);
  temperature = self->settings.temperature;
  GST_OBJECT_UNLOCK (self);
  ar_wavenet_gen_set_temperature (self->gen, temperature);

  /* Grows with samplesperbuffer, never per buffer. */
  if (n > self->classes_len) {
    g_free (self->classes);
    g_free (self->samples);
    self->classes = g_malloc (n);
    self->samples = g_new (gfloat, n);
    self->classes_len = n;
  }
  t0 = g_get_monotonic_time ();
  ar_wavenet_gen_generate (self->gen, self->classes, n);
  self->generation_us += g_get_monotonic_time () - t0;
  /* a class → bytes lookup only when the decode is stateless (neither
   * pre-emphasis nor an output high-pass) */
  filtered = !ar_wavenet_decode_is_stateless (self->model);
  if (filtered)
    ar_wavenet_gen_decode (self->gen, self->classes, self->samples, n);

  gst_buffer_set_size (buffer, (gssize) (n * (gsize) bpf));
  if (!gst_buffer_map (buffer, &map, GST_MAP_WRITE)) {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE, (NULL),
        ("could not map the output buffer"));
    return GST_FLOW_ERROR;
  }
  switch (format) {
    case SAMPLE_FORMAT_S16LE:
      if (filtered) {
        for (i = 0; i < n; i++)
          encode_s16le (self->samples[i], map.data + 2 * i);
      } else {
        for (i = 0; i < n; i++)
          memcpy (map.data + 2 * i, s16le_table[self->classes[i]], 2);
      }
      break;
    case SAMPLE_FORMAT_F32LE:
      if (filtered) {
        for (i = 0; i < n; i++)
          encode_f32le (self->samples[i], map.data + 4 * i);
      } else {
        for (i = 0; i < n; i++)
          memcpy (map.data + 4 * i, f32le_table[self->classes[i]], 4);
      }
      break;
    case SAMPLE_FORMAT_MULAW:
      if (filtered) {
        for (i = 0; i < n; i++)
          map.data[i] = encode_g711 (self->samples[i]);
      } else {
        for (i = 0; i < n; i++)
          map.data[i] = g711_table[self->classes[i]];
      }
      break;
    case SAMPLE_FORMAT_NONE:
      g_assert_not_reached ();
      break;
  }
  gst_buffer_unmap (buffer, &map);

  GST_BUFFER_OFFSET (buffer) = self->next_sample;
  GST_BUFFER_OFFSET_END (buffer) = self->next_sample + n;
  GST_BUFFER_PTS (buffer) = (GstClockTime) timestamp_offset + time;
  GST_BUFFER_DURATION (buffer) = end_time - time;
  GST_LOG_OBJECT (self,
      "samples %" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT
      " at %" GST_TIME_FORMAT,
      self->next_sample, self->next_sample + n,
      GST_TIME_ARGS (GST_BUFFER_PTS (buffer)));

  self->next_sample += n;
  self->generated += n;
  return GST_FLOW_OK;
}

static GstPadProbeReturn
gst_wavenet_src_eos_probe (GstPad *pad, GstPadProbeInfo *info,
    gpointer user_data)
{
  GstWavenetSrc *self = GST_WAVENET_SRC (user_data);
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);

  /* Downstream events are pushed from the streaming thread, which owns the
   * counters. */
  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS && !self->stats_posted &&
      self->gen != NULL) {
    self->stats_posted = TRUE;
    gst_wavenet_post_statistics (GST_ELEMENT (self), "wavenetsrc-statistics",
        self->generated, self->generation_us / (gdouble) G_USEC_PER_SEC,
        self->rate);
  }
  return GST_PAD_PROBE_OK;
}
