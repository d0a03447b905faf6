#!/bin/sh
# Integration tests: run the programs of tests/progs/ under the recorder, report
# each trace as JSON, and check the figures against totals known exactly (each
# program's header comment derives them; tests/integration/README.md lists them).
# Where valgrind is installed, some cases also compare with memcheck (and peak.c
# with massif) run natively on the same program.
#
#   sh tests/integration/run.sh BUILD_DIR        (from the repository root)
#
# Needs BUILD_DIR/libaudit.so, BUILD_DIR/memaudit, BUILD_DIR/progs/*,
# BUILD_DIR/tools/jcheck and wmcheck (`make integration` builds them all). Every program runs
# in its own child process under `timeout`, so a deadlock in the recorder is a
# failed case, not a hung suite. Prints "ok NAME" or "FAIL NAME: reason" per
# case, then "N passed, M failed"; exits 1 if any case failed.

BUILD=${1:-build}
case $BUILD in
/*) ;;
*) BUILD=$(pwd)/$BUILD ;;
esac
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../progs" && pwd)
PROGS=$BUILD/progs
LIB=$BUILD/libaudit.so
MEMAUDIT=$BUILD/memaudit
JCHECK=$BUILD/tools/jcheck
WMCHECK=$BUILD/tools/wmcheck
LIMIT=${MEMAUDIT_TEST_TIMEOUT:-120}

passed=0
failed=0

for f in "$LIB" "$MEMAUDIT" "$JCHECK" "$WMCHECK"; do
    if [ ! -e "$f" ]; then
        echo "run.sh: $f is missing (run make integration)" >&2
        exit 2
    fi
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/memaudit-it.XXXXXX") || exit 2
trap '[ -n "$MEMAUDIT_IT_KEEP" ] || rm -rf "$TMP"' EXIT
trap 'rm -rf "$TMP"; exit 130' INT TERM

ok() {
    echo "ok $1"
    passed=$((passed + 1))
}

fail() {
    echo "FAIL $1: $2"
    failed=$((failed + 1))
}

# One line out of a file's first lines, for failure messages.
first_line() {
    head -n 1 "$1" 2>/dev/null | cut -c 1-300
}

# Why a command ended with status $1, in words.
status_words() {
    case $1 in
    124) echo "timed out after ${LIMIT}s (deadlock or hang?)" ;;
    0) echo "exit status 0" ;;
    *) if [ "$1" -gt 128 ]; then echo "killed by signal $(($1 - 128))"; else echo "exit status $1"; fi ;;
    esac
}

# report NAME TRACE: TRACE -> $TMP/NAME.json. Returns 1 (and sets why) on failure.
report() {
    if [ ! -s "$2" ]; then
        why="no trace written at $2 (recorder stderr: $(first_line "$TMP/$1.err"))"
        return 1
    fi
    timeout "$LIMIT" "$MEMAUDIT" report --format json "$2" >"$TMP/$1.json" 2>"$TMP/$1.rerr"
    st=$?
    if [ $st -ne 0 ]; then
        why="memaudit report: $(status_words $st): $(first_line "$TMP/$1.rerr")"
        return 1
    fi
    return 0
}

# record NAME WANT_STATUS PROGRAM [ARGS...]: run PROGRAM under the preload
# library into $TMP/NAME.trace, check its exit status, report it into
# $TMP/NAME.json. On failure prints "FAIL NAME: ..." and returns 1.
record() {
    name=$1
    want=$2
    shift 2
    timeout "$LIMIT" env LD_PRELOAD="$LIB" MEMAUDIT_OUTPUT="$TMP/$name.trace" "$@" \
        >"$TMP/$name.out" 2>"$TMP/$name.err"
    st=$?
    if [ "$st" != "$want" ]; then
        fail "$name" "under the recorder: $(status_words $st), expected $(status_words "$want") (stderr: $(first_line "$TMP/$name.err"))"
        return 1
    fi
    if ! report "$name" "$TMP/$name.trace"; then
        fail "$name" "$why"
        return 1
    fi
    return 0
}

# expect CASE NAME EXPR...: check $TMP/NAME.json with jcheck; print the verdict.
expect() {
    case_name=$1
    json=$TMP/$2.json
    shift 2
    if [ ! -s "$json" ]; then
        fail "$case_name" "no report ($json)"
        return 1
    fi
    out=$("$JCHECK" "$json" "$@" 2>&1)
    st=$?
    if [ $st -eq 0 ]; then
        ok "$case_name"
        return 0
    fi
    fail "$case_name" "$(printf '%s\n' "$out" | sed 's/^FAIL //' | awk 'NR > 1 { printf "; " } { printf "%s", $0 }')"
    return 1
}

have_valgrind() {
    command -v valgrind >/dev/null 2>&1
}

# memcheck NAME PROGRAM [ARGS...]: run PROGRAM natively under memcheck and set
# vg_allocs vg_frees vg_bytes vg_inuse_bytes vg_inuse_blocks. Returns 1 (with
# why) if memcheck's summary could not be read.
memcheck() {
    log=$TMP/$1.memcheck
    shift
    timeout "$LIMIT" valgrind --tool=memcheck --leak-check=full --log-file="$log" "$@" \
        >/dev/null 2>&1
    usage=$(sed -n 's/,//g; s/.*total heap usage: \([0-9]*\) allocs \([0-9]*\) frees \([0-9]*\) bytes allocated.*/\1 \2 \3/p' "$log")
    inuse=$(sed -n 's/,//g; s/.*in use at exit: \([0-9]*\) bytes in \([0-9]*\) blocks.*/\1 \2/p' "$log")
    if [ -z "$usage" ] || [ -z "$inuse" ]; then
        why="could not read memcheck's summary in $log: $(grep -v '^==[0-9]*== *$' "$log" | sed -n 5p)"
        return 1
    fi
    # shellcheck disable=SC2086 # split the five numbers on purpose
    set -- $usage $inuse
    vg_allocs=$1 vg_frees=$2 vg_bytes=$3 vg_inuse_bytes=$4 vg_inuse_blocks=$5
    return 0
}

