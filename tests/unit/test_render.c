/* test_render.c — unit tests of the renderers (render_text.c, render_json.c)
 * and their shared helpers (render_common.c).
 *
 * The end-to-end tests write a small synthetic trace by hand, following
 * docs/trace-format.md: one metadata block of thread 1 with THREAD, PROCESS,
 * MODULES (this test binary, the shared libraries it has loaded, and a fake
 * libaudit.so that exists nowhere), STACK records whose frames are real return
 * addresses inside this file, then ALLOC/FREE records and END. The trace is
 * read back with trd_open(), replayed with an_run(), rendered, and the JSON is
 * parsed back with cJSON so that keys and values are checked, not strings.
 *
 * What the synthetic run does (times are ns after start):
 *   10  malloc(100) -> A   stack 1 (leaked)
 *   20  calloc(200) -> B   stack 1 (leaked)
 *   30  malloc(50)  -> C   stack 2       live 350: the peak
 *   40  free(C)                          temporary
 *   50  malloc(50)  -> C   stack 2
 *   60  free(C)                          temporary
 *   70  malloc(7)   -> D   stack 3 (leaked; stack 3 is never defined)
 *   80  END */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis.h"
#include "render.h"
#include "render_common.h"
#include "render_memory.h"
#include "symbolizer.h"
#include "trace_format.h"
#include "trace_reader.h"

#define START_NS 1000u
#define FAKE_AUDIT_PATH "/nonexistent/memaudit-test/libaudit.so"
#define FAKE_AUDIT_BASE 0x10000u
#define EPOCH 0u

/* ---- return addresses inside known functions ---- */

struct test_ras {
    uint64_t leaker; /* inside render_test_leaker */
    uint64_t caller; /* inside whoever called render_test_leaker */
};

void render_test_leaker(struct test_ras *r);

static __attribute__((noinline)) uint64_t capture_return_address(void)
{
    return (uint64_t)(uintptr_t)__builtin_return_address(0);
}

/* Not static, so that its symbol keeps this exact name (no .isra/.constprop
 * clone); the store after the call keeps the call from becoming a jump. */
__attribute__((noinline)) void render_test_leaker(struct test_ras *r)
{
    r->leaker = capture_return_address();
    r->caller = (uint64_t)(uintptr_t)__builtin_return_address(0);
}

/* ---- a growable byte buffer for building records ---- */

struct tbuf {
    uint8_t *p;
    size_t len, cap;
};

static void tbuf_need(struct tbuf *b, size_t n)
{
    if (b->len + n <= b->cap)
        return;
    while (b->len + n > b->cap)
        b->cap = b->cap != 0 ? b->cap * 2 : 256;
    b->p = realloc(b->p, b->cap);
    assert_non_null(b->p);
}

static void put_u(struct tbuf *b, uint64_t v)
{
    tbuf_need(b, 10);
    b->len = (size_t)(tr_put_u64(b->p + b->len, v) - b->p);
}

static void put_s(struct tbuf *b, int64_t v)
{
    tbuf_need(b, 10);
    b->len = (size_t)(tr_put_i64(b->p + b->len, v) - b->p);
}

static void put_raw(struct tbuf *b, const void *data, size_t n)
{
    tbuf_need(b, n);
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put_byte(struct tbuf *b, uint8_t v)
{
    put_raw(b, &v, 1);
}

static void put_str(struct tbuf *b, const char *s)
{
    put_u(b, strlen(s));
    put_raw(b, s, strlen(s));
}

/* ---- MODULES from the running process ---- */

struct module_ctx {
    struct tbuf *b;
    uint64_t count;
};

static void put_module(struct tbuf *b, uint64_t base, const char *path,
                       const struct dl_phdr_info *info)
{
    uint64_t nseg = 0;
    int i;

    put_u(b, base);
    put_str(b, path);
    put_u(b, 0); /* no build id: the symbolizer goes by path */
    if (info == NULL) {
        put_u(b, 1);
        put_u(b, 0);      /* vaddr */
        put_u(b, 0x1000); /* memsz */
        put_u(b, TR_SEG_EXEC | TR_SEG_READ);
        return;
    }
    for (i = 0; i < info->dlpi_phnum; i++)
        nseg += info->dlpi_phdr[i].p_type == PT_LOAD;
    put_u(b, nseg);
    for (i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uint32_t flags = 0;

        if (ph->p_type != PT_LOAD)
            continue;
        flags |= (ph->p_flags & PF_X) ? TR_SEG_EXEC : 0;
        flags |= (ph->p_flags & PF_W) ? TR_SEG_WRITE : 0;
        flags |= (ph->p_flags & PF_R) ? TR_SEG_READ : 0;
        put_u(b, ph->p_vaddr);
        put_u(b, ph->p_memsz);
        put_u(b, flags);
    }
}

static void self_exe(char exe[TR_MAX_PATH])
{
    ssize_t n = readlink("/proc/self/exe", exe, TR_MAX_PATH - 1);

    assert_true(n > 0);
    exe[n] = '\0';
}

static int module_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    struct module_ctx *ctx = data;
    char exe[TR_MAX_PATH];

    (void)size;
    if (ctx->count == 0) {
        /* The first entry is the main program; its name is "". */
        self_exe(exe);
        put_module(ctx->b, info->dlpi_addr, exe, info);
    } else if (info->dlpi_name[0] == '/') {
        put_module(ctx->b, info->dlpi_addr, info->dlpi_name, info);
    } else {
        return 0; /* the vDSO has no file */
    }
    ctx->count++;
    return 0;
}

