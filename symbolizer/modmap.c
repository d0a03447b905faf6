/* modmap.c — find the module of an address in one module-map snapshot.
 *
 * Offline stage (symbolizer). A snapshot comes from a trace and is treated as
 * hostile: segments may overlap, be empty, or sit near the top of the address
 * space. The range test below is written so that base + vaddr + memsz is never
 * computed (it could wrap past 2^64); an address matches a segment when
 *     addr - base >= vaddr  and  (addr - base) - vaddr < memsz
 * with addr >= base checked first. A linear scan, O(modules x segments): the
 * symbolizer calls it once per distinct address (results are cached), and a
 * process maps tens to a few hundred modules of about four segments each.
 *
 * When segments overlap, an executable segment wins over a data one (a
 * return address is code), and among equals the first module in the snapshot
 * wins, so the answer is deterministic. */
#include "modmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "trace_format.h"

static int seg_contains(const struct mm_module *m, const struct mm_segment *g, uint64_t addr)
{
    if (addr < m->base)
        return 0;
    uint64_t rel = addr - m->base;
    return rel >= g->vaddr && rel - g->vaddr < g->memsz;
}

const struct mm_module *mm_find(const struct mm_snapshot *s, uint64_t addr)
{
    if (s == NULL || s->modules == NULL)
        return NULL;

    const struct mm_module *fallback = NULL; /* first non-exec match */
    for (uint32_t i = 0; i < s->n_modules; i++) {
        const struct mm_module *m = &s->modules[i];
        if (m->segments == NULL)
            continue;
        for (uint32_t j = 0; j < m->n_segments; j++) {
            const struct mm_segment *g = &m->segments[j];
            if (!seg_contains(m, g, addr))
                continue;
            if (g->flags & TR_SEG_EXEC)
                return m;
            if (fallback == NULL)
                fallback = m;
        }
    }
    return fallback;
}

void mm_snapshot_fini(struct mm_snapshot *s)
{
    if (s == NULL)
        return;
    if (s->modules != NULL) {
        for (uint32_t i = 0; i < s->n_modules; i++) {
            free(s->modules[i].path);
            free(s->modules[i].segments);
        }
        free(s->modules);
    }
    s->modules = NULL;
    s->n_modules = 0;
}

int mm_snapshot_copy(struct mm_snapshot *dst, const struct mm_snapshot *src)
{
    int rc;

    *dst = (struct mm_snapshot){.epoch = src->epoch, .time_ns = src->time_ns};
    if (src->n_modules == 0)
        return 0;
    if (src->modules == NULL || src->n_modules > TR_MAX_MODULES)
        return -EINVAL;
    dst->modules = calloc(src->n_modules, sizeof *dst->modules);
    if (dst->modules == NULL)
        return -ENOMEM;
    dst->n_modules = src->n_modules; /* from here on fini frees partial work */

    for (uint32_t i = 0; i < src->n_modules; i++) {
        const struct mm_module *sm = &src->modules[i];
        struct mm_module *dm = &dst->modules[i];
        if (sm->build_id_len > sizeof sm->build_id ||
            (sm->n_segments > 0 && sm->segments == NULL)) {
            rc = -EINVAL;
            goto fail;
        }
        dm->path = strdup(sm->path != NULL ? sm->path : "");
        if (dm->path == NULL) {
            rc = -ENOMEM;
            goto fail;
        }
        dm->base = sm->base;
        dm->build_id_len = sm->build_id_len;
        memcpy(dm->build_id, sm->build_id, sm->build_id_len);
        if (sm->n_segments > 0) {
            dm->segments = malloc(sm->n_segments * sizeof *dm->segments);
            if (dm->segments == NULL) {
                rc = -ENOMEM;
                goto fail;
            }
            memcpy(dm->segments, sm->segments, sm->n_segments * sizeof *dm->segments);
            dm->n_segments = sm->n_segments;
        }
    }
    return 0;

fail:
    mm_snapshot_fini(dst);
    return rc;
}
