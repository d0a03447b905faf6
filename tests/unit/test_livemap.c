/* test_livemap.c — unit tests of the replay's live-block map (livemap.c).
 *
 * Every entry must come back exactly as it went in, whether it was packed or
 * kept whole: the cases at each packing limit (and one past it), then a long
 * random history of inserts and removals, with addresses dense enough to make
 * chunks overflow into the next ones, shards grow, and probes wrap around the
 * end of a table, checked against a plain array after every step; lm_replace() of
 * live and free addresses among them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "livemap.h"

static void assert_live_equal(const struct live *x, const struct live *y)
{
    assert_int_equal(x->ptr, y->ptr);
    assert_int_equal(x->size, y->size);
    assert_int_equal(x->alloc_no, y->alloc_no);
    assert_int_equal(x->time_ns, y->time_ns);
    assert_int_equal(x->stack, y->stack);
    assert_int_equal(x->slack, y->slack);
    assert_int_equal(x->chain, y->chain);
    assert_int_equal(x->phase, y->phase);
}

static struct live block(uint64_t ptr, uint64_t no)
{
    struct live e = {.ptr = ptr, .size = 24, .alloc_no = no, .time_ns = 1000000 + no * 10,
                     .stack = 3, .slack = 8, .chain = 0, .phase = 0};
    return e;
}

/* Each limit of the packed form, at it and past it: all come back whole. */
static void test_limits(void **state)
{
    (void)state;
    struct livemap m = {0};
    struct live in[32], out;
    size_t n = 0;
    uint64_t no = 1;
    in[n++] = block(0, no++);                       /* address 0 */
    in[n++] = block(0x1008, no++);                  /* not 16-byte aligned */
    in[n++] = block(0x10, no++);                    /* the lowest packed address */
    in[n++] = block(0x7ffffffffff0ull, no++);       /* the highest */
    in[n++] = block(0x800000000000ull, no++);       /* kernel half */
    in[n] = block(0x2000, no++);
    in[n++].stack = (1u << 21) - 1;
    in[n] = block(0x2010, no++);
    in[n++].stack = 1u << 21;
    in[n] = block(0x2020, no++);
    in[n++].size = (1u << 20) - 1;
    in[n] = block(0x2030, no++);
    in[n++].size = 1u << 20;
    in[n] = block(0x2040, no++);
    in[n++].size = UINT64_MAX;
    in[n] = block(0x2050, no++);
    in[n++].slack = 31;
    in[n] = block(0x2060, no++);
    in[n++].slack = 32;
    in[n] = block(0x2070, no++);
    in[n++].chain = 7;
    in[n] = block(0x2080, no++);
    in[n++].chain = 8;
    in[n] = block(0x2090, no++);
    in[n++].phase = 15;
    in[n] = block(0x20a0, no++);
    in[n++].phase = 16;
    in[n] = block(0x20b0, no++);
    in[n++].alloc_no = UINT32_MAX;
    in[n] = block(0x20c0, no++);
    in[n++].alloc_no = (uint64_t)UINT32_MAX + 1;
    /* Times: before the group's base (set by the first block, above), and
     * 2^32 ns after it. */
    in[n] = block(0x20d0, 2);
    in[n++].time_ns = 5;
    in[n] = block(0x20e0, 3);
    in[n++].time_ns = 1000000 + 20 + 0xffffffffull;
    in[n] = block(0x20f0, 4);
    in[n++].time_ns = 1000000 + 10 + 0xffffffffull;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(lm_insert(&m, &in[i]), 0);
    assert_int_equal(lm_count(&m), n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(lm_remove(&m, in[i].ptr, &out), 1);
        assert_live_equal(&out, &in[i]);
        assert_int_equal(lm_remove(&m, in[i].ptr, &out), 0);
    }
    assert_int_equal(lm_count(&m), 0);
    lm_fini(&m);
}

struct ref {
    struct live *e;
    size_t n;
};

