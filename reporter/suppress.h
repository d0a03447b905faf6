/* suppress.h — LeakSanitizer-compatible leak suppressions (memaudit run
 * --leak-check, report, check: --suppressions FILE).
 *
 * A suppressions file holds one rule per line, as LeakSanitizer reads them:
 *
 *     # known leaks of the test harness
 *     leak:cmocka_run_group_tests     a function, anywhere in the stack
 *     leak:libfontconfig.so           a module (the path or its basename)
 *     leak:third_party*.c              a source file
 *     leak:^make$                     ^ and $ anchor; without them a substring
 *
 * A pattern is LeakSanitizer's template: `*` matches any run of characters,
 * `^` at the start and `$` at the end anchor it, and otherwise it matches
 * anywhere in the string. A leak site is suppressed when some rule matches,
 * in ANY frame of its stack (allocator frames and inlined functions
 * included), the function's name (demangled or raw), the module's path or
 * basename, or the source file's path or basename. The first matching rule
 * in file order takes the site; it counts the site's leaked blocks and bytes,
 * which sup_print_used() lists like LeakSanitizer's "Suppressions used:".
 *
 * A suppressed site keeps its figures but carries an_site.suppressed: the
 * reports, findings, comparisons and budgets treat its blocks as neither
 * leaked nor held by the C runtime, and sup_apply() takes them out of the
 * leaked totals. Sites of the C runtime (an_site.runtime) are never leaks and
 * are left alone. */
#ifndef MEMAUDIT_SUPPRESS_H
#define MEMAUDIT_SUPPRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "analysis.h"
#include "render_common.h"

struct sup_rule {
    char *pattern;     /* malloc'd, without the "leak:" */
    unsigned line;     /* in its file */
    uint64_t blocks;   /* leaked blocks it suppressed, over every sup_apply() */
    uint64_t bytes;
};

struct sup_list {
    struct sup_rule *rules;
    size_t n, cap;
};

/* What one sup_apply() took out of a run's leaks. */
struct sup_stats {
    uint64_t sites, blocks, bytes;
};

/* Add the rules of the file at path to l. Blank lines and lines starting
 * with '#' are skipped; leading and trailing white space is ignored. Returns
 * 0, or a negative errno with a one-line reason ("line N: ...") in err. */
int sup_read_file(struct sup_list *l, const char *path, char *err, size_t errlen);
/* The same from text[0..len). */
int sup_parse(struct sup_list *l, const char *text, size_t len, char *err, size_t errlen);
void sup_free(struct sup_list *l);

/* 1 if LeakSanitizer's template templ matches str (see above). */
int sup_match(const char *templ, const char *str);

/* Mark the leaking sites of a whose stack (from src) a rule of l matches,
 * take them out of a's leaked totals, count them in the rule and in *st (may
 * be NULL). Applying twice changes nothing. Returns 0 or -ENOMEM. */
int sup_apply(struct sup_list *l, struct analysis *a, const struct rc_source *src,
              struct sup_stats *st);

/* LeakSanitizer's block, for the rules that matched at least once:
 *     Suppressions used:
 *       count      bytes template
 *          41       5000 leak_step
 * (count: leaked blocks). Nothing when no rule matched. */
void sup_print_used(const struct sup_list *l, FILE *out);

#endif
