/* profile.c — write and read the self-contained profile (see profile.h and
 * docs/profile-format.md).
 *
 * Written by `memaudit symbolize` and `memaudit run`, read by `memaudit
 * report`. The fields of struct an_totals and struct an_site are described
 * once, in the tables below, and both directions walk the tables; a unit test
 * checks that the tables cover every byte of both structs, so that a field
 * added to the analysis cannot silently miss the profile.
 *
 * Invariants:
 * - a report rendered from the profile equals the one rendered from its trace:
 *   sites keep the order of their stack ids (ties in rankings go by id), and
 *   every recorded frame of every used site is stored, unfolded;
 * - size grows with distinct stacks and frames, never with events: frames are
 *   shared through one table, zeros are left out;
 * - integers are exact: above 2^53 (what a JSON number holds exactly) they are
 *   written as decimal strings;
 * - the reader trusts nothing: types, ranges and frame ids are checked, the
 *   file size is capped (PROF_MAX_BYTES), and cJSON limits nesting. */
#include "profile.h"

#include "json_writer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>

/* Locations in one recorded frame (an inline chain): the symbolizer's cap. */
#define PROF_MAX_CHAIN 64u
/* Recorded frames per stack: the trace format's cap. */
#define PROF_MAX_DEPTH TR_MAX_FRAMES
#define EXACT_MAX 9007199254740992.0 /* 2^53 */

/* ---- the field tables ---- */

enum fkind { FK_U64, FK_UINT, FK_INT, FK_SIZE, FK_DOUBLE };

struct field {
    const char *key; /* JSON key: the struct member's name */
    size_t off, size;
    enum fkind kind;
    size_t count; /* > 1: an array */
};

#define FT(name, kind) {#name, offsetof(struct an_totals, name), sizeof(uint64_t), kind, 1}
static const struct field totals_fields[] = {
    FT(allocations, FK_U64),
    FT(frees, FK_U64),
    FT(bytes_allocated, FK_U64),
    FT(peak_heap_bytes, FK_U64),
    FT(peak_time_ns, FK_U64),
    FT(peak_blocks, FK_U64),
    FT(leaked_bytes, FK_U64),
    FT(leaked_blocks, FK_U64),
    FT(runtime_held_bytes, FK_U64),
    FT(runtime_held_blocks, FK_U64),
    FT(temporary_allocations, FK_U64),
    FT(failed_allocations, FK_U64),
    FT(reallocs, FK_U64),
    FT(unmatched_frees, FK_U64),
    FT(double_frees, FK_U64),
    FT(invalid_frees, FK_U64),
    FT(freed_reallocs, FK_U64),
    FT(invalid_reallocs, FK_U64),
    FT(content_hashing, FK_U64),
    FT(content_hashed, FK_U64),
    FT(content_duplicates, FK_U64),
    FT(inherited_frees, FK_U64),
    FT(sampling_bytes, FK_U64),
    FT(unsampled_frees, FK_U64),
    FT(slack_bytes, FK_U64),
    FT(peak_slack_bytes, FK_U64),
    FT(duration_ns, FK_U64),
    FT(threads, FK_U64),
};
#undef FT

#define FS(name) {#name, offsetof(struct an_site, name), sizeof(uint64_t), FK_U64, 1}
static const struct field site_fields[] = {
    FS(allocations),
    FS(bytes_allocated),
    FS(frees),
    FS(temporary),
    FS(failed),
    FS(reallocs),
    FS(min_size),
    FS(max_size),
    FS(live_bytes),
    FS(live_blocks),
    FS(peak_bytes),
    FS(peak_blocks),
    FS(max_live_bytes),
    FS(max_live_blocks),
    FS(slack_bytes),
    {"size_classes", offsetof(struct an_site, size_classes), sizeof(uint64_t), FK_U64,
     AN_SIZE_CLASSES},
    FS(realloc_grows),
    FS(realloc_moves),
    FS(realloc_copied),
    FS(chains),
    FS(chain_reallocs),
    FS(chain_longest),
    FS(chain_final_bytes),
    FS(manual_grows),
    FS(manual_copied),
    FS(leak_first_ns),
    FS(leak_last_ns),
    {"leak_seen", offsetof(struct an_site, leak_seen), sizeof(int), FK_INT, 1},
    {"leak_grows", offsetof(struct an_site, leak_grows), sizeof(int), FK_INT, 1},
    {"content_capped", offsetof(struct an_site, content_capped), sizeof(int), FK_INT, 1},
    FS(content_hashed),
    FS(content_duplicates),
    FS(content_duplicate_bytes),
    FS(content_distinct),
    FS(error_refs),
    {"runtime", offsetof(struct an_site, runtime), sizeof(int), FK_INT, 1},
};
/* Not in the profile: the stack field (the profile writes the site's index
 * as "id", and a reader numbers its sites densely in that order), the
 * replay's own bookkeeping, and suppression (a report applies
 * its --suppressions to the figures recorded, suppress.c). */
static const struct field site_skipped[] = {
    {"stack", offsetof(struct an_site, stack), sizeof(uint32_t), FK_UINT, 1},
    {"suppressed", offsetof(struct an_site, suppressed), sizeof(int), FK_INT, 1},
    FS(last_touch),
    FS(saved_bytes),
    FS(saved_blocks),
    FS(leak_first_no),
    FS(leak_last_no),
};
#undef FS

