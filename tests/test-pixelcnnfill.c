/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-pixelcnnfill.c — the pixelcnnfill element through GstHarness and
 * small pipelines, with tiny random PixelCNN models (8 × 8 and 10 × 6
 * pixels, two layers) written to a temporary directory: properties as
 * gst-inspect shows them; kept rows (the default half, a set number) and a
 * kept rectangle passed through byte for byte, the other pixels exactly
 * libargen's completion for the same seed and class, rows padded to the
 * stride of a width that is not a multiple of 4; timestamps and offsets
 * preserved; the same output for any thread count, frames held back for a
 * batch released at EOS; classes and temperature; a stream of another size
 * refused with an error naming both sizes; statistics; model and class
 * errors.
 *
 * Runs with the plugin of this build (GST_PLUGIN_PATH_1_0, tests/meson.build);
 * the generic helpers (temporary files, pulling to EOS, running pipelines)
 * are test-wavenet-util.h's. */

#include <gst/gst.h>
#include <gst/check/gstharness.h>
#include <gst/controller/gstdirectcontrolbinding.h>
#include <gst/controller/gstinterpolationcontrolsource.h>

#include <string.h>

#include "pixelcnn/ar-pixelcnn.h"
#include "test-wavenet-util.h"

#define MODEL_SEED 23

static ArPixelCnn *class_model; /* 8 × 8, 256 levels, 3 classes */
static ArPixelCnn *wide_model;  /* 10 × 6, unconditional */
static const gchar *class_path, *wide_path;
static const char *const class_names[] = { "shirt", "sneaker", "bag" };

/* ---- helpers ----------------------------------------------------------- */

