/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-text-data.c — text corpora for training. */
#include "ar-text-data.h"

#include <string.h>

static ArTextData *
data_new (const char *text, gsize len, ArVocab *vocab, double val_fraction, GError **error)
{
  if (!(val_fraction >= 0 && val_fraction < 1)) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "held-out fraction %g is not in [0, 1)", val_fraction);
    ar_vocab_free (vocab);
    return NULL;
  }
  g_autoptr (GArray) ids = g_array_sized_new (FALSE, FALSE, sizeof (gint32), len);
  guint unknown = ar_vocab_encode (vocab, text, len, ids);
  if (unknown) {
    /* name the first character the vocabulary lacks: the first that
     * encodes with an unknown alone, or the first byte of invalid UTF-8 */
    g_autoptr (GArray) scratch = g_array_new (FALSE, FALSE, sizeof (gint32));
    const char *p = text, *end = text + len;

    while (p < end) {
      gunichar c = g_utf8_get_char_validated (p, end - p);

      if (c == (gunichar) - 1 || c == (gunichar) - 2) {
        g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
            "%u characters of the text are not in the model's vocabulary, "
            "the first an invalid UTF-8 byte 0x%02x at byte %" G_GSIZE_FORMAT,
            unknown, (guchar) * p, (gsize) (p - text));
        break;
      }
      gsize n = g_utf8_next_char (p) - p;
      if (ar_vocab_encode (vocab, p, n, scratch) > 0) {
        g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
            "%u characters of the text are not in the model's vocabulary, "
            "the first \"%.*s\" (U+%04X) at byte %" G_GSIZE_FORMAT,
            unknown, (int) n, p, c, (gsize) (p - text));
        break;
      }
      p += n;
    }
    if (p == end)
      g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
          "%u characters of the text are not in the model's vocabulary",
          unknown);
    ar_vocab_free (vocab);
    return NULL;
  }
  ArTextData *d = g_new0 (ArTextData, 1);
  d->vocab = vocab;
  d->n = ids->len;
  d->ids = (gint32 *) g_array_free (g_steal_pointer (&ids), FALSE);
  d->n_train = (gsize) (d->n * (1.0 - val_fraction));
  return d;
}

ArTextData *
ar_text_data_new (const char *text, gsize len, ArVocabType type, double val_fraction,
    GError **error)
{
  ArVocab *vocab;

  /* a SentencePiece vocabulary comes with a model; building a character
   * one instead, as this did, silently trained another vocabulary */
  if (type != AR_VOCAB_CHAR && type != AR_VOCAB_BYTE) {
    g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
        "a vocabulary of type %d cannot be built from a text (only character "
        "and byte ones): tokenise with a model's (ar_text_data_new_with_vocab)",
        (int) type);
    return NULL;
  }
  vocab = type == AR_VOCAB_BYTE ? ar_vocab_new_bytes ()
      : ar_vocab_new_chars (text, len, error);
  if (vocab == NULL)
    return NULL;
  return data_new (text, len, vocab, val_fraction, error);
}

ArTextData *
ar_text_data_new_with_vocab (const char *text, gsize len, const ArVocab *vocab,
    double val_fraction, GError **error)
{
  /* Re-create an owned copy through the file representation. */
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  ar_vocab_write_gguf (vocab, w);
  g_autoptr (GBytes) bytes = ar_gguf_writer_to_bytes (w);
  g_autoptr (ArGguf) g = ar_gguf_new_from_bytes (bytes, "vocabulary", error);
  if (g == NULL)
    return NULL;
  ArVocab *copy = ar_vocab_new_from_gguf (g, error);
  if (copy == NULL)
    return NULL;
  return data_new (text, len, copy, val_fraction, error);
}

ArTextData *
ar_text_data_new_from_file (const char *path, ArVocabType type, double val_fraction,
    GError **error)
{
  g_autofree char *text = NULL;
  gsize len;
  GError *local = NULL;
  if (!g_file_get_contents (path, &text, &len, &local)) {
    g_set_error (error, AR_ERROR, AR_ERROR_IO, "%s", local->message);
    g_error_free (local);
    return NULL;
  }
  ArTextData *d = ar_text_data_new (text, len, type, val_fraction, &local);
  if (d == NULL) {
    g_set_error (error, AR_ERROR, local->code, "%s: %s", path, local->message);
    g_error_free (local);
  }
  return d;
}

void
ar_text_data_free (ArTextData *d)
{
  if (d == NULL)
    return;
  ar_vocab_free (d->vocab);
  g_free (d->ids);
  g_free (d);
}

gboolean
ar_text_data_check_window (const ArTextData *d, int T, GError **error)
{
  g_return_val_if_fail (d != NULL && T >= 1, FALSE);

  if (d->n_train <= (gsize) T + 1) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "the training text is %" G_GSIZE_FORMAT " tokens; windows of %d "
        "need at least %d", d->n_train, T, T + 2);
    return FALSE;
  }
  return TRUE;
}

void
ar_text_data_sample (const ArTextData *d, ArRng *rng, int T, int B, gint32 *inputs,
    gint32 *targets)
{
  g_return_if_fail (d->n_train > (gsize) T + 1);
  for (int b = 0; b < B; b++) {
    gsize start = ar_rng_below (rng, d->n_train - T);
    for (int t = 0; t < T; t++) {
      inputs[t * B + b] = d->ids[start + t];
      targets[t * B + b] = d->ids[start + t + 1];
    }
  }
}
