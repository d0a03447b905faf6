#!/bin/sh
# Speed benchmark: memaudit against the native run and against heaptrack.
#
#   sh bench/run.sh [BUILD_DIR]        (from the repository root; `make bench`)
#
# Builds the target programs of bench/progs/ into BUILD_DIR/bench/, then runs
# each of them natively, under `memaudit run` and under `heaptrack`, with the
# recorder alone and with the recorder in sampling mode, and reads each
# recording back with `memaudit report` and `heaptrack_print`; compares the
# sampled per-site estimates with the full recording's figures. Prints one
# Markdown page of medians and writes it to bench/RESULTS.md.
#
# Environment:
#   BENCH_RUNS=N       rounds per target (default 5; 1 with BENCH_QUICK=1)
#   BENCH_QUICK=1      smoke test: 1 round, small inputs, results written to
#                      BUILD_DIR/bench/RESULTS.md so bench/RESULTS.md is kept
#   BENCH_TIMEOUT=S    limit for any one command, in seconds (default 600)
#   BENCH_RESULTS=F    where to write the page instead
#   BENCH_PAIRS=N      after a target's rounds, N more back-to-back pairs of
#                      its native and sampled runs, for the sampling mode's
#                      overhead (default 0: the rounds' pairs only)
#
# Method, and why:
# - The five variants alternate within a round, and the order rotates from
#   one round to the next, so that slow drift of the machine (other load,
#   frequency, page cache) spreads over all variants instead of biasing one.
# - Figures are medians over the rounds: robust to one disturbed run.
# - Wall time is taken with `date +%s.%N` around the command: GNU time's %e
#   has a 10 ms resolution, coarse next to a native run of 50 ms. It includes
#   the start of /usr/bin/time and timeout (about a millisecond), the same for
#   every variant.
# - Peak RSS is GNU time's %M: the wait4() rusage of the command, whose
#   ru_maxrss is the largest peak RSS of any single process of the tree that
#   was waited for (not a sum). For memaudit and heaptrack the tree holds the
#   wrapper and its helpers, so the figure is that of whichever process was
#   largest (see the note the page prints).
# - memaudit and libaudit.so are copied into BUILD_DIR/bench/tool first, so a
#   rebuild of BUILD_DIR during the run cannot mix two versions.
#
# Exit status: 0 when every target ran, and ran under memaudit with the same
# exit status and output as natively, and every trace was read back; 1
# otherwise (the page is still written, with FAIL in the failed rows); 2 when
# the harness itself cannot start (missing build, compiler error).

