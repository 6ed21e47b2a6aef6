/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-pixelcnnsrc.c — the pixelcnnsrc element through GstHarness and small
 * pipelines, with tiny random PixelCNN models (8 × 8 and 10 × 6 pixels, two
 * layers) written to a temporary directory: properties as gst-inspect shows
 * them; caps at the model's size (rows padded to the stride of a width
 * that is not a multiple of 4) and refusal of another size; framerates and
 * timestamps, a still image at 0/1; agreement, byte for byte, with
 * libargen's generator for the same seed and class, whatever the thread
 * count; classes by name, index and at random; num-buffers; temperature
 * changed while playing; binary models; statistics; model and class
 * errors.
 *
 * Runs with the plugin of this build (GST_PLUGIN_PATH_1_0, tests/meson.build);
 * the generic helpers (temporary files, pulling to EOS, running pipelines)
 * are test-wavenet-util.h's. */

#include <gst/gst.h>
#include <gst/base/gstbasesink.h>
#include <gst/check/gstharness.h>
#include <gst/check/gsttestclock.h>
#include <gst/controller/gstdirectcontrolbinding.h>
#include <gst/controller/gstinterpolationcontrolsource.h>

#include <string.h>

#include "pixelcnn/ar-pixelcnn.h"
#include "test-wavenet-util.h"

#define MODEL_SEED 17

static ArPixelCnn *class_model;  /* 8 × 8, 256 levels, 3 classes */
static ArPixelCnn *wide_model;   /* 10 × 6, unconditional */
static ArPixelCnn *binary_model; /* 8 × 8, 2 levels */
static const gchar *class_path, *wide_path, *binary_path;
static const char *const class_names[] = { "shirt", "sneaker", "bag" };

/* ---- helpers ----------------------------------------------------------- */

static ArPixelCnn *
make_model (int width, int height, int levels, int classes, guint64 seed)
{
  ArPixelCnnConfig config = { width, height, 1, levels, 2, 8, 3, 3, 16,
    classes };
  GError *error = NULL;
  ArPixelCnn *pc = ar_pixelcnn_new_random (&config, seed, &error);

  g_assert_no_error (error);
  g_assert_nonnull (pc);
  return pc;
}

static const gchar *
write_model (ArPixelCnn *pc, const gchar *name, const char *const *names)
{
  ArGgufWriter *w = ar_gguf_writer_new ();
  const gchar *path = test_file_path (name);
  GError *error = NULL;

  ar_pixelcnn_write (pc, w);
  if (names != NULL)
    ar_gguf_writer_set_string_array (w, "pixelcnn.class_names", names, NULL,
        ar_pixelcnn_get_config (pc)->classes);
  g_assert_true (ar_gguf_writer_write_file (w, path, &error));
  g_assert_no_error (error);
  ar_gguf_writer_free (w);
  return path;
}

/* Runs a pixelcnnsrc (the class model unless a property says otherwise)
 * with downstream @caps (NULL: anything) and the given properties, which
 * must include num-buffers, to EOS; returns its buffers. */
static GPtrArray *run_src (const gchar *caps, const gchar *first_property,
    ...) G_GNUC_NULL_TERMINATED;
static GPtrArray *
run_src (const gchar *caps, const gchar *first_property, ...)
{
  GstHarness *h = gst_harness_new ("pixelcnnsrc");
  GPtrArray *buffers;
  va_list args;

  g_object_set (h->element, "model", class_path, NULL);
  va_start (args, first_property);
  if (first_property != NULL)
    g_object_set_valist (G_OBJECT (h->element), first_property, args);
  va_end (args);
  if (caps != NULL)
    gst_harness_set_sink_caps_str (h, caps);
  gst_harness_play (h);
  buffers = test_pull_until_eos (h);
  gst_harness_teardown (h);
  return buffers;
}

/* The images in @buffers, @width × @height each, rows @stride apart in the
 * buffers, packed (n, H, W). */
static guint8 *
images_of (GPtrArray *buffers, gint width, gint height, gint stride)
{
  guint8 *out = g_malloc ((gsize) MAX (buffers->len, 1) * width * height);
  guint i;
  gint r;

  for (i = 0; i < buffers->len; i++) {
    GstMapInfo map;

    g_assert_true (gst_buffer_map (g_ptr_array_index (buffers, i), &map,
        GST_MAP_READ));
    g_assert_cmpuint (map.size, ==, (gsize) stride * height);
    for (r = 0; r < height; r++)
      memcpy (out + ((gsize) i * height + r) * width, map.data + r * stride,
          width);
    gst_buffer_unmap (g_ptr_array_index (buffers, i), &map);
  }
  return out;
}

