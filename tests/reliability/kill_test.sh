#!/usr/bin/env bash
# kill_test.sh: crash-safety of engine writes. Repeatedly start a process that overwrites DEST
# (which already holds a complete engine) and kill it with SIGKILL after a random delay of
# 0-300 ms; DEST must then be byte-identical to one of the two known complete versions and load
# (tfmq inspect verifies the checksum). Never partial. Temporary files ("DEST.tmp.*") may remain
# after SIGKILL: they are counted (and removed), and must never replace DEST.
#
# usage: kill_test.sh HELPER TFMQ_CLI MODEL WORKDIR [RUNS]
#   HELPER   tests/reliability/save_engine (writes version A = FP32 engine, B = FP16 engine)
#   RUNS     kills with the helper (default 20; the documented run uses 200). When the CLI has
#            `tfmq quantize ... --force`, RUNS/4 more kills hit `tfmq quantize MODEL --precision
#            fp16 -o DEST --force` (one save per process) with DEST holding version A.
set -u
HELPER=$1 CLI=$2 MODEL=$3 WORK=$4 RUNS=${5:-20}
[ -x "$HELPER" ] || { echo "kill_test: helper $HELPER missing"; exit 1; }
[ -r "$MODEL" ] || { echo "kill_test: SKIP: $MODEL not found"; exit 77; }
rm -rf "$WORK" && mkdir -p "$WORK" || exit 1
A=$WORK/a.ref B=$WORK/b.ref DEST=$WORK/dest.tfmq
"$HELPER" "$MODEL" "$A" a && "$HELPER" "$MODEL" "$B" b || { echo "kill_test: cannot write refs"; exit 1; }
"$HELPER" "$MODEL" "$WORK/a2.ref" a && cmp -s "$A" "$WORK/a2.ref" ||
    { echo "kill_test: FAIL: two saves of the same model differ (not deterministic)"; exit 1; }
cmp -s "$A" "$B" && { echo "kill_test: FAIL: versions A and B are identical"; exit 1; }
rm -f "$WORK/a2.ref"

n_old=0 n_new=0 n_bad=0 n_tmp=0 n_unloadable=0 n_exited=0
check() { # $1: label of the run
    local v=bad
    if cmp -s "$DEST" "$A"; then v=A; elif cmp -s "$DEST" "$B"; then v=B; fi
    if [ "$v" = bad ]; then
        n_bad=$((n_bad + 1))
        echo "kill_test: FAIL ($1): DEST is neither complete version ($(stat -c %s "$DEST" 2>/dev/null || echo missing) bytes)"
        cp "$DEST" "$WORK/bad_$n_bad.tfmq" 2>/dev/null
    fi
    if [ -x "$CLI" ] && ! "$CLI" inspect "$DEST" >/dev/null 2>&1; then
        n_unloadable=$((n_unloadable + 1))
        echo "kill_test: FAIL ($1): tfmq inspect refuses DEST"
    fi
    local t
    t=$(find "$WORK" -maxdepth 1 -name 'dest.tfmq.tmp.*' | wc -l)
    n_tmp=$((n_tmp + t))
    find "$WORK" -maxdepth 1 -name 'dest.tfmq.tmp.*' -delete
    LAST=$v
}

kill_after_random() { # $@: command
    local ms=$((RANDOM % 301))
    "$@" >/dev/null 2>&1 &
    local pid=$!
    sleep "$(printf '0.%03d' "$ms")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
    else
        n_exited=$((n_exited + 1))
    fi
    wait "$pid" 2>/dev/null
}

cp "$A" "$DEST"
for ((i = 1; i <= RUNS; i++)); do
    kill_after_random "$HELPER" "$MODEL" "$DEST" loop
    check "helper run $i"
    [ "$LAST" = A ] && n_old=$((n_old + 1))
    [ "$LAST" = B ] && n_new=$((n_new + 1))
done
echo "kill_test: helper: $RUNS kills: DEST complete A $n_old, complete B $n_new, partial/other $n_bad, unloadable $n_unloadable, temp files left $n_tmp, exited before the kill $n_exited"

# the CLI, when it can quantize with --force: DEST holds A, the process writes the FP16 engine
if [ -x "$CLI" ] && "$CLI" quantize --help 2>&1 | grep -q -- '--force'; then
    "$CLI" quantize "$MODEL" --precision fp16 -o "$WORK/cli.ref" --force >/dev/null 2>&1 ||
        { echo "kill_test: FAIL: tfmq quantize --precision fp16 failed"; exit 1; }
    c_old=0 c_new=0 c_bad0=$n_bad c_tmp0=$n_tmp c_exit0=$n_exited
    CRUNS=$(((RUNS + 3) / 4))
    for ((i = 1; i <= CRUNS; i++)); do
        cp "$A" "$DEST"
        kill_after_random "$CLI" quantize "$MODEL" --precision fp16 -o "$DEST" --force
        # the CLI's FP16 engine may differ from the helper's B (other options); compare with it
        if cmp -s "$DEST" "$WORK/cli.ref"; then
            c_new=$((c_new + 1)); n_tmp=$((n_tmp + $(find "$WORK" -maxdepth 1 -name 'dest.tfmq.tmp.*' | wc -l)))
            find "$WORK" -maxdepth 1 -name 'dest.tfmq.tmp.*' -delete
        else
            check "cli run $i"
            [ "$LAST" = A ] && c_old=$((c_old + 1))
        fi
    done
    echo "kill_test: cli: $CRUNS kills: DEST old $c_old, new $c_new, partial/other $((n_bad - c_bad0)), temp files left $((n_tmp - c_tmp0)), exited before the kill $((n_exited - c_exit0))"
else
    echo "kill_test: cli: tfmq quantize --force not available; helper only"
fi

echo "kill_test: total: partial $n_bad, unloadable $n_unloadable, temp files left (removed) $n_tmp"
[ "$n_bad" -eq 0 ] && [ "$n_unloadable" -eq 0 ] || exit 1
rm -rf "$WORK"
exit 0
