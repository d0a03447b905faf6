/* test_sample.c — sampling mode's two parts (preload/sample.c): the set of
 * sampled blocks still live, which every free in sampling mode asks, and the
 * countdown that decides which allocations are sampled.
 *
 * Links the preload objects (not hooks.c, which would interpose this test's
 * own malloc). Addresses are made up: the set never dereferences them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "rec.h"

/* A fake block address, 16-byte aligned like malloc's. */
static const void *addr(uint64_t i)
{
    return (const void *)(uintptr_t)(0x7f0000000000u + 16 * i);
}

/* The set answers for what is in it, and is empty again once its blocks left. */
static void set_holds_what_was_added(void **state)
{
    (void)state;
    assert_int_equal(rec_sampled_has(addr(1)), 0);
    assert_int_equal(rec_sampled_take(addr(1)), 0);
    assert_int_equal(atomic_load(&rec_free_watch), 0);
    for (uint64_t i = 1; i <= 5000; i++)
        rec_sampled_add(addr(i));
    assert_int_equal(atomic_load(&rec_free_watch), 5000);
    for (uint64_t i = 1; i <= 5000; i++) {
        assert_int_equal(rec_sampled_has(addr(i)), 1);
        /* between two keys: never there */
        assert_int_equal(rec_sampled_has((const char *)addr(i) + 8), 0);
    }
    assert_int_equal(rec_sampled_has(NULL), 0);
    for (uint64_t i = 1; i <= 5000; i += 2)
        assert_int_equal(rec_sampled_take(addr(i)), 1);
    for (uint64_t i = 1; i <= 5000; i++)
        assert_int_equal(rec_sampled_has(addr(i)), (int)(i % 2 == 0));
    for (uint64_t i = 1; i <= 5000; i++)
        assert_int_equal(rec_sampled_take(addr(i)), (int)(i % 2 == 0));
    assert_int_equal(atomic_load(&rec_free_watch), 0);
    for (uint64_t i = 1; i <= 5000; i++)
        assert_int_equal(rec_sampled_has(addr(i)), 0);
}

/* The next fake address after *next whose home slot lies in the 16 slots
 * from `first` on: keys that crowd into one unbroken run of slots. */
static uint64_t near(const struct rec_sset *t, size_t first, uint64_t *next)
{
    for (;; (*next)++) {
        size_t home = rec_sset_home(t, (uintptr_t)addr(*next));
        if (home >= first && home < first + 16)
            return (*next)++;
    }
}

static size_t slot_of(const struct rec_sset *t, uint64_t key)
{
    for (size_t i = 0;; i++)
        if (atomic_load(&t->slots[i]) == (uintptr_t)addr(key))
            return i;
}

/* A long run with few blocks live: adds and removes without end must
 * neither lose a key nor map a new table each time tombstones fill the old
 * one (the table is rebuilt in place: the same table, the same size). The
 * worst case for tombstones: a crowd of keys in one region, all removed but
 * the one at the end of their run, so that every removal leaves one; the
 * next crowd in another region. Runs first, on a new set: 1024 slots. */
static void set_churn_keeps_one_table(void **state)
{
    (void)state;
    enum { CROWD = 100, CROWDS = 40 };
    uint64_t keys[CROWD], kept[CROWDS];
    uint64_t next = 1000000;
    assert_null(atomic_load(&rec_sampled.table));
    rec_sampled_add(addr(next));
    struct rec_sset *table = atomic_load(&rec_sampled.table);
    assert_int_equal(rec_sampled_take(addr(next)), 1);
    assert_int_equal(table->mask + 1, 1024);
    unsigned gen_before = atomic_load(&rec_sampled.gen);
    for (int c = 0; c < CROWDS; c++) {
        for (int i = 0; i < CROWD; i++) {
            keys[i] = near(table, (size_t)(c % 8) * 128, &next);
            rec_sampled_add(addr(keys[i]));
        }
        int last = 0;
        for (int i = 1; i < CROWD; i++)
            if (slot_of(table, keys[i]) > slot_of(table, keys[last]))
                last = i;
        kept[c] = keys[last];
        for (int i = 0; i < CROWD; i++) {
            if (i == last)
                continue;
            assert_int_equal(rec_sampled_take(addr(keys[i])), 1);
            assert_int_equal(rec_sampled_has(addr(keys[i])), 0);
        }
        for (int k = 0; k <= c; k++)
            assert_int_equal(rec_sampled_has(addr(kept[k])), 1);
    }
    assert_ptr_equal(atomic_load(&rec_sampled.table), table);
    assert_int_equal(table->mask + 1, 1024);
    /* rebuilt several times (gen even: no rebuild in progress) */
    unsigned gen = atomic_load(&rec_sampled.gen);
    assert_true(gen - gen_before >= 2 * 5);
    assert_int_equal(gen % 2, 0);
    assert_int_equal(atomic_load(&rec_free_watch), CROWDS);
    for (int k = 0; k < CROWDS; k++)
        assert_int_equal(rec_sampled_take(addr(kept[k])), 1);
    assert_int_equal(atomic_load(&rec_free_watch), 0);
}

static unsigned filter_bits_set(void)
{
    unsigned n = 0;
    for (size_t i = 0; i < REC_SFILTER_BITS / 64; i++)
        n += (unsigned)__builtin_popcountll(atomic_load(&rec_sampled.filter[i]));
    return n;
}