#define FM(type, name, kind, ctype) {#name, offsetof(struct type, name), sizeof(ctype), kind, 1}
static const struct field sample_fields[] = {
    FM(an_sample, time_ns, FK_U64, uint64_t),
    FM(an_sample, heap_bytes, FK_U64, uint64_t),
    FM(an_sample, heap_blocks, FK_U64, uint64_t),
    FM(an_sample, rss_bytes, FK_U64, uint64_t),
    FM(an_sample, has_allocator, FK_INT, int),
    FM(an_sample, allocator_heap_bytes, FK_U64, uint64_t),
    FM(an_sample, allocator_in_use_bytes, FK_U64, uint64_t),
    FM(an_sample, allocator_free_bytes, FK_U64, uint64_t),
    FM(an_sample, allocator_releasable_bytes, FK_U64, uint64_t),
    FM(an_sample, fragmentation, FK_DOUBLE, double),
};
static const struct field memory_fields[] = {
    FM(an_memory, peak_rss_bytes, FK_U64, uint64_t),
    FM(an_memory, peak_rss_time_ns, FK_U64, uint64_t),
    FM(an_memory, peak_rss_sample, FK_SIZE, size_t),
    FM(an_memory, has_fragmentation, FK_INT, int),
    FM(an_memory, fragmentation_at_peak_rss, FK_DOUBLE, double),
};
/* A phase: these, plus "name" and "top" written by hand (phase_skipped). */
static const struct field phase_fields[] = {
    FM(an_phase, marks, FK_U64, uint64_t),
    FM(an_phase, start_ns, FK_U64, uint64_t),
    FM(an_phase, duration_ns, FK_U64, uint64_t),
    FM(an_phase, allocations, FK_U64, uint64_t),
    FM(an_phase, bytes_allocated, FK_U64, uint64_t),
    FM(an_phase, frees, FK_U64, uint64_t),
    FM(an_phase, bytes_freed, FK_U64, uint64_t),
    FM(an_phase, temporary, FK_U64, uint64_t),
    FM(an_phase, failed, FK_U64, uint64_t),
    FM(an_phase, reallocs, FK_U64, uint64_t),
    FM(an_phase, heap_bytes_at_start, FK_U64, uint64_t),
    FM(an_phase, peak_heap_bytes, FK_U64, uint64_t),
    FM(an_phase, peak_time_ns, FK_U64, uint64_t),
    FM(an_phase, peak_blocks, FK_U64, uint64_t),
    FM(an_phase, live_bytes, FK_U64, uint64_t),
    FM(an_phase, live_blocks, FK_U64, uint64_t),
};
static const struct field phase_skipped[] = {
    {"name", offsetof(struct an_phase, name), 1, FK_UINT, TR_MAX_PHASE_NAME + 1},
    FM(an_phase, n_top, FK_U64, uint64_t),
    {"top", offsetof(struct an_phase, top), sizeof(struct an_phase_site), FK_U64, AN_PHASE_TOP},
};
static const struct field phase_site_fields[] = {
    FM(an_phase_site, stack, FK_UINT, uint32_t),
    FM(an_phase_site, allocations, FK_U64, uint64_t),
    FM(an_phase_site, bytes_allocated, FK_U64, uint64_t),
};
static const struct field span_fields[] = {
    FM(an_phase_span, start_ns, FK_U64, uint64_t),
    FM(an_phase_span, end_ns, FK_U64, uint64_t),
    FM(an_phase_span, phase, FK_U64, uint64_t),
};
static const struct field error_fields[] = {
    FM(an_error, kind, FK_U64, uint64_t),
    FM(an_error, address, FK_U64, uint64_t),
    FM(an_error, time_ns, FK_U64, uint64_t),
    FM(an_error, thread, FK_U64, uint64_t),
    FM(an_error, size, FK_U64, uint64_t),
    FM(an_error, freed_ns, FK_U64, uint64_t),
    FM(an_error, alloc_stack, FK_UINT, uint32_t),
    FM(an_error, free_stack, FK_UINT, uint32_t),
    FM(an_error, call_stack, FK_UINT, uint32_t),
};
static const struct field error_skipped[] = {
    FM(an_error, pad_, FK_UINT, uint32_t),
};
#undef FM

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static double field_get_double(const void *base, const struct field *f)
{
    double d;
    memcpy(&d, (const char *)base + f->off, sizeof d);
    return d;
}

static uint64_t field_get(const void *base, const struct field *f, size_t i)
{
    const char *p = (const char *)base + f->off + i * f->size;
    uint64_t u;
    unsigned w;
    int s;
    size_t z;
    switch (f->kind) {
    case FK_U64:
        memcpy(&u, p, sizeof u);
        return u;
    case FK_SIZE:
        memcpy(&z, p, sizeof z);
        return z;
    case FK_DOUBLE:
        return 0; /* see field_get_double */
    case FK_UINT:
        memcpy(&w, p, sizeof w);
        return w;
    case FK_INT:
        memcpy(&s, p, sizeof s);
        return s < 0 ? 0 : (uint64_t)s; /* flags, never negative */
    }
    return 0;
}

/* Store v; 0, or -ERANGE when it does not fit the member. */
static int field_set(void *base, const struct field *f, size_t i, uint64_t v)
{
    char *p = (char *)base + f->off + i * f->size;
    unsigned w;
    int s;
    size_t z;
    switch (f->kind) {
    case FK_U64:
        memcpy(p, &v, sizeof v);
        return 0;
    case FK_SIZE:
        if (v > SIZE_MAX)
            return -ERANGE;
        z = (size_t)v;
        memcpy(p, &z, sizeof z);
        return 0;
    case FK_DOUBLE:
        return -ERANGE; /* see parse_fields */
    case FK_UINT:
        if (v > UINT_MAX)
            return -ERANGE;
        w = (unsigned)v;
        memcpy(p, &w, sizeof w);
        return 0;
    case FK_INT:
        if (v > INT_MAX)
            return -ERANGE;
        s = (int)v;
        memcpy(p, &s, sizeof s);
        return 0;
    }
    return -ERANGE;
}

/* First byte of a struct of size bytes not covered by the tables, or -1.
 * A gap counts as padding only if it ends at the next 8-byte boundary. */
static long unlisted_byte(size_t size, const struct field *a, size_t na, const struct field *b,
                          size_t nb)
{
    for (size_t pos = 0; pos < size;) {
        size_t next = SIZE_MAX;
        for (size_t i = 0; i < na + nb; i++) {
            const struct field *f = i < na ? &a[i] : &b[i - na];
            size_t end = f->off + f->size * f->count;
            if (f->off <= pos && pos < end) {
                next = end;
                break;
            }
        }
        if (next != SIZE_MAX) {
            pos = next;
            continue;
        }
        size_t pad_end = (pos + 7) & ~(size_t)7;
        int covered_after = pad_end >= size;
        for (size_t i = 0; i < na + nb && !covered_after; i++) {
            const struct field *f = i < na ? &a[i] : &b[i - na];
            if (f->off == pad_end)
                covered_after = 1;
        }
        if (pad_end == pos || !covered_after)
            return (long)pos;
        pos = pad_end;
    }
    return -1;
}

long prof_unlisted_site_byte(void)
{
    return unlisted_byte(sizeof(struct an_site), site_fields, N_OF(site_fields), site_skipped,
                         N_OF(site_skipped));
}

long prof_unlisted_totals_byte(void)
{
    return unlisted_byte(sizeof(struct an_totals), totals_fields, N_OF(totals_fields), NULL, 0);
}

long prof_unlisted_sample_byte(void)
{
    return unlisted_byte(sizeof(struct an_sample), sample_fields, N_OF(sample_fields), NULL, 0);
}

long prof_unlisted_memory_byte(void)
{
    return unlisted_byte(sizeof(struct an_memory), memory_fields, N_OF(memory_fields), NULL, 0);
}

