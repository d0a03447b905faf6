/* report.js: the memaudit HTML report (render_html.c embeds this file).
 *
 * Everything comes from the JSON in #memaudit-data (docs/usage.md, "The HTML
 * report"). Names from the profile reach the page only through textContent,
 * canvas fillText and the title property: never as HTML. No library, no
 * network. Open the page with #selftest to run its self-test, which writes
 * its results into #selftest (tests/integration/browser.sh reads them). */
(function () {
  'use strict';

  var D = JSON.parse(document.getElementById('memaudit-data').textContent);

  /* The five weights, in the order of the tree's w[] columns (calltree.h). */
  var WEIGHTS = [
    { key: 'allocations', label: 'Allocations', bytes: false },
    { key: 'bytes', label: 'Bytes allocated', bytes: true },
    { key: 'peak', label: 'Peak contribution', bytes: true },
    { key: 'leaked', label: 'Leaked bytes', bytes: true },
    { key: 'temporary', label: 'Temporary allocations', bytes: false }
  ];

  /* ---- small helpers ---- */

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function fmtCount(n) {
    return Math.round(n).toLocaleString('en-US');
  }

  function fmtBytes(n) {
    var units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    if (n < 1024) return fmtCount(n) + ' B';
    var v = n / 1024, u = 0;
    while (v >= 1023.95 && u + 1 < units.length) { v /= 1024; u++; }
    return v.toFixed(1) + ' ' + units[u];
  }

  function fmtExact(n) {
    return n < 1024 ? fmtBytes(n) : fmtBytes(n) + ' (' + fmtCount(n) + ' bytes)';
  }

  function fmtSec(ns) {
    var s = ns / 1e9;
    return (s < 1 ? s.toFixed(6) : s.toFixed(3)) + ' s';
  }

  function fmtPct(part, whole) {
    return whole > 0 ? (100 * part / whole).toFixed(1) + '%' : '-';
  }

  function fmtWeight(w, v) {
    return WEIGHTS[w].bytes ? fmtBytes(v) : fmtCount(v);
  }

  function basename(p) {
    return p ? p.slice(p.lastIndexOf('/') + 1) : '';
  }

  /* ---- header and totals ---- */

  function renderHeader() {
    var p = D.process, s = D.summary;
    var exe = p.exe || '(unknown program)';
    document.title = 'memaudit: ' + basename(exe);
    document.getElementById('title').textContent = 'memaudit report: ' + exe;
    var lines = ['pid ' + p.pid + ', parent ' + p.ppid + ', ' + p.threads +
                 (p.threads === 1 ? ' thread' : ' threads')];
    if (p.cmdline) lines.push('command: ' + p.cmdline);
    if (p.signal) lines.push('ended by signal ' + p.signal);
    else if (p.exit_status >= 0) lines.push('exit status ' + p.exit_status);
    var proc = document.getElementById('proc');
    proc.textContent = lines.join('\n');
    if (!p.complete) proc.appendChild(el('div', 'warn', 'warning: the trace is incomplete; figures cover what was recorded'));
    if (p.lost_events) proc.appendChild(el('div', 'warn', 'warning: ' + fmtCount(p.lost_events) + ' events could not be recorded'));
    if (p.sampling_bytes) proc.appendChild(el('div', 'warn', p.sampling_note || 'sampled run: figures are estimates'));

    var safety = document.getElementById('safety');
    safety.appendChild(document.createTextNode('Memory safety: '));
    safety.appendChild(el('span', 'status status-' + s.safety.split(' ')[0], s.safety));

    function blocks(n) { return fmtCount(n) + (n === 1 ? ' block' : ' blocks'); }
    var rows = [
      ['allocations', fmtCount(s.allocations)],
      ['frees', fmtCount(s.frees)],
      ['bytes allocated', fmtExact(s.bytes_allocated)],
      ['peak heap', fmtExact(s.peak_heap_bytes) + ' in ' + blocks(s.peak_blocks) + ' at ' + fmtSec(s.peak_time_ns)],
      ['leaked', fmtExact(s.leaked_bytes) + ' in ' + blocks(s.leaked_blocks)],
      ['held by the C runtime', fmtExact(s.runtime_held_bytes) + ' in ' + blocks(s.runtime_held_blocks)],
      ['temporary allocations', fmtCount(s.temporary_allocations) + ' (' + fmtPct(s.temporary_allocations, s.allocations) + ' of allocations)'],
      ['failed allocations', fmtCount(s.failed_allocations)],
      ['reallocs', fmtCount(s.reallocs)],
      ['allocator overhead', fmtExact(s.slack_bytes)],
      ['duration', fmtSec(s.duration_ns)]
    ];
    if (s.unmatched_frees) rows.push(['unmatched frees', fmtCount(s.unmatched_frees)]);
    var dl = document.getElementById('totals');
    rows.forEach(function (r) {
      dl.appendChild(el('dt', null, r[0]));
      dl.appendChild(el('dd', null, r[1]));
    });
  }

  /* ---- the call tree ---- */

  /* Columns of D.tree, with children lists and depths. Nodes come parent
   * first (render_html.c), so one pass in index order suffices. */
  function Tree(t) {
    var n = t.parent.length, i;
    this.n = n;
    this.parent = t.parent;
    this.nameId = t.name;
    this.whereId = t.where;
    this.strings = t.strings;
    this.w = t.w;
    this.before = t.before || null;
    this.depth = new Int32Array(n);
    var count = new Int32Array(n + 1);
    for (i = 1; i < n; i++) { this.depth[i] = this.depth[t.parent[i]] + 1; count[t.parent[i]]++; }
    this.first = new Int32Array(n + 1);
    for (i = 0; i < n; i++) this.first[i + 1] = this.first[i] + count[i];
    this.kids = new Int32Array(Math.max(n - 1, 0));
    var fill = this.first.slice(0, n);
    for (i = 1; i < n; i++) this.kids[fill[t.parent[i]]++] = i;
  }
  /* A diff tree (memaudit diff) also has the first run's weights. */
  Tree.prototype.isDiff = function () { return !!this.before; };
  Tree.prototype.weighs = function (i, w) { return this.w[w][i] > 0 || (this.before && this.before[w][i] > 0); };
  Tree.prototype.name = function (i) { return this.strings[this.nameId[i]]; };
  Tree.prototype.where = function (i) { return this.whereId[i] >= 0 ? this.strings[this.whereId[i]] : ''; };
  Tree.prototype.children = function (i) { return this.kids.subarray(this.first[i], this.first[i + 1]); };
  Tree.prototype.self = function (i, w) {
    var v = this.w[w][i], c = this.children(i);
    for (var k = 0; k < c.length; k++) v -= this.w[w][c[k]];
    return v;
  };

  /* Warm colours, stable per name. */
  function nameColor(name) {
    var h = 0;
    for (var i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) | 0;
    h = h >>> 0;
    return 'hsl(' + (h % 50) + ',' + (65 + (h >>> 8) % 25) + '%,' + (58 + (h >>> 16) % 14) + '%)';
  }

  var MATCH_COLOR = 'rgb(183, 60, 214)';

  /* A flame graph (an icicle: the root at the top) on a canvas.
   * mode decides what a frame weighs and how it is coloured: the plain mode
   * below uses one weight column; the differential mode (diffMode, for a
   * diff tree) weighs by the larger of two columns and colours by their
   * difference. */
  function FlameGraph(canvas, tree, onchange) {
    this.canvas = canvas;
    this.tree = tree;
    this.onchange = onchange;
    this.rowH = 18;
    this.zoom = 0;
    this.selected = -1;
    this.query = '';
    this.matched = new Uint8Array(tree.n);
    this.matchCount = 0;
    this.setWeight(1);
  }

  FlameGraph.prototype.plainMode = function (w) {
    var tree = this.tree, self = this;
    return {
      value: function (i) { return tree.w[w][i]; },
      color: function (i) { return self.matched[i] ? MATCH_COLOR : nameColor(tree.name(i)); }
    };
  };

  FlameGraph.prototype.setWeight = function (w) {
    this.weight = w;
    this.mode = this.tree.isDiff() ? this.diffMode(w) : this.plainMode(w);
    /* Heaviest child first, so the big callees line up on the left. */
    var tree = this.tree, value = this.mode.value;
    this.order = new Int32Array(tree.kids);
    for (var i = 0; i < tree.n; i++) {
      var a = tree.first[i], b = tree.first[i + 1];
      if (b - a > 1) {
        var part = Array.prototype.slice.call(this.order.subarray(a, b));
        part.sort(function (x, y) { return value(y) - value(x) || x - y; });
        this.order.set(part, a);
      }
    }
    if (this.zoom !== 0 && value(this.zoom) === 0) this.zoom = 0;
    this.draw();
  };

  /* ---- the differential flame graph (memaudit diff) ---- */

  /* Red for growth, blue for shrinkage, deeper the larger the change relative
   * to the larger of the two figures (new and vanished frames are darkest);
   * grey when equal. */
  function diffColor(before, after) {
    if (before === after) return 'hsl(0,0%,82%)';
    var rel = Math.abs(after - before) / Math.max(after, before);
    return 'hsl(' + (after > before ? 0 : 215) + ',75%,' + (92 - 40 * rel).toFixed(1) + '%)';
  }

  /* Width: the larger of before and after, or of the callees' widths when
   * they need more (a callee that shrank beside one that grew), so that
   * callees always fit inside their caller. Nodes come parent first. */
  FlameGraph.prototype.diffMode = function (w) {
    var tree = this.tree, self = this, a = tree.w[w], b = tree.before[w];
    var width = new Float64Array(tree.n), kids = new Float64Array(tree.n);
    for (var i = tree.n - 1; i >= 0; i--) {
      width[i] = Math.max(kids[i], a[i], b[i]);
      if (i > 0) kids[tree.parent[i]] += width[i];
    }
    return {
      value: function (k) { return width[k]; },
      color: function (k) { return self.matched[k] ? MATCH_COLOR : diffColor(b[k], a[k]); }
    };
  };

  /* "+1.2 KiB", "-3": a signed change under weight w. */
  function fmtChange(w, d) {
    return (d > 0 ? '+' : d < 0 ? '-' : '') + fmtWeight(w, Math.abs(d));
  }

  function fmtRel(before, after) {
    if (before === after) return '0%';
    if (before === 0) return 'new';
    if (after === 0) return 'vanished';
    return (after > before ? '+' : '') + (100 * (after - before) / before).toFixed(1) + '%';
  }

  /* The tooltip's figures for node i of a diff tree: before, after, change. */
  function diffTooltipTable(i) {
    var t = el('table'), head = el('tr');
    ['', 'before', 'after', 'change', ''].forEach(function (h) { head.appendChild(el('td', null, h)); });
    t.appendChild(head);
    WEIGHTS.forEach(function (wt, w) {
      var b = tree.before[w][i], a = tree.w[w][i], tr = el('tr');
      tr.appendChild(el('td', null, wt.label));
      tr.appendChild(el('td', null, fmtWeight(w, b)));
      tr.appendChild(el('td', null, fmtWeight(w, a)));
      tr.appendChild(el('td', a > b ? 'grew' : a < b ? 'shrank' : null, fmtChange(w, a - b)));
      tr.appendChild(el('td', null, fmtRel(b, a)));
      t.appendChild(tr);
    });
    return t;
  }

  /* Rectangles of the visible frames: the path from the root down to the
   * zoomed node spans the width; below it, widths are shares of its weight.
   * Frames narrower than half a pixel are skipped with their subtrees. */
  FlameGraph.prototype.layout = function (width) {
    var tree = this.tree, value = this.mode.value, rects = [];
    var path = [], i;
    for (i = this.zoom; i !== -1; i = tree.parent[i]) path.unshift(i);
    for (i = 0; i < path.length - 1; i++) rects.push({ node: path[i], x: 0, w: width, d: i, above: true });
    var total = value(this.zoom);
    if (total <= 0) { rects.push({ node: this.zoom, x: 0, w: width, d: path.length - 1 }); return rects; }
    var scale = width / total;
    var stack = [[this.zoom, 0]];
    while (stack.length) {
      var top = stack.pop(), node = top[0], x = top[1];
      var w = value(node) * scale;
      rects.push({ node: node, x: x, w: w, d: tree.depth[node] });
      var a = tree.first[node], b = tree.first[node + 1], cx = x;
      for (var k = a; k < b; k++) {
        var c = this.order[k], cw = value(c) * scale;
        if (cw >= 0.5) stack.push([c, cx]);
        cx += cw;
      }
    }
    return rects;
  };

  FlameGraph.prototype.draw = function () {
    var canvas = this.canvas, ratio = window.devicePixelRatio || 1;
    var width = canvas.parentNode.clientWidth || 1000;
    var rects = this.layout(width), maxD = 0, i;
    for (i = 0; i < rects.length; i++) if (rects[i].d > maxD) maxD = rects[i].d;
    var height = (maxD + 1) * this.rowH;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.height = height + 'px';
    var g = canvas.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    g.font = '12px ui-monospace, Menlo, Consolas, monospace';
    g.textBaseline = 'middle';
    var rowH = this.rowH, tree = this.tree;
    for (i = 0; i < rects.length; i++) {
      var r = rects[i], y = r.d * rowH;
      g.globalAlpha = r.above ? 0.55 : 1;
      g.fillStyle = this.mode.color(r.node);
      g.fillRect(r.x, y, Math.max(r.w - 1, 0.5), rowH - 1);
      if (r.node === this.selected) {
        g.strokeStyle = '#000';
        g.lineWidth = 2;
        g.strokeRect(r.x + 1, y + 1, Math.max(r.w - 3, 1), rowH - 3);
      }
      if (r.w > 24) {
        var name = r.node === 0 ? 'all' : tree.name(r.node);
        var room = Math.floor((r.w - 8) / 7.3);
        if (name.length > room) name = room > 2 ? name.slice(0, room - 1) + '\u2026' : '';
        g.globalAlpha = 1;
        g.fillStyle = '#000';
        g.fillText(name, r.x + 4, y + rowH / 2);
      }
    }
    g.globalAlpha = 1;
    this.rects = rects;
    this.width = width;
    if (this.onchange) this.onchange(this);
  };

  FlameGraph.prototype.hit = function (x, y) {
    var d = Math.floor(y / this.rowH);
    for (var i = 0; i < this.rects.length; i++) {
      var r = this.rects[i];
      if (r.d === d && x >= r.x && x < r.x + r.w) return r;
    }
    return null;
  };

  FlameGraph.prototype.rectOf = function (node) {
    for (var i = 0; i < this.rects.length; i++) if (this.rects[i].node === node) return this.rects[i];
    return null;
  };

  FlameGraph.prototype.zoomTo = function (node) {
    this.zoom = node;
    this.draw();
  };

  /* Case-insensitive substring search over function names. matchTotal is
   * the weight of the matched frames that have no matched ancestor. */
  FlameGraph.prototype.search = function (query) {
    var tree = this.tree, q = query.toLowerCase(), i;
    this.query = query;
    this.matchCount = 0;
    this.matchTotal = 0;
    for (i = 0; i < tree.n; i++) {
      this.matched[i] = q !== '' && i !== 0 && tree.name(i).toLowerCase().indexOf(q) >= 0 ? 1 : 0;
      this.matchCount += this.matched[i];
    }
    for (i = 1; i < tree.n; i++) {
      if (!this.matched[i]) continue;
      var p = tree.parent[i];
      while (p > 0 && !this.matched[p]) p = tree.parent[p];
      if (p <= 0) this.matchTotal += this.mode.value(i);
    }
    this.draw();
  };

  /* ---- the flame graph's section ---- */

  var tree = new Tree(D.tree);
  var fg, tooltip = document.getElementById('tooltip');
  var weightButtons = [];

  function updateControls(g) {
    weightButtons.forEach(function (b, w) { b.setAttribute('aria-checked', w === g.weight ? 'true' : 'false'); });
    var m = document.getElementById('fg-match');
    m.textContent = g.query === '' ? '' : g.matchCount === 0 ? 'no frame matches' :
      g.matchCount + (g.matchCount === 1 ? ' frame matches: ' : ' frames match: ') +
      fmtWeight(g.weight, g.matchTotal) + ', ' + fmtPct(g.matchTotal, tree.w[g.weight][0]) +
      ' of ' + WEIGHTS[g.weight].label.toLowerCase();
  }

  function showTooltip(r, cx, cy) {
    var i = r.node;
    tooltip.textContent = '';
    tooltip.appendChild(el('div', 'name', i === 0 ? 'all' : tree.name(i)));
    if (tree.where(i)) tooltip.appendChild(el('div', null, tree.where(i)));
    var t = tree.isDiff() ? diffTooltipTable(i) : el('table');
    if (!tree.isDiff()) WEIGHTS.forEach(function (wt, w) {
      var tr = el('tr');
      tr.appendChild(el('td', null, wt.label));
      tr.appendChild(el('td', null, fmtWeight(w, tree.w[w][i])));
      tr.appendChild(el('td', null, fmtPct(tree.w[w][i], tree.w[w][0])));
      tr.appendChild(el('td', null, 'self ' + fmtWeight(w, tree.self(i, w))));
      t.appendChild(tr);
    });
    tooltip.appendChild(t);
    tooltip.hidden = false;
    var bw = tooltip.offsetWidth, bh = tooltip.offsetHeight;
    var x = cx + 14, y = cy + 14;
    if (x + bw > window.innerWidth - 4) x = Math.max(4, cx - bw - 14);
    if (y + bh > window.innerHeight - 4) y = Math.max(4, cy - bh - 14);
    tooltip.style.left = x + 'px';
    tooltip.style.top = y + 'px';
  }

  function renderFlame() {
    var canvas = document.getElementById('fg');
    fg = new FlameGraph(canvas, tree, updateControls);
    var box = document.getElementById('fg-weights');
    WEIGHTS.forEach(function (wt, w) {
      var b = el('button', null, wt.label);
      b.type = 'button';
      b.setAttribute('role', 'radio');
      b.addEventListener('click', function () { fg.setWeight(w); fg.search(fg.query); });
      weightButtons.push(b);
      box.appendChild(b);
    });
    updateControls(fg);
    function local(ev) {
      var b = canvas.getBoundingClientRect();
      return [ev.clientX - b.left, ev.clientY - b.top];
    }
    canvas.addEventListener('mousemove', function (ev) {
      var p = local(ev), r = fg.hit(p[0], p[1]);
      if (r) showTooltip(r, ev.clientX, ev.clientY); else tooltip.hidden = true;
    });
    canvas.addEventListener('mouseleave', function () { tooltip.hidden = true; });
    canvas.addEventListener('click', function (ev) {
      var p = local(ev), r = fg.hit(p[0], p[1]);
      if (r) { fg.selected = -1; fg.zoomTo(r.node); }
    });
    document.getElementById('fg-reset').addEventListener('click', function () {
      fg.selected = -1;
      fg.zoomTo(0);
    });
    document.getElementById('fg-search').addEventListener('input', function (ev) {
      fg.search(ev.target.value);
    });
    window.addEventListener('resize', function () { fg.draw(); });

    var note = document.getElementById('fg-note'), pr = D.pruned;
    if (pr.nodes > 0) {
      var parts = WEIGHTS.map(function (wt, w) {
        return fmtPct(pr.w[w], tree.w[w][0]) + ' of ' + wt.label.toLowerCase();
      });
      note.textContent = 'Pruned for speed: ' + fmtCount(pr.nodes) + ' of ' + fmtCount(pr.total_nodes) +
        ' call-tree nodes, each below ' + (100 * pr.share).toPrecision(2) + '% of every weight, are left out (' +
        parts.join(', ') + '); their figures count in their callers\' self figures. ' +
        '"memaudit report --format folded" writes every stack.';
      note.className = 'note warn';
    } else {
      note.textContent = 'All ' + fmtCount(tree.n - 1) + ' call-tree nodes are included; frames narrower than half a pixel are drawn when you zoom in.';
    }
  }

  /* Show node in the flame graph under weight w: zoom to it, outline it. */
  function focusNode(node, w) {
    if (node < 0) return;
    if (w !== undefined && w !== fg.weight && tree.weighs(node, w)) fg.setWeight(w);
    fg.selected = node;
    fg.zoomTo(fg.mode.value(node) > 0 ? node : 0);
    var sec = document.getElementById('sec-flame');
    if (sec.scrollIntoView) sec.scrollIntoView({ block: 'start' });
  }

  /* ---- sortable tables ---- */

  /* columns: { label, get(row) -> number|string, fmt(v) -> string, num, cls }.
   * Clicking a row focuses its node in the flame graph under weight w. */
  function table(container, columns, rows, w, total, what) {
    container.textContent = '';
    if (!rows.length) { container.appendChild(el('p', 'empty', 'None.')); return null; }
    if (total > rows.length) container.appendChild(el('p', 'note', 'The first ' + rows.length + ' of ' + fmtCount(total) + ' ' + what + '.'));
    var t = el('table', 'data'), thead = el('thead'), hr = el('tr'), tbody = el('tbody');
    var sortCol = -1, asc = false;
    columns.forEach(function (c, k) {
      var th = el('th', null, c.label);
      th.addEventListener('click', function () {
        asc = sortCol === k ? !asc : !c.num;
        sortCol = k;
        Array.prototype.forEach.call(hr.children, function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
        fill();
      });
      hr.appendChild(th);
    });
    thead.appendChild(hr);
    t.appendChild(thead);
    t.appendChild(tbody);
    function fill() {
      var order = rows.slice();
      if (sortCol >= 0) {
        var get = columns[sortCol].get;
        order.sort(function (a, b) {
          var x = get(a), y = get(b), c = x < y ? -1 : x > y ? 1 : 0;
          return asc ? c : -c;
        });
      }
      tbody.textContent = '';
      order.forEach(function (row) {
        var tr = el('tr');
        tr.tabIndex = 0;
        tr.title = (row.stack || []).join('\n');
        columns.forEach(function (c) {
          var v = c.get(row);
          tr.appendChild(el('td', (c.num ? 'num ' : '') + (c.cls ? (typeof c.cls === 'function' ? c.cls(row) : c.cls) : ''),
                            c.fmt ? c.fmt(v) : v));
        });
        tr.addEventListener('click', function () { focusNode(row.node, typeof w === 'function' ? w(row) : w); });
        tr.addEventListener('keydown', function (ev) { if (ev.key === 'Enter') tr.click(); });
        tbody.appendChild(tr);
      });
    }
    fill();
    container.appendChild(t);
    return t;
  }

  function siteOf(row) { return row.stack && row.stack.length ? row.stack[0] : '(no stack)'; }
  var siteCol = { label: 'Site', get: siteOf, cls: 'site' };
  function numCol(label, key, fmt) {
    return { label: label, get: function (r) { return r[key]; }, fmt: fmt || fmtCount, num: true };
  }

  var FINDING_WEIGHT = { 'growing-leak': 3, leak: 3, 'realloc-growth': 0, 'manual-growth': 0,
                         pooling: 0, temporary: 4, 'small-blocks': 2 };
  var PRIO = { high: 0, medium: 1, low: 2 };

  function renderTables() {
    table(document.getElementById('findings'), [
      { label: 'Priority', get: function (r) { return PRIO[r.priority]; }, fmt: function (v) { return ['high', 'medium', 'low'][v]; },
        cls: function (r) { return 'prio-' + r.priority; } },
      { label: 'Finding', get: function (r) { return r.title; } },
      siteCol,
      numCol('Impact', 'impact_pct', function (v) { return v.toFixed(1) + '%'; }),
      numCol('Saves allocations', 'saved_allocations'),
      numCol('Saves bytes', 'saved_bytes', fmtBytes),
      { label: 'What and what to do', get: function (r) { return r.description + '\n\u2192 ' + r.advice; }, cls: 'text' }
    ], D.findings.rows, function (r) { return FINDING_WEIGHT[r.kind]; }, D.findings.total, 'findings');
    var leakCols = [numCol('Bytes', 'bytes', fmtBytes), numCol('Blocks', 'blocks'),
                    numCol('Allocations', 'allocations'), numCol('First at', 'first_ns', fmtSec),
                    numCol('Last at', 'last_ns', fmtSec), siteCol];
    table(document.getElementById('leaks'), leakCols, D.leaks.rows, 3, D.leaks.total, 'leaking sites');
    table(document.getElementById('peak'), [numCol('Bytes at peak', 'bytes', fmtBytes), numCol('Blocks', 'blocks'), siteCol],
          D.peak.rows, 2, D.peak.total, 'sites');
    table(document.getElementById('hotspots'), [numCol('Allocations', 'allocations'), numCol('Bytes', 'bytes', fmtBytes),
          numCol('Smallest', 'min_size', fmtBytes), numCol('Largest', 'max_size', fmtBytes),
          numCol('Temporary', 'temporary'), numCol('Most live at once', 'max_live_blocks'), siteCol],
          D.hotspots.rows, 0, D.hotspots.total, 'sites');
    table(document.getElementById('temporary'), [numCol('Temporary', 'temporary'), numCol('Allocations', 'allocations'),
          { label: 'Share', get: function (r) { return r.allocations ? r.temporary / r.allocations : 0; },
            fmt: function (v) { return (100 * v).toFixed(1) + '%'; }, num: true }, siteCol],
          D.temporary.rows, 4, D.temporary.total, 'sites');
    table(document.getElementById('runtime_held'), leakCols, D.runtime_held.rows, 1, D.runtime_held.total, 'sites');
  }

  /* ---- memory diff's page: header, totals and lists ---- */

  /* The figures of compare.h and the weight each one links to. */
  var FIGURE_WEIGHT = { peak: 2, leaked: 3, leaked_blocks: 3, allocations: 0, bytes: 1, temporary: 4 };
  var FIGURE_BYTES = { peak: true, leaked: true, bytes: true };

  function fmtFigure(f, v) { return FIGURE_BYTES[f] ? fmtBytes(v) : fmtCount(v); }
  function fmtFigureChange(f, d) { return (d > 0 ? '+' : d < 0 ? '-' : '') + fmtFigure(f, Math.abs(d)); }

  function renderDiffHeader() {
    var b = D.before, a = D.after;
    document.title = 'memaudit diff: ' + basename(b.label) + ' \u2192 ' + basename(a.label);
    document.getElementById('title').textContent = 'memaudit diff: ' + b.label + ' \u2192 ' + a.label;
    var proc = document.getElementById('proc');
    proc.textContent = [['before', b], ['after', a]].map(function (r) {
      return r[0] + ': ' + (r[1].exe || '(unknown program)') + ', pid ' + r[1].pid +
        (r[1].cmdline ? ', command: ' + r[1].cmdline : '') + ', ' + fmtSec(r[1].duration_ns);
    }).join('\n');
    [b, a].forEach(function (r) {
      if (!r.complete) proc.appendChild(el('div', 'warn', 'warning: ' + r.label + ' is incomplete; figures cover what was recorded'));
    });
    var t = el('table', 'data totals-diff'), head = el('tr');
    ['figure', 'before', 'after', 'change', ''].forEach(function (h) { head.appendChild(el('th', null, h)); });
    t.appendChild(head);
    D.totals.forEach(function (f) {
      var tr = el('tr'), d = f.after - f.before, cls = d > 0 ? 'num grew' : d < 0 ? 'num shrank' : 'num';
      tr.appendChild(el('td', null, f.title));
      tr.appendChild(el('td', 'num', fmtFigure(f.figure, f.before)));
      tr.appendChild(el('td', 'num', fmtFigure(f.figure, f.after)));
      tr.appendChild(el('td', cls, fmtFigureChange(f.figure, d)));
      tr.appendChild(el('td', cls, fmtRel(f.before, f.after)));
      t.appendChild(tr);
    });
    document.getElementById('diff-totals').appendChild(t);
  }

  /* The changed, new and vanished sites; a row links to its frame under the
   * weight of the figure they are ranked by (D.by). */
  function renderDiffTables() {
    var by = D.by, w = FIGURE_WEIGHT[by], title = by.replace('_', ' ');
    function fig(side, f) { return function (r) { return r[side][f]; }; }
    function col(label, get, fmt, cls) { return { label: label, get: get, fmt: fmt, num: true, cls: cls }; }
    var change = col('Change in ' + title, function (r) { return r.after[by] - r.before[by]; },
                     function (v) { return fmtFigureChange(by, v); },
                     function (r) { return r.after[by] > r.before[by] ? 'grew' : 'shrank'; });
    var rel = col('Relative', function (r) { return r.before[by] ? (r.after[by] - r.before[by]) / r.before[by] : Infinity; },
                  function (v) { return v === Infinity ? 'new' : (v > 0 ? '+' : '') + (100 * v).toFixed(1) + '%'; });
    var fmtF = function (v) { return fmtFigure(by, v); };
    table(document.getElementById('changed'), [change, col('Before', fig('before', by), fmtF), col('After', fig('after', by), fmtF), rel,
          col('Allocations before', fig('before', 'allocations'), fmtCount), col('Allocations after', fig('after', 'allocations'), fmtCount), siteCol],
          D.changed.rows, w, D.changed.total, 'changed sites');
    table(document.getElementById('new'), [col(title[0].toUpperCase() + title.slice(1), fig('after', by), fmtF),
          col('Allocations', fig('after', 'allocations'), fmtCount), col('Peak', fig('after', 'peak'), fmtBytes),
          col('Leaked', fig('after', 'leaked'), fmtBytes), siteCol], D['new'].rows, w, D['new'].total, 'new sites');
    table(document.getElementById('vanished'), [col(title[0].toUpperCase() + title.slice(1), fig('before', by), fmtF),
          col('Allocations', fig('before', 'allocations'), fmtCount), col('Peak', fig('before', 'peak'), fmtBytes),
          col('Leaked', fig('before', 'leaked'), fmtBytes), siteCol], D.vanished.rows, w, D.vanished.total, 'vanished sites');
  }

  /* ---- memory over time ---- */

  var SVG = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, parent) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }

  function niceStep(range, count) {
    var raw = range / count, p = Math.pow(10, Math.floor(Math.log10(raw || 1)));
    var m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  /* D.timeline: null, or { time_ns[], heap_bytes[]?, rss_bytes[]?, phases[]? }
   * (render_html.c, add_timeline). */
  function renderTimeline() {
    var box = document.getElementById('timeline'), tl = D.timeline, s = D.summary;
    var peakText = 'Peak heap ' + fmtExact(s.peak_heap_bytes) + ' at ' + fmtSec(s.peak_time_ns) +
                   ' of ' + fmtSec(s.duration_ns) + '.';
    if (!tl || !tl.time_ns || tl.time_ns.length === 0) {
      var empty = el('div', 'empty', 'No memory samples in this trace: the chart of live heap and RSS over time needs a trace with periodic samples. ' + peakText);
      empty.id = 'timeline-empty';
      box.appendChild(empty);
      return;
    }
    var W = 1000, H = 260, L = 70, R = 10, T = 10, B = 30;
    var t = tl.time_ns, series = [];
    if (tl.heap_bytes) series.push({ data: tl.heap_bytes, cls: 'heap', label: 'live heap' });
    if (tl.rss_bytes) series.push({ data: tl.rss_bytes, cls: 'rss', label: 'RSS' });
    var tmax = Math.max(t[t.length - 1], s.duration_ns, 1), vmax = s.peak_heap_bytes;
    series.forEach(function (se) { se.data.forEach(function (v) { if (v > vmax) vmax = v; }); });
    vmax = vmax || 1;
    function X(ns) { return L + (W - L - R) * ns / tmax; }
    function Y(v) { return H - B - (H - T - B) * v / vmax; }
    var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'memory over time' }, box);
    (tl.phases || []).forEach(function (ph) {
      svg('rect', { 'class': 'phase', x: X(ph.start_ns), y: T, width: Math.max(X(ph.end_ns) - X(ph.start_ns), 1), height: H - T - B }, root);
      svg('text', { x: X(ph.start_ns) + 3, y: T + 12 }, root).textContent = ph.name;
    });
    /* Byte ticks at round numbers of the unit they are shown in (KiB, MiB ...). */
    var unit = Math.pow(1024, Math.max(0, Math.floor(Math.log(vmax) / Math.log(1024))));
    var ys = niceStep(vmax / unit, 5) * unit, xs = niceStep(tmax / 1e9, 8), v;
    for (v = 0; v <= vmax; v += ys) {
      svg('line', { 'class': 'grid', x1: L, x2: W - R, y1: Y(v), y2: Y(v) }, root);
      svg('text', { x: L - 4, y: Y(v) + 4, 'text-anchor': 'end' }, root).textContent = fmtBytes(v);
    }
    for (v = 0; v * 1e9 <= tmax; v += xs) {
      svg('text', { x: X(v * 1e9), y: H - B + 16, 'text-anchor': 'middle' }, root).textContent = +v.toPrecision(6) + ' s';
    }
    svg('line', { 'class': 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B }, root);
    svg('line', { 'class': 'axis', x1: L, x2: L, y1: T, y2: H - B }, root);
    series.forEach(function (se) {
      var d = '';
      for (var i = 0; i < t.length; i++) d += (i ? 'L' : 'M') + X(t[i]).toFixed(1) + ' ' + Y(se.data[i]).toFixed(1);
      svg('path', { 'class': se.cls, d: d }, root);
    });
    svg('circle', { 'class': 'peak', cx: X(s.peak_time_ns), cy: Y(s.peak_heap_bytes), r: 4 }, root);
    var right = X(s.peak_time_ns) > W * 0.75;
    svg('text', { x: X(s.peak_time_ns) + (right ? -6 : 6), y: Y(s.peak_heap_bytes) - 6, 'text-anchor': right ? 'end' : 'start' },
        root).textContent = 'peak ' + fmtBytes(s.peak_heap_bytes);
    var cursor = svg('line', { 'class': 'cursor', x1: 0, x2: 0, y1: T, y2: H - B, visibility: 'hidden' }, root);
    var legend = el('div', 'legend');
    series.forEach(function (se) {
      var sp = el('span');
      var sw = el('span', 'sw');
      sw.style.background = se.cls === 'heap' ? '#2b6cb0' : '#dd6b20';
      sp.appendChild(sw);
      sp.appendChild(document.createTextNode(se.label));
      legend.appendChild(sp);
    });
    var readout = el('span', null, peakText);
    legend.appendChild(readout);
    box.appendChild(legend);
    root.addEventListener('mousemove', function (ev) {
      var b = root.getBoundingClientRect(), x = (ev.clientX - b.left) * W / b.width;
      var ns = (x - L) / (W - L - R) * tmax, lo = 0, hi = t.length - 1;
      while (lo < hi) { var mid = (lo + hi) >> 1; if (t[mid] < ns) lo = mid + 1; else hi = mid; }
      if (lo > 0 && ns - t[lo - 1] < t[lo] - ns) lo--;
      cursor.setAttribute('x1', X(t[lo]));
      cursor.setAttribute('x2', X(t[lo]));
      cursor.setAttribute('visibility', 'visible');
      readout.textContent = fmtSec(t[lo]) + ': ' + series.map(function (se) { return se.label + ' ' + fmtBytes(se.data[lo]); }).join(', ');
    });
  }

  /* ---- self-test (#selftest) ---- */

  function selfTest() {
    var results = [], ok = true;
    function check(name, fn) {
      var r;
      try { r = fn(); } catch (e) { r = 'exception: ' + e; }
      if (r !== true) ok = false;
      results.push((r === true ? 'ok ' : 'FAIL ') + name + (r === true ? '' : ': ' + r));
    }
    var canvas = fg.canvas;
    function pixel(r) {
      var ratio = canvas.width / fg.width;
      var px = canvas.getContext('2d').getImageData(Math.floor((r.x + Math.min(r.w / 2, 2)) * ratio), Math.floor((r.d * fg.rowH + 3) * ratio), 1, 1).data;
      return px;
    }
    function fire(type, r) {
      var b = canvas.getBoundingClientRect();
      var x = b.left + r.x + Math.min(r.w / 2, 10), y = b.top + r.d * fg.rowH + fg.rowH / 2;
      canvas.dispatchEvent(new MouseEvent(type, { bubbles: true, clientX: x, clientY: y }));
    }
    /* Every drawn frame of a diff tree (under each weight) is red if it grew,
     * blue if it shrank, grey if neither, read back from the canvas. */
    var colorCount = { grew: 0, shrank: 0, same: 0 };
    function diffColors() {
      fg.selected = -1;
      fg.zoomTo(0);
      var keep = fg.weight, bad = null;
      for (var w = 0; w < WEIGHTS.length && !bad; w++) {
        fg.setWeight(w);
        fg.rects.forEach(function (r) {
          if (bad || r.d === 0 || r.w < 3) return;
          var a = tree.w[w][r.node], b = tree.before[w][r.node], px = pixel(r);
          var kind = a > b ? 'grew' : a < b ? 'shrank' : 'same';
          var seen = px[0] > px[2] + 8 ? 'grew' : px[2] > px[0] + 8 ? 'shrank' : 'same';
          if (kind !== seen) bad = WEIGHTS[w].key + ': ' + tree.name(r.node) + ' ' + kind + ' (' + b + ' -> ' + a + ') but its pixel is ' + Array.prototype.join.call(px, ',');
          colorCount[kind]++;
        });
      }
      fg.setWeight(keep);
      if (bad) return bad;
      return colorCount.grew + colorCount.shrank > 0 ? true : 'no frame grew or shrank';
    }

    var biggest = null;
    check('flame graph drawn', function () {
      if (tree.n < 2) return 'the call tree is empty';
      if (!fg.rects || fg.rects.length < 2) return 'no frames drawn';
      biggest = fg.rects.filter(function (r) { return r.d === 1; }).sort(function (a, b) { return b.w - a.w; })[0];
      var px = pixel(biggest);
      return px[3] === 255 && !(px[0] === 255 && px[1] === 255 && px[2] === 255) ? true :
        'canvas pixel at the first frame is ' + Array.prototype.join.call(px, ',');
    });
    check('hover shows figures', function () {
      fire('mousemove', biggest);
      return !tooltip.hidden && tooltip.textContent.indexOf(tree.name(biggest.node)) >= 0 ? true :
        'tooltip: ' + tooltip.textContent.slice(0, 100);
    });
    check('click zooms', function () {
      /* A frame narrower than the whole width, as deep as possible. */
      var target = null;
      fg.rects.forEach(function (r) { if (r.w >= 4 && r.w < fg.width - 1 && (!target || r.d > target.d)) target = r; });
      if (!target) target = fg.rects.filter(function (r) { return r.d > 0; }).pop();
      var before = target.w;
      fire('click', target);
      var after = fg.rectOf(target.node);
      if (fg.zoom !== target.node) return 'zoom is node ' + fg.zoom + ', not ' + target.node;
      return after && after.x === 0 && Math.abs(after.w - fg.width) < 0.01 ? true :
        'zoomed frame spans ' + (after ? after.w : 'nothing') + ' px of ' + fg.width + ' (was ' + before + ')';
    });
    check('reset zoom', function () {
      document.getElementById('fg-reset').click();
      return fg.zoom === 0 ? true : 'zoom is ' + fg.zoom;
    });
    check('search highlights', function () {
      var target = fg.rects.filter(function (r) { return r.d > 0 && r.w >= 4; }).pop();
      var input = document.getElementById('fg-search');
      input.value = tree.name(target.node);
      input.dispatchEvent(new Event('input', { bubbles: true }));
      if (fg.matchCount < 1) return 'no match for ' + input.value;
      var r = fg.rectOf(target.node), px = pixel(r);
      var want = [183, 60, 214];
      var good = Math.abs(px[0] - want[0]) < 3 && Math.abs(px[1] - want[1]) < 3 && Math.abs(px[2] - want[2]) < 3;
      var text = document.getElementById('fg-match').textContent;
      input.value = '';
      input.dispatchEvent(new Event('input', { bubbles: true }));
      return good && /match/.test(text) ? true : 'pixel ' + Array.prototype.join.call(px, ',') + ', status "' + text + '"';
    });
    check('weights switch', function () {
      for (var w = 0; w < WEIGHTS.length; w++) {
        weightButtons[w].click();
        if (fg.weight !== w || weightButtons[w].getAttribute('aria-checked') !== 'true') return 'weight ' + w + ' not selected';
      }
      weightButtons[1].click();
      return true;
    });
    check('tables sort and link', function () {
      var t = document.querySelector('#hotspots table') || document.querySelector('#leaks table') ||
              document.querySelector('#changed table') || document.querySelector('#new table');
      if (!t) return 'no hotspot, leak, changed or new table';
      var th = t.querySelector('th');
      th.click();
      th.click();
      var cells = t.querySelectorAll('tbody tr td:first-child'), prev = -Infinity;
      for (var i = 0; i < cells.length; i++) {
        var v = parseFloat(cells[i].textContent.replace(/,/g, ''));
        if (cells[i].textContent.indexOf('KiB') < 0 && cells[i].textContent.indexOf('MiB') < 0 && v < prev) return 'column not ascending at row ' + i;
        prev = v;
      }
      var rowEl = t.querySelector('tbody tr');
      rowEl.click();
      if (fg.selected < 0) return 'clicking a row selected no frame';
      return fg.rectOf(fg.selected) ? true : 'the row\'s frame is not drawn';
    });
    if (tree.isDiff()) check('growth red, shrinkage blue', diffColors);
    else check('memory chart', function () {
      return document.querySelector('#timeline svg path') || document.getElementById('timeline-empty') ? true : 'neither chart nor empty state';
    });
    check('names are text, no script ran', function () {
      if (window.__memaudit_pwned !== undefined) return 'a name ran as script: ' + window.__memaudit_pwned;
      var scripts = document.querySelectorAll('script').length;
      if (scripts !== 2) return scripts + ' script elements, expected 2';
      if (document.querySelector('img, iframe, object, embed, [onerror], [onload]')) return 'markup from a name became an element';
      var hostile = tree.strings.filter(function (x) { return x.indexOf('<') >= 0; });
      var text = document.querySelector('main').textContent;
      for (var i = 0; i < hostile.length; i++) {
        if (text.indexOf(hostile[i]) >= 0) return true;
      }
      return hostile.length === 0 ? true : 'no hostile name shown as text';
    });
    var hostileCount = tree.strings.filter(function (x) { return x.indexOf('<') >= 0; }).length;
    var out = document.getElementById('selftest');
    out.textContent = 'SELFTEST ' + (ok ? 'PASS' : 'FAIL') + ' ' + results.length + ' checks, ' +
      fmtCount(tree.n) + ' nodes, ' + fg.rects.length + ' frames drawn, ' + hostileCount + ' names with "<"' +
      (tree.isDiff() ? ', ' + colorCount.grew + ' red, ' + colorCount.shrank + ' blue, ' + colorCount.same + ' grey frames' : '') + '\n' +
      results.join('\n') + '\n';
    out.hidden = false;
    window.scrollTo(0, 0);
  }

  var t0 = Date.now();
  if (D.kind === 'diff') {
    renderDiffHeader();
    renderFlame();
    renderDiffTables();
  } else {
    renderHeader();
    renderFlame();
    renderTables();
    renderTimeline();
  }
  document.body.setAttribute('data-render-ms', String(Date.now() - t0));
  if (location.hash === '#selftest') selfTest();
})();