/* The filter in front of the table holds the bits of the live keys and no
 * others: after 100000 keys came and went, only the 10 live keys' bits are
 * set, and an address a removed key had (which the allocator hands out
 * again and again) is answered by the filter, not the table. Two keys of one
 * bit keep it set until both left. */
static void filter_holds_the_live_keys(void **state)
{
    (void)state;
    enum { LIVE = 10, CHURN = 100000 };
    unsigned live_bits = 0;
    for (uint64_t k = 0; k < LIVE; k++) {
        size_t bit = rec_sfilter_bit((uintptr_t)addr(900000000 + k));
        live_bits += !(atomic_load(&rec_sampled.filter[bit / 64]) >> (bit % 64) & 1);
        rec_sampled_add(addr(900000000 + k));
    }
    for (uint64_t i = 1; i <= CHURN; i++) {
        rec_sampled_add(addr(800000000 + i % 64)); /* a few hot addresses */
        assert_int_equal(rec_sampled_take(addr(800000000 + i % 64)), 1);
    }
    assert_int_equal(filter_bits_set(), live_bits);
    unsigned filtered = 0;
    for (uint64_t i = 0; i < 64; i++) {
        size_t bit = rec_sfilter_bit((uintptr_t)addr(800000000 + i));
        filtered += !(atomic_load(&rec_sampled.filter[bit / 64]) >> (bit % 64) & 1);
        assert_int_equal(rec_sampled_has(addr(800000000 + i)), 0);
    }
    assert_true(filtered >= 60); /* (a hot address may share a live key's bit) */
    for (uint64_t k = 0; k < LIVE; k++) {
        assert_int_equal(rec_sampled_has(addr(900000000 + k)), 1);
        assert_int_equal(rec_sampled_take(addr(900000000 + k)), 1);
    }
    assert_int_equal(filter_bits_set(), 0);
    /* two keys of one bit */
    uint64_t a = 1, b = 2;
    while (rec_sfilter_bit((uintptr_t)addr(b)) != rec_sfilter_bit((uintptr_t)addr(a)))
        b++;
    rec_sampled_add(addr(a));
    rec_sampled_add(addr(b));
    assert_int_equal(rec_sampled_take(addr(a)), 1);
    assert_int_equal(filter_bits_set(), 1);
    assert_int_equal(rec_sampled_has(addr(b)), 1);
    assert_int_equal(rec_sampled_take(addr(b)), 1);
    assert_int_equal(filter_bits_set(), 0);
    assert_int_equal(atomic_load(&rec_free_watch), 0);
}

/* The countdown samples an allocation of s bytes with probability
 * 1 - exp(-s/m), blocks larger than m always. m = 1000, s = 10: p =
 * 0.00995, 9950 of 1e6 expected, standard deviation 99.5; +-500 is 5. */
static void countdown_samples_at_the_rate(void **state)
{
    (void)state;
    rec_config.sample_bytes = 1000;
    int sampled = 0;
    for (int i = 0; i < 1000000; i++) {
        sampled += rec_sample_take(10);
        /* what the hooks' fast path passes unsampled is never a larger block */
        assert_true(rec_tls.sample_fast <= 1001);
    }
    assert_in_range(sampled, 9450, 10450);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(rec_sample_take(1001), 1);
    rec_config.sample_bytes = 0;
}

/* The estimate of live blocks (a cost hint for mallinfo2, flusher.c): a
 * sampled block of u < m usable bytes stands for m/u + 1 of them, a larger
 * one for 1; a block that leaves takes off what it added. m = 1000. */
static void live_estimate_weighs_blocks(void **state)
{
    (void)state;
    rec_config.sample_bytes = 1000;
    int64_t before = rec_sampled_live_estimate();
    rec_sampled_weigh(24, 1);   /* 41 + 1 */
    rec_sampled_weigh(100, 1);  /* 10 + 1 */
    rec_sampled_weigh(5000, 1); /* 1 */
    assert_int_equal(rec_sampled_live_estimate() - before, 42 + 11 + 1);
    rec_sampled_weigh(100, -1);
    rec_sampled_weigh(24, -1);
    assert_int_equal(rec_sampled_live_estimate() - before, 1);
    rec_sampled_weigh(5000, -1);
    assert_int_equal(rec_sampled_live_estimate(), before);
    rec_config.sample_bytes = 0;
}

/* Sampling mode on, as resolve() turns it on: the free hook's word then
 * counts the sampled blocks live (REC_WATCH_ALL before, in full mode). */
static int sampling_on(void **state)
{
    (void)state;
    assert_int_equal(atomic_load(&rec_free_watch), REC_WATCH_ALL);
    setenv("MEMAUDIT_SAMPLE", "1000", 1);
    assert_int_equal(rec_sample_config(), 0);
    assert_int_equal(rec_config.sample_bytes, 1000);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(set_churn_keeps_one_table),
        cmocka_unit_test(set_holds_what_was_added),
        cmocka_unit_test(filter_holds_the_live_keys),
        cmocka_unit_test(countdown_samples_at_the_rate),
        cmocka_unit_test(live_estimate_weighs_blocks),
    };
    return cmocka_run_group_tests(tests, sampling_on, NULL);
}
