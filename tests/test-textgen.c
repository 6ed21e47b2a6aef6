/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-textgen.c — the textgen filter through GstHarness: properties, one
 * output per input line with the input's time span shared out, equality
 * with libargen continuing the same prompt, reproducibility, lines split
 * across buffers, the unterminated last line at EOS, flushing, untimed input
 * and the statistics message; a flush or a state change interrupting the
 * model reading a long line, and lines longer than max-prompt-bytes. */

#include <gst/gst.h>
#include <gst/check/gstharness.h>
#include <gst/controller/gstdirectcontrolbinding.h>
#include <gst/controller/gstinterpolationcontrolsource.h>

#include <string.h>

#include "test-util.h"
#include "text/ar-text.h"

/* GST_ARGEN_TEXT_FEED_STEP (elements/gstargen-common.h): prompt tokens
 * the element feeds between two checks for a flush. */
#define FEED_STEP 32

#define TEXT_CAPS "text/x-raw, format=(string)utf8"

static GstHarness *new_textgen (const gchar *first_property,
    ...) G_GNUC_NULL_TERMINATED;
static GstHarness *
new_textgen (const gchar *first_property, ...)
{
  GstHarness *h = gst_harness_new ("textgen");
  va_list args;

  va_start (args, first_property);
  if (first_property != NULL)
    g_object_set_valist (G_OBJECT (h->element), first_property, args);
  va_end (args);
  gst_harness_set_src_caps_str (h, TEXT_CAPS);
  return h;
}

static GstBuffer *
text_buffer (const gchar *text, GstClockTime pts, GstClockTime duration)
{
  GstBuffer *buf = gst_buffer_new_memdup (text, strlen (text));

  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DURATION (buf) = duration;
  return buf;
}

/* A buffer's text, checked to be one valid UTF-8 line ending in '\n'. */
static gchar *
buffer_line (GstBuffer *buf)
{
  GstMapInfo map;
  gchar *text;

  g_assert_nonnull (buf);
  g_assert_true (gst_buffer_map (buf, &map, GST_MAP_READ));
  g_assert_cmpuint (map.size, >=, 1);
  g_assert_true (g_utf8_validate_len ((const gchar *) map.data, map.size,
      NULL));
  g_assert_cmpint (map.data[map.size - 1], ==, '\n');
  text = g_strndup ((const gchar *) map.data, map.size);
  gst_buffer_unmap (buf, &map);
  return text;
}

/* The text of the next output buffer, which is released. */
static gchar *
pulled_line (GstHarness *h)
{
  GstBuffer *buf = gst_harness_pull (h);
  gchar *text = buffer_line (buf);

  gst_buffer_unref (buf);
  return text;
}

/* libargen continuing @prompt with @seed at @temperature for at most
 * @max_tokens tokens or up to @stop, then the newline textgen adds. */
static gchar *
libargen_continuation (const gchar *prompt, guint64 seed, gfloat temperature,
    guint max_tokens, const gchar *stop)
{
  const ArSamplingParams params = { temperature, 0, 1.0f };
  GError *error = NULL;
  ArTextModel *model;
  ArTextGen *gen;
  GString *out;
  guint i;

  model = ar_text_model_new_from_file (ARGEN_DEFAULT_TEXT_MODEL, &error);
  g_assert_no_error (error);
  gen = ar_text_gen_new (model);
  ar_text_gen_set_sampling (gen, &params);
  ar_text_gen_set_stop (gen, stop);
  ar_text_gen_reset (gen, seed);
  ar_text_gen_feed (gen, prompt, -1);
  out = g_string_new (NULL);
  for (i = 0; i < max_tokens; i++)
    if (ar_text_gen_next (gen, out))
      break;
  ar_text_gen_finish (gen, out);
  g_string_append_c (out, '\n');
  ar_text_gen_free (gen);
  ar_text_model_unref (model);
  return g_string_free (out, FALSE);
}

