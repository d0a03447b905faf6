/* stack.c — capture call stacks and give each distinct one a small id.
 *
 * Capture: a per-thread cache of the call chains seen, each validated against
 * the stack words it was found from (~1 ns a frame; see "the validated stack
 * cache" below), and on a miss a full walk with libunwind's unw_step that
 * notes those words. libunwind is dlopen'ed RTLD_LOCAL rather than linked: Debian's
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

static int (*unw_bt)(void **, int);
static struct {
    int (*getcontext)(unw_context_t *);
    int (*init_local)(unw_cursor_t *, unw_context_t *);
    int (*step)(unw_cursor_t *);
    int (*get_reg)(unw_cursor_t *, unw_regnum_t, unw_word_t *);
    int (*get_save_loc)(unw_cursor_t *, int, unw_save_loc_t *);
    int (*is_signal_frame)(unw_cursor_t *);
    int (*get_proc_info)(unw_cursor_t *, unw_proc_info_t *);
} unw;
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
    if (unw.step)
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
    UNW_SYM(h, unw_bt, "unw_backtrace");
    UNW_SYM(h, unw.getcontext, "_Ux86_64_getcontext");
    UNW_SYM(h, unw.init_local, "_ULx86_64_init_local");
    UNW_SYM(h, unw.get_reg, "_ULx86_64_get_reg");
    UNW_SYM(h, unw.get_save_loc, "_ULx86_64_get_save_loc");
    UNW_SYM(h, unw.is_signal_frame, "_ULx86_64_is_signal_frame");
    UNW_SYM(h, unw.get_proc_info, "_ULx86_64_get_proc_info");
    if (!unw_bt || !unw.getcontext || !unw.init_local || !unw.get_reg || !unw.get_save_loc ||
        !unw.is_signal_frame || !unw.get_proc_info) {
        rec_say("libunwind.so.8 lacks the functions the recorder needs; recording without stacks",
                NULL);
        return -1;
    }
    vc_key_ok = pthread_key_create(&vc_key, vc_thread_exit) == 0;
    const char *cc = getenv("MEMAUDIT_CROSSCHECK");
    crosscheck = cc && strcmp(cc, "1") == 0;
    /* Last: a non-NULL step turns capture on. */
    UNW_SYM(h, unw.step, "_ULx86_64_step");
    return unw.step ? 0 : -1;
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
        return NULL;
    }
    if (fresh)
        emit_stack(e);
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
 * A full walk costs ~6 ns a frame with unw_backtrace (~150 ns at depth 25).
 * Most allocations come again and again from the same call chain, so each
 * thread keeps the chains it walked, keyed by where rec_stack_capture's frame
 * sits (its CFA, i.e. the stack pointer of its caller) and the return address
 * into the allocator's caller. A hit is checked against the stack itself
 * before its id is reused: every stack word the walk read to find the next
 * frame (each return address slot, and the slots some frames' CFA depends
 * on) must still hold what it held. That is one load and compare a frame,
 * ~1 ns, and a miss (or anything the argument below does not cover) falls
 * back to a full walk that refills the entry.
 *
 * Why a validated hit is the stack a full walk would find. On x86-64, an
 * unwinder steps from frame k to k+1 by computing frame k's CFA from a rule
 * fixed by frame k's instruction pointer ip_k, reading the return address
 * ip_{k+1} at CFA_k - 8 and taking SP_{k+1} = CFA_k; callee-saved registers
 * are reloaded from save slots at fixed offsets from the CFAs. Compilers
 * emit rules of two kinds at call sites: CFA = SP_k + c (frames without a
 * frame pointer) and CFA = RBP_k + c (frame-pointer frames, and those that
 * alloca, have VLAs or realign the stack; gcc's DRAP realignment reads the
 * CFA from *(RBP_k - 8) instead). Induction over the frames: frame 0, this
 * function, has the same ip (our code), the same SP (the key) and an RBP
 * that is its own frame pointer, CFA - 16 (forced, and checked on every
 * miss). If frame k matches in (ip, SP, RBP), then CFA_k matches -- for an
 * SP rule at once; for an RBP rule because RBP_k matches; for DRAP because
 * the word at RBP_k - 8 is validated too -- so the return address slot is at
 * the same address, and validating its value makes ip_{k+1} and SP_{k+1}
 * match; RBP_{k+1} is RBP_k or is reloaded from a save slot in a frame
 * already matched, whose value is validated. Which frames need their RBP
 * validated: those whose RBP points into their own frame (SP_k <= RBP_k <
 * CFA_k) at the walk, as every frame whose CFA rule uses RBP has it; an RBP
 * holding anything else is data, and validating it would only cost hits.
 * So when every validated word matches, every frame matches, down to the
 * depth walked (the depth limit plus the 8 frames the cut below main may
 * look at): validating the frames walked validates the stack recorded,
 * also when the limit truncates it. The walk declines to fill an entry --
 * the chain is then walked in full on every call -- when the argument does
 * not hold or cannot be checked: a signal frame (registers come from a
 * sigcontext, not from slots), a frame whose return address is not at
 * CFA - 8, a save slot below this function's frame, an RBP the unwinder
 * cannot place, a walk that ends in an error or in a frame without unwind
 * info (libunwind then guesses from RBP), too many words to validate.
 * Entries are per thread (initial-exec TLS pointer), so threads never see
 * each other's entries; the argument is about the memory of the calling
 * thread's stack as it is now, so it also holds when a thread reuses the
 * stack of one that exited. Entries carry the epoch (dlclose: the same
 * address may be new code) and are wiped in a fork child (new stack table).
 * Validation reads go inner to outer and stop at the first mismatch, so
 * every word read lies in a frame already shown to be live.
 * The argument assumes the CFA rules above (what gcc and clang emit at call
 * sites; unwind info written by hand could use others): MEMAUDIT_CROSSCHECK=1
 * checks every id, hit or miss, against an independent unw_backtrace walk,
 * and says so on stderr at the first disagreement. Entries also carry the
 * depth limit they were walked with. */

