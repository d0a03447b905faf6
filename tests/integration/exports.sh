# exports.sh — memaudit report --format pprof and --format massif, read back
# by independent readers (issue 8). Sourced by run.sh, after browser.sh: it
# uses run.sh's helpers (ok, fail, first_line, status_words) and variables
# (BUILD, TMP, MEMAUDIT, JCHECK, LIB, LIMIT, PROGS).
#
# pprof: tests/progs/leaks (22 allocations, 14656 bytes, 13800 bytes in 12
# blocks live at exit, peak 13800: tests/integration/README.md) and
# examples/wordfreq (-O1: inlined functions).
#   - the file is gzip (gzip -t);
#   - protoc decodes it against pprof's own profile.proto (Debian's
#     golang-github-google-pprof-dev ships it) with the program's build id,
#     as readelf reads it, in the string table;
#   - go tool pprof (golang-go) reads each sample type's total exactly (for
#     wordfreq: as memaudit's JSON report has them), the build id, the stack
#     of a leak, and for wordfreq inlined frames
#     ("(inline)": several lines in one location); also from the profile
#     that memaudit symbolize writes (no binaries, no build ids).
# massif: tests/progs/peak (a peak of exactly 1,000,000 bytes, 936,000 of
# them from peak_hold) and wordfreq (memory samples every 2 ms):
#   - ms_print (valgrind, a required dependency) reads it, shows the peak
#     snapshot with 1,000,000 useful-heap bytes and peak_hold's 93.60%, and
#     for wordfreq a snapshot per sample;
#   - the same file with one line removed makes ms_print fail, so a reader
#     that accepted anything would not pass.
# protoc and go are optional (scripts/deps.sh installs them when it can):
# without them those cases are skipped with a message, not failed.

EX=$TMP/exports
mkdir -p "$EX"
PPROF_PROTO=/usr/share/gocode/src/github.com/google/pprof/proto/profile.proto

# ex_record NAME ARGS...: record a program into $EX/NAME.trace (samples every 2 ms).
ex_record() {
    name=$1
    shift
    timeout "$LIMIT" env LD_PRELOAD="$LIB" MEMAUDIT_QUIET=1 MEMAUDIT_INTERVAL_MS=2 \
        MEMAUDIT_OUTPUT="$EX/$name.trace" "$@" >/dev/null 2>"$EX/$name.err"
}

# ex_report NAME FORMAT OUT [INPUT]: memaudit report --format FORMAT -o OUT.
ex_report() {
    timeout "$LIMIT" "$MEMAUDIT" report --format "$2" -o "$3" "${4:-$EX/$1.trace}" 2>"$EX/$1.$2.err"
    st=$?
    if [ $st -ne 0 ] || [ ! -s "$3" ]; then
        fail "export-$2-$1" "memaudit report --format $2: $(status_words $st): $(first_line "$EX/$1.$2.err")"
        return 1
    fi
    return 0
}

# pprof_total FILE SAMPLE_TYPE: go tool pprof's total of one sample type, as "N".
pprof_total() {
    timeout "$LIMIT" go tool pprof -top -unit=B -sample_index="$2" "$1" 2>/dev/null |
        sed -n 's/.*Total samples = \([0-9]*\)B.*/\1/p' | head -n 1
}

ex_record leaks "$PROGS/leaks"
ex_record wordfreq "$BUILD/examples/wordfreq" 60000 # ~30 ms: a dozen samples or more, also on a slow machine
ex_record peak "$PROGS/peak"

