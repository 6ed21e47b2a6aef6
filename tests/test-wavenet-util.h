/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-wavenet-util.h — what the WaveNet element tests (test-wavenetsrc.c,
 * test-wavenetvocoder.c) share, header-only: small random models written to
 * a temporary directory, buffers pulled from a harness, pipelines run to
 * their end. */
#pragma once

#include <gst/gst.h>
#include <gst/check/gstharness.h>
#include <glib/gstdio.h>
#include <string.h>

#include "wavenet/ar-wavenet.h"

#define TEST_RATE 8000

/* Files written by the test, removed at exit. */
typedef struct
{
  gchar *dir;
  GPtrArray *paths;
} TestFiles;

static TestFiles test_files;

static inline void
test_files_init (void)
{
  GError *error = NULL;

  test_files.dir = g_dir_make_tmp ("argen-wavenet-XXXXXX", &error);
  g_assert_no_error (error);
  test_files.paths = g_ptr_array_new_with_free_func (g_free);
}

static inline void
test_files_clear (void)
{
  guint i;

  for (i = 0; i < test_files.paths->len; i++)
    g_unlink (g_ptr_array_index (test_files.paths, i));
  g_rmdir (test_files.dir);
  g_ptr_array_unref (test_files.paths);
  g_free (test_files.dir);
}

/* A path in the test directory (kept for removal at exit). */
static inline const gchar *
test_file_path (const gchar *name)
{
  gchar *path = g_build_filename (test_files.dir, name, NULL);

  g_ptr_array_add (test_files.paths, path);
  return path;
}

/* A small random WaveNet at TEST_RATE: 1 stack of 4 layers, 8 residual
 * channels; @classes global classes named by @names (NULL: "0", "1" …);
 * @cond_channels > 0 makes it a vocoder with the default mel front end. */
static inline ArWaveNet *
test_make_model (int classes, int cond_channels, guint64 seed)
{
  ArWaveNetConfig config = { TEST_RATE, 256, 8, 16, 16, 16, 1, 4, classes,
    cond_channels, AR_MEL_PARAMS_INIT, 0.0f };
  GError *error = NULL;
  ArWaveNet *wn;

  wn = ar_wavenet_new_random (&config, seed, &error);
  g_assert_no_error (error);
  g_assert_nonnull (wn);
  return wn;
}

/* Writes @wn as @name in the test directory; @names (classes entries)
 * replaces the default class names when not NULL. */
static inline const gchar *
test_write_model (ArWaveNet *wn, const gchar *name, const char *const *names)
{
  ArGgufWriter *w = ar_gguf_writer_new ();
  const gchar *path = test_file_path (name);
  GError *error = NULL;

  ar_wavenet_write (wn, w, FALSE);
  if (names != NULL)
    ar_gguf_writer_set_string_array (w, "wavenet.global.names", names, NULL,
        ar_wavenet_get_config (wn)->global_classes);
  g_assert_true (ar_gguf_writer_write_file (w, path, &error));
  g_assert_no_error (error);
  ar_gguf_writer_free (w);
  return path;
}

/* Pulls every buffer up to EOS from a playing harness. */
static inline GPtrArray *
test_pull_until_eos (GstHarness *h)
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

/* The contents of @buffers, concatenated. */
static inline GBytes *
test_buffers_bytes (GPtrArray *buffers)
{
  GByteArray *bytes = g_byte_array_new ();
  guint i;

  for (i = 0; i < buffers->len; i++) {
    GstMapInfo map;

    g_assert_true (gst_buffer_map (g_ptr_array_index (buffers, i), &map,
        GST_MAP_READ));
    g_byte_array_append (bytes, map.data, map.size);
    gst_buffer_unmap (g_ptr_array_index (buffers, i), &map);
  }
  return g_byte_array_free_to_bytes (bytes);
}

/* Runs @description until EOS or an error and returns that message; element
 * messages on the way are added to @element_messages when not NULL. */
