/* render_html.c — the report as one self-contained HTML page: header and
 * totals, a flame graph of the call tree (five weights), the findings and the
 * ranked sites as sortable tables, and memory over time.
 *
 * The page is a fixed skeleton, style and script (reporter/html/report.css
 * and report.js, built into this object with .incbin) plus one JSON blob
 * (cJSON) in <script type="application/json">. Nothing from the profile is
 * ever written as HTML: names only travel inside that blob, where every '<',
 * '>' and '&' is written as a \u escape, so no string can end the script
 * element; the script puts them into the page with textContent only. No
 * network: no external file, and a Content-Security-Policy that forbids
 * fetching anything.
 *
 * Large profiles: the call tree keeps at most HTML_MAX_NODES nodes. When it
 * has more, the nodes that are smallest on every weight (at or below the
 * share of the root's weight that leaves HTML_MAX_NODES) are pruned — they
 * count in their parent's self weight — and the page says how many and how
 * much. The blob's shape is
 * docs/usage.md, "The HTML report".
 *
 * memaudit diff's page (render_diff_html.c) is the same script and style
 * around its own skeleton (reporter/html/diff.html): it shares the pruned
 * tree and the page writer below (render_html.h). */
#include "render.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "calltree.h"
#include "findings.h"
#include "json_common.h"
#include "render_common.h"
#include "render_html.h"

#define HTML_FORMAT_VERSION 1
#define HTML_MAX_NODES 25000u   /* call-tree nodes in the page, at most */
#define HTML_TABLE_ROWS 200u    /* rows per ranked table unless --top asks for more */
#define HTML_STACK_FRAMES 16u   /* frames per stack shown with a table row */

/* The page's own files, embedded at build time (Makefile: render_html.o
 * depends on them). Each is followed by a NUL byte. */
__asm__(".section .rodata\n"
        ".balign 16\n"
        "html_script_text:\n"
        ".incbin \"reporter/html/report.js\"\n"
        ".byte 0\n"
        ".balign 16\n"
        "html_style_text:\n"
        ".incbin \"reporter/html/report.css\"\n"
        ".byte 0\n"
        ".balign 16\n"
        "html_body_text:\n"
        ".incbin \"reporter/html/report.html\"\n"
        ".byte 0\n"
        ".balign 16\n"
        "html_diff_body_text:\n"
        ".incbin \"reporter/html/diff.html\"\n"
        ".byte 0\n"
        ".previous\n");
extern const char html_script_text[] __asm__("html_script_text");
extern const char html_style_text[] __asm__("html_style_text");
extern const char html_body_text[] __asm__("html_body_text");
extern const char html_diff_body_text[] __asm__("html_diff_body_text");




static int append_num(cJSON *array, double v)
{
    return json_append(array, cJSON_CreateNumber(v));
}

/* ---- the call tree, pruned ---- */

/* A node's weight as a share of the root's, the largest over the weights (and
 * over both runs of a diff tree). A child's weights never exceed its
 * parent's, so neither does its share: the nodes above any threshold form a
 * tree, with no orphan. */
static double node_share(const struct ct_tree *t, size_t i)
{
    double share = 0;
    for (int w = 0; w < CT_WEIGHTS; w++) {
        if (t->nodes[0].w[w] != 0 && (double)t->nodes[i].w[w] / (double)t->nodes[0].w[w] > share)
            share = (double)t->nodes[i].w[w] / (double)t->nodes[0].w[w];
        if (t->base != NULL && t->base[0][w] != 0 &&
            (double)t->base[i][w] / (double)t->base[0][w] > share)
            share = (double)t->base[i][w] / (double)t->base[0][w];
    }
    return share;
}

static int cmp_desc(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? 1 : a > b ? -1 : 0;
}

/* Keep the nodes whose share is above a threshold: 0 when the tree fits in
 * HTML_MAX_NODES, else the share of the first node that does not fit (so
 * that ties never take the page over its budget). */
