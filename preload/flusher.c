/* flusher.c — the recorder's background thread: bounds what SIGKILL loses,
 * and samples the process's memory.
 *
 * Every MEMAUDIT_INTERVAL_MS (default 50) the thread
 *   1. writes a SAMPLE record (RSS, and glibc's mallinfo2 figures) into its
 *      own buffer, and
 *   2. writes out every buffer that holds records, its own included, taking
 *      each idle buffer for one writev (busy 0→3, see thread.c).
 * So a kill -9 loses at most the events of the last interval or two: the
 * trace is read up to its last whole block and reported incomplete.
 * With compression (MEMAUDIT_COMPRESS) it also compresses and writes, in
 * between, every full buffer an owner hands over (thread.c), woken by the
 * owner; so the allocating threads never compress.
 *
 * Rules it keeps, because it runs beside a target that knows nothing of it:
 * - created under the guard, with every signal blocked (it never runs a
 *   handler of the target, and a process-directed signal goes elsewhere);
 * - it never allocates and holds no lock of the target's while it holds one
 *   of ours: mallinfo2 takes glibc's arena locks, so it runs alone, before
 *   any buffer is taken; write_lock is held for one writev only;
 * - it does not keep the process alive: when every other thread is gone
 *   (main returned through pthread_exit and the last worker ended, which
 *   natively ends the process with exit(0)), it calls exit(0) itself;
 * - it stops touching anything once recording is off (shutdown, failure);
 *   exit kills it wherever it is, and nothing it holds is needed then:
 *   shutdown waits out a buffer in state 3, which lasts one writev.
 * After fork the child has no flusher; hooks.c starts a new one.
 *
 * Watermarks (full mode, where membarrier's private expedited command can be
 * registered): each period the flusher reads W = rec_now_ns(), makes every
 * thread's records stamped before W reach the file, then writes WATERMARK(W)
 * in a block of its own: a reader may take every record stamped before W as
 * known (docs/trace-format.md, "Watermarks"). The pass, and why it holds:
 *   1. W = rec_now_ns_fenced(): the TSC read (rdtscp, or the vDSO's ordered
 *      read) is done before the next instruction starts (lfence).
 *   2. membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED): on return, every other
 *      thread of the process has, at some point after the call began, been
 *      interrupted (running) or switched out (not running), and each store
 *      it made in program order before that point is visible to us. A
 *      recording thread makes its pending word odd (rec_thread_stamp_begin,
 *      a plain store) before its stamp's read, in program order. An
 *      interrupt is precise: so either the store is before the thread's
 *      point, and we see it (or a later value), or the read is after it,
 *      hence after our read of W, and -- TSCs of all CPUs in step, the
 *      mapping never decreasing (clock.c (b), (c)) -- the stamp is not below
 *      W. So every record stamped below W is either committed or has an odd
 *      pending word that we see. (The same argument as clock.c's for bare
 *      reads; the first thread's bare rdtsc is covered too: a precise
 *      interrupt orders it against its earlier store like any instruction.)
 *   3. rec_thread_wait_pending: for each registered buffer, an odd pending
 *      word is waited for until it changes (release in rec_thread_stamp_end
 *      after the commit, acquire here): the record is then committed. Not
 *      "until even": the owner may be in its next record, stamped after W.
 *      A buffer registered after we read the list belongs to a thread whose
 *      first stamp comes after its registration (rec_thread_stamp_begin makes
 *      the buffer first), i.e. after the barrier: not below W.
 *   4. rec_thread_flush_idle(WM_WAIT_NS): a second walk of the list
 *      takes every buffer (busy 0->3, acquire: pairs with the owner's
 *      release in rec_thread_end, so it sees every record committed before)
 *      and every block handed off for compression, waiting out an owner busy
 *      with a new record rather than skipping it, and writes them, each
 *      writev done before the next. A STACK definition that an event below
 *      W uses is in a buffer before the entry is published (stack.c), so it
 *      is committed before the event is, and this second walk (which reads
 *      the list again, after step 3's acquire) writes it out too.
 *   5. WATERMARK(W) goes into our own buffer, written last: one O_APPEND
 *      file, writes in write_lock order, so it lands after all of the above.
 * A wait that does not end within WM_WAIT_NS (a thread stays mid-record:
 * preempted, in a long realloc, or waiting on a lock), or a membarrier that
 * fails, gives no WATERMARK this period; the flush goes on as always. W
 * increases: one thread reads it, with ordered reads, period after period.
 *
 * In sampling mode there is no thread (rec.h, rec_flusher_tick): a second
 * thread makes glibc lock its arena on every malloc and free, which costs
 * more than sampling does. The recording threads do its work when they
 * record an event and the period is due; so a sampled program that goes
 * idle keeps the events of its last period in memory until it exits, and a
 * kill -9 then loses them. */
