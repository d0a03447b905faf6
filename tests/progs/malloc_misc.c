/* malloc_misc.c — glibc's allocator extras keep working under the recorder:
 * malloc_usable_size, mallopt, malloc_trim, mallinfo2. The program checks
 * each itself and exits with the number of the first check that failed (0:
 * all held), so any difference the recorder makes is its exit status.
 *
 * Allocations: r = malloc(200) freed by free_sized(r, 200); s =
 * aligned_alloc(64, 256) freed by free_aligned_sized(s, 64, 256) (glibc 2.36
 * lacks both: found with dlsym, they are the recorder's; without it, free);
 * p = malloc(100) (usable size >= 100; glibc 2.36 on x86-64: 104),
 * q = malloc(1 << 20) (above the mmap threshold that mallopt set: 64 KiB;
 * mallinfo2 then counts one mmap'd block), free(q), free(p), malloc_trim(0).
 * Exact: allocations 4, frees 4, bytes 1049132, peak 1048676, no leak. */
#include <dlfcn.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

static void *volatile sink;

/* free_sized(p, size) and free_aligned_sized(p, align, size) if the process
 * has them (under the recorder: its own), else free(p). 0, or 8 when the
 * recorder is preloaded and they are not found. */
static int sized_frees(void)
{
    void (*fs)(void *, size_t) = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
    void (*fas)(void *, size_t, size_t) =
        (void (*)(void *, size_t, size_t))dlsym(RTLD_DEFAULT, "free_aligned_sized");
    const char *preload = getenv("LD_PRELOAD");
    if (preload != NULL && strstr(preload, "libaudit") != NULL && (fs == NULL || fas == NULL))
        return 8;
    char *r = malloc(200);
    sink = r;
    if (fs != NULL)
        fs(r, 200);
    else
        free(r);
    char *s = aligned_alloc(64, 256);
    sink = s;
    if (fas != NULL)
        fas(s, 64, 256);
    else
        free(s);
    return 0;
}

int main(void)
{
    int rc = sized_frees();
    if (rc != 0)
        return rc;
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
