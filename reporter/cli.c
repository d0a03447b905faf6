/* cli.c — the memaudit command: run, symbolize, report.
 *
 * `memaudit run` sets up the preload for a program and every process it
 * starts, keeps its exit status and lists the traces it produced;
 * `memaudit symbolize` turns a trace into a self-contained profile;
 * `memaudit report` replays traces (or reads profiles) and renders them. Errors are one line,
 * "memaudit: FILE: reason", and a non-zero exit. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/inotify.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "calltree.h"
#include "cli.h"
#include "progress.h"
#include "render.h"
#include "sym_warm.h"

#define MEMAUDIT_VERSION "0.1.0"

static const char usage_main[] =
    "usage: memaudit COMMAND [OPTIONS] [ARGS]\n"
    "\n"
    "A heap-allocation profiler for native Linux programs.\n"
    "\n"
    "Commands:\n"
    "  run [-o DIR] [--leak-check] -- PROGRAM [ARGS...]\n"
    "                                       record PROGRAM and every process it starts\n"
    "  symbolize [-o PROFILE] TRACE...      write self-contained profiles (no binaries\n"
    "                                       needed to report them)\n"
    "  report [OPTIONS] TRACE|PROFILE|DIR... print a report of traces or profiles\n"
    "  diff [OPTIONS] BEFORE AFTER          compare two runs, site by site\n"
    "  check [BUDGETS] INPUT...             exit 3 when a run exceeds a budget\n"
    "  help [COMMAND]                       this text, or a command's own help\n"
    "  --version                            the version (and the trace format's)\n"
    "\n"
    "Recording without the command:\n"
    "  LD_PRELOAD=/path/to/libaudit.so PROGRAM [ARGS...]\n"
    "  writes ./memaudit.PROGRAM.PID.trace; then: memaudit report THAT.trace\n"
    "\n"
    "Environment read by the recorder (libaudit.so):\n"
    "  MEMAUDIT_OUTPUT=PATTERN  trace file name; %p is replaced by the pid and %e by\n"
    "                           the program name (default memaudit.%e.%p.trace).\n"
    "                           An existing file is never overwritten: a numbered\n"
    "                           sibling (.1, .2, ...) is created instead.\n"
    "  MEMAUDIT_DEPTH=N         maximum frames per stack, 1-256 (default 64)\n"
    "  MEMAUDIT_QUIET=1         do not print the 'trace written to' line at exit\n"
    "  MEMAUDIT_INTERVAL_MS=N   memory samples (RSS, allocator statistics) and\n"
    "                           flushes of buffered events every N ms, 0-60000\n"
    "                           (default 50; 0: none; done by a recorder thread,\n"
    "                           in sampling mode by the recording threads)\n"
    "  MEMAUDIT_CONTENT=1       hash small blocks (up to 4 KiB) when freed, to find\n"
    "                           duplicate content\n"
    "  MEMAUDIT_FREE_STACKS=1   record the stack of every free (memory errors)\n"
    "  MEMAUDIT_COMPRESS=1      compress the trace with zstd, block by block\n"
    "  MEMAUDIT_CROSSCHECK=1    compare every stack with a full libunwind walk; say\n"
    "                           on stderr if any disagrees (slow; for testing)\n"
    "  MEMAUDIT_CLOCK=monotonic timestamps from clock_gettime, never the TSC\n"
    "  MEMAUDIT_SAMPLE=BYTES    sampling mode: record about one allocation per BYTES\n"
    "                           bytes allocated; reports give estimates\n"
    "\n"
    "Read by memaudit itself:\n"
    "  MEMAUDIT_PROGRESS_AFTER_MS=N  show the progress bar (stderr a terminal, CI\n"
    "                           unset) once reading a trace took N ms, 0-60000\n"
    "                           (default 500)\n"
    "  NO_COLOR=1               no colour in the text report on a terminal\n"
    "\n"
    "Exit status: 0 on success, 1 on bad input or a failed command, 2 on a usage\n"
    "error; `run` exits with the program's own status (128+N if killed by signal N);\n"
    "`check` exits 3 when a budget is exceeded; `run --leak-check` exits 23 when a\n"
    "process leaked and the program itself succeeded.\n";

static const char usage_run[] =
    "usage: memaudit run [-o DIR] [-q] [--depth N] [--content] [--free-stacks] [--sample BYTES]\n"
    "                    [--leak-check [--suppressions FILE] [--leak-exit-code N]]\n"
    "                    [--compress] -- PROGRAM [ARGS...]\n"
    "\n"
    "Runs PROGRAM with libaudit.so preloaded. Every process it starts (fork, exec,\n"
    "shell pipelines) is recorded into its own trace in DIR, named\n"
    "memaudit.PROGRAM.PID.trace. Writes the profile of each trace beside it\n"
    "(memaudit.PROGRAM.PID.profile, see `memaudit symbolize`): of a process that\n"
    "ended while PROGRAM runs on, at once; of the others when PROGRAM ends. Prints the\n"
    "path of each and a summary of the processes, worst first (at most 10 lines:\n"
    "pid, how it ended, peak heap, leaked bytes and blocks, allocations, program\n"
    "and top finding), all on stderr, and exits with PROGRAM's exit status. On a\n"
    "terminal, a progress bar shows while a long trace is read. PROGRAM's own trace\n"
    "is replayed while PROGRAM runs, on a CPU it leaves idle (MEMAUDIT_FOLLOW=0: not).\n"
    "\n"
    "  -o, --output DIR   directory for the traces and profiles (default: current\n"
    "                     directory; created if missing)\n"
    "  -q, --quiet        no summary\n"
    "  --depth N          maximum frames per stack, 1-256 (default 64)\n"
    "  --leak-check       afterwards, check every process for leaks: the summary\n"
    "                     lists each one that leaked, with its top leak site\n"
    "                     (with -q: one line each, pid, command, bytes and blocks,\n"
    "                     top site), then a verdict line; exit 23 when one leaked\n"
    "                     and PROGRAM itself exited 0 (a failing PROGRAM keeps\n"
    "                     its status). Only processes that exited are checked, not\n"
    "                     images replaced by exec or killed by a signal. The C\n"
    "                     runtime's own blocks are not leaks.\n"
    "  --suppressions FILE  LeakSanitizer-style 'leak:PATTERN' lines: leaks with a\n"
    "                     frame whose function, module or source file matches are\n"
    "                     not counted; lists the suppressions used (repeatable)\n"
    "  --leak-exit-code N the exit status for leaks, 1-255 (default 23)\n"
    "  --content          hash the content of small blocks when freed, to find\n"
    "                     duplicates (MEMAUDIT_CONTENT=1)\n"
    "  --free-stacks      record the stack of every free, for memory errors\n"
    "                     (MEMAUDIT_FREE_STACKS=1)\n"
    "  --compress         compress the traces with zstd, block by block, 3-13x\n"
    "                     smaller (MEMAUDIT_COMPRESS=1), and the profiles, 5-25x\n"
    "  --sample BYTES     sampling mode, for production: record about one allocation\n"
    "                     per BYTES bytes allocated (every one larger than BYTES);\n"
    "                     reports give estimates and say so (MEMAUDIT_SAMPLE=BYTES)\n"
    "  -h, --help         this text\n";

static const char usage_symbolize[] =
    "usage: memaudit symbolize [-o PROFILE] [--compress] TRACE...\n"
    "\n"
    "Replays each trace, symbolizes every frame of every call stack with the\n"
    "binaries and debug information of this machine, and writes a profile: the\n"
    "totals, the per-site figures and the symbolized stacks. `memaudit report`\n"
    "reads a profile as it reads the trace, and gives the same report, also after\n"
    "the binaries were rebuilt or deleted, or on another machine. The profile of\n"
    "X.trace is X.profile (docs/profile-format.md describes the format). On a\n"
    "terminal, a progress bar shows on stderr while a long trace is read.\n"
    "\n"
    "  -o, --output PROFILE  the profile's file name (one TRACE only)\n"
    "  --compress            write the profile as one zstd frame (5-25x smaller;\n"
    "                        memaudit reads it as it reads a plain one)\n"
    "  -h, --help            this text\n";

static const char usage_report[] =
    "usage: memaudit report [--format FMT] [-o FILE] [--top N] [--frames N]\n"
    "                       [--weight W] [--all-frames] [--work N --unit NAME]\n"
    "                       [--summary] [--suppressions FILE] TRACE|PROFILE|DIR...\n"
    "\n"
    "Replays each trace in global order and prints: totals (allocations, frees,\n"
    "bytes, peak heap, leaks, temporary allocations, allocator overhead, rate), the\n"
    "leak sites, the stacks that held the peak, allocation hotspots and temporary\n"
    "allocation sites, each with its symbolized call stack, and the audit's findings\n"
    "(growing leaks, repeated growth, pooling candidates, small-block overhead ...)\n"
    "with what each change would save. A PROFILE (memaudit symbolize) gives the same\n"
    "report as its trace, without the binaries. A DIR stands for every profile in it\n"
    "and every trace without a profile beside it. A truncated trace (the program\n"
    "crashed) is read up to its last whole block and marked incomplete. The text\n"
    "report draws the live heap over time as a sparkline when the trace has memory\n"
    "samples (UTF-8 blocks, or ASCII when the locale is not UTF-8). On a terminal,\n"
    "a progress bar shows on stderr while a long trace is replayed.\n"
    "\n"
    "  --format FMT       text (default), json, md (the audit as Markdown), html (one\n"
    "                     self-contained page: flame graph, tables, memory chart; one\n"
    "                     input), folded (alias collapsed: 'frame;frame;frame N'\n"
    "                     lines, outermost first, for flamegraph.pl, inferno, speedscope),\n"
    "                     pprof (gzipped profile.proto for go tool pprof, Pyroscope:\n"
    "                     alloc_objects, alloc_space, inuse_objects, inuse_space,\n"
    "                     peak_objects, peak_space; one input) or massif (valgrind\n"
    "                     massif's format for ms_print, massif-visualizer; one input)\n"
    "  --weight W         what folded stacks weigh: allocations, bytes (default), peak,\n"
    "                     leaked or temporary\n"
    "  -o, --output FILE  write the report to FILE instead of standard output\n"
    "  --top N            sites per ranked list (default 10)\n"
    "  --frames N         frames per stack in text (default 12)\n"
    "  --all-frames       keep allocator frames (operator new, ...) in stacks\n"
    "  --work N --unit NAME  the run did N units of work (N > 0, may be fractional):\n"
    "                     also give figures per unit, e.g. --work 12.5 --unit '1000 LOC'\n"
    "  --summary          text: only the table of processes (below)\n"
    "  --suppressions FILE  leave leaks matching these LeakSanitizer-style\n"
    "                     'leak:PATTERN' lines out of the leaked figures; lists the\n"
    "                     suppressions used on stderr\n"
    "  -h, --help         this text\n"
    "\n"
    "With several inputs (a DIR of a whole test suite) the text report ends with a\n"
    "table of the processes, worst first (leaked bytes, then peak heap): pid, how\n"
    "it ended, peak, leaked bytes and blocks, allocations, command line; and their\n"
    "totals.\n";

void die_usage(const char *msg, const char *usage)
{
    fprintf(stderr, "memaudit: %s\n%s", msg, usage);
    exit(EXIT_USAGE);
}

/* ---- report ---- */

