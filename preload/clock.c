/* clock.c — the recorder's timestamps: the TSC where it is safe, CLOCK_MONOTONIC elsewhere.
 *
 * Every event carries a timestamp, and the reader merges the threads' events
 * by it: a malloc/free pair reads the clock twice, and clock_gettime (~25 ns
 * here) was 45% of the recorder's cost on a malloc loop. Where the kernel
 * itself keeps time with the TSC, the recorder reads the TSC (one ordered
 * read, ~10-20 ns) and turns ticks into nanoseconds with one fixed-point
 * multiply; everywhere else, and during the first CALIB_NS of a process, it
 * calls clock_gettime(CLOCK_MONOTONIC) as before.
 *
 * Conditions for the TSC (checked once, in rec_clock_init): the CPU says its
 * TSC is invariant (cpuid 0x80000007, EDX bit 8: constant rate, runs in every
 * C- and P-state), the kernel's clocksource is "tsc" (it settles on the TSC
 * only after checking that the TSCs of all CPUs are in step, and demotes it
 * when it finds they are not), and MEMAUDIT_CLOCK is not "monotonic".
 *
 * Calibration, without slowing start-up: rec_clock_init (the constructor)
 * takes a (TSC, CLOCK_MONOTONIC) pair; the first rec_now_ns at least
 * CALIB_NS later takes a second pair, derives the tick length from the two
 * (each pair is the tightest of a few tries, ~40 ns wide, so the rate is good
 * to a few ppm: durations in reports, not order, depend on it) and switches
 * the process to the TSC for good. Until then every thread calls
 * clock_gettime. The mapping, once set, never changes:
 *
 *     ns(tsc) = ns0 + ((tsc - tsc0) * mult) >> 32        (mult: ns per tick, 32.32)
 *
 * Why stamps of different threads keep the order of the events they stamp.
 * The reader relies on two facts (docs/trace-format.md, "Global order"): a
 * FREE (and a realloc's release) is stamped no later than any event that
 * follows it in another thread -- in particular a malloc that gets the same
 * address back -- and an ALLOC is stamped no earlier than any event that
 * precedes it -- in particular the free that released its address, and
 * (for a block handed to another thread) no later than that thread's free
 * of it. In each case the two events are ordered through memory: a store by
 * one thread (the allocator's bookkeeping, the program's queue) that a load
 * by the other reads. So it suffices that
 *  (a) one thread's read of the TSC comes after the loads before it in
 *      program order and before the stores after it take effect;
 *  (b) TSC values read on different CPUs are ordered like the moments they
 *      were read at; and
 *  (c) the mapping from ticks to stamps never decreases.
 * (a): rdtsc alone may execute before earlier loads complete (Intel SDM: it
 * "does not wait until all previous instructions have been executed"). Two
 * ordered reads wait for them. rdtscp, used wherever the CPU has it (cpuid
 * 0x80000001, EDX bit 27), waits until every earlier instruction has
 * executed and earlier loads are globally visible (Intel SDM); AMD APM: it
 * "forces all older instructions to retire before reading", and a load
 * retires only with its value. Unlike lfence it lets later instructions
 * start before the read; it is the kernel's choice too (rdtsc_ordered,
 * which its vDSO clock_gettime uses, prefers it to lfence;rdtsc), and on
 * AMD EPYC (Zen 4) ~1-2 ns a stamp cheaper. Without it, lfence;rdtsc:
 * lfence does not let rdtsc start before every earlier instruction has
 * completed (Intel; AMD from Zen on, where lfence is dispatch-serialising).
 * Either way later stores become visible only after the read retires, since
 * x86 stores leave the store buffer in order, after retirement. The asm is
 * volatile with a memory clobber, so the compiler keeps it between the same
 * calls too. So a free's stamp is read after the load that handed it the
 * pointer and before libc's stores that release the block; a malloc's stamp
 * after libc's loads that took the block and before the program's stores
 * that publish it. Every stamp needs that wait: a malloc's for a block
 * another thread freed, a free's for a block another thread allocated, and
 * which blocks those are is not known without a lookup per event. Nor can
 * the read wait for the one load that matters: rdtsc takes no operand that
 * the pointer could feed, and a branch on the pointer is predicted, not
 * waited for.
 * (b): with an invariant TSC the counters of all cores tick together from a
 * common reset; the kernel's clocksource "tsc" is our witness that they are
 * in step (its tsc_sync check is exactly this: a read on one CPU, a
 * hand-over through memory, a read on another, which must not go back).
 * (c): mult > 0 and a floor of a product; ties (two events in one
 * nanosecond) are broken by the reader, releases first, which is the order
 * the argument above allows.
 * The switch from clock_gettime to the TSC keeps the order too: the mapping
 * is anchored at the TSC read just *before* the second pair's clock_gettime,
 * plus SWITCH_MARGIN_NS, so every TSC stamp after the switch is later than
 * every CLOCK_MONOTONIC value read before it; and a thread that read
 * CLOCK_MONOTONIC checks after its read (lfence, then the state) that the
 * switch had not happened yet, and reads the TSC instead if it had -- so
 * a CLOCK_MONOTONIC stamp is always from before the switch. (Durations that
 * span the switch gain SWITCH_MARGIN_NS, 1 us, once.)
 *
 * One thread alone needs no order between threads. Until a second thread
 * takes a stamp, the first reads a bare rdtsc (~10 ns and no pipeline drain,
 * where lfence;rdtsc waits for every outstanding cache miss: ~30 ns a stamp
 * in a std::map-heavy program, 10% of its recorded run). The second thread
 * to stamp, before its first stamp, sets clk.multi and calls
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED): every other thread of the
 * process is then interrupted (an interrupt completes every instruction
 * before it, bare rdtsc included) or not running, and loads clk.multi
 * afresh after it; so every bare stamp was read before the new thread's
 * first stamp, and every later stamp of the first thread is an ordered read
 * -- (a) holds for every event that another thread can order itself with.
 * No membarrier (old kernel, a seccomp filter), or a second thread that
 * stamps before rec_clock_init: ordered reads from the start. The recorder's
 * own background thread (flusher.c) stamps ordered and does not count.
 *
 * fork: the child keeps the mapping (the TSC runs on; a child forked while
 * another thread was switching calibrates again). exec: a new image, a new
 * calibration. Not followed: the kernel demoting the TSC during the run
 * (a TSC found out of step then); the stamps of such a run may misorder
 * events of different threads. */
