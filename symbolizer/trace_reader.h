/* trace_reader.h — read a memaudit trace and replay its events in global order.
 *
 * trd_open() makes one pass over the file: it checks the header, indexes the
 * blocks of every thread, and loads the metadata (stacks, module maps, process
 * and thread records). trd_next() then yields the allocation events of all
 * threads merged by timestamp, reading each thread's blocks on demand, so the
 * memory used grows with threads, stacks and modules, never with events.
 *
 * The file is treated as hostile: every length is checked against the bytes
 * that are really there, and a block that is cut short (the target died while
 * writing) ends the trace there; the trace is then marked incomplete. Any
 * other damage is an error with a one-line reason: from trd_open(), or, in a
 * block that holds events only (which trd_open() indexes without decoding),
 * from the replay (trd_next() and friends) when it reaches the damage. */
#ifndef MEMAUDIT_TRACE_READER_H
#define MEMAUDIT_TRACE_READER_H

#include <stddef.h>
#include <stdint.h>

#include "modmap.h"
#include "trace_format.h"

/* A realloc is yielded twice: its release of the old block at the time just
 * before the call, and its acquisition of the new block just after. Between
 * the two, other threads' events may be merged in. */
enum trd_part {
    TRD_WHOLE = 0,
    TRD_REALLOC_RELEASE = 1,
    TRD_REALLOC_ACQUIRE = 2,
};

/* 80 bytes without padding (fields ordered so), so that events compare and
 * copy as plain memory. */
struct trd_event {
    uint8_t type;      /* TR_REC_ALLOC, TR_REC_FREE (also for FREE_EX), TR_REC_REALLOC,
                          TR_REC_FAIL, or TR_REC_PHASE (a phase mark) */
    uint8_t fn;        /* enum tr_fn */
    uint8_t part;      /* enum trd_part (realloc only) */
    uint8_t has_hash;  /* FREE: the recorder hashed the block's content (MEMAUDIT_CONTENT) */
    uint32_t thread;   /* thread serial */
    uint64_t time_ns;  /* monotonic, the merge key */
    uint64_t ptr;      /* ALLOC, FREE: the block; REALLOC: the new block (0 = failed) */
    uint64_t old_ptr;  /* REALLOC: the old block */
    uint64_t size;     /* requested bytes */
    uint64_t slack;    /* usable size - requested size */
    uint64_t align;    /* memalign family, else 0 */
    uint64_t hash;     /* FREE with has_hash: its tr_content_hash over the usable size */
    const char *name;  /* PHASE: the name, name_len bytes, not NUL-terminated; valid until
                          the next trd_next() or trd_next_run() call. name_len 0: the end
                          of a phase */
    uint32_t stack;    /* stack id, 0 = none (a FREE has one only with MEMAUDIT_FREE_STACKS) */
    uint32_t name_len;
};

struct trd_stack {
    uint32_t depth;
    uint32_t epoch;
    uint64_t *frames;  /* return addresses, innermost (the allocator's caller) first */
};

struct trd_thread {
    uint32_t serial;
    uint32_t tid;
    uint64_t events;
};

/* A SAMPLE record: the process's memory at one moment (docs/trace-format.md). */
struct trd_sample {
    uint64_t time_ns;   /* monotonic, as event times */
    uint64_t rss_bytes; /* resident set size */
    uint32_t n_stats;   /* allocator figures present: 0 (none) or TR_STAT_COUNT_ */
    uint64_t stats[TR_STAT_COUNT_]; /* by enum tr_sample_stat (glibc's mallinfo2) */
};

/* At most this many samples are kept (a 50 ms interval fills it in 14 hours):
 * past it, every other one is dropped and only every 2nd, 4th ... is kept. */
#define TRD_MAX_SAMPLES (1u << 20)

struct trd_trace;

/* Open and index path. On failure returns a negative errno and writes a
 * one-line reason (without the file name) to err. */
int trd_open(const char *path, struct trd_trace **out, char *err, size_t errlen);
void trd_close(struct trd_trace *t);

