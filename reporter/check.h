/* check.h — budgets that turn a run into an exit status (memaudit check).
 *
 * A budget bounds one figure (compare.h's enum cmp_figure) of a run: an
 * absolute maximum (--max-peak 64MiB) or, against a baseline run, a growth
 * in percent (--max-growth 10, or per figure --max-growth-peak 5). Budgets
 * come from the command line or from a file checked into the user's
 * repository, one per line:
 *
 *     # memaudit budgets
 *     max-peak = 64MiB
 *     max-leaked-blocks = 0
 *     max-growth = 10          # every figure, against --baseline
 *     max-growth-temporary = 25
 *
 * Each exceeded budget prints one line naming the figure, the limit, the
 * value and the site most responsible. */
#ifndef MEMAUDIT_CHECK_H
#define MEMAUDIT_CHECK_H

#include <stdio.h>

#include "compare.h"

/* Exit status of memaudit check when a budget is exceeded. */
#define CHECK_EXIT_OVER 3

#define CHECK_MAX_BUDGETS 64

struct budget {
    enum cmp_figure figure;
    int growth;        /* 0: value <= max; 1: value <= baseline × (1 + pct/100) */
    uint64_t max;
    double pct;
};

struct budgets {
    struct budget b[CHECK_MAX_BUDGETS];
    size_t n;
};

/* Add the budget named by option (without leading dashes: "max-peak",
 * "max-growth", "max-growth-leaked" ...) with value text. Returns 0, or
 * -EINVAL with a one-line reason in err. */
int check_add(struct budgets *b, const char *option, const char *value, char *err,
              size_t errlen);
/* Read budgets from a file (syntax above). Returns 0, or a negative errno
 * with a one-line reason ("line N: ...") in err. */
int check_read_file(struct budgets *b, const char *path, char *err, size_t errlen);
/* 1 if some budget needs a baseline. */
int check_needs_baseline(const struct budgets *b);

/* Check run against b (baseline may be NULL when none needs it). Prints one
 * line per exceeded budget to out, prefixed by run->label. Returns the
 * number exceeded, or a negative errno. */
int check_run(const struct budgets *b, const struct cmp_run *run, const struct cmp_run *baseline,
              FILE *out);

/* The same for totals that are not one run's (suite.h's suite_total, the
 * budgets' --total; a phase), labelled label; base: the baseline's totals
 * (NULL when no budget needs it). top[f] names what is most responsible for
 * figure f, a top_kind ("process": "pid 123 (./prog)"), or is NULL. */
int check_totals(const struct budgets *b, const char *label, const struct an_totals *t,
                 const struct an_totals *base, const char *top_kind,
                 const char *const top[CMP_FIGURES_], FILE *out);

/* "function (file:line)" of the first kept frame of stack id of src, or
 * "no site" (id 0, or a stack without frames), into buf. */
void check_site_label(const struct rc_source *src, uint32_t id, char *buf, size_t len);

/* Check the figures of one phase of run (memaudit.h's marks; docs/metrics.md,
 * "Phases") against b: peak is the phase's peak heap, leaked its blocks still
 * live at the end, allocations/bytes/temporary its own; growth compares with
 * the baseline's phase of the same name. Prints one line per exceeded budget
 * (naming the phase's busiest site). Returns the number exceeded, -ENOENT
 * (after saying so on stderr) when a run has no such phase, or a negative
 * errno. */
int check_phase(const struct budgets *b, const struct cmp_run *run,
                const struct cmp_run *baseline, const char *phase, FILE *out);

#endif
