/* tracebits.c — what each kind of information in a trace costs, compressed.
 *
 *   tracebits TRACE
 *
 * Built and run by bench/run.sh (issue 7 asks for a compressed trace no
 * larger than heaptrack's file). heaptrack's file holds, per event, only the
 * index of the event's (size, stack) pair — a free names the pair of the
 * block it released, not the block — and a timestamp every 10 ms. A trace
 * that gives exact reports holds more: which block each free released, the
 * blocks' addresses, each event's thread and each event's time. This tool
 * replays TRACE in global order, writes each kind of information as its own
 * stream of varints, compresses each stream with zstd (level 3, one frame)
 * and prints one line of tab-separated byte counts:
 *
 *   events  pairs  identity  addresses  threads  times  ms
 *
 * pairs:     heaptrack's content: a '+' or '-' and the pair's index per
 *            event (a new pair also its size and stack id), a tick every
 *            10 ms.
 * identity:  per free (and realloc release), which block it released: the
 *            smaller of two encodings, its rank among the live blocks of its
 *            pair, newest first (0: a block the trace never saw allocated),
 *            or the zigzag delta of its address from the previous free's.
 * addresses: per allocation, 0 when it got the address that the last free
 *            of its pair released, 1 when a realloc kept its address, else
 *            2 + the zigzag delta from the previous allocation's address.
 * threads:   per event, 0 when its thread is the previous event's, else the
 *            thread's serial.
 * times:     per event, the nanoseconds since the previous event.
 * ms:        per event, the milliseconds since the previous event, the times
 *            rounded down to a millisecond: what times would cost at
 *            heaptrack's resolution or finer (it has 10 ms), in a trace
 *            whose events are already in their global order.
 *
 * Each stream is an upper bound on what its information costs (a better
 * model would compress it more); the pairs stream is the method's check: it
 * should come out about as large as heaptrack's file of the same run. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "trace_reader.h"

/* S_IDENTITY_ADDR: the same information as S_IDENTITY, another way (the
 * released address as a delta from the previous free's); the smaller of the
 * two is printed. */
enum stream {
    S_PAIRS,
    S_IDENTITY,
    S_IDENTITY_ADDR,
    S_ADDRESSES,
    S_THREADS,
    S_TIMES,
    S_MS,
    S_COUNT
};

struct buf {
    uint8_t *p;
    size_t n, cap;
};

static struct buf streams[S_COUNT];

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (q == NULL) {
        fprintf(stderr, "tracebits: out of memory\n");
        exit(1);
    }
    return q;
}

static void put(enum stream s, uint64_t v)
{
    struct buf *b = &streams[s];
    if (b->cap - b->n < 10) {
        b->cap = b->cap ? 2 * b->cap : 1 << 20;
        b->p = xrealloc(b->p, b->cap);
    }
    b->n = (size_t)(tr_put_u64(b->p + b->n, v) - b->p);
}

/* A (size, stack) pair and its live blocks: a Fenwick tree over the pair's
 * own allocation numbers, 1 where that block is still live. */
struct pair {
    uint64_t size;
    uint32_t stack;
    uint32_t *tree; /* 1-based */
    uint32_t n, cap, live;
    uint64_t last_freed; /* address the last free of this pair released */
};

static struct pair *pairs;
static uint32_t n_pairs, cap_pairs;

static void tree_add(struct pair *p, uint32_t i, int32_t d)
{
    for (; i <= p->n; i += i & -i)
        p->tree[i] = (uint32_t)((int32_t)p->tree[i] + d);
}

static uint32_t tree_prefix(const struct pair *p, uint32_t i)
{
    uint32_t s = 0;
    for (; i > 0; i -= i & -i)
        s += p->tree[i];
    return s;
}

/* A new allocation number of p: grow the tree by doubling, rebuilding it
 * (the tree's nodes cover ranges that depend on its size). */
