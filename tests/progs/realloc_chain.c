/* realloc_chain.c — one buffer grown by realloc, doubling from 16 bytes to 64 KiB,
 * then freed; the classic "grown by repeated realloc" pattern.
 *
 *   grow_buffer():  p = malloc(16)
 *                   p = realloc(p, 32), realloc(p, 64), ..., realloc(p, 65536)
 *                                            (12 reallocs of a live block)
 *   main():         free(p)
 *
 * Exact expected totals (DESIGN.md: a realloc is one allocation of the new
 * size plus one free of the old block, also when it grows in place):
 *   allocations      13        (1 malloc + 12 reallocs)
 *   frees            13        (12 blocks realloc'ed away + 1 free)
 *   bytes_allocated  131056    (16 + 32 + ... + 65536 = 16 * (2^13 - 1))
 *   reallocs         12
 *   peak_heap_bytes  65536     (a realloc replaces the old size at once, so
 *                               the live total goes 16, 32, ..., 65536; never
 *                               old + new)
 *   leaked           0 bytes in 0 blocks
 *   temporary_allocations 13   (every block is realloc'ed away or freed by
 *                               the next allocator call of the same thread)
 *   hotspots: the malloc and the realloc are two sites in grow_buffer; the
 *   realloc site has 12 allocations and 131040 bytes.
 *
 * Memcheck (valgrind 3.19) agrees: "total heap usage: 13 allocs, 13 frees,
 * 131,056 bytes allocated", "in use at exit: 0 bytes in 0 blocks".
 * realloc(p, 0) has its own program, realloc_zero.c, so that a disagreement
 * over it cannot hide in these figures. */
#include <stdlib.h>

static void *volatile result;

static void *grow_buffer(void)
{
    size_t size = 16;
    char *p = malloc(size);

    if (p == NULL)
        return NULL;
    while (size < 65536) {
        size *= 2;
        char *q = realloc(p, size);
        if (q == NULL)
            break;
        p = q;
        p[size - 1] = 1;
    }
    return p;
}

int main(void)
{
    result = grow_buffer();
    free(result);
    return 0;
}