/* libargen's own images: @n from @seed at @temperature, class @cls. */
static guint8 *
reference_images (ArPixelCnn *pc, guint64 seed, int n, gfloat temperature,
    int cls)
{
  const ArPixelCnnConfig *c = ar_pixelcnn_get_config (pc);
  ArPixelCnnGen *g = ar_pixelcnn_gen_new (pc);
  guint8 *out = g_malloc ((gsize) n * c->width * c->height);
  GError *error = NULL;

  g_assert_true (ar_pixelcnn_gen_set_class (g, cls, &error));
  g_assert_no_error (error);
  ar_pixelcnn_gen_set_temperature (g, temperature);
  ar_pixelcnn_gen_reset (g, seed);
  ar_pixelcnn_gen_sample (g, out, n, NULL);
  ar_pixelcnn_gen_free (g);
  return out;
}

/* The 8 × 8 images of a run with the class model. */
static guint8 *run_images (const gchar *first_property,
    ...) G_GNUC_NULL_TERMINATED;
static guint8 *
run_images (const gchar *first_property, ...)
{
  GstHarness *h = gst_harness_new ("pixelcnnsrc");
  GPtrArray *buffers;
  guint8 *images;
  va_list args;

  g_object_set (h->element, "model", class_path, NULL);
  va_start (args, first_property);
  g_object_set_valist (G_OBJECT (h->element), first_property, args);
  va_end (args);
  gst_harness_play (h);
  buffers = test_pull_until_eos (h);
  gst_harness_teardown (h);
  images = images_of (buffers, 8, 8, 8);
  g_ptr_array_unref (buffers);
  return images;
}

/* ---- properties -------------------------------------------------------- */

static void
test_properties (void)
{
  GstElement *src = gst_element_factory_make ("pixelcnnsrc", NULL);
  GParamSpec *p;
  GstElementClass *klass;
  GstCaps *caps, *expected;

  test_assert_blurbs ("pixelcnnsrc");
  test_assert_media_properties (G_OBJECT (src),
      "resource:///org/gstreamer/argen/defaults/pixelcnn-fashion.gguf", 1.0f,
      AR_THREADPOOL_MAX_THREADS);

  p = test_find_property (G_OBJECT (src), "class", G_TYPE_PARAM_STRING);
  g_assert_cmpstr (G_PARAM_SPEC_STRING (p)->default_value, ==, "random");
  g_assert_true (p->flags & GST_PARAM_MUTABLE_PLAYING);

  p = test_find_property (G_OBJECT (src), "is-live", G_TYPE_PARAM_BOOLEAN);
  g_assert_false (G_PARAM_SPEC_BOOLEAN (p)->default_value);
  test_find_property (G_OBJECT (src), "num-buffers", G_TYPE_PARAM_INT);

  klass = GST_ELEMENT_GET_CLASS (src);
  g_assert_cmpstr (gst_element_class_get_metadata (klass,
                       GST_ELEMENT_METADATA_KLASS),
      ==, "Source/Video");
  caps = gst_pad_template_get_caps (gst_element_class_get_pad_template (klass,
      "src"));
  expected = gst_caps_from_string ("video/x-raw, format=GRAY8, "
                                   "width=[1,MAX], height=[1,MAX], "
                                   "framerate=(fraction)[0/1,MAX], "
                                   "pixel-aspect-ratio=1/1, "
                                   "interlace-mode=progressive");
  g_assert_true (gst_caps_is_equal (caps, expected));
  gst_caps_unref (caps);
  gst_caps_unref (expected);
  gst_object_unref (src);
}

/* ---- caps ----------------------------------------------------------------- */

static void
check_caps (GstHarness *h, gint width, gint height, gint fps_n, gint fps_d)
{
  GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
  GstStructure *s = gst_caps_get_structure (caps, 0);
  gint w, hh, n, d;

  g_assert_cmpstr (gst_structure_get_string (s, "format"), ==, "GRAY8");
  g_assert_true (gst_structure_get_int (s, "width", &w));
  g_assert_true (gst_structure_get_int (s, "height", &hh));
  g_assert_cmpint (w, ==, width);
  g_assert_cmpint (hh, ==, height);
  g_assert_true (gst_structure_get_fraction (s, "framerate", &n, &d));
  g_assert_cmpint (n, ==, fps_n);
  g_assert_cmpint (d, ==, fps_d);
  g_assert_true (gst_structure_get_fraction (s, "pixel-aspect-ratio", &n, &d));
  g_assert_cmpint (n, ==, 1);
  g_assert_cmpint (d, ==, 1);
  gst_caps_unref (caps);
}

/* GRAY8 at the model's size, 1/1 by default; a width of 10 has rows of 12
 * bytes (GStreamer's 4-byte stride), the images unchanged inside. */
static void
test_caps (void)
{
  GstHarness *h = gst_harness_new ("pixelcnnsrc");
  GPtrArray *buffers;
  guint8 *got, *ref;

  g_object_set (h->element, "model", class_path, "num-buffers", 1, NULL);
  gst_harness_play (h);
  buffers = test_pull_until_eos (h);
  check_caps (h, 8, 8, 1, 1);
  g_assert_cmpuint (buffers->len, ==, 1);
  g_assert_cmpuint (gst_buffer_get_size (g_ptr_array_index (buffers, 0)), ==,
      64);
  g_ptr_array_unref (buffers);
  gst_harness_teardown (h);

  h = gst_harness_new ("pixelcnnsrc");
  g_object_set (h->element, "model", wide_path, "num-buffers", 2, "seed",
      (gint64) 4, NULL);
  gst_harness_play (h);
  buffers = test_pull_until_eos (h);
  check_caps (h, 10, 6, 1, 1);
  got = images_of (buffers, 10, 6, 12);
  ref = reference_images (wide_model, 4, 2, 1.0f, -1);
  g_assert_cmpmem (got, 2 * 60, ref, 2 * 60);
  g_free (got);
  g_free (ref);
  g_ptr_array_unref (buffers);
  gst_harness_teardown (h);
}

