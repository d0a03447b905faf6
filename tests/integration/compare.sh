# compare.sh — integration cases for memaudit diff and memaudit check
# (issue 6). Sourced by run.sh, whose helpers (record, expect, ok, fail,
# first_line) and variables (TMP, PROGS, SRC, MEMAUDIT, LIMIT) it uses.

# check_case NAME WANT_STATUS ARGS...: run memaudit check, compare the status.
check_case() {
    name=$1
    want=$2
    shift 2
    timeout "$LIMIT" "$MEMAUDIT" check "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
    st=$?
    if [ "$st" != "$want" ]; then
        fail "$name" "memaudit check exited $st, expected $want (out: $(first_line "$TMP/$name.out"); err: $(first_line "$TMP/$name.err"))"
        return 1
    fi
    return 0
}

# diff_json NAME BEFORE AFTER [OPTIONS]: memaudit diff --format json into $TMP/NAME.json.
diff_json() {
    name=$1
    before=$2
    after=$3
    shift 3
    if ! timeout "$LIMIT" "$MEMAUDIT" diff --format json "$@" "$before" "$after" \
        >"$TMP/$name.json" 2>"$TMP/$name.err"; then
        fail "$name" "memaudit diff failed: $(first_line "$TMP/$name.err")"
        return 1
    fi
    return 0
}

# ---------------------------------------------------------------- check
# growth.c leaks 5000 bytes in 41 blocks with a 50152-byte peak (see its header).
if [ -s "$TMP/growth.trace" ]; then
    if check_case check-leaked-over 3 --max-leaked 4KiB "$TMP/growth.trace"; then
        if grep -q 'leaked 4.9 KiB (5000 bytes) exceeds the budget 4.0 KiB (4096 bytes) (top site: leak_step (' "$TMP/check-leaked-over.out" &&
            [ "$(wc -l <"$TMP/check-leaked-over.out")" -eq 1 ]; then
            ok check-leaked-over
        else
            fail check-leaked-over "unexpected output: $(cat "$TMP/check-leaked-over.out")"
        fi
    fi
    if check_case check-within 0 --max-leaked 5000 --max-leaked-blocks 41 --max-peak 50152 \
        --max-allocations 22065 "$TMP/growth.trace"; then
        ok check-within
    fi
    # Two budgets over: two lines, each naming its figure.
    if check_case check-two-over 3 --max-peak 48KiB --max-leaked-blocks 40 "$TMP/growth.trace"; then
        if [ "$(grep -c 'exceeds' "$TMP/check-two-over.out")" -eq 2 ] &&
            grep -q '^memaudit: .*: peak heap 49.0 KiB (50152 bytes) exceeds' "$TMP/check-two-over.out" &&
            grep -q 'leaked blocks 41 exceeds the budget 40' "$TMP/check-two-over.out"; then
            ok check-two-over
        else
            fail check-two-over "unexpected output: $(tr '\n' '|' <"$TMP/check-two-over.out")"
        fi
    fi
    # Budgets from a file; a bad line is a usage error with its line number.
    printf '# budgets\nmax-peak = 64KiB   # fine\n\nmax-temporary = 10\n' >"$TMP/budgets.ok"
    if check_case check-file 3 --budgets "$TMP/budgets.ok" "$TMP/growth.trace"; then
        if grep -q 'temporary allocations 11 exceeds the budget 10' "$TMP/check-file.out"; then
            ok check-file
        else
            fail check-file "unexpected output: $(cat "$TMP/check-file.out")"
        fi
    fi
    printf 'max-peak = 64KiB\nmax-peek = 1\n' >"$TMP/budgets.bad"
    if check_case check-file-bad 2 --budgets "$TMP/budgets.bad" "$TMP/growth.trace"; then
        if grep -q "line 2: unknown budget 'max-peek'" "$TMP/check-file-bad.err"; then
            ok check-file-bad
        else
            fail check-file-bad "unexpected stderr: $(cat "$TMP/check-file-bad.err")"
        fi
    fi
    if check_case check-bad-size 2 --max-peak 12XB "$TMP/growth.trace"; then
        ok check-bad-size
    fi
    # Against itself as the baseline: no growth at all passes --max-growth 0.
    if check_case check-baseline-same 0 --baseline "$TMP/growth.trace" --max-growth 0 \
        "$TMP/growth.trace"; then
        ok check-baseline-same
    fi
