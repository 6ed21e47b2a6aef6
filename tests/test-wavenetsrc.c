/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-wavenetsrc.c — the wavenetsrc element through GstHarness and small
 * pipelines, with small random models written to a temporary directory:
 * properties as gst-inspect shows them; caps negotiation of every format
 * and refusal of another rate; agreement, byte for byte, with libargen's
 * own generation in each format, de-emphasised for a model with a
 * pre-emphasis; reproducibility; offsets and timestamps;
 * the CONVERT query; num-buffers; threads; global conditioning; temperature
 * changed while playing (directly and through a control binding); live
 * operation and latency; seeking; statistics (at every end of the stream);
 * the default model; and model errors (in-process and through
 * gst-launch-1.0).
 *
 * Runs with the plugin of this build (GST_PLUGIN_PATH_1_0, tests/meson.build). */

#include <gst/gst.h>
#include <gst/check/gstharness.h>
#include <gst/check/gsttestclock.h>
#include <gst/controller/gstdirectcontrolbinding.h>
#include <gst/controller/gstinterpolationcontrolsource.h>

#include <math.h>
#include <string.h>

#include "data/ar-audio.h"
#include "test-util.h"
#include "test-wavenet-util.h"

#define MODEL_SEED 11

static ArWaveNet *plain_model; /* unconditional */
static ArWaveNet *class_model; /* 3 global classes */
static const gchar *plain_path, *class_path, *vocoder_path;
static const char *const class_names[] = { "alice", "bob", "carol" };

/* ---- helpers ----------------------------------------------------------- */

static GstHarness *
new_src_valist (const gchar *caps, const gchar *first_property, va_list args)
{
  GstHarness *h = gst_harness_new ("wavenetsrc");

  g_object_set (h->element, "model", plain_path, NULL);
  if (first_property != NULL)
    g_object_set_valist (G_OBJECT (h->element), first_property, args);
  if (caps != NULL)
    gst_harness_set_sink_caps_str (h, caps);
  return h;
}

/* Runs a wavenetsrc (the plain model unless a property says otherwise)
 * with downstream @caps (NULL: anything) and the given properties to EOS;
 * returns its buffers.  The properties must include num-buffers. */
static GPtrArray *generate_buffers (const gchar *caps,
    const gchar *first_property, ...) G_GNUC_NULL_TERMINATED;
static GPtrArray *
generate_buffers (const gchar *caps, const gchar *first_property, ...)
{
  GPtrArray *buffers;
  GstHarness *h;
  va_list args;

  va_start (args, first_property);
  h = new_src_valist (caps, first_property, args);
  va_end (args);

  gst_harness_play (h);
  buffers = test_pull_until_eos (h);
  gst_harness_teardown (h);
  return buffers;
}

/* The same, as one GBytes. */
static GBytes *generate_bytes (const gchar *caps, const gchar *first_property,
    ...) G_GNUC_NULL_TERMINATED;
static GBytes *
generate_bytes (const gchar *caps, const gchar *first_property, ...)
{
  GPtrArray *buffers;
  GstHarness *h;
  GBytes *bytes;
  va_list args;

  va_start (args, first_property);
  h = new_src_valist (caps, first_property, args);
  va_end (args);

  gst_harness_play (h);
  buffers = test_pull_until_eos (h);
  gst_harness_teardown (h);
  bytes = test_buffers_bytes (buffers);
  g_ptr_array_unref (buffers);
  return bytes;
}

/* libargen's own generation: @n classes from @seed at @temperature, with
 * global class @cls (-1: none). */
static guint8 *
reference_classes (ArWaveNet *wn, guint64 seed, gsize n, gfloat temperature,
    int cls)
{
  ArWaveNetGen *g = ar_wavenet_gen_new (wn);
  guint8 *out = g_malloc (n);
  GError *error = NULL;

  ar_wavenet_gen_set_temperature (g, temperature);
  g_assert_true (ar_wavenet_gen_set_global_class (g, cls, &error));
  g_assert_no_error (error);
  ar_wavenet_gen_reset (g, seed);
  ar_wavenet_gen_generate (g, out, n);
  ar_wavenet_gen_free (g);
  return out;
}

/* The classes behind F32LE samples (the decoder's values are exact). */
static guint8 *
classes_of_f32 (GBytes *bytes, gsize *n)
{
  gsize size, i;
  const guint8 *data = g_bytes_get_data (bytes, &size);
  guint8 *out = g_malloc (size / 4 + 1);
  gfloat table[256];
  guint q;

  for (q = 0; q < 256; q++)
    table[q] = ar_mulaw_decode ((guint8) q);
  *n = size / 4;
  for (i = 0; i < *n; i++) {
    guint32 bits;
    gfloat x;

    memcpy (&bits, data + 4 * i, 4);
    bits = GUINT32_FROM_LE (bits);
    memcpy (&x, &bits, 4);
    for (q = 0; q < 256 && table[q] != x; q++)
      ;
    g_assert_cmpuint (q, <, 256);
    out[i] = (guint8) q;
  }
  return out;
}

/* ---- properties -------------------------------------------------------- */

