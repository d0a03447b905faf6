/* trace_reader.c — index a memaudit trace and replay its events in global order.
 *
 * Offline stage (symbolizer/, also used by reporter/). Implements
 * trace_reader.h as docs/trace-format.md specifies.
 *
 * trd_open() reads the file once, block by block with pread(2), never the
 * whole file at once. It decodes every record of the blocks flagged
 * TR_BLOCK_HAS_META (and of compressed ones) and keeps what is not an event:
 * stack definitions, module maps, process and thread identity, END, samples
 * — plus one small index entry per block. A block without the flag holds
 * events only (docs/trace-format.md), nearly all of a trace: of those it
 * reads the first record's clock alone, takes the header's record count as
 * the block's events, and leaves the rest to the replay, which decodes every
 * event anyway ("deferred" blocks). Decoding them here too cost a tenth of a
 * report's time. The replay then checks what pass 1 would have: the record
 * count, that every record is an event, every stack id's range; a damaged
 * deferred block fails the replay with the same one-line error. A deferred
 * block whose first record does not look like an event is decoded here after
 * all, so that what it holds is collected or rejected as before.
 *
 * trd_next_run() merges the per-thread streams with a binary heap keyed by
 * (time, release before acquire, thread serial). Each thread has one cursor
 * holding at most one block payload and the next CUR_EVENTS events decoded
 * from it; a REALLOC record is decoded as two points, the acquisition keyed
 * by its own time. The cursor with the least head hands out its events up to
 * the next cursor's head in one run, so a long run of one thread costs no
 * heap step and no copy per event (trd_next() hands the same out one by one).
 *
 * Event records (nearly all of a trace) are decoded by one inlined function,
 * ev_decode(), in both passes; the metadata records by rec_decode().
 *
 * trd_stream_*() can run the decoding and the merge in a second thread,
 * handing the caller batches of events through a ring (enum
 * trd_stream_mode says when it pays).
 *
 * Follow mode (trd_open_follow()) reads a file its writer is still
 * appending to: pass 1 resumes where it stopped (t->bytes_read), a block
 * past the end being "not yet" rather than a cut; each thread's blocks are
 * kept in seq order as they come, and a cursor whose next block is not
 * indexed yet waits out of the heap. The merge hands out only events below
 * the latest WATERMARK (t->limit_ns): every record stamped below it is in
 * the file before it, so no waiting cursor, and no thread not seen yet, has
 * an event below it, and the order is trd_open()'s. trd_follow_end() does
 * what trd_open() does after pass 1 (finish_index()), so the finished state
 * is the same.
 *
 * Invariants:
 * - nothing read is trusted: a count is checked against the bytes that are
 *   really there before anything is allocated for it, and every cap of
 *   trace_format.h holds, so hostile input costs memory in proportion to the
 *   file at worst and every loop consumes input;
 * - memory is O(blocks + threads + stacks + modules), never O(events);
 * - the merge is deterministic, and per thread it keeps block and record order;
 * - the last event time (trd_last_ns) counts a deferred block once the replay
 *   has read it;
 * - after a REALLOC the block's running clock stands at its second time
 *   (dt2 is "the time from then"), which is what the next record's dt counts
 *   from. */
#include "trace_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#define BLOCK_HEADER_BYTES 32u
#define FILE_HEADER_BYTES 64u
/* Stack ids are dense in a real trace (the recorder numbers them 1, 2, 3...),
 * and the analysis keeps one slot per id, so an id far beyond the number of
 * definitions is damage. The slack covers definitions lost with a cut tail. */
#define STACK_ID_CAP (1u << 28)
#define STACK_ID_SLACK 65536u
#define BUILD_ID_MAX 64u

/* One block of the file, as pass 1 found it. */
struct blk {
    uint64_t offset;      /* file offset of the payload */
    uint64_t first_ns;    /* the block's clock starts here */
    uint64_t ev_first_ns; /* first and last event timestamp (if n_events) */
    uint64_t ev_last_ns;
    uint32_t thread;
    uint32_t seq;
    uint32_t payload_bytes; /* in the file */
    uint32_t rec_bytes;     /* of records: payload_bytes, or raw_bytes when compressed */
    uint32_t flags;         /* TR_BLOCK_* */
    uint32_t n_events;
    uint32_t n_records;     /* the header's count */
    int deferred;           /* not decoded by pass 1: the replay checks it */
};

struct thr {
    struct trd_thread pub;
    struct blk *blk; /* its blocks, by seq once trd_open() has sorted them */
    size_t n_blk, cap_blk;
    int unsorted; /* a block came after one with a higher (or the same) seq */
};

/* Where the public list of threads (by serial) finds one in t->threads. */
struct thr_ref {
    uint32_t serial;
    uint32_t k;
};

/* Events a cursor decodes at a time (a REALLOC takes two): about 20 KiB a
 * thread, small enough to stay in cache while the replay reads them. */
#define CUR_EVENTS 256u

/* Merge cursor of one thread: at most one block payload in memory, and the
 * next events decoded from it. */
struct cur {
    size_t next_blk; /* relative to the thread's first block */
    uint8_t *buf;
    size_t cap;
    struct tr_cursor c;
    uint64_t payload_off; /* file offset of buf[0], for error messages */
    uint32_t seq;         /* of the loaded block */
    int deferred;         /* the loaded block is one pass 1 left to the replay ... */
    uint32_t n_records;   /* ... which must hold this many records ... */
    uint32_t records;     /* ... of which these were decoded */
    uint64_t clock;
    uint64_t prev_ptr;
    struct trd_event *evs; /* [cap_ev]: decoded, all from the loaded block */
    size_t n_ev, i_ev;     /* evs[i_ev] is the head, the merge key; n_ev: end */
    size_t cap_ev;
    int waiting; /* following: out of the heap until its next block is indexed */
};

struct stkdef { /* a STACK record, before the dense table is built */
    uint32_t id;
    struct trd_stack s;
};

struct snapdef { /* a MODULES record, with its file order for a stable sort */
    struct mm_snapshot s;
    size_t order;
};

/* A SYMBOLS record: the functions of a module whose file was deleted. */
struct symtab {
    char *path;
    uint8_t build_id[64];
    uint32_t build_id_len;
    uint32_t n;
    struct mm_symbol *syms; /* by value; names point into names */
    char *names;
};

struct tiddef {
    uint32_t serial;
    uint32_t tid;
};

/* Batches of events on their way from the decoding thread to the caller
 * (trd_stream_*): a ring of STREAM_BATCHES, each owned by one side at a time. */
#define STREAM_BATCH_EVENTS 2048u
#define STREAM_THREAD_MIN_EVENTS 100000u /* TRD_STREAM_AUTO: fewer, no thread */
#define STREAM_BATCHES 4u

struct batch {
    struct trd_event ev[STREAM_BATCH_EVENTS];
    void *out; /* the stage's results: [STREAM_BATCH_EVENTS * stage.out_bytes] */
    size_t n;
    int rc; /* after the events: 1 more to come, 0 end, <0 error */
    char name[TR_MAX_PHASE_NAME + 1]; /* a PHASE event ends its batch; its name */
};

struct stream {
    struct trd_stage stage; /* fn NULL: none */
    const void *cur_out; /* trd_stream_out() */
    void *ring_out;     /* threaded: the results of every batch of the ring */
    struct batch *ring; /* [STREAM_BATCHES] */
    pthread_t thread;
    int threaded;
    pthread_mutex_t lock; /* guards the three below */
    pthread_cond_t filled, emptied;
    size_t head, count; /* batches ready for the caller: ring[head .. head + count) */
    int stop;           /* the caller is done: the thread returns */
    int holding;        /* the caller holds ring[head] */
    int done;           /* the last batch was handed out ... */
    int final_rc;       /* ... and this is what comes after it: 0 or <0 */
};

/* What pass 1 accumulates besides the block index. */
struct collect {
    struct stkdef *stk;
    size_t n_stk, cap_stk;
    struct snapdef *snp;
    size_t n_snp, cap_snp;
    struct tiddef *tid;
    size_t n_tid, cap_tid;
    uint32_t max_ref_stack;
};

struct trd_trace {
    int fd;
    struct tr_file_header hdr;
    uint64_t file_bytes;
    uint64_t bytes_read; /* pass 1 has indexed the file up to here */
    int truncated; /* a block ran past EOF, or a thread's stream stops at a gap */

    ZSTD_DCtx *dctx; /* for TR_BLOCK_ZSTD blocks, made at the first */
    uint8_t *zbuf;   /* a compressed payload on its way to a cursor */
    size_t zcap;
    /* Threads in the order their first block came in the file: cursor k
     * (curs[k]) replays threads[k]. thr_slots finds a serial's index
     * (open addressing, index + 1, 0 = empty; at most half full). */
    struct thr *threads;
    size_t n_threads, cap_threads;
    uint32_t *thr_slots;
    size_t cap_slots;
    size_t last_thr; /* the index found last: blocks of one thread come in runs */
    struct thr_ref *by_serial; /* trd_thread(i): threads[by_serial[i].k] */
    size_t n_pub;
    struct collect col; /* pass 1's metadata on its way into the tables */

    struct trd_stack *stacks; /* [n_stacks], frames == NULL when undefined */
    uint32_t n_stacks;
    size_t n_stack_defs;      /* STACK records */
    uint64_t stack_id_limit;  /* an event's stack id above it is damage */
    struct mm_snapshot *snaps; /* by time */
    size_t n_snaps;
    struct symtab *symtabs; /* SYMBOLS records, one per (path, build id) */
    size_t n_symtabs, cap_symtabs;
    struct trd_sample *samples; /* by time; see TRD_MAX_SAMPLES */
    size_t n_samples, cap_samples;
    uint64_t samples_seen; /* SAMPLE records met, kept or not */
    uint64_t sample_stride; /* keep every stride-th */
    char *exe;
    char *cmdline;
    int end_seen;
    int exit_status;
    int signal;
    uint64_t lost_events;
    uint64_t first_ns;
    uint64_t last_ns;
    uint64_t event_records;
    /* The last WATERMARK in file order (0: none): every record stamped below
     * it is in the file before it (docs/trace-format.md, "Watermarks"). */
    uint64_t watermark_ns;

    /* follow mode (trd_open_follow() .. trd_follow_end()) */
    int following;
    uint64_t limit_ns; /* the replay hands out events below it: the watermark, or UINT64_MAX */
    int rejoin;        /* blocks came: cursors waiting for them are to try again */

    /* replay */
    struct cur *curs; /* [n_threads] */
    size_t *heap;     /* cursor indices, a min-heap on the merge key */
    size_t heap_n;
    int started;
    int popped; /* heap[0] handed out a run and must advance first */
    const struct trd_event *run; /* trd_next(): the rest of the current run */
    size_t run_left;
    int fail;   /* sticky replay error (negative errno) */
    char err[256];
    struct stream *stream; /* trd_stream_begin() .. trd_stream_end() */
};

/* One decoded record that is not an event (those are a struct evrec).
 * Metadata records hand their contents over through the owned pointers when
 * decoded with keep != 0 (pass 1). */
struct rec {
    uint8_t type;
    uint64_t dt;
    uint32_t tid;
    const uint8_t *name; /* PHASE: borrowed from the block */
    uint32_t name_len;
    int exit_status;
    uint32_t signal;
    uint64_t lost;
    uint64_t watermark_ns;   /* WATERMARK */
    struct trd_sample smp;   /* SAMPLE (time_ns set by the caller) */
    struct symtab sym;       /* SYMBOLS, keep */
    struct stkdef stk;       /* STACK, keep */
    struct mm_snapshot snap; /* MODULES, keep */
    char *exe, *cmdline;     /* PROCESS, keep */
};

/* Besides -ENOMEM; RD_STACK_RANGE from the replay only. */
enum { RD_CORRUPT = -1, RD_UNKNOWN = -2, RD_STACK_RANGE = -3 };