static int input_add(struct input_list *l, const char *path)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char **p = realloc(l->paths, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        l->paths = p;
        l->cap = cap;
    }
    l->paths[l->n] = strdup(path);
    return l->paths[l->n++] ? 0 : -ENOMEM;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int profile_name(const char *trace, char *out, size_t cap);

void input_list_free(struct input_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->paths[i]);
    free(l->paths);
    memset(l, 0, sizeof(*l));
}

/* A directory stands for the profiles in it and the traces without a profile
 * beside them, sorted by name. */
int input_expand(struct input_list *l, const char *arg)
{
    struct stat st;
    if (stat(arg, &st) < 0) {
        fprintf(stderr, "memaudit: %s: %s\n", arg, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return input_add(l, arg);
    DIR *d = opendir(arg);
    if (!d) {
        fprintf(stderr, "memaudit: %s: %s\n", arg, strerror(errno));
        return -1;
    }
    size_t first = l->n;
    struct dirent *e;
    char path[PATH_MAX];
    while ((e = readdir(d))) {
        int profile = ends_with(e->d_name, ".profile");
        if (!profile && !ends_with(e->d_name, ".trace") && !strstr(e->d_name, ".trace."))
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", arg, e->d_name) >= (int)sizeof(path))
            continue;
        /* A trace whose profile is beside it is reported from the profile. */
        char prof[PATH_MAX];
        struct stat pst;
        if (!profile && profile_name(path, prof, sizeof(prof)) == 0 && stat(prof, &pst) == 0)
            continue;
        if (input_add(l, path) < 0)
            break;
    }
    closedir(d);
    if (l->n == first) {
        fprintf(stderr, "memaudit: %s: no traces or profiles in this directory\n", arg);
        return -1;
    }
    qsort(l->paths + first, l->n - first, sizeof(char *), cmp_str);
    return 0;
}

void input_close(struct input *in)
{
    sym_free(in->sym);
    an_fini(&in->a);
    trd_close(in->trace);
    prof_free(in->profile);
    memset(in, 0, sizeof(*in));
}

static int input_replayed(const char *path, struct input *in);

/* Open path as a trace or a profile, by its first bytes. On failure prints
 * "memaudit: PATH: reason" and returns -1. */
int input_open(const char *path, struct input *in)
{
    char err[256] = "", head[16];
    memset(in, 0, sizeof(*in));
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "memaudit: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t n = fread(head, 1, sizeof(head), f);
    fclose(f);
    if (prof_sniff(head, n)) {
        int rc = prof_read(path, &in->profile, err, sizeof(err));
        if (rc < 0) {
            fprintf(stderr, "memaudit: %s: %s\n", path, err[0] ? err : strerror(-rc));
            return -1;
        }
        in->an = prof_analysis(in->profile);
        prof_source(in->profile, &in->src);
        return 0;
    }
    int rc = trd_open(path, &in->trace, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "memaudit: %s: %s\n", path, err[0] ? err : strerror(-rc));
        return -1;
    }
    /* The replay is the long part: a progress bar on a terminal, erased
     * before anything else is said. Without one, no hook: the replay then
     * spends no test per event on it. */
    struct progress bar;
    struct an_progress hook = {progress_update, &bar};
    progress_begin(&bar, "replaying", path);
    rc = an_run_progress(in->trace, &in->a, bar.enabled ? &hook : NULL);
    progress_end(&bar);
    if (rc < 0) {
        const char *why = trd_error(in->trace);
        fprintf(stderr, "memaudit: %s: %s\n", path, why && *why ? why : strerror(-rc));
        goto fail;
    }
    return input_replayed(path, in);
fail:
    input_close(in);
    return -1;
}

/* The rest of input_open() once in->trace has been replayed into in->a:
 * the symbolizer, and the runtime's blocks told from the program's. */
static int input_replayed(const char *path, struct input *in)
{
    in->sym = sym_new();
    if (!in->sym) {
        fprintf(stderr, "memaudit: %s: out of memory\n", path);
        input_close(in);
        return -1;
    }
    for (size_t i = 0; i < trd_snapshot_count(in->trace); i++)
        sym_add_snapshot(in->sym, trd_snapshot(in->trace, i));
    an_classify_runtime(&in->a, in->sym);
    in->an = &in->a;
    rc_source_from_trace(&in->src, in->trace, in->sym);
    return 0;
}

/* --weight: what --format folded weighs, an enum ct_weight. */
static int folded_weight = CT_BYTES;
/* --suppressions, and the table of processes (NULL: none). */
static struct sup_list report_sup;
static struct suite *report_suite;
static int report_summary_only;

static int report_one(const char *path, const char *format, FILE *out,
                      const struct render_opts *opts, int first, int last)
{
    struct input in;
    int rc;
    if (input_open(path, &in) < 0)
        return -1;
    if (input_suppress(&in, &report_sup, NULL) < 0 ||
        (report_suite && suite_add(report_suite, path, in.an, &in.src, 0) < 0)) {
        input_close(&in);
        return -1;
    }
    if (report_summary_only) {
        input_close(&in);
        return 0;
    }
    const struct analysis *a = in.an;
    const struct rc_source *src = &in.src;
    if (!src->process.complete)
        fprintf(stderr,
                "memaudit: %s: trace incomplete (the program did not exit normally); "
                "reporting the %llu of %llu bytes that were whole\n",
                path, (unsigned long long)src->process.trace_bytes_read,
                (unsigned long long)src->process.trace_bytes);
    if (strcmp(format, "json") == 0) {
        if (first && !last)
            fputs("[\n", out);
        rc = render_json(out, a, src, opts);
        if (!(first && last))
            fputs(last ? "]\n" : ",\n", out);
    } else if (strcmp(format, "md") == 0) {
        if (!first)
            fputs("\n---\n\n", out);
        rc = render_md(out, a, src, opts);
    } else if (strcmp(format, "html") == 0) {
        rc = render_html(out, a, src, opts);
    } else if (strcmp(format, "folded") == 0 || strcmp(format, "collapsed") == 0) {
        rc = render_folded(out, a, src, opts, folded_weight);
    } else if (strcmp(format, "pprof") == 0) {
        rc = render_pprof(out, a, src, opts, in.trace);
    } else if (strcmp(format, "massif") == 0) {
        rc = render_massif(out, a, src, opts);
    } else {
        if (!first)
            fputs("\n", out);
        fprintf(out, "== %s\n", path);
        rc = render_text(out, a, src, opts);
    }
    if (rc < 0) {
        fprintf(stderr, "memaudit: %s: cannot render the report: %s\n", path, strerror(-rc));
        input_close(&in);
        return -1;
    }
    input_close(&in);
    return 0;
}

/* ---- symbolize ---- */

/* The profile beside a trace: X.trace -> X.profile, anything else -> +.profile.
 * Returns 0, or -1 when the name does not fit. */
static int profile_name(const char *trace, char *out, size_t cap)
{
    size_t len = strlen(trace);
    int n;
    if (len > 6 && strcmp(trace + len - 6, ".trace") == 0)
        n = snprintf(out, cap, "%.*s.profile", (int)(len - 6), trace);
    else
        n = snprintf(out, cap, "%s.profile", trace);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* prof_write_progress's flags for every profile written: PROF_ZSTD with
 * --compress (run, symbolize). */
static unsigned profile_flags;

/* Write the profile of the open input in into profile (via a temporary
 * file, so that a failure leaves no half-written profile). Errors go to
 * stderr as "memaudit: FILE: reason"; returns 0 or -1. */
static int write_profile(struct input *in, const char *profile)
{
    char tmp[PATH_MAX], err[256] = "";
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", profile) >= (int)sizeof(tmp)) {
        fprintf(stderr, "memaudit: %s: file name too long\n", profile);
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "memaudit: %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    /* Symbolizing every frame of every site is the long part here. */
    struct progress bar;
    struct an_progress hook = {progress_update, &bar};
    progress_begin(&bar, "symbolizing", profile);
    int rc = prof_write_progress(f, in->an, &in->src, &hook, profile_flags, err, sizeof(err));
    progress_end(&bar);
    if (fclose(f) != 0 && rc == 0) {
        rc = -errno;
        snprintf(err, sizeof(err), "%s", strerror(errno));
    }
    if (rc == 0 && rename(tmp, profile) != 0) {
        rc = -errno;
        snprintf(err, sizeof(err), "%s", strerror(errno));
    }
    if (rc < 0) {
        unlink(tmp);
        fprintf(stderr, "memaudit: %s: %s\n", profile, err);
        return -1;
    }
    fprintf(stderr, "memaudit: profile: %s\n", profile);
    return 0;
}

/* The profile of the trace at path, into profile; returns 0 or -1. */
static int symbolize_one(const char *path, const char *profile)
{
    struct input in;
    if (input_open(path, &in) < 0)
        return -1;
    if (in.trace == NULL) { /* it read a profile: nothing to symbolize */
        fprintf(stderr, "memaudit: %s: already a profile, not a trace\n", path);
        input_close(&in);
        return -1;
    }
    int rc = write_profile(&in, profile);
    input_close(&in);
    return rc;
}

static int cmd_symbolize(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"compress", no_argument, NULL, 'Z'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *output = NULL;
    int c, failed = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            output = optarg;
            break;
        case 'Z':
            profile_flags |= PROF_ZSTD;
            break;
        case 'h':
            fputs(usage_symbolize, stdout);
            return 0;
        default:
            die_usage("bad option", usage_symbolize);
        }
    }
    if (optind >= argc)
        die_usage("symbolize needs a TRACE", usage_symbolize);
    if (output && argc - optind > 1)
        die_usage("-o names one profile: give one TRACE", usage_symbolize);
    for (int i = optind; i < argc; i++) {
        char name[PATH_MAX];
        if (!output && profile_name(argv[i], name, sizeof(name)) < 0) {
            fprintf(stderr, "memaudit: %s: file name too long\n", argv[i]);
            failed = 1;
            continue;
        }
        if (symbolize_one(argv[i], output ? output : name) < 0)
            failed = 1;
    }
    return failed ? 1 : 0;
}

