/* sites.c — four call sites that each allocate a known large total in blocks
 * of mixed sizes: the yardstick of sampling mode's per-site accuracy
 * (bench/run.sh, "Sampling accuracy").
 *
 *   sites [MIB [DEPTH]]    defaults 64 MiB, depth 12
 *
 * Site k (site_a .. site_d) allocates MIB << k MiB in all -- 64, 128, 256 and
 * 512 MiB by default -- in blocks of 16 B to 256 KiB: a size class picked
 * at random (a fixed LCG, so every run allocates exactly the same sequence)
 * from 16 << 0 .. 16 << 14, plus a random part of that class, so that the
 * bytes spread over small and large blocks alike. The sites take turns in
 * proportion to what each still has to allocate, so their blocks interleave
 * in one stream, as the sites of a real program do. Each site keeps its last
 * 32 blocks live (touching the first byte of each) and frees the older ones,
 * and frees the rest at the end: nothing leaks. The sites run DEPTH frames
 * below main. Prints what each site allocated (blocks and bytes), the exact
 * figures a full recording must report. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define SITES 4
#define KEEP 32

struct site {
    uint64_t target_bytes;
    uint64_t bytes;
    uint64_t blocks;
    char *ring[KEEP];
};

static uint64_t lcg_state = 7;

static uint32_t lcg_next(void)
{
    lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(lcg_state >> 33);
}

static size_t block_size(void)
{
    uint32_t cls = lcg_next() % 15;
    size_t base = (size_t)16 << cls;
    return base + lcg_next() % base;
}

/* One block from site s: the ring keeps the last KEEP live. */
static void site_put(struct site *s, char *p, size_t n)
{
    if (p == NULL) {
        fprintf(stderr, "sites: out of memory\n");
        exit(1);
    }
    p[0] = (char)n;
    free(s->ring[s->blocks % KEEP]);
    s->ring[s->blocks % KEEP] = p;
    s->blocks++;
    s->bytes += n;
}

/* Four functions, so that each site has a stack of its own. */
__attribute__((noinline)) static void site_a(struct site *s, size_t n)
{
    site_put(s, malloc(n), n);
}

__attribute__((noinline)) static void site_b(struct site *s, size_t n)
{
    site_put(s, malloc(n), n);
}

__attribute__((noinline)) static void site_c(struct site *s, size_t n)
{
    site_put(s, malloc(n), n);
}

__attribute__((noinline)) static void site_d(struct site *s, size_t n)
{
    site_put(s, malloc(n), n);
}

static void run(struct site *sites)
{
    void (*const fn[SITES])(struct site *, size_t) = {site_a, site_b, site_c, site_d};
    for (;;) {
        /* The site with the largest share still to allocate goes next. */
        int k = -1;
        double most = 0;
        for (int i = 0; i < SITES; i++) {
            struct site *s = &sites[i];
            if (s->bytes >= s->target_bytes)
                continue;
            double left = (double)(s->target_bytes - s->bytes) / (double)s->target_bytes;
            if (left > most) {
                most = left;
                k = i;
            }
        }
        if (k < 0)
            break;
        size_t n = block_size();
        if (n > sites[k].target_bytes - sites[k].bytes)
            n = sites[k].target_bytes - sites[k].bytes;
        fn[k](&sites[k], n);
    }
    for (int i = 0; i < SITES; i++)
        for (int j = 0; j < KEEP; j++)
            free(sites[i].ring[j]);
}

/* depth frames, then the sites; see loop.c for why it is written so. */
__attribute__((noinline)) static int descend(int depth, struct site *sites)
{
    if (depth <= 1) {
        run(sites);
        return 0;
    }
    int r = descend(depth - 1, sites);
    __asm__ volatile("" : "+r"(r));
    return r + depth;
}

int main(int argc, char **argv)
{
    long mib = argc > 1 ? atol(argv[1]) : 64;
    int depth = argc > 2 ? atoi(argv[2]) : 12;
    if (mib < 1 || mib > 1 << 20 || depth < 1 || depth > 10000) {
        fprintf(stderr, "usage: sites [MIB [DEPTH]]\n");
        return 2;
    }
    static struct site sites[SITES];
    for (int i = 0; i < SITES; i++)
        sites[i].target_bytes = (uint64_t)mib << (20 + i);
    descend(depth, sites);
    for (int i = 0; i < SITES; i++)
        printf("site_%c: %llu blocks, %llu bytes\n", 'a' + i, (unsigned long long)sites[i].blocks,
               (unsigned long long)sites[i].bytes);
    return 0;
}
