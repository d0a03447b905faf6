/* rec.h — the recorder's internal interface (preload/ only).
 *
 * Layering inside libaudit.so:
 *   hooks.c    the interposed allocator entry points, bootstrap, init/fini
 *   thread.c   per-thread event buffers, the registry, block writing
 *   stack.c    stack capture and deduplication (libunwind, loaded privately,
 *              where cfi.c has no rule)
 *   cfi.c      unwind rules read from .eh_frame, for stack.c's own walk
 *   module.c   module-map snapshots (dl_iterate_phdr)
 *   out.c      output file, configuration, messages that never allocate
 *   compress.c zstd compression of blocks (libzstd, loaded privately)
 *
 * Every function here may run inside an intercepted malloc: none of them may
 * call the intercepted allocator or stdio. Memory comes from mmap. */
#ifndef MEMAUDIT_REC_H
#define MEMAUDIT_REC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "trace_format.h"

#define REC_HIDDEN __attribute__((visibility("hidden")))
#define REC_LIKELY(x) __builtin_expect(!!(x), 1)
#define REC_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Recorder states. Hooks record only in REC_ON; REC_EARLY buffers events
 * until the constructor has opened the trace. */
enum rec_state { REC_EARLY = 0, REC_ON = 1, REC_OFF = 2 };
extern _Atomic int rec_state;

/* ---- configuration and output (out.c) ---- */
struct rec_config {
    unsigned max_frames;  /* MEMAUDIT_DEPTH, 1..TR_MAX_FRAMES */
    int quiet;            /* MEMAUDIT_QUIET */
    unsigned interval_ms; /* MEMAUDIT_INTERVAL_MS, 0 (no flusher) .. 60000 */
    uint64_t sample_bytes; /* MEMAUDIT_SAMPLE: mean bytes between samples; 0: record all */
    int content;          /* MEMAUDIT_CONTENT: hash small blocks when freed */
    int free_stacks;      /* MEMAUDIT_FREE_STACKS: capture the stack of every free */
};
extern struct rec_config rec_config;

int rec_config_load(void);
/* Create the trace file for this process (pid in the name); returns fd or -1
 * after printing why. path receives the name. */
int rec_out_open(char *path, size_t cap);
/* One line on stderr: "memaudit: " + the NULL-terminated parts, built on the stack. */
void rec_say(const char *first, ...) __attribute__((sentinel));
/* Decimal formatting into a caller buffer; returns the end. */
char *rec_fmt_u64(char *p, uint64_t v);

/* ---- timestamps (clock.c) ---- */
/* Nanoseconds on one clock for all threads of the process: CLOCK_MONOTONIC,
 * or the TSC calibrated against it (see clock.c for when, and why the order
 * of events across threads is kept). Async-signal-safe, never allocates. */
uint64_t rec_now_ns(void);
/* rec_now_ns, read before any later instruction starts (the flusher's
 * watermark, which a membarrier must follow). */
uint64_t rec_now_ns_fenced(void);
/* Check for a usable TSC and take the first calibration pair; the switch to
 * the TSC comes with the first rec_now_ns calib_ns later (0: 10 ms). */
void rec_clock_init(uint64_t calib_ns);
/* 1 once timestamps come from the TSC. */
int rec_clock_is_tsc(void);
/* The calling thread is the recorder's own (the flusher): its stamps are
 * ordered reads and do not end the first thread's bare ones (clock.c). */
void rec_clock_helper_thread(void);

/* Read a small /proc file with raw syscalls; returns bytes read or -1. */
long rec_read_file(const char *path, char *buf, size_t cap);
/* Sleep ns (below 1 s) by the system call: glibc's nanosleep is a
 * cancellation point, and the recorder waits inside the program's malloc
 * and free, which are none. errno kept. */
void rec_nap_ns(long ns);
/* Anonymous memory straight from the kernel. */
void *rec_mmap(size_t bytes);
void rec_munmap(void *p, size_t bytes);

/* ---- the calling thread's state (hooks.c; defined in sample.c) ---- */
/* What the hooks read on every call, in one thread-local block: one TLS
 * offset to load (initial-exec, so touching it never allocates). */
