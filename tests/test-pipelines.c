/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-pipelines.c — runs every example of pipelines/ so that none can rot.
 *
 * Each *.launch file of pipelines/ holds one gst-launch-1.0 description; lines
 * starting with '#' are comments, `$PIPELINES` stands for the pipelines
 * source directory, a comment `# expect-file: NAME` names a file the
 * pipeline must write (non-empty) and `# expect-lines: NAME N` one it must
 * write with exactly N lines.  The files are found at run time, one
 * test case each, and run with gst_parse_launch() to EOS in a fresh
 * temporary directory.  The example application textgen-app and the
 * vocoder demonstration script are run too, and given bad input (a missing
 * model, values out of range, Ctrl-C, a wrong build directory) to check
 * that they fail, or stop, with a message and never hang.  The training
 * recipes of pipelines/recipes/ are run for 3 steps on tiny data made
 * here, and the models they write loaded.
 *
 * Environment (tests/meson.build): ARGEN_PIPELINES_DIR, ARGEN_TEXTGEN_APP,
 * ARGEN_BUILD_DIR, ARGEN_CHILD_LD_PRELOAD and the GStreamer plugin paths. */

#include <gst/gst.h>
#include <glib/gstdio.h>

#include "core/ar-gguf.h"
#include "nar/ar-nar.h"
#include "pixelcnn/ar-pixelcnn.h"
#include "text/ar-text.h"
#include "wavenet/ar-wavenet.h"

#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PIPELINE_TIMEOUT (60 * GST_SECOND)

typedef struct
{
  gchar *description;
  GPtrArray *expect_files;
  GPtrArray *expect_lines;      /* "NAME N" */
} LaunchFile;

static LaunchFile *
launch_file_read (const gchar *path, const gchar *pipelines_dir)
{
  LaunchFile *lf = g_new0 (LaunchFile, 1);
  GError *error = NULL;
  GString *description = g_string_new (NULL);
  gchar *contents, **lines;
  guint i;

  g_assert_true (g_file_get_contents (path, &contents, NULL, &error));
  g_assert_no_error (error);
  lf->expect_files = g_ptr_array_new_with_free_func (g_free);
  lf->expect_lines = g_ptr_array_new_with_free_func (g_free);

  lines = g_strsplit (contents, "\n", -1);
  for (i = 0; lines[i] != NULL; i++) {
    const gchar *line = g_strstrip (lines[i]);

    if (g_str_has_prefix (line, "#")) {
      const gchar *expect = strstr (line, "expect-file:");
      const gchar *lines_of = strstr (line, "expect-lines:");

      if (expect != NULL)
        g_ptr_array_add (lf->expect_files,
            g_strstrip (g_strdup (expect + strlen ("expect-file:"))));
      if (lines_of != NULL)
        g_ptr_array_add (lf->expect_lines,
            g_strstrip (g_strdup (lines_of + strlen ("expect-lines:"))));
      continue;
    }
    if (line[0] == '\0')
      continue;
    if (description->len > 0)
      g_string_append_c (description, ' ');
    g_string_append (description, line);
  }
  g_string_replace (description, "$PIPELINES", pipelines_dir, 0);
  lf->description = g_string_free (description, FALSE);

  g_strfreev (lines);
  g_free (contents);
  return lf;
}

static void
launch_file_free (LaunchFile *lf)
{
  g_free (lf->description);
  g_ptr_array_unref (lf->expect_files);
  g_ptr_array_unref (lf->expect_lines);
  g_free (lf);
}

static void
remove_tree (const gchar *dir)
{
  const gchar *name;
  GDir *d = g_dir_open (dir, 0, NULL);

  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)) != NULL) {
    gchar *path = g_build_filename (dir, name, NULL);

    g_assert_cmpint (g_unlink (path), ==, 0);
    g_free (path);
  }
  g_dir_close (d);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

