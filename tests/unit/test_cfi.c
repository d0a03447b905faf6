/* test_cfi.c — the unwind rules of cfi.c against the stack they describe.
 *
 * A callee with a frame pointer (g) sees its caller's frame from below: the
 * caller's SP at the call is g's CFA, the caller's RBP is what g saved at
 * CFA - 16, and the caller's return address is known to the caller itself
 * (__builtin_return_address). The rule cfi.c reads for the return address
 * into the caller must turn that SP and RBP into the caller's CFA, where the
 * caller's return address lies at CFA - 8 — for a caller whose CFA rule uses
 * the stack pointer and for one that uses the frame pointer (alloca). The
 * outermost frame (_start) must read as the end, and an address outside
 * every module as "cannot step". */
#include <alloca.h>
#include <execinfo.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rec.h"

struct seen {
    uintptr_t sp, rbp, ra_into_caller;
    uint64_t rule;
    uintptr_t cfa;
    int ra_found; /* the caller's return address lay at the rule's CFA - 8 */
};

/* Called by the callers below: reports their SP and RBP at the call, and
 * where the call returns to. */
__attribute__((noinline)) static void g(struct seen *s)
{
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
    s->sp = fp + 16;
    s->rbp = *(const uintptr_t *)fp;
    s->ra_into_caller = (uintptr_t)__builtin_return_address(0);
    __asm__ volatile("" ::: "memory");
}

/* The caller's CFA by the rule at the return address into it; 0 if none. */
static uintptr_t cfa_by_rule(const struct seen *s, uint64_t *rule_out)
{
    uint64_t rule = rec_cfi_rule(s->ra_into_caller - 1, 0);
    *rule_out = rule;
    if (REC_CFI_KIND(rule) != REC_CFI_STEP)
        return 0;
    uintptr_t base = (rule & REC_CFI_CFA_RBP) ? s->rbp : s->sp;
    return base + (uintptr_t)REC_CFI_CFA_OFF(rule);
}

/* Called by the caller after g, while its frame is live. */
__attribute__((noinline)) static void check(struct seen *s, uintptr_t ra)
{
    s->cfa = cfa_by_rule(s, &s->rule);
    s->ra_found = s->cfa != 0 && *(const uintptr_t *)(s->cfa - 8) == ra;
}

/* Built without a frame pointer: CFA = RSP + c. (The attribute, for the
 * sanitizer builds, which add -fno-omit-frame-pointer: SAN=...) */
#if defined(__clang__)
#define NO_FRAME_POINTER
#else
#define NO_FRAME_POINTER __attribute__((optimize("omit-frame-pointer")))
#endif
__attribute__((noinline)) NO_FRAME_POINTER static int sp_caller(struct seen *s, int n)
{
    volatile char pad[40];
    pad[n % 40] = (char)n;
    g(s);
    check(s, (uintptr_t)__builtin_return_address(0));
    return pad[n % 40];
}

/* alloca: the frame's size is known only at run time, so the CFA is
 * RBP-based. */
__attribute__((noinline)) static int rbp_caller(struct seen *s, int n)
{
    volatile char *p = alloca((size_t)n);
    p[n - 1] = (char)n;
    g(s);
    check(s, (uintptr_t)__builtin_return_address(0));
    return p[n - 1];
}

static void test_sp_rule(void **state)
{
    (void)state;
    struct seen s;
    sp_caller(&s, 7);
    assert_int_equal(REC_CFI_KIND(s.rule), REC_CFI_STEP);
    assert_false(s.rule & REC_CFI_CFA_RBP);
    assert_true(s.cfa > s.sp);
    assert_true(s.ra_found);
}

static void test_rbp_rule(void **state)
{
    (void)state;
    for (int n = 16; n <= 4096; n *= 4) {
        struct seen s;
        rbp_caller(&s, n);
        assert_int_equal(REC_CFI_KIND(s.rule), REC_CFI_STEP);
        assert_true(s.rule & REC_CFI_CFA_RBP);
        assert_true(s.rule & REC_CFI_RBP_SAVED); /* the caller's RBP, saved by the prologue */
        assert_true(s.cfa > s.sp + (uintptr_t)n);
        assert_true(s.ra_found);
    }
}

static void test_outermost_is_end(void **state)
{
    (void)state;
    void *frames[128];
    int n = backtrace(frames, 128);
    assert_true(n >= 3);
    /* The last frame is _start's (the main thread's outermost). */
    uint64_t rule = rec_cfi_rule((uintptr_t)frames[n - 1] - 1, 0);
    assert_int_equal(REC_CFI_KIND(rule), REC_CFI_END);
    /* A frame in between steps. */
    rule = rec_cfi_rule((uintptr_t)frames[1] - 1, 0);
    assert_int_equal(REC_CFI_KIND(rule), REC_CFI_STEP);
}

static void test_no_module(void **state)
{
    (void)state;
    static char data[64];
    assert_int_equal(REC_CFI_KIND(rec_cfi_rule((uintptr_t)&data[8], 0)), REC_CFI_NONE);
    assert_int_equal(REC_CFI_KIND(rec_cfi_rule(16, 0)), REC_CFI_NONE);
    /* Cached answers are the same as fresh ones, per epoch. */
    struct seen s;
    sp_caller(&s, 3);
    uint64_t a = rec_cfi_rule(s.ra_into_caller - 1, 5);
    uint64_t b = rec_cfi_rule(s.ra_into_caller - 1, 5);
    assert_true(a == b);
    assert_true(a == rec_cfi_rule(s.ra_into_caller - 1, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sp_rule),
        cmocka_unit_test(test_rbp_rule),
        cmocka_unit_test(test_outermost_is_end),
        cmocka_unit_test(test_no_module),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
