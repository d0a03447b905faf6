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
