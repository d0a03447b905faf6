/* threads200.c — 200 short-lived threads, 8 alive at a time, each with a
 * known set of allocations; every fourth one leaks a block. The recorder's
 * buffers of exited threads are reused by later ones: nothing may be lost or
 * counted twice on the way.
 *
 * 25 waves of W = 8 threads; wave w runs threads i = 8w .. 8w+7 on 8 stacks we
 * mmap (so pthread_join frees each thread's DTV: see threads.c), then main
 * joins them. Thread i:
 *   temps:  10 x { p = malloc(32 + i); free(p) }          (temporary)
 *   i % 4 == 0: thread_leak(i): malloc(1000 + i), never freed
 *   then waits on the wave's barrier (no allocation), so that the 8 threads of
 *   a wave are all alive, with their leaks made, at one moment.
 *
 * Exact expected totals — the program's own:
 *   allocations 2050 = 2000 temps + 50 leaks;  frees 2000
 *   bytes 317900 = 10 * sum(32 + i, i < 200) = 263000, + leaks 54900
 *   leaked 54900 bytes in 50 blocks = 50 * 1000 + 4 * (0 + 1 + ... + 49),
 *          one site: thread_leak (called from worker)
 *   temporary_allocations 2000 (each temp is freed right after its malloc)
 * glibc's own: 200 DTVs, calloc'ed by pthread_create in main, freed by
 *   pthread_join: + 200 allocations, + 200 frees, + 200 DTV bytes, none
 *   temporary (main creates the other threads of the wave in between).
 * summary: allocations 2250, frees 2200, bytes 317900 + 200 DTVs.
 * peak: not fixed, threads of a wave run their temps concurrently. Bounds:
 *   at the last wave's barrier every leak is made and 8 DTVs are live with no
 *   temp: peak >= 54900 + 8 DTVs; at most 8 temps of at most 231 bytes are ever
 *   live beside the leaks and 8 DTVs: peak <= 54900 + 8 DTVs + 8 * 231. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define THREADS 200
#define WAVE 8
#define TEMPS 10
#define STACK_BYTES (256 * 1024)

static void *volatile kept[THREADS];
static void *volatile sink;
static pthread_barrier_t wave_barrier;

static void temps(unsigned i)
{
    for (unsigned k = 0; k < TEMPS; k++) {
        void *p = malloc(32 + i);
        sink = p;
        free(p);
    }
}

static void thread_leak(unsigned i)
{
    kept[i] = malloc(1000 + i);
}

static void *worker(void *arg)
{
    unsigned i = (unsigned)(uintptr_t)arg;
    temps(i);
    if (i % 4 == 0)
        thread_leak(i);
    pthread_barrier_wait(&wave_barrier);
    return NULL;
}

int main(void)
{
    void *stacks[WAVE];
    pthread_t t[WAVE];

    if (pthread_barrier_init(&wave_barrier, NULL, WAVE) != 0)
        return 10;
    for (unsigned j = 0; j < WAVE; j++) {
        stacks[j] = mmap(NULL, STACK_BYTES, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (stacks[j] == MAP_FAILED)
            return 10;
    }
    for (unsigned w = 0; w < THREADS / WAVE; w++) {
        for (unsigned j = 0; j < WAVE; j++) {
            pthread_attr_t attr;
            if (pthread_attr_init(&attr) != 0 ||
                pthread_attr_setstack(&attr, stacks[j], STACK_BYTES) != 0 ||
                pthread_create(&t[j], &attr, worker, (void *)(uintptr_t)(w * WAVE + j)) != 0)
                return 11;
            pthread_attr_destroy(&attr);
        }
        for (unsigned j = 0; j < WAVE; j++)
            if (pthread_join(t[j], NULL) != 0)
                return 12;
    }
    return 0;
}
