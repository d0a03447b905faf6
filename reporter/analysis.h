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
    uint64_t inherited_frees;   /* in a fork child's trace: frees of blocks from before the fork */
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
    int runtime;                /* the C runtime's own blocks: allocated before recording
                                   began (no stack), or called from the dynamic linker
                                   (thread set-up, dlopen bookkeeping) */
    /* replay bookkeeping */
    uint64_t last_touch;
    uint64_t saved_bytes, saved_blocks;
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

struct analysis {
    struct trd_trace *trace;    /* borrowed: stacks, module maps, process info */
    struct an_totals totals;
    struct an_site *sites;      /* [n_sites], indexed by stack id */
    uint32_t n_sites;
    struct an_sample *timeline; /* [n_timeline], one per SAMPLE of the trace, by time */
    size_t n_timeline;
    struct an_memory memory;
};

/* Replay t into a. Returns 0, or a negative errno with trd_error(t) set. */
int an_run(struct trd_trace *t, struct analysis *a);

struct sym_resolver;
/* Also count as the C runtime's the live blocks that glibc's exit-time
 * cleanup would free, recognised by the function that allocated them (stdio
 * buffers, locale and NSS data ...; docs/metrics.md). an_run() has already
 * classified by module; this needs the symbolizer. */
void an_classify_runtime(struct analysis *a, struct sym_resolver *sym);
void an_fini(struct analysis *a);

#endif
