/* render_md.c — the audit as a Markdown document, in the shape of the audit
 * that started the project (Executive Summary, Memory Safety, Performance,
 * Recommendations by priority, Benchmarking Results, Action Items).
 *
 * Every figure comes from the analysis and every recommendation is a finding
 * (findings.h) with the stack that justifies it; the document has no text
 * that is not about this run. Names from the profile are put in code spans
 * with '|' and '`' escaped, so no name can break a table or inject markup. */
#include "render.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "findings.h"
#include "render_common.h"

#define MD_STACK_FRAMES 6u

/* Write s as Markdown code, escaping what would end the span or a table cell. */
static void md_code(FILE *out, const char *s)
{
    fputc('`', out);
    for (; *s != '\0'; s++) {
        if (*s == '`')
            fputc('\'', out);
        else if (*s == '|')
            fputs("\\|", out);
        else if (*s == '\n' || *s == '\r')
            fputc(' ', out);
        else
            fputc(*s, out);
    }
    fputc('`', out);
}

/* Where the site's stack starts: its first two locations (inlined ones
 * count), "f (file:line) ← caller (file:line)", so that sites reached
 * through one allocation wrapper still read apart. */
static int md_site(FILE *out, const struct rc_source *src, const struct render_opts *o,
                   uint32_t id)
{
    struct rc_stack st = {0};
    char part[2][1024], buf[2 * 1024 + 8] = "";
    int rc = rc_stack_resolve(src, id, o->all_frames, 2, &st);
    int shown = 0;

    for (size_t i = 0; rc == 0 && i < st.n && shown < 2; i++) {
        const struct rc_frame *f = &st.frames[i];
        for (size_t j = 0; j < (f->n ? f->n : 1) && shown < 2; j++)
            rc_format_location(part[shown++], sizeof(part[0]), f, j);
    }
    if (shown == 1)
        snprintf(buf, sizeof(buf), "%s", part[0]);
    else if (shown == 2)
        snprintf(buf, sizeof(buf), "%s \u2190 %s", part[0], part[1]);
    rc_stack_fini(&st);
    if (rc < 0)
        return rc;
    md_code(out, buf[0] != '\0' ? buf : id == 0 ? "<no stack recorded>" : "<unknown>");
    return 0;
}

/* The stack as a short list of code lines. */
static int md_stack(FILE *out, const struct rc_source *src, const struct render_opts *o,
                    uint32_t id)
{
    struct rc_stack st = {0};
    int rc = rc_stack_resolve(src, id, o->all_frames, MD_STACK_FRAMES, &st);

    if (rc < 0)
        return rc;
    if (st.n == 0)
        fputs("     - not recorded\n", out);
    for (size_t i = 0; i < st.n; i++) {
        const struct rc_frame *f = &st.frames[i];
        for (size_t j = 0; j < (f->n ? f->n : 1); j++) {
            char buf[1024];
            fputs("     - ", out);
            md_code(out, rc_format_location(buf, sizeof(buf), f, j));
            fputs(f->n && f->locs[j].inlined ? " (inlined)\n" : "\n", out);
        }
    }
    if (st.more)
        fprintf(out, "     - … %zu more frames\n", st.more);
    rc_stack_fini(&st);
    return 0;
}

static const char *md_s(uint64_t n)
{
    return n == 1 ? "" : "s";
}

