/* jcheck.c — check a JSON document against exact expectations (integration tests).
 *
 *   jcheck FILE.json EXPR...
 *
 * Each EXPR is PATH OP VALUE. PATH is a dotted path with array subscripts:
 *   summary.allocations   leaks[0].stack[0].function   leaks[-1].bytes (last)
 * A subscript [*] selects every element; such a path must match at least one
 * value, and the check must hold for every match, unless the path is wrapped
 * in any(...), which asks that it hold for at least one:
 *   leaks[*].stack[0].function~leak_          every leak site is a leak_ function
 *   any(leaks[*].stack[0].function)=leak_calloc
 * A subscript [KEY:VALUE] selects the elements that are objects whose member
 * KEY is the string VALUE (or the number it spells), like [*] otherwise:
 *   findings[kind:pooling].saved_allocations=19996
 * A leading '#' checks the length of an array (or object) instead of a value:
 *   #leaks=10   #hotspots[0].stack>=22
 *
 * OP is one of
 *   =  !=    equality: numbers compare as integers when both are integral,
 *            strings exactly (surrounding "quotes" in VALUE are optional),
 *            true, false and null as themselves
 *   ~  !~    the string value contains (does not contain) VALUE
 *   >= <= > <  numeric comparison
 * The operator is the first of = ~ ! < > after the path, so VALUE may contain
 * any character.
 *
 * Prints "FAIL PATH: expected ..., got ..." for each failing EXPR (and "ok
 * EXPR" with -v). Exit status: 0 all held, 1 some failed, 2 usage, unreadable
 * file, JSON syntax error or a malformed EXPR. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum op { OP_EQ, OP_NE, OP_HAS, OP_HASNT, OP_GE, OP_LE, OP_GT, OP_LT };

struct expr {
    const char *text;   /* the whole EXPR */
    int lhs_len;        /* length of its left-hand side ([#][any(]PATH[)]), for messages */
    char *path;         /* owned copy of the path */
    bool any;           /* any(...) */
    bool length;        /* leading '#' */
    enum op op;
    const char *value;  /* points into text */
};

/* Matches of a path; a small growable array of borrowed nodes. */
struct nodes {
    const cJSON **v;
    size_t n, cap;
};

static const char *progname = "jcheck";

static int nodes_push(struct nodes *s, const cJSON *node)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        const cJSON **v = realloc(s->v, cap * sizeof *v);
        if (v == NULL)
            return -ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = node;
    return 0;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;

    if (f == NULL)
        return NULL;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap);
            if (nb == NULL)
                goto fail;
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f))
        goto fail;
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
fail:
    free(buf);
    fclose(f);
    return NULL;
}

/* Walk path p from node, appending every match to out. Returns 0, or -EINVAL
 * for a malformed path (a missing member is no match, not an error). */