static int parse_count(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int cmd_report(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'f'},       {"output", required_argument, NULL, 'o'},
        {"top", required_argument, NULL, 't'},          {"frames", required_argument, NULL, 'n'},
        {"all-frames", no_argument, NULL, 'a'},         {"help", no_argument, NULL, 'h'},
        {"weight", required_argument, NULL, 'w'},       {"summary", no_argument, NULL, 'S'},
        {"suppressions", required_argument, NULL, 'U'}, {"work", required_argument, NULL, 'W'},
        {"unit", required_argument, NULL, 'K'},         {NULL, 0, NULL, 0},
    };
    struct render_opts opts = {.top = 10, .max_frames = 12, .all_frames = 0};
    const char *format = "text", *output = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+f:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            format = optarg;
            if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0 &&
                strcmp(format, "md") != 0 && strcmp(format, "html") != 0 &&
                strcmp(format, "folded") != 0 && strcmp(format, "collapsed") != 0 &&
                strcmp(format, "pprof") != 0 && strcmp(format, "massif") != 0)
                die_usage("--format must be text, json, md, html, folded, pprof or massif",
                          usage_report);
            break;
        case 'w':
            folded_weight = ct_weight_parse(optarg);
            if (folded_weight < 0)
                die_usage("--weight must be allocations, bytes, peak, leaked or temporary",
                          usage_report);
            break;
        case 'o':
            output = optarg;
            break;
        case 't':
            if (parse_count(optarg, 1, 100000, &opts.top) < 0)
                die_usage("--top needs a number from 1 to 100000", usage_report);
            break;
        case 'n':
            if (parse_count(optarg, 1, 256, &opts.max_frames) < 0)
                die_usage("--frames needs a number from 1 to 256", usage_report);
            break;
        case 'a':
            opts.all_frames = 1;
            break;
        case 'S':
            report_summary_only = 1;
            break;
        case 'U':
            if (load_suppressions(&report_sup, optarg) < 0)
                return EXIT_USAGE;
            break;
        case 'W': {
            char *end;
            errno = 0;
            opts.work = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(opts.work > 0 && opts.work < 1e300))
                die_usage("--work needs a positive number", usage_report);
            break;
        }
        case 'K':
            opts.unit = optarg;
            break;
        case 'h':
            fputs(usage_report, stdout);
            return 0;
        default:
            die_usage("bad option", usage_report);
        }
    }
    if (optind >= argc)
        die_usage("report needs at least one TRACE or DIR", usage_report);
    if (report_summary_only && strcmp(format, "text") != 0)
        die_usage("--summary is a text table: leave out --format", usage_report);
    if (opts.unit != NULL && opts.work == 0)
        die_usage("--unit goes with --work N", usage_report);
    struct input_list inputs = {0};
    struct suite suite = {0};
    int failed = 0;
    for (int i = optind; i < argc; i++)
        if (input_expand(&inputs, argv[i]) < 0)
            failed = 1;
    if (!failed && inputs.n > 1 &&
        (strcmp(format, "html") == 0 || strcmp(format, "pprof") == 0 ||
         strcmp(format, "massif") == 0))
        die_usage("--format html, pprof and massif describe one run; give one TRACE or PROFILE",
                  usage_report);
    FILE *out = stdout;
    if (!failed && output) {
        out = fopen(output, "w");
        if (!out) {
            fprintf(stderr, "memaudit: %s: %s\n", output, strerror(errno));
            failed = 1;
        }
    }
    if (strcmp(format, "text") == 0 && (inputs.n > 1 || report_summary_only))
        report_suite = &suite;
    for (size_t i = 0; !failed && i < inputs.n; i++)
        if (report_one(inputs.paths[i], format, out, &opts, i == 0, i + 1 == inputs.n) < 0)
            failed = 1;
    if (!failed && report_suite) {
        suite_sort(&suite);
        fputs(report_summary_only ? "" : "\n", out);
        suite_print(out, &suite, 0);
    }
    if (!failed) {
        fflush(out);
        sup_print_used(&report_sup, stderr);
    }
    suite_free(&suite);
    sup_free(&report_sup);
    if (out && out != stdout && fclose(out) != 0 && !failed) {
        fprintf(stderr, "memaudit: %s: %s\n", output, strerror(errno));
        failed = 1;
    }
    for (size_t i = 0; i < inputs.n; i++)
        free(inputs.paths[i]);
    free(inputs.paths);
    return failed ? 1 : 0;
}

