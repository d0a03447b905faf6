/* threads.c — four threads in a ring, each freeing (or realloc'ing) the blocks
 * that the previous thread allocated, so addresses are reused across threads;
 * plus per-thread temporaries and one leak per thread.
 *
 * Worker i (0..3), M = 2000, L = 500, s(i, k) = 16 + (k*13 + i*101) % 1999:
 *   ring:   for k < M: p = malloc(s(i, k)); send p to worker (i+1) % 4 (pipe);
 *           q = receive from worker (i+3) % 4 (size s((i+3) % 4, k));
 *           even k: free(q)
 *           odd k:  r = realloc(q, s((i+3) % 4, k) + 8); free(r)
 *   local:  L x { p = malloc(24 + i); free(p) }
 *   thread_leak(i): malloc((i+1) * 1000), never freed
 * main: pthread_create x 4 (each on a stack we mmap), pthread_join x 4.
 *
 * Exact expected totals — the program's own:
 *   allocations 14004 = 4*M (ring) + 4*M/2 (reallocs) + 4*L (local) + 4 (leaks)
 *   frees       14000 = 4*M (ring blocks, freed or realloc'ed away)
 *                       + 4*M/2 (realloc results) + 4*L
 *   bytes_allocated 12273925 = 8116610 (ring) + 4096315 (reallocs: sizes + 8)
 *                       + 51000 (local: 500 * (24+25+26+27)) + 10000 (leaks)
 *   reallocs    4000
 *   leaked      10000 bytes in 4 blocks, one site: thread_leak (all four
 *               threads reach it through the same stack)
 *   temporary_allocations 6000: per worker, M/2 realloc results (freed right
 *               after the realloc made them) + L local blocks. No ring block
 *               is temporary: the next event of its thread is a free of a
 *               block from another thread, and another thread frees it.
 * glibc's own: each pthread_create callocs the new thread's DTV in the main
 *   thread (272 bytes in glibc 2.36 with no other TLS module; 16 more per
 *   extra module with TLS, such as a preloaded library). With stacks we
 *   supply, pthread_join frees it (glibc's own cached stacks would keep it
 *   allocated to the end), so all of it is freed before exit; none temporary.
 * summary: allocations 14008, frees 14004, bytes_allocated 12273925 + 4 DTVs
 *   (12275013 natively), leaked 10000 in 4 blocks, temporaries 6000.
 * Memcheck (valgrind 3.19): "total heap usage: 14,008 allocs, 14,004 frees,
 * 12,275,013 bytes allocated", "in use at exit: 10,000 bytes in 4 blocks".
 *
 * Threads talk through pipes: a pointer is one 8-byte write, atomic, and a
 * pipe holds far more than M of them, so nobody blocks on write. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define WORKERS 4
#define M 2000
#define L 500
#define STACK_BYTES (256 * 1024)

static int pipes[WORKERS][2];   /* pipes[i]: what worker i receives */
static void *volatile kept[WORKERS];
static void *volatile sink;

static size_t ring_size(unsigned i, unsigned k)
{
    return 16 + (k * 13 + i * 101) % 1999;
}

static void send_ptr(int fd, void *p)
{
    if (write(fd, &p, sizeof p) != (ssize_t)sizeof p)
        _exit(10);
}

static void *recv_ptr(int fd)
{
    void *p;
    if (read(fd, &p, sizeof p) != (ssize_t)sizeof p)
        _exit(11);
    return p;
}

static void ring(unsigned i)
{
    unsigned from = (i + WORKERS - 1) % WORKERS;
    for (unsigned k = 0; k < M; k++) {
        send_ptr(pipes[(i + 1) % WORKERS][1], malloc(ring_size(i, k)));
        char *q = recv_ptr(pipes[i][0]);
        if (k % 2 == 0) {
            free(q);
        } else {
            char *r = realloc(q, ring_size(from, k) + 8);
            free(r != NULL ? r : q);
        }
    }
}

static void local(unsigned i)
{
    for (unsigned k = 0; k < L; k++) {
        void *p = malloc(24 + i);
        sink = p;
        free(p);
    }
}

static void thread_leak(unsigned i)
{
    kept[i] = malloc((i + 1) * 1000);
}

static void *worker(void *arg)
{
    unsigned i = (unsigned)(uintptr_t)arg;
    ring(i);
    local(i);
    thread_leak(i);
    return NULL;
}

int main(void)
{
    pthread_t t[WORKERS];
    void *stacks[WORKERS];
    pthread_attr_t attr;

    for (unsigned i = 0; i < WORKERS; i++) {
        if (pipe(pipes[i]) != 0)
            return 10;
        stacks[i] = mmap(NULL, STACK_BYTES, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (stacks[i] == MAP_FAILED)
            return 10;
    }
    for (unsigned i = 0; i < WORKERS; i++) {
        if (pthread_attr_init(&attr) != 0 ||
            pthread_attr_setstack(&attr, stacks[i], STACK_BYTES) != 0 ||
            pthread_create(&t[i], &attr, worker, (void *)(uintptr_t)i) != 0)
            return 10;
        pthread_attr_destroy(&attr);
    }
    for (unsigned i = 0; i < WORKERS; i++) {
        if (pthread_join(t[i], NULL) != 0)
            return 10;
        munmap(stacks[i], STACK_BYTES);
    }
    return 0;
}
