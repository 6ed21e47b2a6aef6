/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-argen-cli.c — the `argen` command-line tool, run as a child process
 * (path in $ARGEN, set by tests/meson.build) on tiny data this test writes
 * into a temporary directory: help and unknown commands, the audio commands
 * (audio-compare, spectrogram, baselines) on synthetic WAVs, a WaveNet (with
 * and without pre-emphasis) and an RNN trained for three steps then
 * inspected, evaluated and sampled, the storage types `convert` takes, a
 * text model's matrices converted (`convert gguf`), and the error paths
 * (missing files, non-audio data, a truncated model), which must fail with
 * a non-zero exit and a message naming the path. */
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data/ar-audio.h"

#define RATE 8000

static char *tmp_dir; /* the test's scratch directory */
static char *wav_dir; /* tmp_dir/wavs: the synthetic WAVs */
static char *wav_a;   /* 300 ms of a 440 Hz sine */
static char *wav_b;   /* 300 ms of a 660 Hz sine */

typedef struct
{
  int status; /* exit status, or -1 if the child did not exit */
  char *out;
  char *err;
} Run;

static void
run_clear (Run *r)
{
  g_clear_pointer (&r->out, g_free);
  g_clear_pointer (&r->err, g_free);
}

/* The child's alarm (g_spawn_sync's child_setup, after fork): a pending
 * alarm survives execve, and its default action ends the child, which then
 * gets status -1. */
static void
set_deadline (gpointer user_data)
{
  alarm (GPOINTER_TO_UINT (user_data));
}

/* Runs argen with the arguments from @first (NULL-terminated, without the
 * program name) and captures its exit status and output, the child killed
 * after @deadline seconds unless 0.  A child killed by a signal (a crash,
 * the deadline, or a sanitizer report with abort_on_error) gets status -1,
 * so no assertion on a "non-zero exit" can pass because of a crash. */
static Run
run_argen_valist (guint deadline, const char *first, va_list ap)
{
  const char *argen = g_getenv ("ARGEN");
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  GError *error = NULL;
  Run r = { -1, NULL, NULL };
  int wait_status = 0;

  g_assert_nonnull (argen);
  g_ptr_array_add (argv, (gpointer) argen);
  for (const char *a = first; a != NULL; a = va_arg (ap, const char *))
    g_ptr_array_add (argv, (gpointer) a);
  g_ptr_array_add (argv, NULL);

  g_spawn_sync (tmp_dir, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT,
      deadline ? set_deadline : NULL, GUINT_TO_POINTER (deadline), &r.out,
      &r.err, &wait_status, &error);
  g_assert_no_error (error);
  if (WIFEXITED (wait_status))
    r.status = WEXITSTATUS (wait_status);
  if (r.status < 0 || g_test_verbose ())
    g_test_message ("argen %s: status %d\nstdout:\n%s\nstderr:\n%s", first,
        r.status, r.out, r.err);
  /* A sanitizer report is a failure even where the exit status is right. */
  g_assert_null (strstr (r.err, "AddressSanitizer"));
  g_assert_null (strstr (r.err, "runtime error:"));
  return r;
}

static Run
run_argen (const char *first, ...)
{
  va_list ap;
  Run r;

  va_start (ap, first);
  r = run_argen_valist (0, first, ap);
  va_end (ap);
  return r;
}

/* run_argen (), the child killed (status -1) if it runs @seconds. */
static Run
run_argen_within (guint seconds, const char *first, ...)
{
  va_list ap;
  Run r;

  va_start (ap, first);
  r = run_argen_valist (seconds, first, ap);
  va_end (ap);
  return r;
}

static char *
tmp_path (const char *name)
{
  return g_build_filename (tmp_dir, name, NULL);
}

/* Writes @n samples of a sine (@hz > 0) or of uniform noise (@hz == 0). */
static char *
write_wav (const char *dir, const char *name, double hz, gsize n, guint32 seed)
{
  g_autofree float *x = g_new (float, n);
  char *path = g_build_filename (dir, name, NULL);
  GError *error = NULL;
  GRand *rand = g_rand_new_with_seed (seed);

  for (gsize i = 0; i < n; i++)
    x[i] = hz > 0 ? (float) (0.5 * sin (2 * G_PI * hz * (double) i / RATE))
                  : (float) g_rand_double_range (rand, -0.3, 0.3);
  g_rand_free (rand);
  g_assert_true (ar_audio_write_wav (path, x, n, RATE, &error));
  g_assert_no_error (error);
  return path;
}

static gboolean
file_starts_with (const char *path, const char *magic, gsize n)
{
  g_autofree char *contents = NULL;
  gsize len = 0;

  if (!g_file_get_contents (path, &contents, &len, NULL))
    return FALSE;
  return len >= n && memcmp (contents, magic, n) == 0;
}

/* The number just before the first " bits/sample" in @text. */
static double
bits_per_sample (const char *text)
{
  const char *end = strstr (text, " bits/sample");
  const char *p;

  g_assert_nonnull (end);
  for (p = end; p > text && p[-1] != ' '; p--)
    ;
  g_assert_true (p < end);
  return g_ascii_strtod (p, NULL);
}

static void
test_help (void)
{
  static const char *const commands[] = { "train", "eval", "info", "generate",
    "audio-compare", "spectrogram", "baselines" };
  Run r = run_argen ("--help", NULL);
  g_assert_cmpint (r.status, ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    g_assert_nonnull (strstr (r.out, commands[i]));
  run_clear (&r);

  r = run_argen ("no-such-command", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "no-such-command"));
  run_clear (&r);

  /* each command's usage line names it as it is typed (it read "train
   * [OPTION…]"), and eval's says it scores more than text */
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++) {
    g_autofree char *usage = g_strdup_printf ("argen %s [OPTION", commands[i]);

    r = run_argen (commands[i], "--help", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_nonnull (strstr (r.out, usage));
    run_clear (&r);
  }
  r = run_argen ("eval", "--help", NULL);
  g_assert_nonnull (strstr (r.out, "text, images or audio"));
  run_clear (&r);

  /* a stray argument is named (the message asked for the family, which
   * was there) */
  r = run_argen ("train", "rnn", "stray", "--data", "t.txt", "--out", "m.gguf",
      NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "unexpected argument 'stray'"));
  run_clear (&r);
}

/* A string option that is not text (invalid UTF-8 in a UTF-8 locale) is
 * refused with status 2 and a message naming it: GOption's own said
 * "Invalid byte sequence in conversion input", about no option in
 * particular.  (Each is refused before any file is read.) */
static void
test_non_text_options (void)
{
  g_autofree char *model = g_build_filename (g_getenv ("AR_DEFAULTS_DIR"),
      "rnn-shakespeare.gguf", NULL);
  const char *const bad = "ab\xff";
  const struct
  {
    const char *option;
    const char *argv[8];
  } cases[] = {
    { "--prompt", { "generate", model, "--prompt", bad } },
    { "--stop", { "generate", model, "--stop", bad } },
    { "--name",
        { "train", "rnn", "--data", "t.txt", "--out", "m.gguf", "--name",
            bad } },
    { "--description",
        { "train", "rnn", "--data", "t.txt", "--out", "m.gguf", "--description",
            bad } },
    { "--cell",
        { "train", "rnn", "--data", "t.txt", "--out", "m.gguf", "--cell",
            bad } },
    { "--class", { "images", model, "--out", "g.png", "--class", bad } },
    { "--classes", { "eval", model, "--data", "t.txt", "--classes", bad } },
    { "--type", { "convert", "gguf", model, "m.gguf", "--type", bad } },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    const char *const *a = cases[i].argv;
    g_autofree char *named =
        g_strdup_printf ("%s is not text", cases[i].option);
    Run r = run_argen (a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], NULL);

    g_assert_cmpint (r.status, ==, 2);
    g_assert_nonnull (strstr (r.err, named));
    run_clear (&r);
  }
}

/* A model path that names a FIFO is refused at once, named, as not a
 * regular file: `argen info FIFO` waited for a writer forever (opening a
 * FIFO to read blocks), and so did every command that loads a model, and
 * `argen convert llama2c`. */
