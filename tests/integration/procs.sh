# procs.sh — integration cases for threads, processes, odd allocations and
# "do no harm" (issue 3). Sourced by run.sh, whose helpers (record, run_case,
# expect, versus_memcheck, ok, fail) and variables (TMP, PROGS, LIB, MEMAUDIT,
# DTV, DTV_EXTRA, LIMIT) it uses. Each program's header comment derives the
# figures checked here.

# The first number of KEY in a JSON report (cJSON's layout: "key":<tab>value).
json_num() {
    sed -n "s/.*\"$2\":[[:space:]]*\(-\{0,1\}[0-9][0-9]*\).*/\1/p" "$1" | head -n 1
}

# ---------------------------------------------------------------- threads200.c
if record threads200 0 "$PROGS/threads200"; then
    expect threads200 threads200 \
        process.complete=true process.lost_events=0 summary.unmatched_frees=0 \
        summary.allocations=2250 summary.frees=2200 \
        summary.bytes_allocated=$((317900 + 200 * DTV)) \
        summary.leaked_bytes=54900 summary.leaked_blocks=50 summary.runtime_held_blocks=0 \
        summary.temporary_allocations=2000 \
        '#leaks=1' 'leaks[0].stack[0].function=thread_leak' 'leaks[0].stack[1].function=worker'
    # The peak depends on how the 8 threads of a wave interleave: bounds only.
    expect threads200-peak threads200 \
        "summary.peak_heap_bytes>=$((54900 + 8 * DTV))" \
        "summary.peak_heap_bytes<=$((54900 + 8 * DTV + 8 * 231))"
    versus_memcheck threads200-memcheck threads200 $((200 * DTV_EXTRA)) "$PROGS/threads200"
fi

# ---------------------------------------------------------------- handoff.c
# Cross-thread frees at a high rate, 2 producers and 2 consumers; then the
# same work in one thread. The peak is exact: FINAL + the leaks.
if record handoff 0 "$PROGS/handoff" 2 2; then
    expect handoff handoff \
        process.complete=true process.lost_events=0 summary.unmatched_frees=0 \
        summary.allocations=200005 summary.frees=199985 \
        summary.bytes_allocated=$((31393929 + 4 * DTV)) \
        summary.leaked_bytes=2795 summary.leaked_blocks=20 \
        summary.temporary_allocations=1 summary.peak_heap_bytes=4197099 \
        '#leaks=1' 'leaks[0].stack[0].function=produce' 'leaks[0].stack[1].function=producer'
fi
if record handoff-1thread 0 "$PROGS/handoff" 0 0; then
    expect handoff-1thread handoff-1thread \
        process.complete=true process.lost_events=0 summary.unmatched_frees=0 \
        summary.allocations=200001 summary.frees=199981 summary.bytes_allocated=31393929 \
        summary.leaked_bytes=2795 summary.leaked_blocks=20 \
        summary.temporary_allocations=1 summary.peak_heap_bytes=4197099
fi
if record handoff-small 0 "$PROGS/handoff" 2 2 20000; then
    versus_memcheck handoff-memcheck handoff-small $((4 * DTV_EXTRA)) "$PROGS/handoff" 2 2 20000
fi

# ---------------------------------------------------------------- thread_exit.c
# pthread_exit from 4 threads and then from main, each with events unflushed.
if record thread-pexit 0 "$PROGS/thread_exit" pexit; then
    expect thread-pexit thread-pexit \
        process.complete=true process.lost_events=0 summary.unmatched_frees=0 \
        summary.leaked_bytes=1500 summary.leaked_blocks=5 summary.temporary_allocations=20 \
        '#leaks=2' 'leaks[0].stack[0].function=thread_leak' 'leaks[0].bytes=1000' \
        'leaks[0].blocks=4' 'leaks[1].stack[0].function=main_leak' 'leaks[1].bytes=500'
    versus_memcheck thread-pexit-memcheck thread-pexit $((4 * DTV_EXTRA)) "$PROGS/thread_exit" pexit
