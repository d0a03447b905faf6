# browser.sh — the HTML report in a real browser (issue 8). Sourced by run.sh,
# in its own section just before the summary line: it uses run.sh's helpers
# (ok, fail, first_line, status_words) and variables (BUILD, TMP, MEMAUDIT,
# LIB, LIMIT, HERE).
#
# Headless Chromium loads each page with #selftest in its URL: the page's own
# script then clicks, hovers and types into itself (render, hover tooltip,
# click to zoom, reset, search highlight read back from the canvas's pixels,
# weight switch, table sort and row link, memory chart, names as text) and
# writes one line per check into <pre id="selftest">, which --dump-dom prints.
# Pages:
#   - wordfreq: examples/wordfreq recorded with samples every 2 ms;
#   - hostile: the page tests/unit/test_render_html.c writes, whose function,
#     file and command names carry <script>, <img onerror> and <svg onload>;
#   - broken: the hostile page with textContent turned into innerHTML, which
#     the self-test must catch (so a self-test that always passes fails here);
#   - large: 100000 call sites, pruned to the page's budget;
#   - diff-grow, diff-shrink: memaudit diff --format html of tests/progs/loop
#     run 1000 and 2000 times, one way and the other: the page's self-test
#     reads every frame's colour back from the canvas (red where the figure
#     grew, blue where it shrank, grey where equal), so the first must show
#     red frames and no blue ones, the second the reverse;
#   - diff-hostile: the page tests/unit/test_render_diff_html.c writes (a
#     site grew, one shrank, one vanished, one is new; hostile names): both
#     colours, the names as text; and its innerHTML-broken twin, which the
#     self-test must catch.
# A screenshot of the wordfreq page is decoded by Chromium itself (a second
# page holding the PNG as a data: URL) to count its colours and the pixels in
# the flame graph's hues: a blank or unstyled page fails.
#
# Chromium is an optional dependency (scripts/deps.sh installs it when it can):
# without it these cases are skipped with a message, not failed.

BROWSER=
for b in chromium chromium-browser google-chrome; do
    if command -v "$b" >/dev/null 2>&1; then
        BROWSER=$b
        break
    fi
done

# browse NAME ARGS...: run the browser headless into $TMP/NAME.dom (stdout).
browse() {
    name=$1
    shift
    timeout "$LIMIT" "$BROWSER" --headless --disable-gpu --no-sandbox --no-first-run \
        --disable-dev-shm-usage --hide-scrollbars --user-data-dir="$TMP/chromium-profile" \
        --window-size=1280,1600 "$@" >"$TMP/$name.dom" 2>"$TMP/$name.browser-err"
}

# selftest NAME PAGE: load PAGE#selftest; sets st (status) and report (the
# self-test's text, empty if it did not run).
selftest() {
    browse "$1" --dump-dom "file://$2#selftest"
    st=$?
    report=$(sed -n '/<pre id="selftest">/,/<\/pre>/p' "$TMP/$1.dom")
}

# check_selftest CASE NAME PAGE: the page's self-test passes with every check.
check_selftest() {
    selftest "$2" "$3"
    if [ $st -ne 0 ]; then
        fail "$1" "chromium: $(status_words $st): $(grep -v 'dbus\|Fontconfig' "$TMP/$2.browser-err" | head -n 1)"
    elif [ -z "$report" ]; then
        fail "$1" "the page's self-test did not run (script error?); see $TMP/$2.dom"
    elif ! printf '%s\n' "$report" | grep -q '^<pre id="selftest">SELFTEST PASS 9 checks'; then
        fail "$1" "$(printf '%s\n' "$report" | grep -E 'SELFTEST|^FAIL' | tr '\n' ' ' | cut -c 1-400)"
    else
        ms=$(sed -n 's/.*data-render-ms="\([0-9]*\)".*/\1/p' "$TMP/$2.dom" | head -n 1)
        ok "$1 ($(printf '%s\n' "$report" | head -n 1 | sed 's/.*SELFTEST PASS //'); rendered in ${ms:-?} ms)"
    fi
}

if [ -z "$BROWSER" ]; then
    echo "skip browser: no chromium installed, so the HTML report is not tested in a browser" \
        "(as root: apt-get install -y chromium, or make deps)"
