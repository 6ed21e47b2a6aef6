/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz-llama2c.c — libFuzzer harness for the llama2.c importer
 * (models/transformer/ar-llama2c.c, what `argen convert llama2c` runs).
 *
 * An input holds both files of a conversion and how to convert them:
 *
 *   byte 0      flags: bits 0-1 the storage type (F32, F16, Q8_0, Q4_0),
 *               bit 2 the checkpoint one byte off its alignment
 *   bytes 1-4   u32 (LE) the checkpoint's length n (clamped to what follows)
 *   n bytes     the llama2.c checkpoint
 *   the rest    the llama2.c tokenizer
 *
 * Each file is copied into an allocation of its own size, so that ASan sees
 * any read past either, and given to ar_llama2c_convert_bytes(), which must
 * either succeed, or fail with an AR_ERROR naming one of the two files and
 * leave the writer as it was.  A conversion that succeeds must give what the
 * tool writes: a GGUF file that parses and loads as a text model whose
 * vocabulary is the checkpoint's (the importer promises that whatever it
 * accepts loads; a file that does not would fail only later, and name the
 * output instead of what is wrong with the input); that model then encodes
 * a string (the same ids as llama2.c's literal merges) and generates one
 * token after BOS.  GLib criticals and warnings
 * are fatal, so a g_return_if_fail reached from file data is a crash.
 *
 * A byte mutation rarely keeps a checkpoint's length equal to what its
 * header implies, or a tokenizer's token count equal to the vocabulary, so
 * half of the mutations are made on the parsed pair instead
 * (LLVMFuzzerCustomMutator): a header field set to a boundary value with
 * the weights (and the tokenizer, for the vocabulary) resized to match, a
 * weight or a score made non-finite or out of range, a token's text
 * replaced or its length field made to lie, two tokens swapped, the
 * classifier untied or tied, the flags changed.
 *
 * Built and run by run-fuzz.sh (clang -fsanitize=fuzzer,address,undefined,
 * linked with libargen built with -fsanitize=fuzzer-no-link,…); the seeds
 * are written by gen-llama2c-seeds.c. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/ar-gguf.h"
#include "text/ar-text.h"
#include "text/ar-text-private.h"
#include "transformer/ar-llama2c.h"

#define FUZZ_NAME "fuzz-llama2c"
#include "fuzz-common.h"

#define PREFIX_BYTES 5
#define HEADER_BYTES 28

size_t LLVMFuzzerMutate (uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator (uint8_t *data, size_t size, size_t max_size,
    unsigned int seed);

static const ArTensorType types[] = { AR_TENSOR_F32, AR_TENSOR_F16,
  AR_TENSOR_Q8_0, AR_TENSOR_Q4_0 };

#define CHECK_NO_ERROR(error)                                                  \
  do {                                                                         \
    if ((error) != NULL) {                                                     \
      g_printerr (FUZZ_NAME ": unexpected error: %s (line %d)\n",              \
          (error)->message, __LINE__);                                         \
      abort ();                                                                \
    }                                                                          \
  } while (0)

static volatile gsize sink;

/* What the tool does with a conversion: load it, then use it. */
static void
check_converted (ArGgufWriter *w, guint n_vocab)
{
  GError *error = NULL;
  g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
  g_autoptr (ArGguf) g = ar_gguf_new_from_bytes (bytes, "fuzz.gguf", &error);
  CHECK_NO_ERROR (error);
  g_autoptr (ArTextModel) m = ar_text_model_new_from_gguf (g, &error);
  CHECK_NO_ERROR (error);
  const ArVocab *v = ar_text_model_get_vocab (m);
  CHECK (ar_vocab_get_size (v) == n_vocab);

  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_autoptr (GArray) naive = g_array_new (FALSE, FALSE, sizeof (gint32));
  ar_vocab_encode (v, "ab a\n\xc3\xa9 b", -1, ids);
  /* the heap-ordered merges are llama2.c's literal ones */
  ar_vocab_encode_naive (v, "ab a\n\xc3\xa9 b", -1, naive);
  /* (an empty array's data is NULL, which memcmp must not see) */
  CHECK (ids->len == naive->len &&
      (ids->len == 0 ||
          memcmp (ids->data, naive->data, ids->len * sizeof (gint32)) == 0));
  for (guint i = 0; i < ids->len; i++) {
    gint32 id = g_array_index (ids, gint32, i);
    gsize len;
    CHECK (id >= 0 && (guint) id < n_vocab);
    CHECK (ar_vocab_decode (v, i ? g_array_index (ids, gint32, i - 1) : -1, id,
               &len) != NULL);
    sink += len;
  }

  g_autoptr (ArTextGen) gen = ar_text_gen_new (m);
  g_autoptr (GString) out = g_string_new (NULL);
  ar_text_gen_reset (gen, 1);
  ar_text_gen_next (gen, out);
  ar_text_gen_finish (gen, out);
  CHECK (g_utf8_validate (out->str, out->len, NULL));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static GBytes *empty;
  guint32 n;

  if (size < PREFIX_BYTES)
    return 0;
  if (empty == NULL) {
    g_autoptr (ArGgufWriter) w0 = ar_gguf_writer_new ();
    empty = ar_gguf_writer_to_bytes (w0);
  }
  memcpy (&n, data + 1, 4);
  n = MIN (n, size - PREFIX_BYTES);

  ArTensorType type = types[data[0] & 3];
  gsize odd = (data[0] >> 2) & 1;
  /* (g_malloc (0) is NULL, and NULL + 0 undefined) */
  guint8 *buf = g_malloc (MAX (odd + n, 1));
  memcpy (buf + odd, data + PREFIX_BYTES, n);
  g_autoptr (GBytes) model =
      g_bytes_new_with_free_func (buf + odd, n, g_free, buf);
  g_autoptr (GBytes) tok =
      g_bytes_new (data + PREFIX_BYTES + n, size - PREFIX_BYTES - n);
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  GError *error = NULL;
  gboolean ok = ar_llama2c_convert_bytes (model, "fuzz.bin", tok,
      "fuzz-tok.bin", type, w, &error);

  CHECK (ok == (error == NULL));
  if (!ok) {
    CHECK (error->domain == AR_ERROR);
    CHECK (error->message != NULL && error->message[0] != '\0');
    CHECK (g_utf8_validate (error->message, -1, NULL));
    CHECK (g_str_has_prefix (error->message, "fuzz.bin: ") ||
        g_str_has_prefix (error->message, "fuzz-tok.bin: "));
    g_autoptr (GBytes) after = ar_gguf_writer_to_bytes (w);
    CHECK (g_bytes_equal (after, empty));
    g_error_free (error);
    return 0;
  }
  gint32 vocab;
  memcpy (&vocab, data + PREFIX_BYTES + 5 * 4, 4);
  check_converted (w, ABS (vocab));
  return 0;
}

/* ---- structured mutations ----------------------------------------------- */

typedef struct
{
  float score;
  gint32 len; /* the length field, which may lie */
  GByteArray *text;
} Token;

/* An input taken apart; what does not parse stays as bytes. */
typedef struct
{
  guint8 flags;
  gint32 h[7];
  GByteArray *body; /* the checkpoint after its header */
  guint32 max_len;  /* the tokenizer's max_token_length */
  GArray *tokens;   /* (Token) */
  GByteArray *tail; /* tokenizer bytes after the last whole token */
} Pair;

static void
token_clear (gpointer p)
{
  Token *t = p;
  g_byte_array_unref (t->text);
}

static void
pair_clear (Pair *p)
{
  g_clear_pointer (&p->body, g_byte_array_unref);
  g_clear_pointer (&p->tokens, g_array_unref);
  g_clear_pointer (&p->tail, g_byte_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Pair, pair_clear)

/* FALSE when @data has no whole prefix, header and max_token_length. */
static gboolean
pair_parse (Pair *p, const guint8 *data, gsize size)
{
  guint32 n;

  if (size < PREFIX_BYTES)
    return FALSE;
  memcpy (&n, data + 1, 4);
  if (n > size - PREFIX_BYTES || n < HEADER_BYTES ||
      size - PREFIX_BYTES - n < 4)
    return FALSE;
  p->flags = data[0];
  memcpy (p->h, data + PREFIX_BYTES, HEADER_BYTES);
  p->body = g_byte_array_new ();
  g_byte_array_append (p->body, data + PREFIX_BYTES + HEADER_BYTES,
      n - HEADER_BYTES);
  data += PREFIX_BYTES + n;
  size -= PREFIX_BYTES + n;
  memcpy (&p->max_len, data, 4);
  p->tokens = g_array_new (FALSE, FALSE, sizeof (Token));
  g_array_set_clear_func (p->tokens, token_clear);
  gsize at = 4;
  while (size - at >= 8) {
    Token t;
    memcpy (&t.score, data + at, 4);
    memcpy (&t.len, data + at + 4, 4);
    if (t.len < 0 || (gsize) t.len > size - at - 8)
      break;
    t.text = g_byte_array_new ();
    g_byte_array_append (t.text, data + at + 8, t.len);
    g_array_append_val (p->tokens, t);
    at += 8 + t.len;
  }
  p->tail = g_byte_array_new ();
  g_byte_array_append (p->tail, data + at, size - at);
  return TRUE;
}

/* memcpy of @n bytes, which an empty GByteArray (data NULL) may pass. */
static void
copy (guint8 *dst, const guint8 *src, gsize n)
{
  if (n > 0)
    memcpy (dst, src, n);
}

/* The bytes of @p, or 0 when they would not fit in @max_size. */
static gsize
pair_write (const Pair *p, guint8 *out, gsize max_size)
{
  guint32 n = HEADER_BYTES + p->body->len;
  gsize size = PREFIX_BYTES + n + 4 + p->tail->len;

  for (guint i = 0; i < p->tokens->len; i++)
    size += 8 + g_array_index (p->tokens, Token, i).text->len;
  if (size > max_size)
    return 0;
  out[0] = p->flags;
  memcpy (out + 1, &n, 4);
  memcpy (out + PREFIX_BYTES, p->h, HEADER_BYTES);
  copy (out + PREFIX_BYTES + HEADER_BYTES, p->body->data, p->body->len);
  guint8 *q = out + PREFIX_BYTES + n;
  memcpy (q, &p->max_len, 4);
  q += 4;
  for (guint i = 0; i < p->tokens->len; i++) {
    const Token *t = &g_array_index (p->tokens, Token, i);
    memcpy (q, &t->score, 4);
    memcpy (q + 4, &t->len, 4);
    copy (q + 8, t->text->data, t->text->len);
    q += 8 + t->text->len;
  }
  copy (q, p->tail->data, p->tail->len);
  return size;
}

/* The floats after the header that @h implies, as the importer counts
 * them; 0 when a field is out of the range worth resizing for. */
static guint64
implied_floats (const gint32 *h)
{
  for (int i = 0; i < 7; i++)
    if (h[i] == 0 || ABS ((gint64) h[i]) > 4096 || (h[i] < 0 && i != 5))
      return 0;
  guint64 D = h[0], F = h[1], L = h[2], V = ABS (h[5]);
  guint64 hs = D / h[3], KV = (guint64) h[4] * hs;
  return V * D + 2 * L * D + 2 * L * D * D + 2 * L * KV * D + 3 * L * D * F +
      D + 2 * ((guint64) h[6] * hs / 2) + (h[5] < 0 ? V * D : 0);
}

/* The body resized to @n floats, its floats repeated as needed. */
static void
resize_body (Pair *p, guint64 n)
{
  guint old = p->body->len / 4 * 4;

  if (old == 0) {
    static const float one = 0.25f;
    g_byte_array_set_size (p->body, 0);
    g_byte_array_append (p->body, (const guint8 *) &one, 4);
    old = 4;
  }
  g_byte_array_set_size (p->body, n * 4);
  for (guint64 k = old; k < n * 4; k++)
    p->body->data[k] = p->body->data[k % old];
}

static const char *const pieces[] = { "", " ", "  ", "a", " a", "ab", " ab",
  "<unk>", "\n<s>\n", "\n</s>\n", "<s>", "</s>", "<0x0A>", "<0x41>", "<0xff>",
  "<0xZZ>", "<0x4>", "\xe2\x96\x81", "\xc3\xa9", "\xc3", "\xff\xfe", "\0",
  "a\0b", "\n", "<0x00>" };

/* Lengths of pieces[] (those holding NULs are not strlen). */
static gsize
piece_len (guint i)
{
  if (i == 21)
    return 1;
  if (i == 22)
    return 3;
  return strlen (pieces[i]);
}

static void
resize_tokens (Pair *p, guint n, guint64 *rng)
{
  if (p->tokens->len > n) {
    g_array_set_size (p->tokens, n);
    return;
  }
  while (p->tokens->len < n) {
    Token t = { -(float) p->tokens->len, 0, g_byte_array_new () };
    guint k = next_rand (rng) % G_N_ELEMENTS (pieces);
    g_byte_array_append (t.text, (const guint8 *) pieces[k], piece_len (k));
    t.len = t.text->len;
    g_array_append_val (p->tokens, t);
  }
}

/* A boundary value near @v. */
static gint32
interesting (gint32 v, guint64 r)
{
  static const gint32 fixed[] = { 0, 1, 2, 3, -1, -3, 32, 64, 4096, 65536,
    65537, 1 << 22, (1 << 22) + 1, 1 << 24, G_MAXINT32, G_MININT32,
    0x616b3432 /* "ak42", the magic of llama2.c's version 1 and 2 exports */ };

  /* in unsigned arithmetic: G_MAXINT32 + 1 wraps instead of overflowing */
  switch (r % 6) {
    case 0:
      return (gint32) ((guint32) v + 1);
    case 1:
      return (gint32) ((guint32) v - 1);
    case 2:
      return (gint32) ((guint32) v * 2);
    case 3:
      return v / 2;
    case 4:
      return (gint32) (0u - (guint32) v);
    default:
      return fixed[r / 6 % G_N_ELEMENTS (fixed)];
  }
}

enum
{
  MUT_HEADER,
  MUT_WEIGHT,
  MUT_TOKEN_TEXT,
  MUT_TOKEN_SCORE,
  MUT_TOKEN_LEN,
  MUT_TOKEN_SWAP,
  MUT_TIED,
  MUT_FLAGS,
  MUT_N
};

static void
mutate_pair (Pair *p, guint64 *rng)
{
  static const float bad[] = { NAN, INFINITY, -INFINITY, 1e30f, -1e30f,
    65504.0f, 65520.0f, 1e6f, 1e7f, 1e-40f, -0.0f, 3e38f };
  guint64 r = next_rand (rng);
  guint n_tok = p->tokens->len;
  Token *t = n_tok ? &g_array_index (p->tokens, Token, r / 16 % n_tok) : NULL;

  switch (r % MUT_N) {
    case MUT_HEADER: {
      guint i = r / 16 % 7;
      guint64 n;
      p->h[i] = interesting (p->h[i], next_rand (rng));
      /* mostly keep the file consistent with the new header, so that the
       * change reaches past the size check */
      if (r / 128 % 4 != 0 && (n = implied_floats (p->h)) != 0 &&
          n < (1 << 16)) {
        resize_body (p, n);
        if (i == 5)
          resize_tokens (p, ABS (p->h[5]), rng);
      }
      break;
    }
    case MUT_WEIGHT:
      if (p->body->len >= 4) {
        guint k = next_rand (rng) % (p->body->len / 4);
        memcpy (p->body->data + 4 * k, &bad[r / 16 % G_N_ELEMENTS (bad)], 4);
      }
      break;
    case MUT_TOKEN_TEXT:
      if (t != NULL) {
        guint k = next_rand (rng) % (G_N_ELEMENTS (pieces) + 1);
        g_byte_array_set_size (t->text, 0);
        if (k < G_N_ELEMENTS (pieces)) {
          g_byte_array_append (t->text, (const guint8 *) pieces[k],
              piece_len (k));
        } else {
          /* another token's text: a duplicate piece */
          Token *o = &g_array_index (p->tokens, Token, next_rand (rng) % n_tok);
          if (o != t)
            g_byte_array_append (t->text, o->text->data, o->text->len);
        }
        t->len = t->text->len;
      }
      break;
    case MUT_TOKEN_SCORE:
      if (t != NULL)
        t->score = bad[r / 16 % G_N_ELEMENTS (bad)];
      break;
    case MUT_TOKEN_LEN:
      if (t != NULL)
        t->len = interesting (t->len, next_rand (rng));
      break;
    case MUT_TOKEN_SWAP:
      if (t != NULL) {
        Token *o = &g_array_index (p->tokens, Token, next_rand (rng) % n_tok);
        Token tmp = *t;
        *t = *o;
        *o = tmp;
      }
      break;
    case MUT_TIED: {
      guint64 n;
      p->h[5] = (gint32) (0u - (guint32) p->h[5]); /* G_MININT32 stays */
      if ((n = implied_floats (p->h)) != 0 && n < (1 << 16))
        resize_body (p, n);
      break;
    }
    default:
      p->flags = next_rand (rng) & 7;
      break;
  }
}

size_t
LLVMFuzzerCustomMutator (uint8_t *data, size_t size, size_t max_size,
    unsigned int seed)
{
  guint64 rng = seed;
  g_auto (Pair) p = { 0 };
  gsize n;

  if (next_rand (&rng) % 2 == 0 || !pair_parse (&p, data, size))
    return LLVMFuzzerMutate (data, size, max_size);
  mutate_pair (&p, &rng);
  n = pair_write (&p, data, max_size);
  return n > 0 ? n : LLVMFuzzerMutate (data, size, max_size);
}
