/* hold.c — 50 MiB live, and resident, for about 300 ms: memory samples
 * (MEMAUDIT_INTERVAL_MS, 50 ms by default) taken then see it.
 *
 *   take():     50 x malloc(1 MiB), each written through (so it is resident)
 *   nanosleep   300 ms
 *   give():     frees the 50 blocks
 *
 * Exact expected figures:
 *   allocations 50, frees 50, bytes_allocated 52428800, peak_heap_bytes 52428800,
 *   leaked 0. The live heap is exactly 52428800 during the sleep: at least one
 *   sample falls there, with an RSS of at least 52428800 bytes.
 * No stdio: nothing else allocates. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLOCKS 50
#define BLOCK_BYTES (1024 * 1024)

static char *volatile blocks[BLOCKS];

__attribute__((noinline)) static void take(void)
{
    for (int i = 0; i < BLOCKS; i++) {
        blocks[i] = malloc(BLOCK_BYTES);
        if (blocks[i] == NULL)
            exit(2);
        memset(blocks[i], i + 1, BLOCK_BYTES);
    }
}

__attribute__((noinline)) static void give(void)
{
    for (int i = 0; i < BLOCKS; i++)
        free(blocks[i]);
}

int main(void)
{
    take();
    struct timespec ts = {0, 300 * 1000 * 1000};
    while (nanosleep(&ts, &ts) != 0)
        ;
    give();
    return 0;
}
