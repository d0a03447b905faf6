/* stack.c — capture call stacks and give each distinct one a small id.
 *
 * Capture: a per-thread cache of the call chains seen, each validated against
 * the stack words it was found from (~1 ns a frame; see "the validated stack
 * cache" below), and on a miss a walk by the rules of the call frame
 * information (cfi.c, ~10 ns a frame) that notes those words. Where a frame
 * has no rule the recorder follows itself (a signal frame, a realigned stack,
 * code without unwind info), libunwind's unw_backtrace walks instead, and
 * that chain is not cached. libunwind is dlopen'ed RTLD_LOCAL rather than linked: Debian's
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
 * stack writes its STACK record, before it publishes the entry; events of
 * any thread may use the id. */
#define UNW_LOCAL_ONLY
#include <dlfcn.h>
#include <libunwind.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rec.h"
#include "stack.h"

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

static int (*_Atomic unw_bt)(void **, int); /* non-NULL: capture is on */
static pthread_key_t vc_key;
static int vc_key_ok;
static int crosscheck; /* MEMAUDIT_CROSSCHECK=1 */
static void vc_thread_exit(void *arg);
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

/* dlsym results are copied, not cast: ISO C has no object-to-function cast. */
#define UNW_SYM(h, field, name)                                                                    \
    do {                                                                                           \
        void *sym_ = dlsym(h, name);                                                               \
        memcpy(&field, &sym_, sizeof(sym_));                                                       \
    } while (0)

int rec_stack_init(void)
{
    if (!atomic_load(&table))
        atomic_store(&table, table_new(1u << 14));
    if (!atomic_load(&table))
        return -1;
    if (atomic_load(&unw_bt))
        return 0;
    void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        rec_say("cannot load libunwind.so.8 (", dlerror(), "); recording without stacks", NULL);
        return -1;
    }
    /* Per-thread caching makes the walk lock-free across threads. */
    int (*set_policy)(unw_addr_space_t, unw_caching_policy_t);
    UNW_SYM(h, set_policy, "_ULx86_64_set_caching_policy");
    unw_addr_space_t *local = dlsym(h, "_ULx86_64_local_addr_space");
    if (set_policy && local)
        set_policy(*local, UNW_CACHE_PER_THREAD);
    int (*bt)(void **, int);
    UNW_SYM(h, bt, "unw_backtrace");
    if (!bt) {
        rec_say("libunwind.so.8 lacks unw_backtrace; recording without stacks", NULL);
        return -1;
    }
    vc_key_ok = pthread_key_create(&vc_key, vc_thread_exit) == 0;
    const char *cc = getenv("MEMAUDIT_CROSSCHECK");
    crosscheck = cc && strcmp(cc, "1") == 0;
    /* Last: a non-NULL unw_bt turns capture on. */
    atomic_store(&unw_bt, bt);
    return 0;
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

static struct stack_entry *stack_insert(const uintptr_t *f, uint32_t n, uint32_t epoch,
                                        uint64_t hash, uint64_t ts)
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
    if (t && !e) {
        e = entry_new(hash, f, n, epoch);
        if (e) {
            /* The STACK record is in this thread's buffer before any other
             * thread can find the id: an event of another thread that uses
             * it is committed after it, and a watermark that covers that
             * event covers the definition too (flusher.c). So it is written
             * under table_lock (at worst a writev of a full buffer, once per
             * MiB of this thread's records, delays other threads' new stacks). */
            emit_stack(e);
            table_put(t, e);
        }
    }
    pthread_mutex_unlock(&table_lock);
    if (!e) {
        rec_fail("out of memory for the stack table", NULL);
        return NULL;
    }
    return e;
}

/* ---- from raw frames to a stack id ---- */

/* The stack that raw[0..got) (raw[0] in rec_stack_capture) stands for, found
 * in the table or inserted; NULL if it cannot be had. */
static struct stack_entry *stack_of(void *const *raw, int got, uint64_t ts)
{
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
        return e;
    return stack_insert(f, n, epoch, hash, ts);
}

