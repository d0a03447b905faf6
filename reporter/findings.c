/* findings.c — the audit's recommendations, from measured figures (see
 * findings.h; the rules are written down in docs/metrics.md, "Findings"). */
#include "findings.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "render_common.h"

static double pct(uint64_t part, uint64_t whole)
{
    return whole != 0 ? 100.0 * (double)part / (double)whole : 0.0;
}

static enum fd_priority priority_of(double impact)
{
    if (impact >= FD_HIGH_PCT)
        return FD_HIGH;
    return impact >= FD_MEDIUM_PCT ? FD_MEDIUM : FD_LOW;
}

unsigned fd_main_class(const struct an_site *s, double *share_pct)
{
    unsigned best = 0;
    for (unsigned k = 1; k < AN_SIZE_CLASSES; k++)
        if (s->size_classes[k] > s->size_classes[best])
            best = k;
    if (share_pct)
        *share_pct = pct(s->size_classes[best], s->allocations);
    return best;
}

/* Bytes the allocator spends on one block of s beyond what was asked, on
 * average: slack plus the chunk header. */
static uint64_t overhead_per_block(const struct an_site *s)
{
    return s->allocations ? s->slack_bytes / s->allocations + FD_CHUNK_HEADER : 0;
}

/* A growing leak: at least 3 leaked blocks, allocated over at least a
 * quarter of the run's events (a cache filled once leaks over a moment);
 * the replay decides it (an_site.leak_grows). */
static int leak_grows(const struct an_site *s)
{
    return s->leak_grows;
}

/* Append the findings of one site; returns how many (0..6). */
static size_t site_findings(const struct analysis *a, const struct an_site *s, struct finding *f)
{
    const struct an_totals *t = &a->totals;
    size_t n = 0;

    if (s->live_blocks != 0 && !s->runtime && !s->suppressed) {
        int grows = leak_grows(s);
        double impact = pct(s->live_bytes, t->peak_heap_bytes);
        f[n++] = (struct finding){
            .kind = grows ? FD_GROWING_LEAK : FD_LEAK,
            .priority = grows ? FD_HIGH : priority_of(impact),
            .site = s,
            .impact_pct = impact,
            .saved_bytes = s->live_bytes,
        };
    }
    if (s->realloc_grows >= FD_GROWTH_MIN) {
        double impact = pct(s->realloc_grows, t->allocations);
        f[n++] = (struct finding){FD_REALLOC_GROWTH, priority_of(impact), s, impact,
                                  s->realloc_grows, s->realloc_copied};
    }
    if (s->manual_grows >= FD_GROWTH_MIN) {
        double impact = pct(s->manual_grows, t->allocations);
        f[n++] = (struct finding){FD_MANUAL_GROWTH, priority_of(impact), s, impact,
                                  s->manual_grows, s->manual_copied};
    }
    double share;
    fd_main_class(s, &share);
    if (s->allocations >= FD_POOL_MIN_ALLOCS &&
        s->max_live_blocks * FD_POOL_REUSE <= s->allocations && share >= FD_POOL_CLASS_SHARE) {
        uint64_t saved = s->allocations - s->max_live_blocks;
        double impact = pct(saved, t->allocations);
        f[n++] = (struct finding){FD_POOLING, priority_of(impact), s, impact, saved, 0};
    } else if (s->temporary >= FD_TEMP_MIN &&
               pct(s->temporary, s->allocations) >= FD_TEMP_SHARE) {
        /* A pooling finding covers temporaries of the same site already. */
        double impact = pct(s->temporary, t->allocations);
        f[n++] = (struct finding){FD_TEMPORARY, priority_of(impact), s, impact, s->temporary, 0};
    }
    if (s->max_live_blocks >= FD_SMALL_MIN_LIVE && s->allocations != 0 &&
        s->bytes_allocated / s->allocations <= FD_SMALL_MAX_AVG) {
        uint64_t saved = overhead_per_block(s) * s->max_live_blocks;
        double impact = pct(saved, t->peak_heap_bytes);
        f[n++] = (struct finding){FD_SMALL_BLOCKS, priority_of(impact), s, impact, 0, saved};
    }
    if (s->content_duplicates >= FD_DUP_MIN &&
        pct(s->content_duplicates, s->content_hashed) >= FD_DUP_SHARE) {
        /* N blocks, K distinct values: interning saves the N - K duplicates. */
        double impact = pct(s->content_duplicates, t->allocations);
        f[n++] = (struct finding){FD_DUPLICATES, priority_of(impact), s, impact,
                                  s->content_duplicates, s->content_duplicate_bytes};
    }
    return n;
}

