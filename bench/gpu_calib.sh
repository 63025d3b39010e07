#!/usr/bin/env bash
# gpu_calib.sh: INT8 calibration of ResNet-50 on the CPU and on the GPU (TFMQ_CALIB_DEVICE,
# docs/QUANTIZATION.md "Where calibration runs"), timed as the whole `tfmq quantize` command with
# N calibration samples (default 500) and a one-sample fidelity report, so that the time is
# mostly calibration. Runs on the GPU machine from the repository root, with the binaries
# scripts/gpu_pack.sh packed (BIN_DIR = the unpacked bundle's bin/) or with a CUDA build dir:
#   bench/gpu_calib.sh RESNET50.onnx BIN_DIR [N]
# The data: one .npy of N samples of shape $SHAPE (default 3,224,224: torchvision's ResNet-50),
# 16 distinct Gaussian samples repeated, made with python3's standard library (no numpy); the
# values change the ranges, not the work. Prints a two-row table: device, seconds, samples/s.
set -euo pipefail
MODEL=${1:?usage: bench/gpu_calib.sh RESNET50.onnx BIN_DIR [N]}
BIN=${2:?usage: bench/gpu_calib.sh RESNET50.onnx BIN_DIR [N]}
N=${3:-500}
SHAPE=${SHAPE:-3,224,224}
TFMQ="$BIN/tfmq"
die() { echo "gpu_calib: $*" >&2; exit 1; }
[ -f "$MODEL" ] || die "$MODEL: no such model file"
[ -x "$TFMQ" ] || die "$TFMQ: no tfmq executable there (BIN_DIR: the bundle's bin/ or a build dir)"
[[ "$N" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, not '$N'"
command -v python3 >/dev/null || die "python3 is needed to write the .npy data"
# the bundle's libraries beside bin/, then the machine's cuDNN and cuBLASLt (as gpu_check.sh)
if [ -d "$BIN/../lib" ]; then
  export LD_LIBRARY_PATH="$BIN/../lib:${LD_LIBRARY_PATH:-}"
fi
if ldd "$TFMQ" | grep -q 'not found'; then
  libdirs=$(find / -xdev \( -name 'libcudnn.so.9' -o -name 'libcublasLt.so.13' \) 2>/dev/null \
            | xargs -r -n1 dirname | sort -u | tr '\n' ':')
  export LD_LIBRARY_PATH="${libdirs}${LD_LIBRARY_PATH:-}"
fi
if ldd "$TFMQ" | grep 'not found' >&2; then
  die "$TFMQ: the libraries above are missing"
fi
W=$(mktemp -d "${TMPDIR:-/tmp}/tfmq-gpu-calib.XXXXXX")
trap 'rm -rf "$W"' EXIT

python3 - "$W/calib.npy" "$N" "$SHAPE" <<'PY'
import array, random, struct, sys
path, n = sys.argv[1], int(sys.argv[2])
shape = [int(d) for d in sys.argv[3].split(",")]
per = 1
for d in shape:
    per *= d
rnd = random.Random(1)
samples = [array.array("f", (rnd.gauss(0.0, 1.0) for _ in range(per))).tobytes()
           for _ in range(min(n, 16))]
hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % ", ".join(
    str(d) for d in [n] + shape)
hdr += " " * ((64 - (10 + len(hdr) + 1) % 64) % 64) + "\n"  # NPY 1.0: 64-byte aligned data
with open(path, "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode("latin1"))
    for i in range(n):
        f.write(samples[i % len(samples)])
PY

# seconds of one `tfmq quantize` with calibration on device $1
run() {
  local dev=$1 t0 t1
  t0=$(date +%s.%N)
  if ! TFMQ_CALIB_DEVICE=$dev "$TFMQ" quantize "$MODEL" --precision int8 --calib "$W/calib.npy" \
       --calib-samples "$N" --eval-samples 1 -o "$W/int8_$dev.tfmq" --force > "$W/$dev.log" 2>&1
  then
    tail -n 20 "$W/$dev.log" >&2
    die "tfmq quantize with TFMQ_CALIB_DEVICE=$dev failed (log above)"
  fi
  t1=$(date +%s.%N)
  grep -i 'warn\|host' "$W/$dev.log" | head -n 5 >&2 || true
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name --format=csv,noheader || true
s_cpu=$(run cpu)
s_gpu=$(run cuda)
printf '%-8s %9s %10s\n' device seconds samples/s
for row in "cpu $s_cpu" "cuda $s_gpu"; do
  set -- $row
  awk -v d="$1" -v s="$2" -v n="$N" 'BEGIN { printf "%-8s %9.2f %10.1f\n", d, s, n / s }'
done