/* ---- the validated stack cache ----
 *
 * A walk costs ~10 ns a frame by the CFI rules (~250 ns at depth 25), ~6 ns
 * with unw_backtrace once its cache is warm. Most allocations come again and
 * again from the same call chain, so each thread keeps the chains it walked,
 * keyed by where rec_stack_capture's frame sits (its CFA, i.e. the stack
 * pointer of its caller) and the return address into the allocator's caller.
 * A hit is checked against the stack itself before its id is reused: every
 * stack word the walk read to find the next frame must still hold what it
 * held. That is one load and compare a frame, ~1 ns, and a miss walks again
 * and refills the entry.
 *
 * Why a validated hit is the stack a walk would find. A walk (walk_cfi)
 * steps from frame k to k+1 by the rule of frame k's code address ip_k, which
 * is fixed by ip_k and the module epoch: CFA_k = SP_k + c or RBP_k + c, the
 * return address ip_{k+1} read at CFA_k - 8, SP_{k+1} = CFA_k, and RBP_{k+1}
 * either RBP_k or read from CFA_k + d. Frame 1 (rec_stack_capture's caller)
 * has SP_1 = the key's CFA, ip_1 read at CFA - 8 and RBP_1 read at CFA - 16
 * (rec_stack_capture keeps a frame pointer). The walk notes every return
 * address slot it read, and, at each frame whose CFA rule uses RBP, the slot
 * RBP's value was last read from. Induction: if frame k matches in ip, SP,
 * and (when its rule uses it) RBP, then CFA_k matches, so the return address
 * slot is at the same address and its validated value makes ip_{k+1} and
 * SP_{k+1} match; RBP_{k+1} is needed only if some later rule uses it, and
 * then the slot it came from is validated. So when every noted word matches,
 * every frame walked matches, down to the depth walked (the depth limit plus
 * the 8 frames the cut below main may look at): validating the frames walked
 * validates the stack recorded, also when the limit truncates it. A chain
 * with a frame the rules do not cover is walked by unw_backtrace every time
 * and never cached. Entries are per thread (initial-exec TLS pointer), so
 * threads never see each other's entries; the argument is about the memory
 * of the calling thread's stack as it is now, so it also holds when a thread
 * reuses the stack of one that exited. Entries carry the epoch (dlclose: the
 * same address may be new code, with new rules) and are wiped in a fork child
 * (new stack table). Validation reads go in the order the walk read the
 * words and stop at the first mismatch, so every word read lies in a frame
 * already shown to be live.
 * MEMAUDIT_CROSSCHECK=1 checks every id, hit or miss, against an independent
 * unw_backtrace walk, and says so on stderr at the first disagreement.
 * Entries also carry the depth limit they were walked with. */

/* A frame's CFA lies above its SP, by less than this (an alloca'd megabyte
 * more is walked by libunwind). */
#define FRAME_MAX (1u << 20)

/* Per thread: 512 sets of 8 entries, most recently hit first, their words in
 * a ring, and a small direct-mapped copy of the CFI rules it uses most.
 * ~1 MiB of address space, touched as used. */
#define VC_SETS 512
#define VC_WAYS 8
#define VC_RING 65536 /* words */
#define VC_RULES 1024
#define VC_WALK (TR_MAX_FRAMES + 8)
#define VC_WORDS (2 * VC_WALK) /* at most per entry: a return address and an RBP a frame */

/* Where a capture is: rec_stack_capture's CFA and the first three return
 * addresses outside the recorder (0 where the rules end sooner). Several
 * chains share a key only when they differ further out. */
struct vc_key {
    uintptr_t cfa;
    uintptr_t ra[3];
};

struct vc_entry {
    struct vc_key key;
    const struct stack_entry *st; /* NULL: empty */
    uint64_t pos;                 /* its words: ring positions pos .. pos + words - 1 */
    uint32_t epoch;
    uint32_t words;
    uint32_t max_frames; /* the depth limit it was walked with */
    uint32_t pad_;
};

/* The walk over the recorder's own frames, remembered (vc_key_of): the
 * same few chains (hook, record function, rec_stack_capture) every time. */
#define VC_HOPS 4
#define VC_HOP_FRAMES 8
struct vc_hop {
    uintptr_t ip[VC_HOP_FRAMES]; /* the recorder's return addresses, inner first */
    int32_t at[VC_HOP_FRAMES];   /* where each lies, - cfa (at[0] = -8) */
    uint32_t n;                  /* how many; 0: empty */
    uint32_t epoch;
    int32_t sp_off;  /* the first frame outside the recorder: its SP - cfa */
    int32_t rbp_off; /* where its RBP was read, - cfa */
};

struct vc {
    struct vc_entry set[VC_SETS][VC_WAYS];
    struct vc_hop hop[VC_HOPS];
    uint64_t rule_key[VC_RULES]; /* rec_cfi_key */
    uint64_t rule[VC_RULES];
    uint64_t head; /* next free ring position; positions below head - VC_RING are gone */
    int32_t off[VC_RING]; /* address - cfa of each word, in the order they are checked */
    uintptr_t val[VC_RING];
};

