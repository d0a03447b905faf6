/* longjmp.c — signal handlers that siglongjmp out of an allocator call, as
 * interpreters and test harnesses do (a timer that interrupts a malloc loop;
 * a SIGABRT handler that recovers from glibc's abort). The recorder must
 * record exactly what the calls that took effect did, count an abandoned
 * call as lost (never drop it silently), and go on recording -- and writing
 * watermarks -- after it.
 *
 *   longjmp timer alrm|rt [N]   N = 20000 by default
 *   longjmp abort [N]           N = 50 by default
 *   longjmp fault [N]           N = 50 by default
 *
 * timer: a timer_create timer (SIGALRM, or SIGRTMIN: a signal outside the
 *   list the recorder manages from the start) fires every 30 us (from the
 *   501st round on: the first 500 are recorded whole) while main makes N
 *   rounds of { p = malloc(BIG); free(p) } (site round_timer). BIG is above
 *   the mmap threshold, fixed with mallopt, so each block is a chunk of its
 *   own and mallinfo2().hblks, the number of them live, tells whether an
 *   interrupted call took effect. The handler siglongjmps back to the loop
 *   when a call is in progress (armed) and the interrupted instruction is not
 *   in libc or the dynamic loader (jumping out of glibc's malloc is undefined
 *   natively too: it may hold the arena lock): so it leaves the program's
 *   own code, or the recorder's, in the middle of the call. After a jump the
 *   program looks: a malloc whose block exists has allocated a block the
 *   program never got (leaked); a free after which the block is gone has
 *   freed it; else the block is still the program's and it frees it again.
 *   Printed: allocs=A frees=F leaked=L jumps=J recorder=R, where R of the J
 *   jumps left the recorder's code (libaudit.so). Exact expected figures:
 *   allocations A, frees F, bytes_allocated BIG A, leaked_blocks L,
 *   leaked_bytes BIG L, lost_events 0 when no jump left the recorder in the
 *   middle of a record (and each one that does is counted lost).
 * abort: N rounds of { a = malloc(100), zeroed (site round_abort);
 *   realloc(a + 32, 50) (glibc: "realloc(): invalid pointer", abort(), before
 *   it touches anything); the SIGABRT handler siglongjmps back; free(a) }.
 *   Printed: jumps=N. Exact expected figures: allocations N, frees N, bytes
 *   100 N, no leak, no unmatched free; the N reallocs never returned: each
 *   is counted lost (lost_events N), not dropped. glibc prints its message
 *   on stderr N times. Each round then sleeps 2 ms, so that a recorder's
 *   background thread with a period of 1 or 2 ms has periods to write
 *   watermarks in (none come while a realloc that was abandoned is taken
 *   for one still in progress).
 * fault: real nesting, no jump. N rounds of { a = malloc(16384) (site
 *   round_fault), with a whole page inside it made PROT_NONE, and a block of
 *   64 after it (so that a cannot grow in place); b = realloc(a, 1 MiB):
 *   glibc copies a and faults on the page, inside the call; the SIGSEGV
 *   handler makes the page readable again, does p = malloc(333); free(p)
 *   (site in_fault_handler), sleeps 3 ms and returns, and the copy goes on;
 *   free(b); free(the 64) }. A malloc(333)/free before the loop leaves a
 *   block of that size in glibc's per-thread cache, so that the handler's
 *   malloc does not wait for the arena lock the interrupted realloc holds.
 *   Printed: faults=N. Exact expected figures: allocations 4 N + 1 (a, b,
 *   the 64, the handler's, and the first 333), frees 4 N + 1, reallocs N,
 *   bytes_allocated (16384 + 1048576 + 64 + 333) N + 333, no leak, lost 0. */
#include <link.h>
#include <malloc.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define BIG (256 * 1024 + 1000)
#define WARM_UP 500 /* rounds before the timer starts */
#define MAX_RANGES 64

struct range {
    uintptr_t lo, hi;
};
static struct range libc_ranges[MAX_RANGES], audit_ranges[MAX_RANGES];
static int n_libc, n_audit;

static sigjmp_buf env;
static volatile sig_atomic_t armed;
static volatile long jumps, jumps_recorder;
static void *volatile block;

/* The executable segments of libc and ld.so, and of the recorder. */
static int find_ranges(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    struct range *r;
    int *n;
    if (strstr(info->dlpi_name, "/libc.so") || strstr(info->dlpi_name, "/ld-linux")) {
        r = libc_ranges;
        n = &n_libc;
    } else if (strstr(info->dlpi_name, "libaudit")) {
        r = audit_ranges;
        n = &n_audit;
    } else {
        return 0;
    }
    for (int i = 0; i < info->dlpi_phnum && *n < MAX_RANGES; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            r[*n].lo = info->dlpi_addr + ph->p_vaddr;
            r[*n].hi = r[*n].lo + ph->p_memsz;
            (*n)++;
        }
    }
    return 0;
}

static int in_ranges(const struct range *r, int n, uintptr_t pc)
{
    for (int i = 0; i < n; i++)
        if (pc >= r[i].lo && pc < r[i].hi)
            return 1;
    return 0;
}

static void on_timer(int sig, siginfo_t *info, void *ucv)
{
    (void)sig;
    (void)info;
    uintptr_t pc = (uintptr_t)((ucontext_t *)ucv)->uc_mcontext.gregs[REG_RIP];
    if (!armed || in_ranges(libc_ranges, n_libc, pc))
        return;
    armed = 0;
    jumps++;
    if (in_ranges(audit_ranges, n_audit, pc))
        jumps_recorder++;
    siglongjmp(env, 1);
}

