/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstargen.c — the argen GStreamer plugin: registers the elements that run
 * libargen's autoregressive models.  The embedded default models
 * (argen.gresource.xml) are registered by the generated resource code when
 * the plugin module is loaded. */

#include <gst/gst.h>

#include "gsttextgensrc.h"
#include "gsttextgen.h"
#include "gstwavenetsrc.h"
#include "gstwavenetvocoder.h"
#include "gstpixelcnnsrc.h"
#include "gstpixelcnnfill.h"

static gboolean
plugin_init (GstPlugin *plugin)
{
  gboolean ret = FALSE;

  ret |= GST_ELEMENT_REGISTER (textgensrc, plugin);
  ret |= GST_ELEMENT_REGISTER (textgen, plugin);
  ret |= GST_ELEMENT_REGISTER (wavenetsrc, plugin);
  ret |= GST_ELEMENT_REGISTER (wavenetvocoder, plugin);
  ret |= GST_ELEMENT_REGISTER (pixelcnnsrc, plugin);
  ret |= GST_ELEMENT_REGISTER (pixelcnnfill, plugin);

  return ret;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, argen,
    "Autoregressive generative models: text, audio and image generators",
    plugin_init, VERSION, "LGPL", PACKAGE_NAME, PACKAGE_ORIGIN)