static void set_err(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t len, const char *fmt, ...)
{
    if (err == NULL || len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Read exactly n bytes at off. 0, -ENODATA when the file ends first, or -errno. */
static int read_full(int fd, void *buf, size_t n, uint64_t off)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            return -ENODATA;
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* Grow *arr (element size sz) to hold at least need elements. */
static int grow(void **arr, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need) {
        if (n > SIZE_MAX / 2 / sz)
            return -ENOMEM;
        n *= 2;
    }
    void *p = realloc(*arr, n * sz);
    if (p == NULL)
        return -ENOMEM;
    *arr = p;
    *cap = n;
    return 0;
}

/* Decompress the payload in[0..b->payload_bytes) of a TR_BLOCK_ZSTD block
 * into *out (grown to fit) and set b->rec_bytes. The frame must give exactly
 * the raw_bytes its header announces, at most TR_MAX_BLOCK_BYTES: a bomb
 * costs no more than a plain block could. */
static int unzstd(struct trd_trace *t, const uint8_t *in, struct blk *b, uint8_t **out,
                  size_t *out_cap, char *err, size_t errlen)
{
    uint64_t at = b->offset - BLOCK_HEADER_BYTES;
    if (b->payload_bytes < 4) {
        set_err(err, errlen, "corrupt trace: compressed block at offset %" PRIu64 " is too short",
                at);
        return -EINVAL;
    }
    uint32_t raw = le32(in);
    if (raw > TR_MAX_BLOCK_BYTES) {
        set_err(err, errlen,
                "corrupt trace: compressed block at offset %" PRIu64 " claims %" PRIu32
                " bytes (limit %u)",
                at, raw, TR_MAX_BLOCK_BYTES);
        return -EINVAL;
    }
    if (!t->dctx) {
        t->dctx = ZSTD_createDCtx();
        if (!t->dctx)
            return -ENOMEM;
    }
    int rc = grow((void **)out, out_cap, raw ? raw : 1, 1);
    if (rc < 0)
        return rc;
    size_t n = ZSTD_decompressDCtx(t->dctx, *out, raw, in + 4, b->payload_bytes - 4);
    if (ZSTD_isError(n) || n != raw) {
        set_err(err, errlen,
                "corrupt trace: compressed block at offset %" PRIu64 " does not decompress to its %" PRIu32
                " bytes (%s)",
                at, raw, ZSTD_isError(n) ? ZSTD_getErrorName(n) : "size differs");
        return -EINVAL;
    }
    b->rec_bytes = raw;
    return 0;
}

static int get_u32(struct tr_cursor *c, uint32_t *out)
{
    uint64_t v;
    if (tr_get_u64(c, &v) < 0 || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static size_t left(const struct tr_cursor *c)
{
    return (size_t)(c->end - c->p);
}

/* ---- record decoding ---- */

/* STACK: v id, v epoch, v depth, depth x s frame-delta. */
static int parse_stack(struct tr_cursor *c, int keep, struct stkdef *out, const char **why)
{
    uint64_t id;
    uint32_t epoch, depth;
    if (tr_get_u64(c, &id) < 0 || get_u32(c, &epoch) < 0 || get_u32(c, &depth) < 0) {
        *why = "STACK header";
        return RD_CORRUPT;
    }
    if (id == 0 || id >= STACK_ID_CAP) {
        *why = "STACK id out of range";
        return RD_CORRUPT;
    }
    if (depth > TR_MAX_FRAMES || depth > left(c)) {
        *why = "STACK depth over the limit";
        return RD_CORRUPT;
    }
    uint64_t *frames = NULL;
    if (keep) {
        /* Never NULL, even for depth 0: frames != NULL marks a defined stack. */
        frames = malloc((depth ? depth : 1) * sizeof *frames);
        if (frames == NULL)
            return -ENOMEM;
    }
    uint64_t addr = 0;
    for (uint32_t i = 0; i < depth; i++) {
        int64_t d;
        if (tr_get_i64(c, &d) < 0) {
            free(frames);
            *why = "STACK frame";
            return RD_CORRUPT;
        }
        addr += (uint64_t)d;
        if (frames != NULL)
            frames[i] = addr;
    }
    if (keep) {
        out->id = (uint32_t)id;
        out->s.depth = depth;
        out->s.epoch = epoch;
        out->s.frames = frames;
    }
    return 0;
}

/* MODULES after dt: v epoch, v count, count x module. */
static int parse_modules(struct tr_cursor *c, int keep, struct mm_snapshot *out, const char **why)
{
    uint64_t epoch;
    uint32_t count;
    struct mm_snapshot s = {0};
    int rc = RD_CORRUPT;

    *why = "MODULES header";
    if (tr_get_u64(c, &epoch) < 0 || get_u32(c, &count) < 0)
        goto fail;
    /* A module takes at least 4 bytes (base, path_len, build_id_len, nseg). */
    *why = "MODULES count over the limit";
    if (count > TR_MAX_MODULES || count > left(c) / 4)
        goto fail;
    s.epoch = epoch;
    if (keep) {
        s.modules = calloc(count ? count : 1, sizeof *s.modules);
        if (s.modules == NULL) {
            rc = -ENOMEM;
            goto fail;
        }
    }
    for (uint32_t i = 0; i < count; i++) {
        uint64_t base;
        uint32_t path_len, bid_len, nseg;
        const uint8_t *path, *bid;
        *why = "MODULES module";
        if (tr_get_u64(c, &base) < 0 || get_u32(c, &path_len) < 0)
            goto fail;
        *why = "MODULES path over the limit";
        if (path_len > TR_MAX_PATH || tr_get_bytes(c, path_len, &path) < 0)
            goto fail;
        *why = "MODULES build id over the limit";
        if (get_u32(c, &bid_len) < 0 || bid_len > BUILD_ID_MAX ||
            tr_get_bytes(c, bid_len, &bid) < 0)
            goto fail;
        /* A segment takes at least 3 bytes. */
        *why = "MODULES segment count";
        if (get_u32(c, &nseg) < 0 || nseg > left(c) / 3)
            goto fail;
        struct mm_module *m = keep ? &s.modules[i] : NULL;
        if (m != NULL) {
            s.n_modules = i + 1; /* so that a failure below frees this module too */
            m->base = base;
            m->path = malloc((size_t)path_len + 1);
            m->segments = calloc(nseg ? nseg : 1, sizeof *m->segments);
            if (m->path == NULL || m->segments == NULL) {
                rc = -ENOMEM;
                goto fail;
            }
            if (path_len > 0)
                memcpy(m->path, path, path_len);
            m->path[path_len] = '\0';
            if (bid_len > 0)
                memcpy(m->build_id, bid, bid_len);
            m->build_id_len = bid_len;
            m->n_segments = nseg;
        }
        for (uint32_t j = 0; j < nseg; j++) {
            uint64_t vaddr, memsz;
            uint32_t flags;
            *why = "MODULES segment";
            if (tr_get_u64(c, &vaddr) < 0 || tr_get_u64(c, &memsz) < 0 || get_u32(c, &flags) < 0)
                goto fail;
            if (m != NULL) {
                m->segments[j].vaddr = vaddr;
                m->segments[j].memsz = memsz;
                m->segments[j].flags = flags;
            }
        }
    }
    if (keep)
        *out = s;
    return 0;
fail:
    mm_snapshot_fini(&s);
    return rc;
}

static int msym_cmp(const void *a, const void *b)
{
    const struct mm_symbol *x = a, *y = b;
    return x->value < y->value ? -1 : x->value > y->value;
}

static void symtab_fini(struct symtab *s)
{
    free(s->path);
    free(s->syms);
    free(s->names);
    memset(s, 0, sizeof *s);
}

/* SYMBOLS: v epoch, v base, v build_id_len, build_id, v path_len, path,
 * v count, count x (v value, v size, v name_len, name). */
static int parse_symbols(struct tr_cursor *c, int keep, struct symtab *out, const char **why)
{
    uint64_t epoch, base;
    uint32_t bid_len, path_len, count;
    const uint8_t *bid, *path;
    struct symtab s = {0};
    int rc = RD_CORRUPT;

    *why = "SYMBOLS header";
    if (tr_get_u64(c, &epoch) < 0 || tr_get_u64(c, &base) < 0 || get_u32(c, &bid_len) < 0 ||
        bid_len > BUILD_ID_MAX || tr_get_bytes(c, bid_len, &bid) < 0 ||
        get_u32(c, &path_len) < 0 || path_len > TR_MAX_PATH ||
        tr_get_bytes(c, path_len, &path) < 0 || get_u32(c, &count) < 0)
        return RD_CORRUPT;
    /* A symbol takes at least 4 bytes. */
    *why = "SYMBOLS count over the limit";
    if (count > left(c) / 4)
        return RD_CORRUPT;
    struct tr_cursor names = *c;
    size_t total = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t v, sz, len;
        const uint8_t *b;
        *why = "SYMBOLS symbol";
        if (tr_get_u64(c, &v) < 0 || tr_get_u64(c, &sz) < 0 || tr_get_u64(c, &len) < 0 ||
            tr_get_bytes(c, len, &b) < 0)
            return RD_CORRUPT;
        total += (size_t)len + 1; /* bounded by the payload */
    }
    if (!keep)
        return 0;
    rc = -ENOMEM;
    s.path = malloc((size_t)path_len + 1);
    s.syms = calloc(count ? count : 1, sizeof *s.syms);
    s.names = malloc(total + 1);
    if (s.path == NULL || s.syms == NULL || s.names == NULL)
        goto fail;
    if (path_len > 0)
        memcpy(s.path, path, path_len);
    s.path[path_len] = '\0';
    if (bid_len > 0)
        memcpy(s.build_id, bid, bid_len);
    s.build_id_len = bid_len;
    size_t at = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t v, sz, len;
        const uint8_t *b;
        if (tr_get_u64(&names, &v) < 0 || tr_get_u64(&names, &sz) < 0 ||
            tr_get_u64(&names, &len) < 0 || tr_get_bytes(&names, len, &b) < 0)
            break; /* cannot happen: validated above */
        s.syms[i].value = v;
        s.syms[i].size = sz;
        if (len > 0)
            memcpy(s.names + at, b, (size_t)len);
        s.names[at + len] = '\0';
        s.syms[i].name = s.names + at;
        at += (size_t)len + 1;
    }
    s.n = count;
    if (count > 1)
        qsort(s.syms, count, sizeof *s.syms, msym_cmp);
    (void)epoch;
    (void)base;
    *out = s;
    return 0;
fail:
    symtab_fini(&s);
    return rc;
}

/* PROCESS: v pid, v ppid, v exe_len, exe, v argc, argc x (v len, bytes). */
static int parse_process(struct tr_cursor *c, int keep, char **exe_out, char **cmd_out,
                         const char **why)
{
    uint64_t pid, ppid;
    uint32_t exe_len, argc;
    const uint8_t *exe;
    char *e = NULL, *cmd = NULL;
    int rc = RD_CORRUPT;

    *why = "PROCESS header";
    if (tr_get_u64(c, &pid) < 0 || tr_get_u64(c, &ppid) < 0 || get_u32(c, &exe_len) < 0)
        goto fail;
    *why = "PROCESS exe over the limit";
    if (exe_len > TR_MAX_PATH || tr_get_bytes(c, exe_len, &exe) < 0)
        goto fail;
    *why = "PROCESS argc";
    if (get_u32(c, &argc) < 0 || argc > left(c))
        goto fail;
    /* First walk: validate and measure; the second copies. */
    struct tr_cursor args = *c;
    size_t total = 0;
    for (uint32_t i = 0; i < argc; i++) {
        uint64_t len;
        const uint8_t *b;
        *why = "PROCESS argument";
        if (tr_get_u64(c, &len) < 0 || tr_get_bytes(c, len, &b) < 0)
            goto fail;
        total += (size_t)len + 1; /* bounded by the payload, no overflow */
    }
    if (!keep)
        return 0;
    rc = -ENOMEM;
    e = malloc((size_t)exe_len + 1);
    cmd = malloc(total + 1);
    if (e == NULL || cmd == NULL)
        goto fail;
    if (exe_len > 0)
        memcpy(e, exe, exe_len);
    e[exe_len] = '\0';
    size_t at = 0;
    for (uint32_t i = 0; i < argc; i++) {
        uint64_t len;
        const uint8_t *b;
        if (tr_get_u64(&args, &len) < 0 || tr_get_bytes(&args, len, &b) < 0)
            break; /* cannot happen: the first walk validated these bytes */
        if (i > 0)
            cmd[at++] = ' ';
        if (len > 0)
            memcpy(cmd + at, b, (size_t)len);
        at += (size_t)len;
    }
    cmd[at] = '\0';
    *exe_out = e;
    *cmd_out = cmd;
    return 0;
fail:
    free(e);
    free(cmd);
    return rc;
}

/* ---- event records: the hot path ----
 *
 * Nearly every record is an ALLOC, FREE or REALLOC, and both passes decode
 * all of them: these are decoded inline into a small struct, with varints
 * read without a bounds check per byte where 10 bytes remain. The results
 * and the checks are exactly those of tr_get_u64() and friends. */

/* One event record's fields (ALLOC, FREE, FREE_EX, REALLOC, FAIL). */
struct evrec {
    uint64_t dt, dt2;
    uint64_t ptr, old_ptr;
    uint64_t size, slack, align;
    uint64_t hash;
    uint32_t stack;
    uint8_t fn;
    uint8_t has_hash;
};

/* tr_get_u64() near the end of the input, out of line. The new place and
 * the value come back by value (p NULL: malformed), not through pointers,
 * so that a caller's cursor can stay in registers (cur_decode()). */
struct rd_slow {
    const uint8_t *p;
    uint64_t v;
};

__attribute__((noinline)) static struct rd_slow rd_u64_slow(const uint8_t *p, const uint8_t *end)
{
    struct tr_cursor c = {p, end};
    struct rd_slow r = {NULL, 0};
    if (tr_get_u64(&c, &r.v) == 0)
        r.p = c.p;
    return r;
}

/* tr_get_u64(), inline: one byte, or up to 10 when 10 remain. */
static inline __attribute__((always_inline)) int rd_u64(struct tr_cursor *c, uint64_t *out)
{
    const uint8_t *p = c->p;
    if (__builtin_expect(c->end - p >= 10, 1)) {
        uint64_t b = p[0];
        if (b < 0x80) {
            *out = b;
            c->p = p + 1;
            return 0;
        }
        uint64_t v = b & 0x7f;
        for (unsigned i = 1; i < 9; i++) {
            b = p[i];
            v |= (b & 0x7f) << (7 * i);
            if (b < 0x80) {
                *out = v;
                c->p = p + i + 1;
                return 0;
            }
        }
        b = p[9]; /* bit 63 alone */
        if (b > 1)
            return -1;
        *out = v | b << 63;
        c->p = p + 10;
        return 0;
    }
    struct rd_slow r = rd_u64_slow(p, c->end);
    if (r.p == NULL)
        return -1;
    *out = r.v;
    c->p = r.p;
    return 0;
}

/* A delta-coded pointer (docs/trace-format.md): prev moves to it. */
static inline __attribute__((always_inline)) int rd_ptr(struct tr_cursor *c, uint64_t *prev,
                                                        uint64_t *out)
{
    uint64_t v;
    if (rd_u64(c, &v) < 0)
        return -1;
    *prev += (uint64_t)tr_unzigzag(v);
    *out = *prev;
    return 0;
}

static inline __attribute__((always_inline)) int rd_stack(struct tr_cursor *c, uint32_t *out)
{
    uint64_t v;
    if (rd_u64(c, &v) < 0 || v >= STACK_ID_CAP)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static inline __attribute__((always_inline)) int rd_fn(struct tr_cursor *c, uint8_t *out)
{
    if (c->p >= c->end || *c->p == 0 || *c->p >= TR_FN_COUNT_)
        return -1;
    *out = *c->p++;
    return 0;
}

static int is_event(uint8_t type)
{
    return (type >= TR_REC_ALLOC && type <= TR_REC_FAIL) || type == TR_REC_FREE_EX;
}

/* Decode the event record of type (is_event(), its type byte already read)
 * at c into *r. prev is the block's pointer-delta state. 0 or RD_CORRUPT
 * with *why. */
static inline __attribute__((always_inline)) int ev_decode(struct tr_cursor *c, uint8_t type,
                                                           uint64_t *prev, struct evrec *r,
                                                           const char **why)
{
    r->dt2 = r->old_ptr = r->size = r->slack = r->align = r->hash = 0;
    r->ptr = 0;
    r->stack = 0;
    r->has_hash = 0;
    switch (type) {
    case TR_REC_ALLOC:
        if (rd_fn(c, &r->fn) < 0 || rd_u64(c, &r->dt) < 0 || rd_ptr(c, prev, &r->ptr) < 0 ||
            rd_u64(c, &r->size) < 0 || rd_stack(c, &r->stack) < 0 || rd_u64(c, &r->slack) < 0 ||
            (r->fn >= TR_FN_POSIX_MEMALIGN && r->fn <= TR_FN_MEMALIGN &&
             rd_u64(c, &r->align) < 0)) {
            *why = "ALLOC";
            return RD_CORRUPT;
        }
        return 0;
    case TR_REC_FREE:
        if (rd_fn(c, &r->fn) < 0 || rd_u64(c, &r->dt) < 0 || rd_ptr(c, prev, &r->ptr) < 0) {
            *why = "FREE";
            return RD_CORRUPT;
        }
        return 0;
    case TR_REC_REALLOC:
        if (rd_fn(c, &r->fn) < 0 || rd_u64(c, &r->dt) < 0 || rd_u64(c, &r->dt2) < 0 ||
            rd_ptr(c, prev, &r->old_ptr) < 0 || rd_ptr(c, prev, &r->ptr) < 0 ||
            rd_u64(c, &r->size) < 0 || rd_stack(c, &r->stack) < 0 || rd_u64(c, &r->slack) < 0) {
            *why = "REALLOC";
            return RD_CORRUPT;
        }
        return 0;
    case TR_REC_FAIL:
        if (rd_fn(c, &r->fn) < 0 || rd_u64(c, &r->dt) < 0 || rd_u64(c, &r->size) < 0 ||
            rd_stack(c, &r->stack) < 0) {
            *why = "FAIL";
            return RD_CORRUPT;
        }
        return 0;
    default: { /* TR_REC_FREE_EX */
        uint64_t flags;
        *why = "FREE_EX";
        if (rd_fn(c, &r->fn) < 0 || rd_u64(c, &r->dt) < 0 || rd_ptr(c, prev, &r->ptr) < 0 ||
            rd_u64(c, &flags) < 0 || (flags & ~(uint64_t)(TR_FREE_STACK | TR_FREE_HASH)))
            return RD_CORRUPT;
        if ((flags & TR_FREE_STACK) && rd_stack(c, &r->stack) < 0)
            return RD_CORRUPT;
        if (flags & TR_FREE_HASH) {
            const uint8_t *h;
            if (tr_get_bytes(c, 8, &h) < 0)
                return RD_CORRUPT;
            for (int i = 7; i >= 0; i--)
                r->hash = (r->hash << 8) | h[i];
            r->has_hash = 1;
        }
        return 0;
    }
    }
}

/* Decode one record at c that is not an event (those go to ev_decode()).
 * With keep, metadata contents are allocated into r and owned by the caller. Returns 0, RD_CORRUPT (with
 * *why), RD_UNKNOWN (r->type says which) or -ENOMEM. */
static int rec_decode(struct tr_cursor *c, struct rec *r, int keep, const char **why)
{
    /* Only the scalar fields: the metadata parts (hundreds of bytes) are
     * cleared by the cases that fill them, not for every event. */
    memset(r, 0, offsetof(struct rec, smp));
    *why = "truncated record";
    if (tr_get_u8(c, &r->type) < 0)
        return RD_CORRUPT;
    switch (r->type) {
    case TR_REC_PHASE: {
        uint64_t len;
        *why = "PHASE";
        if (tr_get_u64(c, &r->dt) < 0 || tr_get_u64(c, &len) < 0 || len > TR_MAX_PHASE_NAME ||
            tr_get_bytes(c, len, &r->name) < 0)
            return RD_CORRUPT;
        r->name_len = (uint32_t)len;
        return 0;
    }
    case TR_REC_STACK:
        memset(&r->stk, 0, sizeof r->stk);
        return parse_stack(c, keep, &r->stk, why);
    case TR_REC_MODULES:
        *why = "MODULES";
        memset(&r->snap, 0, sizeof r->snap);
        if (tr_get_u64(c, &r->dt) < 0)
            return RD_CORRUPT;
        return parse_modules(c, keep, &r->snap, why);
    case TR_REC_PROCESS:
        r->exe = r->cmdline = NULL;
        return parse_process(c, keep, &r->exe, &r->cmdline, why);
    case TR_REC_THREAD:
        *why = "THREAD";
        if (tr_get_u64(c, &r->dt) < 0 || get_u32(c, &r->tid) < 0)
            return RD_CORRUPT;
        return 0;
    case TR_REC_END: {
        int64_t st;
        *why = "END";
        if (tr_get_u64(c, &r->dt) < 0 || tr_get_i64(c, &st) < 0 || st < INT32_MIN ||
            st > INT32_MAX || tr_get_u64(c, &r->lost) < 0 || get_u32(c, &r->signal) < 0 ||
            r->signal > 127)
            return RD_CORRUPT;
        r->exit_status = (int)st;
        return 0;
    }
    case TR_REC_SYMBOLS:
        memset(&r->sym, 0, sizeof r->sym);
        return parse_symbols(c, keep, &r->sym, why);
    case TR_REC_WATERMARK: /* an absolute time, no dt */
        *why = "WATERMARK";
        return tr_get_u64(c, &r->watermark_ns) < 0 ? RD_CORRUPT : 0;
    case TR_REC_SAMPLE: {
        uint32_t n;
        *why = "SAMPLE";
        memset(&r->smp, 0, sizeof r->smp);
        if (tr_get_u64(c, &r->dt) < 0 || tr_get_u64(c, &r->smp.rss_bytes) < 0 ||
            get_u32(c, &n) < 0 || n > TR_MAX_SAMPLE_STATS)
            return RD_CORRUPT;
        for (uint32_t i = 0; i < n; i++) {
            uint64_t v;
            if (tr_get_u64(c, &v) < 0)
                return RD_CORRUPT;
            if (i < TR_STAT_COUNT_)
                r->smp.stats[i] = v;
        }
        /* Fewer than we know is as good as none: figures are used together. */
        r->smp.n_stats = n >= TR_STAT_COUNT_ ? TR_STAT_COUNT_ : 0;
        if (r->smp.n_stats == 0)
            memset(r->smp.stats, 0, sizeof r->smp.stats);
        return 0;
    }
    default:
        return RD_UNKNOWN;
    }
}

/* Keep one more sample, halving the resolution when TRD_MAX_SAMPLES is
 * reached, so that memory stays bounded however long the run. */
static int sample_keep(struct trd_trace *t, const struct trd_sample *s)
{
    if (t->following && t->n_samples > 0 && s->time_ns < t->samples[t->n_samples - 1].time_ns) {
        /* (Full mode has one writer of samples; sampling mode several.) */
        set_err(t->err, sizeof t->err,
                "cannot follow the trace: its samples are not in time order (%" PRIu64
                " ns after %" PRIu64 " ns)",
                s->time_ns, t->samples[t->n_samples - 1].time_ns);
        return -EINVAL;
    }
    if (t->following && t->n_samples == TRD_MAX_SAMPLES) {
        set_err(t->err, sizeof t->err,
                "cannot follow the trace: more than %u samples would be thinned", TRD_MAX_SAMPLES);
        return -EINVAL;
    }
    if (t->sample_stride == 0)
        t->sample_stride = 1;
    if (t->samples_seen++ % t->sample_stride != 0)
        return 0;
    if (t->n_samples == TRD_MAX_SAMPLES) {
        size_t n = 0;
        for (size_t i = 0; i < t->n_samples; i += 2)
            t->samples[n++] = t->samples[i];
        t->n_samples = n;
        t->sample_stride *= 2;
        if ((t->samples_seen - 1) % t->sample_stride != 0)
            return 0;
    }
    int rc = grow((void **)&t->samples, &t->cap_samples, t->n_samples + 1, sizeof *t->samples);
    if (rc < 0)
        return rc;
    t->samples[t->n_samples++] = *s;
    return 0;
}

static void fmt_decode_err(char *err, size_t len, int rc, uint8_t type, const char *why,
                           uint32_t seq, uint32_t thread, uint64_t off)
{
    if (rc == RD_UNKNOWN)
        set_err(err, len,
                "unknown record type %u in block %" PRIu32 " of thread %" PRIu32
                " at offset %" PRIu64,
                type, seq, thread, off);
    else
        set_err(err, len,
                "corrupt record in block %" PRIu32 " of thread %" PRIu32 " at offset %" PRIu64
                " (%s)",
                seq, thread, off, why);
}

/* ---- pass 1 ---- */

/* Take the metadata r owns into col / t. */
static int collect_meta(struct trd_trace *t, struct collect *col, struct rec *r, uint32_t thread,
                        uint64_t clock)
{
    switch (r->type) {
    case TR_REC_STACK:
        if (grow((void **)&col->stk, &col->cap_stk, col->n_stk + 1, sizeof *col->stk) < 0) {
            free(r->stk.s.frames);
            return -ENOMEM;
        }
        col->stk[col->n_stk++] = r->stk;
        return 0;
    case TR_REC_MODULES:
        if (grow((void **)&col->snp, &col->cap_snp, col->n_snp + 1, sizeof *col->snp) < 0) {
            mm_snapshot_fini(&r->snap);
            return -ENOMEM;
        }
        r->snap.time_ns = clock;
        col->snp[col->n_snp].s = r->snap;
        col->snp[col->n_snp].order = col->n_snp;
        col->n_snp++;
        return 0;
    case TR_REC_PROCESS:
        /* A second PROCESS record (there should be one) replaces the first. */
        free(t->exe);
        free(t->cmdline);
        t->exe = r->exe;
        t->cmdline = r->cmdline;
        return 0;
    case TR_REC_THREAD:
        if (grow((void **)&col->tid, &col->cap_tid, col->n_tid + 1, sizeof *col->tid) < 0)
            return -ENOMEM;
        col->tid[col->n_tid].serial = thread;
        col->tid[col->n_tid].tid = r->tid;
        col->n_tid++;
        return 0;
    case TR_REC_SAMPLE:
        r->smp.time_ns = clock;
        return sample_keep(t, &r->smp);
    case TR_REC_SYMBOLS:
        /* One table per file (path and build id): a second record of the
         * same file (loaded again at another base) adds nothing. */
        for (size_t i = 0; i < t->n_symtabs; i++) {
            const struct symtab *o = &t->symtabs[i];
            if (o->build_id_len == r->sym.build_id_len &&
                memcmp(o->build_id, r->sym.build_id, o->build_id_len) == 0 &&
                strcmp(o->path, r->sym.path) == 0) {
                symtab_fini(&r->sym);
                return 0;
            }
        }
        if (grow((void **)&t->symtabs, &t->cap_symtabs, t->n_symtabs + 1, sizeof *t->symtabs) <
            0) {
            symtab_fini(&r->sym);
            return -ENOMEM;
        }
        t->symtabs[t->n_symtabs++] = r->sym;
        return 0;
    case TR_REC_WATERMARK:
        t->watermark_ns = r->watermark_ns;
        return 0;
    case TR_REC_END:
        t->end_seen = 1;
        t->exit_status = r->exit_status;
        t->signal = (int)r->signal;
        t->lost_events = r->lost;
        return 0;
    default:
        return 0;
    }
}

/* Decode every record of one block payload, fill the index entry b, collect
 * metadata. n_records is the header's count, which must match. */
static int scan_block(struct trd_trace *t, struct collect *col, const uint8_t *buf, struct blk *b,
                      uint32_t n_records, char *err, size_t errlen)
{
    struct tr_cursor c = {buf, buf + b->rec_bytes};
    uint64_t clock = b->first_ns, prev = 0;
    uint32_t n = 0, max_stack = col->max_ref_stack;
    struct rec r;
    int rc;

    while (c.p < c.end) {
        const uint8_t *at = c.p;
        const char *why;
        uint8_t type = *c.p;
        if (is_event(type)) {
            struct evrec e;
            c.p++;
            rc = ev_decode(&c, type, &prev, &e, &why);
            if (rc < 0)
                goto bad;
            n++;
            clock += e.dt;
            if (b->n_events == 0)
                b->ev_first_ns = clock;
            clock += e.dt2;
            b->n_events++;
            b->ev_last_ns = clock;
            if (e.stack > max_stack)
                max_stack = e.stack;
            continue;
        }
        rc = rec_decode(&c, &r, 1, &why);
        if (rc < 0)
            goto bad;
        n++;
        clock += r.dt;
        rc = collect_meta(t, col, &r, b->thread, clock);
        if (rc < 0)
            return rc;
        continue;
    bad:
        if (rc == -ENOMEM)
            return rc;
        fmt_decode_err(err, errlen, rc, type, why, b->seq, b->thread,
                       b->offset + (uint64_t)(at - buf));
        return -EINVAL;
    }
    col->max_ref_stack = max_stack;
    if (n != n_records) {
        set_err(err, errlen,
                "corrupt block %" PRIu32 " of thread %" PRIu32 " at offset %" PRIu64
                ": header says %" PRIu32 " records, payload holds %" PRIu32,
                b->seq, b->thread, b->offset - BLOCK_HEADER_BYTES, n_records, n);
        return -EINVAL;
    }
    return 0;
}

static int blk_cmp(const void *a, const void *b)
{
    const struct blk *x = a, *y = b;
    if (x->thread != y->thread)
        return x->thread < y->thread ? -1 : 1;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return 0;
}

static int snap_cmp(const void *a, const void *b)
{
    const struct snapdef *x = a, *y = b;
    if (x->s.time_ns != y->s.time_ns)
        return x->s.time_ns < y->s.time_ns ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int sample_cmp(const void *a, const void *b)
{
    const struct trd_sample *x = a, *y = b;
    return x->time_ns < y->time_ns ? -1 : x->time_ns > y->time_ns;
}

static int thr_ref_cmp(const void *a, const void *b)
{
    const struct thr_ref *x = a, *y = b;
    return x->serial < y->serial ? -1 : x->serial > y->serial;
}

/* The slot of serial in t->thr_slots: its own, or the empty one where it
 * would go. */
static uint32_t *thr_slot(const struct trd_trace *t, uint32_t serial)
{
    size_t mask = t->cap_slots - 1;
    size_t i = (size_t)(serial * 0x9e3779b1u) & mask;
    while (t->thr_slots[i] != 0 && t->threads[t->thr_slots[i] - 1].pub.serial != serial)
        i = (i + 1) & mask;
    return &t->thr_slots[i];
}

/* The index of the thread of serial in t->threads, or SIZE_MAX. */
static size_t thr_find(struct trd_trace *t, uint32_t serial)
{
    if (t->n_threads > 0 && t->threads[t->last_thr].pub.serial == serial)
        return t->last_thr;
    if (t->cap_slots == 0)
        return SIZE_MAX;
    uint32_t slot = *thr_slot(t, serial);
    if (slot == 0)
        return SIZE_MAX;
    t->last_thr = slot - 1;
    return t->last_thr;
}

/* A new thread of serial, with its cursor (zeroed) and a heap slot. Its
 * index in *k. */
static int thr_new(struct trd_trace *t, uint32_t serial, size_t *k)
{
    if (2 * (t->n_threads + 1) > t->cap_slots) {
        size_t cap = t->cap_slots ? 2 * t->cap_slots : 16;
        uint32_t *slots = calloc(cap, sizeof *slots);
        if (slots == NULL)
            return -ENOMEM;
        free(t->thr_slots);
        t->thr_slots = slots;
        t->cap_slots = cap;
        for (size_t i = 0; i < t->n_threads; i++)
            *thr_slot(t, t->threads[i].pub.serial) = (uint32_t)(i + 1);
    }
    if (t->n_threads == t->cap_threads) {
        size_t cap = t->cap_threads ? 2 * t->cap_threads : 8;
        struct thr *th = realloc(t->threads, cap * sizeof *th);
        if (th != NULL)
            t->threads = th;
        struct cur *c = realloc(t->curs, cap * sizeof *c);
        if (c != NULL)
            t->curs = c;
        size_t *h = realloc(t->heap, cap * sizeof *h);
        if (h != NULL)
            t->heap = h;
        if (th == NULL || c == NULL || h == NULL)
            return -ENOMEM;
        t->cap_threads = cap;
    }
    *k = t->n_threads++;
    memset(&t->threads[*k], 0, sizeof t->threads[*k]);
    memset(&t->curs[*k], 0, sizeof t->curs[*k]);
    t->threads[*k].pub.serial = serial;
    t->curs[*k].waiting = t->started; /* following: joins the merge at its first block */
    *thr_slot(t, serial) = (uint32_t)(*k + 1);
    t->last_thr = *k;
    return 0;
}

/* Add block b to its thread's list (the thread is made at its first). */
static int thr_add_block(struct trd_trace *t, const struct blk *b)
{
    size_t k = thr_find(t, b->thread);
    int rc;
    if (k == SIZE_MAX && (rc = thr_new(t, b->thread, &k)) < 0)
        return rc;
    struct thr *th = &t->threads[k];
    rc = grow((void **)&th->blk, &th->cap_blk, th->n_blk + 1, sizeof *th->blk);
    if (rc < 0)
        return rc;
    if (!t->following) { /* sorted once, at the end (build_threads) */
        if (th->n_blk > 0 && b->seq <= th->blk[th->n_blk - 1].seq)
            th->unsorted = 1;
        th->blk[th->n_blk++] = *b;
        return 0;
    }
    /* Following: in place now, above the blocks the cursor has taken
     * (those are seq 0, 1, ...: one that belongs among them is a duplicate,
     * which build_threads sorts into place and reports at the end). Blocks
     * come nearly in seq order: the walk is short. */
    size_t i = th->n_blk, lo = t->curs[k].next_blk;
    while (i > lo && th->blk[i - 1].seq > b->seq) {
        th->blk[i] = th->blk[i - 1];
        i--;
    }
    if (i > 0 && i == lo && b->seq <= th->blk[i - 1].seq)
        th->unsorted = 1;
    th->blk[i] = *b;
    th->n_blk++;
    /* The totals so far; build_threads makes them exact at the end. */
    if (b->n_events > 0) {
        if (t->event_records == 0 || b->ev_first_ns < t->first_ns)
            t->first_ns = b->ev_first_ns;
        if (b->ev_last_ns > t->last_ns)
            t->last_ns = b->ev_last_ns;
        th->pub.events += b->n_events;
        t->event_records += b->n_events;
    }
    t->rejoin = 1;
    return 0;
}

/* Sort each thread's blocks by seq and check its seq run. A gap is
 * corruption in a whole file; in a cut one the thread's stream ends there
 * (its later blocks were flushed before the missing one, which was lost).
 * Then the public list of threads, by serial, and the totals over the
 * blocks that are replayed. */
static int build_threads(struct trd_trace *t, char *err, size_t errlen)
{
    free(t->by_serial);
    t->by_serial = calloc(t->n_threads ? t->n_threads : 1, sizeof *t->by_serial);
    if (t->by_serial == NULL)
        return -ENOMEM;
    for (size_t k = 0; k < t->n_threads; k++) {
        struct thr *th = &t->threads[k];
        if (th->unsorted)
            qsort(th->blk, th->n_blk, sizeof *th->blk, blk_cmp);
        th->unsorted = 0;
        t->by_serial[k].serial = th->pub.serial;
        t->by_serial[k].k = (uint32_t)k;
    }
    if (t->n_threads > 1)
        qsort(t->by_serial, t->n_threads, sizeof *t->by_serial, thr_ref_cmp);

    int have_events = 0;
    t->n_pub = 0;
    t->event_records = 0;
    t->first_ns = t->last_ns = 0;
    for (size_t i = 0; i < t->n_threads; i++) {
        struct thr *th = &t->threads[t->by_serial[i].k];
        uint32_t serial = th->pub.serial;
        size_t kept = SIZE_MAX;
        for (size_t j = 0; j < th->n_blk; j++) {
            const struct blk *b = &th->blk[j];
            if (j > 0 && b->seq == th->blk[j - 1].seq) {
                set_err(err, errlen,
                        "corrupt trace: thread %" PRIu32 " has two blocks numbered %" PRIu32,
                        serial, b->seq);
                return -EINVAL;
            }
            if (kept == SIZE_MAX && b->seq != j) {
                if (!t->truncated) {
                    set_err(err, errlen,
                            "corrupt trace: block %zu of thread %" PRIu32 " is missing", j, serial);
                    return -EINVAL;
                }
                kept = j;
            }
        }
        if (kept != SIZE_MAX)
            th->n_blk = kept; /* the blocks past the gap are not replayed */
        th->pub.events = 0;
        if (th->n_blk == 0)
            continue;
        t->by_serial[t->n_pub++] = t->by_serial[i];
        for (size_t j = 0; j < th->n_blk; j++) {
            const struct blk *b = &th->blk[j];
            if (b->n_events == 0)
                continue;
            if (!have_events || b->ev_first_ns < t->first_ns)
                t->first_ns = b->ev_first_ns;
            if (!have_events || b->ev_last_ns > t->last_ns)
                t->last_ns = b->ev_last_ns;
            have_events = 1;
            th->pub.events += b->n_events;
        }
        t->event_records += th->pub.events;
    }
    return 0;
}

/* Move the STACK definitions collected since the last call into the dense
 * stack table, which grows to the highest id defined or referenced by a
 * block pass 1 decoded. */
static int take_stacks(struct trd_trace *t, char *err, size_t errlen)
{
    struct collect *col = &t->col;
    uint32_t max_id = col->max_ref_stack;
    for (size_t i = 0; i < col->n_stk; i++)
        if (col->stk[i].id > max_id)
            max_id = col->stk[i].id;
    size_t n_defs = t->n_stack_defs + col->n_stk;
    if ((uint64_t)max_id > 2 * (uint64_t)n_defs + STACK_ID_SLACK) {
        set_err(err, errlen,
                "corrupt trace: stack id %" PRIu32 " out of range (%zu stacks defined)", max_id,
                n_defs);
        return -EINVAL;
    }
    if (t->stacks == NULL || max_id >= t->n_stacks) {
        struct trd_stack *s = realloc(t->stacks, ((size_t)max_id + 1) * sizeof *s);
        if (s == NULL)
            return -ENOMEM;
        memset(s + t->n_stacks, 0, ((size_t)max_id + 1 - t->n_stacks) * sizeof *s);
        t->stacks = s;
        t->n_stacks = max_id + 1;
    }
    t->n_stack_defs = n_defs;
    t->stack_id_limit = 2 * (uint64_t)n_defs + STACK_ID_SLACK;
    /* In file order, so that of two definitions of one id the first wins. */
    for (size_t i = 0; i < col->n_stk; i++) {
        struct trd_stack *s = &t->stacks[col->stk[i].id];
        if (s->frames == NULL)
            *s = col->stk[i].s;
        else
            free(col->stk[i].s.frames);
        col->stk[i].s.frames = NULL;
    }
    col->n_stk = 0;
    return 0;
}

static void collect_fini(struct collect *col)
{
    for (size_t i = 0; i < col->n_stk; i++)
        free(col->stk[i].s.frames);
    for (size_t i = 0; i < col->n_snp; i++)
        mm_snapshot_fini(&col->snp[i].s);
    free(col->stk);
    free(col->snp);
    free(col->tid);
    memset(col, 0, sizeof *col);
}

static int read_header(struct trd_trace *t, char *err, size_t errlen)
{
    uint8_t h[FILE_HEADER_BYTES];
    if (t->file_bytes < FILE_HEADER_BYTES) {
        set_err(err, errlen, "not a memaudit trace: %" PRIu64 " bytes, shorter than a header",
                t->file_bytes);
        return -EINVAL;
    }
    int rc = read_full(t->fd, h, sizeof h, 0);
    if (rc < 0) {
        set_err(err, errlen, "cannot read the header: %s", strerror(rc == -ENODATA ? EIO : -rc));
        return rc == -ENODATA ? -EIO : rc;
    }
    memcpy(t->hdr.magic, h, 8);
    t->hdr.version = le32(h + 8);
    t->hdr.header_bytes = le32(h + 12);
    t->hdr.pid = le32(h + 16);
    t->hdr.ppid = le32(h + 20);
    t->hdr.start_mono_ns = le64(h + 24);
    t->hdr.start_real_ns = le64(h + 32);
    t->hdr.flags = le32(h + 40);
    t->hdr.max_frames = le32(h + 44);
    t->hdr.sample_bytes = le64(h + 48);
    t->hdr.reserved = le64(h + 56);
    if (memcmp(t->hdr.magic, TR_MAGIC, 8) != 0) {
        set_err(err, errlen, "not a memaudit trace (bad magic)");
        return -EINVAL;
    }
    if (t->hdr.version != TR_VERSION) {
        set_err(err, errlen, "unsupported trace version %" PRIu32 " (this reader knows %u)",
                t->hdr.version, TR_VERSION);
        return -EINVAL;
    }
    if (t->hdr.header_bytes < FILE_HEADER_BYTES || t->hdr.header_bytes > t->file_bytes) {
        set_err(err, errlen, "corrupt trace header: header_bytes %" PRIu32, t->hdr.header_bytes);
        return -EINVAL;
    }
    return 0;
}

/* Read block b's payload into *buf (through *raw when compressed) and
 * decode every record (scan_block). 0, -ENODATA when the file ends first,
 * or another negative errno with err set. */
static int scan_payload(struct trd_trace *t, struct collect *col, struct blk *b, uint8_t **buf,
                        size_t *buf_cap, uint8_t **raw, size_t *raw_cap, char *err, size_t errlen)
{
    /* At least 1 byte: an empty first block would leave buf NULL, and
     * NULL + 0 is undefined (found by fuzz/fuzz_trace.c). */
    int rc = grow((void **)buf, buf_cap, b->payload_bytes ? b->payload_bytes : 1, 1);
    if (rc < 0)
        return rc;
    rc = read_full(t->fd, *buf, b->payload_bytes, b->offset);
    if (rc == -ENODATA)
        return rc;
    if (rc < 0) {
        set_err(err, errlen, "read error at offset %" PRIu64 ": %s", b->offset, strerror(-rc));
        return rc;
    }
    const uint8_t *recs = *buf;
    if (b->flags & TR_BLOCK_ZSTD) {
        rc = unzstd(t, *buf, b, raw, raw_cap, err, errlen);
        if (rc < 0)
            return rc;
        recs = *raw;
    }
    return scan_block(t, col, recs, b, b->n_records, err, errlen);
}

/* Index block b without decoding it (its header said n_records) when it
 * holds events only: no TR_BLOCK_HAS_META (nor compression), and its first
 * record is an event, whose clock is the block's first event time. The
 * rest waits for the replay (deferred; see the top of this file). 1 = done
 * so, 0 = pass 1 must decode it, -ENODATA the file ends first, or -errno. */
static int defer_block(struct trd_trace *t, struct blk *b, uint32_t n_records)
{
    uint8_t head[12]; /* type, fn and dt, at most 10 bytes */
    uint64_t dt;
    if ((b->flags & (TR_BLOCK_HAS_META | TR_BLOCK_ZSTD)) != 0 || n_records == 0 ||
        b->payload_bytes == 0)
        return 0;
    size_t n = b->payload_bytes < sizeof head ? b->payload_bytes : sizeof head;
    int rc = read_full(t->fd, head, n, b->offset);
    if (rc < 0)
        return rc;
    struct tr_cursor c = {head + 2, head + n};
    if (n < 3 || !is_event(head[0]) || head[1] == 0 || head[1] >= TR_FN_COUNT_ ||
        tr_get_u64(&c, &dt) < 0)
        return 0;
    b->deferred = 1;
    b->n_events = n_records;
    b->ev_first_ns = b->first_ns + dt;
    b->ev_last_ns = b->ev_first_ns; /* until the replay has read it */
    return 1;
}

/* The file ends inside a block: the trace was cut there, or, while
 * following it, the rest is not written yet. */
static void at_eof(struct trd_trace *t)
{
    if (!t->following)
        t->truncated = 1;
}

/* Following (up to and with trd_follow_end's last look): -EPROTO, with
 * the reason in err, when block b (at file offset off) has an event stamped
 * below wm, the latest WATERMARK before it in the file. The recorder
 * promised that none comes after it (docs/trace-format.md, "Watermarks"),
 * and the replay may have handed out events up to it: b's events would
 * then be out of order, and the caller replays the finished trace instead.
 * A block's first event is its earliest (a thread's clock never goes back). */
static int late_block(struct trd_trace *t, const struct blk *b, uint64_t wm, uint64_t off,
                      char *err, size_t errlen)
{
    if (t->limit_ns == UINT64_MAX || b->n_events == 0 || b->ev_first_ns >= wm)
        return 0;
    set_err(err, errlen,
            "cannot follow the trace: block %" PRIu32 " of thread %" PRIu32 " at offset %" PRIu64
            " has an event stamped %" PRIu64 " ns, below the WATERMARK of %" PRIu64
            " ns before it",
            b->seq, b->thread, off, b->ev_first_ns, wm);
    return -EPROTO;
}

/* Pass 1, from t->bytes_read on: index every whole block, decode those
 * that hold metadata (and those that are not plainly events only), collect
 * metadata into t->col. */
static int scan_file(struct trd_trace *t, char *err, size_t errlen)
{
    struct collect *col = &t->col;
    uint8_t *buf = NULL, *raw = NULL;
    size_t buf_cap = 0, raw_cap = 0;
    uint64_t off = t->bytes_read;
    int rc = 0;

    while (off < t->file_bytes) {
        uint8_t h[BLOCK_HEADER_BYTES];
        if (t->file_bytes - off < BLOCK_HEADER_BYTES) {
            at_eof(t);
            break;
        }
        rc = read_full(t->fd, h, sizeof h, off);
        if (rc == -ENODATA) { /* the file shrank under us: same as cut */
            rc = 0;
            at_eof(t);
            break;
        }
        if (rc < 0) {
            set_err(err, errlen, "read error at offset %" PRIu64 ": %s", off, strerror(-rc));
            goto fail;
        }
        struct blk b = {0};
        uint32_t magic = le32(h);
        b.thread = le32(h + 4);
        b.seq = le32(h + 8);
        b.payload_bytes = le32(h + 12);
        uint32_t n_records = le32(h + 16);
        b.flags = le32(h + 20);
        b.rec_bytes = b.payload_bytes;
        b.first_ns = le64(h + 24);
        b.offset = off + BLOCK_HEADER_BYTES;
        rc = -EINVAL;
        if (magic != TR_BLOCK_MAGIC) {
            set_err(err, errlen, "corrupt trace: bad block magic at offset %" PRIu64, off);
            goto fail;
        }
        if (b.payload_bytes > TR_MAX_BLOCK_BYTES) {
            set_err(err, errlen,
                    "corrupt trace: block at offset %" PRIu64 " claims %" PRIu32
                    " bytes (limit %u)",
                    off, b.payload_bytes, TR_MAX_BLOCK_BYTES);
            goto fail;
        }
        if (t->file_bytes - b.offset < b.payload_bytes) {
            rc = 0;
            at_eof(t);
            break;
        }
        b.n_records = n_records;
        uint64_t wm_before = t->watermark_ns; /* a WATERMARK in this block is after its records */
        rc = defer_block(t, &b, n_records);
        if (rc == -ENODATA) {
            rc = 0;
            at_eof(t);
            break;
        }
        if (rc < 0) {
            set_err(err, errlen, "read error at offset %" PRIu64 ": %s", b.offset, strerror(-rc));
            goto fail;
        }
        if (rc == 0) {
            rc = scan_payload(t, col, &b, &buf, &buf_cap, &raw, &raw_cap, err, errlen);
            if (rc == -ENODATA) {
                rc = 0;
                at_eof(t);
                break;
            }
            if (rc < 0)
                goto fail;
        }
        rc = late_block(t, &b, wm_before, off, err, errlen);
        if (rc < 0)
            goto fail;
        rc = thr_add_block(t, &b);
        if (rc < 0)
            goto fail;
        off = b.offset + b.payload_bytes;
    }
    t->bytes_read = off;
    free(buf);
    free(raw);
    return 0;
fail:
    free(buf);
    free(raw);
    return rc;
}

static int samples_sorted(const struct trd_trace *t)
{
    for (size_t i = 1; i < t->n_samples; i++)
        if (t->samples[i].time_ns < t->samples[i - 1].time_ns)
            return 0;
    return 1;
}

/* Kernel tids from the THREAD records collected since the last call: the
 * last record of each thread wins. */
static void take_tids(struct trd_trace *t)
{
    struct collect *col = &t->col;
    for (size_t i = 0; i < col->n_tid; i++) {
        size_t k = thr_find(t, col->tid[i].serial);
        if (k != SIZE_MAX)
            t->threads[k].pub.tid = col->tid[i].tid;
    }
    col->n_tid = 0;
}

/* What trd_open() does once pass 1 has read the file: the tables built
 * from the index and the collected metadata. */
static int finish_index(struct trd_trace *t, char *err, size_t errlen)
{
    struct collect *col = &t->col;
    int rc = build_threads(t, err, errlen);
    if (rc < 0)
        return rc;
    rc = take_stacks(t, err, errlen);
    if (rc < 0)
        return rc;

    /* Module maps in time order; equal times keep file order. */
    if (col->n_snp > 1)
        qsort(col->snp, col->n_snp, sizeof *col->snp, snap_cmp);
    t->snaps = calloc(col->n_snp ? col->n_snp : 1, sizeof *t->snaps);
    if (t->snaps == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < col->n_snp; i++)
        t->snaps[i] = col->snp[i].s;
    t->n_snaps = col->n_snp;
    col->n_snp = 0; /* now owned by t */

    /* Saved symbols go with every module of their file, in every snapshot. */
    for (size_t i = 0; i < t->n_snaps && t->n_symtabs > 0; i++) {
        for (uint32_t j = 0; j < t->snaps[i].n_modules; j++) {
            struct mm_module *m = &t->snaps[i].modules[j];
            for (size_t k = 0; k < t->n_symtabs; k++) {
                const struct symtab *tab = &t->symtabs[k];
                if (tab->build_id_len == m->build_id_len &&
                    memcmp(tab->build_id, m->build_id, tab->build_id_len) == 0 &&
                    strcmp(tab->path, m->path) == 0) {
                    m->symbols = tab->syms;
                    m->n_symbols = tab->n;
                    break;
                }
            }
        }
    }

    /* One thread writes the samples, so they are nearly always in order
     * already; the sort makes that an invariant, not an assumption. Samples
     * in order are left as they are (qsort need not keep equal times so). */
    if (!samples_sorted(t))
        qsort(t->samples, t->n_samples, sizeof *t->samples, sample_cmp);
    take_tids(t);
    return 0;
}

/* The file's size now, in t->file_bytes. */
static int stat_size(struct trd_trace *t, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(t->fd, &st) < 0) {
        int rc = -errno;
        set_err(err, errlen, "cannot stat: %s", strerror(errno));
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        set_err(err, errlen, "not a regular file");
        return -EINVAL;
    }
    t->file_bytes = (uint64_t)st.st_size;
    return 0;
}

/* trd_open() and trd_open_follow(): a new trace with path open and its
 * header read. */
static int open_header(const char *path, int follow, struct trd_trace **out, char *err,
                       size_t errlen)
{
    struct trd_trace *t = calloc(1, sizeof *t);
    int rc = -ENOMEM;

    *out = NULL;
    if (t == NULL) {
        set_err(err, errlen, "out of memory");
        return rc;
    }
    t->exit_status = -1;
    t->following = follow;
    t->limit_ns = follow ? 0 : UINT64_MAX;
    t->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (t->fd < 0) {
        rc = -errno;
        set_err(err, errlen, "cannot open: %s", strerror(errno));
        goto fail;
    }
    rc = stat_size(t, err, errlen);
    if (rc < 0)
        goto fail;
    if (follow && t->file_bytes < FILE_HEADER_BYTES) {
        rc = -EAGAIN;
        set_err(err, errlen, "no header yet (%" PRIu64 " bytes)", t->file_bytes);
        goto fail;
    }
    rc = read_header(t, err, errlen);
    if (rc < 0)
        goto fail;
    t->bytes_read = t->hdr.header_bytes;
    *out = t;
    return 0;
fail:
    trd_close(t);
    return rc;
}

int trd_open(const char *path, struct trd_trace **out, char *err, size_t errlen)
{
    struct trd_trace *t;
    int rc = open_header(path, 0, &t, err, errlen);
    if (rc < 0)
        return rc;
    rc = scan_file(t, err, errlen);
    if (rc < 0)
        goto fail;
    rc = finish_index(t, err, errlen);
    if (rc < 0)
        goto fail;
    collect_fini(&t->col);
    *out = t;
    return 0;
fail:
    if (rc == -ENOMEM)
        set_err(err, errlen, "out of memory");
    trd_close(t);
    return rc;
}

/* ---- follow mode ---- */

static int follow_fail(struct trd_trace *t, int rc)
{
    if (rc == -ENOMEM)
        set_err(t->err, sizeof t->err, "out of memory");
    t->fail = rc;
    return rc;
}

/* Index what came since the last look (pass 1 from t->bytes_read): the
 * stacks, tids and the public thread list grow, the limit moves up to the
 * latest watermark. 1 = something new, 0 = nothing, <0 error (in t->err). */
static int follow_scan(struct trd_trace *t)
{
    uint64_t before = t->bytes_read;
    size_t n_threads = t->n_threads;
    int rc = scan_file(t, t->err, sizeof t->err);
    if (rc < 0)
        return rc;
    rc = take_stacks(t, t->err, sizeof t->err);
    if (rc < 0)
        return rc;
    take_tids(t);
    if (t->n_threads != n_threads) {
        /* Every thread is public while following (build_threads decides
         * at the end which are replayed). */
        struct thr_ref *r = realloc(t->by_serial, t->n_threads * sizeof *r);
        if (r == NULL)
            return -ENOMEM;
        t->by_serial = r;
        for (size_t k = 0; k < t->n_threads; k++) {
            r[k].serial = t->threads[k].pub.serial;
            r[k].k = (uint32_t)k;
        }
        qsort(r, t->n_threads, sizeof *r, thr_ref_cmp);
        t->n_pub = t->n_threads;
    }
    if (t->watermark_ns > t->limit_ns)
        t->limit_ns = t->watermark_ns;
    return t->bytes_read != before;
}

int trd_open_follow(const char *path, struct trd_trace **out, char *err, size_t errlen)
{
    struct trd_trace *t;
    int rc = open_header(path, 1, &t, err, errlen);
    if (rc < 0)
        return rc;
    rc = follow_scan(t);
    if (rc < 0) {
        if (rc == -ENOMEM)
            set_err(t->err, sizeof t->err, "out of memory");
        set_err(err, errlen, "%s", t->err);
        trd_close(t);
        return rc;
    }
    *out = t;
    return 0;
}

int trd_follow_update(struct trd_trace *t)
{
    if (t->fail)
        return t->fail;
    if (!t->following)
        return 0;
    int rc = stat_size(t, t->err, sizeof t->err);
    if (rc < 0)
        return follow_fail(t, rc);
    if (t->file_bytes == t->bytes_read)
        return 0;
    rc = follow_scan(t);
    return rc < 0 ? follow_fail(t, rc) : rc;
}

int trd_follow_end(struct trd_trace *t)
{
    if (t->fail)
        return t->fail;
    if (!t->following)
        return 0;
    t->following = 0; /* from here on a block past the end is a cut */
    int rc = stat_size(t, t->err, sizeof t->err);
    if (rc == 0)
        rc = scan_file(t, t->err, sizeof t->err);
    if (rc == 0)
        rc = finish_index(t, t->err, sizeof t->err);
    if (rc < 0)
        return follow_fail(t, rc);
    collect_fini(&t->col);
    t->limit_ns = UINT64_MAX;
    t->rejoin = 1; /* the cursors that waited go on, or find their end */
    return 0;
}

void trd_close(struct trd_trace *t)
{
    if (t == NULL)
        return;
    trd_stream_end(t);
    if (t->fd >= 0)
        close(t->fd);
    for (uint32_t i = 0; i < t->n_stacks; i++)
        free(t->stacks[i].frames);
    free(t->stacks);
    for (size_t i = 0; i < t->n_snaps; i++)
        mm_snapshot_fini(&t->snaps[i]);
    free(t->snaps);
    free(t->samples);
    for (size_t i = 0; i < t->n_symtabs; i++)
        symtab_fini(&t->symtabs[i]);
    free(t->symtabs);
    if (t->curs != NULL) {
        for (size_t i = 0; i < t->n_threads; i++) {
            free(t->curs[i].buf);
            free(t->curs[i].evs);
        }
    }
    free(t->curs);
    free(t->heap);
    for (size_t k = 0; k < t->n_threads; k++)
        free(t->threads[k].blk);
    free(t->threads);
    free(t->thr_slots);
    free(t->by_serial);
    collect_fini(&t->col);
    free(t->zbuf);
    ZSTD_freeDCtx(t->dctx);
    free(t->exe);
    free(t->cmdline);
    free(t);
}

/* ---- replay ---- */

static int replay_fail(struct trd_trace *t, int rc)
{
    if (rc == -ENOMEM)
        set_err(t->err, sizeof t->err, "out of memory");
    t->fail = rc;
    return rc;
}

/* Load the thread's next block into its cursor. 1 = loaded, 0 = no more. */
static int cur_load(struct trd_trace *t, size_t k)
{
    struct cur *c = &t->curs[k];
    const struct thr *th = &t->threads[k];
    if (c->next_blk >= th->n_blk || th->blk[c->next_blk].seq != c->next_blk) {
        if (t->following)
            return -EAGAIN; /* not indexed yet */
        free(c->buf); /* done with this thread: give its buffer back early */
        c->buf = NULL;
        c->cap = 0;
        return 0;
    }
    struct blk b = th->blk[c->next_blk];
    int zstd = (b.flags & TR_BLOCK_ZSTD) != 0;
    uint8_t **dst = zstd ? &t->zbuf : &c->buf;
    size_t *dst_cap = zstd ? &t->zcap : &c->cap;
    int rc = grow((void **)dst, dst_cap, b.payload_bytes ? b.payload_bytes : 1, 1);
    if (rc < 0)
        return rc;
    rc = read_full(t->fd, *dst, b.payload_bytes, b.offset);
    if (rc < 0) {
        if (rc == -ENODATA)
            rc = -EIO;
        set_err(t->err, sizeof t->err, "read error at offset %" PRIu64 ": %s", b.offset,
                rc == -EIO ? "the file shrank while being read" : strerror(-rc));
        return rc;
    }
    /* The file changed since pass 1 if this fails now. */
    if (zstd && (rc = unzstd(t, t->zbuf, &b, &c->buf, &c->cap, t->err, sizeof t->err)) < 0)
        return rc;
    c->next_blk++;
    c->c.p = c->buf;
    c->c.end = c->buf + b.rec_bytes;
    c->payload_off = b.offset;
    c->seq = b.seq;
    c->deferred = b.deferred;
    c->n_records = b.n_records;
    c->records = 0;
    c->clock = b.first_ns;
    c->prev_ptr = 0;
    return 1;
}

/* The replay has read the whole of a deferred block (pass 1 did not): what
 * pass 1 checks at the end of a block, and its last event time. */
static int deferred_end(struct trd_trace *t, size_t k)
{
    struct cur *c = &t->curs[k];
    uint32_t serial = t->threads[k].pub.serial;
    c->deferred = 0;
    if (c->records != c->n_records) {
        set_err(t->err, sizeof t->err,
                "corrupt block %" PRIu32 " of thread %" PRIu32 " at offset %" PRIu64
                ": header says %" PRIu32 " records, payload holds %" PRIu32,
                c->seq, serial, c->payload_off - BLOCK_HEADER_BYTES, c->n_records, c->records);
        return -EINVAL;
    }
    if (c->clock > t->last_ns)
        t->last_ns = c->clock; /* every record is an event: the clock stands at the last */
    /* For build_threads, should trd_follow_end() run it after this. */
    t->threads[k].blk[c->next_blk - 1].ev_last_ns = c->clock;
    return 0;
}

/* Where cur_decode() puts events: evs[n .. cap), cap >= 2 (a REALLOC takes
 * two). grow: evs is the cursor's own array, which may grow up to
 * CUR_EVENTS; else a fixed array, where a PHASE event is the last (a batch,
 * batch_decode_direct()). */
struct ev_dst {
    struct trd_event *evs;
    size_t n, cap;
    int grow;
};

/* Decode cursor k's next events into d, never past the end of the loaded
 * block (a PHASE event's name points into it). 1 = some decoded, 0 = thread
 * done, <0 error. A record that fails to decode after some events were
 * decoded is left for the next call, so that the error comes when the stream
 * reaches it, as trd_next() promises. A deferred block's records are checked
 * as pass 1 checks the others. */
static int cur_decode(struct trd_trace *t, size_t k, struct ev_dst *d)
{
    struct cur *c = &t->curs[k];
    uint32_t serial = t->threads[k].pub.serial;
    uint32_t bad_stack = 0;
    c->n_ev = c->i_ev = 0;
    for (;;) {
        if (c->buf == NULL || c->c.p >= c->c.end) {
            if (d->n > 0)
                return 1;
            if (c->deferred) {
                int rc = deferred_end(t, k);
                if (rc < 0)
                    return rc;
            }
            int rc = cur_load(t, k);
            if (rc <= 0)
                return rc;
            continue;
        }
        if (d->n + 2 > d->cap) {
            if (!d->grow || d->cap >= CUR_EVENTS)
                return 1;
            size_t cap = d->cap ? d->cap * 2 : 16;
            struct trd_event *p = realloc(d->evs, cap * sizeof *p);
            if (p == NULL)
                return d->n > 0 ? 1 : -ENOMEM;
            d->evs = p;
            d->cap = cap;
        }
        const uint8_t *at = c->c.p;
        uint64_t clock0 = c->clock, prev0 = c->prev_ptr;
        uint8_t type = *at;
        const char *why;
        int rc;
        if (is_event(type)) {
            /* The place and the pointer state in locals, stored back once
             * a record: through c (and with rd_u64_slow() taking the
             * cursor's address) every field's read and move went through
             * memory (decoding thread 4% faster on bench's work trace). */
            struct evrec r;
            struct tr_cursor in = {at + 1, c->c.end};
            uint64_t prev = c->prev_ptr;
            rc = ev_decode(&in, type, &prev, &r, &why);
            if (rc < 0)
                goto bad;
            if (__builtin_expect(r.stack > t->stack_id_limit, 0)) {
                /* Pass 1 checks the blocks it decodes, the replay the others. */
                rc = RD_STACK_RANGE;
                bad_stack = r.stack;
                goto bad;
            }
            c->c.p = in.p;
            c->prev_ptr = prev;
            c->records++;
            c->clock += r.dt;
            struct trd_event *e = &d->evs[d->n++];
            e->type = type == TR_REC_FREE_EX ? TR_REC_FREE : type;
            e->fn = r.fn;
            e->part = TRD_WHOLE;
            e->has_hash = r.has_hash;
            e->thread = serial;
            e->time_ns = c->clock;
            e->ptr = r.ptr;
            e->old_ptr = r.old_ptr;
            e->size = r.size;
            e->slack = r.slack;
            e->align = r.align;
            e->hash = r.hash;
            e->name = NULL;
            e->stack = r.stack;
            e->name_len = 0;
            if (type == TR_REC_REALLOC) {
                /* Two points: the release now, the acquisition at dt2 later. */
                e->part = TRD_REALLOC_RELEASE;
                c->clock += r.dt2;
                struct trd_event *e2 = &d->evs[d->n++];
                *e2 = *e;
                e2->part = TRD_REALLOC_ACQUIRE;
                e2->time_ns = c->clock;
            }
            continue;
        }
        struct rec r;
        rc = rec_decode(&c->c, &r, 0, &why);
        if (rc < 0)
            goto bad;
        if (c->deferred) {
            why = "not an event, in a block without the metadata flag";
            rc = RD_CORRUPT;
            goto bad;
        }
        c->records++;
        c->clock += r.dt;
        if (type == TR_REC_PHASE) {
            struct trd_event *e = &d->evs[d->n++];
            memset(e, 0, sizeof *e);
            e->type = TR_REC_PHASE;
            e->thread = serial;
            e->time_ns = c->clock;
            e->name = (const char *)r.name;
            e->name_len = r.name_len;
            if (!d->grow)
                return 1;
        }
        continue;
    bad:
        if (rc == -ENOMEM)
            return d->n > 0 ? 1 : rc;
        if (d->n > 0) {
            c->c.p = at;
            c->clock = clock0;
            c->prev_ptr = prev0;
            return 1;
        }
        if (rc == RD_STACK_RANGE)
            set_err(t->err, sizeof t->err,
                    "corrupt trace: stack id %" PRIu32 " out of range (%zu stacks defined)",
                    bad_stack, t->n_stack_defs);
        else
            fmt_decode_err(t->err, sizeof t->err, rc, type, why, c->seq, serial,
                           c->payload_off + (uint64_t)(at - c->buf));
        return -EINVAL;
    }
}

/* The cursor's thread is done: give its event array back at once, as its
 * block buffer (cur_load()). Kept to the end, the small array sat above
 * the freed block buffers in the decoding thread's malloc arena, so that
 * the arena could not shrink: a report of bench's prodcons trace peaked
 * 2.9 MB higher. */
static void cur_evs_free(struct cur *c)
{
    free(c->evs);
    c->evs = NULL;
    c->cap_ev = 0;
    c->n_ev = c->i_ev = 0;
}

/* Decode the cursor's next events into its own array, up to CUR_EVENTS
 * (cur_decode()). */
static int cur_fill(struct trd_trace *t, size_t k)
{
    struct cur *c = &t->curs[k];
    struct ev_dst d = {c->evs, 0, c->cap_ev, 1};
    int rc = cur_decode(t, k, &d);
    c->evs = d.evs;
    c->cap_ev = d.cap;
    c->n_ev = d.n;
    if (rc == 0)
        cur_evs_free(c);
    return rc;
}

/* Releases sort before acquisitions at equal times (docs/trace-format.md,
 * "Global order"); then thread serial, for a deterministic merge. */
static int ev_rank(const struct trd_event *e)
{
    if (e->type == TR_REC_PHASE)
        return -1; /* events stamped at the mark's nanosecond belong to the new phase */
    return e->type == TR_REC_FREE || e->part == TRD_REALLOC_RELEASE ? 0 : 1;
}

static int ev_less(const struct trd_event *x, const struct trd_event *y)
{
    if (x->time_ns != y->time_ns)
        return x->time_ns < y->time_ns;
    int rx = ev_rank(x), ry = ev_rank(y);
    if (rx != ry)
        return rx < ry;
    return x->thread < y->thread;
}

static const struct trd_event *head_of(const struct trd_trace *t, size_t k)
{
    return &t->curs[k].evs[t->curs[k].i_ev];
}

static int key_less(const struct trd_trace *t, size_t a, size_t b)
{
    return ev_less(head_of(t, a), head_of(t, b));
}

static void heap_down(struct trd_trace *t, size_t i)
{
    size_t n = t->heap_n;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && key_less(t, t->heap[l], t->heap[m]))
            m = l;
        if (r < n && key_less(t, t->heap[r], t->heap[m]))
            m = r;
        if (m == i)
            return;
        size_t tmp = t->heap[i];
        t->heap[i] = t->heap[m];
        t->heap[m] = tmp;
        i = m;
    }
}

