/* work.c — allocations mixed with real work: a word-count hash table of
 * strings, built, queried, sorted, thinned and torn down, several rounds.
 *
 *   work [ROUNDS [WORDS [DEPTH]]]    defaults 8 rounds of 200000 words, depth 16
 *
 * Each round generates WORDS pseudo-random words (a fixed LCG, so every run
 * allocates exactly the same sequence), counts them in a chained hash table
 * that doubles its bucket array by realloc, looks every word up again, copies
 * the entries into an array sorted by count then word, frees every other
 * entry, and finally frees the table. That is about 2 allocations per word
 * per round (the key, the node) plus the table and sort arrays: some 3.5
 * million allocator calls with the defaults. The round runs DEPTH frames
 * below main (noinline recursion that is not a tail call) and the allocating
 * helpers add 3 to 5 more, so the recorded stacks are 19 to 22 frames deep.
 * Prints a checksum of what it computed, identical on every run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node {
    struct node *next;
    char *word;
    uint32_t hash;
    uint32_t count;
};

struct table {
    struct node **buckets;
    size_t n_buckets; /* a power of two */
    size_t n_nodes;
};

static uint64_t lcg_state;

static uint32_t lcg_next(void)
{
    lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(lcg_state >> 33);
}

__attribute__((noinline)) static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL) {
        fprintf(stderr, "work: out of memory\n");
        exit(1);
    }
    return p;
}

__attribute__((noinline)) static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (q == NULL) {
        fprintf(stderr, "work: out of memory\n");
        exit(1);
    }
    return q;
}

/* A word of 3 to 14 letters from a skewed alphabet, so that some words
 * repeat (counts above 1) and most do not. Returned in a fresh block. */
__attribute__((noinline)) static char *word_new(void)
{
    char buf[16];
    size_t len = 3 + lcg_next() % 12;
    for (size_t i = 0; i < len; i++) {
        uint32_t r = lcg_next();
        buf[i] = (char)('a' + (r % 26) * (r % 26) / 26 / (i < 3 ? 3 : 1));
    }
    buf[len] = '\0';
    char *w = xmalloc(len + 1);
    memcpy(w, buf, len + 1);
    return w;
}

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

__attribute__((noinline)) static void table_grow(struct table *t)
{
    size_t n = t->n_buckets * 2;
    struct node **b = xrealloc(t->buckets, n * sizeof(*b));
    /* The upper half is new; split every old chain by the new hash bit. */
    memset(b + t->n_buckets, 0, t->n_buckets * sizeof(*b));
    for (size_t i = 0; i < t->n_buckets; i++) {
        struct node **pp = &b[i];
        while (*pp) {
            struct node *e = *pp;
            if (e->hash & t->n_buckets) {
                *pp = e->next;
                e->next = b[i + t->n_buckets];
                b[i + t->n_buckets] = e;
            } else {
                pp = &e->next;
            }
        }
    }
    t->buckets = b;
    t->n_buckets = n;
}

static struct node *table_find(const struct table *t, const char *w, uint32_t h)
{
    for (struct node *e = t->buckets[h & (t->n_buckets - 1)]; e; e = e->next)
        if (e->hash == h && strcmp(e->word, w) == 0)
            return e;
    return NULL;
}

/* Counts w; takes ownership of it (freed when the word was already there). */
__attribute__((noinline)) static void table_add(struct table *t, char *w)
{
    uint32_t h = hash_str(w);
    struct node *e = table_find(t, w, h);
    if (e) {
        e->count++;
        free(w);
        return;
    }
    if (t->n_nodes >= t->n_buckets)
        table_grow(t);
    e = xmalloc(sizeof(*e));
    e->word = w;
    e->hash = h;
    e->count = 1;
    e->next = t->buckets[h & (t->n_buckets - 1)];
    t->buckets[h & (t->n_buckets - 1)] = e;
    t->n_nodes++;
}

static int by_count_then_word(const void *a, const void *b)
{
    const struct node *x = *(const struct node *const *)a;
    const struct node *y = *(const struct node *const *)b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->word, y->word);
}

/* Sorted copy of the entries; returns a checksum of the top of the ranking. */
__attribute__((noinline)) static uint64_t table_rank(const struct table *t)
{
    struct node **all = xmalloc(t->n_nodes * sizeof(*all));
    size_t n = 0;
    for (size_t i = 0; i < t->n_buckets; i++)
        for (struct node *e = t->buckets[i]; e; e = e->next)
            all[n++] = e;
    qsort(all, n, sizeof(*all), by_count_then_word);
    uint64_t sum = 0;
    for (size_t i = 0; i < n && i < 1000; i++)
        sum = sum * 31 + all[i]->count + hash_str(all[i]->word);
    free(all);
    return sum;
}

/* Frees the entries whose hash is odd, then (all == 1) every entry. */
__attribute__((noinline)) static void table_drop(struct table *t, int all)
{
    for (size_t i = 0; i < t->n_buckets; i++) {
        struct node **pp = &t->buckets[i];
        while (*pp) {
            struct node *e = *pp;
            if (all || (e->hash & 1)) {
                *pp = e->next;
                free(e->word);
                free(e);
                t->n_nodes--;
            } else {
                pp = &e->next;
            }
        }
    }
}

static uint64_t one_round(long words)
{
    struct table t = {.buckets = NULL, .n_buckets = 8, .n_nodes = 0};
    t.buckets = xmalloc(t.n_buckets * sizeof(*t.buckets));
    memset(t.buckets, 0, t.n_buckets * sizeof(*t.buckets));

    for (long i = 0; i < words; i++)
        table_add(&t, word_new());

    /* Look every word up again: regenerate the sequence. */
    uint64_t found = 0;
    uint64_t saved = lcg_state;
    for (long i = 0; i < words / 4; i++) {
        char *w = word_new();
        found += table_find(&t, w, hash_str(w)) != NULL;
        free(w);
    }
    lcg_state = saved;

    uint64_t sum = table_rank(&t) + found + t.n_nodes;
    table_drop(&t, 0);
    sum = sum * 31 + t.n_nodes;
    table_drop(&t, 1);
    free(t.buckets);
    return sum;
}

/* depth frames, then the rounds; see loop.c for why it is written so. */
__attribute__((noinline)) static uint64_t descend(int depth, long rounds, long words)
{
    if (depth <= 1) {
        uint64_t sum = 0;
        for (long r = 0; r < rounds; r++)
            sum = sum * 1000003 + one_round(words);
        return sum;
    }
    uint64_t r = descend(depth - 1, rounds, words);
    __asm__ volatile("" : "+r"(r));
    return r + (uint64_t)depth;
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 8;
    long words = argc > 2 ? atol(argv[2]) : 200000;
    int depth = argc > 3 ? atoi(argv[3]) : 16;

    if (rounds < 0 || words < 1 || depth < 1 || depth > 10000) {
        fprintf(stderr, "usage: work [ROUNDS [WORDS [DEPTH]]]\n");
        return 2;
    }
    lcg_state = 42;
    uint64_t sum = descend(depth, rounds, words);
    printf("work: %ld rounds of %ld words at depth %d, checksum %llu\n", rounds, words, depth,
           (unsigned long long)sum);
    return 0;
}