static inline GstMessage *
test_run_pipeline (const gchar *description, GPtrArray *element_messages)
{
  GError *error = NULL;
  GstElement *pipeline;
  GstMessage *msg;
  GstBus *bus;

  g_test_message ("%s", description);
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

/* Runs @description, which must fail; returns the first error's message
 * (g_free it) after logging it. */
static inline gchar *
test_pipeline_error (const gchar *description)
{
  GstMessage *end = test_run_pipeline (description, NULL);
  GError *error = NULL;
  gchar *debug = NULL, *message;

  g_assert_cmpint (GST_MESSAGE_TYPE (end), ==, GST_MESSAGE_ERROR);
  gst_message_parse_error (end, &error, &debug);
  g_test_message ("error from %s: %s (%s)", GST_OBJECT_NAME (end->src),
      error->message, debug);
  message = g_strdup (error->message);
  g_error_free (error);
  g_free (debug);
  gst_message_unref (end);
  return message;
}

/* The statistics message @name among @messages (exactly one). */
static inline const GstStructure *
test_find_statistics (GPtrArray *messages, const gchar *name)
{
  const GstStructure *found = NULL;
  guint i;

  for (i = 0; i < messages->len; i++) {
    GstMessage *msg = g_ptr_array_index (messages, i);

    if (gst_message_has_name (msg, name)) {
      g_assert_null (found);
      found = gst_message_get_structure (msg);
    }
  }
  return found;
}

/* Every property of @factory explains itself, as gst-inspect-1.0 shows it. */
static inline void
test_assert_blurbs (const gchar *factory)
{
  GstElement *e = gst_element_factory_make (factory, NULL);
  GParamSpec **pspecs;
  guint i, n;

  g_assert_nonnull (e);
  pspecs = g_object_class_list_properties (G_OBJECT_GET_CLASS (e), &n);
  for (i = 0; i < n; i++) {
    const gchar *blurb = g_param_spec_get_blurb (pspecs[i]);

    g_test_message ("%s: %s", pspecs[i]->name, blurb);
    g_assert_nonnull (blurb);
    g_assert_cmpuint (strlen (blurb), >, 5);
    g_assert_nonnull (g_param_spec_get_nick (pspecs[i]));
  }
  g_free (pspecs);
  gst_object_unref (e);
}

/* @name's pspec on @object, of @pspec_type, readable and writable. */
static inline GParamSpec *
test_find_property (GObject *object, const gchar *name, GType pspec_type)
{
  GParamSpec *pspec =
      g_object_class_find_property (G_OBJECT_GET_CLASS (object), name);

  g_assert_nonnull (pspec);
  g_assert_true (G_TYPE_CHECK_INSTANCE_TYPE (pspec, pspec_type));
  g_assert_true (pspec->flags & G_PARAM_READWRITE);
  return pspec;
}

/* The four properties every media element (wavenetsrc, wavenetvocoder,
 * pixelcnnsrc, pixelcnnfill) has — model, seed, temperature, threads —
 * with exactly their ranges, defaults and flags, on a fresh @object (whose
 * values must be the defaults) and through a set and get of each: the
 * elements install them with one shared installer, so a slip there shows
 * up in all four tests.  @default_model is the resource:// URI of the
 * embedded model; temperature is controllable and changeable while
 * playing in every one of them; @max_threads is the top of threads' range
 * (the most threads the element can use). */
static inline void
test_assert_media_properties (GObject *object, const gchar *default_model,
    gfloat default_temperature, guint max_threads)
{
  GParamSpec *p;
  GParamSpecString *ps;
  GParamSpecInt64 *pi64;
  GParamSpecFloat *pf;
  GParamSpecUInt *pu;
  gchar *model = NULL;
  gint64 seed = 0;
  gfloat temperature = 0.0f;
  guint threads = 0;

  p = test_find_property (object, "model", G_TYPE_PARAM_STRING);
  ps = G_PARAM_SPEC_STRING (p);
  g_assert_cmpstr (ps->default_value, ==, default_model);
  g_assert_true (p->flags & GST_PARAM_MUTABLE_READY);
  g_assert_false (p->flags & GST_PARAM_MUTABLE_PLAYING);
  g_assert_false (p->flags & GST_PARAM_CONTROLLABLE);

  p = test_find_property (object, "seed", G_TYPE_PARAM_INT64);
  pi64 = G_PARAM_SPEC_INT64 (p);
  g_assert_cmpint (pi64->minimum, ==, -1);
  g_assert_cmpint (pi64->maximum, ==, G_MAXINT64);
  g_assert_cmpint (pi64->default_value, ==, -1);
  g_assert_true (p->flags & GST_PARAM_MUTABLE_READY);
  g_assert_false (p->flags & GST_PARAM_MUTABLE_PLAYING);
  g_assert_false (p->flags & GST_PARAM_CONTROLLABLE);

  p = test_find_property (object, "temperature", G_TYPE_PARAM_FLOAT);
  pf = G_PARAM_SPEC_FLOAT (p);
  g_assert_cmpfloat (pf->minimum, ==, 0.0f);
  g_assert_cmpfloat (pf->maximum, ==, 10.0f);
  g_assert_cmpfloat (pf->default_value, ==, default_temperature);
  g_assert_true (p->flags & GST_PARAM_MUTABLE_PLAYING);
  g_assert_true (p->flags & GST_PARAM_CONTROLLABLE);

  p = test_find_property (object, "threads", G_TYPE_PARAM_UINT);
  pu = G_PARAM_SPEC_UINT (p);
  g_assert_cmpuint (pu->minimum, ==, 0);
  g_assert_cmpuint (pu->maximum, ==, max_threads);
  g_assert_cmpuint (pu->default_value, ==, 1);
  g_assert_true (p->flags & GST_PARAM_MUTABLE_READY);
  g_assert_false (p->flags & GST_PARAM_MUTABLE_PLAYING);
  g_assert_false (p->flags & GST_PARAM_CONTROLLABLE);

  /* The instance starts at the defaults the pspecs announce. */
  g_object_get (object, "model", &model, "seed", &seed, "temperature",
      &temperature, "threads", &threads, NULL);
  g_assert_cmpstr (model, ==, default_model);
  g_assert_cmpint (seed, ==, -1);
  g_assert_cmpfloat (temperature, ==, default_temperature);
  g_assert_cmpuint (threads, ==, 1);
  g_free (model);

  /* Each property keeps what it is given, independently of the others. */
  g_object_set (object, "model", "/nonexistent/m.gguf", "seed",
      G_GINT64_CONSTANT (1234567890123), "temperature", 2.5f, "threads",
      max_threads, NULL);
  g_object_get (object, "model", &model, "seed", &seed, "temperature",
      &temperature, "threads", &threads, NULL);
  g_assert_cmpstr (model, ==, "/nonexistent/m.gguf");
  g_assert_cmpint (seed, ==, G_GINT64_CONSTANT (1234567890123));
  g_assert_cmpfloat (temperature, ==, 2.5f);
  g_assert_cmpuint (threads, ==, max_threads);
  g_free (model);
  /* NULL and "" restore the default, the embedded model (an element
   * started with either runs it, as the text elements do) */
  g_object_set (object, "model", NULL, NULL);
  g_object_get (object, "model", &model, NULL);
  g_assert_cmpstr (model, ==, default_model);
  g_free (model);
  g_object_set (object, "model", "/nonexistent/m.gguf", NULL);
  g_object_set (object, "model", "", NULL);
  g_object_get (object, "model", &model, NULL);
  g_assert_cmpstr (model, ==, default_model);
  g_free (model);
  g_object_set (object, "model", default_model, "seed", G_GINT64_CONSTANT (-1),
      "temperature", default_temperature, "threads", 1u, NULL);
}
