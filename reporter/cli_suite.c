/* cli_suite.c — what memaudit run --leak-check, report and check share for
 * suppressions and for the processes of a whole run (suite.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

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

int leak_check(const struct input_list *runs, struct sup_list *sup)
{
    struct suite s = {0};
    int rc = 0;

    for (size_t i = 0; i < runs->n && rc == 0; i++) {
        struct input in;
        if (input_open(runs->paths[i], &in) < 0) {
            rc = -1;
            break;
        }
        if (input_suppress(&in, sup, NULL) < 0 ||
            suite_add(&s, runs->paths[i], in.an, &in.src, 0) < 0)
            rc = -1;
        input_close(&in);
    }
    if (rc < 0) {
        fprintf(stderr, "memaudit: leak-check: could not check every process\n");
        suite_free(&s);
        return -1;
    }
    suite_sort(&s);
    size_t leaking = 0, unchecked = 0;
    uint64_t bytes = 0, blocks = 0;
    for (size_t i = 0; i < s.n; i++) {
        const struct suite_row *r = &s.rows[i];
        if (!suite_exited(r)) {
            unchecked++;
            continue;
        }
        if (r->totals.leaked_blocks == 0)
            continue;
        leaking++;
        bytes += r->totals.leaked_bytes;
        blocks += r->totals.leaked_blocks;
        fprintf(stderr,
                "memaudit: leak-check: pid %" PRIu32 " (%s): %" PRIu64 " bytes leaked in %" PRIu64
                " block%s; top site: %s\n",
                r->pid, r->cmdline[0] ? r->cmdline : r->label, r->totals.leaked_bytes,
                r->totals.leaked_blocks, r->totals.leaked_blocks == 1 ? "" : "s",
                r->top_leak ? r->top_leak : "no site");
    }
    size_t checked = s.n - unchecked;
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
    suite_free(&s);
    return (int)(leaking > 0x7fff ? 0x7fff : leaking);
}
