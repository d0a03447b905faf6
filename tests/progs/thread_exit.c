/* thread_exit.c — threads that end in the ways that skip a return: their
 * buffered events must still reach the trace.
 *
 *   thread_exit pexit     4 threads leave through pthread_exit() from a nested
 *                         call, then main does too (the process ends when the
 *                         last thread is gone: exit status 0)
 *   thread_exit exit      a thread calls exit(7) while 3 others are still
 *                         allocating as fast as they can
 *
 * pexit: thread i (0..3, on stacks we mmap, joined by main):
 *          5 x { malloc(48); free }  (temporary), thread_leak(i): malloc(100 (i+1)),
 *          then leave() calls pthread_exit(NULL) with those events unflushed;
 *        main, after the joins: main_leak(): malloc(500); pthread_exit(NULL).
 *   the program's own: allocations 25, frees 20, bytes 2460
 *     (4 * 5 * 48 = 960, + 100 + 200 + 300 + 400, + 500),
 *     leaked 1500 in 5 blocks: thread_leak 1000 in 4, main_leak 500 in 1;
 *     temporary_allocations 20.
 *   glibc's own: 4 DTVs (calloc'ed by pthread_create, freed by pthread_join),
 *     and whatever pthread_exit's first use of the unwinder allocates (glibc
 *     dlopens libgcc_s for it): the memcheck comparison covers those.
 *
 * exit: main: main_leak(): malloc(500); starts 3 churners and the exiter (all on
 *   stacks we mmap, never joined) and waits for the exiter forever.
 *   churner: forever { p = malloc(100); free(p); pairs[i]++ }   (site churn)
 *   exiter:  waits until every churner has done 20000 pairs, exiter_leak():
 *            malloc(700), reads the pairs done so far, P, prints "pairs=P" and
 *            calls exit(7) while the churners go on.
 *   Every pair counted in P was complete before exit() was called, so the
 *   trace holds at least P allocations and P frees at churn; the churners'
 *   allocations after that may or may not be recorded (they race with the end
 *   of the recording), but each churner holds at most one block at any time:
 *   churn leaks at most 3 blocks of 100. Exact: exiter_leak 700 in 1 block,
 *   main_leak 500 in 1 block, exit status 7, no lost event, no unmatched free.
 *   The 4 DTVs stay allocated (threads never joined): runtime_held. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define STACK_BYTES (256 * 1024)
#define CHURNERS 3
#define MIN_PAIRS 20000

static void *volatile kept[8];
static void *volatile sink;
static _Atomic unsigned long pairs[CHURNERS];

static int start(pthread_t *t, void *(*fn)(void *), uintptr_t arg)
{
    pthread_attr_t attr;
    void *stack = mmap(NULL, STACK_BYTES, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        return -1;
    if (pthread_attr_init(&attr) != 0 || pthread_attr_setstack(&attr, stack, STACK_BYTES) != 0 ||
        pthread_create(t, &attr, fn, (void *)arg) != 0)
        return -1;
    pthread_attr_destroy(&attr);
    return 0;
}

static void main_leak(void)
{
    kept[7] = malloc(500);
}

/* ---- pexit ---- */

static void thread_leak(unsigned i)
{
    kept[i] = malloc(100 * (i + 1));
}

static void leave(void)
{
    pthread_exit(NULL);
}

static void *exiting_worker(void *arg)
{
    unsigned i = (unsigned)(uintptr_t)arg;
    for (int k = 0; k < 5; k++) {
        void *p = malloc(48);
        sink = p;
        free(p);
    }
    thread_leak(i);
    leave();
    return arg; /* not reached */
}

static int run_pexit(void)
{
    pthread_t t[4];
    for (unsigned i = 0; i < 4; i++)
        if (start(&t[i], exiting_worker, i) < 0)
            return 10;
    for (unsigned i = 0; i < 4; i++)
        if (pthread_join(t[i], NULL) != 0)
            return 11;
    main_leak();
    pthread_exit(NULL);
}

/* ---- exit ---- */

static void churn_once(void)
{
    void *p = malloc(100);
    sink = p;
    free(p);
}

static void *churner(void *arg)
{
    unsigned i = (unsigned)(uintptr_t)arg;
    for (;;) {
        churn_once();
        atomic_fetch_add_explicit(&pairs[i], 1, memory_order_release);
    }
    return NULL;
}

static void exiter_leak(void)
{
    kept[6] = malloc(700);
}

static char *put_u64(char *p, unsigned long v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static void *exiter(void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < CHURNERS; i++)
        while (atomic_load_explicit(&pairs[i], memory_order_acquire) < MIN_PAIRS) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    exiter_leak();
    unsigned long done = 0;
    for (unsigned i = 0; i < CHURNERS; i++)
        done += atomic_load_explicit(&pairs[i], memory_order_acquire);
    char line[64] = "pairs=";
    char *p = put_u64(line + 6, done);
    *p++ = '\n';
    if (write(STDOUT_FILENO, line, (size_t)(p - line)) < 0)
        _exit(12);
    exit(7);
}

static int run_exit(void)
{
    pthread_t t[CHURNERS + 1];
    main_leak();
    for (unsigned i = 0; i < CHURNERS; i++)
        if (start(&t[i], churner, i) < 0)
            return 10;
    if (start(&t[CHURNERS], exiter, 0) < 0)
        return 10;
    pthread_join(t[CHURNERS], NULL);
    return 11; /* not reached: the exiter ends the process */
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "pexit") == 0)
        return run_pexit();
    if (argc > 1 && strcmp(argv[1], "exit") == 0)
        return run_exit();
    return 2;
}