static void
test_properties (void)
{
  GstElement *e = gst_element_factory_make ("textgen", NULL);
  GParamSpec **pspecs, *p;
  GstElementClass *klass;
  guint i, n;

  g_assert_nonnull (e);
  pspecs = g_object_class_list_properties (G_OBJECT_GET_CLASS (e), &n);
  g_assert_cmpuint (n, >=, 7);
  for (i = 0; i < n; i++) {
    const gchar *blurb = g_param_spec_get_blurb (pspecs[i]);

    g_assert_nonnull (blurb);
    g_assert_cmpuint (strlen (blurb), >, 5);
  }
  g_free (pspecs);

  p = g_object_class_find_property (G_OBJECT_GET_CLASS (e), "max-tokens");
  g_assert_nonnull (p);
  g_assert_cmpint (G_PARAM_SPEC_INT (p)->default_value, ==, 200);
  g_assert_cmpint (G_PARAM_SPEC_INT (p)->minimum, ==, -1);
  p = g_object_class_find_property (G_OBJECT_GET_CLASS (e), "temperature");
  g_assert_nonnull (p);
  g_assert_cmpfloat (G_PARAM_SPEC_FLOAT (p)->default_value, ==, 0.8f);
  g_assert_true (p->flags & GST_PARAM_CONTROLLABLE);
  p = g_object_class_find_property (G_OBJECT_GET_CLASS (e), "seed");
  g_assert_nonnull (p);
  g_assert_cmpint (G_PARAM_SPEC_INT64 (p)->default_value, ==, -1);
  g_assert_nonnull (g_object_class_find_property (G_OBJECT_GET_CLASS (e),
      "model"));
  g_assert_nonnull (g_object_class_find_property (G_OBJECT_GET_CLASS (e),
      "top-k"));
  g_assert_nonnull (g_object_class_find_property (G_OBJECT_GET_CLASS (e),
      "top-p"));
  g_assert_nonnull (g_object_class_find_property (G_OBJECT_GET_CLASS (e),
      "stop"));
  p = g_object_class_find_property (G_OBJECT_GET_CLASS (e), "beam-width");
  g_assert_nonnull (p);
  g_assert_cmpuint (G_PARAM_SPEC_UINT (p)->default_value, ==, 1);
  p = g_object_class_find_property (G_OBJECT_GET_CLASS (e), "threads");
  g_assert_nonnull (p);
  g_assert_cmpuint (G_PARAM_SPEC_UINT (p)->default_value, ==, 0);
  /* textgensrc's own properties are not textgen's. */
  g_assert_null (g_object_class_find_property (G_OBJECT_GET_CLASS (e),
      "prompt"));

  klass = GST_ELEMENT_GET_CLASS (e);
  g_assert_cmpstr (gst_element_class_get_metadata (klass,
                       GST_ELEMENT_METADATA_KLASS),
      ==, "Filter/Text");
  gst_object_unref (e);
}

/* Each line's continuation by a beam of 4 is libargen's, whatever the seed
 * and temperature, and the same line gives the same answer twice. */
static void
test_beam (void)
{
  const ArSamplingParams params = { 0.8f, 0, 1.0f };
  GError *error = NULL;
  ArTextModel *model;
  ArTextGen *gen;
  GstHarness *h;
  GString *want;
  gchar *line;
  guint i;

  model = ar_text_model_new_from_file (ARGEN_DEFAULT_TEXT_MODEL, &error);
  g_assert_no_error (error);
  gen = ar_text_gen_new (model);
  ar_text_gen_set_sampling (gen, &params);
  ar_text_gen_set_beam (gen, 4, 0.0f);
  ar_text_gen_reset (gen, 77);
  ar_text_gen_feed (gen, "JULIET:", -1);
  want = g_string_new (NULL);
  for (i = 0; i < 40; i++)
    if (ar_text_gen_next (gen, want))
      break;
  ar_text_gen_finish (gen, want);
  g_string_append_c (want, '\n');
  ar_text_gen_free (gen);
  ar_text_model_unref (model);

  h = new_textgen ("beam-width", 4u, "max-tokens", 40, "threads", 2u, NULL);
  g_assert_cmpint (gst_harness_push (h,
                       text_buffer ("JULIET:\nJULIET:\n", GST_CLOCK_TIME_NONE,
                           GST_CLOCK_TIME_NONE)),
      ==, GST_FLOW_OK);
  for (i = 0; i < 2; i++) {
    line = pulled_line (h);
    g_assert_cmpstr (line, ==, want->str);
    g_free (line);
  }
  gst_harness_teardown (h);
  g_string_free (want, TRUE);
}

