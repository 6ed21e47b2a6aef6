/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gsttextgen.c — textgen, a filter that treats each line of its UTF-8 input
 * as a prompt and outputs the model's continuation of it.
 *
 * A plain GstElement with a chain function: input bytes are accumulated
 * until a newline completes a line (only the last max-prompt-bytes of it:
 * memory stays bounded whatever the input); every complete line restarts
 * the one ArTextGen stream (reset, feed the line, sample), and its
 * continuation goes out as one buffer.  One input buffer can thus produce
 * none, one or many output buffers; they share out the input buffer's time
 * span.  The line is fed in steps (gst_argen_text_feed_queued ()), so that
 * a flush or a state change never waits for the model to read a long
 * line. */

/**
 * SECTION:element-textgen
 * @title: textgen
 *
 * textgen reads `text/x-raw, format=utf8` and, for each complete input line
 * (the newline is not part of the prompt), generates a continuation with an
 * autoregressive language model: up to #GstTextGen:max-tokens tokens, or until
 * the output reaches the #GstTextGen:stop string or the model samples its
 * end-of-text token.  With max-tokens=-1 and a model that has no such
 * token (the embedded ones), a stop string is needed: without one a line
 * is an error, as its continuation would never end.  Each continuation is
 * pushed as one buffer followed by a newline, so with a newline as the stop
 * string every input line gives exactly one output line.  A last line
 * without a newline is a prompt too, at end of stream.
 *
 * Only the last #GstTextGen:max-prompt-bytes bytes of a line (64 KiB by
 * default) are its prompt: the start of a longer line is dropped as it
 * arrives (the prompt starts at a character boundary), so input without
 * newlines cannot make the element hold all of it.  For a Transformer the
 * default limit costs nothing: it never conditions on more than its
 * context window (at most 8192 tokens: its KV cache slides, keeping the
 * most recent half, and the tokens it drops have no influence at all),
 * which 64 KiB of text holds unless its tokens average more than 8 bytes;
 * an RNN's state fades long before that.  The
 * model reads a prompt token by token — seconds for 64 KiB with the
 * default model — in steps of 32 tokens, and a flush or a state change to
 * READY interrupts it between two steps, within milliseconds.
 *
 * The stop string understands C escapes (`\n`, `\t`, `\\`).  gst-launch-1.0
 * removes one level of backslashes itself, so on its command line a newline
 * is written `stop='\\n'` (or `stop="\\n"` in a pipeline description
 * passed to gst_parse_launch()).
 *
 * Without the #GstTextGen:model property the model embedded in the plugin is
 * used.  With a fixed #GstTextGen:seed the same prompt always gives the same
 * continuation; with seed=-1 every prompt draws a fresh random seed.  With
 * #GstTextGen:beam-width above 1 each continuation is instead the most
 * probable one a beam search of that width finds (sampling settings and
 * seed ignored), always the same for the same line.  #GstTextGen:threads
 * splits the large matrix products over threads (0: one per processor;
 * small models run in one thread regardless, with the same output).
 *
 * The outputs of one input buffer carry its timestamp; when it completes
 * several lines, its duration is divided evenly among their outputs.  At the
 * end of the stream the element posts an element message named
 * `textgen-statistics` with the fields `tokens` (guint64), `seconds`
 * (gdouble, wall time spent reading prompts and generating),
 * `tokens-per-second` (gdouble) and `prompt-tokens` (guint64, the prompt
 * tokens the model read).
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 filesrc location=prompts.txt ! textgen stop='\\n' seed=1 ! filesink location=answers.txt
 * ]| Answers every line of prompts.txt with one line.
 * |[
 * gst-launch-1.0 fdsrc ! textgen max-tokens=100 temperature=0.5 ! fdsink
 * ]| Continues each line typed on standard input.
 */

#include "gsttextgen.h"
#include "gstargen-common.h"

#include <string.h>

