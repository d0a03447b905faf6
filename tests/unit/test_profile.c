/* test_profile.c — unit tests for reporter/profile.c.
 *
 * A hand-made analysis and stack source (every kind of frame: resolved with
 * an inline chain, unresolved, unknown stack, empty stack, the stack-less
 * site 0) is written as a profile and read back; the JSON report of the two
 * must be byte for byte the same. The field tables must cover every byte of
 * struct an_site and struct an_totals. Damaged and hostile profiles must give
 * an error with a reason, never a crash. */
#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "render.h"

/* ---- a fake source: stacks 1..4 ---- */

static const struct sym_location chain[] = {
    {"inl_leaf", "inl_leaf", "/src/a.c", 10, "/bin/prog", 0x1234, 0x401234, 1},
    {"ns::outer(int)", "_ZN2ns5outerEi", "/src/a.cc", 20, "/bin/prog", 0x1234, 0x401234, 0},
};
static const struct sym_location plain[] = {
    {"main", "main", "/src/a.c", 30, "/bin/prog", 0x1300, 0x401300, 0},
};
static const struct sym_location alloc_frame[] = {
    {"operator new(unsigned long)", "_Znwm", NULL, 0, "/lib/libstdc++.so.6", 0x99, 0x7f0099, 0},
};

static int fake_depth(const struct rc_source *src, uint32_t id, uint32_t *depth)
{
    (void)src;
    switch (id) {
    case 1: *depth = 3; return 1;  /* operator new, chain, main */
    case 2: *depth = 2; return 1;  /* unresolved, main */
    case 3: *depth = 0; return 1;  /* defined, no frames */
    default: return 0;             /* 0 and 4: unknown */
    }
}

static struct rc_frame fake_frame(const struct rc_source *src, uint32_t id, uint32_t i)
{
    (void)src;
    struct rc_frame f = {NULL, 0, 0};
    if (id == 1 && i == 0)
        f = (struct rc_frame){alloc_frame, 1, alloc_frame[0].address};
    else if (id == 1 && i == 1)
        f = (struct rc_frame){chain, 2, chain[0].address};
    else if ((id == 1 && i == 2) || (id == 2 && i == 1))
        f = (struct rc_frame){plain, 1, plain[0].address};
    else if (id == 2 && i == 0)
        f.address = 0xdeadbeef; /* the resolver had nothing */
    return f;
}

static void fake_source(struct rc_source *src)
{
    memset(src, 0, sizeof *src);
    src->process = (struct rc_process){.pid = 42, .ppid = 7, .exe = "/bin/prog",
                                       .cmdline = "prog \"a\" \xc3\xa9", .complete = 0,
                                       .exit_status = -1, .signal = 11, .lost_events = 3,
                                       .trace_bytes = 1000, .trace_bytes_read = 900};
    src->stack_depth = fake_depth;
    src->frame = fake_frame;
}