/* The calling thread's cache; VC_DEAD after its thread-exit destructor ran
 * (later allocations of the exiting thread are walked every time). */
#define VC_DEAD ((struct vc *)1)
static __thread struct vc *vc_mine __attribute__((tls_model("initial-exec")));
static __thread uint64_t vc_hits __attribute__((tls_model("initial-exec")));
static __thread uint64_t vc_misses __attribute__((tls_model("initial-exec")));
static _Atomic uint64_t crosscheck_failures;
static _Atomic uint64_t crosscheck_checked;

/* The CFI rule at pc (cfi.c), through the thread's copy when it has one. */
static uint64_t rule_at(struct vc *c, uintptr_t pc, uint32_t epoch)
{
    if ((uintptr_t)c <= (uintptr_t)VC_DEAD)
        return rec_cfi_rule(pc, epoch);
    uint64_t key = rec_cfi_key(pc, epoch);
    size_t i = (size_t)((key * 0x9e3779b97f4a7c15u) >> 54) & (VC_RULES - 1);
    if (REC_LIKELY(c->rule_key[i] == key))
        return c->rule[i];
    uint64_t rule = rec_cfi_rule(pc, epoch);
    c->rule_key[i] = key;
    c->rule[i] = rule;
    return rule;
}

/* One step of a walk by the CFI rules: from the frame at (*ip, *sp, *rbp) to
 * its caller. Returns the rule followed, or 0 at the end of the chain (an
 * outermost frame, a frame the rules do not cover, an implausible CFA); then
 * nothing is changed. *rbp_at is where the new RBP was read, if it was. */
static uint64_t step_cfi(struct vc *c, uint32_t epoch, uintptr_t *ip, uintptr_t *sp,
                         uintptr_t *rbp, uintptr_t *rbp_at)
{
    typedef uintptr_t __attribute__((may_alias)) word;
    uint64_t rule = rule_at(c, *ip - 1, epoch);
    if (REC_CFI_KIND(rule) != REC_CFI_STEP)
        return 0;
    uintptr_t cfa = ((rule & REC_CFI_CFA_RBP) ? *rbp : *sp) + (uintptr_t)REC_CFI_CFA_OFF(rule);
    if (cfa <= *sp || cfa - *sp > FRAME_MAX)
        return 0;
    if (rule & REC_CFI_RBP_SAVED) {
        *rbp_at = cfa + (uintptr_t)REC_CFI_RBP_OFF(rule);
        *rbp = *(const word *)*rbp_at;
    }
    *ip = *(const word *)(cfa - 8);
    *sp = cfa;
    return rule;
}

static int in_self(uintptr_t ip)
{
    return ip >= rec_self_lo && ip < rec_self_hi;
}

/* The key of a capture whose rec_stack_capture frame has CFA cfa: a short
 * walk by the rules over the recorder's frames and three of the program's.
 * Any function of the stack would do (a wrong key costs a miss, never a
 * wrong stack: the validation decides); this one separates the chains that
 * share an allocator and its caller, as every operator new at one depth
 * does. 0 when the recorder's own frames cannot be walked. */
static int vc_key_of(struct vc *c, uintptr_t cfa, struct vc_key *k)
{
    typedef uintptr_t __attribute__((may_alias)) word;
    uint32_t epoch = atomic_load_explicit(&rec_epoch, memory_order_relaxed);
    uintptr_t sp = cfa, ip = *(const word *)(cfa - 8), rbp, at;
    /* The recorder's frames: as remembered, if every return address is. */
    struct vc_hop *h = &c->hop[(ip >> 4) & (VC_HOPS - 1)];
    uint32_t i = 0;
    if (h->n != 0 && h->epoch == epoch)
        for (i = 0; i < h->n && *(const word *)(cfa + (intptr_t)h->at[i]) == h->ip[i]; i++)
            ;
    if (h->n != 0 && i == h->n) {
        sp = cfa + (intptr_t)h->sp_off;
        ip = *(const word *)(sp - 8);
        rbp = *(const word *)(cfa + (intptr_t)h->rbp_off);
    } else {
        /* Walk them, and remember the walk if every step's CFA came from
         * the stack pointer (then it is fixed by the return addresses). */
        struct vc_hop walked = {.n = 0, .epoch = epoch};
        int fixed = 1;
        uintptr_t rbp_at = cfa - 16;
        rbp = *(const word *)rbp_at;
        for (int hop = 0; in_self(ip); hop++) {
            if (hop == VC_HOP_FRAMES)
                return 0;
            walked.ip[hop] = ip;
            walked.at[hop] = (int32_t)(sp - 8 - cfa);
            walked.n = (uint32_t)hop + 1;
            at = 0;
            uint64_t rule = step_cfi(c, epoch, &ip, &sp, &rbp, &at);
            if (rule == 0)
                return 0;
            if (rule & REC_CFI_CFA_RBP)
                fixed = 0;
            if (at != 0)
                rbp_at = at;
        }
        if (fixed && walked.n != 0 && sp - cfa < 65536 && rbp_at - cfa + 16 < 65536) {
            walked.sp_off = (int32_t)(sp - cfa);
            walked.rbp_off = (int32_t)(rbp_at - cfa);
            *h = walked;
        }
    }
    k->cfa = cfa;
    k->ra[0] = ip;
    k->ra[1] = k->ra[2] = 0;
    for (int j = 1; j < 3 && k->ra[j - 1] != 0 && step_cfi(c, epoch, &ip, &sp, &rbp, &at); j++)
        k->ra[j] = ip;
    return 1;
}

