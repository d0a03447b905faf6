/* render_text.c — the terminal report: who the process was, the totals, then
 * the call sites that leak, hold the peak, allocate most and allocate
 * temporaries, each with its folded, symbolized stack.
 *
 * Invariants: output depends only on the analysis and the symbols (rankings
 * break ties by stack id, no pointer value decides anything); stacks are
 * resolved only for the sites shown, at most max_frames deep. */
#include "render.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "findings.h"
#include "render_common.h"
#include "render_memory.h"

#define LABEL "  %-22s"

/* "512 B" or "1.5 MiB (1572864 bytes)": the exact figure stays greppable. */
/* Colour only for a terminal, and never when NO_COLOR is set (no-color.org).
 * Set once per report by render_text(). */
static int colour;

#define C_BOLD "\033[1m"
#define C_RED "\033[31m"
#define C_YELLOW "\033[33m"
#define C_GREEN "\033[32m"
#define C_DIM "\033[2m"
#define C_OFF "\033[0m"

static const char *on(const char *code)
{
    return colour ? code : "";
}

static const char *off(void)
{
    return colour ? C_OFF : "";
}

static const char *priority_colour(enum fd_priority p)
{
    return p == FD_HIGH ? C_RED : p == FD_MEDIUM ? C_YELLOW : C_DIM;
}

static const char *status_colour(const char *status)
{
    return strcmp(status, "EXCELLENT") == 0 ? C_GREEN
           : strcmp(status, "GOOD") == 0    ? C_YELLOW
                                            : C_RED;
}

static void print_size(FILE *out, uint64_t bytes)
{
    char buf[RC_SIZE_BUF];

    fputs(rc_format_bytes(buf, bytes), out);
    if (bytes >= 1024)
        fprintf(out, " (%" PRIu64 " bytes)", bytes);
}

static const char *plural(uint64_t n)
{
    return n == 1 ? "" : "s";
}

static double percent(uint64_t part, uint64_t whole)
{
    return whole != 0 ? 100.0 * (double)part / (double)whole : 0.0;
}

static void print_header(FILE *out, const struct rc_process *p)
{
    const char *exe = p->exe;
    const char *cmdline = p->cmdline;
    int status = p->exit_status;
    uint64_t lost = p->lost_events;

    fprintf(out, "memaudit report: %s\n", exe[0] != '\0' ? exe : "<unknown program>");
    fprintf(out, "  pid %" PRIu32 ", parent %" PRIu32, p->pid, p->ppid);
    int sig = p->signal;
    if (status >= 0)
        fprintf(out, ", exit status %d", status);
    if (sig != 0)
        fprintf(out, ", killed by SIG%s (signal %d)", sigabbrev_np(sig) ? sigabbrev_np(sig) : "?",
                sig);
    fputc('\n', out);
    if (cmdline[0] != '\0')
        fprintf(out, "  command: %s\n", cmdline);
    if (sig != 0)
        fputs("note: incomplete run: the program was killed by a signal; every event up to that "
              "moment was recorded, and blocks live at that moment are reported as leaked\n",
              out);
    if (!p->complete) {
        fprintf(out,
                "warning: trace incomplete: %" PRIu64 " of %" PRIu64 " bytes read "
                "(the process died before the recorder finished); figures cover "
                "what was recorded\n",
                p->trace_bytes_read, p->trace_bytes);
    }
    if (lost != 0)
        fprintf(out, "warning: the recorder could not record %" PRIu64 " events\n", lost);
}

