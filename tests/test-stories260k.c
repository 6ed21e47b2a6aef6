/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-stories260k.c — llama2.c interoperability through the elements: the
 * acceptance test of the Transformer issue.
 *
 * ../shared/data/stories260K (found through $AR_SHARED_DATA; the tests are
 * skipped only when that directory is absent) is converted with libargen's
 * converter (what `argen convert llama2c` runs) to a GGUF file in a
 * temporary directory, and then
 *   - textgensrc model=FILE temperature=0 max-tokens=200 prompt="" must
 *     output expected_t0_n200_empty_prompt.txt byte for byte.  llama2.c's
 *     test runs 200 steps; each step samples and prints one token after
 *     BOS, so that is 200 sampled tokens (the elements count sampled tokens,
 *     BOS is fed by the stream itself);
 *   - the same through gst_parse_launch() with a filesink, the command line
 *     the README documents;
 *   - textgen given an empty input line answers with the same text and a
 *     newline;
 *   - beam-width=4 gives a deterministic 200-token story of its own. */

#include <gst/gst.h>
#include <gst/check/gstharness.h>
#include <glib/gstdio.h>

#include <string.h>

#include "core/ar-gguf.h"
#include "transformer/ar-llama2c.h"

static gchar *data_dir, *tmp_dir, *model_path, *expected;
static gsize expected_len;

static gboolean
have_data (void)
{
  if (data_dir == NULL) {
    g_test_skip ("AR_SHARED_DATA/stories260K is absent");
    return FALSE;
  }
  return TRUE;
}

/* Converts the checkpoint once, into tmp_dir, and reads the test vector. */
static void
ensure_model (void)
{
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  g_autofree gchar *bin = NULL, *tok = NULL, *vec = NULL;
  GError *error = NULL;

  if (model_path != NULL)
    return;
  bin = g_build_filename (data_dir, "stories260K.bin", NULL);
  tok = g_build_filename (data_dir, "tok512.bin", NULL);
  vec = g_build_filename (data_dir, "expected_t0_n200_empty_prompt.txt", NULL);
  g_assert_true (g_file_get_contents (vec, &expected, &expected_len, &error));
  g_assert_no_error (error);

  tmp_dir = g_dir_make_tmp ("test-stories260k-XXXXXX", &error);
  g_assert_no_error (error);
  model_path = g_build_filename (tmp_dir, "stories260K.gguf", NULL);
  g_assert_true (ar_llama2c_convert (bin, tok, AR_TENSOR_F32, w, &error));
  g_assert_no_error (error);
  g_assert_true (ar_gguf_writer_write_file (w, model_path, &error));
  g_assert_no_error (error);
}

/* Every buffer of a playing harness up to EOS, concatenated; the last
 * buffer's offset-end into @offset_end. */
static gchar *
pull_text (GstHarness *h, guint64 *offset_end, gsize *len)
{
  GString *text = g_string_new (NULL);
  GstBuffer *buf = NULL;

  while (gst_harness_pull_until_eos (h, &buf)) {
    GstMapInfo map;

    if (buf == NULL) {
      *len = text->len;
      return g_string_free (text, FALSE);
    }
    g_assert_true (gst_buffer_map (buf, &map, GST_MAP_READ));
    g_string_append_len (text, (const gchar *) map.data, map.size);
    gst_buffer_unmap (buf, &map);
    *offset_end = GST_BUFFER_OFFSET_END (buf);
    gst_buffer_unref (buf);
  }
  g_error ("timed out waiting for EOS");
  return NULL;
}

static gchar *
run_src (guint beam_width, gsize *len, guint64 *offset_end)
{
  GstHarness *h = gst_harness_new ("textgensrc");
  gchar *text;

  g_object_set (h->element, "model", model_path, "temperature", 0.0f,
      "max-tokens", 200, "prompt", "", "beam-width", beam_width, NULL);
  gst_harness_play (h);
  text = pull_text (h, offset_end, len);
  gst_harness_teardown (h);
  return text;
}

static void
test_textgensrc (void)
{
  g_autofree gchar *text = NULL;
  guint64 offset_end = 0;
  gsize len;

  if (!have_data ())
    return;
  ensure_model ();
  text = run_src (1, &len, &offset_end);
  g_assert_cmpuint (offset_end, ==, 200);
  g_assert_cmpmem (text, len, expected, expected_len);
}