GST_DEBUG_CATEGORY_STATIC (text_gen_debug);
#define GST_CAT_DEFAULT text_gen_debug

#define DEFAULT_MAX_TOKENS 200
#define DEFAULT_MAX_PROMPT_BYTES 65536

enum
{
  PROP_MAX_PROMPT_BYTES = GST_ARGEN_TEXT_PROP_LAST,
};

struct _GstTextGen
{
  GstElement parent;

  GstPad *sinkpad, *srcpad;

  /* Properties, under the object lock. */
  GstArgenTextSettings settings;
  guint max_prompt_bytes;

  /* Streaming state: set up on READY→PAUSED, used by the streaming thread. */
  ArTextModel *model;
  ArTextModel *draft; /* speculative mode: the draft model, else NULL */
  ArTextGen *gen;
  GstArgenTextMode mode;     /* as at start */
  GstArgenTextStats stats;   /* the modes' counters (tokens: n_tokens) */
  /* Input after the last newline: the last max-prompt-bytes of a partial
   * line, and how many bytes of that line were dropped before them. */
  GByteArray *pending;
  guint64 line_dropped;
  GString *out;          /* the continuation being generated */
  GstSegment segment;    /* the input (and output) TIME segment */
  GstClockTime last_end; /* where the last timestamped input ended */
  guint64 n_tokens;      /* for the statistics */
  gint64 generation_us;

  gint flushing; /* atomic: abandon the current generation */
};

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS,
        GST_STATIC_CAPS ("text/x-raw, format = (string) utf8"));

static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS,
        GST_STATIC_CAPS ("text/x-raw, format = (string) utf8"));

#define gst_text_gen_parent_class parent_class
G_DEFINE_TYPE (GstTextGen, gst_text_gen, GST_TYPE_ELEMENT);

GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (textgen, "textgen", GST_RANK_NONE,
    GST_TYPE_TEXT_GEN,
    GST_DEBUG_CATEGORY_INIT (text_gen_debug, "textgen", 0,
        "text generation filter"));

static void gst_text_gen_finalize (GObject *object);
static void gst_text_gen_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec);
static void gst_text_gen_get_property (GObject *object, guint prop_id,
    GValue *value, GParamSpec *pspec);
static GstStateChangeReturn gst_text_gen_change_state (GstElement *element,
    GstStateChange transition);
static GstFlowReturn gst_text_gen_chain (GstPad *pad, GstObject *parent,
    GstBuffer *buf);
static gboolean gst_text_gen_sink_event (GstPad *pad, GstObject *parent,
    GstEvent *event);

static void
gst_text_gen_class_init (GstTextGenClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  gobject_class->set_property = gst_text_gen_set_property;
  gobject_class->get_property = gst_text_gen_get_property;
  gobject_class->finalize = gst_text_gen_finalize;

  gst_argen_text_install_properties (gobject_class, DEFAULT_MAX_TOKENS);

  g_object_class_install_property (gobject_class, PROP_MAX_PROMPT_BYTES,
      g_param_spec_uint ("max-prompt-bytes", "Maximum prompt bytes",
          "Only the last this many bytes of an input line are its prompt; "
          "the start of a longer line is dropped as it arrives, so memory "
          "stays bounded (the default holds more text than a Transformer's "
          "context window of at most 8192 tokens)",
          1, G_MAXINT, DEFAULT_MAX_PROMPT_BYTES,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_PLAYING));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "Text generator",
      "Filter/Text",
      "Continues each input line with an autoregressive language model",
      "gst-argen developers");

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_text_gen_change_state);
}

static void
gst_text_gen_init (GstTextGen *self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_text_gen_chain));
  gst_pad_set_event_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_text_gen_sink_event));
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);

  gst_argen_text_settings_init (&self->settings, DEFAULT_MAX_TOKENS);
  self->max_prompt_bytes = DEFAULT_MAX_PROMPT_BYTES;
  self->pending = g_byte_array_new ();
  self->out = g_string_new (NULL);
  gst_segment_init (&self->segment, GST_FORMAT_TIME);
  self->last_end = GST_CLOCK_TIME_NONE;
}

