/* test_analysis.c — unit tests of reporter/analysis.c.
 *
 * Synthetic traces are encoded here (the same tiny encoder as
 * test_trace_reader.c, after docs/trace-format.md), read back with the trace
 * reader and replayed by an_run(). Each definition of docs/metrics.md has a
 * hand-made case with exact expected figures: realloc chains, realloc(p, 0),
 * failed calls, the per-thread temporary rule with other threads interleaved,
 * address reuse across threads, anomalies, the realloc step in the peak. A
 * random multi-thread history is then checked figure by figure against a
 * brute-force recomputation, including the per-site picture at the peak that
 * the analysis takes lazily. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "analysis.h"
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

/* ---- helpers ---- */

/* Open f's trace and replay it into a; the caller closes the trace. */
static struct trd_trace *analyze(const struct buf *f, struct analysis *a)
{
    struct trd_trace *t = NULL;
    char err[256] = "";
    if (trd_open(file_write(f, "an.trace"), &t, err, sizeof err) != 0)
        fail_msg("trd_open: %s", err);
    int rc = an_run(t, a);
    if (rc != 0)
        fail_msg("an_run: %d %s", rc, trd_error(t));
    assert_ptr_equal(a->trace, t);
    return t;
}

static const struct an_site *site(const struct analysis *a, uint32_t id)
{
    assert_true(id < a->n_sites);
    assert_int_equal(a->sites[id].stack, id);
    return &a->sites[id];
}

static void define_stacks(struct blkb *k, uint32_t n)
{
    for (uint32_t id = 1; id <= n; id++) {
        uint64_t frame = 0x400000 + 16 * id;
        rec_stack(k, id, 0, 1, &frame);
    }
}

/* ---- hand-made cases ---- */

static void test_basic_counts(void **state)
{
    (void)state;
    struct buf f = {0};
    struct blkb k;
    file_header(&f, 900);
    blk_begin(&k, 1, 0, 1000);
    define_stacks(&k, 2);
    rec_alloc(&k, TR_FN_MALLOC, 1000, 0x100, 100, 1, 8, 0);
    rec_malloc(&k, 1010, 0x200, 50, 2);
    rec_malloc(&k, 1020, 0x300, 10, 1);
    rec_free(&k, 1030, 0x100);
    rec_end(&k, 1100, 0, 0);
    file_block(&f, &k);

    struct analysis a;
    struct trd_trace *t = analyze(&f, &a);
    const struct an_totals *s = &a.totals;
    assert_int_equal(s->allocations, 3);
    assert_int_equal(s->frees, 1);
    assert_int_equal(s->bytes_allocated, 160);
    assert_int_equal(s->peak_heap_bytes, 160);
    assert_int_equal(s->peak_time_ns, 120);
    assert_int_equal(s->peak_blocks, 3);
    assert_int_equal(s->leaked_bytes, 60);
    assert_int_equal(s->leaked_blocks, 2);
    assert_int_equal(s->temporary_allocations, 0);
    assert_int_equal(s->failed_allocations, 0);
    assert_int_equal(s->reallocs, 0);
    assert_int_equal(s->unmatched_frees, 0);
    assert_int_equal(s->slack_bytes, 8);
    assert_int_equal(s->peak_slack_bytes, 8);
    assert_int_equal(s->duration_ns, 130);
    assert_int_equal(s->threads, 1);
    assert_int_equal(a.n_sites, 3);
    const struct an_site *s1 = site(&a, 1), *s2 = site(&a, 2);
    assert_int_equal(s1->allocations, 2);
    assert_int_equal(s1->bytes_allocated, 110);
    assert_int_equal(s1->frees, 1);
    assert_int_equal(s1->min_size, 10);
    assert_int_equal(s1->max_size, 100);
    assert_int_equal(s1->live_bytes, 10);
    assert_int_equal(s1->live_blocks, 1);
    assert_int_equal(s1->peak_bytes, 110);
    assert_int_equal(s1->peak_blocks, 2);
    assert_int_equal(s1->max_live_bytes, 110);
    assert_int_equal(s2->live_bytes, 50);
    assert_int_equal(s2->peak_bytes, 50);
    assert_int_equal(site(&a, 0)->allocations, 0);
    assert_int_equal(site(&a, 0)->min_size, 0);

    /* A second run over the same trace gives the same answer. */
    struct analysis b;
    assert_int_equal(an_run(t, &b), 0);
    assert_memory_equal(&a.totals, &b.totals, sizeof a.totals);
    assert_int_equal(a.n_sites, b.n_sites);
    assert_memory_equal(a.sites, b.sites, a.n_sites * sizeof *a.sites);
    an_fini(&b);
    an_fini(&a);
    an_fini(&a); /* harmless twice */
    trd_close(t);
    free(f.p);
}

