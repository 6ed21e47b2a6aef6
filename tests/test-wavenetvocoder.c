/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-wavenetvocoder.c — the wavenetvocoder element through GstHarness and
 * small pipelines, with small random models written to a temporary
 * directory: properties as gst-inspect shows them; output equal, sample for
 * sample, to libargen's ArWaveNetVocoder fed the same input at once, in
 * F32LE and S16LE; as many samples out as in after EOS, timestamps and
 * offsets of the input samples; reproducibility (any thread count) and
 * temperature 0; the temperature through a control binding; the latency
 * query; a flush, a discontinuity (flagged, or a jump in the timestamps)
 * and new caps restarting the stream, timestamp jitter not; a stream whose
 * timestamps start late; statistics; refusal of another rate; model errors.
 *
 * Runs with the plugin of this build (GST_PLUGIN_PATH_1_0, tests/meson.build). */

#include <gst/gst.h>
#include <gst/check/gstharness.h>
#include <gst/controller/gstdirectcontrolbinding.h>
#include <gst/controller/gstinterpolationcontrolsource.h>

#include <math.h>
#include <string.h>

#include "test-wavenet-util.h"

#define MODEL_SEED 5
#define F32_CAPS                                                               \
  "audio/x-raw, format=F32LE, rate=8000, channels=1, layout=interleaved"
#define S16_CAPS                                                               \
  "audio/x-raw, format=S16LE, rate=8000, channels=1, layout=interleaved"

static ArWaveNet *vocoder_model;
static ArWaveNet *class_model; /* a vocoder with 3 global classes */
static const gchar *vocoder_path, *plain_path, *class_path;
static const char *const class_names[] = { "alice", "bob", "carol" };

/* ---- helpers ------------------------------------------------------------ */

/* @n samples of a test signal: a gliding tone with a little noise, the
 * part starting at sample @first. */
static gfloat *
make_signal (gsize first, gsize n)
{
  gfloat *x = g_new (gfloat, n);
  guint32 noise = 12345;
  gsize i;

  for (i = 0; i < n; i++) {
    gdouble t = (gdouble) (first + i) / TEST_RATE;

    noise = noise * 1664525u + 1013904223u;
    x[i] = (gfloat) (0.5 * sin (2 * G_PI * (150.0 + 100.0 * t) * t) +
        0.01 * ((noise >> 8) / 16777216.0 - 0.5));
  }
  return x;
}

/* A buffer of @n samples of @x in F32LE (@s16 FALSE) or S16LE, stamped as
 * samples @offset … of a stream starting at @start. */
static GstBuffer *
make_buffer (const gfloat *x, gsize n, gboolean s16, GstClockTime start,
    guint64 offset)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, n * (s16 ? 2 : 4), NULL);
  GstMapInfo map;
  gsize i;

  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (i = 0; i < n; i++) {
    if (s16) {
      gint16 v = (gint16) lrintf (x[i] * 32767.0f);

      map.data[2 * i] = (guint8) ((guint16) v & 0xff);
      map.data[2 * i + 1] = (guint8) ((guint16) v >> 8);
    } else {
      guint32 bits;

      memcpy (&bits, &x[i], 4);
      bits = GUINT32_TO_LE (bits);
      memcpy (map.data + 4 * i, &bits, 4);
    }
  }
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_PTS (buf) =
      start + gst_util_uint64_scale (offset, GST_SECOND, TEST_RATE);
  GST_BUFFER_DURATION (buf) = start +
      gst_util_uint64_scale (offset + n, GST_SECOND, TEST_RATE) -
      GST_BUFFER_PTS (buf);
  GST_BUFFER_OFFSET (buf) = offset;
  GST_BUFFER_OFFSET_END (buf) = offset + n;
  return buf;
}

/* The samples of @buffers (F32LE or S16LE) as floats. */
static gfloat *
buffers_samples (GPtrArray *buffers, gboolean s16, gsize *n)
{
  GBytes *bytes = test_buffers_bytes (buffers);
  gsize size, i;
  const guint8 *data = g_bytes_get_data (bytes, &size);
  gfloat *x;

  *n = size / (s16 ? 2 : 4);
  x = g_new (gfloat, *n + 1);
  for (i = 0; i < *n; i++) {
    if (s16) {
      x[i] = (gint16) (data[2 * i] | (data[2 * i + 1] << 8)) / 32768.0f;
    } else {
      guint32 bits;

      memcpy (&bits, data + 4 * i, 4);
      bits = GUINT32_FROM_LE (bits);
      memcpy (&x[i], &bits, 4);
    }
  }
  g_bytes_unref (bytes);
  return x;
}

/* Every buffer the harness holds now. */
static GPtrArray *
pull_all (GstHarness *h)
{
  GPtrArray *buffers =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);
  GstBuffer *buf;

  while ((buf = gst_harness_try_pull (h)) != NULL)
    g_ptr_array_add (buffers, buf);
  return buffers;
}

static GstHarness *
new_vocoder_threads (const gchar *caps, gint64 seed, gfloat temperature,
    guint threads)
{
  GstElement *e = gst_element_factory_make ("wavenetvocoder", NULL);
  GstHarness *h;

  /* The harness starts a filter at once: the model must be set before. */
  g_object_set (e, "model", vocoder_path, "seed", seed, "temperature",
      temperature, "threads", threads, NULL);
  h = gst_harness_new_with_element (e, "sink", "src");
  gst_object_unref (e);
  gst_harness_set_src_caps_str (h, caps);
  return h;
}

static GstHarness *
new_vocoder (const gchar *caps, gint64 seed, gfloat temperature)
{
  return new_vocoder_threads (caps, seed, temperature, 1);
}

/* Pushes @n samples of @x in buffers of @per_buffer from time @start, then
 * EOS, and returns everything that came out. */
static GPtrArray *
run_vocoder (GstHarness *h, const gfloat *x, gsize n, gsize per_buffer,
    gboolean s16, GstClockTime start)
{
  gsize i;

  for (i = 0; i < n; i += per_buffer) {
    GstBuffer *buf =
        make_buffer (x + i, MIN (per_buffer, n - i), s16, start, i);

    if (i == 0)
      GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
    g_assert_cmpint (gst_harness_push (h, buf), ==, GST_FLOW_OK);
  }
  g_assert_true (gst_harness_push_event (h, gst_event_new_eos ()));
  return pull_all (h);
}

/* libargen's vocoder of @model on the whole of @x at once, in global class
 * @cls (-1: none). */
