/* render.h — turn an analysis into a report: terminal text or JSON (cJSON).
 *
 * Renderers only read the analysis (the numbers) and a struct rc_source (the
 * process and the symbolized stacks, from a trace or a profile); stacks are
 * fetched on demand, so only the stacks a report shows are ever resolved. */
#ifndef MEMAUDIT_RENDER_H
#define MEMAUDIT_RENDER_H

#include <stdio.h>

#include "analysis.h"
#include "render_common.h"

struct render_opts {
    unsigned top;          /* sites per ranked list (default 10) */
    unsigned max_frames;   /* frames printed per stack in text (default 12) */
    int all_frames;        /* 1: keep recorder/allocator frames */
    double work;           /* --work: units of work the run did (0: not given) */
    const char *unit;      /* --unit: what one unit is ("LOC", "1000 requests" ...) */
};

int render_text(FILE *out, const struct analysis *a, const struct rc_source *src,
                const struct render_opts *o);
int render_json(FILE *out, const struct analysis *a, const struct rc_source *src,
                const struct render_opts *o);
/* The audit as a Markdown document (render_md.c). */
int render_md(FILE *out, const struct analysis *a, const struct rc_source *src,
              const struct render_opts *o);
/* One self-contained HTML page with a flame graph (render_html.c). */
int render_html(FILE *out, const struct analysis *a, const struct rc_source *src,
                const struct render_opts *o);
/* Folded stacks ("frame;frame N" lines) weighted by weight, an enum ct_weight
 * of calltree.h (render_folded.c). */
int render_folded(FILE *out, const struct analysis *a, const struct rc_source *src,
                  const struct render_opts *o, int weight);
/* A gzipped pprof profile, profile.proto (render_pprof.c). trace, when the
 * input is one, gives the modules' build ids; NULL for a profile. */
int render_pprof(FILE *out, const struct analysis *a, const struct rc_source *src,
                 const struct render_opts *o, const struct trd_trace *trace);
/* valgrind massif's output format, for ms_print and massif-visualizer
 * (render_massif.c). */
int render_massif(FILE *out, const struct analysis *a, const struct rc_source *src,
                  const struct render_opts *o);

#endif
