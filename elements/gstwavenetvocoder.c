/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstwavenetvocoder.c — wavenetvocoder, a GstBaseTransform that
 * resynthesises audio through a mel-conditioned WaveNet (libargen's
 * ArWaveNetVocoder: log-mel analysis with FFTW, then sample-by-sample
 * generation conditioned on the mel frames).
 *
 * The vocoder needs look-ahead (half an FFT frame and the interpolation to
 * the next frame), so output lags input: a buffer in does not make a buffer
 * of the same size out.  The element therefore uses the base class's
 * submit_input_buffer / generate_output pair — feed what arrives, push what
 * is ready — instead of a one-to-one transform, and drains the vocoder
 * itself wherever the stream of samples ends: at EOS, at a discontinuity
 * (flagged, or a jump in the timestamps), a new segment, a gap or new caps.
 * Each such stretch restarts the vocoder from silence; output sample i of a
 * stretch carries the time of input sample i.
 * Being a base transform keeps caps, allocation and position handling
 * standard; input and output have the same caps. */

/**
 * SECTION:element-wavenetvocoder
 * @title: wavenetvocoder
 *
 * wavenetvocoder analyses mono audio into log-mel frames and generates new
 * audio from them, sample by sample, with a mel-conditioned WaveNet: a
 * neural vocoder.  What comes out is the model's rendering of what went in
 * — speech comes back as speech in the voice the model was trained on.
 *
 * Input and output are mono `audio/x-raw` at the model's rate, S16LE or
 * F32LE, the same format on both sides; put audioconvert and audioresample
 * before it.  Caps at another rate that reach it (a parser's, say) are
 * refused with an error naming both rates.  When upstream offers only
 * another rate (audioconvert without audioresample), negotiation fails
 * upstream, with GStreamer's plain not-negotiated (or delayed-linking)
 * error; the element adds a warning naming both rates when upstream's caps
 * query tells it the rate.  Buffers must hold whole samples (raw audio read in
 * blocks of any size goes through rawaudioparse first).  Output sample i is
 * the resynthesis of input sample i and carries its timestamp, but leaves
 * the element later: the element reports that delay
 * (ar_wavenet_vocoder_latency samples, tens of milliseconds) in the LATENCY
 * query.  At the end of the stream, and before
 * a discontinuity, a new segment or a gap, it drains what it holds, so the
 * output has exactly as many samples as the input; a flush discards it.
 * A discontinuity is a buffer flagged as one, or one whose timestamp is
 * more than 40 ms away from the end of the samples before it, unless it
 * is later and its offset says that no sample is missing: a live source
 * resuming after a pause times its buffers anew, and the stream then goes
 * on, the samples that have not left yet stamped on the new time line
 * (later by the jump).  Every
 * stretch of input starts from silence and from the
 * #GstWavenetVocoder:seed, so the same input and seed give the same output.
 * A vocoder trained with global classes as well (`argen train wavenet
 * --condition mel --classes …`, one per speaker, say) speaks as the class
 * #GstWavenetVocoder:global-condition names.
 *
 * At EOS the element posts an element message named
 * `wavenetvocoder-statistics` with the fields `samples` (guint64, samples
 * output), `seconds` (gdouble, wall time spent analysing and generating),
 * `samples-per-second` and `real-time-factor` (gdouble).
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 filesrc location=speech.wav ! decodebin ! audioconvert ! audioresample ! wavenetvocoder model=vocoder.gguf ! audioconvert ! wavenc ! filesink location=resynthesis.wav
 * ]| Resynthesises a recording through the vocoder.
 * |[
 * gst-launch-1.0 autoaudiosrc ! audioconvert ! audioresample ! wavenetvocoder model=vocoder.gguf temperature=0.7 ! audioconvert ! audioresample ! autoaudiosink
 * ]| Speaks back what the microphone hears, in the model's voice.
 */

#include "gstwavenetvocoder.h"
#include "gstwavenet-common.h"

#include <gst/audio/audio.h>
#include <math.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (wavenet_vocoder_debug);
#define GST_CAT_DEFAULT wavenet_vocoder_debug

/* model, seed, temperature and threads, and global-condition: read in
 * start(), but temperature for every buffer, through the controller at the
 * buffer's stream time. */