static void print_totals(FILE *out, const struct analysis *a)
{
    const struct an_totals *t = &a->totals;
    char buf[RC_SIZE_BUF];

    fprintf(out, "\n%sTotals%s\n", on(C_BOLD), off());
    fprintf(out, LABEL "%" PRIu64 "\n", "allocations", t->allocations);
    fprintf(out, LABEL "%" PRIu64 "\n", "frees", t->frees);
    fprintf(out, LABEL, "bytes allocated");
    print_size(out, t->bytes_allocated);
    fprintf(out, "\n" LABEL, "peak heap");
    print_size(out, t->peak_heap_bytes);
    fprintf(out, " in %" PRIu64 " block%s at %s\n", t->peak_blocks, plural(t->peak_blocks),
            rc_format_seconds(buf, t->peak_time_ns));
    fprintf(out, LABEL, "leaked");
    print_size(out, t->leaked_bytes);
    fprintf(out, " in %" PRIu64 " block%s\n", t->leaked_blocks, plural(t->leaked_blocks));
    if (t->runtime_held_blocks != 0) {
        fprintf(out, LABEL, "held by the C runtime");
        print_size(out, t->runtime_held_bytes);
        fprintf(out, " in %" PRIu64 " block%s at exit (not leaks)\n", t->runtime_held_blocks,
                plural(t->runtime_held_blocks));
    }
    fprintf(out, LABEL "%" PRIu64 " (%.1f%% of allocations)\n", "temporary allocations",
            t->temporary_allocations, percent(t->temporary_allocations, t->allocations));
    fprintf(out, LABEL "%" PRIu64 "\n", "failed allocations", t->failed_allocations);
    fprintf(out, LABEL "%" PRIu64 "\n", "reallocs", t->reallocs);
    if (t->unmatched_frees != 0)
        fprintf(out, LABEL "%" PRIu64 "\n", "unmatched frees", t->unmatched_frees);
    if (t->unsampled_frees != 0)
        fprintf(out, LABEL "%" PRIu64 " (of blocks not recorded: sampling)\n", "unsampled frees",
                t->unsampled_frees);
    if (t->content_hashing)
        fprintf(out, LABEL "%" PRIu64 " of %" PRIu64 " hashed blocks repeated an earlier "
                           "block's content\n",
                "duplicate content", t->content_duplicates, t->content_hashed);
    if (t->inherited_frees != 0)
        fprintf(out, LABEL "%" PRIu64 " (blocks from before the fork)\n", "inherited frees",
                t->inherited_frees);
    fprintf(out, LABEL, "allocator overhead");
    print_size(out, t->slack_bytes);
    fputs(" total, ", out);
    print_size(out, t->peak_slack_bytes);
    fputs(" at peak\n", out);
    fprintf(out, LABEL "%s\n", "duration", rc_format_seconds(buf, t->duration_ns));
    if (t->duration_ns != 0) {
        fprintf(out, LABEL "%.1f allocations/s, %s/s\n", "allocation rate",
                rc_rate_per_s(t->allocations, t->duration_ns),
                rc_format_bytes(buf, (uint64_t)rc_rate_per_s(t->bytes_allocated, t->duration_ns)));
    } else {
        fprintf(out, LABEL "n/a (no duration)\n", "allocation rate");
    }
    fprintf(out, LABEL "%" PRIu64 "\n", "threads", t->threads);
}

static void print_stack(FILE *out, uint32_t id, const struct rc_stack *st)
{
    static const char indent[] = "        ";
    size_t i, j;

    if (id == 0) {
        /* The recorder takes no stack in a few places (its own bootstrap). */
        fprintf(out, "%s<no stack recorded>\n", indent);
        return;
    }
    if (!st->known) {
        fprintf(out, "%s<unknown stack>\n", indent);
        return;
    }
    if (st->n == 0) {
        fprintf(out, "%s<no frames recorded>\n", indent);
        return;
    }
    for (i = 0; i < st->n; i++) {
        const struct rc_frame *f = &st->frames[i];

        if (f->n == 0)
            fprintf(out, "%s0x%" PRIx64 "\n", indent, f->address);
        for (j = 0; j < f->n; j++) {
            fputs(indent, out);
            rc_print_location(out, &f->locs[j]);
            if (f->locs[j].inlined)
                fputs(" [inlined]", out);
            fputc('\n', out);
        }
    }
    if (st->more != 0)
        fprintf(out, "%s... %zu more frames\n", indent, st->more);
}

/* The one line that says what a site did, per section. */
static void print_leak_line(FILE *out, const struct an_site *s)
{
    char buf[RC_SIZE_BUF];

    fprintf(out, "%" PRIu64 " bytes in %" PRIu64 " block%s", s->live_bytes, s->live_blocks,
            plural(s->live_blocks));
    if (s->live_bytes >= 1024)
        fprintf(out, " (%s)", rc_format_bytes(buf, s->live_bytes));
    fprintf(out, ", from %" PRIu64 " allocation%s\n", s->allocations, plural(s->allocations));
}