static void
test_launch_file (gconstpointer data)
{
  const gchar *path = data;
  gchar *pipelines_dir, *tmp, *cwd;
  GError *error = NULL;
  GstElement *pipeline;
  GstMessage *msg;
  LaunchFile *lf;
  GstBus *bus;
  guint i;

  pipelines_dir = g_path_get_dirname (path);
  lf = launch_file_read (path, pipelines_dir);
  g_test_message ("%s", lf->description);

  tmp = g_dir_make_tmp ("argen-pipeline-XXXXXX", &error);
  g_assert_no_error (error);
  cwd = g_get_current_dir ();
  g_assert_cmpint (g_chdir (tmp), ==, 0);

  pipeline = gst_parse_launch (lf->description, &error);
  /* Also fails for an element that is not installed. */
  g_assert_no_error (error);
  g_assert_nonnull (pipeline);
  bus = gst_element_get_bus (pipeline);
  g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PLAYING), !=,
      GST_STATE_CHANGE_FAILURE);

  msg = gst_bus_timed_pop_filtered (bus, PIPELINE_TIMEOUT,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull (msg);
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    gchar *debug = NULL;

    gst_message_parse_error (msg, &error, &debug);
    g_test_message ("error from %s: %s (%s)", GST_OBJECT_NAME (msg->src),
        error->message, debug);
    g_free (debug);
  }
  g_assert_no_error (error);
  g_assert_cmpint (GST_MESSAGE_TYPE (msg), ==, GST_MESSAGE_EOS);
  gst_message_unref (msg);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);

  for (i = 0; i < lf->expect_files->len; i++) {
    const gchar *name = g_ptr_array_index (lf->expect_files, i);
    GStatBuf st;

    g_test_message ("expecting %s", name);
    g_assert_cmpint (g_stat (name, &st), ==, 0);
    g_assert_cmpint (st.st_size, >, 0);
  }
  for (i = 0; i < lf->expect_lines->len; i++) {
    gchar **name_count =
        g_strsplit (g_ptr_array_index (lf->expect_lines, i), " ", 2);
    gchar *contents = NULL;
    gsize len = 0, j;
    guint lines = 0;

    g_assert_nonnull (name_count[1]);
    g_test_message ("expecting %s lines in %s", name_count[1], name_count[0]);
    g_assert_true (g_file_get_contents (name_count[0], &contents, &len,
            NULL));
    for (j = 0; j < len; j++)
      lines += contents[j] == '\n';
    g_assert_cmpuint (lines, ==, g_ascii_strtoull (name_count[1], NULL, 10));
    g_free (contents);
    g_strfreev (name_count);
  }

  g_assert_cmpint (g_chdir (cwd), ==, 0);
  remove_tree (tmp);
  g_free (cwd);
  g_free (tmp);
  launch_file_free (lf);
  g_free (pipelines_dir);
}

static void
test_textgen_app (void)
{
  const gchar *app = g_getenv ("ARGEN_TEXTGEN_APP");
  const gchar *argv[] = { app, "--prompt", "ROMEO:", "--max-tokens", "40",
    "--seed", "3", NULL };
  gchar *out = NULL, *err = NULL;
  GError *error = NULL;
  gint status;

  g_assert_nonnull (app);
  g_assert_true (g_spawn_sync (NULL, (gchar **) argv, NULL, G_SPAWN_DEFAULT,
      NULL, NULL, &out, &err, &status, &error));
  g_assert_no_error (error);
  g_test_message ("stdout:\n%s", out);
  g_test_message ("stderr:\n%s", err);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  /* The first buffer at time 0 from token 0, and all 40 tokens counted. */
  g_assert_nonnull (strstr (out, "0:00:00.000000000 +"));
  g_assert_nonnull (strstr (out, "tokens 0-"));
  g_assert_nonnull (strstr (out, "statistics: 40 tokens"));
  g_assert_true (g_utf8_validate (out, -1, NULL));
  g_free (out);
  g_free (err);
}

/* Runs textgen-app with @args (NULL-terminated) in a UTF-8 locale; returns
 * its stderr and checks that it failed, without a GLib warning. */
