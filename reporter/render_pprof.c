/* render_pprof.c — the run as a pprof profile: profile.proto
 * (github.com/google/pprof, proto/profile.proto), gzipped, which `go tool
 * pprof`, Pyroscope and other pprof readers open.
 *
 * One Sample per used call site, its locations innermost first, with the
 * values alloc_objects, alloc_space (every allocation), inuse_objects,
 * inuse_space (the blocks still live at exit: leaks and the C runtime's own)
 * and peak_objects, peak_space (held at the moment of the peak heap);
 * inuse_space is the default, as in Go's heap profiles. One Location per
 * recorded return address (per module and function, so that an address
 * reused by another module after a dlclose is another location), with one
 * Line per inlined function, innermost first and the real function last, as
 * profile.proto orders them. One Mapping per module, with its build id when
 * the input is a trace (a profile does not keep build ids); the frames are
 * symbolized already (has_functions ...), so readers do not look for the
 * binaries.
 *
 * The protobuf wire format is written by hand: the encoder needs varints,
 * length-delimited fields and packed varint arrays, some eighty lines, where
 * protobuf-c would add a code generator to the build and a library to the
 * dependencies for the same bytes. tests/integration/exports.sh decodes the
 * output with protoc against the real profile.proto and reads it with
 * `go tool pprof`. gzip is zlib's. */
#include "render.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "modmap.h"

/* ---- protobuf wire format ---- */

struct pb {
    uint8_t *p;
    size_t n, cap;
    int err; /* -ENOMEM once anything failed; later writes are dropped */
};

static void pb_raw(struct pb *b, const void *data, size_t len)
{
    if (b->err != 0)
        return;
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (p == NULL) {
            b->err = -ENOMEM;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (len != 0)
        memcpy(b->p + b->n, data, len);
    b->n += len;
}

static void pb_varint(struct pb *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v != 0);
    pb_raw(b, tmp, n);
}

enum { PB_VARINT = 0, PB_LEN = 2 };

/* A varint field (uint64, int64 >= 0, bool); zero is the default and left out. */
static void pb_uint(struct pb *b, unsigned field, uint64_t v)
{
    if (v == 0)
        return;
    pb_varint(b, (uint64_t)field << 3 | PB_VARINT);
    pb_varint(b, v);
}

static void pb_bytes(struct pb *b, unsigned field, const void *data, size_t len)
{
    pb_varint(b, (uint64_t)field << 3 | PB_LEN);
    pb_varint(b, len);
    pb_raw(b, data, len);
}

/* A nested message or a packed array built in sub, appended as field; sub
 * is emptied for reuse. */
static void pb_sub(struct pb *b, unsigned field, struct pb *sub)
{
    if (sub->err != 0)
        b->err = sub->err;
    pb_bytes(b, field, sub->p, sub->n);
    sub->n = 0;
}

static void pb_fini(struct pb *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* ---- interning: strings (the string table) and keys of locations,
 * functions and mappings, each numbered from 1 in order of first use ---- */

struct intern {
    char **keys; /* [n] */
    size_t n, cap;
    uint32_t *slots; /* index + 1, 0 empty */
    size_t mask;
};

static uint64_t str_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

/* The number of key (from 1), *added set when new; 0 when out of memory. */
static uint32_t intern(struct intern *t, const char *key, int *added)
{
    if (t->slots == NULL || t->n * 2 >= t->mask + 1) {
        size_t size = t->slots ? (t->mask + 1) * 2 : 1024;
        uint32_t *slots = calloc(size, sizeof(*slots));
        if (slots == NULL)
            return 0;
        for (size_t i = 0; i < t->n; i++) {
            size_t j = str_hash(t->keys[i]) & (size - 1);
            while (slots[j] != 0)
                j = (j + 1) & (size - 1);
            slots[j] = (uint32_t)i + 1;
        }
        free(t->slots);
        t->slots = slots;
        t->mask = size - 1;
    }
    size_t j = str_hash(key) & t->mask;
    for (; t->slots[j] != 0; j = (j + 1) & t->mask)
        if (strcmp(t->keys[t->slots[j] - 1], key) == 0) {
            if (added != NULL)
                *added = 0;
            return t->slots[j];
        }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        char **k = realloc(t->keys, cap * sizeof(*k));
        if (k == NULL)
            return 0;
        t->keys = k;
        t->cap = cap;
    }
    char *copy = strdup(key);
    if (copy == NULL)
        return 0;
    t->keys[t->n++] = copy;
    t->slots[j] = (uint32_t)t->n;
    if (added != NULL)
        *added = 1;
    return (uint32_t)t->n;
}

static void intern_fini(struct intern *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->keys[i]);
    free(t->keys);
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

/* ---- the profile ---- */

struct pprof {
    struct pb out;     /* the Profile message */
    struct pb sub, sub2;
    struct intern strings, functions, locations, mappings;
    const struct trd_trace *trace; /* for build ids; NULL for a profile */
};

