/* wmcheck.c — check a trace's WATERMARK records against their invariant
 * (docs/trace-format.md, "Watermarks"), for the integration tests.
 *
 *   wmcheck [--min N] TRACE
 *
 * Reads the blocks in file order, as a reader that follows the trace while it
 * is written would meet them, and fails when
 *   - a record stamped below a WATERMARK met earlier in the file comes after
 *     it: an event (both times of a REALLOC), FAIL, PHASE, SAMPLE, or THREAD
 *     (at its block's first_ns, when the block has a timed record);
 *   - an event stamped below a WATERMARK uses a stack id that no STACK record
 *     before the WATERMARK defines;
 *   - WATERMARK times do not increase strictly;
 *   - fewer than N WATERMARKs were checked (default 1).
 * A block cut by the end of the file ends the check (a trace still being
 * written, or killed). Prints "wmcheck: W watermarks, S samples, R records
 * checked" (S: SAMPLE records, about one a flusher period) or
 * "wmcheck: TRACE: what is wrong". Exit status: 0 held, 1 a check failed, 2
 * usage, unreadable or undecodable trace.
 *
 * Independent of symbolizer/trace_reader.c on purpose: the decoding is the
 * format page's, written again, so that the reader's own mistakes do not
 * hide the recorder's. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "trace_format.h"

struct check {
    const char *path;
    uint64_t wm;         /* the latest WATERMARK, 0 before the first */
    uint64_t n_wm;
    uint64_t n_records;  /* timed records compared with a watermark */
    uint64_t n_samples;  /* SAMPLE records: about one a period */
    uint8_t *defined;    /* [cap_ids]: a STACK record defined the id */
    uint64_t *undef_min; /* [cap_ids]: least time of an event using it undefined, or UINT64_MAX */
    size_t cap_ids;
    uint32_t *undef;     /* ids with undef_min set */
    size_t n_undef, cap_undef;
};