# versus_memcheck CASE NAME DTV_EXTRA PROGRAM [ARGS...]: compare the report of
# NAME (already recorded from the same program and arguments) with memcheck.
# DTV_EXTRA is added to memcheck's bytes (see dtv_extra below).
versus_memcheck() {
    case_name=$1
    name=$2
    extra=$3
    shift 3
    if ! have_valgrind; then
        echo "ok $case_name # skipped: valgrind not installed"
        return 0
    fi
    if ! memcheck "$name" "$@"; then
        fail "$case_name" "$why"
        return 1
    fi
    # Memcheck runs glibc's exit-time cleanup, which frees the C runtime's
    # blocks that the report shows apart (runtime_held): those frees are
    # memcheck's, not the program's.
    held=$(sed -n 's/^[[:space:]]*"runtime_held_blocks":[[:space:]]*\([0-9]*\).*/\1/p' "$TMP/$name.json")
    expect "$case_name" "$name" \
        summary.allocations="$vg_allocs" summary.frees="$((vg_frees - ${held:-0}))" \
        summary.bytes_allocated="$((vg_bytes + extra))" \
        summary.leaked_bytes="$vg_inuse_bytes" summary.leaked_blocks="$vg_inuse_blocks"
}

# glibc callocs one DTV per new thread: (TLS modules + 16) * 16 bytes (2.36:
# dl_tls_max_dtv_idx + DTV_SURPLUS 14 + 2 entries of 16 bytes). Natively libc is
# our programs' only TLS module (272 bytes: what memcheck sees); the recorder
# brings in more (libaudit.so's own thread-locals, libunwind it loads), and each
# adds 16 bytes to every DTV. That is glibc's allocation, made larger by loading
# a module, not an event of the recorder: the expectations follow the process as
# it is actually loaded, and the memcheck comparisons add the difference.
# tls_modules [PRELOAD]: count the mapped modules with a TLS segment.
tls_modules() {
    if [ -n "$1" ]; then
        timeout "$LIMIT" env LD_PRELOAD="$1" MEMAUDIT_OUTPUT="$TMP/maps.%p.trace" \
            MEMAUDIT_QUIET=1 "$PROGS/maps" 2>/dev/null
    else
        timeout "$LIMIT" "$PROGS/maps" 2>/dev/null
    fi |
        awk '$6 ~ /^\// { print $6 }' | sort -u |
        while read -r m; do
            if readelf -lW "$m" 2>/dev/null | grep -q '^ *TLS '; then
                echo "$m"
            fi
        done | wc -l
}
tls_native=$(tls_modules)
tls_preload=$(tls_modules "$LIB")
DTV_NATIVE=$(((tls_native + 16) * 16))
DTV=$(((tls_preload + 16) * 16))
DTV_EXTRA=$((DTV - DTV_NATIVE))

# Line of the first match of a pattern in a program's source (for stack[].line).
src_line() {
    grep -n "$2" "$SRC/$1" | head -n 1 | cut -d: -f1
}

# ---------------------------------------------------------------- reallocarray.c
if record reallocarray 0 "$PROGS/reallocarray"; then
    expect reallocarray reallocarray \
        process.complete=true summary.unmatched_frees=0 summary.allocations=4 \
        summary.frees=3 summary.reallocs=1 summary.bytes_allocated=349 \
        summary.leaked_bytes=9 summary.leaked_blocks=1 \
        'leaks[0].stack[0].function=leak_one'