static gchar *
run_textgen_app_failing (const gchar *const *args)
{
  const gchar *app = g_getenv ("ARGEN_TEXTGEN_APP");
  GPtrArray *argv = g_ptr_array_new ();
  gchar *out = NULL, *err = NULL, **envp;
  GError *error = NULL;
  gint status;

  g_assert_nonnull (app);
  g_ptr_array_add (argv, (gpointer) app);
  for (; *args != NULL; args++)
    g_ptr_array_add (argv, (gpointer) * args);
  g_ptr_array_add (argv, NULL);
  envp = g_environ_setenv (g_get_environ (), "LC_ALL", "C.UTF-8", TRUE);
  /* A hang here (as a missing model once caused) ends at meson's timeout. */
  g_assert_true (g_spawn_sync (NULL, (gchar **) argv->pdata, envp,
          G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error));
  g_assert_no_error (error);
  g_test_message ("stderr:\n%s", err);
  g_assert_false (g_spawn_check_wait_status (status, NULL));
  g_assert_null (strstr (err, "WARNING"));
  g_assert_null (strstr (err, "CRITICAL"));
  g_assert_cmpstr (out, ==, "");
  g_strfreev (envp);
  g_ptr_array_unref (argv);
  g_free (out);
  return err;
}

/* textgen-app on bad input: each exits non-zero with a message naming the
 * cause, never hangs, and never uses a default in place of a refused
 * value (g_object_set() only warns about one out of range). */
static void
test_textgen_app_errors (void)
{
  const gchar *missing[] = { "--model", "/nonexistent/model.gguf", NULL };
  const gchar *range[] = { "--max-tokens", "-5", "--temperature", "-1",
    NULL };
  const gchar *extra[] = { "--max-tokens", "3", "extra", NULL };
  const gchar *syntax[] = { "--max-tokens", "abc", NULL };
  gchar *err;

  err = run_textgen_app_failing (missing);
  g_assert_nonnull (strstr (err, "/nonexistent/model.gguf"));
  /* only the cause, not basesrc's "state change failed" after it */
  g_assert_null (strstr (err, "state change failed"));
  g_free (err);

  err = run_textgen_app_failing (range);
  g_assert_nonnull (strstr (err, "--max-tokens -5 is out of range"));
  g_assert_nonnull (strstr (err, "--temperature -1 is out of range"));
  g_free (err);

  err = run_textgen_app_failing (extra);
  g_assert_nonnull (strstr (err, "unexpected argument \"extra\""));
  g_free (err);

  /* GLib's message is UTF-8; without setlocale() its quotes were '?' */
  err = run_textgen_app_failing (syntax);
  g_assert_nonnull (strstr (err, "\u201cabc\u201d"));
  g_free (err);
}

/* textgen-app generating without end (--max-tokens -1) until a Ctrl-C: it
 * ends the stream and still prints the text and the statistics, exit 0
 * (SIGINT's default action killed it, without either). */
static void
test_textgen_app_interrupt (void)
{
  const gchar *app = g_getenv ("ARGEN_TEXTGEN_APP");
  const gchar *argv[] = { app, "--max-tokens", "-1", "--seed", "2", NULL };
  gchar *path, *out = NULL;
  GError *error = NULL;
  GStatBuf st = { 0 };
  GPid pid;
  gint fd, status, i;

  g_assert_nonnull (app);
  fd = g_file_open_tmp ("argen-textgen-app-XXXXXX", &path, &error);
  g_assert_no_error (error);
  g_assert_true (g_spawn_async_with_fds (NULL, (gchar **) argv, NULL,
          G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, -1, fd, -1, &error));
  g_assert_no_error (error);
  /* the first line printed comes after the handler is installed */
  for (i = 0; i < 3000 && st.st_size == 0; i++) {
    g_usleep (10000);
    g_assert_cmpint (g_stat (path, &st), ==, 0);
  }
  g_assert_cmpint (st.st_size, >, 0);
  g_assert_cmpint (kill (pid, SIGINT), ==, 0);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_spawn_close_pid (pid);
  close (fd);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_true (g_file_get_contents (path, &out, NULL, NULL));
  g_assert_nonnull (strstr (out, "statistics: "));
  g_assert_true (g_utf8_validate (out, -1, NULL));
  g_unlink (path);
  g_free (out);
  g_free (path);
}

/* pipelines/wavenet-vocoder-demo.sh on a short sawtooth (made here with
 * audiotestsrc): it runs every stage — the embedded vocoder twice, the
 * distances, Griffin-Lim, the spectrograms — and prints one row per file
 * and their mean, with distances in a plausible range. */
