/* render_diff.c — memaudit diff: two runs side by side, as text, Markdown or
 * JSON (and HTML: render_diff_html.c). The totals first, then the sites whose figure changed most, the
 * sites only the second run has (new) and those only the first has
 * (vanished), each with its stack from the run it occurs in. */
#include "render_diff.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define DIFF_FRAMES 8u

static double pct_change(uint64_t before, uint64_t after)
{
    if (before == 0)
        return after == 0 ? 0.0 : 100.0;
    return 100.0 * ((double)after - (double)before) / (double)before;
}

static void fmt_value(char *buf, size_t len, enum cmp_figure f, uint64_t v)
{
    char s[RC_SIZE_BUF];
    if (cmp_figure_is_bytes(f))
        snprintf(buf, len, "%s", rc_format_bytes(s, v));
    else
        snprintf(buf, len, "%" PRIu64, v);
}

static void fmt_delta(char *buf, size_t len, enum cmp_figure f, uint64_t b, uint64_t a)
{
    char s[RC_SIZE_BUF];
    uint64_t d = a > b ? a - b : b - a;
    const char *sign = a > b ? "+" : a < b ? "-" : "";
    if (cmp_figure_is_bytes(f))
        snprintf(buf, len, "%s%s (%+.1f%%)", sign, rc_format_bytes(s, d), pct_change(b, a));
    else
        snprintf(buf, len, "%s%" PRIu64 " (%+.1f%%)", sign, d, pct_change(b, a));
}

int diff_lists_make(const struct cmp_result *r, enum cmp_figure by, size_t top,
                    struct diff_lists *l)
{
    size_t *order = NULL;
    memset(l, 0, sizeof(*l));
    int rc = cmp_rank(r, by, &order);
    if (rc < 0)
        return rc;
    size_t cap = r->n ? r->n : 1;
    l->changed = malloc(cap * sizeof(size_t));
    l->added = malloc(cap * sizeof(size_t));
    l->gone = malloc(cap * sizeof(size_t));
    if (!l->changed || !l->added || !l->gone) {
        free(order);
        return -ENOMEM;
    }
    for (size_t i = 0; i < r->n; i++) {
        const struct cmp_entry *e = &r->entries[order[i]];
        if (e->in_before && e->in_after) {
            if (cmp_site_value(&e->before, by) == cmp_site_value(&e->after, by))
                continue;
            l->all_changed++;
            if (l->n_changed < top)
                l->changed[l->n_changed++] = order[i];
        } else if (e->in_after) {
            l->all_added++;
            if (l->n_added < top)
                l->added[l->n_added++] = order[i];
        } else {
            l->all_gone++;
            if (l->n_gone < top)
                l->gone[l->n_gone++] = order[i];
        }
    }
    free(order);
    return 0;
}

void diff_lists_free(struct diff_lists *l)
{
    free(l->changed);
    free(l->added);
    free(l->gone);
}

/* Print the stack of entry e, from the run it occurs in (after if both). */
static int text_stack(FILE *out, const struct diff_input *in, const struct cmp_entry *e,
                      const char *indent)
{
    const struct rc_source *src = e->in_after ? in->after.src : in->before.src;
    uint32_t id = e->in_after ? e->stack_after : e->stack_before;
    struct rc_stack st = {0};
    int rc = rc_stack_resolve(src, id, 0, DIFF_FRAMES, &st);
    if (rc < 0)
        return rc;
    if (st.n == 0)
        fprintf(out, "%s<no stack recorded>\n", indent);
    for (size_t i = 0; i < st.n; i++) {
        const struct rc_frame *f = &st.frames[i];
        if (f->n == 0)
            fprintf(out, "%s0x%" PRIx64 "\n", indent, f->address);
        for (size_t j = 0; j < f->n; j++) {
            fputs(indent, out);
            rc_print_location(out, &f->locs[j]);
            fputs(f->locs[j].inlined ? " [inlined]\n" : "\n", out);
        }
    }
    if (st.more)
        fprintf(out, "%s... %zu more frames\n", indent, st.more);
    rc_stack_fini(&st);
    return 0;
}