fi

# ---------------------------------------------------------------- leaks.c
if record leaks 0 "$PROGS/leaks"; then
    expect leaks leaks \
        process.complete=true process.lost_events=0 summary.unmatched_frees=0 \
        summary.allocations=22 summary.frees=10 summary.bytes_allocated=14656 \
        summary.leaked_bytes=13800 summary.leaked_blocks=12 \
        summary.temporary_allocations=10 summary.reallocs=2 summary.failed_allocations=0 \
        summary.peak_heap_bytes=13800
    expect leaks-sites leaks \
        '#leaks=10' \
        'leaks[0].stack[0].function=leak_pvalloc' 'leaks[0].bytes=1900' 'leaks[0].blocks=1' \
        'leaks[1].stack[0].function=leak_valloc' 'leaks[1].bytes=1800' \
        'leaks[2].stack[0].function=leak_memalign' 'leaks[2].bytes=1700' \
        'leaks[3].stack[0].function=leak_aligned_alloc' 'leaks[3].bytes=1600' \
        'leaks[4].stack[0].function=leak_posix_memalign' 'leaks[4].bytes=1500' \
        'leaks[5].stack[0].function=leak_reallocarray' 'leaks[5].bytes=1400' \
        'leaks[6].stack[0].function=leak_realloc' 'leaks[6].bytes=1300' \
        'leaks[7].stack[0].function=leak_calloc' 'leaks[7].bytes=1200' \
        'leaks[8].stack[0].function=leak_malloc' 'leaks[8].bytes=1100' 'leaks[8].blocks=1' \
        "leaks[8].stack[0].line=$(src_line leaks.c 'kept\[0\] = malloc(1100)')" \
        'leaks[9].stack[0].function=leak_loop' 'leaks[9].bytes=300' 'leaks[9].blocks=3' \
        'leaks[9].allocations=3' \
        'leaks[*].stack[0].file~leaks.c' 'leaks[*].stack[0].inlined=false' \
        'leaks[*].stack[1].function=main' \
        "leaks[*].stack[0].module~leaks"
fi
# valgrind 3.19 aborts on pvalloc: compare the variant without it.
if record leaks-nopvalloc 0 "$PROGS/leaks" nopvalloc; then
    expect leaks-nopvalloc leaks-nopvalloc \
        summary.allocations=20 summary.frees=9 summary.bytes_allocated=12626 \
        summary.leaked_bytes=11900 summary.leaked_blocks=11 summary.temporary_allocations=9 \
        '#leaks=9' 'leaks[0].stack[0].function=leak_valloc'
    versus_memcheck leaks-memcheck leaks-nopvalloc 0 "$PROGS/leaks" nopvalloc
fi

# ---------------------------------------------------------------- realloc_chain.c
if record realloc_chain 0 "$PROGS/realloc_chain"; then
    expect realloc_chain realloc_chain \
        process.complete=true process.lost_events=0 summary.unmatched_frees=0 \
        summary.allocations=13 summary.frees=13 summary.bytes_allocated=131056 \
        summary.reallocs=12 summary.peak_heap_bytes=65536 \
        summary.leaked_bytes=0 summary.leaked_blocks=0 summary.temporary_allocations=13 \
        '#leaks=0' \
        'hotspots[0].stack[0].function=grow_buffer' 'hotspots[0].allocations=12' \
        'hotspots[0].bytes=131040' 'hotspots[0].temporary=12' \
        'hotspots[1].stack[0].function=grow_buffer' 'hotspots[1].allocations=1' \
        'hotspots[1].bytes=16'
    versus_memcheck realloc_chain-memcheck realloc_chain 0 "$PROGS/realloc_chain"
fi

# ---------------------------------------------------------------- realloc_zero.c
if record realloc_zero 0 "$PROGS/realloc_zero"; then
    expect realloc_zero realloc_zero \
        process.complete=true process.lost_events=0 summary.unmatched_frees=0 \
        summary.allocations=3 summary.frees=3 summary.bytes_allocated=600 \
        summary.peak_heap_bytes=300 summary.leaked_bytes=0 summary.leaked_blocks=0 \
        summary.failed_allocations=0 summary.temporary_allocations=3
    versus_memcheck realloc_zero-memcheck realloc_zero 0 "$PROGS/realloc_zero"
fi

