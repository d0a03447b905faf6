/* findings.h — what the audit recommends, derived from an analysis.
 *
 * Each finding names one call site, what it does that costs memory or time,
 * the change that would help, and what that change would save, all from
 * measured figures. The rules and thresholds are in docs/metrics.md
 * ("Findings"); every renderer (text, JSON, Markdown) shows the same list. */
#ifndef MEMAUDIT_FINDINGS_H
#define MEMAUDIT_FINDINGS_H

#include <stddef.h>
#include <stdint.h>

#include "analysis.h"

enum fd_kind {
    FD_GROWING_LEAK,   /* leaked blocks allocated all through the run */
    FD_LEAK,           /* leaked blocks allocated in a part of the run only */
    FD_REALLOC_GROWTH, /* a buffer grown by repeated realloc */
    FD_MANUAL_GROWTH,  /* allocate bigger, copy, free the smaller, repeatedly */
    FD_POOLING,        /* many same-size blocks, few live at a time */
    FD_TEMPORARY,      /* blocks freed right after being allocated */
    FD_SMALL_BLOCKS,   /* many tiny blocks live at once: overhead dominates */
    FD_DUPLICATES,     /* blocks that held the same content (MEMAUDIT_CONTENT): intern them */
};

enum fd_priority { FD_HIGH, FD_MEDIUM, FD_LOW };

/* Thresholds (docs/metrics.md, "Findings"). */
#define FD_GROWTH_MIN 8          /* reallocs to a larger size, or manual grows, at a site */
#define FD_POOL_MIN_ALLOCS 1000  /* allocations at a site */
#define FD_POOL_REUSE 100        /* allocations per block live at once, at least */
#define FD_POOL_CLASS_SHARE 90   /* percent of the site's allocations in one size class */
#define FD_TEMP_MIN 1000         /* temporary allocations at a site */
#define FD_TEMP_SHARE 50         /* percent of the site's allocations that were temporary */
#define FD_SMALL_MAX_AVG 32      /* average requested size, bytes */
#define FD_SMALL_MIN_LIVE 1000   /* blocks of the site live at once */
#define FD_CHUNK_HEADER 8        /* bytes of glibc malloc's header per block (64-bit) */
#define FD_DUP_MIN 100           /* freed blocks of a site equal to an earlier one of it */
#define FD_DUP_SHARE 50          /* percent of the site's hashed blocks that were duplicates */
#define FD_HIGH_PCT 10.0         /* impact at or above: high priority */
#define FD_MEDIUM_PCT 1.0        /* impact at or above: medium priority */

struct finding {
    enum fd_kind kind;
    enum fd_priority priority;
    const struct an_site *site;
    double impact_pct;      /* share of the run's total that the change would save */
    uint64_t saved_allocs;  /* allocation calls the change would avoid */
    uint64_t saved_bytes;   /* bytes it would avoid: copying, overhead, or leaked */
};

/* Collect the findings of a, ranked by priority, then impact, then stack id.
 * *out is malloc'd (NULL when there are none). Returns 0 or -ENOMEM. */
int fd_collect(const struct analysis *a, struct finding **out, size_t *n);

/* Stable short name of a kind ("realloc-growth", ...), as used in JSON. */
const char *fd_kind_name(enum fd_kind kind);
/* Heading for a kind ("Repeated growth by realloc", ...). */
const char *fd_kind_title(enum fd_kind kind);
const char *fd_priority_name(enum fd_priority p); /* "high", "medium", "low" */

/* One sentence each, measured figures included, no trailing newline:
 * what the site does, and what to change (with the saving). */
void fd_describe(const struct finding *f, char *buf, size_t len);
void fd_advice(const struct finding *f, char *buf, size_t len);

/* The dominant size class of s and its share of s's allocations (percent). */
unsigned fd_main_class(const struct an_site *s, double *share_pct);

/* Memory-safety status of the run: "EXCELLENT", "GOOD" or "NEEDS ATTENTION"
 * (docs/metrics.md, "Findings"). */
const char *fd_safety_status(const struct analysis *a);

#endif