static void
test_three_lines_one_buffer (void)
{
  const gchar *prompts[] = { "ROMEO:", "JULIET:", "First Citizen:" };
  /* 1000 ns do not divide by 3: the pieces must still add up exactly. */
  const GstClockTime pts = GST_SECOND, duration = 1000;
  GstClockTime next = pts;
  GstHarness *h;
  GstCaps *caps, *expected;
  guint i;

  h = new_textgen ("seed", (gint64) 4, "max-tokens", 30, NULL);
  g_assert_cmpint (gst_harness_push (h,
                       text_buffer ("ROMEO:\nJULIET:\nFirst Citizen:\n", pts,
                           duration)),
      ==, GST_FLOW_OK);
  g_assert_cmpuint (gst_harness_buffers_in_queue (h), ==, 3);

  for (i = 0; i < 3; i++) {
    GstBuffer *buf = gst_harness_pull (h);
    gchar *line = buffer_line (buf), *expected_line;

    g_test_message ("%s -> %s", prompts[i], line);
    g_assert_cmpuint (GST_BUFFER_PTS (buf), ==, next);
    g_assert_cmpuint (GST_BUFFER_PTS (buf), ==,
        pts + gst_util_uint64_scale (duration, i, 3));
    g_assert_true (GST_BUFFER_DURATION_IS_VALID (buf));
    g_assert_cmpuint (GST_BUFFER_DURATION (buf), >=, 333);
    g_assert_cmpuint (GST_BUFFER_DURATION (buf), <=, 334);
    next = GST_BUFFER_PTS (buf) + GST_BUFFER_DURATION (buf);

    /* Each is libargen continuing that line alone with the same seed. */
    expected_line = libargen_continuation (prompts[i], 4, 0.8f, 30, NULL);
    g_assert_cmpstr (line, ==, expected_line);
    g_free (expected_line);
    g_free (line);
    gst_buffer_unref (buf);
  }
  g_assert_cmpuint (next, ==, pts + duration);

  caps = gst_pad_get_current_caps (h->sinkpad);
  expected = gst_caps_from_string (TEXT_CAPS);
  g_assert_nonnull (caps);
  g_assert_true (gst_caps_is_equal (caps, expected));
  gst_caps_unref (caps);
  gst_caps_unref (expected);
  gst_harness_teardown (h);
}

static void
test_fixed_seed_reproducible (void)
{
  GstHarness *h;
  gchar *a, *b, *c, *d, *e, *f;

  /* A fixed seed: the same prompt continues the same way every time. */
  h = new_textgen ("seed", (gint64) 9, "max-tokens", 40, NULL);
  gst_harness_push (h, text_buffer ("To be\nTo be\n", 0, GST_SECOND));
  a = pulled_line (h);
  b = pulled_line (h);
  gst_harness_teardown (h);
  g_assert_cmpstr (a, ==, b);

  /* seed=-1: a fresh seed per prompt (at a temperature where two 40-token
   * samples coincide with negligible probability). */
  h = new_textgen ("max-tokens", 40, "temperature", 1.5f, NULL);
  gst_harness_push (h, text_buffer ("To be\nTo be\n", 0, GST_SECOND));
  c = pulled_line (h);
  d = pulled_line (h);
  gst_harness_teardown (h);
  g_assert_cmpstr (c, !=, d);

  /* A stop string of "\n" gives one line per prompt, each equal to
   * libargen's continuation of it. */
  h = new_textgen ("seed", (gint64) 9, "max-tokens", 200, "stop", "\\n", NULL);
  gst_harness_push (h, text_buffer ("To be\n", 0, GST_SECOND));
  e = pulled_line (h);
  gst_harness_teardown (h);
  g_assert_true (strchr (e, '\n') == e + strlen (e) - 1);
  f = libargen_continuation ("To be", 9, 0.8f, 200, "\n");
  g_assert_cmpstr (e, ==, f);

  g_free (a);
  g_free (b);
  g_free (c);
  g_free (d);
  g_free (e);
  g_free (f);
}

static void
test_line_across_buffers (void)
{
  GstHarness *h;
  GstBuffer *buf;
  gchar *line, *expected;

  h = new_textgen ("seed", (gint64) 2, "max-tokens", 25, NULL);
  /* No newline yet: nothing out. */
  gst_harness_push (h, text_buffer ("KING ", 0, GST_SECOND));
  g_assert_cmpuint (gst_harness_buffers_in_queue (h), ==, 0);
  /* The line completes in the second buffer and takes its timestamp;
   * a Windows line end is not part of the prompt. */
  gst_harness_push (h, text_buffer ("HENRY:\r\n", GST_SECOND, GST_SECOND));
  buf = gst_harness_pull (h);
  g_assert_cmpuint (GST_BUFFER_PTS (buf), ==, GST_SECOND);
  g_assert_cmpuint (GST_BUFFER_DURATION (buf), ==, GST_SECOND);
  line = buffer_line (buf);
  expected = libargen_continuation ("KING HENRY:", 2, 0.8f, 25, NULL);
  g_assert_cmpstr (line, ==, expected);
  g_free (line);
  g_free (expected);
  gst_buffer_unref (buf);
  gst_harness_teardown (h);
}