# ---------------------------------------------------------------- peak.c
if record peak 0 "$PROGS/peak"; then
    expect peak peak \
        process.complete=true process.lost_events=0 summary.unmatched_frees=0 \
        summary.allocations=3012 summary.frees=3012 summary.bytes_allocated=18331499 \
        summary.peak_heap_bytes=1000000 summary.peak_blocks=10 \
        summary.leaked_bytes=0 summary.leaked_blocks=0 summary.reallocs=1 \
        summary.temporary_allocations=1002 \
        peak.bytes=1000000 '#peak.sites=2' \
        'peak.sites[0].stack[0].function=peak_hold' 'peak.sites[0].bytes=936000' \
        'peak.sites[0].blocks=9' \
        'peak.sites[1].stack[0].function=keep_background' 'peak.sites[1].bytes=64000' \
        'peak.sites[1].blocks=1'
    versus_memcheck peak-memcheck peak 0 "$PROGS/peak"
    if have_valgrind; then
        # massif's peak, with no allocator overhead counted, exactly (inaccuracy 0).
        timeout "$LIMIT" valgrind --tool=massif --heap-admin=0 --peak-inaccuracy=0 --stacks=no \
            --massif-out-file="$TMP/peak.massif" "$PROGS/peak" >/dev/null 2>&1
        ms_peak=$(awk -F= '/^mem_heap_B=/ { if ($2 + 0 > max) max = $2 + 0 } END { print max + 0 }' \
            "$TMP/peak.massif" 2>/dev/null)
        if [ -z "$ms_peak" ] || [ "$ms_peak" = 0 ]; then
            fail peak-massif "could not read massif's peak from $TMP/peak.massif"
        else
            expect peak-massif peak summary.peak_heap_bytes="$ms_peak"
        fi
    else
        echo "ok peak-massif # skipped: valgrind not installed"
    fi
fi

# ---------------------------------------------------------------- temporaries.c
# + 1 DTV (glibc, pthread_create; freed by pthread_join: the helper runs on our stack).
if record temporaries 0 "$PROGS/temporaries"; then
    expect temporaries temporaries \
        process.complete=true \
        summary.allocations=177 summary.frees=177 \
        summary.bytes_allocated=$((11056 + DTV)) \
        summary.temporary_allocations=143 summary.reallocs=10 \
        summary.leaked_bytes=0 summary.leaked_blocks=0
    expect temporaries-clean temporaries process.lost_events=0 summary.unmatched_frees=0
    versus_memcheck temporaries-memcheck temporaries "$DTV_EXTRA" "$PROGS/temporaries"
fi

# ---------------------------------------------------------------- loop.c
if record loop 0 "$PROGS/loop"; then
    expect loop loop \
        process.complete=true process.lost_events=0 summary.unmatched_frees=0 \
        summary.allocations=3000000 summary.frees=3000000 \
        summary.bytes_allocated=779999665 summary.temporary_allocations=3000000 \
        summary.peak_heap_bytes=512 summary.leaked_bytes=0 summary.leaked_blocks=0 \
        'hotspots[0].stack[0].function=churn' 'hotspots[0].allocations=3000000' \
        'hotspots[0].temporary=3000000' 'hotspots[0].bytes=779999665' \
        '#hotspots[0].stack>=23' 'hotspots[0].stack[1].function=descend' \
        'hotspots[0].stack[21].function=descend' 'hotspots[0].stack[22].function=main'
fi
if record loop-20000 0 "$PROGS/loop" 20000; then
    expect loop-20000 loop-20000 \
        summary.allocations=20000 summary.frees=20000 summary.bytes_allocated=5199230 \
        summary.temporary_allocations=20000 summary.leaked_bytes=0
    versus_memcheck loop-memcheck loop-20000 0 "$PROGS/loop" 20000
fi

# ---------------------------------------------------------------- threads.c
# + 4 DTVs (glibc), allocated by pthread_create and freed by pthread_join.
if record threads 0 "$PROGS/threads"; then
    expect threads threads \
        process.complete=true \
        summary.allocations=14008 summary.frees=14004 \
        summary.bytes_allocated=$((12273925 + 4 * DTV)) \
        summary.reallocs=4000 summary.temporary_allocations=6000 \
        summary.leaked_bytes=10000 summary.leaked_blocks=4 summary.failed_allocations=0 \
        '#leaks=1' 'leaks[0].stack[0].function=thread_leak' 'leaks[0].bytes=10000' \
        'leaks[0].blocks=4' 'leaks[0].stack[1].function=worker'
    # Every free of the program matches an allocation the trace saw (glibc's
    # DTV frees included), and the recorder dropped nothing.
    expect threads-clean threads process.lost_events=0 summary.unmatched_frees=0
    versus_memcheck threads-memcheck threads $((4 * DTV_EXTRA)) "$PROGS/threads"
fi