struct rec_tls {
    /* Sampling mode: the distance to this thread's next sample point, in
     * bytes, in two parts (sample.c). An allocation of n < sample_fast bytes
     * is not sampled and takes n off, one compare on the hooks' fast path;
     * sample_fast is at most sample_bytes + 1, so such an n is never one of
     * the larger blocks that are sampled always. sample_rest is the rest of
     * the distance. Both 0 before the thread's first draw and in full mode. */
    uint64_t sample_fast;
    uint64_t sample_rest;
    /* The recorder is at work in this thread: its allocator calls pass
     * through untracked. A count (rec_guard_enter/leave), or one of the
     * REC_GUARD_ values a hook sets around its call. */
    int guard;
    /* A signal handler of the target runs on top of a recorder call it
     * interrupted in this thread (see rec_handler_enter). */
    int nested_in_signal;
    /* Signals of the target that arrived while the guard was set, held
     * back until it is released (signal.c): nonzero while one waits.
     * Written by the signal handler of this thread. */
    volatile int deferred;
    /* A realloc's stamp window was closed around a signal handler of the
     * target and opened again at this time (rec_call_resume): the record's
     * time before the call. 0 otherwise. */
    uint64_t resumed_ns;
};
extern __thread struct rec_tls rec_tls;

/* What a hook of hooks.c sets the guard to while libc's function runs
 * (signal.c: a signal that libc raises there, an abort or a fault, runs the
 * target's handler with the recorder's state whole, and a handler that
 * siglongjmps out of the call leaves nothing half done), and while it
 * records (REC_GUARD_RECORD). CALL: the event is recorded after the call;
 * CALL_RECORDED: it was recorded before (free). Above any count. */
#define REC_GUARD_RECORD 1
#define REC_GUARD_CALL 0x10000
#define REC_GUARD_CALL_RECORDED 0x20000

/* Set the guard to v (a REC_GUARD_ value) before the code it covers: the
 * compiler may not move the store below it (a signal handler reads it). */
static inline void rec_guard_set(int v)
{
    rec_tls.guard = v;
    atomic_signal_fence(memory_order_seq_cst);
}

void rec_signal_redeliver(void);
/* Release a hook's guard, and deliver the signals held back meanwhile
 * (signal.c): one load and a branch when there is none. A signal that
 * arrives after the store finds the guard released and runs at once. */
static inline void rec_guard_release(void)
{
    atomic_signal_fence(memory_order_seq_cst);
    rec_tls.guard = 0;
    atomic_signal_fence(memory_order_seq_cst);
    if (REC_UNLIKELY(rec_tls.deferred))
        rec_signal_redeliver();
}

/* ---- sampling mode (sample.c) ---- */
/* Read MEMAUDIT_SAMPLE into rec_config.sample_bytes (once); 0 or -EINVAL. */
int rec_sample_config(void);
int rec_sample_take_slow(size_t size);
/* In sampling mode: 1 if an allocation of size bytes is to be recorded
 * (always when larger than the mean), else 0 -- a subtraction, no more,
 * but about once per sample_bytes bytes. */
static inline int rec_sample_take(size_t size)
{
    if (size < rec_tls.sample_fast) {
        rec_tls.sample_fast -= size;
        return 0;
    }
    return rec_sample_take_slow(size);
}
/* The set of sampled blocks still live (sample.c has the algorithm): add one
 * (before the pointer goes to the program); take one out (before libc gets
 * it back), 1 if it was there. */
void rec_sampled_add(const void *p);
/* The free hook's one test (hooks.c): 0 in sampling mode while no sampled
 * block is live, and a free goes to libc without a look at the set. Else
 * the number of sampled blocks live, or REC_WATCH_ALL in full mode (and
 * until rec_sample_config has run: the hooks' general path, which resolves
 * libc's functions, must see the first free). */
#define REC_WATCH_ALL SIZE_MAX
extern REC_HIDDEN _Atomic size_t rec_free_watch;
int rec_sampled_take_slow(const void *p);
static inline int rec_sampled_take(const void *p)
{
    if (atomic_load_explicit(&rec_free_watch, memory_order_relaxed) == 0)
        return 0;
    return rec_sampled_take_slow(p);
}
/* Open addressing, linear probing; a slot holds an address, 0 (never used)
 * or REC_SSET_TOMB (removed). A table is written under sample.c's lock and
 * read without it: tables replaced by a larger one stay mapped, and a table
 * rebuilt in place bumps gen to odd before and to even after. */
#define REC_SSET_TOMB ((uintptr_t)1)
struct rec_sset {
    size_t mask;
    size_t used; /* keys and tombstones */
    size_t live;
    _Atomic uintptr_t slots[];
};
/* In front of the table, a filter of REC_SFILTER_BITS bits (1 KiB, always
 * in L1 while the frees ask it): a bit is set while a key whose hash picks
 * it is in the set (sample.c counts them), so a clear bit means "not in the
 * set" -- the answer for nearly every free, one load where the table took
 * three. */
