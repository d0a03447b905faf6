/* phasefirst.c — a phase marked before the program's first allocation, then
 * a pause of several flusher periods: a replay that follows the trace hands
 * the mark out before any block of events exists, and must still measure
 * times from the recorder's start (tests/integration/runfollow.sh).
 *
 * allocations 2, frees 1, bytes 300, leaked 200 in 1 block; phases "first"
 * (100 bytes) and "second" (200 bytes). */
#include <stdlib.h>
#include <unistd.h>

#include "../../include/memaudit.h"

static void *volatile sink;

int main(void)
{
    memaudit_phase("first");
    usleep(200000);
    void *p = malloc(100);
    sink = p;
    free(p);
    memaudit_phase("second");
    sink = malloc(200);
    usleep(50000);
    return 0;
}
