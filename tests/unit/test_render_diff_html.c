/* test_render_diff_html.c — unit tests of memaudit diff's HTML page
 * (render_diff_html.c) and the two-run call tree it draws (calltree.c,
 * ct_build_diff).
 *
 * Two hand-made runs of a "rebuilt" program: the same functions at other
 * lines and addresses, in a module at another path with the same base name,
 * so that frames merge by function and module; one site grows, one shrinks,
 * one vanishes and one is new, and a function of the same name in another
 * module stays a frame of its own. Names no compiler would produce
 * ("<script>...", "</script><img onerror=...>") check the page's escaping.
 *
 * With MEMAUDIT_TEST_DIFF_HTML_OUT=FILE set the page is also written to FILE:
 * tests/integration/browser.sh opens it in Chromium, where its self-test must
 * find red and blue frames and the hostile names as text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "calltree.h"
#include "compare.h"
#include "render_common.h"
#include "render_diff.h"
#include "symbolizer.h"

#define HOSTILE_FN "<script>window.__memaudit_pwned=1</script>"
#define HOSTILE_FILE "</script><img src=x onerror=\"window.__memaudit_pwned=2\">.c"
#define HOSTILE_FN2 "a&b<!--<svg onload=window.__memaudit_pwned=3>"

struct fake_stack {
    size_t depth;
    struct sym_location locs[3];
};

struct run {
    struct fake_stack stacks[6];
    struct an_site sites[6];
    struct analysis a;
    struct rc_source src;
};

static struct sym_location loc_fn(const char *fn, const char *file, int line, const char *module)
{
    struct sym_location l = {0};
    l.function = fn;
    l.file = file;
    l.line = line;
    l.module = module;
    l.module_offset = 0x1000u + (uint64_t)line;
    l.address = 0x401000u + (uint64_t)line;
    return l;
}

static int fake_depth(const struct rc_source *src, uint32_t id, uint32_t *depth)
{
    const struct run *r = src->data;
    if (id == 0 || id >= 6 || r->stacks[id].depth == 0)
        return 0;
    *depth = (uint32_t)r->stacks[id].depth;
    return 1;
}

static struct rc_frame fake_frame(const struct rc_source *src, uint32_t id, uint32_t i)
{
    const struct run *r = src->data;
    struct rc_frame fr = {&r->stacks[id].locs[i], 1, r->stacks[id].locs[i].address};
    return fr;
}

/* Site id of run r: fn called from main, allocating bytes in allocs blocks. */
static void add_site(struct run *r, uint32_t id, const char *fn, const char *file, int line,
                     const char *module, uint64_t allocs, uint64_t bytes, uint64_t leaked)
{
    struct fake_stack *st = &r->stacks[id];
    struct an_site *s = &r->sites[id];
    st->depth = 2;
    st->locs[0] = loc_fn(fn, file, line, module);
    st->locs[1] = loc_fn("main", "main.c", line + 100, module);
    s->stack = id;
    s->allocations = allocs;
    s->bytes_allocated = bytes;
    s->frees = allocs - (leaked != 0);
    s->live_bytes = leaked;
    s->live_blocks = leaked != 0;
    s->peak_bytes = bytes / 2;
    s->temporary = allocs / 2;
    r->a.totals.allocations += allocs;
    r->a.totals.bytes_allocated += bytes;
    r->a.totals.frees += s->frees;
    r->a.totals.leaked_bytes += leaked;
    r->a.totals.leaked_blocks += s->live_blocks;
    r->a.totals.peak_heap_bytes += s->peak_bytes;
    r->a.totals.temporary_allocations += s->temporary;
}

static void run_init(struct run *r, const char *exe, uint32_t pid)
{
    memset(r, 0, sizeof(*r));
    r->a.sites = r->sites;
    r->a.n_sites = 6;
    r->a.totals.duration_ns = 1000000;
    r->src.process.pid = pid;
    r->src.process.exe = exe;
    r->src.process.cmdline = "victim </script><script>window.__memaudit_pwned=4</script>";
    r->src.process.complete = 1;
    r->src.stack_depth = fake_depth;
    r->src.frame = fake_frame;
    r->src.data = r;
}

static struct run before, after;

/* before: grow 100 B, shrink 500 B, HOSTILE_FN 50 B (vanishes), helper@libone 10 B.
 * after (rebuilt elsewhere, lines moved): grow 300 B, shrink 200 B,
 * HOSTILE_FN2 70 B (new), helper@libtwo 10 B (a new frame: another module). */