static void
test_fifo_model (void)
{
  g_autofree char *fifo = tmp_path ("fifo.gguf");
  const char *const runs[][4] = {
    { "info", fifo },
    { "generate", fifo, "--tokens", "1" },
    { "images", fifo, "--out", "g.png" },
    /* the llama2.c converter's inputs too */
    { "convert", "llama2c", fifo, fifo },
  };

  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (runs); i++) {
    Run r = run_argen_within (10, runs[i][0], runs[i][1], runs[i][2],
        runs[i][3], i == 3 ? "out.gguf" : NULL, NULL);

    g_assert_cmpint (r.status, ==, 1);
    g_assert_nonnull (strstr (r.err, fifo));
    g_assert_nonnull (strstr (r.err, "is not a regular file"));
    run_clear (&r);
  }
  g_unlink (fifo);
}

/* `argen convert llama2c --type`: the storage types it names and takes
 * (q4_0 among them: a missing checkpoint is then the error, not the type),
 * and an unknown type refused with exit status 2.  (The conversion itself
 * is test-llama2c's.) */
static void
test_convert_types (void)
{
  g_autofree char *missing = tmp_path ("missing.bin");
  g_autofree char *out = tmp_path ("out.gguf");
  Run r = run_argen ("convert", "--help", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "f32|f16|q8_0|q4_0"));
  run_clear (&r);

  r = run_argen ("convert", "llama2c", missing, missing, out, "--type", "q5_1",
      NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err,
      "\"q5_1\"; expected f32, f16, q8_0 or q4_0"));
  run_clear (&r);

  r = run_argen ("convert", "llama2c", missing, missing, out, "--type", "q4_0",
      NULL);
  g_assert_cmpint (r.status, ==, 1);
  g_assert_nonnull (strstr (r.err, missing));
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  run_clear (&r);
}

/* `argen convert gguf`: the embedded Transformer's matrices stored as Q8_0
 * (a quarter of the bytes, what a large model's self-draft needs), norms
 * left as they were, and the copy generates; the embedded speech WaveNet
 * given an output high-pass, and stored as F16; a model that is neither a
 * text model nor a WaveNet, a high-pass for a text model or out of range,
 * and neither option are refused, naming the problem, and leave no file.
 * (Rows that do not split into blocks: test_rnn.) */
static void
test_convert_gguf (void)
{
  g_autofree char *in = g_build_filename (g_getenv ("AR_DEFAULTS_DIR"),
      "transformer-shakespeare.gguf", NULL);
  g_autofree char *wavenet = g_build_filename (g_getenv ("AR_DEFAULTS_DIR"),
      "wavenet-speech.gguf", NULL);
  g_autofree char *pixelcnn = g_build_filename (g_getenv ("AR_DEFAULTS_DIR"),
      "pixelcnn-fashion.gguf", NULL);
  g_autofree char *out = tmp_path ("q8.gguf");
  g_autofree char *wn_out = tmp_path ("wn-hp.gguf");
  g_autofree char *refused = tmp_path ("refused.gguf");
  GStatBuf a, b;

  Run r = run_argen ("convert", "gguf", in, out, "--type", "q8_0", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "llama model, 65 tokens"));
  run_clear (&r);
  g_assert_cmpint (g_stat (in, &a), ==, 0);
  g_assert_cmpint (g_stat (out, &b), ==, 0);
  g_assert_cmpint (b.st_size, <, a.st_size / 3);

  r = run_argen ("info", out, NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_true (g_regex_match_simple ("blk\\.0\\.attn_q\\.weight +Q8_0",
      r.out, 0, 0));
  g_assert_true (g_regex_match_simple ("blk\\.0\\.attn_norm\\.weight +F32",
      r.out, 0, 0));
  run_clear (&r);

  r = run_argen ("generate", out, "--prompt", "ROMEO:", "--tokens", "20",
      "--seed", "1", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_cmpuint (strlen (r.out), >=, 20);
  run_clear (&r);

  r = run_argen ("convert", "gguf", wavenet, wn_out, "--highpass", "100",
      "--type", "f16", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "wavenet model, 8000 Hz, output high-pass "
          "100 Hz"));
  run_clear (&r);
  r = run_argen ("info", wn_out, NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_true (g_regex_match_simple ("wavenet\\.highpass += 100",
      r.out, 0, 0));
  g_assert_true (g_regex_match_simple ("layer\\.0\\.conv\\.weight +F16",
      r.out, 0, 0));
  run_clear (&r);

  r = run_argen ("convert", "gguf", pixelcnn, refused, "--type", "f16", NULL);
  g_assert_cmpint (r.status, ==, 1);
  g_assert_nonnull (strstr (r.err, pixelcnn));
  g_assert_nonnull (strstr (r.err, "not a text model"));
  g_assert_false (g_file_test (refused, G_FILE_TEST_EXISTS));
  run_clear (&r);

  r = run_argen ("convert", "gguf", in, refused, "--highpass", "100", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "for WaveNet models"));
  g_assert_false (g_file_test (refused, G_FILE_TEST_EXISTS));
  run_clear (&r);
  r = run_argen ("convert", "gguf", wavenet, refused, "--highpass", "4000",
      NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "--highpass 4000 is out of range"));
  g_assert_false (g_file_test (refused, G_FILE_TEST_EXISTS));
  run_clear (&r);
  {
    static const char *const bad[] = { "-5", "nan", "100Hz", "" };

    for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
      r = run_argen ("convert", "gguf", wavenet, refused, "--type", "f32",
          "--highpass", bad[i], NULL);
      g_assert_cmpint (r.status, ==, 2);
      g_assert_nonnull (strstr (r.err, "expected a cutoff in Hz"));
      g_assert_false (g_file_test (refused, G_FILE_TEST_EXISTS));
      run_clear (&r);
    }
  }

  r = run_argen ("convert", "gguf", in, refused, NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "--type"));
  g_assert_false (g_file_test (refused, G_FILE_TEST_EXISTS));
  run_clear (&r);

  /* --highpass alone keeps the F16 matrices, as --help says (it said "f32
   * (default)", llama2c's default) */
  {
    g_autofree char *hp_only = tmp_path ("wn-hp-only.gguf");
    r = run_argen ("convert", "gguf", wn_out, hp_only, "--highpass", "80",
        NULL);
    g_assert_cmpint (r.status, ==, 0);
    run_clear (&r);
    r = run_argen ("info", hp_only, NULL);
    g_assert_true (g_regex_match_simple ("layer\\.0\\.conv\\.weight +F16",
        r.out, 0, 0));
    run_clear (&r);
    r = run_argen ("convert", "gguf", "--help", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_nonnull (strstr (r.out, "default: each tensor's own"));
    g_assert_null (strstr (r.out, "f32 (default)"));
    /* the usage line names the format, as it is typed */
    g_assert_nonnull (strstr (r.out, "argen convert [OPTION…] gguf IN.gguf"));
    run_clear (&r);
    r = run_argen ("convert", "llama2c", "--help", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_nonnull (strstr (r.out,
        "argen convert [OPTION…] llama2c MODEL.bin TOKENIZER.bin"));
    g_assert_nonnull (strstr (r.out, "f32 (default)"));
    run_clear (&r);
  }
}

static void
test_audio_compare (void)
{
  g_autofree char *gl = tmp_path ("gl.wav");
  Run r = run_argen ("audio-compare", wav_a, wav_a, NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, ": 0.000 dB"));
  run_clear (&r);

  r = run_argen ("audio-compare", wav_a, wav_b, "--griffin-lim", gl,
      "--iterations", "4", "--mulaw", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "log-spectral distance to"));
  g_assert_nonnull (strstr (r.out, "µ-law"));
  g_assert_nonnull (strstr (r.out, "Griffin-Lim"));
  run_clear (&r);
  g_assert_true (file_starts_with (gl, "RIFF", 4));
}