#define REC_SFILTER_LOG2 13
#define REC_SFILTER_BITS (1u << REC_SFILTER_LOG2)
struct rec_sampled_index {
    _Atomic unsigned gen;
    _Atomic(struct rec_sset *) table;
    _Atomic uint64_t filter[REC_SFILTER_BITS / 64];
};
extern struct rec_sampled_index rec_sampled;
static inline size_t rec_sset_home(const struct rec_sset *s, uintptr_t p)
{
    return (size_t)(((uint64_t)p * 0x9e3779b97f4a7c15u) >> 20) & s->mask;
}
/* The filter's bit for p: the hash's top bits (the table's home takes
 * lower ones). */
static inline size_t rec_sfilter_bit(uintptr_t p)
{
    return (size_t)(((uint64_t)p * 0x9e3779b97f4a7c15u) >> (64 - REC_SFILTER_LOG2));
}
/* 0 if p is not in the set; 1 if it is, or may be (a rebuild ran meanwhile:
 * ask again under the lock). No lock: the free of every block that is not
 * sampled asks, so it is inline -- a multiply and one load of the filter
 * for nearly all of them; two or three loads of the table more when its bit
 * is set (the table is at most a quarter full, keys and tombstones
 * together). A seqlock read: gen is loaded before (acquire) and after
 * (behind an acquire fence) the probe, and pairs with the writer's release
 * in sample.c. */
static inline int rec_sampled_has(const void *p)
{
    unsigned gen = atomic_load_explicit(&rec_sampled.gen, memory_order_acquire);
    size_t bit = rec_sfilter_bit((uintptr_t)p);
    uint64_t word = atomic_load_explicit(&rec_sampled.filter[bit / 64], memory_order_relaxed);
    int found = 0;
    if (word & ((uint64_t)1 << (bit % 64))) {
        struct rec_sset *s = atomic_load_explicit(&rec_sampled.table, memory_order_acquire);
        if (s == NULL)
            return 0;
        for (size_t i = rec_sset_home(s, (uintptr_t)p);; i = (i + 1) & s->mask) {
            uintptr_t v = atomic_load_explicit(&s->slots[i], memory_order_relaxed);
            if (v == 0)
                break;
            if (v == (uintptr_t)p) {
                found = 1;
                break;
            }
        }
    }
    atomic_thread_fence(memory_order_acquire);
    if (REC_UNLIKELY(atomic_load_explicit(&rec_sampled.gen, memory_order_relaxed) != gen ||
                     (gen & 1)))
        return 1;
    return found;
}
void rec_sample_after_fork_child(void);
/* About the number of blocks of the program live now, from the sampled ones
 * (each stands for about sample_bytes / its usable size of them): hooks.c
 * adds a sampled block's weight when it joins the set and takes it off when
 * it leaves. Only a cost hint (flusher.c: a heap that freed many blocks has
 * long free lists for mallinfo2 to walk), not a figure of the trace. */
void rec_sampled_weigh(size_t usable_bytes, int sign);
int64_t rec_sampled_live_estimate(void);

/* ---- per-thread buffers (thread.c) ---- */
struct rec_thread;

/* Make the buffer of the calling thread ready for a record of up to need bytes;
 * NULL when recording is off for this thread. Must be paired with
 * rec_thread_end() when non-NULL. */
struct rec_thread *rec_thread_begin(size_t need);
void rec_thread_end(struct rec_thread *t);
/* Cursor into t's buffer; the caller writes at most the `need` it asked for. */
uint8_t *rec_thread_cursor(struct rec_thread *t);
/* Commit bytes written up to p as one record with timestamp ts (0 = untimed);
 * meta marks the block as holding metadata. */
void rec_thread_commit(struct rec_thread *t, uint8_t *p, int meta);
/* Delta-coded pointer and timestamp helpers for the record being written. */
uint8_t *rec_thread_put_ptr(struct rec_thread *t, uint8_t *p, uint64_t ptr);
uint8_t *rec_thread_put_dt(struct rec_thread *t, uint8_t *p, uint64_t ts);
/* Append a metadata record: type, dt (from ts; none when ts is 0), then body[0..len).
 * Not to be called between rec_thread_begin() and rec_thread_end(). */
void rec_thread_append_meta(uint8_t type, uint64_t ts, const uint8_t *body, size_t len);

int rec_thread_init(int fd);
/* The background flusher: write out every buffer that holds records (and
 * every block handed off), taking each for one writev (busy 3); never blocks
 * an owner for longer. A buffer busy with a record is waited for a few turns,
 * or with wait_ns up to that long. 1 when every buffer was written out
 * whole, 0 when one was left for the next interval. */
