/* compare.h — two runs side by side (memaudit diff) and budgets (memaudit check).
 *
 * Sites of two runs are matched by their symbolized stacks, not by stack ids
 * or addresses, so a rebuilt binary still matches: the key of a site is the
 * list of its kept frames (allocator plumbing folded away, as in reports),
 * each as "function@module-basename" — no line numbers, no addresses, so
 * edits that shift lines keep the match. Frames without a function name fall
 * back to module+offset, which only matches an unchanged binary. Sites of one
 * run with the same key (same functions, other lines) are summed.
 *
 * Budgets: every figure a budget can bound is a struct cmp_figure; a check
 * compares the figures of a run with absolute limits and with a baseline
 * run (growth in percent). Sizes accept "64MiB"-style units. */
#ifndef MEMAUDIT_COMPARE_H
#define MEMAUDIT_COMPARE_H

#include <stddef.h>
#include <stdint.h>

#include "analysis.h"
#include "render_common.h"

/* Frames of a stack that make its key. */
#define CMP_KEY_FRAMES 32u

/* One run as the comparison sees it. */
struct cmp_run {
    const char *label;            /* e.g. the file name */
    const struct analysis *a;
    const struct rc_source *src;
};

/* A matched site: its figures in each run (zero where it did not occur). */
struct cmp_entry {
    char *key;                    /* malloc'd */
    struct an_site before, after; /* sums over the sites with this key */
    int in_before, in_after;
    uint32_t stack_before, stack_after; /* a representative stack id in each run */
};

struct cmp_result {
    struct cmp_entry *entries;
    size_t n;
};

/* Match the sites of two runs. Returns 0 or -ENOMEM. */
int cmp_match(const struct cmp_run *before, const struct cmp_run *after, struct cmp_result *r);
void cmp_free(struct cmp_result *r);

/* The key of stack id of src into buf ("" for no stack). Returns 0 or -ENOMEM. */
int cmp_stack_key(const struct rc_source *src, uint32_t id, char *buf, size_t len);

/* The figures a diff shows and a budget can bound. */
enum cmp_figure {
    CMP_PEAK,          /* peak heap bytes */
    CMP_LEAKED,        /* leaked bytes (the program's, not the runtime's) */
    CMP_LEAKED_BLOCKS,
    CMP_ALLOCATIONS,
    CMP_BYTES,         /* bytes allocated */
    CMP_TEMPORARY,     /* temporary allocations */
    CMP_FIGURES_
};

const char *cmp_figure_name(enum cmp_figure f);  /* "peak", "leaked", ... (JSON keys) */
const char *cmp_figure_title(enum cmp_figure f); /* "peak heap", ... */
int cmp_figure_is_bytes(enum cmp_figure f);
uint64_t cmp_total(const struct analysis *a, enum cmp_figure f);
uint64_t cmp_site_value(const struct an_site *s, enum cmp_figure f);

/* Rank the entries of r by the absolute change of figure f, largest first
 * (ties by key). Sets *order to a malloc'd array of indices into r->entries. */
int cmp_rank(const struct cmp_result *r, enum cmp_figure f, size_t **order);

/* Parse "123", "64k", "64KiB", "1.5MiB", "2G" (powers of 1024; a plain
 * number is bytes). Returns 0, or -EINVAL. */
int cmp_parse_size(const char *s, uint64_t *out);

#endif
