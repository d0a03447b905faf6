/* sampled.c — sampling mode's yardsticks (tests/integration/sampling.sh): a
 * site that allocates a known large total in small blocks, and a site of
 * blocks larger than any sampling interval the tests use, some of which leak.
 *
 *   sampled [MIB]     MIB defaults to 256
 *
 * small_site: blocks of 16 + (i * 7919) % 8177 bytes (16 to 8192) until the
 *   site has allocated exactly MIB MiB (the last block cut to fit); the last
 *   64 stay live in a ring, older ones are freed as new ones come, and the
 *   ring is freed at the end. MIB = 256: 268435456 bytes in 65401 blocks.
 * large_site: 40 blocks of 1 MiB + 4096 i bytes (i = 0..39), made one every
 *   1000 small blocks: 45137920 bytes. Those with i < 32 are freed at the
 *   end, the 8 others leak: 9551872 bytes (8 * 1048576 + 4096 * 284).
 * Nothing else allocates but the C runtime (stdout's buffer, for the one
 * line printed at the end: the block counts). */
#include <stdio.h>
#include <stdlib.h>

#define RING 64
#define LARGE 40
#define LARGE_KEPT 32

static void *ring[RING];
static void *large[LARGE];

__attribute__((noinline)) static void *small_site(size_t n)
{
    return malloc(n);
}

__attribute__((noinline)) static void *large_site(size_t n)
{
    return malloc(n);
}

static void check(const void *p)
{
    if (p == NULL) {
        fprintf(stderr, "sampled: out of memory\n");
        exit(1);
    }
}

int main(int argc, char **argv)
{
    long mib = argc > 1 ? atol(argv[1]) : 256;
    if (mib < 1 || mib > 4096) {
        fprintf(stderr, "usage: sampled [MIB]\n");
        return 2;
    }
    size_t total = (size_t)mib << 20, done = 0, blocks = 0, large_n = 0;
    while (done < total) {
        size_t n = 16 + (blocks * 7919) % 8177;
        if (n > total - done)
            n = total - done;
        void *p = small_site(n);
        check(p);
        free(ring[blocks % RING]);
        ring[blocks % RING] = p;
        done += n;
        blocks++;
        if (blocks % 1000 == 0 && large_n < LARGE) {
            large[large_n] = large_site(((size_t)1 << 20) + 4096 * large_n);
            check(large[large_n]);
            large_n++;
        }
    }
    for (int i = 0; i < RING; i++)
        free(ring[i]);
    for (size_t i = 0; i < large_n && i < LARGE_KEPT; i++)
        free(large[i]);
    printf("sampled: %zu small blocks, %zu large\n", blocks, large_n);
    return 0;
}
