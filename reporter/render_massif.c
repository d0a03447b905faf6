/* render_massif.c — the run in valgrind massif's output format
 * ("massif.out.PID"), which ms_print and massif-visualizer read.
 *
 * Snapshots over time: one at time 0, one per memory sample of the trace
 * (the live heap then, docs/metrics.md "Memory over time"), the peak heap at
 * its exact time as the "peak" snapshot, and the end of the run; the peak and
 * the end are detailed, with massif's inverted call tree (the allocation
 * point first, its callers below) of the bytes each call site held then. Time
 * is in milliseconds (time_unit: ms) with three decimals. memaudit counts
 * requested bytes, so mem_heap_extra_B and mem_stacks_B are 0. As massif
 * does by default, the callers holding less than 1% of the snapshot's heap
 * are summed into one "in N places, all below massif's threshold" line per
 * caller. */
#include "render.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define MASSIF_THRESHOLD_PCT 1.0

/* One call site of a detailed snapshot: its frames, innermost first, as
 * massif names them, and its bytes. */
struct msite {
    char **frames;
    size_t n;
    uint64_t bytes;
};

/* "0xADDR: function (file:line)" for one location, on one line. */
static char *frame_text(const struct sym_location *loc, uint64_t address)
{
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);

    if (m == NULL)
        return NULL;
    fprintf(m, "0x%" PRIX64 ": ", address);
    if (loc != NULL)
        rc_print_location(m, loc);
    else
        fputs("???", m);
    if (fclose(m) != 0) {
        free(text);
        return NULL;
    }
    for (char *p = text; *p != '\0'; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return text;
}

static void msites_free(struct msite *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < s[i].n; j++)
            free(s[i].frames[j]);
        free(s[i].frames);
    }
    free(s);
}

/* The sites with bytes (peak_bytes, or live_bytes at the end) and their frames. */
static int msites_collect(const struct analysis *a, const struct rc_source *src, int all_frames,
                          int at_end, struct msite **out, size_t *n_out)
{
    struct msite *s = calloc(a->n_sites ? a->n_sites : 1, sizeof(*s));
    size_t n = 0;
    int rc = s == NULL ? -ENOMEM : 0;

    for (uint32_t i = 0; i < a->n_sites && rc == 0; i++) {
        uint64_t bytes = at_end ? a->sites[i].live_bytes : a->sites[i].peak_bytes;
        struct rc_stack st = {0};
        if (bytes == 0)
            continue;
        rc = rc_stack_resolve(src, a->sites[i].stack, all_frames, 0, &st);
        size_t locs = 0;
        for (size_t f = 0; f < st.n; f++)
            locs += st.frames[f].n ? st.frames[f].n : 1;
        struct msite *m = &s[n++];
        m->bytes = bytes;
        m->frames = calloc(locs ? locs : 1, sizeof(char *));
        if (rc == 0 && m->frames == NULL)
            rc = -ENOMEM;
        for (size_t f = 0; f < st.n && rc == 0; f++) {
            const struct rc_frame *fr = &st.frames[f];
            for (size_t j = 0; j < (fr->n ? fr->n : 1) && rc == 0; j++) {
                char *t = frame_text(fr->n ? &fr->locs[j] : NULL, fr->address);
                if (t == NULL)
                    rc = -ENOMEM;
                else
                    m->frames[m->n++] = t;
            }
        }
        rc_stack_fini(&st);
    }
    if (rc < 0) {
        msites_free(s, n);
        return rc;
    }
    *out = s;
    *n_out = n;
    return 0;
}

/* Sorting the sites of one subtree by their frame at depth (*arg). */
static int cmp_frame(const void *x, const void *y, void *arg)
{
    const struct msite *a = *(struct msite *const *)x, *b = *(struct msite *const *)y;
    size_t depth = *(const size_t *)arg;
    return strcmp(a->frames[depth], b->frames[depth]);
}

struct group {
    size_t first, n; /* a run of items sharing the frame at depth */
    uint64_t bytes;
};

static int cmp_group(const void *x, const void *y)
{
    const struct group *a = x, *b = y;
    return a->bytes < b->bytes ? 1 : a->bytes > b->bytes ? -1 : (a->first > b->first) - (a->first < b->first);
}

/* Write the node for items[0..n) (all sharing their frames above depth),
 * labelled label, and below it their callers at depth. */
