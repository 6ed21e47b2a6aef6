/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* argen.h — the subcommands of the `argen` command-line tool.  Each takes the
 * arguments after `argen` (argv[0] is the subcommand's name) and returns the
 * process exit status. */
#pragma once

#include <glib.h>

#include "data/ar-idx.h"

G_BEGIN_DECLS

int argen_cmd_info (int argc, char **argv);
int argen_cmd_train (int argc, char **argv);
int argen_cmd_eval (int argc, char **argv);
int argen_cmd_generate (int argc, char **argv);
int argen_cmd_convert (int argc, char **argv);
int argen_cmd_images (int argc, char **argv);
/* argen-audio.c */
int argen_cmd_audio_compare (int argc, char **argv);
int argen_cmd_baselines (int argc, char **argv);
/* argen-spectrogram.c */
int argen_cmd_spectrogram (int argc, char **argv);

/* Converts the string option @option (as "--prompt"), read as bytes
 * (G_OPTION_ARG_FILENAME), to UTF-8 from the locale's character set in
 * place, as G_OPTION_ARG_STRING would — whose error ("Invalid byte sequence
 * in conversion input") does not say which option it is about.  Nothing to
 * do when *@value is NULL (not given).  FALSE after a message naming the
 * option: the command then exits with status 2 (argen.c). */
gboolean argen_option_to_utf8 (const char *option, char **value);

/* Relabels @set (read from @path) by class name.  A PNG folder's labels
 * count its own sub-folders in sorted order, which are a model's classes
 * only when the folder has every one of them: each sub-folder is matched
 * instead to the class of @names (@n_names classes; @names may be NULL) of
 * its name, or of its decimal index.  Nothing to do for IDX labels (indices
 * already) or @n_names 0 (an unconditional model).  FALSE when a
 * sub-folder matches no class (argen-images.c). */
gboolean argen_image_set_match_classes (ArImageSet *set, const char *path,
    const char *const *names, int n_names, GError **error);

/* Draws the training curves of a CSV log written by `argen train` as a PNG
 * (argen-plot.c). */
gboolean argen_plot_training_log (const char *csv_path, const char *png_path,
    const char *unit, GError **error);

G_END_DECLS