static void
test_eos_last_line (void)
{
  GstHarness *h;
  GstBuffer *buf;
  GstEvent *event;
  gchar *first, *last, *expected;

  h = new_textgen ("seed", (gint64) 6, "max-tokens", 20, NULL);
  gst_harness_push (h, text_buffer ("MENENIUS:\nCORIOLANUS:", 0, GST_SECOND));
  buf = gst_harness_pull (h);
  first = buffer_line (buf);
  gst_buffer_unref (buf);
  g_assert_cmpuint (gst_harness_buffers_in_queue (h), ==, 0);

  /* At EOS the unterminated line is a prompt too, then EOS follows. */
  g_assert_true (gst_harness_push_event (h, gst_event_new_eos ()));
  buf = gst_harness_pull (h);
  last = buffer_line (buf);
  /* It ended where the input ended. */
  g_assert_cmpuint (GST_BUFFER_PTS (buf), ==, GST_SECOND);
  gst_buffer_unref (buf);
  expected = libargen_continuation ("CORIOLANUS:", 6, 0.8f, 20, NULL);
  g_assert_cmpstr (last, ==, expected);

  while ((event = gst_harness_try_pull_event (h)) != NULL) {
    gboolean eos = GST_EVENT_TYPE (event) == GST_EVENT_EOS;

    gst_event_unref (event);
    if (eos)
      break;
  }
  g_assert_nonnull (event);
  g_assert_cmpuint (gst_harness_buffers_in_queue (h), ==, 0);

  g_free (first);
  g_free (last);
  g_free (expected);
  gst_harness_teardown (h);
}

static void
test_flush_clears_partial_line (void)
{
  GstHarness *h;
  gchar *line, *expected;

  h = new_textgen ("seed", (gint64) 8, "max-tokens", 20, NULL);
  gst_harness_push (h, text_buffer ("a partial line", 0, GST_SECOND));
  g_assert_true (gst_harness_push_event (h, gst_event_new_flush_start ()));
  g_assert_true (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  /* A new segment after the flush, as upstream sends one. */
  {
    GstSegment segment;

    gst_segment_init (&segment, GST_FORMAT_TIME);
    g_assert_true (gst_harness_push_event (h,
        gst_event_new_segment (&segment)));
  }
  gst_harness_push (h, text_buffer ("GLOUCESTER:\n", 0, GST_SECOND));
  line = pulled_line (h);
  expected = libargen_continuation ("GLOUCESTER:", 8, 0.8f, 20, NULL);
  g_assert_cmpstr (line, ==, expected);
  g_free (line);
  g_free (expected);
  gst_harness_teardown (h);
}

typedef struct
{
  GstHarness *h;
  GMutex lock;
  GCond cond;
  gboolean done;
  GstFlowReturn ret;
} PushJob;

static gpointer
push_line (gpointer data)
{
  PushJob *job = data;
  GstFlowReturn ret;

  ret = gst_harness_push (job->h, text_buffer ("To be\n", 0, GST_SECOND));
  g_mutex_lock (&job->lock);
  job->ret = ret;
  job->done = TRUE;
  g_cond_signal (&job->cond);
  g_mutex_unlock (&job->lock);
  return NULL;
}

/* max-tokens=-1 without a stop string, with a model that has no
 * end-of-text token (the embedded GRU): a continuation could never end,
 * so a line is an error saying what to set — the element used to generate
 * forever, its text growing in memory and never output.  With a stop
 * string it is a valid setting. */
static void
test_endless_continuation (void)
{
  GstBus *bus = gst_bus_new ();
  PushJob job = { 0 };
  GError *error = NULL;
  GstMessage *msg;
  GThread *thread;
  gint64 deadline;
  gchar *line;

  job.h = new_textgen ("max-tokens", -1, NULL);
  gst_element_set_bus (job.h->element, bus);
  g_mutex_init (&job.lock);
  g_cond_init (&job.cond);
  /* In a thread of its own, so that a generation that never ends fails
   * the test instead of hanging it. */
  thread = g_thread_new ("push", push_line, &job);
  deadline = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;
  g_mutex_lock (&job.lock);
  while (!job.done && g_cond_wait_until (&job.cond, &job.lock, deadline))
    ;
  g_mutex_unlock (&job.lock);
  g_assert_true (job.done);
  g_thread_join (thread);
  g_assert_cmpint (job.ret, ==, GST_FLOW_ERROR);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  g_assert_nonnull (msg);
  gst_message_parse_error (msg, &error, NULL);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "max-tokens"));
  g_assert_nonnull (strstr (error->message, "stop"));
  g_clear_error (&error);
  gst_message_unref (msg);
  gst_element_set_bus (job.h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (job.h);
  g_mutex_clear (&job.lock);
  g_cond_clear (&job.cond);

  job.h =
      new_textgen ("max-tokens", -1, "stop", "\\n", "seed", (gint64) 3, NULL);
  g_assert_cmpint (gst_harness_push (job.h,
                       text_buffer ("To be\n", 0, GST_SECOND)),
      ==, GST_FLOW_OK);
  line = pulled_line (job.h);
  g_assert_cmpstr (strchr (line, '\n'), ==, line + strlen (line) - 1);
  g_free (line);
  gst_harness_teardown (job.h);
}