/* Another size downstream: not-negotiated, and an error naming both sizes;
 * through videoscale the same size works. */
static void
test_wrong_size (void)
{
  gchar *description, *message;
  GstMessage *end;

  description = g_strdup_printf ("pixelcnnsrc model=\"%s\" num-buffers=1 ! "
                                 "video/x-raw, width=16, height=12 ! fakesink",
      class_path);
  message = test_pipeline_error (description);
  g_assert_nonnull (strstr (message, "8 x 8"));
  g_assert_nonnull (strstr (message, "16 x 12"));
  g_assert_nonnull (strstr (message, "videoscale"));
  g_free (message);
  g_free (description);

  description = g_strdup_printf ("pixelcnnsrc model=\"%s\" num-buffers=2 ! "
                                 "videoscale ! video/x-raw, width=16, "
                                 "height=12 ! fakesink",
      class_path);
  end = test_run_pipeline (description, NULL);
  g_assert_cmpint (GST_MESSAGE_TYPE (end), ==, GST_MESSAGE_EOS);
  gst_message_unref (end);
  g_free (description);
}

/* The images are whole frames: downstream asking for interlaced video
 * fails to negotiate, saying what the source makes (it used to get
 * progressive images labelled interleaved). */
static void
test_interlaced (void)
{
  GstHarness *h = gst_harness_new ("pixelcnnsrc");
  GstBus *bus = gst_bus_new ();
  GError *error = NULL;
  GstMessage *msg;

  g_object_set (h->element, "model", class_path, "num-buffers", 1, NULL);
  gst_element_set_bus (h->element, bus);
  gst_harness_set_sink_caps_str (h, "video/x-raw, interlace-mode=interleaved");
  gst_harness_play (h);
  msg = gst_bus_timed_pop_filtered (bus, 10 * GST_SECOND, GST_MESSAGE_ERROR);
  g_assert_nonnull (msg);
  gst_message_parse_error (msg, &error, NULL);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "progressive GRAY8"));
  g_clear_error (&error);
  gst_message_unref (msg);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

/* ---- time ------------------------------------------------------------------ */

/* Offsets count images; timestamps are the counts scaled by the framerate
 * (30000/1001: no drift from rounding), durations the differences. */
static void
test_timestamps (void)
{
  GPtrArray *buffers;
  GstHarness *h;
  guint i;

  h = gst_harness_new ("pixelcnnsrc");
  g_object_set (h->element, "model", class_path, "num-buffers", 5, NULL);
  gst_harness_set_sink_caps_str (h, "video/x-raw, framerate=30000/1001");
  gst_harness_play (h);
  buffers = test_pull_until_eos (h);
  check_caps (h, 8, 8, 30000, 1001);
  gst_harness_teardown (h);
  g_assert_cmpuint (buffers->len, ==, 5);
  for (i = 0; i < buffers->len; i++) {
    GstBuffer *buf = g_ptr_array_index (buffers, i);
    GstClockTime t = gst_util_uint64_scale (i, 1001 * GST_SECOND, 30000);
    GstClockTime e = gst_util_uint64_scale (i + 1, 1001 * GST_SECOND, 30000);

    g_assert_cmpuint (GST_BUFFER_OFFSET (buf), ==, i);
    g_assert_cmpuint (GST_BUFFER_OFFSET_END (buf), ==, i + 1);
    g_assert_cmpuint (GST_BUFFER_PTS (buf), ==, t);
    g_assert_cmpuint (GST_BUFFER_DURATION (buf), ==, e - t);
  }
  g_ptr_array_unref (buffers);

  /* The default, one a second. */
  buffers = run_src (NULL, "num-buffers", 3, NULL);
  g_assert_cmpuint (buffers->len, ==, 3);
  g_assert_cmpuint (GST_BUFFER_PTS (g_ptr_array_index (buffers, 2)), ==,
      2 * GST_SECOND);
  g_assert_cmpuint (GST_BUFFER_DURATION (g_ptr_array_index (buffers, 2)), ==,
      GST_SECOND);
  g_ptr_array_unref (buffers);

  /* A still image: one buffer at 0 without a duration, then EOS, even
   * when more were asked for. */
  buffers = run_src ("video/x-raw, framerate=0/1", "num-buffers", 4, NULL);
  g_assert_cmpuint (buffers->len, ==, 1);
  g_assert_cmpuint (GST_BUFFER_PTS (g_ptr_array_index (buffers, 0)), ==, 0);
  g_assert_false (GST_BUFFER_DURATION_IS_VALID (g_ptr_array_index (buffers,
      0)));
  g_ptr_array_unref (buffers);
}