static void
test_audio_compare_distance (void)
{
  /* The first line is "B: log-spectral distance to A: D dB (...)": D must be
   * well above 0 for a 440 Hz and a 660 Hz sine. */
  Run r = run_argen ("audio-compare", wav_a, wav_b, NULL);
  const char *p;
  double d;

  g_assert_cmpint (r.status, ==, 0);
  p = strstr (r.out, "distance to ");
  g_assert_nonnull (p);
  p = strstr (p, ": ");
  g_assert_nonnull (p);
  d = g_ascii_strtod (p + 2, NULL);
  g_assert_cmpfloat (d, >, 1.0);
  run_clear (&r);

  /* --bands: six octave bands at 8 kHz; A's 440 Hz is in 250-500 Hz, where
   * B is much quieter, B's 660 Hz in 500-1000 Hz, where it is louder */
  r = run_argen ("audio-compare", wav_a, wav_b, "--bands", NULL);
  g_assert_cmpint (r.status, ==, 0);
  {
    static const char *const names[] = { "0-125", "125-250", "250-500",
      "500-1000", "1000-2000", "2000-4000" };
    double level[G_N_ELEMENTS (names)];

    for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
      g_autofree char *key = g_strdup_printf (" %s", names[i]);

      p = strstr (r.out, key);
      g_assert_nonnull (p);
      p = strstr (p, "level ");
      g_assert_nonnull (p);
      level[i] = g_ascii_strtod (p + strlen ("level "), NULL);
    }
    g_assert_cmpfloat (level[2], <, -10.0);
    g_assert_cmpfloat (level[3], >, 10.0);
  }
  run_clear (&r);

  /* --levels: six classes of A's frame level per signal; two steady sines
   * have almost every frame in the loudest class (the zero-padded frames
   * at the ends lower), and it is about as far as the whole */
  r = run_argen ("audio-compare", wav_a, wav_b, "--levels", "--mulaw", NULL);
  g_assert_cmpint (r.status, ==, 0);
  {
    guint lines = 0;
    double first = -1, share, total = 0;

    for (p = r.out; (p = strstr (p, "under the loudest: ")) != NULL; lines++) {
      p += strlen ("under the loudest: ");
      if (lines == 0)
        first = g_ascii_strtod (p, NULL);
      share = g_ascii_strtod (strchr (p, '(') + 1, NULL);
      if (lines == 0)
        g_assert_cmpfloat (share, >, 80.0);
      if (lines < 6)
        total += share;
    }
    /* TEST's classes, then the µ-law coding's */
    g_assert_cmpuint (lines, ==, 12);
    g_assert_cmpfloat (fabs (total - 100.0), <, 0.5);
    g_assert_cmpfloat (fabs (first - d), <, 0.2 * d);
  }
  run_clear (&r);
}

static void
test_spectrogram (void)
{
  g_autofree char *png = tmp_path ("s.png");
  Run r = run_argen ("spectrogram", wav_a, png, NULL);
  g_assert_cmpint (r.status, ==, 0);
  run_clear (&r);
  g_assert_true (file_starts_with (png, "\x89PNG\r\n\x1a\n", 8));
}

/* --n-fft up to the largest whose bins fit in a cairo image (32768: 16385
 * rows; 65536 crashed on a surface without data); the file has 4800
 * samples, fewer than a frame. */
static void
test_spectrogram_n_fft (void)
{
  g_autofree char *png = tmp_path ("s-fft.png");
  Run r = run_argen ("spectrogram", wav_a, png, "--n-fft", "65536", NULL);

  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "16…32768"));
  g_assert_false (g_file_test (png, G_FILE_TEST_EXISTS));
  run_clear (&r);

  r = run_argen ("spectrogram", wav_a, png, "--n-fft", "32768", NULL);
  g_assert_cmpint (r.status, ==, 0);
  run_clear (&r);
  g_assert_true (file_starts_with (png, "\x89PNG\r\n\x1a\n", 8));
}

static void
test_baselines (void)
{
  Run r =
      run_argen ("baselines", "--data", wav_dir, "--holdout-every", "2", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "unigram"));
  g_assert_nonnull (strstr (r.out, "LPC16"));
  g_assert_nonnull (strstr (r.out, "bits/sample"));
  run_clear (&r);
}

static void
test_audio_errors (void)
{
  g_autofree char *missing = tmp_path ("missing.wav");
  g_autofree char *missing_dir = tmp_path ("no-such-dir");
  g_autofree char *text = tmp_path ("not-audio.wav");
  g_autofree char *mixed_dir = tmp_path ("mixed");
  g_autofree char *mixed_bad = g_build_filename (mixed_dir, "b.wav", NULL);
  Run r;

  g_assert_true (g_file_set_contents (text, "this is not a WAV file\n", -1,
      NULL));

  r = run_argen ("audio-compare", wav_a, missing, NULL);
  g_assert_cmpint (r.status, >, 0);
  g_assert_nonnull (strstr (r.err, missing));
  run_clear (&r);

  r = run_argen ("audio-compare", text, wav_a, NULL);
  g_assert_cmpint (r.status, >, 0);
  g_assert_nonnull (strstr (r.err, text));
  run_clear (&r);

  r = run_argen ("spectrogram", missing, "out.png", NULL);
  g_assert_cmpint (r.status, >, 0);
  g_assert_nonnull (strstr (r.err, missing));
  run_clear (&r);

  r = run_argen ("baselines", "--data", missing_dir, NULL);
  g_assert_cmpint (r.status, >, 0);
  g_assert_nonnull (strstr (r.err, missing_dir));
  run_clear (&r);

  /* A folder with a WAV and a file that is not audio: the folder is not
   * silently half-read, and the message names the bad file. */
  g_assert_cmpint (g_mkdir (mixed_dir, 0755), ==, 0);
  g_free (write_wav (mixed_dir, "a.wav", 440, RATE / 10, 5));
  g_assert_true (g_file_set_contents (mixed_bad, "not audio either\n", -1,
      NULL));
  r = run_argen ("baselines", "--data", mixed_dir, "--holdout-every", "2",
      NULL);
  g_assert_cmpint (r.status, >, 0);
  g_assert_nonnull (strstr (r.err, mixed_bad));
  run_clear (&r);
}

/* Audio with no samples is not a perfect score: audio-compare, baselines,
 * wavenet training and eval refuse it, naming the file or folder (they
 * printed 0 dB, 0 bits/sample, NaN bits/sample, and trained on nothing
 * after a GLib-CRITICAL). */
static void
test_audio_empty (void)
{
  g_autofree char *dir = tmp_path ("with-empty");
  g_autofree char *empty = NULL;
  g_autofree char *model = tmp_path ("wn-empty.gguf");
  g_autofree char *speech = g_build_filename (g_getenv ("AR_DEFAULTS_DIR"),
      "wavenet-speech.gguf", NULL);
  GError *error = NULL;
  Run r;

  /* file 0 (held out with --holdout-every 2) has no samples, file 1 some */
  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  empty = g_build_filename (dir, "0.wav", NULL);
  g_assert_true (ar_audio_write_wav (empty, NULL, 0, RATE, &error));
  g_assert_no_error (error);
  g_free (write_wav (dir, "1.wav", 440, RATE / 10, 6));

  r = run_argen ("audio-compare", wav_a, empty, NULL);
  g_assert_cmpint (r.status, ==, 1);
  g_assert_nonnull (strstr (r.err, empty));
  g_assert_nonnull (strstr (r.err, "no samples"));
  run_clear (&r);

  r = run_argen ("baselines", "--data", dir, "--holdout-every", "2", NULL);
  g_assert_cmpint (r.status, ==, 1);
  g_assert_nonnull (strstr (r.err, dir));
  g_assert_nonnull (strstr (r.err, "no samples"));
  run_clear (&r);

  r = run_argen ("train", "wavenet", "--data", empty, "--out", model,
      "--residual", "4", "--gate", "4", "--skip", "4", "--output", "8",
      "--stacks", "1", "--layers-per-stack", "2", "--window", "64", "--steps",
      "2", "--warmup", "0", "--holdout-every", "0", "--threads", "1", NULL);
  g_assert_cmpint (r.status, ==, 1);
  g_assert_nonnull (strstr (r.err, empty));
  g_assert_nonnull (strstr (r.err, "nothing to learn from"));
  g_assert_null (strstr (r.err, "CRITICAL"));
  g_assert_false (g_file_test (model, G_FILE_TEST_EXISTS));
  run_clear (&r);

  /* the empty file held out: nothing to validate on (no validation was
   * printed, nor said missing) */
  r = run_argen ("train", "wavenet", "--data", dir, "--out", model,
      "--residual", "4", "--gate", "4", "--skip", "4", "--output", "8",
      "--stacks", "1", "--layers-per-stack", "2", "--window", "64", "--steps",
      "2", "--warmup", "0", "--holdout-every", "2", "--threads", "1", NULL);
  g_assert_cmpint (r.status, ==, 1);
  g_assert_nonnull (strstr (r.err, "nothing to validate on"));
  g_assert_false (g_file_test (model, G_FILE_TEST_EXISTS));
  run_clear (&r);

  r = run_argen ("eval", speech, "--data", dir, "--holdout-every", "2",
      "--threads", "1", NULL);
  g_assert_cmpint (r.status, ==, 1);
  g_assert_nonnull (strstr (r.err, dir));
  g_assert_nonnull (strstr (r.err, "nothing to score"));
  g_assert_null (strstr (r.out, "nan"));
  run_clear (&r);
}

