/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-text-private.h — what the tests of the text family use beyond
 * ar-text.h: the literal version of a fast path, as its oracle. */
#pragma once

#include "ar-text.h"

G_BEGIN_DECLS

/* ar_vocab_encode () of an SPM vocabulary done as llama2.c does it, every
 * adjacent pair rescanned after each merge (quadratic in the text): the
 * reference the heap-ordered merges are tested against. */
G_GNUC_INTERNAL guint ar_vocab_encode_naive (const ArVocab *v,
    const char *text, gssize len, GArray *ids);

G_END_DECLS