/* malloc(10) -> realloc 20 (moves) -> realloc 30 (in place) -> free. */
static void test_realloc_chain(void **state)
{
    (void)state;
    struct buf f = {0};
    struct blkb k;
    file_header(&f, 0);
    blk_begin(&k, 1, 0, 0);
    define_stacks(&k, 3);
    rec_malloc(&k, 10, 0x1000, 10, 1);
    rec_realloc(&k, 20, 21, 0x1000, 0x2000, 20, 2, 4);
    rec_realloc(&k, 30, 31, 0x2000, 0x2000, 30, 3, 2);
    rec_free(&k, 40, 0x2000);
    file_block(&f, &k);

    struct analysis a;
    struct trd_trace *t = analyze(&f, &a);
    const struct an_totals *s = &a.totals;
    assert_int_equal(s->allocations, 3);
    assert_int_equal(s->frees, 3);
    assert_int_equal(s->reallocs, 2);
    assert_int_equal(s->bytes_allocated, 60);
    assert_int_equal(s->peak_heap_bytes, 30); /* never old + new */
    assert_int_equal(s->peak_time_ns, 21);    /* start is the first event (header says 0) */
    assert_int_equal(s->peak_blocks, 1);
    assert_int_equal(s->leaked_bytes, 0);
    assert_int_equal(s->temporary_allocations, 3);
    assert_int_equal(s->slack_bytes, 6);
    assert_int_equal(s->unmatched_frees, 0);
    assert_int_equal(site(&a, 1)->frees, 1);
    assert_int_equal(site(&a, 1)->temporary, 1);
    assert_int_equal(site(&a, 1)->reallocs, 0);
    assert_int_equal(site(&a, 2)->reallocs, 1);
    assert_int_equal(site(&a, 2)->allocations, 1);
    assert_int_equal(site(&a, 2)->frees, 1);
    assert_int_equal(site(&a, 3)->reallocs, 1);
    assert_int_equal(site(&a, 3)->max_live_bytes, 30);
    assert_int_equal(site(&a, 3)->peak_bytes, 30);
    assert_int_equal(site(&a, 2)->peak_bytes, 0);
    an_fini(&a);
    trd_close(t);
    free(f.p);
}

/* realloc(p, 0) frees; a failed realloc leaves the block live; FAIL counts. */
static void test_realloc_zero_and_failures(void **state)
{
    (void)state;
    struct buf f = {0};
    struct blkb k;
    file_header(&f, 0);
    blk_begin(&k, 1, 0, 0);
    define_stacks(&k, 4);
    rec_malloc(&k, 10, 0x1000, 10, 1);
    rec_malloc(&k, 15, 0x3000, 7, 4);
    rec_realloc(&k, 20, 21, 0x1000, 0, 0, 2, 0); /* realloc(p, 0): a free */
    rec_malloc(&k, 30, 0x4000, 10, 1);
    rec_realloc(&k, 40, 41, 0x4000, 0, 100, 2, 0); /* failed: 0x4000 stays */
    rec_fail(&k, 50, 1ull << 40, 3);
    rec_free(&k, 60, 0x4000);
    file_block(&f, &k);

    struct analysis a;
    struct trd_trace *t = analyze(&f, &a);
    const struct an_totals *s = &a.totals;
    assert_int_equal(s->allocations, 3);
    assert_int_equal(s->frees, 2);
    assert_int_equal(s->reallocs, 0);
    assert_int_equal(s->failed_allocations, 2);
    assert_int_equal(s->bytes_allocated, 27);
    assert_int_equal(s->leaked_bytes, 7);
    assert_int_equal(s->leaked_blocks, 1);
    assert_int_equal(s->temporary_allocations, 0);
    assert_int_equal(s->peak_heap_bytes, 17);
    assert_int_equal(site(&a, 2)->failed, 1);
    assert_int_equal(site(&a, 3)->failed, 1);
    assert_int_equal(site(&a, 2)->allocations, 0);
    assert_int_equal(site(&a, 1)->frees, 2);
    assert_int_equal(site(&a, 4)->live_bytes, 7);
    an_fini(&a);
    trd_close(t);
    free(f.p);
}

/* The temporary rule is per thread: another thread's events in between do
 * not break it; the block must be the one this thread allocated last. */
static void test_temporary_per_thread(void **state)
{
    (void)state;
    struct buf f = {0};
    struct blkb a1, b2, c3;
    file_header(&f, 0);
    blk_begin(&a1, 1, 0, 0);
    blk_begin(&b2, 2, 0, 0);
    blk_begin(&c3, 3, 0, 0);
    define_stacks(&c3, 7);
    rec_malloc(&a1, 10, 0x100, 1, 1); /* P: temporary despite B in between */
    rec_malloc(&b2, 11, 0x200, 2, 2); /* Q: temporary */
    rec_free(&b2, 12, 0x200);
    rec_free(&a1, 13, 0x100);
    rec_malloc(&a1, 20, 0x300, 3, 1); /* R: not temporary (S in between) */
    rec_malloc(&a1, 21, 0x400, 4, 1); /* S: temporary */
    rec_free(&a1, 22, 0x400);
    rec_free(&a1, 23, 0x300);
    rec_malloc(&a1, 30, 0x500, 5, 3); /* U: freed by another thread */
    rec_free(&b2, 31, 0x500);
    rec_malloc(&a1, 40, 0x900, 6, 4); /* V: freed by B, address reused by C */
    rec_free(&b2, 41, 0x900);
    rec_malloc(&c3, 42, 0x900, 7, 5);
    rec_free(&a1, 43, 0x900);         /* frees C's block: not temporary */
    rec_malloc(&a1, 50, 0x600, 8, 6); /* W: realloc'ed away at once: temporary */
    rec_realloc(&a1, 51, 52, 0x600, 0x700, 9, 7, 0);
    rec_malloc(&b2, 53, 0x800, 10, 2);
    rec_free(&a1, 54, 0x700); /* W2: temporary, the realloc is its allocation */
    file_block(&f, &b2);
    file_block(&f, &c3);
    file_block(&f, &a1);

    struct analysis a;
    struct trd_trace *t = analyze(&f, &a);
    const struct an_totals *s = &a.totals;
    assert_int_equal(s->temporary_allocations, 5);
    assert_int_equal(site(&a, 1)->temporary, 2);
    assert_int_equal(site(&a, 2)->temporary, 1);
    assert_int_equal(site(&a, 3)->temporary, 0);
    assert_int_equal(site(&a, 4)->temporary, 0);
    assert_int_equal(site(&a, 5)->temporary, 0);
    assert_int_equal(site(&a, 5)->frees, 1);
    assert_int_equal(site(&a, 6)->temporary, 1);
    assert_int_equal(site(&a, 7)->temporary, 1);
    assert_int_equal(s->unmatched_frees, 0);
    assert_int_equal(s->threads, 3);
    assert_int_equal(s->leaked_blocks, 1); /* B's 0x800 */
    an_fini(&a);
    trd_close(t);
    free(f.p);
}