static const GstArgenMediaProperties media_properties = {
  .model_blurb = GST_WAVENET_MODEL_BLURB (
      "Path of a vocoder model file (a WaveNet conditioned on mel frames, as "
      "argen train wavenet --condition mel writes it)"),
  .default_model = GST_WAVENET_VOCODER_DEFAULT_MODEL,
  .seed_blurb =
      "Seed of the sampling random number generator, used again at every "
      "discontinuity; the same input, seed and settings give the same "
      "output (-1 = a random seed)",
  .temperature_blurb =
      "Sampling temperature: 1 samples the model's distribution, below 1 is "
      "more conservative (the default resynthesises closer to the input "
      "than 1), above 1 more random (0 = greedy, always the most probable "
      "value)",
  /* Below 1: the trained vocoders are less sure than they should be (their
   * draws at 1 are 3.5 dB louder than the input, mostly noise); at 0.5 the
   * embedded one resynthesises the held-out prompts 10.43 dB from the
   * input against 10.98 at 1, with about the input's level
   * (docs/design-notes.md). */
  .default_temperature = 0.5f,
  .temperature_flags = GST_PARAM_CONTROLLABLE | GST_PARAM_MUTABLE_PLAYING,
  .max_threads = AR_WAVENET_GEN_MAX_THREADS,
  .threads_blurb = GST_WAVENET_THREADS_BLURB,
};

struct _GstWavenetVocoder
{
  GstBaseTransform parent;

  /* Properties, under the object lock. */
  GstArgenMediaSettings settings;
  gchar *global_condition;

  /* Set up in start() and set_caps(), then used by the streaming thread;
   * rate is atomic because caps queries read it from any thread. */
  ArWaveNet *model;
  ArWaveNetVocoder *vocoder;
  ArThreadPool *pool;
  gint rate;
  gint rate_warned; /* atomic: the rate warning was posted */
  gsize latency;    /* samples */
  guint64 stream_seed;
  GstAudioFormat format; /* S16LE or F32LE, in and out */
  gint bpf;
  gfloat *in; /* (in_len) input samples as floats */
  gsize in_len;
  gfloat *out; /* (out_len) output samples as floats */
  gsize out_len;

  /* The current stretch of contiguous input. */
  gboolean in_stretch;
  GstClockTime stretch_pts; /* of its first input sample, or NONE */
  guint64 stretch_offset;   /* of its first input sample, or NONE */
  guint64 n_in, n_out;      /* samples pushed into / pulled out of it */

  guint64 total_out; /* for the statistics */
  gint64 generation_us;
};

#define VOCODER_CAPS                                                           \
  "audio/x-raw, format = (string) { S16LE, F32LE }, "                          \
  "rate = (int) [ 1, MAX ], channels = (int) 1, "                              \
  "layout = (string) interleaved"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (VOCODER_CAPS));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (VOCODER_CAPS));

enum
{
  PROP_GLOBAL_CONDITION = GST_ARGEN_MEDIA_PROP_LAST,
};

#define gst_wavenet_vocoder_parent_class parent_class
G_DEFINE_TYPE (GstWavenetVocoder, gst_wavenet_vocoder, GST_TYPE_BASE_TRANSFORM);

GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (wavenetvocoder, "wavenetvocoder",
    GST_RANK_NONE, GST_TYPE_WAVENET_VOCODER,
    GST_DEBUG_CATEGORY_INIT (wavenet_vocoder_debug, "wavenetvocoder", 0,
        "WaveNet vocoder"));

static void gst_wavenet_vocoder_finalize (GObject *object);
static void gst_wavenet_vocoder_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec);
static void gst_wavenet_vocoder_get_property (GObject *object, guint prop_id,
    GValue *value, GParamSpec *pspec);
static gboolean gst_wavenet_vocoder_start (GstBaseTransform *trans);
static gboolean gst_wavenet_vocoder_stop (GstBaseTransform *trans);
static GstCaps *gst_wavenet_vocoder_transform_caps (GstBaseTransform *trans,
    GstPadDirection direction, GstCaps *caps, GstCaps *filter);
static gboolean gst_wavenet_vocoder_set_caps (GstBaseTransform *trans,
    GstCaps *incaps, GstCaps *outcaps);
static gboolean gst_wavenet_vocoder_query (GstBaseTransform *trans,
    GstPadDirection direction, GstQuery *query);
static gboolean gst_wavenet_vocoder_sink_event (GstBaseTransform *trans,
    GstEvent *event);
static GstFlowReturn
gst_wavenet_vocoder_submit_input_buffer (GstBaseTransform *trans,
    gboolean is_discont, GstBuffer *input);
static GstFlowReturn
gst_wavenet_vocoder_generate_output (GstBaseTransform *trans,
    GstBuffer **outbuf);
