/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-vocab.c — character, byte and SentencePiece-style vocabularies for the
 * text families.
 *
 * A character vocabulary is the sorted set of Unicode characters of the
 * training text, one token each, stored in the model file as
 * tokenizer.ggml.tokens.  A byte vocabulary is the 256 byte values; its tokens
 * are implicit.  Encoding maps characters (or bytes) to ids; characters the
 * vocabulary lacks are skipped and counted, so a prompt with a stray character
 * still works.
 *
 * An SPM vocabulary ("llama", see ar-text.h) keeps each piece as stored and
 * its output bytes (▁ as a space, <0xNN> as the byte); a hash table from
 * output text to id, over the normal and user-defined tokens, serves both
 * the character lookup and the pair merges of the encoder.
 *
 * The SPM encoder is llama2.c's (ar-text.h): merge the best-scoring
 * adjacent pair, the leftmost of equals, until no pair is a token.  Done
 * literally — rescanning every pair after each merge — that is quadratic in
 * the text (a 40 KB text took half a minute); spm_merge () finds the same
 * merges in the same order with a heap of the candidate pairs, and
 * ar_vocab_encode_naive () keeps the literal version for the tests. */
#include "ar-text.h"
#include "ar-text-private.h"

#include <math.h>
#include <string.h>

#define AR_VOCAB_MAX_CHARS 65536

#define AR_VOCAB_MAX_PIECES (1 << 22)

/* llama.cpp's token types */
enum
{
  SPM_NORMAL = 1,
  SPM_UNKNOWN = 2,
  SPM_CONTROL = 3,
  SPM_USER_DEFINED = 4,
  SPM_UNUSED = 5,
  SPM_BYTE = 6,
};

/* "▁", SentencePiece's stand-in for a space */
#define SPM_SPACE "\xe2\x96\x81"

struct _ArVocab
{
  ArVocabType type;
  guint n;
  gint bos;
  gint eos;
  char **tokens;                /* (n) NUL-terminated token bytes, as output */
  gsize *lengths;               /* (n) */
  GHashTable *by_char;          /* gunichar → id + 1 (char vocabularies) */
  /* SPM only */
  char **pieces;                /* (n) as stored in the file */
  gsize *piece_lengths;         /* (n) */
  float *scores;                /* (n) */
  gint32 *types;                /* (n) SPM_* */
  GHashTable *by_text;          /* output text → id + 1, normal/user-defined */
  gint byte_ids[256];           /* the <0xNN> token of each byte, or -1 */
};