static void
test_wavenet (void)
{
  g_autofree char *model = tmp_path ("wn.gguf");
  g_autofree char *missing_dir = tmp_path ("no-such-dir");
  Run r = run_argen ("train", "wavenet", "--data", wav_dir, "--out", model,
      "--residual", "4", "--gate", "4", "--skip", "4", "--output", "8",
      "--stacks", "1", "--layers-per-stack", "2", "--window", "64", "--batch",
      "2", "--steps", "3", "--warmup", "1", "--eval-every", "0",
      "--checkpoint-every", "0", "--holdout-every", "2", "--threads", "1",
      NULL);
  double train_bits, eval_bits;

  g_assert_cmpint (r.status, ==, 0);
  /* The final validation, on the same held-out files eval scores below. */
  g_assert_nonnull (strstr (r.err, "validation"));
  train_bits = bits_per_sample (strstr (r.err, "validation"));
  run_clear (&r);
  g_assert_true (file_starts_with (model, "GGUF", 4));

  r = run_argen ("info", model, NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "wavenet"));
  run_clear (&r);

  r = run_argen ("eval", model, "--data", wav_dir, "--holdout-every", "2",
      "--threads", "1", NULL);
  g_assert_cmpint (r.status, ==, 0);
  /* Three steps leave the model near the uniform 8 bits of 256 classes;
   * eval and the trainer's validation score the same held-out files. */
  eval_bits = bits_per_sample (r.out);
  g_assert_cmpfloat (eval_bits, >, 7.0);
  g_assert_cmpfloat (eval_bits, <, 9.0);
  g_assert_cmpfloat_with_epsilon (eval_bits, train_bits, 0.01);
  run_clear (&r);

  /* generate runs text models only, and says which file it refused. */
  r = run_argen ("generate", model, "--tokens", "3", NULL);
  g_assert_cmpint (r.status, >, 0);
  g_assert_nonnull (strstr (r.err, model));
  g_assert_nonnull (strstr (r.err, "wavenet"));
  run_clear (&r);

  r = run_argen ("train", "wavenet", "--out", model, NULL);
  g_assert_cmpint (r.status, >, 0);
  g_assert_nonnull (strstr (r.err, "--data"));
  run_clear (&r);

  r = run_argen ("train", "wavenet", "--data", missing_dir, "--out", model,
      "--steps", "1", "--warmup", "0", "--threads", "1", NULL);
  g_assert_cmpint (r.status, >, 0);
  g_assert_nonnull (strstr (r.err, missing_dir));
  run_clear (&r);

  /* --holdout-every holding out every file — one named by --data, whatever
   * N, or all of them with 1: the message names the option (it said "no
   * training files (1 held out)") */
  g_unlink (model);
  r = run_argen ("train", "wavenet", "--data", wav_a, "--out", model,
      "--steps", "1", "--threads", "1", NULL);
  g_assert_cmpint (r.status, ==, 1);
  g_assert_nonnull (strstr (r.err, "--holdout-every 20 holds out all 1"));
  g_assert_nonnull (strstr (r.err, "--holdout-every 0 for none"));
  g_assert_false (g_file_test (model, G_FILE_TEST_EXISTS));
  run_clear (&r);
  r = run_argen ("train", "wavenet", "--data", wav_dir, "--out", model,
      "--steps", "1", "--holdout-every", "1", "--threads", "1", NULL);
  g_assert_cmpint (r.status, ==, 1);
  g_assert_nonnull (strstr (r.err, "--holdout-every 1 holds out all 4"));
  g_assert_nonnull (strstr (r.err, "a larger --holdout-every"));
  g_assert_false (g_file_test (model, G_FILE_TEST_EXISTS));
  run_clear (&r);
}

/* train wavenet refuses a model no file can hold before reading the data:
 * 9 stacks (the loader's limit is 8) trained and wrote a model that
 * nothing could load; and more classes than a file can hold, which only
 * the data reveal (--classes naming 1025 of them), fail naming the key
 * (it crashed after criticals, since the trainer's own check refuses them
 * too). */
static void
test_wavenet_model_limits (void)
{
  g_autofree char *model = tmp_path ("wn-limits.gguf");
  g_autofree char *dirs = tmp_path ("many-classes");
  g_autofree char *classes = tmp_path ("many-classes.txt");
  Run r;

  r = run_argen ("train", "wavenet", "--data", wav_dir, "--out", model,
      "--residual", "4", "--gate", "4", "--skip", "4", "--output", "8",
      "--stacks", "9", "--layers-per-stack", "2", "--steps", "1", "--warmup",
      "0", "--holdout-every", "0", "--threads", "1", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "wavenet.stacks is 9; expected 1 to 8"));
  g_assert_false (g_file_test (model, G_FILE_TEST_EXISTS));
  run_clear (&r);

  /* 1025 files in one folder, each its own class in a mapping file; one
   * file written, its bytes copied plainly (ar_audio_write_wav's atomic
   * rename 1025 times is slow on a busy machine) */
  g_assert_cmpint (g_mkdir (dirs, 0755), ==, 0);
  g_autofree char *first = write_wav (dirs, "x.wav", 440, 16, 1);
  g_autofree char *bytes = NULL;
  g_autoptr (GString) map = g_string_new (NULL);
  gsize len;
  g_assert_true (g_file_get_contents (first, &bytes, &len, NULL));
  g_assert_cmpint (g_remove (first), ==, 0);
  for (int i = 0; i < 1025; i++) {
    g_autofree char *name = g_strdup_printf ("%04d.wav", i);
    g_autofree char *path = g_build_filename (dirs, name, NULL);

    g_assert_true (g_file_set_contents_full (path, bytes, (gssize) len,
            G_FILE_SET_CONTENTS_NONE, 0644, NULL));
    g_string_append_printf (map, "%s c%d\n", name, i);
  }
  g_assert_true (g_file_set_contents (classes, map->str, -1, NULL));
  r = run_argen ("train", "wavenet", "--data", dirs, "--classes", classes,
      "--out", model, "--residual", "4", "--gate", "4", "--skip", "4",
      "--output", "8", "--stacks", "1", "--layers-per-stack", "2", "--window",
      "64", "--steps", "1", "--warmup", "0", "--holdout-every", "0",
      "--threads", "1", NULL);
  g_assert_cmpint (r.status, ==, 1);
  g_assert_nonnull (strstr (r.err,
          "wavenet.global.classes is 1025; expected 0 to 1024"));
  g_assert_null (strstr (r.err, "CRITICAL"));
  g_assert_false (g_file_test (model, G_FILE_TEST_EXISTS));
  run_clear (&r);
}

/* --pre-emphasis: a WaveNet trained with it says so in its file and in
 * eval; the µ-law floor and the baselines can be computed with it; values
 * out of range are refused by every command.  --highpass (trained along)
 * is in the file and its recipe, and refused out of range. */
