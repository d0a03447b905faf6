/* analysis.c — replay one trace and measure it (totals and per-stack sites).
 *
 * Reporter stage. The definitions implemented here are DESIGN.md's
 * "Definitions" made precise in docs/metrics.md; keep the three in step.
 *
 * One pass over a stream of the trace's events, O(1) expected work per event
 * (plus a binary search over the threads when the event's thread differs
 * from the last):
 * - live blocks sit in a packed open-addressing map keyed by address
 *   (livemap.c); memory grows with live blocks, never with events. What the
 *   map says of an event depends on the events before it alone, so the map
 *   is kept by a stage of the stream (resolve(), in the decoding thread when
 *   there is one: the map is a third of the work and most of its cache
 *   misses), and the accounting (on_event()) reads its answers;
 * - the per-site picture at the global peak is taken lazily: each site
 *   remembers the event number of its last change, and the first change after
 *   the latest peak saves its value first. A site untouched since the peak
 *   still holds its peak value at the end. So no site is ever copied when a
 *   new peak is reached;
 * - a realloc's release takes the old block out of the map at once (another
 *   thread may get the address back before the realloc returns) but its bytes
 *   stay counted until the acquisition, so the heap goes from old size to new
 *   size in one step, as DESIGN.md defines the peak;
 * - the temporary-allocation rule is per thread: each thread remembers whether
 *   its last event was an allocation, and which one (by event number, so a
 *   block that moved to another owner through address reuse never matches);
 * - a live block carries the length of its realloc chain, so that growth by
 *   repeated realloc is measured when the chain ends (free, or exit). */
#include "analysis.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "livemap.h"
#include "symbolizer.h"

/* What one thread's recent history means for the rules above. */
struct thstate {
    uint32_t serial;
    int has_last;           /* its last event was an allocation ... */
    uint64_t last_alloc_no; /* ... this one */
    int last_plain;         /* ... not a realloc, of this size, from this stack */
    uint64_t last_size;
    uint32_t last_stack;
    int has_pend;           /* a realloc released this block; bytes go at its acquisition */
    struct live pend;
};

/* A recently freed address (memory errors): a set-associative cache, each
 * set keeping its FREED_WAYS most recent frees. Bounded: a double free long
 * after the first free, with many frees between, is taken for an invalid free. */
#define FREED_SETS 16384u
#define FREED_WAYS 4u
struct freed {
    uint64_t ptr; /* 0: empty */
    uint64_t size;
    uint64_t no;      /* event number of the free: the oldest of a set goes first */
    uint64_t time_ns; /* absolute */
    uint32_t alloc_stack, free_stack;
};

/* A set of 64-bit keys (0 is never a key), open addressing: the distinct
 * contents of one site, and the (phase, site) pairs. */
struct kset {
    uint64_t *keys;
    uint64_t *vals; /* valued: [cap * 2], two counters per key */
    size_t cap, n;
    int valued;
};

/* The live map's answer for one event (resolve()). */
struct res {
    struct live old; /* if found: of a FREE or a realloc's release, the block released;
                        of an acquisition, the block that was still at its address */
    int found;       /* a PHASE event: the phase table was full (AN_OTHER_PHASES) */
    uint32_t phase;  /* a PHASE event: 1 + index of the phase it starts; 0: none */
};

/* The stage's view of a thread: a realloc released a block of this chain
 * length, and its acquisition has not been resolved yet. */
struct rthread {
    uint32_t serial;
    int has_pend;
    uint32_t pend_chain;
};

/* The live map's stage (resolve()): all it reads and writes. During the
 * replay it may run in another thread than the accounting: nothing here is
 * touched by the accounting until the stream has ended. */
struct resolver {
    struct livemap lm;
    uint64_t blocks;  /* in the map */
    uint64_t now;     /* as ctx.now */
    uint32_t phase;   /* as ctx.phase */
    char (*names)[TR_MAX_PHASE_NAME + 1]; /* as analysis.phases[].name */
    size_t n_names, cap_names;
    struct rthread *th; /* sorted by serial */
    size_t n_th, cap_th, last_th;
};

struct ctx {
    struct analysis *a;
    struct resolver rs; /* the live map's stage */
    struct thstate *th; /* sorted by serial */
    size_t n_th, cap_th;
    size_t last_th;   /* cache: events come in runs from one thread */
    uint64_t now;     /* number of the event being applied, from 1 */
    uint64_t peak_at; /* event number at which the current peak was set */
    uint64_t cur_bytes, cur_blocks, cur_slack;
    uint64_t start_ns;
    int start_known; /* start_ns is set (following: only at the first event) */
    int following;   /* an_run_follow(): the reader's tables grow as the replay goes */
    size_t cap_timeline;
    int fork_child; /* TR_FLAG_FORK_CHILD: unknown blocks were inherited */
    uint64_t sample_bytes; /* sampling mode: the mean; 0: every allocation recorded */
    size_t next_sample; /* first timeline entry not yet given its heap */
    struct freed *freed;  /* [FREED_SETS * FREED_WAYS], allocated at the first free */
    struct kset *content; /* [n_content], per stack id, allocated at its first hash */
    size_t n_content;
    struct kset phase_sites; /* (phase << 32 | stack) + 1 -> allocations, bytes */
    uint32_t phase;       /* 1 + index of the current phase; 0: none */
    uint64_t phase_since; /* absolute time of its mark */
    size_t cap_phases, cap_spans;
};

/* ---- key sets ---- */

static size_t ks_home(const struct kset *k, uint64_t key)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & (k->cap - 1);
}

/* The slot of key, or of the empty slot where it would go. */
static size_t ks_slot(const struct kset *k, uint64_t key)
{
    size_t i = ks_home(k, key);
    while (k->keys[i] != 0 && k->keys[i] != key)
        i = (i + 1) & (k->cap - 1);
    return i;
}

/* arr (n elements of elem bytes, cap allocated) with room for one more:
 * arr itself, or arr moved to twice the room (first when it had none), *cap
 * updated. NULL without memory; arr is then unchanged. */
static void *room_for_one(void *arr, size_t n, size_t *cap, size_t elem, size_t first)
{
    if (n < *cap)
        return arr;
    size_t want = *cap ? *cap * 2 : first;
    void *p = realloc(arr, want * elem);
    if (p != NULL)
        *cap = want;
    return p;
}

static int ks_grow(struct kset *k)
{
    size_t cap = k->cap ? k->cap * 2 : 64;
    uint64_t *keys = calloc(cap, sizeof *keys), *vals = NULL;
    if (keys == NULL)
        return -ENOMEM;
    if (k->valued) {
        vals = calloc(cap * 2, sizeof *vals);
        if (vals == NULL) {
            free(keys);
            return -ENOMEM;
        }
    }
    struct kset old = *k;
    k->keys = keys;
    k->vals = vals;
    k->cap = cap;
    for (size_t i = 0; i < old.cap; i++) {
        if (old.keys[i] == 0)
            continue;
        size_t j = ks_slot(k, old.keys[i]);
        k->keys[j] = old.keys[i];
        if (vals != NULL) {
            vals[2 * j] = old.vals[2 * i];
            vals[2 * j + 1] = old.vals[2 * i + 1];
        }
    }
    free(old.keys);
    free(old.vals);
    return 0;
}

/* Find or add key; *slot is its slot. 1 = it was there, 0 = added, <0 error. */
static int ks_add(struct kset *k, uint64_t key, size_t *slot)
{
    if (k->cap != 0) {
        size_t i = ks_slot(k, key);
        if (k->keys[i] == key) {
            *slot = i;
            return 1;
        }
    }
    if ((k->n + 1) * 2 > k->cap) {
        int rc = ks_grow(k);
        if (rc < 0)
            return rc;
    }
    size_t i = ks_slot(k, key);
    k->keys[i] = key;
    k->n++;
    *slot = i;
    return 0;
}

