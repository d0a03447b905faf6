/* render_common.c — ranking, stack folding and formatting shared by the text
 * and JSON renderers (see render_common.h).
 *
 * Invariants: rankings are total orders (ties by stack id), so reports are
 * byte-for-byte reproducible; a stack is resolved lazily, never deeper than
 * what is folded plus what is shown; nothing here writes to the analysis. */
#include "render_common.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "trace_reader.h"

/* ---- ranking ---- */

struct rc_ranked {
    uint64_t k1, k2;
    const struct an_site *site;
};

/* A site is unused when nothing at all happened at its stack. */
static int site_used(const struct an_site *s)
{
    return s->allocations != 0 || s->frees != 0 || s->failed != 0;
}

/* Fill the sort keys of s for key; returns 1 if s takes part in the list. */
static int site_keys(const struct an_site *s, enum rc_key key, uint64_t *k1, uint64_t *k2)
{
    switch (key) {
    case RC_LEAKED:
    case RC_RUNTIME:
        *k1 = s->live_bytes;
        *k2 = s->live_blocks;
        /* Zero-byte blocks leak too: malloc(0) returns a block to free. */
        return s->live_blocks != 0 && !s->suppressed && s->runtime == (key == RC_RUNTIME);
    case RC_ALLOCATIONS:
        *k1 = s->allocations;
        *k2 = s->bytes_allocated;
        return s->allocations != 0;
    case RC_BYTES:
        *k1 = s->bytes_allocated;
        *k2 = s->allocations;
        return s->bytes_allocated != 0;
    case RC_TEMPORARY:
        *k1 = s->temporary;
        *k2 = s->allocations;
        return s->temporary != 0;
    case RC_PEAK:
        *k1 = s->peak_bytes;
        *k2 = s->peak_blocks;
        return s->peak_bytes != 0 || s->peak_blocks != 0;
    }
    return 0;
}

static int ranked_cmp(const void *pa, const void *pb)
{
    const struct rc_ranked *a = pa, *b = pb;

    if (a->k1 != b->k1)
        return a->k1 > b->k1 ? -1 : 1;
    if (a->k2 != b->k2)
        return a->k2 > b->k2 ? -1 : 1;
    /* Stack ids are unique per site: this makes the order total. */
    if (a->site->stack != b->site->stack)
        return a->site->stack < b->site->stack ? -1 : 1;
    return 0;
}

int rc_rank_sites(const struct analysis *a, enum rc_key key, size_t limit,
                  const struct an_site ***out, size_t *n, size_t *total)
{
    struct rc_ranked *ranked = NULL;
    const struct an_site **result = NULL;
    size_t count = 0, keep, i, j;
    uint64_t k1, k2;

    *out = NULL;
    *n = 0;
    if (total != NULL)
        *total = 0;
    for (i = 0; i < a->n_sites; i++) {
        if (site_used(&a->sites[i]) && site_keys(&a->sites[i], key, &k1, &k2))
            count++;
    }
    if (count == 0)
        return 0;

    ranked = malloc(count * sizeof(*ranked));
    if (ranked == NULL)
        goto fail;
    for (i = 0, j = 0; i < a->n_sites; i++) {
        const struct an_site *s = &a->sites[i];
        if (site_used(s) && site_keys(s, key, &k1, &k2)) {
            ranked[j].k1 = k1;
            ranked[j].k2 = k2;
            ranked[j].site = s;
            j++;
        }
    }
    qsort(ranked, count, sizeof(*ranked), ranked_cmp);

    keep = (limit != 0 && limit < count) ? limit : count;
    result = malloc(keep * sizeof(*result));
    if (result == NULL)
        goto fail;
    for (i = 0; i < keep; i++)
        result[i] = ranked[i].site;
    free(ranked);

    *out = result;
    *n = keep;
    if (total != NULL)
        *total = count;
    return 0;

fail:
    free(ranked);
    return -ENOMEM;
}

/* ---- folding ---- */

static int has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* The allocation entry points the recorder interposes, and glibc's internal
 * names for them (a symbol table may name malloc "__libc_malloc"). */
static const char *const plumbing_names[] = {
    "malloc",         "calloc",         "realloc",        "reallocarray", "free",
    "posix_memalign", "aligned_alloc",  "memalign",       "valloc",       "pvalloc",
    "__libc_malloc",  "__libc_calloc",  "__libc_realloc", "__libc_free",  "__libc_memalign",
    "__libc_valloc",  "__libc_pvalloc", "__rust_realloc",
};