/* ---- run ---- */

/* libaudit.so beside this binary (build tree) or in ../lib/memaudit (install). */
static int find_preload(char *out, size_t cap)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    const char *candidates[] = {"/libaudit.so", "/../lib/memaudit/libaudit.so"};
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s%s", self, candidates[i]);
        if (access(path, R_OK) == 0 && realpath(path, out) && strlen(out) < cap)
            return 0;
    }
    return -1;
}

static int make_dir(const char *dir)
{
    if (mkdir(dir, 0755) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
        errno = ENOTDIR;
    }
    return -1;
}

/* The trace files of a directory, by name and inode: taken before the run,
 * so that afterwards only the files the run created are listed (mtimes would
 * also list traces an earlier run wrote within the clock's slack). */
struct dir_snapshot {
    char **names;
    ino_t *inodes;
    size_t n, cap;
};

/* memaudit.*.trace, or a numbered sibling memaudit.*.trace.N (the recorder
 * never overwrites): not the profiles written beside them. */
static int is_trace_name(const char *name)
{
    if (strncmp(name, "memaudit.", 9) != 0)
        return 0;
    const char *t = strstr(name, ".trace"), *next;
    while (t != NULL && (next = strstr(t + 1, ".trace")) != NULL)
        t = next;
    if (t == NULL)
        return 0;
    t += 6;
    if (*t == '\0')
        return 1;
    if (*t++ != '.' || *t == '\0')
        return 0;
    while (*t >= '0' && *t <= '9')
        t++;
    return *t == '\0';
}

static int snapshot_add(struct dir_snapshot *s, const char *name, ino_t ino)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **names = realloc(s->names, cap * sizeof(*names));
        if (!names)
            return -ENOMEM;
        s->names = names;
        ino_t *inodes = realloc(s->inodes, cap * sizeof(*inodes));
        if (!inodes)
            return -ENOMEM;
        s->inodes = inodes;
        s->cap = cap;
    }
    s->names[s->n] = strdup(name);
    if (!s->names[s->n])
        return -ENOMEM;
    s->inodes[s->n++] = ino;
    return 0;
}

/* 0, or -1 with errno when dir cannot be read. */
static int snapshot_take(struct dir_snapshot *s, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)))
        if (is_trace_name(e->d_name))
            rc = snapshot_add(s, e->d_name, e->d_ino);
    closedir(d);
    if (rc < 0)
        errno = -rc;
    return rc;
}

