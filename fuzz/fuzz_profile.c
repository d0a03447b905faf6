/* fuzz_profile.c — libFuzzer target for the profile reader (reporter/profile.c)
 * and the renderers that consume what it builds.
 *
 * Each input is a whole profile. prof_parse() gets it from memory (prof_read
 * only adds fopen and a size cap); a profile it accepts is rendered as text
 * and JSON, folded and not, and written back out as a profile, which must
 * parse again. A crash, a sanitizer report, a leak or a hang is a finding; an
 * error return is the expected answer to bad input. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "profile.h"
#include "render.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct render_opts opts[] = {{0, 0, 0}, {3, 2, 1}};
    struct prof_profile *p = NULL;
    char err[256];

    if (prof_parse((const char *)data, size, &p, err, sizeof err) < 0)
        return 0;
    const struct analysis *a = prof_analysis(p);
    struct rc_source src;
    prof_source(p, &src);
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        char *text = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&text, &len);
        if (out == NULL)
            break;
        render_text(out, a, &src, &opts[i]);
        render_json(out, a, &src, &opts[i]);
        fclose(out);
        free(text);
    }
    /* Written back, it reads again. */
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (out != NULL) {
        int rc = prof_write(out, a, &src, err, sizeof err);
        fclose(out);
        if (rc == 0) {
            struct prof_profile *q = NULL;
            if (prof_parse(text, len, &q, err, sizeof err) < 0)
                abort();
            prof_free(q);
        }
        free(text);
    }
    prof_free(p);
    return 0;
}