static void
test_vocoder_demo (void)
{
  const gchar *dir = g_getenv ("ARGEN_PIPELINES_DIR");
  const gchar *build = g_getenv ("ARGEN_BUILD_DIR");
  const gchar *preload = g_getenv ("ARGEN_CHILD_LD_PRELOAD");
  gchar *tmp = g_dir_make_tmp ("argen-demo-XXXXXX", NULL);
  gchar *in = g_build_filename (tmp, "saw.wav", NULL);
  gchar *out = g_build_filename (tmp, "out", NULL);
  gchar *script = g_build_filename (dir, "wavenet-vocoder-demo.sh", NULL);
  gchar *description = g_strdup_printf ("audiotestsrc wave=saw freq=210 "
      "volume=0.3 samplesperbuffer=800 num-buffers=6 ! audio/x-raw, "
      "rate=8000, channels=1, format=S16LE ! wavenc ! filesink "
      "location=\"%s\"", in);
  const gchar *argv[] = { "bash", script, build, out, in, NULL };
  gchar *stdout_text = NULL, *err = NULL, **envp, *mean;
  const gchar *pngs[] = { "saw-input.png", "saw-vocoder.png",
    "saw-griffin-lim.png", "saw-vocoder.wav", "saw-vocoder-seed2.wav",
    "saw-griffin-lim.wav" };
  double v, g, m, s;
  GError *error = NULL;
  GstElement *pipeline;
  GstMessage *msg;
  gint status;

  g_assert_nonnull (dir);
  g_assert_nonnull (build);
  pipeline = gst_parse_launch (description, &error);
  g_assert_no_error (error);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  msg = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (pipeline),
      PIPELINE_TIMEOUT, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull (msg);
  g_assert_cmpint (GST_MESSAGE_TYPE (msg), ==, GST_MESSAGE_EOS);
  gst_message_unref (msg);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);

  envp = g_get_environ ();
  envp = g_environ_setenv (envp, "TEMPERATURE", "0.5", TRUE);
  envp = g_environ_unsetenv (envp, "VOCODER");
  envp = g_environ_unsetenv (envp, "SEED");
  if (preload != NULL && preload[0] != '\0') {
    envp = g_environ_setenv (envp, "LD_PRELOAD", preload, TRUE);
    envp = g_environ_setenv (envp, "ASAN_OPTIONS", "detect_leaks=0", TRUE);
  }
  g_assert_true (g_spawn_sync (NULL, (gchar **) argv, envp,
      G_SPAWN_SEARCH_PATH, NULL, NULL, &stdout_text, &err, &status, &error));
  g_assert_no_error (error);
  g_test_message ("stdout:\n%s", stdout_text);
  g_test_message ("stderr:\n%s", err);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  mean = strstr (stdout_text, "mean of 1 ");
  g_assert_nonnull (mean);
  g_assert_cmpint (sscanf (mean + strlen ("mean of 1 "), "%lf %lf %lf %lf",
          &v, &g, &m, &s), ==, 4);
  /* a resynthesis is neither the input nor noise; Griffin-Lim from fine
   * mels comes closer to a steady tone than the µ-law coding's floor */
  g_assert_cmpfloat (v, >, 0.5);
  g_assert_cmpfloat (v, <, 40.0);
  g_assert_cmpfloat (g, >, 0.0);
  g_assert_cmpfloat (g, <, v);
  g_assert_cmpfloat (m, >, 0.0);
  g_assert_cmpfloat (s, >, 0.5);
  for (guint i = 0; i < G_N_ELEMENTS (pngs); i++) {
    gchar *path = g_build_filename (out, pngs[i], NULL);
    GStatBuf st;

    g_assert_cmpint (g_stat (path, &st), ==, 0);
    g_assert_cmpint (st.st_size, >, 100);
    g_unlink (path);
    g_free (path);
  }
  g_rmdir (out);
  g_unlink (in);
  g_rmdir (tmp);
  g_strfreev (envp);
  g_free (stdout_text);
  g_free (err);
  g_free (description);
  g_free (script);
  g_free (out);
  g_free (in);
  g_free (tmp);
}

/* Runs the vocoder demonstration on build directory @build with @envp;
 * returns its stderr and checks that it failed without writing anything. */
