/* threads.c — the same allocation work split over T threads: does recording
 * scale, or do the threads queue behind something of the recorder's?
 *
 *   threads [T [N [DEPTH]]]   T threads (default 4), N iterations in total
 *                             (default 4000000), DEPTH frames (default 16)
 *
 * Thread k does iterations [k N / T, (k + 1) N / T): the same work for every
 * T, and nothing shared between the threads (no lock, no common counter:
 * each thread's sum sits in its own cache line). An iteration mallocs a
 * block of 16 to 1024 bytes (the size a hash of the iteration number),
 * fills and checksums its first bytes (the "real work", a few dozen ns),
 * and frees it at once -- or, one time in four, keeps it in a ring of
 * RING_SLOTS live blocks, where it waits until a later block takes its slot.
 * So frees also reach blocks allocated long before, and the heap holds a
 * few hundred live blocks per thread. The allocations are made DEPTH frames
 * below the thread's start, from two call sites.
 *
 * The checksum adds up a value per iteration that depends on the iteration
 * number only, read back from its block when the block is freed: the same
 * for every T (the printed line names T). T threads are always created,
 * also T = 1, so that every run has the same shape: main waits, the workers
 * allocate. Built with -fno-builtin, like the other targets. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_THREADS 64
#define RING_SLOTS 256
#define FILL_BYTES 48

struct worker {
    long first, end; /* iterations [first, end) */
    int depth;
    pthread_t tid;
    uint64_t sum;
} __attribute__((aligned(64)));

static struct worker workers[MAX_THREADS];

static uint64_t mix(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x9e3779b97f4a7c15ull;
    x ^= x >> 29;
    return x;
}

static void out_of_memory(void)
{
    fprintf(stderr, "threads: out of memory\n");
    exit(1);
}

/* Fill the block of iteration i: its first bytes come from i alone. */
static void fill(unsigned char *p, size_t size, long i)
{
    uint64_t x = mix((uint64_t)i);
    size_t n = size < FILL_BYTES ? size : FILL_BYTES;
    for (size_t j = 0; j < n; j++) {
        p[j] = (unsigned char)x;
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    }
}

/* What a block contributes to the checksum, read back before its free. */
static uint64_t digest(const unsigned char *p, size_t size)
{
    size_t n = size < FILL_BYTES ? size : FILL_BYTES;
    uint64_t h = 1469598103934665603ull;
    for (size_t j = 0; j < n; j++)
        h = (h ^ p[j]) * 1099511628211ull;
    return h;
}

/* Two allocation sites, so that the stacks are not all one. */
__attribute__((noinline)) static unsigned char *alloc_small(size_t size)
{
    unsigned char *p = malloc(size);
    if (p == NULL)
        out_of_memory();
    return p;
}

__attribute__((noinline)) static unsigned char *alloc_large(size_t size)
{
    unsigned char *p = malloc(size);
    if (p == NULL)
        out_of_memory();
    return p;
}

__attribute__((noinline)) static uint64_t churn(long first, long end)
{
    unsigned char *ring[RING_SLOTS] = {0};
    size_t ring_size[RING_SLOTS] = {0};
    uint64_t sum = 0;

    for (long i = first; i < end; i++) {
        uint64_t h = mix((uint64_t)i + 1);
        size_t size = 16 + (size_t)(h % 1009);
        unsigned char *p = size <= 256 ? alloc_small(size) : alloc_large(size);
        fill(p, size, i);
        if ((h >> 32) % 4 != 0) {
            sum += digest(p, size);
            free(p);
            continue;
        }
        unsigned slot = (unsigned)(h >> 40) % RING_SLOTS;
        if (ring[slot] != NULL) {
            sum += digest(ring[slot], ring_size[slot]);
            free(ring[slot]);
        }
        ring[slot] = p;
        ring_size[slot] = size;
    }
    for (unsigned slot = 0; slot < RING_SLOTS; slot++) {
        if (ring[slot] != NULL) {
            sum += digest(ring[slot], ring_size[slot]);
            free(ring[slot]);
        }
    }
    return sum;
}

/* depth frames of descend(), then churn(). The empty asm after the call
 * keeps it from being a tail call and the recursion from becoming a loop
 * (loop.c adds depth instead, which here would make the sum depend on T). */
__attribute__((noinline)) static uint64_t descend(int depth, long first, long end)
{
    if (depth <= 1)
        return churn(first, end);
    uint64_t r = descend(depth - 1, first, end);
    __asm__ volatile("" : "+r"(r));
    return r;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    w->sum = descend(w->depth, w->first, w->end);
    return NULL;
}

int main(int argc, char **argv)
{
    int n_threads = argc > 1 ? atoi(argv[1]) : 4;
    long n = argc > 2 ? atol(argv[2]) : 4000000;
    int depth = argc > 3 ? atoi(argv[3]) : 16;

    if (n_threads < 1 || n_threads > MAX_THREADS || n < 0 || depth < 1 || depth > 10000) {
        fprintf(stderr, "usage: threads [T [N [DEPTH]]]  (1 <= T <= %d)\n", MAX_THREADS);
        return 2;
    }
    for (int k = 0; k < n_threads; k++) {
        workers[k].first = n / n_threads * k + (k < n % n_threads ? k : n % n_threads);
        workers[k].end = workers[k].first + n / n_threads + (k < n % n_threads);
        workers[k].depth = depth;
        int rc = pthread_create(&workers[k].tid, NULL, worker_main, &workers[k]);
        if (rc != 0) {
            fprintf(stderr, "threads: pthread_create: %s\n", strerror(rc));
            return 1;
        }
    }
    uint64_t sum = 0;
    for (int k = 0; k < n_threads; k++) {
        pthread_join(workers[k].tid, NULL);
        sum += workers[k].sum;
    }
    printf("threads: %ld iterations in %d threads at depth %d, checksum %llu\n", n, n_threads,
           depth, (unsigned long long)sum);
    return 0;
}