int html_tree_prune(struct html_tree *h)
{
    const struct ct_tree *t = &h->ct;
    double *share = malloc(t->n_nodes * sizeof(*share));
    double *sorted = malloc(t->n_nodes * sizeof(*sorted));
    double threshold = 0;

    h->index = malloc(t->n_nodes * sizeof(*h->index));
    if (share == NULL || sorted == NULL || h->index == NULL) {
        free(share);
        free(sorted);
        return -ENOMEM;
    }
    for (size_t i = 0; i < t->n_nodes; i++)
        sorted[i] = share[i] = i == CT_ROOT ? 1.0 : node_share(t, i);
    if (t->n_nodes > HTML_MAX_NODES) {
        qsort(sorted, t->n_nodes, sizeof(*sorted), cmp_desc);
        threshold = sorted[HTML_MAX_NODES];
    }
    h->share = threshold;
    for (size_t i = 0; i < t->n_nodes; i++) {
        int keep = i == CT_ROOT || share[i] > threshold;
        h->index[i] = keep ? (uint32_t)h->kept++ : CT_NONE;
        if (keep || share[i] == 0)
            continue;
        /* What was left out: every pruned node that weighs anything, and the
         * weight of the tops of pruned subtrees, each counted once. */
        h->pruned++;
        if (h->index[t->nodes[i].parent] != CT_NONE)
            for (int w = 0; w < CT_WEIGHTS; w++)
                h->pruned_w[w] += t->nodes[i].w[w];
    }
    free(share);
    free(sorted);
    return 0;
}

double html_tree_site_node(const struct html_tree *h, uint32_t id, int base)
{
    uint32_t n = base ? (id < h->ct.n_base_sites ? h->ct.base_site_node[id] : CT_NONE)
                      : (id < h->ct.n_sites ? h->ct.site_node[id] : CT_NONE);

    while (n != CT_NONE && h->index[n] == CT_NONE)
        n = h->ct.nodes[n].parent;
    return n == CT_NONE ? -1 : (double)h->index[n];
}

/* "file:line", "module+0xoff", with " [inlined]": where a node's code is. */
static void node_where(char *buf, size_t len, const struct sym_location *loc)
{
    const char *module = loc->module != NULL && loc->module[0] != '\0' ? loc->module : NULL;
    int n;

    if (loc->file != NULL && loc->line > 0)
        n = snprintf(buf, len, "%s:%d", loc->file, loc->line);
    else if (loc->file != NULL)
        n = snprintf(buf, len, "%s", loc->file);
    else if (module != NULL)
        n = snprintf(buf, len, "%s+0x%" PRIx64, rc_basename(module), loc->module_offset);
    else
        n = snprintf(buf, len, "0x%" PRIx64, loc->address);
    if (loc->inlined && n >= 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, " [inlined]");
}

/* "tree": { parent[], name[], where[], w: [[...] per weight], strings[] }
 * (and before: [[...] per weight] for a diff tree), and "pruned". Columns
 * rather than objects: a fifth of the size. name and where index strings
 * (where -1: unknown). */
int html_add_tree(cJSON *root, struct html_tree *h)
{
    struct ct_tree *t = &h->ct;
    char where[1024];
    cJSON *tree = cJSON_AddObjectToObject(root, "tree");
    cJSON *parent, *name, *loc, *w, *col[CT_WEIGHTS], *bw = NULL, *bcol[CT_WEIGHTS], *strings, *pr;
    int err = 0;

    if (tree == NULL)
        return -ENOMEM;
    parent = cJSON_AddArrayToObject(tree, "parent");
    name = cJSON_AddArrayToObject(tree, "name");
    loc = cJSON_AddArrayToObject(tree, "where");
    w = cJSON_AddArrayToObject(tree, "w");
    if (t->base != NULL && (bw = cJSON_AddArrayToObject(tree, "before")) == NULL)
        return -ENOMEM;
    if (parent == NULL || name == NULL || loc == NULL || w == NULL)
        return -ENOMEM;
    for (int k = 0; k < CT_WEIGHTS; k++) {
        col[k] = cJSON_CreateArray();
        if (json_append(w, col[k]) < 0)
            return -ENOMEM;
        bcol[k] = NULL;
        if (bw != NULL && json_append(bw, bcol[k] = cJSON_CreateArray()) < 0)
            return -ENOMEM;
    }
    /* Locations first (interning may add labels), then only the strings that
     * kept nodes use, numbered in order of first use. */
    uint32_t *wid = malloc((h->kept ? h->kept : 1) * sizeof(*wid));
    uint32_t *smap = NULL;
    if (wid == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < t->n_nodes; i++) {
        const struct ct_node *n = &t->nodes[i];
        if (h->index[i] == CT_NONE)
            continue;
        wid[h->index[i]] = CT_NONE;
        if (n->loc != NULL) {
            node_where(where, sizeof(where), n->loc);
            wid[h->index[i]] = ct_intern(t, where);
            if (wid[h->index[i]] == CT_NONE)
                goto nomem;
        }
    }
    strings = cJSON_AddArrayToObject(tree, "strings");
    smap = malloc(t->n_labels * sizeof(*smap));
    if (strings == NULL || smap == NULL)
        goto nomem;
    memset(smap, 0xff, t->n_labels * sizeof(*smap)); /* CT_NONE */
    uint32_t n_strings = 0;
    for (size_t i = 0; i < t->n_nodes && err == 0; i++) {
        const struct ct_node *n = &t->nodes[i];
        if (h->index[i] == CT_NONE)
            continue;
        uint32_t ids[2] = {n->label, wid[h->index[i]]};
        for (int k = 0; k < 2 && err == 0; k++) {
            if (ids[k] == CT_NONE || smap[ids[k]] != CT_NONE)
                continue;
            smap[ids[k]] = n_strings++;
            err |= json_append(strings, cJSON_CreateString(t->labels[ids[k]]));
        }
        err |= append_num(parent, i == CT_ROOT ? -1 : (double)h->index[n->parent]);
        err |= append_num(name, smap[n->label]);
        err |= append_num(loc, ids[1] == CT_NONE ? -1 : (double)smap[ids[1]]);
        for (int k = 0; k < CT_WEIGHTS; k++)
            err |= append_num(col[k], (double)n->w[k]);
        for (int k = 0; k < CT_WEIGHTS && bw != NULL; k++)
            err |= append_num(bcol[k], (double)t->base[i][k]);
    }
    free(wid);
    free(smap);
    wid = NULL;
    smap = NULL;

    pr = cJSON_AddObjectToObject(root, "pruned");
    if (pr == NULL || err != 0)
        return -ENOMEM;
    err |= json_num(pr, "nodes", (double)h->pruned);
    err |= json_num(pr, "total_nodes", (double)(h->kept + h->pruned));
    err |= json_num(pr, "share", h->share);
    cJSON *pw = cJSON_AddArrayToObject(pr, "w");
    if (pw == NULL)
        return -ENOMEM;
    for (int k = 0; k < CT_WEIGHTS; k++)
        err |= append_num(pw, (double)h->pruned_w[k]);
    return err != 0 ? -ENOMEM : 0;
nomem:
    free(wid);
    free(smap);
    return -ENOMEM;
}



