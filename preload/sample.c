/* sample.c — sampling mode (MEMAUDIT_SAMPLE=BYTES): which allocations get a record.
 *
 * The choice (tcmalloc's and jemalloc's): the bytes the program allocates
 * form one stream per thread, and sample points fall on it at random, a
 * Poisson process with one point every BYTES bytes on average. An
 * allocation is recorded when a point falls inside its bytes, i.e. with
 * probability 1 - exp(-size/BYTES), independently of every other; the
 * analysis weighs it by the inverse (reporter/analysis.c), which makes its
 * estimates unbiased. An allocation larger than BYTES is always recorded,
 * with weight 1, outside the stream: large blocks (and leaks of them) stay
 * exact. Each thread keeps the distance to its next point, an exponential
 * draw, and counts it down: an allocation that is not sampled costs one
 * subtraction and no clock read, no stack, no record.
 *
 * The draws come from a per-thread generator seeded from the order in which
 * threads make their first allocation (1 for the main thread), never from
 * the time: the same single-threaded run samples the same allocations.
 *
 * Frees: a free is recorded only if its block was sampled, which the
 * recorder must know without a word in the block. It keeps the addresses
 * of the sampled blocks still live in one hash set for the process: a free
 * looks its pointer up without a lock (rec_sampled_has in rec.h: one hash,
 * one load of a filter in front of the table for nearly every pointer not
 * there, two or three more for the rest); inserting (a sampled allocation)
 * and removing (the free of a sampled block) take a mutex -- a few per BYTES
 * bytes allocated.
 * A block leaves the set before libc gets it back, so an address reused by
 * any thread is never mistaken for the old block. Growth builds a new
 * table under the mutex and publishes it whole; a table full of tombstones
 * is rebuilt in place under a seqlock (grow_locked and rebuild_locked say
 * why neither lets a lookup miss a block that is there). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rec.h"

/* ---- the countdown ---- */

/* The hooks' thread state (rec.h), defined here beside the countdown it
 * holds: the unit tests link preload/ without hooks.c. */
__thread struct rec_tls rec_tls __attribute__((tls_model("initial-exec")));

static __thread uint64_t rng __attribute__((tls_model("initial-exec")));
static _Atomic uint64_t threads_seeded;

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* ln(u) for u in (0, 1], without libm (the recorder links none): u = f 2^e
 * with f in [1, 2), ln f = 2 atanh((f-1)/(f+1)) by its series, error < 1e-7. */
static double ln_unit(double u)
{
    uint64_t bits;
    memcpy(&bits, &u, sizeof(bits));
    int e = (int)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & 0x000fffffffffffffu) | 0x3ff0000000000000u;
    double f;
    memcpy(&f, &bits, sizeof(f));
    double s = (f - 1) / (f + 1), s2 = s * s;
    double ln_f =
        2 * s * (1 + s2 * (1.0 / 3 + s2 * (1.0 / 5 + s2 * (1.0 / 7 + s2 * (1.0 / 9 + s2 / 11)))));
    return ln_f + e * 0.69314718055994531;
}

/* Bytes to the next sample point: exponential with mean sample_bytes, >= 1. */
static int64_t draw(void)
{
    double u = (double)((splitmix64(&rng) >> 11) + 1) * 0x1p-53; /* (0, 1] */
    double d = -ln_unit(u) * (double)rec_config.sample_bytes;
    if (d < 1)
        return 1;
    if (d > 0x1p62)
        return (int64_t)1 << 62;
    return (int64_t)d + 1;
}

/* The distance d to the next sample point, in rec_tls's two parts: at most
 * sample_bytes + 1 for the fast path, the rest beside it. */
static void countdown_set(uint64_t d)
{
    uint64_t cap = rec_config.sample_bytes + 1;
    rec_tls.sample_fast = d < cap ? d : cap;
    rec_tls.sample_rest = d - rec_tls.sample_fast;
}

/* rec_sample_take when the fast part does not cover size: a block larger
 * than the mean (outside the stream), the thread's first draw, the fast
 * part used up (refilled from the rest), or a sample point. */
