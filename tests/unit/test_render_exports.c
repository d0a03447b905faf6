/* test_render_exports.c — unit tests of the two exports to other tools:
 * render_massif.c (valgrind massif's format) and render_pprof.c (gzipped
 * profile.proto). One file for both: they share the hand-made run below.
 *
 * The run: three call sites under main, holding 900, 95 and 5 bytes at a
 * peak of 1000 bytes, the second with a name that carries a line break; one
 * frame of the first site has an inlined function. Memory samples before
 * and after the peak.
 *   - massif: the snapshots in time order with the peak in between, the
 *     inverted tree (allocating function, then its caller) with the 5-byte
 *     site below massif's 1% threshold, every node on one line;
 *   - pprof: the file inflates (zlib), and a minimal walk of the protobuf
 *     wire format finds the string table starting with "", the six sample
 *     types, three samples whose values add up to the totals, and a location
 *     with two lines (the inlined function first).
 * tests/integration/exports.sh reads real runs' exports with ms_print,
 * protoc and go tool pprof. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "analysis.h"
#include "render.h"
#include "render_common.h"
#include "symbolizer.h"

#define ODD_NAME "evil\nname"

/* Per stack id: frames, each frame one or two locations (innermost first). */
struct fake_frame_locs {
    struct sym_location locs[2];
    size_t n;
};

struct fake_stack {
    size_t depth;
    struct fake_frame_locs frames[3];
};

static struct fake_stack stacks[4];
static struct an_site sites[4];
static struct an_sample samples[2];

static struct sym_location loc_fn(const char *fn, const char *file, int line, int inlined)
{
    struct sym_location l = {0};
    l.function = fn;
    l.file = file;
    l.line = line;
    l.module = "/usr/bin/victim";
    l.module_offset = 0x1000u + (uint64_t)line;
    l.address = 0x401000u + (uint64_t)line;
    l.inlined = inlined;
    return l;
}

static int fake_depth(const struct rc_source *src, uint32_t id, uint32_t *depth)
{
    (void)src;
    if (id == 0 || id >= 4)
        return 0;
    *depth = (uint32_t)stacks[id].depth;
    return 1;
}

static struct rc_frame fake_frame(const struct rc_source *src, uint32_t id, uint32_t i)
{
    (void)src;
    const struct fake_frame_locs *f = &stacks[id].frames[i];
    struct rc_frame fr = {f->locs, f->n, f->locs[f->n - 1].address};
    return fr;
}

static void make_run(struct analysis *a, struct rc_source *src)
{
    const char *fns[4] = {NULL, "f1", ODD_NAME, "f3"};
    uint64_t peak[4] = {0, 900, 95, 5};
    memset(stacks, 0, sizeof(stacks));
    memset(sites, 0, sizeof(sites));
    memset(a, 0, sizeof(*a));
    for (uint32_t i = 1; i < 4; i++) {
        stacks[i].depth = 2;
        stacks[i].frames[0].locs[0] = loc_fn(fns[i], "a.c", (int)i, 0);
        stacks[i].frames[0].n = 1;
        stacks[i].frames[1].locs[0] = loc_fn("main", "main.c", 10 + (int)i, 0);
        stacks[i].frames[1].n = 1;
        sites[i].stack = i;
        sites[i].allocations = i;
        sites[i].bytes_allocated = 10 * peak[i];
        sites[i].frees = i;
        sites[i].peak_bytes = peak[i];
        sites[i].peak_blocks = 1;
        a->totals.allocations += i;
        a->totals.bytes_allocated += 10 * peak[i];
    }
    /* Site 1's outer frame: helper inlined into main. */
    stacks[1].frames[1].locs[1] = stacks[1].frames[1].locs[0];
    stacks[1].frames[1].locs[0] = loc_fn("helper", "h.h", 3, 1);
    stacks[1].frames[1].n = 2;
    sites[2].live_bytes = 40;
    sites[2].live_blocks = 1;
    a->totals.peak_heap_bytes = 1000;
    a->totals.peak_time_ns = 500000;
    a->totals.duration_ns = 1000000;
    samples[0] = (struct an_sample){.time_ns = 100000, .heap_bytes = 10};
    samples[1] = (struct an_sample){.time_ns = 900000, .heap_bytes = 300};
    a->timeline = samples;
    a->n_timeline = 2;
    a->sites = sites;
    a->n_sites = 4;
    memset(src, 0, sizeof(*src));
    src->process.pid = 42;
    src->process.exe = "/usr/bin/victim";
    src->process.cmdline = "victim\nsecond line";
    src->process.complete = 1;
    src->stack_depth = fake_depth;
    src->frame = fake_frame;
}