static void
test_wavenet_pre_emphasis (void)
{
  g_autofree char *model = tmp_path ("wn-pe.gguf");
  Run r = run_argen ("train", "wavenet", "--data", wav_dir, "--out", model,
      "--residual", "4", "--gate", "4", "--skip", "4", "--output", "8",
      "--stacks", "1", "--layers-per-stack", "2", "--window", "64", "--batch",
      "2", "--steps", "2", "--warmup", "1", "--eval-every", "0",
      "--checkpoint-every", "0", "--holdout-every", "2", "--threads", "1",
      "--pre-emphasis", "0.85", "--highpass", "100", NULL);

  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.err, "pre-emphasised"));
  run_clear (&r);
  r = run_argen ("info", model, NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "wavenet.pre_emphasis"));
  g_assert_nonnull (strstr (r.out, "--pre-emphasis 0.85 --highpass 100"));
  g_assert_true (g_regex_match_simple ("wavenet\\.highpass += 100",
      r.out, 0, 0));
  run_clear (&r);
  r = run_argen ("eval", model, "--data", wav_dir, "--holdout-every", "2",
      "--threads", "1", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "pre-emphasised signal's µ-law classes"));
  run_clear (&r);

  r = run_argen ("audio-compare", wav_a, wav_a, "--mulaw", "--pre-emphasis",
      "0.85", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "µ-law and back (pre-emphasis 0.85): "));
  run_clear (&r);
  r = run_argen ("baselines", "--data", wav_dir, "--holdout-every", "2",
      "--pre-emphasis", "0.85", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "pre-emphasised signal"));
  g_assert_nonnull (strstr (r.out, "LPC16"));
  run_clear (&r);

  r = run_argen ("train", "wavenet", "--data", wav_dir, "--out", model,
      "--pre-emphasis", "1.5", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "--pre-emphasis 1.5"));
  run_clear (&r);
  r = run_argen ("train", "wavenet", "--data", wav_dir, "--out", model,
      "--highpass", "4000", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "--highpass 4000 is out of range"));
  run_clear (&r);
  r = run_argen ("audio-compare", wav_a, wav_a, "--mulaw", "--pre-emphasis",
      "-0.1", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "--pre-emphasis"));
  run_clear (&r);
  r = run_argen ("baselines", "--data", wav_dir, "--pre-emphasis", "nan", NULL);
  g_assert_cmpint (r.status, ==, 2);
  run_clear (&r);
}

static void
test_rnn (void)
{
  g_autofree char *text = tmp_path ("t.txt");
  g_autofree char *model = tmp_path ("r.gguf");
  g_autofree char *cut = tmp_path ("cut.gguf");
  g_autofree char *missing = tmp_path ("missing.txt");
  g_autofree char *short_text = tmp_path ("short.txt");
  g_autoptr (GString) s = g_string_new (NULL);
  g_autofree char *contents = NULL;
  gsize len = 0;
  GRand *rand = g_rand_new_with_seed (7);
  static const char *const words[] = { "a", "cat", "sat", "on", "the", "mat",
    "and", "ate" };
  Run r;

  /* About 2 KB of words from a small vocabulary. */
  while (s->len < 2048) {
    g_string_append (s,
        words[g_rand_int_range (rand, 0, G_N_ELEMENTS (words))]);
    g_string_append_c (s, g_rand_int_range (rand, 0, 8) == 0 ? '\n' : ' ');
  }
  g_rand_free (rand);
  g_assert_true (g_file_set_contents (text, s->str, s->len, NULL));

  r = run_argen ("train", "rnn", "--data", text, "--out", model, "--embedding",
      "8", "--hidden", "16", "--seq", "16", "--batch", "2", "--steps", "3",
      "--warmup", "1", "--eval-every", "0", "--checkpoint-every", "0",
      "--threads", "1", NULL);
  g_assert_cmpint (r.status, ==, 0);
  run_clear (&r);
  g_assert_true (file_starts_with (model, "GGUF", 4));

  /* a text named NAME.csv with --out NAME.gguf: the log would be written
   * over it (it was, after the text was read) */
  {
    g_autofree char *csv = tmp_path ("quotes.csv");
    g_autofree char *quotes = tmp_path ("quotes.gguf");
    g_autofree char *kept = NULL;

    g_assert_true (g_file_set_contents (csv, s->str, s->len, NULL));
    r = run_argen ("train", "rnn", "--data", csv, "--out", quotes,
        "--embedding", "8", "--hidden", "16", "--seq", "16", "--batch", "2",
        "--steps", "1", "--warmup", "0", "--threads", "1", NULL);
    g_assert_cmpint (r.status, ==, 2);
    g_assert_nonnull (strstr (r.err, "are the same file"));
    g_assert_nonnull (strstr (r.err, "--log"));
    run_clear (&r);
    g_assert_true (g_file_get_contents (csv, &kept, NULL, NULL));
    g_assert_cmpstr (kept, ==, s->str);
    g_assert_false (g_file_test (quotes, G_FILE_TEST_EXISTS));

    r = run_argen ("train", "rnn", "--data", text, "--out", cut, "--log", cut,
        "--steps", "1", "--warmup", "0", NULL);
    g_assert_cmpint (r.status, ==, 2);
    g_assert_nonnull (strstr (r.err, "--out"));
    run_clear (&r);
  }

  /* a byte vocabulary's validation is in nats per byte, as eval gives it
   * (it said nats/char), and its progress and log count bytes a second (they
   * said chars/s) */
  r = run_argen ("train", "rnn", "--data", text, "--out", cut, "--vocab",
      "byte", "--embedding", "8", "--hidden", "16", "--seq", "16", "--batch",
      "2", "--steps", "1", "--warmup", "0", "--eval-every", "0",
      "--checkpoint-every", "0", "--threads", "1", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.err, "nats/byte"));
  g_assert_null (strstr (r.err, "nats/char"));
  g_assert_nonnull (strstr (r.err, " bytes/s"));
  g_assert_null (strstr (r.err, "chars/s"));
  run_clear (&r);
  {
    g_autofree char *log = tmp_path ("cut.csv");
    g_autofree char *rows = NULL;

    g_assert_true (g_file_get_contents (log, &rows, NULL, NULL));
    g_assert_true (g_str_has_prefix (rows, "step,"));
    g_assert_nonnull (strstr (rows, ",bytes/s\n"));
  }
  r = run_argen ("eval", cut, "--data", text, NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "nats/byte"));
  run_clear (&r);
  g_unlink (cut);

  /* a held-out end of 21 characters is fewer than the 32 streams of the
   * default --batch validation scores: it scored none and printed no
   * validation at all */
  r = run_argen ("train", "rnn", "--data", text, "--out", cut, "--embedding",
      "8", "--hidden", "16", "--seq", "16", "--steps", "1", "--warmup", "0",
      "--val-fraction", "0.01", "--threads", "1", NULL);
  g_assert_cmpint (r.status, ==, 1);
  g_assert_nonnull (strstr (r.err, text));
  g_assert_nonnull (strstr (r.err, "validation needs 32"));
  g_assert_false (g_file_test (cut, G_FILE_TEST_EXISTS));
  run_clear (&r);

  /* sizes of zero or below are refused, named as given (--batch 0 trained
   * with the default 32, --hidden -5 was reported as 4294967291) */
  {
    static const char *const bad[][2] = { { "--batch", "0" },
      { "--hidden", "-5" }, { "--embedding", "0" }, { "--layers", "-1" } };

    for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
      r = run_argen ("train", "rnn", "--data", text, "--out", cut, "--steps",
          "1", "--warmup", "0", bad[i][0], bad[i][1], NULL);
      g_assert_cmpint (r.status, ==, 2);
      g_assert_nonnull (strstr (r.err, "out of range"));
      g_assert_null (strstr (r.err, "4294967291"));
      g_assert_false (g_file_test (cut, G_FILE_TEST_EXISTS));
      run_clear (&r);
    }
  }

  /* sizes that do not fit together are a wrong command line too, exit 2
   * like the others (the family's check refused them with exit 1) */
  r = run_argen ("train", "transformer", "--data", text, "--out", cut,
      "--dim", "16", "--heads", "3", "--steps", "1", "--warmup", "0", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "3 attention heads"));
  g_assert_false (g_file_test (cut, G_FILE_TEST_EXISTS));
  run_clear (&r);
  r = run_argen ("train", "rnn", "--data", text, "--out", cut, "--hidden",
      "100000000", "--steps", "1", "--warmup", "0", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_false (g_file_test (cut, G_FILE_TEST_EXISTS));
  run_clear (&r);

  /* a warm-up as long as the run: the learning rate never reached --lr
   * (--steps 3 --warmup 10 trained at 10 … 30 % of it, and said nothing);
   * the default, 100, is a tenth of a shorter run */
  r = run_argen ("train", "rnn", "--data", text, "--out", cut, "--embedding",
      "8", "--hidden", "16", "--seq", "16", "--batch", "2", "--steps", "10",
      "--warmup", "10", "--threads", "1", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "--warmup 10 is not below --steps 10"));
  g_assert_nonnull (strstr (r.err, "--lr 0.002"));
  g_assert_false (g_file_test (cut, G_FILE_TEST_EXISTS));
  run_clear (&r);
  {
    g_autofree char *log = tmp_path ("cut.csv");
    g_autofree char *rows = NULL;

    /* 20 steps: a warm-up of 2, --lr at step 2 */
    r = run_argen ("train", "rnn", "--data", text, "--out", cut, "--embedding",
        "8", "--hidden", "16", "--seq", "16", "--batch", "2", "--steps", "20",
        "--eval-every", "0", "--checkpoint-every", "0", "--threads", "1",
        NULL);
    g_assert_cmpint (r.status, ==, 0);
    run_clear (&r);
    g_assert_true (g_file_get_contents (log, &rows, NULL, NULL));
    g_assert_nonnull (strstr (rows, "\n1,0.001,"));
    g_assert_nonnull (strstr (rows, "\n2,0.002,"));
    g_unlink (cut);
  }
  /* --lr below --lr-min's default, 1e-4: the default follows it down (the
   * cosine rose from 5e-5 to 1e-4 through the run); an --lr-min above --lr
   * is refused */
  {
    g_autofree char *log = tmp_path ("cut.csv");
    g_autofree char *rows = NULL;

    r = run_argen ("train", "rnn", "--data", text, "--out", cut, "--embedding",
        "8", "--hidden", "16", "--seq", "16", "--batch", "2", "--steps", "4",
        "--lr", "5e-5", "--eval-every", "0", "--checkpoint-every", "0",
        "--threads", "1", NULL);
    g_assert_cmpint (r.status, ==, 0);
    run_clear (&r);
    g_assert_true (g_file_get_contents (log, &rows, NULL, NULL));
    g_assert_nonnull (strstr (rows, "\n1,5e-05,"));
    g_assert_nonnull (strstr (rows, "\n4,5e-05,"));
    r = run_argen ("info", cut, NULL);
    g_assert_nonnull (strstr (r.out, "--lr 5e-05 --lr-min 5e-05 "));
    run_clear (&r);
    g_unlink (cut);
  }
  r = run_argen ("train", "rnn", "--data", text, "--out", cut, "--embedding",
      "8", "--hidden", "16", "--seq", "16", "--batch", "2", "--steps", "4",
      "--lr", "5e-4", "--lr-min", "1e-3", "--threads", "1", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "--lr-min 0.001 is above --lr 0.0005"));
  g_assert_false (g_file_test (cut, G_FILE_TEST_EXISTS));
  run_clear (&r);
  /* one step shorter, step 2 of 3 runs at --lr */
  {
    g_autofree char *log = tmp_path ("cut.csv");
    g_autofree char *rows = NULL;

    r = run_argen ("train", "rnn", "--data", text, "--out", cut, "--embedding",
        "8", "--hidden", "16", "--seq", "16", "--batch", "2", "--steps", "3",
        "--warmup", "2", "--eval-every", "0", "--checkpoint-every", "0",
        "--threads", "1", NULL);
    g_assert_cmpint (r.status, ==, 0);
    run_clear (&r);
    g_assert_true (g_file_get_contents (log, &rows, NULL, NULL));
    g_assert_nonnull (strstr (rows, "\n2,0.002,"));
    g_unlink (cut);
  }

  r = run_argen ("generate", model, "--prompt", "a", "--tokens", "10", "--seed",
      "3", NULL);
  g_assert_cmpint (r.status, ==, 0);
  /* Ten tokens of a char vocabulary of ASCII text: ten characters. */
  g_assert_cmpuint (g_utf8_strlen (r.out, -1), >=, 10);
  run_clear (&r);

  /* its 16-value rows do not split into 32-value blocks; F16 does */
  r = run_argen ("convert", "gguf", model, cut, "--type", "q4_0", NULL);
  g_assert_cmpint (r.status, ==, 1);
  g_assert_nonnull (strstr (r.err, "not a multiple of 32"));
  g_assert_false (g_file_test (cut, G_FILE_TEST_EXISTS));
  run_clear (&r);
  r = run_argen ("convert", "gguf", model, cut, "--type", "f16", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "rnn model"));
  run_clear (&r);
  g_unlink (cut);

  r = run_argen ("train", "rnn", "--data", missing, "--out", cut, NULL);
  g_assert_cmpint (r.status, >, 0);
  g_assert_nonnull (strstr (r.err, missing));
  run_clear (&r);

  /* a text too short to score: its held-out end is 1 token, nothing to
   * predict (was NaN, exit 0, after a GLib-CRITICAL for the Transformer) */
  g_assert_true (g_file_set_contents (short_text, "the cat", -1, NULL));
  {
    g_autofree char *tf = g_build_filename (g_getenv ("AR_DEFAULTS_DIR"),
        "transformer-shakespeare.gguf", NULL);
    const char *const models[] = { model, tf };

    /* odd sliding windows advance by 1 and score 1 target each (the
     * description said 2: T - T / 2) */
    r = run_argen ("eval", tf, "--data", text, "--sliding", "--window", "3",
        "--threads", "1", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_nonnull (strstr (r.out, "windows of 3 advancing by 1, each after "
            "the first scoring its last 1,"));
    run_clear (&r);

    for (guint i = 0; i < G_N_ELEMENTS (models); i++) {
      r = run_argen ("eval", models[i], "--data", short_text, NULL);
      g_assert_cmpint (r.status, ==, 1);
      g_assert_nonnull (strstr (r.err, short_text));
      g_assert_nonnull (strstr (r.err, "held-out end has 1 tokens"));
      g_assert_null (strstr (r.err, "CRITICAL"));
      run_clear (&r);
    }
  }
  /* the whole of it: 6 predictions, fewer than the 32 streams of --batch
   * (the RNN scored none of them and printed NaN) */
  r = run_argen ("eval", model, "--data", short_text, "--all", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "over 6 predictions"));
  g_assert_null (strstr (r.out, "nan"));
  run_clear (&r);

  r = run_argen ("info", wav_a, NULL);
  g_assert_cmpint (r.status, >, 0);
  g_assert_nonnull (strstr (r.err, wav_a));
  g_assert_nonnull (strstr (r.err, "GGUF"));
  run_clear (&r);

  /* A copy cut in the middle of its tensors. */
  g_assert_true (g_file_get_contents (model, &contents, &len, NULL));
  g_assert_cmpuint (len, >, 64);
  g_assert_true (g_file_set_contents (cut, contents, len / 2, NULL));
  r = run_argen ("info", cut, NULL);
  g_assert_cmpint (r.status, >, 0);
  g_assert_nonnull (strstr (r.err, cut));
  run_clear (&r);
}

