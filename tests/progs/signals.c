/* signals.c — the recorder's fatal-signal handling must keep every event and
 * must not change what the program sees or does with signals.
 *
 *   signals segv     malloc(1000) in leak_then_crash(), never freed, then a
 *                    write through a null pointer: killed by SIGSEGV (a shell
 *                    reports 139). allocations 1, leaked 1000 in 1 block.
 *   signals term     malloc(2000) in leak_then_term(), then raise(SIGTERM):
 *                    killed by SIGTERM (143). allocations 1, leaked 2000.
 *   signals handled  the program's own handlers keep working:
 *                    - sigaction(SIGSEGV) and signal(SIGINT) report SIG_DFL
 *                      before the program sets anything (exit 11, 12 if not);
 *                    - a SIGUSR1 handler set with sigaction (SA_SIGINFO) runs
 *                      on raise and sees si_signo (exit 13 if not);
 *                    - sigaction reads back the handler it set (exit 14);
 *                    - signal(SIGTERM, SIG_IGN) returns SIG_DFL and SIGTERM
 *                      is then ignored (exit 15);
 *                    - a SA_RESETHAND handler for SIGUSR2 runs once, after
 *                      which sigaction reports SIG_DFL (exit 16);
 *                    then malloc(300) + free, and exit(5) from the SIGUSR1
 *                    handler path: status 5, allocations 1, frees 1. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static void *volatile kept;
static int *volatile nowhere; /* NULL, and the compiler cannot know it */
static volatile sig_atomic_t usr1_seen, usr2_count;

static void leak_then_crash(void)
{
    kept = malloc(1000);
    *nowhere = 1;
}

static void leak_then_term(void)
{
    kept = malloc(2000);
    raise(SIGTERM);
}

static void on_usr1(int sig, siginfo_t *info, void *uc)
{
    (void)uc;
    usr1_seen = sig == SIGUSR1 && info->si_signo == SIGUSR1;
}

static void on_usr2(int sig)
{
    (void)sig;
    usr2_count++;
}

static int handled(void)
{
    struct sigaction old;
    if (sigaction(SIGSEGV, NULL, &old) != 0 || old.sa_handler != SIG_DFL)
        return 11;
    if (signal(SIGINT, SIG_DFL) != SIG_DFL)
        return 12;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, NULL) != 0)
        return 13;
    raise(SIGUSR1);
    if (!usr1_seen)
        return 13;
    if (sigaction(SIGUSR1, NULL, &old) != 0 || old.sa_sigaction != on_usr1 ||
        !(old.sa_flags & SA_SIGINFO))
        return 14;

    if (signal(SIGTERM, SIG_IGN) != SIG_DFL)
        return 15;
    raise(SIGTERM);

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr2;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR2, &sa, NULL) != 0)
        return 16;
    raise(SIGUSR2);
    if (usr2_count != 1 || sigaction(SIGUSR2, NULL, &old) != 0 || old.sa_handler != SIG_DFL)
        return 16;

    void *p = malloc(300);
    kept = p;
    free(p);
    return 5;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "segv") == 0)
        leak_then_crash();
    else if (strcmp(mode, "term") == 0)
        leak_then_term();
    else if (strcmp(mode, "handled") == 0)
        exit(handled());
    return 2;
}
