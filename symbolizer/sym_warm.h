/* sym_warm.h — open a trace's symbol files while its replay runs.
 *
 * Offline stage (symbolizer). After the replay, a report's symbolizing is
 * mostly opening files (libc6-dbg's debug sections are zlib-compressed and
 * libdw inflates them on first use): some 45 ms of bench's work trace, all
 * of it after the replay, on one CPU. sym_warm_start() does that work
 * beforehand, in a thread at the idle priority (SCHED_IDLE: it runs on a CPU
 * that the replay leaves idle, never in the replay's way), with a resolver of
 * its own that resolves the frames of the trace's stacks; sym_warm_stop()
 * stops it and frees that resolver, which hands the files it opened, with
 * their indexes, to the symbolizer's pool (symbolizer.c), where the next
 * resolver of the process takes them. What that resolver answers is the
 * same either way, and it alone warns about files it cannot use.
 *
 * Usage:
 *     struct sym_warm *w = sym_warm_start(trace);  // NULL: not started, fine
 *     ... replay the trace ...
 *     sym_warm_stop(w);                            // then sym_new() ...
 *
 * The trace's stacks and module maps must not change until sym_warm_stop():
 * not for a trace being followed (trd_open_follow). */
#ifndef MEMAUDIT_SYM_WARM_H
#define MEMAUDIT_SYM_WARM_H

#include "trace_reader.h"

struct sym_warm;

struct sym_warm *sym_warm_start(const struct trd_trace *t);
/* Stop the thread (it finishes the address it is at), join it, free all. */
void sym_warm_stop(struct sym_warm *w);

#endif