/* Thread 1 frees P at 100; thread 2 gets P at 101 from a block written
 * earlier in the file. Nothing is mismatched. */
static void test_cross_thread_reuse(void **state)
{
    (void)state;
    struct buf f = {0};
    struct blkb k;
    file_header(&f, 0);
    blk_begin(&k, 2, 0, 100);
    rec_malloc(&k, 101, 0x7000, 64, 2);
    file_block(&f, &k);
    blk_begin(&k, 1, 0, 40);
    define_stacks(&k, 2);
    rec_malloc(&k, 50, 0x7000, 16, 1);
    rec_free(&k, 100, 0x7000);
    file_block(&f, &k);

    struct analysis a;
    struct trd_trace *t = analyze(&f, &a);
    assert_int_equal(a.totals.unmatched_frees, 0);
    assert_int_equal(a.totals.frees, 1);
    assert_int_equal(a.totals.leaked_bytes, 64);
    assert_int_equal(site(&a, 2)->live_blocks, 1);
    assert_int_equal(site(&a, 1)->live_blocks, 0);
    assert_int_equal(a.totals.temporary_allocations, 1);
    assert_int_equal(a.totals.peak_heap_bytes, 64);
    assert_int_equal(a.totals.threads, 2);
    an_fini(&a);
    trd_close(t);
    free(f.p);
}

/* Frees of unknown blocks, and an allocation at a live address. */
static void test_anomalies(void **state)
{
    (void)state;
    struct buf f = {0};
    struct blkb k;
    file_header(&f, 0);
    blk_begin(&k, 1, 0, 0);
    rec_free(&k, 1, 0xdead0); /* unknown */
    rec_malloc(&k, 2, 0x100, 10, 1);
    rec_malloc(&k, 3, 0x100, 20, 2);                 /* 0x100 still live */
    rec_realloc(&k, 4, 5, 0xbeef0, 0x300, 30, 3, 0); /* unknown old block */
    rec_malloc(&k, 6, 0, 1, 4);                      /* address 0: tracked too */
    rec_free(&k, 7, 0);
    file_block(&f, &k);

    struct analysis a;
    struct trd_trace *t = analyze(&f, &a);
    const struct an_totals *s = &a.totals;
    assert_int_equal(s->unmatched_frees, 3);
    assert_int_equal(s->frees, 1);
    assert_int_equal(s->allocations, 4);
    assert_int_equal(s->reallocs, 1);
    assert_int_equal(s->leaked_bytes, 50);
    assert_int_equal(s->leaked_blocks, 2);
    assert_int_equal(site(&a, 1)->live_blocks, 0);
    assert_int_equal(site(&a, 1)->frees, 0);
    assert_int_equal(site(&a, 2)->live_bytes, 20);
    assert_int_equal(site(&a, 4)->temporary, 1);
    /* Stack ids without definitions still get their site. */
    assert_true(a.n_sites >= 5);
    assert_null(trd_stack(t, 3));
    an_fini(&a);
    trd_close(t);
    free(f.p);
}

/* A realloc takes the heap from the old size to the new one in one step: a
 * block allocated by another thread while the realloc runs sees the old
 * block still counted. */
static void test_peak_realloc_at_once(void **state)
{
    (void)state;
    struct buf f = {0};
    struct blkb a1, b2;
    file_header(&f, 5);
    blk_begin(&a1, 1, 0, 0);
    blk_begin(&b2, 2, 0, 0);
    define_stacks(&a1, 3);
    rec_malloc(&a1, 10, 0x100, 100, 1);
    rec_realloc(&a1, 20, 40, 0x100, 0x900, 10, 2, 0);
    rec_malloc(&b2, 30, 0x100, 50, 3); /* the old address, reused at once */
    file_block(&f, &a1);
    file_block(&f, &b2);

    struct analysis a;
    struct trd_trace *t = analyze(&f, &a);
    const struct an_totals *s = &a.totals;
    assert_int_equal(s->peak_heap_bytes, 150);
    assert_int_equal(s->peak_time_ns, 25);
    assert_int_equal(s->peak_blocks, 2);
    assert_int_equal(s->leaked_bytes, 60);
    assert_int_equal(s->unmatched_frees, 0);
    assert_int_equal(site(&a, 1)->peak_bytes, 100);
    assert_int_equal(site(&a, 1)->peak_blocks, 1);
    assert_int_equal(site(&a, 3)->peak_bytes, 50);
    assert_int_equal(site(&a, 2)->peak_bytes, 0);
    assert_int_equal(site(&a, 2)->live_bytes, 10);
    assert_int_equal(s->duration_ns, 35);
    an_fini(&a);
    trd_close(t);
    free(f.p);
}