fi

# ---------------------------------------------------------------- diff
# The same program with twice the work: the one site is matched and grows.
if record cmp-loop-1000 0 "$PROGS/loop" 1000 && record cmp-loop-2000 0 "$PROGS/loop" 2000; then
    if diff_json diff-loop "$TMP/cmp-loop-1000.trace" "$TMP/cmp-loop-2000.trace" --by allocations; then
        expect diff-loop diff-loop \
            totals.allocations.before=1000 totals.allocations.after=2000 \
            totals.allocations.change=1000 totals.allocations.change_pct=100 \
            totals.bytes.before=259505 totals.peak.change=0 \
            '#changed=1' '#new=0' '#vanished=0' \
            'changed[0].before.allocations=1000' 'changed[0].after.allocations=2000' \
            'changed[0].stack[0].function=churn'
    fi
    if diff_json diff-self "$TMP/cmp-loop-1000.trace" "$TMP/cmp-loop-1000.trace"; then
        expect diff-self diff-self totals.allocations.change=0 '#changed=0' '#new=0' '#vanished=0'
    fi
    # Growth against a baseline: allocations doubled, a 50% allowance fails.
    if check_case check-growth 3 --baseline "$TMP/cmp-loop-1000.trace" \
        --max-growth-allocations 50 "$TMP/cmp-loop-2000.trace"; then
        if grep -q "allocations 2000 exceeds the baseline's 1000 + 50% (top site: churn (" \
            "$TMP/check-growth.out"; then
            ok check-growth
        else
            fail check-growth "unexpected output: $(cat "$TMP/check-growth.out")"
        fi
    fi
fi

# A rebuilt binary: the same source with its lines shifted still matches site
# by site (keys use functions and modules, not lines or addresses).
mkdir -p "$TMP/rebuilt"
{ printf '/* shifted */\n\n\n'; cat "$SRC/loop.c"; } >"$TMP/rebuilt/loop.c"
if cc -std=c11 -g -O1 -fno-omit-frame-pointer -fno-builtin -fno-inline \
    -o "$TMP/rebuilt/loop" "$TMP/rebuilt/loop.c" 2>"$TMP/rebuilt.err"; then
    if record cmp-rebuilt 0 "$TMP/rebuilt/loop" 1000 && [ -s "$TMP/cmp-loop-1000.trace" ] &&
        diff_json diff-rebuilt "$TMP/cmp-loop-1000.trace" "$TMP/cmp-rebuilt.trace"; then
        expect diff-rebuilt diff-rebuilt '#changed=0' '#new=0' '#vanished=0' \
            totals.allocations.change=0
    fi
else
    fail diff-rebuilt "cannot build the shifted copy: $(first_line "$TMP/rebuilt.err")"
fi

# Text and Markdown carry the same comparison.
if [ -s "$TMP/cmp-loop-2000.trace" ]; then
    if timeout "$LIMIT" "$MEMAUDIT" diff --format md "$TMP/cmp-loop-1000.trace" \
        "$TMP/cmp-loop-2000.trace" >"$TMP/diff.md" 2>"$TMP/diff.md.err" &&
        grep -q '^## Before and after' "$TMP/diff.md" &&
        grep -q '^| allocations | 1000 | 2000 | +1000 (+100.0%) |' "$TMP/diff.md"; then
        ok diff-md
    else
        fail diff-md "unexpected Markdown: $(head -c 300 "$TMP/diff.md")"
    fi
fi
