#!/bin/sh
# demo.sh BUILD_DIR — record the bundled example and print its report.
#
# Run by `make demo` once the tools and examples are built: records
# BUILD_DIR/examples/wordfreq with `memaudit run` into BUILD_DIR/demo (old
# traces removed first, so the report is of this run only), sampling memory
# every 2 ms (the run is short), then prints the audit report of what it
# recorded (Markdown, the audit's sections; the same as
# BUILD_DIR/demo/audit.md) and writes the HTML report beside it.
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
rm -f "$OUT"/*.trace "$OUT"/*.trace.* "$OUT"/*.profile

echo "+ $MEMAUDIT run -o $OUT -- $PROGRAM"
MEMAUDIT_INTERVAL_MS=2 "$MEMAUDIT" run -o "$OUT" -- "$PROGRAM"

set -- "$OUT"/*.trace
if [ ! -e "$1" ]; then
    echo "memaudit demo: no trace was written to $OUT" >&2
    exit 1
fi

echo
echo "+ $MEMAUDIT report --format md -o $OUT/audit.md $*"
"$MEMAUDIT" report --format md -o "$OUT/audit.md" "$@"
"$MEMAUDIT" report --format html -o "$OUT/report.html" "$@"
echo
cat "$OUT/audit.md"
echo
echo "memaudit demo: the audit above is $OUT/audit.md; the interactive report is"
echo "$OUT/report.html; the terminal report: $MEMAUDIT report $*"