static void heap_up(struct trd_trace *t, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!key_less(t, t->heap[i], t->heap[p]))
            return;
        size_t tmp = t->heap[i];
        t->heap[i] = t->heap[p];
        t->heap[p] = tmp;
        i = p;
    }
}

/* Fill cursor k and put it in the heap when it has events; while
 * following, one whose next block is not indexed yet waits out of it. */
static int cur_join(struct trd_trace *t, size_t k)
{
    t->curs[k].waiting = 0;
    int rc = cur_fill(t, k);
    if (rc == -EAGAIN) {
        t->curs[k].waiting = 1;
        return 0;
    }
    if (rc > 0) {
        t->heap[t->heap_n++] = k;
        heap_up(t, t->heap_n - 1);
    }
    return rc < 0 ? rc : 0;
}

/* The merge: the cursor with the least head goes next, for as long as its
 * events stay below every other cursor's head (the least of those is one of
 * the root's two children). So a run is exactly what trd_next() would give
 * one by one, and a trace of one thread is a run per CUR_EVENTS events.
 *
 * While following, a cursor whose thread's next block is not indexed yet
 * waits out of the heap: by the watermark's invariant none of its events
 * is below t->limit_ns, and the merge hands out only events below it, so
 * what it hands out, and in which order, is what it would with every block
 * there (-EAGAIN when the next event is not below the limit). */
