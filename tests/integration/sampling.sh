# sampling.sh — sampling mode (MEMAUDIT_SAMPLE, memaudit run --sample; issue 7).
# Sourced by run.sh, whose helpers (record, run_case, expect, ok, fail,
# first_line) and variables (TMP, PROGS, MEMAUDIT, LIMIT) it uses.
#
# The recorder samples an allocation of s bytes with probability
# 1 - exp(-s/m) (always when s > m) from a per-thread generator seeded by the
# thread's order, not the time: a single-threaded program samples the same
# allocations on every run, and the analysis's rounding hashes only sizes and
# event numbers, so the figures below are reproducible. The tolerances are
# nevertheless those of the estimator, not of one lucky seed:
#
# loop.c, N = 3000000 blocks of s = 8 + (37 i mod 505) bytes, B = 779999665
# bytes, m = 65536. For blocks much smaller than m the byte estimator has
# variance ~ m B, a relative standard error sqrt(m/B) = 0.92%; the count
# estimator has variance ~ sum m/s = m N E[1/s] = 65536 * 3e6 * 0.00837, a
# standard error of 40600 blocks, 1.35%. +-5% is 3.7 standard errors for the
# count and 5.4 for the bytes: a correct estimator would leave it about once
# in 5000 seeds, while an unweighted one (0.4% of the count) or one weighted
# m/s without the correction is far outside or (the correction is ~0.5% here)
# inside it -- these cases catch gross errors; the exact cases catch the rest.
#
# growth.c with m = 64: every block it leaks (1000 bytes, and 40 of 100) and
# the stdio buffer glibc keeps (4096) are larger than m, so they are recorded
# always and the leak figures are exact, whatever the sampling.

# sampled NAME MEAN PROGRAM [ARGS...]: record with MEMAUDIT_SAMPLE=MEAN.
sampled() {
    sp_name=$1
    export MEMAUDIT_SAMPLE="$2"
    shift 2
    record "$sp_name" 0 "$@"
    sp_st=$?
    unset MEMAUDIT_SAMPLE
    return $sp_st
}

if sampled sample-loop 65536 "$PROGS/loop"; then
    expect sample-loop sample-loop \
        process.complete=true process.lost_events=0 process.sampling_bytes=65536 \
        'process.sampling_note~figures are estimates' \
        summary.unmatched_frees=0 summary.unsampled_frees=0 \
        'summary.allocations>=2850000' 'summary.allocations<=3150000' \
        'summary.bytes_allocated>=740999682' 'summary.bytes_allocated<=818999648' \
        'summary.frees>=2850000' 'summary.frees<=3150000' \
        summary.leaked_bytes=0 summary.leaked_blocks=0 \
        'hotspots[0].stack[0].function=churn' 'hotspots[0].stack[1].function=descend'
    # A sampled trace holds about one event in a thousand here: a recorder
    # that recorded everything would be caught by the trace size.
    size=$(wc -c <"$TMP/sample-loop.trace")
    if [ "$size" -lt 2000000 ]; then
        ok sample-loop-size
    else
        fail sample-loop-size "the sampled trace has $size bytes (a full one has ~40 MB)"
    fi
    # Every report says that its figures are estimates.
    for fmt in text md html; do
        if "$MEMAUDIT" report --format $fmt -o "$TMP/sample-loop.$fmt" "$TMP/sample-loop.trace" \
            2>"$TMP/sample-loop.$fmt.err" && grep -q 'SAMPLED RUN' "$TMP/sample-loop.$fmt"; then
            ok sample-loop-$fmt
        else
            fail sample-loop-$fmt "no 'SAMPLED RUN' note in the $fmt report ($(first_line "$TMP/sample-loop.$fmt.err"))"
        fi
    done
fi
# Not sampled: the same program's report has no such note and the exact figures.
if record sample-off 0 "$PROGS/loop" 20000; then
    expect sample-off sample-off process.sampling_bytes=0 process.sampling_note=null \
        summary.allocations=20000 summary.bytes_allocated=5199230
    if "$MEMAUDIT" report "$TMP/sample-off.trace" 2>/dev/null | grep -q 'SAMPLED RUN'; then
        fail sample-off-text "a full-mode report says SAMPLED RUN"
    else
        ok sample-off-text
    fi
fi