static int snapshot_has(const struct dir_snapshot *s, const char *name, ino_t ino)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->inodes[i] == ino && strcmp(s->names[i], name) == 0)
            return 1;
    return 0;
}

static void snapshot_free(struct dir_snapshot *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->names[i]);
    free(s->names);
    free(s->inodes);
}

/* The command's own process (the root of the run) is followed while it runs:
 * its trace is replayed as the recorder writes it (trd_open_follow), on a
 * CPU the program leaves idle, so that after the program ends only the
 * tail of the replay remains. An image that execs another leaves its
 * trace whole when the next image's trace appears: the follower then
 * finishes it and follows the next. MEMAUDIT_FOLLOW=0 never follows, =1
 * always; unset, it follows when this process may use two CPUs or more.
 * Whatever goes wrong while following, the trace is replayed after the end
 * as every other one (followed_take).
 *
 * Meanwhile the symbol files of the modules the program has loaded are
 * opened, at the idle priority (sym_warm.h), so that the symbolizing after
 * the end finds them open: the follower hands it a copy of every module map
 * it indexes (the reader's own are reallocated as the trace grows, by the
 * follower's thread, and the warm-up's thread must not read them), and lets
 * it go once a pace window has shown a CPU the program leaves idle, or once
 * the image has ended; after giving up, it stops it. It is stopped once the
 * follower has finished, before anything is symbolized (sym_warm_stop()
 * never waits for it to get a CPU). */
#define FOLLOW_IMAGES 16

struct followed {
    char name[NAME_MAX + 1]; /* the trace, in the run's directory */
    char path[PATH_MAX];
    struct input in;         /* the trace, replayed into in.a when rc == 0 */
    int rc;
    size_t warm_sent;        /* module maps handed to the warm-up */
    int finished;            /* trd_follow_end() was called ... */
    uint64_t done_running;   /* ... with this many event records replayed */
    int taken;
};

struct follower {
    pthread_t thread;
    int started;
    int say;                 /* MEMAUDIT_FOLLOW=1: say how following went, never give up */
    struct followed img[FOLLOW_IMAGES]; /* the root process's traces, image by image */
    _Atomic int created;     /* img[0 .. created) exist (written before, release) */
    _Atomic int ended;       /* the process is gone: every trace is whole */
    int cur;                 /* the image being followed (follower thread) */
    uint64_t ran_ns, waited_ns; /* this thread's, at the start of follow_pace's window */
    struct sym_warm *warm;      /* made and fed by the follower's thread; NULL: none */
    int warm_go;                /* sym_warm_go() was called */
    uint64_t gate_ns, gate_ran_ns, gate_waited_ns; /* follow_warm_gate's window: start */
};

static struct follower follower;

static int follow_wanted(void)
{
    const char *v = getenv("MEMAUDIT_FOLLOW");
    follower.say = v != NULL && strcmp(v, "1") == 0;
    if (v != NULL && *v != '\0')
        return strcmp(v, "0") != 0;
    cpu_set_t set;
    return sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) >= 2;
}

static void follow_nap(void)
{
    struct timespec ms = {0, 10 * 1000000};
    nanosleep(&ms, NULL);
}

/* 1 when the writer of the image being followed is gone: the process
 * ended, or exec'd the next image, whose trace is there. */
static int follow_whole(const struct follower *f)
{
    return atomic_load_explicit(&f->ended, memory_order_acquire) ||
           atomic_load_explicit(&f->created, memory_order_acquire) > f->cur + 1;
}

/* Hand the module maps of img's trace t that came since the last call to
 * the warm-up: while following, those indexed so far (in file order); once
 * the trace is whole, its final ones from there on (a map handed twice
 * costs a copy, the files are open already). */
static void follow_warm(struct follower *f, struct followed *img, const struct trd_trace *t)
{
    int whole = img->finished;
    size_t n = whole ? trd_snapshot_count(t) : trd_follow_snapshot_count(t);
    for (; img->warm_sent < n; img->warm_sent++)
        sym_warm_add(f->warm, whole ? trd_snapshot(t, img->warm_sent)
                                    : trd_follow_snapshot(t, img->warm_sent));
}

static void follow_warm_gate(struct follower *f);

/* struct an_follow's wait: until the recorder has written more, or its
 * image is gone (then the rest, once). */
static int follow_wait(void *arg, struct trd_trace *t, uint64_t done)
{
    struct follower *f = arg;
    struct followed *img = &f->img[f->cur];
    for (;;) {
        if (follow_whole(f)) {
            sym_warm_go(f->warm); /* the image's CPU is free */
            f->warm_go = 1;
            if (img->finished)
                return -EPROTO; /* the reader still had no next event */
            /* Nothing replayed while it ran (no watermark came): the
             * replay after the end, on two threads, is quicker. */
            if (done == 0 && !f->say)
                return -ENODATA;
            img->finished = 1;
            img->done_running = done;
            int rc = trd_follow_end(t);
            if (rc == 0)
                follow_warm(f, img, t);
            return rc;
        }
        int rc = trd_follow_update(t);
        if (rc > 0)
            follow_warm(f, img, t);
        if (rc != 0)
            return rc < 0 ? rc : 0;
        follow_warm_gate(f);
        follow_nap();
    }
}

/* This thread's time on a CPU and waiting for one (ns), from the
 * scheduler's statistics: 0, or -1 without them. */
static int thread_sched_ns(uint64_t *ran, uint64_t *waited)
{
    FILE *f = fopen("/proc/thread-self/schedstat", "r");
    if (f == NULL)
        return -1;
    unsigned long long r, w;
    int n = fscanf(f, "%llu %llu", &r, &w);
    fclose(f);
    if (n != 2)
        return -1;
    *ran = r;
    *waited = w;
    return 0;
}

/* Let the warm-up go (sym_warm_go()) once this thread, over at least
 * 100 ms, has waited for a CPU no longer than it ran: the program leaves a
 * CPU idle (an idle program too, where this thread mostly naps; not one
 * whose threads keep every CPU busy, where the warm-up would only be in
 * their way). Called as this thread waits and paces. */
static void follow_warm_gate(struct follower *f)
{
    struct timespec now;
    uint64_t ran, waited;
    if (f->warm_go || clock_gettime(CLOCK_MONOTONIC, &now) != 0 ||
        thread_sched_ns(&ran, &waited) < 0)
        return;
    uint64_t ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    if (f->gate_ns != 0 && ns - f->gate_ns < 100 * 1000000ull)
        return;
    if (f->gate_ns != 0 && waited - f->gate_waited_ns <= ran - f->gate_ran_ns) {
        sym_warm_go(f->warm);
        f->warm_go = 1;
    }
    f->gate_ns = ns;
    f->gate_ran_ns = ran;
    f->gate_waited_ns = waited;
}