#include <cpuid.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rec.h"

#define CALIB_NS 10000000u       /* 10 ms between the two pairs, at least */
#define PAIR_MAX_WIDTH_NS 2000u  /* a pair wider than this was interrupted */
#define SWITCH_MARGIN_NS 1000u
#define PAIR_TRIES 8

enum clock_state {
    CLK_EARLY = 0,     /* before rec_clock_init: CLOCK_MONOTONIC */
    CLK_MONOTONIC = 1, /* for good: no usable TSC */
    CLK_CALIB = 2,     /* CLOCK_MONOTONIC; the first pair is taken */
    CLK_SWITCHING = 3, /* CLOCK_MONOTONIC; one thread is taking the second pair */
    CLK_TSC = 4,       /* the TSC, for good */
};

__extension__ typedef unsigned __int128 u128;

/* Read-mostly: written only before the state becomes CLK_TSC (release store,
 * paired with the acquire load in rec_now_ns), then never again. Alone on
 * its cache line, so the hot loads never miss on someone's writes. */
static struct {
    _Alignas(64) _Atomic int state;
    uint64_t tsc0, ns0, mult;
    uint64_t calib_tsc, calib_ns, calib_width; /* the first pair */
    uint64_t calib_wait_ns;
    unsigned failures;
    int rdtscp; /* read with rdtscp, not lfence;rdtsc */
    _Alignas(64) _Atomic int bare_ok; /* membarrier is registered: the first thread may read bare */
    _Atomic int multi;                /* not 0: a second thread stamps, every read is ordered */
    _Atomic uintptr_t first;          /* the first thread to stamp (its clk_seen's address) */
} clk = {.calib_wait_ns = CALIB_NS};

/* This thread: 0 before its first stamp, CLK_FIRST if it was the process's
 * first thread to stamp, CLK_OTHER otherwise (and for the recorder's own). */
enum { CLK_FIRST = 1, CLK_OTHER = 2 };
static __thread int clk_seen __attribute__((tls_model("initial-exec")));

/* The TSC, read in program order (see (a) above): rdtscp where the CPU has
 * it, lfence;rdtsc where not. ~19 ns either way on AMD EPYC (Zen 4),
 * rdtscp 0.3-1 ns less alone, more when earlier loads miss the cache; a
 * bare rdtsc (~10 ns, overlapping other work) would not keep the order.
 * One of the two is out of line, and a jump to it cost ~2 ns a stamp there:
 * the common one, rdtscp, is in line. */
