/* glibc_held.c — blocks that glibc itself still holds at exit, next to one leak
 * of the program's own. Each pthread_create on a glibc-managed stack callocs the
 * new thread's DTV; after pthread_join the stack and its DTV stay in glibc's
 * stack cache, allocated, until the process ends. Memcheck hides them by
 * running glibc's exit-time cleanup (__libc_freeres); DESIGN.md asks that they
 * be shown apart from the program's leaks, never mixed in.
 *
 * main(): pthread_create(idle) x 2, then pthread_join x 2 — both threads are
 *         alive at once, so neither reuses the other's cached stack: 2 DTV callocs
 *         (272 bytes each in glibc 2.36 with no other TLS module; 16 more per
 *         extra module with TLS, such as a preloaded library);
 *         then leak_in_main(): malloc(777), never freed.
 *
 * Exact expected figures:
 *   allocations 3 (2 by glibc + 1), bytes_allocated 777 + 2 DTVs (1321 natively)
 *   leaked (the program's own) 777 bytes in 1 block, site leak_in_main
 *   glibc-held at exit: 2 blocks (2 DTVs), not among the program's leaks
 * Memcheck (valgrind 3.19): "total heap usage: 3 allocs, 2 frees, 1,321 bytes
 * allocated" (the 2 frees are __libc_freeres's), "in use at exit: 777 bytes in
 * 1 blocks"; with --run-libc-freeres=no: 3 allocs, 0 frees, 1,321 in use in 3. */
#include <pthread.h>
#include <stdlib.h>

static void *volatile kept;

static void *idle(void *arg)
{
    return arg;
}

static void leak_in_main(void)
{
    kept = malloc(777);
}

int main(void)
{
    pthread_t t[2];

    for (int i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, idle, NULL) != 0)
            return 10;
    for (int i = 0; i < 2; i++)
        if (pthread_join(t[i], NULL) != 0)
            return 10;
    leak_in_main();
    return 0;
}