/* Demangled prefixes of the C++ and Rust allocator layers. "std::allocator"
 * deliberately also covers std::allocator_traits. Rust names come in two
 * manglings that demangle differently: legacy "alloc::alloc::Global::alloc_impl"
 * is v0 "<alloc::alloc::Global>::alloc_impl". RawVec's growth helpers
 * (grow_one, grow_amortized, finish_grow) are folded like the allocator, so
 * that a Vec grown by push shows Vec::push; libstdc++'s std::vector growth
 * (_Vector_base::_M_allocate, _M_realloc_insert) likewise shows push_back. */
/* clang-format off */
static const char *const plumbing_prefixes[] = {
    "operator new",
    "__gnu_cxx::new_allocator",
    "std::allocator",
    "std::__new_allocator",
    "std::_Vector_base<",
    "__rust_alloc",
    "__rdl_",
    "__rg_",
    "__rustc::",
    "alloc::alloc::",
    "<alloc::alloc::",
    "alloc::raw_vec::",
    "<alloc::raw_vec::",
    "alloc::boxed::box_new_uninit",
    "<std::alloc::System",
    "std::sys::alloc::",
    "std::sys::unix::alloc::",
    "std::sys::pal::unix::alloc::",
};
/* clang-format on */

/* Demangled infixes: libstdc++'s vector growth, whose demangled name starts
 * with its return type ("void std::vector<int, ...>::_M_realloc_insert<...>"). */
static const char *const plumbing_infixes[] = {
    "::_M_realloc_insert<",
    "::_M_realloc_append<",
};

/* Mangled operator new / new[] (all overloads), for when demangling failed. */
static const char *const plumbing_raw_prefixes[] = {
    "_Znw",
    "_Zna",
};

int rc_is_plumbing(const struct sym_location *loc)
{
    const char *name = loc->function;
    size_t i;

    if (loc->module != NULL && has_suffix(loc->module, "/libaudit.so"))
        return 1;
    if (name == NULL)
        name = loc->raw_name;
    if (name == NULL)
        return 0;
    for (i = 0; i < sizeof(plumbing_names) / sizeof(plumbing_names[0]); i++) {
        if (strcmp(name, plumbing_names[i]) == 0)
            return 1;
    }
    for (i = 0; i < sizeof(plumbing_prefixes) / sizeof(plumbing_prefixes[0]); i++) {
        if (has_prefix(name, plumbing_prefixes[i]))
            return 1;
    }
    for (i = 0; i < sizeof(plumbing_infixes) / sizeof(plumbing_infixes[0]); i++) {
        if (strstr(name, plumbing_infixes[i]) != NULL)
            return 1;
    }
    if (loc->raw_name != NULL) {
        for (i = 0; i < sizeof(plumbing_raw_prefixes) / sizeof(plumbing_raw_prefixes[0]); i++) {
            if (has_prefix(loc->raw_name, plumbing_raw_prefixes[i]))
                return 1;
        }
    }
    return 0;
}

/* ---- the trace backend of struct rc_source ---- */

static int trace_stack_depth(const struct rc_source *src, uint32_t id, uint32_t *depth)
{
    const struct trd_stack *st = trd_stack(src->data, id);

    if (st == NULL)
        return 0;
    *depth = st->depth;
    return 1;
}

static struct rc_frame trace_frame(const struct rc_source *src, uint32_t id, uint32_t i)
{
    const struct trd_stack *st = trd_stack(src->data, id);
    struct rc_frame f = {NULL, 0, 0};

    if (st == NULL || i >= st->depth)
        return f;
    f.address = st->frames[i];
    f.n = sym_resolve(src->aux, st->epoch, f.address, &f.locs);
    if (f.n == 0)
        f.locs = NULL;
    return f;
}

void rc_source_from_trace(struct rc_source *src, const struct trd_trace *t,
                          struct sym_resolver *sym)
{
    const struct tr_file_header *h = trd_header(t);

    memset(src, 0, sizeof(*src));
    src->process.pid = h->pid;
    src->process.ppid = h->ppid;
    src->process.exe = trd_exe(t);
    src->process.cmdline = trd_cmdline(t);
    src->process.complete = trd_complete(t);
    src->process.exit_status = trd_exit_status(t);
    src->process.signal = trd_signal(t);
    src->process.lost_events = trd_lost_events(t);
    src->process.trace_bytes = trd_file_bytes(t);
    src->process.trace_bytes_read = trd_bytes_read(t);
    src->stack_depth = trace_stack_depth;
    src->frame = trace_frame;
    src->data = t;
    src->aux = sym;
}

int rc_stack_resolve(const struct rc_source *src, uint32_t id, int all_frames, size_t limit,
                     struct rc_stack *out)
{
    struct rc_frame first = {NULL, 0, 0};
    uint32_t depth;
    size_t i = 0, kept, cap, k;

    memset(out, 0, sizeof(*out));
    if (!src->stack_depth(src, id, &depth))
        return 0;
    out->known = 1;
    out->depth = depth;
    if (depth == 0)
        return 0;

