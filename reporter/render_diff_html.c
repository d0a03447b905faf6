/* render_diff_html.c — memaudit diff --format html: two runs on one
 * self-contained page.
 *
 * The page is the report's script and style (render_html.c writes it) around
 * the diff skeleton (reporter/html/diff.html), with one JSON blob: both runs'
 * processes and totals, the differential call tree (calltree.h,
 * ct_build_diff: the stacks of both runs merged by frame, before's weights in
 * tree.before, after's in tree.w, pruned as the report's tree) and the
 * changed, new and vanished sites of compare.h, each row linked to its node.
 * The script draws the tree as a differential flame graph (report.js,
 * diffMode). Names only travel in the blob, escaped as in the report. */
#include "render_diff.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "calltree.h"
#include "render_html.h"

#define DIFF_HTML_FORMAT_VERSION 1
#define DIFF_HTML_ROWS 200u   /* rows per list unless --top asks for more */
#define DIFF_HTML_FRAMES 16u  /* frames per stack shown with a row */

/* cJSON helpers that fold every failure into one flag. */
static void put_num(cJSON *obj, const char *key, double v, int *err)
{
    if (cJSON_AddNumberToObject(obj, key, v) == NULL)
        *err = -ENOMEM;
}

static void put_str(cJSON *obj, const char *key, const char *s, int *err)
{
    if ((s != NULL ? cJSON_AddStringToObject(obj, key, s) : cJSON_AddNullToObject(obj, key)) ==
        NULL)
        *err = -ENOMEM;
}

static cJSON *put_obj(cJSON *parent, const char *key, int *err)
{
    cJSON *o = cJSON_AddObjectToObject(parent, key);
    if (o == NULL)
        *err = -ENOMEM;
    return o;
}

/* "before"/"after": {label, exe, cmdline, pid, complete, duration_ns}. */
static int add_run(cJSON *root, const char *key, const struct cmp_run *run)
{
    const struct rc_process *p = &run->src->process;
    int err = 0;
    cJSON *o = put_obj(root, key, &err);

    if (o == NULL)
        return err;
    put_str(o, "label", run->label, &err);
    put_str(o, "exe", p->exe != NULL && p->exe[0] != '\0' ? p->exe : NULL, &err);
    put_str(o, "cmdline", p->cmdline != NULL && p->cmdline[0] != '\0' ? p->cmdline : NULL, &err);
    put_num(o, "pid", p->pid, &err);
    if (cJSON_AddBoolToObject(o, "complete", p->complete != 0) == NULL)
        err = -ENOMEM;
    put_num(o, "duration_ns", (double)run->a->totals.duration_ns, &err);
    return err;
}

/* "totals": [{figure, title, bytes, before, after}], the figures of compare.h. */
static int add_totals(cJSON *root, const struct diff_input *in)
{
    cJSON *arr = cJSON_AddArrayToObject(root, "totals");
    int err = arr == NULL ? -ENOMEM : 0;

    for (int f = 0; f < CMP_FIGURES_ && err == 0; f++) {
        cJSON *o = cJSON_CreateObject();
        if (o == NULL || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            return -ENOMEM;
        }
        put_str(o, "figure", cmp_figure_name((enum cmp_figure)f), &err);
        put_str(o, "title", cmp_figure_title((enum cmp_figure)f), &err);
        if (cJSON_AddBoolToObject(o, "bytes", cmp_figure_is_bytes((enum cmp_figure)f)) == NULL)
            err = -ENOMEM;
        put_num(o, "before", (double)cmp_total(in->before.a, (enum cmp_figure)f), &err);
        put_num(o, "after", (double)cmp_total(in->after.a, (enum cmp_figure)f), &err);
    }
    return err;
}

/* "stack": the entry's first frames as text, from the run it occurs in. */
static int add_stack(cJSON *obj, const struct rc_source *src, uint32_t id)
{
    struct rc_stack st = {0};
    cJSON *arr = cJSON_AddArrayToObject(obj, "stack");
    int rc = arr == NULL ? -ENOMEM : rc_stack_resolve(src, id, 0, DIFF_HTML_FRAMES, &st);

    for (size_t i = 0; i < st.n && rc == 0; i++) {
        const struct rc_frame *f = &st.frames[i];
        for (size_t j = 0; j < (f->n ? f->n : 1) && rc == 0; j++) {
            char *text = NULL;
            size_t len = 0;
            FILE *m = open_memstream(&text, &len);
            if (m == NULL) {
                rc = -ENOMEM;
                break;
            }
            if (f->n != 0)
                rc_print_location(m, &f->locs[j]);
            else
                fprintf(m, "0x%" PRIx64, f->address);
            if (fclose(m) != 0 || !cJSON_AddItemToArray(arr, cJSON_CreateString(text)))
                rc = -ENOMEM;
            free(text);
        }
    }
    if (rc == 0 && st.more != 0) {
        char buf[64];
        snprintf(buf, sizeof(buf), "... %zu more frames", st.more);
        if (!cJSON_AddItemToArray(arr, cJSON_CreateString(buf)))
            rc = -ENOMEM;
    }
    rc_stack_fini(&st);
    return rc;
}