static uint64_t put_modules(struct tbuf *b)
{
    struct module_ctx ctx = {b, 0};

    dl_iterate_phdr(module_cb, &ctx);
    /* A recorder that was never unloaded: no file, so no symbols. */
    put_module(b, FAKE_AUDIT_BASE, FAKE_AUDIT_PATH, NULL);
    return ctx.count + 1;
}

/* ---- the synthetic trace ---- */

struct rec_state {
    struct tbuf payload;
    uint32_t n_records;
    uint64_t prev_ptr; /* pointer fields are deltas within the block */
};

static void put_ptr(struct rec_state *r, uint64_t ptr)
{
    put_s(&r->payload, (int64_t)(ptr - r->prev_ptr));
    r->prev_ptr = ptr;
}

static void rec_stack(struct rec_state *r, uint64_t id, const uint64_t *frames, size_t depth)
{
    uint64_t prev = 0;
    size_t i;

    put_byte(&r->payload, TR_REC_STACK);
    put_u(&r->payload, id);
    put_u(&r->payload, EPOCH);
    put_u(&r->payload, depth);
    for (i = 0; i < depth; i++) {
        put_s(&r->payload, (int64_t)(frames[i] - prev));
        prev = frames[i];
    }
    r->n_records++;
}

static void rec_alloc(struct rec_state *r, uint8_t fn, uint64_t dt, uint64_t ptr, uint64_t size,
                      uint64_t stack, uint64_t slack)
{
    put_byte(&r->payload, TR_REC_ALLOC);
    put_byte(&r->payload, fn);
    put_u(&r->payload, dt);
    put_ptr(r, ptr);
    put_u(&r->payload, size);
    put_u(&r->payload, stack);
    put_u(&r->payload, slack);
    r->n_records++;
}

static void rec_free(struct rec_state *r, uint64_t dt, uint64_t ptr)
{
    put_byte(&r->payload, TR_REC_FREE);
    put_byte(&r->payload, TR_FN_FREE);
    put_u(&r->payload, dt);
    put_ptr(r, ptr);
    r->n_records++;
}

/* Write the trace described at the top of this file to a new temporary file;
 * without END when complete is 0. Returns the malloc'd path. */
