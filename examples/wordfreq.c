/* wordfreq.c — the program `make demo` records: it counts the words of a text
 * and prints the most frequent ones.
 *
 * It allocates the way ordinary C programs do, including the habits a heap audit
 * is meant to find, each in a function of its own so that the report can name it:
 *
 *   tokenize()      strndup()s every word although most words are repeats
 *                   (many identical strings: a candidate for interning);
 *   tokens_push()   grows its array by realloc, one element at a time
 *                   (20,000 reallocs where a reserve or doubling needs ~15);
 *   table_grow()    the hash table doubles its buckets as it fills (fine);
 *   positions_add() every word keeps the list of where it occurs, a small
 *                   array of its own grown by doubling from 2 entries: a
 *                   collection nested in each table entry, so hundreds of tiny
 *                   blocks whose allocator overhead rivals their size;
 *   normalize()     mallocs a scratch copy of each word and frees it right away
 *                   (temporary allocations: a stack buffer would do);
 *   load_config()   the config it returns is never freed (a leak of 2 blocks);
 *   cache_insert()  overwrites the slot of an older entry without freeing it
 *                   (a leak of every evicted entry).
 *
 * main() marks its phases with memaudit.h (generate, tokenize, count, rank,
 * clean up), so the report breaks every figure down by phase; without the
 * recorder the marks do nothing.
 *
 * Everything is deterministic: the text comes from a generator with a fixed seed,
 * so every run with the same argument makes the same calls, in the same order.
 * With the default argument the program's own leaks are 2 blocks of 25 bytes
 * from load_config() and 5,806 blocks of 94,586 bytes from cache_insert()
 * (memcheck agrees: "in use at exit: 94,611 bytes in 5,808 blocks").
 *
 * usage: wordfreq [WORDS]     (WORDS defaults to 20000)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memaudit.h"

#define DEFAULT_WORDS 20000
#define VOCABULARY 400  /* distinct words the generator draws from */
#define CACHE_SLOTS 256 /* lookup cache in front of the hash table */

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL) {
        fprintf(stderr, "wordfreq: out of memory\n");
        exit(1);
    }
    return p;
}

/* --- A deterministic text ------------------------------------------------ */

static uint32_t rng_state = 0x9e3779b9u;

/* xorshift32: the same sequence on every run and every machine. */
static uint32_t rng_next(void)
{
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    rng_state = x;
    return x;
}

/* A growable text buffer that doubles its capacity: the right way to grow,
 * for the report to contrast with tokens_push(). */
struct text {
    char *data;
    size_t len, cap;
};

static void text_append(struct text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (t->len + n + 1 > cap)
            cap *= 2;
        char *p = realloc(t->data, cap);
        if (p == NULL) {
            fprintf(stderr, "wordfreq: out of memory\n");
            exit(1);
        }
        t->data = p;
        t->cap = cap;
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}

/* Make a vocabulary of pronounceable pseudo-words, then a text of n_words of
 * them in sentences: a skewed choice (small indexes far more often, as in real
 * text), a capital at the start of each sentence, commas and full stops. */
static void generate_text(struct text *t, unsigned n_words)
{
    static const char *const syllables[] = {
        "ka",  "lo",  "mi",  "ne",  "ru",  "sa",  "ti",  "vo",  "ze",  "bra",
        "chi", "dor", "fen", "gal", "hup", "jin", "kel", "mor", "nax", "pil",
    };
    const unsigned n_syl = sizeof syllables / sizeof syllables[0];
    static char vocab[VOCABULARY][20];

    for (unsigned i = 0; i < VOCABULARY; i++) {
        unsigned parts = 1 + rng_next() % 4;
        vocab[i][0] = '\0';
        for (unsigned k = 0; k < parts; k++)
            strcat(vocab[i], syllables[rng_next() % n_syl]);
    }

    unsigned sentence_left = 0;
    for (unsigned w = 0; w < n_words; w++) {
        uint32_t a = rng_next() % VOCABULARY, b = rng_next() % VOCABULARY;
        const char *word = vocab[a * b / VOCABULARY];
        char first[2] = {word[0], '\0'};
        int starts_sentence = sentence_left == 0;

        if (starts_sentence) {
            sentence_left = 5 + rng_next() % 11;
            first[0] = (char)(word[0] - 'a' + 'A');
        }
        if (w > 0)
            text_append(t, " ", 1);
        text_append(t, first, 1);
        text_append(t, word + 1, strlen(word + 1));
        sentence_left--;
        if (sentence_left == 0 || w + 1 == n_words)
            text_append(t, ".", 1);
        else if (rng_next() % 9 == 0)
            text_append(t, ",", 1);
    }
}