BUILD=${1:-build}
case $BUILD in
/*) ;;
*) BUILD=$(pwd)/$BUILD ;;
esac
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRC=$ROOT/bench/progs
OUT=$BUILD/bench
TOOL=$OUT/tool
QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
    RUNS=${BENCH_RUNS:-1}
    RESULTS=${BENCH_RESULTS:-$OUT/RESULTS.md}
else
    RUNS=${BENCH_RUNS:-5}
    RESULTS=${BENCH_RESULTS:-$ROOT/bench/RESULTS.md}
fi
LIMIT=${BENCH_TIMEOUT:-600}
PAIRS=${BENCH_PAIRS:-0}

# Settings of the caller must not change what is measured: a stray
# LD_PRELOAD or MEMAUDIT_DEPTH would apply to one variant and not the others.
unset LD_PRELOAD MEMAUDIT_OUTPUT MEMAUDIT_DEPTH MEMAUDIT_QUIET

case $RUNS in
'' | *[!0-9]* | 0)
    echo "run.sh: BENCH_RUNS must be a positive number, not '$RUNS'" >&2
    exit 2
    ;;
esac
case $PAIRS in
'' | *[!0-9]*)
    echo "run.sh: BENCH_PAIRS must be a number, not '$PAIRS'" >&2
    exit 2
    ;;
esac

failures=0   # targets that failed; the exit status
notes=""     # lines for the "Notes" section of the page

note() {
    echo "run.sh: $1" >&2
    notes="$notes- $1
"
}

# ---------------------------------------------------------------- tools

have() {
    command -v "$1" >/dev/null 2>&1
}

# GNU time: -f is GNU only (BSD and busybox time differ).
HAVE_TIME=0
if [ -x /usr/bin/time ] && /usr/bin/time -f '%M' -o /dev/null true 2>/dev/null; then
    HAVE_TIME=1
fi

# perf (linux-perf): where a sampled run spends its CPU time, the sampling
# mode's cost measured inside the run rather than against another run.
HAVE_PERF=0
if have perf && perf record -q -e cpu-clock -o /dev/null -- true >/dev/null 2>&1; then
    HAVE_PERF=1
fi

HAVE_HEAPTRACK=0
if have heaptrack && have heaptrack_print; then
    HAVE_HEAPTRACK=1
else
    echo "heaptrack not installed: its columns are n/a"
fi

setup_tools() {
    for f in "$BUILD/memaudit" "$BUILD/libaudit.so"; do
        if [ ! -e "$f" ]; then
            echo "run.sh: $f is missing (run make)" >&2
            exit 2
        fi
    done
    mkdir -p "$TOOL" || exit 2
    # memaudit run finds libaudit.so next to itself.
    cp "$BUILD/memaudit" "$BUILD/libaudit.so" "$TOOL/" || exit 2
    MEMAUDIT=$TOOL/memaudit
    # What the copied binaries were built from, as far as git can tell.
    SOURCE_STATE=
    if have git && git -C "$ROOT" rev-parse --short HEAD >/dev/null 2>&1; then
        rev=$(git -C "$ROOT" rev-parse --short HEAD)
        dirty=$(git -C "$ROOT" status --porcelain -- common preload symbolizer reporter | wc -l)
        if [ "$dirty" -gt 0 ]; then
            SOURCE_STATE="commit $rev plus uncommitted changes to $dirty files of common/ preload/ symbolizer/ reporter/, built as they were"
        else
            SOURCE_STATE="commit $rev; common/ preload/ symbolizer/ reporter/ as committed"
        fi
    fi
}

# ---------------------------------------------------------------- targets

# build_c NAME [FLAGS...]: bench/progs/NAME.c -> $OUT/NAME. -fno-builtin so
# that gcc cannot fold a malloc/free pair away or turn malloc+memset into calloc.
build_c() {
    bc_name=$1
    shift
    gcc -std=c11 -O2 -g -fno-builtin -Wall -Wextra "$@" -o "$OUT/$bc_name" "$SRC/$bc_name.c"
}

# build_targets: compiles bench/progs into $OUT and sets TARGETS, one
# "name args..." line per target, in the order they are run.
build_targets() {
    echo "building targets into $OUT"
    # (not a target: reads traces, see trace_bits)
    gcc -std=c11 -O2 -g -Wall -Wextra -D_GNU_SOURCE -I"$ROOT/common" -I"$ROOT/symbolizer" \
        -o "$OUT/tracebits" "$ROOT/bench/tracebits.c" "$ROOT/symbolizer/trace_reader.c" \
        "$ROOT/symbolizer/modmap.c" -lzstd -lpthread || exit 2
    build_c loop || exit 2
    build_c work || exit 2
    build_c prodcons -pthread || exit 2
    build_threads
    build_suite
    build_c sites || exit 2
    if [ "$QUICK" = 1 ]; then
        TARGETS="loop 200000 20
work 1 50000 16
prodcons 200000
sites 4 12"
    else
        TARGETS="loop 5000000 20
work 8 200000 16
prodcons 2000000
sites 64 12"
    fi

    if have g++; then
        g++ -std=c++17 -O2 -g -Wall -Wextra -o "$OUT/containers" "$SRC/containers.cpp" || exit 2
        if [ "$QUICK" = 1 ]; then
            TARGETS="$TARGETS
containers 2 20000"
        else
            TARGETS="$TARGETS
containers 5 100000"
        fi
    else
        note "g++ not found: containers.cpp skipped"
    fi

    if have rustc; then
        rustc -C opt-level=2 -g -o "$OUT/collections" "$SRC/collections.rs" || exit 2
        if [ "$QUICK" = 1 ]; then
            TARGETS="$TARGETS
collections 2 20000"
        else
            TARGETS="$TARGETS
collections 10 100000"
        fi
    else
        echo "rustc not on PATH: collections.rs skipped"
        note "rustc not on PATH: collections.rs skipped"
    fi
    real_targets
}

# ---------------------------------------------------------------- real programs
#
# Programs nobody here wrote, on inputs the harness generates the same way
# every time (awk, fixed seeds): sqlite3, gcc's cc1, python3. Each is run
# through a symlink $OUT/NAME -> the installed binary, so the harness treats
# it like the other targets. cc1 is run directly, not through the gcc driver:
# the driver forks cc1, and heaptrack would record the driver only (memaudit
# run records both), which would not be the same work for the two tools.

# gen_sql ROWS FILE: a table with two indexes, ROWS inserts in one
# transaction (keys from a linear congruential generator), then queries.
gen_sql() {
    awk -v n="$1" 'BEGIN {
        q = sprintf("%c", 39)
        print "CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT NOT NULL, v INTEGER, note TEXT);"
        print "CREATE INDEX t_k ON t(k);"
        print "CREATE INDEX t_v ON t(v);"
        print "BEGIN;"
        x = 12345
        for (i = 0; i < n; i++) {
            x = (x * 1103515245 + 12345) % 2147483648
            printf "INSERT INTO t(k, v, note) VALUES (%sk%09d%s, %d, %snote %d of %d%s);\n", q, x % 1000000000, q, x % 100000, q, i, n, q
        }
        print "COMMIT;"
        print "SELECT count(*), sum(v), min(k), max(k) FROM t;"
        print "SELECT v % 7, count(*), avg(length(note)) FROM t GROUP BY 1 ORDER BY 1;"
        print "SELECT k, v FROM t WHERE k BETWEEN " q "k2" q " AND " q "k3" q " ORDER BY k LIMIT 5;"
        print "UPDATE t SET v = v + 1 WHERE v % 3 = 0;"
        print "DELETE FROM t WHERE v % 5 = 0;"
        print "SELECT count(*), sum(v) FROM t;"
    }' >"$2"
}

# gen_c N FILE: N functions, each with a 56-row table of structs: 68 lines
# each (N = 300: 20,401 lines, about 1.3 s of cc1 -O2 on the machine of
# RESULTS.md; functions are what cost cc1 time, tables are what fill lines,
# and make bench has to fit in 10 minutes).
gen_c() {
    awk -v n="$1" 'BEGIN {
        print "struct rec { int a, b; long c; const char *name; };"
        for (i = 0; i < n; i++) {
            printf "static const struct rec tab%d[] = {\n", i
            for (j = 0; j < 56; j++)
                printf "    {%d, %d, %dL, \"r%d_%d\"},\n", i + j, (i * j) % 97, i * 31 + j, i, j
            print "};"
            printf "int g%d(int x, struct rec *r);\n", i
            printf "int g%d(int x, struct rec *r)\n{\n", i
            printf "    int y = x * %d + tab%d[x & 3].b;\n", 3 + i % 29, i
            printf "    if (y > %d)\n        y -= r->a;\n", 1000 + i
            printf "    r->c += tab%d[5].c ^ (long)y;\n", i
            if (i % 4 != 0)
                printf "    return y + g%d(x - 1, r);\n", i - 1
            else
                print "    return y;"
            print "}"
        }
    }' >"$2"
}

# gen_py FILE: a script that builds, sorts and thins N small objects (dicts,
# tuples, lists, strings); N is its argument. Its output is a checksum.
gen_py() {
    cat >"$1" <<'PY'
import sys

n = int(sys.argv[1])
table = {}
for i in range(n):
    key = "k%07d" % (i * 7919 % n)
    table[key] = (i, [i, i + 1, str(i)], {"a": i, "b": key[::-1]})
rows = sorted(table.items(), key=lambda kv: (kv[1][0] % 1000, kv[0]))
kept = [r for r in rows if r[1][0] % 3]
words = {}
for k, (i, lst, d) in kept:
    words.setdefault(d["b"][:3], []).append(lst[2])
print(len(table), len(kept), len(words), sum(len(v) for v in words.values()))
PY
}

# link_tool NAME PATH: $OUT/NAME -> PATH.
link_tool() {
    rm -f "$OUT/$1"
    ln -s "$2" "$OUT/$1"
}

# real_targets: generates the inputs into $OUT/real and adds the real
# programs that are installed to TARGETS (each one is skipped with a note
# when missing; `make bench` runs scripts/deps.sh --bench, which installs
# them when it can).
real_targets() {
    mkdir -p "$OUT/real" || exit 2
    if [ "$QUICK" = 1 ]; then
        rows=20000 funcs=30 objs=10000
    else
        rows=200000 funcs=300 objs=100000
    fi
    if [ -x /usr/bin/sqlite3 ]; then
        gen_sql "$rows" "$OUT/real/insert.sql"
        link_tool sqlite3 /usr/bin/sqlite3
        TARGETS="$TARGETS
sqlite3 -batch -init $OUT/real/insert.sql :memory:"
    else
        note "sqlite3 not installed (apt-get install sqlite3): its row is skipped"
    fi
    cc1=$(gcc -print-prog-name=cc1 2>/dev/null)
    if [ -n "$cc1" ] && [ -x "$cc1" ]; then
        gen_c "$funcs" "$OUT/real/gen.c"
        link_tool cc1 "$cc1"
        TARGETS="$TARGETS
cc1 -quiet -O2 $OUT/real/gen.c -o /dev/null"
    else
        note "gcc's cc1 not found (gcc -print-prog-name=cc1): its row is skipped"
    fi
    if [ -x /usr/bin/python3 ]; then
        gen_py "$OUT/real/objects.py"
        link_tool python3 /usr/bin/python3
        # Every variant: the system allocator (not pymalloc's arenas), and
        # the same string hashes from run to run.
        PYTHONMALLOC=malloc
        PYTHONHASHSEED=0
        export PYTHONMALLOC PYTHONHASHSEED
        TARGETS="$TARGETS
python3 $OUT/real/objects.py $objs"
    else
        note "python3 not installed: its row is skipped"
    fi
}

# ---------------------------------------------------------------- measuring

# measure OUTFILE ERRFILE CMD...: runs CMD under timeout with its output in
# the two files. Sets m_status (CMD's exit status, 124 on timeout, 128+N when
# killed by signal N), m_wall (seconds) and m_rss (KiB, or n/a).
measure() {
    m_out=$1
    m_err=$2
    shift 2
    t0=$(date +%s.%N)
    if [ "$HAVE_TIME" = 1 ]; then
        /usr/bin/time -f '%M' -o "$OUT/time.out" timeout "$LIMIT" "$@" >"$m_out" 2>"$m_err"
        m_status=$?
        t1=$(date +%s.%N)
        # GNU time puts "Command exited with non-zero status N" (or
        # "terminated by signal") before the format line: take the last line.
        m_rss=$(tail -n 1 "$OUT/time.out")
        case $m_rss in
        '' | *[!0-9]*) m_rss=n/a ;;
        esac
    else
        timeout "$LIMIT" "$@" >"$m_out" 2>"$m_err"
        m_status=$?
        t1=$(date +%s.%N)
        m_rss=n/a
    fi
    m_wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
}

# record NAME KEY VALUE: appends one round's value of a figure.
record() {
    echo "$3" >>"$OUT/data/$1.$2"
}

# ": " and the first line of a file, for failure messages; nothing if empty.
first_line() {
    fl_line=$(head -n 1 "$1" 2>/dev/null | cut -c 1-200)
    [ -n "$fl_line" ] && echo ": $fl_line"
}

# fail NAME WHY: the target failed; its row will say FAIL.
fail() {
    note "FAIL $1: $2"
    echo "$2" | tr '|' '/' >"$OUT/data/$1.failed"
}

# run_native NAME ROUND CMD...: ROUND "pair" for a pair's run (sampling_pairs),
# whose time is kept apart from the rounds'.
run_native() {
    rn_name=$1
    rn_round=$2
    shift 2
    measure "$OUT/native.out" "$OUT/native.err" "$@"
    if [ "$m_status" -ne 0 ]; then
        fail "$rn_name" "native run exited with status $m_status$(first_line "$OUT/native.err")"
        return 1
    fi
    # The first native output is the reference the other runs must match.
    if [ "$rn_round" = 1 ] && [ ! -e "$OUT/data/$rn_name.stdout" ]; then
        cp "$OUT/native.out" "$OUT/data/$rn_name.stdout"
    elif ! cmp -s "$OUT/native.out" "$OUT/data/$rn_name.stdout"; then
        fail "$rn_name" "native output differs from one run to the next"
        return 1
    fi
    if [ "$rn_round" = pair ]; then
        record "$rn_name" pair.native.wall "$m_wall"
        return 0
    fi
    record "$rn_name" native.wall "$m_wall"
    record "$rn_name" native.rss "$m_rss"
    return 0
}

# run_memaudit NAME ROUND CMD...: records into $OUT/trace.ROUND/.
run_memaudit() {
    ma_name=$1
    ma_round=$2
    ma_dir=$OUT/trace.$2
    shift 2
    rm -rf "$ma_dir"
    measure "$OUT/memaudit.out" "$OUT/memaudit.err" "$MEMAUDIT" run -o "$ma_dir" -- "$@"
    # Native runs are required to exit 0 (run_native), so anything else is a
    # difference memaudit made.
    if [ "$m_status" -ne 0 ]; then
        fail "$ma_name" "exit status $m_status under memaudit run, 0 natively$(first_line "$OUT/memaudit.err")"
        return 1
    fi
    if ! cmp -s "$OUT/memaudit.out" "$OUT/data/$ma_name.stdout"; then
        fail "$ma_name" "output under memaudit run differs from the native output"
        return 1
    fi
    set -- "$ma_dir"/*.trace
    if [ "$#" -ne 1 ] || [ ! -s "$1" ]; then
        fail "$ma_name" "expected one trace in $ma_dir, found: $(echo "$ma_dir"/*)"
        return 1
    fi
    TRACE=$1
    # Whatever else `memaudit run` leaves beside the trace (a profile, say)
    # was made inside the timed command: say so once.
    if [ "$ma_round" = 1 ]; then
        for extra in "$ma_dir"/*; do
            [ "$extra" = "$TRACE" ] || [ ! -e "$extra" ] ||
                note "$ma_name: memaudit run also wrote $(basename "$extra") ($(wc -c <"$extra") bytes) after the target ended; its time and RSS are in the memaudit columns"
        done
    fi
    record "$ma_name" memaudit.wall "$m_wall"
    record "$ma_name" memaudit.rss "$m_rss"
    record "$ma_name" trace.bytes "$(wc -c <"$TRACE")"
    return 0
}

# run_recorder NAME ROUND CMD...: the recorder alone, preloaded directly
# (no profile written afterwards, unlike memaudit run): what recording costs.
run_recorder() {
    rr_dir=$OUT/rec.$2
    rr_name=$1
    shift 2
    run_preloaded "$rr_name" "$rr_dir" "under the recorder" recorder.wall "" "$@" || return 1
    rm -rf "$rr_dir"
    return 0
}

# run_preloaded NAME DIR WHAT KEY SETTING CMD...: CMD with libaudit.so
# preloaded (and the environment setting SETTING, VAR=VALUE, unless empty), its trace
# written into DIR (made afresh); its exit status and output must be the
# native run's (WHAT says how it ran, in the failure); its wall time is
# recorded under KEY.
run_preloaded() {
    rp_name=$1
    rp_dir=$2
    rp_what=$3
    rp_key=$4
    rp_setting=$5
    shift 5
    rm -rf "$rp_dir"
    mkdir -p "$rp_dir"
    measure "$rp_dir.out" "$rp_dir.err" env LD_PRELOAD="$TOOL/libaudit.so" \
        ${rp_setting:+"$rp_setting"} MEMAUDIT_OUTPUT="$rp_dir/memaudit.%e.%p.trace" \
        MEMAUDIT_QUIET=1 "$@"
    if [ "$m_status" -ne 0 ]; then
        fail "$rp_name" "exit status $m_status $rp_what, 0 natively$(first_line "$rp_dir.err")"
        return 1
    fi
    if ! cmp -s "$rp_dir.out" "$OUT/data/$rp_name.stdout"; then
        fail "$rp_name" "output $rp_what differs from the native output"
        return 1
    fi
    record "$rp_name" "$rp_key" "$m_wall"
    return 0
}

# ---------------------------------------------------------------- sampling mode
#
# The fifth variant: the recorder in sampling mode (issue 7), preloaded
# directly like the recorder alone, MEMAUDIT_SAMPLE=$SAMPLE_BYTES. Its time
# goes into the "Sampling mode" table; round 1 also compares its per-site
# byte estimates with the exact figures of the same round's full recording
# (memaudit run), for every site that allocated at least $SAMPLE_SITE_MIN
# bytes in full mode: the "Sampling accuracy" table.

SAMPLE_BYTES=524288
SAMPLE_SITE_MIN=67108864 # 64 MiB
SAMPLE_BOUND_PCT=10

# run_sampled NAME ROUND CMD...: leaves its trace in $OUT/sampled.ROUND/ and
# sets SAMPLED_TRACE to it (empty when there is not exactly one).
run_sampled() {
    rs_dir=$OUT/sampled.$2
    rs_name=$1
    shift 2
    SAMPLED_TRACE=
    run_preloaded "$rs_name" "$rs_dir" "in sampling mode" sampled.wall \
        "MEMAUDIT_SAMPLE=$SAMPLE_BYTES" "$@" ||
        return 1
    set -- "$rs_dir"/*.trace
    [ "$#" -eq 1 ] && [ -s "$1" ] && SAMPLED_TRACE=$1
    return 0
}

# sampling_ratio NAME NATIVE_KEY SAMPLED_KEY: one pair's sampled ÷ native,
# from the latest value of each key, recorded under sratio.
sampling_ratio() {
    sr_n=$(tail -n 1 "$OUT/data/$1.$2" 2>/dev/null)
    sr_s=$(tail -n 1 "$OUT/data/$1.$3" 2>/dev/null)
    case "$sr_n" in '' | *[!0-9.]*) return 0 ;; esac
    case "$sr_s" in '' | *[!0-9.]*) return 0 ;; esac
    record "$1" sratio "$(awk -v s="$sr_s" -v n="$sr_n" 'BEGIN { printf "%.4f", s / n }')"
}

# sampling_pairs NAME CMD...: BENCH_PAIRS more pairs of a native and a
# sampled run, back to back, which of the two goes first alternating from
# pair to pair. The sampling mode costs a few percent at most, less than
# the spread of one program's wall time here (±10-25% from run to run): the
# ratio within a pair, whose two runs are seconds apart, cancels the
# machine's drift that a ratio of medians over the rounds keeps.
sampling_pairs() {
    sp_name=$1
    shift
    sp_i=1
    while [ "$sp_i" -le "$PAIRS" ]; do
        for variant in $(rotate $((sp_i - 1)) native sampled); do
            case $variant in
            native) run_native "$sp_name" pair "$@" || return 1 ;;
            sampled)
                run_preloaded "$sp_name" "$OUT/pair" "in sampling mode" pair.sampled.wall \
                    "MEMAUDIT_SAMPLE=$SAMPLE_BYTES" "$@" || return 1
                rm -rf "$OUT/pair"
                ;;
            esac
        done
        sampling_ratio "$sp_name" pair.native.wall pair.sampled.wall
        sp_i=$((sp_i + 1))
    done
}

# recorder_share NAME CMD...: round 1 only. CMD in sampling mode once more,
# under `perf record` (CPU-clock samples): the share of the run's samples
# whose code was libaudit.so's, recorded under perf.share. A few percent at
# most, next to a run-to-run spread of wall time of ±10-25% here: this
# figure does not depend on another run. It leaves out what the recorder
# costs the program's own code (the cache lines it takes, the PLT call to
# libc's malloc), which only the wall-time ratio sees.
recorder_share() {
    [ "$HAVE_PERF" = 1 ] || return 0
    rs_name=$1
    shift
    rm -rf "$OUT/perf.run"
    mkdir -p "$OUT/perf.run"
    if ! timeout "$LIMIT" perf record -q -e cpu-clock -o "$OUT/perf.data" -- env \
        LD_PRELOAD="$TOOL/libaudit.so" MEMAUDIT_SAMPLE=$SAMPLE_BYTES MEMAUDIT_QUIET=1 \
        MEMAUDIT_OUTPUT="$OUT/perf.run/memaudit.%e.%p.trace" "$@" >/dev/null 2>"$OUT/perf.err"; then
        note "$rs_name: perf record of the sampled run failed$(first_line "$OUT/perf.err")"
    else
        perf report -i "$OUT/perf.data" --no-children --sort dso --stdio 2>/dev/null |
            awk '$2 == "libaudit.so" { sub(/%$/, "", $1); found = 1; print $1 }
                 END { if (!found) print 0 }' >"$OUT/data/$rs_name.perf.share"
    fi
    rm -rf "$OUT/perf.run" "$OUT/perf.data" "$OUT/perf.data.old"
}

# json_sites JSON: one line per site of the hotspots[] of a report made with
# --top large enough for all of them: bytes, the variance of a sampled
# estimate of those bytes, the site's key and a label, separated by tabs. A
# site is its stack (memaudit report merges events by stack); the key spells
# each frame as module basename + offset, which is the same in every run of
# the same binaries (addresses are not: ASLR). The label is the two
# innermost frames' functions. The variance is that of the Horvitz-Thompson
# estimate (docs/metrics.md, "Sampling mode"): a block of s <= m bytes adds
# s^2 (1-p)/p, p = 1 - exp(-s/m), taken at the middle of each size class of
# the site's histogram; larger blocks are exact. The reporter prints one key
# per line, indented by depth, which is what the patterns rely on.
json_sites() {
    awk -v m=$SAMPLE_BYTES '
        function emit() {
            if (have)
                printf "%s\t%.6g\t%s\t%s\n", bytes, var, (key == "" ? "-" : key), (label == "" ? "(no stack)" : label)
            have = 0; key = ""; label = ""; var = 0; frames = 0; inhist = 0
        }
        function value(line) {
            sub(/^[^:]*:[ \t]*/, "", line); sub(/,$/, "", line); gsub(/"/, "", line)
            return line
        }
        /^\t"hotspots":/ { inh = 1; next }
        inh && /^\t"/ { emit(); inh = 0 }
        !inh { next }
        /^\t\t\t"allocations":/ { emit(); have = 1; next }
        /^\t\t\t"bytes":/ { bytes = value($0); next }
        /^\t\t\t"size_histogram":/ { inhist = 1; next }
        /^\t\t\t"stack":/ { inhist = 0; next }
        inhist && /"min":/ { lo = value($0) + 0; next }
        inhist && /"max":/ { hi = value($0) + 0; next }
        inhist && /"count":/ {
            s = (lo + hi) / 2
            if (lo < m) {
                p = 1 - exp(-s / m)
                var += (value($0) + 0) * s * s * (1 - p) / p
            }
            next
        }
        /^\t\t\t\t\t"function":/ { fn = value($0); next }
        /^\t\t\t\t\t"module":/ { n = split(value($0), part, "/"); mod = part[n]; next }
        /^\t\t\t\t\t"offset":/ {
            off = value($0)
            key = key (key == "" ? "" : ";") mod "+" off
            if (frames < 2) {
                f = (fn == "null" || fn == "") ? mod "+" off : fn
                gsub(/[|\t]/, "/", f)
                label = label (label == "" ? "" : " < ") f
            }
            frames++
            next
        }
        END { emit() }
    ' "$1"
}