static int vc_key_eq(const struct vc_key *a, const struct vc_key *b)
{
    return a->cfa == b->cfa && a->ra[0] == b->ra[0] && a->ra[1] == b->ra[1] && a->ra[2] == b->ra[2];
}

static struct vc_entry *vc_set(struct vc *c, const struct vc_key *k)
{
    uint64_t h = k->cfa;
    for (int i = 0; i < 3; i++)
        h = (h ^ k->ra[i]) * 0xff51afd7ed558ccdu;
    return c->set[(size_t)(h >> 40) & (VC_SETS - 1)];
}

/* 1 if every word e validates still holds its value. In the walk's order,
 * and stops at the first mismatch: each word read lies in a frame shown live. */
static int vc_valid(const struct vc *c, const struct vc_entry *e, uintptr_t cfa)
{
    typedef uintptr_t __attribute__((may_alias)) word;
    if (c->head - e->pos > VC_RING)
        return 0; /* its words were overwritten */
    size_t at = (size_t)(e->pos % VC_RING);
    for (uint32_t i = 0; i < e->words; i++, at++)
        if (*(const word *)(cfa + (intptr_t)c->off[at]) != c->val[at])
            return 0;
    return 1;
}

/* The entry of the calling thread that matches the stack now, or NULL. The
 * hit moves to the front of its set. */
static const struct stack_entry *vc_find(struct vc *c, const struct vc_key *k)
{
    struct vc_entry *set = vc_set(c, k);
    uint32_t epoch = atomic_load_explicit(&rec_epoch, memory_order_relaxed);
    for (int i = 0; i < VC_WAYS; i++) {
        struct vc_entry *e = &set[i];
        if (e->st && vc_key_eq(&e->key, k) && e->epoch == epoch &&
            e->max_frames == rec_config.max_frames && vc_valid(c, e, k->cfa)) {
            const struct stack_entry *st = e->st;
            if (i > 0) {
                struct vc_entry hit = *e;
                memmove(&set[1], &set[0], (size_t)i * sizeof(set[0]));
                set[0] = hit;
            }
            return st;
        }
    }
    return NULL;
}

static void vc_thread_exit(void *arg)
{
    rec_munmap(arg, sizeof(struct vc));
    vc_mine = VC_DEAD;
}

/* The calling thread's cache, made on first use; NULL if it cannot be had. */
static struct vc *vc_get(void)
{
    if (vc_mine == VC_DEAD || !vc_key_ok)
        return NULL;
    if (!vc_mine) {
        struct vc *c = rec_mmap(sizeof(*c));
        if (!c)
            return NULL;
        if (pthread_setspecific(vc_key, c) != 0) {
            rec_munmap(c, sizeof(*c));
            return NULL;
        }
        vc_mine = c;
    }
    return vc_mine;
}

/* What a walk found: the frames, and whether and how the result can be
 * validated later (see the comment above). */
struct walk {
    void *raw[VC_WALK];
    int got;
    int cacheable;
    uint32_t words;
    int32_t off[VC_WORDS];
    uintptr_t val[VC_WORDS];
};

static void walk_word(struct walk *w, uintptr_t cfa0, uintptr_t addr, uintptr_t val)
{
    intptr_t off = (intptr_t)(addr - cfa0);
    if (w->words == VC_WORDS || off < -16 || off > INT32_MAX) {
        w->cacheable = 0;
        return;
    }
    w->off[w->words] = (int32_t)off;
    w->val[w->words] = val;
    w->words++;
}

