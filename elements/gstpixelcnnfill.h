/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstpixelcnnfill.h — pixelcnnfill: completes the hidden part of each video
 * frame with a PixelCNN model. */
#pragma once

#include <gst/gst.h>
#include <gst/video/gstvideofilter.h>

G_BEGIN_DECLS

#define GST_TYPE_PIXELCNN_FILL (gst_pixelcnn_fill_get_type ())
G_DECLARE_FINAL_TYPE (GstPixelcnnFill, gst_pixelcnn_fill, GST, PIXELCNN_FILL,
    GstVideoFilter);

GST_ELEMENT_REGISTER_DECLARE (pixelcnnfill);

G_END_DECLS
