/* test_stack.c — the validated stack cache of stack.c: a cached stack is reused
 * only while it is still the stack, also when two call chains put the capture
 * at the same stack pointer below the same return address.
 *
 * Links the preload objects (not hooks.c). rec_stack_capture is called the way
 * the hooks call it; the stacks come back through the real trace reader. In
 * this test nothing is stripped as the recorder's own: frame 0 is inside
 * rec_stack_capture, frame 1 its caller. Every case also runs with the
 * cross-check on (each id compared with an independent unw_backtrace walk),
 * and requires the cache to have answered most captures, so that a pass
 * means the validation worked, not that the cache was bypassed. */
#include <alloca.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rec.h"
#include "stack.h"
#include "trace_reader.h"

static char path[64];
static int fd = -1;

static int setup(void **state)
{
    (void)state;
    strcpy(path, "/tmp/memaudit-test-stack-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    struct tr_file_header h;
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, TR_MAGIC, 8);
    h.version = TR_VERSION;
    h.header_bytes = sizeof(h);
    h.pid = (uint32_t)getpid();
    h.start_mono_ns = rec_now_ns();
    h.max_frames = rec_config.max_frames;
    assert_int_equal(write(fd, &h, sizeof(h)), (ssize_t)sizeof(h));
    assert_int_equal(rec_modules_init(), 0);
    rec_self_lo = rec_self_hi = 0;
    assert_int_equal(rec_stack_init(), 0);
    rec_thread_init(fd);
    rec_modules_snapshot(rec_now_ns());
    rec_self_lo = rec_self_hi = 0; /* (the snapshot learns the range again) */
    rec_stack_set_crosscheck(1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    close(fd);
    unlink(path);
    return 0;
}

/* ---- two callers, one capture site, one stack pointer ---- */

static uintptr_t leaf_sp; /* where the capture happened, to prove the keys collide */

__attribute__((noinline)) static uint32_t leaf(void)
{
    leaf_sp = (uintptr_t)__builtin_frame_address(0);
    uint32_t id = rec_stack_capture(rec_now_ns());
    __asm__ volatile("" ::: "memory"); /* no tail call: keep this frame */
    return id;
}

/* Two functions with the same code, hence the same frame size: called from the
 * same call site, leaf runs at the same stack pointer with the same return
 * address under either. Only the return address into via_a or via_b differs. */
__attribute__((noinline)) static uint32_t via_a(void)
{
    uint32_t id = leaf();
    __asm__ volatile("" ::: "memory");
    return id;
}

__attribute__((noinline)) static uint32_t via_b(void)
{
    uint32_t id = leaf();
    __asm__ volatile("" ::: "memory");
    return id;
}

static uint32_t (*volatile via)(void);

/* 1 if addr is a return address inside fn (the callers here are short). */
static int inside(uint64_t addr, uintptr_t fn)
{
    return addr > fn && addr < fn + 96;
}

static struct trd_trace *read_back(void)
{
    rec_thread_flush_all();
    struct trd_trace *t = NULL;
    char err[256];
    assert_int_equal(trd_open(path, &t, err, sizeof(err)), 0);
    return t;
}

static void assert_mostly_cached(uint64_t hits0, uint64_t misses0, uint64_t calls)
{
    uint64_t hits, misses;
    rec_stack_cache_stats(&hits, &misses);
    assert_int_equal(hits - hits0 + misses - misses0, calls);
    assert_true(hits - hits0 >= calls * 9 / 10);
}

static void same_sp_different_callers(void **state)
{
    (void)state;
    enum { N = 3000 };
    uint64_t hits0, misses0;
    uint32_t id_a = 0, id_b = 0;
    uintptr_t sp_a = 0, sp_b = 0;
    unsigned count_a = 0, count_b = 0;
    rec_stack_cache_stats(&hits0, &misses0);
    for (int i = 0; i < N; i++) {
        /* a, a, b, a, a, b ...: runs of hits on one chain, then the other */
        int use_b = i % 3 == 2;
        via = use_b ? via_b : via_a;
        uint32_t id = via();
        if (use_b) {
            if (!id_b)
                id_b = id, sp_b = leaf_sp;
            assert_int_equal(id, id_b);
            count_b++;
        } else {
            if (!id_a)
                id_a = id, sp_a = leaf_sp;
            assert_int_equal(id, id_a);
            count_a++;
        }
    }
    assert_int_equal(sp_a, sp_b); /* the case the validation must catch */
    assert_true(id_a != 0 && id_b != 0);
    assert_int_not_equal(id_a, id_b);
    assert_int_equal(count_a, 2000);
    assert_int_equal(count_b, 1000);
    assert_mostly_cached(hits0, misses0, N);
    assert_int_equal(rec_stack_crosscheck_failures(), 0);

    struct trd_trace *t = read_back();
    const struct trd_stack *sa = trd_stack(t, id_a), *sb = trd_stack(t, id_b);
    assert_non_null(sa);
    assert_non_null(sb);
    assert_true(sa->depth >= 4 && sb->depth == sa->depth);
    assert_true(inside(sa->frames[1], (uintptr_t)leaf));
    assert_true(inside(sb->frames[1], (uintptr_t)leaf));
    assert_true(inside(sa->frames[2], (uintptr_t)via_a));
    assert_true(inside(sb->frames[2], (uintptr_t)via_b));
    trd_close(t);
}

/* ---- frames whose size changes: alloca ----
 *
 * dyn() allocas pad bytes and calls leaf; over_big and over_small call dyn
 * with frames of different sizes. The pads are chosen so that leaf runs at
 * the same stack pointer under both: dyn's frame (an RBP-based CFA) then sits
 * at a different place, and the old return-address slot of the other chain
 * lies inside dyn's alloca'd area, where the stale value survives (dyn never
 * writes its buffer). A cache validating only the return-address slots seen
 * on the first walk would take over_small's captures for over_big's stack. */

__attribute__((noinline)) static uint32_t dyn(size_t pad)
{
    char *buf = alloca(pad);
    __asm__ volatile("" : : "r"(buf) : "memory");
    uint32_t id = leaf();
    __asm__ volatile("" ::: "memory");
    return id;
}

__attribute__((noinline)) static uint32_t over_big(size_t pad)
{
    volatile char room[512];
    room[0] = 1;
    uint32_t id = dyn(pad);
    __asm__ volatile("" : : "r"(room) : "memory");
    return id;
}

__attribute__((noinline)) static uint32_t over_small(size_t pad)
{
    volatile char room[16];
    room[0] = 1;
    uint32_t id = dyn(pad);
    __asm__ volatile("" : : "r"(room) : "memory");
    return id;
}

static uint32_t (*volatile over)(size_t);

static void alloca_frames(void **state)
{
    (void)state;
    enum { N = 3000, PAD = 64 };
    /* Calibrate: the pad that puts leaf at the same place under over_small. */
    over = over_big;
    over(PAD);
    uintptr_t sp_big = leaf_sp;
    over = over_small;
    over(PAD);
    uintptr_t sp_small = leaf_sp;
    assert_true(sp_small > sp_big);
    size_t pad_small = PAD + (sp_small - sp_big);
    over(pad_small);
    assert_int_equal(leaf_sp, sp_big);

    uint64_t hits0, misses0;
    static uint32_t ids[N];
    static uintptr_t sps[N];
    rec_stack_cache_stats(&hits0, &misses0);
    /* Nothing else is called between two captures: a call would overwrite
     * the stale slot below this frame. */
    for (int i = 0; i < N; i++) {
        /* One call site for both, as in same_sp_different_callers. */
        int small = i % 3 == 2;
        over = small ? over_small : over_big;
        ids[i] = over(small ? pad_small : PAD);
        sps[i] = leaf_sp;
    }
    uint32_t id_big = ids[0], id_small = ids[2];
    for (int i = 0; i < N; i++) {
        assert_int_equal(sps[i], sp_big);
        assert_int_equal(ids[i], i % 3 == 2 ? id_small : id_big);
    }
    assert_int_not_equal(id_big, id_small);
    assert_mostly_cached(hits0, misses0, N);
    assert_int_equal(rec_stack_crosscheck_failures(), 0);

    struct trd_trace *t = read_back();
    const struct trd_stack *sb = trd_stack(t, id_big), *ss = trd_stack(t, id_small);
    assert_non_null(sb);
    assert_non_null(ss);
    assert_true(inside(sb->frames[2], (uintptr_t)dyn));
    assert_true(inside(ss->frames[2], (uintptr_t)dyn));
    /* over_* have larger bodies than via_*: look a little further (much
     * further with AddressSanitizer's checks of their arrays). */
#ifdef __SANITIZE_ADDRESS__
    const uintptr_t body = 1024;
#else
    const uintptr_t body = 160;
#endif
    assert_true(sb->frames[3] > (uintptr_t)over_big && sb->frames[3] < (uintptr_t)over_big + body);
    assert_true(ss->frames[3] > (uintptr_t)over_small &&
                ss->frames[3] < (uintptr_t)over_small + body);
    trd_close(t);
}

/* ---- a depth limit that truncates the stack ---- */

static void truncated_stacks(void **state)
{
    (void)state;
    unsigned saved = rec_config.max_frames;
    uint64_t hits0, misses0;
    uint32_t ids[2][2];
    rec_stack_cache_stats(&hits0, &misses0);
    for (int depth = 2; depth <= 3; depth++) {
        rec_config.max_frames = (unsigned)depth;
        for (int i = 0; i < 200; i++) {
            via = i % 2 ? via_b : via_a;
            uint32_t id = via();
            if (i < 2)
                ids[depth - 2][i] = id;
            else
                assert_int_equal(id, ids[depth - 2][i % 2]);
        }
    }
    rec_config.max_frames = saved;
    /* Two frames (capture, leaf): the chains are the same stack. Three: not. */
    assert_int_equal(ids[0][0], ids[0][1]);
    assert_int_not_equal(ids[1][0], ids[1][1]);
    assert_mostly_cached(hits0, misses0, 400);
    assert_int_equal(rec_stack_crosscheck_failures(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_sp_different_callers),
        cmocka_unit_test(alloca_frames),
        cmocka_unit_test(truncated_stacks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
