/* suppress.c — LeakSanitizer-compatible leak suppressions (suppress.h).
 *
 * Matching cost: a site's stack is resolved once (every frame, all inlined
 * locations) and each rule is tried on each name of each frame, so a run
 * costs rules × leaking sites × frames template matches; sites that do not
 * leak are never resolved. */
#include "suppress.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static int push(struct sup_list *l, const char *pattern, size_t len, unsigned line)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct sup_rule *r = realloc(l->rules, cap * sizeof(*r));
        if (r == NULL)
            return -ENOMEM;
        l->rules = r;
        l->cap = cap;
    }
    char *p = malloc(len + 1);
    if (p == NULL)
        return -ENOMEM;
    memcpy(p, pattern, len);
    p[len] = '\0';
    l->rules[l->n++] = (struct sup_rule){.pattern = p, .line = line};
    return 0;
}

int sup_parse(struct sup_list *l, const char *text, size_t len, char *err, size_t errlen)
{
    const char *p = text, *end = text + len;
    unsigned no = 0;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *next = eol ? eol + 1 : end;
        const char *e = eol ? eol : end;
        no++;
        while (p < e && isspace((unsigned char)*p))
            p++;
        while (e > p && isspace((unsigned char)e[-1]))
            e--;
        if (p == e || *p == '#') {
            p = next;
            continue;
        }
        const char *colon = memchr(p, ':', (size_t)(e - p));
        if (colon == NULL) {
            snprintf(err, errlen, "line %u: expected leak:PATTERN", no);
            return -EINVAL;
        }
        if ((size_t)(colon - p) != 4 || memcmp(p, "leak", 4) != 0) {
            snprintf(err, errlen, "line %u: unknown suppression type '%.*s' (only leak: is read)",
                     no, (int)(colon - p > 40 ? 40 : colon - p), p);
            return -EINVAL;
        }
        if (colon + 1 == e) {
            snprintf(err, errlen, "line %u: empty pattern", no);
            return -EINVAL;
        }
        if (push(l, colon + 1, (size_t)(e - colon - 1), no) < 0) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        p = next;
    }
    return 0;
}

int sup_read_file(struct sup_list *l, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        int e = errno;
        snprintf(err, errlen, "%s", strerror(e));
        return -e;
    }
    char *text = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[4096];
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (len + n > (1u << 24)) {
            snprintf(err, errlen, "larger than 16 MiB");
            rc = -EFBIG;
            break;
        }
        if (len + n > cap) {
            cap = (len + n) * 2;
            char *t = realloc(text, cap);
            if (t == NULL) {
                snprintf(err, errlen, "out of memory");
                rc = -ENOMEM;
                break;
            }
            text = t;
        }
        memcpy(text + len, chunk, n);
        len += n;
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "%s", strerror(EIO));
        rc = -EIO;
    }
    fclose(f);
    if (rc == 0)
        rc = sup_parse(l, text ? text : "", len, err, errlen);
    free(text);
    return rc;
}

void sup_free(struct sup_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->rules[i].pattern);
    free(l->rules);
    memset(l, 0, sizeof(*l));
}

/* Glob match of p[0..plen) against s, '*' matching any run; anchored at both
 * ends. Backtracks to the last '*' only: linear in practice, at most
 * plen × strlen(s) steps. */
static int glob(const char *p, size_t plen, const char *s)
{
    size_t pi = 0, star = (size_t)-1;
    const char *mark = NULL;

    while (*s != '\0') {
        if (pi < plen && p[pi] == '*') {
            star = pi++;
            mark = s;
        } else if (pi < plen && p[pi] == *s) {
            pi++;
            s++;
        } else if (star != (size_t)-1) {
            pi = star + 1;
            s = ++mark;
        } else {
            return 0;
        }
    }
    while (pi < plen && p[pi] == '*')
        pi++;
    return pi == plen;
}

int sup_match(const char *templ, const char *str)
{
    if (str == NULL || *str == '\0')
        return 0;
    size_t len = strlen(templ);
    int head = len > 0 && templ[0] == '^';
    int tail = len > (size_t)head && templ[len - 1] == '$';
    const char *body = templ + head;
    size_t blen = len - (size_t)head - (size_t)tail;
    /* Unanchored ends match anywhere: as if the template began (ended) with '*'. */
    char stack_buf[256];
    char *buf = blen + 2 < sizeof(stack_buf) ? stack_buf : malloc(blen + 3);
    if (buf == NULL)
        return 0;
    size_t n = 0;
    if (!head)
        buf[n++] = '*';
    memcpy(buf + n, body, blen);
    n += blen;
    if (!tail)
        buf[n++] = '*';
    int hit = glob(buf, n, str);
    if (buf != stack_buf)
        free(buf);
    return hit;
}

/* 1 if pattern matches a path or its last component. */
static int match_path(const char *pattern, const char *path)
{
    return path != NULL && (sup_match(pattern, path) || sup_match(pattern, rc_basename(path)));
}

static int match_loc(const char *pattern, const struct sym_location *loc)
{
    return sup_match(pattern, loc->function) || sup_match(pattern, loc->raw_name) ||
           match_path(pattern, loc->module) || match_path(pattern, loc->file);
}

/* The first rule of l that matches a frame of st, or NULL. */
static struct sup_rule *first_match(struct sup_list *l, const struct rc_stack *st)
{
    for (size_t r = 0; r < l->n; r++) {
        for (size_t i = 0; i < st->n; i++) {
            const struct rc_frame *f = &st->frames[i];
            for (size_t k = 0; k < f->n; k++)
                if (match_loc(l->rules[r].pattern, &f->locs[k]))
                    return &l->rules[r];
        }
    }
    return NULL;
}

int sup_apply(struct sup_list *l, struct analysis *a, const struct rc_source *src,
              struct sup_stats *st)
{
    struct sup_stats sum = {0};
    int rc = 0;

    for (uint32_t i = 0; l->n != 0 && i < a->n_sites; i++) {
        struct an_site *s = &a->sites[i];
        if (s->live_blocks == 0 || s->runtime || s->suppressed)
            continue;
        struct rc_stack stack = {0};
        rc = rc_stack_resolve(src, s->stack, 1, 0, &stack);
        struct sup_rule *hit = rc == 0 ? first_match(l, &stack) : NULL;
        rc_stack_fini(&stack);
        if (rc < 0)
            break;
        if (hit == NULL)
            continue;
        s->suppressed = 1;
        a->totals.leaked_bytes -= s->live_bytes;
        a->totals.leaked_blocks -= s->live_blocks;
        hit->blocks += s->live_blocks;
        hit->bytes += s->live_bytes;
        sum.sites++;
        sum.blocks += s->live_blocks;
        sum.bytes += s->live_bytes;
    }
    if (st != NULL)
        *st = sum;
    return rc;
}

void sup_print_used(const struct sup_list *l, FILE *out)
{
    int any = 0;
    for (size_t i = 0; i < l->n; i++) {
        const struct sup_rule *r = &l->rules[i];
        if (r->blocks == 0)
            continue;
        if (!any)
            fprintf(out, "-----------------------------------------------------\n"
                         "Suppressions used:\n"
                         "  count      bytes template\n");
        any = 1;
        fprintf(out, "%7" PRIu64 " %10" PRIu64 " %s\n", r->blocks, r->bytes, r->pattern);
    }
    if (any)
        fprintf(out, "-----------------------------------------------------\n");
}
