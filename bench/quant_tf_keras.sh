#!/usr/bin/env bash
# quant_tf_keras.sh: INT8 and FP16 fidelity of the shared TensorFlow and Keras models, quantized
# straight from their native files (no ONNX in between). Real photos calibrate the image models;
# kws_dscnn and ad01 have no real data here, so seeded random inputs stand in (said below).
# Usage: bench/quant_tf_keras.sh [BUILD_DIR]   (default build); prints one block per model.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shared=../shared
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 - "$work" <<'PY'
import sys, numpy as np
rng = np.random.default_rng(0)
np.save(sys.argv[1] + "/kws.npy", (rng.standard_normal((64, 49, 10, 1)) * 10).astype(np.float32))
np.save(sys.argv[1] + "/ad01.npy", rng.standard_normal((64, 640)).astype(np.float32))
PY
run() {
    local model=$1; shift
    echo "== $model ($*)"
    "$build/tfmq" quantize "$shared/models/$model" --precision int8 "$@" -o "$work/q.tfmq" --force |
        grep -E "calibration|top-1 agreement|output SQNR"
    "$build/tfmq" quantize "$shared/models/$model" --precision fp16 "$@" -o "$work/h.tfmq" --force |
        grep -E "output SQNR" | sed 's/^  output/  fp16 output/'
}
run resnet8_cifar10/model.h5 --calib "$shared/data/images" --preprocess raw
run vww96_mobilenet/model.h5 --calib "$shared/data/images" --preprocess unit
run ad01_autoencoder/model.h5 --calib "$work/ad01.npy"        # random normal inputs
run kws_dscnn/saved_model --calib "$work/kws.npy"              # random MFCC-like inputs (std 10)