static void test_empty_trace(void **state)
{
    (void)state;
    struct buf f = {0};
    file_header(&f, 5);
    struct analysis a;
    struct trd_trace *t = analyze(&f, &a);
    struct an_totals zero;
    memset(&zero, 0, sizeof zero);
    assert_memory_equal(&a.totals, &zero, sizeof zero);
    assert_true(a.n_sites >= 1);
    an_fini(&a);
    trd_close(t);
    free(f.p);
}

/* Many live blocks at once, freed in random order: the live map grows and
 * deletes under load, with addresses that cluster the way allocators place
 * them (a small stride and page-aligned ones). */
static void test_many_live_blocks(void **state)
{
    (void)state;
    enum { N = 60000 };
    static uint64_t addr[N];
    struct buf f = {0};
    struct blkb k;
    uint64_t s = 88172645463325252ull;
    file_header(&f, 0);
    blk_begin(&k, 1, 0, 0);
    uint64_t t = 1, bytes = 0;
    for (uint32_t i = 0; i < N; i++) {
        addr[i] = i % 3 == 0 ? 0x7f0000000000ull + 4096ull * i : 0x55550000ull + 16ull * i;
        rec_malloc(&k, t++, addr[i], i % 100, 1);
        bytes += i % 100;
    }
    /* Fisher-Yates, then free two thirds. */
    for (uint32_t i = N - 1; i > 0; i--) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        uint32_t j = (uint32_t)(s % (i + 1));
        uint64_t tmp = addr[i];
        addr[i] = addr[j];
        addr[j] = tmp;
    }
    uint64_t freed = 0;
    for (uint32_t i = 0; i < 2 * N / 3; i++) {
        rec_free(&k, t++, addr[i]);
        uint64_t idx = addr[i] >= 0x7f0000000000ull ? (addr[i] - 0x7f0000000000ull) / 4096
                                                    : (addr[i] - 0x55550000ull) / 16;
        freed += idx % 100;
    }
    file_block(&f, &k);

    struct analysis a;
    struct trd_trace *tr = analyze(&f, &a);
    assert_int_equal(a.totals.unmatched_frees, 0);
    assert_int_equal(a.totals.frees, 2 * N / 3);
    assert_int_equal(a.totals.leaked_blocks, N - 2 * N / 3);
    assert_int_equal(a.totals.leaked_bytes, bytes - freed);
    assert_int_equal(a.totals.peak_blocks, N);
    an_fini(&a);
    trd_close(tr);
    free(f.p);
}

/* Long churn around a steady live set: deletions in every part of the
 * table, including probe runs that wrap past its end. */
static void test_live_map_churn(void **state)
{
    (void)state;
    enum { OPS = 300000, MAX_LIVE = 4090 }; /* the table stays near its fullest */
    static uint64_t live[MAX_LIVE];
    size_t n_live = 0;
    uint64_t s = 0x853c49e6748fea9bull, counter = 1, frees = 0, allocs = 0;
    struct buf f = {0};
    struct blkb k;
    file_header(&f, 0);
    blk_begin(&k, 1, 0, 0);
    for (uint64_t t = 1; t <= OPS; t++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        if (n_live > 0 && (n_live == MAX_LIVE || s % 5 < 2)) {
            size_t i = (size_t)((s >> 8) % n_live);
            rec_free(&k, t, live[i]);
            live[i] = live[--n_live];
            frees++;
        } else {
            /* Distinct addresses: an odd multiplier is a bijection mod 2^44. */
            uint64_t p = ((counter++ * 0x9E3779B97F4A7ull) & ((1ull << 44) - 1)) << 4;
            rec_malloc(&k, t, p, 1, 1);
            live[n_live++] = p;
            allocs++;
        }
    }
    file_block(&f, &k);

    struct analysis a;
    struct trd_trace *tr = analyze(&f, &a);
    assert_int_equal(a.totals.unmatched_frees, 0);
    assert_int_equal(a.totals.allocations, allocs);
    assert_int_equal(a.totals.frees, frees);
    assert_int_equal(a.totals.leaked_blocks, n_live);
    assert_int_equal(a.totals.leaked_bytes, n_live); /* 1 byte each */
    an_fini(&a);
    trd_close(tr);
    free(f.p);
}

/* ---- random history against a brute-force recomputation ---- */

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

#define G_THREADS 4
#define G_ADDRS 40
#define G_STACKS 9 /* ids 0..8, 0 = no stack */
#define G_MAX_EV 4096

struct gen {
    struct trd_event ev[G_MAX_EV]; /* the expected global order, once sorted */
    size_t n_ev;
    struct blkb blocks[G_THREADS * 600];
    size_t n_blocks;
    struct blkb *cur[G_THREADS + 1]; /* each thread's open block */
    uint32_t seq[G_THREADS + 1];
    unsigned left[G_THREADS + 1]; /* records until its block closes */
    int addr_state[G_ADDRS];      /* 0 free, 1 live, 2 reserved by a realloc in flight */
    uint64_t due[G_THREADS + 1];  /* pending acquisition time, 0 = none */
    int due_addr[G_THREADS + 1];  /* its address index, -1 = none */
};

static uint64_t g_addr(int i)
{
    return 0x10000 + 48 * (uint64_t)i;
}

