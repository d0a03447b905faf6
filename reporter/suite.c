/* suite.c — the processes of one run side by side (suite.h). */
#include "suite.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "findings.h"

static char *dup_or_empty(const char *s)
{
    return strdup(s != NULL ? s : "");
}

int suite_add(struct suite *s, const char *label, const struct analysis *a,
              const struct rc_source *src, int over)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct suite_row *r = realloc(s->rows, cap * sizeof(*r));
        if (r == NULL)
            return -ENOMEM;
        s->rows = r;
        s->cap = cap;
    }
    struct suite_row *r = &s->rows[s->n];
    memset(r, 0, sizeof(*r));
    r->label = dup_or_empty(label);
    r->cmdline = dup_or_empty(src->process.cmdline);
    if (r->label == NULL || r->cmdline == NULL)
        goto fail;
    r->pid = src->process.pid;
    r->exit_status = src->process.exit_status;
    r->signal = src->process.signal;
    r->complete = src->process.complete;
    r->totals = a->totals;
    r->over = over;

    const struct an_site **top = NULL;
    size_t n = 0;
    if (rc_rank_sites(a, RC_LEAKED, 1, &top, &n, NULL) < 0)
        goto fail;
    if (n == 1) {
        char where[512];
        check_site_label(src, top[0]->stack, where, sizeof(where));
        r->top_leak = strdup(where);
    }
    free(top);
    if (n == 1 && r->top_leak == NULL)
        goto fail;
    s->n++;
    return 0;
fail:
    free(r->label);
    free(r->cmdline);
    return -ENOMEM;
}

int suite_set_finding(struct suite *s, const struct analysis *a, const struct rc_source *src,
                      int leak_first)
{
    struct finding *f = NULL;
    size_t n = 0, pick = 0;
    if (s->n == 0)
        return 0;
    int rc = fd_collect(a, &f, &n);
    if (rc < 0)
        return rc;
    for (size_t i = 0; leak_first && i < n; i++)
        if (f[i].kind == FD_GROWING_LEAK || f[i].kind == FD_LEAK) {
            pick = i;
            break;
        }
    struct suite_row *r = &s->rows[s->n - 1];
    free(r->finding);
    r->finding = NULL;
    if (n != 0) {
        char where[512], text[640];
        check_site_label(src, f[pick].site->stack, where, sizeof(where));
        snprintf(text, sizeof(text), "[%s] %s at %s", fd_priority_name(f[pick].priority),
                 fd_kind_name(f[pick].kind), where);
        r->finding = strdup(text);
        rc = r->finding != NULL ? 0 : -ENOMEM;
    }
    free(f);
    return rc;
}

void suite_free(struct suite *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->rows[i].label);
        free(s->rows[i].cmdline);
        free(s->rows[i].top_leak);
        free(s->rows[i].finding);
    }
    free(s->rows);
    memset(s, 0, sizeof(*s));
}

static int cmp_u64_desc(uint64_t a, uint64_t b)
{
    return a == b ? 0 : a > b ? -1 : 1;
}

/* Worst first; a total order (the label breaks the last ties). */
static int row_cmp(const void *pa, const void *pb)
{
    const struct suite_row *a = pa, *b = pb;
    int c;
    if ((a->over != 0) != (b->over != 0))
        return a->over ? -1 : 1;
    if ((c = cmp_u64_desc(a->totals.leaked_bytes, b->totals.leaked_bytes)) != 0)
        return c;
    if ((c = cmp_u64_desc(a->totals.leaked_blocks, b->totals.leaked_blocks)) != 0)
        return c;
    if ((c = cmp_u64_desc(a->totals.peak_heap_bytes, b->totals.peak_heap_bytes)) != 0)
        return c;
    if (a->pid != b->pid)
        return a->pid < b->pid ? -1 : 1;
    return strcmp(a->label, b->label);
}

void suite_sort(struct suite *s)
{
    if (s->n > 1)
        qsort(s->rows, s->n, sizeof(s->rows[0]), row_cmp);
}

