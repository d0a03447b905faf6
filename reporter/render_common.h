/* render_common.h — what the text and JSON renderers share: ranking call
 * sites, resolving and folding their stacks, and formatting sizes and places.
 *
 * Everything here only reads the analysis. Rankings are total orders (ties go
 * to the lower stack id), so a report never depends on qsort's whims or on
 * pointer values. Stacks are resolved on demand, only for the sites a report
 * shows, and only as deep as it shows them. */
#ifndef MEMAUDIT_RENDER_COMMON_H
#define MEMAUDIT_RENDER_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "analysis.h"
#include "symbolizer.h"
#include "trace_reader.h"

/* Defaults applied when a render_opts field is 0. */
#define RC_DEFAULT_TOP 10u
#define RC_DEFAULT_TEXT_FRAMES 12u
#define RC_JSON_FRAMES 64u

/* What a ranked list is about. Each key also decides which sites take part:
 * only those with something to show (e.g. RC_LEAKED: live bytes or blocks). */
enum rc_key {
    RC_LEAKED,      /* live_bytes, then live_blocks; the program's own sites */
    RC_RUNTIME,     /* live_bytes, then live_blocks; the C runtime's sites */
    RC_ALLOCATIONS, /* allocations, then bytes_allocated */
    RC_BYTES,       /* bytes_allocated, then allocations */
    RC_TEMPORARY,   /* temporary, then allocations */
    RC_PEAK,        /* peak_bytes, then peak_blocks */
};

/* Rank the sites of a by key, largest first, ties by stack id. Sets *out to a
 * malloc'd array of at most limit (0 = no limit) pointers into a->sites, *n to
 * its length and, if total is not NULL, *total to the number of sites that
 * took part before the limit. The caller frees *out. Returns 0 or -ENOMEM. */
int rc_rank_sites(const struct analysis *a, enum rc_key key, size_t limit,
                  const struct an_site ***out, size_t *n, size_t *total);

/* One recorded frame (a return address) as the symbolizer sees it: locs[0..n)
 * innermost first, the last being the real function. Owned by the source. */
struct rc_frame {
    const struct sym_location *locs;
    size_t n;         /* 0 only if the resolver had nothing: print address */
    uint64_t address; /* the return address as recorded */
};

/* The process a report is about, as recorded. */
struct rc_process {
    uint32_t pid, ppid;
    const char *exe;           /* "" if unknown */
    const char *cmdline;       /* argv joined by spaces, "" if unknown */
    int complete;              /* 0: the trace ended early */
    int exit_status;           /* -1 if unknown */
    int signal;                /* the fatal signal that ended the process, or 0 */
    uint64_t lost_events;      /* events the recorder could not record */
    uint64_t trace_bytes;      /* size of the trace file */
    uint64_t trace_bytes_read; /* whole blocks read from it */
};

/* Where a report gets what is not a number of the analysis: the process and
 * the symbolized stacks. Two backends fill it: a trace with the symbolizer
 * (rc_source_from_trace, resolving lazily), and a profile (prof_source in
 * profile.h, whose frames were resolved when it was written). The renderers
 * see only this and the analysis, so a report reads the same from either. */
struct rc_source {
    struct rc_process process;
    /* 1 and the number of recorded frames if stack id is defined, else 0. */
    int (*stack_depth)(const struct rc_source *src, uint32_t id, uint32_t *depth);
    /* Recorded frame i (< depth, 0 = innermost) of stack id, symbolized. */
    struct rc_frame (*frame)(const struct rc_source *src, uint32_t id, uint32_t i);
    const void *data; /* the backend's own: a trace, a profile */
    void *aux;        /* the backend's own: the symbolizer */
};

/* A source reading stacks and process from t, resolving frames with sym on
 * demand. Both are borrowed and must outlive src. */
void rc_source_from_trace(struct rc_source *src, const struct trd_trace *t,
                          struct sym_resolver *sym);

/* A resolved stack, after folding. */
struct rc_stack {
    int known;               /* 0: the trace has no definition of this stack */
    uint32_t depth;          /* frames recorded */
    uint32_t folded;         /* leading frames dropped whole as allocator plumbing */
    size_t n;                /* frames kept, at most the limit */
    size_t more;             /* frames left out after the limit */
    struct rc_frame *frames; /* [n], malloc'd */
};

/* Resolve stack id of src. Unless all_frames, leading allocator plumbing
 * (rc_is_plumbing) is dropped, location by location, so the first frame kept
 * may lose its innermost inlined locations; if everything is plumbing the last
 * frame is kept whole. At most limit frames (0 = no limit) are kept. A missing
 * stack definition is not an error: out->known is 0 and out->n is 0.
 * Returns 0 or -ENOMEM; rc_stack_fini() out either way. */
int rc_stack_resolve(const struct rc_source *src, uint32_t id, int all_frames, size_t limit,
                     struct rc_stack *out);
void rc_stack_fini(struct rc_stack *s);

/* 1 if loc belongs to the allocator or to the recorder rather than to the
 * program: malloc & co., operator new, the C++ and Rust allocator layers,
 * anything in libaudit.so. */
int rc_is_plumbing(const struct sym_location *loc);

/* Print loc as "function (file:line)", "function (module+0xoff)" when the
 * file is unknown, or "module+0xoff" when the function is (module basename);
 * "0xaddr" when the address is in no known module. No newline. */
void rc_print_location(FILE *out, const struct sym_location *loc);

/* Location j of frame f as rc_print_location() prints it ("0xaddr" for a
 * frame the resolver had nothing for), into buf (cut to len - 1 bytes).
 * Returns buf. */
char *rc_format_location(char *buf, size_t len, const struct rc_frame *f, size_t j);

/* Last path component of path ("" stays ""). */
const char *rc_basename(const char *path);

/* "512 B", "1.5 KiB", "3.0 MiB", ... into buf; returns buf. */
#define RC_SIZE_BUF 32
char *rc_format_bytes(char buf[RC_SIZE_BUF], uint64_t bytes);
/* Nanoseconds as seconds: "1.234 s", or "0.000123 s" below one second. */
char *rc_format_seconds(char buf[RC_SIZE_BUF], uint64_t ns);
/* count per second over duration_ns; 0 when the duration is 0; at most
 * RC_RATE_MAX, so that converting it to uint64_t is always defined. */
#define RC_RATE_MAX 1e19
double rc_rate_per_s(uint64_t count, uint64_t duration_ns);

#endif