static ArPixelCnn *
make_model (int width, int height, int classes, guint64 seed)
{
  ArPixelCnnConfig config = { width, height, 1, 256, 2, 8, 3, 3, 16, classes };
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

/* @n input images (n, H, W) of random bytes from @seed. */
static guint8 *
random_images (guint n, gint width, gint height, guint32 seed)
{
  GRand *rand = g_rand_new_with_seed (seed);
  gsize size = (gsize) n * width * height, i;
  guint8 *out = g_malloc (size);

  for (i = 0; i < size; i++)
    out[i] = (guint8) g_rand_int_range (rand, 0, 256);
  g_rand_free (rand);
  return out;
}

/* A harness around a pixelcnnfill with the given properties, fed GRAY8 at
 * @width × @height, 1/1. */
static GstHarness *new_fill (const gchar *model, gint width, gint height,
    const gchar *first_property, ...) G_GNUC_NULL_TERMINATED;
static GstHarness *
new_fill (const gchar *model, gint width, gint height,
    const gchar *first_property, ...)
{
  GstElement *e = gst_element_factory_make ("pixelcnnfill", NULL);
  GstHarness *h;
  gchar *caps;
  va_list args;

  /* The harness starts a filter at once: the model must be set before. */
  g_object_set (e, "model", model, NULL);
  va_start (args, first_property);
  if (first_property != NULL)
    g_object_set_valist (G_OBJECT (e), first_property, args);
  va_end (args);
  h = gst_harness_new_with_element (e, "sink", "src");
  gst_object_unref (e);
  caps = g_strdup_printf ("video/x-raw, format=GRAY8, width=%d, height=%d, "
                          "framerate=1/1, pixel-aspect-ratio=1/1",
      width, height);
  gst_harness_set_src_caps_str (h, caps);
  g_free (caps);
  return h;
}

/* Pushes @images (n, H, W) through @h as frames of rows @stride apart,
 * frame i at i seconds, then EOS; returns the output buffers. */
static GPtrArray *
push_images (GstHarness *h, const guint8 *images, guint n, gint width,
    gint height, gint stride)
{
  GPtrArray *out;
  guint i;
  gint r;

  for (i = 0; i < n; i++) {
    GstBuffer *buf =
        gst_buffer_new_allocate (NULL, (gsize) stride * height, NULL);
    GstMapInfo map;

    gst_buffer_map (buf, &map, GST_MAP_WRITE);
    memset (map.data, 0xAA, map.size);
    for (r = 0; r < height; r++)
      memcpy (map.data + r * stride, images + ((gsize) i * height + r) * width,
          width);
    gst_buffer_unmap (buf, &map);
    GST_BUFFER_PTS (buf) = i * GST_SECOND + 5;
    GST_BUFFER_DURATION (buf) = GST_SECOND - 1;
    GST_BUFFER_OFFSET (buf) = 100 + i;
    GST_BUFFER_OFFSET_END (buf) = 101 + i;
    g_assert_cmpint (gst_harness_push (h, buf), ==, GST_FLOW_OK);
  }
  g_assert_true (gst_harness_push_event (h, gst_event_new_eos ()));
  out = test_pull_until_eos (h);
  g_assert_cmpuint (out->len, ==, n);
  for (i = 0; i < n; i++) {
    GstBuffer *buf = g_ptr_array_index (out, i);

    g_assert_cmpuint (GST_BUFFER_PTS (buf), ==, i * GST_SECOND + 5);
    g_assert_cmpuint (GST_BUFFER_DURATION (buf), ==, GST_SECOND - 1);
    g_assert_cmpuint (GST_BUFFER_OFFSET (buf), ==, 100 + i);
    g_assert_cmpuint (GST_BUFFER_OFFSET_END (buf), ==, 101 + i);
  }
  return out;
}

/* The images in @buffers, packed (n, H, W). */
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

/* libargen's completion of @images (n, H, W) given @known (H, W), one image
 * per call as the element's default thread does (the result is the same
 * for any batch). */
static guint8 *
reference_complete (ArPixelCnn *pc, const guint8 *images, const guint8 *known,
    guint n, guint64 seed, gfloat temperature, int cls)
{
  const ArPixelCnnConfig *c = ar_pixelcnn_get_config (pc);
  gsize size = (gsize) c->width * c->height;
  ArPixelCnnGen *g = ar_pixelcnn_gen_new (pc);
  guint8 *out = g_memdup2 (images, n * size);
  GError *error = NULL;
  guint i;

  g_assert_true (ar_pixelcnn_gen_set_class (g, cls, &error));
  g_assert_no_error (error);
  ar_pixelcnn_gen_set_temperature (g, temperature);
  ar_pixelcnn_gen_reset (g, seed);
  for (i = 0; i < n; i++)
    ar_pixelcnn_gen_complete (g, out + i * size, known, 1, NULL);
  ar_pixelcnn_gen_free (g);
  return out;
}

/* known (H, W) for the top @rows rows. */
static guint8 *
rows_known (gint width, gint height, gint rows)
{
  guint8 *known = g_malloc0 ((gsize) width * height);

  memset (known, 1, (gsize) rows * width);
  return known;
}

/* Kept pixels equal the input, the others the reference, and at least one
 * drawn pixel per image differs from the input. */
static void
check_completion (const guint8 *got, const guint8 *input, const guint8 *ref,
    const guint8 *known, guint n, gsize size)
{
  guint i;
  gsize p;

  g_assert_cmpmem (got, n * size, ref, n * size);
  for (i = 0; i < n; i++) {
    guint changed = 0;

    for (p = 0; p < size; p++) {
      if (known[p])
        g_assert_cmpuint (got[i * size + p], ==, input[i * size + p]);
      else
        changed += got[i * size + p] != input[i * size + p];
    }
    g_assert_cmpuint (changed, >, 0);
  }
}

/* ---- properties -------------------------------------------------------- */

static void
test_properties (void)
{
  GstElement *e = gst_element_factory_make ("pixelcnnfill", NULL);
  GParamSpec *p;
  GParamSpecInt *pi;
  GstElementClass *klass;
  GValue v = G_VALUE_INIT;

  test_assert_blurbs ("pixelcnnfill");
  test_assert_media_properties (G_OBJECT (e),
      "resource:///org/gstreamer/argen/defaults/pixelcnn-fashion.gguf", 1.0f,
      AR_THREADPOOL_MAX_THREADS);

  pi = G_PARAM_SPEC_INT (test_find_property (G_OBJECT (e), "keep-rows",
      G_TYPE_PARAM_INT));
  g_assert_cmpint (pi->minimum, ==, -1);
  g_assert_cmpint (pi->default_value, ==, -1);

  p = test_find_property (G_OBJECT (e), "keep-rect", GST_TYPE_PARAM_ARRAY_LIST);
  g_assert_true (p->flags & GST_PARAM_MUTABLE_PLAYING);
  g_value_init (&v, GST_TYPE_ARRAY);
  g_object_get_property (G_OBJECT (e), "keep-rect", &v);
  g_assert_cmpuint (gst_value_array_get_size (&v), ==, 0);
  g_value_unset (&v);
  gst_util_set_object_arg (G_OBJECT (e), "keep-rect", "<1, 2, 3, 4>");
  g_value_init (&v, GST_TYPE_ARRAY);
  g_object_get_property (G_OBJECT (e), "keep-rect", &v);
  g_assert_cmpuint (gst_value_array_get_size (&v), ==, 4);
  g_assert_cmpint (g_value_get_int (gst_value_array_get_value (&v, 3)), ==, 4);
  g_value_unset (&v);

  p = test_find_property (G_OBJECT (e), "class", G_TYPE_PARAM_STRING);
  g_assert_cmpstr (G_PARAM_SPEC_STRING (p)->default_value, ==, "random");

  klass = GST_ELEMENT_GET_CLASS (e);
  g_assert_cmpstr (gst_element_class_get_metadata (klass,
                       GST_ELEMENT_METADATA_KLASS),
      ==, "Filter/Effect/Video");
  gst_object_unref (e);
}

/* ---- completion ------------------------------------------------------------ */

/* The default keeps half the rows (4 of 8); keep-rows=3 three; the rest is
 * libargen's completion with the same seed, a random class per frame. */
static void
test_keep_rows (void)
{
  const guint n = 4;
  guint8 *input = random_images (n, 8, 8, 1);
  gint rows;

  for (rows = -1; rows <= 3; rows += 4) {
    GstHarness *h = new_fill (class_path, 8, 8, "seed", (gint64) 5, NULL);
    guint8 *known = rows_known (8, 8, rows < 0 ? 4 : rows);
    GPtrArray *out;
    guint8 *got, *ref;

    if (rows >= 0)
      g_object_set (h->element, "keep-rows", rows, NULL);
    out = push_images (h, input, n, 8, 8, 8);
    gst_harness_teardown (h);
    got = images_of (out, 8, 8, 8);
    ref = reference_complete (class_model, input, known, n, 5, 1.0f, -1);
    check_completion (got, input, ref, known, n, 64);
    g_free (got);
    g_free (ref);
    g_free (known);
    g_ptr_array_unref (out);
  }
  g_free (input);
}

/* A width of 10: rows 12 bytes apart. */
static void
test_stride (void)
{
  const guint n = 2;
  guint8 *input = random_images (n, 10, 6, 2);
  guint8 *known = rows_known (10, 6, 2);
  GstHarness *h;
  GPtrArray *out;
  guint8 *got, *ref;

  h = new_fill (wide_path, 10, 6, "seed", (gint64) 8, "keep-rows", 2, NULL);
  out = push_images (h, input, n, 10, 6, 12);
  gst_harness_teardown (h);
  got = images_of (out, 10, 6, 12);
  ref = reference_complete (wide_model, input, known, n, 8, 1.0f, -1);
  check_completion (got, input, ref, known, n, 60);
  g_free (got);
  g_free (ref);
  g_free (known);
  g_free (input);
  g_ptr_array_unref (out);
}

/* A kept rectangle (clipped to the frame): inside it the input, outside
 * libargen's completion. */
static void
test_keep_rect (void)
{
  const guint n = 3;
  guint8 *input = random_images (n, 8, 8, 3);
  guint8 *known = g_malloc0 (64);
  GstHarness *h;
  GPtrArray *out;
  guint8 *got, *ref;
  gint r, c;

  /* <5, 2, 6, 3>: columns 5-7 (8-10 clipped), rows 2-4 */
  for (r = 2; r < 5; r++)
    for (c = 5; c < 8; c++)
      known[r * 8 + c] = 1;
  h = new_fill (class_path, 8, 8, "seed", (gint64) 4, "class", "bag",
      "keep-rows", 6, NULL);
  gst_util_set_object_arg (G_OBJECT (h->element), "keep-rect", "<5, 2, 6, 3>");
  out = push_images (h, input, n, 8, 8, 8);
  gst_harness_teardown (h);
  got = images_of (out, 8, 8, 8);
  ref = reference_complete (class_model, input, known, n, 4, 1.0f, 2);
  check_completion (got, input, ref, known, n, 64);
  g_free (got);
  g_free (ref);
  g_free (known);
  g_free (input);
  g_ptr_array_unref (out);
}

/* The same output for 1, 2 and all threads: with 2, batches of 4, the
 * fifth frame held until EOS. */
static void
test_threads (void)
{
  const guint n = 5;
  guint8 *input = random_images (n, 8, 8, 4);
  guint8 *got[3];
  guint threads[3] = { 1, 2, 0 }, t;

  for (t = 0; t < 3; t++) {
    GstHarness *h = new_fill (class_path, 8, 8, "seed", (gint64) 6, "threads",
        threads[t], NULL);
    GPtrArray *out = push_images (h, input, n, 8, 8, 8);

    gst_harness_teardown (h);
    got[t] = images_of (out, 8, 8, 8);
    g_ptr_array_unref (out);
  }
  g_assert_cmpmem (got[0], n * 64, got[1], n * 64);
  g_assert_cmpmem (got[0], n * 64, got[2], n * 64);
  for (t = 0; t < 3; t++)
    g_free (got[t]);
  g_free (input);
}

/* The frames a batch holds back are latency: a live pipeline must allow
 * for them, else every frame reaches the sink late.  Two threads complete
 * batches of four frames, the first of which waits three frames (3 s at
 * 1/1); one thread adds nothing. */
static void
test_latency (void)
{
  guint threads[2] = { 1, 2 }, t;
  GstClockTime upstream = 40 * GST_MSECOND;

  for (t = 0; t < 2; t++) {
    GstHarness *h = new_fill (class_path, 8, 8, "threads", threads[t], NULL);
    GstClockTime expected = t == 0 ? 0 : 3 * GST_SECOND;
    GstClockTime min, max;
    GstQuery *query;
    gboolean live;

    gst_harness_set_upstream_latency (h, upstream);
    query = gst_query_new_latency ();
    g_assert_true (gst_pad_peer_query (h->sinkpad, query));
    gst_query_parse_latency (query, &live, &min, &max);
    g_assert_true (live);
    g_assert_cmpuint (min, ==, upstream + expected);
    g_assert_false (GST_CLOCK_TIME_IS_VALID (max));
    gst_query_unref (query);
    gst_harness_teardown (h);
  }
}

/* A buffer too small for the caps is dropped with a warning, as
 * GstVideoFilter does; the frames around it, in its batch too, are
 * completed as if it had never come (it was an error that dropped the
 * whole batch and stopped the stream). */
static void
test_short_buffer (void)
{
  guint8 *input = random_images (3, 8, 8, 8);
  guint8 *known = rows_known (8, 8, 4);
  guint threads[2] = { 1, 2 }, t, i;
  guint8 *kept, *ref;

  /* The reference: frames 0 and 2, as images 0 and 1 of the seed. */
  kept = g_malloc (2 * 64);
  memcpy (kept, input, 64);
  memcpy (kept + 64, input + 2 * 64, 64);
  ref = reference_complete (class_model, kept, known, 2, 4, 1.0f, -1);

  for (t = 0; t < 2; t++) {
    GstHarness *h = new_fill (class_path, 8, 8, "seed", (gint64) 4, "threads",
        threads[t], NULL);
    GstBus *bus = gst_bus_new ();
    GError *error = NULL;
    GstMessage *msg;
    GPtrArray *out;
    guint8 *got;

    gst_element_set_bus (h->element, bus);
    for (i = 0; i < 3; i++) {
      GstBuffer *buf = i == 1 ? gst_buffer_new_allocate (NULL, 10, NULL)
                              : gst_buffer_new_memdup (input + i * 64, 64);

      GST_BUFFER_PTS (buf) = i * GST_SECOND;
      g_assert_cmpint (gst_harness_push (h, buf), ==, GST_FLOW_OK);
    }
    g_assert_true (gst_harness_push_event (h, gst_event_new_eos ()));
    out = test_pull_until_eos (h);
    g_assert_cmpuint (out->len, ==, 2);
    g_assert_cmpuint (GST_BUFFER_PTS (g_ptr_array_index (out, 1)), ==,
        2 * GST_SECOND);
    got = images_of (out, 8, 8, 8);
    check_completion (got, kept, ref, known, 2, 64);

    msg = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
    g_assert_nonnull (msg);
    gst_message_parse_warning (msg, &error, NULL);
    g_test_message ("%s", error->message);
    g_assert_nonnull (strstr (error->message, "10 bytes"));
    g_assert_nonnull (strstr (error->message, "8 x 8"));
    g_clear_error (&error);
    gst_message_unref (msg);
    g_assert_null (gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR));

    gst_element_set_bus (h->element, NULL);
    gst_object_unref (bus);
    gst_harness_teardown (h);
    g_free (got);
    g_ptr_array_unref (out);
  }
  g_free (ref);
  g_free (kept);
  g_free (known);
  g_free (input);
}

