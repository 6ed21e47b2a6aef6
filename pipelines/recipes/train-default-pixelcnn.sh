#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Recipe for the default image model, pixelcnn-fashion.gguf: a
# class-conditional Gated PixelCNN (models/pixelcnn/ar-pixelcnn.h) of 8 layers
# of 32 features, kernels 7 then 3, 64 output hidden units, a 256-way softmax
# per 8-bit grey pixel (about 187,000 parameters), trained by
# `argen train pixelcnn` on Fashion-MNIST (Debian package
# dataset-fashion-mnist: 60,000 training and 10,000 test images of 28 × 28,
# 10 classes, MIT licence), then scored on the 10,000 test images in bits per
# dimension.  Target: test NLL <= 3.0 bits/dim.
#
#   pipelines/recipes/train-default-pixelcnn.sh [BUILD_DIR] [OUT_DIR] [STEPS]
#
# The last 5,000 training images are held out for validation (every 1,000
# steps, on 2,000 of them) and the best-validated model is kept (--keep-best);
# the test images are used only for the final score.  24,000 steps of 32
# images: 768,000 images, 14 passes over the 55,000 training images.
#
# Time: bench-pixelcnn --train measured the training graph of this shape at
# about 35 images per CPU second per core (13–14 images/s of wall time on a
# machine loaded with 6–8 other processes, 2026-11-29), and a 2-minute pilot
# of this recipe on that loaded machine ran at 19–26 images/s (validation
# 3.97 bits/dim after 50 steps, 3.68 after 100).  On two quiet cores expect
# about 60 images/s: 768,000 images in about 3.5 hours.  Scoring (forward
# only) ran at 106 images/s on the loaded machine: up to 20 s for each of
# the 24 validations (8 minutes in all) and 1–2 minutes for the final test
# score.
# Interrupt it with Ctrl-C and run it again: it resumes from its checkpoint,
# exactly (the result does not depend on the number of threads either).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${1:-$top/build}
out=${2:-$top/build/recipes}
steps=${3:-24000}
data=${ARGEN_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
argen=$build/tools/argen
mkdir -p "$out"

resume=()
[ -f "$out/pixelcnn-fashion.ckpt" ] && resume=(--resume)

"$argen" train pixelcnn \
  --data "$data/train-images-idx3-ubyte.gz" \
  --labels "$data/train-labels-idx1-ubyte.gz" \
  --class-names t-shirt-top,trouser,pullover,dress,coat,sandal,shirt,sneaker,bag,ankle-boot \
  --out "$out/pixelcnn-fashion.gguf" \
  --layers 8 --features 32 --first-kernel 7 --kernel 3 --output-hidden 64 \
  --levels 256 --batch 32 --steps "$steps" --warmup 500 --lr 2e-3 \
  --lr-min 5e-5 --weight-decay 0.01 --clip 1 --val-fraction 0.08334 \
  --eval-every 1000 --eval-images 2000 --checkpoint-every 200 --seed 1 \
  --keep-best \
  --name "gst-argen default image model (Gated PixelCNN, Fashion-MNIST)" \
  --description "Class-conditional Gated PixelCNN trained by pipelines/recipes/train-default-pixelcnn.sh on Fashion-MNIST (Zalando Research, MIT licence; Debian package dataset-fashion-mnist), the first 55,000 training images, the last 5,000 held out for validation." \
  "${resume[@]}"

"$argen" eval "$out/pixelcnn-fashion.gguf" \
  --data "$data/t10k-images-idx3-ubyte.gz" \
  --labels "$data/t10k-labels-idx1-ubyte.gz"
echo "to embed it: cp $out/pixelcnn-fashion.gguf $top/plugin/defaults/"
