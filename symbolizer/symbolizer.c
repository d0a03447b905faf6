/* symbolizer.c — return addresses to functions, files, lines and inline chains.
 *
 * Offline stage (symbolizer). Built on elfutils libdwfl/libdw; see
 * symbolizer.h for the contract. How it is put together:
 *
 * - Files. Every distinct (path, build id) named by any snapshot is one
 *   struct sym_file, opened lazily the first time an address falls in it, and
 *   at most once. Each file gets its own Dwfl, reported at bias 0: a library
 *   loaded at different bases in different epochs (or processes) shares one
 *   Dwfl, and overlapping modules of different epochs never meet in one
 *   address space. A recorded address is translated to the file's own
 *   link-time address space as  addr - module base  (the base is dlpi_addr,
 *   the load bias, so this holds for PIE, non-PIE (base 0) and prelinked
 *   libraries alike). We do not use dwfl_report_elf(..., base, false): with
 *   add_p_vaddr false libdwfl takes BASE as the module's start, not its bias,
 *   which is wrong whenever the first PT_LOAD has a non-zero p_vaddr.
 * - Debug information is found by dwfl_standard_find_debuginfo: the binary
 *   itself, .gnu_debuglink next to it and in .debug/, and
 *   /usr/lib/debug/.build-id/. libdw 0.188 asks libdebuginfod only through
 *   that client, which does nothing unless DEBUGINFOD_URLS is set.
 * - A file whose build id differs from the recorded one, or that cannot be
 *   opened, resolves to module+offset only, with one warning per file.
 * - Snapshots are kept sorted by epoch; an epoch without its own snapshot
 *   uses the latest earlier one (else the earliest).
 * - One address: mm_find() gives the module (linear in modules); the CU comes
 *   from .debug_aranges (dwfl_module_addrdie) or, without them, from our
 *   index of CU ranges; the function from a per-CU index of subprogram ranges
 *   built when the CU is first hit; inlined subroutines and blocks from a
 *   walk of that function's own DIE subtree (the concrete tree: it gives the
 *   chain of callers, which dwarf_getscopes does not); the line from the
 *   CU's line table; names from DWARF, else from a per-file sorted index of
 *   function symbols (dwfl_module_addrinfo scans every symbol per call).
 *   About 4 us per distinct address in libc with full debug info.
 * - Files outlive their resolver: sym_free() hands the files it opened to a
 *   pool, from which the next resolver of the process takes them (the pool
 *   keeps the SYM_POOL_MAX_FILES most recently returned). Opening a file is
 *   where the time of a small trace goes (libc6-dbg's debug sections are
 *   zlib-compressed, and libdw inflates them on first use: ~25 ms), and a
 *   whole test suite's traces name the same few files; `memaudit run` opens
 *   them ahead, while the program runs (sym_warm.h). A pooled file is taken
 *   only while its path names it still, unchanged (file_unchanged()), so
 *   that it answers as a new open would.
 * - Results are cached per (epoch, address). Location arrays and strings
 *   live in an arena and strings are interned, so everything handed out
 *   stays valid, unchanged, until sym_free(), even when a later snapshot
 *   clears the cache.
 *
 * Not thread-safe: one resolver per thread (the pool has its own lock);
 * sym_pool_open() in any thread. */
#include "symbolizer.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libiberty/demangle.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trace_format.h"

/* Deepest inline chain we report; deeper chains keep their innermost part. */
#define SYM_MAX_INLINE 64u
#define ARENA_CHUNK_BYTES (64u * 1024u)
#define TABLE_MIN_SLOTS 256u

/* ---- arena: memory that lives until sym_free() ---- */

struct arena_chunk {
    struct arena_chunk *next;
    size_t used;
    size_t cap;
    max_align_t data[];
};

/* ---- tables ---- */

struct str_slot {
    const char *s; /* NULL = empty slot */
    uint64_t hash;
};

struct cache_slot {
    uint64_t epoch;
    uint64_t addr;
    const struct sym_location *locs; /* NULL = empty slot */
    size_t n;
};

/* Function symbols of one file sorted by address, one per address: the
 * stand-in for dwfl_module_addrinfo, which scans the whole symbol table on
 * every call. */
struct sym_entry {
    uint64_t addr; /* Dwfl address */
    uint64_t end;  /* addr + size; an unsized symbol ends at the next one */
    uint64_t maxend; /* the largest end of this and all earlier entries */
    const char *name; /* libelf's string table; lives as long as the Dwfl */
    int rank;         /* lower is preferred among aliases */
};

/* DIEs by address: entries sorted by lo, one per range of a DIE (a function
 * split into hot and cold parts has two). Used for the CUs of a file (the
 * fallback for files without .debug_aranges: Clang and rustc do not emit it
 * by default, and libdw 0.188 then finds no CU for any address) and for the
 * functions of a CU (so that an address costs a binary search, not a walk
 * over every top-level DIE of its CU). */
struct die_range {
    uint64_t lo, hi; /* Dwarf addresses, [lo, hi) */
    uint64_t maxhi;  /* the largest hi of this and all earlier entries */
    Dwarf_Die die;
};

struct range_index {
    size_t n, cap;
    struct die_range *v;
};

/* The function index of one CU, built the first time an address hits it. */
struct cu_fns {
    const void *key; /* the CU DIE's address in the debug data; NULL = empty */
    struct range_index fns;
};

enum file_state {
    FILE_UNOPENED = 0,
    FILE_OK,
    FILE_MISSING, /* cannot open, not ELF: module+offset */
    FILE_REBUILT, /* build id differs from the recording: module+offset */
};

struct sym_file {
    struct sym_file *next_all; /* every file, for sym_free(); in the pool, the next one */
    const char *path;          /* interned; in the pool, pool_path */
    char *pool_path;           /* the path, malloc'd, while the file is in the pool */
    uint64_t hash;
    uint32_t build_id_len;
    uint8_t build_id[64];
    enum file_state state;
    struct stat st; /* FILE_OK: the file as opened, to tell whether the path still names it */
    Dwfl *dwfl;
    Dwfl_Module *mod;
    uint64_t bias; /* Dwfl address = link-time address + bias */
    int symidx_built;
    size_t n_syms;
    struct sym_entry *syms;
    int cuidx_built;
    struct range_index cus;
    uint64_t cu_bias; /* Dwfl address = Dwarf address + cu_bias */
    struct cu_fns *cufns; /* hash table keyed by CU */
    size_t cufns_cap, cufns_n;
    /* The functions the recorder saved from the module's image (its file was
     * deleted): used when the file cannot be read. Arena memory, by value. */
    struct mm_symbol *saved;
    size_t n_saved;
};

