#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# check-format.sh [--diff] [FILE...] — lists the C files that differ from
# what clang-format makes of them with the repository's .clang-format (our
# approximation of GStreamer's gst-indent style).  With no FILE, checks every
# tracked *.c and *.h file.  --diff also prints each difference.  Exits 1 when
# any file differs.  CI runs it as an informational step (docs/ci.md).
set -u
cd "$(dirname "$0")/.."

show_diff=0
if [ "${1:-}" = "--diff" ]; then
  show_diff=1
  shift
fi

command -v clang-format >/dev/null || { echo "check-format: clang-format is not installed (./dev deps)"; exit 2; }

if [ $# -gt 0 ]; then
  files=("$@")
elif git rev-parse --git-dir >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.c' '*.h')
else
  mapfile -t files < <(find . -path './build*' -prune -o -name '*.[ch]' -print | sed 's|^\./||' | sort)
fi

differ=0
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  # --assume-filename lets clang-format find .clang-format from stdin input.
  if ! clang-format --style=file --assume-filename="$f" <"$f" | cmp -s - "$f"; then
    differ=$((differ + 1))
    echo "differs: $f"
    if [ $show_diff -eq 1 ]; then
      clang-format --style=file --assume-filename="$f" <"$f" | diff -u "$f" - | sed '1,2d'
    fi
  fi
done

echo "check-format: $differ of ${#files[@]} files differ from .clang-format ($(clang-format --version | sed 's/.*version \([0-9.]*\).*/clang-format \1/'))"
[ $differ -eq 0 ]
