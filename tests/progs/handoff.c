/* handoff.c — blocks malloc'd in one thread and freed in another, at a high
 * rate: P producers and C consumers share one bounded queue.
 *
 *   handoff [P C [N]]     default 2 producers, 2 consumers, N = 200000 blocks
 *   handoff 0 0 [N]       the same work in the main thread alone: fill the
 *                         queue, empty it, again (for the 1-thread overhead)
 *
 * Block g (0 <= g < N; producer i makes g = i, i + P, i + 2P, ...) has size
 * s(g) = 16 + (7g) mod 241 and carries g in its first bytes. A consumer keeps
 * block g when g mod 10000 = 9999 (a leak: 20 blocks for N = 200000) and frees
 * every other one. Which thread frees which block varies; the totals do not.
 * After the threads are joined main holds FINAL = 4 MiB for a moment, then
 * frees it (temporary).
 *
 * Exact expected totals for N = 200000, any P >= 1, C >= 1 — the program's own:
 *   allocations 200001 = N + FINAL;  frees 199981 = N - 20 + 1
 *   bytes 31393929 = sum(s(g), g < N) = 27199625 (see below), + FINAL 4194304
 *   leaked 2795 bytes in 20 blocks, one site: produce
 *   temporary_allocations 1 (FINAL: no block of the queue is freed by the
 *   thread that made it right after making it; with P = C = 0 neither, the
 *   queue is first-in first-out and holds QUEUE_CAP > 1 blocks)
 *   peak 4197099 = FINAL + the 20 leaked blocks, at FINAL. Before it, at most
 *   QUEUE_CAP + P + C queue blocks of at most 256 bytes (about 1 MiB), the 20
 *   leaks and P + C DTVs are live: always less.
 *   unmatched_frees 0 (each free is of a block of the trace, in any thread).
 * sum(s(g)): 7g mod 241 runs through 0..240 once every 241 blocks (7 and 241
 * coprime): 829 full rounds of 241 * 16 + 28920 = 32776 bytes (27171304), plus
 * 28321 for the 211 blocks g = 199789..199999 (s(g) = 16 + 7r mod 241 with
 * r = g - 199789). The leaks: s(9999 + 10000j), j < 20, sum to 2795.
 * glibc's own with threads: one DTV per thread, calloc'ed by pthread_create,
 * freed by pthread_join (stacks we mmap): + (P + C) allocations, frees and
 * DTVs of bytes, freed before FINAL, so not in the peak. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define QUEUE_CAP 4096
#define MAX_THREADS 16
#define FINAL (4u << 20)
#define STACK_BYTES (256 * 1024)

struct queue {
    pthread_mutex_t lock;
    pthread_cond_t not_empty; /* signalled by push, waited on by pop */
    pthread_cond_t not_full;  /* signalled by pop, waited on by push */
    uint64_t *ring[QUEUE_CAP];
    size_t head, len;
};

static struct queue q = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .not_empty = PTHREAD_COND_INITIALIZER,
    .not_full = PTHREAD_COND_INITIALIZER,
};

static unsigned producers = 2, consumers = 2;
static uint64_t blocks = 200000;
static void *volatile kept[1000];
static void *volatile sink;

static void push(uint64_t *p)
{
    pthread_mutex_lock(&q.lock);
    while (q.len == QUEUE_CAP)
        pthread_cond_wait(&q.not_full, &q.lock);
    q.ring[(q.head + q.len) % QUEUE_CAP] = p;
    q.len++;
    pthread_cond_signal(&q.not_empty);
    pthread_mutex_unlock(&q.lock);
}

static uint64_t *pop(void)
{
    pthread_mutex_lock(&q.lock);
    while (q.len == 0)
        pthread_cond_wait(&q.not_empty, &q.lock);
    uint64_t *p = q.ring[q.head];
    q.head = (q.head + 1) % QUEUE_CAP;
    q.len--;
    pthread_cond_signal(&q.not_full);
    pthread_mutex_unlock(&q.lock);
    return p;
}

static uint64_t *produce(uint64_t g)
{
    uint64_t *p = malloc(16 + (7 * g) % 241);
    if (p == NULL)
        abort();
    p[0] = g;
    return p;
}

static void consume(uint64_t *p)
{
    if (p[0] % 10000 == 9999)
        kept[p[0] / 10000] = p;
    else
        free(p);
}

static void *producer(void *arg)
{
    for (uint64_t g = (uintptr_t)arg; g < blocks; g += producers)
        push(produce(g));
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    for (uint64_t *p = pop(); p != NULL; p = pop())
        consume(p);
    return NULL;
}

/* P = C = 0: one thread, the same blocks, the same queue operations. */
static void alone(void)
{
    for (uint64_t g = 0; g < blocks;) {
        uint64_t batch = 0;
        for (; batch < QUEUE_CAP && g < blocks; batch++, g++)
            push(produce(g));
        while (batch-- > 0)
            consume(pop());
    }
}

static int start(pthread_t *t, void *stack, void *(*fn)(void *), uintptr_t arg)
{
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0 || pthread_attr_setstack(&attr, stack, STACK_BYTES) != 0 ||
        pthread_create(t, &attr, fn, (void *)arg) != 0)
        return -1;
    pthread_attr_destroy(&attr);
    return 0;
}

static int threaded(void)
{
    pthread_t t[MAX_THREADS];
    void *stacks[MAX_THREADS];
    unsigned n = producers + consumers;

    for (unsigned i = 0; i < n; i++) {
        stacks[i] = mmap(NULL, STACK_BYTES, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (stacks[i] == MAP_FAILED)
            return -1;
    }
    for (unsigned i = 0; i < n; i++)
        if (start(&t[i], stacks[i], i < producers ? producer : consumer, i) < 0)
            return -1;
    for (unsigned i = 0; i < producers; i++)
        if (pthread_join(t[i], NULL) != 0)
            return -1;
    for (unsigned i = 0; i < consumers; i++)
        push(NULL);
    for (unsigned i = producers; i < n; i++)
        if (pthread_join(t[i], NULL) != 0)
            return -1;
    for (unsigned i = 0; i < n; i++)
        munmap(stacks[i], STACK_BYTES);
    return 0;
}

static void hold_final(void)
{
    char *p = malloc(FINAL);
    sink = p;
    free(p);
}

int main(int argc, char **argv)
{
    if (argc >= 3) {
        producers = (unsigned)atoi(argv[1]);
        consumers = (unsigned)atoi(argv[2]);
    }
    if (argc >= 4)
        blocks = strtoull(argv[3], NULL, 10);
    if (producers + consumers > MAX_THREADS || (producers == 0) != (consumers == 0) ||
        blocks > 10000000)
        return 2;
    if (producers == 0)
        alone();
    else if (threaded() < 0)
        return 10;
    hold_final();
    return 0;
}
