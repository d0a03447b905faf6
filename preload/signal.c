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
 * so that a stack overflow still reaches the handler.
 *
 * Every handler the target installs later (sigaction, signal), for any
 * signal, runs through ours too, so that none runs on top of the recorder
 * in the same thread: a handler that leaves with siglongjmp (a timer in a
 * malloc loop; a test harness recovering from an abort) would abandon the
 * recorder's call half done -- its guard set for good (every later event of
 * the thread taken for the recorder's own and dropped), a record stamped
 * and never committed (no WATERMARK ever again), the buffer or a lock held.
 * So a signal that arrives while the hooks' guard is set (rec.h) is held
 * back, siginfo and all, and sent again to the same thread
 * (rt_tgsigqueueinfo) when the guard is released, a few microseconds later:
 * the handler runs as if the signal had come just after the call. Two
 * kinds cannot wait, and run the handler at once:
 *   - a signal libc raises inside the allocator call itself (abort on a
 *     corrupt heap or an invalid pointer; a fault): the recorder holds
 *     nothing there (guard REC_GUARD_CALL: hooks.c's rec_call_pause), and
 *     the call counts as lost until the handler returns;
 *   - a fault in the recorder's own code (a bug): as before, the handler's
 *     calls count as lost (rec_handler_enter).
 * Handlers installed before we started, or with the raw system call, are
 * not ours to wrap. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "rec.h"

#define EXPORT __attribute__((visibility("default")))
#define ALT_STACK_BYTES (64 * 1024)
/* The kernel's flag for sa_restorer (linux/signal.h; glibc does not export
 * it): every action libc installs carries it. */
#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

static const int fatal_signals[] = {
    SIGHUP,  SIGINT,  SIGQUIT,   SIGILL,  SIGTRAP, SIGABRT, SIGBUS,
    SIGFPE,  SIGUSR1, SIGSEGV,   SIGUSR2, SIGPIPE, SIGALRM, SIGTERM,
    SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF, SIGSYS,  SIGPWR,  SIGSTKFLT,
};

static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);
static struct sigaction target_view[NSIG]; /* what the target believes is installed */
static _Atomic int managed[NSIG]; /* 1: the kernel has our handler or the target's SIG_IGN */
static _Atomic int listed[NSIG];  /* in fatal_signals, managed from the start */

/* Signals held back in this thread while the guard was set, in order:
 * one of each at most, for each is blocked until its release. */
#define DEFER_MAX 8
static __thread struct {
    int n;
    int sig[DEFER_MAX];
    siginfo_t info[DEFER_MAX];
} deferred;

static void on_signal(int sig, siginfo_t *info, void *uc);

static int is_fault(int sig)
{
    return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL;
}

/* What the kernel gets for the target's action a on sig. The default of a
 * signal not in fatal_signals goes to the kernel as it is. */
static struct sigaction kernel_action(int sig, const struct sigaction *a)
{
    struct sigaction k = *a;
    if (a->sa_handler == SIG_IGN || (a->sa_handler == SIG_DFL && !atomic_load(&listed[sig])))
        return k;
    k.sa_sigaction = on_signal;
    k.sa_flags = (a->sa_flags | SA_SIGINFO) & ~SA_RESETHAND;
    if (a->sa_handler == SIG_DFL)
        k.sa_flags |= SA_ONSTACK;
    return k;
}

/* The kernel's default action for sig again. */
static void kernel_default(int sig)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    real_sigaction(sig, &dfl, NULL);
}

/* The target's action act on sig, as sigaction() will report it: with the
 * SA_RESTORER flag and restorer that libc gave the kernel (from the kernel:
 * the action it holds now went through the same libc call), as a program
 * reads them without us. */
static void view_set(int sig, const struct sigaction *act)
{
    struct sigaction k;
    target_view[sig] = *act;
    if (real_sigaction(sig, NULL, &k) == 0 && (k.sa_flags & SA_RESTORER)) {
        target_view[sig].sa_flags |= SA_RESTORER;
        target_view[sig].sa_restorer = k.sa_restorer;
    }
}

