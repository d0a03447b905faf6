/* render_json.c — the machine-readable report (cJSON), format_version 1.
 *
 * Shape (DESIGN.md "Interfaces users rely on" lists the keys users rely on):
 *   { "format_version": 1,
 *     "process":  { pid, ppid, exe, cmdline, complete, exit_status, signal,
 *                   lost_events, threads, trace_bytes, trace_bytes_read },
 *     "summary":  { the totals of struct an_totals, plus allocation_rate_per_s
 *                   and bytes_rate_per_s },
 *     "leaks":    [ every leaking site, by bytes: bytes, blocks, allocations, stack ],
 *     "runtime_held": [ the C runtime's blocks live at exit, as leaks ],
 *     "hotspots": [ top sites by allocations ],
 *     "peak":     { bytes, time_ns, sites: [ top sites by peak_bytes ] },
 *     "temporary":[ top sites by temporary allocations ],
 *     "phases":   [ per phase: its figures and top_sites (docs/metrics.md, "Phases") ],
 *     "safety":   { status, unmatched_frees, double_frees, invalid_frees,
 *                   freed_reallocs, invalid_reallocs, errors: [ each memory error ] },
 *     "findings": [ every finding: kind, priority, impact_pct, saved_allocations,
 *                   saved_bytes, description, advice, stack ] }
 * A stack is an array of frame objects, every location of every kept frame,
 * innermost first (inlined locations before the function they sit in).
 *
 * Invariants: every number is a JSON number (exact up to 2^53); unknown
 * strings are null, never ""; any allocation failure gives -ENOMEM and no
 * partial output. */
#include "render.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "findings.h"
#include "render_memory.h"
#include "render_common.h"

#define JSON_FORMAT_VERSION 1

/* Add a number; returns 0 or -ENOMEM. Doubles hold integers exactly up to
 * 2^53, far above any byte or event count a trace can reach. */
static int add_num(cJSON *obj, const char *key, double v)
{
    return cJSON_AddNumberToObject(obj, key, v) != NULL ? 0 : -ENOMEM;
}

static int add_str(cJSON *obj, const char *key, const char *s)
{
    cJSON *item =
        s != NULL ? cJSON_AddStringToObject(obj, key, s) : cJSON_AddNullToObject(obj, key);
    return item != NULL ? 0 : -ENOMEM;
}

static int add_bool(cJSON *obj, const char *key, int v)
{
    return cJSON_AddBoolToObject(obj, key, v != 0) != NULL ? 0 : -ENOMEM;
}

/* Append item to array; on failure item is freed here. */
static int append(cJSON *array, cJSON *item)
{
    if (item == NULL)
        return -ENOMEM;
    if (!cJSON_AddItemToArray(array, item)) {
        cJSON_Delete(item);
        return -ENOMEM;
    }
    return 0;
}

static cJSON *location_new(const struct sym_location *loc, uint64_t address)
{
    cJSON *f = cJSON_CreateObject();
    char addr[2 + 16 + 1];
    int err = 0;

    if (f == NULL)
        return NULL;
    snprintf(addr, sizeof(addr), "0x%" PRIx64, address);
    if (loc != NULL) {
        const char *module = (loc->module != NULL && loc->module[0] != '\0') ? loc->module : NULL;
        err |= add_str(f, "function", loc->function);
        err |= add_str(f, "raw_name", loc->raw_name);
        err |= add_str(f, "file", loc->file);
        err |= add_num(f, "line", loc->line > 0 ? loc->line : 0);
        err |= add_str(f, "module", module);
        err |= add_num(f, "offset", (double)loc->module_offset);
        err |= add_str(f, "address", addr);
        err |= add_bool(f, "inlined", loc->inlined);
    } else {
        /* The resolver had nothing for this address: keep the address. */
        err |= add_str(f, "function", NULL);
        err |= add_str(f, "raw_name", NULL);
        err |= add_str(f, "file", NULL);
        err |= add_num(f, "line", 0);
        err |= add_str(f, "module", NULL);
        err |= add_num(f, "offset", 0);
        err |= add_str(f, "address", addr);
        err |= add_bool(f, "inlined", 0);
    }
    if (err != 0) {
        cJSON_Delete(f);
        return NULL;
    }
    return f;
}