/* Memory over time: the analysis's samples (docs/metrics.md, "Memory over
 * time") as columns, or null when the trace has none:
 *   { "time_ns": [...], "heap_bytes": [...], "rss_bytes": [...] }
 * The page marks the peak from summary.peak_time_ns and peak_heap_bytes (the
 * samples, taken every MEMAUDIT_INTERVAL_MS, may miss it). "phases" holds
 * the spans of the phases the program marked (include/memaudit.h), as
 * {"name", "start_ns", "end_ns"}, drawn shaded. */
static int add_timeline(cJSON *root, const struct analysis *a)
{
    cJSON *tl, *t, *heap, *rss;
    int err = 0;

    if (a->n_timeline == 0)
        return cJSON_AddNullToObject(root, "timeline") != NULL ? 0 : -ENOMEM;
    tl = cJSON_AddObjectToObject(root, "timeline");
    t = tl != NULL ? cJSON_AddArrayToObject(tl, "time_ns") : NULL;
    heap = tl != NULL ? cJSON_AddArrayToObject(tl, "heap_bytes") : NULL;
    rss = tl != NULL ? cJSON_AddArrayToObject(tl, "rss_bytes") : NULL;
    if (t == NULL || heap == NULL || rss == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < a->n_timeline && err == 0; i++) {
        err |= append_num(t, (double)a->timeline[i].time_ns);
        err |= append_num(heap, (double)a->timeline[i].heap_bytes);
        err |= append_num(rss, (double)a->timeline[i].rss_bytes);
    }
    cJSON *phases = err == 0 ? cJSON_AddArrayToObject(tl, "phases") : NULL;
    if (phases == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < a->n_spans && err == 0; i++) {
        const struct an_phase_span *sp = &a->spans[i];
        cJSON *o = cJSON_CreateObject();
        err |= json_append(phases, o);
        if (err != 0)
            break;
        err |= json_str(o, "name", sp->phase < a->n_phases ? a->phases[sp->phase].name : "?");
        err |= json_num(o, "start_ns", (double)sp->start_ns);
        err |= json_num(o, "end_ns", (double)sp->end_ns);
    }
    return err != 0 ? -ENOMEM : 0;
}

/* ---- tables ---- */