struct sym_snap {
    struct mm_snapshot s;    /* deep copy; freed with mm_snapshot_fini() */
    struct sym_file **files; /* files[i] belongs to s.modules[i] */
};

struct sym_resolver {
    struct arena_chunk *chunks;
    struct str_slot *strs;
    size_t strs_cap, strs_n;
    struct cache_slot *cache;
    size_t cache_cap, cache_n;
    struct sym_file **files;
    size_t files_cap, files_n;
    struct sym_file *all_files;
    struct sym_snap *snaps; /* sorted by epoch, epochs unique */
    size_t snaps_n, snaps_cap;
    struct sym_location oom_loc; /* answer when even the arena is out of memory */
    unsigned warned; /* files warned about (warn_file()) */
};

/* Must outlive every Dwfl. A NULL path means libdwfl's default
 * ":.debug:/usr/lib/debug"; libdwfl dereferences the pointer itself. */
static char *debuginfo_path;
static const Dwfl_Callbacks dwfl_callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull; /* FNV-1a */
    }
    return h;
}

static uint64_t hash_mix(uint64_t x)
{
    /* splitmix64 finaliser: addresses differ mostly in their middle bits. */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static void *arena_alloc(struct sym_resolver *r, size_t n)
{
    const size_t align = alignof(max_align_t);
    if (n > SIZE_MAX / 2)
        return NULL;
    n = (n + align - 1) & ~(align - 1);

    struct arena_chunk *c = r->chunks;
    if (c == NULL || c->cap - c->used < n) {
        /* Big requests get a chunk of their own, linked behind the current
         * one so that the current chunk's free space is not wasted. */
        int own = n > ARENA_CHUNK_BYTES / 4;
        size_t cap = own ? n : ARENA_CHUNK_BYTES;
        struct arena_chunk *nc = malloc(sizeof *nc + cap);
        if (nc == NULL)
            return NULL;
        nc->used = 0;
        nc->cap = cap;
        if (own && c != NULL) {
            nc->next = c->next;
            c->next = nc;
        } else {
            nc->next = c;
            r->chunks = nc;
        }
        c = nc;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

/* Intern s: equal strings come back as the same pointer, owned by the arena.
 * NULL in, or out of memory, gives NULL (the field is then "unknown"). */
static const char *intern(struct sym_resolver *r, const char *s)
{
    if (s == NULL)
        return NULL;
    if ((r->strs_n + 1) * 10 > r->strs_cap * 7) {
        size_t cap = r->strs_cap ? r->strs_cap * 2 : TABLE_MIN_SLOTS;
        struct str_slot *t = calloc(cap, sizeof *t);
        if (t == NULL)
            return NULL;
        for (size_t i = 0; i < r->strs_cap; i++) {
            if (r->strs[i].s == NULL)
                continue;
            size_t j = r->strs[i].hash & (cap - 1);
            while (t[j].s != NULL)
                j = (j + 1) & (cap - 1);
            t[j] = r->strs[i];
        }
        free(r->strs);
        r->strs = t;
        r->strs_cap = cap;
    }

    size_t len = strlen(s);
    uint64_t h = hash_bytes(0xcbf29ce484222325ull, s, len);
    size_t mask = r->strs_cap - 1;
    size_t i = h & mask;
    while (r->strs[i].s != NULL) {
        if (r->strs[i].hash == h && strcmp(r->strs[i].s, s) == 0)
            return r->strs[i].s;
        i = (i + 1) & mask;
    }
    char *copy = arena_alloc(r, len + 1);
    if (copy == NULL)
        return NULL;
    memcpy(copy, s, len + 1);
    r->strs[i].s = copy;
    r->strs[i].hash = h;
    r->strs_n++;
    return copy;
}

/* ---- result cache ---- */

static uint64_t cache_hash(uint64_t epoch, uint64_t addr)
{
    return hash_mix(addr ^ hash_mix(epoch + 0x9e3779b97f4a7c15ull));
}

static const struct cache_slot *cache_find(const struct sym_resolver *r, uint64_t epoch,
                                           uint64_t addr)
{
    if (r->cache_cap == 0)
        return NULL;
    size_t mask = r->cache_cap - 1;
    size_t i = cache_hash(epoch, addr) & mask;
    while (r->cache[i].locs != NULL) {
        if (r->cache[i].epoch == epoch && r->cache[i].addr == addr)
            return &r->cache[i];
        i = (i + 1) & mask;
    }
    return NULL;
}

static void cache_put_slot(struct cache_slot *t, size_t cap, const struct cache_slot *e)
{
    size_t i = cache_hash(e->epoch, e->addr) & (cap - 1);
    while (t[i].locs != NULL)
        i = (i + 1) & (cap - 1);
    t[i] = *e;
}

/* Failure only means the address will be resolved again next time. */
static int cache_insert(struct sym_resolver *r, uint64_t epoch, uint64_t addr,
                        const struct sym_location *locs, size_t n)
{
    if ((r->cache_n + 1) * 2 > r->cache_cap) {
        size_t cap = r->cache_cap ? r->cache_cap * 2 : TABLE_MIN_SLOTS;
        struct cache_slot *t = calloc(cap, sizeof *t);
        if (t == NULL)
            return -ENOMEM;
        for (size_t i = 0; i < r->cache_cap; i++)
            if (r->cache[i].locs != NULL)
                cache_put_slot(t, cap, &r->cache[i]);
        free(r->cache);
        r->cache = t;
        r->cache_cap = cap;
    }
    struct cache_slot e = {.epoch = epoch, .addr = addr, .locs = locs, .n = n};
    cache_put_slot(r->cache, r->cache_cap, &e);
    r->cache_n++;
    return 0;
}

/* Forget every cached answer (not the answers themselves: they live in the
 * arena, and callers may still hold them). */
static void cache_clear(struct sym_resolver *r)
{
    if (r->cache_n == 0)
        return;
    memset(r->cache, 0, r->cache_cap * sizeof *r->cache);
    r->cache_n = 0;
}

/* ---- files ---- */

static uint64_t file_hash(const char *path, const uint8_t *build_id, uint32_t len)
{
    uint64_t h = hash_bytes(0xcbf29ce484222325ull, path, strlen(path) + 1);
    return hash_mix(hash_bytes(h, build_id, len));
}

static int file_equal(const struct sym_file *f, const char *path, const uint8_t *build_id,
                      uint32_t len)
{
    return f->build_id_len == len && memcmp(f->build_id, build_id, len) == 0 &&
           strcmp(f->path, path) == 0;
}

/* The file of module m (found or created unopened); NULL when out of memory. */
/* ---- the pool of open files ---- */

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sym_file *pool; /* most recently returned first; under pool_lock */
/* Files sym_pool_open() opened, on their way into the pool: a lock-free
 * stack (atomic, linked by next_all), which the holders of pool_lock move
 * into the pool (pool_drain_locked). The thread that opens files ahead runs
 * at the idle priority: were it to take pool_lock and be preempted with it
 * held, a resolver could wait for it as long as the machine stays busy. */
static struct sym_file *pool_incoming;

/* The link to the pooled file (path, build id), or to the end of the pool.
 * Under pool_lock. */
static struct sym_file **pool_link(const char *path, const uint8_t *build_id, uint32_t len,
                                   uint64_t hash)
{
    struct sym_file **p = &pool;
    while (*p != NULL && !((*p)->hash == hash && file_equal(*p, path, build_id, len)))
        p = &(*p)->next_all;
    return p;
}

/* Put f first in the pool, unless the pool has that file already (two
 * resolvers at once opened it twice): then the pool keeps the one it has.
 * The pool drops its least recently returned file beyond
 * SYM_POOL_MAX_FILES. What is dropped goes onto *drop, for
 * file_destroy_all() once pool_lock is released. Under pool_lock. */
static void pool_insert_locked(struct sym_file *f, struct sym_file **drop)
{
    struct sym_file *out = f;
    if (*pool_link(f->path, f->build_id, f->build_id_len, f->hash) == NULL) {
        f->next_all = pool;
        pool = f;
        /* The pool never holds more than SYM_POOL_MAX_FILES: at most one over now. */
        struct sym_file **p = &pool;
        for (size_t n = 0; *p != NULL && n < SYM_POOL_MAX_FILES; n++)
            p = &(*p)->next_all;
        out = *p;
        *p = NULL;
    }
    if (out != NULL) {
        out->next_all = *drop;
        *drop = out;
    }
}

/* Move the files opened ahead into the pool, oldest first. Under pool_lock. */
static void pool_drain_locked(struct sym_file **drop)
{
    /* Acquire: pairs with the release in pool_push(), so that a file's
     * contents are seen whole. */
    struct sym_file *in = __atomic_exchange_n(&pool_incoming, NULL, __ATOMIC_ACQUIRE);
    struct sym_file *oldest_first = NULL;
    while (in != NULL) {
        struct sym_file *next = in->next_all;
        in->next_all = oldest_first;
        oldest_first = in;
        in = next;
    }
    while (oldest_first != NULL) {
        struct sym_file *next = oldest_first->next_all;
        pool_insert_locked(oldest_first, drop);
        oldest_first = next;
    }
}

/* Push f onto the lock-free stack *top (pool_incoming, pool_abandoned):
 * never waits. */
static void pool_push(struct sym_file **top, struct sym_file *f)
{
    struct sym_file *head = __atomic_load_n(top, __ATOMIC_RELAXED);
    do
        f->next_all = head;
    while (!__atomic_compare_exchange_n(top, &head, f, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

/* The file this thread's sym_pool_open() is reading, for sym_pool_abandon(). */
static _Thread_local struct sym_file *pool_opening;
/* What sym_pool_abandon() keeps: files half-read when a fault took their
 * thread out of sym_pool_open(). Never used and never freed (libdw's state
 * half-way through a read cannot be freed safely); kept only so that it is
 * memory still referenced, not a leak (atomic: a stack like pool_incoming). */
static struct sym_file *pool_abandoned;

static void file_close(struct sym_file *f);

static void file_destroy(struct sym_file *f)
{
    file_close(f);
    free(f->pool_path);
    free(f);
}

/* file_destroy() every file of a list linked by next_all. */
static void file_destroy_all(struct sym_file *f)
{
    for (struct sym_file *next; f != NULL; f = next) {
        next = f->next_all;
        file_destroy(f);
    }
}

/* The pooled file (path, build id), out of the pool; NULL if none. */
static struct sym_file *pool_take(const char *path, const uint8_t *build_id, uint32_t len,
                                  uint64_t hash)
{
    struct sym_file *drop = NULL;
    pthread_mutex_lock(&pool_lock);
    pool_drain_locked(&drop);
    struct sym_file **p = pool_link(path, build_id, len, hash), *f = *p;
    if (f != NULL)
        *p = f->next_all;
    pthread_mutex_unlock(&pool_lock);
    file_destroy_all(drop);
    return f;
}

/* 1 when f's path still names the file f opened, unchanged since: a pooled
 * file answers as a new open of its path would only then. A file deleted or
 * replaced since (a program that deletes its copy of a library, a binary
 * rebuilt while the process ran) is opened anew, and warned about, by the
 * resolver that takes it. */
static int file_unchanged(const struct sym_file *f, const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && st.st_dev == f->st.st_dev && st.st_ino == f->st.st_ino &&
           st.st_size == f->st.st_size && st.st_mtim.tv_sec == f->st.st_mtim.tv_sec &&
           st.st_mtim.tv_nsec == f->st.st_mtim.tv_nsec &&
           st.st_ctim.tv_sec == f->st.st_ctim.tv_sec && st.st_ctim.tv_nsec == f->st.st_ctim.tv_nsec;
}

/* Give f, open and owned by a resolver being freed, to the pool
 * (pool_insert_locked). */
static void pool_put(struct sym_file *f)
{
    struct sym_file *drop = NULL;
    f->pool_path = strdup(f->path);
    if (f->pool_path == NULL) {
        file_destroy(f);
        return;
    }
    f->path = f->pool_path;
    f->saved = NULL; /* (the resolver's arena) */
    f->n_saved = 0;
    pthread_mutex_lock(&pool_lock);
    pool_drain_locked(&drop);
    pool_insert_locked(f, &drop);
    pthread_mutex_unlock(&pool_lock);
    file_destroy_all(drop);
}

static struct sym_file *file_get(struct sym_resolver *r, const struct mm_module *m)
{
    const char *path = m->path != NULL ? m->path : "";
    uint32_t len = m->build_id_len;
    uint64_t h = file_hash(path, m->build_id, len);

    if ((r->files_n + 1) * 2 > r->files_cap) {
        size_t cap = r->files_cap ? r->files_cap * 2 : TABLE_MIN_SLOTS;
        struct sym_file **t = calloc(cap, sizeof *t);
        if (t == NULL)
            return NULL;
        for (size_t i = 0; i < r->files_cap; i++) {
            if (r->files[i] == NULL)
                continue;
            size_t j = r->files[i]->hash & (cap - 1);
            while (t[j] != NULL)
                j = (j + 1) & (cap - 1);
            t[j] = r->files[i];
        }
        free(r->files);
        r->files = t;
        r->files_cap = cap;
    }

    size_t mask = r->files_cap - 1;
    size_t i = h & mask;
    while (r->files[i] != NULL) {
        if (r->files[i]->hash == h && file_equal(r->files[i], path, m->build_id, len))
            return r->files[i];
        i = (i + 1) & mask;
    }

    const char *interned = intern(r, path);
    if (interned == NULL)
        return NULL;
    struct sym_file *f = pool_take(path, m->build_id, len, h);
    if (f != NULL && !file_unchanged(f, path)) {
        file_destroy(f);
        f = NULL;
    }
    if (f != NULL) {
        free(f->pool_path);
        f->pool_path = NULL;
    } else if ((f = calloc(1, sizeof *f)) == NULL) {
        return NULL;
    }
    f->path = interned;
    f->hash = h;
    f->build_id_len = len;
    memcpy(f->build_id, m->build_id, len);
    f->next_all = r->all_files;
    r->all_files = f;
    r->files[i] = f;
    r->files_n++;
    return f;
}

/* Files a resolver warns about, one line each, at most: a program that
 * loads thousands of temporary plugins (a test suite's, deleted after)
 * would otherwise print a line for each. */
#define WARN_FILES_MAX 10

/* A path comes from the trace: print it without control characters so that
 * a hostile trace cannot drive the terminal. *warned counts the resolver's
 * warnings: past WARN_FILES_MAX, one line says that the rest are not
 * listed. */
static void warn_file(const char *path, const char *what, size_t saved, unsigned *warned)
{
    unsigned k = (*warned)++;
    if (k == WARN_FILES_MAX)
        fprintf(stderr, "memaudit: warning: more symbol files cannot be used; "
                        "not listing the rest\n");
    if (k >= WARN_FILES_MAX)
        return;
    char buf[TR_MAX_PATH + 4];
    size_t n = 0;
    for (const char *p = path; *p != '\0'; p++) {
        if (n == TR_MAX_PATH) {
            memcpy(buf + n, "...", 3);
            n += 3;
            break;
        }
        unsigned char c = (unsigned char)*p;
        buf[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    buf[n] = '\0';
    if (saved > 0)
        fprintf(stderr,
                "memaudit: warning: %s%s; using the %zu exported functions the recorder saved "
                "from its image\n",
                buf, what, saved);
    else
        fprintf(stderr, "memaudit: warning: %s%s; showing module+offset\n", buf, what);
}

static void file_close(struct sym_file *f)
{
    if (f->dwfl != NULL)
        dwfl_end(f->dwfl);
    f->dwfl = NULL;
    f->mod = NULL;
    free(f->syms);
    f->syms = NULL;
    f->n_syms = 0;
    free(f->cus.v);
    f->cus = (struct range_index){0};
    for (size_t i = 0; i < f->cufns_cap; i++)
        free(f->cufns[i].fns.v);
    free(f->cufns);
    f->cufns = NULL;
    f->cufns_cap = f->cufns_n = 0;
}

/* Open f once. Afterwards f->state is FILE_OK, FILE_MISSING or FILE_REBUILT,
 * and the two last have warned (warn_file(), counting in *warned) unless
 * warned is NULL (except for names that are not paths, such as the vDSO's
 * "linux-vdso.so.1": there is no file to miss). */
static int file_open(struct sym_file *f, unsigned *warned)
{
    int rc;
    int fd = -1;
    char why[160];

    f->state = FILE_MISSING;
    if (strchr(f->path, '/') == NULL)
        return -ENOENT;

    /* O_NONBLOCK: a hostile path may name a FIFO, and open() would wait for
     * a writer forever. Only regular files are read. */
    fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        rc = -errno;
        snprintf(why, sizeof why, ": %s", strerror(errno));
        goto fail;
    }
    if (fstat(fd, &f->st) != 0 || !S_ISREG(f->st.st_mode)) {
        rc = -EINVAL;
        snprintf(why, sizeof why, ": not a regular file");
        goto fail;
    }

    f->dwfl = dwfl_begin(&dwfl_callbacks);
    if (f->dwfl == NULL) {
        rc = -ENOMEM;
        snprintf(why, sizeof why, ": %s", dwfl_errmsg(-1));
        goto fail;
    }
    dwfl_report_begin(f->dwfl);
    /* Base 0 with add_p_vaddr: the module sits at its link-time addresses
     * (bias 0); see the file header. */
    f->mod = dwfl_report_elf(f->dwfl, f->path, f->path, fd, 0, true);
    if (f->mod == NULL) {
        rc = -EINVAL;
        snprintf(why, sizeof why, ": cannot read as ELF (%s)", dwfl_errmsg(-1));
        goto fail;
    }
    fd = -1; /* libdwfl owns it now; dwfl_end() closes it */
    dwfl_report_end(f->dwfl, NULL, NULL);

    if (f->build_id_len > 0) {
        const unsigned char *bits = NULL;
        GElf_Addr vaddr;
        int n = dwfl_module_build_id(f->mod, &bits, &vaddr);
        if (n != (int)f->build_id_len || memcmp(bits, f->build_id, f->build_id_len) != 0) {
            rc = -ESTALE;
            f->state = FILE_REBUILT;
            snprintf(why, sizeof why, " was rebuilt since recording (build id differs)");
            goto fail;
        }
    }

    GElf_Addr bias = 0;
    if (dwfl_module_getelf(f->mod, &bias) == NULL) {
        rc = -EINVAL;
        snprintf(why, sizeof why, ": %s", dwfl_errmsg(-1));
        goto fail;
    }
    f->bias = bias;
    f->state = FILE_OK;
    return 0;

fail:
    if (fd >= 0)
        close(fd);
    file_close(f);
    /* The rebuilt message has no colon: "PATH was rebuilt since ...". */
    if (warned != NULL)
        warn_file(f->path, why, f->n_saved, warned);
    return rc;
}

/* ---- symbol table index ---- */

static int sym_entry_cmp(const void *pa, const void *pb)
{
    const struct sym_entry *a = pa, *b = pb;
    if (a->addr != b->addr)
        return a->addr < b->addr ? -1 : 1;
    if (a->rank != b->rank)
        return a->rank < b->rank ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* Build f's sorted function-symbol index (once). Aliases at one address keep
 * the preferred one: sized before unsized, then global, weak, local — what
 * dwfl_module_addrsym prefers too. */
static int symidx_build(struct sym_file *f)
{
    int rc;
    struct sym_entry *e = NULL;

    f->symidx_built = 1;
    int nsyms = dwfl_module_getsymtab(f->mod);
    if (nsyms <= 0)
        return 0;
    e = malloc((size_t)nsyms * sizeof *e);
    if (e == NULL) {
        rc = -ENOMEM;
        goto fail;
    }

    size_t n = 0;
    for (int i = 1; i < nsyms; i++) {
        GElf_Sym sym;
        GElf_Addr value;
        GElf_Word shndx;
        const char *name = dwfl_module_getsym_info(f->mod, i, &sym, &value, &shndx, NULL, NULL);
        if (name == NULL || name[0] == '\0')
            continue;
        int type = GELF_ST_TYPE(sym.st_info);
        if (type != STT_FUNC && type != STT_GNU_IFUNC)
            continue;
        if (shndx == SHN_UNDEF || shndx == (GElf_Word)-1)
            continue;
        int bind = GELF_ST_BIND(sym.st_info);
        int rank = bind == STB_GLOBAL ? 0 : bind == STB_WEAK ? 1 : 2;
        if (sym.st_size == 0)
            rank += 3;
        uint64_t size = sym.st_size;
        uint64_t end = size > UINT64_MAX - value ? UINT64_MAX : value + size;
        e[n++] = (struct sym_entry){.addr = value, .end = end, .name = name, .rank = rank};
    }
    qsort(e, n, sizeof *e, sym_entry_cmp);

    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (w == 0 || e[w - 1].addr != e[i].addr)
            e[w++] = e[i];
    /* An unsized symbol reaches up to the next one (the last one: nowhere). */
    for (size_t i = 0; i < w; i++) {
        if (e[i].end == e[i].addr && i + 1 < w)
            e[i].end = e[i + 1].addr;
        uint64_t prev = i > 0 ? e[i - 1].maxend : 0;
        e[i].maxend = prev > e[i].end ? prev : e[i].end;
    }

    f->syms = e;
    f->n_syms = w;
    return 0;

fail:
    free(e);
    return rc;
}

/* Name of the function symbol containing Dwfl address a, NULL if none (as
 * in the padding between functions). The innermost symbol wins when one
 * lies inside another. */
static const char *symidx_lookup(struct sym_file *f, uint64_t a)
{
    if (!f->symidx_built)
        symidx_build(f);
    size_t lo = 0, hi = f->n_syms; /* find the last entry with addr <= a */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->syms[mid].addr <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t j = lo; j > 0 && f->syms[j - 1].maxend > a; j--)
        if (a < f->syms[j - 1].end)
            return f->syms[j - 1].name;
    return NULL;
}

/* ---- address indexes of DIEs ---- */

static int die_range_cmp(const void *pa, const void *pb)
{
    const struct die_range *a = pa, *b = pb;
    if (a->lo != b->lo)
        return a->lo < b->lo ? -1 : 1;
    return (a->hi > b->hi) - (a->hi < b->hi);
}

/* Add every address range of die to ix; empty ranges are skipped. */
static int range_add_die(struct range_index *ix, Dwarf_Die *die)
{
    ptrdiff_t off = 0;
    Dwarf_Addr b, lo, hi;
    while ((off = dwarf_ranges(die, off, &b, &lo, &hi)) > 0) {
        if (hi <= lo)
            continue;
        if (ix->n == ix->cap) {
            size_t cap = ix->cap ? ix->cap * 2 : 16;
            struct die_range *t = realloc(ix->v, cap * sizeof *t);
            if (t == NULL)
                return -ENOMEM;
            ix->v = t;
            ix->cap = cap;
        }
        ix->v[ix->n++] = (struct die_range){.lo = lo, .hi = hi, .die = *die};
    }
    return 0;
}

static void range_finish(struct range_index *ix)
{
    if (ix->n > 0)
        qsort(ix->v, ix->n, sizeof *ix->v, die_range_cmp);
    for (size_t i = 0; i < ix->n; i++) {
        uint64_t prev = i > 0 ? ix->v[i - 1].maxhi : 0;
        ix->v[i].maxhi = prev > ix->v[i].hi ? prev : ix->v[i].hi;
    }
}

/* The DIE whose range contains pc; NULL if none. Ranges may overlap (a
 * hostile or odd file): after the binary search, walk back while an earlier
 * range could still reach pc. */
static Dwarf_Die *range_find(struct range_index *ix, uint64_t pc)
{
    size_t lo = 0, hi = ix->n; /* find the last entry with lo <= pc */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->v[mid].lo <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t j = lo; j > 0 && ix->v[j - 1].maxhi > pc; j--)
        if (pc < ix->v[j - 1].hi)
            return &ix->v[j - 1].die;
    return NULL;
}

/* Build f's CU index (once) from the CUs' own DW_AT_ranges or low/high pc. */
static int cuidx_build(struct sym_file *f)
{
    int rc = 0;

    f->cuidx_built = 1;
    Dwarf_Die *cu = NULL;
    Dwarf_Addr bias = 0;
    while ((cu = dwfl_module_nextcu(f->mod, cu, &bias)) != NULL) {
        f->cu_bias = bias;
        rc = range_add_die(&f->cus, cu);
        if (rc < 0)
            goto fail;
    }
    range_finish(&f->cus);
    return 0;

fail:
    free(f->cus.v);
    f->cus = (struct range_index){0};
    return rc;
}

/* The CU containing Dwfl address a, from the index; NULL if none. */
static Dwarf_Die *cuidx_lookup(struct sym_file *f, Dwarf_Addr a, Dwarf_Addr *bias)
{
    if (!f->cuidx_built)
        cuidx_build(f);
    if (f->cus.n == 0 || a < f->cu_bias)
        return NULL;
    *bias = f->cu_bias;
    return range_find(&f->cus, a - f->cu_bias);
}

/* Deepest DIE nesting followed below a CU; real code stays far below it. */
#define SCOPE_MAX_DEPTH 256

/* Namespaces and class types have no addresses but may hold function
 * definitions (Clang nests them so): searched through, never part of a path. */
static int tag_is_container(int tag)
{
    switch (tag) {
    case DW_TAG_namespace:
    case DW_TAG_module:
    case DW_TAG_class_type:
    case DW_TAG_structure_type:
    case DW_TAG_union_type:
    case DW_TAG_interface_type:
        return 1;
    default:
        return 0;
    }
}

/* Add the functions defined under parent (through containers) to ix. */
static int fns_collect(struct range_index *ix, Dwarf_Die *parent, int nest)
{
    Dwarf_Die child;
    if (nest >= SCOPE_MAX_DEPTH || dwarf_child(parent, &child) != 0)
        return 0;
    do {
        int tag = dwarf_tag(&child);
        int rc = 0;
        if (tag == DW_TAG_subprogram)
            rc = range_add_die(ix, &child);
        else if (tag_is_container(tag))
            rc = fns_collect(ix, &child, nest + 1);
        if (rc < 0)
            return rc;
    } while (dwarf_siblingof(&child, &child) == 0);
    return 0;
}

/* The function index of cudie's CU, built on first use; NULL when out of
 * memory. */
static struct range_index *cufns_get(struct sym_file *f, Dwarf_Die *cudie)
{
    const void *key = cudie->addr;
    if (key == NULL)
        return NULL;
    if ((f->cufns_n + 1) * 2 > f->cufns_cap) {
        size_t cap = f->cufns_cap ? f->cufns_cap * 2 : 64;
        struct cu_fns *t = calloc(cap, sizeof *t);
        if (t == NULL)
            return NULL;
        for (size_t i = 0; i < f->cufns_cap; i++) {
            if (f->cufns[i].key == NULL)
                continue;
            size_t j = hash_mix((uintptr_t)f->cufns[i].key) & (cap - 1);
            while (t[j].key != NULL)
                j = (j + 1) & (cap - 1);
            t[j] = f->cufns[i];
        }
        free(f->cufns);
        f->cufns = t;
        f->cufns_cap = cap;
    }
    size_t mask = f->cufns_cap - 1;
    size_t i = hash_mix((uintptr_t)key) & mask;
    while (f->cufns[i].key != NULL) {
        if (f->cufns[i].key == key)
            return &f->cufns[i].fns;
        i = (i + 1) & mask;
    }
    struct range_index ix = {0};
    if (fns_collect(&ix, cudie, 0) < 0) {
        free(ix.v);
        return NULL;
    }
    range_finish(&ix);
    f->cufns[i].key = key;
    f->cufns[i].fns = ix;
    f->cufns_n++;
    return &f->cufns[i].fns;
}

/* ---- DWARF ---- */

/* raw_name = the linkage name if there is one, else the plain name;
 * function = raw_name demangled, or the plain name, or raw_name. */
static void loc_set_names(struct sym_resolver *r, struct sym_location *loc, const char *linkage,
                          const char *plain)
{
    const char *raw = linkage != NULL ? linkage : plain;
    if (raw == NULL)
        return;
    loc->raw_name = intern(r, raw);
    char *demangled = sym_demangle(raw);
    if (demangled != NULL) {
        loc->function = intern(r, demangled);
        free(demangled);
    } else {
        loc->function = plain != NULL ? intern(r, plain) : loc->raw_name;
    }
}

/* Names of a subprogram or inlined_subroutine DIE. dwarf_attr_integrate
 * follows DW_AT_abstract_origin (inlined and out-of-line instances) and
 * DW_AT_specification (C++ members defined outside their class). */
static void die_set_names(struct sym_resolver *r, struct sym_location *loc, Dwarf_Die *die)
{
    Dwarf_Attribute attr;
    const char *linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
    if (linkage == NULL)
        linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
    const char *plain = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attr));
    loc_set_names(r, loc, linkage, plain);
}

/* The call site of an inlined_subroutine: DW_AT_call_file indexes its CU's
 * file table (as dwarf_decl_file does for DW_AT_decl_file). File 0 is a
 * real file from DWARF 5 on; before, it means "no file". */
static void die_call_site(struct sym_resolver *r, struct sym_location *loc, Dwarf_Die *die)
{
    Dwarf_Attribute attr;
    Dwarf_Word v;
    if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &attr), &v) == 0 && v <= INT32_MAX)
        loc->line = (int)v;

    Dwarf_Die cu;
    Dwarf_Half version = 0;
    Dwarf_Files *files;
    size_t nfiles;
    if (dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &attr), &v) == 0 &&
        dwarf_cu_die(die->cu, &cu, &version, NULL, NULL, NULL, NULL, NULL) != NULL &&
        (v > 0 || version >= 5) && dwarf_getsrcfiles(&cu, &files, &nfiles) == 0 && v < nfiles)
        loc->file = intern(r, dwarf_filesrc(files, v, NULL, NULL));
}