/* Downstream renegotiating the framerate mid-stream: the timestamps go on
 * from the end of the last image at the old rate (they jumped, or went
 * back, to the new rate's time of the image count), offsets go on
 * counting. */
static void
test_framerate_change (void)
{
  GstClockTime end = 0;
  GstHarness *h;
  GstBuffer *buf;
  guint i;

  h = gst_harness_new ("pixelcnnsrc");
  g_object_set (h->element, "model", class_path, "num-buffers", 10, NULL);
  /* At most one image ahead of the pulls, so that the change comes
   * mid-stream. */
  gst_harness_set_blocking_push_mode (h);
  gst_harness_set_sink_caps_str (h, "video/x-raw, framerate=1/1");
  gst_harness_play (h);
  for (i = 0; i < 10; i++) {
    if (i == 3)
      gst_harness_set_sink_caps_str (h, "video/x-raw, framerate=10/1");
    buf = gst_harness_pull (h);
    g_assert_nonnull (buf);
    g_assert_cmpuint (GST_BUFFER_OFFSET (buf), ==, i);
    g_assert_cmpuint (GST_BUFFER_PTS (buf), ==, end);
    g_assert_true (GST_BUFFER_DURATION_IS_VALID (buf));
    end = GST_BUFFER_PTS (buf) + GST_BUFFER_DURATION (buf);
    if (i == 9)
      g_assert_cmpuint (GST_BUFFER_DURATION (buf), ==, GST_SECOND / 10);
    gst_buffer_unref (buf);
  }
  /* Three or four images of a second, the others of a tenth. */
  g_assert_cmpuint (end, >=, 3 * GST_SECOND + 7 * GST_SECOND / 10);
  g_assert_cmpuint (end, <=, 4 * GST_SECOND + 6 * GST_SECOND / 10);
  gst_harness_teardown (h);
}

static void
test_num_buffers (void)
{
  GPtrArray *buffers = run_src (NULL, "num-buffers", 4, "threads", 2u, NULL);

  g_assert_cmpuint (buffers->len, ==, 4);
  g_assert_cmpuint (GST_BUFFER_OFFSET_END (g_ptr_array_index (buffers, 3)), ==,
      4);
  g_ptr_array_unref (buffers);
}

/* ---- images ---------------------------------------------------------------- */

/* The same seed gives the same bytes, libargen's with that seed (a random
 * class per image by default); another seed other images. */
static void
test_same_seed (void)
{
  guint8 *a, *b, *c, *ref;

  a = run_images ("seed", (gint64) 7, "num-buffers", 4, NULL);
  b = run_images ("seed", (gint64) 7, "num-buffers", 4, NULL);
  c = run_images ("seed", (gint64) 8, "num-buffers", 4, NULL);
  ref = reference_images (class_model, 7, 4, 1.0f, -1);
  g_assert_cmpmem (a, 4 * 64, b, 4 * 64);
  g_assert_cmpmem (a, 4 * 64, ref, 4 * 64);
  g_assert_true (memcmp (a, c, 4 * 64) != 0);
  g_free (a);
  g_free (b);
  g_free (c);
  g_free (ref);
}

/* The images do not depend on the thread count (batches of 2 × threads
 * drawn ahead, the last one cut to num-buffers). */
static void
test_threads (void)
{
  guint8 *one, *two, *all;

  one = run_images ("seed", (gint64) 5, "num-buffers", 5, "threads", 1u, NULL);
  two = run_images ("seed", (gint64) 5, "num-buffers", 5, "threads", 2u, NULL);
  all = run_images ("seed", (gint64) 5, "num-buffers", 5, "threads", 0u, NULL);
  g_assert_cmpmem (one, 5 * 64, two, 5 * 64);
  g_assert_cmpmem (one, 5 * 64, all, 5 * 64);
  g_free (one);
  g_free (two);
  g_free (all);
}

/* A class by name or by index is libargen's class; "-1" is "random". */
static void
test_class (void)
{
  guint8 *by_name, *by_index, *other, *ref, *random, *minus_one;

  by_name = run_images ("class", "sneaker", "seed", (gint64) 2, "num-buffers",
      3, NULL);
  by_index =
      run_images ("class", "1", "seed", (gint64) 2, "num-buffers", 3, NULL);
  other =
      run_images ("class", "bag", "seed", (gint64) 2, "num-buffers", 3, NULL);
  ref = reference_images (class_model, 2, 3, 1.0f, 1);
  g_assert_cmpmem (by_name, 3 * 64, ref, 3 * 64);
  g_assert_cmpmem (by_index, 3 * 64, ref, 3 * 64);
  g_assert_true (memcmp (by_name, other, 3 * 64) != 0);

  random = run_images ("class", "random", "seed", (gint64) 2, "num-buffers", 3,
      NULL);
  minus_one =
      run_images ("class", "-1", "seed", (gint64) 2, "num-buffers", 3, NULL);
  g_free (ref);
  ref = reference_images (class_model, 2, 3, 1.0f, -1);
  g_assert_cmpmem (random, 3 * 64, ref, 3 * 64);
  g_assert_cmpmem (minus_one, 3 * 64, ref, 3 * 64);

  g_free (by_name);
  g_free (by_index);
  g_free (other);
  g_free (ref);
  g_free (random);
  g_free (minus_one);
}

