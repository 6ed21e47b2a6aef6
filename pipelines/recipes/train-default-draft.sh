#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Recipe for the default draft model, transformer-draft.gguf: a small
# character-level Llama-style decoder (2 blocks of 64, 4 heads, feed-forward
# 176, context 128; about 0.11 M parameters, an eighth of the default
# Transformer's) trained on the same text, split and character vocabulary as
# the default Transformer (train-default-transformer.sh), so that it can
# draft for it: textgensrc mode=speculative uses it when no draft-model is
# set.  A draft is worth what it costs against how often the target accepts
# its tokens; this one is small enough to stay in the L2 cache.
#
#   pipelines/recipes/train-default-draft.sh [BUILD_DIR] [OUT_DIR] [STEPS]
#   (OUT_DIR defaults to BUILD_DIR/recipes; ARGEN_DATA is the folder of
#   tinyshakespeare.txt, by default ../shared/data beside the source tree)
#
# One thread (--threads 1), so that it can run beside other work.
# Measured 2026-11-29: 8000 steps of 32 x 128 tokens in about 21 minutes on
# one core of the 2-core development machine while two other trainings ran
# (34,000-58,000 tokens/s); held-out validation 1.7280 nats/char at step
# 1000, 1.5874 at 4500, 1.5596 at 6000, 1.5465 at 8000 (kept; the default
# Transformer reaches 1.4433).  Curves: docs/models/transformer-draft.*.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${1:-$top/build}
out=${2:-$build/recipes}
steps=${3:-8000}
[[ $steps =~ ^[1-9][0-9]*$ ]] || { echo "STEPS '$steps' is not a number of steps (1 or more)" >&2; exit 2; }
# the warm-up: 200 steps, or a tenth of a shorter run (argen train's default
# rule), so that a quick try with a small STEPS runs too
warmup=$(( steps / 10 < 200 ? steps / 10 : 200 ))
data=${ARGEN_DATA:-$top/../shared/data}/tinyshakespeare.txt
argen=$build/tools/argen
[ -f "$data" ] || { echo "$data: no such file (tiny-shakespeare; ARGEN_DATA names the folder that holds tinyshakespeare.txt)" >&2; exit 1; }
mkdir -p "$out"

resume=()
[ -f "$out/transformer-draft.ckpt" ] && resume=(--resume)

"$argen" train transformer --data "$data" --out "$out/transformer-draft.gguf" \
  --arch llama --layers 2 --dim 64 --heads 4 --kv-heads 4 --hidden 176 \
  --context 128 --vocab char --batch 32 --threads 1 \
  --steps "$steps" --warmup "$warmup" --lr 2e-3 --lr-min 1e-4 --weight-decay 0.1 --clip 1 \
  --val-fraction 0.1 --eval sliding --eval-every 500 --checkpoint-every 100 \
  --seed 1 --keep-best \
  --name "gst-argen default draft model (Llama-style, 2x64, tiny-shakespeare)" \
  --description "Small character-level Llama-style decoder, the speculative-decoding draft for the default Transformer, trained by pipelines/recipes/train-default-draft.sh on tiny-shakespeare (Shakespeare's text is public domain; the tiny-shakespeare selection is from karpathy/char-rnn, MIT), first 90% for training, last 10% held out." \
  "${resume[@]}"

"$argen" eval "$out/transformer-draft.gguf" --data "$data"
"$argen" eval "$out/transformer-draft.gguf" --data "$data" --sliding