int rec_sample_take_slow(size_t size)
{
    if (size > rec_config.sample_bytes)
        return 1;
    if (rng == 0) { /* this thread's first draw */
        uint64_t n = atomic_fetch_add_explicit(&threads_seeded, 1, memory_order_relaxed) + 1;
        rng = n * 0xd1342543de82ef95u + 0x2545f4914f6cdd1du;
        countdown_set((uint64_t)draw());
    }
    uint64_t left = rec_tls.sample_fast + rec_tls.sample_rest;
    if (size < left) {
        countdown_set(left - size);
        return 0;
    }
    countdown_set((uint64_t)draw()); /* memoryless: the next point is an Exp draw past this block */
    return 1;
}

/* ---- the set of sampled blocks still live ---- */

#define TOMB REC_SSET_TOMB
#define MIN_SLOTS 1024

_Alignas(64) struct rec_sampled_index rec_sampled;
/* The free hook's word (rec.h): in sampling mode, the sampled blocks live.
 * Written under set_lock; read without it: a thread that frees a sampled
 * block learned the pointer after the block was added, so it sees a count
 * of 1 at least. */
_Alignas(64) _Atomic size_t rec_free_watch = REC_WATCH_ALL;
static pthread_mutex_t set_lock = PTHREAD_MUTEX_INITIALIZER;
/* The live keys of a table being rebuilt in place, under set_lock. */
static uintptr_t *scratch;
static size_t scratch_slots;

static void put_locked(struct rec_sset *s, uintptr_t p)
{
    for (size_t i = rec_sset_home(s, p);; i = (i + 1) & s->mask) {
        uintptr_t v = atomic_load_explicit(&s->slots[i], memory_order_relaxed);
        if (v == p)
            return;
        if (v == 0 || v == TOMB) {
            if (v == 0)
                s->used++;
            s->live++;
            atomic_store_explicit(&s->slots[i], p, memory_order_release);
            return;
        }
    }
}

/* The slots a table needs for live keys: 8 per key, at least MIN_SLOTS. A
 * lookup of a pointer that is not there (the free of every block not
 * sampled) then probes 1.2 slots on average, until keys and tombstones fill
 * a quarter of the table and rec_sampled_add rebuilds it. */
static size_t slots_for(size_t live)
{
    size_t want = MIN_SLOTS;
    while (want < live * 8)
        want *= 2;
    return want;
}

/* A larger table, published whole (release; rec_sampled_has loads it with
 * acquire). The old one is never unmapped, so a lookup still probing it
 * stays safe; it cannot miss: a thread frees a block only after it learned
 * the pointer, which happened after the block was inserted into the table
 * current then. Tables double, so all of them take at most twice the last. */
static struct rec_sset *grow_locked(struct rec_sset *old, size_t want)
{
    struct rec_sset *s = rec_mmap(sizeof(*s) + want * sizeof(s->slots[0]));
    if (s == NULL)
        return NULL;
    s->mask = want - 1;
    for (size_t i = 0; old && i <= old->mask; i++) {
        uintptr_t v = atomic_load_explicit(&old->slots[i], memory_order_relaxed);
        if (v != 0 && v != TOMB)
            put_locked(s, v);
    }
    atomic_store_explicit(&rec_sampled.table, s, memory_order_release); /* pairs with rec_sampled_has */
    return s;
}

/* The same table without its tombstones, in place: a new table each time
 * would leave one mapped table behind per rebuild, and a long run rebuilds
 * without end. Lookups meanwhile see gen odd or changed, and retry under
 * the lock (rec_sampled_has returns "maybe"). -1 without memory. */
