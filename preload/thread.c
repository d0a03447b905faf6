/* thread.c — per-thread event buffers and the path from them to the trace.
 *
 * Each thread owns one buffer (mmap'd, never from the malloc we intercept) and
 * appends records to it with no lock and no syscall. A full buffer is written
 * out by its owner as one block with one write(2) under a mutex that is only
 * taken once per megabyte of events; nothing is dropped.
 *
 * Ownership: t->busy is 0 when the buffer is idle, 1 while its owner writes a
 * record, 2 once shutdown has taken it over, 3 while the background flusher
 * (flusher.c) writes it out. The owner enters with a CAS 0→1 and leaves with a
 * release store of 0; shutdown takes an idle buffer with a CAS 0→2, after
 * which the owner's CAS fails and it records nothing more. The flusher takes
 * an idle buffer with a CAS 0→3 for one writev and gives it back with a
 * release store of 0; an owner whose CAS meets 3 waits that out (the slow path
 * of rec_thread_begin), so the owner's fast path stays one CAS. So a buffer is
 * never written by two threads, even while other threads are still
 * allocating during exit.
 *
 * Buffers of exited threads go to a free list and are reused (with a new
 * serial) by new threads, so hundreds of short-lived threads cost a few
 * buffers, not hundreds.
 *
 * With compression (MEMAUDIT_COMPRESS, compress.c) and the flusher running,
 * a full buffer is handed to the flusher instead: the owner numbers the
 * block, swaps in its spare buffer, publishes the full one (t->handoff 0→1,
 * release) and wakes the flusher, which takes it (1→2, acquire), compresses
 * and writes it, and gives the spare back (2→0, release; the owner looks
 * with acquire before it swaps again). The flusher takes an idle buffer's
 * records the same way (straight to 2), so an owner never waits for a
 * compression. An owner whose spare is still out writes its block itself,
 * compressed with the shared context under write_lock; so does every other
 * writer (thread exit, shutdown, no flusher). Shutdown writes a handed-off
 * block the flusher has not taken, and waits out one it is writing. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "rec.h"

#define BUF_BYTES (1u << 20)

struct rec_thread {
    _Atomic int busy;
    /* A sequence count: odd while the owner is between taking a stamp and
     * committing (rec_thread_end) the record it stamps, even otherwise.
     * Written by the owner only (relaxed going odd, release going even),
     * read by the flusher's watermark pass (acquire), which waits for an odd
     * value to change, not for an even one: the owner may be in its next
     * record by then, whose stamp is later than the watermark. */
    _Atomic uint32_t pending;
    int thread_due; /* the THREAD record is still to be written */
    int in_use; /* owned by a live (or exiting) thread; registry_lock */
    uint32_t serial;
    uint32_t seq;
    uint32_t n_records;
    uint32_t flags;
    uint64_t first_ns;
    uint64_t clock_ns; /* timestamp of the last timed record */
    uint64_t prev_ptr; /* last pointer field, for delta coding */
    int fresh;         /* no timed record in this block yet */
    size_t len;
    /* Events committed into this buffer, by every thread that owned it: the
     * owner's counter, not a shared one, so that no cache line moves between
     * CPUs per event. Written by the owner only (a relaxed load and store,
     * no locked instruction), summed by rec_thread_events(). */
    _Atomic uint64_t events;
    struct rec_thread *next; /* registry of every buffer ever made */
    uint8_t *payload;        /* the records being appended to */
    uint8_t *spare;          /* the other buffer (compression only; mmap'd when first needed) */
    _Atomic int handoff;     /* spare holds a block: 0 no, 1 for the flusher, 2 being written */
    struct {                 /* that block (written by whoever moves handoff to 1 or 2) */
        size_t len;
        uint32_t serial, seq, n_records, flags;
        uint64_t first_ns;
    } pend;
    uint8_t mem[];
};

_Atomic int rec_state = REC_EARLY;