static char *massif_text(void)
{
    struct analysis a;
    struct rc_source src;
    struct render_opts o = {.top = 10, .max_frames = 12, .all_frames = 0};
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);

    make_run(&a, &src);
    assert_non_null(m);
    assert_int_equal(render_massif(m, &a, &src, &o), 0);
    assert_int_equal(fclose(m), 0);
    return buf;
}

static void test_massif(void **state)
{
    (void)state;
    char *t = massif_text();

    assert_non_null(strstr(t, "cmd: victim second line\ntime_unit: ms\n"));
    /* Snapshots in time order, the peak between the samples. */
    const char *order[] = {"snapshot=0\n#-----------\ntime=0.000\nmem_heap_B=0\n",
                           "snapshot=1\n#-----------\ntime=0.100\nmem_heap_B=10\n",
                           "snapshot=2\n#-----------\ntime=0.500\nmem_heap_B=1000\n",
                           "snapshot=3\n#-----------\ntime=0.900\nmem_heap_B=300\n",
                           "snapshot=4\n#-----------\ntime=1.000\nmem_heap_B=40\n"};
    const char *at = t;
    for (size_t i = 0; i < 5; i++) {
        const char *p = strstr(at, order[i]);
        assert_non_null(p);
        at = p;
    }
    /* The peak's tree: f1 and f2 with their caller; the odd name below 1%. */
    assert_non_null(strstr(t, "heap_tree=peak\n"
                              "n3: 1000 (heap allocation functions) malloc/new/new[], --alloc-fns, etc.\n"
                              " n1: 900 0x401001: f1 (a.c:1)\n"
                              "  n1: 900 0x40100B: helper (h.h:3)\n"
                              "   n0: 900 0x40100B: main (main.c:11)\n"
                              " n1: 95 0x401002: evil name (a.c:2)\n"
                              "  n0: 95 0x40100C: main (main.c:12)\n"
                              " n0: 5 in 1 place, all below massif's threshold (1.00%)\n"));
    assert_null(strstr(t, "f3"));
    /* The end: what was live. */
    assert_non_null(strstr(t, "heap_tree=detailed\n"
                              "n1: 40 (heap allocation functions) malloc/new/new[], --alloc-fns, etc.\n"
                              " n1: 40 0x401002: evil name (a.c:2)\n"));
    free(t);
}

/* ---- a minimal protobuf reader, enough to walk the profile ---- */

struct field {
    unsigned num, type;
    uint64_t v;          /* varint */
    const uint8_t *data; /* length-delimited */
    size_t len;
};

static int next_field(const uint8_t **p, const uint8_t *end, struct field *f)
{
    uint64_t key = 0, v = 0;
    int shift = 0;
    if (*p >= end)
        return 0;
    do {
        assert_true(*p < end);
        key |= (uint64_t)(**p & 0x7f) << shift;
        shift += 7;
    } while (*(*p)++ & 0x80);
    f->num = (unsigned)(key >> 3);
    f->type = (unsigned)(key & 7);
    assert_true(f->type == 0 || f->type == 2);
    shift = 0;
    do {
        assert_true(*p < end);
        v |= (uint64_t)(**p & 0x7f) << shift;
        shift += 7;
    } while (*(*p)++ & 0x80);
    f->v = v;
    if (f->type == 2) {
        assert_true(v <= (uint64_t)(end - *p));
        f->data = *p;
        f->len = (size_t)v;
        *p += v;
    }
    return 1;
}