fi
# exit(7) from a thread while 3 others allocate: every pair counted before the
# exit is in the trace, nothing is lost, and the trace is whole.
if record thread-exit 7 "$PROGS/thread_exit" exit; then
    pairs=$(sed -n 's/^pairs=//p' "$TMP/thread-exit.out")
    expect thread-exit thread-exit \
        process.complete=true process.exit_status=7 process.lost_events=0 \
        summary.unmatched_frees=0 \
        'leaks[0].stack[0].function=exiter_leak' 'leaks[0].bytes=700' 'leaks[0].blocks=1' \
        'leaks[1].stack[0].function=main_leak' 'leaks[1].bytes=500' '#leaks<=3' \
        'summary.leaked_bytes>=1200' 'summary.leaked_bytes<=1500' \
        'hotspots[0].stack[0].function=churn_once' "hotspots[0].allocations>=${pairs:-1}" \
        "summary.frees>=${pairs:-1}" summary.runtime_held_blocks=4
fi

# ---------------------------------------------------------------- forks.c
# Parent and child, each its own trace with its pid in the name; the child's
# starts at the fork: its free of an inherited block is an inherited free.
dir=$TMP/forks.dir
mkdir -p "$dir"
timeout "$LIMIT" env LD_PRELOAD="$LIB" MEMAUDIT_QUIET=1 MEMAUDIT_OUTPUT="$dir/memaudit.%e.%p.trace" \
    "$PROGS/forks" >"$TMP/forks.out" 2>"$TMP/forks.err"
st=$?
set -- "$dir"/*.trace
if [ $st -ne 0 ]; then
    fail forks "$(status_words $st), expected exit status 0 (stderr: $(first_line "$TMP/forks.err"))"
elif [ $# -ne 2 ]; then
    fail forks "expected 2 traces in $dir, found: $(ls "$dir" | tr '\n' ' ')"
elif report forks-a "$1" && report forks-b "$2"; then
    if [ "$(json_num "$TMP/forks-a.json" exit_status)" = 4 ]; then
        child=forks-a parent=forks-b child_trace=$1 parent_trace=$2
    else
        child=forks-b parent=forks-a child_trace=$2 parent_trace=$1
    fi
    child_pid=$(json_num "$TMP/$child.json" pid)
    parent_pid=$(json_num "$TMP/$parent.json" pid)
    if [ "$child_trace" != "$dir/memaudit.forks.$child_pid.trace" ] ||
        [ "$parent_trace" != "$dir/memaudit.forks.$parent_pid.trace" ]; then
        fail forks-names "trace names do not carry their pids: $child_trace ($child_pid), $parent_trace ($parent_pid)"
    else
        ok forks-names
    fi
    expect forks-child "$child" \
        process.complete=true process.exit_status=4 process.lost_events=0 \
        "process.ppid=$parent_pid" \
        summary.allocations=2 summary.frees=1 summary.bytes_allocated=3040 \
        summary.leaked_bytes=3000 summary.leaked_blocks=1 summary.temporary_allocations=1 \
        summary.inherited_frees=1 summary.unmatched_frees=0 \
        '#leaks=1' 'leaks[0].stack[0].function=child_leak'
    expect forks-parent "$parent" \
        process.complete=true process.exit_status=0 process.lost_events=0 \
        summary.unmatched_frees=0 summary.inherited_frees=0 \
        summary.allocations=7 summary.frees=2 summary.bytes_allocated=$((8333 + DTV)) \
        summary.leaked_bytes=7333 summary.leaked_blocks=5 \
        'leaks[0].stack[0].function=parent_leak' 'leaks[1].stack[0].function=shared' \
        'leaks[1].bytes=2000'
else
    fail forks "$why"
fi

# ---------------------------------------------------------------- exec.c
# Replacing the image: same pid, same name: the exec'd image's trace is the
# numbered sibling, and the one before the exec is whole.
for via in execl execle execlp execv execve execvp execvpe fexecve; do
    name=exec-$via
    if record "$name" 4 "$PROGS/exec" "$via"; then
        expect "$name" "$name" \
            process.complete=true process.lost_events=0 summary.allocations=1 \
            summary.frees=0 summary.bytes_allocated=1000 summary.leaked_bytes=1000 \
            'leaks[0].stack[0].function=leak_before'
        if report "$name-child" "$TMP/$name.trace.1"; then
            expect "$name-child" "$name-child" \
                process.complete=true process.exit_status=4 process.lost_events=0 \
                summary.allocations=2 summary.frees=1 summary.bytes_allocated=2030 \
                summary.leaked_bytes=2000 'leaks[0].stack[0].function=leak_in_child'
        else
            fail "$name-child" "$why"
        fi
    fi
done

# memaudit run: every process, each trace listed exactly once, and only those.
# run_traces NAME WANT PROGRAM [ARGS...]: memaudit run into $TMP/NAME.dir; sets
# traces (the files there) and checks that run listed exactly them.
run_traces() {
    name=$1
    want=$2
    shift 2
    dir=$TMP/$name.dir
    mkdir -p "$dir"
    timeout "$LIMIT" "$MEMAUDIT" run -o "$dir" -- "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
    st=$?
    if [ "$st" != "$want" ]; then
        fail "$name" "memaudit run: $(status_words $st), expected $(status_words "$want") (stderr: $(first_line "$TMP/$name.err"))"
        return 1
    fi
    # (memaudit run also writes a profile beside each trace: not listed here.)
    traces=$(ls "$dir" | grep -v '\.profile$' | sort)
    listed=$(sed -n 's|^memaudit: trace: .*/||p' "$TMP/$name.err" | sort)
    if [ "$traces" != "$listed" ]; then
        fail "$name" "memaudit run listed [$(echo $listed)], the directory holds [$(echo $traces)]"
        return 1
    fi
    return 0
}

