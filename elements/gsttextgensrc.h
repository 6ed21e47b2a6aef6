/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gsttextgensrc.h — textgensrc: a source of generated UTF-8 text. */
#pragma once

#include <gst/gst.h>
#include <gst/base/gstpushsrc.h>

G_BEGIN_DECLS

#define GST_TYPE_TEXT_GEN_SRC (gst_text_gen_src_get_type ())
G_DECLARE_FINAL_TYPE (GstTextGenSrc, gst_text_gen_src, GST, TEXT_GEN_SRC,
    GstPushSrc);

GST_ELEMENT_REGISTER_DECLARE (textgensrc);

G_END_DECLS