static gchar *
run_vocoder_demo_failing (const gchar *build, gchar **envp)
{
  const gchar *dir = g_getenv ("ARGEN_PIPELINES_DIR");
  gchar *tmp = g_dir_make_tmp ("argen-demo-XXXXXX", NULL);
  gchar *out = g_build_filename (tmp, "out", NULL);
  gchar *script = g_build_filename (dir, "wavenet-vocoder-demo.sh", NULL);
  const gchar *argv[] = { "bash", script, build, out, NULL };
  gchar *stdout_text = NULL, *err = NULL;
  GError *error = NULL;
  gint status;

  g_assert_true (g_spawn_sync (NULL, (gchar **) argv, envp,
          G_SPAWN_SEARCH_PATH, NULL, NULL, &stdout_text, &err, &status,
          &error));
  g_assert_no_error (error);
  g_test_message ("stderr:\n%s", err);
  g_assert_false (g_spawn_check_wait_status (status, NULL));
  g_assert_cmpstr (stdout_text, ==, "");
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  g_assert_cmpint (g_rmdir (tmp), ==, 0);
  g_free (stdout_text);
  g_free (script);
  g_free (out);
  g_free (tmp);
  return err;
}

/* The demonstration given a wrong build directory, or no data: it says
 * which, where both once read "no input files (install
 * asterisk-core-sounds-en-wav ...)" even with the package installed. */
static void
test_vocoder_demo_errors (void)
{
  gchar **envp = g_environ_setenv (g_get_environ (), "ARGEN_AUDIO_DATA",
      "/nonexistent/prompts", TRUE);
  gchar *err;

  err = run_vocoder_demo_failing ("/nonexistent/build", envp);
  g_assert_nonnull (strstr (err,
          "/nonexistent/build is not a build directory of gst-argen"));
  g_free (err);

  err = run_vocoder_demo_failing (g_getenv ("ARGEN_BUILD_DIR"), envp);
  g_assert_nonnull (strstr (err, "no held-out prompts in /nonexistent/prompts"));
  g_free (err);
  g_strfreev (envp);
}

/* ---- the training recipes ------------------------------------------------ */

/* tinyshakespeare.txt in @dir: 3000 characters of words drawn from a short
 * list (a fixed LCG), enough for a training part longer than the recipes'
 * contexts (128) and a held-out tenth longer than the NAR's 64 slots and
 * the RNN's 32 validation streams. */
static void
make_text (const gchar *dir)
{
  static const gchar *const words[] = { "the", "king", "is", "dead", "long",
    "live", "queen", "and", "her", "court", "ROMEO:", "to", "be", "or",
    "not", "\n" };
  GString *text = g_string_new (NULL);
  gchar *path = g_build_filename (dir, "tinyshakespeare.txt", NULL);
  guint32 x = 1;

  while (text->len < 3000) {
    x = x * 1664525u + 1013904223u;
    g_string_append (text, words[(x >> 16) % G_N_ELEMENTS (words)]);
    g_string_append_c (text, ' ');
  }
  g_assert_true (g_file_set_contents (path, text->str, text->len, NULL));
  g_string_free (text, TRUE);
  g_free (path);
}

static void
put_le (GByteArray *b, guint32 v, guint n)
{
  for (guint i = 0; i < n; i++)
    g_byte_array_append (b, (const guint8[]) { (v >> (8 * i)) & 0xff }, 1);
}

static void
put_be32 (GByteArray *b, guint32 v)
{
  for (guint i = 0; i < 4; i++)
    g_byte_array_append (b, (const guint8[]) { (v >> (24 - 8 * i)) & 0xff },
        1);
}

/* Three 8 kHz 16-bit mono WAV files of 3000 samples (tones of 200, 250 and
 * 300 Hz) in @dir: the wavenet recipes hold out the first. */