# check_child_traces CASE: among $traces, the parent's ("exec VIA") and the
# child's ("exec child") are exact, and every trace is complete.
check_child_traces() {
    n=0
    for t in $traces; do
        n=$((n + 1))
        report "$1-$n" "$TMP/$1.dir/$t" || { fail "$1" "$why"; return 1; }
        "$JCHECK" "$TMP/$1-$n.json" process.complete=true process.lost_events=0 >/dev/null ||
            { fail "$1" "$t is not complete"; return 1; }
        if grep -q '"cmdline":.*exec child' "$TMP/$1-$n.json"; then
            expect "$1-child" "$1-$n" summary.allocations=2 summary.leaked_bytes=2000 \
                process.exit_status=4 'leaks[0].stack[0].function=leak_in_child'
        elif grep -q '"cmdline":.*exec [a-z_]*"' "$TMP/$1-$n.json"; then
            expect "$1-parent" "$1-$n" summary.allocations=1 summary.leaked_bytes=1000 \
                process.exit_status=4 'leaks[0].stack[0].function=leak_before'
        fi
    done
    echo "$n"
}
for via in posix_spawn vfork fork system; do
    if run_traces "run-$via" 4 "$PROGS/exec" "$via"; then
        n=$(check_child_traces "run-$via" | tail -n 1)
        case $via in
        fork) want=3 ;;   # parent, the fork child until its exec, the exec'd child
        system) want=3 ;; # parent, the shell, the child
        *) want=2 ;;
        esac
        if [ "$n" = "$want" ]; then ok "run-$via-count"; else fail "run-$via-count" "expected $want traces, found $n: $(echo $traces)"; fi
    fi
done
# A shell pipeline: both ends recorded, exact, and every trace listed.
if run_traces run-pipeline 4 sh -c "'$PROGS/exec' child | '$PROGS/exec' child"; then
    kids=0
    for t in $traces; do
        report "run-pipeline-$kids-x" "$TMP/run-pipeline.dir/$t" || continue
        if grep -q '"cmdline":.*exec child' "$TMP/run-pipeline-$kids-x.json"; then
            expect "run-pipeline-child$kids" "run-pipeline-$kids-x" process.complete=true \
                summary.allocations=2 summary.leaked_bytes=2000 process.exit_status=4
            kids=$((kids + 1))
        fi
    done
    if [ "$kids" = 2 ]; then ok run-pipeline-count; else fail run-pipeline-count "expected 2 traces of 'exec child', found $kids"; fi
