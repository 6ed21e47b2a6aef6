#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Recipe for the embedded default text model, plugin/defaults/rnn-shakespeare.gguf:
# a 1-layer GRU-512 (embedding 64) trained by `argen train` on tiny-shakespeare
# (first 90 % train, last 10 % held out), then scored on the held-out 10 %.
# The model kept is the one with the lowest validation loss (--keep-best).
#
#   pipelines/recipes/train-default-rnn.sh [BUILD_DIR] [OUT_DIR] [STEPS]
#   (OUT_DIR defaults to BUILD_DIR/recipes; ARGEN_DATA is the folder of
#   tinyshakespeare.txt, by default ../shared/data beside the source tree)
#
# Takes about 25-40 minutes on two cores.  Interrupt it with Ctrl-C and run it
# again: it resumes from its checkpoint.  Deterministic given the seed (same
# machine, same number of BLAS threads).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${1:-$top/build}
out=${2:-$build/recipes}
steps=${3:-3000}
[[ $steps =~ ^[1-9][0-9]*$ ]] || { echo "STEPS '$steps' is not a number of steps (1 or more)" >&2; exit 2; }
# the warm-up: 100 steps, or a tenth of a shorter run (argen train's default
# rule), so that a quick try with a small STEPS runs too
warmup=$(( steps / 10 < 100 ? steps / 10 : 100 ))
data=${ARGEN_DATA:-$top/../shared/data}/tinyshakespeare.txt
argen=$build/tools/argen
[ -f "$data" ] || { echo "$data: no such file (tiny-shakespeare; ARGEN_DATA names the folder that holds tinyshakespeare.txt)" >&2; exit 1; }
mkdir -p "$out"

resume=()
[ -f "$out/rnn-shakespeare.ckpt" ] && resume=(--resume)

"$argen" train rnn --data "$data" --out "$out/rnn-shakespeare.gguf" \
  --cell gru --layers 1 --embedding 64 --hidden 512 --vocab char \
  --seq 128 --batch 32 --steps "$steps" --warmup "$warmup" --lr 2e-3 --lr-min 1e-4 \
  --weight-decay 0.01 --clip 1 --val-fraction 0.1 --eval-every 500 \
  --checkpoint-every 100 --seed 1 --keep-best \
  --name "gst-argen default text model (GRU-512, tiny-shakespeare)" \
  --description "Character-level GRU trained by pipelines/recipes/train-default-rnn.sh on tiny-shakespeare (Shakespeare's text is public domain; the tiny-shakespeare selection is from karpathy/char-rnn, MIT), first 90% for training, last 10% held out." \
  "${resume[@]}"

"$argen" eval "$out/rnn-shakespeare.gguf" --data "$data"
"$argen" eval "$out/rnn-shakespeare.gguf" --data "$data" --window 128
echo "to embed it: cp $out/rnn-shakespeare.gguf $top/plugin/defaults/"
