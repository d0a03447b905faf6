/* livemap.c — the replay's live blocks, keyed by address (livemap.h).
 *
 * Reporter stage. Every event of a replay looks a block up here, and a large
 * heap keeps hundreds of thousands of blocks live, so the map's size decides
 * both the replay's memory and, through cache misses, its speed. Measured on
 * bench's python3 trace (1.28 M blocks live at the peak): whole 48-byte
 * entries in one table that doubled by copying took 288 MiB at a growth
 * step; the packed table below takes about 40 MiB there.
 *
 * - Packed entries: a block whose figures fit (address 16-byte aligned,
 *   below 2^47 and not 0; stack id below 2^21; size below 1 MiB; slack
 *   below 32; realloc chain below 8; phase below 16; event number below
 *   2^32; allocated at most 2^32-1 ns after the time base of its event
 *   number's group of 65536) is stored in 20 bytes. glibc's blocks nearly
 *   all fit: it returns 16-byte aligned user-space addresses, and its slack
 *   is under 24 bytes below the mmap threshold.
 * - Every other block goes whole into a plain open-addressing map beside it
 *   (48 bytes an entry), which lookups try when the packed table misses and
 *   the plain map is not empty. Nothing is lost or rounded: a block is in
 *   exactly one of the two.
 * - The packed table is split into LM_SHARDS shards by 1 MiB region of the
 *   address, each an open-addressing table of 64-byte chunks of three
 *   entries, probed chunk after chunk, that grows at 3/4 load (1/4 while
 *   it is under 64 KiB: SMALL_SHARD_CHUNKS). A chunk
 *   counts the entries that went past it full, so a lookup stops at the
 *   first chunk that has none, and a removal only clears its slot and takes
 *   one off the counts of the chunks its entry passed: nothing moves. (One
 *   entry a slot with backward-shift deletion read 5.7 slots per removal on
 *   bench's work trace, to the end of the run, with a modulo each, and
 *   a slot could straddle two cache lines; the chunks took its replay from
 *   0.37 s to 0.34 s, see the commit.) A shard grows by copying, so a growth
 *   step needs one shard's memory more, not the whole table's.
 * - Within a shard a block's place keeps the heap's own locality: blocks
 *   allocated near each other land in the same or nearby chunks (16-byte-
 *   aligned addresses of one region one slot position each, three positions
 *   a chunk), so a replay touches few cache lines; each region starts at its
 *   own pseudo-random offset so that regions do not pile onto the same
 *   chunks. Measured on bench's work trace with one entry a slot, 1.0 probes
 *   per lookup, against 14.8 with a multiplicative hash of the whole
 *   address.
 * - The time base of a group of 65536 event numbers is the allocation time
 *   of its first block to be inserted; events come in time order, so later
 *   blocks of the group are at or after it. The bases cost 8 bytes per 65536
 *   events, the only part of the map that grows with events. */
#include "livemap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define GRANULE_BITS 43u /* ptr >> 4 of a user-space (47-bit) address */
#define GRANULE_MASK ((1ull << GRANULE_BITS) - 1)
#define STACK_LIMIT (1u << 21)
#define SIZE_LIMIT (1u << 20)
#define SLACK_LIMIT 32u
#define CHAIN_LIMIT 8u
#define PHASE_LIMIT 16u
#define TIME_GROUP_BITS 16u

/* A packed entry, 20 bytes, 4-byte aligned so that a slot array is dense.
 * key: ptr >> 4 in bits 0-42, the stack id in 43-63; 0 marks an empty slot.
 * bits: size in bits 0-19, slack in 20-24, chain in 25-27, phase in 28-31. */
struct lm_slot {
    uint32_t key_lo, key_hi;
    uint32_t bits;
    uint32_t alloc_no;
    uint32_t time_delta; /* time_ns - the time base of alloc_no's group */
};

/* CHUNK_SLOTS entries and a count in one cache line (the table is page
 * aligned): a lookup reads one line, not a run of slots that may straddle
 * two. overflow: entries that passed this chunk full on their way from
 * their home chunk; a lookup that misses here goes on to the next chunk only
 * while it is not 0, and a removal takes one off each chunk it passed, so
 * nothing ever moves (no backward shift). */