/* Append to path the chain of DIEs below parent whose code contains pc,
 * outermost first; returns how many. Only the first match at each level is
 * followed, as ranges of siblings do not overlap. */
static int scope_walk(Dwarf_Die *parent, Dwarf_Addr pc, Dwarf_Die *path, int room, int nest)
{
    Dwarf_Die child;
    if (room <= 0 || nest >= SCOPE_MAX_DEPTH || dwarf_child(parent, &child) != 0)
        return 0;
    do {
        int tag = dwarf_tag(&child);
        switch (tag) {
        case DW_TAG_subprogram:
        case DW_TAG_inlined_subroutine:
        case DW_TAG_lexical_block:
        case DW_TAG_entry_point:
        case DW_TAG_try_block:
        case DW_TAG_catch_block:
        case DW_TAG_with_stmt:
            if (dwarf_haspc(&child, pc) > 0) {
                path[0] = child;
                return 1 + scope_walk(&child, pc, path + 1, room - 1, nest + 1);
            }
            break;
        default:
            if (tag_is_container(tag)) {
                int k = scope_walk(&child, pc, path, room, nest + 1);
                if (k > 0)
                    return k;
            }
            break;
        }
    } while (dwarf_siblingof(&child, &child) == 0);
    return 0;
}

/* Fill locs[0..n) from the DWARF scopes at pc (a Dwarf address of cudie's
 * CU), innermost first; 0 when no function DIE covers pc. We walk the
 * concrete DIE tree ourselves: dwarf_getscopes stops at the innermost inlined
 * instance and continues in its abstract definition (it does not give the
 * chain of callers), and returns nothing at all when that definition lies
 * in another CU, as with -flto. */
