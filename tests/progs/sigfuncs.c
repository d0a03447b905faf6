/* sigfuncs.c — glibc's other ways to set a signal's action (sigset,
 * siginterrupt, sigignore) call its sigaction inside libc: under the
 * recorder, which interposes sigaction and signal, they must agree with
 * those as they do natively. Prints one line per check, "ok NAME" or
 * "FAIL NAME: why", and exits 1 if any failed. Natively all pass.
 *   sigset-query: after signal(SIGWINCH, h1), sigset(SIGWINCH, h2) returns
 *     h1, and sigaction then reports h2;
 *   sigset-restore: signal(SIGWINCH, what sigset returned) and a raise run
 *     h1 (the recorder's own handler came back once, and called itself
 *     until the stack overflowed);
 *   sigset-hold: sigset(SIGUSR2, SIG_HOLD) blocks it and returns the
 *     handler; a second returns SIG_HOLD;
 *   sigignore: sigignore(SIGURG), then sigaction reports SIG_IGN;
 *   siginterrupt: siginterrupt(SIGALRM, 1), then signal(SIGALRM, h): a
 *     read from an empty pipe that SIGALRM (every 20 ms) interrupts fails
 *     with EINTR (if restarted, the 5th SIGALRM ends it with a byte)
 *     (glibc's signal() leaves SA_RESTART out for such a signal);
 *     siginterrupt(SIGALRM, 0): sigaction reports SA_RESTART again;
 *   restorer: sigaction reports the SA_RESTORER flag (0x04000000) and the
 *     restorer that glibc hands the kernel with every action;
 *   resethand-SIG: after a handler installed with SA_RESETHAND runs, the
 *     action is SIG_DFL with its flags unchanged, as the kernel leaves it;
 *     for SIGUSR1 (one of the recorder's from the start) and SIGRTMIN+3
 *     (which it takes over when the handler is installed). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static volatile sig_atomic_t got1, got2, alarms;
static int failed;

static void h1(int sig) { (void)sig; got1++; }
static void h3(int sig, siginfo_t *info, void *uc) { (void)sig, (void)info, (void)uc; }
static void h2(int sig) { (void)sig; got2++; }
static int wake_fd = -1;
static void on_alarm(int sig)
{
    (void)sig;
    if (++alarms == 5) /* the read was restarted: end it */
        (void)!write(wake_fd, "x", 1);
}

static void check(const char *name, int ok, const char *why)
{
    if (ok) {
        printf("ok %s\n", name);
    } else {
        printf("FAIL %s: %s\n", name, why);
        failed = 1;
    }
    fflush(stdout);
}

int main(void)
{
    struct sigaction now;
    signal(SIGWINCH, h1);
    void (*old)(int) = sigset(SIGWINCH, h2);
    sigaction(SIGWINCH, NULL, &now);
    check("sigset-query", old == h1 && now.sa_handler == h2,
          old != h1 ? "sigset did not return the handler before" : "sigaction does not report sigset's");
    signal(SIGWINCH, old);
    raise(SIGWINCH);
    check("sigset-restore", got1 == 1 && got2 == 0, "the restored handler did not run once");

    signal(SIGUSR2, h2);
    void (*held)(int) = sigset(SIGUSR2, SIG_HOLD);
    sigset_t mask;
    sigprocmask(SIG_BLOCK, NULL, &mask);
    void (*again)(int) = sigset(SIGUSR2, SIG_HOLD);
    check("sigset-hold", held == h2 && sigismember(&mask, SIGUSR2) == 1 && again == SIG_HOLD,
          "SIG_HOLD: wrong mask or return values");

    signal(SIGURG, h1);
    sigignore(SIGURG);
    sigaction(SIGURG, NULL, &now);
    check("sigignore", now.sa_handler == SIG_IGN, "sigaction does not report SIG_IGN");

    siginterrupt(SIGALRM, 1);
    signal(SIGALRM, on_alarm);
    int fd[2];
    if (pipe(fd) != 0)
        return 2;
    wake_fd = fd[1];
    struct itimerval it = {{0, 20000}, {0, 20000}};
    setitimer(ITIMER_REAL, &it, NULL);
    char c;
    ssize_t r = read(fd[0], &c, 1); /* natively: EINTR after 20 ms */
    int e = errno;
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    errno = e;
    check("siginterrupt", r < 0 && errno == EINTR && alarms == 1, "read was restarted");
    siginterrupt(SIGALRM, 0);
    sigaction(SIGALRM, NULL, &now);
    check("siginterrupt-off", (now.sa_flags & SA_RESTART) != 0, "no SA_RESTART reported");

    struct sigaction once;
    memset(&once, 0, sizeof(once));
    once.sa_sigaction = h3;
    once.sa_flags = SA_SIGINFO | SA_RESETHAND;
    int sigs[2] = {SIGUSR1, SIGRTMIN + 3};
    for (int i = 0; i < 2; i++) {
        struct sigaction before, after;
        sigaction(sigs[i], &once, NULL);
        sigaction(sigs[i], NULL, &before);
        if (i == 0)
            check("restorer", (before.sa_flags & 0x04000000) && before.sa_restorer != NULL,
                  "no SA_RESTORER or restorer reported");
        raise(sigs[i]);
        sigaction(sigs[i], NULL, &after);
        check(i == 0 ? "resethand-SIGUSR1" : "resethand-SIGRTMIN+3",
              after.sa_handler == SIG_DFL && after.sa_flags == before.sa_flags,
              "not SIG_DFL with the flags before");
    }
    return failed;
}
