#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Recipe for the default WaveNet speech model, wavenet-allison.gguf (embedded
# as plugin/defaults/wavenet-speech.gguf): an
# unconditional WaveNet trained by `argen train wavenet` on the prompts of
# the Debian package asterisk-core-sounds-en-wav (one speaker, Allison
# Smith; 8 kHz 16-bit mono; CC-BY-SA-3.0), then scored on the held-out
# files next to the unigram and order-16 linear-prediction baselines.
#
#   pipelines/recipes/train-default-wavenet.sh [BUILD_DIR] [OUT_DIR] [STEPS]
#   (OUT_DIR defaults to BUILD_DIR/recipes; ARGEN_AUDIO_DATA replaces the
#   package's folder, as the --data of argen train wavenet)
#
# Data: the package's "568 prompts" are every WAV file under
# /usr/share/asterisk/sounds/en_US_f_Allison, its sub-folders included —
# 358 in the folder itself and 210 in digits/ (94), letters/ (61),
# phonetic/ (27), dictate/ (12), silence/ (10) and followme/ (6); 24.6
# minutes in all.  `--data DIR` lists them recursively, sorted by path, and
# holds out every 20th (files 0, 20, 40, …: 29 files, 148 s, 1,186,991
# samples); `argen baselines` scores the same files: unigram 7.52
# bits/sample, LPC-16 with a Laplace residual 6.31.
#
# Shape: 2 stacks of 8 dilated layers (dilations 1 … 128, receptive field 512
# samples, 64 ms), R 32, G 64, S 64, O 128: 155k multiply-adds per sample,
# which bench-wavenet generates at about 50,000 samples/s on one core with
# F32 weights (6× real time at 8 kHz; the issue asks for 5×).  Windows of
# 2048 samples (1537 scored inside a file), 8 a step.
#
# Time: measured (after 03:15 UTC on 2026-11-29, the other core busy with
# another training) at 41,700 scored samples/s on one core —
#   argen train wavenet --data DIR --out A.gguf --steps 60 --warmup 5 \
#     --holdout-every 0 --threads 1 (this shape)
# — so 4000 steps (49 M scored samples, 4.5 passes over the 11 M training
# samples) take about 20 minutes, plus about 10 s for each of the 8
# validations over the 1.19 M held-out samples.  The run that made the
# embedded plugin/defaults/wavenet-speech.gguf (2026-11-29, beside the
# vocoder's and other work) took 21 minutes: held-out 4.75, 4.48, 4.33,
# 4.27, 4.19, 4.14, 4.11 and 4.10 bits/sample after 500 … 4000 steps, against
# unigram 7.52 and LPC-16 6.31 on the same files (log and curves in
# docs/models/wavenet-speech.{csv,png}).  More steps still help (7000 were
# planned; the session's time decided 4000).
#
# Output high-pass (--highpass 100, added after that run: the embedded file
# is its output given the key by `argen convert gguf --highpass 100`: what
# this recipe now writes, but for the recipe line in general.source.recipe):
# the prompts have nothing below about 120 Hz (0-94 Hz at
# −52 … −27 dB where 190 Hz is at +2 dB, averaged over loud frames), but an
# autoregressive model cannot generate a spectral gap, and the model's
# audio had −18 … −15 dB there; through the filter −50 … −23 dB.  It
# changes the decode only: training and bits per sample are the same.
#
# Interrupt it with Ctrl-C and run it again: it resumes from its checkpoint.
# Deterministic given the seed, whatever the number of threads.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${1:-$top/build}
out=${2:-$build/recipes}
steps=${3:-4000}
[[ $steps =~ ^[1-9][0-9]*$ ]] || { echo "STEPS '$steps' is not a number of steps (1 or more)" >&2; exit 2; }
# the warm-up: 200 steps, or a tenth of a shorter run (argen train's default
# rule), so that a quick try with a small STEPS runs too
warmup=$(( steps / 10 < 200 ? steps / 10 : 200 ))
data=${ARGEN_AUDIO_DATA:-/usr/share/asterisk/sounds/en_US_f_Allison}
argen=$build/tools/argen
# (a folder, a glob or one file of ARGEN_AUDIO_DATA is argen's to check)
[ -n "${ARGEN_AUDIO_DATA:-}" ] || [ -d "$data" ] || { echo "$data: no such folder (install the Debian package asterisk-core-sounds-en-wav, or set ARGEN_AUDIO_DATA to a folder of prompts)" >&2; exit 1; }
mkdir -p "$out"

resume=()
[ -f "$out/wavenet-allison.ckpt" ] && resume=(--resume)

"$argen" train wavenet --data "$data" --out "$out/wavenet-allison.gguf" \
  --rate 8000 --residual 32 --gate 64 --skip 64 --output 128 --stacks 2 \
  --layers-per-stack 8 --window 2048 --batch 8 --highpass 100 \
  --holdout-every 20 --steps "$steps" --warmup "$warmup" --lr 2e-3 --lr-min 1e-4 \
  --weight-decay 0.01 --clip 1 \
  --eval-every 500 --checkpoint-every 100 --seed 1 --threads 1 --keep-best \
  --name "gst-argen default WaveNet (unconditional speech, 8 kHz, Allison)" \
  --description "Unconditional 8 kHz µ-law WaveNet trained by pipelines/recipes/train-default-wavenet.sh on the 568 prompts of asterisk-core-sounds-en-wav (Allison Smith's voice, CC-BY-SA-3.0), every 20th file of the sorted list held out." \
  "${resume[@]}"

"$argen" eval "$out/wavenet-allison.gguf" --data "$data" --threads 1
"$argen" baselines --data "$data"