/* Interlaced frames are refused: their rows alternate between two fields,
 * and the model completes whole images in raster order. */
static void
test_interlaced (void)
{
  GstElement *e = gst_element_factory_make ("pixelcnnfill", NULL);
  GstHarness *h;

  g_object_set (e, "model", class_path, NULL);
  h = gst_harness_new_with_element (e, "sink", "src");
  gst_object_unref (e);
  gst_harness_set_src_caps_str (h,
      "video/x-raw, format=GRAY8, width=8, height=8, framerate=1/1, "
      "pixel-aspect-ratio=1/1, interlace-mode=interleaved");
  g_assert_cmpint (gst_harness_push (h,
                       gst_buffer_new_allocate (NULL, 64, NULL)),
      ==, GST_FLOW_NOT_NEGOTIATED);
  gst_harness_teardown (h);
}

/* A class by name or index, greedy at temperature 0: libargen's. */
static void
test_class_temperature (void)
{
  const guint n = 2;
  guint8 *input = random_images (n, 8, 8, 5);
  guint8 *known = rows_known (8, 8, 4);
  const gchar *classes[2] = { "sneaker", "1" };
  guint i;

  for (i = 0; i < 2; i++) {
    GstHarness *h = new_fill (class_path, 8, 8, "seed", (gint64) 1, "class",
        classes[i], "temperature", 0.0f, NULL);
    GPtrArray *out = push_images (h, input, n, 8, 8, 8);
    guint8 *got, *ref;

    gst_harness_teardown (h);
    got = images_of (out, 8, 8, 8);
    ref = reference_complete (class_model, input, known, n, 1, 0.0f, 1);
    check_completion (got, input, ref, known, n, 64);
    g_free (got);
    g_free (ref);
    g_ptr_array_unref (out);
  }
  g_free (known);
  g_free (input);
}

