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

# Colour: on a terminal only (script(1) gives the report one), never with
# NO_COLOR set, never into a pipe or file.
if [ "${1:-}" != --update ] && [ -s "$TMP/golden.trace" ]; then
    esc=$(printf '\033')
    if ! command -v script >/dev/null 2>&1; then
        echo "ok text-colour # skipped: script(1) not installed"
    else
        script -qc "'$MEMAUDIT' report '$TMP/golden.trace'" /dev/null >"$TMP/colour.tty" 2>/dev/null </dev/null
        NO_COLOR=1 script -qc "'$MEMAUDIT' report '$TMP/golden.trace'" /dev/null >"$TMP/colour.nocolor" 2>/dev/null </dev/null
        "$MEMAUDIT" report "$TMP/golden.trace" >"$TMP/colour.pipe" 2>/dev/null
        if grep -q "${esc}\[31m\[high\]${esc}\[0m" "$TMP/colour.tty" &&
            grep -q "Memory safety:${esc}\[0m ${esc}\[31mNEEDS ATTENTION" "$TMP/colour.tty" &&
            ! grep -q "$esc" "$TMP/colour.nocolor" && ! grep -q "$esc" "$TMP/colour.pipe" &&
            grep -q '\[high\] ' "$TMP/colour.pipe"; then
            ok text-colour
        else
            fail text-colour "colour codes not as expected (tty: $(grep -c "$esc" "$TMP/colour.tty") lines with ESC, NO_COLOR: $(grep -c "$esc" "$TMP/colour.nocolor"), pipe: $(grep -c "$esc" "$TMP/colour.pipe"))"
        fi
    fi
fi