static void
test_properties (void)
{
  GstElement *src = gst_element_factory_make ("wavenetsrc", NULL);
  GParamSpec *p;
  GParamSpecInt *pi;
  GParamSpecInt64 *pi64;
  GstElementClass *klass;
  GstPadTemplate *templ;
  GstCaps *caps, *expected;

  test_assert_blurbs ("wavenetsrc");
  test_assert_media_properties (G_OBJECT (src),
      "resource:///org/gstreamer/argen/defaults/wavenet-speech.gguf", 1.0f,
      AR_WAVENET_GEN_MAX_THREADS);

  pi = G_PARAM_SPEC_INT (test_find_property (G_OBJECT (src), "samplesperbuffer",
      G_TYPE_PARAM_INT));
  g_assert_cmpint (pi->minimum, ==, 1);
  g_assert_cmpint (pi->default_value, ==, 1024);

  p = test_find_property (G_OBJECT (src), "is-live", G_TYPE_PARAM_BOOLEAN);
  g_assert_false (G_PARAM_SPEC_BOOLEAN (p)->default_value);

  pi64 = G_PARAM_SPEC_INT64 (test_find_property (G_OBJECT (src),
      "timestamp-offset", G_TYPE_PARAM_INT64));
  g_assert_cmpint (pi64->default_value, ==, 0);

  p = test_find_property (G_OBJECT (src), "global-condition",
      G_TYPE_PARAM_STRING);
  g_assert_null (G_PARAM_SPEC_STRING (p)->default_value);

  /* GstBaseSrc's */
  test_find_property (G_OBJECT (src), "num-buffers", G_TYPE_PARAM_INT);

  klass = GST_ELEMENT_GET_CLASS (src);
  g_assert_cmpstr (gst_element_class_get_metadata (klass,
                       GST_ELEMENT_METADATA_KLASS),
      ==, "Source/Audio");
  templ = gst_element_class_get_pad_template (klass, "src");
  caps = gst_pad_template_get_caps (templ);
  expected =
      gst_caps_from_string ("audio/x-raw, format={S16LE,F32LE}, "
                            "rate=[1,MAX], channels=1, layout=interleaved; "
                            "audio/x-mulaw, rate=[1,MAX], channels=1");
  g_assert_true (gst_caps_is_equal (caps, expected));
  gst_caps_unref (caps);
  gst_caps_unref (expected);
  gst_object_unref (src);
}

/* ---- formats ------------------------------------------------------------ */

/* Each format carries the same samples libargen generates with the same
 * seed: decoded µ-law classes as floats, as 16-bit integers, and as G.711
 * bytes coded from those integers. */
static void
test_formats (void)
{
  const gsize n = 3 * 500;
  guint8 *ref = reference_classes (plain_model, 5, n, 1.0f, -1);
  static const struct
  {
    const gchar *caps;
    const gchar *name;
    const gchar *format;
    gsize bpf;
  } formats[] = {
    { "audio/x-raw, format=F32LE", "audio/x-raw", "F32LE", 4 },
    { "audio/x-raw, format=S16LE", "audio/x-raw", "S16LE", 2 },
    { "audio/x-mulaw", "audio/x-mulaw", NULL, 1 },
    { NULL, "audio/x-raw", "S16LE", 2 }, /* the default */
  };
  guint f;

  for (f = 0; f < G_N_ELEMENTS (formats); f++) {
    GstHarness *h = gst_harness_new ("wavenetsrc");
    GPtrArray *buffers;
    GstStructure *s;
    GstCaps *caps;
    GBytes *bytes;
    const guint8 *data;
    gsize size, i;
    gint rate, channels;

    g_object_set (h->element, "model", plain_path, "seed", (gint64) 5,
        "samplesperbuffer", 500, "num-buffers", 3, NULL);
    if (formats[f].caps != NULL)
      gst_harness_set_sink_caps_str (h, formats[f].caps);
    gst_harness_play (h);
    buffers = test_pull_until_eos (h);
    g_assert_cmpuint (buffers->len, ==, 3);

    caps = gst_pad_get_current_caps (h->sinkpad);
    {
      gchar *text = gst_caps_to_string (caps);

      g_test_message ("negotiated %s", text);
      g_free (text);
    }
    s = gst_caps_get_structure (caps, 0);
    g_assert_cmpstr (gst_structure_get_name (s), ==, formats[f].name);
    g_assert_cmpstr (gst_structure_get_string (s, "format"), ==,
        formats[f].format);
    g_assert_true (gst_structure_get_int (s, "rate", &rate));
    g_assert_cmpint (rate, ==, TEST_RATE);
    g_assert_true (gst_structure_get_int (s, "channels", &channels));
    g_assert_cmpint (channels, ==, 1);
    gst_caps_unref (caps);

    bytes = test_buffers_bytes (buffers);
    data = g_bytes_get_data (bytes, &size);
    g_assert_cmpuint (size, ==, n * formats[f].bpf);
    for (i = 0; i < n; i++) {
      gfloat x = ar_mulaw_decode (ref[i]);
      gint16 s16 = (gint16) lrintf (x * 32767.0f);

      if (formats[f].bpf == 4) {
        guint32 bits;
        gfloat y;

        memcpy (&bits, data + 4 * i, 4);
        bits = GUINT32_FROM_LE (bits);
        memcpy (&y, &bits, 4);
        g_assert_cmpfloat (y, ==, x);
      } else if (formats[f].bpf == 2) {
        gint16 y = (gint16) (data[2 * i] | (data[2 * i + 1] << 8));

        g_assert_cmpint (y, ==, s16);
      } else {
        g_assert_cmpuint (data[i], ==, ar_g711_ulaw_encode (s16));
      }
    }
    g_bytes_unref (bytes);
    g_ptr_array_unref (buffers);
    gst_harness_teardown (h);
  }
  g_free (ref);
}

/* What a model's decode does besides ar_mulaw_decode. */
typedef struct
{
  const gchar *file;
  gfloat pre_emphasis;
  gfloat highpass;
} Decode;

static const Decode decodes[] = {
  { "emphasis.gguf", 0.85f, 0.0f },
  { "highpass.gguf", 0.0f, 100.0f },
  { "both.gguf", 0.85f, 100.0f },
};

/* A model with a pre-emphasis, an output high-pass or both: the classes
 * libargen draws (the network ignores both, so they are the plain
 * model's), de-emphasised and filtered by hand, carried across buffers,
 * then converted to each format as the tables convert a class. */