/* Follow mode: replay a trace its process is still writing.
 *
 * Open as trd_open(), except that a block past the end of the file is "not
 * yet written", not a cut. -EAGAIN (with a reason in err) when not even the
 * file header is there yet; other errors as trd_open().
 *
 * While following, trd_next_run(), trd_next() and trd_stream_next() hand
 * out only events whose time is below the latest WATERMARK indexed so far
 * (docs/trace-format.md, "Watermarks"), in exactly the order trd_open()'s
 * replay gives; when the next event is not known yet they return -EAGAIN:
 * call trd_follow_update() or trd_follow_end() and ask again. A trace
 * without watermarks (sampling mode) hands out nothing before
 * trd_follow_end(). trd_stream_begin*() while following decodes in the
 * caller (no second thread: the followed process keeps a CPU busy).
 *
 * The accessors describe what is indexed so far and only grow: stacks (one
 * used by an event handed out is defined; trd_stack() pointers are valid
 * until the next update or end), samples (every one below the latest
 * watermark is there, in time order, and indexes never move), threads (in
 * serial order: an index moves when a thread of a lower serial comes; its
 * event count is the records indexed so far), trd_event_records(),
 * trd_first_ns() (0 until a block of events is indexed). Module maps
 * (trd_snapshot_count() is 0 until then), trd_complete(), trd_exit_status(),
 * trd_signal() and trd_lost_events() are final after trd_follow_end(), and
 * trd_last_ns() once the replay has gone to the end, as with trd_open().
 *
 * A trace that cannot be followed fails trd_follow_update() with a reason:
 * samples out of time order (sampling mode), more than TRD_MAX_SAMPLES (they
 * would be thinned), a block with an event stamped below a WATERMARK that
 * comes before it in the file (-EPROTO: the recorder broke the watermark's
 * promise, and the order handed out may not be trd_open()'s; named by its
 * thread, seq, offset and both times); the caller then replays it after the
 * end with trd_open(). */
int trd_open_follow(const char *path, struct trd_trace **out, char *err, size_t errlen);
/* Index the blocks the writer appended since the last look: 1 = something
 * new, 0 = nothing, <0 = error (trd_error), sticky. */
int trd_follow_update(struct trd_trace *t);
/* The writer is gone (its process ended): index the rest as trd_open()
 * would (a cut tail is now a cut: truncated); from here on the trace is
 * exactly what trd_open() of the finished file gives, and the replay goes
 * on to the end. 0, or <0 = error (trd_error): the one trd_open() of the
 * file would give, or a late block as trd_follow_update() finds it.
 * Nothing to do when not following. */
int trd_follow_end(struct trd_trace *t);
/* While following: the module maps indexed so far, in file order (the
 * first ones stay first as more come), for a look ahead at the modules the
 * process has loaded; trd_snapshot() has none before trd_follow_end(). Only
 * the module maps: a module's saved symbols are not attached to it yet. The
 * pointers are valid until the next trd_follow_update() or trd_follow_end().
 * 0 and NULL when not following. */
size_t trd_follow_snapshot_count(const struct trd_trace *t);
const struct mm_snapshot *trd_follow_snapshot(const struct trd_trace *t, size_t i);

/* Next event in global order: 1 = *ev filled, 0 = end, <0 = error (see trd_error). */
int trd_next(struct trd_trace *t, struct trd_event *ev);
/* The next run of events in global order, all of one thread: *evs points to
 * n of them, valid until the next trd_next_run(), trd_next() or trd_rewind().
 * Returns n >= 1, 0 = end, <0 = error (see trd_error). The same events in the
 * same order as trd_next() gives one by one, without a copy each. */
int trd_next_run(struct trd_trace *t, const struct trd_event **evs);
/* Restart the event stream from the beginning. */
int trd_rewind(struct trd_trace *t);

/* How trd_stream_begin() decodes: in a second thread, or in the caller's
 * trd_stream_next() calls (as trd_next_run(), without a copy). AUTO takes
 * the thread for a trace of 100,000 events or more when a CPU looks idle
 * (fewer running threads than CPUs, the least of a few looks a millisecond
 * apart). The thread costs CPU time (the events are
 * copied, and read on another core) to save wall time, so it only pays
 * with a CPU to spare; on a busy machine it would make the replay slower. */