static void
gst_text_gen_finalize (GObject *object)
{
  GstTextGen *self = GST_TEXT_GEN (object);

  gst_argen_text_settings_clear (&self->settings);
  g_byte_array_unref (self->pending);
  g_string_free (self->out, TRUE);

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_text_gen_set_property (GObject *object, guint prop_id, const GValue *value,
    GParamSpec *pspec)
{
  GstTextGen *self = GST_TEXT_GEN (object);

  switch (prop_id) {
    case PROP_MAX_PROMPT_BYTES:
      GST_OBJECT_LOCK (self);
      self->max_prompt_bytes = g_value_get_uint (value);
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      if (!gst_argen_text_settings_set_property (GST_ELEMENT (self),
              &self->settings, prop_id, value))
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_text_gen_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  GstTextGen *self = GST_TEXT_GEN (object);

  switch (prop_id) {
    case PROP_MAX_PROMPT_BYTES:
      GST_OBJECT_LOCK (self);
      g_value_set_uint (value, self->max_prompt_bytes);
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      if (!gst_argen_text_settings_get_property (GST_ELEMENT (self),
              &self->settings, prop_id, value))
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static gboolean
gst_text_gen_start (GstTextGen *self)
{
  GstArgenTextSettings s = {
    0,
  };
  gboolean ok;

  GST_OBJECT_LOCK (self);
  gst_argen_text_settings_copy (&s, &self->settings);
  GST_OBJECT_UNLOCK (self);

  ok = gst_argen_text_models_acquire (GST_ELEMENT (self), &s, &self->model,
      &self->draft);
  self->mode = s.mode;
  gst_argen_text_settings_clear (&s);
  if (!ok)
    return FALSE;

  self->gen = ar_text_gen_new (self->model);
  g_byte_array_set_size (self->pending, 0);
  self->line_dropped = 0;
  gst_segment_init (&self->segment, GST_FORMAT_TIME);
  self->last_end = GST_CLOCK_TIME_NONE;
  self->n_tokens = 0;
  memset (&self->stats, 0, sizeof self->stats);
  self->generation_us = 0;
  g_atomic_int_set (&self->flushing, FALSE);
  return TRUE;
}

static void
gst_text_gen_stop (GstTextGen *self)
{
  g_clear_pointer (&self->gen, ar_text_gen_free);
  gst_argen_text_models_release (&self->model, &self->draft);
  g_byte_array_set_size (self->pending, 0);
  self->line_dropped = 0;
}

static GstStateChangeReturn
gst_text_gen_change_state (GstElement *element, GstStateChange transition)
{
  GstTextGen *self = GST_TEXT_GEN (element);
  GstStateChangeReturn ret;

  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      if (!gst_text_gen_start (self))
        return GST_STATE_CHANGE_FAILURE;
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      /* Deactivating the pads waits for the chain function; with
       * max-tokens=-1 and no stop string it would never return by itself,
       * and a long line keeps the model reading for minutes. */
      g_atomic_int_set (&self->flushing, TRUE);
      break;
    default:
      break;
  }

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);

  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      if (ret == GST_STATE_CHANGE_FAILURE)
        gst_text_gen_stop (self);
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      gst_text_gen_stop (self);
      break;
    default:
      break;
  }
  return ret;
}

/* Our output caps are fixed; they must reach downstream before the segment
 * even when upstream (filesrc, fdsrc) sends no caps at all. */
static void
gst_text_gen_ensure_caps (GstTextGen *self)
{
  GstCaps *caps;

  if (gst_pad_has_current_caps (self->srcpad))
    return;
  caps = gst_pad_get_pad_template_caps (self->srcpad);
  gst_pad_push_event (self->srcpad, gst_event_new_caps (caps));
  gst_caps_unref (caps);
}

/* Generates the continuation of @line (@len bytes, no newline; when
 * @dropped, the start of the line was dropped before it) and pushes it,
 * followed by a newline, as one buffer at @pts for @duration. */
static GstFlowReturn
gst_text_gen_continue_line (GstTextGen *self, const gchar *line, gsize len,
    guint64 dropped, GstClockTime pts, GstClockTime duration)
{
  GstArgenTextSettings s = {
    0,
  };
  GstClockTime stream_time;
  GstBuffer *buffer;
  gchar *prompt, *stop;
  guint64 seed;
  guint skipped;
  gint64 t0;
  gint i;

  /* Controlled properties at the line's stream time, as filters sync
   * them (GstBaseTransform). */
  if (GST_CLOCK_TIME_IS_VALID (pts)) {
    stream_time =
        gst_segment_to_stream_time (&self->segment, GST_FORMAT_TIME, pts);
    if (GST_CLOCK_TIME_IS_VALID (stream_time))
      gst_object_sync_values (GST_OBJECT (self), stream_time);
  }

  GST_OBJECT_LOCK (self);
  gst_argen_text_settings_copy (&s, &self->settings);
  GST_OBJECT_UNLOCK (self);

  if (!gst_argen_text_settings_apply (&s, self->gen, self->draft,
          GST_ELEMENT (self))) {
    gst_argen_text_settings_clear (&s);
    return GST_FLOW_ERROR;
  }
  /* A continuation ends at max-tokens, at the stop string or at the
   * model's end-of-text token: without any of them it would grow forever
   * and never be output. */
  stop = gst_argen_text_settings_dup_stop (&s);
  if (s.max_tokens < 0 && stop == NULL &&
      ar_vocab_get_eos (ar_text_model_get_vocab (self->model)) < 0) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
        ("max-tokens is -1 and no stop string is set, but the model has no "
         "end-of-text token: a continuation would never end, and nothing "
         "would be output; set max-tokens or stop"),
        (NULL));
    gst_argen_text_settings_clear (&s);
    return GST_FLOW_ERROR;
  }
  g_free (stop);
  seed = gst_argen_text_settings_pick_seed (&s);

  /* Windows line ends: the carriage return is not part of the prompt. */
  if (len > 0 && line[len - 1] == '\r')
    len--;
  /* A line cut to its last max-prompt-bytes starts at a character: the
   * continuation bytes of the one the cut went through are not text. */
  if (dropped > 0) {
    while (len > 0 && ((guchar) line[0] & 0xc0) == 0x80) {
      line++;
      len--;
      dropped++;
    }
    GST_INFO_OBJECT (self,
        "a line of %" G_GUINT64_FORMAT " bytes: only its last %" G_GSIZE_FORMAT
        " are the prompt (max-prompt-bytes)",
        dropped + len, len);
  }
  /* Input text is not ours to trust: invalid bytes become U+FFFD.  (An
   * empty line may come with no storage at all.) */
  prompt = g_utf8_make_valid (len > 0 ? line : "", len);

  t0 = g_get_monotonic_time ();
  ar_text_gen_reset (self->gen, seed);
  skipped = ar_text_gen_queue (self->gen, prompt, -1);
  if (skipped > 0)
    GST_INFO_OBJECT (self,
        "%u characters of the prompt are not in the "
        "model's vocabulary and were skipped",
        skipped);
  GST_LOG_OBJECT (self, "prompt \"%s\", seed %" G_GUINT64_FORMAT, prompt, seed);
  g_free (prompt);

  g_string_truncate (self->out, 0);
  /* The model reads the prompt in steps; a flush or a state change between
   * two of them abandons it (the next line resets the stream). */
  if (!gst_argen_text_feed_queued (self->gen, &self->flushing, &self->stats)) {
    GST_DEBUG_OBJECT (self, "flushing, %u prompt tokens left unread",
        ar_text_gen_get_n_queued (self->gen));
    self->generation_us += g_get_monotonic_time () - t0;
    gst_argen_text_settings_clear (&s);
    return GST_FLOW_FLUSHING;
  }
  for (i = 0; s.max_tokens < 0 || i < s.max_tokens; i++) {
    if (g_atomic_int_get (&self->flushing))
      break;
    if (ar_text_gen_next (self->gen, self->out))
      break;
  }
  ar_text_gen_finish (self->gen, self->out);
  self->n_tokens += ar_text_gen_get_n_tokens (self->gen);
  gst_argen_text_stats_add_gen (&self->stats, self->gen);
  self->generation_us += g_get_monotonic_time () - t0;
  gst_argen_text_settings_clear (&s);

  if (g_atomic_int_get (&self->flushing)) {
    GST_DEBUG_OBJECT (self, "flushing, continuation dropped");
    return GST_FLOW_FLUSHING;
  }

  g_string_append_c (self->out, '\n');
  buffer = gst_buffer_new_memdup (self->out->str, self->out->len);
  GST_BUFFER_PTS (buffer) = pts;
  GST_BUFFER_DURATION (buffer) = duration;

  gst_text_gen_ensure_caps (self);
  return gst_pad_push (self->srcpad, buffer);
}