static void
make_audio (const gchar *dir)
{
  for (guint f = 0; f < 3; f++) {
    const guint n = 3000, rate = 8000;
    GByteArray *b = g_byte_array_new ();
    gchar *name = g_strdup_printf ("prompt-%u.wav", f);
    gchar *path = g_build_filename (dir, name, NULL);

    g_byte_array_append (b, (const guint8 *) "RIFF", 4);
    put_le (b, 36 + 2 * n, 4);
    g_byte_array_append (b, (const guint8 *) "WAVEfmt ", 8);
    put_le (b, 16, 4);
    put_le (b, 1, 2);           /* PCM */
    put_le (b, 1, 2);           /* channels */
    put_le (b, rate, 4);
    put_le (b, 2 * rate, 4);    /* bytes per second */
    put_le (b, 2, 2);           /* block align */
    put_le (b, 16, 2);          /* bits */
    g_byte_array_append (b, (const guint8 *) "data", 4);
    put_le (b, 2 * n, 4);
    for (guint t = 0; t < n; t++)
      put_le (b, (guint16) (gint16) (8000 * sin (2 * G_PI * (200 + 50 * f) *
                  t / rate)), 2);
    g_assert_true (g_file_set_contents (path, (const gchar *) b->data, b->len,
            NULL));
    g_byte_array_unref (b);
    g_free (path);
    g_free (name);
  }
}

/* @prefix-images-idx3-ubyte.gz and @prefix-labels-idx1-ubyte.gz in @dir:
 * @n images of 8 × 8 random pixels labelled 0 … 9 in turn, as plain IDX
 * (the reader decompresses only what starts with the gzip magic). */
static void
make_idx (const gchar *dir, const gchar *prefix, guint n)
{
  GByteArray *images = g_byte_array_new (), *labels = g_byte_array_new ();
  gchar *name, *path;
  guint32 x = n;

  put_be32 (images, 0x803);
  put_be32 (images, n);
  put_be32 (images, 8);
  put_be32 (images, 8);
  put_be32 (labels, 0x801);
  put_be32 (labels, n);
  for (guint i = 0; i < n; i++) {
    for (guint j = 0; j < 64; j++) {
      x = x * 1664525u + 1013904223u;
      put_le (images, x >> 24, 1);
    }
    put_le (labels, i % 10, 1);
  }
  name = g_strdup_printf ("%s-images-idx3-ubyte.gz", prefix);
  path = g_build_filename (dir, name, NULL);
  g_assert_true (g_file_set_contents (path, (const gchar *) images->data,
          images->len, NULL));
  g_free (path);
  g_free (name);
  name = g_strdup_printf ("%s-labels-idx1-ubyte.gz", prefix);
  path = g_build_filename (dir, name, NULL);
  g_assert_true (g_file_set_contents (path, (const gchar *) labels->data,
          labels->len, NULL));
  g_free (path);
  g_free (name);
  g_byte_array_unref (images);
  g_byte_array_unref (labels);
}

/* Fashion-MNIST's four files: 24 training images (2 held out by the
 * recipe's --val-fraction), 10 test images, all 10 classes. */
static void
make_images (const gchar *dir)
{
  make_idx (dir, "train", 24);
  make_idx (dir, "t10k", 10);
}

typedef enum
{
  FAMILY_TEXT,
  FAMILY_NAR,
  FAMILY_PIXELCNN,
  FAMILY_WAVENET,
  FAMILY_VOCODER,
} RecipeFamily;

typedef struct
{
  const gchar *script;          /* in pipelines/recipes/ */
  const gchar *model;           /* what it writes in OUT_DIR */
  const gchar *data_env;        /* the variable naming its data folder */
  void (*make_data) (const gchar *dir);
  RecipeFamily family;
} Recipe;

/* Every recipe, for 3 steps on tiny data (about 9 s together, 33 s with
 * the sanitizers): a recipe is a script, and only running it shows that it
 * still works with argen's options. */
static const Recipe recipes[] = {
  { "train-default-rnn.sh", "rnn-shakespeare.gguf", "ARGEN_DATA", make_text,
      FAMILY_TEXT },
  { "train-default-transformer.sh", "transformer-shakespeare.gguf",
      "ARGEN_DATA", make_text, FAMILY_TEXT },
  { "train-default-draft.sh", "transformer-draft.gguf", "ARGEN_DATA",
      make_text, FAMILY_TEXT },
  { "train-default-nar.sh", "nar-shakespeare.gguf", "ARGEN_DATA", make_text,
      FAMILY_NAR },
  { "train-default-pixelcnn.sh", "pixelcnn-fashion.gguf",
      "ARGEN_FASHION_MNIST", make_images, FAMILY_PIXELCNN },
  { "train-default-wavenet.sh", "wavenet-allison.gguf", "ARGEN_AUDIO_DATA",
      make_audio, FAMILY_WAVENET },
  { "train-default-vocoder.sh", "vocoder-allison.gguf", "ARGEN_AUDIO_DATA",
      make_audio, FAMILY_VOCODER },
};

