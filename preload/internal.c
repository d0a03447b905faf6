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
 * unmatched free (visible in the report, not lost). */
#include "rec.h"

#define SLOTS 4096u /* power of two */
#define PROBES 64u
#define EMPTY 0u
#define DELETED 1u

static _Atomic uintptr_t slots[SLOTS];
_Atomic unsigned rec_internal_live;

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
    unsigned i = slot_of(v);
    for (unsigned n = 0; n < PROBES; n++, i = (i + 1) & (SLOTS - 1)) {
        uintptr_t cur = atomic_load_explicit(&slots[i], memory_order_relaxed);
        if ((cur == EMPTY || cur == DELETED) &&
            atomic_compare_exchange_strong(&slots[i], &cur, v)) {
            atomic_fetch_add(&rec_internal_live, 1);
            return;
        }
    }
}

int rec_internal_take_slow(const void *p)
{
    uintptr_t v = (uintptr_t)p;
    unsigned i = slot_of(v);
    for (unsigned n = 0; n < PROBES; n++, i = (i + 1) & (SLOTS - 1)) {
        uintptr_t cur = atomic_load_explicit(&slots[i], memory_order_acquire);
        if (cur == EMPTY)
            return 0;
        if (cur == v && atomic_compare_exchange_strong(&slots[i], &cur, DELETED)) {
            atomic_fetch_sub(&rec_internal_live, 1);
            return 1;
        }
    }
    return 0;
}
