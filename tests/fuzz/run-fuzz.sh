#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run-fuzz.sh [SECONDS] — fuzzes the GGUF reader (models/core/ar-gguf.c) with
# libFuzzer for SECONDS (default 60) and exits non-zero if it finds a crash,
# a sanitizer report, a leak or a failed check (or if the build fails).
#
# Builds, with clang, fuzz-gguf.c and the libargen sources it needs under
# -fsanitize=fuzzer,address,undefined, and gen-seeds.c without sanitizers;
# writes a seed corpus of valid files with gen-seeds, then runs libFuzzer.
# Everything goes to $ARGEN_FUZZ_DIR (default: /tmp/argen-fuzz-$UID): the
# binaries, seeds/, corpus/ (inputs libFuzzer found interesting; kept between
# runs so later runs start further on) and artifacts/ (crashing inputs).
# Reproduce a crash with:  $ARGEN_FUZZ_DIR/fuzz-gguf ARTIFACT
set -euo pipefail

seconds=${1:-60}
case $seconds in
  '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

src=$(cd "$(dirname "$0")/../.." && pwd)
out=${ARGEN_FUZZ_DIR:-${TMPDIR:-/tmp}/argen-fuzz-$(id -u)}
cc=${FUZZ_CC:-clang}
mkdir -p "$out/seeds" "$out/corpus" "$out/artifacts"

read -r -a glib_cflags <<<"$(pkg-config --cflags glib-2.0)"
read -r -a glib_libs <<<"$(pkg-config --libs glib-2.0)"
lib_sources=("$src/models/core/ar-gguf.c" "$src/models/core/ar-f16.c"
  "$src/models/core/ar-quant.c" "$src/models/core/ar-error.c")
common=(-std=gnu11 -g -O1 -fno-omit-frame-pointer -Wall -Wextra
  -Wno-unused-parameter -I"$src/models" "${glib_cflags[@]}")

echo "run-fuzz: building in $out with $($cc --version | head -n 1)"
"$cc" "${common[@]}" -o "$out/gen-seeds" "$src/tests/fuzz/gen-seeds.c" \
  "${lib_sources[@]}" "${glib_libs[@]}" -lm
"$cc" "${common[@]}" -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=undefined -o "$out/fuzz-gguf" \
  "$src/tests/fuzz/fuzz-gguf.c" "${lib_sources[@]}" "${glib_libs[@]}" -lm

"$out/gen-seeds" "$out/seeds"

# GLib's one-time allocations at start-up are process-lifetime, not leaks
# (tests/lsan.supp says why).  ASan's default 256 MB quarantine of freed
# memory is far more than inputs of a few KB need to catch a use after free,
# and with it the RSS grows to ~300 MB and runs are ten times slower.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:fast_unwind_on_malloc=0:quarantine_size_mb=16}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$src/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# -use_value_profile guides mutations by the operands of comparisons, which
# is what reaching "length just one byte past the end" takes: with it, a
# deliberately off-by-one bounds check was found within a minute, without it
# not in 30 s.
echo "run-fuzz: fuzzing for ${seconds}s"
rc=0
"$out/fuzz-gguf" -max_total_time="$seconds" -max_len=8192 -timeout=10 \
  -rss_limit_mb=1024 -use_value_profile=1 -print_final_stats=1 \
  -dict="$src/tests/fuzz/gguf.dict" -artifact_prefix="$out/artifacts/" \
  "$out/corpus" "$out/seeds" || rc=$?

if [ $rc -ne 0 ]; then
  echo "run-fuzz: FAILED (libFuzzer exit status $rc); crashing inputs in $out/artifacts/" >&2
  exit 1
fi
echo "run-fuzz: no crash in ${seconds}s; corpus: $(find "$out/corpus" -type f | wc -l) inputs"