int rec_thread_flush_idle(uint64_t wait_ns);
/* Around the stamp of a record and its commit (flusher.c, watermarks): make
 * the calling thread's buffer if it has none (before the stamp), and mark it
 * pending until rec_thread_stamp_end, which comes after rec_thread_end. NULL
 * when the buffer cannot be had; rec_thread_stamp_end(NULL) does nothing. */
struct rec_thread *rec_thread_stamp_begin(void);
void rec_thread_stamp_end(struct rec_thread *t);
/* Close the calling thread's open stamp window (1), if it has one (0), for
 * a while: rec_thread_stamp_begin opens it again (signal.c). */
int rec_thread_stamp_pause(void);
/* The flusher's watermark pass: wait until every buffer that was pending when
 * called (a record stamped, not yet committed) has moved on. 0 when one is
 * still at it at deadline_ns (rec_now_ns). */
int rec_thread_wait_pending(uint64_t deadline_ns);
/* Write out the calling thread's buffer (the flusher's own). */
void rec_thread_flush_own(void);
/* Flush every thread's buffer (exit, _exit, fatal paths). */
void rec_thread_flush_all(void);
/* From here on the recorder may be running in a signal handler that
 * interrupted one of its own critical sections: locks are waited for a
 * bounded time only, and the calling thread's buffer is written even if the
 * handler interrupted a record (the record in progress is dropped). */
void rec_thread_enter_signal(void);
/* After fork, in the child: forget the parent's threads and buffers. */
void rec_thread_after_fork_child(int fd);
uint64_t rec_thread_events(void);
void rec_lost_add(uint64_t n);
void rec_lost_sub(uint64_t n);
uint64_t rec_lost(void);
/* Stop recording after a failure; says why once. */
void rec_fail(const char *why, const char *detail);
/* 1 once rec_fail() has stopped the recording (and said why). */
int rec_failed(void);

/* The flusher's side of handing off full buffers (compression only). The
 * flusher, once running, calls rec_thread_handoff_start() (1: owners hand
 * off from now on), then waits with rec_thread_handoff_wait() (0 when an
 * owner handed a buffer over, -ETIMEDOUT at the deadline, -EINTR) and
 * writes what was handed over with rec_thread_write_handoffs(). */
struct timespec;
int rec_thread_handoff_start(void);
int rec_thread_handoff_wait(const struct timespec *deadline);
void rec_thread_write_handoffs(void);

/* ---- compression (compress.c) ---- */
struct rec_zctx;
/* Read MEMAUDIT_COMPRESS and load libzstd; 1 when blocks are to be compressed. */
int rec_compress_init(void);
/* A compression context for payloads of up to max_in bytes, all of it from
 * mmap; NULL without compression or memory. Used by one thread at a time. */
struct rec_zctx *rec_zctx_new(size_t max_in);
/* Compress src[0..len) into the context's buffer (*out); its size, or 0 when
 * it would not save anything (then the block is written as it is). */
size_t rec_zctx_compress(struct rec_zctx *z, const uint8_t *src, size_t len, const uint8_t **out);

/* ---- stacks (stack.c) ---- */
int rec_stack_init(void);
/* Capture the caller's stack and return its id (0 if it cannot be had).
 * Emits a STACK record into the calling thread's buffer when new. */
uint32_t rec_stack_capture(uint64_t ts);
void rec_stack_after_fork_child(void);
/* With MEMAUDIT_CROSSCHECK=1: one line on stderr, how many stacks were
 * compared with a full walk and how many disagreed. Nothing otherwise. */
void rec_stack_crosscheck_say(void);
/* Bumped after dlclose: stacks are never shared across epochs. */
extern _Atomic uint32_t rec_epoch;

/* ---- call frame information (cfi.c) ---- */
/* How to step from a frame whose code address is pc (for a caller's frame,
 * its return address - 1) to its caller, packed in 64 bits:
 *   bits 0-1  REC_CFI_STEP, REC_CFI_END (outermost frame) or REC_CFI_NONE
 *             (not a rule the recorder follows itself: walk with libunwind)
 *   bit 2     REC_CFI_CFA_RBP: CFA = RBP + cfa_off, else RSP + cfa_off
 *   bit 3     REC_CFI_RBP_SAVED: the caller's RBP is at CFA + rbp_off, else
 *             RBP is unchanged
 *   bits 16-31 rbp_off (int16), bits 32-63 cfa_off (int32, > 0)
 * The return address is always at CFA - 8 in a STEP rule. Lock-free; the
 * first lookup of an address reads .eh_frame (~1-3 us), later ones are one
 * probe of a table shared by all threads. */
