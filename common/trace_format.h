/* trace_format.h — the wire format between the recorder and the offline tools.
 *
 * This header and docs/trace-format.md are the only contract between preload/
 * (which writes traces) and symbolizer/ + reporter/ (which read them). Nothing
 * else is shared. Everything is little-endian; integers inside records are
 * LEB128 varints, signed ones zigzag-encoded.
 *
 * A trace is a fixed file header followed by blocks. Every block is written by
 * one thread in one write(2) and carries that thread's records in the order the
 * thread made them; records carry monotonic timestamps so that the global order
 * of all threads can be rebuilt by merging the per-thread streams.
 *
 * Decoders here never read past the end they are given: they return 0 on
 * success and -1 on a truncated or over-long varint. */
#ifndef MEMAUDIT_TRACE_FORMAT_H
#define MEMAUDIT_TRACE_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define TR_MAGIC "MEMAUDTR"
#define TR_VERSION 1u
#define TR_BLOCK_MAGIC 0x4b42414du /* "MABK" little-endian */

/* Hard caps the reader enforces; the writer never exceeds them. */
#define TR_MAX_BLOCK_BYTES (16u << 20)
#define TR_MAX_FRAMES 256u
#define TR_MAX_PATH 4096u
#define TR_MAX_MODULES 65536u

struct tr_file_header {
    char magic[8];          /* TR_MAGIC, no terminating NUL */
    uint32_t version;       /* TR_VERSION */
    uint32_t header_bytes;  /* sizeof(struct tr_file_header) */
    uint32_t pid;
    uint32_t ppid;
    uint64_t start_mono_ns; /* CLOCK_MONOTONIC at recorder start */
    uint64_t start_real_ns; /* CLOCK_REALTIME at recorder start */
    uint32_t flags;         /* TR_FLAG_* */
    uint32_t max_frames;    /* stack depth limit in force */
    uint64_t sample_bytes;  /* sampling mode: mean bytes between samples; 0: every allocation */
    uint64_t reserved;
};

#define TR_FLAG_CONTENT 0x1u /* content hashing was on (MEMAUDIT_CONTENT) */
/* The process is a fork child, recorded from the fork on: a block it frees
 * that the trace never saw allocated is one it inherited from its parent. */
#define TR_FLAG_FORK_CHILD 0x2u
#define TR_FLAG_FREE_STACKS 0x4u /* free calls carry their stack (MEMAUDIT_FREE_STACKS) */
/* Sampling mode (MEMAUDIT_SAMPLE): an allocation of size s was recorded with
 * probability 1 - exp(-s / sample_bytes), always when s > sample_bytes; a
 * free only when its block was recorded. */
#define TR_FLAG_SAMPLED 0x8u

struct tr_block_header {
    uint32_t magic;         /* TR_BLOCK_MAGIC */
    uint32_t thread;        /* recorder's thread serial, 1-based; 0 = process */
    uint32_t seq;           /* per-thread block number, 0, 1, 2, ... */
    uint32_t payload_bytes; /* bytes of records that follow */
    uint32_t n_records;
    uint32_t flags;         /* TR_BLOCK_* */
    uint64_t first_ns;      /* timestamp the block's running clock starts at */
};

/* Holds records other than events (STACK, MODULES, PROCESS, THREAD, END,
 * SAMPLE, SYMBOLS, PHASE, WATERMARK). A block without it holds events only. */
#define TR_BLOCK_HAS_META 0x1u
/* The payload is compressed (MEMAUDIT_COMPRESS): a u32 raw_bytes (little-endian,
 * at most TR_MAX_BLOCK_BYTES), then one zstd frame that decompresses to exactly
 * raw_bytes bytes of records. payload_bytes counts the u32 and the frame. */
#define TR_BLOCK_ZSTD 0x2u

/* Record types: the first byte of every record. */
enum tr_record {
    TR_REC_ALLOC = 1,   /* fn dt ptr size stack slack [align]  */
    TR_REC_FREE = 2,    /* fn dt ptr                            */
    TR_REC_REALLOC = 3, /* fn dt dt2 old new size stack slack    */
    TR_REC_FAIL = 4,    /* fn dt size stack                      */
    TR_REC_STACK = 5,   /* id epoch depth frames...              */
    TR_REC_MODULES = 6, /* dt epoch count module...              */
    TR_REC_PROCESS = 7, /* pid ppid exe argc argv...             */
    TR_REC_THREAD = 8,  /* dt tid                                */
    TR_REC_END = 9,     /* dt status lost_events signal          */
    TR_REC_SAMPLE = 10, /* dt rss n stat...                      */
    TR_REC_SYMBOLS = 11, /* epoch base build_id path n sym...    */
    TR_REC_PHASE = 12,  /* dt name_len name                      */
    TR_REC_FREE_EX = 13, /* fn dt ptr flags [stack] [hash]       */
    /* time_ns: absolute, on the events' clock; not a dt, the block's running
     * clock does not move. Every record stamped before it is earlier in the
     * file (docs/trace-format.md, "Watermarks"). */
    TR_REC_WATERMARK = 14,
};