/* Add "stack": [...] to obj for stack id. */
static int add_stack(cJSON *obj, const struct rc_source *src,
                     const struct render_opts *o, uint32_t id)
{
    struct rc_stack st = {0};
    cJSON *arr;
    size_t i, j;
    int rc;

    arr = cJSON_AddArrayToObject(obj, "stack");
    if (arr == NULL)
        return -ENOMEM;
    rc = rc_stack_resolve(src, id, o->all_frames, RC_JSON_FRAMES, &st);
    if (rc < 0)
        goto fail;
    for (i = 0; i < st.n; i++) {
        const struct rc_frame *f = &st.frames[i];

        if (f->n == 0) {
            rc = append(arr, location_new(NULL, f->address));
            if (rc < 0)
                goto fail;
        }
        for (j = 0; j < f->n; j++) {
            rc = append(arr, location_new(&f->locs[j], f->locs[j].address));
            if (rc < 0)
                goto fail;
        }
    }
    rc_stack_fini(&st);
    return 0;

fail:
    rc_stack_fini(&st);
    return rc;
}

static int add_process(cJSON *root, const struct analysis *a, const struct rc_process *pr)
{
    const char *exe = pr->exe;
    const char *cmdline = pr->cmdline;
    cJSON *p = cJSON_AddObjectToObject(root, "process");
    int err = 0;

    if (p == NULL)
        return -ENOMEM;
    err |= add_num(p, "pid", pr->pid);
    err |= add_num(p, "ppid", pr->ppid);
    err |= add_str(p, "exe", exe[0] != '\0' ? exe : NULL);
    err |= add_str(p, "cmdline", cmdline[0] != '\0' ? cmdline : NULL);
    err |= add_bool(p, "complete", pr->complete);
    err |= add_num(p, "exit_status", pr->exit_status);
    err |= add_num(p, "signal", pr->signal);
    err |= add_num(p, "lost_events", (double)pr->lost_events);
    err |= add_num(p, "threads", (double)a->totals.threads);
    err |= add_num(p, "trace_bytes", (double)pr->trace_bytes);
    err |= add_num(p, "trace_bytes_read", (double)pr->trace_bytes_read);
    return err != 0 ? -ENOMEM : 0;
}

static int add_summary(cJSON *root, const struct analysis *a)
{
    const struct an_totals *t = &a->totals;
    cJSON *s = cJSON_AddObjectToObject(root, "summary");
    int err = 0;

    if (s == NULL)
        return -ENOMEM;
    err |= add_num(s, "allocations", (double)t->allocations);
    err |= add_num(s, "frees", (double)t->frees);
    err |= add_num(s, "bytes_allocated", (double)t->bytes_allocated);
    err |= add_num(s, "peak_heap_bytes", (double)t->peak_heap_bytes);
    err |= add_num(s, "peak_time_ns", (double)t->peak_time_ns);
    err |= add_num(s, "peak_blocks", (double)t->peak_blocks);
    err |= add_num(s, "leaked_bytes", (double)t->leaked_bytes);
    err |= add_num(s, "leaked_blocks", (double)t->leaked_blocks);
    err |= add_num(s, "runtime_held_bytes", (double)t->runtime_held_bytes);
    err |= add_num(s, "runtime_held_blocks", (double)t->runtime_held_blocks);
    err |= add_num(s, "temporary_allocations", (double)t->temporary_allocations);
    err |= add_num(s, "failed_allocations", (double)t->failed_allocations);
    err |= add_num(s, "reallocs", (double)t->reallocs);
    err |= add_num(s, "unmatched_frees", (double)t->unmatched_frees);
    err |= add_num(s, "inherited_frees", (double)t->inherited_frees);
    err |= add_num(s, "slack_bytes", (double)t->slack_bytes);
    err |= add_num(s, "peak_slack_bytes", (double)t->peak_slack_bytes);
    err |= add_num(s, "duration_ns", (double)t->duration_ns);
    err |= add_num(s, "allocation_rate_per_s", rc_rate_per_s(t->allocations, t->duration_ns));
    err |= add_num(s, "bytes_rate_per_s", rc_rate_per_s(t->bytes_allocated, t->duration_ns));
    err |= add_bool(s, "content_hashing", t->content_hashing != 0);
    err |= add_num(s, "content_hashed_blocks", (double)t->content_hashed);
    err |= add_num(s, "content_duplicate_blocks", (double)t->content_duplicates);
    return err != 0 ? -ENOMEM : 0;
}

