/* json_common.h — what the renderers that build JSON with cJSON share (the
 * JSON report and the data of the HTML pages): adding members that report
 * -ENOMEM instead of crashing, and the "process" and "summary" objects. */
#ifndef MEMAUDIT_JSON_COMMON_H
#define MEMAUDIT_JSON_COMMON_H

#include <cjson/cJSON.h>

#include "analysis.h"
#include "render_common.h"

/* Add a member; 0 or -ENOMEM. Doubles hold integers exactly up to 2^53, far
 * above any byte or event count a trace can reach. A NULL string is null. */
int json_num(cJSON *obj, const char *key, double v);
int json_str(cJSON *obj, const char *key, const char *s);
int json_bool(cJSON *obj, const char *key, int v);
/* Append item to array; on failure item is freed here. */
int json_append(cJSON *array, cJSON *item);

/* "process": the run's identity and how it ended (docs/usage.md, JSON). */
int json_add_process(cJSON *root, const struct analysis *a, const struct rc_process *pr);
/* "summary": the totals of the analysis, with rates. Returns the object
 * through *out when out is not NULL, for a caller that adds its own. */
int json_add_summary(cJSON *root, const struct analysis *a, cJSON **out);

#endif
