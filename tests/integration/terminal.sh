# terminal.sh — integration cases for the terminal niceties (issue 8): the
# progress bar on stderr (a terminal only, never a pipe, a file or CI), the
# summary at the end of memaudit run (and with --leak-check), and the
# sparkline of the live heap in the text report. Sourced by run.sh, whose
# helpers (ok, fail, first_line, status_words) and variables (TMP, BUILD,
# PROGS, LIB, MEMAUDIT, LIMIT) it uses. script(1) gives a command a terminal.

ESC=$(printf '\033')
CR=$(printf '\r')

# tty FILE CMD...: run the shell command line CMD on a pseudo-terminal, what
# the terminal shows into FILE (CI unset: the bar stays off under CI).
tty() {
    file=$1
    shift
    timeout "$LIMIT" env -u CI script -qec "$*" /dev/null >"$file" 2>&1 </dev/null
}

# term_has NAME FILE PATTERN...: every fixed string is in FILE (carriage
# returns taken out); says which one is not.
term_has() {
    name=$1
    file=$2
    shift 2
    for p in "$@"; do
        if ! tr -d '\r' <"$file" | grep -qF -- "$p"; then
            fail "$name" "no '$p' in $(basename "$file"): $(tr -d '\r' <"$file" | tr "$ESC" '^' | head -c 600 | tr '\n' '|')"
            return 1
        fi
    done
    return 0
}

# ---------------------------------------------------------------- progress bar
# loop 300000: 600000 event records, so the replay reports its progress 9
# times; MEMAUDIT_PROGRESS_AFTER_MS=0 draws it from the first report on.
if ! command -v script >/dev/null 2>&1; then
    echo "ok progress-tty # skipped: script(1) not installed"
else
    timeout "$LIMIT" env LD_PRELOAD="$LIB" MEMAUDIT_QUIET=1 MEMAUDIT_INTERVAL_MS=0 \
        MEMAUDIT_OUTPUT="$TMP/progress.trace" "$PROGS/loop" 300000 >/dev/null 2>"$TMP/progress.err"
    BIG=$TMP/progress.trace
    if [ ! -s "$BIG" ]; then
        fail progress-tty "no trace of loop 300000: $(first_line "$TMP/progress.err")"
    else
        # On a terminal: "replaying NAME [###---] NN%", then erased.
        tty "$TMP/progress.tty" "MEMAUDIT_PROGRESS_AFTER_MS=0 '$MEMAUDIT' report '$BIG' >/dev/null"
        if term_has progress-tty "$TMP/progress.tty" "memaudit: replaying progress.trace [#" "%${ESC}[K"; then
            # The last thing on the screen is the erasure.
            if [ "$(tail -c 4 "$TMP/progress.tty")" = "${CR}${ESC}[K" ]; then
                ok progress-tty
            else
                fail progress-tty "the bar was not erased at the end: $(tail -c 40 "$TMP/progress.tty" | tr "$ESC$CR" '^~')"
            fi
        fi
        # symbolize: the replay, then the symbolization of the stacks.
        tty "$TMP/progress-sym.tty" "MEMAUDIT_PROGRESS_AFTER_MS=0 '$MEMAUDIT' symbolize -o '$TMP/progress.profile' '$BIG'"
        term_has progress-symbolize "$TMP/progress-sym.tty" "memaudit: replaying progress.trace [" \
            "memaudit: symbolizing progress.profile [" \
            "${ESC}[Kmemaudit: profile: $TMP/progress.profile" && ok progress-symbolize
        # Not on a terminal: never, even with no delay.
        MEMAUDIT_PROGRESS_AFTER_MS=0 "$MEMAUDIT" report "$BIG" >/dev/null 2>"$TMP/progress.pipe"
        if [ -s "$TMP/progress.pipe" ]; then
            fail progress-pipe "stderr into a file is not empty: $(head -c 200 "$TMP/progress.pipe" | tr "$ESC$CR" '^~')"
        else
            ok progress-pipe
        fi
        # A terminal, but CI set (a CI log): never.
        timeout "$LIMIT" env CI=true script -qec "MEMAUDIT_PROGRESS_AFTER_MS=0 '$MEMAUDIT' report '$BIG' >/dev/null" /dev/null \
            >"$TMP/progress.ci" 2>&1 </dev/null
        if grep -q "replaying\|$ESC" "$TMP/progress.ci"; then
            fail progress-ci "a bar with CI set: $(head -c 200 "$TMP/progress.ci" | tr "$ESC$CR" '^~')"
        else
            ok progress-ci
        fi
        # A terminal, but short work (a tenth of a second, under the default
        # 0.5 s): nothing.
        tty "$TMP/progress.short" "'$MEMAUDIT' report --format json -o /dev/null '$BIG'"
        if [ -s "$TMP/progress.short" ]; then
            fail progress-short "a bar for a short replay: $(head -c 200 "$TMP/progress.short" | tr "$ESC$CR" '^~')"
        else
            ok progress-short
        fi
        # memaudit run: the bar while the profile is written, erased before
        # each line of the run's own; with a replay after the end (not
        # following the trace, which replays it while the program runs).
        tty "$TMP/progress-run.tty" "MEMAUDIT_FOLLOW=0 MEMAUDIT_PROGRESS_AFTER_MS=0 '$MEMAUDIT' run -q -o '$TMP/progress-run.d' -- '$PROGS/loop' 300000"
        term_has progress-run "$TMP/progress-run.tty" "${ESC}[Kmemaudit: profile: $TMP/progress-run.d/memaudit.loop." \
            "memaudit: replaying memaudit.loop." "memaudit: symbolizing memaudit.loop." && ok progress-run
    fi
