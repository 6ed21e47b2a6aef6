/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstpixelcnn-common.h — code the PixelCNN elements (pixelcnnsrc,
 * pixelcnnfill) share: the `model` property's default and description
 * (the four properties all media elements have are installed by
 * gstargen-common.h's gst_argen_media_install_properties()),
 * model loading (files, and the model embedded in the plugin, loaded once
 * and shared by every element instance), the `class` property's parsing,
 * caps and the statistics message.  GStreamer-side
 * glue only: drawing and completing images is libargen's ArPixelCnnGen
 * (models/pixelcnn/ar-pixelcnn.h). */
#pragma once

#include <gst/gst.h>
#include "pixelcnn/ar-pixelcnn.h"
#include "gstargen-common.h"

G_BEGIN_DECLS

/* Resource path of the default image model (plugin/defaults/, listed in
 * plugin/argen.gresource.xml once trained by
 * pipelines/recipes/train-default-pixelcnn.sh). */
#define GST_PIXELCNN_FASHION_MODEL_RESOURCE                                    \
  "/org/gstreamer/argen/defaults/pixelcnn-fashion.gguf"

/* The elements' default: the model above, embedded in the plugin. */
#define GST_PIXELCNN_DEFAULT_MODEL                                             \
  GST_ARGEN_RESOURCE_SCHEME GST_PIXELCNN_FASHION_MODEL_RESOURCE
#define GST_PIXELCNN_MODEL_DEFAULT_TEXT                                        \
  "the Fashion-MNIST model embedded in the plugin"

#define GST_PIXELCNN_MODEL_BLURB                                               \
  GST_ARGEN_MEDIA_MODEL_BLURB ("Path of a PixelCNN model file (GGUF, as "      \
                               "argen train pixelcnn writes it)",              \
      GST_PIXELCNN_MODEL_DEFAULT_TEXT)

#define GST_PIXELCNN_DEFAULT_CLASS "random"
#define GST_PIXELCNN_DEFAULT_TEMPERATURE 1.0f

/* The pad template caps of both elements: 8-bit grey at any size (a model
 * decides which), progressive: the models draw whole images in raster
 * order, not fields. */
#define GST_PIXELCNN_CAPS                                                      \
  "video/x-raw, format = (string) GRAY8, width = (int) [ 1, MAX ], "           \
  "height = (int) [ 1, MAX ], framerate = (fraction) [ 0/1, MAX ], "           \
  "pixel-aspect-ratio = (fraction) 1/1, "                                      \
  "interlace-mode = (string) progressive"

/* Loads the PixelCNN model @uri names: a file path, or "resource://" and
 * the path of a model embedded in the plugin (loaded once, shared, freed
 * when its last user releases it); @uri is never NULL or "" (the
 * element's model property holds its default).  On failure posts
 * GST_ELEMENT_ERROR on @element with a message naming the file and the
 * problem, and returns NULL.  Release with
 * gst_pixelcnn_model_release(). */
ArPixelCnn *gst_pixelcnn_model_acquire (GstElement *element, const gchar *uri);
void gst_pixelcnn_model_release (ArPixelCnn *model);

/* The class @text names for @model: a class name, an index, or "random" /
 * "-1" / NULL / "" (-1: a random class per image; on a model without
 * classes, no class).  Otherwise posts GST_ELEMENT_ERROR on @element
 * listing the model's classes and returns FALSE. */
gboolean gst_pixelcnn_parse_class (GstElement *element, ArPixelCnn *model,
    const gchar *uri, const gchar *text, gint *cls);

/* Applies the class property's @text (taking it) to @gen unless it equals
 * *@applied, the text applied last (which then takes its place), and logs
 * the class in @element's debug category @cat; posts an element error
 * naming the problem when @model has no such class. */
gboolean gst_pixelcnn_apply_class (GstElement *element, GstDebugCategory *cat,
    ArPixelCnn *model, const gchar *uri, ArPixelCnnGen *gen, gchar **applied,
    gchar *text);

/* GST_PIXELCNN_CAPS at @width × @height (any size when they are 0, before
 * a model is loaded). */
GstCaps *gst_pixelcnn_caps_at_size (gint width, gint height);

/* Posts the element message @name on @element's bus with the fields
 * images (guint64), seconds (gdouble, wall time spent drawing) and
 * images-per-second (gdouble). */
void gst_pixelcnn_post_statistics (GstElement *element, const gchar *name,
    guint64 images, gdouble seconds);

G_END_DECLS