static void
test_filtered_decode (gconstpointer data)
{
  const Decode *d = data;
  const gsize n = 3 * 500;
  const gfloat alpha = d->pre_emphasis;
  ArWaveNetConfig config = *ar_wavenet_get_config (plain_model);
  ArWaveNet *emph;
  const gchar *emph_path;
  GError *error = NULL;
  guint8 *ref;
  gfloat *want;
  gsize i;
  guint f, differ = 0;
  static const gchar *const caps[] = { "audio/x-raw, format=F32LE",
    "audio/x-raw, format=S16LE", "audio/x-mulaw" };

  config.pre_emphasis = alpha;
  config.highpass = d->highpass;
  emph = ar_wavenet_new_random (&config, MODEL_SEED, &error);
  g_assert_no_error (error);
  g_assert_false (ar_wavenet_decode_is_stateless (emph));
  emph_path = test_write_model (emph, d->file, NULL);
  ref = reference_classes (emph, 5, n, 1.0f, -1);
  want = g_new (gfloat, n);
  test_decode_by_hand (ref, n, alpha, d->highpass, config.sample_rate, want);
  for (i = 0; i < n; i++)
    differ += want[i] != ar_mulaw_decode (ref[i]);
  g_assert_cmpuint (differ, >, n / 2);

  for (f = 0; f < G_N_ELEMENTS (caps); f++) {
    GBytes *bytes = generate_bytes (caps[f], "model", emph_path, "seed",
        (gint64) 5, "samplesperbuffer", 500, "num-buffers", 3, NULL);
    gsize size;
    const guint8 *data = g_bytes_get_data (bytes, &size);

    g_test_message ("%s", caps[f]);
    g_assert_cmpuint (size, ==, n * (f == 0 ? 4 : f == 1 ? 2 : 1));
    for (i = 0; i < n; i++) {
      gint16 s16 = (gint16) lrintf (want[i] * 32767.0f);

      if (f == 0) {
        guint32 bits;
        gfloat y;

        memcpy (&bits, data + 4 * i, 4);
        bits = GUINT32_FROM_LE (bits);
        memcpy (&y, &bits, 4);
        g_assert_cmpfloat (y, ==, want[i]);
      } else if (f == 1) {
        gint16 y = (gint16) (data[2 * i] | (data[2 * i + 1] << 8));

        g_assert_cmpint (y, ==, s16);
      } else {
        g_assert_cmpuint (data[i], ==, ar_g711_ulaw_encode (s16));
      }
    }
    g_bytes_unref (bytes);
  }
  g_free (want);
  g_free (ref);
  ar_wavenet_unref (emph);
}

/* Another rate downstream: not-negotiated, and an error naming both
 * rates; through audioresample the same rate works. */
static void
test_wrong_rate (void)
{
  gchar *description, *message;
  GstMessage *end;

  description = g_strdup_printf ("wavenetsrc model=\"%s\" num-buffers=2 ! "
                                 "audio/x-raw, rate=16000 ! fakesink",
      plain_path);
  message = test_pipeline_error (description);
  g_assert_nonnull (strstr (message, "16000"));
  g_assert_nonnull (strstr (message, "8000 Hz"));
  g_assert_nonnull (strstr (message, "audioresample"));
  g_free (message);
  g_free (description);

  description = g_strdup_printf ("wavenetsrc model=\"%s\" num-buffers=2 "
                                 "samplesperbuffer=400 ! audioresample ! "
                                 "audio/x-raw, rate=16000 ! "
                                 "fakesink",
      plain_path);
  end = test_run_pipeline (description, NULL);
  g_assert_cmpint (GST_MESSAGE_TYPE (end), ==, GST_MESSAGE_EOS);
  gst_message_unref (end);
  g_free (description);
}

/* ---- stream ------------------------------------------------------------- */

static void
test_same_seed_same_bytes (void)
{
  GBytes *a, *b, *c;

  a = generate_bytes ("audio/x-mulaw", "seed", (gint64) 7, "num-buffers", 3,
      "samplesperbuffer", 300, NULL);
  b = generate_bytes ("audio/x-mulaw", "seed", (gint64) 7, "num-buffers", 3,
      "samplesperbuffer", 300, NULL);
  c = generate_bytes ("audio/x-mulaw", "seed", (gint64) 8, "num-buffers", 3,
      "samplesperbuffer", 300, NULL);
  g_assert_cmpuint (g_bytes_get_size (a), ==, 900);
  g_assert_true (g_bytes_equal (a, b));
  g_assert_false (g_bytes_equal (a, c));
  g_bytes_unref (a);
  g_bytes_unref (b);
  g_bytes_unref (c);
}

/* Offsets count samples, contiguously; timestamps are those counts scaled
 * (300 samples is 37.5 ms: no drift from rounding), plus the offset. */
static void
test_timestamps (void)
{
  const GstClockTime ts_offset = GST_SECOND + 7;
  GPtrArray *buffers;
  guint64 next = 0;
  guint i;

  buffers = generate_buffers (NULL, "seed", (gint64) 1, "num-buffers", 7,
      "samplesperbuffer", 300, "timestamp-offset", (gint64) ts_offset, NULL);
  g_assert_cmpuint (buffers->len, ==, 7);
  for (i = 0; i < buffers->len; i++) {
    GstBuffer *buf = g_ptr_array_index (buffers, i);
    GstClockTime t = gst_util_uint64_scale (next, GST_SECOND, TEST_RATE);
    GstClockTime e = gst_util_uint64_scale (next + 300, GST_SECOND, TEST_RATE);

    g_assert_cmpuint (GST_BUFFER_OFFSET (buf), ==, next);
    g_assert_cmpuint (GST_BUFFER_OFFSET_END (buf), ==, next + 300);
    g_assert_cmpuint (gst_buffer_get_size (buf), ==, 600);
    g_assert_cmpuint (GST_BUFFER_PTS (buf), ==, ts_offset + t);
    g_assert_cmpuint (GST_BUFFER_DURATION (buf), ==, e - t);
    next += 300;
  }
  g_ptr_array_unref (buffers);
}

