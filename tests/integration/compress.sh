# compress.sh — compressed traces (MEMAUDIT_COMPRESS=1, preload/compress.c,
# TR_BLOCK_ZSTD in docs/trace-format.md). Sourced by run.sh, whose helpers
# (record, report, ok, fail, first_line) and variables (TMP, PROGS,
# MEMAUDIT, LIMIT) it uses.
#
# Each program is recorded twice, plainly and compressed; the two JSON
# reports must be the same (for a threaded program, whose peak and live
# blocks depend on scheduling: its totals) but for what differs between any
# two runs
# (addresses under ASLR, times, RSS and the memory timeline, the trace's own
# size, and the allocator's slack, which in threaded programs depends on
# which arena a thread got). The compressed trace must really hold compressed blocks, and be a
# good deal smaller (else compression silently did not happen and the
# comparison proves nothing). A damaged frame is a one-line error.

# stable_json FILE [totals]: the report without what two runs of the same
# program may differ in; with totals, only the totals.
stable_json() {
    if [ "$2" = totals ]; then
        grep -E '"(allocations|frees|bytes_allocated|leaked_bytes|leaked_blocks|reallocs|failed_allocations|unmatched_frees|temporary_allocations|lost_events|complete)":' "$1"
        return
    fi
    grep -v -e '"address":' -e '_ns":' -e '"duration' -e '_per_s":' -e '"pid":' -e '"ppid":' \
        -e '"path":' -e '"exe":' -e '"cmdline":' -e '"trace_bytes' -e '"samples":' \
        -e 'rss' -e '"heap_bytes":' -e '"heap_blocks":' -e '"allocator_' -e '"fragmentation' \
        -e 'slack_bytes' -e '"timeline":' -e '^[][{},[:space:]]*$' "$1"
}

# zstd_blocks TRACE: "N M", the number of blocks and of compressed blocks.
zstd_blocks() {
    zb_size=$(wc -c <"$1")
    zb_off=64
    zb_n=0
    zb_z=0
    while [ $((zb_off + 32)) -le "$zb_size" ]; do
        # shellcheck disable=SC2046 # six numbers on purpose
        set -- "$1" $(od -An -tu4 -j "$zb_off" -N 24 "$1")
        zb_n=$((zb_n + 1))
        [ $(($7 & 2)) -ne 0 ] && zb_z=$((zb_z + 1))
        zb_off=$((zb_off + 32 + $5))
    done
    echo "$zb_n $zb_z"
}

# compress_case NAME MIN_RATIO all|totals PROGRAM [ARGS...]
compress_case() {
    cz_name=$1
    cz_ratio=$2
    cz_what=$3
    shift 3
    record "$cz_name-plain" 0 "$@" || return
    export MEMAUDIT_COMPRESS=1
    record "$cz_name-zstd" 0 "$@"
    cz_st=$?
    unset MEMAUDIT_COMPRESS
    [ $cz_st -eq 0 ] || return
    cz_plain=$(wc -c <"$TMP/$cz_name-plain.trace")
    cz_zstd=$(wc -c <"$TMP/$cz_name-zstd.trace")
    # shellcheck disable=SC2046
    set -- $(zstd_blocks "$TMP/$cz_name-zstd.trace")
    if [ "$2" -eq 0 ] || [ $((cz_zstd * cz_ratio)) -gt "$cz_plain" ]; then
        fail "$cz_name" "compressed trace: $cz_zstd bytes, $2 of $1 blocks compressed; plain: $cz_plain bytes (want at least ${cz_ratio}x smaller)"
        return
    fi
    if ! stable_json "$TMP/$cz_name-plain.json" "$cz_what" >"$TMP/$cz_name-plain.sj" ||
        ! stable_json "$TMP/$cz_name-zstd.json" "$cz_what" >"$TMP/$cz_name-zstd.sj" ||
        ! diff -u "$TMP/$cz_name-plain.sj" "$TMP/$cz_name-zstd.sj" >"$TMP/$cz_name.diff"; then
        fail "$cz_name" "reports differ: $(grep '^[-+][^-+]' "$TMP/$cz_name.diff" | head -n 4 | tr '\n\t' '  ')"
        return
    fi
    ok "$cz_name"
}

compress_case compress-loop 4 all "$PROGS/loop" 300000
compress_case compress-threads 1 totals "$PROGS/threads"
compress_case compress-handoff 1 totals "$PROGS/handoff" 2 2
compress_case compress-realloc 1 all "$PROGS/realloc_chain"

# The same with no background thread: owners compress their blocks themselves.
export MEMAUDIT_INTERVAL_MS=0
compress_case compress-noflusher 4 all "$PROGS/loop" 300000
unset MEMAUDIT_INTERVAL_MS