static void die(int sig, siginfo_t *info)
{
    rec_shutdown_on_signal(sig);
    kernel_default(sig);
    if (is_fault(sig) && info && info->si_code > 0)
        return; /* the instruction faults again, now with the default action */
    syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

/* 1 if sig cannot wait for the guard's release: a fault (the instruction
 * would run again, and fault again, without the handler), or, inside
 * libc's allocator call, a signal this process sent itself (abort(),
 * raise(): the caller goes on when the handler returns -- abort to the
 * default action -- so the handler must run now). */
static int cannot_wait(int sig, const siginfo_t *info, int guard)
{
    if (info == NULL)
        return 1;
    if ((is_fault(sig) || sig == SIGTRAP || sig == SIGSYS) && info->si_code > 0)
        return 1;
    return (guard == REC_GUARD_CALL || guard == REC_GUARD_CALL_RECORDED) &&
           (info->si_code == SI_TKILL || info->si_code == SI_USER) && info->si_pid == getpid();
}

/* Hold sig back until the guard is released; 0 when it cannot be (more
 * than DEFER_MAX different signals in one call of the recorder: it runs at
 * once, as before deferral). The interrupted code goes on with sig blocked
 * (the mask the kernel restores is uc's): more of it wait in the kernel,
 * queued (a realtime signal) or merged (a standard one; a timer's overrun),
 * as they would while a handler runs. */
static int defer(int sig, const siginfo_t *info, void *uc)
{
    if (deferred.n == DEFER_MAX || uc == NULL)
        return 0;
    deferred.sig[deferred.n] = sig;
    deferred.info[deferred.n] = *info;
    deferred.n++;
    sigaddset(&((ucontext_t *)uc)->uc_sigmask, sig);
    rec_tls.deferred = 1;
    return 1;
}

/* Run the target's handler of a held-back signal here, as the kernel would
 * have delivered it: with the thread's mask mask, plus the action's and the
 * signal itself (unless SA_NODEFER), and a context of this point. For a
 * re-send that failed: a realtime signal when the kernel's queue is full
 * (RLIMIT_SIGPENDING), which sending it any other way would not queue
 * either, or merge into an instance already queued. */
static void run_here(int sig, siginfo_t *info, const sigset_t *mask)
{
    const struct sigaction *a = &target_view[sig];
    sigset_t during;
    sigorset(&during, mask, &a->sa_mask);
    if (!(a->sa_flags & SA_NODEFER))
        sigaddset(&during, sig);
    ucontext_t uc;
    getcontext(&uc);
    uc.uc_sigmask = *mask;
    pthread_sigmask(SIG_SETMASK, &during, NULL);
    on_signal(sig, info, &uc);
}

void rec_signal_redeliver(void)
{
    int saved_errno = errno;
    sigset_t all, old;
    sigfillset(&all);
    /* (the waiting list is this thread's: with every signal blocked, no
     * handler adds to it while it is sent) */
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pid_t pid = getpid();
    pid_t tid = (pid_t)syscall(SYS_gettid);
    /* Those whose re-send failed, to run here (run_here()) once the list is
     * empty again. */
    int sig[DEFER_MAX], n_failed = 0;
    siginfo_t info[DEFER_MAX];
    for (int i = 0; i < deferred.n; i++) {
        /* The same siginfo to the same thread: allowed for a process's own
         * signals, whatever their si_code. Pending until the mask below
         * (after any of the same realtime signal the kernel queued
         * meanwhile: the one order that changes). */
        if (syscall(SYS_rt_tgsigqueueinfo, pid, tid, deferred.sig[i], &deferred.info[i]) != 0) {
            sig[n_failed] = deferred.sig[i];
            info[n_failed++] = deferred.info[i];
        }
        sigdelset(&old, deferred.sig[i]); /* not blocked when it came */
    }
    deferred.n = 0;
    rec_tls.deferred = 0;
    for (int k = 0; k < n_failed; k++)
        run_here(sig[k], &info[k], &old); /* (the re-sent ones may come first) */
    pthread_sigmask(SIG_SETMASK, &old, NULL); /* they are delivered here */
    errno = saved_errno;
}

/* Before a handler that runs inside the allocator call (an abort, a fault):
 * the signals held back earlier in the same hook (while it recorded) are
 * delivered first, here, as they would have been before the call. Else a
 * handler that leaves with siglongjmp would leave them waiting for the
 * next release of the guard in this thread, which may never come (the
 * thread waits for one of them, or exits). Their bits come out of the
 * interrupted context's mask too: defer() put them in the mask of an
 * earlier context, which the thread now runs with. */
static void release_held(void *uc)
{
    if (!rec_tls.deferred)
        return;
    for (int i = 0; uc != NULL && i < deferred.n; i++)
        sigdelset(&((ucontext_t *)uc)->uc_sigmask, deferred.sig[i]);
    rec_signal_redeliver();
}

/* The target's handler of action a. */
static void call_handler(const struct sigaction *a, int sig, siginfo_t *info, void *uc)
{
    if (a->sa_flags & SA_SIGINFO)
        a->sa_sigaction(sig, info, uc);
    else
        a->sa_handler(sig);
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
    int guard = rec_tls.guard;
    if (guard != 0 && !cannot_wait(sig, info, guard) && defer(sig, info, uc))
        return;
    if (a.sa_flags & SA_RESETHAND) {
        /* As the kernel does: the handler only, flags and mask stay. */
        target_view[sig].sa_handler = SIG_DFL;
        if (!atomic_load(&listed[sig])) { /* its default is the kernel's again */
            real_sigaction(sig, &target_view[sig], NULL);
            atomic_store(&managed[sig], 0);
        }
    }
    if (guard == REC_GUARD_CALL || guard == REC_GUARD_CALL_RECORDED) {
        struct rec_call_pause pause;
        rec_call_pause(&pause, guard);
        release_held(uc);
        call_handler(&a, sig, info, uc);
        rec_call_resume(&pause);
        return;
    }
    int saved = rec_handler_enter();
    call_handler(&a, sig, info, uc);
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
        atomic_store(&listed[sig], 1);
        struct sigaction k = kernel_action(sig, &cur);
        if (real_sigaction(sig, &k, NULL) == 0)
            atomic_store(&managed[sig], 1);
        else
            atomic_store(&listed[sig], 0);
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

/* The target installs a handler on a signal not managed yet: its handler
 * runs through ours from now on (the file's opening comment). 1 when taken
 * over; 0 to leave the call to the kernel as it is. */
static int take_over(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (act == NULL || act->sa_handler == SIG_DFL || act->sa_handler == SIG_IGN ||
        sig == SIGKILL || sig == SIGSTOP || atomic_load(&rec_state) == REC_OFF)
        return 0;
    struct sigaction prev;
    struct sigaction k = kernel_action(sig, act);
    if (real_sigaction(sig, &k, &prev) != 0)
        return -1;
    view_set(sig, act);
    atomic_store(&managed[sig], 1);
    if (old)
        *old = prev;
    return 1;
}

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    resolve_sigaction();
    if (sig <= 0 || sig >= NSIG)
        return real_sigaction(sig, act, old);
    if (!atomic_load(&managed[sig])) {
        int rc = take_over(sig, act, old);
        if (rc != 0)
            return rc > 0 ? 0 : -1;
        return real_sigaction(sig, act, old);
    }
    struct sigaction prev = target_view[sig];
    if (act) {
        struct sigaction k = kernel_action(sig, act);
        if (real_sigaction(sig, &k, NULL) != 0)
            return -1;
        view_set(sig, act);
    }
    if (old)
        *old = prev;
    return 0;
}

/* glibc's signal() and friends (sigset, sigignore, siginterrupt) call its
 * sigaction internally, past our interposition: route them through ours,
 * with the same semantics. Left to glibc, they changed the kernel's action
 * behind target_view's back: sigaction reported the handler before, and
 * sigset returned on_signal itself, which a program that puts the previous
 * handler back then installed as its own (on_signal calling itself until
 * the stack overflowed). */

/* Signals given to siginterrupt(sig, 1): signal() and bsd_signal() install
 * their handler without SA_RESTART, as glibc's do. */
static sigset_t interrupting;

static int restart_flag(int sig)
{
    return sig > 0 && sig < NSIG && sigismember(&interrupting, sig) == 1 ? 0 : SA_RESTART;
}

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
    return set_handler(sig, h, restart_flag(sig), 1);
}