static size_t describe_dwarf(struct sym_resolver *r, struct sym_file *f, Dwarf_Die *cudie,
                             Dwarf_Addr pc, const struct sym_location *base,
                             struct sym_location *locs)
{
    Dwarf_Die path[SCOPE_MAX_DEPTH];
    int np;
    struct range_index *fns = cufns_get(f, cudie);
    if (fns != NULL) {
        /* The function from the CU's index, then its inner scopes. */
        Dwarf_Die *fn = range_find(fns, pc);
        if (fn == NULL)
            return 0;
        path[0] = *fn;
        np = 1 + scope_walk(fn, pc, path + 1, SCOPE_MAX_DEPTH - 1, 1);
    } else {
        np = scope_walk(cudie, pc, path, SCOPE_MAX_DEPTH, 0);
    }

    /* locs[n] is the next frame to name; once an inlined level is seen, the
     * frame after it already carries that level's call site. */
    size_t n = 0;
    int pending = 0; /* locs[n] holds a call site */
    locs[0] = *base;
    for (int i = np - 1; i >= 0; i--) {
        int tag = dwarf_tag(&path[i]);
        if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
            continue;
        die_set_names(r, &locs[n], &path[i]);
        n++;
        pending = 0;
        if (tag == DW_TAG_subprogram || n == SYM_MAX_INLINE)
            break;
        locs[n] = *base;
        die_call_site(r, &locs[n], &path[i]);
        pending = 1;
    }
    /* An inlined chain without its subprogram (broken DWARF): keep the last
     * call site as a frame of unknown function. */
    if (pending)
        n++;