static int text_list(FILE *out, const struct diff_input *in, const struct cmp_result *r,
                     const char *title, const size_t *idx, size_t n, size_t all, int md)
{
    char b[64], a[64], d[96];
    int rc = 0;

    if (md)
        fprintf(out, "### %s (%zu)\n\n", title, all);
    else if (all == 0)
        fprintf(out, "\n%s: none\n", title);
    else
        fprintf(out, "\n%s (%zu%s)\n", title, all, n < all ? ", the first shown" : "");
    if (all == 0 && md)
        fputs("None.\n\n", out);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct cmp_entry *e = &r->entries[idx[i]];
        enum cmp_figure by = in->by;
        fmt_value(b, sizeof(b), by, cmp_site_value(&e->before, by));
        fmt_value(a, sizeof(a), by, cmp_site_value(&e->after, by));
        fmt_delta(d, sizeof(d), by, cmp_site_value(&e->before, by), cmp_site_value(&e->after, by));
        if (md)
            fprintf(out, "%zu. %s: %s → %s (%s); allocations %" PRIu64 " → %" PRIu64 "\n\n```\n",
                    i + 1, cmp_figure_title(by), b, a, d, e->before.allocations,
                    e->after.allocations);
        else
            fprintf(out, "  #%zu  %s: %s -> %s, %s; allocations %" PRIu64 " -> %" PRIu64 "\n",
                    i + 1, cmp_figure_title(by), b, a, d, e->before.allocations,
                    e->after.allocations);
        rc = text_stack(out, in, e, md ? "" : "        ");
        if (md)
            fputs("```\n\n", out);
    }
    return rc;
}

static void text_totals(FILE *out, const struct diff_input *in, int md)
{
    char b[64], a[64], d[96];
    if (md)
        fputs("| figure | before | after | change |\n|---|---:|---:|---:|\n", out);
    else
        fprintf(out, "  %-22s %18s %18s   %s\n", "", "before", "after", "change");
    for (int f = 0; f < CMP_FIGURES_; f++) {
        uint64_t vb = cmp_total(in->before.a, (enum cmp_figure)f);
        uint64_t va = cmp_total(in->after.a, (enum cmp_figure)f);
        fmt_value(b, sizeof(b), (enum cmp_figure)f, vb);
        fmt_value(a, sizeof(a), (enum cmp_figure)f, va);
        fmt_delta(d, sizeof(d), (enum cmp_figure)f, vb, va);
        if (md)
            fprintf(out, "| %s | %s | %s | %s |\n", cmp_figure_title((enum cmp_figure)f), b, a, d);
        else
            fprintf(out, "  %-22s %18s %18s   %s\n", cmp_figure_title((enum cmp_figure)f), b, a, d);
    }
    double rb = rc_rate_per_s(in->before.a->totals.allocations, in->before.a->totals.duration_ns);
    double ra = rc_rate_per_s(in->after.a->totals.allocations, in->after.a->totals.duration_ns);
    if (md)
        fprintf(out, "| allocation rate (/s) | %.0f | %.0f | %+.1f%% |\n\n", rb, ra,
                rb > 0 ? 100.0 * (ra - rb) / rb : 0.0);
    else
        fprintf(out, "  %-22s %18.0f %18.0f   %+.1f%%\n", "allocation rate (/s)", rb, ra,
                rb > 0 ? 100.0 * (ra - rb) / rb : 0.0);
}

static int render_text_or_md(FILE *out, const struct diff_input *in, const struct cmp_result *r,
                             int md)
{
    struct diff_lists l;
    int rc = diff_lists_make(r, in->by, in->top, &l);
    if (rc < 0) {
        diff_lists_free(&l);
        return rc;
    }
    if (md)
        fprintf(out, "## Before and after\n\nBefore: `%s`; after: `%s`.\n\n", in->before.label,
                in->after.label);
    else
        fprintf(out, "memaudit diff: %s -> %s\n\n", in->before.label, in->after.label);
    text_totals(out, in, md);
    char title[128];
    snprintf(title, sizeof(title), "Sites that changed most (by %s)", cmp_figure_title(in->by));
    rc = text_list(out, in, r, title, l.changed, l.n_changed, l.all_changed, md);
    if (rc == 0)
        rc = text_list(out, in, r, "New sites", l.added, l.n_added, l.all_added, md);
    if (rc == 0)
        rc = text_list(out, in, r, "Vanished sites", l.gone, l.n_gone, l.all_gone, md);
    diff_lists_free(&l);
    if (rc == 0 && (fflush(out) != 0 || ferror(out)))
        rc = -EIO;
    return rc;
}

/* ---- JSON ---- */

static int json_stack(cJSON *obj, const struct rc_source *src, uint32_t id)
{
    struct rc_stack st = {0};
    cJSON *arr = cJSON_AddArrayToObject(obj, "stack");
    int rc = arr ? rc_stack_resolve(src, id, 0, RC_JSON_FRAMES, &st) : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < st.n; i++) {
        const struct rc_frame *f = &st.frames[i];
        for (size_t j = 0; rc == 0 && j < (f->n ? f->n : 1); j++) {
            cJSON *fr = cJSON_CreateObject();
            if (fr == NULL || !cJSON_AddItemToArray(arr, fr)) {
                cJSON_Delete(fr);
                rc = -ENOMEM;
                break;
            }
            const struct sym_location *loc = f->n ? &f->locs[j] : NULL;
            const char *fn = loc ? (loc->function ? loc->function : loc->raw_name) : NULL;
            int bad = 0;
            bad |= (fn ? cJSON_AddStringToObject(fr, "function", fn)
                       : cJSON_AddNullToObject(fr, "function")) == NULL;
            bad |= (loc && loc->file ? cJSON_AddStringToObject(fr, "file", loc->file)
                                     : cJSON_AddNullToObject(fr, "file")) == NULL;
            bad |= cJSON_AddNumberToObject(fr, "line", loc && loc->line > 0 ? loc->line : 0) == NULL;
            bad |= cJSON_AddBoolToObject(fr, "inlined", loc && loc->inlined) == NULL;
            if (bad)
                rc = -ENOMEM;
        }
    }
    rc_stack_fini(&st);
    return rc;
}