static int next_run(struct trd_trace *t, const struct trd_event **evs)
{
    int rc;
    if (t->fail)
        return t->fail;
    if (!t->started) {
        t->started = 1;
        t->rejoin = 0;
        for (size_t k = 0; k < t->n_threads; k++)
            if ((rc = cur_join(t, k)) < 0)
                return replay_fail(t, rc);
    } else if (t->popped) {
        /* Refill the cursor whose run the caller got last time; done here
         * so that an error is reported by the call that cannot yield. */
        t->popped = 0;
        struct cur *c = &t->curs[t->heap[0]];
        if (c->i_ev == c->n_ev) {
            rc = cur_fill(t, t->heap[0]);
            if (rc == -EAGAIN) {
                c->waiting = 1;
                rc = 0;
            }
            if (rc < 0)
                return replay_fail(t, rc);
            if (rc == 0)
                t->heap[0] = t->heap[--t->heap_n];
        }
        heap_down(t, 0);
    }
    if (t->rejoin) {
        t->rejoin = 0;
        for (size_t k = 0; k < t->n_threads; k++)
            if (t->curs[k].waiting && (rc = cur_join(t, k)) < 0)
                return replay_fail(t, rc);
    }
    if (t->heap_n == 0)
        return t->following ? -EAGAIN : 0;
    struct cur *c = &t->curs[t->heap[0]];
    size_t i = c->i_ev + 1, end = c->n_ev;
    const struct trd_event *next = NULL; /* the least other head */
    if (t->heap_n > 1) {
        next = head_of(t, t->heap[1]);
        if (t->heap_n > 2 && key_less(t, t->heap[2], t->heap[1]))
            next = head_of(t, t->heap[2]);
    }
    if (t->following) {
        if (c->evs[c->i_ev].time_ns >= t->limit_ns)
            return -EAGAIN;
        while (i < end && c->evs[i].time_ns < t->limit_ns &&
               (next == NULL || ev_less(&c->evs[i], next)))
            i++;
    } else if (next != NULL) {
        while (i < end && ev_less(&c->evs[i], next))
            i++;
    } else {
        i = end;
    }
    *evs = &c->evs[c->i_ev];
    int n = (int)(i - c->i_ev);
    c->i_ev = i;
    t->popped = 1;
    return n;
}

