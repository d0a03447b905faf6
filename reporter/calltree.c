/* calltree.c — merge the stacks of all call sites into one call tree (calltree.h).
 *
 * Two open-addressing hash tables (linear probing, power-of-two sizes, kept at
 * most half full) find a node by (parent, label) and a label by its text, so
 * building costs O(frames) whatever the shape of the tree. */
#include "calltree.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char *const weight_names[CT_WEIGHTS] = {"allocations", "bytes", "peak", "leaked",
                                                     "temporary"};

const char *ct_weight_name(enum ct_weight w)
{
    return (unsigned)w < CT_WEIGHTS ? weight_names[w] : "?";
}

int ct_weight_parse(const char *name)
{
    for (int w = 0; w < CT_WEIGHTS; w++)
        if (strcmp(name, weight_names[w]) == 0)
            return w;
    return -1;
}

uint64_t ct_site_weight(const struct an_site *s, enum ct_weight w)
{
    switch (w) {
    case CT_ALLOCATIONS:
        return s->allocations;
    case CT_BYTES:
        return s->bytes_allocated;
    case CT_PEAK:
        return s->peak_bytes;
    case CT_LEAKED:
        return s->runtime || s->suppressed ? 0 : s->live_bytes;
    case CT_TEMPORARY:
        return s->temporary;
    default:
        return 0;
    }
}

