/* cli.h — what the memaudit subcommands share (cli.c defines it):
 * usage errors, the list of inputs named on the command line, and opening
 * one input (a trace, replayed and symbolized now, or a profile). */
#ifndef MEMAUDIT_CLI_H
#define MEMAUDIT_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "analysis.h"
#include "profile.h"
#include "render_common.h"
#include "suite.h"
#include "suppress.h"
#include "symbolizer.h"
#include "trace_reader.h"

#define EXIT_USAGE 2

/* Print "memaudit: msg" and the usage text on stderr; exit EXIT_USAGE. */
void die_usage(const char *msg, const char *usage) __attribute__((noreturn));

struct input_list {
    char **paths;
    size_t n, cap;
};

/* Add arg: a file as itself, a directory as the profiles in it and the
 * traces without a profile beside them, sorted by name. On failure prints
 * "memaudit: ARG: reason" and returns -1. */
int input_expand(struct input_list *l, const char *arg);
void input_list_free(struct input_list *l);

/* One input, ready to render: an and src are what the renderers take. */
struct input {
    struct trd_trace *trace;
    struct sym_resolver *sym;
    struct analysis a;
    struct prof_profile *profile;
    const struct analysis *an;
    struct rc_source src;
};

/* Open path as a trace or a profile, by its first bytes. On failure prints
 * "memaudit: PATH: reason" and returns -1. */
int input_open(const char *path, struct input *in);
void input_close(struct input *in);

/* The other subcommands (cli_compare.c). */
extern const char usage_diff[], usage_check[];
int cmd_diff(int argc, char **argv);
int cmd_check(int argc, char **argv);

/* Suppressions and whole runs (cli_suite.c). load_suppressions adds the
 * rules of path to l, or prints "memaudit: PATH: reason" and returns -1.
 * input_suppress applies l to in (suppress.h); 0, or a negative errno with
 * the reason printed. leak_check takes the processes of a run, sorted, with
 * sup applied (unread: how many traces could not be added) and prints on
 * stderr one line per process that exited with leaks (worst first; not when
 * listed: the run summary showed them), a verdict line and sup's
 * "Suppressions used:" block; returns the number of leaking processes, or -1
 * when a trace could not be read. run_summary prints the summary of the end
 * of memaudit run (docs/usage.md): a few lines, worst first, of s's
 * processes (every leaking one with leak_check_on), recorded into dir. */
int load_suppressions(struct sup_list *l, const char *path);
int input_suppress(struct input *in, struct sup_list *l, struct sup_stats *st);
int leak_check(const struct suite *s, size_t unread, struct sup_list *sup, int listed);
void run_summary(FILE *out, const struct suite *s, const char *dir, int leak_check_on);

#endif