static char *write_trace(int complete)
{
    struct rec_state r = {{NULL, 0, 0}, 0, 0};
    struct tr_file_header fh;
    struct tr_block_header bh;
    struct test_ras ras;
    uint64_t stack1[3], stack2[1];
    char exe[TR_MAX_PATH];
    char *path;
    FILE *f;
    int fd;

    render_test_leaker(&ras);
    stack1[0] = FAKE_AUDIT_BASE + 0x10; /* folded: recorder plumbing */
    stack1[1] = ras.leaker;
    stack1[2] = ras.caller;
    stack2[0] = ras.caller;

    /* THREAD, first record of the thread's first block. */
    put_byte(&r.payload, TR_REC_THREAD);
    put_u(&r.payload, 0);
    put_u(&r.payload, (uint64_t)gettid());
    r.n_records++;

    put_byte(&r.payload, TR_REC_PROCESS);
    put_u(&r.payload, (uint64_t)getpid());
    put_u(&r.payload, (uint64_t)getppid());
    self_exe(exe);
    put_str(&r.payload, exe);
    put_u(&r.payload, 2);
    put_str(&r.payload, "test_render");
    put_str(&r.payload, "--synthetic");
    r.n_records++;

    /* MODULES: dt epoch count module..., count only known after the walk. */
    {
        struct tbuf mods = {NULL, 0, 0};
        uint64_t count = put_modules(&mods);

        put_byte(&r.payload, TR_REC_MODULES);
        put_u(&r.payload, 0);
        put_u(&r.payload, EPOCH);
        put_u(&r.payload, count);
        put_raw(&r.payload, mods.p, mods.len);
        free(mods.p);
        r.n_records++;
    }

    rec_stack(&r, 1, stack1, 3);
    rec_stack(&r, 2, stack2, 1);

    rec_alloc(&r, TR_FN_MALLOC, 10, 0x100000, 100, 1, 4);
    rec_alloc(&r, TR_FN_CALLOC, 10, 0x200000, 200, 1, 8);
    rec_alloc(&r, TR_FN_MALLOC, 10, 0x300000, 50, 2, 6);
    rec_free(&r, 10, 0x300000);
    rec_alloc(&r, TR_FN_MALLOC, 10, 0x300000, 50, 2, 6);
    rec_free(&r, 10, 0x300000);
    rec_alloc(&r, TR_FN_MALLOC, 10, 0x400000, 7, 3, 1);

    if (complete) {
        put_byte(&r.payload, TR_REC_END);
        put_u(&r.payload, 10);
        put_s(&r.payload, 0);
        put_u(&r.payload, 0);
        put_u(&r.payload, 0);
        r.n_records++;
    }

    memset(&fh, 0, sizeof(fh));
    memcpy(fh.magic, TR_MAGIC, sizeof(fh.magic));
    fh.version = TR_VERSION;
    fh.header_bytes = sizeof(fh);
    fh.pid = (uint32_t)getpid();
    fh.ppid = (uint32_t)getppid();
    fh.start_mono_ns = START_NS;
    fh.start_real_ns = 1700000000000000000ull;
    fh.max_frames = 64;

    memset(&bh, 0, sizeof(bh));
    bh.magic = TR_BLOCK_MAGIC;
    bh.thread = 1;
    bh.seq = 0;
    bh.payload_bytes = (uint32_t)r.payload.len;
    bh.n_records = r.n_records;
    bh.flags = TR_BLOCK_HAS_META;
    bh.first_ns = START_NS;

    path = strdup("/tmp/memaudit-test-render-XXXXXX");
    assert_non_null(path);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(&fh, sizeof(fh), 1, f), 1);
    assert_int_equal(fwrite(&bh, sizeof(bh), 1, f), 1);
    assert_int_equal(fwrite(r.payload.p, r.payload.len, 1, f), 1);
    assert_int_equal(fclose(f), 0);
    free(r.payload.p);
    return path;
}

/* ---- opening, analysing, rendering ---- */

struct fixture {
    char *path;
    struct trd_trace *trace;
    struct analysis an;
    struct sym_resolver *sym;
    struct rc_source src;
};

static void fixture_open(struct fixture *fx, int complete)
{
    char err[256] = "";
    size_t i;
    int rc;

    memset(fx, 0, sizeof(*fx));
    fx->path = write_trace(complete);
    rc = trd_open(fx->path, &fx->trace, err, sizeof(err));
    if (rc < 0)
        print_error("trd_open: %s\n", err);
    assert_int_equal(rc, 0);
    rc = an_run(fx->trace, &fx->an);
    if (rc < 0)
        print_error("an_run: %s\n", trd_error(fx->trace));
    assert_int_equal(rc, 0);
    fx->sym = sym_new();
    assert_non_null(fx->sym);
    for (i = 0; i < trd_snapshot_count(fx->trace); i++)
        assert_int_equal(sym_add_snapshot(fx->sym, trd_snapshot(fx->trace, i)), 0);
    rc_source_from_trace(&fx->src, fx->trace, fx->sym);
}

static void fixture_close(struct fixture *fx)
{
    sym_free(fx->sym);
    an_fini(&fx->an);
    trd_close(fx->trace);
    unlink(fx->path);
    free(fx->path);
}

/* Render with fn into a string the caller frees. */
static char *render_to_string(int (*fn)(FILE *, const struct analysis *, const struct rc_source *,
                                        const struct render_opts *),
                              struct fixture *fx, const struct render_opts *o)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    assert_non_null(out);
    assert_int_equal(fn(out, &fx->an, &fx->src, o), 0);
    assert_int_equal(fclose(out), 0);
    return text;
}

static cJSON *render_json_parsed(struct fixture *fx, const struct render_opts *o)
{
    char *text = render_to_string(render_json, fx, o);
    cJSON *root = cJSON_Parse(text);

    if (root == NULL)
        print_error("unparsable JSON:\n%s\n", text);
    assert_non_null(root);
    free(text);
    return root;
}

