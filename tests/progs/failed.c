/* failed.c — allocation calls that fail, counted apart from allocations
 * (DESIGN.md: "Failed calls are counted apart").
 *
 *   fail_malloc()          malloc(SIZE_MAX)                        -> NULL
 *   fail_calloc()          calloc(SIZE_MAX / 2, 4)  (overflow)     -> NULL
 *   fail_realloc()         p = malloc(64); realloc(p, SIZE_MAX)    -> NULL, p
 *                          stays live; then free(p)
 *   fail_reallocarray()    reallocarray(NULL, SIZE_MAX / 2, 4)     -> NULL
 *   fail_posix_memalign()  posix_memalign(&q, 64, SIZE_MAX)        -> ENOMEM
 *
 * Exact expected totals:
 *   failed_allocations 5; allocations 1, frees 1, bytes_allocated 64 (the
 *   failed requests add nothing), peak_heap_bytes 64, reallocs 0 (the failed
 *   realloc neither allocated nor freed), leaked 0 bytes in 0 blocks.
 * Memcheck (valgrind 3.19) agrees on what it counts: "total heap usage: 1
 * allocs, 1 frees, 64 bytes allocated" (it warns about the fishy sizes and
 * keeps no count of failures). The program exits 1 if any call succeeded. */
#include <stdint.h>
#include <stdlib.h>

/* volatile: the compiler must not see (and warn about) the absurd sizes. */
static volatile size_t huge = SIZE_MAX;

static int fail_malloc(void)
{
    return malloc(huge) == NULL ? 0 : 1;
}

static int fail_calloc(void)
{
    return calloc(huge / 2, 4) == NULL ? 0 : 1;
}

static int fail_realloc(void)
{
    void *p = malloc(64);
    if (p == NULL)
        return 1;
    void *q = realloc(p, huge);
    if (q != NULL)
        return 1;
    free(p);
    return 0;
}

static int fail_reallocarray(void)
{
    return reallocarray(NULL, huge / 2, 4) == NULL ? 0 : 1;
}

static int fail_posix_memalign(void)
{
    void *q = NULL;
    return posix_memalign(&q, 64, huge) != 0 && q == NULL ? 0 : 1;
}

int main(void)
{
    int bad = fail_malloc();
    bad |= fail_calloc();
    bad |= fail_realloc();
    bad |= fail_reallocarray();
    bad |= fail_posix_memalign();
    return bad;
}
