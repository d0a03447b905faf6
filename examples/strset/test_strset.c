/* test_strset.c — the CMocka suite of strset (strset.h), and the program the
 * CI example records (docs/ci.md).
 *
 * What it allocates is fixed by the code: per test, one set (24 bytes) and
 * its bucket array (16 buckets, 128 bytes, doubling as it fills), one block
 * per element (16 bytes of node plus the string and its NUL), plus CMocka's
 * own bookkeeping. stdout gets a static buffer, so that stdio allocates
 * nothing and the figures do not depend on where the output goes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "strset.h"

#define MANY 4000

static void test_add_contains(void **state)
{
    (void)state;
    struct strset *s = strset_new();
    assert_non_null(s);
    assert_int_equal(strset_add(s, "apple"), 1);
    assert_int_equal(strset_add(s, "pear"), 1);
    assert_int_equal(strset_add(s, "apple"), 0);
    assert_true(strset_contains(s, "apple"));
    assert_false(strset_contains(s, "plum"));
    assert_int_equal(strset_size(s), 2);
    strset_free(s);
}

static void test_remove(void **state)
{
    (void)state;
    struct strset *s = strset_new();
    assert_non_null(s);
    assert_int_equal(strset_add(s, "a"), 1);
    assert_int_equal(strset_add(s, "b"), 1);
    assert_int_equal(strset_remove(s, "a"), 1);
    assert_int_equal(strset_remove(s, "a"), 0);
    assert_false(strset_contains(s, "a"));
    assert_true(strset_contains(s, "b"));
    assert_int_equal(strset_size(s), 1);
    strset_free(s);
}

/* MANY keys: the bucket array doubles from 16 to 4096; then half removed. */
static void test_many(void **state)
{
    (void)state;
    char key[32];
    struct strset *s = strset_new();
    assert_non_null(s);
    for (int i = 0; i < MANY; i++) {
        snprintf(key, sizeof(key), "key-%05d", i);
        assert_int_equal(strset_add(s, key), 1);
    }
    assert_int_equal(strset_size(s), MANY);
    for (int i = 0; i < MANY; i += 2) {
        snprintf(key, sizeof(key), "key-%05d", i);
        assert_int_equal(strset_remove(s, key), 1);
    }
    for (int i = 0; i < MANY; i++) {
        snprintf(key, sizeof(key), "key-%05d", i);
        assert_int_equal(strset_contains(s, key), i % 2);
    }
    assert_int_equal(strset_size(s), MANY / 2);
    strset_free(s);
}

int main(void)
{
    static char out_buf[4096];
    setvbuf(stdout, out_buf, _IOFBF, sizeof(out_buf));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_contains),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
