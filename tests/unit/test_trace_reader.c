/* test_trace_reader.c — unit tests of symbolizer/trace_reader.c.
 *
 * Traces are built here with a tiny encoder that follows docs/trace-format.md
 * (using the tr_put_* helpers of trace_format.h), written to a temporary
 * directory, and read back. Covered: every record type and accessor, the
 * merge across threads (blocks out of file order, address reuse across
 * threads, releases before acquisitions at equal times, the two points of a
 * realloc), cut files at every length, corrupt and hostile input, and a
 * random merge checked against its definition. Run also under valgrind and
 * ASan: the mutation test is there to find bad reads, not wrong answers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <zstd.h>

#include "trace_format.h"
#include "trace_reader.h"

/* ---- a tiny trace encoder (the writer side of docs/trace-format.md) ---- */

struct buf {
    uint8_t *p;
    size_t len, cap;
};

static void buf_need(struct buf *b, size_t n)
{
    if (b->len + n <= b->cap)
        return;
    size_t c = b->cap ? b->cap * 2 : 256;
    while (c < b->len + n)
        c *= 2;
    b->p = realloc(b->p, c);
    assert_non_null(b->p);
    b->cap = c;
}

static void buf_put(struct buf *b, const void *src, size_t n)
{
    buf_need(b, n);
    if (n > 0)
        memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void buf_u32(struct buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    buf_put(b, x, 4);
}

static void buf_u64(struct buf *b, uint64_t v)
{
    buf_u32(b, (uint32_t)v);
    buf_u32(b, (uint32_t)(v >> 32));
}

static void buf_v(struct buf *b, uint64_t v)
{
    buf_need(b, 10);
    b->len = (size_t)(tr_put_u64(b->p + b->len, v) - b->p);
}

static void buf_s(struct buf *b, int64_t v)
{
    buf_need(b, 10);
    b->len = (size_t)(tr_put_i64(b->p + b->len, v) - b->p);
}

static void buf_byte(struct buf *b, uint8_t v)
{
    buf_put(b, &v, 1);
}

/* One block under construction. Times passed to the rec_* helpers are
 * absolute; the helpers turn them into the block's deltas. */
struct blkb {
    struct buf pay;
    uint32_t thread, seq, nrec, flags;
    uint64_t first_ns, clock, prev;
};

static void blk_begin(struct blkb *k, uint32_t thread, uint32_t seq, uint64_t first_ns)
{
    memset(k, 0, sizeof *k);
    k->thread = thread;
    k->seq = seq;
    k->first_ns = first_ns;
    k->clock = first_ns;
}

static void blk_dt(struct blkb *k, uint64_t t)
{
    assert_true(t >= k->clock);
    buf_v(&k->pay, t - k->clock);
    k->clock = t;
}

static void blk_ptr(struct blkb *k, uint64_t p)
{
    buf_s(&k->pay, (int64_t)(p - k->prev));
    k->prev = p;
}

static void rec_alloc(struct blkb *k, uint8_t fn, uint64_t t, uint64_t ptr, uint64_t size,
                      uint32_t stack, uint64_t slack, uint64_t align)
{
    buf_byte(&k->pay, TR_REC_ALLOC);
    buf_byte(&k->pay, fn);
    blk_dt(k, t);
    blk_ptr(k, ptr);
    buf_v(&k->pay, size);
    buf_v(&k->pay, stack);
    buf_v(&k->pay, slack);
    if (fn >= TR_FN_POSIX_MEMALIGN && fn <= TR_FN_MEMALIGN)
        buf_v(&k->pay, align);
    k->nrec++;
}

static void rec_malloc(struct blkb *k, uint64_t t, uint64_t ptr, uint64_t size, uint32_t stack)
{
    rec_alloc(k, TR_FN_MALLOC, t, ptr, size, stack, 0, 0);
}

static void rec_free(struct blkb *k, uint64_t t, uint64_t ptr)
{
    buf_byte(&k->pay, TR_REC_FREE);
    buf_byte(&k->pay, TR_FN_FREE);
    blk_dt(k, t);
    blk_ptr(k, ptr);
    k->nrec++;
}

static void rec_realloc(struct blkb *k, uint64_t t1, uint64_t t2, uint64_t old, uint64_t new_ptr,
                        uint64_t size, uint32_t stack, uint64_t slack)
{
    buf_byte(&k->pay, TR_REC_REALLOC);
    buf_byte(&k->pay, TR_FN_REALLOC);
    blk_dt(k, t1);
    blk_dt(k, t2);
    blk_ptr(k, old);
    blk_ptr(k, new_ptr);
    buf_v(&k->pay, size);
    buf_v(&k->pay, stack);
    buf_v(&k->pay, slack);
    k->nrec++;
}

static void rec_fail(struct blkb *k, uint64_t t, uint64_t size, uint32_t stack)
{
    buf_byte(&k->pay, TR_REC_FAIL);
    buf_byte(&k->pay, TR_FN_MALLOC);
    blk_dt(k, t);
    buf_v(&k->pay, size);
    buf_v(&k->pay, stack);
    k->nrec++;
}

static void rec_stack(struct blkb *k, uint32_t id, uint32_t epoch, uint32_t depth,
                      const uint64_t *frames)
{
    buf_byte(&k->pay, TR_REC_STACK);
    buf_v(&k->pay, id);
    buf_v(&k->pay, epoch);
    buf_v(&k->pay, depth);
    uint64_t prev = 0;
    for (uint32_t i = 0; i < depth; i++) {
        buf_s(&k->pay, (int64_t)(frames[i] - prev));
        prev = frames[i];
    }
    k->nrec++;
    k->flags |= TR_BLOCK_HAS_META;
}

/* MODULES with one module of two segments. */
static void rec_modules(struct blkb *k, uint64_t t, uint64_t epoch, const char *path, uint64_t base)
{
    static const uint8_t bid[4] = {0xde, 0xad, 0xbe, 0xef};
    buf_byte(&k->pay, TR_REC_MODULES);
    blk_dt(k, t);
    buf_v(&k->pay, epoch);
    buf_v(&k->pay, 1);
    buf_v(&k->pay, base);
    buf_v(&k->pay, strlen(path));
    buf_put(&k->pay, path, strlen(path));
    buf_v(&k->pay, sizeof bid);
    buf_put(&k->pay, bid, sizeof bid);
    buf_v(&k->pay, 2);
    buf_v(&k->pay, 0x0);
    buf_v(&k->pay, 0x1000);
    buf_v(&k->pay, TR_SEG_EXEC | TR_SEG_READ);
    buf_v(&k->pay, 0x3000);
    buf_v(&k->pay, 0x200);
    buf_v(&k->pay, TR_SEG_WRITE | TR_SEG_READ);
    k->nrec++;
    k->flags |= TR_BLOCK_HAS_META;
}

static void rec_process(struct blkb *k, const char *exe, int argc, const char *const *argv)
{
    buf_byte(&k->pay, TR_REC_PROCESS);
    buf_v(&k->pay, 1234);
    buf_v(&k->pay, 1);
    buf_v(&k->pay, strlen(exe));
    buf_put(&k->pay, exe, strlen(exe));
    buf_v(&k->pay, (uint64_t)argc);
    for (int i = 0; i < argc; i++) {
        buf_v(&k->pay, strlen(argv[i]));
        buf_put(&k->pay, argv[i], strlen(argv[i]));
    }
    k->nrec++;
    k->flags |= TR_BLOCK_HAS_META;
}

static void rec_thread(struct blkb *k, uint64_t t, uint32_t tid)
{
    buf_byte(&k->pay, TR_REC_THREAD);
    blk_dt(k, t);
    buf_v(&k->pay, tid);
    k->nrec++;
    k->flags |= TR_BLOCK_HAS_META;
}

static void rec_end(struct blkb *k, uint64_t t, int64_t status, uint64_t lost)
{
    buf_byte(&k->pay, TR_REC_END);
    blk_dt(k, t);
    buf_s(&k->pay, status);
    buf_v(&k->pay, lost);
    buf_v(&k->pay, 0); /* no fatal signal */
    k->nrec++;
    k->flags |= TR_BLOCK_HAS_META;
}

/* SAMPLE with n statistics (values stats[0..n)). */
static void rec_sample(struct blkb *k, uint64_t t, uint64_t rss, uint32_t n, const uint64_t *stats)
{
    buf_byte(&k->pay, TR_REC_SAMPLE);
    blk_dt(k, t);
    buf_v(&k->pay, rss);
    buf_v(&k->pay, n);
    for (uint32_t i = 0; i < n; i++)
        buf_v(&k->pay, stats[i]);
    k->nrec++;
    k->flags |= TR_BLOCK_HAS_META;
}

static void file_header(struct buf *f, uint64_t start_mono_ns)
{
    buf_put(f, TR_MAGIC, 8);
    buf_u32(f, TR_VERSION);
    buf_u32(f, 64);
    buf_u32(f, 1234);
    buf_u32(f, 1);
    buf_u64(f, start_mono_ns);
    buf_u64(f, 1700000000000000000ull);
    buf_u32(f, 0);
    buf_u32(f, 64);
    buf_u64(f, 0);
    buf_u64(f, 0);
}

static void file_block_raw(struct buf *f, uint32_t magic, uint32_t thread, uint32_t seq,
                           uint32_t payload_bytes, uint32_t nrec, uint32_t flags, uint64_t first_ns,
                           const void *payload, size_t n)
{
    buf_u32(f, magic);
    buf_u32(f, thread);
    buf_u32(f, seq);
    buf_u32(f, payload_bytes);
    buf_u32(f, nrec);
    buf_u32(f, flags);
    buf_u64(f, first_ns);
    buf_put(f, payload, n);
}

/* Append the block and release its payload. */
static void file_block(struct buf *f, struct blkb *k)
{
    file_block_raw(f, TR_BLOCK_MAGIC, k->thread, k->seq, (uint32_t)k->pay.len, k->nrec, k->flags,
                   k->first_ns, k->pay.p, k->pay.len);
    free(k->pay.p);
    memset(&k->pay, 0, sizeof k->pay);
}

static char tmpdir[64];

/* Write len bytes of f to a file of the temporary directory; returns its path. */
static const char *file_write_n(const struct buf *f, size_t len, const char *name)
{
    static char path[160];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    if (len > 0)
        assert_int_equal(fwrite(f->p, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
    return path;
}

static const char *file_write(const struct buf *f, const char *name)
{
    return file_write_n(f, f->len, name);
}

/* ---- reading helpers ---- */

struct evs {
    struct trd_event *e;
    size_t n, cap;
};

static int read_all(struct trd_trace *t, struct evs *v)
{
    struct trd_event ev;
    int rc;
    v->n = 0;
    while ((rc = trd_next(t, &ev)) > 0) {
        if (v->n == v->cap) {
            v->cap = v->cap ? v->cap * 2 : 64;
            v->e = realloc(v->e, v->cap * sizeof *v->e);
            assert_non_null(v->e);
        }
        v->e[v->n++] = ev;
    }
    return rc;
}

static struct trd_trace *open_ok(const char *path)
{
    struct trd_trace *t = NULL;
    char err[256] = "";
    int rc = trd_open(path, &t, err, sizeof err);
    if (rc != 0)
        fail_msg("trd_open: %s", err);
    assert_non_null(t);
    return t;
}

/* Open must fail with -EINVAL and a message containing want. */
/* The trace is rejected with an error that contains want: by trd_open(),
 * or, for damage in a block that holds events only (which the replay is the
 * first to decode), by the replay. */
static void open_fails(const struct buf *f, const char *want)
{
    struct trd_trace *t = NULL;
    char err[256] = "";
    int rc = trd_open(file_write(f, "bad.trace"), &t, err, sizeof err);
    if (rc == 0) {
        struct trd_event ev;
        while ((rc = trd_next(t, &ev)) > 0)
            ;
        snprintf(err, sizeof err, "%s", trd_error(t));
        trd_close(t);
        t = NULL;
    }
    assert_int_equal(rc, -EINVAL);
    assert_null(t);
    if (strstr(err, want) == NULL)
        fail_msg("error '%s' does not contain '%s'", err, want);
    assert_null(strchr(err, '\n'));
}

static void expect_ev(const struct trd_event *e, uint8_t type, uint8_t part, uint32_t thread,
                      uint64_t time, uint64_t ptr)
{
    assert_int_equal(e->type, type);
    assert_int_equal(e->part, part);
    assert_int_equal(e->thread, thread);
    assert_int_equal(e->time_ns, time);
    assert_int_equal(e->ptr, ptr);
}

/* ---- tests ---- */

static void test_single_thread_all_records(void **state)
{
    (void)state;
    struct buf f = {0};
    struct blkb k;
    static const char *const argv[] = {"prog", "-x", "a b"};
    const uint64_t frames[3] = {0x401234, 0x401000, 0x7f0000001000};

    file_header(&f, 900);
    blk_begin(&k, 1, 0, 1000);
    rec_thread(&k, 1000, 4242);
    rec_process(&k, "/bin/prog", 3, argv);
    rec_modules(&k, 1000, 0, "/bin/prog", 0x400000);
    rec_stack(&k, 1, 0, 3, frames);
    rec_alloc(&k, TR_FN_MALLOC, 1010, 0x5000, 100, 1, 4, 0);
    rec_alloc(&k, TR_FN_POSIX_MEMALIGN, 1020, 0x6000, 64, 1, 0, 64);
    rec_free(&k, 1030, 0x5000);
    rec_fail(&k, 1040, 1ull << 40, 1);
    rec_end(&k, 1050, 3, 7);
    file_block(&f, &k);

    struct trd_trace *t = open_ok(file_write(&f, "one.trace"));
    assert_int_equal(trd_header(t)->pid, 1234);
    assert_int_equal(trd_header(t)->start_mono_ns, 900);
    assert_string_equal(trd_exe(t), "/bin/prog");
    assert_string_equal(trd_cmdline(t), "prog -x a b");
    assert_int_equal(trd_thread_count(t), 1);
    assert_int_equal(trd_thread(t, 0)->serial, 1);
    assert_int_equal(trd_thread(t, 0)->tid, 4242);
    assert_int_equal(trd_thread(t, 0)->events, 4);
    assert_null(trd_thread(t, 1));
    assert_int_equal(trd_stack_count(t), 2);
    assert_null(trd_stack(t, 0));
    assert_null(trd_stack(t, 2));
    const struct trd_stack *s = trd_stack(t, 1);
    assert_non_null(s);
    assert_int_equal(s->depth, 3);
    assert_memory_equal(s->frames, frames, sizeof frames);
    assert_int_equal(trd_snapshot_count(t), 1);
    const struct mm_snapshot *sn = trd_snapshot(t, 0);
    assert_int_equal(sn->time_ns, 1000);
    assert_int_equal(sn->n_modules, 1);
    assert_string_equal(sn->modules[0].path, "/bin/prog");
    assert_int_equal(sn->modules[0].base, 0x400000);
    assert_int_equal(sn->modules[0].build_id_len, 4);
    assert_int_equal(sn->modules[0].build_id[0], 0xde);
    assert_int_equal(sn->modules[0].n_segments, 2);
    assert_int_equal(sn->modules[0].segments[1].vaddr, 0x3000);
    assert_int_equal(sn->modules[0].segments[1].flags, TR_SEG_WRITE | TR_SEG_READ);
    assert_true(trd_complete(t));
    assert_int_equal(trd_exit_status(t), 3);
    assert_int_equal(trd_lost_events(t), 7);
    assert_int_equal(trd_first_ns(t), 1010);
    assert_int_equal(trd_last_ns(t), 1040);
    assert_int_equal(trd_event_records(t), 4);
    assert_int_equal(trd_bytes_read(t), f.len);
    assert_int_equal(trd_file_bytes(t), f.len);

    struct evs v = {0};
    assert_int_equal(read_all(t, &v), 0);
    assert_int_equal(v.n, 4);
    expect_ev(&v.e[0], TR_REC_ALLOC, TRD_WHOLE, 1, 1010, 0x5000);
    assert_int_equal(v.e[0].size, 100);
    assert_int_equal(v.e[0].slack, 4);
    assert_int_equal(v.e[0].stack, 1);
    assert_int_equal(v.e[0].fn, TR_FN_MALLOC);
    expect_ev(&v.e[1], TR_REC_ALLOC, TRD_WHOLE, 1, 1020, 0x6000);
    assert_int_equal(v.e[1].align, 64);
    assert_int_equal(v.e[1].fn, TR_FN_POSIX_MEMALIGN);
    expect_ev(&v.e[2], TR_REC_FREE, TRD_WHOLE, 1, 1030, 0x5000);
    expect_ev(&v.e[3], TR_REC_FAIL, TRD_WHOLE, 1, 1040, 0);
    assert_int_equal(v.e[3].size, 1ull << 40);
    assert_int_equal(v.e[3].stack, 1);
    /* The end stays the end. */
    struct trd_event ev;
    assert_int_equal(trd_next(t, &ev), 0);
    assert_int_equal(trd_next(t, &ev), 0);

    /* Rewind replays the same stream. */
    struct evs w = {0};
    assert_int_equal(trd_rewind(t), 0);
    assert_int_equal(read_all(t, &w), 0);
    assert_int_equal(w.n, v.n);
    assert_memory_equal(w.e, v.e, v.n * sizeof *v.e);
    free(v.e);
    free(w.e);
    trd_close(t);
    free(f.p);
}

/* Thread 1 frees P at 100, thread 2 gets P at 101 but its block is first in
 * the file. At equal times a release comes first even from a higher serial. */
static void test_cross_thread_reuse(void **state)
{
    (void)state;
    struct buf f = {0};
    struct blkb k;
    file_header(&f, 10);
    blk_begin(&k, 2, 0, 100);
    rec_malloc(&k, 101, 0x7000, 8, 0);
    rec_malloc(&k, 150, 0x8000, 8, 0);
    rec_free(&k, 200, 0x8000);
    file_block(&f, &k);
    blk_begin(&k, 1, 0, 40);
    rec_malloc(&k, 50, 0x7000, 16, 0);
    rec_free(&k, 100, 0x7000);
    rec_malloc(&k, 200, 0x8000, 32, 0);
    file_block(&f, &k);

    struct trd_trace *t = open_ok(file_write(&f, "reuse.trace"));
    assert_false(trd_complete(t)); /* no END */
    assert_int_equal(trd_thread_count(t), 2);
    struct evs v = {0};
    assert_int_equal(read_all(t, &v), 0);
    assert_int_equal(v.n, 6);
    expect_ev(&v.e[0], TR_REC_ALLOC, 0, 1, 50, 0x7000);
    expect_ev(&v.e[1], TR_REC_FREE, 0, 1, 100, 0x7000);
    expect_ev(&v.e[2], TR_REC_ALLOC, 0, 2, 101, 0x7000);
    expect_ev(&v.e[3], TR_REC_ALLOC, 0, 2, 150, 0x8000);
    expect_ev(&v.e[4], TR_REC_FREE, 0, 2, 200, 0x8000);
    expect_ev(&v.e[5], TR_REC_ALLOC, 0, 1, 200, 0x8000);
    free(v.e);
    trd_close(t);
    free(f.p);
}

/* A realloc is two points; the next record's dt counts from the second. */
static void test_realloc_two_points(void **state)
{
    (void)state;
    struct buf f = {0};
    struct blkb k;
    file_header(&f, 0);
    blk_begin(&k, 1, 0, 0);
    rec_malloc(&k, 10, 0xa000, 10, 1);
    rec_realloc(&k, 20, 40, 0xa000, 0xb000, 20, 2, 3);
    rec_free(&k, 45, 0xb000);
    rec_malloc(&k, 46, 0xc000, 10, 1);
    rec_realloc(&k, 50, 51, 0xc000, 0, 99, 2, 0); /* failed */
    rec_realloc(&k, 52, 53, 0xc000, 0, 0, 2, 0);  /* realloc(p, 0) */
    rec_free(&k, 54, 0xd000);                     /* delta from 0 after new == 0 */
    file_block(&f, &k);
    blk_begin(&k, 2, 0, 0);
    rec_malloc(&k, 30, 0xe000, 5, 1);
    rec_free(&k, 40, 0xe000); /* equal to the acquisition's time: goes first */
    file_block(&f, &k);

    struct trd_trace *t = open_ok(file_write(&f, "realloc.trace"));
    assert_int_equal(trd_event_records(t), 9);
    struct evs v = {0};
    assert_int_equal(read_all(t, &v), 0);
    assert_int_equal(trd_last_ns(t), 54); /* known once the replay has read every block */
    assert_int_equal(v.n, 12);
    expect_ev(&v.e[0], TR_REC_ALLOC, 0, 1, 10, 0xa000);
    expect_ev(&v.e[1], TR_REC_REALLOC, TRD_REALLOC_RELEASE, 1, 20, 0xb000);
    assert_int_equal(v.e[1].old_ptr, 0xa000);
    assert_int_equal(v.e[1].size, 20);
    assert_int_equal(v.e[1].stack, 2);
    assert_int_equal(v.e[1].slack, 3);
    expect_ev(&v.e[2], TR_REC_ALLOC, 0, 2, 30, 0xe000);
    expect_ev(&v.e[3], TR_REC_FREE, 0, 2, 40, 0xe000);
    expect_ev(&v.e[4], TR_REC_REALLOC, TRD_REALLOC_ACQUIRE, 1, 40, 0xb000);
    assert_int_equal(v.e[4].old_ptr, 0xa000);
    assert_int_equal(v.e[4].size, 20);
    assert_int_equal(v.e[4].stack, 2);
    assert_int_equal(v.e[4].slack, 3);
    expect_ev(&v.e[5], TR_REC_FREE, 0, 1, 45, 0xb000);
    expect_ev(&v.e[6], TR_REC_ALLOC, 0, 1, 46, 0xc000);
    expect_ev(&v.e[7], TR_REC_REALLOC, TRD_REALLOC_RELEASE, 1, 50, 0);
    assert_int_equal(v.e[7].old_ptr, 0xc000);
    assert_int_equal(v.e[7].size, 99);
    expect_ev(&v.e[8], TR_REC_REALLOC, TRD_REALLOC_ACQUIRE, 1, 51, 0);
    expect_ev(&v.e[9], TR_REC_REALLOC, TRD_REALLOC_RELEASE, 1, 52, 0);
    assert_int_equal(v.e[9].old_ptr, 0xc000);
    assert_int_equal(v.e[9].size, 0);
    expect_ev(&v.e[10], TR_REC_REALLOC, TRD_REALLOC_ACQUIRE, 1, 53, 0);
    expect_ev(&v.e[11], TR_REC_FREE, 0, 1, 54, 0xd000);
    free(v.e);
    trd_close(t);
    free(f.p);
}

/* Blocks of one thread out of file order, an empty block, clock and pointer
 * state reset per block. */
static void test_blocks_by_seq(void **state)
{
    (void)state;
    struct buf f = {0};
    struct blkb k;
    file_header(&f, 0);
    blk_begin(&k, 1, 2, 300);
    rec_free(&k, 310, 0x1000);
    file_block(&f, &k);
    blk_begin(&k, 1, 0, 100);
    rec_thread(&k, 100, 77);
    rec_malloc(&k, 110, 0x1000, 1, 0);
    file_block(&f, &k);
    blk_begin(&k, 1, 3, 400);
    rec_end(&k, 400, 0, 0);
    file_block(&f, &k);
    blk_begin(&k, 1, 1, 200); /* empty */
    file_block(&f, &k);

    struct trd_trace *t = open_ok(file_write(&f, "seq.trace"));
    assert_true(trd_complete(t));
    assert_int_equal(trd_exit_status(t), 0);
    assert_int_equal(trd_thread(t, 0)->tid, 77);
    struct evs v = {0};
    assert_int_equal(read_all(t, &v), 0);
    assert_int_equal(v.n, 2);
    expect_ev(&v.e[0], TR_REC_ALLOC, 0, 1, 110, 0x1000);
    expect_ev(&v.e[1], TR_REC_FREE, 0, 1, 310, 0x1000);
    free(v.e);
    trd_close(t);
    free(f.p);
}

/* SAMPLE records: their times come from the block clock and move it on
 * (the next event's dt counts from the sample), they come out in time order
 * from any thread, a sample with more statistics than the reader knows keeps
 * the known ones, one with fewer has none, and a count over the cap or a
 * cut record is corruption. */
static void test_samples(void **state)
{
    (void)state;
    struct buf f = {0};
    struct blkb k;
    const uint64_t mi[7] = {135168, 52436992, 1000, 134168, 133000, 77, 88};
    file_header(&f, 0);
    blk_begin(&k, 2, 0, 500); /* the flusher's thread: samples only */
    rec_thread(&k, 500, 99);
    rec_sample(&k, 550, 4096 * 3, 5, mi);
    rec_sample(&k, 600, 60000000, 7, mi); /* two more than we know */
    rec_sample(&k, 650, 8192, 3, mi);     /* fewer than we know: none */
    file_block(&f, &k);
    blk_begin(&k, 1, 0, 100);
    rec_malloc(&k, 110, 0x1000, 52428800, 0);
    rec_sample(&k, 120, 4096, 0, NULL);
    rec_free(&k, 700, 0x1000); /* dt from the sample at 120 */
    rec_end(&k, 710, 0, 0);
    file_block(&f, &k);

    struct trd_trace *t = open_ok(file_write(&f, "samples.trace"));
    assert_true(trd_complete(t));
    assert_int_equal(trd_sample_count(t), 4);
    assert_null(trd_sample(t, 4));
    const struct trd_sample *s = trd_sample(t, 0);
    assert_int_equal(s->time_ns, 120);
    assert_int_equal(s->rss_bytes, 4096);
    assert_int_equal(s->n_stats, 0);
    s = trd_sample(t, 1);
    assert_int_equal(s->time_ns, 550);
    assert_int_equal(s->rss_bytes, 4096 * 3);
    assert_int_equal(s->n_stats, TR_STAT_COUNT_);
    assert_int_equal(s->stats[TR_STAT_ARENA], 135168);
    assert_int_equal(s->stats[TR_STAT_HBLKHD], 52436992);
    assert_int_equal(s->stats[TR_STAT_UORDBLKS], 1000);
    assert_int_equal(s->stats[TR_STAT_FORDBLKS], 134168);
    assert_int_equal(s->stats[TR_STAT_KEEPCOST], 133000);
    s = trd_sample(t, 2);
    assert_int_equal(s->time_ns, 600);
    assert_int_equal(s->rss_bytes, 60000000);
    assert_int_equal(s->n_stats, TR_STAT_COUNT_);
    assert_int_equal(s->stats[TR_STAT_KEEPCOST], 133000);
    s = trd_sample(t, 3);
    assert_int_equal(s->time_ns, 650);
    assert_int_equal(s->n_stats, 0);
    assert_int_equal(s->stats[TR_STAT_ARENA], 0);
    struct evs v = {0};
    assert_int_equal(read_all(t, &v), 0);
    assert_int_equal(v.n, 2);
    expect_ev(&v.e[0], TR_REC_ALLOC, 0, 1, 110, 0x1000);
    expect_ev(&v.e[1], TR_REC_FREE, 0, 1, 700, 0x1000);
    free(v.e);
    trd_close(t);
    free(f.p);

    /* Too many statistics. */
    f = (struct buf){0};
    file_header(&f, 0);
    blk_begin(&k, 1, 0, 100);
    buf_byte(&k.pay, TR_REC_SAMPLE);
    buf_v(&k.pay, 0);
    buf_v(&k.pay, 4096);
    buf_v(&k.pay, TR_MAX_SAMPLE_STATS + 1);
    for (unsigned i = 0; i <= TR_MAX_SAMPLE_STATS; i++)
        buf_v(&k.pay, 1);
    k.nrec++;
    file_block(&f, &k);
    open_fails(&f, "SAMPLE");
    free(f.p);

    /* Statistics cut short by the end of the block. */
    f = (struct buf){0};
    file_header(&f, 0);
    blk_begin(&k, 1, 0, 100);
    buf_byte(&k.pay, TR_REC_SAMPLE);
    buf_v(&k.pay, 0);
    buf_v(&k.pay, 4096);
    buf_v(&k.pay, 5);
    buf_v(&k.pay, 1);
    k.nrec++;
    file_block(&f, &k);
    open_fails(&f, "SAMPLE");
    free(f.p);
}

static void rec_watermark(struct blkb *k, uint64_t w)
{
    buf_byte(&k->pay, TR_REC_WATERMARK);
    buf_v(&k->pay, w);
    k->nrec++;
    k->flags |= TR_BLOCK_HAS_META;
}

/* WATERMARK records: accepted anywhere in a metadata block, their time is
 * absolute and does not move the block clock (the SAMPLE after one counts its
 * dt from the record before it); a cut one is corruption, named. */
static void test_watermarks(void **state)
{
    (void)state;
    struct buf f = {0};
    struct blkb k;
    file_header(&f, 0);
    blk_begin(&k, 1, 0, 100);
    rec_malloc(&k, 110, 0x1000, 64, 0);
    file_block(&f, &k);
    blk_begin(&k, 2, 0, 500); /* the flusher's */
    rec_thread(&k, 500, 99);
    rec_watermark(&k, 300);
    rec_sample(&k, 550, 4096, 0, NULL);
    rec_watermark(&k, 560);
    file_block(&f, &k);
    blk_begin(&k, 1, 1, 600);
    rec_free(&k, 600, 0x1000);
    rec_end(&k, 610, 0, 0);
    file_block(&f, &k);

    struct trd_trace *t = open_ok(file_write(&f, "watermarks.trace"));
    assert_true(trd_complete(t));
    assert_int_equal(trd_sample_count(t), 1);
    assert_int_equal(trd_sample(t, 0)->time_ns, 550);
    struct evs v = {0};
    assert_int_equal(read_all(t, &v), 0);
    assert_int_equal(v.n, 2);
    expect_ev(&v.e[0], TR_REC_ALLOC, 0, 1, 110, 0x1000);
    expect_ev(&v.e[1], TR_REC_FREE, 0, 1, 600, 0x1000);
    free(v.e);
    trd_close(t);
    free(f.p);

    f = (struct buf){0};
    file_header(&f, 0);
    blk_begin(&k, 1, 0, 100);
    buf_byte(&k.pay, TR_REC_WATERMARK);
    buf_byte(&k.pay, 0x80); /* a varint the block cuts */
    k.nrec++;
    k.flags |= TR_BLOCK_HAS_META;
    file_block(&f, &k);
    open_fails(&f, "corrupt record in block 0 of thread 1 at offset 96 (WATERMARK)");
    free(f.p);
}

/* Two blocks of one thread with the same seq: corruption. */
static void test_duplicate_seq(void **state)
{
    (void)state;
    struct buf f = {0};
    struct blkb k;
    file_header(&f, 0);
    for (int i = 0; i < 2; i++) {
        blk_begin(&k, 3, 0, 0);
        rec_malloc(&k, 1, 0x10, 1, 0);
        file_block(&f, &k);
    }
    open_fails(&f, "two blocks");
    free(f.p);
}

/* A missing block is corruption in a whole file, the end of that thread's
 * stream in a cut one. */
static void test_seq_gap(void **state)
{
    (void)state;
    struct buf f = {0};
    struct blkb k;
    file_header(&f, 0);
    blk_begin(&k, 1, 0, 0);
    rec_malloc(&k, 1, 0x10, 1, 0);
    file_block(&f, &k);
    blk_begin(&k, 1, 2, 0);
    rec_malloc(&k, 5, 0x20, 1, 0);
    file_block(&f, &k);
    blk_begin(&k, 2, 0, 0);
    rec_malloc(&k, 3, 0x30, 1, 0);
    file_block(&f, &k);
    open_fails(&f, "block 1 of thread 1 is missing");

    /* Now cut the file inside one more block. */
    blk_begin(&k, 2, 1, 0);
    rec_malloc(&k, 9, 0x40, 1, 0);
    file_block(&f, &k);
    struct trd_trace *t = open_ok(file_write_n(&f, f.len - 2, "gap.trace"));
    assert_false(trd_complete(t));
    assert_int_equal(trd_event_records(t), 2);
    struct evs v = {0};
    assert_int_equal(read_all(t, &v), 0);
    assert_int_equal(v.n, 2);
    expect_ev(&v.e[0], TR_REC_ALLOC, 0, 1, 1, 0x10);
    expect_ev(&v.e[1], TR_REC_ALLOC, 0, 2, 3, 0x30);
    free(v.e);
    trd_close(t);
    free(f.p);
}

/* Cut the file at every length: each prefix opens (or is too short for a
 * header), replays exactly the events of its whole blocks, and is complete
 * only when nothing is missing. */
static void test_truncated_everywhere(void **state)
{
    (void)state;
    struct buf f = {0};
    struct blkb k;
    size_t ends[8], n_ends = 0;
    uint64_t events_upto[8];
    file_header(&f, 0);
    for (uint32_t b = 0; b < 3; b++) {
        blk_begin(&k, 1 + b % 2, b / 2, 100 * b);
        for (uint32_t i = 0; i < 4; i++)
            rec_malloc(&k, 100 * b + i, 0x1000 * (b + 1) + 16 * i, 10 + i, 0);
        file_block(&f, &k);
        ends[n_ends] = f.len;
        events_upto[n_ends++] = 4 * (b + 1);
    }
    blk_begin(&k, 2, 1, 900);
    rec_end(&k, 900, 0, 0);
    file_block(&f, &k);
    ends[n_ends] = f.len;
    events_upto[n_ends++] = 12;

    for (size_t len = 0; len <= f.len; len++) {
        struct trd_trace *t = NULL;
        char err[256];
        int rc = trd_open(file_write_n(&f, len, "cut.trace"), &t, err, sizeof err);
        if (len < 64) {
            assert_int_equal(rc, -EINVAL);
            continue;
        }
        assert_int_equal(rc, 0);
        uint64_t want = 0, whole = 64;
        for (size_t i = 0; i < n_ends; i++)
            if (ends[i] <= len) {
                want = events_upto[i];
                whole = ends[i];
            }
        assert_int_equal(trd_event_records(t), want);
        assert_int_equal(trd_bytes_read(t), whole);
        assert_int_equal(trd_complete(t), len == f.len);
        struct evs v = {0};
        assert_int_equal(read_all(t, &v), 0);
        assert_int_equal(v.n, want);
        free(v.e);
        trd_close(t);
    }
    free(f.p);
}

static void test_bad_headers(void **state)
{
    (void)state;
    struct buf f = {0};
    file_header(&f, 0);

    struct buf g = {0};
    buf_put(&g, f.p, f.len);
    g.p[0] = 'X';
    open_fails(&g, "bad magic");
    memcpy(g.p, f.p, f.len);
    g.p[8] = 2;
    open_fails(&g, "version 2");
    memcpy(g.p, f.p, f.len);
    g.p[12] = 10;
    open_fails(&g, "header_bytes");
    memcpy(g.p, f.p, f.len);
    g.p[12] = 200; /* past the end of the file */
    open_fails(&g, "header_bytes");
    g.len = 10;
    open_fails(&g, "shorter than a header");
    free(g.p);

    /* A longer header is skipped. */
    memset(&g, 0, sizeof g);
    buf_put(&g, f.p, f.len);
    g.p[12] = 80;
    uint8_t pad[16] = {0};
    buf_put(&g, pad, sizeof pad);
    struct blkb k;
    blk_begin(&k, 1, 0, 0);
    rec_malloc(&k, 1, 0x10, 1, 0);
    file_block(&g, &k);
    struct trd_trace *t = open_ok(file_write(&g, "long.trace"));
    assert_int_equal(trd_event_records(t), 1);
    trd_close(t);
    free(g.p);

    /* Empty trace: header only. */
    t = open_ok(file_write(&f, "empty.trace"));
    assert_int_equal(trd_event_records(t), 0);
    assert_int_equal(trd_thread_count(t), 0);
    assert_false(trd_complete(t));
    assert_int_equal(trd_exit_status(t), -1);
    assert_string_equal(trd_exe(t), "");
    assert_string_equal(trd_cmdline(t), "");
    struct trd_event ev;
    assert_int_equal(trd_next(t, &ev), 0);
    trd_close(t);

    /* Not a file, no file. */
    char err[256];
    assert_int_equal(trd_open(tmpdir, &t, err, sizeof err), -EINVAL);
    char missing[128];
    snprintf(missing, sizeof missing, "%s/nonexistent", tmpdir);
    assert_int_equal(trd_open(missing, &t, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "cannot open"));
    free(f.p);
}

/* Build a one-block file whose payload is raw bytes. */
static void raw_block_file(struct buf *f, const void *payload, size_t n, uint32_t nrec)
{
    memset(f, 0, sizeof *f);
    file_header(f, 0);
    file_block_raw(f, TR_BLOCK_MAGIC, 1, 0, (uint32_t)n, nrec, 0, 0, payload, n);
}

static void test_corrupt_blocks(void **state)
{
    (void)state;
    struct buf f = {0};
    uint8_t p[64];

    file_header(&f, 0);
    file_block_raw(&f, 0x12345678, 1, 0, 0, 0, 0, 0, NULL, 0);
    open_fails(&f, "bad block magic at offset 64");
    free(f.p);

    memset(&f, 0, sizeof f);
    file_header(&f, 0);
    file_block_raw(&f, TR_BLOCK_MAGIC, 1, 0, TR_MAX_BLOCK_BYTES + 1, 0, 0, 0, NULL, 0);
    open_fails(&f, "limit");
    free(f.p);

    p[0] = 77;
    raw_block_file(&f, p, 1, 1);
    open_fails(&f, "unknown record type 77 in block 0 of thread 1 at offset 96");
    free(f.p);

    /* An ALLOC whose fields run past the block. */
    p[0] = TR_REC_ALLOC;
    p[1] = TR_FN_MALLOC;
    p[2] = 5;
    p[3] = 0x80;
    raw_block_file(&f, p, 4, 1);
    open_fails(&f, "corrupt record in block 0 of thread 1 at offset 96");
    free(f.p);

    /* A varint that never ends. */
    p[0] = TR_REC_FREE;
    p[1] = TR_FN_FREE;
    memset(p + 2, 0xff, 12);
    raw_block_file(&f, p, 14, 1);
    open_fails(&f, "corrupt record");
    free(f.p);

    /* Function code 0. */
    p[0] = TR_REC_FREE;
    p[1] = 0;
    p[2] = 0;
    p[3] = 0;
    raw_block_file(&f, p, 4, 1);
    open_fails(&f, "corrupt record");
    free(f.p);

    /* Record count in the header does not match. */
    struct blkb k;
    memset(&f, 0, sizeof f);
    file_header(&f, 0);
    blk_begin(&k, 1, 0, 0);
    rec_malloc(&k, 1, 0x10, 1, 0);
    k.nrec = 2;
    file_block(&f, &k);
    open_fails(&f, "header says 2 records, payload holds 1");
    free(f.p);

    /* STACK: id 0, depth over the limit, id far past any definition. */
    uint64_t frames[TR_MAX_FRAMES + 1] = {0};
    memset(&f, 0, sizeof f);
    file_header(&f, 0);
    blk_begin(&k, 1, 0, 0);
    rec_stack(&k, 0, 0, 1, frames);
    file_block(&f, &k);
    open_fails(&f, "STACK id");
    free(f.p);

    memset(&f, 0, sizeof f);
    file_header(&f, 0);
    blk_begin(&k, 1, 0, 0);
    rec_stack(&k, 1, 0, TR_MAX_FRAMES + 1, frames);
    file_block(&f, &k);
    open_fails(&f, "STACK depth");
    free(f.p);

    memset(&f, 0, sizeof f);
    file_header(&f, 0);
    blk_begin(&k, 1, 0, 0);
    rec_stack(&k, 10000000, 0, 1, frames);
    file_block(&f, &k);
    open_fails(&f, "stack id 10000000 out of range");
    free(f.p);

    memset(&f, 0, sizeof f);
    file_header(&f, 0);
    blk_begin(&k, 1, 0, 0);
    rec_alloc(&k, TR_FN_MALLOC, 1, 0x10, 8, 1u << 29, 0, 0);
    file_block(&f, &k);
    open_fails(&f, "corrupt record");
    free(f.p);

    /* A block without the metadata flag holds events only: the replay,
     * which is the first to decode it past its first record, says so. */
    memset(&f, 0, sizeof f);
    file_header(&f, 0);
    blk_begin(&k, 1, 0, 0);
    rec_malloc(&k, 1, 0x10, 1, 0);
    rec_thread(&k, 2, 99);
    k.flags = 0;
    file_block(&f, &k);
    open_fails(&f, "(not an event, in a block without the metadata flag)");
    free(f.p);

    /* A stack id far past any definition, in such a block. */
    memset(&f, 0, sizeof f);
    file_header(&f, 0);
    blk_begin(&k, 1, 0, 0);
    rec_malloc(&k, 1, 0x10, 1, 0);
    rec_malloc(&k, 2, 0x20, 1, 100000);
    file_block(&f, &k);
    open_fails(&f, "stack id 100000 out of range (0 stacks defined)");
    free(f.p);

    /* MODULES claiming 2^31 modules; PROCESS with a huge exe length. */
    size_t n = 0;
    p[n++] = TR_REC_MODULES;
    p[n++] = 0; /* dt */
    p[n++] = 0; /* epoch */
    n = (size_t)(tr_put_u64(p + n, 1ull << 31) - p);
    raw_block_file(&f, p, n, 1);
    open_fails(&f, "MODULES count");
    free(f.p);

    n = 0;
    p[n++] = TR_REC_PROCESS;
    p[n++] = 1;
    p[n++] = 1;
    n = (size_t)(tr_put_u64(p + n, 1ull << 40) - p);
    raw_block_file(&f, p, n, 1);
    open_fails(&f, "PROCESS");
    free(f.p);

    /* END with an exit status out of int range. */
    n = 0;
    p[n++] = TR_REC_END;
    p[n++] = 0;
    n = (size_t)(tr_put_i64(p + n, (int64_t)1 << 40) - p);
    p[n++] = 0;
    p[n++] = 0;
    raw_block_file(&f, p, n, 1);
    open_fails(&f, "END");
    free(f.p);
}

/* A stack may be defined after its use and in another thread's block; the
 * first of two definitions wins; module maps come out in time order. */
static void test_metadata_anywhere(void **state)
{
    (void)state;
    struct buf f = {0};
    struct blkb k;
    const uint64_t fa[2] = {0x10, 0x20}, fb[1] = {0x99};
    file_header(&f, 0);
    blk_begin(&k, 1, 0, 0);
    rec_malloc(&k, 5, 0x100, 1, 7);
    rec_modules(&k, 50, 1, "/lib/late.so", 0x7000);
    file_block(&f, &k);
    blk_begin(&k, 2, 0, 0);
    rec_modules(&k, 10, 0, "/bin/early", 0x1000);
    rec_stack(&k, 7, 0, 2, fa);
    rec_stack(&k, 7, 0, 1, fb);
    file_block(&f, &k);
    blk_begin(&k, 1, 1, 60);
    rec_end(&k, 60, -1, 0); /* END in a block not flagged as metadata */
    file_block(&f, &k);

    struct trd_trace *t = open_ok(file_write(&f, "meta.trace"));
    assert_true(trd_complete(t));
    assert_int_equal(trd_exit_status(t), -1);
    assert_int_equal(trd_stack_count(t), 8);
    assert_null(trd_stack(t, 3));
    const struct trd_stack *s = trd_stack(t, 7);
    assert_non_null(s);
    assert_int_equal(s->depth, 2);
    assert_int_equal(s->frames[1], 0x20);
    assert_int_equal(trd_snapshot_count(t), 2);
    assert_string_equal(trd_snapshot(t, 0)->modules[0].path, "/bin/early");
    assert_int_equal(trd_snapshot(t, 0)->epoch, 0);
    assert_string_equal(trd_snapshot(t, 1)->modules[0].path, "/lib/late.so");
    assert_int_equal(trd_snapshot(t, 1)->time_ns, 50);
    assert_null(trd_snapshot(t, 2));
    assert_int_equal(trd_thread(t, 1)->events, 0);
    trd_close(t);
    free(f.p);
}

/* A small deterministic generator (xorshift), so failures reproduce. */
static uint64_t rng_state;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static unsigned rnd(unsigned n)
{
    return (unsigned)(rng() % n);
}

/* A random multi-thread trace whose events carry their own identity
 * (thread << 32 | index in thread) in size, or in ptr for FREE, which has no
 * size; equal times across threads are common.
 * Returns the number of events (realloc counted twice). */
static size_t build_random(struct buf *f, unsigned n_threads, unsigned per_thread)
{
    struct blkb *blocks = calloc(n_threads * per_thread + n_threads, sizeof *blocks);
    size_t n_blocks = 0, n_events = 0;
    assert_non_null(blocks);
    file_header(f, 0);
    for (unsigned th = 1; th <= n_threads; th++) {
        uint64_t t = rnd(20);
        uint32_t seq = 0;
        struct blkb *k = &blocks[n_blocks++];
        blk_begin(k, th, seq++, t);
        rec_thread(k, t, 1000 + th);
        for (unsigned i = 0; i < per_thread; i++) {
            if (rnd(4) == 0) {
                k = &blocks[n_blocks++];
                t += rnd(3);
                blk_begin(k, th, seq++, t);
            }
            t += rnd(3);
            uint64_t id = (uint64_t)th << 32 | i;
            switch (rnd(4)) {
            case 0:
                rec_malloc(k, t, rng() & 0xfffff0, id, rnd(5));
                n_events++;
                break;
            case 1:
                rec_free(k, t, id);
                n_events++;
                break;
            case 2: {
                uint64_t t2 = t + rnd(4);
                rec_realloc(k, t, t2, rng() & 0xfff0, rng() & 0xfff0, id, rnd(5), 0);
                t = t2;
                n_events += 2;
                break;
            }
            default:
                rec_fail(k, t, id, rnd(5));
                n_events++;
                break;
            }
        }
    }
    /* Shuffle the blocks in the file. */
    for (size_t i = n_blocks; i > 1; i--) {
        size_t j = rnd((unsigned)i);
        struct blkb tmp = blocks[i - 1];
        blocks[i - 1] = blocks[j];
        blocks[j] = tmp;
    }
    for (size_t i = 0; i < n_blocks; i++)
        file_block(f, &blocks[i]);
    free(blocks);
    return n_events;
}

static uint64_t ident(const struct trd_event *e)
{
    return e->type == TR_REC_FREE ? e->ptr : e->size;
}

static int is_release(const struct trd_event *e)
{
    return e->type == TR_REC_FREE || e->part == TRD_REALLOC_RELEASE;
}

static int key_before(const struct trd_event *a, const struct trd_event *b)
{
    if (a->time_ns != b->time_ns)
        return a->time_ns < b->time_ns;
    if (is_release(a) != is_release(b))
        return is_release(a);
    return a->thread < b->thread;
}

/* The merge, checked against its definition: per thread, record order with
 * realloc halves paired; across threads, every event handed out is the least,
 * by (time, release first, thread), of the threads' next events. */
static void test_random_merge(void **state)
{
    (void)state;
    for (unsigned round = 0; round < 20; round++) {
        struct buf f = {0};
        rng_state = 0x9e3779b97f4a7c15ull + round;
        unsigned n_threads = 1 + round % 7;
        size_t n = build_random(&f, n_threads, 50 + 10 * round);
        struct trd_trace *t = open_ok(file_write(&f, "random.trace"));
        struct evs v = {0};
        assert_int_equal(read_all(t, &v), 0);
        assert_int_equal(v.n, n);

        /* Per thread: the stream in its own order. */
        uint64_t next_index[8] = {0};
        const struct trd_event *per[8][2000];
        size_t n_per[8] = {0}, at[8] = {0};
        for (size_t i = 0; i < v.n; i++) {
            const struct trd_event *e = &v.e[i];
            assert_true(e->thread >= 1 && e->thread <= n_threads);
            assert_int_equal(ident(e) >> 32, e->thread);
            uint64_t idx = ident(e) & 0xffffffffu;
            if (e->part == TRD_REALLOC_ACQUIRE) {
                assert_int_equal(idx + 1, next_index[e->thread]);
            } else {
                assert_true(idx >= next_index[e->thread]);
                next_index[e->thread] = idx + 1;
            }
            assert_true(n_per[e->thread] < 2000);
            per[e->thread][n_per[e->thread]++] = e;
        }
        /* Across threads: each event was the least head when it was taken. */
        for (size_t i = 0; i < v.n; i++) {
            const struct trd_event *e = &v.e[i];
            for (unsigned th = 1; th <= n_threads; th++)
                if (th != e->thread && at[th] < n_per[th])
                    assert_false(key_before(per[th][at[th]], e));
            at[e->thread]++;
        }

        /* Second run after rewind: identical. */
        struct evs w = {0};
        assert_int_equal(trd_rewind(t), 0);
        assert_int_equal(read_all(t, &w), 0);
        assert_int_equal(w.n, v.n);
        assert_memory_equal(w.e, v.e, v.n * sizeof *v.e);
        free(v.e);
        free(w.e);
        trd_close(t);
        free(f.p);
    }
}

/* trd_stream_*: the same events as trd_next(), batch after batch from the
 * decoding thread or from the calls themselves; an error after some events
 * comes after them; stopping half-way does not hang. */
static void test_stream(void **state)
{
    (void)state;
    struct buf f = {0};
    rng_state = 777;
    size_t n = build_random(&f, 3, 6000); /* several batches */
    const char *path = file_write(&f, "stream.trace");
    struct trd_trace *t = open_ok(path);
    struct evs v = {0};
    assert_int_equal(read_all(t, &v), 0);
    assert_int_equal(v.n, n);
    for (int pass = 0; pass < 4; pass++) {
        const struct trd_event *batch;
        size_t got = 0, k;
        int rc;
        assert_int_equal(trd_stream_begin(t, pass < 2 ? TRD_STREAM_THREAD : TRD_STREAM_INLINE), 0);
        while ((rc = trd_stream_next(t, &batch, &k)) > 0) {
            assert_true(k > 0 && got + k <= v.n);
            assert_memory_equal(batch, &v.e[got], k * sizeof *batch);
            got += k;
            if (pass % 2 == 1 && got > v.n / 2)
                break; /* the caller stops early */
        }
        if (pass % 2 == 0) {
            assert_int_equal(rc, 0);
            assert_int_equal(got, v.n);
            assert_int_equal(trd_stream_next(t, &batch, &k), 0);
        }
        trd_stream_end(t);
    }
    /* The file shrinks: the events before the cut, then the error, sticky. */
    assert_int_equal(truncate(path, (off_t)(f.len * 3 / 4)), 0);
    for (int mode = TRD_STREAM_INLINE; mode <= TRD_STREAM_THREAD; mode++) {
        const struct trd_event *batch;
        size_t got = 0, k;
        int rc;
        assert_int_equal(trd_stream_begin(t, (enum trd_stream_mode)mode), 0);
        while ((rc = trd_stream_next(t, &batch, &k)) > 0) {
            assert_memory_equal(batch, &v.e[got], k * sizeof *batch);
            got += k;
        }
        assert_true(rc < 0);
        assert_true(got < v.n);
        assert_non_null(strstr(trd_error(t), "shrank"));
        assert_true(trd_stream_next(t, &batch, &k) < 0);
    }
    trd_close(t); /* ends the stream itself */
    free(v.e);
    free(f.p);
}

/* A stage for test_stream_stage: each event's time and pointer mixed, and
 * a failure once fail_after events have gone by (0: never). */
struct mix_stage {
    uint64_t seen, fail_after;
};

static int mix_stage_fn(void *arg, const struct trd_event *ev, size_t n, void *out)
{
    struct mix_stage *m = arg;
    uint64_t *o = out;
    if (m->fail_after != 0 && m->seen + n > m->fail_after)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        o[i] = ev[i].time_ns * 31 ^ ev[i].ptr;
    m->seen += n;
    return 0;
}

/* trd_stream_begin_staged(): with a second thread, every batch comes with
 * the stage's results for its events, in order; without one, no results
 * (the caller does the work); a failing stage ends the stream with its
 * error after the batches before it. */
static void test_stream_stage(void **state)
{
    (void)state;
    struct buf f = {0};
    rng_state = 4242;
    size_t n = build_random(&f, 3, 6000);
    struct trd_trace *t = open_ok(file_write(&f, "stage.trace"));
    struct evs v = {0};
    assert_int_equal(read_all(t, &v), 0);
    assert_int_equal(v.n, n);
    for (int fail = 0; fail < 2; fail++) {
        struct mix_stage m = {0, fail ? n / 2 : 0};
        struct trd_stage stage = {mix_stage_fn, &m, sizeof(uint64_t)};
        const struct trd_event *batch;
        size_t got = 0, k;
        int rc;
        assert_int_equal(trd_stream_begin_staged(t, TRD_STREAM_THREAD, &stage), 0);
        while ((rc = trd_stream_next(t, &batch, &k)) > 0) {
            const uint64_t *out = trd_stream_out(t);
            assert_non_null(out);
            assert_memory_equal(batch, &v.e[got], k * sizeof *batch);
            for (size_t i = 0; i < k; i++)
                assert_true(out[i] == (v.e[got + i].time_ns * 31 ^ v.e[got + i].ptr));
            got += k;
        }
        if (fail) {
            assert_int_equal(rc, -ENOMEM);
            assert_true(got <= n / 2);
            assert_string_equal(trd_error(t), "out of memory");
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(got, n);
        }
        trd_stream_end(t);
    }
    struct mix_stage m = {0, 0};
    struct trd_stage stage = {mix_stage_fn, &m, sizeof(uint64_t)};
    const struct trd_event *batch;
    size_t k;
    assert_int_equal(trd_stream_begin_staged(t, TRD_STREAM_INLINE, &stage), 0);
    assert_int_equal(trd_stream_next(t, &batch, &k), 1);
    assert_null(trd_stream_out(t));
    assert_int_equal(m.seen, 0);
    trd_stream_end(t);
    trd_close(t);
    free(v.e);
    free(f.p);
}

/* Hostile input: random byte changes and cuts of a valid trace. Whatever the
 * outcome, no crash, no hang, no leak, a one-line error. */
static void test_mutations(void **state)
{
    (void)state;
    struct buf orig = {0};
    rng_state = 12345;
    build_random(&orig, 3, 40);
    struct blkb k;
    const uint64_t frames[2] = {0x401000, 0x402000};
    static const char *const argv[] = {"a", "b"};
    blk_begin(&k, 9, 0, 0);
    rec_stack(&k, 2, 0, 2, frames);
    rec_modules(&k, 1, 0, "/x", 0x1000);
    rec_process(&k, "/x", 2, argv);
    rec_end(&k, 2, 0, 0);
    file_block(&orig, &k);

    struct buf f = {0};
    buf_put(&f, orig.p, orig.len);
    unsigned opened = 0;
    for (unsigned iter = 0; iter < 3000; iter++) {
        memcpy(f.p, orig.p, orig.len);
        f.len = orig.len;
        unsigned flips = 1 + rnd(4);
        for (unsigned i = 0; i < flips; i++) {
            size_t at = rnd((unsigned)f.len);
            switch (rnd(3)) {
            case 0:
                f.p[at] ^= (uint8_t)(1u << rnd(8));
                break;
            case 1:
                f.p[at] = (uint8_t)rng();
                break;
            default:
                f.p[at] = 0xff;
                break;
            }
        }
        if (rnd(4) == 0)
            f.len = rnd((unsigned)f.len + 1);
        struct trd_trace *t = NULL;
        char err[256] = "";
        int rc = trd_open(file_write(&f, "mut.trace"), &t, err, sizeof err);
        if (rc < 0) {
            assert_null(t);
            assert_true(err[0] != '\0');
            assert_null(strchr(err, '\n'));
            continue;
        }
        opened++;
        struct trd_event ev;
        uint64_t n = 0;
        while ((rc = trd_next(t, &ev)) > 0)
            n++;
        if (rc < 0) { /* damage in a block the replay is the first to decode */
            assert_int_equal(rc, -EINVAL);
            assert_true(trd_error(t)[0] != '\0');
            assert_null(strchr(trd_error(t), '\n'));
        } else {
            assert_true(n <= 2 * trd_event_records(t));
        }
        for (uint32_t i = 0; i < trd_stack_count(t); i++) {
            const struct trd_stack *s = trd_stack(t, i);
            if (s != NULL)
                assert_true(s->depth <= TR_MAX_FRAMES);
        }
        trd_close(t);
    }
    assert_true(opened > 0);
    free(f.p);
    free(orig.p);
}

/* A file that shrinks after it was opened: replay reports an error. */
static void test_shrunk_after_open(void **state)
{
    (void)state;
    struct buf f = {0};
    struct blkb k;
    file_header(&f, 0);
    blk_begin(&k, 1, 0, 0);
    rec_malloc(&k, 1, 0x10, 1, 0);
    file_block(&f, &k);
    blk_begin(&k, 1, 1, 10);
    rec_malloc(&k, 11, 0x20, 1, 0);
    file_block(&f, &k);
    const char *path = file_write(&f, "shrink.trace");
    struct trd_trace *t = open_ok(path);
    assert_int_equal(truncate(path, 70), 0);
    struct trd_event ev;
    assert_true(trd_next(t, &ev) < 0);
    assert_non_null(strstr(trd_error(t), "shrank"));
    assert_true(trd_next(t, &ev) < 0); /* sticky */
    trd_close(t);
    free(f.p);
}

/* Append k as a TR_BLOCK_ZSTD block: u32 raw_bytes then a zstd frame, with
 * raw_delta added to the raw_bytes field (0 for a correct block) and extra
 * bytes appended after the frame. */
static void file_block_zstd(struct buf *f, struct blkb *k, int32_t raw_delta, const void *extra,
                            size_t n_extra)
{
    size_t cap = ZSTD_compressBound(k->pay.len);
    uint8_t *z = malloc(4 + cap + n_extra);
    assert_non_null(z);
    uint32_t raw = (uint32_t)((int64_t)k->pay.len + raw_delta);
    memcpy(z, &raw, 4);
    size_t n = ZSTD_compress(z + 4, cap, k->pay.p, k->pay.len, 3);
    assert_false(ZSTD_isError(n));
    memcpy(z + 4 + n, extra, n_extra);
    size_t total = 4 + n + n_extra;
    file_block_raw(f, TR_BLOCK_MAGIC, k->thread, k->seq, (uint32_t)total, k->nrec,
                   k->flags | TR_BLOCK_ZSTD, k->first_ns, z, total);
    free(z);
    free(k->pay.p);
    memset(&k->pay, 0, sizeof k->pay);
}

/* Two threads of a few thousand events, every other block compressed
 * (MEMAUDIT_COMPRESS): the events, their order and the metadata are those of
 * the same trace with no block compressed. */
static void build_mixed(struct buf *f, int compress)
{
    struct blkb k;
    memset(f, 0, sizeof *f);
    file_header(f, 0);
    uint64_t now = 100;
    for (uint32_t seq = 0; seq < 6; seq++) {
        for (uint32_t th = 1; th <= 2; th++) {
            blk_begin(&k, th, seq, now);
            if (seq == 0) {
                rec_thread(&k, now, 40 + th);
                uint64_t fr[2] = {0x401000 + th, 0x402000};
                rec_stack(&k, th, 0, 2, fr);
            }
            for (int i = 0; i < 500; i++) {
                uint64_t ptr = 0x100000 * th + 0x40 * (uint64_t)i;
                rec_malloc(&k, now + 1, ptr, 16 + (uint64_t)i % 100, th);
                rec_free(&k, now + 2, ptr);
                now += 3;
            }
            if (seq == 5 && th == 1)
                rec_end(&k, now, 0, 0);
            if (compress && (seq + th) % 2 == 0)
                file_block_zstd(f, &k, 0, NULL, 0);
            else
                file_block(f, &k);
        }
    }
}

static void test_compressed_blocks(void **state)
{
    (void)state;
    struct buf plain, mixed;
    build_mixed(&plain, 0);
    build_mixed(&mixed, 1);
    assert_true(mixed.len < plain.len); /* the compressed blocks are there */
    struct trd_trace *a = open_ok(file_write(&plain, "plain.trace"));
    struct trd_trace *b = open_ok(file_write(&mixed, "mixed.trace"));
    assert_true(trd_complete(b));
    assert_int_equal(trd_thread(b, 1)->tid, 42);
    struct evs va = {0}, vb = {0};
    assert_int_equal(read_all(a, &va), 0);
    assert_int_equal(read_all(b, &vb), 0);
    assert_int_equal(va.n, 6 * 2 * 500 * 2);
    assert_int_equal(vb.n, va.n);
    for (size_t i = 0; i < va.n; i++) {
        expect_ev(&vb.e[i], va.e[i].type, va.e[i].part, va.e[i].thread, va.e[i].time_ns,
                  va.e[i].ptr);
        assert_int_equal(vb.e[i].size, va.e[i].size);
        assert_int_equal(vb.e[i].stack, va.e[i].stack);
    }
    free(va.e);
    free(vb.e);
    trd_close(a);
    trd_close(b);

    /* Cut anywhere inside the last (compressed) block: incomplete, not corrupt. */
    struct trd_trace *c = NULL;
    char err[256] = "";
    assert_int_equal(trd_open(file_write_n(&mixed, mixed.len - 5, "cut.trace"), &c, err, sizeof err),
                     0);
    assert_false(trd_complete(c));
    trd_close(c);
    free(plain.p);
    free(mixed.p);
}

/* Hostile compressed blocks: a one-line error each, never a crash. */
static void test_compressed_corrupt(void **state)
{
    (void)state;
    struct buf f;
    struct blkb k;
    static const uint8_t junk[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct {
        int32_t raw_delta;
        const void *extra;
        size_t n_extra;
        const char *want;
    } cases[] = {
        {1, NULL, 0, "does not decompress to its"},  /* frame shorter than announced */
        {-1, NULL, 0, "does not decompress to its"}, /* longer */
        {0, junk, sizeof junk, "does not decompress to its"}, /* garbage after the frame */
        {(int32_t)TR_MAX_BLOCK_BYTES, NULL, 0, "limit"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(&f, 0, sizeof f);
        file_header(&f, 0);
        blk_begin(&k, 1, 0, 0);
        for (int j = 0; j < 50; j++)
            rec_malloc(&k, 1, 0x10 + 0x20 * (uint64_t)j, 1, 0);
        file_block_zstd(&f, &k, cases[i].raw_delta, cases[i].extra, cases[i].n_extra);
        open_fails(&f, cases[i].want);
        free(f.p);
    }

    /* Shorter than its raw_bytes field. */
    memset(&f, 0, sizeof f);
    file_header(&f, 0);
    file_block_raw(&f, TR_BLOCK_MAGIC, 1, 0, 3, 0, TR_BLOCK_ZSTD, 0, junk, 3);
    open_fails(&f, "too short");
    free(f.p);

    /* Not a zstd frame at all. */
    uint8_t p[12] = {10, 0, 0, 0};
    memset(p + 4, 0x55, 8);
    memset(&f, 0, sizeof f);
    file_header(&f, 0);
    file_block_raw(&f, TR_BLOCK_MAGIC, 1, 0, sizeof p, 1, TR_BLOCK_ZSTD, 0, p, sizeof p);
    open_fails(&f, "does not decompress");
    free(f.p);

    /* A flipped byte in every position of a compressed trace: an error or a
     * clean read, never a crash (run under ASan/valgrind to mean something). */
    struct buf m;
    build_mixed(&m, 1);
    for (size_t at = 64; at < m.len; at += 7) {
        m.p[at] ^= 0x5a;
        struct trd_trace *t = NULL;
        char err[256];
        const char *path = file_write(&m, "flip.trace");
        if (trd_open(path, &t, err, sizeof err) == 0) {
            struct evs v = {0};
            (void)read_all(t, &v);
            free(v.e);
            trd_close(t);
        } else {
            assert_null(strchr(err, '\n'));
        }
        m.p[at] ^= 0x5a;
    }
    free(m.p);
}

/* A PHASE record: dt, name length, name. */
static void rec_phase(struct blkb *k, uint64_t t, const char *name)
{
    buf_byte(&k->pay, TR_REC_PHASE);
    blk_dt(k, t);
    buf_v(&k->pay, strlen(name));
    buf_put(&k->pay, name, strlen(name));
    k->nrec++;
    k->flags |= TR_BLOCK_HAS_META;
}

/* trd_next_run() gives the same events as trd_next(), in runs of one thread
 * each, also where a thread's block holds more events than a cursor decodes
 * at a time; a phase's name stays readable while its run is in hand. */
static void test_runs(void **state)
{
    (void)state;
    for (unsigned n_threads = 1; n_threads <= 3; n_threads++) {
        struct buf f = {0};
        struct blkb k;
        rng_state = 777 + n_threads;
        file_header(&f, 0);
        for (unsigned th = 1; th <= n_threads; th++) {
            uint64_t t = rnd(5);
            blk_begin(&k, th, 0, t);
            for (unsigned i = 0; i < 1500; i++) {
                t += rnd(4); /* equal times across threads too */
                uint64_t p = 0x10000 * th + 16 * rnd(64);
                switch (rnd(5)) {
                case 0:
                    rec_realloc(&k, t, t + rnd(3), p, p + 16, 24, 1, 0);
                    t += 2;
                    break;
                case 1:
                    rec_free(&k, t, p);
                    break;
                case 2:
                    if (i % 100 == 0) {
                        rec_phase(&k, t, i % 200 ? "even" : "odd");
                        break;
                    }
                    /* fall through */
                default:
                    rec_malloc(&k, t, p, 8 + i, 1);
                    break;
                }
            }
            file_block(&f, &k);
        }
        struct trd_trace *t = open_ok(file_write(&f, "runs.trace"));
        struct evs v = {0};
        assert_int_equal(read_all(t, &v), 0);
        assert_true(v.n >= 1500 * n_threads);
        assert_int_equal(trd_rewind(t), 0);
        const struct trd_event *run;
        size_t at = 0, longest = 0;
        int n;
        while ((n = trd_next_run(t, &run)) > 0) {
            assert_true(at + (size_t)n <= v.n);
            for (int i = 0; i < n; i++) {
                assert_int_equal(run[i].thread, run[0].thread);
                if (run[i].type == TR_REC_PHASE) {
                    assert_int_equal(run[i].name_len, v.e[at + i].name_len);
                    assert_memory_equal(run[i].name, run[i].name_len == 3 ? "odd" : "even",
                                        run[i].name_len);
                }
            }
            /* The names were checked above: pointers into a block may differ. */
            for (int i = 0; i < n; i++)
                if (run[i].type != TR_REC_PHASE)
                    assert_memory_equal(&run[i], &v.e[at + i], sizeof *run);
            at += (size_t)n;
            if ((size_t)n > longest)
                longest = (size_t)n;
        }
        assert_int_equal(n, 0);
        assert_int_equal(at, v.n);
        if (n_threads == 1)
            assert_true(longest > 100); /* one thread: long runs, not one event each */
        assert_int_equal(trd_next_run(t, &run), 0);
        free(v.e);
        trd_close(t);
        free(f.p);
    }
}

/* A record that no longer decodes (the file was rewritten after it was
 * opened) fails the replay when the stream reaches it, after the events
 * before it, however many of those a cursor decoded ahead. */
static void test_changed_after_open(void **state)
{
    (void)state;
    struct buf f = {0};
    struct blkb k;
    file_header(&f, 0);
    blk_begin(&k, 1, 0, 0);
    for (unsigned i = 0; i < 100; i++)
        rec_free(&k, 1 + i, 0x10); /* 4 bytes each: type, fn, dt, ptr delta */
    file_block(&f, &k);
    const char *path = file_write(&f, "changed.trace");
    struct trd_trace *t = open_ok(path);
    /* The 51st record's type byte becomes an unknown type. */
    size_t rec50 = f.len - 50 * 4;
    assert_int_equal(f.p[rec50], TR_REC_FREE);
    f.p[rec50] = 0x77;
    file_write(&f, "changed.trace");
    struct evs v = {0};
    assert_true(read_all(t, &v) < 0);
    assert_int_equal(v.n, 50);
    assert_int_equal(v.e[49].time_ns, 50);
    assert_non_null(strstr(trd_error(t), "unknown record type 119"));
    const struct trd_event *run;
    assert_true(trd_next_run(t, &run) < 0); /* sticky */
    free(v.e);
    trd_close(t);
    free(f.p);
}

static int rm_tmpdir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_trace_reader.XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_thread_all_records),
        cmocka_unit_test(test_cross_thread_reuse),
        cmocka_unit_test(test_realloc_two_points),
        cmocka_unit_test(test_blocks_by_seq),
        cmocka_unit_test(test_samples),
        cmocka_unit_test(test_watermarks),
        cmocka_unit_test(test_duplicate_seq),
        cmocka_unit_test(test_seq_gap),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_corrupt_blocks),
        cmocka_unit_test(test_metadata_anywhere),
        cmocka_unit_test(test_random_merge),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_stream_stage),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_shrunk_after_open),
        cmocka_unit_test(test_runs),
        cmocka_unit_test(test_changed_after_open),
        cmocka_unit_test(test_compressed_blocks),
        cmocka_unit_test(test_compressed_corrupt),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    rm_tmpdir();
    return failed;
}