/* Loads @path as @family's model: what the elements will do with it. */
static void
assert_loads (const gchar *path, RecipeFamily family)
{
  GError *error = NULL;

  switch (family) {
    case FAMILY_TEXT:{
      ArTextModel *m = ar_text_model_new_from_file (path, &error);

      g_assert_no_error (error);
      ar_text_model_unref (m);
      break;
    }
    case FAMILY_NAR:{
      ArNar *nar = ar_nar_new_from_file (path, &error);

      g_assert_no_error (error);
      ar_nar_free (nar);
      break;
    }
    case FAMILY_PIXELCNN:{
      ArGguf *f = ar_gguf_new_from_file (path, &error);
      ArPixelCnn *pc;

      g_assert_no_error (error);
      pc = ar_pixelcnn_new_from_gguf (f, &error);
      g_assert_no_error (error);
      ar_pixelcnn_unref (pc);
      ar_gguf_unref (f);
      break;
    }
    case FAMILY_WAVENET:
    case FAMILY_VOCODER:{
      ArGguf *f = ar_gguf_new_from_file (path, &error);
      ArWaveNet *wn;

      g_assert_no_error (error);
      wn = ar_wavenet_new_from_gguf (f, &error);
      g_assert_no_error (error);
      if (family == FAMILY_VOCODER) {
        ArWaveNetVocoder *v = ar_wavenet_vocoder_new (wn, &error);

        g_assert_no_error (error);
        ar_wavenet_vocoder_free (v);
      }
      ar_wavenet_unref (wn);
      ar_gguf_unref (f);
      break;
    }
  }
}

/* A recipe run with STEPS = 3 on tiny data: the warm-up shrinks with the
 * run (every recipe gave --warmup 100 to 500, which argen train refuses at
 * or above --steps: a quick try with STEPS below 101 … 501 failed), the
 * model is written and loads, and its recorded recipe line says so. */
static void
test_recipe (gconstpointer data)
{
  const Recipe *recipe = data;
  const gchar *dir = g_getenv ("ARGEN_PIPELINES_DIR");
  const gchar *build = g_getenv ("ARGEN_BUILD_DIR");
  gchar *tmp, *data_dir, *out, *script, *model;
  gchar *stdout_text = NULL, *err = NULL, **envp;
  const gchar *line;
  GError *error = NULL;
  ArGguf *f;
  gint status;

  tmp = g_dir_make_tmp ("argen-recipe-XXXXXX", NULL);
  data_dir = g_build_filename (tmp, "data", NULL);
  out = g_build_filename (tmp, "out", NULL);
  script = g_build_filename (dir, "recipes", recipe->script, NULL);
  model = g_build_filename (out, recipe->model, NULL);

  const gchar *argv[] = { "bash", script, build, out, "3", NULL };

  g_assert_nonnull (dir);
  g_assert_nonnull (build);
  g_assert_cmpint (g_mkdir (data_dir, 0755), ==, 0);
  recipe->make_data (data_dir);
  envp = g_environ_setenv (g_get_environ (), recipe->data_env, data_dir,
      TRUE);
  g_assert_true (g_spawn_sync (NULL, (gchar **) argv, envp,
          G_SPAWN_SEARCH_PATH, NULL, NULL, &stdout_text, &err, &status,
          &error));
  g_assert_no_error (error);
  g_test_message ("stdout:\n%s", stdout_text);
  g_test_message ("stderr:\n%s", err);
  g_assert_true (g_spawn_check_wait_status (status, NULL));

  assert_loads (model, recipe->family);
  f = ar_gguf_new_from_file (model, &error);
  g_assert_no_error (error);
  g_assert_true (ar_gguf_get_string (f, "general.source.recipe", &line,
          &error));
  g_assert_no_error (error);
  g_assert_nonnull (strstr (line, " --steps 3 "));
  g_assert_nonnull (strstr (line, " --warmup 0 "));
  ar_gguf_unref (f);

  remove_tree (data_dir);
  remove_tree (out);
  g_assert_cmpint (g_rmdir (tmp), ==, 0);
  g_strfreev (envp);
  g_free (stdout_text);
  g_free (err);
  g_free (model);
  g_free (script);
  g_free (out);
  g_free (data_dir);
  g_free (tmp);
}

