/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-error.h — the libargen GError domain.
 *
 * Every libargen function that can fail on input data (files, hyper-parameters,
 * user strings) reports through a GError in this domain; none prints, exits or
 * aborts.  Messages name the file, key or tensor and say what was expected
 * versus what was found. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define AR_ERROR (ar_error_quark ())
GQuark ar_error_quark (void);

typedef enum
{
  AR_ERROR_IO,          /* a file could not be opened, read or written */
  AR_ERROR_FORMAT,      /* a file is malformed: bad magic, truncation, bad offsets */
  AR_ERROR_UNSUPPORTED, /* well-formed but not something we can run (version, type, family) */
  AR_ERROR_MODEL,       /* a model's keys or tensors are missing, mis-shaped or non-finite */
  AR_ERROR_INVALID,     /* an invalid argument or setting from the user */
  AR_ERROR_CANCELLED,   /* an operation was interrupted on request */
} ArError;

G_END_DECLS
