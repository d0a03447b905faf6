/* malloc_misc.c — glibc's allocator extras keep working under the recorder:
 * malloc_usable_size, mallopt, malloc_trim, mallinfo2. The program checks
 * each itself and exits with the number of the first check that failed (0:
 * all held), so any difference the recorder makes is its exit status.
 *
 * Allocations: p = malloc(100) (usable size >= 100; glibc 2.36 on x86-64: 104),
 * q = malloc(1 << 20) (above the mmap threshold that mallopt set: 64 KiB;
 * mallinfo2 then counts one mmap'd block), free(q), free(p), malloc_trim(0).
 * Exact: allocations 2, frees 2, bytes 1048676, peak 1048676, no leak. */
#include <malloc.h>
#include <stdlib.h>

static void *volatile sink;

int main(void)
{
    char *p = malloc(100);
    if (p == NULL)
        return 1;
    size_t usable = malloc_usable_size(p);
    if (usable < 100 || usable > 100 + 2 * sizeof(size_t))
        return 2;
    if (malloc_usable_size(NULL) != 0)
        return 3;
    if (mallopt(M_MMAP_THRESHOLD, 64 * 1024) != 1)
        return 4;
    char *q = malloc(1 << 20);
    if (q == NULL)
        return 5;
    sink = q;
    struct mallinfo2 mi = mallinfo2();
    if (mi.hblks < 1 || mi.hblkhd < (1 << 20))
        return 6;
    if (malloc_usable_size(q) < (1 << 20))
        return 7;
    free(q);
    free(p);
    malloc_trim(0);
    return 0;
}