#define CHUNK_SLOTS 3u
struct lm_chunk {
    struct lm_slot slot[CHUNK_SLOTS];
    uint32_t overflow;
};
_Static_assert(sizeof(struct lm_chunk) == 64, "a chunk is one cache line");

static uint64_t slot_key(const struct lm_slot *s)
{
    return (uint64_t)s->key_hi << 32 | s->key_lo;
}

/* The region's pseudo-random mix: its top bits pick the shard, the rest
 * offsets the region's slots within it. */
static uint64_t region_mix(uint64_t granule)
{
    return (granule >> 16) * 0x9E3779B97F4A7C15ull;
}

static struct lm_shard *shard_of(struct livemap *m, uint64_t granule)
{
    return &m->shards[region_mix(granule) >> 58];
}

__extension__ typedef unsigned __int128 u128;

/* A shard's capacity is not a power of two (growth by 3/2 and 4/3 wastes
 * less than doubling), so this is a modulo, of the low 32 bits (a wrap
 * every 64 GiB of addresses costs no locality to speak of) by Lemire's
 * method: two multiplications instead of a division, which took a tenth of
 * the replay's time, every lookup paying one. The
 * granule's place among the shard's slots, CHUNK_SLOTS a chunk, gives its
 * home chunk. */
static size_t chunk_home(const struct lm_shard *s, uint64_t granule)
{
    uint32_t x = (uint32_t)(granule + (region_mix(granule) >> 24));
    uint64_t low = s->cap_inv * x;
    return (size_t)(((u128)low * (s->n_chunks * CHUNK_SLOTS)) >> 64) / CHUNK_SLOTS;
}

static size_t chunk_next(const struct lm_shard *s, size_t i)
{
    return i + 1 == s->n_chunks ? 0 : i + 1;
}

/* Table memory of its own: a large table is looked up at random (frees come
 * in the program's order), so it asks for huge pages. It is populated
 * writable at once: a probe reads a slot before anything is written there,
 * so a page left to fault in took two faults (the zero page on the read, a
 * copy on the write), which were a fifth of the python3 trace's replay. */
static void *table_alloc(size_t bytes)
{
    int big = bytes >= (2u << 20);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | (big ? 0 : MAP_POPULATE), -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (big) {
        /* Hints, in this order so that the pages come huge: without THP
         * they are plain pages, without MADV_POPULATE_WRITE (Linux 5.14)
         * they fault in as before. */
        madvise(p, bytes, MADV_HUGEPAGE);
#ifdef MADV_POPULATE_WRITE
        madvise(p, bytes, MADV_POPULATE_WRITE);
#endif
    }
    return p;
}

static void table_free(void *p, size_t bytes)
{
    if (p != NULL)
        munmap(p, bytes);
}

/* ---- the plain map ---- */

static size_t wide_home(const struct lm_wide *w, uint64_t ptr)
{
    return (size_t)((ptr >> 4) ^ (ptr >> 28)) & (w->cap - 1);
}

static void wide_put(struct lm_wide *w, const struct live *e)
{
    size_t i = wide_home(w, e->ptr);
    while (w->slots[i].ptr != 0)
        i = (i + 1) & (w->cap - 1);
    w->slots[i] = *e;
}

static int wide_insert(struct lm_wide *w, const struct live *e)
{
    if (e->ptr == 0) {
        w->zero = *e;
        w->has_zero = 1;
        return 0;
    }
    if ((w->n + 1) * 2 > w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        if (cap > SIZE_MAX / sizeof(struct live))
            return -ENOMEM;
        struct live *old = w->slots;
        size_t old_cap = w->cap;
        w->slots = table_alloc(cap * sizeof *w->slots);
        if (w->slots == NULL) {
            w->slots = old;
            return -ENOMEM;
        }
        w->cap = cap;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].ptr != 0)
                wide_put(w, &old[i]);
        table_free(old, old_cap * sizeof *old);
    }
    wide_put(w, e);
    w->n++;
    return 0;
}