static gfloat *
reference_output_of (ArWaveNet *model, int cls, const gfloat *x, gsize n,
    guint64 seed, gfloat temperature)
{
  GError *error = NULL;
  ArWaveNetVocoder *v = ar_wavenet_vocoder_new (model, &error);
  gfloat *out = g_new (gfloat, n + 1);
  gsize got = 0, k;

  g_assert_no_error (error);
  g_assert_true (ar_wavenet_vocoder_set_global_class (v, cls, &error));
  g_assert_no_error (error);
  ar_wavenet_vocoder_reset (v, seed);
  ar_wavenet_vocoder_set_temperature (v, temperature);
  ar_wavenet_vocoder_push (v, x, n);
  ar_wavenet_vocoder_drain (v);
  while ((k = ar_wavenet_vocoder_pull (v, out + got, n - got)) > 0)
    got += k;
  g_assert_cmpuint (got, ==, n);
  ar_wavenet_vocoder_free (v);
  return out;
}

/* The test vocoder's output on the whole of @x at once. */
static gfloat *
reference_output (const gfloat *x, gsize n, guint64 seed, gfloat temperature)
{
  return reference_output_of (vocoder_model, -1, x, n, seed, temperature);
}

/* Buffers whose samples follow each other from @start / @offset: each
 * stamped with the time and index of its first sample. */
static gsize
check_contiguous (GPtrArray *buffers, GstClockTime start, guint64 offset)
{
  guint64 next = 0;
  guint i;

  for (i = 0; i < buffers->len; i++) {
    GstBuffer *buf = g_ptr_array_index (buffers, i);
    gsize n = gst_buffer_get_size (buf) / 4;
    GstClockTime t = gst_util_uint64_scale (next, GST_SECOND, TEST_RATE);
    GstClockTime e = gst_util_uint64_scale (next + n, GST_SECOND, TEST_RATE);

    g_assert_cmpuint (GST_BUFFER_PTS (buf), ==, start + t);
    g_assert_cmpuint (GST_BUFFER_DURATION (buf), ==, e - t);
    g_assert_cmpuint (GST_BUFFER_OFFSET (buf), ==, offset + next);
    g_assert_cmpuint (GST_BUFFER_OFFSET_END (buf), ==, offset + next + n);
    g_assert_cmpint (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT), ==,
        i == 0);
    next += n;
  }
  return next;
}

/* ---- properties --------------------------------------------------------- */

static void
test_properties (void)
{
  GstElement *e = gst_element_factory_make ("wavenetvocoder", NULL);
  GstElementClass *klass;
  GstCaps *caps, *expected;

  test_assert_blurbs ("wavenetvocoder");
  /* 0.5: closer to the input than the model's own distribution */
  test_assert_media_properties (G_OBJECT (e),
      "resource:///org/gstreamer/argen/defaults/wavenet-vocoder.gguf", 0.5f,
      AR_WAVENET_GEN_MAX_THREADS);
  {
    GParamSpec *p = test_find_property (G_OBJECT (e), "global-condition",
        G_TYPE_PARAM_STRING);

    g_assert_null (G_PARAM_SPEC_STRING (p)->default_value);
    g_assert_true (p->flags & GST_PARAM_MUTABLE_READY);
  }

  klass = GST_ELEMENT_GET_CLASS (e);
  g_assert_cmpstr (gst_element_class_get_metadata (klass,
                       GST_ELEMENT_METADATA_KLASS),
      ==, "Filter/Effect/Audio");
  expected =
      gst_caps_from_string ("audio/x-raw, format={S16LE,F32LE}, "
                            "rate=[1,MAX], channels=1, layout=interleaved");
  caps = gst_pad_template_get_caps (gst_element_class_get_pad_template (klass,
      "sink"));
  g_assert_true (gst_caps_is_equal (caps, expected));
  gst_caps_unref (caps);
  caps = gst_pad_template_get_caps (gst_element_class_get_pad_template (klass,
      "src"));
  g_assert_true (gst_caps_is_equal (caps, expected));
  gst_caps_unref (caps);
  gst_caps_unref (expected);
  gst_object_unref (e);
}

/* Asserts that @buffers hold exactly the @n samples (F32) of libargen's
 * resynthesis of @x with @seed at temperature 1. */
static void
assert_reference_output (GPtrArray *buffers, const gfloat *x, gsize n,
    guint64 seed)
{
  gsize n_out;
  gfloat *y = buffers_samples (buffers, FALSE, &n_out);
  gfloat *ref = reference_output (x, n, seed, 1.0f);

  g_assert_cmpuint (n_out, ==, n);
  g_assert_cmpmem (y, n * sizeof (gfloat), ref, n * sizeof (gfloat));
  g_free (y);
  g_free (ref);
}

/* ---- output ------------------------------------------------------------- */

/* 3500 samples in buffers of 500 from 1 s: 3500 out, stamped as the input
 * samples they resynthesise, and equal to libargen's vocoder fed the whole
 * input at once. */
static void
test_resynthesis (void)
{
  const gsize n = 3500;
  gfloat *x = make_signal (0, n), *y, *ref;
  GPtrArray *buffers;
  GstHarness *h;
  gsize n_out, i;

  h = new_vocoder (F32_CAPS, 3, 1.0f);
  buffers = run_vocoder (h, x, n, 500, FALSE, GST_SECOND);
  gst_harness_teardown (h);

  g_assert_cmpuint (buffers->len, >, 1);
  g_assert_cmpuint (check_contiguous (buffers, GST_SECOND, 0), ==, n);
  y = buffers_samples (buffers, FALSE, &n_out);
  g_assert_cmpuint (n_out, ==, n);
  ref = reference_output (x, n, 3, 1.0f);
  g_assert_cmpmem (y, n * sizeof (gfloat), ref, n * sizeof (gfloat));
  for (i = 0; i < n; i++)
    g_assert_true (y[i] >= -1.0f && y[i] <= 1.0f);

  g_free (x);
  g_free (y);
  g_free (ref);
  g_ptr_array_unref (buffers);
}

/* Input in buffers shorter than the latency — 10 ms from a capture source,
 * single samples — is one stretch, resynthesised as libargen does the whole
 * signal at once.  (The base class's discont flag stays set until a buffer
 * goes out: taken for a discontinuity, it made every short buffer a
 * stretch of its own, drained into noise.) */