/* A control source drops the temperature to 0 at 2 s: frames are synced at
 * their stream times (i s + 5 ns), so frames 0-1 are sampled and 2-3
 * greedy, exactly libargen's. */
static void
test_temperature_controlled (void)
{
  GstControlSource *cs = gst_interpolation_control_source_new ();
  GstTimedValueControlSource *tvcs = GST_TIMED_VALUE_CONTROL_SOURCE (cs);
  const guint n = 4;
  guint8 *input = random_images (n, 8, 8, 6);
  guint8 *known = rows_known (8, 8, 4);
  ArPixelCnnGen *g;
  GstHarness *h;
  GPtrArray *out;
  guint8 *got, *ref;
  guint i;

  g_object_set (cs, "mode", GST_INTERPOLATION_MODE_NONE, NULL);
  gst_timed_value_control_source_set (tvcs, 0, 1.0);
  gst_timed_value_control_source_set (tvcs, 2 * GST_SECOND, 0.0);
  h = new_fill (class_path, 8, 8, "seed", (gint64) 7, NULL);
  gst_object_add_control_binding (GST_OBJECT (h->element),
      gst_direct_control_binding_new_absolute (GST_OBJECT (h->element),
          "temperature", cs));
  out = push_images (h, input, n, 8, 8, 8);
  gst_harness_teardown (h);
  got = images_of (out, 8, 8, 8);

  ref = g_memdup2 (input, n * 64);
  g = ar_pixelcnn_gen_new (class_model);
  ar_pixelcnn_gen_reset (g, 7);
  for (i = 0; i < n; i++) {
    ar_pixelcnn_gen_set_temperature (g, i < 2 ? 1.0f : 0.0f);
    ar_pixelcnn_gen_complete (g, ref + i * 64, known, 1, NULL);
  }
  ar_pixelcnn_gen_free (g);
  check_completion (got, input, ref, known, n, 64);

  g_free (got);
  g_free (ref);
  g_free (known);
  g_free (input);
  g_ptr_array_unref (out);
  gst_object_unref (cs);
}

