#!/bin/sh
# Re-record examples/strset/baseline.profile, the run the CI example checks
# against (docs/ci.md), after a change that was meant to use more memory.
# Run from the repository root: sh examples/strset/update-baseline.sh [BUILD_DIR]
set -e
BUILD=${1:-build}
make --no-print-directory "$BUILD/memaudit" "$BUILD/libaudit.so" "$BUILD/examples/strset/test_strset"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$BUILD/memaudit" run --leak-check -o "$out" -- "$BUILD/examples/strset/test_strset" >/dev/null
cp "$out"/memaudit.test_strset.*.profile examples/strset/baseline.profile
echo "examples/strset/baseline.profile updated; commit it with the change"