/* One list: {rows: [{before: {figure: v}, after: {...}, stack, node}], total}. */
static int add_list(cJSON *root, const char *name, const struct diff_input *in,
                    const struct cmp_result *r, const struct html_tree *h, const size_t *idx,
                    size_t n, size_t total)
{
    int err = 0;
    cJSON *list = put_obj(root, name, &err);
    cJSON *rows = list != NULL ? cJSON_AddArrayToObject(list, "rows") : NULL;

    if (rows == NULL)
        return -ENOMEM;
    put_num(list, "total", (double)total, &err);
    for (size_t i = 0; i < n && err == 0; i++) {
        const struct cmp_entry *e = &r->entries[idx[i]];
        cJSON *row = cJSON_CreateObject();
        if (row == NULL || !cJSON_AddItemToArray(rows, row)) {
            cJSON_Delete(row);
            return -ENOMEM;
        }
        cJSON *b = put_obj(row, "before", &err), *a = put_obj(row, "after", &err);
        for (int f = 0; f < CMP_FIGURES_ && err == 0; f++) {
            put_num(b, cmp_figure_name((enum cmp_figure)f),
                    (double)cmp_site_value(&e->before, (enum cmp_figure)f), &err);
            put_num(a, cmp_figure_name((enum cmp_figure)f),
                    (double)cmp_site_value(&e->after, (enum cmp_figure)f), &err);
        }
        /* The node of the run it occurs in: after's when in both. */
        put_num(row, "node",
                e->in_after ? html_tree_site_node(h, e->stack_after, 0)
                            : html_tree_site_node(h, e->stack_before, 1),
                &err);
        if (err == 0)
            err = add_stack(row, e->in_after ? in->after.src : in->before.src,
                            e->in_after ? e->stack_after : e->stack_before);
    }
    return err;
}

static cJSON *build_data(const struct diff_input *in, const struct cmp_result *r, int *rc)
{
    size_t rows = in->top > DIFF_HTML_ROWS ? in->top : DIFF_HTML_ROWS;
    struct html_tree h;
    struct diff_lists l;
    cJSON *root = cJSON_CreateObject();
    int err = root == NULL ? -ENOMEM : 0;

    memset(&h, 0, sizeof(h));
    memset(&l, 0, sizeof(l));
    if (err == 0)
        err = ct_build_diff(&h.ct, in->before.a, in->before.src, in->after.a, in->after.src, 0);
    if (err == 0)
        err = html_tree_prune(&h);
    if (err == 0)
        err = diff_lists_make(r, in->by, rows, &l);
    if (err == 0) {
        put_num(root, "format_version", DIFF_HTML_FORMAT_VERSION, &err);
        put_str(root, "kind", "diff", &err);
        put_str(root, "by", cmp_figure_name(in->by), &err);
    }
    if (err == 0)
        err = add_run(root, "before", &in->before);
    if (err == 0)
        err = add_run(root, "after", &in->after);
    if (err == 0)
        err = add_totals(root, in);
    if (err == 0)
        err = add_list(root, "changed", in, r, &h, l.changed, l.n_changed, l.all_changed);
    if (err == 0)
        err = add_list(root, "new", in, r, &h, l.added, l.n_added, l.all_added);
    if (err == 0)
        err = add_list(root, "vanished", in, r, &h, l.gone, l.n_gone, l.all_gone);
    /* The tree last: html_add_tree interns locations into the labels. */
    if (err == 0)
        err = html_add_tree(root, &h);
    diff_lists_free(&l);
    free(h.index);
    ct_fini(&h.ct);
    if (err < 0) {
        cJSON_Delete(root);
        *rc = err;
        return NULL;
    }
    *rc = 0;
    return root;
}

int render_diff_html(FILE *out, const struct diff_input *in, const struct cmp_result *r)
{
    int rc;
    cJSON *root = build_data(in, r, &rc);

    if (root == NULL)
        return rc;
    return html_write_page(out, root, 1);
}