/* Appends @len bytes to the partial line, keeping only its last @limit
 * bytes: the start of a longer line is dropped (and counted) as it
 * arrives, so the element never holds more than @limit bytes of it. */
static void
gst_text_gen_append_line (GstTextGen *self, const guint8 *data, gsize len,
    gsize limit)
{
  gsize have = self->pending->len;

  if (len >= limit) {
    self->line_dropped += have + (len - limit);
    g_byte_array_set_size (self->pending, 0);
    data += len - limit;
    len = limit;
  } else if (have + len > limit) {
    self->line_dropped += have + len - limit;
    g_byte_array_remove_range (self->pending, 0, have + len - limit);
  }
  g_byte_array_append (self->pending, data, len);
}

static GstFlowReturn
gst_text_gen_chain (GstPad *pad, GstObject *parent, GstBuffer *buf)
{
  GstTextGen *self = GST_TEXT_GEN (parent);
  GstFlowReturn ret = GST_FLOW_OK;
  GstClockTime pts, duration;
  GstMapInfo map;
  const guint8 *data, *nl;
  gsize start, len, limit;
  guint i, n_lines = 0;

  if (!gst_buffer_map (buf, &map, GST_MAP_READ)) {
    gst_buffer_unref (buf);
    GST_ELEMENT_ERROR (self, STREAM, FAILED, (NULL),
        ("could not map an input buffer"));
    return GST_FLOW_ERROR;
  }

  GST_OBJECT_LOCK (self);
  limit = self->max_prompt_bytes;
  GST_OBJECT_UNLOCK (self);

  pts = GST_BUFFER_PTS (buf);
  duration = GST_BUFFER_DURATION (buf);
  if (GST_CLOCK_TIME_IS_VALID (pts))
    self->last_end = GST_CLOCK_TIME_IS_VALID (duration) ? pts + duration : pts;

  data = map.data;
  len = map.size;
  for (nl = memchr (data, '\n', len); nl != NULL;
       nl = memchr (nl + 1, '\n', len - (nl + 1 - data)))
    n_lines++;

  /* Line i of n gets [pts + i·dur/n, pts + (i+1)·dur/n): each boundary is
   * scaled from the input's duration, so the pieces add up exactly. */
  start = 0;
  for (i = 0; i < n_lines && ret == GST_FLOW_OK; i++) {
    GstClockTime out_pts = pts, out_duration = GST_CLOCK_TIME_NONE;
    gsize end =
        (const guint8 *) memchr (data + start, '\n', len - start) - data;

    if (GST_CLOCK_TIME_IS_VALID (pts) && GST_CLOCK_TIME_IS_VALID (duration)) {
      GstClockTime a = gst_util_uint64_scale (duration, i, n_lines);
      GstClockTime b = gst_util_uint64_scale (duration, i + 1, n_lines);

      out_pts = pts + a;
      out_duration = b - a;
    }
    gst_text_gen_append_line (self, data + start, end - start, limit);
    ret = gst_text_gen_continue_line (self, (const gchar *) self->pending->data,
        self->pending->len, self->line_dropped, out_pts, out_duration);
    g_byte_array_set_size (self->pending, 0);
    self->line_dropped = 0;
    start = end + 1;
  }
  /* The rest is the start of the next line, unless a flush or an error
   * ended this buffer's lines early: what follows them is not read. */
  if (ret == GST_FLOW_OK)
    gst_text_gen_append_line (self, data + start, len - start, limit);

  gst_buffer_unmap (buf, &map);
  gst_buffer_unref (buf);
  return ret;
}