static GstPadProbeReturn gst_wavenet_vocoder_caps_probe (GstPad *pad,
    GstPadProbeInfo *info, gpointer user_data);

static void
gst_wavenet_vocoder_class_init (GstWavenetVocoderClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);

  gobject_class->set_property = gst_wavenet_vocoder_set_property;
  gobject_class->get_property = gst_wavenet_vocoder_get_property;
  gobject_class->finalize = gst_wavenet_vocoder_finalize;

  gst_argen_media_install_properties (gobject_class, &media_properties);
  g_object_class_install_property (gobject_class, PROP_GLOBAL_CONDITION,
      g_param_spec_string ("global-condition", "Global condition",
          GST_WAVENET_GLOBAL_CONDITION_BLURB, NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "WaveNet vocoder",
      "Filter/Effect/Audio",
      "Resynthesises audio from its log-mel spectrogram with a "
      "mel-conditioned WaveNet",
      "gst-argen developers");

  trans_class->start = GST_DEBUG_FUNCPTR (gst_wavenet_vocoder_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_wavenet_vocoder_stop);
  trans_class->transform_caps =
      GST_DEBUG_FUNCPTR (gst_wavenet_vocoder_transform_caps);
  trans_class->set_caps = GST_DEBUG_FUNCPTR (gst_wavenet_vocoder_set_caps);
  trans_class->query = GST_DEBUG_FUNCPTR (gst_wavenet_vocoder_query);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_wavenet_vocoder_sink_event);
  trans_class->submit_input_buffer =
      GST_DEBUG_FUNCPTR (gst_wavenet_vocoder_submit_input_buffer);
  trans_class->generate_output =
      GST_DEBUG_FUNCPTR (gst_wavenet_vocoder_generate_output);
}

static void
gst_wavenet_vocoder_init (GstWavenetVocoder *self)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);

  gst_argen_media_settings_init (&self->settings, &media_properties);

  /* Without transform functions the base class would pass buffers
   * through untouched. */
  gst_base_transform_set_passthrough (trans, FALSE);
  gst_base_transform_set_in_place (trans, FALSE);

  gst_pad_add_probe (GST_BASE_TRANSFORM_SINK_PAD (trans),
      GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, gst_wavenet_vocoder_caps_probe, self,
      NULL);
}

static void
gst_wavenet_vocoder_finalize (GObject *object)
{
  GstWavenetVocoder *self = GST_WAVENET_VOCODER (object);

  gst_argen_media_settings_clear (&self->settings);
  g_free (self->global_condition);

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_wavenet_vocoder_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec)
{
  GstWavenetVocoder *self = GST_WAVENET_VOCODER (object);

  if (gst_argen_media_settings_set_property (GST_ELEMENT (self),
          &self->settings, prop_id, value))
    return;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_GLOBAL_CONDITION:
      g_free (self->global_condition);
      self->global_condition = g_value_dup_string (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_wavenet_vocoder_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  GstWavenetVocoder *self = GST_WAVENET_VOCODER (object);

  if (gst_argen_media_settings_get_property (GST_ELEMENT (self),
          &self->settings, prop_id, value))
    return;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_GLOBAL_CONDITION:
      g_value_set_string (value, self->global_condition);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ---- start and stop --------------------------------------------------- */

static gboolean
gst_wavenet_vocoder_start (GstBaseTransform *trans)
{
  GstWavenetVocoder *self = GST_WAVENET_VOCODER (trans);
  GError *error = NULL;
  gboolean ok = FALSE;
  gchar *uri, *condition;
  gint64 seed;
  guint threads;
  int cls;

  GST_OBJECT_LOCK (self);
  uri = g_strdup (self->settings.model);
  condition = g_strdup (self->global_condition);
  seed = self->settings.seed;
  threads = self->settings.threads;
  GST_OBJECT_UNLOCK (self);

  self->model = gst_wavenet_model_acquire (GST_ELEMENT (self), uri);
  if (self->model == NULL)
    goto done;
  if (ar_wavenet_get_config (self->model)->cond_channels == 0) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
        ("the model %s has no mel conditioning, so it is not a vocoder (it "
         "generates on its own, in wavenetsrc)",
            uri),
        (NULL));
    goto done;
  }
  self->vocoder = ar_wavenet_vocoder_new (self->model, &error);
  if (self->vocoder == NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED, ("%s: %s", uri, error->message),
        (NULL));
    g_error_free (error);
    goto done;
  }
  if (!gst_wavenet_find_global_class (GST_ELEMENT (self), self->model, uri,
          condition, &cls))
    goto done;
  if (cls >= 0) {
    if (!ar_wavenet_vocoder_set_global_class (self->vocoder, cls, &error)) {
      GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("%s", error->message),
          (NULL));
      g_error_free (error);
      goto done;
    }
    GST_INFO_OBJECT (self, "global condition: class %d (%s)", cls,
        ar_wavenet_get_class_name (self->model, cls));
  }
  self->pool = gst_argen_threadpool_new (threads, AR_WAVENET_GEN_MAX_THREADS);
  ar_wavenet_vocoder_set_threadpool (self->vocoder, self->pool);
  self->stream_seed = gst_argen_pick_seed (seed);
  GST_INFO_OBJECT (self, "seed %" G_GUINT64_FORMAT, self->stream_seed);
  self->latency = ar_wavenet_vocoder_latency (self->vocoder);
  g_atomic_int_set (&self->rate_warned, FALSE);
  g_atomic_int_set (&self->rate,
      ar_wavenet_get_config (self->model)->sample_rate);

  self->in_stretch = FALSE;
  self->n_in = self->n_out = 0;
  self->total_out = 0;
  self->generation_us = 0;
  ok = TRUE;