static uint32_t pair_append(struct pair *p)
{
    if (p->n == p->cap) {
        uint32_t cap = p->cap ? 2 * p->cap : 16;
        uint32_t *flags = calloc((size_t)cap + 1, sizeof *flags);
        if (flags == NULL) {
            fprintf(stderr, "tracebits: out of memory\n");
            exit(1);
        }
        for (uint32_t i = 1; i <= p->n; i++) /* point values back out of the tree */
            flags[i] = tree_prefix(p, i) - tree_prefix(p, i - 1);
        for (uint32_t i = 1; i <= cap; i++) { /* and into a tree of the new size */
            uint32_t up = i + (i & -i);
            if (up <= cap)
                flags[up] += flags[i];
        }
        free(p->tree);
        p->tree = flags;
        p->cap = cap;
    }
    p->n++;
    return p->n;
}

/* Pairs by (size, stack) and live blocks by address: open addressing. */
struct slot {
    uint64_t key; /* pairs: size * 2^32 + stack + 1; blocks: the address */
    uint32_t pair, num;
};

struct table {
    struct slot *s;
    size_t mask, used;
};

static struct table pair_index, blocks;

static size_t hash64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k;
}

static struct slot *find(struct table *t, uint64_t key, int add)
{
    if (add && (t->used + 1) * 2 > t->mask) {
        struct table old = *t;
        t->mask = old.mask ? 2 * old.mask + 1 : 1023;
        t->s = calloc(t->mask + 1, sizeof *t->s);
        if (t->s == NULL) {
            fprintf(stderr, "tracebits: out of memory\n");
            exit(1);
        }
        for (size_t i = 0; old.s && i <= old.mask; i++)
            if (old.s[i].key != 0)
                *find(t, old.s[i].key, 1) = old.s[i];
        free(old.s);
    }
    if (t->s == NULL)
        return NULL;
    for (size_t i = hash64(key) & t->mask;; i = (i + 1) & t->mask) {
        if (t->s[i].key == key)
            return &t->s[i];
        if (t->s[i].key == 0) {
            if (!add)
                return NULL;
            t->used++;
            t->s[i].key = key;
            return &t->s[i];
        }
    }
}

/* Remove by backward shift, so that probe runs stay whole. */
static void erase(struct table *t, struct slot *at)
{
    size_t i = (size_t)(at - t->s), j = i;
    for (;;) {
        j = (j + 1) & t->mask;
        if (t->s[j].key == 0)
            break;
        size_t home = hash64(t->s[j].key) & t->mask;
        if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
            t->s[i] = t->s[j];
            i = j;
        }
    }
    t->s[i].key = 0;
    t->used--;
}

static uint64_t last_alloc_ptr, last_free_ptr, last_ns, next_tick_ns;
static uint32_t last_thread;

static void on_acquire(const struct trd_event *ev, uint64_t ptr, uint64_t old)
{
    struct slot *ps = find(&pair_index, (ev->size << 32) + ev->stack + 1, 1);
    if (ps->num == 0) { /* a new pair */
        if (n_pairs == cap_pairs) {
            cap_pairs = cap_pairs ? 2 * cap_pairs : 1024;
            pairs = xrealloc(pairs, cap_pairs * sizeof *pairs);
        }
        pairs[n_pairs] = (struct pair){.size = ev->size, .stack = ev->stack};
        ps->pair = n_pairs++;
        ps->num = 1;
        put(S_PAIRS, 'a');
        put(S_PAIRS, ev->size);
        put(S_PAIRS, ev->stack);
    }
    struct pair *p = &pairs[ps->pair];
    put(S_PAIRS, '+');
    put(S_PAIRS, ps->pair);

    if (ptr != 0 && ptr == p->last_freed)
        put(S_ADDRESSES, 0);
    else if (ptr != 0 && ptr == old)
        put(S_ADDRESSES, 1);
    else
        put(S_ADDRESSES, 2 + tr_zigzag((int64_t)(ptr - last_alloc_ptr)));
    last_alloc_ptr = ptr;

    uint32_t pair = ps->pair; /* (the block table may move the pair slot) */
    uint32_t num = pair_append(&pairs[pair]);
    tree_add(&pairs[pair], num, 1);
    pairs[pair].live++;
    struct slot *b = find(&blocks, ptr, 1);
    if (b->num != 0) /* an address allocated twice: forget the first */
        tree_add(&pairs[b->pair], b->num, -1), pairs[b->pair].live--;
    b->pair = pair;
    b->num = num;
}

