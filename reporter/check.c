/* check.c — budgets and their verdict (check.h). */
#include "check.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Option names of the absolute budgets, by figure. */
static const char *const max_names[CMP_FIGURES_] = {
    [CMP_PEAK] = "max-peak",
    [CMP_LEAKED] = "max-leaked",
    [CMP_LEAKED_BLOCKS] = "max-leaked-blocks",
    [CMP_ALLOCATIONS] = "max-allocations",
    [CMP_BYTES] = "max-bytes",
    [CMP_TEMPORARY] = "max-temporary",
};

static int push(struct budgets *b, struct budget x, char *err, size_t errlen)
{
    if (b->n == CHECK_MAX_BUDGETS) {
        snprintf(err, errlen, "too many budgets (at most %d)", CHECK_MAX_BUDGETS);
        return -EINVAL;
    }
    b->b[b->n++] = x;
    return 0;
}

static int parse_count(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)*s))
        return -EINVAL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -EINVAL;
    *out = v;
    return 0;
}

static int parse_pct(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end != s && *end == '%')
        end++;
    if (end == s || *end != '\0' || errno != 0 || !(v >= 0) || v > 1e9)
        return -EINVAL;
    *out = v;
    return 0;
}

int check_add(struct budgets *b, const char *option, const char *value, char *err,
              size_t errlen)
{
    for (int f = 0; f < CMP_FIGURES_; f++) {
        if (strcmp(option, max_names[f]) != 0)
            continue;
        struct budget x = {.figure = (enum cmp_figure)f};
        int rc = cmp_figure_is_bytes((enum cmp_figure)f) ? cmp_parse_size(value, &x.max)
                                                          : parse_count(value, &x.max);
        if (rc < 0) {
            snprintf(err, errlen, "--%s: '%s' is not a %s", option, value,
                     cmp_figure_is_bytes((enum cmp_figure)f) ? "size (e.g. 64MiB)" : "count");
            return -EINVAL;
        }
        return push(b, x, err, errlen);
    }
    if (strncmp(option, "max-growth", 10) == 0) {
        const char *which = option + 10;
        double pct;
        if (parse_pct(value, &pct) < 0) {
            snprintf(err, errlen, "--%s: '%s' is not a percentage", option, value);
            return -EINVAL;
        }
        for (int f = 0; f < CMP_FIGURES_; f++) {
            if (*which == '\0' || (which[0] == '-' && strcmp(which + 1, max_names[f] + 4) == 0)) {
                int rc = push(b, (struct budget){(enum cmp_figure)f, 1, 0, pct}, err, errlen);
                if (rc < 0 || *which != '\0')
                    return rc;
            }
        }
        if (*which == '\0')
            return 0;
    }
    snprintf(err, errlen, "unknown budget '%s'", option);
    return -EINVAL;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

int check_read_file(struct budgets *b, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char line[512], why[256];
    unsigned no = 0;

    if (f == NULL) {
        snprintf(err, errlen, "%s", strerror(errno));
        return -errno;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        no++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            snprintf(err, errlen, "line %u: too long", no);
            fclose(f);
            return -EINVAL;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = trim(line);
        if (*s == '\0')
            continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "line %u: expected NAME = VALUE", no);
            fclose(f);
            return -EINVAL;
        }
        *eq = '\0';
        if (check_add(b, trim(s), trim(eq + 1), why, sizeof(why)) < 0) {
            snprintf(err, errlen, "line %u: %s", no, why);
            fclose(f);
            return -EINVAL;
        }
    }
    fclose(f);
    return 0;
}

int check_needs_baseline(const struct budgets *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->b[i].growth)
            return 1;
    return 0;
}

static void format_value(char *buf, size_t len, enum cmp_figure f, uint64_t v)
{
    if (cmp_figure_is_bytes(f)) {
        char s[RC_SIZE_BUF];
        snprintf(buf, len, "%s (%" PRIu64 " bytes)", rc_format_bytes(s, v), v);
    } else {
        snprintf(buf, len, "%" PRIu64, v);
    }
}

/* The site of run with the largest value of f; 0 if none. */
static uint32_t top_site(const struct cmp_run *run, enum cmp_figure f)
{
    uint64_t best = 0;
    uint32_t id = 0;
    for (uint32_t i = 0; i < run->a->n_sites; i++) {
        uint64_t v = cmp_site_value(&run->a->sites[i], f);
        if (v > best) {
            best = v;
            id = run->a->sites[i].stack;
        }
    }
    return id;
}

/* The stack id in run of the site that grew most in f against baseline. */
static int top_growth(const struct cmp_run *run, const struct cmp_run *baseline,
                      enum cmp_figure f, uint32_t *id)
{
    struct cmp_result r;
    size_t *order = NULL;
    int rc = cmp_match(baseline, run, &r);
    *id = 0;
    if (rc < 0)
        return rc;
    rc = cmp_rank(&r, f, &order);
    for (size_t i = 0; rc == 0 && i < r.n; i++) {
        const struct cmp_entry *e = &r.entries[order[i]];
        if (e->in_after && cmp_site_value(&e->after, f) > cmp_site_value(&e->before, f)) {
            *id = e->stack_after;
            break;
        }
    }
    free(order);
    cmp_free(&r);
    return rc;
}

