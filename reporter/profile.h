/* profile.h — the self-contained profile: an analysis with its stacks symbolized.
 *
 * A profile holds everything a report needs and nothing that needs the
 * binaries: the process metadata, the totals, the memory timeline and its
 * summary, every field of every used call site, a shared table of symbolized frames (function, raw name, file,
 * line, module, offset, address, inlined) and each site's stack as lists of
 * frame ids. Its size grows with distinct stacks, never with events. The
 * format (JSON, profile_format_version 1) is docs/profile-format.md.
 *
 * Usage:
 *     // write: from any struct rc_source (a trace and the symbolizer)
 *     rc_source_from_trace(&src, trace, sym);
 *     prof_write(out, &analysis, &src, err, sizeof err);
 *
 *     // read: then render exactly as from the trace
 *     struct prof_profile *p;
 *     if (prof_read(path, &p, err, sizeof err) < 0) ...   // err: one line
 *     struct rc_source src;
 *     prof_source(p, &src);
 *     render_text(out, prof_analysis(p), &src, &opts);
 *     prof_free(p);
 *
 * The reader treats its input as hostile: every type, count and frame id is
 * checked, the file size is capped, and any damage is an error with a
 * one-line reason, never a crash. */
#ifndef MEMAUDIT_PROFILE_H
#define MEMAUDIT_PROFILE_H

#include <stddef.h>
#include <stdio.h>

#include "analysis.h"
#include "render_common.h"

#define PROF_FORMAT_VERSION 1
/* The largest profile file read (it is parsed whole). */
#define PROF_MAX_BYTES (1024ull << 20)

struct prof_profile;

/* Write a's totals and used sites, with every frame of their stacks taken
 * from src (all of them: folding happens when a report is rendered), to out.
 * Returns 0, or a negative errno with a one-line reason in err (-EFBIG: the
 * JSON would be larger than PROF_MAX_BYTES, which no reader takes; nothing is
 * written then). */
int prof_write(FILE *out, const struct analysis *a, const struct rc_source *src, char *err,
               size_t errlen);
/* prof_write(), reporting the sites written (and their stacks symbolized) of
 * a->n_sites to progress (NULL: none) every PROF_PROGRESS_SITES ids; with
 * flags PROF_ZSTD, the JSON as one zstd frame (docs/profile-format.md). */
#define PROF_PROGRESS_SITES 256u
#define PROF_ZSTD 1u
int prof_write_progress(FILE *out, const struct analysis *a, const struct rc_source *src,
                        const struct an_progress *progress, unsigned flags, char *err,
                        size_t errlen);

/* Read a profile from path, or parse one from text[0..len): its JSON, or one
 * zstd frame of it (PROF_ZSTD). Returns 0, or a negative errno with a
 * one-line reason (without the file name) in err. */
int prof_read(const char *path, struct prof_profile **out, char *err, size_t errlen);
int prof_parse(const char *text, size_t len, struct prof_profile **out, char *err,
               size_t errlen);
void prof_free(struct prof_profile *p);

/* The analysis it holds (trace NULL; sites renumbered densely in the order of
 * their stack ids, 0 staying 0) and a source of its process and stacks. Both
 * live as long as p. */
const struct analysis *prof_analysis(const struct prof_profile *p);
void prof_source(const struct prof_profile *p, struct rc_source *src);

/* 1 if the file starts like a profile rather than a trace ('{' after
 * optional white space, or a zstd frame's magic); 0 otherwise. For choosing a
 * reader, not validation. */
int prof_sniff(const void *head, size_t len);

/* For the unit test: the offset of the first byte of struct an_site or
 * struct an_totals that the profile neither writes nor deliberately skips
 * (a field added to the analysis but not to profile.c), or -1 if none. */
long prof_unlisted_site_byte(void);
long prof_unlisted_totals_byte(void);
long prof_unlisted_sample_byte(void);
long prof_unlisted_memory_byte(void);
/* struct an_phase (struct an_phase_site: 100000 + byte; an_phase_span: 200000 + byte)
 * and struct an_error. */
long prof_unlisted_phase_byte(void);
long prof_unlisted_error_byte(void);

#endif
