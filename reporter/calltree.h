/* calltree.h — the call tree of all call sites, for flame graphs and folded stacks.
 *
 * Every used site's stack is walked outermost frame first (inlined locations
 * as frames of their own, in call order) and merged into one tree under a
 * root: a node is one frame below one parent, told apart by its label
 * ("function", or "module+0xoff" without symbols) and its module's base name
 * (the key of compare.h: no lines, no addresses, so a rebuilt binary's frames
 * are the same frames). Each node carries five weights (enum ct_weight), the
 * sums over the sites whose stacks pass through it; a node's self weight is
 * its weight minus its children's.
 *
 * A tree of two runs (ct_build_diff, memaudit diff) merges both runs' stacks
 * into one tree: w holds the second run's weights and base the first's, so
 * a path of either run has its node, with zeros where the other lacks it.
 *
 * Cost: one hash lookup per frame of every site, memory O(nodes + distinct
 * labels); nodes are numbered in creation order, so a parent's index is
 * always below its children's. Names are borrowed from the source, which
 * must outlive the tree. */
#ifndef MEMAUDIT_CALLTREE_H
#define MEMAUDIT_CALLTREE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "analysis.h"
#include "render_common.h"

/* What a flame graph or a folded line can weigh (docs/usage.md). */
enum ct_weight {
    CT_ALLOCATIONS, /* an_site.allocations */
    CT_BYTES,       /* an_site.bytes_allocated */
    CT_PEAK,        /* an_site.peak_bytes: held at the global peak */
    CT_LEAKED,      /* an_site.live_bytes of the program's own sites (not the runtime's) */
    CT_TEMPORARY,   /* an_site.temporary */
    CT_WEIGHTS
};

/* "allocations", "bytes", "peak", "leaked", "temporary"; and back (-1 if none). */
const char *ct_weight_name(enum ct_weight w);
int ct_weight_parse(const char *name);
/* The weight w of one site. */
uint64_t ct_site_weight(const struct an_site *s, enum ct_weight w);

#define CT_ROOT 0u  /* node 0: the root, label "all" */
#define CT_NONE UINT32_MAX

struct ct_node {
    uint32_t parent; /* CT_NONE for the root */
    uint32_t label;  /* index into labels */
    uint32_t module; /* index into labels: the module's base name; CT_NONE if none */
    const struct sym_location *loc; /* first location seen for it, NULL if none */
    uint64_t w[CT_WEIGHTS];
};

struct ct_tree {
    struct ct_node *nodes;
    size_t n_nodes, cap_nodes;
    char **labels; /* malloc'd, interned */
    size_t n_labels, cap_labels;
    uint32_t *site_node; /* [n_sites]: a site's innermost node, CT_NONE if unused */
    uint32_t n_sites;
    /* ct_build_diff only (NULL otherwise): the first run's weights, [cap_nodes],
     * and its sites' nodes, [n_base_sites]. */
    uint64_t (*base)[CT_WEIGHTS];
    uint32_t *base_site_node;
    uint32_t n_base_sites;
    /* hash tables: (parent, label) -> node, label text -> label */
    uint32_t *node_slots, *label_slots;
    size_t node_mask, label_mask;
};

/* Build the tree of every used site of a. With all_frames the allocator's
 * own frames stay in. Returns 0 or -ENOMEM; ct_fini() t either way. */
int ct_build(struct ct_tree *t, const struct analysis *a, const struct rc_source *src,
             int all_frames);
/* Build the tree of two runs: before's weights in base, after's in w.
 * Returns 0 or -ENOMEM; ct_fini() t either way. */
int ct_build_diff(struct ct_tree *t, const struct analysis *before,
                  const struct rc_source *src_before, const struct analysis *after,
                  const struct rc_source *src_after, int all_frames);
void ct_fini(struct ct_tree *t);

/* The index of text in t->labels, added if new: labels double as a string
 * table for what else a renderer wants to share (source locations). Returns
 * CT_NONE when out of memory. */
uint32_t ct_intern(struct ct_tree *t, const char *text);

/* Write the tree as folded stacks ("frame;frame;frame weight", outermost
 * first, one line per node with a non-zero self weight w). ';' in a label
 * becomes ':' and a line break a space, so that every line parses. Returns
 * 0 or -EIO. */
int ct_write_folded(FILE *out, const struct ct_tree *t, enum ct_weight w);

#endif