# A damaged frame: one line naming the block, exit 1, no crash.
cz_trace=$TMP/compress-loop-zstd.trace
if [ -s "$cz_trace" ]; then
    cp "$cz_trace" "$TMP/zcorrupt.trace"
    # The first compressed block; its frame starts 36 bytes after its header.
    cz_off=64
    while :; do
        # shellcheck disable=SC2046
        set -- $(od -An -tu4 -j "$cz_off" -N 24 "$TMP/zcorrupt.trace")
        [ $(($6 & 2)) -ne 0 ] && break
        cz_off=$((cz_off + 32 + $4))
    done
    printf '\377\377\377\377\377\377\377\377' |
        dd of="$TMP/zcorrupt.trace" bs=1 seek=$((cz_off + 36 + $4 / 2)) conv=notrunc 2>/dev/null
    timeout "$LIMIT" "$MEMAUDIT" report "$TMP/zcorrupt.trace" >/dev/null 2>"$TMP/zcorrupt.err"
    cz_st=$?
    if [ $cz_st -eq 1 ] && [ "$(wc -l <"$TMP/zcorrupt.err")" -eq 1 ] &&
        grep -q "compressed block at offset $cz_off does not decompress" "$TMP/zcorrupt.err"; then
        ok compress-corrupt
    else
        fail compress-corrupt "exit $cz_st, stderr: $(head -c 300 "$TMP/zcorrupt.err")"
    fi
else
    fail compress-corrupt "no compressed trace from compress-loop"
fi

# memaudit run --compress sets MEMAUDIT_COMPRESS for every process it records.
rm -rf "$TMP/zrun"
if timeout "$LIMIT" "$MEMAUDIT" run --compress -o "$TMP/zrun" -- "$PROGS/loop" 300000 \
    >/dev/null 2>"$TMP/zrun.err"; then
    set -- "$TMP/zrun"/*.trace
    # shellcheck disable=SC2046
    set -- "$1" $(zstd_blocks "$1")
    if [ "$3" -gt 0 ]; then
        ok compress-run
    else
        fail compress-run "memaudit run --compress wrote $2 blocks, none compressed"
    fi
else
    fail compress-run "memaudit run --compress failed: $(first_line "$TMP/zrun.err")"
fi

# ... and writes each profile as one zstd frame: the same report as the
# trace's, byte for byte; the frame's content is the plain profile; a damaged
# frame is a one-line error.
if [ -d "$TMP/zrun" ]; then
    zp=$(ls "$TMP/zrun"/*.profile 2>/dev/null | head -n 1)
    zt=$(ls "$TMP/zrun"/*.trace 2>/dev/null | head -n 1)
    magic=$([ -n "$zp" ] && od -An -tx1 -N4 "$zp" | tr -d ' \n')
    if [ "$magic" != 28b52ffd ]; then
        fail compress-profile "memaudit run --compress wrote no zstd profile ($zp: $magic)"
    elif ! "$MEMAUDIT" report --format json -o "$TMP/zprof.json" "$zp" 2>"$TMP/zprof.err" ||
        ! "$MEMAUDIT" report --format json -o "$TMP/ztrace.json" "$zt" 2>>"$TMP/zprof.err"; then
        fail compress-profile "memaudit report failed: $(first_line "$TMP/zprof.err")"
    elif ! cmp -s "$TMP/zprof.json" "$TMP/ztrace.json"; then
        fail compress-profile "the compressed profile's report differs from the trace's"
    elif ! "$MEMAUDIT" symbolize -o "$TMP/zplain.profile" "$zt" 2>/dev/null ||
        ! "$MEMAUDIT" symbolize --compress -o "$TMP/zz.profile" "$zt" 2>/dev/null ||
        ! cmp -s "$TMP/zz.profile" "$zp"; then
        fail compress-profile "memaudit symbolize --compress does not write what memaudit run --compress wrote"
    elif [ "$(wc -c <"$zp")" -ge "$(wc -c <"$TMP/zplain.profile")" ]; then
        fail compress-profile "the compressed profile ($(wc -c <"$zp") bytes) is not smaller than the plain one"
    else
        # Flip the bits of one byte in the middle of the frame: the checksum
        # or the decoder says so, in one line.
        cp "$zp" "$TMP/zbad.profile"
        half=$(($(wc -c <"$zp") / 2))
        byte=$(od -An -tu1 -j "$half" -N 1 "$zp" | tr -d ' ')
        printf "\\$(printf '%03o' $((byte ^ 255)))" |
            dd of="$TMP/zbad.profile" bs=1 seek="$half" conv=notrunc 2>/dev/null
        "$MEMAUDIT" report "$TMP/zbad.profile" >/dev/null 2>"$TMP/zbad.err"
        st=$?
        if [ "$st" = 1 ] && [ "$(wc -l <"$TMP/zbad.err")" = 1 ] &&
            grep -q "corrupt compressed profile" "$TMP/zbad.err"; then
            ok compress-profile
        else
            fail compress-profile "damaged compressed profile: exit $st, stderr: $(head -c 300 "$TMP/zbad.err")"
        fi
    fi
fi

# memaudit symbolize of a profile (plain or compressed) refuses, in one line,
# instead of writing X.profile.profile.
if [ -n "$zp" ] && [ -s "$zp" ]; then
    "$MEMAUDIT" symbolize -o "$TMP/zagain.profile" "$zp" >/dev/null 2>"$TMP/zagain.err"
    st=$?
    if [ "$st" = 1 ] && [ ! -e "$TMP/zagain.profile" ] && [ "$(wc -l <"$TMP/zagain.err")" = 1 ] &&
        grep -q "already a profile" "$TMP/zagain.err"; then
        ok symbolize-profile
    else
        fail symbolize-profile "memaudit symbolize of a profile: exit $st, stderr: $(head -c 200 "$TMP/zagain.err")"
    fi
fi