/* Per thread: 64 sets of 4 entries (one key often has several chains: every
 * operator new at one depth shares its key, the return address into
 * operator new), most recently hit first; their words live in a ring. ~110 KiB. */
#define VC_SETS 64
#define VC_WAYS 4
#define VC_RING 8192 /* words */
#define VC_WORDS 320 /* at most per entry */
#define VC_WALK (TR_MAX_FRAMES + 8)

struct vc_entry {
    uintptr_t cfa;                /* key: rec_stack_capture's CFA */
    uintptr_t ra;                 /* key: return address into the allocator's caller */
    const struct stack_entry *st; /* NULL: empty */
    uint64_t pos;                 /* its words: ring positions pos .. pos + words - 1 */
    uint32_t epoch;
    uint32_t words;
    uint32_t max_frames; /* the depth limit it was walked with */
};

#define VC_SEEN 1024 /* keys that missed, direct-mapped */
#define VC_FULL_AFTER 4 /* misses of a key taken by the fast walk before a full one */
#define VC_REFILL 16    /* then one full walk in this many misses of keys that keep missing */

struct vc {
    struct vc_entry set[VC_SETS][VC_WAYS];
    uint32_t seen[VC_SEEN]; /* keys that missed: a hash (high bits), "hit since" (bit 3)
                               and a count of misses (bits 0-2) */
    uint64_t refills; /* misses of keys that keep missing, for the 1 in VC_REFILL */
    uint64_t head; /* next free ring position; positions below head - VC_RING are gone */
    int32_t off[VC_RING]; /* address - cfa of each word, inner to outer */
    uintptr_t val[VC_RING];
};

/* The calling thread's cache; VC_DEAD after its thread-exit destructor ran
 * (later allocations of the exiting thread are walked in full). */