/* The open block of thread th, starting a new one now and then. */
static struct blkb *g_block(struct gen *g, uint32_t th, uint64_t t)
{
    if (g->cur[th] == NULL || g->left[th] == 0) {
        assert_true(g->n_blocks < sizeof g->blocks / sizeof g->blocks[0]);
        struct blkb *k = &g->blocks[g->n_blocks++];
        blk_begin(k, th, g->seq[th]++, t);
        if (k->seq == 0)
            rec_thread(k, t, 100 + th);
        g->cur[th] = k;
        g->left[th] = 1 + rnd(6);
    }
    g->left[th]--;
    return g->cur[th];
}

static struct trd_event *g_push(struct gen *g, uint8_t type, uint8_t part, uint32_t th, uint64_t t)
{
    assert_true(g->n_ev < G_MAX_EV);
    struct trd_event *e = &g->ev[g->n_ev++];
    memset(e, 0, sizeof *e);
    e->type = type;
    e->part = part;
    e->thread = th;
    e->time_ns = t;
    return e;
}

static int g_pick(struct gen *g, int want)
{
    for (int tries = 0; tries < 20; tries++) {
        int i = (int)rnd(G_ADDRS);
        if (g->addr_state[i] == want)
            return i;
    }
    return -1;
}

static int ev_time_cmp(const void *a, const void *b)
{
    const struct trd_event *x = a, *y = b;
    return x->time_ns < y->time_ns ? -1 : x->time_ns > y->time_ns;
}

/* A random history with unique timestamps (so its global order is known
 * without the merge rules): frees from any thread, address reuse across
 * threads, reallocs in place and moving, realloc(p, 0), failures, unknown
 * frees, reallocs whose two points have other threads' events between them. */
static void g_build(struct gen *g, unsigned steps, struct buf *f)
{
    memset(g, 0, sizeof *g);
    for (int i = 0; i <= G_THREADS; i++)
        g->due_addr[i] = -1;
    uint64_t t = 1000;
    for (unsigned step = 0;; step++, t++) {
        int pending = 0;
        for (uint32_t th = 1; th <= G_THREADS; th++)
            pending |= g->due[th] != 0;
        if (step >= steps && !pending)
            break;
        /* An acquisition due now takes this time slot. */
        uint32_t due_th = 0;
        for (uint32_t th = 1; th <= G_THREADS; th++)
            if (g->due[th] == t)
                due_th = th;
        if (due_th != 0) {
            if (g->due_addr[due_th] >= 0)
                g->addr_state[g->due_addr[due_th]] = 1;
            g->due[due_th] = 0;
            continue;
        }
        if (step >= steps)
            continue;
        uint32_t th = 1 + rnd(G_THREADS);
        if (g->due[th] != 0)
            continue; /* busy inside its realloc */
        uint32_t stack = rnd(G_STACKS);
        uint64_t slack = rnd(16);
        unsigned op = rnd(20);
        if (op < 8) {
            int i = g_pick(g, 0);
            if (i < 0)
                continue;
            uint64_t size = rnd(5) == 0 ? 0 : 1 + rnd(1000);
            rec_alloc(g_block(g, th, t), TR_FN_MALLOC, t, g_addr(i), size, stack, slack, 0);
            struct trd_event *e = g_push(g, TR_REC_ALLOC, TRD_WHOLE, th, t);
            e->ptr = g_addr(i);
            e->size = size;
            e->stack = stack;
            e->slack = slack;
            g->addr_state[i] = 1;
        } else if (op < 14) {
            int i = g_pick(g, op == 13 ? 0 : 1); /* now and then a free of nothing */
            if (i < 0)
                continue;
            rec_free(g_block(g, th, t), t, g_addr(i));
            g_push(g, TR_REC_FREE, TRD_WHOLE, th, t)->ptr = g_addr(i);
            g->addr_state[i] = 0;
        } else if (op < 19) {
            int i = g_pick(g, 1);
            if (i < 0)
                continue;
            uint64_t old = g_addr(i), new_ptr, size;
            int new_i = -1;
            unsigned kind = rnd(10);
            if (kind == 0) { /* failed */
                new_ptr = 0;
                size = 1 + rnd(5000);
            } else if (kind == 1) { /* realloc(p, 0) */
                new_ptr = 0;
                size = 0;
                g->addr_state[i] = 0;
            } else {
                size = 1 + rnd(2000);
                new_i = rnd(3) == 0 ? -1 : g_pick(g, 0);
                if (new_i < 0)
                    new_i = i; /* in place */
                g->addr_state[i] = 0;
                g->addr_state[new_i] = 2;
                new_ptr = g_addr(new_i);
            }
            uint64_t t2 = t + 1 + rnd(6);
            for (int clash = 1; clash;) {
                clash = 0;
                for (uint32_t o = 1; o <= G_THREADS; o++)
                    if (g->due[o] == t2) {
                        clash = 1;
                        t2++;
                    }
            }
            g->due[th] = t2;
            g->due_addr[th] = new_i;
            rec_realloc(g_block(g, th, t), t, t2, old, new_ptr, size, stack, slack);
            for (int part = TRD_REALLOC_RELEASE; part <= TRD_REALLOC_ACQUIRE; part++) {
                struct trd_event *e = g_push(g, TR_REC_REALLOC, (uint8_t)part, th,
                                             part == TRD_REALLOC_RELEASE ? t : t2);
                e->old_ptr = old;
                e->ptr = new_ptr;
                e->size = size;
                e->stack = stack;
                e->slack = slack;
            }
        } else {
            uint64_t size = 1 + rnd(1u << 20);
            rec_fail(g_block(g, th, t), t, size, stack);
            struct trd_event *e = g_push(g, TR_REC_FAIL, TRD_WHOLE, th, t);
            e->size = size;
            e->stack = stack;
        }
    }
    qsort(g->ev, g->n_ev, sizeof *g->ev, ev_time_cmp);
    for (size_t i = 0; i < g->n_ev; i++)
        g->ev[i].fn = g->ev[i].type == TR_REC_FREE      ? TR_FN_FREE
                      : g->ev[i].type == TR_REC_REALLOC ? TR_FN_REALLOC
                                                        : TR_FN_MALLOC;

    /* Stack definitions in some thread's block, blocks shuffled in the file. */
    file_header(f, 990);
    struct blkb meta;
    blk_begin(&meta, 1, g->seq[1]++, t);
    define_stacks(&meta, G_STACKS - 1);
    for (size_t i = g->n_blocks; i > 1; i--) {
        size_t j = rnd((unsigned)i);
        struct blkb tmp = g->blocks[i - 1];
        g->blocks[i - 1] = g->blocks[j];
        g->blocks[j] = tmp;
    }
    size_t meta_at = rnd((unsigned)g->n_blocks + 1);
    for (size_t i = 0; i <= g->n_blocks; i++) {
        if (i == meta_at)
            file_block(f, &meta);
        if (i < g->n_blocks)
            file_block(f, &g->blocks[i]);
    }
}