/* The README's command line: argen convert (done above), then
 * gst-launch-1.0 textgensrc model=… temperature=0 max-tokens=200 ! filesink. */
static void
test_launch_line (void)
{
  g_autofree gchar *out_path = NULL, *desc = NULL, *out = NULL;
  GError *error = NULL;
  GstElement *pipeline;
  GstMessage *msg;
  GstBus *bus;
  gsize len;

  if (!have_data ())
    return;
  ensure_model ();
  out_path = g_build_filename (tmp_dir, "out.txt", NULL);
  desc =
      g_strdup_printf ("textgensrc model=\"%s\" temperature=0 "
                       "max-tokens=200 prompt=\"\" ! filesink location=\"%s\"",
          model_path, out_path);
  pipeline = gst_parse_launch (desc, &error);
  g_assert_no_error (error);
  bus = gst_element_get_bus (pipeline);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  msg = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull (msg);
  g_assert_cmpint (GST_MESSAGE_TYPE (msg), ==, GST_MESSAGE_EOS);
  gst_message_unref (msg);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);

  g_assert_true (g_file_get_contents (out_path, &out, &len, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (out, len, expected, expected_len);
  g_unlink (out_path);
}

/* An empty line is an empty prompt: its continuation is the test vector. */
static void
test_textgen (void)
{
  GstHarness *h;
  GstBuffer *buf;
  GstMapInfo map;
  g_autofree gchar *want = NULL, *desc = NULL;

  if (!have_data ())
    return;
  ensure_model ();
  /* The harness plays a filter at once, so the model must be set in the
   * description: it is loaded on READY to PAUSED. */
  desc = g_strdup_printf ("textgen model=\"%s\" temperature=0 max-tokens=200",
      model_path);
  h = gst_harness_new_parse (desc);
  gst_harness_set_src_caps_str (h, "text/x-raw, format=utf8");
  g_assert_cmpint (gst_harness_push (h, gst_buffer_new_memdup ("\n", 1)), ==,
      GST_FLOW_OK);
  buf = gst_harness_pull (h);
  g_assert_nonnull (buf);
  want = g_strconcat (expected, "\n", NULL);
  g_assert_true (gst_buffer_map (buf, &map, GST_MAP_READ));
  g_assert_cmpmem (map.data, map.size, want, expected_len + 1);
  gst_buffer_unmap (buf, &map);
  gst_buffer_unref (buf);
  gst_harness_teardown (h);
}

/* A beam of 4: still 200 tokens and valid UTF-8, the same bytes on a second
 * run, starting like greedy's story (the model is nearly certain of its
 * first words) but not greedy's story: on this model a beam of 4 finds a
 * continuation far more probable than greedy's (test-beam checks the
 * search itself). */
static void
test_beam (void)
{
  g_autofree gchar *a = NULL, *b = NULL;
  guint64 offset_end = 0;
  gsize la, lb;

  if (!have_data ())
    return;
  ensure_model ();
  a = run_src (4, &la, &offset_end);
  g_assert_cmpuint (offset_end, ==, 200);
  g_assert_true (g_utf8_validate (a, la, NULL));
  g_assert_true (g_str_has_prefix (a, "Once upon a time"));
  g_assert_false (la == expected_len && memcmp (a, expected, la) == 0);
  b = run_src (4, &lb, &offset_end);
  g_assert_cmpmem (a, la, b, lb);
}

int
main (int argc, char **argv)
{
  const gchar *shared = g_getenv ("AR_SHARED_DATA");
  int ret;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  if (shared != NULL) {
    gchar *dir = g_build_filename (shared, "stories260K", NULL);
    if (g_file_test (dir, G_FILE_TEST_IS_DIR))
      data_dir = dir;
    else
      g_free (dir);
  }
  g_test_add_func ("/stories260k/textgensrc", test_textgensrc);
  g_test_add_func ("/stories260k/launch-line", test_launch_line);
  g_test_add_func ("/stories260k/textgen", test_textgen);
  g_test_add_func ("/stories260k/beam", test_beam);
  ret = g_test_run ();

  if (model_path != NULL) {
    g_unlink (model_path);
    g_rmdir (tmp_dir);
  }
  g_free (model_path);
  g_free (tmp_dir);
  g_free (expected);
  g_free (data_dir);
  return ret;
}
