/* cli_compare.c — `memaudit diff` and `memaudit check`. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli.h"
#include "render_diff.h"

const char usage_diff[] =
    "usage: memaudit diff [--format text|md|json|html] [--by FIGURE] [--top N] [-o FILE]\n"
    "                     BEFORE AFTER\n"
    "\n"
    "Compares two runs (traces or profiles): the totals side by side (peak heap,\n"
    "leaked bytes and blocks, allocations, bytes allocated, temporary allocations,\n"
    "allocation rate), then the sites whose figure changed most, the sites that are\n"
    "new in AFTER and those that vanished, each with its stack. Sites are matched by\n"
    "their symbolized stacks (function and module names, not lines or addresses), so\n"
    "a rebuilt binary still matches.\n"
    "\n"
    "  --format FMT       text (default), md (a before/after section for the audit),\n"
    "                     json, or html (one self-contained page: both runs' totals,\n"
    "                     a differential flame graph, red where a call path grew and\n"
    "                     blue where it shrank, and the three lists as tables linked\n"
    "                     to it; at least 200 sites per list)\n"
    "  --by FIGURE        rank changed sites by bytes (default), allocations, peak,\n"
    "                     leaked, leaked_blocks or temporary\n"
    "  --top N            sites per list (default 10)\n"
    "  -o, --output FILE  write to FILE instead of standard output\n"
    "  -h, --help         this text\n";

const char usage_check[] =
    "usage: memaudit check [BUDGETS] [--budgets FILE] [--baseline FILE|DIR] [--total]\n"
    "                      [--suppressions FILE] [--phase NAME] INPUT...\n"
    "\n"
    "Checks each run (trace, profile, or DIR of them) against budgets and exits\n"
    "0 when all hold, 3 when one is exceeded (one line per exceeded budget: the\n"
    "figure, the limit, the value and the site most responsible), 2 on a usage\n"
    "error and 1 when an input cannot be read. With several runs (a DIR of a whole\n"
    "test suite) it then prints a table of the processes, those over budget first.\n"
    "\n"
    "  --max-peak SIZE           peak heap, e.g. 64MiB (units: B, KiB, MiB, GiB)\n"
    "  --max-leaked SIZE         leaked bytes (the C runtime's own blocks excluded)\n"
    "  --max-leaked-blocks N     leaked blocks\n"
    "  --max-allocations N       allocations\n"
    "  --max-bytes SIZE          bytes allocated\n"
    "  --max-temporary N         temporary allocations\n"
    "  --baseline FILE           a run to compare with (trace or profile)\n"
    "  --max-growth PCT          every figure at most PCT% above the baseline's\n"
    "  --max-growth-FIGURE PCT   one figure (peak, leaked, leaked-blocks,\n"
    "                            allocations, bytes, temporary)\n"
    "  --budgets FILE            budgets from a file, one 'max-peak = 64MiB' per line\n"
    "  --total                   also apply the budgets to the total of all runs (sums;\n"
    "                            the peak is the largest of any one run); growth then\n"
    "                            compares with the baseline's total, and a --baseline\n"
    "                            DIR of several runs is allowed\n"
    "  --suppressions FILE       leave leaks matching these LeakSanitizer-style\n"
    "                            'leak:PATTERN' lines out (also of the baseline)\n"
    "  --phase NAME              apply the budgets to one phase (memaudit.h marks):\n"
    "                            its peak, the blocks it allocated still live at the\n"
    "                            end, its allocations, bytes and temporaries; growth\n"
    "                            against the baseline's phase of that name\n"
    "  -h, --help                this text\n";

static int parse_figure(const char *s, enum cmp_figure *out)
{
    for (int f = 0; f < CMP_FIGURES_; f++) {
        if (strcmp(s, cmp_figure_name((enum cmp_figure)f)) == 0) {
            *out = (enum cmp_figure)f;
            return 0;
        }
    }
    return -EINVAL;
}

int cmd_diff(int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'}, {"by", required_argument, NULL, 'b'},
        {"top", required_argument, NULL, 't'},    {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *format = "text", *output = NULL;
    struct diff_input in = {.by = CMP_BYTES, .top = 10};
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "+o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            format = optarg;
            if (strcmp(format, "text") != 0 && strcmp(format, "md") != 0 &&
                strcmp(format, "json") != 0 && strcmp(format, "html") != 0)
                die_usage("--format must be text, md, json or html", usage_diff);
            break;
        case 'b':
            if (parse_figure(optarg, &in.by) < 0)
                die_usage("--by must be bytes, allocations, peak, leaked, leaked_blocks or "
                              "temporary",
                              usage_diff);
            break;
        case 't': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end != '\0' || v < 1 || v > 100000)
                die_usage("--top needs a number from 1 to 100000", usage_diff);
            in.top = (size_t)v;
            break;
        }
        case 'o':
            output = optarg;
            break;
        case 'h':
            fputs(usage_diff, stdout);
            return 0;
        default:
            die_usage("bad option", usage_diff);
        }
    }
    if (argc - optind != 2)
        die_usage("diff needs BEFORE and AFTER", usage_diff);

    struct input before, after;
    if (input_open(argv[optind], &before) < 0)
        return 1;
    if (input_open(argv[optind + 1], &after) < 0) {
        input_close(&before);
        return 1;
    }
    in.before = (struct cmp_run){argv[optind], before.an, &before.src};
    in.after = (struct cmp_run){argv[optind + 1], after.an, &after.src};
    FILE *out = output ? fopen(output, "w") : stdout;
    int rc = 1;
    if (out == NULL) {
        fprintf(stderr, "memaudit: %s: %s\n", output, strerror(errno));
    } else {
        int r = render_diff(out, &in, format);
        if (r < 0)
            fprintf(stderr, "memaudit: diff: %s\n", strerror(-r));
        if (output && fclose(out) != 0 && r == 0) {
            fprintf(stderr, "memaudit: %s: %s\n", output, strerror(errno));
            r = -EIO;
        }
        rc = r < 0 ? 1 : 0;
    }
    input_close(&before);
    input_close(&after);
    return rc;
}

/* The baseline: one run (base->n == 1, opened in *one) or the total of a
 * DIR of several. Returns 0, or 1 when an input cannot be read. */
