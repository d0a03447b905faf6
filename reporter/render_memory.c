/* render_memory.c — the memory timeline in the text and JSON reports.
 *
 * Reporter stage. Reads struct analysis's timeline (one entry per SAMPLE
 * record, with the replay's live heap at its time) and its summary; the
 * figures are defined in docs/metrics.md, "Memory over time". Allocator
 * figures a sample lacks are JSON null, never 0, so that "not measured"
 * cannot be read as "nothing". The text also draws the live heap of the
 * samples as a sparkline: a function of the trace and of whether the locale
 * is UTF-8, nothing else (JSON never depends on the locale). */
#include "render_memory.h"

#include <errno.h>
#include <inttypes.h>
#include <langinfo.h>
#include <locale.h>
#include <string.h>

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

int rm_locale_utf8(void)
{
    /* Ask the environment's LC_CTYPE, then put back the one in force, so
     * that nothing else of the program changes with the locale. */
    char saved[128];
    const char *cur = setlocale(LC_CTYPE, NULL);
    snprintf(saved, sizeof(saved), "%s", cur != NULL ? cur : "C");
    if (setlocale(LC_CTYPE, "") == NULL)
        return 0;
    const char *set = nl_langinfo(CODESET);
    int utf8 = strcmp(set, "UTF-8") == 0 || strcmp(set, "utf8") == 0;
    setlocale(LC_CTYPE, saved);
    return utf8;
}

size_t rm_sparkline(char *buf, size_t cap, const struct analysis *a, int utf8)
{
    static const char *const blocks[8] = {"\u2581", "\u2582", "\u2583", "\u2584",
                                          "\u2585", "\u2586", "\u2587", "\u2588"};
    static const char ascii[8] = {'_', '.', ':', '-', '=', '+', '*', '#'};
    size_t n = a->n_timeline, cols = n < RM_SPARK_MAX ? n : RM_SPARK_MAX, len = 0;
    uint64_t top = 0;

    if (cap == 0)
        return 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++)
        if (a->timeline[i].heap_bytes > top)
            top = a->timeline[i].heap_bytes;
    for (size_t c = 0; c < cols; c++) {
        /* Column c: samples [c*n/cols, (c+1)*n/cols), drawn at their highest. */
        uint64_t v = 0;
        for (size_t i = c * n / cols; i < (c + 1) * n / cols; i++)
            if (a->timeline[i].heap_bytes > v)
                v = a->timeline[i].heap_bytes;
        /* Levels 1..7 in equal steps up to the top, rounded up: 0 alone
         * is level 0, the lowest block. */
        double x = top != 0 ? 7.0 * (double)v / (double)top : 0.0;
        int level = (int)x;
        if ((double)level < x)
            level++;
        level = level > 7 ? 7 : level;
        char one[2] = {ascii[level], '\0'};
        const char *glyph = utf8 ? blocks[level] : one;
        size_t g = strlen(glyph);
        if (len + g >= cap)
            break;
        memcpy(buf + len, glyph, g + 1);
        len += g;
    }
    return len;
}

void rm_memory_text(FILE *out, const struct analysis *a)
{
    const struct an_memory *m = &a->memory;
    char size[RC_SIZE_BUF], when[RC_SIZE_BUF], top[RC_SIZE_BUF];
    char spark[RM_SPARK_MAX * 3 + 1];

    if (a->n_timeline == 0)
        return;
    fprintf(out, "  %-22speak RSS %s at %s", "memory", rc_format_bytes(size, m->peak_rss_bytes),
            rc_format_seconds(when, m->peak_rss_time_ns));
    if (m->has_fragmentation)
        fprintf(out, ", fragmentation %.1f%%", 100.0 * m->fragmentation_at_peak_rss);
    fprintf(out, " (%zu sample%s)\n", a->n_timeline, a->n_timeline == 1 ? "" : "s");

    /* "heap over time  ▁▂▄█▅▂ (first → highest → last sample)" */
    int utf8 = rm_locale_utf8();
    const char *arrow = utf8 ? " \u2192 " : " -> ";
    uint64_t high = 0;
    for (size_t i = 0; i < a->n_timeline; i++)
        if (a->timeline[i].heap_bytes > high)
            high = a->timeline[i].heap_bytes;
    rm_sparkline(spark, sizeof(spark), a, utf8);
    fprintf(out, "  %-22s%s (%s%s", "heap over time", spark,
            rc_format_bytes(size, a->timeline[0].heap_bytes), arrow);
    fprintf(out, "%s%s%s)\n", rc_format_bytes(top, high), arrow,
            rc_format_bytes(when, a->timeline[a->n_timeline - 1].heap_bytes));
}