static int finding_cmp(const void *pa, const void *pb)
{
    const struct finding *x = pa, *y = pb;
    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    if (x->impact_pct != y->impact_pct)
        return x->impact_pct > y->impact_pct ? -1 : 1;
    if (x->site->stack != y->site->stack)
        return x->site->stack < y->site->stack ? -1 : 1;
    return x->kind < y->kind ? -1 : x->kind > y->kind;
}

int fd_collect(const struct analysis *a, struct finding **out, size_t *n)
{
    struct finding *all = NULL;
    size_t len = 0, cap = 0;

    for (uint32_t i = 0; i < a->n_sites; i++) {
        struct finding f[8];
        size_t k = site_findings(a, &a->sites[i], f);
        if (k == 0)
            continue;
        if (len + k > cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct finding *p = realloc(all, ncap * sizeof(*p));
            if (p == NULL) {
                free(all);
                return -ENOMEM;
            }
            all = p;
            cap = ncap;
        }
        for (size_t j = 0; j < k; j++)
            all[len++] = f[j];
    }
    if (len > 1)
        qsort(all, len, sizeof(*all), finding_cmp);
    *out = all;
    *n = len;
    return 0;
}

const char *fd_kind_name(enum fd_kind kind)
{
    static const char *const names[] = {"growing-leak", "leak",    "realloc-growth", "manual-growth",
                                        "pooling",      "temporary", "small-blocks",
                                        "duplicates"};
    return names[kind];
}

const char *fd_kind_title(enum fd_kind kind)
{
    static const char *const titles[] = {
        "Leak that grows over the run",
        "Leak",
        "Repeated growth by realloc",
        "Repeated growth by hand (allocate bigger, copy, free)",
        "Pooling candidate (churn of same-size blocks)",
        "Temporary allocations",
        "Small blocks (allocator overhead)",
        "Interning candidate (duplicate content)",
    };
    return titles[kind];
}

const char *fd_priority_name(enum fd_priority p)
{
    return p == FD_HIGH ? "high" : p == FD_MEDIUM ? "medium" : "low";
}

/* "[2^(k-1), 2^k) bytes" for size class k, as text. */
static void class_range(unsigned k, char *buf, size_t len)
{
    if (k == 0)
        snprintf(buf, len, "0 bytes");
    else if (k == AN_SIZE_CLASSES - 1)
        snprintf(buf, len, "%" PRIu64 " bytes and more", (uint64_t)1 << (k - 1));
    else
        snprintf(buf, len, "%" PRIu64 "..%" PRIu64 " bytes", (uint64_t)1 << (k - 1),
                 ((uint64_t)1 << k) - 1);
}