static void
test_small_buffers (void)
{
  const gsize n = 1200, sizes[] = { 80, 1, 415, 416 };
  gfloat *x = make_signal (0, n), *ref = reference_output (x, n, 3, 1.0f);

  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++) {
    GstHarness *h = new_vocoder (F32_CAPS, 3, 1.0f);
    GPtrArray *buffers = run_vocoder (h, x, n, sizes[s], FALSE, GST_SECOND);
    gsize n_out;
    gfloat *y;

    gst_harness_teardown (h);
    g_assert_cmpuint (check_contiguous (buffers, GST_SECOND, 0), ==, n);
    y = buffers_samples (buffers, FALSE, &n_out);
    g_assert_cmpuint (n_out, ==, n);
    g_assert_cmpmem (y, n * sizeof (gfloat), ref, n * sizeof (gfloat));
    g_free (y);
    g_ptr_array_unref (buffers);
  }
  g_free (x);
  g_free (ref);
}

/* S16LE in, S16LE out: the same resynthesis, rounded. */
static void
test_s16 (void)
{
  const gsize n = 2000;
  gfloat *x = make_signal (0, n), *y, *ref;
  GPtrArray *buffers;
  GstHarness *h;
  GstCaps *caps, *expected;
  gsize n_out, i;

  h = new_vocoder (S16_CAPS, 4, 1.0f);
  buffers = run_vocoder (h, x, n, 640, TRUE, 0);
  caps = gst_pad_get_current_caps (h->sinkpad);
  expected = gst_caps_from_string (S16_CAPS);
  g_assert_true (gst_caps_is_equal (caps, expected));
  gst_caps_unref (caps);
  gst_caps_unref (expected);
  gst_harness_teardown (h);

  y = buffers_samples (buffers, TRUE, &n_out);
  g_assert_cmpuint (n_out, ==, n);
  /* The element's input is the S16 signal, as floats. */
  for (i = 0; i < n; i++)
    x[i] = (gint16) lrintf (x[i] * 32767.0f) / 32768.0f;
  ref = reference_output (x, n, 4, 1.0f);
  for (i = 0; i < n; i++) {
    gint32 v = CLAMP ((gint32) lrintf (ref[i] * 32768.0f), -32768, 32767);

    g_assert_cmpfloat (y[i], ==, v / 32768.0f);
  }
  g_free (x);
  g_free (y);
  g_free (ref);
  g_ptr_array_unref (buffers);
}

static gfloat *
vocode (gint64 seed, gfloat temperature, guint threads, gsize n)
{
  gfloat *x = make_signal (0, n), *y;
  GPtrArray *buffers;
  GstHarness *h;
  gsize n_out;

  h = new_vocoder_threads (F32_CAPS, seed, temperature, threads);
  buffers = run_vocoder (h, x, n, 400, FALSE, 0);
  gst_harness_teardown (h);
  y = buffers_samples (buffers, FALSE, &n_out);
  g_assert_cmpuint (n_out, ==, n);
  g_ptr_array_unref (buffers);
  g_free (x);
  return y;
}

/* Same seed, same output, whatever the threads; another seed, another; at
 * temperature 0 the seed no longer matters. */
static void
test_seed_and_temperature (void)
{
  const gsize n = 1200, size = n * sizeof (gfloat);
  gfloat *a = vocode (1, 1.0f, 1, n), *b = vocode (1, 1.0f, 2, n);
  gfloat *c = vocode (2, 1.0f, 1, n);
  gfloat *g1 = vocode (1, 0.0f, 1, n), *g2 = vocode (2, 0.0f, 1, n);

  g_assert_cmpmem (a, size, b, size);
  g_assert_true (memcmp (a, c, size) != 0);
  g_assert_cmpmem (g1, size, g2, size);
  g_assert_true (memcmp (a, g1, size) != 0);
  g_free (a);
  g_free (b);
  g_free (c);
  g_free (g1);
  g_free (g2);
}

/* A control source drops the temperature to 0 at 0.25 s (input sample
 * 2000, the fifth buffer of 500): each input buffer sets the temperature of
 * the samples generated after it, which libargen fed the same way matches
 * exactly. */
static void
test_temperature_controlled (void)
{
  GstControlSource *cs = gst_interpolation_control_source_new ();
  GstTimedValueControlSource *tvcs = GST_TIMED_VALUE_CONTROL_SOURCE (cs);
  const gsize n = 4000, per_buffer = 500;
  gfloat *x = make_signal (0, n), *y, *ref, *sampled;
  GError *error = NULL;
  ArWaveNetVocoder *v;
  GPtrArray *buffers;
  GstHarness *h;
  gsize n_out, got = 0, i;

  g_object_set (cs, "mode", GST_INTERPOLATION_MODE_NONE, NULL);
  gst_timed_value_control_source_set (tvcs, 0, 1.0);
  gst_timed_value_control_source_set (tvcs, GST_SECOND / 4, 0.0);
  h = new_vocoder (F32_CAPS, 12, 1.0f);
  gst_object_add_control_binding (GST_OBJECT (h->element),
      gst_direct_control_binding_new_absolute (GST_OBJECT (h->element),
          "temperature", cs));
  buffers = run_vocoder (h, x, n, per_buffer, FALSE, 0);
  gst_harness_teardown (h);
  y = buffers_samples (buffers, FALSE, &n_out);
  g_assert_cmpuint (n_out, ==, n);

  v = ar_wavenet_vocoder_new (vocoder_model, &error);
  g_assert_no_error (error);
  ar_wavenet_vocoder_reset (v, 12);
  ref = g_new (gfloat, n);
  for (i = 0; i < n; i += per_buffer) {
    ar_wavenet_vocoder_set_temperature (v, i < 2000 ? 1.0f : 0.0f);
    ar_wavenet_vocoder_push (v, x + i, per_buffer);
    got += ar_wavenet_vocoder_pull (v, ref + got, n - got);
  }
  ar_wavenet_vocoder_drain (v);
  got += ar_wavenet_vocoder_pull (v, ref + got, n - got);
  g_assert_cmpuint (got, ==, n);
  ar_wavenet_vocoder_free (v);
  g_assert_cmpmem (y, n * sizeof (gfloat), ref, n * sizeof (gfloat));

  /* The change mattered: sampling throughout differs. */
  sampled = reference_output (x, n, 12, 1.0f);
  g_assert_true (memcmp (y, sampled, n * sizeof (gfloat)) != 0);

  g_free (sampled);
  g_free (ref);
  g_free (y);
  g_free (x);
  g_ptr_array_unref (buffers);
  gst_object_unref (cs);
}

/* ---- latency ------------------------------------------------------------ */

