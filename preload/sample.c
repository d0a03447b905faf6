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
 * looks its pointer up without a lock (one hash, one load when the set is
 * sparse, ~2 ns); inserting (a sampled allocation) and removing (the free
 * of a sampled block) take a mutex -- a few per BYTES bytes allocated. A
 * block leaves the set before libc gets it back, so an address reused by
 * any thread is never mistaken for the old block. Growth builds a new
 * table under the mutex and publishes it whole (release; the lookup loads
 * it with acquire); old tables are never unmapped, so a lookup still
 * probing one stays safe, and it cannot miss: a thread frees a block only
 * after it learned the pointer, which happened after the block was
 * inserted into the table current then. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rec.h"

/* ---- the countdown ---- */

__thread int64_t rec_sample_left __attribute__((tls_model("initial-exec")));
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

int rec_sample_take_slow(size_t size)
{
    if (rng == 0) { /* this thread's first draw */
        uint64_t n = atomic_fetch_add_explicit(&threads_seeded, 1, memory_order_relaxed) + 1;
        rng = n * 0xd1342543de82ef95u + 0x2545f4914f6cdd1du;
        rec_sample_left = draw();
        if ((int64_t)size < rec_sample_left) {
            rec_sample_left -= (int64_t)size;
            return 0;
        }
    }
    rec_sample_left = draw(); /* memoryless: the next point is an Exp draw past this block */
    return 1;
}

/* ---- the set of sampled blocks still live ---- */

#define TOMB ((uintptr_t)1)

struct sset {
    size_t mask;
    size_t used; /* keys and tombstones */
    size_t live;
    _Atomic uintptr_t slots[];
};

static _Atomic(struct sset *) set;
/* Sampled blocks live now, for the lookup's first test. Written under
 * set_lock; read without it: a thread that frees a sampled block learned
 * the pointer after the block was added, so it sees a count of 1 at least. */
_Alignas(64) _Atomic size_t rec_sampled_live;
static pthread_mutex_t set_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t home(const struct sset *s, uintptr_t p)
{
    return (size_t)(((uint64_t)p * 0x9e3779b97f4a7c15u) >> 20) & s->mask;
}

int rec_sampled_has(const void *p)
{
    struct sset *s = atomic_load_explicit(&set, memory_order_acquire); /* pairs with grow */
    if (s == NULL)
        return 0;
    for (size_t i = home(s, (uintptr_t)p);; i = (i + 1) & s->mask) {
        uintptr_t v = atomic_load_explicit(&s->slots[i], memory_order_relaxed);
        if (v == (uintptr_t)p)
            return 1;
        if (v == 0)
            return 0;
    }
}

static void put_locked(struct sset *s, uintptr_t p)
{
    for (size_t i = home(s, p);; i = (i + 1) & s->mask) {
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

/* A table with room for twice the live keys, at least 1024 slots. */
static struct sset *grow_locked(struct sset *old)
{
    size_t want = 1024;
    while (old && want < old->live * 4)
        want *= 2;
    struct sset *s = rec_mmap(sizeof(*s) + want * sizeof(s->slots[0]));
    if (s == NULL)
        return NULL;
    s->mask = want - 1;
    for (size_t i = 0; old && i <= old->mask; i++) {
        uintptr_t v = atomic_load_explicit(&old->slots[i], memory_order_relaxed);
        if (v != 0 && v != TOMB)
            put_locked(s, v);
    }
    atomic_store_explicit(&set, s, memory_order_release); /* pairs with rec_sampled_has */
    return s;
}

void rec_sampled_add(const void *p)
{
    pthread_mutex_lock(&set_lock);
    struct sset *s = atomic_load_explicit(&set, memory_order_relaxed);
    if (s == NULL || (s->used + 1) * 2 > s->mask + 1)
        s = grow_locked(s);
    if (s != NULL) {
        put_locked(s, (uintptr_t)p);
        /* (not in put_locked: a growing table passes through smaller counts) */
        atomic_store_explicit(&rec_sampled_live, s->live, memory_order_relaxed);
    }
    pthread_mutex_unlock(&set_lock);
    if (s == NULL)
        rec_fail("out of memory for the set of sampled blocks", NULL);
}

int rec_sampled_take_slow(const void *p)
{
    if (!rec_sampled_has(p))
        return 0;
    int found = 0;
    pthread_mutex_lock(&set_lock);
    struct sset *s = atomic_load_explicit(&set, memory_order_relaxed);
    for (size_t i = home(s, (uintptr_t)p);; i = (i + 1) & s->mask) {
        uintptr_t v = atomic_load_explicit(&s->slots[i], memory_order_relaxed);
        if (v == (uintptr_t)p) {
            atomic_store_explicit(&s->slots[i], TOMB, memory_order_relaxed);
            s->live--;
            atomic_store_explicit(&rec_sampled_live, s->live, memory_order_relaxed);
            found = 1;
            break;
        }
        if (v == 0)
            break;
    }
    pthread_mutex_unlock(&set_lock);
    return found;
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
    return 0;
}
