/* livemap.h — the replay's live blocks, keyed by address.
 *
 * Reporter stage, used by analysis.c only. The map holds one entry per block
 * live at the current point of the replay; memory grows with live blocks,
 * never with events (plus 8 bytes per 65536 events, see livemap.c). */
#ifndef MEMAUDIT_LIVEMAP_H
#define MEMAUDIT_LIVEMAP_H

#include <stddef.h>
#include <stdint.h>

/* A live block, as the analysis reads and writes it. */
struct live {
    uint64_t ptr;
    uint64_t size;
    uint64_t alloc_no; /* event number of its allocation */
    uint64_t time_ns;  /* when it was allocated */
    uint32_t stack;
    uint32_t slack;    /* usable - requested (a glibc chunk's slack is below a page;
                          a hostile trace's larger values are clamped) */
    uint32_t chain;    /* reallocs that led to this block (0: a plain allocation) */
    uint32_t phase;    /* 1 + index of the phase it was allocated in; 0: none */
};

/* Entries that fit (the common case: a 16-byte-aligned user-space address,
 * a block under 1 MiB, a stack id under 2^21 ...) are packed into 20 bytes
 * in a sharded open-addressing table; the others go whole into a plain map
 * beside it (livemap.c says why). */
struct lm_shard {
    struct lm_chunk *chunks; /* [n_chunks]: 0, or 64 times a power of two, or 3/2 of that */
    size_t n_chunks;
    uint64_t cap_inv; /* UINT64_MAX / (3 * n_chunks) + 1: x % slots without a division */
    size_t n;
};

struct lm_wide { /* the plain map: whole entries */
    struct live *slots; /* [cap], ptr 0 marks an empty slot */
    size_t cap;
    size_t n;
    int has_zero; /* a block at address 0 (a hostile trace) has its own slot */
    struct live zero;
};

#define LM_SHARDS 64u

struct livemap {
    struct lm_shard shards[LM_SHARDS];
    struct lm_wide wide;
    uint64_t *time_base; /* [n_time_base]: per 65536 event numbers, the time
                            packed entries count from; UINT64_MAX: not set yet */
    size_t n_time_base;
};

/* Insert e, whose address is not in the map. 0 or -ENOMEM. */
int lm_insert(struct livemap *m, const struct live *e);
/* Insert e; a block already at e's address is taken out into *old first, in
 * the same walk. 1 = there was one, 0 = there was none, or -ENOMEM. */
int lm_replace(struct livemap *m, const struct live *e, struct live *old);
/* Remove the block at ptr into *out. 1 = it was there, 0 = unknown address. */
int lm_remove(struct livemap *m, uint64_t ptr, struct live *out);
/* Call fn(arg, e) for every live block, in no particular order, until fn
 * returns non-zero; returns that value, or 0. */
int lm_each(const struct livemap *m, int (*fn)(void *arg, const struct live *e), void *arg);
size_t lm_count(const struct livemap *m);
/* A hint: the slot where a lookup of ptr starts is about to be used. The
 * replay asks a few events ahead, so that the cache miss overlaps the work
 * in between (a large heap's map is far bigger than the cache). */
void lm_prefetch(const struct livemap *m, uint64_t ptr);
void lm_fini(struct livemap *m);

#endif