static int wide_remove(struct lm_wide *w, uint64_t ptr, struct live *out)
{
    if (ptr == 0) {
        if (!w->has_zero)
            return 0;
        *out = w->zero;
        w->has_zero = 0;
        return 1;
    }
    if (w->n == 0)
        return 0;
    size_t mask = w->cap - 1, i = wide_home(w, ptr);
    while (w->slots[i].ptr != ptr) {
        if (w->slots[i].ptr == 0)
            return 0;
        i = (i + 1) & mask;
    }
    *out = w->slots[i];
    /* Backward shift: pull later entries of the probe run into the hole
     * unless their home lies cyclically in (hole, j]. */
    for (size_t j = i;;) {
        j = (j + 1) & mask;
        if (w->slots[j].ptr == 0)
            break;
        size_t h = wide_home(w, w->slots[j].ptr);
        int stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
        if (!stays) {
            w->slots[i] = w->slots[j];
            i = j;
        }
    }
    w->slots[i].ptr = 0;
    w->n--;
    return 1;
}

/* ---- packed entries ---- */

/* An address the packed table can hold: its granule, else 0. */
static uint64_t granule_of(uint64_t ptr)
{
    if ((ptr & 15) != 0 || (ptr >> 4) > GRANULE_MASK)
        return 0;
    return ptr >> 4; /* 0 for ptr 0: never packed */
}

/* The time base of event number no's group, set by the first call. */
static int time_base(struct livemap *m, uint64_t no, uint64_t time_ns, uint64_t *base)
{
    size_t g = (size_t)(no >> TIME_GROUP_BITS);
    if (g >= m->n_time_base) {
        size_t n = m->n_time_base ? m->n_time_base : 16;
        while (n <= g)
            n *= 2;
        uint64_t *p = realloc(m->time_base, n * sizeof *p);
        if (p == NULL)
            return -ENOMEM;
        for (size_t i = m->n_time_base; i < n; i++)
            p[i] = UINT64_MAX;
        m->time_base = p;
        m->n_time_base = n;
    }
    if (m->time_base[g] == UINT64_MAX)
        m->time_base[g] = time_ns;
    *base = m->time_base[g];
    return 0;
}

/* Pack e into *s: 1 = done, 0 = it does not fit, <0 error. */
static int pack(struct livemap *m, const struct live *e, struct lm_slot *s)
{
    uint64_t g = granule_of(e->ptr), base;
    if (g == 0 || e->stack >= STACK_LIMIT || e->size >= SIZE_LIMIT || e->slack >= SLACK_LIMIT ||
        e->chain >= CHAIN_LIMIT || e->phase >= PHASE_LIMIT || e->alloc_no > UINT32_MAX)
        return 0;
    int rc = time_base(m, e->alloc_no, e->time_ns, &base);
    if (rc < 0)
        return rc;
    if (e->time_ns < base || e->time_ns - base > UINT32_MAX)
        return 0;
    uint64_t key = g | (uint64_t)e->stack << GRANULE_BITS;
    s->key_lo = (uint32_t)key;
    s->key_hi = (uint32_t)(key >> 32);
    s->bits = (uint32_t)e->size | e->slack << 20 | e->chain << 25 | e->phase << 28;
    s->alloc_no = (uint32_t)e->alloc_no;
    s->time_delta = (uint32_t)(e->time_ns - base);
    return 1;
}

static void unpack(const struct livemap *m, const struct lm_slot *s, struct live *e)
{
    uint64_t key = slot_key(s);
    e->ptr = (key & GRANULE_MASK) << 4;
    e->stack = (uint32_t)(key >> GRANULE_BITS);
    e->size = s->bits & (SIZE_LIMIT - 1);
    e->slack = (s->bits >> 20) & (SLACK_LIMIT - 1);
    e->chain = (s->bits >> 25) & (CHAIN_LIMIT - 1);
    e->phase = s->bits >> 28;
    e->alloc_no = s->alloc_no;
    e->time_ns = m->time_base[s->alloc_no >> TIME_GROUP_BITS] + s->time_delta;
}