static int walk(const cJSON *node, const char *p, struct nodes *out)
{
    if (*p == '.')
        p++;
    if (*p == '\0')
        return nodes_push(out, node);
    if (*p == '[') {
        const char *close = strchr(p, ']');
        if (close == NULL || close == p + 1)
            return -EINVAL;
        if (!cJSON_IsArray(node))
            return 0;
        int size = cJSON_GetArraySize(node);
        if (p[1] == '*' && close == p + 2) {
            for (int i = 0; i < size; i++) {
                int rc = walk(cJSON_GetArrayItem(node, i), close + 1, out);
                if (rc < 0)
                    return rc;
            }
            return 0;
        }
        const char *colon = memchr(p, ':', (size_t)(close - p));
        if (colon != NULL) {
            char key[128], want[256];
            size_t klen = (size_t)(colon - p - 1), vlen = (size_t)(close - colon - 1);
            if (klen == 0 || klen >= sizeof(key) || vlen >= sizeof(want))
                return -EINVAL;
            memcpy(key, p + 1, klen);
            key[klen] = '\0';
            memcpy(want, colon + 1, vlen);
            want[vlen] = '\0';
            for (int i = 0; i < size; i++) {
                const cJSON *el = cJSON_GetArrayItem(node, i);
                const cJSON *m = cJSON_GetObjectItemCaseSensitive(el, key);
                char have[64];
                if (cJSON_IsNumber(m))
                    snprintf(have, sizeof(have), "%.17g", m->valuedouble);
                const char *v = cJSON_IsString(m) ? m->valuestring : cJSON_IsNumber(m) ? have : NULL;
                if (v == NULL || strcmp(v, want) != 0)
                    continue;
                int rc = walk(el, close + 1, out);
                if (rc < 0)
                    return rc;
            }
            return 0;
        }
        char *end;
        errno = 0;
        long idx = strtol(p + 1, &end, 10);
        if (end != close || errno != 0)
            return -EINVAL;
        if (idx < 0)
            idx += size;
        if (idx < 0 || idx >= size)
            return 0;
        return walk(cJSON_GetArrayItem(node, (int)idx), close + 1, out);
    }
    size_t len = strcspn(p, ".[");
    if (len == 0)
        return -EINVAL;
    if (!cJSON_IsObject(node))
        return 0;
    for (const cJSON *c = node->child; c != NULL; c = c->next) {
        if (c->string != NULL && strlen(c->string) == len && memcmp(c->string, p, len) == 0)
            return walk(c, p + len, out);
    }
    return 0;
}

/* Split "[#][any(]PATH[)]OP VALUE". Returns 0 or -EINVAL. */
static int expr_parse(const char *text, struct expr *e)
{
    const char *p = text, *path_end;

    memset(e, 0, sizeof *e);
    e->text = text;
    if (*p == '#') {
        e->length = true;
        p++;
    }
    if (strncmp(p, "any(", 4) == 0) {
        e->any = true;
        p += 4;
        path_end = strchr(p, ')');
        if (path_end == NULL)
            return -EINVAL;
        e->path = strndup(p, (size_t)(path_end - p));
        p = path_end + 1;
    } else {
        /* The operator comes after the path; brackets may hold a ':' selector. */
        path_end = p;
        while (*path_end != '\0' && strchr("=~!<>", *path_end) == NULL) {
            if (*path_end == '[' && strchr(path_end, ']') != NULL)
                path_end = strchr(path_end, ']');
            path_end++;
        }
        e->path = strndup(p, (size_t)(path_end - p));
        p = path_end;
    }
    if (e->path == NULL || e->path[0] == '\0')
        return -EINVAL;
    e->lhs_len = (int)(p - text);
    if (strncmp(p, "!=", 2) == 0) {
        e->op = OP_NE;
        p += 2;
    } else if (strncmp(p, "!~", 2) == 0) {
        e->op = OP_HASNT;
        p += 2;
    } else if (strncmp(p, ">=", 2) == 0) {
        e->op = OP_GE;
        p += 2;
    } else if (strncmp(p, "<=", 2) == 0) {
        e->op = OP_LE;
        p += 2;
    } else if (*p == '=') {
        e->op = OP_EQ;
        p++;
    } else if (*p == '~') {
        e->op = OP_HAS;
        p++;
    } else if (*p == '>') {
        e->op = OP_GT;
        p++;
    } else if (*p == '<') {
        e->op = OP_LT;
        p++;
    } else {
        return -EINVAL;
    }
    e->value = p;
    return 0;
}

/* VALUE as a number, if it is one. */
static bool value_number(const char *s, double *out)
{
    char *end;
    if (*s == '\0')
        return false;
    errno = 0;
    double d = strtod(s, &end);
    if (*end != '\0' || errno != 0)
        return false;
    *out = d;
    return true;
}

/* VALUE as a string: without surrounding double quotes, if any. The result is
 * only valid until the next call. */
static const char *value_string(const char *s)
{
    static char buf[4096];
    size_t len = strlen(s);
    if (len >= 2 && s[0] == '"' && s[len - 1] == '"' && len - 2 < sizeof buf) {
        memcpy(buf, s + 1, len - 2);
        buf[len - 2] = '\0';
        return buf;
    }
    return s;
}

