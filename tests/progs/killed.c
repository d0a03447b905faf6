/* killed.c — events that reach the trace only through the background flusher:
 * the program is killed with SIGKILL (tests/integration/run.sh), so no exit
 * path of the recorder ever runs, and 10 events are far from filling a buffer.
 *
 *   make_blocks():  10 x malloc(1000 * (i + 1)), i = 0..9    1000 .. 10000 bytes
 *   drop_some():    frees the first three (1000 + 2000 + 3000 bytes)
 *   then writes "ready PID\n" to stdout with write(2) and sleeps (60 s at most)
 *   until the test kills it, ~300 ms later (6 flusher intervals).
 *
 * Exact expected figures (of the incomplete trace):
 *   allocations      10
 *   frees            3
 *   bytes_allocated  55000   (1000 * (1 + 2 + ... + 10))
 *   leaked (live when the trace stops)  49000 bytes in 7 blocks, all from make_blocks
 *   peak_heap_bytes  55000
 * No stdio: nothing else allocates. */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void *volatile blocks[10];

__attribute__((noinline)) static void make_blocks(void)
{
    for (int i = 0; i < 10; i++)
        blocks[i] = malloc(1000 * (size_t)(i + 1));
}

__attribute__((noinline)) static void drop_some(void)
{
    for (int i = 0; i < 3; i++)
        free(blocks[i]);
}

static char *put_u(char *p, unsigned long v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

int main(void)
{
    make_blocks();
    drop_some();
    char line[64] = "ready ";
    char *p = put_u(line + 6, (unsigned long)getpid());
    *p++ = '\n';
    if (write(1, line, (size_t)(p - line)) < 0)
        return 2;
    struct timespec ts = {60, 0};
    nanosleep(&ts, NULL);
    return 1; /* not killed: the test fails on the exit status */
}