static void print_peak_line(FILE *out, const struct an_site *s)
{
    char buf[RC_SIZE_BUF];

    fprintf(out, "%" PRIu64 " bytes in %" PRIu64 " block%s at peak", s->peak_bytes, s->peak_blocks,
            plural(s->peak_blocks));
    if (s->peak_bytes >= 1024)
        fprintf(out, " (%s)", rc_format_bytes(buf, s->peak_bytes));
    fputc('\n', out);
}

static void print_hotspot_line(FILE *out, const struct an_site *s)
{
    char buf[RC_SIZE_BUF];

    fprintf(out, "%" PRIu64 " allocation%s, %s", s->allocations, plural(s->allocations),
            rc_format_bytes(buf, s->bytes_allocated));
    fprintf(out, " (sizes %" PRIu64 "..%" PRIu64 ")\n", s->min_size, s->max_size);
}

static void print_temporary_line(FILE *out, const struct an_site *s)
{
    fprintf(out, "%" PRIu64 " temporary of %" PRIu64 " allocation%s (%.1f%%)\n", s->temporary,
            s->allocations, plural(s->allocations), percent(s->temporary, s->allocations));
}

struct section {
    const char *title;
    enum rc_key key;
    void (*line)(FILE *out, const struct an_site *s);
    int omit_if_empty;
};

static const struct section sections[] = {
    {"Leaks", RC_LEAKED, print_leak_line, 0},
    {"Held by the C runtime at exit (not leaks)", RC_RUNTIME, print_leak_line, 1},
    {"Peak heap contributors", RC_PEAK, print_peak_line, 0},
    {"Allocation hotspots", RC_ALLOCATIONS, print_hotspot_line, 0},
    {"Temporary allocations", RC_TEMPORARY, print_temporary_line, 0},
};

static int print_section(FILE *out, const struct analysis *a, const struct rc_source *src,
                         const struct render_opts *o, const struct section *sec)
{
    unsigned top = o->top != 0 ? o->top : RC_DEFAULT_TOP;
    unsigned frames = o->max_frames != 0 ? o->max_frames : RC_DEFAULT_TEXT_FRAMES;
    const struct an_site **sites = NULL;
    struct rc_stack st = {0};
    size_t n, total, i;
    int rc;

    rc = rc_rank_sites(a, sec->key, top, &sites, &n, &total);
    if (rc < 0)
        goto fail;
    if (total == 0) {
        if (!sec->omit_if_empty)
            fprintf(out, "\n%s: none\n", sec->title);
        return 0;
    }
    if (n < total)
        fprintf(out, "\n%s%s%s (top %zu of %zu sites)\n", on(C_BOLD), sec->title, off(), n, total);
    else
        fprintf(out, "\n%s%s%s (%zu site%s)\n", on(C_BOLD), sec->title, off(), total,
                total == 1 ? "" : "s");

    for (i = 0; i < n; i++) {
        fprintf(out, "  #%zu  ", i + 1);
        sec->line(out, sites[i]);
        rc = rc_stack_resolve(src, sites[i]->stack, o->all_frames, frames, &st);
        if (rc < 0)
            goto fail;
        print_stack(out, sites[i]->stack, &st);
        rc_stack_fini(&st);
    }
    free(sites);
    return 0;

fail:
    rc_stack_fini(&st);
    free(sites);
    return rc;
}

/* Per unit of work (--work N --unit NAME). */
static void print_per_unit(FILE *out, const struct analysis *a, const struct render_opts *o)
{
    const struct an_totals *t = &a->totals;
    char buf[RC_SIZE_BUF];
    const char *unit = o->unit != NULL ? o->unit : "unit";

    if (o->work <= 0)
        return;
    fprintf(out, "\nPer %s (the run did %g)\n", unit, o->work);
    fprintf(out, LABEL "%.2f per %s\n", "allocations", (double)t->allocations / o->work, unit);
    fprintf(out, LABEL "%s per %s\n", "bytes allocated",
            rc_format_bytes(buf, (uint64_t)((double)t->bytes_allocated / o->work)), unit);
    fprintf(out, LABEL "%.2f per %s\n", "temporary allocations",
            (double)t->temporary_allocations / o->work, unit);
    fprintf(out, LABEL "%s per %s\n", "peak heap",
            rc_format_bytes(buf, (uint64_t)((double)t->peak_heap_bytes / o->work)), unit);
    fprintf(out, LABEL "%s per %s\n", "leaked",
            rc_format_bytes(buf, (uint64_t)((double)t->leaked_bytes / o->work)), unit);
}

