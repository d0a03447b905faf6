/* symbolizer.h — return addresses to functions, files and lines (elfutils libdw).
 *
 * Usage:
 *     struct sym_resolver *r = sym_new();
 *     sym_add_snapshot(r, &snapshot);            // for every module-map epoch
 *     const struct sym_location *loc;
 *     size_t n = sym_resolve(r, epoch, addr, &loc);  // loc[0..n) innermost first
 *     ...
 *     sym_free(r);
 *
 * Each distinct (epoch, address) is resolved once and cached; the returned
 * frames stay valid until sym_free(). Missing debug information is not an
 * error: the frame then names the symbol from .dynsym/.symtab if there is one,
 * and always carries module and module offset so a report can print
 * `module+0xoffset`. Addresses are return addresses: the symbolizer looks up
 * addr-1 so that the line shown is the call, not the instruction after it. */
#ifndef MEMAUDIT_SYMBOLIZER_H
#define MEMAUDIT_SYMBOLIZER_H

#include <stddef.h>
#include <stdint.h>

#include "modmap.h"

struct sym_location {
    const char *function;  /* demangled name, NULL if unknown */
    const char *raw_name;  /* mangled (linkage) name as found, NULL if unknown */
    const char *file;      /* source file, NULL if unknown */
    int line;              /* 0 if unknown */
    const char *module;    /* path of the module, NULL if the address is in none */
    uint64_t module_offset;/* addr - module base */
    uint64_t address;      /* the address as recorded */
    int inlined;           /* 1: inlined into the next entry of the array */
};

struct sym_resolver;

struct sym_resolver *sym_new(void);
void sym_free(struct sym_resolver *r);

/* Register the modules of one module-map snapshot. The resolver copies what it
 * needs. Later snapshots of the same epoch replace earlier ones. Returns 0 or
 * a negative errno. */
int sym_add_snapshot(struct sym_resolver *r, const struct mm_snapshot *s);

/* Resolve addr as captured in epoch. Sets *out to an array of n >= 1 locations,
 * innermost (most inlined) first, the outermost being the real function. */
size_t sym_resolve(struct sym_resolver *r, uint64_t epoch, uint64_t addr,
                   const struct sym_location **out);

/* The files of the process's resolvers outlive them: sym_free() leaves
 * those it opened in a pool, of at most SYM_POOL_MAX_FILES, from which the
 * next resolver that needs one takes it (symbolizer.c). */
#define SYM_POOL_MAX_FILES 32u

/* Open the file of module m, with what resolving an address in it would
 * load (its debug information, their indexes), and give it to the pool:
 * 1 when opened, 0 when it cannot be used (without a warning: the resolver
 * that needs it opens it again, and warns), or a negative errno. Never waits
 * for another thread: for a thread that opens files ahead of the resolvers,
 * at the idle priority (sym_warm.h). */
int sym_pool_open(const struct mm_module *m);
/* In the thread a fault (a SIGBUS: the file was truncated under libelf's
 * mapping) took out of sym_pool_open(): keep what it had built, never to
 * be used or freed (libdw's state half-way through a read cannot be freed
 * safely). Nothing when that thread is not in sym_pool_open(). */
void sym_pool_abandon(void);

/* Demangle a C++ or Rust name with libiberty; returns a malloc'd string, or
 * NULL when name is not mangled. */
char *sym_demangle(const char *name);

#endif