/* What the brute force keeps: every block ever allocated. */
struct bf_block {
    uint64_t ptr, size, slack;
    uint32_t stack;
    size_t alloc_ev; /* index of its allocation in the event list */
    int state;       /* 1 live, 2 released by a realloc not yet acquired, 0 gone */
    uint64_t chain;  /* reallocs that led to it */
};

/* A realloc chain ends with block x (docs/metrics.md, "Repeated growth"). */
static void bf_chain_end(struct bf_block *x, struct an_site *site)
{
    if (x->chain == 0)
        return;
    struct an_site *s = &site[x->stack];
    s->chains++;
    s->chain_reallocs += x->chain;
    if (x->chain > s->chain_longest)
        s->chain_longest = x->chain;
    s->chain_final_bytes += x->size;
}

/* The size class, by counting: the smallest k with size < 2^k. */
static unsigned bf_class(uint64_t size)
{
    unsigned k = 0;
    while (k < 64 && size >= ((uint64_t)1 << k))
        k++;
    return k < AN_SIZE_CLASSES - 1 ? k : AN_SIZE_CLASSES - 1;
}

struct bf {
    struct an_totals tot;
    struct an_site site[G_STACKS];
};

/* Recompute everything from the definitions, the slow and obvious way:
 * the heap is recounted from scratch after every event. */
