/* render_memory.c — the memory timeline in the text and JSON reports.
 *
 * Reporter stage. Reads struct analysis's timeline (one entry per SAMPLE
 * record, with the replay's live heap at its time) and its summary; the
 * figures are defined in docs/metrics.md, "Memory over time". Allocator
 * figures a sample lacks are JSON null, never 0, so that "not measured"
 * cannot be read as "nothing". */
#include "render_memory.h"

#include <errno.h>
#include <inttypes.h>

#include "render_common.h"

static int num(cJSON *obj, const char *key, double v)
{
    return cJSON_AddNumberToObject(obj, key, v) != NULL ? 0 : -1;
}

static int num_or_null(cJSON *obj, const char *key, int have, double v)
{
    if (have)
        return num(obj, key, v);
    return cJSON_AddNullToObject(obj, key) != NULL ? 0 : -1;
}

int rm_memory_json(cJSON *root, const struct analysis *a)
{
    const struct an_memory *m = &a->memory;
    int err = 0;

    cJSON *mem = cJSON_AddObjectToObject(root, "memory");
    if (mem == NULL)
        return -ENOMEM;
    int have = a->n_timeline > 0;
    err |= num(mem, "samples", (double)a->n_timeline);
    err |= num_or_null(mem, "peak_rss_bytes", have, (double)m->peak_rss_bytes);
    err |= num_or_null(mem, "peak_rss_time_ns", have, (double)m->peak_rss_time_ns);
    err |= num_or_null(mem, "heap_bytes_at_peak_rss", have,
                       have ? (double)a->timeline[m->peak_rss_sample].heap_bytes : 0);
    err |= num_or_null(mem, "fragmentation_at_peak_rss", m->has_fragmentation,
                       m->fragmentation_at_peak_rss);
    if (err)
        return -ENOMEM;

    cJSON *arr = cJSON_AddArrayToObject(root, "timeline");
    if (arr == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < a->n_timeline; i++) {
        const struct an_sample *s = &a->timeline[i];
        cJSON *o = cJSON_CreateObject();
        if (o == NULL)
            return -ENOMEM;
        if (!cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            return -ENOMEM;
        }
        int al = s->has_allocator;
        err |= num(o, "time_ns", (double)s->time_ns);
        err |= num(o, "heap_bytes", (double)s->heap_bytes);
        err |= num(o, "heap_blocks", (double)s->heap_blocks);
        err |= num(o, "rss_bytes", (double)s->rss_bytes);
        err |= num_or_null(o, "allocator_heap_bytes", al, (double)s->allocator_heap_bytes);
        err |= num_or_null(o, "allocator_in_use_bytes", al, (double)s->allocator_in_use_bytes);
        err |= num_or_null(o, "allocator_free_bytes", al, (double)s->allocator_free_bytes);
        err |= num_or_null(o, "allocator_releasable_bytes", al,
                           (double)s->allocator_releasable_bytes);
        err |= num_or_null(o, "fragmentation", al, s->fragmentation);
        if (err)
            return -ENOMEM;
    }
    return 0;
}

void rm_memory_text(FILE *out, const struct analysis *a)
{
    const struct an_memory *m = &a->memory;
    char size[RC_SIZE_BUF], when[RC_SIZE_BUF];

    if (a->n_timeline == 0)
        return;
    fprintf(out, "  %-22speak RSS %s at %s", "memory", rc_format_bytes(size, m->peak_rss_bytes),
            rc_format_seconds(when, m->peak_rss_time_ns));
    if (m->has_fragmentation)
        fprintf(out, ", fragmentation %.1f%%", 100.0 * m->fragmentation_at_peak_rss);
    fprintf(out, " (%zu sample%s)\n", a->n_timeline, a->n_timeline == 1 ? "" : "s");
}