/* The first chunk with a free slot from chunk i on; every full chunk passed
 * on the way counts one more entry beyond it. */
static struct lm_slot *chunk_free_slot(struct lm_shard *sh, size_t i)
{
    for (;;) {
        struct lm_chunk *ch = &sh->chunks[i];
        for (unsigned k = 0; k < CHUNK_SLOTS; k++)
            if (slot_key(&ch->slot[k]) == 0)
                return &ch->slot[k];
        ch->overflow++;
        i = chunk_next(sh, i);
    }
}

/* Put s, whose granule is not in the shard, in. */
static void shard_put(struct lm_shard *sh, const struct lm_slot *s)
{
    *chunk_free_slot(sh, chunk_home(sh, slot_key(s) & GRANULE_MASK)) = *s;
}

/* The slot of granule g in the shard, or NULL; *home: its home chunk, *at:
 * the chunk it was found in. */
static struct lm_slot *shard_find(struct lm_shard *sh, uint64_t g, size_t *home, size_t *at)
{
    size_t i = chunk_home(sh, g);
    *home = i;
    for (;;) {
        struct lm_chunk *ch = &sh->chunks[i];
        for (unsigned k = 0; k < CHUNK_SLOTS; k++) {
            if ((slot_key(&ch->slot[k]) & GRANULE_MASK) == g) {
                *at = i;
                return &ch->slot[k];
            }
        }
        if (ch->overflow == 0)
            return NULL;
        i = chunk_next(sh, i);
    }
}

/* Empty slot s of chunk at, whose entry's home chunk is home: the chunks it
 * passed on its way there count one entry fewer beyond them. */
static void shard_clear(struct lm_shard *sh, size_t home, size_t at, struct lm_slot *s)
{
    for (size_t i = home; i != at; i = chunk_next(sh, i))
        sh->chunks[i].overflow--;
    memset(s, 0, sizeof *s);
    sh->n--;
}

static int shard_grow(struct lm_shard *sh)
{
    /* 64, 96, 128, 192, 256 ... chunks: from 3/4 load to 1/2 or 9/16 (small:
     * from 1/4 to 1/6 or 3/16). */
    size_t n = sh->n_chunks == 0                           ? 64
               : (sh->n_chunks & (sh->n_chunks - 1)) == 0 ? sh->n_chunks / 2 * 3
                                                          : sh->n_chunks / 3 * 4;
    if (n * CHUNK_SLOTS > UINT32_MAX || n > SIZE_MAX / 2 / sizeof(struct lm_chunk))
        return -ENOMEM;
    struct lm_shard old = *sh;
    sh->chunks = table_alloc(n * sizeof *sh->chunks);
    if (sh->chunks == NULL) {
        *sh = old;
        return -ENOMEM;
    }
    sh->n_chunks = n;
    sh->cap_inv = UINT64_MAX / (n * CHUNK_SLOTS) + 1;
    for (size_t i = 0; i < old.n_chunks; i++)
        for (unsigned k = 0; k < CHUNK_SLOTS; k++)
            if (slot_key(&old.chunks[i].slot[k]) != 0)
                shard_put(sh, &old.chunks[i].slot[k]);
    table_free(old.chunks, old.n_chunks * sizeof *old.chunks);
    return 0;
}

/* A shard of fewer chunks than this (64 KiB) grows at 1/4 load, not 3/4.
 * Such a shard stays in cache whatever its load, and a small heap's blocks
 * crowd around the few addresses malloc hands out again and again: at 3/4,
 * a lookup on bench's threads trace (T=4, a few hundred blocks live) walked
 * 1.36 chunks past its home, at 1/4 0.02, and the replay took 0.48 s
 * instead of 0.58. It costs at most LM_SHARDS * 64 KiB = 4 MiB (64 shards
 * with 767 blocks each, about 2.7 MiB more than at 3/4). */
#define SMALL_SHARD_CHUNKS 1024u

/* Room for one more entry in the shard (at most 3/4 of its slots used, or
 * 1/4 while it is small). */
