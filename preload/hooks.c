/* hooks.c — the allocator entry points libaudit.so interposes, and its life cycle.
 *
 * Every hook forwards to libc first and records second (a free is recorded
 * first: once libc has the pointer, another thread may get the address back
 * from malloc, and that thread's event must come after ours). A thread-local
 * guard makes the recorder's own allocator calls (libunwind, dlopen, libc
 * internals reached from us) pass through untracked.
 *
 * Bootstrap: the real functions come from dlsym(RTLD_NEXT), and dlsym itself
 * may calloc; those few calls are served from a static pool, whose pointers
 * are recognised and never reach libc.
 *
 * Life cycle: events are buffered from the first call (REC_EARLY, without
 * stacks until libunwind is loaded); the constructor opens the trace and turns
 * recording on; the destructor (or _exit, or exec) flushes every buffer and
 * writes END. On any failure the recorder turns itself off and the target runs
 * on as if it were not there. */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "rec.h"

#define EXPORT __attribute__((visibility("default")))
#define MAX_EVENT_BYTES 128

static struct {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void *(*reallocarray)(void *, size_t, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    size_t (*malloc_usable_size)(void *);
    void (*free_sized)(void *, size_t);
    void (*free_aligned_sized)(void *, size_t, size_t);
    int (*dlclose)(void *);
    void (*exit)(int) __attribute__((noreturn));
    void (*exit_)(int) __attribute__((noreturn));
    int (*libc_start_main)(int (*)(int, char **, char **), int, char **, void (*)(void),
                           void (*)(void), void (*)(void), void *);
    void (*Exit_)(int) __attribute__((noreturn));
    int (*execve)(const char *, char *const[], char *const[]);
    int (*execvpe)(const char *, char *const[], char *const[]);
    int (*fexecve)(int, char *const[], char *const[]);
} real;

static int trace_fd = -1;
static pid_t rec_pid;
static char trace_path[TR_MAX_PATH + 16];

/* ---- bootstrap pool, for dlsym's own calloc while we resolve ---- */

static _Alignas(64) uint8_t boot_pool[64 * 1024];
static size_t boot_used;

/* One compare (on every free's fast path): below the pool, the difference wraps. */
static int boot_owns(const void *p)
{
    return (uintptr_t)p - (uintptr_t)boot_pool < sizeof(boot_pool);
}

static void *boot_alloc(size_t n)
{
    size_t need = (n + 16 + 15) & ~(size_t)15;
    if (need > sizeof(boot_pool) - boot_used)
        return NULL;
    uint8_t *p = boot_pool + boot_used;
    boot_used += need;
    memcpy(p, &n, sizeof(n)); /* the size, for realloc */
    return p + 16;
}

static size_t boot_size(const void *p)
{
    size_t n;
    memcpy(&n, (const uint8_t *)p - 16, sizeof(n));
    return n;
}

static void resolve(void)
{
    static volatile int resolving;
    if (resolving)
        return;
    resolving = 1;
    /* dlsym allocates (its error state, lookup scopes): the recorder's own
     * blocks, not the target's, also when the target's first malloc (a C++
     * runtime's constructor, before ours) is what brings us here. glibc
     * declares dlsym leaf (never calling back into this file), so the guard
     * is touched through volatile, or the compiler drops the ++ and --. */
    volatile int *g = &rec_tls.guard;
    ++*g;
    /* POSIX guarantees a dlsym result converts to a function pointer; ISO C
     * does not, so copy the bits rather than cast. */
#define R(field, name)                                                                             \
    do {                                                                                           \
        void *sym_ = dlsym(RTLD_NEXT, name);                                                       \
        memcpy(&real.field, &sym_, sizeof(sym_));                                                  \
    } while (0)
    R(calloc, "calloc");
    R(malloc, "malloc");
    R(free, "free");
    R(realloc, "realloc");
    R(reallocarray, "reallocarray");
    R(posix_memalign, "posix_memalign");
    R(aligned_alloc, "aligned_alloc");
    R(memalign, "memalign");
    R(valloc, "valloc");
    R(pvalloc, "pvalloc");
    R(malloc_usable_size, "malloc_usable_size");
    R(free_sized, "free_sized");
    R(free_aligned_sized, "free_aligned_sized");
    R(dlclose, "dlclose");
    R(exit, "exit");
    R(exit_, "_exit");
    R(libc_start_main, "__libc_start_main");
    R(Exit_, "_Exit");
    R(execve, "execve");
    R(execvpe, "execvpe");
    R(fexecve, "fexecve");
#undef R
    /* Sampling must be known from the first allocation (sample.c). */
    rec_sample_config();
    --*g;
    resolving = 0;
}

#define ENSURE_REAL()                                                                              \
    do {                                                                                           \
        if (REC_UNLIKELY(!real.free))                                                              \
            resolve();                                                                             \
    } while (0)

void rec_guard_enter(void)
{
    rec_tls.guard++;
}

void rec_guard_leave(void)
{
    if (--rec_tls.guard == 0 && REC_UNLIKELY(rec_tls.deferred))
        rec_signal_redeliver();
}

/* ---- recording ---- */

/* A signal handler of the target is about to run in this thread. If it
 * interrupted the recorder (guard set: a record half written, the stack
 * table's lock held, libunwind mid-walk), its allocator calls can be neither
 * recorded (that could deadlock or corrupt the record in progress) nor taken
 * for the recorder's own (that would drop them silently): they run untracked
 * and are counted as lost. Returns what rec_handler_leave() restores.
 * (signal.c makes every other signal wait for the guard's release: this is
 * for a fault in the recorder's own code, and for more than its few
 * different signals held back at once.) */
int rec_handler_enter(void)
{
    int saved = rec_tls.guard;
    if (saved) {
        rec_tls.guard = 0;
        rec_tls.nested_in_signal++;
    }
    return saved;
}

void rec_handler_leave(int saved)
{
    if (saved) {
        rec_tls.nested_in_signal--;
        rec_tls.guard = saved;
    }
}

void rec_call_pause(struct rec_call_pause *s, int guard)
{
    s->guard = guard;
    s->stamped = rec_thread_stamp_pause();
    if (guard == REC_GUARD_CALL)
        rec_lost_add(1);
    rec_tls.resumed_ns = 0;
    rec_guard_set(0);
}

void rec_call_resume(const struct rec_call_pause *s)
{
    rec_guard_set(s->guard);
    if (s->stamped) {
        rec_thread_stamp_begin();
        rec_tls.resumed_ns = rec_now_ns();
    }
    if (s->guard == REC_GUARD_CALL)
        rec_lost_sub(1);
}

/* An event that gets no record. Once the recording has ended (shutdown has
 * taken the thread's buffer over and wrote END, while this thread was still
 * allocating) the event belongs after the end of the trace, like every later
 * one; before that it is lost, and counted. */
static void count_unrecorded(void)
{
    if (atomic_load_explicit(&rec_state, memory_order_relaxed) != REC_OFF)
        rec_lost_add(1);
}

static int should_record(void)
{
    return !rec_tls.guard && atomic_load_explicit(&rec_state, memory_order_relaxed) != REC_OFF;
}

/* Under the guard the recorder itself allocates: remember the block, in case
 * libc frees it on our behalf later (see internal.c). Not in sampling mode:
 * there a free is recorded only for a block in the set of sampled blocks,
 * which the recorder's own never join, and the frees of the program need not
 * look at one more set. */
static void *note_internal(void *p)
{
    if (REC_UNLIKELY(rec_tls.guard) && p && rec_config.sample_bytes == 0)
        rec_internal_add(p);
    return p;
}

/* Sampling mode (MEMAUDIT_SAMPLE, sample.c): 1 if the block p of size bytes
 * is to be recorded -- then it joins the set of sampled blocks, before the
 * program has the pointer. A failed call (p NULL) is always recorded. Off,
 * one branch. */
/* A sampled block joins (sign 1) or leaves (-1) the estimate of the live
 * blocks (sample.c); p is still the program's. */
static void sampled_weigh(const void *p, int sign)
{
    if (real.malloc_usable_size)
        rec_sampled_weigh(real.malloc_usable_size((void *)p), sign);
}

static inline int sample_keep(void *p, size_t size)
{
    /* (In a signal handler on top of the recorder, which may hold the set's
     * lock, record_alloc counts the event lost instead.) */
    if (REC_LIKELY(rec_config.sample_bytes == 0) || p == NULL || rec_tls.nested_in_signal)
        return 1;
    if (!rec_sample_take(size))
        return 0;
    rec_sampled_add(p);
    sampled_weigh(p, 1);
    return 1;
}

/* Sampling mode: 1 if the free of p is to be recorded (p was sampled; it
 * leaves the set now, before libc has it back). */
static inline int sample_free_keep(void *p)
{
    if (REC_LIKELY(rec_config.sample_bytes == 0) || REC_UNLIKELY(rec_tls.nested_in_signal))
        return 1; /* (nested: record_free counts it lost, without the set's lock) */
    if (!rec_sampled_take(p))
        return 0;
    sampled_weigh(p, -1);
    return 1;
}

static uint64_t slack_of(void *p, size_t size)
{
    size_t usable = real.malloc_usable_size ? real.malloc_usable_size(p) : size;
    /* MEMAUDIT_CONTENT: the bytes past the request are unspecified (what an
     * earlier block left there); zero them, so that the hash taken at free
     * covers the same bytes for the same contents. A fresh block's contents
     * are unspecified anyway: zero is one of the values it may hold. */
    if (REC_UNLIKELY(rec_config.content) && usable > size && usable <= TR_CONTENT_MAX_BYTES)
        memset((char *)p + size, 0, usable - size);
    return usable > size ? usable - size : 0;
}

static void record_alloc(uint8_t fn, void *p, size_t size, size_t align)
{
    if (REC_UNLIKELY(rec_tls.nested_in_signal)) {
        rec_lost_add(1);
        return;
    }
    int saved = errno;
    struct rec_thread *w = rec_thread_stamp_begin();
    uint64_t ts = rec_now_ns();
    uint32_t stack = rec_stack_capture(ts);
    struct rec_thread *t = rec_thread_begin(MAX_EVENT_BYTES);
    if (!t) {
        rec_thread_stamp_end(w);
        count_unrecorded();
        errno = saved;
        return;
    }
    uint8_t *c = rec_thread_cursor(t);
    if (p) {
        *c++ = TR_REC_ALLOC;
        *c++ = fn;
        c = rec_thread_put_dt(t, c, ts);
        c = rec_thread_put_ptr(t, c, (uintptr_t)p);
        c = tr_put_u64(c, size);
        c = tr_put_u64(c, stack);
        c = tr_put_u64(c, slack_of(p, size));
        if (fn == TR_FN_POSIX_MEMALIGN || fn == TR_FN_ALIGNED_ALLOC || fn == TR_FN_MEMALIGN)
            c = tr_put_u64(c, align);
    } else {
        *c++ = TR_REC_FAIL;
        *c++ = fn;
        c = rec_thread_put_dt(t, c, ts);
        c = tr_put_u64(c, size);
        c = tr_put_u64(c, stack);
    }
    rec_thread_commit(t, c, 0);
    rec_thread_end(t);
    rec_thread_stamp_end(w);
    rec_flusher_tick(ts);
    errno = saved;
}

/* The opt-in form of FREE (MEMAUDIT_CONTENT, MEMAUDIT_FREE_STACKS): the
 * stack of the free call, and the hash of the block's usable bytes while they
 * are still the program's (blocks up to TR_CONTENT_MAX_BYTES). Kept out of
 * record_free so that its default path stays one branch longer, no more. */
static __attribute__((noinline)) uint8_t *put_free_ex(struct rec_thread *t, uint8_t *c, uint8_t fn,
                                                      uint64_t ts, void *p, uint32_t stack)
{
    unsigned flags = 0;
    uint64_t hash = 0;
    if (rec_config.free_stacks)
        flags |= TR_FREE_STACK;
    if (rec_config.content && real.malloc_usable_size) {
        size_t usable = real.malloc_usable_size(p);
        if (usable <= TR_CONTENT_MAX_BYTES) {
            hash = tr_content_hash(p, usable);
            flags |= TR_FREE_HASH;
        }
    }
    *c++ = TR_REC_FREE_EX;
    *c++ = fn;
    c = rec_thread_put_dt(t, c, ts);
    c = rec_thread_put_ptr(t, c, (uintptr_t)p);
    c = tr_put_u64(c, flags);
    if (flags & TR_FREE_STACK)
        c = tr_put_u64(c, stack);
    if (flags & TR_FREE_HASH) {
        for (int i = 0; i < 8; i++)
            *c++ = (uint8_t)(hash >> (8 * i));
    }
    return c;
}

static void record_free(uint8_t fn, void *p)
{
    if (REC_UNLIKELY(rec_tls.nested_in_signal)) {
        rec_lost_add(1);
        return;
    }
    int saved = errno;
    struct rec_thread *w = rec_thread_stamp_begin();
    uint64_t ts = rec_now_ns();
    uint32_t stack = REC_UNLIKELY(rec_config.free_stacks) ? rec_stack_capture(ts) : 0;
    struct rec_thread *t = rec_thread_begin(MAX_EVENT_BYTES);
    if (!t) {
        rec_thread_stamp_end(w);
        count_unrecorded();
        errno = saved;
        return;
    }
    uint8_t *c = rec_thread_cursor(t);
    if (REC_UNLIKELY(rec_config.content | rec_config.free_stacks)) {
        c = put_free_ex(t, c, fn, ts, p, stack);
    } else {
        *c++ = TR_REC_FREE;
        *c++ = fn;
        c = rec_thread_put_dt(t, c, ts);
        c = rec_thread_put_ptr(t, c, (uintptr_t)p);
    }
    rec_thread_commit(t, c, 0);
    rec_thread_end(t);
    rec_thread_stamp_end(w);
    rec_flusher_tick(ts);
    errno = saved;
}

/* ts_before is taken before the call, inside the caller's stamp window
 * (rec_thread_stamp_begin .. _end), which spans the call and this record. */
static void record_realloc(uint8_t fn, uint64_t ts_before, void *old, void *p, size_t size)
{
    if (REC_UNLIKELY(rec_tls.resumed_ns)) { /* a handler ran inside the call */
        ts_before = rec_tls.resumed_ns;
        rec_tls.resumed_ns = 0;
    }
    if (REC_UNLIKELY(rec_tls.nested_in_signal)) {
        rec_lost_add(1);
        return;
    }
    int saved = errno;
    /* The acquisition needs a stamp of its own only when the call took a new
     * address (which another thread may just have freed: its FREE must come
     * first). Grown or shrunk in place, failed, or freed (realloc(p, 0)), the
     * call took no address, and any moment inside it is a valid place for its
     * effect in the global order: its stamp before the call will do. */
    uint64_t ts_after = p != NULL && p != old ? rec_now_ns() : ts_before;
    uint32_t stack = rec_stack_capture(ts_before);
    struct rec_thread *t = rec_thread_begin(MAX_EVENT_BYTES);
    if (!t) {
        count_unrecorded();
        errno = saved;
        return;
    }
    uint8_t *c = rec_thread_cursor(t);
    *c++ = TR_REC_REALLOC;
    *c++ = fn;
    c = rec_thread_put_dt(t, c, ts_before);
    c = rec_thread_put_dt(t, c, ts_after);
    c = rec_thread_put_ptr(t, c, (uintptr_t)old);
    c = rec_thread_put_ptr(t, c, (uintptr_t)p);
    c = tr_put_u64(c, size);
    c = tr_put_u64(c, stack);
    c = tr_put_u64(c, p ? slack_of(p, size) : 0);
    rec_thread_commit(t, c, 0);
    rec_thread_end(t);
    rec_flusher_tick(ts_after);
    errno = saved;
}

/* ---- sampling mode's fast path ----
 *
 * Nearly every call in sampling mode is an allocation the countdown passes
 * over or the free of a block that was not sampled. Those take the two tests
 * below and go to libc as a bare forwarding shim would: no guard, no errno
 * save, no clock, no lock, no store but the countdown's. Every other call --
 * a sample point, a sampled block, full mode, the recorder's own calls --
 * fails the test and takes the general path after it, unchanged. */

/* 1 if an allocation of n bytes by the program is not to be sampled; the
 * countdown is then taken. One compare: the fast part of the countdown
 * (rec.h) is never above sample_bytes + 1, so n is not a larger block (those
 * are always sampled). Every other case fails it and goes to
 * rec_sample_take_slow on the general path: a larger block, the thread's
 * first allocation (countdown 0), the fast part used up, full mode (where
 * the countdown stays 0). A nonzero countdown also means resolve() has run
 * (sample.c draws only after it), so real.* is set. */
static inline int sample_pass_alloc(size_t n)
{
    uint64_t fast = rec_tls.sample_fast;
    if (REC_LIKELY(n < fast && !rec_tls.guard)) {
        rec_tls.sample_fast = fast - n;
        return 1;
    }
    return 0;
}

/* 1 if the free of p goes to libc unrecorded: sampling mode, and p neither
 * from the bootstrap pool nor in the set of sampled blocks (a lookup without
 * a lock, rec.h). One load and two compares while no sampled block is live
 * (most of the time in a program whose sampled blocks are short-lived): p is
 * none, without a look at the set. A block handed over from another thread
 * was counted there before the handover. rec_free_watch leaves REC_WATCH_ALL
 * in resolve(), after real.* is set. */
static inline int sample_pass_free(const void *p)
{
    size_t watch = atomic_load_explicit(&rec_free_watch, memory_order_relaxed);
    if (REC_LIKELY(watch == 0))
        return !boot_owns(p);
    return watch != REC_WATCH_ALL && !boot_owns(p) && !rec_sampled_has(p);
}

/* The allocation the countdown passed over failed: failed calls are all
 * recorded (docs/metrics.md, "Sampling mode"). */
static __attribute__((noinline)) void *sample_failed(uint8_t fn, size_t n)
{
    if (should_record()) {
        rec_guard_set(REC_GUARD_RECORD);
        record_alloc(fn, NULL, n, 0);
        rec_guard_release();
    }
    return NULL;
}

/* ---- the interposed allocator ---- */

/* After libc's call returned p for a request of n bytes: record
 * the allocation, if sampling keeps it, under the recording guard, and
 * release the guard. */
static inline void record_returned(uint8_t fn, void *p, size_t n, size_t align)
{
    rec_guard_set(REC_GUARD_RECORD);
    if (sample_keep(p, n))
        record_alloc(fn, p, n, align);
    rec_guard_release();
}

/* The general path of malloc: full mode, a sample point, the recorder's own
 * calls. (Out of line, so that the fast path in malloc needs no frame.) */
static __attribute__((noinline)) void *malloc_general(size_t n)
{
    ENSURE_REAL();
    if (REC_UNLIKELY(!real.malloc))
        return boot_alloc(n);
    if (!should_record())
        return note_internal(real.malloc(n));
    rec_guard_set(REC_GUARD_CALL);
    void *p = real.malloc(n);
    record_returned(TR_FN_MALLOC, p, n, 0);
    return p;
}

EXPORT void *malloc(size_t n)
{
    if (REC_LIKELY(sample_pass_alloc(n))) {
        void *p = real.malloc(n);
        return REC_LIKELY(p != NULL) ? p : sample_failed(TR_FN_MALLOC, n);
    }
    return malloc_general(n);
}

/* libc's call for a free of kind fn (TR_FN_FREE, _FREE_SIZED or
 * _FREE_ALIGNED_SIZED); free() when libc lacks the sized ones. */
static void libc_free(uint8_t fn, void *p, size_t align, size_t size)
{
    if (fn == TR_FN_FREE_SIZED && real.free_sized)
        real.free_sized(p, size);
    else if (fn == TR_FN_FREE_ALIGNED_SIZED && real.free_aligned_sized)
        real.free_aligned_sized(p, align, size);
    else
        real.free(p);
}

/* The general path of the frees: full mode, a sampled block, the recorder's
 * own blocks. libc's call is covered by REC_GUARD_CALL_RECORDED: a signal
 * arriving in it (with the arena's lock held) waits until it returns, so a
 * handler that allocates cannot deadlock on that lock. */
static __attribute__((noinline)) void free_general(uint8_t fn, void *p, size_t align,
                                                   size_t size)
{
    if (p == NULL || boot_owns(p))
        return;
    ENSURE_REAL();
    if (rec_internal_take(p)) {
        libc_free(fn, p, align, size);
        return;
    }
    if (should_record()) {
        rec_guard_set(REC_GUARD_RECORD); /* (also over the set's lock: a signal handler must know) */
        if (sample_free_keep(p))
            record_free(fn, p);
        rec_guard_set(REC_GUARD_CALL_RECORDED);
        libc_free(fn, p, align, size);
        rec_guard_release();
        return;
    }
    libc_free(fn, p, align, size);
}

EXPORT void free(void *p)
{
    if (REC_LIKELY(sample_pass_free(p)))
        real.free(p);
    else
        free_general(TR_FN_FREE, p, 0, 0);
}

static __attribute__((noinline)) void *calloc_general(size_t nmemb, size_t size)
{
    ENSURE_REAL();
    if (REC_UNLIKELY(!real.calloc)) {
        size_t total;
        if (__builtin_mul_overflow(nmemb, size, &total))
            return NULL;
        return boot_alloc(total); /* static memory is zeroed */
    }
    if (!should_record())
        return note_internal(real.calloc(nmemb, size));
    rec_guard_set(REC_GUARD_CALL);
    void *p = real.calloc(nmemb, size);
    size_t total;
    if (__builtin_mul_overflow(nmemb, size, &total))
        total = SIZE_MAX;
    record_returned(TR_FN_CALLOC, p, total, 0);
    return p;
}

EXPORT void *calloc(size_t nmemb, size_t size)
{
    size_t bytes;
    if (!__builtin_mul_overflow(nmemb, size, &bytes) && REC_LIKELY(sample_pass_alloc(bytes))) {
        void *p = real.calloc(nmemb, size);
        return REC_LIKELY(p != NULL) ? p : sample_failed(TR_FN_CALLOC, bytes);
    }
    return calloc_general(nmemb, size);
}

static void *boot_realloc(void *old, size_t n)
{
    void *p = malloc(n);
    if (p) {
        size_t had = boot_size(old);
        memcpy(p, old, had < n ? had : n);
    }
    return p;
}

/* realloc of a block the recorder's machinery allocated (old already taken
 * out of the set). Under the guard the new block is internal too; otherwise
 * the target now holds a block it never saw allocated: record it as a fresh
 * allocation. A failed realloc leaves old as it was. */
static void *realloc_internal(uint8_t fn, void *old, size_t n,
                              void *(*call)(void *, size_t, size_t), size_t a, size_t b)
{
    void *p = call(old, a, b);
    if (p == NULL) {
        if (n != 0)
            rec_internal_add(old);
        return p;
    }
    if (rec_tls.guard || !should_record()) {
        rec_internal_add(p);
        return p;
    }
    record_returned(fn, p, n, 0);
    return p;
}

/* realloc of a live block in sampling mode: one free of old and one
 * allocation of n bytes, each recorded as in the rest of sampling mode. Old
 * sampled: its release is stamped before the call; as a REALLOC record when
 * the new block is sampled too, else as a REALLOC that freed old (new 0,
 * size 0: the release alone). Old not sampled: the new block, if sampled,
 * is an ALLOC. A failed call is recorded whatever was sampled, and leaves
 * old as it was (back in the set). */
static __attribute__((noinline)) void *realloc_sampled(uint8_t fn, void *old, size_t n,
                                                       void *(*call)(void *, size_t, size_t),
                                                       size_t a, size_t b)
{
    if (REC_UNLIKELY(rec_tls.nested_in_signal)) { /* the set's lock may be held under us */
        rec_lost_add(1);
        return call(old, a, b);
    }
    rec_guard_set(REC_GUARD_RECORD);
    void *p;
    if (!rec_sampled_take(old)) {
        rec_guard_set(REC_GUARD_CALL);
        p = call(old, a, b);
        rec_guard_set(REC_GUARD_RECORD);
        if (p != NULL ? sample_keep(p, n) : n > 0)
            record_alloc(fn, p, n, 0);
        rec_guard_release();
        return p;
    }
    sampled_weigh(old, -1);
    struct rec_thread *w = rec_thread_stamp_begin();
    uint64_t before = rec_now_ns();
    rec_guard_set(REC_GUARD_CALL);
    p = call(old, a, b);
    rec_guard_set(REC_GUARD_RECORD);
    if (p == NULL) {
        if (n > 0) { /* failed: old is still live, and still sampled */
            rec_sampled_add(old);
            sampled_weigh(old, 1);
        }
        record_realloc(fn, before, old, NULL, n);
    } else if (sample_keep(p, n)) {
        record_realloc(fn, before, old, p, n);
    } else {
        record_realloc(fn, before, old, NULL, 0);
    }
    rec_thread_stamp_end(w);
    rec_guard_release();
    return p;
}

static void *realloc_common(uint8_t fn, void *old, size_t n, void *(*call)(void *, size_t, size_t),
                            size_t a, size_t b)
{
    if (old == NULL) {
        if (!should_record())
            return note_internal(call(NULL, a, b));
        rec_guard_set(REC_GUARD_CALL);
        void *p = call(NULL, a, b);
        record_returned(fn, p, n, 0);
        return p;
    }
    if (REC_UNLIKELY(rec_internal_take(old)))
        return realloc_internal(fn, old, n, call, a, b);
    if (!should_record())
        return call(old, a, b);
    if (REC_UNLIKELY(rec_config.sample_bytes))
        return realloc_sampled(fn, old, n, call, a, b);
    rec_guard_set(REC_GUARD_RECORD);
    struct rec_thread *w = rec_thread_stamp_begin();
    uint64_t before = rec_now_ns();
    rec_guard_set(REC_GUARD_CALL);
    void *p = call(old, a, b);
    rec_guard_set(REC_GUARD_RECORD);
    record_realloc(fn, before, old, p, n);
    rec_thread_stamp_end(w);
    rec_guard_release();
    return p;
}

static void *call_realloc(void *old, size_t n, size_t unused)
{
    (void)unused;
    return real.realloc(old, n);
}

/* reallocarray as realloc of the product, not glibc's reallocarray: that one
 * calls realloc through the PLT, i.e. our hook, under the guard, which took
 * the new block for one of the recorder's own (internal.c) -- its free was
 * then never recorded, and a later reallocarray of it recorded a release of
 * a block the trace had not seen (ls: 2 unmatched frees, a false leak). */
static void *call_reallocarray(void *old, size_t a, size_t b)
{
    size_t total;
    if (__builtin_mul_overflow(a, b, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return real.realloc(old, total);
}

static __attribute__((noinline)) void *realloc_general(void *old, size_t n)
{
    ENSURE_REAL();
    if (REC_UNLIKELY(old && boot_owns(old)))
        return boot_realloc(old, n);
    if (REC_UNLIKELY(!real.realloc))
        return old ? NULL : boot_alloc(n);
    return realloc_common(TR_FN_REALLOC, old, n, call_realloc, n, 0);
}

/* Sampling mode's fast path: neither the old block nor the new one sampled
 * (realloc_sampled would record nothing but a failure). realloc(p, 0) that
 * frees p returns NULL without failing. */
EXPORT void *realloc(void *old, size_t n)
{
    if (REC_LIKELY(old == NULL || sample_pass_free(old)) && REC_LIKELY(sample_pass_alloc(n))) {
        void *p = real.realloc(old, n);
        return REC_LIKELY(p != NULL || n == 0) ? p : sample_failed(TR_FN_REALLOC, n);
    }
    return realloc_general(old, n);
}

EXPORT void *reallocarray(void *old, size_t nmemb, size_t size)
{
    ENSURE_REAL();
    size_t total;
    int overflow = __builtin_mul_overflow(nmemb, size, &total);
    if (REC_UNLIKELY(old && boot_owns(old))) {
        if (overflow) {
            errno = ENOMEM;
            return NULL;
        }
        return boot_realloc(old, total);
    }
    return realloc_common(TR_FN_REALLOCARRAY, old, overflow ? SIZE_MAX : total, call_reallocarray,
                          nmemb, size);
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    ENSURE_REAL();
    if (!should_record()) {
        int rc = real.posix_memalign(out, align, n);
        if (rc == 0)
            note_internal(*out);
        return rc;
    }
    rec_guard_set(REC_GUARD_CALL);
    int rc = real.posix_memalign(out, align, n);
    record_returned(TR_FN_POSIX_MEMALIGN, rc == 0 ? *out : NULL, n, align);
    return rc;
}

#define ALIGNED_HOOK(name, FN, ...)                                                                \
    ENSURE_REAL();                                                                                 \
    if (!should_record())                                                                          \
        return note_internal(real.name(__VA_ARGS__));                                              \
    rec_guard_set(REC_GUARD_CALL);                                                                 \
    void *p = real.name(__VA_ARGS__);                                                              \
    record_returned(FN, p, n, align);                                                              \
    return p

EXPORT void *aligned_alloc(size_t align, size_t n)
{
    ALIGNED_HOOK(aligned_alloc, TR_FN_ALIGNED_ALLOC, align, n);
}

EXPORT void *memalign(size_t align, size_t n)
{
    ALIGNED_HOOK(memalign, TR_FN_MEMALIGN, align, n);
}

EXPORT void *valloc(size_t n)
{
    size_t align = 0;
    ALIGNED_HOOK(valloc, TR_FN_VALLOC, n);
}

EXPORT void *pvalloc(size_t n)
{
    size_t align = 0;
    ALIGNED_HOOK(pvalloc, TR_FN_PVALLOC, n);
}

/* C23; glibc before 2.42 lacks them, so declare them here. */
void free_sized(void *p, size_t size);
void free_aligned_sized(void *p, size_t align, size_t size);

EXPORT void free_sized(void *p, size_t size)
{
    free_general(TR_FN_FREE_SIZED, p, 0, size);
}

EXPORT void free_aligned_sized(void *p, size_t align, size_t size)
{
    free_general(TR_FN_FREE_ALIGNED_SIZED, p, align, size);
}

EXPORT size_t malloc_usable_size(void *p)
{
    if (p && boot_owns(p))
        return boot_size(p);
    ENSURE_REAL();
    return real.malloc_usable_size(p);
}

/* ---- phases (include/memaudit.h) ---- */

/* memaudit_phase(name) of include/memaudit.h lands here, found with dlsym:
 * a PHASE record, stamped now, in the calling thread's buffer. name NULL or
 * "" ends the current phase without starting another. Longer names are cut
 * at TR_MAX_PHASE_NAME bytes. No allocation, no stdio. */
EXPORT void memaudit_phase_impl(const char *name);
EXPORT void memaudit_phase_impl(const char *name)
{
    if (!should_record())
        return;
    if (REC_UNLIKELY(rec_tls.nested_in_signal)) {
        rec_lost_add(1);
        return;
    }
    int saved = errno;
    rec_guard_set(REC_GUARD_RECORD);
    uint8_t body[TR_MAX_PHASE_NAME + 16];
    size_t len = name != NULL ? strnlen(name, TR_MAX_PHASE_NAME) : 0;
    uint8_t *p = tr_put_u64(body, len);
    memcpy(p, name != NULL ? name : "", len);
    struct rec_thread *w = rec_thread_stamp_begin();
    rec_thread_append_meta(TR_REC_PHASE, rec_now_ns(), body, (size_t)(p + len - body));
    rec_thread_stamp_end(w);
    rec_guard_release();
    errno = saved;
}

/* ---- life cycle ---- */

static void write_header(int fd, uint32_t flags)
{
    struct tr_file_header h;
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, TR_MAGIC, 8);
    h.version = TR_VERSION;
    h.header_bytes = sizeof(h);
    h.pid = (uint32_t)getpid();
    h.ppid = (uint32_t)getppid();
    h.start_mono_ns = rec_now_ns();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    h.start_real_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    h.max_frames = rec_config.max_frames;
    if (rec_config.content)
        flags |= TR_FLAG_CONTENT;
    if (rec_config.free_stacks)
        flags |= TR_FLAG_FREE_STACKS;
    h.flags = flags | (rec_config.sample_bytes ? TR_FLAG_SAMPLED : 0);
    h.sample_bytes = rec_config.sample_bytes;
    ssize_t w = write(fd, &h, sizeof(h));
    (void)w;
}

static void write_process(void)
{
    static uint8_t body[64 * 1024];
    static char cmd[32 * 1024];
    const char *exe = rec_modules_exe_path();
    size_t exe_len = strlen(exe);
    long cmd_len = rec_read_file("/proc/self/cmdline", cmd, sizeof(cmd));
    uint8_t *p = body;
    p = tr_put_u64(p, (uint64_t)getpid());
    p = tr_put_u64(p, (uint64_t)getppid());
    p = tr_put_u64(p, exe_len);
    memcpy(p, exe, exe_len);
    p += exe_len;
    uint64_t argc = 0;
    for (long i = 0; i < cmd_len; i++)
        argc += cmd[i] == '\0';
    p = tr_put_u64(p, argc);
    for (long i = 0; i < cmd_len;) {
        size_t len = strnlen(cmd + i, (size_t)(cmd_len - i));
        if (i + (long)len >= cmd_len)
            break;
        p = tr_put_u64(p, len);
        memcpy(p, cmd + i, len);
        p += len;
        i += (long)len + 1;
    }
    rec_thread_append_meta(TR_REC_PROCESS, 0, body, (size_t)(p - body));
}

/* Open this process's trace and write what every trace starts with.
 * flags: TR_FLAG_FORK_CHILD in a fork child. */
static int trace_start(uint32_t flags)
{
    trace_fd = rec_out_open(trace_path, sizeof(trace_path));
    if (trace_fd < 0)
        return -1;
    rec_pid = getpid();
    write_header(trace_fd, flags);
    rec_thread_init(trace_fd);
    write_process();
    rec_modules_snapshot(rec_now_ns());
    return 0;
}

static void after_fork_child(void)
{
    if (atomic_load(&rec_state) != REC_ON)
        return;
    rec_guard_enter();
    int parent_fd = trace_fd;
    rec_stack_after_fork_child();
    rec_sample_after_fork_child();
    rec_modules_after_fork_child();
    rec_thread_after_fork_child(-1);
    if (parent_fd >= 0)
        close(parent_fd);
    if (trace_start(TR_FLAG_FORK_CHILD) < 0)
        atomic_store(&rec_state, REC_OFF);
    else
        rec_flusher_start(rec_config.interval_ms); /* threads do not survive fork */
    rec_guard_leave();
}

/* The status the process leaves with, as its parent will see it (0..255),
 * once known: from exit(), _exit() or main's return. -1 while unknown. */
static int exit_status = -1;

/* Flush every buffer and write END. sig is the fatal signal, or 0. */
static void shutdown_recorder(int sig)
{
    if (getpid() != rec_pid)
        return; /* a vfork child: the recorder belongs to the parent */
    int on = REC_ON;
    if (!atomic_compare_exchange_strong(&rec_state, &on, REC_OFF))
        return;
    rec_guard_enter();
    rec_modules_save_deleted(); /* before the buffers go: it writes a record */
    rec_thread_flush_all();
    uint8_t body[32];
    uint8_t *p = body;
    p = tr_put_i64(p, sig ? -1 : exit_status);
    p = tr_put_u64(p, rec_lost());
    p = tr_put_u64(p, (uint64_t)sig);
    rec_thread_append_meta(TR_REC_END, rec_now_ns(), body, (size_t)(p - body));
    rec_thread_flush_all();
    if (!rec_config.quiet && !rec_failed()) { /* a failure has said its one line */
        char events[24];
        *rec_fmt_u64(events, rec_thread_events()) = '\0';
        rec_say("trace written to ", trace_path, " (", events, " events)", NULL);
    }
    rec_stack_crosscheck_say(); /* asked for: said even when quiet */
    rec_guard_leave();
}

__attribute__((constructor)) static void rec_init(void)
{
    rec_guard_enter();
    resolve();
    if (getauxval(AT_SECURE)) {
        /* set-uid/set-gid: never record, never write a file, say nothing. */
        atomic_store(&rec_state, REC_OFF);
        rec_guard_leave();
        return;
    }
    if (rec_config_load() < 0 || rec_modules_init() < 0) {
        atomic_store(&rec_state, REC_OFF);
        rec_guard_leave();
        return;
    }
    rec_clock_init(0);
    rec_stack_init();
    if (trace_start(0) < 0) {
        atomic_store(&rec_state, REC_OFF);
        rec_guard_leave();
        return;
    }
    pthread_atfork(NULL, NULL, after_fork_child);
    rec_signals_init();
    rec_flusher_start(rec_config.interval_ms);
    int early = REC_EARLY;
    atomic_compare_exchange_strong(&rec_state, &early, REC_ON);
    rec_guard_leave();
}

__attribute__((destructor)) static void rec_fini(void)
{
    shutdown_recorder(0);
}

void rec_shutdown_on_signal(int sig)
{
    rec_thread_enter_signal();
    shutdown_recorder(sig);
}

EXPORT void exit(int status)
{
    ENSURE_REAL();
    exit_status = status & 0xff;
    real.exit(status);
}

EXPORT void _exit(int status)
{
    ENSURE_REAL();
    exit_status = status & 0xff;
    shutdown_recorder(0);
    real.exit_(status);
}

EXPORT void _Exit(int status)
{
    ENSURE_REAL();
    exit_status = status & 0xff;
    shutdown_recorder(0);
    real.Exit_(status);
}

/* main's return value becomes the exit status inside libc, past the exit()
 * above: run main from here to see it. Stacks are cut at this frame (stack.c),
 * so no frame of ours appears below main. */
static int (*target_main)(int, char **, char **);

static int rec_main(int argc, char **argv, char **envp)
{
    int status = target_main(argc, argv, envp);
    exit_status = status & 0xff;
    return status;
}

int __libc_start_main(int (*main)(int, char **, char **), int argc, char **argv, void (*init)(void),
                      void (*fini)(void), void (*rtld_fini)(void), void *stack_end);

EXPORT int __libc_start_main(int (*main)(int, char **, char **), int argc, char **argv,
                             void (*init)(void), void (*fini)(void), void (*rtld_fini)(void),
                             void *stack_end)
{
    ENSURE_REAL();
    target_main = main;
    return real.libc_start_main(rec_main, argc, argv, init, fini, rtld_fini, stack_end);
}

/* dlclose may unmap code our stacks point into: later stacks get a new epoch,
 * and the map after the call is recorded under it. */
EXPORT int dlclose(void *handle)
{
    ENSURE_REAL();
    if (should_record()) {
        /* A deleted library's symbols are only in its image: save them
         * while it is still mapped. */
        rec_guard_set(REC_GUARD_RECORD);
        rec_modules_save_deleted();
        rec_guard_release();
    }
    int rc = real.dlclose(handle);
    if (should_record()) {
        rec_guard_set(REC_GUARD_RECORD);
        atomic_fetch_add(&rec_epoch, 1);
        /* (MODULES need no watermark; a THREAD record before it does) */
        struct rec_thread *w = rec_thread_stamp_begin();
        rec_modules_snapshot(rec_now_ns());
        rec_thread_stamp_end(w);
        rec_guard_release();
    }
    return rc;
}

/* exec replaces the image without running destructors: finish the trace
 * first, so the events before it are kept and the trace is complete. The new
 * image (same pid) starts its own trace. Should exec fail, this process runs
 * on unrecorded, and says so. */
static void before_exec(void)
{
    if (!rec_tls.guard && atomic_load(&rec_state) == REC_ON && getpid() == rec_pid) {
        int q = rec_config.quiet;
        rec_config.quiet = 1;
        shutdown_recorder(0);
        rec_config.quiet = q;
    }
}

static int exec_failed(int rc)
{
    int saved = errno;
    if (!rec_config.quiet && rec_pid == getpid())
        rec_say("exec failed; the rest of this process is not recorded", NULL);
    errno = saved;
    return rc;
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    ENSURE_REAL();
    before_exec();
    return exec_failed(real.execve(path, argv, envp));
}

EXPORT int execv(const char *path, char *const argv[])
{
    ENSURE_REAL();
    before_exec();
    return exec_failed(real.execve(path, argv, environ));
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    ENSURE_REAL();
    before_exec();
    return exec_failed(real.execvpe(file, argv, envp));
}

EXPORT int execvp(const char *file, char *const argv[])
{
    ENSURE_REAL();
    before_exec();
    return exec_failed(real.execvpe(file, argv, environ));
}

/* glibc's execl, execle, execlp and fexecve reach execve inside libc, past
 * the wrappers above: wrap them too, or the trace before the exec would be
 * left unfinished. The variadic ones collect their arguments on the stack
 * (no allocation: the recorder is finished at that point, but a failed exec
 * returns to a process that goes on). */
#define EXEC_MAX_ARGS 4096

/* Count the arguments after arg0 up to the NULL; -1 past EXEC_MAX_ARGS. */
static int exec_count_args(va_list ap)
{
    int n = 1;
    while (va_arg(ap, char *) != NULL)
        if (++n > EXEC_MAX_ARGS)
            return -1;
    return n;
}

static void exec_collect_args(char **argv, const char *arg0, va_list ap, int n)
{
    argv[0] = (char *)arg0;
    for (int i = 1; i < n; i++)
        argv[i] = va_arg(ap, char *);
    argv[n] = NULL;
}

EXPORT int execl(const char *path, const char *arg0, ...)
{
    va_list ap;
    va_start(ap, arg0);
    int n = exec_count_args(ap);
    va_end(ap);
    if (n < 0) {
        errno = E2BIG;
        return -1;
    }
    char *argv[n + 1];
    va_start(ap, arg0);
    exec_collect_args(argv, arg0, ap, n);
    va_end(ap);
    return execve(path, argv, environ);
}

EXPORT int execlp(const char *file, const char *arg0, ...)
{
    va_list ap;
    va_start(ap, arg0);
    int n = exec_count_args(ap);
    va_end(ap);
    if (n < 0) {
        errno = E2BIG;
        return -1;
    }
    char *argv[n + 1];
    va_start(ap, arg0);
    exec_collect_args(argv, arg0, ap, n);
    va_end(ap);
    return execvpe(file, argv, environ);
}

/* execle: the environment comes after the NULL that ends the arguments. */
EXPORT int execle(const char *path, const char *arg0, ...)
{
    va_list ap;
    va_start(ap, arg0);
    int n = exec_count_args(ap);
    va_end(ap);
    if (n < 0) {
        errno = E2BIG;
        return -1;
    }
    char *argv[n + 1];
    va_start(ap, arg0);
    exec_collect_args(argv, arg0, ap, n);
    (void)va_arg(ap, char *); /* the NULL */
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return execve(path, argv, envp);
}

EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    ENSURE_REAL();
    before_exec();
    return exec_failed(real.fexecve(fd, argv, envp));
}
