/* realloc_zero.c — realloc(p, 0), which glibc (2.36) treats as free(p) and
 * answers with NULL. Kept apart from realloc_chain.c because C23 leaves it
 * undefined and tools disagree on it.
 *
 *   drop_small():  p = malloc(100); realloc(p, 0) -> NULL, p freed
 *   drop_grown():  q = malloc(200); q = realloc(q, 300); realloc(q, 0) -> NULL
 *
 * Exact expected totals (DESIGN.md: an allocation is a call that returns a
 * block, so a realloc(p, 0) that returns NULL is a free and nothing else; it
 * is not a failed allocation either, since glibc did what it promises):
 *   allocations      3        (malloc 100, malloc 200, realloc to 300)
 *   frees            3        (100 and 300 by realloc(.., 0), 200 realloc'ed away)
 *   bytes_allocated  600
 *   peak_heap_bytes  300
 *   leaked           0 bytes in 0 blocks
 *   failed_allocations 0
 *   temporary_allocations 3  (each block is released by the next allocator
 *                              call of the thread)
 *
 * Memcheck (valgrind 3.19) also frees and returns NULL: "total heap usage: 3
 * allocs, 3 frees, 600 bytes allocated", "in use at exit: 0 bytes in 0 blocks".
 * The program exits 1 if realloc(p, 0) returned a block (another libc). */
#include <stdlib.h>

static int drop_small(void)
{
    void *p = malloc(100);
    void *r = realloc(p, 0);
    return r == NULL ? 0 : 1;
}

static int drop_grown(void)
{
    void *q = malloc(200);
    void *g = realloc(q, 300);
    if (g == NULL)
        return 1;
    void *r = realloc(g, 0);
    return r == NULL ? 0 : 1;
}

int main(void)
{
    int bad = drop_small();
    bad |= drop_grown();
    return bad;
}
