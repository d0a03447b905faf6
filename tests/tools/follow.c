/* follow.c — check the trace reader's follow mode on real traces (integration tests).
 *
 *   follow copy TRACE COPY            copy the finished TRACE into COPY a few
 *                                     blocks' worth of bytes at a time, following
 *                                     COPY (trd_follow_update() and a replay after
 *                                     each step, trd_follow_end() at the end)
 *   follow run LIB TRACE PROG ARGS... run PROG under LIB (LD_PRELOAD, its trace
 *                                     written to TRACE, which must not exist) and
 *                                     follow TRACE while it runs, looking every 5 ms
 *
 * Either way the events handed out, in order and with every field, and what
 * the accessors say after the end must equal trd_open()'s replay of the
 * finished file: compared as two hashes. Prints
 *   "same as trd_open: E events (B before the end), S steps; CPU: ..."
 * with the CPU time of the reader's calls while following, after the end
 * (trd_follow_end() and the rest of the replay), and of trd_open() and its
 * replay
 * and exits 0, or prints what differs and exits 1; 2 for a usage or read
 * error (with follow mode's one-line reason). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "trace_reader.h"

struct tally {
    uint64_t events, before_end, steps;
    double cpu_ms;    /* this process's CPU time in the reader's calls */
    uint64_t ev_hash; /* FNV-1a over every event handed out, in order */
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

#define FNV_BASIS 0xcbf29ce484222325ull

static void tally_add(struct tally *y, const struct trd_event *ev, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct trd_event e = ev[i];
        e.name = NULL; /* the name's bytes instead of where they are */
        y->ev_hash = fnv(y->ev_hash, &e, sizeof e);
        if (ev[i].name_len > 0)
            y->ev_hash = fnv(y->ev_hash, ev[i].name, ev[i].name_len);
    }
    y->events += n;
}

/* Hand out events until the replay says otherwise: that (-EAGAIN while
 * following, 0 at the end, or an error). */
static int drain(struct trd_trace *t, struct tally *y)
{
    const struct trd_event *run;
    int rc;
    while ((rc = trd_next_run(t, &run)) > 0)
        tally_add(y, run, (size_t)rc);
    return rc;
}

/* What the accessors say, as one hash (after the replay went to the end,
 * so that trd_last_ns() is exact). */
