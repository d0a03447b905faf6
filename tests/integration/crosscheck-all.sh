#!/bin/sh
# The whole integration suite with the stack cross-check on (issue 7): every
# program the suite records runs with MEMAUDIT_CROSSCHECK=1, so that each
# stack the recorder gives -- from its cache or its own walk by the .eh_frame
# rules -- is compared with an independent unw_backtrace walk.
#
#   sh tests/integration/crosscheck-all.sh BUILD_DIR    (make check runs it)
#
# Passes when no recorded program reports a disagreement ("cross-check: stack
# N ... is not the full walk's stack M") and the programs compared at least
# MIN stacks in all (so that the mode surely ran). The suite's own verdicts
# are not this script's: a few cases fail by design with the cross-check on
# (they expect exactly one line on stderr, where the cross-check adds its
# summary; or time a throw, which each compared stack slows down), and the
# suite itself runs without it in `make check`.

BUILD=${1:-build}
MIN=1000000
WORK=$(mktemp -d "${TMPDIR:-/tmp}/memaudit-xc.XXXXXX") || exit 2
trap 'rm -rf "$WORK"' EXIT
trap 'rm -rf "$WORK"; exit 130' INT TERM

MEMAUDIT_CROSSCHECK=1 MEMAUDIT_IT_KEEP=1 TMPDIR=$WORK \
    sh "$(dirname "$0")/run.sh" "$BUILD" >"$WORK/suite.out" 2>&1
bad=$(grep -rl 'cross-check: stack' "$WORK" 2>/dev/null | head -n 5)
runs=$(grep -rh 'cross-check: [0-9]* stacks compared' "$WORK" 2>/dev/null | wc -l)
compared=$(grep -rh 'cross-check: [0-9]* stacks compared' "$WORK" 2>/dev/null |
    sed -n 's/.*cross-check: \([0-9]*\) stacks compared.*/\1/p' | awk '{s += $1} END {print s + 0}')
if [ -n "$bad" ]; then
    echo "FAIL crosscheck-all: a stack disagreed with the full walk, in:"
    for f in $bad; do
        echo "  $f: $(grep -m 1 'cross-check: stack' "$f")"
    done
    exit 1
fi
if [ "$compared" -lt "$MIN" ]; then
    echo "FAIL crosscheck-all: only $compared stacks compared in $runs programs (want >= $MIN)"
    tail -n 3 "$WORK/suite.out"
    exit 1
fi
echo "ok crosscheck-all ($compared stacks compared with a full walk in $runs recorded programs, 0 disagreed)"