/* "per_unit": figures divided by --work (absent when not given). */
static int add_per_unit(cJSON *obj, const struct render_opts *o, uint64_t allocations,
                        uint64_t bytes, uint64_t frees, uint64_t temporary, uint64_t peak,
                        uint64_t leaked)
{
    if (o->work <= 0)
        return 0;
    cJSON *u = cJSON_AddObjectToObject(obj, "per_unit");
    int err = u == NULL;
    if (u != NULL) {
        err |= add_str(u, "unit", o->unit != NULL ? o->unit : "unit");
        err |= add_num(u, "work", o->work);
        err |= add_num(u, "allocations", (double)allocations / o->work);
        err |= add_num(u, "bytes_allocated", (double)bytes / o->work);
        err |= add_num(u, "frees", (double)frees / o->work);
        err |= add_num(u, "temporary_allocations", (double)temporary / o->work);
        err |= add_num(u, "peak_heap_bytes", (double)peak / o->work);
        err |= add_num(u, "leaked_bytes", (double)leaked / o->work);
    }
    return err != 0 ? -ENOMEM : 0;
}

/* "phases": one object per phase name, in order of first mark
 * (docs/metrics.md, "Phases"). */
static int add_phases(cJSON *root, const struct analysis *a, const struct rc_source *src,
                      const struct render_opts *o)
{
    cJSON *arr = cJSON_AddArrayToObject(root, "phases");
    if (arr == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < a->n_phases; i++) {
        const struct an_phase *ph = &a->phases[i];
        cJSON *p = cJSON_CreateObject();
        int err = append(arr, p);
        if (err < 0)
            return err;
        err |= add_str(p, "name", ph->name);
        err |= add_num(p, "marks", (double)ph->marks);
        err |= add_num(p, "start_ns", (double)ph->start_ns);
        err |= add_num(p, "duration_ns", (double)ph->duration_ns);
        err |= add_num(p, "allocations", (double)ph->allocations);
        err |= add_num(p, "frees", (double)ph->frees);
        err |= add_num(p, "bytes_allocated", (double)ph->bytes_allocated);
        err |= add_num(p, "bytes_freed", (double)ph->bytes_freed);
        err |= add_num(p, "temporary_allocations", (double)ph->temporary);
        err |= add_num(p, "failed_allocations", (double)ph->failed);
        err |= add_num(p, "reallocs", (double)ph->reallocs);
        err |= add_num(p, "heap_bytes_at_start", (double)ph->heap_bytes_at_start);
        err |= add_num(p, "peak_heap_bytes", (double)ph->peak_heap_bytes);
        err |= add_num(p, "peak_time_ns", (double)ph->peak_time_ns);
        err |= add_num(p, "peak_blocks", (double)ph->peak_blocks);
        err |= add_num(p, "live_at_end_bytes", (double)ph->live_bytes);
        err |= add_num(p, "live_at_end_blocks", (double)ph->live_blocks);
        err |= add_num(p, "allocation_rate_per_s", rc_rate_per_s(ph->allocations, ph->duration_ns));
        err |= add_num(p, "bytes_rate_per_s", rc_rate_per_s(ph->bytes_allocated, ph->duration_ns));
        if (err == 0)
            err = add_per_unit(p, o, ph->allocations, ph->bytes_allocated, ph->frees,
                               ph->temporary, ph->peak_heap_bytes, ph->live_bytes);
        cJSON *top = err == 0 ? cJSON_AddArrayToObject(p, "top_sites") : NULL;
        if (top == NULL)
            return -ENOMEM;
        for (uint64_t k = 0; k < ph->n_top; k++) {
            cJSON *s = cJSON_CreateObject();
            err = append(top, s);
            if (err < 0)
                return err;
            err |= add_num(s, "allocations", (double)ph->top[k].allocations);
            err |= add_num(s, "bytes", (double)ph->top[k].bytes_allocated);
            if (err != 0)
                return -ENOMEM;
            err = add_stack(s, src, o, ph->top[k].stack);
            if (err < 0)
                return err;
        }
    }
    return 0;
}

