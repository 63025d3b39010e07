#!/usr/bin/env bash
# gpu_pack.sh: build the CUDA backend here and pack, into .gpu/bundle.tar.xz (ignored by git), what
# a GPU machine without our Debian packages needs to run the GPU tests and bench/gpu_bench.py: the
# test binaries, tfmq_gpu_run and the tfmq CLI, with every shared library they load except the
# C runtime and CUDA's own (cuDNN, cuBLASLt: the GPU machine's are used). Also copies the shared
# models the GPU tests read into .gpu/shared. scripts/gpu_check.sh unpacks and runs it there.
#   usage: scripts/gpu_pack.sh [BUILD_DIR]      (default build-gpu)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build-gpu}
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DTFMQ_CUDA=ON >/dev/null
tests=$(for t in tests/gpu/test_*.c; do basename "$t" .c; done)
cmake --build "$B" -j"$(nproc)" --target tfmq_cli tfmq_gpu_run $tests >/dev/null
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
rm -rf .gpu && mkdir -p .gpu/stage/bin .gpu/stage/lib .gpu/shared/models
bins=("$B/tfmq" "$B/tfmq_gpu_run")
for t in tests/gpu/test_*.c; do
  n=$(basename "$t" .c)
  [ -x "$B/tests/gpu/$n" ] && bins+=("$B/tests/gpu/$n")
done
cp "${bins[@]}" .gpu/stage/bin/
skip='^(libc|libm|libdl|librt|libpthread|ld-linux-x86-64|libstdc\+\+|libgcc_s|libcudnn.*|libcublas.*|libcudart.*|libcuda|libnvrtc.*)\.so'
for b in "${bins[@]}"; do
  ldd "$b" | awk '/=> \// {print $3}'
done | sort -u | while read -r lib; do
  base=$(basename "$lib")
  [[ "$base" =~ $skip ]] || cp -L "$lib" .gpu/stage/lib/
done
tar -C .gpu/stage -cJf .gpu/bundle.tar.xz .
rm -rf .gpu/stage
mkdir -p .gpu/shared/data && cp -r ../shared/data/images .gpu/shared/data/
for m in resnet20_cifar10 mobilenet_v2_1.0_224; do
  mkdir -p .gpu/shared/models/$m && cp ../shared/models/$m/model.onnx .gpu/shared/models/$m/
done
du -sh .gpu/* | sed 's/^/gpu_pack: /'