fi

# ---------------------------------------------------------------- run summary
# summary NAME WANT RUN-ARGS...: memaudit run -o $TMP/NAME.d RUN-ARGS with
# stderr into $TMP/NAME.err; exit status WANT.
summary() {
    name=$1
    want=$2
    shift 2
    rm -rf "$TMP/$name.d"
    timeout "$LIMIT" "$MEMAUDIT" run -o "$TMP/$name.d" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
    st=$?
    if [ "$st" != "$want" ]; then
        fail "$name" "memaudit run: $(status_words $st), expected $(status_words "$want"): $(first_line "$TMP/$name.err")"
        return 1
    fi
    return 0
}

# row NAME PROGRAM: the summary's row of the one process of PROGRAM in
# $TMP/NAME.err, its pid (from its trace's name) checked; empty if none.
row() {
    pid=$(ls "$TMP/$1.d" | sed -n "s/^memaudit\.$2\.\([0-9]*\)\.trace$/\1/p" | head -n 1)
    [ -n "$pid" ] && grep -E "^ +$pid  " "$TMP/$1.err"
}

# growth (header of tests/progs/growth.c): 5000 bytes leaked in 41 blocks
# (4.9 KiB), 22065 allocations; its first finding is the pooling of
# make_node (19996 of 22065 allocations saved), before the growing leak.
if summary sum-growth 0 -- "$PROGS/growth"; then
    r=$(row sum-growth growth)
    if ! grep -q '^memaudit: summary of 1 process, worst first:$' "$TMP/sum-growth.err"; then
        fail sum-growth "no summary header: $(tr '\n' '|' <"$TMP/sum-growth.err" | head -c 600)"
    elif ! printf '%s\n' "$r" |
        grep -qE ' exit 0 +[0-9.]+ KiB +4\.9 KiB +41 +22065  growth: \[high\] pooling at make_node \(tests/progs/growth\.c:[0-9]+\)$'; then
        fail sum-growth "row not as expected: '$r'"
    elif [ "$(grep -n 'memaudit: summary' "$TMP/sum-growth.err" | cut -d: -f1)" -le "$(grep -n 'memaudit: report with' "$TMP/sum-growth.err" | cut -d: -f1)" ]; then
        fail sum-growth "the summary comes before the trace lines"
    else
        ok sum-growth
    fi
fi
# exitcode (header of tests/progs/exitcode.c): exit 3, peak 4400 bytes
# (4.3 KiB), 4000 leaked in 1 block (3.9 KiB), 4 allocations.
if summary sum-exitcode 3 -- "$PROGS/exitcode"; then
    r=$(row sum-exitcode exitcode)
    if printf '%s\n' "$r" |
        grep -qE ' exit 3 +4\.3 KiB +3\.9 KiB +1 +4  exitcode: \[high\] leak at leak_before_exit \(tests/progs/exitcode\.c:[0-9]+\)$'; then
        ok sum-exitcode
    else
        fail sum-exitcode "row not as expected: '$r' in $(tr '\n' '|' <"$TMP/sum-exitcode.err" | head -c 600)"
    fi