/* "errors" in "safety": each memory error with the stacks the trace has. */
static int add_errors(cJSON *safety, const struct analysis *a, const struct rc_source *src,
                      const struct render_opts *o)
{
    const struct an_totals *t = &a->totals;
    int err = 0;
    err |= add_num(safety, "double_frees", (double)t->double_frees);
    err |= add_num(safety, "invalid_frees", (double)t->invalid_frees);
    err |= add_num(safety, "freed_reallocs", (double)t->freed_reallocs);
    err |= add_num(safety, "invalid_reallocs", (double)t->invalid_reallocs);
    cJSON *arr = err == 0 ? cJSON_AddArrayToObject(safety, "errors") : NULL;
    if (arr == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < a->n_errors; i++) {
        const struct an_error *e = &a->errors[i];
        char addr[2 + 16 + 1];
        cJSON *obj = cJSON_CreateObject();
        err = append(arr, obj);
        if (err < 0)
            return err;
        snprintf(addr, sizeof(addr), "0x%" PRIx64, e->address);
        err |= add_str(obj, "kind", an_error_name(e->kind));
        err |= add_str(obj, "address", addr);
        err |= add_num(obj, "time_ns", (double)e->time_ns);
        err |= add_num(obj, "thread", (double)e->thread);
        err |= add_num(obj, "size", (double)e->size);
        err |= add_num(obj, "freed_ns", (double)e->freed_ns);
        if (err != 0)
            return -ENOMEM;
        /* "stack": where the block was allocated; "free_stack": where it was
         * freed before; "call_stack": the offending call. [] when unknown. */
        cJSON *holder = cJSON_CreateObject();
        if (holder == NULL)
            return -ENOMEM;
        static const char *const keys[] = {"stack", "free_stack", "call_stack"};
        uint32_t ids[] = {e->alloc_stack, e->free_stack, e->call_stack};
        for (int k = 0; k < 3 && err == 0; k++) {
            if (ids[k] == 0) {
                err = cJSON_AddArrayToObject(obj, keys[k]) != NULL ? 0 : -ENOMEM;
                continue;
            }
            err = add_stack(holder, src, o, ids[k]);
            cJSON *st = cJSON_DetachItemFromObjectCaseSensitive(holder, "stack");
            if (err == 0 && (st == NULL || !cJSON_AddItemToObject(obj, keys[k], st))) {
                cJSON_Delete(st);
                err = -ENOMEM;
            }
        }
        cJSON_Delete(holder);
        if (err < 0)
            return err;
    }
    return 0;
}

/* "size_histogram": the non-empty size classes of s, as {min, max, count}
 * (max null for the open-ended last class). */
static int add_histogram(cJSON *obj, const struct an_site *s)
{
    cJSON *arr = cJSON_AddArrayToObject(obj, "size_histogram");
    if (arr == NULL)
        return -ENOMEM;
    for (unsigned k = 0; k < AN_SIZE_CLASSES; k++) {
        if (s->size_classes[k] == 0)
            continue;
        cJSON *c = cJSON_CreateObject();
        int err = append(arr, c);
        if (err < 0)
            return err;
        err |= add_num(c, "min", k == 0 ? 0 : (double)((uint64_t)1 << (k - 1)));
        if (k == AN_SIZE_CLASSES - 1)
            err |= cJSON_AddNullToObject(c, "max") != NULL ? 0 : -ENOMEM;
        else
            err |= add_num(c, "max", k == 0 ? 0 : (double)(((uint64_t)1 << k) - 1));
        err |= add_num(c, "count", (double)s->size_classes[k]);
        if (err != 0)
            return -ENOMEM;
    }
    return 0;
}