void fd_describe(const struct finding *f, char *buf, size_t len)
{
    const struct an_site *s = f->site;
    char b1[RC_SIZE_BUF], b2[RC_SIZE_BUF], range[64];
    double share;

    switch (f->kind) {
    case FD_GROWING_LEAK:
    case FD_LEAK:
        if (s->leak_first_ns == s->leak_last_ns)
            snprintf(range, sizeof(range), "at %s", rc_format_seconds(b2, s->leak_first_ns));
        else
            snprintf(range, sizeof(range), "from %s to %s",
                     rc_format_seconds(b1, s->leak_first_ns),
                     rc_format_seconds(b2, s->leak_last_ns));
        snprintf(buf, len,
                 "%s in %" PRIu64 " block%s still allocated at exit, allocated %s into the run "
                 "(%s)",
                 rc_format_bytes(b1, s->live_bytes), s->live_blocks, s->live_blocks == 1 ? "" : "s",
                 range, f->kind == FD_GROWING_LEAK ? "it keeps growing" : "not growing over the run");
        break;
    case FD_REALLOC_GROWTH:
        snprintf(buf, len,
                 "%" PRIu64 " reallocs grew blocks here (%" PRIu64 " moved, copying %s); %" PRIu64
                 " chain%s, the longest %" PRIu64 " reallocs, final sizes %s on average",
                 s->realloc_grows, s->realloc_moves, rc_format_bytes(b1, s->realloc_copied),
                 s->chains, s->chains == 1 ? "" : "s", s->chain_longest,
                 rc_format_bytes(b2, s->chains ? s->chain_final_bytes / s->chains : 0));
        break;
    case FD_MANUAL_GROWTH:
        snprintf(buf, len,
                 "%" PRIu64 " times a larger block was allocated here and the previous, smaller "
                 "one from here freed right after (%s of old contents)",
                 s->manual_grows, rc_format_bytes(b1, s->manual_copied));
        break;
    case FD_POOLING:
        class_range(fd_main_class(s, &share), range, sizeof(range));
        snprintf(buf, len,
                 "%" PRIu64 " allocations (%.0f%% of them %s), never more than %" PRIu64
                 " live at once",
                 s->allocations, share, range, s->max_live_blocks);
        break;
    case FD_TEMPORARY:
        snprintf(buf, len,
                 "%" PRIu64 " of %" PRIu64 " allocations (%.1f%%) were freed by the same thread "
                 "before it allocated anything else",
                 s->temporary, s->allocations, pct(s->temporary, s->allocations));
        break;
    case FD_SMALL_BLOCKS:
        snprintf(buf, len,
                 "up to %" PRIu64 " blocks live at once, %" PRIu64
                 " bytes requested on average, each costing %" PRIu64 " more bytes in the allocator",
                 s->max_live_blocks, s->allocations ? s->bytes_allocated / s->allocations : 0,
                 overhead_per_block(s));
        break;
    case FD_DUPLICATES:
        snprintf(buf, len,
                 "%" PRIu64 " blocks freed here held only %" PRIu64 " distinct value%s%s: %" PRIu64
                 " of them (%s) repeated an earlier block's content",
                 s->content_hashed, s->content_distinct, s->content_distinct == 1 ? "" : "s",
                 s->content_capped ? " (at most: too many to remember them all)" : "",
                 s->content_duplicates, rc_format_bytes(b1, s->content_duplicate_bytes));
        break;
    }
}

void fd_advice(const struct finding *f, char *buf, size_t len)
{
    const struct an_site *s = f->site;
    char b1[RC_SIZE_BUF];

    switch (f->kind) {
    case FD_GROWING_LEAK:
        snprintf(buf, len, "free these blocks when done with them: the leak grows with the "
                           "work done, so a longer run leaks more");
        break;
    case FD_LEAK:
        snprintf(buf, len, "free them before exit, or keep them on purpose (a cache filled "
                           "once); %s would be returned",
                 rc_format_bytes(b1, f->saved_bytes));
        break;
    case FD_REALLOC_GROWTH:
        snprintf(buf, len,
                 "reserve the final capacity up front (or grow geometrically): saves up to "
                 "%" PRIu64 " reallocs and %s of copying",
                 f->saved_allocs, rc_format_bytes(b1, f->saved_bytes));
        break;
    case FD_MANUAL_GROWTH:
        snprintf(buf, len,
                 "size the block once, or grow it geometrically: saves up to %" PRIu64
                 " allocations and %s of copying",
                 f->saved_allocs, rc_format_bytes(b1, f->saved_bytes));
        break;
    case FD_POOLING:
        snprintf(buf, len,
                 "keep a pool (free list) of %" PRIu64 " block%s, or an arena: saves %" PRIu64
                 " allocations",
                 s->max_live_blocks, s->max_live_blocks == 1 ? "" : "s", f->saved_allocs);
        break;
    case FD_TEMPORARY:
        snprintf(buf, len,
                 "use a stack buffer or one reused buffer: saves %" PRIu64 " allocations",
                 f->saved_allocs);
        break;
    case FD_SMALL_BLOCKS:
        snprintf(buf, len,
                 "store these small objects inline or in one array (an arena): saves about %s "
                 "at the site's maximum",
                 rc_format_bytes(b1, f->saved_bytes));
        break;
    case FD_DUPLICATES:
        snprintf(buf, len,
                 "intern or share them (one copy per value): saves ~%" PRIu64
                 " allocations and %s",
                 f->saved_allocs, rc_format_bytes(b1, f->saved_bytes));
        break;
    }
}

const char *fd_safety_status(const struct analysis *a)
{
    const struct an_totals *t = &a->totals;
    int growing = 0;
    for (uint32_t i = 0; i < a->n_sites; i++)
        if (!a->sites[i].runtime && !a->sites[i].suppressed &&
            leak_grows(&a->sites[i]))
            growing = 1;
    if (t->unmatched_frees != 0 || growing || pct(t->leaked_bytes, t->peak_heap_bytes) >= 1.0)
        return "NEEDS ATTENTION";
    return t->leaked_blocks == 0 ? "EXCELLENT" : "GOOD";
}