    for (size_t k = 0; k < n; k++)
        locs[k].inlined = k + 1 < n;
    return n;
}

/* Resolve Dwfl address a of an open file into locs; returns n >= 1. */
static size_t describe(struct sym_resolver *r, struct sym_file *f, Dwarf_Addr a,
                       const struct sym_location *base, struct sym_location *locs)
{
    size_t n = 0;
    Dwarf_Addr dwbias = 0;
    Dwarf_Die *cudie = dwfl_module_addrdie(f->mod, a, &dwbias);
    if (cudie == NULL)
        cudie = cuidx_lookup(f, a, &dwbias);
    Dwarf_Line *line = NULL;
    if (cudie != NULL && a >= dwbias) {
        n = describe_dwarf(r, f, cudie, a - dwbias, base, locs);
        line = dwarf_getsrc_die(cudie, a - dwbias);
    }
    if (n == 0) {
        locs[0] = *base;
        n = 1;
    }
    /* The real function from the symbol table: when there is no DWARF or no
     * name in it, and when DWARF has only a plain name but the symbol is
     * mangled (GCC gives C++ lambdas no linkage name: "operator()" becomes
     * "f()::{lambda(int)#1}::operator()(int) const"). */
    struct sym_location *outer = &locs[n - 1];
    if (outer->function == NULL) {
        loc_set_names(r, outer, symidx_lookup(f, a), NULL);
    } else if (outer->raw_name == outer->function) {
        const char *sym = symidx_lookup(f, a);
        char *demangled = sym_demangle(sym);
        if (demangled != NULL) {
            const char *raw = intern(r, sym);
            const char *function = intern(r, demangled);
            if (raw != NULL && function != NULL) {
                outer->raw_name = raw;
                outer->function = function;
            }
            free(demangled);
        }
    }

    /* The innermost frame's line is the line table's; the outer ones got
     * theirs from DW_AT_call_line. */
    int lineno = 0;
    const char *file = line != NULL ? dwarf_linesrc(line, NULL, NULL) : NULL;
    if (file != NULL && dwarf_lineno(line, &lineno) == 0) {
        locs[0].file = intern(r, file);
        locs[0].line = lineno;
    }
    return n;
}