# ---------------------------------------------------------------- pprof
if ex_report leaks pprof "$EX/leaks.pb.gz" && ex_report wordfreq pprof "$EX/wordfreq.pb.gz"; then
    if gzip -t "$EX/leaks.pb.gz" 2>/dev/null; then
        ok export-pprof-gzip
    else
        fail export-pprof-gzip "$EX/leaks.pb.gz is not gzip"
    fi
    build_id=$(readelf -n "$PROGS/leaks" 2>/dev/null | sed -n 's/.*Build ID: *\([0-9a-f]*\).*/\1/p' | head -n 1)

    if ! command -v protoc >/dev/null 2>&1 || [ ! -r "$PPROF_PROTO" ]; then
        echo "skip export-pprof-protoc: needs protoc and $PPROF_PROTO" \
            "(as root: apt-get install -y protobuf-compiler golang-github-google-pprof-dev, or make deps)"
    elif ! gzip -dc "$EX/leaks.pb.gz" | protoc --decode=perftools.profiles.Profile \
        -I "$(dirname "$PPROF_PROTO")" profile.proto >"$EX/leaks.decoded" 2>"$EX/leaks.protoc-err"; then
        fail export-pprof-protoc "protoc --decode: $(first_line "$EX/leaks.protoc-err")"
    elif [ -n "$build_id" ] && grep -q "^string_table: \"$build_id\"" "$EX/leaks.decoded" &&
        [ "$(grep -m 1 '^string_table' "$EX/leaks.decoded")" = 'string_table: ""' ] &&
        grep -q '^string_table: "inuse_space"' "$EX/leaks.decoded" &&
        grep -q '^string_table: "leak_pvalloc"' "$EX/leaks.decoded" &&
        [ "$(grep -c '^sample {' "$EX/leaks.decoded")" -ge 10 ]; then
        ok "export-pprof-protoc ($(grep -c '^sample {' "$EX/leaks.decoded") samples, $(grep -c '^location {' "$EX/leaks.decoded") locations)"
    else
        fail export-pprof-protoc "no build id $build_id, leak_pvalloc or samples in $EX/leaks.decoded"
    fi

    if ! command -v go >/dev/null 2>&1; then
        echo "skip export-pprof-go: needs go tool pprof (as root: apt-get install -y golang-go, or make deps)"
    else
        got="$(pprof_total "$EX/leaks.pb.gz" alloc_objects) $(pprof_total "$EX/leaks.pb.gz" alloc_space)"
        got="$got $(pprof_total "$EX/leaks.pb.gz" inuse_objects) $(pprof_total "$EX/leaks.pb.gz" inuse_space)"
        got="$got $(pprof_total "$EX/leaks.pb.gz" peak_space)"
        if [ "$got" = "22 14656 12 13800 13800" ]; then
            ok "export-pprof-go-totals ($got)"
        else
            fail export-pprof-go-totals "go tool pprof totals '$got', want '22 14656 12 13800 13800' (alloc_objects alloc_space inuse_objects inuse_space peak_space)"
        fi
        timeout "$LIMIT" go tool pprof -traces "$EX/leaks.pb.gz" >"$EX/leaks.traces" 2>&1
        if grep -q "Build ID: $build_id" "$EX/leaks.traces" && grep -q '^ *1.86kB *leak_pvalloc$' "$EX/leaks.traces" &&
            grep -q '^ *main$' "$EX/leaks.traces"; then
            ok export-pprof-go-stacks
        else
            fail export-pprof-go-stacks "no build id $build_id or no 1.86kB (1900 B) leak_pvalloc <- main stack in $EX/leaks.traces"
        fi
        # wordfreq: the peak is not what is live at exit, so the two types
        # must not be swapped; its figures as memaudit's JSON report has them.
        timeout "$LIMIT" "$MEMAUDIT" report --format json -o "$EX/wordfreq.json" "$EX/wordfreq.trace" 2>/dev/null
        if "$JCHECK" "$EX/wordfreq.json" "summary.allocations=$(pprof_total "$EX/wordfreq.pb.gz" alloc_objects)" \
            "summary.bytes_allocated=$(pprof_total "$EX/wordfreq.pb.gz" alloc_space)" \
            "summary.peak_heap_bytes=$(pprof_total "$EX/wordfreq.pb.gz" peak_space)" \
            "summary.leaked_bytes<$(pprof_total "$EX/wordfreq.pb.gz" inuse_space)" \
            "summary.peak_heap_bytes>$(pprof_total "$EX/wordfreq.pb.gz" inuse_space)" >"$EX/wordfreq.jcheck" 2>&1; then
            ok export-pprof-go-wordfreq
        else
            fail export-pprof-go-wordfreq "$(grep -m 1 FAIL "$EX/wordfreq.jcheck")"
        fi
        timeout "$LIMIT" go tool pprof -traces "$EX/wordfreq.pb.gz" >"$EX/wordfreq.traces" 2>&1
        if grep -q ' (inline)$' "$EX/wordfreq.traces"; then
            ok "export-pprof-go-inline ($(grep -c ' (inline)$' "$EX/wordfreq.traces") inlined frames)"
        else
            fail export-pprof-go-inline "no inlined frame in $EX/wordfreq.traces"
        fi
        # From the profile: no binaries needed, the same figures.
        if timeout "$LIMIT" "$MEMAUDIT" symbolize -o "$EX/leaks.profile" "$EX/leaks.trace" 2>/dev/null &&
            ex_report leaks-profile pprof "$EX/leaks-profile.pb.gz" "$EX/leaks.profile"; then
            got="$(pprof_total "$EX/leaks-profile.pb.gz" alloc_space) $(pprof_total "$EX/leaks-profile.pb.gz" inuse_space)"
            if [ "$got" = "14656 13800" ]; then
                ok export-pprof-from-profile
            else
                fail export-pprof-from-profile "totals '$got' from the profile, want '14656 13800'"
            fi
        fi
    fi
fi

# ---------------------------------------------------------------- massif
if ex_report peak massif "$EX/peak.massif" && ex_report wordfreq massif "$EX/wordfreq.massif"; then
    if ! timeout "$LIMIT" ms_print "$EX/peak.massif" >"$EX/peak.ms" 2>"$EX/peak.ms-err"; then
        fail export-massif-ms_print "ms_print: $(first_line "$EX/peak.ms-err")"
    elif grep -q '^ Detailed snapshots: \[.*(peak)' "$EX/peak.ms" &&
        grep -Eq '^ +[0-9]+ +[0-9.]+ +1,000,000 +1,000,000 +0 +0$' "$EX/peak.ms" &&
        grep -q '^->93.60% (936,000B) 0x[0-9A-F]*: peak_hold (' "$EX/peak.ms"; then
        ok export-massif-ms_print
    else
        fail export-massif-ms_print "no peak snapshot of 1,000,000 bytes with peak_hold's 936,000 in $EX/peak.ms"
    fi
    if timeout "$LIMIT" ms_print "$EX/wordfreq.massif" >"$EX/wordfreq.ms" 2>&1 &&
        n=$(sed -n 's/^Number of snapshots: \([0-9]*\)$/\1/p' "$EX/wordfreq.ms") && [ "${n:-0}" -ge 4 ]; then
        ok "export-massif-timeline ($n snapshots)"
    else
        fail export-massif-timeline "ms_print shows fewer than 4 snapshots in $EX/wordfreq.ms"
    fi
    # The reader must notice a broken file: drop the first mem_heap_B line.
    sed '0,/^mem_heap_B=/{/^mem_heap_B=/d}' "$EX/peak.massif" >"$EX/broken.massif"
    if ! cmp -s "$EX/peak.massif" "$EX/broken.massif" && ! ms_print "$EX/broken.massif" >/dev/null 2>&1; then
        ok export-massif-reader-checks
    else
        fail export-massif-reader-checks "ms_print accepted $EX/broken.massif"
    fi
fi