/* --resume continues a checkpoint's run with the options it was started
 * with: a command giving others is refused, naming the option (a longer
 * --steps was silently ignored, and recorded in the model's recipe as
 * given); the same command continues it.  A plot that cannot be written is
 * not reported as written. */
static void
test_resume (void)
{
  g_autofree char *text = tmp_path ("resume.txt");
  g_autofree char *model = tmp_path ("resume.gguf");
  g_autofree char *ckpt = tmp_path ("resume.ckpt");
  g_autofree char *bad_plot = tmp_path ("no-such-dir/resume.png");
  g_autoptr (GString) s = g_string_new (NULL);
  Run r;

  while (s->len < 2000)
    g_string_append (s, "a cat sat on the mat\n");
  g_assert_true (g_file_set_contents (text, s->str, s->len, NULL));

#define RESUME_ARGS "--data", text, "--out", model, "--embedding", "8", \
    "--hidden", "16", "--seq", "16", "--batch", "2", "--warmup", "1", \
    "--eval-every", "0", "--checkpoint-every", "2", "--threads", "1"
  r = run_argen ("train", "rnn", RESUME_ARGS, "--steps", "4", NULL);
  g_assert_cmpint (r.status, ==, 0);
  run_clear (&r);
  g_assert_true (g_file_test (ckpt, G_FILE_TEST_EXISTS));
  g_unlink (model);

  r = run_argen ("train", "rnn", RESUME_ARGS, "--steps", "8", "--resume", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, ckpt));
  g_assert_nonnull (strstr (r.err, "--steps 4, not 8"));
  g_assert_false (g_file_test (model, G_FILE_TEST_EXISTS));
  run_clear (&r);

  r = run_argen ("train", "rnn", RESUME_ARGS, "--steps", "4", "--lr", "1e-3",
      "--resume", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "--lr 0.002, not 0.001"));
  run_clear (&r);

  r = run_argen ("train", "rnn", RESUME_ARGS, "--steps", "4", "--resume",
      "--plot", bad_plot, NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.err, "resuming from"));
  g_assert_nonnull (strstr (r.err, "no plot"));
  g_assert_null (strstr (r.err, "plot /"));
  run_clear (&r);
  g_assert_true (file_starts_with (model, "GGUF", 4));
