/* sigheld.c — a signal the recorder holds back, then a handler that leaves
 * the same allocator call with siglongjmp (docs/usage.md, "signal
 * handlers"). The held signal must still be delivered.
 *
 *   sigheld [N]   N = 300 by default
 *
 * N rounds of { p = malloc(32) (site round_held); free(p); free(p) again }.
 * The second free is a double free: glibc aborts inside it, and the SIGABRT
 * handler siglongjmps back to the loop. While main is in that free, a
 * second thread sends main one SIGUSR1 with sigqueue (never blocked by the
 * program, so natively its handler runs at once), at a random moment: now
 * and then while the recorder records the free, where it is held back
 * until the end of the call -- which the siglongjmp abandons. Main then
 * waits up to 20 ms (no allocator call meanwhile) for the SIGUSR1 handler.
 * Printed: rounds=N late=K, K the rounds in which it had not run by then:
 * 0 natively, and 0 under the recorder. glibc prints its message on stderr
 * N times. Exact expected figures: allocations N, bytes 32 N, frees 2 N
 * (each second free is recorded before glibc's call: an unmatched free),
 * unmatched_frees N, no leak, lost_events 0. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static sigjmp_buf env;
static volatile sig_atomic_t handled;
static atomic_int armed; /* 1: send one now; -1: stop */
static atomic_int sent;
static pthread_t main_thread;

static void on_usr1(int sig)
{
    (void)sig;
    handled++;
}

static void on_abort(int sig)
{
    (void)sig;
    siglongjmp(env, 1);
}

static void *sender(void *arg)
{
    (void)arg;
    unsigned r = 1;
    for (;;) {
        int a;
        while ((a = atomic_load(&armed)) == 0)
            ;
        if (a < 0)
            return NULL;
        r = r * 1103515245u + 12345u;
        for (volatile unsigned i = 0; i < (r >> 16) % 3000; i++)
            ;
        union sigval v = {.sival_int = 7};
        pthread_sigqueue(main_thread, SIGUSR1, v);
        atomic_store(&armed, 0);
        atomic_store(&sent, 1);
    }
}

static __attribute__((noinline)) void *round_held(void)
{
    return malloc(32);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 300;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_abort;
    sigaction(SIGABRT, &sa, NULL);
    main_thread = pthread_self();
    pthread_t t;
    if (pthread_create(&t, NULL, sender, NULL) != 0)
        return 2;
    int late = 0;
    for (int i = 0; i < n; i++) {
        void *volatile p = round_held();
        free(p);
        sig_atomic_t before = handled;
        atomic_store(&sent, 0);
        if (sigsetjmp(env, 1) == 0) {
            atomic_store(&armed, 1);
            free(p); /* glibc: "free(): double free detected", abort() */
        }
        while (!atomic_load(&sent))
            ;
        struct timespec ms = {0, 1000000};
        for (int w = 0; w < 20 && handled == before; w++)
            nanosleep(&ms, NULL);
        late += handled == before;
    }
    atomic_store(&armed, -1);
    pthread_join(t, NULL);
    printf("rounds=%d late=%d\n", n, late);
    return 0;
}
