/* phases.c — three phases marked with include/memaudit.h, each with
 * allocations known exactly (tests/integration/run.sh checks them per phase).
 *
 *   parse:   100 x malloc(64) = 6400 B; frees 40 of them. Peak 6400 B (100 blocks).
 *   analyse: 20 x malloc(1000), each realloc'ed to 2000, all freed:
 *            40 allocations, 60000 B, 20 reallocs, 40 frees; heap at its start
 *            60 x 64 = 3840 B, peak 3840 + 20 x 2000 = 43840 B.
 *   report:  malloc(5000) kept (leaked), 30 x (malloc(16), free) = 30
 *            temporaries, then frees 50 of parse's 60 blocks: 31 allocations,
 *            5480 B, 80 frees; peak 3840 + 5000 + 16 = 8856 B.
 *   then memaudit_phase_end(); printf (stdio's buffer: in no phase).
 *
 * Left live at the end: 10 blocks of parse (640 B) and 1 of report (5000 B).
 * Without the preload memaudit_phase is a no-op: the output is the same. */
#include <stdio.h>
#include <stdlib.h>

#include "../../include/memaudit.h"

static void *parsed[100];
static void *work[20];

static void parse_step(int i)
{
    parsed[i] = malloc(64);
}

static void analyse_step(int i)
{
    work[i] = malloc(1000);
}

static void analyse_grow(int i)
{
    work[i] = realloc(work[i], 2000);
}

static void *report_scratch(void)
{
    return malloc(16);
}

static void *report_keep(void)
{
    return malloc(5000);
}

int main(void)
{
    memaudit_phase("parse");
    for (int i = 0; i < 100; i++)
        parse_step(i);
    for (int i = 0; i < 40; i++)
        free(parsed[i]);

    memaudit_phase("analyse");
    for (int i = 0; i < 20; i++)
        analyse_step(i);
    for (int i = 0; i < 20; i++)
        analyse_grow(i);
    for (int i = 0; i < 20; i++)
        free(work[i]);

    memaudit_phase("report");
    void *kept = report_keep();
    for (int i = 0; i < 30; i++)
        free(report_scratch());
    for (int i = 40; i < 90; i++)
        free(parsed[i]);

    memaudit_phase_end();
    printf("phases: done (%s)\n", kept != NULL ? "ok" : "no memory");
    return 0;
}
