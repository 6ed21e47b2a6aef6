/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz-models.c — libFuzzer harness for the model loaders.
 *
 * Each input is parsed with ar_gguf_new_from_bytes(); when the reader
 * accepts it (the reader itself is fuzz-gguf.c's target), every loader that
 * interprets a parsed file runs on it, whatever its general.architecture
 * says: the vocabulary (ar_vocab_new_from_gguf), each text family's load
 * ("rnn", "llama", "gpt") and the non-autoregressive one ("nar"), the text
 * model that ties a family to its vocabulary, WaveNet and PixelCNN.  Each
 * must return an object, or NULL with an AR_ERROR GError that names the file
 * — never both, never neither.  A model that loads is then run for one step
 * (one text token after BOS, one WaveNet sample or a vocoder's first output,
 * one small PixelCNN image): the loader promised that every size the step
 * uses was checked.  GLib criticals and warnings are fatal, so a
 * g_return_if_fail reached from file data counts as a crash; ASan's leak
 * check covers every error path.
 *
 * Built and run by run-fuzz.sh (clang -fsanitize=fuzzer,address,undefined,
 * linked with libargen built with -fsanitize=fuzzer-no-link,…). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/ar-gguf.h"
#include "nar/ar-nar.h"
#include "pixelcnn/ar-pixelcnn.h"
#include "rnn/ar-rnn.h"
#include "text/ar-text.h"
#include "transformer/ar-transformer.h"
#include "wavenet/ar-wavenet.h"

/* A loaded model runs one step only below these sizes, so that an input
 * stays within a few milliseconds. */
#define MAX_STEP_PIXELS 1024        /* PixelCNN H · W */
#define MAX_STEP_LATENCY 4096       /* vocoder samples before its first output */
#define MAX_STEP_RECEPTIVE (1 << 16) /* WaveNet history samples */

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  return 0;
}

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      g_printerr ("fuzz-models: check failed: %s (line %d)\n", #cond,          \
          __LINE__);                                                           \
      abort ();                                                                \
    }                                                                          \
  } while (0)

/* The loader contract: an object, or NULL and an AR_ERROR naming the file. */
static void
check_result (gconstpointer obj, GError *error)
{
  CHECK ((obj == NULL) == (error != NULL));
  if (error != NULL) {
    CHECK (error->domain == AR_ERROR);
    CHECK (error->message != NULL && error->message[0] != '\0');
    CHECK (g_utf8_validate (error->message, -1, NULL));
    CHECK (strstr (error->message, "fuzz.gguf") != NULL);
  }
}

static volatile float sink;

static void
try_vocab (const ArGguf *g)
{
  GError *error = NULL;
  ArVocab *v = ar_vocab_new_from_gguf (g, &error);

  check_result (v, error);
  if (v != NULL) {
    g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
    gsize len;

    /* Encoding walks the tokens (and an SPM vocabulary's merges). */
    ar_vocab_encode (v, "ab \xc3\xa9\n", -1, ids);
    for (guint i = 0; i < ids->len; i++)
      CHECK ((guint) g_array_index (ids, gint32, i) < ar_vocab_get_size (v));
    if (ar_vocab_get_size (v) > 0)
      CHECK (ar_vocab_decode (v, ar_vocab_get_bos (v), 0, &len) != NULL);
  }
  ar_vocab_free (v);
  g_clear_error (&error);
}

/* A family's load without the vocabulary check that ar_text_model adds,
 * so that each loader meets every input. */
static void
try_family (const ArTextFamily *fam, const ArGguf *g)
{
  GError *error = NULL;
  gpointer impl = fam->load (g, &error);

  check_result (impl, error);
  if (impl != NULL)
    fam->free (impl);
  g_clear_error (&error);
}

