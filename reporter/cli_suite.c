/* cli_suite.c — what memaudit run --leak-check, report and check share for
 * suppressions and for the processes of a whole run (suite.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"

int load_suppressions(struct sup_list *l, const char *path)
{
    char err[256];
    if (sup_read_file(l, path, err, sizeof(err)) < 0) {
        fprintf(stderr, "memaudit: %s: %s\n", path, err);
        return -1;
    }
    return 0;
}

int input_suppress(struct input *in, struct sup_list *l, struct sup_stats *st)
{
    if (l->n == 0) {
        if (st != NULL)
            memset(st, 0, sizeof(*st));
        return 0;
    }
    /* A profile's analysis is its own copy, allocated with it: const only
     * because renderers must not change it; suppression is meant to. */
    struct analysis *a = in->profile ? (struct analysis *)in->an : &in->a;
    int rc = sup_apply(l, a, &in->src, st);
    if (rc < 0)
        fprintf(stderr, "memaudit: suppressions: %s\n", strerror(-rc));
    return rc;
}

/* The summary's rows: at most RUN_SUMMARY_ROWS, but every process that
 * leaked when the leak check is on (they come first: worst first). */
#define RUN_SUMMARY_ROWS 10

static int leaked(const struct suite_row *r)
{
    return suite_exited(r) && r->totals.leaked_blocks != 0;
}

/* The program's name: the first word of the command line, else the label,
 * without its directories, into buf. */
static const char *program_name(const struct suite_row *r, char *buf, size_t len)
{
    const char *cmd = r->cmdline[0] ? r->cmdline : r->label;
    size_t n = strcspn(cmd, " ");
    const char *slash = memrchr(cmd, '/', n);
    if (slash != NULL) {
        n -= (size_t)(slash + 1 - cmd);
        cmd = slash + 1;
    }
    snprintf(buf, len, "%.*s", (int)n, cmd);
    return buf;
}

/* Terminal columns when out is a terminal (long lines are cut there, not in
 * a pipe or a file), else 0. */
static int out_columns(FILE *out)
{
    struct winsize ws;
    if (!isatty(fileno(out)) || ioctl(fileno(out), TIOCGWINSZ, &ws) != 0 || ws.ws_col < 40)
        return 0;
    return ws.ws_col;
}

void run_summary(FILE *out, const struct suite *s, const char *dir, int leak_check_on)
{
    size_t shown = s->n < RUN_SUMMARY_ROWS ? s->n : RUN_SUMMARY_ROWS;
    for (size_t i = shown; leak_check_on && i < s->n; i++)
        if (leaked(&s->rows[i]))
            shown = i + 1;
    if (s->n == shown + 1) /* "and 1 more" takes a line too */
        shown = s->n;
    int cols = out_columns(out);
    fprintf(out, "memaudit: summary of %zu process%s, worst first:\n", s->n,
            s->n == 1 ? "" : "es");
    fprintf(out, "%9s  %-9s %10s %10s %7s %12s  %s\n", "pid", "status", "peak heap", "leaked",
            "blocks", "allocations", "program: top finding");
    for (size_t i = 0; i < shown; i++) {
        const struct suite_row *r = &s->rows[i];
        char status[32], peak[RC_SIZE_BUF], lost[RC_SIZE_BUF], name[64], line[1024];
        int n = snprintf(line, sizeof(line),
                         "%9" PRIu32 "  %-9s %10s %10s %7" PRIu64 " %12" PRIu64 "  %s: %s", r->pid,
                         suite_status(r, status, sizeof(status)),
                         rc_format_bytes(peak, r->totals.peak_heap_bytes),
                         rc_format_bytes(lost, r->totals.leaked_bytes), r->totals.leaked_blocks,
                         r->totals.allocations, program_name(r, name, sizeof(name)),
                         r->finding ? r->finding : "no findings");
        if (n < 0)
            continue;
        if (cols != 0 && n >= cols && cols - 4 < (int)sizeof(line))
            memcpy(line + cols - 4, "...", 4); /* one column spare: no wrap */
        fprintf(out, "%s\n", line);
    }
    if (shown < s->n)
        fprintf(out, "%9s  and %zu more: memaudit report --summary %s\n", "", s->n - shown, dir);
}

int leak_check(const struct suite *s, size_t unread, struct sup_list *sup, int listed)
{
    if (unread != 0) {
        fprintf(stderr, "memaudit: leak-check: could not check every process\n");
        return -1;
    }
    size_t leaking = 0, unchecked = 0;
    uint64_t bytes = 0, blocks = 0;
    for (size_t i = 0; i < s->n; i++) {
        const struct suite_row *r = &s->rows[i];
        if (!suite_exited(r)) {
            unchecked++;
            continue;
        }
        if (r->totals.leaked_blocks == 0)
            continue;
        leaking++;
        bytes += r->totals.leaked_bytes;
        blocks += r->totals.leaked_blocks;
        if (listed)
            continue;
        fprintf(stderr,
                "memaudit: leak-check: pid %" PRIu32 " (%s): %" PRIu64 " bytes leaked in %" PRIu64
                " block%s; top site: %s\n",
                r->pid, r->cmdline[0] ? r->cmdline : r->label, r->totals.leaked_bytes,
                r->totals.leaked_blocks, r->totals.leaked_blocks == 1 ? "" : "s",
                r->top_leak ? r->top_leak : "no site");
    }
    size_t checked = s->n - unchecked;
    if (leaking != 0)
        fprintf(stderr,
                "memaudit: leak-check: %zu of %zu process%s leaked %" PRIu64 " bytes in %" PRIu64
                " block%s",
                leaking, checked, checked == 1 ? "" : "es", bytes, blocks, blocks == 1 ? "" : "s");
    else
        fprintf(stderr, "memaudit: leak-check: no leaks in %zu process%s", checked,
                checked == 1 ? "" : "es");
    if (unchecked != 0)
        fprintf(stderr, " (%zu not checked: replaced by exec, killed or cut short)", unchecked);
    fputc('\n', stderr);
    sup_print_used(sup, stderr);
    return (int)(leaking > 0x7fff ? 0x7fff : leaking);
}
