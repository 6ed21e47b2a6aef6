#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Recipe for the default neural vocoder, vocoder-allison.gguf (embedded as
# plugin/defaults/wavenet-vocoder.gguf): a WaveNet
# conditioned on log-mel frames of the audio it predicts (80 Slaney mels,
# n_fft 512, window 400, hop 80 — the front end of ar-mel.h, stored in the
# model), trained by `argen train wavenet --condition mel` on the prompts of
# the Debian package asterisk-core-sounds-en-wav (one speaker, Allison
# Smith; 8 kHz 16-bit mono; CC-BY-SA-3.0), then scored on the held-out
# files (the wavenetvocoder element re-synthesises speech with it).
#
#   pipelines/recipes/train-default-vocoder.sh [BUILD_DIR] [OUT_DIR] [STEPS]
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
# Shape: the unconditional default's (2 × 8 layers, R 32, G 64, S 64,
# O 128, receptive field 512) plus the mel path: a convolution over 3
# frames to 64 channels and a 64 → G projection per layer at the frame rate,
# interpolated to the samples — under 1 % more multiply-adds per sample.
# Windows of 2048 samples (1537 scored inside a file), 8 a step.
#
# Time: measured (after 03:15 UTC on 2026-11-29, the other core busy with
# another training) at 32,400 scored samples/s on one core —
#   argen train wavenet --data DIR --out M.gguf --steps 60 --warmup 5 \
#     --holdout-every 0 --threads 1 --condition mel (this shape)
# — so 3500 steps (43 M scored samples; the default is now 8000, below)
# take about 22 minutes, plus about
# 10 s for each of the 7 validations.  A pilot at a constant learning rate
# of 2e-3 reached 5.04, 4.70, 4.54 and 4.42 bits/sample after 250, 500, 750
# and 1000 steps; the mel frames carry information the samples do not (on
# agent-loginok.wav after 1000 steps: 3.96 bits/sample with its own frames,
# 4.46 with its frames rotated by half the file, 4.29 with silent frames).
# The first run (2026-11-29, raw log-mel frames into the cond convolution)
# reached held-out 4.76, 4.45, 4.28, 4.20, 4.11, 4.07 and 4.05 bits/sample
# after 500 … 3500 steps — barely below the unconditional model (4.75 …
# 4.10): the mels were hardly used.  The trainer now normalises each band
# (mean and deviation over the training frames, folded into the file's
# cond convolution when written), and the same recipe gives 4.59, 4.31,
# 4.07, 3.96, 3.87, 3.83 and 3.80 bits/sample (13 minutes on one core at
# about 47,000 scored samples/s beside a two-thread training); that model
# was embedded until the one below replaced it.
#
# Pre-emphasis (--pre-emphasis 0.85, LPCNet's noise shaping): the network
# models the classes of e_t = s_t − 0.85 s_{t−1} and the vocoder
# de-emphasises its output, so the 8-bit coding's white noise and the
# sampling's follow the speech's spectral tilt.  Validation figures are then
# bits of e's classes, not comparable with the figures above: e's unigram is
# 7.13 and its LPC-16 7.25 bits/sample (`argen baselines --pre-emphasis
# 0.85`).  What matters is the sound, measured over the 29 held-out prompts
# by pipelines/wavenet-vocoder-demo.sh as the log-spectral distance to the
# input (Griffin-Lim from the same mels: 5.54 dB; the input through the
# 8-bit µ-law: 7.21 dB, 5.23 dB with the pre-emphasis — `argen
# audio-compare --mulaw --pre-emphasis 0.85`), at temperature 1 and 0.5:
#   3500 steps, no pre-emphasis (3.80 bits/sample)   15.02 dB  13.91 dB
#   8000 steps, no pre-emphasis (3.50) *             13.19     12.35
#   3500 steps, pre-emphasis (4.35 of e)              13.14     12.44
#   8000 steps, pre-emphasis (4.06 of e)              11.85     11.27
#     the same, output high-pass 100 Hz               10.98     10.43
#   16000 steps, pre-emphasis, high-pass (3.87 of e)   9.92      9.51
#   32000 steps, pre-emphasis, high-pass (3.70 of e)   9.10      8.91
# (* resumed once at step 4000 before resuming a vocoder was made exact:
# its cond convolution restarted from the file's folded weights, the loss
# jumped to 7 bits/sample and recovered within a few hundred steps.)
# The output high-pass (--highpass 100) changes the decode only, not
# training: the prompts have nothing below about 120 Hz, which an
# autoregressive model cannot reproduce (`argen audio-compare --bands`:
# 0-125 Hz 25 dB from the input at +19.8 dB level without it, 11 dB at
# +5.3 with it, on activated.wav).  The runs above were trained without the
# option and given the key afterwards by `argen convert gguf --highpass
# 100`: the file this recipe now writes, but for the recipe line recorded
# in its general.source.recipe.
# The last is this recipe's default and the embedded
# plugin/defaults/wavenet-vocoder.gguf (docs/models/wavenet-vocoder.{csv,
# png}): held out 4.57, 4.33, 4.19, 4.12, 4.07, 3.99, 3.93, 3.89, 3.86,
# 3.82, 3.78, 3.75, 3.73, 3.71, 3.70 and 3.70 bits/sample after 2000 …
# 32000 steps (3.6973 at step 31500, the file kept); 2026-11-29, run in
# three sittings with --threads 2 (the last 20,000 steps in 62 minutes at
# about 62,800 scored samples/s on the otherwise idle machine, so about
# 100 minutes in all; one thread: about 47,000, about 2 h 15).  The results
# do not depend on the number of threads, nor on the sittings (it resumes
# exactly).  8000 → 16000 steps gave 0.8 dB, 16000 → 32000 0.6 dB.  Two
# draws of this vocoder that differ only in the seed are 7.5 dB apart
# (temperature 0.5): docs/design-notes.md explains why no sampling
# vocoder gets near Griffin-Lim on this measure.
#
# Interrupt it with Ctrl-C and run it again: it resumes from its checkpoint.
# Deterministic given the seed, whatever the number of threads.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${1:-$top/build}
out=${2:-$build/recipes}
steps=${3:-32000}
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
[ -f "$out/vocoder-allison.ckpt" ] && resume=(--resume)

"$argen" train wavenet --data "$data" --out "$out/vocoder-allison.gguf" \
  --rate 8000 --residual 32 --gate 64 --skip 64 --output 128 --stacks 2 \
  --layers-per-stack 8 --window 2048 --batch 8 \
  --condition mel --n-mels 80 --n-fft 512 --win-length 400 --hop 80 \
  --cond-channels 64 --pre-emphasis 0.85 --highpass 100 \
  --holdout-every 20 --steps "$steps" --warmup "$warmup" --lr 2e-3 --lr-min 1e-4 \
  --weight-decay 0.01 --clip 1 \
  --eval-every 500 --checkpoint-every 100 --seed 1 --threads 1 --keep-best \
  --name "gst-argen default WaveNet vocoder (log-mel conditioned, 8 kHz, Allison)" \
  --description "8 kHz µ-law WaveNet conditioned on 80 log-mel bands (n_fft 512, window 400, hop 80), pre-emphasis 0.85, trained by pipelines/recipes/train-default-vocoder.sh on the 568 prompts of asterisk-core-sounds-en-wav (Allison Smith's voice, CC-BY-SA-3.0), every 20th file of the sorted list held out." \
  "${resume[@]}"

"$argen" eval "$out/vocoder-allison.gguf" --data "$data" --threads 1