# ---------------------------------------------------------------- glibc_held.c
# glibc keeps 2 DTVs allocated at exit: shown apart (runtime_held), not among
# the program's leaks (the compiler may unroll the loop: one or two sites).
# Memcheck frees them in its exit-time cleanup (2 frees the program never
# made): versus_memcheck takes the runtime_held blocks off its frees.
if record glibc_held 0 "$PROGS/glibc_held"; then
    expect glibc_held glibc_held \
        process.complete=true \
        summary.allocations=3 summary.bytes_allocated=$((777 + 2 * DTV)) \
        summary.leaked_bytes=777 summary.leaked_blocks=1 \
        summary.runtime_held_bytes=$((2 * DTV)) summary.runtime_held_blocks=2 \
        'runtime_held[*].stack[0].function=allocate_dtv' \
        'runtime_held[*].stack[0].module~ld-linux' \
        'leaks[0].stack[0].function=leak_in_main' 'leaks[0].bytes=777' \
        'leaks[*].stack[0].function=leak_in_main'
    versus_memcheck glibc_held-memcheck glibc_held $((2 * DTV_EXTRA)) "$PROGS/glibc_held"
fi

# ---------------------------------------------------------------- failed.c
if record failed 0 "$PROGS/failed"; then
    expect failed failed \
        process.complete=true process.lost_events=0 summary.unmatched_frees=0 \
        summary.failed_allocations=5 summary.allocations=1 summary.frees=1 \
        summary.bytes_allocated=64 summary.peak_heap_bytes=64 summary.reallocs=0 \
        summary.leaked_bytes=0 summary.leaked_blocks=0
    versus_memcheck failed-memcheck failed 0 "$PROGS/failed"
fi

# ---------------------------------------------------------------- exitcode.c
# The bare preload keeps the status and sees the atexit handler.
if record exitcode 3 "$PROGS/exitcode"; then
    expect exitcode exitcode \
        process.complete=true \
        summary.allocations=4 summary.frees=3 summary.bytes_allocated=4450 \
        summary.leaked_bytes=4000 summary.leaked_blocks=1 summary.temporary_allocations=2 \
        summary.peak_heap_bytes=4400 \
        'leaks[0].stack[0].function=leak_before_exit'
    # The trace records the status itself (END record; -1 means unknown).
    expect exitcode-status exitcode process.exit_status=3
    versus_memcheck exitcode-memcheck exitcode 0 "$PROGS/exitcode"
fi

