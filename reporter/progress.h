/* progress.h — a progress bar on stderr for the offline tools' long loops:
 * replaying a trace, symbolizing the stacks of a profile.
 *
 * The bar is for a person watching a terminal, nothing else: it is drawn only
 * when stderr is a terminal, never when the environment says CI (CI set and
 * not empty) or TERM is "dumb", so it never lands in a pipe, a file or a CI
 * log. It appears only once the work has taken PROGRESS_AFTER_MS (the
 * environment's MEMAUDIT_PROGRESS_AFTER_MS, 0 to 60000, overrides it: tests
 * set 0), so short work prints nothing; it is redrawn at most every
 * PROGRESS_REDRAW_MS, and progress_end() erases it. Nothing else may be
 * written to stderr between progress_begin() and progress_end().
 *
 *     struct progress p;
 *     struct an_progress hook = {progress_update, &p};
 *     progress_begin(&p, "replaying", path);
 *     rc = an_run_progress(trace, &a, &hook);
 *     progress_end(&p);
 */
#ifndef MEMAUDIT_PROGRESS_H
#define MEMAUDIT_PROGRESS_H

#include <stdint.h>

#define PROGRESS_AFTER_MS 500
#define PROGRESS_REDRAW_MS 100

struct progress {
    int enabled;          /* stderr is a terminal a person watches */
    int shown;            /* the bar is on the screen: progress_end() erases it */
    uint64_t start_ns;    /* CLOCK_MONOTONIC at progress_begin() */
    uint64_t after_ns;    /* draw nothing before start_ns + after_ns */
    uint64_t drawn_ns;    /* when the bar was last drawn */
    char label[80];       /* "replaying memaudit.prog.123.trace" */
};

/* Start timing one piece of work, what (a verb) on name (a path: its last
 * component is shown). Draws nothing yet. */
void progress_begin(struct progress *p, const char *what, const char *name);

/* done of total steps are finished: redraw the bar if it is due. arg is the
 * struct progress (the signature of struct an_progress's fn). */
void progress_update(void *arg, uint64_t done, uint64_t total);

/* Erase the bar if it was drawn. */
void progress_end(struct progress *p);

#endif