/* Index in the string table ("" is 0, added first). */
static uint64_t str_id(struct pprof *p, const char *s)
{
    int added = 0;
    uint32_t id = intern(&p->strings, s != NULL ? s : "", &added);
    if (id == 0) {
        p->out.err = -ENOMEM;
        return 0;
    }
    if (added)
        pb_bytes(&p->sub2, 6, s != NULL ? s : "", strlen(s != NULL ? s : "")); /* string_table */
    return id - 1;
}

/* The mapping of module path (0 for none), written when first seen. */
static uint64_t mapping_id(struct pprof *p, const char *module)
{
    int added = 0;
    if (module == NULL || module[0] == '\0')
        return 0;
    uint32_t id = intern(&p->mappings, module, &added);
    if (id == 0) {
        p->out.err = -ENOMEM;
        return 0;
    }
    if (!added)
        return id;
    /* The module in the trace's first snapshot that has it: its load range
     * and build id. */
    const struct mm_module *m = NULL;
    for (size_t s = 0; p->trace != NULL && m == NULL && s < trd_snapshot_count(p->trace); s++) {
        const struct mm_snapshot *snap = trd_snapshot(p->trace, s);
        for (uint32_t i = 0; i < snap->n_modules && m == NULL; i++)
            if (strcmp(snap->modules[i].path, module) == 0)
                m = &snap->modules[i];
    }
    uint64_t start = 0, limit = 0;
    char build_id[2 * sizeof(m->build_id) + 1] = "";
    if (m != NULL) {
        for (uint32_t i = 0; i < m->n_segments; i++) {
            uint64_t lo = m->base + m->segments[i].vaddr, hi = lo + m->segments[i].memsz;
            if (i == 0 || lo < start)
                start = lo;
            if (hi > limit)
                limit = hi;
        }
        for (uint32_t i = 0; i < m->build_id_len && i < sizeof(m->build_id); i++)
            snprintf(build_id + 2 * i, 3, "%02x", m->build_id[i]);
    }
    struct pb *b = &p->sub;
    uint64_t file = str_id(p, module), bid = str_id(p, build_id);
    pb_uint(b, 1, id);
    pb_uint(b, 2, start);
    pb_uint(b, 3, limit);
    pb_uint(b, 5, file);
    pb_uint(b, 6, bid);
    pb_uint(b, 7, 1);  /* has_functions */
    pb_uint(b, 8, 1);  /* has_filenames */
    pb_uint(b, 9, 1);  /* has_line_numbers */
    pb_uint(b, 10, 1); /* has_inline_frames */
    pb_sub(&p->out, 3, b);
    return id;
}

/* The function of loc, written when first seen. */
static uint64_t function_id(struct pprof *p, const struct sym_location *loc, uint64_t address)
{
    char name[1024], key[2200];
    const char *fn = loc != NULL ? (loc->function ? loc->function : loc->raw_name) : NULL;
    const char *sys = loc != NULL && loc->raw_name != NULL ? loc->raw_name : fn;
    const char *file = loc != NULL && loc->file != NULL ? loc->file : "";
    int added = 0;

    if (fn == NULL && loc != NULL && loc->module != NULL && loc->module[0] != '\0')
        snprintf(name, sizeof(name), "%s+0x%" PRIx64, rc_basename(loc->module), loc->module_offset);
    else if (fn == NULL)
        snprintf(name, sizeof(name), "0x%" PRIx64, address);
    else
        snprintf(name, sizeof(name), "%s", fn);
    if (sys == NULL)
        sys = name;
    snprintf(key, sizeof(key), "%s\n%s\n%s", name, sys, file);
    uint32_t id = intern(&p->functions, key, &added);
    if (id == 0) {
        p->out.err = -ENOMEM;
        return 0;
    }
    if (added) {
        struct pb *b = &p->sub;
        uint64_t n = str_id(p, name), s = str_id(p, sys), f = str_id(p, file);
        pb_uint(b, 1, id);
        pb_uint(b, 2, n);
        pb_uint(b, 3, s);
        pb_uint(b, 4, f);
        pb_sub(&p->out, 5, b);
    }
    return id;
}

/* The location of recorded frame f, written when first seen. */
static uint64_t location_id(struct pprof *p, const struct rc_frame *f)
{
    const struct sym_location *outer = f->n != 0 ? &f->locs[f->n - 1] : NULL;
    char key[1400];
    int added = 0;

    snprintf(key, sizeof(key), "%" PRIx64 "\n%s\n%s", f->address,
             outer != NULL && outer->module != NULL ? outer->module : "",
             outer != NULL && outer->function != NULL ? outer->function : "");
    uint32_t id = intern(&p->locations, key, &added);
    if (id == 0) {
        p->out.err = -ENOMEM;
        return 0;
    }
    if (!added)
        return id;
    /* Functions and the mapping first: they use p->sub. */
    uint64_t fids[64];
    size_t n = f->n != 0 ? f->n : 1;
    if (n > 64)
        n = 64;
    for (size_t j = 0; j < n; j++)
        fids[j] = function_id(p, f->n != 0 ? &f->locs[j] : NULL, f->address);
    uint64_t map = mapping_id(p, outer != NULL ? outer->module : NULL);
    struct pb *b = &p->sub, line = {0};
    pb_uint(b, 1, id);
    pb_uint(b, 2, map);
    pb_uint(b, 3, f->address);
    for (size_t j = 0; j < n; j++) {
        pb_uint(&line, 1, fids[j]);
        pb_uint(&line, 2, f->n != 0 && f->locs[j].line > 0 ? (uint64_t)f->locs[j].line : 0);
        pb_sub(b, 4, &line);
    }
    pb_fini(&line);
    pb_sub(&p->out, 4, b);
    return id;
}