done:
  if (!ok)
    gst_wavenet_vocoder_stop (trans);
  g_free (uri);
  g_free (condition);
  return ok;
}

static gboolean
gst_wavenet_vocoder_stop (GstBaseTransform *trans)
{
  GstWavenetVocoder *self = GST_WAVENET_VOCODER (trans);

  g_clear_pointer (&self->vocoder, ar_wavenet_vocoder_free);
  g_clear_pointer (&self->pool, ar_threadpool_free);
  g_clear_pointer (&self->model, gst_wavenet_model_release);
  g_clear_pointer (&self->in, g_free);
  g_clear_pointer (&self->out, g_free);
  self->in_len = self->out_len = 0;
  self->format = GST_AUDIO_FORMAT_UNKNOWN;
  self->bpf = 0;
  g_atomic_int_set (&self->rate, 0);
  return TRUE;
}

/* ---- caps and queries -------------------------------------------------- */

static GstCaps *
gst_wavenet_vocoder_transform_caps (GstBaseTransform *trans,
    GstPadDirection direction, GstCaps *caps, GstCaps *filter)
{
  GstWavenetVocoder *self = GST_WAVENET_VOCODER (trans);
  gint rate = g_atomic_int_get (&self->rate);
  GstCaps *allowed, *result, *tmp;
  guint i;

  /* Out as in, at the model's rate once it is loaded. */
  allowed = gst_static_pad_template_get_caps (&src_template);
  if (rate > 0) {
    allowed = gst_caps_make_writable (allowed);
    for (i = 0; i < gst_caps_get_size (allowed); i++)
      gst_structure_set (gst_caps_get_structure (allowed, i), "rate",
          G_TYPE_INT, rate, NULL);
  }
  result = gst_caps_intersect_full (caps, allowed, GST_CAPS_INTERSECT_FIRST);
  gst_caps_unref (allowed);
  if (filter != NULL) {
    tmp = gst_caps_intersect_full (filter, result, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (result);
    result = tmp;
  }
  GST_LOG_OBJECT (self, "%" GST_PTR_FORMAT " -> %" GST_PTR_FORMAT, caps,
      result);
  return result;
}

static gboolean
gst_wavenet_vocoder_set_caps (GstBaseTransform *trans, GstCaps *incaps,
    GstCaps *outcaps)
{
  GstWavenetVocoder *self = GST_WAVENET_VOCODER (trans);
  GstAudioInfo in, out;

  if (!gst_audio_info_from_caps (&in, incaps) ||
      !gst_audio_info_from_caps (&out, outcaps))
    return FALSE;
  if (GST_AUDIO_INFO_FORMAT (&in) != GST_AUDIO_INFO_FORMAT (&out) ||
      GST_AUDIO_INFO_RATE (&in) != g_atomic_int_get (&self->rate) ||
      GST_AUDIO_INFO_CHANNELS (&in) != 1)
    return FALSE;
  self->format = GST_AUDIO_INFO_FORMAT (&in);
  self->bpf = GST_AUDIO_INFO_BPF (&in);
  GST_DEBUG_OBJECT (self, "negotiated %" GST_PTR_FORMAT, incaps);
  return TRUE;
}

/* Caps the sink pad refuses end in a bare not-negotiated upstream; when
 * the reason is the rate or the layout of the audio, say so first.  A probe
 * sees the CAPS event before the pad checks it. */
static GstPadProbeReturn
gst_wavenet_vocoder_caps_probe (GstPad *pad, GstPadProbeInfo *info,
    gpointer user_data)
{
  GstWavenetVocoder *self = GST_WAVENET_VOCODER (user_data);
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);
  gint rate = g_atomic_int_get (&self->rate), in_rate = 0, channels = 0;
  const gchar *format;
  GstStructure *s;
  GstCaps *caps;

  if (GST_EVENT_TYPE (event) != GST_EVENT_CAPS || rate <= 0)
    return GST_PAD_PROBE_OK;

  gst_event_parse_caps (event, &caps);
  s = gst_caps_get_structure (caps, 0);
  format = gst_structure_get_string (s, "format");
  gst_structure_get_int (s, "rate", &in_rate);
  gst_structure_get_int (s, "channels", &channels);
  if (in_rate != rate) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("wavenetvocoder runs at the model's rate, %d Hz, but the input is "
         "at %d Hz; put audioresample before it",
            rate, in_rate),
        ("input caps: %" GST_PTR_FORMAT, caps));
  } else if (!gst_structure_has_name (s, "audio/x-raw") || channels != 1 ||
      format == NULL ||
      (strcmp (format, "S16LE") != 0 && strcmp (format, "F32LE") != 0)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("wavenetvocoder takes mono S16LE or F32LE audio; put audioconvert "
         "before it"),
        ("input caps: %" GST_PTR_FORMAT, caps));
  }
  return GST_PAD_PROBE_OK;
}

