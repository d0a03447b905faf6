# suite.sh — integration cases for leak checking, suppressions, whole test
# suites and the CI example (issue 6): memaudit run --leak-check, report and
# check --suppressions, report/check of a DIR of processes, and the recipe of
# docs/ci.md on examples/strset. Sourced by run.sh, whose helpers (ok, fail,
# expect, first_line, status_words) and variables (TMP, BUILD, PROGS, HERE,
# MEMAUDIT, LIMIT) it uses.

REPO=$(cd "$HERE/../.." && pwd)
STRSET=$BUILD/examples/strset
STRSET_SRC=$REPO/examples/strset
# The line of strset_add's malloc of a node: the top site of every leak.
ADD_LINE=$(grep -n 'struct node \*n = malloc' "$STRSET_SRC/strset.c" | head -n 1 | cut -d: -f1)

# mrun NAME WANT [RUN OPTIONS] -- PROGRAM...: memaudit run into $TMP/NAME.d,
# stdout and stderr into $TMP/NAME.out and .err; checks the exit status.
mrun() {
    name=$1
    want=$2
    shift 2
    rm -rf "$TMP/$name.d"
    timeout "$LIMIT" "$MEMAUDIT" run -o "$TMP/$name.d" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
    st=$?
    if [ "$st" != "$want" ]; then
        fail "$name" "memaudit run: $(status_words $st), expected $(status_words "$want") ($(grep -v '^memaudit: \(trace\|profile\):' "$TMP/$name.err" | head -n 3 | tr '\n' '|'))"
        return 1
    fi
    return 0
}

# mcmd NAME WANT ARGS...: memaudit ARGS into $TMP/NAME.out/.err, status WANT.
mcmd() {
    name=$1
    want=$2
    shift 2
    timeout "$LIMIT" "$MEMAUDIT" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
    st=$?
    if [ "$st" != "$want" ]; then
        fail "$name" "memaudit $1 exited $st, expected $want (out: $(first_line "$TMP/$name.out"); err: $(first_line "$TMP/$name.err"))"
        return 1
    fi
    return 0
}

# has NAME FILE PATTERN...: every fixed string is a line's substring in FILE.
has() {
    name=$1
    file=$2
    shift 2
    for p in "$@"; do
        if ! grep -qF -- "$p" "$file"; then
            fail "$name" "no '$p' in $(basename "$file"): $(head -c 600 "$file" | tr '\n' '|')"
            return 1
        fi
    done
    ok "$name"
}

# ---------------------------------------------------------------- suppressions
# leaks: strset's suite with -DINJECT_LEAK: strset_remove forgets its node,
# 2000 of them in test_many ("key-NNNNN": 16 + 10 bytes each) and one in
# test_remove ("a": 16 + 2 bytes): 52018 bytes in 2001 blocks, all
# allocated in strset_add.
printf '# test_many only\nleak:test_many\n' >"$TMP/sup.many"
printf '  # the suite, by function then by file\nleak:test_many\n\nleak:strset.c$\nleak:never_matches\n' >"$TMP/sup.all"
printf 'leak:^test_strset$\n' >"$TMP/sup.module"
printf 'leak:^trset_add\nleak:strset_add$x\n' >"$TMP/sup.anchored"
printf 'leak:foo\nrace:bar\n' >"$TMP/sup.bad"

# -q: no run summary, so the leak check lists each leaking process itself.
if mrun lc-leak 23 -q --leak-check -- "$STRSET/leak/test_strset"; then
    has lc-leak "$TMP/lc-leak.err" \
        "memaudit: leak-check: pid " \
        "leak/test_strset): 52018 bytes leaked in 2001 blocks; top site: strset_add (examples/strset/strset.c:$ADD_LINE)" \
        "memaudit: leak-check: 1 of 1 process leaked 52018 bytes in 2001 blocks"
fi
if mrun lc-exit-code 7 --leak-check --leak-exit-code 7 -- "$STRSET/leak/test_strset"; then
    ok lc-exit-code
fi
# A function pattern takes test_many's leaks; test_remove's one block stays.
if mrun lc-sup-many 23 -q --leak-check --suppressions "$TMP/sup.many" -- "$STRSET/leak/test_strset"; then
    has lc-sup-many "$TMP/lc-sup-many.err" \
        "leak/test_strset): 18 bytes leaked in 1 block; top site: strset_add (" \
        "Suppressions used:" "  count      bytes template" \
        "   2000      52000 test_many"
