/* sym_warm.c — open a process's symbol files while it still runs (sym_warm.h).
 *
 * Offline stage (symbolizer). One thread at the idle priority takes module
 * maps from a queue that other threads fill (sym_warm_add(): a copy, so the
 * caller's snapshot may change or go at once) and, once sym_warm_go() has
 * been called, opens the file of each module it has not tried yet
 * (sym_pool_open(), which hands the file to the symbolizer's pool at once),
 * at most SYM_POOL_MAX_FILES of them.
 *
 * Nothing may wait for this thread: at the idle priority it gets a CPU only
 * when nothing else on the machine wants one, which on a busy machine can
 * be seconds away (a thread parked in sem_wait needs one even to see that
 * it is to stop). So it holds no lock that another thread takes: the queue
 * is a lock-free stack with a semaphore posted for each item, the go and
 * the stop; sym_pool_open() hands the files over the same way; and
 * sym_warm_stop() waits for it only while it runs (on a CPU at least half
 * of each WARM_STOP_STEP_MS: then waiting for the file it is at costs less
 * than opening it again), else leaves it: the thread frees its part when it
 * ends.
 *
 * The files are read while the program runs, and the program may rewrite
 * one in place meanwhile (a plugin it dlclose'd, copied over with cp: the
 * same inode, truncated). libelf maps the files it reads, and a read of a
 * mapped page past the file's new end is a SIGBUS, which would end
 * memaudit. So the thread reads each file under a SIGBUS handler
 * (warm_open()) that takes it back out of sym_pool_open() when the fault
 * is its own; what sym_pool_open() had built is kept, never freed
 * (sym_pool_abandon(): libdw's state half-way through a read cannot be
 * freed safely; an inflate it was in loses zlib's state, some 7 KB), and
 * the warm-up stops there: the resolvers open what they need after the
 * end, when the program no longer writes. Any other SIGBUS does what it
 * did before the handler: the process dies of it. */
#include "sym_warm.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "symbolizer.h"

#define WARM_STOP_STEP_MS 5

struct warm_item {
    struct warm_item *next;
    struct mm_snapshot s; /* a copy, owned */
};

/* A file tried already: its module's path and build id. */
struct warm_tried {
    char *path;
    uint32_t build_id_len;
    uint8_t build_id[64];
};

struct sym_warm {
    pthread_t thread;
    sem_t posted;             /* once per item pushed, for the go and for the stop */
    struct warm_item *pushed; /* newest first (atomic: a lock-free stack) */
    struct warm_item *queue;  /* the thread's: taken from pushed (each batch oldest
                               * first, a later batch before an earlier one) */
    int stop;                 /* atomic */
    int go;                   /* sym_warm_go() was called (atomic) */
    unsigned opened;          /* files opened (atomic) */
    unsigned done;            /* module maps gone through (atomic) */
    int refs;                 /* the thread's and the owner's (atomic): the last frees w */
    struct warm_tried *tried; /* the thread's */
    size_t n_tried, cap_tried;
};

static void items_free(struct warm_item *it)
{
    for (struct warm_item *next; it != NULL; it = next) {
        next = it->next;
        mm_snapshot_fini(&it->s);
        free(it);
    }
}

static void warm_free(struct sym_warm *w)
{
    items_free(w->queue);
    items_free(w->pushed);
    for (size_t i = 0; i < w->n_tried; i++)
        free(w->tried[i].path);
    free(w->tried);
    sem_destroy(&w->posted);
    free(w);
}

static void warm_release(struct sym_warm *w)
{
    if (__atomic_sub_fetch(&w->refs, 1, __ATOMIC_ACQ_REL) == 0)
        warm_free(w);
}

static int warm_stopping(struct sym_warm *w)
{
    return __atomic_load_n(&w->stop, __ATOMIC_RELAXED);
}