static uint64_t meta_hash(const struct trd_trace *t)
{
    uint64_t h = fnv(FNV_BASIS, trd_header(t), sizeof *trd_header(t));
    uint32_t n_stacks = trd_stack_count(t);
    h = fnv(h, &n_stacks, sizeof n_stacks);
    for (uint32_t id = 0; id < n_stacks; id++) {
        const struct trd_stack *s = trd_stack(t, id);
        if (s == NULL)
            continue;
        h = fnv(h, &id, sizeof id);
        h = fnv(h, &s->epoch, sizeof s->epoch);
        h = fnv(h, s->frames, s->depth * sizeof *s->frames);
    }
    for (size_t i = 0; i < trd_thread_count(t); i++)
        h = fnv(h, trd_thread(t, i), sizeof(struct trd_thread));
    for (size_t i = 0; i < trd_sample_count(t); i++) {
        const struct trd_sample *s = trd_sample(t, i);
        h = fnv(h, &s->time_ns, sizeof s->time_ns);
        h = fnv(h, &s->rss_bytes, sizeof s->rss_bytes);
        h = fnv(h, s->stats, s->n_stats * sizeof s->stats[0]);
    }
    for (size_t i = 0; i < trd_snapshot_count(t); i++) {
        const struct mm_snapshot *s = trd_snapshot(t, i);
        h = fnv(h, &s->time_ns, sizeof s->time_ns);
        for (uint32_t j = 0; j < s->n_modules; j++) {
            h = fnv(h, s->modules[j].path, strlen(s->modules[j].path));
            h = fnv(h, &s->modules[j].base, sizeof s->modules[j].base);
            h = fnv(h, &s->modules[j].n_symbols, sizeof s->modules[j].n_symbols);
        }
    }
    uint64_t v[] = {trd_complete(t),         (uint64_t)trd_exit_status(t),
                    (uint64_t)trd_signal(t), trd_lost_events(t),
                    trd_first_ns(t),         trd_last_ns(t),
                    trd_file_bytes(t),       trd_bytes_read(t),
                    trd_event_records(t)};
    h = fnv(h, v, sizeof v);
    h = fnv(h, trd_exe(t), strlen(trd_exe(t)));
    return fnv(h, trd_cmdline(t), strlen(trd_cmdline(t)));
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void nap_5ms(void)
{
    struct timespec ts = {0, 5000000};
    nanosleep(&ts, NULL);
}

/* The end of following, and the comparison with trd_open(path). */
static int finish(struct trd_trace *t, const char *path, struct tally *y)
{
    char err[256];
    y->before_end = y->events;
    double at = cpu_ms();
    if (trd_follow_end(t) < 0 || drain(t, y) < 0) {
        fprintf(stderr, "follow: %s: %s\n", path, trd_error(t));
        return 2;
    }
    double end_ms = cpu_ms() - at;
    at = cpu_ms();
    struct trd_trace *ref;
    if (trd_open(path, &ref, err, sizeof err) < 0) {
        fprintf(stderr, "follow: %s: %s\n", path, err);
        return 2;
    }
    struct tally want = {.ev_hash = FNV_BASIS};
    if (drain(ref, &want) < 0) {
        fprintf(stderr, "follow: %s: %s\n", path, trd_error(ref));
        trd_close(ref);
        return 2;
    }
    double open_ms = cpu_ms() - at;
    int same_meta = meta_hash(t) == meta_hash(ref);
    trd_close(ref);
    if (want.events != y->events || want.ev_hash != y->ev_hash || !same_meta) {
        printf("follow: differs from trd_open: %" PRIu64 " events (hash %016" PRIx64
               "), want %" PRIu64 " (hash %016" PRIx64 "); accessors %s\n",
               y->events, y->ev_hash, want.events, want.ev_hash, same_meta ? "agree" : "differ");
        return 1;
    }
    printf("same as trd_open: %" PRIu64 " events (%" PRIu64 " before the end), %" PRIu64
           " steps; CPU: %.1f ms following, %.1f ms after the end; trd_open and replay %.1f ms\n",
           y->events, y->before_end, y->steps, y->cpu_ms, end_ms, open_ms);
    return 0;
}

/* One step of following: open (until the header is there) or update, then
 * replay what can be. 0, or 2 after printing the error. */
static int step(struct trd_trace **t, const char *path, struct tally *y)
{
    char err[256];
    int rc;
    double at = cpu_ms();
    y->steps++;
    if (*t == NULL) {
        rc = trd_open_follow(path, t, err, sizeof err);
        if (rc == -EAGAIN || rc == -ENOENT)
            return 0;
        if (rc < 0) {
            fprintf(stderr, "follow: %s: %s\n", path, err);
            return 2;
        }
    } else if (trd_follow_update(*t) < 0) {
        fprintf(stderr, "follow: %s: %s\n", path, trd_error(*t));
        return 2;
    }
    rc = drain(*t, y);
    y->cpu_ms += cpu_ms() - at;
    if (rc != -EAGAIN) {
        fprintf(stderr, "follow: %s: %s\n", path,
                rc == 0 ? "the replay ended before trd_follow_end" : trd_error(*t));
        return 2;
    }
    return 0;
}

static int copy_mode(const char *from, const char *to)
{
    struct tally y = {.ev_hash = FNV_BASIS};
    struct trd_trace *t = NULL;
    int rc = 2;
    FILE *in = fopen(from, "rb");
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (in == NULL || out < 0) {
        fprintf(stderr, "follow: cannot open %s: %s\n", in == NULL ? from : to, strerror(errno));
        goto done;
    }
    struct stat st;
    if (fstat(fileno(in), &st) < 0)
        goto done;
    /* About 300 steps, of sizes that vary so that they cut blocks anywhere. */
    size_t unit = (size_t)st.st_size / 300 + 1, k = 0;
    char *buf = malloc(2 * unit);
    if (buf == NULL)
        goto done;
    for (;;) {
        size_t want = unit / 2 + (k++ * 7919) % (unit + 1);
        size_t n = fread(buf, 1, want ? want : 1, in);
        if (n > 0 && write(out, buf, n) != (ssize_t)n) {
            fprintf(stderr, "follow: cannot write %s: %s\n", to, strerror(errno));
            break;
        }
        if (step(&t, to, &y) != 0)
            break;
        if (n == 0) {
            rc = t != NULL ? finish(t, to, &y) : 2;
            break;
        }
    }
    free(buf);
done:
    if (in != NULL)
        fclose(in);
    if (out >= 0)
        close(out);
    trd_close(t);
    return rc;
}

static int run_mode(const char *lib, const char *path, char **argv)
{
    struct tally y = {.ev_hash = FNV_BASIS};
    struct trd_trace *t = NULL;
    pid_t pid = fork();
    if (pid < 0) {
        perror("follow: fork");
        return 2;
    }
    if (pid == 0) {
        setenv("LD_PRELOAD", lib, 1);
        setenv("MEMAUDIT_OUTPUT", path, 1);
        setenv("MEMAUDIT_QUIET", "1", 1);
        execvp(argv[0], argv);
        perror("follow: exec");
        _exit(127);
    }
    int status = 0, exited = 0, rc = 0;
    while (!exited && rc == 0) {
        exited = waitpid(pid, &status, WNOHANG) == pid;
        rc = step(&t, path, &y); /* after the exit too: all of it is written */
        if (!exited && rc == 0)
            nap_5ms();
    }
    if (!exited)
        waitpid(pid, &status, 0);
    if (rc == 0 && t == NULL) {
        fprintf(stderr, "follow: %s: no trace\n", path);
        rc = 2;
    }
    if (rc == 0)
        rc = finish(t, path, &y);
    trd_close(t);
    if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        fprintf(stderr, "follow: %s did not exit with 0 (status %#x)\n", argv[0], (unsigned)status);
        rc = 2;
    }
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "copy") == 0)
        return copy_mode(argv[2], argv[3]);
    if (argc >= 5 && strcmp(argv[1], "run") == 0)
        return run_mode(argv[2], argv[3], argv + 4);
    fprintf(stderr, "usage: follow copy TRACE COPY\n"
                    "       follow run LIB TRACE PROG [ARGS...]\n");
    return 2;
}
