/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gsttextgensrc.c — textgensrc, a GstPushSrc that generates UTF-8 text with
 * a libargen text model (RNN, Transformer, … whatever the model file holds).
 *
 * One stream is one ArTextGen: reset with the seed and the prompt queued in
 * start(); the first create() feeds the prompt in steps (a state change
 * must not wait for the model to read a long one: unlock() stops it between
 * two steps, and the next create() goes on from there), then each create()
 * samples up to tokens-per-buffer tokens.  Buffer
 * timestamps and offsets come from the token counter, as audiotestsrc derives
 * them from its sample counter: a token lasts 1/tokens-per-second. */

/**
 * SECTION:element-textgensrc
 * @title: textgensrc
 *
 * textgensrc generates text with an autoregressive language model and pushes
 * it as `text/x-raw, format=utf8` buffers.  Without the #GstTextGenSrc:model
 * property it uses the model embedded in the plugin (a character-level GRU
 * trained on Shakespeare); any text model file made by `argen train` (or a
 * compatible GGUF file) can be loaded instead.
 *
 * The #GstTextGenSrc:prompt starts the text but is not output.  A buffer
 * holds at most #GstTextGenSrc:tokens-per-buffer tokens and ends early after
 * a newline; it is timestamped as if the tokens came at
 * #GstTextGenSrc:tokens-per-second, and its offset and offset-end are token
 * indices.  With #GstTextGenSrc:is-live the source pushes each buffer when
 * the clock reaches its timestamp and reports a latency of one buffer
 * (tokens-per-buffer tokens at tokens-per-second) and no maximum.  The
 * stream ends after #GstTextGenSrc:max-tokens tokens, when the output
 * reaches the #GstTextGenSrc:stop string, or when the model samples its
 * end-of-text token (tokenizer.ggml.eos_token_id: a llama vocabulary's
 * </s>; the embedded models have none).  Output is always valid
 * UTF-8.  At the end of the stream the element posts an element message
 * named `textgen-statistics` with the fields `tokens` (guint64), `seconds`
 * (gdouble, wall time spent generating), `tokens-per-second` (gdouble) and
 * `prompt-tokens` (guint64, the prompt's tokens the model read).  The
 * model reads the prompt when the stream starts, 32 tokens at a time, so a
 * state change interrupts even a long prompt within milliseconds.
 *
 * With #GstTextGenSrc:beam-width above 1 the element searches instead of
 * sampling: it keeps that many hypotheses and outputs the continuation of
 * highest total probability, a remedy for the drift of sampled text.  Text
 * leaves the element once every hypothesis agrees on it (at most 64 tokens
 * behind); at max-tokens the best hypothesis is output.  Temperature,
 * top-k, top-p and seed are then ignored.  #GstTextGenSrc:threads splits
 * the large matrix products of each token over that many threads (0, the
 * default: one per processor); libargen splits only matrices of 128K
 * weights or more, so small models (the embedded one among them, and
 * stories260K) run in one thread, and the text is the same either way.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 textgensrc prompt="ROMEO:" max-tokens=400 ! filesink location=play.txt
 * ]| Writes 400 tokens of a play, continuing the prompt "ROMEO:".
 * |[
 * gst-launch-1.0 textgensrc seed=7 temperature=0.5 stop='\\n\\n' ! fdsink
 * ]| Prints one paragraph (the stop string is an empty line), sampled
 * conservatively and reproducibly.  The stop string understands C escapes;
 * gst-launch-1.0 removes one level of backslashes, hence the doubled ones.
 * |[
 * gst-launch-1.0 videotestsrc ! textoverlay name=o ! autovideosink \
 *     textgensrc tokens-per-second=10 is-live=true ! o.text_sink
 * ]| Subtitles a test video with text arriving at ten characters a second.
 * |[
 * gst-launch-1.0 textgensrc model=stories15M.gguf beam-width=4 max-tokens=256 ! fdsink
 * ]| The most probable story a beam of four finds, its matrix products
 * spread over every processor.
 */

