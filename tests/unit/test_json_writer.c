/* test_json_writer.c — unit tests for reporter/json_writer.c.
 *
 * The writer promises cJSON_PrintUnformatted's text for the same document:
 * every byte value in a key and in a string, nesting, empty containers and
 * numbers are compared with what cJSON prints. Also: exact integers around
 * 2^53, splicing, growth past the first buffer, and the cap (-EFBIG, sticky). */
#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json_writer.h"

/* w's text equals what cJSON prints of tree (which is freed). */
static void assert_same_as_cjson(const struct jw *w, cJSON *tree)
{
    char *want = cJSON_PrintUnformatted(tree);
    assert_non_null(want);
    assert_int_equal(jw_finish(w), 0);
    assert_int_equal(w->len, strlen(want));
    assert_memory_equal(w->buf, want, w->len);
    free(want);
    cJSON_Delete(tree);
}

static void test_every_byte_escaped_as_cjson(void **state)
{
    (void)state;
    for (int c = 1; c < 256; c++) {
        char key[4] = {'k', (char)c, 'k', '\0'};
        char val[4] = {'a', (char)c, 'z', '\0'};
        struct jw w;
        jw_init(&w, 1024);
        jw_open(&w, NULL, '{');
        jw_str(&w, key, val);
        jw_close(&w, '}');

        cJSON *tree = cJSON_CreateObject();
        assert_non_null(cJSON_AddStringToObject(tree, key, val));
        assert_same_as_cjson(&w, tree);
        jw_fini(&w);
    }
}

static void test_document_as_cjson(void **state)
{
    (void)state;
    struct jw w;
    jw_init(&w, 1 << 20);
    jw_open(&w, NULL, '{');
    jw_int(&w, "version", 1);
    jw_int(&w, "neg", -1);
    jw_int(&w, "min", -2147483647 - 1);
    jw_str(&w, "empty", "");
    jw_raw(&w, "yes", "true");
    jw_raw(&w, "no", "false");
    jw_open(&w, "none", '{');
    jw_close(&w, '}');
    jw_open(&w, "nested", '[');
    jw_open(&w, NULL, '[');
    jw_close(&w, ']');
    jw_open(&w, NULL, '[');
    jw_u64(&w, NULL, 0);
    jw_u64(&w, NULL, 42);
    jw_close(&w, ']');
    jw_open(&w, NULL, '{');
    jw_str(&w, "s", "q\"b\\");
    jw_close(&w, '}');
    jw_close(&w, ']');
    jw_close(&w, '}');

    cJSON *tree = cJSON_CreateObject(), *nested, *inner, *obj;
    cJSON_AddNumberToObject(tree, "version", 1);
    cJSON_AddNumberToObject(tree, "neg", -1);
    cJSON_AddNumberToObject(tree, "min", -2147483647.0 - 1);
    cJSON_AddStringToObject(tree, "empty", "");
    cJSON_AddTrueToObject(tree, "yes");
    cJSON_AddFalseToObject(tree, "no");
    cJSON_AddObjectToObject(tree, "none");
    nested = cJSON_AddArrayToObject(tree, "nested");
    cJSON_AddItemToArray(nested, cJSON_CreateArray());
    inner = cJSON_CreateArray();
    cJSON_AddItemToArray(inner, cJSON_CreateNumber(0));
    cJSON_AddItemToArray(inner, cJSON_CreateNumber(42));
    cJSON_AddItemToArray(nested, inner);
    obj = cJSON_CreateObject();
    cJSON_AddStringToObject(obj, "s", "q\"b\\");
    cJSON_AddItemToArray(nested, obj);
    assert_same_as_cjson(&w, tree);
    jw_fini(&w);
}