int trd_next_run(struct trd_trace *t, const struct trd_event **evs)
{
    if (t->run_left > 0) { /* what trd_next() left of the current run */
        int n = (int)t->run_left;
        *evs = t->run;
        t->run_left = 0;
        return n;
    }
    return next_run(t, evs);
}

int trd_next(struct trd_trace *t, struct trd_event *ev)
{
    if (t->run_left == 0) {
        int n = next_run(t, &t->run);
        if (n <= 0)
            return n;
        t->run_left = (size_t)n;
    }
    *ev = *t->run++;
    t->run_left--;
    return 1;
}

int trd_rewind(struct trd_trace *t)
{
    for (size_t k = 0; k < t->n_threads; k++) {
        struct cur *c = &t->curs[k];
        c->next_blk = 0;
        c->c.p = c->c.end = c->buf; /* keep the buffers for reuse */
        c->deferred = 0;
        c->n_ev = c->i_ev = 0;
        c->waiting = 0;
    }
    t->heap_n = 0;
    t->run_left = 0;
    t->started = 0;
    t->popped = 0;
    t->fail = 0;
    t->err[0] = '\0';
    return 0;
}

/* ---- decoding in a second thread ---- */

/* Copy the next run of events into b, as much as fits (the rest waits in
 * t->run for the next batch), up to a PHASE event. 1 = some copied, 0 = the
 * end, <0 = error (see trd_next_run()). */