static int ks_has(const struct kset *k, uint64_t key)
{
    return k->cap != 0 && k->keys[ks_slot(k, key)] == key;
}

static void ks_fini(struct kset *k)
{
    free(k->keys);
    free(k->vals);
    memset(k, 0, sizeof *k);
}

/* ---- recently freed addresses ---- */

static struct freed *freed_set(const struct ctx *c, uint64_t ptr)
{
    size_t set = (size_t)((ptr >> 4) ^ (ptr >> 28)) & (FREED_SETS - 1); /* keeps locality */
    return &c->freed[set * FREED_WAYS];
}

static struct freed *freed_find(struct ctx *c, uint64_t ptr)
{
    if (c->freed == NULL || ptr == 0)
        return NULL;
    struct freed *w = freed_set(c, ptr);
    for (unsigned i = 0; i < FREED_WAYS; i++)
        if (w[i].ptr == ptr)
            return &w[i];
    return NULL;
}

/* Remember the free of block e (its stack, size) by the call with stack free_stack. */
static int freed_note(struct ctx *c, const struct live *e, uint32_t free_stack, uint64_t time_ns)
{
    if (e->ptr == 0)
        return 0;
    if (c->freed == NULL) {
        c->freed = calloc((size_t)FREED_SETS * FREED_WAYS, sizeof *c->freed);
        if (c->freed == NULL)
            return -ENOMEM;
    }
    struct freed *w = freed_set(c, e->ptr), *slot = &w[0];
    for (unsigned i = 0; i < FREED_WAYS; i++) {
        if (w[i].ptr == e->ptr || w[i].ptr == 0) {
            slot = &w[i];
            break;
        }
        if (w[i].no < slot->no)
            slot = &w[i];
    }
    *slot = (struct freed){e->ptr, e->size, c->now, time_ns, e->stack, free_stack};
    return 0;
}

/* The address is allocated again: no later free of it is a double free. */
static void freed_forget(struct ctx *c, uint64_t ptr)
{
    struct freed *f = freed_find(c, ptr);
    if (f != NULL)
        memset(f, 0, sizeof *f);
}

const char *an_error_name(uint64_t kind)
{
    static const char *const names[] = {"double-free", "invalid-free", "freed-realloc",
                                        "invalid-realloc"};
    return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}

/* ---- threads ---- */

/* A per-thread table: *arr holds *n elements of elem bytes, each starting
 * with its uint32_t serial, sorted by it. The element of serial, added
 * zeroed if new; NULL without memory. *last caches the last one found:
 * events come in runs of one thread. */
static void *by_serial(void **arr, size_t *n, size_t *cap, size_t *last, size_t elem,
                       uint32_t serial)
{
    char *base = *arr;
    uint32_t at;
    if (*n > 0) {
        memcpy(&at, base + *last * elem, sizeof at);
        if (at == serial)
            return base + *last * elem;
    }
    size_t lo = 0, hi = *n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        memcpy(&at, base + mid * elem, sizeof at);
        if (at < serial)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < *n)
        memcpy(&at, base + lo * elem, sizeof at);
    if (lo == *n || at != serial) {
        /* A thread's first event: insert in order (rare, O(threads)). */
        base = room_for_one(base, *n, cap, elem, 16);
        if (base == NULL)
            return NULL;
        *arr = base;
        memmove(base + (lo + 1) * elem, base + lo * elem, (*n - lo) * elem);
        memset(base + lo * elem, 0, elem);
        memcpy(base + lo * elem, &serial, sizeof serial);
        (*n)++;
    }
    *last = lo;
    return base + lo * elem;
}

static int th_get(struct ctx *c, uint32_t serial, struct thstate **out)
{
    if (c->n_th > 0 && c->th[c->last_th].serial == serial) { /* nearly always */
        *out = &c->th[c->last_th];
        return 0;
    }
    *out = by_serial((void **)&c->th, &c->n_th, &c->cap_th, &c->last_th, sizeof **out, serial);
    return *out != NULL ? 0 : -ENOMEM;
}

/* ---- sites and accounting ---- */

/* The table of sites holds exactly n (n >= a->n_sites), new ones zeroed. */
static int sites_resize(struct analysis *a, uint64_t n)
{
    if (n > UINT32_MAX || n > SIZE_MAX / sizeof *a->sites)
        return -ENOMEM;
    struct an_site *p = realloc(a->sites, (size_t)n * sizeof *p);
    if (p == NULL)
        return -ENOMEM;
    memset(p + a->n_sites, 0, (size_t)(n - a->n_sites) * sizeof *p);
    for (uint64_t i = a->n_sites; i < n; i++)
        p[i].stack = (uint32_t)i;
    a->sites = p;
    a->n_sites = (uint32_t)n;
    return 0;
}

/* The reader sizes the site table to every id it saw; this is a backstop.
 * While following, the table keeps up with the stacks indexed so far
 * (follow_sync), and a stack used before its definition was indexed is
 * damage whose handling would depend on when the reader looked: the
 * analysis gives up (-ESTALE), and the caller replays the finished trace. */
__attribute__((noinline)) static int site_grow(struct ctx *c, uint32_t id, struct an_site **out)
{
    struct analysis *a = c->a;
    if (c->following)
        return -ESTALE;
    uint64_t n = (uint64_t)a->n_sites * 2;
    if (n <= id)
        n = (uint64_t)id + 1;
    int rc = sites_resize(a, n);
    if (rc < 0)
        return rc;
    *out = &a->sites[id];
    return 0;
}

/* The site of stack id; the table grows only for an id the reader did not
 * size it for (site_grow(), out of the way of every event's path). */
static inline int site_get(struct ctx *c, uint32_t id, struct an_site **out)
{
    if (__builtin_expect(id >= c->a->n_sites, 0))
        return site_grow(c, id, out);
    *out = &c->a->sites[id];
    return 0;
}

/* Before a site's live figures change: if this is its first change since the
 * latest peak, what it holds now is what it held at the peak. */
static void site_touch(struct ctx *c, struct an_site *s)
{
    if (s->last_touch <= c->peak_at && c->now > c->peak_at) {
        s->saved_bytes = s->live_bytes;
        s->saved_blocks = s->live_blocks;
    }
    s->last_touch = c->now;
}

/* 1 - exp(-x) for 0 < x <= 1, by its series (no libm; 20 terms: < 1e-19). */
static double one_minus_exp_neg(double x)
{
    double term = x, sum = x;
    for (int k = 2; k <= 20; k++) {
        term *= -x / k;
        sum += term;
    }
    return sum;
}

/* How many allocations the recorded one (ev, of ev->size bytes) stands for.
 * Full mode: 1. Sampling mode with mean m (docs/metrics.md, "Sampling"): a
 * block of s <= m bytes was recorded with probability 1 - exp(-s/m), so it
 * stands for w = 1 / (1 - exp(-s/m)) allocations (tcmalloc's weight, which
 * makes every sum over allocations unbiased); blocks over m bytes were all
 * recorded: 1. w is rounded to a whole number at random, up with
 * probability frac(w), by a hash of its size and event number (the same
 * run gives the same figures: no address, no time), so that the
 * estimate stays unbiased and every figure stays a whole number. */
__attribute__((noinline)) static uint64_t sampled_weight(const struct ctx *c, uint64_t size,
                                                          uint64_t no)
{
    double x = (double)(size ? size : 1) / (double)c->sample_bytes;
    double w = 1.0 / one_minus_exp_neg(x);
    if (w >= 0x1p62)
        return (uint64_t)1 << 62;
    uint64_t whole = (uint64_t)w;
    uint64_t h = (size * 0x9e3779b97f4a7c15u ^ no) * 0xbf58476d1ce4e5b9u;
    h ^= h >> 31;
    double u = (double)(h >> 11) * 0x1p-53;
    return whole + (u < w - (double)whole);
}