/* The next item, waiting for one and for sym_warm_go(); NULL once stopped. */
static struct warm_item *warm_next(struct sym_warm *w)
{
    while (w->queue == NULL || !__atomic_load_n(&w->go, __ATOMIC_RELAXED)) {
        if (sem_wait(&w->posted) != 0 && errno != EINTR)
            return NULL;
        if (warm_stopping(w))
            return NULL;
        /* Acquire: pairs with the release in sym_warm_add(). */
        struct warm_item *it = __atomic_exchange_n(&w->pushed, NULL, __ATOMIC_ACQUIRE);
        while (it != NULL) { /* newest first: reversed onto the queue's front */
            struct warm_item *next = it->next;
            it->next = w->queue;
            w->queue = it;
            it = next;
        }
    }
    struct warm_item *it = w->queue;
    w->queue = it->next;
    return it;
}

/* 1 when m's file is to be tried (and is now counted as tried), 0 when it
 * was tried before, or there is no room to remember it. */
static int warm_first_try(struct sym_warm *w, const struct mm_module *m)
{
    const char *path = m->path != NULL ? m->path : "";
    for (size_t i = 0; i < w->n_tried; i++) {
        const struct warm_tried *t = &w->tried[i];
        if (t->build_id_len == m->build_id_len &&
            memcmp(t->build_id, m->build_id, m->build_id_len) == 0 && strcmp(t->path, path) == 0)
            return 0;
    }
    if (w->n_tried == w->cap_tried) {
        size_t cap = w->cap_tried ? 2 * w->cap_tried : 16;
        struct warm_tried *t = realloc(w->tried, cap * sizeof *t);
        if (t == NULL)
            return 0;
        w->tried = t;
        w->cap_tried = cap;
    }
    struct warm_tried *t = &w->tried[w->n_tried];
    t->path = strdup(path);
    if (t->path == NULL)
        return 0;
    t->build_id_len = m->build_id_len; /* mm_snapshot_copy() checked it */
    memcpy(t->build_id, m->build_id, m->build_id_len);
    w->n_tried++;
    return 1;
}

/* Where the SIGBUS handler takes the warm-up's thread back to while it
 * reads a file (warm_open()); NULL elsewhere, and in every other thread. */
static _Thread_local sigjmp_buf *volatile warm_fault_jmp;
static struct sigaction warm_bus_before; /* the action warm_on_bus() replaced */
static pthread_mutex_t warm_bus_lock = PTHREAD_MUTEX_INITIALIZER;

/* A read of a mapped page the file no longer has (BUS_ADRERR) while the
 * warm-up's thread is in warm_open(): back there. Anything else: the action
 * that was there before is put back and the signal comes again (a fault
 * re-executes the access as this returns; a signal someone sent is raised
 * again), so it does what it did without this handler. Async-signal-safe. */
static void warm_on_bus(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    sigjmp_buf *back = warm_fault_jmp;
    if (back != NULL && si != NULL && si->si_code == BUS_ADRERR) {
        warm_fault_jmp = NULL;
        siglongjmp(*back, 1);
    }
    sigaction(SIGBUS, &warm_bus_before, NULL);
    if (si == NULL || si->si_code <= 0) /* SI_USER, SI_QUEUE, SI_TKILL: sent */
        raise(sig);
}

/* warm_on_bus() for SIGBUS, unless it is there already. At every start,
 * not once: what replaced it since (a test harness's handler) is then the
 * action it puts back. */
static void warm_bus_install(void)
{
    struct sigaction now, sa = {.sa_sigaction = warm_on_bus, .sa_flags = SA_SIGINFO};
    sigemptyset(&sa.sa_mask);
    pthread_mutex_lock(&warm_bus_lock);
    if (sigaction(SIGBUS, NULL, &now) == 0 &&
        !((now.sa_flags & SA_SIGINFO) != 0 && now.sa_sigaction == warm_on_bus)) {
        warm_bus_before = now;
        sigaction(SIGBUS, &sa, NULL);
    }
    pthread_mutex_unlock(&warm_bus_lock);
}

/* sym_pool_open(m), taken back out of it by a SIGBUS in its reads of the
 * file (the program truncated it meanwhile): then -EFAULT. */
static int warm_open(const struct mm_module *m)
{
    sigjmp_buf back;
    if (sigsetjmp(back, 1) != 0) { /* (warm_on_bus() cleared warm_fault_jmp) */
        sym_pool_abandon();
        return -EFAULT;
    }
    warm_fault_jmp = &back;
    int rc = sym_pool_open(m);
    warm_fault_jmp = NULL;
    return rc;
}

