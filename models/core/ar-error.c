/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-error.c — the libargen GError domain. */
#include "ar-error.h"

G_DEFINE_QUARK (ar-error-quark, ar_error)
