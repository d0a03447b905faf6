/* test_render_html.c — unit tests of the HTML page (render_html.c), the call
 * tree (calltree.c) and folded stacks (render_folded.c).
 *
 * The renderers see only a struct analysis and a struct rc_source, so these
 * tests make both by hand: a few sites whose stacks are fake symbolized
 * frames, among them names no compiler would produce but a hostile or
 * damaged profile could carry ("<script>...", "</script><img onerror=...>",
 * "a;b" for the folded separator). They check that the page holds exactly its
 * own two script elements, that every such name survives, escaped, in the
 * JSON and parses back to the same text, that the tree's weights add up, and
 * that a call tree of 100000 paths is pruned to the page's budget with the
 * pruned weight accounted for.
 *
 * With MEMAUDIT_TEST_HTML_OUT=FILE set, the hostile page is also written to
 * FILE, and with MEMAUDIT_TEST_HTML_LARGE_OUT=FILE the large one:
 * tests/integration/browser.sh opens them in Chromium. */
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
#include "render.h"
#include "render_common.h"
#include "symbolizer.h"

#define HOSTILE_FN "<script>window.__memaudit_pwned=1</script>"
#define HOSTILE_FILE "</script><img src=x onerror=\"window.__memaudit_pwned=2\">.c"
#define HOSTILE_FN2 "a&b<!--<svg onload=window.__memaudit_pwned=3>"
#define SEMI_FN "helper;with;semicolons"

/* ---- a fake source: stacks of fixed locations, innermost first ---- */

struct fake_stack {
    size_t depth;
    struct sym_location locs[4];
};

static struct sym_location loc_fn(const char *fn, const char *file, int line)
{
    struct sym_location l = {0};
    l.function = fn;
    l.file = file;
    l.line = line;
    l.module = "/usr/bin/victim";
    l.module_offset = 0x1000u + (uint64_t)line;
    l.address = 0x401000u + (uint64_t)line;
    return l;
}

struct fake {
    struct fake_stack *stacks; /* [n], indexed by stack id */
    size_t n;
};

static int fake_depth(const struct rc_source *src, uint32_t id, uint32_t *depth)
{
    const struct fake *f = src->data;
    if (id == 0 || id >= f->n)
        return 0;
    *depth = (uint32_t)f->stacks[id].depth;
    return 1;
}

static struct rc_frame fake_frame(const struct rc_source *src, uint32_t id, uint32_t i)
{
    const struct fake *f = src->data;
    struct rc_frame fr = {&f->stacks[id].locs[i], 1, f->stacks[id].locs[i].address};
    return fr;
}

static void fake_source(struct rc_source *src, const struct fake *f)
{
    memset(src, 0, sizeof(*src));
    src->process.pid = 42;
    src->process.ppid = 1;
    src->process.exe = "/usr/bin/<b>victim</b>";
    src->process.cmdline = "victim </script><script>window.__memaudit_pwned=4</script>";
    src->process.complete = 1;
    src->process.exit_status = 0;
    src->stack_depth = fake_depth;
    src->frame = fake_frame;
    src->data = f;
}

/* Sites 1..3 over the stacks below; totals are their sums. */
static struct fake_stack small_stacks[4];
static struct an_site small_sites[4];

static void small_profile(struct analysis *a, struct fake *f)
{
    memset(small_stacks, 0, sizeof(small_stacks));
    memset(small_sites, 0, sizeof(small_sites));
    small_stacks[1].depth = 2;
    small_stacks[1].locs[0] = loc_fn(HOSTILE_FN, HOSTILE_FILE, 7);
    small_stacks[1].locs[1] = loc_fn("main", "main.c", 20);
    small_stacks[2].depth = 2;
    small_stacks[2].locs[0] = loc_fn(HOSTILE_FN2, "x.c", 3);
    small_stacks[2].locs[1] = loc_fn("main", "main.c", 21);
    small_stacks[3].depth = 2;
    small_stacks[3].locs[0] = loc_fn(SEMI_FN, "y.c", 5);
    small_stacks[3].locs[1] = loc_fn("main", "main.c", 22);

    uint64_t allocs[4] = {0, 5, 7, 11}, bytes[4] = {0, 500, 700, 1100};
    uint64_t live[4] = {0, 100, 0, 30};
    memset(a, 0, sizeof(*a));
    for (uint32_t i = 1; i < 4; i++) {
        struct an_site *s = &small_sites[i];
        s->stack = i;
        s->allocations = allocs[i];
        s->bytes_allocated = bytes[i];
        s->frees = allocs[i] - (live[i] != 0);
        s->live_bytes = live[i];
        s->live_blocks = live[i] != 0;
        s->peak_bytes = bytes[i] / 10;
        s->temporary = i;
        s->min_size = s->max_size = 100;
        s->size_classes[an_size_class(100)] = allocs[i];
        a->totals.allocations += allocs[i];
        a->totals.bytes_allocated += bytes[i];
        a->totals.frees += s->frees;
        a->totals.leaked_bytes += live[i];
        a->totals.leaked_blocks += s->live_blocks;
        a->totals.peak_heap_bytes += s->peak_bytes;
        a->totals.temporary_allocations += i;
    }
    a->totals.duration_ns = 1000000;
    a->sites = small_sites;
    a->n_sites = 4;
    f->stacks = small_stacks;
    f->n = 4;
}