/* A binary model's pixels are 0 and 255, libargen's. */
static void
test_binary (void)
{
  GstHarness *h = gst_harness_new ("pixelcnnsrc");
  GPtrArray *buffers;
  guint8 *got, *ref;
  guint i, zeros = 0;

  g_object_set (h->element, "model", binary_path, "num-buffers", 3, "seed",
      (gint64) 6, NULL);
  gst_harness_play (h);
  buffers = test_pull_until_eos (h);
  gst_harness_teardown (h);
  got = images_of (buffers, 8, 8, 8);
  ref = reference_images (binary_model, 6, 3, 1.0f, -1);
  g_assert_cmpmem (got, 3 * 64, ref, 3 * 64);
  for (i = 0; i < 3 * 64; i++) {
    g_assert_true (got[i] == 0 || got[i] == 255);
    zeros += got[i] == 0;
  }
  g_assert_cmpuint (zeros, >, 0);
  g_assert_cmpuint (zeros, <, 3 * 64);
  g_free (got);
  g_free (ref);
  g_ptr_array_unref (buffers);
}

/* The temperature set while playing: the images after the change are
 * libargen's greedy images of the same indices. */
static void
test_temperature_while_playing (void)
{
  GPtrArray *buffers =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);
  guint8 *got, *hot, *greedy;
  ArPixelCnnGen *g;
  GstHarness *h;
  guint i;

  h = gst_harness_new ("pixelcnnsrc");
  g_object_set (h->element, "model", class_path, "seed", (gint64) 9,
      "num-buffers", 10, NULL);
  /* The source runs at most one image ahead of what the test pulled. */
  gst_harness_set_blocking_push_mode (h);
  gst_harness_play (h);
  for (i = 0; i < 10; i++) {
    if (i == 4)
      g_object_set (h->element, "temperature", 0.0f, NULL);
    g_ptr_array_add (buffers, gst_harness_pull (h));
  }
  gst_harness_teardown (h);
  got = images_of (buffers, 8, 8, 8);

  /* Images 0-3 at temperature 1; 4 either (drawn before or after the
   * change); 6-9 greedy: libargen at 0 from image 6 on. */
  hot = reference_images (class_model, 9, 10, 1.0f, -1);
  g_assert_cmpmem (got, 4 * 64, hot, 4 * 64);
  greedy = g_malloc (10 * 64);
  g = ar_pixelcnn_gen_new (class_model);
  ar_pixelcnn_gen_reset (g, 9);
  ar_pixelcnn_gen_sample (g, greedy, 6, NULL);
  ar_pixelcnn_gen_set_temperature (g, 0.0f);
  ar_pixelcnn_gen_sample (g, greedy + 6 * 64, 4, NULL);
  ar_pixelcnn_gen_free (g);
  g_assert_cmpmem (got + 6 * 64, 4 * 64, greedy + 6 * 64, 4 * 64);
  /* and greedy differs from sampled */
  g_assert_true (memcmp (got + 6 * 64, hot + 6 * 64, 4 * 64) != 0);

  g_free (got);
  g_free (hot);
  g_free (greedy);
  g_ptr_array_unref (buffers);
}

/* A control source drops the temperature to 0 at 2.5 s: images are synced
 * at their timestamps (one a second), so images 0-2 are sampled and 3-5
 * greedy, exactly libargen's. */
static void
test_temperature_controlled (void)
{
  GstControlSource *cs = gst_interpolation_control_source_new ();
  GstTimedValueControlSource *tvcs = GST_TIMED_VALUE_CONTROL_SOURCE (cs);
  GPtrArray *buffers;
  ArPixelCnnGen *g;
  GstHarness *h;
  guint8 *got, *ref;

  g_object_set (cs, "mode", GST_INTERPOLATION_MODE_NONE, NULL);
  gst_timed_value_control_source_set (tvcs, 0, 1.0);
  gst_timed_value_control_source_set (tvcs, 5 * GST_SECOND / 2, 0.0);

  h = gst_harness_new ("pixelcnnsrc");
  g_object_set (h->element, "model", class_path, "seed", (gint64) 12,
      "num-buffers", 6, NULL);
  gst_object_add_control_binding (GST_OBJECT (h->element),
      gst_direct_control_binding_new_absolute (GST_OBJECT (h->element),
          "temperature", cs));
  gst_harness_play (h);
  buffers = test_pull_until_eos (h);
  gst_harness_teardown (h);
  got = images_of (buffers, 8, 8, 8);

  ref = g_malloc (6 * 64);
  g = ar_pixelcnn_gen_new (class_model);
  ar_pixelcnn_gen_reset (g, 12);
  ar_pixelcnn_gen_sample (g, ref, 3, NULL);
  ar_pixelcnn_gen_set_temperature (g, 0.0f);
  ar_pixelcnn_gen_sample (g, ref + 3 * 64, 3, NULL);
  ar_pixelcnn_gen_free (g);
  g_assert_cmpmem (got, 6 * 64, ref, 6 * 64);

  g_free (got);
  g_free (ref);
  g_ptr_array_unref (buffers);
  gst_object_unref (cs);
}

