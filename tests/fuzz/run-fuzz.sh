#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run-fuzz.sh [SECONDS] — fuzzes with libFuzzer for SECONDS in all (default
# 80) and exits non-zero if any target finds a crash, a sanitizer report,
# a leak or a failed check (or if a build fails).  Four targets share the
# time: 3/16 each to gguf and llama2c, a quarter to loaders and the rest
# (3/8) to models, so that the three older ones keep the 15, 30 and 15 s
# they had of the 60 s default before loaders came:
#
#   gguf    fuzz-gguf.c: the GGUF reader (models/core/ar-gguf.c) and its
#           writer's round trip; built from the four core files it needs.
#   models  fuzz-models.c: the model loaders on every file the reader
#           accepts — the vocabulary, the RNN, llama, gpt and nar text
#           families, the text model, WaveNet (plain, global-class and
#           vocoder) and PixelCNN — each must return a model or NULL with a
#           GError, and a model that loads runs one generation step.  It
#           links all of libargen, built with clang by meson in
#           $ARGEN_FUZZ_DIR/build (-fsanitize=fuzzer-no-link,address,
#           undefined; runtime SIMD dispatch as in any build).
#   llama2c fuzz-llama2c.c: the llama2.c importer
#           (models/transformer/ar-llama2c.c, `argen convert llama2c`) on a
#           checkpoint and a tokenizer taken from one input, with a storage
#           type; it must fail with a GError naming a file and leave its
#           writer untouched, or give a GGUF file that loads as a text
#           model, which then encodes and generates one token.  It links the
#           same libargen.
#   loaders fuzz-loaders.c: the training-data readers (byte 0 picks one):
#           IDX images with or without labels, plain or gzipped
#           (models/data/ar-idx.c), a folder of PNGs, flat or one folder per
#           class, an audio file through libsndfile, our mix-down and
#           libsamplerate (models/data/ar-audio.c), and a text as character
#           or byte tokens (models/text/ar-text-data.c); each must return
#           data that keeps its header's promises, or fail with a GError
#           naming the file.  It links the same libargen.
#
# The harnesses are built with clang -fsanitize=fuzzer,address,undefined;
# gen-seeds.c (GGUF files that use every value and tensor type),
# gen-model-seeds.c (a tiny valid model of each family, a few KB) and
# gen-llama2c-seeds.c (tiny llama2.c checkpoints with tokenizers, 2.9 to
# 14.6 KB) and gen-loader-seeds.c (two-image IDX files, 3 × 2 PNGs,
# 48-frame WAV, FLAC, AIFF and AU files, a text; 21 to 487 bytes) write the
# seeds.  Everything goes to $ARGEN_FUZZ_DIR (default:
# /tmp/argen-fuzz-$UID): the binaries, the libargen build, and one
# subdirectory per target of seeds/, corpus/ (inputs libFuzzer found
# interesting; kept between runs so later runs start further on) and
# artifacts/ (crashing inputs).  Reproduce a crash with:
#   $ARGEN_FUZZ_DIR/fuzz-TARGET $ARGEN_FUZZ_DIR/artifacts/TARGET/ARTIFACT
set -euo pipefail

seconds=${1:-80}
case $seconds in
  '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

src=$(cd "$(dirname "$0")/../.." && pwd)
out=${ARGEN_FUZZ_DIR:-${TMPDIR:-/tmp}/argen-fuzz-$(id -u)}
cc=${FUZZ_CC:-clang}
targets=(gguf models llama2c loaders)
for t in "${targets[@]}"; do
  mkdir -p "$out/seeds/$t" "$out/corpus/$t" "$out/artifacts/$t"
done
# Runs before the loaders were fuzzed kept the reader's corpus at the top.
find "$out/seeds" "$out/corpus" "$out/artifacts" -maxdepth 1 -type f \
  -exec sh -c 'for f; do mv "$f" "$(dirname "$f")/gguf/"; done' sh {} +

read -r -a glib_cflags <<<"$(pkg-config --cflags glib-2.0)"
read -r -a glib_libs <<<"$(pkg-config --libs glib-2.0)"
lib_sources=("$src/models/core/ar-gguf.c" "$src/models/core/ar-f16.c"
  "$src/models/core/ar-quant.c" "$src/models/core/ar-error.c")
common=(-std=gnu11 -g -O1 -fno-omit-frame-pointer -Wall -Wextra
  -Wno-unused-parameter -Wno-missing-field-initializers -I"$src/models"
  "${glib_cflags[@]}")
fuzz_flags=(-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)

# libargen's dependencies, as models/meson.build lists them.
blas=openblas
pkg-config --exists openblas || blas=cblas
read -r -a argen_cflags <<<"$(pkg-config --cflags glib-2.0 gio-2.0 fftw3f \
  sndfile samplerate libpng $blas)"
read -r -a argen_libs <<<"$(pkg-config --libs glib-2.0 gio-2.0 fftw3f \
  sndfile samplerate libpng $blas)"

echo "run-fuzz: building in $out with $($cc --version | head -n 1)"
start=$SECONDS
"$cc" "${common[@]}" -o "$out/gen-seeds" "$src/tests/fuzz/gen-seeds.c" \
  "${lib_sources[@]}" "${glib_libs[@]}" -lm
"$cc" "${common[@]}" "${fuzz_flags[@]}" -o "$out/fuzz-gguf" \
  "$src/tests/fuzz/fuzz-gguf.c" "${lib_sources[@]}" "${glib_libs[@]}" -lm

