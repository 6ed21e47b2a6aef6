#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Recipe for the default non-autoregressive text model, nar-shakespeare.gguf:
# a bidirectional Llama-style encoder (RMSNorm, rotary positions, SwiGLU) of
# 2 blocks, width 64, 4 heads, feed-forward 192, over 96 positions: a
# context of up to 32 characters followed by N = 64 slots (about 0.11 M
# parameters), trained by `argen train nar` for Mask-Predict on the same
# text, split and character vocabulary as the default Transformer
# (train-default-transformer.sh: tiny-shakespeare, first 90 % train, last
# 10 % held out), so that the Transformer can score what it writes.
#
#   pipelines/recipes/train-default-nar.sh [BUILD_DIR] [OUT_DIR] [STEPS]
#   (OUT_DIR defaults to BUILD_DIR/recipes; ARGEN_DATA is the folder of
#   tinyshakespeare.txt, by default ../shared/data beside the source tree)
#
# Why this shape.  The point of a non-autoregressive model is speed: with
# T = 1 Mask-Predict iteration it must write text at least 5x faster per
# token than the default Transformer decodes it (the issue's target).  The
# Transformer (4 x 128, 0.82 M parameters) decodes with matrix-vector
# products through its KV cache, about 110 us a token on one core of the
# development machine.  One NAR pass is matrix-matrix work over all c + N
# positions (context and slots) and yields N tokens, so its cost per token
# is (c + N) / N passes' worth of positions; a pass costs about 5 us per
# position and block at width 64 (2.6 ms for 128 positions through 4
# blocks, measured with bench-nar --cpu-time while the machine was busy).
# Per token that is (c + N) / N x blocks x 5 us, against the 5x budget of
# about 22 us: 4 blocks over 128 positions with 64 slots measured 2.9x, 3
# blocks over 96 positions 5.2-5.7x, 2 blocks over 96 positions 6.8x.  So
# 2 blocks, 64 slots and 32 characters of context: the margin is worth more
# than a third block, since NAR text at T = 1 is poor at any size (each slot
# is predicted without knowing what the others chose) and the quality comes
# from the refinement iterations.  Width 64 rather than less: narrower
# products ran no faster per position (sgemm's efficiency falls with them).
#
# Training: each step 32 windows of c + 64 characters with one c uniform in
# [1, 32], and in each window 1 to 64 of the slots masked (uniformly), the
# loss on the masked slots only; validation scores every held-out character
# as a slot of an all-masked pass after 32 characters of context (what the
# first iteration sees), in nats/char over the 65 text characters.  20000
# steps, one thread (--threads 1: the recipe shares the machine), about 18
# minutes at 47,000 positions/s, plus 2-3 s for each of the 20 validations.
# The best validation is kept (--keep-best).
#
# This recipe, run on 2026-11-29 beside the PixelCNN training (which held
# one and a half cores), took 21 minutes (25,000-41,000 positions/s) and
# kept the model of step 17000: 3.2885 nats/char on the held-out text with
# all 64 slots masked after 32 characters (the unigram distribution of the
# training text scores 3.3473: a character tens of positions past the
# context is barely predictable without the ones before it, which is what
# the refinement iterations supply).  Log and curves in
# docs/models/nar-shakespeare.{csv,png} (the CSV thinned to every 10th step
# and every validation).  bench-nar on it (8 held-out contexts, 128
# greedy characters each, one thread, CPU time, PixelCNN training running):
# T = 1 51,000 characters/s, 6.3x the default Transformer's 8,100
# (wall time: 43,600 vs 7,400, 5.9x; after the PixelCNN run, with one
# other benchmark on the second core, 61,900 vs 9,600, 6.45x); the AR
# model's NLL of the text falls from 8.57 nats/char at T = 1 to 3.59 at
# T = 8 and 2.28 at T = 64, against 0.78 for its own greedy text
# (docs/models/nar-maskpredict.{csv,png}).
#
# Interrupt it with Ctrl-C and run it again: it resumes from its checkpoint.
# Deterministic given the seed, whatever the number of threads.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${1:-$top/build}
out=${2:-$build/recipes}
steps=${3:-20000}
[[ $steps =~ ^[1-9][0-9]*$ ]] || { echo "STEPS '$steps' is not a number of steps (1 or more)" >&2; exit 2; }
# the warm-up: 200 steps, or a tenth of a shorter run (argen train's default
# rule), so that a quick try with a small STEPS runs too
warmup=$(( steps / 10 < 200 ? steps / 10 : 200 ))
data=${ARGEN_DATA:-$top/../shared/data}/tinyshakespeare.txt
argen=$build/tools/argen
[ -f "$data" ] || { echo "$data: no such file (tiny-shakespeare; ARGEN_DATA names the folder that holds tinyshakespeare.txt)" >&2; exit 1; }
mkdir -p "$out"

resume=()
[ -f "$out/nar-shakespeare.ckpt" ] && resume=(--resume)

"$argen" train nar --data "$data" --out "$out/nar-shakespeare.gguf" \
  --layers 2 --dim 64 --heads 4 --kv-heads 4 --hidden 192 \
  --context 96 --slots 64 --vocab char --batch 32 --threads 1 \
  --steps "$steps" --warmup "$warmup" --lr 3e-3 --lr-min 1e-4 --weight-decay 0.1 --clip 1 \
  --val-fraction 0.1 --eval-every 1000 --checkpoint-every 250 \
  --seed 1 --keep-best \
  --name "gst-argen default non-autoregressive text model (bidirectional Llama-style, 2x64, 64 slots, tiny-shakespeare)" \
  --description "Character-level bidirectional Llama-style encoder for Mask-Predict (64 slots after up to 32 characters), trained by pipelines/recipes/train-default-nar.sh on tiny-shakespeare (Shakespeare's text is public domain; the tiny-shakespeare selection is from karpathy/char-rnn, MIT), first 90% for training, last 10% held out." \
  "${resume[@]}"

"$argen" eval "$out/nar-shakespeare.gguf" --data "$data" --threads 1