static int count_cb(void *arg, const struct live *e)
{
    struct ref *r = arg;
    for (size_t i = 0; i < r->n; i++)
        if (r->e[i].ptr == e->ptr) {
            assert_live_equal(e, &r->e[i]);
            return 0;
        }
    fail_msg("lm_each gave an address that is not live: %#llx", (unsigned long long)e->ptr);
    return 1;
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A random history against a plain array. */
static void test_random(void **state)
{
    (void)state;
    enum { STEPS = 100000, MAXLIVE = 4000 };
    struct livemap m = {0};
    struct ref r = {calloc(MAXLIVE, sizeof(struct live)), 0};
    uint64_t seed = 0x9E3779B97F4A7C15ull, now = 0, time_ns = 1000;
    assert_non_null(r.e);
    for (int step = 0; step < STEPS; step++) {
        uint64_t x = rnd(&seed);
        now++;
        time_ns += x % 3 == 0 ? (x >> 20) % 5000000 : 7;
        if (r.n < MAXLIVE && (r.n == 0 || x % 5 < 3)) {
            struct live e;
            /* Dense: two regions a few MiB wide, 16-byte steps, so that
             * blocks sit in neighbouring slots; now and then an odd one. */
            uint64_t region = x % 7 == 0 ? 0x7f0000000000ull : 0x555555550000ull;
            e.ptr = region + ((x >> 8) % 300000) * 16 + (x % 97 == 0 ? 8 : 0);
            size_t dup = SIZE_MAX;
            for (size_t i = 0; i < r.n && dup == SIZE_MAX; i++)
                if (r.e[i].ptr == e.ptr)
                    dup = i;
            e.size = x % 53 == 0 ? (1u << 20) + (x >> 40) : (x >> 32) % 4096;
            e.alloc_no = now;
            e.time_ns = time_ns;
            e.stack = (uint32_t)((x >> 12) % 5000);
            e.slack = (uint32_t)((x >> 24) % 40);
            e.chain = (uint32_t)((x >> 30) % 11);
            e.phase = (uint32_t)((x >> 36) % 18);
            if (dup != SIZE_MAX) {
                /* The address is live: lm_replace() hands the old block
                 * back, packed or whole, and the new one takes its place. */
                struct live old;
                assert_int_equal(lm_replace(&m, &e, &old), 1);
                assert_live_equal(&old, &r.e[dup]);
                r.e[dup] = e;
            } else if (x % 2 == 0) {
                struct live old;
                assert_int_equal(lm_replace(&m, &e, &old), 0);
                r.e[r.n++] = e;
            } else {
                assert_int_equal(lm_insert(&m, &e), 0);
                r.e[r.n++] = e;
            }
        } else {
            size_t k = (size_t)((x >> 16) % r.n);
            struct live out;
            assert_int_equal(lm_remove(&m, r.e[k].ptr, &out), 1);
            assert_live_equal(&out, &r.e[k]);
            r.e[k] = r.e[--r.n];
            /* An address that is not live is not found. */
            assert_int_equal(lm_remove(&m, out.ptr, &out), 0);
        }
        assert_int_equal(lm_count(&m), r.n);
        if (step % 20000 == 0)
            assert_int_equal(lm_each(&m, count_cb, &r), 0);
    }
    assert_int_equal(lm_each(&m, count_cb, &r), 0);
    free(r.e);
    lm_fini(&m);
}

/* Runs of neighbouring blocks in many 1 MiB regions, so that several
 * regions share a shard and their runs fall on the same chunks: full chunks
 * pass entries on to the next ones (and from the last chunk to the first).
 * Removed in a scattered order, every entry still comes back whole. */
static void test_dense_runs(void **state)
{
    (void)state;
    enum { REGIONS = 100, PER_REGION = 300, N = REGIONS * PER_REGION };
    struct livemap m = {0};
    struct live *in = calloc(N, sizeof *in), out;
    assert_non_null(in);
    for (size_t i = 0; i < N; i++) {
        in[i] = block(0x100000000000ull + (i / PER_REGION) * (1u << 20) + (i % PER_REGION) * 16,
                      i + 1);
        assert_int_equal(lm_insert(&m, &in[i]), 0);
    }
    struct ref r = {in, N};
    assert_int_equal(lm_each(&m, count_cb, &r), 0);
    for (size_t k = 0; k < N; k++) {
        size_t i = (k * 7919) % N; /* 7919 is prime to N: each once */
        assert_int_equal(lm_remove(&m, in[i].ptr, &out), 1);
        assert_live_equal(&out, &in[i]);
        assert_int_equal(lm_remove(&m, in[i].ptr, &out), 0);
        if (k % 2 == 0) { /* and back, through lm_replace(), every other one */
            assert_int_equal(lm_replace(&m, &in[i], &out), 0);
            assert_int_equal(lm_remove(&m, in[i].ptr, &out), 1);
            assert_live_equal(&out, &in[i]);
        }
    }
    assert_int_equal(lm_count(&m), 0);
    free(in);
    lm_fini(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_dense_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