fi
# -q: no summary; the trace and profile lines stay.
if summary sum-quiet 3 -q -- "$PROGS/exitcode"; then
    if grep -q 'summary' "$TMP/sum-quiet.err" || ! grep -q '^memaudit: profile: ' "$TMP/sum-quiet.err"; then
        fail sum-quiet "with -q: $(tr '\n' '|' <"$TMP/sum-quiet.err" | head -c 600)"
    else
        ok sum-quiet
    fi
fi

# Worst first, ten rows, then "and N more": a shell running growth, 11 times
# exitcode and loop (and whatever processes the shell adds); growth leaked
# most (5000 bytes), then each exitcode (4000).
SUITE="'$PROGS/growth' >/dev/null;"
for i in 1 2 3 4 5 6 7 8 9 10 11; do SUITE="$SUITE '$PROGS/exitcode';"; done
SUITE="$SUITE '$PROGS/loop' 10"
if summary sum-many 0 -- sh -c "$SUITE"; then
    n=$(ls "$TMP/sum-many.d" | grep -c '\.trace$')
    rows=$(sed -n "/^memaudit: summary of $n processes, worst first:\$/,\$p" "$TMP/sum-many.err" | grep -cE '^ +[0-9]+  ')
    first=$(grep -E '^ +[0-9]+  ' "$TMP/sum-many.err" | head -n 2 | sed 's/.*  \([a-z]*\): .*/\1/' | tr '\n' ' ')
    if [ "$rows" = 10 ] && [ "$first" = "growth exitcode " ] &&
        grep -qF "and $((n - 10)) more: memaudit report --summary $TMP/sum-many.d" "$TMP/sum-many.err"; then
        ok sum-many
    else
        fail sum-many "$n processes: rows $rows (want 10), first '$first' (want growth exitcode): $(tr '\n' '|' <"$TMP/sum-many.err" | tail -c 600)"
    fi
    # With --leak-check: every process that leaked is in the summary (12 at
    # least, more than ten), the leak check adds only its verdict, and
    # growth's row names its leak rather than the pooling.
    if summary sum-leaks 23 --leak-check -- sh -c "$SUITE"; then
        leaking=$(sed -n 's/^memaudit: leak-check: \([0-9]*\) of [0-9]* processes leaked .*/\1/p' "$TMP/sum-leaks.err")
        rows=$(grep -cE '^ +[0-9]+  ' "$TMP/sum-leaks.err")
        if [ -z "$leaking" ] || [ "$rows" -lt "$leaking" ] || [ "$leaking" -lt 12 ]; then
            fail sum-leaks "$rows rows for $leaking leaking processes: $(tr '\n' '|' <"$TMP/sum-leaks.err" | tail -c 600)"
        elif grep -q 'leak-check: pid ' "$TMP/sum-leaks.err"; then
            fail sum-leaks "the leaks are listed twice (summary and leak-check lines)"
        elif ! grep -qE '  growth: \[high\] growing-leak at leak_step \(' "$TMP/sum-leaks.err"; then
            fail sum-leaks "growth's row does not name its leak: $(grep '  growth: ' "$TMP/sum-leaks.err")"
        else
            ok sum-leaks
        fi
    fi
    # ... and with -q, the leak check's own line per process.
    if summary sum-leaks-q 23 -q --leak-check -- sh -c "'$PROGS/exitcode'; '$PROGS/growth' >/dev/null"; then
        if grep -q 'summary' "$TMP/sum-leaks-q.err" ||
            ! grep -q '/growth): 5000 bytes leaked in 41 blocks; top site: leak_step (' "$TMP/sum-leaks-q.err"; then
            fail sum-leaks-q "$(tr '\n' '|' <"$TMP/sum-leaks-q.err" | tail -c 600)"
        else
            ok sum-leaks-q
        fi
    fi
fi

# ---------------------------------------------------------------- sparkline
# hold (header of tests/progs/hold.c): 50 MiB live for 300 ms, sampled
# every 2 ms; the highest sample's heap is exactly 52428800 bytes.
timeout "$LIMIT" env LD_PRELOAD="$LIB" MEMAUDIT_QUIET=1 MEMAUDIT_INTERVAL_MS=2 \
    MEMAUDIT_OUTPUT="$TMP/spark.trace" "$PROGS/hold" 2>"$TMP/spark.err"