/* The CONVERT query between samples, bytes (F32LE: 4 a sample) and time. */
static void
test_convert (void)
{
  static const struct
  {
    GstFormat from;
    gint64 value;
    GstFormat to;
    gint64 expected;
  } cases[] = {
    { GST_FORMAT_TIME, GST_SECOND, GST_FORMAT_DEFAULT, TEST_RATE },
    { GST_FORMAT_TIME, GST_SECOND, GST_FORMAT_BYTES, 4 * TEST_RATE },
    { GST_FORMAT_BYTES, 4000, GST_FORMAT_TIME, GST_SECOND / 8 },
    { GST_FORMAT_DEFAULT, 3, GST_FORMAT_TIME, 375000 },
  };
  GstHarness *h;
  GstPad *srcpad;
  guint i;

  h = gst_harness_new ("wavenetsrc");
  g_object_set (h->element, "model", plain_path, "num-buffers", 1, NULL);
  gst_harness_set_sink_caps_str (h, "audio/x-raw, format=F32LE");
  gst_harness_play (h);
  gst_buffer_unref (gst_harness_pull (h));
  srcpad = gst_element_get_static_pad (h->element, "src");
  for (i = 0; i < G_N_ELEMENTS (cases); i++) {
    GstQuery *query =
        gst_query_new_convert (cases[i].from, cases[i].value, cases[i].to);
    gint64 result;

    g_assert_true (gst_pad_query (srcpad, query));
    gst_query_parse_convert (query, NULL, NULL, NULL, &result);
    g_assert_cmpint (result, ==, cases[i].expected);
    gst_query_unref (query);
  }
  gst_object_unref (srcpad);
  gst_harness_teardown (h);
}

static void
test_num_buffers (void)
{
  GPtrArray *buffers;
  GstBuffer *last;

  buffers =
      generate_buffers (NULL, "num-buffers", 4, "samplesperbuffer", 100, NULL);
  g_assert_cmpuint (buffers->len, ==, 4);
  last = g_ptr_array_index (buffers, 3);
  g_assert_cmpuint (GST_BUFFER_OFFSET_END (last), ==, 400);
  g_ptr_array_unref (buffers);
}

/* The samples do not depend on the thread count. */
static void
test_threads (void)
{
  GBytes *one, *two;

  one = generate_bytes ("audio/x-mulaw", "seed", (gint64) 4, "num-buffers", 2,
      "samplesperbuffer", 400, "threads", 1u, NULL);
  two = generate_bytes ("audio/x-mulaw", "seed", (gint64) 4, "num-buffers", 2,
      "samplesperbuffer", 400, "threads", 2u, NULL);
  g_assert_true (g_bytes_equal (one, two));
  g_bytes_unref (one);
  g_bytes_unref (two);
}

/* A class by name or by index is the same class, the one libargen uses;
 * another class sounds different. */
static void
test_global_condition (void)
{
  const gchar *f32 = "audio/x-raw, format=F32LE";
  GBytes *by_name, *by_index, *other;
  guint8 *ref, *got;
  gsize n;

  by_name = generate_bytes (f32, "model", class_path, "global-condition", "bob",
      "seed", (gint64) 2, "num-buffers", 2, "samplesperbuffer", 400, NULL);
  by_index = generate_bytes (f32, "model", class_path, "global-condition", "1",
      "seed", (gint64) 2, "num-buffers", 2, "samplesperbuffer", 400, NULL);
  other = generate_bytes (f32, "model", class_path, "global-condition", "carol",
      "seed", (gint64) 2, "num-buffers", 2, "samplesperbuffer", 400, NULL);
  g_assert_true (g_bytes_equal (by_name, by_index));
  g_assert_false (g_bytes_equal (by_name, other));

  got = classes_of_f32 (by_name, &n);
  g_assert_cmpuint (n, ==, 800);
  ref = reference_classes (class_model, 2, n, 1.0f, 1);
  g_assert_cmpmem (got, n, ref, n);
  g_free (got);
  g_free (ref);
  g_bytes_unref (by_name);
  g_bytes_unref (by_index);
  g_bytes_unref (other);
}

/* ---- temperature while playing ----------------------------------------- */

/* A control source drops the temperature to 0 at 0.25 s (sample 2000, the
 * start of the ninth buffer of 250): the element syncs controlled values at
 * each buffer's stream time, so the stream is libargen's at temperature 1
 * up to there and greedy from there, exactly. */
static void
test_temperature_controlled (void)
{
  GstControlSource *cs = gst_interpolation_control_source_new ();
  GstTimedValueControlSource *tvcs = GST_TIMED_VALUE_CONTROL_SOURCE (cs);
  const gsize n = 16 * 250, change = 2000;
  ArWaveNetGen *g;
  GstHarness *h;
  GPtrArray *buffers;
  GBytes *bytes;
  guint8 *got, *ref;
  gsize n_got;

  g_object_set (cs, "mode", GST_INTERPOLATION_MODE_NONE, NULL);
  gst_timed_value_control_source_set (tvcs, 0, 1.0);
  gst_timed_value_control_source_set (tvcs, GST_SECOND / 4, 0.0);

  h = gst_harness_new ("wavenetsrc");
  g_object_set (h->element, "model", plain_path, "seed", (gint64) 21,
      "samplesperbuffer", 250, "num-buffers", 16, NULL);
  gst_object_add_control_binding (GST_OBJECT (h->element),
      gst_direct_control_binding_new_absolute (GST_OBJECT (h->element),
          "temperature", cs));
  gst_harness_set_sink_caps_str (h, "audio/x-raw, format=F32LE");
  gst_harness_play (h);
  buffers = test_pull_until_eos (h);
  gst_harness_teardown (h);
  bytes = test_buffers_bytes (buffers);
  got = classes_of_f32 (bytes, &n_got);
  g_assert_cmpuint (n_got, ==, n);

  ref = g_malloc (n);
  g = ar_wavenet_gen_new (plain_model);
  ar_wavenet_gen_reset (g, 21);
  ar_wavenet_gen_set_temperature (g, 1.0f);
  ar_wavenet_gen_generate (g, ref, change);
  ar_wavenet_gen_set_temperature (g, 0.0f);
  ar_wavenet_gen_generate (g, ref + change, n - change);
  ar_wavenet_gen_free (g);
  g_assert_cmpmem (got, n, ref, n);

  /* And the first part really was sampled: it differs from greedy. */
  g_free (ref);
  ref = reference_classes (plain_model, 21, change, 0.0f, -1);
  g_assert_true (memcmp (got, ref, change) != 0);

  g_free (ref);
  g_free (got);
  g_bytes_unref (bytes);
  g_ptr_array_unref (buffers);
  gst_object_unref (cs);
}