/* Upstream offering only another rate (an audioconvert without
 * audioresample) fails to negotiate before any caps reach the probe above,
 * and only upstream can post that error: say here, once a stream, which
 * rate would do and how to get it.  A warning, not an error: caps queries
 * may be mere probes (pixelcnnfill does the same for sizes). */
static void
warn_rate (GstWavenetVocoder *self, GstCaps *filter)
{
  gint rate = g_atomic_int_get (&self->rate), in_rate = 0;

  if (rate <= 0 || filter == NULL || gst_caps_is_empty (filter) ||
      !gst_structure_get_int (gst_caps_get_structure (filter, 0), "rate",
          &in_rate) ||
      in_rate == rate)
    return;
  if (g_atomic_int_exchange (&self->rate_warned, TRUE))
    return;
  GST_ELEMENT_WARNING (self, CORE, NEGOTIATION,
      ("wavenetvocoder runs at the model's rate, %d Hz, but upstream offers "
       "%d Hz; put audioresample before it",
          rate, in_rate),
      ("upstream caps: %" GST_PTR_FORMAT, filter));
}

static gboolean
gst_wavenet_vocoder_query (GstBaseTransform *trans, GstPadDirection direction,
    GstQuery *query)
{
  GstWavenetVocoder *self = GST_WAVENET_VOCODER (trans);
  gint rate = g_atomic_int_get (&self->rate);
  GstClockTime min, max, ours;
  gboolean live;

  if (direction == GST_PAD_SINK && GST_QUERY_TYPE (query) == GST_QUERY_CAPS) {
    GstCaps *filter, *result;

    if (!GST_BASE_TRANSFORM_CLASS (parent_class)
             ->query (trans, direction, query))
      return FALSE;
    gst_query_parse_caps (query, &filter);
    gst_query_parse_caps_result (query, &result);
    if (result != NULL && gst_caps_is_empty (result))
      warn_rate (self, filter);
    return TRUE;
  }
  if (direction != GST_PAD_SRC || GST_QUERY_TYPE (query) != GST_QUERY_LATENCY ||
      rate <= 0)
    return GST_BASE_TRANSFORM_CLASS (parent_class)
        ->query (trans, direction, query);

  if (!GST_BASE_TRANSFORM_CLASS (parent_class)->query (trans, direction, query))
    return FALSE;
  /* Output sample i leaves once input sample i + latency has arrived. */
  gst_query_parse_latency (query, &live, &min, &max);
  ours = gst_util_uint64_scale_int (self->latency, GST_SECOND, rate);
  min += ours;
  if (GST_CLOCK_TIME_IS_VALID (max))
    max += ours;
  GST_DEBUG_OBJECT (self, "adding %" GST_TIME_FORMAT " of latency",
      GST_TIME_ARGS (ours));
  gst_query_set_latency (query, live, min, max);
  return TRUE;
}

