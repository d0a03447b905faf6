/* harm.c — a target whose output and exit status must be the same with and
 * without the recorder, whatever goes wrong with the recording.
 *
 *   harm [N]     N = 50000 by default
 *
 * Prints "euid=E" (to tell whether a set-uid bit took effect), then N x
 * { malloc(16 + i % 100); free } (about 10 bytes of trace each: N = 50000
 * fills far more than a 64 KiB file system), prints "done N" and exits 3.
 * Allocations N, frees N; the figures do not matter here, only that nothing
 * the program does changes. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *volatile sink;

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 50000;
    printf("euid=%u\n", (unsigned)geteuid());
    fflush(stdout);
    for (long i = 0; i < n; i++) {
        void *p = malloc(16 + (size_t)(i % 100));
        sink = p;
        free(p);
    }
    printf("done %ld\n", n);
    return 3;
}