static int rebuild_locked(struct rec_sset *s)
{
    size_t slots = s->mask + 1;
    if (scratch_slots < slots) {
        uintptr_t *m = rec_mmap(slots * sizeof(*m));
        if (m == NULL)
            return -1;
        if (scratch != NULL)
            rec_munmap(scratch, scratch_slots * sizeof(*scratch));
        scratch = m;
        scratch_slots = slots;
    }
    size_t n = 0;
    for (size_t i = 0; i < slots; i++) {
        uintptr_t v = atomic_load_explicit(&s->slots[i], memory_order_relaxed);
        if (v != 0 && v != TOMB)
            scratch[n++] = v;
    }
    unsigned gen = atomic_load_explicit(&rec_sampled.gen, memory_order_relaxed);
    atomic_store_explicit(&rec_sampled.gen, gen + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release); /* odd before any slot changes */
    for (size_t i = 0; i < slots; i++)
        atomic_store_explicit(&s->slots[i], 0, memory_order_relaxed);
    s->used = 0;
    s->live = 0;
    for (size_t i = 0; i < n; i++)
        put_locked(s, scratch[i]);
    atomic_store_explicit(&rec_sampled.gen, gen + 2, memory_order_release); /* pairs with rec_sampled_has */
    return 0;
}

/* How many keys of the set each bit of the filter stands for, so that the
 * bit is cleared when the last of them leaves: a clear bit means "not in
 * the set" for every address, also one that a freed sampled block had and
 * the allocator hands out again. Without the counts a bit stayed set until
 * the filter was rebuilt, and the allocator reuses a few hot addresses:
 * bench's sqlite3 (52 keys live at most, 3490 added) found its bit set for
 * 85% of its frees, and looked the table up for them. Only add and remove
 * touch the counts, under the lock; lookups read the bits. A count that
 * reaches its maximum stays there (its bit stays set). */
#define COUNT_MAX UINT16_MAX
static uint16_t filter_count[REC_SFILTER_BITS];

static void filter_add_locked(uintptr_t p)
{
    size_t bit = rec_sfilter_bit(p);
    if (filter_count[bit] != COUNT_MAX)
        filter_count[bit]++;
    uint64_t word = atomic_load_explicit(&rec_sampled.filter[bit / 64], memory_order_relaxed);
    /* release: as a slot's store in put_locked, before the program has p */
    atomic_store_explicit(&rec_sampled.filter[bit / 64], word | (uint64_t)1 << (bit % 64),
                          memory_order_release);
}

/* p has left the table. Clearing its bit loses no key: the count says no
 * other key has that bit (no lookup of a key still there can see it 0). */
static void filter_remove_locked(uintptr_t p)
{
    size_t bit = rec_sfilter_bit(p);
    if (filter_count[bit] == COUNT_MAX || --filter_count[bit] != 0)
        return;
    uint64_t word = atomic_load_explicit(&rec_sampled.filter[bit / 64], memory_order_relaxed);
    atomic_store_explicit(&rec_sampled.filter[bit / 64], word & ~((uint64_t)1 << (bit % 64)),
                          memory_order_relaxed);
}

void rec_sampled_add(const void *p)
{
    pthread_mutex_lock(&set_lock);
    struct rec_sset *s = atomic_load_explicit(&rec_sampled.table, memory_order_relaxed);
    if (s == NULL || (s->used + 1) * 4 > s->mask + 1) {
        size_t want = slots_for(s != NULL ? s->live + 1 : 1);
        if (s == NULL || want > s->mask + 1)
            s = grow_locked(s, want);
        else if (rebuild_locked(s) < 0)
            s = NULL;
    }
    if (s != NULL) {
        put_locked(s, (uintptr_t)p);
        filter_add_locked((uintptr_t)p);
        /* (not in put_locked: a growing table passes through smaller counts) */
        atomic_store_explicit(&rec_free_watch, s->live, memory_order_relaxed);
    }
    pthread_mutex_unlock(&set_lock);
    if (s == NULL)
        rec_fail("out of memory for the set of sampled blocks", NULL);
}

/* Empty slot i. A tombstone keeps the chains through i intact; but when the
 * next slot is empty no chain goes through i (a key lies at the end of an
 * unbroken run from its home), so i becomes empty, and so do the tombstones
 * just before it, for the same reason. A lookup probing meanwhile stops
 * earlier, at a slot no key it could be looking for lies beyond. Keeps the
 * table nearly free of tombstones when few blocks are live, and the lookup of
 * an absent pointer at one probe. */