else
    BR=$TMP/browser
    mkdir -p "$BR"

    # ---------------------------------------------------------------- wordfreq
    timeout "$LIMIT" env LD_PRELOAD="$LIB" MEMAUDIT_QUIET=1 MEMAUDIT_INTERVAL_MS=2 \
        MEMAUDIT_OUTPUT="$BR/wordfreq.trace" "$BUILD/examples/wordfreq" >/dev/null 2>"$BR/wordfreq.err"
    timeout "$LIMIT" "$MEMAUDIT" report --format html -o "$BR/wordfreq.html" "$BR/wordfreq.trace" \
        2>"$BR/wordfreq.rerr"
    st=$?
    if [ $st -ne 0 ] || [ ! -s "$BR/wordfreq.html" ]; then
        fail browser-wordfreq "memaudit report --format html: $(status_words $st): $(first_line "$BR/wordfreq.rerr")"
    else
        check_selftest browser-wordfreq wordfreq "$BR/wordfreq.html"
        # The chart is drawn from samples (not the empty state) and names the program's functions.
        if grep -q '<path class="heap"' "$TMP/wordfreq.dom" &&
            grep -q '<path class="rss"' "$TMP/wordfreq.dom" &&
            grep -q '<td class="site">xmalloc (examples/wordfreq.c:' "$TMP/wordfreq.dom"; then
            ok browser-wordfreq-chart
        else
            fail browser-wordfreq-chart "no live-heap and RSS paths or no xmalloc row in $TMP/wordfreq.dom"
        fi

        # A screenshot, decoded by the browser: colours, and the flame graph's warm hues.
        browse wordfreq-shot --screenshot="$BR/shot.png" "file://$BR/wordfreq.html"
        st=$?
        if [ $st -ne 0 ] || [ ! -s "$BR/shot.png" ]; then
            fail browser-screenshot "chromium --screenshot: $(status_words $st)"
        else
            {
                printf '<!DOCTYPE html><meta charset="utf-8"><pre id="png">not decoded</pre><img id="i" src="data:image/png;base64,'
                base64 -w 0 "$BR/shot.png"
                printf '">\n<script>\n'
                cat <<'EOF'
var img = document.getElementById('i');
function count() {
  var c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  var g = c.getContext('2d');
  g.drawImage(img, 0, 0);
  var d = g.getImageData(0, 0, c.width, c.height).data, seen = new Set(), warm = 0, ink = 0;
  for (var i = 0; i < d.length; i += 4) {
    var r = d[i], gr = d[i + 1], b = d[i + 2];
    seen.add((r << 16) | (gr << 8) | b);
    if (r > 180 && r - gr > 40 && r - b > 80) warm++;
    if (r < 100 && gr < 100 && b < 100) ink++;
  }
  document.getElementById('png').textContent = 'PNG ' + c.width + 'x' + c.height + ' colours ' + seen.size + ' warm ' + warm + ' ink ' + ink;
}
if (img.complete) count(); else img.onload = count;
EOF
                printf '</script>\n'
            } >"$BR/png.html"
            browse png --dump-dom "file://$BR/png.html"
            line=$(sed -n 's/.*<pre id="png">\([^<]*\)<.*/\1/p' "$TMP/png.dom")
            set -- $line
            # PNG WxH colours N warm N ink N
            if [ "$1" = PNG ] && [ "$2" = 1280x1600 ] && [ "$4" -ge 64 ] && [ "$6" -ge 5000 ] &&
                [ "$8" -ge 2000 ]; then
                ok "browser-screenshot ($line)"
            else
                fail browser-screenshot "blank or unstyled? '$line' (want 1280x1600, >= 64 colours, >= 5000 flame-graph pixels, >= 2000 text pixels)"
            fi
        fi
    fi

    # ---------------------------------------------------------------- hostile names
    if [ ! -x "$BUILD/tests/test_render_html" ]; then
        echo "skip browser-hostile: $BUILD/tests/test_render_html is not built (make check builds it)"
    elif ! MEMAUDIT_TEST_HTML_OUT="$BR/hostile.html" MEMAUDIT_TEST_HTML_LARGE_OUT="$BR/large.html" \
        timeout "$LIMIT" "$BUILD/tests/test_render_html" >"$BR/unit.out" 2>&1; then
        fail browser-hostile "test_render_html failed: $(grep -m 1 ERROR "$BR/unit.out")"
    else
        check_selftest browser-hostile hostile "$BR/hostile.html"
        if grep -q 'names with "&lt;"' "$TMP/hostile.dom" && ! grep -q ' 0 names with "&lt;"' "$TMP/hostile.dom" &&
            grep -qF '&lt;script&gt;window.__memaudit_pwned=1&lt;/script&gt;' "$TMP/hostile.dom"; then
            ok browser-hostile-as-text
        else
            fail browser-hostile-as-text "the hostile names are not shown as text in $TMP/hostile.dom"
        fi

        # The same page with names put in as HTML: the self-test must say so.
        sed 's/e\.textContent = String(text)/e.innerHTML = String(text)/' "$BR/hostile.html" >"$BR/broken.html"
        selftest broken "$BR/broken.html"
        if ! cmp -s "$BR/hostile.html" "$BR/broken.html" &&
            printf '%s\n' "$report" | grep -q '^FAIL names are text, no script ran'; then
            ok browser-selftest-catches-injection
        else
            fail browser-selftest-catches-injection "the self-test did not catch names put in as HTML: $(printf '%s\n' "$report" | head -n 1)"
        fi

        # ---------------------------------------------------------------- large
        check_selftest browser-large large "$BR/large.html"
        if grep -q 'class="note warn">Pruned for speed: ' "$TMP/large.dom"; then
            ok "browser-large-pruned ($(wc -c <"$BR/large.html") bytes)"
        else
            fail browser-large-pruned "no visible note on pruned nodes in $TMP/large.dom"
        fi
    fi

    # ---------------------------------------------------------------- diff pages
    # diff_colours CASE NAME RED BLUE: the self-test of page NAME counted red
    # and blue frames; RED and BLUE say which must be there: "some" or "none".
    diff_colours() {
        counts=$(printf '%s\n' "$report" | sed -n 's/.*, \([0-9]*\) red, \([0-9]*\) blue, .*/\1 \2/p' | head -n 1)
        set -- "$1" "$2" "$3" "$4" $counts
        if [ -z "$5" ]; then
            fail "$1" "no colour counts in the self-test of $TMP/$2.dom"
        elif { [ "$3" = some ] && [ "$5" -gt 0 ]; } || { [ "$3" = none ] && [ "$5" -eq 0 ]; }; then
            if { [ "$4" = some ] && [ "$6" -gt 0 ]; } || { [ "$4" = none ] && [ "$6" -eq 0 ]; }; then
                ok "$1 ($5 red, $6 blue frames)"
            else
                fail "$1" "$6 blue frames, want $4"
            fi
        else
            fail "$1" "$5 red frames, want $3"
        fi
    }
    for n in 1000 2000; do
        timeout "$LIMIT" env LD_PRELOAD="$LIB" MEMAUDIT_QUIET=1 MEMAUDIT_OUTPUT="$BR/loop$n.trace" \
            "$BUILD/progs/loop" $n 5 >/dev/null 2>&1
    done
    for dir in grow shrink; do
        if [ $dir = grow ]; then set -- loop1000 loop2000; else set -- loop2000 loop1000; fi
        timeout "$LIMIT" "$MEMAUDIT" diff --format html -o "$BR/diff-$dir.html" "$BR/$1.trace" \
            "$BR/$2.trace" 2>"$BR/diff-$dir.err"
        st=$?
        if [ $st -ne 0 ] || [ ! -s "$BR/diff-$dir.html" ]; then
            fail browser-diff-$dir "memaudit diff --format html: $(status_words $st): $(first_line "$BR/diff-$dir.err")"
            continue
        fi
        check_selftest browser-diff-$dir diff-$dir "$BR/diff-$dir.html"
        if [ $dir = grow ]; then
            diff_colours browser-diff-grow-red diff-grow some none
        else
            diff_colours browser-diff-shrink-blue diff-shrink none some
        fi
    done
    if [ ! -x "$BUILD/tests/test_render_diff_html" ]; then
        echo "skip browser-diff-hostile: $BUILD/tests/test_render_diff_html is not built (make check builds it)"
    elif ! MEMAUDIT_TEST_DIFF_HTML_OUT="$BR/diff-hostile.html" \
        timeout "$LIMIT" "$BUILD/tests/test_render_diff_html" >"$BR/diff-unit.out" 2>&1; then
        fail browser-diff-hostile "test_render_diff_html failed: $(grep -m 1 ERROR "$BR/diff-unit.out")"
    else
        check_selftest browser-diff-hostile diff-hostile "$BR/diff-hostile.html"
        diff_colours browser-diff-hostile-colours diff-hostile some some
        if grep -q ' 3 names with "&lt;"' "$TMP/diff-hostile.dom" &&
            grep -qF '&lt;script&gt;window.__memaudit_pwned=1&lt;/script&gt;' "$TMP/diff-hostile.dom"; then
            ok browser-diff-hostile-as-text
        else
            fail browser-diff-hostile-as-text "the hostile names are not shown as text in $TMP/diff-hostile.dom"
        fi
        sed 's/e\.textContent = String(text)/e.innerHTML = String(text)/' "$BR/diff-hostile.html" >"$BR/diff-broken.html"
        selftest diff-broken "$BR/diff-broken.html"
        if ! cmp -s "$BR/diff-hostile.html" "$BR/diff-broken.html" &&
            printf '%s\n' "$report" | grep -q '^FAIL names are text, no script ran'; then
            ok browser-diff-selftest-catches-injection
        else
            fail browser-diff-selftest-catches-injection "the self-test did not catch names put in as HTML: $(printf '%s\n' "$report" | head -n 1)"
        fi
    fi
fi