/* Render into a malloc'd string. */
static char *render_to_string(int (*fn)(FILE *, const struct analysis *, const struct rc_source *,
                                        const struct render_opts *),
                              const struct analysis *a, const struct rc_source *src,
                              const struct render_opts *o)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);

    assert_non_null(m);
    assert_int_equal(fn(m, a, src, o), 0);
    assert_int_equal(fclose(m), 0);
    return buf;
}

static int folded_weight;

static int render_folded_weighted(FILE *out, const struct analysis *a,
                                  const struct rc_source *src, const struct render_opts *o)
{
    return render_folded(out, a, src, o, folded_weight);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* The data blob of a page, parsed. */
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

/* Write html to the file named by environment variable var, if set. */
static void save_page(const char *var, const char *html)
{
    const char *path = getenv(var);
    if (path == NULL || path[0] == '\0')
        return;
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_true(fputs(html, fp) >= 0);
    assert_int_equal(fclose(fp), 0);
}

static int strings_has(const cJSON *strings, const char *s)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, strings)
    {
        if (cJSON_IsString(it) && strcmp(it->valuestring, s) == 0)
            return 1;
    }
    return 0;
}

static void test_html_hostile_names_stay_text(void **state)
{
    struct analysis a;
    struct fake f;
    struct rc_source src;
    struct render_opts o = {.top = 10, .max_frames = 12, .all_frames = 0};
    (void)state;

    small_profile(&a, &f);
    fake_source(&src, &f);
    char *html = render_to_string(render_html, &a, &src, &o);

    /* Exactly the page's own two script elements, opened and closed. */
    assert_int_equal(count(html, "<script"), 2);
    assert_int_equal(count(html, "</script>"), 2);
    assert_null(strstr(html, "<img"));
    assert_null(strstr(html, "<svg"));
    assert_null(strstr(html, "<!--"));
    assert_null(strstr(html, "<b>"));
    assert_non_null(strstr(html, "\\u003cscript\\u003ewindow.__memaudit_pwned=1\\u003c/script\\u003e"));
    /* No network: no URL but SVG's namespace name, and a policy that forbids fetching. */
    assert_int_equal(count(html, "http://"), count(html, "http://www.w3.org/2000/svg"));
    assert_null(strstr(html, "https://"));
    assert_non_null(strstr(html, "Content-Security-Policy"));

    /* The escaped names parse back to the very same text. */
    cJSON *data = page_data(html);
    const cJSON *tree = cJSON_GetObjectItem(data, "tree");
    const cJSON *strings = cJSON_GetObjectItem(tree, "strings");
    assert_true(strings_has(strings, HOSTILE_FN));
    assert_true(strings_has(strings, HOSTILE_FN2));
    assert_true(strings_has(strings, HOSTILE_FILE ":7"));
    const cJSON *proc = cJSON_GetObjectItem(data, "process");
    assert_string_equal(cJSON_GetObjectItem(proc, "cmdline")->valuestring,
                        "victim </script><script>window.__memaudit_pwned=4</script>");

    /* all -> main -> three leaves; weights add up to the totals. */
    const cJSON *parent = cJSON_GetObjectItem(tree, "parent");
    const cJSON *w = cJSON_GetObjectItem(tree, "w");
    assert_int_equal(cJSON_GetArraySize(parent), 5);
    assert_int_equal(cJSON_GetArraySize(w), CT_WEIGHTS);
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetArrayItem(w, CT_ALLOCATIONS), 0)->valuedouble,
                     a.totals.allocations);
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetArrayItem(w, CT_BYTES), 1)->valuedouble,
                     a.totals.bytes_allocated);
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetArrayItem(w, CT_LEAKED), 0)->valuedouble,
                     a.totals.leaked_bytes);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(data, "pruned"), "nodes")->valueint,
                     0);
    /* Each leak row points at its leaf in the tree. */
    const cJSON *leaks = cJSON_GetObjectItem(cJSON_GetObjectItem(data, "leaks"), "rows");
    assert_int_equal(cJSON_GetArraySize(leaks), 2);
    int node = cJSON_GetObjectItem(cJSON_GetArrayItem(leaks, 0), "node")->valueint;
    const cJSON *names = cJSON_GetObjectItem(tree, "name");
    int label = cJSON_GetArrayItem(names, node)->valueint;
    assert_string_equal(cJSON_GetArrayItem(strings, label)->valuestring, HOSTILE_FN);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(data, "timeline")));

    save_page("MEMAUDIT_TEST_HTML_OUT", html);
    cJSON_Delete(data);
    free(html);
}

