# symbolizer.sh — integration cases of the symbolizer, profiles and hostile
# input (issue 4). Sourced by run.sh, in its own section just before the
# summary line: it uses run.sh's helpers (record, report, expect, ok, fail)
# and variables (BUILD, TMP, MEMAUDIT, LIB, JCHECK, LIMIT, HERE).

# ---------------------------------------------------------------- fuzz regressions
# Inputs that once made a reader crash or misbehave (found by `make fuzz`,
# tests/fuzz/TARGET/): `memaudit report` answers each with a report (exit 0) or
# a one-line "memaudit: FILE: reason" (exit 1), never a crash or a hang.
for f in "$HERE"/../fuzz/trace/* "$HERE"/../fuzz/profile/*; do
    [ -f "$f" ] || continue
    name=fuzz-$(basename "$(dirname "$f")")-$(basename "$f")
    timeout "$LIMIT" "$MEMAUDIT" report "$f" >"$TMP/$name.out" 2>"$TMP/$name.err"
    st=$?
    lines=$(wc -l <"$TMP/$name.err")
    if [ $st -gt 1 ]; then
        fail "$name" "memaudit report: $(status_words $st): $(first_line "$TMP/$name.err")"
    elif [ $st -eq 1 ] && { [ "$lines" -ne 1 ] || ! grep -q "^memaudit: $f: " "$TMP/$name.err"; }; then
        fail "$name" "expected one line 'memaudit: $f: reason', got: $(head -c 300 "$TMP/$name.err")"
    else
        ok "$name"
    fi
done

# ---------------------------------------------------------------- frames
# tests/symbolizer/: programs built here with the system compilers, so that a
# case can strip, split or rebuild them. Lines expected in a stack are found by
# the "LINE:name" markers in their sources.
SYMSRC=$HERE/../symbolizer
SYM=$TMP/sym
mkdir -p "$SYM"

sym_line() {
    grep -n "LINE:$2\( \|\$\)" "$SYMSRC/$1" | head -n 1 | cut -d: -f1
}

# sym_build NAME CC_ARGS...: compile into $SYM/NAME; on failure, fail NAME.
sym_build() {
    name=$1
    shift
    if ! "$@" >"$SYM/$name.build" 2>&1; then
        fail "$name" "cannot build: $* ($(first_line "$SYM/$name.build"))"
        return 1
    fi
    return 0
}

# sym_record NAME PROGRAM [ARGS...]: record into $SYM/NAME.trace (exit 0 expected).
sym_record() {
    name=$1
    shift
    timeout "$LIMIT" env LD_PRELOAD="$LIB" MEMAUDIT_QUIET=1 MEMAUDIT_OUTPUT="$SYM/$name.trace" \
        "$@" >"$SYM/$name.out" 2>"$SYM/$name.err"
    st=$?
    if [ $st -ne 0 ] || [ ! -s "$SYM/$name.trace" ]; then
        fail "$name" "recording $*: $(status_words $st) ($(first_line "$SYM/$name.err"))"
        return 1
    fi
    return 0
}

# sym_report NAME [REPORT_OPTIONS...]: $SYM/NAME.trace -> $TMP/NAME.json, stderr in $SYM/NAME.rerr.
sym_report() {
    name=$1
    shift
    timeout "$LIMIT" "$MEMAUDIT" report --format json "$@" "$SYM/$name.trace" \
        >"$TMP/$name.json" 2>"$SYM/$name.rerr"
    st=$?
    if [ $st -ne 0 ]; then
        fail "$name" "memaudit report: $(status_words $st): $(first_line "$SYM/$name.rerr")"
        return 1
    fi
    return 0
}

P=symprog.c
L_STRDUP=$(sym_line $P sym_strdup)
L_LEAF=$(sym_line $P inl_leaf)
L_MID=$(sym_line $P inl_mid)
L_INL=$(sym_line $P sym_inlined)
L_PLAIN=$(sym_line $P sym_plain)
L_LIB=$(sym_line symlib.c symlib)

# Full debug info, -O2: glibc's own frame (from libc6-dbg, found by build id
# under /usr/lib/debug/.build-id) with file and line; an inline chain of two
# levels, each level with its call line; return addresses adjusted to the line
# of the call; libraries dlopen'ed, called and dlclose'd before exit.
if sym_build sym-libs cc -g -O1 -shared -fPIC -DSYMLIB_NAME=lib_a_alloc -o "$SYM/libsyma.so" \
    "$SYMSRC/symlib.c" &&
    sym_build sym-libs cc -g -O1 -shared -fPIC -DSYMLIB_NAME=lib_b_alloc -o "$SYM/libsymb.so" \
        "$SYMSRC/symlib.c" &&
    sym_build symprog cc -g -O2 -o "$SYM/symprog" "$SYMSRC/$P" -ldl &&
    sym_record symprog "$SYM/symprog" "$SYM/libsyma.so" "$SYM/libsymb.so" &&
    sym_report symprog; then
    expect sym-glibc-frame symprog \
        'leaks[-1].bytes=31' 'leaks[-1].stack[0].function~strdup' \
        'leaks[-1].stack[0].file~strdup.c' 'leaks[-1].stack[0].line>0' \
        'leaks[-1].stack[0].module~libc.so' 'leaks[-1].stack[0].inlined=false' \
        'leaks[-1].stack[1].function=sym_strdup' "leaks[-1].stack[1].line=$L_STRDUP"
    expect sym-inline-chain symprog \
        'leaks[-2].bytes=100' \
        'leaks[-2].stack[0].function=inl_leaf' "leaks[-2].stack[0].line=$L_LEAF" \
        'leaks[-2].stack[0].inlined=true' 'leaks[-2].stack[0].file~symprog.c' \
        'leaks[-2].stack[1].function=inl_mid' "leaks[-2].stack[1].line=$L_MID" \
        'leaks[-2].stack[1].inlined=true' \
        'leaks[-2].stack[2].function=sym_inlined' "leaks[-2].stack[2].line=$L_INL" \
        'leaks[-2].stack[2].inlined=false' 'leaks[-2].stack[3].function=main'
    expect sym-return-address symprog \
        'leaks[-3].bytes=200' 'leaks[-3].stack[0].function=sym_plain' \
        "leaks[-3].stack[0].line=$L_PLAIN" 'leaks[-3].stack[0].raw_name=sym_plain'
    expect sym-dlclose symprog \
        'leaks[0].bytes=302' 'leaks[0].stack[0].function=lib_b_alloc' \
        "leaks[0].stack[0].line=$L_LIB" 'leaks[0].stack[0].module~libsymb.so' \
        'leaks[0].stack[1].function=sym_lib_leak' \
        'leaks[1].bytes=301' 'leaks[1].stack[0].function=lib_a_alloc' \
        'leaks[1].stack[0].module~libsyma.so'
fi

# Not PIE: the executable at its link-time addresses.
if sym_build sym-nopie cc -g -O2 -no-pie -o "$SYM/symprog-nopie" "$SYMSRC/$P" -ldl &&
    sym_record sym-nopie "$SYM/symprog-nopie" && sym_report sym-nopie; then
    expect sym-nopie sym-nopie \
        'leaks[0].stack[0].function=sym_plain' "leaks[0].stack[0].line=$L_PLAIN" \
        'leaks[1].stack[2].function=sym_inlined'
fi

# Stripped: without DWARF, names come from .symtab (strip --strip-debug), or
# from .dynsym alone (strip --strip-all of a -rdynamic build); no file, no line.
if sym_build sym-stripped cp "$SYM/symprog" "$SYM/symprog-nodebug" &&
    sym_build sym-stripped strip --strip-debug "$SYM/symprog-nodebug" &&
    sym_record sym-stripped "$SYM/symprog-nodebug" && sym_report sym-stripped; then
    expect sym-stripped sym-stripped \
        'leaks[0].stack[0].function=sym_plain' 'leaks[0].stack[0].file=null' \
        'leaks[0].stack[0].line=0' 'leaks[1].stack[0].function=sym_inlined' \
        'leaks[2].stack[0].file~strdup.c' 'leaks[2].stack[1].function=sym_strdup'
fi
if sym_build sym-dynsym cc -g -O2 -rdynamic -o "$SYM/symprog-dynsym" "$SYMSRC/$P" -ldl &&
    sym_build sym-dynsym strip --strip-all "$SYM/symprog-dynsym" &&
    sym_record sym-dynsym "$SYM/symprog-dynsym" && sym_report sym-dynsym; then
    expect sym-dynsym sym-dynsym \
        'leaks[0].stack[0].function=sym_plain' 'leaks[0].stack[0].file=null' \
        'leaks[0].stack[0].module~symprog-dynsym' 'leaks[2].stack[1].function=sym_strdup'
fi

# Debug info split off and found through .gnu_debuglink.
if sym_build sym-debuglink cp "$SYM/symprog" "$SYM/symprog-split" &&
    sym_build sym-debuglink objcopy --only-keep-debug "$SYM/symprog-split" "$SYM/symprog-split.debug" &&
    sym_build sym-debuglink strip --strip-debug "$SYM/symprog-split" &&
    sym_build sym-debuglink objcopy --add-gnu-debuglink="$SYM/symprog-split.debug" "$SYM/symprog-split" &&
    sym_record sym-debuglink "$SYM/symprog-split" && sym_report sym-debuglink; then
    expect sym-debuglink sym-debuglink \
        'leaks[0].stack[0].function=sym_plain' "leaks[0].stack[0].line=$L_PLAIN" \
        'leaks[0].stack[0].file~symprog.c' 'leaks[1].stack[0].function=inl_leaf' \
        'leaks[1].stack[0].inlined=true'
fi

# Rebuilt after recording: the build id differs, so no name at all rather than
# wrong ones: module+offset, and one warning for the module however many of
# its frames are shown.
if sym_build sym-rebuilt cc -g -O2 -o "$SYM/symprog-rebuilt" "$SYMSRC/$P" -ldl &&
    sym_record sym-rebuilt "$SYM/symprog-rebuilt" &&
    sym_build sym-rebuilt cc -g -O0 -o "$SYM/symprog-rebuilt" "$SYMSRC/$P" -ldl &&
    sym_report sym-rebuilt; then
    warnings=$(grep -c 'symprog-rebuilt was rebuilt since recording' "$SYM/sym-rebuilt.rerr")
    if [ "$warnings" != 1 ]; then
        fail sym-rebuilt-warning "expected one warning about the rebuilt binary, got $warnings: $(head -c 300 "$SYM/sym-rebuilt.rerr")"
    else
        ok sym-rebuilt-warning
    fi
    expect sym-rebuilt sym-rebuilt \
        'leaks[0].bytes=200' 'leaks[0].stack[0].function=null' 'leaks[0].stack[0].file=null' \
        'leaks[0].stack[0].module~symprog-rebuilt' 'leaks[0].stack[0].offset>0' \
        'leaks[*].stack[1].function=null' 'leaks[2].stack[0].function~strdup'
fi

# C++: demangled names (the raw one kept), operator new and std::vector's
# growth folded away, and shown again with --all-frames.
if ! command -v c++ >/dev/null 2>&1; then
    echo "ok sym-cxx # skipped: no C++ compiler (c++) installed"
elif sym_build sym-cxx c++ -g -O1 -o "$SYM/symcxx" "$SYMSRC/symcxx.cpp" &&
    sym_record sym-cxx "$SYM/symcxx" && sym_report sym-cxx &&
    cp "$TMP/sym-cxx.json" "$TMP/sym-cxx-folded.json" && sym_report sym-cxx --all-frames; then
    C=symcxx.cpp
    expect sym-cxx sym-cxx-folded \
        'any(leaks[*].stack[0].function)=shapes::Widget::make(int)' \
        'any(leaks[*].stack[0].raw_name)=_ZN6shapes6Widget4makeEi' \
        "any(leaks[*].stack[0].line)=$(sym_line $C make)" \
        'any(leaks[*].stack[0].function)=double* shapes::make_array<double>(unsigned long)' \
        'any(leaks[*].stack[1].function)=grow_vector()' \
        "any(leaks[*].stack[1].line)=$(sym_line $C push_back)" \
        'leaks[0].stack[0].function~::push_back(' \
        'leaks[*].stack[0].function!~operator new' 'leaks[*].stack[0].function!~_M_realloc_insert'
    expect sym-cxx-all-frames sym-cxx \
        'leaks[*].stack[0].function~operator new' 'leaks[*].stack[0].raw_name~_Znwm'
fi

# Rust: legacy and v0 manglings demangled, the allocator layers and RawVec's
# growth helpers folded away. Rust is optional: skipped without rustc.
if ! command -v rustc >/dev/null 2>&1; then
    echo "ok sym-rust # skipped: rustc not installed (apt-get install rustc)"
else
    R=symrust.rs
    for mangling in legacy v0; do
        name=sym-rust-$mangling
        # Stable rustc mangles the legacy way unless told v0 (and refuses
        # to be told "legacy" without -Z unstable-options).
        flags=$([ $mangling = v0 ] && echo "-C symbol-mangling-version=v0")
        # shellcheck disable=SC2086 # $flags: zero or two words
        if sym_build "$name" rustc -g -C opt-level=0 $flags \
            -o "$SYM/symrust-$mangling" "$SYMSRC/$R" &&
            sym_record "$name" "$SYM/symrust-$mangling" && sym_report "$name"; then
            prefix=$([ $mangling = v0 ] && echo _R || echo _ZN)
            expect "$name" "$name" \
                'any(leaks[*].stack[1].function)=symrust::shapes::make_widget' \
                "any(leaks[*].stack[1].line)=$(sym_line $R make_widget)" \
                "any(leaks[*].stack[1].raw_name)~$prefix" \
                'any(leaks[*].stack[0].function)~Vec<' \
                'any(leaks[*].stack[2].function)=symrust::grow_vector' \
                "any(leaks[*].stack[2].line)=$(sym_line $R push)" \
                'leaks[*].stack[0].function!~alloc::alloc::' \
                'leaks[*].stack[0].function!~raw_vec' \
                'leaks[*].stack[0].function!~__rust'
        fi
    done
fi

# ---------------------------------------------------------------- profiles
# memaudit symbolize writes a profile; a report of the profile equals the
# report of its trace (JSON and Markdown byte for byte, text but for the "=="
# line naming the input), also with --all-frames, and needs no binary.
if [ -s "$SYM/symprog.trace" ]; then
    T=$SYM/symprog.trace
    if ! "$MEMAUDIT" symbolize "$T" 2>"$SYM/symbolize.err" || [ ! -s "$SYM/symprog.profile" ]; then
        fail profile-symbolize "memaudit symbolize $T: $(first_line "$SYM/symbolize.err")"
    elif ! grep -q "^memaudit: profile: $SYM/symprog.profile\$" "$SYM/symbolize.err"; then
        fail profile-symbolize "no 'memaudit: profile: PATH' line: $(first_line "$SYM/symbolize.err")"
    else
        ok profile-symbolize
        same=1
        for args in "--format json" "--format json --all-frames" "--format md" "--format text" \
            "--format text --all-frames --top 3 --frames 2"; do
            # shellcheck disable=SC2086 # $args: options
            "$MEMAUDIT" report $args "$T" 2>/dev/null | sed 1d >"$SYM/from-trace"
            # shellcheck disable=SC2086
            "$MEMAUDIT" report $args "$SYM/symprog.profile" 2>/dev/null | sed 1d >"$SYM/from-profile"
            if [ ! -s "$SYM/from-trace" ] || ! cmp -s "$SYM/from-trace" "$SYM/from-profile"; then
                fail profile-same-report "report $args differs: $(diff "$SYM/from-trace" "$SYM/from-profile" | head -n 3 | tr '\n' ' ')"
                same=0
            fi
        done
        [ $same = 1 ] && ok profile-same-report
    fi
fi

# A profile read after the binaries are gone: the same function names, while
# the trace itself can only give module+offset any more.
BIN=$TMP/gone
mkdir -p "$BIN"
if sym_build profile-no-binaries cc -g -O2 -o "$BIN/symprog" "$SYMSRC/$P" -ldl &&
    sym_build profile-no-binaries cc -g -O1 -shared -fPIC -DSYMLIB_NAME=lib_a_alloc \
        -o "$BIN/libsyma.so" "$SYMSRC/symlib.c" &&
    sym_record gone "$BIN/symprog" "$BIN/libsyma.so" &&
    "$MEMAUDIT" symbolize -o "$SYM/gone.prof" "$SYM/gone.trace" 2>"$SYM/gone.serr"; then
    "$MEMAUDIT" report --format json "$SYM/gone.trace" >"$SYM/gone-before.json" 2>/dev/null
    rm -f "$BIN/symprog" "$BIN/libsyma.so"
    "$MEMAUDIT" report --format json "$SYM/gone.prof" >"$TMP/gone-profile.json" 2>"$SYM/gone.rerr"
    st=$?
    "$MEMAUDIT" report --format json "$SYM/gone.trace" >"$TMP/gone-trace.json" 2>/dev/null
    if [ $st -ne 0 ]; then
        fail profile-no-binaries "report of the profile: $(status_words $st): $(first_line "$SYM/gone.rerr")"
    elif ! cmp -s "$SYM/gone-before.json" "$TMP/gone-profile.json"; then
        fail profile-no-binaries "the profile's report changed when the binaries went"
    else
        expect profile-no-binaries gone-profile \
            'leaks[0].stack[0].function=lib_a_alloc' "leaks[0].stack[0].line=$L_LIB" \
            'leaks[1].stack[0].function=sym_plain' "leaks[1].stack[0].line=$L_PLAIN" \
            'leaks[2].stack[0].function=inl_leaf' 'leaks[2].stack[1].function=inl_mid'
        expect profile-no-binaries-trace gone-trace \
            'leaks[0].stack[0].function=null' 'leaks[1].stack[0].function=null'
    fi
else
    fail profile-no-binaries "could not build, record or symbolize ($(first_line "$SYM/gone.serr"))"
fi

# Size grows with distinct stacks, not events: a million allocations at one
# site give a profile of a few KiB.
if sym_record profile-small "$PROGS/loop" 1000000 &&
    "$MEMAUDIT" symbolize "$SYM/profile-small.trace" 2>/dev/null; then
    tb=$(wc -c <"$SYM/profile-small.trace")
    pb=$(wc -c <"$SYM/profile-small.profile")
    if [ "$pb" -gt 65536 ] || [ "$pb" -gt $((tb / 100)) ]; then
        fail profile-small "profile of $pb bytes for a trace of $tb bytes"
    else
        "$MEMAUDIT" report --format json "$SYM/profile-small.profile" >"$TMP/profile-small.json" 2>/dev/null
        expect profile-small profile-small summary.allocations=1000000 \
            'hotspots[0].allocations=1000000' 'hotspots[0].stack[0].function=churn'
    fi
else
    fail profile-small "could not record or symbolize loop 1000000"
fi

# A directory: the profile stands in for its trace (one report, not two).
if [ -s "$SYM/symprog.profile" ]; then
    mkdir -p "$TMP/both"
    cp "$SYM/symprog.trace" "$SYM/symprog.profile" "$TMP/both/"
    cp "$SYM/gone.trace" "$TMP/both/other.trace"
    "$MEMAUDIT" report "$TMP/both" >"$SYM/both.txt" 2>&1
    if [ "$(grep -c '^== ' "$SYM/both.txt")" != 2 ] ||
        ! grep -q "^== $TMP/both/symprog.profile\$" "$SYM/both.txt" ||
        ! grep -q "^== $TMP/both/other.trace\$" "$SYM/both.txt"; then
        fail profile-dir "expected symprog.profile and other.trace: $(grep '^== ' "$SYM/both.txt" | tr '\n' ' ')"
    else
        ok profile-dir
    fi
fi

# Damaged profiles: a one-line "memaudit: FILE: reason" and exit status 1.
if [ -s "$SYM/symprog.profile" ]; then
    D=$TMP/damaged
    mkdir -p "$D"
    size=$(wc -c <"$SYM/symprog.profile")
    head -c $((size / 2)) "$SYM/symprog.profile" >"$D/cut.profile"
    sed 's/"profile_format_version":1/"profile_format_version":99/' "$SYM/symprog.profile" >"$D/version.profile"
    sed 's/"stack":\[\[/"stack":[[999999,/' "$SYM/symprog.profile" >"$D/frame-id.profile"
    sed 's/"allocations":/"allocations":-/' "$SYM/symprog.profile" >"$D/negative.profile"
    printf '{"hello": "world"}' >"$D/other.profile"
    for f in cut:"not a memaudit trace or profile" version:"unsupported profile_format_version 99" \
        frame-id:"bad stack in site" negative:"(allocations)" other:"not a memaudit profile"; do
        name=${f%%:*}
        want=${f#*:}
        "$MEMAUDIT" report "$D/$name.profile" >/dev/null 2>"$D/$name.err"
        st=$?
        if [ $st -ne 1 ] || [ "$(wc -l <"$D/$name.err")" -ne 1 ] ||
            ! grep -q "^memaudit: $D/$name.profile: " "$D/$name.err" ||
            ! grep -qF "$want" "$D/$name.err"; then
            fail "profile-damaged-$name" "$(status_words $st): $(head -c 300 "$D/$name.err")"
        else
            ok "profile-damaged-$name"
        fi
    done
fi

# memaudit run writes the profile of every trace beside it, and says so.
if [ -x "$SYM/symprog" ]; then
    RD=$TMP/run-profile
    timeout "$LIMIT" "$MEMAUDIT" run -o "$RD" -- "$SYM/symprog" >/dev/null 2>"$SYM/run.err"
    st=$?
    set -- "$RD"/memaudit.symprog.*.profile
    if [ $st -ne 0 ] || [ $# -ne 1 ] || [ ! -s "$1" ]; then
        fail run-profile "$(status_words $st), profiles: $* ($(first_line "$SYM/run.err"))"
    elif ! grep -q "^memaudit: profile: $1\$" "$SYM/run.err"; then
        fail run-profile "no 'memaudit: profile: $1' line on stderr: $(head -c 300 "$SYM/run.err")"
    else
        "$MEMAUDIT" report --format json "$1" >"$TMP/run-profile.json" 2>/dev/null
        expect run-profile run-profile 'leaks[0].stack[0].function=sym_plain' \
            'leaks[1].stack[0].function=inl_leaf' 'leaks[2].stack[1].function=sym_strdup'
    fi
fi