static int open_baseline(const char *path, struct sup_list *sup, struct suite *base,
                         struct input *one)
{
    struct input_list l = {0};
    int rc = input_expand(&l, path) < 0 ? 1 : 0;
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        if (input_open(l.paths[i], one) < 0) {
            rc = 1;
            break;
        }
        if (input_suppress(one, sup, NULL) < 0 ||
            suite_add(base, l.paths[i], one->an, &one->src, 0) < 0)
            rc = 1;
        if (rc != 0 || l.n > 1)
            input_close(one);
    }
    input_list_free(&l);
    return rc;
}

/* "pid N (command)" of the run with the largest value of each figure. */
static void top_processes(const struct suite *s, char names[CMP_FIGURES_][160],
                          const char *top[CMP_FIGURES_])
{
    for (int f = 0; f < CMP_FIGURES_; f++) {
        uint64_t best = 0;
        top[f] = NULL;
        for (size_t i = 0; i < s->n; i++) {
            struct analysis one = {.totals = s->rows[i].totals};
            uint64_t v = cmp_total(&one, (enum cmp_figure)f);
            if (v > best) {
                const struct suite_row *r = &s->rows[i];
                best = v;
                snprintf(names[f], sizeof(names[f]), "pid %u (%.120s)", (unsigned)r->pid,
                         r->cmdline[0] ? r->cmdline : r->label);
                top[f] = names[f];
            }
        }
    }
}

