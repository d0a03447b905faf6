/* module.c — snapshots of the loaded modules for the symbolizer.
 *
 * A MODULES record lists every object dl_iterate_phdr reports: path, load
 * bias, build id (read from its PT_NOTE in memory, so a file deleted or
 * rebuilt later can still be recognised) and PT_LOAD segments. Snapshots are
 * written at start, after dlclose (with a new epoch), and whenever a new stack
 * holds an address outside the last snapshot (a dlopen since). dlopen itself
 * is not wrapped: glibc resolves a dlopen'ed name against the RPATH of the
 * *calling* object, and a wrapper would make that caller libaudit.so.
 *
 * module_lock serialises snapshots and guards the range table. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rec.h"

#define SCRATCH_BYTES (4u << 20)
#define MAX_RANGES 4096

uintptr_t rec_self_lo, rec_self_hi;

static pthread_mutex_t module_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *scratch;
static struct range {
    uintptr_t lo, hi;
} ranges[MAX_RANGES];
static size_t n_ranges;
static unsigned long long seen_adds = ~0ull, seen_subs = ~0ull;
static char exe_path[TR_MAX_PATH];

struct walk {
    uint8_t *p, *end;
    uint64_t count;
    int overflow;
};

static void build_id_of(const struct dl_phdr_info *info, const uint8_t **id, uint32_t *len)
{
    *id = NULL;
    *len = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const uint8_t *n = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
        const uint8_t *end = n + ph->p_memsz;
        size_t align = ph->p_align == 8 ? 8 : 4;
        while (n + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)n;
            size_t name_sz = (nh->n_namesz + align - 1) & ~(align - 1);
            size_t desc_sz = (nh->n_descsz + align - 1) & ~(align - 1);
            const uint8_t *name = n + sizeof(*nh);
            const uint8_t *desc = name + name_sz;
            if (desc + desc_sz > end)
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
                nh->n_descsz <= 64) {
                *id = desc;
                *len = nh->n_descsz;
                return;
            }
            n = desc + desc_sz;
        }
    }
}

static int walk_one(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct walk *w = arg;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
        seen_adds = info->dlpi_adds;
        seen_subs = info->dlpi_subs;
    }
    const char *path = info->dlpi_name && info->dlpi_name[0] ? info->dlpi_name : NULL;
    if (!path && w->count == 0)
        path = exe_path; /* the first object is the executable */
    if (!path)
        path = "";
    size_t path_len = strnlen(path, TR_MAX_PATH - 1);
    const uint8_t *id;
    uint32_t id_len;
    build_id_of(info, &id, &id_len);
    size_t need = 40 + path_len + id_len + (size_t)info->dlpi_phnum * 30;
    if ((size_t)(w->end - w->p) < need) {
        w->overflow = 1;
        return 1;
    }
    uint8_t *p = w->p;
    p = tr_put_u64(p, info->dlpi_addr);
    p = tr_put_u64(p, path_len);
    memcpy(p, path, path_len);
    p += path_len;
    p = tr_put_u64(p, id_len);
    if (id_len)
        memcpy(p, id, id_len);
    p += id_len;
    uint64_t nseg = 0;
    for (int i = 0; i < info->dlpi_phnum; i++)
        nseg += info->dlpi_phdr[i].p_type == PT_LOAD;
    p = tr_put_u64(p, nseg);
    uintptr_t self = (uintptr_t)&rec_modules_init;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uint32_t flags = (ph->p_flags & PF_X ? TR_SEG_EXEC : 0) |
                         (ph->p_flags & PF_W ? TR_SEG_WRITE : 0) |
                         (ph->p_flags & PF_R ? TR_SEG_READ : 0);
        p = tr_put_u64(p, ph->p_vaddr);
        p = tr_put_u64(p, ph->p_memsz);
        p = tr_put_u64(p, flags);
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if ((flags & TR_SEG_EXEC) && n_ranges < MAX_RANGES)
            ranges[n_ranges++] = (struct range){lo, hi};
        if ((flags & TR_SEG_EXEC) && self >= lo && self < hi) {
            rec_self_lo = lo;
            rec_self_hi = hi;
        }
    }
    w->p = p;
    w->count++;
    return 0;
}