fi
# The first matching rule takes a site; a rule that never matched is not listed.
if mrun lc-sup-all 0 --leak-check --suppressions "$TMP/sup.all" -- "$STRSET/leak/test_strset"; then
    if has lc-sup-all "$TMP/lc-sup-all.err" "memaudit: leak-check: no leaks in 1 process" \
        "   2000      52000 test_many" "      1         18 strset.c\$"; then
        if grep -q never_matches "$TMP/lc-sup-all.err"; then
            fail lc-sup-all-unused "a rule that matched nothing is listed as used"
        else
            ok lc-sup-all-unused
        fi
    fi
fi
# A module's basename, anchored at both ends.
if mrun lc-sup-module 0 --leak-check --suppressions "$TMP/sup.module" -- "$STRSET/leak/test_strset"; then
    has lc-sup-module "$TMP/lc-sup-module.err" "   2001      52018 ^test_strset\$"
fi
# Anchors that do not fit match nothing.
if mrun lc-sup-anchored 23 --leak-check --suppressions "$TMP/sup.anchored" -- "$STRSET/leak/test_strset"; then
    if grep -q 'Suppressions used' "$TMP/lc-sup-anchored.err"; then
        fail lc-sup-anchored "an anchored pattern that should not match did"
    else
        ok lc-sup-anchored
    fi
fi
if mcmd lc-sup-bad 2 run --leak-check --suppressions "$TMP/sup.bad" -- true; then
    has lc-sup-bad "$TMP/lc-sup-bad.err" "sup.bad: line 2: unknown suppression type 'race'"
fi
# report and check honour the same file.
if [ -d "$TMP/lc-leak.d" ]; then
    if timeout "$LIMIT" "$MEMAUDIT" report --format json --suppressions "$TMP/sup.many" \
        "$TMP/lc-leak.d" >"$TMP/report-sup.json" 2>"$TMP/report-sup.err"; then
        expect report-sup report-sup summary.leaked_bytes=18 summary.leaked_blocks=1 \
            '#leaks=1' 'leaks[0].stack[1].function=test_remove' \
            summary.runtime_held_blocks=0 summary.allocations=4019
        has report-sup-used "$TMP/report-sup.err" "   2000      52000 test_many"
    else
        fail report-sup "memaudit report --suppressions failed: $(first_line "$TMP/report-sup.err")"
    fi
    if mcmd check-sup 0 check --max-leaked-blocks 0 --suppressions "$TMP/sup.all" "$TMP/lc-leak.d"; then
        ok check-sup
    fi
    if mcmd check-sup-partial 3 check --max-leaked-blocks 0 --suppressions "$TMP/sup.many" "$TMP/lc-leak.d"; then
        has check-sup-partial "$TMP/check-sup-partial.out" "leaked blocks 1 exceeds the budget 0 (top site: strset_add ("
    fi
fi

# ---------------------------------------------------------------- exit status
# The program's own failure wins over leaks: exec.c's child leaks 2000 bytes
# and exits 4; the image before the exec (1000 bytes live) is not checked.
if mrun lc-failing 4 -q --leak-check -- "$PROGS/exec" execv; then
    has lc-failing "$TMP/lc-failing.err" \
        "exec child): 2000 bytes leaked in 1 block; top site: leak_in_child (" \
        "memaudit: leak-check: 1 of 1 process leaked 2000 bytes in 1 block (1 not checked: replaced by exec, killed or cut short)"
fi
# No leaks, no suppressions: exit 0 and a verdict.
if mrun lc-clean 0 --leak-check -- "$PROGS/loop" 100; then
    has lc-clean "$TMP/lc-clean.err" "memaudit: leak-check: no leaks in 1 process"
fi

# ---------------------------------------------------------------- whole suites
# make runs growth (5000 bytes leaked in 41 blocks, peak 50152, 22065
# allocations) and loop 1000 (nothing leaked, peak 512, 1000 allocations);
# make itself leaks too, by its own design (suppressed by module below).
cat >"$TMP/suite.mk" <<EOF
test:
	$PROGS/growth
	$PROGS/loop 1000