enum trd_stream_mode {
    TRD_STREAM_INLINE = 0,
    TRD_STREAM_THREAD = 1,
    TRD_STREAM_AUTO = 2,
};

/* The same stream from the beginning, decoded and merged while the caller
 * works on earlier events (mode above): trd_stream_next() hands out the
 * next batch of events (1 = *batch[0..*n) filled, 0 = end, <0 = error, see
 * trd_error), valid until the next call. A PHASE event's name stays valid as
 * long as its batch. If the thread cannot be started the batches are decoded
 * by the calls themselves. trd_stream_end() stops the thread; call it before
 * anything else uses t, after an error too. Not to be mixed with trd_next()
 * in between. */
int trd_stream_begin(struct trd_trace *t, enum trd_stream_mode mode);
int trd_stream_next(struct trd_trace *t, const struct trd_event **batch, size_t *n);
void trd_stream_end(struct trd_trace *t);

/* A stage of the caller's work that runs in the second thread, when there
 * is one (without it, the caller does that work itself, event by event as
 * it likes): fn(arg, ev, n, out) gets every batch, in order, before
 * trd_stream_next() hands it out, and writes n results of out_bytes each
 * to out; trd_stream_out() then gives them with the batch. It returns 0,
 * or a negative errno that ends the stream with that error (the batch is
 * not handed out). It must touch nothing the caller uses during the
 * stream. */
struct trd_stage {
    int (*fn)(void *arg, const struct trd_event *ev, size_t n, void *out);
    void *arg;
    size_t out_bytes;
};

/* trd_stream_begin() with a stage (NULL: none). */
int trd_stream_begin_staged(struct trd_trace *t, enum trd_stream_mode mode,
                            const struct trd_stage *stage);
/* The stage's results of the batch the last trd_stream_next() handed out,
 * valid as long as the batch; NULL when there is no second thread (or no
 * stage): the caller then does the stage's work itself. */
const void *trd_stream_out(const struct trd_trace *t);

const struct tr_file_header *trd_header(const struct trd_trace *t);
const char *trd_error(const struct trd_trace *t);

/* Metadata loaded by trd_open(). */
uint32_t trd_stack_count(const struct trd_trace *t);          /* ids are < this */
const struct trd_stack *trd_stack(const struct trd_trace *t, uint32_t id); /* NULL if unknown */
size_t trd_snapshot_count(const struct trd_trace *t);
const struct mm_snapshot *trd_snapshot(const struct trd_trace *t, size_t i);
size_t trd_thread_count(const struct trd_trace *t);
const struct trd_thread *trd_thread(const struct trd_trace *t, size_t i);

/* Memory samples, in time order (few: one per MEMAUDIT_INTERVAL_MS). */
size_t trd_sample_count(const struct trd_trace *t);
const struct trd_sample *trd_sample(const struct trd_trace *t, size_t i);

const char *trd_exe(const struct trd_trace *t);               /* "" if unknown */
const char *trd_cmdline(const struct trd_trace *t);           /* argv joined by spaces */
int trd_complete(const struct trd_trace *t);                  /* END record seen, nothing cut */
int trd_exit_status(const struct trd_trace *t);               /* -1 if unknown */
int trd_signal(const struct trd_trace *t);                    /* fatal signal that ended it, or 0 */
uint64_t trd_lost_events(const struct trd_trace *t);          /* the recorder's own count */
uint64_t trd_first_ns(const struct trd_trace *t);
/* The last event's time: exact once the events were read to the end (by
 * trd_next(), trd_next_run() or a stream); before that a lower bound, as
 * blocks that hold events only are decoded by the replay alone. */
uint64_t trd_last_ns(const struct trd_trace *t);
uint64_t trd_file_bytes(const struct trd_trace *t);
uint64_t trd_bytes_read(const struct trd_trace *t);           /* whole blocks read */
/* ALLOC/FREE/REALLOC/FAIL records: for a block that holds events only, its
 * header's count, which the replay checks. */
uint64_t trd_event_records(const struct trd_trace *t);

#endif
