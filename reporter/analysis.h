/* analysis.h — what the replay of one trace measures.
 *
 * an_run() replays a trace's events in global order and fills a struct
 * analysis: exact totals and one struct an_site per stack id. Memory grows
 * with live blocks and distinct stacks, not with events. Definitions of every
 * figure are in DESIGN.md ("Definitions") and docs/metrics.md. */
#ifndef MEMAUDIT_ANALYSIS_H
#define MEMAUDIT_ANALYSIS_H

#include <stdint.h>

#include "trace_reader.h"

/* Size classes of the per-site histogram: class 0 holds size 0, class k
 * (1..AN_SIZE_CLASSES-2) sizes in [2^(k-1), 2^k), the last one everything
 * from 2^(AN_SIZE_CLASSES-2) up. */
#define AN_SIZE_CLASSES 34
/* Leaked blocks at a site, at least, for its leak to count as growing. */
#define AN_LEAK_GROWS_BLOCKS 3
unsigned an_size_class(uint64_t size);

struct an_totals {
    uint64_t allocations;       /* successful calls returning a block (realloc included) */
    uint64_t frees;             /* blocks released (free, and realloc of a non-NULL block) */
    uint64_t bytes_allocated;   /* sum of requested sizes of all allocations */
    uint64_t peak_heap_bytes;   /* max over time of the live requested bytes */
    uint64_t peak_time_ns;      /* when it was first reached, from trace start */
    uint64_t peak_blocks;       /* live blocks at that moment */
    uint64_t leaked_bytes;      /* live at the end, the program's own (not runtime-held) */
    uint64_t leaked_blocks;
    uint64_t runtime_held_bytes;  /* live at the end, held by the C runtime (an_site.runtime) */
    uint64_t runtime_held_blocks;
    uint64_t temporary_allocations;
    uint64_t failed_allocations;
    uint64_t reallocs;          /* realloc/reallocarray calls on a non-NULL block that succeeded */
    uint64_t unmatched_frees;   /* frees of blocks the trace never saw allocated */
    /* Memory errors (docs/metrics.md, "Memory errors"), a breakdown of unmatched_frees. */
    uint64_t double_frees;      /* free of an address freed before and not allocated since */
    uint64_t invalid_frees;     /* free of an address never allocated (as far as known) */
    uint64_t freed_reallocs;    /* realloc of an address freed before */
    uint64_t invalid_reallocs;  /* realloc of an address never allocated */
    /* Duplicate content (MEMAUDIT_CONTENT; docs/metrics.md, "Duplicate content"). */
    uint64_t content_hashing;   /* 1: the recorder hashed freed blocks */
    uint64_t content_hashed;    /* freed blocks whose content was hashed */
    uint64_t content_duplicates; /* of those, the ones equal to an earlier one of their site */
    uint64_t inherited_frees;   /* in a fork child's trace: frees of blocks from before the fork */
    uint64_t sampling_bytes;    /* sampling mode (MEMAUDIT_SAMPLE): the mean; 0: exact figures */
    uint64_t unsampled_frees;   /* sampling mode: frees of blocks the trace has no allocation of */
    uint64_t slack_bytes;       /* sum of usable - requested over all allocations */
    uint64_t peak_slack_bytes;  /* usable - requested of the blocks live at the peak */
    uint64_t duration_ns;       /* first to last timestamp of the trace */
    uint64_t threads;
};

/* Per call stack. Indexed by stack id; sites with allocations == 0 and
 * frees == 0 are unused. */