/* "site": where the stack starts, "stack": its first frames as text, "node". */
static int add_site_ref(cJSON *obj, const struct html_tree *h, const struct rc_source *src,
                        const struct render_opts *o, uint32_t id)
{
    struct rc_stack st = {0};
    char buf[1024];
    cJSON *stack;
    int rc = rc_stack_resolve(src, id, o->all_frames, HTML_STACK_FRAMES, &st);
    int err = 0;

    if (rc < 0)
        return rc;
    stack = cJSON_AddArrayToObject(obj, "stack");
    err |= stack == NULL ? -ENOMEM : 0;
    for (size_t i = 0; i < st.n && err == 0; i++) {
        const struct rc_frame *f = &st.frames[i];
        for (size_t j = 0; j < (f->n ? f->n : 1) && err == 0; j++) {
            rc_format_location(buf, sizeof(buf), f, j);
            err |= json_append(stack, cJSON_CreateString(buf));
        }
    }
    if (err == 0 && st.more != 0) {
        snprintf(buf, sizeof(buf), "... %zu more frames", st.more);
        err |= json_append(stack, cJSON_CreateString(buf));
    }
    rc_stack_fini(&st);
    err |= json_num(obj, "node", html_tree_site_node(h, id, 0));
    err |= json_num(obj, "stack_id", id);
    return err != 0 ? -ENOMEM : 0;
}

static int site_fields(cJSON *obj, enum rc_key key, const struct an_site *s)
{
    int err = 0;

    switch (key) {
    case RC_LEAKED:
    case RC_RUNTIME:
        err |= json_num(obj, "bytes", (double)s->live_bytes);
        err |= json_num(obj, "blocks", (double)s->live_blocks);
        err |= json_num(obj, "allocations", (double)s->allocations);
        err |= json_num(obj, "first_ns", (double)s->leak_first_ns);
        err |= json_num(obj, "last_ns", (double)s->leak_last_ns);
        break;
    case RC_ALLOCATIONS:
    case RC_BYTES:
        err |= json_num(obj, "allocations", (double)s->allocations);
        err |= json_num(obj, "bytes", (double)s->bytes_allocated);
        err |= json_num(obj, "min_size", (double)s->min_size);
        err |= json_num(obj, "max_size", (double)s->max_size);
        err |= json_num(obj, "temporary", (double)s->temporary);
        err |= json_num(obj, "max_live_blocks", (double)s->max_live_blocks);
        break;
    case RC_PEAK:
        err |= json_num(obj, "bytes", (double)s->peak_bytes);
        err |= json_num(obj, "blocks", (double)s->peak_blocks);
        break;
    case RC_TEMPORARY:
        err |= json_num(obj, "temporary", (double)s->temporary);
        err |= json_num(obj, "allocations", (double)s->allocations);
        break;
    }
    return err != 0 ? -ENOMEM : 0;
}

static int add_sites(cJSON *root, const char *name, const struct analysis *a,
                     const struct html_tree *h, const struct rc_source *src,
                     const struct render_opts *o, enum rc_key key, size_t limit)
{
    const struct an_site **sites = NULL;
    size_t n = 0, total = 0;
    cJSON *obj = cJSON_AddObjectToObject(root, name);
    cJSON *rows = obj != NULL ? cJSON_AddArrayToObject(obj, "rows") : NULL;
    int rc = rows == NULL ? -ENOMEM : rc_rank_sites(a, key, limit, &sites, &n, &total);

    if (rc == 0)
        rc = json_num(obj, "total", (double)total);
    for (size_t i = 0; i < n && rc == 0; i++) {
        cJSON *row = cJSON_CreateObject();
        rc = json_append(rows, row);
        if (rc == 0)
            rc = site_fields(row, key, sites[i]);
        if (rc == 0)
            rc = add_site_ref(row, h, src, o, sites[i]->stack);
    }
    free(sites);
    return rc;
}

/* "findings": {rows: the first limit findings, total}. A program that leaks
 * from many call sites has a finding per site: the page keeps the first. */
static int add_findings(cJSON *root, const struct analysis *a, const struct html_tree *h,
                        const struct rc_source *src, const struct render_opts *o, size_t limit)
{
    struct finding *f = NULL;
    size_t n = 0;
    char text[512];
    cJSON *list = cJSON_AddObjectToObject(root, "findings");
    cJSON *arr = list != NULL ? cJSON_AddArrayToObject(list, "rows") : NULL;
    int rc = arr == NULL ? -ENOMEM : fd_collect(a, &f, &n);

    if (rc == 0)
        rc = json_num(list, "total", (double)n);
    for (size_t i = 0; i < n && i < limit && rc == 0; i++) {
        cJSON *obj = cJSON_CreateObject();
        int err = json_append(arr, obj);
        if (err < 0) {
            rc = err;
            break;
        }
        err |= json_str(obj, "kind", fd_kind_name(f[i].kind));
        err |= json_str(obj, "title", fd_kind_title(f[i].kind));
        err |= json_str(obj, "priority", fd_priority_name(f[i].priority));
        err |= json_num(obj, "impact_pct", f[i].impact_pct);
        err |= json_num(obj, "saved_allocations", (double)f[i].saved_allocs);
        err |= json_num(obj, "saved_bytes", (double)f[i].saved_bytes);
        fd_describe(&f[i], text, sizeof(text));
        err |= json_str(obj, "description", text);
        fd_advice(&f[i], text, sizeof(text));
        err |= json_str(obj, "advice", text);
        rc = err != 0 ? -ENOMEM : add_site_ref(obj, h, src, o, f[i].site->stack);
    }
    free(f);
    return rc;
}