static void
try_text_model (ArGguf *g)
{
  GError *error = NULL;
  ArTextModel *m = ar_text_model_new_from_gguf (g, &error);

  check_result (m, error);
  if (m != NULL) {
    g_autoptr (ArTextGen) gen = ar_text_gen_new (m);
    g_autoptr (GString) out = g_string_new (NULL);

    /* reset feeds BOS (when there is one), next samples and feeds a token */
    ar_text_gen_reset (gen, 1);
    ar_text_gen_next (gen, out);
    ar_text_gen_finish (gen, out);
    CHECK (g_utf8_validate (out->str, out->len, NULL));
  }
  g_clear_pointer (&m, ar_text_model_unref);
  g_clear_error (&error);
}

static void
try_nar (ArGguf *g)
{
  GError *error = NULL;
  ArNar *nar = ar_nar_new_from_gguf (g, &error);

  check_result (nar, error);
  g_clear_pointer (&nar, ar_nar_free);
  g_clear_error (&error);
}

static void
try_wavenet (ArGguf *g)
{
  GError *error = NULL;
  ArWaveNet *wn = ar_wavenet_new_from_gguf (g, &error);

  check_result (wn, error);
  if (wn != NULL && ar_wavenet_receptive_field (wn) <= MAX_STEP_RECEPTIVE) {
    const ArWaveNetConfig *c = ar_wavenet_get_config (wn);

    if (c->cond_channels == 0) {
      g_autoptr (ArWaveNetGen) gen = ar_wavenet_gen_new (wn);
      guint8 x;
      float y;

      ar_wavenet_gen_reset (gen, 1);
      ar_wavenet_gen_generate (gen, &x, 1);
      CHECK ((int) x < c->quantization);
      ar_wavenet_gen_decode (gen, &x, &y, 1);
      sink = y;
    } else {
      g_autoptr (GError) verror = NULL;
      g_autoptr (ArWaveNetVocoder) v = ar_wavenet_vocoder_new (wn, &verror);

      check_result (v, verror);
      if (v != NULL && ar_wavenet_vocoder_latency (v) < MAX_STEP_LATENCY) {
        gsize n = ar_wavenet_vocoder_latency (v) + 1;
        g_autofree float *in = g_new0 (float, n);
        float y;

        ar_wavenet_vocoder_reset (v, 1);
        ar_wavenet_vocoder_push (v, in, n);
        CHECK (ar_wavenet_vocoder_available (v) >= 1);
        CHECK (ar_wavenet_vocoder_pull (v, &y, 1) == 1);
        sink = y;
      }
    }
  }
  g_clear_pointer (&wn, ar_wavenet_unref);
  g_clear_error (&error);
}

static void
try_pixelcnn (const ArGguf *g)
{
  GError *error = NULL;
  ArPixelCnn *pc = ar_pixelcnn_new_from_gguf (g, &error);

  check_result (pc, error);
  if (pc != NULL) {
    const ArPixelCnnConfig *c = ar_pixelcnn_get_config (pc);

    if (c->width * c->height <= MAX_STEP_PIXELS) {
      g_autoptr (ArPixelCnnGen) gen = ar_pixelcnn_gen_new (pc);
      g_autofree guint8 *img = g_new (guint8, c->width * c->height);
      int cls;

      ar_pixelcnn_gen_reset (gen, 1);
      ar_pixelcnn_gen_sample (gen, img, 1, &cls);
      CHECK (cls >= -1 && cls < c->classes);
    }
  }
  g_clear_pointer (&pc, ar_pixelcnn_unref);
  g_clear_error (&error);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* Static bytes: the input buffer itself, so ASan sees any read past it
   * (loaders keep pointers into the mapping for in-place weights). */
  g_autoptr (GBytes) bytes = g_bytes_new_static (data, size);
  g_autoptr (ArGguf) g = ar_gguf_new_from_bytes (bytes, "fuzz.gguf", NULL);

  if (g == NULL)
    return 0;
  try_vocab (g);
  try_family (&ar_rnn_text_family, g);
  try_family (&ar_transformer_llama_family, g);
  try_family (&ar_transformer_gpt_family, g);
  try_nar (g);
  try_text_model (g);
  try_wavenet (g);
  try_pixelcnn (g);
  return 0;
}
