/* growth.c — one site for each of the audit's findings, with known figures.
 *
 * main():
 *   cache_init()      malloc(1000), kept to the end: a leak allocated once, at
 *                     the start (finding "leak", not growing).
 *   grow_by_realloc() malloc(16) in buf_new(), then 10 reallocs in buf_grow()
 *                     doubling to 16384, then free: realloc_grows 10 at
 *                     buf_grow, one chain of 10 reallocs ending at 16384.
 *                     Whether glibc moves a block is its choice: the program
 *                     counts the moves and the bytes they copied itself and
 *                     prints them ("moves=N copied=M").
 *   grow_by_hand()    12 calls of grow(): malloc(16 << i) from one site,
 *                     copy, free the previous block (from that same site):
 *                     11 manual grows copying 16 × (2^11 − 1) = 32752 bytes;
 *                     the last block is freed by main.
 *   churn()           5000 × (4 × make_node() malloc(48), then 4 frees):
 *                     20000 allocations, never more than 4 live, all of size
 *                     class 32..63: finding "pooling", 19996 allocations saved.
 *                     Every 125th round also calls leak_step(): malloc(100),
 *                     never freed — 40 leaked blocks spread over the churn,
 *                     which is most of the run's events (finding
 *                     "growing-leak": 40 blocks, 4000 bytes).
 *   small()           2000 × small_node() malloc(16), all live at once, then
 *                     freed: finding "small-blocks"; the program prints the
 *                     usable size of a 16-byte block ("usable16=N").
 * Totals: allocations 1 + 1 + 10 + 12 + 20000 + 2000 + 40 = 22064, plus
 * glibc's buffer for stdout (printf) = 22065; leaked 5000 bytes in 41 blocks;
 * the stdout buffer is the C runtime's (memcheck's cleanup frees it).
 * Memcheck (valgrind 3.19): "in use at exit: 5,000 bytes in 41 blocks",
 * "total heap usage: 22,065 allocs, 22,024 frees, 1,099,368 bytes allocated". */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

static void *volatile keep[64];
static void *volatile sink;

static NOINLINE void *cache_init(void)
{
    return malloc(1000);
}

static NOINLINE void *leak_step(void)
{
    return malloc(100);
}

static NOINLINE char *buf_new(void)
{
    return malloc(16);
}

static NOINLINE char *buf_grow(char *p, size_t n)
{
    return realloc(p, n);
}

static NOINLINE void grow_by_realloc(unsigned long *moves, unsigned long *copied)
{
    size_t n = 16;
    char *p = buf_new();
    memset(p, 1, n);
    for (int i = 0; i < 10; i++) {
        char *q = buf_grow(p, n * 2);
        if (q != p) {
            (*moves)++;
            *copied += n;
        }
        p = q;
        n *= 2;
        memset(p, 1, n);
    }
    free(p);
}

static NOINLINE char *grow(char *old, size_t old_n, size_t n)
{
    char *p = malloc(n);
    if (old) {
        memcpy(p, old, old_n);
        free(old);
    }
    return p;
}

static NOINLINE void grow_by_hand(void)
{
    char *p = NULL;
    size_t n = 0;
    for (int i = 0; i < 12; i++) {
        size_t m = (size_t)16 << i;
        p = grow(p, n, m);
        memset(p, 2, m);
        n = m;
    }
    sink = p;
    free(p);
}

static NOINLINE void *make_node(void)
{
    return malloc(48);
}

static NOINLINE void churn(void)
{
    for (int i = 0; i < 5000; i++) {
        if (i % 125 == 0)
            keep[1 + i / 125] = leak_step();
        void *n[4];
        for (int k = 0; k < 4; k++)
            n[k] = make_node();
        for (int k = 0; k < 4; k++)
            free(n[k]);
    }
}

static NOINLINE void *small_node(void)
{
    return malloc(16);
}

static NOINLINE void small(void)
{
    static void *nodes[2000];
    for (int i = 0; i < 2000; i++)
        nodes[i] = small_node();
    printf("usable16=%zu\n", malloc_usable_size(nodes[0]));
    for (int i = 0; i < 2000; i++)
        free(nodes[i]);
}

int main(void)
{
    keep[0] = cache_init();
    unsigned long moves = 0, copied = 0;
    grow_by_realloc(&moves, &copied);
    grow_by_hand();
    churn();
    small();
    printf("moves=%lu copied=%lu\n", moves, copied);
    return 0;
}