EOF
printf 'leak:^make$\n' >"$TMP/sup.make"
if mrun suite-make 23 -q --leak-check -- make -s -f "$TMP/suite.mk"; then
    has suite-make "$TMP/suite-make.err" \
        "/growth): 5000 bytes leaked in 41 blocks; top site: leak_step (" \
        "memaudit: leak-check: 2 of 3 processes leaked "
fi
if mrun suite-make-sup 23 --leak-check --suppressions "$TMP/sup.make" -- make -s -f "$TMP/suite.mk"; then
    has suite-make-sup "$TMP/suite-make-sup.err" "memaudit: leak-check: 1 of 3 processes leaked 5000 bytes in 41 blocks"
fi
if [ -d "$TMP/suite-make.d" ]; then
    D=$TMP/suite-make.d
    # The table: one row per process, worst first (make, growth, loop).
    if mcmd suite-table 0 report --summary --suppressions "$TMP/sup.make" "$D"; then
        g=$(grep -n '  exit 0 *50152 *5000 *41 *22065  .*/growth$' "$TMP/suite-table.out" | cut -d: -f1)
        l=$(grep -n '  exit 0 *512 *0 *0 *1000  .*/loop 1000$' "$TMP/suite-table.out" | cut -d: -f1)
        m=$(grep -n '  exit 0 .* 0 *0 *[0-9]*  make -s -f ' "$TMP/suite-table.out" | cut -d: -f1)
        if [ -n "$g" ] && [ -n "$l" ] && [ -n "$m" ] && [ "$g" -lt "$m" ] && [ "$m" -lt "$l" ] &&
            grep -q '^total: 3 processes, 5000 bytes leaked in 41 blocks, ' "$TMP/suite-table.out" &&
            [ "$(wc -l <"$TMP/suite-table.out")" -eq 6 ]; then
            ok suite-table
        else
            fail suite-table "rows out of order or figures wrong (growth $g, make $m, loop $l): $(tr '\n' '|' <"$TMP/suite-table.out")"
        fi
    fi
    # The text report of a DIR ends with the same table.
    if mcmd suite-report 0 report "$D"; then
        if [ "$(grep -c '^== ' "$TMP/suite-report.out")" -eq 3 ] &&
            [ "$(tail -n 6 "$TMP/suite-report.out" | head -n 1 | cut -c 1-26)" = "Processes (3), worst first" ]; then
            ok suite-report
        else
            fail suite-report "expected 3 reports, then the table: $(grep -n '^== \|^Processes' "$TMP/suite-report.out" | tr '\n' ' ')"
        fi
    fi
    # check DIR: per process; make's leaks are over, growth and loop within.
    if mcmd suite-check 3 check --max-leaked-blocks 41 "$D"; then
        if [ "$(grep -c ' exceeds ' "$TMP/suite-check.out")" -eq 1 ] &&
            grep -q 'memaudit: .*/memaudit\.make\.[0-9]*\.profile: leaked blocks [0-9]* exceeds the budget 41' "$TMP/suite-check.out" &&
            grep -q '^OVER .* make -s -f ' "$TMP/suite-check.out" &&
            grep -q '^ok .*/growth$' "$TMP/suite-check.out" && grep -q '^ok .*/loop 1000$' "$TMP/suite-check.out"; then
            ok suite-check
        else
            fail suite-check "unexpected output: $(tr '\n' '|' <"$TMP/suite-check.out")"
        fi
    fi
    if mcmd suite-check-sup 0 check --max-leaked-blocks 41 --suppressions "$TMP/sup.make" "$D"; then
        has suite-check-sup "$TMP/suite-check-sup.out" "memaudit: check: 3 runs within 1 budget"
    fi
    # --total: every run is within 22065 allocations, their sum is not.
    if mcmd suite-total-off 0 check --max-allocations 22065 "$D"; then
        ok suite-total-off
    fi
    if mcmd suite-total 3 check --total --max-allocations 22065 "$D"; then
        if [ "$(grep -c ' exceeds ' "$TMP/suite-total.out")" -eq 1 ] &&
            grep -q '^memaudit: total of 3 runs: allocations [0-9]* exceeds the budget 22065 (top process: pid [0-9]* (.*/growth))$' "$TMP/suite-total.out"; then
            ok suite-total
        else
            fail suite-total "unexpected output: $(tr '\n' '|' <"$TMP/suite-total.out")"
        fi
    fi
    # A DIR as the baseline: its total, so --total is needed.
    if mcmd suite-base-dir 0 check --total --baseline "$D" --max-growth 0 "$D"; then
        has suite-base-dir "$TMP/suite-base-dir.out" "memaudit: check: 3 runs and their total within 6 budgets"
    fi
    if mcmd suite-base-dir-usage 2 check --baseline "$D" --max-growth 0 "$D"; then
        has suite-base-dir-usage "$TMP/suite-base-dir-usage.err" "a --baseline of several runs needs --total"
    fi