static int complain(const struct check *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int complain(const struct check *k, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "wmcheck: %s: ", k->path);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

static void *grow(void *p, size_t n, size_t size)
{
    void *q = realloc(p, n * size);
    if (q == NULL) {
        fprintf(stderr, "wmcheck: out of memory\n");
        exit(2);
    }
    return q;
}

static void ids_room(struct check *k, uint64_t id)
{
    if (id < k->cap_ids)
        return;
    size_t cap = k->cap_ids ? k->cap_ids : 1024;
    while (cap <= id)
        cap *= 2;
    k->defined = grow(k->defined, cap, 1);
    k->undef_min = grow(k->undef_min, cap, sizeof *k->undef_min);
    memset(k->defined + k->cap_ids, 0, cap - k->cap_ids);
    for (size_t i = k->cap_ids; i < cap; i++)
        k->undef_min[i] = UINT64_MAX;
    k->cap_ids = cap;
}

/* A timed record of time ns: 1 (with a message) when it comes after a
 * WATERMARK it is below. */
static int timed(struct check *k, uint64_t ns, const char *what, uint64_t off)
{
    k->n_records++;
    if (ns < k->wm)
        return complain(k, "%s at offset %" PRIu64 " stamped %" PRIu64
                           " comes after WATERMARK %" PRIu64,
                        what, off, ns, k->wm);
    return 0;
}

/* An event of time ns uses stack id. */
static void uses(struct check *k, uint64_t id, uint64_t ns)
{
    if (id == 0)
        return;
    ids_room(k, id);
    if (k->defined[id])
        return;
    if (k->undef_min[id] == UINT64_MAX) {
        if (k->n_undef == k->cap_undef) {
            k->cap_undef = k->cap_undef ? 2 * k->cap_undef : 256;
            k->undef = grow(k->undef, k->cap_undef, sizeof *k->undef);
        }
        k->undef[k->n_undef++] = (uint32_t)id;
    }
    if (ns < k->undef_min[id])
        k->undef_min[id] = ns;
}

static void defines(struct check *k, uint64_t id)
{
    ids_room(k, id);
    k->defined[id] = 1;
}

/* A WATERMARK of time w at offset off. */
static int watermark(struct check *k, uint64_t w, uint64_t off)
{
    if (w <= k->wm)
        return complain(k, "WATERMARK %" PRIu64 " at offset %" PRIu64
                           " is not above the one before, %" PRIu64,
                        w, off, k->wm);
    size_t keep = 0;
    for (size_t i = 0; i < k->n_undef; i++) {
        uint32_t id = k->undef[i];
        if (k->defined[id]) {
            k->undef_min[id] = UINT64_MAX;
            continue;
        }
        if (k->undef_min[id] < w)
            return complain(k, "stack %" PRIu32 ", used by an event stamped %" PRIu64
                               ", is not defined before WATERMARK %" PRIu64 " at offset %" PRIu64,
                            id, k->undef_min[id], w, off);
        k->undef[keep++] = id;
    }
    k->n_undef = keep;
    k->wm = w;
    k->n_wm++;
    return 0;
}

static int skip_bytes(struct tr_cursor *c)
{
    uint64_t n;
    const uint8_t *p;
    return tr_get_u64(c, &n) < 0 || tr_get_bytes(c, n, &p) < 0 ? -1 : 0;
}

static int skip_u64s(struct tr_cursor *c, uint64_t n)
{
    uint64_t v;
    for (uint64_t i = 0; i < n; i++)
        if (tr_get_u64(c, &v) < 0)
            return -1;
    return 0;
}

/* The records of one block payload. 0, 1 a check failed, 2 undecodable. */
static int block(struct check *k, const struct tr_block_header *h, const uint8_t *p, size_t n,
                 uint64_t off)
{
    struct tr_cursor c = {p, p + n};
    uint64_t clock = h->first_ns, v, dt, dt2, id, cnt;
    uint8_t type, fn;
    int rc = 0;
    while (rc == 0 && c.p < c.end) {
        uint64_t at = off + (uint64_t)(c.p - p);
        if (tr_get_u8(&c, &type) < 0)
            return 2;
        int bad = 0;
        switch (type) {
        case TR_REC_ALLOC:
            bad = tr_get_u8(&c, &fn) < 0 || tr_get_u64(&c, &dt) < 0 || skip_u64s(&c, 2) < 0 ||
                  tr_get_u64(&c, &id) < 0 || skip_u64s(&c, 1) < 0 ||
                  (fn >= TR_FN_POSIX_MEMALIGN && fn <= TR_FN_MEMALIGN && skip_u64s(&c, 1) < 0);
            if (!bad) {
                clock += dt;
                rc = timed(k, clock, "ALLOC", at);
                uses(k, id, clock);
            }
            break;
        case TR_REC_FREE:
            bad = tr_get_u8(&c, &fn) < 0 || tr_get_u64(&c, &dt) < 0 || skip_u64s(&c, 1) < 0;
            if (!bad) {
                clock += dt;
                rc = timed(k, clock, "FREE", at);
            }
            break;
        case TR_REC_FREE_EX:
            bad = tr_get_u8(&c, &fn) < 0 || tr_get_u64(&c, &dt) < 0 || skip_u64s(&c, 1) < 0 ||
                  tr_get_u64(&c, &v) < 0;
            id = 0;
            if (!bad && (v & TR_FREE_STACK))
                bad = tr_get_u64(&c, &id) < 0;
            if (!bad && (v & TR_FREE_HASH)) {
                const uint8_t *hash;
                bad = tr_get_bytes(&c, 8, &hash) < 0;
            }
            if (!bad) {
                clock += dt;
                rc = timed(k, clock, "FREE_EX", at);
                uses(k, id, clock);
            }
            break;
        case TR_REC_REALLOC:
            bad = tr_get_u8(&c, &fn) < 0 || tr_get_u64(&c, &dt) < 0 || tr_get_u64(&c, &dt2) < 0 ||
                  skip_u64s(&c, 3) < 0 || tr_get_u64(&c, &id) < 0 || skip_u64s(&c, 1) < 0;
            if (!bad) {
                clock += dt;
                rc = timed(k, clock, "REALLOC (release)", at);
                uses(k, id, clock);
                clock += dt2;
                if (rc == 0)
                    rc = timed(k, clock, "REALLOC (acquisition)", at);
            }
            break;
        case TR_REC_FAIL:
            bad = tr_get_u8(&c, &fn) < 0 || tr_get_u64(&c, &dt) < 0 || skip_u64s(&c, 1) < 0 ||
                  tr_get_u64(&c, &id) < 0;
            if (!bad) {
                clock += dt;
                rc = timed(k, clock, "FAIL", at);
                uses(k, id, clock);
            }
            break;
        case TR_REC_STACK:
            bad = tr_get_u64(&c, &id) < 0 || skip_u64s(&c, 1) < 0 || tr_get_u64(&c, &cnt) < 0 ||
                  cnt > TR_MAX_FRAMES || skip_u64s(&c, cnt) < 0;
            if (!bad)
                defines(k, id);
            break;
        case TR_REC_MODULES:
            bad = tr_get_u64(&c, &dt) < 0 || skip_u64s(&c, 1) < 0 || tr_get_u64(&c, &cnt) < 0;
            for (uint64_t i = 0; !bad && i < cnt; i++) {
                uint64_t nseg;
                bad = skip_u64s(&c, 1) < 0 || skip_bytes(&c) < 0 || skip_bytes(&c) < 0 ||
                      tr_get_u64(&c, &nseg) < 0 || nseg > n || skip_u64s(&c, 3 * nseg) < 0;
            }
            clock += bad ? 0 : dt; /* not covered: used only at the end */
            break;
        case TR_REC_PROCESS:
            bad = skip_u64s(&c, 2) < 0 || skip_bytes(&c) < 0 || tr_get_u64(&c, &cnt) < 0 ||
                  cnt > n;
            for (uint64_t i = 0; !bad && i < cnt; i++)
                bad = skip_bytes(&c) < 0;
            break;
        case TR_REC_THREAD:
            bad = tr_get_u64(&c, &dt) < 0 || skip_u64s(&c, 1) < 0;
            if (!bad) {
                clock += dt;
                if (h->first_ns != 0) /* else the block has no timed record: no time */
                    rc = timed(k, clock, "THREAD", at);
            }
            break;
        case TR_REC_END:
            bad = tr_get_u64(&c, &dt) < 0 || skip_u64s(&c, 3) < 0;
            clock += bad ? 0 : dt;
            break;
        case TR_REC_SAMPLE:
            bad = tr_get_u64(&c, &dt) < 0 || skip_u64s(&c, 1) < 0 || tr_get_u64(&c, &cnt) < 0 ||
                  cnt > TR_MAX_SAMPLE_STATS || skip_u64s(&c, cnt) < 0;
            if (!bad) {
                clock += dt;
                k->n_samples++;
                rc = timed(k, clock, "SAMPLE", at);
            }
            break;
        case TR_REC_SYMBOLS:
            bad = skip_u64s(&c, 2) < 0 || skip_bytes(&c) < 0 || skip_bytes(&c) < 0 ||
                  tr_get_u64(&c, &cnt) < 0 || cnt > n;
            for (uint64_t i = 0; !bad && i < cnt; i++)
                bad = skip_u64s(&c, 2) < 0 || skip_bytes(&c) < 0;
            break;
        case TR_REC_PHASE:
            bad = tr_get_u64(&c, &dt) < 0 || skip_bytes(&c) < 0;
            if (!bad) {
                clock += dt;
                rc = timed(k, clock, "PHASE", at);
            }
            break;
        case TR_REC_WATERMARK:
            bad = tr_get_u64(&c, &v) < 0;
            if (!bad)
                rc = watermark(k, v, at);
            break;
        default:
            complain(k, "unknown record type %u at offset %" PRIu64, type, at);
            return 2;
        }
        if (bad) {
            complain(k, "cannot decode the record at offset %" PRIu64, at);
            return 2;
        }
    }
    return rc;
}

static int check_file(struct check *k, const uint8_t *buf, size_t len)
{
    struct tr_file_header fh;
    if (len < sizeof fh || memcmp(buf, TR_MAGIC, 8) != 0) {
        complain(k, "not a memaudit trace");
        return 2;
    }
    memcpy(&fh, buf, sizeof fh);
    size_t off = fh.header_bytes;
    uint8_t *raw = NULL;
    int rc = 0;
    while (rc == 0 && off + sizeof(struct tr_block_header) <= len) {
        struct tr_block_header h;
        memcpy(&h, buf + off, sizeof h);
        if (h.magic != TR_BLOCK_MAGIC || h.payload_bytes > TR_MAX_BLOCK_BYTES) {
            complain(k, "bad block header at offset %zu", off);
            rc = 2;
            break;
        }
        size_t at = off + sizeof h;
        if (h.payload_bytes > len - at)
            break; /* cut: the end of what was written */
        const uint8_t *p = buf + at;
        size_t n = h.payload_bytes;
        if (h.flags & TR_BLOCK_ZSTD) {
            uint32_t raw_bytes;
            if (n < 4 || (memcpy(&raw_bytes, p, 4), raw_bytes > TR_MAX_BLOCK_BYTES)) {
                complain(k, "bad compressed block at offset %zu", off);
                rc = 2;
                break;
            }
            raw = grow(raw, raw_bytes ? raw_bytes : 1, 1);
            size_t got = ZSTD_decompress(raw, raw_bytes, p + 4, n - 4);
            if (ZSTD_isError(got) || got != raw_bytes) {
                complain(k, "bad compressed block at offset %zu", off);
                rc = 2;
                break;
            }
            p = raw;
            n = raw_bytes;
        }
        rc = block(k, &h, p, n, at);
        off = at + h.payload_bytes;
    }
    free(raw);
    return rc;
}

int main(int argc, char **argv)
{
    struct check k = {0};
    unsigned long min = 1;
    int i = 1;
    if (argc == 4 && strcmp(argv[1], "--min") == 0) {
        char *end;
        errno = 0;
        min = strtoul(argv[2], &end, 10);
        if (errno || *end || end == argv[2]) {
            fprintf(stderr, "wmcheck: --min wants a count, not '%s'\n", argv[2]);
            return 2;
        }
        i = 3;
    }
    if (argc != i + 1) {
        fprintf(stderr, "usage: wmcheck [--min N] TRACE\n");
        return 2;
    }
    k.path = argv[i];
    FILE *fp = fopen(k.path, "rb");
    if (fp == NULL) {
        fprintf(stderr, "wmcheck: %s: %s\n", k.path, strerror(errno));
        return 2;
    }
    size_t len = 0, cap = 1 << 20;
    uint8_t *buf = grow(NULL, cap, 1);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len, fp)) > 0) {
        len += got;
        if (len == cap)
            buf = grow(buf, cap *= 2, 1);
    }
    int rd_err = ferror(fp);
    fclose(fp);
    if (rd_err) {
        fprintf(stderr, "wmcheck: %s: read error\n", k.path);
        return 2;
    }
    int rc = check_file(&k, buf, len);
    if (rc == 0 && k.n_wm < min)
        rc = complain(&k, "%" PRIu64 " watermarks (%" PRIu64 " samples), fewer than %lu", k.n_wm,
                      k.n_samples, min);
    if (rc == 0)
        printf("wmcheck: %" PRIu64 " watermarks, %" PRIu64 " samples, %" PRIu64
               " records checked\n",
               k.n_wm, k.n_samples, k.n_records);
    free(buf);
    free(k.defined);
    free(k.undef_min);
    free(k.undef);
    return rc;
}