/* sampled_weight() above; full mode (and blocks over the mean) inline. */
static inline uint64_t weight_of(const struct ctx *c, uint64_t size, uint64_t no)
{
    if (c->sample_bytes == 0 || size > c->sample_bytes)
        return 1;
    return sampled_weight(c, size, no);
}

/* The event being applied (number c->now). */
static uint64_t represented(const struct ctx *c, const struct trd_event *ev)
{
    return weight_of(c, ev->size, c->now);
}

/* A live block: the same weight as when it was allocated (event alloc_no),
 * recomputed rather than stored (the live map's entries stay 48 bytes). */
static uint64_t live_n(const struct ctx *c, const struct live *e)
{
    return weight_of(c, e->size, e->alloc_no);
}

static int live_add(struct ctx *c, const struct live *e)
{
    struct an_site *s;
    int rc = site_get(c, e->stack, &s);
    if (rc < 0)
        return rc;
    uint64_t n = live_n(c, e);
    site_touch(c, s);
    s->live_bytes += n * e->size;
    s->live_blocks += n;
    if (s->live_bytes > s->max_live_bytes)
        s->max_live_bytes = s->live_bytes;
    if (s->live_blocks > s->max_live_blocks)
        s->max_live_blocks = s->live_blocks;
    c->cur_bytes += n * e->size;
    c->cur_blocks += n;
    c->cur_slack += n * e->slack;
    return 0;
}

static int live_sub(struct ctx *c, const struct live *e)
{
    struct an_site *s;
    int rc = site_get(c, e->stack, &s);
    if (rc < 0)
        return rc;
    uint64_t n = live_n(c, e);
    site_touch(c, s);
    s->live_bytes -= n * e->size;
    s->live_blocks -= n;
    c->cur_bytes -= n * e->size;
    c->cur_blocks -= n;
    c->cur_slack -= n * e->slack;
    return 0;
}

static void peak_check(struct ctx *c, uint64_t time_ns)
{
    struct an_totals *tot = &c->a->totals;
    if (c->cur_bytes <= tot->peak_heap_bytes)
        return; /* "first reached": an equal later height keeps the earlier time */
    tot->peak_heap_bytes = c->cur_bytes;
    tot->peak_blocks = c->cur_blocks;
    tot->peak_slack_bytes = c->cur_slack;
    tot->peak_time_ns = time_ns > c->start_ns ? time_ns - c->start_ns : 0;
    c->peak_at = c->now;
}

/* ---- phases ---- */

static struct an_phase *cur_phase(struct ctx *c)
{
    return c->phase != 0 ? &c->a->phases[c->phase - 1] : NULL;
}

static uint64_t rel_ns(const struct ctx *c, uint64_t time_ns)
{
    return time_ns > c->start_ns ? time_ns - c->start_ns : 0;
}

/* The current phase's span ends at time_ns (absolute). */
static void phase_close(struct ctx *c, uint64_t time_ns)
{
    struct an_phase *ph = cur_phase(c);
    if (ph == NULL)
        return;
    if (time_ns > c->phase_since)
        ph->duration_ns += time_ns - c->phase_since;
    struct analysis *a = c->a;
    if (a->n_spans > 0 && a->spans[a->n_spans - 1].phase == c->phase - 1 &&
        a->spans[a->n_spans - 1].end_ns == UINT64_MAX)
        a->spans[a->n_spans - 1].end_ns = rel_ns(c, time_ns);
    c->phase = 0;
}

/* A phase's name as the report shows it: printable ASCII, other bytes '?'. */
static void phase_clean(const char *name, uint32_t len, char clean[TR_MAX_PHASE_NAME + 1])
{
    if (len > TR_MAX_PHASE_NAME)
        len = TR_MAX_PHASE_NAME;
    for (uint32_t i = 0; i < len; i++)
        clean[i] = name[i] >= 0x20 && name[i] < 0x7f ? name[i] : '?';
    clean[len] = '\0';
}

/* The phase a mark starts (the stage's part, resolve_phase(), numbers it):
 * its figures, added if new; names past AN_MAX_PHASES share the last one,
 * renamed AN_OTHER_PHASES. */
static int phase_entry(struct ctx *c, const struct trd_event *ev, const struct res *res,
                       size_t *out)
{
    struct analysis *a = c->a;
    size_t idx = res->phase - 1;
    if (res->found) {
        struct an_phase *last = &a->phases[AN_MAX_PHASES - 1];
        snprintf(last->name, sizeof last->name, "%s", AN_OTHER_PHASES);
    } else if (idx == a->n_phases) {
        struct an_phase *grown =
            room_for_one(a->phases, a->n_phases, &c->cap_phases, sizeof *grown, 8);
        if (grown == NULL)
            return -ENOMEM;
        a->phases = grown;
        struct an_phase *ph = &a->phases[a->n_phases++];
        memset(ph, 0, sizeof *ph);
        phase_clean(ev->name, ev->name_len, ph->name);
    }
    *out = idx;
    return 0;
}

/* A phase mark: the current phase ends, the named one (if any) begins. */
static int phase_mark(struct ctx *c, const struct trd_event *ev, const struct res *res)
{
    struct analysis *a = c->a;
    size_t idx;
    phase_close(c, ev->time_ns);
    if (res->phase == 0)
        return 0; /* memaudit_phase_end() */
    int rc = phase_entry(c, ev, res, &idx);
    if (rc < 0)
        return rc;
    struct an_phase *ph = &a->phases[idx];
    uint64_t at = rel_ns(c, ev->time_ns);
    if (ph->marks++ == 0) {
        ph->start_ns = at;
        ph->heap_bytes_at_start = c->cur_bytes;
    }
    if (ph->marks == 1 || c->cur_bytes > ph->peak_heap_bytes) {
        ph->peak_heap_bytes = c->cur_bytes;
        ph->peak_time_ns = at;
        ph->peak_blocks = c->cur_blocks;
    }
    c->phase = (uint32_t)idx + 1;
    c->phase_since = ev->time_ns;
    if (a->n_spans < AN_MAX_PHASE_SPANS) {
        struct an_phase_span *grown =
            room_for_one(a->spans, a->n_spans, &c->cap_spans, sizeof *grown, 16);
        if (grown == NULL)
            return -ENOMEM;
        a->spans = grown;
        a->spans[a->n_spans++] = (struct an_phase_span){at, UINT64_MAX, idx};
    }
    return 0;
}

/* An allocation of size bytes at stack, in the current phase. */
static int phase_alloc(struct ctx *c, uint32_t stack, uint64_t size, uint64_t n)
{
    struct an_phase *ph = cur_phase(c);
    if (ph == NULL)
        return 0;
    ph->allocations += n;
    ph->bytes_allocated += n * size;
    size_t slot;
    int rc = ks_add(&c->phase_sites, ((uint64_t)(c->phase - 1) << 32 | stack) + 1, &slot);
    if (rc < 0)
        return rc;
    c->phase_sites.vals[2 * slot] += n;
    c->phase_sites.vals[2 * slot + 1] += n * size;
    return 0;
}

static int phase_site_better(const struct an_phase_site *x, const struct an_phase_site *y)
{
    if (x->allocations != y->allocations)
        return x->allocations > y->allocations;
    if (x->bytes_allocated != y->bytes_allocated)
        return x->bytes_allocated > y->bytes_allocated;
    return x->stack < y->stack;
}