static void brute_force(const struct gen *g, struct bf *r, uint64_t start)
{
    static struct bf_block b[G_MAX_EV];
    size_t nb = 0;
    int seen_thread[G_THREADS + 1] = {0};
    size_t in_flight[G_THREADS + 1]; /* block a thread's realloc released, or SIZE_MAX */
    for (int th = 0; th <= G_THREADS; th++)
        in_flight[th] = SIZE_MAX;
    memset(r, 0, sizeof *r);

    for (size_t i = 0; i < g->n_ev; i++) {
        const struct trd_event *e = &g->ev[i];
        struct an_site *es = &r->site[e->stack];
        seen_thread[e->thread] = 1;

        /* The thread's previous event, for the temporary rule. */
        size_t prev = SIZE_MAX;
        for (size_t j = i; j-- > 0;)
            if (g->ev[j].thread == e->thread) {
                prev = j;
                break;
            }
        uint64_t released_ptr = 0;
        int releases = 0;
        if (e->type == TR_REC_FREE) {
            releases = 1;
            released_ptr = e->ptr;
        } else if (e->part == TRD_REALLOC_RELEASE && !(e->ptr == 0 && e->size > 0)) {
            releases = 1;
            released_ptr = e->old_ptr;
        }
        if (releases) {
            size_t x = SIZE_MAX;
            for (size_t j = 0; j < nb; j++)
                if (b[j].state == 1 && b[j].ptr == released_ptr)
                    x = j;
            if (x == SIZE_MAX) {
                r->tot.unmatched_frees++;
            } else {
                if (e->type == TR_REC_FREE) {
                    bf_chain_end(&b[x], r->site);
                    const struct trd_event *p = prev != SIZE_MAX ? &g->ev[prev] : NULL;
                    if (p && p->type == TR_REC_ALLOC && p->stack == b[x].stack &&
                        p->size > b[x].size && prev != b[x].alloc_ev) {
                        r->site[b[x].stack].manual_grows++;
                        r->site[b[x].stack].manual_copied += b[x].size;
                    }
                }
                r->tot.frees++;
                r->site[b[x].stack].frees++;
                if (prev == b[x].alloc_ev) {
                    r->tot.temporary_allocations++;
                    r->site[b[x].stack].temporary++;
                }
                if (e->type == TR_REC_FREE) {
                    b[x].state = 0;
                } else {
                    b[x].state = 2;
                    in_flight[e->thread] = x;
                }
            }
        }
        struct bf_block *old = NULL;
        if (e->part == TRD_REALLOC_ACQUIRE && in_flight[e->thread] != SIZE_MAX) {
            old = &b[in_flight[e->thread]];
            old->state = 0;
            in_flight[e->thread] = SIZE_MAX;
            if (e->ptr == 0 && e->size == 0)
                bf_chain_end(old, r->site);
        }
        int acquires = e->type == TR_REC_ALLOC || (e->part == TRD_REALLOC_ACQUIRE && e->ptr != 0);
        if (acquires) {
            b[nb++] = (struct bf_block){e->ptr, e->size, e->slack, e->stack, i, 1,
                                        old ? old->chain + 1 : 0};
            es->size_classes[bf_class(e->size)]++;
            es->slack_bytes += e->slack;
            if (old && e->old_ptr != 0) {
                if (e->size > old->size)
                    es->realloc_grows++;
                if (e->ptr != e->old_ptr) {
                    es->realloc_moves++;
                    es->realloc_copied += old->size < e->size ? old->size : e->size;
                }
            }
            if (es->allocations == 0 || e->size < es->min_size)
                es->min_size = e->size;
            if (e->size > es->max_size)
                es->max_size = e->size;
            es->allocations++;
            es->bytes_allocated += e->size;
            r->tot.allocations++;
            r->tot.bytes_allocated += e->size;
            r->tot.slack_bytes += e->slack;
            if (e->part == TRD_REALLOC_ACQUIRE) {
                es->reallocs++;
                r->tot.reallocs++;
            }
        }
        if (e->type == TR_REC_FAIL ||
            (e->part == TRD_REALLOC_ACQUIRE && e->ptr == 0 && e->size > 0)) {
            es->failed++;
            r->tot.failed_allocations++;
        }

        /* Recount the heap: live blocks and blocks whose realloc is in flight. */
        uint64_t bytes = 0, blocks = 0, slack = 0, per_site[G_STACKS] = {0};
        uint64_t per_site_blocks[G_STACKS] = {0};
        for (size_t j = 0; j < nb; j++) {
            if (b[j].state == 0)
                continue;
            bytes += b[j].size;
            blocks++;
            slack += b[j].slack;
            per_site[b[j].stack] += b[j].size;
            per_site_blocks[b[j].stack]++;
        }
        for (int s = 0; s < G_STACKS; s++) {
            if (per_site[s] > r->site[s].max_live_bytes)
                r->site[s].max_live_bytes = per_site[s];
            if (per_site_blocks[s] > r->site[s].max_live_blocks)
                r->site[s].max_live_blocks = per_site_blocks[s];
            r->site[s].live_bytes = per_site[s];
            r->site[s].live_blocks = per_site_blocks[s];
        }
        if (bytes > r->tot.peak_heap_bytes) {
            r->tot.peak_heap_bytes = bytes;
            r->tot.peak_blocks = blocks;
            r->tot.peak_slack_bytes = slack;
            r->tot.peak_time_ns = e->time_ns - start;
            for (int s = 0; s < G_STACKS; s++) {
                r->site[s].peak_bytes = per_site[s];
                r->site[s].peak_blocks = per_site_blocks[s];
            }
        }
        r->tot.leaked_bytes = bytes;
        r->tot.leaked_blocks = blocks;
    }
    for (size_t j = 0; j < nb; j++)
        if (b[j].state == 1)
            bf_chain_end(&b[j], r->site);
    for (int th = 1; th <= G_THREADS; th++)
        r->tot.threads += (uint64_t)seen_thread[th];
    if (g->n_ev > 0)
        r->tot.duration_ns = g->ev[g->n_ev - 1].time_ns - start;
}

