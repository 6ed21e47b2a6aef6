/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-textgensrc.c — the textgensrc element through GstHarness and small
 * pipelines: properties as gst-inspect shows them, output validity and
 * reproducibility, agreement with libargen's own greedy generation, token
 * counting, the stop string, timestamps, live operation, sampling changes
 * while playing, statistics, a state change while the model reads a long
 * prompt, and model loading errors (in-process and through
 * gst-launch-1.0).
 *
 * Runs with the plugin of this build (GST_PLUGIN_PATH_1_0, tests/meson.build)
 * and uses the default model both embedded (the element) and from its source
 * file ARGEN_DEFAULT_TEXT_MODEL (libargen directly). */

#include <gst/gst.h>
#include <gst/check/gstharness.h>
#include <gst/check/gsttestclock.h>
#include <gst/controller/gstdirectcontrolbinding.h>
#include <gst/controller/gstinterpolationcontrolsource.h>
#include <glib/gstdio.h>

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test-transformer-util.h"
#include "test-util.h"
#include "text/ar-text.h"

/* ---- helpers ----------------------------------------------------------- */

/* Pulls every buffer up to EOS from a playing harness. */
static GPtrArray *
pull_until_eos (GstHarness *h)
{
  GPtrArray *buffers =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);
  GstBuffer *buf = NULL;

  while (gst_harness_pull_until_eos (h, &buf)) {
    if (buf == NULL)
      return buffers;
    g_ptr_array_add (buffers, buf);
    buf = NULL;
  }
  g_error ("timed out waiting for EOS after %u buffers", buffers->len);
  return NULL;
}

static gchar *
buffers_text (GPtrArray *buffers)
{
  GString *s = g_string_new (NULL);
  guint i;

  for (i = 0; i < buffers->len; i++) {
    GstBuffer *buf = g_ptr_array_index (buffers, i);
    GstMapInfo map;

    g_assert_true (gst_buffer_map (buf, &map, GST_MAP_READ));
    g_assert_cmpuint (map.size, >, 0);
    /* Each buffer on its own is valid UTF-8, not just the whole. */
    g_assert_true (g_utf8_validate_len ((const gchar *) map.data, map.size,
        NULL));
    g_string_append_len (s, (const gchar *) map.data, map.size);
    gst_buffer_unmap (buf, &map);
  }
  return g_string_free (s, FALSE);
}

static GstHarness *
new_src_valist (const gchar *first_property, va_list args)
{
  GstHarness *h = gst_harness_new ("textgensrc");

  if (first_property != NULL)
    g_object_set_valist (G_OBJECT (h->element), first_property, args);
  return h;
}

/* Runs a textgensrc with the given properties to EOS; returns its buffers. */
static GPtrArray *generate_buffers (const gchar *first_property,
    ...) G_GNUC_NULL_TERMINATED;
static GPtrArray *
generate_buffers (const gchar *first_property, ...)
{
  GPtrArray *buffers;
  GstHarness *h;
  va_list args;

  va_start (args, first_property);
  h = new_src_valist (first_property, args);
  va_end (args);

  gst_harness_play (h);
  buffers = pull_until_eos (h);
  gst_harness_teardown (h);
  return buffers;
}

/* The same, as one string. */
static gchar *generate_text (const gchar *first_property,
    ...) G_GNUC_NULL_TERMINATED;
static gchar *
generate_text (const gchar *first_property, ...)
{
  GPtrArray *buffers;
  GstHarness *h;
  va_list args;
  gchar *text;

  va_start (args, first_property);
  h = new_src_valist (first_property, args);
  va_end (args);

  gst_harness_play (h);
  buffers = pull_until_eos (h);
  gst_harness_teardown (h);
  text = buffers_text (buffers);
  g_ptr_array_unref (buffers);
  return text;
}

/* libargen's own beam search continuation of @prompt (width @width > 1):
 * @n_tokens steps, from the default model's source file. */
static gchar *
libargen_beam (const gchar *prompt, guint n_tokens, guint width)
{
  GError *error = NULL;
  ArTextModel *model;
  ArTextGen *gen;
  GString *out;
  guint i;

  model = ar_text_model_new_from_file (ARGEN_DEFAULT_TEXT_MODEL, &error);
  g_assert_no_error (error);
  gen = ar_text_gen_new (model);
  ar_text_gen_set_beam (gen, width, 0.0f);
  ar_text_gen_reset (gen, 1);
  ar_text_gen_feed (gen, prompt, -1);
  out = g_string_new (NULL);
  for (i = 0; i < n_tokens; i++)
    if (ar_text_gen_next (gen, out))
      break;
  ar_text_gen_finish (gen, out);
  ar_text_gen_free (gen);
  ar_text_model_unref (model);
  return g_string_free (out, FALSE);
}

/* libargen's own greedy continuation of @prompt: @n_tokens tokens, from the
 * default model's source file. */
static gchar *
libargen_greedy (const gchar *prompt, guint n_tokens)
{
  const ArSamplingParams greedy = { 0.0f, 0, 1.0f };
  GError *error = NULL;
  ArTextModel *model;
  ArTextGen *gen;
  GString *out;
  guint i;

  model = ar_text_model_new_from_file (ARGEN_DEFAULT_TEXT_MODEL, &error);
  g_assert_no_error (error);
  gen = ar_text_gen_new (model);
  ar_text_gen_set_sampling (gen, &greedy);
  ar_text_gen_reset (gen, 12345);
  ar_text_gen_feed (gen, prompt, -1);
  out = g_string_new (NULL);
  for (i = 0; i < n_tokens; i++)
    if (ar_text_gen_next (gen, out))
      break;
  ar_text_gen_finish (gen, out);
  ar_text_gen_free (gen);
  ar_text_model_unref (model);
  return g_string_free (out, FALSE);
}

/* Runs @description until EOS or an error and returns that message; element
 * messages on the way are added to @element_messages when it is not NULL. */
static GstMessage *
run_pipeline (const gchar *description, GPtrArray *element_messages)
{
  GError *error = NULL;
  GstElement *pipeline;
  GstMessage *msg;
  GstBus *bus;

  pipeline = gst_parse_launch (description, &error);
  g_assert_no_error (error);
  bus = gst_element_get_bus (pipeline);
  /* Fails at once when the model cannot load; the error is on the bus. */
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  for (;;) {
    msg = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
        GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT);
    g_assert_nonnull (msg);
    if (GST_MESSAGE_TYPE (msg) != GST_MESSAGE_ELEMENT)
      break;
    if (element_messages != NULL)
      g_ptr_array_add (element_messages, msg);
    else
      gst_message_unref (msg);
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  return msg;
}

/* ---- properties -------------------------------------------------------- */

static GParamSpec *
find_property (GObject *object, const gchar *name, GType pspec_type)
{
  GParamSpec *pspec =
      g_object_class_find_property (G_OBJECT_GET_CLASS (object), name);

  g_assert_nonnull (pspec);
  g_assert_true (G_TYPE_CHECK_INSTANCE_TYPE (pspec, pspec_type));
  g_assert_true (pspec->flags & G_PARAM_READWRITE);
  return pspec;
}

