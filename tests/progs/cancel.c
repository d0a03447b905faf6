/* cancel.c — threads that allocate, cancelled (deferred cancellation, the
 * default): malloc and free are no cancellation points, so natively a
 * thread is never cancelled inside one, only at its pthread_testcancel().
 *
 *   cancel [R]   R = 20 rounds by default
 *
 * R rounds of { a worker makes batches of 100000 { p = malloc(64 + i % 512)
 * (site round_cancel); free(p) } with a pthread_testcancel() after each;
 * main lets it run 20 ms, cancels it and joins it }. Printed: cancelled=C,
 * the workers that ended cancelled (R). The worker's records fill its
 * buffer many times over, so it is often cancelled while the recorder
 * writes one out: the recorder must not be cancelled there (a write lock
 * held for good: every later writer, and the end of the recording, would
 * wait forever). Expected: exit 0, cancelled=R, the trace complete, nothing
 * lost, no unmatched free, every block of round_cancel freed. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static __attribute__((noinline)) void *round_cancel(size_t n)
{
    return malloc(n);
}

static void *worker(void *arg)
{
    (void)arg;
    for (;;) {
        for (int i = 0; i < 100000; i++)
            free(round_cancel(64 + (size_t)(i % 512)));
        pthread_testcancel();
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 20;
    int cancelled = 0;
    for (int r = 0; r < rounds; r++) {
        pthread_t t;
        if (pthread_create(&t, NULL, worker, NULL) != 0)
            return 2;
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
        pthread_cancel(t);
        void *res = NULL;
        pthread_join(t, &res);
        cancelled += res == PTHREAD_CANCELED;
    }
    printf("cancelled=%d\n", cancelled);
    return 0;
}
