# watermark.sh — WATERMARK records (docs/trace-format.md, "Watermarks";
# preload/flusher.c argues how the recorder keeps them true). Sourced by
# run.sh, whose helpers (record, ok, fail, first_line) and variables (TMP,
# PROGS, WMCHECK) it uses.
#
# paced (4 threads allocating in rounds, 1 ms apart, for about 0.33 s; one
# block a round crosses threads) is recorded with a period of 1 ms, plainly
# and compressed; build/tools/wmcheck reads each trace block by block in file
# order, as a reader following it would, and must find at least 20
# watermarks and no record stamped below one that comes after it. paced
# sleeps, so the recorder's thread gets its periods even on a loaded machine
# (about 330). The same check, asking for one watermark only, runs on
# handoff 2 2 1000000 (4 threads allocating and freeing without pause for a
# quarter of a second, blocks crossing threads: threads preempted
# mid-record, full buffers written or handed off, a busy flusher).
# The checker must fail on the paced trace with one events block written late
# (a copy appended at the end: what a flush that skipped a pending thread
# would write); and sampling mode, which has no background thread, writes none.

WM_BLOCKS=1000000

# wm_case NAME MIN: wmcheck --min MIN on $TMP/NAME.trace.
wm_case() {
    if out=$("$WMCHECK" --min "$2" "$TMP/$1.trace" 2>&1); then
        ok "$1 # $out"
    else
        fail "$1" "$out"
    fi
}

# wm_late_copy TRACE OUT: OUT is TRACE with a copy of its first block of
# events only (flags 0) appended. 1 when it has none.
wm_late_copy() {
    wl_size=$(wc -c <"$1")
    wl_off=64
    while [ $((wl_off + 32)) -le "$wl_size" ]; do
        # shellcheck disable=SC2046 # six numbers on purpose
        set -- "$1" "$2" $(od -An -tu4 -j "$wl_off" -N 24 "$1")
        # $3 magic, $4 thread, $5 seq, $6 payload_bytes, $7 n_records, $8 flags
        if [ "$8" = 0 ] && [ "$7" -gt 0 ]; then
            cp "$1" "$2" &&
                tail -c +$((wl_off + 1)) "$1" | head -c $((32 + $6)) >>"$2"
            return
        fi
        wl_off=$((wl_off + 32 + $6))
    done
    return 1
}

export MEMAUDIT_INTERVAL_MS=1
if record watermark-plain 0 "$PROGS/paced"; then
    wm_case watermark-plain 20
    if ! wm_late_copy "$TMP/watermark-plain.trace" "$TMP/watermark-late.trace"; then
        fail watermark-late "no block of events only in the trace"
    else
        out=$("$WMCHECK" "$TMP/watermark-late.trace" 2>&1)
        st=$?
        case $st:$out in
        1:*"comes after WATERMARK"*) ok watermark-late ;;
        *) fail watermark-late "wmcheck on a trace with a block written late: exit $st: $out" ;;
        esac
    fi
fi
record watermark-busy 0 "$PROGS/handoff" 2 2 $WM_BLOCKS && wm_case watermark-busy 1
export MEMAUDIT_COMPRESS=1
record watermark-zstd 0 "$PROGS/paced" && wm_case watermark-zstd 20
record watermark-busy-zstd 0 "$PROGS/handoff" 2 2 $WM_BLOCKS && wm_case watermark-busy-zstd 1
unset MEMAUDIT_COMPRESS
export MEMAUDIT_SAMPLE=4096
if record watermark-sampled 0 "$PROGS/handoff" 2 2 200000; then
    out=$("$WMCHECK" --min 0 "$TMP/watermark-sampled.trace" 2>&1)
    case $out in
    "wmcheck: 0 watermarks,"*) ok watermark-sampled ;;
    *) fail watermark-sampled "sampling mode: $out" ;;
    esac
fi
unset MEMAUDIT_SAMPLE MEMAUDIT_INTERVAL_MS
