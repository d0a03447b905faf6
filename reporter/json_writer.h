/* json_writer.h — JSON text written straight into a growing buffer, for output
 * too large to build as a cJSON tree first (the profile: millions of numbers).
 *
 * The text is laid out as cJSON_PrintUnformatted lays out the same tree: no
 * white space, strings escaped as cJSON escapes them (\" \\ \b \f \n \r \t,
 * other bytes below 0x20 as \u00xx, every other byte as it is). A writer does
 * not check that keys and values alternate: the caller gives a key to every
 * member of an object and none to an element of an array.
 *
 * Errors are sticky: once the buffer cannot grow (out of memory, or past its
 * cap), every later call does nothing and jw_finish() says why, so a caller
 * writes a whole document and checks once.
 *
 * Usage:
 *     struct jw w;
 *     jw_init(&w, 1u << 30);              // at most 1 GiB of text
 *     jw_open(&w, NULL, '{');
 *     jw_str(&w, "name", "a\tb");          // "name":"a\tb"
 *     jw_open(&w, "ids", '[');
 *     jw_raw(&w, NULL, "1");
 *     jw_raw(&w, NULL, "2");
 *     jw_close(&w, ']');
 *     jw_close(&w, '}');                   // {"name":"a\tb","ids":[1,2]}
 *     if (jw_finish(&w) < 0) ...           // -ENOMEM or -EFBIG
 *     fwrite(w.buf, 1, w.len, out);
 *     jw_fini(&w);                         // frees w.buf
 */
#ifndef MEMAUDIT_JSON_WRITER_H
#define MEMAUDIT_JSON_WRITER_H

#include <stddef.h>
#include <stdint.h>

struct jw {
    char *buf; /* the text so far, buf[0..len), not NUL-terminated; owned */
    size_t len, cap;
    size_t max_bytes; /* the cap on len */
    int err; /* 0, or the first failure: -ENOMEM, -EFBIG */
    int after_value; /* the next member or element needs a comma first */
};

/* An empty writer whose text may grow to max_bytes. Allocates nothing. */
void jw_init(struct jw *w, size_t max_bytes);
/* Frees the text; w can be initialised again. */
void jw_fini(struct jw *w);
/* 0, or the first error of any call since jw_init. */
int jw_finish(const struct jw *w);

/* In each of these, key is the member's name inside an object and NULL for
 * an element of an array (or the top-level value). */

/* Open an object ('{') or an array ('['); close it with jw_close and the
 * matching '}' or ']'. */
void jw_open(struct jw *w, const char *key, char bracket);
void jw_close(struct jw *w, char bracket);
/* A string, escaped. */
void jw_str(struct jw *w, const char *key, const char *s);
/* Text written as it is: a number, true, false, null. */
void jw_raw(struct jw *w, const char *key, const char *text);
/* A signed integer in decimal, as cJSON prints an integral number. */
void jw_int(struct jw *w, const char *key, long long v);
/* v exactly for any reader: a number up to 2^53, which a double holds
 * exactly, and a string of its decimal digits above (RFC 7493, 2.2). */
#define JW_EXACT_MAX (1ull << 53)
void jw_u64(struct jw *w, const char *key, uint64_t v);
/* A line feed after the top-level value, the last byte of a JSON file. */
void jw_end_line(struct jw *w);
/* The elements (or members) other wrote, after those of the array (or
 * object) w has open: other was written from an empty writer as if inside
 * it. For a part whose place in the text is known only after it is written. */
void jw_splice(struct jw *w, const struct jw *other);

#endif
