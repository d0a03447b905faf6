/* render_memory.h — the memory timeline (periodic samples) in the reports.
 *
 * The text and JSON renderers call these; docs/usage.md describes the output
 * and docs/metrics.md ("Memory over time") the figures. */
#ifndef MEMAUDIT_RENDER_MEMORY_H
#define MEMAUDIT_RENDER_MEMORY_H

#include <cjson/cJSON.h>
#include <stdio.h>

#include "analysis.h"

/* Add "memory" (the summary) and "timeline" (one object per sample) to root.
 * Returns 0 or -ENOMEM. */
int rm_memory_json(cJSON *root, const struct analysis *a);

/* Two lines under the totals: peak RSS and fragmentation there; then the
 * live heap of the samples as a sparkline (rm_sparkline) with the first,
 * highest and last sample's heap. Nothing when the trace has no samples. */
void rm_memory_text(FILE *out, const struct analysis *a);

/* At most this many columns in the sparkline. */
#define RM_SPARK_MAX 60
/* a's samples' live heap as min(samples, RM_SPARK_MAX) columns into buf (NUL
 * terminated; cut short if cap is too small): each column the highest heap
 * of its share of the samples, in eight levels of the highest sample, as the
 * blocks U+2581..U+2588 when utf8, else as "_.:-=+*#". Returns its bytes. */
size_t rm_sparkline(char *buf, size_t cap, const struct analysis *a, int utf8);

/* 1 if the environment's LC_CTYPE (setlocale(LC_CTYPE, "")) is UTF-8. The
 * program's own locale is left as it was. */
int rm_locale_utf8(void);

#endif
