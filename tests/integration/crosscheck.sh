# crosscheck.sh — the validated stack cache (preload/stack.c) against full
# walks, on whole programs (issue 7). Sourced by run.sh, whose helpers (record,
# expect, ok, fail, first_line) and variables (TMP, PROGS, DTV) it uses.
#
# With MEMAUDIT_CROSSCHECK=1 the recorder compares the stack id of every event,
# cached or walked, with the one an independent unw_backtrace walk gives, says
# so on stderr at the first disagreement ("cross-check: stack ... is not the
# full walk's stack ..."), and at exit how many it compared and how many
# disagreed. A case fails on a disagreement, and also when the summary line is
# missing or compared nothing (the mode did not run, and the case would test
# nothing). The figures must be the exact ones of the same programs recorded
# without the cross-check (run.sh, procs.sh).

# crosscheck_case NAME 'EXPR...' PROGRAM [ARGS...]: record PROGRAM with the
# cross-check on, check its stderr, then the report against the jcheck
# expressions (one string, split at blanks; none holds a blank).
crosscheck_case() {
    cc_name=$1
    cc_exprs=$2
    shift 2
    export MEMAUDIT_CROSSCHECK=1
    record "$cc_name" 0 "$@"
    cc_st=$?
    unset MEMAUDIT_CROSSCHECK
    [ $cc_st -eq 0 ] || return
    if grep -q 'cross-check: stack' "$TMP/$cc_name.err"; then
        fail "$cc_name" "$(grep -m 1 'cross-check: stack' "$TMP/$cc_name.err")"
        return
    fi
    cc_line=$(grep -m 1 'cross-check: [0-9]* stacks compared' "$TMP/$cc_name.err")
    cc_compared=$(printf '%s\n' "$cc_line" | sed -n 's/.*cross-check: \([0-9]*\) stacks compared.*/\1/p')
    cc_bad=$(printf '%s\n' "$cc_line" | sed -n 's/.*walk, \([0-9]*\) disagreed.*/\1/p')
    if [ -z "$cc_compared" ] || [ "$cc_compared" -eq 0 ] || [ "$cc_bad" != 0 ]; then
        fail "$cc_name" "no clean cross-check summary on stderr (got: ${cc_line:-nothing}; stderr: $(first_line "$TMP/$cc_name.err"))"
        return
    fi
    set -f
    # shellcheck disable=SC2086 # split on purpose
    expect "$cc_name" "$cc_name" $cc_exprs
    set +f
}

crosscheck_case crosscheck-loop "process.complete=true process.lost_events=0
    summary.unmatched_frees=0 summary.allocations=200000 summary.frees=200000
    summary.temporary_allocations=200000 hotspots[0].stack[0].function=churn
    hotspots[0].stack[1].function=descend hotspots[0].stack[22].function=main" \
    "$PROGS/loop" 200000
crosscheck_case crosscheck-threads "process.complete=true process.lost_events=0
    summary.unmatched_frees=0 summary.allocations=14008 summary.frees=14004
    summary.bytes_allocated=$((12273925 + 4 * DTV)) summary.temporary_allocations=6000
    summary.leaked_bytes=10000 leaks[0].stack[0].function=thread_leak
    leaks[0].stack[1].function=worker" \
    "$PROGS/threads"
crosscheck_case crosscheck-handoff "process.complete=true process.lost_events=0
    summary.unmatched_frees=0 summary.allocations=200005 summary.frees=199985
    summary.bytes_allocated=$((31393929 + 4 * DTV)) summary.peak_heap_bytes=4197099
    leaks[0].stack[0].function=produce leaks[0].stack[1].function=producer" \
    "$PROGS/handoff" 2 2
crosscheck_case crosscheck-growth "process.complete=true summary.unmatched_frees=0
    summary.allocations=22065 summary.leaked_bytes=5000 summary.leaked_blocks=41
    findings[kind:pooling].stack[0].function=make_node
    findings[kind:realloc-growth].stack[0].function=buf_grow" \
    "$PROGS/growth"
# Frames without a frame pointer, a realigned stack (DRAP), alloca, recursion
# and a signal handler that allocates (tests/progs/frames.c): the recorder's
# own walk by the .eh_frame rules, and libunwind's where it leaves off.
crosscheck_case crosscheck-frames "process.complete=true process.lost_events=0
    summary.unmatched_frees=0 summary.allocations=3103 summary.frees=3100
    summary.leaked_bytes=666 summary.leaked_blocks=3
    leaks[0].bytes=333 leaks[0].stack[0].function=leaf leaks[0].stack[1].function=alloca_caller
    leaks[1].bytes=222 leaks[1].stack[1].function=drap_caller
    leaks[2].bytes=111 leaks[2].stack[1].function=sp_mid leaks[2].stack[2].function=main
    hotspots[0].allocations=100 hotspots[0].stack[1].function=on_usr1" \
    "$PROGS/frames"
