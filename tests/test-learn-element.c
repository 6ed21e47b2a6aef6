/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-learn-element.c — end to end: libargen's trainer learns a short text
 * and writes a model file; textgensrc loads that same file and, greedily,
 * reproduces the text. */
#include <gst/gst.h>
#include <glib/gstdio.h>
#include <string.h>
#include "test-util.h"

#define TEXT "the cat sat on the mat. "

static char *
train_model (const char *dir)
{
  g_autoptr (GString) text = g_string_new (NULL);
  for (int i = 0; i < 40; i++)
    g_string_append (text, TEXT);
  g_autoptr (GError) error = NULL;
  g_autoptr (ArTextData) data = ar_text_data_new (text->str, text->len, AR_VOCAB_CHAR, 0.1,
      &error);
  g_assert_no_error (error);
  ArRnnConfig config = { AR_CELL_GRU, 1, 16, 64, ar_vocab_get_size (data->vocab) };
  g_autoptr (ArRnnTask) task = ar_rnn_task_new (&config, data, 32, 8, 0);
  ArRng rng;
  ar_rng_init (&rng, 7);
  ar_rnn_train_init (ar_rnn_task_get_net (task), &rng);
  ArTrainOptions o = AR_TRAIN_OPTIONS_INIT;
  o.steps = 150;
  o.warmup = 10;
  o.lr = 1e-2f;
  o.eval_every = 0;
  o.seed = 7;
  g_autoptr (ArTrainer) tr = ar_trainer_new (ar_rnn_task_get_trainable (task), task, &o);
  g_assert_true (ar_trainer_run (tr, NULL, NULL, NULL, NULL, &error));
  char *path = g_build_filename (dir, "cat.gguf", NULL);
  g_assert_true (ar_trainer_save_model (tr, path, &error));
  g_assert_no_error (error);
  return path;
}

static char *
run_element (const char *model, const char *out_dir)
{
  g_autofree char *out = g_build_filename (out_dir, "out.txt", NULL);
  g_autofree char *desc = g_strdup_printf ("textgensrc model=\"%s\" prompt=\"the cat\" "
      "temperature=0 max-tokens=%d ! filesink location=\"%s\"", model,
      (int) (3 * strlen (TEXT)), out);
  g_autoptr (GError) error = NULL;
  g_autoptr (GstElement) pipeline = gst_parse_launch (desc, &error);
  g_assert_no_error (error);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  g_autoptr (GstBus) bus = gst_element_get_bus (pipeline);
  g_autoptr (GstMessage) msg = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull (msg);
  g_assert_cmpint (GST_MESSAGE_TYPE (msg), ==, GST_MESSAGE_EOS);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  char *text = NULL;
  g_assert_true (g_file_get_contents (out, &text, NULL, NULL));
  g_unlink (out);
  return text;
}

static void
test_learn_then_generate (void)
{
  g_autofree char *dir = g_dir_make_tmp ("argen-learn-XXXXXX", NULL);
  g_autofree char *model = train_model (dir);
  g_autofree char *got = run_element (model, dir);
  g_assert_cmpstr (got, ==, " sat on the mat. " TEXT TEXT "the cat");

  /* the element's output is libargen's greedy output from the same file */
  g_autoptr (ArTextModel) m = ar_text_model_new_from_file (model, NULL);
  g_autoptr (ArTextGen) gen = ar_text_gen_new (m);
  ArSamplingParams greedy = { 0.0f, 0, 1.0f };
  ar_text_gen_set_sampling (gen, &greedy);
  ar_text_gen_reset (gen, 0);
  ar_text_gen_feed (gen, "the cat", -1);
  g_autoptr (GString) lib = g_string_new (NULL);
  for (size_t i = 0; i < 3 * strlen (TEXT); i++)
    ar_text_gen_next (gen, lib);
  ar_text_gen_finish (gen, lib);
  g_assert_cmpstr (got, ==, lib->str);
  g_unlink (model);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/learn/train-then-element", test_learn_then_generate);
  return g_test_run ();
}
