/* internal.c — blocks the recorder's own machinery allocated, which another
 * party may free later.
 *
 * Allocations made under the recorder's guard are not events of the target.
 * Most are freed under the guard too, or never; but some are handed to libc:
 * libunwind's thread-locals live in a dynamic TLS block that glibc mallocs
 * on the first use in each thread (inside our stack capture) and frees when
 * the thread is reaped, in whichever thread joins it. Without this set that
 * free would show up as a free of a block the trace never saw.
 *
 * An open-addressed set of addresses with atomic slots: insert claims an
 * empty or deleted slot, remove marks the slot deleted. A lookup stops at the
 * first empty slot, so deleted slots keep chains intact. When the set is full
 * the block is simply not remembered; its later free is then recorded as an
 * unmatched free (visible in the report, not lost).
 *
 * The set is never empty in practice (the flusher thread's blocks stay), so
 * every free of the target asks it, and deleted slots lengthen the probes:
 * ~1-3% of a recorded run. A counting filter answers most of those at once:
 * a counter per bucket of another hash of the address, raised before an
 * address enters the set and lowered after it leaves, so a zero counter
 * means "not in the set". A counter that reaches its maximum stays there
 * (its bucket is then always probed). */
#include "rec.h"

#define SLOTS 4096u /* power of two */
#define PROBES 64u
#define EMPTY 0u
#define DELETED 1u

#define FILTER 4096u /* counters; power of two */
#define FILTER_MAX UINT16_MAX

static _Atomic uintptr_t slots[SLOTS];
static _Atomic uint16_t filter[FILTER];
_Atomic unsigned rec_internal_live;

static _Atomic uint16_t *filter_of(uintptr_t p)
{
    uint64_t h = (uint64_t)(p >> 4) * 0xff51afd7ed558ccdull;
    return &filter[(h >> 40) & (FILTER - 1)];
}

static void filter_raise(uintptr_t p)
{
    _Atomic uint16_t *c = filter_of(p);
    uint16_t v = atomic_load_explicit(c, memory_order_relaxed);
    while (v != FILTER_MAX && !atomic_compare_exchange_weak(c, &v, (uint16_t)(v + 1)))
        ;
}

static void filter_lower(uintptr_t p)
{
    _Atomic uint16_t *c = filter_of(p);
    uint16_t v = atomic_load_explicit(c, memory_order_relaxed);
    while (v != FILTER_MAX && v != 0 && !atomic_compare_exchange_weak(c, &v, (uint16_t)(v - 1)))
        ;
}

static unsigned slot_of(uintptr_t p)
{
    uint64_t h = (uint64_t)p * 0x9e3779b97f4a7c15ull;
    return (unsigned)(h >> 52) & (SLOTS - 1);
}

void rec_internal_add(const void *p)
{
    uintptr_t v = (uintptr_t)p;
    if (v <= DELETED)
        return;
    filter_raise(v); /* before the slot: whoever sees the slot sees the count */
    unsigned i = slot_of(v);
    for (unsigned n = 0; n < PROBES; n++, i = (i + 1) & (SLOTS - 1)) {
        uintptr_t cur = atomic_load_explicit(&slots[i], memory_order_relaxed);
        if ((cur == EMPTY || cur == DELETED) &&
            atomic_compare_exchange_strong(&slots[i], &cur, v)) {
            atomic_fetch_add(&rec_internal_live, 1);
            return;
        }
    }
    filter_lower(v); /* not remembered */
}

int rec_internal_take_slow(const void *p)
{
    uintptr_t v = (uintptr_t)p;
    if (atomic_load_explicit(filter_of(v), memory_order_acquire) == 0)
        return 0;
    unsigned i = slot_of(v);
    for (unsigned n = 0; n < PROBES; n++, i = (i + 1) & (SLOTS - 1)) {
        uintptr_t cur = atomic_load_explicit(&slots[i], memory_order_acquire);
        if (cur == EMPTY)
            return 0;
        if (cur == v && atomic_compare_exchange_strong(&slots[i], &cur, DELETED)) {
            atomic_fetch_sub(&rec_internal_live, 1);
            filter_lower(v);
            return 1;
        }
    }
    return 0;
}
