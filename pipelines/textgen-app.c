/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* textgen-app.c — an example application embedding textgensrc.
 *
 * Builds `textgensrc ! appsink`, pulls the samples one by one and prints
 * each buffer's timestamp, duration, token range and text, then the whole
 * text and the element's statistics.  It shows what an application needs:
 * setting the generation properties, pulling UTF-8 text with its timing, and
 * telling the end of the stream from an error.  Ctrl-C ends the stream
 * (EOS), so the text so far and the statistics are still printed; a second
 * Ctrl-C stops at once.
 *
 *   textgen-app --prompt "ROMEO:" --max-tokens 200 --seed 7
 *   textgen-app --model play.gguf --temperature 0.5
 *   textgen-app --max-tokens -1      (until Ctrl-C)
 */

#include <gst/gst.h>
#include <gst/app/gstappsink.h>

#include <locale.h>
#include <signal.h>
#include <stdlib.h>

static gchar *opt_prompt = NULL;
static gchar *opt_model = NULL;
static gint opt_max_tokens = 200;
static gint64 opt_seed = -1;
static gdouble opt_temperature = 0.8;

/* Set by the SIGINT handler, read by the pulling loop. */
static volatile sig_atomic_t interrupted = 0;

static const GOptionEntry entries[] = {
  { "prompt", 'p', 0, G_OPTION_ARG_STRING, &opt_prompt,
      "Text to continue (not printed)", "TEXT" },
  { "model", 'm', 0, G_OPTION_ARG_FILENAME, &opt_model,
      "GGUF text model (default: the plugin's embedded model)", "FILE" },
  { "max-tokens", 'n', 0, G_OPTION_ARG_INT, &opt_max_tokens,
      "Number of tokens to generate (-1 = unlimited; default 200)", "N" },
  { "seed", 's', 0, G_OPTION_ARG_INT64, &opt_seed,
      "Random seed (-1 = random, the default)", "SEED" },
  { "temperature", 't', 0, G_OPTION_ARG_DOUBLE, &opt_temperature,
      "Sampling temperature (0 = greedy; default 0.8)", "T" },
  { NULL }
};

/* @text with newlines, tabs, quotes and backslashes escaped, to show a
 * buffer on one line; other characters, non-ASCII ones included, as they are
 * (g_strescape would turn UTF-8 into octal). */
static gchar *
escape_text (const gchar *text, gsize len)
{
  GString *s = g_string_sized_new (len + 8);
  gsize i;

  for (i = 0; i < len; i++) {
    switch (text[i]) {
      case '\n':
        g_string_append (s, "\\n");
        break;
      case '\t':
        g_string_append (s, "\\t");
        break;
      case '"':
      case '\\':
        g_string_append_c (s, '\\');
        g_string_append_c (s, text[i]);
        break;
      default:
        g_string_append_c (s, text[i]);
        break;
    }
  }
  return g_string_free (s, FALSE);
}

static void
on_sigint (int signum)
{
  interrupted = 1;
  /* the next Ctrl-C ends the program, should EOS never come */
  signal (signum, SIG_DFL);
}

/* Sets the property @name of @src, which its option shares the name of,
 * from @value; refuses a value out of the element's range, which
 * g_object_set() would only warn about and ignore.  The element's GParamSpec
 * holds the range, so it is not copied here. */
static gboolean
set_checked (GstElement *src, const gchar *name, const GValue *value)
{
  GParamSpec *pspec =
      g_object_class_find_property (G_OBJECT_GET_CLASS (src), name);
  GValue v = G_VALUE_INIT;
  gboolean ok;

  g_value_init (&v, G_PARAM_SPEC_VALUE_TYPE (pspec));
  /* validate() returns TRUE when it had to change the value to fit */
  ok = g_value_transform (value, &v) && !g_param_value_validate (pspec, &v);
  if (ok) {
    g_object_set_property (G_OBJECT (src), name, &v);
  } else {
    /* %g: g_strdup_value_contents() writes doubles with %f, 1e40 in full */
    gchar *contents = G_VALUE_HOLDS_DOUBLE (value)
        ? g_strdup_printf ("%g", g_value_get_double (value))
        : g_strdup_value_contents (value);

    g_printerr ("textgen-app: --%s %s is out of range "
                "(gst-inspect-1.0 textgensrc lists the range of %s)\n",
        name, contents, name);
    g_free (contents);
  }
  g_value_unset (&v);
  return ok;
}

/* Prints the error or statistics messages waiting on @bus; returns FALSE if
 * there was an error.  Only the first error is printed: the ones after it
 * (such as basesrc's "state change failed") are its consequences. */
static gboolean
drain_bus (GstBus *bus)
{
  gboolean ok = TRUE;
  GstMessage *msg;

  while ((msg = gst_bus_pop_filtered (bus,
              GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT)) != NULL) {
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      GError *error = NULL;
      gchar *debug = NULL;

      gst_message_parse_error (msg, &error, &debug);
      if (ok) {
        g_printerr ("textgen-app: %s\n", error->message);
        if (debug != NULL)
          g_printerr ("textgen-app: (%s)\n", debug);
      }
      g_clear_error (&error);
      g_free (debug);
      ok = FALSE;
    } else if (gst_message_has_name (msg, "textgen-statistics")) {
      const GstStructure *s = gst_message_get_structure (msg);
      guint64 tokens = 0;
      gdouble seconds = 0.0, rate = 0.0;

      gst_structure_get_uint64 (s, "tokens", &tokens);
      gst_structure_get_double (s, "seconds", &seconds);
      gst_structure_get_double (s, "tokens-per-second", &rate);
      g_print ("statistics: %" G_GUINT64_FORMAT " tokens in %.3f s "
               "(%.0f tokens/s)\n",
          tokens, seconds, rate);
    }
    gst_message_unref (msg);
  }
  return ok;
}