/* Where rec_stack_capture's own frame is named in raw[0]: any address of the
 * recorder (stack_of drops its frames). */
static uintptr_t capture_ip(void)
{
    uintptr_t ip;
    uint32_t (*fn)(uint64_t) = rec_stack_capture;
    memcpy(&ip, &fn, sizeof(ip));
    return ip;
}

/* Walk the stack by the CFI rules from the frame of rec_stack_capture (whose
 * CFA is cfa0) outwards, at most limit frames, noting the words that validate
 * it. w->got is 0 when a frame has no rule the recorder follows. */
static void walk_cfi(struct walk *w, struct vc *c, uintptr_t cfa0, int limit)
{
    typedef uintptr_t __attribute__((may_alias)) word;
    uint32_t epoch = atomic_load_explicit(&rec_epoch, memory_order_relaxed);
    w->words = 0;
    w->cacheable = 1;
    w->raw[0] = (void *)capture_ip();
    w->got = 1;
    uintptr_t sp = cfa0;
    uintptr_t ip = *(const word *)(cfa0 - 8);
    walk_word(w, cfa0, cfa0 - 8, ip);
    uintptr_t rbp_at = cfa0 - 16; /* where RBP's value was read; 0: noted already */
    uintptr_t rbp = *(const word *)rbp_at;
    while (ip != 0 && w->got < limit) {
        w->raw[w->got++] = (void *)ip;
        uintptr_t at = 0;
        uint64_t rule = step_cfi(c, epoch, &ip, &sp, &rbp, &at);
        if (rule == 0) {
            uint64_t why = rule_at(c, (uintptr_t)w->raw[w->got - 1] - 1, epoch);
            if (REC_CFI_KIND(why) != REC_CFI_END)
                w->got = 0; /* not a rule we follow: libunwind walks */
            return;
        }
        if (rule & REC_CFI_CFA_RBP) {
            if (rbp_at != 0)
                walk_word(w, cfa0, rbp_at, *(const word *)rbp_at);
            rbp_at = 0;
        }
        walk_word(w, cfa0, sp - 8, ip);
        if (at != 0)
            rbp_at = at;
    }
}

/* ---- the reference walk: unw_backtrace ---- */

/* The frames a plain unw_backtrace finds from rec_stack_capture's frame (CFA
 * cfa) outwards: those above the return address in its slot, with
 * rec_stack_capture's own frame named as walk_cfi names it. */
__attribute__((noinline)) static int walk_reference(void **raw, int limit, uintptr_t cfa)
{
    void *buf[VC_WALK + 8];
    uintptr_t ra = *(const uintptr_t *)(cfa - 8);
    int got = unw_bt(buf, limit + 8); /* from this function, through ours */
    for (int j = 0; j < got && j < 8; j++) {
        if ((uintptr_t)buf[j] != ra)
            continue;
        int n = got - j + 1 < limit ? got - j + 1 : limit;
        raw[0] = (void *)capture_ip();
        memcpy(raw + 1, buf + j, (size_t)(n - 1) * sizeof(*raw));
        return n;
    }
    return 0;
}

static void crosscheck_one(const struct stack_entry *got_st, int hit, uintptr_t cfa, uint64_t ts)
{
    void *raw[VC_WALK];
    int got = walk_reference(raw, (int)rec_config.max_frames + 8, cfa);
    __asm__ volatile("" ::: "memory");
    const struct stack_entry *ref = got ? stack_of(raw, got, ts) : NULL;
    atomic_fetch_add_explicit(&crosscheck_checked, 1, memory_order_relaxed);
    if (ref == got_st)
        return;
    if (atomic_fetch_add(&crosscheck_failures, 1) == 0) {
        char a[24], b[24], d[24];
        *rec_fmt_u64(a, got_st ? got_st->id : 0) = '\0';
        *rec_fmt_u64(b, ref ? ref->id : 0) = '\0';
        *rec_fmt_u64(d, got_st ? got_st->depth : 0) = '\0';
        rec_say("cross-check: stack ", a, " (", d, " frames, ", hit ? "cached" : "walked",
                ") is not the full walk's stack ", b, NULL);
    }
}

void rec_stack_set_crosscheck(int on)
{
    crosscheck = on;
}

uint64_t rec_stack_crosscheck_failures(void)
{
    return atomic_load(&crosscheck_failures);
}