fi
# memaudit run lists only what this run wrote, not a trace already in DIR.
dir=$TMP/run-fresh.dir
mkdir -p "$dir"
: >"$dir/memaudit.exitcode.1.trace"
timeout "$LIMIT" "$MEMAUDIT" run -o "$dir" -- "$PROGS/exitcode" >"$TMP/run-fresh.out" 2>"$TMP/run-fresh.err"
st=$?
listed=$(grep -c '^memaudit: trace: ' "$TMP/run-fresh.err")
if [ $st != 3 ] || [ "$(ls "$dir" | grep -vc '\.profile$')" != 2 ]; then
    fail run-fresh "memaudit run: $(status_words $st), expected 3 and 2 files in $dir: $(ls "$dir" | tr '\n' ' ')"
elif [ "$listed" != 1 ] || grep -q 'memaudit.exitcode.1.trace' "$TMP/run-fresh.err"; then
    fail run-fresh "expected only the new trace listed, stderr: $(tr '\n' ' ' <"$TMP/run-fresh.err")"
else
    ok run-fresh
fi

# memaudit run takes the trace of a process that ended while the command
# runs on at once: the command itself waits (up to 20 s) for that process's
# profile to appear, and the listing afterwards is as always: every trace once.
dir=$TMP/run-early.dir
mkdir -p "$dir"
timeout "$LIMIT" "$MEMAUDIT" run -o "$dir" -- sh -c "'$PROGS/loop' 1000
    i=0
    while [ \$i -lt 200 ] && ! ls '$dir'/memaudit.loop.*.profile >/dev/null 2>&1; do
        sleep 0.1
        i=\$((i + 1))
    done
    ls '$dir'/memaudit.loop.*.profile" >"$TMP/run-early.out" 2>"$TMP/run-early.err"
st=$?
traces=$(ls "$dir" | grep -v '\.profile$' | sort)
listed=$(sed -n 's|^memaudit: trace: .*/||p' "$TMP/run-early.err" | sort)
if [ $st != 0 ] || ! grep -q "memaudit.loop.[0-9]*.profile" "$TMP/run-early.out"; then
    fail run-early "the loop's profile did not appear while the command ran ($(status_words $st)): $(first_line "$TMP/run-early.err")"
elif [ "$traces" != "$listed" ]; then
    fail run-early "memaudit run listed [$(echo $listed)], the directory holds [$(echo $traces)]"
elif ! grep -q "^memaudit: profile: .*/memaudit.loop.[0-9]*.profile" "$TMP/run-early.err"; then
    fail run-early "no profile line for the loop's trace: $(tr '\n' ' ' <"$TMP/run-early.err")"
else
    ok run-early
fi

# ---------------------------------------------------------------- sigalloc.c
# A handler that allocates, the signal arriving anywhere in the loop (the
# recorder too, where it waits for the end of the recorder's call): no
# deadlock (timeout), and every handler run recorded, none lost.
if record sigalloc 0 "$PROGS/sigalloc"; then
    h=$(sed -n 's/^handled=//p' "$TMP/sigalloc.out")
    if [ -z "$h" ] || [ "$h" -lt 1 ]; then
        fail sigalloc "handled=$h: expected handler runs"
    else
        expect sigalloc sigalloc process.complete=true summary.unmatched_frees=0 \
            process.lost_events=0 \
            summary.allocations=$((200000 + h)) summary.frees=$((200000 + h)) \
            summary.bytes_allocated=$((64 * 200000 + 333 * h)) summary.leaked_bytes=0
        echo "# sigalloc: $h handler runs"
    fi
fi

