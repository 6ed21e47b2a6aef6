/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstwavenetsrc.h — wavenetsrc: a source of audio generated sample by sample
 * by a WaveNet model. */
#pragma once

#include <gst/gst.h>
#include <gst/base/gstbasesrc.h>

G_BEGIN_DECLS

#define GST_TYPE_WAVENET_SRC (gst_wavenet_src_get_type ())
G_DECLARE_FINAL_TYPE (GstWavenetSrc, gst_wavenet_src, GST, WAVENET_SRC,
    GstBaseSrc);

GST_ELEMENT_REGISTER_DECLARE (wavenetsrc);

G_END_DECLS
