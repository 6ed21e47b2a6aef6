/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstpixelcnnsrc.h — pixelcnnsrc: a source of images drawn pixel by pixel
 * by a PixelCNN model, one image per buffer. */
#pragma once

#include <gst/gst.h>
#include <gst/base/gstpushsrc.h>

G_BEGIN_DECLS

#define GST_TYPE_PIXELCNN_SRC (gst_pixelcnn_src_get_type ())
G_DECLARE_FINAL_TYPE (GstPixelcnnSrc, gst_pixelcnn_src, GST, PIXELCNN_SRC,
    GstPushSrc);

GST_ELEMENT_REGISTER_DECLARE (pixelcnnsrc);

G_END_DECLS