# ---------------------------------------------------------------- longjmp.c
# Handlers that siglongjmp out of an allocator call (docs/usage.md, "Processes,
# threads and signals"): the figures of the calls that took effect, exactly, each one
# abandoned inside libc counted lost, and the recording (watermarks too)
# going on after it. The timer's signal is SIGALRM, managed from the start,
# or SIGRTMIN, whose handler the recorder wraps when the program installs it.
LJ_BIG=263144 # longjmp.c's BIG
export MEMAUDIT_INTERVAL_MS=1
for lj_sig in alrm rt; do
    if record longjmp-$lj_sig 0 "$PROGS/longjmp" timer $lj_sig 20000; then
        # allocs=A frees=F leaked=L jumps=J recorder=R
        # shellcheck disable=SC2046 # five fields on purpose
        set -- $(sed -n 's/^allocs=\([0-9]*\) frees=\([0-9]*\) leaked=\([0-9]*\) jumps=\([0-9]*\) recorder=\([0-9]*\)$/\1 \2 \3 \4 \5/p' \
            "$TMP/longjmp-$lj_sig.out")
        if [ $# != 5 ]; then
            fail longjmp-$lj_sig "no counts from the program: $(first_line "$TMP/longjmp-$lj_sig.out")"
        else
            lj_site='summary.leaked_blocks=0'
            [ "$3" = 0 ] || lj_site='leaks[*].stack[0].function=round_timer'
            expect longjmp-$lj_sig longjmp-$lj_sig process.complete=true process.lost_events=0 \
                summary.unmatched_frees=0 summary.allocations="$1" summary.frees="$2" \
                summary.bytes_allocated=$((LJ_BIG * $1)) summary.leaked_blocks="$3" \
                summary.leaked_bytes=$((LJ_BIG * $3)) "$lj_site"
            echo "# longjmp-$lj_sig: $4 jumps out of a call, $5 of them out of the recorder's code"
            if out=$("$WMCHECK" --min 20 "$TMP/longjmp-$lj_sig.trace" 2>&1); then
                ok "longjmp-$lj_sig-watermarks # $out"
            else
                fail longjmp-$lj_sig-watermarks "$out"
            fi
        fi
    fi
done
if record longjmp-abort 0 "$PROGS/longjmp" abort 50; then
    expect longjmp-abort longjmp-abort process.complete=true process.lost_events=50 \
        summary.unmatched_frees=0 summary.allocations=50 summary.frees=50 \
        summary.bytes_allocated=5000 summary.leaked_bytes=0 summary.reallocs=0
    if out=$("$WMCHECK" --min 10 "$TMP/longjmp-abort.trace" 2>&1); then
        ok "longjmp-abort-watermarks # $out"
    else
        fail longjmp-abort-watermarks "$out"
    fi
fi
# The handler allocates and sleeps while glibc's realloc is stopped at the
# fault: its calls are recorded, and the realloc's record is stamped after
# it (a watermark written meanwhile is below it).
if record longjmp-fault 0 "$PROGS/longjmp" fault 50; then
    expect longjmp-fault longjmp-fault process.complete=true process.lost_events=0 \
        summary.unmatched_frees=0 summary.allocations=201 summary.frees=201 \
        summary.reallocs=50 summary.bytes_allocated=$((1065357 * 50 + 333)) \
        summary.leaked_bytes=0 "any(hotspots[*].stack[0].function)=in_fault_handler"
    if out=$("$WMCHECK" --min 20 "$TMP/longjmp-fault.trace" 2>&1); then
        ok "longjmp-fault-watermarks # $out"
    else
        fail longjmp-fault-watermarks "$out"
    fi
fi
# A SIGUSR1 held back while free records a double free, then glibc's abort
# inside the same free, whose handler siglongjmps out: the SIGUSR1 handler
# must still run (before the SIGABRT handler), not wait for a later call.
if record sigheld 0 "$PROGS/sigheld" 300; then
    if grep -qx 'rounds=300 late=0' "$TMP/sigheld.out"; then
        ok sigheld-delivered
    else
        fail sigheld-delivered "a held signal not delivered within 20 ms: $(first_line "$TMP/sigheld.out")"
    fi
    expect sigheld sigheld process.complete=true process.lost_events=0 \
        summary.frees=300 summary.unmatched_frees=300 summary.leaked_blocks=0 \
        "any(hotspots[*].stack[0].function)=round_held"
fi
unset MEMAUDIT_INTERVAL_MS

# Realtime signals held back while the recorder records, then sent again
# when the kernel's queue (RLIMIT_SIGPENDING 1) is full: each must still
# reach the handler (sigqueue_full.c: 3000 sent, 3000 received).
# Exit status 3: other processes of the user kept the queue full for 20 s.
timeout "$LIMIT" env LD_PRELOAD="$LIB" MEMAUDIT_OUTPUT="$TMP/sigqueue_full.trace" \
    "$PROGS/sigqueue_full" >"$TMP/sigqueue_full.out" 2>"$TMP/sigqueue_full.err"
st=$?
case $st in
0)
    if report sigqueue_full "$TMP/sigqueue_full.trace"; then
        expect sigqueue_full sigqueue_full process.complete=true process.lost_events=0 \
            summary.unmatched_frees=0 summary.leaked_blocks=0
    else
        fail sigqueue_full "$why"
    fi
    ;;
