/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-text-data.h — a text corpus as token ids, split into training and
 * held-out parts, with the batch sampling every text family trains on. */
#pragma once

#include <glib.h>
#include "ar-text.h"
#include "core/ar-rng.h"

G_BEGIN_DECLS

typedef struct
{
  ArVocab *vocab;
  gint32 *ids;                  /* (n) */
  gsize n;
  gsize n_train;                /* ids[0, n_train) train; ids[n_train, n) held out */
} ArTextData;

/* The first (1 - val_fraction) of the tokens train, the rest is held out (the
 * split nanoGPT uses: tiny-shakespeare gives 1,003,854 / 111,540 characters).
 * A character vocabulary is built from the whole text.  @type is
 * AR_VOCAB_CHAR or AR_VOCAB_BYTE (AR_ERROR_UNSUPPORTED otherwise). */
ArTextData *ar_text_data_new (const char *text, gsize len, ArVocabType type,
    double val_fraction, GError **error);
ArTextData *ar_text_data_new_from_file (const char *path, ArVocabType type,
    double val_fraction, GError **error);
/* Tokenises with an existing vocabulary (e.g. a model's); characters it lacks
 * are an error naming the first one. */
ArTextData *ar_text_data_new_with_vocab (const char *text, gsize len, const ArVocab *vocab,
    double val_fraction, GError **error);
void ar_text_data_free (ArTextData *d);
/* FALSE + AR_ERROR_INVALID giving both lengths when the training part is
 * too short for ar_text_data_sample () windows of @T tokens (it needs more
 * than T + 1). */
gboolean ar_text_data_check_window (const ArTextData *d, int T,
    GError **error);
/* B random windows of the training part: inputs and targets (T, B), time
 * outermost; targets are the inputs shifted by one.  Draws B values from @rng. */
void ar_text_data_sample (const ArTextData *d, ArRng *rng, int T, int B,
    gint32 *inputs, gint32 *targets);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArTextData, ar_text_data_free)

G_END_DECLS
