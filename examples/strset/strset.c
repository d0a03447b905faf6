/* strset.c — a hash set of strings with separate chaining (strset.h).
 *
 * Memory: one block for the set, one bucket array (8 bytes per bucket, at
 * most one bucket per element once past 16), and one block per element
 * holding its node and a copy of its string. The bucket array doubles when
 * the set holds as many elements as buckets, and halves never.
 *
 * Two deliberate regressions, for the CI example's test (docs/ci.md):
 *   -DINJECT_LEAK   strset_remove() unlinks the node but forgets to free it
 *   -DDOUBLE_PEAK   every allocation asks for twice the bytes it needs, so
 *                   the memory the set holds, and the suite's peak, double */
#include "strset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef DOUBLE_PEAK
#define SIZE(n) (2 * (n))
#else
#define SIZE(n) (n)
#endif

struct node {
    struct node *next;
    uint64_t hash;
    char str[];
};

struct strset {
    struct node **buckets;
    size_t n_buckets; /* a power of two */
    size_t size;
};

#define STRSET_MIN_BUCKETS 16

/* FNV-1a. */
static uint64_t hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

struct strset *strset_new(void)
{
    struct strset *s = malloc(SIZE(sizeof(*s)));
    if (s == NULL)
        return NULL;
    s->buckets = calloc(SIZE(STRSET_MIN_BUCKETS), sizeof(s->buckets[0]));
    if (s->buckets == NULL) {
        free(s);
        return NULL;
    }
    s->n_buckets = STRSET_MIN_BUCKETS;
    s->size = 0;
    return s;
}

void strset_free(struct strset *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n_buckets; i++) {
        struct node *n = s->buckets[i];
        while (n != NULL) {
            struct node *next = n->next;
            free(n);
            n = next;
        }
    }
    free(s->buckets);
    free(s);
}

static struct node **slot(const struct strset *s, const char *str, uint64_t h)
{
    struct node **p = &s->buckets[h & (s->n_buckets - 1)];
    while (*p != NULL && ((*p)->hash != h || strcmp((*p)->str, str) != 0))
        p = &(*p)->next;
    return p;
}

/* Double the bucket array; on failure the set stays as it was. */
static int grow(struct strset *s)
{
    size_t n = s->n_buckets * 2;
    struct node **b = calloc(SIZE(n), sizeof(b[0]));
    if (b == NULL)
        return -1;
    for (size_t i = 0; i < s->n_buckets; i++) {
        struct node *e = s->buckets[i];
        while (e != NULL) {
            struct node *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->n_buckets = n;
    return 0;
}

int strset_add(struct strset *s, const char *str)
{
    uint64_t h = hash_str(str);
    if (*slot(s, str, h) != NULL)
        return 0;
    if (s->size == s->n_buckets && grow(s) < 0)
        return -1;
    size_t len = strlen(str);
    struct node *n = malloc(SIZE(sizeof(*n) + len + 1));
    if (n == NULL)
        return -1;
    n->hash = h;
    memcpy(n->str, str, len + 1);
    struct node **p = slot(s, str, h);
    n->next = *p;
    *p = n;
    s->size++;
    return 1;
}

int strset_contains(const struct strset *s, const char *str)
{
    return *slot(s, str, hash_str(str)) != NULL;
}

int strset_remove(struct strset *s, const char *str)
{
    struct node **p = slot(s, str, hash_str(str));
    struct node *n = *p;
    if (n == NULL)
        return 0;
    *p = n->next;
    s->size--;
#ifndef INJECT_LEAK
    free(n);
#endif
    return 1;
}

size_t strset_size(const struct strset *s)
{
    return s->size;
}