static double md_pct(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static void executive_summary(FILE *out, const struct analysis *a, const struct finding *f,
                              size_t n)
{
    const struct an_totals *t = &a->totals;
    char b1[RC_SIZE_BUF], b2[RC_SIZE_BUF], b3[RC_SIZE_BUF], b4[RC_SIZE_BUF];
    size_t by[3] = {0, 0, 0};

    for (size_t i = 0; i < n; i++)
        by[f[i].priority]++;
    fputs("## Executive Summary\n\n", out);
    char note[512];
    if (an_sampling_note(t, note, sizeof note))
        fprintf(out, "> **%s**\n\n", note);
    fprintf(out,
            "In %s the program made %" PRIu64 " allocations (%s in all) and reached a heap "
            "peak of %s at %s. ",
            rc_format_seconds(b1, t->duration_ns), t->allocations,
            rc_format_bytes(b2, t->bytes_allocated), rc_format_bytes(b3, t->peak_heap_bytes),
            rc_format_seconds(b4, t->peak_time_ns));
    if (t->leaked_blocks == 0)
        fputs("Nothing it allocated was left allocated at exit. ", out);
    else
        fprintf(out, "It left %s in %" PRIu64 " block%s allocated at exit. ",
                rc_format_bytes(b1, t->leaked_bytes), t->leaked_blocks,
                t->leaked_blocks == 1 ? "" : "s");
    fprintf(out,
            "%.1f%% of its allocations were temporary. The audit found %zu high, %zu medium "
            "and %zu low priority item%s.\n\n",
            md_pct(t->temporary_allocations, t->allocations), by[FD_HIGH], by[FD_MEDIUM],
            by[FD_LOW], by[FD_LOW] == 1 ? "" : "s");
    fprintf(out, "**Memory safety: %s**\n\n", fd_safety_status(a));
}

static int safety(FILE *out, const struct analysis *a, const struct rc_source *src,
                  const struct render_opts *o)
{
    const struct an_totals *t = &a->totals;
    const struct an_site **sites = NULL;
    size_t n = 0, total = 0;
    char b1[RC_SIZE_BUF];
    int rc;

    fprintf(out, "## Memory Safety Analysis\n\nStatus: **%s**\n\n", fd_safety_status(a));
    fputs("### Memory Leaks\n\n", out);
    rc = rc_rank_sites(a, RC_LEAKED, 0, &sites, &n, &total);
    if (rc < 0)
        return rc;
    if (n == 0) {
        fputs("No block of the program was still allocated at exit.\n\n", out);
    } else {
        fprintf(out, "%s in %" PRIu64 " block%s at exit, from %zu site%s:\n\n",
                rc_format_bytes(b1, t->leaked_bytes), t->leaked_blocks,
                t->leaked_blocks == 1 ? "" : "s", n, n == 1 ? "" : "s");
        fputs("| site | bytes | blocks | allocations | allocated |\n|---|---:|---:|---:|---|\n",
              out);
        for (size_t i = 0; i < n && i < 20 && rc == 0; i++) {
            const struct an_site *s = sites[i];
            char b2[RC_SIZE_BUF];
            fputs("| ", out);
            rc = md_site(out, src, o, s->stack);
            fprintf(out, " | %" PRIu64 " | %" PRIu64 " | %" PRIu64 " | %s – %s |\n",
                    s->live_bytes, s->live_blocks, s->allocations,
                    rc_format_seconds(b1, s->leak_first_ns), rc_format_seconds(b2, s->leak_last_ns));
        }
        if (n > 20)
            fprintf(out, "\n… and %zu more sites (all of them in the JSON report).\n", n - 20);
        fputc('\n', out);
    }
    free(sites);
    if (rc < 0)
        return rc;
    fputs("### Invalid Frees\n\n", out);
    if (t->unmatched_frees == 0)
        fputs("Every free matched a block the run allocated.\n\n", out);
    else
        fprintf(out,
                "%" PRIu64 " free%s of addresses that were not allocated at that moment: %" PRIu64
                " double free%s, %" PRIu64 " invalid free%s, %" PRIu64 " realloc%s of freed "
                "blocks, %" PRIu64 " of unknown ones.\n\n",
                t->unmatched_frees, t->unmatched_frees == 1 ? "" : "s", t->double_frees,
                t->double_frees == 1 ? "" : "s", t->invalid_frees, t->invalid_frees == 1 ? "" : "s",
                t->freed_reallocs, t->freed_reallocs == 1 ? "" : "s", t->invalid_reallocs);
    for (size_t i = 0; i < a->n_errors && rc == 0; i++) {
        const struct an_error *e = &a->errors[i];
        fprintf(out, "%zu. **%s** of `0x%" PRIx64 "` at %s", i + 1, an_error_name(e->kind),
                e->address, rc_format_seconds(b1, e->time_ns));
        if (e->alloc_stack != 0) {
            fprintf(out, ", a block of %" PRIu64 " bytes allocated at ", e->size);
            rc = md_site(out, src, o, e->alloc_stack);
        }
        fputs("\n", out);
        if (rc == 0 && e->call_stack != 0) {
            fputs("   - the call:\n", out);
            rc = md_stack(out, src, o, e->call_stack);
        }
        if (rc == 0 && e->free_stack != 0) {
            fputs("   - freed before at:\n", out);
            rc = md_stack(out, src, o, e->free_stack);
        }
    }
    if (a->n_errors != 0)
        fputc('\n', out);
    if (rc < 0)
        return rc;
    if (t->runtime_held_blocks != 0)
        fprintf(out,
                "The C runtime itself still held %s in %" PRIu64 " block%s at exit (thread "
                "set-up, stdio buffers, dynamic loader); these are not the program's leaks.\n\n",
                rc_format_bytes(b1, t->runtime_held_bytes), t->runtime_held_blocks,
                t->runtime_held_blocks == 1 ? "" : "s");
    return 0;
}

static int hotspots(FILE *out, const struct analysis *a, const struct rc_source *src,
                    const struct render_opts *o)
{
    unsigned top = o->top ? o->top : RC_DEFAULT_TOP;
    const struct an_site **sites = NULL;
    size_t n = 0, total = 0;
    char b1[RC_SIZE_BUF];
    int rc = rc_rank_sites(a, RC_ALLOCATIONS, top, &sites, &n, &total);

    if (rc < 0)
        return rc;
    fputs("## Performance Analysis\n\n### Allocation Hotspots\n\n", out);
    if (n == 0) {
        fputs("No allocations.\n\n", out);
    } else {
        fprintf(out, "The %zu busiest of %zu allocating sites:\n\n", n, total);
        fputs("| site | allocations | share | bytes | sizes | temporary | most live at once |\n"
              "|---|---:|---:|---:|---|---:|---:|\n",
              out);
        for (size_t i = 0; i < n && rc == 0; i++) {
            const struct an_site *s = sites[i];
            fputs("| ", out);
            rc = md_site(out, src, o, s->stack);
            fprintf(out,
                    " | %" PRIu64 " | %.1f%% | %s | %" PRIu64 "..%" PRIu64 " | %" PRIu64
                    " | %" PRIu64 " |\n",
                    s->allocations, md_pct(s->allocations, a->totals.allocations),
                    rc_format_bytes(b1, s->bytes_allocated), s->min_size, s->max_size,
                    s->temporary, s->max_live_blocks);
        }
        fputc('\n', out);
    }
    free(sites);
    return rc;
}

static int efficiency(FILE *out, const struct analysis *a, const struct rc_source *src,
                      const struct render_opts *o, const struct finding *f, size_t n)
{
    const struct an_totals *t = &a->totals;
    char b1[RC_SIZE_BUF], b2[RC_SIZE_BUF];
    int rc = 0, any = 0;

    fputs("### Data Structure Efficiency\n\n", out);
    fprintf(out,
            "Allocator overhead (usable size beyond the request, plus glibc's %d-byte header "
            "per block): %s at the peak, %.1f%% of the %s requested then.\n\n",
            FD_CHUNK_HEADER,
            rc_format_bytes(b1, t->peak_slack_bytes + (uint64_t)FD_CHUNK_HEADER * t->peak_blocks),
            md_pct(t->peak_slack_bytes + (uint64_t)FD_CHUNK_HEADER * t->peak_blocks,
                   t->peak_heap_bytes),
            rc_format_bytes(b2, t->peak_heap_bytes));
    for (size_t i = 0; i < n && rc == 0; i++) {
        enum fd_kind k = f[i].kind;
        if (k != FD_REALLOC_GROWTH && k != FD_MANUAL_GROWTH && k != FD_SMALL_BLOCKS)
            continue;
        char text[512];
        fd_describe(&f[i], text, sizeof(text));
        fprintf(out, "- **%s** at ", fd_kind_title(k));
        rc = md_site(out, src, o, f[i].site->stack);
        fprintf(out, ": %s.\n", text);
        any = 1;
    }
    if (!any)
        fputs("No site grew blocks repeatedly or kept many tiny blocks.\n", out);
    fputc('\n', out);
    return rc;
}

static int recommendations(FILE *out, const struct rc_source *src, const struct render_opts *o,
                           const struct finding *f, size_t n)
{
    static const char *const heads[] = {"High Priority", "Medium Priority", "Low Priority"};
    char text[512];
    int rc = 0;

    fputs("## Optimization Recommendations\n\n", out);
    if (n == 0)
        fputs("Nothing to recommend: no rule of docs/metrics.md (\"Findings\") matched.\n\n", out);
    for (int p = FD_HIGH; p <= FD_LOW && rc == 0; p++) {
        size_t count = 0;
        for (size_t i = 0; i < n; i++)
            count += f[i].priority == (enum fd_priority)p;
        if (count == 0)
            continue;
        fprintf(out, "### %s\n\n", heads[p]);
        for (size_t i = 0, k = 0; i < n && rc == 0; i++) {
            if (f[i].priority != (enum fd_priority)p)
                continue;
            fprintf(out, "%zu. **%s** (%.1f%% impact) at ", ++k, fd_kind_title(f[i].kind),
                    f[i].impact_pct);
            rc = md_site(out, src, o, f[i].site->stack);
            fd_describe(&f[i], text, sizeof(text));
            fprintf(out, "\n   - Measured: %s.\n", text);
            fd_advice(&f[i], text, sizeof(text));
            fprintf(out, "   - Change: %s.\n", text);
            fputs("   - Stack:\n", out);
            if (rc == 0)
                rc = md_stack(out, src, o, f[i].site->stack);
        }
        fputc('\n', out);
    }
    return rc;
}

/* Per-phase rows and figures per unit of work (docs/metrics.md, "Phases"). */
static void benchmarking_phases(FILE *out, const struct analysis *a, const struct render_opts *o)
{
    const struct an_totals *t = &a->totals;
    const char *unit = o->unit != NULL ? o->unit : "unit";
    char b1[RC_SIZE_BUF], b2[RC_SIZE_BUF], b3[RC_SIZE_BUF], b4[RC_SIZE_BUF];

    if (o->work > 0) {
        fputs("### Per Unit of Work\n\n", out);
        fprintf(out, "The run did %g × ", o->work);
        md_code(out, unit);
        fputs(".\n\n| figure | per unit |\n|---|---:|\n", out);
        fprintf(out, "| allocations | %.2f |\n", (double)t->allocations / o->work);
        fprintf(out, "| bytes allocated | %s |\n",
                rc_format_bytes(b1, (uint64_t)((double)t->bytes_allocated / o->work)));
        fprintf(out, "| temporary allocations | %.2f |\n",
                (double)t->temporary_allocations / o->work);
        fprintf(out, "| peak heap | %s |\n",
                rc_format_bytes(b1, (uint64_t)((double)t->peak_heap_bytes / o->work)));
        fprintf(out, "| leaked | %s |\n\n",
                rc_format_bytes(b1, (uint64_t)((double)t->leaked_bytes / o->work)));
    }
    if (a->n_phases == 0)
        return;
    fputs("### Per Phase\n\n", out);
    fputs("| phase | duration | allocations | bytes allocated | frees | temporary | peak heap "
          "| live at end | allocation rate |",
          out);
    fputs(o->work > 0 ? " allocations per unit |\n" : "\n", out);
    fputs(o->work > 0 ? "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
                      : "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
          out);
    for (size_t i = 0; i < a->n_phases; i++) {
        const struct an_phase *ph = &a->phases[i];
        fputs("| ", out);
        md_code(out, ph->name);
        fprintf(out,
                " | %s | %" PRIu64 " | %s | %" PRIu64 " | %" PRIu64 " | %s | %s in %" PRIu64
                " block%s | %.0f/s |",
                rc_format_seconds(b1, ph->duration_ns), ph->allocations,
                rc_format_bytes(b2, ph->bytes_allocated), ph->frees, ph->temporary,
                rc_format_bytes(b3, ph->peak_heap_bytes), rc_format_bytes(b4, ph->live_bytes),
                ph->live_blocks, md_s(ph->live_blocks),
                rc_rate_per_s(ph->allocations, ph->duration_ns));
        if (o->work > 0)
            fprintf(out, " %.2f |", (double)ph->allocations / o->work);
        fputc('\n', out);
    }
    fputc('\n', out);
}

static void benchmarking(FILE *out, const struct analysis *a)
{
    const struct an_totals *t = &a->totals;
    char b1[RC_SIZE_BUF], b2[RC_SIZE_BUF], b3[RC_SIZE_BUF];

    fputs("## Benchmarking Results\n\n### Memory Usage Patterns\n\n", out);
    fputs("| figure | value |\n|---|---:|\n", out);
    fprintf(out, "| peak heap | %s (%" PRIu64 " bytes) in %" PRIu64 " block%s at %s |\n",
            rc_format_bytes(b1, t->peak_heap_bytes), t->peak_heap_bytes, t->peak_blocks,
            md_s(t->peak_blocks), rc_format_seconds(b2, t->peak_time_ns));
    fprintf(out, "| leaked at exit | %" PRIu64 " bytes in %" PRIu64 " block%s |\n",
            t->leaked_bytes, t->leaked_blocks, md_s(t->leaked_blocks));
    fprintf(out, "| held by the C runtime at exit | %" PRIu64 " bytes in %" PRIu64 " block%s |\n",
            t->runtime_held_bytes, t->runtime_held_blocks, md_s(t->runtime_held_blocks));
    fprintf(out, "| allocator overhead at peak | %" PRIu64 " bytes |\n",
            t->peak_slack_bytes + (uint64_t)FD_CHUNK_HEADER * t->peak_blocks);
    const struct an_memory *m = &a->memory;
    if (m->peak_rss_bytes != 0) {
        fprintf(out, "| peak resident memory (RSS) | %s at %s (heap then: %s) |\n",
                rc_format_bytes(b1, m->peak_rss_bytes), rc_format_seconds(b2, m->peak_rss_time_ns),
                rc_format_bytes(b3, a->timeline[m->peak_rss_sample].heap_bytes));
        if (m->has_fragmentation)
            fprintf(out, "| fragmentation at peak RSS | %.1f%% of the allocator's memory in free holes |\n",
                    100.0 * m->fragmentation_at_peak_rss);
    } else {
        fputs("| peak resident memory (RSS) | not sampled (MEMAUDIT_INTERVAL_MS=0, or a run "
              "shorter than one sample) |\n",
              out);
    }
    fputs("\n### Performance Metrics\n\n| figure | value |\n|---|---:|\n", out);
    fprintf(out, "| allocations | %" PRIu64 " |\n| frees | %" PRIu64 " |\n", t->allocations,
            t->frees);
    fprintf(out, "| bytes allocated | %s |\n", rc_format_bytes(b1, t->bytes_allocated));
    fprintf(out, "| duration | %s |\n", rc_format_seconds(b1, t->duration_ns));
    if (t->duration_ns != 0)
        fprintf(out, "| allocation rate | %.0f allocations/s, %s/s |\n",
                rc_rate_per_s(t->allocations, t->duration_ns),
                rc_format_bytes(b1, (uint64_t)rc_rate_per_s(t->bytes_allocated, t->duration_ns)));
    fprintf(out, "| temporary allocations | %" PRIu64 " (%.1f%%) |\n", t->temporary_allocations,
            md_pct(t->temporary_allocations, t->allocations));
    fprintf(out, "| reallocs | %" PRIu64 " |\n| failed allocations | %" PRIu64 " |\n", t->reallocs,
            t->failed_allocations);
    fprintf(out, "| threads | %" PRIu64 " |\n\n", t->threads);
}

static int action_items(FILE *out, const struct rc_source *src, const struct render_opts *o,
                        const struct finding *f, size_t n)
{
    static const char *const heads[] = {"Immediate", "Short Term", "Long Term"};
    char text[512];
    int rc = 0;

    fputs("## Action Items\n\n", out);
    if (n == 0)
        fputs("None.\n\n", out);
    for (int p = FD_HIGH; p <= FD_LOW && rc == 0; p++) {
        int head = 0;
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (f[i].priority != (enum fd_priority)p)
                continue;
            if (!head)
                fprintf(out, "### %s\n\n", heads[p]);
            head = 1;
            fputs("- [ ] ", out);
            rc = md_site(out, src, o, f[i].site->stack);
            fd_advice(&f[i], text, sizeof(text));
            fprintf(out, ": %s.\n", text);
        }
        if (head)
            fputc('\n', out);
    }
    return rc;
}