/* ---- negotiation ------------------------------------------------------------ */

/* A stream of another size: the caps are refused, buffers are
 * not-negotiated, and a warning names both sizes (in a pipeline, beside
 * upstream's not-negotiated error); through videoscale the pipeline
 * runs. */
static void
test_wrong_size (void)
{
  GstElement *e = gst_element_factory_make ("pixelcnnfill", NULL);
  GstBus *bus = gst_bus_new ();
  GError *error = NULL;
  GstMessage *msg;
  gchar *description;
  GstHarness *h;

  g_object_set (e, "model", class_path, NULL);
  h = gst_harness_new_with_element (e, "sink", "src");
  gst_object_unref (e);
  gst_element_set_bus (h->element, bus);
  gst_harness_set_src_caps_str (h,
      "video/x-raw, format=GRAY8, width=16, "
      "height=12, framerate=1/1, "
      "pixel-aspect-ratio=1/1");
  g_assert_cmpint (gst_harness_push (h,
                       gst_buffer_new_allocate (NULL, 192, NULL)),
      ==, GST_FLOW_NOT_NEGOTIATED);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
  g_assert_nonnull (msg);
  gst_message_parse_warning (msg, &error, NULL);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "8 x 8"));
  g_assert_nonnull (strstr (error->message, "16 x 12"));
  g_assert_nonnull (strstr (error->message, "videoscale"));
  g_clear_error (&error);
  gst_message_unref (msg);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);

  description =
      g_strdup_printf ("videotestsrc num-buffers=2 ! video/x-raw, "
                       "format=GRAY8, width=16, height=12 ! pixelcnnfill "
                       "model=\"%s\" ! fakesink",
          class_path);
  {
    GstElement *pipeline = gst_parse_launch (description, &error);
    gboolean warned = FALSE;

    g_assert_no_error (error);
    bus = gst_element_get_bus (pipeline);
    gst_element_set_state (pipeline, GST_STATE_PLAYING);
    for (;;) {
      msg = gst_bus_timed_pop_filtered (bus, 30 * GST_SECOND,
          GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_WARNING);
      g_assert_nonnull (msg);
      if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_WARNING) {
        gst_message_parse_warning (msg, &error, NULL);
        g_test_message ("warning: %s", error->message);
        warned = strstr (error->message, "8 x 8") != NULL &&
            strstr (error->message, "16 x 12") != NULL;
        g_clear_error (&error);
        gst_message_unref (msg);
        continue;
      }
      break;
    }
    g_assert_cmpint (GST_MESSAGE_TYPE (msg), ==, GST_MESSAGE_ERROR);
    g_assert_true (warned);
    gst_message_unref (msg);
    gst_element_set_state (pipeline, GST_STATE_NULL);
    gst_object_unref (bus);
    gst_object_unref (pipeline);
  }
  g_free (description);

  description =
      g_strdup_printf ("videotestsrc num-buffers=2 ! video/x-raw, "
                       "format=GRAY8, width=16, height=12 ! videoscale ! "
                       "pixelcnnfill model=\"%s\" ! fakesink",
          class_path);
  msg = test_run_pipeline (description, NULL);
  g_assert_cmpint (GST_MESSAGE_TYPE (msg), ==, GST_MESSAGE_EOS);
  gst_message_unref (msg);
  g_free (description);
}