__sighandler_t bsd_signal(int sig, __sighandler_t h);

EXPORT __sighandler_t bsd_signal(int sig, __sighandler_t h)
{
    return set_handler(sig, h, restart_flag(sig), 1);
}

EXPORT __sighandler_t sysv_signal(int sig, __sighandler_t h)
{
    return set_handler(sig, h, SA_RESETHAND | SA_NODEFER, 0);
}

EXPORT int siginterrupt(int sig, int interrupt)
{
    struct sigaction a;
    if (sigaction(sig, NULL, &a) != 0)
        return -1;
    if (interrupt) {
        sigaddset(&interrupting, sig);
        a.sa_flags &= ~SA_RESTART;
    } else {
        sigdelset(&interrupting, sig);
        a.sa_flags |= SA_RESTART;
    }
    return sigaction(sig, &a, NULL) != 0 ? -1 : 0;
}

/* SIG_HOLD blocks sig and keeps its action; any other disposition is
 * installed (no flags, empty mask) and sig unblocked. Returns SIG_HOLD when
 * sig was blocked before, else the handler before. */
EXPORT __sighandler_t sigset(int sig, __sighandler_t disp)
{
    sigset_t one, before;
    sigemptyset(&one);
    if (sigaddset(&one, sig) != 0)
        return SIG_ERR;
    if (disp == SIG_HOLD) {
        struct sigaction cur;
        if (sigprocmask(SIG_BLOCK, &one, &before) != 0)
            return SIG_ERR;
        if (sigismember(&before, sig) == 1)
            return SIG_HOLD;
        if (sigaction(sig, NULL, &cur) != 0)
            return SIG_ERR;
        return cur.sa_handler;
    }
    __sighandler_t old = set_handler(sig, disp, 0, 0);
    if (old == SIG_ERR || sigprocmask(SIG_UNBLOCK, &one, &before) != 0)
        return SIG_ERR;
    return sigismember(&before, sig) == 1 ? SIG_HOLD : old;
}

EXPORT int sigignore(int sig)
{
    return set_handler(sig, SIG_IGN, 0, 0) == SIG_ERR ? -1 : 0;
}