/* One row per phase (docs/metrics.md, "Phases"), then its busiest site. */
static int print_phases(FILE *out, const struct analysis *a, const struct rc_source *src,
                        const struct render_opts *o)
{
    char b1[RC_SIZE_BUF], b2[RC_SIZE_BUF], b3[RC_SIZE_BUF], b4[RC_SIZE_BUF], b5[RC_SIZE_BUF];
    struct rc_stack st = {0};

    if (a->n_phases == 0)
        return 0;
    fprintf(out, "\nPhases (%zu)\n", a->n_phases);
    for (size_t i = 0; i < a->n_phases; i++) {
        const struct an_phase *ph = &a->phases[i];
        fprintf(out, "  %-22s%" PRIu64 " allocation%s (%s), %" PRIu64 " free%s, %" PRIu64
                     " temporary, %" PRIu64 " realloc%s\n",
                ph->name, ph->allocations, plural(ph->allocations),
                rc_format_bytes(b1, ph->bytes_allocated), ph->frees, plural(ph->frees),
                ph->temporary, ph->reallocs, plural(ph->reallocs));
        fprintf(out, "  %-22sfrom %s for %s (%" PRIu64 " mark%s); peak heap %s at %s; "
                     "%s in %" PRIu64 " block%s still live at the end\n",
                "", rc_format_seconds(b1, ph->start_ns), rc_format_seconds(b2, ph->duration_ns),
                ph->marks, plural(ph->marks), rc_format_bytes(b3, ph->peak_heap_bytes),
                rc_format_seconds(b4, ph->peak_time_ns), rc_format_bytes(b5, ph->live_bytes),
                ph->live_blocks, plural(ph->live_blocks));
        if (ph->duration_ns != 0)
            fprintf(out, "  %-22s%.1f allocations/s, %s/s\n", "",
                    rc_rate_per_s(ph->allocations, ph->duration_ns),
                    rc_format_bytes(b1, (uint64_t)rc_rate_per_s(ph->bytes_allocated,
                                                                ph->duration_ns)));
        if (o->work > 0)
            fprintf(out, "  %-22s%.2f allocations, %s per %s\n", "",
                    (double)ph->allocations / o->work,
                    rc_format_bytes(b1, (uint64_t)((double)ph->bytes_allocated / o->work)),
                    o->unit != NULL ? o->unit : "unit");
        if (ph->n_top > 0) {
            int rc = rc_stack_resolve(src, ph->top[0].stack, o->all_frames, 1, &st);
            if (rc < 0)
                return rc;
            fprintf(out, "  %-22sbusiest site: %" PRIu64 " allocations at ", "",
                    ph->top[0].allocations);
            if (st.n > 0 && st.frames[0].n > 0)
                rc_print_location(out, &st.frames[0].locs[st.frames[0].n - 1]);
            else
                fputs("<unknown stack>", out);
            fputc('\n', out);
            rc_stack_fini(&st);
        }
    }
    return 0;
}