/* ---- statistics ------------------------------------------------------------- */

/* pixelcnnsrc into pixelcnnfill: both post their statistics. */
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

  description = g_strdup_printf ("pixelcnnsrc model=\"%s\" num-buffers=3 "
                                 "seed=2 ! pixelcnnfill model=\"%s\" "
                                 "keep-rows=2 ! fakesink",
      class_path, class_path);
  end = test_run_pipeline (description, messages);
  g_assert_cmpint (GST_MESSAGE_TYPE (end), ==, GST_MESSAGE_EOS);
  gst_message_unref (end);

  g_assert_nonnull (test_find_statistics (messages, "pixelcnnsrc-statistics"));
  s = test_find_statistics (messages, "pixelcnnfill-statistics");
  g_assert_nonnull (s);
  g_assert_true (gst_structure_get_uint64 (s, "images", &images));
  g_assert_true (gst_structure_get_double (s, "seconds", &seconds));
  g_assert_true (gst_structure_get_double (s, "images-per-second",
      &per_second));
  g_assert_cmpuint (images, ==, 3);
  g_assert_cmpfloat (seconds, >, 0.0);
  g_assert_cmpfloat_with_epsilon (per_second, images / seconds,
      1e-9 * per_second);
  g_ptr_array_unref (messages);
  g_free (description);
}

