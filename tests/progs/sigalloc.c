/* sigalloc.c — allocations in a signal handler, with signals arriving
 * anywhere in a malloc/free loop, also inside the recorder's own code.
 *
 *   sigalloc [N]      N = 200000 by default
 *
 * main: a SIGALRM timer every 50 us; N x { p = malloc(64); free(p) } (site
 *   loop_once); then the timer is stopped and "handled=H" printed.
 * handler: when the interrupted instruction lies in libc or the dynamic loader
 *   (inside malloc itself, where allocating again is undefined behaviour,
 *   natively as well), it does nothing; anywhere else (the program, or the
 *   recorder's hooks) it does p = malloc(333); free(p) (site in_handler), and
 *   counts it in H. (A signal that arrives while the recorder records waits
 *   for the end of its call, signal.c; it is delivered in libc then.)
 * Exact expected figures: allocations = frees = N + H and bytes
 *   64 N + 333 H; no event lost (process.lost_events 0: no handler runs on
 *   top of the recorder in the same thread). Nothing leaks, no free is
 *   unmatched, and the recorder must not deadlock (the case runs under a
 *   timeout). */
#include <link.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <ucontext.h>
#include <unistd.h>

#define MAX_RANGES 64

static struct {
    uintptr_t lo, hi;
} ranges[MAX_RANGES];
static int n_ranges;
static volatile sig_atomic_t handled;
static void *volatile sink;

/* The executable segments of libc and ld.so. */
static int find_libc(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    if (!strstr(info->dlpi_name, "/libc.so") && !strstr(info->dlpi_name, "/ld-linux"))
        return 0;
    for (int i = 0; i < info->dlpi_phnum && n_ranges < MAX_RANGES; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            ranges[n_ranges].lo = info->dlpi_addr + ph->p_vaddr;
            ranges[n_ranges].hi = ranges[n_ranges].lo + ph->p_memsz;
            n_ranges++;
        }
    }
    return 0;
}

static int in_libc(uintptr_t pc)
{
    for (int i = 0; i < n_ranges; i++)
        if (pc >= ranges[i].lo && pc < ranges[i].hi)
            return 1;
    return 0;
}

static void in_handler(void)
{
    void *p = malloc(333);
    sink = p;
    free(p);
}

static void on_alarm(int sig, siginfo_t *info, void *ucv)
{
    (void)sig;
    (void)info;
    ucontext_t *uc = ucv;
    if (in_libc((uintptr_t)uc->uc_mcontext.gregs[REG_RIP]))
        return;
    in_handler();
    handled++;
}

static void loop_once(void)
{
    void *p = malloc(64);
    sink = p;
    free(p);
}

static char *put_u64(char *p, unsigned long v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    dl_iterate_phdr(find_libc, NULL);
    if (n_ranges < 2)
        return 10;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_alarm;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGALRM, &sa, NULL) != 0)
        return 11;
    struct itimerval it = {{0, 50}, {0, 50}};
    if (setitimer(ITIMER_REAL, &it, NULL) != 0)
        return 12;
    for (long i = 0; i < n; i++)
        loop_once();
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGALRM);
    sigprocmask(SIG_BLOCK, &block, NULL);
    memset(&it, 0, sizeof(it));
    setitimer(ITIMER_REAL, &it, NULL);
    char line[64] = "handled=";
    char *p = put_u64(line + 8, (unsigned long)handled);
    *p++ = '\n';
    return write(STDOUT_FILENO, line, (size_t)(p - line)) > 0 ? 0 : 13;
}