# memaudit run: exit status kept, trace complete.
run_case() {
    name=$1
    want=$2
    shift 2
    dir=$TMP/$name.dir
    timeout "$LIMIT" "$MEMAUDIT" run -o "$dir" -- "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
    st=$?
    if [ "$st" != "$want" ]; then
        fail "$name" "memaudit run: $(status_words $st), expected $(status_words "$want") (stderr: $(first_line "$TMP/$name.err"))"
        return 1
    fi
    set -- "$dir"/*.trace
    if [ $# -ne 1 ] || [ ! -s "$1" ]; then
        fail "$name" "expected one trace in $dir, found: $(ls "$dir" 2>/dev/null | tr '\n' ' ')"
        return 1
    fi
    if ! report "$name" "$1"; then
        fail "$name" "$why"
        return 1
    fi
    return 0
}

if run_case run-exit 3 "$PROGS/exitcode"; then
    expect run-exit run-exit \
        process.complete=true \
        summary.allocations=4 summary.frees=3 summary.bytes_allocated=4450 \
        summary.leaked_bytes=4000 summary.leaked_blocks=1
    expect run-exit-status run-exit process.exit_status=3
fi
# abort(): DESIGN.md says nothing is lost at abort; memaudit run reports 128+6.
if run_case run-abort 134 "$PROGS/exitcode" abort; then
    expect run-abort run-abort \
        process.complete=true \
        summary.allocations=3 summary.frees=1 summary.bytes_allocated=4400 \
        summary.leaked_bytes=4300 summary.leaked_blocks=2 summary.temporary_allocations=1 \
        'leaks[0].stack[0].function=leak_before_exit' 'leaks[1].stack[0].function=hold_until_atexit'
fi

# ---------------------------------------------------------------- growth.c
# One site for each finding of the audit, with the figures it must measure.
if record growth 0 "$PROGS/growth"; then
    usable16=$(sed -n 's/^usable16=//p' "$TMP/growth.out")
    moves=$(sed -n 's/^moves=\([0-9]*\).*/\1/p' "$TMP/growth.out")
    copied=$(sed -n 's/.*copied=//p' "$TMP/growth.out")
    expect growth growth \
        process.complete=true summary.unmatched_frees=0 \
        summary.allocations=22065 summary.leaked_bytes=5000 summary.leaked_blocks=41 \
        summary.runtime_held_blocks=1 'runtime_held[0].stack[0].function=_IO_file_doallocate' \
        '#findings=6' safety.status='NEEDS ATTENTION' \
        'findings[kind:pooling].saved_allocations=19996' \
        'findings[kind:pooling].stack[0].function=make_node' \
        'findings[kind:pooling].description~never more than 4 live at once' \
        'findings[kind:pooling].priority=high' \
        "findings[kind:small-blocks].saved_bytes=$(((usable16 - 16 + 8) * 2000))" \
        'findings[kind:small-blocks].stack[0].function=small_node' \
        'findings[kind:growing-leak].saved_bytes=4000' \
        'findings[kind:growing-leak].stack[0].function=leak_step' \
        'findings[kind:growing-leak].priority=high' \
        'findings[kind:leak].saved_bytes=1000' 'findings[kind:leak].stack[0].function=cache_init' \
        'findings[kind:manual-growth].saved_allocations=11' \
        'findings[kind:manual-growth].saved_bytes=32752' \
        'findings[kind:manual-growth].stack[0].function=grow' \
        'findings[kind:realloc-growth].saved_allocations=10' \
        "findings[kind:realloc-growth].saved_bytes=$copied" \
        "findings[kind:realloc-growth].description~($moves moved" \
        'findings[kind:realloc-growth].description~the longest 10 reallocs, final sizes 16.0 KiB' \
        'findings[kind:realloc-growth].stack[0].function=buf_grow' \
        'any(hotspots[*].max_live_blocks)=4' 'any(hotspots[*].manual_grows)=11' \
        'any(hotspots[*].chain_final_bytes)=16384'
    versus_memcheck growth-memcheck growth 0 "$PROGS/growth"
    # The Markdown audit carries the same findings, in the audit's sections.
    if "$MEMAUDIT" report --format md -o "$TMP/growth.md" "$TMP/growth.trace" 2>"$TMP/growth.md.err"; then
        missing=
        for want in '## Executive Summary' '## Memory Safety Analysis' 'Status: **NEEDS ATTENTION**' \
            '### Allocation Hotspots' '### Data Structure Efficiency' \
            '## Optimization Recommendations' '### High Priority' \
            'saves 19996 allocations' '`make_node (tests/progs/growth.c:' \
            '### Low Priority' 'saves up to 11 allocations and 32.0 KiB of copying' \
            '## Benchmarking Results' '| allocations | 22065 |' '## Action Items' \
            '4000 | 40 | 40 |'; do
            grep -qF -- "$want" "$TMP/growth.md" || missing="$missing [$want]"
        done
        if [ -z "$missing" ]; then ok growth-md; else fail growth-md "missing:$missing"; fi
    else
        fail growth-md "memaudit report --format md failed: $(first_line "$TMP/growth.md.err")"
    fi
fi

# ---------------------------------------------------------------- signals.c
# A fatal signal: every event up to it is in the trace, which names the
# signal; the process still dies of it (a shell's 128+N).
ulimit -c 0 2>/dev/null
if record signals-segv 139 "$PROGS/signals" segv; then
    expect signals-segv signals-segv \
        process.complete=true process.signal=11 process.exit_status=-1 process.lost_events=0 \
        summary.allocations=1 summary.leaked_bytes=1000 summary.leaked_blocks=1 \
        'leaks[0].stack[0].function=leak_then_crash'
fi
if record signals-term 143 "$PROGS/signals" term; then
    expect signals-term signals-term \
        process.complete=true process.signal=15 summary.allocations=1 \
        summary.leaked_bytes=2000 'leaks[0].stack[0].function=leak_then_term'
fi
# The program's own handlers, dispositions and SA_RESETHAND behave as without
# the recorder (the program checks them itself: any difference is its exit code).
if record signals-handled 5 "$PROGS/signals" handled; then
    expect signals-handled signals-handled \
        process.complete=true process.signal=0 process.exit_status=5 \
        summary.allocations=1 summary.frees=1 summary.leaked_bytes=0
fi

# ================================================================ issue 4
# The symbolizer, profiles and hostile input: tests/integration/symbolizer.sh.
. "$HERE/symbolizer.sh"

# ================================================================ background flusher,
# memory samples, dlopen (one section, kept apart from the cases above)

# ---------------------------------------------------------------- killed.c
# kill -9: no exit path of the recorder runs; the events are in the trace only
# because the background flusher wrote them (MEMAUDIT_INTERVAL_MS, 50 ms).
# The program prints "ready PID" after its last event; we kill it ~300 ms later.
killed_case() {
    name=$1
    shift
    rm -f "$TMP/$name.trace"
    timeout "$LIMIT" env "$@" LD_PRELOAD="$LIB" MEMAUDIT_OUTPUT="$TMP/$name.trace" \
        "$PROGS/killed" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    bg=$!
    kpid=
    for _ in $(seq 200); do
        kpid=$(awk '$1 == "ready" { print $2 }' "$TMP/$name.out" 2>/dev/null)
        [ -n "$kpid" ] && break
        sleep 0.05
    done
    if [ -z "$kpid" ]; then
        kill -9 "$bg" 2>/dev/null
        wait "$bg" 2>/dev/null
        fail "$name" "the program never said ready (stderr: $(first_line "$TMP/$name.err"))"
        return 1
    fi
    sleep 0.3
    kill -9 "$kpid"
    wait "$bg" 2>/dev/null
    st=$?
    if [ "$st" != 137 ]; then
        fail "$name" "expected death by SIGKILL, got $(status_words $st)"
        return 1
    fi
    if ! report "$name" "$TMP/$name.trace"; then
        fail "$name" "$why"
        return 1
    fi
    return 0
}
if killed_case killed; then
    expect killed killed \
        process.complete=false process.signal=0 process.lost_events=0 \
        summary.unmatched_frees=0 \
        summary.allocations=10 summary.frees=3 summary.bytes_allocated=55000 \
        summary.peak_heap_bytes=55000 \
        summary.leaked_bytes=49000 summary.leaked_blocks=7 \
        '#leaks=1' 'leaks[0].stack[0].function=make_blocks' 'leaks[0].blocks=7'
fi

# ================================================================ memory samples

# ---------------------------------------------------------------- hold.c
# Memory samples: 50 MiB live and resident for 300 ms. The sample with the
# highest RSS falls in that window: its RSS holds the 50 MiB, and the replay's
# heap at its time is exactly the 50 blocks.
if record hold 0 "$PROGS/hold"; then
    expect hold hold \
        process.complete=true process.lost_events=0 summary.unmatched_frees=0 \
        summary.allocations=50 summary.frees=50 summary.bytes_allocated=52428800 \
        summary.peak_heap_bytes=52428800 summary.leaked_bytes=0 \
        'memory.samples>=2' 'memory.peak_rss_bytes>=52428800' \
        'memory.heap_bytes_at_peak_rss=52428800' 'memory.fragmentation_at_peak_rss>=0' \
        'timeline[*].heap_bytes<=52428800' 'any(timeline[*].heap_bytes)=52428800' \
        'any(timeline[*].allocator_in_use_bytes)>=52428800'
    if timeout "$LIMIT" "$MEMAUDIT" report "$TMP/hold.trace" 2>/dev/null |
        grep -q '^  memory  *peak RSS [0-9.]* MiB at [0-9.]* s, fragmentation [0-9.]*% ([0-9]* samples)$'; then
        ok hold-text
    else
        fail hold-text "no 'memory  peak RSS ...' line in the text report"
    fi
fi
# No background thread: no samples, and the report says nothing of memory.
export MEMAUDIT_INTERVAL_MS=0
if record hold-nosamples 0 "$PROGS/hold"; then
    expect hold-nosamples hold-nosamples \
        process.complete=true summary.allocations=50 \
        memory.samples=0 memory.peak_rss_bytes=null '#timeline=0'
fi
unset MEMAUDIT_INTERVAL_MS

# Threads, processes, odd allocations, do no harm.
. "$HERE/procs.sh"

# ---------------------------------------------------------------- dlepoch.c
# Two libraries at one address, one after the other (dlclose between): each
# leak is named after the function of the library that was there at the time.
if record dlepoch 0 "$PROGS/dlepoch" "$PROGS/libepoch_a.so" "$PROGS/libepoch_b.so"; then
    if [ "$(cat "$TMP/dlepoch.out")" != same-base ]; then
        fail dlepoch-same-base "libepoch_b.so was not mapped where libepoch_a.so had been ($(cat "$TMP/dlepoch.out")): the case tests nothing"
    else
        ok dlepoch-same-base
    fi
    expect dlepoch dlepoch \
        process.complete=true summary.leaked_bytes=3333 summary.leaked_blocks=2 '#leaks=2' \
        'leaks[0].bytes=2222' 'leaks[0].stack[0].function=epoch_b_leak' \
        'leaks[0].stack[0].module~libepoch_b.so' 'leaks[0].stack[1].function=leak_from' \
        'leaks[1].bytes=1111' 'leaks[1].stack[0].function=epoch_a_leak' \
        'leaks[1].stack[0].module~libepoch_a.so' 'leaks[1].stack[1].function=leak_from'
fi

# ---------------------------------------------------------------- dldeleted.c
# A library loaded from a file deleted before the report: the recorder saved
# its exported functions from memory. "early": deleted before its first
# allocation, so even the first module snapshot sees it deleted.
for mode in late early; do
    if record dldeleted-$mode 0 "$PROGS/dldeleted" "$PROGS/libdeleted.so" $mode; then
        expect dldeleted-$mode dldeleted-$mode \
            process.complete=true summary.leaked_bytes=3333 summary.leaked_blocks=1 '#leaks=1' \
            'leaks[0].stack[0].function=deleted_leak' \
            'leaks[0].stack[0].module~memaudit-dldeleted.' 'leaks[0].stack[1].function=load_copy' \
            'leaks[0].stack[2].function=main'
    fi
done
# Twelve such libraries: the report warns about the first ten files, then
# says once that it does not list the rest (a test suite's temporary plugins
# would print a line each).
if record dldeleted-many 0 "$PROGS/dldeleted" "$PROGS/libdeleted.so" many 12; then
    expect dldeleted-many dldeleted-many \
        process.complete=true summary.leaked_bytes=39996 summary.leaked_blocks=12 '#leaks=12' \
        'leaks[*].stack[0].function=deleted_leak'
    n_listed=$(grep -c '^memaudit: warning: /tmp/memaudit-dldeleted\..*: No such file' \
        "$TMP/dldeleted-many.rerr")
    n_rest=$(grep -c '^memaudit: warning: more symbol files cannot be used; not listing the rest$' \
        "$TMP/dldeleted-many.rerr")
    if [ "$n_listed" = 10 ] && [ "$n_rest" = 1 ]; then
        ok dldeleted-many-warnings
    else
        fail dldeleted-many-warnings "$n_listed files listed and $n_rest notices, expected 10 and 1"
    fi
fi

# ---------------------------------------------------------------- memaudit help
# Each command's help is its own usage; a topic that is no command is a usage
# error (exit 2), not the general help with exit 0.
help_ok=1
for cmd in run symbolize report diff check; do
    "$MEMAUDIT" help $cmd >"$TMP/help-$cmd.out" 2>&1
    st=$?
    case $(head -n 1 "$TMP/help-$cmd.out") in
    "usage: memaudit $cmd "*) usage_ok=1 ;;
    *) usage_ok=0 ;;
    esac
    if [ $st -ne 0 ] || [ $usage_ok -eq 0 ]; then
        fail help-$cmd "memaudit help $cmd: $(status_words $st), $(first_line "$TMP/help-$cmd.out")"
        help_ok=0
    fi