static const cJSON *get(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (item == NULL)
        print_error("missing key \"%s\"\n", key);
    assert_non_null(item);
    return item;
}

static uint64_t num(const cJSON *obj, const char *key)
{
    const cJSON *item = get(obj, key);

    assert_true(cJSON_IsNumber(item));
    return (uint64_t)cJSON_GetNumberValue(item);
}

static const char *str(const cJSON *obj, const char *key)
{
    const cJSON *item = get(obj, key);

    assert_true(cJSON_IsString(item));
    return cJSON_GetStringValue(item);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* Every frame object has every key, with the right type. */
static void check_frame_shape(const cJSON *frame)
{
    static const char *const nullable[] = {"function", "raw_name", "file", "module"};
    size_t i;

    assert_true(cJSON_IsObject(frame));
    for (i = 0; i < sizeof(nullable) / sizeof(nullable[0]); i++) {
        const cJSON *v = get(frame, nullable[i]);
        assert_true(cJSON_IsString(v) || cJSON_IsNull(v));
    }
    assert_true(cJSON_IsNumber(get(frame, "line")));
    assert_true(cJSON_IsNumber(get(frame, "offset")));
    assert_true(strncmp(str(frame, "address"), "0x", 2) == 0);
    assert_true(cJSON_IsBool(get(frame, "inlined")));
}

/* ---- end-to-end tests ---- */

static void test_json_report(void **state)
{
    struct render_opts o = {.top = 0, .max_frames = 0, .all_frames = 0};
    const cJSON *summary, *process, *leaks, *leak, *stack, *frame, *peak, *hot, *tmp;
    char exe[TR_MAX_PATH];
    struct fixture fx;
    cJSON *root;
    int i;

    (void)state;
    fixture_open(&fx, 1);
    root = render_json_parsed(&fx, &o);

    assert_int_equal(num(root, "format_version"), 1);

    process = get(root, "process");
    assert_int_equal(num(process, "pid"), (uint64_t)getpid());
    assert_true(cJSON_IsTrue(get(process, "complete")));
    assert_int_equal(num(process, "exit_status"), 0);
    assert_int_equal(num(process, "threads"), 1);
    assert_true(num(process, "trace_bytes") > 0);
    assert_int_equal(num(process, "trace_bytes"), num(process, "trace_bytes_read"));
    assert_string_equal(str(process, "cmdline"), "test_render --synthetic");

    summary = get(root, "summary");
    assert_int_equal(num(summary, "allocations"), 5);
    assert_int_equal(num(summary, "frees"), 2);
    assert_int_equal(num(summary, "bytes_allocated"), 407);
    assert_int_equal(num(summary, "peak_heap_bytes"), 350);
    assert_int_equal(num(summary, "peak_blocks"), 3);
    assert_int_equal(num(summary, "leaked_bytes"), 307);
    assert_int_equal(num(summary, "leaked_blocks"), 3);
    assert_int_equal(num(summary, "temporary_allocations"), 2);
    assert_int_equal(num(summary, "failed_allocations"), 0);
    assert_int_equal(num(summary, "unmatched_frees"), 0);
    assert_int_equal(num(summary, "slack_bytes"), 25);
    (void)num(summary, "duration_ns");
    (void)num(summary, "peak_time_ns");
    (void)num(summary, "peak_slack_bytes");
    (void)num(summary, "reallocs");
    (void)num(summary, "allocation_rate_per_s");
    (void)num(summary, "bytes_rate_per_s");

    /* Leaks: all of them, largest first; the libaudit.so frame is folded. */
    leaks = get(root, "leaks");
    assert_true(cJSON_IsArray(leaks));
    assert_int_equal(cJSON_GetArraySize(leaks), 2);
    leak = cJSON_GetArrayItem(leaks, 0);
    assert_int_equal(num(leak, "bytes"), 300);
    assert_int_equal(num(leak, "blocks"), 2);
    assert_int_equal(num(leak, "allocations"), 2);
    stack = get(leak, "stack");
    assert_true(cJSON_GetArraySize(stack) >= 2);
    for (i = 0; i < cJSON_GetArraySize(stack); i++)
        check_frame_shape(cJSON_GetArrayItem(stack, i));
    frame = cJSON_GetArrayItem(stack, 0);
    assert_string_equal(str(frame, "function"), "render_test_leaker");
    assert_true(ends_with(str(frame, "file"), "test_render.c"));
    assert_true(num(frame, "line") > 0);
    self_exe(exe);
    assert_string_equal(str(frame, "module"), exe);
    assert_true(cJSON_IsFalse(get(frame, "inlined")));
    frame = cJSON_GetArrayItem(stack, 1);
    assert_string_equal(str(frame, "function"), "write_trace");

    /* The leak from a stack the trace never defined: no frames, no crash. */
    leak = cJSON_GetArrayItem(leaks, 1);
    assert_int_equal(num(leak, "bytes"), 7);
    assert_int_equal(num(leak, "blocks"), 1);
    assert_int_equal(cJSON_GetArraySize(get(leak, "stack")), 0);

    /* Hotspots: stacks 1 and 2 tie on count; stack 1 has more bytes. */
    hot = get(root, "hotspots");
    assert_int_equal(cJSON_GetArraySize(hot), 3);
    assert_int_equal(num(cJSON_GetArrayItem(hot, 0), "allocations"), 2);
    assert_int_equal(num(cJSON_GetArrayItem(hot, 0), "bytes"), 300);
    assert_int_equal(num(cJSON_GetArrayItem(hot, 0), "leaked_bytes"), 300);
    assert_int_equal(num(cJSON_GetArrayItem(hot, 0), "min_size"), 100);
    assert_int_equal(num(cJSON_GetArrayItem(hot, 0), "max_size"), 200);
    assert_int_equal(num(cJSON_GetArrayItem(hot, 1), "bytes"), 100);
    assert_int_equal(num(cJSON_GetArrayItem(hot, 1), "temporary"), 2);
    assert_int_equal(num(cJSON_GetArrayItem(hot, 2), "bytes"), 7);

    peak = get(root, "peak");
    assert_int_equal(num(peak, "bytes"), 350);
    (void)num(peak, "time_ns");
    assert_int_equal(cJSON_GetArraySize(get(peak, "sites")), 2);
    assert_int_equal(num(cJSON_GetArrayItem(get(peak, "sites"), 0), "bytes"), 300);
    assert_int_equal(num(cJSON_GetArrayItem(get(peak, "sites"), 0), "blocks"), 2);
    assert_int_equal(num(cJSON_GetArrayItem(get(peak, "sites"), 1), "bytes"), 50);

    tmp = get(root, "temporary");
    assert_int_equal(cJSON_GetArraySize(tmp), 1);
    assert_int_equal(num(cJSON_GetArrayItem(tmp, 0), "temporary"), 2);
    assert_int_equal(num(cJSON_GetArrayItem(tmp, 0), "allocations"), 2);
    frame = cJSON_GetArrayItem(get(cJSON_GetArrayItem(tmp, 0), "stack"), 0);
    assert_string_equal(str(frame, "function"), "write_trace");

    cJSON_Delete(root);
    fixture_close(&fx);
}

static void test_json_all_frames_and_top(void **state)
{
    struct render_opts o = {.top = 1, .max_frames = 0, .all_frames = 1};
    const cJSON *stack, *frame;
    struct fixture fx;
    cJSON *root;

    (void)state;
    fixture_open(&fx, 1);
    root = render_json_parsed(&fx, &o);

    /* all_frames keeps the recorder's frame: module+offset, no symbols. */
    stack = get(cJSON_GetArrayItem(get(root, "leaks"), 0), "stack");
    frame = cJSON_GetArrayItem(stack, 0);
    assert_true(cJSON_IsNull(get(frame, "function")));
    assert_true(cJSON_IsNull(get(frame, "file")));
    assert_string_equal(str(frame, "module"), FAKE_AUDIT_PATH);
    assert_int_equal(num(frame, "offset"), 0x10);
    assert_string_equal(str(frame, "address"), "0x10010");
    frame = cJSON_GetArrayItem(stack, 1);
    assert_string_equal(str(frame, "function"), "render_test_leaker");

    /* top limits the ranked lists, never the leaks. */
    assert_int_equal(cJSON_GetArraySize(get(root, "leaks")), 2);
    assert_int_equal(cJSON_GetArraySize(get(root, "hotspots")), 1);
    assert_int_equal(cJSON_GetArraySize(get(get(root, "peak"), "sites")), 1);

    cJSON_Delete(root);
    fixture_close(&fx);
}

static void test_json_incomplete(void **state)
{
    struct render_opts o = {.top = 0, .max_frames = 0, .all_frames = 0};
    struct fixture fx;
    cJSON *root;

    (void)state;
    fixture_open(&fx, 0);
    root = render_json_parsed(&fx, &o);
    assert_true(cJSON_IsFalse(get(get(root, "process"), "complete")));
    assert_int_equal(num(get(root, "summary"), "allocations"), 5);
    cJSON_Delete(root);
    fixture_close(&fx);
}

static void test_text_report(void **state)
{
    struct render_opts o = {.top = 0, .max_frames = 0, .all_frames = 0};
    struct fixture fx;
    char *text, *again;

    (void)state;
    fixture_open(&fx, 1);
    text = render_to_string(render_text, &fx, &o);
    assert_non_null(strstr(text, "Totals"));
    assert_non_null(strstr(text, "Leaks"));
    assert_non_null(strstr(text, "Peak heap contributors"));
    assert_non_null(strstr(text, "Allocation hotspots"));
    assert_non_null(strstr(text, "Temporary allocations"));
    assert_non_null(strstr(text, "300 bytes in 2 blocks"));
    assert_non_null(strstr(text, "render_test_leaker ("));
    assert_non_null(strstr(text, "test_render.c:"));
    assert_non_null(strstr(text, "<unknown stack>"));
    assert_non_null(strstr(text, "test_render --synthetic"));
    assert_null(strstr(text, "libaudit.so"));
    assert_null(strstr(text, "incomplete"));

    /* Same input, same bytes. */
    again = render_to_string(render_text, &fx, &o);
    assert_string_equal(text, again);
    free(again);
    free(text);
    fixture_close(&fx);
}

static void test_text_incomplete(void **state)
{
    struct render_opts o = {.top = 0, .max_frames = 0, .all_frames = 0};
    struct fixture fx;
    char *text;

    (void)state;
    fixture_open(&fx, 0);
    text = render_to_string(render_text, &fx, &o);
    assert_non_null(strstr(text, "trace incomplete"));
    free(text);
    fixture_close(&fx);
}

/* cJSON allocations fail after a countdown: every failure point must give
 * -ENOMEM, write nothing and leak nothing (the sanitizer builds check that). */
static long json_allocs_left = -1;

static void *failing_malloc(size_t n)
{
    if (json_allocs_left == 0)
        return NULL;
    if (json_allocs_left > 0)
        json_allocs_left--;
    return malloc(n);
}

static void test_json_out_of_memory(void **state)
{
    struct render_opts o = {.top = 0, .max_frames = 0, .all_frames = 0};
    cJSON_Hooks hooks = {failing_malloc, free};
    struct fixture fx;
    long k;
    int rc;

    (void)state;
    fixture_open(&fx, 1);
    for (k = 0; k < 100000; k++) {
        char *text = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&text, &len);

        assert_non_null(out);
        json_allocs_left = k;
        cJSON_InitHooks(&hooks);
        rc = render_json(out, &fx.an, &fx.src, &o);
        cJSON_InitHooks(NULL);
        json_allocs_left = -1;
        assert_int_equal(fclose(out), 0);
        if (rc == 0) {
            assert_true(len > 0);
            free(text);
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_int_equal(len, 0);
        free(text);
    }
    assert_true(k > 0 && k < 100000);
    fixture_close(&fx);
}

/* ---- helpers, without a trace ---- */

static struct sym_location loc_named(const char *function, const char *module)
{
    struct sym_location l;

    memset(&l, 0, sizeof(l));
    l.function = function;
    l.module = module;
    return l;
}

static void test_plumbing(void **state)
{
    static const char *const yes[] = {
        "malloc",
        "calloc",
        "realloc",
        "free",
        "operator new(unsigned long)",
        "operator new[](unsigned long, std::nothrow_t const&)",
        "__gnu_cxx::new_allocator<int>::allocate(unsigned long, void const*)",
        "std::allocator_traits<std::allocator<int> >::allocate(std::allocator<int>&, unsigned "
        "long)",
        "std::__new_allocator<char>::allocate(unsigned long, void const*)",
        "__rust_alloc",
        "__rust_alloc_zeroed",
        "__rust_realloc",
        "__rdl_alloc",
        "alloc::alloc::exchange_malloc",
        "alloc::raw_vec::RawVec<T,A>::allocate_in",
        "<alloc::alloc::Global as core::alloc::Allocator>::allocate",
        "<alloc::alloc::Global>::alloc_impl_runtime", /* v0 */
        "alloc::alloc::Global::alloc_impl",           /* legacy */
        "<alloc::raw_vec::RawVecInner>::finish_grow",
        "alloc::raw_vec::RawVecInner<A>::grow_one",
        "alloc::boxed::box_new_uninit",
        "__rg_alloc",
        "__rustc::__rust_alloc",
        "std::sys::alloc::unix::<impl core::alloc::global::GlobalAlloc for std::alloc::System>::alloc",
        "<std::alloc::System as core::alloc::global::GlobalAlloc>::alloc",
        "std::_Vector_base<int, std::allocator<int> >::_M_allocate(unsigned long)",
        "void std::vector<int, std::allocator<int> >::_M_realloc_insert<int const&>"
        "(__gnu_cxx::__normal_iterator<int*, std::vector<int, std::allocator<int> > >, "
        "int const&)",
    };
    static const char *const no[] = {
        "main",
        "xmalloc",
        "malloc_wrapper",
        "std::vector<int, std::allocator<int> >::push_back",
        "my::alloc::alloc",
        "alloc::vec::Vec<T,A>::push",
        "alloc::boxed::Box<T>::new",
        "std::vector<int, std::allocator<int> >::_M_fill_insert_helper",
        "<mycrate::alloc::alloc::Thing>::new",
    };
    struct sym_location l;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        l = loc_named(yes[i], "/usr/lib/libfoo.so");
        if (!rc_is_plumbing(&l))
            print_error("not folded: %s\n", yes[i]);
        assert_true(rc_is_plumbing(&l));
    }
    for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        l = loc_named(no[i], "/usr/bin/prog");
        if (rc_is_plumbing(&l))
            print_error("folded: %s\n", no[i]);
        assert_false(rc_is_plumbing(&l));
    }
    l = loc_named(NULL, "/opt/memaudit/lib/libaudit.so");
    assert_true(rc_is_plumbing(&l));
    l = loc_named(NULL, "/opt/memaudit/lib/notlibaudit.so");
    assert_false(rc_is_plumbing(&l));
    l = loc_named(NULL, NULL);
    l.raw_name = "_Znwm";
    assert_true(rc_is_plumbing(&l));
}