# sampling_accuracy NAME: the sites of round 1's full trace that allocated
# at least $SAMPLE_SITE_MIN bytes, each with the estimate of the sampled
# trace ($SAMPLED_TRACE), into $OUT/data/NAME.accuracy: full bytes,
# estimate, relative error, its standard error, label (tabs). The full
# trace's report is count_events's $OUT/report.json (made with --top 100000).
sampling_accuracy() {
    sa_name=$1
    if [ ! -s "$OUT/report.json" ] || [ -z "$SAMPLED_TRACE" ]; then
        note "$sa_name: no full and sampled trace of round 1; no sampling accuracy"
        return 1
    fi
    if ! timeout "$LIMIT" "$MEMAUDIT" report --format json --top 100000 \
        -o "$OUT/accuracy.sampled.json" "$SAMPLED_TRACE" 2>"$OUT/report.err"; then
        note "$sa_name: memaudit report --format json of the sampled trace failed$(first_line "$OUT/report.err")"
        return 1
    fi
    json_sites "$OUT/report.json" >"$OUT/accuracy.full.sites"
    json_sites "$OUT/accuracy.sampled.json" >"$OUT/accuracy.sampled.sites"
    # Sites absent from the sampled report were estimated at 0 bytes.
    awk -F '\t' -v min=$SAMPLE_SITE_MIN '
        NR == FNR { est[$3] = $1; next }
        $1 >= min {
            e = ($3 in est) ? est[$3] : 0
            printf "%s\t%s\t%.6f\t%.6f\t%s\n", $1, e, (e - $1) / $1, sqrt($2) / $1, $4
        }
    ' "$OUT/accuracy.sampled.sites" "$OUT/accuracy.full.sites" | sort -g -r -k1,1 \
        >"$OUT/data/$sa_name.accuracy"
    rm -f "$OUT"/accuracy.*
}