#include <dlfcn.h>
#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "rec.h"

/* glibc's struct mallinfo2 (2.33+), declared here so that the recorder builds
 * and loads where <malloc.h> or libc lacks it; dlsym decides at run time. */
struct rec_mallinfo2 {
    size_t arena;    /* non-mmapped space obtained from the system, all arenas */
    size_t ordblks;  /* free chunks */
    size_t smblks;   /* free fastbin chunks */
    size_t hblks;    /* mmapped chunks */
    size_t hblkhd;   /* bytes in mmapped chunks */
    size_t usmblks;  /* (0) */
    size_t fsmblks;  /* bytes in free fastbin chunks */
    size_t uordblks; /* bytes in allocated chunks of the arenas */
    size_t fordblks; /* bytes in free chunks of the arenas (top chunks included) */
    size_t keepcost; /* the main arena's top chunk: what malloc_trim could give back */
};

/* How long a watermark pass waits for the threads to finish the records
 * they are in (all of them, in its first walk), and for one buffer busy
 * with a record (each, in its second). Longer than a few scheduler ticks: on
 * a loaded machine a thread preempted mid-record waits that long for a CPU,
 * or compresses a full buffer itself when the flusher is behind. */
#define WM_WAIT_NS 5000000u

static struct rec_mallinfo2 (*mallinfo2_fn)(void);
static unsigned interval_ms;
static uint64_t mallinfo_next_ns; /* not before this time */
static uint64_t mallinfo_first_ns; /* the first call's time (sampling mode's budget) */
static uint64_t mallinfo_spent_ns; /* in all calls */
static uint64_t mallinfo_cost_ns;  /* the last call's */
static uint64_t mallinfo_chunks;   /* the free chunks it counted (ordblks + smblks) */
static int64_t mallinfo_live;      /* rec_sampled_live_estimate() before it */
_Atomic uint64_t rec_tick_next_ns = UINT64_MAX;

/* mallinfo2 describes glibc's allocator: only worth reporting when the
 * malloc the recorder forwards to is glibc's own (not jemalloc, tcmalloc ...
 * linked in or preloaded after us). The same module by _dl_find_object (a
 * lookup in the loader's sorted table), not dladdr: that one also looks for
 * the nearest symbol, a walk of libc's symbol table that took 35 and 16 us
 * of every process's start. */
static void mallinfo_resolve(void)
{
    void *mi = dlsym(RTLD_NEXT, "mallinfo2");
    void *m = dlsym(RTLD_NEXT, "malloc");
    struct dl_find_object a, b;
    if (mi && m && _dl_find_object(mi, &a) == 0 && _dl_find_object(m, &b) == 0 &&
        a.dlfo_link_map == b.dlfo_link_map)
        memcpy(&mallinfo2_fn, &mi, sizeof(mi));
}

/* RSS in bytes, from the flusher's own task: /proc/self names the thread
 * group leader, whose statm reads 0 once main has called pthread_exit. */