int render_md(FILE *out, const struct analysis *a, const struct rc_source *src,
              const struct render_opts *o)
{
    const struct rc_process *pr = &src->process;
    struct finding *f = NULL;
    size_t n = 0;
    int rc = fd_collect(a, &f, &n);

    if (rc < 0)
        return rc;
    fputs("# Memory Audit Report: ", out);
    md_code(out, pr->exe[0] != '\0' ? rc_basename(pr->exe) : "unknown program");
    fputs("\n\n", out);
    if (pr->cmdline[0] != '\0') {
        fputs("Measured by memaudit from one run of ", out);
        md_code(out, pr->cmdline);
        fprintf(out, " (pid %" PRIu32 ")", pr->pid);
        if (pr->signal != 0)
            fprintf(out, ", killed by signal %d: figures stop at its death", pr->signal);
        else if (pr->exit_status >= 0)
            fprintf(out, ", exit status %d", pr->exit_status);
        fputs(".", out);
        if (!pr->complete)
            fputs(" The trace is incomplete: figures cover what was recorded.", out);
        fputs("\n\n", out);
    }
    executive_summary(out, a, f, n);
    rc = safety(out, a, src, o);
    if (rc == 0)
        rc = hotspots(out, a, src, o);
    if (rc == 0)
        rc = efficiency(out, a, src, o, f, n);
    if (rc == 0)
        rc = recommendations(out, src, o, f, n);
    if (rc == 0) {
        benchmarking(out, a);
        benchmarking_phases(out, a, o);
    }
    if (rc == 0)
        rc = action_items(out, src, o, f, n);
    free(f);
    if (rc == 0 && (fflush(out) != 0 || ferror(out)))
        rc = -EIO;
    return rc;
}