static void
test_properties (void)
{
  GstElement *src = gst_element_factory_make ("textgensrc", NULL);
  GParamSpec **pspecs, *p;
  GParamSpecInt *pi;
  GParamSpecUInt *pu;
  GParamSpecInt64 *pi64;
  GParamSpecFloat *pf;
  GParamSpecDouble *pd;
  GstElementClass *klass;
  GstPadTemplate *templ;
  GstCaps *caps, *expected;
  guint i, n;

  g_assert_nonnull (src);

  /* As gst-inspect-1.0 shows them: every property explains itself. */
  pspecs = g_object_class_list_properties (G_OBJECT_GET_CLASS (src), &n);
  g_assert_cmpuint (n, >=, 11);
  for (i = 0; i < n; i++) {
    const gchar *blurb = g_param_spec_get_blurb (pspecs[i]);

    g_test_message ("%s: %s", pspecs[i]->name, blurb);
    g_assert_nonnull (blurb);
    g_assert_cmpuint (strlen (blurb), >, 5);
    g_assert_nonnull (g_param_spec_get_nick (pspecs[i]));
  }
  g_free (pspecs);

  p = find_property (G_OBJECT (src), "model", G_TYPE_PARAM_STRING);
  g_assert_null (G_PARAM_SPEC_STRING (p)->default_value);
  g_assert_true (p->flags & GST_PARAM_MUTABLE_READY);

  pi = G_PARAM_SPEC_INT (find_property (G_OBJECT (src), "max-tokens",
      G_TYPE_PARAM_INT));
  g_assert_cmpint (pi->minimum, ==, -1);
  g_assert_cmpint (pi->maximum, ==, G_MAXINT);
  g_assert_cmpint (pi->default_value, ==, 500);

  p = find_property (G_OBJECT (src), "temperature", G_TYPE_PARAM_FLOAT);
  pf = G_PARAM_SPEC_FLOAT (p);
  g_assert_cmpfloat (pf->minimum, ==, 0.0f);
  g_assert_cmpfloat (pf->maximum, ==, 10.0f);
  g_assert_cmpfloat (pf->default_value, ==, 0.8f);
  g_assert_true (p->flags & GST_PARAM_CONTROLLABLE);
  g_assert_true (p->flags & GST_PARAM_MUTABLE_PLAYING);

  p = find_property (G_OBJECT (src), "top-k", G_TYPE_PARAM_UINT);
  pu = G_PARAM_SPEC_UINT (p);
  g_assert_cmpuint (pu->minimum, ==, 0);
  g_assert_cmpuint (pu->default_value, ==, 0);
  g_assert_true (p->flags & GST_PARAM_CONTROLLABLE);
  g_assert_true (p->flags & GST_PARAM_MUTABLE_PLAYING);

  p = find_property (G_OBJECT (src), "top-p", G_TYPE_PARAM_FLOAT);
  pf = G_PARAM_SPEC_FLOAT (p);
  g_assert_cmpfloat (pf->minimum, ==, 0.0f);
  g_assert_cmpfloat (pf->maximum, ==, 1.0f);
  g_assert_cmpfloat (pf->default_value, ==, 1.0f);
  g_assert_true (p->flags & GST_PARAM_CONTROLLABLE);
  g_assert_true (p->flags & GST_PARAM_MUTABLE_PLAYING);

  pi64 = G_PARAM_SPEC_INT64 (find_property (G_OBJECT (src), "seed",
      G_TYPE_PARAM_INT64));
  g_assert_cmpint (pi64->minimum, ==, -1);
  g_assert_cmpint (pi64->maximum, ==, G_MAXINT64);
  g_assert_cmpint (pi64->default_value, ==, -1);

  p = find_property (G_OBJECT (src), "stop", G_TYPE_PARAM_STRING);
  g_assert_null (G_PARAM_SPEC_STRING (p)->default_value);

  p = find_property (G_OBJECT (src), "prompt", G_TYPE_PARAM_STRING);
  g_assert_cmpstr (G_PARAM_SPEC_STRING (p)->default_value, ==, "");

  pu = G_PARAM_SPEC_UINT (find_property (G_OBJECT (src), "tokens-per-buffer",
      G_TYPE_PARAM_UINT));
  g_assert_cmpuint (pu->minimum, ==, 1);
  g_assert_cmpuint (pu->maximum, ==, 65536);
  g_assert_cmpuint (pu->default_value, ==, 64);

  pd = G_PARAM_SPEC_DOUBLE (find_property (G_OBJECT (src), "tokens-per-second",
      G_TYPE_PARAM_DOUBLE));
  g_assert_cmpfloat (pd->minimum, >, 0.0);
  g_assert_cmpfloat (pd->default_value, ==, 25.0);

  p = find_property (G_OBJECT (src), "is-live", G_TYPE_PARAM_BOOLEAN);
  g_assert_false (G_PARAM_SPEC_BOOLEAN (p)->default_value);

  p = find_property (G_OBJECT (src), "beam-width", G_TYPE_PARAM_UINT);
  pu = G_PARAM_SPEC_UINT (p);
  g_assert_cmpuint (pu->minimum, ==, 1);
  g_assert_cmpuint (pu->maximum, ==, AR_TEXT_BEAM_MAX_WIDTH);
  g_assert_cmpuint (pu->default_value, ==, 1);
  g_assert_true (p->flags & GST_PARAM_MUTABLE_READY);

  p = find_property (G_OBJECT (src), "threads", G_TYPE_PARAM_UINT);
  pu = G_PARAM_SPEC_UINT (p);
  g_assert_cmpuint (pu->minimum, ==, 0);
  g_assert_cmpuint (pu->maximum, ==, AR_THREADPOOL_MAX_THREADS);
  g_assert_cmpuint (pu->default_value, ==, 0);
  g_assert_true (p->flags & GST_PARAM_MUTABLE_READY);

  /* Values set are values read back. */
  g_object_set (src, "temperature", 0.25f, "top-k", 40u, "stop", "\\n", "seed",
      (gint64) 99, NULL);
  {
    gfloat t;
    guint k;
    gchar *stop;
    gint64 seed;

    g_object_get (src, "temperature", &t, "top-k", &k, "stop", &stop, "seed",
        &seed, NULL);
    g_assert_cmpfloat (t, ==, 0.25f);
    g_assert_cmpuint (k, ==, 40);
    g_assert_cmpstr (stop, ==, "\\n");
    g_assert_cmpint (seed, ==, 99);
    g_free (stop);
  }

  klass = GST_ELEMENT_GET_CLASS (src);
  g_assert_cmpstr (gst_element_class_get_metadata (klass,
                       GST_ELEMENT_METADATA_KLASS),
      ==, "Source/Text");
  templ = gst_element_class_get_pad_template (klass, "src");
  g_assert_nonnull (templ);
  caps = gst_pad_template_get_caps (templ);
  expected = gst_caps_from_string ("text/x-raw, format=(string)utf8");
  g_assert_true (gst_caps_is_equal (caps, expected));
  gst_caps_unref (caps);
  gst_caps_unref (expected);

  gst_object_unref (src);
}

/* ---- output ------------------------------------------------------------ */

static void
test_valid_utf8 (void)
{
  GPtrArray *buffers;
  gchar *text;

  /* A high temperature reaches the unlikely tokens too. */
  buffers = generate_buffers ("seed", (gint64) 1, "max-tokens", 300,
      "temperature", 2.0f, NULL);
  text = buffers_text (buffers);
  g_assert_true (g_utf8_validate (text, -1, NULL));
  g_assert_cmpuint (strlen (text), >, 0);
  g_free (text);
  g_ptr_array_unref (buffers);
}

static void
test_same_seed_same_text (void)
{
  gchar *a, *b, *c;

  a = generate_text ("prompt", "ROMEO:", "seed", (gint64) 7, "max-tokens", 120,
      NULL);
  b = generate_text ("prompt", "ROMEO:", "seed", (gint64) 7, "max-tokens", 120,
      NULL);
  c = generate_text ("prompt", "ROMEO:", "seed", (gint64) 8, "max-tokens", 120,
      NULL);
  g_test_message ("seed 7: %s", a);
  g_test_message ("seed 8: %s", c);
  g_assert_cmpstr (a, ==, b);
  g_assert_cmpstr (a, !=, c);
  g_free (a);
  g_free (b);
  g_free (c);
}