static uint64_t rss_bytes(void)
{
    char buf[128];
    long n = rec_read_file("/proc/thread-self/statm", buf, sizeof(buf) - 1);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *p = buf;
    while (*p && *p != ' ') /* size */
        p++;
    while (*p == ' ')
        p++;
    uint64_t pages = 0;
    for (; *p >= '0' && *p <= '9'; p++)
        pages = pages * 10 + (uint64_t)(*p - '0');
    return pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Sampling mode: whether a mallinfo2 call now fits the budget of 1/400 of
 * the time since the first. Its cost is that of walking the free chunks: the
 * last call's, grown by the blocks freed since (each may be one more chunk
 * on a free list), times two. The freed blocks are the fall of the sampled
 * estimate of the live ones: python3 tearing down its objects frees most of
 * its heap in a few ms, into fast bins that are never coalesced, and a call
 * then walked 25 ms of lists after calls of 10-50 us (3% of its run). */
static int mallinfo_fits(uint64_t now)
{
    if (mallinfo_first_ns == 0)
        return 1;
    int64_t freed = mallinfo_live - rec_sampled_live_estimate();
    uint64_t cost = 2 * mallinfo_cost_ns;
    if (freed > 0)
        cost += 2 * mallinfo_cost_ns * (uint64_t)freed / (mallinfo_chunks + 1);
    return now - mallinfo_first_ns >= 400 * (mallinfo_spent_ns + cost);
}

static void write_sample(void)
{
    uint8_t body[16 + 6 * 10];
    uint64_t now = rec_now_ns();
    uint8_t *p = tr_put_u64(body, rss_bytes());
    /* mallinfo2 walks every free list under the arena's lock: in a heap of
     * millions of free chunks that is milliseconds during which the target's
     * malloc waits. Keep it under 1% of the time: after a call that took d,
     * the next waits at least 100 d (those samples carry RSS only). In
     * sampling mode the target's own thread makes the call, and a heap that
     * grows makes each call dearer than the last (python3's bench run spent
     * 2-3% in it): there all calls together, the next one's predicted cost
     * included (mallinfo_fits), stay under 1/400 of the time since the
     * first. */
    int sampling = rec_config.sample_bytes != 0;
    if (mallinfo2_fn && now >= mallinfo_next_ns && (!sampling || mallinfo_fits(now))) {
        if (mallinfo_first_ns == 0)
            mallinfo_first_ns = now;
        int64_t live = sampling ? rec_sampled_live_estimate() : 0;
        struct rec_mallinfo2 mi = mallinfo2_fn();
        uint64_t done = rec_now_ns();
        uint64_t cost = done - now;
        mallinfo_spent_ns += cost;
        mallinfo_next_ns = done + (sampling ? 400 : 100) * cost;
        mallinfo_cost_ns = cost;
        mallinfo_chunks = mi.ordblks + mi.smblks;
        mallinfo_live = live;
        p = tr_put_u64(p, 5);
        p = tr_put_u64(p, mi.arena);
        p = tr_put_u64(p, mi.hblkhd);
        p = tr_put_u64(p, mi.uordblks);
        p = tr_put_u64(p, mi.fordblks);
        p = tr_put_u64(p, mi.keepcost);
    } else {
        p = tr_put_u64(p, 0);
    }
    rec_thread_append_meta(TR_REC_SAMPLE, now, body, (size_t)(p - body));
}

/* 1 when this is the process's only live thread. /proc/self/stat is the
 * leader's: state Z once main has called pthread_exit; num_threads still
 * counts it (and us). */
static int alone(void)
{
    char buf[1024];
    long n = rec_read_file("/proc/self/stat", buf, sizeof(buf) - 1);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the name may hold spaces and ')' */
    if (!p || p[1] != ' ')
        return 0;
    p += 2;
    if (*p != 'Z')
        return 0;
    /* Fields after the state: 4 ppid ... 20 num_threads. */
    for (int field = 3; field < 20 && *p; p++)
        field += *p == ' ';
    long threads = 0;
    for (; *p >= '0' && *p <= '9'; p++)
        threads = threads * 10 + (*p - '0');
    return threads == 2;
}

/* Sleep until next; with handoffs on, write every buffer handed over
 * meanwhile as soon as it comes. */
