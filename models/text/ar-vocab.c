/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-vocab.c — character and byte vocabularies for the text families.
 *
 * A character vocabulary is the sorted set of Unicode characters of the
 * training text, one token each, stored in the model file as
 * tokenizer.ggml.tokens.  A byte vocabulary is the 256 byte values; its tokens
 * are implicit.  Encoding maps characters (or bytes) to ids; characters the
 * vocabulary lacks are skipped and counted, so a prompt with a stray character
 * still works. */
#include "ar-text.h"

#include <string.h>

#define AR_VOCAB_MAX_CHARS 65536

struct _ArVocab
{
  ArVocabType type;
  guint n;
  gint bos;
  char **tokens;                /* (n) NUL-terminated token bytes */
  gsize *lengths;               /* (n) */
  GHashTable *by_char;          /* gunichar → id + 1 (char vocabularies) */
};

static ArVocab *
vocab_alloc (ArVocabType type, guint n)
{
  ArVocab *v = g_new0 (ArVocab, 1);
  v->type = type;
  v->n = n;
  v->bos = -1;
  v->tokens = g_new0 (char *, n + 1);
  v->lengths = g_new0 (gsize, n);
  if (type == AR_VOCAB_CHAR)
    v->by_char = g_hash_table_new (g_direct_hash, g_direct_equal);
  return v;
}

void
ar_vocab_free (ArVocab *v)
{
  if (v == NULL)
    return;
  g_strfreev (v->tokens);
  g_free (v->lengths);
  if (v->by_char)
    g_hash_table_unref (v->by_char);
  g_free (v);
}

static gint
compare_unichar (gconstpointer a, gconstpointer b)
{
  gunichar x = *(const gunichar *) a, y = *(const gunichar *) b;
  return x < y ? -1 : x > y;
}

static void
vocab_set_char (ArVocab *v, guint id, gunichar c)
{
  char buf[8];
  gint len = g_unichar_to_utf8 (c, buf);
  v->tokens[id] = g_strndup (buf, len);
  v->lengths[id] = len;
  g_hash_table_insert (v->by_char, GUINT_TO_POINTER (c), GUINT_TO_POINTER (id + 1));
  if (c == '\n')
    v->bos = id;
}

ArVocab *
ar_vocab_new_chars (const char *text, gsize len, GError **error)
{
  const char *end;
  if (!g_utf8_validate_len (text, len, &end)) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "text is not valid UTF-8 at byte %" G_GSIZE_FORMAT, (gsize) (end - text));
    return NULL;
  }
  g_autoptr (GHashTable) seen = g_hash_table_new (g_direct_hash, g_direct_equal);
  for (const char *p = text; p < text + len; p = g_utf8_next_char (p))
    g_hash_table_add (seen, GUINT_TO_POINTER (g_utf8_get_char (p)));
  guint n = g_hash_table_size (seen);
  if (n == 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID, "text is empty");
    return NULL;
  }
  if (n > AR_VOCAB_MAX_CHARS) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "text has %u distinct characters, more than the %u a character vocabulary allows",
        n, AR_VOCAB_MAX_CHARS);
    return NULL;
  }
  g_autofree gunichar *chars = g_new (gunichar, n);
  GHashTableIter it;
  gpointer key;
  guint i = 0;
  g_hash_table_iter_init (&it, seen);
  while (g_hash_table_iter_next (&it, &key, NULL))
    chars[i++] = GPOINTER_TO_UINT (key);
  qsort (chars, n, sizeof (gunichar), compare_unichar);
  ArVocab *v = vocab_alloc (AR_VOCAB_CHAR, n);
  for (i = 0; i < n; i++)
    vocab_set_char (v, i, chars[i]);
  return v;
}

ArVocab *
ar_vocab_new_bytes (void)
{
  ArVocab *v = vocab_alloc (AR_VOCAB_BYTE, 256);
  for (guint i = 0; i < 256; i++) {
    v->tokens[i] = g_malloc (2);
    v->tokens[i][0] = (char) i;
    v->tokens[i][1] = 0;
    v->lengths[i] = 1;
  }
  v->bos = '\n';
  return v;
}