/* Every end of the stream gets its statistics, also one reached again after
 * a flush (a flushing seek after EOS). */
static void
test_statistics_each_eos (void)
{
  GstHarness *h = new_fill (class_path, 8, 8, "seed", (gint64) 3, NULL);
  GstBus *bus = gst_bus_new ();
  guint8 *image = g_malloc0 (64);
  GstSegment segment;

  gst_element_set_bus (h->element, bus);
  for (int round = 0; round < 2; round++) {
    GPtrArray *out;
    GstMessage *msg;
    const GstStructure *s;
    guint64 images = 0;

    if (round > 0) {
      g_assert_true (gst_harness_push_event (h, gst_event_new_flush_start ()));
      g_assert_true (gst_harness_push_event (h,
              gst_event_new_flush_stop (TRUE)));
      gst_segment_init (&segment, GST_FORMAT_TIME);
      g_assert_true (gst_harness_push_event (h,
              gst_event_new_segment (&segment)));
    }
    out = push_images (h, image, 1, 8, 8, 8);
    g_ptr_array_unref (out);
    msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT);
    g_assert_nonnull (msg);
    s = gst_message_get_structure (msg);
    g_assert_true (gst_structure_has_name (s, "pixelcnnfill-statistics"));
    /* the counts run from the start */
    g_assert_true (gst_structure_get_uint64 (s, "images", &images));
    g_assert_cmpuint (images, ==, round + 1);
    gst_message_unref (msg);
    g_assert_null (gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT));
  }
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  g_free (image);
  gst_harness_teardown (h);
}