3) echo "ok sigqueue_full # skipped: the user's signal queue stayed full" ;;
*) fail sigqueue_full "$(first_line "$TMP/sigqueue_full.out") ($(status_words $st))" ;;
esac

# Threads cancelled while they allocate (cancel.c): malloc and free are no
# cancellation points, so the recorder's waits and writes inside them must
# be none either (a write lock held for good hung every later writer).
if record cancel 0 "$PROGS/cancel" 20; then
    if grep -qx 'cancelled=20' "$TMP/cancel.out"; then
        expect cancel cancel process.complete=true process.lost_events=0 \
            summary.unmatched_frees=0 summary.leaked_blocks=0 \
            "any(hotspots[*].stack[0].function)=round_cancel"
    else
        fail cancel "not every worker cancelled: $(first_line "$TMP/cancel.out")"
    fi
fi

# sigset, sigignore and siginterrupt agree with the sigaction and signal
# that the recorder interposes (sigfuncs.c: nine checks, as natively).
if record sigfuncs 0 "$PROGS/sigfuncs"; then
    if [ "$(grep -c '^ok ' "$TMP/sigfuncs.out")" = 9 ]; then
        ok sigfuncs
    else
        fail sigfuncs "$(grep -m1 -v '^ok ' "$TMP/sigfuncs.out")"
    fi
fi

# ---------------------------------------------------------------- C++, malloc extras
if record cxx_new 0 "$PROGS/cxx_new"; then
    expect cxx_new cxx_new \
        process.complete=true process.lost_events=0 summary.unmatched_frees=0 \
        summary.allocations=11 summary.frees=9 summary.bytes_allocated=$((1699 + 72704)) \
        summary.leaked_bytes=777 summary.leaked_blocks=1 \
        summary.runtime_held_bytes=72704 summary.runtime_held_blocks=1 \
        '#leaks=1' 'leaks[0].stack[0].function=leak_array()' \
        'any(hotspots[*].stack[0].function)=Holder::~Holder()'
fi
if record malloc_misc 0 "$PROGS/malloc_misc"; then
    expect malloc_misc malloc_misc \
        process.complete=true process.lost_events=0 summary.unmatched_frees=0 \
        summary.allocations=4 summary.frees=4 summary.bytes_allocated=1049132 \
        summary.peak_heap_bytes=1048676 summary.leaked_bytes=0
fi

# ---------------------------------------------------------------- do no harm
# C++ throw/catch with and without the preload: the ratio is printed; over 3x
# means the preload changed the unwinder the exceptions use.
# The fastest of 3 runs each, so that a busy machine does not fail the case.
throw_ns() {
    for i in 1 2 3; do
        timeout "$LIMIT" env "$@" "$PROGS/cxx_throw" 2>/dev/null | sed -n 's/^ns=//p'
    done | sort -n | head -n 1
}
native_ns=$(throw_ns)
if record cxx_throw 0 "$PROGS/cxx_throw"; then
    preload_ns=$(throw_ns LD_PRELOAD="$LIB" MEMAUDIT_OUTPUT="$TMP/throw.%p.trace" MEMAUDIT_QUIET=1)
    if [ -z "$native_ns" ] || [ -z "$preload_ns" ]; then
        fail cxx_throw "no timing (native '$native_ns', preload '$preload_ns')"
    elif [ $((preload_ns)) -gt $((3 * native_ns)) ]; then
        fail cxx_throw "a throw+catch is $((preload_ns * 10 / native_ns / 10)).$((preload_ns * 10 / native_ns % 10))x slower under the preload"
    else
        echo "# cxx_throw: preload/native = $((preload_ns * 100 / native_ns))%"
        expect cxx_throw cxx_throw process.complete=true summary.frees=20000 \
            summary.unmatched_frees=0 'hotspots[0].allocations=20000' \
            'hotspots[0].stack[1].function=thrower(int)'
    fi
fi