/* Live: one frame of latency (0.5 s at 2/1), each image pushed when the
 * clock reaches its timestamp. */
static void
test_live (void)
{
  GstHarness *h = gst_harness_new ("pixelcnnsrc");
  GstClockTime min_latency, max_latency;
  GstTestClock *clock;
  GstQuery *query;
  GstBuffer *buf;
  gboolean live;

  g_object_set (h->element, "model", class_path, "is-live", TRUE, "num-buffers",
      4, NULL);
  gst_harness_set_sink_caps_str (h, "video/x-raw, framerate=2/1");
  gst_harness_play (h);

  clock = gst_harness_get_testclock (h);
  g_assert_true (gst_harness_crank_single_clock_wait (h));
  buf = gst_harness_pull (h);
  g_assert_cmpuint (GST_BUFFER_PTS (buf), ==, 0);
  gst_buffer_unref (buf);
  g_assert_true (gst_harness_crank_single_clock_wait (h));
  buf = gst_harness_pull (h);
  g_assert_cmpuint (GST_BUFFER_PTS (buf), ==, GST_SECOND / 2);
  g_assert_cmpuint (gst_clock_get_time (GST_CLOCK (clock)), ==,
      GST_BUFFER_PTS (buf));
  gst_buffer_unref (buf);

  query = gst_query_new_latency ();
  g_assert_true (gst_element_query (h->element, query));
  gst_query_parse_latency (query, &live, &min_latency, &max_latency);
  g_assert_true (live);
  g_assert_cmpuint (min_latency, ==, GST_SECOND / 2);
  g_assert_cmpuint (max_latency, >=, min_latency);
  gst_query_unref (query);

  gst_object_unref (clock);
  gst_harness_teardown (h);
}

/* A live pipeline asks for its latency when it goes to PLAYING, which can
 * be before the source's streaming thread has negotiated a framerate: the
 * source answers live then (it failed the query, and the pipeline counted
 * as not live, with no latency), and posts a latency message once it knows
 * its framerate, on which the application recalculates, as gst-launch-1.0
 * does.  The sink ends up with one frame of latency, 50 ms at 20/1. */
static void
test_live_latency_before_caps (void)
{
  GstElement *pipeline, *src, *sink;
  GstClockTime min_latency;
  gboolean live = FALSE, done = FALSE;
  GstQuery *query;
  gchar *desc;
  GstBus *bus;

  desc = g_strdup_printf ("pixelcnnsrc name=src model=%s is-live=true "
                          "num-buffers=3 ! video/x-raw, framerate=20/1 ! "
                          "fakesink name=sink sync=true",
      class_path);
  pipeline = gst_parse_launch (desc, NULL);
  g_free (desc);
  g_assert_nonnull (pipeline);
  src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");

  /* Started but not negotiated: live, nothing of its own yet. */
  g_assert_cmpint (gst_element_set_state (src, GST_STATE_READY), ==,
      GST_STATE_CHANGE_SUCCESS);
  query = gst_query_new_latency ();
  g_assert_true (gst_element_query (src, query));
  gst_query_parse_latency (query, &live, &min_latency, NULL);
  g_assert_true (live);
  g_assert_cmpuint (min_latency, ==, 0);
  gst_query_unref (query);

  bus = gst_element_get_bus (pipeline);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  while (!done) {
    GstMessage *msg = gst_bus_timed_pop_filtered (bus, 10 * GST_SECOND,
        GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_LATENCY);

    g_assert_nonnull (msg);
    g_assert_cmpint (GST_MESSAGE_TYPE (msg), !=, GST_MESSAGE_ERROR);
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_LATENCY)
      gst_bin_recalculate_latency (GST_BIN (pipeline));
    else
      done = TRUE;
    gst_message_unref (msg);
  }
  g_assert_cmpuint (gst_base_sink_get_latency (GST_BASE_SINK (sink)), >=,
      50 * GST_MSECOND);

  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (sink);
  gst_object_unref (src);
  gst_object_unref (pipeline);
}

/* With two threads the images come in batches of four, the first pushed
 * once all four are drawn: a live source reports four frames of latency
 * (it reported one, and the first image of each batch reached the sink
 * late). */
