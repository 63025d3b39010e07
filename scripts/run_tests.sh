#!/usr/bin/env bash
# run_tests.sh: run every registered test (unit, ops, conformance, bad input, models vs ORT) of a
# build directory through ctest, printing the output of failing tests.
# usage: scripts/run_tests.sh BUILD_DIR [extra ctest arguments, e.g. -L unit or -R badinput]
set -euo pipefail
BUILD=${1:-build}
shift || true
if [ ! -f "$BUILD/CTestTestfile.cmake" ]; then
    echo "run_tests.sh: '$BUILD' is not a configured build directory (run 'make' first)" >&2
    exit 2
fi
cd "$BUILD"
exec ctest --output-on-failure "$@"