#include "gsttextgensrc.h"
#include "gstargen-common.h"

#include <string.h>

GST_DEBUG_CATEGORY_STATIC (text_gen_src_debug);
#define GST_CAT_DEFAULT text_gen_src_debug

#define DEFAULT_MAX_TOKENS 500
#define DEFAULT_PROMPT ""
#define DEFAULT_TOKENS_PER_BUFFER 64
#define MAX_TOKENS_PER_BUFFER 65536
#define DEFAULT_TOKENS_PER_SECOND 25.0
#define DEFAULT_IS_LIVE FALSE

enum
{
  PROP_PROMPT = GST_ARGEN_TEXT_PROP_LAST,
  PROP_TOKENS_PER_BUFFER,
  PROP_TOKENS_PER_SECOND,
  PROP_IS_LIVE,
};

struct _GstTextGenSrc
{
  GstPushSrc parent;

  /* Properties, under the object lock. */
  GstArgenTextSettings settings;
  gchar *prompt;
  guint tokens_per_buffer;
  gdouble tokens_per_second;

  /* Streaming state, set up in start(), used by create() only. */
  ArTextModel *model;
  ArTextModel *draft; /* speculative mode: the draft model, else NULL */
  GstArgenTextMode mode; /* as at start */
  ArTextGen *gen;
  GString *out;         /* the next buffer's text */
  gint rate_n, rate_d;  /* tokens-per-second as a fraction, fixed at start */
  guint64 n_tokens;     /* tokens sampled so far: the next buffer's offset */
  guint64 prompt_tokens; /* prompt tokens the model has read */
  gboolean finished;    /* max-tokens or the stop string reached */
  gint64 generation_us; /* wall time spent in create() generating */
  gboolean stats_posted;

  gint flushing; /* atomic: unlock() asks create() to return */
};

static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS,
        GST_STATIC_CAPS ("text/x-raw, format = (string) utf8"));

#define gst_text_gen_src_parent_class parent_class
G_DEFINE_TYPE (GstTextGenSrc, gst_text_gen_src, GST_TYPE_PUSH_SRC);

GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (textgensrc, "textgensrc", GST_RANK_NONE,
    GST_TYPE_TEXT_GEN_SRC,
    GST_DEBUG_CATEGORY_INIT (text_gen_src_debug, "textgensrc", 0,
        "text generation source"));

static void gst_text_gen_src_finalize (GObject *object);
static void gst_text_gen_src_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec);
static void gst_text_gen_src_get_property (GObject *object, guint prop_id,
    GValue *value, GParamSpec *pspec);
static gboolean gst_text_gen_src_start (GstBaseSrc *bsrc);
static gboolean gst_text_gen_src_stop (GstBaseSrc *bsrc);
static gboolean gst_text_gen_src_unlock (GstBaseSrc *bsrc);
static gboolean gst_text_gen_src_unlock_stop (GstBaseSrc *bsrc);
static gboolean gst_text_gen_src_is_seekable (GstBaseSrc *bsrc);
static gboolean gst_text_gen_src_query (GstBaseSrc *bsrc, GstQuery *query);
static void gst_text_gen_src_get_times (GstBaseSrc *bsrc, GstBuffer *buffer,
    GstClockTime *start, GstClockTime *end);
static GstFlowReturn gst_text_gen_src_create (GstPushSrc *psrc,
    GstBuffer **buf);
static GstPadProbeReturn gst_text_gen_src_eos_probe (GstPad *pad,
    GstPadProbeInfo *info, gpointer user_data);