timeout "$LIMIT" env LD_PRELOAD="$LIB" MEMAUDIT_QUIET=1 MEMAUDIT_INTERVAL_MS=0 \
    MEMAUDIT_OUTPUT="$TMP/nospark.trace" "$PROGS/hold" 2>>"$TMP/spark.err"
if [ ! -s "$TMP/spark.trace" ] || [ ! -s "$TMP/nospark.trace" ]; then
    fail sparkline "hold was not recorded: $(first_line "$TMP/spark.err")"
else
    LC_ALL=C.UTF-8 "$MEMAUDIT" report "$TMP/spark.trace" >"$TMP/spark.utf8" 2>&1
    LC_ALL=C "$MEMAUDIT" report "$TMP/spark.trace" >"$TMP/spark.ascii" 2>&1
    line=$(grep '^  heap over time  ' "$TMP/spark.utf8")
    # Directly under the memory line; 1 to 60 blocks, the highest level
    # reached; first, highest and last sample.
    blocks=$(printf '%s\n' "$line" | sed 's/^  heap over time *\([^ ]*\) (.*/\1/')
    nblocks=$(printf '%s' "$blocks" | LC_ALL=C.UTF-8 wc -m)
    if [ "$(grep -A1 '^  memory  ' "$TMP/spark.utf8" | tail -n 1)" != "$line" ]; then
        fail sparkline "no sparkline under the memory line: $(grep -A1 '^  memory' "$TMP/spark.utf8" | tr '\n' '|')"
    elif [ "$nblocks" -lt 1 ] || [ "$nblocks" -gt 60 ] ||
        [ -n "$(printf '%s' "$blocks" | LC_ALL=C.UTF-8 tr -d '▁▂▃▄▅▆▇█')" ] ||
        ! printf '%s' "$blocks" | grep -q '█'; then
        fail sparkline "not 1 to 60 block characters up to a full one: '$line'"
    elif ! printf '%s\n' "$line" | grep -qE ' \([0-9.]+ ([KM]i)?B → 50\.0 MiB → [0-9.]+ ([KM]i)?B\)$'; then
        fail sparkline "not (first → 50.0 MiB → last): '$line'"
    else
        ok sparkline
    fi
    # Not UTF-8: the same line in ASCII; nothing else of the report changes.
    ascii=$(grep '^  heap over time  ' "$TMP/spark.ascii")
    if ! printf '%s\n' "$ascii" | grep -qE '^  heap over time +[_.:=+*#-]{1,60} \([^()]+ -> 50\.0 MiB -> [^()]+\)$' ||
        [ "$(printf '%s' "$ascii" | sed 's/^  heap over time *\([^ ]*\) .*/\1/' | wc -c)" != "$nblocks" ] ||
        LC_ALL=C grep -q "$(printf '[\200-\377]')" "$TMP/spark.ascii" ||
        [ "$(grep -v '^  heap over time' "$TMP/spark.utf8")" != "$(grep -v '^  heap over time' "$TMP/spark.ascii")" ]; then
        fail sparkline-ascii "in the C locale: '$ascii'"
    else
        ok sparkline-ascii
    fi
    # JSON and Markdown do not change with the locale; no samples, no line.
    LC_ALL=C.UTF-8 "$MEMAUDIT" report --format json "$TMP/spark.trace" >"$TMP/spark.utf8.json"
    LC_ALL=C "$MEMAUDIT" report --format json "$TMP/spark.trace" >"$TMP/spark.c.json"
    LC_ALL=C.UTF-8 "$MEMAUDIT" report --format md "$TMP/spark.trace" >"$TMP/spark.utf8.md"
    LC_ALL=C "$MEMAUDIT" report --format md "$TMP/spark.trace" >"$TMP/spark.c.md"
    "$MEMAUDIT" report "$TMP/nospark.trace" >"$TMP/nospark.txt" 2>&1
    if ! cmp -s "$TMP/spark.utf8.json" "$TMP/spark.c.json" || ! cmp -s "$TMP/spark.utf8.md" "$TMP/spark.c.md"; then
        fail sparkline-locale "JSON or Markdown differ between C.UTF-8 and C"
    elif grep -q 'heap over time\|^  memory  ' "$TMP/nospark.txt" || ! grep -q '^  peak heap  ' "$TMP/nospark.txt"; then
        fail sparkline-locale "a trace without samples: $(grep -A1 'peak heap' "$TMP/nospark.txt" | tr '\n' '|')"
    else
        ok sparkline-locale
    fi
fi