long prof_unlisted_phase_byte(void)
{
    long b = unlisted_byte(sizeof(struct an_phase), phase_fields, N_OF(phase_fields),
                           phase_skipped, N_OF(phase_skipped));
    if (b >= 0)
        return b;
    b = unlisted_byte(sizeof(struct an_phase_site), phase_site_fields, N_OF(phase_site_fields),
                      NULL, 0);
    if (b >= 0)
        return 100000 + b; /* struct an_phase_site */
    b = unlisted_byte(sizeof(struct an_phase_span), span_fields, N_OF(span_fields), NULL, 0);
    return b >= 0 ? 200000 + b : -1; /* struct an_phase_span */
}

long prof_unlisted_error_byte(void)
{
    return unlisted_byte(sizeof(struct an_error), error_fields, N_OF(error_fields), error_skipped,
                         N_OF(error_skipped));
}

/* ---- writing ---- */

struct wframe {
    struct sym_location loc;
    uint64_t hash;
};

/* Module paths' hashes, remembered by the path's address (a module's frames
 * share one string): direct-mapped, MODULE_MEMO a power of two. */
#define MODULE_MEMO 64

struct writer {
    struct jw frames; /* the elements of "frames", in id order */
    struct wframe *v;
    size_t n, cap;
    uint32_t *slots; /* hash table of frame ids + 1, 0 = empty */
    size_t slots_cap;
    const char *memo_path[MODULE_MEMO];
    uint64_t memo_hash[MODULE_MEMO];
};

/* The hash of a module's path (FNV-1a), computed once per string. */
static uint64_t module_hash(struct writer *w, const char *path)
{
    if (path == NULL)
        return 0;
    size_t k = ((uintptr_t)path >> 4) & (MODULE_MEMO - 1);
    if (w->memo_path[k] != path) {
        uint64_t h = 0xcbf29ce484222325ull;
        for (const char *c = path; *c != '\0'; c++)
            h = (h ^ (uint8_t)*c) * 0x100000001b3ull;
        w->memo_path[k] = path;
        w->memo_hash[k] = h;
    }
    return w->memo_hash[k];
}

/* The frame table's hash: a location's numbers and its module's path.
 * Equal locations have equal numbers and paths, so it agrees with loc_eq,
 * which compares the strings (by pointer first). Hashing every string, a
 * few hundred bytes for every recorded frame of every site, was half the
 * time spent writing python3's profile; the path's hash is remembered by
 * its address instead (module_hash()). Without the path, the frames of
 * many copies of one plugin loaded from different paths at one address
 * all collided (15000 of them: symbolize 2.55 s -> 2.95 s, growing with
 * the square of their number). Locations that share the numbers and the
 * module otherwise are few: the levels of one inline chain, and those
 * differ in line. */
static uint64_t loc_hash(struct writer *w, const struct sym_location *l)
{
    uint64_t line = (uint64_t)(int64_t)l->line << 1 | (l->inlined != 0);
    uint64_t h = l->address * 0x9e3779b97f4a7c15ull ^ line * 0xbf58476d1ce4e5b9ull ^
                 l->module_offset * 0x94d049bb133111ebull ^ module_hash(w, l->module);
    return h ^ h >> 32; /* (the table takes the low bits) */
}

static int str_eq(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int loc_eq(const struct sym_location *a, const struct sym_location *b)
{
    return str_eq(a->function, b->function) && str_eq(a->raw_name, b->raw_name) &&
           str_eq(a->file, b->file) && str_eq(a->module, b->module) && a->line == b->line &&
           a->module_offset == b->module_offset && a->address == b->address &&
           (a->inlined != 0) == (b->inlined != 0);
}

/* Unknown strings and zeros are left out: absent means null or 0. Integers
 * are exact (jw_u64: a number up to 2^53, a decimal string above). */
static void put_str_opt(struct jw *j, const char *key, const char *s)
{
    if (s != NULL)
        jw_str(j, key, s);
}

static void put_u64_opt(struct jw *j, const char *key, uint64_t v)
{
    if (v != 0)
        jw_u64(j, key, v);
}

static void put_frame(struct jw *j, const struct sym_location *l)
{
    jw_open(j, NULL, '{');
    put_str_opt(j, "function", l->function);
    put_str_opt(j, "raw_name", l->raw_name);
    put_str_opt(j, "file", l->file);
    put_u64_opt(j, "line", l->line > 0 ? (uint64_t)l->line : 0);
    put_str_opt(j, "module", l->module);
    put_u64_opt(j, "offset", l->module_offset);
    jw_u64(j, "address", l->address);
    if (l->inlined)
        jw_raw(j, "inlined", "true");
    jw_close(j, '}');
}

/* The id of l in the frame table, adding it if new; -ENOMEM on failure. */
static long frame_id(struct writer *w, const struct sym_location *l)
{
    if ((w->n + 1) * 2 > w->slots_cap) {
        size_t cap = w->slots_cap ? w->slots_cap * 2 : 1024;
        uint32_t *t = calloc(cap, sizeof *t);
        if (t == NULL)
            return -ENOMEM;
        for (size_t i = 0; i < w->slots_cap; i++) {
            if (w->slots[i] == 0)
                continue;
            size_t j = w->v[w->slots[i] - 1].hash & (cap - 1);
            while (t[j] != 0)
                j = (j + 1) & (cap - 1);
            t[j] = w->slots[i];
        }
        free(w->slots);
        w->slots = t;
        w->slots_cap = cap;
    }
    uint64_t h = loc_hash(w, l);
    size_t mask = w->slots_cap - 1, i = h & mask;
    for (; w->slots[i] != 0; i = (i + 1) & mask) {
        const struct wframe *f = &w->v[w->slots[i] - 1];
        if (f->hash == h && loc_eq(&f->loc, l))
            return (long)w->slots[i] - 1;
    }
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 1024;
        struct wframe *v = realloc(w->v, cap * sizeof *v);
        if (v == NULL)
            return -ENOMEM;
        w->v = v;
        w->cap = cap;
    }
    put_frame(&w->frames, l);
    w->v[w->n].loc = *l; /* strings stay owned by the source, which outlives w */
    w->v[w->n].hash = h;
    w->slots[i] = (uint32_t)++w->n;
    return (long)w->n - 1;
}

static int site_used(const struct an_site *s)
{
    for (size_t i = 0; i < N_OF(site_fields); i++)
        for (size_t k = 0; k < site_fields[i].count; k++)
            if (field_get(s, &site_fields[i], k) != 0)
                return 1;
    return 0;
}