void rec_modules_after_fork_child(void)
{
    pthread_mutex_init(&module_lock, NULL);
}

/* Build the snapshot body into scratch; returns its length (module_lock). */
static size_t snapshot_locked(void)
{
    uint8_t head[24];
    n_ranges = 0;
    struct walk w = {.p = scratch, .end = scratch + SCRATCH_BYTES};
    dl_iterate_phdr(walk_one, &w);
    /* Prefix epoch and count: encode them, then move the modules behind. */
    uint8_t *h = head;
    h = tr_put_u64(h, atomic_load(&rec_epoch));
    h = tr_put_u64(h, w.count);
    size_t body = (size_t)(w.p - scratch), hl = (size_t)(h - head);
    memmove(scratch + hl, scratch, body);
    memcpy(scratch, head, hl);
    if (w.overflow)
        rec_say("module map larger than 4 MiB; later modules are not recorded", NULL);
    return body + hl;
}

void rec_modules_snapshot(uint64_t ts)
{
    if (!scratch)
        return;
    pthread_mutex_lock(&module_lock);
    size_t len = snapshot_locked();
    rec_thread_append_meta(TR_REC_MODULES, ts, scratch, len);
    pthread_mutex_unlock(&module_lock);
}

static int peek_counts(struct dl_phdr_info *info, size_t size, void *arg)
{
    unsigned long long *c = arg;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
        c[0] = info->dlpi_adds;
        c[1] = info->dlpi_subs;
    }
    return 1;
}

int rec_modules_contains(uintptr_t addr)
{
    pthread_mutex_lock(&module_lock);
    int found = 0;
    for (size_t i = 0; i < n_ranges && !found; i++)
        found = addr >= ranges[i].lo && addr < ranges[i].hi;
    if (!found) {
        /* Unknown address: only worth a new snapshot if the set changed
         * (code in anonymous memory, a JIT, stays unknown). */
        unsigned long long c[2] = {seen_adds, seen_subs};
        dl_iterate_phdr(peek_counts, c);
        found = c[0] == seen_adds && c[1] == seen_subs;
    }
    pthread_mutex_unlock(&module_lock);
    return found;
}

/* ---- symbols of modules whose file was deleted ----
 *
 * The symbolizer reads symbols from the module's file; once that file is
 * deleted (a library generated into /tmp, dlopen'ed and unlinked; a program
 * rebuilt while it runs) nothing is left on disk. What is left is the
 * mapped image, and in it the dynamic symbol table: the exported functions.
 * At shutdown and before every dlclose, the modules whose mappings the
 * kernel marks " (deleted)" in /proc/self/maps get a SYMBOLS record with
 * those functions, once per module. (Static functions, and files and
 * lines, live only in the file or its debug information.) */

#define MAX_DELETED 64

static struct {
    char path[256];
} deleted[MAX_DELETED];
static size_t n_deleted;
static uintptr_t saved_bases[MAX_DELETED * 4]; /* modules already saved (base, 0 = free) */
static size_t n_saved;

/* Collect the paths of deleted executable mappings (module_lock). */
static void find_deleted(void)
{
    static char buf[16384];
    static const char mark[] = " (deleted)";
    n_deleted = 0;
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    size_t have = 0;
    for (;;) {
        ssize_t r = read(fd, buf + have, sizeof(buf) - 1 - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        have += (size_t)r;
        buf[have] = '\0';
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n')) != NULL) {
            *nl = '\0';
            size_t len = (size_t)(nl - line);
            char *path = strchr(line, '/');
            /* "lo-hi perms off dev inode   /path (deleted)", perms "r-xp" */
            char *perms = strchr(line, ' ');
            if (path && perms && perms[3] == 'x' && len > sizeof(mark) &&
                memcmp(nl - (sizeof(mark) - 1), mark, sizeof(mark) - 1) == 0 &&
                n_deleted < MAX_DELETED) {
                size_t plen = (size_t)(nl - (sizeof(mark) - 1) - path);
                if (plen < sizeof(deleted[0].path)) {
                    memcpy(deleted[n_deleted].path, path, plen);
                    deleted[n_deleted].path[plen] = '\0';
                    n_deleted++;
                }
            }
            line = nl + 1;
        }
        have = (size_t)(buf + have - line);
        memmove(buf, line, have);
        if (have == sizeof(buf) - 1)
            have = 0; /* a line longer than the buffer: drop it */
    }
    close(fd);
}