int suite_exited(const struct suite_row *r)
{
    return r->complete && r->signal == 0 && r->exit_status >= 0;
}

const char *suite_status(const struct suite_row *r, char *buf, size_t len)
{
    if (r->signal != 0) {
        const char *abbrev = sigabbrev_np(r->signal);
        if (abbrev != NULL)
            snprintf(buf, len, "SIG%s", abbrev);
        else
            snprintf(buf, len, "signal %d", r->signal);
    } else if (!r->complete) {
        snprintf(buf, len, "cut short");
    } else if (r->exit_status < 0) {
        snprintf(buf, len, "exec");
    } else {
        snprintf(buf, len, "exit %d", r->exit_status);
    }
    return buf;
}

void suite_total(const struct suite *s, struct an_totals *sum, size_t *top)
{
    memset(sum, 0, sizeof(*sum));
    if (top != NULL)
        *top = 0;
    for (size_t i = 0; i < s->n; i++) {
        const struct an_totals *t = &s->rows[i].totals;
        sum->allocations += t->allocations;
        sum->frees += t->frees;
        sum->bytes_allocated += t->bytes_allocated;
        sum->leaked_bytes += t->leaked_bytes;
        sum->leaked_blocks += t->leaked_blocks;
        sum->runtime_held_bytes += t->runtime_held_bytes;
        sum->runtime_held_blocks += t->runtime_held_blocks;
        sum->temporary_allocations += t->temporary_allocations;
        sum->failed_allocations += t->failed_allocations;
        sum->reallocs += t->reallocs;
        sum->unmatched_frees += t->unmatched_frees;
        sum->inherited_frees += t->inherited_frees;
        sum->slack_bytes += t->slack_bytes;
        sum->duration_ns += t->duration_ns;
        sum->threads += t->threads;
        if (i == 0 || t->peak_heap_bytes > sum->peak_heap_bytes) {
            sum->peak_heap_bytes = t->peak_heap_bytes;
            sum->peak_time_ns = t->peak_time_ns;
            sum->peak_blocks = t->peak_blocks;
            sum->peak_slack_bytes = t->peak_slack_bytes;
            if (top != NULL)
                *top = i;
        }
    }
}

void suite_print(FILE *out, const struct suite *s, int with_over)
{
    char status[32];
    fprintf(out, "Processes (%zu), worst first%s: by leaked bytes, then peak heap\n", s->n,
            with_over ? " (over budget first)" : "");
    fprintf(out, "%s%8s  %-9s %12s %13s %8s %12s  %s\n", with_over ? "budget  " : "", "pid",
            "status", "peak bytes", "leaked bytes", "blocks", "allocations", "command");
    for (size_t i = 0; i < s->n; i++) {
        const struct suite_row *r = &s->rows[i];
        if (with_over)
            fprintf(out, "%-6s  ", r->over ? "OVER" : "ok");
        fprintf(out, "%8" PRIu32 "  %-9s %12" PRIu64 " %13" PRIu64 " %8" PRIu64 " %12" PRIu64
                     "  %s\n",
                r->pid, suite_status(r, status, sizeof(status)), r->totals.peak_heap_bytes,
                r->totals.leaked_bytes, r->totals.leaked_blocks, r->totals.allocations,
                r->cmdline[0] ? r->cmdline : r->label);
    }
    struct an_totals sum;
    size_t top;
    suite_total(s, &sum, &top);
    fprintf(out,
            "total: %zu process%s, %" PRIu64 " bytes leaked in %" PRIu64 " blocks, %" PRIu64
            " allocations, %" PRIu64 " bytes allocated",
            s->n, s->n == 1 ? "" : "es", sum.leaked_bytes, sum.leaked_blocks, sum.allocations,
            sum.bytes_allocated);
    if (s->n != 0)
        fprintf(out, "; largest peak %" PRIu64 " bytes (pid %" PRIu32 ")", sum.peak_heap_bytes,
                s->rows[top].pid);
    fputc('\n', out);
}