static void test_folded_lines(void **state)
{
    struct analysis a;
    struct fake f;
    struct rc_source src;
    struct render_opts o = {.top = 10, .max_frames = 12, .all_frames = 0};
    (void)state;

    small_profile(&a, &f);
    fake_source(&src, &f);
    folded_weight = CT_ALLOCATIONS;
    char *text = render_to_string(render_folded_weighted, &a, &src, &o);
    assert_string_equal(text, "main;" HOSTILE_FN " 5\n"
                              "main;" HOSTILE_FN2 " 7\n"
                              "main;helper:with:semicolons 11\n");
    free(text);

    folded_weight = CT_LEAKED; /* sites without leaks have no line */
    text = render_to_string(render_folded_weighted, &a, &src, &o);
    assert_string_equal(text, "main;" HOSTILE_FN " 100\nmain;helper:with:semicolons 30\n");
    free(text);
    assert_int_equal(ct_weight_parse("temporary"), CT_TEMPORARY);
    assert_int_equal(ct_weight_parse("nonsense"), -1);
}

/* 100000 sites, each main -> group_G -> leaf_I: more nodes than a page keeps. */
#define MANY 100000u

static void test_html_prunes_large_trees(void **state)
{
    struct fake_stack *stacks = calloc(MANY + 1, sizeof(*stacks));
    struct an_site *sites = calloc(MANY + 1, sizeof(*sites));
    char (*names)[32] = calloc(MANY + 100, sizeof(*names));
    struct analysis a;
    struct fake f = {stacks, MANY + 1};
    struct rc_source src;
    struct render_opts o = {.top = 10, .max_frames = 12, .all_frames = 0};
    (void)state;

    assert_non_null(stacks);
    assert_non_null(sites);
    assert_non_null(names);
    memset(&a, 0, sizeof(a));
    for (uint32_t g = 0; g < 100; g++)
        snprintf(names[MANY + g], sizeof(names[0]), "group_%u", g);
    for (uint32_t i = 1; i <= MANY; i++) {
        snprintf(names[i], sizeof(names[0]), "leaf_%u", i);
        stacks[i].depth = 3;
        stacks[i].locs[0] = loc_fn(names[i], "leaf.c", (int)i);
        stacks[i].locs[1] = loc_fn(names[MANY + i % 100], "group.c", 1);
        stacks[i].locs[2] = loc_fn("main", "main.c", 1);
        sites[i].stack = i;
        /* One site in 1000 is large, the rest of 1 to 200 allocations. */
        sites[i].allocations = i % 1000 == 0 ? 100000 : 1 + (i * 7919u) % 200;
        sites[i].bytes_allocated = sites[i].allocations * 16;
        sites[i].frees = sites[i].allocations;
        a.totals.allocations += sites[i].allocations;
        a.totals.bytes_allocated += sites[i].bytes_allocated;
    }
    a.sites = sites;
    a.n_sites = MANY + 1;
    fake_source(&src, &f);

    char *html = render_to_string(render_html, &a, &src, &o);
    cJSON *data = page_data(html);
    const cJSON *tree = cJSON_GetObjectItem(data, "tree");
    const cJSON *pruned = cJSON_GetObjectItem(data, "pruned");
    int kept = cJSON_GetArraySize(cJSON_GetObjectItem(tree, "parent"));
    int pruned_nodes = cJSON_GetObjectItem(pruned, "nodes")->valueint;
    assert_true(kept <= 25000);
    assert_true(kept > 100); /* the root, main, 100 groups and the large leaves */
    assert_int_equal(kept + pruned_nodes, 1 + 1 + 100 + MANY);
    assert_true(cJSON_GetObjectItem(pruned, "share")->valuedouble > 0);
    /* The pruned leaves' weight is what the kept leaves lack. */
    const cJSON *allocs = cJSON_GetArrayItem(cJSON_GetObjectItem(tree, "w"), CT_ALLOCATIONS);
    const cJSON *parent = cJSON_GetObjectItem(tree, "parent");
    int *depth = calloc((size_t)kept, sizeof(int));
    double leaves = 0;
    assert_non_null(depth);
    for (int i = 1; i < kept; i++) {
        depth[i] = depth[cJSON_GetArrayItem(parent, i)->valueint] + 1;
        if (depth[i] == 3)
            leaves += cJSON_GetArrayItem(allocs, i)->valuedouble;
    }
    free(depth);
    double pruned_allocs = cJSON_GetArrayItem(cJSON_GetObjectItem(pruned, "w"), CT_ALLOCATIONS)
                               ->valuedouble;
    assert_true(pruned_allocs > 0);
    assert_true(leaves + pruned_allocs == (double)a.totals.allocations);
    assert_true(pruned_allocs < (double)a.totals.allocations / 2);
    assert_true(kept > 20000); /* pruned to the budget, not far below it */
    /* Every large site is still there. */
    const cJSON *strings = cJSON_GetObjectItem(tree, "strings");
    assert_true(strings_has(strings, "leaf_1000"));
    assert_true(strings_has(strings, "leaf_100000"));
    assert_int_equal(cJSON_GetArrayItem(allocs, 0)->valuedouble, a.totals.allocations);

    save_page("MEMAUDIT_TEST_HTML_LARGE_OUT", html);
    cJSON_Delete(data);
    free(html);
    free(stacks);
    free(sites);
    free(names);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_html_hostile_names_stay_text),
        cmocka_unit_test(test_folded_lines),
        cmocka_unit_test(test_html_prunes_large_trees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