/* struct an_follow's pace: following pays only with a CPU the program
 * leaves idle. When the program's own threads keep every CPU busy, this
 * thread (at a lower priority) waits for a CPU more than it runs, and the
 * replay that is left at the end would run on one thread instead of the two
 * of a replay after the end: then give up (-EBUSY), looking at windows of
 * at least 100 ms of this thread's time. */
static int follow_pace(void *arg)
{
    struct follower *f = arg;
    uint64_t ran, waited;
    follow_warm_gate(f);
    if (f->say || follow_whole(f) || thread_sched_ns(&ran, &waited) < 0)
        return 0;
    uint64_t d_ran = ran - f->ran_ns, d_waited = waited - f->waited_ns;
    if (d_ran + d_waited < 100 * 1000000ull)
        return 0;
    f->ran_ns = ran;
    f->waited_ns = waited;
    return d_waited > d_ran ? -EBUSY : 0;
}

static void *follow_main(void *arg)
{
    struct follower *f = arg;
    /* The program comes first: this thread takes what CPU it leaves. */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
    thread_sched_ns(&f->ran_ns, &f->waited_ns);
    f->warm = sym_warm_start();
    for (f->cur = 0; f->cur < FOLLOW_IMAGES; f->cur++) {
        /* The next image's trace, unless the process ends first. */
        while (atomic_load_explicit(&f->created, memory_order_acquire) <= f->cur) {
            if (atomic_load_explicit(&f->ended, memory_order_acquire) &&
                atomic_load_explicit(&f->created, memory_order_acquire) <= f->cur)
                return NULL;
            follow_nap();
        }
        struct followed *img = &f->img[f->cur];
        char err[256];
        int rc;
        while ((rc = trd_open_follow(img->path, &img->in.trace, err, sizeof(err))) == -EAGAIN &&
               !follow_whole(f))
            follow_nap();
        /* Sampling mode writes no watermarks: nothing would be replayed
         * before the end, and then on one thread instead of two. */
        if (rc == 0 && trd_header(img->in.trace)->sample_bytes != 0 && !f->say)
            rc = -ENOTSUP;
        if (rc == 0) {
            follow_warm(f, img, img->in.trace);
            struct an_follow how = {follow_wait, follow_pace, f};
            rc = an_run_follow(img->in.trace, &img->in.a, &how);
        }
        img->rc = rc < 0 ? rc : 0;
        if (rc == -EBUSY) {
            /* The program keeps the CPUs busy: the rest after the end, and
             * the warm-up would only be in its way. */
            sym_warm_stop(f->warm);
            f->warm = NULL;
            break;
        }
    }
    /* Images not followed are replayed after the end. */
    for (int i = f->cur + 1; i < FOLLOW_IMAGES; i++)
        f->img[i].rc = -ECANCELED;
    return NULL;
}

/* A trace name (in dir) of the root process was just created: follow it,
 * after those of the images before. */
static void follow_start(const char *dir, const char *name)
{
    int n = atomic_load_explicit(&follower.created, memory_order_relaxed);
    if (n >= FOLLOW_IMAGES || (n == 0 && !follow_wanted()))
        return;
    struct followed *img = &follower.img[n];
    if (snprintf(img->path, sizeof(img->path), "%s/%s", dir, name) >= (int)sizeof(img->path))
        return;
    snprintf(img->name, sizeof(img->name), "%s", name);
    atomic_store_explicit(&follower.created, n + 1, memory_order_release);
    if (n == 0)
        follower.started = pthread_create(&follower.thread, NULL, follow_main, &follower) == 0;
}

/* The root process has ended: the follower reads the rest and finishes. */
static void follow_stop(void)
{
    if (!follower.started)
        return;
    atomic_store_explicit(&follower.ended, 1, memory_order_release);
    pthread_join(follower.thread, NULL);
    unsigned opened = sym_warm_stop(follower.warm);
    follower.warm = NULL;
    if (follower.say)
        fprintf(stderr, "memaudit: %u symbol files opened while following\n", opened);
}

/* The followed replay of trace, into in (then as input_open() leaves it);
 * -1 when trace was not followed or following failed. */
static int followed_take(const char *trace, struct input *in)
{
    const char *slash = strrchr(trace, '/');
    const char *name = slash ? slash + 1 : trace;
    int n = follower.started ? atomic_load(&follower.created) : 0;
    struct followed *img = NULL;
    for (int i = 0; i < n && img == NULL; i++)
        if (!follower.img[i].taken && strcmp(follower.img[i].name, name) == 0)
            img = &follower.img[i];
    if (img == NULL)
        return -1;
    img->taken = 1;
    if (img->rc < 0) {
        if (follower.say)
            fprintf(stderr, "memaudit: followed %s: %s; replaying it after the end\n", trace,
                    img->in.trace != NULL && *trd_error(img->in.trace) ? trd_error(img->in.trace)
                                                                         : strerror(-img->rc));
        input_close(&img->in);
        return -1;
    }
    if (follower.say)
        fprintf(stderr,
                "memaudit: followed %s: %" PRIu64 " of %" PRIu64
                " events replayed while the program ran\n",
                trace, img->done_running, trd_event_records(img->in.trace));
    *in = img->in;
    memset(&img->in, 0, sizeof(img->in));
    return input_replayed(trace, in);
}

/* Take one trace of the run: replay it once, write its profile beside it,
 * apply sup to it (the leak check's suppressions; none without
 * --leak-check) and add its process to runs, with its top finding (a leak
 * first when leak_first). The profile's path, or the trace's when none was
 * written, goes into report_from (cap bytes). 0, or 1 when the trace could
 * not be read or added (said on stderr). */
static int take_trace(const char *trace, struct sup_list *sup, int leak_first, struct suite *runs,
                      char *report_from, size_t cap)
{
    /* Symbolize now, while the binaries are those that ran; a failure is
     * reported and leaves the trace, never changes the exit status. The
     * same replay serves the summary and the leak check. */
    struct input in;
    char prof[PATH_MAX];
    if (followed_take(trace, &in) < 0 && input_open(trace, &in) < 0)
        return 1;
    int have = profile_name(trace, prof, sizeof(prof)) == 0 && write_profile(&in, prof) == 0;
    snprintf(report_from, cap, "%s", have ? prof : trace);
    int unread = input_suppress(&in, sup, NULL) < 0 ||
                 suite_add(runs, have ? prof : trace, in.an, &in.src, 0) < 0 ||
                 suite_set_finding(runs, in.an, &in.src, leak_first) < 0;
    input_close(&in);
    return unread;
}

/* Traces taken while the command still ran (take_early): a process that
 * has ended leaves a whole trace, which need not wait for the others. What
 * taking it said on stderr is kept and said when the traces are listed, in
 * their order. */
struct early {
    char *name; /* in the run's directory */
    char *said; /* what went to stderr while it was taken */
    size_t said_len;
    int unread; /* take_trace's result */
    char report_from[PATH_MAX];
};

struct early_list {
    struct early *v;
    size_t n, cap;
    int capture; /* a temporary file, stderr while a trace is taken; -1: none yet */
};

static struct early *early_find(const struct early_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].name, name) == 0)
            return &l->v[i];
    return NULL;
}