static void
test_greedy_matches_libargen (void)
{
  gchar *element, *reference;

  /* temperature 0 needs no seed: any two give the same text. */
  element = generate_text ("prompt", "ROMEO:", "temperature", 0.0f,
      "max-tokens", 150, "tokens-per-buffer", 7, NULL);
  reference = libargen_greedy ("ROMEO:", 150);
  g_test_message ("greedy: %s", element);
  g_assert_cmpuint (strlen (element), >, 0);
  g_assert_cmpstr (element, ==, reference);
  g_free (element);
  g_free (reference);
}

/* A beam of 3: the element's text is libargen's beam search text (the
 * sampling settings and the seed do not matter), in buffers whose offsets
 * still count every step up to max-tokens. */
static void
test_beam_matches_libargen (void)
{
  GPtrArray *buffers;
  gchar *element, *reference;
  GstBuffer *last;

  buffers = generate_buffers ("prompt", "ROMEO:", "beam-width", 3u,
      "temperature", 1.5f, "seed", (gint64) 5, "max-tokens", 150,
      "tokens-per-buffer", 7, NULL);
  element = buffers_text (buffers);
  last = g_ptr_array_index (buffers, buffers->len - 1);
  g_assert_cmpuint (GST_BUFFER_OFFSET_END (last), ==, 150);
  reference = libargen_beam ("ROMEO:", 150, 3);
  g_test_message ("beam 3: %s", element);
  g_assert_cmpuint (strlen (element), >, 0);
  g_assert_cmpstr (element, ==, reference);
  g_free (element);
  g_free (reference);
  g_ptr_array_unref (buffers);
}

/* The default model (a GRU of 512 units: W_hh has 786K weights) is large
 * enough to be split: any thread count gives the same sampled bytes. */
static void
test_threads_same_text (void)
{
  gchar *one, *two, *all;

  one = generate_text ("seed", (gint64) 8, "max-tokens", 120, "threads", 1u,
      NULL);
  two = generate_text ("seed", (gint64) 8, "max-tokens", 120, "threads", 2u,
      NULL);
  all = generate_text ("seed", (gint64) 8, "max-tokens", 120, NULL);
  g_assert_cmpuint (strlen (one), >, 0);
  g_assert_cmpstr (one, ==, two);
  g_assert_cmpstr (one, ==, all);
  g_free (one);
  g_free (two);
  g_free (all);
}

static void
test_max_tokens_and_offsets (void)
{
  GPtrArray *buffers;
  guint64 expected_offset = 0;
  guint i;

  buffers = generate_buffers ("seed", (gint64) 3, "max-tokens", 37,
      "tokens-per-buffer", 5, NULL);
  g_assert_cmpuint (buffers->len, >=, 37 / 5);
  for (i = 0; i < buffers->len; i++) {
    GstBuffer *buf = g_ptr_array_index (buffers, i);
    guint64 n = GST_BUFFER_OFFSET_END (buf) - GST_BUFFER_OFFSET (buf);
    GstMapInfo map;

    g_assert_cmpuint (GST_BUFFER_OFFSET (buf), ==, expected_offset);
    g_assert_cmpuint (n, >=, 1);
    /* The default model emits whole characters, so nothing is held back
     * and no buffer needs more than tokens-per-buffer tokens. */
    g_assert_cmpuint (n, <=, 5);
    /* A buffer ends after a newline, never holds one inside. */
    g_assert_true (gst_buffer_map (buf, &map, GST_MAP_READ));
    {
      const guint8 *nl = memchr (map.data, '\n', map.size);

      g_assert_true (nl == NULL || nl == map.data + map.size - 1);
    }
    gst_buffer_unmap (buf, &map);
    expected_offset = GST_BUFFER_OFFSET_END (buf);
  }
  g_assert_cmpuint (expected_offset, ==, 37);
  g_ptr_array_unref (buffers);

  /* max-tokens=0: nothing at all, but a clean EOS. */
  buffers = generate_buffers ("max-tokens", 0, NULL);
  g_assert_cmpuint (buffers->len, ==, 0);
  g_ptr_array_unref (buffers);
}

static void
test_stop_string (void)
{
  GPtrArray *buffers;
  gchar *full, *text, *stop, *found;
  gsize at, i;
  GstBuffer *last;

  /* Greedy text without a stop string; then a piece of it as the stop
   * string must cut the text right before its first occurrence. */
  full = generate_text ("prompt", "ROMEO:", "temperature", 0.0f, "max-tokens",
      200, NULL);
  g_assert_cmpuint (strlen (full), >, 80);
  for (i = 40; full[i] != '\0'; i++)
    if (g_ascii_isalpha (full[i]) && g_ascii_isalpha (full[i + 1]) &&
        g_ascii_isalpha (full[i + 2]))
      break;
  g_assert_cmpuint (i + 3, <=, strlen (full));
  stop = g_strndup (full + i, 3);
  found = strstr (full, stop);
  at = found - full;
  g_test_message ("stop \"%s\" first at byte %" G_GSIZE_FORMAT, stop, at);

  buffers = generate_buffers ("prompt", "ROMEO:", "temperature", 0.0f,
      "max-tokens", 200, "stop", stop, NULL);
  text = buffers_text (buffers);
  g_assert_cmpuint (strlen (text), ==, at);
  g_assert_true (strncmp (text, full, at) == 0);
  g_assert_null (strstr (text, stop));
  /* The stream ended early: fewer tokens than max-tokens. */
  if (buffers->len > 0) {
    last = g_ptr_array_index (buffers, buffers->len - 1);
    g_assert_cmpuint (GST_BUFFER_OFFSET_END (last), <, 200);
  }
  g_free (text);
  g_ptr_array_unref (buffers);
  g_free (stop);

  /* The stop string's C escapes: "\n" is a newline. */
  found = strchr (full, '\n');
  if (found != NULL) {
    text = generate_text ("prompt", "ROMEO:", "temperature", 0.0f, "max-tokens",
        200, "stop", "\\n", NULL);
    g_assert_cmpuint (strlen (text), ==, found - full);
    g_assert_true (strncmp (text, full, found - full) == 0);
    g_free (text);
  } else {
    g_test_message ("no newline in the greedy text: escape check skipped");
  }
  g_free (full);
}

static void
check_timestamps (gdouble rate, GstClockTime (*expected_time) (guint64))
{
  GPtrArray *buffers;
  GstClockTime next = 0;
  guint i;

  buffers = generate_buffers ("seed", (gint64) 5, "max-tokens", 90,
      "tokens-per-buffer", 4, "tokens-per-second", rate, NULL);
  g_assert_cmpuint (buffers->len, >=, 90 / 4);
  for (i = 0; i < buffers->len; i++) {
    GstBuffer *buf = g_ptr_array_index (buffers, i);

    /* Contiguous from 0, and exactly the token counter scaled: no drift. */
    g_assert_cmpuint (GST_BUFFER_PTS (buf), ==, next);
    g_assert_cmpuint (GST_BUFFER_PTS (buf), ==,
        expected_time (GST_BUFFER_OFFSET (buf)));
    g_assert_true (GST_BUFFER_DURATION_IS_VALID (buf));
    g_assert_cmpuint (GST_BUFFER_PTS (buf) + GST_BUFFER_DURATION (buf), ==,
        expected_time (GST_BUFFER_OFFSET_END (buf)));
    next = GST_BUFFER_PTS (buf) + GST_BUFFER_DURATION (buf);
  }
  g_assert_cmpuint (next, ==, expected_time (90));
  g_ptr_array_unref (buffers);
}

static GstClockTime
tenth_seconds (guint64 n)
{
  return n * (GST_SECOND / 10);
}

static GstClockTime
third_seconds (guint64 n)
{
  return gst_util_uint64_scale (n, GST_SECOND, 3);
}