/* A number up to 2^53, a string above; jw_int's extremes. */
static void test_exact_integers(void **state)
{
    (void)state;
    struct jw w;
    jw_init(&w, 1024);
    jw_open(&w, NULL, '[');
    jw_u64(&w, NULL, JW_EXACT_MAX);
    jw_u64(&w, NULL, JW_EXACT_MAX + 1);
    jw_u64(&w, NULL, UINT64_MAX);
    jw_int(&w, NULL, INT64_MIN);
    jw_int(&w, NULL, INT64_MAX);
    jw_close(&w, ']');
    jw_end_line(&w);
    const char *want = "[9007199254740992,\"9007199254740993\",\"18446744073709551615\","
                       "-9223372036854775808,9223372036854775807]\n";
    assert_int_equal(jw_finish(&w), 0);
    assert_int_equal(w.len, strlen(want));
    assert_memory_equal(w.buf, want, w.len);
    jw_fini(&w);
}

static void test_splice(void **state)
{
    (void)state;
    struct jw w, part, empty;
    jw_init(&w, 1024);
    jw_init(&part, 1024);
    jw_init(&empty, 1024);
    jw_u64(&part, NULL, 2);
    jw_open(&part, NULL, '{');
    jw_close(&part, '}');

    jw_open(&w, NULL, '{');
    jw_open(&w, "a", '[');
    jw_splice(&w, &empty); /* nothing, and no comma after */
    jw_u64(&w, NULL, 1);
    jw_splice(&w, &part);
    jw_u64(&w, NULL, 3);
    jw_close(&w, ']');
    jw_open(&w, "b", '[');
    jw_splice(&w, &part);
    jw_close(&w, ']');
    jw_open(&w, "c", '[');
    jw_splice(&w, &empty);
    jw_close(&w, ']');
    jw_close(&w, '}');
    const char *want = "{\"a\":[1,2,{},3],\"b\":[2,{}],\"c\":[]}";
    assert_int_equal(jw_finish(&w), 0);
    assert_int_equal(w.len, strlen(want));
    assert_memory_equal(w.buf, want, w.len);
    jw_fini(&w);
    jw_fini(&part);
    jw_fini(&empty);
}

/* Past the first 64 KiB buffer, and a string of every length of run. */
static void test_growth(void **state)
{
    (void)state;
    size_t n = 300000;
    char *s = malloc(n + 1);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        s[i] = i % 97 == 0 ? '\n' : (char)('a' + i % 26);
    s[n] = '\0';
    struct jw w;
    jw_init(&w, 1u << 24);
    jw_open(&w, NULL, '[');
    for (int i = 0; i < 3; i++)
        jw_str(&w, NULL, s);
    jw_close(&w, ']');

    cJSON *tree = cJSON_CreateArray();
    for (int i = 0; i < 3; i++)
        cJSON_AddItemToArray(tree, cJSON_CreateString(s));
    assert_same_as_cjson(&w, tree);
    jw_fini(&w);
    free(s);
}

/* Text past max_bytes fails with -EFBIG, and the writer stays failed; a
 * splice carries the error of its part. */
static void test_cap(void **state)
{
    (void)state;
    struct jw w, big;
    jw_init(&w, 8);
    jw_open(&w, NULL, '[');
    jw_u64(&w, NULL, 1234567);
    assert_int_equal(jw_finish(&w), 0);
    assert_int_equal(w.len, 8);
    jw_close(&w, ']');
    assert_int_equal(jw_finish(&w), -EFBIG);
    assert_int_equal(w.len, 8);
    jw_fini(&w);

    jw_init(&big, 4);
    jw_str(&big, NULL, "too long");
    assert_int_equal(jw_finish(&big), -EFBIG);
    jw_init(&w, 1024);
    jw_open(&w, NULL, '[');
    jw_splice(&w, &big);
    assert_int_equal(jw_finish(&w), -EFBIG);
    jw_fini(&w);
    jw_fini(&big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_byte_escaped_as_cjson),
        cmocka_unit_test(test_document_as_cjson),
        cmocka_unit_test(test_exact_integers),
        cmocka_unit_test(test_splice),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