/* The fields of base described by fields, as members, zeros left out. */
static void put_fields(struct jw *j, const void *base, const struct field *fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct field *f = &fields[i];
        if (f->kind == FK_DOUBLE) {
            /* 17 significant digits read back as the same double; cJSON's
             * own printing settles for 15 when they compare within an
             * epsilon, which loses the last bits. */
            double d = field_get_double(base, f);
            char buf[32];
            snprintf(buf, sizeof buf, "%.17g", d);
            /* (d - d == 0: finite; JSON has no NaN or infinity.) */
            if (d != 0 && d - d == 0)
                jw_raw(j, f->key, buf);
            continue;
        }
        if (f->count == 1) {
            put_u64_opt(j, f->key, field_get(base, f, 0));
            continue;
        }
        size_t used = f->count; /* trailing zeros are left out */
        while (used > 0 && field_get(base, f, used - 1) == 0)
            used--;
        if (used == 0)
            continue;
        jw_open(j, f->key, '[');
        for (size_t k = 0; k < used; k++)
            jw_u64(j, NULL, field_get(base, f, k));
        jw_close(j, ']');
    }
}

/* An object of the fields of base (put_fields), as an element of an array. */
static void put_object(struct jw *j, const void *base, const struct field *fields, size_t n)
{
    jw_open(j, NULL, '{');
    put_fields(j, base, fields, n);
    jw_close(j, '}');
}

/* "stack": [[frame ids of recorded frame 0], [... of 1], ...], every frame.
 * 0, or -ENOMEM from the frame table. */
static int put_site_stack(struct jw *j, struct writer *w, const struct rc_source *src, uint32_t id)
{
    uint32_t depth;
    if (!src->stack_depth(src, id, &depth))
        return 0; /* unknown stack: no "stack" key */
    jw_open(j, "stack", '[');
    for (uint32_t i = 0; i < depth; i++) {
        struct rc_frame f = src->frame(src, id, i);
        jw_open(j, NULL, '[');
        /* Nothing resolved: a location with only the address, which every
         * renderer prints exactly as it prints such a frame. */
        struct sym_location bare = {.address = f.address};
        size_t n = f.n != 0 ? f.n : 1;
        for (size_t k = 0; k < n; k++) {
            long fid = frame_id(w, f.n != 0 ? &f.locs[k] : &bare);
            if (fid < 0)
                return -ENOMEM;
            jw_u64(j, NULL, (uint64_t)fid);
        }
        jw_close(j, ']');
    }
    jw_close(j, ']');
    return 0;
}

static void put_process(struct jw *j, const struct rc_process *p)
{
    jw_open(j, "process", '{');
    jw_u64(j, "pid", p->pid);
    jw_u64(j, "ppid", p->ppid);
    put_str_opt(j, "exe", p->exe[0] != '\0' ? p->exe : NULL);
    put_str_opt(j, "cmdline", p->cmdline[0] != '\0' ? p->cmdline : NULL);
    jw_raw(j, "complete", p->complete ? "true" : "false");
    jw_int(j, "exit_status", p->exit_status);
    jw_int(j, "signal", p->signal);
    jw_u64(j, "lost_events", p->lost_events);
    jw_u64(j, "trace_bytes", p->trace_bytes);
    jw_u64(j, "trace_bytes_read", p->trace_bytes_read);
    jw_close(j, '}');
}

/* "phases" (name, figures, "top": [[stack id, allocations, bytes]...]),
 * "phase_spans" and "errors". Stack ids are the trace's, as sites' "id". */
static void put_phases(struct jw *j, const struct analysis *a)
{
    jw_open(j, "phases", '[');
    for (size_t i = 0; i < a->n_phases; i++) {
        const struct an_phase *ph = &a->phases[i];
        jw_open(j, NULL, '{');
        jw_str(j, "name", ph->name);
        put_fields(j, ph, phase_fields, N_OF(phase_fields));
        jw_open(j, "top", '[');
        for (uint64_t k = 0; k < ph->n_top && k < AN_PHASE_TOP; k++) {
            jw_open(j, NULL, '[');
            jw_u64(j, NULL, ph->top[k].stack);
            jw_u64(j, NULL, ph->top[k].allocations);
            jw_u64(j, NULL, ph->top[k].bytes_allocated);
            jw_close(j, ']');
        }
        jw_close(j, ']');
        jw_close(j, '}');
    }
    jw_close(j, ']');
    jw_open(j, "phase_spans", '[');
    for (size_t i = 0; i < a->n_spans; i++)
        put_object(j, &a->spans[i], span_fields, N_OF(span_fields));
    jw_close(j, ']');
    jw_open(j, "errors", '[');
    for (size_t i = 0; i < a->n_errors; i++)
        put_object(j, &a->errors[i], error_fields, N_OF(error_fields));
    jw_close(j, ']');
}

int prof_write(FILE *out, const struct analysis *a, const struct rc_source *src, char *err,
               size_t errlen)
{
    return prof_write_progress(out, a, src, NULL, 0, err, errlen);
}

/* A profile compresses 5-25 times at this level, in a few ms per MiB. */
#define PROF_ZSTD_LEVEL 9

/* text[0..len) to out as one zstd frame with its checksum. 0, -ENOMEM or -EIO. */
static int write_zstd(FILE *out, const char *text, size_t len)
{
    size_t cap = ZSTD_compressBound(len);
    void *z = malloc(cap);
    ZSTD_CCtx *c = ZSTD_createCCtx();
    int rc = -ENOMEM;
    if (z != NULL && c != NULL &&
        !ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, PROF_ZSTD_LEVEL)) &&
        !ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1))) {
        size_t n = ZSTD_compress2(c, z, cap, text, len);
        rc = ZSTD_isError(n) ? -ENOMEM : fwrite(z, 1, n, out) == n ? 0 : -EIO;
    }
    ZSTD_freeCCtx(c);
    free(z);
    return rc;
}

/* The JSON is written as the analysis is walked, into buffers (json_writer.h),
 * never as a cJSON tree: a tree of a profile with many sites is millions of
 * small allocations to build, print and free. "frames" comes before "sites"
 * in the file but is filled while the sites are written, so the sites go to a
 * buffer of their own, spliced in after the frames. */