# All of libargen, instrumented for coverage (fuzzer-no-link: no main), by
# meson so that the source list is the library's own.  Only the static
# library is built; the directory is reused by later runs from the same
# checkout with the same compiler (the default $out is shared by every
# checkout of one user, and a meson directory belongs to one source tree).
stamp="$src $cc"
if [ ! -f "$out/build/build.ninja" ] ||
  [ "$(cat "$out/build.stamp" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$out/build" "$out/build.stamp"
  CC=$cc meson setup "$out/build" "$src" --buildtype=plain \
    -Dc_args="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" \
    -Dc_link_args="-fsanitize=address,undefined" >"$out/meson-setup.log" ||
    { cat "$out/meson-setup.log" >&2; exit 1; }
  echo "$stamp" >"$out/build.stamp"
fi
ninja -C "$out/build" models/libargen.a >"$out/ninja.log" ||
  { cat "$out/ninja.log" >&2; exit 1; }
libargen=("$out/build/models/libargen.a" "${argen_libs[@]}" -lm -pthread)
"$cc" "${common[@]}" "${argen_cflags[@]}" -fsanitize=address,undefined \
  -fno-sanitize-recover=undefined -o "$out/gen-model-seeds" \
  "$src/tests/fuzz/gen-model-seeds.c" "${libargen[@]}"
"$cc" "${common[@]}" "${argen_cflags[@]}" -fsanitize=address,undefined \
  -fno-sanitize-recover=undefined -o "$out/gen-llama2c-seeds" \
  "$src/tests/fuzz/gen-llama2c-seeds.c" "${libargen[@]}"
"$cc" "${common[@]}" "${argen_cflags[@]}" -fsanitize=address,undefined \
  -fno-sanitize-recover=undefined -o "$out/gen-loader-seeds" \
  "$src/tests/fuzz/gen-loader-seeds.c" "${libargen[@]}"
# (fuzz-loaders recomputes PNG chunk CRCs with zlib's crc32)
read -r -a zlib_libs <<<"$(pkg-config --libs zlib)"
for t in models llama2c loaders; do
  "$cc" "${common[@]}" "${argen_cflags[@]}" "${fuzz_flags[@]}" \
    -o "$out/fuzz-$t" "$src/tests/fuzz/fuzz-$t.c" "${libargen[@]}" \
    "${zlib_libs[@]}"
done
echo "run-fuzz: built in $((SECONDS - start))s"

# GLib's one-time allocations at start-up are process-lifetime, not leaks
# (tests/lsan.supp says why).  ASan's default 256 MB quarantine of freed
# memory is far more than inputs of a few KB need to catch a use after free,
# and with it the RSS grows to ~300 MB and runs are ten times slower.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:fast_unwind_on_malloc=0:quarantine_size_mb=16}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$src/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

"$out/gen-seeds" "$out/seeds/gguf"
"$out/gen-model-seeds" "$out/seeds/models"
"$out/gen-llama2c-seeds" "$out/seeds/llama2c"
"$out/gen-loader-seeds" "$out/seeds/loaders"

# The reader has been fuzzed longest, and the importer is one small file
# (what it produces goes through the reader and the text loader that the
# model target fuzzes): 3/16 each; the data readers, small files in front of
# mature libraries, a quarter; the model loaders the rest.  Each share is
# at least 1 s (libFuzzer takes 0 as "no limit").
share ()
{
  local s=$(($1 * $2 / 16))
  [ "$s" -ge 1 ] || s=1
  echo "$s"
}
gguf_seconds=$(share "$seconds" 3)
llama2c_seconds=$(share "$seconds" 3)
loaders_seconds=$(share "$seconds" 4)
models_seconds=$((seconds - gguf_seconds - llama2c_seconds - loaders_seconds))
[ "$models_seconds" -ge 1 ] || models_seconds=1

# -use_value_profile guides mutations by the operands of comparisons, which
# is what reaching "length just one byte past the end" takes: with it, a
# deliberately off-by-one bounds check was found within a minute, without it
# not in 30 s.  The model seeds are up to ~8 KB (WaveNet's 256 classes),
# and the llama2.c seeds up to ~15 KB (the one with rows of 32 to quantise),
# hence the larger -max_len of those targets; the data readers' seeds are at
# most ~1 KB, and 4 KB leaves room for a few PNG chunks or audio frames
# more.
fuzz ()
{
  local t=$1 secs=$2 max_len=$3 dict=$4

  echo "run-fuzz: fuzzing $t for ${secs}s"
  "$out/fuzz-$t" -max_total_time="$secs" -max_len="$max_len" -timeout=10 \
    -rss_limit_mb=1024 -use_value_profile=1 -print_final_stats=1 \
    -dict="$src/tests/fuzz/$dict" -artifact_prefix="$out/artifacts/$t/" \
    "$out/corpus/$t" "$out/seeds/$t"
}

failed=()
fuzz gguf "$gguf_seconds" 8192 gguf.dict || failed+=(gguf)
fuzz models "$models_seconds" 16384 gguf.dict || failed+=(models)
fuzz llama2c "$llama2c_seconds" 16384 llama2c.dict || failed+=(llama2c)
fuzz loaders "$loaders_seconds" 4096 loaders.dict || failed+=(loaders)

if [ ${#failed[@]} -ne 0 ]; then
  for t in "${failed[@]}"; do
    echo "run-fuzz: FAILED: $t; crashing inputs in $out/artifacts/$t/" >&2
  done
  exit 1
fi
for t in "${targets[@]}"; do
  echo "run-fuzz: $t: no crash; corpus: $(find "$out/corpus/$t" -type f | wc -l) inputs"
done