/* ---- snapshots ---- */

/* Index of the first snapshot whose epoch is > epoch (upper) or >= (lower). */
static size_t snap_bound(const struct sym_resolver *r, uint64_t epoch, int upper)
{
    size_t lo = 0, hi = r->snaps_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t e = r->snaps[mid].s.epoch;
        if (e < epoch || (upper && e == epoch))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static const struct sym_snap *snap_for_epoch(const struct sym_resolver *r, uint64_t epoch)
{
    if (r->snaps_n == 0)
        return NULL;
    size_t pos = snap_bound(r, epoch, 1);
    return pos == 0 ? &r->snaps[0] : &r->snaps[pos - 1];
}

static void snap_fini(struct sym_snap *sn)
{
    mm_snapshot_fini(&sn->s);
    free(sn->files);
    sn->files = NULL;
}

/* ---- public ---- */

struct sym_resolver *sym_new(void)
{
    return calloc(1, sizeof(struct sym_resolver));
}

void sym_free(struct sym_resolver *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->snaps_n; i++)
        snap_fini(&r->snaps[i]);
    free(r->snaps);
    for (struct sym_file *f = r->all_files, *next; f != NULL; f = next) {
        next = f->next_all;
        if (f->state == FILE_OK)
            pool_put(f);
        else
            file_destroy(f);
    }
    free(r->files);
    free(r->cache);
    free(r->strs);
    for (struct arena_chunk *c = r->chunks, *next; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    free(r);
}

/* Copy the symbols the recorder saved for m's file (once per file). */
static int file_keep_saved(struct sym_resolver *r, struct sym_file *f, const struct mm_module *m)
{
    if (m->n_symbols == 0 || m->symbols == NULL || f->n_saved > 0)
        return 0;
    f->saved = arena_alloc(r, m->n_symbols * sizeof *f->saved);
    if (f->saved == NULL)
        return -ENOMEM;
    for (uint32_t i = 0; i < m->n_symbols; i++) {
        f->saved[i] = m->symbols[i];
        f->saved[i].name = intern(r, m->symbols[i].name != NULL ? m->symbols[i].name : "");
        if (f->saved[i].name == NULL)
            return -ENOMEM;
    }
    f->n_saved = m->n_symbols; /* sorted by value: the reader's order */
    return 0;
}

/* The saved function holding link-time address a: the last one starting at
 * or below it, if a falls inside its size (or it has none). */
static const struct mm_symbol *saved_lookup(const struct sym_file *f, uint64_t a)
{
    size_t lo = 0, hi = f->n_saved;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->saved[mid].value <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    const struct mm_symbol *s = &f->saved[lo - 1];
    return s->size == 0 || a - s->value < s->size ? s : NULL;
}

int sym_add_snapshot(struct sym_resolver *r, const struct mm_snapshot *s)
{
    int rc;
    struct sym_snap sn = {0};

    if (r == NULL || s == NULL)
        return -EINVAL;
    rc = mm_snapshot_copy(&sn.s, s);
    if (rc < 0)
        goto fail;
    if (sn.s.n_modules > 0) {
        sn.files = calloc(sn.s.n_modules, sizeof *sn.files);
        if (sn.files == NULL) {
            rc = -ENOMEM;
            goto fail;
        }
    }
    for (uint32_t i = 0; i < sn.s.n_modules; i++) {
        sn.files[i] = file_get(r, &sn.s.modules[i]);
        if (sn.files[i] == NULL) {
            rc = -ENOMEM;
            goto fail;
        }
        rc = file_keep_saved(r, sn.files[i], &s->modules[i]);
        if (rc < 0)
            goto fail;
    }

    size_t pos = snap_bound(r, sn.s.epoch, 0);
    if (pos < r->snaps_n && r->snaps[pos].s.epoch == sn.s.epoch) {
        snap_fini(&r->snaps[pos]);
    } else {
        if (r->snaps_n == r->snaps_cap) {
            size_t cap = r->snaps_cap ? r->snaps_cap * 2 : 8;
            struct sym_snap *t = realloc(r->snaps, cap * sizeof *t);
            if (t == NULL) {
                rc = -ENOMEM;
                goto fail;
            }
            r->snaps = t;
            r->snaps_cap = cap;
        }
        memmove(&r->snaps[pos + 1], &r->snaps[pos], (r->snaps_n - pos) * sizeof *r->snaps);
        r->snaps_n++;
    }
    r->snaps[pos] = sn;
    /* Which snapshot an epoch resolves against may have changed (this one
     * replaces, or is closer than, the one used before). */
    cache_clear(r);
    return 0;

fail:
    snap_fini(&sn);
    return rc;
}

/* Resolve without the cache; fills locs (SYM_MAX_INLINE entries), n >= 1. */
static size_t resolve_uncached(struct sym_resolver *r, uint64_t epoch, uint64_t addr,
                               struct sym_location *locs)
{
    struct sym_location base = {.address = addr};
    locs[0] = base;

    const struct sym_snap *sn = snap_for_epoch(r, epoch);
    if (sn == NULL)
        return 1;
    const struct mm_module *m = mm_find(&sn->s, addr);
    if (m == NULL)
        return 1;
    struct sym_file *f = sn->files[m - sn->s.modules];
    base.module = f->path;
    base.module_offset = addr - m->base; /* mm_find guarantees addr >= base */
    locs[0] = base;

    if (f->state == FILE_UNOPENED)
        file_open(f, &r->warned);
    /* A return address points after the call; addr-1 is inside it. Wrapping
     * of a hostile offset only gives a meaningless address to look up. */
    uint64_t rel = base.module_offset > 0 ? base.module_offset - 1 : 0;
    if (f->state != FILE_OK) {
        const struct mm_symbol *saved = saved_lookup(f, rel);
        if (saved != NULL)
            loc_set_names(r, &locs[0], saved->name, NULL);
        return 1;
    }
    return describe(r, f, rel + f->bias, &base, locs);
}

size_t sym_resolve(struct sym_resolver *r, uint64_t epoch, uint64_t addr,
                   const struct sym_location **out)
{
    static const struct sym_location nothing;

    if (out == NULL)
        return 0;
    if (r == NULL) {
        *out = &nothing;
        return 1;
    }
    const struct cache_slot *hit = cache_find(r, epoch, addr);
    if (hit != NULL) {
        *out = hit->locs;
        return hit->n;
    }

    struct sym_location tmp[SYM_MAX_INLINE];
    size_t n = resolve_uncached(r, epoch, addr, tmp);
    struct sym_location *locs = arena_alloc(r, n * sizeof *locs);
    if (locs == NULL) {
        /* Out of memory: one frame with what we know, in storage that the
         * next out-of-memory answer overwrites. */
        r->oom_loc = tmp[n - 1];
        r->oom_loc.inlined = 0;
        *out = &r->oom_loc;
        return 1;
    }
    memcpy(locs, tmp, n * sizeof *locs);
    cache_insert(r, epoch, addr, locs, n);
    *out = locs;
    return n;
}

int sym_pool_open(const struct mm_module *m)
{
    if (m == NULL || m->build_id_len > sizeof m->build_id)
        return -EINVAL;
    struct sym_file *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -ENOMEM;
    const char *path = m->path != NULL ? m->path : "";
    f->pool_path = strdup(path);
    if (f->pool_path == NULL) {
        free(f);
        return -ENOMEM;
    }
    f->path = f->pool_path;
    f->hash = file_hash(path, m->build_id, m->build_id_len);
    f->build_id_len = m->build_id_len;
    memcpy(f->build_id, m->build_id, m->build_id_len);
    pool_opening = f;
    if (file_open(f, NULL) < 0) {
        pool_opening = NULL;
        file_destroy(f);
        return 0;
    }
    /* What the first address in the file would load: its debug information
     * (found, opened, and its compressed sections inflated), the address
     * ranges of its CUs, its symbol index. */
    Dwarf_Addr bias;
    Dwarf *dw = dwfl_module_getdwarf(f->mod, &bias);
    Dwarf_Aranges *aranges;
    size_t n_aranges;
    if (dw != NULL)
        dwarf_getaranges(dw, &aranges, &n_aranges);
    symidx_build(f);
    pool_opening = NULL;
    pool_push(&pool_incoming, f);
    return 1;
}

void sym_pool_abandon(void)
{
    if (pool_opening != NULL)
        pool_push(&pool_abandoned, pool_opening);
    pool_opening = NULL;
}

char *sym_demangle(const char *name)
{
    if (name == NULL || name[0] == '\0')
        return NULL;
    /* DMGL_AUTO tries the Rust demangler first (legacy "_ZN...17h<hash>E",
     * whose hash it drops, and v0 "_R..."), then the Itanium C++ ABI. It
     * returns NULL for anything that is not mangled, e.g. "main". */
    return cplus_demangle(name, DMGL_PARAMS | DMGL_ANSI | DMGL_AUTO);
}