int prof_write_progress(FILE *out, const struct analysis *a, const struct rc_source *src,
                        const struct an_progress *progress, unsigned flags, char *err,
                        size_t errlen)
{
    struct writer w = {0};
    struct jw text, sites;
    int rc = -ENOMEM;

    jw_init(&text, PROF_MAX_BYTES);
    jw_init(&sites, PROF_MAX_BYTES);
    jw_init(&w.frames, PROF_MAX_BYTES);
    jw_open(&text, NULL, '{');
    jw_int(&text, "profile_format_version", PROF_FORMAT_VERSION);
    put_process(&text, &src->process);
    jw_open(&text, "totals", '{');
    put_fields(&text, &a->totals, totals_fields, N_OF(totals_fields));
    jw_close(&text, '}');
    /* The memory timeline: one object per sample, and its summary. */
    jw_open(&text, "timeline", '[');
    for (size_t i = 0; i < a->n_timeline; i++)
        put_object(&text, &a->timeline[i], sample_fields, N_OF(sample_fields));
    jw_close(&text, ']');
    jw_open(&text, "memory", '{');
    put_fields(&text, &a->memory, memory_fields, N_OF(memory_fields));
    jw_close(&text, '}');
    put_phases(&text, a);
    for (uint32_t id = 0; id < a->n_sites; id++) {
        const struct an_site *s = &a->sites[id];
        if (progress != NULL && id % PROF_PROGRESS_SITES == 0)
            progress->fn(progress->arg, id, a->n_sites);
        if (!site_used(s))
            continue;
        jw_open(&sites, NULL, '{');
        jw_u64(&sites, "id", id);
        put_fields(&sites, s, site_fields, N_OF(site_fields));
        if (put_site_stack(&sites, &w, src, s->stack) < 0)
            goto fail;
        jw_close(&sites, '}');
    }
    jw_open(&text, "frames", '[');
    jw_splice(&text, &w.frames);
    jw_close(&text, ']');
    jw_open(&text, "sites", '[');
    jw_splice(&text, &sites);
    jw_close(&text, ']');
    jw_close(&text, '}');
    jw_end_line(&text);
    rc = jw_finish(&text);
    if (rc < 0)
        goto fail;
    if (flags & PROF_ZSTD) {
        rc = write_zstd(out, text.buf, text.len);
        if (rc == 0 && fflush(out) != 0)
            rc = -EIO;
    } else {
        rc = fwrite(text.buf, 1, text.len, out) == text.len && fflush(out) == 0 ? 0 : -EIO;
    }
fail:
    if (rc == -ENOMEM)
        snprintf(err, errlen, "out of memory");
    else if (rc == -EFBIG)
        snprintf(err, errlen, "the profile would be larger than %llu MiB, the most a reader takes",
                 PROF_MAX_BYTES >> 20);
    else if (rc < 0)
        snprintf(err, errlen, "cannot write the profile: %s", strerror(-rc));
    jw_fini(&text);
    jw_fini(&sites);
    jw_fini(&w.frames);
    free(w.v);
    free(w.slots);
    return rc;
}

/* ---- reading ---- */

struct pstack {
    int known;
    uint32_t depth;
    struct rc_frame *frames; /* [depth], locs into the profile's pool */
};

struct prof_profile {
    cJSON *root; /* kept: every string handed out points into it */
    struct analysis a;
    struct rc_process process;
    struct pstack *stacks; /* [a.n_sites] */
    struct sym_location *table; /* the frame table */
    size_t n_table;
    struct rc_frame *frame_pool;
    struct sym_location *loc_pool;
    uint32_t *ids; /* [a.n_sites]: the trace's stack id of each dense site */
};

static int perr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int perr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* An exact non-negative integer: a JSON number that is one, or a string of
 * decimal digits; 0 or -EINVAL. */
static int get_u64(const cJSON *item, uint64_t *v)
{
    if (cJSON_IsNumber(item)) {
        double d = item->valuedouble;
        if (!(d >= 0 && d <= EXACT_MAX) || d != (double)(uint64_t)d)
            return -EINVAL;
        *v = (uint64_t)d;
        return 0;
    }
    if (cJSON_IsString(item) && item->valuestring != NULL) {
        const char *s = item->valuestring;
        uint64_t x = 0;
        if (*s == '\0' || strlen(s) > 20)
            return -EINVAL;
        for (; *s != '\0'; s++) {
            if (*s < '0' || *s > '9')
                return -EINVAL;
            unsigned d = (unsigned)(*s - '0');
            if (x > (UINT64_MAX - d) / 10)
                return -EINVAL;
            x = x * 10 + d;
        }
        *v = x;
        return 0;
    }
    return -EINVAL;
}

/* An optional integer member: absent is 0. */
static int get_u64_opt(const cJSON *obj, const char *key, uint64_t *v)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    *v = 0;
    return item == NULL ? 0 : get_u64(item, v);
}

/* An optional string member: absent or null is NULL. */
static int get_str_opt(const cJSON *obj, const char *key, const char **s)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    *s = NULL;
    if (item == NULL || cJSON_IsNull(item))
        return 0;
    if (!cJSON_IsString(item) || item->valuestring == NULL)
        return -EINVAL;
    *s = item->valuestring;
    return 0;
}

/* A signed int member in [lo, hi]; absent is dflt. */
static int get_int(const cJSON *obj, const char *key, int lo, int hi, int dflt, int *v)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    *v = dflt;
    if (item == NULL)
        return 0;
    if (!cJSON_IsNumber(item))
        return -EINVAL;
    double d = item->valuedouble;
    if (!(d >= lo && d <= hi) || d != (double)(int)d)
        return -EINVAL;
    *v = (int)d;
    return 0;
}

static int get_bool_opt(const cJSON *obj, const char *key, int *v)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    *v = 0;
    if (item == NULL)
        return 0;
    if (!cJSON_IsBool(item))
        return -EINVAL;
    *v = cJSON_IsTrue(item);
    return 0;
}

static int parse_fields(const cJSON *obj, void *base, const struct field *fields, size_t n,
                        const char **bad)
{
    for (size_t i = 0; i < n; i++) {
        const struct field *f = &fields[i];
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, f->key);
        uint64_t v;
        *bad = f->key;
        if (item == NULL)
            continue;
        if (f->kind == FK_DOUBLE) {
            /* strtod turns "1e999" into infinity: only finite values. */
            if (!cJSON_IsNumber(item) || !(item->valuedouble - item->valuedouble == 0))
                return -EINVAL;
            memcpy((char *)base + f->off, &item->valuedouble, sizeof(double));
            continue;
        }
        if (f->count == 1) {
            if (get_u64(item, &v) < 0 || field_set(base, f, 0, v) < 0)
                return -EINVAL;
            continue;
        }
        if (!cJSON_IsArray(item) || (size_t)cJSON_GetArraySize(item) > f->count)
            return -EINVAL;
        size_t k = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, item)
        {
            if (get_u64(e, &v) < 0 || field_set(base, f, k++, v) < 0)
                return -EINVAL;
        }
    }
    return 0;
}

static int parse_process(struct prof_profile *p, char *err, size_t errlen)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(p->root, "process");
    struct rc_process *pr = &p->process;
    uint64_t pid, ppid;
    const char *exe, *cmdline;
    int complete;

    if (!cJSON_IsObject(o))
        return perr(err, errlen, "corrupt profile: no \"process\" object");
    if (get_u64_opt(o, "pid", &pid) < 0 || pid > UINT32_MAX || get_u64_opt(o, "ppid", &ppid) < 0 ||
        ppid > UINT32_MAX || get_str_opt(o, "exe", &exe) < 0 ||
        get_str_opt(o, "cmdline", &cmdline) < 0 || get_bool_opt(o, "complete", &complete) < 0 ||
        get_int(o, "exit_status", -1, 255, -1, &pr->exit_status) < 0 ||
        get_int(o, "signal", 0, 127, 0, &pr->signal) < 0 ||
        get_u64_opt(o, "lost_events", &pr->lost_events) < 0 ||
        get_u64_opt(o, "trace_bytes", &pr->trace_bytes) < 0 ||
        get_u64_opt(o, "trace_bytes_read", &pr->trace_bytes_read) < 0)
        return perr(err, errlen, "corrupt profile: bad value in \"process\"");
    pr->pid = (uint32_t)pid;
    pr->ppid = (uint32_t)ppid;
    pr->exe = exe != NULL ? exe : "";
    pr->cmdline = cmdline != NULL ? cmdline : "";
    pr->complete = complete;
    return 0;
}

