/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstwavenetvocoder.h — wavenetvocoder: resynthesises audio through a
 * mel-conditioned WaveNet (a neural vocoder). */
#pragma once

#include <gst/gst.h>
#include <gst/base/gstbasetransform.h>

G_BEGIN_DECLS

#define GST_TYPE_WAVENET_VOCODER (gst_wavenet_vocoder_get_type ())
G_DECLARE_FINAL_TYPE (GstWavenetVocoder, gst_wavenet_vocoder, GST,
    WAVENET_VOCODER, GstBaseTransform);

GST_ELEMENT_REGISTER_DECLARE (wavenetvocoder);

G_END_DECLS