static void fake_analysis(struct analysis *a)
{
    memset(a, 0, sizeof *a);
    a->n_sites = 6;
    a->sites = calloc(a->n_sites, sizeof *a->sites);
    assert_non_null(a->sites);
    for (uint32_t i = 0; i < a->n_sites; i++) {
        struct an_site *s = &a->sites[i];
        s->stack = i;
        if (i == 5)
            continue; /* unused: left out of the profile */
        s->allocations = 10 + i;
        s->bytes_allocated = 1000 * (i + 1);
        s->frees = i;
        s->temporary = i / 2;
        s->min_size = 1;
        s->max_size = i == 2 ? UINT64_MAX : 500; /* above 2^53: a string */
        s->live_bytes = 100 * i;
        s->live_blocks = i;
        s->peak_bytes = 7 * i;
        s->peak_blocks = i;
        s->size_classes[3] = i;
        s->size_classes[AN_SIZE_CLASSES - 1] = 1;
        s->runtime = i == 0;
    }
    a->n_timeline = 3;
    a->timeline = calloc(a->n_timeline, sizeof *a->timeline);
    assert_non_null(a->timeline);
    for (size_t i = 0; i < a->n_timeline; i++) {
        struct an_sample *s = &a->timeline[i];
        s->time_ns = 1000 * i;
        s->heap_bytes = 100 + i;
        s->heap_blocks = i;
        s->rss_bytes = (1ull << 54) + i; /* above 2^53 */
        s->has_allocator = i != 1;
        s->allocator_heap_bytes = 5000;
        s->allocator_in_use_bytes = 4000;
        s->allocator_free_bytes = 1000 - i;
        s->allocator_releasable_bytes = 10;
        s->fragmentation = i == 1 ? 0 : 0.1 * (double)i + 1e-17 * (double)i;
    }
    a->memory.peak_rss_bytes = (1ull << 54) + 2;
    a->memory.peak_rss_time_ns = 2000;
    a->memory.peak_rss_sample = 2;
    a->memory.has_fragmentation = 1;
    a->memory.fragmentation_at_peak_rss = 0.2000000000000001;
    a->totals.allocations = 55;
    a->totals.bytes_allocated = (1ull << 53) + 1;
    a->totals.leaked_bytes = 1000;
    a->totals.leaked_blocks = 10;
    a->totals.peak_heap_bytes = 70;
    a->totals.duration_ns = 123456789;
    a->totals.threads = 2;
}

