/* strset.h — a set of strings: the small library of memaudit's CI example
 * (docs/ci.md). Its CMocka suite, test_strset.c, is recorded by memaudit in
 * `make check`, and checked against the committed baseline.profile.
 *
 *     struct strset *s = strset_new();
 *     strset_add(s, "apple");           // 1: added (the set keeps a copy)
 *     strset_add(s, "apple");           // 0: already there
 *     strset_contains(s, "apple");      // 1
 *     strset_remove(s, "apple");        // 1: removed
 *     strset_free(s);
 *
 * Functions that allocate return -1 (or NULL) when out of memory and leave
 * the set as it was. */
#ifndef STRSET_H
#define STRSET_H

#include <stddef.h>

struct strset;

struct strset *strset_new(void);
void strset_free(struct strset *s);

/* 1 if str was added, 0 if it was there already, -1 out of memory. */
int strset_add(struct strset *s, const char *str);
/* 1 if str is in the set. */
int strset_contains(const struct strset *s, const char *str);
/* 1 if str was removed, 0 if it was not there. */
int strset_remove(struct strset *s, const char *str);
size_t strset_size(const struct strset *s);

#endif
