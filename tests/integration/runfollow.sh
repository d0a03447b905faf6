# runfollow.sh — `memaudit run` replays its command's trace while the command
# runs (reporter/cli.c, the follower; the reader's follow mode, the
# recorder's WATERMARK records). Sourced by run.sh, whose helpers (ok, fail,
# first_line, status_words) and variables (TMP, PROGS, MEMAUDIT, LIMIT) it
# uses.
#
# The profile `memaudit run` writes from the followed replay must be the
# profile `memaudit symbolize` writes from the finished trace, byte for byte,
# for programs of every kind: threads, reallocs, phases, errors, signals,
# exec. MEMAUDIT_FOLLOW=1 makes the run follow even on one CPU and say how
# many of the trace's events it had replayed when the program ended; a
# period of 2 ms gives the recorder's flusher many watermarks to write.
# The long loop must have been replayed in good part while it ran (else
# the follower only ever replayed after the end, and the comparison proves
# little), and a fallback to the replay after the end is a failure here.

# follow_case NAME STATUS PROGRAM [ARGS...]
follow_case() {
    fw_name=$1
    fw_want=$2
    shift 2
    fw_dir=$TMP/$fw_name.dir
    MEMAUDIT_FOLLOW=1 MEMAUDIT_INTERVAL_MS=2 timeout "$LIMIT" "$MEMAUDIT" run -o "$fw_dir" -- "$@" \
        >"$TMP/$fw_name.out" 2>"$TMP/$fw_name.err"
    fw_st=$?
    if [ "$fw_st" != "$fw_want" ]; then
        fail "$fw_name" "memaudit run: $(status_words $fw_st), expected $(status_words "$fw_want") (stderr: $(first_line "$TMP/$fw_name.err"))"
        return 1
    fi
    fw_line=$(grep '^memaudit: followed ' "$TMP/$fw_name.err")
    case $fw_line in
    *"while the program ran"*) ;;
    *)
        fail "$fw_name" "the run did not follow its trace: $(grep -m1 'follow' "$TMP/$fw_name.err")"
        return 1
        ;;
    esac
    for fw_trace in "$fw_dir"/*.trace; do
        fw_prof=${fw_trace%.trace}.profile
        if [ ! -s "$fw_prof" ]; then
            fail "$fw_name" "no profile beside $fw_trace"
            return 1
        fi
        if ! "$MEMAUDIT" symbolize -o "$TMP/$fw_name.after.profile" "$fw_trace" \
            2>"$TMP/$fw_name.sym.err"; then
            fail "$fw_name" "memaudit symbolize: $(first_line "$TMP/$fw_name.sym.err")"
            return 1
        fi
        if ! cmp -s "$fw_prof" "$TMP/$fw_name.after.profile"; then
            fail "$fw_name" "the followed profile differs from the finished trace's: $(diff "$fw_prof" "$TMP/$fw_name.after.profile" | head -4 | tr '\n' ' ')"
            return 1
        fi
    done
    return 0
}

for fw_case in "loop 0 loop 600000" "threads 0 threads" "handoff 0 handoff 2 2 20000" \
    "realloc 0 realloc_chain" "phases 0 phases" "growth 0 growth" "peak 0 peak" \
    "temporaries 0 temporaries" "memerr 134 memerr double" "leaks 0 leaks" \
    "threads200 0 threads200" "thread_exit 0 thread_exit pexit" "exit 3 exitcode" \
    "abort 134 exitcode abort" "sigalloc 0 sigalloc" "cxx 0 cxx_new" "exec 4 exec execv" \
    "spawn 4 exec posix_spawn" "phasefirst 0 phasefirst" "longjmp 0 longjmp timer alrm 20000" \
    "longjmp-rt 0 longjmp timer rt 20000" "longjmp-abort 0 longjmp abort 50" \
    "longjmp-fault 0 longjmp fault 50"; do
    # shellcheck disable=SC2086 # a case is words on purpose
    set -- $fw_case
    fw_case_name=follow-$1
    fw_case_want=$2
    fw_prog=$3
    shift 3
    if follow_case "$fw_case_name" "$fw_case_want" "$PROGS/$fw_prog" "$@"; then
        ok "$fw_case_name"
    fi
done

# The loop runs long enough (~0.2 s under the recorder) for the follower to
# have replayed events while it ran, not only after.
fw_n=$(sed -n 's/^memaudit: followed .*: \([0-9]*\) of [0-9]* events replayed while the program ran$/\1/p' "$TMP/follow-loop.err")
if [ -n "$fw_n" ] && [ "$fw_n" -gt 0 ]; then
    ok follow-overlap
else
    fail follow-overlap "no event of the loop was replayed while it ran: $(grep '^memaudit: followed' "$TMP/follow-loop.err")"
fi

# While following, the symbol files of the program's modules are opened
# ahead (sym_warm.h), here most likely the library's copy before the
# program deletes it: the profile must still be the finished trace's,
# which names the recorder's saved functions, with the one warning.
if follow_case follow-deleted 0 "$PROGS/dldeleted" "$PROGS/libdeleted.so" late 300; then
    fw_n=$(grep -c '^memaudit: warning: .*memaudit-dldeleted.*: No such file or directory; using the 1 exported functions' "$TMP/follow-deleted.err")
    if [ "$fw_n" = 1 ]; then
        ok follow-deleted
    else
        fail follow-deleted "$fw_n warnings about the deleted library, expected 1: $(grep -c 'warning' "$TMP/follow-deleted.err") in all"
    fi
fi

# exec replaces the image: the root process leaves two traces, and the
# follower follows the second once the first is whole.
fw_n=$(grep -c '^memaudit: followed .* events replayed while the program ran$' "$TMP/follow-exec.err")
if [ "$fw_n" = 2 ]; then
    ok follow-exec-images
else
    fail follow-exec-images "$fw_n traces followed, expected the 2 images': $(grep '^memaudit: followed' "$TMP/follow-exec.err" | tr '\n' ' ')"
fi