int
main (int argc, char **argv)
{
  GOptionContext *context;
  GError *error = NULL;
  GstElement *pipeline, *src, *sink;
  GstBus *bus;
  GstSample *sample;
  GString *text;
  GValue value = G_VALUE_INIT;
  gboolean ok;

  /* The messages and the generated text are UTF-8: without the user's
   * locale, g_print() and g_printerr() turn what is not ASCII into '?'. */
  setlocale (LC_ALL, "");
  context = g_option_context_new ("- print text generated by textgensrc");
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_add_group (context, gst_init_get_option_group ());
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    g_printerr ("textgen-app: %s\n", error->message);
    g_error_free (error);
    g_option_context_free (context);
    return EXIT_FAILURE;
  }
  g_option_context_free (context);
  if (argc > 1) {
    g_printerr ("textgen-app: unexpected argument \"%s\" (--help lists the "
                "options)\n",
        argv[1]);
    return EXIT_FAILURE;
  }

  src = gst_element_factory_make ("textgensrc", NULL);
  sink = gst_element_factory_make ("appsink", NULL);
  if (src == NULL || sink == NULL) {
    g_printerr ("textgen-app: the textgensrc or appsink element is missing; "
                "is GST_PLUGIN_PATH set to the argen plugin?\n");
    return EXIT_FAILURE;
  }

  g_value_init (&value, G_TYPE_INT);
  g_value_set_int (&value, opt_max_tokens);
  ok = set_checked (src, "max-tokens", &value);
  g_value_unset (&value);
  g_value_init (&value, G_TYPE_INT64);
  g_value_set_int64 (&value, opt_seed);
  ok = set_checked (src, "seed", &value) && ok;
  g_value_unset (&value);
  g_value_init (&value, G_TYPE_DOUBLE);
  g_value_set_double (&value, opt_temperature);
  ok = set_checked (src, "temperature", &value) && ok;
  g_value_unset (&value);
  if (!ok) {
    gst_object_unref (gst_object_ref_sink (src));
    gst_object_unref (gst_object_ref_sink (sink));
    return EXIT_FAILURE;
  }
  if (opt_prompt != NULL)
    g_object_set (src, "prompt", opt_prompt, NULL);
  if (opt_model != NULL)
    g_object_set (src, "model", opt_model, NULL);
  /* Pull as fast as the model generates rather than at tokens-per-second. */
  g_object_set (sink, "sync", FALSE, NULL);

  pipeline = gst_pipeline_new ("textgen-app");
  gst_bin_add_many (GST_BIN (pipeline), src, sink, NULL);
  if (!gst_element_link (src, sink)) {
    g_printerr ("textgen-app: could not link textgensrc to appsink\n");
    gst_object_unref (pipeline);
    return EXIT_FAILURE;
  }

  bus = gst_element_get_bus (pipeline);
  text = g_string_new (NULL);
  /* A model that cannot be read fails the state change, with an error on the
   * bus; appsink, which never gets a sample nor EOS then, would wait
   * forever in pull_sample(). */
  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE) {
    if (drain_bus (bus))
      g_printerr ("textgen-app: the pipeline could not start\n");
    ok = FALSE;
    goto done;
  }

  /* try_pull_sample() returns NULL at EOS and on an error alike (the bus
   * tells which), and after its timeout, which lets the loop see a Ctrl-C:
   * the handler can only set a flag, the EOS is sent from here. */
  signal (SIGINT, on_sigint);
  for (;;) {
    GstBuffer *buffer;
    GstMapInfo map;

    if (interrupted == 1) {
      interrupted = 2;
      gst_element_send_event (pipeline, gst_event_new_eos ());
    }
    sample =
        gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 100 * GST_MSECOND);
    if (sample == NULL) {
      if (gst_app_sink_is_eos (GST_APP_SINK (sink)))
        break;
      continue;
    }
    buffer = gst_sample_get_buffer (sample);

    if (gst_buffer_map (buffer, &map, GST_MAP_READ)) {
      gchar *escaped = escape_text ((const gchar *) map.data, map.size);

      g_print ("%" GST_TIME_FORMAT " +%" GST_TIME_FORMAT
               "  tokens %" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT "  \"%s\"\n",
          GST_TIME_ARGS (GST_BUFFER_PTS (buffer)),
          GST_TIME_ARGS (GST_BUFFER_DURATION (buffer)),
          GST_BUFFER_OFFSET (buffer), GST_BUFFER_OFFSET_END (buffer), escaped);
      g_free (escaped);
      g_string_append_len (text, (const gchar *) map.data, map.size);
      gst_buffer_unmap (buffer, &map);
    }
    gst_sample_unref (sample);
  }

  /* Before the NULL state, which flushes the bus. */
  ok = drain_bus (bus);
  if (ok)
    g_print ("\n%s\n", text->str);

done:
  gst_element_set_state (pipeline, GST_STATE_NULL);
  g_string_free (text, TRUE);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  g_free (opt_prompt);
  g_free (opt_model);
  gst_deinit ();
  return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