static void
test_live_latency_threads (void)
{
  GstHarness *h = gst_harness_new ("pixelcnnsrc");
  GstClockTime min_latency, max_latency;
  GstQuery *query;
  gboolean live;

  g_object_set (h->element, "model", class_path, "is-live", TRUE, "threads", 2u,
      "num-buffers", 2, NULL);
  gst_harness_set_sink_caps_str (h, "video/x-raw, framerate=2/1");
  gst_harness_play (h);
  g_assert_true (gst_harness_crank_single_clock_wait (h));
  gst_buffer_unref (gst_harness_pull (h));

  query = gst_query_new_latency ();
  g_assert_true (gst_element_query (h->element, query));
  gst_query_parse_latency (query, &live, &min_latency, &max_latency);
  g_assert_true (live);
  g_assert_cmpuint (min_latency, ==, 4 * GST_SECOND / 2);
  g_assert_false (GST_CLOCK_TIME_IS_VALID (max_latency));
  gst_query_unref (query);
  gst_harness_teardown (h);
}

/* The class changed while playing applies from the next image. */
static void
test_class_while_playing (void)
{
  GPtrArray *buffers =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);
  ArPixelCnnGen *g;
  guint8 *got, *ref;
  GstHarness *h;
  guint i;

  h = gst_harness_new ("pixelcnnsrc");
  g_object_set (h->element, "model", class_path, "seed", (gint64) 3,
      "num-buffers", 6, "class", "shirt", NULL);
  gst_harness_set_blocking_push_mode (h);
  gst_harness_play (h);
  for (i = 0; i < 6; i++) {
    if (i == 2)
      g_object_set (h->element, "class", "bag", NULL);
    g_ptr_array_add (buffers, gst_harness_pull (h));
  }
  gst_harness_teardown (h);
  got = images_of (buffers, 8, 8, 8);

  ref = g_malloc (6 * 64);
  g = ar_pixelcnn_gen_new (class_model);
  ar_pixelcnn_gen_reset (g, 3);
  g_assert_true (ar_pixelcnn_gen_set_class (g, 0, NULL));
  ar_pixelcnn_gen_sample (g, ref, 4, NULL);
  g_assert_true (ar_pixelcnn_gen_set_class (g, 2, NULL));
  ar_pixelcnn_gen_sample (g, ref + 4 * 64, 2, NULL);
  ar_pixelcnn_gen_free (g);
  g_assert_cmpmem (got, 2 * 64, ref, 2 * 64);
  g_assert_cmpmem (got + 4 * 64, 2 * 64, ref + 4 * 64, 2 * 64);

  g_free (got);
  g_free (ref);
  g_ptr_array_unref (buffers);
}

/* ---- statistics ------------------------------------------------------------ */

static void
test_statistics (void)
{
  GPtrArray *messages =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_message_unref);
  const GstStructure *s;
  gchar *description;
  GstMessage *end;
  guint64 images;
  gdouble seconds, per_second;

  description = g_strdup_printf ("pixelcnnsrc model=\"%s\" num-buffers=5 "
                                 "seed=2 ! fakesink",
      class_path);
  end = test_run_pipeline (description, messages);
  g_assert_cmpint (GST_MESSAGE_TYPE (end), ==, GST_MESSAGE_EOS);
  gst_message_unref (end);

  s = test_find_statistics (messages, "pixelcnnsrc-statistics");
  g_assert_nonnull (s);
  g_assert_true (gst_structure_get_uint64 (s, "images", &images));
  g_assert_true (gst_structure_get_double (s, "seconds", &seconds));
  g_assert_true (gst_structure_get_double (s, "images-per-second",
      &per_second));
  g_assert_cmpuint (images, ==, 5);
  g_assert_cmpfloat (seconds, >, 0.0);
  g_assert_cmpfloat_with_epsilon (per_second, images / seconds,
      1e-9 * per_second);
  g_test_message ("%" G_GUINT64_FORMAT " images in %.4f s: %.0f images/s",
      images, seconds, per_second);
  g_ptr_array_unref (messages);
  g_free (description);
}

/* ---- errors ---------------------------------------------------------------- */

/* The error of a pixelcnnsrc with @properties, checked to contain each of
 * the NULL-terminated strings that follow. */
static void
check_error (const gchar *properties, ...)
{
  gchar *description, *message;
  const gchar *needle;
  va_list args;

  description =
      g_strdup_printf ("pixelcnnsrc %s num-buffers=1 ! fakesink", properties);
  message = test_pipeline_error (description);
  va_start (args, properties);
  while ((needle = va_arg (args, const gchar *)) != NULL)
    g_assert_nonnull (strstr (message, needle));
  va_end (args);
  g_free (message);
  g_free (description);
}

/* Without a model: the embedded Fashion-MNIST model, the same as named by
 * its resource path or set as "" (which restores the default). */
