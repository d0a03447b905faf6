/* render_diff.h — memaudit diff's output (text, md, json: render_diff.c;
 * html: render_diff_html.c). */
#ifndef MEMAUDIT_RENDER_DIFF_H
#define MEMAUDIT_RENDER_DIFF_H

#include <stdio.h>

#include "compare.h"

struct diff_input {
    struct cmp_run before, after;
    enum cmp_figure by; /* what "changed most" ranks by */
    size_t top;         /* entries per list */
};

/* format: "text", "md", "json" or "html". Returns 0 or a negative errno. */
int render_diff(FILE *out, const struct diff_input *in, const char *format);

/* The entries to show in each list: changed (in both, figure differs), new,
 * vanished; at most top each, ranked by the change of by (cmp_rank). */
struct diff_lists {
    size_t *changed, *added, *gone;          /* indices into r->entries */
    size_t n_changed, n_added, n_gone;       /* shown */
    size_t all_changed, all_added, all_gone; /* in all */
};

/* Returns 0 or -ENOMEM; diff_lists_free() l either way. */
int diff_lists_make(const struct cmp_result *r, enum cmp_figure by, size_t top,
                    struct diff_lists *l);
void diff_lists_free(struct diff_lists *l);

/* One self-contained page: both runs' totals, the differential flame graph
 * and the three lists as tables (render_diff_html.c). */
int render_diff_html(FILE *out, const struct diff_input *in, const struct cmp_result *r);

#endif
