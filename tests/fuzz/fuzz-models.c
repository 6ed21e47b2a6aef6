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
 * — never both, never neither.  An SPM vocabulary encodes a text of its own
 * tokens with the heap-ordered merges and with llama2.c's literal rescan
 * (ar_vocab_encode_naive), which must agree.  A model that loads is then
 * run for one step (one text token after BOS, one WaveNet sample or a
 * vocoder's first output, one small PixelCNN image): the loader promised
 * that every size the step uses was checked.  GLib criticals and warnings are fatal, so a
 * g_return_if_fail reached from file data counts as a crash; ASan's leak
 * check covers every error path.
 *
 * Byte mutations of a model file mostly land in its weights, and a changed
 * size key fails at the first tensor shape check; so half of the mutations
 * are made on the parsed file instead (LLVMFuzzerCustomMutator): a numeric
 * key set to a boundary value, a key or a tensor dropped, a tensor
 * reshaped, retyped or given a non-finite value, the architecture or the
 * tokenizer swapped — files that are well-formed GGUF but wrong models.
 *
 * Built and run by run-fuzz.sh (clang -fsanitize=fuzzer,address,undefined,
 * linked with libargen built with -fsanitize=fuzzer-no-link,…). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/ar-gguf.h"
#include "nar/ar-nar.h"
#include "pixelcnn/ar-pixelcnn.h"
#include "rnn/ar-rnn.h"
#include "text/ar-text.h"
#include "text/ar-text-private.h"
#include "transformer/ar-transformer.h"
#include "wavenet/ar-wavenet.h"

/* A loaded model runs one step only below these sizes, so that an input
 * stays within a few milliseconds. */
#define MAX_STEP_PIXELS 1024  /* PixelCNN H · W */
#define MAX_STEP_LATENCY 4096 /* vocoder samples before its first output */
#define MAX_STEP_RECEPTIVE (1 << 16) /* WaveNet history samples */

#define FUZZ_NAME "fuzz-models"
#include "fuzz-common.h"

size_t LLVMFuzzerMutate (uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator (uint8_t *data, size_t size, size_t max_size,
    unsigned int seed);

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

/* An SPM vocabulary's heap-ordered merges against the literal rescan, on a
 * text made of its own first tokens (so that they merge) twice over. */
static void
check_spm_merges (const ArVocab *v)
{
  g_autoptr (GString) text = g_string_new ("ab \xc3\xa9\n");
  g_autoptr (GArray) fast = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_autoptr (GArray) naive = g_array_new (FALSE, FALSE, sizeof (gint32));

  for (int round = 0; round < 2; round++)
    for (guint i = 0; i < MIN (ar_vocab_get_size (v), 48); i++) {
      gsize len;
      const char *bytes = ar_vocab_token_bytes (v, i, &len);

      g_string_append_len (text, bytes, MIN (len, 16));
    }
  CHECK (ar_vocab_encode (v, text->str, text->len, fast) ==
      ar_vocab_encode_naive (v, text->str, text->len, naive));
  CHECK (fast->len == naive->len);
  /* (an empty array's data is NULL, which memcmp must not see) */
  CHECK (fast->len == 0 ||
      memcmp (fast->data, naive->data, fast->len * sizeof (gint32)) == 0);
}

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
    if (ar_vocab_get_type (v) == AR_VOCAB_SPM)
      check_spm_merges (v);
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

/* ---- structured mutations ----------------------------------------------- */

/* Keys the writer takes (it manages general.alignment itself). */
static gboolean
writable_key (const char *key)
{
  return key[0] != '\0' && g_utf8_validate (key, -1, NULL) &&
      strcmp (key, "general.alignment") != 0;
}

/* Copies key @i of @g into @w with the writer's nearest type (integers as
 * u32 / i32 / u64, floats as f32); values it has no setter for are
 * dropped, which is one more mutation. */
static void
copy_key (ArGgufWriter *w, const ArGguf *g, guint i)
{
  const char *key = ar_gguf_get_key (g, i);
  ArGgufType type = ar_gguf_get_kv_type (g, i);
  guint64 u64, n;
  gint32 i32;
  float f;
  gboolean b;
  const char *str;
  const char *const *strs;
  const gsize *lens;
  const float *fv;
  const gint32 *iv;
  const guint64 *uv;

  if (!writable_key (key))
    return;
  switch (type) {
    case AR_GGUF_TYPE_STRING:
      if (ar_gguf_get_string (g, key, &str, NULL))
        ar_gguf_writer_set_string (w, key, str);
      break;
    case AR_GGUF_TYPE_BOOL:
      if (ar_gguf_get_bool (g, key, &b, NULL))
        ar_gguf_writer_set_bool (w, key, b);
      break;
    case AR_GGUF_TYPE_FLOAT32:
    case AR_GGUF_TYPE_FLOAT64:
      if (ar_gguf_get_f32 (g, key, &f, NULL))
        ar_gguf_writer_set_f32 (w, key, f);
      break;
    case AR_GGUF_TYPE_ARRAY:
      if (ar_gguf_get_string_array (g, key, &strs, &lens, &n, NULL))
        ar_gguf_writer_set_string_array (w, key, strs, lens, n);
      else if (ar_gguf_get_f32_array (g, key, &fv, &n, NULL))
        ar_gguf_writer_set_f32_array (w, key, fv, n);
      else if (ar_gguf_get_i32_array (g, key, &iv, &n, NULL))
        ar_gguf_writer_set_i32_array (w, key, iv, n);
      else if (ar_gguf_get_u64_array (g, key, &uv, &n, NULL))
        ar_gguf_writer_set_u64_array (w, key, uv, n);
      break;
    default:
      if (ar_gguf_get_u64 (g, key, &u64, NULL)) {
        if (u64 <= G_MAXUINT32)
          ar_gguf_writer_set_u32 (w, key, (guint32) u64);
        else
          ar_gguf_writer_set_u64 (w, key, u64);
      } else if (ar_gguf_get_i32 (g, key, &i32, NULL)) {
        ar_gguf_writer_set_i32 (w, key, i32);
      }
      break;
  }
}

/* A boundary value near @v: sizes one off, doubled, halved, 0, 1, or huge. */
static guint64
interesting (guint64 v, guint64 r)
{
  switch (r % 10) {
    case 0:
      return 0;
    case 1:
      return 1;
    case 2:
      return v + 1;
    case 3:
      return v > 0 ? v - 1 : 2;
    case 4:
      return v * 2;
    case 5:
      return v / 2;
    case 6:
      return 3;
    case 7:
      return G_MAXUINT32;
    case 8:
      return (guint64) G_MAXINT32 + 1;
    default:
      return 256 + r % 3 - 1;
  }
}

enum
{
  MUT_KEY_VALUE,
  MUT_KEY_DROP,
  MUT_TENSOR_DROP,
  MUT_TENSOR_SHAPE,
  MUT_TENSOR_TYPE,
  MUT_TENSOR_VALUE,
  MUT_ARCH,
  MUT_N
};

#define MAX_MUTATED_ELEMENTS (1 << 14)

/* Adds tensor @t changed by @op into @w; FALSE when that change is not
 * possible (the caller then adds it unchanged). */
static gboolean
add_mutated_tensor (ArGgufWriter *w, const ArGgufTensor *t, int op,
    guint64 *rng)
{
  guint64 ne[AR_GGUF_MAX_DIMS];
  guint n_dims = t->n_dims;
  guint64 n = 1;
  ArTensorType type = AR_TENSOR_F32;
  g_autofree float *src = NULL;
  g_autofree float *dst = NULL;

  if (t->n_elements > MAX_MUTATED_ELEMENTS)
    return FALSE;
  memcpy (ne, t->ne, sizeof ne);
  src = g_new (float, MAX (t->n_elements, 1));
  ar_gguf_tensor_to_f32 (t, src);
  if (op == MUT_TENSOR_SHAPE) {
    guint64 r = next_rand (rng);

    if (r % 8 == 0 && n_dims < AR_GGUF_MAX_DIMS)
      ne[n_dims++] = 1 + r / 8 % 3; /* one more dimension */
    else if (r % 8 == 1 && n_dims > 1)
      n_dims--; /* the last folded away */
    else
      ne[r / 8 % n_dims] = MAX (interesting (ne[r / 8 % n_dims], r >> 16), 1);
  } else if (op == MUT_TENSOR_TYPE) {
    static const ArTensorType types[] = { AR_TENSOR_F32, AR_TENSOR_F16,
      AR_TENSOR_Q8_0, AR_TENSOR_Q4_0 };
    type = types[next_rand (rng) % G_N_ELEMENTS (types)];
    /* the quantisers need ne[0] % 32 == 0 and finite values */
    if (type == AR_TENSOR_Q8_0 || type == AR_TENSOR_Q4_0) {
      gboolean finite = ne[0] % 32 == 0;

      for (guint64 k = 0; k < t->n_elements && finite; k++)
        finite = isfinite (src[k]);
      if (!finite)
        type = AR_TENSOR_F16;
    }
  }
  for (guint k = 0; k < n_dims; k++) {
    if (ne[k] > MAX_MUTATED_ELEMENTS)
      return FALSE;
    n *= ne[k];
    if (n > MAX_MUTATED_ELEMENTS)
      return FALSE;
  }
  dst = g_new (float, n);
  for (guint64 k = 0; k < n; k++)
    dst[k] = t->n_elements > 0 ? src[k % t->n_elements] : 0.0f;
  if (op == MUT_TENSOR_VALUE) {
    static const float bad[] = { NAN, INFINITY, -INFINITY, 1e30f, -1e30f };
    guint64 r = next_rand (rng);
    dst[r % n] = bad[r / n % G_N_ELEMENTS (bad)];
  }
  ar_gguf_writer_add_tensor_f32 (w, t->name, type, n_dims, ne, dst);
  return TRUE;
}

static GBytes *
mutate_model (const ArGguf *g, guint64 *rng)
{
  static const char *const archs[] = { "rnn", "llama", "gpt", "nar", "wavenet",
    "pixelcnn" };
  static const char *const tokenizers[] = { "char", "byte", "llama" };
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  guint n_kv = ar_gguf_get_n_kv (g), n_t = ar_gguf_get_n_tensors (g);
  int op = next_rand (rng) % MUT_N;
  guint key = n_kv ? next_rand (rng) % n_kv : 0;
  guint tensor = n_t ? next_rand (rng) % n_t : 0;

  if (op == MUT_KEY_DROP) {
    for (guint i = 0; i < n_kv; i++)
      if (i != key)
        copy_key (w, g, i);
  } else {
    ar_gguf_writer_copy_kv (w, g);
  }
  if (op == MUT_KEY_VALUE && n_kv > 0 &&
      writable_key (ar_gguf_get_key (g, key))) {
    const char *k = ar_gguf_get_key (g, key);
    guint64 v = 0;
    float f;
    gboolean b = FALSE;

    if (ar_gguf_get_f32 (g, k, &f, NULL)) {
      static const float fs[] = { 0.0f, -1.0f, 0.5f, 1.0f, 1e30f, 1e-30f };
      ar_gguf_writer_set_f32 (w, k, fs[next_rand (rng) % G_N_ELEMENTS (fs)]);
    } else if (ar_gguf_get_u64 (g, k, &v, NULL)) {
      guint64 nv = interesting (v, next_rand (rng));
      if (nv <= G_MAXUINT32)
        ar_gguf_writer_set_u32 (w, k, (guint32) nv);
      else
        ar_gguf_writer_set_u64 (w, k, nv);
    } else if (ar_gguf_get_bool (g, k, &b, NULL)) {
      ar_gguf_writer_set_bool (w, k, !b);
    } else {
      ar_gguf_writer_set_i32 (w, k, -1);
    }
  } else if (op == MUT_ARCH) {
    guint64 r = next_rand (rng);
    if (r % 2)
      ar_gguf_writer_set_string (w, "general.architecture",
          archs[r / 2 % G_N_ELEMENTS (archs)]);
    else
      ar_gguf_writer_set_string (w, "tokenizer.ggml.model",
          tokenizers[r / 2 % G_N_ELEMENTS (tokenizers)]);
  }
  for (guint i = 0; i < n_t; i++) {
    const ArGgufTensor *t = ar_gguf_get_tensor (g, i);

    if (i == tensor && op == MUT_TENSOR_DROP)
      continue;
    if (i == tensor &&
        (op == MUT_TENSOR_SHAPE || op == MUT_TENSOR_TYPE ||
            op == MUT_TENSOR_VALUE) &&
        add_mutated_tensor (w, t, op, rng))
      continue;
    ar_gguf_writer_add_tensor_raw (w, t->name, t->type, t->n_dims, t->ne,
        t->data, t->nbytes);
  }
  return ar_gguf_writer_to_bytes (w);
}

size_t
LLVMFuzzerCustomMutator (uint8_t *data, size_t size, size_t max_size,
    unsigned int seed)
{
  guint64 rng = seed;
  g_autoptr (GBytes) in = NULL;
  g_autoptr (ArGguf) g = NULL;
  g_autoptr (GBytes) out = NULL;
  gsize n;

  if (next_rand (&rng) % 2 == 0)
    return LLVMFuzzerMutate (data, size, max_size);
  in = g_bytes_new (data, size);
  g = ar_gguf_new_from_bytes (in, "mutate.gguf", NULL);
  if (g == NULL)
    return LLVMFuzzerMutate (data, size, max_size);
  out = mutate_model (g, &rng);
  n = g_bytes_get_size (out);
  if (n > max_size)
    return LLVMFuzzerMutate (data, size, max_size);
  memcpy (data, g_bytes_get_data (out, NULL), n);
  return n;
}