static ArVocab *
vocab_alloc (ArVocabType type, guint n)
{
  ArVocab *v = g_new0 (ArVocab, 1);
  v->type = type;
  v->n = n;
  v->bos = -1;
  v->eos = -1;
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
  g_strfreev (v->pieces);
  g_free (v->piece_lengths);
  g_free (v->scores);
  g_free (v->types);
  if (v->by_text)
    g_hash_table_unref (v->by_text);
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

/* The byte of a "<0xNN>" piece, or -1. */
static gint
spm_byte_piece (const char *p, gsize len)
{
  if (len != 6 || strncmp (p, "<0x", 3) != 0 || p[5] != '>'
      || !g_ascii_isxdigit (p[3]) || !g_ascii_isxdigit (p[4]))
    return -1;
  return g_ascii_xdigit_value (p[3]) * 16 + g_ascii_xdigit_value (p[4]);
}

/* The output text of a normal piece: every ▁ becomes a space. */
static char *
spm_piece_text (const char *p, gsize len, gsize *out_len)
{
  GString *s = g_string_sized_new (len);
  for (gsize i = 0; i < len;) {
    if (i + 3 <= len && memcmp (p + i, SPM_SPACE, 3) == 0) {
      g_string_append_c (s, ' ');
      i += 3;
    } else {
      g_string_append_c (s, p[i++]);
    }
  }
  *out_len = s->len;
  return g_string_free (s, FALSE);
}

static ArVocab *
spm_new_from_gguf (const ArGguf *gguf, GError **error)
{
  const char *name = ar_gguf_get_name (gguf);
  const char *const *pieces;
  const gsize *lengths;
  const float *scores;
  const gint32 *types = NULL;
  guint64 n, n_scores, n_types = 0;

  if (!ar_gguf_get_string_array (gguf, "tokenizer.ggml.tokens", &pieces, &lengths, &n, error)
      || !ar_gguf_get_f32_array (gguf, "tokenizer.ggml.scores", &scores, &n_scores, error))
    return NULL;
  if (ar_gguf_has_key (gguf, "tokenizer.ggml.token_type")
      && !ar_gguf_get_i32_array (gguf, "tokenizer.ggml.token_type", &types, &n_types, error))
    return NULL;
  if (n == 0 || n > AR_VOCAB_MAX_PIECES) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: tokenizer.ggml.tokens has %" G_GUINT64_FORMAT " tokens, expected 1 to %u",
        name, n, AR_VOCAB_MAX_PIECES);
    return NULL;
  }
  if (n_scores != n || (types && n_types != n)) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: %" G_GUINT64_FORMAT " tokens but %" G_GUINT64_FORMAT
        " tokenizer.ggml.scores and %s%" G_GUINT64_FORMAT " tokenizer.ggml.token_type",
        name, n, n_scores, types ? "" : "(absent) ", n_types);
    return NULL;
  }

  ArVocab *v = vocab_alloc (AR_VOCAB_SPM, n);
  v->pieces = g_new0 (char *, n + 1);
  v->piece_lengths = g_new (gsize, n);
  v->scores = g_new (float, n);
  v->types = g_new (gint32, n);
  v->by_text = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint b = 0; b < 256; b++)
    v->byte_ids[b] = -1;
  v->bos = n > 1 ? 1 : -1;
  v->eos = n > 2 ? 2 : -1;

  for (guint i = 0; i < n; i++) {
    gint byte = spm_byte_piece (pieces[i], lengths[i]);
    gint32 type;

    if (types) {
      type = types[i];
    } else if (byte >= 0) {
      type = SPM_BYTE;
    } else if (i < 3) {
      type = i == 0 ? SPM_UNKNOWN : SPM_CONTROL;
    } else {
      type = SPM_NORMAL;
    }
    if (type < SPM_NORMAL || type > SPM_BYTE || (type == SPM_BYTE && byte < 0)) {
      g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
          "%s: token %u has type %d%s; expected 1 to 6, and 6 (byte) only for <0xNN> pieces",
          name, i, type, type == SPM_BYTE ? " but is not <0xNN>" : "");
      ar_vocab_free (v);
      return NULL;
    }
    if (!isfinite (scores[i])) {
      g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
          "%s: tokenizer.ggml.scores[%u] is not finite", name, i);
      ar_vocab_free (v);
      return NULL;
    }
    v->pieces[i] = g_memdup2 (pieces[i], lengths[i] + 1);
    v->piece_lengths[i] = lengths[i];
    v->scores[i] = scores[i];
    v->types[i] = type;
    if (type == SPM_BYTE) {
      v->tokens[i] = g_malloc0 (2);
      v->tokens[i][0] = (char) byte;
      v->lengths[i] = 1;
      if (v->byte_ids[byte] < 0)
        v->byte_ids[byte] = i;
    } else if (type == SPM_NORMAL || type == SPM_USER_DEFINED) {
      v->tokens[i] = spm_piece_text (pieces[i], lengths[i], &v->lengths[i]);
      /* text with a NUL cannot be matched (prompts are C strings), and the
       * first of two equal pieces wins */
      if (v->lengths[i] > 0 && strlen (v->tokens[i]) == v->lengths[i]
          && !g_hash_table_contains (v->by_text, v->tokens[i]))
        g_hash_table_insert (v->by_text, v->tokens[i], GUINT_TO_POINTER (i + 1));
    } else {
      v->tokens[i] = g_strdup ("");
      v->lengths[i] = 0;
    }
  }
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
  } else if (strcmp (model, "llama") == 0) {
    v = spm_new_from_gguf (gguf, error);
    if (v == NULL)
      return NULL;
  } else {
    g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
        "%s: tokenizer.ggml.model is \"%s\"; supported: \"char\", \"byte\", \"llama\"",
        name, model);
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
  if (ar_gguf_has_key (gguf, "tokenizer.ggml.eos_token_id")) {
    guint32 eos;
    if (!ar_gguf_get_u32 (gguf, "tokenizer.ggml.eos_token_id", &eos, error)) {
      ar_vocab_free (v);
      return NULL;
    }
    if (eos >= v->n) {
      g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
          "%s: tokenizer.ggml.eos_token_id is %u, the vocabulary has %u tokens",
          name, eos, v->n);
      ar_vocab_free (v);
      return NULL;
    }
    v->eos = eos;
  }
  return v;
}

