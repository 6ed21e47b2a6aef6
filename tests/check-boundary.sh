#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# check-boundary.sh SRCDIR — the libargen boundary test: nothing under
# SRCDIR/models/ may include a GStreamer header or build against a GStreamer
# dependency, so the model library stays usable by the CLI and by programs
# that never link GStreamer.  Registered in tests/meson.build (suite models).
set -u
src=${1:?usage: check-boundary.sh SRCDIR}
models="$src/models"
[ -d "$models" ] || { echo "check-boundary: no directory $models"; exit 1; }

status=0

# `#include <gst/...>` or `#include "gst/..."`, with any spacing.
hits=$(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]gst/' \
  --include='*.c' --include='*.h' "$models")
if [ -n "$hits" ]; then
  echo "GStreamer headers included in models/ (libargen must not use GStreamer):"
  echo "$hits"
  status=1
fi

# meson.build files under models/ must not pull in any gst*_dep.
hits=$(grep -rnE '\bgst[a-z_]*_dep\b' --include=meson.build "$models")
if [ -n "$hits" ]; then
  echo "GStreamer dependencies in models/ meson files:"
  echo "$hits"
  status=1
fi

[ $status -eq 0 ] && echo "models/ is free of GStreamer ($(find "$models" -name '*.[ch]' | wc -l) C files checked)"
exit $status
