#!/usr/bin/env bash
# gpu_load.sh: ResNet-50 session creation time on the GPU, cold and warm, with a plan cache
# (docs/CUDA_BACKEND.md, "Plan cache"). Runs on the GPU machine from the repository root, with
# the binaries scripts/gpu_pack.sh packed (bin/tfmq_gpu_run) and PyTorch for the export (then
# the same from "cuda" engine files, ENGINE_PRECS, default int8):
#   bench/gpu_load.sh BIN_DIR [PRECISIONS] [BATCHES]      (default: "int8 fp16", "256 1")
#   MODES="cache engine" (default: both parts), ENGINE_PRECS (default "int8")
# For each precision and batch: a fresh plan cache, one cold session (autotuning; the cache and
# its serialized plans are written), then three warm ones. Prints tfmq_gpu_run's create_ms
# (model already quantized in memory; CUDA context, cuDNN handles, plans, memory, constants) and
# the speed, so that a faster load is seen not to cost speed. The debug log of the last warm
# session says where its time went.
set -u
BIN=${1:?usage: bench/gpu_load.sh BIN_DIR [PRECISIONS] [BATCHES]}
PRECS=${2:-int8 fp16}
BATCHES=${3:-256 1}
W=${TMPDIR:-/tmp}/tfmq-gpu-load
mkdir -p "$W"
if [ ! -f "$W/resnet50.onnx" ]; then
  python3 - "$W/resnet50.onnx" <<'PY'
import sys; sys.path.insert(0, "bench")
import gpu_bench as gb
m, shape = gb.build("resnet50")
gb.export("resnet50", m, shape, sys.argv[1])
PY
fi
MODES=${MODES:-cache engine} # which parts run: plan cache files, "cuda" engine files
for b in $BATCHES; do
  case " $MODES " in *" cache "*) ;; *) break ;; esac
  for p in $PRECS; do
    pc="$W/plans_${p}_b$b.txt"
    rm -rf "$pc" "$pc.d"
    for k in cold warm1 warm2 warm3; do
      log="$W/r50_${p}_b${b}_$k.log"
      TFMQ_GPU_RUN_LOG=debug TFMQ_CUDA_PLAN_CACHE="$pc" timeout 300 "$BIN/tfmq_gpu_run" \
        "$W/resnet50.onnx" --precision "$p" --batch "$b" --runs 5 --iters 20 > "$log" 2>&1
      echo "resnet50 $p b$b $k rc=$? $(tail -1 "$log" | grep -o '"create_ms": [0-9.]*.*"gpu_ms": [0-9.]*') $(tail -1 "$log" | grep -o '"plans_cached.*')"
    done
    grep -o "exec timing.*" "$log" | head -1
    echo "  serialized plans used: $(grep -c 'from JSON' "$log"); files: $(ls "$pc.d" 2>/dev/null | wc -l)"
  done
done
# "cuda" engines that carry their plans (docs/CUDA_BACKEND.md, "Plans in engine files"): the cold
# run quantizes, plans (wide search, no plan cache file) and writes the engine with
# tfmq_gpu_run --save-planned; the warm runs load that engine with no plan cache file at all.
for b in $BATCHES; do
  case " $MODES " in *" engine "*) ;; *) break ;; esac
  for p in ${ENGINE_PRECS:-int8}; do
    eng="$W/r50_${p}_b$b.tfmq"
    rm -f "$eng"
    log="$W/r50_${p}_b${b}_engine_cold.log"
    TFMQ_CUDA_PLAN_CACHE= timeout 400 "$BIN/tfmq_gpu_run" "$W/resnet50.onnx" --precision "$p" \
      --batch "$b" --runs 5 --iters 20 --save-planned "$eng" > "$log" 2>&1
    rc=$?
    echo "resnet50 $p b$b engine cold rc=$rc ($(stat -c %s "$eng" 2>/dev/null) bytes) $(tail -1 "$log" | grep -o '"create_ms": [0-9.]*.*"gpu_ms": [0-9.]*') $(tail -1 "$log" | grep -o '"plans_cached.*')"
    for k in warm1 warm2 warm3; do
      log="$W/r50_${p}_b${b}_engine_$k.log"
      TFMQ_GPU_RUN_LOG=debug TFMQ_CUDA_PLAN_CACHE= timeout 300 "$BIN/tfmq_gpu_run" "$eng" \
        --batch "$b" --runs 5 --iters 20 > "$log" 2>&1
      echo "resnet50 $p b$b engine $k rc=$? $(tail -1 "$log" | grep -o '"create_ms": [0-9.]*.*"gpu_ms": [0-9.]*') $(tail -1 "$log" | grep -o '"plans_cached.*')"
    done
    echo "  serialized plans used: $(grep -c 'from JSON' "$log")"
  done
done