/* --- Tokens: one strdup'd string per word ---------------------------------- */

struct tokens {
    char **items;
    size_t n;
};

/* Grows by exactly one slot per word: a realloc per call. */
static void tokens_push(struct tokens *t, char *word)
{
    char **items = realloc(t->items, (t->n + 1) * sizeof *items);
    if (items == NULL) {
        fprintf(stderr, "wordfreq: out of memory\n");
        exit(1);
    }
    t->items = items;
    t->items[t->n++] = word;
}

static int is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Split text into words; each word becomes its own heap string, repeats too. */
static void tokenize(const char *text, struct tokens *out)
{
    const char *p = text;
    while (*p != '\0') {
        while (*p != '\0' && !is_letter(*p))
            p++;
        const char *start = p;
        while (is_letter(*p))
            p++;
        if (p > start) {
            char *word = strndup(start, (size_t)(p - start));
            if (word == NULL) {
                fprintf(stderr, "wordfreq: out of memory\n");
                exit(1);
            }
            tokens_push(out, word);
        }
    }
}

static void tokens_free(struct tokens *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->items[i]);
    free(t->items);
}

/* A lower-case copy of word, on the heap; the caller frees it. */
static char *normalize(const char *word)
{
    size_t n = strlen(word);
    char *s = xmalloc(n + 1);
    for (size_t i = 0; i <= n; i++) {
        char c = word[i];
        s[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    return s;
}

/* --- Hash table of counts ------------------------------------------------- */

struct node {
    struct node *next;
    uint32_t hash;
    unsigned count;
    uint32_t *positions; /* where the word occurs, in token order */
    unsigned n_positions, cap_positions;
    char word[];
};

/* Append token index i to the node's positions, doubling the array when full. */
static void positions_add(struct node *e, uint32_t i)
{
    if (e->n_positions == e->cap_positions) {
        unsigned cap = e->cap_positions ? e->cap_positions * 2 : 2;
        uint32_t *p = realloc(e->positions, cap * sizeof *p);
        if (p == NULL) {
            fprintf(stderr, "wordfreq: out of memory\n");
            exit(1);
        }
        e->positions = p;
        e->cap_positions = cap;
    }
    e->positions[e->n_positions++] = i;
}

struct table {
    struct node **buckets;
    size_t n_buckets, n_nodes;
};

static uint32_t hash_word(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s != '\0'; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static void table_init(struct table *t)
{
    t->n_buckets = 16;
    t->n_nodes = 0;
    t->buckets = calloc(t->n_buckets, sizeof *t->buckets);
    if (t->buckets == NULL) {
        fprintf(stderr, "wordfreq: out of memory\n");
        exit(1);
    }
}

/* Double the buckets and rehash: a calloc of the new array, a free of the old. */
static void table_grow(struct table *t)
{
    size_t n = t->n_buckets * 2;
    struct node **b = calloc(n, sizeof *b);
    if (b == NULL) {
        fprintf(stderr, "wordfreq: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < t->n_buckets; i++) {
        struct node *e = t->buckets[i];
        while (e != NULL) {
            struct node *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->n_buckets = n;
}

/* The node for word, created with count 0 if it is new. */
static struct node *table_get(struct table *t, const char *word, uint32_t hash)
{
    struct node **slot = &t->buckets[hash & (t->n_buckets - 1)];
    for (struct node *e = *slot; e != NULL; e = e->next)
        if (e->hash == hash && strcmp(e->word, word) == 0)
            return e;

    size_t len = strlen(word);
    struct node *e = xmalloc(sizeof *e + len + 1);
    e->hash = hash;
    e->count = 0;
    e->positions = NULL;
    e->n_positions = e->cap_positions = 0;
    memcpy(e->word, word, len + 1);
    e->next = *slot;
    *slot = e;
    if (++t->n_nodes > t->n_buckets / 4 * 3)
        table_grow(t);
    return e;
}

static void table_free(struct table *t)
{
    for (size_t i = 0; i < t->n_buckets; i++) {
        struct node *e = t->buckets[i];
        while (e != NULL) {
            struct node *next = e->next;
            free(e->positions);
            free(e);
            e = next;
        }
    }
    free(t->buckets);
}

/* --- A lookup cache in front of the table (with a bug) -------------------- */

struct cache_entry {
    struct node *node;
    char word[];
};

static struct cache_entry *cache[CACHE_SLOTS];

static struct node *cache_lookup(const char *word, uint32_t hash)
{
    struct cache_entry *c = cache[(hash >> 16) % CACHE_SLOTS];
    if (c != NULL && strcmp(c->word, word) == 0)
        return c->node;
    return NULL;
}

/* BUG (deliberate): the entry already in the slot is overwritten, not freed. */
static void cache_insert(const char *word, uint32_t hash, struct node *node)
{
    size_t len = strlen(word);
    struct cache_entry *c = xmalloc(sizeof *c + len + 1);
    c->node = node;
    memcpy(c->word, word, len + 1);
    cache[(hash >> 16) % CACHE_SLOTS] = c;
}

static void cache_clear(void)
{
    for (unsigned i = 0; i < CACHE_SLOTS; i++) {
        free(cache[i]);
        cache[i] = NULL;
    }
}

/* --- Configuration -------------------------------------------------------- */

struct config {
    unsigned min_len; /* shorter words are not ranked */
    unsigned top;     /* how many words the summary names */
    char *title;
};

/* Returns a heap config that the caller owns; main() never frees it. */
static struct config *load_config(void)
{
    struct config *c = xmalloc(sizeof *c);
    c->min_len = 3;
    c->top = 3;
    c->title = strdup("wordfreq");
    if (c->title == NULL) {
        fprintf(stderr, "wordfreq: out of memory\n");
        exit(1);
    }
    return c;
}

/* --- Ranking --------------------------------------------------------------- */

static int by_count_then_word(const void *pa, const void *pb)
{
    const struct node *a = *(struct node *const *)pa, *b = *(struct node *const *)pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return strcmp(a->word, b->word);
}

int main(int argc, char **argv)
{
    unsigned n_words = DEFAULT_WORDS;
    if (argc > 1) {
        char *end;
        unsigned long v = strtoul(argv[1], &end, 10);
        if (*end != '\0' || v == 0 || v > 10000000) {
            fprintf(stderr, "usage: wordfreq [WORDS]   (1..10000000, default %d)\n", DEFAULT_WORDS);
            return 2;
        }
        n_words = (unsigned)v;
    }

    memaudit_phase("generate");
    struct config *cfg = load_config();

    struct text text = {0};
    generate_text(&text, n_words);

    memaudit_phase("tokenize");
    struct tokens tokens = {0};
    tokenize(text.data, &tokens);

    memaudit_phase("count");
    struct table table;
    table_init(&table);
    for (size_t i = 0; i < tokens.n; i++) {
        char *key = normalize(tokens.items[i]);
        uint32_t hash = hash_word(key);
        struct node *node = cache_lookup(key, hash);
        if (node == NULL) {
            node = table_get(&table, key, hash);
            cache_insert(key, hash, node);
        }
        node->count++;
        positions_add(node, (uint32_t)i);
        free(key);
    }

    memaudit_phase("rank");
    struct node **ranked = xmalloc((table.n_nodes ? table.n_nodes : 1) * sizeof *ranked);
    size_t n_ranked = 0;
    for (size_t i = 0; i < table.n_buckets; i++)
        for (struct node *e = table.buckets[i]; e != NULL; e = e->next)
            if (strlen(e->word) >= cfg->min_len)
                ranked[n_ranked++] = e;
    qsort(ranked, n_ranked, sizeof *ranked, by_count_then_word);

    printf("%s: %zu words, %zu distinct; most frequent:", cfg->title, tokens.n, table.n_nodes);
    for (size_t i = 0; i < n_ranked && i < cfg->top; i++)
        printf("%s %s %u", i ? "," : "", ranked[i]->word, ranked[i]->count);
    printf("\n");

    memaudit_phase("clean up");
    free(ranked);
    cache_clear();
    table_free(&table);
    tokens_free(&tokens);
    free(text.data);
    return 0; /* cfg and the evicted cache entries are still allocated: the leaks */
}
