#!/usr/bin/env bash
# gpu_check.sh: on a GPU machine, run the GPU tests and the benchmark against PyTorch, printing a
# short table last (what `make gpu-check` runs).
#   scripts/gpu_check.sh [BUILD_DIR] [gpu_bench.py options]
# With a BUILD_DIR built here (make build with the CUDA backend) it runs that build. On a machine
# without our Debian packages, scripts/gpu_pack.sh makes .gpu/bundle.tar.xz elsewhere: then this
# script unpacks it, finds the machine's cuDNN and cuBLASLt, and runs the bundle
# (GPU_BUNDLE=.gpu/bundle.tar.xz). Logs and results go to ${OUT:-.cache/gpu-check}.
set -uo pipefail
cd "$(dirname "$0")/.."
OUTDIR=${OUT:-.cache/gpu-check}
mkdir -p "$OUTDIR"
B=${1:-build}
[ $# -gt 0 ] && shift
if [ -n "${GPU_BUNDLE:-}" ]; then
  B=/tmp/tfmq-gpu
  rm -rf "$B" && mkdir -p "$B" && tar -C "$B" -xJf "$GPU_BUNDLE"
  libdirs=$(find / -xdev \( -name 'libcudnn.so.9' -o -name 'libcublasLt.so.13' \) 2>/dev/null \
            | xargs -r -n1 dirname | sort -u | tr '\n' ':')
  export LD_LIBRARY_PATH="$B/lib:${libdirs}${LD_LIBRARY_PATH:-}"
  export TFMQ_SHARED=${TFMQ_SHARED:-$PWD/.gpu/shared}
  RUN="$B/bin/tfmq_gpu_run"
  TESTS=$(ls "$B"/bin/test_cuda_* 2>/dev/null)
else
  RUN="$B/tfmq_gpu_run"
  TESTS=$(ls "$B"/tests/gpu/test_cuda_* 2>/dev/null)
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
fails=0
summary=""
for t in $TESTS; do
  n=$(basename "$t")
  start=$(date +%s)
  timeout "${GPU_TEST_TIMEOUT:-600}" "$t" > "$OUTDIR/$n.log" 2>&1
  rc=$?
  tail -n 3 "$OUTDIR/$n.log"
  summary+="$(printf '%-22s rc=%d %4ds %s' "$n" "$rc" $(( $(date +%s) - start )) "$(tail -n 1 "$OUTDIR/$n.log")")\n"
  [ "$rc" -eq 0 ] || fails=$((fails + 1))
done
if [ -n "${GPU_SANITIZE:-}" ] && command -v compute-sanitizer >/dev/null; then
  for t in $TESTS; do
    n=$(basename "$t")
    compute-sanitizer --tool memcheck --error-exitcode 9 "$t" > "$OUTDIR/$n.memcheck.log" 2>&1
    rc=$?
    summary+="$(printf '%-22s memcheck rc=%d %s' "$n" "$rc" "$(grep -m1 'ERROR SUMMARY' "$OUTDIR/$n.memcheck.log")")\n"
    [ "$rc" -eq 0 ] || fails=$((fails + 1))
  done
fi
if [ -z "${GPU_NO_BENCH:-}" ]; then
  PYTHONUNBUFFERED=1 python3 bench/gpu_bench.py --tfmq-run "$RUN" --out "$OUTDIR/bench" "$@" \
    2> >(tee "$OUTDIR/bench.log" >&2) | tail -n 60
  rc=${PIPESTATUS[0]}
  summary+="gpu_bench.py rc=$rc\n"
  [ "$rc" -eq 0 ] || fails=$((fails + 1))
fi
printf '\n== gpu-check ==\n'"$summary"
exit $(( fails > 0 ))
