/* compare.c — match the sites of two runs by symbolized stack (compare.h). */
#include "compare.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- keys ---- */

/* Append "function@module" (or "module+0xoff") for loc to buf at *at. */
static void key_append(char *buf, size_t len, size_t *at, const struct sym_location *loc,
                       uint64_t address)
{
    const char *name = loc ? (loc->function ? loc->function : loc->raw_name) : NULL;
    const char *module = loc && loc->module && loc->module[0] ? rc_basename(loc->module) : "?";
    int n;

    if (*at >= len)
        return;
    if (name != NULL)
        n = snprintf(buf + *at, len - *at, "%s%s@%s", *at ? ";" : "", name, module);
    else if (loc != NULL)
        n = snprintf(buf + *at, len - *at, "%s%s+0x%" PRIx64, *at ? ";" : "", module,
                     loc->module_offset);
    else
        n = snprintf(buf + *at, len - *at, "%s0x%" PRIx64, *at ? ";" : "", address);
    *at = n < 0 ? len : *at + (size_t)n;
}

int cmp_stack_key(const struct rc_source *src, uint32_t id, char *buf, size_t len)
{
    struct rc_stack st = {0};
    size_t at = 0;
    int rc;

    buf[0] = '\0';
    if (id == 0)
        return 0;
    rc = rc_stack_resolve(src, id, 0, CMP_KEY_FRAMES, &st);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < st.n; i++) {
        const struct rc_frame *f = &st.frames[i];
        if (f->n == 0)
            key_append(buf, len, &at, NULL, f->address);
        for (size_t j = 0; j < f->n; j++)
            key_append(buf, len, &at, &f->locs[j], f->locs[j].address);
    }
    rc_stack_fini(&st);
    if (at >= len)
        buf[len - 1] = '\0'; /* cut: very deep stacks share a prefix key, still deterministic */
    return 0;
}

/* ---- matching ---- */

static void site_add(struct an_site *sum, const struct an_site *s)
{
    sum->allocations += s->allocations;
    sum->bytes_allocated += s->bytes_allocated;
    sum->frees += s->frees;
    sum->temporary += s->temporary;
    sum->failed += s->failed;
    sum->reallocs += s->reallocs;
    sum->live_bytes += s->live_bytes;
    sum->live_blocks += s->live_blocks;
    sum->peak_bytes += s->peak_bytes;
    sum->peak_blocks += s->peak_blocks;
    sum->runtime = sum->runtime || s->runtime;
    sum->suppressed = sum->suppressed || s->suppressed;
    if (s->max_size > sum->max_size)
        sum->max_size = s->max_size;
    if (sum->min_size == 0 || (s->min_size != 0 && s->min_size < sum->min_size))
        sum->min_size = s->min_size;
}

static int site_used(const struct an_site *s)
{
    return s->allocations != 0 || s->frees != 0 || s->failed != 0;
}

struct keyed {
    char *key;
    uint32_t site; /* index into the run's sites */
    int side;      /* 0 before, 1 after */
};

static int keyed_cmp(const void *pa, const void *pb)
{
    const struct keyed *x = pa, *y = pb;
    int c = strcmp(x->key, y->key);
    if (c != 0)
        return c;
    if (x->side != y->side)
        return x->side - y->side;
    return x->site < y->site ? -1 : x->site > y->site;
}

/* Append the used sites of run (side) to *all with their keys. */
static int collect(const struct cmp_run *run, int side, struct keyed **all, size_t *n,
                   size_t *cap)
{
    char buf[8192];
    for (uint32_t i = 0; i < run->a->n_sites; i++) {
        const struct an_site *s = &run->a->sites[i];
        if (!site_used(s))
            continue;
        int rc = cmp_stack_key(run->src, s->stack, buf, sizeof(buf));
        if (rc < 0)
            return rc;
        if (*n == *cap) {
            size_t ncap = *cap ? *cap * 2 : 256;
            struct keyed *p = realloc(*all, ncap * sizeof(*p));
            if (p == NULL)
                return -ENOMEM;
            *all = p;
            *cap = ncap;
        }
        char *key = strdup(buf);
        if (key == NULL)
            return -ENOMEM;
        (*all)[(*n)++] = (struct keyed){key, i, side};
    }
    return 0;
}

