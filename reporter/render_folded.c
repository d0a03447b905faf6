/* render_folded.c — folded stacks ("collapsed", Brendan Gregg's format): one
 * line "outermost;...;innermost weight" per distinct call path with a
 * non-zero self weight, which flamegraph.pl, inferno and speedscope read.
 * The paths are those of the call tree (calltree.h), so two sites whose
 * stacks differ only in lines or addresses are one line. */
#include "render.h"

#include "calltree.h"

int render_folded(FILE *out, const struct analysis *a, const struct rc_source *src,
                  const struct render_opts *o, int weight)
{
    struct ct_tree t;
    int rc = ct_build(&t, a, src, o->all_frames);

    if (rc == 0)
        rc = ct_write_folded(out, &t, (enum ct_weight)weight);
    ct_fini(&t);
    return rc;
}