static inline uint64_t tsc_read_ordered(void)
{
    uint32_t lo, hi, aux;
    if (REC_LIKELY(clk.rdtscp))
        __asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux)::"memory");
    else
        __asm__ volatile("lfence\n\trdtsc" : "=a"(lo), "=d"(hi)::"memory");
    return ((uint64_t)hi << 32) | lo;
}

/* A stamp's read: bare while one thread alone stamps (see above). */
static inline uint64_t tsc_read(void)
{
    if (clk_seen == CLK_FIRST && atomic_load_explicit(&clk.bare_ok, memory_order_relaxed) &&
        !atomic_load_explicit(&clk.multi, memory_order_relaxed)) {
        uint32_t lo, hi;
        __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi)::"memory"); /* one thread: no order needed */
        return ((uint64_t)hi << 32) | lo;
    }
    return tsc_read_ordered();
}

static inline uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t tsc_ns(void)
{
    uint64_t d = tsc_read() - clk.tsc0;
    if (REC_UNLIKELY((int64_t)d < 0))
        d = 0; /* never: every read after the switch is past tsc0 */
    return clk.ns0 + (uint64_t)(((u128)d * clk.mult) >> 32);
}

/* One (TSC, CLOCK_MONOTONIC) pair: the TSC read just before clock_gettime,
 * from the tightest of PAIR_TRIES tries. Returns the pair's width in ticks. */
static uint64_t pair_read(uint64_t *tsc, uint64_t *ns)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < PAIR_TRIES; i++) {
        uint64_t a = tsc_read_ordered();
        uint64_t m = mono_ns();
        uint64_t b = tsc_read_ordered();
        if (b - a < best) {
            best = b - a;
            *tsc = a;
            *ns = m;
        }
    }
    return best;
}

/* The second pair, the rate, and the switch. Called by the one thread that
 * moved the state from CLK_CALIB to CLK_SWITCHING. */
static __attribute__((noinline)) void clock_switch(void)
{
    uint64_t tsc1, ns1;
    uint64_t width = pair_read(&tsc1, &ns1);
    uint64_t dt = tsc1 - clk.calib_tsc, dns = ns1 - clk.calib_ns;
    /* Plausible: a TSC of 100 MHz to 10 GHz, neither pair interrupted. */
    int ok = dt > 0 && dns > 0 && dt > dns / 10 && dt / 10 < dns &&
             (u128)width * dns < (u128)PAIR_MAX_WIDTH_NS * dt &&
             (u128)clk.calib_width * dns < (u128)PAIR_MAX_WIDTH_NS * dt;
    if (!ok) {
        /* Interrupted (or a clock gone wrong): try again later with a fresh
         * first pair; after a few failures stay with CLOCK_MONOTONIC. */
        clk.calib_width = pair_read(&clk.calib_tsc, &clk.calib_ns);
        atomic_store_explicit(&clk.state, ++clk.failures < 4 ? CLK_CALIB : CLK_MONOTONIC,
                              memory_order_release);
        return;
    }
    clk.mult = (uint64_t)(((u128)dns << 32) / dt);
    clk.tsc0 = tsc1;
    clk.ns0 = ns1 + SWITCH_MARGIN_NS;
    atomic_store_explicit(&clk.state, CLK_TSC, memory_order_release); /* pairs with rec_now_ns */
}

static __attribute__((noinline)) uint64_t now_slow(int s)
{
    uint64_t v = mono_ns();
    if (s == CLK_MONOTONIC)
        return v;
    if (s == CLK_CALIB && v - clk.calib_ns >= clk.calib_wait_ns &&
        atomic_compare_exchange_strong(&clk.state, &s, CLK_SWITCHING))
        clock_switch();
    /* The switch may have happened while we read (here or in another
     * thread): then v may be later than a TSC stamp another thread has
     * taken. lfence: the read is complete before the state is loaded. */
    __asm__ volatile("lfence" ::: "memory");
    if (atomic_load_explicit(&clk.state, memory_order_acquire) == CLK_TSC)
        return tsc_ns();
    return v;
}

/* Before the calling thread's first stamp: is it the first thread, or the
 * second, which ends the bare reads of the first (see above)? */
static __attribute__((noinline)) void clock_thread_first_stamp(void)
{
    uintptr_t expect = 0;
    if (atomic_compare_exchange_strong(&clk.first, &expect, (uintptr_t)&clk_seen)) {
        clk_seen = CLK_FIRST;
        return;
    }
    clk_seen = CLK_OTHER;
    /* multi: 0 one thread, 1 switching, 2 switched (a membarrier returned).
     * A thread that finds 1 cannot know that the other's membarrier has
     * returned: it makes its own. */
    int m = atomic_load(&clk.multi);
    if (m == 2)
        return;
    if (m == 0)
        atomic_store(&clk.multi, 1);
    if (atomic_load(&clk.bare_ok))
        syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
    atomic_store(&clk.multi, 2);
}

