# golden.sh — the Markdown audit of the demo program, compared line by line
# with tests/golden/wordfreq.md. Sourced by run.sh (helpers: ok, fail,
# first_line; variables: TMP, BUILD, MEMAUDIT, LIB, LIMIT, HERE).
#
# wordfreq is deterministic, so every figure of its audit is too, except
# what depends on the clock or the machine: times and rates, the pid and the
# path of the program, and how often glibc's realloc moved a block (and so
# the bytes copied). golden_mask replaces those with placeholders; all other
# text must match exactly. After a deliberate change of the audit or of
# wordfreq, regenerate with:  sh tests/integration/golden.sh --update

golden_mask() {
    sed -E \
        -e 's/[0-9]+\.[0-9]+ s\b/T s/g' \
        -e 's/\(pid [0-9]+\)/(pid N)/' \
        -e 's/one run of `[^`]*wordfreq`/one run of `wordfreq`/' \
        -e 's/^\| allocation rate \|.*/| allocation rate | R |/' \
        -e 's/\| [0-9]+\/s \|$/| R\/s |/' \
        -e 's/\(([0-9]+) moved, copying [^)]*\)/(M moved, copying C)/g' \
        -e 's/ and [0-9.]+ ([KMG]iB|B) of copying/ and C of copying/g'
}

golden_make() {
    out=$1
    rm -f "$TMP/golden.trace"
    timeout "$LIMIT" env MEMAUDIT_INTERVAL_MS=0 MEMAUDIT_QUIET=1 MEMAUDIT_OUTPUT="$TMP/golden.trace" \
        LD_PRELOAD="$LIB" "$BUILD/examples/wordfreq" >/dev/null 2>"$TMP/golden.err" &&
        timeout "$LIMIT" "$MEMAUDIT" report --format md "$TMP/golden.trace" 2>>"$TMP/golden.err" |
        golden_mask >"$out"
}

if [ "${1:-}" = --update ]; then
    HERE=$(cd "$(dirname "$0")" && pwd)
    BUILD=${BUILD_DIR:-$HERE/../../build}
    MEMAUDIT=$BUILD/memaudit
    LIB=$BUILD/libaudit.so
    LIMIT=60
    TMP=$(mktemp -d)
    golden_make "$HERE/../golden/wordfreq.md" && echo "updated tests/golden/wordfreq.md"
    rm -rf "$TMP"
else
    if [ ! -x "$BUILD/examples/wordfreq" ]; then
        fail golden-md "$BUILD/examples/wordfreq is missing (make integration builds it)"
    elif ! golden_make "$TMP/golden.md"; then
        fail golden-md "could not record or report wordfreq: $(first_line "$TMP/golden.err")"
    elif diff -u "$HERE/../golden/wordfreq.md" "$TMP/golden.md" >"$TMP/golden.diff"; then
        ok golden-md
    else
        fail golden-md "the Markdown audit differs from tests/golden/wordfreq.md: $(sed -n '4,12p' "$TMP/golden.diff" | tr '\n' '|')"
    fi
fi
