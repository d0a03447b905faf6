/* loop.c — many small malloc/free pairs at a deep call stack: the recorder's hot
 * path, and a check that nothing is lost or miscounted at volume.
 *
 *   loop [N [DEPTH]]     N defaults to 3000000, DEPTH to 20
 *
 * main -> descend(DEPTH) -> descend(DEPTH-1) -> ... -> descend(0) -> churn(N);
 * churn does N times { p = malloc(8 + (i * 37) % 505); free(p) }, sizes 8..512.
 *
 * Exact expected totals:
 *   allocations = frees = temporary_allocations = N (nothing else allocates)
 *   bytes_allocated = sum over i < N of (8 + (i*37) % 505). 37 and 505 are
 *     coprime, so every 505 consecutive i take each residue 0..504 once:
 *     131300 per full period (505*8 + 504*505/2), plus the partial period.
 *       N = 3000000: 779999665      N = 20000: 5199230      N = 1000: 259505
 *   peak_heap_bytes = 512 (for N >= 505: only one block is ever live)
 *   leaked 0 bytes in 0 blocks; one hotspot, churn, with N allocations, N
 *   temporary, and below it DEPTH + 1 descend frames and main, so its stack
 *   has at least DEPTH + 3 frames.
 * Memcheck (valgrind 3.19), N = 20000: "total heap usage: 20,000 allocs,
 * 20,000 frees, 5,199,230 bytes allocated", "in use at exit: 0 bytes in 0 blocks". */
#include <stdlib.h>

static void *volatile sink;

static unsigned long parse(const char *s, unsigned long dflt)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    return (*s != '\0' && *end == '\0') ? v : dflt;
}

static void churn(unsigned long n)
{
    for (unsigned long i = 0; i < n; i++) {
        void *p = malloc(8 + (i * 37) % 505);
        sink = p;
        free(p);
    }
}

/* Not a tail call: the addition after the call keeps every frame on the stack. */
static int descend(unsigned depth, unsigned long n)
{
    if (depth == 0) {
        churn(n);
        return 0;
    }
    return descend(depth - 1, n) + 1;
}

int main(int argc, char **argv)
{
    unsigned long n = argc > 1 ? parse(argv[1], 3000000) : 3000000;
    unsigned depth = (unsigned)(argc > 2 ? parse(argv[2], 20) : 20);
    return descend(depth, n) == (int)depth ? 0 : 1;
}