/* ---- streaming --------------------------------------------------------- */

/* Starts a stretch of contiguous input at @buffer: the vocoder from
 * silence and the seed, times and offsets from the buffer's. */
static void
begin_stretch (GstWavenetVocoder *self, GstBuffer *buffer)
{
  ar_wavenet_vocoder_reset (self->vocoder, self->stream_seed);
  self->in_stretch = TRUE;
  self->stretch_pts = GST_BUFFER_PTS (buffer);
  self->stretch_offset = GST_BUFFER_OFFSET (buffer);
  self->n_in = self->n_out = 0;
}

/* How far a buffer's timestamp may stray from the time its samples follow
 * on before it counts as a discontinuity: GStreamer's audio convention
 * (audiorate's and the audio encoders' tolerance), wide enough for the
 * jitter of capture timestamps. */
#define TIMESTAMP_TOLERANCE (40 * GST_MSECOND)

/* Whether @buffer's samples follow on from the stretch's in time: not when
 * its timestamp jumps forward or back (samples lost or repeated upstream
 * without a DISCONT flag).  A stretch that began without timestamps takes
 * them from the first buffer that has one. */
static gboolean
continues_stretch (GstWavenetVocoder *self, GstBuffer *buffer)
{
  GstClockTime pts = GST_BUFFER_PTS (buffer), expected;

  if (!GST_CLOCK_TIME_IS_VALID (pts))
    return TRUE;
  expected = gst_util_uint64_scale_int (self->n_in, GST_SECOND, self->rate);
  if (!GST_CLOCK_TIME_IS_VALID (self->stretch_pts)) {
    if (pts < expected)
      return FALSE;
    self->stretch_pts = pts - expected;
    return TRUE;
  }
  expected += self->stretch_pts;
  /* Later than expected, but the offsets say no sample is missing: the
   * samples were timed anew, as a live source does when it resumes after
   * a pause (its buffers are shifted to the running time, tens of
   * milliseconds when generating a buffer takes that long).  The stretch
   * goes on, and what has not left yet is stamped on the new time line:
   * output sample i then carries the time input sample i would have had
   * there, and nothing goes back.  (Taken for a discontinuity, every pause
   * of a live pipeline drained the vocoder into noise and restarted it
   * from silence.) */
  if (pts > expected + TIMESTAMP_TOLERANCE &&
      GST_BUFFER_OFFSET (buffer) != GST_BUFFER_OFFSET_NONE &&
      self->stretch_offset != GST_BUFFER_OFFSET_NONE &&
      GST_BUFFER_OFFSET (buffer) == self->stretch_offset + self->n_in) {
    GST_DEBUG_OBJECT (self,
        "timestamp %" GST_TIME_FORMAT ", expected %" GST_TIME_FORMAT
        ", offsets contiguous: retimed",
        GST_TIME_ARGS (pts), GST_TIME_ARGS (expected));
    self->stretch_pts += pts - expected;
    return TRUE;
  }
  if (pts + TIMESTAMP_TOLERANCE < expected ||
      pts > expected + TIMESTAMP_TOLERANCE) {
    GST_DEBUG_OBJECT (self,
        "timestamp %" GST_TIME_FORMAT ", expected %" GST_TIME_FORMAT
        ": a discontinuity",
        GST_TIME_ARGS (pts), GST_TIME_ARGS (expected));
    return FALSE;
  }
  return TRUE;
}

/* Pulls up to @n ready samples into a new buffer stamped with the times of
 * the input samples they resynthesise; NULL when none is ready. */
