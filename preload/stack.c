/* stack.c — capture call stacks and give each distinct one a small id.
 *
 * Capture: libunwind's unw_backtrace (its fast frame-cache walk, ~6 ns a
 * frame). libunwind is dlopen'ed RTLD_LOCAL rather than linked: Debian's
 * libunwind.so.8 exports _Unwind_* and backtrace, and a DT_NEEDED on it would
 * put them in the global scope ahead of libgcc_s, silently changing how the
 * target's C++ exceptions unwind (and making them ~20x slower).
 *
 * Dedup: an open-addressing hash table of stacks, read without a lock. Entries
 * are immutable once published (release store of the slot; readers load with
 * acquire). Inserts and growth take table_lock, which is only reached for a
 * stack never seen before. A grown table is published whole and the old one
 * is kept (never freed), so a reader still probing it stays safe; a reader
 * that misses there retries under the lock. The first thread to insert a
 * stack writes its STACK record; events of any thread may use the id. */
#define UNW_LOCAL_ONLY
#include <dlfcn.h>
#include <libunwind.h>
#include <pthread.h>
#include <string.h>

#include "rec.h"

struct stack_entry {
    uint64_t hash;
    uint32_t id;
    uint32_t epoch;
    uint32_t depth;
    uint32_t pad_;
    uintptr_t frames[];
};

struct stack_table {
    size_t mask;
    size_t count;
    _Atomic(struct stack_entry *) slots[];
};

_Atomic uint32_t rec_epoch;

static int (*unw_bt)(void **, int);
static _Atomic(struct stack_table *) table;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t next_id = 1; /* table_lock */

/* Bump arena for entries (table_lock). */
static uint8_t *arena;
static size_t arena_left;
#define ARENA_CHUNK (1u << 20)

static struct stack_table *table_new(size_t slots)
{
    struct stack_table *t = rec_mmap(sizeof(*t) + slots * sizeof(t->slots[0]));
    if (t)
        t->mask = slots - 1;
    return t;
}

int rec_stack_init(void)
{
    if (!atomic_load(&table))
        atomic_store(&table, table_new(1u << 14));
    if (!atomic_load(&table))
        return -1;
    if (unw_bt)
        return 0;
    void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        rec_say("cannot load libunwind.so.8 (", dlerror(), "); recording without stacks", NULL);
        return -1;
    }
    /* Per-thread caching makes the walk lock-free across threads. */
    /* dlsym results are copied, not cast: ISO C has no object-to-function cast. */
    int (*set_policy)(unw_addr_space_t, unw_caching_policy_t);
    void *sym = dlsym(h, "_ULx86_64_set_caching_policy");
    memcpy(&set_policy, &sym, sizeof(sym));
    unw_addr_space_t *local = dlsym(h, "_ULx86_64_local_addr_space");
    if (set_policy && local)
        set_policy(*local, UNW_CACHE_PER_THREAD);
    sym = dlsym(h, "unw_backtrace");
    memcpy(&unw_bt, &sym, sizeof(sym));
    return unw_bt ? 0 : -1;
}

static uint64_t stack_hash(const uintptr_t *f, uint32_t n, uint32_t epoch)
{
    uint64_t h = 0x9e3779b97f4a7c15u ^ ((uint64_t)epoch << 32) ^ n;
    for (uint32_t i = 0; i < n; i++) {
        h ^= f[i];
        h *= 0xff51afd7ed558ccdu;
        h ^= h >> 32;
    }
    return h;
}

static int entry_is(const struct stack_entry *e, uint64_t hash, const uintptr_t *f, uint32_t n,
                    uint32_t epoch)
{
    return e->hash == hash && e->depth == n && e->epoch == epoch &&
           memcmp(e->frames, f, n * sizeof(*f)) == 0;
}

static struct stack_entry *table_find(struct stack_table *t, uint64_t hash, const uintptr_t *f,
                                      uint32_t n, uint32_t epoch)
{
    for (size_t i = hash & t->mask;; i = (i + 1) & t->mask) {
        struct stack_entry *e = atomic_load_explicit(&t->slots[i], memory_order_acquire);
        if (!e || entry_is(e, hash, f, n, epoch))
            return e;
    }
}

static void table_put(struct stack_table *t, struct stack_entry *e)
{
    size_t i = e->hash & t->mask;
    while (atomic_load_explicit(&t->slots[i], memory_order_relaxed))
        i = (i + 1) & t->mask;
    atomic_store_explicit(&t->slots[i], e, memory_order_release); /* pairs with table_find */
    t->count++;
}