static bool integral(double d)
{
    /* Within +-2^53 every integer is exact in a double; no libm needed. */
    return isfinite(d) && d > -9007199254740992.0 && d < 9007199254740992.0 &&
           d == (double)(long long)d;
}

static bool numbers_equal(double a, double b)
{
    if (integral(a) && integral(b))
        return (long long)a == (long long)b;
    return a == b;
}

/* Render a node briefly for "got ...". */
static void describe(const cJSON *n, char *buf, size_t size)
{
    if (n == NULL) {
        snprintf(buf, size, "nothing (no such path)");
    } else if (cJSON_IsNumber(n)) {
        if (integral(n->valuedouble))
            snprintf(buf, size, "%lld", (long long)n->valuedouble);
        else
            snprintf(buf, size, "%.17g", n->valuedouble);
    } else if (cJSON_IsString(n)) {
        snprintf(buf, size, "\"%s\"", n->valuestring);
    } else if (cJSON_IsBool(n)) {
        snprintf(buf, size, "%s", cJSON_IsTrue(n) ? "true" : "false");
    } else if (cJSON_IsNull(n)) {
        snprintf(buf, size, "null");
    } else {
        char *s = cJSON_PrintUnformatted(n);
        if (s == NULL) {
            snprintf(buf, size, "(unprintable)");
            return;
        }
        if (strlen(s) > 200)
            snprintf(buf, size, "%.200s...", s);
        else
            snprintf(buf, size, "%s", s);
        cJSON_free(s);
    }
}

/* Does one matched node satisfy e? Array length checks turn the node into a
 * synthetic number. */
static bool node_holds(const struct expr *e, const cJSON *n)
{
    double num = 0, want = 0;
    bool is_num = false;

    if (e->length) {
        if (!cJSON_IsArray(n) && !cJSON_IsObject(n))
            return false;
        num = cJSON_GetArraySize(n);
        is_num = true;
    } else if (cJSON_IsNumber(n)) {
        num = n->valuedouble;
        is_num = true;
    }

    switch (e->op) {
    case OP_EQ:
    case OP_NE: {
        bool eq;
        if (is_num) {
            eq = value_number(e->value, &want) && numbers_equal(num, want);
        } else if (cJSON_IsString(n)) {
            eq = strcmp(n->valuestring, value_string(e->value)) == 0;
        } else if (cJSON_IsBool(n)) {
            eq = strcmp(e->value, cJSON_IsTrue(n) ? "true" : "false") == 0;
        } else if (cJSON_IsNull(n)) {
            eq = strcmp(e->value, "null") == 0;
        } else {
            eq = false;
        }
        return e->op == OP_EQ ? eq : !eq;
    }
    case OP_HAS:
    case OP_HASNT: {
        if (!cJSON_IsString(n))
            return false;
        bool has = strstr(n->valuestring, value_string(e->value)) != NULL;
        return e->op == OP_HAS ? has : !has;
    }
    case OP_GE:
    case OP_LE:
    case OP_GT:
    case OP_LT:
        if (!is_num || !value_number(e->value, &want))
            return false;
        if (integral(num) && integral(want)) {
            long long a = (long long)num, b = (long long)want;
            return e->op == OP_GE ? a >= b : e->op == OP_LE ? a <= b : e->op == OP_GT ? a > b : a < b;
        }
        return e->op == OP_GE ? num >= want : e->op == OP_LE ? num <= want : e->op == OP_GT ? num > want : num < want;
    }
    return false;
}

static const char *op_words(enum op op)
{
    switch (op) {
    case OP_EQ: return "";
    case OP_NE: return "not ";
    case OP_HAS: return "a string containing ";
    case OP_HASNT: return "a string not containing ";
    case OP_GE: return ">= ";
    case OP_LE: return "<= ";
    case OP_GT: return "> ";
    case OP_LT: return "< ";
    }
    return "";
}

/* Evaluate one EXPR. Returns 1 held, 0 failed (message printed), -EINVAL
 * malformed path, -ENOMEM. */
