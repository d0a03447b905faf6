/* loop.c — the recorder's worst case: nothing but malloc/free pairs, each
 * made DEPTH frames down, so every call pays for a full stack capture.
 *
 *   loop [N [DEPTH]]     N pairs (default 5000000), DEPTH frames (default 20)
 *
 * Sizes cycle 8, 16, ..., 512 bytes. Built with -fno-builtin so that gcc
 * cannot fold a malloc/free pair away. descend() is noinline and does work
 * after its recursive call, so it is neither inlined nor turned into a tail
 * call: the stack really is DEPTH frames deep when malloc is called.
 * Prints a checksum so that runs can be compared. */
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) static unsigned long churn(long n)
{
    unsigned long sum = 0;

    for (long i = 0; i < n; i++) {
        size_t size = 8 + (size_t)(i % 64) * 8;
        unsigned char *p = malloc(size);

        if (p == NULL) {
            fprintf(stderr, "loop: out of memory\n");
            exit(1);
        }
        p[0] = (unsigned char)i;
        p[size - 1] = (unsigned char)(i >> 8);
        sum += p[0] + p[size - 1];
        free(p);
    }
    return sum;
}

/* depth frames of descend(), then churn(). The addition after the call keeps
 * the call from being a tail call; the empty asm keeps gcc from turning the
 * recursion into a loop. */
__attribute__((noinline)) static unsigned long descend(int depth, long n)
{
    if (depth <= 1)
        return churn(n);
    unsigned long r = descend(depth - 1, n);
    __asm__ volatile("" : "+r"(r));
    return r + (unsigned long)depth;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 5000000;
    int depth = argc > 2 ? atoi(argv[2]) : 20;

    if (n < 0 || depth < 1 || depth > 10000) {
        fprintf(stderr, "usage: loop [N [DEPTH]]\n");
        return 2;
    }
    printf("loop: %ld pairs at depth %d, checksum %lu\n", n, depth, descend(depth, n));
    return 0;
}