static void make_runs(void)
{
    run_init(&before, "/build1/victim", 10);
    add_site(&before, 1, "grow", "g.c", 10, "/build1/victim", 1, 100, 0);
    add_site(&before, 2, "shrink", "s.c", 20, "/build1/victim", 5, 500, 0);
    add_site(&before, 3, HOSTILE_FN, HOSTILE_FILE, 30, "/build1/victim", 1, 50, 50);
    add_site(&before, 4, "helper", "h.c", 40, "/usr/lib/libone.so", 1, 10, 0);
    run_init(&after, "/build2/victim", 20);
    add_site(&after, 1, "shrink", "s.c", 22, "/build2/victim", 2, 200, 0);
    add_site(&after, 2, "grow", "g.c", 12, "/build2/victim", 3, 300, 0);
    add_site(&after, 4, HOSTILE_FN2, "x.c", 5, "/build2/victim", 7, 70, 0);
    add_site(&after, 5, "helper", "h.c", 40, "/usr/lib/libtwo.so", 1, 10, 0);
}

/* The node of t labelled name under parent, or CT_NONE; *count: how many. */
static uint32_t find_node(const struct ct_tree *t, uint32_t parent, const char *name, int *count)
{
    uint32_t found = CT_NONE;
    *count = 0;
    for (uint32_t i = 1; i < t->n_nodes; i++) {
        if (t->nodes[i].parent == parent && strcmp(t->labels[t->nodes[i].label], name) == 0) {
            found = i;
            (*count)++;
        }
    }
    return found;
}

static void test_diff_tree_merges_by_function_and_module(void **state)
{
    struct ct_tree t;
    int count;
    (void)state;

    make_runs();
    assert_int_equal(ct_build_diff(&t, &before.a, &before.src, &after.a, &after.src, 0), 0);
    uint32_t main_node = find_node(&t, CT_ROOT, "main", &count);
    /* main of /build1/victim and /build2/victim is one frame; the helpers'
     * main frames are in other modules, so main appears three times. */
    assert_int_equal(count, 3);
    for (uint32_t i = 1; i < t.n_nodes; i++)
        if (t.nodes[i].parent == CT_ROOT && t.nodes[i].module != CT_NONE &&
            strcmp(t.labels[t.nodes[i].module], "victim") == 0)
            main_node = i;
    assert_int_equal(t.base[main_node][CT_BYTES], 100 + 500 + 50);
    assert_int_equal(t.nodes[main_node].w[CT_BYTES], 300 + 200 + 70);

    uint32_t g = find_node(&t, main_node, "grow", &count);
    assert_int_equal(count, 1);
    assert_int_equal(t.base[g][CT_BYTES], 100);
    assert_int_equal(t.nodes[g].w[CT_BYTES], 300);
    uint32_t s = find_node(&t, main_node, "shrink", &count);
    assert_int_equal(t.base[s][CT_ALLOCATIONS], 5);
    assert_int_equal(t.nodes[s].w[CT_ALLOCATIONS], 2);
    uint32_t gone = find_node(&t, main_node, HOSTILE_FN, &count);
    assert_int_equal(t.base[gone][CT_LEAKED], 50);
    assert_int_equal(t.nodes[gone].w[CT_LEAKED], 0);
    uint32_t added = find_node(&t, main_node, HOSTILE_FN2, &count);
    assert_int_equal(t.base[added][CT_BYTES], 0);
    assert_int_equal(t.nodes[added].w[CT_BYTES], 70);
    /* Each run's sites point at their own leaves. */
    assert_int_equal(t.base_site_node[1], g);
    assert_int_equal(t.site_node[2], g);
    assert_int_equal(t.base_site_node[3], gone);
    assert_int_equal(t.site_node[4], added);
    /* helper of libone and helper of libtwo: two frames, one per run. */
    int helpers = 0;
    for (uint32_t i = 1; i < t.n_nodes; i++) {
        if (strcmp(t.labels[t.nodes[i].label], "helper") != 0)
            continue;
        helpers++;
        assert_int_equal(t.base[i][CT_BYTES] + t.nodes[i].w[CT_BYTES], 10);
    }
    assert_int_equal(helpers, 2);
    assert_int_equal(t.base[CT_ROOT][CT_BYTES], before.a.totals.bytes_allocated);
    assert_int_equal(t.nodes[CT_ROOT].w[CT_BYTES], after.a.totals.bytes_allocated);
    ct_fini(&t);
}