/* Controlled properties follow the input's stream time, as in every
 * GstBaseTransform: after a segment starting at 10 s (running time 0
 * there), a line at 10 s takes the temperature bound to 10 s. */
static void
test_temperature_controlled (void)
{
  GstControlSource *cs = gst_interpolation_control_source_new ();
  GstTimedValueControlSource *tvcs = GST_TIMED_VALUE_CONTROL_SOURCE (cs);
  gchar *got, *sampled, *greedy;
  GstSegment segment;
  GstHarness *h;

  g_object_set (cs, "mode", GST_INTERPOLATION_MODE_NONE, NULL);
  gst_timed_value_control_source_set (tvcs, 0, 0.0);
  gst_timed_value_control_source_set (tvcs, 10 * GST_SECOND, 1.0);

  h = new_textgen ("seed", (gint64) 5, "max-tokens", 40, NULL);
  gst_object_add_control_binding (GST_OBJECT (h->element),
      gst_direct_control_binding_new_absolute (GST_OBJECT (h->element),
          "temperature", cs));
  gst_segment_init (&segment, GST_FORMAT_TIME);
  segment.start = segment.time = segment.position = 10 * GST_SECOND;
  g_assert_true (gst_harness_push_event (h, gst_event_new_segment (&segment)));
  gst_harness_push (h, text_buffer ("To be\n", 10 * GST_SECOND, GST_SECOND));
  got = pulled_line (h);
  gst_harness_teardown (h);

  sampled = libargen_continuation ("To be", 5, 1.0f, 40, NULL);
  greedy = libargen_continuation ("To be", 5, 0.0f, 40, NULL);
  g_assert_cmpstr (sampled, !=, greedy);
  g_assert_cmpstr (got, ==, sampled);
  g_free (got);
  g_free (sampled);
  g_free (greedy);
  gst_object_unref (cs);
}

static void
test_untimed_input (void)
{
  GstHarness *h;
  GstBuffer *buf;
  guint i;

  h = new_textgen ("seed", (gint64) 1, "max-tokens", 5, NULL);
  gst_harness_push (h,
      text_buffer ("A\nB\n", GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE));
  for (i = 0; i < 2; i++) {
    buf = gst_harness_pull (h);
    g_assert_false (GST_BUFFER_PTS_IS_VALID (buf));
    g_assert_false (GST_BUFFER_DURATION_IS_VALID (buf));
    gst_buffer_unref (buf);
  }
  /* A timestamp without a duration: every output at that time. */
  gst_harness_push (h,
      text_buffer ("C\nD\n", 5 * GST_SECOND, GST_CLOCK_TIME_NONE));
  for (i = 0; i < 2; i++) {
    buf = gst_harness_pull (h);
    g_assert_cmpuint (GST_BUFFER_PTS (buf), ==, 5 * GST_SECOND);
    g_assert_false (GST_BUFFER_DURATION_IS_VALID (buf));
    gst_buffer_unref (buf);
  }
  gst_harness_teardown (h);
}