static void
test_latency (void)
{
  GError *error = NULL;
  ArWaveNetVocoder *v = ar_wavenet_vocoder_new (vocoder_model, &error);
  GstClockTime ours, min, max;
  GstHarness *h;
  GstQuery *query;
  GstPad *srcpad;
  gboolean live;

  g_assert_no_error (error);
  ours = gst_util_uint64_scale (ar_wavenet_vocoder_latency (v), GST_SECOND,
      TEST_RATE);
  ar_wavenet_vocoder_free (v);
  g_test_message ("vocoder latency %" G_GUINT64_FORMAT " ns", ours);
  g_assert_cmpuint (ours, >, 0);

  h = new_vocoder (F32_CAPS, 1, 1.0f);
  gst_harness_set_upstream_latency (h, 10 * GST_MSECOND);
  gst_harness_play (h);
  srcpad = gst_element_get_static_pad (h->element, "src");
  query = gst_query_new_latency ();
  g_assert_true (gst_pad_query (srcpad, query));
  gst_query_parse_latency (query, &live, &min, &max);
  g_assert_cmpuint (min, ==, 10 * GST_MSECOND + ours);
  gst_query_unref (query);
  gst_object_unref (srcpad);
  gst_harness_teardown (h);
}

/* ---- flushes and discontinuities ---------------------------------------- */

/* After a flush the element starts afresh: what comes out of the next
 * input is what a new element makes of it. */
static void
test_flush_resets (void)
{
  const gsize n = 1500;
  gfloat *noise = make_signal (77777, 900), *x = make_signal (0, n), *y;
  GPtrArray *before, *after;
  GstSegment segment;
  GstHarness *h;
  gsize n_out;
  gfloat *ref;

  h = new_vocoder (F32_CAPS, 6, 1.0f);
  g_assert_cmpint (gst_harness_push (h, make_buffer (noise, 900, FALSE, 0, 0)),
      ==, GST_FLOW_OK);
  before = pull_all (h);
  /* Some came out already, some is held back. */
  g_assert_cmpuint (before->len, >, 0);

  g_assert_true (gst_harness_push_event (h, gst_event_new_flush_start ()));
  g_assert_true (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  gst_segment_init (&segment, GST_FORMAT_TIME);
  g_assert_true (gst_harness_push_event (h, gst_event_new_segment (&segment)));
  after = run_vocoder (h, x, n, 500, FALSE, 0);
  gst_harness_teardown (h);

  g_assert_cmpuint (check_contiguous (after, 0, 0), ==, n);
  y = buffers_samples (after, FALSE, &n_out);
  g_assert_cmpuint (n_out, ==, n);
  ref = reference_output (x, n, 6, 1.0f);
  g_assert_cmpmem (y, n * sizeof (gfloat), ref, n * sizeof (gfloat));

  g_free (noise);
  g_free (x);
  g_free (y);
  g_free (ref);
  g_ptr_array_unref (before);
  g_ptr_array_unref (after);
}

/* Two stretches of input: 1000 samples from @first, then 1200 from
 * @second, the jump flagged DISCONT or not. */
typedef struct
{
  gboolean flagged;
  GstClockTime first, second;
} Discont;

static const Discont disconts[] = {
  { TRUE, 0, 3 * GST_SECOND },
  /* Samples lost or repeated upstream, unflagged: the timestamps say it. */
  { FALSE, 0, 3 * GST_SECOND },
  { FALSE, 5 * GST_SECOND, GST_SECOND },
};

/* A discontinuity ends the first stretch — all of it comes out, then the
 * second stretch starts afresh at its own time. */
static void
test_discont (gconstpointer data)
{
  const Discont *d = data;
  const gsize n1 = 1000, n2 = 1200;
  gfloat *x1 = make_signal (0, n1), *x2 = make_signal (50000, n2);
  gfloat *y, *ref1, *ref2;
  GPtrArray *buffers, *first, *second;
  GstClockTime first_end =
      d->first + gst_util_uint64_scale (n1, GST_SECOND, TEST_RATE);
  GstHarness *h;
  GstBuffer *buf;
  gsize n_out, i;

  h = new_vocoder (F32_CAPS, 8, 1.0f);
  for (i = 0; i < n1; i += 500)
    g_assert_cmpint (gst_harness_push (h,
                         make_buffer (x1 + i, 500, FALSE, d->first, i)),
        ==, GST_FLOW_OK);
  for (i = 0; i < n2; i += 600) {
    buf = make_buffer (x2 + i, 600, FALSE, d->second, i);
    GST_BUFFER_OFFSET (buf) = GST_BUFFER_OFFSET_END (buf) =
        GST_BUFFER_OFFSET_NONE;
    if (i == 0 && d->flagged)
      GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
    g_assert_cmpint (gst_harness_push (h, buf), ==, GST_FLOW_OK);
  }
  g_assert_true (gst_harness_push_event (h, gst_event_new_eos ()));
  buffers = pull_all (h);
  gst_harness_teardown (h);

  /* Split at the first buffer of the second stretch. */
  first = g_ptr_array_new ();
  second = g_ptr_array_new ();
  for (i = 0; i < buffers->len; i++) {
    GstClockTime t;

    buf = g_ptr_array_index (buffers, i);
    t = GST_BUFFER_PTS (buf);
    g_ptr_array_add (t >= d->first && t < first_end ? first : second, buf);
  }
  g_assert_cmpuint (check_contiguous (first, d->first, 0), ==, n1);
  ref1 = reference_output (x1, n1, 8, 1.0f);
  y = buffers_samples (first, FALSE, &n_out);
  g_assert_cmpmem (y, n1 * sizeof (gfloat), ref1, n1 * sizeof (gfloat));
  g_free (y);

  /* Without input offsets the output has none either. */
  g_assert_cmpuint (second->len, >, 0);
  buf = g_ptr_array_index (second, 0);
  g_assert_cmpuint (GST_BUFFER_PTS (buf), ==, d->second);
  g_assert_true (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT));
  g_assert_cmpuint (GST_BUFFER_OFFSET (buf), ==, GST_BUFFER_OFFSET_NONE);
  buf = g_ptr_array_index (second, second->len - 1);
  g_assert_cmpuint (GST_BUFFER_PTS (buf) + GST_BUFFER_DURATION (buf), ==,
      d->second + gst_util_uint64_scale (n2, GST_SECOND, TEST_RATE));
  ref2 = reference_output (x2, n2, 8, 1.0f);
  y = buffers_samples (second, FALSE, &n_out);
  g_assert_cmpuint (n_out, ==, n2);
  g_assert_cmpmem (y, n2 * sizeof (gfloat), ref2, n2 * sizeof (gfloat));
  g_free (y);

  g_ptr_array_unref (first);
  g_ptr_array_unref (second);
  g_ptr_array_unref (buffers);
  g_free (x1);
  g_free (x2);
  g_free (ref1);
  g_free (ref2);
}

