/* fuzz_trace.c — libFuzzer target for the trace reader (symbolizer/trace_reader.c)
 * and what consumes it: the analysis replay and the renderers.
 *
 * Each input is a whole trace file. It goes to a memfd so that trd_open()
 * reads it as it reads any file (pread, fstat), then the harness does what
 * `memaudit report` does: index, replay every event in global order, and
 * render both reports. The resolver has no module map, so no ELF file named
 * by the input is ever opened: that keeps the target fast and deterministic,
 * and the symbolizer's own hostile-module handling has its unit test.
 *
 * The input is also followed (trd_open_follow) as if written in two steps.
 *
 * A crash, a sanitizer report, a leak or a hang (libFuzzer's -timeout) is a
 * finding; an error return is the expected answer to bad input. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "analysis.h"
#include "render.h"
#include "symbolizer.h"
#include "trace_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void render_all(const struct analysis *a, const struct rc_source *src)
{
    static const struct render_opts opts[] = {{0, 0, 0}, {3, 2, 1}};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        char *text = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&text, &len);
        if (out == NULL)
            return;
        render_text(out, a, src, &opts[i]);
        render_json(out, a, src, &opts[i]);
        fclose(out);
        free(text);
    }
}

static void drain(struct trd_trace *t)
{
    const struct trd_event *run;
    while (trd_next_run(t, &run) > 0)
        ;
}

/* Follow the input as if its writer wrote it in two steps, split where the
 * last byte says: update and replay after each, then end and replay. */
static void follow_two_steps(const uint8_t *data, size_t size)
{
    char path[64], err[256];
    struct trd_trace *t = NULL;
    size_t cut = size > 0 ? size * data[size - 1] / 256 : 0;
    int fd = memfd_create("fuzz-follow", MFD_CLOEXEC);
    if (fd < 0)
        return;
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    if (cut > 0 && write(fd, data, cut) != (ssize_t)cut)
        goto out;
    int rc = trd_open_follow(path, &t, err, sizeof err);
    if (rc < 0 && rc != -EAGAIN)
        goto out;
    if (t != NULL)
        drain(t);
    if (size > cut && write(fd, data + cut, size - cut) != (ssize_t)(size - cut))
        goto out;
    if (t == NULL && trd_open_follow(path, &t, err, sizeof err) < 0)
        goto out;
    if (trd_follow_update(t) >= 0)
        drain(t);
    if (trd_follow_end(t) == 0)
        drain(t);
out:
    trd_close(t);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], err[256];
    struct trd_trace *t = NULL;
    struct trd_event ev;
    struct analysis a = {0};

    int fd = memfd_create("fuzz-trace", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (size > 0 && write(fd, data, size) != (ssize_t)size)
        goto out;
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    if (trd_open(path, &t, err, sizeof err) < 0)
        goto out;

    /* The metadata accessors, and every stack and snapshot they index. */
    (void)trd_exe(t);
    (void)trd_cmdline(t);
    for (uint32_t id = 0; id < trd_stack_count(t); id++) {
        const struct trd_stack *st = trd_stack(t, id);
        for (uint32_t i = 0; st != NULL && i < st->depth; i++)
            (void)mm_find(trd_snapshot_count(t) ? trd_snapshot(t, 0) : NULL, st->frames[i]);
    }
    for (size_t i = 0; i < trd_thread_count(t); i++)
        (void)trd_thread(t, i);

    /* One plain pass over the events, then the replay. */
    while (trd_next(t, &ev) > 0)
        ;
    if (an_run(t, &a) == 0) {
        struct sym_resolver *sym = sym_new();
        struct rc_source src;
        if (sym != NULL) {
            rc_source_from_trace(&src, t, sym);
            render_all(&a, &src);
            sym_free(sym);
        }
    }
    an_fini(&a);
    trd_close(t);
out:
    close(fd);
    follow_two_steps(data, size);
    return 0;
}
