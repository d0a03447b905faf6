/* render_html.h — what the two HTML pages share (render_html.c defines it):
 * the call tree pruned to the page's budget, written as the blob's "tree"
 * and "pruned", and the page around the blob. memaudit report's page
 * (render_html) and memaudit diff's (render_diff_html.c) use it. */
#ifndef MEMAUDIT_RENDER_HTML_H
#define MEMAUDIT_RENDER_HTML_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "calltree.h"

struct html_tree {
    struct ct_tree ct;
    uint32_t *index;    /* [ct.n_nodes]: index in the page, CT_NONE if pruned */
    size_t kept;        /* nodes in the page */
    size_t pruned;      /* nodes left out that weigh something */
    double share;       /* the pruning threshold, 0 if nothing was pruned */
    uint64_t pruned_w[CT_WEIGHTS]; /* weight of the pruned subtrees (ct's w) */
};

/* Choose the nodes of h->ct the page keeps (all when they fit the budget;
 * a diff tree counts both runs). Returns 0 or -ENOMEM; the caller frees
 * h->index and ct_fini()s h->ct. */
int html_tree_prune(struct html_tree *h);

/* The page's node for site id of the run in w (base 0) or in base (a diff
 * tree's first run, base 1): its own node, or its nearest kept ancestor; -1
 * if the site has none. */
double html_tree_site_node(const struct html_tree *h, uint32_t id, int base);

/* Add "tree" and "pruned" to root (docs/usage.md, "The HTML report"). Call
 * it last: it interns source locations into h->ct's labels. 0 or -ENOMEM. */
int html_add_tree(cJSON *root, struct html_tree *h);

/* Write the page: style, skeleton (the diff page's when diff), root as the
 * data blob (escaped so no string can end its script element), script.
 * Deletes root. Returns 0, -ENOMEM or -EIO. */
int html_write_page(FILE *out, cJSON *root, int diff);

#endif