static GstBuffer *
pull_output (GstWavenetVocoder *self, gsize n)
{
  GstClockTime start, end;
  GstBuffer *buffer;
  GstMapInfo map;
  gint64 t0;
  gsize i;

  if (n == 0)
    return NULL;
  if (n > self->out_len) {
    g_free (self->out);
    self->out = g_new (gfloat, n);
    self->out_len = n;
  }
  t0 = g_get_monotonic_time ();
  n = ar_wavenet_vocoder_pull (self->vocoder, self->out, n);
  self->generation_us += g_get_monotonic_time () - t0;
  if (n == 0)
    return NULL;

  buffer = gst_buffer_new_allocate (NULL, n * (gsize) self->bpf, NULL);
  gst_buffer_map (buffer, &map, GST_MAP_WRITE);
  if (self->format == GST_AUDIO_FORMAT_S16LE) {
    for (i = 0; i < n; i++) {
      gint32 v = (gint32) lrintf (self->out[i] * 32768.0f);
      guint16 s = (guint16) (gint16) CLAMP (v, -32768, 32767);

      map.data[2 * i] = (guint8) (s & 0xff);
      map.data[2 * i + 1] = (guint8) (s >> 8);
    }
  } else {
    for (i = 0; i < n; i++) {
      guint32 bits;

      memcpy (&bits, &self->out[i], 4);
      bits = GUINT32_TO_LE (bits);
      memcpy (map.data + 4 * i, &bits, 4);
    }
  }
  gst_buffer_unmap (buffer, &map);

  if (GST_CLOCK_TIME_IS_VALID (self->stretch_pts)) {
    start = self->stretch_pts +
        gst_util_uint64_scale_int (self->n_out, GST_SECOND, self->rate);
    end = self->stretch_pts +
        gst_util_uint64_scale_int (self->n_out + n, GST_SECOND, self->rate);
    GST_BUFFER_PTS (buffer) = start;
    GST_BUFFER_DURATION (buffer) = end - start;
  }
  if (self->stretch_offset != GST_BUFFER_OFFSET_NONE) {
    GST_BUFFER_OFFSET (buffer) = self->stretch_offset + self->n_out;
    GST_BUFFER_OFFSET_END (buffer) = self->stretch_offset + self->n_out + n;
  }
  if (self->n_out == 0)
    GST_BUFFER_FLAG_SET (buffer, GST_BUFFER_FLAG_DISCONT);
  self->n_out += n;
  self->total_out += n;
  return buffer;
}

/* Ends the current stretch: drains the vocoder and pushes everything it
 * held, so that the output has as many samples as the input. */
static GstFlowReturn
finish_stretch (GstWavenetVocoder *self)
{
  GstFlowReturn flow = GST_FLOW_OK;
  GstBuffer *buffer;
  gint64 t0;

  if (!self->in_stretch)
    return GST_FLOW_OK;
  self->in_stretch = FALSE;
  if (self->n_in == 0)
    return GST_FLOW_OK;

  t0 = g_get_monotonic_time ();
  ar_wavenet_vocoder_drain (self->vocoder);
  self->generation_us += g_get_monotonic_time () - t0;
  while (flow == GST_FLOW_OK &&
      (buffer = pull_output (self,
           ar_wavenet_vocoder_available (self->vocoder))) != NULL)
    flow = gst_pad_push (GST_BASE_TRANSFORM_SRC_PAD (self), buffer);
  GST_DEBUG_OBJECT (self,
      "drained: %" G_GUINT64_FORMAT " samples in, %" G_GUINT64_FORMAT
      " out, %s",
      self->n_in, self->n_out, gst_flow_get_name (flow));
  return flow;
}