static __thread struct rec_thread *tls_self __attribute__((tls_model("initial-exec")));

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rec_thread *registry;
static uint32_t next_serial = 1; /* registry_lock */
static int trace_fd = -1;
static pthread_key_t exit_key;
static int exit_key_ok;
static _Atomic uint64_t lost_events;
static _Atomic int failed_once;
static _Atomic int in_signal;
static struct rec_zctx *z_shared;  /* write_lock; NULL: no compression */
static struct rec_zctx *z_flusher; /* the flusher thread's own */
static _Atomic int handoff_on;     /* full buffers go to the flusher */
static sem_t handoff_sem;          /* posted at each handoff, waited for by the flusher */

/* Lock m; in a signal handler, give up after about half a second and go on
 * without it (1 is returned when m is held). Writes to the trace are whole
 * writev calls on an O_APPEND file, so going on cannot interleave records. */
static int lock(pthread_mutex_t *m)
{
    if (REC_LIKELY(!atomic_load_explicit(&in_signal, memory_order_relaxed))) {
        pthread_mutex_lock(m);
        return 1;
    }
    for (int i = 0; i < 1000; i++) {
        if (pthread_mutex_trylock(m) == 0)
            return 1;
        rec_nap_ns(500000);
    }
    return 0;
}

static void unlock(pthread_mutex_t *m, int held)
{
    if (held)
        pthread_mutex_unlock(m);
}

void rec_thread_enter_signal(void)
{
    atomic_store(&in_signal, 1);
}

void rec_lost_add(uint64_t n)
{
    atomic_fetch_add_explicit(&lost_events, n, memory_order_relaxed);
}

void rec_lost_sub(uint64_t n)
{
    atomic_fetch_sub_explicit(&lost_events, n, memory_order_relaxed);
}

uint64_t rec_lost(void)
{
    return atomic_load_explicit(&lost_events, memory_order_relaxed);
}

/* No registry_lock: like the flusher, a walk of nodes that are never removed
 * and are published whole. Exact once the owners have stopped recording
 * (shutdown), a close figure before. */
uint64_t rec_thread_events(void)
{
    uint64_t n = 0;
    for (struct rec_thread *t = __atomic_load_n(&registry, __ATOMIC_ACQUIRE); t; t = t->next)
        n += atomic_load_explicit(&t->events, memory_order_relaxed);
    return n;
}

int rec_failed(void)
{
    return atomic_load(&failed_once);
}

void rec_fail(const char *why, const char *detail)
{
    atomic_store(&rec_state, REC_OFF);
    if (atomic_exchange(&failed_once, 1) == 0)
        rec_say(why, detail ? ": " : "", detail ? detail : "",
                "; recording stopped, the program carries on", NULL);
}

static void block_reset(struct rec_thread *t)
{
    t->len = 0;
    t->n_records = 0;
    t->flags = 0;
    t->prev_ptr = 0;
    t->first_ns = 0;
    t->clock_ns = 0;
    t->fresh = 1;
}

/* writev by the system call: glibc's writev is a cancellation point, and
 * this runs inside the program's malloc and free, which are none. A thread
 * cancelled here (deferred cancellation, at its owner's write of a full
 * buffer) would leave write_lock held for good: every later write of the
 * trace, and its END, waits forever. */