static void
test_timestamps (void)
{
  check_timestamps (10.0, tenth_seconds);
  /* A rate whose token duration is not a whole number of nanoseconds. */
  check_timestamps (3.0, third_seconds);
}

/* ---- live -------------------------------------------------------------- */

static void
test_live (void)
{
  GstHarness *h = gst_harness_new ("textgensrc");
  GstClockTime min_latency, max_latency;
  GstTestClock *clock;
  GstBuffer *buf;
  gboolean live;
  GstQuery *query;
  GstPad *srcpad;

  g_object_set (h->element, "is-live", TRUE, "tokens-per-buffer", 10,
      "tokens-per-second", 20.0, "seed", (gint64) 1, "max-tokens", 100, NULL);
  gst_harness_play (h);

  /* Allow one full buffer: 10 tokens at 20 per second. */
  srcpad = gst_element_get_static_pad (h->element, "src");
  query = gst_query_new_latency ();
  g_assert_true (gst_pad_query (srcpad, query));
  gst_query_parse_latency (query, &live, &min_latency, &max_latency);
  g_assert_true (live);
  g_assert_cmpuint (min_latency, ==, GST_SECOND / 2);
  g_assert_cmpuint (max_latency, >=, min_latency);
  gst_query_unref (query);
  gst_object_unref (srcpad);

  /* Each buffer waits for the clock to reach its timestamp. */
  clock = gst_harness_get_testclock (h);
  g_assert_true (gst_harness_crank_single_clock_wait (h));
  buf = gst_harness_pull (h);
  g_assert_cmpuint (GST_BUFFER_PTS (buf), ==, 0);
  gst_buffer_unref (buf);
  g_assert_true (gst_harness_crank_single_clock_wait (h));
  buf = gst_harness_pull (h);
  g_assert_cmpuint (GST_BUFFER_PTS (buf), >, 0);
  g_assert_cmpuint (gst_clock_get_time (GST_CLOCK (clock)), ==,
      GST_BUFFER_PTS (buf));
  gst_buffer_unref (buf);

  gst_object_unref (clock);
  gst_harness_teardown (h);

  /* Not live: no latency of its own. */
  h = gst_harness_new ("textgensrc");
  srcpad = gst_element_get_static_pad (h->element, "src");
  query = gst_query_new_latency ();
  g_assert_true (gst_pad_query (srcpad, query));
  gst_query_parse_latency (query, &live, &min_latency, NULL);
  g_assert_false (live);
  g_assert_cmpuint (min_latency, ==, 0);
  gst_query_unref (query);
  gst_object_unref (srcpad);
  gst_harness_teardown (h);
}

/* A live textgensrc in a pipeline with a synchronising sink: the pipeline
 * configures its latency (one buffer of text) without the warning a bin
 * posts when the maximum it gathers is below the minimum.  The sink adds
 * its processing deadline (20 ms) to the minimum, so a source whose
 * maximum equals its minimum made every such pipeline warn, and the sink
 * then ran with no latency at all. */
static void
test_live_pipeline_latency (void)
{
  GstElement *pipeline, *sink;
  GstMessage *msg;
  GstQuery *query;
  GstClockTime min_latency, max_latency;
  GstBus *bus;
  gboolean live;

  pipeline = gst_parse_launch ("textgensrc is-live=true tokens-per-buffer=10 "
                               "tokens-per-second=1000 max-tokens=40 seed=1 ! "
                               "fakesink name=sink sync=true",
      NULL);
  g_assert_nonnull (pipeline);
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  bus = gst_element_get_bus (pipeline);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  g_assert_cmpint (gst_element_get_state (pipeline, NULL, NULL,
                       GST_CLOCK_TIME_NONE),
      ==, GST_STATE_CHANGE_SUCCESS);

  /* 10 tokens at 1000 a second, plus the sink's processing deadline. */
  query = gst_query_new_latency ();
  g_assert_true (gst_element_query (pipeline, query));
  gst_query_parse_latency (query, &live, &min_latency, &max_latency);
  g_assert_true (live);
  g_assert_cmpuint (min_latency, >=, 10 * GST_MSECOND);
  g_assert_cmpuint (max_latency, >=, min_latency);
  gst_query_unref (query);

  msg = gst_bus_timed_pop_filtered (bus, 10 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_WARNING);
  g_assert_nonnull (msg);
  if (GST_MESSAGE_TYPE (msg) != GST_MESSAGE_EOS) {
    GError *error = NULL;

    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR)
      gst_message_parse_error (msg, &error, NULL);
    else
      gst_message_parse_warning (msg, &error, NULL);
    g_error ("%s from %s: %s", GST_MESSAGE_TYPE_NAME (msg),
        GST_MESSAGE_SRC_NAME (msg), error->message);
  }
  gst_message_unref (msg);

  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
}

/* ---- sampling changes while playing ------------------------------------ */

static void
test_temperature_while_playing (void)
{
  GString *before = g_string_new ("ROMEO:");
  GPtrArray *rest;
  GstHarness *h;
  GstBuffer *buf;
  guint64 done = 0, rest_tokens;
  gchar *rest_text, *expected;
  guint i;

  h = gst_harness_new ("textgensrc");
  g_object_set (h->element, "prompt", "ROMEO:", "seed", (gint64) 11,
      "temperature", 1.2f, "tokens-per-buffer", 8, "max-tokens", 160, NULL);
  /* The source may run only one buffer ahead of what the test pulled. */
  gst_harness_set_blocking_push_mode (h);
  gst_harness_play (h);

  /* Four buffers sampled at temperature 1.2; the fifth may have been
   * started before the change: all of it is the prompt of the reference. */
  for (i = 0; i < 5; i++) {
    GstMapInfo map;

    if (i == 4)
      g_object_set (h->element, "temperature", 0.0f, NULL);
    buf = gst_harness_pull (h);
    g_assert_nonnull (buf);
    g_assert_true (gst_buffer_map (buf, &map, GST_MAP_READ));
    g_string_append_len (before, (const gchar *) map.data, map.size);
    gst_buffer_unmap (buf, &map);
    done = GST_BUFFER_OFFSET_END (buf);
    gst_buffer_unref (buf);
  }
  /* gst_harness_pull_until_eos() would not release a blocked push: pull
   * until the last token, which ends the stream (there is no stop string). */
  rest = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);
  while (done < 160) {
    buf = gst_harness_pull (h);
    g_assert_nonnull (buf);
    g_assert_cmpuint (GST_BUFFER_OFFSET (buf), ==, done);
    done = GST_BUFFER_OFFSET_END (buf);
    g_ptr_array_add (rest, buf);
  }
  gst_harness_teardown (h);

  /* From there on, greedy: libargen continuing everything so far. */
  rest_tokens = 160 - GST_BUFFER_OFFSET ((GstBuffer *) rest->pdata[0]);
  g_assert_cmpuint (rest->len, >, 0);
  rest_text = buffers_text (rest);
  expected = libargen_greedy (before->str, rest_tokens);
  g_test_message ("after the change: %s", rest_text);
  g_assert_cmpstr (rest_text, ==, expected);

  g_free (rest_text);
  g_free (expected);
  g_ptr_array_unref (rest);
  g_string_free (before, TRUE);
}

/* A control source drops the temperature to 0 at 1 s of stream time (token
 * 100 at 100 tokens per second): the buffers from then on are greedy.  The
 * element syncs the controlled values to each buffer's running time, so the
 * switch falls exactly on a buffer boundary without any race. */