struct an_site {
    uint32_t stack;             /* stack id (index into the trace's stack table) */
    uint64_t allocations;
    uint64_t bytes_allocated;
    uint64_t frees;             /* blocks from this site that were released */
    uint64_t temporary;
    uint64_t failed;
    uint64_t reallocs;          /* allocations from this site that were reallocs of a live block */
    uint64_t min_size, max_size;
    uint64_t live_bytes;        /* at the end: leaked */
    uint64_t live_blocks;
    uint64_t peak_bytes;        /* held at the moment of the global peak */
    uint64_t peak_blocks;
    uint64_t max_live_bytes;    /* the site's own maximum */
    uint64_t max_live_blocks;   /* the site's own maximum of blocks live at once */
    uint64_t slack_bytes;       /* usable - requested, over its allocations */
    uint64_t size_classes[AN_SIZE_CLASSES]; /* allocations per size class */
    /* Repeated growth (docs/metrics.md, "Repeated growth"). */
    uint64_t realloc_grows;     /* reallocs made here to a larger size */
    uint64_t realloc_moves;     /* reallocs made here that moved the block */
    uint64_t realloc_copied;    /* bytes those moves copied: min(old, new) each */
    uint64_t chains;            /* realloc chains that ended at this site's block */
    uint64_t chain_reallocs;    /* reallocs in those chains */
    uint64_t chain_longest;     /* reallocs in the longest of them */
    uint64_t chain_final_bytes; /* sum of their final sizes */
    uint64_t manual_grows;      /* frees of a block right after a larger one from here */
    uint64_t manual_copied;     /* bytes of those freed blocks (what a copy moved) */
    /* Leaks over time: when the blocks live at the end were allocated. */
    uint64_t leak_first_ns, leak_last_ns; /* from trace start */
    int leak_seen;              /* replay bookkeeping for the two above */
    int leak_grows;             /* its leaked blocks, 3 or more, were allocated over at least
                                   a quarter of the run's events (docs/metrics.md) */
    int content_capped;         /* more distinct values than AN_CONTENT_MAX_DISTINCT */
    /* Duplicate content: blocks of this site hashed when freed (MEMAUDIT_CONTENT). */
    uint64_t content_hashed;    /* blocks hashed */
    uint64_t content_duplicates; /* blocks whose size and content equalled an earlier one's */
    uint64_t content_duplicate_bytes; /* their requested bytes */
    uint64_t content_distinct;  /* distinct (size, content) values among the hashed blocks */
    uint64_t error_refs;        /* memory errors (an_safety) naming this stack, in any role */
    int runtime;                /* the C runtime's own blocks: allocated before recording
                                   began (no stack), or called from the dynamic linker
                                   (thread set-up, dlopen bookkeeping) */
    int suppressed;             /* its leaks match a suppression (suppress.c, set by a
                                   report, never by the replay): neither leaked nor the
                                   runtime's */
    /* replay bookkeeping */
    uint64_t last_touch;
    uint64_t saved_bytes, saved_blocks;
    uint64_t leak_first_no, leak_last_no; /* event numbers of its first and last leaked block */
};

/* One memory sample of the trace, with the replay's heap at its time
 * (docs/metrics.md, "Memory over time"). */
struct an_sample {
    uint64_t time_ns;           /* from trace start */
    uint64_t heap_bytes;        /* live requested bytes after every event stamped up to time_ns */
    uint64_t heap_blocks;
    uint64_t rss_bytes;         /* the process's resident set */
    int has_allocator;          /* the allocator's figures below were taken */
    uint64_t allocator_heap_bytes;       /* arena + hblkhd: what glibc's malloc got from the system */
    uint64_t allocator_in_use_bytes;     /* uordblks + hblkhd: in allocated chunks */
    uint64_t allocator_free_bytes;       /* fordblks: in free chunks, top chunks included */
    uint64_t allocator_releasable_bytes; /* keepcost: the main arena's top chunk */
    double fragmentation;       /* (fordblks - keepcost) / (arena + hblkhd - keepcost), 0..1 */
};

/* Summary of the timeline. */
struct an_memory {
    uint64_t peak_rss_bytes;    /* the largest rss_bytes of any sample (0: no samples) */
    uint64_t peak_rss_time_ns;  /* of the first sample that has it, from trace start */
    size_t peak_rss_sample;     /* its index in timeline */
    int has_fragmentation;      /* some sample has the allocator's figures */
    double fragmentation_at_peak_rss; /* of the peak-RSS sample, or the nearest with figures */
};

/* Duplicate content: distinct values remembered per site, at most. */
#define AN_CONTENT_MAX_DISTINCT 4096u

/* ---- phases (docs/metrics.md, "Phases") ---- */
#define AN_PHASE_TOP 10           /* sites kept per phase, by allocations */
#define AN_MAX_PHASES 256         /* distinct names; later names share the last one */
#define AN_OTHER_PHASES "(other phases)"
#define AN_MAX_PHASE_SPANS 10000  /* spans kept for the memory chart; the figures keep all */

struct an_phase_site {
    uint32_t stack;
    uint64_t allocations;
    uint64_t bytes_allocated;
};

/* The figures of one phase name, summed over all its spans. */
struct an_phase {
    char name[TR_MAX_PHASE_NAME + 1]; /* printable ASCII: other bytes are '?' */
    uint64_t marks;             /* spans: marks of this name */
    uint64_t start_ns;          /* its first mark, from trace start */
    uint64_t duration_ns;       /* the lengths of its spans, summed */
    uint64_t allocations;       /* blocks allocated during it */
    uint64_t bytes_allocated;
    uint64_t frees;             /* blocks released during it (allocated in any phase) */
    uint64_t bytes_freed;
    uint64_t temporary;         /* of its allocations, the temporary ones */
    uint64_t failed;
    uint64_t reallocs;
    uint64_t heap_bytes_at_start; /* the heap at its first mark */
    uint64_t peak_heap_bytes;   /* the highest heap during its spans (at a mark included) */
    uint64_t peak_time_ns;      /* when first reached, from trace start */
    uint64_t peak_blocks;
    uint64_t live_bytes;        /* of its allocations, the blocks still live at the end */
    uint64_t live_blocks;
    uint64_t n_top;
    struct an_phase_site top[AN_PHASE_TOP]; /* by allocations, then bytes, then stack id */
};

