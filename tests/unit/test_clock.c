/* test_clock.c — the recorder's timestamps (preload/clock.c).
 *
 * Links clock.o as libaudit.so does. The calibration is shortened to 2 ms.
 * On a machine without a usable TSC (not invariant, clocksource not tsc) the
 * clock stays CLOCK_MONOTONIC and the same checks run on that. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <cmocka.h>

#include "rec.h"

static uint64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL);
}

/* Ping-pong between two threads through one atomic: each side stamps, then
 * publishes its stamp; the other, having seen it, stamps and must not be
 * earlier. Runs across the switch from CLOCK_MONOTONIC to the TSC too. */
#define ROUNDS 200000
static _Atomic uint64_t baton; /* stamp << 1 | whose turn */
static _Atomic uint64_t backwards;

static void *pong(void *arg)
{
    uintptr_t me = (uintptr_t)arg;
    for (int i = 0; i < ROUNDS; i++) {
        uint64_t b;
        while (((b = atomic_load_explicit(&baton, memory_order_acquire)) & 1) != me)
            ;
        uint64_t now = rec_now_ns();
        if (now < (b >> 1))
            atomic_fetch_add(&backwards, 1);
        atomic_store_explicit(&baton, (now << 1) | (me ^ 1), memory_order_release);
    }
    return NULL;
}

static void ordered_across_threads(void **state)
{
    (void)state;
    int tsc_before = rec_clock_is_tsc();
    atomic_store(&backwards, 0);
    atomic_store(&baton, rec_now_ns() << 1);
    pthread_t a, b;
    assert_int_equal(pthread_create(&a, NULL, pong, (void *)0), 0);
    assert_int_equal(pthread_create(&b, NULL, pong, (void *)1), 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("clock: %d rounds, %s\n", ROUNDS,
           tsc_before == rec_clock_is_tsc() ? "no switch"
                                            : "the switch to the TSC among them");
    assert_int_equal(atomic_load(&backwards), 0);
}

/* rec_now_ns and CLOCK_MONOTONIC at about the same moment. */
static void bracket(uint64_t *t, uint64_t *m)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 20; i++) {
        uint64_t a = mono(), x = rec_now_ns(), b = mono();
        if (b - a < best) {
            best = b - a;
            *t = x;
            *m = a + (b - a) / 2;
        }
    }
}

static void close_to_monotonic(void **state)
{
    (void)state;
    /* Wait for the switch (the first read 2 ms after init makes it). */
    uint64_t until = mono() + 100000000u;
    while (!rec_clock_is_tsc() && mono() < until) {
        (void)rec_now_ns();
        sleep_ns(100000);
    }
    printf("clock: %s\n", rec_clock_is_tsc() ? "TSC" : "CLOCK_MONOTONIC");
    /* Offset: within 100 us of CLOCK_MONOTONIC right after the switch (1 us
     * of margin, a few ppm of 2 ms), bracketed by two kernel reads. */
    for (int i = 0; i < 100; i++) {
        uint64_t a = mono(), t = rec_now_ns(), b = mono();
        assert_true(t + 100000 >= a);
        assert_true(t <= b + 100000);
    }
    /* Rate: 50 ms by both clocks agree to 200 ppm (the calibration took
     * 2 ms; ppm are what matter, a 0.1% error fails). Each reading is the
     * tightest of a few CLOCK_MONOTONIC brackets, so that a preemption
     * between the two reads does not count. */
    uint64_t t0, m0, t1, m1;
    bracket(&t0, &m0);
    sleep_ns(50000000);
    bracket(&t1, &m1);
    int64_t diff = (int64_t)(t1 - t0) - (int64_t)(m1 - m0);
    if (diff < 0)
        diff = -diff;
    printf("clock: 50 ms, difference %lld ns\n", (long long)diff);
    assert_true(diff < 10000);
    /* Never backwards in one thread. */
    uint64_t prev = rec_now_ns();
    for (int i = 0; i < 1000000; i++) {
        uint64_t now = rec_now_ns();
        assert_true(now >= prev);
        prev = now;
    }
}

int main(void)
{
    rec_clock_init(2000000);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ordered_across_threads),
        cmocka_unit_test(close_to_monotonic),
        cmocka_unit_test(ordered_across_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
