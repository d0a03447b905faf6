/* modmap.h — the module map of a recorded process, as the offline tools see it.
 *
 * The recorder logs the loaded modules (path, build id, load address, PT_LOAD
 * segments) at start and after every dlopen/dlclose. Each snapshot belongs to
 * an epoch: the recorder bumps the epoch whenever a module may have gone away,
 * and every recorded stack names the epoch it was captured in, so an address
 * is always resolved against the modules that were mapped when it was taken. */
#ifndef MEMAUDIT_MODMAP_H
#define MEMAUDIT_MODMAP_H

#include <stddef.h>
#include <stdint.h>

struct mm_segment {
    uint64_t vaddr; /* p_vaddr: link-time address, add the module's base */
    uint64_t memsz;
    uint32_t flags; /* TR_SEG_* */
};

/* A function the recorder saved from a module's image because its file was
 * deleted (SYMBOLS record): the symbolizer's last resort for that module. */
struct mm_symbol {
    uint64_t value;          /* link-time address (st_value): add the module's base */
    uint64_t size;           /* 0 when unknown */
    const char *name;        /* as in the symbol table (mangled) */
};

struct mm_module {
    char *path;              /* absolute path, or "" when unknown */
    uint64_t base;           /* load bias (dlpi_addr) */
    uint8_t build_id[64];
    uint32_t build_id_len;   /* 0 when the module has none */
    uint32_t n_segments;
    struct mm_segment *segments;
    /* Borrowed, not freed with the snapshot: saved symbols, by value, owned by
     * whoever made the snapshot (the trace reader); NULL, 0 when none. */
    const struct mm_symbol *symbols;
    uint32_t n_symbols;
};

/* One snapshot of the loaded modules. */
struct mm_snapshot {
    uint64_t epoch;
    uint64_t time_ns;        /* trace timestamp of the snapshot */
    uint32_t n_modules;
    struct mm_module *modules;
};

/* Find the module of snapshot s whose segments contain addr; NULL if none. */
const struct mm_module *mm_find(const struct mm_snapshot *s, uint64_t addr);

/* Free what a snapshot owns (not s itself). */
void mm_snapshot_fini(struct mm_snapshot *s);

/* Deep copy of src into dst, every part malloc'd (mm_snapshot_fini() frees
 * it), without the borrowed saved symbols. 0, or -ENOMEM, or -EINVAL for a
 * snapshot that breaks trace_format.h's caps (dst then owns nothing). */
int mm_snapshot_copy(struct mm_snapshot *dst, const struct mm_snapshot *src);

#endif
