/* test_recorder.c — the recorder's encoder and stack table, read back by the reader.
 *
 * Links the preload objects (not hooks.c, which would interpose this test's
 * own malloc): records are written with the same functions libaudit.so uses,
 * into a real trace file, and decoded with trd_open/trd_next. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rec.h"
#include "trace_reader.h"

static char path[64];
static int fd = -1;

static void write_header(void)
{
    struct tr_file_header h;
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, TR_MAGIC, 8);
    h.version = TR_VERSION;
    h.header_bytes = sizeof(h);
    h.pid = (uint32_t)getpid();
    h.start_mono_ns = rec_now_ns();
    h.max_frames = rec_config.max_frames;
    assert_int_equal(write(fd, &h, sizeof(h)), (ssize_t)sizeof(h));
}

static int setup(void **state)
{
    (void)state;
    strcpy(path, "/tmp/memaudit-test-recorder-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    write_header();
    assert_int_equal(rec_modules_init(), 0);
    /* In this test the recorder's code is the test binary itself: strip nothing. */
    rec_self_lo = rec_self_hi = 0;
    assert_int_equal(rec_stack_init(), 0);
    rec_thread_init(fd);
    rec_modules_snapshot(rec_now_ns());
    rec_self_lo = rec_self_hi = 0; /* (the snapshot learns the range again) */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    close(fd);
    unlink(path);
    return 0;
}

static void put_alloc(uint64_t ptr, uint64_t size, uint32_t stack)
{
    uint64_t ts = rec_now_ns();
    struct rec_thread *t = rec_thread_begin(128);
    assert_non_null(t);
    uint8_t *c = rec_thread_cursor(t);
    *c++ = TR_REC_ALLOC;
    *c++ = TR_FN_MALLOC;
    c = rec_thread_put_dt(t, c, ts);
    c = rec_thread_put_ptr(t, c, ptr);
    c = tr_put_u64(c, size);
    c = tr_put_u64(c, stack);
    c = tr_put_u64(c, 8);
    rec_thread_commit(t, c, 0);
    rec_thread_end(t);
}

static void put_free(uint64_t ptr)
{
    uint64_t ts = rec_now_ns();
    struct rec_thread *t = rec_thread_begin(128);
    assert_non_null(t);
    uint8_t *c = rec_thread_cursor(t);
    *c++ = TR_REC_FREE;
    *c++ = TR_FN_FREE;
    c = rec_thread_put_dt(t, c, ts);
    c = rec_thread_put_ptr(t, c, ptr);
    rec_thread_commit(t, c, 0);
    rec_thread_end(t);
}

__attribute__((noinline)) static uint32_t site_a(void)
{
    uint32_t id = rec_stack_capture(rec_now_ns());
    __asm__ volatile("" ::: "memory"); /* no tail call: keep this frame on the stack */
    return id;
}

__attribute__((noinline)) static uint32_t site_b(void)
{
    uint32_t id = rec_stack_capture(rec_now_ns());
    __asm__ volatile("" ::: "memory"); /* no tail call: keep this frame on the stack */
    return id;
}

static void stacks_are_deduplicated(void **state)
{
    (void)state;
    uint32_t ids[6];
    /* volatile: an unrolled loop would make three distinct call sites */
    for (volatile int i = 0; i < 3; i++) {
        ids[2 * i] = site_a();
        ids[2 * i + 1] = site_b();
    }
    assert_true(ids[0] != 0 && ids[1] != 0);
    assert_int_not_equal(ids[0], ids[1]);
    for (int i = 1; i < 3; i++) {
        assert_int_equal(ids[2 * i], ids[0]);
        assert_int_equal(ids[2 * i + 1], ids[1]);
    }
    /* A new epoch (after dlclose) never reuses an id of the old one. */
    atomic_fetch_add(&rec_epoch, 1);
    uint32_t again = site_a();
    assert_int_not_equal(again, ids[0]);
    atomic_fetch_sub(&rec_epoch, 1);
}

/* Many events across several blocks come back exactly, in order, with the
 * stack defined once and its first frame in site_a. */
static void records_round_trip(void **state)
{
    (void)state;
    uint32_t sa = site_a();
    enum { N = 300000 }; /* several 1 MiB blocks */
    for (uint64_t i = 0; i < N; i++) {
        put_alloc(0x10000 + i * 32, 1 + i % 1000, sa);
        if (i % 2)
            put_free(0x10000 + i * 32);
    }
    rec_thread_flush_all();

    struct trd_trace *t = NULL;
    char err[256];
    assert_int_equal(trd_open(path, &t, err, sizeof(err)), 0);
    const struct trd_stack *st = trd_stack(t, sa);
    assert_non_null(st);
    assert_true(st->depth >= 2);
    /* frame 0 is inside rec_stack_capture (nothing is stripped here), then site_a */
    assert_true(st->frames[1] > (uintptr_t)&site_a && st->frames[1] < (uintptr_t)&site_a + 64);
    assert_true(trd_snapshot_count(t) >= 1);

    struct trd_event ev;
    uint64_t allocs = 0, frees = 0, last_ns = 0;
    uint64_t expect_free = 0;
    int rc;
    while ((rc = trd_next(t, &ev)) == 1) {
        assert_true(ev.time_ns >= last_ns);
        last_ns = ev.time_ns;
        if (ev.type == TR_REC_ALLOC) {
            assert_int_equal(ev.ptr, 0x10000 + allocs * 32);
            assert_int_equal(ev.size, 1 + allocs % 1000);
            assert_int_equal(ev.stack, sa);
            assert_int_equal(ev.slack, 8);
            expect_free = allocs % 2 ? ev.ptr : 0;
            allocs++;
        } else if (ev.type == TR_REC_FREE) {
            assert_int_equal(ev.ptr, expect_free);
            frees++;
        }
    }
    assert_int_equal(rc, 0);
    assert_int_equal(allocs, N);
    assert_int_equal(frees, N / 2);
    trd_close(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stacks_are_deduplicated),
        cmocka_unit_test(records_round_trip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