static void wait_until(const struct timespec *next, int handoff)
{
    if (!handoff) {
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, next, NULL) == EINTR)
            ;
        return;
    }
    for (;;) {
        int rc = rec_thread_handoff_wait(next);
        if (rc == 0)
            rec_thread_write_handoffs(); /* nothing once recording is off */
        else if (rc != -EINTR)
            return;
    }
}

/* membarrier's private expedited command, registered (once per process;
 * the clock may have done it already): 1 when watermarks can be had. */
static int watermark_init(void)
{
    long q = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    return q > 0 && (q & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
           syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

/* Flush every buffer and, when each one could be written out whole after
 * every record stamped before W was committed, write WATERMARK(W): the pass
 * argued at the top of this file. */
static void flush_with_watermark(void)
{
    uint64_t w = rec_now_ns_fenced();
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0 ||
        !rec_thread_wait_pending(w + WM_WAIT_NS)) {
        rec_thread_flush_idle(0);
        return;
    }
    if (!rec_thread_flush_idle(WM_WAIT_NS))
        return;
    uint8_t body[16];
    uint8_t *p = tr_put_u64(body, w);
    rec_thread_append_meta(TR_REC_WATERMARK, 0, body, (size_t)(p - body));
    rec_thread_flush_own();
}

static void *flusher_main(void *arg)
{
    (void)arg;
    rec_clock_helper_thread();
    rec_guard_enter(); /* anything that allocates here is the recorder's */
    int handoff = rec_thread_handoff_start();
    int watermarks = watermark_init();
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (;;) {
        next.tv_nsec += (long)(interval_ms % 1000) * 1000000;
        next.tv_sec += interval_ms / 1000 + next.tv_nsec / 1000000000;
        next.tv_nsec %= 1000000000;
        wait_until(&next, handoff);
        int state = atomic_load_explicit(&rec_state, memory_order_acquire);
        if (state == REC_OFF)
            break;
        if (state != REC_ON)
            continue; /* the constructor is still setting up */
        write_sample();
        if (watermarks)
            flush_with_watermark();
        else
            rec_thread_flush_idle(0);
        if (alone()) {
            /* What glibc does when the last thread ends; our exit hook and
             * destructor finish the trace. */
            rec_guard_leave();
            exit(0);
        }
    }
    rec_guard_leave();
    return NULL;
}

/* One period's work, in a recording thread (sampling mode): the thread that
 * moves the deadline does it. Its buffer is idle (rec_thread_end), and no
 * lock of glibc's is held: the hooks record outside the real calls. */
void rec_flusher_tick_slow(uint64_t ts)
{
    uint64_t due = atomic_load_explicit(&rec_tick_next_ns, memory_order_relaxed);
    if (ts < due || !atomic_compare_exchange_strong(&rec_tick_next_ns, &due,
                                                    ts + (uint64_t)interval_ms * 1000000u))
        return;
    if (atomic_load_explicit(&rec_state, memory_order_acquire) != REC_ON)
        return;
    rec_guard_enter();
    write_sample();
    rec_thread_flush_idle(0);
    rec_guard_leave();
}

void rec_flusher_start(unsigned ms)
{
    interval_ms = ms;
    atomic_store(&rec_tick_next_ns, UINT64_MAX);
    if (ms == 0)
        return;
    if (!mallinfo2_fn)
        mallinfo_resolve();
    mallinfo_next_ns = 0;
    mallinfo_first_ns = 0;
    mallinfo_spent_ns = 0;
    mallinfo_cost_ns = 0;
    mallinfo_chunks = 0;
    mallinfo_live = 0;
    if (rec_config.sample_bytes != 0) {
        atomic_store(&rec_tick_next_ns, 0); /* the first recorded event ticks */
        return;
    }
    /* The new thread inherits the creator's mask: block everything around
     * the create, so it never runs with a signal open, not even briefly. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_t tid;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        /* Default stack size: the thread may end up running the target's
         * exit handlers (alone() above). Untouched pages cost no memory. */
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&tid, &attr, flusher_main, NULL);
        pthread_attr_destroy(&attr);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        rec_say("cannot start the background flusher (", strerror(rc),
                "); a kill -9 may lose up to 1 MiB of events per thread", NULL);
}