#define VC_DEAD ((struct vc *)1)
static __thread struct vc *vc_mine __attribute__((tls_model("initial-exec")));
static __thread uint64_t vc_hits __attribute__((tls_model("initial-exec")));
static __thread uint64_t vc_misses __attribute__((tls_model("initial-exec")));
static _Atomic uint64_t crosscheck_failures;
static _Atomic uint64_t crosscheck_checked;

/* Frame sizes of the recorder's own frames between rec_stack_capture and the
 * hook (return address into our code -> CFA - SP), learned from walks. Used
 * only to find the key's return address quickly: a wrong or missing size
 * costs a miss, never a wrong stack (the validation starts at our frame). */
#define SELF_SIZES 32
static struct {
    _Atomic uintptr_t ip; /* release-stored after size; 0: free */
    uint32_t size;
} self_sizes[SELF_SIZES];

static void self_size_learn(uintptr_t ip, uintptr_t size)
{
    if (size == 0 || size > 65536)
        return;
    for (int i = 0; i < SELF_SIZES; i++) {
        uintptr_t have = atomic_load_explicit(&self_sizes[i].ip, memory_order_acquire);
        if (have == ip)
            return;
        if (have == 0)
            break;
    }
    pthread_mutex_lock(&table_lock);
    for (int i = 0; i < SELF_SIZES; i++) {
        uintptr_t have = atomic_load_explicit(&self_sizes[i].ip, memory_order_relaxed);
        if (have == ip)
            break;
        if (have == 0) {
            self_sizes[i].size = (uint32_t)size;
            atomic_store_explicit(&self_sizes[i].ip, ip, memory_order_release); /* pairs with key_ra */
            break;
        }
    }
    pthread_mutex_unlock(&table_lock);
}

/* The return address into the first frame outside the recorder, found by
 * hopping over our own frames from rec_stack_capture's CFA; 0 if unknown. */
static uintptr_t key_ra(uintptr_t cfa)
{
    for (int hop = 0; hop < 8; hop++) {
        uintptr_t ra = *(const uintptr_t *)(cfa - 8);
        if (ra < rec_self_lo || ra >= rec_self_hi)
            return ra;
        uint32_t size = 0;
        for (int i = 0; i < SELF_SIZES; i++) {
            uintptr_t ip = atomic_load_explicit(&self_sizes[i].ip, memory_order_acquire);
            if (ip == ra) {
                size = self_sizes[i].size;
                break;
            }
            if (ip == 0)
                break;
        }
        if (size == 0)
            return 0;
        cfa += size;
    }
    return 0;
}

static size_t vc_set_index(uintptr_t cfa, uintptr_t ra)
{
    uint64_t h = (cfa ^ (ra * 0x9e3779b97f4a7c15u)) * 0xff51afd7ed558ccdu;
    return (size_t)(h >> 58) & (VC_SETS - 1);
}

static struct vc_entry *vc_set(struct vc *c, uintptr_t cfa, uintptr_t ra)
{
    return c->set[vc_set_index(cfa, ra)];
}

/* The miss count of key (cfa, ra) (capture_first_miss): its slot, and the
 * tag its slot holds when it is the key's. */
static uint32_t *vc_seen(struct vc *c, uintptr_t cfa, uintptr_t ra, uint32_t *tag)
{
    uint32_t h = (uint32_t)(((uint64_t)cfa ^ ((uint64_t)ra * 0x9E3779B97F4A7C15ull)) >> 32);
    *tag = h & ~15u;
    return &c->seen[h & (VC_SEEN - 1)];
}