/* The property set directly while playing: from the next buffer on the
 * samples are the greedy continuation of what came before. */
static void
test_temperature_while_playing (void)
{
  const gsize spb = 200;
  GPtrArray *history =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);
  GPtrArray *rest =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);
  GBytes *history_bytes, *rest_bytes;
  guint8 *hist, *after, *expected;
  gsize n_hist, n_after;
  ArWaveNetGen *g;
  GstHarness *h;
  gfloat *logits;
  guint i;

  h = gst_harness_new ("wavenetsrc");
  g_object_set (h->element, "model", plain_path, "seed", (gint64) 9,
      "samplesperbuffer", (gint) spb, "num-buffers", 12, NULL);
  gst_harness_set_sink_caps_str (h, "audio/x-raw, format=F32LE");
  /* The source runs at most one buffer ahead of what the test pulled. */
  gst_harness_set_blocking_push_mode (h);
  gst_harness_play (h);

  /* Four buffers at temperature 1; the fifth may have been generated
   * before or after the change: all of it is history. */
  for (i = 0; i < 5; i++) {
    if (i == 4)
      g_object_set (h->element, "temperature", 0.0f, NULL);
    g_ptr_array_add (history, gst_harness_pull (h));
  }
  for (i = 5; i < 12; i++)
    g_ptr_array_add (rest, gst_harness_pull (h));
  gst_harness_teardown (h);

  history_bytes = test_buffers_bytes (history);
  rest_bytes = test_buffers_bytes (rest);
  hist = classes_of_f32 (history_bytes, &n_hist);
  after = classes_of_f32 (rest_bytes, &n_after);
  g_assert_cmpuint (n_hist, ==, 5 * spb);
  g_assert_cmpuint (n_after, ==, 7 * spb);

  /* libargen fed the history, then greedy. */
  g = ar_wavenet_gen_new (plain_model);
  ar_wavenet_gen_reset (g, 9);
  logits = g_new (gfloat, n_hist * 256);
  ar_wavenet_gen_feed (g, hist, n_hist, logits);
  ar_wavenet_gen_set_temperature (g, 0.0f);
  expected = g_malloc (n_after);
  ar_wavenet_gen_generate (g, expected, n_after);
  ar_wavenet_gen_free (g);
  g_assert_cmpmem (after, n_after, expected, n_after);

  g_free (logits);
  g_free (expected);
  g_free (hist);
  g_free (after);
  g_bytes_unref (history_bytes);
  g_bytes_unref (rest_bytes);
  g_ptr_array_unref (history);
  g_ptr_array_unref (rest);
}

/* ---- live --------------------------------------------------------------- */

