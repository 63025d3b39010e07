# Thin wrapper around CMake (the source of truth). `make` builds build/tfmq and the library.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: fuzz fuzz-smoke fuzz-build
.PHONY: all build test test-fast demo conformance asan asan-test check-src setup clean
.PHONY: bench-cpu gpu-check

all: build

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Install what is missing, build, run every test: once in a release build, then the whole suite
# again under AddressSanitizer + UndefinedBehaviorSanitizer (leaks included).
test:
	@bash scripts/setup.sh
	@bash scripts/check_src.sh
	@$(MAKE) --no-print-directory build
	@bash scripts/run_tests.sh $(BUILD)
	@$(MAKE) --no-print-directory asan
	@bash scripts/run_tests.sh build-asan

# The release run alone (what a developer runs between edits).
test-fast:
	@bash scripts/setup.sh
	@$(MAKE) --no-print-directory build
	@bash scripts/run_tests.sh $(BUILD)

check-src:
	@bash scripts/check_src.sh

demo:
	@bash scripts/setup.sh
	@$(MAKE) --no-print-directory build
	@bash scripts/demo.sh $(BUILD)

conformance: build
	@$(BUILD)/tests/tfmq_conformance

asan:
	@$(MAKE) --no-print-directory build BUILD=build-asan \
	  CMAKE_FLAGS="-DCMAKE_BUILD_TYPE=RelWithDebInfo -DTFMQ_SANITIZE=address,undefined"

asan-test: asan
	@bash scripts/run_tests.sh build-asan

setup:
	@bash scripts/setup.sh

# tfmq's CPU backend against ONNX Runtime (bench/CPU_BENCH.md): ResNet-50, MobileNetV2 (torchvision
# and shared), ResNet-20, a transformer encoder; batch 1 and 8, 1 and 2 threads, FP32/BF16/INT8.
# Options through BENCH_ARGS, e.g. make bench-cpu BENCH_ARGS=--quick (ResNet-50, batch 1 only).
bench-cpu:
	@bash scripts/setup.sh
	@$(MAKE) --no-print-directory build
	@.venv/bin/python bench/cpu_bench.py --tfmq $(BUILD)/tfmq $(BENCH_ARGS)

# On a machine with an NVIDIA GPU: the GPU tests and tfmq against PyTorch on the same card
# (bench/gpu_bench.py needs torch and torchvision); prints a short table last. Options to the
# benchmark through GPU_ARGS, e.g. make gpu-check GPU_ARGS=--quick.
gpu-check:
	@bash scripts/setup.sh
	@$(MAKE) --no-print-directory build
	@bash scripts/gpu_check.sh $(BUILD) $(GPU_ARGS)

clean:
	rm -rf build build-asan

# ---- reliability (docs/RELIABILITY.md): the concurrency test under ThreadSanitizer ----
# Builds only what the test needs into build-tsan and runs the ctest label `tsan`. If TSan dies
# with "unexpected memory mapping" (kernels with high mmap ASLR entropy), run it as
# `setarch $$(uname -m) -R make tsan-test`.
TSAN_RUNS ?= 200
.PHONY: tsan-test
tsan-test:
	@cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTFMQ_SANITIZE=thread >/dev/null
	@cmake --build build-tsan -j $(JOBS) --target test_concurrency
	@cd build-tsan && TFMQ_CONC_RUNS=$(TSAN_RUNS) TSAN_OPTIONS="halt_on_error=1 $(TSAN_OPTIONS)" \
	  ctest -L tsan --output-on-failure

# libFuzzer targets (tests/fuzz/README.md): clang, ASan + UBSan, build-fuzz. fuzz-smoke runs each
# target FUZZ_SECONDS (60) on a copy of its corpus with a fixed seed (FUZZ_SEED, 1), so that CI
# and its rehearsal in a fresh clone explore alike; fuzz is the long campaign (1800 s each, a new
# seed each run), which is where new inputs are looked for.
FUZZ_BUILD ?= build-fuzz
FUZZ_TARGETS = fuzz_onnx fuzz_onnx_run fuzz_engine fuzz_tensor_pb fuzz_npy fuzz_image fuzz_calib_cache \
               fuzz_tf_savedmodel fuzz_tf_bundle fuzz_keras fuzz_keras_config fuzz_plan_cache

fuzz-build:
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTFMQ_BUILD_FUZZ=ON \
	  -DTFMQ_BUILD_TESTS=OFF -DTFMQ_WERROR=OFF -DTFMQ_SANITIZE=address,undefined $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_all

fuzz-smoke: FUZZ_SECONDS ?= 60
fuzz-smoke: FUZZ_SEED ?= 1
fuzz: FUZZ_SECONDS ?= 1800
fuzz: FUZZ_SEED ?= 0
fuzz-smoke fuzz: fuzz-build
	@FUZZ_SEED=$(FUZZ_SEED) bash tests/fuzz/run_fuzz.sh $(FUZZ_BUILD)/fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)