/* Longest phase name a PHASE record carries (the recorder cuts longer ones). */
#define TR_MAX_PHASE_NAME 255u

/* Flags of a FREE_EX record: which optional fields follow. */
#define TR_FREE_STACK 0x1u /* v stack: the stack of the free call (MEMAUDIT_FREE_STACKS) */
#define TR_FREE_HASH 0x2u  /* 8 bytes: content hash of the block (MEMAUDIT_CONTENT) */
/* Blocks whose usable size is above this are not hashed. */
#define TR_CONTENT_MAX_BYTES 4096u

/* The allocator statistics of a SAMPLE, in record order (glibc's mallinfo2
 * fields of the same names). A reader ignores any beyond those it knows. */
enum tr_sample_stat {
    TR_STAT_ARENA = 0,
    TR_STAT_HBLKHD = 1,
    TR_STAT_UORDBLKS = 2,
    TR_STAT_FORDBLKS = 3,
    TR_STAT_KEEPCOST = 4,
    TR_STAT_COUNT_ = 5
};
#define TR_MAX_SAMPLE_STATS 64u

/* Allocation functions, the fn byte of ALLOC/FREE/REALLOC/FAIL. */
enum tr_fn {
    TR_FN_MALLOC = 1,
    TR_FN_CALLOC = 2,
    TR_FN_REALLOC = 3,
    TR_FN_REALLOCARRAY = 4,
    TR_FN_POSIX_MEMALIGN = 5,
    TR_FN_ALIGNED_ALLOC = 6,
    TR_FN_MEMALIGN = 7,
    TR_FN_VALLOC = 8,
    TR_FN_PVALLOC = 9,
    TR_FN_FREE = 10,
    TR_FN_FREE_SIZED = 11,
    TR_FN_FREE_ALIGNED_SIZED = 12,
    TR_FN_COUNT_ = 13
};

/* Flags of one segment in a MODULES record. */
#define TR_SEG_EXEC 0x1u
#define TR_SEG_WRITE 0x2u
#define TR_SEG_READ 0x4u

static inline const char *tr_fn_name(unsigned fn)
{
    static const char *const names[TR_FN_COUNT_] = {
        "?",          "malloc",         "calloc",        "realloc",   "reallocarray",
        "posix_memalign", "aligned_alloc", "memalign",   "valloc",    "pvalloc",
        "free",       "free_sized",     "free_aligned_sized",
    };
    return fn < TR_FN_COUNT_ ? names[fn] : "?";
}

/* ---- encoding (writer side: the caller guarantees room, at most 10 bytes) ---- */

static inline uint8_t *tr_put_u64(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static inline uint64_t tr_zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t tr_unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static inline uint8_t *tr_put_i64(uint8_t *p, int64_t v)
{
    return tr_put_u64(p, tr_zigzag(v));
}

/* The content hash of a FREE_EX record: 64 bits over n bytes, eight at a
 * time (a multiply-xorshift mix; not cryptographic). About 0.3 ns a byte. */
static inline uint64_t tr_content_hash(const void *data, size_t n)
{
    const uint8_t *p = (const uint8_t *)data;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)n * 0xC2B2AE3D27D4EB4Full);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w *= 0x87C37B91114253D5ull;
        w ^= w >> 31;
        h = (h ^ w) * 0x4CF5AD432745937Full;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    if (n > 0) {
        uint64_t w = 0;
        memcpy(&w, p, n);
        w *= 0x87C37B91114253D5ull;
        w ^= w >> 31;
        h = (h ^ w) * 0x4CF5AD432745937Full;
    }
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ull;
    h ^= h >> 32;
    return h;
}

/* ---- decoding (reader side: bounds-checked) ---- */

struct tr_cursor {
    const uint8_t *p;
    const uint8_t *end;
};

static inline int tr_get_u64(struct tr_cursor *c, uint64_t *out)
{
    /* Most fields (deltas, small sizes, stack ids) fit in one byte. */
    if (c->p < c->end && *c->p < 0x80) {
        *out = *c->p++;
        return 0;
    }
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (c->p >= c->end)
            return -1;
        uint8_t b = *c->p++;
        if (shift == 63 && b > 1)
            return -1;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

static inline int tr_get_i64(struct tr_cursor *c, int64_t *out)
{
    uint64_t v;
    if (tr_get_u64(c, &v) < 0)
        return -1;
    *out = tr_unzigzag(v);
    return 0;
}

static inline int tr_get_u8(struct tr_cursor *c, uint8_t *out)
{
    if (c->p >= c->end)
        return -1;
    *out = *c->p++;
    return 0;
}

/* Borrow n bytes from the cursor (no copy). */
static inline int tr_get_bytes(struct tr_cursor *c, uint64_t n, const uint8_t **out)
{
    if (n > (uint64_t)(c->end - c->p))
        return -1;
    *out = c->p;
    c->p += n;
    return 0;
}

#endif