ArVocab *
ar_vocab_new_from_gguf (const ArGguf *gguf, GError **error)
{
  const char *model;
  const char *name = ar_gguf_get_name (gguf);
  if (!ar_gguf_get_string (gguf, "tokenizer.ggml.model", &model, error))
    return NULL;

  ArVocab *v;
  if (strcmp (model, "byte") == 0) {
    v = ar_vocab_new_bytes ();
  } else if (strcmp (model, "char") == 0) {
    const char *const *tokens;
    const gsize *lengths;
    guint64 n;
    if (!ar_gguf_get_string_array (gguf, "tokenizer.ggml.tokens", &tokens, &lengths, &n, error))
      return NULL;
    if (n == 0 || n > AR_VOCAB_MAX_CHARS) {
      g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
          "%s: tokenizer.ggml.tokens has %" G_GUINT64_FORMAT
          " tokens, expected 1 to %u", name, n, AR_VOCAB_MAX_CHARS);
      return NULL;
    }
    v = vocab_alloc (AR_VOCAB_CHAR, n);
    for (guint i = 0; i < n; i++) {
      const char *t = tokens[i];
      gunichar c = g_utf8_get_char_validated (t, lengths[i]);
      if (lengths[i] == 0 || c == (gunichar) - 1 || c == (gunichar) - 2
          || (gsize) (g_utf8_next_char (t) - t) != lengths[i]) {
        g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
            "%s: character token %u is not exactly one valid UTF-8 character", name, i);
        ar_vocab_free (v);
        return NULL;
      }
      if (g_hash_table_contains (v->by_char, GUINT_TO_POINTER (c))) {
        g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
            "%s: character token %u (U+%04X) appears twice in the vocabulary", name, i, c);
        ar_vocab_free (v);
        return NULL;
      }
      vocab_set_char (v, i, c);
    }
    v->bos = -1;
  } else {
    g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
        "%s: tokenizer.ggml.model is \"%s\"; supported: \"char\", \"byte\"", name, model);
    return NULL;
  }

  if (ar_gguf_has_key (gguf, "tokenizer.ggml.bos_token_id")) {
    guint32 bos;
    if (!ar_gguf_get_u32 (gguf, "tokenizer.ggml.bos_token_id", &bos, error)) {
      ar_vocab_free (v);
      return NULL;
    }
    if (bos >= v->n) {
      g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
          "%s: tokenizer.ggml.bos_token_id is %u, the vocabulary has %u tokens",
          name, bos, v->n);
      ar_vocab_free (v);
      return NULL;
    }
    v->bos = bos;
  }
  return v;
}

ArVocabType
ar_vocab_get_type (const ArVocab *v)
{
  return v->type;
}

guint
ar_vocab_get_size (const ArVocab *v)
{
  return v->n;
}

gint
ar_vocab_get_bos (const ArVocab *v)
{
  return v->bos;
}

const char *
ar_vocab_token_bytes (const ArVocab *v, guint id, gsize *len)
{
  g_return_val_if_fail (id < v->n, NULL);
  if (len)
    *len = v->lengths[id];
  return v->tokens[id];
}

guint
ar_vocab_encode (const ArVocab *v, const char *text, gssize len, GArray *ids)
{
  gsize n = len < 0 ? strlen (text) : (gsize) len;
  guint unknown = 0;
  if (v->type == AR_VOCAB_BYTE) {
    for (gsize i = 0; i < n; i++) {
      gint32 id = (guchar) text[i];
      g_array_append_val (ids, id);
    }
    return 0;
  }
  const char *p = text, *end = text + n;
  while (p < end) {
    gunichar c = g_utf8_get_char_validated (p, end - p);
    if (c == (gunichar) - 1 || c == (gunichar) - 2) {
      unknown++;
      p++;
      continue;
    }
    gpointer hit = g_hash_table_lookup (v->by_char, GUINT_TO_POINTER (c));
    if (hit) {
      gint32 id = GPOINTER_TO_UINT (hit) - 1;
      g_array_append_val (ids, id);
    } else {
      unknown++;
    }
    p = g_utf8_next_char (p);
  }
  return unknown;
}

void
ar_vocab_write_gguf (const ArVocab *v, ArGgufWriter *w)
{
  if (v->type == AR_VOCAB_BYTE) {
    ar_gguf_writer_set_string (w, "tokenizer.ggml.model", "byte");
  } else {
    ar_gguf_writer_set_string (w, "tokenizer.ggml.model", "char");
    ar_gguf_writer_set_string_array (w, "tokenizer.ggml.tokens",
        (const char *const *) v->tokens, v->lengths, v->n);
  }
  if (v->bos >= 0)
    ar_gguf_writer_set_u32 (w, "tokenizer.ggml.bos_token_id", v->bos);
}
