# Thin wrapper around CMake (the source of truth). `make` builds build/tfmq and the library.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all build test demo conformance asan asan-test setup clean

all: build

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Install what is missing, build, run every test.
test:
	@bash scripts/setup.sh
	@$(MAKE) --no-print-directory build
	@bash scripts/run_tests.sh $(BUILD)

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

clean:
	rm -rf build build-asan