static void early_free(struct early_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].said);
    }
    free(l->v);
    if (l->capture >= 0)
        close(l->capture);
}

/* Print the traces in dir that were not there before the run (before) and
 * take each in turn (take_trace), those taken early already (early):
 * their lines come from what taking them said. Returns the number of traces
 * that could not be read or added. */
static size_t list_traces(const char *dir, const struct dir_snapshot *before,
                          const struct early_list *early, struct sup_list *sup, int leak_first,
                          struct suite *runs)
{
    size_t unread = 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct input_list found = {0};
    struct dirent *e;
    char path[PATH_MAX];
    while ((e = readdir(d))) {
        if (!is_trace_name(e->d_name) || snapshot_has(before, e->d_name, e->d_ino))
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
            continue;
        input_add(&found, path);
    }
    closedir(d);
    qsort(found.paths, found.n, sizeof(char *), cmp_str);
    /* What to report one process from: its profile (the same report, without
     * a replay) if it was written, else its trace. */
    char one[PATH_MAX] = "";

    for (size_t i = 0; i < found.n; i++) {
        const char *trace = found.paths[i];
        const char *slash = strrchr(trace, '/');
        const char *base = slash ? slash + 1 : trace;
        const struct early *done = early_find(early, base);
        fprintf(stderr, "memaudit: trace: %s\n", trace);
        if (done != NULL) {
            fwrite(done->said, 1, done->said_len, stderr);
            unread += (size_t)done->unread;
            snprintf(one, sizeof(one), "%s", done->report_from);
        } else {
            unread += (size_t)take_trace(trace, sup, leak_first, runs, one, sizeof(one));
        }
        free(found.paths[i]);
    }
    if (found.n == 0)
        fprintf(stderr, "memaudit: no trace was written to %s\n", dir);
    else
        fprintf(stderr, "memaudit: report with: memaudit report %s\n",
                found.n == 1 && one[0] != '\0' ? one : dir);
    free(found.paths);
    return unread;
}

/* take_trace with stderr kept: one more entry of early, for the trace name
 * at path. 0, or -1 when it could not be kept (nothing taken). */
static int take_kept(struct early_list *early, const char *name, const char *path,
                     struct sup_list *sup, int leak_first, struct suite *runs)
{
    if (early->n == early->cap) {
        size_t cap = early->cap ? 2 * early->cap : 16;
        struct early *v = realloc(early->v, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        early->v = v;
        early->cap = cap;
    }
    if (early->capture < 0) {
        FILE *f = tmpfile();
        early->capture = f ? dup(fileno(f)) : -1;
        if (f)
            fclose(f);
        if (early->capture < 0)
            return -1;
    }
    struct early *e = &early->v[early->n];
    memset(e, 0, sizeof(*e));
    e->name = strdup(name);
    int saved = e->name != NULL ? dup(2) : -1;
    fflush(stderr);
    if (saved < 0 || ftruncate(early->capture, 0) < 0 || lseek(early->capture, 0, SEEK_SET) < 0 ||
        dup2(early->capture, 2) < 0) {
        if (saved >= 0)
            close(saved);
        free(e->name);
        return -1;
    }
    e->unread = take_trace(path, sup, leak_first, runs, e->report_from, sizeof(e->report_from));
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    off_t said = lseek(early->capture, 0, SEEK_CUR);
    e->said = malloc(said > 0 ? (size_t)said : 1);
    e->said_len =
        e->said != NULL && said > 0 && pread(early->capture, e->said, (size_t)said, 0) == said
            ? (size_t)said
            : 0;
    early->n++;
    return 0;
}

/* 1 if the trace name is one of the process whose names hold own
 * (".PID.trace"): X.PID.trace, or X.PID.trace.N for a later image. */
static int is_own_trace(const char *name, const char *own)
{
    const char *p = strstr(name, own);
    return p != NULL && (p[strlen(own)] == '\0' || p[strlen(own)] == '.');
}

/* The inotify events waiting on ino: every trace of dir (not in before)
 * whose last writer closed it and that ends with the recorder's END record
 * is taken now, its stderr kept in early. A trace without END (its process
 * was killed, or it is not the last writer's close) waits for the end of
 * the run, as do all traces when anything here fails, and those of the
 * command's own process (pid root: they end with the run, and a long one
 * shows its progress bar then). */
static void take_early(int ino, pid_t root, const char *dir, const struct dir_snapshot *before,
                       struct early_list *early, struct sup_list *sup, int leak_first,
                       struct suite *runs)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    char own[32];
    snprintf(own, sizeof(own), ".%ld.trace", (long)root);
    ssize_t len;
    while ((len = read(ino, buf, sizeof(buf))) > 0) {
        for (char *p = buf; p < buf + len;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            p += sizeof(*ev) + ev->len;
            char path[PATH_MAX];
            struct stat st;
            if ((ev->mask & IN_CREATE) != 0) {
                if (ev->len != 0 && is_trace_name(ev->name) && is_own_trace(ev->name, own))
                    follow_start(dir, ev->name);
                continue;
            }
            if (ev->len == 0 || !is_trace_name(ev->name) || strstr(ev->name, own) != NULL ||
                early_find(early, ev->name) ||
                snprintf(path, sizeof(path), "%s/%s", dir, ev->name) >= (int)sizeof(path) ||
                stat(path, &st) != 0 || snapshot_has(before, ev->name, st.st_ino))
                continue;
            struct trd_trace *t;
            char err[256];
            if (trd_open(path, &t, err, sizeof(err)) < 0)
                continue;
            int whole = trd_complete(t);
            trd_close(t);
            if (!whole)
                continue;
            if (take_kept(early, ev->name, path, sup, leak_first, runs) < 0)
                return;
        }
    }
}

/* Wait for pid, taking the traces of processes that end meanwhile (see
 * take_early). Without inotify or pidfds, just wait. */