#undef RESUME_ARGS
}

/* argen train nar, info, eval and generate on a tiny text. */
static void
test_nar (void)
{
  g_autofree char *text = tmp_path ("nar.txt");
  g_autofree char *model = tmp_path ("n.gguf");
  g_autoptr (GString) s = g_string_new (NULL);
  Run r;

  while (s->len < 3000)
    g_string_append (s, "the cat sat on the mat.\n");
  g_assert_true (g_file_set_contents (text, s->str, s->len, NULL));

  r = run_argen ("train", "nar", "--data", text, "--out", model, "--layers",
      "1", "--dim", "16", "--heads", "2", "--context", "24", "--slots", "8",
      "--batch", "4", "--steps", "5", "--warmup", "1", "--eval-every", "0",
      "--checkpoint-every", "0", "--threads", "1", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.err, "validation"));
  run_clear (&r);

  r = run_argen ("info", model, NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "architecture nar"));
  g_assert_nonnull (strstr (r.out, "nar.slots"));
  g_assert_nonnull (strstr (r.out, "nar.mask_token_id"));
  run_clear (&r);

  r = run_argen ("eval", model, "--data", text, "--threads", "1", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "nats/char"));
  run_clear (&r);

  /* 20 tokens: chunks of 8, 8 and 4, each after the text so far; twice
   * with the same seed, the same text */
  r = run_argen ("generate", model, "--prompt", "the", "--tokens", "20",
      "--iterations", "3", "--seed", "5", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_cmpuint (g_utf8_strlen (r.out, -1), ==, 20);
  {
    Run again = run_argen ("generate", model, "--prompt", "the", "--tokens",
        "20", "--iterations", "3", "--seed", "5", NULL);

    g_assert_cmpint (again.status, ==, 0);
    g_assert_cmpstr (again.out, ==, r.out);
    run_clear (&again);
  }
  run_clear (&r);

  r = run_argen ("generate", model, "--iterations", "0", NULL);
  g_assert_cmpint (r.status, ==, 2);
  run_clear (&r);
  /* the elements' limit: 10^6 passes a chunk ran for minutes */
  r = run_argen ("generate", model, "--tokens", "8", "--iterations", "1000000",
      NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "1 … 1024"));
  run_clear (&r);

  /* a held-out end shorter than the 8 slots a pass fills: refused (NaN over
   * 0 predictions, and no validation in training) */
  r = run_argen ("eval", model, "--data", text, "--val-fraction", "0.002",
      NULL);
  g_assert_cmpint (r.status, ==, 1);
  g_assert_nonnull (strstr (r.err, "has 6 tokens, fewer than the model's 8 "
          "slots"));
  g_assert_null (strstr (r.out, "nan"));
  run_clear (&r);
  r = run_argen ("train", "nar", "--data", text, "--out", model, "--layers",
      "1", "--dim", "16", "--heads", "2", "--context", "24", "--slots", "8",
      "--steps", "1", "--warmup", "0", "--val-fraction", "0.002", "--threads",
      "1", NULL);
  g_assert_cmpint (r.status, ==, 1);
  g_assert_nonnull (strstr (r.err, "fewer than the 8 slots"));
  run_clear (&r);

  /* one held-out token: nothing to validate on, for any text family (the
   * Transformer trained without a word of validation) */
  r = run_argen ("train", "transformer", "--data", text, "--out", model,
      "--layers", "1", "--dim", "16", "--heads", "2", "--context", "16",
      "--steps", "1", "--warmup", "0", "--val-fraction", "0.0003", "--threads",
      "1", NULL);
  g_assert_cmpint (r.status, ==, 1);
  g_assert_nonnull (strstr (r.err, "held-out end is 1 token"));
  run_clear (&r);

  r = run_argen ("train", "nar", "--data", text, "--out", model, "--context",
      "8", "--slots", "8", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "--slots"));
  run_clear (&r);
}

/* Writes @n images of 8 × 8 (IDX, unsigned bytes) and, when @labels is not
 * NULL, their labels i % 2. */
static void
write_idx (const char *images, const char *labels, int n)
{
  g_autoptr (GByteArray) b = g_byte_array_new ();
  /* magic 00 00 08 03 (unsigned bytes, 3 dimensions), then the big-endian
   * dimensions n, 8, 8 */
  const guint8 head[] = { 0, 0, 8, 3, 0, 0, 0, (guint8) n, 0, 0, 0, 8, 0, 0, 0,
    8 };

  g_byte_array_append (b, head, sizeof head);
  for (int i = 0; i < n * 64; i++) {
    guint8 v = (guint8) (i * 37 % 256);

    g_byte_array_append (b, &v, 1);
  }
  g_assert_true (g_file_set_contents (images, (char *) b->data, b->len, NULL));
  if (labels != NULL) {
    const guint8 lhead[] = { 0, 0, 8, 1, 0, 0, 0, (guint8) n };

    g_byte_array_set_size (b, 0);
    g_byte_array_append (b, lhead, sizeof lhead);
    for (int i = 0; i < n; i++) {
      guint8 v = (guint8) (i % 2);

      g_byte_array_append (b, &v, 1);
    }
    g_assert_true (g_file_set_contents (labels, (char *) b->data, b->len,
        NULL));
  }
}

/* argen train pixelcnn on 8 × 8 IDX images of two classes, eval, and
 * images: a grid of each class; a grid cairo cannot draw (over 32767
 * pixels a side: it crashed) and images of another size to complete are
 * refused before any drawing, naming the problem. */