static char *write_profile(const struct analysis *a, const struct rc_source *src, size_t *len)
{
    char *text = NULL, err[256] = "";
    FILE *out = open_memstream(&text, len);
    assert_non_null(out);
    int rc = prof_write(out, a, src, err, sizeof err);
    if (rc < 0)
        print_error("prof_write: %s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(fclose(out), 0);
    return text;
}

static char *render(int (*fn)(FILE *, const struct analysis *, const struct rc_source *,
                              const struct render_opts *),
                    const struct analysis *a, const struct rc_source *src, int all_frames)
{
    struct render_opts o = {.top = 10, .max_frames = 12, .all_frames = all_frames};
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    assert_int_equal(fn(out, a, src, &o), 0);
    assert_int_equal(fclose(out), 0);
    return text;
}

/* ---- tests ---- */

static void test_layout(void **state)
{
    (void)state;
    long site = prof_unlisted_site_byte(), totals = prof_unlisted_totals_byte();
    long sample = prof_unlisted_sample_byte(), memory = prof_unlisted_memory_byte();
    if (sample >= 0 || memory >= 0)
        print_error("struct an_sample byte %ld or struct an_memory byte %ld is not in "
                    "profile.c's sample_fields or memory_fields\n", sample, memory);
    assert_int_equal(sample, -1);
    assert_int_equal(memory, -1);
    if (site >= 0)
        print_error("struct an_site byte %ld is not in profile.c's site_fields: add the "
                    "new field there and to docs/profile-format.md\n", site);
    if (totals >= 0)
        print_error("struct an_totals byte %ld is not in profile.c's totals_fields\n", totals);
    assert_int_equal(site, -1);
    assert_int_equal(totals, -1);
    long phase = prof_unlisted_phase_byte(), error = prof_unlisted_error_byte();
    if (phase >= 0 || error >= 0)
        print_error("struct an_phase (or an_phase_site, an_phase_span) byte %ld or struct "
                    "an_error byte %ld is not in profile.c's phase or error tables\n",
                    phase, error);
    assert_int_equal(phase, -1);
    assert_int_equal(error, -1);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct analysis a;
    struct rc_source src, psrc;
    struct prof_profile *p = NULL;
    char err[256] = "";
    size_t len;

    fake_analysis(&a);
    fake_source(&src);
    char *text = write_profile(&a, &src, &len);
    int rc = prof_parse(text, len, &p, err, sizeof err);
    if (rc < 0)
        print_error("prof_parse: %s\n%s\n", err, text);
    assert_int_equal(rc, 0);
    prof_source(p, &psrc);
    const struct analysis *b = prof_analysis(p);

    /* The numbers, exactly (2^53 + 1 and UINT64_MAX included). */
    assert_memory_equal(&a.totals, &b->totals, sizeof a.totals);
    assert_int_equal(b->n_timeline, a.n_timeline);
    assert_memory_equal(a.timeline, b->timeline, a.n_timeline * sizeof *a.timeline);
    assert_memory_equal(&a.memory, &b->memory, sizeof a.memory);
    assert_int_equal(b->n_sites, 5); /* site 0 plus the four used ones */
    for (uint32_t i = 0; i < 5; i++) {
        struct an_site x = a.sites[i], y = b->sites[i];
        x.last_touch = x.saved_bytes = x.saved_blocks = 0;
        assert_memory_equal(&x, &y, sizeof x);
    }
    assert_int_equal(b->sites[2].max_size, UINT64_MAX);
    assert_string_equal(psrc.process.cmdline, src.process.cmdline);
    assert_int_equal(psrc.process.signal, 11);
    assert_int_equal(psrc.process.exit_status, -1);

    /* The reports, byte for byte, folded and not. */
    for (int all = 0; all <= 1; all++) {
        char *r1 = render(render_json, &a, &src, all), *r2 = render(render_json, b, &psrc, all);
        assert_string_equal(r1, r2);
        free(r1);
        free(r2);
        r1 = render(render_text, &a, &src, all);
        r2 = render(render_text, b, &psrc, all);
        assert_string_equal(r1, r2);
        free(r1);
        free(r2);
    }

    /* Frames are shared: "main" is stored once though two stacks have it. */
    size_t mains = 0;
    for (const char *at = text; (at = strstr(at, "\"function\":\"main\"")) != NULL; at++)
        mains++;
    assert_int_equal(mains, 1);

    /* Every prefix of the profile is an error or (the whole object) a
     * profile; never a crash. */
    for (size_t n = 0; n < len; n++) {
        struct prof_profile *q = NULL;
        err[0] = '\0';
        rc = prof_parse(text, n, &q, err, sizeof err);
        if (rc == 0) {
            assert_true(n >= len - 1);
            prof_free(q);
        } else {
            assert_true(err[0] != '\0');
            assert_null(q);
        }
    }
    prof_free(p);
    free(text);
    an_fini(&a);
}

static void test_hostile(void **state)
{
    (void)state;
    static const struct {
        const char *text, *reason;
    } bad[] = {
        {"", "not a memaudit"},
        {"MEMAUDTR", "not a memaudit"},
        {"[1,2]", "not a memaudit"},
        {"{}", "no profile_format_version"},
        {"{\"profile_format_version\":2}", "unsupported profile_format_version 2"},
        {"{\"profile_format_version\":\"1\"}", "unsupported"},
        {"{\"profile_format_version\":1}", "no \"process\""},
        {"{\"profile_format_version\":1,\"process\":{\"pid\":-1}}", "process"},
        {"{\"profile_format_version\":1,\"process\":{\"exit_status\":999}}", "process"},
        {"{\"profile_format_version\":1,\"process\":{\"exe\":5}}", "process"},
        {"{\"profile_format_version\":1,\"process\":{},\"totals\":[]}", "totals"},
        {"{\"profile_format_version\":1,\"process\":{},\"totals\":{\"frees\":1.5}}", "frees"},
        {"{\"profile_format_version\":1,\"process\":{},\"totals\":{\"frees\":\"12x\"}}", "frees"},
        {"{\"profile_format_version\":1,\"process\":{},\"totals\":{\"frees\":"
         "\"99999999999999999999999\"}}",
         "frees"},
        {"{\"profile_format_version\":1,\"process\":{},\"totals\":{}}", "frames"},
        {"{\"profile_format_version\":1,\"process\":{},\"totals\":{},\"timeline\":{}}",
         "\"timeline\" is not"},
        {"{\"profile_format_version\":1,\"process\":{},\"totals\":{},\"timeline\":[{\"time_ns\":5},"
         "{\"time_ns\":4}]}",
         "out of time order"},
        {"{\"profile_format_version\":1,\"process\":{},\"totals\":{},\"timeline\":"
         "[{\"fragmentation\":1e999}]}",
         "fragmentation"},
        {"{\"profile_format_version\":1,\"process\":{},\"totals\":{},\"timeline\":[{}],"
         "\"memory\":{\"peak_rss_sample\":1}}",
         "peak_rss_sample outside"},
        {"{\"profile_format_version\":1,\"process\":{},\"totals\":{},"
         "\"memory\":{\"peak_rss_sample\":1}}",
         "peak_rss_sample outside"},
        {"{\"profile_format_version\":1,\"process\":{},\"totals\":{},\"frames\":[1]}", "frame 0"},
        {"{\"profile_format_version\":1,\"process\":{},\"totals\":{},\"frames\":[{\"line\":"
         "3000000000}]}",
         "frame 0"},
        {"{\"profile_format_version\":1,\"process\":{},\"totals\":{},\"frames\":[]}", "sites"},
        {"{\"profile_format_version\":1,\"process\":{},\"totals\":{},\"frames\":[],"
         "\"sites\":[{}]}",
         "\"id\""},
        {"{\"profile_format_version\":1,\"process\":{},\"totals\":{},\"frames\":[],"
         "\"sites\":[{\"id\":5},{\"id\":5}]}",
         "not increasing"},
        {"{\"profile_format_version\":1,\"process\":{},\"totals\":{},\"frames\":[],"
         "\"sites\":[{\"id\":4294967296}]}",
         "\"id\""},
        {"{\"profile_format_version\":1,\"process\":{},\"totals\":{},\"frames\":[],"
         "\"sites\":[{\"id\":1,\"stack\":[[0]]}]}",
         "bad stack"},
        {"{\"profile_format_version\":1,\"process\":{},\"totals\":{},\"frames\":[{}],"
         "\"sites\":[{\"id\":1,\"stack\":[[]]}]}",
         "bad stack"},
        {"{\"profile_format_version\":1,\"process\":{},\"totals\":{},\"frames\":[{}],"
         "\"sites\":[{\"id\":1,\"stack\":[0]}]}",
         "bad stack"},
        {"{\"profile_format_version\":1,\"process\":{},\"totals\":{},\"frames\":[{}],"
         "\"sites\":[{\"id\":1,\"size_classes\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,"
         "19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35]}]}",
         "size_classes"},
        {"{\"profile_format_version\":1,\"process\":{},\"totals\":{},\"frames\":[{}],"
         "\"sites\":[{\"id\":1,\"runtime\":4294967296}]}",
         "runtime"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct prof_profile *p = NULL;
        char err[256] = "";
        int rc = prof_parse(bad[i].text, strlen(bad[i].text), &p, err, sizeof err);
        if (rc == 0 || strstr(err, bad[i].reason) == NULL)
            print_error("input %zu: rc %d, err \"%s\", expected \"%s\"\n", i, rc, err,
                        bad[i].reason);
        assert_true(rc < 0);
        assert_null(p);
        assert_non_null(strstr(err, bad[i].reason));
    }

    /* The smallest valid profile: no sites, everything else absent. */
    const char *min = "{\"profile_format_version\":1,\"process\":{},\"totals\":{},"
                      "\"frames\":[],\"sites\":[]}";
    struct prof_profile *p = NULL;
    char err[256] = "";
    assert_int_equal(prof_parse(min, strlen(min), &p, err, sizeof err), 0);
    assert_int_equal(prof_analysis(p)->n_sites, 1);
    struct rc_source src;
    prof_source(p, &src);
    assert_int_equal(src.process.exit_status, -1);
    assert_string_equal(src.process.exe, "");
    char *r = render(render_json, prof_analysis(p), &src, 0);
    free(r);
    prof_free(p);

    assert_true(prof_sniff("  \n{", 4));
    assert_false(prof_sniff("MEMAUDTR", 8));
    assert_false(prof_sniff("   ", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