static void
test_statistics (void)
{
  GstHarness *h;
  GstBus *bus;
  GstMessage *msg;
  const GstStructure *s;
  guint64 tokens;
  gdouble seconds;

  h = new_textgen ("seed", (gint64) 3, "max-tokens", 15, NULL);
  bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  gst_harness_push (h, text_buffer ("one\ntwo\n", 0, GST_SECOND));
  gst_harness_push_event (h, gst_event_new_eos ());

  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT);
  g_assert_nonnull (msg);
  g_assert_true (gst_message_has_name (msg, "textgen-statistics"));
  s = gst_message_get_structure (msg);
  g_assert_true (gst_structure_get_uint64 (s, "tokens", &tokens));
  g_assert_true (gst_structure_get_double (s, "seconds", &seconds));
  /* Two prompts of 15 tokens each (no stop string). */
  g_assert_cmpuint (tokens, ==, 30);
  g_assert_cmpfloat (seconds, >, 0.0);
  gst_message_unref (msg);

  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

/* ---- a hook in the streaming thread ------------------------------------
 * textgen brings its controlled properties up to date
 * (gst_object_sync_values ()) in the streaming thread right before the
 * model reads a line: a control source that calls a hook on every read
 * lets a test act at exactly that point, deterministically. */

typedef struct
{
  GstControlSourceGetValue get_value; /* the wrapped source's */
  void (*func) (gpointer data);       /* NULL: disarmed */
  gpointer data;
} Hook;

static gboolean
hooked_get_value (GstControlSource *cs, GstClockTime timestamp, gdouble *value)
{
  Hook *hook = g_object_get_data (G_OBJECT (cs), "test-hook");

  if (hook->func != NULL)
    hook->func (hook->data);
  return hook->get_value (cs, timestamp, value);
}

/* Binds @element's temperature to a constant 0.8 read through @hook. */
static void
bind_hook (GstElement *element, Hook *hook)
{
  GstControlSource *cs = gst_interpolation_control_source_new ();

  g_object_set (cs, "mode", GST_INTERPOLATION_MODE_NONE, NULL);
  gst_timed_value_control_source_set (GST_TIMED_VALUE_CONTROL_SOURCE (cs), 0,
      0.8);
  hook->get_value = cs->get_value;
  cs->get_value = hooked_get_value;
  g_object_set_data (G_OBJECT (cs), "test-hook", hook);
  gst_object_add_control_binding (GST_OBJECT (element),
      gst_direct_control_binding_new_absolute (GST_OBJECT (element),
          "temperature", cs));
  gst_object_unref (cs);
}

/* A line of @n bytes of the model's own alphabet, no newline. */
static gchar *
long_line (gsize n)
{
  static const gchar words[] = "To be, or not to be, that is the question: ";
  gchar *line = g_malloc (n + 1);

  for (gsize i = 0; i < n; i++)
    line[i] = words[i % (sizeof words - 1)];
  line[n] = '\0';
  return line;
}

/* The prompt-tokens of the textgen-statistics message on @bus. */
static guint64
statistics_prompt_tokens (GstBus *bus)
{
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT);
  guint64 prompt_tokens = G_MAXUINT64;

  g_assert_nonnull (msg);
  g_assert_true (gst_message_has_name (msg, "textgen-statistics"));
  g_assert_true (gst_structure_get_uint64 (gst_message_get_structure (msg),
      "prompt-tokens", &prompt_tokens));
  gst_message_unref (msg);
  return prompt_tokens;
}

static void
send_flush_start (gpointer data)
{
  GstHarness *h = data;

  g_assert_true (gst_harness_push_event (h, gst_event_new_flush_start ()));
}

/* A flush while the model reads a long line stops it within one step: the
 * element used to feed the whole line in one call (minutes for megabytes)
 * before it looked at the flush.  The flush starts in the streaming thread
 * right before the line is read, so the element must notice it before its
 * first step: the statistics count no token of that line, only the 5 of
 * the line after the flush, whose continuation is libargen's (the stream
 * was reset cleanly). */
