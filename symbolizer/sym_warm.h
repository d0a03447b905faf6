/* sym_warm.h — open a process's symbol files while it still runs.
 *
 * Offline stage (symbolizer). After a program ends, `memaudit run`
 * symbolizes its trace, and much of that is opening files: libc6-dbg's
 * debug sections are zlib-compressed and libdw inflates them when the file
 * is first opened (some 40 ms for every program that links libc).
 * sym_warm_start() starts a thread at the idle priority (SCHED_IDLE: it runs
 * only on a CPU that nothing else on the machine wants, never in the way of
 * the program or of the replay that follows it); each module map handed to
 * it with sym_warm_add() is copied into a queue, and once sym_warm_go() has
 * been called, the thread opens the file of every module in it
 * (sym_pool_open()), which goes to the
 * symbolizer's pool, where the next resolver of the process that needs it
 * takes it. What that resolver answers is the same either way (a pooled
 * file is taken only while its path still names it, unchanged), and it
 * alone warns about a file it cannot use (the warm-up says nothing and
 * pools only files it could open).
 *
 * Usage:
 *     struct sym_warm *w = sym_warm_start();   // NULL: not started, fine
 *     sym_warm_add(w, snapshot);               // as module maps come
 *     sym_warm_go(w);                          // when a CPU is free
 *     ...
 *     sym_warm_stop(w);                        // then sym_new() ...
 *
 * sym_warm_add() and sym_warm_stop() may be called from different threads,
 * not at once for one w: stop is the last call, after which w is gone. */
#ifndef MEMAUDIT_SYM_WARM_H
#define MEMAUDIT_SYM_WARM_H

#include "modmap.h"

struct sym_warm;

struct sym_warm *sym_warm_start(void);
/* Queue a copy of s (the caller keeps s): 0, or a negative errno when it
 * cannot be copied (then nothing is queued; the files are simply opened
 * later, by the resolver that needs them). w NULL: nothing, 0. */
int sym_warm_add(struct sym_warm *w, const struct mm_snapshot *s);
/* From now on the thread may open files (until then it only keeps what it
 * is handed). Idle priority is not enough to leave a program alone: the
 * thread runs in every gap a program's threads leave as they hand work to
 * one another, and each wakeup then has to preempt it (a SCHED_IDLE busy
 * loop made bench's prodcons 30% slower): the caller says go once it has
 * seen a CPU left idle for a while (the follower's pace), or once the
 * program has ended. w NULL: nothing. */
void sym_warm_go(struct sym_warm *w);
/* The module maps the thread has gone through (for tests: a stop drops
 * those still queued). */
unsigned sym_warm_done(const struct sym_warm *w);
/* Stop the thread: it drops the rest of the queue once it has opened the
 * file it is at. Joins it while it runs (on a CPU at least half of each
 * 5 ms: then the wait is for that file, as long as opening it takes, e.g.
 * 40-50 ms for libc's with libc6-dbg), else leaves it to end by itself (on
 * a busy machine, a thread at the idle priority may wait seconds for a
 * CPU): the files it opens meanwhile still go to the pool, and
 * sym_warm_stop() never makes the caller wait for a CPU. Returns the
 * number of files opened so far, for MEMAUDIT_FOLLOW=1's account. w NULL:
 * nothing, 0. */
unsigned sym_warm_stop(struct sym_warm *w);

#endif
