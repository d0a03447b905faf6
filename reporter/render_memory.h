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

/* One line under the totals: peak RSS and fragmentation there; nothing when
 * the trace has no samples. */
void rm_memory_text(FILE *out, const struct analysis *a);

#endif