static int batch_copy_run(struct trd_trace *t, struct batch *b)
{
    const struct trd_event *run = NULL;
    int rc = trd_next_run(t, &run);
    if (rc <= 0)
        return rc;
    size_t n = (size_t)rc, room = STREAM_BATCH_EVENTS - b->n;
    if (n > room)
        n = room;
    for (size_t i = 0; i < n; i++) {
        if (run[i].type == TR_REC_PHASE) {
            n = i + 1;
            break;
        }
    }
    memcpy(&b->ev[b->n], run, n * sizeof *run);
    b->n += n;
    t->run = run + n; /* the rest of the run, for the next call */
    t->run_left = (size_t)rc - n;
    return 1;
}

/* When one thread is left in the merge (all along, for a trace of one
 * thread) and its decoded events are all handed out, the next run is all it
 * decodes next: decode that straight into b, rather than into the cursor and
 * then copy it (the copy was 7% of the decoding thread's time on bench's
 * work trace), up to a PHASE event. This is the refill next_run() would do
 * (t->popped), and the cursor is left as after one. 1 = done so, with *rc as
 * batch_copy_run() returns; 0 = not the case. */
static int batch_decode_direct(struct trd_trace *t, struct batch *b, int *rc)
{
    size_t room = STREAM_BATCH_EVENTS - b->n;
    if (!t->started || t->following || t->fail || t->heap_n != 1 || t->run_left > 0 || room < 2)
        return 0;
    size_t k = t->heap[0];
    if (t->curs[k].i_ev < t->curs[k].n_ev)
        return 0;
    struct ev_dst d = {&b->ev[b->n], 0, room, 0};
    *rc = cur_decode(t, k, &d);
    b->n += d.n;
    t->popped = 1; /* what next_run() finds after a run of cursor k */
    if (*rc == 0) {
        t->heap_n = 0; /* as next_run() takes a finished cursor out */
        t->popped = 0;
        cur_evs_free(&t->curs[k]);
    } else if (*rc < 0) {
        replay_fail(t, *rc);
    }
    return 1;
}

