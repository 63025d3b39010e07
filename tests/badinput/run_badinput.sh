#!/usr/bin/env bash
# run_badinput.sh: feed the bad-input corpus (made by make_corpus.py into a build directory) to the
# tfmq CLI and check that every case fails cleanly: the allowed exit code (1 for bad input; 2 is an
# internal error), a non-empty message on stderr naming the file, no signal and no sanitizer report.
# usage: run_badinput.sh TFMQ_BIN PYTHON OUT_DIR [CONFORMANCE_DATA_DIR]
# Exit: 0 all good, 1 some case misbehaved, 77 skipped (no python with onnx + numpy).
set -u
TFMQ=${1:?usage: run_badinput.sh TFMQ_BIN PYTHON OUT_DIR [DATA_DIR]}
PY=${2:?python}
OUT=${3:?out dir}
DATA=${4:-/usr/include/onnx/backend/test/data}
HERE=$(cd "$(dirname "$0")" && pwd)
TFMQ=$(cd "$(dirname "$TFMQ")" && pwd)/$(basename "$TFMQ")

if ! "$PY" -c 'import onnx, numpy' 2>/dev/null; then
    echo "badinput: SKIP: $PY cannot import onnx and numpy (apt-get install python3-onnx)"
    exit 77
fi
"$PY" "$HERE/make_corpus.py" "$OUT" --conformance-data "$DATA" || {
    echo "badinput: make_corpus.py failed"
    exit 1
}

n_pass=0
n_fail=0
errf=$(mktemp)
trap 'rm -f "$errf"' EXIT
while IFS=$'\t' read -r -a f; do
    [ ${#f[@]} -ge 4 ] || continue
    id=${f[0]}
    codes=${f[1]}
    needles=${f[2]}
    argv=("${f[@]:3}")
    rm -rf "$OUT/out"
    mkdir -p "$OUT/out"
    (cd "$OUT" && timeout -s KILL 60 "$TFMQ" "${argv[@]}" >/dev/null 2>"$errf")
    rc=$?
    problem=""
    if [ $rc -ge 128 ] || [ $rc -eq 124 ]; then
        problem="killed by a signal or timed out (exit $rc)"
    elif [[ ",$codes," != *",$rc,"* ]]; then
        problem="exit code $rc, expected $codes"
    elif [ $rc -ne 0 ]; then
        if [ ! -s "$errf" ]; then
            problem="empty stderr"
        elif [ "$needles" != "-" ]; then
            found=0
            IFS='|' read -r -a alts <<<"$needles"
            for n in "${alts[@]}"; do
                if grep -qF -- "$n" "$errf"; then
                    found=1
                    break
                fi
            done
            [ $found -eq 1 ] || problem="stderr does not name '$needles'"
        fi
    fi
    if grep -qE 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|SUMMARY: .*Sanitizer' "$errf"; then
        problem="${problem:+$problem; }sanitizer report"
    fi
    if [ -n "$problem" ]; then
        n_fail=$((n_fail + 1))
        echo "FAIL $id: $problem"
        echo "     command: (cd $OUT && $TFMQ ${argv[*]})"
        head -c 600 "$errf" | sed 's/^/     stderr: /'
    else
        n_pass=$((n_pass + 1))
        if [ "${TFMQ_BADINPUT_VERBOSE:-0}" != 0 ]; then
            echo "ok   $id (exit $rc): $(head -c 200 "$errf" | tr '\n' ' ')"
        fi
    fi
done <"$OUT/cases.tsv"

echo "badinput: $n_pass passed, $n_fail failed (of $((n_pass + n_fail)))"
[ $n_fail -eq 0 ]