static char *print_location_to_string(const struct sym_location *l)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    assert_non_null(out);
    rc_print_location(out, l);
    assert_int_equal(fclose(out), 0);
    return text;
}

static void test_location_format(void **state)
{
    struct sym_location l = loc_named("parse", "/usr/lib/libx.so.1");
    char *s;

    (void)state;
    l.file = "src/a/parse.c";
    l.line = 42;
    l.module_offset = 0x1234;
    l.address = 0x7f0000001234;
    s = print_location_to_string(&l);
    assert_string_equal(s, "parse (src/a/parse.c:42)");
    free(s);

    l.file = NULL;
    s = print_location_to_string(&l);
    assert_string_equal(s, "parse (libx.so.1+0x1234)");
    free(s);

    l.function = NULL;
    s = print_location_to_string(&l);
    assert_string_equal(s, "libx.so.1+0x1234");
    free(s);

    l.module = NULL;
    s = print_location_to_string(&l);
    assert_string_equal(s, "0x7f0000001234");
    free(s);
}

static void test_format_bytes(void **state)
{
    char buf[RC_SIZE_BUF];

    (void)state;
    assert_string_equal(rc_format_bytes(buf, 0), "0 B");
    assert_string_equal(rc_format_bytes(buf, 512), "512 B");
    assert_string_equal(rc_format_bytes(buf, 1023), "1023 B");
    assert_string_equal(rc_format_bytes(buf, 1024), "1.0 KiB");
    assert_string_equal(rc_format_bytes(buf, 1536), "1.5 KiB");
    assert_string_equal(rc_format_bytes(buf, 1572864), "1.5 MiB");
    assert_string_equal(rc_format_bytes(buf, 1048575), "1.0 MiB");
    assert_string_equal(rc_format_bytes(buf, 3ull << 30), "3.0 GiB");
    assert_string_equal(rc_format_bytes(buf, UINT64_MAX), "16.0 EiB");
    assert_string_equal(rc_format_seconds(buf, 1234567890), "1.234 s");
    assert_string_equal(rc_format_seconds(buf, 0), "0.000000 s");
    assert_string_equal(rc_format_seconds(buf, 123456), "0.000123 s");
    assert_string_equal(rc_format_seconds(buf, 999999999), "0.999999 s");
    assert_string_equal(rc_format_seconds(buf, 61000000000ull), "61.000 s");
    assert_true(rc_rate_per_s(10, 0) == 0.0);
    assert_true(rc_rate_per_s(10, 2000000000) == 5.0);
}