#define REC_CFI_STEP 1u
#define REC_CFI_END 2u
#define REC_CFI_NONE 3u
#define REC_CFI_KIND(r) ((unsigned)((r) & 3u))
#define REC_CFI_CFA_RBP 4u
#define REC_CFI_RBP_SAVED 8u
#define REC_CFI_RBP_OFF(r) ((int64_t)(int16_t)(uint16_t)((r) >> 16))
#define REC_CFI_CFA_OFF(r) ((int64_t)(int32_t)(uint32_t)((r) >> 32))
uint64_t rec_cfi_rule(uintptr_t pc, uint32_t epoch);
/* What the rules are kept by: the address, and the module epoch
 * above it (a user-space address is below 2^47). */
static inline uint64_t rec_cfi_key(uintptr_t pc, uint32_t epoch)
{
    return (uint64_t)pc | ((uint64_t)(epoch & 0xffff) << 47);
}

/* ---- module map (module.c) ---- */
/* Write a MODULES snapshot of the current epoch, stamped ts, into the calling thread. */
void rec_modules_snapshot(uint64_t ts);
/* Write a SYMBOLS record (exported functions, from memory) for every module
 * whose file has been deleted, once each. Before dlclose and at shutdown. */
void rec_modules_save_deleted(void);
/* 1 if addr lies in a module of the last snapshot. */
int rec_modules_contains(uintptr_t addr);
int rec_modules_init(void);
/* The executable's path, read once by rec_modules_init from /proc/self/exe
 * ("" when it cannot be had); the same in a fork child. */
const char *rec_modules_exe_path(void);
/* After fork, in the child: the lock may have been held by a thread that
 * does not exist there. */
void rec_modules_after_fork_child(void);
/* The recorder's own text range, for stripping its frames. */
extern uintptr_t rec_self_lo, rec_self_hi;

/* ---- background flusher and memory samples (flusher.c) ---- */
/* Start the thread that flushes buffers and writes a SAMPLE every ms
 * milliseconds (nothing when ms is 0). Call under the guard. */
void rec_flusher_start(unsigned ms);
/* Sampling mode has no background thread: a thread would make glibc's
 * malloc take its arena lock on every call (~10 ns, 5-10% of an
 * allocation-heavy program, more than sampling itself costs). Its work is
 * done by the recording threads instead: after an event stamped ts, when
 * the period is due, a memory sample and a flush of the idle buffers.
 * rec_tick_next_ns is UINT64_MAX when the thread does that work. */
extern _Atomic uint64_t rec_tick_next_ns;
void rec_flusher_tick_slow(uint64_t ts);
static inline void rec_flusher_tick(uint64_t ts)
{
    if (REC_UNLIKELY(ts >= atomic_load_explicit(&rec_tick_next_ns, memory_order_relaxed)))
        rec_flusher_tick_slow(ts);
}

/* ---- life cycle (hooks.c) and fatal signals (signal.c) ---- */
/* The calling thread's guard: its allocator calls pass through untracked. */
void rec_guard_enter(void);
void rec_guard_leave(void);
/* Flush everything and write END for a death by signal sig. */
void rec_shutdown_on_signal(int sig);
/* Take over the fatal signals that are at their default action. */
void rec_signals_init(void);
/* Around a signal handler of the target (signal.c): its allocator calls are
 * counted as lost when it interrupted the recorder in the same thread. */
int rec_handler_enter(void);
void rec_handler_leave(int saved);
/* Around a handler of a signal that libc raised inside the allocator call
 * of a hook (guard REC_GUARD_CALL or _CALL_RECORDED): the recorder holds
 * nothing then, so the handler's own calls are recorded as any; a realloc's
 * open stamp window is closed for the handler's time and opened again after
 * it; and the interrupted call's event counts as lost until the handler
 * returns -- for good when it siglongjmps out, abandoning the call. */
struct rec_call_pause {
    int guard;
    int stamped;
};
void rec_call_pause(struct rec_call_pause *s, int guard);
void rec_call_resume(const struct rec_call_pause *s);

/* ---- blocks allocated by the recorder's machinery (internal.c) ---- */
/* Remember p, allocated under the guard, so that a later free of it by libc
 * (from any thread) is not taken for an event of the target. */
void rec_internal_add(const void *p);
int rec_internal_take_slow(const void *p);
extern _Atomic unsigned rec_internal_live;
/* 1 if p was remembered (and now is forgotten). */
static inline int rec_internal_take(const void *p)
{
    if (REC_LIKELY(atomic_load_explicit(&rec_internal_live, memory_order_relaxed) == 0))
        return 0;
    return rec_internal_take_slow(p);
}

#endif