static void test_random_vs_brute_force(void **state)
{
    (void)state;
    static struct gen g;
    uint64_t exercised_chains = 0, exercised_moves = 0, exercised_manual = 0, exercised_grows = 0;
    for (unsigned round = 0; round < 30; round++) {
        struct buf f = {0};
        rng_state = 0x2545f4914f6cdd1dull * (round + 1);
        g_build(&g, 300 + 40 * round, &f);

        struct analysis a;
        struct trd_trace *t = analyze(&f, &a);

        /* The reader hands out exactly the generated history. */
        struct trd_event ev;
        size_t n = 0;
        assert_int_equal(trd_rewind(t), 0);
        while (trd_next(t, &ev) > 0) {
            assert_true(n < g.n_ev);
            const struct trd_event *w = &g.ev[n++];
            assert_int_equal(ev.type, w->type);
            assert_int_equal(ev.part, w->part);
            assert_int_equal(ev.thread, w->thread);
            assert_int_equal(ev.time_ns, w->time_ns);
            assert_int_equal(ev.ptr, w->ptr);
            assert_int_equal(ev.old_ptr, w->old_ptr);
            assert_int_equal(ev.size, w->size);
            assert_int_equal(ev.stack, w->stack);
            assert_int_equal(ev.slack, w->slack);
        }
        assert_int_equal(n, g.n_ev);

        struct bf r;
        uint64_t first = g.n_ev ? g.ev[0].time_ns : 0;
        brute_force(&g, &r, first < 990 ? first : 990);
        const struct an_totals *x = &a.totals, *y = &r.tot;
        assert_int_equal(x->allocations, y->allocations);
        assert_int_equal(x->frees, y->frees);
        assert_int_equal(x->bytes_allocated, y->bytes_allocated);
        assert_int_equal(x->peak_heap_bytes, y->peak_heap_bytes);
        assert_int_equal(x->peak_time_ns, y->peak_time_ns);
        assert_int_equal(x->peak_blocks, y->peak_blocks);
        /* Without module maps only stack 0 (no stack: before recording
         * began) is the runtime's; the rest is the program's. */
        assert_int_equal(x->leaked_bytes + x->runtime_held_bytes, y->leaked_bytes);
        assert_int_equal(x->leaked_blocks + x->runtime_held_blocks, y->leaked_blocks);
        assert_int_equal(x->runtime_held_bytes, a.sites[0].live_bytes);
        assert_int_equal(x->runtime_held_blocks, a.sites[0].live_blocks);
        assert_int_equal(x->temporary_allocations, y->temporary_allocations);
        assert_int_equal(x->failed_allocations, y->failed_allocations);
        assert_int_equal(x->reallocs, y->reallocs);
        assert_int_equal(x->unmatched_frees, y->unmatched_frees);
        assert_int_equal(x->slack_bytes, y->slack_bytes);
        assert_int_equal(x->peak_slack_bytes, y->peak_slack_bytes);
        assert_int_equal(x->duration_ns, y->duration_ns);
        assert_int_equal(x->threads, y->threads);
        assert_int_equal(a.n_sites, G_STACKS);
        for (int s = 0; s < G_STACKS; s++) {
            const struct an_site *p = &a.sites[s], *q = &r.site[s];
            assert_int_equal(p->allocations, q->allocations);
            assert_int_equal(p->bytes_allocated, q->bytes_allocated);
            assert_int_equal(p->frees, q->frees);
            assert_int_equal(p->temporary, q->temporary);
            assert_int_equal(p->failed, q->failed);
            assert_int_equal(p->reallocs, q->reallocs);
            assert_int_equal(p->min_size, q->min_size);
            assert_int_equal(p->max_size, q->max_size);
            assert_int_equal(p->live_bytes, q->live_bytes);
            assert_int_equal(p->live_blocks, q->live_blocks);
            assert_int_equal(p->peak_bytes, q->peak_bytes);
            assert_int_equal(p->peak_blocks, q->peak_blocks);
            assert_int_equal(p->max_live_bytes, q->max_live_bytes);
            assert_int_equal(p->max_live_blocks, q->max_live_blocks);
            assert_int_equal(p->slack_bytes, q->slack_bytes);
            for (int k = 0; k < AN_SIZE_CLASSES; k++)
                assert_int_equal(p->size_classes[k], q->size_classes[k]);
            assert_int_equal(p->realloc_grows, q->realloc_grows);
            assert_int_equal(p->realloc_moves, q->realloc_moves);
            assert_int_equal(p->realloc_copied, q->realloc_copied);
            assert_int_equal(p->chains, q->chains);
            assert_int_equal(p->chain_reallocs, q->chain_reallocs);
            assert_int_equal(p->chain_longest, q->chain_longest);
            assert_int_equal(p->chain_final_bytes, q->chain_final_bytes);
            assert_int_equal(p->manual_grows, q->manual_grows);
            assert_int_equal(p->manual_copied, q->manual_copied);
        }
        /* Sites add up to the totals (docs/metrics.md, "Sums"). */
        struct an_site sum;
        memset(&sum, 0, sizeof sum);
        for (uint32_t s = 0; s < a.n_sites; s++) {
            const struct an_site *p = &a.sites[s];
            sum.allocations += p->allocations;
            sum.frees += p->frees;
            sum.bytes_allocated += p->bytes_allocated;
            sum.temporary += p->temporary;
            sum.failed += p->failed;
            sum.reallocs += p->reallocs;
            sum.live_bytes += p->live_bytes;
            sum.live_blocks += p->live_blocks;
            sum.peak_bytes += p->peak_bytes;
            sum.peak_blocks += p->peak_blocks;
        }
        assert_int_equal(sum.allocations, x->allocations);
        assert_int_equal(sum.frees, x->frees);
        assert_int_equal(sum.bytes_allocated, x->bytes_allocated);
        assert_int_equal(sum.temporary, x->temporary_allocations);
        assert_int_equal(sum.failed, x->failed_allocations);
        assert_int_equal(sum.reallocs, x->reallocs);
        assert_int_equal(sum.live_bytes, x->leaked_bytes + x->runtime_held_bytes);
        assert_int_equal(sum.live_blocks, x->leaked_blocks + x->runtime_held_blocks);
        assert_int_equal(sum.peak_bytes, x->peak_heap_bytes);
        assert_int_equal(sum.peak_blocks, x->peak_blocks);
        /* The history exercised what it is meant to. */
        assert_true(y->reallocs > 0 && y->temporary_allocations > 0 && y->frees > 0);
        uint64_t chains = 0, moves = 0, manual = 0, grows = 0;
        for (int s = 0; s < G_STACKS; s++) {
            chains += r.site[s].chains;
            moves += r.site[s].realloc_moves;
            manual += r.site[s].manual_grows;
            grows += r.site[s].realloc_grows;
        }
        exercised_chains += chains;
        exercised_moves += moves;
        exercised_manual += manual;
        exercised_grows += grows;
        an_fini(&a);
        trd_close(t);
        free(f.p);
    }
    /* Over all rounds, each growth figure was non-zero somewhere. */
    assert_true(exercised_chains > 0 && exercised_moves > 0);
    assert_true(exercised_manual > 0 && exercised_grows > 0);
}

static int rm_tmpdir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_analysis.XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_counts),
        cmocka_unit_test(test_realloc_chain),
        cmocka_unit_test(test_realloc_zero_and_failures),
        cmocka_unit_test(test_temporary_per_thread),
        cmocka_unit_test(test_cross_thread_reuse),
        cmocka_unit_test(test_anomalies),
        cmocka_unit_test(test_peak_realloc_at_once),
        cmocka_unit_test(test_empty_trace),
        cmocka_unit_test(test_many_live_blocks),
        cmocka_unit_test(test_live_map_churn),
        cmocka_unit_test(test_random_vs_brute_force),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    rm_tmpdir();
    return failed;
}