/* ---- the page ---- */

/* Write JSON text so that it cannot end the <script> element that holds it,
 * nor open a comment or markup in it: '<', '>' and '&' only occur inside
 * strings in JSON, where their \u escapes mean the same. */
static void write_json_for_script(FILE *out, const char *json)
{
    for (const char *p = json; *p != '\0'; p++) {
        if (*p == '<')
            fputs("\\u003c", out);
        else if (*p == '>')
            fputs("\\u003e", out);
        else if (*p == '&')
            fputs("\\u0026", out);
        else
            fputc(*p, out);
    }
}

static cJSON *build_data(const struct analysis *a, const struct rc_source *src,
                         const struct render_opts *o, int *rc)
{
    size_t rows = o->top > HTML_TABLE_ROWS ? o->top : HTML_TABLE_ROWS;
    struct html_tree h;
    cJSON *root = cJSON_CreateObject();

    memset(&h, 0, sizeof(h));
    *rc = -ENOMEM;
    if (root == NULL)
        goto fail;
    *rc = ct_build(&h.ct, a, src, o->all_frames);
    if (*rc == 0)
        *rc = html_tree_prune(&h);
    if (*rc == 0)
        *rc = json_num(root, "format_version", HTML_FORMAT_VERSION);
    cJSON *summary = NULL;
    if (*rc == 0)
        *rc = json_add_process(root, a, &src->process);
    if (*rc == 0)
        *rc = json_add_summary(root, a, &summary);
    if (*rc == 0) /* the page's header shows the status beside the totals */
        *rc = json_str(summary, "safety", fd_safety_status(a));
    if (*rc == 0)
        *rc = add_timeline(root, a);
    if (*rc == 0)
        *rc = add_findings(root, a, &h, src, o, rows);
    if (*rc == 0)
        *rc = add_sites(root, "leaks", a, &h, src, o, RC_LEAKED, rows);
    if (*rc == 0)
        *rc = add_sites(root, "hotspots", a, &h, src, o, RC_ALLOCATIONS, rows);
    if (*rc == 0)
        *rc = add_sites(root, "peak", a, &h, src, o, RC_PEAK, rows);
    if (*rc == 0)
        *rc = add_sites(root, "temporary", a, &h, src, o, RC_TEMPORARY, rows);
    if (*rc == 0)
        *rc = add_sites(root, "runtime_held", a, &h, src, o, RC_RUNTIME, rows);
    /* The tree last: add_tree interns locations into the labels. */
    if (*rc == 0)
        *rc = html_add_tree(root, &h);
    if (*rc < 0)
        goto fail;
    free(h.index);
    ct_fini(&h.ct);
    return root;
fail:
    free(h.index);
    ct_fini(&h.ct);
    cJSON_Delete(root);
    return NULL;
}

int render_html(FILE *out, const struct analysis *a, const struct rc_source *src,
                const struct render_opts *o)
{
    int rc;
    cJSON *root = build_data(a, src, o, &rc);

    if (root == NULL)
        return rc < 0 ? rc : -ENOMEM;
    return html_write_page(out, root, 0);
}

int html_write_page(FILE *out, cJSON *root, int diff)
{
    char *json = cJSON_PrintUnformatted(root);

    cJSON_Delete(root);
    if (json == NULL)
        return -ENOMEM;
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<title>memaudit report</title>\n<style>\n",
          out);
    fputs(html_style_text, out);
    fputs("</style>\n</head>\n<body>\n", out);
    fputs(diff ? html_diff_body_text : html_body_text, out);
    fputs("<script type=\"application/json\" id=\"memaudit-data\">", out);
    write_json_for_script(out, json);
    fputs("</script>\n<script>\n", out);
    fputs(html_script_text, out);
    fputs("</script>\n</body>\n</html>\n", out);
    free(json);
    return ferror(out) || fflush(out) != 0 ? -EIO : 0;
}