static void test_pprof(void **state)
{
    struct analysis a;
    struct rc_source src;
    struct render_opts o = {.top = 10, .max_frames = 12, .all_frames = 0};
    char *gz = NULL;
    size_t gz_len = 0;
    (void)state;

    make_run(&a, &src);
    FILE *m = open_memstream(&gz, &gz_len);
    assert_non_null(m);
    assert_int_equal(render_pprof(m, &a, &src, &o, NULL), 0);
    assert_int_equal(fclose(m), 0);
    assert_true(gz_len > 18);
    assert_int_equal((unsigned char)gz[0], 0x1f); /* gzip's magic */
    assert_int_equal((unsigned char)gz[1], 0x8b);

    static uint8_t pb[1 << 16];
    z_stream z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *)gz;
    z.avail_in = (uInt)gz_len;
    z.next_out = pb;
    z.avail_out = sizeof(pb);
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    size_t pb_len = sizeof(pb) - z.avail_out;
    inflateEnd(&z);
    free(gz);

    const char *strings[64];
    size_t n_strings = 0, n_samples = 0, n_types = 0, inlined_locations = 0;
    uint64_t types[6][2], sums[6] = {0};
    const uint8_t *p = pb, *end = pb + pb_len;
    struct field f, g;
    static char text[64][128];
    while (next_field(&p, end, &f)) {
        if (f.num == 6) { /* string_table */
            assert_true(n_strings < 64 && f.len < 128);
            memcpy(text[n_strings], f.data, f.len);
            text[n_strings][f.len] = '\0';
            strings[n_strings] = text[n_strings];
            n_strings++;
        } else if (f.num == 1) { /* sample_type */
            const uint8_t *q = f.data;
            types[n_types][0] = types[n_types][1] = 0;
            while (next_field(&q, f.data + f.len, &g))
                types[n_types][g.num - 1] = g.v;
            n_types++;
        } else if (f.num == 2) { /* sample: packed location_id (1), packed value (2) */
            const uint8_t *q = f.data;
            n_samples++;
            while (next_field(&q, f.data + f.len, &g)) {
                if (g.num != 2)
                    continue;
                const uint8_t *r = g.data;
                for (int k = 0; k < 6; k++) {
                    uint64_t v = 0;
                    int shift = 0;
                    do {
                        v |= (uint64_t)(*r & 0x7f) << shift;
                        shift += 7;
                    } while (*r++ & 0x80);
                    sums[k] += v;
                }
                assert_true(r == g.data + g.len);
            }
        } else if (f.num == 4) { /* location: lines (4) */
            const uint8_t *q = f.data;
            size_t lines = 0;
            while (next_field(&q, f.data + f.len, &g))
                lines += g.num == 4;
            inlined_locations += lines == 2;
        }
    }
    assert_true(n_strings > 10);
    assert_string_equal(strings[0], "");
    assert_int_equal(n_types, 6);
    const char *want[6] = {"alloc_objects", "alloc_space",  "inuse_objects",
                           "inuse_space",   "peak_objects", "peak_space"};
    for (int k = 0; k < 6; k++) {
        assert_true(types[k][0] < n_strings);
        assert_string_equal(strings[types[k][0]], want[k]);
    }
    assert_int_equal(n_samples, 3);
    assert_int_equal(sums[0], a.totals.allocations);
    assert_int_equal(sums[1], a.totals.bytes_allocated);
    assert_int_equal(sums[3], 40);
    assert_int_equal(sums[5], 1000);
    assert_int_equal(inlined_locations, 1);
    /* The odd name is kept as it is: pprof's strings are data. */
    int odd = 0;
    for (size_t i = 0; i < n_strings; i++)
        odd |= strcmp(strings[i], ODD_NAME) == 0;
    assert_true(odd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_massif),
        cmocka_unit_test(test_pprof),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