void rec_clock_helper_thread(void)
{
    clk_seen = CLK_OTHER;
}

uint64_t rec_now_ns(void)
{
    if (REC_UNLIKELY(clk_seen == 0))
        clock_thread_first_stamp();
    int s = atomic_load_explicit(&clk.state, memory_order_acquire);
    if (REC_LIKELY(s == CLK_TSC))
        return tsc_ns();
    return now_slow(s);
}

uint64_t rec_now_ns_fenced(void)
{
    uint64_t ns = rec_now_ns();
    /* rdtscp (and the vDSO's read) waits for earlier instructions, not later
     * ones: lfence keeps them from starting before the read is done. */
    __asm__ volatile("lfence" ::: "memory");
    return ns;
}

/* Let the first thread read the TSC bare, if membarrier can end that. */
static void clock_allow_bare(void)
{
    long q = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    int ok = q > 0 && (q & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
             syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
    atomic_store(&clk.bare_ok, ok);
    /* A second thread that stamped before this saw bare_ok 0 and made no
     * membarrier: then no bare reads at all (both sides seq_cst). */
    if (ok && atomic_load(&clk.multi))
        atomic_store(&clk.bare_ok, 0);
}

/* In a fork child, a switch that another thread of the parent was making
 * will never finish: start the calibration over. The child is a new
 * process for membarrier: register again. */
static void clock_after_fork_child(void)
{
    if (atomic_load(&clk.bare_ok))
        clock_allow_bare();
    if (atomic_load(&clk.state) == CLK_SWITCHING) {
        clk.calib_width = pair_read(&clk.calib_tsc, &clk.calib_ns);
        atomic_store(&clk.state, CLK_CALIB);
    }
}

/* lfence orders rdtsc on this CPU: Intel's, and AMD's (Hygon's) from
 * family 0x17 (where lfence is dispatch serializing). */
static int lfence_orders(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d))
        return 0;
    char vendor[13];
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &d, 4);
    memcpy(vendor + 8, &c, 4);
    vendor[12] = '\0';
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    unsigned family = (a >> 8) & 0xf;
    if (family == 0xf)
        family += (a >> 20) & 0xff;
    return strcmp(vendor, "GenuineIntel") == 0 ||
           ((strcmp(vendor, "AuthenticAMD") == 0 || strcmp(vendor, "HygonGenuine") == 0) &&
            family >= 0x17);
}

/* In a VM each cpuid traps to the hypervisor (11 us a call on the bench
 * machine, and __get_cpuid makes two): three calls here, each leaf once, and
 * the vendor's only without rdtscp. */
static int tsc_usable(void)
{
    const char *want = getenv("MEMAUDIT_CLOCK");
    if (want && strcmp(want, "monotonic") == 0)
        return 0;
    unsigned a, b, c, d;
    if (__get_cpuid_max(0x80000000, NULL) < 0x80000007)
        return 0;
    __cpuid(0x80000007, a, b, c, d);
    if (!(d & (1u << 8)))
        return 0; /* not invariant */
    __cpuid(0x80000001, a, b, c, d);
    int has_rdtscp = (d >> 27) & 1;
    if (!has_rdtscp && !lfence_orders())
        return 0;
    clk.rdtscp = has_rdtscp;
    char src[64];
    long n = rec_read_file("/sys/devices/system/clocksource/clocksource0/current_clocksource",
                           src, sizeof(src) - 1);
    if (n <= 0)
        return 0;
    src[n] = '\0';
    return strcmp(src, "tsc\n") == 0 || strcmp(src, "tsc") == 0;
}

void rec_clock_init(uint64_t calib_ns)
{
    int s = atomic_load(&clk.state);
    if (s != CLK_EARLY)
        return;
    if (!tsc_usable()) {
        atomic_store(&clk.state, CLK_MONOTONIC);
        return;
    }
    clk.calib_wait_ns = calib_ns ? calib_ns : CALIB_NS;
    clk.calib_width = pair_read(&clk.calib_tsc, &clk.calib_ns);
    pthread_atfork(NULL, NULL, clock_after_fork_child);
    clock_allow_bare();
    atomic_store(&clk.state, CLK_CALIB);
}

int rec_clock_is_tsc(void)
{
    return atomic_load(&clk.state) == CLK_TSC;
}
