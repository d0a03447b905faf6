/* peak.c — a heap peak of exactly 1,000,000 requested bytes, reached once, with
 * churn before and after that never comes near it, and a realloc that would
 * overshoot the peak if a tool counted old + new at the same moment.
 *
 *   main():            bg = keep_background()            malloc(64000), freed last
 *   churn_before():    1000 x { p = malloc(1000 + (i*7919) % 9000); free(p) }
 *                      sizes 1000..9979, sum 5,495,500; live at most 64000 + 9979
 *   peak_hold():       9 x malloc(104000) = 936,000 live -> total 1,000,000 (the peak)
 *   peak_release():    frees the 9 blocks, first to last
 *   grow_near_peak():  p = malloc(900000); p = realloc(p, 935999); free(p)
 *                      live 64000 + 935999 = 999,999: one byte under the peak
 *                      (64000 + 900000 + 935999 if the realloc were not atomic)
 *   churn_after():     2000 x malloc(5000) kept in a ring of 50 (the oldest is
 *                      freed before each malloc once the ring is full), then the
 *                      last 50 freed; live at most 64000 + 250000
 *
 * Exact expected totals (DESIGN.md "Definitions"):
 *   allocations      3012  (1 + 1000 + 9 + 2 + 2000)
 *   frees            3012  (everything, the realloc'ed-away block included)
 *   bytes_allocated  18331499  (64000 + 5495500 + 936000 + 900000 + 935999
 *                               + 2000 * 5000)
 *   peak_heap_bytes  1000000
 *   peak.sites:      peak_hold 936000 bytes in 9 blocks (the largest),
 *                    keep_background 64000 bytes in 1 block; nothing else
 *   leaked           0 bytes in 0 blocks
 *   reallocs         1
 *   temporary_allocations 1002  (the 1000 churn_before blocks, and both blocks
 *                    of grow_near_peak; peak_hold's last block is followed by
 *                    the free of its first, and churn_after's mallocs by the
 *                    free of another ring slot, so none of those)
 *
 * Memcheck (valgrind 3.19) agrees on the counts: "total heap usage: 3,012
 * allocs, 3,012 frees, 18,331,499 bytes allocated"; massif with
 * --heap-admin=0 --peak-inaccuracy=0 agrees on the peak (mem_heap_B=1000000). */
#include <stdlib.h>

#define HOLD_BLOCKS 9
#define RING 50

static void *hold[HOLD_BLOCKS];
static void *ring[RING];
static void *volatile sink;

static void *keep_background(void)
{
    void *p = malloc(64000);
    sink = p;
    return p;
}

static void churn_before(void)
{
    for (unsigned i = 0; i < 1000; i++) {
        void *p = malloc(1000 + (i * 7919u) % 9000);
        sink = p;
        free(p);
    }
}

static void peak_hold(void)
{
    for (int i = 0; i < HOLD_BLOCKS; i++)
        hold[i] = malloc(104000);
}

static void peak_release(void)
{
    for (int i = 0; i < HOLD_BLOCKS; i++)
        free(hold[i]);
}

static void grow_near_peak(void)
{
    void *p = malloc(900000);
    void *q = realloc(p, 935999);
    if (q == NULL)
        q = p;
    sink = q;
    free(q);
}

static void churn_after(void)
{
    for (unsigned i = 0; i < 2000; i++) {
        if (i >= RING)
            free(ring[i % RING]);
        ring[i % RING] = malloc(5000);
    }
    for (unsigned i = 0; i < RING; i++)
        free(ring[i]);
}

int main(void)
{
    void *bg = keep_background();
    churn_before();
    peak_hold();
    peak_release();
    grow_near_peak();
    churn_after();
    free(bg);
    return 0;
}
