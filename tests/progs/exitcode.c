/* exitcode.c — a program that leaves through exit(3) (or abort()) with memory
 * still allocated: the recorder must keep its exit status, see the atexit
 * handler's events, and still finish the trace.
 *
 *   exitcode [exit|abort]       (default: exit)
 *
 * main():  leak_before_exit()   malloc(4000), never freed
 *          hold_until_atexit()  malloc(300), freed by the atexit handler
 *          scratch()            malloc(100); free    (temporary)
 * exit mode: exit(3); the atexit handler at_exit_release() then frees the 300
 *          block and does malloc(50); free (temporary). atexit() itself does
 *          not allocate: glibc keeps the first 32 handlers in a static block.
 *   allocations 4, frees 3, bytes_allocated 4450, leaked 4000 in 1 block
 *   (leak_before_exit), temporary_allocations 2, peak 4400 (4000 + 300 + 100),
 *   exit status 3.
 * abort mode: abort() after scratch(); no atexit handler runs.
 *   allocations 3, frees 1, bytes_allocated 4400, leaked 4300 in 2 blocks
 *   (leak_before_exit 4000, hold_until_atexit 300), temporary_allocations 1,
 *   killed by SIGABRT (a shell reports status 134).
 * Memcheck (valgrind 3.19), exit mode: "total heap usage: 4 allocs, 3 frees,
 * 4,450 bytes allocated", "in use at exit: 4,000 bytes in 1 blocks". */
#include <stdlib.h>
#include <string.h>

static void *volatile kept;
static void *volatile held;
static void *volatile sink;

static void leak_before_exit(void)
{
    kept = malloc(4000);
}

static void hold_until_atexit(void)
{
    held = malloc(300);
}

static void scratch(size_t n)
{
    void *p = malloc(n);
    sink = p;
    free(p);
}

static void at_exit_release(void)
{
    free(held);
    scratch(50);
}

int main(int argc, char **argv)
{
    int do_abort = argc > 1 && strcmp(argv[1], "abort") == 0;

    if (atexit(at_exit_release) != 0)
        return 10;
    leak_before_exit();
    hold_until_atexit();
    scratch(100);
    if (do_abort)
        abort();
    exit(3);
}