/* 1 if every word e validates still holds its value. Inner to outer, and
 * stops at the first mismatch: each word read lies in a frame shown live. */
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
static const struct stack_entry *vc_find(struct vc *c, uintptr_t cfa, uintptr_t ra)
{
    struct vc_entry *set = vc_set(c, cfa, ra);
    uint32_t epoch = atomic_load_explicit(&rec_epoch, memory_order_relaxed);
    for (int i = 0; i < VC_WAYS; i++) {
        struct vc_entry *e = &set[i];
        if (e->st && e->cfa == cfa && e->ra == ra && e->epoch == epoch &&
            e->max_frames == rec_config.max_frames && vc_valid(c, e, cfa)) {
            const struct stack_entry *st = e->st;
            uint32_t tag, *seen = vc_seen(c, cfa, ra, &tag);
            if ((*seen & ~15u) == tag)
                *seen |= 8u; /* the cache pays for this key: its next miss is walked in full */
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

/* What a full walk learned: the frames, and whether and how the result can
 * be validated later (see the comment above). */
struct walk {
    void *raw[VC_WALK];
    int got;
    int cacheable;
    uint32_t words;
    int32_t off[VC_WORDS];
    uintptr_t val[VC_WORDS];
};

static void walk_word(struct walk *w, uintptr_t cfa0, uintptr_t addr)
{
    intptr_t off = (intptr_t)(addr - cfa0);
    if (w->words == VC_WORDS || off < -16 || off > INT32_MAX) {
        w->cacheable = 0;
        return;
    }
    /* The same save slot often serves several frames in a row: once is enough. */
    if (w->words && w->off[w->words - 1] == (int32_t)off)
        return;
    w->off[w->words] = (int32_t)off;
    w->val[w->words] = *(const uintptr_t *)addr;
    w->words++;
}

/* Walk the stack with unw_step, from the frame of rec_stack_capture (whose
 * CFA is cfa0) outwards, at most limit frames, noting the words that
 * validate it. Called by capture_walk only, called by rec_stack_capture. */
__attribute__((noinline)) static void walk_full(struct walk *w, uintptr_t cfa0, int limit)
{
    unw_context_t uc;
    unw_cursor_t cur, prev;
    unw_save_loc_t loc;
    unw_word_t ip, sp, rbp, nsp, nip;
    w->got = 0;
    w->words = 0;
    w->cacheable = 1;
    /* Frames 0 and 1 are this function and capture_walk (both noinline). */
    if (unw.getcontext(&uc) < 0 || unw.init_local(&cur, &uc) < 0 || unw.step(&cur) <= 0 ||
        unw.step(&cur) <= 0)
        goto fail;
    /* Frame 0 of the record: rec_stack_capture, which keeps a frame pointer. */
    if (unw.get_reg(&cur, UNW_REG_SP, &sp) < 0 || unw.get_reg(&cur, UNW_X86_64_RBP, &rbp) < 0 ||
        unw.get_reg(&cur, UNW_REG_IP, &ip) < 0)
        goto fail;
    if (rbp != cfa0 - 16)
        w->cacheable = 0;
    for (int k = 0;; k++) {
        w->raw[w->got++] = (void *)ip;
        if (w->got == limit)
            return;
        int rbp_loc_ok = 0;
        if (w->cacheable) {
            if (unw.is_signal_frame(&cur) > 0)
                w->cacheable = 0;
            if (k > 0 && unw.get_save_loc(&cur, UNW_X86_64_RBP, &loc) == 0 &&
                loc.type == UNW_SLT_MEMORY)
                rbp_loc_ok = 1;
            prev = cur;
        }
        int r = unw.step(&cur);
        if (r <= 0) {
            /* The end. Fine when this frame's unwind info says so (no return
             * address in _start and clone3) or the return address read was
             * 0; not when libunwind found no unwind info and guessed. */
            unw_proc_info_t pi;
            if (r < 0 || !w->cacheable || unw.get_proc_info(&prev, &pi) < 0)
                w->cacheable = 0;
            else if (unw.get_reg(&cur, UNW_REG_SP, &nsp) == 0 && nsp >= sp + 8 && nsp - sp < 65536)
                walk_word(w, cfa0, nsp - 8);
            return;
        }
        if (unw.get_reg(&cur, UNW_REG_SP, &nsp) < 0 || unw.get_reg(&cur, UNW_REG_IP, &nip) < 0)
            goto fail;
        if (k == 0 && nsp != cfa0)
            w->cacheable = 0;
        if (w->cacheable) {
            /* RBP pointing into this frame may be its CFA base: validate it
             * where it was reloaded from, and the DRAP word below it. */
            if (k > 0 && sp <= rbp && rbp < nsp) {
                if (!rbp_loc_ok)
                    w->cacheable = 0;
                else
                    walk_word(w, cfa0, loc.u.addr);
                if (sp + 8 <= rbp && *(const uintptr_t *)(rbp - 8) == nsp)
                    walk_word(w, cfa0, rbp - 8);
            }
            if (nsp < sp + 8 || *(const uintptr_t *)(nsp - 8) != nip)
                w->cacheable = 0;
            else
                walk_word(w, cfa0, nsp - 8);
        }
        /* The recorder's own frames: learn their sizes for key_ra. */
        if (k > 0 && ip >= rec_self_lo && ip < rec_self_hi)
            self_size_learn(ip, nsp - sp);
        if (unw.get_reg(&cur, UNW_X86_64_RBP, &rbp) < 0)
            goto fail;
        ip = nip;
        sp = nsp;
    }
fail:
    w->cacheable = 0;
}

/* ---- cross-check: every id against an independent unw_backtrace walk ---- */

static uintptr_t capture_ip; /* raw[0] of walk_full: our return address from it */

/* The frames a plain unw_backtrace finds from rec_stack_capture's frame (CFA
 * cfa) outwards: those above the return address in its slot, with
 * rec_stack_capture's own frame as walk_full names it. */
__attribute__((noinline)) static int walk_reference(void **raw, int limit, uintptr_t cfa)
{
    void *buf[VC_WALK + 8];
    uintptr_t ra = *(const uintptr_t *)(cfa - 8);
    int got = unw_bt(buf, limit + 8); /* from this function, through ours */
    for (int j = 0; j < got && j < 8; j++) {
        if ((uintptr_t)buf[j] != ra)
            continue;
        int n = got - j + 1 < limit ? got - j + 1 : limit;
        raw[0] = (void *)capture_ip;
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

/* Remember what walk w found for key (cfa, ra), in front of its set. A signal
 * handler of this thread never records while we are here (hooks.c's guard),
 * but a set is left consistent at every step anyway: the evicted last way is
 * emptied first, and the new entry is published last. */
static void vc_put(struct vc *c, uintptr_t cfa, uintptr_t ra, const struct stack_entry *st,
                   const struct walk *w)
{
    struct vc_entry *set = vc_set(c, cfa, ra);
    if (c->head % VC_RING + w->words > VC_RING)
        c->head += VC_RING - c->head % VC_RING; /* wrap: the words stay contiguous */
    uint64_t pos = c->head;
    c->head += w->words;
    memcpy(&c->off[pos % VC_RING], w->off, w->words * sizeof(w->off[0]));
    memcpy(&c->val[pos % VC_RING], w->val, w->words * sizeof(w->val[0]));
    set[VC_WAYS - 1].st = NULL;
    atomic_signal_fence(memory_order_seq_cst);
    memmove(&set[1], &set[0], (VC_WAYS - 1) * sizeof(set[0]));
    struct vc_entry e = {.cfa = cfa, .ra = ra, .st = NULL, .pos = pos,
                         .epoch = atomic_load_explicit(&rec_epoch, memory_order_relaxed),
                         .words = w->words, .max_frames = rec_config.max_frames};
    set[0] = e;
    atomic_signal_fence(memory_order_seq_cst);
    set[0].st = st;
}

/* Which misses are worth the full walk. unw_step, the validating walk,
 * consults libunwind's small (128-entry) per-thread cache at every frame,
 * and each miss there costs two sigprocmask calls; unw_backtrace, the fast
 * walk, has its own cache by instruction address. A program with many call
 * chains that each occur a few times, such as a compiler (operator new
 * reached from ever other callers at one depth), would pay the full walk
 * for nothing: cc1 -O2 on bench's generated file took 16.5 s recorded
 * (native 1.2 s) when every miss was walked in full.
 *
 * So each key (CFA, return address) counts its misses in a small
 * direct-mapped table: the first VC_FULL_AFTER misses take the fast walk
 * and are not cached; the next is walked in full and cached. After that a
 * miss is walked in full when the key has hit since its last miss (its
 * cached chains are in use: a second chain under the key is worth caching
 * too), and otherwise once in VC_REFILL misses (chains that differ every
 * time take the fast walk). cc1 -O2 on that file: 4.1 s with these rules
 * (heaptrack 2.5 s; 1.7 s if no miss were ever walked in full, but then
 * nothing would be cached); bench's malloc loop unchanged at 0.46 s.
 * Returns the stack, or NULL to take the full walk. */
static const struct stack_entry *capture_first_miss(struct vc *c, uintptr_t cfa, uintptr_t ra,
                                                    uint64_t ts)
{
    if (!capture_ip)
        return NULL; /* the first walk of all is a full one: it finds our own frame's ip */
    uint32_t tag, *seen = vc_seen(c, cfa, ra, &tag);
    int mine = (*seen & ~15u) == tag;
    uint32_t n = mine ? (*seen & 7u) : 0;
    int hit_since = mine && (*seen & 8u);
    if (n < 7)
        n++;
    *seen = tag | n;
    if (hit_since || n == VC_FULL_AFTER + 1 || (n == 7 && ++c->refills % VC_REFILL == 0))
        return NULL;
    void *raw[VC_WALK];
    int got = walk_reference(raw, (int)rec_config.max_frames + 8, cfa);
    return got > 0 ? stack_of(raw, got, ts) : NULL;
}

/* The miss path: a full walk, the id, and the cache entry refilled. */
__attribute__((noinline)) static const struct stack_entry *capture_walk(uintptr_t cfa,
                                                                        uintptr_t ra,
                                                                        uint64_t ts)
{
    struct vc *c0 = ra ? vc_get() : NULL;
    if (c0 != NULL) {
        const struct stack_entry *first = capture_first_miss(c0, cfa, ra, ts);
        if (first != NULL)
            return first;
    }
    struct walk w;
    walk_full(&w, cfa, (int)rec_config.max_frames + 8);
    if (w.got == 0)
        return NULL;
    if (!capture_ip)
        capture_ip = (uintptr_t)w.raw[0];
    const struct stack_entry *st = stack_of(w.raw, w.got, ts);
    struct vc *c = vc_get();
    if (st && c && ra && w.cacheable)
        vc_put(c, cfa, ra, st, &w);
    return st;
}

/* The frame pointer is forced (__builtin_frame_address): the validation
 * argument needs this frame's RBP to be a function of its CFA. */
__attribute__((noinline)) uint32_t rec_stack_capture(uint64_t ts)
{
    uintptr_t cfa = (uintptr_t)__builtin_frame_address(0) + 16;
    if (REC_UNLIKELY(!unw.step))
        return 0;
    const struct stack_entry *st = NULL;
    uintptr_t ra = key_ra(cfa);
    struct vc *c = vc_mine;
    if (REC_LIKELY((uintptr_t)c > (uintptr_t)VC_DEAD && ra != 0))
        st = vc_find(c, cfa, ra);
    int hit = st != NULL;
    if (hit) {
        vc_hits++;
    } else {
        vc_misses++;
        st = capture_walk(cfa, ra, ts);
    }
    if (REC_UNLIKELY(crosscheck))
        crosscheck_one(st, hit, cfa, ts);
    /* Keep this frame: no tail call into the walk, whose frame 1 it must be. */
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