if sampled sample-growth 64 "$PROGS/growth"; then
    expect sample-growth sample-growth \
        process.complete=true process.sampling_bytes=64 summary.unmatched_frees=0 \
        summary.leaked_bytes=5000 summary.leaked_blocks=41 \
        summary.runtime_held_bytes=4096 summary.runtime_held_blocks=1 \
        'summary.allocations>=20962' 'summary.allocations<=23168' \
        'summary.bytes_allocated>=1044400' 'summary.bytes_allocated<=1154336' \
        'findings[kind:leak].stack[0].function=cache_init'
fi

# Blocks freed by another thread than the one that sampled them: threads.c's
# ring. With m = 512 its leaks (1000 to 4000 bytes) are all recorded.
if sampled sample-threads 512 "$PROGS/threads"; then
    expect sample-threads sample-threads \
        process.complete=true process.lost_events=0 summary.unmatched_frees=0 \
        summary.leaked_bytes=10000 summary.leaked_blocks=4 \
        'leaks[0].stack[0].function=thread_leak' \
        'summary.allocations>=13307' 'summary.allocations<=14708'
fi

# memaudit run --sample sets it; a bad value is a usage error.
if timeout "$LIMIT" "$MEMAUDIT" run --sample 524288 -o "$TMP/sample-run2" -- "$PROGS/loop" 100000 \
    >/dev/null 2>"$TMP/sample-run2.err"; then
    set -- "$TMP/sample-run2"/*.trace
    if [ $# -eq 1 ] && report sample-run2 "$1"; then
        expect sample-run2 sample-run2 process.sampling_bytes=524288 'summary.allocations>=1'
    else
        fail sample-run2 "no trace from memaudit run --sample (stderr: $(first_line "$TMP/sample-run2.err"))"
    fi
else
    fail sample-run2 "memaudit run --sample failed (stderr: $(first_line "$TMP/sample-run2.err"))"
fi
if "$MEMAUDIT" run --sample 12x -- true >/dev/null 2>&1; then
    fail sample-run-bad "memaudit run --sample 12x was accepted"
else
    ok sample-run-bad
fi

# Signal handlers that allocate, with signals arriving anywhere, also while
# the recorder holds the set's lock (sigalloc.c): no deadlock (the case runs
# under a timeout), a whole trace, every recorded free matched.
if sampled sample-sigalloc 64 "$PROGS/sigalloc"; then
    expect sample-sigalloc sample-sigalloc \
        process.complete=true summary.unmatched_frees=0 summary.leaked_bytes=0 \
        'summary.allocations>=190000'
fi

# sampled.c: small_site allocates exactly B = 268435456 bytes (256 MiB) in
# 65401 blocks of 16 to 8192 bytes; large_site 40 blocks of 1 MiB and more,
# 8 of them leaked (9551872 bytes). The byte estimate of small_site has a
# standard error of about sqrt(m B) (blocks much smaller than m): 1.6% at
# m = 64 KiB, 4.4% at m = 512 KiB. The bounds, +-6% and +-15%, are 3.8 and
# 3.4 standard errors. With the seed of a single-threaded run (fixed, see
# above) the estimates were 263415712 (-1.9%) and 263507126 (-1.8%) when
# this case was written. Blocks larger than m are all recorded: the leak,
# large_site's bytes and its 40 allocations are exact. The frees of the
# ~65000 blocks that were not sampled are no events: not unmatched, not
# unsampled (a free of a block the trace has no allocation of).
for m in 65536:252329328:284541583 524288:228170137:308700774; do
    mean=${m%%:*}
    bounds=${m#*:}
    lo=${bounds%%:*}
    hi=${bounds#*:}
    if sampled sample-sites-$mean "$mean" "$PROGS/sampled"; then
        expect sample-sites-$mean sample-sites-$mean \
            process.complete=true process.lost_events=0 process.sampling_bytes=$mean \
            summary.unmatched_frees=0 summary.unsampled_frees=0 \
            'hotspots[0].stack[0].function=small_site' \
            "hotspots[0].bytes>=$lo" "hotspots[0].bytes<=$hi" \
            'any(hotspots[*].bytes)=45137920' \
            'leaks[0].stack[0].function=large_site' 'leaks[0].bytes=9551872' \
            'leaks[0].blocks=8' 'leaks[0].allocations=40' \
            summary.leaked_bytes=9551872 summary.leaked_blocks=8
    fi
done