/* Decode the next events into b, by runs; a PHASE event ends the batch, its
 * name copied into the batch. */
static void batch_fill(struct trd_trace *t, struct batch *b)
{
    b->n = 0;
    b->rc = 1;
    while (b->n < STREAM_BATCH_EVENTS) {
        int rc;
        if (!batch_decode_direct(t, b, &rc))
            rc = batch_copy_run(t, b);
        if (rc <= 0) {
            b->rc = rc;
            return;
        }
        struct trd_event *e = &b->ev[b->n - 1];
        if (e->type == TR_REC_PHASE) {
            if (e->name_len > 0)
                memcpy(b->name, e->name, e->name_len);
            e->name = b->name;
            return;
        }
    }
}

/* Run the caller's stage on n events, results to out. A failure ends the
 * stream with its error (the events are not handed out). */
static int stage_run(struct trd_trace *t, const struct trd_event *ev, size_t n, void *out)
{
    const struct trd_stage *st = &t->stream->stage;
    if (st->fn == NULL || n == 0)
        return 0;
    int rc = st->fn(st->arg, ev, n, out);
    return rc < 0 ? replay_fail(t, rc) : 0;
}

/* The decoding thread: fills free batches until the stream ends or the
 * caller stops it. */
static void *stream_main(void *arg)
{
    struct trd_trace *t = arg;
    struct stream *s = t->stream;
    size_t tail = 0;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        while (s->count == STREAM_BATCHES && !s->stop)
            pthread_cond_wait(&s->emptied, &s->lock);
        int stop = s->stop;
        pthread_mutex_unlock(&s->lock);
        if (stop)
            return NULL;
        /* ring[tail] is free: neither ready nor held (count < STREAM_BATCHES). */
        struct batch *b = &s->ring[tail];
        batch_fill(t, b);
        int rc = stage_run(t, b->ev, b->n, b->out);
        if (rc < 0) {
            b->n = 0;
            b->rc = rc;
        }
        pthread_mutex_lock(&s->lock);
        s->count++;
        pthread_cond_signal(&s->filled);
        pthread_mutex_unlock(&s->lock);
        if (b->rc <= 0)
            return NULL;
        tail = (tail + 1) % STREAM_BATCHES;
    }
}