# write_sampling_tables: the page's "Sampling mode" and "Sampling accuracy".
write_sampling_tables() {
    cat <<EOF

## Sampling mode

The recorder in sampling mode, preloaded directly
(\`MEMAUDIT_SAMPLE=$SAMPLE_BYTES LD_PRELOAD=libaudit.so PROG\`: one sample
point per 512 KiB allocated on average), beside the native run and the full
recorder alone. Issue 7's bar: at most 1.3x native on the loop, under 1.05x
on the programs with real work.

The sampling mode costs a few percent, less than a program's wall time
varies here from one run to the next (the fastest-slowest column). So the
bar's figure is "per pair": the median, over pairs of a native and a
sampled run seconds apart, of the ratio within each pair, which cancels the
machine's drift over the minutes between rounds. The pairs are each round's
two runs and $PAIRS more back to back after the target's rounds
(BENCH_PAIRS; which of the two goes first alternates); "quartiles" are the
middle half of the pairs' ratios. "ratio of medians" is the median sampled
time over the median native time of the rounds. "in libaudit.so" is
measured inside one sampled run instead ($([ "$HAVE_PERF" = 1 ] && echo "perf record -e cpu-clock" || echo "perf not installed: n/a")): the share of its
CPU time spent in the recorder's code, which no other run's noise moves; it
leaves out what the recorder costs the program's own code (cache lines, the
call through to libc's allocator), which only the wall times show.

| target | native s | sampled s | full recorder s | ratio of medians | pairs | per pair | quartiles | sampled fastest-slowest s | in libaudit.so |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
EOF
    echo "$TARGETS" | while read -r name args; do
        [ -e "$OUT/data/$name.failed" ] && continue
        nw=$(median "$name" native.wall)
        sw=$(median "$name" sampled.wall)
        echo "| $name | $(fmt %.3f "$nw") | $(fmt %.3f "$sw") |" \
            "$(fmt %.3f "$(median "$name" recorder.wall)") | $(ratio2 "$sw" "$nw") |" \
            "$(count "$name" sratio) | $(fmt %.2f "$(median "$name" sratio)") |" \
            "$(quartiles "$name" sratio) | $(range "$name" sampled.wall) |" \
            "$(fmt %.2f%% "$(cat "$OUT/data/$name.perf.share" 2>/dev/null || echo n/a)") |"
    done
    cat <<EOF

## Sampling accuracy

Every site (call stack) that allocated at least 64 MiB in round 1's full
recording, with the bytes that the same round's sampled recording estimates
for it (\`memaudit report --format json --top 100000\` of both traces; sites
matched by their stacks, module + offset per frame). SE is the standard
error of the estimate, from the site's size histogram in the full report:
about sqrt(512 KiB / bytes) when the blocks are small (8.8% at 64 MiB,
3.1% at 512 MiB), so a bound of ±$SAMPLE_BOUND_PCT% is about 1.1 SE at 64 MiB
and 3.2 SE at 512 MiB. The recorder's draws are seeded by thread order, not
the time: a single-threaded program samples the same blocks in every run,
so each row is one draw of the estimator, not the best of several.

| target | site (innermost frames) | full MiB | estimate MiB | error | SE | error ÷ SE | within ±$SAMPLE_BOUND_PCT% |
|---|---|---:|---:|---:|---:|---:|---|
EOF
    echo "$TARGETS" | while read -r name args; do
        [ -s "$OUT/data/$name.accuracy" ] || continue
        awk -F '\t' -v t="$name" -v b=$SAMPLE_BOUND_PCT '{
            printf "| %s | %s | %.1f | %.1f | %+.1f%% | %.1f%% | %+.1f | %s |\n", t, $5,
                $1 / 1048576, $2 / 1048576, 100 * $3, 100 * $4, ($4 > 0 ? $3 / $4 : 0),
                (100 * ($3 < 0 ? -$3 : $3) <= b ? "yes" : "NO")
        }' "$OUT/data/$name.accuracy"
    done
    cat <<EOF

| target | sites >= 64 MiB | worst error | within ±$SAMPLE_BOUND_PCT% | within 3 SE |
|---|---:|---:|---|---|
EOF
    echo "$TARGETS" | while read -r name args; do
        if [ ! -e "$OUT/data/$name.accuracy" ]; then
            echo "| $name | n/a | n/a | n/a | n/a |"
            continue
        fi
        awk -F '\t' -v t="$name" -v b=$SAMPLE_BOUND_PCT '
            { n++; a = ($3 < 0 ? -$3 : $3); if (n == 1 || a > worst) { worst = a; signed = $3 }
              if (a > 3 * $4) out3++ }
            END {
                if (n == 0) { printf "| %s | 0 | - | - | - |\n", t; exit }
                printf "| %s | %d | %+.1f%% | %s | %s |\n", t, n, 100 * signed,
                    (100 * worst <= b ? "PASS" : "FAIL"), (out3 ? "NO (" out3 " sites)" : "yes")
            }' "$OUT/data/$name.accuracy"
    done
}

# run_heaptrack NAME ROUND CMD...: records into $OUT/heaptrack.ROUND/. A
# heaptrack failure is heaptrack's, not the target's: a note, not a FAIL.
run_heaptrack() {
    ht_name=$1
    ht_dir=$OUT/heaptrack.$2
    shift 2
    HTFILE=
    [ "$HAVE_HEAPTRACK" = 1 ] || return 0
    rm -rf "$ht_dir"
    mkdir -p "$ht_dir"
    # heaptrack writes into the current directory unless told otherwise, and
    # appends .zst (or .gz without zstd) to the -o name. Run it from the
    # directory anyway, for whatever else it may drop there.
    # shellcheck disable=SC2016 # expanded by the inner sh
    measure "$OUT/heaptrack.out" "$OUT/heaptrack.err" \
        sh -c 'cd "$1" && shift && exec heaptrack -o "$PWD/data" "$@"' sh "$ht_dir" "$@"
    if [ "$m_status" -ne 0 ]; then
        note "$ht_name: heaptrack exited with status $m_status$(first_line "$OUT/heaptrack.err")"
        return 1
    fi
    set -- "$ht_dir"/data.*
    if [ "$#" -ne 1 ] || [ ! -s "$1" ]; then
        note "$ht_name: heaptrack wrote no data file in $ht_dir"
        return 1
    fi
    HTFILE=$1
    record "$ht_name" heaptrack.wall "$m_wall"
    record "$ht_name" heaptrack.rss "$m_rss"
    record "$ht_name" heaptrack.bytes "$(wc -c <"$HTFILE")"
    return 0
}

# report_memaudit NAME: the text report of this round's trace, timed.
report_memaudit() {
    [ -n "$TRACE" ] || return 0
    measure /dev/null "$OUT/report.err" "$MEMAUDIT" report "$TRACE"
    if [ "$m_status" -ne 0 ]; then
        fail "$1" "memaudit report exited with status $m_status$(first_line "$OUT/report.err")"
        return 1
    fi
    record "$1" report.wall "$m_wall"
    record "$1" report.rss "$m_rss"
    # The profile memaudit run wrote beside the trace: what a run leaves to
    # report from later, as heaptrack's file is heaptrack's.
    rm_profile=${TRACE%.trace}.profile
    [ -s "$rm_profile" ] || return 0
    measure /dev/null "$OUT/report.err" "$MEMAUDIT" report "$rm_profile"
    if [ "$m_status" -ne 0 ]; then
        fail "$1" "memaudit report of the profile exited with status $m_status$(first_line "$OUT/report.err")"
        return 1
    fi
    record "$1" profile.bytes "$(wc -c <"$rm_profile")"
    record "$1" profreport.wall "$m_wall"
    record "$1" profreport.rss "$m_rss"
}

# report_heaptrack NAME: heaptrack_print of this round's file, timed.
report_heaptrack() {
    [ -n "$HTFILE" ] || return 0
    measure /dev/null "$OUT/htprint.err" heaptrack_print "$HTFILE"
    if [ "$m_status" -ne 0 ]; then
        note "$1: heaptrack_print exited with status $m_status$(first_line "$OUT/htprint.err")"
        return 1
    fi
    record "$1" htprint.wall "$m_wall"
    record "$1" htprint.rss "$m_rss"
}

# json_summary KEY FILE: a number from the "summary" object of a JSON report.
# The reporter prints one key per line, so awk will do; no jq needed.
json_summary() {
    awk -v key="\"$1\":" '
        index($0, "\"summary\":") { in_summary = 1 }
        in_summary && $1 == key { sub(/,$/, "", $2); print $2; exit }
    ' "$2"
}

# count_events NAME: the events the recorder wrote into this round's trace.
# Each ALLOC, FREE, REALLOC and FAIL record is one event. The analysis
# counts a successful realloc as one allocation, one free and one realloc
# (reporter/analysis.h, docs/metrics.md), so the records are
#     allocations + frees - reallocs + failed_allocations
# (realloc(p, 0) is a free alone, a failed realloc a failed allocation alone:
# one record each either way). This is the "(N events)" the recorder prints
# at exit when MEMAUDIT_QUIET is unset; `memaudit run` sets it.
count_events() {
    ce_json=$OUT/report.json
    # (--top 100000: every site, which sampling_accuracy reads from it too)
    if ! timeout "$LIMIT" "$MEMAUDIT" report --format json --top 100000 -o "$ce_json" "$TRACE" 2>"$OUT/report.err"; then
        fail "$1" "memaudit report --format json failed$(first_line "$OUT/report.err")"
        return 1
    fi
    a=$(json_summary allocations "$ce_json")
    f=$(json_summary frees "$ce_json")
    r=$(json_summary reallocs "$ce_json")
    x=$(json_summary failed_allocations "$ce_json")
    u=$(json_summary unmatched_frees "$ce_json")
    if [ -z "$a" ] || [ -z "$f" ] || [ -z "$r" ]; then
        note "$1: no allocations/frees/reallocs in the JSON summary; events n/a"
        return 1
    fi
    # A free of an address the trace never saw allocated is a FREE record
    # the totals leave out; none is expected here, say so if there is one.
    if [ "${u:-0}" != 0 ]; then
        note "$1: the report counts $u unmatched frees (not in the event count)"
    fi
    echo $((a + f - r + ${x:-0})) >"$OUT/data/$1.events"
    grep -q '"complete":[[:space:]]*true' "$ce_json" ||
        note "$1: the trace is reported incomplete"
    lost=$(awk '$1 == "\"lost_events\":" { sub(/,$/, "", $2); print $2; exit }' "$ce_json")
    if [ -n "$lost" ] && [ "$lost" != 0 ]; then
        note "$1: the recorder lost $lost events"
    fi
}

# trace_bits NAME CMD...: round 1 only. The size of this round's trace
# compressed (a recording with MEMAUDIT_COMPRESS=1, the recorder preloaded as
# for the recorder alone), of its profile compressed, and what each kind of information in it costs
# compressed (bench/tracebits.c): the "What a trace holds" table.
trace_bits() {
    tb_name=$1
    shift
    if run_preloaded "$tb_name" "$OUT/ztrace" "with MEMAUDIT_COMPRESS=1" zrecorder.wall \
        MEMAUDIT_COMPRESS=1 "$@"; then
        set -- "$OUT/ztrace"/*.trace
        [ "$#" -eq 1 ] && [ -s "$1" ] && record "$tb_name" ztrace.bytes "$(wc -c <"$1")"
    fi
    rm -rf "$OUT/ztrace"
    # The profile compressed (memaudit symbolize --compress, as run --compress writes it).
    if timeout "$LIMIT" "$MEMAUDIT" symbolize --compress -o "$OUT/zprofile" "$TRACE" 2>/dev/null; then
        record "$tb_name" zprofile.bytes "$(wc -c <"$OUT/zprofile")"
    fi
    rm -f "$OUT/zprofile"
    if ! timeout "$LIMIT" "$OUT/tracebits" "$TRACE" >"$OUT/data/$tb_name.bits" 2>"$OUT/report.err"; then
        note "$tb_name: tracebits failed$(first_line "$OUT/report.err")"
        rm -f "$OUT/data/$tb_name.bits"
    fi
}

# rotate N WORDS...: WORDS rotated left by N mod their count.
rotate() {
    ro_n=$1
    shift
    ro_n=$((ro_n % $#))
    while [ "$ro_n" -gt 0 ]; do
        ro_first=$1
        shift
        set -- "$@" "$ro_first"
        ro_n=$((ro_n - 1))
    done
    echo "$@"
}

# bench_target NAME ARGS...: all rounds of one target.
bench_target() {
    bt_name=$1
    shift
    bt_prog=$OUT/$bt_name
    round=1
    while [ "$round" -le "$RUNS" ]; do
        echo "== $bt_name $*: round $round of $RUNS"
        TRACE=
        HTFILE=
        # A failed variant stops the target only if it is a FAIL (native or
        # memaudit); a heaptrack failure leaves a note and the others go on.
        SAMPLED_TRACE=
        for variant in $(rotate $((round - 1)) native memaudit heaptrack recorder sampled); do
            case $variant in
            native) run_native "$bt_name" "$round" "$bt_prog" "$@" ;;
            memaudit) run_memaudit "$bt_name" "$round" "$bt_prog" "$@" ;;
            recorder)
                # Its output is compared with the native one, taken in round 1.
                [ -e "$OUT/data/$bt_name.stdout" ] || continue
                run_recorder "$bt_name" "$round" "$bt_prog" "$@"
                ;;
            sampled)
                [ -e "$OUT/data/$bt_name.stdout" ] || continue
                run_sampled "$bt_name" "$round" "$bt_prog" "$@"
                ;;
            heaptrack) run_heaptrack "$bt_name" "$round" "$bt_prog" "$@" ;;
            esac
            [ -e "$OUT/data/$bt_name.failed" ] && break
        done
        [ -e "$OUT/data/$bt_name.failed" ] && break
        # The round's native and sampled runs are a pair too.
        [ "$(wc -l <"$OUT/data/$bt_name.native.wall" 2>/dev/null)" = "$round" ] &&
            [ "$(wc -l <"$OUT/data/$bt_name.sampled.wall" 2>/dev/null)" = "$round" ] &&
            sampling_ratio "$bt_name" native.wall sampled.wall
        if [ "$round" = 1 ] && [ -n "$TRACE" ]; then
            rm -f "$OUT/report.json"
            count_events "$bt_name"
            sampling_accuracy "$bt_name"
            trace_bits "$bt_name" "$bt_prog" "$@"
            recorder_share "$bt_name" "$bt_prog" "$@"
        fi
        for tool in $(rotate $((round - 1)) memaudit heaptrack); do
            case $tool in
            memaudit) report_memaudit "$bt_name" ;;
            heaptrack) report_heaptrack "$bt_name" ;;
            esac
        done
        rm -rf "$OUT/trace.$round" "$OUT/heaptrack.$round" "$OUT/sampled.$round"
        [ -e "$OUT/data/$bt_name.failed" ] && break
        round=$((round + 1))
    done
    [ -e "$OUT/data/$bt_name.failed" ] || sampling_pairs "$bt_name" "$bt_prog" "$@"
    rm -rf "$OUT"/trace.* "$OUT"/heaptrack.* "$OUT"/sampled.*
}

# ---------------------------------------------------------------- a test suite
#
# memaudit run records every process a command starts (a test suite's
# `make test`), and after the command ends replays and symbolizes each trace
# and writes its profile. suite.sh runs many short processes (ls, sort, uniq,
# wc: Debian's, with libc6-dbg's debug information) the way a test suite
# does; the table shows what that post-processing costs per process. No
# heaptrack: it records one process, not a tree of them.

# build_suite: writes $OUT/suite.sh.
build_suite() {
    cat >"$OUT/suite.sh" <<'EOF'
#!/bin/sh
# bench/run.sh's stand-in for a test suite: many short processes.
i=0
while [ "$i" -lt 20 ]; do
    ls -la /usr/lib >/dev/null
    sort /etc/services | uniq -c | wc -l
    i=$((i + 1))
done
EOF
    chmod +x "$OUT/suite.sh"
}

# bench_suite: all rounds of the three variants (native, the recorder alone,
# memaudit run), alternating and rotating.
bench_suite() {
    round=1
    while [ "$round" -le "$RUNS" ]; do
        echo "== suite: round $round of $RUNS"
        for variant in $(rotate $((round - 1)) native recorder memaudit); do
            [ -e "$OUT/data/suite.failed" ] && break
            case $variant in
            native) run_native suite "$round" "$OUT/suite.sh" ;;
            recorder)
                [ -e "$OUT/data/suite.stdout" ] || continue
                run_recorder suite "$round" "$OUT/suite.sh"
                ;;
            memaudit)
                [ -e "$OUT/data/suite.stdout" ] || continue
                bs_dir=$OUT/suite.$round
                rm -rf "$bs_dir"
                measure "$OUT/memaudit.out" "$OUT/memaudit.err" "$MEMAUDIT" run -o "$bs_dir" -- "$OUT/suite.sh"
                if [ "$m_status" -ne 0 ]; then
                    fail suite "exit status $m_status under memaudit run$(first_line "$OUT/memaudit.err")"
                elif ! cmp -s "$OUT/memaudit.out" "$OUT/data/suite.stdout"; then
                    fail suite "output under memaudit run differs from the native output"
                else
                    record suite memaudit.wall "$m_wall"
                    record suite processes "$(find "$bs_dir" -name '*.trace' | wc -l)"
                    record suite profiles "$(find "$bs_dir" -name '*.profile' | wc -l)"
                fi
                rm -rf "$bs_dir"
                ;;
            esac
        done
        round=$((round + 1))
    done
    [ -e "$OUT/data/suite.failed" ] && failures=$((failures + 1))
}

suite_table() {
    cat <<EOF

## A test suite's run

\`memaudit run -o DIR -- suite.sh\`: a shell script that runs ls, sort, uniq
and wc 20 times each, as a test suite runs many short processes (the script
is written by bench/run.sh). Wall time, medians of $RUNS rounds, the three
variants alternating and rotating. After the script ends, \`memaudit run\`
replays each process's trace, writes its symbolized profile and prints the
summary: "after the run" is memaudit run's time less the recorder's.

EOF
    if [ -e "$OUT/data/suite.failed" ]; then
        echo "FAIL: $(cat "$OUT/data/suite.failed")"
        return
    fi
    n=$(median suite native.wall)
    r=$(median suite recorder.wall)
    m=$(median suite memaudit.wall)
    p=$(median suite processes)
    after=$(awk -v m="$m" -v r="$r" 'BEGIN { if (m == "n/a" || r == "n/a") print "n/a"; else printf "%.4f", m - r }')
    echo "| processes (profiles) | native s | recorder s | memaudit run s | after the run s | after the run, per process ms |"
    echo "|---:|---:|---:|---:|---:|---:|"
    echo "| $(fmt %.0f "$p") ($(fmt %.0f "$(median suite profiles)")) | $(fmt %.3f "$n") | $(fmt %.3f "$r") |" \
        "$(fmt %.3f "$m") | $(fmt %.3f "$after") | $(fmt %.1f "$after" "$(awk -v p="$p" 'BEGIN { print p / 1000 }')") |"
}

# ---------------------------------------------------------------- threads: 1 vs 4
#
# Does recording scale with threads? threads.c does the same total work
# split over T threads that share nothing; it runs with T = 1 and T = 4,
# natively, with the recorder alone and under memaudit run, the six variants
# alternating and rotating like those of bench_target. The figure that
# matters is the recorder's ratio to native at T = 4 divided by its ratio at
# T = 1: above 1 when threads queue behind something of the recorder's (a
# lock, a cache line every event writes). Issue 7 wants it at most 1.10.

# build_threads: builds threads.c and sets THREADS_ARGS (N DEPTH).
build_threads() {
    build_c threads -pthread || exit 2
    if [ "$QUICK" = 1 ]; then
        THREADS_ARGS="200000 16"
    else
        THREADS_ARGS="4000000 16"
    fi
}

# bench_threads: all rounds of the six variants. The figures go under the
# names threads-1 and threads-4 (their outputs differ: the line names T).
bench_threads() {
    round=1
    while [ "$round" -le "$RUNS" ]; do
        echo "== threads 1 and 4, $THREADS_ARGS: round $round of $RUNS"
        for variant in $(rotate $((round - 1)) native-1 native-4 recorder-1 recorder-4 memaudit-1 memaudit-4); do
            bh_n=${variant#*-}
            bh_name=threads-$bh_n
            [ -e "$OUT/data/$bh_name.failed" ] && continue
            # shellcheck disable=SC2086 # THREADS_ARGS is a list of words on purpose
            case $variant in
            native-*) run_native "$bh_name" "$round" "$OUT/threads" "$bh_n" $THREADS_ARGS ;;
            recorder-*)
                # Its output is compared with the native one, taken in round 1.
                [ -e "$OUT/data/$bh_name.stdout" ] || continue
                run_recorder "$bh_name" "$round" "$OUT/threads" "$bh_n" $THREADS_ARGS
                ;;
            memaudit-*)
                [ -e "$OUT/data/$bh_name.stdout" ] || continue
                run_memaudit "$bh_name" "$round" "$OUT/threads" "$bh_n" $THREADS_ARGS
                rm -rf "$OUT/trace.$round"
                ;;
            esac
        done
        round=$((round + 1))
    done
    for bh_n in 1 4; do
        [ -e "$OUT/data/threads-$bh_n.failed" ] && failures=$((failures + 1))
    done
}

# ratio2 A B: A / B with two decimals, or n/a.
ratio2() {
    case "$1 $2" in
    *n/a* | ' '* | *' ') echo n/a ;;
    *) awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }' ;;
    esac
}

# threads_table: the page's section on threads.
threads_table() {
    # shellcheck disable=SC2086 # THREADS_ARGS is a list of words on purpose
    set -- $THREADS_ARGS
    cat <<EOF

## Threads: 1 vs 4

\`threads T $THREADS_ARGS\` (bench/progs/threads.c): the same $1 iterations
of malloc and free of 16 to 1024 bytes (a quarter of the blocks kept live a
while), $2 frames deep, split over T threads that share no lock and no data.
Wall time, medians of $RUNS rounds, the six variants alternating and rotating
as above. "T=4 ÷ T=1" is the ratio to native at T = 4 divided by the one at
T = 1: 1.00 when recording scales with threads as the program does. This
machine has $(nproc) CPUs: at T = 4 all of them run the threads, natively and
recorded alike. \`memaudit run\` also replays the trace, the same work for
T = 1 and T = 4 (at T = 1 while the program runs, on the CPU it leaves
idle; at T = 4 the threads keep both CPUs busy, and it replays after the
end): its T = 4 ratio is over a native time that the threads have
shortened.

| variant | T=1 s | T=4 s | T=1 ÷ native | T=4 ÷ native | T=4 ÷ T=1 |
|---|---:|---:|---:|---:|---:|
EOF
    for bh_n in 1 4; do
        if [ -e "$OUT/data/threads-$bh_n.failed" ]; then
            echo "| threads $bh_n | FAIL: $(cat "$OUT/data/threads-$bh_n.failed") |||||"
        fi
    done
    n1=$(median threads-1 native.wall)
    n4=$(median threads-4 native.wall)
    echo "| native | $(fmt %.3f "$n1") | $(fmt %.3f "$n4") | | | |"
    for bh_v in recorder memaudit; do
        w1=$(median threads-1 "$bh_v.wall")
        w4=$(median threads-4 "$bh_v.wall")
        r1=$(ratio2 "$w1" "$n1")
        r4=$(ratio2 "$w4" "$n4")
        case $bh_v in
        recorder) label="recorder alone (LD_PRELOAD)" ;;
        memaudit) label="memaudit run" ;;
        esac
        echo "| $label | $(fmt %.3f "$w1") | $(fmt %.3f "$w4") | $r1 | $r4 | $(ratio2 "$r4" "$r1") |"
    done
}

# ---------------------------------------------------------------- results

# median NAME KEY: the median of the recorded values, or n/a.
median() {
    if [ ! -s "$OUT/data/$1.$2" ] || grep -q 'n/a' "$OUT/data/$1.$2"; then
        echo n/a
        return
    fi
    sort -g "$OUT/data/$1.$2" | awk '
        { v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# range NAME KEY: "min-max" of the recorded values (3 decimals), or n/a.
range() {
    if [ ! -s "$OUT/data/$1.$2" ] || grep -q 'n/a' "$OUT/data/$1.$2"; then
        echo n/a
        return
    fi
    sort -g "$OUT/data/$1.$2" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.3f-%.3f", lo, hi }'
}

# quartiles NAME KEY: "Q1-Q3" of the recorded values (2 decimals), the
# values at ranks ceil(n/4) and ceil(3n/4) of n, or n/a.
quartiles() {
    if [ ! -s "$OUT/data/$1.$2" ]; then
        echo n/a
        return
    fi
    sort -g "$OUT/data/$1.$2" | awk '
        { v[NR] = $1 }
        END { lo = int((NR + 3) / 4); hi = int((3 * NR + 3) / 4); printf "%.2f-%.2f", v[lo], v[hi] }'
}

# count NAME KEY: how many values were recorded (0 when none).
count() {
    if [ -s "$OUT/data/$1.$2" ]; then wc -l <"$OUT/data/$1.$2"; else echo 0; fi
}

# fmt PRINTF-FORMAT VALUE [DIVISOR]: VALUE / DIVISOR formatted, n/a kept.
fmt() {
    case $2 in
    n/a | '') echo n/a ;;
    *) awk -v f="$1" -v v="$2" -v d="${3:-1}" 'BEGIN { printf f, v / d }' ;;
    esac
}

# ratio A B: A / B with one decimal and an x, or n/a.
# extra_ratio T NATIVE HEAPTRACK: (T - NATIVE) / (HEAPTRACK - NATIVE), the
# share of heaptrack's extra time that T's is (issue 7: at most 0.5), or n/a.
extra_ratio() {
    case "$1 $2 $3" in
    *n/a* | ' '* | *' ') echo n/a ;;
    *) awk -v t="$1" -v n="$2" -v h="$3" 'BEGIN { if (h > n) printf "%.2f", (t - n) / (h - n); else print "n/a" }' ;;
    esac
}

ratio() {
    case "$1 $2" in
    *n/a* | ' '* | *' ') echo n/a ;;
    *) awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "n/a" }' ;;
    esac
}

tool_versions() {
    echo "- gcc: $(gcc --version | head -n 1)"
    have g++ && echo "- g++: $(g++ --version | head -n 1)"
    have rustc && echo "- rustc: $(rustc --version)"
    if [ "$HAVE_HEAPTRACK" = 1 ]; then
        echo "- heaptrack: $(heaptrack --version 2>&1 | head -n 1)"
    else
        echo "- heaptrack: not installed"
    fi
    echo "- memaudit: $("$MEMAUDIT" --version 2>&1 | head -n 1)"
    [ -n "$SOURCE_STATE" ] && echo "- source: $SOURCE_STATE"
}

the_command() {
    vars=""
    for v in BENCH_RUNS BENCH_PAIRS BENCH_QUICK BENCH_TIMEOUT; do
        eval "val=\${$v-}"
        [ -n "$val" ] && vars="$vars$v=$val "
    done
    # make exports MAKELEVEL to what it runs.
    if [ -n "${MAKELEVEL-}" ]; then
        echo "${vars}make bench"
    else
        echo "${vars}sh bench/run.sh $1"
    fi
}
# trace_bits_table: the "What a trace holds" table from the .bits files.
trace_bits_table() {
    cat <<EOF

## What a trace holds, compressed

Issue 7 asks for a compressed trace no larger than heaptrack's file. The
two do not hold the same information. heaptrack's file has, per event, the
index of the event's (size, stack) pair — a free names the pair of the
block it released, not the block — and a timestamp every 10 ms. A trace
from which reports are exact also says which block each free released,
the blocks' addresses (memory errors, realloc moves, leaked blocks), each
event's thread and its time to the nanosecond. bench/tracebits.c replays
round 1's trace and writes each kind of information as its own stream,
compressed with zstd (level 3); bytes per event:

- pairs: heaptrack's information (pair indexes, new pairs, a tick per 10 ms);
  near heaptrack's file when the events come in a similar order, which
  checks the method (in the multi-threaded prodcons the order of the
  threads' events differs from run to run, and so does this figure)
- identity: which block each free released (the smaller of two encodings:
  rank among the live blocks of its pair, or address delta from the
  previous free's)
- addresses: the allocations' addresses (0 when a block reuses the address
  the last free of its pair released)
- threads: which thread made each event
- times: each event's time, in nanoseconds since the previous event
- ms: the same to the millisecond (heaptrack keeps 10 ms), for a trace whose
  events are already in their global order

Each stream is an upper bound on what its information costs (a better
model could compress it further); their sums are not the trace's size (the
trace's own encoding mixes them). "exact, ns" adds up the streams of a
trace like ours, "exact, ms" the same with times to the millisecond.

| target | events | pairs | identity | addresses | threads | times | ms | exact, ns | exact, ms | zstd trace | heaptrack file |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
EOF
    echo "$TARGETS" | while read -r name args; do
        [ -s "$OUT/data/$name.bits" ] || continue
        read -r ev pr id ad th ti ms <"$OUT/data/$name.bits"
        echo "| $name | $ev | $(fmt %.3f "$pr" "$ev") | $(fmt %.3f "$id" "$ev") |" \
            "$(fmt %.3f "$ad" "$ev") | $(fmt %.3f "$th" "$ev") | $(fmt %.3f "$ti" "$ev") |" \
            "$(fmt %.4f "$ms" "$ev") | $(fmt %.3f $((pr + id + ad + th + ti)) "$ev") |" \
            "$(fmt %.3f $((pr + id + ad + th + ms)) "$ev") |" \
            "$(fmt %.3f "$(median "$name" ztrace.bytes)" "$ev") |" \
            "$(fmt %.3f "$(median "$name" heaptrack.bytes)" "$ev") |"
    done
}

# worst KIND: "VALUE TARGET" of the largest per-target figure of KIND over
# the targets with data (KIND: rec-extra, run-extra, sampled, report-rss,
# perf-share),
# or "n/a". The sampled figure leaves out loop (a bar of its own) and
# sites (12 ms of start-up, the accuracy yardstick).
worst() {
    echo "$TARGETS" | while read -r name args; do
        [ -e "$OUT/data/$name.failed" ] && continue
        nw=$(median "$name" native.wall)
        case $1 in
        rec-extra) v=$(extra_ratio "$(median "$name" recorder.wall)" "$nw" "$(median "$name" heaptrack.wall)") ;;
        run-extra) v=$(extra_ratio "$(median "$name" memaudit.wall)" "$nw" "$(median "$name" heaptrack.wall)") ;;
        sampled)
            case $name in loop | sites) continue ;; esac
            v=$(fmt %.2f "$(median "$name" sratio)")
            ;;
        report-rss) v=$(ratio2 "$(median "$name" report.rss)" "$(median "$name" htprint.rss)") ;;
        perf-share)
            case $name in loop | sites) continue ;; esac
            v=$(cat "$OUT/data/$name.perf.share" 2>/dev/null || echo n/a)
            ;;
        esac
        [ "$v" = n/a ] || echo "$v $name"
    done | sort -g | tail -n 1 | grep . || echo n/a
}

# not_larger KEY OTHER: "K of N": of the N targets with both figures, the K
# whose KEY is at most their OTHER.
not_larger() {
    echo "$TARGETS" | while read -r name args; do
        a=$(median "$name" "$1")
        b=$(median "$name" "$2")
        case "$a $b" in *n/a*) continue ;; esac
        awk -v a="$a" -v b="$b" 'BEGIN { print (a <= b ? 1 : 0) }'
    done | awk '{ n++; k += $1 } END { printf "%d of %d", k, n }'
}

# verdict VALUE LIMIT: "met" when VALUE <= LIMIT, "not met", or "n/a".
verdict() {
    case $1 in
    n/a | '') echo n/a ;;
    *) awk -v v="$1" -v l="$2" 'BEGIN { print (v <= l ? "met" : "not met") }' ;;
    esac
}

# bars_table: issue 7's bars, each with the figure of this run that decides it.
bars_table() {
    rec=$(worst rec-extra)
    run=$(worst run-extra)
    smp=$(worst sampled)
    share=$(worst perf-share)
    rss=$(worst report-rss)
    t1=$(ratio2 "$(median threads-1 recorder.wall)" "$(median threads-1 native.wall)")
    t4=$(ratio2 "$(median threads-4 recorder.wall)" "$(median threads-4 native.wall)")
    thr=$(ratio2 "$t4" "$t1")
    loop=$(fmt %.2f "$(median loop sratio)")
    acc=$(cat "$OUT"/data/*.accuracy 2>/dev/null | awk -F '\t' -v b=$SAMPLE_BOUND_PCT '
        { n++; a = ($3 < 0 ? -$3 : $3); if (100 * a <= b) k++; if (a <= 3 * $4) s++ }
        END { if (n) printf "%d of %d sites within ±%d%%, %d within 3 SE", k, n, b, s; else print "n/a" }')
    accv=$(cat "$OUT"/data/*.accuracy 2>/dev/null | awk -F '\t' -v b=$SAMPLE_BOUND_PCT '
        { n++; a = ($3 < 0 ? -$3 : $3); if (100 * a > b) bad++ }
        END { print (n == 0 ? "n/a" : bad ? "not met" : "met") }')
    small=$(not_larger ztrace.bytes heaptrack.bytes)
    smallp=$(not_larger zprofile.bytes heaptrack.bytes)
    rep=$(ratio2 "$(median work report.wall)" "$(median work htprint.wall)")
    prof=$(ratio2 "$(median work profreport.wall)" "$(median work htprint.wall)")
    cat <<EOF

## Issue 7's bars in this run

Each bar with the figure of this page that decides it (the worst target
where a bar holds for every target). The tables below give every figure.

| bar | figure | verdict |
|---|---|---|
| recorder's extra time ≤ ½ heaptrack's, every target | worst $(echo "$rec" | awk '{ print $1 " (" $2 ")" }') | $(verdict "${rec%% *}" 0.5) |
| \`memaudit run\`'s extra time ≤ ½ heaptrack's, every target | worst $(echo "$run" | awk '{ print $1 " (" $2 ")" }') | $(verdict "${run%% *}" 0.5) |
| 4 threads' ratio to native within 10% of 1 thread's (recorder) | $thr | $(verdict "$thr" 1.10) |
| sampling: loop ≤ 1.3x native (per pair) | $loop | $(verdict "$loop" 1.30) |
| sampling: < 1.05x native with real work (per pair) | worst $(echo "$smp" | awk '{ print $1 " (" $2 ")" }'); CPU time in libaudit.so, worst $(echo "$share" | awk '{ print $1 "% (" $2 ")" }') | $(verdict "${smp%% *}" 1.0499) |
| sampling: sites ≥ 64 MiB within ±$SAMPLE_BOUND_PCT% of the full figure | $acc | $accv |
| zstd trace ≤ heaptrack's file | $small targets (see "What a trace holds") | $(echo "$small" | awk '{ print ($1 == $3 ? "met" : "not met") }') |
| (not a bar of the issue) zstd profile, what \`memaudit run --compress\` leaves to report from, ≤ heaptrack's file | $smallp targets | |
| report of work ≤ ½ heaptrack_print's time | $rep from the trace, $prof from the profile | trace: $(verdict "$rep" 0.5); profile: $(verdict "$prof" 0.5) |
| report's memory ≤ heaptrack_print's, every target | worst $(echo "$rss" | awk '{ print $1 " (" $2 ")" }') | $(verdict "${rss%% *}" 1.0) |
| \`make bench\` under 10 min on a fresh machine | run.sh $(elapsed), plus packages and build (bench/README.md) | see bench/README.md |
EOF
}


write_page() {
    debian=$(cat /etc/debian_version 2>/dev/null || echo n/a)
    model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
    cat <<EOF
# memaudit benchmark results

- date: $(date -u '+%Y-%m-%d %H:%M UTC')
- machine: $(nproc) CPUs, ${model:-unknown model}, kernel $(uname -r), Debian ${debian}
$(tool_versions)
- command: \`$(the_command "${1:-build}")\`
- load average (1, 5, 15 min) before: $LOAD_BEFORE; after: $(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null)
- rounds: $RUNS$([ "$QUICK" = 1 ] && echo " (BENCH_QUICK=1: small inputs, a smoke test, not a measurement)")
- more pairs of a native and a sampled run per target: $PAIRS (BENCH_PAIRS; "Sampling mode")
- duration of run.sh: $(elapsed) (building memaudit and installing packages not included)
$(bars_table)

## Recording: wall time and peak RSS

"extra ÷ heaptrack's" is (memaudit − native) ÷ (heaptrack − native): of
the time heaptrack adds to the program, the share \`memaudit run\` adds:
recording, the replay of the trace (while the program runs, on a CPU it
leaves idle, unless its own threads keep both busy: docs/usage.md,
"Replaying while the program runs"), and after the program ends the rest
of the replay and the symbolized profile.

| target | args | events | native s | memaudit s | heaptrack s | memaudit/native | heaptrack/native | heaptrack/memaudit | extra ÷ heaptrack's extra | native RSS MiB | memaudit RSS MiB | heaptrack RSS MiB |
|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
EOF
    echo "$TARGETS" | while read -r name args; do
        if [ -e "$OUT/data/$name.failed" ]; then
            echo "| $name | $args | FAIL: $(cat "$OUT/data/$name.failed") ||||||||||"
            continue
        fi
        nw=$(median "$name" native.wall)
        mw=$(median "$name" memaudit.wall)
        hw=$(median "$name" heaptrack.wall)
        ev=$(cat "$OUT/data/$name.events" 2>/dev/null || echo n/a)
        echo "| $name | $args | $ev | $(fmt %.3f "$nw") | $(fmt %.3f "$mw") | $(fmt %.3f "$hw") |" \
            "$(ratio "$mw" "$nw") | $(ratio "$hw" "$nw") | $(ratio "$hw" "$mw") |" \
            "$(extra_ratio "$mw" "$nw" "$hw") |" \
            "$(fmt %.1f "$(median "$name" native.rss)" 1024) |" \
            "$(fmt %.1f "$(median "$name" memaudit.rss)" 1024) |" \
            "$(fmt %.1f "$(median "$name" heaptrack.rss)" 1024) |"
    done
    cat <<EOF

## Recording alone

The recorder preloaded directly (\`LD_PRELOAD=libaudit.so PROG\`): what
recording costs, without the replay and the profile of \`memaudit run\`. "extra ÷ heaptrack's" is (recorder − native) ÷ (heaptrack − native).

| target | native s | recorder s | heaptrack s | recorder/native | extra ÷ heaptrack's extra |
|---|---:|---:|---:|---:|---:|
EOF
    echo "$TARGETS" | while read -r name args; do
        [ -e "$OUT/data/$name.failed" ] && continue
        nw=$(median "$name" native.wall)
        rw=$(median "$name" recorder.wall)
        hw=$(median "$name" heaptrack.wall)
        echo "| $name | $(fmt %.3f "$nw") | $(fmt %.3f "$rw") | $(fmt %.3f "$hw") | $(ratio "$rw" "$nw") |" \
            "$(extra_ratio "$rw" "$nw" "$hw") |"
    done
    threads_table
    suite_table
    write_sampling_tables
    cat <<EOF

## Recorded data and reading it back

"trace" is the trace of \`memaudit run\`, "zstd trace" the same target
recorded once more with \`MEMAUDIT_COMPRESS=1\` (round 1); "profile" the
profile \`memaudit run\` wrote beside the trace: the symbolized analysis,
which \`memaudit report\` reads instead of the trace (the same report, JSON
byte for byte) — what a run leaves to report from later, as heaptrack's file
is heaptrack's; "zstd profile" the same written with \`--compress\` (round 1).
Report times are of the text report, \`memaudit report TRACE\` and
\`memaudit report PROFILE\`.

| target | trace bytes | bytes/event | zstd trace bytes/event | heaptrack file bytes | heaptrack bytes/event | profile bytes | zstd profile bytes | memaudit report s | report of the profile s | heaptrack_print s | memaudit report RSS MiB | heaptrack_print RSS MiB |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
EOF
    echo "$TARGETS" | while read -r name args; do
        [ -e "$OUT/data/$name.failed" ] && continue
        ev=$(cat "$OUT/data/$name.events" 2>/dev/null || echo n/a)
        tb=$(median "$name" trace.bytes)
        hb=$(median "$name" heaptrack.bytes)
        echo "| $name | $(fmt %.0f "$tb") | $(fmt %.2f "$tb" "$ev") |" \
            "$(fmt %.2f "$(median "$name" ztrace.bytes)" "$ev") |" \
            "$(fmt %.0f "$hb") | $(fmt %.3f "$hb" "$ev") | $(fmt %.0f "$(median "$name" profile.bytes)") |" \
            "$(fmt %.0f "$(median "$name" zprofile.bytes)") |" \
            "$(fmt %.3f "$(median "$name" report.wall)") | $(fmt %.3f "$(median "$name" profreport.wall)") |" \
            "$(fmt %.3f "$(median "$name" htprint.wall)") |" \
            "$(fmt %.1f "$(median "$name" report.rss)" 1024) | $(fmt %.1f "$(median "$name" htprint.rss)" 1024) |"
    done
    trace_bits_table
    cat <<EOF

## Spread: fastest and slowest of the $RUNS rounds, seconds

| target | native | memaudit | heaptrack | memaudit report | heaptrack_print |
|---|---:|---:|---:|---:|---:|
EOF
    echo "$TARGETS" | while read -r name args; do
        [ -e "$OUT/data/$name.failed" ] && continue
        echo "| $name | $(range "$name" native.wall) | $(range "$name" memaudit.wall) |" \
            "$(range "$name" heaptrack.wall) | $(range "$name" report.wall) |" \
            "$(range "$name" htprint.wall) |"
    done
    cat <<EOF

## Method

Each target (bench/progs/, built with gcc/g++ -O2 -g, rustc -C opt-level=2 -g)
ran $RUNS time(s) in each of five variants: natively, under
\`memaudit run -o DIR -- PROG\`, under \`heaptrack -o FILE PROG\`, with the
recorder alone (\`LD_PRELOAD=libaudit.so PROG\`) and with the recorder in
sampling mode (\`MEMAUDIT_SAMPLE=$SAMPLE_BYTES LD_PRELOAD=libaudit.so PROG\`). The five
alternate within each round and their order rotates from round to round, so
that drift of the machine does not favour one of them. Right after a round's
recordings, \`memaudit report TRACE >/dev/null\` (the text report) and
\`heaptrack_print FILE >/dev/null\` (its default output: peaks, allocators,
temporary allocations) read them back, also in rotating order. Every figure is
the median over the rounds. Wall time is measured with \`date +%s.%N\` around
the command (GNU time's %e has a 10 ms resolution), so it includes the start
of /usr/bin/time and timeout (about a millisecond) and, for the two tools,
their own start-up (heaptrack's is a shell script that also starts
heaptrack_interpret and zstd). The heaptrack time includes its
\`heaptrack_interpret | zstd\` pipeline, which runs beside the target and which
the heaptrack script waits for; memaudit's recorder writes its trace itself
and has no such helper.

sqlite3, cc1 and python3 are the installed Debian binaries (gcc's cc1 run
directly, as \`cc1 -quiet -O2 FILE -o /dev/null\`, so that both tools record
the compiler and only it; python3 with PYTHONMALLOC=malloc), on inputs
run.sh generates the same way every time: an SQL script of indexed inserts
in one transaction and a few queries, a C file of functions and tables, a
script of small objects (real_targets in bench/run.sh).

Events are the ALLOC, FREE, REALLOC and FAIL records of the trace, computed
from the JSON report as allocations + frees - reallocs + failed_allocations
(a realloc counts as one allocation, one free and one realloc), from the
first round's trace. bytes/event divides both tools' file sizes (medians over
the rounds) by that count. memaudit's trace is not compressed; heaptrack's
file is zstd-compressed (gzip without zstd).
EOF
    if [ "$HAVE_TIME" = 1 ]; then
        cat <<EOF

RSS is GNU time's %M: the ru_maxrss of the command's wait4() rusage, which is
the largest peak RSS of any single process in its tree that was waited for,
not a sum over the tree (checked: two concurrent 100 MB processes under one
shell report about 100 MB). Native: the target. memaudit: the larger of the
target with the recorder in it and the \`memaudit\` command, which is small
unless it does work of its own after the target exits (see the notes).
heaptrack: the largest of the heaptrack shell script,
the target with libheaptrack_preload.so, heaptrack_interpret and zstd; it is
not necessarily the target's own RSS (bench/README.md).
EOF
    else
        printf '\nRSS is n/a: /usr/bin/time is missing or is not GNU time.\n'
    fi
    if [ -n "$notes" ]; then
        printf '\n## Notes from this run\n\n%s' "$notes"
    fi
}

# ---------------------------------------------------------------- main

# The page says how long the run took: make bench has to fit in 10 minutes
# on a fresh machine (bench/README.md).
START_S=$(date +%s)
elapsed() {
    el_s=$(($(date +%s) - START_S))
    echo "$((el_s / 60)) min $((el_s % 60)) s"
}

# Other work on the machine skews every figure; the page shows the load.
LOAD_BEFORE=$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null)
case $LOAD_BEFORE in
'' | 0.[0-4]*) ;;
*) note "the machine was busy at the start (load average $LOAD_BEFORE): other processes share the CPUs" ;;
esac
setup_tools
mkdir -p "$OUT" || exit 2
rm -rf "$OUT/data" "$OUT"/trace.* "$OUT"/heaptrack.* "$OUT"/sampled.*
mkdir -p "$OUT/data" || exit 2
build_targets
[ "$HAVE_TIME" = 1 ] || note "/usr/bin/time (GNU) not found: RSS is n/a"

# TARGETS is read on the shell's stdin: the targets get /dev/null instead.
while read -r name args; do
    # shellcheck disable=SC2086 # args is a list of words on purpose
    bench_target "$name" $args </dev/null
    [ -e "$OUT/data/$name.failed" ] && failures=$((failures + 1))
done <<EOF
$TARGETS
EOF
bench_threads </dev/null
bench_suite </dev/null

write_page "$1" >"$OUT/page.md"
echo
cat "$OUT/page.md"
if cp "$OUT/page.md" "$RESULTS"; then
    echo
    echo "written to $RESULTS"
fi
[ "$failures" -eq 0 ] || exit 1
exit 0