/* One span of a phase: from its mark to the next mark of any thread. */
struct an_phase_span {
    uint64_t start_ns, end_ns; /* from trace start */
    uint64_t phase;            /* index into phases[] */
};

/* ---- memory errors (docs/metrics.md, "Memory errors") ---- */
enum an_error_kind {
    AN_DOUBLE_FREE = 0,
    AN_INVALID_FREE = 1,
    AN_FREED_REALLOC = 2,
    AN_INVALID_REALLOC = 3,
};
#define AN_MAX_ERRORS 64 /* errors kept with their details; the totals count all */

struct an_error {
    uint64_t kind;          /* enum an_error_kind */
    uint64_t address;
    uint64_t time_ns;       /* from trace start */
    uint64_t thread;        /* serial of the thread that made the call */
    uint64_t size;          /* requested size of the block, 0 when unknown */
    uint64_t freed_ns;      /* when the block was freed before (double free, freed realloc) */
    uint32_t alloc_stack;   /* that allocated the block; 0: unknown */
    uint32_t free_stack;    /* of the earlier free; 0: not recorded (MEMAUDIT_FREE_STACKS) */
    uint32_t call_stack;    /* of the offending call; 0: not recorded */
    uint32_t pad_;
};

const char *an_error_name(uint64_t kind); /* "double-free", ... */

struct analysis {
    struct trd_trace *trace;    /* borrowed: stacks, module maps, process info */
    struct an_totals totals;
    struct an_site *sites;      /* [n_sites], indexed by stack id */
    uint32_t n_sites;
    struct an_sample *timeline; /* [n_timeline], one per SAMPLE of the trace, by time */
    size_t n_timeline;
    struct an_memory memory;
    struct an_phase *phases;    /* [n_phases], in order of first mark */
    size_t n_phases;
    struct an_phase_span *spans; /* [n_spans], in time order, at most AN_MAX_PHASE_SPANS */
    size_t n_spans;
    struct an_error *errors;    /* [n_errors], the first AN_MAX_ERRORS, in replay order */
    size_t n_errors;
};

/* Replay t into a. Returns 0, or a negative errno with trd_error(t) set. */
int an_run(struct trd_trace *t, struct analysis *a);

/* How far a long loop is, for a progress bar: fn(arg, done, total) is called
 * every AN_PROGRESS_STEPS steps (never at the end: the caller knows that). */
#define AN_PROGRESS_STEPS 65536u
struct an_progress {
    void (*fn)(void *arg, uint64_t done, uint64_t total);
    void *arg;
};

/* an_run(), reporting the trace's event records replayed of
 * trd_event_records(t) to progress (NULL: none). */
int an_run_progress(struct trd_trace *t, struct analysis *a, const struct an_progress *progress);

/* an_run() of a trace opened with trd_open_follow(), while its process still
 * writes it: when the reader has no next event yet, wait(arg, t, done) is
 * called (done: the event records replayed so far, counted as
 * trd_event_records() counts them),
 * which waits for the writer, calls trd_follow_update() or trd_follow_end(),
 * and returns 0 to go on or a negative errno to stop with. The result equals
 * an_run() of the finished trace; -ESTALE: the trace used a stack before its
 * definition was written (damage), which only a replay of the finished
 * trace handles as an_run() does; also when the trace's start was not
 * known when the first phase mark was handed out, and guessed wrong. */
struct an_follow {
    int (*wait)(void *arg, struct trd_trace *t, uint64_t done);
    /* NULL, or called every AN_PACE_EVENTS events or so: a negative
     * errno stops the replay with it (the caller gives up following). */
    int (*pace)(void *arg);
    void *arg;
};
#define AN_PACE_EVENTS 131072u
int an_run_follow(struct trd_trace *t, struct analysis *a, const struct an_follow *follow);

struct sym_resolver;
/* Also count as the C runtime's the live blocks that glibc's exit-time
 * cleanup would free, recognised by the function that allocated them (stdio
 * buffers, locale and NSS data ...; docs/metrics.md). an_run() has already
 * classified by module; this needs the symbolizer. */
void an_classify_runtime(struct analysis *a, struct sym_resolver *sym);
/* Sampling mode: the sentence every report shows, that its figures are
 * estimates and how they were scaled, into buf; 0 (and "") in full mode. */
int an_sampling_note(const struct an_totals *t, char *buf, size_t cap);
void an_fini(struct analysis *a);

#endif
