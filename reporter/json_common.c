/* json_common.c — cJSON helpers and the objects every JSON renderer shares
 * (json_common.h). */
#include "json_common.h"

#include <errno.h>

/* Add a number; returns 0 or -ENOMEM. Doubles hold integers exactly up to
 * 2^53, far above any byte or event count a trace can reach. */
int json_num(cJSON *obj, const char *key, double v)
{
    return cJSON_AddNumberToObject(obj, key, v) != NULL ? 0 : -ENOMEM;
}

int json_str(cJSON *obj, const char *key, const char *s)
{
    cJSON *item =
        s != NULL ? cJSON_AddStringToObject(obj, key, s) : cJSON_AddNullToObject(obj, key);
    return item != NULL ? 0 : -ENOMEM;
}

int json_bool(cJSON *obj, const char *key, int v)
{
    return cJSON_AddBoolToObject(obj, key, v != 0) != NULL ? 0 : -ENOMEM;
}

/* Append item to array; on failure item is freed here. */
int json_append(cJSON *array, cJSON *item)
{
    if (item == NULL)
        return -ENOMEM;
    if (!cJSON_AddItemToArray(array, item)) {
        cJSON_Delete(item);
        return -ENOMEM;
    }
    return 0;
}

int json_add_process(cJSON *root, const struct analysis *a, const struct rc_process *pr)
{
    const char *exe = pr->exe;
    const char *cmdline = pr->cmdline;
    cJSON *p = cJSON_AddObjectToObject(root, "process");
    int err = 0;

    if (p == NULL)
        return -ENOMEM;
    err |= json_num(p, "pid", pr->pid);
    err |= json_num(p, "ppid", pr->ppid);
    err |= json_str(p, "exe", exe[0] != '\0' ? exe : NULL);
    err |= json_str(p, "cmdline", cmdline[0] != '\0' ? cmdline : NULL);
    err |= json_bool(p, "complete", pr->complete);
    err |= json_num(p, "exit_status", pr->exit_status);
    err |= json_num(p, "signal", pr->signal);
    err |= json_num(p, "lost_events", (double)pr->lost_events);
    err |= json_num(p, "threads", (double)a->totals.threads);
    err |= json_num(p, "trace_bytes", (double)pr->trace_bytes);
    err |= json_num(p, "trace_bytes_read", (double)pr->trace_bytes_read);
    /* Sampling mode: the mean (0: every allocation recorded, exact figures),
     * and the sentence the other formats print (null in full mode). */
    err |= json_num(p, "sampling_bytes", (double)a->totals.sampling_bytes);
    char note[512];
    err |= json_str(p, "sampling_note",
                    an_sampling_note(&a->totals, note, sizeof note) ? note : NULL);
    return err != 0 ? -ENOMEM : 0;
}

int json_add_summary(cJSON *root, const struct analysis *a, cJSON **out)
{
    const struct an_totals *t = &a->totals;
    cJSON *s = cJSON_AddObjectToObject(root, "summary");
    int err = 0;

    if (s == NULL)
        return -ENOMEM;
    if (out != NULL)
        *out = s;
    err |= json_num(s, "allocations", (double)t->allocations);
    err |= json_num(s, "frees", (double)t->frees);
    err |= json_num(s, "bytes_allocated", (double)t->bytes_allocated);
    err |= json_num(s, "peak_heap_bytes", (double)t->peak_heap_bytes);
    err |= json_num(s, "peak_time_ns", (double)t->peak_time_ns);
    err |= json_num(s, "peak_blocks", (double)t->peak_blocks);
    err |= json_num(s, "leaked_bytes", (double)t->leaked_bytes);
    err |= json_num(s, "leaked_blocks", (double)t->leaked_blocks);
    err |= json_num(s, "runtime_held_bytes", (double)t->runtime_held_bytes);
    err |= json_num(s, "runtime_held_blocks", (double)t->runtime_held_blocks);
    err |= json_num(s, "temporary_allocations", (double)t->temporary_allocations);
    err |= json_num(s, "failed_allocations", (double)t->failed_allocations);
    err |= json_num(s, "reallocs", (double)t->reallocs);
    err |= json_num(s, "unmatched_frees", (double)t->unmatched_frees);
    err |= json_num(s, "inherited_frees", (double)t->inherited_frees);
    err |= json_num(s, "unsampled_frees", (double)t->unsampled_frees);
    err |= json_num(s, "slack_bytes", (double)t->slack_bytes);
    err |= json_num(s, "peak_slack_bytes", (double)t->peak_slack_bytes);
    err |= json_num(s, "duration_ns", (double)t->duration_ns);
    err |= json_num(s, "allocation_rate_per_s", rc_rate_per_s(t->allocations, t->duration_ns));
    err |= json_num(s, "bytes_rate_per_s", rc_rate_per_s(t->bytes_allocated, t->duration_ns));
    err |= json_bool(s, "content_hashing", t->content_hashing != 0);
    err |= json_num(s, "content_hashed_blocks", (double)t->content_hashed);
    err |= json_num(s, "content_duplicate_blocks", (double)t->content_duplicates);
    return err != 0 ? -ENOMEM : 0;
}