static int wait_run(pid_t pid, int ino, const char *dir, const struct dir_snapshot *before,
                    struct early_list *early, struct sup_list *sup, int leak_first,
                    struct suite *runs, int *status)
{
    int pfd = ino >= 0 ? pidfd_open(pid, 0) : -1;
    while (pfd >= 0) {
        struct pollfd p[2] = {{pfd, POLLIN, 0}, {ino, POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        /* The events first, even when it ended: its trace's IN_CREATE was
         * queued before its end, and a short program's may come in the
         * same wake-up (unread, its trace was not followed at all). */
        if ((p[1].revents & POLLIN) != 0)
            take_early(ino, pid, dir, before, early, sup, leak_first, runs);
        if (p[0].revents != 0)
            break; /* it ended: what is left is taken after */
        if ((p[1].revents & ~POLLIN) != 0)
            break; /* (no more events to come: wait, and take the rest after) */
    }
    if (pfd >= 0)
        close(pfd);
    while (waitpid(pid, status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "memaudit: waitpid: %s\n", strerror(errno));
            return -1;
        }
    }
    return 0;
}

static int cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"depth", required_argument, NULL, 'd'},
        {"leak-check", no_argument, NULL, 'L'},
        {"suppressions", required_argument, NULL, 'U'},
        {"leak-exit-code", required_argument, NULL, 'E'},
        {"content", no_argument, NULL, 'C'},
        {"free-stacks", no_argument, NULL, 'F'},
        {"compress", no_argument, NULL, 'Z'},
        {"quiet", no_argument, NULL, 'q'},
        {"sample", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int content = 0, free_stacks = 0, compress = 0, quiet = 0;
    const char *dir = ".";
    const char *depth = NULL, *sample = NULL;
    unsigned depth_v, leak_exit = 23;
    int c, leak_check_on = 0, have_sup = 0;
    struct sup_list sup = {0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "+o:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            dir = optarg;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'd':
            if (parse_count(optarg, 1, 256, &depth_v) < 0)
                die_usage("--depth needs a number from 1 to 256", usage_run);
            depth = optarg;
            break;
        case 'L':
            leak_check_on = 1;
            break;
        case 'U':
            if (load_suppressions(&sup, optarg) < 0)
                return EXIT_USAGE;
            have_sup = 1;
            break;
        case 'E':
            if (parse_count(optarg, 1, 255, &leak_exit) < 0)
                die_usage("--leak-exit-code needs a number from 1 to 255", usage_run);
            break;
        case 'C':
            content = 1;
            break;
        case 'F':
            free_stacks = 1;
            break;
        case 'Z':
            compress = 1;
            profile_flags |= PROF_ZSTD;
            break;
        case 'S': {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (optarg[0] < '0' || optarg[0] > '9' || *end != '\0' || errno != 0 || v == 0 ||
                v > (1ull << 40))
                die_usage("--sample needs a number of bytes from 1 to 2^40", usage_run);
            sample = optarg;
            break;
        }
        case 'h':
            fputs(usage_run, stdout);
            return 0;
        default:
            die_usage("bad option", usage_run);
        }
    }
    if (optind >= argc)
        die_usage("run needs a PROGRAM", usage_run);
    if (have_sup && !leak_check_on)
        die_usage("--suppressions applies to --leak-check", usage_run);
    char preload[PATH_MAX];
    if (find_preload(preload, sizeof(preload)) < 0) {
        fprintf(stderr, "memaudit: cannot find libaudit.so next to this program or in "
                        "../lib/memaudit\n");
        return 1;
    }
    if (make_dir(dir) < 0) {
        fprintf(stderr, "memaudit: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    char abs_dir[PATH_MAX];
    if (!realpath(dir, abs_dir)) {
        fprintf(stderr, "memaudit: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    char pattern[PATH_MAX + 64], ld[2 * PATH_MAX + 2];
    snprintf(pattern, sizeof(pattern), "%s/memaudit.%%e.%%p.trace", abs_dir);
    const char *old = getenv("LD_PRELOAD");
    if (old && *old)
        snprintf(ld, sizeof(ld), "%s:%s", preload, old);
    else
        snprintf(ld, sizeof(ld), "%s", preload);
    struct dir_snapshot before = {0};
    if (snapshot_take(&before, abs_dir) < 0) {
        fprintf(stderr, "memaudit: %s: %s\n", abs_dir, strerror(errno));
        snapshot_free(&before);
        return 1;
    }
    /* The traces of processes that end while the command runs are taken at
     * once (wait_run): a test suite's are ready long before it ends. */
    int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ino >= 0 && inotify_add_watch(ino, abs_dir, IN_CLOSE_WRITE | IN_CREATE) < 0) {
        close(ino);
        ino = -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "memaudit: cannot fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        setenv("LD_PRELOAD", ld, 1);
        setenv("MEMAUDIT_OUTPUT", pattern, 1);
        setenv("MEMAUDIT_QUIET", "1", 1);
        if (depth)
            setenv("MEMAUDIT_DEPTH", depth, 1);
        if (content)
            setenv("MEMAUDIT_CONTENT", "1", 1);
        if (free_stacks)
            setenv("MEMAUDIT_FREE_STACKS", "1", 1);
        if (compress)
            setenv("MEMAUDIT_COMPRESS", "1", 1);
        if (sample)
            setenv("MEMAUDIT_SAMPLE", sample, 1);
        execvp(argv[optind], argv + optind);
        fprintf(stderr, "memaudit: %s: %s\n", argv[optind], strerror(errno));
        _exit(127);
    }
    /* The terminal's ^C goes to the whole group: let the program decide. */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    int status;
    struct suite runs = {0};
    struct early_list early = {.capture = -1};
    int waited = wait_run(pid, ino, abs_dir, &before, &early, &sup, leak_check_on, &runs, &status);
    follow_stop();
    if (ino >= 0)
        close(ino);
    if (waited < 0) {
        early_free(&early);
        suite_free(&runs);
        return 1;
    }
    size_t unread = list_traces(abs_dir, &before, &early, &sup, leak_check_on, &runs);
    early_free(&early);
    snapshot_free(&before);
    suite_sort(&runs);
    /* The summary lists the leaking processes itself: the leak check then
     * only gives its verdict (docs/usage.md, "The summary"). */
    int listed = 0;
    if (!quiet && runs.n != 0) {
        run_summary(stderr, &runs, abs_dir, leak_check_on);
        listed = 1;
    }
    int rc = 1;
    if (WIFEXITED(status))
        rc = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        rc = 128 + WTERMSIG(status);
    /* Leaks fail a run that otherwise passed; a failing program keeps its
     * own status, the more specific news (docs/usage.md, "Leak checking"). */
    if (leak_check_on) {
        int leaking = leak_check(&runs, unread, &sup, listed);
        if (rc == 0 && leaking != 0)
            rc = leaking < 0 ? 1 : (int)leak_exit;
    }
    suite_free(&runs);
    sup_free(&sup);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        die_usage("no command given", usage_main);
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        fputs(usage_main, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("memaudit %s (trace format %u)\n", MEMAUDIT_VERSION, TR_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0) {
        const char *topic = argc > 2 ? argv[2] : NULL;
        const char *text = topic == NULL                     ? usage_main
                           : strcmp(topic, "run") == 0       ? usage_run
                           : strcmp(topic, "report") == 0    ? usage_report
                           : strcmp(topic, "symbolize") == 0 ? usage_symbolize
                           : strcmp(topic, "diff") == 0      ? usage_diff
                           : strcmp(topic, "check") == 0     ? usage_check
                                                             : NULL;
        if (text == NULL) {
            fprintf(stderr, "memaudit: help: unknown command '%s'\n%s", topic, usage_main);
            return EXIT_USAGE;
        }
        fputs(text, stdout);
        return 0;
    }
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "report") == 0)
        return cmd_report(argc - 1, argv + 1);
    if (strcmp(cmd, "symbolize") == 0)
        return cmd_symbolize(argc - 1, argv + 1);
    if (strcmp(cmd, "diff") == 0)
        return cmd_diff(argc - 1, argv + 1);
    if (strcmp(cmd, "check") == 0)
        return cmd_check(argc - 1, argv + 1);
    fprintf(stderr, "memaudit: unknown command '%s'\n%s", cmd, usage_main);
    return EXIT_USAGE;
}