static void
test_temperature_controlled (void)
{
  GstControlSource *cs = gst_interpolation_control_source_new ();
  GstTimedValueControlSource *tvcs = GST_TIMED_VALUE_CONTROL_SOURCE (cs);
  GString *before = g_string_new ("JULIET:");
  GPtrArray *buffers;
  GstHarness *h;
  gchar *after, *expected;
  guint i, first_greedy = G_MAXUINT;
  guint64 greedy_from = 0;

  g_object_set (cs, "mode", GST_INTERPOLATION_MODE_NONE, NULL);
  gst_timed_value_control_source_set (tvcs, 0, 1.3);
  gst_timed_value_control_source_set (tvcs, GST_SECOND, 0.0);

  h = gst_harness_new ("textgensrc");
  g_object_set (h->element, "prompt", "JULIET:", "seed", (gint64) 21,
      "tokens-per-second", 100.0, "tokens-per-buffer", 8, "max-tokens", 180,
      NULL);
  gst_object_add_control_binding (GST_OBJECT (h->element),
      gst_direct_control_binding_new_absolute (GST_OBJECT (h->element),
          "temperature", cs));
  gst_harness_play (h);
  buffers = pull_until_eos (h);
  gst_harness_teardown (h);

  for (i = 0; i < buffers->len; i++) {
    GstBuffer *buf = g_ptr_array_index (buffers, i);

    if (GST_BUFFER_PTS (buf) >= GST_SECOND) {
      first_greedy = i;
      greedy_from = GST_BUFFER_OFFSET (buf);
      break;
    }
  }
  g_assert_cmpuint (first_greedy, <, buffers->len);
  g_assert_cmpuint (greedy_from, >=, 100);

  /* Split the text at that buffer and compare the rest with libargen. */
  {
    GPtrArray *head = g_ptr_array_new (), *tail = g_ptr_array_new ();
    gchar *head_text;

    for (i = 0; i < buffers->len; i++)
      g_ptr_array_add (i < first_greedy ? head : tail,
          g_ptr_array_index (buffers, i));
    head_text = buffers_text (head);
    g_string_append (before, head_text);
    after = buffers_text (tail);
    g_free (head_text);
    g_ptr_array_unref (head);
    g_ptr_array_unref (tail);
  }
  expected = libargen_greedy (before->str, 180 - greedy_from);
  g_assert_cmpstr (after, ==, expected);

  /* And the part before was sampled, not greedy (at 1.3 a 100-token sample
   * equal to the greedy text has negligible probability). */
  {
    gchar *greedy_start = libargen_greedy ("JULIET:", greedy_from);

    g_assert_cmpstr (before->str + strlen ("JULIET:"), !=, greedy_start);
    g_free (greedy_start);
  }

  g_free (after);
  g_free (expected);
  g_ptr_array_unref (buffers);
  g_string_free (before, TRUE);
  gst_object_unref (cs);
}

/* ---- bus messages ------------------------------------------------------ */

static const GstStructure *
find_statistics (GPtrArray *messages)
{
  const GstStructure *found = NULL;
  guint i;

  for (i = 0; i < messages->len; i++) {
    GstMessage *msg = g_ptr_array_index (messages, i);

    if (gst_message_has_name (msg, "textgen-statistics")) {
      g_assert_null (found);
      found = gst_message_get_structure (msg);
    }
  }
  return found;
}

static void
test_statistics (void)
{
  GPtrArray *messages =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_message_unref);
  const GstStructure *s;
  GstMessage *end;
  guint64 tokens;
  gdouble seconds, rate;

  end = run_pipeline ("textgensrc max-tokens=60 seed=2 ! fakesink", messages);
  g_assert_cmpint (GST_MESSAGE_TYPE (end), ==, GST_MESSAGE_EOS);
  gst_message_unref (end);

  s = find_statistics (messages);
  g_assert_nonnull (s);
  g_assert_true (gst_structure_get_uint64 (s, "tokens", &tokens));
  g_assert_true (gst_structure_get_double (s, "seconds", &seconds));
  g_assert_true (gst_structure_get_double (s, "tokens-per-second", &rate));
  g_assert_cmpuint (tokens, ==, 60);
  g_assert_cmpfloat (seconds, >, 0.0);
  g_assert_cmpfloat_with_epsilon (rate, tokens / seconds, 1e-6 * rate);
  g_test_message ("%" G_GUINT64_FORMAT " tokens in %.4f s: %.0f tokens/s",
      tokens, seconds, rate);

  /* EOS from the base class (num-buffers) posts them too; prompt-tokens
   * counts the prompt's tokens (none above). */
  g_assert_true (gst_structure_get_uint64 (s, "prompt-tokens", &tokens));
  g_assert_cmpuint (tokens, ==, 0);
  g_ptr_array_set_size (messages, 0);
  end = run_pipeline ("textgensrc num-buffers=3 tokens-per-buffer=4 seed=2 "
                      "prompt=ROMEO: ! fakesink",
      messages);
  g_assert_cmpint (GST_MESSAGE_TYPE (end), ==, GST_MESSAGE_EOS);
  gst_message_unref (end);
  s = find_statistics (messages);
  g_assert_nonnull (s);
  g_assert_true (gst_structure_get_uint64 (s, "tokens", &tokens));
  g_assert_cmpuint (tokens, >=, 3);
  g_assert_cmpuint (tokens, <=, 12);
  g_assert_true (gst_structure_get_uint64 (s, "prompt-tokens", &tokens));
  g_assert_cmpuint (tokens, ==, 6);
  g_ptr_array_unref (messages);
}

/* ---- a state change while the prompt is read ---------------------------- */

typedef struct
{
  GstControlSourceGetValue get_value; /* the wrapped source's */
  GMutex lock;
  GCond cond;
  gboolean reached;
} Hook;

/* Reads of the controlled temperature, which create() makes before it
 * feeds the prompt, tell the test that create() has begun. */
static gboolean
hooked_get_value (GstControlSource *cs, GstClockTime timestamp, gdouble *value)
{
  Hook *hook = g_object_get_data (G_OBJECT (cs), "test-hook");

  g_mutex_lock (&hook->lock);
  hook->reached = TRUE;
  g_cond_signal (&hook->cond);
  g_mutex_unlock (&hook->lock);
  return hook->get_value (cs, timestamp, value);
}

/* The model reads the prompt in create(), in steps that unlock() can stop
 * between: going to PLAYING, then back to READY while it reads a
 * 6400-byte prompt, takes less than 100 times as long as libargen feeding
 * 16 tokens (the prompt is 400 times that).  The element used to read the
 * prompt in start(), inside the state change to PAUSED, which nothing
 * could interrupt.  Measured: 4 to 12 ms natively (mostly loading the
 * model), where the bound was 110 ms to 150 ms.  Both sides scale alike with the
 * build (valgrind, ASan) and the machine's load. */
