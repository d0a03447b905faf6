# Phases, duplicate content and memory errors (issue 5): sourced by run.sh,
# which defines record, report, expect, ok, fail, $TMP, $PROGS, $MEMAUDIT.

# ---------------------------------------------------------------- phases.c
# Exact per-phase figures (the program's header comment derives them).
if record phases 0 "$PROGS/phases"; then
    expect phases phases \
        process.complete=true summary.unmatched_frees=0 '#phases=3' \
        'phases[0].name=parse' 'phases[1].name=analyse' 'phases[2].name=report' \
        'phases[name:parse].marks=1' 'phases[name:parse].allocations=100' \
        'phases[name:parse].frees=40' 'phases[name:parse].bytes_allocated=6400' \
        'phases[name:parse].bytes_freed=2560' 'phases[name:parse].temporary_allocations=0' \
        'phases[name:parse].heap_bytes_at_start=0' \
        'phases[name:parse].peak_heap_bytes=6400' 'phases[name:parse].peak_blocks=100' \
        'phases[name:parse].live_at_end_bytes=640' 'phases[name:parse].live_at_end_blocks=10' \
        'phases[name:parse].top_sites[0].allocations=100' \
        'phases[name:parse].top_sites[0].stack[0].function=parse_step' \
        'phases[name:parse].duration_ns>0' 'phases[name:parse].allocation_rate_per_s>0' \
        'phases[name:analyse].allocations=40' 'phases[name:analyse].frees=40' \
        'phases[name:analyse].bytes_allocated=60000' 'phases[name:analyse].reallocs=20' \
        'phases[name:analyse].heap_bytes_at_start=3840' \
        'phases[name:analyse].peak_heap_bytes=43840' 'phases[name:analyse].live_at_end_blocks=0' \
        '#phases[name:analyse].top_sites=2' \
        'phases[name:report].allocations=31' 'phases[name:report].frees=80' \
        'phases[name:report].bytes_allocated=5480' \
        'phases[name:report].temporary_allocations=30' \
        'phases[name:report].peak_heap_bytes=8856' \
        'phases[name:report].live_at_end_bytes=5000' 'phases[name:report].live_at_end_blocks=1' \
        'phases[name:report].top_sites[0].stack[0].function=report_scratch' \
        'phases[name:report].top_sites[1].stack[0].function=report_keep' \
        'phases[*].failed_allocations=0'
    # Without the preload memaudit_phase is a no-op: same output, same status.
    native_out=$(timeout "$LIMIT" "$PROGS/phases" 2>&1)
    st=$?
    if [ $st -eq 0 ] && [ "$native_out" = "$(cat "$TMP/phases.out")" ] &&
        [ "$native_out" = "phases: done (ok)" ]; then
        ok phases-native
    else
        fail phases-native "without the preload: $(status_words $st), output '$native_out' (under the recorder: '$(cat "$TMP/phases.out")')"
    fi
    # Figures per unit of work, in JSON, text and Markdown.
    if "$MEMAUDIT" report --format json --work 4 --unit file "$TMP/phases.trace" \
        >"$TMP/phases-work.json" 2>"$TMP/phases-work.err"; then
        expect phases-work phases-work \
            'summary.per_unit.unit=file' 'summary.per_unit.work=4' \
            'phases[name:parse].per_unit.allocations=25' \
            'phases[name:analyse].per_unit.bytes_allocated=15000' \
            'phases[name:report].per_unit.frees=20'
    else
        fail phases-work "report --work: $(first_line "$TMP/phases-work.err")"
    fi
    "$MEMAUDIT" report --work 4 --unit file "$TMP/phases.trace" >"$TMP/phases.txt" 2>&1
    "$MEMAUDIT" report --format md --work 4 --unit file "$TMP/phases.trace" >"$TMP/phases.md" 2>&1
    missing=
    for want in 'Phases (3)' '  parse                 100 allocations (6.2 KiB), 40 frees' \
        'busiest site: 100 allocations at parse_step (' 'Per file (the run did 4)' \
        '  allocations           43.00 per file'; do
        grep -qF -- "$want" "$TMP/phases.txt" || missing="$missing [text: $want]"
    done
    for want in '### Per Phase' '| `parse` |' '| 100 | 6.2 KiB | 40 | 0 | 6.2 KiB | 640 B in 10 blocks |' \
        '| `report` |' '| 31 | 5.4 KiB | 80 | 30 | 8.6 KiB |' '### Per Unit of Work' '| allocations | 43.00 |'; do
        grep -qF -- "$want" "$TMP/phases.md" || missing="$missing [md: $want]"
    done
    if [ -z "$missing" ]; then ok phases-text-md; else fail phases-text-md "missing:$missing"; fi
    # The profile carries the phases: the same JSON as from the trace.
    if "$MEMAUDIT" symbolize -o "$TMP/phases.profile" "$TMP/phases.trace" 2>/dev/null &&
        "$MEMAUDIT" report --format json "$TMP/phases.profile" >"$TMP/phases-prof.json" 2>/dev/null &&
        grep -v trace_bytes "$TMP/phases.json" >"$TMP/phases-a.json" &&
        grep -v trace_bytes "$TMP/phases-prof.json" >"$TMP/phases-b.json" &&
        diff "$TMP/phases-a.json" "$TMP/phases-b.json" >"$TMP/phases-prof.diff" 2>&1; then
        ok phases-profile
    else
        fail phases-profile "the profile's report differs from the trace's: $(sed -n 1,6p "$TMP/phases-prof.diff" | tr '\n' ' ')"
    fi
    # --unit alone is a usage error.
    "$MEMAUDIT" report --unit file "$TMP/phases.trace" >/dev/null 2>&1
    if [ $? -eq 2 ]; then ok phases-unit-alone; else fail phases-unit-alone "--unit without --work was accepted"; fi
