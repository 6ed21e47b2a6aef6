/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gsttextgen.h — textgen: continues each input line of UTF-8 text. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_TEXT_GEN (gst_text_gen_get_type ())
G_DECLARE_FINAL_TYPE (GstTextGen, gst_text_gen, GST, TEXT_GEN, GstElement);

GST_ELEMENT_REGISTER_DECLARE (textgen);

G_END_DECLS