static void
test_live (void)
{
  GstHarness *h = gst_harness_new ("wavenetsrc");
  GstClockTime min_latency, max_latency;
  GstTestClock *clock;
  GstBuffer *buf;
  gboolean live;
  GstQuery *query;
  GstPad *srcpad;

  g_object_set (h->element, "model", plain_path, "is-live", TRUE,
      "samplesperbuffer", 400, "seed", (gint64) 1, "num-buffers", 10, NULL);
  gst_harness_play (h);

  /* One buffer of latency: 400 samples at 8 kHz. */
  srcpad = gst_element_get_static_pad (h->element, "src");
  query = gst_query_new_latency ();
  g_assert_true (gst_pad_query (srcpad, query));
  gst_query_parse_latency (query, &live, &min_latency, &max_latency);
  g_assert_true (live);
  g_assert_cmpuint (min_latency, ==, 50 * GST_MSECOND);
  g_assert_cmpuint (max_latency, >=, min_latency);
  gst_query_unref (query);

  /* Each buffer waits for the clock to reach its timestamp. */
  clock = gst_harness_get_testclock (h);
  g_assert_true (gst_harness_crank_single_clock_wait (h));
  buf = gst_harness_pull (h);
  g_assert_cmpuint (GST_BUFFER_PTS (buf), ==, 0);
  gst_buffer_unref (buf);
  g_assert_true (gst_harness_crank_single_clock_wait (h));
  buf = gst_harness_pull (h);
  g_assert_cmpuint (GST_BUFFER_PTS (buf), ==, 50 * GST_MSECOND);
  g_assert_cmpuint (gst_clock_get_time (GST_CLOCK (clock)), ==,
      GST_BUFFER_PTS (buf));
  gst_buffer_unref (buf);

  /* A new buffer size changes the latency. */
  g_object_set (h->element, "samplesperbuffer", 800, NULL);
  query = gst_query_new_latency ();
  g_assert_true (gst_pad_query (srcpad, query));
  gst_query_parse_latency (query, &live, &min_latency, NULL);
  g_assert_cmpuint (min_latency, ==, 100 * GST_MSECOND);
  gst_query_unref (query);

  gst_object_unref (srcpad);
  gst_object_unref (clock);
  gst_harness_teardown (h);

  /* Not live: no latency of its own. */
  h = gst_harness_new ("wavenetsrc");
  g_object_set (h->element, "model", plain_path, NULL);
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

/* A live source is not seekable: the seek is refused, the SEEKING query
 * says so, and the stream goes on where it was.  (Accepted, a seek to 1 s
 * restarted the timestamps at 1 s and the base class waited that second
 * of running time before the next buffer.) */
static void
test_live_not_seekable (void)
{
  GstHarness *h = gst_harness_new ("wavenetsrc");
  gboolean seekable = TRUE;
  GstBuffer *buf;
  GstQuery *query;
  guint64 next = 0;
  guint i;

  g_object_set (h->element, "model", plain_path, "is-live", TRUE,
      "samplesperbuffer", 400, "seed", (gint64) 1, NULL);
  gst_harness_play (h);

  query = gst_query_new_seeking (GST_FORMAT_TIME);
  g_assert_true (gst_element_query (h->element, query));
  gst_query_parse_seeking (query, NULL, &seekable, NULL, NULL);
  g_assert_false (seekable);
  gst_query_unref (query);

  for (i = 0; i < 4; i++) {
    if (i == 2)
      g_assert_false (gst_element_seek_simple (h->element, GST_FORMAT_TIME,
          GST_SEEK_FLAG_FLUSH, GST_SECOND));
    g_assert_true (gst_harness_crank_single_clock_wait (h));
    buf = gst_harness_pull (h);
    g_assert_cmpuint (GST_BUFFER_OFFSET (buf), ==, next);
    g_assert_cmpuint (GST_BUFFER_PTS (buf), ==,
        gst_util_uint64_scale_int (next, GST_SECOND, 8000));
    next = GST_BUFFER_OFFSET_END (buf);
    gst_buffer_unref (buf);
  }
  gst_harness_teardown (h);

  /* Not live, it seeks. */
  h = gst_harness_new ("wavenetsrc");
  g_object_set (h->element, "model", plain_path, "num-buffers", 1, NULL);
  gst_harness_play (h);
  query = gst_query_new_seeking (GST_FORMAT_TIME);
  g_assert_true (gst_element_query (h->element, query));
  gst_query_parse_seeking (query, NULL, &seekable, NULL, NULL);
  g_assert_true (seekable);
  gst_query_unref (query);
  gst_harness_teardown (h);
}

/* ---- seeking ------------------------------------------------------------ */

typedef struct
{
  GMutex lock;
  GPtrArray *buffers;
} Collected;

static void
on_handoff (GstElement *sink, GstBuffer *buffer, GstPad *pad,
    gpointer user_data)
{
  Collected *c = user_data;

  g_mutex_lock (&c->lock);
  g_ptr_array_add (c->buffers, gst_buffer_ref (buffer));
  g_mutex_unlock (&c->lock);
}

/* Buffers before a flush are not the ones the test wants. */
static GstPadProbeReturn
on_flush (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Collected *c = user_data;

  if (GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info)) ==
      GST_EVENT_FLUSH_STOP) {
    g_mutex_lock (&c->lock);
    g_ptr_array_set_size (c->buffers, 0);
    g_mutex_unlock (&c->lock);
  }
  return GST_PAD_PROBE_OK;
}

/* A flushing seek back to the start with a stop position: the stream
 * starts again, identical to a fresh one, and ends at the stop, inside a
 * buffer.  Backwards is refused. */
static void
test_seek (void)
{
  Collected c = {
    0,
  };
  GstElement *pipeline, *sink;
  GError *error = NULL;
  GstMessage *msg;
  GstPad *pad;
  GstBus *bus;
  GBytes *expected, *got;
  gchar *description;
  guint64 next = 0;
  guint i;

  /* 1000 samples: two and a half buffers of 400. */
  got = generate_bytes (NULL, "seed", (gint64) 3, "num-buffers", 3,
      "samplesperbuffer", 400, NULL);
  expected = g_bytes_new_from_bytes (got, 0, 2000);
  g_bytes_unref (got);

  c.buffers =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);
  g_mutex_init (&c.lock);
  description =
      g_strdup_printf ("wavenetsrc model=\"%s\" seed=3 "
                       "samplesperbuffer=400 ! fakesink name=sink sync=false "
                       "signal-handoffs=true",
          plain_path);
  pipeline = gst_parse_launch (description, &error);
  g_assert_no_error (error);
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  g_signal_connect (sink, "handoff", G_CALLBACK (on_handoff), &c);
  pad = gst_element_get_static_pad (sink, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_EVENT_FLUSH, on_flush, &c, NULL);

  g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PAUSED), !=,
      GST_STATE_CHANGE_FAILURE);
  g_assert_cmpint (gst_element_get_state (pipeline, NULL, NULL,
                       10 * GST_SECOND),
      ==, GST_STATE_CHANGE_SUCCESS);
  g_assert_false (gst_element_seek (pipeline, -1.0, GST_FORMAT_TIME,
      GST_SEEK_FLAG_FLUSH, GST_SEEK_TYPE_SET, 0, GST_SEEK_TYPE_SET,
      GST_SECOND));
  g_assert_true (gst_element_seek (pipeline, 1.0, GST_FORMAT_TIME,
      GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_ACCURATE, GST_SEEK_TYPE_SET, 0,
      GST_SEEK_TYPE_SET, gst_util_uint64_scale (1000, GST_SECOND, TEST_RATE)));
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  bus = gst_element_get_bus (pipeline);
  msg = gst_bus_timed_pop_filtered (bus, 30 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull (msg);
  g_assert_cmpint (GST_MESSAGE_TYPE (msg), ==, GST_MESSAGE_EOS);
  gst_message_unref (msg);
  gst_element_set_state (pipeline, GST_STATE_NULL);

  g_assert_cmpuint (c.buffers->len, ==, 3);
  for (i = 0; i < c.buffers->len; i++) {
    GstBuffer *buf = g_ptr_array_index (c.buffers, i);

    g_assert_cmpuint (GST_BUFFER_OFFSET (buf), ==, next);
    next = GST_BUFFER_OFFSET_END (buf);
  }
  g_assert_cmpuint (next, ==, 1000);
  got = test_buffers_bytes (c.buffers);
  g_assert_true (g_bytes_equal (got, expected));

  g_bytes_unref (got);
  g_bytes_unref (expected);
  gst_object_unref (bus);
  gst_object_unref (pad);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  g_ptr_array_unref (c.buffers);
  g_mutex_clear (&c.lock);
  g_free (description);
}