/* ---- errors ---------------------------------------------------------------- */

static void
check_error (const gchar *properties, ...)
{
  gchar *description, *message;
  const gchar *needle;
  va_list args;

  description = g_strdup_printf ("videotestsrc num-buffers=1 ! video/x-raw, "
                                 "format=GRAY8, width=8, height=8 ! "
                                 "pixelcnnfill %s ! fakesink",
      properties);
  message = test_pipeline_error (description);
  va_start (args, properties);
  while ((needle = va_arg (args, const gchar *)) != NULL)
    g_assert_nonnull (strstr (message, needle));
  va_end (args);
  g_free (message);
  g_free (description);
}

static void
test_errors (void)
{
  const gchar *garbage = test_file_path ("garbage.gguf");
  GError *error = NULL;
  gchar *props;

  check_error ("model=/nonexistent/fashion.gguf", "/nonexistent/fashion.gguf",
      NULL);

  g_assert_true (g_file_set_contents (garbage, "GGUF but not really", -1,
      &error));
  g_assert_no_error (error);
  props = g_strdup_printf ("model=\"%s\"", garbage);
  check_error (props, garbage, NULL);
  g_free (props);

  props = g_strdup_printf ("model=\"%s\"", ARGEN_DEFAULT_TEXT_MODEL);
  check_error (props, ARGEN_DEFAULT_TEXT_MODEL, "pixelcnn", NULL);
  g_free (props);

  props = g_strdup_printf ("model=\"%s\" class=hat", class_path);
  check_error (props, "\"hat\"", "shirt, sneaker, bag", NULL);
  g_free (props);
}

int
main (int argc, char **argv)
{
  int ret;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  test_files_init ();
  class_model = make_model (8, 8, 3, MODEL_SEED);
  class_path = write_model (class_model, "classes.gguf", class_names);
  wide_model = make_model (10, 6, 0, MODEL_SEED + 1);
  wide_path = write_model (wide_model, "wide.gguf", NULL);

  g_test_add_func ("/pixelcnnfill/properties", test_properties);
  g_test_add_func ("/pixelcnnfill/keep-rows", test_keep_rows);
  g_test_add_func ("/pixelcnnfill/stride", test_stride);
  g_test_add_func ("/pixelcnnfill/keep-rect", test_keep_rect);
  g_test_add_func ("/pixelcnnfill/threads", test_threads);
  g_test_add_func ("/pixelcnnfill/latency", test_latency);
  g_test_add_func ("/pixelcnnfill/short-buffer", test_short_buffer);
  g_test_add_func ("/pixelcnnfill/class-temperature", test_class_temperature);
  g_test_add_func ("/pixelcnnfill/temperature-controlled",
      test_temperature_controlled);
  g_test_add_func ("/pixelcnnfill/wrong-size", test_wrong_size);
  g_test_add_func ("/pixelcnnfill/interlaced", test_interlaced);
  g_test_add_func ("/pixelcnnfill/statistics", test_statistics);
  g_test_add_func ("/pixelcnnfill/statistics-each-eos",
      test_statistics_each_eos);
  g_test_add_func ("/pixelcnnfill/errors", test_errors);

  ret = g_test_run ();

  ar_pixelcnn_unref (class_model);
  ar_pixelcnn_unref (wide_model);
  test_files_clear ();
  gst_deinit ();
  return ret;
}