/* [lo, hi) lies in one PT_LOAD segment of the module. */
static int in_module(const struct dl_phdr_info *info, uintptr_t lo, uintptr_t hi)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t s = info->dlpi_addr + ph->p_vaddr, e = s + ph->p_memsz;
        if (ph->p_type == PT_LOAD && lo >= s && hi <= e && lo <= hi)
            return 1;
    }
    return 0;
}

/* The dynamic section's addresses: glibc relocates most of them in place
 * (it adds the load bias when .dynamic is writable), others stay link-time. */
static uintptr_t dyn_addr(const struct dl_phdr_info *info, uintptr_t v)
{
    return info->dlpi_addr != 0 && v < info->dlpi_addr ? v + info->dlpi_addr : v;
}

/* Number of .dynsym entries from DT_GNU_HASH: one past the highest index
 * any chain reaches. 0 if the table does not check out. */
static size_t gnu_hash_count(const struct dl_phdr_info *info, const uint32_t *h)
{
    if (!in_module(info, (uintptr_t)h, (uintptr_t)(h + 4)))
        return 0;
    uint32_t nbuckets = h[0], symoffset = h[1], bloom = h[2];
    const uint32_t *buckets = (const uint32_t *)((const ElfW(Addr) *)(h + 4) + bloom);
    const uint32_t *chain = buckets + nbuckets;
    if (!in_module(info, (uintptr_t)buckets, (uintptr_t)chain))
        return 0;
    uint32_t last = 0;
    for (uint32_t i = 0; i < nbuckets; i++)
        if (buckets[i] > last)
            last = buckets[i];
    if (last < symoffset)
        return symoffset;
    for (;;) {
        const uint32_t *c = chain + (last - symoffset);
        if (!in_module(info, (uintptr_t)c, (uintptr_t)(c + 1)))
            return 0;
        if (*c & 1)
            return (size_t)last + 1;
        last++;
    }
}

/* SYMBOLS body: v epoch, v base, v build_id_len, build_id, v path_len, path,
 * v count, count x (v value, v size, v name_len, name). 0 if nothing fits. */
