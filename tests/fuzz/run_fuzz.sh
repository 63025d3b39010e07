#!/usr/bin/env bash
# run_fuzz.sh: run libFuzzer targets one after another (one process each: the machine is shared)
# on a working copy of their seed corpus, then print per target: executions, coverage (cov:),
# crashes. Used by `make fuzz-smoke` and `make fuzz`; see README.md.
# Usage: run_fuzz.sh BIN_DIR SECONDS TARGET...
# Crashing inputs go to BIN_DIR/../fuzz-artifacts/<target>/; exit 1 if any target crashed.
# FUZZ_SEED: libFuzzer's -seed (0, the default here: a new one each run). `make fuzz-smoke` sets 1.
set -u
bin=$1; secs=$2; shift 2
src=$(cd "$(dirname "$0")" && pwd)
work=$(cd "$bin/.." && pwd)/fuzz-work
arts=$(cd "$bin/.." && pwd)/fuzz-artifacts
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
summary=""
failed=0
for t in "$@"; do
  mkdir -p "$work/$t" "$arts/$t"
  cp -n "$src/corpus/$t/"* "$work/$t/" 2>/dev/null
  log="$arts/$t/last.log"
  echo "== $t: $secs s (log $log)"
  "$bin/$t" -max_total_time="$secs" -seed="${FUZZ_SEED:-0}" -rss_limit_mb=2048 -timeout=10 -max_len=8192 \
    -print_final_stats=1 -artifact_prefix="$arts/$t/" "$work/$t" >"$log" 2>&1
  rc=$?
  execs=$(grep -a '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  crash=$(grep -a -m1 -E '^SUMMARY: |^==[0-9]+== ERROR: libFuzzer' "$log")
  if [ $rc -ne 0 ]; then
    failed=1
    art=$(grep -ao 'Test unit written to [^ ]*' "$log" | tail -1 | sed 's/Test unit written to //')
    line=$(printf '%-18s execs %-9s cov %-6s CRASH: %s -> %s' "$t" "${execs:-?}" "${cov:-?}" \
           "${crash:-exit $rc}" "${art:-?}")
  else
    line=$(printf '%-18s execs %-9s cov %-6s crashes 0' "$t" "${execs:-?}" "${cov:-?}")
  fi
  echo "$line"
  summary+="$line"$'\n'
done
echo
echo "fuzz summary ($secs s per target):"
printf '%s' "$summary"
exit $failed
