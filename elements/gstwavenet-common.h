/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstwavenet-common.h — code the WaveNet elements (wavenetsrc,
 * wavenetvocoder) share: the `model` property's default and description
 * (the four properties all media elements have are installed by
 * gstargen-common.h's gst_argen_media_install_properties()),
 * model loading (files, and the models embedded in the plugin, loaded once
 * and shared by every element instance) and the statistics message.
 * GStreamer-side glue only: generation is libargen's
 * ArWaveNetGen / ArWaveNetVocoder (models/wavenet/ar-wavenet.h). */
#pragma once

#include <gst/gst.h>
#include "wavenet/ar-wavenet.h"
#include "gstargen-common.h"

G_BEGIN_DECLS

/* Resource paths of the default WaveNet models (plugin/defaults/, listed in
 * plugin/argen.gresource.xml once trained). */
#define GST_WAVENET_SPEECH_MODEL_RESOURCE                                      \
  "/org/gstreamer/argen/defaults/wavenet-speech.gguf"
#define GST_WAVENET_VOCODER_MODEL_RESOURCE                                     \
  "/org/gstreamer/argen/defaults/wavenet-vocoder.gguf"

/* The elements' defaults: the two models above, embedded in the plugin. */
#define GST_WAVENET_SRC_DEFAULT_MODEL                                          \
  GST_ARGEN_RESOURCE_SCHEME GST_WAVENET_SPEECH_MODEL_RESOURCE
#define GST_WAVENET_VOCODER_DEFAULT_MODEL                                      \
  GST_ARGEN_RESOURCE_SCHEME GST_WAVENET_VOCODER_MODEL_RESOURCE
#define GST_WAVENET_MODEL_DEFAULT_TEXT "the model embedded in the plugin"

/* The `model` blurb of an element taking @file, what the file holds. */
#define GST_WAVENET_MODEL_BLURB(file)                                          \
  GST_ARGEN_MEDIA_MODEL_BLURB (file, GST_WAVENET_MODEL_DEFAULT_TEXT)

/* The `threads` blurb of both elements (their range ends at
 * AR_WAVENET_GEN_MAX_THREADS) */
#define GST_WAVENET_THREADS_BLURB                                              \
  "Threads working on every sample, two at most: one runs each layer's "       \
  "dependent part, the other the rest (0 = two on a machine with two "         \
  "processors or more).  Small models run fastest in one; the output is "      \
  "the same for every value"

/* Loads the WaveNet model @uri names: a file path, or "resource://" and the
 * path of a model embedded in the plugin (loaded once, shared, freed when
 * its last user releases it); @uri is never NULL or "" (the element's
 * model property holds its default).  On failure posts GST_ELEMENT_ERROR
 * on @element with a message naming the file and the problem, and returns
 * NULL.  Release with
 * gst_wavenet_model_release(). */
ArWaveNet *gst_wavenet_model_acquire (GstElement *element, const gchar *uri);
void gst_wavenet_model_release (ArWaveNet *model);

/* The `global-condition` blurb of both elements. */
#define GST_WAVENET_GLOBAL_CONDITION_BLURB                                     \
  "The class (speaker, style …) of a globally conditioned model, by name "    \
  "or by index; an error for a model without global conditioning (NULL = "    \
  "none)"

/* The class the `global-condition` property @condition names in @model
 * (loaded from @uri, for messages): a class name first, so that a class
 * named "3" is found as such, then an index; -1 in *@cls for NULL or ""
 * (none).  Returns FALSE after posting GST_ELEMENT_ERROR on @element, naming
 * the model's classes, when the model has none or no such class. */
gboolean gst_wavenet_find_global_class (GstElement *element,
    const ArWaveNet *model, const gchar *uri, const gchar *condition,
    int *cls);

/* Posts the element message @name on @element's bus with the fields
 * samples (guint64, samples output), seconds (gdouble, wall time spent
 * generating), samples-per-second (gdouble) and real-time-factor (gdouble:
 * samples-per-second / @rate; above 1 is faster than real time). */
void gst_wavenet_post_statistics (GstElement *element, const gchar *name,
    guint64 samples, gdouble seconds, gint rate);

G_END_DECLS
