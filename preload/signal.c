/* signal.c — fatal signals: finish the trace before the process dies, and
 * leave the target's own signal handling exactly as it would be without us.
 *
 * For every signal whose default action ends the process and that is at its
 * default when the recorder starts, the kernel gets our handler. The target
 * keeps seeing its own view: sigaction() and signal() are interposed, report
 * what the target last set, and store its handler, which ours calls. So:
 *   - target handler set: ours calls it (with its flags: SA_SIGINFO,
 *     SA_RESETHAND, its mask and SA_NODEFER go to the kernel as given);
 *   - SIG_IGN: handed to the kernel as is;
 *   - SIG_DFL: ours finishes the trace (flush every buffer, END with the
 *     signal), restores the default and lets the signal kill the process as
 *     it would have: a fault re-executes the faulting instruction, anything
 *     else is raised again on the same thread.
 * Signals the target had ignored or handled before we started are left
 * alone. An alternate stack is set up for the main thread when it has none,
 * so that a stack overflow still reaches the handler. */
#include <dlfcn.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rec.h"

#define EXPORT __attribute__((visibility("default")))
#define ALT_STACK_BYTES (64 * 1024)

static const int fatal_signals[] = {
    SIGHUP,  SIGINT,  SIGQUIT,   SIGILL,  SIGTRAP, SIGABRT, SIGBUS,
    SIGFPE,  SIGUSR1, SIGSEGV,   SIGUSR2, SIGPIPE, SIGALRM, SIGTERM,
    SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF, SIGSYS,  SIGPWR,  SIGSTKFLT,
};

static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);
static struct sigaction target_view[NSIG]; /* what the target believes is installed */
static _Atomic int managed[NSIG]; /* 1: the kernel has our handler or the target's SIG_IGN */

static void on_signal(int sig, siginfo_t *info, void *uc);

static int is_fault(int sig)
{
    return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL;
}

/* What the kernel gets for the target's action a. */
static struct sigaction kernel_action(const struct sigaction *a)
{
    struct sigaction k = *a;
    if (a->sa_handler == SIG_IGN)
        return k;
    k.sa_sigaction = on_signal;
    k.sa_flags = (a->sa_flags | SA_SIGINFO) & ~SA_RESETHAND;
    if (a->sa_handler == SIG_DFL)
        k.sa_flags |= SA_ONSTACK;
    return k;
}

static void die(int sig, siginfo_t *info)
{
    rec_shutdown_on_signal(sig);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    real_sigaction(sig, &dfl, NULL);
    if (is_fault(sig) && info && info->si_code > 0)
        return; /* the instruction faults again, now with the default action */
    syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

static void on_signal(int sig, siginfo_t *info, void *uc)
{
    struct sigaction a = target_view[sig];
    if (a.sa_handler == SIG_DFL) {
        die(sig, info);
        return;
    }
    if (a.sa_handler == SIG_IGN)
        return;
    if (a.sa_flags & SA_RESETHAND) {
        target_view[sig].sa_handler = SIG_DFL;
        target_view[sig].sa_flags &= ~SA_SIGINFO;
    }
    int saved = rec_handler_enter();
    if (a.sa_flags & SA_SIGINFO)
        a.sa_sigaction(sig, info, uc);
    else
        a.sa_handler(sig);
    rec_handler_leave(saved);
}

static void resolve_sigaction(void)
{
    if (!real_sigaction) {
        void *s = dlsym(RTLD_NEXT, "sigaction");
        memcpy(&real_sigaction, &s, sizeof(s));
    }
}

void rec_signals_init(void)
{
    resolve_sigaction();
    if (!real_sigaction)
        return;
    for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++) {
        int sig = fatal_signals[i];
        struct sigaction cur;
        if (real_sigaction(sig, NULL, &cur) != 0 || cur.sa_handler != SIG_DFL)
            continue;
        target_view[sig] = cur;
        struct sigaction k = kernel_action(&cur);
        if (real_sigaction(sig, &k, NULL) == 0)
            atomic_store(&managed[sig], 1);
    }
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && (cur.ss_flags & SS_DISABLE)) {
        void *mem = rec_mmap(ALT_STACK_BYTES);
        if (mem) {
            stack_t ss = {.ss_sp = mem, .ss_size = ALT_STACK_BYTES, .ss_flags = 0};
            sigaltstack(&ss, NULL);
        }
    }
}

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    resolve_sigaction();
    if (sig <= 0 || sig >= NSIG || !atomic_load(&managed[sig]))
        return real_sigaction(sig, act, old);
    struct sigaction prev = target_view[sig];
    if (act) {
        struct sigaction k = kernel_action(act);
        if (real_sigaction(sig, &k, NULL) != 0)
            return -1;
        target_view[sig] = *act;
    }
    if (old)
        *old = prev;
    return 0;
}

/* glibc's signal() and friends call its sigaction internally, past our
 * interposition: route them through ours, with the same semantics. */
static __sighandler_t set_handler(int sig, __sighandler_t h, int flags, int block_self)
{
    struct sigaction a, old;
    memset(&a, 0, sizeof(a));
    a.sa_handler = h;
    a.sa_flags = flags;
    sigemptyset(&a.sa_mask);
    if (block_self && sig > 0 && sig < NSIG)
        sigaddset(&a.sa_mask, sig);
    if (sigaction(sig, &a, &old) != 0)
        return SIG_ERR;
    return old.sa_handler;
}

EXPORT __sighandler_t signal(int sig, __sighandler_t h)
{
    return set_handler(sig, h, SA_RESTART, 1);
}

__sighandler_t bsd_signal(int sig, __sighandler_t h);

EXPORT __sighandler_t bsd_signal(int sig, __sighandler_t h)
{
    return set_handler(sig, h, SA_RESTART, 1);
}

EXPORT __sighandler_t sysv_signal(int sig, __sighandler_t h)
{
    return set_handler(sig, h, SA_RESETHAND | SA_NODEFER, 0);
}