/* Timestamps a few milliseconds off, as a capture clock's may be, are no
 * discontinuity: one stretch, stamped from its first sample. */
static void
test_timestamp_jitter (void)
{
  const gsize n = 3000;
  gfloat *x = make_signal (0, n);
  GPtrArray *buffers;
  GstHarness *h;
  GstBuffer *buf;
  gsize i;

  h = new_vocoder (F32_CAPS, 9, 1.0f);
  for (i = 0; i < n; i += 500) {
    buf = make_buffer (x + i, 500, FALSE, 0, i);
    if (i > 0)
      GST_BUFFER_PTS (buf) += (i / 500 % 2 ? 3 : -3) * GST_MSECOND;
    g_assert_cmpint (gst_harness_push (h, buf), ==, GST_FLOW_OK);
  }
  g_assert_true (gst_harness_push_event (h, gst_event_new_eos ()));
  buffers = pull_all (h);
  gst_harness_teardown (h);

  g_assert_cmpuint (check_contiguous (buffers, 0, 0), ==, n);
  assert_reference_output (buffers, x, n, 9);

  g_ptr_array_unref (buffers);
  g_free (x);
}

/* A live source resuming after a pause times its buffers anew: 100 ms
 * later, though its offsets say that no sample is missing.  The stream goes
 * on (the output is libargen's for the whole signal: taken for a
 * discontinuity, the vocoder was drained into noise and restarted), the
 * offsets stay contiguous, the timestamps never go back, and from the
 * jump on every output buffer is on the new time line. */
static void
test_retimed_live_input (void)
{
  const gsize n = 2400, step = 80, jump_at = 1200;
  const GstClockTime jump = 100 * GST_MSECOND;
  gfloat *x = make_signal (0, n);
  GstClockTime end = 0;
  GPtrArray *buffers;
  GstHarness *h;
  GstBuffer *buf;
  guint64 next = 0;
  gsize i;

  h = new_vocoder (F32_CAPS, 12, 1.0f);
  for (i = 0; i < n; i += step) {
    buf = make_buffer (x + i, step, FALSE, 0, i);
    if (i >= jump_at)
      GST_BUFFER_PTS (buf) += jump;
    g_assert_cmpint (gst_harness_push (h, buf), ==, GST_FLOW_OK);
  }
  g_assert_true (gst_harness_push_event (h, gst_event_new_eos ()));
  buffers = pull_all (h);
  gst_harness_teardown (h);

  for (i = 0; i < buffers->len; i++) {
    buf = g_ptr_array_index (buffers, i);
    g_assert_cmpuint (GST_BUFFER_OFFSET (buf), ==, next);
    g_assert_cmpuint (GST_BUFFER_PTS (buf), >=, end);
    /* each buffer on one time line: the old one, or the new one */
    g_assert_cmpuint (GST_BUFFER_PTS (buf) -
            gst_util_uint64_scale (next, GST_SECOND, TEST_RATE),
        <=, jump);
    next = GST_BUFFER_OFFSET_END (buf);
    end = GST_BUFFER_PTS (buf) + GST_BUFFER_DURATION (buf);
    g_assert_cmpuint (end - gst_util_uint64_scale (next, GST_SECOND, TEST_RATE),
        <=, jump);
    g_assert_false (i > 0 &&
        GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT));
  }
  g_assert_cmpuint (next, ==, n);
  g_assert_cmpuint (end, ==,
      gst_util_uint64_scale (n, GST_SECOND, TEST_RATE) + jump);
  assert_reference_output (buffers, x, n, 12);

  g_ptr_array_unref (buffers);
  g_free (x);
}

/* A stream whose first buffer has no timestamp: the output is stamped from
 * the first buffer that has one, the samples before it counted back. */
static void
test_late_timestamps (void)
{
  const gsize n = 3000;
  const GstClockTime start = 2 * GST_SECOND;
  gfloat *x = make_signal (0, n);
  GPtrArray *buffers;
  GstHarness *h;
  GstBuffer *buf;
  gsize i, stamped = 0, before = 0;

  h = new_vocoder (F32_CAPS, 10, 1.0f);
  for (i = 0; i < n; i += 500) {
    buf = make_buffer (x + i, 500, FALSE, start, i);
    if (i == 0)
      GST_BUFFER_PTS (buf) = GST_BUFFER_DURATION (buf) = GST_CLOCK_TIME_NONE;
    g_assert_cmpint (gst_harness_push (h, buf), ==, GST_FLOW_OK);
  }
  g_assert_true (gst_harness_push_event (h, gst_event_new_eos ()));
  buffers = pull_all (h);
  gst_harness_teardown (h);

  for (i = 0; i < buffers->len; i++) {
    buf = g_ptr_array_index (buffers, i);
    if (GST_BUFFER_PTS_IS_VALID (buf)) {
      GstClockTime t = gst_util_uint64_scale (GST_BUFFER_OFFSET (buf),
          GST_SECOND, TEST_RATE);

      g_assert_cmpuint (GST_BUFFER_PTS (buf), ==, start + t);
      stamped += gst_buffer_get_size (buf) / 4;
    } else {
      /* only what came out before the first timestamp arrived */
      g_assert_cmpuint (stamped, ==, 0);
      before += gst_buffer_get_size (buf) / 4;
    }
  }
  g_assert_cmpuint (before, <, 500);
  g_assert_cmpuint (before + stamped, ==, n);
  assert_reference_output (buffers, x, n, 10);

  g_ptr_array_unref (buffers);
  g_free (x);
}

/* Raw audio as filesrc sends it: a BYTES segment and no timestamps.
 * Every sample comes out, untimestamped. */