static int parse_frames(struct prof_profile *p, char *err, size_t errlen)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(p->root, "frames");
    const cJSON *f;
    size_t i = 0;

    if (!cJSON_IsArray(arr))
        return perr(err, errlen, "corrupt profile: no \"frames\" array");
    p->n_table = (size_t)cJSON_GetArraySize(arr);
    if (p->n_table > 0) {
        p->table = calloc(p->n_table, sizeof *p->table);
        if (p->table == NULL)
            return -ENOMEM;
    }
    cJSON_ArrayForEach(f, arr)
    {
        struct sym_location *l = &p->table[i];
        uint64_t line;
        if (!cJSON_IsObject(f) || get_str_opt(f, "function", &l->function) < 0 ||
            get_str_opt(f, "raw_name", &l->raw_name) < 0 || get_str_opt(f, "file", &l->file) < 0 ||
            get_u64_opt(f, "line", &line) < 0 || line > INT_MAX ||
            get_str_opt(f, "module", &l->module) < 0 ||
            get_u64_opt(f, "offset", &l->module_offset) < 0 ||
            get_u64_opt(f, "address", &l->address) < 0 || get_bool_opt(f, "inlined", &l->inlined) < 0)
            return perr(err, errlen, "corrupt profile: bad frame %zu", i);
        l->line = (int)line;
        i++;
    }
    return 0;
}

/* Check one site's "stack" and count its recorded frames and locations. */
static int stack_count(const struct prof_profile *p, const cJSON *stack, size_t *frames,
                       size_t *locs)
{
    const cJSON *group, *id;
    if (!cJSON_IsArray(stack) || cJSON_GetArraySize(stack) > (int)PROF_MAX_DEPTH)
        return -EINVAL;
    cJSON_ArrayForEach(group, stack)
    {
        int n = cJSON_IsArray(group) ? cJSON_GetArraySize(group) : 0;
        if (n < 1 || n > (int)PROF_MAX_CHAIN)
            return -EINVAL;
        cJSON_ArrayForEach(id, group)
        {
            uint64_t v;
            if (get_u64(id, &v) < 0 || v >= p->n_table)
                return -EINVAL;
        }
        *frames += 1;
        *locs += (size_t)n;
    }
    return 0;
}

/* Fill stack st from a checked "stack" array, taking room from the pools. */
static void stack_fill(struct prof_profile *p, const cJSON *stack, struct pstack *st,
                       size_t *next_frame, size_t *next_loc)
{
    const cJSON *group, *id;
    st->known = 1;
    st->depth = (uint32_t)cJSON_GetArraySize(stack);
    st->frames = p->frame_pool + *next_frame;
    *next_frame += st->depth;
    size_t k = 0;
    cJSON_ArrayForEach(group, stack)
    {
        struct rc_frame *f = &st->frames[k++];
        f->locs = p->loc_pool + *next_loc;
        f->n = 0;
        cJSON_ArrayForEach(id, group)
        {
            uint64_t v = 0;
            get_u64(id, &v); /* checked by stack_count */
            p->loc_pool[*next_loc + f->n++] = p->table[v];
        }
        *next_loc += f->n;
        f->address = f->locs[0].address;
    }
}

static int parse_sites(struct prof_profile *p, char *err, size_t errlen)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(p->root, "sites");
    const cJSON *o;
    size_t n_frames = 0, n_locs = 0, i = 0;
    uint64_t prev_id = 0;
    int have_zero = 0;

    if (!cJSON_IsArray(arr))
        return perr(err, errlen, "corrupt profile: no \"sites\" array");
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (n >= UINT32_MAX)
        return perr(err, errlen, "corrupt profile: too many sites");

    /* Pass 1: check ids and stacks, size the pools. Site 0 is the stack-less
     * site when the profile has one, and stays empty otherwise. */
    cJSON_ArrayForEach(o, arr)
    {
        uint64_t id;
        const cJSON *stack = cJSON_GetObjectItemCaseSensitive(o, "stack");
        if (!cJSON_IsObject(o) || get_u64(cJSON_GetObjectItemCaseSensitive(o, "id"), &id) < 0 ||
            id > UINT32_MAX)
            return perr(err, errlen, "corrupt profile: site %zu has no valid \"id\"", i);
        if (i > 0 && id <= prev_id)
            return perr(err, errlen, "corrupt profile: site ids not increasing at site %zu", i);
        if (id == 0)
            have_zero = 1;
        prev_id = id;
        if (stack != NULL && stack_count(p, stack, &n_frames, &n_locs) < 0)
            return perr(err, errlen, "corrupt profile: bad stack in site %zu", i);
        i++;
    }
    p->a.n_sites = (uint32_t)(n + !have_zero);
    p->a.sites = calloc(p->a.n_sites, sizeof *p->a.sites);
    p->stacks = calloc(p->a.n_sites, sizeof *p->stacks);
    p->frame_pool = calloc(n_frames ? n_frames : 1, sizeof *p->frame_pool);
    p->loc_pool = calloc(n_locs ? n_locs : 1, sizeof *p->loc_pool);
    p->ids = calloc(p->a.n_sites, sizeof *p->ids);
    if (p->a.sites == NULL || p->stacks == NULL || p->frame_pool == NULL || p->loc_pool == NULL ||
        p->ids == NULL)
        return -ENOMEM;

    /* Pass 2: fill. */
    size_t next_frame = 0, next_loc = 0;
    uint32_t dense = have_zero ? 0 : 1;
    i = 0;
    cJSON_ArrayForEach(o, arr)
    {
        struct an_site *s = &p->a.sites[dense];
        const cJSON *stack = cJSON_GetObjectItemCaseSensitive(o, "stack");
        const char *bad = "";
        s->stack = dense;
        uint64_t id = 0;
        get_u64(cJSON_GetObjectItemCaseSensitive(o, "id"), &id); /* checked in pass 1 */
        p->ids[dense] = (uint32_t)id;
        if (parse_fields(o, s, site_fields, N_OF(site_fields), &bad) < 0)
            return perr(err, errlen, "corrupt profile: bad \"%s\" in site %zu", bad, i);
        if (stack != NULL)
            stack_fill(p, stack, &p->stacks[dense], &next_frame, &next_loc);
        dense++;
        i++;
    }
    return 0;
}