ArVocabType
ar_vocab_get_type (const ArVocab *v)
{
  g_return_val_if_fail (v != NULL, AR_VOCAB_CHAR);
  return v->type;
}

guint
ar_vocab_get_size (const ArVocab *v)
{
  g_return_val_if_fail (v != NULL, 0);
  return v->n;
}

gint
ar_vocab_get_bos (const ArVocab *v)
{
  g_return_val_if_fail (v != NULL, -1);
  return v->bos;
}

gint
ar_vocab_get_eos (const ArVocab *v)
{
  g_return_val_if_fail (v != NULL, -1);
  return v->eos;
}

gboolean
ar_vocab_equal (const ArVocab *a, const ArVocab *b)
{
  g_return_val_if_fail (a != NULL && b != NULL, FALSE);

  guint n = ar_vocab_get_size (a);

  if (ar_vocab_get_type (a) != ar_vocab_get_type (b) ||
      n != ar_vocab_get_size (b) || ar_vocab_get_bos (a) != ar_vocab_get_bos (b)
      || ar_vocab_get_eos (a) != ar_vocab_get_eos (b))
    return FALSE;
  for (guint i = 0; i < n; i++) {
    gsize la, lb;
    const char *ta = ar_vocab_token_bytes (a, i, &la);
    const char *tb = ar_vocab_token_bytes (b, i, &lb);

    if (la != lb || memcmp (ta, tb, la) != 0)
      return FALSE;
  }
  return TRUE;
}

const char *
ar_vocab_decode (const ArVocab *v, gint prev, guint id, gsize *len)
{
  g_return_val_if_fail (v != NULL && id < v->n, NULL);
  if (v->type == AR_VOCAB_SPM && prev >= 0 && prev == v->bos
      && v->types[id] == SPM_NORMAL && v->tokens[id][0] == ' ') {
    if (len)
      *len = v->lengths[id] - 1;
    return v->tokens[id] + 1;
  }
  return ar_vocab_token_bytes (v, id, len);
}

const char *
ar_vocab_token_piece (const ArVocab *v, guint id)
{
  g_return_val_if_fail (v != NULL && id < v->n, NULL);
  return v->pieces ? v->pieces[id] : NULL;
}

float
ar_vocab_token_score (const ArVocab *v, guint id)
{
  g_return_val_if_fail (v != NULL && id < v->n, 0.0f);
  return v->scores ? v->scores[id] : 0.0f;
}

const char *
ar_vocab_token_bytes (const ArVocab *v, guint id, gsize *len)
{
  g_return_val_if_fail (v != NULL && id < v->n, NULL);
  if (len)
    *len = v->lengths[id];
  return v->tokens[id];
}

/* The id of output text @s (@len bytes) among the normal and user-defined
 * tokens, or -1. */
static gint
spm_lookup (const ArVocab *v, const char *s, gsize len, GString *buf)
{
  gpointer hit;
  g_string_truncate (buf, 0);
  g_string_append_len (buf, s, len);
  hit = g_hash_table_lookup (v->by_text, buf->str);
  return hit ? (gint) GPOINTER_TO_UINT (hit) - 1 : -1;
}

static gboolean
spm_mergeable (const ArVocab *v, gint32 id)
{
  return v->types[id] == SPM_NORMAL || v->types[id] == SPM_USER_DEFINED;
}

/* The id of the token that is the pair @a @b (output texts joined) if both
 * may merge, or -1. */
static gint
spm_pair (const ArVocab *v, gint32 a, gint32 b, GString *pair, GString *buf)
{
  if (!spm_mergeable (v, a) || !spm_mergeable (v, b))
    return -1;
  g_string_truncate (pair, 0);
  g_string_append_len (pair, v->tokens[a], v->lengths[a]);
  g_string_append_len (pair, v->tokens[b], v->lengths[b]);
  return spm_lookup (v, pair->str, pair->len, buf);
}