static void
test_state_change_interrupts_prompt (void)
{
  static const gchar words[] = "To be, or not to be, that is the question: ";
  const gsize n = 400 * 16;
  GstControlSource *cs = gst_interpolation_control_source_new ();
  Hook hook = { 0 };
  GstHarness *h;
  gchar *prompt = g_malloc (n + 1);
  gdouble seconds, ref;
  gint64 t0, play, ready;

  for (gsize i = 0; i < n; i++)
    prompt[i] = words[i % (sizeof words - 1)];
  prompt[n] = '\0';
  ref = test_text_feed_seconds (ARGEN_DEFAULT_TEXT_MODEL, prompt, 16);

  g_mutex_init (&hook.lock);
  g_cond_init (&hook.cond);
  g_object_set (cs, "mode", GST_INTERPOLATION_MODE_NONE, NULL);
  gst_timed_value_control_source_set (GST_TIMED_VALUE_CONTROL_SOURCE (cs), 0,
      0.8);
  hook.get_value = cs->get_value;
  cs->get_value = hooked_get_value;
  g_object_set_data (G_OBJECT (cs), "test-hook", &hook);

  h = gst_harness_new ("textgensrc");
  g_object_set (h->element, "prompt", prompt, "seed", (gint64) 3, NULL);
  gst_object_add_control_binding (GST_OBJECT (h->element),
      gst_direct_control_binding_new_absolute (GST_OBJECT (h->element),
          "temperature", cs));
  /* the two state changes, not the wait for the streaming thread between
   * them */
  t0 = g_get_monotonic_time ();
  gst_harness_play (h);
  play = g_get_monotonic_time () - t0;
  g_mutex_lock (&hook.lock);
  while (!hook.reached)
    g_cond_wait (&hook.cond, &hook.lock);
  g_mutex_unlock (&hook.lock);
  t0 = g_get_monotonic_time ();
  g_assert_cmpint (gst_element_set_state (h->element, GST_STATE_READY), ==,
      GST_STATE_CHANGE_SUCCESS);
  ready = g_get_monotonic_time () - t0;
  seconds = (play + ready) / (gdouble) G_USEC_PER_SEC;
  g_test_message ("to PLAYING in %.4f s, back to READY in %.4f s; feeding "
                  "16 tokens takes %.4f s",
      play / (gdouble) G_USEC_PER_SEC, ready / (gdouble) G_USEC_PER_SEC, ref);
  g_assert_cmpfloat (seconds, <, 100 * ref);
  /* nothing was output: the prompt was not read to its end */
  g_assert_cmpuint (gst_harness_buffers_in_queue (h), ==, 0);

  gst_harness_teardown (h);
  gst_object_unref (cs);
  g_mutex_clear (&hook.lock);
  g_cond_clear (&hook.cond);
  g_free (prompt);
}

static void
test_num_buffers (void)
{
  GPtrArray *buffers;

  buffers = generate_buffers ("num-buffers", 4, "max-tokens", -1, NULL);
  g_assert_cmpuint (buffers->len, ==, 4);
  g_ptr_array_unref (buffers);
}

/* ---- embedded models ---------------------------------------------------- */

#define EMBEDDED(path) "resource:///org/gstreamer/argen/defaults/" path

static void
test_embedded_models (void)
{
  gchar *unset, *by_uri, *transformer, *again;

  /* the default named by its resource URI is the default */
  unset = generate_text ("prompt", "ROMEO:", "seed", (gint64) 3, "max-tokens",
      80, NULL);
  by_uri = generate_text ("model", EMBEDDED ("rnn-shakespeare.gguf"), "prompt",
      "ROMEO:", "seed", (gint64) 3, "max-tokens", 80, NULL);
  g_assert_cmpstr (unset, ==, by_uri);

  /* the embedded Transformer runs too, reproducibly, and differs */
  transformer = generate_text ("model", EMBEDDED ("transformer-shakespeare.gguf"),
      "prompt", "ROMEO:", "seed", (gint64) 3, "max-tokens", 80, NULL);
  again = generate_text ("model", EMBEDDED ("transformer-shakespeare.gguf"),
      "prompt", "ROMEO:", "seed", (gint64) 3, "max-tokens", 80, NULL);
  g_test_message ("transformer: %s", transformer);
  g_assert_true (g_utf8_validate (transformer, -1, NULL));
  g_assert_cmpuint (strlen (transformer), >, 0);
  g_assert_cmpstr (transformer, ==, again);
  g_assert_cmpstr (transformer, !=, unset);
  g_free (unset);
  g_free (by_uri);
  g_free (transformer);
  g_free (again);
}

/* ---- speculative mode -------------------------------------------------- */

/* GstArgenTextMode's values, for g_object_set () */
#define MODE_SPECULATIVE 1
#define MODE_NON_AUTOREGRESSIVE 2

/* Greedy speculative decoding gives the text of greedy decoding with the
 * same model, with the embedded draft and with the GRU drafting; the
 * statistics report the drafts; textgen does the same per line. */
static void
test_speculative (void)
{
  const gchar *transformer = EMBEDDED ("transformer-shakespeare.gguf");
  gchar *plain, *spec, *spec_gru, *desc;
  GPtrArray *messages =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_message_unref);
  const GstStructure *st;
  guint64 tokens, drafted, accepted;
  gdouble rate;
  GstMessage *end;

  plain = generate_text ("prompt", "ROMEO:", "temperature", 0.0f,
      "max-tokens", 300, "tokens-per-buffer", 5, "model", transformer, NULL);
  spec = generate_text ("prompt", "ROMEO:", "temperature", 0.0f,
      "max-tokens", 300, "tokens-per-buffer", 5, "mode",
      MODE_SPECULATIVE, NULL);
  spec_gru = generate_text ("prompt", "ROMEO:", "temperature", 0.0f,
      "max-tokens", 300, "tokens-per-buffer", 5, "mode",
      MODE_SPECULATIVE, "draft-model", ARGEN_DEFAULT_TEXT_MODEL,
      "draft-tokens", 3, NULL);
  g_assert_cmpuint (strlen (plain), >, 100);
  g_assert_cmpstr (spec, ==, plain);
  g_assert_cmpstr (spec_gru, ==, plain);
  g_free (plain);
  g_free (spec);
  g_free (spec_gru);

  end = run_pipeline ("textgensrc mode=speculative draft-tokens=5 "
      "max-tokens=200 temperature=0.8 seed=3 ! fakesink", messages);
  g_assert_cmpint (GST_MESSAGE_TYPE (end), ==, GST_MESSAGE_EOS);
  gst_message_unref (end);
  st = find_statistics (messages);
  g_assert_nonnull (st);
  g_assert_true (gst_structure_get_uint64 (st, "tokens", &tokens));
  g_assert_true (gst_structure_get_uint64 (st, "draft-tokens", &drafted));
  g_assert_true (gst_structure_get_uint64 (st, "draft-accepted", &accepted));
  g_assert_true (gst_structure_get_double (st, "acceptance-rate", &rate));
  g_assert_cmpuint (tokens, ==, 200);
  g_assert_cmpuint (accepted, <=, drafted);
  g_assert_cmpuint (drafted, >, 0);
  /* every round outputs its accepted drafts and one more token */
  g_assert_cmpuint (accepted, <, tokens);
  g_assert_cmpfloat_with_epsilon (rate, (gdouble) accepted / drafted, 1e-9);
  g_test_message ("speculative, T 0.8, k 5: %" G_GUINT64_FORMAT " of %"
      G_GUINT64_FORMAT " drafts accepted", accepted, drafted);

  /* textgen: one line, greedy, both modes */
  for (guint mode = 0; mode < 2; mode++) {
    g_ptr_array_set_size (messages, 0);
    desc = g_strdup_printf ("fakesrc num-buffers=0 ! textgen mode=%s "
        "model=%s temperature=0 max-tokens=50 ! fakesink",
        mode ? "speculative" : "autoregressive", transformer);
    end = run_pipeline (desc, messages);
    g_assert_cmpint (GST_MESSAGE_TYPE (end), ==, GST_MESSAGE_EOS);
    gst_message_unref (end);
    st = find_statistics (messages);
    g_assert_nonnull (st);
    g_assert_true (gst_structure_has_field (st, "acceptance-rate") == (mode == 1));
    g_free (desc);
  }
  g_ptr_array_unref (messages);
}