    /* Resolve only as far as the plumbing goes: the first location that is
     * the program's own ends the fold, even in the middle of a frame's
     * inline chain (std::allocator inlined into std::vector keeps vector). */
    if (!all_frames) {
        for (i = 0; i < depth; i++) {
            struct rc_frame f = src->frame(src, id, (uint32_t)i);
            size_t skip = 0;

            while (skip < f.n && rc_is_plumbing(&f.locs[skip]))
                skip++;
            if (f.n == 0 || skip < f.n) {
                first = f;
                first.locs = f.n != 0 ? f.locs + skip : NULL;
                first.n = f.n - skip;
                break;
            }
            if (i + 1 == depth) {
                /* All plumbing: an empty stack would tell the reader less. */
                first = f;
                break;
            }
        }
        out->folded = (uint32_t)i;
    }

    kept = depth - i;
    cap = (limit != 0 && limit < kept) ? limit : kept;
    out->frames = calloc(cap, sizeof(*out->frames));
    if (out->frames == NULL)
        goto fail;
    for (k = 0; k < cap; k++) {
        if (k == 0 && !all_frames)
            out->frames[k] = first;
        else
            out->frames[k] = src->frame(src, id, (uint32_t)(i + k));
    }
    out->n = cap;
    out->more = kept - cap;
    return 0;

fail:
    return -ENOMEM;
}

void rc_stack_fini(struct rc_stack *s)
{
    free(s->frames);
    memset(s, 0, sizeof(*s));
}

/* ---- formatting ---- */

const char *rc_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

char *rc_format_location(char *buf, size_t len, const struct rc_frame *f, size_t j)
{
    buf[0] = '\0';
    FILE *m = fmemopen(buf, len - 1, "w");
    if (m == NULL)
        return buf;
    if (f->n != 0)
        rc_print_location(m, &f->locs[j]);
    else
        fprintf(m, "0x%" PRIx64, f->address);
    fclose(m);
    return buf;
}

void rc_print_location(FILE *out, const struct sym_location *loc)
{
    const char *module = (loc->module != NULL && loc->module[0] != '\0') ? loc->module : NULL;
    const char *name = loc->function != NULL ? loc->function : loc->raw_name;

    if (name != NULL) {
        fputs(name, out);
        if (loc->file != NULL) {
            fprintf(out, " (%s", loc->file);
            if (loc->line > 0)
                fprintf(out, ":%d", loc->line);
            fputc(')', out);
        } else if (module != NULL) {
            fprintf(out, " (%s+0x%" PRIx64 ")", rc_basename(module), loc->module_offset);
        } else {
            fprintf(out, " (0x%" PRIx64 ")", loc->address);
        }
        return;
    }
    if (module != NULL)
        fprintf(out, "%s+0x%" PRIx64, rc_basename(module), loc->module_offset);
    else
        fprintf(out, "0x%" PRIx64, loc->address);
    /* Line tables without a function entry happen (stripped DIEs): keep them. */
    if (loc->file != NULL) {
        fprintf(out, " (%s", loc->file);
        if (loc->line > 0)
            fprintf(out, ":%d", loc->line);
        fputc(')', out);
    }
}

char *rc_format_bytes(char buf[RC_SIZE_BUF], uint64_t bytes)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)bytes;
    size_t u = 0;

    if (bytes < 1024) {
        snprintf(buf, RC_SIZE_BUF, "%" PRIu64 " B", bytes);
        return buf;
    }
    v /= 1024.0;
    /* Step up before "%.1f" would round to 1024.0 of the smaller unit. */
    while (v >= 1023.95 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, RC_SIZE_BUF, "%.1f %s", v, units[u]);
    return buf;
}

char *rc_format_seconds(char buf[RC_SIZE_BUF], uint64_t ns)
{
    /* Short runs are common in tests: keep microseconds below one second. */
    if (ns < 1000000000u)
        snprintf(buf, RC_SIZE_BUF, "0.%06" PRIu64 " s", ns / 1000u);
    else
        snprintf(buf, RC_SIZE_BUF, "%" PRIu64 ".%03" PRIu64 " s", ns / 1000000000u,
                 ns % 1000000000u / 1000000u);
    return buf;
}

double rc_rate_per_s(uint64_t count, uint64_t duration_ns)
{
    if (duration_ns == 0)
        return 0.0;
    double rate = (double)count * 1e9 / (double)duration_ns;
    /* Below 2^64, so that callers may convert it to uint64_t: a hostile trace
     * gives any count over 1 ns (found by fuzz/fuzz_trace.c). */
    return rate < RC_RATE_MAX ? rate : RC_RATE_MAX;
}