static size_t count_str(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

static cJSON *page_data(const char *html)
{
    const char *open = "<script type=\"application/json\" id=\"memaudit-data\">";
    const char *start = strstr(html, open);
    assert_non_null(start);
    start += strlen(open);
    const char *end = strstr(start, "</script>");
    assert_non_null(end);
    cJSON *data = cJSON_ParseWithLength(start, (size_t)(end - start));
    assert_non_null(data);
    return data;
}

/* The name of the tree node a row of list points at. */
static const char *row_node_name(const cJSON *data, const char *list, int row)
{
    const cJSON *tree = cJSON_GetObjectItem(data, "tree");
    const cJSON *rows = cJSON_GetObjectItem(cJSON_GetObjectItem(data, list), "rows");
    int node = cJSON_GetObjectItem(cJSON_GetArrayItem(rows, row), "node")->valueint;
    assert_true(node > 0);
    int label = cJSON_GetArrayItem(cJSON_GetObjectItem(tree, "name"), node)->valueint;
    return cJSON_GetArrayItem(cJSON_GetObjectItem(tree, "strings"), label)->valuestring;
}

static void test_diff_page(void **state)
{
    struct diff_input in;
    char *html = NULL;
    size_t len = 0;
    (void)state;

    make_runs();
    in.before = (struct cmp_run){"before </script>.profile", &before.a, &before.src};
    in.after = (struct cmp_run){"after.profile", &after.a, &after.src};
    in.by = CMP_BYTES;
    in.top = 10;
    FILE *m = open_memstream(&html, &len);
    assert_non_null(m);
    assert_int_equal(render_diff(m, &in, "html"), 0);
    assert_int_equal(fclose(m), 0);

    /* The page's own two script elements and no markup from a name. */
    assert_int_equal(count_str(html, "<script"), 2);
    assert_int_equal(count_str(html, "</script>"), 2);
    assert_null(strstr(html, "<img"));
    assert_null(strstr(html, "<svg"));
    assert_null(strstr(html, "<!--"));
    assert_non_null(strstr(html, "id=\"diff-totals\""));
    assert_null(strstr(html, "https://"));

    cJSON *data = page_data(html);
    assert_string_equal(cJSON_GetObjectItem(data, "kind")->valuestring, "diff");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(data, "before"), "label")->valuestring,
                        "before </script>.profile");
    const cJSON *tree = cJSON_GetObjectItem(data, "tree");
    int n = cJSON_GetArraySize(cJSON_GetObjectItem(tree, "parent"));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(tree, "before")), CT_WEIGHTS);
    const cJSON *bbytes = cJSON_GetArrayItem(cJSON_GetObjectItem(tree, "before"), CT_BYTES);
    const cJSON *abytes = cJSON_GetArrayItem(cJSON_GetObjectItem(tree, "w"), CT_BYTES);
    assert_int_equal(cJSON_GetArraySize(bbytes), n);
    assert_int_equal(cJSON_GetArrayItem(bbytes, 0)->valueint, 660);
    assert_int_equal(cJSON_GetArrayItem(abytes, 0)->valueint, 580);

    /* changed: shrink (-300) then grow (+200); new: HOSTILE_FN2; vanished: HOSTILE_FN. */
    const cJSON *changed = cJSON_GetObjectItem(cJSON_GetObjectItem(data, "changed"), "rows");
    assert_int_equal(cJSON_GetArraySize(changed), 2);
    assert_string_equal(row_node_name(data, "changed", 0), "shrink");
    assert_string_equal(row_node_name(data, "changed", 1), "grow");
    const cJSON *row = cJSON_GetArrayItem(changed, 1);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(row, "before"), "bytes")->valueint, 100);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(row, "after"), "bytes")->valueint, 300);
    assert_string_equal(row_node_name(data, "new", 0), HOSTILE_FN2);
    assert_string_equal(row_node_name(data, "vanished", 0), HOSTILE_FN);
    const cJSON *stack = cJSON_GetObjectItem(
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(data, "vanished"), "rows"), 0),
        "stack");
    assert_string_equal(cJSON_GetArrayItem(stack, 0)->valuestring,
                        HOSTILE_FN " (" HOSTILE_FILE ":30)");
    const cJSON *totals = cJSON_GetObjectItem(data, "totals");
    assert_int_equal(cJSON_GetArraySize(totals), CMP_FIGURES_);

    const char *path = getenv("MEMAUDIT_TEST_DIFF_HTML_OUT");
    if (path != NULL && path[0] != '\0') {
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        assert_true(fputs(html, fp) >= 0);
        assert_int_equal(fclose(fp), 0);
    }
    cJSON_Delete(data);
    free(html);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diff_tree_merges_by_function_and_module),
        cmocka_unit_test(test_diff_page),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