/* "timeline" and "memory" (both optional: absent, no samples). Samples are
 * in time order and the peak's index is inside the timeline, as the
 * renderers rely on. */
static int parse_timeline(struct prof_profile *p, char *err, size_t errlen)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(p->root, "timeline");
    const cJSON *mem = cJSON_GetObjectItemCaseSensitive(p->root, "memory");
    const cJSON *o;
    const char *bad = "";
    size_t i = 0;

    if (arr != NULL) {
        if (!cJSON_IsArray(arr))
            return perr(err, errlen, "corrupt profile: \"timeline\" is not an array");
        size_t n = (size_t)cJSON_GetArraySize(arr);
        if (n > 0) {
            p->a.timeline = calloc(n, sizeof *p->a.timeline);
            if (p->a.timeline == NULL)
                return -ENOMEM;
        }
        cJSON_ArrayForEach(o, arr)
        {
            struct an_sample *s = &p->a.timeline[i];
            if (!cJSON_IsObject(o) ||
                parse_fields(o, s, sample_fields, N_OF(sample_fields), &bad) < 0)
                return perr(err, errlen, "corrupt profile: bad \"%s\" in sample %zu", bad, i);
            if (i > 0 && s->time_ns < s[-1].time_ns)
                return perr(err, errlen, "corrupt profile: samples out of time order at %zu", i);
            p->a.n_timeline = ++i;
        }
    }
    if (mem != NULL && (!cJSON_IsObject(mem) ||
                        parse_fields(mem, &p->a.memory, memory_fields, N_OF(memory_fields),
                                     &bad) < 0))
        return perr(err, errlen, "corrupt profile: bad \"%s\" in \"memory\"", bad);
    if (p->a.memory.peak_rss_sample >= (p->a.n_timeline ? p->a.n_timeline : 1))
        return perr(err, errlen, "corrupt profile: peak_rss_sample outside the timeline");
    return 0;
}

/* The dense site of the trace's stack id (0 when the profile has no such site). */
static uint32_t dense_id(const struct prof_profile *p, uint64_t id)
{
    size_t lo = 0, hi = p->a.n_sites;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < p->a.n_sites && p->ids[lo] == id ? (uint32_t)lo : 0;
}

/* An optional array member: absent is an empty one; *n its length, at most cap. */
static int get_array(const cJSON *root, const char *key, size_t cap, const cJSON **arr, size_t *n)
{
    *arr = cJSON_GetObjectItemCaseSensitive(root, key);
    *n = 0;
    if (*arr == NULL)
        return 0;
    if (!cJSON_IsArray(*arr) || (size_t)cJSON_GetArraySize(*arr) > cap)
        return -EINVAL;
    *n = (size_t)cJSON_GetArraySize(*arr);
    return 0;
}

/* "phases", "phase_spans", "errors" (all optional). After parse_sites. */
static int parse_phases(struct prof_profile *p, char *err, size_t errlen)
{
    const cJSON *arr, *o;
    const char *bad = "";
    size_t n, i = 0;

    if (get_array(p->root, "phases", AN_MAX_PHASES, &arr, &n) < 0)
        return perr(err, errlen, "corrupt profile: bad \"phases\"");
    if (n > 0 && (p->a.phases = calloc(n, sizeof *p->a.phases)) == NULL)
        return -ENOMEM;
    cJSON_ArrayForEach(o, arr)
    {
        struct an_phase *ph = &p->a.phases[i];
        const char *name = NULL;
        const cJSON *top = cJSON_GetObjectItemCaseSensitive(o, "top"), *t;
        if (!cJSON_IsObject(o) || get_str_opt(o, "name", &name) < 0 || name == NULL ||
            strlen(name) > TR_MAX_PHASE_NAME ||
            parse_fields(o, ph, phase_fields, N_OF(phase_fields), &bad) < 0 ||
            (top != NULL && (!cJSON_IsArray(top) || cJSON_GetArraySize(top) > AN_PHASE_TOP)))
            return perr(err, errlen, "corrupt profile: bad phase %zu", i);
        memcpy(ph->name, name, strlen(name) + 1);
        cJSON_ArrayForEach(t, top)
        {
            uint64_t v[3];
            if (!cJSON_IsArray(t) || cJSON_GetArraySize(t) != 3 ||
                get_u64(cJSON_GetArrayItem(t, 0), &v[0]) < 0 ||
                get_u64(cJSON_GetArrayItem(t, 1), &v[1]) < 0 ||
                get_u64(cJSON_GetArrayItem(t, 2), &v[2]) < 0)
                return perr(err, errlen, "corrupt profile: bad \"top\" in phase %zu", i);
            ph->top[ph->n_top++] = (struct an_phase_site){dense_id(p, v[0]), v[1], v[2]};
        }
        p->a.n_phases = ++i;
    }
    if (get_array(p->root, "phase_spans", AN_MAX_PHASE_SPANS, &arr, &n) < 0)
        return perr(err, errlen, "corrupt profile: bad \"phase_spans\"");
    if (n > 0 && (p->a.spans = calloc(n, sizeof *p->a.spans)) == NULL)
        return -ENOMEM;
    i = 0;
    cJSON_ArrayForEach(o, arr)
    {
        struct an_phase_span *sp = &p->a.spans[i];
        if (!cJSON_IsObject(o) || parse_fields(o, sp, span_fields, N_OF(span_fields), &bad) < 0 ||
            sp->phase >= p->a.n_phases || sp->end_ns < sp->start_ns)
            return perr(err, errlen, "corrupt profile: bad phase span %zu", i);
        p->a.n_spans = ++i;
    }
    if (get_array(p->root, "errors", AN_MAX_ERRORS, &arr, &n) < 0)
        return perr(err, errlen, "corrupt profile: bad \"errors\"");
    if (n > 0 && (p->a.errors = calloc(n, sizeof *p->a.errors)) == NULL)
        return -ENOMEM;
    i = 0;
    cJSON_ArrayForEach(o, arr)
    {
        struct an_error *e = &p->a.errors[i];
        if (!cJSON_IsObject(o) || parse_fields(o, e, error_fields, N_OF(error_fields), &bad) < 0 ||
            e->kind > AN_INVALID_REALLOC)
            return perr(err, errlen, "corrupt profile: bad \"%s\" in error %zu", bad, i);
        e->alloc_stack = dense_id(p, e->alloc_stack);
        e->free_stack = dense_id(p, e->free_stack);
        e->call_stack = dense_id(p, e->call_stack);
        p->a.n_errors = ++i;
    }
    return 0;
}

