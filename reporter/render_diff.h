/* render_diff.h — memaudit diff's output (text, md, json; see render_diff.c). */
#ifndef MEMAUDIT_RENDER_DIFF_H
#define MEMAUDIT_RENDER_DIFF_H

#include <stdio.h>

#include "compare.h"

struct diff_input {
    struct cmp_run before, after;
    enum cmp_figure by; /* what "changed most" ranks by */
    size_t top;         /* entries per list */
};

/* format: "text", "md" or "json". Returns 0 or a negative errno. */
int render_diff(FILE *out, const struct diff_input *in, const char *format);

#endif