/* Each phase's top sites, by insertion into its short sorted list. */
static void phase_top_sites(struct ctx *c)
{
    const struct kset *k = &c->phase_sites;
    for (size_t i = 0; i < k->cap; i++) {
        if (k->keys[i] == 0)
            continue;
        uint64_t key = k->keys[i] - 1;
        size_t idx = (size_t)(key >> 32);
        if (idx >= c->a->n_phases)
            continue;
        struct an_phase *ph = &c->a->phases[idx];
        struct an_phase_site e = {(uint32_t)key, k->vals[2 * i], k->vals[2 * i + 1]};
        size_t n = (size_t)ph->n_top, at = n;
        while (at > 0 && phase_site_better(&e, &ph->top[at - 1]))
            at--;
        if (at >= AN_PHASE_TOP)
            continue;
        if (n == AN_PHASE_TOP)
            n--;
        memmove(&ph->top[at + 1], &ph->top[at], (n - at) * sizeof e);
        ph->top[at] = e;
        ph->n_top = n + 1;
    }
}

static void phase_peak_check(struct ctx *c, uint64_t time_ns)
{
    struct an_phase *ph = cur_phase(c);
    if (ph == NULL || c->cur_bytes <= ph->peak_heap_bytes)
        return;
    ph->peak_heap_bytes = c->cur_bytes;
    ph->peak_blocks = c->cur_blocks;
    ph->peak_time_ns = time_ns > c->start_ns ? time_ns - c->start_ns : 0;
}

/* ---- duplicate content ---- */

/* A freed block e of site s whose content hashed to hash. */
static int content_note(struct ctx *c, struct an_site *s, const struct live *e, uint64_t hash)
{
    struct an_totals *tot = &c->a->totals;
    uint32_t id = e->stack;
    if (id >= c->n_content) {
        size_t n = c->n_content ? c->n_content : 64;
        while (n <= id)
            n *= 2;
        struct kset *p = realloc(c->content, n * sizeof *p);
        if (p == NULL)
            return -ENOMEM;
        memset(p + c->n_content, 0, (n - c->n_content) * sizeof *p);
        c->content = p;
        c->n_content = n;
    }
    struct kset *k = &c->content[id];
    /* The same bytes in blocks of another size are another value. */
    uint64_t key = hash ^ (e->size * 0xC2B2AE3D27D4EB4Full);
    if (key == 0)
        key = 1;
    s->content_hashed++;
    tot->content_hashed++;
    if (ks_has(k, key)) {
        s->content_duplicates++;
        s->content_duplicate_bytes += e->size;
        tot->content_duplicates++;
        return 0;
    }
    s->content_distinct++;
    if (k->n >= AN_CONTENT_MAX_DISTINCT) {
        s->content_capped = 1;
        return 0;
    }
    size_t slot;
    int rc = ks_add(k, key, &slot);
    return rc < 0 ? rc : 0;
}

/* ---- memory errors ---- */