/* Threads runnable now, system-wide, this one included (/proc/loadavg's
 * fourth field, "running/total"); -1 if unknown. */
static long procs_running(void)
{
    FILE *f = fopen("/proc/loadavg", "r");
    if (f == NULL)
        return -1;
    long running = -1, total;
    if (fscanf(f, "%*f %*f %*f %ld/%ld", &running, &total) != 2)
        running = -1;
    fclose(f);
    return running;
}

/* A CPU to spare for a second thread (enum trd_stream_mode): fewer threads
 * runnable than CPUs this process may use, at the least of five looks 1 ms
 * apart (short-lived kernel work makes one look flicker). Not the load
 * average: it trails by a minute, and `memaudit run` reads right after its
 * target kept a CPU busy. */
static int cpu_idle(void)
{
    cpu_set_t set;
    int ncpu = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
    if (ncpu < 2)
        return 0;
    long least = -1;
    for (int i = 0; i < 5; i++) {
        long r = procs_running();
        if (r >= 1 && (least < 0 || r < least))
            least = r;
        if (least == 1)
            break;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return least >= 1 && least < ncpu;
}

/* The stage's results of each batch of the ring (none without a stage),
 * in one allocation. */
static int ring_out_alloc(struct stream *s, size_t batch_out_bytes)
{
    if (batch_out_bytes > 0) {
        s->ring_out = malloc(STREAM_BATCHES * batch_out_bytes);
        if (s->ring_out == NULL)
            return -ENOMEM;
    }
    for (size_t i = 0; i < STREAM_BATCHES; i++)
        s->ring[i].out = batch_out_bytes > 0 ? (char *)s->ring_out + i * batch_out_bytes : NULL;
    return 0;
}

static void stream_free(struct stream *s)
{
    free(s->ring_out);
    free(s->ring);
    free(s);
}

int trd_stream_begin(struct trd_trace *t, enum trd_stream_mode mode)
{
    return trd_stream_begin_staged(t, mode, NULL);
}

int trd_stream_begin_staged(struct trd_trace *t, enum trd_stream_mode mode,
                            const struct trd_stage *stage)
{
    trd_stream_end(t);
    int rc = trd_rewind(t);
    if (rc < 0)
        return rc;
    /* (A small trace is decoded before a thread would be of use, and
     * cpu_idle() may take milliseconds: a test suite's run has hundreds.) */
    /* While following, the followed process keeps a CPU busy. */
    int thread =
        !t->following &&
        (mode == TRD_STREAM_THREAD ||
         (mode == TRD_STREAM_AUTO && t->event_records >= STREAM_THREAD_MIN_EVENTS && cpu_idle()));
    struct stream *s = calloc(1, sizeof *s);
    if (s == NULL)
        return replay_fail(t, -ENOMEM);
    t->stream = s;
    size_t out_bytes = 0;
    if (stage != NULL && stage->fn != NULL) {
        s->stage = *stage;
        out_bytes = STREAM_BATCH_EVENTS * stage->out_bytes;
    }
    if (thread)
        s->ring = malloc(STREAM_BATCHES * sizeof *s->ring);
    if (thread && (s->ring == NULL || ring_out_alloc(s, out_bytes) < 0)) {
        stream_free(s);
        t->stream = NULL;
        return replay_fail(t, -ENOMEM);
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->filled, NULL);
    pthread_cond_init(&s->emptied, NULL);
    if (thread)
        s->threaded = pthread_create(&s->thread, NULL, stream_main, t) == 0;
    return 0;
}

int trd_stream_next(struct trd_trace *t, const struct trd_event **batch, size_t *n)
{
    struct stream *s = t->stream;
    *n = 0;
    if (s == NULL)
        return -EINVAL;
    if (!s->threaded) { /* the runs themselves: no copy */
        int rc = trd_next_run(t, batch);
        if (rc <= 0)
            return rc;
        *n = (size_t)rc;
        return 1;
    }
    if (s->done)
        return s->final_rc;
    pthread_mutex_lock(&s->lock);
    if (s->holding) {
        /* The caller is done with the previous batch: the thread may refill it. */
        s->holding = 0;
        s->head = (s->head + 1) % STREAM_BATCHES;
        s->count--;
        pthread_cond_signal(&s->emptied);
    }
    while (s->count == 0)
        pthread_cond_wait(&s->filled, &s->lock);
    s->holding = 1;
    pthread_mutex_unlock(&s->lock);
    const struct batch *b = &s->ring[s->head];
    *batch = b->ev;
    *n = b->n;
    s->cur_out = b->out;
    if (b->rc <= 0) {
        s->done = 1;
        s->final_rc = b->rc;
    }
    /* Events before an end or an error come first; the status next time. */
    return b->n > 0 ? 1 : b->rc;
}

void trd_stream_end(struct trd_trace *t)
{
    struct stream *s = t->stream;
    if (s == NULL)
        return;
    if (s->threaded) {
        pthread_mutex_lock(&s->lock);
        s->stop = 1;
        pthread_cond_signal(&s->emptied);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
    }
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->filled);
    pthread_cond_destroy(&s->emptied);
    stream_free(s);
    t->stream = NULL;
}

const void *trd_stream_out(const struct trd_trace *t)
{
    return t->stream != NULL ? t->stream->cur_out : NULL;
}

/* ---- accessors ---- */

const struct tr_file_header *trd_header(const struct trd_trace *t)
{
    return &t->hdr;
}

const char *trd_error(const struct trd_trace *t)
{
    return t->err;
}

uint32_t trd_stack_count(const struct trd_trace *t)
{
    return t->n_stacks;
}

const struct trd_stack *trd_stack(const struct trd_trace *t, uint32_t id)
{
    if (id >= t->n_stacks || t->stacks[id].frames == NULL)
        return NULL;
    return &t->stacks[id];
}

size_t trd_snapshot_count(const struct trd_trace *t)
{
    return t->n_snaps;
}

const struct mm_snapshot *trd_snapshot(const struct trd_trace *t, size_t i)
{
    return i < t->n_snaps ? &t->snaps[i] : NULL;
}

size_t trd_follow_snapshot_count(const struct trd_trace *t)
{
    return t->following ? t->col.n_snp : 0;
}

const struct mm_snapshot *trd_follow_snapshot(const struct trd_trace *t, size_t i)
{
    return i < trd_follow_snapshot_count(t) ? &t->col.snp[i].s : NULL;
}

size_t trd_thread_count(const struct trd_trace *t)
{
    return t->n_pub;
}

const struct trd_thread *trd_thread(const struct trd_trace *t, size_t i)
{
    return i < t->n_pub ? &t->threads[t->by_serial[i].k].pub : NULL;
}

size_t trd_sample_count(const struct trd_trace *t)
{
    return t->n_samples;
}

const struct trd_sample *trd_sample(const struct trd_trace *t, size_t i)
{
    return i < t->n_samples ? &t->samples[i] : NULL;
}

const char *trd_exe(const struct trd_trace *t)
{
    return t->exe ? t->exe : "";
}

const char *trd_cmdline(const struct trd_trace *t)
{
    return t->cmdline ? t->cmdline : "";
}

int trd_complete(const struct trd_trace *t)
{
    return t->end_seen && !t->truncated;
}

int trd_exit_status(const struct trd_trace *t)
{
    return t->exit_status;
}

int trd_signal(const struct trd_trace *t)
{
    return t->signal;
}

uint64_t trd_lost_events(const struct trd_trace *t)
{
    return t->lost_events;
}

uint64_t trd_first_ns(const struct trd_trace *t)
{
    return t->first_ns;
}

uint64_t trd_last_ns(const struct trd_trace *t)
{
    return t->last_ns;
}

uint64_t trd_file_bytes(const struct trd_trace *t)
{
    return t->file_bytes;
}

uint64_t trd_bytes_read(const struct trd_trace *t)
{
    return t->bytes_read;
}

uint64_t trd_event_records(const struct trd_trace *t)
{
    return t->event_records;
}