static void sample_type(struct pprof *p, const char *type, const char *unit)
{
    uint64_t t = str_id(p, type), u = str_id(p, unit);
    pb_uint(&p->sub, 1, t);
    pb_uint(&p->sub, 2, u);
    pb_sub(&p->out, 1, &p->sub);
}

static int add_sample(struct pprof *p, const struct an_site *s, const struct rc_source *src,
                      int all_frames)
{
    struct rc_stack st = {0};
    struct pb ids = {0}, sample = {0};
    int rc = rc_stack_resolve(src, s->stack, all_frames, 0, &st);

    if (rc < 0)
        return rc;
    for (size_t i = 0; i < st.n; i++) {
        /* Folding may have dropped the first frame's innermost locations. */
        uint64_t id = location_id(p, &st.frames[i]);
        pb_varint(&ids, id);
    }
    rc_stack_fini(&st);
    if (ids.n != 0)
        pb_sub(&sample, 1, &ids);
    uint64_t values[6] = {s->allocations, s->bytes_allocated, s->live_blocks,
                          s->live_bytes,  s->peak_blocks,     s->peak_bytes};
    for (int k = 0; k < 6; k++)
        pb_varint(&ids, values[k]);
    pb_sub(&sample, 2, &ids);
    pb_sub(&p->out, 2, &sample);
    rc = ids.err != 0 ? ids.err : sample.err;
    pb_fini(&ids);
    pb_fini(&sample);
    return rc;
}

/* gzip data into out with zlib. */
static int write_gzip(FILE *out, const uint8_t *data, size_t len)
{
    z_stream z;
    uint8_t buf[1 << 16];
    int zr;

    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len; /* the caller keeps len below 4 GiB */
    do {
        z.next_out = buf;
        z.avail_out = sizeof(buf);
        zr = deflate(&z, Z_FINISH);
        if (zr == Z_STREAM_ERROR)
            break;
        size_t have = sizeof(buf) - z.avail_out;
        if (fwrite(buf, 1, have, out) != have) {
            zr = Z_ERRNO;
            break;
        }
    } while (zr != Z_STREAM_END);
    deflateEnd(&z);
    if (zr != Z_STREAM_END)
        return zr == Z_ERRNO ? -EIO : -ENOMEM;
    return fflush(out) != 0 || ferror(out) ? -EIO : 0;
}

int render_pprof(FILE *out, const struct analysis *a, const struct rc_source *src,
                 const struct render_opts *o, const struct trd_trace *trace)
{
    struct pprof p;
    char comment[600];
    int rc = 0;

    memset(&p, 0, sizeof(p));
    p.trace = trace;
    /* The string table goes last in the file but is filled as we go (in
     * sub2); its first string must be "". */
    str_id(&p, "");
    sample_type(&p, "alloc_objects", "count");
    sample_type(&p, "alloc_space", "bytes");
    sample_type(&p, "inuse_objects", "count");
    sample_type(&p, "inuse_space", "bytes");
    sample_type(&p, "peak_objects", "count");
    sample_type(&p, "peak_space", "bytes");
    for (uint32_t i = 0; i < a->n_sites && rc == 0; i++) {
        const struct an_site *s = &a->sites[i];
        if (s->allocations == 0 && s->frees == 0 && s->failed == 0)
            continue;
        rc = add_sample(&p, s, src, o->all_frames);
    }
    snprintf(comment, sizeof(comment), "memaudit: %s (pid %" PRIu32 "); exact, not sampled",
             src->process.cmdline != NULL && src->process.cmdline[0] != '\0'
                 ? src->process.cmdline
                 : src->process.exe != NULL ? src->process.exe : "?",
             src->process.pid);
    uint64_t c = str_id(&p, comment), inuse = str_id(&p, "inuse_space");
    pb_raw(&p.out, p.sub2.p, p.sub2.n); /* string_table */
    if (p.sub2.err != 0)
        p.out.err = p.sub2.err;
    pb_uint(&p.out, 10, a->totals.duration_ns); /* duration_nanos */
    pb_uint(&p.out, 13, c);                     /* comment */
    pb_uint(&p.out, 14, inuse);                 /* default_sample_type */
    if (rc == 0 && p.out.err != 0)
        rc = p.out.err;
    if (rc == 0 && p.out.n > UINT32_MAX)
        rc = -EFBIG;
    if (rc == 0)
        rc = write_gzip(out, p.out.p, p.out.n);
    pb_fini(&p.out);
    pb_fini(&p.sub);
    pb_fini(&p.sub2);
    intern_fini(&p.strings);
    intern_fini(&p.functions);
    intern_fini(&p.locations);
    intern_fini(&p.mappings);
    return rc;
}