static void on_abort(int sig)
{
    (void)sig;
    jumps++;
    siglongjmp(env, 1);
}

static char *put_field(char *p, const char *name, long v)
{
    char tmp[24];
    int n = 0;
    while (*name)
        *p++ = *name++;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    *p++ = ' ';
    return p;
}

static size_t live_chunks(void)
{
    return mallinfo2().hblks;
}

/* One round; the counts of what took effect go to *allocs, *frees, *leaked. */
static void round_timer(long *allocs, long *frees, long *leaked)
{
    size_t before = live_chunks();
    if (sigsetjmp(env, 1) == 0) {
        armed = 1;
        block = malloc(BIG);
        armed = 0;
    } else {
        if (live_chunks() > before) {
            ++*allocs; /* allocated, but the pointer never reached us */
            ++*leaked;
        }
        return;
    }
    ++*allocs;
    before = live_chunks();
    if (sigsetjmp(env, 1) == 0) {
        armed = 1;
        free(block);
        armed = 0;
    } else if (live_chunks() == before) {
        free(block); /* the free did not happen: the block is still ours */
    }
    ++*frees;
}

static int run_timer(int signo, long n)
{
    dl_iterate_phdr(find_ranges, NULL);
    if (n_libc < 2)
        return 10;
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_timer;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(signo, &sa, NULL) != 0)
        return 11;
    struct sigevent ev;
    memset(&ev, 0, sizeof(ev));
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = signo;
    timer_t timer;
    if (timer_create(CLOCK_MONOTONIC, &ev, &timer) != 0)
        return 12;
    long allocs = 0, frees = 0, leaked = 0;
    long i = 0;
    for (; i < n && i < WARM_UP; i++)
        round_timer(&allocs, &frees, &leaked);
    struct itimerspec it = {{0, 30000}, {0, 30000}};
    if (timer_settime(timer, 0, &it, NULL) != 0)
        return 13;
    for (; i < n; i++)
        round_timer(&allocs, &frees, &leaked);
    timer_delete(timer);
    char line[256];
    char *p = line;
    p = put_field(p, "allocs=", allocs);
    p = put_field(p, "frees=", frees);
    p = put_field(p, "leaked=", leaked);
    p = put_field(p, "jumps=", jumps);
    p = put_field(p, "recorder=", jumps_recorder);
    p[-1] = '\n';
    return write(STDOUT_FILENO, line, (size_t)(p - line)) > 0 ? 0 : 14;
}

static void round_abort(void)
{
    char *volatile a = malloc(100);
    memset(a, 0, 100);
    if (sigsetjmp(env, 1) == 0) {
        void *r = realloc(a + 32, 50); /* chunk size 0: glibc aborts */
        block = r;                     /* not reached */
    }
    free(a);
}

static size_t page_bytes;
static char *volatile protected_page;
static volatile long faults;

static void in_fault_handler(void)
{
    void *p = malloc(333);
    block = p;
    free(p);
}

static void on_fault(int sig, siginfo_t *info, void *uc)
{
    (void)sig;
    (void)uc;
    char *page = protected_page;
    if (page == NULL || (char *)info->si_addr < page || (char *)info->si_addr >= page + page_bytes)
        abort(); /* not ours */
    mprotect(page, page_bytes, PROT_READ | PROT_WRITE);
    protected_page = NULL;
    faults++;
    in_fault_handler();
    struct timespec ts = {0, 3000000};
    nanosleep(&ts, NULL);
}

static void round_fault(void)
{
    char *a = malloc(16384);
    void *after = malloc(64);
    memset(a, 1, 16384);
    char *page = (char *)(((uintptr_t)a + page_bytes - 1) & ~(uintptr_t)(page_bytes - 1));
    protected_page = page;
    if (mprotect(page, page_bytes, PROT_NONE) != 0)
        _exit(20);
    void *b = realloc(a, 1 << 20);
    free(b);
    free(after);
}

static int run_fault(long n)
{
    page_bytes = (size_t)sysconf(_SC_PAGESIZE);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, NULL) != 0)
        return 11;
    free(malloc(333));
    for (long i = 0; i < n; i++)
        round_fault();
    char line[64];
    char *p = put_field(line, "faults=", faults);
    p[-1] = '\n';
    return write(STDOUT_FILENO, line, (size_t)(p - line)) > 0 && faults == n ? 0 : 14;
}

static int run_abort(long n)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_abort;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGABRT, &sa, NULL) != 0)
        return 11;
    for (long i = 0; i < n; i++) {
        round_abort();
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    char line[64];
    char *p = put_field(line, "jumps=", jumps);
    p[-1] = '\n';
    return write(STDOUT_FILENO, line, (size_t)(p - line)) > 0 ? 0 : 14;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "timer") == 0) {
        int signo = strcmp(argv[2], "rt") == 0 ? SIGRTMIN : SIGALRM;
        return run_timer(signo, argc > 3 ? atol(argv[3]) : 20000);
    }
    if (argc >= 2 && strcmp(argv[1], "abort") == 0)
        return run_abort(argc > 2 ? atol(argv[2]) : 50);
    if (argc >= 2 && strcmp(argv[1], "fault") == 0)
        return run_fault(argc > 2 ? atol(argv[2]) : 50);
    return 2;
}