static int json_entries(cJSON *root, const char *name, const struct diff_input *in,
                        const struct cmp_result *r, const size_t *idx, size_t n)
{
    cJSON *arr = cJSON_AddArrayToObject(root, name);
    if (arr == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct cmp_entry *e = &r->entries[idx[i]];
        cJSON *o = cJSON_CreateObject();
        if (o == NULL || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            return -ENOMEM;
        }
        cJSON *b = cJSON_AddObjectToObject(o, "before"), *a = cJSON_AddObjectToObject(o, "after");
        if (b == NULL || a == NULL || cJSON_AddStringToObject(o, "key", e->key) == NULL)
            return -ENOMEM;
        for (int f = 0; f < CMP_FIGURES_; f++) {
            const char *k = cmp_figure_name((enum cmp_figure)f);
            if (cJSON_AddNumberToObject(b, k, (double)cmp_site_value(&e->before, f)) == NULL ||
                cJSON_AddNumberToObject(a, k, (double)cmp_site_value(&e->after, f)) == NULL)
                return -ENOMEM;
        }
        int rc = json_stack(o, e->in_after ? in->after.src : in->before.src,
                            e->in_after ? e->stack_after : e->stack_before);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int render_json_diff(FILE *out, const struct diff_input *in, const struct cmp_result *r)
{
    struct diff_lists l;
    cJSON *root = cJSON_CreateObject();
    int rc = diff_lists_make(r, in->by, in->top, &l);
    if (rc == 0 && root == NULL)
        rc = -ENOMEM;
    cJSON *totals = root ? cJSON_AddObjectToObject(root, "totals") : NULL;
    if (rc == 0 && (totals == NULL || cJSON_AddNumberToObject(root, "format_version", 1) == NULL ||
                    cJSON_AddStringToObject(root, "before", in->before.label) == NULL ||
                    cJSON_AddStringToObject(root, "after", in->after.label) == NULL ||
                    cJSON_AddStringToObject(root, "by", cmp_figure_name(in->by)) == NULL))
        rc = -ENOMEM;
    for (int f = 0; rc == 0 && f < CMP_FIGURES_; f++) {
        uint64_t vb = cmp_total(in->before.a, (enum cmp_figure)f);
        uint64_t va = cmp_total(in->after.a, (enum cmp_figure)f);
        cJSON *o = cJSON_AddObjectToObject(totals, cmp_figure_name((enum cmp_figure)f));
        if (o == NULL || cJSON_AddNumberToObject(o, "before", (double)vb) == NULL ||
            cJSON_AddNumberToObject(o, "after", (double)va) == NULL ||
            cJSON_AddNumberToObject(o, "change", (double)va - (double)vb) == NULL ||
            cJSON_AddNumberToObject(o, "change_pct", pct_change(vb, va)) == NULL)
            rc = -ENOMEM;
    }
    if (rc == 0)
        rc = json_entries(root, "changed", in, r, l.changed, l.n_changed);
    if (rc == 0)
        rc = json_entries(root, "new", in, r, l.added, l.n_added);
    if (rc == 0)
        rc = json_entries(root, "vanished", in, r, l.gone, l.n_gone);
    diff_lists_free(&l);
    char *text = rc == 0 ? cJSON_PrintBuffered(root, 1 << 16, 1) : NULL;
    if (rc == 0 && text == NULL)
        rc = -ENOMEM;
    if (rc == 0 && (fputs(text, out) == EOF || fputc('\n', out) == EOF || fflush(out) != 0))
        rc = -EIO;
    cJSON_free(text);
    cJSON_Delete(root);
    return rc;
}

int render_diff(FILE *out, const struct diff_input *in, const char *format)
{
    struct cmp_result r;
    int rc = cmp_match(&in->before, &in->after, &r);
    if (rc < 0)
        return rc;
    if (strcmp(format, "json") == 0)
        rc = render_json_diff(out, in, &r);
    else if (strcmp(format, "html") == 0)
        rc = render_diff_html(out, in, &r);
    else
        rc = render_text_or_md(out, in, &r, strcmp(format, "md") == 0);
    cmp_free(&r);
    return rc;
}