static gboolean
gst_text_gen_sink_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstTextGen *self = GST_TEXT_GEN (parent);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_CAPS: {
      /* Input caps were checked against the template; the output is always
       * the same UTF-8 text caps. */
      GstCaps *caps = gst_pad_get_pad_template_caps (self->srcpad);

      gst_event_unref (event);
      event = gst_event_new_caps (caps);
      gst_caps_unref (caps);
      return gst_pad_push_event (self->srcpad, event);
    }
    case GST_EVENT_SEGMENT: {
      const GstSegment *segment;

      gst_event_parse_segment (event, &segment);
      if (segment->format == GST_FORMAT_TIME) {
        gst_segment_copy_into (segment, &self->segment);
      } else {
        /* A byte stream (filesrc) has no times; ours is a TIME stream
         * without timestamps then, as parsers output. */
        GST_DEBUG_OBJECT (self, "%s segment in, untimed TIME segment out",
            gst_format_get_name (segment->format));
        gst_segment_init (&self->segment, GST_FORMAT_TIME);
        gst_event_unref (event);
        event = gst_event_new_segment (&self->segment);
      }
      gst_text_gen_ensure_caps (self);
      return gst_pad_push_event (self->srcpad, event);
    }
    case GST_EVENT_EOS: {
      /* A last line without a newline is a prompt too. */
      if (self->pending->len > 0 && self->gen != NULL) {
        GstFlowReturn ret;

        ret = gst_text_gen_continue_line (self,
            (const gchar *) self->pending->data, self->pending->len,
            self->line_dropped, self->last_end, GST_CLOCK_TIME_NONE);
        g_byte_array_set_size (self->pending, 0);
        self->line_dropped = 0;
        if (ret != GST_FLOW_OK)
          GST_DEBUG_OBJECT (self, "pushing the last continuation: %s",
              gst_flow_get_name (ret));
      }
      self->stats.tokens = self->n_tokens;
      self->stats.seconds = self->generation_us / (gdouble) G_USEC_PER_SEC;
      gst_argen_post_text_statistics (GST_ELEMENT (self), self->mode,
          &self->stats);
      gst_text_gen_ensure_caps (self);
      break;
    }
    case GST_EVENT_FLUSH_START:
      g_atomic_int_set (&self->flushing, TRUE);
      break;
    case GST_EVENT_FLUSH_STOP:
      /* The stream lock is held here: the chain function is not running. */
      g_byte_array_set_size (self->pending, 0);
      self->line_dropped = 0;
      gst_segment_init (&self->segment, GST_FORMAT_TIME);
      self->last_end = GST_CLOCK_TIME_NONE;
      g_atomic_int_set (&self->flushing, FALSE);
      break;
    default:
      break;
  }
  return gst_pad_event_default (pad, parent, event);
}
