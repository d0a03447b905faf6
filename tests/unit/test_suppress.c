/* test_suppress.c — unit tests of the leak suppressions (suppress.c): the
 * template matcher, the file syntax, and sup_apply() on a synthetic analysis
 * whose stacks come from a fake struct rc_source (no trace, no symbolizer).
 *
 * The synthetic run has four sites:
 *   1  leaks 100 bytes in 2 blocks   main <- start, in /opt/app/bin/app, app.c
 *   2  leaks  30 bytes in 1 block    xstrdup (inlined into parse) <- main,
 *                                    in /usr/lib/libfoo.so.1, src/util/str.c
 *   3  leaks   7 bytes in 1 block    the C runtime's (never suppressed)
 *   4  leaks nothing (allocations only) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "analysis.h"
#include "render_common.h"
#include "suppress.h"

static void test_match(void **state)
{
    (void)state;
    /* Unanchored: a substring. */
    assert_true(sup_match("foo", "foo"));
    assert_true(sup_match("foo", "xfoox"));
    assert_false(sup_match("foo", "fo"));
    /* Anchors. */
    assert_true(sup_match("^foo", "foobar"));
    assert_false(sup_match("^foo", "xfoo"));
    assert_true(sup_match("bar$", "foobar"));
    assert_false(sup_match("bar$", "barx"));
    assert_true(sup_match("^foobar$", "foobar"));
    assert_false(sup_match("^foo$", "foofoo"));
    /* '$' after a repeated prefix needs backtracking (LeakSanitizer's own
     * matcher stops at the first "foo"). */
    assert_true(sup_match("foo$", "foofoo"));
    /* Wildcards. */
    assert_true(sup_match("a*c", "xxabbbcyy"));
    assert_true(sup_match("^a*c$", "abcbc"));
    assert_false(sup_match("^a*c$", "abcb"));
    assert_true(sup_match("*", "x"));
    assert_true(sup_match("^*$", "x"));
    assert_true(sup_match("std::vector<*>::push_back", "std::vector<int>::push_back"));
    /* Nothing matches an empty or missing string. */
    assert_false(sup_match("*", ""));
    assert_false(sup_match("x", NULL));
}