static void
test_pixelcnn (void)
{
  g_autofree char *images = tmp_path ("img.idx");
  g_autofree char *labels = tmp_path ("lab.idx");
  g_autofree char *model = tmp_path ("p.gguf");
  g_autofree char *grid = tmp_path ("grid.png");
  g_autofree char *fashion = g_build_filename (g_getenv ("AR_DEFAULTS_DIR"),
      "pixelcnn-fashion.gguf", NULL);
  Run r;

  write_idx (images, labels, 20);
  r = run_argen ("train", "pixelcnn", "--data", images, "--labels", labels,
      "--out", model, "--layers", "2", "--features", "4", "--output-hidden",
      "8", "--batch", "4", "--steps", "2", "--warmup", "1", "--eval-every", "0",
      "--checkpoint-every", "0", "--threads", "1", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.err, "bits/dim"));
  run_clear (&r);

  r = run_argen ("eval", model, "--data", images, "--labels", labels,
      "--threads", "1", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "over 20 images of 8 × 8"));
  run_clear (&r);

  /* a --val-fraction that holds out no image (1 % of 20): refused, where
   * the run went without validation and said nothing */
  r = run_argen ("train", "pixelcnn", "--data", images, "--labels", labels,
      "--out", grid, "--layers", "2", "--features", "4", "--output-hidden",
      "8", "--batch", "4", "--steps", "1", "--val-fraction", "0.01",
      "--threads", "1", NULL);
  g_assert_cmpint (r.status, ==, 1);
  g_assert_nonnull (strstr (r.err, images));
  g_assert_nonnull (strstr (r.err, "--val-fraction 0.01 of 20 images holds "
          "out none"));
  g_assert_false (g_file_test (grid, G_FILE_TEST_EXISTS));
  run_clear (&r);

  /* class names the loader would refuse (repeated, empty): refused before
   * training, which wrote a file that could not be loaded */
  {
    static const char *const bad[] = { "a,a", "a," };
    static const char *const message[] = { "expected distinct names",
      "is empty" };

    for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
      r = run_argen ("train", "pixelcnn", "--data", images, "--labels",
          labels, "--class-names", bad[i], "--out", grid, "--layers", "2",
          "--features", "4", "--output-hidden", "8", "--batch", "4",
          "--steps", "1", "--threads", "1", NULL);
      g_assert_cmpint (r.status, ==, 2);
      g_assert_nonnull (strstr (r.err, "--class-names"));
      g_assert_nonnull (strstr (r.err, message[i]));
      g_assert_false (g_file_test (grid, G_FILE_TEST_EXISTS));
      run_clear (&r);
    }
  }

  /* held-out images without the labels a class-conditional model needs:
   * the message names them */
  r = run_argen ("train", "pixelcnn", "--data", images, "--labels", labels,
      "--test-data", images, "--out", grid, "--steps", "1", "--warmup", "0",
      NULL);
  g_assert_cmpint (r.status, ==, 1);
  g_assert_nonnull (strstr (r.err, images));
  g_assert_nonnull (strstr (r.err, "without labels"));
  g_assert_false (g_file_test (grid, G_FILE_TEST_EXISTS));
  run_clear (&r);

  r = run_argen ("images", model, "--out", grid, "--count", "3", "--threads",
      "1", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "drew 6 images"));
  run_clear (&r);
  g_assert_true (file_starts_with (grid, "\x89PNG\r\n\x1a\n", 8));
  g_unlink (grid);

  /* two rows of 128 images of 8 × 32 + 1 pixels: 32897 wide */
  r = run_argen ("images", model, "--out", grid, "--count", "128", "--scale",
      "32", "--threads", "1", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, grid));
  g_assert_nonnull (strstr (r.err, "32897 × 515 pixels"));
  g_assert_null (strstr (r.out, "drew"));
  g_assert_false (g_file_test (grid, G_FILE_TEST_EXISTS));
  run_clear (&r);

  /* --complete keeps the top rows: 3 of them, and a negative count is
   * refused (it meant the default, half the image) */
  r = run_argen ("images", model, "--out", grid, "--complete", images,
      "--keep-rows", "3", "--count", "2", "--threads", "1", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "completed 2 images below row 3"));
  run_clear (&r);
  g_unlink (grid);
  r = run_argen ("images", model, "--out", grid, "--complete", images,
      "--keep-rows", "-5", NULL);
  g_assert_cmpint (r.status, ==, 2);
  g_assert_false (g_file_test (grid, G_FILE_TEST_EXISTS));
  run_clear (&r);

  /* the embedded model draws 28 × 28 */
  r = run_argen ("images", fashion, "--out", grid, "--complete", images,
      "--threads", "1", NULL);
  g_assert_cmpint (r.status, ==, 1);
  g_assert_nonnull (strstr (r.err, images));
  g_assert_nonnull (strstr (r.err, "of 8 × 8; the model's are 28 × 28"));
  g_assert_false (g_file_test (grid, G_FILE_TEST_EXISTS));
  run_clear (&r);
}

/* The bits/dim argen eval gives the embedded Fashion-MNIST model on a
 * folder holding one sub-folder, @class_dir, of two test sneakers. */
static double
fashion_bits (const char *class_dir, Run *r)
{
  g_autofree char *fashion = g_build_filename (g_getenv ("AR_DEFAULTS_DIR"),
      "pixelcnn-fashion.gguf", NULL);
  g_autofree char *top = g_strdup_printf ("%s/classes-%s", tmp_dir, class_dir);
  g_autofree char *dir = g_build_filename (top, class_dir, NULL);
  const char *p;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  for (int i = 0; i < 2; i++) {
    g_autofree char *name = g_strdup_printf ("sneaker-%02d.png", i);
    g_autofree char *from = g_build_filename (g_getenv ("AR_DEFAULTS_DIR"),
        "..", "..", "pipelines", "data", name, NULL);
    g_autofree char *to = g_build_filename (dir, name, NULL);
    g_autofree char *png = NULL;
    gsize len = 0;

    g_assert_true (g_file_get_contents (from, &png, &len, NULL));
    g_assert_true (g_file_set_contents (to, png, len, NULL));
  }
  *r = run_argen ("eval", fashion, "--data", top, "--threads", "1", NULL);
  if (r->status != 0)
    return NAN;
  p = strstr (r->out, ": ");
  g_assert_nonnull (p);
  return g_ascii_strtod (p + 2, NULL);
}

/* A PNG folder's sub-folders are matched to the model's classes by name
 * (or index): a folder of sneakers alone was scored as class 0,
 * t-shirt-top, the first of its own sub-folders.  So "sneaker" scores as
 * "7" does and not as "t-shirt-top"; a name the model does not have is
 * refused, named. */
static void
test_pixelcnn_class_names (void)
{
  Run r;
  double sneaker = fashion_bits ("sneaker", &r);

  g_assert_cmpint (r.status, ==, 0);
  run_clear (&r);
  g_assert_cmpfloat (sneaker, ==, fashion_bits ("7", &r));
  run_clear (&r);
  /* the same images as t-shirts cost more: a class-conditional model */
  g_assert_cmpfloat (fashion_bits ("t-shirt-top", &r), >, sneaker + 0.01);
  run_clear (&r);

  g_assert_true (isnan (fashion_bits ("boots", &r)));
  g_assert_cmpint (r.status, ==, 1);
  g_assert_nonnull (strstr (r.err, "sub-folder 'boots' is not one of the "
          "model's 10 classes"));
  run_clear (&r);
}

static void
remove_tree (const char *path)
{
  GDir *dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir != NULL) {
    while ((name = g_dir_read_name (dir)) != NULL) {
      g_autofree char *child = g_build_filename (path, name, NULL);
      remove_tree (child);
    }
    g_dir_close (dir);
  }
  g_remove (path);
}

int
main (int argc, char **argv)
{
  GError *error = NULL;
  int ret;

  g_test_init (&argc, &argv, NULL);
  tmp_dir = g_dir_make_tmp ("test-argen-cli-XXXXXX", &error);
  g_assert_no_error (error);
  wav_dir = g_build_filename (tmp_dir, "wavs", NULL);
  g_assert_cmpint (g_mkdir (wav_dir, 0755), ==, 0);
  /* Four files of 300 ms: two sines and two noises; holdout-every 2 keeps
   * two for training and two held out. */
  wav_a = write_wav (wav_dir, "a.wav", 440, RATE * 3 / 10, 1);
  wav_b = write_wav (wav_dir, "b.wav", 660, RATE * 3 / 10, 2);
  g_free (write_wav (wav_dir, "c.wav", 0, RATE * 3 / 10, 3));
  g_free (write_wav (wav_dir, "d.wav", 0, RATE * 3 / 10, 4));

  g_test_add_func ("/argen-cli/help", test_help);
  g_test_add_func ("/argen-cli/non-text-options", test_non_text_options);
  g_test_add_func ("/argen-cli/fifo-model", test_fifo_model);
  g_test_add_func ("/argen-cli/convert-types", test_convert_types);
  g_test_add_func ("/argen-cli/convert-gguf", test_convert_gguf);
  g_test_add_func ("/argen-cli/audio-compare", test_audio_compare);
  g_test_add_func ("/argen-cli/audio-compare-distance",
      test_audio_compare_distance);
  g_test_add_func ("/argen-cli/spectrogram", test_spectrogram);
  g_test_add_func ("/argen-cli/spectrogram-n-fft", test_spectrogram_n_fft);
  g_test_add_func ("/argen-cli/baselines", test_baselines);
  g_test_add_func ("/argen-cli/audio-errors", test_audio_errors);
  g_test_add_func ("/argen-cli/audio-empty", test_audio_empty);
  g_test_add_func ("/argen-cli/wavenet", test_wavenet);
  g_test_add_func ("/argen-cli/wavenet-model-limits",
      test_wavenet_model_limits);
  g_test_add_func ("/argen-cli/wavenet-pre-emphasis",
      test_wavenet_pre_emphasis);
  g_test_add_func ("/argen-cli/rnn", test_rnn);
  g_test_add_func ("/argen-cli/resume", test_resume);
  g_test_add_func ("/argen-cli/nar", test_nar);
  g_test_add_func ("/argen-cli/pixelcnn", test_pixelcnn);
  g_test_add_func ("/argen-cli/pixelcnn-class-names",
      test_pixelcnn_class_names);
  ret = g_test_run ();

  remove_tree (tmp_dir);
  g_free (wav_a);
  g_free (wav_b);
  g_free (wav_dir);
  g_free (tmp_dir);
  return ret;
}