static void test_rank_ties(void **state)
{
    struct an_site sites[6];
    struct analysis a;
    const struct an_site **out;
    size_t n, total;

    (void)state;
    memset(sites, 0, sizeof(sites));
    memset(&a, 0, sizeof(a));
    for (uint32_t i = 0; i < 6; i++)
        sites[i].stack = i;
    /* 0 unused; 1..4 leak; 3 and 1 tie on bytes and blocks; 5 freed all. */
    sites[1] = (struct an_site){.stack = 1, .allocations = 1, .live_bytes = 10, .live_blocks = 1};
    sites[2] = (struct an_site){.stack = 2, .allocations = 1, .live_bytes = 0, .live_blocks = 1};
    sites[3] = (struct an_site){.stack = 3, .allocations = 1, .live_bytes = 10, .live_blocks = 1};
    sites[4] = (struct an_site){.stack = 4, .allocations = 2, .live_bytes = 10, .live_blocks = 2};
    sites[5] = (struct an_site){.stack = 5, .allocations = 9, .frees = 9, .temporary = 9};
    a.sites = sites;
    a.n_sites = 6;

    assert_int_equal(rc_rank_sites(&a, RC_LEAKED, 0, &out, &n, &total), 0);
    assert_int_equal(n, 4);
    assert_int_equal(total, 4);
    assert_int_equal(out[0]->stack, 4);
    assert_int_equal(out[1]->stack, 1);
    assert_int_equal(out[2]->stack, 3);
    assert_int_equal(out[3]->stack, 2);
    free(out);

    assert_int_equal(rc_rank_sites(&a, RC_ALLOCATIONS, 2, &out, &n, &total), 0);
    assert_int_equal(n, 2);
    assert_int_equal(total, 5);
    assert_int_equal(out[0]->stack, 5);
    assert_int_equal(out[1]->stack, 4);
    free(out);

    assert_int_equal(rc_rank_sites(&a, RC_PEAK, 0, &out, &n, &total), 0);
    assert_int_equal(n, 0);
    assert_null(out);
}

