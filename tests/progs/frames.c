/* frames.c — call frames of the kinds optimised code has, for the recorder's
 * own stack walk (preload/cfi.c) and its cache, checked with the cross-check
 * (tests/integration/crosscheck.sh).
 *
 * The other target programs keep frame pointers; the functions here do not
 * (optimize("omit-frame-pointer")): their CFA is the stack pointer plus a
 * constant. Besides: a frame whose stack is realigned (a 64-byte aligned
 * local: gcc's DRAP, a CFA expression the recorder leaves to libunwind), a
 * frame with alloca (CFA from the frame pointer), recursion at 13 depths, and
 * a signal handler that allocates (a signal frame in the chain).
 *
 * Known figures: 3000 blocks allocated and freed by the loop (sizes 16..215),
 * 100 allocated and freed by the handler (48 B), and 3 leaks: 333 B at
 * leaf <- alloca_caller, 222 B at leaf <- drap_caller, 111 B at
 * leaf <- sp_mid: 3103 allocations, 3100 frees, 666 B leaked in 3 blocks. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOFP __attribute__((noinline, optimize("omit-frame-pointer")))

NOFP void *leaf(size_t n)
{
    return malloc(n);
}

NOFP void *drap_caller(size_t n)
{
    char buf[64] __attribute__((aligned(64)));
    memset(buf, (int)n, sizeof buf);
    void *p = leaf(n + (size_t)(buf[3] & 0));
    __asm__ volatile("" ::"r"(buf) : "memory");
    return p;
}

NOFP void *alloca_caller(size_t n)
{
    char *b = alloca(n);
    memset(b, 0, n);
    void *p = leaf(n + (size_t)b[n - 1]);
    __asm__ volatile("" ::"r"(b) : "memory");
    return p;
}

NOFP void *sp_mid(int depth, size_t n, int kind)
{
    void *p;
    if (depth == 0)
        p = kind == 0 ? leaf(n) : kind == 1 ? drap_caller(n) : alloca_caller(n);
    else
        p = sp_mid(depth - 1, n, kind);
    __asm__ volatile("" ::: "memory");
    return p;
}

static void on_usr1(int sig)
{
    (void)sig;
    free(leaf(48));
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    for (int i = 0; i < 3000; i++)
        free(sp_mid(i % 13, 16 + (size_t)(i % 200), i % 3));
    for (int i = 0; i < 100; i++)
        raise(SIGUSR1);
    void *keep[3] = {sp_mid(0, 111, 0), sp_mid(1, 222, 1), sp_mid(2, 333, 2)};
    __asm__ volatile("" ::"r"(keep) : "memory");
    return write(1, "ok\n", 3) == 3 ? 0 : 1;
}