static void *warm_main(void *arg)
{
    struct sym_warm *w = arg;
    struct sched_param idle = {0};
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle); /* a hint: may fail */
    struct warm_item *it;
    while ((it = warm_next(w)) != NULL) {
        for (uint32_t i = 0; i < it->s.n_modules && !warm_stopping(w); i++) {
            const struct mm_module *m = &it->s.modules[i];
            /* No more than the pool keeps: the earliest would be dropped. */
            if (__atomic_load_n(&w->opened, __ATOMIC_RELAXED) >= SYM_POOL_MAX_FILES)
                break;
            /* A name that is no path (the vDSO's) has no file. */
            if (m->path == NULL || strchr(m->path, '/') == NULL || !warm_first_try(w, m))
                continue;
            int rc = warm_open(m);
            if (rc > 0)
                __atomic_add_fetch(&w->opened, 1, __ATOMIC_RELAXED);
            if (rc == -EFAULT) /* files rewritten under it: leave them to the resolvers */
                __atomic_store_n(&w->stop, 1, __ATOMIC_RELAXED);
        }
        mm_snapshot_fini(&it->s);
        free(it);
        __atomic_add_fetch(&w->done, 1, __ATOMIC_RELEASE);
    }
    warm_release(w);
    return NULL;
}

struct sym_warm *sym_warm_start(void)
{
    struct sym_warm *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->refs = 2;
    warm_bus_install();
    if (sem_init(&w->posted, 0, 0) != 0)
        goto fail_sem;
    if (pthread_create(&w->thread, NULL, warm_main, w) != 0)
        goto fail_thread;
    return w;

fail_thread:
    sem_destroy(&w->posted);
fail_sem:
    free(w);
    return NULL;
}

int sym_warm_add(struct sym_warm *w, const struct mm_snapshot *s)
{
    if (w == NULL)
        return 0;
    struct warm_item *it = calloc(1, sizeof *it);
    if (it == NULL)
        return -ENOMEM;
    int rc = mm_snapshot_copy(&it->s, s);
    if (rc < 0) {
        free(it);
        return rc;
    }
    /* Release: pairs with the acquire in warm_next(). */
    it->next = __atomic_load_n(&w->pushed, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(&w->pushed, &it->next, it, 1, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED))
        ;
    sem_post(&w->posted);
    return 0;
}

void sym_warm_go(struct sym_warm *w)
{
    if (w != NULL && !__atomic_exchange_n(&w->go, 1, __ATOMIC_RELAXED))
        sem_post(&w->posted);
}

unsigned sym_warm_done(const struct sym_warm *w)
{
    return w != NULL ? __atomic_load_n(&w->done, __ATOMIC_ACQUIRE) : 0;
}

/* The thread's CPU time so far, in *ns: 0, or -1 when unknown. */
static int warm_cpu_ns(const struct sym_warm *w, uint64_t *ns)
{
    clockid_t clock;
    struct timespec ts;
    if (pthread_getcpuclockid(w->thread, &clock) != 0 || clock_gettime(clock, &ts) != 0)
        return -1;
    *ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    return 0;
}

unsigned sym_warm_stop(struct sym_warm *w)
{
    if (w == NULL)
        return 0;
    __atomic_store_n(&w->stop, 1, __ATOMIC_RELAXED);
    sem_post(&w->posted);
    uint64_t ran = 0;
    int known = warm_cpu_ns(w, &ran) == 0;
    for (;;) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += WARM_STOP_STEP_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        if (pthread_timedjoin_np(w->thread, NULL, &until) == 0)
            break;
        uint64_t before = ran;
        if (!known || warm_cpu_ns(w, &ran) < 0 ||
            ran - before < WARM_STOP_STEP_MS * 1000000ull / 2) {
            pthread_detach(w->thread); /* it ends by itself, and frees w if last */
            break;
        }
    }
    unsigned opened = __atomic_load_n(&w->opened, __ATOMIC_RELAXED);
    warm_release(w);
    return opened;
}