/* What cannot be done speculatively is an error naming the problem. */
static void
test_speculative_errors (void)
{
  struct
  {
    const gchar *description, *expect;
  } cases[] = {
    /* the GRU cannot verify drafts in one pass */
    { "textgensrc mode=speculative model=\"" ARGEN_DEFAULT_TEXT_MODEL "\" "
          "! fakesink", "rnn" },
    { "textgensrc mode=speculative draft-model=/nonexistent-draft.gguf "
          "! fakesink", "/nonexistent-draft.gguf" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    GError *error = NULL;
    gchar *debug = NULL;
    GstMessage *end = run_pipeline (cases[i].description, NULL);

    g_assert_cmpint (GST_MESSAGE_TYPE (end), ==, GST_MESSAGE_ERROR);
    gst_message_parse_error (end, &error, &debug);
    g_test_message ("error: %s (%s)", error->message, debug);
    g_assert_true (strstr (error->message, cases[i].expect) != NULL ||
        (debug != NULL && strstr (debug, cases[i].expect) != NULL));
    g_clear_error (&error);
    g_free (debug);
    gst_message_unref (end);
  }
}

/* ---- the end-of-text token ---------------------------------------------- */

/* A vanilla RNN over the characters "\n", "a", "b" whose logits are its
 * output bias alone (every weight 0): "a" e^2 times as likely as either
 * other token; "b" is the end-of-text token.  Written to a temporary file;
 * its path. */
static gchar *
write_eos_model (void)
{
  const gchar *tokens[] = { "\n", "a", "b" };
  const float bias[3] = { 0.0f, 2.0f, 0.0f };
  g_autofree float *zeros = g_new0 (float, 4 * 4); /* the largest, { 4, 4 } */
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  const guint64 emb[2] = { 4, 3 }, sq[2] = { 4, 4 }, vec[1] = { 4 },
                out_b[1] = { 3 };
  GError *error = NULL;
  gchar *path = NULL;
  gint fd;

  ar_gguf_writer_set_string (w, "general.architecture", "rnn");
  ar_gguf_writer_set_string (w, "rnn.cell", "rnn");
  ar_gguf_writer_set_u32 (w, "rnn.block_count", 1);
  ar_gguf_writer_set_u32 (w, "rnn.embedding_length", 4);
  ar_gguf_writer_set_u32 (w, "rnn.hidden_size", 4);
  ar_gguf_writer_set_string (w, "tokenizer.ggml.model", "char");
  ar_gguf_writer_set_string_array (w, "tokenizer.ggml.tokens", tokens, NULL, 3);
  ar_gguf_writer_set_u32 (w, "tokenizer.ggml.eos_token_id", 2);
  ar_gguf_writer_add_tensor_f32 (w, "token_embd.weight", AR_TENSOR_F32, 2, emb,
      zeros);
  ar_gguf_writer_add_tensor_f32 (w, "blk.0.rnn_ih.weight", AR_TENSOR_F32, 2, sq,
      zeros);
  ar_gguf_writer_add_tensor_f32 (w, "blk.0.rnn_hh.weight", AR_TENSOR_F32, 2, sq,
      zeros);
  ar_gguf_writer_add_tensor_f32 (w, "blk.0.rnn_ih.bias", AR_TENSOR_F32, 1, vec,
      zeros);
  ar_gguf_writer_add_tensor_f32 (w, "blk.0.rnn_hh.bias", AR_TENSOR_F32, 1, vec,
      zeros);
  ar_gguf_writer_add_tensor_f32 (w, "output.weight", AR_TENSOR_F32, 2, emb,
      zeros);
  ar_gguf_writer_add_tensor_f32 (w, "output.bias", AR_TENSOR_F32, 1, out_b,
      bias);
  fd = g_file_open_tmp ("textgensrc-eos-XXXXXX.gguf", &path, &error);
  g_assert_no_error (error);
  close (fd);
  g_assert_true (ar_gguf_writer_write_file (w, path, &error));
  g_assert_no_error (error);
  return path;
}

/* With max-tokens=-1 and no stop string the stream still ends, as the
 * element documentation says, when the model samples its end-of-text token
 * (which is not output): the text is libargen's up to that token. */
static void
test_eos_token (void)
{
  g_autofree gchar *path = write_eos_model ();
  GError *error = NULL;
  g_autoptr (ArTextModel) m = ar_text_model_new_from_file (path, &error);
  g_autoptr (ArTextGen) gen = NULL;
  g_autoptr (GString) ref = g_string_new (NULL);
  g_autofree gchar *element = NULL;
  const ArSamplingParams params = { 0.8f, 0, 1.0f };
  guint n = 0;

  g_assert_no_error (error);
  gen = ar_text_gen_new (m);
  ar_text_gen_set_sampling (gen, &params);
  ar_text_gen_reset (gen, 4);
  ar_text_gen_feed (gen, "a", -1);
  while (!ar_text_gen_next (gen, ref))
    g_assert_cmpuint (++n, <, 1000);
  ar_text_gen_finish (gen, ref);
  g_assert_cmpint (ar_text_gen_last_token (gen), ==, 2);
  g_assert_null (strchr (ref->str, 'b'));
  g_assert_cmpuint (ref->len, >, 0); /* some text, then the end */

  element = generate_text ("model", path, "seed", (gint64) 4, "prompt", "a",
      "max-tokens", -1, "temperature", 0.8f, NULL);
  g_assert_cmpstr (element, ==, ref->str);
  g_unlink (path);
}

/* ---- non-autoregressive mode --------------------------------------------- */

/* A small random NAR model (20 characters from '!', 6 slots) written to a
 * temporary file; its path. */
static gchar *
write_nar_model (void)
{
  const Spec sp = { AR_TRANSFORMER_LLAMA, 2, 32, 48, 4, 2, 24, 20, FALSE,
    FALSE, FALSE, AR_TENSOR_F32 };
  g_autoptr (GBytes) bytes = make_model_full (&sp, 3, TRUE, 6);
  GError *error = NULL;
  gchar *path = NULL;
  gint fd = g_file_open_tmp ("textgensrc-nar-XXXXXX.gguf", &path, &error);

  g_assert_no_error (error);
  close (fd);
  g_assert_true (g_file_set_contents (path, g_bytes_get_data (bytes, NULL),
          g_bytes_get_size (bytes), &error));
  return path;
}

/* The element's text is libargen's non-autoregressive stream with the same
 * settings; the statistics count the passes; a model that does not suit
 * the mode is an error either way round. */
static void
test_non_autoregressive (void)
{
  g_autofree gchar *path = write_nar_model ();
  g_autofree gchar *element = NULL, *desc = NULL;
  GError *error = NULL;
  g_autoptr (ArTextModel) m = ar_text_model_new_from_file (path, &error);
  g_autoptr (ArTextGen) gen = NULL;
  g_autoptr (GString) ref = g_string_new (NULL);
  ArSamplingParams params = { 0.7f, 0, 1.0f };
  GPtrArray *messages =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_message_unref);
  const GstStructure *st;
  guint64 tokens, passes;
  GstMessage *end;

  g_assert_no_error (error);
  gen = ar_text_gen_new (m);
  ar_text_gen_set_sampling (gen, &params);
  ar_text_gen_set_iterations (gen, 3);
  ar_text_gen_reset (gen, 9);
  ar_text_gen_feed (gen, "#$%", -1);
  for (guint i = 0; i < 40; i++)
    g_assert_false (ar_text_gen_next (gen, ref));
  ar_text_gen_finish (gen, ref);

  element = generate_text ("mode", MODE_NON_AUTOREGRESSIVE, "model", path,
      "iterations", 3, "temperature", 0.7f, "seed", (gint64) 9, "prompt",
      "#$%", "max-tokens", 40, "tokens-per-buffer", 7, NULL);
  g_assert_cmpstr (element, ==, ref->str);

  desc = g_strdup_printf ("textgensrc mode=non-autoregressive model=%s "
      "iterations=2 max-tokens=24 ! fakesink", path);
  end = run_pipeline (desc, messages);
  g_assert_cmpint (GST_MESSAGE_TYPE (end), ==, GST_MESSAGE_EOS);
  gst_message_unref (end);
  st = find_statistics (messages);
  g_assert_nonnull (st);
  g_assert_true (gst_structure_get_uint64 (st, "tokens", &tokens));
  g_assert_true (gst_structure_get_uint64 (st, "passes", &passes));
  g_assert_cmpuint (tokens, ==, 24);
  /* 4 blocks of 6 slots, at most 2 passes each */
  g_assert_cmpuint (passes, >=, 4);
  g_assert_cmpuint (passes, <=, 8);
  g_ptr_array_unref (messages);

  /* the NAR model in autoregressive mode, the GRU in non-autoregressive */
  for (guint i = 0; i < 2; i++) {
    g_autofree gchar *d = i == 0
        ? g_strdup_printf ("textgensrc model=%s ! fakesink", path)
        : g_strdup ("textgensrc mode=non-autoregressive model=\""
            ARGEN_DEFAULT_TEXT_MODEL "\" ! fakesink");
    gchar *debug = NULL;

    end = run_pipeline (d, NULL);
    g_assert_cmpint (GST_MESSAGE_TYPE (end), ==, GST_MESSAGE_ERROR);
    gst_message_parse_error (end, &error, &debug);
    g_test_message ("error: %s (%s)", error->message, debug);
    g_assert_nonnull (strstr (debug, i == 0 ? "mode=non-autoregressive"
            : "NAR model"));
    g_clear_error (&error);
    g_free (debug);
    gst_message_unref (end);
  }
  g_unlink (path);
}