void rec_stack_crosscheck_say(void)
{
    if (!crosscheck)
        return;
    char n[24], bad[24];
    *rec_fmt_u64(n, atomic_load(&crosscheck_checked)) = '\0';
    *rec_fmt_u64(bad, atomic_load(&crosscheck_failures)) = '\0';
    rec_say("cross-check: ", n, " stacks compared with a full walk, ", bad, " disagreed", NULL);
}

void rec_stack_cache_stats(uint64_t *hits, uint64_t *misses)
{
    *hits = vc_hits;
    *misses = vc_misses;
}

/* Remember what walk w found for key k, in front of its set. A signal
 * handler of this thread never records while we are here (hooks.c's guard),
 * but a set is left consistent at every step anyway: the evicted last way is
 * emptied first, and the new entry is published last. */
static void vc_put(struct vc *c, const struct vc_key *k, const struct stack_entry *st,
                   const struct walk *w)
{
    struct vc_entry *set = vc_set(c, k);
    if (c->head % VC_RING + w->words > VC_RING)
        c->head += VC_RING - c->head % VC_RING; /* wrap: the words stay contiguous */
    uint64_t pos = c->head;
    c->head += w->words;
    memcpy(&c->off[pos % VC_RING], w->off, w->words * sizeof(w->off[0]));
    memcpy(&c->val[pos % VC_RING], w->val, w->words * sizeof(w->val[0]));
    set[VC_WAYS - 1].st = NULL;
    atomic_signal_fence(memory_order_seq_cst);
    memmove(&set[1], &set[0], (VC_WAYS - 1) * sizeof(set[0]));
    struct vc_entry e = {.key = *k, .st = NULL, .pos = pos,
                         .epoch = atomic_load_explicit(&rec_epoch, memory_order_relaxed),
                         .words = w->words, .max_frames = rec_config.max_frames};
    set[0] = e;
    atomic_signal_fence(memory_order_seq_cst);
    set[0].st = st;
}

/* The miss path: a walk, the id, and the cache entry refilled (k NULL: no
 * key, nothing cached). */
__attribute__((noinline)) static const struct stack_entry *
capture_walk(uintptr_t cfa, const struct vc_key *k, uint64_t ts)
{
    struct walk w;
    int limit = (int)rec_config.max_frames + 8;
    struct vc *c = vc_get();
    walk_cfi(&w, c, cfa, limit);
    if (w.got == 0) {
        w.got = walk_reference(w.raw, limit, cfa);
        w.cacheable = 0;
        if (w.got == 0)
            return NULL;
    }
    const struct stack_entry *st = stack_of(w.raw, w.got, ts);
    if (st && c && k && w.cacheable)
        vc_put(c, k, st, &w);
    return st;
}

/* The frame pointer is forced (__builtin_frame_address): the walks need this
 * frame's RBP to be a function of its CFA. */
__attribute__((noinline)) uint32_t rec_stack_capture(uint64_t ts)
{
    uintptr_t cfa = (uintptr_t)__builtin_frame_address(0) + 16;
    if (REC_UNLIKELY(!atomic_load_explicit(&unw_bt, memory_order_relaxed)))
        return 0;
    const struct stack_entry *st = NULL;
    struct vc *c = vc_mine;
    struct vc_key key;
    int keyed = 0;
    if (REC_LIKELY((uintptr_t)c > (uintptr_t)VC_DEAD)) {
        keyed = vc_key_of(c, cfa, &key);
        if (keyed)
            st = vc_find(c, &key);
    } else if (c == NULL) {
        keyed = vc_get() != NULL && vc_key_of(vc_mine, cfa, &key);
    }
    int hit = st != NULL;
    if (hit) {
        vc_hits++;
    } else {
        vc_misses++;
        st = capture_walk(cfa, keyed ? &key : NULL, ts);
    }
    if (REC_UNLIKELY(crosscheck))
        crosscheck_one(st, hit, cfa, ts);
    /* Keep this frame: the walks start from it. */
    __asm__ volatile("" ::: "memory");
    return st ? st->id : 0;
}

void rec_stack_after_fork_child(void)
{
    /* The child's trace must define every stack it uses: start a fresh table,
     * and forget the cached ids of the one thread that lives on. */
    pthread_mutex_init(&table_lock, NULL);
    next_id = 1;
    atomic_store(&table, table_new(1u << 14));
    if ((uintptr_t)vc_mine > (uintptr_t)VC_DEAD)
        memset(vc_mine, 0, sizeof(*vc_mine));
}