static void
test_bytes_segment (void)
{
  const gsize n = 2000;
  gfloat *x = make_signal (0, n);
  GPtrArray *buffers;
  GstSegment segment;
  GstHarness *h;
  GstBuffer *buf;
  gsize i;

  h = new_vocoder (F32_CAPS, 11, 1.0f);
  gst_segment_init (&segment, GST_FORMAT_BYTES);
  g_assert_true (gst_harness_push_event (h, gst_event_new_segment (&segment)));
  for (i = 0; i < n; i += 400) {
    buf = make_buffer (x + i, 400, FALSE, 0, i);
    GST_BUFFER_PTS (buf) = GST_BUFFER_DURATION (buf) = GST_CLOCK_TIME_NONE;
    GST_BUFFER_OFFSET (buf) = GST_BUFFER_OFFSET_END (buf) =
        GST_BUFFER_OFFSET_NONE;
    g_assert_cmpint (gst_harness_push (h, buf), ==, GST_FLOW_OK);
  }
  g_assert_true (gst_harness_push_event (h, gst_event_new_eos ()));
  buffers = pull_all (h);
  gst_harness_teardown (h);

  for (i = 0; i < buffers->len; i++)
    g_assert_false (GST_BUFFER_PTS_IS_VALID (g_ptr_array_index (buffers, i)));
  assert_reference_output (buffers, x, n, 11);

  g_ptr_array_unref (buffers);
  g_free (x);
}

/* Empty buffers, first and in the middle of the stream, change nothing. */
static void
test_empty_buffers (void)
{
  const gsize n = 1500;
  gfloat *x = make_signal (0, n);
  GPtrArray *buffers;
  GstHarness *h;
  gsize i;

  h = new_vocoder (F32_CAPS, 12, 1.0f);
  for (i = 0; i < n; i += 500) {
    g_assert_cmpint (gst_harness_push (h, make_buffer (x + i, 0, FALSE, 0, i)),
        ==, GST_FLOW_OK);
    g_assert_cmpint (gst_harness_push (h,
                         make_buffer (x + i, 500, FALSE, 0, i)),
        ==, GST_FLOW_OK);
  }
  g_assert_true (gst_harness_push_event (h, gst_event_new_eos ()));
  buffers = pull_all (h);
  gst_harness_teardown (h);

  g_assert_cmpuint (check_contiguous (buffers, 0, 0), ==, n);
  assert_reference_output (buffers, x, n, 12);

  g_ptr_array_unref (buffers);
  g_free (x);
}

/* A buffer holding part of a sample (1001 bytes of S16LE) is an error
 * that says so, not a silent shift of every later sample. */
static void
test_partial_sample (void)
{
  GstElement *e = gst_element_factory_make ("wavenetvocoder", NULL);
  GstBus *bus = gst_bus_new ();
  gfloat *x = make_signal (0, 1000);
  gchar *debug = NULL;
  GError *error = NULL;
  GstHarness *h;
  GstBuffer *buf;
  GstMessage *msg;

  g_object_set (e, "model", vocoder_path, NULL);
  gst_element_set_bus (e, bus);
  h = gst_harness_new_with_element (e, "sink", "src");
  gst_harness_set_src_caps_str (h, S16_CAPS);
  g_assert_cmpint (gst_harness_push (h, make_buffer (x, 500, TRUE, 0, 0)), ==,
      GST_FLOW_OK);
  buf = make_buffer (x + 500, 500, TRUE, 0, 500);
  gst_buffer_resize (buf, 0, 1001);
  g_assert_cmpint (gst_harness_push (h, buf), ==, GST_FLOW_ERROR);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  g_assert_nonnull (msg);
  gst_message_parse_error (msg, &error, &debug);
  g_test_message ("error: %s", error->message);
  g_assert_true (g_error_matches (error, GST_STREAM_ERROR,
      GST_STREAM_ERROR_FORMAT));
  g_assert_nonnull (strstr (error->message, "1001 bytes"));
  g_assert_nonnull (strstr (error->message, "2-byte samples"));
  g_error_free (error);
  g_free (debug);
  gst_message_unref (msg);

  gst_harness_teardown (h);
  gst_element_set_bus (e, NULL);
  gst_object_unref (e);
  gst_object_unref (bus);
  g_free (x);
}

/* New caps in the middle of the stream (F32LE, then S16LE): what was held
 * comes out in the old format before the new caps, so the output has
 * exactly the input's bytes, and the new format starts a new stretch. */
static void
test_caps_change (void)
{
  gfloat *x = make_signal (0, 1000);
  GPtrArray *buffers;
  GstHarness *h;
  GstBuffer *buf;
  gsize bytes = 0;
  guint i, first_s16 = 0;

  h = new_vocoder (F32_CAPS, 2, 1.0f);
  g_assert_cmpint (gst_harness_push (h, make_buffer (x, 1000, FALSE, 0, 0)), ==,
      GST_FLOW_OK);
  gst_harness_set_src_caps_str (h, S16_CAPS);
  buf = make_buffer (x, 1000, TRUE, 0, 1000);
  g_assert_cmpint (gst_harness_push (h, buf), ==, GST_FLOW_OK);
  g_assert_true (gst_harness_push_event (h, gst_event_new_eos ()));
  buffers = pull_all (h);
  gst_harness_teardown (h);

  for (i = 0; i < buffers->len; i++) {
    buf = g_ptr_array_index (buffers, i);
    if (GST_BUFFER_OFFSET (buf) == 1000)
      first_s16 = i;
    bytes += gst_buffer_get_size (buf);
  }
  g_assert_cmpuint (bytes, ==, 1000 * 4 + 1000 * 2);
  g_assert_cmpuint (first_s16, >, 0);
  buf = g_ptr_array_index (buffers, first_s16);
  g_assert_true (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT));
  g_assert_cmpuint (GST_BUFFER_PTS (buf), ==, GST_SECOND / 8);
  g_ptr_array_unref (buffers);
  g_free (x);
}

/* ---- pipelines ---------------------------------------------------------- */

static void
test_statistics (void)
{
  GPtrArray *messages =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_message_unref);
  const GstStructure *s;
  gchar *description;
  GstMessage *end;
  guint64 samples;
  gdouble seconds, per_second, rtf;

  description = g_strdup_printf ("audiotestsrc num-buffers=4 "
                                 "samplesperbuffer=500 ! " F32_CAPS
                                 " ! wavenetvocoder model=\"%s\" "
                                 "seed=1 ! fakesink",
      vocoder_path);
  end = test_run_pipeline (description, messages);
  g_assert_cmpint (GST_MESSAGE_TYPE (end), ==, GST_MESSAGE_EOS);
  gst_message_unref (end);

  s = test_find_statistics (messages, "wavenetvocoder-statistics");
  g_assert_nonnull (s);
  g_assert_true (gst_structure_get_uint64 (s, "samples", &samples));
  g_assert_true (gst_structure_get_double (s, "seconds", &seconds));
  g_assert_true (gst_structure_get_double (s, "samples-per-second",
      &per_second));
  g_assert_true (gst_structure_get_double (s, "real-time-factor", &rtf));
  g_assert_cmpuint (samples, ==, 2000);
  g_assert_cmpfloat (seconds, >, 0.0);
  g_assert_cmpfloat_with_epsilon (rtf, per_second / TEST_RATE, 1e-9 * rtf);
  g_test_message ("%" G_GUINT64_FORMAT " samples in %.4f s: %.1f x real time",
      samples, seconds, rtf);
  g_ptr_array_unref (messages);
  g_free (description);
}

