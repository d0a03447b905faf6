#!/bin/sh
# fuzz/run.sh — run the libFuzzer targets of fuzz/ (run by `make fuzz`).
#
#   sh fuzz/run.sh BUILD_DIR [SECONDS]      (from the repository root)
#
# Makes a seed corpus from real runs: the programs of tests/progs/ recorded
# under BUILD_DIR/libaudit.so (one truncated copy too, as a crashed target
# leaves), and each trace written out as a profile with `memaudit symbolize`
# (two also compressed).
# Then runs every BUILD_DIR/fuzz/fuzz_* target for SECONDS (default 600) at
# once, one process each, with a persistent corpus in BUILD_DIR/fuzz/corpus-*.
# Prints, per target, its executions, run time and executions per second;
# findings are left in BUILD_DIR/fuzz/artifacts/ and make the exit status 1.
# A finding becomes a regression test by copying it to tests/fuzz/TARGET/
# (tests/integration/run.sh feeds those to `memaudit report`).
BUILD=${1:-build}
SECONDS_EACH=${2:-600}
case $BUILD in
/*) ;;
*) BUILD=$(pwd)/$BUILD ;;
esac
FUZZ=$BUILD/fuzz
PROGS=$BUILD/progs
seeds=$FUZZ/seeds

rm -rf "$seeds"
mkdir -p "$seeds/trace" "$seeds/profile" "$FUZZ/artifacts" || exit 2

# Seeds: small traces of real runs (threads.c's 200 KiB would slow every
# execution down; temporaries.c has a thread of its own).
record() {
    name=$1
    shift
    env LD_PRELOAD="$BUILD/libaudit.so" MEMAUDIT_QUIET=1 \
        MEMAUDIT_OUTPUT="$seeds/trace/$name.trace" "$@" >/dev/null 2>&1
}
record leaks "$PROGS/leaks"
record realloc_chain "$PROGS/realloc_chain"
record realloc_zero "$PROGS/realloc_zero"
record failed "$PROGS/failed"
record exitcode "$PROGS/exitcode"
record abort "$PROGS/exitcode" abort
record temporaries "$PROGS/temporaries"
record glibc_held "$PROGS/glibc_held"
record loop "$PROGS/loop" 200 3
# two threads, a 1 ms period: a few WATERMARK records (about 70 KiB)
record watermarks MEMAUDIT_INTERVAL_MS=1 "$PROGS/handoff" 1 1 5000
size=$(wc -c <"$seeds/trace/leaks.trace")
head -c $((size * 2 / 3)) "$seeds/trace/leaks.trace" >"$seeds/trace/leaks-cut.trace"
for t in "$seeds"/trace/*.trace; do
    base=$(basename "$t" .trace)
    "$BUILD/memaudit" symbolize -o "$seeds/profile/$base.profile" "$t" 2>/dev/null
done
# and compressed profiles (symbolize --compress: one zstd frame of the JSON)
for t in leaks realloc_chain; do
    "$BUILD/memaudit" symbolize --compress -o "$seeds/profile/$t-zstd.profile" \
        "$seeds/trace/$t.trace" 2>/dev/null
done

pids=""
for bin in "$FUZZ"/fuzz_*; do
    [ -x "$bin" ] || continue
    target=${bin##*/fuzz_}
    mkdir -p "$FUZZ/corpus-$target"
    echo "fuzz: $target for ${SECONDS_EACH}s (log: $FUZZ/$target.log)"
    "$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
        -print_final_stats=1 -artifact_prefix="$FUZZ/artifacts/$target-" \
        "$FUZZ/corpus-$target" "$seeds/$target" >"$FUZZ/$target.log" 2>&1 &
    pids="$pids $!"
done
status=0
for p in $pids; do
    wait "$p" || status=1
done

for bin in "$FUZZ"/fuzz_*; do
    [ -x "$bin" ] || continue
    target=${bin##*/fuzz_}
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$FUZZ/$target.log" | tail -n 1)
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$FUZZ/$target.log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$FUZZ/$target.log" | tail -n 1)
    echo "fuzz: $target: ${runs:-?} executions in ${secs:-?} s (${rate:-?}/s), corpus $(ls "$FUZZ/corpus-$target" | wc -l) inputs"
done
found=$(ls "$FUZZ/artifacts" | wc -l)
echo "fuzz: $found finding(s) in $FUZZ/artifacts"
[ "$found" -eq 0 ] && [ $status -eq 0 ]