static void test_parse(void **state)
{
    (void)state;
    struct sup_list l = {0};
    char err[128];
    const char *ok = "# comment\n\n  leak:foo  \n\tleak:^bar$\nleak:a b";
    assert_int_equal(sup_parse(&l, ok, strlen(ok), err, sizeof(err)), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.rules[0].pattern, "foo");
    assert_int_equal(l.rules[0].line, 3);
    assert_string_equal(l.rules[1].pattern, "^bar$");
    assert_string_equal(l.rules[2].pattern, "a b");
    assert_int_equal(l.rules[2].line, 5);

    const char *bad_type = "leak:x\nrace:y\n";
    assert_int_equal(sup_parse(&l, bad_type, strlen(bad_type), err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "line 2: unknown suppression type 'race' (only leak: is read)");
    const char *no_colon = "leakfoo\n";
    assert_int_equal(sup_parse(&l, no_colon, strlen(no_colon), err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "line 1: expected leak:PATTERN");
    const char *empty = "leak:\n";
    assert_int_equal(sup_parse(&l, empty, strlen(empty), err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "line 1: empty pattern");
    sup_free(&l);
}

/* ---- a fake source: stack id -> frames ---- */

static const struct sym_location loc_main = {"main", "main", "app.c", 10, "/opt/app/bin/app", 0x10,
                                             0x1010, 0};
static const struct sym_location loc_start = {"_start", "_start", NULL, 0, "/opt/app/bin/app",
                                              0x20, 0x1020, 0};
/* One frame with an inlined function: innermost first. */
static const struct sym_location loc_parse[2] = {
    {"xstrdup", "xstrdup", "src/util/str.c", 5, "/usr/lib/libfoo.so.1", 0x30, 0x2030, 1},
    {"parse", "_Z5parsev", "src/parse.c", 40, "/usr/lib/libfoo.so.1", 0x30, 0x2030, 0},
};
static const struct sym_location loc_rt = {"_dl_allocate_tls", NULL, NULL, 0, "/lib/ld.so", 0x40,
                                           0x3040, 0};

static int fake_depth(const struct rc_source *src, uint32_t id, uint32_t *depth)
{
    (void)src;
    static const uint32_t depths[] = {0, 2, 2, 1, 1};
    if (id == 0 || id > 4)
        return 0;
    *depth = depths[id];
    return 1;
}

static struct rc_frame fake_frame(const struct rc_source *src, uint32_t id, uint32_t i)
{
    (void)src;
    struct rc_frame f = {0};
    if (id == 1)
        f.locs = i == 0 ? &loc_main : &loc_start;
    else if (id == 2)
        f.locs = i == 0 ? loc_parse : &loc_main;
    else
        f.locs = &loc_rt;
    f.n = id == 2 && i == 0 ? 2 : 1;
    f.address = f.locs[0].address;
    return f;
}

static void make_run(struct analysis *a, struct an_site sites[5])
{
    memset(a, 0, sizeof(*a));
    memset(sites, 0, 5 * sizeof(sites[0]));
    for (uint32_t i = 0; i < 5; i++) {
        sites[i].stack = i;
        sites[i].allocations = 3;
    }
    sites[1].live_bytes = 100;
    sites[1].live_blocks = 2;
    sites[2].live_bytes = 30;
    sites[2].live_blocks = 1;
    sites[3].live_bytes = 7;
    sites[3].live_blocks = 1;
    sites[3].runtime = 1;
    a->sites = sites;
    a->n_sites = 5;
    a->totals.leaked_bytes = 130;
    a->totals.leaked_blocks = 3;
    a->totals.runtime_held_bytes = 7;
    a->totals.runtime_held_blocks = 1;
}

/* Apply rules (one per line) to a fresh run; returns the stats. */
static struct sup_stats apply(const char *rules, struct analysis *a, struct an_site sites[5],
                              struct sup_list *l)
{
    char err[128];
    struct rc_source src = {.stack_depth = fake_depth, .frame = fake_frame};
    struct sup_stats st;
    memset(l, 0, sizeof(*l));
    assert_int_equal(sup_parse(l, rules, strlen(rules), err, sizeof(err)), 0);
    make_run(a, sites);
    assert_int_equal(sup_apply(l, a, &src, &st), 0);
    return st;
}

static void test_apply(void **state)
{
    (void)state;
    struct analysis a;
    struct an_site sites[5];
    struct sup_list l;
    struct sup_stats st;

    /* A function of any frame: main is in both leaking stacks. */
    st = apply("leak:^main$\n", &a, sites, &l);
    assert_int_equal(st.sites, 2);
    assert_int_equal(st.blocks, 3);
    assert_int_equal(st.bytes, 130);
    assert_int_equal(a.totals.leaked_bytes, 0);
    assert_int_equal(a.totals.leaked_blocks, 0);
    assert_int_equal(a.totals.runtime_held_bytes, 7);
    assert_false(sites[3].suppressed);
    assert_int_equal(l.rules[0].blocks, 3);
    sup_free(&l);

    /* An inlined function; the first rule that matches takes the site. */
    st = apply("leak:xstrdup\nleak:app.c\n", &a, sites, &l);
    assert_int_equal(st.sites, 2);
    assert_int_equal(l.rules[0].blocks, 1);
    assert_int_equal(l.rules[0].bytes, 30);
    assert_int_equal(l.rules[1].blocks, 2);
    assert_int_equal(l.rules[1].bytes, 100);
    sup_free(&l);

    /* A raw (mangled) name; a module by basename, anchored; a file by path. */
    st = apply("leak:_Z5parse\n", &a, sites, &l);
    assert_int_equal(st.bytes, 30);
    sup_free(&l);
    st = apply("leak:^libfoo.so.1$\n", &a, sites, &l);
    assert_int_equal(st.bytes, 30);
    sup_free(&l);
    st = apply("leak:^src/util/*.c$\n", &a, sites, &l);
    assert_int_equal(st.bytes, 30);
    assert_true(sites[2].suppressed);
    assert_false(sites[1].suppressed);
    assert_int_equal(a.totals.leaked_bytes, 100);
    assert_int_equal(a.totals.leaked_blocks, 2);
    /* Applying again changes nothing. */
    struct rc_source src = {.stack_depth = fake_depth, .frame = fake_frame};
    assert_int_equal(sup_apply(&l, &a, &src, &st), 0);
    assert_int_equal(st.sites, 0);
    assert_int_equal(a.totals.leaked_bytes, 100);
    assert_int_equal(l.rules[0].blocks, 1);
    sup_free(&l);

    /* The C runtime's site is not a leak, whatever matches it. */
    st = apply("leak:_dl_allocate_tls\nleak:nothing\n", &a, sites, &l);
    assert_int_equal(st.sites, 0);
    assert_int_equal(a.totals.leaked_bytes, 130);
    assert_int_equal(a.totals.runtime_held_bytes, 7);

    /* The used list names matched rules only, LeakSanitizer's layout. */
    sup_free(&l);
    apply("leak:xstrdup\nleak:nothing\n", &a, sites, &l);
    char buf[512] = "";
    FILE *m = fmemopen(buf, sizeof(buf) - 1, "w");
    assert_non_null(m);
    sup_print_used(&l, m);
    fclose(m);
    assert_string_equal(buf, "-----------------------------------------------------\n"
                             "Suppressions used:\n"
                             "  count      bytes template\n"
                             "      1         30 xstrdup\n"
                             "-----------------------------------------------------\n");
    sup_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_apply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
