# follow.sh — the trace reader's follow mode (trd_open_follow, follow-spec.md
# part 2) on real traces. Sourced by run.sh, whose helpers (ok, fail) and
# variables (TMP, BUILD, PROGS, LIB, LIMIT) it uses.
#
# tests/tools/follow.c follows a trace while its multi-threaded program runs
# (looking every 5 ms), or while a finished trace is copied into a new file a
# few blocks' worth at a time; either way the events handed out (every
# field, in order) and the accessors after the end must equal trd_open()'s
# replay of the finished file. Recorded with a 1 ms interval, so that the
# recorder's background thread writes many watermarks, plainly and compressed.

FOLLOW=$BUILD/tools/follow

# follow_case NAME [live] ENV... -- PROG ARGS...: run PROG under the
# recorder with ENV, following its trace; then follow a copy of the finished
# trace. With live, some events must have come out while PROG ran.
follow_case() {
    fc_name=$1
    fc_live=
    shift
    if [ "$1" = live ]; then
        fc_live=1
        shift
    fi
    fc_env=
    while [ "$1" != -- ]; do
        fc_env="$fc_env $1"
        shift
    done
    shift
    rm -f "$TMP/$fc_name.trace" "$TMP/$fc_name.copy.trace"
    # shellcheck disable=SC2086 # the environment, word by word
    if ! timeout "$LIMIT" env $fc_env "$FOLLOW" run "$LIB" "$TMP/$fc_name.trace" "$@" \
        >"$TMP/$fc_name.follow" 2>&1; then
        fail "$fc_name" "following it as it ran: $(tail -n 1 "$TMP/$fc_name.follow")"
        return
    fi
    if ! timeout "$LIMIT" "$FOLLOW" copy "$TMP/$fc_name.trace" "$TMP/$fc_name.copy.trace" \
        >"$TMP/$fc_name.copy" 2>&1; then
        fail "$fc_name" "following a copy: $(tail -n 1 "$TMP/$fc_name.copy")"
        return
    fi
    if [ -n "$fc_live" ] && grep -q '(0 before the end)' "$TMP/$fc_name.follow"; then
        fail "$fc_name" "no event came out while it ran: $(tail -n 1 "$TMP/$fc_name.follow")"
        return
    fi
    ok "$fc_name"
}

# handoff 2 2 1000000: 4 threads for about 0.25 s, watermarks every 1 ms.
follow_case follow-handoff live MEMAUDIT_INTERVAL_MS=1 -- "$PROGS/handoff" 2 2 1000000
follow_case follow-handoff-zstd live MEMAUDIT_INTERVAL_MS=1 MEMAUDIT_COMPRESS=1 -- \
    "$PROGS/handoff" 2 2 1000000
follow_case follow-threads MEMAUDIT_INTERVAL_MS=1 -- "$PROGS/threads"
follow_case follow-phases MEMAUDIT_INTERVAL_MS=1 -- "$PROGS/phases"
follow_case follow-realloc MEMAUDIT_INTERVAL_MS=1 -- "$PROGS/realloc_chain"