static GstFlowReturn
gst_wavenet_vocoder_submit_input_buffer (GstBaseTransform *trans,
    gboolean is_discont, GstBuffer *input)
{
  GstWavenetVocoder *self = GST_WAVENET_VOCODER (trans);
  GstFlowReturn flow = GST_FLOW_OK;
  GstClockTime stream_time;
  gfloat temperature;
  GstMapInfo map;
  gsize size, n, i;
  gint64 t0;

  if (self->vocoder == NULL || self->bpf == 0) {
    gst_buffer_unref (input);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  /* Part of a sample would shift every sample after it out of place:
   * refused, as GstBaseTransform refuses it in filters with a unit size. */
  size = gst_buffer_get_size (input);
  if (size % (gsize) self->bpf != 0) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("wavenetvocoder received a buffer of %" G_GSIZE_FORMAT " bytes, "
         "not a whole number of %d-byte samples; put rawaudioparse before "
         "it",
            size, self->bpf),
        (NULL));
    gst_buffer_unref (input);
    return GST_FLOW_ERROR;
  }

  /* A discontinuity ends what came before: resynthesising across it would
   * make one sound of two, and stamp what follows with the wrong times.
   * The input's own flag, not the base class's @is_discont: that stays set
   * until an output buffer goes out, so with input buffers shorter than
   * the latency (10 ms from a capture source) every one of them would
   * start a stretch of its own.  A flush ends the stretch in sink_event. */
  if (GST_BUFFER_IS_DISCONT (input) ||
      (self->in_stretch && !continues_stretch (self, input)))
    flow = finish_stretch (self);
  if (flow != GST_FLOW_OK) {
    gst_buffer_unref (input);
    return flow;
  }
  if (!self->in_stretch)
    begin_stretch (self, input);

  /* Controlled properties at this buffer's stream time, read once.  Raw
   * audio in a BYTES segment (from filesrc) has no stream time: they keep
   * their values. */
  stream_time = GST_CLOCK_TIME_NONE;
  if (trans->segment.format == GST_FORMAT_TIME)
    stream_time = gst_segment_to_stream_time (&trans->segment, GST_FORMAT_TIME,
        GST_BUFFER_PTS (input));
  if (GST_CLOCK_TIME_IS_VALID (stream_time))
    gst_object_sync_values (GST_OBJECT (self), stream_time);
  GST_OBJECT_LOCK (self);
  temperature = self->settings.temperature;
  GST_OBJECT_UNLOCK (self);
  ar_wavenet_vocoder_set_temperature (self->vocoder, temperature);

  if (!gst_buffer_map (input, &map, GST_MAP_READ)) {
    gst_buffer_unref (input);
    GST_ELEMENT_ERROR (self, RESOURCE, READ, (NULL),
        ("could not map the input buffer"));
    return GST_FLOW_ERROR;
  }
  n = map.size / (gsize) self->bpf;
  if (n > self->in_len) {
    g_free (self->in);
    self->in = g_new (gfloat, n);
    self->in_len = n;
  }
  if (self->format == GST_AUDIO_FORMAT_S16LE) {
    for (i = 0; i < n; i++)
      self->in[i] =
          (gint16) (map.data[2 * i] | (map.data[2 * i + 1] << 8)) / 32768.0f;
  } else {
    for (i = 0; i < n; i++) {
      guint32 bits;

      memcpy (&bits, map.data + 4 * i, 4);
      bits = GUINT32_FROM_LE (bits);
      memcpy (&self->in[i], &bits, 4);
    }
  }
  gst_buffer_unmap (input, &map);
  gst_buffer_unref (input);

  t0 = g_get_monotonic_time ();
  ar_wavenet_vocoder_push (self->vocoder, self->in, n);
  self->generation_us += g_get_monotonic_time () - t0;
  self->n_in += n;
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_wavenet_vocoder_generate_output (GstBaseTransform *trans,
    GstBuffer **outbuf)
{
  GstWavenetVocoder *self = GST_WAVENET_VOCODER (trans);

  /* Called after each input until it returns no buffer. */
  *outbuf = NULL;
  if (self->vocoder != NULL && self->in_stretch)
    *outbuf = pull_output (self, ar_wavenet_vocoder_available (self->vocoder));
  return GST_FLOW_OK;
}

static gboolean
gst_wavenet_vocoder_sink_event (GstBaseTransform *trans, GstEvent *event)
{
  GstWavenetVocoder *self = GST_WAVENET_VOCODER (trans);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_EOS:
      /* Everything held goes out before the EOS, whatever downstream
       * answers (it may be flushing). */
      /* A stream that never got caps (upstream failed to negotiate, and
       * its base class ends the stream) has no statistics: posted there,
       * racing the error, the message left gst-launch waiting for ever in
       * about one run in five. */
      if (self->vocoder != NULL && self->bpf > 0) {
        finish_stretch (self);
        gst_wavenet_post_statistics (GST_ELEMENT (self),
            "wavenetvocoder-statistics", self->total_out,
            self->generation_us / (gdouble) G_USEC_PER_SEC, self->rate);
      }
      break;
    case GST_EVENT_SEGMENT:
    case GST_EVENT_GAP:
      /* What came before belongs to the previous segment, or ends before
       * the gap: out with it, under the segment it belongs to. */
      if (self->vocoder != NULL)
        finish_stretch (self);
      break;
    case GST_EVENT_CAPS: {
      GstCaps *caps, *current;

      /* New caps may change the sample format: what is held goes out in
       * the old one.  The same caps again change nothing. */
      gst_event_parse_caps (event, &caps);
      current = gst_pad_get_current_caps (GST_BASE_TRANSFORM_SINK_PAD (trans));
      if (current != NULL && self->vocoder != NULL &&
          !gst_caps_is_equal (caps, current))
        finish_stretch (self);
      if (current != NULL)
        gst_caps_unref (current);
      break;
    }
    case GST_EVENT_FLUSH_STOP:
      /* Discarded: the next buffer starts afresh. */
      self->in_stretch = FALSE;
      self->n_in = self->n_out = 0;
      break;
    default:
      break;
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}