static size_t symbols_body(const struct dl_phdr_info *info, const char *path, uint8_t *out,
                           size_t cap)
{
    const ElfW(Dyn) *dyn = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
            dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
    if (!dyn)
        return 0;
    uintptr_t symtab = 0, strtab = 0, hash = 0, gnu_hash = 0;
    size_t strsz = 0, syment = sizeof(ElfW(Sym));
    for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++) {
        if (!in_module(info, (uintptr_t)d, (uintptr_t)(d + 1)))
            return 0;
        switch (d->d_tag) {
        case DT_SYMTAB: symtab = dyn_addr(info, d->d_un.d_ptr); break;
        case DT_STRTAB: strtab = dyn_addr(info, d->d_un.d_ptr); break;
        case DT_STRSZ: strsz = d->d_un.d_val; break;
        case DT_SYMENT: syment = d->d_un.d_val; break;
        case DT_HASH: hash = dyn_addr(info, d->d_un.d_ptr); break;
        case DT_GNU_HASH: gnu_hash = dyn_addr(info, d->d_un.d_ptr); break;
        default: break;
        }
    }
    if (!symtab || !strtab || syment != sizeof(ElfW(Sym)) || !in_module(info, strtab, strtab + strsz))
        return 0;
    size_t count = 0;
    if (gnu_hash)
        count = gnu_hash_count(info, (const uint32_t *)gnu_hash);
    else if (hash && in_module(info, hash, hash + 8))
        count = ((const uint32_t *)hash)[1];
    if (count == 0 || !in_module(info, symtab, symtab + count * syment))
        return 0;

    const uint8_t *id;
    uint32_t id_len;
    build_id_of(info, &id, &id_len);
    size_t path_len = strnlen(path, TR_MAX_PATH - 1);
    if (cap < 64 + id_len + path_len)
        return 0;
    uint8_t *p = out, *end = out + cap;
    p = tr_put_u64(p, atomic_load(&rec_epoch));
    p = tr_put_u64(p, info->dlpi_addr);
    p = tr_put_u64(p, id_len);
    memcpy(p, id, id_len);
    p += id_len;
    p = tr_put_u64(p, path_len);
    memcpy(p, path, path_len);
    p += path_len;
    uint8_t *count_at = p; /* the count goes here, the symbols after: moved below */
    uint8_t *syms = p + 10, *q = syms;
    uint64_t n = 0;
    const ElfW(Sym) *sym = (const ElfW(Sym) *)symtab;
    const char *str = (const char *)strtab;
    for (size_t i = 0; i < count; i++) {
        int type = ELF64_ST_TYPE(sym[i].st_info);
        if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym[i].st_shndx == SHN_UNDEF ||
            sym[i].st_value == 0 || sym[i].st_name >= strsz)
            continue;
        const char *name = str + sym[i].st_name;
        size_t len = strnlen(name, strsz - sym[i].st_name);
        if (len == 0 || len >= 1024 || (size_t)(end - q) < len + 32)
            continue;
        q = tr_put_u64(q, sym[i].st_value);
        q = tr_put_u64(q, sym[i].st_size);
        q = tr_put_u64(q, len);
        memcpy(q, name, len);
        q += len;
        n++;
    }
    p = tr_put_u64(count_at, n);
    memmove(p, syms, (size_t)(q - syms));
    return (size_t)(p - out) + (size_t)(q - syms);
}

struct save_walk {
    size_t emitted;
};

static int save_one(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct save_walk *w = arg;
    const char *path = info->dlpi_name && info->dlpi_name[0] ? info->dlpi_name : exe_path;
    size_t k = 0;
    while (k < n_deleted && strcmp(deleted[k].path, path) != 0)
        k++;
    if (k == n_deleted)
        return 0;
    for (size_t i = 0; i < n_saved; i++)
        if (saved_bases[i] == info->dlpi_addr)
            return 0;
    if (n_saved == sizeof(saved_bases) / sizeof(saved_bases[0]))
        return 1;
    /* Leave room in the thread buffer for the record's own header. */
    size_t len = symbols_body(info, path, scratch, SCRATCH_BYTES < (1u << 19) ? SCRATCH_BYTES : (1u << 19));
    if (len == 0)
        return 0;
    saved_bases[n_saved++] = info->dlpi_addr;
    rec_thread_append_meta(TR_REC_SYMBOLS, 0, scratch, len);
    w->emitted++;
    return 0;
}

void rec_modules_save_deleted(void)
{
    if (!scratch)
        return;
    /* Also from a fatal signal's handler: never wait long for the lock. */
    int held = 0;
    for (int i = 0; i < 1000 && !held; i++) {
        held = pthread_mutex_trylock(&module_lock) == 0;
        if (!held) {
            rec_nap_ns(200000);
        }
    }
    if (!held)
        return;
    find_deleted();
    struct save_walk w = {0};
    if (n_deleted > 0)
        dl_iterate_phdr(save_one, &w);
    pthread_mutex_unlock(&module_lock);
}

const char *rec_modules_exe_path(void)
{
    return exe_path;
}

int rec_modules_init(void)
{
    ssize_t n = readlink("/proc/self/exe", exe_path, sizeof(exe_path) - 1);
    exe_path[n > 0 ? n : 0] = '\0';
    if (!scratch)
        scratch = rec_mmap(SCRATCH_BYTES);
    if (!scratch)
        return -1;
    /* Learn our own text range before the first stack is taken. */
    pthread_mutex_lock(&module_lock);
    snapshot_locked();
    pthread_mutex_unlock(&module_lock);
    return 0;
}