static void on_release(uint64_t ptr)
{
    struct slot *b = find(&blocks, ptr, 0);
    if (b == NULL) {
        put(S_IDENTITY, 0);
        put(S_IDENTITY_ADDR, tr_zigzag((int64_t)(ptr - last_free_ptr)));
        last_free_ptr = ptr;
        put(S_PAIRS, '-');
        put(S_PAIRS, n_pairs); /* no pair */
        return;
    }
    struct pair *p = &pairs[b->pair];
    put(S_PAIRS, '-');
    put(S_PAIRS, b->pair);
    put(S_IDENTITY, 1 + (p->live - tree_prefix(p, b->num)));
    put(S_IDENTITY_ADDR, tr_zigzag((int64_t)(ptr - last_free_ptr)));
    last_free_ptr = ptr;
    tree_add(p, b->num, -1);
    p->live--;
    p->last_freed = ptr;
    erase(&blocks, b);
}

static void on_event(const struct trd_event *ev)
{
    if (ev->type == TR_REC_PHASE)
        return;
    put(S_TIMES, ev->time_ns - last_ns);
    put(S_MS, ev->time_ns / 1000000 - last_ns / 1000000);
    last_ns = ev->time_ns;
    put(S_THREADS, ev->thread == last_thread ? 0 : ev->thread);
    last_thread = ev->thread;
    while (ev->time_ns >= next_tick_ns) {
        put(S_PAIRS, 'c');
        next_tick_ns += 10000000;
    }
    switch (ev->type) {
    case TR_REC_ALLOC:
        on_acquire(ev, ev->ptr, 0);
        break;
    case TR_REC_FREE:
        on_release(ev->ptr);
        break;
    case TR_REC_REALLOC:
        if (ev->part != TRD_REALLOC_ACQUIRE && ev->old_ptr != 0 &&
            !(ev->ptr == 0 && ev->size > 0)) /* (a failed realloc keeps its block) */
            on_release(ev->old_ptr);
        if (ev->part != TRD_REALLOC_RELEASE && ev->ptr != 0)
            on_acquire(ev, ev->ptr, ev->old_ptr);
        break;
    default: /* FAIL: no block */
        break;
    }
}

static size_t zsize(const struct buf *b)
{
    size_t cap = ZSTD_compressBound(b->n);
    void *out = xrealloc(NULL, cap ? cap : 1);
    size_t n = ZSTD_compress(out, cap, b->p, b->n, 3);
    free(out);
    if (ZSTD_isError(n)) {
        fprintf(stderr, "tracebits: zstd: %s\n", ZSTD_getErrorName(n));
        exit(1);
    }
    return n;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: tracebits TRACE\n");
        return 2;
    }
    struct trd_trace *t;
    char err[512];
    if (trd_open(argv[1], &t, err, sizeof err) < 0) {
        fprintf(stderr, "tracebits: %s\n", err);
        return 1;
    }
    last_ns = trd_first_ns(t);
    next_tick_ns = last_ns;
    uint64_t events = 0;
    const struct trd_event *evs;
    int n;
    while ((n = trd_next_run(t, &evs)) > 0)
        for (int i = 0; i < n; i++, events++)
            on_event(&evs[i]);
    if (n < 0) {
        fprintf(stderr, "tracebits: %s: %s\n", argv[1], trd_error(t));
        return 1;
    }
    trd_close(t);
    size_t z[S_COUNT];
    for (int s = 0; s < S_COUNT; s++)
        z[s] = zsize(&streams[s]);
    printf("%" PRIu64 "\t%zu\t%zu\t%zu\t%zu\t%zu\t%zu\n", events, z[S_PAIRS],
           z[S_IDENTITY] < z[S_IDENTITY_ADDR] ? z[S_IDENTITY] : z[S_IDENTITY_ADDR], z[S_ADDRESSES],
           z[S_THREADS], z[S_TIMES], z[S_MS]);
    return 0;
}
