/* sigqueue_full.c — a realtime signal held back by the recorder is not lost
 * when the kernel's queue is full when it is sent again. With
 * RLIMIT_SIGPENDING at 1, one realtime signal at most waits queued: a
 * second thread sends SIGRTMIN to the main thread N times (pthread_sigqueue,
 * again after EAGAIN), while the main thread allocates and frees in a loop
 * and its handler counts. The recorder holds back a signal that comes while
 * it records (signal.c) and sends it again afterwards; the sender's next one
 * may have taken the queue's one place meanwhile, and the re-send failed:
 * the signal was lost. Prints "received R of N" and exits 0 when R == N
 * (natively always), 1 otherwise; 3 when the sender could not send them
 * all in 20 s (other processes of the user took the queue's places). Its
 * allocations are not checked. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define N 3000

static volatile sig_atomic_t received;
static volatile int sent_all, gave_up;
static void *volatile sink;

static void on_rt(int sig, siginfo_t *info, void *uc)
{
    (void)sig, (void)info, (void)uc;
    received++;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *sender(void *arg)
{
    pthread_t main_thread = *(pthread_t *)arg;
    double give_up = now_s() + 20;
    for (int i = 0; i < N; i++) {
        union sigval v = {.sival_int = i};
        while (pthread_sigqueue(main_thread, SIGRTMIN, v) != 0) {
            if (now_s() > give_up) {
                gave_up = 1;
                return NULL;
            }
            sched_yield(); /* EAGAIN: the one place is taken */
        }
    }
    sent_all = 1;
    return NULL;
}

/* The signals queued now for this user (SigQ: "queued/limit"); -1 if unknown. */
static long queued_now(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long n = -1;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "SigQ:", 5) == 0)
            n = strtol(line + 5, NULL, 10);
    fclose(f);
    return n;
}

int main(void)
{
    long queued = queued_now();
    if (queued < 0)
        return 2;
    struct rlimit one = {(rlim_t)queued + 1, (rlim_t)queued + 1};
    if (setrlimit(RLIMIT_SIGPENDING, &one) != 0)
        return 2;
    struct sigaction a = {0};
    a.sa_sigaction = on_rt;
    a.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&a.sa_mask);
    if (sigaction(SIGRTMIN, &a, NULL) != 0)
        return 2;
    pthread_t self = pthread_self(), t;
    if (pthread_create(&t, NULL, sender, &self) != 0)
        return 2;
    double deadline = 0;
    unsigned x = 1;
    while (received < N) {
        x = x * 1103515245u + 12345u;
        void *p = malloc(16 + (x >> 20) % 500);
        sink = p;
        free(p);
        if ((sent_all || gave_up) && deadline == 0)
            deadline = now_s() + 2; /* what is still coming comes in 2 s */
        if (deadline != 0 && now_s() > deadline)
            break;
    }
    pthread_join(t, NULL);
    printf("received %d of %d\n", (int)received, N);
    if (gave_up)
        return 3;
    return received == N ? 0 : 1;
}