static int check_inputs(const struct budgets *b, const char *baseline_path, int total,
                        const char *phase, struct sup_list *sup, char **args, int nargs)
{
    struct input base = {0};
    struct suite base_suite = {0}, suite = {0};
    struct cmp_run base_run;
    struct budgets absolute = {.n = 0};
    const struct budgets *per_run = b;
    int status = 0;

    if (baseline_path) {
        if (open_baseline(baseline_path, sup, &base_suite, &base) != 0) {
            suite_free(&base_suite);
            return 1;
        }
        base_run = (struct cmp_run){baseline_path, base.an, &base.src};
        /* "Suppressions used" counts the runs checked, not the baseline. */
        for (size_t i = 0; i < sup->n; i++)
            sup->rules[i].blocks = sup->rules[i].bytes = 0;
        if (base_suite.n > 1) {
            if (!total)
                die_usage("a --baseline of several runs needs --total", usage_check);
            /* Growth budgets compare totals only: runs are not matched one to one. */
            for (size_t i = 0; i < b->n; i++)
                if (!b->b[i].growth)
                    absolute.b[absolute.n++] = b->b[i];
            per_run = &absolute;
        }
    }
    struct input_list inputs = {0};
    for (int i = 0; i < nargs && status != 1; i++)
        if (input_expand(&inputs, args[i]) < 0)
            status = 1;
    for (size_t i = 0; i < inputs.n && status != 1; i++) {
        struct input in;
        if (input_open(inputs.paths[i], &in) < 0) {
            status = 1;
            break;
        }
        struct cmp_run run = {inputs.paths[i], in.an, &in.src};
        int over = input_suppress(&in, sup, NULL);
        if (over == 0 && phase != NULL)
            over = check_phase(per_run, &run, base_suite.n == 1 ? &base_run : NULL, phase, stdout);
        else if (over == 0)
            over = check_run(per_run, &run, base_suite.n == 1 ? &base_run : NULL, stdout);
        if (over < 0) {
            fprintf(stderr, "memaudit: %s: %s\n", inputs.paths[i], strerror(-over));
            status = 1;
        } else {
            if (over > 0)
                status = CHECK_EXIT_OVER;
            if (suite_add(&suite, inputs.paths[i], in.an, &in.src, over) < 0)
                status = 1;
        }
        input_close(&in);
    }
    if (status != 1 && total) {
        struct an_totals sum, base_sum;
        char names[CMP_FIGURES_][160], label[64];
        const char *top[CMP_FIGURES_];
        suite_total(&suite, &sum, NULL);
        suite_total(&base_suite, &base_sum, NULL);
        top_processes(&suite, names, top);
        snprintf(label, sizeof(label), "total of %zu run%s", suite.n, suite.n == 1 ? "" : "s");
        int over =
            check_totals(b, label, &sum, baseline_path ? &base_sum : NULL, "process", top, stdout);
        if (over < 0)
            status = 1;
        else if (over > 0)
            status = CHECK_EXIT_OVER;
    }
    if (status != 1 && inputs.n > 1) {
        suite_sort(&suite);
        suite_print(stdout, &suite, 1);
    }
    if (status == 0)
        printf("memaudit: check: %zu run%s%s within %zu budget%s\n", inputs.n,
               inputs.n == 1 ? "" : "s", total ? " and their total" : "", b->n,
               b->n == 1 ? "" : "s");
    fflush(stdout);
    if (status != 1)
        sup_print_used(sup, stderr);
    input_list_free(&inputs);
    suite_free(&suite);
    if (base_suite.n == 1)
        input_close(&base);
    suite_free(&base_suite);
    return status;
}

int cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {
        {"max-peak", required_argument, NULL, 1},
        {"max-leaked", required_argument, NULL, 1},
        {"max-leaked-blocks", required_argument, NULL, 1},
        {"max-allocations", required_argument, NULL, 1},
        {"max-bytes", required_argument, NULL, 1},
        {"max-temporary", required_argument, NULL, 1},
        {"max-growth", required_argument, NULL, 1},
        {"max-growth-peak", required_argument, NULL, 1},
        {"max-growth-leaked", required_argument, NULL, 1},
        {"max-growth-leaked-blocks", required_argument, NULL, 1},
        {"max-growth-allocations", required_argument, NULL, 1},
        {"max-growth-bytes", required_argument, NULL, 1},
        {"max-growth-temporary", required_argument, NULL, 1},
        {"baseline", required_argument, NULL, 'B'},
        {"budgets", required_argument, NULL, 'F'},
        {"total", no_argument, NULL, 'T'},
        {"suppressions", required_argument, NULL, 'U'},
        {"phase", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static struct budgets b;
    const char *baseline_path = NULL, *phase = NULL;
    char err[256];
    int c, idx, total = 0;
    struct sup_list sup = {0};

    optind = 1;
    while ((c = getopt_long(argc, argv, "+h", opts, &idx)) != -1) {
        switch (c) {
        case 1:
            if (check_add(&b, opts[idx].name, optarg, err, sizeof(err)) < 0)
                die_usage(err, usage_check);
            break;
        case 'B':
            baseline_path = optarg;
            break;
        case 'F':
            if (check_read_file(&b, optarg, err, sizeof(err)) < 0) {
                fprintf(stderr, "memaudit: %s: %s\n", optarg, err);
                return 2;
            }
            break;
        case 'T':
            total = 1;
            break;
        case 'P':
            phase = optarg;
            break;
        case 'U':
            if (load_suppressions(&sup, optarg) < 0)
                return 2;
            break;
        case 'h':
            fputs(usage_check, stdout);
            return 0;
        default:
            die_usage("bad option", usage_check);
        }
    }
    if (optind >= argc)
        die_usage("check needs at least one INPUT", usage_check);
    if (b.n == 0)
        die_usage("check needs at least one budget", usage_check);
    if (check_needs_baseline(&b) && baseline_path == NULL)
        die_usage("--max-growth needs --baseline FILE", usage_check);

    if (phase != NULL && total)
        die_usage("--phase and --total do not go together", usage_check);
    int status = check_inputs(&b, baseline_path, total, phase, &sup, argv + optind, argc - optind);
    sup_free(&sup);
    return status;
}
