/* reallocarray.c — reallocarray of NULL and of its own blocks, then free.
 *
 * glibc's reallocarray calls realloc through the PLT; the recorder must see
 * one call, not two (a nested one once made the new block look like one of
 * the recorder's own, so its free went unrecorded).
 *
 *   p = reallocarray(NULL, 10, 10)   alloc 100
 *   p = reallocarray(p, 20, 10)      realloc 100 -> 200
 *   free(p)                          free 200
 *   q = reallocarray(NULL, 5, 8)     alloc 40
 *   free(q)                          free 40
 *   r = reallocarray(NULL, 3, 3)     alloc 9, leaked
 *
 *   allocations 4, frees 3, reallocs 1, bytes_allocated 349, unmatched 0,
 *   leaked 9 B in 1 block at leak_one. */
#include <stdlib.h>

static void *volatile keep;

__attribute__((noinline)) static void grow_and_free(void)
{
    char *p = reallocarray(NULL, 10, 10);
    p = reallocarray(p, 20, 10);
    free(p);
    char *q = reallocarray(NULL, 5, 8);
    free(q);
}

__attribute__((noinline)) static void leak_one(void)
{
    keep = reallocarray(NULL, 3, 3);
}

int main(void)
{
    grow_and_free();
    leak_one();
    return keep == NULL;
}