/* The sparkline of the text report: levels rounded up in eighths of the
 * highest sample, columns taking the highest of their samples, 60 at most. */
static void test_sparkline(void **state)
{
    static struct an_sample s[121];
    struct analysis a;
    char buf[RM_SPARK_MAX * 3 + 1];
    const uint64_t heap[8] = {0, 1, 100, 200, 400, 700, 350, 0};

    (void)state;
    memset(&a, 0, sizeof(a));
    a.timeline = s;
    assert_int_equal(rm_sparkline(buf, sizeof(buf), &a, 1), 0);
    assert_string_equal(buf, "");

    for (size_t i = 0; i < 8; i++)
        s[i].heap_bytes = heap[i];
    a.n_timeline = 8;
    assert_int_equal(rm_sparkline(buf, sizeof(buf), &a, 0), 8);
    assert_string_equal(buf, "_..:=#=_");
    assert_int_equal(rm_sparkline(buf, sizeof(buf), &a, 1), 24);
    assert_string_equal(buf, "\u2581\u2582\u2582\u2583\u2585\u2588\u2585\u2581");
    /* Cut short at a whole glyph. */
    assert_int_equal(rm_sparkline(buf, 7, &a, 1), 6);
    assert_string_equal(buf, "\u2581\u2582");

    /* 121 samples rising 0..120: 60 columns, the last also holds sample 120. */
    for (size_t i = 0; i < 121; i++)
        s[i].heap_bytes = i;
    a.n_timeline = 121;
    assert_int_equal(rm_sparkline(buf, sizeof(buf), &a, 0), RM_SPARK_MAX);
    assert_int_equal(buf[0], '.');  /* samples 0, 1: 1 of 120 */
    assert_int_equal(buf[59], '#'); /* samples 118..120 */
    assert_int_equal(buf[29], '='); /* samples 58, 59: 59 of 120, 3.4 eighths */

    /* All zero: the lowest level throughout. */
    memset(s, 0, sizeof(s));
    a.n_timeline = 3;
    assert_int_equal(rm_sparkline(buf, sizeof(buf), &a, 0), 3);
    assert_string_equal(buf, "___");
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plumbing),
        cmocka_unit_test(test_location_format),
        cmocka_unit_test(test_format_bytes),
        cmocka_unit_test(test_rank_ties),
        cmocka_unit_test(test_json_report),
        cmocka_unit_test(test_json_all_frames_and_top),
        cmocka_unit_test(test_json_incomplete),
        cmocka_unit_test(test_json_out_of_memory),
        cmocka_unit_test(test_text_report),
        cmocka_unit_test(test_text_incomplete),
        cmocka_unit_test(test_sparkline),
    };
    /* clang-format on */

    return cmocka_run_group_tests(tests, NULL, NULL);
}