static uint32_t le32_of(const char *p)
{
    const unsigned char *b = (const unsigned char *)p;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* A compressed profile: exactly one zstd frame that declares its size (at
 * most PROF_MAX_BYTES) and gives that many bytes, its checksum right. *json
 * is malloc'd, NUL-terminated, *len bytes before the NUL. */
static int unzstd_profile(const char *z, size_t zlen, char **json, size_t *len, char *err,
                          size_t errlen)
{
    unsigned long long n = ZSTD_getFrameContentSize(z, zlen);
    size_t frame = ZSTD_findFrameCompressedSize(z, zlen);
    if (ZSTD_isError(frame) || frame != zlen || n == ZSTD_CONTENTSIZE_UNKNOWN ||
        n == ZSTD_CONTENTSIZE_ERROR)
        return perr(err, errlen, "corrupt compressed profile (not one whole zstd frame)");
    if (n > PROF_MAX_BYTES)
        return perr(err, errlen, "profile larger than %llu MiB", PROF_MAX_BYTES >> 20);
    *json = malloc((size_t)n + 1);
    if (*json == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    size_t got = ZSTD_decompress(*json, (size_t)n, z, zlen);
    if (ZSTD_isError(got) || got != n)
        return perr(err, errlen, "corrupt compressed profile (%s)",
                    ZSTD_isError(got) ? ZSTD_getErrorName(got) : "size differs");
    (*json)[got] = '\0';
    *len = got;
    return 0;
}

static int parse_json(const char *text, size_t len, struct prof_profile **out, char *err,
                      size_t errlen);

int prof_parse(const char *text, size_t len, struct prof_profile **out, char *err, size_t errlen)
{
    *out = NULL;
    if (len < 4 || le32_of(text) != ZSTD_MAGICNUMBER)
        return parse_json(text, len, out, err, errlen);
    char *json = NULL;
    size_t n = 0;
    int rc = unzstd_profile(text, len, &json, &n, err, errlen);
    if (rc == 0)
        rc = parse_json(json, n, out, err, errlen);
    free(json);
    return rc;
}

static int parse_json(const char *text, size_t len, struct prof_profile **out, char *err,
                      size_t errlen)
{
    struct prof_profile *p = NULL;
    const cJSON *version;
    const char *bad = "";
    int rc;

    *out = NULL;
    p = calloc(1, sizeof *p);
    if (p == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    p->root = cJSON_ParseWithLength(text, len);
    if (p->root == NULL || !cJSON_IsObject(p->root)) {
        rc = perr(err, errlen, "not a memaudit trace or profile");
        goto fail;
    }
    version = cJSON_GetObjectItemCaseSensitive(p->root, "profile_format_version");
    if (version == NULL) {
        rc = perr(err, errlen, "not a memaudit profile (no profile_format_version)");
        goto fail;
    }
    if (!cJSON_IsNumber(version) || version->valuedouble != PROF_FORMAT_VERSION) {
        rc = perr(err, errlen, "unsupported profile_format_version %.17g (this memaudit reads %d)",
                  cJSON_IsNumber(version) ? version->valuedouble : -1.0, PROF_FORMAT_VERSION);
        goto fail;
    }
    rc = parse_process(p, err, errlen);
    if (rc < 0)
        goto fail;
    const cJSON *totals = cJSON_GetObjectItemCaseSensitive(p->root, "totals");
    if (!cJSON_IsObject(totals) ||
        parse_fields(totals, &p->a.totals, totals_fields, N_OF(totals_fields), &bad) < 0) {
        rc = perr(err, errlen, "corrupt profile: bad \"totals\" (%s)", bad);
        goto fail;
    }
    rc = parse_timeline(p, err, errlen);
    if (rc < 0)
        goto fail;
    rc = parse_frames(p, err, errlen);
    if (rc < 0)
        goto fail;
    rc = parse_sites(p, err, errlen);
    if (rc < 0)
        goto fail;
    rc = parse_phases(p, err, errlen);
    if (rc < 0)
        goto fail;
    *out = p;
    return 0;

fail:
    if (rc == -ENOMEM)
        snprintf(err, errlen, "out of memory");
    prof_free(p);
    return rc;
}

int prof_read(const char *path, struct prof_profile **out, char *err, size_t errlen)
{
    char *text = NULL;
    struct stat st;
    int rc;

    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        rc = -errno;
        snprintf(err, errlen, "%s", strerror(errno));
        return rc;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = perr(err, errlen, "not a regular file");
        goto out;
    }
    if ((unsigned long long)st.st_size > PROF_MAX_BYTES) {
        rc = perr(err, errlen, "profile larger than %llu MiB", PROF_MAX_BYTES >> 20);
        goto out;
    }
    size_t size = (size_t)st.st_size;
    text = malloc(size + 1);
    if (text == NULL) {
        rc = -ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (fread(text, 1, size, f) != size) {
        rc = -EIO;
        snprintf(err, errlen, "read error");
        goto out;
    }
    text[size] = '\0';
    rc = prof_parse(text, size, out, err, errlen);
out:
    free(text);
    fclose(f);
    return rc;
}

void prof_free(struct prof_profile *p)
{
    if (p == NULL)
        return;
    free(p->a.sites);
    free(p->a.timeline);
    free(p->a.phases);
    free(p->a.spans);
    free(p->a.errors);
    free(p->ids);
    free(p->stacks);
    free(p->table);
    free(p->frame_pool);
    free(p->loc_pool);
    cJSON_Delete(p->root);
    free(p);
}

const struct analysis *prof_analysis(const struct prof_profile *p)
{
    return &p->a;
}

static int prof_stack_depth(const struct rc_source *src, uint32_t id, uint32_t *depth)
{
    const struct prof_profile *p = src->data;
    if (id >= p->a.n_sites || !p->stacks[id].known)
        return 0;
    *depth = p->stacks[id].depth;
    return 1;
}

static struct rc_frame prof_frame(const struct rc_source *src, uint32_t id, uint32_t i)
{
    const struct prof_profile *p = src->data;
    struct rc_frame none = {NULL, 0, 0};
    if (id >= p->a.n_sites || i >= p->stacks[id].depth)
        return none;
    return p->stacks[id].frames[i];
}

void prof_source(const struct prof_profile *p, struct rc_source *src)
{
    memset(src, 0, sizeof *src);
    src->process = p->process;
    src->stack_depth = prof_stack_depth;
    src->frame = prof_frame;
    src->data = p;
}

int prof_sniff(const void *head, size_t len)
{
    const unsigned char *b = head;
    if (len >= 4 && le32_of((const char *)head) == ZSTD_MAGICNUMBER)
        return 1;
    for (size_t i = 0; i < len; i++) {
        if (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r')
            continue;
        return b[i] == '{';
    }
    return 0;
}
