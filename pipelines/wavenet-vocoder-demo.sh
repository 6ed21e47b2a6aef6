#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The neural vocoder next to the classic non-neural baseline, on speech the
# models never saw: every held-out prompt of the asterisk package (file i of
# the sorted list when i % 20 == 0, the split `argen train wavenet` holds out)
# goes through
#
#   filesrc ! decodebin ! audioconvert ! audioresample ! wavenetvocoder ! \
#       audioconvert ! wavenc ! filesink
#
# and through a Griffin-Lim reconstruction from the same 80 log-mel frames
# (`argen audio-compare --griffin-lim`, 32 iterations); the log-spectral
# distance (dB) of each to the input is printed, file by file and as a mean,
# next to the distance of the input coded to the models' 8-bit µ-law and
# back (`--mulaw`): what the output coding alone costs — pre-emphasised
# before the coding and de-emphasised after (`--pre-emphasis`) when the
# model has a wavenet.pre_emphasis, as its output is.
# A fourth column is the distance between two resyntheses of the input that
# differ only in the seed (SEED and SEED + 1): how far apart the vocoder's
# own draws are — the part of its distance to the input that sampling a new
# waveform costs whatever the model (two independent draws of the same noise
# spectrum are about 7.9 dB apart per bin, where a smooth estimate of it,
# like Griffin-Lim's, is about 6 dB from either).
# For the first file (or the one given) it also draws the spectrograms of the
# input, the resynthesis and the Griffin-Lim reconstruction as PNGs.
#
#   pipelines/wavenet-vocoder-demo.sh [BUILD_DIR] [OUT_DIR] [IN.wav …]
#
# Needs the Debian package asterisk-core-sounds-en-wav unless files are
# given (or ARGEN_AUDIO_DATA names another folder of prompts).  OUT_DIR
# defaults to BUILD_DIR/vocoder-demo.  The plugin in BUILD_DIR is used (GST_PLUGIN_PATH), with its
# embedded vocoder unless VOCODER=M.gguf is set; TEMPERATURE (default 0.5,
# the element's) and SEED (default 1) are passed to the element;
# PRE_EMPHASIS overrides the model's for the µ-law column.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=${1:-$top/build}
out=${2:-$build/vocoder-demo}
shift $(( $# >= 2 ? 2 : $# ))
argen=$build/tools/argen
data=${ARGEN_AUDIO_DATA:-/usr/share/asterisk/sounds/en_US_f_Allison}
# said here: the listing below hides argen's errors, and a missing argen
# would read as missing data
[ -x "$argen" ] && [ -d "$build/plugin" ] || {
  echo "$build is not a build directory of gst-argen (no tools/argen or plugin/): build it (meson setup $build && ninja -C $build) or name yours" >&2
  exit 1
}

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  mapfile -t files < <("$argen" baselines --data "$data" --list 2>/dev/null |
    sed -n 's/^held out: //p')
fi
[ ${#files[@]} -gt 0 ] || { echo "no input files: no held-out prompts in $data (install asterisk-core-sounds-en-wav, set ARGEN_AUDIO_DATA or name files)" >&2; exit 1; }
mkdir -p "$out"

model=()
[ -n "${VOCODER:-}" ] && model=("model=$VOCODER")
emphasis=${PRE_EMPHASIS:-}
# the model the element runs: VOCODER, or the one embedded in the plugin
# (built from this file of the source tree)
used=${VOCODER:-$top/plugin/defaults/wavenet-vocoder.gguf}
if [ -z "$emphasis" ] && [ -f "$used" ]; then
  emphasis=$("$argen" info "$used" | sed -n 's/^ *wavenet\.pre_emphasis *= *//p')
fi
mulaw=(--mulaw)
[ -n "$emphasis" ] && mulaw+=(--pre-emphasis "$emphasis")
export GST_PLUGIN_PATH=$build/plugin${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}

seed=${SEED:-1}
printf '%-40s %10s %14s %10s %12s\n' file "vocoder dB" "Griffin-Lim dB" "µ-law dB" \
  "seed+1 dB"
sum_v=0 sum_g=0 sum_m=0 sum_s=0 n=0
for f in "${files[@]}"; do
  name=$(basename "$f" .wav)
  for s in "$seed" "$((seed + 1))"; do
    [ "$s" = "$seed" ] && wav=$out/$name-vocoder.wav || wav=$out/$name-vocoder-seed$s.wav
    gst-launch-1.0 -q filesrc location="$f" ! decodebin ! audioconvert ! audioresample ! \
      wavenetvocoder "${model[@]}" seed="$s" temperature="${TEMPERATURE:-0.5}" ! \
      audioconvert ! wavenc ! filesink location="$wav"
  done
  v=$("$argen" audio-compare "$f" "$out/$name-vocoder.wav" | sed -n 's/.*: \([0-9.]*\) dB.*/\1/p' | head -1)
  sv=$("$argen" audio-compare "$out/$name-vocoder.wav" "$wav" | sed -n 's/.*: \([0-9.]*\) dB.*/\1/p' | head -1)
  gm=$("$argen" audio-compare "$f" "$f" "${mulaw[@]}" --griffin-lim "$out/$name-griffin-lim.wav")
  m=$(echo "$gm" | sed -n 's/.*µ-law and back[^:]*: \([0-9.]*\) dB.*/\1/p')
  g=$(echo "$gm" | sed -n 's/.*Griffin-Lim.*: \([0-9.]*\) dB.*/\1/p')
  printf '%-40s %10s %14s %10s %12s\n' "$name" "$v" "$g" "$m" "$sv"
  sum_v=$(awk "BEGIN { print $sum_v + $v }"); sum_g=$(awk "BEGIN { print $sum_g + $g }")
  sum_m=$(awk "BEGIN { print $sum_m + $m }"); sum_s=$(awk "BEGIN { print $sum_s + $sv }")
  n=$((n + 1))
  if [ $n -eq 1 ]; then
    "$argen" spectrogram "$f" "$out/$name-input.png"
    "$argen" spectrogram "$out/$name-vocoder.wav" "$out/$name-vocoder.png"
    "$argen" spectrogram "$out/$name-griffin-lim.wav" "$out/$name-griffin-lim.png"
  fi
done
awk "BEGIN { printf \"%-40s %10.3f %14.3f %10.3f %12.3f\\n\", \"mean of $n\", $sum_v / $n, $sum_g / $n, $sum_m / $n, $sum_s / $n }"
echo "wrote $out (WAVs of every file, spectrograms of the first)"