fi

# ---------------------------------------------------------------- dups.c
# 1000 strdup's of 10 strings at one site: 10 distinct values, 990 duplicates.
export MEMAUDIT_CONTENT=1
if record dups 0 "$PROGS/dups"; then
    expect dups dups \
        process.complete=true summary.unmatched_frees=0 summary.allocations=1100 \
        summary.content_hashing=true summary.content_hashed_blocks=1100 \
        summary.content_duplicate_blocks=990 \
        'hotspots[0].stack[1].function=copy_name' 'hotspots[0].content_hashed=1000' \
        'hotspots[0].content_distinct=10' 'hotspots[0].content_duplicates=990' \
        'hotspots[0].content_capped=false' \
        'hotspots[1].stack[0].function=unique_block' 'hotspots[1].content_hashed=100' \
        'hotspots[1].content_distinct=100' 'hotspots[1].content_duplicates=0' \
        'any(findings[*].kind)=duplicates' \
        'findings[kind:duplicates].saved_allocations=990' \
        'findings[kind:duplicates].stack[1].function=copy_name' \
        'findings[kind:duplicates].description~1000 blocks freed here held only 10 distinct values' \
        'findings[kind:duplicates].advice~saves ~990 allocations'
    if "$MEMAUDIT" report --format md "$TMP/dups.trace" 2>/dev/null |
        grep -qF 'Interning candidate (duplicate content)'; then
        ok dups-md
    else
        fail dups-md "no interning candidate in the Markdown report"
    fi
fi
unset MEMAUDIT_CONTENT
# Off by default: no hashes in the trace, no figures, no finding.
if record dups-off 0 "$PROGS/dups"; then
    expect dups-off dups-off \
        summary.allocations=1100 summary.content_hashing=false \
        summary.content_hashed_blocks=0 summary.content_duplicate_blocks=0 \
        'hotspots[*].content_hashed=0' 'hotspots[*].content_distinct=0' \
        'findings[*].kind!=duplicates'