/* The fields of one site in one list. */
static int site_fields(cJSON *obj, enum rc_key key, const struct an_site *s)
{
    int err = 0;

    switch (key) {
    case RC_LEAKED:
    case RC_RUNTIME:
        err |= add_num(obj, "bytes", (double)s->live_bytes);
        err |= add_num(obj, "blocks", (double)s->live_blocks);
        err |= add_num(obj, "allocations", (double)s->allocations);
        err |= add_num(obj, "first_ns", (double)s->leak_first_ns);
        err |= add_num(obj, "last_ns", (double)s->leak_last_ns);
        break;
    case RC_ALLOCATIONS:
    case RC_BYTES:
        err |= add_num(obj, "allocations", (double)s->allocations);
        err |= add_num(obj, "bytes", (double)s->bytes_allocated);
        err |= add_num(obj, "temporary", (double)s->temporary);
        err |= add_num(obj, "peak_bytes", (double)s->peak_bytes);
        err |= add_num(obj, "leaked_bytes", (double)s->live_bytes);
        err |= add_num(obj, "min_size", (double)s->min_size);
        err |= add_num(obj, "max_size", (double)s->max_size);
        err |= add_num(obj, "max_live_blocks", (double)s->max_live_blocks);
        err |= add_num(obj, "max_live_bytes", (double)s->max_live_bytes);
        err |= add_num(obj, "slack_bytes", (double)s->slack_bytes);
        err |= add_num(obj, "reallocs", (double)s->reallocs);
        err |= add_num(obj, "realloc_grows", (double)s->realloc_grows);
        err |= add_num(obj, "realloc_moves", (double)s->realloc_moves);
        err |= add_num(obj, "realloc_copied_bytes", (double)s->realloc_copied);
        err |= add_num(obj, "chains", (double)s->chains);
        err |= add_num(obj, "chain_reallocs", (double)s->chain_reallocs);
        err |= add_num(obj, "chain_longest", (double)s->chain_longest);
        err |= add_num(obj, "chain_final_bytes", (double)s->chain_final_bytes);
        err |= add_num(obj, "manual_grows", (double)s->manual_grows);
        err |= add_num(obj, "manual_copied_bytes", (double)s->manual_copied);
        err |= add_num(obj, "content_hashed", (double)s->content_hashed);
        err |= add_num(obj, "content_duplicates", (double)s->content_duplicates);
        err |= add_num(obj, "content_distinct", (double)s->content_distinct);
        err |= add_bool(obj, "content_capped", s->content_capped);
        err |= add_histogram(obj, s);
        break;
    case RC_PEAK:
        err |= add_num(obj, "bytes", (double)s->peak_bytes);
        err |= add_num(obj, "blocks", (double)s->peak_blocks);
        break;
    case RC_TEMPORARY:
        err |= add_num(obj, "temporary", (double)s->temporary);
        err |= add_num(obj, "allocations", (double)s->allocations);
        break;
    }
    return err != 0 ? -ENOMEM : 0;
}

/* Fill array arr with the sites ranked by key, at most limit (0 = all). */
static int add_sites(cJSON *arr, const struct analysis *a, const struct rc_source *src,
                     const struct render_opts *o, enum rc_key key, size_t limit)
{
    const struct an_site **sites = NULL;
    size_t n, i;
    int rc;

    rc = rc_rank_sites(a, key, limit, &sites, &n, NULL);
    if (rc < 0)
        goto fail;
    for (i = 0; i < n; i++) {
        cJSON *obj = cJSON_CreateObject();

        rc = append(arr, obj);
        if (rc < 0)
            goto fail;
        rc = site_fields(obj, key, sites[i]);
        if (rc < 0)
            goto fail;
        rc = add_stack(obj, src, o, sites[i]->stack);
        if (rc < 0)
            goto fail;
    }
    free(sites);
    return 0;

fail:
    free(sites);
    return rc;
}

/* "safety" and "findings". */
static int add_findings(cJSON *root, const struct analysis *a, const struct rc_source *src,
                        const struct render_opts *o)
{
    struct finding *f = NULL;
    size_t n = 0;
    char text[512];
    cJSON *safety = cJSON_AddObjectToObject(root, "safety");
    cJSON *arr = cJSON_AddArrayToObject(root, "findings");

    if (safety == NULL || arr == NULL || add_str(safety, "status", fd_safety_status(a)) < 0 ||
        add_num(safety, "unmatched_frees", (double)a->totals.unmatched_frees) < 0)
        return -ENOMEM;
    int rc = add_errors(safety, a, src, o);
    if (rc < 0)
        return rc;
    rc = fd_collect(a, &f, &n);
    for (size_t i = 0; i < n && rc == 0; i++) {
        cJSON *obj = cJSON_CreateObject();
        rc = append(arr, obj);
        if (rc < 0)
            break;
        int err = 0;
        err |= add_str(obj, "kind", fd_kind_name(f[i].kind));
        err |= add_str(obj, "priority", fd_priority_name(f[i].priority));
        err |= add_num(obj, "impact_pct", f[i].impact_pct);
        err |= add_num(obj, "saved_allocations", (double)f[i].saved_allocs);
        err |= add_num(obj, "saved_bytes", (double)f[i].saved_bytes);
        fd_describe(&f[i], text, sizeof(text));
        err |= add_str(obj, "description", text);
        fd_advice(&f[i], text, sizeof(text));
        err |= add_str(obj, "advice", text);
        rc = err != 0 ? -ENOMEM : add_stack(obj, src, o, f[i].site->stack);
    }
    free(f);
    return rc;
}