static void
test_default_model (void)
{
  GPtrArray *unset, *named, *empty;
  GBytes *a, *b, *c;
  GstHarness *h;

  h = gst_harness_new ("pixelcnnsrc");
  g_object_set (h->element, "seed", (gint64) 3, "num-buffers", 1, "class",
      "sneaker", NULL);
  gst_harness_play (h);
  unset = test_pull_until_eos (h);
  gst_harness_teardown (h);
  named = run_src (NULL, "model",
      "resource:///org/gstreamer/argen/defaults/pixelcnn-fashion.gguf", "seed",
      (gint64) 3, "num-buffers", 1, "class", "sneaker", NULL);
  empty = run_src (NULL, "model", "", "seed", (gint64) 3, "num-buffers", 1,
      "class", "sneaker", NULL);
  a = test_buffers_bytes (unset);
  b = test_buffers_bytes (named);
  c = test_buffers_bytes (empty);
  g_assert_cmpuint (g_bytes_get_size (a), ==, 28 * 28);
  g_assert_true (g_bytes_equal (a, b));
  g_assert_true (g_bytes_equal (a, c));
  g_bytes_unref (a);
  g_bytes_unref (b);
  g_bytes_unref (c);
  g_ptr_array_unref (unset);
  g_ptr_array_unref (named);
  g_ptr_array_unref (empty);
}

/* gst-launch-1.0 itself, as a user runs it with a missing model file: a
 * non-zero exit and the file named on stderr. */
static void
test_error_gst_launch (void)
{
  const gchar *launch = g_getenv ("GST_LAUNCH");
  const gchar *preload = g_getenv ("ARGEN_CHILD_LD_PRELOAD");
  const gchar *argv[] = { launch, "pixelcnnsrc",
    "model=/nonexistent/fashion.gguf", "num-buffers=1", "!", "fakesink", NULL };
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
  g_assert_nonnull (strstr (err, "/nonexistent/fashion.gguf"));
  g_strfreev (envp);
  g_free (out);
  g_free (err);
}

static void
test_errors (void)
{
  const gchar *garbage = test_file_path ("garbage.gguf");
  GError *error = NULL;
  gchar *props;

  check_error ("model=/nonexistent/fashion.gguf", "/nonexistent/fashion.gguf",
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
  check_error (props, ARGEN_DEFAULT_TEXT_MODEL, "pixelcnn", NULL);
  g_free (props);

  props = g_strdup_printf ("model=\"%s\" class=hat", class_path);
  check_error (props, "\"hat\"", "shirt, sneaker, bag", "0 to 2", NULL);
  g_free (props);
  props = g_strdup_printf ("model=\"%s\" class=3", class_path);
  check_error (props, "\"3\"", "shirt, sneaker, bag", NULL);
  g_free (props);
  props = g_strdup_printf ("model=\"%s\" class=shirt", wide_path);
  check_error (props, "shirt", wide_path, "no classes", NULL);
  g_free (props);
}

int
main (int argc, char **argv)
{
  int ret;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  test_files_init ();
  class_model = make_model (8, 8, 256, 3, MODEL_SEED);
  class_path = write_model (class_model, "classes.gguf", class_names);
  wide_model = make_model (10, 6, 256, 0, MODEL_SEED + 1);
  wide_path = write_model (wide_model, "wide.gguf", NULL);
  binary_model = make_model (8, 8, 2, 0, MODEL_SEED + 2);
  binary_path = write_model (binary_model, "binary.gguf", NULL);

  g_test_add_func ("/pixelcnnsrc/properties", test_properties);
  g_test_add_func ("/pixelcnnsrc/caps", test_caps);
  g_test_add_func ("/pixelcnnsrc/wrong-size", test_wrong_size);
  g_test_add_func ("/pixelcnnsrc/interlaced", test_interlaced);
  g_test_add_func ("/pixelcnnsrc/timestamps", test_timestamps);
  g_test_add_func ("/pixelcnnsrc/framerate-change", test_framerate_change);
  g_test_add_func ("/pixelcnnsrc/num-buffers", test_num_buffers);
  g_test_add_func ("/pixelcnnsrc/same-seed", test_same_seed);
  g_test_add_func ("/pixelcnnsrc/threads", test_threads);
  g_test_add_func ("/pixelcnnsrc/class", test_class);
  g_test_add_func ("/pixelcnnsrc/binary", test_binary);
  g_test_add_func ("/pixelcnnsrc/temperature-while-playing",
      test_temperature_while_playing);
  g_test_add_func ("/pixelcnnsrc/temperature-controlled",
      test_temperature_controlled);
  g_test_add_func ("/pixelcnnsrc/live", test_live);
  g_test_add_func ("/pixelcnnsrc/live-latency-before-caps",
      test_live_latency_before_caps);
  g_test_add_func ("/pixelcnnsrc/live-latency-threads",
      test_live_latency_threads);
  g_test_add_func ("/pixelcnnsrc/class-while-playing",
      test_class_while_playing);
  g_test_add_func ("/pixelcnnsrc/statistics", test_statistics);
  g_test_add_func ("/pixelcnnsrc/default-model", test_default_model);
  g_test_add_func ("/pixelcnnsrc/errors", test_errors);
  g_test_add_func ("/pixelcnnsrc/error-gst-launch", test_error_gst_launch);

  ret = g_test_run ();

  ar_pixelcnn_unref (class_model);
  ar_pixelcnn_unref (wide_model);
  ar_pixelcnn_unref (binary_model);
  test_files_clear ();
  gst_deinit ();
  return ret;
}