static int expr_check(const struct expr *e, const cJSON *root, bool verbose)
{
    struct nodes m = { 0 };
    int rc = walk(root, e->path, &m);
    char got[320];

    if (rc < 0)
        goto out;
    size_t held = 0;
    const cJSON *first_bad = NULL;
    for (size_t i = 0; i < m.n; i++) {
        if (node_holds(e, m.v[i]))
            held++;
        else if (first_bad == NULL)
            first_bad = m.v[i];
    }
    bool ok = e->any ? held > 0 : (m.n > 0 && held == m.n);
    if (ok) {
        if (verbose)
            printf("ok %s\n", e->text);
        rc = 1;
        goto out;
    }
    const char *what = e->length ? "length " : "";
    if (m.n == 0) {
        printf("FAIL %.*s: expected %s%s%s, got nothing (no such path)\n", e->lhs_len, e->text, what,
               op_words(e->op), e->value);
    } else if (e->any) {
        /* Show what there was, so the failure can be read without the file. */
        printf("FAIL %.*s: expected some %s%s%s, got none of %zu: ", e->lhs_len, e->text, what,
               op_words(e->op),
               e->value, m.n);
        for (size_t i = 0; i < m.n && i < 20; i++) {
            if (e->length)
                snprintf(got, sizeof got, "%d", cJSON_GetArraySize(m.v[i]));
            else
                describe(m.v[i], got, sizeof got);
            printf("%s%s", i ? ", " : "", got);
        }
        printf("%s\n", m.n > 20 ? ", ..." : "");
    } else {
        if (e->length && (cJSON_IsArray(first_bad) || cJSON_IsObject(first_bad)))
            snprintf(got, sizeof got, "%d", cJSON_GetArraySize(first_bad));
        else
            describe(first_bad, got, sizeof got);
        printf("FAIL %.*s: expected %s%s%s, got %s%s\n", e->lhs_len, e->text, what,
               op_words(e->op), e->value,
               got, m.n > 1 ? " (in one of the matches)" : "");
    }
    rc = 0;
out:
    free(m.v);
    return rc;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: %s [-v] FILE.json EXPR...\n"
            "  EXPR: [#][any(]PATH[)] OP VALUE, OP one of = != ~ !~ >= <= > <\n"
            "  e.g.  summary.allocations=22  leaks[0].stack[0].function=leak_pvalloc\n"
            "        any(leaks[*].stack[0].function)=leak_calloc  #leaks>=1\n",
            progname);
}

int main(int argc, char **argv)
{
    bool verbose = false;
    int first = 1, failed = 0, status = 0;
    char *text = NULL;
    cJSON *root = NULL;
    size_t len;

    if (argc > 0)
        progname = argv[0];
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        verbose = true;
        first = 2;
    }
    if (argc - first < 2) {
        usage();
        return 2;
    }
    const char *file = argv[first];
    text = read_file(file, &len);
    if (text == NULL) {
        fprintf(stderr, "%s: %s: %s\n", progname, file, strerror(errno ? errno : EIO));
        return 2;
    }
    root = cJSON_ParseWithLength(text, len);
    if (root == NULL) {
        const char *where = cJSON_GetErrorPtr();
        fprintf(stderr, "%s: %s: not valid JSON (near byte %ld)\n", progname, file,
                where ? (long)(where - text) : -1L);
        status = 2;
        goto out;
    }
    for (int i = first + 1; i < argc; i++) {
        struct expr e;
        int rc = expr_parse(argv[i], &e);
        if (rc == 0)
            rc = expr_check(&e, root, verbose);
        free(e.path);
        if (rc == -EINVAL) {
            fprintf(stderr, "%s: malformed expression: %s\n", progname, argv[i]);
            status = 2;
            goto out;
        }
        if (rc < 0) {
            fprintf(stderr, "%s: %s\n", progname, strerror(-rc));
            status = 2;
            goto out;
        }
        if (rc == 0)
            failed++;
    }
    status = failed ? 1 : 0;
out:
    cJSON_Delete(root);
    free(text);
    return status;
}
