#!/bin/sh
# demo.sh BUILD_DIR — record the bundled example and print its report.
#
# Run by `make demo` once the tools and examples are built: records
# BUILD_DIR/examples/wordfreq with `memaudit run` into BUILD_DIR/demo (old
# traces removed first, so the report is of this run only), then prints the
# text report of what it recorded.
set -eu

BUILD=${1:-build}
MEMAUDIT=$BUILD/memaudit
PROGRAM=$BUILD/examples/wordfreq
OUT=$BUILD/demo

for f in "$MEMAUDIT" "$BUILD/libaudit.so" "$PROGRAM"; do
    if [ ! -e "$f" ]; then
        echo "memaudit demo: $f is missing; run 'make demo'" >&2
        exit 1
    fi
done

mkdir -p "$OUT"
# Numbered siblings (memaudit.X.PID.trace.1) too: the recorder never overwrites.
rm -f "$OUT"/*.trace "$OUT"/*.trace.*

echo "+ $MEMAUDIT run -o $OUT -- $PROGRAM"
"$MEMAUDIT" run -o "$OUT" -- "$PROGRAM"

set -- "$OUT"/*.trace
if [ ! -e "$1" ]; then
    echo "memaudit demo: no trace was written to $OUT" >&2
    exit 1
fi

echo
echo "+ $MEMAUDIT report $*"
"$MEMAUDIT" report "$@"