/* A free (or a realloc, is_realloc) of ptr, which is not live. */
static int memory_error(struct ctx *c, const struct trd_event *ev, uint64_t ptr, int is_realloc)
{
    struct analysis *a = c->a;
    struct an_totals *tot = &a->totals;
    const struct freed *f = freed_find(c, ptr);
    uint64_t kind;
    if (f != NULL) {
        kind = is_realloc ? AN_FREED_REALLOC : AN_DOUBLE_FREE;
        if (is_realloc)
            tot->freed_reallocs++;
        else
            tot->double_frees++;
    } else {
        kind = is_realloc ? AN_INVALID_REALLOC : AN_INVALID_FREE;
        if (is_realloc)
            tot->invalid_reallocs++;
        else
            tot->invalid_frees++;
    }
    if (a->n_errors >= AN_MAX_ERRORS)
        return 0;
    if (a->errors == NULL) {
        a->errors = calloc(AN_MAX_ERRORS, sizeof *a->errors);
        if (a->errors == NULL)
            return -ENOMEM;
    }
    struct an_error *e = &a->errors[a->n_errors++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->address = ptr;
    e->time_ns = rel_ns(c, ev->time_ns);
    e->thread = ev->thread;
    e->call_stack = ev->stack;
    if (f != NULL) {
        e->size = f->size;
        e->freed_ns = rel_ns(c, f->time_ns);
        e->alloc_stack = f->alloc_stack;
        e->free_stack = f->free_stack;
    }
    /* The profile keeps the stacks of used sites only: mark these used. */
    uint32_t ids[3] = {e->alloc_stack, e->free_stack, e->call_stack};
    for (int i = 0; i < 3; i++) {
        struct an_site *s;
        if (ids[i] == 0)
            continue;
        int rc = site_get(c, ids[i], &s);
        if (rc < 0)
            return rc;
        s->error_refs++;
    }
    return 0;
}

unsigned an_size_class(uint64_t size)
{
    if (size == 0)
        return 0;
    unsigned k = 64u - (unsigned)__builtin_clzll(size); /* 2^(k-1) <= size < 2^k */
    return k < AN_SIZE_CLASSES - 1 ? k : AN_SIZE_CLASSES - 1;
}

/* A block that went through reallocs leaves (freed, or live at the end):
 * its chain is counted at the site of its last realloc. */
static int chain_end(struct ctx *c, const struct live *e)
{
    if (e->chain == 0)
        return 0;
    struct an_site *s;
    int rc = site_get(c, e->stack, &s);
    if (rc < 0)
        return rc;
    s->chains += live_n(c, e);
    s->chain_reallocs += live_n(c, e) * e->chain;
    if (e->chain > s->chain_longest)
        s->chain_longest = e->chain;
    s->chain_final_bytes += live_n(c, e) * e->size;
    return 0;
}

/* ---- the live map's part (resolve_*: the map's answers, struct res) ---- */

/* A new block goes into the map; res: the block still at its address. */
static int resolve_acquire(struct resolver *r, const struct trd_event *ev, uint32_t chain,
                           uint64_t alloc_no, struct res *res)
{
    struct live e = {
        .ptr = ev->ptr,
        .size = ev->size,
        .slack = ev->slack > UINT32_MAX ? UINT32_MAX : (uint32_t)ev->slack,
        .alloc_no = alloc_no,
        .time_ns = ev->time_ns,
        .stack = ev->stack,
        .chain = chain,
        .phase = r->phase,
    };
    /* One walk of the map finds a block still at the address and puts the
     * new one in. */
    int rc = lm_replace(&r->lm, &e, &res->old);
    if (rc < 0)
        return rc;
    res->found = rc;
    r->blocks += rc == 0;
    return 0;
}

/* The block at ptr leaves the map. */
static void resolve_release(struct resolver *r, uint64_t ptr, struct res *res)
{
    res->found = lm_remove(&r->lm, ptr, &res->old);
    r->blocks -= (uint64_t)res->found;
}

/* A phase mark: the index of its phase, as phase_entry() will number it
 * (the names seen so far, in order; past AN_MAX_PHASES, the last one,
 * renamed AN_OTHER_PHASES: res->found). */
static int resolve_phase(struct resolver *r, const struct trd_event *ev, struct res *res)
{
    char clean[TR_MAX_PHASE_NAME + 1];
    size_t i;
    if (ev->name_len == 0) {
        r->phase = res->phase = 0;
        return 0;
    }
    phase_clean(ev->name, ev->name_len, clean);
    for (i = 0; i < r->n_names; i++)
        if (strcmp(r->names[i], clean) == 0)
            break;
    if (i == r->n_names && r->n_names == AN_MAX_PHASES) {
        i = AN_MAX_PHASES - 1;
        snprintf(r->names[i], sizeof r->names[i], "%s", AN_OTHER_PHASES);
        res->found = 1;
    } else if (i == r->n_names) {
        void *grown = room_for_one(r->names, r->n_names, &r->cap_names, sizeof *r->names, 8);
        if (grown == NULL)
            return -ENOMEM;
        r->names = grown;
        memcpy(r->names[r->n_names++], clean, sizeof clean);
    }
    r->phase = res->phase = (uint32_t)i + 1;
    return 0;
}

/* A new block at ev->ptr: count it, and make it the thread's last allocation.
 * chain is the realloc chain length it continues (0 for a plain allocation);
 * res says whether a block was still at the address (NULL: ask the map). */
static int acquire(struct ctx *c, struct thstate *th, const struct trd_event *ev, uint32_t chain,
                   const struct res *res)
{
    struct an_totals *tot = &c->a->totals;
    struct res own;
    int rc;

    if (res == NULL) {
        rc = resolve_acquire(&c->rs, ev, chain, c->now, &own);
        if (rc < 0)
            return rc;
        res = &own;
    }

    uint64_t n = represented(c, ev);
    rc = phase_alloc(c, ev->stack, ev->size, n);
    if (rc < 0)
        return rc;
    struct live e = {
        .ptr = ev->ptr,
        .size = ev->size,
        .slack = ev->slack > UINT32_MAX ? UINT32_MAX : (uint32_t)ev->slack,
        .alloc_no = c->now,
        .time_ns = ev->time_ns,
        .stack = ev->stack,
        .chain = chain,
        .phase = c->phase,
    };
    if (res->found) {
        /* The address was still live: a free we never saw, or events out of
         * order. The old block is gone either way; count the anomaly. */
        tot->unmatched_frees++;
        rc = live_sub(c, &res->old);
        if (rc < 0)
            return rc;
    }
    freed_forget(c, ev->ptr);
    rc = live_add(c, &e);
    if (rc < 0)
        return rc;

    struct an_site *s;
    rc = site_get(c, ev->stack, &s);
    if (rc < 0)
        return rc;
    if (s->allocations == 0 || ev->size < s->min_size)
        s->min_size = ev->size;
    if (ev->size > s->max_size)
        s->max_size = ev->size;
    s->allocations += n;
    s->bytes_allocated += n * ev->size;
    s->size_classes[an_size_class(ev->size)] += n;
    s->slack_bytes += n * ev->slack;
    tot->allocations += n;
    tot->bytes_allocated += n * ev->size;
    tot->slack_bytes += n * ev->slack;
    th->has_last = 1;
    th->last_alloc_no = c->now;
    th->last_plain = chain == 0 && ev->type == TR_REC_ALLOC;
    th->last_size = ev->size;
    th->last_stack = ev->stack;
    return 0;
}

/* Growth by hand: the thread frees block e right after allocating a larger
 * one from the same site (allocate bigger, copy, free the smaller). */
static int manual_grow_check(struct ctx *c, const struct thstate *th, const struct live *e)
{
    if (!th->has_last || !th->last_plain || th->last_stack != e->stack ||
        th->last_size <= e->size || th->last_alloc_no == e->alloc_no)
        return 0;
    struct an_site *s;
    int rc = site_get(c, e->stack, &s);
    if (rc < 0)
        return rc;
    s->manual_grows += live_n(c, e);
    s->manual_copied += live_n(c, e) * e->size;
    return 0;
}

/* The block at ptr leaves for a free or a realloc's release (res: the
 * map's answer; NULL: ask the map): counts the free and the temporary rule.
 * *out, *gone = 1: the block, when it was known. */
static int release(struct ctx *c, struct thstate *th, const struct trd_event *ev, uint64_t ptr,
                   const struct res *res, struct live *out, int *gone)
{
    struct an_totals *tot = &c->a->totals;
    int is_realloc = ev->type == TR_REC_REALLOC;
    if (res != NULL) {
        *gone = res->found;
        *out = res->old;
    } else {
        *gone = lm_remove(&c->rs.lm, ptr, out);
        c->rs.blocks -= (uint64_t)*gone;
    }
    if (!*gone) {
        /* A fork child's recording starts at the fork: the blocks it had
         * then were allocated in the parent's trace, and freeing them is
         * no anomaly. */
        if (c->fork_child) {
            tot->inherited_frees++;
            return 0;
        }
        /* Sampling mode: a block allocated before recording, or one the
         * recorder still took for sampled when it was freed. Not an error. */
        if (c->sample_bytes != 0) {
            tot->unsampled_frees++;
            return 0;
        }
        tot->unmatched_frees++;
        return memory_error(c, ev, ptr, is_realloc);
    }
    struct an_site *s;
    int rc = site_get(c, out->stack, &s);
    if (rc < 0)
        return rc;
    s->frees += live_n(c, out);
    tot->frees += live_n(c, out);
    struct an_phase *ph = cur_phase(c);
    if (ph != NULL) {
        ph->frees += live_n(c, out);
        ph->bytes_freed += live_n(c, out) * out->size;
    }
    if (th->has_last && th->last_alloc_no == out->alloc_no) {
        s->temporary += live_n(c, out);
        tot->temporary_allocations += live_n(c, out);
        if (out->phase != 0)
            c->a->phases[out->phase - 1].temporary += live_n(c, out);
    }
    if (ev->has_hash && !is_realloc) {
        rc = content_note(c, s, out, ev->hash);
        if (rc < 0)
            return rc;
    }
    return freed_note(c, out, ev->stack, ev->time_ns);
}

static int count_failed(struct ctx *c, uint32_t stack)
{
    struct an_site *s;
    int rc = site_get(c, stack, &s);
    if (rc < 0)
        return rc;
    s->failed++;
    c->a->totals.failed_allocations++;
    if (c->phase != 0)
        cur_phase(c)->failed++;
    return 0;
}

/* ---- memory timeline ---- */

/* Give every sample taken before time_ns (absolute) the heap as it stands:
 * after every event up to the sample's time (an event stamped at the very
 * nanosecond of a sample counts as before it). */
static void timeline_upto(struct ctx *c, uint64_t time_ns)
{
    struct analysis *a = c->a;
    uint64_t rel = time_ns > c->start_ns ? time_ns - c->start_ns : 0;
    while (c->next_sample < a->n_timeline &&
           (time_ns == UINT64_MAX || a->timeline[c->next_sample].time_ns < rel)) {
        struct an_sample *s = &a->timeline[c->next_sample++];
        s->heap_bytes = c->cur_bytes;
        s->heap_blocks = c->cur_blocks;
    }
}

/* Take the reader's samples not yet in the timeline (all of them after the
 * replay; while following, those indexed so far: every sample before the
 * latest watermark, so before any event handed out). Indexes never move. */
static int timeline_sync(struct ctx *c, struct trd_trace *t)
{
    struct analysis *a = c->a;
    size_t n = trd_sample_count(t);
    if (n <= a->n_timeline)
        return 0;
    if (n > c->cap_timeline) {
        size_t cap = c->following && n < 2 * c->cap_timeline ? 2 * c->cap_timeline : n;
        struct an_sample *p = realloc(a->timeline, cap * sizeof *p);
        if (p == NULL)
            return -ENOMEM;
        a->timeline = p;
        c->cap_timeline = cap;
    }
    for (size_t i = a->n_timeline; i < n; i++) {
        const struct trd_sample *in = trd_sample(t, i);
        struct an_sample *s = &a->timeline[i];
        memset(s, 0, sizeof *s);
        s->time_ns = in->time_ns > c->start_ns ? in->time_ns - c->start_ns : 0;
        s->rss_bytes = in->rss_bytes;
        if (in->n_stats < TR_STAT_COUNT_)
            continue;
        uint64_t arena = in->stats[TR_STAT_ARENA], mmapped = in->stats[TR_STAT_HBLKHD];
        uint64_t used = in->stats[TR_STAT_UORDBLKS], avail = in->stats[TR_STAT_FORDBLKS];
        uint64_t top = in->stats[TR_STAT_KEEPCOST];
        s->has_allocator = 1;
        s->allocator_heap_bytes = arena + mmapped;
        s->allocator_in_use_bytes = used + mmapped;
        s->allocator_free_bytes = avail;
        s->allocator_releasable_bytes = top;
        uint64_t holes = avail > top ? avail - top : 0;
        uint64_t held = arena + mmapped > top ? arena + mmapped - top : 0;
        s->fragmentation = held > 0 && holes <= held ? (double)holes / (double)held : 0.0;
    }
    a->n_timeline = n;
    return 0;
}

/* Peak RSS, and fragmentation there (docs/metrics.md). */
static void timeline_finish(struct analysis *a)
{
    struct an_memory *m = &a->memory;
    if (a->n_timeline == 0)
        return;
    for (size_t i = 0; i < a->n_timeline; i++) {
        if (i == 0 || a->timeline[i].rss_bytes > m->peak_rss_bytes) {
            m->peak_rss_bytes = a->timeline[i].rss_bytes;
            m->peak_rss_time_ns = a->timeline[i].time_ns;
            m->peak_rss_sample = i;
        }
    }
    /* The nearest sample with the allocator's figures (the earlier on a tie). */
    const struct an_sample *best = NULL;
    uint64_t best_d = 0;
    for (size_t i = 0; i < a->n_timeline; i++) {
        const struct an_sample *s = &a->timeline[i];
        if (!s->has_allocator)
            continue;
        uint64_t d = s->time_ns > m->peak_rss_time_ns ? s->time_ns - m->peak_rss_time_ns
                                                       : m->peak_rss_time_ns - s->time_ns;
        if (best == NULL || d < best_d) {
            best = s;
            best_d = d;
        }
    }
    if (best != NULL) {
        m->has_fragmentation = 1;
        m->fragmentation_at_peak_rss = best->fragmentation;
    }
}

/* Apply ev. res: the map's answer (resolve_one() in the decoding thread);
 * NULL: ask the map here, in the same steps. */
static int on_event(struct ctx *c, const struct trd_event *ev, const struct res *res)
{
    struct thstate *th;
    struct live old;
    int gone, rc;

    if (ev->type == TR_REC_PHASE) {
        struct res own = {0};
        if (res == NULL) {
            rc = resolve_phase(&c->rs, ev, &own);
            if (rc < 0)
                return rc;
            res = &own;
        }
        return phase_mark(c, ev, res);
    }
    timeline_upto(c, ev->time_ns);
    c->now++;
    rc = th_get(c, ev->thread, &th);
    if (rc < 0)
        return rc;

    switch (ev->type) {
    case TR_REC_ALLOC:
        th->has_last = 0;
        rc = acquire(c, th, ev, 0, res);
        break;
    case TR_REC_FREE:
        rc = release(c, th, ev, ev->ptr, res, &old, &gone);
        if (rc == 0 && gone) {
            rc = manual_grow_check(c, th, &old);
            if (rc == 0)
                rc = chain_end(c, &old);
            if (rc == 0)
                rc = live_sub(c, &old);
        }
        th->has_last = 0;
        break;
    case TR_REC_FAIL:
        th->has_last = 0;
        rc = count_failed(c, ev->stack);
        break;
    case TR_REC_REALLOC:
        if (ev->part == TRD_REALLOC_RELEASE) {
            /* The outcome is in the record: new == 0 with size > 0 failed and
             * left the old block live; anything else released it. */
            int failed = ev->ptr == 0 && ev->size > 0;
            if (!failed && ev->old_ptr != 0) {
                rc = release(c, th, ev, ev->old_ptr, res, &old, &gone);
                if (rc == 0 && gone) {
                    th->pend = old;
                    th->has_pend = 1;
                }
            }
            th->has_last = 0;
            break;
        }
        /* Acquisition: one step from the old size to the new one. */
        int had_old = th->has_pend;
        struct live prev = th->pend;
        if (had_old) {
            th->has_pend = 0;
            rc = live_sub(c, &prev);
            if (rc < 0)
                break;
        }
        if (ev->ptr != 0) {
            rc = acquire(c, th, ev, had_old ? prev.chain + 1 : 0, res);
            if (rc < 0)
                break;
            if (ev->old_ptr != 0) {
                struct an_site *s;
                rc = site_get(c, ev->stack, &s);
                if (rc < 0)
                    break;
                uint64_t n = represented(c, ev);
                s->reallocs += n;
                c->a->totals.reallocs += n;
                if (c->phase != 0)
                    cur_phase(c)->reallocs += n;
                if (had_old && ev->size > prev.size)
                    s->realloc_grows++;
                if (had_old && ev->ptr != ev->old_ptr) {
                    s->realloc_moves++;
                    s->realloc_copied += prev.size < ev->size ? prev.size : ev->size;
                }
            }
        } else if (ev->size > 0) {
            rc = count_failed(c, ev->stack);
        } else if (had_old) {
            rc = chain_end(c, &prev); /* realloc(p, 0) freed it */
        }
        break;
    default:
        break;
    }
    if (rc < 0)
        return rc;
    peak_check(c, ev->time_ns);
    phase_peak_check(c, ev->time_ns);
    return 0;
}

/* 1 if path names the dynamic linker (ld-linux-x86-64.so.2, ld-linux.so.2, ld.so ...). */
static int is_dynamic_linker(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return strncmp(base, "ld-", 3) == 0 || strncmp(base, "ld.so", 5) == 0;
}

/* The last snapshot of epoch (modules are only added within an epoch). */
static const struct mm_snapshot *snapshot_of(const struct trd_trace *t, uint32_t epoch)
{
    const struct mm_snapshot *found = NULL;
    for (size_t i = 0; i < trd_snapshot_count(t); i++) {
        const struct mm_snapshot *s = trd_snapshot(t, i);
        if (s->epoch == epoch)
            found = s;
    }
    return found;
}

/* Blocks the C runtime holds for itself (DESIGN.md: shown apart from leaks). */
static int site_is_runtime(const struct trd_trace *t, uint32_t id)
{
    if (id == 0)
        return 1; /* before the recorder started: start-up of ld.so, libc, C++ runtime */
    const struct trd_stack *st = trd_stack(t, id);
    if (st == NULL || st->depth == 0)
        return 0;
    const struct mm_snapshot *snap = snapshot_of(t, st->epoch);
    const struct mm_module *m = snap ? mm_find(snap, st->frames[0]) : NULL;
    return m != NULL && is_dynamic_linker(m->path);
}

/* One block live at the end: when in the run it was allocated, and the end
 * of its realloc chain. */
static int leaked_block(struct ctx *c, const struct live *e)
{
    struct an_site *s;
    int rc = site_get(c, e->stack, &s);
    if (rc < 0)
        return rc;
    uint64_t at = e->time_ns > c->start_ns ? e->time_ns - c->start_ns : 0;
    if (s->leak_seen == 0 || at < s->leak_first_ns)
        s->leak_first_ns = at;
    if (at > s->leak_last_ns)
        s->leak_last_ns = at;
    if (!s->leak_seen || e->alloc_no < s->leak_first_no)
        s->leak_first_no = e->alloc_no;
    if (e->alloc_no > s->leak_last_no)
        s->leak_last_no = e->alloc_no;
    s->leak_seen = 1;
    if (e->phase != 0) {
        c->a->phases[e->phase - 1].live_bytes += live_n(c, e) * e->size;
        c->a->phases[e->phase - 1].live_blocks += live_n(c, e);
    }
    return chain_end(c, e);
}

static int leaked_block_cb(void *arg, const struct live *e)
{
    return leaked_block(arg, e);
}

static int leaks_over_time(struct ctx *c)
{
    int rc = lm_each(&c->rs.lm, leaked_block_cb, c);
    /* A leak grows when its blocks were allocated over at least a quarter
     * of the run, counted in events rather than time so that the verdict
     * does not depend on how fast the machine was. */
    for (uint32_t i = 0; i < c->a->n_sites && rc == 0; i++) {
        struct an_site *s = &c->a->sites[i];
        s->leak_grows = s->live_blocks >= AN_LEAK_GROWS_BLOCKS &&
                        s->leak_last_no - s->leak_first_no >= c->now / 4 && c->now != 0;
    }
    return rc;
}

/* Functions of glibc whose blocks its exit-time cleanup (__libc_freeres, what
 * memcheck runs) frees: the buffers of FILE streams, dlerror's state, locale
 * and NSS data, the resolver's state. A prefix ends with '*'. */
static const char *const runtime_functions[] = {
    "_IO_file_doallocate", "_IO_wfile_doallocate", "__libc_dlerror_result*", "_dlerror_run",
    "_nl_*",               "__nss_*",              "nss_*",                  "__res_*",
    "new_composite_name",  "__gconv_*",            "setlocale",              "read_alias_file",
    "extend_alias_table",  "set_binding_values",   "__textdomain",           "textdomain",
    "__bindtextdomain",    "bindtextdomain",       "bind_textdomain_codeset",
};

static int runtime_name(const char *name)
{
    if (name == NULL)
        return 0;
    for (size_t i = 0; i < sizeof(runtime_functions) / sizeof(runtime_functions[0]); i++) {
        const char *f = runtime_functions[i];
        size_t n = strlen(f);
        if (f[n - 1] == '*' ? strncmp(name, f, n - 1) == 0 : strcmp(name, f) == 0)
            return 1;
    }
    return 0;
}

void an_classify_runtime(struct analysis *a, struct sym_resolver *sym)
{
    struct an_totals *tot = &a->totals;
    for (uint32_t i = 0; i < a->n_sites; i++) {
        struct an_site *s = &a->sites[i];
        const struct trd_stack *st = trd_stack(a->trace, i);
        if (s->runtime || s->live_blocks == 0 || st == NULL || st->depth == 0)
            continue;
        /* The allocating function, or its caller when that is a libc
         * helper such as strdup called by setlocale. */
        int hit = 0;
        for (uint32_t f = 0; f < 2 && f < st->depth && !hit; f++) {
            const struct sym_location *loc;
            size_t n = sym_resolve(sym, st->epoch, st->frames[f], &loc);
            for (size_t k = 0; k < n && !hit; k++)
                hit = runtime_name(loc[k].raw_name) || runtime_name(loc[k].function);
        }
        if (!hit)
            continue;
        s->runtime = 1;
        tot->runtime_held_bytes += s->live_bytes;
        tot->runtime_held_blocks += s->live_blocks;
        tot->leaked_bytes -= s->live_bytes;
        tot->leaked_blocks -= s->live_blocks;
    }
}

/* After the last event: settle, then read the lazy peak picture. */
static int finish(struct ctx *c, struct trd_trace *t)
{
    struct analysis *a = c->a;
    struct an_totals *tot = &a->totals;

    /* A release always has its acquisition right behind it in the stream;
     * this only matters if the stream stopped between the two. */
    for (size_t i = 0; i < c->n_th; i++) {
        if (c->th[i].has_pend) {
            c->now++;
            int rc = live_sub(c, &c->th[i].pend);
            if (rc < 0)
                return rc;
            c->th[i].has_pend = 0;
        }
    }
    for (uint32_t i = 0; i < a->n_sites; i++) {
        struct an_site *s = &a->sites[i];
        if (s->last_touch <= c->peak_at) {
            s->peak_bytes = s->live_bytes;
            s->peak_blocks = s->live_blocks;
        } else {
            s->peak_bytes = s->saved_bytes;
            s->peak_blocks = s->saved_blocks;
        }
    }
    for (uint32_t i = 0; i < a->n_sites; i++) {
        struct an_site *s = &a->sites[i];
        if (s->live_blocks == 0 || !site_is_runtime(t, i))
            continue;
        s->runtime = 1;
        tot->runtime_held_bytes += s->live_bytes;
        tot->runtime_held_blocks += s->live_blocks;
    }
    timeline_upto(c, UINT64_MAX);
    timeline_finish(a);
    /* The last phase lasts to the end of the trace. */
    uint64_t end = trd_last_ns(t) > c->phase_since ? trd_last_ns(t) : c->phase_since;
    phase_close(c, end);
    for (size_t i = 0; i < a->n_spans; i++)
        if (a->spans[i].end_ns == UINT64_MAX) /* (a span of a mark beyond the cap) */
            a->spans[i].end_ns = a->spans[i].start_ns;
    phase_top_sites(c);
    tot->content_hashing = (trd_header(t)->flags & TR_FLAG_CONTENT) != 0;
    tot->sampling_bytes = c->sample_bytes;
    tot->leaked_bytes = c->cur_bytes - tot->runtime_held_bytes;
    tot->leaked_blocks = c->cur_blocks - tot->runtime_held_blocks;
    tot->threads = c->n_th;
    if (trd_event_records(t) > 0 && trd_last_ns(t) > c->start_ns)
        tot->duration_ns = trd_last_ns(t) - c->start_ns;
    return leaks_over_time(c);
}

int an_sampling_note(const struct an_totals *t, char *buf, size_t cap)
{
    if (cap > 0)
        buf[0] = '\0';
    if (t->sampling_bytes == 0)
        return 0;
    snprintf(buf, cap,
             "SAMPLED RUN (MEMAUDIT_SAMPLE=%" PRIu64 "): the figures are estimates. About one "
             "allocation in every %" PRIu64 " bytes allocated was recorded; each recorded block "
             "of s bytes counts for 1/(1-exp(-s/%" PRIu64 ")) allocations, and blocks over %" PRIu64
             " bytes were all recorded and are exact. The peak is the highest estimated live heap, "
             "temporary allocations are counted between recorded events only, and memory errors "
             "are not looked for.",
             t->sampling_bytes, t->sampling_bytes, t->sampling_bytes, t->sampling_bytes);
    return 1;
}

static void ctx_fini(struct ctx *c)
{
    lm_fini(&c->rs.lm);
    free(c->rs.names);
    free(c->rs.th);
    free(c->th);
    free(c->freed);
    for (size_t i = 0; i < c->n_content; i++)
        ks_fini(&c->content[i]);
    free(c->content);
    ks_fini(&c->phase_sites);
}

/* Events ahead of the one being handled whose memory is asked for: a large
 * heap's live map is far bigger than the cache, and the events of a batch
 * are known in advance. Below PREFETCH_MIN_BLOCKS live blocks the map mostly
 * stays in cache and asking costs more than it saves (measured on bench's
 * sqlite3 trace, 19 k blocks at its peak: 5% more CPU; python3's, 1.28 M:
 * 20% less). */
#define PREFETCH_AHEAD 8
#define PREFETCH_MIN_BLOCKS 32768u

/* The block an event looks up: a realloc's release, the old one. */
static uint64_t ptr_of(const struct trd_event *ev)
{
    return ev->part == TRD_REALLOC_RELEASE ? ev->old_ptr : ev->ptr;
}

/* ---- the live map's stage ---- */

/* The map's part of on_event(), in the same order of the same events. */
static int resolve_one(struct resolver *r, const struct trd_event *ev, struct res *res)
{
    res->found = 0;
    if (ev->type == TR_REC_PHASE)
        return resolve_phase(r, ev, res);
    r->now++;
    switch (ev->type) {
    case TR_REC_ALLOC:
        return resolve_acquire(r, ev, 0, r->now, res);
    case TR_REC_FREE:
        resolve_release(r, ev->ptr, res);
        return 0;
    case TR_REC_REALLOC: {
        struct rthread *th = by_serial((void **)&r->th, &r->n_th, &r->cap_th, &r->last_th,
                                       sizeof *th, ev->thread);
        if (th == NULL)
            return -ENOMEM;
        if (ev->part == TRD_REALLOC_RELEASE) {
            /* As on_event(): a failed realloc leaves the old block live. */
            int failed = ev->ptr == 0 && ev->size > 0;
            if (!failed && ev->old_ptr != 0) {
                resolve_release(r, ev->old_ptr, res);
                if (res->found) {
                    th->has_pend = 1;
                    th->pend_chain = res->old.chain;
                }
            }
            return 0;
        }
        int had_old = th->has_pend;
        th->has_pend = 0;
        if (ev->ptr != 0)
            return resolve_acquire(r, ev, had_old ? th->pend_chain + 1 : 0, r->now, res);
        return 0;
    }
    default:
        return 0;
    }
}

/* The stage (struct trd_stage): the map's answers for a batch of events,
 * asking a few events ahead for their slots. */
static int resolve(void *arg, const struct trd_event *ev, size_t n, void *out)
{
    struct resolver *r = arg;
    struct res *res = out;
    size_t ahead = r->blocks >= PREFETCH_MIN_BLOCKS ? PREFETCH_AHEAD : 0;
    for (size_t i = 0; i < n && i < ahead; i++)
        lm_prefetch(&r->lm, ptr_of(&ev[i]));
    for (size_t i = 0; i < n; i++) {
        if (i + ahead < n && ahead > 0)
            lm_prefetch(&r->lm, ptr_of(&ev[i + ahead]));
        int rc = resolve_one(r, &ev[i], &res[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Ask for what handling ev will read first: its set of freed addresses (an
 * acquisition looks the address up there, a release writes it there), and
 * with map (no second thread) its block's slot in the live map. */
static void prefetch(const struct ctx *c, const struct trd_event *ev, int map)
{
    uint64_t ptr = ptr_of(ev);
    if (map)
        lm_prefetch(&c->rs.lm, ptr);
    if (c->freed != NULL)
        __builtin_prefetch(freed_set(c, ptr));
}

int an_run(struct trd_trace *t, struct analysis *a)
{
    return an_run_progress(t, a, NULL);
}

/* The replay's start: when the recorder started, unless that stamp is
 * missing (0) or later than the first event (then the first event is the
 * start). While following, the first event is known once it is handed out
 * (the reader hands out the least time first); then the samples indexed so
 * far join the timeline. */
static uint64_t start_of(struct trd_trace *t)
{
    uint64_t first = trd_first_ns(t), hdr_start = trd_header(t)->start_mono_ns;
    return hdr_start != 0 && hdr_start <= first ? hdr_start : first;
}

/* While following, the first thing handed out may be a phase mark before
 * any block of events was indexed (trd_first_ns() 0): then the header's
 * stamp, which the end checks against the finished trace's. */
static int start_fix(struct ctx *c, struct trd_trace *t)
{
    uint64_t hdr_start = trd_header(t)->start_mono_ns;
    c->start_ns = c->following && trd_first_ns(t) == 0 && hdr_start != 0 ? hdr_start
                                                                           : start_of(t);
    c->start_known = 1;
    return timeline_sync(c, t);
}

/* While following, bring the site table and the timeline up to what the
 * reader has indexed, before the events it hands out next (the start once
 * the first of them is there, or at the end). */
static int follow_sync(struct ctx *c, struct trd_trace *t)
{
    uint32_t n = trd_stack_count(t);
    if (n > c->a->n_sites) {
        int rc = sites_resize(c->a, n);
        if (rc < 0)
            return rc;
    }
    return c->start_known ? timeline_sync(c, t) : start_fix(c, t);
}

static int run(struct trd_trace *t, struct analysis *a, const struct an_progress *progress,
               const struct an_follow *follow)
{
    struct ctx c = {0};
    uint64_t records = 0, paced = 0;
    int rc;

    memset(a, 0, sizeof *a);
    a->trace = t;
    c.a = a;
    c.following = follow != NULL;
    int counting = progress != NULL || c.following;
    c.fork_child = (trd_header(t)->flags & TR_FLAG_FORK_CHILD) != 0;
    c.sample_bytes = trd_header(t)->sample_bytes;
    c.phase_sites.valued = 1;

    rc = sites_resize(a, trd_stack_count(t) ? trd_stack_count(t) : 1);
    if (rc < 0)
        goto fail;
    if (!c.following) {
        rc = start_fix(&c, t);
        if (rc < 0)
            goto fail;
    }
    /* A second thread decodes and keeps the live map while this one does
     * the accounting, if a CPU is idle (never while following: the reader
     * then decodes inline). */
    struct trd_stage stage = {resolve, &c.rs, sizeof(struct res)};
    rc = trd_stream_begin_staged(t, TRD_STREAM_AUTO, &stage);
    if (rc < 0)
        goto fail;
    for (;;) {
        const struct trd_event *evs;
        size_t n;
        rc = trd_stream_next(t, &evs, &n);
        if (rc == -EAGAIN && c.following) {
            rc = follow->wait(follow->arg, t, records);
            if (rc < 0)
                break;
            continue;
        }
        if (rc <= 0)
            break;
        if (c.following) {
            /* (By events: a batch of the inline stream is one run, which can
             * be one event when threads interleave.) */
            paced += n;
            if (follow->pace != NULL && paced >= AN_PACE_EVENTS) {
                paced = 0;
                rc = follow->pace(follow->arg);
                if (rc < 0)
                    break;
            }
            rc = follow_sync(&c, t);
            if (rc < 0)
                break;
        }
        /* The map's answers: from the decoding thread, or (when there is
         * none) asked for by on_event() itself. */
        const struct res *res = trd_stream_out(t);
        size_t ahead = c.cur_blocks >= PREFETCH_MIN_BLOCKS ? PREFETCH_AHEAD : 0;
        for (size_t i = 0; i < n && i < ahead; i++)
            prefetch(&c, &evs[i], res == NULL);
        for (size_t i = 0; i < n; i++) {
            const struct trd_event *ev = &evs[i];
            if (i + ahead < n && ahead > 0)
                prefetch(&c, &evs[i + ahead], res == NULL);
            rc = on_event(&c, ev, res != NULL ? &res[i] : NULL);
            if (rc < 0)
                goto fail;
            /* One record per ALLOC/FREE/REALLOC/FAIL: a realloc is yielded twice. */
            if (counting && ev->type != TR_REC_PHASE && ev->part != TRD_REALLOC_ACQUIRE &&
                ++records % AN_PROGRESS_STEPS == 0 && progress != NULL)
                progress->fn(progress->arg, records, trd_event_records(t));
        }
    }
    trd_stream_end(t);
    if (rc < 0)
        goto fail;
    if (c.following) {
        /* The reader has indexed everything now: the tables as a replay of
         * the finished trace sizes them from the start. */
        rc = follow_sync(&c, t);
        /* The start the replay of the finished trace takes, or -ESTALE:
         * the times were relative to another one. */
        if (rc == 0 && c.start_ns != start_of(t))
            rc = -ESTALE;
        if (rc < 0)
            goto fail;
    }
    rc = finish(&c, t);
    if (rc < 0)
        goto fail;
    ctx_fini(&c);
    return 0;
fail:
    trd_stream_end(t);
    ctx_fini(&c);
    an_fini(a);
    a->trace = t;
    return rc;
}

int an_run_progress(struct trd_trace *t, struct analysis *a, const struct an_progress *progress)
{
    return run(t, a, progress, NULL);
}

int an_run_follow(struct trd_trace *t, struct analysis *a, const struct an_follow *follow)
{
    return run(t, a, NULL, follow);
}

void an_fini(struct analysis *a)
{
    if (a == NULL)
        return;
    free(a->sites);
    free(a->timeline);
    free(a->phases);
    free(a->spans);
    free(a->errors);
    memset(a, 0, sizeof *a);
}