# harm_case NAME ENV...: run harm under the preload with ENV; stdout and status
# must equal the native run's, and stderr must be exactly one "memaudit:" line.
timeout "$LIMIT" "$PROGS/harm" >"$TMP/harm.native" 2>&1
harm_native=$?
harm_case() {
    name=$1
    shift
    timeout "$LIMIT" env LD_PRELOAD="$LIB" "$@" "$PROGS/harm" >"$TMP/$name.out" 2>"$TMP/$name.err"
    st=$?
    if [ $st != $harm_native ]; then
        fail "$name" "$(status_words $st), natively $(status_words $harm_native)"
    elif ! cmp -s "$TMP/$name.out" "$TMP/harm.native"; then
        fail "$name" "stdout differs from the native run's"
    elif [ "$(wc -l <"$TMP/$name.err")" != 1 ] || ! grep -q '^memaudit: ' "$TMP/$name.err"; then
        fail "$name" "expected one memaudit: line on stderr, got: $(tr '\n' '|' <"$TMP/$name.err")"
    else
        ok "$name"
        return 0
    fi
    return 1
}
harm_case harm-depth-zero MEMAUDIT_OUTPUT="$TMP/harm.%p.trace" MEMAUDIT_DEPTH=0
harm_case harm-depth-word MEMAUDIT_OUTPUT="$TMP/harm.%p.trace" MEMAUDIT_DEPTH=deep
harm_case harm-depth-huge MEMAUDIT_OUTPUT="$TMP/harm.%p.trace" MEMAUDIT_DEPTH=99999999999999999999999
harm_case harm-no-dir MEMAUDIT_OUTPUT="$TMP/no/such/dir/x.trace"
harm_case harm-not-dir MEMAUDIT_OUTPUT=/dev/null/x.trace
# A symlink where the trace would go is not followed: the trace goes to a
# numbered sibling and the link's target is never created.
ln -s "$TMP/victim" "$TMP/harm-link.trace"
if harm_case harm-symlink MEMAUDIT_OUTPUT="$TMP/harm-link.trace"; then
    if [ -e "$TMP/victim" ] || [ ! -s "$TMP/harm-link.trace.1" ]; then
        fail harm-symlink-target "the symlink was followed, or no sibling trace was written"
    else
        ok harm-symlink-target
    fi
fi
# Disk full and read-only directory: small tmpfs mounts, root only.
mnt=$TMP/mnt
mkdir -p "$mnt/full" "$mnt/ro"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=64k tmpfs "$mnt/full" 2>/dev/null; then
    harm_case harm-disk-full MEMAUDIT_OUTPUT="$mnt/full/x.trace"
    umount "$mnt/full"
else
    echo "ok harm-disk-full # skipped: needs root to mount a 64 KiB tmpfs"
fi
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o ro,size=64k tmpfs "$mnt/ro" 2>/dev/null; then
    harm_case harm-read-only MEMAUDIT_OUTPUT="$mnt/ro/x.trace"
    umount "$mnt/ro"
else
    echo "ok harm-read-only # skipped: needs root to mount a read-only tmpfs"
fi
# A set-uid program run by another user: not recorded, says nothing.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
    suid=$TMP/suid
    mkdir -p "$suid" && chmod 755 "$TMP" "$suid"
    cp "$PROGS/harm" "$suid/harm" && chmod 4755 "$suid/harm"
    setpriv --reuid=65534 --regid=65534 --clear-groups "$suid/harm" >"$TMP/suid.native" 2>&1
    native_st=$?
    if ! grep -q '^euid=0$' "$TMP/suid.native"; then
        echo "ok harm-setuid # skipped: the set-uid bit does not take effect under $TMP"
    else
        timeout "$LIMIT" setpriv --reuid=65534 --regid=65534 --clear-groups env LD_PRELOAD="$LIB" \
            MEMAUDIT_OUTPUT="$suid/x.trace" "$suid/harm" >"$TMP/suid.out" 2>"$TMP/suid.err"
        st=$?
        if [ $st != $native_st ] || ! cmp -s "$TMP/suid.out" "$TMP/suid.native" ||
            [ -s "$TMP/suid.err" ] || ls "$suid" | grep -q trace; then
            fail harm-setuid "status $st (natively $native_st), stderr '$(first_line "$TMP/suid.err")', files: $(ls "$suid" | tr '\n' ' ')"
        else
            ok harm-setuid
        fi
    fi
else
    echo "ok harm-setuid # skipped: needs root and setpriv"
fi