int cmp_match(const struct cmp_run *before, const struct cmp_run *after, struct cmp_result *r)
{
    struct keyed *all = NULL;
    size_t n = 0, cap = 0;
    int rc;

    memset(r, 0, sizeof(*r));
    rc = collect(before, 0, &all, &n, &cap);
    if (rc == 0)
        rc = collect(after, 1, &all, &n, &cap);
    if (rc == 0 && n > 1)
        qsort(all, n, sizeof(*all), keyed_cmp);
    if (rc == 0 && n > 0) {
        r->entries = calloc(n, sizeof(*r->entries));
        if (r->entries == NULL)
            rc = -ENOMEM;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct cmp_entry *e = r->n ? &r->entries[r->n - 1] : NULL;
        if (e == NULL || strcmp(e->key, all[i].key) != 0) {
            e = &r->entries[r->n++];
            e->key = all[i].key;
            all[i].key = NULL;
        }
        const struct cmp_run *run = all[i].side ? after : before;
        const struct an_site *s = &run->a->sites[all[i].site];
        if (all[i].side) {
            if (!e->in_after)
                e->stack_after = s->stack;
            e->in_after = 1;
            site_add(&e->after, s);
        } else {
            if (!e->in_before)
                e->stack_before = s->stack;
            e->in_before = 1;
            site_add(&e->before, s);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(all[i].key);
    free(all);
    if (rc < 0)
        cmp_free(r);
    return rc;
}

void cmp_free(struct cmp_result *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->entries[i].key);
    free(r->entries);
    memset(r, 0, sizeof(*r));
}

/* ---- figures ---- */

const char *cmp_figure_name(enum cmp_figure f)
{
    static const char *const names[] = {"peak",        "leaked", "leaked_blocks",
                                        "allocations", "bytes",  "temporary"};
    return names[f];
}

const char *cmp_figure_title(enum cmp_figure f)
{
    static const char *const titles[] = {"peak heap",   "leaked",          "leaked blocks",
                                         "allocations", "bytes allocated", "temporary allocations"};
    return titles[f];
}

int cmp_figure_is_bytes(enum cmp_figure f)
{
    return f == CMP_PEAK || f == CMP_LEAKED || f == CMP_BYTES;
}

uint64_t cmp_total(const struct analysis *a, enum cmp_figure f)
{
    const struct an_totals *t = &a->totals;
    switch (f) {
    case CMP_PEAK:
        return t->peak_heap_bytes;
    case CMP_LEAKED:
        return t->leaked_bytes;
    case CMP_LEAKED_BLOCKS:
        return t->leaked_blocks;
    case CMP_ALLOCATIONS:
        return t->allocations;
    case CMP_BYTES:
        return t->bytes_allocated;
    case CMP_TEMPORARY:
    case CMP_FIGURES_:
        break;
    }
    return t->temporary_allocations;
}

uint64_t cmp_site_value(const struct an_site *s, enum cmp_figure f)
{
    switch (f) {
    case CMP_PEAK:
        return s->peak_bytes;
    case CMP_LEAKED:
        return s->runtime || s->suppressed ? 0 : s->live_bytes;
    case CMP_LEAKED_BLOCKS:
        return s->runtime || s->suppressed ? 0 : s->live_blocks;
    case CMP_ALLOCATIONS:
        return s->allocations;
    case CMP_BYTES:
        return s->bytes_allocated;
    case CMP_TEMPORARY:
    case CMP_FIGURES_:
        break;
    }
    return s->temporary;
}

struct rank_ctx {
    const struct cmp_result *r;
    enum cmp_figure f;
};

static uint64_t change(const struct cmp_entry *e, enum cmp_figure f)
{
    uint64_t b = cmp_site_value(&e->before, f), a = cmp_site_value(&e->after, f);
    return a > b ? a - b : b - a;
}

static int rank_cmp(const void *pa, const void *pb, void *arg)
{
    const struct rank_ctx *c = arg;
    const struct cmp_entry *x = &c->r->entries[*(const size_t *)pa];
    const struct cmp_entry *y = &c->r->entries[*(const size_t *)pb];
    uint64_t cx = change(x, c->f), cy = change(y, c->f);
    if (cx != cy)
        return cx > cy ? -1 : 1;
    return strcmp(x->key, y->key);
}

int cmp_rank(const struct cmp_result *r, enum cmp_figure f, size_t **order)
{
    struct rank_ctx c = {r, f};
    *order = malloc((r->n ? r->n : 1) * sizeof(**order));
    if (*order == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < r->n; i++)
        (*order)[i] = i;
    if (r->n > 1)
        qsort_r(*order, r->n, sizeof(**order), rank_cmp, &c);
    return 0;
}

int cmp_parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno != 0 || !(v >= 0) || isnan(v))
        return -EINVAL;
    while (isspace((unsigned char)*end))
        end++;
    double mult = 1;
    char unit = (char)toupper((unsigned char)*end);
    if (unit != '\0' && unit != 'B') {
        const char *units = "KMGT";
        const char *u = strchr(units, unit);
        if (u == NULL)
            return -EINVAL;
        for (const char *k = units; k <= u; k++)
            mult *= 1024;
        end++;
        if (*end == 'i' || *end == 'I')
            end++;
        if (*end == 'b' || *end == 'B')
            end++;
    } else if (unit == 'B') {
        end++;
    }
    if (*end != '\0')
        return -EINVAL;
    v *= mult;
    if (v > 1.8e19)
        return -EINVAL;
    *out = (uint64_t)(v + 0.5);
    return 0;
}
