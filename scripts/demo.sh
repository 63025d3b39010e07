#!/usr/bin/env bash
# The demo (`make demo`): quantize the bundled Fashion-MNIST CNN with tfmq and measure what it
# costs, as TFModelQuantizer's notebook did.
#   1. data: 500 training images for calibration, the 10,000 test images, 3 test PNGs
#      (scripts/make_demo_data.py, numpy only) in .cache/demo/;
#   2. tfmq quantize to fp32, fp16 and int8 (percentile calibration on the 500 images);
#   3. test accuracy of every engine on all 10,000 test images (tfmq run + numpy), beside the
#      FP32 ONNX model's, checked against the targets (int8 within 0.3 points, fp16 within 0.05);
#   4. tfmq predict: top-3 classes of one test image per precision;
#   5. tfmq bench: latency, throughput, speed-up and fidelity table, chart in .cache/demo/bench.png.
# Usage: bash scripts/demo.sh BUILD_DIR      (BUILD_DIR holds the tfmq binary; default: build)
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${1:-build}
TFMQ=$BUILD/tfmq
MODEL=models/fashion_mnist_cnn.onnx
LABELS=models/fashion_mnist_labels.txt
DEMO=.cache/demo
PY=/usr/bin/python3
PRECISIONS="fp32 fp16 int8"

if [ ! -x "$TFMQ" ]; then
  echo "demo: $TFMQ not found: build first (make build)" >&2
  exit 1
fi
t_start=$(date +%s.%N)
elapsed() { awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $t_start }"; }

echo "== data: Fashion-MNIST -> $DEMO (calib.npy [500,1,28,28], test_x.npy, test_y.npy, PNGs)"
if [ ! -f "$DEMO/calib.npy" ] || [ ! -f "$DEMO/test_x.npy" ] || [ ! -f "$DEMO/test_y.npy" ] ||
   [ ! -f "$DEMO/truth.tsv" ]; then
  $PY scripts/make_demo_data.py data "$DEMO" --calib 500 --images 3
fi

for p in $PRECISIONS; do
  echo
  echo "== tfmq quantize $MODEL --precision $p"
  calib=()
  if [ "$p" = int8 ]; then calib=(--calib "$DEMO/calib.npy"); fi
  "$TFMQ" quantize "$MODEL" --precision "$p" "${calib[@]}" \
    --report "$DEMO/report_$p.json" -o "$DEMO/model_$p.tfmq" --force
done

echo
echo "== test accuracy on all 10000 test images (tfmq run, two at a time; numpy argmax)"
names=(onnx $PRECISIONS)
files=("$MODEL")
for p in $PRECISIONS; do files+=("$DEMO/model_$p.tfmq"); done
run_one() {  # name file
  "$TFMQ" run "$2" --input "$DEMO/test_x.npy" --output-dir "$DEMO/out_$1" --force >/dev/null
}
pids=()
for i in "${!names[@]}"; do
  run_one "${names[$i]}" "${files[$i]}" &
  pids+=($!)
  if [ ${#pids[@]} -ge 2 ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for pid in "${pids[@]}"; do wait "$pid"; done
declare -A acc
for n in "${names[@]}"; do
  acc[$n]=$($PY scripts/make_demo_data.py accuracy "$DEMO" "$DEMO/out_$n/logits.npy")
done
ref=$($PY -c 'import json; print("%.2f" % (100 * json.load(open("models/fashion_mnist_cnn.json"))["test_accuracy"]))')
printf '%-10s %-32s %9s %10s\n' model file accuracy "vs FP32"
printf '%-10s %-32s %8s%% %10s\n' "FP32 ONNX" "$MODEL" "${acc[onnx]}" "-"
for p in $PRECISIONS; do
  d=$(awk "BEGIN { printf \"%+.2f\", ${acc[$p]} - ${acc[onnx]} }")
  printf '%-10s %-32s %8s%% %10s\n' "$p" "$DEMO/model_$p.tfmq" "${acc[$p]}" "$d"
done
echo "(PyTorch measured $ref % at training time)"
verdict() {  # precision max_drop
  awk "BEGIN { d = ${acc[$1]} - ${acc[onnx]}; printf \"%s: %+.2f points vs FP32 (target: at most %s below): %s\n\", \"$1\", d, \"$2\", (-d <= $2 + 1e-9 ? \"met\" : \"NOT MET\") }"
}
verdict int8 0.3
verdict fp16 0.05

echo
IFS=$'\t' read -r png truth < "$DEMO/truth.tsv"
echo "== tfmq predict $DEMO/$png (true class: $truth), top 3 per precision"
for i in "${!names[@]}"; do
  echo "${names[$i]}: ${files[$i]}"
  "$TFMQ" predict "${files[$i]}" "$DEMO/$png" --preprocess unit --labels "$LABELS" --top 3 |
    sed -n 's/^  \([0-9]\)\. /    \1. /p'
done

echo
echo "== tfmq bench $MODEL (int8 calibrated on $DEMO/calib.npy), chart: $DEMO/bench.png"
"$TFMQ" bench "$MODEL" --precisions fp32,fp16,int8 --batch 1,8,32 --calib "$DEMO/calib.npy" \
  --min-time 0.3 --fidelity-samples 64 --json "$DEMO/bench.json" --chart "$DEMO/bench.png" --force

echo
echo "demo finished in $(elapsed) s"
