/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-mel-private.h — the internals of an ArMel that its tests check
 * directly (libargen and its tests only, not an interface for elements). */
#pragma once

#include "ar-mel.h"

G_BEGIN_DECLS

/* The Slaney filterbank M: (n_mels, n_fft / 2 + 1), row-major, weights per
 * linear-frequency bin (bin k is k · sample_rate / n_fft Hz). */
const float *ar_mel_get_filterbank (const ArMel *mel);

/* The analysis window: (n_fft), the periodic Hann of win_length samples
 * centred in the frame, zero elsewhere. */
const float *ar_mel_get_window (const ArMel *mel);

G_END_DECLS