fi

# ---------------------------------------------------------------- the CI example
# docs/ci.md: record the suite, check it against the committed baseline. The
# binaries are copied elsewhere first, so that the committed profile (recorded
# in another checkout) cannot match by path.
BASELINE=$STRSET_SRC/baseline.profile
BUDGETS=$STRSET_SRC/memaudit.budgets
for v in base leak peak; do
    mkdir -p "$TMP/ci/$v"
    case $v in
    base) cp "$STRSET/test_strset" "$TMP/ci/$v/" ;;
    *) cp "$STRSET/$v/test_strset" "$TMP/ci/$v/" ;;
    esac
done
# The baseline passes, and a fresh run is the committed one, site by site.
if mrun ci-base 0 --leak-check -- "$TMP/ci/base/test_strset"; then
    if mcmd ci-base-check 0 check --budgets "$BUDGETS" --baseline "$BASELINE" "$TMP/ci-base.d"; then
        has ci-base-check "$TMP/ci-base-check.out" "memaudit: check: 1 run within 7 budgets"
    fi
    if timeout "$LIMIT" "$MEMAUDIT" diff --format json "$BASELINE" "$TMP/ci-base.d"/*.profile \
        >"$TMP/ci-same.json" 2>"$TMP/ci-same.err"; then
        expect ci-baseline-reproducible ci-same '#changed=0' '#new=0' '#vanished=0' \
            totals.peak.before=136936 totals.peak.change=0 totals.allocations.change=0 \
            totals.bytes.change=0 totals.leaked.after=0 totals.temporary.change=0
    else
        fail ci-baseline-reproducible "memaudit diff failed: $(first_line "$TMP/ci-same.err")"
    fi
fi
# An introduced leak: run --leak-check exits 23, check exits 3.
if mrun ci-leak 23 --leak-check -- "$TMP/ci/leak/test_strset"; then
    if mcmd ci-leak-check 3 check --budgets "$BUDGETS" --baseline "$BASELINE" "$TMP/ci-leak.d"; then
        has ci-leak-check "$TMP/ci-leak-check.out" \
            "leaked blocks 2001 exceeds the budget 0 (top site: strset_add (examples/strset/strset.c:$ADD_LINE))" \
            "leaked 50.8 KiB (52018 bytes) exceeds the baseline's 0 B (0 bytes) + 10% (top site: strset_add ("
    fi
fi
# A doubled peak: no leak, but the growth budget fails on the peak (and on
# the bytes allocated, doubled too), not on the allocations (unchanged).
if mrun ci-peak 0 --leak-check -- "$TMP/ci/peak/test_strset"; then
    if mcmd ci-peak-check 3 check --budgets "$BUDGETS" --baseline "$BASELINE" "$TMP/ci-peak.d"; then
        if has ci-peak-check "$TMP/ci-peak-check.out" \
            "peak heap 267.3 KiB (273728 bytes) exceeds the baseline's 133.7 KiB (136936 bytes) + 10% (top site: strset_add (examples/strset/strset.c:$ADD_LINE))" \
            "bytes allocated 331.8 KiB (339774 bytes) exceeds the baseline's 166.0 KiB (169959 bytes) + 10%"; then
            if [ "$(grep -c ' exceeds ' "$TMP/ci-peak-check.out")" -eq 2 ]; then
                ok ci-peak-only-two
            else
                fail ci-peak-only-two "expected 2 exceeded budgets: $(tr '\n' '|' <"$TMP/ci-peak-check.out")"
            fi
        fi
    fi
fi