int render_json(FILE *out, const struct analysis *a, const struct rc_source *src,
                const struct render_opts *o)
{
    size_t top = o->top != 0 ? o->top : RC_DEFAULT_TOP;
    cJSON *root, *arr, *peak;
    char *text = NULL;
    int rc = -ENOMEM;

    root = cJSON_CreateObject();
    if (root == NULL)
        goto fail;
    if (add_num(root, "format_version", JSON_FORMAT_VERSION) < 0)
        goto fail;
    rc = add_process(root, a, &src->process);
    if (rc < 0)
        goto fail;
    rc = add_summary(root, a);
    if (rc < 0)
        goto fail;
    rc = rm_memory_json(root, a);
    if (rc < 0)
        goto fail;
    rc = add_per_unit(cJSON_GetObjectItemCaseSensitive(root, "summary"), o, a->totals.allocations,
                      a->totals.bytes_allocated, a->totals.frees, a->totals.temporary_allocations,
                      a->totals.peak_heap_bytes, a->totals.leaked_bytes);
    if (rc < 0)
        goto fail;
    rc = add_phases(root, a, src, o);
    if (rc < 0)
        goto fail;

    rc = -ENOMEM;
    arr = cJSON_AddArrayToObject(root, "leaks");
    if (arr == NULL)
        goto fail;
    /* Every leak, not a top N: a CI check must see a new one however small. */
    rc = add_sites(arr, a, src, o, RC_LEAKED, 0);
    if (rc < 0)
        goto fail;

    rc = -ENOMEM;
    arr = cJSON_AddArrayToObject(root, "runtime_held");
    if (arr == NULL)
        goto fail;
    rc = add_sites(arr, a, src, o, RC_RUNTIME, 0);
    if (rc < 0)
        goto fail;

    rc = -ENOMEM;
    arr = cJSON_AddArrayToObject(root, "hotspots");
    if (arr == NULL)
        goto fail;
    rc = add_sites(arr, a, src, o, RC_ALLOCATIONS, top);
    if (rc < 0)
        goto fail;

    rc = -ENOMEM;
    peak = cJSON_AddObjectToObject(root, "peak");
    if (peak == NULL)
        goto fail;
    if (add_num(peak, "bytes", (double)a->totals.peak_heap_bytes) < 0 ||
        add_num(peak, "time_ns", (double)a->totals.peak_time_ns) < 0)
        goto fail;
    arr = cJSON_AddArrayToObject(peak, "sites");
    if (arr == NULL)
        goto fail;
    rc = add_sites(arr, a, src, o, RC_PEAK, top);
    if (rc < 0)
        goto fail;

    rc = -ENOMEM;
    arr = cJSON_AddArrayToObject(root, "temporary");
    if (arr == NULL)
        goto fail;
    rc = add_sites(arr, a, src, o, RC_TEMPORARY, top);
    if (rc < 0)
        goto fail;

    rc = add_findings(root, a, src, o);
    if (rc < 0)
        goto fail;

    rc = -ENOMEM;
    text = cJSON_PrintBuffered(root, 1 << 16, 1);
    if (text == NULL)
        goto fail;
    rc = -EIO;
    if (fputs(text, out) == EOF || fputc('\n', out) == EOF || fflush(out) != 0)
        goto fail;
    cJSON_free(text);
    cJSON_Delete(root);
    return 0;

fail:
    cJSON_free(text);
    cJSON_Delete(root);
    return rc;
}