static void remove_locked(struct rec_sset *s, size_t i)
{
    if (atomic_load_explicit(&s->slots[(i + 1) & s->mask], memory_order_relaxed) != 0) {
        atomic_store_explicit(&s->slots[i], TOMB, memory_order_relaxed);
        return;
    }
    for (;;) {
        atomic_store_explicit(&s->slots[i], 0, memory_order_relaxed);
        s->used--;
        i = (i - 1) & s->mask;
        if (atomic_load_explicit(&s->slots[i], memory_order_relaxed) != TOMB)
            return;
    }
}

int rec_sampled_take_slow(const void *p)
{
    if ((uintptr_t)p <= TOMB || !rec_sampled_has(p))
        return 0;
    int found = 0;
    pthread_mutex_lock(&set_lock);
    struct rec_sset *s = atomic_load_explicit(&rec_sampled.table, memory_order_relaxed);
    for (size_t i = rec_sset_home(s, (uintptr_t)p);; i = (i + 1) & s->mask) {
        uintptr_t v = atomic_load_explicit(&s->slots[i], memory_order_relaxed);
        if (v == (uintptr_t)p) {
            remove_locked(s, i);
            filter_remove_locked((uintptr_t)p);
            s->live--;
            atomic_store_explicit(&rec_free_watch, s->live, memory_order_relaxed);
            found = 1;
            break;
        }
        if (v == 0)
            break;
    }
    pthread_mutex_unlock(&set_lock);
    return found;
}

static _Atomic int64_t live_estimate;

/* The weight of a block of u usable bytes: 1 / (1 - exp(-u/m)) is about
 * m/u + 1/2 when u is small; 1 for a block sampled always. The same u gives
 * the same weight when the block leaves, so the sum of a block that came
 * and went is 0 again. */
void rec_sampled_weigh(size_t usable_bytes, int sign)
{
    uint64_t m = rec_config.sample_bytes;
    int64_t w = usable_bytes >= m ? 1 : (int64_t)(m / (usable_bytes > 0 ? usable_bytes : 1)) + 1;
    atomic_fetch_add_explicit(&live_estimate, sign * w, memory_order_relaxed);
}

int64_t rec_sampled_live_estimate(void)
{
    return atomic_load_explicit(&live_estimate, memory_order_relaxed);
}

void rec_sample_after_fork_child(void)
{
    pthread_mutex_init(&set_lock, NULL);
}

/* Parse MEMAUDIT_SAMPLE before the first allocation is recorded (hooks.c's
 * resolve, then rec_config_load): the allocations made before the
 * constructor must be sampled like the rest, or their frees (looked up in
 * the set) would go unrecorded. Returns 0 or -EINVAL (said once). */
int rec_sample_config(void)
{
    static int done, rc;
    if (done)
        return rc;
    done = 1;
    const char *v = getenv("MEMAUDIT_SAMPLE");
    if (v == NULL || *v == '\0' || strcmp(v, "0") == 0)
        return 0;
    uint64_t n = 0;
    for (const char *s = v; *s; s++) {
        if (*s < '0' || *s > '9' || n > (UINT64_C(1) << 40)) {
            n = 0;
            break;
        }
        n = n * 10 + (uint64_t)(*s - '0');
    }
    if (n == 0 || n > (UINT64_C(1) << 40)) {
        rec_say("MEMAUDIT_SAMPLE must be a number of bytes from 1 to 2^40 (0: off), not '", v,
                "'; not recording", NULL);
        rc = -EINVAL;
        return rc;
    }
    rec_config.sample_bytes = n;
    /* After real.* (resolve), before any free may see it: resolve runs at
     * the first call of any hook, before the program has a second thread. */
    atomic_store_explicit(&rec_free_watch, 0, memory_order_relaxed);
    return 0;
}