static int write_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = syscall(SYS_writev, fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

/* Write payload as block seq of thread serial. With z (the flusher's own
 * context) it is compressed before write_lock is taken; without, with the
 * shared context under write_lock, or not at all when that lock could not
 * be had (a signal handler that interrupted its holder). */
static void block_emit(const uint8_t *payload, size_t len, uint32_t serial, uint32_t seq,
                       uint32_t n_records, uint32_t flags, uint64_t first_ns,
                       struct rec_zctx *z)
{
    if (len == 0)
        return;
    if (trace_fd < 0) {
        /* Only before the constructor opened the trace: nowhere to go. */
        rec_lost_add(n_records);
        return;
    }
    struct tr_block_header h = {
        .magic = TR_BLOCK_MAGIC,
        .thread = serial,
        .seq = seq,
        .payload_bytes = (uint32_t)len,
        .n_records = n_records,
        .flags = flags,
        .first_ns = first_ns,
    };
    const uint8_t *zout = NULL;
    size_t zn = 0;
    uint32_t raw = (uint32_t)len; /* little-endian on every target we build for */
    int saved = errno;
    if (z)
        zn = rec_zctx_compress(z, payload, len, &zout);
    int held = lock(&write_lock);
    if (!z && held && z_shared)
        zn = rec_zctx_compress(z_shared, payload, len, &zout);
    struct iovec iov[3] = {{&h, sizeof(h)}, {(void *)payload, len}, {NULL, 0}};
    int n_iov = 2;
    if (zn) {
        h.flags |= TR_BLOCK_ZSTD;
        h.payload_bytes = (uint32_t)(4 + zn);
        iov[1] = (struct iovec){&raw, 4};
        iov[2] = (struct iovec){(void *)zout, zn};
        n_iov = 3;
    }
    int rc = write_all(trace_fd, iov, n_iov);
    unlock(&write_lock, held);
    if (rc < 0)
        rec_fail("cannot write the trace", strerror(-rc));
    errno = saved;
}

/* Write t's records as its next block. Caller owns t. */
static void flush_locked(struct rec_thread *t, struct rec_zctx *z)
{
    if (t->len > 0)
        block_emit(t->payload, t->len, t->serial, t->seq++, t->n_records, t->flags, t->first_ns, z);
    block_reset(t);
}

/* Caller owns t, which holds records. Number them as t's next block, move
 * them to the spare buffer and set handoff to state (1: for the flusher, 2:
 * the caller, the flusher, writes them now). 0 when the spare is still out
 * or cannot be had: the caller writes the block itself. */
static int hand_off(struct rec_thread *t, int state)
{
    if (atomic_load_explicit(&t->handoff, memory_order_acquire) != 0) /* pairs with pend_emit */
        return 0;
    if (!t->spare && !(t->spare = rec_mmap(BUF_BYTES)))
        return 0;
    t->pend.len = t->len;
    t->pend.serial = t->serial;
    t->pend.seq = t->seq++;
    t->pend.n_records = t->n_records;
    t->pend.flags = t->flags;
    t->pend.first_ns = t->first_ns;
    uint8_t *full = t->payload;
    t->payload = t->spare;
    t->spare = full;
    block_reset(t);
    atomic_store_explicit(&t->handoff, state, memory_order_release); /* pairs with pend_take */
    return 1;
}

/* Write the handed-off block of t (handoff is 2, held by the caller) and
 * give the spare back. */
static void pend_emit(struct rec_thread *t, struct rec_zctx *z)
{
    block_emit(t->spare, t->pend.len, t->pend.serial, t->pend.seq, t->pend.n_records,
               t->pend.flags, t->pend.first_ns, z);
    atomic_store_explicit(&t->handoff, 0, memory_order_release); /* pairs with hand_off */
}

/* Take a block handed to the flusher (1→2). */
static int pend_take(struct rec_thread *t)
{
    int v = 1;
    return atomic_compare_exchange_strong_explicit(&t->handoff, &v, 2, memory_order_acquire,
                                                   memory_order_relaxed);
}

/* The owner's buffer is full: hand it to the flusher, or write it. */
static __attribute__((noinline)) void buffer_full(struct rec_thread *t)
{
    if (atomic_load_explicit(&handoff_on, memory_order_relaxed) && hand_off(t, 1)) {
        sem_post(&handoff_sem); /* a futex wake: once per MiB of records */
        return;
    }
    flush_locked(t, NULL);
}

static void thread_exit_flush(void *arg);

static struct rec_thread *thread_new(void)
{
    struct rec_thread *t = NULL;
    pthread_mutex_lock(&registry_lock);
    for (struct rec_thread *r = registry; r; r = r->next) {
        if (!r->in_use) {
            t = r;
            break;
        }
    }
    if (t) {
        /* A buffer from the free list: the flusher may hold it for a moment
         * (it finds it empty). Own it while resetting it. */
        int idle = 0;
        while (!atomic_compare_exchange_weak_explicit(&t->busy, &idle, 1, memory_order_acquire,
                                                      memory_order_relaxed)) {
            if (idle == 2)
                break; /* shutdown: recording is over, nothing reads it again */
            idle = 0;
            sched_yield();
        }
    } else {
        t = rec_mmap(sizeof(*t) + BUF_BYTES);
        if (t) {
            t->payload = t->mem;
            t->next = registry;
            /* The flusher walks the list without registry_lock: publish the
             * node whole (pairs with the acquire in rec_thread_flush_idle). */
            __atomic_store_n(&registry, t, __ATOMIC_RELEASE);
        }
    }
    if (t) {
        t->in_use = 1;
        t->serial = next_serial++;
        t->seq = 0;
        t->thread_due = 1;
        block_reset(t);
        atomic_store_explicit(&t->busy, 0, memory_order_release);
    }
    pthread_mutex_unlock(&registry_lock);
    if (!t) {
        rec_fail("out of memory for a thread buffer", NULL);
        return NULL;
    }
    /* The key's destructor flushes the buffer when the thread exits. */
    if (exit_key_ok)
        pthread_setspecific(exit_key, t);
    return t;
}

/* One turn of a wait for another thread (spin counts them from 0): the first
 * 64 yield (the other may be queued on this CPU), later ones sleep 50 us, so
 * that a long wait leaves the CPU to others. */
static void wait_turn(unsigned spin)
{
    if (spin < 64) {
        sched_yield();
    } else {
        rec_nap_ns(50000);
    }
}

/* The owner's CAS 0→1 failed. 3: the flusher is writing the buffer out, for
 * one writev; wait for it (bounded: a writev that takes seconds means the
 * disk is gone, and then the event is counted lost rather than the target
 * made to hang). 2: shutdown took the buffer for good. */
static __attribute__((noinline)) int begin_slow(struct rec_thread *t)
{
    for (unsigned spin = 0; spin < 100000; spin++) {
        int v = atomic_load_explicit(&t->busy, memory_order_relaxed);
        if (v == 0) {
            if (atomic_compare_exchange_weak_explicit(&t->busy, &v, 1, memory_order_acquire,
                                                      memory_order_relaxed))
                return 1;
            continue;
        }
        if (v != 3)
            return 0;
        wait_turn(spin);
    }
    return 0;
}

/* The calling thread's buffer, made when it has none yet. */
static inline struct rec_thread *thread_self(void)
{
    struct rec_thread *t = tls_self;
    if (REC_UNLIKELY(!t)) {
        t = thread_new();
        tls_self = t;
    }
    return t;
}

struct rec_thread *rec_thread_stamp_begin(void)
{
    struct rec_thread *t = thread_self();
    if (REC_LIKELY(t != NULL)) {
        uint32_t v = atomic_load_explicit(&t->pending, memory_order_relaxed);
        atomic_store_explicit(&t->pending, v + 1, memory_order_relaxed);
        /* The stamp's read comes after the store in program order; that is
         * all the watermark needs (flusher.c): no fence. Nor may the
         * compiler move the store below the read. */
        atomic_signal_fence(memory_order_seq_cst);
    }
    return t;
}

void rec_thread_stamp_end(struct rec_thread *t)
{
    if (REC_LIKELY(t != NULL)) {
        uint32_t v = atomic_load_explicit(&t->pending, memory_order_relaxed);
        /* pairs with the acquire in wait_pending: the record is committed */
        atomic_store_explicit(&t->pending, v + 1, memory_order_release);
    }
}

int rec_thread_stamp_pause(void)
{
    struct rec_thread *t = tls_self;
    if (t == NULL)
        return 0;
    uint32_t v = atomic_load_explicit(&t->pending, memory_order_relaxed);
    if (!(v & 1))
        return 0;
    /* pairs with the acquire in wait_pending: nothing is committed, and the
     * stamp taken is not used (rec_call_resume takes another) */
    atomic_store_explicit(&t->pending, v + 1, memory_order_release);
    return 1;
}

struct rec_thread *rec_thread_begin(size_t need)
{
    struct rec_thread *t = thread_self();
    if (REC_UNLIKELY(!t))
        return NULL;
    int idle = 0;
    if (!atomic_compare_exchange_strong_explicit(&t->busy, &idle, 1, memory_order_acquire,
                                                 memory_order_relaxed) &&
        !begin_slow(t))
        return NULL; /* taken over by shutdown */
    if (REC_UNLIKELY(t->len + need + 16 > BUF_BYTES))
        buffer_full(t);
    if (REC_UNLIKELY(t->thread_due)) {
        t->thread_due = 0;
        uint8_t *p = t->payload + t->len;
        *p++ = TR_REC_THREAD;
        p = tr_put_u64(p, 0); /* dt 0: takes the clock of the record that follows */
        p = tr_put_u64(p, (uint64_t)syscall(SYS_gettid));
        t->len = (size_t)(p - t->payload);
        t->n_records++;
        t->flags |= TR_BLOCK_HAS_META;
        t->fresh = 2; /* the next timed record sets the block clock and the THREAD's */
    }
    return t;
}

void rec_thread_end(struct rec_thread *t)
{
    atomic_store_explicit(&t->busy, 0, memory_order_release);
}

uint8_t *rec_thread_cursor(struct rec_thread *t)
{
    return t->payload + t->len;
}

uint8_t *rec_thread_put_dt(struct rec_thread *t, uint8_t *p, uint64_t ts)
{
    if (t->fresh) {
        t->first_ns = ts;
        t->clock_ns = ts;
        t->fresh = 0;
    }
    uint64_t dt = ts >= t->clock_ns ? ts - t->clock_ns : 0;
    if (ts > t->clock_ns)
        t->clock_ns = ts;
    return tr_put_u64(p, dt);
}

uint8_t *rec_thread_put_ptr(struct rec_thread *t, uint8_t *p, uint64_t ptr)
{
    p = tr_put_i64(p, (int64_t)(ptr - t->prev_ptr));
    t->prev_ptr = ptr;
    return p;
}

void rec_thread_commit(struct rec_thread *t, uint8_t *p, int meta)
{
    t->len = (size_t)(p - t->payload);
    t->n_records++;
    if (meta)
        t->flags |= TR_BLOCK_HAS_META;
    else
        atomic_store_explicit(&t->events, atomic_load_explicit(&t->events, memory_order_relaxed) + 1,
                              memory_order_relaxed); /* only the owner writes it */
}

void rec_thread_append_meta(uint8_t type, uint64_t ts, const uint8_t *body, size_t len)
{
    size_t total = len + 16;
    if (total + 16 > BUF_BYTES) {
        rec_lost_add(1);
        return;
    }
    struct rec_thread *t = rec_thread_begin(total);
    if (!t)
        return;
    uint8_t *p = rec_thread_cursor(t);
    *p++ = type;
    if (ts)
        p = rec_thread_put_dt(t, p, ts);
    memcpy(p, body, len);
    rec_thread_commit(t, p + len, 1);
    rec_thread_end(t);
}

static void thread_exit_flush(void *arg)
{
    struct rec_thread *t = arg;
    if (t != tls_self)
        return;
    int idle = 0;
    if (atomic_compare_exchange_strong(&t->busy, &idle, 1) || begin_slow(t)) {
        flush_locked(t, NULL);
        pthread_mutex_lock(&registry_lock);
        t->in_use = 0;
        pthread_mutex_unlock(&registry_lock);
        atomic_store_explicit(&t->busy, 0, memory_order_release);
    }
    /* Allocations made by later destructors of this thread start a new buffer. */
    tls_self = NULL;
}

int rec_thread_init(int fd)
{
    trace_fd = fd;
    if (rec_compress_init() && !z_shared) {
        z_shared = rec_zctx_new(BUF_BYTES);
        z_flusher = rec_zctx_new(BUF_BYTES);
        if (!z_shared || !z_flusher)
            rec_say("out of memory for compression; writing the trace uncompressed", NULL);
    }
    if (!exit_key_ok && pthread_key_create(&exit_key, thread_exit_flush) == 0)
        exit_key_ok = 1;
    if (exit_key_ok && tls_self)
        pthread_setspecific(exit_key, tls_self);
    return 0;
}

/* Take over t from its owner, waiting a bounded time for a record in progress. */
static int take_over(struct rec_thread *t)
{
    for (unsigned spin = 0; spin < 200000; spin++) {
        int v = atomic_load(&t->busy);
        if (v == 2)
            return 0; /* (3, the flusher, gives it back after one writev) */
        if (v == 0 && atomic_compare_exchange_strong(&t->busy, &v, 2))
            return 1;
        if (spin % 64 == 63)
            sched_yield();
    }
    return 0;
}

/* Write t's handed-off block, if any: take it from the flusher's queue, or
 * wait while the flusher writes it — a compression and one writev, a few
 * ms; bounded (about 2 s) for a disk that hangs. */
static void pend_flush(struct rec_thread *t)
{
    for (unsigned spin = 0; spin < 40000; spin++) {
        int v = atomic_load_explicit(&t->handoff, memory_order_acquire);
        if (v == 0)
            return;
        if (v == 1 && pend_take(t)) {
            pend_emit(t, NULL);
            return;
        }
        wait_turn(spin);
    }
    rec_lost_add(t->pend.n_records);
}

void rec_thread_flush_all(void)
{
    struct rec_thread *self = tls_self;
    int held = lock(&registry_lock);
    for (struct rec_thread *t = registry; t; t = t->next)
        pend_flush(t); /* exited threads' too */
    for (struct rec_thread *t = registry; t; t = t->next) {
        if (!t->in_use || t == self)
            continue;
        if (take_over(t))
            flush_locked(t, NULL);
        else
            rec_lost_add(t->n_records);
    }
    unlock(&registry_lock, held);
    if (self) {
        int idle = 0;
        if (atomic_compare_exchange_strong(&self->busy, &idle, 1) || (idle == 3 && begin_slow(self))) {
            flush_locked(self, NULL);
            atomic_store_explicit(&self->busy, 0, memory_order_release);
        } else if (idle == 1) {
            /* A handler interrupted this thread inside a record (a fatal
             * signal; or one that left the record with siglongjmp, after a
             * fault in the recorder's own code): what is committed (t->len)
             * is whole; the record in progress is lost. */
            rec_lost_add(1);
            flush_locked(self, NULL);
        }
    }
}

/* Take t for the flusher, waiting while its owner finishes a record (a
 * record is a few hundred ns; a thread that allocates without pause still
 * leaves gaps): 64 turns, or with wait_ns that long. 0 when it stays busy
 * (it is tried again next interval) or shutdown has it. */
static int flusher_take(struct rec_thread *t, uint64_t wait_ns)
{
    uint64_t deadline_ns = 0;
    for (unsigned spin = 0;; spin++) {
        int v = atomic_load_explicit(&t->busy, memory_order_relaxed);
        if (v == 0 && atomic_compare_exchange_weak_explicit(&t->busy, &v, 3, memory_order_acquire,
                                                            memory_order_relaxed))
            return 1;
        if (v == 2)
            return 0;
        if (wait_ns == 0 && spin >= 63)
            return 0;
        if (wait_ns != 0) {
            uint64_t now = rec_now_ns();
            if (deadline_ns == 0)
                deadline_ns = now + wait_ns;
            else if (now >= deadline_ns)
                return 0;
        }
        wait_turn(spin);
    }
}

int rec_thread_flush_idle(uint64_t wait_ns)
{
    int whole = 1;
    /* No registry_lock: nodes are never removed and are published whole
     * (thread_new); a buffer not in use is empty and written as nothing. */
    for (struct rec_thread *t = __atomic_load_n(&registry, __ATOMIC_ACQUIRE); t; t = t->next) {
        if (atomic_load_explicit(&rec_state, memory_order_relaxed) != REC_ON ||
            atomic_load_explicit(&in_signal, memory_order_relaxed))
            return 0; /* shutdown owns the buffers now */
        if (pend_take(t))
            pend_emit(t, z_flusher); /* its owner's spare comes back sooner */
        if (!flusher_take(t, wait_ns)) {
            whole = 0;
            continue;
        }
        /* The owner handed a block off since the pend_take above: it holds
         * older records than the buffer, and goes first. */
        if (pend_take(t))
            pend_emit(t, z_flusher);
        /* A partial block: blocks carry seq, the reader joins them. With
         * compression, the records move to the spare first, so that the
         * owner does not wait while they are compressed. */
        if (t->len > 0 && atomic_load_explicit(&handoff_on, memory_order_relaxed) &&
            hand_off(t, 2)) {
            atomic_store_explicit(&t->busy, 0, memory_order_release); /* pairs with begin's CAS */
            pend_emit(t, z_flusher);
            continue;
        }
        if (t->len > 0)
            flush_locked(t, z_flusher);
        atomic_store_explicit(&t->busy, 0, memory_order_release); /* pairs with begin's CAS */
    }
    return whole;
}

int rec_thread_wait_pending(uint64_t deadline_ns)
{
    for (struct rec_thread *t = __atomic_load_n(&registry, __ATOMIC_ACQUIRE); t; t = t->next) {
        /* pairs with the release in rec_thread_stamp_end */
        uint32_t v = atomic_load_explicit(&t->pending, memory_order_acquire);
        for (unsigned spin = 0;
             (v & 1) && atomic_load_explicit(&t->pending, memory_order_acquire) == v; spin++) {
            if (rec_now_ns() >= deadline_ns)
                return 0;
            wait_turn(spin);
        }
    }
    return 1;
}

void rec_thread_flush_own(void)
{
    struct rec_thread *t = tls_self;
    int idle = 0;
    if (t && atomic_compare_exchange_strong_explicit(&t->busy, &idle, 1, memory_order_acquire,
                                                     memory_order_relaxed)) {
        flush_locked(t, z_flusher);
        atomic_store_explicit(&t->busy, 0, memory_order_release);
    }
}

void rec_thread_write_handoffs(void)
{
    for (struct rec_thread *t = __atomic_load_n(&registry, __ATOMIC_ACQUIRE); t; t = t->next) {
        if (atomic_load_explicit(&rec_state, memory_order_relaxed) != REC_ON ||
            atomic_load_explicit(&in_signal, memory_order_relaxed))
            return; /* shutdown writes them */
        if (pend_take(t))
            pend_emit(t, z_flusher);
    }
}

int rec_thread_handoff_start(void)
{
    if (!z_shared || !z_flusher || sem_init(&handoff_sem, 0, 0) != 0)
        return 0;
    atomic_store(&handoff_on, 1);
    return 1;
}

int rec_thread_handoff_wait(const struct timespec *deadline)
{
    return sem_clockwait(&handoff_sem, CLOCK_MONOTONIC, deadline) == 0 ? 0 : -errno;
}

void rec_thread_after_fork_child(int fd)
{
    /* The parent writes its own unflushed events; the child starts clean with
     * only its own (the forking) thread. Locks may have been held by threads
     * that do not exist here: re-initialise them. */
    pthread_mutex_init(&registry_lock, NULL);
    pthread_mutex_init(&write_lock, NULL);
    next_serial = 1;
    for (struct rec_thread *t = registry; t; t = t->next) {
        t->in_use = 0;
        atomic_store(&t->busy, 0);
        atomic_store(&t->handoff, 0); /* the parent writes its own */
        atomic_store(&t->pending, 0);  /* a thread gone mid-record ends its record here */
        atomic_store(&t->events, 0);
    }
    atomic_store(&handoff_on, 0); /* until the child's flusher runs */
    tls_self = NULL;
    trace_fd = fd;
    atomic_store(&lost_events, 0);
}
