/* paced.c — four threads that allocate for about a third of a second, in
 * rounds with a 1 ms sleep between them: a run of many recorder periods
 * (MEMAUDIT_INTERVAL_MS=1) that leaves the CPUs to the recorder's background
 * thread and writes a small trace (tests/integration/watermark.sh).
 *
 *   paced [ROUNDS]      default 300
 *
 * Worker i (0..3), each of R rounds r:
 *   for k < 100: p[k] = malloc(s(i, k)), s(i, k) = 16 + (7k + i) % 200
 *   for k < 100 step 10: p[k] = realloc(p[k], s(i, k) + 64)
 *   hand one block to the next worker: q = malloc(32 + i); swap it into
 *     slot (i + 1) % 4; free what was there (a block of worker (i + 3) % 4,
 *     or nothing)
 *   for k < 100: free(p[k]) (last first)
 *   sleep 1 ms
 * main: create the 4 workers, join them, free what is left in the slots.
 * Every thread calls malloc from the same line: they share stack ids.
 *
 * Totals (not checked; glibc adds one DTV per thread):
 *   allocations 4 * R * 101, reallocs 4 * R * 10, frees 4 * R * 101, leaked 0. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#define WORKERS 4
#define PER_ROUND 100

static _Atomic(void *) slot[WORKERS];
static int rounds = 300;

static void *worker(void *arg)
{
    int i = (int)(long)arg;
    void *p[PER_ROUND];
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < PER_ROUND; k++)
            p[k] = malloc(16 + (size_t)((7 * k + i) % 200));
        for (int k = 0; k < PER_ROUND; k += 10) {
            void *q = realloc(p[k], 16 + (size_t)((7 * k + i) % 200) + 64);
            if (q != NULL)
                p[k] = q;
        }
        free(atomic_exchange(&slot[(i + 1) % WORKERS], malloc(32 + (size_t)i)));
        for (int k = PER_ROUND - 1; k >= 0; k--)
            free(p[k]);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        rounds = atoi(argv[1]);
    pthread_t t[WORKERS];
    for (long i = 0; i < WORKERS; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)i) != 0)
            return 1;
    for (int i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < WORKERS; i++)
        free(atomic_exchange(&slot[i], NULL));
    return 0;
}
