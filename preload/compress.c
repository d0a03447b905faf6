/* compress.c — zstd compression of block payloads (MEMAUDIT_COMPRESS=1).
 *
 * libzstd is dlopen'ed RTLD_LOCAL, as libunwind is (stack.c): nothing of it
 * enters the target's symbol scope, and a system without libzstd.so.1 records
 * uncompressed after one line on stderr. A context never allocates: it is a
 * static zstd context (ZSTD_initStaticCCtx) on a workspace from mmap, plus an
 * output buffer, so compressing is pure computation — no malloc, no lock, no
 * syscall — and may run wherever a block is written.
 *
 * Who compresses (thread.c): the background flusher, with its own context,
 * for the full buffers owners hand it and for the idle buffers it takes; any
 * other writer (an owner whose previous buffer the flusher has not written
 * yet, thread exit, shutdown) with one shared context under write_lock.
 *
 * Level 3 (zstd's default): on bench's traces it makes blocks 3.4x (work) to
 * 13x (loop) smaller at 1.6-3.6 ms per MiB of records; level 1 is 10% larger
 * and not faster on loop. */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_initStaticCCtx, ZSTD_estimateCCtxSize */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "rec.h"

#define LEVEL 3

struct rec_zctx {
    ZSTD_CCtx *cctx;
    size_t bytes; /* of this mapping: header, workspace, out */
    size_t out_cap;
    uint8_t *out;
};

static struct {
    size_t (*estimate)(int);
    ZSTD_CCtx *(*init_static)(void *, size_t);
    size_t (*set_param)(ZSTD_CCtx *, ZSTD_cParameter, int);
    size_t (*compress2)(ZSTD_CCtx *, void *, size_t, const void *, size_t);
    unsigned (*is_error)(size_t);
} z;
static int enabled;

/* dlsym results are copied, not cast: ISO C has no object-to-function cast. */
#define Z_SYM(h, field, name)                                                                      \
    do {                                                                                           \
        void *sym_ = dlsym(h, name);                                                               \
        memcpy(&field, &sym_, sizeof(sym_));                                                       \
    } while (0)

int rec_compress_init(void)
{
    if (enabled)
        return 1;
    const char *v = getenv("MEMAUDIT_COMPRESS");
    if (!v || !*v || strcmp(v, "0") == 0)
        return 0;
    void *h = dlopen("libzstd.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        rec_say("cannot load libzstd.so.1 (", dlerror(), "); writing the trace uncompressed", NULL);
        return 0;
    }
    Z_SYM(h, z.estimate, "ZSTD_estimateCCtxSize");
    Z_SYM(h, z.init_static, "ZSTD_initStaticCCtx");
    Z_SYM(h, z.set_param, "ZSTD_CCtx_setParameter");
    Z_SYM(h, z.compress2, "ZSTD_compress2");
    Z_SYM(h, z.is_error, "ZSTD_isError");
    if (!z.estimate || !z.init_static || !z.set_param || !z.compress2 || !z.is_error) {
        rec_say("libzstd.so.1 lacks ZSTD_initStaticCCtx; writing the trace uncompressed", NULL);
        return 0;
    }
    enabled = 1;
    return 1;
}

struct rec_zctx *rec_zctx_new(size_t max_in)
{
    if (!enabled)
        return NULL;
    size_t ws = z.estimate(LEVEL);
    size_t head = (sizeof(struct rec_zctx) + 63) & ~(size_t)63;
    size_t bytes = head + ws + max_in;
    uint8_t *m = rec_mmap(bytes);
    if (!m)
        return NULL;
    struct rec_zctx *c = (struct rec_zctx *)m;
    c->cctx = z.init_static(m + head, ws);
    /* The frame's checksum (xxh64, 4 bytes a block) makes a damaged block
     * an error of its own rather than records that do not parse. */
    if (!c->cctx || z.is_error(z.set_param(c->cctx, ZSTD_c_compressionLevel, LEVEL)) ||
        z.is_error(z.set_param(c->cctx, ZSTD_c_checksumFlag, 1))) {
        rec_munmap(m, bytes);
        return NULL;
    }
    c->bytes = bytes;
    c->out = m + head + ws;
    c->out_cap = max_in;
    return c;
}

size_t rec_zctx_compress(struct rec_zctx *c, const uint8_t *src, size_t len, const uint8_t **out)
{
    if (!c || len <= 64)
        return 0; /* small blocks (the flusher's samples) are not worth a frame */
    /* No gain unless the frame and its u32 come out smaller than the records. */
    size_t n = z.compress2(c->cctx, c->out, len - 5 < c->out_cap ? len - 5 : c->out_cap, src, len);
    if (z.is_error(n))
        return 0;
    *out = c->out;
    return n;
}