/* ---- statistics --------------------------------------------------------- */

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

  description = g_strdup_printf ("wavenetsrc model=\"%s\" num-buffers=5 "
                                 "samplesperbuffer=400 seed=2 ! fakesink",
      plain_path);
  end = test_run_pipeline (description, messages);
  g_assert_cmpint (GST_MESSAGE_TYPE (end), ==, GST_MESSAGE_EOS);
  gst_message_unref (end);

  s = test_find_statistics (messages, "wavenetsrc-statistics");
  g_assert_nonnull (s);
  g_assert_true (gst_structure_get_uint64 (s, "samples", &samples));
  g_assert_true (gst_structure_get_double (s, "seconds", &seconds));
  g_assert_true (gst_structure_get_double (s, "samples-per-second",
      &per_second));
  g_assert_true (gst_structure_get_double (s, "real-time-factor", &rtf));
  g_assert_cmpuint (samples, ==, 2000);
  g_assert_cmpfloat (seconds, >, 0.0);
  g_assert_cmpfloat_with_epsilon (per_second, samples / seconds,
      1e-9 * per_second);
  g_assert_cmpfloat_with_epsilon (rtf, per_second / TEST_RATE, 1e-9 * rtf);
  g_test_message ("%" G_GUINT64_FORMAT " samples in %.4f s: %.0f samples/s, "
                  "%.1f x real time",
      samples, seconds, per_second, rtf);
  g_ptr_array_unref (messages);
  g_free (description);
}

/* Plays @pipeline from a flushing seek to [0, @stop samples) until EOS and
 * returns the samples of the statistics message posted on the way. */
static guint64
play_to_stop (GstElement *pipeline, guint64 stop)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  guint64 samples = 0;
  guint found = 0;
  GstMessage *msg;

  g_assert_true (gst_element_seek (pipeline, 1.0, GST_FORMAT_TIME,
      GST_SEEK_FLAG_FLUSH, GST_SEEK_TYPE_SET, 0, GST_SEEK_TYPE_SET,
      gst_util_uint64_scale (stop, GST_SECOND, TEST_RATE)));
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  for (;;) {
    msg = gst_bus_timed_pop_filtered (bus, 30 * GST_SECOND,
        GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT);
    g_assert_nonnull (msg);
    if (GST_MESSAGE_TYPE (msg) != GST_MESSAGE_ELEMENT)
      break;
    if (gst_message_has_name (msg, "wavenetsrc-statistics")) {
      g_assert_true (gst_structure_get_uint64 (gst_message_get_structure (msg),
          "samples", &samples));
      found++;
    }
    gst_message_unref (msg);
  }
  g_assert_cmpint (GST_MESSAGE_TYPE (msg), ==, GST_MESSAGE_EOS);
  g_assert_cmpuint (found, ==, 1);
  gst_message_unref (msg);
  gst_object_unref (bus);
  return samples;
}

/* Each end of the stream gets its statistics, also one reached again after
 * a seek; the samples count all generated since the element started. */
static void
test_statistics_each_eos (void)
{
  GError *error = NULL;
  GstElement *pipeline;
  gchar *description;

  description = g_strdup_printf ("wavenetsrc model=\"%s\" seed=2 "
                                 "samplesperbuffer=400 ! fakesink sync=false",
      plain_path);
  pipeline = gst_parse_launch (description, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PAUSED), !=,
      GST_STATE_CHANGE_FAILURE);
  g_assert_cmpint (gst_element_get_state (pipeline, NULL, NULL,
                       10 * GST_SECOND),
      ==, GST_STATE_CHANGE_SUCCESS);
  /* Prerolling generated a buffer or two before the first seek restarted
   * the stream at 0. */
  g_assert_cmpuint (play_to_stop (pipeline, 1000), >=, 1000);
  gst_element_set_state (pipeline, GST_STATE_PAUSED);
  g_assert_cmpuint (play_to_stop (pipeline, 600), >=, 1600);
  gst_element_set_state (pipeline, GST_STATE_NULL);

  gst_object_unref (pipeline);
  g_free (description);
}

/* ---- errors ------------------------------------------------------------- */

/* The error of a wavenetsrc with @properties, checked to contain each of
 * the NULL-terminated strings that follow. */
static void
check_error (const gchar *properties, ...)
{
  gchar *description, *message;
  const gchar *needle;
  va_list args;

  description =
      g_strdup_printf ("wavenetsrc %s num-buffers=1 ! fakesink", properties);
  message = test_pipeline_error (description);
  va_start (args, properties);
  while ((needle = va_arg (args, const gchar *)) != NULL)
    g_assert_nonnull (strstr (message, needle));
  va_end (args);
  g_free (message);
  g_free (description);
}

/* gst-launch-1.0 itself, as a user runs it with a missing model file: a
 * non-zero exit and the file named on stderr. */
static void
test_error_gst_launch (void)
{
  const gchar *launch = g_getenv ("GST_LAUNCH");
  const gchar *preload = g_getenv ("ARGEN_CHILD_LD_PRELOAD");
  const gchar *argv[] = { launch, "wavenetsrc",
    "model=/nonexistent/speech.gguf", "num-buffers=1", "!", "fakesink", NULL };
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
  g_assert_nonnull (strstr (err, "/nonexistent/speech.gguf"));
  g_strfreev (envp);
  g_free (out);
  g_free (err);
}