/* Called with table_lock held. Returns the current table, grown if needed. */
static struct stack_table *table_room_locked(void)
{
    struct stack_table *t = atomic_load_explicit(&table, memory_order_relaxed);
    if ((t->count + 1) * 2 <= t->mask + 1)
        return t;
    struct stack_table *g = table_new((t->mask + 1) * 2);
    if (!g)
        return (t->count + 1) < t->mask ? t : NULL;
    for (size_t i = 0; i <= t->mask; i++) {
        struct stack_entry *e = atomic_load_explicit(&t->slots[i], memory_order_relaxed);
        if (e)
            table_put(g, e);
    }
    atomic_store_explicit(&table, g, memory_order_release); /* pairs with the load in capture */
    return g;
}

static struct stack_entry *entry_new(uint64_t hash, const uintptr_t *f, uint32_t n, uint32_t epoch)
{
    size_t bytes = (sizeof(struct stack_entry) + n * sizeof(*f) + 15) & ~(size_t)15;
    if (bytes > arena_left) {
        arena = rec_mmap(ARENA_CHUNK);
        arena_left = arena ? ARENA_CHUNK : 0;
        if (!arena)
            return NULL;
    }
    struct stack_entry *e = (struct stack_entry *)arena;
    arena += bytes;
    arena_left -= bytes;
    e->hash = hash;
    e->id = next_id++;
    e->epoch = epoch;
    e->depth = n;
    memcpy(e->frames, f, n * sizeof(*f));
    return e;
}

static void emit_stack(const struct stack_entry *e)
{
    uint8_t body[32 + TR_MAX_FRAMES * 10];
    uint8_t *p = body;
    p = tr_put_u64(p, e->id);
    p = tr_put_u64(p, e->epoch);
    p = tr_put_u64(p, e->depth);
    uintptr_t prev = 0;
    for (uint32_t i = 0; i < e->depth; i++) {
        p = tr_put_i64(p, (int64_t)(e->frames[i] - prev));
        prev = e->frames[i];
    }
    rec_thread_append_meta(TR_REC_STACK, 0, body, (size_t)(p - body));
}

static uint32_t stack_insert(const uintptr_t *f, uint32_t n, uint32_t epoch, uint64_t hash,
                             uint64_t ts)
{
    /* A frame outside every known module means a dlopen since the last
     * snapshot: record the new map before the stack that needs it. */
    for (uint32_t i = 0; i < n; i++) {
        if (!rec_modules_contains(f[i])) {
            rec_modules_snapshot(ts);
            break;
        }
    }
    pthread_mutex_lock(&table_lock);
    struct stack_table *t = table_room_locked();
    struct stack_entry *e = t ? table_find(t, hash, f, n, epoch) : NULL;
    int fresh = 0;
    if (t && !e) {
        e = entry_new(hash, f, n, epoch);
        if (e) {
            table_put(t, e);
            fresh = 1;
        }
    }
    pthread_mutex_unlock(&table_lock);
    if (!e) {
        rec_fail("out of memory for the stack table", NULL);
        return 0;
    }
    if (fresh)
        emit_stack(e);
    return e->id;
}

uint32_t rec_stack_capture(uint64_t ts)
{
    void *raw[TR_MAX_FRAMES + 16];
    if (REC_UNLIKELY(!unw_bt))
        return 0;
    int got = unw_bt(raw, (int)rec_config.max_frames + 8);
    int skip = 0;
    /* Drop the recorder's own frames: the stack starts in the allocator's caller. */
    while (skip < got && (uintptr_t)raw[skip] >= rec_self_lo && (uintptr_t)raw[skip] < rec_self_hi)
        skip++;
    /* Cut below main: the frames from the recorder's main wrapper (hooks.c)
     * outwards are libc start-up, the same in every stack of the main thread. */
    for (int i = got - 1; i > skip && i >= got - 6; i--)
        if ((uintptr_t)raw[i] >= rec_self_lo && (uintptr_t)raw[i] < rec_self_hi)
            got = i;
    uint32_t n = (uint32_t)(got - skip);
    if (n > rec_config.max_frames)
        n = rec_config.max_frames;
    const uintptr_t *f = (const uintptr_t *)(raw + skip);
    uint32_t epoch = atomic_load_explicit(&rec_epoch, memory_order_relaxed);
    uint64_t hash = stack_hash(f, n, epoch);
    struct stack_table *t = atomic_load_explicit(&table, memory_order_acquire);
    struct stack_entry *e = t ? table_find(t, hash, f, n, epoch) : NULL;
    if (REC_LIKELY(e != NULL))
        return e->id;
    return stack_insert(f, n, epoch, hash, ts);
}

void rec_stack_after_fork_child(void)
{
    /* The child's trace must define every stack it uses: start a fresh table. */
    pthread_mutex_init(&table_lock, NULL);
    next_id = 1;
    atomic_store(&table, table_new(1u << 14));
}