void check_site_label(const struct rc_source *src, uint32_t id, char *buf, size_t len)
{
    struct rc_stack st = {0};
    snprintf(buf, len, "no site");
    if (id == 0 || rc_stack_resolve(src, id, 0, 1, &st) < 0 || st.n == 0) {
        rc_stack_fini(&st);
        return;
    }
    const struct rc_frame *fr = &st.frames[0];
    rc_format_location(buf, len, fr, fr->n ? fr->n - 1 : 0);
    rc_stack_fini(&st);
}

/* 1 if value v of x's figure exceeds x (against base for a growth budget);
 * the limit, in words, into lim. */
static int exceeds(const struct budget *x, uint64_t v, uint64_t base, char *lim, size_t len)
{
    if (x->growth) {
        double allowed = (double)base * (1.0 + x->pct / 100.0);
        char basev[64];
        format_value(basev, sizeof(basev), x->figure, base);
        snprintf(lim, len, "%s + %g%%", basev, x->pct);
        return (double)v > allowed;
    }
    format_value(lim, len, x->figure, x->max);
    return v > x->max;
}

static void print_over(FILE *out, const char *label, const struct budget *x, uint64_t v,
                       const char *lim, const char *top, const char *where)
{
    char value[64];
    format_value(value, sizeof(value), x->figure, v);
    fprintf(out, "memaudit: %s: %s %s exceeds %s%s (top %s: %s)\n", label,
            cmp_figure_title(x->figure), value, x->growth ? "the baseline's " : "the budget ",
            lim, top, where);
}

int check_run(const struct budgets *b, const struct cmp_run *run, const struct cmp_run *baseline,
              FILE *out)
{
    int over = 0;
    for (size_t i = 0; i < b->n; i++) {
        const struct budget *x = &b->b[i];
        uint64_t v = cmp_total(run->a, x->figure);
        char lim[96], where[512];
        uint32_t id;

        if (x->growth && baseline == NULL)
            return -EINVAL;
        if (!exceeds(x, v, x->growth ? cmp_total(baseline->a, x->figure) : 0, lim, sizeof(lim)))
            continue;
        if (x->growth) {
            int rc = top_growth(run, baseline, x->figure, &id);
            if (rc < 0)
                return rc;
        } else {
            id = top_site(run, x->figure);
        }
        check_site_label(run->src, id, where, sizeof(where));
        print_over(out, run->label, x, v, lim, "site", where);
        over++;
    }
    return over;
}

/* The phase called name in a, or NULL. */
static const struct an_phase *find_phase(const struct analysis *a, const char *name)
{
    for (size_t i = 0; i < a->n_phases; i++)
        if (strcmp(a->phases[i].name, name) == 0)
            return &a->phases[i];
    return NULL;
}

/* A phase's figures in the places check_totals() reads them. */
static struct an_totals phase_totals(const struct an_phase *ph)
{
    struct an_totals t = {0};
    t.peak_heap_bytes = ph->peak_heap_bytes;
    t.leaked_bytes = ph->live_bytes;
    t.leaked_blocks = ph->live_blocks;
    t.allocations = ph->allocations;
    t.bytes_allocated = ph->bytes_allocated;
    t.temporary_allocations = ph->temporary;
    return t;
}

int check_phase(const struct budgets *b, const struct cmp_run *run,
                const struct cmp_run *baseline, const char *phase, FILE *out)
{
    const struct an_phase *ph = find_phase(run->a, phase);
    const struct an_phase *bp = baseline ? find_phase(baseline->a, phase) : NULL;
    if (ph == NULL || (baseline != NULL && bp == NULL)) {
        fprintf(stderr, "memaudit: %s: no phase '%s' in this run\n",
                ph == NULL ? run->label : baseline->label, phase);
        return -ENOENT;
    }
    struct an_totals t = phase_totals(ph), bt = bp ? phase_totals(bp) : t;
    char label[600], where[512];
    const char *top[CMP_FIGURES_];
    check_site_label(run->src, ph->n_top ? ph->top[0].stack : 0, where, sizeof(where));
    for (int f = 0; f < CMP_FIGURES_; f++)
        top[f] = where;
    snprintf(label, sizeof(label), "%s, phase %s", run->label, phase);
    return check_totals(b, label, &t, bp ? &bt : NULL, "site", top, out);
}

int check_totals(const struct budgets *b, const char *label, const struct an_totals *t,
                 const struct an_totals *base, const char *top_kind,
                 const char *const top[CMP_FIGURES_], FILE *out)
{
    struct analysis now = {.totals = *t}, before = {.totals = base ? *base : *t};
    int over = 0;
    for (size_t i = 0; i < b->n; i++) {
        const struct budget *x = &b->b[i];
        uint64_t v = cmp_total(&now, x->figure);
        char lim[96];

        if (x->growth && base == NULL)
            return -EINVAL;
        if (!exceeds(x, v, cmp_total(&before, x->figure), lim, sizeof(lim)))
            continue;
        print_over(out, label, x, v, lim, top_kind, top[x->figure] ? top[x->figure] : "none");
        over++;
    }
    return over;
}