static int shard_room(struct lm_shard *sh)
{
    size_t slots = sh->n_chunks * CHUNK_SLOTS, limit = sh->n_chunks < SMALL_SHARD_CHUNKS ? 1 : 3;
    if ((sh->n + 1) * 4 > slots * limit)
        return shard_grow(sh);
    return 0;
}

int lm_insert(struct livemap *m, const struct live *e)
{
    struct lm_slot s;
    int rc = pack(m, e, &s);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return wide_insert(&m->wide, e);
    struct lm_shard *sh = shard_of(m, e->ptr >> 4);
    rc = shard_room(sh);
    if (rc < 0)
        return rc;
    shard_put(sh, &s);
    sh->n++;
    return 0;
}

int lm_replace(struct livemap *m, const struct live *e, struct live *old)
{
    struct lm_slot s;
    int rc = pack(m, e, &s);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        int had = lm_remove(m, e->ptr, old);
        rc = wide_insert(&m->wide, e);
        return rc < 0 ? rc : had;
    }
    uint64_t g = e->ptr >> 4;
    struct lm_shard *sh = shard_of(m, g);
    rc = shard_room(sh);
    if (rc < 0)
        return rc;
    size_t home, at;
    struct lm_slot *found = shard_find(sh, g, &home, &at);
    if (found != NULL) {
        unpack(m, found, old);
        *found = s;
        return 1;
    }
    *chunk_free_slot(sh, home) = s;
    sh->n++;
    return wide_remove(&m->wide, e->ptr, old); /* a block there that did not pack */
}

int lm_remove(struct livemap *m, uint64_t ptr, struct live *out)
{
    uint64_t g = granule_of(ptr);
    struct lm_shard *sh = g != 0 ? shard_of(m, g) : NULL;
    if (sh == NULL || sh->n == 0)
        return wide_remove(&m->wide, ptr, out);
    size_t home, at;
    struct lm_slot *found = shard_find(sh, g, &home, &at);
    if (found == NULL)
        return wide_remove(&m->wide, ptr, out);
    unpack(m, found, out);
    shard_clear(sh, home, at, found);
    return 1;
}

void lm_prefetch(const struct livemap *m, uint64_t ptr)
{
    uint64_t g = granule_of(ptr);
    const struct lm_shard *sh = &m->shards[region_mix(g) >> 58];
    if (g != 0 && sh->n_chunks != 0)
        __builtin_prefetch(&sh->chunks[chunk_home(sh, g)]);
}

int lm_each(const struct livemap *m, int (*fn)(void *arg, const struct live *e), void *arg)
{
    struct live e;
    int rc;
    for (unsigned k = 0; k < LM_SHARDS; k++) {
        const struct lm_shard *sh = &m->shards[k];
        for (size_t i = 0; i < sh->n_chunks * CHUNK_SLOTS; i++) {
            const struct lm_slot *s = &sh->chunks[i / CHUNK_SLOTS].slot[i % CHUNK_SLOTS];
            if (slot_key(s) == 0)
                continue;
            unpack(m, s, &e);
            rc = fn(arg, &e);
            if (rc != 0)
                return rc;
        }
    }
    const struct lm_wide *w = &m->wide;
    for (size_t i = 0; i < w->cap; i++) {
        if (w->slots[i].ptr == 0)
            continue;
        rc = fn(arg, &w->slots[i]);
        if (rc != 0)
            return rc;
    }
    if (w->has_zero)
        return fn(arg, &w->zero);
    return 0;
}

size_t lm_count(const struct livemap *m)
{
    size_t n = m->wide.n + (m->wide.has_zero != 0);
    for (unsigned k = 0; k < LM_SHARDS; k++)
        n += m->shards[k].n;
    return n;
}

void lm_fini(struct livemap *m)
{
    for (unsigned k = 0; k < LM_SHARDS; k++)
        table_free(m->shards[k].chunks, m->shards[k].n_chunks * sizeof(struct lm_chunk));
    table_free(m->wide.slots, m->wide.cap * sizeof(struct live));
    free(m->time_base);
    memset(m, 0, sizeof *m);
}