/* Without a model property: the embedded speech model, the same as named
 * by its resource path or set as "" (which restores the default). */
static void
test_default_model (void)
{
  GBytes *unset, *named, *empty;
  GstHarness *h;

  h = gst_harness_new ("wavenetsrc");
  g_object_set (h->element, "seed", (gint64) 3, "num-buffers", 2, NULL);
  gst_harness_play (h);
  {
    GPtrArray *buffers = test_pull_until_eos (h);

    unset = test_buffers_bytes (buffers);
    g_ptr_array_unref (buffers);
  }
  gst_harness_teardown (h);
  named = generate_bytes (NULL, "model",
      "resource:///org/gstreamer/argen/"
      "defaults/wavenet-speech.gguf",
      "seed", (gint64) 3, "num-buffers", 2, NULL);
  empty = generate_bytes (NULL, "model", "", "seed", (gint64) 3,
      "num-buffers", 2, NULL);
  g_assert_cmpuint (g_bytes_get_size (unset), ==, 2 * 1024 * 2);
  g_assert_true (g_bytes_equal (unset, named));
  g_assert_true (g_bytes_equal (unset, empty));
  g_bytes_unref (unset);
  g_bytes_unref (named);
  g_bytes_unref (empty);
}

static void
test_errors (void)
{
  const gchar *garbage = test_file_path ("garbage.gguf");
  GError *error = NULL;
  gchar *props;

  check_error ("model=/nonexistent/speech.gguf", "/nonexistent/speech.gguf",
      NULL);
  check_error ("model=resource:///org/gstreamer/argen/defaults/nope.gguf",
      "nope.gguf", NULL);

  g_assert_true (g_file_set_contents (garbage, "GGUF but not really", -1,
      &error));
  g_assert_no_error (error);
  props = g_strdup_printf ("model=\"%s\"", garbage);
  check_error (props, garbage, NULL);
  g_free (props);

  /* A GGUF file of another family. */
  props = g_strdup_printf ("model=\"%s\"", ARGEN_DEFAULT_TEXT_MODEL);
  check_error (props, ARGEN_DEFAULT_TEXT_MODEL, "wavenet", NULL);
  g_free (props);

  props = g_strdup_printf ("model=\"%s\"", vocoder_path);
  check_error (props, vocoder_path, "vocoder", "wavenetvocoder", NULL);
  g_free (props);

  props = g_strdup_printf ("model=\"%s\" global-condition=alice", plain_path);
  check_error (props, "alice", plain_path, "no global condition", NULL);
  g_free (props);

  props = g_strdup_printf ("model=\"%s\" global-condition=dave", class_path);
  check_error (props, "dave", "alice, bob, carol", NULL);
  g_free (props);
  props = g_strdup_printf ("model=\"%s\" global-condition=3", class_path);
  check_error (props, "\"3\"", "0 to 2", NULL);
  g_free (props);
}

int
main (int argc, char **argv)
{
  ArWaveNet *vocoder_model;
  int ret;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  test_files_init ();
  plain_model = test_make_model (0, 0, MODEL_SEED);
  plain_path = test_write_model (plain_model, "plain.gguf", NULL);
  class_model = test_make_model (3, 0, MODEL_SEED + 1);
  class_path = test_write_model (class_model, "classes.gguf", class_names);
  vocoder_model = test_make_model (0, 8, MODEL_SEED + 2);
  vocoder_path = test_write_model (vocoder_model, "vocoder.gguf", NULL);
  ar_wavenet_unref (vocoder_model);

  g_test_add_func ("/wavenetsrc/properties", test_properties);
  g_test_add_func ("/wavenetsrc/formats", test_formats);
  g_test_add_data_func ("/wavenetsrc/decode/pre-emphasis", &decodes[0],
      test_filtered_decode);
  g_test_add_data_func ("/wavenetsrc/decode/highpass", &decodes[1],
      test_filtered_decode);
  g_test_add_data_func ("/wavenetsrc/decode/both", &decodes[2],
      test_filtered_decode);
  g_test_add_func ("/wavenetsrc/wrong-rate", test_wrong_rate);
  g_test_add_func ("/wavenetsrc/same-seed-same-bytes",
      test_same_seed_same_bytes);
  g_test_add_func ("/wavenetsrc/timestamps", test_timestamps);
  g_test_add_func ("/wavenetsrc/convert", test_convert);
  g_test_add_func ("/wavenetsrc/num-buffers", test_num_buffers);
  g_test_add_func ("/wavenetsrc/threads", test_threads);
  g_test_add_func ("/wavenetsrc/global-condition", test_global_condition);
  g_test_add_func ("/wavenetsrc/temperature-controlled",
      test_temperature_controlled);
  g_test_add_func ("/wavenetsrc/temperature-while-playing",
      test_temperature_while_playing);
  g_test_add_func ("/wavenetsrc/live", test_live);
  g_test_add_func ("/wavenetsrc/live-not-seekable", test_live_not_seekable);
  g_test_add_func ("/wavenetsrc/seek", test_seek);
  g_test_add_func ("/wavenetsrc/statistics", test_statistics);
  g_test_add_func ("/wavenetsrc/statistics-each-eos", test_statistics_each_eos);
  g_test_add_func ("/wavenetsrc/default-model", test_default_model);
  g_test_add_func ("/wavenetsrc/errors", test_errors);
  g_test_add_func ("/wavenetsrc/error-gst-launch", test_error_gst_launch);

  ret = g_test_run ();

  ar_wavenet_unref (plain_model);
  ar_wavenet_unref (class_model);
  test_files_clear ();
  gst_deinit ();
  return ret;
}