static void
gst_text_gen_src_class_init (GstTextGenSrcClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *basesrc_class = GST_BASE_SRC_CLASS (klass);
  GstPushSrcClass *pushsrc_class = GST_PUSH_SRC_CLASS (klass);

  gobject_class->set_property = gst_text_gen_src_set_property;
  gobject_class->get_property = gst_text_gen_src_get_property;
  gobject_class->finalize = gst_text_gen_src_finalize;

  gst_argen_text_install_properties (gobject_class, DEFAULT_MAX_TOKENS);

  g_object_class_install_property (gobject_class, PROP_PROMPT,
      g_param_spec_string ("prompt", "Prompt",
          "Text the generation continues; it is not output itself",
          DEFAULT_PROMPT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_TOKENS_PER_BUFFER,
      g_param_spec_uint ("tokens-per-buffer", "Tokens per buffer",
          "Maximum number of tokens in one buffer; a buffer also ends after "
          "a newline",
          1, MAX_TOKENS_PER_BUFFER, DEFAULT_TOKENS_PER_BUFFER,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_TOKENS_PER_SECOND,
      g_param_spec_double ("tokens-per-second", "Tokens per second",
          "Rate of the tokens in stream time: sets the buffer timestamps and, "
          "when live, the pace of the output",
          1e-3, 1e6, DEFAULT_TOKENS_PER_SECOND,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_IS_LIVE,
      g_param_spec_boolean ("is-live", "Is live",
          "Whether to act as a live source, pushing text at "
          "tokens-per-second in clock time",
          DEFAULT_IS_LIVE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));

  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "Text generator source",
      "Source/Text",
      "Generates UTF-8 text with an autoregressive language model",
      "gst-argen developers");

  basesrc_class->start = GST_DEBUG_FUNCPTR (gst_text_gen_src_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR (gst_text_gen_src_stop);
  basesrc_class->unlock = GST_DEBUG_FUNCPTR (gst_text_gen_src_unlock);
  basesrc_class->unlock_stop = GST_DEBUG_FUNCPTR (gst_text_gen_src_unlock_stop);
  basesrc_class->is_seekable = GST_DEBUG_FUNCPTR (gst_text_gen_src_is_seekable);
  basesrc_class->query = GST_DEBUG_FUNCPTR (gst_text_gen_src_query);
  basesrc_class->get_times = GST_DEBUG_FUNCPTR (gst_text_gen_src_get_times);
  pushsrc_class->create = GST_DEBUG_FUNCPTR (gst_text_gen_src_create);
}

static void
gst_text_gen_src_init (GstTextGenSrc *self)
{
  GstPad *srcpad = GST_BASE_SRC_PAD (self);

  gst_argen_text_settings_init (&self->settings, DEFAULT_MAX_TOKENS);
  self->prompt = g_strdup (DEFAULT_PROMPT);
  self->tokens_per_buffer = DEFAULT_TOKENS_PER_BUFFER;
  self->tokens_per_second = DEFAULT_TOKENS_PER_SECOND;
  self->out = g_string_new (NULL);

  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
  gst_base_src_set_live (GST_BASE_SRC (self), DEFAULT_IS_LIVE);

  /* EOS can come from us (max-tokens, stop), from the base class
   * (num-buffers) or from the application; the statistics go out whichever
   * it is, before the EOS leaves the element. */
  gst_pad_add_probe (srcpad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
      gst_text_gen_src_eos_probe, self, NULL);
}

static void
gst_text_gen_src_finalize (GObject *object)
{
  GstTextGenSrc *self = GST_TEXT_GEN_SRC (object);

  gst_argen_text_settings_clear (&self->settings);
  g_free (self->prompt);
  g_string_free (self->out, TRUE);

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_text_gen_src_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec)
{
  GstTextGenSrc *self = GST_TEXT_GEN_SRC (object);

  if (gst_argen_text_settings_set_property (GST_ELEMENT (self), &self->settings,
          prop_id, value))
    return;

  switch (prop_id) {
    case PROP_PROMPT:
      GST_OBJECT_LOCK (self);
      g_free (self->prompt);
      self->prompt = g_value_dup_string (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_TOKENS_PER_BUFFER:
      GST_OBJECT_LOCK (self);
      self->tokens_per_buffer = g_value_get_uint (value);
      GST_OBJECT_UNLOCK (self);
      /* The latency depends on it. */
      gst_element_post_message (GST_ELEMENT (self),
          gst_message_new_latency (GST_OBJECT (self)));
      break;
    case PROP_TOKENS_PER_SECOND:
      GST_OBJECT_LOCK (self);
      self->tokens_per_second = g_value_get_double (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_IS_LIVE:
      gst_base_src_set_live (GST_BASE_SRC (self), g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_text_gen_src_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  GstTextGenSrc *self = GST_TEXT_GEN_SRC (object);

  if (gst_argen_text_settings_get_property (GST_ELEMENT (self), &self->settings,
          prop_id, value))
    return;

  switch (prop_id) {
    case PROP_PROMPT:
      GST_OBJECT_LOCK (self);
      g_value_set_string (value, self->prompt);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_TOKENS_PER_BUFFER:
      GST_OBJECT_LOCK (self);
      g_value_set_uint (value, self->tokens_per_buffer);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_TOKENS_PER_SECOND:
      GST_OBJECT_LOCK (self);
      g_value_set_double (value, self->tokens_per_second);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_IS_LIVE:
      g_value_set_boolean (value, gst_base_src_is_live (GST_BASE_SRC (self)));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static gboolean
gst_text_gen_src_start (GstBaseSrc *bsrc)
{
  GstTextGenSrc *self = GST_TEXT_GEN_SRC (bsrc);
  GstArgenTextSettings s = {
    0,
  };
  gchar *prompt;
  gdouble rate;
  guint64 seed;
  guint skipped;
  gboolean ok = FALSE;

  GST_OBJECT_LOCK (self);
  gst_argen_text_settings_copy (&s, &self->settings);
  prompt = g_strdup (self->prompt);
  rate = self->tokens_per_second;
  GST_OBJECT_UNLOCK (self);

  if (!gst_argen_text_models_acquire (GST_ELEMENT (self), &s, &self->model,
          &self->draft))
    goto done;
  self->mode = s.mode;

  self->gen = ar_text_gen_new (self->model);
  if (!gst_argen_text_settings_apply (&s, self->gen, self->draft,
          GST_ELEMENT (self))) {
    g_clear_pointer (&self->gen, ar_text_gen_free);
    gst_argen_text_models_release (&self->model, &self->draft);
    goto done;
  }

  seed = gst_argen_text_settings_pick_seed (&s);
  GST_INFO_OBJECT (self, "seed %" G_GUINT64_FORMAT, seed);
  ar_text_gen_reset (self->gen, seed);
  /* Only encoded here: the model reads it in create(), where unlock() can
   * interrupt it. */
  if (prompt != NULL && prompt[0] != '\0') {
    skipped = ar_text_gen_queue (self->gen, prompt, -1);
    if (skipped > 0)
      GST_WARNING_OBJECT (self,
          "%u characters of the prompt are not in the "
          "model's vocabulary and were skipped",
          skipped);
  }

  /* A fraction lets the timestamps be exact integer scalings of the token
   * counter, without accumulating rounding errors. */
  gst_util_double_to_fraction (rate, &self->rate_n, &self->rate_d);
  self->n_tokens = 0;
  self->prompt_tokens = 0;
  self->finished = FALSE;
  self->generation_us = 0;
  self->stats_posted = FALSE;
  g_string_truncate (self->out, 0);
  ok = TRUE;

done:
  gst_argen_text_settings_clear (&s);
  g_free (prompt);
  return ok;
}

static gboolean
gst_text_gen_src_stop (GstBaseSrc *bsrc)
{
  GstTextGenSrc *self = GST_TEXT_GEN_SRC (bsrc);

  g_clear_pointer (&self->gen, ar_text_gen_free);
  gst_argen_text_models_release (&self->model, &self->draft);
  return TRUE;
}

static gboolean
gst_text_gen_src_unlock (GstBaseSrc *bsrc)
{
  GstTextGenSrc *self = GST_TEXT_GEN_SRC (bsrc);

  g_atomic_int_set (&self->flushing, TRUE);
  return TRUE;
}

static gboolean
gst_text_gen_src_unlock_stop (GstBaseSrc *bsrc)
{
  GstTextGenSrc *self = GST_TEXT_GEN_SRC (bsrc);

  g_atomic_int_set (&self->flushing, FALSE);
  return TRUE;
}

static gboolean
gst_text_gen_src_is_seekable (GstBaseSrc *bsrc)
{
  /* Generated text cannot be skipped into without generating what lies
   * before, and a sampled stream cannot be rewound. */
  return FALSE;
}

/* Stream time of the start of token @n. */
static GstClockTime
token_time (GstTextGenSrc *self, guint64 n)
{
  return gst_util_uint64_scale (n, GST_SECOND * (guint64) self->rate_d,
      (guint64) self->rate_n);
}

static gboolean
gst_text_gen_src_query (GstBaseSrc *bsrc, GstQuery *query)
{
  GstTextGenSrc *self = GST_TEXT_GEN_SRC (bsrc);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_LATENCY: {
      GstClockTime latency;
      gint rate_n, rate_d;

      if (!gst_base_src_is_live (bsrc))
        break;

      /* Like a capture device, a live textgensrc stands for text that
       * arrives over the buffer's duration, so downstream must allow for one
       * full buffer: tokens-per-buffer tokens at the nominal rate.  Text is
       * generated on demand, so the source can wait for ever: no maximum.
       * (A maximum equal to the minimum left no room for the sink's
       * processing deadline, 20 ms, and every live pipeline warned that
       * its latency could not be configured.) */
      GST_OBJECT_LOCK (self);
      gst_util_double_to_fraction (self->tokens_per_second, &rate_n, &rate_d);
      latency = gst_util_uint64_scale (self->tokens_per_buffer,
          GST_SECOND * (guint64) rate_d, (guint64) rate_n);
      GST_OBJECT_UNLOCK (self);

      GST_DEBUG_OBJECT (self, "latency %" GST_TIME_FORMAT,
          GST_TIME_ARGS (latency));
      gst_query_set_latency (query, TRUE, latency, GST_CLOCK_TIME_NONE);
      return TRUE;
    }
    default:
      break;
  }
  return GST_BASE_SRC_CLASS (parent_class)->query (bsrc, query);
}

static void
gst_text_gen_src_get_times (GstBaseSrc *bsrc, GstBuffer *buffer,
    GstClockTime *start, GstClockTime *end)
{
  /* Only a live source waits for the clock: at each buffer's timestamp. */
  *start = GST_CLOCK_TIME_NONE;
  *end = GST_CLOCK_TIME_NONE;
  if (gst_base_src_is_live (bsrc) && GST_BUFFER_PTS_IS_VALID (buffer)) {
    *start = GST_BUFFER_PTS (buffer);
    if (GST_BUFFER_DURATION_IS_VALID (buffer))
      *end = *start + GST_BUFFER_DURATION (buffer);
  }
}

static GstFlowReturn
gst_text_gen_src_create (GstPushSrc *psrc, GstBuffer **buf)
{
  GstTextGenSrc *self = GST_TEXT_GEN_SRC (psrc);
  GstBaseSrc *bsrc = GST_BASE_SRC (psrc);
  GstClockTime pts, running_time;
  ArSamplingParams params;
  GstArgenTextStats feed = { 0 };
  GstBuffer *buffer;
  guint64 first = self->n_tokens, n = 0;
  guint tokens_per_buffer;
  gint max_tokens;
  guint iterations;
  gint64 t0;

  if (self->finished) {
    GST_DEBUG_OBJECT (self, "end of stream after %" G_GUINT64_FORMAT " tokens",
        self->n_tokens);
    return GST_FLOW_EOS;
  }

  /* Settings may change while playing, directly or through a control
   * binding: bring the controlled values to this buffer's running time, then
   * copy everything once so the whole buffer uses one consistent set. */
  pts = token_time (self, first);
  running_time =
      gst_segment_to_running_time (&bsrc->segment, GST_FORMAT_TIME, pts);
  if (GST_CLOCK_TIME_IS_VALID (running_time))
    gst_object_sync_values (GST_OBJECT (self), running_time);

  GST_OBJECT_LOCK (self);
  gst_argen_text_settings_get_sampling (&self->settings, &params);
  max_tokens = self->settings.max_tokens;
  tokens_per_buffer = self->tokens_per_buffer;
  iterations = self->settings.iterations;
  GST_OBJECT_UNLOCK (self);
  ar_text_gen_set_sampling (self->gen, &params);
  ar_text_gen_set_iterations (self->gen, iterations);

  /* The prompt first, if the model has not read all of it yet. */
  if (!gst_argen_text_feed_queued (self->gen, &self->flushing, &feed)) {
    self->prompt_tokens += feed.prompt_tokens;
    GST_DEBUG_OBJECT (self, "flushing, %u prompt tokens left to read",
        ar_text_gen_get_n_queued (self->gen));
    return GST_FLOW_FLUSHING;
  }
  self->prompt_tokens += feed.prompt_tokens;

  g_string_truncate (self->out, 0);
  t0 = g_get_monotonic_time ();
  /* Never push an empty buffer: while the output filter holds every byte
   * back (an incomplete UTF-8 sequence, a possible start of the stop
   * string), keep sampling past tokens-per-buffer. */
  while (n < tokens_per_buffer || self->out->len == 0) {
    gsize before = self->out->len;

    if (max_tokens >= 0 && self->n_tokens >= (guint64) max_tokens) {
      self->finished = TRUE;
      break;
    }
    if (g_atomic_int_get (&self->flushing)) {
      self->generation_us += g_get_monotonic_time () - t0;
      GST_DEBUG_OBJECT (self, "flushing");
      return GST_FLOW_FLUSHING;
    }

    if (ar_text_gen_next (self->gen, self->out))
      self->finished = TRUE;
    self->n_tokens++;
    n++;
    /* Ending here rather than at the next create() keeps the held-back tail
     * in the buffer whose tokens produced it. */
    if (max_tokens >= 0 && self->n_tokens >= (guint64) max_tokens)
      self->finished = TRUE;
    if (self->finished)
      break;
    if (memchr (self->out->str + before, '\n', self->out->len - before))
      break;
  }
  /* The tail the filter still holds belongs to the last buffer. */
  if (self->finished)
    ar_text_gen_finish (self->gen, self->out);
  self->generation_us += g_get_monotonic_time () - t0;

  if (self->out->len == 0) {
    GST_DEBUG_OBJECT (self,
        "end of stream after %" G_GUINT64_FORMAT
        " tokens, nothing left to output",
        self->n_tokens);
    return GST_FLOW_EOS;
  }

  buffer = gst_buffer_new_memdup (self->out->str, self->out->len);
  GST_BUFFER_OFFSET (buffer) = first;
  GST_BUFFER_OFFSET_END (buffer) = self->n_tokens;
  GST_BUFFER_PTS (buffer) = pts;
  GST_BUFFER_DURATION (buffer) = token_time (self, self->n_tokens) - pts;

  GST_LOG_OBJECT (self,
      "tokens %" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT ", %" G_GSIZE_FORMAT
      " bytes",
      first, self->n_tokens, self->out->len);
  *buf = buffer;
  return GST_FLOW_OK;
}

static GstPadProbeReturn
gst_text_gen_src_eos_probe (GstPad *pad, GstPadProbeInfo *info,
    gpointer user_data)
{
  GstTextGenSrc *self = GST_TEXT_GEN_SRC (user_data);
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);

  /* Downstream events are pushed from the streaming thread, which owns the
   * counters. */
  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS && !self->stats_posted &&
      self->gen != NULL) {
    GstArgenTextStats st = { self->n_tokens,
      self->generation_us / (gdouble) G_USEC_PER_SEC, 0, 0, 0,
      self->prompt_tokens };

    self->stats_posted = TRUE;
    gst_argen_text_stats_add_gen (&st, self->gen);
    gst_argen_post_text_statistics (GST_ELEMENT (self), self->mode, &st);
  }
  return GST_PAD_PROBE_OK;
}