/* ---- errors ------------------------------------------------------------ */

/* The error a pipeline with model=@path posts, checked to name @path. */
static void
check_error_in_process (const gchar *path)
{
  gchar *description, *debug = NULL;
  GError *error = NULL;
  GstMessage *end;

  description = g_strdup_printf ("textgensrc model=\"%s\" ! fakesink", path);
  end = run_pipeline (description, NULL);
  g_assert_cmpint (GST_MESSAGE_TYPE (end), ==, GST_MESSAGE_ERROR);
  gst_message_parse_error (end, &error, &debug);
  g_test_message ("error: %s (%s)", error->message, debug);
  g_assert_true (error->domain == GST_RESOURCE_ERROR);
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);
  g_free (debug);
  gst_message_unref (end);
  g_free (description);

  /* textgen loads the same way. */
  description = g_strdup_printf ("fakesrc num-buffers=1 ! textgen "
                                 "model=\"%s\" ! fakesink",
      path);
  end = run_pipeline (description, NULL);
  g_assert_cmpint (GST_MESSAGE_TYPE (end), ==, GST_MESSAGE_ERROR);
  gst_message_parse_error (end, &error, NULL);
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);
  gst_message_unref (end);
  g_free (description);
}

/* gst-launch-1.0 itself, as a user runs it: non-zero exit, the file named. */
static void
check_error_gst_launch (const gchar *path)
{
  const gchar *launch = g_getenv ("GST_LAUNCH");
  const gchar *preload = g_getenv ("ARGEN_CHILD_LD_PRELOAD");
  gchar *model = g_strdup_printf ("model=%s", path);
  const gchar *argv[] = { launch, "textgensrc", model, "!", "fakesink", NULL };
  gchar *out = NULL, *err = NULL, **envp;
  GError *error = NULL;
  gint status;

  g_assert_nonnull (launch);
  envp = g_get_environ ();
  if (preload != NULL && preload[0] != '\0') {
    envp = g_environ_setenv (envp, "LD_PRELOAD", preload, TRUE);
    envp = g_environ_setenv (envp, "ASAN_OPTIONS", "detect_leaks=0", TRUE);
  }
  g_assert_true (g_spawn_sync (NULL, (gchar **) argv, envp, G_SPAWN_DEFAULT,
      NULL, NULL, &out, &err, &status, &error));
  g_assert_no_error (error);
  g_test_message ("gst-launch-1.0 stderr: %s", err);
  g_assert_false (g_spawn_check_wait_status (status, NULL));
  g_assert_nonnull (strstr (err, path));

  g_strfreev (envp);
  g_free (out);
  g_free (err);
  g_free (model);
}

static void
test_error_missing_file (void)
{
  const gchar *path = "/nonexistent.gguf";

  check_error_in_process (path);
  check_error_gst_launch (path);
}

/* A FIFO as the model: it waited for a writer in start (), forever (the
 * alarm's default action ends the test if it still does); now the element
 * errors at once, naming it. */
static void
test_error_fifo (void)
{
  GError *error = NULL;
  gchar *dir = g_dir_make_tmp ("argen-test-XXXXXX", &error);
  gchar *path;

  g_assert_no_error (error);
  path = g_build_filename (dir, "fifo.gguf", NULL);
  g_assert_cmpint (mkfifo (path, 0600), ==, 0);
  alarm (20);
  check_error_in_process (path);
  alarm (0);
  g_unlink (path);
  g_rmdir (dir);
  g_free (path);
  g_free (dir);
}

static void
test_error_missing_resource (void)
{
  check_error_in_process (EMBEDDED ("nope.gguf"));
}

static void
test_error_truncated_file (void)
{
  GError *error = NULL;
  gchar *contents, *dir, *path;
  gsize len;

  g_assert_true (g_file_get_contents (ARGEN_DEFAULT_TEXT_MODEL, &contents, &len,
      &error));
  g_assert_no_error (error);
  dir = g_dir_make_tmp ("argen-test-XXXXXX", &error);
  g_assert_no_error (error);
  path = g_build_filename (dir, "truncated.gguf", NULL);
  /* Cut through the tensor data, past the header and metadata. */
  g_assert_true (g_file_set_contents (path, contents, len / 2, &error));
  g_assert_no_error (error);

  check_error_in_process (path);
  check_error_gst_launch (path);

  g_unlink (path);
  g_rmdir (dir);
  g_free (path);
  g_free (dir);
  g_free (contents);
}

int
main (int argc, char **argv)
{
  int ret;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/textgensrc/properties", test_properties);
  g_test_add_func ("/textgensrc/valid-utf8", test_valid_utf8);
  g_test_add_func ("/textgensrc/same-seed-same-text", test_same_seed_same_text);
  g_test_add_func ("/textgensrc/greedy-matches-libargen",
      test_greedy_matches_libargen);
  g_test_add_func ("/textgensrc/beam-matches-libargen",
      test_beam_matches_libargen);
  g_test_add_func ("/textgensrc/threads-same-text", test_threads_same_text);
  g_test_add_func ("/textgensrc/max-tokens-and-offsets",
      test_max_tokens_and_offsets);
  g_test_add_func ("/textgensrc/stop-string", test_stop_string);
  g_test_add_func ("/textgensrc/timestamps", test_timestamps);
  g_test_add_func ("/textgensrc/live", test_live);
  g_test_add_func ("/textgensrc/live-pipeline-latency",
      test_live_pipeline_latency);
  g_test_add_func ("/textgensrc/temperature-while-playing",
      test_temperature_while_playing);
  g_test_add_func ("/textgensrc/temperature-controlled",
      test_temperature_controlled);
  g_test_add_func ("/textgensrc/statistics", test_statistics);
  g_test_add_func ("/textgensrc/state-change-interrupts-prompt",
      test_state_change_interrupts_prompt);
  g_test_add_func ("/textgensrc/speculative", test_speculative);
  g_test_add_func ("/textgensrc/speculative-errors", test_speculative_errors);
  g_test_add_func ("/textgensrc/non-autoregressive", test_non_autoregressive);
  g_test_add_func ("/textgensrc/num-buffers", test_num_buffers);
  g_test_add_func ("/textgensrc/embedded-models", test_embedded_models);
  g_test_add_func ("/textgensrc/error-missing-file", test_error_missing_file);
  g_test_add_func ("/textgensrc/eos-token", test_eos_token);
  g_test_add_func ("/textgensrc/error-fifo", test_error_fifo);
  g_test_add_func ("/textgensrc/error-missing-resource",
      test_error_missing_resource);
  g_test_add_func ("/textgensrc/error-truncated-file",
      test_error_truncated_file);

  ret = g_test_run ();
  gst_deinit ();
  return ret;
}
