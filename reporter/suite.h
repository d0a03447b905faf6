/* suite.h — the processes of one run side by side: a whole test suite
 * recorded with `memaudit run -o DIR -- make test` (memaudit report DIR,
 * check DIR, run --leak-check).
 *
 * One row per process keeps what the table shows (the figures after
 * suppressions, the process's identity and how it ended, its largest leak
 * site), so that inputs can be opened one at a time and closed again:
 *
 *     struct suite s = {0};
 *     for each input: open it; suite_add(&s, path, an, &src, 0); close it;
 *     suite_sort(&s);
 *     suite_print(stdout, &s, 0);
 *     suite_free(&s);
 *
 * The order is "worst first": processes over budget (memaudit check), then
 * by leaked bytes, leaked blocks, peak heap, and pid. */
#ifndef MEMAUDIT_SUITE_H
#define MEMAUDIT_SUITE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "analysis.h"
#include "render_common.h"

struct suite_row {
    char *label;          /* the input: a trace or profile path (malloc'd) */
    char *cmdline;        /* "" when unknown (malloc'd) */
    uint32_t pid;
    int exit_status;      /* -1 when unknown */
    int signal;           /* the fatal signal, or 0 */
    int complete;         /* 0: the trace ended early */
    struct an_totals totals;
    char *top_leak;       /* the largest leak site, "function (file:line)"; NULL if none */
    char *finding;        /* "[high] growing-leak at function (file:line)", set by
                             suite_set_finding(); NULL if none */
    int over;             /* budgets it exceeded (memaudit check) */
};

struct suite {
    struct suite_row *rows;
    size_t n, cap;
};

/* Add the process of a and src, labelled label. Returns 0 or -ENOMEM. */
int suite_add(struct suite *s, const char *label, const struct analysis *a,
              const struct rc_source *src, int over);
/* Set the last row's finding: the first of a's findings (fd_collect), or,
 * with leak_first, its first leak finding when it has one. 0 or -ENOMEM. */
int suite_set_finding(struct suite *s, const struct analysis *a, const struct rc_source *src,
                      int leak_first);
void suite_sort(struct suite *s);
void suite_free(struct suite *s);

/* 1 if the process ended by exit (or a return from main): its live blocks
 * are leaks a leak check reports. 0 for an image replaced by exec (the trace
 * has no exit status and no signal), one killed by a signal, and a trace cut
 * short — their blocks were not leaked but taken away (LeakSanitizer checks
 * only at exit too). */
int suite_exited(const struct suite_row *r);

/* How the process ended, for the table: "exit 0", "SIGSEGV", "exec",
 * "cut short". */
const char *suite_status(const struct suite_row *r, char *buf, size_t len);

/* The sums over every row, except peak_heap_bytes (and its time and blocks):
 * the largest peak of any one process. *top, if not NULL, is set to the
 * index of that process. */
void suite_total(const struct suite *s, struct an_totals *sum, size_t *top);

/* The table, a totals line under it, on out (with_over: a column saying
 * which rows exceeded a budget). */
void suite_print(FILE *out, const struct suite *s, int with_over);

#endif
