#!/usr/bin/env bash
# check_src.sh: house rules the compiler cannot enforce (STYLE.md section 9). The library under
# src/ never calls functions that are unsafe or end the process, and allocates only through
# tq_alloc (core/alloc.c is the one place that may call the C allocator).
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0
banned='\b(sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|gets|exit|abort|printf|puts)\s*\('
if grep -rnP "$banned" src --include='*.c' --include='*.h' --include='*.cu' --include='*.cuh' | grep -vP '^[^:]+:\d+:\s*(\*|/\*|//)' ; then
    echo "check_src: banned functions above (use snprintf, strtol, return a status)" >&2
    bad=1
fi
if grep -rnP '\b(malloc|calloc|realloc|free)\s*\(' src --include='*.c' --include='*.h' --include='*.cu' --include='*.cuh' \
        | grep -v '^src/core/alloc.c:' | grep -v 'protobuf' \
        | grep -vP '^[^:]+:\d+:\s*(\*|/\*|//)' ; then
    echo "check_src: direct allocation above (use tq_alloc/tq_free)" >&2
    bad=1
fi
exit $bad