/* A STEPS that is not a number of steps is refused by the recipe itself,
 * before it looks for its data (bash's arithmetic took "abc" for an unset
 * variable). */
static void
test_recipe_bad_steps (void)
{
  const gchar *dir = g_getenv ("ARGEN_PIPELINES_DIR");
  gchar *tmp = g_dir_make_tmp ("argen-recipe-XXXXXX", NULL);
  gchar *out = g_build_filename (tmp, "out", NULL);
  gchar *script = g_build_filename (dir, "recipes", "train-default-rnn.sh",
      NULL);
  const gchar *bad[] = { "0", "-5", "abc", "1e3" };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    const gchar *argv[] = { "bash", script, "/nonexistent/build", out, bad[i],
      NULL
    };
    gchar *stdout_text = NULL, *err = NULL;
    GError *error = NULL;
    gint status;

    g_assert_true (g_spawn_sync (NULL, (gchar **) argv, NULL,
            G_SPAWN_SEARCH_PATH, NULL, NULL, &stdout_text, &err, &status,
            &error));
    g_assert_no_error (error);
    g_test_message ("stderr:\n%s", err);
    g_assert_true (WIFEXITED (status));
    g_assert_cmpint (WEXITSTATUS (status), ==, 2);
    g_assert_nonnull (strstr (err, "is not a number of steps"));
    g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
    g_free (stdout_text);
    g_free (err);
  }
  g_assert_cmpint (g_rmdir (tmp), ==, 0);
  g_free (script);
  g_free (out);
  g_free (tmp);
}

static gint
compare_paths (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const gchar *const *) a, *(const gchar *const *) b);
}

int
main (int argc, char **argv)
{
  const gchar *dir, *name;
  GPtrArray *paths;
  GError *error = NULL;
  GDir *d;
  guint i;
  int ret;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  dir = g_getenv ("ARGEN_PIPELINES_DIR");
  g_assert_nonnull (dir);
  d = g_dir_open (dir, 0, &error);
  g_assert_no_error (error);
  paths = g_ptr_array_new_with_free_func (g_free);
  while ((name = g_dir_read_name (d)) != NULL)
    if (g_str_has_suffix (name, ".launch"))
      g_ptr_array_add (paths, g_build_filename (dir, name, NULL));
  g_dir_close (d);
  /* A stable order, whatever the directory's. */
  g_ptr_array_sort (paths, compare_paths);
  g_assert_cmpuint (paths->len, >, 0);

  for (i = 0; i < paths->len; i++) {
    const gchar *path = g_ptr_array_index (paths, i);
    gchar *base = g_path_get_basename (path);
    gchar *test_path;

    base[strlen (base) - strlen (".launch")] = '\0';
    test_path = g_strdup_printf ("/pipelines/%s", base);
    g_test_add_data_func (test_path, path, test_launch_file);
    g_free (test_path);
    g_free (base);
  }
  g_test_add_func ("/pipelines/textgen-app", test_textgen_app);
  g_test_add_func ("/pipelines/textgen-app-errors", test_textgen_app_errors);
  g_test_add_func ("/pipelines/textgen-app-interrupt",
      test_textgen_app_interrupt);
  g_test_add_func ("/pipelines/wavenet-vocoder-demo", test_vocoder_demo);
  g_test_add_func ("/pipelines/wavenet-vocoder-demo-errors",
      test_vocoder_demo_errors);
  for (i = 0; i < G_N_ELEMENTS (recipes); i++) {
    gchar *name = g_strndup (recipes[i].script,
        strlen (recipes[i].script) - strlen (".sh"));
    gchar *test_path = g_strdup_printf ("/pipelines/recipes/%s", name);

    g_test_add_data_func (test_path, &recipes[i], test_recipe);
    g_free (test_path);
    g_free (name);
  }
  g_test_add_func ("/pipelines/recipes/bad-steps", test_recipe_bad_steps);

  ret = g_test_run ();
  g_ptr_array_unref (paths);
  gst_deinit ();
  return ret;
}