/* A stream that ends without ever getting caps (upstream failed to
 * negotiate, and its base class sent EOS) posts no statistics: posted
 * there, racing upstream's error, the message left gst-launch waiting for
 * ever in about one run in five. */
static void
test_no_statistics_unnegotiated (void)
{
  GstElement *e = gst_element_factory_make ("wavenetvocoder", NULL);
  GstBus *bus = gst_bus_new ();
  GstHarness *h;

  g_object_set (e, "model", vocoder_path, NULL);
  h = gst_harness_new_with_element (e, "sink", "src");
  gst_object_unref (e);
  gst_element_set_bus (h->element, bus);
  g_assert_true (gst_harness_push_event (h, gst_event_new_eos ()));
  g_assert_null (gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT));
  /* with caps, the same EOS does post them (the flush clears the EOS) */
  g_assert_true (gst_harness_push_event (h, gst_event_new_flush_start ()));
  g_assert_true (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  gst_harness_set_src_caps_str (h, F32_CAPS);
  g_assert_true (gst_harness_push_event (h, gst_event_new_eos ()));
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT);
  g_assert_nonnull (msg);
  g_assert_true (gst_structure_has_name (gst_message_get_structure (msg),
          "wavenetvocoder-statistics"));
  gst_message_unref (msg);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

/* Upstream that offers only another rate (audioconvert without
 * audioresample after a 16 kHz source) fails to negotiate before any caps
 * reach the element, and only upstream can post that error (a bare
 * "Internal data stream error"); the element's warning names both rates,
 * as its documentation says. */
static void
test_wrong_rate_upstream (void)
{
  gchar *description =
      g_strdup_printf ("audiotestsrc num-buffers=1 ! "
                       "audio/x-raw, rate=16000, channels=1 ! audioconvert ! "
                       "wavenetvocoder model=\"%s\" ! fakesink",
          vocoder_path);
  GstElement *pipeline = gst_parse_launch (description, NULL);
  GstBus *bus = gst_element_get_bus (pipeline);
  gboolean warned = FALSE, failed = FALSE;

  g_assert_nonnull (pipeline);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  while (!failed) {
    GstMessage *msg = gst_bus_timed_pop_filtered (bus, 20 * GST_SECOND,
        GST_MESSAGE_ERROR | GST_MESSAGE_WARNING | GST_MESSAGE_EOS);
    GError *error = NULL;

    g_assert_nonnull (msg);
    g_assert_cmpint (GST_MESSAGE_TYPE (msg), !=, GST_MESSAGE_EOS);
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_WARNING) {
      gst_message_parse_warning (msg, &error, NULL);
      if (strstr (error->message, "wavenetvocoder runs at the model's rate")) {
        g_assert_nonnull (strstr (error->message, "8000 Hz"));
        g_assert_nonnull (strstr (error->message, "16000 Hz"));
        g_assert_nonnull (strstr (error->message, "audioresample"));
        warned = TRUE;
      }
    } else {
      failed = TRUE;
    }
    g_clear_error (&error);
    gst_message_unref (msg);
  }
  /* the warning is posted in the caps query, before upstream's error */
  g_assert_true (warned);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  g_free (description);
}

/* Input at another rate (as a parser of a 16 kHz file sends it): the caps
 * are refused (not-negotiated) with an error naming both rates; through
 * audioresample the same input runs. */
static void
test_wrong_rate (void)
{
  GstElement *e = gst_element_factory_make ("wavenetvocoder", NULL);
  GstBus *bus = gst_bus_new ();
  gfloat *x = make_signal (0, 100);
  gchar *description, *debug = NULL;
  GError *error = NULL;
  GstMessage *msg, *end;
  GstHarness *h;

  g_object_set (e, "model", vocoder_path, NULL);
  gst_element_set_bus (e, bus);
  h = gst_harness_new_with_element (e, "sink", "src");
  gst_harness_set_src_caps_str (h,
      "audio/x-raw, format=F32LE, rate=16000, "
      "channels=1, layout=interleaved");
  g_assert_cmpint (gst_harness_push (h, make_buffer (x, 100, FALSE, 0, 0)), ==,
      GST_FLOW_NOT_NEGOTIATED);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  g_assert_nonnull (msg);
  gst_message_parse_error (msg, &error, &debug);
  g_test_message ("error: %s (%s)", error->message, debug);
  g_assert_true (g_error_matches (error, GST_CORE_ERROR,
      GST_CORE_ERROR_NEGOTIATION));
  g_assert_nonnull (strstr (error->message, "16000 Hz"));
  g_assert_nonnull (strstr (error->message, "8000 Hz"));
  g_assert_nonnull (strstr (error->message, "audioresample"));
  g_error_free (error);
  g_free (debug);
  gst_message_unref (msg);
  gst_harness_teardown (h);
  gst_element_set_bus (e, NULL);
  gst_object_unref (e);
  gst_object_unref (bus);
  g_free (x);

  description = g_strdup_printf ("audiotestsrc num-buffers=2 ! audio/x-raw, "
                                 "rate=16000 ! audioconvert ! audioresample ! "
                                 "wavenetvocoder "
                                 "model=\"%s\" ! fakesink",
      vocoder_path);
  end = test_run_pipeline (description, NULL);
  g_assert_cmpint (GST_MESSAGE_TYPE (end), ==, GST_MESSAGE_EOS);
  gst_message_unref (end);
  g_free (description);
}

/* A vocoder with global classes speaks as the class global-condition
 * names, by name or by index: libargen's output in that class; another
 * class is another output. */