/* FNV-1a, then a final mix so that the low bits (the slot) depend on all. */
static uint64_t hash_bytes(const char *s, uint64_t h)
{
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static uint64_t node_hash(uint32_t parent, uint32_t label, uint32_t module)
{
    return mix((((uint64_t)parent << 32) ^ label) * 0x9e3779b97f4a7c15ull + module);
}

static uint64_t label_hash(const char *s)
{
    return mix(hash_bytes(s, 0xcbf29ce484222325ull));
}

/* Grow table *slots (mask *mask) to hold twice as many, rehashing with hash_of. */
static int table_grow(uint32_t **slots, size_t *mask, size_t used,
                      uint64_t (*hash_of)(const struct ct_tree *, uint32_t),
                      const struct ct_tree *t)
{
    size_t size = *mask + 1;
    uint32_t *fresh;

    if (used * 2 < size)
        return 0;
    size *= 2;
    fresh = malloc(size * sizeof(*fresh));
    if (fresh == NULL)
        return -ENOMEM;
    memset(fresh, 0xff, size * sizeof(*fresh)); /* CT_NONE */
    for (size_t i = 0; i <= *mask; i++) {
        uint32_t v = (*slots)[i];
        if (v == CT_NONE)
            continue;
        size_t j = hash_of(t, v) & (size - 1);
        while (fresh[j] != CT_NONE)
            j = (j + 1) & (size - 1);
        fresh[j] = v;
    }
    free(*slots);
    *slots = fresh;
    *mask = size - 1;
    return 0;
}

static uint64_t node_hash_of(const struct ct_tree *t, uint32_t i)
{
    return node_hash(t->nodes[i].parent, t->nodes[i].label, t->nodes[i].module);
}

static uint64_t label_hash_of(const struct ct_tree *t, uint32_t i)
{
    return label_hash(t->labels[i]);
}

/* The label of text, added if new; CT_NONE when out of memory. */
uint32_t ct_intern(struct ct_tree *t, const char *text)
{
    size_t j = label_hash(text) & t->label_mask;

    for (; t->label_slots[j] != CT_NONE; j = (j + 1) & t->label_mask)
        if (strcmp(t->labels[t->label_slots[j]], text) == 0)
            return t->label_slots[j];
    if (t->n_labels == t->cap_labels) {
        size_t cap = t->cap_labels ? t->cap_labels * 2 : 256;
        char **p = realloc(t->labels, cap * sizeof(*p));
        if (p == NULL)
            return CT_NONE;
        t->labels = p;
        t->cap_labels = cap;
    }
    char *copy = strdup(text);
    if (copy == NULL)
        return CT_NONE;
    uint32_t id = (uint32_t)t->n_labels++;
    t->labels[id] = copy;
    t->label_slots[j] = id;
    if (table_grow(&t->label_slots, &t->label_mask, t->n_labels, label_hash_of, t) < 0)
        return CT_NONE;
    return id;
}

/* The child of parent labelled label in module, added if new; CT_NONE when
 * out of memory. */
static uint32_t node_child(struct ct_tree *t, uint32_t parent, uint32_t label, uint32_t module,
                           const struct sym_location *loc)
{
    size_t j = node_hash(parent, label, module) & t->node_mask;

    for (; t->node_slots[j] != CT_NONE; j = (j + 1) & t->node_mask) {
        const struct ct_node *n = &t->nodes[t->node_slots[j]];
        if (n->parent == parent && n->label == label && n->module == module)
            return t->node_slots[j];
    }
    if (t->n_nodes == t->cap_nodes) {
        size_t cap = t->cap_nodes ? t->cap_nodes * 2 : 1024;
        struct ct_node *p = realloc(t->nodes, cap * sizeof(*p));
        if (p == NULL)
            return CT_NONE;
        t->nodes = p;
        if (t->base != NULL) {
            uint64_t(*b)[CT_WEIGHTS] = realloc(t->base, cap * sizeof(*b));
            if (b == NULL)
                return CT_NONE; /* nodes grew, cap_nodes did not: the next try grows both */
            t->base = b;
        }
        t->cap_nodes = cap;
    }
    uint32_t id = (uint32_t)t->n_nodes++;
    memset(&t->nodes[id], 0, sizeof(t->nodes[id]));
    if (t->base != NULL)
        memset(t->base[id], 0, sizeof(t->base[id]));
    t->nodes[id].parent = parent;
    t->nodes[id].label = label;
    t->nodes[id].module = module;
    t->nodes[id].loc = loc;
    t->node_slots[j] = id;
    if (table_grow(&t->node_slots, &t->node_mask, t->n_nodes, node_hash_of, t) < 0)
        return CT_NONE;
    return id;
}

/* What a location is called in the tree: its function, else where it is. */
static void location_label(char *buf, size_t len, const struct sym_location *loc,
                           uint64_t address)
{
    const char *name = loc != NULL ? (loc->function ? loc->function : loc->raw_name) : NULL;
    const char *module = loc != NULL && loc->module != NULL && loc->module[0] != '\0'
                             ? loc->module
                             : NULL;

    if (name != NULL)
        snprintf(buf, len, "%s", name);
    else if (module != NULL)
        snprintf(buf, len, "%s+0x%" PRIx64, rc_basename(module), loc->module_offset);
    else
        snprintf(buf, len, "0x%" PRIx64, address);
}

/* The interned base name of loc's module, CT_NONE if none (or out of memory,
 * which the label's interning then reports). */
static uint32_t location_module(struct ct_tree *t, const struct sym_location *loc)
{
    if (loc == NULL || loc->module == NULL || loc->module[0] == '\0')
        return CT_NONE;
    return ct_intern(t, rc_basename(loc->module));
}

/* Add site s of a run to the tree: into w and site_node, or with base set
 * (a diff tree's first run) into base and base_site_node. */
static int add_site(struct ct_tree *t, const struct an_site *s, const struct rc_source *src,
                    int all_frames, int base)
{
    struct rc_stack st = {0};
    char label[1024];
    uint32_t node = CT_ROOT;
    int rc = rc_stack_resolve(src, s->stack, all_frames, 0, &st);

    if (rc < 0)
        goto out;
    rc = -ENOMEM;
    if (st.n == 0) {
        /* Still a place in the tree, so that its weight is not lost. */
        uint32_t l = ct_intern(t, s->stack == 0 ? "[no stack recorded]" : "[unknown stack]");
        if (l == CT_NONE || (node = node_child(t, node, l, CT_NONE, NULL)) == CT_NONE)
            goto out;
    }
    /* Outermost frame first; in a frame, the real function before what it inlined. */
    for (size_t i = st.n; i-- > 0;) {
        const struct rc_frame *f = &st.frames[i];
        size_t nloc = f->n != 0 ? f->n : 1;
        for (size_t j = nloc; j-- > 0;) {
            const struct sym_location *loc = f->n != 0 ? &f->locs[j] : NULL;
            location_label(label, sizeof(label), loc, f->address);
            uint32_t m = location_module(t, loc);
            uint32_t l = ct_intern(t, label);
            if (l == CT_NONE || (node = node_child(t, node, l, m, loc)) == CT_NONE)
                goto out;
        }
    }
    (base ? t->base_site_node : t->site_node)[s->stack] = node;
    for (uint32_t n = node; n != CT_NONE; n = t->nodes[n].parent)
        for (int w = 0; w < CT_WEIGHTS; w++)
            (base ? t->base[n] : t->nodes[n].w)[w] += ct_site_weight(s, (enum ct_weight)w);
    rc = 0;
out:
    rc_stack_fini(&st);
    return rc;
}

/* Site-to-node map of n entries, all CT_NONE; NULL when out of memory. */
static uint32_t *site_map_new(uint32_t n)
{
    uint32_t *map = malloc((n ? n : 1) * sizeof(*map));
    if (map != NULL)
        memset(map, 0xff, (n ? n : 1) * sizeof(*map));
    return map;
}

/* An empty tree (the root only) for runs of n_sites sites; with base, room
 * for a first run's weights too. */
static int tree_init(struct ct_tree *t, uint32_t n_sites, int base)
{
    memset(t, 0, sizeof(*t));
    t->node_mask = 1023;
    t->label_mask = 255;
    t->node_slots = malloc((t->node_mask + 1) * sizeof(uint32_t));
    t->label_slots = malloc((t->label_mask + 1) * sizeof(uint32_t));
    t->site_node = site_map_new(n_sites);
    if (t->node_slots == NULL || t->label_slots == NULL || t->site_node == NULL)
        return -ENOMEM;
    memset(t->node_slots, 0xff, (t->node_mask + 1) * sizeof(uint32_t));
    memset(t->label_slots, 0xff, (t->label_mask + 1) * sizeof(uint32_t));
    t->n_sites = n_sites;

    /* The root: not in the node table (nothing looks it up by label). */
    uint32_t all = ct_intern(t, "all");
    if (all == CT_NONE)
        return -ENOMEM;
    t->cap_nodes = 1024;
    t->nodes = calloc(t->cap_nodes, sizeof(*t->nodes));
    if (t->nodes == NULL)
        return -ENOMEM;
    if (base && (t->base = calloc(t->cap_nodes, sizeof(*t->base))) == NULL)
        return -ENOMEM;
    t->nodes[0].parent = CT_NONE;
    t->nodes[0].label = all;
    t->nodes[0].module = CT_NONE;
    t->n_nodes = 1;
    return 0;
}

static int add_run(struct ct_tree *t, const struct analysis *a, const struct rc_source *src,
                   int all_frames, int base)
{
    for (uint32_t i = 0; i < a->n_sites; i++) {
        const struct an_site *s = &a->sites[i];
        if (s->allocations == 0 && s->frees == 0 && s->failed == 0)
            continue;
        int rc = add_site(t, s, src, all_frames, base);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int ct_build(struct ct_tree *t, const struct analysis *a, const struct rc_source *src,
             int all_frames)
{
    int rc = tree_init(t, a->n_sites, 0);
    return rc < 0 ? rc : add_run(t, a, src, all_frames, 0);
}

int ct_build_diff(struct ct_tree *t, const struct analysis *before,
                  const struct rc_source *src_before, const struct analysis *after,
                  const struct rc_source *src_after, int all_frames)
{
    int rc = tree_init(t, after->n_sites, 1);
    if (rc < 0)
        return rc;
    t->base_site_node = site_map_new(before->n_sites);
    if (t->base_site_node == NULL)
        return -ENOMEM;
    t->n_base_sites = before->n_sites;
    rc = add_run(t, before, src_before, all_frames, 1);
    return rc < 0 ? rc : add_run(t, after, src_after, all_frames, 0);
}

void ct_fini(struct ct_tree *t)
{
    for (size_t i = 0; i < t->n_labels; i++)
        free(t->labels[i]);
    free(t->labels);
    free(t->nodes);
    free(t->site_node);
    free(t->base);
    free(t->base_site_node);
    free(t->node_slots);
    free(t->label_slots);
    memset(t, 0, sizeof(*t));
}

/* One label as a folded frame: no ';' (the separator) and no line break. */
static void folded_label(FILE *out, const char *s)
{
    for (; *s != '\0'; s++)
        fputc(*s == ';' ? ':' : (*s == '\n' || *s == '\r') ? ' ' : *s, out);
}

int ct_write_folded(FILE *out, const struct ct_tree *t, enum ct_weight w)
{
    uint64_t *self = malloc((t->n_nodes ? t->n_nodes : 1) * sizeof(*self));
    uint32_t *path = NULL;
    size_t path_cap = 0;
    int rc = -ENOMEM;

    if (self == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < t->n_nodes; i++)
        self[i] = t->nodes[i].w[w];
    for (size_t i = t->n_nodes; i-- > 1;)
        self[t->nodes[i].parent] -= t->nodes[i].w[w];
    /* The root's own weight has no frame to stand on; it is 0 by construction
     * (every site has at least one node), so only i >= 1 is written. */
    for (size_t i = 1; i < t->n_nodes; i++) {
        if (self[i] == 0)
            continue;
        size_t depth = 0;
        for (uint32_t n = (uint32_t)i; n != CT_ROOT; n = t->nodes[n].parent) {
            if (depth == path_cap) {
                size_t cap = path_cap ? path_cap * 2 : 64;
                uint32_t *p = realloc(path, cap * sizeof(*p));
                if (p == NULL)
                    goto out;
                path = p;
                path_cap = cap;
            }
            path[depth++] = n;
        }
        while (depth-- > 0) {
            folded_label(out, t->labels[t->nodes[path[depth]].label]);
            if (depth > 0)
                fputc(';', out);
        }
        fprintf(out, " %" PRIu64 "\n", self[i]);
    }
    rc = ferror(out) || fflush(out) != 0 ? -EIO : 0;
out:
    free(self);
    free(path);
    return rc;
}