done
[ $help_ok -eq 1 ] && ok help-commands
"$MEMAUDIT" help record >"$TMP/help-bad.out" 2>"$TMP/help-bad.err"
st=$?
if [ $st -eq 2 ] && [ ! -s "$TMP/help-bad.out" ] &&
    [ "$(head -n 1 "$TMP/help-bad.err")" = "memaudit: help: unknown command 'record'" ]; then
    ok help-unknown
else
    fail help-unknown "memaudit help record: $(status_words $st), stderr $(first_line "$TMP/help-bad.err")"
fi

# ================================================================ issue 8
# The HTML report in headless Chromium: tests/integration/browser.sh.
. "$HERE/browser.sh"

# pprof and massif exports read back by their own tools: tests/integration/exports.sh.
. "$HERE/exports.sh"

# Comparing runs and budgets: tests/integration/compare.sh.
. "$HERE/compare.sh"

# Leak checking, suppressions, whole suites, the CI example: suite.sh.
. "$HERE/suite.sh"

# The demo's Markdown audit against its golden copy: tests/integration/golden.sh.
. "$HERE/golden.sh"

# Phases, duplicate content, memory errors: tests/integration/phases.sh.
. "$HERE/phases.sh"

# The stack cache against full walks (MEMAUDIT_CROSSCHECK): crosscheck.sh.
. "$HERE/crosscheck.sh"

# Progress bar, run summary, sparkline: tests/integration/terminal.sh.
. "$HERE/terminal.sh"

# Compressed traces (MEMAUDIT_COMPRESS) against plain ones: compress.sh.
. "$HERE/compress.sh"

# Replaying the command's trace while it runs (memaudit run): runfollow.sh.
. "$HERE/runfollow.sh"
# Sampling mode (MEMAUDIT_SAMPLE, memaudit run --sample): sampling.sh.
. "$HERE/sampling.sh"
# WATERMARK records against their invariant (build/tools/wmcheck): watermark.sh.
. "$HERE/watermark.sh"
# The trace reader following traces as they grow: follow.sh.
. "$HERE/follow.sh"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
