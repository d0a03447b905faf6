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
#include "json_common.h"
#include "render_memory.h"
#include "render_common.h"

#define JSON_FORMAT_VERSION 1





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
        err |= json_str(f, "function", loc->function);
        err |= json_str(f, "raw_name", loc->raw_name);
        err |= json_str(f, "file", loc->file);
        err |= json_num(f, "line", loc->line > 0 ? loc->line : 0);
        err |= json_str(f, "module", module);
        err |= json_num(f, "offset", (double)loc->module_offset);
        err |= json_str(f, "address", addr);
        err |= json_bool(f, "inlined", loc->inlined);
    } else {
        /* The resolver had nothing for this address: keep the address. */
        err |= json_str(f, "function", NULL);
        err |= json_str(f, "raw_name", NULL);
        err |= json_str(f, "file", NULL);
        err |= json_num(f, "line", 0);
        err |= json_str(f, "module", NULL);
        err |= json_num(f, "offset", 0);
        err |= json_str(f, "address", addr);
        err |= json_bool(f, "inlined", 0);
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
            rc = json_append(arr, location_new(NULL, f->address));
            if (rc < 0)
                goto fail;
        }
        for (j = 0; j < f->n; j++) {
            rc = json_append(arr, location_new(&f->locs[j], f->locs[j].address));
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
        err |= json_str(u, "unit", o->unit != NULL ? o->unit : "unit");
        err |= json_num(u, "work", o->work);
        err |= json_num(u, "allocations", (double)allocations / o->work);
        err |= json_num(u, "bytes_allocated", (double)bytes / o->work);
        err |= json_num(u, "frees", (double)frees / o->work);
        err |= json_num(u, "temporary_allocations", (double)temporary / o->work);
        err |= json_num(u, "peak_heap_bytes", (double)peak / o->work);
        err |= json_num(u, "leaked_bytes", (double)leaked / o->work);
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
        int err = json_append(arr, p);
        if (err < 0)
            return err;
        err |= json_str(p, "name", ph->name);
        err |= json_num(p, "marks", (double)ph->marks);
        err |= json_num(p, "start_ns", (double)ph->start_ns);
        err |= json_num(p, "duration_ns", (double)ph->duration_ns);
        err |= json_num(p, "allocations", (double)ph->allocations);
        err |= json_num(p, "frees", (double)ph->frees);
        err |= json_num(p, "bytes_allocated", (double)ph->bytes_allocated);
        err |= json_num(p, "bytes_freed", (double)ph->bytes_freed);
        err |= json_num(p, "temporary_allocations", (double)ph->temporary);
        err |= json_num(p, "failed_allocations", (double)ph->failed);
        err |= json_num(p, "reallocs", (double)ph->reallocs);
        err |= json_num(p, "heap_bytes_at_start", (double)ph->heap_bytes_at_start);
        err |= json_num(p, "peak_heap_bytes", (double)ph->peak_heap_bytes);
        err |= json_num(p, "peak_time_ns", (double)ph->peak_time_ns);
        err |= json_num(p, "peak_blocks", (double)ph->peak_blocks);
        err |= json_num(p, "live_at_end_bytes", (double)ph->live_bytes);
        err |= json_num(p, "live_at_end_blocks", (double)ph->live_blocks);
        err |= json_num(p, "allocation_rate_per_s", rc_rate_per_s(ph->allocations, ph->duration_ns));
        err |= json_num(p, "bytes_rate_per_s", rc_rate_per_s(ph->bytes_allocated, ph->duration_ns));
        if (err == 0)
            err = add_per_unit(p, o, ph->allocations, ph->bytes_allocated, ph->frees,
                               ph->temporary, ph->peak_heap_bytes, ph->live_bytes);
        cJSON *top = err == 0 ? cJSON_AddArrayToObject(p, "top_sites") : NULL;
        if (top == NULL)
            return -ENOMEM;
        for (uint64_t k = 0; k < ph->n_top; k++) {
            cJSON *s = cJSON_CreateObject();
            err = json_append(top, s);
            if (err < 0)
                return err;
            err |= json_num(s, "allocations", (double)ph->top[k].allocations);
            err |= json_num(s, "bytes", (double)ph->top[k].bytes_allocated);
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
    err |= json_num(safety, "double_frees", (double)t->double_frees);
    err |= json_num(safety, "invalid_frees", (double)t->invalid_frees);
    err |= json_num(safety, "freed_reallocs", (double)t->freed_reallocs);
    err |= json_num(safety, "invalid_reallocs", (double)t->invalid_reallocs);
    cJSON *arr = err == 0 ? cJSON_AddArrayToObject(safety, "errors") : NULL;
    if (arr == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < a->n_errors; i++) {
        const struct an_error *e = &a->errors[i];
        char addr[2 + 16 + 1];
        cJSON *obj = cJSON_CreateObject();
        err = json_append(arr, obj);
        if (err < 0)
            return err;
        snprintf(addr, sizeof(addr), "0x%" PRIx64, e->address);
        err |= json_str(obj, "kind", an_error_name(e->kind));
        err |= json_str(obj, "address", addr);
        err |= json_num(obj, "time_ns", (double)e->time_ns);
        err |= json_num(obj, "thread", (double)e->thread);
        err |= json_num(obj, "size", (double)e->size);
        err |= json_num(obj, "freed_ns", (double)e->freed_ns);
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
        int err = json_append(arr, c);
        if (err < 0)
            return err;
        err |= json_num(c, "min", k == 0 ? 0 : (double)((uint64_t)1 << (k - 1)));
        if (k == AN_SIZE_CLASSES - 1)
            err |= cJSON_AddNullToObject(c, "max") != NULL ? 0 : -ENOMEM;
        else
            err |= json_num(c, "max", k == 0 ? 0 : (double)(((uint64_t)1 << k) - 1));
        err |= json_num(c, "count", (double)s->size_classes[k]);
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
        err |= json_num(obj, "bytes", (double)s->live_bytes);
        err |= json_num(obj, "blocks", (double)s->live_blocks);
        err |= json_num(obj, "allocations", (double)s->allocations);
        err |= json_num(obj, "first_ns", (double)s->leak_first_ns);
        err |= json_num(obj, "last_ns", (double)s->leak_last_ns);
        break;
    case RC_ALLOCATIONS:
    case RC_BYTES:
        err |= json_num(obj, "allocations", (double)s->allocations);
        err |= json_num(obj, "bytes", (double)s->bytes_allocated);
        err |= json_num(obj, "temporary", (double)s->temporary);
        err |= json_num(obj, "peak_bytes", (double)s->peak_bytes);
        err |= json_num(obj, "leaked_bytes", (double)s->live_bytes);
        err |= json_num(obj, "min_size", (double)s->min_size);
        err |= json_num(obj, "max_size", (double)s->max_size);
        err |= json_num(obj, "max_live_blocks", (double)s->max_live_blocks);
        err |= json_num(obj, "max_live_bytes", (double)s->max_live_bytes);
        err |= json_num(obj, "slack_bytes", (double)s->slack_bytes);
        err |= json_num(obj, "reallocs", (double)s->reallocs);
        err |= json_num(obj, "realloc_grows", (double)s->realloc_grows);
        err |= json_num(obj, "realloc_moves", (double)s->realloc_moves);
        err |= json_num(obj, "realloc_copied_bytes", (double)s->realloc_copied);
        err |= json_num(obj, "chains", (double)s->chains);
        err |= json_num(obj, "chain_reallocs", (double)s->chain_reallocs);
        err |= json_num(obj, "chain_longest", (double)s->chain_longest);
        err |= json_num(obj, "chain_final_bytes", (double)s->chain_final_bytes);
        err |= json_num(obj, "manual_grows", (double)s->manual_grows);
        err |= json_num(obj, "manual_copied_bytes", (double)s->manual_copied);
        err |= json_num(obj, "content_hashed", (double)s->content_hashed);
        err |= json_num(obj, "content_duplicates", (double)s->content_duplicates);
        err |= json_num(obj, "content_distinct", (double)s->content_distinct);
        err |= json_bool(obj, "content_capped", s->content_capped);
        err |= add_histogram(obj, s);
        break;
    case RC_PEAK:
        err |= json_num(obj, "bytes", (double)s->peak_bytes);
        err |= json_num(obj, "blocks", (double)s->peak_blocks);
        break;
    case RC_TEMPORARY:
        err |= json_num(obj, "temporary", (double)s->temporary);
        err |= json_num(obj, "allocations", (double)s->allocations);
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

        rc = json_append(arr, obj);
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

    if (safety == NULL || arr == NULL || json_str(safety, "status", fd_safety_status(a)) < 0 ||
        json_num(safety, "unmatched_frees", (double)a->totals.unmatched_frees) < 0)
        return -ENOMEM;
    int rc = add_errors(safety, a, src, o);
    if (rc < 0)
        return rc;
    rc = fd_collect(a, &f, &n);
    for (size_t i = 0; i < n && rc == 0; i++) {
        cJSON *obj = cJSON_CreateObject();
        rc = json_append(arr, obj);
        if (rc < 0)
            break;
        int err = 0;
        err |= json_str(obj, "kind", fd_kind_name(f[i].kind));
        err |= json_str(obj, "priority", fd_priority_name(f[i].priority));
        err |= json_num(obj, "impact_pct", f[i].impact_pct);
        err |= json_num(obj, "saved_allocations", (double)f[i].saved_allocs);
        err |= json_num(obj, "saved_bytes", (double)f[i].saved_bytes);
        fd_describe(&f[i], text, sizeof(text));
        err |= json_str(obj, "description", text);
        fd_advice(&f[i], text, sizeof(text));
        err |= json_str(obj, "advice", text);
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
    if (json_num(root, "format_version", JSON_FORMAT_VERSION) < 0)
        goto fail;
    rc = json_add_process(root, a, &src->process);
    if (rc < 0)
        goto fail;
    rc = json_add_summary(root, a, NULL);
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
    if (json_num(peak, "bytes", (double)a->totals.peak_heap_bytes) < 0 ||
        json_num(peak, "time_ns", (double)a->totals.peak_time_ns) < 0)
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