/* llama2.c's merges, literally: every pair rescanned after each merge. */
static void
spm_merge_naive (const ArVocab *v, GArray *ids, guint start, GString *pair,
    GString *buf)
{
  for (;;) {
    /* not &g_array_index (ids, gint32, 0): NULL + 0 while ids is empty */
    gint32 *t = (gint32 *) (gpointer) ids->data;
    float best_score = -G_MAXFLOAT;
    gint best_id = -1;
    guint best_at = 0;

    for (guint i = start; i + 1 < ids->len; i++) {
      gint id = spm_pair (v, t[i], t[i + 1], pair, buf);

      if (id >= 0 && (best_id < 0 || v->scores[id] > best_score)) {
        best_score = v->scores[id];
        best_id = id;
        best_at = i;
      }
    }
    if (best_id < 0)
      break;
    t[best_at] = best_id;
    g_array_remove_index (ids, best_at + 1);
  }
}

/* A candidate merge: symbols @left and @right (indices into the symbols of
 * spm_merge (), in text order), which were tokens @a and @b when it was
 * made, into token @id. */
typedef struct
{
  float score;
  guint left, right;
  gint32 a, b, id;
} SpmCandidate;

/* Whether @x is merged before @y: the higher score, then the leftmost. */
static inline gboolean
spm_before (const SpmCandidate *x, const SpmCandidate *y)
{
  return x->score > y->score || (x->score == y->score && x->left < y->left);
}

static void
spm_heap_push (GArray *heap, const SpmCandidate *c)
{
  SpmCandidate *h;
  guint i = heap->len;

  g_array_append_val (heap, *c);
  h = (SpmCandidate *) (gpointer) heap->data;
  while (i > 0 && spm_before (&h[i], &h[(i - 1) / 2])) {
    SpmCandidate t = h[i];

    h[i] = h[(i - 1) / 2];
    h[(i - 1) / 2] = t;
    i = (i - 1) / 2;
  }
}

