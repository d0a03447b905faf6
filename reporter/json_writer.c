/* json_writer.c — JSON text into a growing buffer (json_writer.h).
 *
 * The buffer doubles from 64 KiB, so writing n bytes costs O(n) copies in
 * all; it never grows past max_bytes (-EFBIG). The layout and the escaping
 * are cJSON_PrintUnformatted's, byte for byte: tests/unit/test_json_writer.c
 * compares the two on every byte value. */
#include "json_writer.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define JW_FIRST_CAP (64u << 10)

void jw_init(struct jw *w, size_t max_bytes)
{
    *w = (struct jw){.max_bytes = max_bytes};
}

void jw_fini(struct jw *w)
{
    free(w->buf);
    jw_init(w, w->max_bytes);
}

int jw_finish(const struct jw *w)
{
    return w->err;
}

/* Room for n more bytes; 0, or the writer is left failed. The buffer never
 * grows past max_bytes, so room in it is room under the cap. */
static int reserve(struct jw *w, size_t n)
{
    if (w->err != 0)
        return w->err;
    if (n <= w->cap - w->len)
        return 0;
    if (n > w->max_bytes - w->len) {
        w->err = -EFBIG;
        return w->err;
    }
    size_t cap = w->cap != 0 ? w->cap : JW_FIRST_CAP;
    while (cap - w->len < n && cap <= w->max_bytes / 2)
        cap *= 2;
    if (cap - w->len < n || cap > w->max_bytes)
        cap = w->max_bytes;
    char *p = realloc(w->buf, cap);
    if (p == NULL) {
        w->err = -ENOMEM;
        return w->err;
    }
    w->buf = p;
    w->cap = cap;
    return 0;
}

static void put(struct jw *w, const char *s, size_t n)
{
    if (reserve(w, n) == 0) {
        memcpy(w->buf + w->len, s, n);
        w->len += n;
    }
}

static void put_char(struct jw *w, char c)
{
    if (reserve(w, 1) == 0)
        w->buf[w->len++] = c;
}

/* s between quotes. Runs of bytes that need no escape are copied whole. */
static void put_string(struct jw *w, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    put_char(w, '"');
    for (;;) {
        size_t n = 0;
        while ((unsigned char)s[n] >= 0x20 && s[n] != '"' && s[n] != '\\')
            n++;
        put(w, s, n);
        s += n;
        if (*s == '\0')
            break;
        char esc[6] = {'\\', 0};
        size_t len = 2;
        switch (*s) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default: /* below 0x20: \u00xx */
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[(unsigned char)*s >> 4];
            esc[5] = hex[(unsigned char)*s & 0xf];
            len = 6;
        }
        put(w, esc, len);
        s++;
    }
    put_char(w, '"');
}

/* The comma before a member or element, and the member's key. */
static void begin_value(struct jw *w, const char *key)
{
    if (w->after_value)
        put_char(w, ',');
    if (key != NULL) {
        put_string(w, key);
        put_char(w, ':');
    }
}

void jw_open(struct jw *w, const char *key, char bracket)
{
    begin_value(w, key);
    put_char(w, bracket);
    w->after_value = 0;
}

void jw_close(struct jw *w, char bracket)
{
    put_char(w, bracket);
    w->after_value = 1;
}

void jw_str(struct jw *w, const char *key, const char *s)
{
    begin_value(w, key);
    put_string(w, s);
    w->after_value = 1;
}

static void put_raw(struct jw *w, const char *key, const char *text, size_t n)
{
    begin_value(w, key);
    put(w, text, n);
    w->after_value = 1;
}

void jw_raw(struct jw *w, const char *key, const char *text)
{
    put_raw(w, key, text, strlen(text));
}

/* x in decimal, written backwards from the end of buf; returns its start. */
static char *decimal(char buf[24], unsigned long long x)
{
    char *p = buf + 24;
    *--p = '\0';
    do {
        *--p = (char)('0' + x % 10);
        x /= 10;
    } while (x != 0);
    return p;
}

void jw_int(struct jw *w, const char *key, long long v)
{
    char buf[24];
    /* (through unsigned: -LLONG_MIN does not fit a long long) */
    char *p = decimal(buf, v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v);
    if (v < 0)
        *--p = '-';
    jw_raw(w, key, p);
}

void jw_u64(struct jw *w, const char *key, uint64_t v)
{
    char buf[24];
    char *p = decimal(buf, v);
    if (v <= JW_EXACT_MAX)
        put_raw(w, key, p, (size_t)(buf + sizeof buf - 1 - p));
    else
        jw_str(w, key, p);
}

void jw_end_line(struct jw *w)
{
    put_char(w, '\n');
    w->after_value = 0;
}

void jw_splice(struct jw *w, const struct jw *other)
{
    if (other->err != 0 && w->err == 0)
        w->err = other->err;
    if (other->len == 0)
        return;
    begin_value(w, NULL);
    put(w, other->buf, other->len);
    w->after_value = 1;
}