static void
test_flush_interrupts_prompt (void)
{
  GstBus *bus = gst_bus_new ();
  Hook hook = { 0 };
  GstSegment segment;
  GstBuffer *buf;
  GstHarness *h;
  gchar *line, *got, *expected;

  h = new_textgen ("seed", (gint64) 4, "max-tokens", 4, NULL);
  gst_element_set_bus (h->element, bus);
  bind_hook (h->element, &hook);

  line = long_line (20000);
  buf = text_buffer (line, 0, GST_SECOND);
  g_free (line);
  hook.func = send_flush_start;
  hook.data = h;
  g_assert_cmpint (gst_harness_push (h, buf), ==, GST_FLOW_OK);
  g_assert_cmpint (gst_harness_push (h,
                       text_buffer ("\n", GST_SECOND, GST_SECOND)),
      ==, GST_FLOW_FLUSHING);
  hook.func = NULL;
  g_assert_cmpuint (gst_harness_buffers_in_queue (h), ==, 0);

  g_assert_true (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  gst_segment_init (&segment, GST_FORMAT_TIME);
  g_assert_true (gst_harness_push_event (h, gst_event_new_segment (&segment)));
  gst_harness_push (h, text_buffer ("To be\n", 0, GST_SECOND));
  got = pulled_line (h);
  expected = libargen_continuation ("To be", 4, 0.8f, 4, NULL);
  g_assert_cmpstr (got, ==, expected);
  g_free (got);
  g_free (expected);

  gst_harness_push_event (h, gst_event_new_eos ());
  g_assert_cmpuint (statistics_prompt_tokens (bus), ==, 5);

  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

typedef struct
{
  GstHarness *h;
  GMutex lock;
  GCond cond;
  gboolean reached, done;
  GstFlowReturn ret;
  gchar *line;
} ReadyJob;

/* The hook: tells the test the line is about to be read, then waits until
 * the state change to READY has begun (deactivating the sink pad marks it
 * flushing, then waits for this thread to leave the chain function). */
static void
wait_for_state_change (gpointer data)
{
  ReadyJob *job = data;
  GstPad *sinkpad = gst_element_get_static_pad (job->h->element, "sink");
  gint64 deadline = g_get_monotonic_time () + 60 * G_TIME_SPAN_SECOND;
  gboolean flushing = FALSE;

  g_mutex_lock (&job->lock);
  job->reached = TRUE;
  g_cond_signal (&job->cond);
  g_mutex_unlock (&job->lock);
  while (!flushing && g_get_monotonic_time () < deadline) {
    g_usleep (1000);
    GST_OBJECT_LOCK (sinkpad);
    flushing = GST_PAD_IS_FLUSHING (sinkpad);
    GST_OBJECT_UNLOCK (sinkpad);
  }
  gst_object_unref (sinkpad);
}

static gpointer
push_long_line (gpointer data)
{
  ReadyJob *job = data;

  job->ret = gst_harness_push (job->h, text_buffer (job->line, 0, GST_SECOND));
  return NULL;
}

/* A state change to READY while the model reads a long line returns
 * within a step too (the same flag as a flush, set by the state change
 * itself): it used to wait for the whole line.  The line, 6400 bytes
 * (under the default max-prompt-bytes), is what the model takes 400 times
 * as long to read as 16 tokens; the state change, measured from the moment
 * the element is about to read it, must take less than 100 times that (it
 * takes the time to encode the line, not one step: measured 2.5 to 5 ms
 * natively where the bound was 170 ms to 720 ms).  Both sides scale alike with the
 * build and the load of the machine, so the bound holds under valgrind as
 * natively, and the reference costs little there. */
static void
test_ready_interrupts_prompt (void)
{
  ReadyJob job = { 0 };
  Hook hook = { 0 };
  GThread *thread;
  gint64 t0;
  gdouble ready, ref;
  gchar *line;

  line = long_line (400 * 16);
  ref = test_text_feed_seconds (ARGEN_DEFAULT_TEXT_MODEL, line, 16);
  job.line = g_strconcat (line, "\n", NULL);
  g_free (line);
  job.h = new_textgen ("seed", (gint64) 4, "max-tokens", 10, NULL);
  g_mutex_init (&job.lock);
  g_cond_init (&job.cond);
  bind_hook (job.h->element, &hook);
  hook.func = wait_for_state_change;
  hook.data = &job;

  thread = g_thread_new ("push", push_long_line, &job);
  g_mutex_lock (&job.lock);
  while (!job.reached)
    g_cond_wait (&job.cond, &job.lock);
  g_mutex_unlock (&job.lock);
  t0 = g_get_monotonic_time ();
  g_assert_cmpint (gst_element_set_state (job.h->element, GST_STATE_READY), ==,
      GST_STATE_CHANGE_SUCCESS);
  ready = (g_get_monotonic_time () - t0) / (gdouble) G_USEC_PER_SEC;
  g_thread_join (thread);
  g_assert_cmpint (job.ret, ==, GST_FLOW_FLUSHING);
  g_test_message ("READY in %.4f s; feeding 16 tokens takes %.4f s", ready,
      ref);
  g_assert_cmpfloat (ready, <, 100 * ref);

  hook.func = NULL;
  gst_harness_teardown (job.h);
  g_free (job.line);
  g_mutex_clear (&job.lock);
  g_cond_clear (&job.cond);
}

/* Only the last max-prompt-bytes of a line are its prompt, however the
 * line arrives (in one buffer longer than the limit, or in pieces that
 * add up to more), the last line at EOS too: the element used to keep
 * every byte of a line until its newline, without bound.  The
 * continuation is libargen's of the line's tail, and the statistics count
 * the tail's tokens only.  An empty line with nothing held before it is
 * the empty prompt (the line's bytes have no storage then). */
static void
test_max_prompt_bytes (void)
{
  const gchar *line = "But soft, what light through yonder window breaks?";
  const gsize limit = 8, len = strlen (line);
  const gchar *tail = line + len - limit;
  GstBus *bus = gst_bus_new ();
  gchar *got, *expected, *piece;
  guint max_prompt_bytes;
  GstHarness *h;

  h = new_textgen ("seed", (gint64) 6, "max-tokens", 2, NULL);
  g_object_get (h->element, "max-prompt-bytes", &max_prompt_bytes, NULL);
  g_assert_cmpuint (max_prompt_bytes, ==, 65536);
  g_object_set (h->element, "max-prompt-bytes", (guint) limit, NULL);
  gst_element_set_bus (h->element, bus);
  expected = libargen_continuation (tail, 6, 0.8f, 2, NULL);

  /* an empty line, the first: nothing held yet */
  gst_harness_push (h, text_buffer ("\n", 0, 0));
  got = pulled_line (h);
  piece = libargen_continuation ("", 6, 0.8f, 2, NULL);
  g_assert_cmpstr (got, ==, piece);
  g_free (got);
  g_free (piece);

  /* one buffer */
  piece = g_strconcat (line, "\n", NULL);
  gst_harness_push (h, text_buffer (piece, 0, GST_SECOND));
  g_free (piece);
  got = pulled_line (h);
  g_assert_cmpstr (got, ==, expected);
  g_free (got);

  /* pieces of 7 bytes */
  for (gsize i = 0; i < len; i += 7) {
    piece = g_strndup (line + i, MIN (7, len - i));
    gst_harness_push (h, text_buffer (piece, GST_SECOND, 0));
    g_free (piece);
  }
  g_assert_cmpuint (gst_harness_buffers_in_queue (h), ==, 0);
  gst_harness_push (h, text_buffer ("\n", GST_SECOND, 0));
  got = pulled_line (h);
  g_assert_cmpstr (got, ==, expected);
  g_free (got);

  /* the last line, at EOS */
  gst_harness_push (h, text_buffer (line, 2 * GST_SECOND, GST_SECOND));
  gst_harness_push_event (h, gst_event_new_eos ());
  got = pulled_line (h);
  g_assert_cmpstr (got, ==, expected);
  g_free (got);
  g_free (expected);

  g_assert_cmpuint (statistics_prompt_tokens (bus), ==, 3 * limit);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

int
main (int argc, char **argv)
{
  int ret;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/textgen/properties", test_properties);
  g_test_add_func ("/textgen/beam", test_beam);
  g_test_add_func ("/textgen/three-lines-one-buffer",
      test_three_lines_one_buffer);
  g_test_add_func ("/textgen/fixed-seed-reproducible",
      test_fixed_seed_reproducible);
  g_test_add_func ("/textgen/line-across-buffers", test_line_across_buffers);
  g_test_add_func ("/textgen/eos-last-line", test_eos_last_line);
  g_test_add_func ("/textgen/flush-clears-partial-line",
      test_flush_clears_partial_line);
  g_test_add_func ("/textgen/endless-continuation", test_endless_continuation);
  g_test_add_func ("/textgen/temperature-controlled",
      test_temperature_controlled);
  g_test_add_func ("/textgen/untimed-input", test_untimed_input);
  g_test_add_func ("/textgen/statistics", test_statistics);
  g_test_add_func ("/textgen/flush-interrupts-prompt",
      test_flush_interrupts_prompt);
  g_test_add_func ("/textgen/ready-interrupts-prompt",
      test_ready_interrupts_prompt);
  g_test_add_func ("/textgen/max-prompt-bytes", test_max_prompt_bytes);

  ret = g_test_run ();
  gst_deinit ();
  return ret;
}