static int write_node(FILE *out, struct msite **items, size_t n, size_t depth, const char *label,
                      uint64_t bytes, uint64_t total)
{
    size_t with = 0;
    int rc = 0;

    /* The items that go deeper first, then grouped by their frame there. */
    for (size_t i = 0; i < n; i++)
        if (items[i]->n > depth) {
            struct msite *t = items[with];
            items[with++] = items[i];
            items[i] = t;
        }
    if (with > 1)
        qsort_r(items, with, sizeof(*items), cmp_frame, &depth);
    struct group *g = malloc((with ? with : 1) * sizeof(*g));
    size_t ng = 0, insig = 0;
    uint64_t insig_bytes = 0;
    if (g == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < with; i++) {
        if (ng == 0 || strcmp(items[g[ng - 1].first]->frames[depth], items[i]->frames[depth]) != 0)
            g[ng++] = (struct group){i, 0, 0};
        g[ng - 1].n++;
        g[ng - 1].bytes += items[i]->bytes;
    }
    qsort(g, ng, sizeof(*g), cmp_group);
    size_t sig = 0;
    for (size_t k = 0; k < ng; k++) {
        if (total != 0 && (double)g[k].bytes * 100.0 / (double)total >= MASSIF_THRESHOLD_PCT) {
            sig++;
        } else {
            insig++;
            insig_bytes += g[k].bytes;
        }
    }
    fprintf(out, "%*sn%zu: %" PRIu64 " %s\n", (int)depth, "", sig + (insig != 0), bytes, label);
    for (size_t k = 0; k < sig && rc == 0; k++) {
        /* Sorting for this subtree reorders only its own items; groups are
         * runs of items, so their order is unaffected. */
        struct msite **sub = items + g[k].first;
        char *name = strdup(sub[0]->frames[depth]);
        if (name == NULL) {
            rc = -ENOMEM;
            break;
        }
        rc = write_node(out, sub, g[k].n, depth + 1, name, g[k].bytes, total);
        free(name);
    }
    if (rc == 0 && insig != 0)
        fprintf(out, "%*sn0: %" PRIu64 " in %zu place%s, all below massif's threshold (%.2f%%)\n",
                (int)depth + 1, "", insig_bytes, insig, insig == 1 ? "" : "s",
                MASSIF_THRESHOLD_PCT);
    free(g);
    return rc;
}

/* The bytes the sites held at the peak (or at the end): what a detailed
 * snapshot's tree adds up to. */
static uint64_t sites_bytes(const struct analysis *a, int at_end)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < a->n_sites; i++)
        sum += at_end ? a->sites[i].live_bytes : a->sites[i].peak_bytes;
    return sum;
}

static int write_tree(FILE *out, const struct analysis *a, const struct rc_source *src,
                      int all_frames, int at_end, uint64_t total)
{
    struct msite *s = NULL;
    size_t n = 0;
    int rc = msites_collect(a, src, all_frames, at_end, &s, &n);

    if (rc < 0)
        return rc;
    struct msite **items = malloc((n ? n : 1) * sizeof(*items));
    if (items == NULL) {
        msites_free(s, n);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        items[i] = &s[i];
    rc = write_node(out, items, n, 0, "(heap allocation functions) malloc/new/new[], --alloc-fns, etc.",
                    total, total);
    free(items);
    msites_free(s, n);
    return rc;
}

/* Times in milliseconds with microseconds ("12.345"): short runs would
 * otherwise put every snapshot at 0. */
static void snapshot_head(FILE *out, unsigned *num, uint64_t time_ns, uint64_t heap_bytes)
{
    fprintf(out,
            "#-----------\nsnapshot=%u\n#-----------\ntime=%" PRIu64 ".%03" PRIu64
            "\nmem_heap_B=%" PRIu64 "\nmem_heap_extra_B=0\nmem_stacks_B=0\n",
            (*num)++, time_ns / 1000000u, time_ns / 1000u % 1000u, heap_bytes);
}

int render_massif(FILE *out, const struct analysis *a, const struct rc_source *src,
                  const struct render_opts *o)
{
    const struct an_totals *t = &a->totals;
    unsigned num = 0;
    int peak_done = 0, rc = 0;
    uint64_t live_end = sites_bytes(a, 1);
    /* ms_print refuses a tree larger than its snapshot: the peak's sites add
     * up to the peak, but a trace cut short could leave them over it. */
    uint64_t peak = sites_bytes(a, 0);
    if (peak < t->peak_heap_bytes)
        peak = t->peak_heap_bytes;
    fputs("desc: memaudit (requested sizes, exact; snapshots: memory samples, the peak, the end)\n",
          out);
    fputs("cmd: ", out);
    for (const char *p = src->process.cmdline != NULL && src->process.cmdline[0] != '\0'
                             ? src->process.cmdline
                             : src->process.exe != NULL ? src->process.exe : "?";
         *p != '\0'; p++)
        fputc(*p == '\n' || *p == '\r' ? ' ' : *p, out);
    fputs("\ntime_unit: ms\n", out);
    snapshot_head(out, &num, 0, 0);
    fputs("heap_tree=empty\n", out);
    for (size_t i = 0; i <= a->n_timeline && rc == 0; i++) {
        /* The peak goes in before the first sample taken after it. */
        if (!peak_done && peak != 0 &&
            (i == a->n_timeline || a->timeline[i].time_ns > t->peak_time_ns)) {
            snapshot_head(out, &num, t->peak_time_ns, peak);
            fputs("heap_tree=peak\n", out);
            rc = write_tree(out, a, src, o->all_frames, 0, peak);
            peak_done = 1;
        }
        if (i < a->n_timeline && rc == 0) {
            snapshot_head(out, &num, a->timeline[i].time_ns, a->timeline[i].heap_bytes);
            fputs("heap_tree=empty\n", out);
        }
    }
    if (rc == 0) {
        snapshot_head(out, &num, t->duration_ns, live_end);
        fputs("heap_tree=detailed\n", out);
        rc = write_tree(out, a, src, o->all_frames, 1, live_end);
    }
    if (rc == 0 && (fflush(out) != 0 || ferror(out)))
        rc = -EIO;
    return rc;
}