/* Double frees, invalid frees, reallocs of freed blocks, with their stacks. */
static int print_errors(FILE *out, const struct analysis *a, const struct rc_source *src,
                        const struct render_opts *o)
{
    const struct an_totals *t = &a->totals;
    unsigned frames = o->max_frames != 0 ? o->max_frames : RC_DEFAULT_TEXT_FRAMES;
    struct rc_stack st = {0};
    char b1[RC_SIZE_BUF];
    uint64_t total = t->double_frees + t->invalid_frees + t->freed_reallocs + t->invalid_reallocs;

    if (total == 0)
        return 0;
    fprintf(out, "\nMemory errors (%" PRIu64 ": %" PRIu64 " double free%s, %" PRIu64
                 " invalid free%s, %" PRIu64 " realloc%s of freed blocks, %" PRIu64
                 " of unknown ones)\n",
            total, t->double_frees, plural(t->double_frees), t->invalid_frees,
            plural(t->invalid_frees), t->freed_reallocs, plural(t->freed_reallocs),
            t->invalid_reallocs);
    for (size_t i = 0; i < a->n_errors; i++) {
        const struct an_error *e = &a->errors[i];
        fprintf(out, "  #%zu  %s of 0x%" PRIx64 " at %s, thread %" PRIu64, i + 1,
                an_error_name(e->kind), e->address, rc_format_seconds(b1, e->time_ns), e->thread);
        if (e->alloc_stack != 0 || e->size != 0)
            fprintf(out, " (a block of %" PRIu64 " bytes, freed at %s)", e->size,
                    rc_format_seconds(b1, e->freed_ns));
        fputc('\n', out);
        static const char *const heads[] = {"the call:", "allocated at:", "freed before at:"};
        uint32_t ids[] = {e->call_stack, e->alloc_stack, e->free_stack};
        for (int k = 0; k < 3; k++) {
            if (ids[k] == 0)
                continue;
            fprintf(out, "      %s\n", heads[k]);
            int rc = rc_stack_resolve(src, ids[k], o->all_frames, frames, &st);
            if (rc < 0)
                return rc;
            print_stack(out, ids[k], &st);
            rc_stack_fini(&st);
        }
        if (e->call_stack == 0)
            fputs("      (the stack of a free is recorded with MEMAUDIT_FREE_STACKS=1)\n", out);
    }
    if (total > a->n_errors)
        fprintf(out, "  ... %" PRIu64 " more (the first %d are kept)\n", total - a->n_errors,
                AN_MAX_ERRORS);
    return 0;
}

/* The audit's findings, most important first: what, the advice, where. */
static int print_findings(FILE *out, const struct analysis *a, const struct rc_source *src,
                          const struct render_opts *o)
{
    unsigned top = o->top != 0 ? o->top : RC_DEFAULT_TOP;
    unsigned frames = o->max_frames != 0 ? o->max_frames : RC_DEFAULT_TEXT_FRAMES;
    struct finding *f = NULL;
    struct rc_stack st = {0};
    size_t n = 0;
    char text[512];
    int rc = fd_collect(a, &f, &n);

    if (rc < 0)
        return rc;
    const char *status = fd_safety_status(a);
    fprintf(out, "\n%sMemory safety:%s %s%s%s\n", on(C_BOLD), off(), on(status_colour(status)),
            status, off());
    if (n == 0) {
        fputs("\nFindings: none\n", out);
        return 0;
    }
    if (n > top)
        fprintf(out, "\n%sFindings%s (top %u of %zu)\n", on(C_BOLD), off(), top, n);
    else
        fprintf(out, "\n%sFindings%s (%zu)\n", on(C_BOLD), off(), n);
    for (size_t i = 0; i < n && i < top; i++) {
        fd_describe(&f[i], text, sizeof(text));
        fprintf(out, "  #%zu  %s[%s]%s %s: %s\n", i + 1, on(priority_colour(f[i].priority)),
                fd_priority_name(f[i].priority), off(), fd_kind_title(f[i].kind), text);
        fd_advice(&f[i], text, sizeof(text));
        fprintf(out, "        -> %s\n", text);
        rc = rc_stack_resolve(src, f[i].site->stack, o->all_frames, frames, &st);
        if (rc < 0)
            break;
        print_stack(out, f[i].site->stack, &st);
        rc_stack_fini(&st);
    }
    rc_stack_fini(&st);
    free(f);
    return rc < 0 ? rc : 0;
}

int render_text(FILE *out, const struct analysis *a, const struct rc_source *src,
                const struct render_opts *o)
{
    size_t i;
    int rc;
    const char *no_colour = getenv("NO_COLOR");

    colour = isatty(fileno(out)) && (no_colour == NULL || no_colour[0] == '\0');
    print_header(out, &src->process);
    char note[512];
    if (an_sampling_note(&a->totals, note, sizeof note))
        fprintf(out, "note: %s\n", note);
    print_totals(out, a);
    rm_memory_text(out, a);
    print_per_unit(out, a, o);
    rc = print_phases(out, a, src, o);
    if (rc < 0)
        goto fail;
    rc = print_errors(out, a, src, o);
    if (rc < 0)
        goto fail;
    rc = print_findings(out, a, src, o);
    if (rc < 0)
        goto fail;
    for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        rc = print_section(out, a, src, o, &sections[i]);
        if (rc < 0)
            goto fail;
    }
    if (fflush(out) != 0 || ferror(out))
        return -EIO;
    return 0;

fail:
    return rc;
}