fi
# memaudit run --content does the same as MEMAUDIT_CONTENT=1.
rm -rf "$TMP/dups-run.dir"
if timeout "$LIMIT" "$MEMAUDIT" run --content -o "$TMP/dups-run.dir" -- "$PROGS/dups" \
    >/dev/null 2>"$TMP/dups-run.err" && report dups-run "$TMP"/dups-run.dir/*.trace; then
    expect dups-run dups-run summary.content_hashing=true summary.content_duplicate_blocks=990
else
    fail dups-run "memaudit run --content: $(first_line "$TMP/dups-run.err") $why"
fi

# ---------------------------------------------------------------- memerr.c
# Memory errors, each with the stack that allocated the block. glibc aborts
# on the double free: the trace survives (the recorder flushes on SIGABRT).
if record memerr-double 134 "$PROGS/memerr" double; then
    expect memerr-double memerr-double \
        process.complete=true process.signal=6 safety.status='NEEDS ATTENTION' \
        safety.unmatched_frees=1 safety.double_frees=1 safety.invalid_frees=0 \
        safety.freed_reallocs=0 '#safety.errors=1' 'safety.errors[0].kind=double-free' \
        'safety.errors[0].size=64' 'safety.errors[0].stack[0].function=make_block' \
        '#safety.errors[0].free_stack=0' '#safety.errors[0].call_stack=0'
fi
export MEMAUDIT_FREE_STACKS=1
if record memerr-double-stacks 134 "$PROGS/memerr" double; then
    expect memerr-double-stacks memerr-double-stacks \
        safety.double_frees=1 'safety.errors[0].kind=double-free' \
        'safety.errors[0].stack[0].function=make_block' \
        'safety.errors[0].free_stack[0].function=release' \
        'safety.errors[0].call_stack[0].function=release_again'
    if "$MEMAUDIT" report "$TMP/memerr-double-stacks.trace" 2>/dev/null |
        grep -q '^  #1  double-free of 0x[0-9a-f]* at .*(a block of 64 bytes, freed at'; then
        ok memerr-double-text
    else
        fail memerr-double-text "no double-free line in the text report"
    fi
fi
unset MEMAUDIT_FREE_STACKS
# glibc may accept the fake mmapped chunk (exit 0) or reject it (SIGABRT).
timeout "$LIMIT" env LD_PRELOAD="$LIB" MEMAUDIT_OUTPUT="$TMP/memerr-invalid.trace" \
    "$PROGS/memerr" invalid >/dev/null 2>&1
st=$?
if [ "$st" != 0 ] && [ "$st" != 134 ]; then
    fail memerr-invalid "$(status_words $st), expected 0 or SIGABRT"
elif report memerr-invalid "$TMP/memerr-invalid.trace"; then
    expect memerr-invalid memerr-invalid \
        safety.unmatched_frees=1 safety.invalid_frees=1 safety.double_frees=0 \
        'safety.errors[0].kind=invalid-free' '#safety.errors[0].stack=0' 'safety.errors[0].size=0'
else
    fail memerr-invalid "$why"
fi
if record memerr-realloc 0 "$PROGS/memerr" realloc; then
    expect memerr-realloc memerr-realloc \
        safety.unmatched_frees=1 safety.freed_reallocs=1 safety.double_frees=0 \
        safety.invalid_frees=0 'safety.errors[0].kind=freed-realloc' \
        'safety.errors[0].stack[0].function=make_block' \
        'safety.errors[0].call_stack[0].function=resize'
fi

# ---------------------------------------------------------------- check --phase
# Budgets per phase, on the figures above: analyse peaks at 43840 B, report
# leaves 5000 B in 1 block, parse makes 100 allocations.
if [ -s "$TMP/phases.trace" ]; then
    timeout "$LIMIT" "$MEMAUDIT" check --phase analyse --max-peak 43840 --max-allocations 40 \
        "$TMP/phases.trace" >"$TMP/phase-ok.out" 2>"$TMP/phase-ok.err"
    st=$?
    if [ $st -eq 0 ]; then
        ok check-phase-within
    else
        fail check-phase-within "exit $st: $(first_line "$TMP/phase-ok.out") $(first_line "$TMP/phase-ok.err")"
    fi
    timeout "$LIMIT" "$MEMAUDIT" check --phase report --max-leaked-blocks 0 --max-temporary 29 \
        "$TMP/phases.trace" >"$TMP/phase-over.out" 2>"$TMP/phase-over.err"
    st=$?
    if [ $st -eq 3 ] && [ "$(grep -c exceeds "$TMP/phase-over.out")" -eq 2 ] &&
        grep -q ", phase report: leaked blocks 1 exceeds the budget 0 (top site: report_scratch (" "$TMP/phase-over.out" &&
        grep -q ", phase report: temporary allocations 30 exceeds the budget 29" "$TMP/phase-over.out"; then
        ok check-phase-over
    else
        fail check-phase-over "exit $st: $(tr '\n' '|' <"$TMP/phase-over.out")"
    fi
    # Growth against the same run's phase: none; a missing phase is an error.
    timeout "$LIMIT" "$MEMAUDIT" check --phase parse --baseline "$TMP/phases.trace" --max-growth 0 \
        "$TMP/phases.trace" >"$TMP/phase-base.out" 2>&1
    st1=$?
    timeout "$LIMIT" "$MEMAUDIT" check --phase nosuch --max-peak 1 "$TMP/phases.trace" \
        >"$TMP/phase-missing.out" 2>&1
    st2=$?
    if [ $st1 -eq 0 ] && [ $st2 -eq 1 ] && grep -q "no phase 'nosuch' in this run" "$TMP/phase-missing.out"; then
        ok check-phase-baseline
    else
        fail check-phase-baseline "exits $st1 and $st2: $(tr '\n' '|' <"$TMP/phase-missing.out")"
    fi
fi