static void
test_global_condition (void)
{
  const gsize n = 1600;
  const gchar *conditions[] = { "bob", "1", "carol" };
  gfloat *x = make_signal (0, n), *y[3], *ref;
  gsize n_out;

  for (guint i = 0; i < G_N_ELEMENTS (conditions); i++) {
    GstElement *e = gst_element_factory_make ("wavenetvocoder", NULL);
    GPtrArray *buffers;
    GstHarness *h;

    g_object_set (e, "model", class_path, "global-condition", conditions[i],
        "seed", (gint64) 6, "temperature", 1.0f, NULL);
    h = gst_harness_new_with_element (e, "sink", "src");
    gst_object_unref (e);
    gst_harness_set_src_caps_str (h, F32_CAPS);
    buffers = run_vocoder (h, x, n, 500, FALSE, GST_SECOND);
    gst_harness_teardown (h);
    y[i] = buffers_samples (buffers, FALSE, &n_out);
    g_assert_cmpuint (n_out, ==, n);
    g_ptr_array_unref (buffers);
  }
  ref = reference_output_of (class_model, 1, x, n, 6, 1.0f);
  g_assert_cmpmem (y[0], n * sizeof (gfloat), ref, n * sizeof (gfloat));
  g_assert_cmpmem (y[1], n * sizeof (gfloat), ref, n * sizeof (gfloat));
  g_assert_true (memcmp (y[2], ref, n * sizeof (gfloat)) != 0);
  g_free (ref);
  ref = reference_output_of (class_model, 2, x, n, 6, 1.0f);
  g_assert_cmpmem (y[2], n * sizeof (gfloat), ref, n * sizeof (gfloat));
  g_free (ref);
  for (guint i = 0; i < G_N_ELEMENTS (conditions); i++)
    g_free (y[i]);
  g_free (x);
}

static void
check_error (const gchar *model, const gchar *needle1, const gchar *needle2)
{
  gchar *description, *message;

  description = g_strdup_printf ("audiotestsrc num-buffers=1 ! " F32_CAPS
                                 " ! wavenetvocoder %s ! fakesink",
      model);
  message = test_pipeline_error (description);
  g_assert_nonnull (strstr (message, needle1));
  if (needle2 != NULL)
    g_assert_nonnull (strstr (message, needle2));
  g_free (message);
  g_free (description);
}

/* Without a model property, or with an empty one (which restores the
 * default): the embedded vocoder. */
static void
test_default_model (void)
{
  const gchar *models[] = { "", "model=\"\"" };
  GstMessage *end;
  gchar *description;

  for (guint i = 0; i < G_N_ELEMENTS (models); i++) {
    description = g_strdup_printf ("audiotestsrc num-buffers=2 ! audioconvert "
                                   "! audioresample ! wavenetvocoder %s ! "
                                   "fakesink",
        models[i]);
    end = test_run_pipeline (description, NULL);
    g_assert_cmpint (GST_MESSAGE_TYPE (end), ==, GST_MESSAGE_EOS);
    gst_message_unref (end);
    g_free (description);
  }
}

static void
test_errors (void)
{
  gchar *model;

  check_error ("model=/nonexistent/vocoder.gguf", "/nonexistent/vocoder.gguf",
      NULL);
  model = g_strdup_printf ("model=\"%s\"", plain_path);
  check_error (model, plain_path, "no mel conditioning");
  g_free (model);
  /* a class for a vocoder without classes, a class it does not have */
  model = g_strdup_printf ("model=\"%s\" global-condition=alice",
      vocoder_path);
  check_error (model, "has no global condition", NULL);
  g_free (model);
  model = g_strdup_printf ("model=\"%s\" global-condition=dave", class_path);
  check_error (model, "\"dave\" is not a class", "alice, bob, carol");
  g_free (model);
  model = g_strdup_printf ("model=\"%s\" global-condition=3", class_path);
  check_error (model, "0 to 2", NULL);
  g_free (model);
}

int
main (int argc, char **argv)
{
  ArWaveNet *plain;
  int ret;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  test_files_init ();
  vocoder_model = test_make_model (0, 8, MODEL_SEED);
  vocoder_path = test_write_model (vocoder_model, "vocoder.gguf", NULL);
  plain = test_make_model (0, 0, MODEL_SEED + 1);
  plain_path = test_write_model (plain, "plain.gguf", NULL);
  ar_wavenet_unref (plain);
  class_model = test_make_model (3, 8, MODEL_SEED + 2);
  class_path = test_write_model (class_model, "classes.gguf", class_names);

  g_test_add_func ("/wavenetvocoder/properties", test_properties);
  g_test_add_func ("/wavenetvocoder/resynthesis", test_resynthesis);
  g_test_add_func ("/wavenetvocoder/small-buffers", test_small_buffers);
  g_test_add_func ("/wavenetvocoder/global-condition", test_global_condition);
  g_test_add_func ("/wavenetvocoder/s16", test_s16);
  g_test_add_func ("/wavenetvocoder/seed-and-temperature",
      test_seed_and_temperature);
  g_test_add_func ("/wavenetvocoder/temperature-controlled",
      test_temperature_controlled);
  g_test_add_func ("/wavenetvocoder/latency", test_latency);
  g_test_add_func ("/wavenetvocoder/flush-resets", test_flush_resets);
  g_test_add_func ("/wavenetvocoder/bytes-segment", test_bytes_segment);
  g_test_add_func ("/wavenetvocoder/empty-buffers", test_empty_buffers);
  g_test_add_func ("/wavenetvocoder/partial-sample", test_partial_sample);
  g_test_add_data_func ("/wavenetvocoder/discont/flagged", &disconts[0],
      test_discont);
  g_test_add_data_func ("/wavenetvocoder/discont/timestamp-gap", &disconts[1],
      test_discont);
  g_test_add_data_func ("/wavenetvocoder/discont/timestamp-back", &disconts[2],
      test_discont);
  g_test_add_func ("/wavenetvocoder/timestamp-jitter", test_timestamp_jitter);
  g_test_add_func ("/wavenetvocoder/late-timestamps", test_late_timestamps);
  g_test_add_func ("/wavenetvocoder/retimed-live-input",
      test_retimed_live_input);
  g_test_add_func ("/wavenetvocoder/caps-change", test_caps_change);
  g_test_add_func ("/wavenetvocoder/wrong-rate-upstream",
      test_wrong_rate_upstream);
  g_test_add_func ("/wavenetvocoder/statistics", test_statistics);
  g_test_add_func ("/wavenetvocoder/no-statistics-unnegotiated",
      test_no_statistics_unnegotiated);
  g_test_add_func ("/wavenetvocoder/wrong-rate", test_wrong_rate);
  g_test_add_func ("/wavenetvocoder/default-model", test_default_model);
  g_test_add_func ("/wavenetvocoder/errors", test_errors);

  ret = g_test_run ();

  ar_wavenet_unref (vocoder_model);
  ar_wavenet_unref (class_model);
  test_files_clear ();
  gst_deinit ();
  return ret;
}
