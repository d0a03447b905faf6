/* sym_warm.c — open a trace's symbol files while its replay runs (sym_warm.h).
 *
 * Offline stage (symbolizer). One thread, at the idle priority, with a quiet
 * resolver of its own (sym_quiet(): no warnings, the next resolver gives
 * them): every snapshot, then the frames of the stacks in id order, up to
 * WARM_MAX_ADDRESSES, until sym_warm_stop() says stop. The stacks and
 * snapshots are the trace's, read only (trd_open() made them; the replay
 * does not touch them). */
#include "sym_warm.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "symbolizer.h"

/* A bound on the addresses resolved ahead (about 4 us each in libc with
 * its debug info), for traces of very many stacks: opening the files is the
 * part that counts. */
#define WARM_MAX_ADDRESSES 4096u

struct sym_warm {
    const struct trd_trace *t;
    pthread_t thread;
    int stop; /* sym_warm_stop(): atomic */
};

static int warm_stopped(const struct sym_warm *w)
{
    return __atomic_load_n(&w->stop, __ATOMIC_RELAXED);
}

static void *warm_main(void *arg)
{
    struct sym_warm *w = arg;
    struct sched_param idle = {0};
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle); /* a hint: may fail */
    struct sym_resolver *r = sym_new();
    if (r == NULL)
        return NULL;
    sym_quiet(r);
    for (size_t i = 0; i < trd_snapshot_count(w->t); i++)
        if (sym_add_snapshot(r, trd_snapshot(w->t, i)) < 0)
            goto done;
    size_t left = WARM_MAX_ADDRESSES;
    for (uint32_t id = 1; id < trd_stack_count(w->t) && left > 0; id++) {
        const struct trd_stack *st = trd_stack(w->t, id);
        for (uint32_t f = 0; st != NULL && f < st->depth && left > 0; f++, left--) {
            if (warm_stopped(w))
                goto done;
            const struct sym_location *loc;
            sym_resolve(r, st->epoch, st->frames[f], &loc);
        }
    }
done:
    sym_free(r); /* its open files go to the pool */
    return NULL;
}

struct sym_warm *sym_warm_start(const struct trd_trace *t)
{
    if (trd_snapshot_count(t) == 0)
        return NULL;
    struct sym_warm *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->t = t;
    if (pthread_create(&w->thread, NULL, warm_main, w) != 0) {
        free(w);
        return NULL;
    }
    return w;
}

void sym_warm_stop(struct sym_warm *w)
{
    if (w == NULL)
        return;
    __atomic_store_n(&w->stop, 1, __ATOMIC_RELAXED);
    pthread_join(w->thread, NULL);
    free(w);
}