static SpmCandidate
spm_heap_pop (GArray *heap)
{
  SpmCandidate *h = (SpmCandidate *) (gpointer) heap->data, top = h[0];
  guint n = heap->len - 1, i = 0;

  h[0] = h[n];
  g_array_set_size (heap, n);
  for (;;) {
    guint l = 2 * i + 1, r = l + 1, m = i;

    if (l < n && spm_before (&h[l], &h[m]))
      m = l;
    if (r < n && spm_before (&h[r], &h[m]))
      m = r;
    if (m == i)
      break;
    SpmCandidate t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
  return top;
}

/* Symbol @l and its right neighbour @r as a candidate, if they are a token. */
static void
spm_offer (const ArVocab *v, GArray *heap, const gint32 *tok, guint l, guint r,
    GString *pair, GString *buf)
{
  gint id = spm_pair (v, tok[l], tok[r], pair, buf);

  if (id >= 0) {
    SpmCandidate c = { v->scores[id], l, r, tok[l], tok[r], id };

    spm_heap_push (heap, &c);
  }
}

/* The same merges as spm_merge_naive (), in the same order: the symbols are
 * a list in text order, every adjacent pair that is a token waits in a heap
 * ordered as the naive scan chooses (score, then position — a symbol's
 * index is its place in the text, as merges keep the order), and a merge
 * offers the two pairs it makes with its neighbours.  A candidate whose
 * symbols have since changed (one merged away, or now another token) is
 * dropped when it comes up: tokens only grow, so a symbol never becomes the
 * token it was again.  O(n log n) lookups for n symbols. */
static void
spm_merge (const ArVocab *v, GArray *ids, guint start, GString *pair,
    GString *buf)
{
  guint n = ids->len - start, kept = 0;
  g_autofree gint32 *tok = NULL;
  g_autofree guint *prev = NULL, *next = NULL;
  g_autoptr (GArray) heap = NULL;

  if (n < 2)
    return;
  tok = g_memdup2 (ids->data + (gsize) start * sizeof (gint32),
      n * sizeof (gint32));
  prev = g_new (guint, n);
  next = g_new (guint, n);
  /* n stands for none at either end */
  for (guint i = 0; i < n; i++) {
    prev[i] = i > 0 ? i - 1 : n;
    next[i] = i + 1;
  }
  heap = g_array_new (FALSE, FALSE, sizeof (SpmCandidate));
  for (guint i = 0; i + 1 < n; i++)
    spm_offer (v, heap, tok, i, i + 1, pair, buf);

  while (heap->len > 0) {
    SpmCandidate c = spm_heap_pop (heap);
    guint l = c.left, r = c.right;

    if (tok[l] != c.a || tok[r] != c.b || next[l] != r)
      continue;
    /* r merges into l */
    tok[l] = c.id;
    tok[r] = -1;
    next[l] = next[r];
    if (next[r] < n)
      prev[next[r]] = l;
    if (prev[l] < n)
      spm_offer (v, heap, tok, prev[l], l, pair, buf);
    if (next[l] < n)
      spm_offer (v, heap, tok, l, next[l], pair, buf);
  }
  for (guint i = 0; i < n; i = next[i])
    g_array_index (ids, gint32, start + kept++) = tok[i];
  g_array_set_size (ids, start + kept);
}

/* The symbols of llama2.c's encoder (see ar-text.h) before any merge,
 * appended to @ids; returns the bytes that have no token. */
static guint
spm_symbols (const ArVocab *v, const char *text, gsize n, GArray *ids,
    GString *buf)
{
  guint unknown = 0;

  if (n == 0)
    return 0;
  gint space = spm_lookup (v, " ", 1, buf);
  if (space >= 0)
    g_array_append_val (ids, space);

  /* one UTF-8 character at a time: a byte and the continuation bytes after
   * it, at most 4 in all (llama2.c's grouping, valid or not) */
  for (gsize i = 0; i < n;) {
    gsize j = i + 1;
    while (j < n && j - i < 4 && ((guchar) text[j] & 0xC0) == 0x80)
      j++;
    gint id = spm_lookup (v, text + i, j - i, buf);
    if (id >= 0) {
      g_array_append_val (ids, id);
    } else {
      for (gsize k = i; k < j; k++) {
        gint32 b = v->byte_ids[(guchar) text[k]];
        if (b >= 0)
          g_array_append_val (ids, b);
        else
          unknown++;
      }
    }
    i = j;
  }
  return unknown;
}

/* llama2.c's encoder (see ar-text.h), appending to @ids. */
static guint
spm_encode (const ArVocab *v, const char *text, gsize n, GArray *ids,
    gboolean naive)
{
  g_autoptr (GString) buf = g_string_new (NULL);
  g_autoptr (GString) pair = g_string_new (NULL);
  guint start = ids->len;
  guint unknown = spm_symbols (v, text, n, ids, buf);

  if (naive)
    spm_merge_naive (v, ids, start, pair, buf);
  else
    spm_merge (v, ids, start, pair, buf);
  return unknown;
}

guint
ar_vocab_encode_naive (const ArVocab *v, const char *text, gssize len,
    GArray *ids)
{
  g_return_val_if_fail (v != NULL && v->type == AR_VOCAB_SPM, 0);
  g_return_val_if_fail (text != NULL || len == 0, 0);
  g_return_val_if_fail (ids != NULL, 0);

  return spm_encode (v, text, len < 0 ? strlen (text) : (gsize) len, ids,
      TRUE);
}

guint
ar_vocab_encode (const ArVocab *v, const char *text, gssize len, GArray *ids)
{
  g_return_val_if_fail (v != NULL && ids != NULL, 0);
  g_return_val_if_fail (text != NULL || len == 0, 0);

  gsize n = len < 0 ? strlen (text) : (gsize) len;
  guint unknown = 0;
  if (v->type == AR_VOCAB_SPM)
    return spm_encode (v, text, n, ids, FALSE);
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
  if (v->type == AR_VOCAB_SPM) {
    ar_gguf_writer_set_string (w, "tokenizer.ggml.model", "llama");
    ar_gguf_writer_set_string_array (w, "tokenizer.ggml.tokens",
        (const char *const *) v->pieces, v->piece_lengths, v->n);
    ar_gguf_writer_set_f32_array (w, "tokenizer.ggml.scores", v->scores, v->n);
    ar_gguf_writer_set_i32_array (w, "tokenizer.ggml.token_type", v->types, v->n);
  } else if (v->type == AR_VOCAB_BYTE) {
    ar_gguf_writer_set_string (w, "tokenizer.ggml.model", "byte");
  } else {
    ar_gguf_writer_set_string (w, "tokenizer.ggml.model", "char");
    ar_gguf_writer_set_string_array (w, "tokenizer.ggml.tokens",
        (const char *const *) v->tokens, v->lengths, v->n);
  }
  if (v->bos >= 0)
    ar_gguf_writer_set_u32 (w, "tokenizer.ggml.bos_token_id", v->bos);
  if (v->eos >= 0)
    ar_gguf_writer_set_u32 (w, "tokenizer.ggml.eos_token_id", v->eos);
}
